//! FSMI with the per-cell terms computed at every visit (`TermSource::Direct`)
//! against the table: the same terms up to f32 rounding for every int8 value,
//! the same information on random beams and whole maps, and cost counts that
//! differ only by the table reads and the formula's operations.

use cost::OpCounts;
use exploration::mi::{
    BeamFan, CellFormula, CellTable, EarlyExit, Fsmi, RangeNoise, TermSource, probability,
};
use exploration::workload::{self, SplitMix};
use mapping::logodds::UNKNOWN_I8;
use mapping::{OccupancyParams, QuantizedModel};

const RES: f64 = 0.05;

fn model(params: &OccupancyParams) -> QuantizedModel {
    QuantizedModel::new(params).unwrap_or_else(|e| panic!("{e}"))
}

/// OctoMap's defaults, the explorer's clamps, and a strong sensor with them.
fn models() -> [QuantizedModel; 3] {
    let wide = OccupancyParams {
        clamp_min: 0.001,
        clamp_max: 0.999,
        ..OccupancyParams::default()
    };
    let strong = OccupancyParams {
        hit: 0.95,
        miss: 0.1,
        ..wide
    };
    [
        model(&OccupancyParams::default()),
        model(&wide),
        model(&strong),
    ]
}

#[test]
fn every_int8_value_gets_the_tables_terms_to_f32_rounding() {
    for m in models() {
        let (table, formula) = (CellTable::new(&m), CellFormula::new(&m));
        let mut worst = [0.0f64; 4];
        for byte in 0..=255u8 {
            let v = byte as i8;
            let (t, f) = (table.get(v), formula.get(v));
            // The probabilities: a few f32 roundings.
            for (i, (a, b)) in [(t.occupied, f.occupied), (t.free, f.free)]
                .into_iter()
                .enumerate()
            {
                let rel = f64::from((a - b).abs()) / f64::from(a);
                worst[i] = worst[i].max(rel);
                assert!(rel < 1e-6, "{m:?}: value {v}, term {i}: {a} vs {b}");
            }
            // The information: 1e-5 relative, or a few f32 roundings of the
            // two terms that cancel to give it (`s |delta|`, see
            // `CellFormula`), which only matters a step or two from a clamp.
            let o = probability(&m, v);
            let minority = o.min(1.0 - o);
            for (i, hit) in [(2, true), (3, false)] {
                let (a, b) = if hit {
                    (t.hit_bits, f.hit_bits)
                } else {
                    (t.miss_bits, f.miss_bits)
                };
                let base = if v == UNKNOWN_I8 { 0 } else { v };
                let delta = f64::from(i16::from(m.update(v, hit)) - i16::from(base)) * m.step;
                if delta == 0.0 {
                    assert_eq!((a, b), (0.0, 0.0), "{m:?}: value {v} at a clamp");
                    continue;
                }
                let err = f64::from((a - b).abs());
                let rel = err / f64::from(a);
                worst[i] = worst[i].max(rel);
                let cancelling = minority * delta.abs() * std::f64::consts::LOG2_E;
                assert!(
                    err <= 1e-5 * f64::from(a) + 4.0 * f64::from(f32::EPSILON) * cancelling,
                    "{m:?}: value {v}, {}: table {a}, direct {b} ({rel:.2e} relative)",
                    if hit { "hit" } else { "miss" }
                );
            }
        }
        // Unknown is even odds updated from 0, exactly as the table has it.
        assert_eq!(formula.get(UNKNOWN_I8), formula.get(0));
        assert_eq!(table.get(UNKNOWN_I8), table.get(0));
        let (u, t) = (formula.get(UNKNOWN_I8), table.get(UNKNOWN_I8));
        assert_eq!((u.occupied, u.free), (0.5, 0.5));
        assert_eq!((u.occupied, u.free), (t.occupied, t.free));
        println!(
            "{m:?}: worst relative difference o {:.1e}, 1 - o {:.1e}, kl_hit {:.1e}, kl_miss {:.1e}",
            worst[0], worst[1], worst[2], worst[3]
        );
    }
}

/// Largest relative difference between the two evaluators over `beams`
/// random beams, each through a fresh seeded grid.
fn beams_agree(m: QuantizedModel, noise: RangeNoise, exit: EarlyExit, beams: usize) -> f64 {
    let fan = BeamFan {
        beams: 1,
        cells: 100,
        noise,
        ..BeamFan::default()
    };
    let new =
        |terms| Fsmi::with_terms(&m, &fan, RES, exit, terms).unwrap_or_else(|e| panic!("{e}"));
    let (mut table, mut direct) = (new(TermSource::Table), new(TermSource::Direct));
    assert_eq!(
        (table.terms(), direct.terms()),
        (TermSource::Table, TermSource::Direct)
    );
    let mut rng = SplitMix(19);
    let mut worst: f64 = 0.0;
    for b in 0..beams {
        let grid =
            workload::random_grid(&mut rng, m, 120, 101, RES).unwrap_or_else(|e| panic!("{e}"));
        let (x, y) = (rng.unit() * 6.0, rng.unit() * 6.0);
        let angle = rng.unit() * std::f64::consts::TAU;
        let a = table
            .beam(&grid, x, y, angle)
            .unwrap_or_else(|e| panic!("{e}"));
        let d = direct
            .beam(&grid, x, y, angle)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(a > 0.0, "beam {b}: no information");
        let rel = f64::from((a - d).abs()) / f64::from(a);
        worst = worst.max(rel);
        assert!(rel < 1e-5, "beam {b}: table {a} bits, direct {d} bits");
    }
    // The same beams and cells visited (with the early exit, a beam whose
    // no-return probability crosses the threshold within rounding may stop
    // a cell apart).
    let (wt, wd) = (table.take_work(), direct.take_work());
    assert_eq!(wt.beams, wd.beams);
    if exit == EarlyExit::Off {
        assert_eq!(wt, wd);
    } else {
        assert!(wt.cell_visits.abs_diff(wd.cell_visits) * 1000 <= wt.cell_visits);
    }
    worst
}

#[test]
fn random_beams_agree_within_1e5_relative() {
    for m in models() {
        for exit in [EarlyExit::Off, EarlyExit::On] {
            for noise in [
                RangeNoise::default(),
                RangeNoise::Uniform {
                    half_width_cells: 2,
                },
            ] {
                let worst = beams_agree(m, noise, exit, 100);
                println!(
                    "step {:.4}, {exit:?}, {noise:?}: worst relative difference {worst:.2e}",
                    m.step
                );
            }
        }
    }
}

#[test]
fn whole_maps_agree_and_the_costs_differ_as_documented() {
    let m = model(&OccupancyParams::default());
    let fan = BeamFan {
        beams: 12,
        ..BeamFan::default()
    };
    let grid = workload::random_grid(&mut SplitMix(0x5eed), m, 40, fan.cells + 1, RES)
        .unwrap_or_else(|e| panic!("{e}"));
    for exit in [EarlyExit::Off, EarlyExit::On] {
        let new =
            |terms| Fsmi::with_terms(&m, &fan, RES, exit, terms).unwrap_or_else(|e| panic!("{e}"));
        let (mut table, mut direct) = (new(TermSource::Table), new(TermSource::Direct));
        let (mut a, mut d) = (Vec::new(), Vec::new());
        table
            .score_all(&grid, &mut a)
            .unwrap_or_else(|e| panic!("{e}"));
        direct
            .score_all(&grid, &mut d)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(a.len(), 40 * 40);
        for (i, (x, y)) in a.iter().zip(&d).enumerate() {
            assert!((x - y).abs() <= 1e-5 * x, "pose {i}: {x} vs {y}");
        }
        let pose = grid.center(13, 29);
        let (pa, pd) = (
            table.pose(&grid, pose[0], pose[1]),
            direct.pose(&grid, pose[0], pose[1]),
        );
        let (pa, pd) = (
            pa.unwrap_or_else(|e| panic!("{e}")),
            pd.unwrap_or_else(|e| panic!("{e}")),
        );
        assert!((pa - a[29 * 40 + 13]).abs() <= 1e-6 * pa);
        assert!((pa - pd).abs() <= 1e-5 * pa);

        let (ct, cd) = (table.cost(), direct.cost());
        let visits = table.take_work().cell_visits;
        let direct_visits = direct.take_work().cell_visits;
        assert_eq!(ct.calls, cd.calls);
        if exit == EarlyExit::On {
            // The early exit may stop a beam a cell apart (see above).
            assert!(visits < (40 * 40 + 1) * 12 * 100);
            assert!(visits.abs_diff(direct_visits) * 1000 <= visits);
            continue;
        }
        assert_eq!(visits, (40 * 40 + 1) * 12 * 100);
        assert_eq!(direct_visits, visits);
        // The direct mode reads no table (16 bytes a visit fewer) and
        // computes the terms instead; everything else is the same.
        assert_eq!(ct.local.read - cd.local.read, 16 * visits);
        assert_eq!(ct.local.written, cd.local.written);
        assert_eq!(ct.buffer, cd.buffer);
        assert_eq!(ct.buffer.read, visits, "one grid byte a visit");
        assert_eq!(ct.main, cd.main);
        assert_eq!(ct.ops + CellFormula::ops() * visits, cd.ops);
    }
}

#[test]
fn the_formulas_count_is_the_sum_of_its_parts() {
    let f = CellFormula::ops();
    let parts =
        CellFormula::exp_ops() + CellFormula::expm1_ops() * 2 + CellFormula::ln_1p_ops() * 2;
    assert_eq!(
        f,
        OpCounts {
            int8_add: 9,
            int16_add: 6,
            int32_add: 23,
            f32_mul: 64,
            f32_add: 94,
            f32_div_sqrt: 9,
            ..OpCounts::default()
        }
    );
    assert_eq!(f.total() - parts.total(), 9 + 6 + 11 + 17 + 3);
}
