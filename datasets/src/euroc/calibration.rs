//! Calibration files of the ASL layout: EuRoC's per-sensor `sensor.yaml` and, for
//! TUM-VI exports that lack them, Kalibr's `camchain.yaml` / `imu_config.yaml`.
//!
//! EuRoC's `T_BS` is `body_from_sensor` as a row-major 4x4 matrix; Kalibr's
//! `T_cam_imu` is the inverse (`cam_from_imu`). Rotations printed with 12 digits are
//! re-orthonormalized; a block that is not a rotation (error > 1e-3) is rejected.

use std::path::Path;

use nalgebra::{Isometry3, Matrix3};

use super::yaml::{Document, Node};
use crate::camera::isometry_from_row_major;
use crate::error::{DatasetError, Result};
use crate::model::{CameraCalibration, Distortion, ImuCalibration, PinholeIntrinsics};

/// Reads a 4x4 homogeneous transform (flat or nested list of 16 numbers).
fn transform(doc: &Document, node: &Node, what: &str) -> Result<Isometry3<f64>> {
    let m = doc.f64_list(node, what, Some(16))?;
    let bad = |msg: String| DatasetError::malformed(doc.path(), node.line, msg);
    let last_row = [m[12], m[13], m[14], m[15]];
    if (last_row[0].abs() + last_row[1].abs() + last_row[2].abs() + (last_row[3] - 1.0).abs())
        > 1e-9
    {
        return Err(bad(format!(
            "`{what}` last row must be [0, 0, 0, 1], found {last_row:?}"
        )));
    }
    let rot = Matrix3::new(m[0], m[1], m[2], m[4], m[5], m[6], m[8], m[9], m[10]);
    let orth_error = (rot.transpose() * rot - Matrix3::identity()).abs().max();
    if orth_error > 1e-3 || rot.determinant() < 0.0 {
        return Err(bad(format!(
            "`{what}` rotation block is not a rotation (|R^T R - I| = {orth_error:.2e}, det = {:.4})",
            rot.determinant()
        )));
    }
    let mut flat = [0.0; 12];
    flat.copy_from_slice(&m[..12]);
    Ok(isometry_from_row_major(&flat))
}

/// Largest image the reader accepts, pixels (64 Mpx: 8x a 4K frame), so that a
/// calibration file cannot make the PNG decoder allocate without bound.
const MAX_PIXELS: usize = 1 << 26;

fn resolution(doc: &Document, node: &Node) -> Result<(usize, usize)> {
    let r = doc.f64_list(node, "resolution", Some(2))?;
    let ok = |v: f64| (1.0..=65_535.0).contains(&v) && v.fract() == 0.0;
    if !ok(r[0]) || !ok(r[1]) || r[0] * r[1] > MAX_PIXELS as f64 {
        return Err(DatasetError::malformed(
            doc.path(),
            node.line,
            format!(
                "`resolution` must be two whole numbers from 1 to 65535 with at most {MAX_PIXELS} pixels in all, found {r:?}"
            ),
        ));
    }
    Ok((r[0] as usize, r[1] as usize))
}

/// Focal lengths accepted, in multiples of the image's larger side: from a
/// 180-degree fisheye (about 0.32) with margin, to a 1-degree telephoto.
const FOCAL_PER_SIDE: (f64, f64) = (0.05, 60.0);

/// The pinhole intrinsics of a `width` x `height` image: focal lengths
/// within [`FOCAL_PER_SIDE`] of the larger side, the principal point on the
/// image.
fn intrinsics(
    doc: &Document,
    node: &Node,
    (width, height): (usize, usize),
) -> Result<PinholeIntrinsics> {
    let v = doc.f64_list(node, "intrinsics", Some(4))?;
    let side = width.max(height) as f64;
    let (lo, hi) = (FOCAL_PER_SIDE.0 * side, FOCAL_PER_SIDE.1 * side);
    if !((lo..=hi).contains(&v[0]) && (lo..=hi).contains(&v[1])) {
        return Err(DatasetError::malformed(
            doc.path(),
            node.line,
            format!(
                "focal lengths must be {lo:.1} to {hi:.0} px for a {width}x{height} image ({} to {} times its larger side), found fx = {}, fy = {}",
                FOCAL_PER_SIDE.0, FOCAL_PER_SIDE.1, v[0], v[1]
            ),
        ));
    }
    if !((0.0..=width as f64).contains(&v[2]) && (0.0..=height as f64).contains(&v[3])) {
        return Err(DatasetError::malformed(
            doc.path(),
            node.line,
            format!(
                "the principal point must lie on the {width}x{height} image, found cx = {}, cy = {}",
                v[2], v[3]
            ),
        ));
    }
    Ok(PinholeIntrinsics {
        fx: v[0],
        fy: v[1],
        cx: v[2],
        cy: v[3],
    })
}

fn distortion(
    doc: &Document,
    model: &Node,
    coeffs: Option<&Node>,
    coeffs_name: &str,
) -> Result<Distortion> {
    let name = doc.str(model, "distortion_model")?;
    let four = |what: &str| -> Result<[f64; 4]> {
        let node = coeffs.ok_or_else(|| {
            DatasetError::malformed(
                doc.path(),
                model.line,
                format!("distortion model `{name}` needs `{what}`"),
            )
        })?;
        let v = doc.f64_list(node, what, None)?;
        // OpenCV's 5-coefficient radtan adds k3; accept it only when zero.
        if v.len() == 4 || (v.len() == 5 && v[4] == 0.0) {
            Ok([v[0], v[1], v[2], v[3]])
        } else {
            Err(DatasetError::malformed(
                doc.path(),
                node.line,
                format!(
                    "`{what}` must hold 4 numbers for `{name}`, found {}",
                    v.len()
                ),
            ))
        }
    };
    match name {
        "radial-tangential" | "radtan" | "plumb_bob" => {
            let [k1, k2, p1, p2] = four(coeffs_name)?;
            Ok(Distortion::RadialTangential { k1, k2, p1, p2 })
        }
        "equidistant" | "fisheye" | "kannala-brandt" => {
            let [k1, k2, k3, k4] = four(coeffs_name)?;
            Ok(Distortion::Equidistant { k1, k2, k3, k4 })
        }
        "none" => Ok(Distortion::None),
        other => Err(DatasetError::malformed(
            doc.path(),
            model.line,
            format!(
                "unknown distortion model `{other}`; expected radial-tangential, equidistant or none"
            ),
        )),
    }
}

/// Camera frame rates accepted, Hz.
pub const CAMERA_RATE_HZ: (f64, f64) = (0.1, 10_000.0);
/// IMU sample rates accepted, Hz.
pub const IMU_RATE_HZ: (f64, f64) = (1.0, 100_000.0);
/// Noise densities accepted (the widest a MEMS IMU's datasheet, or a
/// calibration inflating it tenfold, gives, with two decades of margin
/// each way): gyro white noise rad/s/sqrt(Hz), gyro random walk
/// rad/s^2/sqrt(Hz), accel white noise m/s^2/sqrt(Hz), accel random walk
/// m/s^3/sqrt(Hz). EuRoC's ADIS16448: 1.7e-4, 1.9e-5, 2.0e-3, 3.0e-3.
pub const GYRO_NOISE_DENSITY: (f64, f64) = (1e-7, 1.0);
/// See [`GYRO_NOISE_DENSITY`].
pub const GYRO_RANDOM_WALK: (f64, f64) = (1e-9, 1.0);
/// See [`GYRO_NOISE_DENSITY`].
pub const ACCEL_NOISE_DENSITY: (f64, f64) = (1e-6, 10.0);
/// See [`GYRO_NOISE_DENSITY`].
pub const ACCEL_RANDOM_WALK: (f64, f64) = (1e-8, 10.0);

/// A number within `[lo, hi]`.
fn within(doc: &Document, node: &Node, what: &str, (lo, hi): (f64, f64)) -> Result<f64> {
    let v = doc.f64(node, what)?;
    if (lo..=hi).contains(&v) {
        Ok(v)
    } else {
        Err(DatasetError::malformed(
            doc.path(),
            node.line,
            format!("`{what}` must be {lo:e} to {hi:e}, found {v:e}"),
        ))
    }
}

/// Checks that a text field holds the one value this reader supports.
fn require_value(doc: &Document, node: &Node, what: &str, expected: &str) -> Result<()> {
    let found = doc.str(node, what)?;
    if found == expected {
        Ok(())
    } else {
        Err(DatasetError::malformed(
            doc.path(),
            node.line,
            format!("{what} `{found}` is not supported; expected `{expected}`"),
        ))
    }
}

/// Reads an EuRoC camera `sensor.yaml`.
pub fn read_camera_sensor_yaml(path: &Path, name: &str) -> Result<CameraCalibration> {
    let doc = Document::read(path)?;
    if let Some(kind) = doc.get_of(doc.root(), "sensor_type")? {
        require_value(&doc, kind, "sensor_type", "camera")?;
    }
    require_value(&doc, doc.field("camera_model")?, "camera_model", "pinhole")?;
    let t_bs = doc.field("T_BS")?;
    let (width, height) = resolution(&doc, doc.field("resolution")?)?;
    Ok(CameraCalibration {
        name: name.to_string(),
        width,
        height,
        intrinsics: intrinsics(&doc, doc.field("intrinsics")?, (width, height))?,
        distortion: distortion(
            &doc,
            doc.field("distortion_model")?,
            doc.get_of(doc.root(), "distortion_coefficients")?,
            "distortion_coefficients",
        )?,
        body_from_cam: transform(&doc, doc.field_of(t_bs, "data")?, "T_BS.data")?,
        rate_hz: within(&doc, doc.field("rate_hz")?, "rate_hz", CAMERA_RATE_HZ)?,
    })
}

/// Reads one camera of a Kalibr `camchain.yaml` (`cam0`, `cam1`); the body is the
/// IMU. Kalibr files carry no frame rate: `rate_hz` comes from the caller.
pub fn read_kalibr_camera(path: &Path, name: &str, rate_hz: f64) -> Result<CameraCalibration> {
    let doc = Document::read(path)?;
    let cam = doc.field(name)?;
    require_value(
        &doc,
        doc.field_of(cam, "camera_model")?,
        "camera_model",
        "pinhole",
    )?;
    let cam_from_imu = transform(&doc, doc.field_of(cam, "T_cam_imu")?, "T_cam_imu")?;
    let (width, height) = resolution(&doc, doc.field_of(cam, "resolution")?)?;
    Ok(CameraCalibration {
        name: name.to_string(),
        width,
        height,
        intrinsics: intrinsics(&doc, doc.field_of(cam, "intrinsics")?, (width, height))?,
        distortion: distortion(
            &doc,
            doc.field_of(cam, "distortion_model")?,
            doc.get_of(cam, "distortion_coeffs")?,
            "distortion_coeffs",
        )?,
        body_from_cam: cam_from_imu.inverse(),
        rate_hz,
    })
}

/// The most camera-IMU time shift a Kalibr file may give, s.
const MAX_TIMESHIFT_S: f64 = 1.0;

/// A rig calibrated with Kalibr: `camchain.yaml` (`cam0`, `cam1`: pinhole,
/// radtan or equidistant, `T_cam_imu`; for `cam1` without it, `T_cn_cnm1`
/// composed with `cam0`'s) and the IMU's noise file (`imu.yaml`:
/// `accelerometer_noise_density`, ..., `update_rate`), and Kalibr's
/// `timeshift_cam_imu` of `cam0` (s, `t_imu = t_cam + shift`; 0 when absent).
/// Kalibr's files carry no frame rate: `rate_hz` comes from the caller.
///
/// # Errors
/// For a missing or malformed field, an unsupported camera or distortion
/// model, or a time shift beyond a second, naming the file and line.
pub fn read_kalibr_rig(
    camchain: &Path,
    imu_yaml: &Path,
    rate_hz: f64,
) -> Result<(crate::model::RigCalibration, f64)> {
    let cam0 = read_kalibr_camera(camchain, "cam0", rate_hz)?;
    let doc = Document::read(camchain)?;
    let c1 = doc.field("cam1")?;
    let cam1 = if doc.get_of(c1, "T_cam_imu")?.is_some() {
        read_kalibr_camera(camchain, "cam1", rate_hz)?
    } else {
        // cam1_from_imu = cam1_from_cam0 * cam0_from_imu.
        let c1_from_c0 = transform(&doc, doc.field_of(c1, "T_cn_cnm1")?, "T_cn_cnm1")?;
        let (width, height) = resolution(&doc, doc.field_of(c1, "resolution")?)?;
        require_value(
            &doc,
            doc.field_of(c1, "camera_model")?,
            "camera_model",
            "pinhole",
        )?;
        CameraCalibration {
            name: "cam1".into(),
            width,
            height,
            intrinsics: intrinsics(&doc, doc.field_of(c1, "intrinsics")?, (width, height))?,
            distortion: distortion(
                &doc,
                doc.field_of(c1, "distortion_model")?,
                doc.get_of(c1, "distortion_coeffs")?,
                "distortion_coeffs",
            )?,
            body_from_cam: cam0.body_from_cam * c1_from_c0.inverse(),
            rate_hz,
        }
    };
    let c0 = doc.field("cam0")?;
    let shift = match doc.get_of(c0, "timeshift_cam_imu")? {
        Some(node) => within(
            &doc,
            node,
            "timeshift_cam_imu",
            (-MAX_TIMESHIFT_S, MAX_TIMESHIFT_S),
        )?,
        None => 0.0,
    };
    let imu = read_imu_yaml(imu_yaml)?;
    Ok((crate::model::RigCalibration { cam0, cam1, imu }, shift))
}

/// Reads an IMU noise model: EuRoC's `imu0/sensor.yaml` (`rate_hz`, `T_BS`) or a
/// Kalibr-style IMU file such as TUM-VI's `dso/imu_config.yaml` (`update_rate`,
/// no transform). The body frame is the IMU frame, so a `T_BS` other than the
/// identity is rejected rather than silently mixing frames.
pub fn read_imu_yaml(path: &Path) -> Result<ImuCalibration> {
    let doc = Document::read(path)?;
    let root = doc.root();
    let rate = match doc.get_of(root, "rate_hz")? {
        Some(node) => within(&doc, node, "rate_hz", IMU_RATE_HZ)?,
        None => within(&doc, doc.field("update_rate")?, "update_rate", IMU_RATE_HZ)?,
    };
    let body_from_imu = match doc.get_of(root, "T_BS")? {
        Some(t) => {
            let data = doc.field_of(t, "data")?;
            let body_from_imu = transform(&doc, data, "T_BS.data")?;
            if body_from_imu.translation.vector.norm() > 1e-9
                || body_from_imu.rotation.angle() > 1e-9
            {
                return Err(DatasetError::malformed(
                    path,
                    data.line,
                    "the IMU's T_BS is not the identity; scout's body frame is the IMU frame,                      so express the cameras and ground truth relative to the IMU",
                ));
            }
            body_from_imu
        }
        None => Isometry3::identity(),
    };
    Ok(ImuCalibration {
        gyro_noise_density: within(
            &doc,
            doc.field("gyroscope_noise_density")?,
            "gyroscope_noise_density",
            GYRO_NOISE_DENSITY,
        )?,
        gyro_random_walk: within(
            &doc,
            doc.field("gyroscope_random_walk")?,
            "gyroscope_random_walk",
            GYRO_RANDOM_WALK,
        )?,
        accel_noise_density: within(
            &doc,
            doc.field("accelerometer_noise_density")?,
            "accelerometer_noise_density",
            ACCEL_NOISE_DENSITY,
        )?,
        accel_random_walk: within(
            &doc,
            doc.field("accelerometer_random_walk")?,
            "accelerometer_random_walk",
            ACCEL_RANDOM_WALK,
        )?,
        rate_hz: rate,
        body_from_imu,
    })
}
