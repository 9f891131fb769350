//! `scout cost OUT/cost.json --hw rpi4|rpi5|accel|FILE.toml [--kernels]
//! [--plots DIR] [--json]`: the energy and latency model applied to a run's
//! counted work (`cost.json`, written by `scout replay` and `scout explore`).
//!
//! Prints a table per stage, per sensor frame of the run: operations, bytes at
//! each memory level of the machine, arithmetic intensity, energy split into
//! compute and data movement, the roofline latency bound and what sets it, and
//! the wall time measured where the run was made. Writes two PNG charts beside
//! the report (or into `--plots`): energy per frame by stage and level
//! (`energy_HW.png`), and each stage on the machine's roofline
//! (`roofline_HW.png`).

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use cost::{CostReport, Estimate, Hardware, KernelCost, estimate};
use scout::replay::Quantiles;
use serde::Serialize;

/// Arguments of `scout cost`.
#[derive(Debug, Args)]
pub struct CostArgs {
    /// A run's `cost.json`.
    pub report: PathBuf,
    /// Machine: a built-in description (rpi4, rpi5, accel) or a TOML file of
    /// the same layout (see `cost/hw/rpi4.toml`).
    #[arg(long, default_value = "rpi4")]
    pub hw: String,
    /// Also list every kernel of every stage.
    #[arg(long)]
    pub kernels: bool,
    /// Folder for the PNG charts (default: the report's folder).
    #[arg(long)]
    pub plots: Option<PathBuf>,
    /// Print the estimates as JSON instead of tables (no charts).
    #[arg(long)]
    pub json: bool,
}

/// One stage (or kernel) on one machine, per frame of the run.
#[derive(Debug, Clone, Serialize)]
pub struct StageEstimate {
    /// Stage name, or `stage/kernel`.
    pub name: String,
    /// Times it ran.
    pub runs: u64,
    /// The estimate for the whole run.
    pub run: Estimate,
    /// Energy per frame, uJ.
    pub energy_uj_per_frame: f64,
    /// Share of the energy spent moving data.
    pub movement_share: f64,
    /// Roofline bound per frame, ms.
    pub bound_ms_per_frame: f64,
    /// Wall time per frame where the report was made, ms.
    pub measured_ms_per_frame: Option<f64>,
    /// Energy and bound of single runs (frames, keyframes), when the report
    /// has them.
    pub per_run: Option<RunSpread>,
}

/// How single runs of a stage spread (keyframes cost more than frames).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct RunSpread {
    /// Runs recorded.
    pub runs: usize,
    /// Energy of a run, uJ: median, 90th percentile, largest.
    pub energy_uj: [f64; 3],
    /// Roofline bound of a run, ms: median, 90th percentile, largest.
    pub bound_ms: [f64; 3],
    /// Time of the run with the largest energy, ns.
    pub largest_t_ns: i64,
}

fn quantiles(v: &[f64]) -> [f64; 3] {
    let q = Quantiles::of(v);
    [q.median, q.p90, q.max]
}

fn run_spread(runs: &[cost::RunCost], hw: &Hardware) -> Option<RunSpread> {
    if runs.is_empty() {
        return None;
    }
    let estimates: Vec<(i64, Estimate)> = runs
        .iter()
        .map(|r| (r.t_ns, estimate(&r.cost, hw)))
        .collect();
    let largest_t_ns = estimates
        .iter()
        .max_by(|a, b| a.1.total_pj().total_cmp(&b.1.total_pj()))
        .map_or(0, |(t, _)| *t);
    Some(RunSpread {
        runs: runs.len(),
        energy_uj: quantiles(
            &estimates
                .iter()
                .map(|(_, e)| e.total_pj() * 1e-6)
                .collect::<Vec<f64>>(),
        ),
        bound_ms: quantiles(
            &estimates
                .iter()
                .map(|(_, e)| e.bound_s * 1e3)
                .collect::<Vec<f64>>(),
        ),
        largest_t_ns,
    })
}

/// The whole evaluation (what `--json` prints).
#[derive(Debug, Clone, Serialize)]
pub struct CostEvaluation {
    /// The machine.
    pub hardware: String,
    /// Its memory levels, nearest first.
    pub levels: Vec<String>,
    /// The report's source.
    pub source: String,
    /// Frames of the run.
    pub frames: u64,
    /// Per stage, then all stages together (`total`).
    pub stages: Vec<StageEstimate>,
    /// Per kernel (`stage/kernel`).
    pub kernels: Vec<StageEstimate>,
}

fn stage_estimate(
    name: String,
    runs: u64,
    work: &KernelCost,
    measured_s: Option<f64>,
    frames: f64,
    hw: &Hardware,
) -> StageEstimate {
    let run = estimate(work, hw);
    StageEstimate {
        name,
        runs,
        energy_uj_per_frame: run.total_pj() * 1e-6 / frames,
        movement_share: run.movement_share(),
        bound_ms_per_frame: run.bound_s * 1e3 / frames,
        measured_ms_per_frame: measured_s.map(|s| s * 1e3 / frames),
        run,
        per_run: None,
    }
}

/// Applies `hw` to every stage and kernel of `report`.
#[must_use]
pub fn evaluate(report: &CostReport, hw: &Hardware) -> CostEvaluation {
    let frames = report.frames.max(1) as f64;
    let mut stages = Vec::new();
    let mut kernels = Vec::new();
    let mut all = KernelCost::default();
    let mut all_s = 0.0;
    for s in &report.stages {
        let total = s.total();
        all += total;
        all_s += s.measured_s;
        let mut e = stage_estimate(
            s.stage.clone(),
            s.runs,
            &total,
            Some(s.measured_s),
            frames,
            hw,
        );
        e.per_run = run_spread(&s.per_run, hw);
        stages.push(e);
        for k in &s.kernels {
            kernels.push(stage_estimate(
                format!("{}/{}", s.stage, k.kernel),
                k.cost.calls,
                &k.cost,
                None,
                frames,
                hw,
            ));
        }
    }
    stages.push(stage_estimate(
        "total".into(),
        report.frames,
        &all,
        Some(all_s),
        frames,
        hw,
    ));
    CostEvaluation {
        hardware: hw.name.clone(),
        levels: hw.levels.iter().map(|l| l.name.clone()).collect(),
        source: report.source.clone(),
        frames: report.frames,
        stages,
        kernels,
    }
}

/// Runs `scout cost`.
pub fn run(args: &CostArgs) -> anyhow::Result<()> {
    let report = CostReport::read(&args.report)?;
    let hw = Hardware::named_or_file(&args.hw)?;
    let eval = evaluate(&report, &hw);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&eval)?);
        return Ok(());
    }
    print_table(&eval, &hw, &report, args.kernels);
    let dir = match &args.plots {
        Some(d) => d.clone(),
        None => args
            .report
            .parent()
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf),
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let (energy, roofline) = write_charts(&eval, &hw, &dir)?;
    println!("wrote {} and {}", energy.display(), roofline.display());
    Ok(())
}

/// The demo's short cost summary: energy per frame by stage on a Pi 4 and on
/// the accelerator, with the Pi 4's charts written into `plots`; returns the
/// two evaluations.
pub(crate) fn print_summary(
    report_path: &Path,
    plots: &Path,
) -> anyhow::Result<Vec<CostEvaluation>> {
    let report = CostReport::read(report_path)?;
    let mut evaluations = Vec::new();
    for name in ["rpi4", "accel"] {
        let hw = Hardware::named_or_file(name)?;
        let eval = evaluate(&report, &hw);
        let parts: Vec<String> = eval
            .stages
            .iter()
            .map(|s| {
                format!(
                    "{} {:.0} uJ ({:.0} % moving data)",
                    s.name,
                    s.energy_uj_per_frame,
                    100.0 * s.movement_share
                )
            })
            .collect();
        println!("  energy/frame on {name:<5} {}", parts.join(", "));
        if name == "rpi4" {
            write_charts(&eval, &hw, plots)?;
        }
        evaluations.push(eval);
    }
    Ok(evaluations)
}

fn print_table(eval: &CostEvaluation, hw: &Hardware, report: &CostReport, kernels: bool) {
    let frames = eval.frames.max(1) as f64;
    println!("{} on {}: {}", eval.source, hw.name, hw.description);
    println!(
        "per frame ({} frames); energy in uJ, bytes in kB, bound and measured time in ms (measured on {})",
        eval.frames, report.measured_on
    );
    let mut header = format!("{:<26} {:>9} {:>9}", "stage", "runs", "Mops");
    for l in &hw.levels {
        header += &format!(" {:>9}", format!("{} kB", l.name));
    }
    header += &format!(
        " {:>8} {:>9} {:>9} {:>6} {:>8} {:>8} {:>9}",
        "ops/B", "compute", "movement", "move%", "bound", "by", "measured"
    );
    println!("{header}");
    let row = |s: &StageEstimate| {
        let mut line = format!(
            "{:<26} {:>9} {:>9.3}",
            s.name,
            s.runs,
            s.run.ops as f64 * 1e-6 / frames
        );
        for b in &s.run.level_bytes {
            line += &format!(" {:>9.1}", *b as f64 * 1e-3 / frames);
        }
        let intensity = s
            .run
            .intensity
            .map_or_else(|| "-".to_string(), |i| format!("{i:.1}"));
        let measured = s
            .measured_ms_per_frame
            .map_or_else(|| "-".to_string(), |m| format!("{m:.3}"));
        line += &format!(
            " {:>8} {:>9.2} {:>9.2} {:>5.1}% {:>8.3} {:>8} {:>9}",
            intensity,
            s.run.compute_pj * 1e-6 / frames,
            s.run.movement_pj() * 1e-6 / frames,
            100.0 * s.movement_share,
            s.bound_ms_per_frame,
            s.run.bound.to_string(),
            measured
        );
        println!("{line}");
    };
    for s in &eval.stages {
        row(s);
    }
    let spreads: Vec<(&str, RunSpread)> = eval
        .stages
        .iter()
        .filter_map(|s| Some((s.name.as_str(), s.per_run?)))
        .collect();
    if !spreads.is_empty() {
        println!();
        println!(
            "{:<26} {:>6} {:>30} {:>28} {:>20}",
            "single runs",
            "runs",
            "energy uJ: median / p90 / max",
            "bound ms: median / p90 / max",
            "largest at t_ns"
        );
        for (name, p) in spreads {
            println!(
                "{:<26} {:>6} {:>30} {:>28} {:>20}",
                name,
                p.runs,
                format!(
                    "{:.1} / {:.1} / {:.1}",
                    p.energy_uj[0], p.energy_uj[1], p.energy_uj[2]
                ),
                format!(
                    "{:.3} / {:.3} / {:.3}",
                    p.bound_ms[0], p.bound_ms[1], p.bound_ms[2]
                ),
                p.largest_t_ns
            );
        }
    }
    if kernels {
        println!();
        for k in &eval.kernels {
            row(k);
        }
    }
}

/// Writes `energy_HW.png` and `roofline_HW.png` into `dir`.
fn write_charts(
    eval: &CostEvaluation,
    hw: &Hardware,
    dir: &Path,
) -> anyhow::Result<(PathBuf, PathBuf)> {
    let frames = eval.frames.max(1) as f64;
    let stages: Vec<&StageEstimate> = eval.stages.iter().filter(|s| s.name != "total").collect();
    let mut energy =
        viz::plot::StackedBars::new(format!("energy per frame on {}", hw.name), "uJ per frame");
    energy.categories = stages.iter().map(|s| s.name.clone()).collect();
    energy.series.push(viz::plot::BarSeries::new(
        "compute",
        stages
            .iter()
            .map(|s| s.run.compute_pj * 1e-6 / frames)
            .collect(),
    ));
    for (i, l) in hw.levels.iter().enumerate() {
        energy.series.push(viz::plot::BarSeries::new(
            l.name.clone(),
            stages
                .iter()
                .map(|s| s.run.level_pj[i] * 1e-6 / frames)
                .collect(),
        ));
    }
    let energy_path = dir.join(format!("energy_{}.png", hw.name));
    viz::plot::stacked_bars_png(&energy, &energy_path)?;

    // The flat roof: the peak rate for the mix of operations of all stages.
    let peak = eval
        .stages
        .iter()
        .find(|s| s.name == "total")
        .and_then(|t| (t.run.compute_s > 0.0).then(|| t.run.ops as f64 / t.run.compute_s))
        .unwrap_or_else(|| hw.peak_f32_ops_per_s());
    let mut roofline = viz::plot::Roofline::new(
        format!(
            "stages on the roofline of {} (x: ops per DRAM byte)",
            hw.name
        ),
        peak,
    );
    roofline.roofs = hw
        .levels
        .iter()
        .map(|l| {
            (
                format!("{} {:.1} GB/s", l.name, l.bandwidth_bytes_per_s * 1e-9),
                l.bandwidth_bytes_per_s,
            )
        })
        .collect();
    roofline.points_legend = "stages at their modeled bound".into();
    roofline.points = stages
        .iter()
        .filter_map(|s| {
            Some(viz::plot::RooflinePoint::new(
                s.name.clone(),
                s.run.intensity?,
                s.run.attainable_ops_per_s()?,
            ))
        })
        .collect();
    let roofline_path = dir.join(format!("roofline_{}.png", hw.name));
    viz::plot::roofline_png(&roofline, &roofline_path)?;
    Ok((energy_path, roofline_path))
}
