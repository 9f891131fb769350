//! Trajectory evaluation: absolute trajectory error (ATE) and relative pose error
//! (RPE) of an estimated trajectory against ground truth.
//!
//! Pipeline ([`evaluate`]):
//! 1. [`associate()`]: pair estimate and ground-truth poses by nearest timestamp
//!    within [`EvalOptions::max_time_diff_s`] (evo's `associate_trajectories`).
//! 2. [`align()`]: fit the estimate's world frame to ground truth's on the matched
//!    positions: Umeyama SE(3) or Sim(3) (as `evo_ape -a` / `-as`), position+yaw
//!    (4 DoF, as rpg_trajectory_evaluation's `posyaw`, the usual choice for VIO), or
//!    none. The result is `gt_world_from_est_world` and a scale.
//! 3. [`metrics`]: ATE on the aligned positions (m; evo_ape's `translation_part`)
//!    and orientations (deg), and RPE over sub-trajectories of given ground-truth
//!    path lengths (rpg_trajectory_evaluation; Zhang & Scaramuzza, IROS 2018).
//!
//! Poses are `world_from_body` (`Isometry3<f64>`, metres, Hamilton quaternions),
//! timestamps `t_ns: i64`. Files: TUM text and EuRoC csv ([`trajectory`]).
//!
//! The ATE agrees with `evo_ape` 1.38 to better than 1e-6 m on the fixtures in
//! `tests/fixtures/evo/` (test `tests/eval_vs_evo.rs`).
//!
//! ```no_run
//! use scout::eval::{evaluate, read_trajectory, Alignment, EvalOptions};
//! # fn main() -> Result<(), scout::eval::EvalError> {
//! let gt = read_trajectory("mav0/state_groundtruth_estimate0/data.csv")?;
//! let est = read_trajectory("out/trajectory.tum")?;
//! let opts = EvalOptions { align: Alignment::Se3, ..EvalOptions::default() };
//! let report = evaluate(&gt, &est, &opts)?;
//! println!("{report}");
//! # Ok(())
//! # }
//! ```

pub mod align;
pub mod associate;
pub mod error;
pub mod metrics;
pub mod trajectory;

use std::fmt;

use nalgebra::{Isometry3, Point3};

pub use self::align::{Alignment, SimilarityTransform, align};
pub use self::associate::{Match, associate};
pub use self::error::EvalError;
pub use self::metrics::ErrorStats;
pub use self::trajectory::{
    Trajectory, TrajectoryFormat, read_euroc_ground_truth, read_trajectory, read_tum, write_tum,
};

/// Options of [`evaluate`]; every field has the default given.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct EvalOptions {
    /// The alignment fitted before computing errors (default: position+yaw).
    pub align: Alignment,
    /// Largest `|t_est - t_gt|` for two poses to be associated, s (default 0.01, as
    /// evo's `--t_max_diff`).
    pub max_time_diff_s: f64,
    /// RPE sub-trajectory lengths, m; `None` (default) for 10, 20, 30, 40 and 50 % of
    /// the matched ground-truth path length (rpg_trajectory_evaluation takes the
    /// percentages of the whole ground-truth path; the two agree when the estimate
    /// covers the ground truth).
    pub rpe_segments_m: Option<Vec<f64>>,
    /// A sub-trajectory counts for length `L` when its ground-truth length is within
    /// this fraction of `L` (default 0.2, as rpg_trajectory_evaluation).
    pub rpe_max_length_diff_frac: f64,
}

impl Default for EvalOptions {
    fn default() -> Self {
        Self {
            align: Alignment::PosYaw,
            max_time_diff_s: 0.01,
            rpe_segments_m: None,
            rpe_max_length_diff_frac: 0.2,
        }
    }
}

impl EvalOptions {
    /// Checks that every number is usable.
    ///
    /// # Errors
    /// [`EvalError::InvalidOption`] naming the field.
    pub fn validate(&self) -> Result<(), EvalError> {
        // 9e9 s keeps the ns value inside i64.
        if !(self.max_time_diff_s.is_finite() && (0.0..9e9).contains(&self.max_time_diff_s)) {
            return Err(EvalError::InvalidOption(format!(
                "max_time_diff_s must be a non-negative number of seconds, got {}",
                self.max_time_diff_s
            )));
        }
        if !(self.rpe_max_length_diff_frac.is_finite() && self.rpe_max_length_diff_frac > 0.0) {
            return Err(EvalError::InvalidOption(format!(
                "rpe_max_length_diff_frac must be positive, got {}",
                self.rpe_max_length_diff_frac
            )));
        }
        if let Some(bad) = self
            .rpe_segments_m
            .iter()
            .flatten()
            .find(|l| !(l.is_finite() && **l > 0.0))
        {
            return Err(EvalError::InvalidOption(format!(
                "RPE segment lengths must be positive metres, got {bad}"
            )));
        }
        Ok(())
    }
}

/// RPE statistics for one sub-trajectory length.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RpeSegment {
    /// Nominal ground-truth length of the sub-trajectories, m.
    pub length_m: f64,
    /// Number of sub-trajectories (start poses with an end at about `length_m`).
    pub count: usize,
    /// Translation error, m (`None` when `count` is 0).
    pub trans_m: Option<ErrorStats>,
    /// Translation error in % of `length_m`.
    pub trans_pct: Option<ErrorStats>,
    /// Rotation error angle, deg.
    pub rot_deg: Option<ErrorStats>,
    /// Yaw error about the ground truth's z axis, deg.
    pub yaw_deg: Option<ErrorStats>,
}

/// The result of [`evaluate`].
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct EvalReport {
    /// The alignment used.
    pub alignment: Alignment,
    /// Poses in the ground truth.
    pub gt_poses: usize,
    /// Poses in the estimate.
    pub est_poses: usize,
    /// Matched pose pairs; ATE is over these.
    pub matched_poses: usize,
    /// The association limit used, s.
    pub max_time_diff_s: f64,
    /// Largest `|t_est - t_gt|` among the matched pairs, s.
    pub max_matched_dt_s: f64,
    /// The fitted alignment: `p_gt = gt_world_from_est_world * (scale * p_est)`.
    pub transform: SimilarityTransform,
    /// Path length of the matched ground-truth poses, m.
    pub path_length_m: f64,
    /// ATE of positions after alignment, m.
    pub ate_trans_m: ErrorStats,
    /// ATE of orientations after alignment, deg.
    pub ate_rot_deg: ErrorStats,
    /// RPE per sub-trajectory length, shortest first as given.
    pub rpe: Vec<RpeSegment>,
}

/// Associates, aligns and measures `est` against `gt` (see the module docs).
///
/// # Errors
/// [`EvalError::InvalidOption`] for a bad option, [`EvalError::InvalidTrajectory`]
/// for an empty trajectory, [`EvalError::NoOverlap`] when no pair of poses is within
/// `max_time_diff_s`, [`EvalError::TooFewMatches`] or
/// [`EvalError::DegenerateAlignment`] when the matches cannot fix the alignment.
pub fn evaluate(
    gt: &Trajectory,
    est: &Trajectory,
    opts: &EvalOptions,
) -> Result<EvalReport, EvalError> {
    opts.validate()?;
    for (traj, what) in [(gt, "ground truth"), (est, "estimate")] {
        if traj.is_empty() {
            return Err(EvalError::InvalidTrajectory(format!(
                "{} has no poses",
                traj.describe(what)
            )));
        }
    }
    let max_time_diff_ns = (opts.max_time_diff_s * 1e9).round() as i64;
    let matches = associate(gt, est, max_time_diff_ns);
    tracing::debug!(
        gt = gt.len(),
        est = est.len(),
        matched = matches.len(),
        "associated by timestamp"
    );
    if matches.is_empty() {
        return Err(EvalError::NoOverlap(format!(
            "no pose of {} is within {} s of a pose of {} ({})",
            est.describe("the estimate"),
            opts.max_time_diff_s,
            gt.describe("the ground truth"),
            spans(gt, est)
        )));
    }

    let gt_poses: Vec<Isometry3<f64>> = matches
        .iter()
        .map(|m| gt.world_from_body()[m.gt_index])
        .collect();
    let est_poses: Vec<Isometry3<f64>> = matches
        .iter()
        .map(|m| est.world_from_body()[m.est_index])
        .collect();
    let point = |p: &Isometry3<f64>| Point3::from(p.translation.vector);
    let gt_points: Vec<Point3<f64>> = gt_poses.iter().map(point).collect();
    let est_points: Vec<Point3<f64>> = est_poses.iter().map(point).collect();
    let transform = align(opts.align, &est_points, &gt_points)?;
    let est_aligned: Vec<Isometry3<f64>> = est_poses
        .iter()
        .map(|p| transform.transform_pose(p))
        .collect();

    let abs = metrics::absolute_errors(&gt_poses, &est_aligned);
    let (Some(ate_trans_m), Some(ate_rot_deg)) = (
        ErrorStats::from_values(&abs.trans_m),
        ErrorStats::from_values(&abs.rot_deg),
    ) else {
        return Err(EvalError::NoOverlap("no matched poses".into()));
    };

    let path_length_m = metrics::distances_from_start(&gt_poses)
        .last()
        .copied()
        .unwrap_or(0.0);
    let lengths = opts
        .rpe_segments_m
        .clone()
        .unwrap_or_else(|| metrics::default_segment_lengths(path_length_m));
    let rpe = lengths
        .iter()
        .map(|&length_m| {
            let errs = metrics::relative_errors(
                &gt_poses,
                &est_aligned,
                length_m,
                opts.rpe_max_length_diff_frac * length_m,
            );
            let collect = |f: &dyn Fn(&metrics::RelativeError) -> f64| {
                ErrorStats::from_values(&errs.iter().map(f).collect::<Vec<_>>())
            };
            RpeSegment {
                length_m,
                count: errs.len(),
                trans_m: collect(&|e| e.trans_m),
                trans_pct: collect(&|e| 100.0 * e.trans_m / length_m),
                rot_deg: collect(&|e| e.rot_deg),
                yaw_deg: collect(&|e| e.yaw_deg),
            }
        })
        .collect();

    let max_matched_dt_ns = matches
        .iter()
        .map(|m| m.dt_ns.unsigned_abs())
        .max()
        .unwrap_or(0);
    Ok(EvalReport {
        alignment: opts.align,
        gt_poses: gt.len(),
        est_poses: est.len(),
        matched_poses: matches.len(),
        max_time_diff_s: opts.max_time_diff_s,
        max_matched_dt_s: max_matched_dt_ns as f64 * 1e-9,
        transform,
        path_length_m,
        ate_trans_m,
        ate_rot_deg,
        rpe,
    })
}

fn spans(gt: &Trajectory, est: &Trajectory) -> String {
    let span = |t: &Trajectory| match (t.t_ns().first(), t.t_ns().last()) {
        (Some(&a), Some(&b)) => {
            format!(
                "{} to {} s",
                trajectory::format_seconds(a),
                trajectory::format_seconds(b)
            )
        }
        _ => "empty".to_string(),
    };
    format!(
        "ground truth spans {}, estimate spans {}",
        span(gt),
        span(est)
    )
}

impl fmt::Display for EvalReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "matched {} poses (estimate {}, ground truth {}); largest |dt| {:.3} ms (limit {:.3} ms)",
            self.matched_poses,
            self.est_poses,
            self.gt_poses,
            self.max_matched_dt_s * 1e3,
            self.max_time_diff_s * 1e3
        )?;
        let iso = &self.transform.gt_world_from_est_world;
        let t = iso.translation.vector;
        let (axis, angle) = iso
            .rotation
            .axis_angle()
            .map_or(([0.0, 0.0, 1.0], 0.0), |(a, ang)| ([a.x, a.y, a.z], ang));
        writeln!(
            f,
            "alignment {}: scale {:.6}, rotation {:.4} deg about [{:.4}, {:.4}, {:.4}], \
             translation [{:.4}, {:.4}, {:.4}] m",
            self.alignment,
            self.transform.scale,
            angle.to_degrees(),
            axis[0],
            axis[1],
            axis[2],
            t.x,
            t.y,
            t.z
        )?;
        writeln!(
            f,
            "ground-truth path length over the matched poses: {:.3} m",
            self.path_length_m
        )?;
        writeln!(f)?;
        writeln!(
            f,
            "{:<18} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}",
            format!("ATE ({} poses)", self.ate_trans_m.count),
            "rmse",
            "mean",
            "median",
            "std",
            "min",
            "max"
        )?;
        for (name, s) in [
            ("  translation [m]", &self.ate_trans_m),
            ("  rotation [deg]", &self.ate_rot_deg),
        ] {
            writeln!(
                f,
                "{name:<18} {:>10.6} {:>10.6} {:>10.6} {:>10.6} {:>10.6} {:>10.6}",
                s.rmse, s.mean, s.median, s.std, s.min, s.max
            )?;
        }
        writeln!(f)?;
        if self.rpe.is_empty() {
            return writeln!(f, "RPE: no segment length (path too short)");
        }
        writeln!(
            f,
            "RPE over ground-truth distance (rpg_trajectory_evaluation style)"
        )?;
        writeln!(
            f,
            "  {:>9} {:>6} {:>12} {:>12} {:>12} {:>10} {:>10} {:>10}",
            "length[m]",
            "pairs",
            "trans_rmse",
            "trans_mean",
            "trans_med",
            "trans[%]",
            "rot[deg]",
            "yaw[deg]"
        )?;
        writeln!(
            f,
            "  {:>9} {:>6} {:>12} {:>12} {:>12} {:>10} {:>10} {:>10}",
            "", "", "[m]", "[m]", "[m]", "mean", "mean", "mean"
        )?;
        for seg in &self.rpe {
            match (&seg.trans_m, &seg.trans_pct, &seg.rot_deg, &seg.yaw_deg) {
                (Some(tm), Some(tp), Some(r), Some(y)) => writeln!(
                    f,
                    "  {:>9.2} {:>6} {:>12.6} {:>12.6} {:>12.6} {:>10.3} {:>10.4} {:>10.4}",
                    seg.length_m, seg.count, tm.rmse, tm.mean, tm.median, tp.mean, r.mean, y.mean
                )?,
                _ => writeln!(
                    f,
                    "  {:>9.2} {:>6}   (no sub-trajectory of this length)",
                    seg.length_m, seg.count
                )?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use nalgebra::{Translation3, UnitQuaternion, Vector3};

    use super::*;

    fn helix(n: usize, t0: i64) -> Trajectory {
        let t: Vec<i64> = (0..n as i64).map(|k| t0 + k * 50_000_000).collect();
        let poses = (0..n)
            .map(|k| {
                let s = k as f64 * 0.05;
                Isometry3::from_parts(
                    Translation3::new(2.0 * s.cos(), 1.5 * (2.0 * s).sin(), 0.3 * s),
                    UnitQuaternion::from_euler_angles(0.1 * s.sin(), 0.2 * s.cos(), s),
                )
            })
            .collect();
        match Trajectory::new(t, poses) {
            Ok(t) => t,
            Err(e) => panic!("{e}"),
        }
    }

    fn moved(traj: &Trajectory, world: &SimilarityTransform, dt_ns: i64) -> Trajectory {
        let t = traj.t_ns().iter().map(|t| t + dt_ns).collect();
        let poses = traj
            .world_from_body()
            .iter()
            .map(|p| {
                // world.transform_pose maps est -> gt; build est = inverse of that.
                let inv = world.gt_world_from_est_world.inverse();
                let q = inv * p;
                Isometry3::from_parts(
                    Translation3::from(q.translation.vector / world.scale),
                    q.rotation,
                )
            })
            .collect();
        match Trajectory::new(t, poses) {
            Ok(t) => t,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn exact_copies_evaluate_to_zero_for_every_alignment() -> Result<(), EvalError> {
        let gt = helix(200, 1_000_000_000);
        let world = SimilarityTransform {
            gt_world_from_est_world: Isometry3::from_parts(
                Translation3::new(1.0, 2.0, 0.5),
                UnitQuaternion::from_axis_angle(&Vector3::z_axis(), 0.7),
            ),
            scale: 1.0,
        };
        let est = moved(&gt, &world, 3_000_000);
        for align in [Alignment::Se3, Alignment::PosYaw, Alignment::Sim3] {
            let r = evaluate(
                &gt,
                &est,
                &EvalOptions {
                    align,
                    ..EvalOptions::default()
                },
            )?;
            assert_eq!(r.matched_poses, 200);
            assert!(r.ate_trans_m.max < 1e-9, "{align}: {}", r.ate_trans_m.max);
            assert!(r.ate_rot_deg.max < 1e-6, "{align}");
            assert_eq!(r.rpe.len(), 5);
            for seg in &r.rpe {
                assert!(seg.count > 0);
                assert!(seg.trans_m.is_some_and(|s| s.max < 1e-9));
            }
            let text = r.to_string();
            assert!(
                text.contains("matched 200 poses") && text.contains("RPE"),
                "{text}"
            );
        }
        // Without alignment the ATE is the offset, while RPE stays zero.
        let r = evaluate(
            &gt,
            &est,
            &EvalOptions {
                align: Alignment::None,
                ..Default::default()
            },
        )?;
        assert!(r.ate_trans_m.min > 0.1);
        assert!(
            r.rpe
                .iter()
                .all(|s| s.trans_m.is_some_and(|s| s.max < 1e-9))
        );
        Ok(())
    }

    #[test]
    fn sim3_recovers_scale_and_report_serializes() -> Result<(), EvalError> {
        let gt = helix(100, 0);
        let world = SimilarityTransform {
            scale: 2.5,
            ..SimilarityTransform::identity()
        };
        let est = moved(&gt, &world, 0);
        let opts = EvalOptions {
            align: Alignment::Sim3,
            rpe_segments_m: Some(vec![1.0, 1000.0]),
            ..Default::default()
        };
        let r = evaluate(&gt, &est, &opts)?;
        assert!((r.transform.scale - 2.5).abs() < 1e-12);
        assert!(r.ate_trans_m.max < 1e-9);
        assert_eq!(r.rpe[1].count, 0);
        assert!(r.rpe[1].trans_m.is_none());
        assert!(r.to_string().contains("no sub-trajectory of this length"));
        let json =
            serde_json::to_string(&r).map_err(|e| EvalError::InvalidOption(e.to_string()))?;
        assert!(json.contains("\"alignment\":\"sim3\""), "{json}");
        Ok(())
    }

    #[test]
    fn bad_inputs_are_errors_not_panics() {
        let gt = helix(50, 0);
        let far = helix(50, 1_000_000_000_000);
        let e = evaluate(&gt, &far, &EvalOptions::default())
            .map(|_| ())
            .map_err(|e| e.to_string());
        let Err(msg) = e else {
            panic!("expected an error")
        };
        assert!(msg.starts_with("no overlapping timestamps"), "{msg}");
        assert!(
            msg.contains("ground truth spans 0.000000000 to 2.450000000 s"),
            "{msg}"
        );

        let empty = Trajectory::default();
        assert!(matches!(
            evaluate(&gt, &empty, &EvalOptions::default()),
            Err(EvalError::InvalidTrajectory(_))
        ));
        let one = match Trajectory::new(vec![0], vec![Isometry3::identity()]) {
            Ok(t) => t,
            Err(e) => panic!("{e}"),
        };
        assert!(matches!(
            evaluate(
                &gt,
                &one,
                &EvalOptions {
                    align: Alignment::Se3,
                    ..Default::default()
                }
            ),
            Err(EvalError::TooFewMatches {
                needed: 3,
                found: 1,
                ..
            })
        ));
        for opts in [
            EvalOptions {
                max_time_diff_s: f64::NAN,
                ..Default::default()
            },
            EvalOptions {
                max_time_diff_s: -1.0,
                ..Default::default()
            },
            EvalOptions {
                rpe_segments_m: Some(vec![1.0, 0.0]),
                ..Default::default()
            },
            EvalOptions {
                rpe_max_length_diff_frac: 0.0,
                ..Default::default()
            },
        ] {
            assert!(matches!(
                evaluate(&gt, &gt, &opts),
                Err(EvalError::InvalidOption(_))
            ));
        }
    }

    #[test]
    fn options_deserialize_with_defaults() -> Result<(), serde_json::Error> {
        let o: EvalOptions = serde_json::from_str(r#"{"align":"se3"}"#)?;
        assert_eq!(
            o,
            EvalOptions {
                align: Alignment::Se3,
                ..EvalOptions::default()
            }
        );
        Ok(())
    }

    #[test]
    fn more_freedom_never_fits_worse() -> Result<(), EvalError> {
        // Noisy, tilted, scaled estimate: the optimal RMSEs must be ordered
        // sim3 <= se3 <= posyaw <= none, and each fit must beat nearby transforms.
        let gt = helix(150, 0);
        let world = SimilarityTransform {
            gt_world_from_est_world: Isometry3::from_parts(
                Translation3::new(0.3, -0.2, 0.1),
                UnitQuaternion::from_euler_angles(0.03, -0.02, 1.2),
            ),
            scale: 1.1,
        };
        let clean = moved(&gt, &world, 0);
        let noisy: Vec<Isometry3<f64>> = clean
            .world_from_body()
            .iter()
            .enumerate()
            .map(|(k, p)| {
                let k = k as f64;
                let n = Vector3::new((k * 1.7).sin(), (k * 2.3).cos(), (k * 0.9).sin()) * 0.02;
                Isometry3::from_parts(Translation3::from(p.translation.vector + n), p.rotation)
            })
            .collect();
        let est = Trajectory::new(clean.t_ns().to_vec(), noisy)?;
        let rmse = |align| -> Result<f64, EvalError> {
            let r = evaluate(
                &gt,
                &est,
                &EvalOptions {
                    align,
                    ..EvalOptions::default()
                },
            )?;
            Ok(r.ate_trans_m.rmse)
        };
        let (sim3, se3, posyaw, none) = (
            rmse(Alignment::Sim3)?,
            rmse(Alignment::Se3)?,
            rmse(Alignment::PosYaw)?,
            rmse(Alignment::None)?,
        );
        assert!(
            sim3 <= se3 && se3 <= posyaw && posyaw <= none,
            "{sim3} {se3} {posyaw} {none}"
        );

        // Local optimality of the position+yaw closed form.
        let pts = |t: &Trajectory| -> Vec<Point3<f64>> {
            t.world_from_body()
                .iter()
                .map(|p| Point3::from(p.translation.vector))
                .collect()
        };
        let (x, y) = (pts(&est), pts(&gt));
        let fit = align(Alignment::PosYaw, &x, &y)?;
        let sse = |s: &SimilarityTransform| -> f64 {
            x.iter()
                .zip(&y)
                .map(|(a, b)| (s.transform_point(a) - b).norm_squared())
                .sum()
        };
        let best = sse(&fit);
        for d in [1e-3, -1e-3] {
            let turn = UnitQuaternion::from_axis_angle(&Vector3::z_axis(), d);
            let shift = Isometry3::translation(d, -d, d);
            for nudge in [Isometry3::from_parts(Translation3::identity(), turn), shift] {
                let other = SimilarityTransform {
                    gt_world_from_est_world: nudge * fit.gt_world_from_est_world,
                    scale: 1.0,
                };
                assert!(sse(&other) > best);
            }
        }
        Ok(())
    }
}
