//! The rotation group SO(3): exponential and logarithm maps, the right Jacobian
//! and its inverse, and the skew-symmetric (hat) matrix.
//!
//! Conventions (as in Forster et al., "On-Manifold Preintegration for Real-Time
//! Visual-Inertial Odometry", T-RO 2017, preliminaries): a rotation vector
//! `w` (axis times angle, radians) maps to `Exp(w)` by Rodrigues' formula, and
//! perturbations are applied on the right, `R Exp(dtheta)`. The right Jacobian
//! `Jr(w)` is the first-order link between the two:
//!
//! ```text
//! Exp(w + dw)          ~ Exp(w) Exp(Jr(w) dw)
//! Log(Exp(w) Exp(dw))  ~ w + Jr(w)^-1 dw
//! Jr(w)    = I - (1 - cos t)/t^2 [w]x + (t - sin t)/t^3 [w]x^2,          t = |w|
//! Jr(w)^-1 = I + 1/2 [w]x + (1/t^2 - (1 + cos t)/(2 t sin t)) [w]x^2
//! ```
//!
//! The last coefficient is written `1/t^2 - 1/(2 t tan(t/2))`, finite up to
//! `t = pi` and beyond. Below `t = 1e-2` every coefficient comes from its Taylor
//! series (truncation below 1e-13, no cancellation). [`so3_log`] goes through
//! the unit quaternion (Shepperd's branch selection, so it stays accurate near
//! `t = pi` where the trace formula loses half the digits) and returns angles in
//! `[0, pi]`.

use nalgebra::{Matrix3, Rotation3, UnitQuaternion, Vector3};

/// Below this angle (rad) the coefficients come from their Taylor series.
const SERIES_ANGLE: f64 = 1e-2;

/// The skew-symmetric matrix `[v]x` with `[v]x u = v x u`.
#[must_use]
pub fn skew(v: &Vector3<f64>) -> Matrix3<f64> {
    Matrix3::new(0.0, -v.z, v.y, v.z, 0.0, -v.x, -v.y, v.x, 0.0)
}

/// `sin t / t` and `(1 - cos t) / t^2` for `t = sqrt(t2)`, accurate at all angles.
fn rodrigues_coefficients(t2: f64) -> (f64, f64) {
    if t2 < SERIES_ANGLE * SERIES_ANGLE {
        (
            1.0 - t2 / 6.0 * (1.0 - t2 / 20.0),
            0.5 - t2 / 24.0 * (1.0 - t2 / 30.0),
        )
    } else {
        let t = t2.sqrt();
        let half_sin = (0.5 * t).sin();
        (t.sin() / t, 2.0 * half_sin * half_sin / t2)
    }
}

/// The rotation `Exp(w)` of the rotation vector `w` (rad), Rodrigues' formula.
#[must_use]
pub fn so3_exp(w: &Vector3<f64>) -> Rotation3<f64> {
    let (a, b) = rodrigues_coefficients(w.norm_squared());
    let k = skew(w);
    Rotation3::from_matrix_unchecked(Matrix3::identity() + k * a + k * k * b)
}

/// The rotation vector `Log(r)` (rad), angle in `[0, pi]`; at exactly `pi` either
/// of the two equivalent vectors.
#[must_use]
pub fn so3_log(r: &Rotation3<f64>) -> Vector3<f64> {
    let q = UnitQuaternion::from_rotation_matrix(r);
    // q and -q are the same rotation: take the one with w >= 0 (angle <= pi).
    let (w, v) = if q.w < 0.0 {
        (-q.w, -q.imag())
    } else {
        (q.w, q.imag())
    };
    let n = v.norm();
    if n < 1e-6 {
        // 2 atan(n / w) / n = (2 / w) (1 - (n/w)^2 / 3 + ...); w ~ 1 here.
        v * (2.0 / w * (1.0 - n * n / (3.0 * w * w)))
    } else {
        v * (2.0 * n.atan2(w) / n)
    }
}

/// The right Jacobian `Jr(w)` of SO(3): `Exp(w + dw) ~ Exp(w) Exp(Jr(w) dw)`.
#[must_use]
pub fn right_jacobian(w: &Vector3<f64>) -> Matrix3<f64> {
    let t2 = w.norm_squared();
    let (a, b) = if t2 < SERIES_ANGLE * SERIES_ANGLE {
        (
            0.5 - t2 / 24.0 * (1.0 - t2 / 30.0),
            1.0 / 6.0 - t2 / 120.0 * (1.0 - t2 / 42.0),
        )
    } else {
        let t = t2.sqrt();
        let half_sin = (0.5 * t).sin();
        (2.0 * half_sin * half_sin / t2, (t - t.sin()) / (t2 * t))
    };
    let k = skew(w);
    Matrix3::identity() - k * a + k * k * b
}

/// The inverse of the right Jacobian: `Log(Exp(w) Exp(dw)) ~ w + Jr(w)^-1 dw`.
/// Finite for `|w| < 2 pi`.
#[must_use]
pub fn right_jacobian_inv(w: &Vector3<f64>) -> Matrix3<f64> {
    let t2 = w.norm_squared();
    let c = if t2 < SERIES_ANGLE * SERIES_ANGLE {
        1.0 / 12.0 + t2 / 720.0 * (1.0 + t2 / 42.0)
    } else {
        let t = t2.sqrt();
        1.0 / t2 - 1.0 / (2.0 * t * (0.5 * t).tan())
    };
    let k = skew(w);
    Matrix3::identity() + k * 0.5 + k * k * c
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rotation vectors from tiny to just below pi, in assorted directions.
    fn samples() -> Vec<Vector3<f64>> {
        let dirs = [
            Vector3::new(1.0, 0.0, 0.0),
            Vector3::new(0.0, 0.0, 1.0),
            Vector3::new(0.3, -0.5, 0.8).normalize(),
            Vector3::new(-0.7, 0.2, 0.1).normalize(),
        ];
        let angles = [
            0.0,
            1e-12,
            1e-10,
            1e-7,
            1e-4,
            0.009,
            0.011,
            0.3,
            1.0,
            2.5,
            std::f64::consts::PI - 1e-3,
            std::f64::consts::PI - 1e-6,
            std::f64::consts::PI - 1e-9,
        ];
        dirs.iter()
            .flat_map(|d| angles.iter().map(move |&a| d * a))
            .collect()
    }

    #[test]
    fn so3_skew_is_the_cross_product() {
        let a = Vector3::new(0.3, -1.2, 2.0);
        let b = Vector3::new(-0.7, 0.4, 0.9);
        assert!((skew(&a) * b - a.cross(&b)).norm() < 1e-15);
    }

    #[test]
    fn so3_exp_matches_nalgebra_and_is_orthonormal() {
        for w in samples() {
            let r = so3_exp(&w);
            let reference = Rotation3::new(w);
            let err = (r.matrix() - reference.matrix()).amax();
            assert!(err < 1e-15 * 4.0, "{w:?}: {err}");
            let ortho = (r.matrix().transpose() * r.matrix() - Matrix3::identity()).amax();
            assert!(ortho < 1e-15 * 4.0, "{w:?}: {ortho}");
        }
    }

    #[test]
    fn so3_log_inverts_exp_down_to_tiny_and_up_to_pi() {
        let mut worst: f64 = 0.0;
        for w in samples() {
            let back = so3_log(&so3_exp(&w));
            // Relative to the angle: the rotation matrix carries ~1e-16 absolute.
            let err = (back - w).norm();
            assert!(err <= 4e-15 * w.norm(), "{w:?}: {err}");
            if w.norm() > 0.0 {
                worst = worst.max(err / w.norm());
            }
        }
        println!("log(exp(w)) - w: max relative error {worst:.1e}");
        // Exactly pi: either sign, but Exp of it is the same rotation.
        let w = Vector3::new(0.3, -0.5, 0.8).normalize() * std::f64::consts::PI;
        let r = so3_exp(&w);
        let back = so3_log(&r);
        assert!((back.norm() - std::f64::consts::PI).abs() < 1e-14);
        assert!((so3_exp(&back).matrix() - r.matrix()).amax() < 1e-14);
    }

    #[test]
    fn so3_right_jacobian_matches_finite_differences_of_exp() {
        let h = 1e-6;
        let mut worst: f64 = 0.0;
        for w in samples() {
            let jr = right_jacobian(&w);
            let r_inv = so3_exp(&w).inverse();
            let mut numeric = Matrix3::zeros();
            for k in 0..3 {
                let mut d = Vector3::zeros();
                d[k] = h;
                let plus = so3_log(&(r_inv * so3_exp(&(w + d))));
                let minus = so3_log(&(r_inv * so3_exp(&(w - d))));
                numeric.set_column(k, &((plus - minus) / (2.0 * h)));
            }
            let err = (numeric - jr).amax();
            worst = worst.max(err);
            // Central differences: truncation ~h^2, rounding ~1e-16/h.
            assert!(err < 2e-9, "{w:?}: {err}");
        }
        println!("Jr vs central differences of Exp: max error {worst:.1e}");
    }

    #[test]
    fn so3_right_jacobian_inverse_is_the_inverse() {
        let mut worst: f64 = 0.0;
        for w in samples() {
            let err = (right_jacobian_inv(&w) * right_jacobian(&w) - Matrix3::identity()).amax();
            worst = worst.max(err);
            // Jr is invertible up to t < 2 pi (at pi its singular values are 1
            // and 2/pi), so the product is I to rounding everywhere here.
            assert!(err < 1e-14, "{w:?}: {err}");
        }
        println!("Jr^-1 Jr - I: max error {worst:.1e}");
        // And it is the derivative of Log: Log(Exp(w) Exp(d)) = w + Jr^-1 d.
        let w = Vector3::new(0.4, -1.1, 0.7);
        let d = Vector3::new(1e-7, -2e-7, 0.5e-7);
        let lhs = so3_log(&(so3_exp(&w) * so3_exp(&d)));
        let rhs = w + right_jacobian_inv(&w) * d;
        assert!((lhs - rhs).norm() < 1e-13, "{}", (lhs - rhs).norm());
    }
}
