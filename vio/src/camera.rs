//! Calibrated camera models for tracking and estimation: projection and
//! back-projection with their analytic Jacobians, and the stereo rig.
//!
//! Built on `datasets::camera`, which owns the calibration types and the
//! distortion math (Newton undistortion, the Kannala-Brandt polynomial); this
//! module validates a calibration once, adds the derivatives the front end and the
//! back end need, and gives the stereo extrinsics their frame names.
//!
//! Frames and units: a camera point `p_cam` (metres) has x right, y down, z
//! forward. Pixels `(u, v)` have their origin at the centre of the top-left pixel
//! (OpenCV and EuRoC). Bearings are unit vectors in the camera frame.
//!
//! Models:
//! - Perspective with radial-tangential distortion (Brown-Conrady, OpenCV's
//!   `projectPoints`, EuRoC): `xn = (X/Z, Y/Z)`, `xd = D(xn)`,
//!   `(u, v) = (fx xd_x + cx, fy xd_y + cy)`. The projection Jacobian is
//!   `diag(fx, fy) D'(xn) d(xn)/d(p)` with `d(xn)/d(p) = [1/Z 0 -X/Z^2; 0 1/Z -Y/Z^2]`.
//! - Equidistant fisheye (Kannala & Brandt, TPAMI 2006, the radial polynomial
//!   with four terms; OpenCV's `cv::fisheye`, Kalibr, TUM-VI): with
//!   `r = |(X, Y)|`, `rho = |p|`, `theta = atan2(r, Z)` and
//!   `theta_d = theta (1 + k1 theta^2 + k2 theta^4 + k3 theta^6 + k4 theta^8)`,
//!   `xd = (X, Y) s` with `s = theta_d / r`. Differentiating (derivation below)
//!   gives, for `i, j` in `{x, y}` and `m = (X, Y) / r`:
//!
//!   ```text
//!   d xd_i / d X_j = s delta_ij + m_i m_j c,   c = theta_d'(theta) Z / rho^2 - s
//!   d xd_i / d Z   = -X_i theta_d'(theta) / rho^2
//!   ```
//!
//!   using `d theta / d r = Z / rho^2`, `d theta / d Z = -r / rho^2`. Near the
//!   optical axis `s -> 1 / Z` and `c -> 0` (as `theta^2`), so the `m m^T` term,
//!   whose direction is undefined at `r = 0`, vanishes; `s` is evaluated as
//!   `(theta_d / theta) (theta / sin theta) / rho` with a series for
//!   `theta / sin theta`, so nothing divides by `r`.
//!
//! Back-projection Jacobians go through the inverse of the distortion Jacobian at
//! the undistorted point: `d f / d uv = d f / d xn * D'(xn)^-1 * diag(1/fx, 1/fy)`
//! for the perspective models, and for the fisheye, with `m = xd / |xd|`,
//! `theta_d = |xd|` and `f = (m sin theta, cos theta)`,
//!
//! ```text
//! d f / d xd = [ (sin theta / theta_d) I + (cos theta / theta_d' - sin theta / theta_d) m m^T ]
//!              [ -(sin theta / theta_d') m^T                                                 ]
//! ```
//!
//! where `1 / theta_d'(theta)` is the inverse of the radial distortion's derivative.

use datasets::{CameraCalibration, Distortion, RigCalibration};
use nalgebra::{Isometry3, Matrix2, Matrix2x3, Matrix3x2, Vector2, Vector3};

use crate::error::{Result, VioError};

/// Below this angle off the optical axis, rad, `theta / sin(theta)` and
/// `sin(theta) / theta` use their two-term series (error below 1e-17).
const SMALL_ANGLE: f64 = 1e-4;

/// A validated camera calibration with projection Jacobians.
#[derive(Debug, Clone, PartialEq)]
pub struct Camera {
    calibration: CameraCalibration,
}

impl Camera {
    /// Validates `calibration` (positive finite focal lengths, finite principal
    /// point, non-zero image size, finite distortion coefficients and extrinsics).
    ///
    /// # Errors
    /// [`VioError::Calibration`] naming the camera and the offending value.
    pub fn new(calibration: &CameraCalibration) -> Result<Self> {
        validate(calibration)?;
        Ok(Self {
            calibration: calibration.clone(),
        })
    }

    /// The calibration this camera was built from.
    #[must_use]
    pub fn calibration(&self) -> &CameraCalibration {
        &self.calibration
    }

    /// The camera's name (`cam0`).
    #[must_use]
    pub fn name(&self) -> &str {
        &self.calibration.name
    }

    /// Image width, px.
    #[must_use]
    pub fn width(&self) -> usize {
        self.calibration.width
    }

    /// Image height, px.
    #[must_use]
    pub fn height(&self) -> usize {
        self.calibration.height
    }

    /// Pose of the camera in the body (IMU) frame.
    #[must_use]
    pub fn body_from_cam(&self) -> &Isometry3<f64> {
        &self.calibration.body_from_cam
    }

    /// The angle one pixel subtends at the principal point, rad (`2 / (fx + fy)`;
    /// both models are locally pinhole there). Converts pixel thresholds into the
    /// bearing-angle thresholds of [`crate::frontend::geometry`].
    #[must_use]
    pub fn pixel_angle_rad(&self) -> f64 {
        let k = &self.calibration.intrinsics;
        2.0 / (k.fx + k.fy)
    }

    /// Whether a pixel position lies inside the image (pixel centres span
    /// `[0, width - 1] x [0, height - 1]`, the image half a pixel more).
    #[must_use]
    pub fn contains(&self, uv: &Vector2<f64>) -> bool {
        self.calibration.contains(uv)
    }

    /// Projects a camera-frame point to pixels; `None` outside the model's domain
    /// (z <= 1 mm for the perspective models, more than
    /// [`datasets::camera::FISHEYE_MAX_THETA`] off axis for the fisheye). The pixel
    /// may lie outside the image: see [`Self::contains`].
    #[must_use]
    pub fn project(&self, p_cam: &Vector3<f64>) -> Option<Vector2<f64>> {
        self.calibration.project(p_cam)
    }

    /// [`Self::project`] and its Jacobian `d(uv) / d(p_cam)`, px/m (analytic; see
    /// the module docs for the fisheye derivation).
    #[must_use]
    pub fn project_with_jacobian(
        &self,
        p_cam: &Vector3<f64>,
    ) -> Option<(Vector2<f64>, Matrix2x3<f64>)> {
        let uv = self.project(p_cam)?;
        let d_xd_d_p = match self.calibration.distortion {
            Distortion::Equidistant { .. } => self.fisheye_distorted_jacobian(p_cam),
            Distortion::None | Distortion::RadialTangential { .. } => {
                self.perspective_distorted_jacobian(p_cam)
            }
        };
        Some((uv, self.focal_matrix() * d_xd_d_p))
    }

    /// Back-projects a pixel to a unit bearing in the camera frame; `None` when the
    /// undistortion does not converge or the pixel is outside a fisheye's image
    /// circle. A fisheye bearing may point sideways or slightly backwards.
    #[must_use]
    pub fn unproject(&self, uv: &Vector2<f64>) -> Option<Vector3<f64>> {
        self.calibration.unproject(*uv)
    }

    /// [`Self::unproject`] and its Jacobian `d(bearing) / d(uv)`, 1/px (analytic,
    /// through the inverse of the distortion Jacobian; see the module docs). The
    /// columns are tangent to the unit sphere at the bearing.
    #[must_use]
    pub fn unproject_with_jacobian(
        &self,
        uv: &Vector2<f64>,
    ) -> Option<(Vector3<f64>, Matrix3x2<f64>)> {
        let xd = self.calibration.intrinsics.from_pixel(*uv);
        let (bearing, d_f_d_xd) = match self.calibration.distortion {
            Distortion::Equidistant { .. } => self.fisheye_bearing_jacobian(xd)?,
            Distortion::None | Distortion::RadialTangential { .. } => {
                self.perspective_bearing_jacobian(xd)?
            }
        };
        let k = &self.calibration.intrinsics;
        let inverse_focal = Matrix2::new(1.0 / k.fx, 0.0, 0.0, 1.0 / k.fy);
        Some((bearing, d_f_d_xd * inverse_focal))
    }

    fn focal_matrix(&self) -> Matrix2<f64> {
        let k = &self.calibration.intrinsics;
        Matrix2::new(k.fx, 0.0, 0.0, k.fy)
    }

    /// `d(xd) / d(p)` for the perspective models (`p.z > 1 mm`, checked by the caller).
    fn perspective_distorted_jacobian(&self, p: &Vector3<f64>) -> Matrix2x3<f64> {
        let inv_z = 1.0 / p.z;
        let xn = Vector2::new(p.x * inv_z, p.y * inv_z);
        let d_xn_d_p = Matrix2x3::new(inv_z, 0.0, -xn.x * inv_z, 0.0, inv_z, -xn.y * inv_z);
        self.calibration.distortion.distort_jacobian(xn) * d_xn_d_p
    }

    /// `d(xd) / d(p)` for the equidistant model (module docs), finite at `r = 0`.
    fn fisheye_distorted_jacobian(&self, p: &Vector3<f64>) -> Matrix2x3<f64> {
        let poly = EquidistantPolynomial::of(&self.calibration.distortion);
        let r = p.xy().norm();
        let rho_sq = p.norm_squared();
        let rho = rho_sq.sqrt();
        let theta = r.atan2(p.z);
        let s = poly.ratio(theta) * theta_over_sin(theta) / rho;
        let slope = poly.derivative(theta);
        let c = slope * p.z / rho_sq - s;
        // The direction of (X, Y); its term carries c ~ theta^2, negligible on axis.
        let m = if r > 1e-12 * rho {
            p.xy() / r
        } else {
            Vector2::zeros()
        };
        let d_xy = Matrix2::identity() * s + m * m.transpose() * c;
        let d_z = -p.xy() * (slope / rho_sq);
        Matrix2x3::new(
            d_xy[(0, 0)],
            d_xy[(0, 1)],
            d_z.x,
            d_xy[(1, 0)],
            d_xy[(1, 1)],
            d_z.y,
        )
    }

    /// Bearing and `d(bearing) / d(xd)` for the perspective models.
    fn perspective_bearing_jacobian(
        &self,
        xd: Vector2<f64>,
    ) -> Option<(Vector3<f64>, Matrix3x2<f64>)> {
        let distortion = &self.calibration.distortion;
        let xn = distortion.undistort(xd)?;
        let ray = Vector3::new(xn.x, xn.y, 1.0);
        let length = ray.norm();
        let f = ray / length;
        // d(ray / |ray|) / d(ray) = (I - f f^T) / |ray|; d(ray) / d(xn) = [e_x e_y].
        let d_f_d_ray = (nalgebra::Matrix3::identity() - f * f.transpose()) / length;
        let d_f_d_xn: Matrix3x2<f64> = d_f_d_ray.fixed_columns::<2>(0).into_owned();
        let d_xn_d_xd = distortion.distort_jacobian(xn).try_inverse()?;
        Some((f, d_f_d_xn * d_xn_d_xd))
    }

    /// Bearing and `d(bearing) / d(xd)` for the equidistant model (module docs).
    fn fisheye_bearing_jacobian(&self, xd: Vector2<f64>) -> Option<(Vector3<f64>, Matrix3x2<f64>)> {
        let distortion = &self.calibration.distortion;
        let theta_d = xd.norm();
        if theta_d < 1e-15 {
            // On the axis: f = (xd, 1) to first order.
            return Some((Vector3::z(), Matrix3x2::new(1.0, 0.0, 0.0, 1.0, 0.0, 0.0)));
        }
        let theta = distortion.undistort_theta(theta_d)?;
        let poly = EquidistantPolynomial::of(distortion);
        let slope = poly.derivative(theta);
        if slope <= 0.0 {
            return None;
        }
        let m = xd / theta_d;
        let (sin, cos) = theta.sin_cos();
        let sin_over_theta_d = sin_over_theta(theta) / poly.ratio(theta);
        let top = Matrix2::identity() * sin_over_theta_d
            + m * m.transpose() * (cos / slope - sin_over_theta_d);
        let bottom = -m * (sin / slope);
        let f = Vector3::new(m.x * sin, m.y * sin, cos);
        let jacobian = Matrix3x2::new(
            top[(0, 0)],
            top[(0, 1)],
            top[(1, 0)],
            top[(1, 1)],
            bottom.x,
            bottom.y,
        );
        Some((f, jacobian))
    }
}

/// The Kannala-Brandt polynomial `theta_d(theta)` through its two smooth pieces:
/// `theta_d / theta` and `d theta_d / d theta`. All zero coefficients for the
/// non-fisheye models (never used for them).
struct EquidistantPolynomial {
    k: [f64; 4],
}

impl EquidistantPolynomial {
    fn of(distortion: &Distortion) -> Self {
        match *distortion {
            Distortion::Equidistant { k1, k2, k3, k4 } => Self {
                k: [k1, k2, k3, k4],
            },
            Distortion::None | Distortion::RadialTangential { .. } => Self { k: [0.0; 4] },
        }
    }

    /// `theta_d / theta = 1 + k1 t^2 + k2 t^4 + k3 t^6 + k4 t^8`.
    fn ratio(&self, theta: f64) -> f64 {
        let [k1, k2, k3, k4] = self.k;
        let t2 = theta * theta;
        1.0 + t2 * (k1 + t2 * (k2 + t2 * (k3 + t2 * k4)))
    }

    /// `d theta_d / d theta = 1 + 3 k1 t^2 + 5 k2 t^4 + 7 k3 t^6 + 9 k4 t^8`.
    fn derivative(&self, theta: f64) -> f64 {
        let [k1, k2, k3, k4] = self.k;
        let t2 = theta * theta;
        1.0 + t2 * (3.0 * k1 + t2 * (5.0 * k2 + t2 * (7.0 * k3 + t2 * 9.0 * k4)))
    }
}

/// `theta / sin(theta)` for `theta` in `[0, pi)`, smooth through 0.
fn theta_over_sin(theta: f64) -> f64 {
    if theta < SMALL_ANGLE {
        1.0 + theta * theta / 6.0
    } else {
        theta / theta.sin()
    }
}

/// `sin(theta) / theta`, smooth through 0.
fn sin_over_theta(theta: f64) -> f64 {
    if theta < SMALL_ANGLE {
        1.0 - theta * theta / 6.0
    } else {
        theta.sin() / theta
    }
}

fn validate(c: &CameraCalibration) -> Result<()> {
    let bad = |what: String| Err(VioError::Calibration(format!("camera {}: {what}", c.name)));
    let k = &c.intrinsics;
    for (field, value) in [("fx", k.fx), ("fy", k.fy)] {
        if !(value.is_finite() && value > 0.0) {
            return bad(format!(
                "focal length {field} = {value} must be positive and finite"
            ));
        }
    }
    for (field, value) in [("cx", k.cx), ("cy", k.cy)] {
        if !value.is_finite() {
            return bad(format!("principal point {field} = {value} must be finite"));
        }
    }
    if c.width == 0 || c.height == 0 {
        return bad(format!(
            "image size {}x{} must be non-zero",
            c.width, c.height
        ));
    }
    let coefficients: &[f64] = match &c.distortion {
        Distortion::None => &[],
        Distortion::RadialTangential { k1, k2, p1, p2 } => &[*k1, *k2, *p1, *p2],
        Distortion::Equidistant { k1, k2, k3, k4 } => &[*k1, *k2, *k3, *k4],
    };
    if let Some(value) = coefficients.iter().find(|v| !v.is_finite()) {
        return bad(format!("distortion coefficient {value} must be finite"));
    }
    let pose = &c.body_from_cam;
    let pose_finite = pose.translation.vector.iter().all(|v| v.is_finite())
        && pose.rotation.coords.iter().all(|v| v.is_finite());
    if !pose_finite {
        return bad("body_from_cam must be finite".into());
    }
    Ok(())
}

/// A calibrated stereo pair: cam0 (left) and cam1 (right) with their relative pose.
#[derive(Debug, Clone, PartialEq)]
pub struct StereoRig {
    cam0: Camera,
    cam1: Camera,
    cam1_from_cam0: Isometry3<f64>,
    baseline_m: f64,
}

impl StereoRig {
    /// Builds the rig from a rig calibration:
    /// `cam1_from_cam0 = body_from_cam1^-1 * body_from_cam0`.
    ///
    /// # Errors
    /// [`VioError::Calibration`] when a camera is invalid or the two optical centres
    /// coincide (no baseline, no stereo depth).
    pub fn new(rig: &RigCalibration) -> Result<Self> {
        Self::from_cameras(Camera::new(&rig.cam0)?, Camera::new(&rig.cam1)?)
    }

    /// Builds the rig from two validated cameras.
    ///
    /// # Errors
    /// [`VioError::Calibration`] when the optical centres coincide.
    pub fn from_cameras(cam0: Camera, cam1: Camera) -> Result<Self> {
        let cam1_from_cam0 = cam1.body_from_cam().inverse() * cam0.body_from_cam();
        let baseline_m = cam1_from_cam0.translation.vector.norm();
        if !(baseline_m.is_finite() && baseline_m > 1e-6) {
            return Err(VioError::Calibration(format!(
                "stereo rig {}/{}: baseline {baseline_m} m; the optical centres must differ",
                cam0.name(),
                cam1.name()
            )));
        }
        Ok(Self {
            cam0,
            cam1,
            cam1_from_cam0,
            baseline_m,
        })
    }

    /// Left camera.
    #[must_use]
    pub fn cam0(&self) -> &Camera {
        &self.cam0
    }

    /// Right camera.
    #[must_use]
    pub fn cam1(&self) -> &Camera {
        &self.cam1
    }

    /// Pose of cam0 in cam1: `p_cam1 = cam1_from_cam0 * p_cam0`.
    #[must_use]
    pub fn cam1_from_cam0(&self) -> &Isometry3<f64> {
        &self.cam1_from_cam0
    }

    /// Distance between the optical centres, m.
    #[must_use]
    pub fn baseline_m(&self) -> f64 {
        self.baseline_m
    }
}

#[cfg(test)]
mod tests {
    use datasets::{ImuCalibration, PinholeIntrinsics};

    use super::*;

    /// TUM-VI cam0 (512x512, equidistant), from the dataset's calibration.
    fn tum_vi_fisheye() -> CameraCalibration {
        CameraCalibration {
            name: "fisheye".into(),
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

    fn camera(calibration: &CameraCalibration) -> Camera {
        match Camera::new(calibration) {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        }
    }

    /// A grid over the whole image: every `step` px, plus the last pixel centre
    /// and the image's outer border at -0.5 and size - 0.5.
    fn grid(size: usize, step: usize) -> Vec<f64> {
        let mut v: Vec<f64> = (0..size).step_by(step).map(|i| i as f64).collect();
        v.extend([-0.5, (size - 1) as f64, size as f64 - 0.5]);
        v
    }

    fn image_grid(cam: &Camera, step: usize) -> Vec<Vector2<f64>> {
        let us = grid(cam.width(), step);
        let vs = grid(cam.height(), step);
        vs.iter()
            .flat_map(|&v| us.iter().map(move |&u| Vector2::new(u, v)))
            .collect()
    }

    /// Whether a fisheye pixel is inside the model's domain (within
    /// `FISHEYE_MAX_THETA` of the axis); a perspective pixel always is.
    fn in_domain(cam: &Camera, uv: &Vector2<f64>) -> bool {
        let c = cam.calibration();
        match c.distortion {
            Distortion::Equidistant { .. } => {
                let max_theta_d = c
                    .distortion
                    .distort_theta(datasets::camera::FISHEYE_MAX_THETA);
                c.intrinsics.from_pixel(*uv).norm() < max_theta_d - 1e-9
            }
            _ => true,
        }
    }

    fn check_round_trip(cam: &Camera) -> usize {
        let mut checked = 0;
        for uv in image_grid(cam, 4) {
            if !in_domain(cam, &uv) {
                assert!(
                    cam.unproject(&uv).is_none(),
                    "{uv:?} is beyond the fisheye's domain"
                );
                continue;
            }
            let Some(f) = cam.unproject(&uv) else {
                panic!("{}: unproject {uv:?}", cam.name());
            };
            assert!((f.norm() - 1.0).abs() < 1e-12, "bearing not unit at {uv:?}");
            let Some(back) = cam.project(&(f * 2.3)) else {
                panic!("{}: project {f:?} from {uv:?}", cam.name());
            };
            assert!((back - uv).norm() < 1e-6, "{uv:?} -> {back:?}");
            checked += 1;
        }
        checked
    }

    #[test]
    fn radtan_round_trip_covers_the_whole_euroc_image_with_its_corners() {
        let cam = camera(&CameraCalibration::euroc_cam0());
        let all = image_grid(&cam, 4).len();
        assert_eq!(check_round_trip(&cam), all, "every pixel, corners included");
        for corner in [
            Vector2::new(-0.5, -0.5),
            Vector2::new(751.5, -0.5),
            Vector2::new(-0.5, 479.5),
            Vector2::new(751.5, 479.5),
        ] {
            assert!(image_grid(&cam, 4).contains(&corner));
        }
    }

    #[test]
    fn equidistant_round_trip_covers_the_image_circle() {
        let cam = camera(&tum_vi_fisheye());
        let checked = check_round_trip(&cam);
        // TUM-VI's corners are more than 100 degrees off axis (outside the image
        // circle); everything else, edges included, round-trips.
        let all = image_grid(&cam, 4).len();
        assert!(checked > all * 9 / 10, "{checked} of {all}");
        let edge_mid = Vector2::new(0.0, 256.0);
        assert!(in_domain(&cam, &edge_mid) && cam.unproject(&edge_mid).is_some());
        assert!(cam.unproject(&Vector2::new(-0.5, -0.5)).is_none());
    }

    /// Central differences of `project` w.r.t. the point.
    fn numeric_projection_jacobian(cam: &Camera, p: &Vector3<f64>) -> Matrix2x3<f64> {
        let h = 1e-6 * p.norm();
        let mut j = Matrix2x3::zeros();
        for k in 0..3 {
            let mut e = Vector3::zeros();
            e[k] = h;
            let (Some(plus), Some(minus)) = (cam.project(&(p + e)), cam.project(&(p - e))) else {
                panic!("finite difference left the domain at {p:?}");
            };
            j.set_column(k, &((plus - minus) / (2.0 * h)));
        }
        j
    }

    /// Camera points to check Jacobians at: back-projected pixels over the image
    /// (corners included), then points on and next to the optical axis.
    fn jacobian_points(cam: &Camera) -> Vec<Vector3<f64>> {
        let mut points: Vec<Vector3<f64>> = image_grid(cam, 37)
            .iter()
            .filter(|uv| in_domain(cam, uv))
            .filter_map(|uv| cam.unproject(uv))
            .map(|f| f * 1.7)
            .collect();
        for xy in [0.0, 1e-13, 1e-9, 1e-6, 1e-4, 3e-3] {
            points.push(Vector3::new(xy, -0.5 * xy, 2.0));
            points.push(Vector3::new(-xy, 0.0, 0.8));
        }
        points
    }

    fn check_projection_jacobian(cam: &Camera) {
        let points = jacobian_points(cam);
        assert!(points.len() > 100);
        for p in &points {
            let Some((uv, analytic)) = cam.project_with_jacobian(p) else {
                panic!("project_with_jacobian {p:?}");
            };
            assert_eq!(Some(uv), cam.project(p));
            assert!(analytic.iter().all(|v| v.is_finite()), "{p:?}");
            let numeric = numeric_projection_jacobian(cam, p);
            let error = (analytic - numeric).norm() / analytic.norm();
            assert!(
                error < 1e-6,
                "{}: at {p:?} relative error {error:e}",
                cam.name()
            );
        }
    }

    #[test]
    fn radtan_projection_jacobian_matches_finite_differences() {
        check_projection_jacobian(&camera(&CameraCalibration::euroc_cam0()));
        check_projection_jacobian(&camera(&CameraCalibration::euroc_cam1()));
    }

    #[test]
    fn equidistant_projection_jacobian_matches_finite_differences() {
        let cam = camera(&tum_vi_fisheye());
        check_projection_jacobian(&cam);
        // Beyond 90 degrees (z < 0), still inside the fisheye's domain.
        let theta: f64 = 97f64.to_radians();
        let p = Vector3::new(theta.sin() * 0.6, theta.sin() * 0.8, theta.cos()) * 3.0;
        let Some((_, analytic)) = cam.project_with_jacobian(&p) else {
            panic!("97 degrees is inside the domain");
        };
        let numeric = numeric_projection_jacobian(&cam, &p);
        assert!((analytic - numeric).norm() < 1e-6 * analytic.norm());
    }

    #[test]
    fn equidistant_jacobian_on_the_optical_axis_is_the_pinhole_one() {
        let cam = camera(&tum_vi_fisheye());
        let k = cam.calibration().intrinsics;
        let z = 2.0;
        let Some((_, j)) = cam.project_with_jacobian(&Vector3::new(0.0, 0.0, z)) else {
            panic!("the axis projects");
        };
        let expected = Matrix2x3::new(k.fx / z, 0.0, 0.0, 0.0, k.fy / z, 0.0);
        assert!((j - expected).norm() < 1e-12, "{j}");
    }

    fn check_unprojection_jacobian(cam: &Camera) {
        let k = cam.calibration().intrinsics;
        let mut pixels: Vec<Vector2<f64>> = image_grid(cam, 41)
            .into_iter()
            .filter(|uv| in_domain(cam, uv))
            .collect();
        pixels.extend([
            Vector2::new(k.cx, k.cy),
            Vector2::new(k.cx + 1e-7, k.cy - 2e-7),
            Vector2::new(k.cx + 0.3, k.cy + 0.1),
        ]);
        // Large enough that Newton's 1e-12 stopping tolerance is invisible.
        let h = 1e-2;
        for uv in &pixels {
            let Some((f, analytic)) = cam.unproject_with_jacobian(uv) else {
                panic!("unproject_with_jacobian {uv:?}");
            };
            let Some(reference) = cam.unproject(uv) else {
                panic!("unproject {uv:?}");
            };
            assert!((f - reference).norm() < 1e-14, "{uv:?}");
            assert!(
                (f.transpose() * analytic).norm() < 1e-12,
                "columns tangent to the sphere"
            );
            let mut numeric = Matrix3x2::zeros();
            for c in 0..2 {
                let mut e = Vector2::zeros();
                e[c] = h;
                let (Some(plus), Some(minus)) =
                    (cam.unproject(&(uv + e)), cam.unproject(&(uv - e)))
                else {
                    panic!("finite difference left the domain at {uv:?}");
                };
                numeric.set_column(c, &((plus - minus) / (2.0 * h)));
            }
            let error = (analytic - numeric).norm() / analytic.norm();
            assert!(
                error < 1e-6,
                "{}: at {uv:?} relative error {error:e}",
                cam.name()
            );
            // Projection after back-projection is the identity on pixels.
            let Some((_, j_project)) = cam.project_with_jacobian(&f) else {
                panic!("project {f:?}");
            };
            assert!((j_project * analytic - Matrix2::identity()).norm() < 1e-9);
        }
    }

    #[test]
    fn radtan_unprojection_jacobian_matches_finite_differences() {
        check_unprojection_jacobian(&camera(&CameraCalibration::euroc_cam0()));
    }

    #[test]
    fn equidistant_unprojection_jacobian_matches_finite_differences() {
        check_unprojection_jacobian(&camera(&tum_vi_fisheye()));
    }

    #[test]
    fn undistorted_pinhole_jacobians_are_exact() {
        let mut calibration = CameraCalibration::euroc_cam0();
        calibration.distortion = Distortion::None;
        let cam = camera(&calibration);
        check_projection_jacobian(&cam);
        check_unprojection_jacobian(&cam);
    }

    #[test]
    fn invalid_calibrations_are_errors_naming_the_camera() {
        let good = CameraCalibration::euroc_cam0();
        let mut cases: Vec<(CameraCalibration, &str)> = Vec::new();
        let mut c = good.clone();
        c.intrinsics.fx = 0.0;
        cases.push((c, "fx"));
        let mut c = good.clone();
        c.intrinsics.fy = -400.0;
        cases.push((c, "fy"));
        let mut c = good.clone();
        c.intrinsics.fx = f64::NAN;
        cases.push((c, "fx"));
        let mut c = good.clone();
        c.intrinsics.cy = f64::INFINITY;
        cases.push((c, "cy"));
        let mut c = good.clone();
        c.width = 0;
        cases.push((c, "image size"));
        let mut c = good.clone();
        c.height = 0;
        cases.push((c, "image size"));
        let mut c = good.clone();
        c.distortion = Distortion::RadialTangential {
            k1: 0.1,
            k2: f64::NAN,
            p1: 0.0,
            p2: 0.0,
        };
        cases.push((c, "distortion"));
        let mut c = tum_vi_fisheye();
        c.distortion = Distortion::Equidistant {
            k1: 0.0,
            k2: 0.0,
            k3: f64::NEG_INFINITY,
            k4: 0.0,
        };
        cases.push((c, "distortion"));
        let mut c = good.clone();
        c.body_from_cam.translation.vector.x = f64::NAN;
        cases.push((c, "body_from_cam"));
        for (calibration, what) in cases {
            match Camera::new(&calibration) {
                Err(VioError::Calibration(message)) => {
                    assert!(message.contains(&calibration.name), "{message}");
                    assert!(message.contains(what), "{message} should name {what}");
                }
                other => panic!("{what}: expected a calibration error, got {other:?}"),
            }
        }
        assert!(Camera::new(&good).is_ok());
    }

    fn euroc_rig() -> RigCalibration {
        RigCalibration {
            cam0: CameraCalibration::euroc_cam0(),
            cam1: CameraCalibration::euroc_cam1(),
            imu: ImuCalibration::euroc_adis16448(),
        }
    }

    #[test]
    fn euroc_rig_has_an_11cm_baseline_with_cam1_on_the_right() {
        let rig = match StereoRig::new(&euroc_rig()) {
            Ok(r) => r,
            Err(e) => panic!("{e}"),
        };
        assert!(
            (rig.baseline_m() - 0.110).abs() < 0.002,
            "{}",
            rig.baseline_m()
        );
        // A point straight ahead of cam0 appears to the left in cam1.
        let p0 = Vector3::new(0.0, 0.0, 5.0);
        let p1 = rig.cam1_from_cam0() * nalgebra::Point3::from(p0);
        assert!(p1.x < -0.1, "{p1:?}");
        // Consistent with the body frame: both map a body point to the same place.
        let p_body = rig.cam0().body_from_cam() * nalgebra::Point3::from(p0);
        let via_body = rig.cam1().body_from_cam().inverse() * p_body;
        assert!((via_body - p1).norm() < 1e-12);
    }

    #[test]
    fn a_rig_without_baseline_is_an_error() {
        let mut calibration = euroc_rig();
        calibration.cam1.body_from_cam = calibration.cam0.body_from_cam;
        assert!(matches!(
            StereoRig::new(&calibration),
            Err(VioError::Calibration(m)) if m.contains("baseline")
        ));
        calibration.cam1.intrinsics.fx = 0.0;
        assert!(matches!(
            StereoRig::new(&calibration),
            Err(VioError::Calibration(m)) if m.contains("cam1")
        ));
    }

    #[test]
    fn pixel_angle_is_the_inverse_focal_length() {
        let cam = camera(&CameraCalibration::euroc_cam0());
        assert!((cam.pixel_angle_rad() - 2.0 / (458.654 + 457.296)).abs() < 1e-15);
    }
}
