//! Scan insertion into the int8 map beside the f32 map (the same code with f32
//! cells), on the same simulated depth scans in the same run: cell updates per
//! second, their ratio, and bytes per allocated cell; then the update kernel
//! alone (applying a scan's marks to the map's bricks), int8 beside f32.
//!
//! `cargo bench -p mapping --bench map_insert` (`-- report-only` for the report
//! alone). Scans: a 320 x 240 depth camera (87 degrees, 6 m, noise-free) looking
//! forward from the body of a synthetic medium flight (seed 1), one scan every
//! half second (`mapping::scans::SimulatedScans::default()`, the scans
//! `scout map-bench --simulate` writes), into a 5 cm map with a 5 m maximum
//! range. The machine is shared: compare the two maps within a run.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};
use mapping::map::{BRICK_CELLS, CellModel};
use mapping::scans::{Scan, SimulatedScans, simulate_depth_scans};
use mapping::{
    BrickKey, FixedMap, FloatMap, FreeSpace, OccupancyMap, OccupancyParams, ScanInserter,
};

const RESOLUTION: f64 = 0.05;
const MAX_RANGE: f64 = 5.0;

/// Inserts every scan; returns (cell updates applied, cells traversed).
fn insert_all<M: CellModel>(
    map: &mut OccupancyMap<M>,
    scans: &[Scan],
    mode: FreeSpace,
) -> (usize, usize) {
    let mut ins = ScanInserter::with_mode(mode);
    scans.iter().fold((0, 0), |(u, t), scan| {
        let s = ins.insert(map, &scan.origin, &scan.points, MAX_RANGE);
        (u + s.updates(), t + s.cells_traversed)
    })
}

fn report(scans: &[Scan]) -> Result<(), Box<dyn std::error::Error>> {
    let params = OccupancyParams::default();
    let points: usize = scans.iter().map(|s| s.points.len()).sum();
    println!(
        "\n{} scans, {points} rays, {RESOLUTION} m cells, {MAX_RANGE} m maximum range",
        scans.len()
    );
    let rate = |n: usize, d: Duration| n as f64 / d.as_secs_f64() * 1e-6;
    let mut fixed_bytes = (0, 0);
    let mut exact_updates = 0;
    for mode in [FreeSpace::Exact, FreeSpace::Discretized] {
        let mut best = [Duration::MAX; 2];
        let mut updates = (0, 0);
        for _ in 0..3 {
            let mut fixed = FixedMap::fixed(RESOLUTION, &params)?;
            let start = Instant::now();
            updates = insert_all(&mut fixed, scans, mode);
            best[0] = best[0].min(start.elapsed());
            fixed_bytes = (fixed.memory_bytes(), fixed.allocated_cells());
            let mut float = FloatMap::float(RESOLUTION, &params)?;
            let start = Instant::now();
            insert_all(&mut float, scans, mode);
            best[1] = best[1].min(start.elapsed());
        }
        if mode == FreeSpace::Exact {
            exact_updates = updates.0;
        }
        println!(
            "  {mode:?}: {:.4} of the exact mode's cell updates",
            updates.0 as f64 / exact_updates.max(1) as f64
        );
        for (name, d) in [("int8 map", best[0]), ("f32 map ", best[1])] {
            println!(
                "    {name}   {:.1} M cell updates/s, {:.1} M cells traversed/s ({} updates, {} traversed, {:.1} ms)",
                rate(updates.0, d),
                rate(updates.1, d),
                updates.0,
                updates.1,
                d.as_secs_f64() * 1e3
            );
        }
        println!(
            "    ratio      int8 / f32 throughput {:.2}",
            best[1].as_secs_f64() / best[0].as_secs_f64()
        );
    }
    println!(
        "  memory     {:.3} bytes per allocated cell ({} cells, {:.1} MB)",
        fixed_bytes.0 as f64 / fixed_bytes.1.max(1) as f64,
        fixed_bytes.1,
        fixed_bytes.0 as f64 * 1e-6
    );
    update_kernel(scans)
}

/// The update kernel alone, where the cell type matters: the marks of every
/// scan, replayed onto the finished map's bricks (int8 beside f32), timing
/// only `apply_marks`. The traversal, identical for both maps, is left out.
fn update_kernel(scans: &[Scan]) -> Result<(), Box<dyn std::error::Error>> {
    let params = OccupancyParams::default();
    let mut fixed = FixedMap::fixed(RESOLUTION, &params)?;
    let mut float = FloatMap::float(RESOLUTION, &params)?;
    insert_all(&mut fixed, scans, FreeSpace::Exact);
    insert_all(&mut float, scans, FreeSpace::Exact);
    // Each brick gets the same density of marks, 11 cells in 64 (a
    // deterministic hash picks them), one in 11 of those a hit. The timed
    // loop includes restoring each brick's 512 marks (a copy).
    let bricks: Vec<BrickKey> = fixed.bricks().map(|(k, _)| k).collect();
    let touched: usize = bricks.len();
    let mut template = vec![[0u8; BRICK_CELLS]; touched];
    let mut updates = 0usize;
    for (b, marks) in template.iter_mut().enumerate() {
        for (i, m) in marks.iter_mut().enumerate() {
            let h = ((b * BRICK_CELLS + i) as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 58;
            *m = match h {
                0..=9 => 1,
                10 => 3,
                _ => 0,
            };
            updates += usize::from(*m != 0);
        }
    }
    let rounds = 20;
    let mut work = template.clone();
    let mut best = [Duration::MAX; 2];
    for _ in 0..3 {
        let start = Instant::now();
        for _ in 0..rounds {
            for ((k, marks), t) in bricks.iter().zip(&mut work).zip(&template) {
                marks.copy_from_slice(t);
                black_box(fixed.apply_marks(*k, marks));
            }
        }
        best[0] = best[0].min(start.elapsed());
        let start = Instant::now();
        for _ in 0..rounds {
            for ((k, marks), t) in bricks.iter().zip(&mut work).zip(&template) {
                marks.copy_from_slice(t);
                black_box(float.apply_marks(*k, marks));
            }
        }
        best[1] = best[1].min(start.elapsed());
    }
    let cells = (rounds * touched * BRICK_CELLS) as f64;
    println!(
        "  update kernel ({touched} bricks x {rounds}, {:.1} % of cells marked)",
        100.0 * updates as f64 / (touched * BRICK_CELLS) as f64
    );
    for (name, d) in [("int8 map", best[0]), ("f32 map ", best[1])] {
        println!(
            "    {name}   {:.0} M cells/s, {:.1} M cell updates/s",
            cells / d.as_secs_f64() * 1e-6,
            (rounds * updates) as f64 / d.as_secs_f64() * 1e-6
        );
    }
    println!(
        "    ratio      int8 / f32 throughput {:.2}",
        best[1].as_secs_f64() / best[0].as_secs_f64()
    );
    Ok(())
}

fn map_insert(c: &mut Criterion) {
    let scans = match simulate_depth_scans(&SimulatedScans::default()) {
        Ok(s) => s,
        Err(e) => {
            println!("could not simulate the scans: {e}");
            return;
        }
    };
    if let Err(e) = report(&scans) {
        println!("report failed: {e}");
    }
    let params = OccupancyParams::default();
    let mut group = c.benchmark_group("map_insert");
    group.sampling_mode(SamplingMode::Flat).sample_size(10);
    group.bench_function("int8", |b| {
        b.iter(|| {
            FixedMap::fixed(RESOLUTION, &params)
                .map(|mut m| insert_all(&mut m, black_box(&scans), FreeSpace::Exact).0)
                .unwrap_or(0)
        });
    });
    group.bench_function("f32", |b| {
        b.iter(|| {
            FloatMap::float(RESOLUTION, &params)
                .map(|mut m| insert_all(&mut m, black_box(&scans), FreeSpace::Exact).0)
                .unwrap_or(0)
        });
    });
    group.finish();
}

criterion_group!(benches, map_insert);
criterion_main!(benches);
