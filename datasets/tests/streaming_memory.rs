//! Reading a 2-minute EuRoC-sized sequence through holds one stereo pair at a time:
//! the process's peak resident memory stays under 50 MB.
//!
//! This is its own test binary so that no other test shares the process's peak.

mod common;

use datasets::euroc::{EurocDataset, EurocWriter};
use datasets::model::ImuSample;
use datasets::{
    CameraCalibration, DatasetError, GrayImage, ImuCalibration, RigCalibration, SensorEvent,
};
use nalgebra::Vector3;

/// Peak resident set size of this process, bytes (Linux `VmHWM`).
fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[test]
fn two_minute_sequence_streams_in_under_50_mb() -> datasets::Result<()> {
    const SECONDS: i64 = 120;
    let dir = tempfile::tempdir().map_err(|e| DatasetError::io("tempdir", e))?;
    let rig = RigCalibration {
        cam0: CameraCalibration::euroc_cam0(),
        cam1: CameraCalibration::euroc_cam1(),
        imu: ImuCalibration::euroc_adis16448(),
    };
    // One real-sized textured pair, written once; every other frame is a hard link
    // to it, so the test costs little disk while the reader decodes 2400 pairs.
    let mut writer = EurocWriter::create(dir.path(), &rig)?;
    let texture: Vec<u8> = (0..752 * 480u32)
        .map(|i| {
            ((i.wrapping_mul(2_654_435_761) >> 13) as u8 / 2).wrapping_add((i % 752 / 3) as u8)
        })
        .collect();
    let image = GrayImage::from_vec(752, 480, texture).unwrap_or_default();
    let t0 = common::T0;
    let frames = SECONDS * 20;
    writer.write_stereo(&datasets::StereoFrame {
        t_ns: t0,
        left: image.clone(),
        right: image,
    })?;
    let mav0 = writer.mav0().to_path_buf();
    let mut rows = [String::new(), String::new()];
    for k in 1..frames {
        let t = t0 + k * 50_000_000;
        for (c, cam) in ["cam0", "cam1"].into_iter().enumerate() {
            let data = mav0.join(cam).join("data");
            let link = data.join(format!("{t}.png"));
            std::fs::hard_link(data.join(format!("{t0}.png")), &link)
                .map_err(|e| DatasetError::io(&link, e))?;
            rows[c].push_str(&format!("{t},{t}.png\n"));
        }
    }
    let imu: Vec<ImuSample> = (0..SECONDS * 200)
        .map(|k| ImuSample {
            t_ns: t0 + k * 5_000_000,
            gyro: Vector3::zeros(),
            accel: Vector3::new(0.0, 0.0, 9.81),
        })
        .collect();
    writer.write_imu(&imu)?;
    writer.finish()?;
    for (c, cam) in ["cam0", "cam1"].into_iter().enumerate() {
        let csv = mav0.join(cam).join("data.csv");
        let mut text = std::fs::read_to_string(&csv).map_err(|e| DatasetError::io(&csv, e))?;
        text.push_str(&rows[c]);
        std::fs::write(&csv, text).map_err(|e| DatasetError::io(&csv, e))?;
    }
    drop(imu);

    let ds = EurocDataset::open(dir.path())?;
    assert_eq!(ds.stereo_entries().len() as i64, frames);
    let mut pairs = 0;
    let mut checksum = 0u64;
    for event in ds.events() {
        if let SensorEvent::Stereo(frame) = event? {
            pairs += 1;
            checksum += u64::from(frame.left.data()[pairs % 1000]);
        }
    }
    assert_eq!(pairs as i64, frames);
    assert!(checksum > 0);
    match peak_rss_bytes() {
        Some(peak) => {
            eprintln!(
                "peak RSS reading {frames} stereo pairs: {:.1} MB",
                peak as f64 / 1e6
            );
            assert!(peak < 50_000_000, "peak RSS {peak} bytes");
        }
        None => eprintln!("SKIPPED the RSS check: /proc/self/status has no VmHWM here"),
    }
    Ok(())
}
