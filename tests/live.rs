//! A live run without a device: a synthetic sequence replayed as a live
//! camera and IMU (`pipeline::live::PacedReplay`, pairs released at 20 Hz
//! on `CLOCK_MONOTONIC`) through `LiveSource` and the threaded pipeline in
//! `PipelineMode::Live`, with a second thread keeping one of the two cores
//! busy: latency from the camera's stamp to the pose stays under two frame
//! periods, every pair the camera gave is either processed or counted as
//! dropped, and the stream tracks.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use datasets::synth::{Difficulty, SynthConfig, SyntheticSequence};
use pipeline::live::{LiveSettings, LiveSource, PacedReplay};
use pipeline::{PipelineConfig, PipelineMode, SequenceSource, StreamConfig, run_pipeline};
use vio::backend::TrackingStatus;

#[test]
fn a_paced_live_stream_with_the_cpu_half_taken_keeps_latency_under_two_frames() {
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
    let mut config = PipelineConfig::default();
    config.pipeline.frame_queue = 1;
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
    assert!(p99 <= 2.0 * period_s, "p99 latency {p99} s");
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
