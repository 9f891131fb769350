//! The streaming pipeline end to end on a short synthetic sequence: the
//! threaded deterministic mode against itself and against the plain loop, the
//! real-time mode's drop accounting, errors from a stage mid-stream and from a
//! malformed file, and `scout replay` writing its trajectory and metrics.
//!
//! Every comparison is of whole records (poses, velocities, biases, status,
//! and a digest of the front end's tracks), so the tests keep their meaning
//! whatever the back end's status is.

mod common;
use common::{scout, stderr};

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use datasets::euroc::EurocDataset;
use datasets::synth::{Difficulty, SynthConfig};
use pipeline::{
    EurocSource, PipelineConfig, PipelineError, PipelineMode, PipelineRun, StreamConfig,
    StreamEvent, run_pipeline, run_sequential,
};
use scout::eval::trajectory::format_tum;
use scout::replay::tracking_trajectory;
use scout::synthetic::write_synthetic_sequence;

/// Writes a medium synthetic sequence of `duration_s` (seed 5) into Cargo's
/// scratch folder for integration tests, under `name`.
fn write_medium_sequence(name: &str, duration_s: f64) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    }
    let cfg = SynthConfig {
        seed: 5,
        duration_s,
        difficulty: Difficulty::Medium,
        ..SynthConfig::default()
    };
    if let Err(e) = write_synthetic_sequence(&cfg, &dir, 2, |_, _| {}) {
        panic!("writing the synthetic sequence: {e:#}");
    }
    dir
}

/// A 2.5 s medium sequence (50 stereo pairs), written once per test binary.
fn sequence() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| write_medium_sequence("pipeline-sequence", 2.5))
}

fn open(dir: &Path) -> EurocDataset {
    EurocDataset::open(dir).unwrap_or_else(|e| panic!("{e}"))
}

/// The dataset as a source, with the default IMU lead.
fn src(ds: &EurocDataset) -> EurocSource<'_> {
    EurocSource::new(ds, StreamConfig::default().imu_lead_ns())
}

/// The index of a frame's record (`None` for a keyframe's map record).
fn frame_index(event: &StreamEvent<'_>) -> Option<usize> {
    match event {
        StreamEvent::Frame(r) => Some(r.index),
        StreamEvent::Keyframe(_) => None,
    }
}

fn ok<T>(result: Result<T, PipelineError>) -> T {
    result.unwrap_or_else(|e| panic!("{e}"))
}

fn small_queues() -> PipelineConfig {
    PipelineConfig {
        pipeline: StreamConfig {
            frame_queue: 1,
            tracks_queue: 1,
            map_queue: 1,
            ..StreamConfig::default()
        },
        ..PipelineConfig::default()
    }
}

fn tum_text(run: &PipelineRun) -> String {
    format_tum(&tracking_trajectory(run).unwrap_or_else(|e| panic!("{e}")))
}

#[test]
fn deterministic_mode_repeats_bit_for_bit_and_equals_the_plain_loop() {
    let ds = open(sequence());
    let config = PipelineConfig::default();
    let mut seen = Vec::new();
    let reference = ok(run_sequential(&mut src(&ds), &config, |e| {
        seen.extend(frame_index(&e));
    }));
    assert_eq!(reference.pairs, ds.stereo_entries().len());
    assert_eq!(reference.records.len(), reference.pairs);
    assert_eq!(seen, (0..reference.pairs).collect::<Vec<_>>());
    // Every IMU sample from the lead before the first pair (and the one before
    // that) to the one covering the last pair and the lag a recording hands
    // over past it reaches the back end.
    let first = ds.stereo_entries()[0].t_ns - 1_000_000_000;
    let last = ds.stereo_entries()[reference.pairs - 1].t_ns
        + (pipeline::source::RECORDED_IMU_LAG_S * 1e9) as i64;
    let expected_imu = ds
        .imu()
        .iter()
        .filter(|s| s.t_ns >= first && s.t_ns <= last)
        .count();
    assert!(
        (expected_imu..=expected_imu + 2).contains(&reference.imu_samples),
        "{} IMU samples pushed, {expected_imu} in range",
        reference.imu_samples
    );
    // The front end ran on real images.
    assert!(reference.records.iter().all(|r| r.features > 50));
    // The comparison sees one bit of a pose and ignores the wall times.
    let record = &reference.records[reference.records.len() - 1];
    let mut other = record.clone();
    other.timing.frontend_ns += 1;
    other.estimate.time_ns += 1;
    assert!(record.same_output(&other));
    let x = &mut other.estimate.world_from_body.translation.vector.x;
    *x = f64::from_bits(x.to_bits() ^ 1);
    assert!(!record.same_output(&other));

    for (name, config) in [
        ("default queues", config),
        ("queues of one", small_queues()),
    ] {
        for attempt in 0..2 {
            let mut order = Vec::new();
            let run = ok(run_pipeline(
                &mut src(&ds),
                &config,
                PipelineMode::Deterministic,
                |e| order.extend(frame_index(&e)),
            ));
            assert_eq!(order, seen, "{name}, run {attempt}: records out of order");
            assert_eq!(run.drops(), 0);
            for (a, b) in run.records.iter().zip(&reference.records) {
                assert!(
                    a.same_output(b),
                    "{name}, run {attempt}: frame {} differs from the plain loop:\n{a:?}\n{b:?}",
                    a.index
                );
            }
            assert!(run.same_output(&reference), "{name}, run {attempt}");
            assert_eq!(tum_text(&run), tum_text(&reference));
        }
    }
}

#[test]
fn real_time_mode_drops_the_newest_frames_and_keeps_every_imu_sample() {
    let ds = open(sequence());
    let reference = ok(run_sequential(
        &mut src(&ds),
        &PipelineConfig::default(),
        |_| {},
    ));
    let all_t: Vec<i64> = ds.stereo_entries().iter().map(|e| e.t_ns).collect();
    for (speed, config) in [(1000.0, PipelineConfig::default()), (1e9, small_queues())] {
        let run = ok(run_pipeline(
            &mut src(&ds),
            &config,
            PipelineMode::RealTime { speed },
            |_| {},
        ));
        let label = format!("speed {speed}, queue {}", config.pipeline.frame_queue);
        assert_eq!(run.records.len() + run.drops(), run.pairs, "{label}");
        // Processed and dropped frames partition the pairs, each in time order.
        let mut merged: Vec<i64> = run.records.iter().map(|r| r.t_ns).collect();
        assert!(merged.windows(2).all(|w| w[0] < w[1]), "{label}");
        assert!(run.dropped_t_ns.windows(2).all(|w| w[0] < w[1]), "{label}");
        merged.extend(&run.dropped_t_ns);
        merged.sort_unstable();
        assert_eq!(merged, all_t, "{label}");
        assert!(
            run.records
                .iter()
                .all(|r| ds.stereo_entries()[r.index].t_ns == r.t_ns),
            "{label}"
        );
        // The back end's IMU stream is complete whatever was dropped.
        assert_eq!(run.imu_samples, reference.imu_samples, "{label}");
        // The first frame always finds room; latencies are measured.
        assert_eq!(run.records.first().map(|r| r.index), Some(0), "{label}");
        assert!(
            run.records.iter().all(|r| r.timing.latency_ns > 0),
            "{label}"
        );
        if run.drops() == 0 {
            assert!(run.same_output(&reference), "{label}");
        }
        println!(
            "{label}: {} frames, {} dropped",
            run.records.len(),
            run.drops()
        );
    }
    // A speed that is not a positive number is refused.
    for speed in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        match run_pipeline(
            &mut src(&ds),
            &PipelineConfig::default(),
            PipelineMode::RealTime { speed },
            |_| {},
        ) {
            Err(PipelineError::Config(message)) => assert!(message.contains("speed")),
            other => panic!("speed {speed}: {other:?}"),
        }
    }
}

/// Copies the sequence's csv and yaml files (and, with `images`, its PNGs).
fn copy_sequence(to: &Path, images: bool) {
    let from = sequence().join("mav0");
    for dir in ["cam0", "cam1", "imu0", "state_groundtruth_estimate0"] {
        let src = from.join(dir);
        let dst = to.join("mav0").join(dir);
        std::fs::create_dir_all(dst.join("data")).unwrap_or_else(|e| panic!("{e}"));
        let entries = std::fs::read_dir(&src).unwrap_or_else(|e| panic!("{e}"));
        for entry in entries.flatten() {
            if entry.path().is_file() {
                std::fs::copy(entry.path(), dst.join(entry.file_name()))
                    .unwrap_or_else(|e| panic!("{e}"));
            }
        }
        if images && src.join("data").is_dir() {
            let pngs = std::fs::read_dir(src.join("data")).unwrap_or_else(|e| panic!("{e}"));
            for entry in pngs.flatten() {
                std::fs::copy(entry.path(), dst.join("data").join(entry.file_name()))
                    .unwrap_or_else(|e| panic!("{e}"));
            }
        }
    }
}

#[test]
fn an_unreadable_image_mid_stream_stops_every_mode_with_its_file_and_line() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    copy_sequence(tmp.path(), true);
    let ds = open(tmp.path());
    let bad = &ds.stereo_entries()[20].left;
    std::fs::write(&bad.path, b"not a png").unwrap_or_else(|e| panic!("{e}"));
    let location = format!("cam0/data.csv:{}", bad.csv_line);
    let check = |what: &str, result: Result<PipelineRun, PipelineError>| match result {
        Err(e @ PipelineError::Dataset(_)) => {
            assert!(e.to_string().contains(&location), "{what}: {e}");
        }
        other => panic!("{what}: expected a dataset error, got {other:?}"),
    };
    let config = PipelineConfig::default();
    check("plain loop", run_sequential(&mut src(&ds), &config, |_| {}));
    let mut records = 0;
    check(
        "deterministic",
        run_pipeline(&mut src(&ds), &config, PipelineMode::Deterministic, |e| {
            records += frame_index(&e).map_or(0, |_| 1);
        }),
    );
    // The frames before the bad one went through before the pipeline stopped.
    assert!(records <= 20, "{records}");
    check(
        "real time",
        run_pipeline(
            &mut src(&ds),
            &small_queues(),
            PipelineMode::RealTime { speed: 1e9 },
            |_| {},
        ),
    );
}

fn read_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn replay_writes_the_trajectory_and_the_metrics() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let seq = sequence()
        .to_str()
        .unwrap_or_else(|| panic!("non-UTF-8 path"));
    let out = scout(&["replay", seq, "--out", "run"], tmp.path());
    assert!(out.status.success(), "replay failed: {}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("50 of 50 frames processed"), "{stdout}");

    // The same trajectory as the library's plain loop, byte for byte.
    let tum = std::fs::read_to_string(tmp.path().join("run/trajectory.tum"))
        .unwrap_or_else(|e| panic!("{e}"));
    let ds = open(sequence());
    let reference = ok(run_sequential(
        &mut src(&ds),
        &PipelineConfig::default(),
        |_| {},
    ));
    assert_eq!(tum, tum_text(&reference));

    let m = read_json(&tmp.path().join("run/metrics.json"));
    assert_eq!(m["mode"], "deterministic");
    assert_eq!(m["pairs"], 50);
    assert_eq!(m["frames"], 50);
    assert_eq!(m["drops"], 0);
    let rows = tum.lines().filter(|l| !l.starts_with('#')).count();
    assert_eq!(m["frames_tracking"].as_u64(), Some(rows as u64));
    assert!(m["reinitializations"].is_u64());
    for stage in ["frontend", "backend", "total"] {
        for q in ["mean", "median", "p90", "max"] {
            assert!(m["time_ms"][stage][q].is_f64(), "time_ms.{stage}.{q}: {m}");
        }
    }
    for q in ["mean", "median", "p90", "p99", "max"] {
        assert!(m["latency_ms"][q].is_f64(), "latency_ms.{q}");
    }
    // The map was built online from the keyframes: how many, and how late.
    let map = &m["map"];
    let keyframes = m["keyframes"].as_u64().unwrap_or(0);
    let mapped = map["keyframes_mapped"].as_u64().unwrap_or(0);
    assert!(mapped >= 3 && mapped <= keyframes, "{map}");
    assert_eq!(map["keyframes_dropped"], 0);
    for q in ["median", "p99", "max"] {
        for what in ["keyframe_to_map_ms", "camera_to_map_ms", "map_ms"] {
            assert!(
                map[what][q].as_f64().is_some_and(|v| v > 0.0),
                "{what}.{q}: {map}"
            );
        }
    }
    let summary = read_json(&tmp.path().join("run/map.json"));
    assert_eq!(summary["keyframes"].as_u64(), Some(mapped));
    assert_eq!(
        mapping::io::load(tmp.path().join("run/map.bin"))
            .map(|m| m.brick_count() as u64)
            .ok(),
        summary["bricks"].as_u64()
    );
    let rss = &m["peak_rss_bytes"];
    assert!(
        rss.is_u64() || (rss.is_null() && !cfg!(target_os = "linux")),
        "{rss}"
    );
    // The synthetic sequence has ground truth: the ATE section is there, with
    // figures for both alignments once the back end tracks long enough.
    let ate = &m["ate"];
    assert_eq!(ate["ground_truth_poses"], 50);
    assert_eq!(ate["estimate_poses"].as_u64(), Some(rows as u64));
    assert!(
        ate["matched_poses"]
            .as_u64()
            .is_some_and(|n| n <= rows as u64)
    );
    for align in ["se3", "posyaw"] {
        let figures = &ate[align];
        assert!(
            figures.is_null()
                || ["rmse_m", "mean_m", "max_m"]
                    .iter()
                    .all(|k| figures[k].is_f64()),
            "{align}: {figures}"
        );
    }
    if rows >= 3 {
        assert!(ate["posyaw"]["rmse_m"].is_f64(), "{ate}");
    } else {
        assert!(
            ate["notes"].as_array().is_some_and(|n| !n.is_empty()),
            "{ate}"
        );
    }
    assert_eq!(m["per_frame"].as_array().map(Vec::len), Some(50));

    // Real time, much faster than the sensors: every pair is accounted for.
    let out = scout(
        &["replay", seq, "--out", "fast", "--realtime", "1000"],
        tmp.path(),
    );
    assert!(
        out.status.success(),
        "real-time replay failed: {}",
        stderr(&out)
    );
    let m = read_json(&tmp.path().join("fast/metrics.json"));
    assert_eq!(m["mode"]["real_time"]["speed"], 1000.0);
    let (frames, drops) = (m["frames"].as_u64(), m["drops"].as_u64());
    assert_eq!(frames.zip(drops).map(|(f, d)| f + d), Some(50), "{m}");
    assert!(tmp.path().join("fast/trajectory.tum").is_file());

    // Into the first run's folder again, without a map and without cost:
    // the first run's map and cost go, so the folder holds one run.
    std::fs::write(tmp.path().join("nomap.toml"), "[map]\nenabled = false\n")
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(tmp.path().join("run/map.bin").is_file() && tmp.path().join("run/cost.json").is_file());
    let out = scout(
        &[
            "replay",
            seq,
            "--out",
            "run",
            "--config",
            "nomap.toml",
            "--no-cost",
        ],
        tmp.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    for gone in ["map.bin", "map.png", "map.ply", "map.json", "cost.json"] {
        assert!(!tmp.path().join("run").join(gone).exists(), "{gone} left");
    }
    assert!(tmp.path().join("run/trajectory.tum").is_file());

    // The front end alone still writes its own figures.
    let out = scout(
        &["replay", seq, "--out", "fe", "--frontend-only"],
        tmp.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let m = read_json(&tmp.path().join("fe/metrics.json"));
    assert_eq!(m["summary"]["frames"], 50);
    assert!(!tmp.path().join("fe/trajectory.tum").exists());

    // A setting out of range is refused by name, before anything runs.
    std::fs::write(tmp.path().join("bad.toml"), "[pipeline]\nframe_queue = 0\n")
        .unwrap_or_else(|e| panic!("{e}"));
    let out = scout(
        &["replay", seq, "--out", "bad", "--config", "bad.toml"],
        tmp.path(),
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("pipeline.frame_queue"),
        "{}",
        stderr(&out)
    );

    // A write that fails halfway (the map's PLY cannot replace a folder of
    // that name) leaves neither the earlier run's outputs nor part of this
    // one's: the folder never mixes two runs.
    let run = tmp.path().join("run");
    std::fs::create_dir_all(run.join("map.ply")).unwrap_or_else(|e| panic!("{e}"));
    assert!(run.join("trajectory.tum").is_file());
    let out = scout(&["replay", seq, "--out", "run"], tmp.path());
    assert!(!out.status.success());
    assert!(stderr(&out).contains("removed again"), "{}", stderr(&out));
    for gone in [
        "trajectory.tum",
        "metrics.json",
        "map.bin",
        "trajectory.png",
    ] {
        assert!(!run.join(gone).exists(), "{gone} left");
    }
    assert!(
        run.join("map.ply").is_dir(),
        "what the replay did not write stays"
    );
}

#[test]
fn a_malformed_csv_row_is_an_error_naming_the_file_and_line() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    copy_sequence(&tmp.path().join("seq"), false);
    let imu_csv = tmp.path().join("seq/mav0/imu0/data.csv");
    let text = std::fs::read_to_string(&imu_csv).unwrap_or_else(|e| panic!("{e}"));
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines[6] = lines[6].replacen(',', ",abc,", 1);
    std::fs::write(&imu_csv, lines.join("\n") + "\n").unwrap_or_else(|e| panic!("{e}"));
    let out = scout(&["replay", "seq", "--out", "run"], tmp.path());
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("imu0/data.csv:7"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

/// A 10 s medium sequence with 2.5 s of stereo pairs taken out of its
/// listings at 3.5 s (the IMU runs on): longer than the back end's
/// dead-reckoning horizon (2 s), so it re-initializes in a new world frame.
fn sequence_with_a_camera_gap() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = write_medium_sequence("pipeline-camera-gap", 10.0);
        let t0 = SynthConfig::default().start_time_ns;
        let gap = (t0 + 3_500_000_000)..(t0 + 6_000_000_000);
        for cam in ["cam0", "cam1"] {
            let csv = dir.join("mav0").join(cam).join("data.csv");
            let text = std::fs::read_to_string(&csv).unwrap_or_else(|e| panic!("{e}"));
            let kept: String = text
                .lines()
                .filter(|l| {
                    l.split(',')
                        .next()
                        .and_then(|t| t.parse::<i64>().ok())
                        .is_none_or(|t| !gap.contains(&t))
                })
                .map(|l| format!("{l}\n"))
                .collect();
            std::fs::write(&csv, kept).unwrap_or_else(|e| panic!("{e}"));
        }
        dir
    })
}

/// TUM rows: `(t_s, [x, y, z])`.
fn tum_positions(path: &Path) -> Vec<(f64, [f64; 3])> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let v: Vec<f64> = l
                .split_whitespace()
                .map(|x| x.parse().unwrap_or_else(|e| panic!("{l}: {e}")))
                .collect();
            (v[0], [v[1], v[2], v[3]])
        })
        .collect()
}

#[test]
fn a_re_initialization_puts_each_world_frame_in_its_own_file_and_says_so() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let seq = sequence_with_a_camera_gap()
        .to_str()
        .unwrap_or_else(|| panic!("non-UTF-8 path"));
    // What an earlier run left: its later session goes, other files stay.
    let run = tmp.path().join("run");
    std::fs::create_dir_all(&run).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(
        run.join("trajectory.session-9.tum"),
        "# t[s] x y z qx qy qz qw\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(run.join("notes.txt"), "mine").unwrap_or_else(|e| panic!("{e}"));
    let out = scout(&["replay", seq, "--out", "run"], tmp.path());
    assert!(out.status.success(), "replay failed: {}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!run.join("trajectory.session-9.tum").exists());
    assert!(run.join("notes.txt").exists());

    let m = read_json(&run.join("metrics.json"));
    assert_eq!(m["reinitializations"], 1, "{}", m["sessions"]);
    let sessions = m["sessions"]
        .as_array()
        .unwrap_or_else(|| panic!("no sessions: {m}"));
    assert_eq!(sessions.len(), 2, "{sessions:?}");
    let mut rows_total = 0;
    for (i, s) in sessions.iter().enumerate() {
        let file = s["file"].as_str().unwrap_or_else(|| panic!("{s}"));
        let expected = if i == 0 {
            "trajectory.tum".to_string()
        } else {
            format!("trajectory.session-{}.tum", s["session"])
        };
        assert_eq!(file, expected);
        let rows = tum_positions(&run.join(file));
        assert_eq!(s["frames_tracking"].as_u64(), Some(rows.len() as u64));
        rows_total += rows.len();
        // One world frame per file: no jump between rows, and each scores
        // alone within centimetres of the truth.
        for w in rows.windows(2) {
            let d = (0..3)
                .map(|k| (w[1].1[k] - w[0].1[k]).powi(2))
                .sum::<f64>()
                .sqrt();
            assert!(d < 0.3, "{file}: {d:.2} m between rows at {} s", w[1].0);
        }
        let rmse = s["ate"]["se3"]["rmse_m"].as_f64().unwrap_or(f64::NAN);
        assert!(rmse < 0.05, "{file}: ATE {rmse} m");
    }
    // Session 2 starts after the gap.
    assert!(sessions[1]["first_t_ns"].as_i64() > sessions[0]["last_t_ns"].as_i64());
    assert_eq!(m["frames_tracking"].as_u64(), Some(rows_total as u64));
    // Said in the metrics and the headline.
    let degraded: Vec<&str> = m["degraded"]
        .as_array()
        .map(|d| d.iter().filter_map(|r| r.as_str()).collect())
        .unwrap_or_default();
    assert!(
        degraded.iter().any(|r| r.contains("2 world frames")),
        "{degraded:?}"
    );
    // The camera gap itself is a fault with its times: from the last pair
    // before it to the first after, 2.55 s.
    let gaps: Vec<&serde_json::Value> = m["faults"]
        .as_array()
        .map(|f| f.iter().filter(|f| f["kind"] == "camera_gap").collect())
        .unwrap_or_default();
    assert_eq!(gaps.len(), 1, "{}", m["faults"]);
    let span = gaps[0]["to_ns"].as_i64().unwrap_or(0) - gaps[0]["from_ns"].as_i64().unwrap_or(0);
    assert_eq!(span, 2_550_000_000, "{}", gaps[0]);
    assert!(
        degraded.iter().any(|r| r.starts_with("1 camera gap")),
        "{degraded:?}"
    );
    assert!(
        stdout.contains("DEGRADED") && stdout.contains("trajectory.session-"),
        "{stdout}"
    );
}

#[test]
fn imu_gaps_and_implausible_samples_are_reported_with_their_times() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let seq = tmp.path().join("seq");
    copy_sequence(&seq, true);
    // 0.5 s without IMU from 1.0 s in, and one sample of 1e300 at 2.0 s.
    let csv = seq.join("mav0/imu0/data.csv");
    let text = std::fs::read_to_string(&csv).unwrap_or_else(|e| panic!("{e}"));
    let t0 = SynthConfig::default().start_time_ns;
    let at = |s: f64| t0 + (s * 1e9).round() as i64;
    let (mut last_before, mut first_after, mut spike) = (0, 0, 0);
    let rows: String = text
        .lines()
        .filter_map(|l| {
            let Some(t) = l.split(',').next().and_then(|t| t.parse::<i64>().ok()) else {
                return Some(format!("{l}\n"));
            };
            if (at(1.0)..at(1.5)).contains(&t) {
                return None;
            }
            if t < at(1.0) {
                last_before = t;
            } else if first_after == 0 {
                first_after = t;
            }
            if spike == 0 && t >= at(2.0) {
                spike = t;
                let mut f: Vec<String> = l.split(',').map(str::to_string).collect();
                f[1] = "1e300".into();
                return Some(format!("{}\n", f.join(",")));
            }
            Some(format!("{l}\n"))
        })
        .collect();
    std::fs::write(&csv, rows).unwrap_or_else(|e| panic!("{e}"));
    let out = scout(&["replay", "seq", "--out", "run"], tmp.path());
    assert!(out.status.success(), "replay failed: {}", stderr(&out));
    let m = read_json(&tmp.path().join("run/metrics.json"));
    let faults = m["faults"].as_array().unwrap_or_else(|| panic!("{m}"));
    assert_eq!(faults.len(), 2, "{faults:?}");
    assert_eq!(faults[0]["kind"], "imu_gap");
    assert_eq!(faults[0]["from_ns"].as_i64(), Some(last_before));
    assert_eq!(faults[0]["to_ns"].as_i64(), Some(first_after));
    assert_eq!(faults[1]["kind"], "imu_out_of_range");
    assert_eq!(faults[1]["t_ns"].as_i64(), Some(spike));
    let degraded = m["degraded"].to_string();
    assert!(
        degraded.contains("1 IMU gap") && degraded.contains("1 IMU sample beyond"),
        "{degraded}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("DEGRADED         1 IMU gap"), "{stdout}");
    assert!(
        stderr(&out).contains("IMU gap: no sample for 0.50"),
        "{}",
        stderr(&out)
    );
}

/// Four faults injected into one 12 s medium flight
/// (`pipeline::faults`), each detected with its time and ridden out: a
/// 2.5 s IMU gap (longer than the dead-reckoning horizon) carried by stereo
/// vision alone, 0.5 s of black frames carried by the IMU alone, a 0.5 s
/// camera dropout bridged by the IMU, 0.5 s of noisy frames; no loss, no
/// re-initialization, and the ATE within 3x the clean run's.
#[test]
fn injected_faults_are_detected_and_ridden_out() {
    use pipeline::faults::{FaultKind, Faulted, InjectedFault};
    use vio::health::SensorFault;
    let dir = write_medium_sequence("pipeline-faults", 12.0);
    let ds = open(&dir);
    let mut config = PipelineConfig::default();
    config.map.enabled = false;
    let fault = |kind, from_s, duration_s| InjectedFault {
        kind,
        from_s,
        duration_s,
    };
    let plan = vec![
        fault(FaultKind::ImuGap, 2.5, 2.5),
        fault(FaultKind::BlackFrames, 6.5, 0.5),
        fault(FaultKind::CameraDropout, 8.5, 0.5),
        fault(FaultKind::NoisyFrames { sigma: 40.0 }, 10.0, 0.5),
    ];
    let metrics = |plan: Vec<InjectedFault>| {
        let mut source = ok(Faulted::new(src(&ds), plan, 1));
        let run = ok(run_sequential(&mut source, &config, |_| {}));
        let estimate = tracking_trajectory(&run).unwrap_or_else(|e| panic!("{e}"));
        let subject = scout::replay::RunSubject::of_dataset(&ds).unwrap_or_else(|e| panic!("{e}"));
        scout::replay::pipeline_metrics(&subject, &config, &run, &estimate)
            .unwrap_or_else(|e| panic!("{e}"))
    };
    let clean = metrics(Vec::new());
    let faulted = metrics(plan);
    let ate = |m: &scout::replay::PipelineMetrics| {
        m.sessions[0]
            .ate
            .as_ref()
            .and_then(|a| a.se3.as_ref())
            .map_or(f64::NAN, |s| s.rmse_m)
    };
    println!(
        "clean ATE {:.4} m; faulted {:.4} m; {:?}",
        ate(&clean),
        ate(&faulted),
        faulted.degraded
    );
    assert!(clean.degraded.is_empty(), "{:?}", clean.degraded);
    assert_eq!(faulted.reinitializations, 0, "{:?}", faulted.degraded);
    assert_eq!(faulted.lost_frames, 0, "{:?}", faulted.degraded);
    assert!(
        ate(&faulted) < 3.0 * ate(&clean),
        "ATE {:.4} m against {:.4} m clean",
        ate(&faulted),
        ate(&clean)
    );
    // Detected with their times (s after the first pair).
    let t0 = ds.stereo_entries()[0].t_ns;
    let rel = |t_ns: i64| (t_ns - t0) as f64 * 1e-9;
    let first = |pick: fn(&SensorFault) -> bool, what: &str| {
        *faulted
            .faults
            .iter()
            .find(|f| pick(f))
            .unwrap_or_else(|| panic!("no {what} in {:?}", faulted.faults))
    };
    let imu_gap = first(|f| matches!(f, SensorFault::ImuGap { .. }), "IMU gap");
    assert!((rel(imu_gap.t_ns()) - 2.5).abs() < 0.01, "{imu_gap:?}");
    assert!((imu_gap.duration_s() - 2.5).abs() < 0.01, "{imu_gap:?}");
    let camera_gap = first(|f| matches!(f, SensorFault::CameraGap { .. }), "camera gap");
    assert!(
        (rel(camera_gap.t_ns()) - 8.45).abs() < 0.01,
        "{camera_gap:?}"
    );
    // The black frames: 6.5 s to 6.95 s, every pair of them without texture.
    let dark = first(
        |f| matches!(f, SensorFault::NoTexture { .. }),
        "dark stretch",
    );
    assert!((rel(dark.t_ns()) - 6.5).abs() < 0.01, "{dark:?}");
    assert!((dark.duration_s() - 0.45).abs() < 0.01, "{dark:?}");
    // The reactions: vision alone across the IMU gap, the IMU alone across
    // the black frames, both said in `degraded`.
    assert!(
        faulted.frames_visual_only >= 45,
        "{}",
        faulted.frames_visual_only
    );
    assert!(
        faulted.frames_inertial_only >= 10,
        "{}",
        faulted.frames_inertial_only
    );
    let said = |what: &str| faulted.degraded.iter().any(|l| l.contains(what));
    assert!(
        said("stereo vision alone") && said("IMU alone"),
        "{:?}",
        faulted.degraded
    );
    assert!(
        said("IMU gap") && said("camera gap") && said("without usable texture"),
        "{:?}",
        faulted.degraded
    );
}
