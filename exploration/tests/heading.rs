//! A fan narrower than a full turn (a forward-looking camera): scoring by
//! heading, the planners' yaw, and the validation of the new settings; a
//! full-turn fan stays what it was, bit for bit.

use std::f64::consts::{FRAC_PI_2, PI, TAU};

use exploration::frontier::frontier_clusters;
use exploration::grid::Grid2;
use exploration::mi::{BeamFan, EarlyExit, Fsmi, STEER_F64_OPS};
use exploration::paths::{Traversable, distance_field};
use exploration::planner::{FrontierPlanner, MiPlanner, MiSettings, Planner, View};
use exploration::sim::{
    ExploreConfig, ExploreEvent, LidarOccupancy, PlannerKind, explore, explore_observed,
};
use exploration::workload::{self, SplitMix};
use mapping::{Occupancy, OccupancyParams, QuantizedModel};

const RES: f64 = 0.05;

fn model() -> QuantizedModel {
    QuantizedModel::new(&OccupancyParams::default()).unwrap_or_else(|e| panic!("{e}"))
}

/// A 90-degree camera fan of 4 m.
fn camera() -> BeamFan {
    BeamFan {
        beams: 24,
        cells: 80,
        fov_rad: FRAC_PI_2,
        ..BeamFan::default()
    }
}

/// 120 x 60 cells of the explorer's lidar model (known free space nearly
/// uninformative): known free for columns 60..120 (walls on its three outer
/// sides), unknown for columns 0..60.
fn half_known() -> Grid2 {
    let params = OccupancyParams::from(LidarOccupancy::default());
    let m = QuantizedModel::new(&params).unwrap_or_else(|e| panic!("{e}"));
    let mut g = Grid2::new([0, 0], 120, 60, 101, RES, m).unwrap_or_else(|e| panic!("{e}"));
    for row in 0..60 {
        for col in 60..120 {
            let wall = row == 0 || row == 59 || col == 119;
            g.set(col, row, if wall { m.max } else { m.min });
        }
    }
    g
}

fn ok<T>(r: exploration::Result<T>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn a_full_turn_ignores_the_heading_bit_for_bit() {
    let m = model();
    let grid = ok(workload::random_grid(&mut SplitMix(11), m, 150, 101, RES));
    let fan = BeamFan::default();
    assert!(fan.is_full_turn());
    let mut a = ok(Fsmi::new(&m, &fan, RES, EarlyExit::On));
    let mut b = ok(Fsmi::new(&m, &fan, RES, EarlyExit::On));
    for (col, row) in [(70, 80), (3, 140), (149, 0)] {
        let c = grid.center(col, row);
        let pose = ok(a.pose(&grid, c[0], c[1]));
        for heading in [0.0, 1.0, -2.5, PI, 100.0] {
            let h = ok(b.pose_heading(&grid, c[0], c[1], heading));
            assert_eq!(h.to_bits(), pose.to_bits(), "heading {heading}");
        }
    }
    // The same work and cost as the plain poses, times the headings.
    let (wa, wb) = (a.take_work(), b.take_work());
    assert_eq!(wb.beams, 5 * wa.beams);
    assert_eq!(wb.cell_visits, 5 * wa.cell_visits);
    assert_eq!(wb.steered_beams, 0);
    // The beams are where they always were: the first along +x.
    for k in 0..60 {
        assert_eq!(fan.beam_angle(k, 1.0), TAU * k as f64 / 60.0);
    }
}

#[test]
fn a_narrow_fan_is_the_sum_of_its_beams_and_counts_its_turns() {
    let m = model();
    let grid = ok(workload::random_grid(&mut SplitMix(5), m, 150, 101, RES));
    let fan = camera();
    assert!(!fan.is_full_turn());
    // Beam centres evenly over the field of view around the heading.
    let angles: Vec<f64> = (0..24).map(|b| fan.beam_angle(b, 1.0)).collect();
    assert!((angles[0] - (1.0 - FRAC_PI_2 / 2.0 + FRAC_PI_2 / 48.0)).abs() < 1e-12);
    assert!((angles[23] - (1.0 + FRAC_PI_2 / 2.0 - FRAC_PI_2 / 48.0)).abs() < 1e-12);
    for w in angles.windows(2) {
        assert!((w[1] - w[0] - FRAC_PI_2 / 24.0).abs() < 1e-12);
    }
    let mut fsmi = ok(Fsmi::new(&m, &fan, RES, EarlyExit::Off));
    let one = BeamFan { beams: 1, ..fan };
    let mut single = ok(Fsmi::new(&m, &one, RES, EarlyExit::Off));
    let c = grid.center(70, 80);
    for heading in [1.0, -2.0] {
        let pose = ok(fsmi.pose_heading(&grid, c[0], c[1], heading));
        let mut sum = 0.0f32;
        for b in 0..24 {
            sum += ok(single.beam(&grid, c[0], c[1], fan.beam_angle(b, heading)));
        }
        assert_eq!(pose.to_bits(), sum.to_bits(), "heading {heading}");
    }
    // `pose` faces +x.
    let plain = ok(fsmi.pose(&grid, c[0], c[1]));
    let ahead = ok(fsmi.pose_heading(&grid, c[0], c[1], 0.0));
    assert_eq!(plain.to_bits(), ahead.to_bits());
    // Steered three times (1, -2, 0); the same heading again is free.
    let work = fsmi.take_work();
    assert_eq!(work.beams, 4 * 24);
    assert_eq!(work.cell_visits, 4 * 24 * 80);
    assert_eq!(work.steered_beams, 3 * 24);
    // The cost counts the steering and nothing else on top of the beams.
    let _ = ok(fsmi.pose_heading(&grid, c[0], c[1], 0.5));
    let turned = fsmi.cost();
    fsmi.take_work();
    let _ = ok(fsmi.pose_heading(&grid, c[0], c[1], 0.5));
    let straight = fsmi.cost();
    assert_eq!(turned.calls, straight.calls);
    assert_eq!(turned.ops.f32_mul, straight.ops.f32_mul);
    assert_eq!(
        turned.ops.f64_ops,
        straight.ops.f64_ops + 24 * STEER_F64_OPS
    );
    assert_eq!(straight.ops.f64_ops, 0);
}

#[test]
fn a_camera_facing_the_unknown_side_scores_more_and_the_planner_turns_there() {
    let grid = half_known();
    let m = *grid.model();
    let fan = camera();
    let mut fsmi = ok(Fsmi::new(&m, &fan, RES, EarlyExit::On));
    for col in [61, 70, 90] {
        let c = grid.center(col, 30);
        let west = ok(fsmi.pose_heading(&grid, c[0], c[1], PI));
        let east = ok(fsmi.pose_heading(&grid, c[0], c[1], 0.0));
        // Facing +x, only the range noise spilling over the walls (1.5 to
        // 3 m away) into the unknown border gives anything.
        assert!(west > 3.0 * east, "col {col}: {west} vs {east}");
    }
    // The MI planner with eight headings faces the unknown side.
    let trav = Traversable::new(&grid, 0.1);
    let robot = (100, 30);
    let dist = distance_field(&trav, robot);
    let frontiers = frontier_clusters(&grid, &[], 4);
    assert_eq!(frontiers.len(), 1);
    let view = View {
        grid: &grid,
        traversable: &trav,
        distance: &dist,
        robot,
        frontiers: &frontiers,
        visited: &[],
        current_goal: None,
    };
    let mut planner = MiPlanner::new(MiSettings {
        fan,
        headings: 8,
        ..MiSettings::default()
    });
    let plan = ok(planner.plan(&view)).unwrap_or_else(|| panic!("no plan"));
    let yaw = plan.yaw_rad.unwrap_or_else(|| panic!("no yaw"));
    assert!((yaw - PI).abs() < 1e-12, "{yaw}");
    let scored = planner.last_candidates().to_vec();
    assert!(scored.len() > 10);
    assert!(scored.iter().all(|s| s.yaw_rad.is_some()));
    let best = scored
        .iter()
        .find(|s| s.cell == plan.goal)
        .unwrap_or_else(|| panic!("the goal was not scored"));
    let g = grid.center(plan.goal.0, plan.goal.1);
    let at_yaw = ok(fsmi.pose_heading(&grid, g[0], g[1], yaw));
    assert_eq!(best.gain_bits.to_bits(), at_yaw.to_bits());
    assert_eq!(plan.gain_bits, Some(best.gain_bits));
    // Counted: every candidate at every heading, and seven turns of the fan
    // (a new evaluator faces +x, the first heading, already).
    let cost = planner.take_cost();
    let beams = cost
        .get("fsmi_beam")
        .unwrap_or_else(|| panic!("no MI cost"));
    assert_eq!(beams.calls, scored.len() as u64 * 8 * 24);
    assert_eq!(beams.ops.f64_ops, 7 * 24 * STEER_F64_OPS);
    // On the way, the current goal is kept at its best heading when no other
    // beats it by the switch factor.
    let kept = View {
        current_goal: Some(plan.goal),
        ..view
    };
    let again = ok(planner.plan(&kept)).unwrap_or_else(|| panic!("no plan"));
    assert_eq!((again.goal, again.yaw_rad), (plan.goal, plan.yaw_rad));
    // A full-turn fan plans no yaw.
    let mut lidar = MiPlanner::new(MiSettings {
        fan: BeamFan {
            cells: 80,
            ..BeamFan::default()
        },
        headings: 8,
        ..MiSettings::default()
    });
    let plan = ok(lidar.plan(&view)).unwrap_or_else(|| panic!("no plan"));
    assert_eq!(plan.yaw_rad, None);
    assert!(lidar.last_candidates().iter().all(|s| s.yaw_rad.is_none()));
}

/// The first cell along `yaw` from `from` (cells) that is not free.
fn first_not_free(grid: &Grid2, from: (usize, usize), yaw: f64) -> Occupancy {
    let c = grid.center(from.0, from.1);
    for i in 1..400 {
        let d = i as f64 * 0.25 * RES;
        match grid.cell_of(c[0] + d * yaw.cos(), c[1] + d * yaw.sin()) {
            Some((col, row)) if grid.occupancy(col, row) == Occupancy::Free => {}
            Some((col, row)) => return grid.occupancy(col, row),
            None => return Occupancy::Unknown,
        }
    }
    Occupancy::Free
}

#[test]
fn the_frontier_planner_faces_its_frontier() {
    // A walled 80 x 60 room, known free but for an unknown pocket in the top
    // left corner: an L-shaped frontier.
    let m = model();
    let mut grid = Grid2::new([0, 0], 80, 60, 2, RES, m).unwrap_or_else(|e| panic!("{e}"));
    for row in 0..60 {
        for col in 0..80 {
            let wall = row == 0 || row == 59 || col == 0 || col == 79;
            let pocket = col < 21 && row >= 40;
            if !pocket {
                grid.set(col, row, if wall { m.max } else { m.min });
            }
        }
    }
    let trav = Traversable::new(&grid, 0.1);
    let robot = (60, 10);
    let dist = distance_field(&trav, robot);
    let frontiers = frontier_clusters(&grid, &[], 4);
    assert_eq!(frontiers.len(), 1);
    let view = View {
        grid: &grid,
        traversable: &trav,
        distance: &dist,
        robot,
        frontiers: &frontiers,
        visited: &[],
        current_goal: None,
    };
    let mut planner = FrontierPlanner {
        face_frontier: true,
        ..FrontierPlanner::default()
    };
    let plan = ok(planner.plan(&view)).unwrap_or_else(|| panic!("no plan"));
    let yaw = plan.yaw_rad.unwrap_or_else(|| panic!("no yaw"));
    let g = grid.center(plan.goal.0, plan.goal.1);
    let to = frontiers[0].centroid_m;
    assert!(((to[1] - g[1]).atan2(to[0] - g[0]) - yaw).abs() < 1e-12);
    // Up and to the left, into the pocket.
    assert!(yaw > FRAC_PI_2 && yaw < PI, "{yaw}");
    assert_eq!(first_not_free(&grid, plan.goal, yaw), Occupancy::Unknown);
    // Kept on the way, still facing the same cluster.
    let kept = View {
        current_goal: Some(plan.goal),
        ..view
    };
    assert_eq!(ok(planner.plan(&kept)), Some(plan.clone()));
    // Without the setting: today's plan, no yaw.
    let plain = ok(FrontierPlanner::default().plan(&view)).unwrap_or_else(|| panic!("no plan"));
    assert_eq!(plain.yaw_rad, None);
    assert_eq!((plain.goal, &plain.path), (plan.goal, &plan.path));

    // Head-on to the middle of a straight frontier the centroid is on the
    // goal: the yaw is the unknown side, straight across.
    let grid = half_known();
    let trav = Traversable::new(&grid, 0.1);
    let robot = (100, 30);
    let dist = distance_field(&trav, robot);
    let frontiers = frontier_clusters(&grid, &[], 4);
    let view = View {
        grid: &grid,
        traversable: &trav,
        distance: &dist,
        robot,
        frontiers: &frontiers,
        visited: &[],
        current_goal: None,
    };
    let plan = ok(planner.plan(&view)).unwrap_or_else(|| panic!("no plan"));
    let g = grid.center(plan.goal.0, plan.goal.1);
    let c = frontiers[0].centroid_m;
    assert!((c[0] - g[0]).hypot(c[1] - g[1]) < 2.0 * RES, "{plan:?}");
    assert_eq!(plan.yaw_rad, Some(PI));
}

#[test]
fn a_bad_field_of_view_or_no_heading_is_refused() {
    let m = model();
    let grid = half_known();
    for fov in [0.0, -1.0, f64::NAN, TAU + 1e-9, f64::INFINITY] {
        let fan = BeamFan {
            fov_rad: fov,
            ..BeamFan::default()
        };
        assert!(fan.check_fov().is_err(), "{fov}");
        assert!(Fsmi::new(&m, &fan, RES, EarlyExit::On).is_err(), "{fov}");
        let settings = MiSettings {
            fan,
            ..MiSettings::default()
        };
        assert!(settings.validate().is_err(), "{fov}");
        let mut cfg = ExploreConfig::default();
        cfg.mi.fan.fov_rad = fov;
        let e = explore(&cfg, 0, PlannerKind::Frontier).map(|_| ());
        assert!(
            e.as_ref().is_err_and(|e| e.to_string().contains("fov_rad")),
            "{fov}: {e:?}"
        );
        // The planner refuses it too, before scoring anything.
        let trav = Traversable::new(&grid, 0.1);
        let dist = distance_field(&trav, (100, 30));
        let frontiers = frontier_clusters(&grid, &[], 4);
        let view = View {
            grid: &grid,
            traversable: &trav,
            distance: &dist,
            robot: (100, 30),
            frontiers: &frontiers,
            visited: &[],
            current_goal: None,
        };
        assert!(MiPlanner::new(settings).plan(&view).is_err(), "{fov}");
    }
    for fov in [1e-6, FRAC_PI_2, TAU] {
        let fan = BeamFan {
            fov_rad: fov,
            ..BeamFan::default()
        };
        assert!(fan.check_fov().is_ok() && Fsmi::new(&m, &fan, RES, EarlyExit::On).is_ok());
    }
    // EuRoC's cam0: 752 px at fx = 458.654 px, about 79 degrees.
    let euroc = BeamFan::pinhole_fov_rad(752.0, 458.654);
    assert!((euroc.to_degrees() - 78.7).abs() < 0.05, "{euroc}");
    assert!(BeamFan::pinhole_fov_rad(752.0, 0.0) <= TAU);
    assert!(
        BeamFan {
            fov_rad: BeamFan::pinhole_fov_rad(-1.0, 458.0),
            ..BeamFan::default()
        }
        .check_fov()
        .is_err()
    );
    for headings in [0, 361] {
        let settings = MiSettings {
            headings,
            ..MiSettings::default()
        };
        assert!(settings.validate().is_err(), "{headings}");
        let mut cfg = ExploreConfig::default();
        cfg.mi.headings = headings;
        let e = explore(&cfg, 0, PlannerKind::Mi).map(|_| ());
        assert!(
            e.as_ref()
                .is_err_and(|e| e.to_string().contains("mi.headings")),
            "{headings}: {e:?}"
        );
    }
    let mut fsmi = ok(Fsmi::new(grid.model(), &camera(), RES, EarlyExit::On));
    let c = grid.center(70, 30);
    assert!(fsmi.pose_heading(&grid, c[0], c[1], 1.0).is_ok());
    for heading in [f64::NAN, f64::INFINITY] {
        assert!(fsmi.pose_heading(&grid, c[0], c[1], heading).is_err());
    }
    // Configuration files without the new fields read as before.
    let fan: BeamFan = serde_json::from_str(r#"{"beams": 60}"#).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(fan, BeamFan::default());
    let mi: MiSettings =
        serde_json::from_str(r#"{"lattice_cells": 5}"#).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(mi, MiSettings::default());
}

#[test]
fn in_the_closed_loop_both_planners_plan_a_yaw_for_a_camera_only() {
    for (fov, headings) in [(TAU, 1), (BeamFan::pinhole_fov_rad(752.0, 458.654), 8)] {
        let mut cfg = ExploreConfig {
            budget_m: 2.0,
            ..ExploreConfig::default()
        };
        cfg.mi.fan.fov_rad = fov;
        cfg.mi.headings = headings;
        for planner in [PlannerKind::Frontier, PlannerKind::Mi] {
            let mut yaws = Vec::new();
            ok(explore_observed(&cfg, 3, planner, |e| {
                if let ExploreEvent::Plan {
                    plan: Some(plan), ..
                } = e
                {
                    yaws.push(plan.yaw_rad);
                }
            }));
            assert!(!yaws.is_empty());
            let camera = fov < TAU;
            assert!(
                yaws.iter().all(|y| y.is_some() == camera),
                "{planner:?}, fov {fov}: {yaws:?}"
            );
        }
    }
}

/// 120 x 60 cells of the flight's model (stereo's hit and miss, tight
/// clamps), walled round: columns 0..20 unknown, 20..40 well seen, 40..120
/// seen once (one miss each: free, but far from certain).
fn seen_once_east() -> Grid2 {
    let params = OccupancyParams {
        hit: 0.7,
        miss: 0.4,
        clamp_min: 0.001,
        clamp_max: 0.999,
        ..OccupancyParams::default()
    };
    let m = QuantizedModel::new(&params).unwrap_or_else(|e| panic!("{e}"));
    let mut g = Grid2::new([0, 0], 120, 60, 101, RES, m).unwrap_or_else(|e| panic!("{e}"));
    for row in 0..60 {
        for col in 20..120 {
            let wall = row == 0 || row == 59 || col == 119;
            let value = if wall {
                m.max
            } else if col < 40 {
                m.min
            } else {
                m.miss
            };
            g.set(col, row, value);
        }
    }
    g
}

#[test]
fn scoring_observed_cells_as_certain_values_the_unknown_not_the_seen_once() {
    let grid = seen_once_east();
    assert_eq!(grid.occupancy(60, 30), Occupancy::Free);
    let trav = Traversable::new(&grid, 0.1);
    let robot = (40, 30);
    let dist = distance_field(&trav, robot);
    let frontiers = frontier_clusters(&grid, &[], 4);
    assert_eq!(frontiers.len(), 1);
    let view = View {
        grid: &grid,
        traversable: &trav,
        distance: &dist,
        robot,
        frontiers: &frontiers,
        visited: &[],
        current_goal: None,
    };
    let settings = MiSettings {
        fan: camera(),
        headings: 8,
        ..MiSettings::default()
    };
    let yaw_of = |settings: MiSettings| {
        let mut planner = MiPlanner::new(settings);
        let plan = ok(planner.plan(&view)).unwrap_or_else(|| panic!("no plan"));
        let yaw = plan.yaw_rad.unwrap_or_else(|| panic!("no yaw"));
        (yaw, planner.last_candidates().to_vec())
    };
    // As they are, the 80 columns seen once outweigh the 20 never seen.
    let (yaw, _) = yaw_of(settings);
    assert!(yaw.cos() > 0.5, "faces {yaw} rad, not the cells seen once");
    // Taken as certain, they are worth nothing: the planner faces the
    // unknown, and no pose facing only seen cells has a gain.
    let (yaw, scored) = yaw_of(MiSettings {
        observed_as_certain: true,
        ..settings
    });
    assert!(yaw.cos() < -0.5, "faces {yaw} rad, not the unknown");
    let mut fsmi = ok(Fsmi::new(grid.model(), &camera(), RES, EarlyExit::On));
    let mut certain = grid.clone();
    for row in 0..60 {
        for col in 0..120 {
            match grid.occupancy(col, row) {
                Occupancy::Free => certain.set(col, row, grid.model().min),
                Occupancy::Occupied => certain.set(col, row, grid.model().max),
                Occupancy::Unknown => {}
            }
        }
    }
    for s in &scored {
        let c = grid.center(s.cell.0, s.cell.1);
        let heading = s.yaw_rad.unwrap_or_else(|| panic!("no yaw"));
        let gain = ok(fsmi.pose_heading(&certain, c[0], c[1], heading));
        assert_eq!(s.gain_bits.to_bits(), gain.to_bits(), "{:?}", s.cell);
    }
}
