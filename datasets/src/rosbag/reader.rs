//! Reading a ROS 2 bag (MCAP, CDR messages) as a stereo-inertial sequence:
//! the index pass behind [`EurocDataset::open_mcap`](crate::euroc::EurocDataset::open_mcap), topic selection, and
//! the conversion of `sensor_msgs/msg/Image` pixels to 8-bit grey.
//!
//! Opening reads (and decompresses) the whole bag once, at about the speed of
//! zstd, holding one chunk at a time: every `Image` message on an image topic
//! is parsed up to its pixels (stamp, size, encoding, row layout, all checked)
//! and remembered by location; every `Imu` (and a chosen `PoseStamped`)
//! message is decoded. Pixels are decoded again when a pair is loaded.
//!
//! Conventions:
//! - Time stamps are the messages' `header.stamp` (the sensor's time), not the
//!   bag's log time (when the recorder received them). Each topic is sorted by
//!   stamp; a message with the stamp of the one before it on its topic is
//!   dropped and counted ([`BagReport::duplicate_stamps`]).
//! - Pixel encodings: `mono8` and `8UC1` as they are; `mono16` reduced to 8
//!   bits by a right shift of [`BagOptions::mono16_bits`]` - 8` saturated at
//!   255 (16, the default, keeps the high byte: the full-range `mono16` of ROS
//!   and cv_bridge, and what scout does with TUM-VI's 16-bit PNGs; a 10- or
//!   12-bit sensor whose driver stores the raw value in the low bits wants 10
//!   or 12), in the byte order `is_bigendian` says; `rgb8`, `bgr8`, `rgba8`,
//!   `bgra8` to luma (BT.601, `(77 R + 150 G + 29 B + 128) >> 8`);
//!   `yuv422`/`uyvy` and `yuv422_yuy2`/`yuyv` to their Y bytes. Any other
//!   encoding (Bayer, 16-bit depth, floats) is an error naming the topic and
//!   the encoding. A row's `step` may exceed its pixels (padding).
//! - IMU: `angular_velocity` (rad/s) and `linear_acceleration` (m/s^2, specific
//!   force) become [`ImuSample`]s in the IMU's frame as they are; orientation
//!   and covariances are not used.
//! - Ground truth (optional, a topic given by name): `PoseStamped` poses are
//!   `world_from_body`, without velocity or biases.
//!
//! Every defect of the bag is an error naming the bag, the topic, the 1-based
//! message number on that topic and its log time; defects on topics that are
//! not used are ignored.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use nalgebra::{Isometry3, Quaternion, Translation3, UnitQuaternion, Vector3};

use super::cdr::{self, CdrError};
use super::file::{McapFile, MessageAt, PassEnd};
use super::schema::{MESSAGE_ENCODING, MessageKind};
use crate::error::{DatasetError, Result};
use crate::euroc::{ImageRef, ReaderConfig, StereoEntry};
use crate::image::GrayImage;
use crate::model::{GroundTruthState, ImuSample, RigCalibration};

/// Which topics of a bag hold the cameras, the IMU and ground truth; `None`
/// finds the cameras and the IMU by message type (see [`BagTopics`]'s rule
/// below) and reads no ground truth.
///
/// By type: with exactly one `sensor_msgs/msg/Imu` topic it is the IMU (none:
/// no IMU samples; several: an error). With exactly two `sensor_msgs/msg/Image`
/// topics (one when the other camera is given), they are the cameras: the one
/// whose name (case-insensitively) contains `left`, `cam0` or `infra1` and not
/// `right`, `cam1` or `infra2` is cam0 when the other is the reverse; else the
/// names' byte order decides (`/cam0/...` before `/cam1/...`). Any other count
/// is an error that lists the bag's topics and asks for the topic names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BagTopics {
    /// Left camera's `Image` topic.
    pub cam0: Option<String>,
    /// Right camera's `Image` topic.
    pub cam1: Option<String>,
    /// The `Imu` topic.
    pub imu: Option<String>,
    /// A `PoseStamped` topic of ground truth (body in the world).
    pub ground_truth: Option<String>,
}

/// Default [`BagOptions::max_chunk_bytes`]: 256 MiB.
pub const DEFAULT_MAX_CHUNK_BYTES: u64 = 256 << 20;

/// How to read a bag.
#[derive(Debug, Clone, PartialEq)]
pub struct BagOptions {
    /// The topics (or `None`s to find them by type).
    pub topics: BagTopics,
    /// The rig's calibration (a bag carries none): read it with
    /// [`crate::euroc::read_kalibr_rig`] or the `sensor.yaml` readers. Images
    /// must have its cameras' sizes.
    pub calibration: RigCalibration,
    /// Stereo pairing tolerance and the IMU lead of
    /// [`EurocDataset::events`](crate::euroc::EurocDataset::events), as for a folder.
    pub reader: ReaderConfig,
    /// Significant bits of a `mono16` pixel, 8-16: the value is shifted right
    /// by `mono16_bits - 8` and saturated at 255. 16 (default): the full
    /// range, the high byte kept.
    pub mono16_bits: u8,
    /// Added to the cameras' stamps to put them on the IMU's clock, ns:
    /// Kalibr's `timeshift_cam_imu` (`t_imu = t_cam + shift`, the second
    /// value [`crate::euroc::read_kalibr_rig`] returns) in nanoseconds.
    /// Default 0.
    pub camera_time_shift_ns: i64,
    /// Largest record or decompressed chunk read, bytes (default 256 MiB;
    /// rosbag2 and scout write chunks of about 1-4 MiB). Bounds the memory a
    /// corrupt bag can make the reader ask for.
    pub max_chunk_bytes: u64,
}

impl BagOptions {
    /// Default options for a rig: topics found by type, 16-bit `mono16`.
    #[must_use]
    pub fn new(calibration: RigCalibration) -> Self {
        Self {
            topics: BagTopics::default(),
            calibration,
            reader: ReaderConfig::default(),
            mono16_bits: 16,
            camera_time_shift_ns: 0,
            max_chunk_bytes: DEFAULT_MAX_CHUNK_BYTES,
        }
    }
}

/// One topic of a bag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicInfo {
    /// Topic name.
    pub topic: String,
    /// Its schema name (`sensor_msgs/msg/Image`); empty when it has none.
    pub schema: String,
    /// Its message encoding (`cdr` for ROS 2).
    pub message_encoding: String,
    /// Messages on it.
    pub messages: u64,
}

impl std::fmt::Display for TopicInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}, {}, {} messages)",
            self.topic,
            if self.schema.is_empty() {
                "no schema"
            } else {
                &self.schema
            },
            self.message_encoding,
            self.messages
        )
    }
}

/// What [`EurocDataset::open_mcap`](crate::euroc::EurocDataset::open_mcap) found and chose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BagReport {
    /// The bag.
    pub path: PathBuf,
    /// Every topic, in the order the bag introduced them.
    pub topics: Vec<TopicInfo>,
    /// The left camera's topic.
    pub cam0: String,
    /// The right camera's topic.
    pub cam1: String,
    /// The IMU's topic (`None`: the bag has no `Imu` topic).
    pub imu: Option<String>,
    /// The ground truth's topic.
    pub ground_truth: Option<String>,
    /// Messages dropped on the used topics for repeating the stamp of the
    /// message before them.
    pub duplicate_stamps: usize,
    /// When the bag ends inside a record (a recording cut short): the byte
    /// offset of that record; what came before it is read.
    pub truncated_at: Option<u64>,
}

/// Where an image is in a bag: one message of a camera's topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BagMessageRef {
    /// 1-based number of the message on its topic, in bag order.
    pub number: u64,
    /// The message's log time (when the recorder got it), ns.
    pub log_time_ns: u64,
    pub(crate) at: MessageAt,
}

/// The bag behind a dataset opened with [`EurocDataset::open_mcap`](crate::euroc::EurocDataset::open_mcap): the file
/// and what loading an image needs.
#[derive(Debug)]
pub(crate) struct BagSource {
    file: McapFile,
    /// cam0's and cam1's topics.
    topics: [String; 2],
    mono16_bits: u8,
}

/// Everything [`EurocDataset::open_mcap`](crate::euroc::EurocDataset::open_mcap) builds a dataset from.
#[derive(Debug)]
pub(crate) struct BagParts {
    pub report: BagReport,
    pub source: BagSource,
    pub stereo: Vec<StereoEntry>,
    pub imu: Vec<ImuSample>,
    pub ground_truth: Vec<GroundTruthState>,
    pub unpaired: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PixelFormat {
    Mono8,
    Mono16,
    Rgb8,
    Bgr8,
    Rgba8,
    Bgra8,
    /// `yuv422` in ROS: U Y0 V Y1.
    Uyvy,
    /// `yuv422_yuy2`: Y0 U Y1 V.
    Yuyv,
}

/// Encodings read, for error messages.
const ENCODINGS: &str =
    "mono8, 8UC1, mono16, rgb8, bgr8, rgba8, bgra8, yuv422 (uyvy), yuv422_yuy2 (yuyv)";

impl PixelFormat {
    fn parse(encoding: &str) -> Option<Self> {
        Some(match encoding {
            "mono8" | "8UC1" => Self::Mono8,
            "mono16" => Self::Mono16,
            "rgb8" => Self::Rgb8,
            "bgr8" => Self::Bgr8,
            "rgba8" => Self::Rgba8,
            "bgra8" => Self::Bgra8,
            "yuv422" | "uyvy" => Self::Uyvy,
            "yuv422_yuy2" | "yuyv" => Self::Yuyv,
            _ => return None,
        })
    }

    fn bytes_per_pixel(self) -> usize {
        match self {
            Self::Mono8 => 1,
            Self::Mono16 | Self::Uyvy | Self::Yuyv => 2,
            Self::Rgb8 | Self::Bgr8 => 3,
            Self::Rgba8 | Self::Bgra8 => 4,
        }
    }
}

/// Checks an image message's layout; returns its format and size.
fn check_layout(
    image: &cdr::Image<'_>,
) -> std::result::Result<(PixelFormat, usize, usize), String> {
    let format = PixelFormat::parse(image.encoding).ok_or_else(|| {
        format!(
            "encoding `{}` is not supported ({ENCODINGS} are)",
            image.encoding
        )
    })?;
    let (width, height) = (image.width as usize, image.height as usize);
    if width == 0 || height == 0 {
        return Err(format!("empty image ({width}x{height})"));
    }
    let row = width
        .checked_mul(format.bytes_per_pixel())
        .ok_or_else(|| format!("width {width} overflows"))?;
    let step = image.step as usize;
    if step < row {
        return Err(format!(
            "step {step} is shorter than a row of {width} {} pixels ({row} bytes)",
            image.encoding
        ));
    }
    let needed = step
        .checked_mul(height - 1)
        .and_then(|n| n.checked_add(row))
        .ok_or_else(|| format!("{height} rows of {step} bytes overflow"))?;
    if image.data.len() < needed {
        return Err(format!(
            "{width}x{height} {} with step {step} needs {needed} bytes of data, the message has {}",
            image.encoding,
            image.data.len()
        ));
    }
    Ok((format, width, height))
}

/// Converts an image message's pixels to 8-bit grey in `out` (its buffer reused).
fn to_gray(
    image: &cdr::Image<'_>,
    mono16_bits: u8,
    out: &mut GrayImage,
) -> std::result::Result<(), String> {
    let (format, width, height) = check_layout(image)?;
    let step = image.step as usize;
    let mut data = std::mem::take(out).into_vec();
    data.clear();
    data.reserve(width * height);
    let shift = u32::from(mono16_bits.clamp(8, 16) - 8);
    let big_endian = image.is_bigendian != 0;
    for y in 0..height {
        let row = &image.data[y * step..y * step + width * format.bytes_per_pixel()];
        match format {
            PixelFormat::Mono8 => data.extend_from_slice(row),
            PixelFormat::Mono16 => data.extend(row.chunks_exact(2).map(|p| {
                let v = if big_endian {
                    u16::from_be_bytes([p[0], p[1]])
                } else {
                    u16::from_le_bytes([p[0], p[1]])
                };
                u8::try_from(v >> shift).unwrap_or(u8::MAX)
            })),
            PixelFormat::Rgb8 => data.extend(row.chunks_exact(3).map(|p| luma(p[0], p[1], p[2]))),
            PixelFormat::Bgr8 => data.extend(row.chunks_exact(3).map(|p| luma(p[2], p[1], p[0]))),
            PixelFormat::Rgba8 => data.extend(row.chunks_exact(4).map(|p| luma(p[0], p[1], p[2]))),
            PixelFormat::Bgra8 => data.extend(row.chunks_exact(4).map(|p| luma(p[2], p[1], p[0]))),
            PixelFormat::Uyvy => data.extend(row.chunks_exact(2).map(|p| p[1])),
            PixelFormat::Yuyv => data.extend(row.chunks_exact(2).map(|p| p[0])),
        }
    }
    *out = GrayImage::from_vec(width, height, data).ok_or("decoded size mismatch")?;
    Ok(())
}

/// BT.601 luma of an 8-bit RGB pixel, weights in 1/256.
fn luma(r: u8, g: u8, b: u8) -> u8 {
    let y = (77 * u32::from(r) + 150 * u32::from(g) + 29 * u32::from(b) + 128) >> 8;
    u8::try_from(y).unwrap_or(u8::MAX)
}

/// An error about one message of a topic.
fn message_error(
    path: &Path,
    topic: &str,
    number: u64,
    log_time: u64,
    what: impl std::fmt::Display,
) -> DatasetError {
    DatasetError::malformed_file(
        path,
        format!("topic {topic} message {number} (log time {log_time} ns): {what}"),
    )
}

fn stamp_ns(header: &cdr::Header<'_>) -> std::result::Result<i64, String> {
    header.stamp.to_ns().ok_or_else(|| {
        format!(
            "header.stamp nanosec {} is not below 1e9",
            header.stamp.nanosec
        )
    })
}

fn cdr_problem(e: CdrError) -> String {
    e.to_string()
}

impl BagSource {
    /// Decodes the image of `camera` (0: cam0, 1: cam1) at `msg` into `out`.
    pub(crate) fn load(
        &self,
        camera: usize,
        msg: &BagMessageRef,
        expected: (usize, usize),
        out: &mut GrayImage,
    ) -> Result<()> {
        let topic = &self.topics[camera.min(1)];
        let err = |what: String| {
            message_error(self.file.path(), topic, msg.number, msg.log_time_ns, what)
        };
        self.file
            .with_message(msg.at, |data| {
                let image = cdr::Image::decode(data).map_err(cdr_problem)?;
                to_gray(&image, self.mono16_bits, out)?;
                if (out.width(), out.height()) != expected {
                    return Err(format!(
                        "is {}x{} pixels, the calibration says {}x{}",
                        out.width(),
                        out.height(),
                        expected.0,
                        expected.1
                    ));
                }
                Ok(())
            })?
            .map_err(err)
    }
}

/// A topic as the pass sees it.
#[derive(Debug)]
struct TopicState {
    info: TopicInfo,
    kind: MessageKind,
    images: Vec<(i64, BagMessageRef, (usize, usize))>,
    imu: Vec<ImuSample>,
    poses: Vec<GroundTruthState>,
    /// The first defect of a message on it (raised only if the topic is used).
    error: Option<DatasetError>,
}

/// The pass's record of schemas, channels and topics.
#[derive(Debug, Default)]
struct Index {
    schemas: HashMap<u16, String>,
    channels: HashMap<u16, usize>,
    topics: Vec<TopicState>,
    by_name: HashMap<String, usize>,
}

impl Index {
    fn channel(&mut self, schema_id: u16, topic: &str, message_encoding: &str) -> usize {
        if let Some(&k) = self.by_name.get(topic) {
            return k;
        }
        let schema = self.schemas.get(&schema_id).cloned().unwrap_or_default();
        let kind = if message_encoding == MESSAGE_ENCODING {
            MessageKind::of(&schema)
        } else {
            MessageKind::Other
        };
        self.topics.push(TopicState {
            info: TopicInfo {
                topic: topic.to_owned(),
                schema,
                message_encoding: message_encoding.to_owned(),
                messages: 0,
            },
            kind,
            images: Vec::new(),
            imu: Vec::new(),
            poses: Vec::new(),
            error: None,
        });
        self.by_name.insert(topic.to_owned(), self.topics.len() - 1);
        self.topics.len() - 1
    }

    /// Counts a message and, on a topic of a type read, indexes or decodes it.
    fn message(
        &mut self,
        path: &Path,
        channel_id: u16,
        log_time: u64,
        at: MessageAt,
        data: &[u8],
        decode: bool,
    ) -> Result<()> {
        let &k = self.channels.get(&channel_id).ok_or_else(|| {
            DatasetError::malformed_file(
                path,
                format!(
                    "a message (log time {log_time} ns) is on channel {channel_id}, which no channel record defines"
                ),
            )
        })?;
        let topic = &mut self.topics[k];
        topic.info.messages += 1;
        if !decode || topic.error.is_some() {
            return Ok(());
        }
        let number = topic.info.messages;
        let result = match topic.kind {
            MessageKind::Image => index_image(data).map(|(t_ns, size)| {
                let msg = BagMessageRef {
                    number,
                    log_time_ns: log_time,
                    at,
                };
                topic.images.push((t_ns, msg, size));
            }),
            MessageKind::Imu => decode_imu(data).map(|s| topic.imu.push(s)),
            MessageKind::PoseStamped => decode_pose(data).map(|p| topic.poses.push(p)),
            MessageKind::Other => Ok(()),
        };
        if let Err(what) = result {
            topic.error = Some(message_error(
                path,
                &topic.info.topic,
                number,
                log_time,
                what,
            ));
        }
        Ok(())
    }
}

fn index_image(data: &[u8]) -> std::result::Result<(i64, (usize, usize)), String> {
    let image = cdr::Image::decode(data).map_err(cdr_problem)?;
    let t_ns = stamp_ns(&image.header)?;
    let (_, width, height) = check_layout(&image)?;
    Ok((t_ns, (width, height)))
}

fn finite(name: &str, v: &[f64]) -> std::result::Result<(), String> {
    if v.iter().all(|x| x.is_finite()) {
        Ok(())
    } else {
        Err(format!("{name} {v:?} is not finite"))
    }
}

fn decode_imu(data: &[u8]) -> std::result::Result<ImuSample, String> {
    let imu = cdr::Imu::decode(data).map_err(cdr_problem)?;
    let t_ns = stamp_ns(&imu.header)?;
    finite("angular_velocity", &imu.angular_velocity)?;
    finite("linear_acceleration", &imu.linear_acceleration)?;
    let [wx, wy, wz] = imu.angular_velocity;
    let [ax, ay, az] = imu.linear_acceleration;
    Ok(ImuSample {
        t_ns,
        gyro: Vector3::new(wx, wy, wz),
        accel: Vector3::new(ax, ay, az),
    })
}

fn decode_pose(data: &[u8]) -> std::result::Result<GroundTruthState, String> {
    let pose = cdr::PoseStamped::decode(data).map_err(cdr_problem)?;
    let t_ns = stamp_ns(&pose.header)?;
    finite("pose.position", &pose.position)?;
    finite("pose.orientation", &pose.orientation)?;
    let [x, y, z, w] = pose.orientation;
    let q = Quaternion::new(w, x, y, z);
    if (q.norm() - 1.0).abs() > 0.01 {
        return Err(format!(
            "orientation (x y z w) = ({x}, {y}, {z}, {w}) does not have unit norm"
        ));
    }
    let [px, py, pz] = pose.position;
    Ok(GroundTruthState {
        t_ns,
        world_from_body: Isometry3::from_parts(
            Translation3::new(px, py, pz),
            UnitQuaternion::from_quaternion(q),
        ),
        v_world: None,
        bias: None,
    })
}

/// Reads the bag's records once; `decode` also indexes images and decodes
/// IMU and pose messages.
fn read_index(
    path: &Path,
    max_chunk_bytes: u64,
    decode: bool,
) -> Result<(McapFile, Index, PassEnd)> {
    let mut file = McapFile::open(path, max_chunk_bytes)?;
    let mut index = Index::default();
    let end = file.pass(|event| {
        match event {
            super::file::Event::Schema { id, name } => {
                index.schemas.entry(id).or_insert_with(|| name.to_owned());
            }
            super::file::Event::Channel {
                id,
                schema_id,
                topic,
                message_encoding,
            } => {
                let k = index.channel(schema_id, topic, message_encoding);
                index.channels.entry(id).or_insert(k);
            }
            super::file::Event::Message {
                channel_id,
                log_time,
                at,
                data,
            } => index.message(path, channel_id, log_time, at, data, decode)?,
        }
        Ok(())
    })?;
    Ok((file, index, end))
}

/// Lists a bag's topics (one pass over its records; no message is decoded).
///
/// # Errors
/// When the file cannot be read or is not a valid MCAP file.
pub fn list_topics(path: impl AsRef<Path>) -> Result<Vec<TopicInfo>> {
    let path = path.as_ref();
    let (_, index, _) = read_index(path, DEFAULT_MAX_CHUNK_BYTES, false)?;
    Ok(index.topics.into_iter().map(|t| t.info).collect())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Left,
    Right,
}

fn side(topic: &str) -> Option<Side> {
    let t = topic.to_lowercase();
    let left = ["left", "cam0", "infra1"].iter().any(|m| t.contains(m));
    let right = ["right", "cam1", "infra2"].iter().any(|m| t.contains(m));
    match (left, right) {
        (true, false) => Some(Side::Left),
        (false, true) => Some(Side::Right),
        _ => None,
    }
}

/// Orders two camera topics as (cam0, cam1); see [`BagTopics`].
pub(crate) fn order_stereo<'a>(a: &'a str, b: &'a str) -> (&'a str, &'a str) {
    match (side(a), side(b)) {
        (Some(Side::Left), Some(Side::Right)) => (a, b),
        (Some(Side::Right), Some(Side::Left)) => (b, a),
        _ if a <= b => (a, b),
        _ => (b, a),
    }
}

fn topic_list(topics: &[TopicState]) -> String {
    if topics.is_empty() {
        return "the bag has no topics".into();
    }
    let names: Vec<String> = topics.iter().map(|t| t.info.to_string()).collect();
    format!("topics in the bag: {}", names.join("; "))
}

/// Picks the topic for one role: the one named, or the only one of its kind.
fn pick(
    path: &Path,
    topics: &[TopicState],
    named: Option<&str>,
    kind: MessageKind,
    what: &str,
    flag: &str,
) -> Result<Option<usize>> {
    let type_name = match kind {
        MessageKind::Image => "sensor_msgs/msg/Image",
        MessageKind::Imu => "sensor_msgs/msg/Imu",
        MessageKind::PoseStamped => "geometry_msgs/msg/PoseStamped",
        MessageKind::Other => "",
    };
    let Some(name) = named else {
        return Ok(None);
    };
    let Some(k) = topics.iter().position(|t| t.info.topic == name) else {
        return Err(DatasetError::malformed_file(
            path,
            format!(
                "no topic {name} (the {what}, {flag}); {}",
                topic_list(topics)
            ),
        ));
    };
    let t = &topics[k];
    if t.kind != kind {
        return Err(DatasetError::malformed_file(
            path,
            format!(
                "topic {name} (the {what}) is {} encoded as {}; a {type_name} topic encoded as cdr is needed",
                if t.info.schema.is_empty() {
                    "without schema"
                } else {
                    &t.info.schema
                },
                t.info.message_encoding
            ),
        ));
    }
    Ok(Some(k))
}

/// The topics used: cam0, cam1, IMU, ground truth.
fn select(
    path: &Path,
    topics: &[TopicState],
    wanted: &BagTopics,
) -> Result<(usize, usize, Option<usize>, Option<usize>)> {
    let cam0 = pick(
        path,
        topics,
        wanted.cam0.as_deref(),
        MessageKind::Image,
        "left camera",
        "cam0",
    )?;
    let cam1 = pick(
        path,
        topics,
        wanted.cam1.as_deref(),
        MessageKind::Image,
        "right camera",
        "cam1",
    )?;
    let imu = pick(
        path,
        topics,
        wanted.imu.as_deref(),
        MessageKind::Imu,
        "IMU",
        "imu",
    )?;
    let ground_truth = pick(
        path,
        topics,
        wanted.ground_truth.as_deref(),
        MessageKind::PoseStamped,
        "ground truth",
        "ground truth",
    )?;
    let of_kind = |kind: MessageKind, taken: &[Option<usize>]| -> Vec<usize> {
        (0..topics.len())
            .filter(|&k| {
                topics[k].kind == kind && topics[k].info.messages > 0 && !taken.contains(&Some(k))
            })
            .collect()
    };
    let ask = |found: &str| {
        DatasetError::malformed_file(
            path,
            format!(
                "{found}: name the topics (cam0, cam1, imu); {}",
                topic_list(topics)
            ),
        )
    };
    let (cam0, cam1) = match (cam0, cam1) {
        (Some(a), Some(b)) => (a, b),
        (Some(a), None) | (None, Some(a)) => {
            let rest = of_kind(MessageKind::Image, &[Some(a)]);
            let [b] = rest[..] else {
                return Err(ask(&format!(
                    "one camera topic is given and {} other Image topics are in the bag, not 1",
                    rest.len()
                )));
            };
            if cam0.is_some() { (a, b) } else { (b, a) }
        }
        (None, None) => {
            let found = of_kind(MessageKind::Image, &[]);
            let [a, b] = found[..] else {
                return Err(ask(&format!(
                    "{} sensor_msgs/msg/Image topics with messages are in the bag, not 2",
                    found.len()
                )));
            };
            let (first, _) = order_stereo(&topics[a].info.topic, &topics[b].info.topic);
            if first == topics[a].info.topic {
                (a, b)
            } else {
                (b, a)
            }
        }
    };
    if cam0 == cam1 {
        return Err(ask("cam0 and cam1 are the same topic"));
    }
    let imu = match imu {
        Some(k) => Some(k),
        None => {
            let found = of_kind(MessageKind::Imu, &[]);
            match found[..] {
                [] => None,
                [k] => Some(k),
                _ => {
                    return Err(ask(&format!(
                        "{} sensor_msgs/msg/Imu topics with messages are in the bag, not 1",
                        found.len()
                    )));
                }
            }
        }
    };
    Ok((cam0, cam1, imu, ground_truth))
}

/// Sorts by stamp and drops repeated stamps; returns how many were dropped.
fn sort_dedup<T>(items: &mut Vec<T>, t_ns: impl Fn(&T) -> i64) -> usize {
    items.sort_by_key(&t_ns);
    let before = items.len();
    items.dedup_by(|b, a| t_ns(a) == t_ns(b));
    before - items.len()
}

/// Opens and indexes a bag; see [`EurocDataset::open_mcap`](crate::euroc::EurocDataset::open_mcap).
pub(crate) fn open(path: &Path, options: &BagOptions) -> Result<BagParts> {
    if !(8..=16).contains(&options.mono16_bits) {
        return Err(DatasetError::InvalidArgument(format!(
            "mono16_bits must be 8 to 16, not {}",
            options.mono16_bits
        )));
    }
    let (file, mut index, end) = read_index(path, options.max_chunk_bytes, true)?;
    let (k0, k1, k_imu, k_gt) = select(path, &index.topics, &options.topics)?;
    for k in [Some(k0), Some(k1), k_imu, k_gt].into_iter().flatten() {
        if let Some(e) = index.topics[k].error.take() {
            return Err(e);
        }
    }
    let mut duplicate_stamps = 0;
    let mut cameras = Vec::with_capacity(2);
    for (k, cam) in [
        (k0, &options.calibration.cam0),
        (k1, &options.calibration.cam1),
    ] {
        let topic = &mut index.topics[k];
        let mut images = std::mem::take(&mut topic.images);
        duplicate_stamps += sort_dedup(&mut images, |i| i.0);
        if let Some((_, msg, size)) = images
            .iter()
            .find(|(_, _, size)| *size != (cam.width, cam.height))
        {
            return Err(message_error(
                path,
                &topic.info.topic,
                msg.number,
                msg.log_time_ns,
                format!(
                    "is {}x{} pixels, the calibration of {} says {}x{}",
                    size.0, size.1, cam.name, cam.width, cam.height
                ),
            ));
        }
        let refs: Vec<(i64, ImageRef)> = images
            .into_iter()
            .map(|(t_ns, msg, _)| {
                (
                    t_ns.saturating_add(options.camera_time_shift_ns),
                    ImageRef {
                        path: path.to_path_buf(),
                        csv_line: 0,
                        bag_message: Some(msg),
                    },
                )
            })
            .collect();
        cameras.push(refs);
    }
    let right = cameras.pop().unwrap_or_default();
    let left = cameras.pop().unwrap_or_default();
    let (stereo, unpaired) =
        crate::euroc::pair_stereo(left, right, options.reader.max_stereo_offset_ns);
    let mut imu = k_imu
        .map(|k| std::mem::take(&mut index.topics[k].imu))
        .unwrap_or_default();
    duplicate_stamps += sort_dedup(&mut imu, |s| s.t_ns);
    let mut ground_truth = k_gt
        .map(|k| std::mem::take(&mut index.topics[k].poses))
        .unwrap_or_default();
    duplicate_stamps += sort_dedup(&mut ground_truth, |s| s.t_ns);

    let name = |k: usize| index.topics[k].info.topic.clone();
    let report = BagReport {
        path: path.to_path_buf(),
        cam0: name(k0),
        cam1: name(k1),
        imu: k_imu.map(name),
        ground_truth: k_gt.map(name),
        topics: index.topics.iter().map(|t| t.info.clone()).collect(),
        duplicate_stamps,
        truncated_at: end.truncated_at,
    };
    if let Some(at) = end.truncated_at {
        tracing::warn!(
            "{}: the bag ends inside the record at byte {at} (a recording cut short?); read what came before it",
            path.display()
        );
    }
    if duplicate_stamps > 0 {
        tracing::warn!(
            "{}: {duplicate_stamps} messages repeat the stamp of the one before them on their topic and are skipped",
            path.display()
        );
    }
    let source = BagSource {
        file,
        topics: [report.cam0.clone(), report.cam1.clone()],
        mono16_bits: options.mono16_bits,
    };
    Ok(BagParts {
        report,
        source,
        stereo,
        imu,
        ground_truth,
        unpaired,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stereo_topics_are_ordered_by_side_then_name() {
        assert_eq!(
            order_stereo("/stereo/right/image_raw", "/stereo/left/image_raw"),
            ("/stereo/left/image_raw", "/stereo/right/image_raw")
        );
        assert_eq!(
            order_stereo(
                "/camera/infra2/image_rect_raw",
                "/camera/infra1/image_rect_raw"
            ),
            (
                "/camera/infra1/image_rect_raw",
                "/camera/infra2/image_rect_raw"
            )
        );
        assert_eq!(
            order_stereo("/cam1/image_raw", "/cam0/image_raw"),
            ("/cam0/image_raw", "/cam1/image_raw")
        );
        // Right-hand names that sort first are still cam1.
        assert_eq!(order_stereo("/a_right", "/b_left"), ("/b_left", "/a_right"));
        // No side in the names: byte order.
        assert_eq!(
            order_stereo("/b/image", "/a/image"),
            ("/a/image", "/b/image")
        );
    }

    fn image<'a>(encoding: &'a str, w: u32, h: u32, step: u32, data: &'a [u8]) -> cdr::Image<'a> {
        cdr::Image {
            header: cdr::Header::default(),
            height: h,
            width: w,
            encoding,
            is_bigendian: 0,
            step,
            data,
        }
    }

    #[test]
    fn pixels_convert_to_grey() -> std::result::Result<(), String> {
        let mut out = GrayImage::default();
        // mono8 with a padded step: the padding is skipped.
        to_gray(&image("mono8", 2, 2, 3, &[1, 2, 99, 3, 4]), 16, &mut out)?;
        assert_eq!(out.data(), [1, 2, 3, 4]);
        // mono16 little-endian: high byte; 12 bits: >> 4, saturated.
        let px = [0x34, 0x12, 0xff, 0x0f, 0x00, 0x10];
        to_gray(&image("mono16", 3, 1, 6, &px), 16, &mut out)?;
        assert_eq!(out.data(), [0x12, 0x0f, 0x10]);
        to_gray(&image("mono16", 3, 1, 6, &px), 12, &mut out)?;
        assert_eq!(out.data(), [0xff, 0xff, 0xff]);
        let low12 = [0x23, 0x01, 0xff, 0x0f];
        to_gray(&image("mono16", 2, 1, 4, &low12), 12, &mut out)?;
        assert_eq!(out.data(), [0x12, 0xff]);
        let mut big = image("mono16", 1, 1, 2, &[0x12, 0x34]);
        big.is_bigendian = 1;
        to_gray(&big, 16, &mut out)?;
        assert_eq!(out.data(), [0x12]);
        // Colour to luma; white stays white, pure channels weigh 77/150/29.
        to_gray(
            &image("rgb8", 2, 1, 6, &[255, 255, 255, 255, 0, 0]),
            16,
            &mut out,
        )?;
        assert_eq!(out.data(), [255, 77]);
        to_gray(&image("bgra8", 1, 1, 4, &[255, 0, 0, 9]), 16, &mut out)?;
        assert_eq!(out.data(), [29]);
        to_gray(&image("yuv422", 2, 1, 4, &[128, 10, 128, 20]), 16, &mut out)?;
        assert_eq!(out.data(), [10, 20]);
        to_gray(
            &image("yuv422_yuy2", 2, 1, 4, &[10, 128, 20, 128]),
            16,
            &mut out,
        )?;
        assert_eq!(out.data(), [10, 20]);
        Ok(())
    }

    #[test]
    fn bad_layouts_are_errors() {
        let mut out = GrayImage::default();
        let e = to_gray(&image("bayer_rggb8", 1, 1, 1, &[0]), 16, &mut out);
        assert!(e.is_err_and(|m| m.contains("bayer_rggb8")));
        assert!(to_gray(&image("mono8", 4, 2, 3, &[0; 8]), 16, &mut out).is_err());
        assert!(to_gray(&image("mono8", 4, 2, 4, &[0; 7]), 16, &mut out).is_err());
        assert!(to_gray(&image("mono8", 0, 2, 4, &[]), 16, &mut out).is_err());
        let huge = image("mono16", u32::MAX, u32::MAX, u32::MAX, &[0; 16]);
        assert!(to_gray(&huge, 16, &mut out).is_err());
    }
}
