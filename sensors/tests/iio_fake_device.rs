//! The IIO reader against a fake device: a sysfs tree in a temporary folder
//! laid out as a `bmi160`'s (channel files, scales, buffer, trigger) and a
//! named pipe in place of `/dev/iio:device0`, written by another thread as
//! the kernel would (whole scans, in chunks that split them); and two such
//! devices, an accelerometer and a gyroscope (`st_lsm6dsx`), as one IMU.

use std::io::Write;
use std::path::Path;

use sensors::Imu;
use sensors::iio::{IMU_CHANNELS, IioChannels, IioImu, IioSettings};
use sensors::split::SplitImu;

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A bmi160-like sysfs tree: gyro at indices 0-2, accel 3-5, timestamp 6,
/// plus a channel the reader must switch off.
fn fake_tree(dir: &Path) {
    let el = dir.join("scan_elements");
    std::fs::create_dir_all(&el).unwrap_or_else(|e| panic!("{e}"));
    std::fs::create_dir_all(dir.join("buffer")).unwrap_or_else(|e| panic!("{e}"));
    std::fs::create_dir_all(dir.join("trigger")).unwrap_or_else(|e| panic!("{e}"));
    let order = [3, 4, 5, 0, 1, 2, 6];
    for (name, index) in IMU_CHANNELS.iter().zip(order) {
        write(&el.join(format!("{name}_en")), "0\n");
        write(&el.join(format!("{name}_index")), &format!("{index}\n"));
        let t = if *name == "in_timestamp" {
            "le:s64/64>>0\n"
        } else {
            "le:s16/16>>0\n"
        };
        write(&el.join(format!("{name}_type")), t);
    }
    write(&el.join("in_temp_en"), "1\n");
    write(&el.join("in_temp_index"), "7\n");
    write(&el.join("in_temp_type"), "le:s16/16>>0\n");
    write(&dir.join("in_accel_scale"), "0.000598\n");
    write(&dir.join("in_anglvel_scale"), "0.000266\n");
    write(&dir.join("in_anglvel_z_offset"), "-3\n");
    write(&dir.join("current_timestamp_clock"), "realtime\n");
    write(&dir.join("sampling_frequency"), "100\n");
    write(&dir.join("buffer/enable"), "0\n");
    write(&dir.join("buffer/length"), "2\n");
    write(&dir.join("trigger/current_trigger"), "\n");
    write(&dir.join("name"), "bmi160\n");
}

fn mkfifo(path: &Path) {
    use rustix::fs::{CWD, FileType, Mode, mknodat};
    mknodat(CWD, path, FileType::Fifo, Mode::RUSR | Mode::WUSR, 0)
        .unwrap_or_else(|e| panic!("mkfifo {}: {e}", path.display()));
}

#[test]
fn a_fake_bmi160_is_set_up_and_its_scans_read_as_samples() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let sysfs = tmp.path().join("iio:device0");
    fake_tree(&sysfs);
    let dev = tmp.path().join("iio-device0");
    mkfifo(&dev);
    // 400 scans at 200 Hz, written in 100-byte chunks (scans are 24 bytes).
    let scans = 400i64;
    let writer_dev = dev.clone();
    let writer = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        for k in 0..scans {
            let v = (k % 100) as i16;
            for value in [v, -v, 7, 100, 200, 16384] {
                bytes.extend_from_slice(&value.to_le_bytes());
            }
            bytes.extend_from_slice(&[0; 4]);
            bytes.extend_from_slice(&(5_000_000_000 + k * 5_000_000).to_le_bytes());
        }
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(&writer_dev)
            .unwrap_or_else(|e| panic!("{e}"));
        for chunk in bytes.chunks(100) {
            f.write_all(chunk).unwrap_or_else(|e| panic!("{e}"));
        }
    });
    let settings = IioSettings {
        sysfs: sysfs.clone(),
        dev: dev.clone(),
        rate_hz: Some(200.0),
        trigger: Some("bmi160-dev0".into()),
        buffer_scans: 256,
        channels: IioChannels::Both,
    };
    let mut imu = IioImu::open(&settings).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(imu.scan_bytes(), 24);
    // Set up as the kernel wants it.
    let el = sysfs.join("scan_elements");
    for name in IMU_CHANNELS {
        assert_eq!(read(&el.join(format!("{name}_en"))), "1", "{name}");
    }
    assert_eq!(read(&el.join("in_temp_en")), "0");
    assert_eq!(read(&sysfs.join("current_timestamp_clock")), "monotonic");
    assert_eq!(read(&sysfs.join("sampling_frequency")), "200");
    assert_eq!(read(&sysfs.join("trigger/current_trigger")), "bmi160-dev0");
    assert_eq!(read(&sysfs.join("buffer/length")), "256");
    assert_eq!(read(&sysfs.join("buffer/enable")), "1");
    let mut samples = Vec::new();
    while imu
        .read_into(&mut samples)
        .unwrap_or_else(|e| panic!("{e}"))
        > 0
    {}
    writer
        .join()
        .unwrap_or_else(|_| panic!("the writer panicked"));
    assert_eq!(samples.len(), scans as usize);
    for (k, s) in samples.iter().enumerate() {
        let v = (k % 100) as f64;
        assert_eq!(s.t_ns, 5_000_000_000 + k as i64 * 5_000_000);
        assert!((s.gyro.x - v * 0.000266).abs() < 1e-12);
        assert!((s.gyro.y + v * 0.000266).abs() < 1e-12);
        assert!((s.gyro.z - 4.0 * 0.000266).abs() < 1e-12);
        assert!((s.accel.z - 16384.0 * 0.000598).abs() < 1e-9);
    }
    drop(imu);
    assert_eq!(read(&sysfs.join("buffer/enable")), "0");
}

#[test]
fn a_device_missing_what_an_imu_needs_is_named() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let sysfs = tmp.path().join("iio:device1");
    let settings = |dir: &Path| IioSettings {
        sysfs: dir.to_path_buf(),
        dev: tmp.path().join("none"),
        rate_hz: None,
        trigger: None,
        buffer_scans: 64,
        channels: IioChannels::Both,
    };
    let message = |s: &IioSettings| match IioImu::open(s) {
        Ok(_) => panic!("opened a broken device"),
        Err(e) => e.to_string(),
    };
    // No buffer at all.
    std::fs::create_dir_all(&sysfs).unwrap_or_else(|e| panic!("{e}"));
    assert!(message(&settings(&sysfs)).contains("buffer/enable"));
    // No gyroscope scale.
    fake_tree(&sysfs);
    std::fs::remove_file(sysfs.join("in_anglvel_scale")).unwrap_or_else(|e| panic!("{e}"));
    assert!(message(&settings(&sysfs)).contains("in_anglvel_scale"));
    // A malformed type.
    fake_tree(&sysfs);
    write(&sysfs.join("scan_elements/in_accel_y_type"), "le:s16/8>>0");
    assert!(message(&settings(&sysfs)).contains("in_accel_y"));
    // No timestamp clock to set.
    fake_tree(&sysfs);
    std::fs::remove_file(sysfs.join("current_timestamp_clock")).unwrap_or_else(|e| panic!("{e}"));
    assert!(message(&settings(&sysfs)).contains("current_timestamp_clock"));
    // No character device.
    fake_tree(&sysfs);
    let m = message(&settings(&sysfs));
    assert!(m.contains("none"), "{m}");
}

/// One sensor of an lsm6dsx-like pair: three s16 axes at indices 0-2 and
/// the timestamp at 3 (16 bytes a scan), and a scale.
fn fake_part(dir: &Path, kind: &str, scale: &str) {
    let el = dir.join("scan_elements");
    std::fs::create_dir_all(&el).unwrap_or_else(|e| panic!("{e}"));
    std::fs::create_dir_all(dir.join("buffer")).unwrap_or_else(|e| panic!("{e}"));
    for (i, axis) in ["x", "y", "z"].iter().enumerate() {
        let name = format!("in_{kind}_{axis}");
        write(&el.join(format!("{name}_en")), "0\n");
        write(&el.join(format!("{name}_index")), &format!("{i}\n"));
        write(&el.join(format!("{name}_type")), "le:s16/16>>0\n");
    }
    write(&el.join("in_timestamp_en"), "0\n");
    write(&el.join("in_timestamp_index"), "3\n");
    write(&el.join("in_timestamp_type"), "le:s64/64>>0\n");
    write(&dir.join(format!("in_{kind}_scale")), scale);
    write(&dir.join("current_timestamp_clock"), "realtime\n");
    write(&dir.join("sampling_frequency"), "104\n");
    write(&dir.join("buffer/enable"), "0\n");
    write(&dir.join("buffer/length"), "2\n");
}

/// Writes `n` scans of `[v(k), -v(k), 100]` at `t0 + k period` into `dev`.
fn feed(dev: std::path::PathBuf, n: i64, t0: i64, period: i64) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        for k in 0..n {
            let v = k as i16;
            for value in [v, -v, 100] {
                bytes.extend_from_slice(&value.to_le_bytes());
            }
            bytes.extend_from_slice(&[0; 2]);
            bytes.extend_from_slice(&(t0 + k * period).to_le_bytes());
        }
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(&dev)
            .unwrap_or_else(|e| panic!("{e}"));
        for chunk in bytes.chunks(40) {
            f.write_all(chunk).unwrap_or_else(|e| panic!("{e}"));
        }
    })
}

#[test]
fn an_accelerometer_and_a_gyroscope_on_two_devices_read_as_one_imu() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (accel_dir, gyro_dir) = (
        tmp.path().join("iio:device1"),
        tmp.path().join("iio:device2"),
    );
    fake_part(&accel_dir, "accel", "0.000598\n");
    fake_part(&gyro_dir, "anglvel", "0.000153\n");
    let (accel_dev, gyro_dev) = (tmp.path().join("dev1"), tmp.path().join("dev2"));
    mkfifo(&accel_dev);
    mkfifo(&gyro_dev);
    // Accelerometer at 416 Hz from 1 ms, gyroscope at 208 Hz from 2 ms.
    let writers = [
        feed(accel_dev.clone(), 832, 1_000_000, 2_403_846),
        feed(gyro_dev.clone(), 400, 2_000_000, 4_807_692),
    ];
    let part = |sysfs: &Path, dev: &Path, channels| IioSettings {
        sysfs: sysfs.to_path_buf(),
        dev: dev.to_path_buf(),
        rate_hz: Some(416.0),
        trigger: None,
        buffer_scans: 128,
        channels,
    };
    let accel = IioImu::open(&part(&accel_dir, &accel_dev, IioChannels::Accelerometer))
        .unwrap_or_else(|e| panic!("{e}"));
    let gyro = IioImu::open(&part(&gyro_dir, &gyro_dev, IioChannels::Gyroscope))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((accel.scan_bytes(), gyro.scan_bytes()), (16, 16));
    // Each set up for its own channels only.
    assert_eq!(read(&accel_dir.join("scan_elements/in_accel_z_en")), "1");
    assert_eq!(read(&gyro_dir.join("scan_elements/in_anglvel_x_en")), "1");
    assert_eq!(read(&gyro_dir.join("current_timestamp_clock")), "monotonic");
    let mut imu = SplitImu::start(Box::new(accel), Box::new(gyro), 20_000_000)
        .unwrap_or_else(|e| panic!("{e}"));
    let mut samples = Vec::new();
    while imu
        .read_into(&mut samples)
        .unwrap_or_else(|e| panic!("{e}"))
        > 0
    {}
    for w in writers {
        w.join().unwrap_or_else(|_| panic!("a writer panicked"));
    }
    // Every gyroscope scan (all within the accelerometer's span).
    assert_eq!(samples.len(), 400);
    for (k, s) in samples.iter().enumerate() {
        let t = 2_000_000 + k as i64 * 4_807_692;
        assert_eq!(s.t_ns, t);
        assert!((s.gyro.x - k as f64 * 0.000153).abs() < 1e-12);
        assert!((s.gyro.z - 100.0 * 0.000153).abs() < 1e-12);
        // The accelerometer's x counts up by one a scan: interpolated at t.
        let counts = (t - 1_000_000) as f64 / 2_403_846.0;
        assert!(
            (s.accel.x - counts * 0.000598).abs() < 1e-9,
            "{} at {k}",
            s.accel.x
        );
        assert!((s.accel.z - 100.0 * 0.000598).abs() < 1e-12);
    }
    assert_eq!(imu.dropped(), 0);
    drop(imu);
}
