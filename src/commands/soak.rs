//! `scout soak [--minutes 30] [--seed 1] [--every 60] [--settle 120]
//! [--max-growth 0.05]`: the whole pipeline (front end, back end, online map)
//! on a long synthetic stream, rendered as it runs (no file), as a robot
//! would run it for hours: is memory flat, does it keep tracking?
//!
//! The run keeps no per-frame records (`keep_records` off) and counts no
//! work (`cost` off), as a robot's run would. Every `--every` seconds of
//! stream it prints the resident memory (`VmRSS`), the frames tracked and the
//! position error against the ground truth at that frame (the estimate's
//! world tied to the truth's at the first tracking pose: drift, not an
//! aligned ATE). At the end, the
//! growth of the resident memory from `--settle` seconds of stream (the
//! world and its textures made, the map's first rooms seen, the allocator
//! warm) to the largest later reading; more than `--max-growth` (a share)
//! exits non-zero. Writes `OUT/soak.json` with the readings when `--out` is
//! given.

use std::path::PathBuf;

use clap::Args;
use datasets::synth::{Difficulty, SynthConfig, SyntheticSequence};
use nalgebra::Isometry3;
use pipeline::{PipelineConfig, SequenceSource, StreamEvent, run_sequential};
use scout::replay::rss_bytes;
use serde::Serialize;
use vio::backend::TrackingStatus;

/// Arguments of `scout soak`.
#[derive(Debug, Args)]
pub struct SoakArgs {
    /// Length of the stream, minutes of sensor time.
    #[arg(long, default_value_t = 30.0)]
    pub minutes: f64,
    /// Seed of the world and the flight.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Seconds of stream between two readings.
    #[arg(long, default_value_t = 60.0)]
    pub every: f64,
    /// Seconds of stream after which memory must stay flat.
    #[arg(long, default_value_t = 120.0)]
    pub settle: f64,
    /// Largest growth of the resident memory after `--settle`, as a share.
    #[arg(long, default_value_t = 0.05)]
    pub max_growth: f64,
    /// Folder for `soak.json` (created).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// One reading of a soak run.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct SoakReading {
    /// Stream time, s from the first pair.
    pub t_s: f64,
    /// Resident memory, bytes.
    pub rss_bytes: u64,
    /// Frames so far, and of those tracking.
    pub frames: usize,
    /// See `frames`.
    pub tracking: usize,
    /// Distance from the truth at this frame, the estimate's world tied to
    /// the truth's at the first tracking pose, m (`None` when not tracking or in a later session).
    pub drift_m: Option<f64>,
}

/// What `soak.json` holds.
#[derive(Debug, Clone, Serialize)]
pub struct SoakReport {
    /// Minutes of stream.
    pub minutes: f64,
    /// Seed.
    pub seed: u64,
    /// The readings, in time order.
    pub readings: Vec<SoakReading>,
    /// Resident memory at `settle_s`, bytes.
    pub settled_rss_bytes: u64,
    /// Largest resident memory after it, bytes.
    pub max_rss_bytes: u64,
    /// `max / settled - 1`.
    pub growth: f64,
    /// Stream time after which memory must stay flat, s.
    pub settle_s: f64,
    /// Wall time, s.
    pub wall_s: f64,
}

/// Runs `scout soak`.
pub fn run(args: &SoakArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.minutes.is_finite() && (0.1..=24.0 * 60.0).contains(&args.minutes),
        "--minutes must be in [0.1, 1440], got {}",
        args.minutes
    );
    anyhow::ensure!(
        args.every.is_finite() && args.every > 0.0,
        "--every must be a positive number of seconds, got {}",
        args.every
    );
    anyhow::ensure!(
        args.settle.is_finite() && args.settle >= 0.0 && args.settle < args.minutes * 60.0,
        "--settle must be within the stream ({} s), got {}",
        args.minutes * 60.0,
        args.settle
    );
    anyhow::ensure!(
        args.max_growth.is_finite() && args.max_growth >= 0.0,
        "--max-growth must be a share >= 0, got {}",
        args.max_growth
    );
    if let Some(out) = &args.out {
        super::prepare_output_folder(out)?;
    }
    anyhow::ensure!(
        rss_bytes().is_some(),
        "this system does not report resident memory (/proc/self/status)"
    );
    let start = std::time::Instant::now();
    cost::set_counting(false);
    let synth = SynthConfig {
        seed: args.seed,
        duration_s: args.minutes * 60.0,
        difficulty: Difficulty::Medium,
        ..SynthConfig::default()
    };
    let seq = SyntheticSequence::generate(&synth)?;
    let mut config = PipelineConfig::default();
    config.pipeline.keep_records = false;
    let mut source = SequenceSource::new(&seq, config.pipeline.imu_lead_ns());
    let t0 = seq.frame_times_ns.first().copied().unwrap_or(0);
    let every_ns = (args.every * 1e9) as i64;
    let mut readings: Vec<SoakReading> = Vec::new();
    let (mut frames, mut tracking) = (0usize, 0usize);
    // The truth's frame from the estimate's, tied at the first tracking pose.
    let mut tie: Option<(u32, Isometry3<f64>)> = None;
    let mut next_ns = every_ns;
    let last_index = seq.frame_count().saturating_sub(1);
    run_sequential(&mut source, &config, |event| {
        let StreamEvent::Frame(record) = event else {
            return;
        };
        frames += 1;
        let e = &record.estimate;
        let truth = seq
            .ground_truth
            .get(record.index)
            .map(|g| g.world_from_body);
        let mut drift_m = None;
        if e.status == TrackingStatus::Tracking {
            tracking += 1;
            if let Some(truth) = truth {
                let (session, truth_from_est) =
                    *tie.get_or_insert((e.session, truth * e.world_from_body.inverse()));
                if session == e.session {
                    let est = truth_from_est * e.world_from_body;
                    drift_m = Some((est.translation.vector - truth.translation.vector).norm());
                }
            }
        }
        let t = record.t_ns - t0;
        if t >= next_ns || record.index == last_index {
            next_ns = t + every_ns;
            let reading = SoakReading {
                t_s: t as f64 * 1e-9,
                rss_bytes: rss_bytes().unwrap_or(0),
                frames,
                tracking,
                drift_m,
            };
            eprintln!(
                "t = {:7.1} s  RSS {:7.1} MB  tracking {}/{}  drift {}",
                reading.t_s,
                reading.rss_bytes as f64 / 1e6,
                tracking,
                frames,
                drift_m.map_or_else(|| "-".to_string(), |d| format!("{:.3} m", d))
            );
            readings.push(reading);
        }
    })?;
    let settled = readings
        .iter()
        .find(|r| r.t_s >= args.settle)
        .map_or(0, |r| r.rss_bytes);
    let max = readings
        .iter()
        .filter(|r| r.t_s >= args.settle)
        .map(|r| r.rss_bytes)
        .max()
        .unwrap_or(0);
    let growth = max as f64 / settled.max(1) as f64 - 1.0;
    let report = SoakReport {
        minutes: args.minutes,
        seed: args.seed,
        readings,
        settled_rss_bytes: settled,
        max_rss_bytes: max,
        growth,
        settle_s: args.settle,
        wall_s: start.elapsed().as_secs_f64(),
    };
    println!(
        "soak: {:.1} min of stream in {:.0} s; resident memory {:.1} MB at {:.0} s, at most {:.1} MB after: {:+.2} % (limit {:.1} %); tracking {}/{} frames",
        args.minutes,
        report.wall_s,
        settled as f64 / 1e6,
        args.settle,
        max as f64 / 1e6,
        100.0 * growth,
        100.0 * args.max_growth,
        tracking,
        frames
    );
    if let Some(out) = &args.out {
        let json = serde_json::to_vec_pretty(&report)?;
        pipeline::error::write_atomically(&out.join("soak.json"), &json)?;
    }
    anyhow::ensure!(
        growth <= args.max_growth,
        "resident memory grew {:.2} % after {:.0} s of stream (limit {:.1} %)",
        100.0 * growth,
        args.settle,
        100.0 * args.max_growth
    );
    Ok(())
}
