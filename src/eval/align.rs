//! Alignment of an estimated trajectory to ground truth, on matched positions.
//!
//! Given matched positions `x_i` (estimate, in the estimate's world frame) and `y_i`
//! (ground truth, in the ground-truth world frame), in metres, find the transform
//! that minimizes `sum_i |y_i - (s R x_i + t)|^2`, returned as a
//! [`SimilarityTransform`] `gt_world_from_est_world` with scale `s`:
//!
//! - [`Alignment::Se3`]: `R` in SO(3), `s = 1`. Umeyama, "Least-squares estimation
//!   of transformation parameters between two point patterns", IEEE PAMI 13(4),
//!   1991: with means `mu_x, mu_y`, covariance `Sigma = 1/n sum (y_i - mu_y)(x_i - mu_x)^T
//!   = U D V^T` (eq. 38), `R = U S V^T` (eq. 40) where `S = diag(1, 1, -1)` when
//!   `det(U) det(V) < 0` (the reflection fix, eq. 43) and `I` otherwise, and
//!   `t = mu_y - s R mu_x` (eq. 41). This is exactly `evo`'s `umeyama_alignment`
//!   (`evo_ape -a`).
//! - [`Alignment::Sim3`]: as SE(3) with `s = trace(D S) / sigma_x^2`, `sigma_x^2 =
//!   1/n sum |x_i - mu_x|^2` (eq. 42), as `evo_ape -as`. For monocular estimates.
//! - [`Alignment::PosYaw`]: `R = Rz(theta)` a rotation about the gravity axis z only,
//!   `s = 1`: the 4 degrees of freedom a visual-inertial estimator cannot observe
//!   (Zhang & Scaramuzza, "A Tutorial on Quantitative Trajectory Evaluation for
//!   Visual(-Inertial) Odometry", IROS 2018, Sec. III-B; rpg_trajectory_evaluation's
//!   `align_umeyama(..., yaw_only=True)`). With `C = sum (x_i - mu_x)(y_i - mu_y)^T`,
//!   `trace(Rz(theta) C) = cos(theta)(C00 + C11) + sin(theta)(C01 - C10) + C22`, so
//!   `theta = atan2(C01 - C10, C00 + C11)` in closed form, and `t = mu_y - R mu_x`.
//!   Roll and pitch errors of the estimate stay in the residual, as they should:
//!   gravity makes them observable.
//! - [`Alignment::None`]: identity; the two world frames are taken to be the same.

use std::fmt;
use std::str::FromStr;

use nalgebra::{Isometry3, Matrix3, Point3, Rotation3, Translation3, UnitQuaternion, Vector3};

use super::error::EvalError;

/// Which transform to fit between the estimate's world frame and ground truth's.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Alignment {
    /// Rotation and translation (6 DoF), Umeyama; `evo_ape -a`.
    Se3,
    /// Translation and rotation about gravity (z) only (4 DoF): the usual choice for
    /// visual-inertial odometry, whose roll and pitch are observable.
    #[default]
    PosYaw,
    /// Scale, rotation and translation (7 DoF), Umeyama; `evo_ape -as`.
    Sim3,
    /// No alignment: the estimate is compared as it is.
    None,
}

impl Alignment {
    /// Every alignment, in the order of the command line's help.
    pub const ALL: [Alignment; 4] = [Self::Se3, Self::PosYaw, Self::Sim3, Self::None];

    /// The command-line name: `se3`, `posyaw`, `sim3` or `none`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Se3 => "se3",
            Self::PosYaw => "posyaw",
            Self::Sim3 => "sim3",
            Self::None => "none",
        }
    }

    /// The fewest matched poses that can determine this alignment.
    #[must_use]
    pub fn min_matches(self) -> usize {
        match self {
            Self::Se3 | Self::Sim3 => 3,
            Self::PosYaw => 2,
            Self::None => 1,
        }
    }
}

impl fmt::Display for Alignment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Alignment {
    type Err = EvalError;

    /// Parses `se3`, `posyaw`, `sim3` or `none` (ASCII case ignored).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|a| a.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                EvalError::InvalidOption(format!(
                    "unknown alignment '{s}' (expected se3, posyaw, sim3 or none)"
                ))
            })
    }
}

/// `p_gt_world = gt_world_from_est_world * (scale * p_est_world)`: the fitted
/// alignment, a rigid transform after a uniform scale about the estimate's origin.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct SimilarityTransform {
    /// Rotation and translation (m) from the estimate's world to ground truth's.
    pub gt_world_from_est_world: Isometry3<f64>,
    /// Scale applied to estimate positions first (1 except for Sim(3)).
    pub scale: f64,
}

impl SimilarityTransform {
    /// The identity (no alignment).
    #[must_use]
    pub fn identity() -> Self {
        Self {
            gt_world_from_est_world: Isometry3::identity(),
            scale: 1.0,
        }
    }

    /// A point of the estimate's world in ground truth's world.
    #[must_use]
    pub fn transform_point(&self, p_est_world: &Point3<f64>) -> Point3<f64> {
        self.gt_world_from_est_world * (p_est_world * self.scale)
    }

    /// An estimated pose `est_world_from_body` as `gt_world_from_body`: its
    /// position scaled and moved, its orientation rotated.
    #[must_use]
    pub fn transform_pose(&self, est_world_from_body: &Isometry3<f64>) -> Isometry3<f64> {
        let scaled = Isometry3::from_parts(
            Translation3::from(est_world_from_body.translation.vector * self.scale),
            est_world_from_body.rotation,
        );
        self.gt_world_from_est_world * scaled
    }
}

/// Fits `alignment` to matched positions (`est[i]` matches `gt[i]`), in metres.
///
/// # Errors
/// [`EvalError::InvalidOption`] when the slices differ in length,
/// [`EvalError::TooFewMatches`] below [`Alignment::min_matches`],
/// [`EvalError::DegenerateAlignment`] when the positions do not determine the
/// transform (collinear for SE(3)/Sim(3), no horizontal spread for position+yaw).
pub fn align(
    alignment: Alignment,
    est: &[Point3<f64>],
    gt: &[Point3<f64>],
) -> Result<SimilarityTransform, EvalError> {
    if est.len() != gt.len() {
        return Err(EvalError::InvalidOption(format!(
            "align: {} estimate positions but {} ground-truth positions",
            est.len(),
            gt.len()
        )));
    }
    if est.len() < alignment.min_matches() {
        return Err(EvalError::TooFewMatches {
            alignment,
            needed: alignment.min_matches(),
            found: est.len(),
        });
    }
    match alignment {
        Alignment::Se3 => umeyama(est, gt, false),
        Alignment::Sim3 => umeyama(est, gt, true),
        Alignment::PosYaw => pos_yaw(est, gt),
        Alignment::None => Ok(SimilarityTransform::identity()),
    }
}

fn mean(points: &[Point3<f64>]) -> Vector3<f64> {
    let sum = points
        .iter()
        .fold(Vector3::zeros(), |acc, p| acc + p.coords);
    sum / points.len() as f64
}

/// Umeyama (1991) SE(3) or Sim(3) fit `gt ~ s R est + t`; see the module docs.
///
/// # Errors
/// As [`align`].
pub fn umeyama(
    est: &[Point3<f64>],
    gt: &[Point3<f64>],
    with_scale: bool,
) -> Result<SimilarityTransform, EvalError> {
    let alignment = if with_scale {
        Alignment::Sim3
    } else {
        Alignment::Se3
    };
    let degenerate = |reason: String| EvalError::DegenerateAlignment { alignment, reason };
    if est.len() != gt.len() || est.len() < 3 {
        return Err(EvalError::TooFewMatches {
            alignment,
            needed: 3,
            found: est.len().min(gt.len()),
        });
    }
    let n = est.len() as f64;
    let mu_x = mean(est);
    let mu_y = mean(gt);
    let mut sigma = Matrix3::zeros();
    let mut var_x = 0.0;
    for (x, y) in est.iter().zip(gt) {
        let dx = x.coords - mu_x;
        sigma += (y.coords - mu_y) * dx.transpose();
        var_x += dx.norm_squared();
    }
    sigma /= n;
    var_x /= n;
    if !sigma.iter().all(|v| v.is_finite()) || !var_x.is_finite() {
        return Err(degenerate(
            "positions too large to form their covariance".into(),
        ));
    }
    let svd = sigma
        .try_svd(true, true, f64::EPSILON, 0)
        .ok_or_else(|| degenerate("the SVD of the covariance did not converge".into()))?;
    let (Some(u), Some(v_t)) = (svd.u, svd.v_t) else {
        return Err(degenerate("the SVD returned no singular vectors".into()));
    };
    let d = svd.singular_values; // sorted, largest first
    if d[0] <= 0.0 || d[1] <= 1e-12 * d[0] {
        return Err(degenerate(format!(
            "the matched positions are (nearly) collinear or coincident (singular values {:.3e}, \
             {:.3e}, {:.3e}), so the rotation about their line is free",
            d[0], d[1], d[2]
        )));
    }
    let mut s_diag = Vector3::new(1.0, 1.0, 1.0);
    if u.determinant() * v_t.determinant() < 0.0 {
        s_diag[2] = -1.0;
    }
    let r = u * Matrix3::from_diagonal(&s_diag) * v_t;
    let scale = if with_scale {
        d.dot(&s_diag) / var_x
    } else {
        1.0
    };
    let t = mu_y - scale * (r * mu_x);
    let rotation = UnitQuaternion::from_rotation_matrix(&Rotation3::from_matrix_unchecked(r));
    Ok(SimilarityTransform {
        gt_world_from_est_world: Isometry3::from_parts(Translation3::from(t), rotation),
        scale,
    })
}

/// Position + yaw (4-DoF) fit `gt ~ Rz(theta) est + t`; see the module docs.
///
/// # Errors
/// As [`align`].
pub fn pos_yaw(est: &[Point3<f64>], gt: &[Point3<f64>]) -> Result<SimilarityTransform, EvalError> {
    let alignment = Alignment::PosYaw;
    if est.len() != gt.len() || est.len() < 2 {
        return Err(EvalError::TooFewMatches {
            alignment,
            needed: 2,
            found: est.len().min(gt.len()),
        });
    }
    let mu_x = mean(est);
    let mu_y = mean(gt);
    let mut c = Matrix3::zeros();
    let mut spread = 0.0;
    for (x, y) in est.iter().zip(gt) {
        let dx = x.coords - mu_x;
        let dy = y.coords - mu_y;
        c += dx * dy.transpose();
        spread += dx.xy().norm() * dy.xy().norm();
    }
    let a = c[(0, 1)] - c[(1, 0)];
    let b = c[(0, 0)] + c[(1, 1)];
    if !(a.is_finite() && b.is_finite() && spread.is_finite()) {
        return Err(EvalError::DegenerateAlignment {
            alignment,
            reason: "positions too large to form their covariance".into(),
        });
    }
    if a.hypot(b) <= 1e-12 * spread || spread == 0.0 {
        return Err(EvalError::DegenerateAlignment {
            alignment,
            reason: "the matched positions have no horizontal (x-y) spread, so yaw is free".into(),
        });
    }
    let theta = a.atan2(b);
    let rotation = UnitQuaternion::from_axis_angle(&Vector3::z_axis(), theta);
    let t = mu_y - rotation * mu_x;
    Ok(SimilarityTransform {
        gt_world_from_est_world: Isometry3::from_parts(Translation3::from(t), rotation),
        scale: 1.0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic, non-planar cloud (a twisted helix).
    fn cloud(n: usize) -> Vec<Point3<f64>> {
        (0..n)
            .map(|i| {
                let s = i as f64 * 0.1;
                Point3::new(
                    3.0 * s.cos() + 0.1 * s,
                    2.0 * (1.3 * s).sin(),
                    0.5 * s.sin() + 0.02 * s * s,
                )
            })
            .collect()
    }

    fn known() -> SimilarityTransform {
        let rotation = UnitQuaternion::from_axis_angle(
            &nalgebra::Unit::new_normalize(Vector3::new(0.3, -0.5, 0.8)),
            2.4,
        );
        SimilarityTransform {
            gt_world_from_est_world: Isometry3::from_parts(
                Translation3::new(1.5, -0.7, 10.3),
                rotation,
            ),
            scale: 1.0,
        }
    }

    fn max_residual(fit: &SimilarityTransform, est: &[Point3<f64>], gt: &[Point3<f64>]) -> f64 {
        est.iter()
            .zip(gt)
            .map(|(x, y)| (fit.transform_point(x) - y).norm())
            .fold(0.0, f64::max)
    }

    #[test]
    fn umeyama_recovers_se3_exactly() -> Result<(), EvalError> {
        let est = cloud(50);
        let truth = known();
        let gt: Vec<_> = est.iter().map(|p| truth.transform_point(p)).collect();
        let fit = align(Alignment::Se3, &est, &gt)?;
        let err = truth.gt_world_from_est_world.inverse() * fit.gt_world_from_est_world;
        assert!(err.translation.vector.norm() < 1e-12, "{err}");
        assert!(err.rotation.angle() < 1e-12);
        assert_eq!(fit.scale, 1.0);
        assert!(max_residual(&fit, &est, &gt) < 1e-12);
        Ok(())
    }

    #[test]
    fn umeyama_recovers_sim3_exactly() -> Result<(), EvalError> {
        let est = cloud(50);
        let truth = SimilarityTransform {
            scale: 0.37,
            ..known()
        };
        let gt: Vec<_> = est.iter().map(|p| truth.transform_point(p)).collect();
        let fit = align(Alignment::Sim3, &est, &gt)?;
        assert!((fit.scale - 0.37).abs() < 1e-12, "{}", fit.scale);
        let err = truth.gt_world_from_est_world.inverse() * fit.gt_world_from_est_world;
        assert!(err.translation.vector.norm() < 1e-12 && err.rotation.angle() < 1e-12);
        assert!(max_residual(&fit, &est, &gt) < 1e-12);
        // SE(3) on scaled data cannot fit exactly.
        let rigid = align(Alignment::Se3, &est, &gt)?;
        assert!(max_residual(&rigid, &est, &gt) > 0.1);
        Ok(())
    }

    #[test]
    fn umeyama_handles_planar_points_without_reflection() -> Result<(), EvalError> {
        // Planar data: the covariance has rank 2, where a naive U V^T can be a
        // reflection; the S fix must return a proper rotation.
        let est: Vec<_> = cloud(40)
            .iter()
            .map(|p| Point3::new(p.x, p.y, 0.0))
            .collect();
        let truth = known();
        let gt: Vec<_> = est.iter().map(|p| truth.transform_point(p)).collect();
        let fit = align(Alignment::Se3, &est, &gt)?;
        let r = fit.gt_world_from_est_world.rotation.to_rotation_matrix();
        assert!((r.matrix().determinant() - 1.0).abs() < 1e-12);
        assert!(max_residual(&fit, &est, &gt) < 1e-10);
        Ok(())
    }

    #[test]
    fn pos_yaw_recovers_yaw_and_translation_and_keeps_tilt_errors() -> Result<(), EvalError> {
        let est = cloud(60);
        let yaw = UnitQuaternion::from_axis_angle(&Vector3::z_axis(), -2.2);
        let truth = SimilarityTransform {
            gt_world_from_est_world: Isometry3::from_parts(Translation3::new(0.4, 7.0, -1.0), yaw),
            scale: 1.0,
        };
        let gt: Vec<_> = est.iter().map(|p| truth.transform_point(p)).collect();
        let fit = align(Alignment::PosYaw, &est, &gt)?;
        let err = truth.gt_world_from_est_world.inverse() * fit.gt_world_from_est_world;
        assert!(err.translation.vector.norm() < 1e-12 && err.rotation.angle() < 1e-12);

        // Add a roll of the estimate's world: position+yaw must not remove it.
        let tilt = UnitQuaternion::from_axis_angle(&Vector3::x_axis(), 0.05);
        let tilted: Vec<_> = est.iter().map(|p| tilt * p).collect();
        let fit = align(Alignment::PosYaw, &tilted, &gt)?;
        let (roll, pitch, _) = fit.gt_world_from_est_world.rotation.euler_angles();
        assert_eq!((roll, pitch), (0.0, 0.0));
        assert!(max_residual(&fit, &tilted, &gt) > 0.01);
        // SE(3) removes it.
        let se3 = align(Alignment::Se3, &tilted, &gt)?;
        assert!(max_residual(&se3, &tilted, &gt) < 1e-10);
        Ok(())
    }

    #[test]
    fn degenerate_and_short_inputs_are_errors() {
        let line: Vec<_> = (0..10)
            .map(|i| Point3::new(i as f64, 2.0 * i as f64, 0.0))
            .collect();
        for a in [Alignment::Se3, Alignment::Sim3] {
            assert!(matches!(
                align(a, &line, &line),
                Err(EvalError::DegenerateAlignment { .. })
            ));
        }
        let vertical: Vec<_> = (0..10).map(|i| Point3::new(1.0, 2.0, i as f64)).collect();
        assert!(matches!(
            align(Alignment::PosYaw, &vertical, &vertical),
            Err(EvalError::DegenerateAlignment { .. })
        ));
        let two = &cloud(2);
        let e = align(Alignment::Se3, two, two);
        assert!(matches!(
            e,
            Err(EvalError::TooFewMatches {
                needed: 3,
                found: 2,
                ..
            })
        ));
        assert!(align(Alignment::None, &two[..1], &two[..1]).is_ok());
        assert!(align(Alignment::None, &two[..1], two).is_err());
        let huge = vec![
            Point3::new(1e300, -1e300, 1e300),
            Point3::origin(),
            Point3::new(0.0, 1e300, 0.0),
        ];
        assert!(align(Alignment::Se3, &huge, &huge).is_err());
    }

    #[test]
    fn names_parse_and_print() {
        for a in Alignment::ALL {
            assert_eq!(a.as_str().parse::<Alignment>().ok(), Some(a));
            assert_eq!(a.to_string(), a.as_str());
        }
        assert_eq!("SE3".parse::<Alignment>().ok(), Some(Alignment::Se3));
        let e = "4dof"
            .parse::<Alignment>()
            .map(|_| ())
            .map_err(|e| e.to_string());
        assert_eq!(
            e,
            Err(
                "invalid option: unknown alignment '4dof' (expected se3, posyaw, sim3 or none)"
                    .into()
            )
        );
        assert_eq!(Alignment::default(), Alignment::PosYaw);
    }
}
