//! `scout flight-bench [--worlds 10] [--first-seed 0] [--pose vio|true]
//! [--max-time 240] [--threads 2] [--config FILE] --out DIR`: the closed loop
//! with the drone's own camera, IMU, VIO and map over seeded worlds, both
//! planners, in one release run. Each flight's outputs go to
//! `DIR/world-N-PLANNER/` (see [`super::flight`]); `DIR/flights.json` holds
//! every flight's summary and `DIR/flights.md` the table of
//! `docs/architecture.md`: coverage, path to the target, ATE, contacts, CPU
//! per simulated second, map quality, and mi / frontier path per world.
//! Flights are independent and deterministic; `--threads` flies several at
//! once (their CPU figures are then each flight's own stages' wall time on a
//! shared machine).

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Mutex;

use anyhow::Context;
use clap::Args;
use exploration::sim::PlannerKind;
use pipeline::PipelineConfig;
use pipeline::flight::{FlightOutcome, PoseSource};

use super::explore::PoseArg;
use super::flight::{FlightSummary, run_flight};

/// Arguments of `scout flight-bench`.
#[derive(Debug, Args)]
pub struct FlightBenchArgs {
    /// Worlds flown by both planners.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub worlds: u64,
    /// Seed of the first world.
    #[arg(long, default_value_t = 0)]
    pub first_seed: u64,
    /// Where the drone's pose comes from.
    #[arg(long, value_enum, default_value_t = PoseArg::Vio)]
    pub pose: PoseArg,
    /// Longest flight, simulated s (overrides `[flight] max_time_s`).
    #[arg(long)]
    pub max_time: Option<f64>,
    /// Flights flown at once.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub threads: u32,
    /// Configuration (TOML: `[explore]`, `[flight]`, `[map]`, `[frontend]`,
    /// `[backend]`; see `pipeline::config`).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Output folder (created).
    #[arg(long)]
    pub out: PathBuf,
}

/// Runs `scout flight-bench`.
///
/// # Errors
/// If the configuration is invalid, a flight fails or an output cannot be
/// written.
pub fn run(args: &FlightBenchArgs) -> anyhow::Result<()> {
    let mut config = match &args.config {
        Some(path) => PipelineConfig::from_file(path)?,
        None => PipelineConfig::default(),
    };
    if let Some(t) = args.max_time {
        config.flight.max_time_s = t;
    }
    config.flight.validate()?;
    let pose = match args.pose {
        PoseArg::True => PoseSource::True,
        PoseArg::Vio => PoseSource::Vio,
    };
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let jobs: Vec<(u64, PlannerKind)> = (args.first_seed..args.first_seed + args.worlds)
        .flat_map(|seed| [(seed, PlannerKind::Frontier), (seed, PlannerKind::Mi)])
        .collect();
    let next = Mutex::new(0usize);
    let results: Mutex<Vec<(u64, PlannerKind, anyhow::Result<FlightSummary>)>> =
        Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..args.threads {
            scope.spawn(|| {
                loop {
                    let job = {
                        let Ok(mut n) = next.lock() else { return };
                        let job = jobs.get(*n).copied();
                        *n += 1;
                        job
                    };
                    let Some((seed, planner)) = job else { return };
                    let out = args.out.join(format!("world-{seed}-{}", planner.name()));
                    let result = run_flight(&config, seed, planner, pose, &out, None);
                    if let Ok(s) = &result {
                        super::flight::print_summary(s);
                    }
                    if let Ok(mut r) = results.lock() {
                        r.push((seed, planner, result));
                    }
                }
            });
        }
    });
    let mut results = results
        .into_inner()
        .map_err(|_| anyhow::anyhow!("a flight thread panicked"))?;
    results.sort_by_key(|(seed, planner, _)| (*seed, planner.name()));
    let mut summaries = Vec::new();
    for (seed, planner, r) in results {
        summaries.push(r.with_context(|| format!("world {seed}, {}", planner.name()))?);
    }
    let json = serde_json::to_vec_pretty(&summaries)?;
    pipeline::error::write_atomically(&args.out.join("flights.json"), &json)?;
    let table = table(&summaries, &config);
    pipeline::error::write_atomically(&args.out.join("flights.md"), table.as_bytes())?;
    println!("{table}");
    println!("wrote {}/flights.json and flights.md", args.out.display());
    Ok(())
}

/// The markdown table: one row per flight, then mi / frontier per world.
fn table(summaries: &[FlightSummary], config: &PipelineConfig) -> String {
    let target = config.explore.coverage_target * 100.0;
    let mut t = String::new();
    let _ = writeln!(
        t,
        "| world | planner | outcome | coverage | path to {target:.0} % (m) | path (m) | time (s) | ATE (mm) | contacts | closest (m) | stages CPU s / s | renderer s / s | occupied near surface | free marked occupied | free inside solids |"
    );
    let _ = writeln!(
        t,
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    );
    for s in summaries {
        let opt = |v: Option<f64>, scale: f64| {
            v.map_or_else(|| "-".into(), |v| format!("{:.1}", v * scale))
        };
        let _ = writeln!(
            t,
            "| {} | {} | {:?} | {:.1} % | {} | {:.1} | {:.1} | {} | {} | {:.2} | {:.3} | {:.3} | {:.1} % | {:.2} % | {:.2} % |",
            s.world_seed,
            s.planner,
            s.outcome,
            s.coverage * 100.0,
            opt(s.path_to_target_m, 1.0),
            s.path_length_m,
            s.sim_time_s,
            opt(s.ate_rmse_m, 1e3),
            s.collisions,
            s.min_clearance_m,
            s.stages_cpu_s_per_sim_s,
            s.cpu_s_per_sim_s.renderer,
            s.map_quality.occupied_near_surface * 100.0,
            s.map_quality.free_marked_occupied * 100.0,
            s.map_quality.free_inside_solids * 100.0
        );
    }
    let _ = writeln!(t);
    let _ = writeln!(
        t,
        "| world | frontier path to target (m) | mi path to target (m) | mi / frontier |"
    );
    let _ = writeln!(t, "|---|---|---|---|");
    let (mut sum_f, mut sum_m, mut ratios, mut mi_failed) = (0.0, 0.0, Vec::new(), 0);
    let seeds: Vec<u64> = {
        let mut v: Vec<u64> = summaries.iter().map(|s| s.world_seed).collect();
        v.dedup();
        v
    };
    for seed in seeds {
        let find = |p: &str| {
            summaries
                .iter()
                .find(|s| s.world_seed == seed && s.planner == p)
                .and_then(|s| {
                    (s.outcome == FlightOutcome::Covered)
                        .then_some(s.path_to_target_m)
                        .flatten()
                })
        };
        let (f, m) = (find("frontier"), find("mi"));
        let ratio = f.zip(m).map(|(f, m)| m / f);
        if let (Some(f), Some(m)) = (f, m) {
            sum_f += f;
            sum_m += m;
        }
        if f.is_some() && m.is_none() {
            mi_failed += 1;
        }
        ratios.extend(ratio);
        let show = |v: Option<f64>| v.map_or_else(|| "not reached".into(), |v| format!("{v:.1}"));
        let _ = writeln!(
            t,
            "| {seed} | {} | {} | {} |",
            show(f),
            show(m),
            ratio.map_or_else(|| "-".into(), |r| format!("{r:.3}"))
        );
    }
    let mean = if ratios.is_empty() {
        f64::NAN
    } else {
        ratios.iter().sum::<f64>() / ratios.len() as f64
    };
    let _ = writeln!(
        t,
        "\nmean mi / frontier over {} worlds both covered: {mean:.3} (totals {sum_m:.1} / {sum_f:.1} m); worlds frontier covered and mi did not: {mi_failed}",
        ratios.len()
    );
    t
}
