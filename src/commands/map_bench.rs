//! `scout map-bench`: the occupancy map alone on range scans from a plain
//! binary file, so that other mapping libraries (OctoMap, ...) can be timed on
//! the same input; and the simulated depth scans to fill such a file.
//!
//! - `scout map-bench --scans FILE [--res 0.05] [--max-range 5]
//!   [--free-space exact|discretized] [--repeat 3] [--json]`: reads FILE
//!   (`mapping::scans`: little-endian `u32 n_scans`, then per scan
//!   `f32 origin[3]`, `u32 n_points`, `f32 points[n_points][3]`; world frame,
//!   metres), inserts every scan in order into a fresh int8 map and into a
//!   fresh f32 map (the same code with f32 cells: a same-run baseline on a
//!   shared machine), and prints, for each map, the best of `--repeat` runs.
//!   Rays longer than `--max-range` metres are cut there and mark free space
//!   only.
//! - `scout map-bench --simulate FILE [--seed 1] [--duration 30] [--period 0.5]
//!   [--width 320] [--height 240] [--noise]`: writes the simulated depth-camera
//!   scans of a synthetic flight to FILE (`mapping::scans::simulate_depth_scans`;
//!   the defaults are the `map_insert` bench's scans: 60 of 320 x 240,
//!   noise-free).
//!
//! The figures: *cell updates* are counted once per cell per scan, a cell both
//! crossed and hit by the scan counting once, as OctoMap's `computeUpdate`
//! deduplicates them; *cells traversed* counts every cell every ray walks
//! through, duplicates included; *seconds* is the insertion alone (not reading
//! the file), the best of the runs; *allocated cells* are the bricks' cells
//! (512 per brick, observed or not); *bytes per cell* is the map's heap
//! (cells and hash-table slots) over its allocated cells.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::{ArgGroup, Args, ValueEnum};
use mapping::map::CellModel;
use mapping::scans::{self, Scan, SimulatedScans};
use mapping::{FixedMap, FloatMap, FreeSpace, OccupancyMap, OccupancyParams, ScanInserter};
use serde::Serialize;

/// Arguments of `scout map-bench`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("input").required(true).args(["scans", "simulate"])))]
pub struct MapBenchArgs {
    /// Scans to insert (the plain binary format of `mapping::scans`).
    #[arg(long, value_name = "FILE")]
    pub scans: Option<PathBuf>,
    /// Write simulated depth-camera scans to FILE instead of benchmarking.
    #[arg(long, value_name = "FILE")]
    pub simulate: Option<PathBuf>,
    /// Cell side, metres.
    #[arg(long, default_value_t = 0.05, conflicts_with = "simulate")]
    pub res: f64,
    /// Longest ray, metres: longer ones are cut and mark free space only.
    #[arg(long, default_value_t = 5.0, conflicts_with = "simulate")]
    pub max_range: f64,
    /// Free-space marking: every cell of every ray (exact, OctoMap's
    /// computeUpdate) or one ray per end cell (discretized).
    #[arg(long, value_enum, default_value_t = FreeSpaceArg::Exact, conflicts_with = "simulate")]
    pub free_space: FreeSpaceArg,
    /// Runs per map; the fastest is reported.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..),
          conflicts_with = "simulate")]
    pub repeat: u32,
    /// Print the figures as JSON instead of a table.
    #[arg(long, conflicts_with = "simulate")]
    pub json: bool,
    /// Machine for the modeled energy of the counted work (rpi4, rpi5, accel
    /// or a TOML file; see `scout cost`).
    #[arg(long, default_value = "rpi4")]
    pub hw: String,
    /// Simulation: seed of the world, the flight and the depth noise.
    #[arg(long, default_value_t = 1, conflicts_with = "scans")]
    pub seed: u64,
    /// Simulation: length of the flight, seconds.
    #[arg(long, default_value_t = 30.0, conflicts_with = "scans")]
    pub duration: f64,
    /// Simulation: time between scans, seconds.
    #[arg(long, default_value_t = 0.5, conflicts_with = "scans")]
    pub period: f64,
    /// Simulation: depth image width, pixels.
    #[arg(long, default_value_t = 320, conflicts_with = "scans")]
    pub width: usize,
    /// Simulation: depth image height, pixels.
    #[arg(long, default_value_t = 240, conflicts_with = "scans")]
    pub height: usize,
    /// Simulation: the depth camera's noise and dropouts (default: exact depths).
    #[arg(long, conflicts_with = "scans")]
    pub noise: bool,
}

/// `--free-space` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FreeSpaceArg {
    /// Every cell of every ray.
    Exact,
    /// One ray per distinct end cell.
    Discretized,
}

impl From<FreeSpaceArg> for FreeSpace {
    fn from(a: FreeSpaceArg) -> Self {
        match a {
            FreeSpaceArg::Exact => Self::Exact,
            FreeSpaceArg::Discretized => Self::Discretized,
        }
    }
}

/// Runs `scout map-bench`.
pub fn run(args: &MapBenchArgs) -> anyhow::Result<()> {
    match (&args.simulate, &args.scans) {
        (Some(out), _) => simulate(args, out),
        (None, Some(path)) => bench(args, path),
        (None, None) => anyhow::bail!("map-bench needs --scans FILE or --simulate FILE"),
    }
}

fn simulate(args: &MapBenchArgs, out: &Path) -> anyhow::Result<()> {
    let cfg = SimulatedScans {
        seed: args.seed,
        duration_s: args.duration,
        period_s: args.period,
        width: args.width,
        height: args.height,
        noise: args.noise,
    };
    let scans = scans::simulate_depth_scans(&cfg)?;
    let bytes = scans::write_scans(out, &scans)?;
    let points: usize = scans.iter().map(|s| s.points.len()).sum();
    println!(
        "wrote {} scans, {points} points, {bytes} bytes to {}",
        scans.len(),
        out.display()
    );
    println!(
        "  {} x {} depth camera, {}, seed {}, {} s flight, one scan every {} s",
        cfg.width,
        cfg.height,
        if cfg.noise {
            "default depth noise"
        } else {
            "noise-free"
        },
        cfg.seed,
        cfg.duration_s,
        cfg.period_s
    );
    Ok(())
}

/// One map's figures, best of the runs.
#[derive(Debug, Clone, Copy, Serialize)]
struct MapFigures {
    cell_updates: usize,
    free_updates: usize,
    occupied_updates: usize,
    cells_traversed: usize,
    seconds: f64,
    updates_per_second: f64,
    traversed_per_second: f64,
    allocated_cells: usize,
    memory_bytes: usize,
    bytes_per_cell: f64,
    bricks: usize,
    /// Counted bytes to and from main memory over all scans.
    main_bytes: u64,
    /// Counted bytes in on-chip buffers over all scans.
    buffer_bytes: u64,
    /// Counted operations over all scans.
    ops: u64,
    /// Modeled energy on `--hw` over all scans, mJ.
    energy_mj: f64,
    /// Of which moving data.
    movement_share: f64,
}

/// The whole report (the `--json` output).
#[derive(Debug, Serialize)]
struct Report {
    file: PathBuf,
    scans: usize,
    points: usize,
    resolution_m: f64,
    max_range_m: f64,
    free_space: FreeSpace,
    repeat: u32,
    rays_truncated: usize,
    rays_refused: usize,
    /// The machine of the modeled energy.
    hw: String,
    int8: MapFigures,
    f32: MapFigures,
    /// int8 updates per second over f32 updates per second.
    int8_over_f32_throughput: f64,
}

/// Totals of one run over every scan.
#[derive(Debug, Default, Clone, Copy)]
struct Totals {
    free_updates: usize,
    occupied_updates: usize,
    cells_traversed: usize,
    truncated: usize,
    refused: usize,
    /// Counted work of every kernel over all scans.
    cost: cost::KernelCost,
}

/// Inserts every scan into `map`; returns the totals and the time taken.
fn insert_all<M: CellModel>(
    map: &mut OccupancyMap<M>,
    scans: &[Scan],
    mode: FreeSpace,
    max_range: f64,
) -> (Totals, Duration) {
    let mut ins = ScanInserter::with_mode(mode);
    let mut t = Totals::default();
    let start = Instant::now();
    for s in scans {
        let stats = ins.insert(map, &s.origin, &s.points, max_range);
        t.free_updates += stats.free_updates;
        t.occupied_updates += stats.occupied_updates;
        t.cells_traversed += stats.cells_traversed;
        t.truncated += stats.truncated;
        t.refused += stats.refused;
        t.cost += ins.cost().total();
    }
    (t, start.elapsed())
}

fn figures<M: CellModel>(
    map: &OccupancyMap<M>,
    t: &Totals,
    best: Duration,
    hw: &cost::Hardware,
) -> MapFigures {
    let seconds = best.as_secs_f64();
    let modeled = cost::estimate(&t.cost, hw);
    let per_second = |n: usize| n as f64 / seconds.max(1e-12);
    let updates = t.free_updates + t.occupied_updates;
    MapFigures {
        cell_updates: updates,
        free_updates: t.free_updates,
        occupied_updates: t.occupied_updates,
        cells_traversed: t.cells_traversed,
        seconds,
        updates_per_second: per_second(updates),
        traversed_per_second: per_second(t.cells_traversed),
        allocated_cells: map.allocated_cells(),
        memory_bytes: map.memory_bytes(),
        bytes_per_cell: map.memory_bytes() as f64 / map.allocated_cells().max(1) as f64,
        bricks: map.brick_count(),
        main_bytes: t.cost.main.total(),
        buffer_bytes: t.cost.buffer.total(),
        ops: t.cost.ops.total(),
        energy_mj: modeled.total_pj() * 1e-9,
        movement_share: modeled.movement_share(),
    }
}

fn bench(args: &MapBenchArgs, path: &Path) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.max_range.is_finite() && args.max_range > 0.0,
        "--max-range must be a positive number of metres, got {}",
        args.max_range
    );
    mapping::check_ray_cells(args.max_range, args.res)
        .map_err(|e| anyhow::anyhow!("--max-range and --res: {e}"))?;
    let scans = scans::read_scans(path)?;
    anyhow::ensure!(
        !scans.is_empty(),
        "{}: the file holds no scans, nothing to insert",
        path.display()
    );
    let params = OccupancyParams::default();
    let mode = FreeSpace::from(args.free_space);
    let (mut best_fixed, mut best_float) = (Duration::MAX, Duration::MAX);
    let (mut last_fixed, mut last_float) = (None, None);
    // The maps alternate, so that both see the machine in the same state.
    for _ in 0..args.repeat {
        let mut fixed = FixedMap::fixed(args.res, &params)?;
        let (totals, d) = insert_all(&mut fixed, &scans, mode, args.max_range);
        best_fixed = best_fixed.min(d);
        last_fixed = Some((fixed, totals));
        let mut float = FloatMap::float(args.res, &params)?;
        let (totals, d) = insert_all(&mut float, &scans, mode, args.max_range);
        best_float = best_float.min(d);
        last_float = Some((float, totals));
    }
    let (Some((fixed, fixed_totals)), Some((float, float_totals))) = (last_fixed, last_float)
    else {
        anyhow::bail!("--repeat must be at least 1");
    };
    let hw = cost::Hardware::named_or_file(&args.hw)?;
    let int8 = figures(&fixed, &fixed_totals, best_fixed, &hw);
    let f32 = figures(&float, &float_totals, best_float, &hw);
    let report = Report {
        file: path.to_path_buf(),
        scans: scans.len(),
        points: scans.iter().map(|s| s.points.len()).sum(),
        resolution_m: args.res,
        max_range_m: args.max_range,
        free_space: mode,
        repeat: args.repeat,
        rays_truncated: fixed_totals.truncated,
        rays_refused: fixed_totals.refused,
        hw: hw.name.clone(),
        int8,
        f32,
        int8_over_f32_throughput: int8.updates_per_second / f32.updates_per_second.max(1e-12),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report);
    }
    Ok(())
}

fn print_report(r: &Report) {
    let mode = match r.free_space {
        FreeSpace::Exact => "exact",
        FreeSpace::Discretized => "discretized",
    };
    println!("map-bench {}", r.file.display());
    println!("  {:<24}{:>16}", "scans", r.scans);
    println!("  {:<24}{:>16}", "points", r.points);
    println!("  {:<24}{:>16}", "rays cut at max range", r.rays_truncated);
    println!("  {:<24}{:>16}", "rays refused", r.rays_refused);
    println!(
        "  {:<24}{:>16}",
        "resolution",
        format!("{} m", r.resolution_m)
    );
    println!(
        "  {:<24}{:>16}",
        "max range",
        format!("{} m", r.max_range_m)
    );
    println!("  {:<24}{:>16}", "free space", mode);
    println!("  {:<24}{:>16}", "runs (best shown)", r.repeat);
    println!("  {:<24}{:>16}{:>16}", "", "int8 map", "f32 map");
    let row = |label: &str, a: String, b: String| println!("  {label:<24}{a:>16}{b:>16}");
    let (a, b) = (&r.int8, &r.f32);
    row(
        "cell updates",
        a.cell_updates.to_string(),
        b.cell_updates.to_string(),
    );
    row(
        "cells traversed",
        a.cells_traversed.to_string(),
        b.cells_traversed.to_string(),
    );
    row(
        "seconds",
        format!("{:.4}", a.seconds),
        format!("{:.4}", b.seconds),
    );
    let millions = |v: f64| format!("{:.2} M", v * 1e-6);
    row(
        "updates per second",
        millions(a.updates_per_second),
        millions(b.updates_per_second),
    );
    row(
        "traversed per second",
        millions(a.traversed_per_second),
        millions(b.traversed_per_second),
    );
    row(
        "allocated cells",
        a.allocated_cells.to_string(),
        b.allocated_cells.to_string(),
    );
    row(
        "bytes per cell",
        format!("{:.4}", a.bytes_per_cell),
        format!("{:.4}", b.bytes_per_cell),
    );
    row("bricks", a.bricks.to_string(), b.bricks.to_string());
    let mb = |v: u64| format!("{:.1} MB", v as f64 * 1e-6);
    row("counted main memory", mb(a.main_bytes), mb(b.main_bytes));
    row("counted buffer", mb(a.buffer_bytes), mb(b.buffer_bytes));
    row(
        "counted operations",
        millions(a.ops as f64),
        millions(b.ops as f64),
    );
    row(
        &format!("energy on {}", r.hw),
        format!("{:.2} mJ", a.energy_mj),
        format!("{:.2} mJ", b.energy_mj),
    );
    row(
        "moving data",
        format!("{:.1} %", 100.0 * a.movement_share),
        format!("{:.1} %", 100.0 * b.movement_share),
    );
    println!(
        "  {:<24}{:>16.3}",
        "int8 / f32 throughput", r.int8_over_f32_throughput
    );
}
