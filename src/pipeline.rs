//! The streaming VIO pipeline: a recorded sequence's IMU samples and stereo
//! pairs through the front end and the back end, one estimate per frame.
//!
//! Input: an EuRoC/ASL sequence ([`EurocDataset`]). For stereo pair `i` at
//! `t_i` (ns) the source hands over the IMU samples since the previous pair, up
//! to and including the first sample at or after `t_i` (the back end needs the
//! IMU up to the frame's time; with the first pair come the samples from the
//! last one at or before [`StreamConfig::imu_lead_s`] ahead of it), and the
//! decoded pair. The front end gets the gyro rotation since the previous frame
//! it processed ([`vio::imu::integrate_gyro`], zero bias: the back end's bias
//! is not fed back, so the front end's input does not depend on thread
//! timing). The back end takes the IMU samples, then the frame's tracks. Output: one
//! [`PipelineRecord`] per processed frame: the back end's [`Estimate`]
//! (`world_from_body`, body = IMU frame, in its gravity-aligned world), the
//! frame's feature counts and a digest of its tracks, and the wall time of each
//! stage and the latency (ns).
//!
//! Two ways to run the same stages:
//! - [`run_pipeline`]: three threads, source -> front end -> back end, joined
//!   by bounded channels ([`StreamConfig::frame_queue`],
//!   [`StreamConfig::tracks_queue`]); the calling thread collects the records.
//!   Image, IMU and track buffers travel back upstream through return
//!   channels (pools of `queue + 2` slots), so the pipeline allocates nothing
//!   per frame once they have grown (the PNG decoder's own state is the
//!   reader's). In [`PipelineMode::Deterministic`] every send blocks
//!   (backpressure, no frame is lost) and the output is bit-identical to
//!   [`run_sequential`]'s. In [`PipelineMode::RealTime`] the source releases
//!   each pair at its sensor time divided by the speed, by the wall clock; a
//!   pair that finds the front end's queue full is dropped (the newest frame is
//!   dropped, the queued ones are kept) and its IMU samples travel with the next
//!   pair, so the back end still sees every IMU sample.
//! - [`run_sequential`]: the same steps in a plain loop on the calling thread,
//!   the reference the threaded pipeline is tested against.
//!
//! `cargo run --release --example pipeline_overhead -- DIR` times the two
//! against each other (figures in `docs/architecture.md`, "Streaming
//! pipeline").
//!
//! An error in any stage stops the pipeline: the other threads see their
//! channels close, finish, and are joined; the error of the earliest frame is
//! returned (a panicking thread becomes [`PipelineError::Panicked`]).

use std::any::Any;
use std::ops::Range;
use std::time::{Duration, Instant};

use cost::StageCounts;
use crossbeam_channel::{Receiver, Sender, TrySendError, bounded};
use datasets::euroc::EurocDataset;
use datasets::{DatasetError, GrayImage, ImuSample, StereoFrame};
use nalgebra::{UnitQuaternion, Vector3};
use serde::{Deserialize, Serialize};
use vio::VioError;
use vio::backend::{BackEnd, Estimate, TrackingStatus};
use vio::frontend::{Feature, FrameTracks, FrontEnd};

use crate::config::PipelineConfig;
use crate::eval::{EvalError, Trajectory};

/// Largest queue capacity accepted, frames (a stereo pair of EuRoC is 0.7 MB).
const MAX_QUEUE: usize = 64;
/// Largest IMU lead accepted, s.
const MAX_IMU_LEAD_S: f64 = 60.0;
/// Records waiting for the calling thread; it only stores them.
const OUTPUT_QUEUE: usize = 16;

/// The `[pipeline]` section of the configuration: how the stages are wired.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StreamConfig {
    /// Stereo pairs that may wait between the source and the front end,
    /// frames (1 to 64). In real time a pair arriving when this queue is full
    /// is dropped, so this bounds the latency the front end can build up.
    pub frame_queue: usize,
    /// Frames' tracks that may wait between the front end and the back end,
    /// frames (1 to 64). Never dropped: a full queue holds the front end back.
    pub tracks_queue: usize,
    /// IMU samples from this long before the first stereo pair come with it
    /// (static initialization), s (0 to 60).
    pub imu_lead_s: f64,
    /// Give each record its [`FrameView`] (the features and the window's
    /// landmarks) for a viewer; set by `--rrd`, `--connect` and `--spawn`,
    /// not by the file.
    #[serde(skip)]
    pub views: bool,
}

impl Default for StreamConfig {
    fn default() -> Self {
        Self {
            frame_queue: 2,
            tracks_queue: 4,
            imu_lead_s: 1.0,
            views: false,
        }
    }
}

impl StreamConfig {
    /// Checks every field.
    ///
    /// # Errors
    /// [`PipelineError::Config`] naming the field.
    pub fn validate(&self) -> Result<(), PipelineError> {
        for (name, value) in [
            ("frame_queue", self.frame_queue),
            ("tracks_queue", self.tracks_queue),
        ] {
            if !(1..=MAX_QUEUE).contains(&value) {
                return Err(PipelineError::Config(format!(
                    "pipeline.{name} must be 1 to {MAX_QUEUE} frames, got {value}"
                )));
            }
        }
        if !(self.imu_lead_s.is_finite() && (0.0..=MAX_IMU_LEAD_S).contains(&self.imu_lead_s)) {
            return Err(PipelineError::Config(format!(
                "pipeline.imu_lead_s must be 0 to {MAX_IMU_LEAD_S} s, got {}",
                self.imu_lead_s
            )));
        }
        Ok(())
    }
}

/// How the threaded pipeline treats time.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PipelineMode {
    /// Replay: every frame is processed, sends block; the output does not
    /// depend on thread timing.
    Deterministic,
    /// Live-like: pairs are released at `sensor time / speed` by the wall clock
    /// and dropped when the front end's queue is full.
    RealTime {
        /// Playback speed (1 is the sensor's rate, 2 twice as fast); finite and
        /// positive.
        speed: f64,
    },
}

/// Wall times of one frame, ns (this machine, this build; not deterministic).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RecordTiming {
    /// Front end: gyro prior and `FrontEnd::process`.
    pub frontend_ns: u64,
    /// Back end: pushing the frame's IMU samples and `BackEnd::process`.
    pub backend_ns: u64,
    /// From the source making the pair available (decoded and, in real time,
    /// due) to the estimate, queueing included. In deterministic mode the
    /// source reads ahead until the front end's queue is full, so this is
    /// mostly the wait in that queue.
    pub latency_ns: u64,
}

/// The pipeline's output for one frame.
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineRecord {
    /// Index of the stereo pair in `EurocDataset::stereo_entries`.
    pub index: usize,
    /// Time of the pair, ns.
    pub t_ns: i64,
    /// Features the front end output.
    pub features: u32,
    /// Of which with a stereo match.
    pub stereo: u32,
    /// FNV-1a digest of the front end's tracks (ids, ages, positions and
    /// bearings, bit for bit; not the timing), to check determinism.
    pub tracks_digest: u64,
    /// The back end's estimate (its `time_ns` is timing, not output).
    pub estimate: Estimate,
    /// Wall times.
    pub timing: RecordTiming,
    /// What a viewer shows of the frame, when [`StreamConfig::views`] is on;
    /// `on_record` sees it, the run's records do not keep it.
    pub view: Option<Box<FrameView>>,
}

/// What a viewer shows of a frame beyond the record's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct FrameView {
    /// The front end's features.
    pub features: Vec<vio::frontend::Feature>,
    /// The back end's window landmarks after the frame, world (m), with
    /// their ids.
    pub landmarks: Vec<(u64, nalgebra::Point3<f64>)>,
}

impl PipelineRecord {
    /// Whether two records hold the same output bit for bit: everything but
    /// the wall times ([`RecordTiming`] and the estimate's `time_ns`). For
    /// tests and checks (it formats both estimates).
    #[must_use]
    pub fn same_output(&self, other: &Self) -> bool {
        self.index == other.index
            && self.t_ns == other.t_ns
            && self.features == other.features
            && self.stereo == other.stereo
            && self.tracks_digest == other.tracks_digest
            && estimate_output(&self.estimate) == estimate_output(&other.estimate)
    }
}

/// The estimate's output as text, its wall time left out: `Debug` writes each
/// float in its shortest round-trip form, so equal text means equal bits (NaN
/// payloads aside), and every field counts, including any the back end adds.
fn estimate_output(e: &Estimate) -> String {
    format!(
        "{:?}",
        Estimate {
            time_ns: 0,
            ..e.clone()
        }
    )
}

/// The result of a run.
#[derive(Debug, Clone)]
pub struct PipelineRun {
    /// How it ran (`Deterministic` for [`run_sequential`]).
    pub mode: PipelineMode,
    /// Stereo pairs in the sequence.
    pub pairs: usize,
    /// One record per processed frame, in time order.
    pub records: Vec<PipelineRecord>,
    /// Time stamps of the pairs dropped in real time, ns.
    pub dropped_t_ns: Vec<i64>,
    /// IMU samples pushed to the back end.
    pub imu_samples: usize,
    /// Wall time of the whole run, ns.
    pub wall_ns: u64,
    /// The front end's counted work, by kernel and frame by frame.
    pub frontend_cost: StageCounts,
    /// The back end's counted work, by kernel and frame by frame.
    pub backend_cost: StageCounts,
}

impl PipelineRun {
    /// Pairs dropped.
    #[must_use]
    pub fn drops(&self) -> usize {
        self.dropped_t_ns.len()
    }

    /// Whether two runs processed the same frames with the same output bit for
    /// bit (timing excluded, see [`PipelineRecord::same_output`]).
    #[must_use]
    pub fn same_output(&self, other: &Self) -> bool {
        self.pairs == other.pairs
            && self.dropped_t_ns == other.dropped_t_ns
            && self.imu_samples == other.imu_samples
            && self.records.len() == other.records.len()
            && self
                .records
                .iter()
                .zip(&other.records)
                .all(|(a, b)| a.same_output(b))
    }

    /// The poses of the frames whose status is `Tracking`, as a trajectory
    /// (`world_from_body`, body = IMU frame).
    ///
    /// # Errors
    /// [`EvalError::InvalidTrajectory`] when a pose is not finite.
    pub fn tracking_trajectory(&self) -> Result<Trajectory, EvalError> {
        let tracking = || {
            self.records
                .iter()
                .filter(|r| r.estimate.status == TrackingStatus::Tracking)
        };
        Trajectory::new(
            tracking().map(|r| r.t_ns).collect(),
            tracking().map(|r| r.estimate.world_from_body).collect(),
        )
    }
}

/// What can stop the pipeline.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// A `[pipeline]` setting or the mode is out of range.
    #[error("invalid pipeline configuration: {0}")]
    Config(String),
    /// A stage refused its configuration or the calibration.
    #[error("setting up the {stage}: {error}")]
    Setup {
        /// `front end` or `back end`.
        stage: &'static str,
        /// Why.
        error: VioError,
    },
    /// A stereo pair could not be read (the message names the csv file and
    /// line of the image).
    #[error(transparent)]
    Dataset(#[from] DatasetError),
    /// The front end refused a frame.
    #[error("front end, frame at t = {t_ns} ns: {error}")]
    FrontEnd {
        /// Time of the frame, ns.
        t_ns: i64,
        /// Why.
        error: VioError,
    },
    /// The back end refused an IMU sample or a frame.
    #[error("back end, input at t = {t_ns} ns: {error}")]
    BackEnd {
        /// Time of the sample or frame, ns.
        t_ns: i64,
        /// Why.
        error: VioError,
    },
    /// A stage's thread could not be started.
    #[error("starting the {stage} thread: {message}")]
    Spawn {
        /// The stage.
        stage: &'static str,
        /// The operating system's reason.
        message: String,
    },
    /// A stage's thread panicked (a bug); the others were stopped and joined.
    #[error("the {stage} thread panicked: {message}")]
    Panicked {
        /// The stage.
        stage: &'static str,
        /// The panic message.
        message: String,
    },
}

/// For each stereo pair, the range of `imu` that goes with it (see the module
/// docs): consecutive, non-overlapping, each sample in at most one range.
/// `frame_t_ns` must be increasing, `imu` sorted by time.
#[must_use]
pub fn imu_batches(imu: &[ImuSample], frame_t_ns: &[i64], lead_ns: i64) -> Vec<Range<usize>> {
    let mut start = frame_t_ns.first().map_or(imu.len(), |&t0| {
        let from = t0.saturating_sub(lead_ns);
        imu.partition_point(|s| s.t_ns <= from).saturating_sub(1)
    });
    frame_t_ns
        .iter()
        .map(|&t| {
            let end = (imu.partition_point(|s| s.t_ns < t) + 1)
                .min(imu.len())
                .max(start);
            let range = start..end;
            start = end;
            range
        })
        .collect()
}

/// The IMU samples the front end needs for its gyro prior: from the last one at
/// or before the previous frame on.
#[derive(Debug, Default)]
struct GyroWindow {
    samples: Vec<ImuSample>,
    prev_t_ns: Option<i64>,
}

impl GyroWindow {
    fn extend(&mut self, imu: &[ImuSample]) {
        self.samples.extend_from_slice(imu);
    }

    /// `body_prev_from_body` since the previous frame, raw gyro (zero bias).
    fn prior(&self, t_ns: i64) -> Option<UnitQuaternion<f64>> {
        self.prev_t_ns
            .and_then(|t0| vio::imu::integrate_gyro(&self.samples, t0, t_ns, &Vector3::zeros()))
    }

    /// The frame at `t_ns` was processed: keep only what the next prior needs.
    fn advance(&mut self, t_ns: i64) {
        self.prev_t_ns = Some(t_ns);
        let keep_from = self
            .samples
            .partition_point(|s| s.t_ns <= t_ns)
            .saturating_sub(1);
        self.samples.drain(..keep_from);
    }
}

/// The front end with its gyro prior.
#[derive(Debug)]
struct FrontEndStage {
    frontend: FrontEnd,
    gyro: GyroWindow,
    /// Counted work over the run.
    cost: StageCounts,
}

impl FrontEndStage {
    fn new(config: &PipelineConfig, ds: &EurocDataset) -> Result<Self, PipelineError> {
        let frontend =
            FrontEnd::new(config.frontend.clone(), ds.calibration()).map_err(|error| {
                PipelineError::Setup {
                    stage: "front end",
                    error,
                }
            })?;
        Ok(Self {
            frontend,
            gyro: GyroWindow::default(),
            cost: StageCounts::new(),
        })
    }

    /// Processes one pair with the IMU samples that came with it; returns the
    /// tracks and the wall time, ns.
    fn process(
        &mut self,
        frame: &StereoFrame,
        imu: &[ImuSample],
    ) -> Result<(&FrameTracks, u64), PipelineError> {
        let start = Instant::now();
        self.gyro.extend(imu);
        let prior = self.gyro.prior(frame.t_ns);
        self.gyro.advance(frame.t_ns);
        self.frontend
            .process(frame, prior.as_ref())
            .map_err(|error| PipelineError::FrontEnd {
                t_ns: frame.t_ns,
                error,
            })?;
        let ns = elapsed_ns(start);
        self.cost.record_run(frame.t_ns, &[self.frontend.cost()]);
        Ok((self.frontend.last(), ns))
    }
}

/// The back end and the count of IMU samples it was given.
#[derive(Debug)]
struct BackEndStage {
    backend: BackEnd,
    imu_samples: usize,
    /// Counted work over the run.
    cost: StageCounts,
    /// Whether records carry a [`FrameView`].
    views: bool,
}

impl BackEndStage {
    fn new(config: &PipelineConfig, ds: &EurocDataset) -> Result<Self, PipelineError> {
        let backend = BackEnd::new(config.backend.clone(), ds.calibration()).map_err(|error| {
            PipelineError::Setup {
                stage: "back end",
                error,
            }
        })?;
        Ok(Self {
            backend,
            imu_samples: 0,
            cost: StageCounts::new(),
            views: config.pipeline.views,
        })
    }

    /// Pushes `imu`, then processes `tracks` when there are any (an IMU-only
    /// step ends a real-time run whose last pair was dropped); returns the
    /// estimate and the wall time, ns.
    fn step(
        &mut self,
        imu: &[ImuSample],
        tracks: Option<&FrameTracks>,
    ) -> Result<Option<(Estimate, u64)>, PipelineError> {
        let start = Instant::now();
        for sample in imu {
            self.backend
                .push_imu(sample)
                .map_err(|error| PipelineError::BackEnd {
                    t_ns: sample.t_ns,
                    error,
                })?;
        }
        self.imu_samples += imu.len();
        let Some(tracks) = tracks else {
            return Ok(None);
        };
        let estimate = self
            .backend
            .process(tracks)
            .map_err(|error| PipelineError::BackEnd {
                t_ns: tracks.t_ns,
                error,
            })?
            .clone();
        self.cost.record_run(tracks.t_ns, &[self.backend.cost()]);
        Ok(Some((estimate, elapsed_ns(start))))
    }

    /// The frame's view for a viewer, when views are on.
    fn view(&self, tracks: &FrameTracks) -> Option<Box<FrameView>> {
        self.views.then(|| {
            let mut landmarks = Vec::new();
            self.backend.landmarks_world(&mut landmarks);
            Box::new(FrameView {
                features: tracks.features.clone(),
                landmarks,
            })
        })
    }
}

fn elapsed_ns(start: Instant) -> u64 {
    u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// 64-bit FNV-1a.
struct Fnv(u64);

impl Fnv {
    fn new() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }

    fn add(&mut self, value: u64) {
        for byte in value.to_le_bytes() {
            self.0 ^= u64::from(byte);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

/// Digest of everything the front end output for a frame but its timing.
fn tracks_digest(tracks: &FrameTracks) -> u64 {
    let mut h = Fnv::new();
    h.add(tracks.t_ns as u64);
    h.add(tracks.frame_index);
    h.add(tracks.features.len() as u64);
    for f in &tracks.features {
        let Feature {
            id,
            age,
            left,
            right,
            left_bearing,
            right_bearing,
        } = f;
        h.add(*id);
        h.add(u64::from(*age));
        left.iter().for_each(|v| h.add(v.to_bits()));
        left_bearing.iter().for_each(|v| h.add(v.to_bits()));
        h.add(u64::from(right.is_some()));
        right.iter().flatten().for_each(|v| h.add(v.to_bits()));
        h.add(u64::from(right_bearing.is_some()));
        right_bearing
            .iter()
            .flatten()
            .for_each(|v| h.add(v.to_bits()));
    }
    h.0
}

fn make_record(
    index: usize,
    tracks: &FrameTracks,
    estimate: Estimate,
    (frontend_ns, backend_ns): (u64, u64),
    available: Instant,
    view: Option<Box<FrameView>>,
) -> PipelineRecord {
    PipelineRecord {
        index,
        t_ns: tracks.t_ns,
        features: u32::try_from(tracks.features.len()).unwrap_or(u32::MAX),
        stereo: tracks.stats.stereo,
        tracks_digest: tracks_digest(tracks),
        estimate,
        timing: RecordTiming {
            frontend_ns,
            backend_ns,
            latency_ns: elapsed_ns(available),
        },
        view,
    }
}

/// Copies `src` into `dst`, reusing `dst`'s feature buffer.
fn copy_tracks(dst: &mut FrameTracks, src: &FrameTracks) {
    let FrameTracks {
        t_ns,
        frame_index,
        features,
        stats,
        timing,
    } = src;
    dst.t_ns = *t_ns;
    dst.frame_index = *frame_index;
    dst.features.clear();
    dst.features.extend_from_slice(features);
    dst.stats = *stats;
    dst.timing = *timing;
}

fn lead_ns(config: &PipelineConfig) -> i64 {
    (config.pipeline.imu_lead_s * 1e9).round() as i64
}

fn empty_frame(ds: &EurocDataset) -> StereoFrame {
    let rig = ds.calibration();
    StereoFrame {
        t_ns: 0,
        left: GrayImage::new(rig.cam0.width, rig.cam0.height),
        right: GrayImage::new(rig.cam1.width, rig.cam1.height),
    }
}

/// Runs the stages in a plain loop on the calling thread: for each pair, read
/// it, run the front end, push the IMU samples and run the back end.
/// `on_record` sees each record as it is made.
///
/// # Errors
/// As [`run_pipeline`].
pub fn run_sequential(
    ds: &EurocDataset,
    config: &PipelineConfig,
    mut on_record: impl FnMut(&PipelineRecord),
) -> Result<PipelineRun, PipelineError> {
    config.pipeline.validate()?;
    let start = Instant::now();
    let entries = ds.stereo_entries();
    let frame_t: Vec<i64> = entries.iter().map(|e| e.t_ns).collect();
    let batches = imu_batches(ds.imu(), &frame_t, lead_ns(config));
    let mut frontend = FrontEndStage::new(config, ds)?;
    let mut backend = BackEndStage::new(config, ds)?;
    let mut frame = empty_frame(ds);
    let mut records = Vec::with_capacity(entries.len());
    for (index, batch) in batches.iter().enumerate() {
        ds.load_stereo_into(index, &mut frame)?;
        let available = Instant::now();
        let imu = &ds.imu()[batch.clone()];
        let (tracks, frontend_ns) = frontend.process(&frame, imu)?;
        if let Some((estimate, backend_ns)) = backend.step(imu, Some(tracks))? {
            let view = backend.view(tracks);
            let mut record = make_record(
                index,
                tracks,
                estimate,
                (frontend_ns, backend_ns),
                available,
                view,
            );
            on_record(&record);
            record.view = None;
            records.push(record);
        }
    }
    Ok(PipelineRun {
        mode: PipelineMode::Deterministic,
        pairs: entries.len(),
        records,
        dropped_t_ns: Vec::new(),
        imu_samples: backend.imu_samples,
        wall_ns: elapsed_ns(start),
        frontend_cost: frontend.cost,
        backend_cost: backend.cost,
    })
}

/// A stereo pair and its IMU samples, source -> front end; the buffers come
/// back through the pool.
#[derive(Debug)]
struct FrameSlot {
    index: usize,
    frame: StereoFrame,
    imu: Vec<ImuSample>,
    /// False for the IMU-only message that ends a run whose last pair was
    /// dropped.
    has_frame: bool,
    available: Instant,
}

/// A frame's tracks and IMU samples, front end -> back end; the buffers come
/// back through the pool.
#[derive(Debug)]
struct TracksSlot {
    index: usize,
    tracks: FrameTracks,
    imu: Vec<ImuSample>,
    has_tracks: bool,
    available: Instant,
    frontend_ns: u64,
}

/// Runs the stages on three threads joined by bounded channels (see the module
/// docs). `on_record` runs on the calling thread, once per processed frame, in
/// time order.
///
/// # Errors
/// [`PipelineError::Config`] for a bad `[pipeline]` section or speed,
/// [`PipelineError::Setup`] when a stage refuses its configuration or the
/// calibration, and the first error (by frame) any stage met: a pair that
/// cannot be read ([`PipelineError::Dataset`], naming the file and line), a
/// frame or sample a stage refuses, a thread that panicked.
pub fn run_pipeline(
    ds: &EurocDataset,
    config: &PipelineConfig,
    mode: PipelineMode,
    mut on_record: impl FnMut(&PipelineRecord),
) -> Result<PipelineRun, PipelineError> {
    config.pipeline.validate()?;
    if let PipelineMode::RealTime { speed } = mode
        && !(speed.is_finite() && speed > 0.0)
    {
        return Err(PipelineError::Config(format!(
            "the real-time speed must be a positive number, got {speed}"
        )));
    }
    let start = Instant::now();
    let entries = ds.stereo_entries();
    let frame_t: Vec<i64> = entries.iter().map(|e| e.t_ns).collect();
    let batches = imu_batches(ds.imu(), &frame_t, lead_ns(config));
    let frontend = FrontEndStage::new(config, ds)?;
    let backend = BackEndStage::new(config, ds)?;

    let frame_queue = config.pipeline.frame_queue;
    let tracks_queue = config.pipeline.tracks_queue;
    let (frames_tx, frames_rx) = bounded::<FrameSlot>(frame_queue);
    let (frame_pool_tx, frame_pool_rx) = bounded::<FrameSlot>(frame_queue + 2);
    let (tracks_tx, tracks_rx) = bounded::<TracksSlot>(tracks_queue);
    let (tracks_pool_tx, tracks_pool_rx) = bounded::<TracksSlot>(tracks_queue + 2);
    let (records_tx, records_rx) = bounded::<PipelineRecord>(OUTPUT_QUEUE);
    for _ in 0..frame_queue + 2 {
        let slot = FrameSlot {
            index: 0,
            frame: empty_frame(ds),
            imu: Vec::new(),
            has_frame: false,
            available: start,
        };
        // The pool has room for every slot.
        let _ = frame_pool_tx.try_send(slot);
    }
    for _ in 0..tracks_queue + 2 {
        let slot = TracksSlot {
            index: 0,
            tracks: FrameTracks::default(),
            imu: Vec::new(),
            has_tracks: false,
            available: start,
            frontend_ns: 0,
        };
        let _ = tracks_pool_tx.try_send(slot);
    }

    let mut records = Vec::with_capacity(entries.len());
    let batches = &batches;
    // Each thread owns its channel ends, so that a thread that ends, however it
    // ends, closes them and its neighbours see it.
    let (source, frontend, backend) = std::thread::scope(|scope| {
        let spawn_source = std::thread::Builder::new()
            .name("scout-source".into())
            .spawn_scoped(scope, move || {
                source_thread(ds, batches, mode, frames_tx, frame_pool_rx)
            });
        let spawn_frontend = std::thread::Builder::new()
            .name("scout-frontend".into())
            .spawn_scoped(scope, move || {
                frontend_thread(
                    frontend,
                    frames_rx,
                    frame_pool_tx,
                    tracks_tx,
                    tracks_pool_rx,
                )
            });
        let spawn_backend = std::thread::Builder::new()
            .name("scout-backend".into())
            .spawn_scoped(scope, move || {
                backend_thread(backend, tracks_rx, tracks_pool_tx, records_tx)
            });
        // Ends when the back end's thread ends (records_tx dropped).
        for mut record in records_rx.iter() {
            on_record(&record);
            record.view = None;
            records.push(record);
        }
        (
            joined(spawn_source, "source"),
            joined(spawn_frontend, "front end"),
            joined(spawn_backend, "back end"),
        )
    });
    // A stage that stopped with an error made the stages upstream of it stop
    // quietly and those downstream finish what they had; the back end's error
    // concerns the earliest frame, then the front end's, then the source's.
    let (imu_samples, backend_cost) = backend?;
    let frontend_cost = frontend?;
    let dropped_t_ns = source?;
    Ok(PipelineRun {
        mode,
        pairs: entries.len(),
        records,
        dropped_t_ns,
        imu_samples,
        wall_ns: elapsed_ns(start),
        frontend_cost,
        backend_cost,
    })
}

/// The result of a stage's thread: its own, a failure to start it, or its panic.
fn joined<T>(
    spawned: std::io::Result<std::thread::ScopedJoinHandle<'_, Result<T, PipelineError>>>,
    stage: &'static str,
) -> Result<T, PipelineError> {
    match spawned {
        Err(e) => Err(PipelineError::Spawn {
            stage,
            message: e.to_string(),
        }),
        Ok(handle) => handle.join().unwrap_or_else(|payload| {
            Err(PipelineError::Panicked {
                stage,
                message: panic_message(payload.as_ref()),
            })
        }),
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(no message)".to_string()
    }
}

/// Reads each pair into a pooled slot with its IMU samples and sends it on;
/// returns the time stamps of the pairs dropped. Stops quietly when the front
/// end has gone.
fn source_thread(
    ds: &EurocDataset,
    batches: &[Range<usize>],
    mode: PipelineMode,
    frames_tx: Sender<FrameSlot>,
    pool: Receiver<FrameSlot>,
) -> Result<Vec<i64>, PipelineError> {
    let entries = ds.stereo_entries();
    let first_t = entries.first().map_or(0, |e| e.t_ns);
    let clock_start = Instant::now();
    let mut dropped = Vec::new();
    // A slot whose pair was dropped: its IMU samples go with the next pair.
    let mut pending: Option<FrameSlot> = None;
    for (index, batch) in batches.iter().enumerate() {
        let mut slot = match pending.take() {
            Some(slot) => slot,
            None => match pool.recv() {
                Ok(mut slot) => {
                    slot.imu.clear();
                    slot
                }
                Err(_) => return Ok(dropped),
            },
        };
        slot.imu.extend_from_slice(&ds.imu()[batch.clone()]);
        ds.load_stereo_into(index, &mut slot.frame)?;
        slot.index = index;
        slot.has_frame = true;
        match mode {
            PipelineMode::Deterministic => {
                slot.available = Instant::now();
                if frames_tx.send(slot).is_err() {
                    return Ok(dropped);
                }
            }
            PipelineMode::RealTime { speed } => {
                let sensor_s = (slot.frame.t_ns - first_t) as f64 * 1e-9;
                let due = Duration::try_from_secs_f64(sensor_s / speed)
                    .ok()
                    .and_then(|d| clock_start.checked_add(d))
                    .ok_or_else(|| {
                        PipelineError::Config(format!(
                            "the pair at t = {} ns is out of reach at speed {speed}",
                            slot.frame.t_ns
                        ))
                    })?;
                std::thread::sleep(due.saturating_duration_since(Instant::now()));
                slot.available = Instant::now();
                match frames_tx.try_send(slot) {
                    Ok(()) => {}
                    Err(TrySendError::Full(slot)) => {
                        dropped.push(slot.frame.t_ns);
                        pending = Some(slot);
                    }
                    Err(TrySendError::Disconnected(_)) => return Ok(dropped),
                }
            }
        }
    }
    if let Some(mut slot) = pending
        && !slot.imu.is_empty()
    {
        slot.has_frame = false;
        slot.available = Instant::now();
        // Blocking: the back end must see every IMU sample.
        let _ = frames_tx.send(slot);
    }
    Ok(dropped)
}

/// Runs the front end on each pair, returns the pair's buffers to the source
/// and sends the tracks and IMU samples on. Stops quietly when the back end has
/// gone.
fn frontend_thread(
    mut stage: FrontEndStage,
    frames_rx: Receiver<FrameSlot>,
    frame_pool: Sender<FrameSlot>,
    tracks_tx: Sender<TracksSlot>,
    tracks_pool: Receiver<TracksSlot>,
) -> Result<StageCounts, PipelineError> {
    for slot in frames_rx.iter() {
        let Ok(mut out) = tracks_pool.recv() else {
            return Ok(stage.cost);
        };
        out.index = slot.index;
        out.available = slot.available;
        out.imu.clear();
        out.imu.extend_from_slice(&slot.imu);
        out.has_tracks = slot.has_frame;
        if slot.has_frame {
            let (tracks, frontend_ns) = stage.process(&slot.frame, &slot.imu)?;
            copy_tracks(&mut out.tracks, tracks);
            out.frontend_ns = frontend_ns;
        } else {
            stage.gyro.extend(&slot.imu);
        }
        // The pool has room for every slot; the source may have finished.
        let _ = frame_pool.try_send(slot);
        if tracks_tx.send(out).is_err() {
            return Ok(stage.cost);
        }
    }
    Ok(stage.cost)
}

/// Pushes each frame's IMU samples and tracks into the back end and sends a
/// record per frame to the calling thread; returns the IMU samples pushed and
/// the counted work.
fn backend_thread(
    mut stage: BackEndStage,
    tracks_rx: Receiver<TracksSlot>,
    tracks_pool: Sender<TracksSlot>,
    records_tx: Sender<PipelineRecord>,
) -> Result<(usize, StageCounts), PipelineError> {
    for slot in tracks_rx.iter() {
        let tracks = slot.has_tracks.then_some(&slot.tracks);
        if let Some((estimate, backend_ns)) = stage.step(&slot.imu, tracks)? {
            let record = make_record(
                slot.index,
                &slot.tracks,
                estimate,
                (slot.frontend_ns, backend_ns),
                slot.available,
                stage.view(&slot.tracks),
            );
            if records_tx.send(record).is_err() {
                break;
            }
        }
        let _ = tracks_pool.try_send(slot);
    }
    Ok((stage.imu_samples, stage.cost))
}

#[cfg(test)]
mod tests {
    use nalgebra::Vector2;

    use super::*;

    fn imu_at(times: &[i64]) -> Vec<ImuSample> {
        times
            .iter()
            .map(|&t_ns| ImuSample {
                t_ns,
                gyro: Vector3::new(0.1, -0.2, 0.3 + t_ns as f64 * 1e-9),
                accel: Vector3::new(9.8, 0.0, 0.0),
            })
            .collect()
    }

    #[test]
    fn imu_batches_hand_over_every_sample_once_up_to_each_frame() {
        // IMU every 5 ms from 0 to 300 ms; frames at 100, 152 (between
        // samples), 200 and 400 ms (after the last sample).
        let times: Vec<i64> = (0..=60).map(|k| k * 5_000_000).collect();
        let imu = imu_at(&times);
        let frames = [100_000_000, 152_000_000, 200_000_000, 400_000_000];
        let batches = imu_batches(&imu, &frames, 50_000_000);
        assert_eq!(batches.len(), 4);
        // Lead: from 50 ms; up to and including the sample at the frame time.
        assert_eq!(imu[batches[0].start].t_ns, 50_000_000);
        assert_eq!(imu[batches[0].end - 1].t_ns, 100_000_000);
        // Between samples: up to the first sample after the frame.
        assert_eq!(imu[batches[1].end - 1].t_ns, 155_000_000);
        for w in batches.windows(2) {
            assert_eq!(w[0].end, w[1].start);
        }
        // After the last sample: the rest, then nothing.
        assert_eq!(batches[3].end, imu.len());
        // A lead ending between samples starts at the sample before it.
        let batches = imu_batches(&imu, &frames, 52_000_000);
        assert_eq!(imu[batches[0].start].t_ns, 45_000_000);
        assert!(imu_batches(&imu, &[], 0).is_empty());
        assert_eq!(imu_batches(&[], &frames, 0), vec![0..0; 4]);
    }

    #[test]
    fn gyro_window_gives_the_prior_of_the_whole_stream() {
        let times: Vec<i64> = (0..=100).map(|k| k * 5_000_000).collect();
        let imu = imu_at(&times);
        let frames: Vec<i64> = (1..=9).map(|k| k * 50_000_000 + 1_000_000).collect();
        let batches = imu_batches(&imu, &frames, 0);
        let mut window = GyroWindow::default();
        let mut prev = None;
        for (t, batch) in frames.iter().zip(&batches) {
            window.extend(&imu[batch.clone()]);
            let streamed = window.prior(*t);
            let whole =
                prev.and_then(|t0| vio::imu::integrate_gyro(&imu, t0, *t, &Vector3::zeros()));
            assert_eq!(streamed.is_some(), prev.is_some());
            assert_eq!(
                streamed.map(|q| q.coords.map(f64::to_bits)),
                whole.map(|q| q.coords.map(f64::to_bits))
            );
            window.advance(*t);
            // Only the sample at or before the frame and those after it stay.
            assert!(window.samples.len() <= 2, "{}", window.samples.len());
            prev = Some(*t);
        }
    }

    #[test]
    fn panics_become_errors_naming_the_stage() {
        let result: Result<(), PipelineError> = std::thread::scope(|scope| {
            let spawned = std::thread::Builder::new().spawn_scoped(scope, || {
                if std::hint::black_box(true) {
                    panic!("boom at frame {}", 3);
                }
                Ok(())
            });
            joined(spawned, "front end")
        });
        match result {
            Err(PipelineError::Panicked { stage, message }) => {
                assert_eq!(stage, "front end");
                assert_eq!(message, "boom at frame 3");
            }
            other => panic!("expected a panic error, got {other:?}"),
        }
    }

    #[test]
    fn settings_out_of_range_are_refused_by_name() {
        assert!(StreamConfig::default().validate().is_ok());
        for (cfg, field) in [
            (
                StreamConfig {
                    frame_queue: 0,
                    ..StreamConfig::default()
                },
                "frame_queue",
            ),
            (
                StreamConfig {
                    tracks_queue: 1000,
                    ..StreamConfig::default()
                },
                "tracks_queue",
            ),
            (
                StreamConfig {
                    imu_lead_s: f64::NAN,
                    ..StreamConfig::default()
                },
                "imu_lead_s",
            ),
        ] {
            match cfg.validate() {
                Err(e) => assert!(e.to_string().contains(field), "{e}"),
                Ok(()) => panic!("{field} accepted"),
            }
        }
    }

    #[test]
    fn digest_and_copy_cover_every_output_field() {
        let feature = Feature {
            id: 7,
            age: 2,
            left: Vector2::new(10.0, 20.0),
            right: Some(Vector2::new(5.0, 20.0)),
            left_bearing: Vector3::z(),
            right_bearing: Some(Vector3::z()),
        };
        let tracks = FrameTracks {
            t_ns: 5,
            frame_index: 1,
            features: vec![feature; 3],
            ..FrameTracks::default()
        };
        let mut copy = FrameTracks {
            features: vec![feature; 10],
            ..FrameTracks::default()
        };
        copy_tracks(&mut copy, &tracks);
        assert_eq!(copy, tracks);
        let base = tracks_digest(&tracks);
        let mut other = tracks.clone();
        other.features[1].right = None;
        assert_ne!(tracks_digest(&other), base);
        let mut other = tracks.clone();
        other.features[2].left.x = 10.000_000_001;
        assert_ne!(tracks_digest(&other), base);
        // Timing is not output.
        let mut other = tracks.clone();
        other.timing.total_ns = 99;
        assert_eq!(tracks_digest(&other), base);
    }
}
