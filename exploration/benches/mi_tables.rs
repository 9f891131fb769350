//! What FSMI's per-cell tables save: every cell of the same planning grid
//! scored with the terms read from the 256-entry table
//! (`TermSource::Table`, the evaluator's design) and computed at every visit
//! (`TermSource::Direct`: an `exp`, two `expm1`, two `ln_1p`), walking every
//! beam to its end and again with the planner's early exit. For each: the best
//! time of three, cell visits, visits per second, the counted operations and
//! bytes by residence (`Fsmi::cost`), the modelled energy on the shipped
//! hardware descriptions, the ratio direct / table, and the largest relative
//! difference between the two score arrays.
//!
//! `cargo bench -p exploration --bench mi_tables` (`-- report-only` for the
//! report alone). Grid: 201 x 201 cells of 0.05 m with a 101-cell border,
//! `exploration::workload::random_grid` from `SplitMix(0x5eed)` (a planner's
//! mix: 35 % unknown, 50 % free, 15 % occupied) under OctoMap's model; the
//! default fan (60 beams x 100 cells, Gaussian noise of 9 taps). The machine
//! is shared: compare the two modes within a run.

use std::hint::black_box;
use std::time::Instant;

use cost::{Hardware, KernelCost, estimate};
use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};
use exploration::grid::Grid2;
use exploration::mi::{BeamFan, EarlyExit, Fsmi, TermSource};
use exploration::workload::{SplitMix, random_grid};
use mapping::{OccupancyParams, QuantizedModel};

const SIDE: usize = 201;
const RES: f64 = 0.05;
const SEED: u64 = 0x5eed;
const REPEAT: usize = 3;
/// The largest relative difference of a pose's score the two modes may show.
const AGREE: f64 = 1e-5;

type BenchResult<T> = Result<T, Box<dyn std::error::Error>>;

/// The planning grid, model and fan both modes score.
struct Setup {
    model: QuantizedModel,
    fan: BeamFan,
    grid: Grid2,
}

fn setup() -> BenchResult<Setup> {
    let model = QuantizedModel::new(&OccupancyParams::default())?;
    let fan = BeamFan::default();
    let grid = random_grid(&mut SplitMix(SEED), model, SIDE, fan.cells + 1, RES)?;
    Ok(Setup { model, fan, grid })
}

/// One mode's whole-map scoring: the best time, the work and its cost (of
/// one scoring), and the scores.
struct Scored {
    seconds: f64,
    visits: u64,
    cost: KernelCost,
    scores: Vec<f32>,
}

fn score(s: &Setup, exit: EarlyExit, terms: TermSource) -> BenchResult<Scored> {
    let mut fsmi = Fsmi::with_terms(&s.model, &s.fan, RES, exit, terms)?;
    let mut scores = Vec::new();
    let mut best = f64::INFINITY;
    let (mut visits, mut cost) = (0, KernelCost::default());
    for _ in 0..REPEAT {
        let t = Instant::now();
        fsmi.score_all(&s.grid, &mut scores)?;
        best = best.min(t.elapsed().as_secs_f64());
        black_box(&scores);
        cost = fsmi.cost();
        visits = fsmi.take_work().cell_visits;
    }
    Ok(Scored {
        seconds: best,
        visits,
        cost,
        scores,
    })
}

/// A kernel's counts as `(name, value)`, every field of `KernelCost` (so
/// fields the ledger gains show up), nested names joined by dots.
fn fields(k: &KernelCost) -> BenchResult<Vec<(String, u64)>> {
    fn walk(prefix: &str, v: &serde_json::Value, out: &mut Vec<(String, u64)>) {
        match v {
            serde_json::Value::Object(map) => {
                for (name, inner) in map {
                    let name = if prefix.is_empty() {
                        name.clone()
                    } else {
                        format!("{prefix}.{name}")
                    };
                    walk(&name, inner, out);
                }
            }
            other => out.push((prefix.to_string(), other.as_u64().unwrap_or(0))),
        }
    }
    let mut out = Vec::new();
    walk("", &serde_json::to_value(k)?, &mut out);
    Ok(out)
}

fn ratio(direct: f64, table: f64) -> String {
    if table > 0.0 {
        format!("{:.3}", direct / table)
    } else if direct > 0.0 {
        "(table 0)".to_string()
    } else {
        "-".to_string()
    }
}

/// A row of figures, shown to `digits` decimals.
fn row(name: &str, table: f64, direct: f64, digits: usize, unit: &str) {
    println!(
        "    {name:<24} {table:>16.digits$} {direct:>16.digits$} {:>12}  {unit}",
        ratio(direct, table)
    );
}

/// A row of counts.
fn count_row(name: &str, table: u64, direct: u64, unit: &str) {
    println!(
        "    {name:<24} {table:>16} {direct:>16} {:>12}  {unit}",
        ratio(direct as f64, table as f64)
    );
}

/// Both modes at one exit setting; an error if the scores disagree.
fn compare(s: &Setup, exit: EarlyExit, title: &str) -> BenchResult<()> {
    let table = score(s, exit, TermSource::Table)?;
    let direct = score(s, exit, TermSource::Direct)?;
    println!("  {title}:");
    println!(
        "    {:<24} {:>16} {:>16} {:>12}",
        "", "table", "direct", "direct/table"
    );
    row("time", table.seconds, direct.seconds, 4, "s (best of 3)");
    count_row("cell visits", table.visits, direct.visits, "");
    let rate = |r: &Scored| r.visits as f64 / r.seconds * 1e-6;
    row("visits/s", rate(&table), rate(&direct), 2, "M/s");
    let (ct, cd) = (&table.cost, &direct.cost);
    for ((name, a), (_, b)) in fields(ct)?.iter().zip(&fields(cd)?) {
        if *a != 0 || *b != 0 {
            let bytes = !(name.starts_with("ops.") || name == "calls");
            count_row(name, *a, *b, if bytes { "bytes" } else { "" });
        }
    }
    count_row("ops, all kinds", ct.ops.total(), cd.ops.total(), "");
    count_row("bytes, all residences", ct.bytes(), cd.bytes(), "bytes");
    let per = |x: u64, r: &Scored| x as f64 / r.visits.max(1) as f64;
    let (ops_t, ops_d) = (per(ct.ops.total(), &table), per(cd.ops.total(), &direct));
    row("ops per visit", ops_t, ops_d, 2, "");
    let (bytes_t, bytes_d) = (per(ct.bytes(), &table), per(cd.bytes(), &direct));
    row("bytes per visit", bytes_t, bytes_d, 2, "bytes");
    for (name, _) in cost::hardware::BUILTIN {
        match Hardware::named_or_file(name) {
            Ok(hw) => {
                let (et, ed) = (estimate(ct, &hw), estimate(cd, &hw));
                let mj = |pj: f64| pj * 1e-9;
                let (t, d) = (mj(et.compute_pj), mj(ed.compute_pj));
                row(&format!("{name} compute"), t, d, 2, "mJ (cost::estimate)");
                let (t, d) = (mj(et.movement_pj()), mj(ed.movement_pj()));
                row(&format!("{name} data movement"), t, d, 2, "mJ");
                let (t, d) = (mj(et.total_pj()), mj(ed.total_pj()));
                row(&format!("{name} energy"), t, d, 2, "mJ");
            }
            Err(e) => println!("    (no hardware {name}: {e})"),
        }
    }
    let mut worst = (0.0f64, 0usize);
    for (i, (a, d)) in table.scores.iter().zip(&direct.scores).enumerate() {
        let rel = f64::from((a - d).abs()) / f64::from(a.abs()).max(1e-30);
        if rel > worst.0 {
            worst = (rel, i);
        }
    }
    let agree = table.scores.len() == direct.scores.len() && worst.0 <= AGREE;
    let at = |v: &[f32]| v.get(worst.1).copied().unwrap_or(f32::NAN);
    println!(
        "    scores: {} poses, largest relative difference {:.2e} (pose {}: table {} bits, direct {} bits): {}",
        table.scores.len(),
        worst.0,
        worst.1,
        at(&table.scores),
        at(&direct.scores),
        if agree { "agree" } else { "DISAGREE" }
    );
    if agree {
        Ok(())
    } else {
        Err(format!("{title}: the scores differ by more than {AGREE:e} relative").into())
    }
}

fn report(s: &Setup) -> BenchResult<()> {
    println!(
        "\nFSMI tables against the terms computed at every visit: every cell of a {SIDE} x {SIDE} grid \
         (workload::random_grid, seed {SEED:#x}, {RES} m, OctoMap model), {} beams x {} cells, one core",
        s.fan.beams, s.fan.cells
    );
    let full = compare(s, EarlyExit::Off, "full walk (no early exit)");
    let early = compare(s, EarlyExit::On, "early exit");
    full.and(early)
}

fn mi_tables(c: &mut Criterion) {
    let s = match setup() {
        Ok(s) => s,
        Err(e) => {
            println!("could not build the grid: {e}");
            return;
        }
    };
    if let Err(e) = report(&s) {
        println!("report failed: {e}");
    }
    // One pose (60 beams from the grid's centre) per mode, for criterion.
    let centre = s.grid.center(SIDE / 2, SIDE / 2);
    let mut group = c.benchmark_group("mi_tables");
    group.sampling_mode(SamplingMode::Flat).sample_size(10);
    for (exit, exit_name) in [(EarlyExit::Off, "full"), (EarlyExit::On, "early")] {
        for (terms, terms_name) in [(TermSource::Table, "table"), (TermSource::Direct, "direct")] {
            let Ok(mut fsmi) = Fsmi::with_terms(&s.model, &s.fan, RES, exit, terms) else {
                println!("could not build the {terms_name} evaluator");
                continue;
            };
            group.bench_function(format!("pose_{terms_name}_{exit_name}"), |b| {
                b.iter(|| {
                    fsmi.pose(black_box(&s.grid), centre[0], centre[1])
                        .unwrap_or(f32::NAN)
                });
            });
        }
    }
    group.finish();
}

criterion_group!(benches, mi_tables);
criterion_main!(benches);
