//! Property-based tests of the EuRoC/ASL readers (`arbtest`): any bytes in
//! a calibration YAML, an IMU csv, a ground-truth csv or a PNG give a value
//! or an error naming the file, never a panic or an unbounded allocation.
//! Inputs are valid files (written by [`EurocWriter`]) with random edits
//! (`testkit::mutate`), and plain random bytes.
//!
//! Each property runs for a time budget with a fresh random seed
//! (`testkit::fuzz`); a failure prints the seed to replay it.

use std::path::Path;

use datasets::euroc::{EurocWriter, read_camera_sensor_yaml, read_imu_yaml};
use datasets::{CameraCalibration, GroundTruthState, ImuCalibration, ImuSample, RigCalibration};
use nalgebra::{Isometry3, Vector3};

/// A valid sequence's calibration and csv files, written once.
fn samples(root: &Path) -> std::path::PathBuf {
    let rig = RigCalibration {
        cam0: CameraCalibration::euroc_cam0(),
        cam1: CameraCalibration::euroc_cam1(),
        imu: ImuCalibration::euroc_adis16448(),
    };
    let writer = EurocWriter::create(root, &rig).unwrap_or_else(|e| panic!("{e}"));
    let imu: Vec<ImuSample> = (0..20)
        .map(|k| ImuSample {
            t_ns: 1_000_000_000 + k * 5_000_000,
            gyro: Vector3::new(0.01 * k as f64, -0.02, 0.03),
            accel: Vector3::new(0.1, 9.8, -0.2),
        })
        .collect();
    writer.write_imu(&imu).unwrap_or_else(|e| panic!("{e}"));
    let gt: Vec<GroundTruthState> = (0..10)
        .map(|k| GroundTruthState {
            t_ns: 1_000_000_000 + k * 5_000_000,
            world_from_body: Isometry3::translation(0.1 * k as f64, 0.0, 1.0),
            v_world: Some(Vector3::new(1.0, 0.0, 0.0)),
            bias: None,
        })
        .collect();
    writer
        .write_ground_truth(&gt)
        .unwrap_or_else(|e| panic!("{e}"));
    writer.finish().unwrap_or_else(|e| panic!("{e}"))
}

/// Runs `read` on mutations of the file at `mav0/relative`, written to a
/// scratch file of the same name; `read` must return, and an error must
/// name the file.
fn fuzz_file<T>(relative: &str, read: impl Fn(&Path) -> datasets::Result<T>) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mav0 = samples(dir.path());
    let sample = std::fs::read(mav0.join(relative)).unwrap_or_else(|e| panic!("{e}"));
    let scratch = dir.path().join("scratch").join(relative);
    std::fs::create_dir_all(scratch.parent().unwrap_or(dir.path()))
        .unwrap_or_else(|e| panic!("{e}"));
    // The unedited file reads.
    std::fs::write(&scratch, &sample).unwrap_or_else(|e| panic!("{e}"));
    assert!(read(&scratch).is_ok(), "the sample {relative} is refused");
    let name = relative.rsplit('/').next().unwrap_or(relative);
    testkit::fuzz(relative, &sample, |bytes| {
        std::fs::write(&scratch, bytes).unwrap_or_else(|e| panic!("{e}"));
        if let Err(e) = read(&scratch) {
            let message = e.to_string();
            assert!(
                message.contains(name),
                "the error does not name the file: {message}"
            );
        }
    });
}

#[test]
fn camera_yaml_gives_a_value_or_an_error() {
    fuzz_file("cam0/sensor.yaml", |p| read_camera_sensor_yaml(p, "cam0"));
}

#[test]
fn imu_yaml_gives_a_value_or_an_error() {
    fuzz_file("imu0/sensor.yaml", read_imu_yaml);
}

#[test]
fn imu_csv_gives_a_value_or_an_error() {
    fuzz_file("imu0/data.csv", datasets::euroc::read_imu_csv);
}

#[test]
fn ground_truth_csv_gives_a_value_or_an_error() {
    fuzz_file(
        "state_groundtruth_estimate0/data.csv",
        datasets::euroc::read_ground_truth_csv,
    );
}

#[test]
fn png_gives_an_image_or_an_error() {
    // An 8 x 4 grayscale PNG.
    let mut sample = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut sample, 8, 4);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().unwrap_or_else(|e| panic!("{e}"));
        writer
            .write_image_data(&(0..32).collect::<Vec<u8>>())
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("frame.png");
    let mut image = datasets::GrayImage::new(0, 0);
    let mut scratch = Vec::new();
    testkit::fuzz("frame.png", &sample, |bytes| {
        std::fs::write(&path, bytes).unwrap_or_else(|e| panic!("{e}"));
        if datasets::png_io::read_gray_png_into(&path, (8, 4), true, &mut image, &mut scratch)
            .is_ok()
        {
            assert_eq!((image.width(), image.height()), (8, 4));
        }
    });
}
