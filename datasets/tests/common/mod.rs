//! Helpers shared by the integration tests of `datasets`.
#![allow(dead_code, missing_docs)]

use std::path::{Path, PathBuf};

use datasets::euroc::EurocWriter;
use datasets::model::{GroundTruthState, ImuBias, ImuSample};
use datasets::{CameraCalibration, GrayImage, ImuCalibration, RigCalibration, StereoFrame};
use nalgebra::{Isometry3, Translation3, UnitQuaternion, Vector3};

/// The real EuRoC snippet, or `None` (with a message) when `../shared` is absent.
pub fn euroc_micro() -> Option<PathBuf> {
    let path = std::env::var_os("SCOUT_EUROC_MICRO")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/euroc/V1_01_easy_micro")
        });
    if path.join("mav0").is_dir() {
        Some(path)
    } else {
        eprintln!(
            "SKIPPED: the real EuRoC snippet is not at {} (set SCOUT_EUROC_MICRO to its folder)",
            path.display()
        );
        None
    }
}

/// A small rig: 16x12 images so that test sequences are tiny.
pub fn tiny_rig() -> RigCalibration {
    let mut cam0 = CameraCalibration::euroc_cam0();
    let mut cam1 = CameraCalibration::euroc_cam1();
    for cam in [&mut cam0, &mut cam1] {
        cam.width = 16;
        cam.height = 12;
        cam.intrinsics.cx = 7.5;
        cam.intrinsics.cy = 5.5;
    }
    RigCalibration {
        cam0,
        cam1,
        imu: ImuCalibration::euroc_adis16448(),
    }
}

pub const T0: i64 = 1_403_715_273_262_142_976;

pub fn tiny_image(seed: u8, w: usize, h: usize) -> GrayImage {
    let data = (0..w * h)
        .map(|i| (i as u8).wrapping_mul(7).wrapping_add(seed))
        .collect();
    GrayImage::from_vec(w, h, data).unwrap_or_default()
}

/// Writes a valid tiny sequence: 3 stereo pairs at 20 Hz, 200 Hz IMU, ground truth.
pub fn write_tiny_sequence(root: &Path) -> datasets::Result<()> {
    let rig = tiny_rig();
    let mut writer = EurocWriter::create(root, &rig)?;
    for k in 0..3 {
        let t_ns = T0 + k * 50_000_000;
        let frame = StereoFrame {
            t_ns,
            left: tiny_image(k as u8, 16, 12),
            right: tiny_image(100 + k as u8, 16, 12),
        };
        writer.write_stereo(&frame)?;
    }
    let imu: Vec<ImuSample> = (0..25)
        .map(|k| ImuSample {
            t_ns: T0 - 10_000_000 + k * 5_000_000,
            gyro: Vector3::new(0.01 * k as f64, -0.02, 0.3),
            accel: Vector3::new(0.1, 9.81, -0.2 + 1e-3 * k as f64),
        })
        .collect();
    writer.write_imu(&imu)?;
    let gt: Vec<GroundTruthState> = (0..3)
        .map(|k| GroundTruthState {
            t_ns: T0 + k * 50_000_000,
            world_from_body: Isometry3::from_parts(
                Translation3::new(1.0 + 0.1 * k as f64, 2.0, 0.9),
                UnitQuaternion::from_euler_angles(0.1, -0.2, 0.3 * k as f64),
            ),
            v_world: Some(Vector3::new(2.0, 0.0, 0.0)),
            bias: Some(ImuBias {
                gyro: Vector3::new(-0.002, 0.02, 0.07),
                accel: Vector3::new(-0.01, 0.06, 0.03),
            }),
        })
        .collect();
    writer.write_ground_truth(&gt)?;
    writer.finish()?;
    Ok(())
}
