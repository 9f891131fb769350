//! The OpenCV baseline of the front-end comparison: VINS-Fusion's feature tracker
//! (Qin et al., "VINS-Mono", TRO 2018; the stereo tracker of VINS-Fusion's
//! `feature_tracker.cpp`) re-implemented with OpenCV 4 calls, single-threaded.
//! Built only with the `opencv` feature (Debian's `libopencv-dev` and
//! `libclang-dev`).
//!
//! Input: [`StereoFrame`]s (8-bit left and right images, same size). Output per
//! frame: [`TrackObservation`]s: track id, left position and the right match when
//! there is one, in pixels of the distorted images (origin at the centre of the
//! top-left pixel, OpenCV's convention). No undistortion, no velocities: only the
//! image work is timed.
//!
//! Per frame, as VINS-Fusion does (with our window, levels and spacing):
//! 1. temporal: `calcOpticalFlowPyrLK(prev_left, left, prev_pts)` (window 15x15,
//!    4 levels, stop after 30 iterations or a 0.01 px step); backward check:
//!    track the results back with the forward origins as initial guesses
//!    (`OPTFLOW_USE_INITIAL_FLOW`, 2 levels, as VINS does) and keep a point when
//!    both directions succeed and it returns within 0.5 px; drop points within
//!    1 px of the border;
//! 2. spacing: visit the tracks longest first, keep one only where no kept track
//!    lies within `min_distance_px`, and mask a disc of that radius around it;
//! 3. detection: `goodFeaturesToTrack` (Shi-Tomasi, quality 0.01 of the best
//!    corner, 3x3 blocks, `min_distance_px` apart, outside the mask) tops the
//!    tracks up to `max_features`; new tracks get new ids;
//! 4. stereo: `calcOpticalFlowPyrLK(left, right, pts)` from the left positions
//!    (4 levels), then right to left (4 levels); a match is kept when both
//!    succeed, it lies inside the right image and returns within 0.5 px. A left
//!    track without a right match is kept.
//!
//! `calcOpticalFlowPyrLK` builds the pyramids of both images on every call, so
//! VINS-Fusion builds each frame's left pyramid four times. With
//! [`OpenCvConfig::share_pyramids`] the pyramids (with derivatives) are built
//! once per image with `buildOpticalFlowPyramid` and the previous left one is
//! kept: the same tracking, less work; the fairer baseline for a speed claim.

use std::time::Instant;

use datasets::StereoFrame;
use nalgebra::Vector2;
use opencv::core::{
    self, BORDER_CONSTANT, BORDER_REFLECT_101, CV_8UC1, Mat, MatTrait, MatTraitConst,
    MatTraitManual, Point, Point2f, Scalar, Size, TermCriteria, TermCriteria_COUNT,
    TermCriteria_EPS, Vector,
};
use opencv::{imgproc, video};
use serde::{Deserialize, Serialize};

use crate::frontend_eval::TrackObservation;

/// Settings of the baseline; every field has the default given.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct OpenCvConfig {
    /// Tracks kept per frame (default 150).
    pub max_features: usize,
    /// Side of the square KLT window, px (default 15).
    pub window_px: i32,
    /// Pyramid levels, including full resolution (default 4: OpenCV's
    /// `maxLevel` 3).
    pub pyramid_levels: i32,
    /// Levels of the temporal backward check (default 2, VINS-Fusion's
    /// `maxLevel` 1 from the forward origins).
    pub backward_levels: i32,
    /// KLT iterations per level at most (default 30).
    pub max_iterations: i32,
    /// KLT stops when the step is below this, px (default 0.01).
    pub epsilon_px: f64,
    /// Largest forward-backward distance of a kept match, px (default 0.5).
    pub max_backward_error_px: f64,
    /// Smallest distance between tracks, px (default 20; use the same as the
    /// front end compared with).
    pub min_distance_px: f64,
    /// Shi-Tomasi threshold, relative to the best corner of the image (default
    /// 0.01).
    pub quality_level: f64,
    /// Build each image's pyramid once and keep the previous one (default
    /// false: VINS-Fusion's calls as they are).
    pub share_pyramids: bool,
    /// OpenCV worker threads (default 1).
    pub threads: i32,
}

impl Default for OpenCvConfig {
    fn default() -> Self {
        Self {
            max_features: 150,
            window_px: 15,
            pyramid_levels: 4,
            backward_levels: 2,
            max_iterations: 30,
            epsilon_px: 0.01,
            max_backward_error_px: 0.5,
            min_distance_px: 20.0,
            quality_level: 0.01,
            share_pyramids: false,
            threads: 1,
        }
    }
}

/// Errors of the baseline.
#[derive(Debug, thiserror::Error)]
pub enum OpenCvBaselineError {
    /// An OpenCV call failed.
    #[error("OpenCV: {0}")]
    OpenCv(#[from] opencv::Error),
    /// The images are empty, differ in size from each other or from the first
    /// frame.
    #[error("image size {got:?} (width, height) does not match {expected:?}")]
    ImageSize {
        /// The size given.
        got: (usize, usize),
        /// The size expected.
        expected: (usize, usize),
    },
    /// A setting is out of range.
    #[error("invalid OpenCV baseline setting: {0}")]
    InvalidConfig(String),
}

/// What happened in one frame, and how long each step took.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct OpenCvFrameStats {
    /// Tracks carried over from the previous frame.
    pub tracked: u32,
    /// Lost by the forward or backward KLT (status 0).
    pub lost_klt: u32,
    /// Lost by the forward-backward distance.
    pub lost_backward: u32,
    /// Lost at the image border.
    pub lost_border: u32,
    /// Dropped for lying within `min_distance_px` of a longer track.
    pub removed_crowded: u32,
    /// New corners.
    pub detected: u32,
    /// Stereo matches kept.
    pub stereo: u32,
    /// Stereo candidates lost by the KLT (either direction).
    pub stereo_lost_klt: u32,
    /// Stereo candidates lost by the right-to-left check or the border.
    pub stereo_lost_check: u32,
    /// Copying the images in (and building the pyramids when shared), ns.
    pub load_ns: u64,
    /// Temporal tracking with its backward check, ns.
    pub temporal_ns: u64,
    /// Spacing mask and detection, ns.
    pub detection_ns: u64,
    /// Stereo matching with its check, ns.
    pub stereo_ns: u64,
}

/// A level-0 image or its pyramid, as `calcOpticalFlowPyrLK` takes them.
#[derive(Debug)]
struct Image {
    mat: Mat,
    pyramid: Vector<Mat>,
}

impl Image {
    fn new(width: usize, height: usize) -> Result<Self, OpenCvBaselineError> {
        let (w, h) = (to_i32(width)?, to_i32(height)?);
        Ok(Self {
            mat: Mat::new_rows_cols_with_default(h, w, CV_8UC1, Scalar::all(0.0))?,
            pyramid: Vector::new(),
        })
    }

    /// Copies `data` (row-major, the image's size) in and, when `levels > 0`,
    /// builds the pyramid with derivatives.
    fn load(&mut self, data: &[u8], window: Size, levels: i32) -> Result<(), OpenCvBaselineError> {
        self.mat.data_bytes_mut()?.copy_from_slice(data);
        if levels > 0 {
            video::build_optical_flow_pyramid(
                &self.mat,
                &mut self.pyramid,
                window,
                levels - 1,
                true,
                BORDER_REFLECT_101,
                BORDER_CONSTANT,
                true,
            )?;
        }
        Ok(())
    }
}

/// VINS-Fusion's stereo feature tracker with OpenCV (see the module docs).
#[derive(Debug)]
pub struct OpenCvTracker {
    cfg: OpenCvConfig,
    size: Option<(usize, usize)>,
    previous: Option<Image>,
    left: Option<Image>,
    right: Option<Image>,
    /// Tracked points of the previous frame, their ids and lengths.
    points: Vector<Point2f>,
    ids: Vec<u64>,
    lengths: Vec<u32>,
    next_id: u64,
    // Scratch, reused frame to frame.
    forward: Vector<Point2f>,
    backward: Vector<Point2f>,
    status: Vector<u8>,
    back_status: Vector<u8>,
    err: Vector<f32>,
    corners: Vector<Point2f>,
    mask: Mat,
    order: Vec<usize>,
    out: Vec<TrackObservation>,
    stats: OpenCvFrameStats,
}

impl OpenCvTracker {
    /// A tracker; sets OpenCV's global thread count to `cfg.threads`.
    ///
    /// # Errors
    /// If a setting is out of range or OpenCV refuses the thread count.
    pub fn new(cfg: OpenCvConfig) -> Result<Self, OpenCvBaselineError> {
        if cfg.window_px < 3
            || cfg.window_px % 2 == 0
            || !(1..=8).contains(&cfg.pyramid_levels)
            || !(1..=cfg.pyramid_levels).contains(&cfg.backward_levels)
            || cfg.max_iterations < 1
            || cfg.max_features == 0
            || cfg.max_features > i32::MAX as usize
            || !(0.0..1e4).contains(&cfg.min_distance_px)
            || !(cfg.quality_level > 0.0 && cfg.quality_level < 1.0)
            || !(0.0..=1e4).contains(&cfg.max_backward_error_px)
            || cfg.threads < 1
        {
            return Err(OpenCvBaselineError::InvalidConfig(format!("{cfg:?}")));
        }
        core::set_num_threads(cfg.threads)?;
        Ok(Self {
            cfg,
            size: None,
            previous: None,
            left: None,
            right: None,
            points: Vector::new(),
            ids: Vec::new(),
            lengths: Vec::new(),
            next_id: 0,
            forward: Vector::new(),
            backward: Vector::new(),
            status: Vector::new(),
            back_status: Vector::new(),
            err: Vector::new(),
            corners: Vector::new(),
            mask: Mat::default(),
            order: Vec::new(),
            out: Vec::new(),
            stats: OpenCvFrameStats::default(),
        })
    }

    /// The settings.
    #[must_use]
    pub fn config(&self) -> &OpenCvConfig {
        &self.cfg
    }

    /// Counts and step times of the last frame.
    #[must_use]
    pub fn last_stats(&self) -> &OpenCvFrameStats {
        &self.stats
    }

    /// Tracks one stereo frame and returns its tracks.
    ///
    /// # Errors
    /// If the images differ in size from each other or from the first frame, or
    /// an OpenCV call fails.
    pub fn process(
        &mut self,
        frame: &StereoFrame,
    ) -> Result<&[TrackObservation], OpenCvBaselineError> {
        let size = (frame.left.width(), frame.left.height());
        let right_size = (frame.right.width(), frame.right.height());
        let expected = *self.size.get_or_insert(size);
        for got in [size, right_size] {
            if got != expected || got.0 < 2 || got.1 < 2 {
                return Err(OpenCvBaselineError::ImageSize { got, expected });
            }
        }
        let cfg = self.cfg;
        let mut stats = OpenCvFrameStats::default();
        let t = Instant::now();
        let window = Size::new(cfg.window_px, cfg.window_px);
        let levels = if cfg.share_pyramids {
            cfg.pyramid_levels
        } else {
            0
        };
        // The previous left image becomes `previous`; the new one is loaded into
        // the other buffer.
        let mut current = match self.left.take() {
            Some(left) => self
                .previous
                .replace(left)
                .map_or_else(|| Image::new(size.0, size.1), Ok)?,
            None => Image::new(size.0, size.1)?,
        };
        current.load(frame.left.data(), window, levels)?;
        let mut right = match self.right.take() {
            Some(r) => r,
            None => Image::new(size.0, size.1)?,
        };
        right.load(frame.right.data(), window, levels)?;
        stats.load_ns = elapsed_ns(t);

        let criteria = TermCriteria::new(
            TermCriteria_COUNT + TermCriteria_EPS,
            cfg.max_iterations,
            cfg.epsilon_px,
        )?;
        let (w, h) = (size.0 as f32, size.1 as f32);
        let in_border = |p: &Point2f| {
            let (x, y) = (p.x.round(), p.y.round());
            x >= 1.0 && y >= 1.0 && x < w - 1.0 && y < h - 1.0
        };

        // 1. Temporal tracking with the backward check.
        let t = Instant::now();
        if let (Some(previous), false) = (&self.previous, self.points.is_empty()) {
            self.forward.clear();
            lk(
                previous,
                &current,
                cfg.share_pyramids,
                &self.points,
                &mut self.forward,
                &mut self.status,
                &mut self.err,
                window,
                cfg.pyramid_levels - 1,
                criteria,
                0,
            )?;
            self.backward.clone_from(&self.points);
            lk(
                &current,
                previous,
                cfg.share_pyramids,
                &self.forward,
                &mut self.backward,
                &mut self.back_status,
                &mut self.err,
                window,
                cfg.backward_levels - 1,
                criteria,
                video::OPTFLOW_USE_INITIAL_FLOW,
            )?;
            let mut kept = 0;
            for i in 0..self.points.len() {
                let (p0, p1, back) = (
                    self.points.get(i)?,
                    self.forward.get(i)?,
                    self.backward.get(i)?,
                );
                if self.status.get(i)? == 0 || self.back_status.get(i)? == 0 {
                    stats.lost_klt += 1;
                } else if distance(&p0, &back) > cfg.max_backward_error_px {
                    stats.lost_backward += 1;
                } else if !in_border(&p1) {
                    stats.lost_border += 1;
                } else {
                    self.points.set(kept, p1)?;
                    self.ids[kept] = self.ids[i];
                    self.lengths[kept] = self.lengths[i] + 1;
                    kept += 1;
                }
            }
            truncate(&mut self.points, kept)?;
            self.ids.truncate(kept);
            self.lengths.truncate(kept);
            stats.tracked = kept as u32;
        } else {
            self.points.clear();
            self.ids.clear();
            self.lengths.clear();
        }

        stats.temporal_ns = elapsed_ns(t);

        // 2. Spacing: longest tracks first, a disc of min_distance around each.
        let t = Instant::now();
        let before = self.points.len();
        self.enforce_spacing(size)?;
        stats.removed_crowded = (before - self.points.len()) as u32;

        // 3. Top up with Shi-Tomasi corners outside the mask.
        let wanted = cfg.max_features.saturating_sub(self.points.len());
        if wanted > 0 {
            imgproc::good_features_to_track(
                &current.mat,
                &mut self.corners,
                to_i32(wanted)?,
                cfg.quality_level,
                cfg.min_distance_px,
                &self.mask,
                3,
                false,
                0.04,
            )?;
            for p in &self.corners {
                self.points.push(p);
                self.ids.push(self.next_id);
                self.lengths.push(1);
                self.next_id += 1;
            }
            stats.detected = self.corners.len() as u32;
        }
        stats.detection_ns = elapsed_ns(t);

        // 4. Stereo matching left -> right, checked right -> left.
        let t = Instant::now();
        self.out.clear();
        if !self.points.is_empty() {
            self.forward.clear();
            lk(
                &current,
                &right,
                cfg.share_pyramids,
                &self.points,
                &mut self.forward,
                &mut self.status,
                &mut self.err,
                window,
                cfg.pyramid_levels - 1,
                criteria,
                0,
            )?;
            self.backward.clear();
            lk(
                &right,
                &current,
                cfg.share_pyramids,
                &self.forward,
                &mut self.backward,
                &mut self.back_status,
                &mut self.err,
                window,
                cfg.pyramid_levels - 1,
                criteria,
                0,
            )?;
        }
        for i in 0..self.points.len() {
            let p = self.points.get(i)?;
            let mut right_match = None;
            if self.status.get(i)? == 0 || self.back_status.get(i)? == 0 {
                stats.stereo_lost_klt += 1;
            } else {
                let (r, back) = (self.forward.get(i)?, self.backward.get(i)?);
                if in_border(&r) && distance(&p, &back) <= cfg.max_backward_error_px {
                    right_match = Some(vector(&r));
                    stats.stereo += 1;
                } else {
                    stats.stereo_lost_check += 1;
                }
            }
            self.out.push(TrackObservation {
                id: self.ids[i],
                left: vector(&p),
                right: right_match,
            });
        }
        stats.stereo_ns = elapsed_ns(t);
        self.stats = stats;
        self.left = Some(current);
        self.right = Some(right);
        Ok(&self.out)
    }

    /// VINS-Fusion's `setMask`: keeps tracks longest first where the mask is
    /// still free and blocks a disc of `min_distance_px` around each kept one.
    fn enforce_spacing(&mut self, size: (usize, usize)) -> Result<(), OpenCvBaselineError> {
        let (w, h) = (to_i32(size.0)?, to_i32(size.1)?);
        if self.mask.rows() != h || self.mask.cols() != w {
            self.mask = Mat::new_rows_cols_with_default(h, w, CV_8UC1, Scalar::all(255.0))?;
        } else {
            self.mask.set_to_def(&Scalar::all(255.0))?;
        }
        self.order.clear();
        self.order.extend(0..self.points.len());
        // Longest first; ties keep the older (lower) id first, deterministically.
        let (lengths, ids) = (&self.lengths, &self.ids);
        self.order
            .sort_by(|&a, &b| lengths[b].cmp(&lengths[a]).then(ids[a].cmp(&ids[b])));
        let radius = self.cfg.min_distance_px.round() as i32;
        let (mut points, mut new_ids, mut new_lengths) = (
            Vector::<Point2f>::with_capacity(self.order.len()),
            Vec::with_capacity(self.order.len()),
            Vec::with_capacity(self.order.len()),
        );
        for &i in &self.order {
            let p = self.points.get(i)?;
            let at = Point::new(p.x as i32, p.y as i32);
            if *self.mask.at_2d::<u8>(at.y, at.x)? == 255 {
                points.push(p);
                new_ids.push(self.ids[i]);
                new_lengths.push(self.lengths[i]);
                imgproc::circle(
                    &mut self.mask,
                    at,
                    radius,
                    Scalar::all(0.0),
                    imgproc::FILLED,
                    imgproc::LINE_8,
                    0,
                )?;
            }
        }
        self.points = points;
        self.ids = new_ids;
        self.lengths = new_lengths;
        Ok(())
    }
}

/// `calcOpticalFlowPyrLK` on two images, or on their pyramids when `pyramids`.
#[allow(clippy::too_many_arguments)]
fn lk(
    from: &Image,
    to: &Image,
    pyramids: bool,
    points: &Vector<Point2f>,
    tracked: &mut Vector<Point2f>,
    status: &mut Vector<u8>,
    err: &mut Vector<f32>,
    window: Size,
    max_level: i32,
    criteria: TermCriteria,
    flags: i32,
) -> Result<(), OpenCvBaselineError> {
    if pyramids {
        video::calc_optical_flow_pyr_lk(
            &from.pyramid,
            &to.pyramid,
            points,
            tracked,
            status,
            err,
            window,
            max_level,
            criteria,
            flags,
            1e-4,
        )?;
    } else {
        video::calc_optical_flow_pyr_lk(
            &from.mat, &to.mat, points, tracked, status, err, window, max_level, criteria, flags,
            1e-4,
        )?;
    }
    Ok(())
}

fn elapsed_ns(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

fn distance(a: &Point2f, b: &Point2f) -> f64 {
    f64::from(a.x - b.x).hypot(f64::from(a.y - b.y))
}

fn vector(p: &Point2f) -> Vector2<f64> {
    Vector2::new(f64::from(p.x), f64::from(p.y))
}

fn truncate(v: &mut Vector<Point2f>, len: usize) -> Result<(), OpenCvBaselineError> {
    while v.len() > len {
        v.remove(v.len() - 1)?;
    }
    Ok(())
}

fn to_i32(n: usize) -> Result<i32, OpenCvBaselineError> {
    i32::try_from(n).map_err(|_| OpenCvBaselineError::InvalidConfig(format!("{n} exceeds i32")))
}

#[cfg(test)]
mod tests {
    use datasets::synth::{Difficulty, SynthConfig, SyntheticSequence};

    use super::*;
    use crate::frontend_eval::FlowEvaluator;

    #[test]
    fn tracks_synthetic_frames_accurately_with_stable_ids() {
        let cfg = SynthConfig {
            seed: 4,
            duration_s: 2.6,
            difficulty: Difficulty::Medium,
            ..SynthConfig::default()
        };
        let seq = SyntheticSequence::generate(&cfg).unwrap_or_else(|e| panic!("{e}"));
        let mut tracker =
            OpenCvTracker::new(OpenCvConfig::default()).unwrap_or_else(|e| panic!("{e}"));
        let mut eval = FlowEvaluator::new(&seq).unwrap_or_else(|e| panic!("{e}"));
        let mut frame = seq.new_frame();
        for i in 28..48 {
            seq.render_stereo(i, &mut frame)
                .unwrap_or_else(|e| panic!("{e}"));
            let tracks = tracker.process(&frame).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(tracks.len(), 150, "frame {i}");
            eval.add_frame(i, tracks).unwrap_or_else(|e| panic!("{e}"));
        }
        let report = eval.report();
        println!("{report}");
        assert!(report.temporal.median_px < 0.1, "{:?}", report.temporal);
        assert!(report.stereo.median_px < 0.2, "{:?}", report.stereo);
        assert!(report.tracks.survival.fraction > 0.7, "{:?}", report.tracks);
        assert!(report.tracks.median_length_per_observation > 15.0);

        // Another image size is refused.
        let small = StereoFrame {
            t_ns: frame.t_ns + 1,
            left: datasets::GrayImage::new(64, 48),
            right: datasets::GrayImage::new(64, 48),
        };
        assert!(matches!(
            tracker.process(&small),
            Err(OpenCvBaselineError::ImageSize { .. })
        ));
    }
}
