//! `scout replay --rrd` and `scout explore --rrd` write Rerun recordings that
//! read back with every frame's entities; bad viewer options are refused by
//! name; `--connect` to no viewer ends with a warning, not a hang. The
//! replay runs on the real EuRoC snippet (skipped when absent).
#![cfg(feature = "rerun")]
#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

mod common;

use common::{euroc_micro, scout, stderr};
use viz::recording::{paths, read_contents};

#[test]
fn replay_of_the_euroc_snippet_records_every_frame() {
    let Some(seq) = euroc_micro() else { return };
    let dir = tempfile::tempdir().unwrap();
    let seq = seq.to_string_lossy().into_owned();
    let o = scout(
        &[
            "-q",
            "replay",
            &seq,
            "--out",
            "run",
            "--rrd",
            "run/replay.rrd",
            "--images-every",
            "2",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let contents = read_contents(&dir.path().join("run/replay.rrd")).unwrap();
    let metrics: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("run/metrics.json")).unwrap(),
    )
    .unwrap();
    let frames = metrics["frames"].as_u64().unwrap() as usize;
    assert!(frames > 80, "{frames}");
    let rows = |p: &str| contents.rows_at(p);
    for p in [
        paths::TRACKS,
        paths::MATCHES,
        paths::LANDMARKS,
        "stats/time_ms/frontend",
    ] {
        assert_eq!(rows(p), frames, "{p}");
    }
    // Every other pair's images.
    assert_eq!(rows(paths::IMAGES[0]), frames.div_ceil(2));
    // Poses while tracking, the ground truth, errors, the map, costs.
    let tracking = metrics["frames_tracking"].as_u64().unwrap() as usize;
    assert_eq!(rows(paths::BODY), tracking);
    assert!(contents.static_entities.contains(paths::GROUND_TRUTH));
    for p in [
        paths::ATE,
        paths::VOXELS,
        "stats/dram_kB/backend",
        "stats/energy_uJ/map",
    ] {
        assert!(rows(p) > 0, "{p} missing: {:?}", contents.rows);
    }
    assert!(!contents.rows.keys().any(|p| p.starts_with("explore")));
}

#[test]
fn explore_records_its_plans_on_the_exploration_timeline() {
    let dir = tempfile::tempdir().unwrap();
    let o = scout(
        &[
            "-q",
            "explore",
            "--world-seed",
            "1",
            "--planner",
            "frontier",
            "--out",
            "ex",
            "--rrd",
            "ex.rrd",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let contents = read_contents(&dir.path().join("ex.rrd")).unwrap();
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("ex/summary.json")).unwrap())
            .unwrap();
    let plans = summary["plans"].as_u64().unwrap() as usize;
    assert_eq!(contents.rows.get("explore/frontier/map"), Some(&plans));
    assert!(contents.timelines.contains("explore_time"));
    assert!(!contents.timelines.contains("t_ns"));
}

/// A folder holding a 2.6 s synthetic sequence in `seq`.
fn short_sequence() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let o = scout(
        &["-q", "synth", "--out", "seq", "--duration", "2.6"],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    dir
}

#[test]
fn bad_viewer_options_are_refused_by_name() {
    let dir = short_sequence();
    let o = scout(
        &[
            "-q",
            "replay",
            "seq",
            "--out",
            "run",
            "--connect",
            "no such host",
        ],
        dir.path(),
    );
    assert!(!o.status.success());
    assert!(stderr(&o).contains("no such host"), "{}", stderr(&o));
    let o = scout(
        &[
            "-q",
            "replay",
            "seq",
            "--out",
            "run",
            "--frontend-only",
            "--rrd",
            "x.rrd",
        ],
        dir.path(),
    );
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--frontend-only"), "{}", stderr(&o));
}

/// `--connect` to an address where no viewer listens: the run finishes, its
/// files written, with a warning, within a bounded time (it used to wait for
/// the viewer forever at its end).
#[test]
fn connect_to_no_viewer_finishes_with_a_warning() {
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};
    let dir = short_sequence();
    // A port nothing listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let address = format!("127.0.0.1:{port}");
    let mut child = Command::new(env!("CARGO_BIN_EXE_scout"))
        .args([
            "-q",
            "replay",
            "seq",
            "--out",
            "run",
            "--connect",
            &address,
            "--viewer-wait",
            "2",
        ])
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > Duration::from_secs(300) {
            child.kill().ok();
            panic!("scout replay --connect {address} still running after 300 s");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let o = child.wait_with_output().unwrap();
    assert!(status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("did not take the recording within 2 s"),
        "{}",
        stderr(&o)
    );
    assert!(dir.path().join("run/trajectory.tum").is_file());
    assert!(dir.path().join("run/metrics.json").is_file());
}
