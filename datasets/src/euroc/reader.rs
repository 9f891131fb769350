//! Streaming reader of ASL-layout sequences (EuRoC MAV, TUM-VI exports, and the
//! sequences `scout synth` writes).
//!
//! [`EurocDataset::open`] reads the calibration, the IMU stream, the ground truth
//! and the image *index* (timestamps and file names) and checks them; images are
//! decoded only when a stereo event is produced, so reading a long sequence holds
//! one stereo pair at a time. Stereo pairs are formed from `cam0` and `cam1` rows
//! with the same timestamp (within [`ReaderConfig::max_stereo_offset_ns`]). Rows
//! whose image file does not exist are reported once (a warning and
//! [`EurocDataset::missing_images`]) and skipped; every other defect is an error
//! that names the file and line.
//!
//! The same type reads a ROS 2 bag ([`EurocDataset::open_mcap`], the module
//! [`crate::rosbag`]): its images stay in the bag ([`ImageRef::bag_message`])
//! and are decoded from it when a pair is loaded, so a bag streams through
//! the same calls as a folder.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use nalgebra::{Isometry3, Quaternion, Translation3, UnitQuaternion, Vector3};

use super::calibration::{read_camera_sensor_yaml, read_imu_yaml, read_kalibr_camera};
use super::csv::{check_increasing, for_each_row, parse_t_ns, parse_value};
use crate::error::{DatasetError, Location, Result};
use crate::image::GrayImage;
use crate::model::{
    CameraCalibration, GroundTruthState, ImuBias, ImuSample, RigCalibration, SensorEvent,
    StereoFrame,
};
use crate::png_io::read_gray_png_into;
use crate::rosbag::{BagMessageRef, BagOptions, BagReport, reader::BagSource};

/// Which flavour of the ASL layout a folder holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// EuRoC MAV: `sensor.yaml` per sensor, 8-bit images,
    /// `state_groundtruth_estimate0` (pose, velocity, biases).
    Euroc,
    /// TUM-VI export: equidistant fisheye, 8- or 16-bit images, pose-only
    /// `mocap0` ground truth, calibration in `sensor.yaml` or Kalibr's
    /// `dso/camchain.yaml`.
    TumVi,
    /// A ROS 2 bag (MCAP) read by [`EurocDataset::open_mcap`], with the
    /// calibration given by the caller.
    Mcap,
}

/// Reader settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReaderConfig {
    /// Largest time difference between a `cam0` and a `cam1` row that still
    /// forms a stereo pair, ns. EuRoC and TUM-VI are hardware-synchronized (0).
    pub max_stereo_offset_ns: i64,
    /// IMU samples this long before the first stereo pair are streamed by
    /// [`EurocDataset::events`] (for static initialization), ns.
    pub imu_lead_ns: i64,
}

impl Default for ReaderConfig {
    fn default() -> Self {
        Self {
            max_stereo_offset_ns: 1_000_000,
            imu_lead_ns: 1_000_000_000,
        }
    }
}

/// A csv row that names an image file that does not exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingImage {
    /// The csv row.
    pub location: Location,
    /// The row's timestamp, ns.
    pub t_ns: i64,
    /// The image path that does not exist.
    pub image: PathBuf,
}

/// Where one image is: a PNG file and the `data.csv` row that names it, or a
/// message in a bag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// The PNG file; for an image in a bag, the bag file.
    pub path: PathBuf,
    /// 1-based line of the camera's `data.csv` naming it; 0 for an image in a bag.
    pub csv_line: usize,
    /// For an image in a bag, the message holding it; `None` for a PNG file.
    pub bag_message: Option<BagMessageRef>,
}

/// Where the two images of one stereo pair are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StereoEntry {
    /// Time stamp of the pair (cam0's), ns.
    pub t_ns: i64,
    /// The cam0 image.
    pub left: ImageRef,
    /// The cam1 image.
    pub right: ImageRef,
}

/// An ASL-layout sequence, opened and checked, with images decoded on demand.
#[derive(Debug, Clone)]
pub struct EurocDataset {
    mav0: PathBuf,
    layout: Layout,
    config: ReaderConfig,
    calibration: RigCalibration,
    stereo: Vec<StereoEntry>,
    imu: Vec<ImuSample>,
    ground_truth: Vec<GroundTruthState>,
    missing_images: Vec<MissingImage>,
    unpaired_rows: usize,
    /// The bag the images are in, for a dataset read from one.
    bag: Option<Arc<Bag>>,
}

/// A bag behind a dataset: the file (shared by clones of the dataset) and
/// what was chosen from it.
#[derive(Debug)]
struct Bag {
    source: BagSource,
    report: BagReport,
}

/// The least median specific force of a working accelerometer, m/s^2
/// (gravity is 9.81; free fall for most of a sequence is not a use case).
const MIN_MEDIAN_ACCEL_M_S2: f64 = 2.0;

/// Stereo baselines accepted, m: two cameras at one place see no depth,
/// and no rig is wider than a car.
pub const STEREO_BASELINE_M: (f64, f64) = (0.001, 10.0);

struct ImageRow {
    t_ns: i64,
    path: PathBuf,
    line: usize,
}

impl EurocDataset {
    /// Opens a sequence folder (the one holding `mav0/`, or `mav0/` itself) with
    /// default settings.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(path, ReaderConfig::default())
    }

    /// Opens a sequence folder with the given settings.
    pub fn open_with(path: impl AsRef<Path>, config: ReaderConfig) -> Result<Self> {
        let path = path.as_ref();
        let mav0 = if path.join("mav0").is_dir() {
            path.join("mav0")
        } else {
            path.to_path_buf()
        };
        for dir in ["cam0", "cam1", "imu0"] {
            let csv = mav0.join(dir).join("data.csv");
            if !csv.is_file() {
                return Err(DatasetError::Layout {
                    path: csv,
                    message: format!(
                        "missing; {} is not an ASL/EuRoC sequence (expected mav0/{{cam0,cam1,imu0}}/data.csv)",
                        path.display()
                    ),
                });
            }
        }
        let gt_euroc = mav0.join("state_groundtruth_estimate0").join("data.csv");
        let gt_mocap = mav0.join("mocap0").join("data.csv");
        let sequence_root = mav0.parent().map(Path::to_path_buf).unwrap_or_default();
        let camchain = sequence_root.join("dso").join("camchain.yaml");
        let layout = if !gt_euroc.is_file() && (gt_mocap.is_file() || camchain.is_file()) {
            Layout::TumVi
        } else {
            Layout::Euroc
        };

        let (cam0_rows, mut missing) = read_image_rows(&mav0.join("cam0"))?;
        let (cam1_rows, missing1) = read_image_rows(&mav0.join("cam1"))?;
        missing.extend(missing1);

        let camera = |name: &str, rows: &[ImageRow]| -> Result<CameraCalibration> {
            let yaml = mav0.join(name).join("sensor.yaml");
            if yaml.is_file() || !camchain.is_file() {
                read_camera_sensor_yaml(&yaml, name)
            } else {
                read_kalibr_camera(&camchain, name, rate_from_rows(rows))
            }
        };
        let cam0 = camera("cam0", &cam0_rows)?;
        let cam1 = camera("cam1", &cam1_rows)?;
        let baseline_m =
            (cam1.body_from_cam.translation.vector - cam0.body_from_cam.translation.vector).norm();
        if !(STEREO_BASELINE_M.0..=STEREO_BASELINE_M.1).contains(&baseline_m) {
            return Err(DatasetError::Layout {
                path: mav0.join("cam1").join("sensor.yaml"),
                message: format!(
                    "the stereo baseline (cam0 to cam1 in the body frame) must be {} to {} m, found {baseline_m:e} m",
                    STEREO_BASELINE_M.0, STEREO_BASELINE_M.1
                ),
            });
        }
        let imu_yaml = mav0.join("imu0").join("sensor.yaml");
        let kalibr_imu = sequence_root.join("dso").join("imu_config.yaml");
        let imu_calibration = if imu_yaml.is_file() || !kalibr_imu.is_file() {
            read_imu_yaml(&imu_yaml)?
        } else {
            read_imu_yaml(&kalibr_imu)?
        };

        let refs = |rows: Vec<ImageRow>| -> Vec<(i64, ImageRef)> {
            rows.into_iter()
                .map(|r| {
                    let image = ImageRef {
                        path: r.path,
                        csv_line: r.line,
                        bag_message: None,
                    };
                    (r.t_ns, image)
                })
                .collect()
        };
        let (stereo, unpaired_rows) = pair_stereo(
            refs(cam0_rows),
            refs(cam1_rows),
            config.max_stereo_offset_ns,
        );
        let imu = read_imu_csv(&mav0.join("imu0").join("data.csv"))?;
        let ground_truth = if gt_euroc.is_file() {
            read_ground_truth_csv(&gt_euroc)?
        } else if gt_mocap.is_file() {
            read_ground_truth_csv(&gt_mocap)?
        } else {
            Vec::new()
        };

        if !missing.is_empty() {
            let first = &missing[0];
            tracing::warn!(
                "{} csv rows name images that do not exist and are skipped (first: {} -> {})",
                missing.len(),
                first.location,
                first.image.display()
            );
        }
        if unpaired_rows > 0 {
            tracing::warn!(
                "{unpaired_rows} camera rows have no partner in the other camera and are skipped"
            );
        }
        Ok(Self {
            mav0,
            layout,
            config,
            calibration: RigCalibration {
                cam0,
                cam1,
                imu: imu_calibration,
            },
            stereo,
            imu,
            ground_truth,
            missing_images: missing,
            unpaired_rows,
            bag: None,
        })
    }

    /// Opens a ROS 2 bag (MCAP with CDR messages) as a sequence: the two
    /// cameras' `sensor_msgs/msg/Image` topics, the `sensor_msgs/msg/Imu`
    /// topic and optionally a `geometry_msgs/msg/PoseStamped` ground truth,
    /// named in `options.topics` or found by type (the rule is on
    /// [`crate::rosbag::BagTopics`]), with the calibration in
    /// `options.calibration`. Reads the bag once to index it (see
    /// [`crate::rosbag`]); images are decoded from the bag when a pair is
    /// loaded. Pairs are formed as for a folder (stamps within
    /// [`ReaderConfig::max_stereo_offset_ns`]); [`Self::unpaired_rows`]
    /// counts the images left without a partner. [`Self::mav0`] is the bag
    /// file, [`Self::layout`] is [`Layout::Mcap`], [`Self::bag_report`]
    /// says which topics were used.
    ///
    /// # Errors
    /// When the file is not a readable MCAP file; when the topics cannot be
    /// told (the error lists the bag's topics); when a message on a used
    /// topic is malformed (the error names the topic, the message's number on
    /// it and its log time), has an unsupported pixel encoding or a size other
    /// than the calibration's; when the calibration's stereo baseline is
    /// implausible.
    pub fn open_mcap(path: impl AsRef<Path>, options: &BagOptions) -> Result<Self> {
        let path = path.as_ref();
        let calibration = options.calibration.clone();
        let baseline_m = (calibration.cam1.body_from_cam.translation.vector
            - calibration.cam0.body_from_cam.translation.vector)
            .norm();
        if !(STEREO_BASELINE_M.0..=STEREO_BASELINE_M.1).contains(&baseline_m) {
            return Err(DatasetError::InvalidArgument(format!(
                "the calibration's stereo baseline (cam0 to cam1 in the body frame) must be {} to {} m, found {baseline_m:e} m",
                STEREO_BASELINE_M.0, STEREO_BASELINE_M.1
            )));
        }
        let parts = crate::rosbag::reader::open(path, options)?;
        if parts.unpaired > 0 {
            tracing::warn!(
                "{}: {} images have no partner in the other camera and are skipped",
                path.display(),
                parts.unpaired
            );
        }
        Ok(Self {
            mav0: path.to_path_buf(),
            layout: Layout::Mcap,
            config: options.reader,
            calibration,
            stereo: parts.stereo,
            imu: parts.imu,
            ground_truth: parts.ground_truth,
            missing_images: Vec::new(),
            unpaired_rows: parts.unpaired,
            bag: Some(Arc::new(Bag {
                source: parts.source,
                report: parts.report,
            })),
        })
    }

    /// For a dataset read from a bag: its topics and which were used.
    #[must_use]
    pub fn bag_report(&self) -> Option<&BagReport> {
        self.bag.as_deref().map(|b| &b.report)
    }

    /// Checks that the sequence can feed a visual-inertial run: at least one
    /// stereo pair, IMU samples around at least one pair, and an
    /// accelerometer that reads gravity. The reader accepts less (the front
    /// end alone needs no IMU); `scout inspect` and `scout replay` call this.
    ///
    /// # Errors
    /// [`DatasetError::Layout`] naming the folder and saying what is missing.
    pub fn check_usable(&self) -> Result<()> {
        let unusable = |message: String| DatasetError::Layout {
            path: self.mav0.clone(),
            message,
        };
        let (Some(first), Some(last)) = (self.stereo.first(), self.stereo.last()) else {
            return Err(unusable(format!(
                "no stereo pair: no cam0 row has a cam1 row within {} ns and an image on disk ({} rows without a partner, {} images missing)",
                self.config.max_stereo_offset_ns,
                self.unpaired_rows,
                self.missing_images.len()
            )));
        };
        let (Some(imu_first), Some(imu_last)) = (self.imu.first(), self.imu.last()) else {
            let place = if self.layout == Layout::Mcap {
                "on a sensor_msgs/msg/Imu topic of the bag"
            } else {
                "in imu0/data.csv"
            };
            return Err(unusable(format!("no IMU sample {place}")));
        };
        let covered = self
            .stereo
            .iter()
            .any(|p| imu_first.t_ns <= p.t_ns && p.t_ns <= imu_last.t_ns);
        if !covered {
            return Err(unusable(format!(
                "the IMU (t = {} to {} ns) covers none of the stereo pairs (t = {} to {} ns)",
                imu_first.t_ns, imu_last.t_ns, first.t_ns, last.t_ns
            )));
        }
        // A still or moving accelerometer reads about g on average; a dead or
        // zeroed one reads nothing.
        let mut norms: Vec<f64> = self.imu.iter().map(|s| s.accel.norm()).collect();
        norms.sort_by(f64::total_cmp);
        let median = norms[norms.len() / 2];
        // The reader refuses non-finite samples: the median is a number.
        if median <= MIN_MEDIAN_ACCEL_M_S2 {
            return Err(unusable(format!(
                "the accelerometer reads no gravity: the median specific force over {} samples is {median:e} m/s^2 (at least {MIN_MEDIAN_ACCEL_M_S2} expected)",
                norms.len()
            )));
        }
        Ok(())
    }

    /// The `mav0` folder (the bag file for a dataset read from a bag).
    #[must_use]
    pub fn mav0(&self) -> &Path {
        &self.mav0
    }

    /// Which flavour of the layout this is.
    #[must_use]
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// Cameras and IMU calibration.
    #[must_use]
    pub fn calibration(&self) -> &RigCalibration {
        &self.calibration
    }

    /// The stereo pairs, in time order (images not yet loaded).
    #[must_use]
    pub fn stereo_entries(&self) -> &[StereoEntry] {
        &self.stereo
    }

    /// All IMU samples of the file, in time order.
    #[must_use]
    pub fn imu(&self) -> &[ImuSample] {
        &self.imu
    }

    /// Ground truth, in time order; empty when the folder has none.
    #[must_use]
    pub fn ground_truth(&self) -> &[GroundTruthState] {
        &self.ground_truth
    }

    /// Rows skipped because their image file does not exist.
    #[must_use]
    pub fn missing_images(&self) -> &[MissingImage] {
        &self.missing_images
    }

    /// Camera rows (with an existing image) that had no partner in the other camera.
    #[must_use]
    pub fn unpaired_rows(&self) -> usize {
        self.unpaired_rows
    }

    /// Decodes stereo pair `index` into `out`, reusing its buffers.
    pub fn load_stereo_into(&self, index: usize, out: &mut StereoFrame) -> Result<()> {
        let entry = self.stereo.get(index).ok_or_else(|| {
            DatasetError::InvalidArgument(format!(
                "stereo index {index} out of range (0..{})",
                self.stereo.len()
            ))
        })?;
        let mut scratch = Vec::new();
        let allow_16 = self.layout == Layout::TumVi;
        let load = |image: &ImageRef,
                    cam: &CameraCalibration,
                    csv: &str,
                    img: &mut GrayImage,
                    scratch: &mut Vec<u8>| {
            let expected = (cam.width, cam.height);
            if let (Some(message), Some(bag)) = (&image.bag_message, &self.bag) {
                let camera = usize::from(csv == "cam1");
                return bag.source.load(camera, message, expected, img);
            }
            read_gray_png_into(&image.path, expected, allow_16, img, scratch).map_err(|p| {
                DatasetError::BadImage {
                    location: Location::line(self.mav0.join(csv).join("data.csv"), image.csv_line),
                    image: image.path.clone(),
                    message: p.to_string(),
                }
            })
        };
        load(
            &entry.left,
            &self.calibration.cam0,
            "cam0",
            &mut out.left,
            &mut scratch,
        )?;
        load(
            &entry.right,
            &self.calibration.cam1,
            "cam1",
            &mut out.right,
            &mut scratch,
        )?;
        out.t_ns = entry.t_ns;
        Ok(())
    }

    /// Decodes every stereo pair once, in order, to check that all images are
    /// readable; `on_pair(done)` is called after each. Returns the number decoded.
    pub fn decode_all(&self, mut on_pair: impl FnMut(usize)) -> Result<usize> {
        let mut frame = StereoFrame {
            t_ns: 0,
            left: GrayImage::default(),
            right: GrayImage::default(),
        };
        for i in 0..self.stereo.len() {
            self.load_stereo_into(i, &mut frame)?;
            on_pair(i + 1);
        }
        Ok(self.stereo.len())
    }

    /// Decodes stereo pair `index`.
    pub fn load_stereo(&self, index: usize) -> Result<StereoFrame> {
        let mut frame = StereoFrame {
            t_ns: 0,
            left: GrayImage::new(0, 0),
            right: GrayImage::new(0, 0),
        };
        self.load_stereo_into(index, &mut frame)?;
        Ok(frame)
    }

    /// The time-ordered event stream: IMU samples from
    /// [`ReaderConfig::imu_lead_ns`] before the first stereo pair up to the last
    /// one, and the stereo pairs, decoded one at a time as the iterator advances.
    /// An IMU sample and a stereo pair with the same timestamp come IMU first.
    #[must_use]
    pub fn events(&self) -> Events<'_> {
        let (start, end) = match (self.stereo.first(), self.stereo.last()) {
            (Some(first), Some(last)) => (
                first.t_ns.saturating_sub(self.config.imu_lead_ns),
                last.t_ns,
            ),
            _ => (i64::MIN, i64::MAX),
        };
        let imu_begin = self.imu.partition_point(|s| s.t_ns < start);
        let imu_end = self.imu.partition_point(|s| s.t_ns <= end);
        Events {
            dataset: self,
            imu_next: imu_begin,
            imu_end,
            stereo_next: 0,
        }
    }
}

/// Iterator over a dataset's [`SensorEvent`]s; see [`EurocDataset::events`].
#[derive(Debug)]
pub struct Events<'a> {
    dataset: &'a EurocDataset,
    imu_next: usize,
    imu_end: usize,
    stereo_next: usize,
}

impl Iterator for Events<'_> {
    type Item = Result<SensorEvent>;

    fn next(&mut self) -> Option<Self::Item> {
        let imu = (self.imu_next < self.imu_end).then(|| &self.dataset.imu[self.imu_next]);
        let stereo = self.dataset.stereo.get(self.stereo_next);
        match (imu, stereo) {
            (Some(sample), Some(entry)) if sample.t_ns <= entry.t_ns => {
                self.imu_next += 1;
                Some(Ok(SensorEvent::Imu(*sample)))
            }
            (Some(sample), None) => {
                self.imu_next += 1;
                Some(Ok(SensorEvent::Imu(*sample)))
            }
            (_, Some(_)) => {
                let index = self.stereo_next;
                self.stereo_next += 1;
                Some(self.dataset.load_stereo(index).map(SensorEvent::Stereo))
            }
            (None, None) => None,
        }
    }
}

fn read_image_rows(cam_dir: &Path) -> Result<(Vec<ImageRow>, Vec<MissingImage>)> {
    let csv = cam_dir.join("data.csv");
    let mut rows = Vec::new();
    let mut missing = Vec::new();
    let mut previous = None;
    for_each_row(&csv, 2, |line, f| {
        let t_ns = parse_t_ns(&csv, line, f[0])?;
        check_increasing(&csv, line, t_ns, &mut previous)?;
        let name = f[1];
        if name.is_empty() || name.contains("..") || Path::new(name).is_absolute() {
            return Err(DatasetError::malformed(
                &csv,
                line,
                format!("image file name `{name}` must be a plain name inside data/"),
            ));
        }
        let path = cam_dir.join("data").join(name);
        if path.is_file() {
            rows.push(ImageRow { t_ns, path, line });
        } else {
            missing.push(MissingImage {
                location: Location::line(&csv, line),
                t_ns,
                image: path,
            });
        }
        Ok(())
    })?;
    Ok((rows, missing))
}

/// Median frame rate of a camera's rows, Hz (20 when it cannot be told).
fn rate_from_rows(rows: &[ImageRow]) -> f64 {
    let mut dts: Vec<i64> = rows
        .windows(2)
        .map(|w| w[1].t_ns.saturating_sub(w[0].t_ns))
        .collect();
    if dts.is_empty() {
        return 20.0;
    }
    dts.sort_unstable();
    1e9 / dts[dts.len() / 2] as f64
}

/// Pairs images of the two cameras one-to-one, each left image with the
/// nearest right image within `max_offset_ns`; returns the pairs and the
/// number of images left without a partner. Both inputs are `(t_ns, image)`
/// in strictly increasing time order.
pub(crate) fn pair_stereo(
    left: Vec<(i64, ImageRef)>,
    right: Vec<(i64, ImageRef)>,
    max_offset_ns: i64,
) -> (Vec<StereoEntry>, usize) {
    let total = left.len() + right.len();
    let max_offset = max_offset_ns.unsigned_abs();
    let right_t: Vec<i64> = right.iter().map(|r| r.0).collect();
    let mut right: Vec<Option<ImageRef>> = right.into_iter().map(|r| Some(r.1)).collect();
    let mut pairs = Vec::with_capacity(left.len().min(right.len()));
    let mut j = 0;
    for (t_left, l) in left {
        // Move to the right image nearest to this left image; earlier ones
        // are nearer to no later left image either.
        while j + 1 < right_t.len()
            && right_t[j + 1].abs_diff(t_left) <= right_t[j].abs_diff(t_left)
        {
            j += 1;
        }
        let Some(&t) = right_t.get(j) else { break };
        if t.abs_diff(t_left) > max_offset {
            continue;
        }
        if let Some(r) = right[j].take() {
            pairs.push(StereoEntry {
                t_ns: t_left,
                left: l,
                right: r,
            });
            j += 1;
        }
    }
    let unpaired = total - 2 * pairs.len();
    (pairs, unpaired)
}

/// Reads an ASL IMU csv: `t[ns], wx, wy, wz [rad/s], ax, ay, az [m/s^2]`.
pub fn read_imu_csv(path: &Path) -> Result<Vec<ImuSample>> {
    const NAMES: [&str; 6] = [
        "gyro x", "gyro y", "gyro z", "accel x", "accel y", "accel z",
    ];
    let mut samples = Vec::new();
    let mut previous = None;
    for_each_row(path, 7, |line, f| {
        let t_ns = parse_t_ns(path, line, f[0])?;
        check_increasing(path, line, t_ns, &mut previous)?;
        let mut v = [0.0; 6];
        for (k, value) in v.iter_mut().enumerate() {
            *value = parse_value(path, line, f[k + 1], NAMES[k])?;
        }
        samples.push(ImuSample {
            t_ns,
            gyro: Vector3::new(v[0], v[1], v[2]),
            accel: Vector3::new(v[3], v[4], v[5]),
        });
        Ok(())
    })?;
    Ok(samples)
}

/// Reads a ground-truth csv: EuRoC's 17 columns (`t, p xyz, q wxyz, v xyz, bg
/// xyz, ba xyz`) or a pose-only 8 columns (`t, p xyz, q wxyz`, TUM-VI `mocap0`).
/// The quaternion is stored w first; it must have unit norm within 1 %.
pub fn read_ground_truth_csv(path: &Path) -> Result<Vec<GroundTruthState>> {
    const NAMES: [&str; 16] = [
        "p x",
        "p y",
        "p z",
        "q w",
        "q x",
        "q y",
        "q z",
        "v x",
        "v y",
        "v z",
        "gyro bias x",
        "gyro bias y",
        "gyro bias z",
        "accel bias x",
        "accel bias y",
        "accel bias z",
    ];
    let mut states = Vec::new();
    let mut previous = None;
    let mut columns = None;
    for_each_row(path, 8, |line, f| {
        let n = f.len();
        if n != 8 && n != 17 {
            return Err(DatasetError::malformed(
                path,
                line,
                format!("expected 17 columns (EuRoC) or 8 (pose only), found {n}"),
            ));
        }
        match columns {
            None => columns = Some(n),
            Some(c) if c != n => {
                return Err(DatasetError::malformed(
                    path,
                    line,
                    format!("row has {n} columns, earlier rows have {c}"),
                ));
            }
            _ => {}
        }
        let t_ns = parse_t_ns(path, line, f[0])?;
        check_increasing(path, line, t_ns, &mut previous)?;
        let mut v = [0.0; 16];
        for k in 0..n - 1 {
            v[k] = parse_value(path, line, f[k + 1], NAMES[k])?;
        }
        let q = Quaternion::new(v[3], v[4], v[5], v[6]);
        if (q.norm() - 1.0).abs() > 0.01 {
            return Err(DatasetError::malformed(
                path,
                line,
                format!(
                    "quaternion (w x y z) = ({}, {}, {}, {}) does not have unit norm",
                    v[3], v[4], v[5], v[6]
                ),
            ));
        }
        let world_from_body = Isometry3::from_parts(
            Translation3::new(v[0], v[1], v[2]),
            UnitQuaternion::from_quaternion(q),
        );
        let (v_world, bias) = if n == 17 {
            (
                Some(Vector3::new(v[7], v[8], v[9])),
                Some(ImuBias {
                    gyro: Vector3::new(v[10], v[11], v[12]),
                    accel: Vector3::new(v[13], v[14], v[15]),
                }),
            )
        } else {
            (None, None)
        };
        states.push(GroundTruthState {
            t_ns,
            world_from_body,
            v_world,
            bias,
        });
        Ok(())
    })?;
    Ok(states)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(times_ms: &[i64]) -> Vec<(i64, ImageRef)> {
        times_ms
            .iter()
            .enumerate()
            .map(|(i, &t)| {
                let image = ImageRef {
                    path: PathBuf::from(format!("{t}.png")),
                    csv_line: i + 2,
                    bag_message: None,
                };
                (t * 1_000_000, image)
            })
            .collect()
    }

    fn paired_ms(pairs: &[StereoEntry]) -> Vec<(i64, i64)> {
        let ms = |r: &ImageRef| {
            r.path
                .to_string_lossy()
                .trim_end_matches(".png")
                .parse()
                .unwrap_or(-1)
        };
        pairs.iter().map(|p| (ms(&p.left), ms(&p.right))).collect()
    }

    #[test]
    fn stereo_pairs_are_nearest_and_one_to_one() {
        // Right rows at -25 and 5 ms: left 0 pairs with 5 (nearest), left 50 with none.
        let (pairs, unpaired) = pair_stereo(rows(&[0, 50]), rows(&[-25, 5]), 30_000_000);
        assert_eq!(paired_ms(&pairs), [(0, 5)]);
        assert_eq!(unpaired, 2);
        // Equal stamps with gaps and extras on both sides.
        let (pairs, unpaired) =
            pair_stereo(rows(&[0, 50, 100, 200]), rows(&[0, 100, 150, 200, 250]), 0);
        assert_eq!(paired_ms(&pairs), [(0, 0), (100, 100), (200, 200)]);
        assert_eq!(unpaired, 3);
        // A right row nearest to two left rows is used once.
        let (pairs, _) = pair_stereo(rows(&[0, 10]), rows(&[6]), 20_000_000);
        assert_eq!(paired_ms(&pairs), [(0, 6)]);
    }
}
