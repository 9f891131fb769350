//! The stereo front end: from a pair of 8-bit images to tracked features.
//!
//! Per stereo frame ([`FrontEnd::process`]):
//! 1. **Pyramids** of the left and right images ([`pyramid`], 4 levels by
//!    default), built once into buffers the front end owns; the previous left
//!    pyramid is kept for temporal tracking.
//! 2. **Temporal tracking** of every live feature from the previous left image
//!    to the current one with the pyramidal inverse-compositional KLT ([`klt`]),
//!    started where a pure rotation would move it when a gyro rotation prior is
//!    given, and accepted after a forward-backward check.
//! 3. **Temporal outlier rejection** by RANSAC on the features' bearings
//!    ([`geometry`]): two-point with the rotation prior, eight-point without.
//! 4. **Detection** of Shi-Tomasi corners ([`corners`]) only in the cells of a
//!    `grid_cols x grid_rows` grid holding fewer than their share of features,
//!    at least `min_distance_px` from every live feature, until `max_features`.
//! 5. **Stereo matching** of every feature from the left image into the right
//!    one with the same KLT (started from the feature's previous disparity, or
//!    from the scene's typical depth for new features), accepted after the
//!    forward-backward check and the epipolar constraint of the calibrated rig.
//!
//! Output: [`FrameTracks`], per feature its id, age, pixel positions in both
//! images (x right, y down, pixel centres at integers) and unit bearings in the
//! left (cam0) and right (cam1) camera frames. Every kernel's operations and
//! bytes moved are counted analytically into a [`CostLedger`] per frame, under
//! the names in [`kernels`]. After the first frames nothing allocates (a
//! counting allocator checks it: `tests/frontend_allocations.rs`).
//!
//! # Measured (release build, one core of a shared 2-core x86-64 VM, 2026-11-24)
//!
//! `cargo bench --features opencv --bench frontend_vs_opencv -- report-only`
//! runs the same frames through this front end (with the raw gyro rotation) and
//! through a single-threaded VINS-Fusion-style OpenCV 4.6 tracker
//! (`goodFeaturesToTrack` + `calcOpticalFlowPyrLK`, 150 features, 15x15 window,
//! 4 levels, 20 px spacing, 0.5 px backward check), in one run:
//!
//! | | scout | OpenCV |
//! |---|---|---|
//! | synthetic medium (seed 3, 60 frames): time per stereo frame | 1.76 ms | 10.59 ms (6.0x) |
//! | temporal error vs ground truth, median / p90 | 0.042 / 0.095 px | 0.038 / 0.081 px |
//! | stereo disparity error, median; stereo errors > 3 px | 0.047 px; 1.0 % | 0.055 px; 3.1 % |
//! | tracks alive 10 frames later (of those whose point stays in view) | 99.4 % | 85.6 % |
//! | EuRoC `V1_01_easy_micro` (95 frames): time per stereo frame | 1.68 ms | 10.56 ms (6.3x) |
//! | tracks per frame (min), median track length, stereo matched | 150, 95 frames, 74 % | 139, 95 frames, 36 % |
//!
//! Per step on EuRoC: pyramids 0.39 ms, temporal KLT 0.50, RANSAC 0.03,
//! detection 0.10, stereo 0.67. Working memory 1.78 MB (three pyramids and
//! scratch). `scout replay ../shared/data/euroc/V1_01_easy_micro --out OUT
//! --frontend-only` writes the per-frame figures and counted work (about 32 M
//! operations and 2.8 MB of main-memory traffic a frame) to `OUT/metrics.json`;
//! `cargo test --test frontend_accuracy -- --nocapture` prints the accuracy
//! reports the targets are checked on. Timings on this shared machine drift by
//! 10-30 % between runs; the ratios hold.

pub mod corners;
pub mod geometry;
pub mod klt;
pub mod pyramid;

use std::time::Instant;

use cost::{CostLedger, KernelCost, OpCounts, Residence};
use datasets::{RigCalibration, StereoFrame};
use nalgebra::{Isometry3, UnitQuaternion, Vector2, Vector3};
use serde::{Deserialize, Serialize};

use self::corners::{Corner, CornerConfig, CornerDetector, Rect};
use self::geometry::{RansacConfig, StereoEpipolarCheck, TemporalRansac};
use self::klt::{KltConfig, KltTracker, TrackFailure};
use self::pyramid::ImagePyramid;
use crate::camera::Camera;
use crate::error::{Result, VioError};

/// Names of the front end's kernels in its [`CostLedger`].
pub mod kernels {
    /// Building the left and right image pyramids.
    pub const PYRAMID: &str = "pyramid";
    /// Shi-Tomasi detection in the cells short of features.
    pub const DETECTION: &str = "detection";
    /// Temporal KLT, previous left to current left, with its backward check.
    pub const TRACKING: &str = "tracking";
    /// Temporal RANSAC on bearings.
    pub const RANSAC: &str = "ransac";
    /// Stereo KLT, left to right, with its backward check and epipolar test.
    pub const STEREO: &str = "stereo";
    /// Undistortion of feature positions to bearings.
    pub const BEARINGS: &str = "bearings";
}

/// Parameters of the front end; every field has a unit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FrontEndConfig {
    /// Features kept per frame at most (new corners are detected up to this).
    pub max_features: usize,
    /// Columns of the bucketing grid.
    pub grid_cols: usize,
    /// Rows of the bucketing grid.
    pub grid_rows: usize,
    /// Smallest distance between features, level-0 pixels; of two features
    /// closer than half of it, the younger is dropped.
    pub min_distance_px: f32,
    /// Pyramid levels (1 = full resolution only).
    pub pyramid_levels: usize,
    /// The KLT tracker.
    pub klt: KltConfig,
    /// The corner detector.
    pub corners: CornerConfig,
    /// Largest angle between a right bearing and the epipolar plane of its left
    /// bearing, expressed in pixels of the left camera's focal length.
    pub max_epipolar_error_px: f64,
    /// A cell searched without finding a corner to add is not searched again
    /// for this many frames (textureless walls would be searched every frame).
    pub barren_cell_retry_frames: u32,
    /// Depth assumed for a new feature's first stereo search before the scene's
    /// typical depth is known, metres.
    pub initial_depth_m: f64,
    /// The temporal RANSAC.
    pub ransac: RansacConfig,
    /// A RANSAC model keeping fewer than this fraction of the tracked features
    /// is taken for a failed fit and ignored (no feature rejected).
    pub min_ransac_inlier_fraction: f64,
}

impl Default for FrontEndConfig {
    fn default() -> Self {
        Self {
            max_features: 150,
            grid_cols: 8,
            grid_rows: 6,
            min_distance_px: 20.0,
            pyramid_levels: 4,
            klt: KltConfig::default(),
            corners: CornerConfig::default(),
            max_epipolar_error_px: 1.5,
            barren_cell_retry_frames: 10,
            initial_depth_m: 3.0,
            ransac: RansacConfig::default(),
            min_ransac_inlier_fraction: 0.5,
        }
    }
}

impl FrontEndConfig {
    /// Checks every field.
    ///
    /// # Errors
    /// [`VioError::Config`] naming the first field out of range.
    pub fn validate(&self) -> Result<()> {
        let bad = |what: &str| Err(VioError::Config(format!("front end: {what}")));
        if !(1..=MAX_FEATURES).contains(&self.max_features) {
            return bad("max_features must be 1 to 10000");
        }
        if !(1..=MAX_GRID).contains(&self.grid_cols) || !(1..=MAX_GRID).contains(&self.grid_rows) {
            return bad("grid_cols and grid_rows must be 1 to 64");
        }
        if !(self.min_distance_px.is_finite() && self.min_distance_px >= 0.0) {
            return bad("min_distance_px must be finite and non-negative");
        }
        if !(1..=8).contains(&self.pyramid_levels) {
            return bad("pyramid_levels must be 1 to 8");
        }
        let positive = |x: f64| x.is_finite() && x > 0.0;
        let k = &self.klt;
        if k.max_iterations == 0
            || k.coarse_max_iterations == 0
            || !positive(f64::from(k.epsilon_px))
            || !positive(f64::from(k.coarse_epsilon_px))
            || !positive(f64::from(k.max_fb_error_px))
        {
            return bad(
                "klt: iteration caps, epsilon_px, coarse_epsilon_px and max_fb_error_px must be positive",
            );
        }
        if !k.min_zncc.is_finite() || !k.min_eigenvalue.is_finite() {
            return bad("klt: min_zncc and min_eigenvalue must be finite");
        }
        if !positive(self.max_epipolar_error_px) || !positive(self.initial_depth_m) {
            return bad("max_epipolar_error_px and initial_depth_m must be positive");
        }
        if !(0.0..=1.0).contains(&self.min_ransac_inlier_fraction) {
            return bad("min_ransac_inlier_fraction must be in [0, 1]");
        }
        if !self.corners.min_score.is_finite() {
            return bad("corners: min_score must be finite");
        }
        Ok(())
    }
}

/// One tracked feature in one stereo frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Feature {
    /// Identifier, unique over the run; the same id in two frames is the same
    /// scene point.
    pub id: u64,
    /// Frames this feature has been tracked through (0 when detected now).
    pub age: u32,
    /// Position in the left image, pixels.
    pub left: Vector2<f64>,
    /// Position in the right image, pixels, when the stereo match passed.
    pub right: Option<Vector2<f64>>,
    /// Unit bearing in the left camera (cam0) frame.
    pub left_bearing: Vector3<f64>,
    /// Unit bearing in the right camera (cam1) frame.
    pub right_bearing: Option<Vector3<f64>>,
}

/// What happened to the features in one frame.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct FrameStats {
    /// Features carried over from the previous frame.
    pub tracked: u32,
    /// Lost by the KLT (left the image, flat, diverged).
    pub lost_klt: u32,
    /// Rejected by the forward-backward or correlation check.
    pub lost_check: u32,
    /// Rejected by the temporal RANSAC.
    pub lost_ransac: u32,
    /// Dropped for being too close to an older feature.
    pub merged: u32,
    /// Detected in this frame.
    pub detected: u32,
    /// Features with a stereo match.
    pub stereo: u32,
    /// Stereo matches rejected by the epipolar check.
    pub stereo_epipolar_rejected: u32,
    /// Stereo searches the KLT lost (left the image, flat, diverged).
    pub stereo_lost_klt: u32,
    /// Stereo matches rejected by the forward-backward or correlation check.
    pub stereo_lost_check: u32,
    /// Features not searched for in the right image: at the scene's typical
    /// depth they would fall outside it.
    pub stereo_out_of_view: u32,
    /// Grid cells searched for new corners.
    pub cells_searched: u32,
    /// Whether the temporal RANSAC's model was ignored as a failed fit.
    pub ransac_ignored: bool,
}

/// Wall time of each step of one frame, nanoseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct FrameTiming {
    /// Pyramids.
    pub pyramid_ns: u64,
    /// Temporal KLT.
    pub tracking_ns: u64,
    /// Temporal RANSAC.
    pub ransac_ns: u64,
    /// Detection.
    pub detection_ns: u64,
    /// Stereo KLT and checks.
    pub stereo_ns: u64,
    /// The whole frame.
    pub total_ns: u64,
}

/// The front end's output for one stereo frame.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FrameTracks {
    /// Time of the stereo frame, ns.
    pub t_ns: i64,
    /// Frames processed before this one.
    pub frame_index: u64,
    /// The features, oldest first.
    pub features: Vec<Feature>,
    /// What happened.
    pub stats: FrameStats,
    /// How long it took.
    pub timing: FrameTiming,
}

/// A feature between frames.
#[derive(Debug, Clone, Copy)]
struct Track {
    id: u64,
    age: u32,
    left: Vector2<f32>,
    /// Left minus right position at the last stereo match.
    disparity: Option<Vector2<f32>>,
    /// Left bearing in the previous frame.
    bearing: Vector3<f64>,
}

/// Largest `max_features` accepted.
const MAX_FEATURES: usize = 10_000;
/// Largest grid side accepted.
const MAX_GRID: usize = 64;

/// Sub-sampling of the minimum-distance mask.
const MASK_SHIFT: usize = 2;

/// The stereo front end. See the module documentation.
#[derive(Debug)]
pub struct FrontEnd {
    config: FrontEndConfig,
    cam0: Camera,
    cam1: Camera,
    cam1_from_cam0: Isometry3<f64>,
    epipolar: StereoEpipolarCheck,
    prev_left: ImagePyramid,
    left: ImagePyramid,
    right: ImagePyramid,
    has_previous: bool,
    last_t_ns: Option<i64>,
    klt: KltTracker,
    detector: CornerDetector,
    ransac: TemporalRansac,
    tracks: Vec<Track>,
    /// Scratch: bearings before/after for RANSAC, its inlier mask.
    prev_bearings: Vec<Vector3<f64>>,
    cur_bearings: Vec<Vector3<f64>>,
    inliers: Vec<bool>,
    /// Scratch: candidates and per-cell bookkeeping.
    candidates: Vec<Corner>,
    cells: Vec<CellSearch>,
    cell_counts: Vec<u32>,
    /// Per cell, the frame index before which it is not searched again.
    cell_retry_at: Vec<u64>,
    /// Minimum-distance mask at 1 / 2^MASK_SHIFT resolution.
    mask: Vec<u8>,
    mask_width: usize,
    mask_height: usize,
    next_id: u64,
    frame_index: u64,
    typical_depth_m: f64,
    depths: Vec<f64>,
    ledger: CostLedger,
    output: FrameTracks,
}

/// A cell searched for corners: its slice of the candidates.
#[derive(Debug, Clone, Copy)]
struct CellSearch {
    cell: usize,
    added: u32,
    end: usize,
    next: usize,
    want: u32,
}

impl FrontEnd {
    /// A front end for the rig's left (cam0) and right (cam1) cameras.
    ///
    /// # Errors
    /// On an invalid configuration or calibration (the two cameras must have
    /// images of the same size).
    pub fn new(config: FrontEndConfig, rig: &RigCalibration) -> Result<Self> {
        config.validate()?;
        let cam0 = Camera::new(&rig.cam0)?;
        let cam1 = Camera::new(&rig.cam1)?;
        if (cam0.width(), cam0.height()) != (cam1.width(), cam1.height()) {
            return Err(VioError::Calibration(format!(
                "{} is {}x{} but {} is {}x{}",
                rig.cam0.name,
                cam0.width(),
                cam0.height(),
                rig.cam1.name,
                cam1.width(),
                cam1.height()
            )));
        }
        let cam1_from_cam0 = rig.cam1.body_from_cam.inverse() * rig.cam0.body_from_cam;
        let epipolar = StereoEpipolarCheck::new(&cam1_from_cam0)?;
        let mask_width = (cam0.width() >> MASK_SHIFT) + 1;
        let mask_height = (cam0.height() >> MASK_SHIFT) + 1;
        let cells = config.grid_cols * config.grid_rows;
        Ok(Self {
            klt: KltTracker::new(config.klt),
            detector: CornerDetector::new(config.corners),
            ransac: TemporalRansac::new(config.ransac)?,
            typical_depth_m: config.initial_depth_m,
            cam0,
            cam1,
            cam1_from_cam0,
            epipolar,
            prev_left: ImagePyramid::new(),
            left: ImagePyramid::new(),
            right: ImagePyramid::new(),
            has_previous: false,
            last_t_ns: None,
            tracks: Vec::with_capacity(config.max_features * 2),
            prev_bearings: Vec::new(),
            cur_bearings: Vec::new(),
            inliers: Vec::new(),
            candidates: Vec::new(),
            cells: Vec::with_capacity(cells),
            cell_counts: vec![0; cells],
            cell_retry_at: vec![0; cells],
            mask: vec![0; mask_width * mask_height],
            mask_width,
            mask_height,
            next_id: 0,
            frame_index: 0,
            depths: Vec::new(),
            ledger: CostLedger::new(),
            output: FrameTracks::default(),
            config,
        })
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &FrontEndConfig {
        &self.config
    }

    /// The work of the last frame, by kernel (names in [`kernels`]).
    #[must_use]
    pub fn cost(&self) -> &CostLedger {
        &self.ledger
    }

    /// The output of the last frame.
    #[must_use]
    pub fn last(&self) -> &FrameTracks {
        &self.output
    }

    /// Bytes of the front end's working memory: pyramids and scratch.
    #[must_use]
    pub fn working_memory_bytes(&self) -> usize {
        self.prev_left.bytes()
            + self.left.bytes()
            + self.right.bytes()
            + self.mask.len()
            + self.tracks.capacity() * std::mem::size_of::<Track>()
            + self.output.features.capacity() * std::mem::size_of::<Feature>()
            + self.candidates.capacity() * std::mem::size_of::<Corner>()
            + (self.prev_bearings.capacity() + self.cur_bearings.capacity())
                * std::mem::size_of::<Vector3<f64>>()
    }

    /// Forgets every feature (after a tracking failure or a gap in the data);
    /// the next frame starts afresh.
    pub fn reset(&mut self) {
        self.tracks.clear();
        self.cell_retry_at.fill(0);
        self.has_previous = false;
    }

    /// Processes one stereo frame. `body_prev_from_body` is the body (IMU)
    /// rotation since the previous stereo frame from the gyro, when the caller
    /// has it: `R` with `d_prev = R d_cur` for a direction fixed in the world
    /// ([`crate::imu::integrate_gyro`]). It predicts where features move and
    /// lets the temporal RANSAC use the two-point model. It should be
    /// bias-corrected (the back end's estimate); a raw one is off by the bias
    /// times the frame period (EuRoC: up to about 4 mrad at 20 Hz, against the
    /// 6.5 mrad threshold), which the two-point RANSAC refines away on its
    /// inliers; a prior so wrong that most features disagree with it is caught
    /// by `min_ransac_inlier_fraction`.
    ///
    /// # Errors
    /// Also if the rotation is not finite.
    ///
    /// # Errors
    /// If the images do not have the calibrated size, or time goes backwards.
    pub fn process(
        &mut self,
        frame: &StereoFrame,
        body_prev_from_body: Option<&UnitQuaternion<f64>>,
    ) -> Result<&FrameTracks> {
        let start = Instant::now();
        self.check_input(frame)?;
        if let Some(q) = body_prev_from_body
            && !q.coords.iter().all(|c| c.is_finite())
        {
            return Err(VioError::Input(format!(
                "frame at t = {} ns: the gyro rotation prior is not finite",
                frame.t_ns
            )));
        }
        self.ledger.clear();
        let mut stats = FrameStats::default();
        let mut timing = FrameTiming::default();

        let t = Instant::now();
        std::mem::swap(&mut self.prev_left, &mut self.left);
        let levels = self.config.pyramid_levels;
        let mut k = self.left.build(&frame.left, levels);
        k += self.right.build(&frame.right, levels);
        self.ledger.record(kernels::PYRAMID, k);
        timing.pyramid_ns = elapsed_ns(t);

        if self.has_previous {
            let t = Instant::now();
            let rotation = body_prev_from_body.copied();
            self.track_temporal(rotation, &mut stats);
            timing.tracking_ns = elapsed_ns(t);
            let t = Instant::now();
            self.reject_temporal_outliers(rotation, &mut stats);
            timing.ransac_ns = elapsed_ns(t);
        } else {
            self.tracks.clear();
        }
        let t = Instant::now();
        self.drop_crowded(&mut stats);
        self.detect_new(&mut stats);
        timing.detection_ns = elapsed_ns(t);
        let t = Instant::now();
        self.match_stereo(&mut stats);
        timing.stereo_ns = elapsed_ns(t);

        self.has_previous = true;
        self.last_t_ns = Some(frame.t_ns);
        self.output.t_ns = frame.t_ns;
        self.output.frame_index = self.frame_index;
        self.frame_index += 1;
        timing.total_ns = elapsed_ns(start);
        self.output.stats = stats;
        self.output.timing = timing;
        Ok(&self.output)
    }

    fn check_input(&self, frame: &StereoFrame) -> Result<()> {
        let (w, h) = (self.cam0.width(), self.cam0.height());
        for (name, img) in [("left", &frame.left), ("right", &frame.right)] {
            if (img.width(), img.height()) != (w, h) {
                return Err(VioError::Input(format!(
                    "frame at t = {} ns: {name} image is {}x{}, the calibration says {w}x{h}",
                    frame.t_ns,
                    img.width(),
                    img.height()
                )));
            }
        }
        if let Some(last) = self.last_t_ns
            && frame.t_ns <= last
        {
            return Err(VioError::Input(format!(
                "frame at t = {} ns does not come after the previous one ({last} ns)",
                frame.t_ns
            )));
        }
        Ok(())
    }

    /// Where a pure rotation moves a left-image pixel, or the pixel itself.
    fn predict(
        &self,
        px: Vector2<f32>,
        cam_cur_from_prev: Option<&UnitQuaternion<f64>>,
    ) -> Vector2<f32> {
        let Some(r) = cam_cur_from_prev else {
            return px;
        };
        let uv = Vector2::new(f64::from(px.x), f64::from(px.y));
        self.cam0
            .unproject(&uv)
            .and_then(|f| self.cam0.project(&(r * f)))
            .map_or(px, |p| Vector2::new(p.x as f32, p.y as f32))
    }

    fn cam_cur_from_prev(
        &self,
        body_prev_from_body: Option<UnitQuaternion<f64>>,
    ) -> Option<UnitQuaternion<f64>> {
        let body_from_cam = self.cam0.body_from_cam().rotation;
        body_prev_from_body.map(|r| (body_from_cam.inverse() * r * body_from_cam).inverse())
    }

    fn track_temporal(
        &mut self,
        body_prev_from_body: Option<UnitQuaternion<f64>>,
        stats: &mut FrameStats,
    ) {
        let rotation = self.cam_cur_from_prev(body_prev_from_body);
        let mut kept = 0;
        for i in 0..self.tracks.len() {
            let tr = self.tracks[i];
            let guess = self.predict(tr.left, rotation.as_ref());
            let top = self.config.pyramid_levels - 1;
            match self
                .klt
                .track(&self.prev_left, &self.left, tr.left, guess, top)
            {
                Ok(p)
                    if self
                        .cam0
                        .contains(&Vector2::new(f64::from(p.x), f64::from(p.y))) =>
                {
                    self.tracks[kept] = Track {
                        left: p,
                        age: tr.age + 1,
                        ..tr
                    };
                    kept += 1;
                }
                Ok(_)
                | Err(TrackFailure::OutOfImage | TrackFailure::Flat | TrackFailure::Diverged) => {
                    stats.lost_klt += 1;
                }
                Err(TrackFailure::ForwardBackward | TrackFailure::LowCorrelation) => {
                    stats.lost_check += 1;
                }
            }
        }
        self.tracks.truncate(kept);
        stats.tracked = kept as u32;
        self.ledger
            .record(kernels::TRACKING, self.klt.take_cost(Residence::Main));
    }

    fn reject_temporal_outliers(
        &mut self,
        body_prev_from_body: Option<UnitQuaternion<f64>>,
        stats: &mut FrameStats,
    ) {
        self.prev_bearings.clear();
        self.cur_bearings.clear();
        let mut unprojected = 0u64;
        let mut kept = 0;
        for i in 0..self.tracks.len() {
            let tr = self.tracks[i];
            unprojected += 1;
            if let Some(f) = self.cam0.unproject(&to_f64(tr.left)) {
                self.prev_bearings.push(tr.bearing);
                self.cur_bearings.push(f);
                self.tracks[kept] = Track { bearing: f, ..tr };
                kept += 1;
            }
        }
        self.tracks.truncate(kept);
        self.ledger
            .record(kernels::BEARINGS, bearing_cost(unprojected));
        let rotation = self
            .cam_cur_from_prev(body_prev_from_body)
            .map(|q| q.to_rotation_matrix());
        match self.ransac.reject_outliers(
            &self.prev_bearings,
            &self.cur_bearings,
            rotation.as_ref(),
            &mut self.inliers,
        ) {
            // A model that explains fewer than half of the features is a failed
            // fit (a near-degenerate motion), not a frame of mostly outliers: the
            // KLT's own checks already passed them. Keep them all.
            Ok(summary)
                if (summary.inliers as f64)
                    < self.config.min_ransac_inlier_fraction * summary.points as f64 =>
            {
                tracing::debug!("temporal RANSAC ignored: {summary:?}");
                stats.ransac_ignored = true;
                self.inliers.clear();
            }
            Ok(_) => {}
            Err(e) => {
                // Bearings come from our own undistortion: a failure here is a
                // bug, not bad input; keep every feature rather than lose the frame.
                tracing::warn!("temporal RANSAC skipped: {e}");
                self.inliers.clear();
            }
        }
        self.ledger.record(kernels::RANSAC, self.ransac.last_cost());
        let mut kept = 0;
        for i in 0..self.tracks.len() {
            if self.inliers.get(i).copied().unwrap_or(true) {
                self.tracks[kept] = self.tracks[i];
                kept += 1;
            } else {
                stats.lost_ransac += 1;
            }
        }
        self.tracks.truncate(kept);
        stats.tracked = kept as u32;
    }

    /// Drops the younger of two features closer than half the minimum distance
    /// (they converged on the same corner), then paints the minimum-distance mask.
    fn drop_crowded(&mut self, stats: &mut FrameStats) {
        // Oldest first: older tracks win.
        self.tracks
            .sort_unstable_by(|a, b| b.age.cmp(&a.age).then(a.id.cmp(&b.id)));
        self.mask.fill(0);
        let near = self.config.min_distance_px * 0.5;
        let mut kept = 0;
        for i in 0..self.tracks.len() {
            let tr = self.tracks[i];
            if self.mask_at(tr.left) >= 2 {
                stats.merged += 1;
                continue;
            }
            self.paint(tr.left, near, 2);
            self.tracks[kept] = tr;
            kept += 1;
        }
        self.tracks.truncate(kept);
        stats.tracked = kept as u32;
        let full = self.config.min_distance_px;
        for i in 0..self.tracks.len() {
            let p = self.tracks[i].left;
            self.paint(p, full, 1);
        }
    }

    fn mask_at(&self, p: Vector2<f32>) -> u8 {
        let (x, y) = (
            p.x.round().max(0.0) as usize >> MASK_SHIFT,
            p.y.round().max(0.0) as usize >> MASK_SHIFT,
        );
        if x < self.mask_width && y < self.mask_height {
            self.mask[y * self.mask_width + x]
        } else {
            0
        }
    }

    /// Raises the mask to `value` inside the disc of `radius` pixels around `p`.
    fn paint(&mut self, p: Vector2<f32>, radius: f32, value: u8) {
        let s = (1 << MASK_SHIFT) as f32;
        let (cx, cy, r) = (p.x / s, p.y / s, radius / s);
        let y0 = (cy - r).floor().max(0.0) as usize;
        let y1 = ((cy + r).ceil().max(0.0) as usize).min(self.mask_height - 1);
        let x0 = (cx - r).floor().max(0.0) as usize;
        let x1 = ((cx + r).ceil().max(0.0) as usize).min(self.mask_width - 1);
        for y in y0..=y1 {
            let dy = y as f32 - cy;
            for x in x0..=x1 {
                let dx = x as f32 - cx;
                if dx * dx + dy * dy <= r * r {
                    let m = &mut self.mask[y * self.mask_width + x];
                    *m = (*m).max(value);
                }
            }
        }
    }

    /// Detects corners in the cells short of features and adds the best of them,
    /// round-robin over the cells, until `max_features`.
    fn detect_new(&mut self, stats: &mut FrameStats) {
        let max = self.config.max_features;
        if self.tracks.len() >= max {
            self.ledger
                .record(kernels::DETECTION, self.detector.take_cost());
            return;
        }
        let (cols, rows) = (self.config.grid_cols, self.config.grid_rows);
        let (w, h) = (self.cam0.width(), self.cam0.height());
        let quota = max.div_ceil(cols * rows) as u32;
        self.cell_counts.fill(0);
        for tr in &self.tracks {
            let c = cell_of(tr.left, w, h, cols, rows);
            self.cell_counts[c] += 1;
        }
        self.candidates.clear();
        self.cells.clear();
        let Some(level0) = self.left.level(0) else {
            return;
        };
        for cy in 0..rows {
            for cx in 0..cols {
                let cell = cy * cols + cx;
                let count = self.cell_counts[cell];
                if count >= quota || self.cell_retry_at[cell] > self.frame_index {
                    continue;
                }
                let rect = Rect {
                    x0: cx * w / cols,
                    y0: cy * h / rows,
                    x1: (cx + 1) * w / cols,
                    y1: (cy + 1) * h / rows,
                };
                let start = self.candidates.len();
                self.detector.detect(level0, rect, &mut self.candidates);
                self.cells.push(CellSearch {
                    cell,
                    added: 0,
                    end: self.candidates.len(),
                    next: start,
                    want: quota - count,
                });
            }
        }
        stats.cells_searched = self.cells.len() as u32;
        // Emptier cells first.
        self.cells
            .sort_unstable_by_key(|c| (std::cmp::Reverse(c.want), c.cell));
        let radius = self.config.min_distance_px;
        let mut added = 0;
        // First each cell up to its share; then, if textureless cells left the
        // total short, the textured cells take more.
        let mut relaxed = false;
        'rounds: loop {
            let mut progress = false;
            for ci in 0..self.cells.len() {
                if self.tracks.len() >= max {
                    break 'rounds;
                }
                let cell = self.cells[ci];
                if cell.want == 0 && !relaxed {
                    continue;
                }
                let mut next = cell.next;
                while next < cell.end {
                    let c = self.candidates[next];
                    next += 1;
                    if self.mask_at(c.px) == 0 {
                        self.paint(c.px, radius, 1);
                        self.tracks.push(Track {
                            id: self.next_id,
                            age: 0,
                            left: c.px,
                            disparity: None,
                            bearing: Vector3::z(),
                        });
                        self.next_id += 1;
                        added += 1;
                        self.cells[ci].want = cell.want.saturating_sub(1);
                        self.cells[ci].added += 1;
                        progress = true;
                        break;
                    }
                }
                self.cells[ci].next = next;
            }
            if !progress {
                if relaxed {
                    break;
                }
                relaxed = true;
            }
        }
        stats.detected = added;
        let retry = self.frame_index + u64::from(self.config.barren_cell_retry_frames);
        for c in &self.cells {
            if c.added == 0 {
                self.cell_retry_at[c.cell] = retry;
            }
        }
        self.ledger
            .record(kernels::DETECTION, self.detector.take_cost());
    }

    /// Matches every feature into the right image, computes both bearings, and
    /// writes the output.
    fn match_stereo(&mut self, stats: &mut FrameStats) {
        self.output.features.clear();
        self.depths.clear();
        let fx = self.cam0.calibration().intrinsics.fx;
        let max_angle = self.config.max_epipolar_error_px / fx;
        let mut unprojected = 0u64;
        for i in 0..self.tracks.len() {
            let tr = self.tracks[i];
            let left = to_f64(tr.left);
            unprojected += 1;
            let Some(left_bearing) = self.cam0.unproject(&left) else {
                continue;
            };
            self.tracks[i].bearing = left_bearing;
            // The previous disparity is within a pixel or two of the new one: two
            // levels suffice. A new feature searches the whole pyramid.
            let (guess, top) = match tr.disparity {
                Some(d) => (tr.left - d, 1),
                None => (
                    self.stereo_guess(&left_bearing).unwrap_or(tr.left),
                    self.config.pyramid_levels - 1,
                ),
            };
            let mut right = None;
            let mut right_bearing = None;
            let margin = 2.0 * klt::WINDOW as f64;
            let g = to_f64(guess);
            let in_view = g.x > -margin
                && g.y > -margin
                && g.x < self.cam1.width() as f64 + margin
                && g.y < self.cam1.height() as f64 + margin;
            let result = if in_view {
                self.klt.track(&self.left, &self.right, tr.left, guess, top)
            } else {
                stats.stereo_out_of_view += 1;
                Err(TrackFailure::OutOfImage)
            };
            match result {
                Err(TrackFailure::ForwardBackward | TrackFailure::LowCorrelation) => {
                    stats.stereo_lost_check += 1;
                }
                Err(_) if in_view => stats.stereo_lost_klt += 1,
                _ => {}
            }
            if let Ok(r) = result {
                let r64 = to_f64(r);
                unprojected += 1;
                if let Some(fr) = self
                    .cam1
                    .unproject(&r64)
                    .filter(|_| self.cam1.contains(&r64))
                {
                    let ok_epipolar =
                        self.epipolar.epipolar_error_rad(&left_bearing, &fr) <= max_angle;
                    match self.epipolar.ray_depths(&left_bearing, &fr) {
                        Some((d0, d1)) if ok_epipolar && d0 > 0.0 && d1 > 0.0 => {
                            let z = d0 * left_bearing.z;
                            right = Some(r64);
                            right_bearing = Some(fr);
                            self.depths.push(z);
                        }
                        _ => stats.stereo_epipolar_rejected += 1,
                    }
                }
            }
            self.tracks[i].disparity =
                right.map(|r| tr.left - Vector2::new(r.x as f32, r.y as f32));
            stats.stereo += u32::from(right.is_some());
            self.output.features.push(Feature {
                id: tr.id,
                age: tr.age,
                left,
                right,
                left_bearing,
                right_bearing,
            });
        }
        self.ledger
            .record(kernels::STEREO, self.klt.take_cost(Residence::Buffer));
        *self.ledger.kernel(kernels::BEARINGS) += bearing_cost(unprojected);
        if !self.depths.is_empty() {
            let mid = self.depths.len() / 2;
            let (_, median, _) = self.depths.select_nth_unstable_by(mid, f64::total_cmp);
            self.typical_depth_m = *median;
        }
    }

    /// Where a left bearing at the scene's typical depth appears in the right image.
    fn stereo_guess(&self, left_bearing: &Vector3<f64>) -> Option<Vector2<f32>> {
        let z = left_bearing.z.max(1e-3);
        let p0 = left_bearing * (self.typical_depth_m / z);
        let p1 = self.cam1_from_cam0 * nalgebra::Point3::from(p0);
        self.cam1
            .project(&p1.coords)
            .map(|p| Vector2::new(p.x as f32, p.y as f32))
    }
}

/// The cell of the grid a pixel falls in.
fn cell_of(p: Vector2<f32>, w: usize, h: usize, cols: usize, rows: usize) -> usize {
    let cx = ((p.x.max(0.0) as usize) * cols / w).min(cols - 1);
    let cy = ((p.y.max(0.0) as usize) * rows / h).min(rows - 1);
    cy * cols + cx
}

fn to_f64(p: Vector2<f32>) -> Vector2<f64> {
    Vector2::new(f64::from(p.x), f64::from(p.y))
}

fn elapsed_ns(t: Instant) -> u64 {
    u64::try_from(t.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// Undistorting `n` pixels: a handful of Newton iterations of a few dozen
/// double-precision operations each, on data that stays in registers.
fn bearing_cost(n: u64) -> KernelCost {
    let mut k = KernelCost {
        calls: n,
        ops: OpCounts {
            f64_ops: 150 * n,
            ..OpCounts::default()
        },
        ..KernelCost::default()
    };
    k.read(Residence::Local, 16 * n);
    k.write(Residence::Local, 24 * n);
    k
}

#[cfg(test)]
mod tests {
    use datasets::{CameraCalibration, GrayImage, ImuCalibration};
    use nalgebra::Quaternion;

    use super::*;

    fn rig() -> RigCalibration {
        RigCalibration {
            cam0: CameraCalibration::euroc_cam0(),
            cam1: CameraCalibration::euroc_cam1(),
            imu: ImuCalibration::euroc_adis16448(),
        }
    }

    fn frame(t_ns: i64, w: usize, h: usize) -> StereoFrame {
        StereoFrame {
            t_ns,
            left: GrayImage::new(w, h),
            right: GrayImage::new(w, h),
        }
    }

    #[test]
    fn bad_inputs_and_configs_are_errors_not_panics() {
        let Ok(mut fe) = FrontEnd::new(FrontEndConfig::default(), &rig()) else {
            panic!("the default front end must build")
        };
        // Wrong image size.
        assert!(matches!(
            fe.process(&frame(10, 640, 480), None),
            Err(VioError::Input(_))
        ));
        // A non-finite gyro prior.
        let nan = UnitQuaternion::new_unchecked(Quaternion::new(f64::NAN, 0.0, 0.0, 0.0));
        assert!(matches!(
            fe.process(&frame(20, 752, 480), Some(&nan)),
            Err(VioError::Input(_))
        ));
        // A featureless frame is fine; time must then move forward.
        assert!(fe.process(&frame(30, 752, 480), None).is_ok());
        assert!(matches!(
            fe.process(&frame(30, 752, 480), None),
            Err(VioError::Input(_))
        ));
        for bad in [
            FrontEndConfig {
                max_features: usize::MAX,
                ..FrontEndConfig::default()
            },
            FrontEndConfig {
                grid_cols: 1 << 40,
                ..FrontEndConfig::default()
            },
            FrontEndConfig {
                min_distance_px: f32::NAN,
                ..FrontEndConfig::default()
            },
            FrontEndConfig {
                klt: KltConfig {
                    epsilon_px: 0.0,
                    ..KltConfig::default()
                },
                ..FrontEndConfig::default()
            },
        ] {
            assert!(matches!(
                FrontEnd::new(bad, &rig()),
                Err(VioError::Config(_))
            ));
        }
        // Equal iteration caps on every level are a valid configuration.
        let same_caps = FrontEndConfig {
            klt: KltConfig {
                coarse_max_iterations: 30,
                ..KltConfig::default()
            },
            ..FrontEndConfig::default()
        };
        assert!(FrontEnd::new(same_caps, &rig()).is_ok());
    }
}
