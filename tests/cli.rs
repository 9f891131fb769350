//! End-to-end tests of the `scout` binary: synth -> inspect -> eval, and the demo.

mod common;
use common::{scout, stderr, stdout};

#[test]
fn synth_then_inspect_then_eval_ground_truth_against_itself() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let out = scout(
        &["synth", "--out", "seq", "--seed", "3", "--duration", "3"],
        dir.path(),
    );
    assert!(out.status.success(), "synth failed: {}", stderr(&out));
    assert!(stdout(&out).contains("60 stereo pairs"), "{}", stdout(&out));

    let out = scout(&["inspect", "seq"], dir.path());
    assert!(out.status.success(), "inspect failed: {}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("stereo pairs") && text.contains("60  over 2.95 s, all decoded"),
        "{text}"
    );
    assert!(text.contains("(pose, velocity, biases)"), "{text}");

    // The EuRoC csv and the TUM file hold the same trajectory: zero error.
    let gt = "seq/mav0/state_groundtruth_estimate0/data.csv";
    let out = scout(
        &[
            "eval",
            "--gt",
            gt,
            "--est",
            "seq/ground_truth.tum",
            "--json",
        ],
        dir.path(),
    );
    assert!(out.status.success(), "eval failed: {}", stderr(&out));
    let report: serde_json::Value =
        serde_json::from_str(&stdout(&out)).unwrap_or_else(|e| panic!("{e}: {}", stdout(&out)));
    assert_eq!(report["matched_poses"], 60);
    let rmse = report["ate_trans_m"]["rmse"].as_f64().unwrap_or(f64::NAN);
    assert!(rmse < 1e-9, "ATE of ground truth against itself is {rmse}");
    // A gate of NaN or infinity would pass anything: refused by name.
    for bad in ["nan", "inf", "-0.1", "x"] {
        let gate = format!("--max-ate={bad}");
        let out = scout(
            &["eval", "--gt", gt, "--est", "seq/ground_truth.tum", &gate],
            dir.path(),
        );
        assert!(!out.status.success(), "{gate} accepted");
        assert!(stderr(&out).contains("--max-ate"), "{}", stderr(&out));
    }

    // Writing over an existing sequence is refused, with the path in the message.
    let out = scout(&["synth", "--out", "seq", "--duration", "3"], dir.path());
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("refusing to overwrite"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn same_seed_gives_identical_files_whatever_the_thread_count() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    // One render thread and three: the files must not depend on it.
    for (name, threads) in [("a", "1"), ("b", "3")] {
        let out = scout(
            &[
                "synth",
                "--out",
                name,
                "--seed",
                "11",
                "--duration",
                "2.6",
                "--threads",
                threads,
            ],
            dir.path(),
        );
        assert!(out.status.success(), "synth failed: {}", stderr(&out));
    }
    let read = |p: &str| std::fs::read(dir.path().join(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
    for file in [
        "mav0/imu0/data.csv",
        "mav0/state_groundtruth_estimate0/data.csv",
        "mav0/cam1/data.csv",
    ] {
        assert_eq!(
            read(&format!("a/{file}")),
            read(&format!("b/{file}")),
            "{file} differs"
        );
    }
    let csv = String::from_utf8(read("a/mav0/cam0/data.csv")).unwrap_or_default();
    let last = csv
        .lines()
        .last()
        .and_then(|l| l.split(',').nth(1))
        .unwrap_or_default()
        .to_string();
    assert_eq!(
        read(&format!("a/mav0/cam0/data/{last}")),
        read(&format!("b/mav0/cam0/data/{last}"))
    );
}

#[test]
fn bad_input_is_a_clear_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(
        dir.path().join("est.tum"),
        "1.0 0 0 0 0 0 0 1\n2.0 0 0 nan 0 0 0 1\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let out = scout(&["eval", "--gt", "est.tum", "--est", "est.tum"], dir.path());
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("est.tum:2"), "{err}");
    assert!(!err.contains("panicked"), "{err}");

    let out = scout(&["inspect", "no-such-folder"], dir.path());
    assert!(!out.status.success());
    assert!(stderr(&out).contains("no-such-folder"), "{}", stderr(&out));
}

#[test]
fn demo_runs_and_can_run_again() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    // Twice, into the same folder (the second run replaces the first's
    // outputs); the first without the flight, to save the test's time.
    for flight_seconds in ["0", "3"] {
        let out = scout(
            &[
                "demo",
                "--duration",
                "2.6",
                "--flight-seconds",
                flight_seconds,
            ],
            dir.path(),
        );
        assert!(out.status.success(), "demo failed: {}", stderr(&out));
        assert!(
            stdout(&out).contains("read back through the EuRoC reader"),
            "{}",
            stdout(&out)
        );
        // The whole VIO ran and tracked (the sequence is mostly hover).
        assert!(
            stdout(&out).contains("VIO (front end + back end)"),
            "{}",
            stdout(&out)
        );
        assert!(stdout(&out).contains("ATE (rmse)"), "{}", stdout(&out));
    }
    assert!(dir.path().join("scout-demo/summary.json").is_file());
    // The drone flew on its own VIO and mapped: no contact, keyframes, a map
    // (3 s: the hover, the VIO's start and part of the first turn, before
    // any plan).
    let flight: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("scout-demo/flight/summary.json"))
            .unwrap_or_else(|e| panic!("{e}")),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(flight["collisions"], 0, "{flight}");
    assert!(flight["keyframes"].as_u64().unwrap_or(0) > 0, "{flight}");
    assert!(
        flight["map_quality"]["occupied_cells"]
            .as_u64()
            .unwrap_or(0)
            > 1000,
        "{flight}"
    );
    assert!(!dir.path().join("scout-demo/explore").exists());
    let trajectory = std::fs::read_to_string(dir.path().join("scout-demo/vio/trajectory.tum"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(trajectory.lines().count() > 20, "{trajectory}");
    // The report and the plots it shows, every one of them written.
    let report = std::fs::read_to_string(dir.path().join("scout-demo/report.md"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        report.contains("ATE (RMSE)") && report.contains("| rpi4 | total |"),
        "{report}"
    );
    for line in report.lines().filter(|l| l.starts_with("![")) {
        let file = line
            .split_once("](")
            .and_then(|(_, rest)| rest.strip_suffix(')'))
            .unwrap_or_else(|| panic!("{line}"));
        let png = std::fs::read(dir.path().join("scout-demo").join(file))
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(&png[1..4], b"PNG", "{file}");
    }
    assert!(
        dir.path()
            .join("scout-demo/sequence/mav0/cam0/data.csv")
            .is_file()
    );
    let top = std::fs::read_to_string(dir.path().join("scout-demo/trajectory.tum"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(top, trajectory, "scout-demo/trajectory.tum is the VIO's");
    #[cfg(feature = "rerun")]
    check_demo_recording(&dir.path().join("scout-demo"), &report);
    // A folder the demo did not write is left alone.
    std::fs::create_dir_all(dir.path().join("mine")).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(dir.path().join("mine/keep.txt"), "x").unwrap_or_else(|e| panic!("{e}"));
    let out = scout(&["demo", "--out", "mine", "--duration", "2.6"], dir.path());
    assert!(!out.status.success());
    assert!(dir.path().join("mine/keep.txt").is_file());
}

/// The demo's recording, read back through the SDK's decoder: every stage's
/// entities, a row per frame where one is logged per frame, both timelines,
/// a blueprint; and the report says how to open it.
#[cfg(feature = "rerun")]
fn check_demo_recording(demo: &std::path::Path, report: &str) {
    use viz::recording::{paths, read_contents};
    let contents = read_contents(&demo.join("recording.rrd")).unwrap_or_else(|e| panic!("{e}"));
    let frames = std::fs::read_to_string(demo.join("sequence/mav0/cam0/data.csv"))
        .unwrap_or_else(|e| panic!("{e}"))
        .lines()
        .filter(|l| !l.starts_with('#'))
        .count();
    let rows = |p: &str| contents.rows_at(p);
    for p in [
        paths::IMAGES[0],
        paths::IMAGES[1],
        paths::TRACKS,
        paths::MATCHES,
        paths::LANDMARKS,
    ] {
        assert_eq!(rows(p), frames, "{p}: {:?}", contents.rows);
    }
    assert!(contents.static_entities.contains(paths::GROUND_TRUTH));
    for p in [
        paths::TRAJECTORY,
        paths::BODY,
        paths::VOXELS,
        paths::SLICE,
        paths::ATE,
        "stats/energy_uJ/frontend",
        "stats/energy_uJ/backend",
        "stats/energy_uJ/map",
    ] {
        assert!(rows(p) > 0, "{p} missing: {:?}", contents.rows);
    }
    assert!(contents.has_blueprint);
    assert!(contents.timelines.contains("t_ns"));
    assert!(report.contains("rerun recording.rrd"), "{report}");
    // The drone's flight has its own recording: its frames, images and
    // tracks on the sensor timeline.
    let flight = read_contents(&demo.join("flight.rrd")).unwrap_or_else(|e| panic!("{e}"));
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(demo.join("flight/summary.json"))
            .unwrap_or_else(|e| panic!("{e}")),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let flight_frames = summary["frames"].as_u64().unwrap_or(0) as usize;
    assert!(flight_frames >= 60, "{summary}");
    for p in [paths::IMAGES[0], paths::TRACKS] {
        assert_eq!(flight.rows_at(p), flight_frames, "{p}: {:?}", flight.rows);
    }
    assert!(flight.static_entities.contains(paths::GROUND_TRUTH));
    assert!(report.contains("A drone on its own VIO"), "{report}");
}

/// A short soak: 45 s of a synthetic stream rendered as it runs, the whole
/// pipeline with its online map and no per-frame records kept; resident
/// memory from 15 s on stays within 5 % (`scout soak`, which exits non-zero
/// otherwise), and the run keeps tracking. By hand, for the figure:
/// `scout soak --minutes 30` (release).
#[test]
fn a_long_stream_runs_in_flat_memory() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let out = scout(
        &[
            "-q",
            "soak",
            "--minutes",
            "0.75",
            "--every",
            "5",
            "--settle",
            "15",
            "--out",
            "soak",
        ],
        tmp.path(),
    );
    assert!(out.status.success(), "soak failed: {}", stderr(&out));
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(tmp.path().join("soak/soak.json"))
            .unwrap_or_else(|e| panic!("{e}")),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let readings = report["readings"]
        .as_array()
        .unwrap_or_else(|| panic!("{report}"));
    assert!(readings.len() >= 8, "{readings:?}");
    let last = &readings[readings.len() - 1];
    assert!(last["t_s"].as_f64().is_some_and(|t| t > 44.0), "{last}");
    let share = last["tracking"].as_f64().unwrap_or(0.0) / last["frames"].as_f64().unwrap_or(1.0);
    assert!(share > 0.95, "tracking {share:.3} of the frames");
    assert!(
        report["growth"].as_f64().is_some_and(|g| g <= 0.05),
        "{}",
        report["growth"]
    );
    println!("{}", stdout(&out));
}
