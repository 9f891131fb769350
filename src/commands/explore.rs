//! `scout explore --world-seed N --planner mi|frontier --sensor lidar|stereo
//! --pose true|vio --out OUT [--config FILE]`: closed-loop exploration of a
//! seeded synthetic world. With `--sensor lidar` (the default, true pose
//! only; `exploration::sim`) a robot with a planar lidar follows the
//! planner's paths with its true pose, maps every scan into the int8
//! occupancy map and replans, until 95 % of the reachable free space is known
//! or the path budget is spent. With `--sensor stereo` a drone flies with its
//! own stereo camera and IMU, its pose from the VIO (`--pose vio`) or the
//! simulator (`--pose true`), maps stereo depth at its keyframes and plans
//! from that map (`pipeline::flight`, outputs in [`super::flight`]).
//!
//! The lidar run
//! Writes `OUT/coverage.csv` (one row per scan: simulated time, path length,
//! coverage, known cells, plans), `OUT/summary.json` (outcome, path length and
//! time to the target, planning time, the MI planner's work per pose),
//! `OUT/cost.json` (the counted work of the map and the MI kernels) and
//! `OUT/map.png` (the final map layer, 3 pixels per cell, +y up: unknown grey,
//! free white, occupied black, reachable free space never seen pale red, the
//! path blue, goals orange, the start green).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, ValueEnum};
use exploration::sim::{
    ExploreConfig, ExploreRun, Outcome, PlannerKind, explore_observed, write_png,
};
use pipeline::PipelineConfig;
use serde::Serialize;

/// The planner on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlannerArg {
    /// FSMI-scored candidate poses.
    Mi,
    /// Nearest frontier (Yamauchi 1997).
    Frontier,
}

impl From<PlannerArg> for PlannerKind {
    fn from(p: PlannerArg) -> Self {
        match p {
            PlannerArg::Mi => PlannerKind::Mi,
            PlannerArg::Frontier => PlannerKind::Frontier,
        }
    }
}

/// The exploring robot's sensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SensorArg {
    /// A planar 360-degree lidar (true pose only).
    Lidar,
    /// A drone's forward stereo camera and IMU, rendered along its flight.
    Stereo,
}

/// Where the robot's pose comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PoseArg {
    /// The simulator's true pose.
    True,
    /// The VIO's estimate (stereo only).
    Vio,
}

/// Arguments of `scout explore`.
#[derive(Debug, Args)]
pub struct ExploreArgs {
    /// Seed of the synthetic world (three rooms with boxes and pillars).
    #[arg(long, default_value_t = 0)]
    pub world_seed: u64,
    /// Exploration policy.
    #[arg(long, value_enum, default_value_t = PlannerArg::Mi)]
    pub planner: PlannerArg,
    /// Output folder (created).
    #[arg(long)]
    pub out: PathBuf,
    /// The robot's sensor.
    #[arg(long, value_enum, default_value_t = SensorArg::Lidar)]
    pub sensor: SensorArg,
    /// Where the robot's pose comes from.
    #[arg(long, value_enum, default_value_t = PoseArg::True)]
    pub pose: PoseArg,
    /// Configuration (TOML; its `[explore]` section, and for `--sensor
    /// stereo` its `[flight]`, `[map]`, `[frontend]` and `[backend]`; see
    /// `pipeline::config`).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Where a Rerun recording of the run goes.
    #[command(flatten)]
    pub view: super::view::ViewerArgs,
}

/// The figures of `OUT/summary.json`.
#[derive(Debug, Serialize)]
pub struct Summary {
    /// World seed.
    pub world_seed: u64,
    /// Planner name.
    pub planner: &'static str,
    /// How the run ended.
    pub outcome: Outcome,
    /// Coverage target.
    pub coverage_target: f64,
    /// Final coverage.
    pub coverage: f64,
    /// Path length to the coverage target, m (null if not reached).
    pub distance_to_target_m: Option<f64>,
    /// Simulated time to the target, s.
    pub time_to_target_s: Option<f64>,
    /// Whole path, m.
    pub distance_m: f64,
    /// Reachable free cells (the coverage's denominator).
    pub reachable_cells: usize,
    /// Plans made.
    pub plans: usize,
    /// Candidate poses scored by FSMI.
    pub candidates_scored: usize,
    /// CPU time planning, s.
    pub planning_s: f64,
    /// Cells read per scored pose (MI planner).
    pub cell_visits_per_pose: Option<f64>,
    /// Table look-ups per scored pose (one 16-byte entry per visited cell).
    pub table_lookups_per_pose: Option<f64>,
    /// Bytes read per scored pose (grid, table and scratch).
    pub bytes_read_per_pose: Option<f64>,
    /// Steps refused because the true world was in the way.
    pub blocked_steps: usize,
}

impl Summary {
    /// The summary of a run.
    #[must_use]
    pub fn of(run: &ExploreRun, cfg: &ExploreConfig) -> Self {
        let mi = run
            .cost
            .get("fsmi_beam")
            .filter(|_| run.candidates_scored > 0);
        let per_pose = |v: u64| v as f64 / run.candidates_scored as f64;
        Self {
            world_seed: run.seed,
            planner: run.planner.name(),
            outcome: run.outcome,
            coverage_target: cfg.coverage_target,
            coverage: run.coverage(),
            distance_to_target_m: run.distance_to_target_m,
            time_to_target_s: run.distance_to_target_m.map(|d| d / cfg.speed_m_s),
            distance_m: run.distance_m(),
            reachable_cells: run.reachable.iter().filter(|&&r| r).count(),
            plans: run.plans,
            candidates_scored: run.candidates_scored,
            planning_s: run.planning_s,
            // The kernel reads one grid byte per visited cell (buffer).
            cell_visits_per_pose: mi.map(|k| per_pose(k.buffer.read)),
            table_lookups_per_pose: mi.map(|k| per_pose(k.buffer.read)),
            bytes_read_per_pose: mi.map(|k| per_pose(k.buffer.read + k.local.read)),
            blocked_steps: run.blocked_steps,
        }
    }
}

/// The run's counted work as a `cost.json` report, per plan: the map's
/// insertion of the lidar scans (`map`, not timed apart: the simulation's
/// time is not the robot's) and the planner (`explore`: FSMI and the rest of
/// planning, with its CPU time).
fn cost_report(run: &ExploreRun) -> cost::CostReport {
    let source = format!(
        "scout explore --world-seed {} --planner {}",
        run.seed,
        run.planner.name()
    );
    let mut report = cost::CostReport::new(&source, run.plans as u64);
    let (mut map, mut plan) = (cost::CostLedger::new(), cost::CostLedger::new());
    for (name, k) in run.cost.kernels() {
        if name.starts_with("map_") {
            map.record(name, *k);
        } else {
            plan.record(name, *k);
        }
    }
    report.stages.push(cost::StageReport::from_ledger(
        "map",
        run.samples.len() as u64,
        "scan",
        0.0,
        &map,
    ));
    report.stages.push(cost::StageReport::from_ledger(
        "explore",
        run.plans as u64,
        "plan",
        run.planning_s,
        &plan,
    ));
    report
}

fn write_file(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    pipeline::error::write_atomically(path, bytes)
        .with_context(|| format!("writing {}", path.display()))
}

/// The files an exploration run writes.
const EXPLORE_FILES: [&str; 4] = ["coverage.csv", "summary.json", "cost.json", "map.png"];

/// Writes a run's outputs into `out`, as one thing
/// ([`super::write_as_one`]).
///
/// # Errors
/// If a file cannot be written.
pub fn write_outputs(run: &ExploreRun, cfg: &ExploreConfig, out: &Path) -> anyhow::Result<()> {
    super::prepare_output_folder(out)?;
    super::write_as_one(out, &|name| EXPLORE_FILES.contains(&name), || {
        write_files(run, cfg, out)
    })
}

fn write_files(run: &ExploreRun, cfg: &ExploreConfig, out: &Path) -> anyhow::Result<()> {
    let mut csv = Vec::new();
    writeln!(csv, "time_s,distance_m,coverage,known_cells,plans")?;
    for s in &run.samples {
        writeln!(
            csv,
            "{:.3},{:.4},{:.6},{},{}",
            s.time_s, s.distance_m, s.coverage, s.known_cells, s.plans
        )?;
    }
    write_file(&out.join("coverage.csv"), &csv)?;
    let summary = serde_json::to_vec_pretty(&Summary::of(run, cfg))?;
    write_file(&out.join("summary.json"), &summary)?;
    cost_report(run).write(&out.join("cost.json"))?;
    write_png(run, 3, &out.join("map.png"))?;
    Ok(())
}

/// The `[explore]` section of `path` (checked, errors naming the file), or
/// the defaults.
///
/// # Errors
/// If the file cannot be read or parsed, or a value is out of range.
pub fn load_config(path: Option<&Path>) -> anyhow::Result<ExploreConfig> {
    let Some(path) = path else {
        return Ok(ExploreConfig::default());
    };
    let cfg = PipelineConfig::from_file(path)?.explore;
    cfg.validate()
        .with_context(|| format!("{}: [explore]", path.display()))?;
    Ok(cfg)
}

/// Explores world `seed` with `planner`, showing every scan and plan to
/// `viewer`.
///
/// # Errors
/// If the run fails or the recording cannot take it.
pub fn explore_viewed(
    cfg: &ExploreConfig,
    seed: u64,
    planner: PlannerKind,
    mut viewer: Option<&mut super::view::Viewer>,
) -> anyhow::Result<ExploreRun> {
    let mut view_error = None;
    let run = explore_observed(cfg, seed, planner, |event| {
        if let Some(v) = viewer.as_deref_mut()
            && view_error.is_none()
            && let Err(e) = v.explore_event(planner.name(), &event)
        {
            view_error = Some(e);
        }
    })
    .with_context(|| format!("exploring world {seed}"))?;
    match view_error {
        Some(e) => Err(e.context("recording the exploration")),
        None => Ok(run),
    }
}

/// Runs `scout explore`.
///
/// # Errors
/// If the configuration cannot be read or is invalid, or an output cannot be
/// written.
pub fn run(args: &ExploreArgs) -> anyhow::Result<()> {
    let planner = PlannerKind::from(args.planner);
    if args.sensor == SensorArg::Stereo {
        let config = match &args.config {
            Some(path) => PipelineConfig::from_file(path)?,
            None => PipelineConfig::default(),
        };
        let pose = match args.pose {
            PoseArg::True => pipeline::flight::PoseSource::True,
            PoseArg::Vio => pipeline::flight::PoseSource::Vio,
        };
        let mut viewer = args.view.open(true, true, &[planner.name()])?;
        let summary = super::flight::run_flight(
            &config,
            args.world_seed,
            planner,
            pose,
            &args.out,
            viewer.as_mut(),
        )?;
        if let Some(v) = viewer {
            v.finish()?;
            if let Some(path) = &args.view.rrd {
                println!("wrote {} (rerun {})", path.display(), path.display());
            }
        }
        super::flight::print_summary(&summary);
        println!("wrote {}", args.out.display());
        return Ok(());
    }
    anyhow::ensure!(
        args.pose == PoseArg::True,
        "the lidar explorer flies with the true pose; --pose vio needs --sensor stereo (a drone with its own camera and IMU)"
    );
    let cfg = load_config(args.config.as_deref())?;
    super::prepare_output_folder(&args.out)?;
    let mut viewer = args.view.open(false, false, &[planner.name()])?;
    let run = explore_viewed(&cfg, args.world_seed, planner, viewer.as_mut())?;
    write_outputs(&run, &cfg, &args.out)?;
    if let Some(v) = viewer {
        v.finish()?;
        if let Some(path) = &args.view.rrd {
            println!("wrote {} (rerun {})", path.display(), path.display());
        }
    }
    let to_target = run
        .distance_to_target_m
        .map_or_else(|| "not reached".to_string(), |d| format!("{d:.1} m"));
    println!(
        "world {} with {}: {:?}, coverage {:.1} % (target {:.0} %: {to_target}), path {:.1} m, {} plans, {:.2} s planning",
        args.world_seed,
        planner.name(),
        run.outcome,
        run.coverage() * 100.0,
        cfg.coverage_target * 100.0,
        run.distance_m(),
        run.plans,
        run.planning_s
    );
    println!("wrote {}", args.out.display());
    Ok(())
}
