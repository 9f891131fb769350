//! Accuracy and track statistics of a visual front end, for any tracker.
//!
//! Input, per frame: the tracker's [`TrackObservation`]s, pixel positions `(u, v)`
//! in the distorted left (cam0) and right (cam1) images, origin at the centre of
//! the top-left pixel; the same `id` in two frames means the same track.
//!
//! - [`TrackStatsCollector`] needs no ground truth (real sequences such as
//!   EuRoC): tracks per frame, track lengths, survival over a horizon, and how
//!   well the tracks cover the image (occupied cells of a grid).
//! - [`FlowEvaluator`] adds, on a [`SyntheticSequence`], errors against ground
//!   truth from the known world ([`SyntheticSequence::transfer`]):
//!   - temporal: for a track reported in two consecutive evaluated frames `k-1`
//!     and `k`, the true left position at `k` of the surface point seen at its
//!     tracked left position at `k-1`, against its tracked left position at `k`.
//!     This is the error of one tracking step (it does not accumulate along the
//!     track, which drift measurements would);
//!   - stereo: the true right position of the surface point seen at the tracked
//!     left position, against the tracked right position; and its horizontal
//!     component alone (the disparity error).
//!
//!   Pairs whose true position is outside the image or occluded are skipped and
//!   counted (a tracker should lose those, not be scored on them).
//!
//! Definitions (all in frames of the evaluated sequence, counted in the order
//! they are added):
//! - *length* of a track: the number of frames it was reported in; tracks still
//!   alive in the last frame count with the length they reached.
//! - *median track length per observation*: the median, over every (frame,
//!   track) observation, of the length of the track observed. It answers "how
//!   long is the track a typical feature belongs to", is not pulled down by many
//!   short-lived tracks topped up at the image border, and is the figure the
//!   front-end target "median track length of at least 80 frames on the 95-frame
//!   EuRoC snippet" is measured by. The plain median over tracks (each counted
//!   once) and the median age of the tracks alive in the last frame are reported
//!   beside it.
//! - *survival*: of the tracks born at least `survival_frames` frames before the
//!   last frame, the fraction reported again exactly `survival_frames` frames
//!   after their first frame.
//! - *spread*: the fraction of the cells of a `grid_cols x grid_rows` grid over
//!   the left image holding at least one track, per frame (mean and minimum).
//!
//! Quantiles interpolate linearly between order statistics (NumPy's default);
//! an empty set gives NaN (`null` in JSON).

use std::collections::HashMap;
use std::fmt;

use datasets::synth::SyntheticSequence;
use nalgebra::{Vector2, Vector3};
use serde::{Deserialize, Serialize};

/// One track's position in one frame, as a tracker reports it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrackObservation {
    /// Track identity: the same id in another frame is the same track.
    pub id: u64,
    /// Position in the left (cam0) image, px.
    pub left: Vector2<f64>,
    /// Matched position in the right (cam1) image, px, when stereo matching
    /// found one.
    pub right: Option<Vector2<f64>>,
}

/// Settings of the statistics; every field has the default given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrackStatsConfig {
    /// Columns of the spread grid (default 8).
    pub grid_cols: usize,
    /// Rows of the spread grid (default 6, so cells are about square on a
    /// 752x480 image: 94x80 px).
    pub grid_rows: usize,
    /// Survival horizon, frames (default 10).
    pub survival_frames: usize,
}

impl Default for TrackStatsConfig {
    fn default() -> Self {
        Self {
            grid_cols: 8,
            grid_rows: 6,
            survival_frames: 10,
        }
    }
}

/// Invalid input to the evaluators.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FrontEndEvalError {
    /// A tracker reported a NaN or infinite position.
    #[error("frame {frame}: track {id} has a non-finite position")]
    NonFinite {
        /// Index of the frame in the order added.
        frame: usize,
        /// The track.
        id: u64,
    },
    /// A synthetic frame index beyond the sequence.
    #[error("frame {frame} is out of range (the sequence has {frames})")]
    FrameOutOfRange {
        /// The index given.
        frame: usize,
        /// Frames in the sequence.
        frames: usize,
    },
    /// Synthetic frames must be added in increasing order.
    #[error("frame {frame} added after frame {previous}: frames must increase")]
    FrameNotIncreasing {
        /// The index given.
        frame: usize,
        /// The previous one.
        previous: usize,
    },
    /// A grid with no cells, or a zero survival horizon.
    #[error("invalid statistics settings: {0}")]
    InvalidConfig(String),
}

/// Per-track bookkeeping.
#[derive(Debug, Clone, Copy)]
struct TrackRecord {
    /// Frame of the first report.
    first: usize,
    /// Frame of the latest report.
    last: usize,
    /// Frames reported in.
    length: usize,
    /// Reported at `first + survival_frames`.
    survived: bool,
}

/// Survival of tracks over a horizon.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Survival {
    /// The horizon, frames.
    pub horizon_frames: usize,
    /// Tracks born early enough to be judged.
    pub eligible: usize,
    /// Of those, tracks reported `horizon_frames` after their first frame.
    pub survived: usize,
    /// `survived / eligible` (NaN when none is eligible).
    pub fraction: f64,
}

/// Tracker statistics that need no ground truth.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrackStatistics {
    /// Frames added.
    pub frames: usize,
    /// Distinct track ids seen.
    pub tracks_total: usize,
    /// Mean tracks per frame.
    pub tracks_per_frame_mean: f64,
    /// Fewest tracks in a frame.
    pub tracks_per_frame_min: usize,
    /// Most tracks in a frame.
    pub tracks_per_frame_max: usize,
    /// Fewest tracks in a frame after the first (which holds only new
    /// detections, so this is the steady state).
    pub tracks_per_frame_min_after_first: usize,
    /// Fraction of left observations with a right match.
    pub stereo_fraction: f64,
    /// Median over tracks (each once) of their length, frames.
    pub median_length_per_track: f64,
    /// Median over observations of the length of the observed track, frames
    /// (see the module docs: the figure for "median track length").
    pub median_length_per_observation: f64,
    /// Median length reached by the tracks alive in the last frame, frames.
    pub median_age_last_frame: f64,
    /// Survival over the configured horizon.
    pub survival: Survival,
    /// Spread grid `[columns, rows]`.
    pub grid: [usize; 2],
    /// Mean over frames of the fraction of grid cells holding a track.
    pub spread_mean: f64,
    /// Smallest such fraction in a frame.
    pub spread_min: f64,
}

/// Accumulates [`TrackStatistics`] frame by frame.
#[derive(Debug, Clone)]
pub struct TrackStatsCollector {
    cfg: TrackStatsConfig,
    width: usize,
    height: usize,
    frames: usize,
    tracks: HashMap<u64, TrackRecord>,
    counts: Vec<usize>,
    spread: Vec<f64>,
    left_observations: usize,
    right_observations: usize,
    cells: Vec<bool>,
}

impl TrackStatsCollector {
    /// A collector for left images of `width x height` pixels.
    ///
    /// # Errors
    /// If the grid has no cell, the horizon is zero or the image is empty.
    pub fn new(
        width: usize,
        height: usize,
        cfg: TrackStatsConfig,
    ) -> Result<Self, FrontEndEvalError> {
        if cfg.grid_cols == 0 || cfg.grid_rows == 0 || cfg.survival_frames == 0 {
            return Err(FrontEndEvalError::InvalidConfig(format!(
                "grid {}x{} and survival horizon {} must be positive",
                cfg.grid_cols, cfg.grid_rows, cfg.survival_frames
            )));
        }
        if width == 0 || height == 0 {
            return Err(FrontEndEvalError::InvalidConfig(format!(
                "image {width}x{height} is empty"
            )));
        }
        Ok(Self {
            cfg,
            width,
            height,
            frames: 0,
            tracks: HashMap::new(),
            counts: Vec::new(),
            spread: Vec::new(),
            left_observations: 0,
            right_observations: 0,
            cells: vec![false; cfg.grid_cols * cfg.grid_rows],
        })
    }

    /// Frames added so far.
    #[must_use]
    pub fn frames(&self) -> usize {
        self.frames
    }

    /// Adds the next frame's tracks. An id reported twice in one frame counts once.
    ///
    /// # Errors
    /// If a position is not finite (nothing of the frame is recorded then).
    pub fn add_frame(&mut self, tracks: &[TrackObservation]) -> Result<(), FrontEndEvalError> {
        let frame = self.frames;
        if let Some(bad) = tracks.iter().find(|t| {
            !(t.left.iter().all(|c| c.is_finite())
                && t.right.is_none_or(|r| r.iter().all(|c| c.is_finite())))
        }) {
            return Err(FrontEndEvalError::NonFinite { frame, id: bad.id });
        }
        self.cells.fill(false);
        let (cols, rows) = (self.cfg.grid_cols, self.cfg.grid_rows);
        let mut count = 0;
        for t in tracks {
            let record = self.tracks.entry(t.id).or_insert(TrackRecord {
                first: frame,
                last: frame,
                length: 0,
                survived: false,
            });
            if record.length > 0 && record.last == frame {
                continue; // a duplicate within this frame
            }
            record.last = frame;
            record.length += 1;
            if frame == record.first + self.cfg.survival_frames {
                record.survived = true;
            }
            count += 1;
            self.left_observations += 1;
            self.right_observations += usize::from(t.right.is_some());
            // Cell of the position; pixels span [-0.5, size - 0.5).
            let cell = |x: f64, size: usize, n: usize| {
                let c = ((x + 0.5) / size as f64 * n as f64).floor();
                (c.max(0.0) as usize).min(n - 1)
            };
            let cx = cell(t.left.x, self.width, cols);
            let cy = cell(t.left.y, self.height, rows);
            self.cells[cy * cols + cx] = true;
        }
        let occupied = self.cells.iter().filter(|&&c| c).count();
        self.spread.push(occupied as f64 / self.cells.len() as f64);
        self.counts.push(count);
        self.frames += 1;
        Ok(())
    }

    /// The statistics of the frames added so far.
    #[must_use]
    pub fn statistics(&self) -> TrackStatistics {
        let frames = self.frames;
        let horizon = self.cfg.survival_frames;
        let mut lengths: Vec<f64> = Vec::with_capacity(self.tracks.len());
        let mut weighted: Vec<(f64, usize)> = Vec::with_capacity(self.tracks.len());
        let mut last_ages: Vec<f64> = Vec::new();
        let (mut eligible, mut survived) = (0, 0);
        for r in self.tracks.values() {
            lengths.push(r.length as f64);
            weighted.push((r.length as f64, r.length));
            if frames > 0 && r.last + 1 == frames {
                last_ages.push(r.length as f64);
            }
            if frames > 0 && r.first + horizon < frames {
                eligible += 1;
                survived += usize::from(r.survived);
            }
        }
        sort(&mut lengths);
        sort(&mut last_ages);
        weighted.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mean = |v: &[usize]| {
            if v.is_empty() {
                f64::NAN
            } else {
                v.iter().sum::<usize>() as f64 / v.len() as f64
            }
        };
        TrackStatistics {
            frames,
            tracks_total: self.tracks.len(),
            tracks_per_frame_mean: mean(&self.counts),
            tracks_per_frame_min: self.counts.iter().copied().min().unwrap_or(0),
            tracks_per_frame_max: self.counts.iter().copied().max().unwrap_or(0),
            tracks_per_frame_min_after_first: self
                .counts
                .iter()
                .skip(1)
                .copied()
                .min()
                .unwrap_or(0),
            stereo_fraction: ratio(self.right_observations, self.left_observations),
            median_length_per_track: quantile(&lengths, 0.5),
            median_length_per_observation: weighted_quantile(&weighted, 0.5),
            median_age_last_frame: quantile(&last_ages, 0.5),
            survival: Survival {
                horizon_frames: horizon,
                eligible,
                survived,
                fraction: ratio(survived, eligible),
            },
            grid: [self.cfg.grid_cols, self.cfg.grid_rows],
            spread_mean: if self.spread.is_empty() {
                f64::NAN
            } else {
                self.spread.iter().sum::<f64>() / self.spread.len() as f64
            },
            spread_min: self
                .spread
                .iter()
                .copied()
                .reduce(f64::min)
                .unwrap_or(f64::NAN),
        }
    }
}

/// Summary of a set of pixel errors.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PixelErrorStats {
    /// Errors measured.
    pub count: usize,
    /// Pairs not measured: the true position is outside the image or occluded.
    pub skipped: usize,
    /// Median, px.
    pub median_px: f64,
    /// 90th percentile, px.
    pub p90_px: f64,
    /// Mean, px.
    pub mean_px: f64,
    /// Largest, px.
    pub max_px: f64,
    /// Fraction above 1 px (gross errors).
    pub over_1px: f64,
    /// Fraction above 3 px (outliers).
    pub over_3px: f64,
}

impl PixelErrorStats {
    /// The summary of `errors` (px; reordered), with `skipped` pairs not measured.
    #[must_use]
    pub fn from_errors(errors: &mut [f64], skipped: usize) -> Self {
        sort(errors);
        let n = errors.len();
        let over = |limit: f64| ratio(errors.iter().filter(|&&e| e > limit).count(), n);
        Self {
            count: n,
            skipped,
            median_px: quantile(errors, 0.5),
            p90_px: quantile(errors, 0.9),
            mean_px: if n == 0 {
                f64::NAN
            } else {
                errors.iter().sum::<f64>() / n as f64
            },
            max_px: errors.last().copied().unwrap_or(f64::NAN),
            over_1px: over(1.0),
            over_3px: over(3.0),
        }
    }
}

/// Accuracy of a tracker on a synthetic sequence.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FlowAccuracy {
    /// Temporal (left t-1 to left t) tracking error.
    pub temporal: PixelErrorStats,
    /// Stereo (left to right) matching error, Euclidean.
    pub stereo: PixelErrorStats,
    /// Horizontal component of the stereo error alone (disparity error).
    pub disparity: PixelErrorStats,
    /// Counts, lengths, survival and spread.
    pub tracks: TrackStatistics,
    /// Survival counting only the tracks whose surface point stays visible in
    /// the left image (inside it, not occluded) over the whole horizon: the
    /// tracker's own losses, without the points that leave the view.
    pub visible_survival: Survival,
}

/// A track followed for the visibility-aware survival.
#[derive(Debug, Clone, Copy)]
struct BirthRecord {
    first: usize,
    /// The surface point seen at birth; `None` when the ray hits nothing.
    point: Option<Vector3<f64>>,
    left_view: bool,
    done: bool,
}

/// Measures a tracker against the ground truth of a synthetic sequence.
///
/// ```no_run
/// # use datasets::synth::{SynthConfig, SyntheticSequence};
/// # use scout::frontend_eval::{FlowEvaluator, TrackObservation};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let seq = SyntheticSequence::generate(&SynthConfig::default())?;
/// let mut eval = FlowEvaluator::new(&seq)?;
/// for frame in 0..seq.frame_count() {
///     let tracks: Vec<TrackObservation> = Vec::new(); // the tracker's output
///     eval.add_frame(frame, &tracks)?;
/// }
/// println!("{}", eval.report());
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct FlowEvaluator<'a> {
    seq: &'a SyntheticSequence,
    stats: TrackStatsCollector,
    previous_frame: Option<usize>,
    /// Left positions of the previous frame's tracks.
    previous: HashMap<u64, Vector2<f64>>,
    current: HashMap<u64, Vector2<f64>>,
    temporal: Vec<f64>,
    temporal_skipped: usize,
    stereo: Vec<f64>,
    disparity: Vec<f64>,
    stereo_skipped: usize,
    births: HashMap<u64, BirthRecord>,
    visible_eligible: usize,
    visible_survived: usize,
}

impl<'a> FlowEvaluator<'a> {
    /// An evaluator with the default statistics settings.
    ///
    /// # Errors
    /// Never with the defaults (see [`Self::with_config`]).
    pub fn new(seq: &'a SyntheticSequence) -> Result<Self, FrontEndEvalError> {
        Self::with_config(seq, TrackStatsConfig::default())
    }

    /// An evaluator with the given statistics settings.
    ///
    /// # Errors
    /// If the settings are invalid (see [`TrackStatsCollector::new`]).
    pub fn with_config(
        seq: &'a SyntheticSequence,
        cfg: TrackStatsConfig,
    ) -> Result<Self, FrontEndEvalError> {
        let cam0 = &seq.calibration.cam0;
        Ok(Self {
            seq,
            stats: TrackStatsCollector::new(cam0.width, cam0.height, cfg)?,
            previous_frame: None,
            previous: HashMap::new(),
            current: HashMap::new(),
            temporal: Vec::new(),
            temporal_skipped: 0,
            stereo: Vec::new(),
            disparity: Vec::new(),
            stereo_skipped: 0,
            births: HashMap::new(),
            visible_eligible: 0,
            visible_survived: 0,
        })
    }

    /// Adds the tracks reported for synthetic frame `frame` (frames in increasing
    /// order; a gap makes the temporal errors span it).
    ///
    /// # Errors
    /// If the frame is out of range or not after the previous one, or a position
    /// is not finite.
    pub fn add_frame(
        &mut self,
        frame: usize,
        tracks: &[TrackObservation],
    ) -> Result<(), FrontEndEvalError> {
        let frames = self.seq.frame_count();
        if frame >= frames {
            return Err(FrontEndEvalError::FrameOutOfRange { frame, frames });
        }
        if let Some(previous) = self.previous_frame.filter(|&p| p >= frame) {
            return Err(FrontEndEvalError::FrameNotIncreasing { frame, previous });
        }
        self.stats.add_frame(tracks)?;
        self.current.clear();
        for t in tracks {
            if self.current.insert(t.id, t.left).is_some() {
                continue; // a duplicate within this frame counts once
            }
            if let (Some(previous_frame), Some(before)) =
                (self.previous_frame, self.previous.get(&t.id))
            {
                match self.seq.transfer(previous_frame, 0, before, frame, 0) {
                    Some(truth) => self.temporal.push((truth - t.left).norm()),
                    None => self.temporal_skipped += 1,
                }
            }
            if let Some(right) = t.right {
                match self.seq.transfer(frame, 0, &t.left, frame, 1) {
                    Some(truth) => {
                        self.stereo.push((truth - right).norm());
                        self.disparity.push((truth.x - right.x).abs());
                    }
                    None => self.stereo_skipped += 1,
                }
            }
        }
        self.follow_visibility(frame, tracks);
        std::mem::swap(&mut self.previous, &mut self.current);
        self.previous_frame = Some(frame);
        Ok(())
    }

    /// Records new tracks' surface points and, for the tracks within the
    /// horizon, whether their point is still visible in this frame.
    fn follow_visibility(&mut self, frame: usize, tracks: &[TrackObservation]) {
        let horizon = self.stats.cfg.survival_frames;
        for t in tracks {
            self.births.entry(t.id).or_insert_with(|| BirthRecord {
                first: frame,
                point: self.seq.world_point(frame, 0, &t.left),
                left_view: false,
                done: false,
            });
        }
        for (id, r) in &mut self.births {
            if r.done || frame <= r.first {
                continue;
            }
            let visible = r
                .point
                .is_some_and(|p| self.seq.visible_projection(&p, frame, 0).is_some());
            r.left_view |= !visible;
            if frame >= r.first + horizon {
                r.done = true;
                if !r.left_view {
                    self.visible_eligible += 1;
                    self.visible_survived += usize::from(self.current.contains_key(id));
                }
            }
        }
    }

    /// The report over the frames added so far.
    #[must_use]
    pub fn report(&self) -> FlowAccuracy {
        FlowAccuracy {
            temporal: PixelErrorStats::from_errors(
                &mut self.temporal.clone(),
                self.temporal_skipped,
            ),
            stereo: PixelErrorStats::from_errors(&mut self.stereo.clone(), self.stereo_skipped),
            disparity: PixelErrorStats::from_errors(
                &mut self.disparity.clone(),
                self.stereo_skipped,
            ),
            tracks: self.stats.statistics(),
            visible_survival: Survival {
                horizon_frames: self.stats.cfg.survival_frames,
                eligible: self.visible_eligible,
                survived: self.visible_survived,
                fraction: ratio(self.visible_survived, self.visible_eligible),
            },
        }
    }
}

fn sort(v: &mut [f64]) {
    v.sort_by(f64::total_cmp);
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        f64::NAN
    } else {
        a as f64 / b as f64
    }
}

/// Quantile `q` of sorted values, interpolating linearly between order
/// statistics; NaN when empty.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let n = sorted.len();
    if n == 0 {
        return f64::NAN;
    }
    let x = q.clamp(0.0, 1.0) * (n - 1) as f64;
    let (i, f) = (x.floor() as usize, x - x.floor());
    let j = (i + 1).min(n - 1);
    sorted[i] + f * (sorted[j] - sorted[i])
}

/// [`quantile`] of the multiset holding each value `weight` times (values sorted).
fn weighted_quantile(sorted: &[(f64, usize)], q: f64) -> f64 {
    let n: usize = sorted.iter().map(|&(_, w)| w).sum();
    if n == 0 {
        return f64::NAN;
    }
    let x = q.clamp(0.0, 1.0) * (n - 1) as f64;
    let (i, f) = (x.floor() as usize, x - x.floor());
    let j = (i + 1).min(n - 1);
    // The values at ranks i and j of the expanded multiset.
    let at = |rank: usize| {
        let mut seen = 0;
        for &(v, w) in sorted {
            seen += w;
            if rank < seen {
                return v;
            }
        }
        f64::NAN
    };
    let (a, b) = (at(i), at(j));
    a + f * (b - a)
}

impl fmt::Display for PixelErrorStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "median {:.3} px, p90 {:.3}, mean {:.3}, max {:.2}, >1 px {:.2} %, >3 px {:.2} % \
             ({} measured, {} skipped)",
            self.median_px,
            self.p90_px,
            self.mean_px,
            self.max_px,
            100.0 * self.over_1px,
            100.0 * self.over_3px,
            self.count,
            self.skipped
        )
    }
}

impl fmt::Display for TrackStatistics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "  tracks/frame  mean {:.1}, min {} (after the first frame {}), max {}; \
             {} tracks in {} frames; stereo matched {:.1} %",
            self.tracks_per_frame_mean,
            self.tracks_per_frame_min,
            self.tracks_per_frame_min_after_first,
            self.tracks_per_frame_max,
            self.tracks_total,
            self.frames,
            100.0 * self.stereo_fraction
        )?;
        writeln!(
            f,
            "  track length  median per observation {:.1} frames, per track {:.1}, \
             age in the last frame {:.1}",
            self.median_length_per_observation,
            self.median_length_per_track,
            self.median_age_last_frame
        )?;
        write!(
            f,
            "  survival      {:.1} % over {} frames ({} of {}); spread ({}x{} grid) mean {:.1} %, \
             min {:.1} %",
            100.0 * self.survival.fraction,
            self.survival.horizon_frames,
            self.survival.survived,
            self.survival.eligible,
            self.grid[0],
            self.grid[1],
            100.0 * self.spread_mean,
            100.0 * self.spread_min
        )
    }
}

impl fmt::Display for FlowAccuracy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "  temporal      {}", self.temporal)?;
        writeln!(f, "  stereo        {}", self.stereo)?;
        writeln!(f, "  disparity     {}", self.disparity)?;
        writeln!(f, "{}", self.tracks)?;
        write!(
            f,
            "  survival of the tracks whose point stays in view: {:.1} % over {} frames ({} of {})",
            100.0 * self.visible_survival.fraction,
            self.visible_survival.horizon_frames,
            self.visible_survival.survived,
            self.visible_survival.eligible
        )
    }
}

#[cfg(test)]
mod tests {
    use datasets::synth::{Difficulty, SynthConfig};

    use super::*;

    fn sequence() -> SyntheticSequence {
        let cfg = SynthConfig {
            seed: 11,
            duration_s: 3.0,
            difficulty: Difficulty::Medium,
            ..SynthConfig::default()
        };
        SyntheticSequence::generate(&cfg).unwrap_or_else(|e| panic!("{e}"))
    }

    /// A "tracker" that knows the truth: starts a track on a grid of left
    /// positions at `frames.start`, moves each to its true position in every
    /// following frame (dropping it when hidden or out of view), reports it with
    /// `offset(frame)` added, and matches that reported position to its true right
    /// position plus `right_offset`.
    fn ground_truth_tracks(
        seq: &SyntheticSequence,
        frames: std::ops::Range<usize>,
        offset: impl Fn(usize) -> Vector2<f64>,
        right_offset: Vector2<f64>,
    ) -> Vec<(usize, Vec<TrackObservation>)> {
        let mut truth: Vec<(u64, Vector2<f64>)> = Vec::new();
        let mut id = 0;
        for v in (20..460).step_by(40) {
            for u in (20..730).step_by(40) {
                truth.push((id, Vector2::new(u as f64 + 0.3, v as f64 + 0.6)));
                id += 1;
            }
        }
        let mut out = Vec::new();
        let mut previous = frames.start;
        for frame in frames {
            if frame != previous {
                truth = truth
                    .into_iter()
                    .filter_map(|(id, uv)| Some((id, seq.transfer(previous, 0, &uv, frame, 0)?)))
                    .collect();
            }
            let tracks = truth
                .iter()
                .map(|&(id, uv)| {
                    let left = uv + offset(frame);
                    TrackObservation {
                        id,
                        left,
                        right: seq
                            .transfer(frame, 0, &left, frame, 1)
                            .map(|r| r + right_offset),
                    }
                })
                .collect();
            out.push((frame, tracks));
            previous = frame;
        }
        out
    }

    fn evaluate(
        seq: &SyntheticSequence,
        frames: &[(usize, Vec<TrackObservation>)],
    ) -> FlowAccuracy {
        let mut eval = FlowEvaluator::new(seq).unwrap_or_else(|e| panic!("{e}"));
        for (frame, tracks) in frames {
            eval.add_frame(*frame, tracks)
                .unwrap_or_else(|e| panic!("{e}"));
        }
        eval.report()
    }

    #[test]
    fn a_perfect_tracker_scores_zero_error() {
        let seq = sequence();
        // Frames 20..60: hover until frame 30, then flight.
        let frames = ground_truth_tracks(&seq, 20..60, |_| Vector2::zeros(), Vector2::zeros());
        let report = evaluate(&seq, &frames);
        println!("{report}");
        assert!(report.temporal.count > 3000, "{:?}", report.temporal);
        assert!(report.temporal.max_px < 1e-6, "{:?}", report.temporal);
        assert!(report.stereo.count > 3000, "{:?}", report.stereo);
        assert!(report.stereo.max_px < 1e-6, "{:?}", report.stereo);
        assert_eq!(report.temporal.over_1px, 0.0);
        let t = &report.tracks;
        assert_eq!(t.frames, 40);
        assert_eq!(t.tracks_total, 11 * 18);
        assert_eq!(t.tracks_per_frame_max, 11 * 18);
        // The truth moves out of view after the hover; still, most tracks live.
        assert!(t.survival.fraction > 0.8, "{:?}", t.survival);
        assert!(t.spread_mean > 0.8 && t.spread_min > 0.5, "{t:?}");
    }

    #[test]
    fn while_hovering_every_track_survives_with_full_length() {
        let seq = sequence();
        let frames = ground_truth_tracks(&seq, 0..25, |_| Vector2::zeros(), Vector2::zeros());
        let report = evaluate(&seq, &frames);
        let t = &report.tracks;
        let n = 11 * 18;
        assert_eq!(t.survival.eligible, n);
        assert_eq!(t.survival.survived, n);
        assert_eq!(t.survival.fraction, 1.0);
        assert_eq!(t.median_length_per_track, 25.0);
        assert_eq!(t.median_length_per_observation, 25.0);
        assert_eq!(t.median_age_last_frame, 25.0);
        assert_eq!(t.tracks_per_frame_min, n);
        assert_eq!(t.spread_mean, 1.0);
        assert!((t.stereo_fraction - 1.0).abs() < 0.05, "{t:?}");
    }

    #[test]
    fn known_offsets_give_known_errors() {
        let seq = sequence();
        // In the hover the true motion is zero, so an offset on odd frames
        // appears in every step: +o going to an odd frame, -o coming back.
        let o = Vector2::new(1.2, 1.6); // 2 px
        let offset = |frame: usize| if frame % 2 == 1 { o } else { Vector2::zeros() };
        let right = Vector2::new(0.3, -0.4); // 0.5 px, disparity error 0.3 px
        let frames = ground_truth_tracks(&seq, 0..25, offset, right);
        let report = evaluate(&seq, &frames);
        println!("{report}");
        let close = |a: f64, b: f64| (a - b).abs() < 1e-6;
        let e = &report.temporal;
        assert!(e.count == 24 * 11 * 18, "{e:?}");
        assert!(close(e.median_px, 2.0) && close(e.max_px, 2.0), "{e:?}");
        assert!(e.over_1px == 1.0 && e.over_3px == 0.0, "{e:?}");
        for (e, expected) in [(&report.stereo, 0.5), (&report.disparity, 0.3)] {
            assert!(e.count > 3000, "{e:?}");
            assert!(
                close(e.median_px, expected) && close(e.max_px, expected),
                "{e:?}"
            );
            assert!(e.over_1px == 0.0, "{e:?}");
        }
    }

    #[test]
    fn statistics_without_ground_truth() {
        let obs = |id: u64, u: f64| TrackObservation {
            id,
            left: Vector2::new(u, 10.0),
            right: None,
        };
        let cfg = TrackStatsConfig {
            grid_cols: 4,
            grid_rows: 1,
            survival_frames: 2,
        };
        let mut stats = TrackStatsCollector::new(400, 100, cfg).unwrap_or_else(|e| panic!("{e}"));
        // Track 1 lives through all 5 frames; track 2 frames 0-1; track 3 frames
        // 1-4; track 4 only frame 4; track 1 is reported twice in frame 0.
        let frames: [&[TrackObservation]; 5] = [
            &[obs(1, 0.0), obs(2, 150.0), obs(1, 0.0)],
            &[obs(1, 0.0), obs(2, 150.0), obs(3, 399.0)],
            &[obs(1, 0.0), obs(3, 399.0)],
            &[obs(1, 0.0), obs(3, 399.0)],
            &[obs(1, 0.0), obs(3, 399.0), obs(4, 250.0)],
        ];
        for f in frames {
            stats.add_frame(f).unwrap_or_else(|e| panic!("{e}"));
        }
        let s = stats.statistics();
        assert_eq!(s.tracks_total, 4);
        assert_eq!(s.tracks_per_frame_min, 2);
        assert_eq!(s.tracks_per_frame_max, 3);
        assert!((s.tracks_per_frame_mean - 12.0 / 5.0).abs() < 1e-12);
        // Lengths 5, 2, 4, 1: per track median 3; per observation the multiset
        // {5 x5, 2 x2, 4 x4, 1 x1}, 12 values, median of ranks 5 and 6 = 4.
        assert_eq!(s.median_length_per_track, 3.0);
        assert_eq!(s.median_length_per_observation, 4.0);
        // Alive in the last frame: lengths 5, 4, 1.
        assert_eq!(s.median_age_last_frame, 4.0);
        // Eligible (born by frame 2): 1, 2, 3; alive two frames later: 1, 3.
        assert_eq!((s.survival.eligible, s.survival.survived), (3, 2));
        // Cells: frame 0 {0, 1}, frame 1 {0, 1, 3}, frames 2-3 {0, 3}, frame 4 {0, 2, 3}.
        assert!((s.spread_mean - (2.0 + 3.0 + 2.0 + 2.0 + 3.0) / 20.0).abs() < 1e-12);
        assert_eq!(s.spread_min, 0.5);
        // A NaN is refused.
        assert!(stats.add_frame(&[obs(9, f64::NAN)]).is_err());
        assert!(
            TrackStatsCollector::new(
                10,
                10,
                TrackStatsConfig {
                    grid_cols: 0,
                    ..cfg
                }
            )
            .is_err()
        );
    }

    #[test]
    fn frames_must_be_in_range_and_increasing() {
        let seq = sequence();
        let mut eval = FlowEvaluator::new(&seq).unwrap_or_else(|e| panic!("{e}"));
        assert!(eval.add_frame(5, &[]).is_ok());
        assert!(eval.add_frame(5, &[]).is_err());
        assert!(eval.add_frame(seq.frame_count(), &[]).is_err());
        assert!(eval.add_frame(6, &[]).is_ok());
    }
}
