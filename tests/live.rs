//! `scout run`: `--paced` over a sequence folder (the live path without a
//! device) gives the trajectory, the live counts and the ATE; a robot file
//! naming a calibration or devices that are not there fails naming them.
//! `scout record`: what it writes replays to the poses of what it recorded.

mod common;
use common::{scout, stderr};

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use datasets::synth::{Difficulty, SynthConfig};

/// A 3 s medium sequence (60 pairs), written once per test binary.
fn sequence() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let seq = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("live-sequence");
        let _ = std::fs::remove_dir_all(&seq);
        let cfg = SynthConfig {
            seed: 7,
            duration_s: 3.0,
            difficulty: Difficulty::Medium,
            ..SynthConfig::default()
        };
        scout::synthetic::write_synthetic_sequence(&cfg, &seq, 2, |_, _| {})
            .unwrap_or_else(|e| panic!("{e:#}"));
        seq
    })
}

/// The positions of a TUM file's poses.
fn positions(path: &Path) -> Vec<[f64; 3]> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let v: Vec<f64> = l
                .split_whitespace()
                .skip(1)
                .take(3)
                .map(|x| x.parse().unwrap_or(f64::NAN))
                .collect();
            [v[0], v[1], v[2]]
        })
        .collect()
}

#[test]
fn scout_run_paced_writes_the_live_counts_and_scores_the_run() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("live-paced");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let seq = sequence();
    let out = dir.join("out");
    let seq_arg = seq.to_string_lossy().into_owned();
    let out_arg = out.to_string_lossy().into_owned();
    // The IMU-rate poses also to a UDP port, read as they come.
    let listener = std::net::UdpSocket::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    let port = listener
        .local_addr()
        .unwrap_or_else(|e| panic!("{e}"))
        .port();
    std::fs::write(
        dir.join("robot.toml"),
        format!("[live.poses]\nudp = \"127.0.0.1:{port}\"\n"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    listener
        .set_read_timeout(Some(std::time::Duration::from_millis(500)))
        .unwrap_or_else(|e| panic!("{e}"));
    let received = std::thread::spawn(move || {
        let mut lines = Vec::new();
        let mut buf = [0u8; 512];
        // Until the run has been quiet for a while (it ends, or never starts).
        let mut quiet = 0;
        while quiet < 40 {
            match listener.recv(&mut buf) {
                Ok(n) => {
                    quiet = 0;
                    lines.push(String::from_utf8_lossy(&buf[..n]).into_owned());
                }
                Err(_) => quiet += 1,
            }
        }
        lines
    });
    let o = scout(
        &[
            "-q",
            "run",
            "--config",
            "robot.toml",
            "--paced",
            &seq_arg,
            "--out",
            &out_arg,
        ],
        &dir,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let datagrams = received.join().unwrap_or_default();
    let text = std::fs::read_to_string(out.join("metrics.json")).unwrap_or_else(|e| panic!("{e}"));
    let m: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(m["mode"], "live");
    let live = &m["live"];
    assert_eq!(live["pairs_captured"], 60);
    let processed = m["frames"].as_u64().unwrap_or(0);
    assert_eq!(
        processed + live["pairs_dropped"].as_u64().unwrap_or(99),
        60,
        "{live}"
    );
    let ate = m["ate"]["se3"]["rmse_m"].as_f64().unwrap_or(f64::NAN);
    assert!(ate < 0.02, "ATE {ate} m");
    let rows = std::fs::read_to_string(out.join("trajectory.tum"))
        .unwrap_or_else(|e| panic!("{e}"))
        .lines()
        .filter(|l| !l.starts_with('#'))
        .count();
    assert!(rows >= 40, "{rows} poses");

    // The poses at the IMU's rate: one per sample once tracking (200 Hz),
    // each 5 ms after the one before, about as accurate as the frames'.
    let r = &m["imu_rate"];
    let poses = r["poses"].as_u64().unwrap_or(0);
    let file = std::fs::read_to_string(out.join("imu_poses.tum")).unwrap_or_else(|e| panic!("{e}"));
    let times: Vec<f64> = file
        .lines()
        .map(|l| {
            l.split_whitespace()
                .next()
                .and_then(|t| t.parse().ok())
                .unwrap_or(f64::NAN)
        })
        .collect();
    assert_eq!(times.len() as u64, poses, "{r}");
    assert!(poses > 400, "{r}");
    assert!(
        times.windows(2).all(|w| (w[1] - w[0] - 0.005).abs() < 1e-4),
        "a pose per sample"
    );
    assert!(
        (r["rate_hz"].as_f64().unwrap_or(0.0) - 200.0).abs() < 1.0,
        "{r}"
    );
    assert_eq!(r["samples_dropped"], 0, "{r}");
    assert!(
        r["latency_ms"]["p50"].as_f64().is_some_and(|l| l >= 0.0),
        "{r}"
    );
    let imu_ate = r["ate"]["se3"]["rmse_m"].as_f64().unwrap_or(f64::NAN);
    // Scored where the ground truth is (20 Hz here, at the frames' times:
    // poses the IMU carried from the frame before, since this frame's
    // estimate came later).
    assert!(r["ate"]["matched_poses"].as_u64().unwrap_or(0) >= 40, "{r}");
    assert!(
        imu_ate < 1.5 * ate + 1e-3,
        "IMU-rate ATE {imu_ate} m against the frames' {ate} m"
    );
    // Every pose also went out as a datagram (loopback loses none), with
    // velocity, angular rate and the time since its estimate.
    assert_eq!(datagrams.len() as u64, poses, "datagrams");
    let fields: Vec<f64> = datagrams[0]
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(f64::NAN))
        .collect();
    assert_eq!(fields.len(), 15, "{}", datagrams[0]);
    assert!(fields.iter().all(|f| f.is_finite()));
    assert!((0.0..=0.2).contains(&fields[14]), "within the horizon");
}

#[test]
fn scout_run_without_a_source_or_with_missing_devices_says_what() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("live-missing");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let o = scout(&["run", "--out", "out"], &dir);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--config"), "{}", stderr(&o));
    // A calibration folder that is not there.
    std::fs::write(
        dir.join("robot.toml"),
        "[live]\ncalibration = \"no-such-rig/mav0\"\n[live.camera]\ndevices = [\"/dev/video90\", \"/dev/video91\"]\n[live.imu]\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let o = scout(&["run", "--config", "robot.toml", "--out", "out"], &dir);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("no-such-rig"), "{}", stderr(&o));
}

#[test]
fn a_recording_replays_to_the_trajectory_of_what_was_recorded() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("live-record");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let seq = sequence().to_string_lossy().into_owned();
    let o = scout(&["-q", "record", "--paced", &seq, "--out", "rec"], &dir);
    assert!(o.status.success(), "{}", stderr(&o));
    let said = common::stdout(&o);
    assert!(said.contains("wrote 60 pairs"), "{said}");
    // Recorded into an existing recording: refused.
    let again = scout(&["-q", "record", "--paced", &seq, "--out", "rec"], &dir);
    assert!(!again.status.success());
    assert!(
        stderr(&again).contains("refusing to overwrite"),
        "{}",
        stderr(&again)
    );
    for (from, out) in [("rec", "replay-rec"), (seq.as_str(), "replay-seq")] {
        let o = scout(&["-q", "replay", from, "--out", out], &dir);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    // The same poses, on the recording's clock (CLOCK_MONOTONIC).
    let a = positions(&dir.join("replay-rec/trajectory.tum"));
    let b = positions(&dir.join("replay-seq/trajectory.tum"));
    assert!(
        a.len() >= 40 && a.len() == b.len(),
        "{} vs {} poses",
        a.len(),
        b.len()
    );
    // The last pair's state stands at its stamp plus the camera-IMU time
    // offset on the IMU's clock: the folder has the samples past it, the
    // recording ends with the pair (its last sample is held).
    for (p, q) in a.iter().zip(&b).take(a.len() - 1) {
        let d = ((p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2) + (p[2] - q[2]).powi(2)).sqrt();
        assert!(d < 1e-9, "{p:?} vs {q:?}");
    }
    // The same into a ROS 2 bag, with its calibration beside it.
    let o = scout(
        &["-q", "record", "--paced", &seq, "--out", "rec.mcap"],
        &dir,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let said = common::stdout(&o);
    assert!(said.contains("wrote 60 pairs"), "{said}");
    assert!(said.contains("--calib"), "{said}");
    let o = scout(
        &[
            "-q",
            "replay",
            "rec.mcap",
            "--calib",
            "rec.calib",
            "--out",
            "replay-bag",
        ],
        &dir,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let c = positions(&dir.join("replay-bag/trajectory.tum"));
    assert_eq!(c.len(), b.len());
    for (p, q) in c.iter().zip(&b).take(c.len() - 1) {
        let d = ((p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2) + (p[2] - q[2]).powi(2)).sqrt();
        assert!(d < 1e-9, "bag: {p:?} vs {q:?}");
    }
}
