//! ROS 2 bags through the `scout` binary: `scout convert` from a folder to
//! a bag and back gives the same sequence (pairs, pixels, IMU, ground-truth
//! poses, calibration); `scout replay` on a bag gives the trajectory it
//! gives on the folder; a Kalibr calibration shifts the camera stamps; a bag
//! without `--calib`, a wrong topic, a file that is no bag and an existing
//! output are errors naming what is wrong. The synthetic sequence always
//! runs; the real EuRoC snippet is skipped when absent.
#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

mod common;

use std::path::{Path, PathBuf};

use common::{euroc_micro, scout, stderr, stdout};
use datasets::euroc::{EurocDataset, read_camera_sensor_yaml};
use datasets::model::{CameraCalibration, Distortion, RigCalibration};
use datasets::rosbag::{BagWriter, BagWriterOptions};
use nalgebra::Isometry3;

/// Runs scout in `dir` and expects success.
fn ok(args: &[&str], dir: &Path) -> String {
    let o = scout(args, dir);
    assert!(
        o.status.success(),
        "scout {args:?} failed: {}{}",
        stdout(&o),
        stderr(&o)
    );
    stdout(&o)
}

/// Runs scout in `dir` and expects failure; returns its stderr.
fn fails(args: &[&str], dir: &Path) -> String {
    let o = scout(args, dir);
    assert!(
        !o.status.success(),
        "scout {args:?} succeeded: {}",
        stdout(&o)
    );
    stderr(&o)
}

/// A 3 s synthetic sequence `dir/seq`.
fn synth(dir: &Path) {
    ok(
        &[
            "-q",
            "synth",
            "--out",
            "seq",
            "--seed",
            "5",
            "--duration",
            "3",
        ],
        dir,
    );
}

/// Asserts that `b` holds the sequence `a` holds: the same pairs and
/// pixels, IMU samples, ground-truth poses (a bag has no velocity or
/// biases) and calibration; the camera stamps of `b` are `a`'s plus
/// `shift_ns`.
fn assert_same_sequence(a: &Path, b: &Path, shift_ns: i64) {
    let a = EurocDataset::open(a).unwrap();
    let b = EurocDataset::open(b).unwrap();
    assert_eq!(a.stereo_entries().len(), b.stereo_entries().len());
    assert!(!a.stereo_entries().is_empty());
    for (i, (ea, eb)) in a
        .stereo_entries()
        .iter()
        .zip(b.stereo_entries())
        .enumerate()
    {
        assert_eq!(ea.t_ns + shift_ns, eb.t_ns, "pair {i}");
        let (fa, fb) = (a.load_stereo(i).unwrap(), b.load_stereo(i).unwrap());
        assert!(fa.left == fb.left && fa.right == fb.right, "pair {i}");
    }
    assert_eq!(a.imu(), b.imu());
    assert_eq!(a.ground_truth().len(), b.ground_truth().len());
    for (ga, gb) in a.ground_truth().iter().zip(b.ground_truth()) {
        assert_eq!(ga.t_ns, gb.t_ns);
        let (pa, pb) = (ga.world_from_body, gb.world_from_body);
        assert_eq!(pa.translation, pb.translation);
        // Each reader normalizes the quaternion: the last bit may differ.
        assert!(pa.rotation.angle_to(&pb.rotation) < 1e-12, "{pa} {pb}");
    }
    if shift_ns == 0 {
        assert_same_rig(a.calibration(), b.calibration());
    }
}

/// Asserts that two calibrations are the same, but for the last bit of
/// the rotations (each file stores a matrix, read as a quaternion).
fn assert_same_rig(a: &RigCalibration, b: &RigCalibration) {
    for (ca, cb) in [(&a.cam0, &b.cam0), (&a.cam1, &b.cam1)] {
        let unrotated = |c: &CameraCalibration| CameraCalibration {
            body_from_cam: Isometry3::from_parts(c.body_from_cam.translation, Default::default()),
            ..c.clone()
        };
        assert_eq!(unrotated(ca), unrotated(cb));
        let angle = ca
            .body_from_cam
            .rotation
            .angle_to(&cb.body_from_cam.rotation);
        assert!(angle < 1e-12, "{}: {angle} rad apart", ca.name);
    }
    assert_eq!(a.imu, b.imu);
}

/// Folder -> bag -> folder; returns the bag's path.
fn round_trip(dir: &Path, seq: &Path) -> PathBuf {
    let seq = seq.to_str().unwrap();
    let text = ok(&["convert", seq, "seq.mcap"], dir);
    assert!(
        text.contains("/cam0/image_raw") && text.contains("/imu0") && text.contains("--calib"),
        "{text}"
    );
    let text = ok(&["convert", "seq.mcap", "back", "--calib", seq], dir);
    assert!(text.contains("/ground_truth"), "{text}");
    assert_same_sequence(Path::new(seq), &dir.join("back"), 0);
    dir.join("seq.mcap")
}

#[test]
fn a_synthetic_sequence_converts_to_a_bag_and_back_unchanged() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    synth(dir);
    round_trip(dir, &dir.join("seq"));
    // Nothing is overwritten, and the message names the path.
    let err = fails(&["convert", "seq", "seq.mcap"], dir);
    assert!(err.contains("seq.mcap exists"), "{err}");
    let err = fails(&["convert", "seq.mcap", "back", "--calib", "seq"], dir);
    assert!(err.contains("back exists"), "{err}");
    // The output says which way: a folder becomes a .mcap file.
    let err = fails(&["convert", "seq", "other"], dir);
    assert!(err.contains("OUT.mcap"), "{err}");
    // No temporary file or folder is left behind.
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["back", "seq", "seq.mcap"]);
}

#[test]
fn a_bag_needs_its_calibration_and_topics_that_exist() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    synth(dir);
    ok(&["-q", "convert", "seq", "seq.mcap"], dir);

    let err = fails(&["replay", "seq.mcap", "--out", "run"], dir);
    assert!(err.contains("seq.mcap") && err.contains("--calib"), "{err}");
    let err = fails(&["convert", "seq.mcap", "back"], dir);
    assert!(err.contains("--calib"), "{err}");
    // A wrong topic: the message names it and lists the bag's topics.
    let err = fails(
        &[
            "replay",
            "seq.mcap",
            "--calib",
            "seq",
            "--cam0-topic",
            "/left/nope",
            "--out",
            "run",
        ],
        dir,
    );
    for needle in ["/left/nope", "/cam0/image_raw", "/cam1/image_raw", "/imu0"] {
        assert!(err.contains(needle), "{needle}: {err}");
    }
    // A calibration that is not one.
    let err = fails(
        &["replay", "seq.mcap", "--calib", "nowhere", "--out", "run"],
        dir,
    );
    assert!(err.contains("--calib nowhere"), "{err}");
    std::fs::create_dir(dir.join("empty")).unwrap();
    let err = fails(
        &["replay", "seq.mcap", "--calib", "empty", "--out", "run"],
        dir,
    );
    assert!(
        err.contains("camchain") && err.contains("sensor.yaml"),
        "{err}"
    );
    // Bag options for a folder are refused, not ignored.
    let err = fails(&["replay", "seq", "--calib", "seq", "--out", "run"], dir);
    assert!(err.contains("--calib: for a ROS 2 bag only"), "{err}");
    // A file that is no MCAP file.
    std::fs::write(dir.join("flight.bag"), b"#ROSBAG V2.0\n").unwrap();
    let err = fails(
        &["replay", "flight.bag", "--calib", "seq", "--out", "run"],
        dir,
    );
    assert!(
        err.contains("flight.bag") && err.contains("not an MCAP file"),
        "{err}"
    );
    assert!(!dir.join("run").exists());
}

/// Kalibr's name of a distortion model and its four coefficients.
fn kalibr_distortion(d: Distortion) -> (&'static str, [f64; 4]) {
    match d {
        Distortion::None => ("none", [0.0; 4]),
        Distortion::RadialTangential { k1, k2, p1, p2 } => ("radtan", [k1, k2, p1, p2]),
        Distortion::Equidistant { k1, k2, k3, k4 } => ("equidistant", [k1, k2, k3, k4]),
    }
}

/// One camera of a Kalibr camchain, as `kalibr_calibrate_imu_camera`
/// writes it.
fn kalibr_camera(name: &str, cam: &CameraCalibration, shift_s: f64) -> String {
    let cam_from_imu: Isometry3<f64> = cam.body_from_cam.inverse();
    let h = cam_from_imu.to_homogeneous();
    let mut text = format!("{name}:\n  T_cam_imu:\n");
    for r in 0..4 {
        text += &format!(
            "  - [{:?}, {:?}, {:?}, {:?}]\n",
            h[(r, 0)],
            h[(r, 1)],
            h[(r, 2)],
            h[(r, 3)]
        );
    }
    let (model, k) = kalibr_distortion(cam.distortion);
    let i = &cam.intrinsics;
    text += &format!(
        "  camera_model: pinhole\n  distortion_coeffs: [{:?}, {:?}, {:?}, {:?}]\n  \
         distortion_model: {model}\n  intrinsics: [{:?}, {:?}, {:?}, {:?}]\n  resolution: [{}, {}]\n  \
         rostopic: /{name}/image_raw\n  timeshift_cam_imu: {shift_s:?}\n",
        k[0], k[1], k[2], k[3], i.fx, i.fy, i.cx, i.cy, cam.width, cam.height
    );
    text
}

#[test]
fn a_kalibr_calibration_shifts_the_camera_stamps_and_the_rate_comes_from_the_bag() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    synth(dir);
    ok(&["-q", "convert", "seq", "seq.mcap"], dir);
    let mav0 = dir.join("seq/mav0");
    let cam0 = read_camera_sensor_yaml(&mav0.join("cam0/sensor.yaml"), "cam0").unwrap();
    let cam1 = read_camera_sensor_yaml(&mav0.join("cam1/sensor.yaml"), "cam1").unwrap();
    let imu = std::fs::read_to_string(mav0.join("imu0/sensor.yaml")).unwrap();
    // Kalibr's IMU file: the noise lines of sensor.yaml and `update_rate`.
    let mut kalibr_imu = String::new();
    for line in imu.lines() {
        if let Some(rate) = line.strip_prefix("rate_hz:") {
            kalibr_imu += &format!("update_rate: {}\n", rate.trim());
        } else if line.starts_with("gyroscope_") || line.starts_with("accelerometer_") {
            kalibr_imu += line;
            kalibr_imu.push('\n');
        }
    }
    let kalibr = dir.join("kalibr");
    std::fs::create_dir(&kalibr).unwrap();
    let shift_s = 0.0025;
    std::fs::write(
        kalibr.join("camchain-imucam-seq.yaml"),
        kalibr_camera("cam0", &cam0, shift_s) + &kalibr_camera("cam1", &cam1, shift_s),
    )
    .unwrap();
    // Kalibr's cameras-only camchain beside it is not the one read.
    std::fs::write(kalibr.join("camchain-seq.yaml"), "cam0: {}\n").unwrap();
    std::fs::write(kalibr.join("imu-seq.yaml"), kalibr_imu).unwrap();

    let text = ok(&["convert", "seq.mcap", "back", "--calib", "kalibr"], dir);
    assert!(
        text.contains("camchain-imucam-seq.yaml") && text.contains("+2.500 ms"),
        "{text}"
    );
    assert_same_sequence(&dir.join("seq"), &dir.join("back"), 2_500_000);
    let back = EurocDataset::open(dir.join("back")).unwrap();
    let rig = back.calibration();
    assert_eq!(
        rig.cam0.rate_hz, cam0.rate_hz,
        "the rate of the bag's pairs"
    );
    assert_eq!(rig.cam0.intrinsics, cam0.intrinsics);
    let moved =
        (rig.cam1.body_from_cam.translation.vector - cam1.body_from_cam.translation.vector).norm();
    assert!(moved < 1e-12, "{moved}");
    // The camchain file itself, with its IMU file.
    ok(
        &[
            "-q",
            "convert",
            "seq.mcap",
            "back2",
            "--calib",
            "kalibr/camchain-imucam-seq.yaml",
            "--calib-imu",
            "kalibr/imu-seq.yaml",
            "--rate",
            "20",
        ],
        dir,
    );
    assert_same_sequence(&dir.join("back"), &dir.join("back2"), 0);
    let err = fails(
        &[
            "convert",
            "seq.mcap",
            "back3",
            "--calib",
            "kalibr/camchain-imucam-seq.yaml",
        ],
        dir,
    );
    assert!(err.contains("--calib-imu"), "{err}");

    // A camera at half the rate: Kalibr's files do not say, the bag does.
    let seq = EurocDataset::open(dir.join("seq")).unwrap();
    let mut writer =
        BagWriter::create(dir.join("half.mcap"), &BagWriterOptions::default()).unwrap();
    writer.write_imu(seq.imu()).unwrap();
    for i in (0..seq.stereo_entries().len()).step_by(2) {
        writer.write_stereo(&seq.load_stereo(i).unwrap()).unwrap();
    }
    writer.finish().unwrap();
    let text = ok(&["convert", "half.mcap", "half", "--calib", "kalibr"], dir);
    let half_rate = cam0.rate_hz / 2.0;
    assert!(text.contains(&format!("{half_rate:.3} Hz")), "{text}");
    let half = EurocDataset::open(dir.join("half")).unwrap();
    assert_eq!(
        half.stereo_entries().len(),
        seq.stereo_entries().len().div_ceil(2)
    );
    assert!((half.calibration().cam0.rate_hz - half_rate).abs() < 1e-9 * half_rate);
    assert!((half.calibration().cam1.rate_hz - half_rate).abs() < 1e-9 * half_rate);
}

#[test]
fn the_euroc_snippet_converts_to_a_bag_and_back_unchanged() {
    let Some(seq) = euroc_micro() else { return };
    let tmp = tempfile::tempdir().unwrap();
    round_trip(tmp.path(), &seq);
}

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn replay_of_the_euroc_snippet_as_a_bag_gives_the_trajectory_of_the_folder() {
    let Some(seq) = euroc_micro() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let seq = seq.to_str().unwrap();
    ok(&["-q", "convert", seq, "seq.mcap"], dir);
    ok(&["-q", "replay", seq, "--out", "folder"], dir);
    let text = ok(&["replay", "seq.mcap", "--calib", seq, "--out", "bag"], dir);
    for needle in [
        "/cam0/image_raw",
        "/cam1/image_raw",
        "/imu0",
        "/ground_truth",
    ] {
        assert!(text.contains(needle), "{needle}: {text}");
    }
    let folder = std::fs::read_to_string(dir.join("folder/trajectory.tum")).unwrap();
    let bag = std::fs::read_to_string(dir.join("bag/trajectory.tum")).unwrap();
    assert!(folder.lines().count() > 50, "{folder}");
    assert_eq!(
        folder, bag,
        "the bag's trajectory differs from the folder's"
    );
    let (mf, mb) = (
        read_json(&dir.join("folder/metrics.json")),
        read_json(&dir.join("bag/metrics.json")),
    );
    let rmse = |m: &serde_json::Value| m["ate"]["se3"]["rmse_m"].as_f64().unwrap();
    assert_eq!(rmse(&mf), rmse(&mb));
    assert_eq!(mf["ate"]["matched_poses"], mb["ate"]["matched_poses"]);
    assert!(mb["sequence"].as_str().unwrap().ends_with("seq.mcap"));
}

/// A bag written from the real EuRoC snippet by an independent writer
/// (`scripts/euroc_to_mcap.py`: pypng decodes the PNGs, Foxglove's
/// `mcap-ros2-support` encodes the messages and writes the file) replays
/// to the folder's trajectory, byte for byte. Skipped when the snippet,
/// or Python with `mcap_ros2` and `png`, is absent.
#[test]
fn a_bag_written_by_python_from_the_euroc_snippet_replays_to_the_folder_s_trajectory() {
    let Some(seq) = euroc_micro() else { return };
    let python = std::process::Command::new("python3")
        .args(["-c", "import mcap_ros2.writer, png"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !python {
        eprintln!("SKIPPED: python3 with mcap_ros2 and png (pip install mcap-ros2-support pypng)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/euroc_to_mcap.py");
    let bag = dir.join("python.mcap");
    let out = std::process::Command::new("python3")
        .arg(&script)
        .arg(&seq)
        .arg(&bag)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seq = seq.to_str().unwrap();
    ok(&["-q", "replay", seq, "--out", "folder"], dir);
    ok(
        &[
            "-q",
            "replay",
            "python.mcap",
            "--calib",
            seq,
            "--out",
            "bag",
        ],
        dir,
    );
    let folder = std::fs::read_to_string(dir.join("folder/trajectory.tum")).unwrap();
    let from_python = std::fs::read_to_string(dir.join("bag/trajectory.tum")).unwrap();
    assert!(folder.lines().count() > 50, "{folder}");
    assert_eq!(
        folder, from_python,
        "the Python bag's trajectory differs from the folder's"
    );
}
