//! `scout fault-bench [--seq DIR | --seed 5 --duration 60] [--at 30]
//! [--out DIR]`: how the pipeline detects and rides out sensor faults, on a
//! synthetic flight with ground truth.
//!
//! The sequence (`--seq`, or a medium synthetic flight written to
//! `OUT/seq`) is replayed once clean and once per fault of the suite, each
//! injected at `--at` seconds ([`pipeline::faults`]): camera dropouts, black,
//! white and noisy frames and a stereo desync of 1 s, IMU gaps of 1 s and
//! 5 s, and IMU time stamps 20 ms late throughout. Each run is deterministic (the map off: it does not feed the
//! odometry). For each: whether the run says it was degraded (its
//! `degraded` lines, as `metrics.json` has them), the frames carried by one
//! sensor alone, losses, re-initializations, and the ATE (SE(3)-aligned
//! RMSE of the first session) against the clean run's: the targets are 2x
//! for the 1 s faults and 3x for the 5 s IMU gap, with no
//! re-initialization; the time offset must be found (and is then taken off
//! the stamps), with no ATE target.
//! Prints a table; writes `OUT/fault-bench.json` and `OUT/fault-bench.md`.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use datasets::euroc::EurocDataset;
use datasets::synth::{Difficulty, SynthConfig};
use pipeline::faults::{FaultKind, Faulted, InjectedFault};
use pipeline::{EurocSource, PipelineConfig, run_sequential};
use scout::replay::{PipelineMetrics, pipeline_metrics, tracking_trajectory};
use scout::synthetic::write_synthetic_sequence;
use serde::Serialize;

/// Arguments of `scout fault-bench`.
#[derive(Debug, Args)]
pub struct FaultBenchArgs {
    /// An EuRoC/ASL sequence with ground truth; without it a medium
    /// synthetic flight is written to `OUT/seq`.
    #[arg(long)]
    pub seq: Option<PathBuf>,
    /// Seed of the synthetic flight.
    #[arg(long, default_value_t = 5)]
    pub seed: u64,
    /// Length of the synthetic flight, s.
    #[arg(long, default_value_t = 60.0)]
    pub duration: f64,
    /// When each fault starts, s after the first pair.
    #[arg(long, default_value_t = 30.0)]
    pub at: f64,
    /// Output folder (created).
    #[arg(long)]
    pub out: PathBuf,
    /// Run only the faults whose description contains this text (and the
    /// clean run), e.g. `IMU`.
    #[arg(long)]
    pub only: Option<String>,
}

/// One run of the bench.
#[derive(Debug, Clone, Serialize)]
pub struct FaultRun {
    /// The fault injected (`None`: the clean run).
    pub fault: Option<InjectedFault>,
    /// Its description.
    pub name: String,
    /// The ATE target against the clean run (x); `None` for the clean run
    /// and a fault with no ATE target (the time offset: found and taken
    /// off, the flight before is flown with it).
    pub target_ratio: Option<f64>,
    /// ATE RMSE of the first session after SE(3) alignment, m.
    pub ate_rmse_m: Option<f64>,
    /// `ate_rmse_m` over the clean run's.
    pub ratio: Option<f64>,
    /// Whether the run met its target (ratio within it, no
    /// re-initialization, the fault reported).
    pub pass: bool,
    /// The run's `degraded` lines.
    pub degraded: Vec<String>,
    /// Frames tracked, and of those carried by vision or the IMU alone.
    pub frames_tracking: usize,
    /// See `frames_tracking`.
    pub frames_visual_only: usize,
    /// See `frames_tracking`.
    pub frames_inertial_only: usize,
    /// Frames lost.
    pub lost_frames: usize,
    /// Re-initializations in new world frames.
    pub reinitializations: usize,
}

/// The suite: each fault of the list at `at` s.
#[must_use]
pub fn suite(at: f64) -> Vec<(InjectedFault, Option<f64>)> {
    let one = |kind: FaultKind, duration_s: f64, target: Option<f64>| {
        (
            InjectedFault {
                kind,
                from_s: at,
                duration_s,
            },
            target,
        )
    };
    vec![
        one(FaultKind::CameraDropout, 1.0, Some(2.0)),
        one(FaultKind::BlackFrames, 1.0, Some(2.0)),
        one(FaultKind::WhiteFrames, 1.0, Some(2.0)),
        one(FaultKind::NoisyFrames { sigma: 40.0 }, 1.0, Some(2.0)),
        one(FaultKind::StereoDesync, 1.0, Some(2.0)),
        one(FaultKind::ImuGap, 1.0, Some(2.0)),
        one(FaultKind::ImuGap, 5.0, Some(3.0)),
        (
            InjectedFault {
                kind: FaultKind::ImuTimeOffset { offset_s: 0.02 },
                from_s: 0.0,
                duration_s: pipeline::faults::THROUGHOUT_S,
            },
            None,
        ),
    ]
}

/// Runs `scout fault-bench`.
pub fn run(args: &FaultBenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.at.is_finite() && args.at >= 0.0,
        "--at must be a time >= 0 s, got {}",
        args.at
    );
    super::prepare_output_folder(&args.out)?;
    let seq = match &args.seq {
        Some(dir) => dir.clone(),
        None => {
            let dir = args.out.join("seq");
            let cfg = SynthConfig {
                seed: args.seed,
                duration_s: args.duration,
                difficulty: Difficulty::Medium,
                ..SynthConfig::default()
            };
            eprintln!(
                "writing a {:.0} s medium flight (seed {}) to {}",
                args.duration,
                args.seed,
                dir.display()
            );
            write_synthetic_sequence(&cfg, &dir, super::default_threads(), |_, _| {})?;
            dir
        }
    };
    let ds = EurocDataset::open(&seq).with_context(|| format!("opening {}", seq.display()))?;
    ds.check_usable()
        .with_context(|| format!("{} cannot be replayed", seq.display()))?;
    let mut config = PipelineConfig::default();
    config.map.enabled = false;
    let mut runs: Vec<FaultRun> = Vec::new();
    let clean = replay(&ds, &config, None)?;
    let clean_ate = ate_of(&clean);
    runs.push(summarize(None, None, &clean, clean_ate));
    print_row(runs.last());
    let wanted = |f: &InjectedFault| {
        args.only
            .as_ref()
            .is_none_or(|text| f.describe().contains(text.as_str()))
    };
    for (fault, target) in suite(args.at).into_iter().filter(|(f, _)| wanted(f)) {
        let metrics = replay(&ds, &config, Some(fault))?;
        runs.push(summarize(Some(fault), target, &metrics, clean_ate));
        print_row(runs.last());
    }
    let table = markdown(&runs);
    let json = serde_json::to_vec_pretty(&runs)?;
    pipeline::error::write_atomically(&args.out.join("fault-bench.json"), &json)?;
    pipeline::error::write_atomically(&args.out.join("fault-bench.md"), table.as_bytes())?;
    println!("\n{table}");
    let failed = runs.iter().filter(|r| !r.pass).count();
    println!(
        "{} of {} faults within their targets; written to {}",
        runs.len() - 1 - failed.min(runs.len() - 1),
        runs.len() - 1,
        args.out.display()
    );
    Ok(())
}

fn replay(
    ds: &EurocDataset,
    config: &PipelineConfig,
    fault: Option<InjectedFault>,
) -> anyhow::Result<PipelineMetrics> {
    let source = EurocSource::new(ds, config.pipeline.imu_lead_ns());
    let plan: Vec<InjectedFault> = fault.into_iter().collect();
    let mut source = Faulted::new(source, plan, 1)?;
    let run = run_sequential(&mut source, config, |_| {})?;
    let estimate = tracking_trajectory(&run)?;
    Ok(pipeline_metrics(
        &scout::replay::RunSubject::of_dataset(ds)?,
        config,
        &run,
        &estimate,
    )?)
}

fn ate_of(m: &PipelineMetrics) -> Option<f64> {
    m.sessions
        .first()
        .and_then(|s| s.ate.as_ref())
        .and_then(|a| a.se3.as_ref())
        .map(|s| s.rmse_m)
}

fn summarize(
    fault: Option<InjectedFault>,
    target: Option<f64>,
    m: &PipelineMetrics,
    clean_ate: Option<f64>,
) -> FaultRun {
    let ate = ate_of(m);
    let ratio = ate.zip(clean_ate).map(|(a, c)| a / c.max(1e-9));
    let pass = match (fault, target) {
        (Some(_), Some(target)) => {
            ratio.is_some_and(|r| r <= target) && m.reinitializations == 0 && !m.degraded.is_empty()
        }
        (Some(_), None) => m.reinitializations == 0 && !m.degraded.is_empty(),
        // The clean run: tracked, nothing reported.
        _ => ate.is_some() && m.degraded.is_empty(),
    };
    FaultRun {
        fault,
        name: fault.map_or_else(|| "clean".to_string(), |f| f.describe()),
        target_ratio: target,
        ate_rmse_m: ate,
        ratio,
        pass,
        degraded: m.degraded.clone(),
        frames_tracking: m.frames_tracking,
        frames_visual_only: m.frames_visual_only,
        frames_inertial_only: m.frames_inertial_only,
        lost_frames: m.lost_frames,
        reinitializations: m.reinitializations,
    }
}

/// A figure, or `-` without one.
fn or_dash(value: Option<f64>, show: impl Fn(f64) -> String) -> String {
    value.map_or_else(|| "-".to_string(), show)
}

fn print_row(run: Option<&FaultRun>) {
    let Some(r) = run else { return };
    eprintln!(
        "{:<32} ATE {:>8} ({}) tracked {} visual-only {} inertial-only {} lost {} reinit {}{}",
        r.name,
        or_dash(r.ate_rmse_m, |a| format!("{:.1} mm", a * 1e3)),
        or_dash(r.ratio, |x| format!("{x:.2}x")),
        r.frames_tracking,
        r.frames_visual_only,
        r.frames_inertial_only,
        r.lost_frames,
        r.reinitializations,
        if r.pass { "" } else { "  MISSED" }
    );
}

fn markdown(runs: &[FaultRun]) -> String {
    let mut t = String::from(
        "| Fault | ATE mm | vs clean | Target | Visual-only | Inertial-only | Lost | Re-init | Reported | Met |\n\
         |---|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in runs {
        t.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            r.name,
            or_dash(r.ate_rmse_m, |a| format!("{:.1}", a * 1e3)),
            or_dash(r.ratio, |x| format!("{x:.2}x")),
            or_dash(r.target_ratio, |x| format!("{x:.0}x")),
            r.frames_visual_only,
            r.frames_inertial_only,
            r.lost_frames,
            r.reinitializations,
            if r.degraded.is_empty() { "no" } else { "yes" },
            if r.pass { "yes" } else { "no" }
        ));
    }
    t
}
