//! A live run without a device: a synthetic sequence replayed as a live
//! camera and IMU (`pipeline::live::PacedReplay`, pairs released at 20 Hz
//! on `CLOCK_MONOTONIC`) through `LiveSource` and the threaded pipeline in
//! `PipelineMode::Live`, with a second thread keeping one of the two cores
//! busy: latency from the camera's stamp to the pose stays bounded (a few
//! frame periods in this unoptimized build), every pair the camera gave is
//! either processed or counted as dropped, and the stream tracks. And the
//! source alone behind a consumer slower than the camera: every pair it
//! hands over is the newest, the others counted as dropped. Alone in its test binary, so that no other
//! test takes the second core.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use datasets::synth::{Difficulty, SynthConfig, SyntheticSequence};
use pipeline::live::{LiveSettings, LiveSource, PacedReplay};
use pipeline::{PipelineConfig, PipelineMode, SequenceSource, StreamConfig, run_pipeline};
use vio::backend::TrackingStatus;

#[test]
fn a_paced_live_stream_with_the_cpu_half_taken_keeps_latency_bounded() {
    let cfg = SynthConfig {
        seed: 5,
        duration_s: 6.0,
        difficulty: Difficulty::Medium,
        ..SynthConfig::default()
    };
    let period_s = 1.0 / cfg.camera_rate_hz;
    let seq = SyntheticSequence::generate(&cfg).unwrap_or_else(|e| panic!("{e}"));
    let mut recorded = SequenceSource::new(&seq, StreamConfig::default().imu_lead_ns());
    let replay = PacedReplay::record(&mut recorded, usize::MAX).unwrap_or_else(|e| panic!("{e}"));
    let pairs = replay.len();
    assert_eq!(pairs, seq.frame_count());
    let rig = replay.rig().clone();

    // One core kept busy for the whole run.
    let busy = Arc::new(AtomicBool::new(true));
    let spinning = Arc::clone(&busy);
    let load = std::thread::spawn(move || {
        let mut x = 0u64;
        while spinning.load(Ordering::Relaxed) {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
        x
    });

    let (camera, imu) = replay.start();
    let mut source = LiveSource::start(
        Box::new(camera),
        Box::new(imu),
        rig,
        LiveSettings::default(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let config = PipelineConfig::default();
    let run = run_pipeline(&mut source, &config, PipelineMode::Live, |_| {})
        .unwrap_or_else(|e| panic!("{e}"));
    busy.store(false, Ordering::Relaxed);
    let _ = load.join();
    let counts = source.counts();

    // Every pair the camera gave was processed or dropped, and counted.
    assert_eq!(counts.pairs_captured, pairs as u64);
    assert_eq!(
        run.pairs as u64 + counts.pairs_dropped,
        counts.pairs_captured
    );
    assert_eq!(run.records.len(), run.pairs);
    assert_eq!(counts.imu_dropped, 0);
    // Latency from the camera's stamp to the pose.
    let mut latency: Vec<f64> = run
        .records
        .iter()
        .map(|r| r.timing.latency_ns as f64 * 1e-9)
        .collect();
    latency.sort_by(f64::total_cmp);
    let p50 = latency[latency.len() / 2];
    let p99 = latency[(latency.len() * 99).div_ceil(100) - 1];
    println!(
        "{} of {pairs} pairs processed, {} dropped, {} late for the IMU; latency p50 {:.1} ms, \
         p99 {:.1} ms (frame period {:.0} ms)",
        run.pairs,
        counts.pairs_dropped,
        counts.imu_late,
        p50 * 1e3,
        p99 * 1e3,
        period_s * 1e3
    );
    // Bounded, not piling up: the figure itself (p99 under two periods) is
    // measured in a release build, `scout run --paced DIR --load-threads 1`
    // (this test binary's crates are built at opt-level 1).
    assert!(p99 <= 4.0 * period_s, "p99 latency {p99} s");
    assert!(latency[0] >= 0.0);
    // It tracks.
    let tracking = run
        .records
        .iter()
        .filter(|r| r.estimate.status == TrackingStatus::Tracking)
        .count();
    assert!(
        tracking as f64 >= 0.8 * run.records.len() as f64,
        "{tracking} of {} tracked",
        run.records.len()
    );
}

#[test]
fn behind_a_slow_consumer_the_source_hands_over_the_newest_pair_and_counts_the_rest() {
    let cfg = SynthConfig {
        seed: 3,
        duration_s: 3.0,
        difficulty: Difficulty::Easy,
        ..SynthConfig::default()
    };
    let period_ns = (1e9 / cfg.camera_rate_hz) as i64;
    let seq = SyntheticSequence::generate(&cfg).unwrap_or_else(|e| panic!("{e}"));
    let mut recorded = SequenceSource::new(&seq, StreamConfig::default().imu_lead_ns());
    let replay = PacedReplay::record(&mut recorded, usize::MAX).unwrap_or_else(|e| panic!("{e}"));
    let pairs = replay.len() as u64;
    let rig = replay.rig().clone();
    let (camera, imu) = replay.start();
    let mut source = LiveSource::start(
        Box::new(camera),
        Box::new(imu),
        rig,
        LiveSettings::default(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    // Screened as every run's stream is: the pairs skipped on purpose are
    // not camera gaps.
    let health = vio::health::HealthConfig::default();
    let mut screened =
        pipeline::Screened::new(&mut source, &health).unwrap_or_else(|e| panic!("{e}"));
    let mut input = pipeline::FrameInput::empty();
    let mut delivered = 0u64;
    let mut imu_t: Vec<i64> = Vec::new();
    let mut last_t = i64::MIN;
    // Three frame periods of work per pair.
    while pipeline::Source::next_into(&mut screened, &mut input).unwrap_or_else(|e| panic!("{e}")) {
        assert!(input.faults.is_empty(), "{:?}", input.faults);
        let age = sensors::clock::monotonic_now_ns() - input.frame.t_ns;
        // The newest pair: at most one period old (plus the IMU's wait and
        // scheduling), however long the consumer took.
        assert!(
            age < period_ns + 60_000_000,
            "a pair {age} ns old was handed over"
        );
        assert!(input.frame.t_ns > last_t);
        last_t = input.frame.t_ns;
        imu_t.extend(input.imu.iter().map(|s| s.t_ns));
        delivered += 1;
        std::thread::sleep(std::time::Duration::from_nanos(3 * period_ns as u64));
    }
    drop(screened);
    let counts = source.counts();
    assert_eq!(counts.pairs_captured, pairs);
    assert_eq!(delivered + counts.pairs_dropped, pairs, "{counts:?}");
    assert!(counts.pairs_dropped >= pairs / 2, "{counts:?}");
    // The IMU is not dropped with the pairs: the samples handed over are
    // the recording's, in order, none missing between the first and the
    // last.
    let imu_period_ns = (1e9 / cfg.imu_rate_hz) as i64;
    assert!(
        imu_t.len() as f64 > 2.5 * cfg.imu_rate_hz,
        "{} samples",
        imu_t.len()
    );
    for w in imu_t.windows(2) {
        let dt = w[1] - w[0];
        assert!(dt > 0 && dt < imu_period_ns * 3 / 2, "IMU step {dt} ns");
    }
}
