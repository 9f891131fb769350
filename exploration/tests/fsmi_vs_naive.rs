//! FSMI against the naive Shannon MI on random beams through random maps, and
//! its per-cell table against FSMI's closed form.

use exploration::grid::Grid2;
use exploration::mi::{BeamFan, CellTable, EarlyExit, Fsmi, RangeNoise, beam_cells, fsmi_f};
use exploration::naive;
use exploration::workload::{self, SplitMix};
use mapping::logodds::UNKNOWN_I8;
use mapping::{OccupancyParams, QuantizedModel};

const RES: f64 = 0.05;

fn model() -> QuantizedModel {
    QuantizedModel::new(&OccupancyParams::default()).unwrap_or_else(|e| panic!("{e}"))
}

fn random_grid(rng: &mut SplitMix, side: usize, border: usize) -> Grid2 {
    workload::random_grid(rng, model(), side, border, RES).unwrap_or_else(|e| panic!("{e}"))
}

fn compare(noise: RangeNoise, exit: EarlyExit, beams: usize) -> f64 {
    let m = model();
    let fan = BeamFan {
        beams: 1,
        cells: 100,
        noise,
        ..BeamFan::default()
    };
    let mut fsmi = Fsmi::new(&m, &fan, RES, exit).unwrap_or_else(|e| panic!("{e}"));
    let mut rng = SplitMix(7);
    let mut worst: f64 = 0.0;
    for b in 0..beams {
        let grid = random_grid(&mut rng, 120, 101);
        let (x, y) = (rng.unit() * 6.0, rng.unit() * 6.0);
        let angle = rng.unit() * std::f64::consts::TAU;
        let fast = f64::from(
            fsmi.beam(&grid, x, y, angle)
                .unwrap_or_else(|e| panic!("{e}")),
        );
        let cells = beam_cells(&grid, x, y, angle, 100).unwrap_or_else(|e| panic!("{e}"));
        let slow = naive::beam_mi(&cells, &m, &noise, RES, 16);
        assert!(slow > 0.0, "beam {b}: the reference found no information");
        let rel = (fast - slow).abs() / slow;
        worst = worst.max(rel);
        assert!(
            rel < 0.01,
            "beam {b}: FSMI {fast} bits, naive {slow} bits ({:.3} %)",
            rel * 100.0
        );
    }
    worst
}

#[test]
fn gaussian_fsmi_is_within_one_percent_of_the_naive_integral() {
    let worst = compare(RangeNoise::default(), EarlyExit::Off, 60);
    println!(
        "Gaussian, full walk: worst relative error {:.4} %",
        worst * 100.0
    );
}

#[test]
fn early_exit_keeps_the_gaussian_fsmi_within_one_percent() {
    let worst = compare(RangeNoise::default(), EarlyExit::On, 60);
    println!(
        "Gaussian, early exit: worst relative error {:.4} %",
        worst * 100.0
    );
}

#[test]
fn uniform_fsmi_is_within_one_percent_of_the_naive_integral() {
    for half_width_cells in [0, 2, 5] {
        let worst = compare(RangeNoise::Uniform { half_width_cells }, EarlyExit::On, 30);
        println!(
            "uniform +-{half_width_cells}: worst relative error {:.4} %",
            worst * 100.0
        );
    }
}

#[test]
fn wide_gaussian_noise_matches_too() {
    let noise = RangeNoise::Gaussian {
        sigma_m: 0.15,
        truncate_sigmas: 3.0,
    };
    compare(noise, EarlyExit::On, 20);
}

#[test]
fn table_terms_are_fsmi_closed_form_away_from_the_clamps() {
    let m = model();
    let table = CellTable::new(&m);
    let ln2 = std::f64::consts::LN_2;
    let mut checked = 0;
    for v in m.min..=m.max {
        let r = (f64::from(v) * m.step).exp();
        let t = table.get(v);
        if i16::from(v) + i16::from(m.hit) <= i16::from(m.max) {
            let delta = (f64::from(m.hit) * m.step).exp();
            let closed = fsmi_f(delta, r) / ln2;
            assert!(
                (f64::from(t.hit_bits) - closed).abs() < 1e-6 + 1e-5 * closed,
                "hit at {v}"
            );
            checked += 1;
        }
        if i16::from(v) + i16::from(m.miss) >= i16::from(m.min) {
            let delta = (f64::from(m.miss) * m.step).exp();
            let closed = fsmi_f(delta, r) / ln2;
            assert!(
                (f64::from(t.miss_bits) - closed).abs() < 1e-6 + 1e-5 * closed,
                "miss at {v}"
            );
            checked += 1;
        }
    }
    assert!(checked > 300);
    // At the clamps a further reading of the same kind changes nothing.
    assert_eq!(table.get(m.max).hit_bits, 0.0);
    assert_eq!(table.get(m.min).miss_bits, 0.0);
    // Unknown reads as even odds.
    assert_eq!(table.get(UNKNOWN_I8), table.get(0));
}

#[test]
fn a_known_wall_ahead_bounds_the_information() {
    // Known free cells (the explorer's lidar model, at the clamp) up to a
    // confidently occupied wall: readings end at the wall, so what lies
    // behind it adds almost nothing (the wall lets 0.1 % through), while a
    // change before it counts. Every cell is walked.
    let params = OccupancyParams {
        hit: 0.95,
        miss: 0.1,
        clamp_min: 0.001,
        clamp_max: 0.999,
        threshold: 0.5,
    };
    let m = QuantizedModel::new(&params).unwrap_or_else(|e| panic!("{e}"));
    let fan = BeamFan {
        beams: 1,
        cells: 100,
        noise: RangeNoise::default(),
        ..BeamFan::default()
    };
    let mut fsmi = Fsmi::new(&m, &fan, RES, EarlyExit::Off).unwrap_or_else(|e| panic!("{e}"));
    let mut a = Grid2::new([0, 0], 120, 3, 101, RES, m).unwrap_or_else(|e| panic!("{e}"));
    for col in 0..120 {
        a.set(col, 1, if col == 40 { m.max } else { m.min });
    }
    let mut behind = a.clone();
    let mut before = a.clone();
    for col in 45..120 {
        behind.set(col, 1, UNKNOWN_I8);
    }
    for col in 20..25 {
        before.set(col, 1, UNKNOWN_I8);
    }
    let y = 1.5 * RES;
    let mut mi = |g: &Grid2| {
        fsmi.beam(g, 0.5 * RES, y, 0.0)
            .unwrap_or_else(|e| panic!("{e}"))
    };
    let (mi_a, mi_behind, mi_before) = (mi(&a), mi(&behind), mi(&before));
    println!("wall: {mi_a} bits, unknown behind {mi_behind}, unknown before {mi_before}");
    // The change behind the wall counts 100x less than one before it.
    assert!(
        (mi_behind - mi_a).abs() < 0.01 * (mi_before - mi_a),
        "{mi_a} vs {mi_behind}"
    );
    assert!(mi_before > 1.5 * mi_a, "{mi_a} vs {mi_before}");
}

#[test]
fn unknown_space_carries_more_information_than_known_free_space() {
    // OctoMap's clamps keep a free cell 12 % occupied, so a beam through
    // known free space still expects 58 % of an unknown beam's information;
    // clamps at 0.001 / 0.999 (the explorer's map) make known space nearly
    // transparent and uninformative.
    for (clamp_min, clamp_max, most) in [(0.1192, 0.971, 0.7), (0.001, 0.999, 0.05)] {
        let params = OccupancyParams {
            clamp_min,
            clamp_max,
            ..OccupancyParams::default()
        };
        let m = QuantizedModel::new(&params).unwrap_or_else(|e| panic!("{e}"));
        let fan = BeamFan {
            beams: 1,
            cells: 100,
            noise: RangeNoise::default(),
            ..BeamFan::default()
        };
        let mut fsmi = Fsmi::new(&m, &fan, RES, EarlyExit::On).unwrap_or_else(|e| panic!("{e}"));
        let mut c = Grid2::new([0, 0], 120, 3, 101, RES, m).unwrap_or_else(|e| panic!("{e}"));
        let y = 1.5 * RES;
        let mi_unknown = fsmi
            .beam(&c, 0.5 * RES, y, 0.0)
            .unwrap_or_else(|e| panic!("{e}"));
        for col in 0..120 {
            c.set(col, 1, m.min);
        }
        let mi_clamped = fsmi
            .beam(&c, 0.5 * RES, y, 0.0)
            .unwrap_or_else(|e| panic!("{e}"));
        println!(
            "clamps {clamp_min}/{clamp_max}: unknown {mi_unknown} bits, known free {mi_clamped} bits"
        );
        assert!(
            mi_clamped < most * mi_unknown,
            "{mi_unknown} vs {mi_clamped}"
        );
    }
}

#[test]
fn a_pose_is_the_sum_of_its_beams() {
    let m = model();
    let mut rng = SplitMix(3);
    let grid = random_grid(&mut rng, 150, 101);
    let fan = BeamFan {
        beams: 12,
        cells: 100,
        noise: RangeNoise::default(),
        ..BeamFan::default()
    };
    let mut fsmi = Fsmi::new(&m, &fan, RES, EarlyExit::Off).unwrap_or_else(|e| panic!("{e}"));
    let one = BeamFan { beams: 1, ..fan };
    let mut single = Fsmi::new(&m, &one, RES, EarlyExit::Off).unwrap_or_else(|e| panic!("{e}"));
    let c = grid.center(70, 80);
    let pose = fsmi
        .pose(&grid, c[0], c[1])
        .unwrap_or_else(|e| panic!("{e}"));
    let sum: f32 = (0..12)
        .map(|b| {
            single
                .beam(&grid, c[0], c[1], std::f64::consts::TAU * b as f64 / 12.0)
                .unwrap_or_else(|e| panic!("{e}"))
        })
        .sum();
    assert!((pose - sum).abs() < 1e-4 * sum, "{pose} vs {sum}");
    let mut all = Vec::new();
    fsmi.score_all(&grid, &mut all)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(all.len(), 150 * 150);
    assert!((all[80 * 150 + 70] - pose).abs() < 1e-4 * pose);
    let work = fsmi.take_work();
    assert_eq!(work.beams, 12 * (1 + 150 * 150));
    assert_eq!(work.cell_visits, work.beams * 100);
}

#[test]
fn refuses_poses_outside_and_short_borders() {
    let m = model();
    let fan = BeamFan::default();
    let mut fsmi = Fsmi::new(&m, &fan, RES, EarlyExit::On).unwrap_or_else(|e| panic!("{e}"));
    let grid = Grid2::new([0, 0], 10, 10, 101, RES, m).unwrap_or_else(|e| panic!("{e}"));
    assert!(fsmi.pose(&grid, -1.0, 0.2).is_err());
    assert!(fsmi.pose(&grid, f64::NAN, 0.2).is_err());
    let thin = Grid2::new([0, 0], 10, 10, 5, RES, m).unwrap_or_else(|e| panic!("{e}"));
    assert!(fsmi.pose(&thin, 0.2, 0.2).is_err());
    let bad = BeamFan {
        noise: RangeNoise::Gaussian {
            sigma_m: -1.0,
            truncate_sigmas: 3.0,
        },
        ..fan
    };
    assert!(Fsmi::new(&m, &bad, RES, EarlyExit::On).is_err());
}

#[test]
fn the_fixed_point_walk_meets_the_cells_of_an_f64_walk() {
    // An independent walk: sample s at (s + 1) cells from the start, floor in
    // f64. The 16.16 walk may differ only where a sample lies within its
    // rounding (a few 1e-5 cells) of a cell edge. Values label the cells
    // (neighbours always differ), so a value names its cell.
    let mut rng = SplitMix(11);
    let mut grid =
        Grid2::new([0, 0], 150, 150, 101, RES, model()).unwrap_or_else(|e| panic!("{e}"));
    for row in 0..150 {
        for col in 0..150 {
            grid.set(col, row, (((col + 150 * row) % 250) as i32 - 125) as i8);
        }
    }
    let (mut same, mut total) = (0usize, 0usize);
    for _ in 0..200 {
        let (x, y) = (rng.unit() * 150.0 * RES, rng.unit() * 150.0 * RES);
        let angle = rng.unit() * std::f64::consts::TAU;
        let walked = beam_cells(&grid, x, y, angle, 100).unwrap_or_else(|e| panic!("{e}"));
        for (s, &v) in walked.iter().enumerate() {
            let d = (s + 1) as f64;
            let c = (x / RES + d * angle.cos()).floor();
            let r = (y / RES + d * angle.sin()).floor();
            let inside = (0.0..150.0).contains(&c) && (0.0..150.0).contains(&r);
            let expected = if inside {
                grid.get(c as usize, r as usize)
            } else {
                UNKNOWN_I8
            };
            same += usize::from(v == expected);
            total += 1;
        }
    }
    assert!(
        same as f64 >= 0.999 * total as f64,
        "{same} of {total} cells agree"
    );
}

#[test]
fn a_truncation_under_three_sigma_or_a_fan_for_another_grid_is_refused() {
    let m = model();
    let short = BeamFan {
        noise: RangeNoise::Gaussian {
            sigma_m: 0.05,
            truncate_sigmas: 2.0,
        },
        ..BeamFan::default()
    };
    assert!(Fsmi::new(&m, &short, RES, EarlyExit::On).is_err());
    let mut fsmi =
        Fsmi::new(&m, &BeamFan::default(), RES, EarlyExit::On).unwrap_or_else(|e| panic!("{e}"));
    let coarse = Grid2::new([0, 0], 10, 10, 101, 0.1, m).unwrap_or_else(|e| panic!("{e}"));
    assert!(fsmi.pose(&coarse, 0.5, 0.5).is_err());
}

#[test]
fn the_default_noise_is_nine_taps_at_four_sigma() {
    let taps = RangeNoise::default()
        .taps(RES)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(taps.len(), 9);
    let mass: f32 = taps.iter().sum();
    // Cells -4..=4 cover +-4.5 sigma.
    assert!((mass - 0.999_993).abs() < 1e-5, "{mass}");
    // 3 sigma is 7 taps, though 3 x 0.05 / 0.05 is 3.0000000000000004.
    let three = RangeNoise::Gaussian {
        sigma_m: 0.05,
        truncate_sigmas: 3.0,
    };
    assert_eq!(three.taps(RES).unwrap_or_else(|e| panic!("{e}")).len(), 7);
}
