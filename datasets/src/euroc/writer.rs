//! Writer of the EuRoC ASL layout, so that synthetic sequences (and recordings)
//! can be read back by scout and by other VIO systems (OpenVINS, Basalt,
//! VINS-Fusion, ORB-SLAM3 all read this layout).
//!
//! Numbers are written with Rust's shortest round-trip formatting, so reading a
//! written file gives back bit-identical values.

use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use nalgebra::Isometry3;

use crate::error::{DatasetError, Result};
use crate::model::{
    CameraCalibration, Distortion, GroundTruthState, ImuCalibration, ImuSample, RigCalibration,
    StereoFrame,
};
use crate::png_io::write_gray_png;

/// Writes a sequence in the ASL layout under `root/mav0/`.
#[derive(Debug)]
pub struct EurocWriter {
    mav0: PathBuf,
    cam_csv: [(PathBuf, BufWriter<File>); 2],
    frames: usize,
    last_frame_t_ns: Option<i64>,
}

fn create(path: &Path) -> Result<BufWriter<File>> {
    File::create(path)
        .map(BufWriter::new)
        .map_err(|e| DatasetError::io(path, e))
}

fn write_text(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(|e| DatasetError::io(path, e))
}

fn matrix_rows(t: &Isometry3<f64>) -> String {
    let m = t.to_homogeneous();
    let mut s = String::new();
    for r in 0..4 {
        let row: Vec<String> = (0..4).map(|c| format!("{:?}", m[(r, c)])).collect();
        let sep = if r < 3 { "," } else { "]" };
        let _ = writeln!(
            s,
            "{}{}{}",
            if r == 0 { "  data: [" } else { "         " },
            row.join(", "),
            sep
        );
    }
    s
}

fn camera_yaml(cam: &CameraCalibration) -> String {
    let (model, coeffs) = match cam.distortion {
        Distortion::None => ("none", [0.0; 4]),
        Distortion::RadialTangential { k1, k2, p1, p2 } => ("radial-tangential", [k1, k2, p1, p2]),
        Distortion::Equidistant { k1, k2, k3, k4 } => ("equidistant", [k1, k2, k3, k4]),
    };
    let i = &cam.intrinsics;
    format!(
        "%YAML:1.0\n# Written by scout.\nsensor_type: camera\ncomment: {name}\n\n# Sensor extrinsics wrt. the body-frame.\nT_BS:\n  cols: 4\n  rows: 4\n{t}\n# Camera specific definitions.\nrate_hz: {rate:?}\nresolution: [{w}, {h}]\ncamera_model: pinhole\nintrinsics: [{:?}, {:?}, {:?}, {:?}] #fu, fv, cu, cv\ndistortion_model: {model}\ndistortion_coefficients: [{:?}, {:?}, {:?}, {:?}]\n",
        i.fx,
        i.fy,
        i.cx,
        i.cy,
        coeffs[0],
        coeffs[1],
        coeffs[2],
        coeffs[3],
        name = cam.name,
        t = matrix_rows(&cam.body_from_cam),
        rate = cam.rate_hz,
        w = cam.width,
        h = cam.height,
    )
}

fn imu_yaml(imu: &ImuCalibration) -> String {
    format!(
        "%YAML:1.0\n# Written by scout.\nsensor_type: imu\ncomment: simulated IMU\n\n# Sensor extrinsics wrt. the body-frame.\nT_BS:\n  cols: 4\n  rows: 4\n{t}rate_hz: {rate:?}\n\n# inertial sensor noise model parameters (static)\ngyroscope_noise_density: {:?}     # [ rad / s / sqrt(Hz) ]\ngyroscope_random_walk: {:?}       # [ rad / s^2 / sqrt(Hz) ]\naccelerometer_noise_density: {:?}  # [ m / s^2 / sqrt(Hz) ]\naccelerometer_random_walk: {:?}    # [ m / s^3 / sqrt(Hz) ]\n",
        imu.gyro_noise_density,
        imu.gyro_random_walk,
        imu.accel_noise_density,
        imu.accel_random_walk,
        t = matrix_rows(&imu.body_from_imu),
        rate = imu.rate_hz,
    )
}

impl EurocWriter {
    /// Creates `root/mav0/` with the calibration files and empty camera indexes.
    /// An existing non-empty `root/mav0` is refused, so nothing is overwritten.
    pub fn create(root: impl AsRef<Path>, calibration: &RigCalibration) -> Result<Self> {
        let mav0 = root.as_ref().join("mav0");
        if mav0.read_dir().is_ok_and(|mut d| d.next().is_some()) {
            return Err(DatasetError::Layout {
                path: mav0,
                message: "already exists and is not empty; refusing to overwrite".into(),
            });
        }
        for dir in [
            "cam0/data",
            "cam1/data",
            "imu0",
            "state_groundtruth_estimate0",
        ] {
            let p = mav0.join(dir);
            std::fs::create_dir_all(&p).map_err(|e| DatasetError::io(&p, e))?;
        }
        write_text(
            &mav0.join("body.yaml"),
            "%YAML:1.0\ncomment: scout synthetic body (IMU frame)\n",
        )?;
        write_text(
            &mav0.join("cam0/sensor.yaml"),
            &camera_yaml(&calibration.cam0),
        )?;
        write_text(
            &mav0.join("cam1/sensor.yaml"),
            &camera_yaml(&calibration.cam1),
        )?;
        write_text(&mav0.join("imu0/sensor.yaml"), &imu_yaml(&calibration.imu))?;
        let open_csv = |cam: &str| -> Result<(PathBuf, BufWriter<File>)> {
            let path = mav0.join(cam).join("data.csv");
            let mut w = create(&path)?;
            writeln!(w, "#timestamp [ns],filename").map_err(|e| DatasetError::io(&path, e))?;
            Ok((path, w))
        };
        let cam_csv = [open_csv("cam0")?, open_csv("cam1")?];
        Ok(Self {
            mav0,
            cam_csv,
            frames: 0,
            last_frame_t_ns: None,
        })
    }

    /// The `mav0` folder being written.
    #[must_use]
    pub fn mav0(&self) -> &Path {
        &self.mav0
    }

    /// Number of stereo pairs written so far.
    #[must_use]
    pub fn frames_written(&self) -> usize {
        self.frames
    }

    /// Appends a stereo pair (PNG files and index rows). Time must increase.
    pub fn write_stereo(&mut self, frame: &StereoFrame) -> Result<()> {
        if self.last_frame_t_ns.is_some_and(|t| frame.t_ns <= t) {
            return Err(DatasetError::InvalidArgument(format!(
                "stereo frame at {} ns is not after the previous one",
                frame.t_ns
            )));
        }
        let name = format!("{}.png", frame.t_ns);
        for (k, image) in [&frame.left, &frame.right].into_iter().enumerate() {
            let cam = if k == 0 { "cam0" } else { "cam1" };
            let png = self.mav0.join(cam).join("data").join(&name);
            write_gray_png(&png, image).map_err(|e| DatasetError::io(&png, e))?;
            let (csv_path, csv) = &mut self.cam_csv[k];
            writeln!(csv, "{},{}", frame.t_ns, name)
                .map_err(|e| DatasetError::io(&*csv_path, e))?;
        }
        self.frames += 1;
        self.last_frame_t_ns = Some(frame.t_ns);
        Ok(())
    }

    /// Writes the whole IMU stream to `imu0/data.csv`.
    pub fn write_imu(&self, samples: &[ImuSample]) -> Result<()> {
        let path = self.mav0.join("imu0/data.csv");
        let mut w = create(&path)?;
        let io = |e| DatasetError::io(&path, e);
        writeln!(
            w,
            "#timestamp [ns],w_RS_S_x [rad s^-1],w_RS_S_y [rad s^-1],w_RS_S_z [rad s^-1],a_RS_S_x [m s^-2],a_RS_S_y [m s^-2],a_RS_S_z [m s^-2]"
        )
        .map_err(io)?;
        for s in samples {
            writeln!(
                w,
                "{},{:?},{:?},{:?},{:?},{:?},{:?}",
                s.t_ns, s.gyro.x, s.gyro.y, s.gyro.z, s.accel.x, s.accel.y, s.accel.z
            )
            .map_err(io)?;
        }
        w.flush().map_err(io)
    }

    /// Writes ground truth to `state_groundtruth_estimate0/data.csv` in EuRoC's 17
    /// columns; velocity and biases that are unknown are written as zeros.
    pub fn write_ground_truth(&self, states: &[GroundTruthState]) -> Result<()> {
        let path = self.mav0.join("state_groundtruth_estimate0/data.csv");
        let mut w = create(&path)?;
        let io = |e| DatasetError::io(&path, e);
        writeln!(
            w,
            "#timestamp, p_RS_R_x [m], p_RS_R_y [m], p_RS_R_z [m], q_RS_w [], q_RS_x [], q_RS_y [], q_RS_z [], v_RS_R_x [m s^-1], v_RS_R_y [m s^-1], v_RS_R_z [m s^-1], b_w_RS_S_x [rad s^-1], b_w_RS_S_y [rad s^-1], b_w_RS_S_z [rad s^-1], b_a_RS_S_x [m s^-2], b_a_RS_S_y [m s^-2], b_a_RS_S_z [m s^-2]"
        )
        .map_err(io)?;
        for s in states {
            let p = s.world_from_body.translation.vector;
            let q = s.world_from_body.rotation.quaternion();
            let v = s.v_world.unwrap_or_default();
            let b = s.bias.unwrap_or_default();
            writeln!(
                w,
                "{},{:?},{:?},{:?},{:?},{:?},{:?},{:?},{:?},{:?},{:?},{:?},{:?},{:?},{:?},{:?},{:?}",
                s.t_ns, p.x, p.y, p.z, q.w, q.i, q.j, q.k, v.x, v.y, v.z, b.gyro.x, b.gyro.y,
                b.gyro.z, b.accel.x, b.accel.y, b.accel.z
            )
            .map_err(io)?;
        }
        w.flush().map_err(io)
    }

    /// Flushes the camera indexes. Dropping the writer without `finish` may lose
    /// the last rows.
    pub fn finish(mut self) -> Result<PathBuf> {
        for (path, csv) in &mut self.cam_csv {
            csv.flush().map_err(|e| DatasetError::io(&*path, e))?;
        }
        Ok(self.mav0)
    }
}
