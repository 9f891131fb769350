//! A rig calibrated with Kalibr (`camchain-imucam.yaml` and `imu.yaml`, in
//! the layout `kalibr_calibrate_imu_camera` writes): both cameras, the IMU's
//! noise, and `timeshift_cam_imu`; `cam1` given only relative to `cam0`
//! (`T_cn_cnm1`) composes to the same extrinsics; what scout cannot use is
//! refused naming the field.

use std::path::Path;

use datasets::euroc::read_kalibr_rig;
use nalgebra::{Isometry3, Translation3, UnitQuaternion};

const CAM0: &str = "cam0:
  T_cam_imu:
  - [0.0148655429818, -0.999880929698, 0.00414029679422, -0.0216401454975]
  - [0.999557249008, 0.0149672133247, 0.025715529948, -0.064676986768]
  - [-0.0257744366974, 0.00375618835797, 0.999660727178, 0.00981073058949]
  - [0.0, 0.0, 0.0, 1.0]
  camera_model: pinhole
  distortion_coeffs: [-0.28340811, 0.07395907, 0.00019359, 1.76187114e-05]
  distortion_model: radtan
  intrinsics: [458.654, 457.296, 367.215, 248.375]
  resolution: [752, 480]
  rostopic: /cam0/image_raw
  timeshift_cam_imu: 0.0123
";

const CAM1_BODY: &str = "  camera_model: pinhole
  distortion_coeffs: [-0.28368365, 0.07451284, -0.00010473, -3.55590700e-05]
  distortion_model: radtan
  intrinsics: [457.587, 456.134, 379.999, 255.238]
  resolution: [752, 480]
  rostopic: /cam1/image_raw
";

const IMU: &str = "accelerometer_noise_density: 2.0e-3
accelerometer_random_walk: 3.0e-3
gyroscope_noise_density: 1.6968e-04
gyroscope_random_walk: 1.9393e-05
rostopic: /imu0
update_rate: 200.0
";

/// A 4x4 row-major YAML matrix of `m`, indented as Kalibr writes it.
fn matrix(m: &Isometry3<f64>) -> String {
    let h = m.to_homogeneous();
    (0..4)
        .map(|r| {
            format!(
                "  - [{:.15}, {:.15}, {:.15}, {:.15}]\n",
                h[(r, 0)],
                h[(r, 1)],
                h[(r, 2)],
                h[(r, 3)]
            )
        })
        .collect()
}

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap_or_else(|e| panic!("{e}"));
    p
}

#[test]
fn a_kalibr_rig_reads_with_its_time_shift_and_cam1_relative_to_cam0() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    // cam1 11 cm to the right of cam0, turned by a small angle.
    let c1_from_c0 = Isometry3::from_parts(
        Translation3::new(-0.110, 0.0004, -0.0008),
        UnitQuaternion::from_euler_angles(0.001, -0.002, 0.0005),
    );
    let imu = write(tmp.path(), "imu.yaml", IMU);
    let relative = format!(
        "{CAM0}cam1:\n  T_cn_cnm1:\n{}{CAM1_BODY}",
        matrix(&c1_from_c0)
    );
    let camchain = write(tmp.path(), "camchain.yaml", &relative);
    let (rig, shift) = read_kalibr_rig(&camchain, &imu, 20.0).unwrap_or_else(|e| panic!("{e}"));
    assert!((shift - 0.0123).abs() < 1e-15);
    assert_eq!((rig.cam0.width, rig.cam1.height), (752, 480));
    assert!((rig.cam1.intrinsics.fx - 457.587).abs() < 1e-12);
    assert!((rig.imu.rate_hz - 200.0).abs() < 1e-12);
    assert!((rig.imu.gyro_noise_density - 1.6968e-4).abs() < 1e-15);
    // The stereo extrinsics are Kalibr's T_cn_cnm1.
    let got = rig.cam1.body_from_cam.inverse() * rig.cam0.body_from_cam;
    assert!((got.translation.vector - c1_from_c0.translation.vector).norm() < 1e-12);
    assert!(got.rotation.angle_to(&c1_from_c0.rotation) < 1e-12);
    // The same rig with cam1's own T_cam_imu (cam1_from_cam0 * cam0_from_imu).
    let c1_from_imu = c1_from_c0 * rig.cam0.body_from_cam.inverse();
    let absolute = format!(
        "{CAM0}cam1:\n  T_cam_imu:\n{}{CAM1_BODY}",
        matrix(&c1_from_imu)
    );
    let camchain = write(tmp.path(), "camchain2.yaml", &absolute);
    let (rig2, _) = read_kalibr_rig(&camchain, &imu, 20.0).unwrap_or_else(|e| panic!("{e}"));
    let d = rig2.cam1.body_from_cam.inverse() * rig.cam1.body_from_cam;
    assert!(d.translation.vector.norm() < 1e-9 && d.rotation.angle() < 1e-9);
}

#[test]
fn what_scout_cannot_use_is_refused_naming_the_field() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let imu = write(tmp.path(), "imu.yaml", IMU);
    let cam1 = format!(
        "cam1:\n  T_cn_cnm1:\n{}{CAM1_BODY}",
        matrix(&Isometry3::identity())
    );
    let message = |camchain: String| {
        let p = write(tmp.path(), "bad.yaml", &camchain);
        match read_kalibr_rig(&p, &imu, 20.0) {
            Ok(_) => panic!("accepted {camchain}"),
            Err(e) => e.to_string(),
        }
    };
    let omni = CAM0.replace("camera_model: pinhole", "camera_model: omni");
    assert!(message(format!("{omni}{cam1}")).contains("omni"));
    let late = CAM0.replace("timeshift_cam_imu: 0.0123", "timeshift_cam_imu: 2.5");
    assert!(message(format!("{late}{cam1}")).contains("timeshift_cam_imu"));
    assert!(message(CAM0.to_string()).contains("cam1"));
    let no_extrinsics = cam1.replace("T_cn_cnm1", "T_other");
    assert!(message(format!("{CAM0}{no_extrinsics}")).contains("T_cn_cnm1"));
}
