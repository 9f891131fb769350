//! `scout explore --sensor stereo --pose true|vio`: the closed loop with the
//! drone's own stereo camera, IMU, VIO and map (`pipeline::flight`), and
//! what it writes.
//!
//! Writes `OUT/summary.json` ([`FlightSummary`]), `OUT/coverage.csv`
//! (simulated time, path, coverage, plans at every plan),
//! `OUT/trajectory.tum` (the estimated poses, the VIO's world),
//! `OUT/groundtruth.tum` (the true poses, the simulator's world), the map
//! (`map.bin`, `map.png`, `map.ply`, `map.json`, in the estimate's world),
//! `OUT/explored.png` (the planner's last map layer: what is left unseen,
//! the frontiers left, the path and the goals) and `OUT/cost.json` (the
//! counted work of the five stages: source, front end, back end, map,
//! planner).

use std::io::Write;
use std::path::Path;

use anyhow::Context;
use exploration::sim::PlannerKind;
use pipeline::PipelineConfig;
use pipeline::flight::{
    Contact, FlightOutcome, FlightRun, MapQuality, PoseSource, StageSeconds, fly,
};
use scout::eval::{Trajectory, write_tum};
use scout::replay::{AteMetrics, ate_metrics};
use serde::Serialize;

/// The figures of a flight's `OUT/summary.json`.
#[derive(Debug, Serialize)]
pub struct FlightSummary {
    /// World seed.
    pub world_seed: u64,
    /// Planner name.
    pub planner: &'static str,
    /// `stereo`.
    pub sensor: &'static str,
    /// Where the pose came from.
    pub pose: PoseSource,
    /// How the flight ended.
    pub outcome: FlightOutcome,
    /// Coverage target.
    pub coverage_target: f64,
    /// Known fraction of the reachable free space in the flying band at the
    /// end.
    pub coverage: f64,
    /// Path flown (true), m.
    pub path_length_m: f64,
    /// Path when the target was reached, m (null if not).
    pub path_to_target_m: Option<f64>,
    /// Simulated time, s.
    pub sim_time_s: f64,
    /// ATE RMSE of the estimated poses after SE(3) alignment, m (`--pose
    /// vio`; null with the true pose).
    pub ate_rmse_m: Option<f64>,
    /// The whole ATE section (both alignments, drift, notes).
    pub ate: Option<AteMetrics>,
    /// Contacts with the true world (runs of frames with the drone's centre
    /// nearer than its radius to a surface).
    pub collisions: usize,
    /// Frames in contact.
    pub contact_frames: usize,
    /// Smallest distance from the drone's centre to a surface, m.
    pub min_clearance_m: f64,
    /// Each contact at its deepest: time, true position, clearance, the
    /// estimate's error, tracking, following a plan.
    pub contacts: Vec<Contact>,
    /// Frames rendered and processed.
    pub frames: usize,
    /// Frames whose estimate was not `Tracking` (the drone hovered).
    pub frames_not_tracking: usize,
    /// VIO re-initializations.
    pub reinitializations: u32,
    /// Keyframes mapped.
    pub keyframes: usize,
    /// Plans made.
    pub plans: usize,
    /// Plans that reached a goal only with the tighter fallback inflation
    /// (the drone's radius and safety margin: a doorway the full inflation
    /// closed).
    pub fallback_plans: usize,
    /// Control points that stepped the drone away from an obstacle the map
    /// had put within its radius and safety margin of where it was sent.
    pub back_offs: usize,
    /// Control points sent but not flown yet that were taken back because
    /// the map had since closed in on them (the drone braked short).
    pub retracted_points: usize,
    /// Whether the planner ran on its own thread (`[flight]
    /// planner_thread`), and the latency its plans were flown after, s.
    pub planner_thread: bool,
    /// (see `planner_thread`)
    pub plan_latency_s: f64,
    /// Wall time the loop waited for plans past their due frame, s.
    pub planner_wait_s: f64,
    /// Bytes the planner's map snapshots copied (brick tables, 20 bytes a
    /// brick), and bricks the mapper then copied on write (512 bytes each).
    pub planner_snapshot_bytes: u64,
    /// (see `planner_snapshot_bytes`)
    pub bricks_copied_on_write: u64,
    /// Wall seconds of each stage per simulated second, each on its thread.
    pub cpu_s_per_sim_s: StageSeconds,
    /// Front end + back end + mapper + planner + control, per simulated
    /// second (the renderer apart).
    pub stages_cpu_s_per_sim_s: f64,
    /// The map against the world.
    pub map_quality: MapQuality,
    /// Reachable free cells of the planning grid.
    pub reachable_cells: usize,
}

impl FlightSummary {
    fn of(run: &FlightRun, config: &PipelineConfig, ate: Option<AteMetrics>) -> Self {
        let per = run.seconds_per_sim_second();
        Self {
            world_seed: run.seed,
            planner: run.planner.name(),
            sensor: "stereo",
            pose: run.pose,
            outcome: run.outcome,
            coverage_target: config.explore.coverage_target,
            coverage: run.coverage(),
            path_length_m: run.path_length_m,
            path_to_target_m: run.path_to_target_m,
            sim_time_s: run.sim_time_s,
            ate_rmse_m: ate.as_ref().and_then(|a| a.se3).map(|f| f.rmse_m),
            ate,
            collisions: run.collisions,
            contact_frames: run.contact_frames,
            min_clearance_m: run.min_clearance_m,
            contacts: run.contacts.clone(),
            frames: run.frames,
            frames_not_tracking: run.frames_not_tracking,
            reinitializations: run.reinitializations,
            keyframes: run.keyframes,
            plans: run.plans,
            fallback_plans: run.fallback_plans,
            back_offs: run.back_offs,
            retracted_points: run.retracted_points,
            planner_thread: config.flight.planner_thread,
            plan_latency_s: config.flight.plan_latency_s,
            planner_wait_s: run.planner_wait_s,
            planner_snapshot_bytes: run.planner_snapshot_bytes,
            bricks_copied_on_write: run.bricks_copied_on_write,
            cpu_s_per_sim_s: per,
            stages_cpu_s_per_sim_s: per.frontend
                + per.backend
                + per.mapper
                + per.planner
                + per.control,
            map_quality: run.map_quality,
            reachable_cells: run.reachable.iter().filter(|&&r| r).count(),
        }
    }
}

fn trajectory(poses: &[(i64, nalgebra::Isometry3<f64>)]) -> anyhow::Result<Trajectory> {
    Ok(Trajectory::new(
        poses.iter().map(|p| p.0).collect(),
        poses.iter().map(|p| p.1).collect(),
    )?)
}

/// The flight's counted work as `cost.json`: source, front end, back end,
/// map and planner, run by run.
fn cost_report(run: &mut FlightRun) -> cost::CostReport {
    let source = format!(
        "scout explore --sensor stereo --pose {} --world-seed {} --planner {}",
        match run.pose {
            PoseSource::True => "true",
            PoseSource::Vio => "vio",
        },
        run.seed,
        run.planner.name()
    );
    let frames = run.frames as u64;
    let mut report = cost::CostReport::new(&source, frames);
    let s = run.seconds;
    let c = &run.cost;
    let map = &run.mapper.summary().cost;
    for (stage, runs, unit, seconds, counts) in [
        ("source", frames, "frame", s.renderer, &c.source),
        ("frontend", frames, "frame", s.frontend, &c.frontend),
        ("backend", frames, "frame", s.backend, &c.backend),
        ("map", run.keyframes as u64, "keyframe", s.mapper, map),
        ("planner", run.plans as u64, "plan", s.planner, &c.planner),
    ] {
        report.stages.push(cost::StageReport::from_counts(
            stage, runs, unit, seconds, counts,
        ));
    }
    report
}

/// The planner's last map layer (`explored.png`): the reachable space left
/// unseen pale red, the frontier cells left cyan, the estimated path blue,
/// the goals orange (`exploration::sim::render_layer_rgb`).
fn write_explored_png(run: &FlightRun, path: &Path) -> anyhow::Result<()> {
    let path_m: Vec<[f64; 2]> = run
        .estimated
        .iter()
        .map(|(_, p)| [p.translation.x, p.translation.y])
        .collect();
    let goals: Vec<(usize, usize)> = run
        .goals
        .iter()
        .filter_map(|g| run.grid.cell_of(g[0], g[1]))
        .collect();
    let picture = exploration::sim::LayerPicture {
        grid: &run.grid,
        reachable: &run.reachable,
        path_m: &path_m,
        goals: &goals,
        frontiers: true,
    };
    exploration::sim::write_layer_png(&picture, 4, path)
        .with_context(|| format!("writing {}", path.display()))
}

/// Flies world `seed` with `planner` and writes the outputs into `out`;
/// returns the summary.
///
/// # Errors
/// If the flight fails or an output cannot be written.
pub fn run_flight(
    config: &PipelineConfig,
    seed: u64,
    planner: PlannerKind,
    pose: PoseSource,
    out: &Path,
    mut viewer: Option<&mut super::view::Viewer>,
) -> anyhow::Result<FlightSummary> {
    super::prepare_output_folder(out)?;
    let mut config = config.clone();
    if let Some(v) = viewer.as_deref() {
        config.pipeline.views = true;
        config.pipeline.view_images_every = v.images_every();
    }
    let t0_ns = datasets::synth::SynthConfig::default().start_time_ns;
    let mut view_error = None;
    let mut run = fly(&config, seed, planner, pose, |event| {
        if let Some(v) = viewer.as_deref_mut()
            && view_error.is_none()
            && let Err(e) = v.flight_event(planner.name(), t0_ns, &event)
        {
            view_error = Some(e);
        }
    })
    .with_context(|| format!("flying world {seed} with {}", planner.name()))?;
    if let Some(e) = view_error {
        return Err(e.context("recording the flight"));
    }
    if let Some(v) = viewer {
        v.finish_flight()?;
    }
    let config = &config;
    super::write_as_one(out, &is_flight_output, || {
        write_flight(&mut run, config, pose, out)
    })
}

/// The files a flight writes (besides the map's).
const FLIGHT_FILES: [&str; 6] = [
    "trajectory.tum",
    "groundtruth.tum",
    "coverage.csv",
    "explored.png",
    "cost.json",
    "summary.json",
];

fn is_flight_output(name: &str) -> bool {
    FLIGHT_FILES.contains(&name) || pipeline::stages::MAP_FILES.contains(&name)
}

/// Writes a flight's files into `out`; returns its summary.
fn write_flight(
    run: &mut pipeline::flight::FlightRun,
    config: &PipelineConfig,
    pose: PoseSource,
    out: &Path,
) -> anyhow::Result<FlightSummary> {
    let est = trajectory(&run.estimated)?;
    let truth = trajectory(&run.truth)?;
    write_tum(out.join("trajectory.tum"), &est)?;
    write_tum(out.join("groundtruth.tum"), &truth)?;
    let ate = (pose == PoseSource::Vio).then(|| ate_metrics(&truth, &est));
    let summary = FlightSummary::of(run, config, ate);
    let mut csv = Vec::new();
    writeln!(csv, "time_s,distance_m,coverage,plans")?;
    for s in &run.samples {
        writeln!(
            csv,
            "{:.3},{:.4},{:.6},{}",
            s.time_s, s.distance_m, s.coverage, s.plans
        )?;
    }
    pipeline::error::write_atomically(&out.join("coverage.csv"), &csv)?;
    run.mapper.write(out).context("writing the map")?;
    write_explored_png(run, &out.join("explored.png"))?;
    if cost::counting() {
        cost_report(run).write(&out.join("cost.json"))?;
    }
    let json = serde_json::to_vec_pretty(&summary)?;
    pipeline::error::write_atomically(&out.join("summary.json"), &json)?;
    Ok(summary)
}

/// Prints a flight's headline.
pub fn print_summary(s: &FlightSummary) {
    let ate = s
        .ate_rmse_m
        .map_or_else(|| "-".to_string(), |a| format!("{:.1} mm", a * 1e3));
    println!(
        "world {} with {} (stereo, pose {:?}): {:?}, coverage {:.1} % (target {:.0} %), path {:.1} m in {:.1} s, ATE {ate}, {} collisions (closest {:.2} m, {} back-off steps, {} points taken back), {} of {} frames not tracking",
        s.world_seed,
        s.planner,
        s.pose,
        s.outcome,
        s.coverage * 100.0,
        s.coverage_target * 100.0,
        s.path_length_m,
        s.sim_time_s,
        s.collisions,
        s.min_clearance_m,
        s.back_offs,
        s.retracted_points,
        s.frames_not_tracking,
        s.frames
    );
    let c = &s.cpu_s_per_sim_s;
    println!(
        "  CPU s per simulated s: front end {:.3}, back end {:.3}, mapper {:.3}, planner {:.3}, control {:.3} (total {:.3}); renderer {:.3}",
        c.frontend, c.backend, c.mapper, c.planner, c.control, s.stages_cpu_s_per_sim_s, c.renderer
    );
    println!(
        "  planner: {} plans ({} with the fallback inflation), {}, flown {:.2} s after they were asked; the loop waited {:.3} s for them; map snapshots {:.1} KB, {} bricks copied on write",
        s.plans,
        s.fallback_plans,
        if s.planner_thread {
            "on its own thread"
        } else {
            "inline"
        },
        s.plan_latency_s,
        s.planner_wait_s,
        s.planner_snapshot_bytes as f64 / 1024.0,
        s.bricks_copied_on_write
    );
    let q = &s.map_quality;
    println!(
        "  map: {:.1} % of {} occupied cells within 10 cm of a surface, {:.2} % of {} truly free cells marked occupied, {:.2} % of {} free cells over 10 cm inside a solid",
        q.occupied_near_surface * 100.0,
        q.occupied_cells,
        q.free_marked_occupied * 100.0,
        q.truly_free_cells,
        q.free_inside_solids * 100.0,
        q.free_cells
    );
}
