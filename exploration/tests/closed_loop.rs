//! The closed loop in a seeded world: both planners reach the coverage target
//! without touching the true world, deterministically.

use datasets::synth::world::World;
use exploration::sim::{ExploreConfig, Outcome, PlannerKind, explore};
use nalgebra::Vector3;

#[test]
fn both_planners_explore_a_world_to_the_target_without_collisions() {
    let cfg = ExploreConfig::default();
    let seed = 1;
    let world = World::generate(&cfg.world, seed).unwrap_or_else(|e| panic!("{e}"));
    for planner in [PlannerKind::Frontier, PlannerKind::Mi] {
        let run = explore(&cfg, seed, planner).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(run.outcome, Outcome::Covered, "{planner:?}");
        assert!(run.coverage() >= cfg.coverage_target);
        let d = run
            .distance_to_target_m
            .unwrap_or_else(|| panic!("missing value"));
        assert!(d > 1.0 && d < cfg.budget_m, "{planner:?}: {d} m");
        assert_eq!(run.blocked_steps, 0);
        // Coverage never drops and distance only grows.
        for w in run.samples.windows(2) {
            assert!(w[1].distance_m >= w[0].distance_m);
            assert!(w[1].coverage + 1e-12 >= w[0].coverage, "{:?}", w);
        }
        // Every position is in free space, clear of the world by half the
        // robot's radius at least.
        for p in &run.path_m {
            let clear = world.signed_distance(&Vector3::new(p[0], p[1], cfg.sensor_height_m));
            assert!(
                clear >= 0.5 * cfg.robot_radius_m,
                "{planner:?} at {p:?}: {clear} m"
            );
        }
        // The path is continuous: no step longer than a diagonal cell.
        for w in run.path_m.windows(2) {
            let step = (w[1][0] - w[0][0]).hypot(w[1][1] - w[0][1]);
            assert!(step <= cfg.resolution_m * 1.5, "{step}");
        }
        if planner == PlannerKind::Mi {
            assert!(run.candidates_scored > 0);
            let mi = run
                .cost
                .get("fsmi_beam")
                .unwrap_or_else(|| panic!("missing value"));
            assert_eq!(
                mi.calls,
                run.candidates_scored as u64 * cfg.mi.fan.beams as u64
            );
            assert!(mi.buffer.read > 0 && mi.ops.f32_mul > 0);
        }
        assert!(run.cost.get("map_update").is_some());
        // The same seed gives the same run.
        let again = explore(&cfg, seed, planner).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(again.path_m, run.path_m);
    }
}

#[test]
fn a_tiny_budget_stops_the_run_and_bad_values_are_refused() {
    let mut cfg = ExploreConfig {
        budget_m: 1.0,
        ..ExploreConfig::default()
    };
    let run = explore(&cfg, 2, PlannerKind::Frontier).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(run.outcome, Outcome::Budget);
    assert!(run.distance_m() < 2.0 && run.distance_to_target_m.is_none());
    cfg.budget_m = -1.0;
    assert!(explore(&cfg, 2, PlannerKind::Mi).is_err());
    let cfg = ExploreConfig {
        coverage_target: 1.5,
        ..ExploreConfig::default()
    };
    assert!(explore(&cfg, 2, PlannerKind::Mi).is_err());
}

#[test]
fn settings_that_disagree_or_would_overflow_are_refused() {
    let base = ExploreConfig::default;
    let mut many_boxes = base();
    many_boxes.world.box_count = [5, 1_000_000];
    let mut nan_gap = base();
    nan_gap.world.obstacle_gap_m = f64::NAN;
    let mut narrow = base();
    narrow.mi.fan.noise = exploration::mi::RangeNoise::Gaussian {
        sigma_m: 0.05,
        truncate_sigmas: 1.0,
    };
    let mut huge = base();
    huge.world.room_size_max_m = [5.0, 3300.0, 3.0];
    let bad = [
        (
            ExploreConfig {
                range_m: 8.0,
                ..base()
            },
            "range_m",
        ),
        (
            ExploreConfig {
                robot_radius_m: 1e300,
                ..base()
            },
            "robot_radius_m",
        ),
        (
            ExploreConfig {
                resolution_m: 0.1,
                ..base()
            },
            "range_m",
        ),
        (
            ExploreConfig {
                sensor_height_m: 10.0,
                ..base()
            },
            "sensor_height_m",
        ),
        (
            ExploreConfig {
                clearance_m: f64::NAN,
                ..base()
            },
            "clearance_m",
        ),
        (many_boxes, "world.box_count"),
        (nan_gap, "world.obstacle_gap_m"),
        (narrow, "3 sigma"),
        (huge, "room_size_max_m"),
    ];
    for (cfg, field) in bad {
        match explore(&cfg, 0, PlannerKind::Frontier) {
            Ok(_) => panic!("{field}: accepted"),
            Err(e) => assert!(e.to_string().contains(field), "{field}: {e}"),
        }
    }
}
