//! Projection and back-projection through the calibrated camera models.
//!
//! Frames: a camera point `p_cam` has x right, y down, z forward (metres); it maps to
//! normalized coordinates `(x, y) = (X/Z, Y/Z)`, is distorted by the lens model,
//! then mapped to pixels by `u = fx * x_d + cx`, `v = fy * y_d + cy`.
//! Radial-tangential follows OpenCV's `projectPoints` (Brown-Conrady); equidistant
//! follows Kannala & Brandt (TPAMI 2006), as OpenCV's `cv::fisheye` and Kalibr.
//! Undistortion has no closed form for either: it is solved by Newton's method on
//! the 2D (radial-tangential) or 1D (equidistant, in theta) distortion function.

use nalgebra::{Isometry3, Matrix2, Translation3, UnitQuaternion, Vector2, Vector3};

use crate::model::{CameraCalibration, Distortion, PinholeIntrinsics};

/// Newton iterations for undistortion; converges in 3-6 inside the image.
const UNDISTORT_MAX_ITERS: usize = 30;
/// Convergence threshold on normalized coordinates (about 1e-7 px at f = 460 px).
const UNDISTORT_TOL: f64 = 1e-12;
/// Largest angle off the optical axis a fisheye model is used for, rad (100 deg;
/// TUM-VI's lenses see about 195 deg across).
pub const FISHEYE_MAX_THETA: f64 = 100.0 * std::f64::consts::PI / 180.0;

impl Distortion {
    /// Applies the lens distortion to normalized coordinates of a point in front of
    /// the camera. For the equidistant model `xn = (X/Z, Y/Z)` as for the others.
    #[must_use]
    pub fn distort(&self, xn: Vector2<f64>) -> Vector2<f64> {
        match *self {
            Self::None => xn,
            Self::RadialTangential { k1, k2, p1, p2 } => {
                let (x, y) = (xn.x, xn.y);
                let r2 = x * x + y * y;
                let radial = 1.0 + r2 * (k1 + k2 * r2);
                Vector2::new(
                    x * radial + 2.0 * p1 * x * y + p2 * (r2 + 2.0 * x * x),
                    y * radial + p1 * (r2 + 2.0 * y * y) + 2.0 * p2 * x * y,
                )
            }
            Self::Equidistant { .. } => {
                let r = xn.norm();
                if r < 1e-15 {
                    return xn;
                }
                xn * (self.distort_theta(r.atan()) / r)
            }
        }
    }

    /// Jacobian of [`Self::distort`] w.r.t. the normalized coordinates.
    #[must_use]
    pub fn distort_jacobian(&self, xn: Vector2<f64>) -> Matrix2<f64> {
        match *self {
            Self::None => Matrix2::identity(),
            Self::RadialTangential { k1, k2, p1, p2 } => {
                let (x, y) = (xn.x, xn.y);
                let r2 = x * x + y * y;
                let radial = 1.0 + r2 * (k1 + k2 * r2);
                let dradial_dr2 = k1 + 2.0 * k2 * r2;
                // d(r2)/dx = 2x, d(r2)/dy = 2y
                let dxd_dx = radial + x * dradial_dr2 * 2.0 * x + 2.0 * p1 * y + p2 * 6.0 * x;
                let dxd_dy = x * dradial_dr2 * 2.0 * y + 2.0 * p1 * x + p2 * 2.0 * y;
                let dyd_dx = y * dradial_dr2 * 2.0 * x + p1 * 2.0 * x + 2.0 * p2 * y;
                let dyd_dy = radial + y * dradial_dr2 * 2.0 * y + p1 * 6.0 * y + 2.0 * p2 * x;
                Matrix2::new(dxd_dx, dxd_dy, dyd_dx, dyd_dy)
            }
            Self::Equidistant { .. } => {
                // Central differences: only used by callers outside hot loops.
                let h = 1e-7;
                let dx = (self.distort(xn + Vector2::new(h, 0.0))
                    - self.distort(xn - Vector2::new(h, 0.0)))
                    / (2.0 * h);
                let dy = (self.distort(xn + Vector2::new(0.0, h))
                    - self.distort(xn - Vector2::new(0.0, h)))
                    / (2.0 * h);
                Matrix2::from_columns(&[dx, dy])
            }
        }
    }

    /// Inverts [`Self::distort`]; `None` if Newton's method does not converge (a
    /// point far outside the calibrated field of view).
    #[must_use]
    pub fn undistort(&self, xd: Vector2<f64>) -> Option<Vector2<f64>> {
        match *self {
            Self::None => Some(xd),
            Self::RadialTangential { .. } => {
                let mut xn = xd;
                for _ in 0..UNDISTORT_MAX_ITERS {
                    let residual = self.distort(xn) - xd;
                    if residual.norm_squared() < UNDISTORT_TOL * UNDISTORT_TOL {
                        return Some(xn);
                    }
                    let step = self.distort_jacobian(xn).try_inverse()? * residual;
                    xn -= step;
                }
                ((self.distort(xn) - xd).norm() < 1e-9).then_some(xn)
            }
            Self::Equidistant { .. } => {
                let theta_d = xd.norm();
                if theta_d < 1e-15 {
                    return Some(xd);
                }
                let theta = self.undistort_theta(theta_d)?;
                (theta < std::f64::consts::FRAC_PI_2).then(|| xd * (theta.tan() / theta_d))
            }
        }
    }

    /// The equidistant model's distorted angle `theta_d(theta)`; identity for the
    /// other models.
    #[must_use]
    pub fn distort_theta(&self, theta: f64) -> f64 {
        match *self {
            Self::Equidistant { k1, k2, k3, k4 } => {
                let t2 = theta * theta;
                theta * (1.0 + t2 * (k1 + t2 * (k2 + t2 * (k3 + t2 * k4))))
            }
            _ => theta,
        }
    }

    /// Inverts [`Self::distort_theta`] by Newton's method; `None` outside
    /// `[0, FISHEYE_MAX_THETA]` or when it does not converge.
    #[must_use]
    pub fn undistort_theta(&self, theta_d: f64) -> Option<f64> {
        let Self::Equidistant { k1, k2, k3, k4 } = *self else {
            return Some(theta_d);
        };
        let mut theta = theta_d;
        for _ in 0..UNDISTORT_MAX_ITERS {
            let t2 = theta * theta;
            let f = self.distort_theta(theta) - theta_d;
            let df = 1.0 + t2 * (3.0 * k1 + t2 * (5.0 * k2 + t2 * (7.0 * k3 + t2 * 9.0 * k4)));
            if df.abs() < 1e-12 {
                return None;
            }
            let step = f / df;
            theta -= step;
            if step.abs() < UNDISTORT_TOL {
                return (0.0..=FISHEYE_MAX_THETA).contains(&theta).then_some(theta);
            }
        }
        None
    }
}

impl PinholeIntrinsics {
    /// Distorted normalized coordinates to pixels.
    #[must_use]
    pub fn to_pixel(&self, xd: Vector2<f64>) -> Vector2<f64> {
        Vector2::new(self.fx * xd.x + self.cx, self.fy * xd.y + self.cy)
    }

    /// Pixels to distorted normalized coordinates.
    #[must_use]
    pub fn from_pixel(&self, uv: Vector2<f64>) -> Vector2<f64> {
        Vector2::new((uv.x - self.cx) / self.fx, (uv.y - self.cy) / self.fy)
    }
}

impl CameraCalibration {
    /// Projects a point in the camera frame to pixels; `None` when the point is
    /// outside the model's domain: z <= 1 mm for the perspective models, more than
    /// 100 degrees off the optical axis for the equidistant fisheye. The result may
    /// lie outside the image: see [`Self::contains`].
    #[must_use]
    pub fn project(&self, p_cam: &Vector3<f64>) -> Option<Vector2<f64>> {
        if let Distortion::Equidistant { .. } = self.distortion {
            let r = p_cam.xy().norm();
            let theta = r.atan2(p_cam.z);
            if theta > FISHEYE_MAX_THETA || p_cam.norm() < 1e-9 {
                return None;
            }
            let xd = if r < 1e-15 {
                Vector2::zeros()
            } else {
                let theta_d = self.distortion.distort_theta(theta);
                p_cam.xy() * (theta_d / r)
            };
            return Some(self.intrinsics.to_pixel(xd));
        }
        if p_cam.z <= 1e-3 {
            return None;
        }
        let xn = Vector2::new(p_cam.x / p_cam.z, p_cam.y / p_cam.z);
        Some(self.intrinsics.to_pixel(self.distortion.distort(xn)))
    }

    /// Back-projects a pixel to a unit-length bearing in the camera frame. A fisheye
    /// bearing may point sideways or slightly backwards (z < 0).
    #[must_use]
    pub fn unproject(&self, uv: Vector2<f64>) -> Option<Vector3<f64>> {
        let xd = self.intrinsics.from_pixel(uv);
        if let Distortion::Equidistant { .. } = self.distortion {
            let theta_d = xd.norm();
            if theta_d < 1e-15 {
                return Some(Vector3::z());
            }
            let theta = self.distortion.undistort_theta(theta_d)?;
            let dir = xd / theta_d * theta.sin();
            return Some(Vector3::new(dir.x, dir.y, theta.cos()));
        }
        let xn = self.distortion.undistort(xd)?;
        Some(Vector3::new(xn.x, xn.y, 1.0).normalize())
    }

    /// Whether a pixel position lies inside the image (pixel centres span
    /// `[0, width - 1] x [0, height - 1]`; the image covers half a pixel more).
    #[must_use]
    pub fn contains(&self, uv: &Vector2<f64>) -> bool {
        uv.x >= -0.5
            && uv.y >= -0.5
            && uv.x < self.width as f64 - 0.5
            && uv.y < self.height as f64 - 0.5
    }

    /// EuRoC's left camera (MT9M034, `V1_01_easy/mav0/cam0/sensor.yaml`).
    #[must_use]
    pub fn euroc_cam0() -> Self {
        Self {
            name: "cam0".into(),
            width: 752,
            height: 480,
            intrinsics: PinholeIntrinsics {
                fx: 458.654,
                fy: 457.296,
                cx: 367.215,
                cy: 248.375,
            },
            distortion: Distortion::RadialTangential {
                k1: -0.28340811,
                k2: 0.07395907,
                p1: 0.00019359,
                p2: 1.76187114e-05,
            },
            body_from_cam: isometry_from_row_major(&[
                0.0148655429818,
                -0.999880929698,
                0.00414029679422,
                -0.0216401454975,
                0.999557249008,
                0.0149672133247,
                0.025715529948,
                -0.064676986768,
                -0.0257744366974,
                0.00375618835797,
                0.999660727178,
                0.00981073058949,
            ]),
            rate_hz: 20.0,
        }
    }

    /// EuRoC's right camera (`V1_01_easy/mav0/cam1/sensor.yaml`).
    #[must_use]
    pub fn euroc_cam1() -> Self {
        Self {
            name: "cam1".into(),
            width: 752,
            height: 480,
            intrinsics: PinholeIntrinsics {
                fx: 457.587,
                fy: 456.134,
                cx: 379.999,
                cy: 255.238,
            },
            distortion: Distortion::RadialTangential {
                k1: -0.28368365,
                k2: 0.07451284,
                p1: -0.00010473,
                p2: -3.55590700e-05,
            },
            body_from_cam: isometry_from_row_major(&[
                0.0125552670891,
                -0.999755099723,
                0.0182237714554,
                -0.0198435579556,
                0.999598781151,
                0.0130119051815,
                0.0251588363115,
                0.0453689425024,
                -0.0253898008918,
                0.0179005838253,
                0.999517347078,
                0.00786212447038,
            ]),
            rate_hz: 20.0,
        }
    }
}

/// Builds a rigid transform from the first 12 entries (3 rows) of a row-major 4x4
/// matrix whose rotation block may be slightly non-orthonormal (calibration files
/// print 12 digits): the rotation is projected onto SO(3).
#[must_use]
pub fn isometry_from_row_major(m: &[f64; 12]) -> Isometry3<f64> {
    let rot = nalgebra::Matrix3::new(m[0], m[1], m[2], m[4], m[5], m[6], m[8], m[9], m[10]);
    let q = UnitQuaternion::from_matrix(&rot);
    Isometry3::from_parts(Translation3::new(m[3], m[7], m[11]), q)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fisheye() -> CameraCalibration {
        // TUM-VI cam0 (512x512, equidistant), from the dataset's calibration.
        CameraCalibration {
            name: "cam0".into(),
            width: 512,
            height: 512,
            intrinsics: PinholeIntrinsics {
                fx: 190.97847715128717,
                fy: 190.9733070521226,
                cx: 254.93170605935475,
                cy: 256.8974428996504,
            },
            distortion: Distortion::Equidistant {
                k1: 0.0034823894022493434,
                k2: 0.0007150348452162257,
                k3: -0.0020532361418706202,
                k4: 0.00020293673591811182,
            },
            body_from_cam: Isometry3::identity(),
            rate_hz: 20.0,
        }
    }

    /// Every pixel on a grid over the image back-projects and re-projects to itself.
    /// Pixels beyond the model's domain (a fisheye's corners) are skipped only when
    /// `inside_domain` says so.
    fn check_round_trip(cam: &CameraCalibration, inside_domain: impl Fn(Vector2<f64>) -> bool) {
        let mut checked = 0;
        for v in (0..cam.height).step_by(7) {
            for u in (0..cam.width).step_by(7) {
                let uv = Vector2::new(u as f64, v as f64);
                if !inside_domain(uv) {
                    assert!(cam.unproject(uv).is_none(), "{uv:?} is outside the domain");
                    continue;
                }
                checked += 1;
                let ray = cam
                    .unproject(uv)
                    .unwrap_or_else(|| panic!("unproject {uv:?}"));
                assert!((ray.norm() - 1.0).abs() < 1e-12);
                let back = cam
                    .project(&(ray * 3.7))
                    .unwrap_or_else(|| panic!("project {uv:?}"));
                assert!((back - uv).norm() < 1e-6, "{uv:?} -> {back:?}");
            }
        }
        assert!(checked > 1000);
    }

    #[test]
    fn radtan_round_trip_over_the_whole_euroc_image() {
        check_round_trip(&CameraCalibration::euroc_cam0(), |_| true);
        check_round_trip(&CameraCalibration::euroc_cam1(), |_| true);
    }

    #[test]
    fn equidistant_round_trip_over_the_whole_fisheye_image() {
        let cam = fisheye();
        let max_theta_d = cam.distortion.distort_theta(FISHEYE_MAX_THETA);
        // The image circle: TUM-VI's corners see more than 100 degrees off axis.
        check_round_trip(&cam, |uv| {
            cam.intrinsics.from_pixel(uv).norm() < max_theta_d - 1e-9
        });
    }

    #[test]
    fn radtan_jacobian_matches_finite_differences() {
        let d = CameraCalibration::euroc_cam0().distortion;
        for xn in [
            Vector2::new(0.3, -0.2),
            Vector2::new(-0.6, 0.4),
            Vector2::new(0.01, 0.7),
        ] {
            let analytic = d.distort_jacobian(xn);
            let h = 1e-6;
            for c in 0..2 {
                let mut e = Vector2::zeros();
                e[c] = h;
                let numeric = (d.distort(xn + e) - d.distort(xn - e)) / (2.0 * h);
                assert!((analytic.column(c) - numeric).norm() < 1e-8);
            }
        }
    }

    #[test]
    fn principal_point_is_the_optical_axis() {
        let cam = CameraCalibration::euroc_cam0();
        let uv = cam
            .project(&Vector3::new(0.0, 0.0, 2.0))
            .unwrap_or_default();
        assert!((uv - Vector2::new(cam.intrinsics.cx, cam.intrinsics.cy)).norm() < 1e-12);
    }

    #[test]
    fn euroc_cameras_form_a_11cm_stereo_baseline() {
        let c0 = CameraCalibration::euroc_cam0();
        let c1 = CameraCalibration::euroc_cam1();
        let cam0_from_cam1 = c0.body_from_cam.inverse() * c1.body_from_cam;
        let baseline = cam0_from_cam1.translation.vector;
        assert!((baseline.norm() - 0.110).abs() < 0.002, "{baseline:?}");
        assert!(
            baseline.x > 0.10,
            "cam1 is to the right of cam0: {baseline:?}"
        );
    }
}
