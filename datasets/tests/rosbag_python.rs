//! Our bag reader and writer against an independent implementation: the
//! Python `mcap-ros2-support` package (Foxglove's MCAP writer and reader with
//! its own CDR codec, driven by ROS 2 message definitions written out in the
//! script below, not ours).
//!
//! (a) Python writes mono8 (padded rows), mono16 (little- and big-endian)
//! and Imu messages, with log times unlike the stamps; our reader must give
//! exactly the pixels and samples the script's formulas make. (b) Python
//! reads a bag our writer wrote; every stamp, pixel and IMU value must be the
//! source's.
//!
//! Both skip with a message when `python3 -c "import mcap_ros2"` fails
//! (`pip install mcap-ros2-support`).

mod common;

use std::path::Path;
use std::process::Command;

use common::{T0, tiny_rig, write_tiny_sequence};
use datasets::euroc::EurocDataset;
use datasets::rosbag::{BagOptions, BagWriterOptions, write_dataset};

fn ok<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

/// Whether Python with `mcap_ros2` is there (says so when not).
fn python_ready() -> bool {
    let ready = Command::new("python3")
        .args(["-c", "import mcap_ros2.writer, mcap_ros2.reader"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ready {
        eprintln!(
            "SKIPPED: python3 with mcap_ros2 is not available (pip install mcap-ros2-support)"
        );
    }
    ready
}

fn run_python(script: &str, args: &[&Path]) -> String {
    let output = ok(Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output());
    assert!(
        output.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

const WRITE_BAG: &str = r#"
import struct, sys
from mcap_ros2.writer import Writer

TIME = "int32 sec\nuint32 nanosec\n"
HEADER = "builtin_interfaces/Time stamp\nstring frame_id\n"
SEP = "=" * 80 + "\n"
IMAGE = ("std_msgs/Header header\nuint32 height\nuint32 width\nstring encoding\n"
         "uint8 is_bigendian\nuint32 step\nuint8[] data\n"
         + SEP + "MSG: std_msgs/Header\n" + HEADER + SEP + "MSG: builtin_interfaces/Time\n" + TIME)
IMU = ("std_msgs/Header header\ngeometry_msgs/Quaternion orientation\nfloat64[9] orientation_covariance\n"
       "geometry_msgs/Vector3 angular_velocity\nfloat64[9] angular_velocity_covariance\n"
       "geometry_msgs/Vector3 linear_acceleration\nfloat64[9] linear_acceleration_covariance\n"
       + SEP + "MSG: std_msgs/Header\n" + HEADER + SEP + "MSG: builtin_interfaces/Time\n" + TIME
       + SEP + "MSG: geometry_msgs/Quaternion\nfloat64 x\nfloat64 y\nfloat64 z\nfloat64 w\n"
       + SEP + "MSG: geometry_msgs/Vector3\nfloat64 x\nfloat64 y\nfloat64 z\n")

T0 = int(sys.argv[2])
W, H = 16, 12
with open(sys.argv[1], "wb") as f:
    w = Writer(f)
    image = w.register_msgdef("sensor_msgs/msg/Image", IMAGE)
    imu = w.register_msgdef("sensor_msgs/msg/Imu", IMU)
    for i in range(4):
        t = T0 + i * 50_000_000
        stamp = {"sec": t // 1_000_000_000, "nanosec": t % 1_000_000_000}
        # Log times 7 ms after the stamps and in reverse order.
        log = T0 + (3 - i) * 50_000_000 + 7_000_000
        step = W + 4
        left = bytearray(step * H)
        for y in range(H):
            for x in range(W):
                left[y * step + x] = (7 * x + 13 * y + i) % 256
            for x in range(W, step):
                left[y * step + x] = 0xEE
        w.write_message("/stereo/left/image_raw", image, {
            "header": {"stamp": stamp, "frame_id": "left"},
            "height": H, "width": W, "encoding": "mono8", "is_bigendian": 0,
            "step": step, "data": bytes(left)}, log_time=log, publish_time=log)
        big = i % 2
        right = bytearray()
        for y in range(H):
            for x in range(W):
                v = (300 * x + 1000 * y + 17 * i) % 65536
                right += struct.pack(">H" if big else "<H", v)
        w.write_message("/stereo/right/image_raw", image, {
            "header": {"stamp": stamp, "frame_id": "right"},
            "height": H, "width": W, "encoding": "mono16", "is_bigendian": big,
            "step": 2 * W, "data": bytes(right)}, log_time=log, publish_time=log)
    for k in range(40):
        t = T0 - 20_000_000 + k * 5_000_000
        w.write_message("/imu/data", imu, {
            "header": {"stamp": {"sec": t // 1_000_000_000, "nanosec": t % 1_000_000_000},
                       "frame_id": "imu"},
            "orientation": {"x": 0.0, "y": 0.0, "z": 0.0, "w": 1.0},
            "orientation_covariance": [-1.0] + [0.0] * 8,
            "angular_velocity": {"x": 0.001 * k, "y": -0.25, "z": 1.0 / 3.0},
            "angular_velocity_covariance": [0.0] * 9,
            "linear_acceleration": {"x": 9.81, "y": 0.1 * k, "z": -2.0 / 7.0},
            "linear_acceleration_covariance": [0.0] * 9,
        }, log_time=t + 1, publish_time=t + 1)
    w.finish()
"#;

#[test]
fn our_reader_reads_a_bag_written_by_mcap_ros2() {
    if !python_ready() {
        return;
    }
    let dir = ok(tempfile::tempdir());
    let path = dir.path().join("python.mcap");
    let t0 = T0.to_string();
    run_python(WRITE_BAG, &[&path, Path::new(&t0)]);

    let ds = ok(EurocDataset::open_mcap(&path, &BagOptions::new(tiny_rig())));
    let report = ds.bag_report().unwrap_or_else(|| panic!("no report"));
    assert_eq!(report.cam0, "/stereo/left/image_raw");
    assert_eq!(report.cam1, "/stereo/right/image_raw");
    assert_eq!(report.imu.as_deref(), Some("/imu/data"));
    assert_eq!(ds.stereo_entries().len(), 4);
    for i in 0..4 {
        let frame = ok(ds.load_stereo(i));
        assert_eq!(
            frame.t_ns,
            T0 + i as i64 * 50_000_000,
            "header stamps, not log times"
        );
        for y in 0..12 {
            for x in 0..16 {
                let left = ((7 * x + 13 * y + i) % 256) as u8;
                let right = (((300 * x + 1000 * y + 17 * i) % 65536) >> 8) as u8;
                assert_eq!(frame.left.get(x, y), Some(left), "left {i} ({x}, {y})");
                assert_eq!(frame.right.get(x, y), Some(right), "right {i} ({x}, {y})");
            }
        }
    }
    assert_eq!(ds.imu().len(), 40);
    for (k, s) in ds.imu().iter().enumerate() {
        assert_eq!(s.t_ns, T0 - 20_000_000 + k as i64 * 5_000_000);
        let gyro = [0.001 * k as f64, -0.25, 1.0 / 3.0];
        let accel = [9.81, 0.1 * k as f64, -2.0 / 7.0];
        assert_eq!(s.gyro.as_slice(), gyro, "gyro {k}");
        assert_eq!(s.accel.as_slice(), accel, "accel {k}");
    }
}

const READ_BAG: &str = r#"
import sys
from mcap_ros2.reader import read_ros2_messages

for m in read_ros2_messages(sys.argv[1], log_time_order=False):
    r = m.ros_msg
    s = r.header.stamp
    head = f"{m.channel.topic} {m.schema.name} {m.schema.encoding} {m.channel.message_encoding} {m.log_time_ns} {s.sec} {s.nanosec} {r.header.frame_id}"
    if m.schema.name == "sensor_msgs/msg/Image":
        print("IMG", head, r.width, r.height, r.encoding, r.is_bigendian, r.step, bytes(r.data).hex())
    elif m.schema.name == "sensor_msgs/msg/Imu":
        v = [r.angular_velocity.x, r.angular_velocity.y, r.angular_velocity.z,
             r.linear_acceleration.x, r.linear_acceleration.y, r.linear_acceleration.z,
             r.orientation_covariance[0]]
        print("IMU", head, " ".join(repr(x) for x in v))
    else:
        p = r.pose.position
        q = r.pose.orientation
        print("POSE", head, " ".join(repr(x) for x in [p.x, p.y, p.z, q.x, q.y, q.z, q.w]))
"#;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn mcap_ros2_reads_a_bag_written_by_us() {
    if !python_ready() {
        return;
    }
    let dir = ok(tempfile::tempdir());
    ok(write_tiny_sequence(&dir.path().join("seq")));
    let folder = ok(EurocDataset::open(dir.path().join("seq")));
    let path = dir.path().join("ours.mcap");
    ok(write_dataset(
        &folder,
        &path,
        &BagWriterOptions::default(),
        |_| {},
    ));
    let out = run_python(READ_BAG, &[&path]);

    let mut images = Vec::new();
    let mut imu = Vec::new();
    let mut poses = Vec::new();
    for line in out.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        let (kind, topic, schema, schema_encoding, encoding) = (f[0], f[1], f[2], f[3], f[4]);
        assert_eq!((schema_encoding, encoding), ("ros2msg", "cdr"), "{line}");
        let log_time: i64 = ok(f[5].parse());
        let stamp = ok(f[6].parse::<i64>()) * 1_000_000_000 + ok(f[7].parse::<i64>());
        assert_eq!(log_time, stamp, "{line}");
        match kind {
            "IMG" => {
                assert_eq!(schema, "sensor_msgs/msg/Image");
                assert_eq!(&f[9..14], ["16", "12", "mono8", "0", "16"], "{line}");
                images.push((topic.to_owned(), f[8].to_owned(), stamp, f[14].to_owned()));
            }
            "IMU" => {
                assert_eq!(
                    (topic, schema, f[8]),
                    ("/imu0", "sensor_msgs/msg/Imu", "imu0")
                );
                let v: Vec<f64> = f[9..].iter().map(|x| ok(x.parse::<f64>())).collect();
                imu.push((stamp, v));
            }
            _ => {
                assert_eq!(topic, "/ground_truth");
                let v: Vec<f64> = f[9..].iter().map(|x| ok(x.parse::<f64>())).collect();
                poses.push((stamp, v));
            }
        }
    }
    let mut expected_images = Vec::new();
    for i in 0..folder.stereo_entries().len() {
        let frame = ok(folder.load_stereo(i));
        for (topic, frame_id, image) in [
            ("/cam0/image_raw", "cam0", &frame.left),
            ("/cam1/image_raw", "cam1", &frame.right),
        ] {
            expected_images.push((
                topic.to_owned(),
                frame_id.to_owned(),
                frame.t_ns,
                hex(image.data()),
            ));
        }
    }
    images.sort();
    expected_images.sort();
    assert_eq!(images, expected_images);
    let expected_imu: Vec<(i64, Vec<f64>)> = folder
        .imu()
        .iter()
        .map(|s| {
            let v = vec![
                s.gyro.x, s.gyro.y, s.gyro.z, s.accel.x, s.accel.y, s.accel.z, -1.0,
            ];
            (s.t_ns, v)
        })
        .collect();
    assert_eq!(imu, expected_imu);
    let expected_poses: Vec<(i64, Vec<f64>)> = folder
        .ground_truth()
        .iter()
        .map(|s| {
            let p = s.world_from_body.translation.vector;
            let q = s.world_from_body.rotation.quaternion();
            (s.t_ns, vec![p.x, p.y, p.z, q.i, q.j, q.k, q.w])
        })
        .collect();
    assert_eq!(poses, expected_poses);
}
