//! Error metrics on matched, aligned poses: absolute trajectory error (ATE) and
//! relative pose error (RPE) over distance segments.
//!
//! Inputs are equally long slices of matched poses in the ground-truth world frame:
//! `gt[k]` (`gt_world_from_body`) and `est[k]`, the estimate already moved by the
//! alignment ([`super::align::SimilarityTransform::transform_pose`]). Metres and
//! degrees.
//!
//! - **ATE** ([`absolute_errors`]): per pose, the translation error
//!   `|p_gt - p_est|` (m), which is `evo_ape`'s default `translation_part` relation,
//!   and the rotation error angle of `R_gt^T R_est` (deg). Summarized by
//!   [`ErrorStats`] with numpy's conventions as evo uses them (population std,
//!   median of an even count is the mean of the two middle values).
//! - **RPE** ([`relative_errors`]): as rpg_trajectory_evaluation
//!   (`compute_relative_error`; Zhang & Scaramuzza, IROS 2018, Sec. IV-B). Along the
//!   ground-truth path with accumulated distance `d_k`, each start `i` is paired with
//!   the end `j >= i` whose `d_j` is nearest `d_i + L` if that is within
//!   `max_length_diff_m` (rpg uses `0.2 L`). With `G = gt`, `E = est`, the error is
//!   `dT = (G_i^-1 G_j)^-1 (E_i^-1 E_j)`, expressed in the world axes as
//!   `R_Ej dT R_Ej^-1`: translation error `|t(dT)|` (m, and % of `L`), rotation angle
//!   of `dT` (deg), and the absolute yaw of its Z-Y-X Euler angles (deg). Because an
//!   SE(3) alignment cancels in `E_i^-1 E_j`, RPE does not depend on it; a Sim(3)
//!   alignment's scale does scale `E`'s translations, as rpg's `scale` does.
//!   Unlike rpg (which uses the estimate's own, unaligned orientation) the yaw is
//!   taken about the ground truth's gravity axis.

use nalgebra::Isometry3;

/// Summary statistics of a set of non-negative errors.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct ErrorStats {
    /// Number of values.
    pub count: usize,
    /// Root mean square.
    pub rmse: f64,
    /// Mean.
    pub mean: f64,
    /// Median (mean of the two middle values for an even count).
    pub median: f64,
    /// Population standard deviation (numpy's default `ddof = 0`, as evo).
    pub std: f64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
}

impl ErrorStats {
    /// Statistics of `values`; `None` when there is none.
    #[must_use]
    pub fn from_values(values: &[f64]) -> Option<Self> {
        if values.is_empty() {
            return None;
        }
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let rmse = (values.iter().map(|v| v * v).sum::<f64>() / n).sqrt();
        let std = (values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n).sqrt();
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let mid = sorted.len() / 2;
        let median = if sorted.len() % 2 == 1 {
            sorted[mid]
        } else {
            0.5 * (sorted[mid - 1] + sorted[mid])
        };
        Some(Self {
            count: values.len(),
            rmse,
            mean,
            median,
            std,
            min: sorted[0],
            max: sorted[sorted.len() - 1],
        })
    }
}

/// Per-pose absolute errors.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AbsoluteErrors {
    /// `|p_gt - p_est|`, m.
    pub trans_m: Vec<f64>,
    /// Angle of `R_gt^T R_est`, deg.
    pub rot_deg: Vec<f64>,
}

/// Absolute errors of aligned estimate poses `est[k]` against `gt[k]` (both
/// `gt_world_from_body`). Pairs beyond the shorter slice are ignored.
#[must_use]
pub fn absolute_errors(gt: &[Isometry3<f64>], est: &[Isometry3<f64>]) -> AbsoluteErrors {
    let (trans_m, rot_deg) = gt
        .iter()
        .zip(est)
        .map(|(g, e)| {
            let dt = (g.translation.vector - e.translation.vector).norm();
            let dr = g.rotation.angle_to(&e.rotation).to_degrees();
            (dt, dr)
        })
        .unzip();
    AbsoluteErrors { trans_m, rot_deg }
}

/// Accumulated path length at each pose, m (`d_0 = 0`).
#[must_use]
pub fn distances_from_start(poses: &[Isometry3<f64>]) -> Vec<f64> {
    let mut d = Vec::with_capacity(poses.len());
    let mut acc = 0.0;
    for (k, pose) in poses.iter().enumerate() {
        if k > 0 {
            acc += (pose.translation.vector - poses[k - 1].translation.vector).norm();
        }
        d.push(acc);
    }
    d
}

/// The default RPE segment lengths: 10, 20, 30, 40 and 50 % of `path_length_m`,
/// truncated to centimetres, as rpg_trajectory_evaluation's
/// `compute_boxplot_distances`; lengths that truncate to 0 are left out.
#[must_use]
pub fn default_segment_lengths(path_length_m: f64) -> Vec<f64> {
    [0.1, 0.2, 0.3, 0.4, 0.5]
        .iter()
        .map(|pct| (pct * path_length_m * 100.0).trunc() / 100.0)
        .filter(|&l| l > 0.0 && l.is_finite())
        .collect()
}

/// The error of one sub-trajectory.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RelativeError {
    /// Index of its first pose.
    pub start: usize,
    /// Index of its last pose.
    pub end: usize,
    /// Ground-truth path length between them, m.
    pub length_m: f64,
    /// Translation error, m.
    pub trans_m: f64,
    /// Rotation error angle, deg.
    pub rot_deg: f64,
    /// Absolute yaw of the rotation error in world axes, deg.
    pub yaw_deg: f64,
}

/// The end index paired with start `i` for segment length `length_m`: the `j >= i`
/// with `d_j` nearest `d_i + length_m` (the earliest on a tie), if nearer than
/// `max_diff_m`. `d` is non-decreasing.
fn segment_end(d: &[f64], i: usize, length_m: f64, max_diff_m: f64) -> Option<usize> {
    let target = d[i] + length_m;
    let tail = &d[i..];
    let up = tail.partition_point(|&x| x < target); // first with d >= target
    let mut best: Option<(usize, f64)> = None;
    if up > 0 {
        // The earliest index holding the value just below the target.
        let value = tail[up - 1];
        let first = tail[..up].partition_point(|&x| x < value);
        best = Some((first, target - value));
    }
    if let Some(&value) = tail.get(up) {
        let err = value - target;
        if best.is_none_or(|(_, e)| err < e) {
            best = Some((up, err));
        }
    }
    best.filter(|&(_, e)| e < max_diff_m).map(|(k, _)| i + k)
}

/// Relative errors over every sub-trajectory of ground-truth length about
/// `length_m` (see the module docs), in order of their start.
#[must_use]
pub fn relative_errors(
    gt: &[Isometry3<f64>],
    est: &[Isometry3<f64>],
    length_m: f64,
    max_length_diff_m: f64,
) -> Vec<RelativeError> {
    let n = gt.len().min(est.len());
    let d = distances_from_start(&gt[..n]);
    let mut out = Vec::new();
    for i in 0..n {
        let Some(j) = segment_end(&d, i, length_m, max_length_diff_m) else {
            continue;
        };
        let gt_rel = gt[i].inv_mul(&gt[j]);
        let est_rel = est[i].inv_mul(&est[j]);
        let error = gt_rel.inv_mul(&est_rel);
        let r_world = est[j].rotation * error.rotation * est[j].rotation.inverse();
        let (_, _, yaw) = r_world.euler_angles();
        out.push(RelativeError {
            start: i,
            end: j,
            length_m: d[j] - d[i],
            trans_m: error.translation.vector.norm(),
            rot_deg: error.rotation.angle().to_degrees(),
            yaw_deg: yaw.abs().to_degrees(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use nalgebra::{Translation3, UnitQuaternion, Vector3};

    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn stats_match_numpy_conventions() {
        let s = ErrorStats::from_values(&[3.0, 1.0, 4.0, 1.0]);
        let Some(s) = s else { panic!("no stats") };
        assert_eq!(s.count, 4);
        assert!(close(s.mean, 2.25));
        assert!(close(s.median, 2.0));
        assert!(close(s.rmse, (27.0f64 / 4.0).sqrt()));
        assert!(close(s.std, (6.75f64 - 2.25 * 2.25).sqrt()));
        assert_eq!((s.min, s.max), (1.0, 4.0));
        let Some(odd) = ErrorStats::from_values(&[5.0, 1.0, 2.0]) else {
            panic!("no stats")
        };
        assert!(close(odd.median, 2.0));
        assert_eq!(ErrorStats::from_values(&[]), None);
    }

    fn helix(n: usize) -> Vec<Isometry3<f64>> {
        (0..n)
            .map(|k| {
                let s = k as f64 * 0.05;
                Isometry3::from_parts(
                    Translation3::new(2.0 * s.cos(), 2.0 * s.sin(), 0.3 * s),
                    UnitQuaternion::from_euler_angles(0.1 * s.sin(), 0.2 * s.cos(), s),
                )
            })
            .collect()
    }

    #[test]
    fn rpe_is_zero_under_a_global_rigid_transform() {
        let gt = helix(300);
        let world = Isometry3::from_parts(
            Translation3::new(5.0, -3.0, 1.0),
            UnitQuaternion::from_euler_angles(0.3, -0.4, 2.0),
        );
        let est: Vec<_> = gt.iter().map(|p| world * p).collect();
        let length = distances_from_start(&gt)[299];
        for l in default_segment_lengths(length) {
            let errs = relative_errors(&gt, &est, l, 0.2 * l);
            assert!(!errs.is_empty());
            for e in errs {
                assert!(
                    e.trans_m < 1e-9 && e.rot_deg < 1e-6 && e.yaw_deg < 1e-6,
                    "{e:?}"
                );
                assert!((e.length_m - l).abs() < 0.2 * l);
            }
        }
        // ...while the absolute error is large.
        let ate = absolute_errors(&gt, &est);
        assert!(ate.trans_m.iter().all(|&e| e > 1.0));
    }

    #[test]
    fn rpe_sees_a_yaw_drift() {
        // Estimate yaws at 1 deg per metre about the start: a segment of L metres has
        // about L deg of yaw error.
        let gt: Vec<_> = (0..200)
            .map(|k| Isometry3::translation(0.1 * k as f64, 0.0, 0.0))
            .collect();
        let est: Vec<_> = gt
            .iter()
            .map(|p| {
                let yaw = UnitQuaternion::from_axis_angle(
                    &Vector3::z_axis(),
                    p.translation.vector.x.to_radians(),
                );
                Isometry3::from_parts(Translation3::from(yaw * p.translation.vector), yaw)
            })
            .collect();
        let errs = relative_errors(&gt, &est, 5.0, 0.05);
        assert_eq!(errs.len(), 200 - 50);
        for e in &errs {
            assert!(
                (e.yaw_deg - 5.0).abs() < 1e-9 && (e.rot_deg - 5.0).abs() < 1e-9,
                "{e:?}"
            );
            assert!(e.trans_m > 0.0);
        }
    }

    #[test]
    fn segment_end_picks_nearest_within_limit() {
        let d = [0.0, 1.0, 1.0, 2.0, 2.9, 4.2];
        assert_eq!(segment_end(&d, 0, 1.0, 0.2), Some(1)); // earliest of the equal 1.0s
        assert_eq!(segment_end(&d, 0, 3.0, 0.2), Some(4));
        assert_eq!(segment_end(&d, 0, 3.5, 0.2), None);
        assert_eq!(segment_end(&d, 4, 1.0, 0.2), None);
        assert_eq!(segment_end(&d, 3, 1.0, 0.2), Some(4));
        assert_eq!(segment_end(&d, 5, 1.0, 10.0), Some(5)); // only itself: 1 m off
    }

    #[test]
    fn default_lengths_truncate_like_rpg() {
        assert_eq!(
            default_segment_lengths(23.456),
            vec![2.34, 4.69, 7.03, 9.38, 11.72]
        );
        assert!(default_segment_lengths(0.015).is_empty());
    }
}
