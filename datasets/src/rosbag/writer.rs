//! Writing a stereo-inertial sequence as a ROS 2 bag (MCAP, profile `ros2`):
//! what `scout convert` writes from a folder and what a live recorder can
//! write frame by frame.
//!
//! Each stream is a channel with its ROS 2 message definition (schema
//! encoding `ros2msg`, [`super::schema`]) and CDR messages ([`super::cdr`]):
//! - the cameras: `sensor_msgs/msg/Image`, `mono8`, `step` = width, frame ids
//!   `cam0` and `cam1`;
//! - the IMU: `sensor_msgs/msg/Imu`, frame id `imu0`; angular velocity
//!   (rad/s) and linear acceleration (m/s^2) as sampled; no orientation
//!   (its covariance's first element is -1, ROS's "not provided"), other
//!   covariances zero ("unknown");
//! - ground truth, when written: `geometry_msgs/msg/PoseStamped` of
//!   `world_from_body` in frame `world`.
//!
//! `header.stamp` is the sample's `t_ns` and so are the message's log and
//! publish times (stamps must be from 1970 to 2038, as a ROS time and an MCAP
//! log time can hold). Messages are in zstd-compressed chunks (by default
//! 1 MiB before compression) with message and chunk indexes, so ROS 2 tools
//! and viewers read the bag. The file is written under a temporary name in
//! the same folder and renamed at [`BagWriter::finish`], so a bag with its
//! final name is complete; a writer dropped before `finish` removes it.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use mcap::records::MessageHeader;

use super::cdr::{self, Time};
use super::schema;
use crate::error::{DatasetError, Result};
use crate::euroc::EurocDataset;
use crate::model::{GroundTruthState, ImuSample, StereoFrame};

/// Topic names of a bag written by scout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BagTopicNames {
    /// Left camera (default `/cam0/image_raw`).
    pub cam0: String,
    /// Right camera (default `/cam1/image_raw`).
    pub cam1: String,
    /// IMU (default `/imu0`).
    pub imu: String,
    /// Ground truth (default `/ground_truth`).
    pub ground_truth: String,
}

impl Default for BagTopicNames {
    fn default() -> Self {
        Self {
            cam0: "/cam0/image_raw".into(),
            cam1: "/cam1/image_raw".into(),
            imu: "/imu0".into(),
            ground_truth: "/ground_truth".into(),
        }
    }
}

/// How chunks are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BagCompression {
    /// zstd: what rosbag2's MCAP storage compresses chunks with, read by
    /// every MCAP reader.
    #[default]
    Zstd,
    /// LZ4 frames (faster, larger).
    Lz4,
    /// None.
    None,
}

/// Bag writer settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BagWriterOptions {
    /// Topic names.
    pub topics: BagTopicNames,
    /// Chunk compression.
    pub compression: BagCompression,
    /// A chunk is closed once it holds this many bytes (before compression).
    /// A reader decompresses a whole chunk to get one image, so chunks of
    /// about a stereo pair keep replay cheap. Default 1 MiB.
    pub chunk_bytes: u64,
    /// zstd worker threads (0: compress on the caller's thread). Default 1:
    /// compression overlaps the caller's work without taking every core.
    pub compression_threads: u32,
}

impl Default for BagWriterOptions {
    fn default() -> Self {
        Self {
            topics: BagTopicNames::default(),
            compression: BagCompression::Zstd,
            chunk_bytes: 1 << 20,
            compression_threads: 1,
        }
    }
}

/// The streams of a bag, in channel order.
const CAM0: usize = 0;
const CAM1: usize = 1;
const IMU: usize = 2;
const GROUND_TRUTH: usize = 3;

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes a sequence to a bag, stream by stream; see the module docs.
pub struct BagWriter {
    path: PathBuf,
    temp: PathBuf,
    writer: Option<mcap::Writer<BufWriter<File>>>,
    topics: BagTopicNames,
    /// Channel ids of cam0, cam1, IMU, ground truth (added when first written).
    channels: [Option<u16>; 4],
    sequence: [u32; 4],
    last_t_ns: [Option<i64>; 4],
    frames: usize,
    imu_samples: usize,
    buf: Vec<u8>,
    /// A bag that cannot be finished is kept as `PATH.partial` rather than
    /// removed ([`Self::keep_partial`]).
    keep_partial: bool,
}

impl std::fmt::Debug for BagWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BagWriter")
            .field("path", &self.path)
            .field("frames", &self.frames)
            .field("imu_samples", &self.imu_samples)
            .finish_non_exhaustive()
    }
}

impl BagWriter {
    /// Starts a bag at `path` (written under a temporary name until
    /// [`Self::finish`]). An existing `path` is refused, so nothing is
    /// overwritten.
    ///
    /// # Errors
    /// When `path` exists or its folder cannot be written.
    pub fn create(path: impl AsRef<Path>, options: &BagWriterOptions) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        if path.exists() {
            return Err(DatasetError::Layout {
                path,
                message: "already exists; refusing to overwrite".into(),
            });
        }
        let Some(name) = path.file_name() else {
            return Err(DatasetError::InvalidArgument(format!(
                "{} is not a file path",
                path.display()
            )));
        };
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let temp = dir.join(format!(
            ".{}.{}.{}.tmp",
            name.to_string_lossy(),
            std::process::id(),
            TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)
            .map_err(|e| DatasetError::io(&temp, e))?;
        let compression = match options.compression {
            BagCompression::Zstd => Some(mcap::Compression::Zstd),
            BagCompression::Lz4 => Some(mcap::Compression::Lz4),
            BagCompression::None => None,
        };
        let writer = mcap::WriteOptions::new()
            .profile(schema::PROFILE)
            .library(concat!("scout datasets ", env!("CARGO_PKG_VERSION")))
            .compression(compression)
            .chunk_size(Some(options.chunk_bytes.max(1)))
            .compression_threads(options.compression_threads)
            .create(BufWriter::new(file));
        let writer = match writer {
            Ok(w) => w,
            Err(e) => {
                let _ = std::fs::remove_file(&temp);
                return Err(DatasetError::io(&path, std::io::Error::other(e)));
            }
        };
        Ok(Self {
            path,
            temp,
            writer: Some(writer),
            topics: options.topics.clone(),
            channels: [None; 4],
            sequence: [0; 4],
            last_t_ns: [None; 4],
            frames: 0,
            imu_samples: 0,
            buf: Vec::new(),
            keep_partial: false,
        })
    }

    /// The bag being written (its final name).
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stereo pairs written so far.
    #[must_use]
    pub fn frames_written(&self) -> usize {
        self.frames
    }

    /// IMU samples written so far.
    #[must_use]
    pub fn imu_samples_written(&self) -> usize {
        self.imu_samples
    }

    fn mcap_error(&self, e: mcap::McapError) -> DatasetError {
        DatasetError::io(&self.path, std::io::Error::other(e))
    }

    /// The channel of `stream`, added on first use.
    fn channel(&mut self, stream: usize) -> Result<u16> {
        if let Some(id) = self.channels[stream] {
            return Ok(id);
        }
        let (name, definition, topic) = match stream {
            CAM0 => (schema::IMAGE, schema::image_definition(), &self.topics.cam0),
            CAM1 => (schema::IMAGE, schema::image_definition(), &self.topics.cam1),
            IMU => (schema::IMU, schema::imu_definition(), &self.topics.imu),
            _ => (
                schema::POSE_STAMPED,
                schema::pose_stamped_definition(),
                &self.topics.ground_truth,
            ),
        };
        let topic = topic.clone();
        let writer = self.writer.as_mut().ok_or_else(|| {
            DatasetError::InvalidArgument("the bag writer is already finished".into())
        })?;
        let id = writer
            .add_schema(name, schema::SCHEMA_ENCODING, definition.as_bytes())
            .and_then(|schema_id| {
                writer.add_channel(
                    schema_id,
                    &topic,
                    schema::MESSAGE_ENCODING,
                    &BTreeMap::new(),
                )
            })
            .map_err(|e| self.mcap_error(e))?;
        self.channels[stream] = Some(id);
        Ok(id)
    }

    /// Checks that `t_ns` is after the stream's last stamp and fits a ROS
    /// time and a log time.
    fn stamp(&self, stream: usize, t_ns: i64) -> Result<(Time, u64)> {
        let what = [
            "cam0 image",
            "cam1 image",
            "IMU sample",
            "ground-truth pose",
        ][stream];
        if self.last_t_ns[stream].is_some_and(|t| t_ns <= t) {
            return Err(DatasetError::InvalidArgument(format!(
                "{what} at {t_ns} ns is not after the previous one"
            )));
        }
        let time = Time::from_ns(t_ns).filter(|_| t_ns >= 0).ok_or_else(|| {
            DatasetError::InvalidArgument(format!(
                "{what} at {t_ns} ns: a bag holds stamps from 1970 to 2038"
            ))
        })?;
        Ok((time, t_ns.unsigned_abs()))
    }

    /// Writes the message in `self.buf` on `stream`.
    fn write_buffered(&mut self, stream: usize, t_ns: i64, log_time: u64) -> Result<()> {
        let channel_id = self.channel(stream)?;
        let header = MessageHeader {
            channel_id,
            sequence: self.sequence[stream],
            log_time,
            publish_time: log_time,
        };
        let writer = self.writer.as_mut().ok_or_else(|| {
            DatasetError::InvalidArgument("the bag writer is already finished".into())
        })?;
        let written = writer.write_to_known_channel(&header, &self.buf);
        written.map_err(|e| self.mcap_error(e))?;
        self.sequence[stream] = self.sequence[stream].wrapping_add(1);
        self.last_t_ns[stream] = Some(t_ns);
        Ok(())
    }

    /// Appends a stereo pair (two `Image` messages at `frame.t_ns`). Time must
    /// increase.
    ///
    /// # Errors
    /// When the stamp is not after the previous pair's or out of range, an
    /// image is 4 GiB or more, or the file cannot be written.
    pub fn write_stereo(&mut self, frame: &StereoFrame) -> Result<()> {
        for (stream, image, frame_id) in [(CAM0, &frame.left, "cam0"), (CAM1, &frame.right, "cam1")]
        {
            let (stamp, log_time) = self.stamp(stream, frame.t_ns)?;
            let size = |v: usize| u32::try_from(v).ok();
            let (Some(width), Some(height), Some(_)) = (
                size(image.width()),
                size(image.height()),
                size(image.data().len()),
            ) else {
                return Err(DatasetError::InvalidArgument(format!(
                    "a {}x{} image does not fit a ROS image message",
                    image.width(),
                    image.height()
                )));
            };
            self.buf.clear();
            cdr::Image {
                header: cdr::Header { stamp, frame_id },
                height,
                width,
                encoding: "mono8",
                is_bigendian: 0,
                step: width,
                data: image.data(),
            }
            .encode(&mut self.buf);
            self.write_buffered(stream, frame.t_ns, log_time)?;
        }
        self.frames += 1;
        Ok(())
    }

    /// Appends IMU samples (`Imu` messages). Time must increase, also across
    /// calls.
    ///
    /// # Errors
    /// When a stamp is not after the previous sample's or out of range, or
    /// the file cannot be written.
    pub fn write_imu(&mut self, samples: &[ImuSample]) -> Result<()> {
        let mut orientation_covariance = [0.0; 9];
        orientation_covariance[0] = -1.0;
        for s in samples {
            let (stamp, log_time) = self.stamp(IMU, s.t_ns)?;
            self.buf.clear();
            cdr::Imu {
                header: cdr::Header {
                    stamp,
                    frame_id: "imu0",
                },
                orientation: [0.0; 4],
                orientation_covariance,
                angular_velocity: [s.gyro.x, s.gyro.y, s.gyro.z],
                angular_velocity_covariance: [0.0; 9],
                linear_acceleration: [s.accel.x, s.accel.y, s.accel.z],
                linear_acceleration_covariance: [0.0; 9],
            }
            .encode(&mut self.buf);
            self.write_buffered(IMU, s.t_ns, log_time)?;
            self.imu_samples += 1;
        }
        Ok(())
    }

    /// Appends ground-truth poses (`PoseStamped`, `world_from_body` in frame
    /// `world`; velocity and biases are not written). Time must increase.
    ///
    /// # Errors
    /// When a stamp is not after the previous pose's or out of range, or the
    /// file cannot be written.
    pub fn write_ground_truth(&mut self, states: &[GroundTruthState]) -> Result<()> {
        for s in states {
            let (stamp, log_time) = self.stamp(GROUND_TRUTH, s.t_ns)?;
            let p = s.world_from_body.translation.vector;
            let q = s.world_from_body.rotation.quaternion();
            self.buf.clear();
            cdr::PoseStamped {
                header: cdr::Header {
                    stamp,
                    frame_id: "world",
                },
                position: [p.x, p.y, p.z],
                orientation: [q.i, q.j, q.k, q.w],
            }
            .encode(&mut self.buf);
            self.write_buffered(GROUND_TRUTH, s.t_ns, log_time)?;
        }
        Ok(())
    }

    /// Writes the indexes and the footer, syncs the file and gives it its
    /// final name, which it returns.
    ///
    /// # Errors
    /// When the file cannot be written or renamed (the temporary file is
    /// then removed).
    pub fn finish(mut self) -> Result<PathBuf> {
        let Some(mut writer) = self.writer.take() else {
            return Err(DatasetError::InvalidArgument(
                "the bag writer is already finished".into(),
            ));
        };
        let result = writer
            .finish()
            .map_err(|e| self.mcap_error(e))
            .and_then(|_| {
                let mut file = writer.into_inner();
                file.flush().map_err(|e| DatasetError::io(&self.temp, e))?;
                let file = file
                    .into_inner()
                    .map_err(|e| DatasetError::io(&self.temp, e.into_error()))?;
                file.sync_all()
                    .map_err(|e| DatasetError::io(&self.temp, e))?;
                std::fs::rename(&self.temp, &self.path).map_err(|e| DatasetError::io(&self.path, e))
            });
        if result.is_err() {
            self.abandon();
        }
        result.map(|()| self.path.clone())
    }

    /// Keeps what was written when the bag cannot be finished (a recording:
    /// a reader takes a bag cut short up to the cut) as
    /// [`Self::partial_path`], instead of removing it (a conversion, which
    /// can be run again).
    pub fn keep_partial(&mut self) {
        self.keep_partial = true;
    }

    /// Where an unfinished bag is kept with [`Self::keep_partial`]:
    /// `PATH.partial`.
    #[must_use]
    pub fn partial_path(&self) -> PathBuf {
        let mut name = self.path.as_os_str().to_os_string();
        name.push(".partial");
        PathBuf::from(name)
    }

    /// The temporary file of a bag not finished: removed, or kept.
    fn abandon(&self) {
        if self.keep_partial {
            let _ = std::fs::rename(&self.temp, self.partial_path());
        } else {
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

impl Drop for BagWriter {
    fn drop(&mut self) {
        if let Some(writer) = self.writer.take() {
            // Not finished: the bag is abandoned (its buffered bytes
            // flushed as the writer drops).
            drop(writer);
            self.abandon();
        }
    }
}

/// Writes a whole dataset (a folder or a bag) to a new bag at `path`, in time
/// order: before each stereo pair, the IMU samples and ground-truth poses up
/// to its stamp; after the last pair, the rest. `on_pair(done)` is called
/// after each pair. Returns the bag's path.
///
/// # Errors
/// When an image cannot be read, a stamp cannot be written, or the bag
/// cannot be written.
pub fn write_dataset(
    ds: &EurocDataset,
    path: impl AsRef<Path>,
    options: &BagWriterOptions,
    mut on_pair: impl FnMut(usize),
) -> Result<PathBuf> {
    let mut writer = BagWriter::create(path, options)?;
    let imu = ds.imu();
    let ground_truth = ds.ground_truth();
    let (mut next_imu, mut next_gt) = (0, 0);
    let mut frame = StereoFrame {
        t_ns: 0,
        left: crate::GrayImage::default(),
        right: crate::GrayImage::default(),
    };
    for (i, entry) in ds.stereo_entries().iter().enumerate() {
        let imu_end = next_imu + imu[next_imu..].partition_point(|s| s.t_ns <= entry.t_ns);
        writer.write_imu(&imu[next_imu..imu_end])?;
        next_imu = imu_end;
        let gt_end = next_gt + ground_truth[next_gt..].partition_point(|s| s.t_ns <= entry.t_ns);
        writer.write_ground_truth(&ground_truth[next_gt..gt_end])?;
        next_gt = gt_end;
        ds.load_stereo_into(i, &mut frame)?;
        writer.write_stereo(&frame)?;
        on_pair(i + 1);
    }
    writer.write_imu(&imu[next_imu..])?;
    writer.write_ground_truth(&ground_truth[next_gt..])?;
    writer.finish()
}
