//! Temporary: the table path alone, for a before/after timing.
use std::time::Instant;

use criterion::{Criterion, criterion_group, criterion_main};
use exploration::mi::{BeamFan, EarlyExit, Fsmi};
use exploration::workload::{SplitMix, random_grid};
use mapping::{OccupancyParams, QuantizedModel};

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let model = QuantizedModel::new(&OccupancyParams::default())?;
    let fan = BeamFan::default();
    let grid = random_grid(&mut SplitMix(0x5eed), model, 201, fan.cells + 1, 0.05)?;
    let mut out = Vec::new();
    for exit in [EarlyExit::Off, EarlyExit::On] {
        let mut fsmi = Fsmi::new(&model, &fan, 0.05, exit)?;
        let mut best = f64::INFINITY;
        let mut visits = 0;
        for _ in 0..7 {
            let t = Instant::now();
            fsmi.score_all(&grid, &mut out)?;
            best = best.min(t.elapsed().as_secs_f64());
            visits = fsmi.take_work().cell_visits;
            std::hint::black_box(&out);
        }
        println!(
            "{exit:?}: {best:.4} s, {visits} visits, {:.1} M/s",
            visits as f64 / best / 1e6
        );
    }
    Ok(())
}

fn bench(_c: &mut Criterion) {
    if let Err(e) = run() {
        println!("{e}");
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
