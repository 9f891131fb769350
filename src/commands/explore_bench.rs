//! `scout explore-bench [--beams 200] [--repeat 3] [--worlds 10] [--first-seed 0]
//! [--config FILE] [--json]`: the exploration figures, in one release run on
//! one core (with `--config`, under its `[explore]` section).
//!
//! 1. **FSMI against the naive reference** on `--beams` random 100-cell beams
//!    through seeded planning grids (`exploration::workload`): the largest and
//!    the mean relative difference (FSMI with the planner's early exit), and
//!    the time per beam of each (the naive integral at 16 points per cell;
//!    FSMI walking all 100 cells, repeated until it has run 50 ms), so the
//!    speed-up is a ratio measured in the same run.
//! 2. **Scoring a whole map**: FSMI of the 60-beam, 100-cell fan from the
//!    centre of every cell of a 201 x 201 grid at 0.05 m (the final map of a
//!    frontier run of world 0, cut or padded with unknown to that size), 242
//!    million cell visits
//!    walking every beam to its end (with the default fan and resolution),
//!    and again with the early exit the
//!    planner uses; best of `--repeat`. The FSMI accelerator of Li, Zhang,
//!    Karaman & Sze ("High-throughput computation of Shannon mutual
//!    information on chip", RSS 2019) scores a 201 x 201 map at 11 Hz: the
//!    ratio is our time over its 1/11 s.
//! 3. **Closed loop**: `--worlds` seeded worlds explored by `frontier` and by
//!    `mi` to 95 % coverage: path length to the target for each, and the
//!    ratio mi / frontier per world and over all worlds.

use std::time::Instant;

use clap::Args;
use exploration::grid::Grid2;
use exploration::mi::{BeamFan, EarlyExit, Fsmi, beam_cells};
use exploration::naive;
use exploration::sim::{ExploreConfig, Outcome, PlannerKind, explore};
use exploration::workload::{SplitMix, random_grid};
use serde::Serialize;

/// Arguments of `scout explore-bench`.
#[derive(Debug, Args)]
pub struct ExploreBenchArgs {
    /// Random beams compared with the naive reference.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..))]
    pub beams: u32,
    /// Runs of the whole-map scoring; the fastest is reported.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    pub repeat: u32,
    /// Worlds explored by both planners (0: skip the closed loop).
    #[arg(long, default_value_t = 10)]
    pub worlds: u64,
    /// Seed of the first world.
    #[arg(long, default_value_t = 0)]
    pub first_seed: u64,
    /// Print the figures as JSON instead of tables.
    #[arg(long)]
    pub json: bool,
    /// Configuration (TOML; its `[explore]` section, see `pipeline::config`).
    #[arg(long)]
    pub config: Option<std::path::PathBuf>,
}

/// FSMI against the naive integral.
#[derive(Debug, Serialize)]
pub struct Accuracy {
    /// Beams compared.
    pub beams: usize,
    /// Largest |FSMI - naive| / naive.
    pub max_relative_error: f64,
    /// Mean of the same.
    pub mean_relative_error: f64,
    /// Mean information per beam, bits (naive).
    pub mean_bits: f64,
    /// Naive time per beam, microseconds.
    pub naive_us_per_beam: f64,
    /// FSMI time per beam walking all its cells, microseconds.
    pub fsmi_us_per_beam: f64,
    /// naive / FSMI.
    pub speedup: f64,
}

/// Scoring every cell of a map.
#[derive(Debug, Serialize)]
pub struct MapScoring {
    /// Grid side, cells.
    pub side: usize,
    /// Beams per pose.
    pub beams: usize,
    /// Cells per beam.
    pub cells_per_beam: usize,
    /// Walking every beam to its end: seconds, cell visits, visits per second.
    pub full_s: f64,
    /// Cell visits of the full walk.
    pub full_visits: u64,
    /// Million visits per second, full walk.
    pub full_mvisits_per_s: f64,
    /// Our full-walk time over the accelerator's 1/11 s.
    pub full_over_asic: f64,
    /// With the early exit: seconds.
    pub early_s: f64,
    /// Cell visits with the early exit.
    pub early_visits: u64,
    /// Our early-exit time over the accelerator's 1/11 s.
    pub early_over_asic: f64,
}

/// One world, both planners.
#[derive(Debug, Serialize)]
pub struct WorldRow {
    /// World seed.
    pub seed: u64,
    /// Frontier: outcome and path length to the target, m.
    pub frontier_outcome: Outcome,
    /// Frontier path length to 95 %, m.
    pub frontier_m: Option<f64>,
    /// MI: outcome.
    pub mi_outcome: Outcome,
    /// MI path length to 95 %, m.
    pub mi_m: Option<f64>,
    /// mi / frontier.
    pub ratio: Option<f64>,
    /// MI planning CPU time, s.
    pub mi_planning_s: f64,
    /// MI plans.
    pub mi_plans: usize,
}

/// All figures.
#[derive(Debug, Serialize)]
pub struct ExploreBench {
    /// FSMI against the naive reference.
    pub accuracy: Accuracy,
    /// Whole-map scoring.
    pub map: MapScoring,
    /// Closed loop per world.
    pub worlds: Vec<WorldRow>,
    /// Mean of the per-world ratios (worlds both planners finished).
    pub mean_ratio: Option<f64>,
    /// Total MI path over total frontier path (same worlds).
    pub total_ratio: Option<f64>,
    /// Worlds frontier finished and MI did not.
    pub mi_failures: usize,
}

/// The FSMI accelerator's rate on a 201 x 201 map (Li et al., RSS 2019).
const ASIC_HZ: f64 = 11.0;

fn accuracy(beams: usize, cfg: &ExploreConfig) -> anyhow::Result<Accuracy> {
    let model = mapping::QuantizedModel::new(&cfg.occupancy.into())?;
    let fan = BeamFan {
        beams: 1,
        ..cfg.mi.fan
    };
    let res = cfg.resolution_m;
    let mut fsmi = Fsmi::new(&model, &fan, res, EarlyExit::On)?;
    let mut full = Fsmi::new(&model, &fan, res, EarlyExit::Off)?;
    let mut rng = SplitMix(0x5eed);
    let mut cases = Vec::with_capacity(beams);
    for _ in 0..beams {
        let grid = random_grid(&mut rng, model, 120, fan.cells + 1, res)?;
        let (x, y) = (rng.unit() * 120.0 * res, rng.unit() * 120.0 * res);
        let angle = rng.unit() * std::f64::consts::TAU;
        cases.push((grid, x, y, angle));
    }
    let t = Instant::now();
    let mut slow = Vec::with_capacity(beams);
    for (grid, x, y, angle) in &cases {
        let cells = beam_cells(grid, *x, *y, *angle, fan.cells)?;
        slow.push(naive::beam_mi(&cells, &model, &fan.noise, res, 16));
    }
    let naive_s = t.elapsed().as_secs_f64();
    let mut fast = Vec::with_capacity(beams);
    for (grid, x, y, angle) in &cases {
        fast.push(f64::from(fsmi.beam(grid, *x, *y, *angle)?));
    }
    let (mut rounds, t) = (0u64, Instant::now());
    let mut sink = 0.0f32;
    while t.elapsed().as_secs_f64() < 0.05 || rounds == 0 {
        for (grid, x, y, angle) in &cases {
            sink += full.beam(grid, *x, *y, *angle)?;
        }
        rounds += 1;
    }
    let fsmi_s = t.elapsed().as_secs_f64() / rounds as f64;
    std::hint::black_box(sink);
    let rel: Vec<f64> = slow
        .iter()
        .zip(&fast)
        .map(|(s, f)| (f - s).abs() / s.max(1e-12))
        .collect();
    let n = beams as f64;
    Ok(Accuracy {
        beams,
        max_relative_error: rel.iter().copied().fold(0.0, f64::max),
        mean_relative_error: rel.iter().sum::<f64>() / n,
        mean_bits: slow.iter().sum::<f64>() / n,
        naive_us_per_beam: naive_s / n * 1e6,
        fsmi_us_per_beam: fsmi_s / n * 1e6,
        speedup: naive_s / fsmi_s,
    })
}

fn map_scoring(repeat: u32, cfg: &ExploreConfig) -> anyhow::Result<MapScoring> {
    const SIDE: usize = 201;
    let run = explore(cfg, 0, PlannerKind::Frontier)?;
    let fan = cfg.mi.fan;
    let model = *run.grid.model();
    let mut grid = Grid2::new([0, 0], SIDE, SIDE, fan.cells + 1, cfg.resolution_m, model)?;
    for row in 0..SIDE.min(run.grid.height()) {
        for col in 0..SIDE.min(run.grid.width()) {
            grid.set(col, row, run.grid.get(col, row));
        }
    }
    let mut out = Vec::new();
    let mut time = |exit: EarlyExit| -> anyhow::Result<(f64, u64)> {
        let mut fsmi = Fsmi::new(&model, &fan, cfg.resolution_m, exit)?;
        let mut best = f64::INFINITY;
        let mut visits = 0;
        for _ in 0..repeat {
            let t = Instant::now();
            fsmi.score_all(&grid, &mut out)?;
            best = best.min(t.elapsed().as_secs_f64());
            visits = fsmi.take_work().cell_visits;
            std::hint::black_box(&out);
        }
        Ok((best, visits))
    };
    let (full_s, full_visits) = time(EarlyExit::Off)?;
    let (early_s, early_visits) = time(EarlyExit::On)?;
    Ok(MapScoring {
        side: SIDE,
        beams: fan.beams,
        cells_per_beam: fan.cells,
        full_s,
        full_visits,
        full_mvisits_per_s: full_visits as f64 / full_s / 1e6,
        full_over_asic: full_s * ASIC_HZ,
        early_s,
        early_visits,
        early_over_asic: early_s * ASIC_HZ,
    })
}

fn worlds(first: u64, count: u64, cfg: &ExploreConfig) -> anyhow::Result<Vec<WorldRow>> {
    let mut rows = Vec::new();
    let last = first
        .checked_add(count)
        .ok_or_else(|| anyhow::anyhow!("--first-seed {first} plus --worlds {count} overflows"))?;
    for seed in first..last {
        let f = explore(cfg, seed, PlannerKind::Frontier)?;
        let m = explore(cfg, seed, PlannerKind::Mi)?;
        let ratio = match (m.distance_to_target_m, f.distance_to_target_m) {
            (Some(a), Some(b)) if b > 0.0 => Some(a / b),
            _ => None,
        };
        rows.push(WorldRow {
            seed,
            frontier_outcome: f.outcome,
            frontier_m: f.distance_to_target_m,
            mi_outcome: m.outcome,
            mi_m: m.distance_to_target_m,
            ratio,
            mi_planning_s: m.planning_s,
            mi_plans: m.plans,
        });
    }
    Ok(rows)
}

fn metres(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_string(), |d| format!("{d:.1}"))
}

/// Runs `scout explore-bench`.
///
/// # Errors
/// If a world cannot be generated or the configuration is invalid.
pub fn run(args: &ExploreBenchArgs) -> anyhow::Result<()> {
    let cfg = super::explore::load_config(args.config.as_deref())?;
    let accuracy = accuracy(args.beams as usize, &cfg)?;
    let map = map_scoring(args.repeat, &cfg)?;
    let rows = worlds(args.first_seed, args.worlds, &cfg)?;
    let finished: Vec<&WorldRow> = rows.iter().filter(|r| r.ratio.is_some()).collect();
    let mean_ratio = (!finished.is_empty())
        .then(|| finished.iter().filter_map(|r| r.ratio).sum::<f64>() / finished.len() as f64);
    let total_ratio = (!finished.is_empty()).then(|| {
        finished.iter().filter_map(|r| r.mi_m).sum::<f64>()
            / finished.iter().filter_map(|r| r.frontier_m).sum::<f64>()
    });
    let mi_failures = rows
        .iter()
        .filter(|r| r.frontier_m.is_some() && r.mi_m.is_none())
        .count();
    let bench = ExploreBench {
        accuracy,
        map,
        worlds: rows,
        mean_ratio,
        total_ratio,
        mi_failures,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&bench)?);
        return Ok(());
    }
    let a = &bench.accuracy;
    println!(
        "FSMI against the naive integral, {} random 100-cell beams:",
        a.beams
    );
    println!(
        "  relative difference: max {:.4} %, mean {:.4} % (mean {:.3} bits per beam)",
        a.max_relative_error * 100.0,
        a.mean_relative_error * 100.0,
        a.mean_bits
    );
    println!(
        "  time per beam: naive {:.1} us, FSMI (all {} cells) {:.3} us: FSMI {:.0}x faster",
        a.naive_us_per_beam, bench.map.cells_per_beam, a.fsmi_us_per_beam, a.speedup
    );
    let m = &bench.map;
    println!(
        "Scoring every cell of a {s} x {s} map, {} beams x {} cells (one core):",
        m.beams,
        m.cells_per_beam,
        s = m.side
    );
    println!(
        "  full walk:  {:.3} s, {:.1} M visits, {:.1} M visits/s; {:.1}x the FSMI accelerator's 1/11 s",
        m.full_s,
        m.full_visits as f64 / 1e6,
        m.full_mvisits_per_s,
        m.full_over_asic
    );
    println!(
        "  early exit: {:.3} s, {:.1} M visits; {:.1}x the accelerator's time",
        m.early_s,
        m.early_visits as f64 / 1e6,
        m.early_over_asic
    );
    if !bench.worlds.is_empty() {
        println!("Closed loop, path length to 95 % coverage (m):");
        println!("  world  frontier        mi   mi/frontier");
        for r in &bench.worlds {
            println!(
                "  {:>5}  {:>8}  {:>8}   {}",
                r.seed,
                metres(r.frontier_m),
                metres(r.mi_m),
                r.ratio
                    .map_or_else(|| "-".to_string(), |v| format!("{v:.3}"))
            );
        }
        println!(
            "  mean ratio {}, total ratio {}, worlds frontier finished and mi did not: {}",
            bench
                .mean_ratio
                .map_or_else(|| "-".to_string(), |v| format!("{v:.3}")),
            bench
                .total_ratio
                .map_or_else(|| "-".to_string(), |v| format!("{v:.3}")),
            bench.mi_failures
        );
    }
    Ok(())
}
