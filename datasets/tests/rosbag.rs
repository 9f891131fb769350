//! ROS 2 bags (MCAP): CDR byte layouts checked by hand, our writer read back
//! by our reader (images byte for byte, IMU bit for bit), topic selection,
//! corrupt and truncated bags (errors, never panics), and the real EuRoC
//! snippet through a bag and back.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::{T0, euroc_micro, tiny_image, tiny_rig, write_tiny_sequence};
use datasets::euroc::{EurocDataset, Layout};
use datasets::rosbag::cdr::{self, CdrError, Header, Time};
use datasets::rosbag::{
    BagCompression, BagOptions, BagTopics, BagWriter, BagWriterOptions, list_topics, schema,
    write_dataset,
};
use datasets::{ImuSample, StereoFrame};
use nalgebra::Vector3;

fn ok<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

/// A dataset over a bag can be shared with a pipeline's threads.
#[test]
fn a_dataset_is_send_and_sync() {
    fn shareable<T: Send + Sync>() {}
    shareable::<EurocDataset>();
}

#[test]
fn image_cdr_layout_matches_hand_computed_bytes() {
    let data = [1, 2, 3, 4, 5, 6];
    let image = cdr::Image {
        header: Header {
            stamp: Time { sec: 1, nanosec: 2 },
            frame_id: "ab",
        },
        height: 2,
        width: 3,
        encoding: "mono8",
        is_bigendian: 0,
        step: 3,
        data: &data,
    };
    let mut bytes = Vec::new();
    image.encode(&mut bytes);
    #[rustfmt::skip]
    let expected: Vec<u8> = vec![
        0x00, 0x01, 0x00, 0x00,             // encapsulation: CDR little-endian
        1, 0, 0, 0,                         // body 0: stamp.sec
        2, 0, 0, 0,                         // 4: stamp.nanosec
        3, 0, 0, 0, b'a', b'b', 0,          // 8: frame_id, length with NUL
        0,                                  // 15: padding to 4
        2, 0, 0, 0,                         // 16: height
        3, 0, 0, 0,                         // 20: width
        6, 0, 0, 0, b'm', b'o', b'n', b'o', b'8', 0, // 24: encoding
        0,                                  // 34: is_bigendian
        0,                                  // 35: padding to 4
        3, 0, 0, 0,                         // 36: step
        6, 0, 0, 0, 1, 2, 3, 4, 5, 6,       // 40: data
    ];
    assert_eq!(bytes, expected);
    assert_eq!(ok(cdr::Image::decode(&bytes)), image);
}

#[test]
fn doubles_align_to_8_from_the_body_not_the_buffer() {
    // frame_id "abcdef" (length 7) ends at body offset 19: orientation.x
    // starts at body 24 (buffer 28). Aligning from the buffer's start would
    // put it at buffer 24.
    let imu = cdr::Imu {
        header: Header {
            stamp: Time {
                sec: -5,
                nanosec: 999_999_999,
            },
            frame_id: "abcdef",
        },
        orientation: [0.5, -0.5, 0.25, 1.0],
        orientation_covariance: [-1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        angular_velocity: [0.1, -0.2, 0.3],
        angular_velocity_covariance: [1e-6; 9],
        linear_acceleration: [9.81, 0.0, -1.5],
        linear_acceleration_covariance: [2e-3; 9],
    };
    let mut bytes = Vec::new();
    imu.encode(&mut bytes);
    assert_eq!(bytes.len(), 4 + 24 + 37 * 8);
    assert_eq!(&bytes[4 + 12..4 + 19], b"abcdef\0");
    assert_eq!(&bytes[4 + 19..4 + 24], [0; 5]);
    assert_eq!(&bytes[28..36], 0.5f64.to_le_bytes());
    // angular_velocity.x after orientation (4) and its covariance (9).
    assert_eq!(&bytes[28 + 13 * 8..28 + 14 * 8], 0.1f64.to_le_bytes());
    assert_eq!(ok(cdr::Imu::decode(&bytes)), imu);

    // An empty frame id: string at 8..13, padding to 16.
    let pose = cdr::PoseStamped {
        header: Header {
            stamp: Time { sec: 0, nanosec: 1 },
            frame_id: "",
        },
        position: [1.0, 2.0, 3.0],
        orientation: [0.0, 0.0, 0.0, 1.0],
    };
    let mut bytes = Vec::new();
    pose.encode(&mut bytes);
    assert_eq!(&bytes[4 + 8..4 + 16], [1, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(&bytes[4 + 16..4 + 24], 1.0f64.to_le_bytes());
    assert_eq!(bytes.len(), 4 + 16 + 7 * 8);
    assert_eq!(ok(cdr::PoseStamped::decode(&bytes)), pose);
}

#[test]
fn big_endian_cdr_is_read() {
    #[rustfmt::skip]
    let bytes: Vec<u8> = vec![
        0x00, 0x00, 0x00, 0x00,             // CDR big-endian
        0, 0, 0, 7,  0, 0, 0, 9,            // stamp 7 s 9 ns
        0, 0, 0, 1, 0,                      // frame_id ""
        0, 0, 0,                            // padding
        0, 0, 0, 1,  0, 0, 0, 2,            // height 1, width 2
        0, 0, 0, 7, b'm', b'o', b'n', b'o', b'1', b'6', 0,
        1,                                  // is_bigendian
        0, 0, 0, 4,                         // step
        0, 0, 0, 4, 0x12, 0x34, 0xab, 0xcd, // data
    ];
    let image = ok(cdr::Image::decode(&bytes));
    assert_eq!(image.header.stamp, Time { sec: 7, nanosec: 9 });
    assert_eq!((image.width, image.height, image.step), (2, 1, 4));
    assert_eq!(image.encoding, "mono16");
    assert_eq!(image.data, [0x12, 0x34, 0xab, 0xcd]);
}

#[test]
fn corrupt_cdr_is_an_error_not_a_panic_or_a_huge_allocation() {
    let mut bytes = Vec::new();
    cdr::Image {
        header: Header::default(),
        height: 2,
        width: 2,
        encoding: "mono8",
        is_bigendian: 0,
        step: 2,
        data: &[1, 2, 3, 4],
    }
    .encode(&mut bytes);
    // Every truncation fails cleanly.
    for n in 0..bytes.len() {
        assert!(cdr::Image::decode(&bytes[..n]).is_err(), "{n} bytes");
    }
    // A data sequence claiming 4 GiB.
    let mut huge = bytes.clone();
    let at = huge.len() - 8;
    huge[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(
        cdr::Image::decode(&huge),
        Err(CdrError::Truncated {
            field: "data",
            need: 4_294_967_295,
            ..
        })
    ));
    // XCDR2 and garbage encapsulations.
    let mut xcdr2 = bytes.clone();
    xcdr2[1] = 0x07;
    assert_eq!(
        cdr::Image::decode(&xcdr2),
        Err(CdrError::Encapsulation([0, 7]))
    );
    // A string without its NUL.
    let mut no_nul = bytes.clone();
    no_nul[4 + 12] = b'x';
    assert!(cdr::Image::decode(&no_nul).is_err());
    // Random edits of valid messages of every type.
    testkit::fuzz("Image CDR", &bytes, |b| {
        let _ = cdr::Image::decode(b);
    });
    let mut imu = Vec::new();
    cdr::Imu {
        header: Header::default(),
        orientation: [0.0; 4],
        orientation_covariance: [0.0; 9],
        angular_velocity: [0.0; 3],
        angular_velocity_covariance: [0.0; 9],
        linear_acceleration: [0.0; 3],
        linear_acceleration_covariance: [0.0; 9],
    }
    .encode(&mut imu);
    testkit::fuzz("Imu CDR", &imu, |b| {
        let _ = cdr::Imu::decode(b);
        let _ = cdr::PoseStamped::decode(b);
    });
}

#[test]
fn time_converts_to_and_from_nanoseconds() {
    for t in [0, 1, 999_999_999, 1_000_000_000, T0, -1, -1_500_000_000] {
        let time = Time::from_ns(t).unwrap_or_default();
        assert_eq!(time.to_ns(), Some(t), "{t}");
    }
    assert_eq!(
        Time::from_ns(-1),
        Some(Time {
            sec: -1,
            nanosec: 999_999_999
        })
    );
    assert_eq!(Time::from_ns(i64::MAX), None);
    assert_eq!(
        Time {
            sec: 0,
            nanosec: 1_000_000_000
        }
        .to_ns(),
        None
    );
}

/// The tiny EuRoC sequence of the other tests (3 pairs of 16x12, 25 IMU
/// samples, 3 poses), opened.
fn tiny_folder(dir: &Path) -> EurocDataset {
    ok(write_tiny_sequence(dir));
    ok(EurocDataset::open(dir))
}

fn all_pairs(ds: &EurocDataset) -> Vec<StereoFrame> {
    (0..ds.stereo_entries().len())
        .map(|i| ok(ds.load_stereo(i)))
        .collect()
}

fn assert_same_sequence(a: &EurocDataset, b: &EurocDataset) {
    assert_eq!(all_pairs(a), all_pairs(b));
    assert_eq!(a.imu(), b.imu());
}

#[test]
fn written_bags_read_back_exactly_with_every_compression() {
    let dir = ok(tempfile::tempdir());
    let folder = tiny_folder(&dir.path().join("seq"));
    for compression in [
        BagCompression::Zstd,
        BagCompression::Lz4,
        BagCompression::None,
    ] {
        let path = dir.path().join(format!("{compression:?}.mcap"));
        let options = BagWriterOptions {
            compression,
            // Small chunks: a pair spans chunks and the cache turns over.
            chunk_bytes: 300,
            ..BagWriterOptions::default()
        };
        let mut pairs = 0;
        let written = ok(write_dataset(&folder, &path, &options, |n| pairs = n));
        assert_eq!((written.as_path(), pairs), (path.as_path(), 3));
        let mut bag_options = BagOptions::new(tiny_rig());
        bag_options.topics.ground_truth = Some("/ground_truth".into());
        let bag = ok(EurocDataset::open_mcap(&path, &bag_options));
        assert_eq!(bag.layout(), Layout::Mcap);
        assert_eq!(bag.mav0(), path);
        assert_same_sequence(&folder, &bag);
        // Poses come back; velocity and biases are not in a PoseStamped.
        let poses: Vec<_> = folder
            .ground_truth()
            .iter()
            .map(|s| (s.t_ns, s.world_from_body))
            .collect();
        let back: Vec<_> = bag
            .ground_truth()
            .iter()
            .map(|s| (s.t_ns, s.world_from_body))
            .collect();
        assert_eq!(poses, back);
        let report = bag.bag_report().unwrap_or_else(|| panic!("no report"));
        assert_eq!(report.cam0, "/cam0/image_raw");
        assert_eq!(report.cam1, "/cam1/image_raw");
        assert_eq!(report.imu.as_deref(), Some("/imu0"));
        assert_eq!((report.duplicate_stamps, report.truncated_at), (0, None));
        ok(bag.check_usable());
        // A clone shares the bag and reads the same.
        assert_eq!(all_pairs(&bag.clone()), all_pairs(&folder));
        // Events stream as for a folder.
        let events: Vec<_> = bag.events().map(ok).collect();
        let folder_events: Vec<_> = folder.events().map(ok).collect();
        assert_eq!(events, folder_events);
    }
}

#[test]
fn the_writer_refuses_to_overwrite_and_leaves_nothing_when_dropped() {
    let dir = ok(tempfile::tempdir());
    let path = dir.path().join("out.mcap");
    std::fs::write(&path, b"keep").unwrap_or_else(|e| panic!("{e}"));
    assert!(BagWriter::create(&path, &BagWriterOptions::default()).is_err());
    assert_eq!(std::fs::read(&path).unwrap_or_default(), b"keep");

    let path = dir.path().join("dropped.mcap");
    let mut writer = ok(BagWriter::create(&path, &BagWriterOptions::default()));
    ok(writer.write_stereo(&StereoFrame {
        t_ns: T0,
        left: tiny_image(1, 16, 12),
        right: tiny_image(2, 16, 12),
    }));
    // Out of order and before 1970 are refused.
    let stale = StereoFrame {
        t_ns: T0,
        left: tiny_image(1, 16, 12),
        right: tiny_image(2, 16, 12),
    };
    assert!(writer.write_stereo(&stale).is_err());
    let early = ImuSample {
        t_ns: -1,
        gyro: Vector3::zeros(),
        accel: Vector3::zeros(),
    };
    assert!(writer.write_imu(&[early]).is_err());
    drop(writer);
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert_eq!(left, ["out.mcap"], "only the pre-existing file is left");
}

/// Writes a bag with `topics`: (topic, schema, encoding) of images at 3
/// stamps, and an IMU topic at /imu, with our CDR encoder and the mcap
/// crate's writer directly (no `BagWriter`), unchunked.
fn write_custom_bag(path: &Path, images: &[(&str, &str, u32)], imu_topics: &[&str]) {
    let file = std::io::BufWriter::new(ok(std::fs::File::create(path)));
    let mut writer = ok(mcap::WriteOptions::new()
        .profile("ros2")
        .use_chunks(false)
        .create(file));
    let image_schema = ok(writer.add_schema(
        schema::IMAGE,
        "ros2msg",
        schema::image_definition().as_bytes(),
    ));
    let imu_schema =
        ok(writer.add_schema(schema::IMU, "ros2msg", schema::imu_definition().as_bytes()));
    let meta = BTreeMap::new();
    let mut buf = Vec::new();
    for (k, (topic, encoding, bytes_per_pixel)) in images.iter().enumerate() {
        let channel = ok(writer.add_channel(image_schema, topic, "cdr", &meta));
        for i in 0..3u32 {
            let t = T0 + i64::from(i) * 50_000_000;
            let data: Vec<u8> = (0..16 * 12 * bytes_per_pixel)
                .map(|p| (p as u8).wrapping_add(k as u8 * 40))
                .collect();
            buf.clear();
            cdr::Image {
                header: Header {
                    stamp: Time::from_ns(t).unwrap_or_default(),
                    frame_id: "cam",
                },
                height: 12,
                width: 16,
                encoding,
                is_bigendian: 0,
                step: 16 * bytes_per_pixel,
                data: &data,
            }
            .encode(&mut buf);
            let header = mcap::records::MessageHeader {
                channel_id: channel,
                sequence: i,
                // Log times unlike the stamps: the reader must use the stamps.
                log_time: 5 + u64::from(2 - i),
                publish_time: 0,
            };
            ok(writer.write_to_known_channel(&header, &buf));
        }
    }
    for topic in imu_topics {
        let channel = ok(writer.add_channel(imu_schema, topic, "cdr", &meta));
        for i in 0..10u32 {
            buf.clear();
            cdr::Imu {
                header: Header {
                    stamp: Time::from_ns(T0 + i64::from(i) * 5_000_000).unwrap_or_default(),
                    frame_id: "imu",
                },
                orientation: [0.0; 4],
                orientation_covariance: [0.0; 9],
                angular_velocity: [0.1 * f64::from(i), 0.2, 0.3],
                angular_velocity_covariance: [0.0; 9],
                linear_acceleration: [0.0, 0.0, 9.81],
                linear_acceleration_covariance: [0.0; 9],
            }
            .encode(&mut buf);
            let header = mcap::records::MessageHeader {
                channel_id: channel,
                sequence: i,
                log_time: 1,
                publish_time: 1,
            };
            ok(writer.write_to_known_channel(&header, &buf));
        }
    }
    ok(writer.finish());
}

#[test]
fn topics_are_found_by_type_or_asked_for() {
    let dir = ok(tempfile::tempdir());
    // Two image topics whose names say right and left: left is cam0 even
    // though its name sorts last; stamps (not log times) give the order.
    let path = dir.path().join("two.mcap");
    write_custom_bag(
        &path,
        &[("/a/right", "mono8", 1), ("/b/left", "rgb8", 3)],
        &["/imu"],
    );
    let ds = ok(EurocDataset::open_mcap(&path, &BagOptions::new(tiny_rig())));
    let report = ds.bag_report().unwrap_or_else(|| panic!("no report"));
    assert_eq!(
        (report.cam0.as_str(), report.cam1.as_str()),
        ("/b/left", "/a/right")
    );
    assert_eq!(ds.stereo_entries().len(), 3);
    let t: Vec<i64> = ds.stereo_entries().iter().map(|e| e.t_ns).collect();
    assert_eq!(t, [T0, T0 + 50_000_000, T0 + 100_000_000]);
    // Kalibr's camera-to-IMU time shift moves the images' stamps only.
    let mut shifted = BagOptions::new(tiny_rig());
    shifted.camera_time_shift_ns = 1_000_000;
    let ds_shifted = ok(EurocDataset::open_mcap(&path, &shifted));
    assert_eq!(ds_shifted.stereo_entries()[0].t_ns, T0 + 1_000_000);
    assert_eq!(ds_shifted.imu()[0].t_ns, T0);
    assert_eq!(ds.imu().len(), 10);
    assert_eq!(ds.imu()[3].gyro, Vector3::new(0.1 * 3.0, 0.2, 0.3));
    let frame = ok(ds.load_stereo(0));
    // cam1 (/a/right): mono8 pixels p.
    assert_eq!(frame.right.data()[5], 5);
    // cam0 (/b/left): rgb8 with r, g, b = 3p+40, 3p+41, 3p+42 (mod 256): luma.
    let luma = |r: u32, g: u32, b: u32| ((77 * r + 150 * g + 29 * b + 128) >> 8) as u8;
    assert_eq!(frame.left.data()[5], luma(55, 56, 57));

    // Three image topics and two IMUs: an error listing them, unless named.
    let path = dir.path().join("three.mcap");
    write_custom_bag(
        &path,
        &[
            ("/cam0/image_raw", "mono8", 1),
            ("/cam1/image_raw", "mono8", 1),
            ("/depth/image", "mono8", 1),
        ],
        &["/imu", "/imu2"],
    );
    let err = EurocDataset::open_mcap(&path, &BagOptions::new(tiny_rig()))
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    for needle in [
        "3 sensor_msgs/msg/Image topics",
        "/depth/image (sensor_msgs/msg/Image, cdr, 3 messages)",
        "three.mcap",
    ] {
        assert!(err.contains(needle), "{needle} not in {err}");
    }
    let mut options = BagOptions::new(tiny_rig());
    options.topics = BagTopics {
        cam0: Some("/cam1/image_raw".into()),
        cam1: Some("/depth/image".into()),
        imu: Some("/imu2".into()),
        ground_truth: None,
    };
    let ds = ok(EurocDataset::open_mcap(&path, &options));
    assert_eq!(ds.stereo_entries().len(), 3);
    assert_eq!(ds.load_stereo(1).map(|f| f.left.data()[0]).ok(), Some(40));
    // A named topic of the wrong type or absent.
    options.topics.imu = Some("/cam0/image_raw".into());
    assert!(EurocDataset::open_mcap(&path, &options).is_err());
    options.topics.imu = Some("/nope".into());
    let err = EurocDataset::open_mcap(&path, &options)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains("no topic /nope") && err.contains("/imu2"),
        "{err}"
    );

    let topics = ok(list_topics(&path));
    let names: Vec<_> = topics.iter().map(|t| t.topic.as_str()).collect();
    assert_eq!(
        names,
        [
            "/cam0/image_raw",
            "/cam1/image_raw",
            "/depth/image",
            "/imu",
            "/imu2"
        ]
    );
    assert!(topics.iter().all(|t| t.message_encoding == "cdr"));
}

#[test]
fn wrong_size_and_unsupported_encodings_name_the_topic_and_message() {
    let dir = ok(tempfile::tempdir());
    let path = dir.path().join("bayer.mcap");
    write_custom_bag(
        &path,
        &[("/cam0", "mono8", 1), ("/cam1", "bayer_rggb8", 1)],
        &[],
    );
    let err = EurocDataset::open_mcap(&path, &BagOptions::new(tiny_rig()))
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains("topic /cam1 message 1") && err.contains("bayer_rggb8"),
        "{err}"
    );
    let mut rig = tiny_rig();
    rig.cam0.width = 20;
    rig.cam1.width = 20;
    let path = dir.path().join("mono.mcap");
    write_custom_bag(&path, &[("/cam0", "mono8", 1), ("/cam1", "mono8", 1)], &[]);
    let err = EurocDataset::open_mcap(&path, &BagOptions::new(rig))
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains("topic /cam0 message") && err.contains("16x12") && err.contains("20x12"),
        "{err}"
    );
    // Without an IMU topic the bag reads, and check_usable says why it
    // cannot feed a visual-inertial run.
    let ds = ok(EurocDataset::open_mcap(&path, &BagOptions::new(tiny_rig())));
    assert!(ds.imu().is_empty());
    let err = ds
        .check_usable()
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("Imu topic"), "{err}");
}

fn tiny_bag(dir: &Path, compression: BagCompression, chunk_bytes: u64) -> PathBuf {
    let folder = tiny_folder(&dir.join(format!("seq-{compression:?}-{chunk_bytes}")));
    let path = dir.join(format!("tiny-{compression:?}-{chunk_bytes}.mcap"));
    let options = BagWriterOptions {
        compression,
        chunk_bytes,
        ..BagWriterOptions::default()
    };
    ok(write_dataset(&folder, &path, &options, |_| {}))
}

#[test]
fn a_bag_cut_short_reads_up_to_the_cut() {
    let dir = ok(tempfile::tempdir());
    let path = tiny_bag(dir.path(), BagCompression::None, 300);
    let bytes = std::fs::read(&path).unwrap_or_default();
    // Cut in the middle of the data section.
    let cut = dir.path().join("cut.mcap");
    std::fs::write(&cut, &bytes[..bytes.len() * 2 / 3]).unwrap_or_else(|e| panic!("{e}"));
    // With 300-byte chunks, whole chunks with a pair or two come before the cut.
    let ds = ok(EurocDataset::open_mcap(&cut, &BagOptions::new(tiny_rig())));
    let report = ds.bag_report().unwrap_or_else(|| panic!("no report"));
    assert!(report.truncated_at.is_some());
    let pairs = all_pairs(&ds);
    assert!((1..3).contains(&pairs.len()), "{} pairs", pairs.len());
    let folder = ok(EurocDataset::open(dir.path().join("seq-None-300")));
    assert_eq!(pairs[..], all_pairs(&folder)[..pairs.len()]);
    // Not an MCAP file at all.
    let png = dir.path().join("not.mcap");
    std::fs::write(&png, b"\x89PNG\r\n\x1a\n....").unwrap_or_else(|e| panic!("{e}"));
    let err = EurocDataset::open_mcap(&png, &BagOptions::new(tiny_rig()))
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("not an MCAP file"), "{err}");
}

#[test]
fn corrupt_bags_give_a_sequence_or_an_error_naming_the_bag() {
    let dir = ok(tempfile::tempdir());
    for compression in [BagCompression::None, BagCompression::Zstd] {
        let path = tiny_bag(dir.path(), compression, 1000);
        let sample = std::fs::read(&path).unwrap_or_default();
        let scratch = dir.path().join("scratch.mcap");
        let name = format!("bag ({compression:?})");
        let mut options = BagOptions::new(tiny_rig());
        // A corrupt length must not make the reader ask for much memory.
        options.max_chunk_bytes = 1 << 20;
        testkit::fuzz(&name, &sample, |bytes| {
            std::fs::write(&scratch, bytes).unwrap_or_else(|e| panic!("{e}"));
            match EurocDataset::open_mcap(&scratch, &options) {
                Ok(ds) => {
                    for i in 0..ds.stereo_entries().len() {
                        if let Err(e) = ds.load_stereo(i) {
                            assert!(e.to_string().contains("scratch.mcap"), "{e}");
                        }
                    }
                }
                Err(e) => assert!(e.to_string().contains("scratch.mcap"), "{e}"),
            }
        });
    }
}

#[test]
fn real_euroc_snippet_survives_a_bag_round_trip() {
    let Some(root) = euroc_micro() else { return };
    let folder = ok(EurocDataset::open(&root));
    let dir = ok(tempfile::tempdir());
    let path = dir.path().join("V1_01_easy_micro.mcap");
    let bag_path = ok(write_dataset(
        &folder,
        &path,
        &BagWriterOptions::default(),
        |_| {},
    ));
    let size = std::fs::metadata(&bag_path).map(|m| m.len()).unwrap_or(0);
    let pngs: u64 = ["cam0", "cam1"]
        .iter()
        .flat_map(|c| std::fs::read_dir(root.join("mav0").join(c).join("data")).into_iter())
        .flatten()
        .flatten()
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum();
    println!("bag {size} bytes, PNGs {pngs} bytes");
    let mut options = BagOptions::new(folder.calibration().clone());
    options.topics.ground_truth = Some("/ground_truth".into());
    let bag = ok(EurocDataset::open_mcap(&bag_path, &options));
    assert_eq!(bag.stereo_entries().len(), 95);
    assert_same_sequence(&folder, &bag);
    assert_eq!(bag.ground_truth().len(), folder.ground_truth().len());
    ok(bag.check_usable());
}

/// A bag dropped before `finish` is removed, or kept as `PATH.partial`
/// (readable up to where it stopped) when asked.
#[test]
fn an_unfinished_bag_is_removed_or_kept_as_partial() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let gone = dir.path().join("gone.mcap");
    let writer =
        datasets::rosbag::BagWriter::create(&gone, &datasets::rosbag::BagWriterOptions::default())
            .unwrap_or_else(|e| panic!("{e}"));
    drop(writer);
    let names = |d: &std::path::Path| {
        std::fs::read_dir(d)
            .unwrap_or_else(|e| panic!("{e}"))
            .map(|e| e.map(|e| e.file_name()).unwrap_or_default())
            .collect::<Vec<_>>()
    };
    assert!(names(dir.path()).is_empty(), "{:?}", names(dir.path()));
    let kept = dir.path().join("kept.mcap");
    let mut writer =
        datasets::rosbag::BagWriter::create(&kept, &datasets::rosbag::BagWriterOptions::default())
            .unwrap_or_else(|e| panic!("{e}"));
    writer.keep_partial();
    let partial = writer.partial_path();
    assert_eq!(partial, dir.path().join("kept.mcap.partial"));
    drop(writer);
    assert!(partial.is_file());
    assert!(!kept.exists());
}
