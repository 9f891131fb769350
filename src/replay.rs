//! Replaying a recorded sequence through the pipeline's stages, and the figures
//! `scout replay` writes to `metrics.json`.
//!
//! [`replay_frontend`] runs only the VIO front end over an EuRoC/ASL sequence
//! (what `scout replay DIR --out OUT --frontend-only` does): each stereo pair is
//! decoded into a reused frame, the gyro rotation since the previous pair
//! (integrated with zero bias: the front end alone has no bias estimate) is
//! handed over with it, and per frame the
//! feature counts, the wall time of each step and the counted work of each
//! kernel are recorded. The result serializes to `metrics.json`.
//!
//! [`pipeline_metrics`] summarizes a run of the whole pipeline
//! (the `pipeline` crate, what `scout replay DIR --out OUT` does): frames,
//! tracking status, drops, per-stage wall time and latency quantiles (ms), peak
//! resident memory, and the absolute trajectory error of the `Tracking` poses
//! against the sequence's ground truth ([`ate_metrics`], SE(3) and
//! position+yaw alignment, m).

use cost::{CostLedger, CostReport, StageReport};
use datasets::euroc::EurocDataset;
use datasets::{DatasetError, StereoFrame};
use nalgebra::Vector3;
use pipeline::{PipelineConfig, PipelineMode, PipelineRecord, PipelineRun, RecordTiming};
use serde::Serialize;
use vio::backend::{TrackingMode, TrackingStatus};
use vio::frontend::{FrameStats, FrameTiming, FrameTracks, FrontEnd, FrontEndConfig};
use vio::health::SensorFault;

use crate::eval::{Alignment, EvalError, EvalOptions, Trajectory, associate, evaluate};
use crate::frontend_eval::{
    TrackObservation, TrackStatistics, TrackStatsCollector, TrackStatsConfig,
};

/// Counted work of one kernel in one frame.
#[derive(Debug, Clone, Serialize)]
pub struct KernelRecord {
    /// Kernel name (see `vio::frontend::kernels`).
    pub kernel: &'static str,
    /// Calls (features tracked, images filtered, ...).
    pub calls: u64,
    /// Operations of every kind.
    pub ops: u64,
    /// Bytes moved in registers and scratch.
    pub local_bytes: u64,
    /// Bytes moved in on-chip buffers / cache-resident working sets.
    pub buffer_bytes: u64,
    /// Bytes moved to and from main memory.
    pub main_bytes: u64,
}

fn kernel_records(ledger: &CostLedger, out: &mut Vec<KernelRecord>) {
    out.clear();
    out.extend(ledger.kernels().map(|(kernel, k)| KernelRecord {
        kernel,
        calls: k.calls,
        ops: k.ops.total(),
        local_bytes: k.local.total(),
        buffer_bytes: k.buffer.total(),
        main_bytes: k.main.total(),
    }));
}

/// One frame of a front-end replay.
#[derive(Debug, Clone, Serialize)]
pub struct FrameRecord {
    /// Time stamp of the stereo pair, ns.
    pub t_ns: i64,
    /// Features output.
    pub features: usize,
    /// Of which with a stereo match.
    pub stereo: usize,
    /// What happened to the features.
    pub stats: FrameStats,
    /// Time of each step, ns.
    pub timing: FrameTiming,
    /// Counted work by kernel.
    pub cost: Vec<KernelRecord>,
}

/// Quantiles of a per-frame quantity.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Quantiles {
    /// Mean.
    pub mean: f64,
    /// Median.
    pub median: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest.
    pub max: f64,
    /// Smallest.
    pub min: f64,
}

impl Quantiles {
    /// Of a list of values (empty gives zeros).
    #[must_use]
    pub fn of(values: &[f64]) -> Self {
        if values.is_empty() {
            return Self::default();
        }
        let mut v = values.to_vec();
        v.sort_by(f64::total_cmp);
        let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
        Self {
            mean: v.iter().sum::<f64>() / v.len() as f64,
            median: at(0.5),
            p90: at(0.9),
            p99: at(0.99),
            max: v[v.len() - 1],
            min: v[0],
        }
    }
}

/// Mean work per frame of one kernel over the replay (the first frame, which
/// detects over the whole image, included).
#[derive(Debug, Clone, Serialize)]
pub struct KernelSummary {
    /// Kernel name.
    pub kernel: &'static str,
    /// Operations per frame.
    pub ops_per_frame: f64,
    /// Register/scratch bytes per frame.
    pub local_bytes_per_frame: f64,
    /// Buffer bytes per frame.
    pub buffer_bytes_per_frame: f64,
    /// Main-memory bytes per frame.
    pub main_bytes_per_frame: f64,
}

/// The replay's summary.
#[derive(Debug, Clone, Serialize)]
pub struct FrontEndSummary {
    /// Frames processed.
    pub frames: usize,
    /// Frames skipped because their images could not be decoded.
    pub frames_skipped: usize,
    /// Images listed but missing on disk (reported by the reader, skipped).
    pub missing_images: usize,
    /// Front-end time per frame, ms (this machine, this build).
    pub time_ms: Quantiles,
    /// Features per frame.
    pub features: Quantiles,
    /// Features with a stereo match per frame.
    pub stereo: Quantiles,
    /// Track lengths, survival and spread.
    pub tracks: TrackStatistics,
    /// Counted work per frame by kernel.
    pub cost_per_frame: Vec<KernelSummary>,
    /// The front end's working memory (pyramids and scratch), bytes.
    pub working_memory_bytes: usize,
}

/// Everything `--frontend-only` writes to `metrics.json`.
#[derive(Debug, Clone, Serialize)]
pub struct FrontEndMetrics {
    /// The sequence folder.
    pub sequence: String,
    /// The configuration used.
    pub config: FrontEndConfig,
    /// Figures over the whole replay.
    pub summary: FrontEndSummary,
    /// Per-frame figures.
    pub frames: Vec<FrameRecord>,
}

/// What can stop a replay.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The front end refused its configuration or an input.
    #[error(transparent)]
    Vio(#[from] vio::VioError),
    /// The dataset could not be read.
    #[error(transparent)]
    Dataset(#[from] DatasetError),
    /// The track statistics refused a frame (a non-finite position).
    #[error(transparent)]
    Statistics(#[from] crate::frontend_eval::FrontEndEvalError),
}

/// Runs the front end alone over every stereo pair of `ds`; `on_frame(index,
/// total, tracks)` sees each frame's output (`index` into
/// `ds.stereo_entries()`).
///
/// # Errors
/// If the configuration or calibration is unusable, or the images do not match
/// the calibration. An image that cannot be decoded is skipped with a warning
/// and counted.
pub fn replay_frontend(
    ds: &EurocDataset,
    config: &FrontEndConfig,
    mut on_frame: impl FnMut(usize, usize, &FrameTracks),
) -> Result<FrontEndMetrics, ReplayError> {
    let rig = ds.calibration();
    let mut fe = FrontEnd::new(config.clone(), rig)?;
    let entries = ds.stereo_entries();
    let mut frame = StereoFrame {
        t_ns: 0,
        left: datasets::GrayImage::new(rig.cam0.width, rig.cam0.height),
        right: datasets::GrayImage::new(rig.cam1.width, rig.cam1.height),
    };
    let mut stats =
        TrackStatsCollector::new(rig.cam0.width, rig.cam0.height, TrackStatsConfig::default())?;
    let mut frames = Vec::with_capacity(entries.len());
    let mut observations = Vec::new();
    let mut prev_t: Option<i64> = None;
    let mut skipped = 0;
    let mut accumulated = CostLedger::new();
    for (i, entry) in entries.iter().enumerate() {
        if let Err(e) = ds.load_stereo_into(i, &mut frame) {
            tracing::warn!("skipping the stereo pair at t = {} ns: {e}", entry.t_ns);
            skipped += 1;
            continue;
        }
        // Raw gyro (zero bias): the front end alone has no bias estimate.
        let prior = prev_t
            .and_then(|t0| vio::imu::integrate_gyro(ds.imu(), t0, frame.t_ns, &Vector3::zeros()));
        fe.process(&frame, prior.as_ref())?;
        let tracks = fe.last();
        observations.clear();
        observations.extend(tracks.features.iter().map(|f| TrackObservation {
            id: f.id,
            left: f.left,
            right: f.right,
        }));
        stats.add_frame(&observations)?;
        let mut cost = Vec::new();
        kernel_records(fe.cost(), &mut cost);
        accumulated.accumulate(fe.cost());
        frames.push(FrameRecord {
            t_ns: tracks.t_ns,
            features: tracks.features.len(),
            stereo: tracks.features.iter().filter(|f| f.right.is_some()).count(),
            stats: tracks.stats,
            timing: tracks.timing,
            cost,
        });
        prev_t = Some(frame.t_ns);
        on_frame(i, entries.len(), fe.last());
    }
    let n = frames.len().max(1) as f64;
    let per =
        |f: &dyn Fn(&FrameRecord) -> f64| Quantiles::of(&frames.iter().map(f).collect::<Vec<_>>());
    let summary = FrontEndSummary {
        frames: frames.len(),
        frames_skipped: skipped,
        missing_images: ds.missing_images().len(),
        time_ms: per(&|r| r.timing.total_ns as f64 * 1e-6),
        features: per(&|r| r.features as f64),
        stereo: per(&|r| r.stereo as f64),
        tracks: stats.statistics(),
        cost_per_frame: accumulated
            .kernels()
            .map(|(kernel, k)| KernelSummary {
                kernel,
                ops_per_frame: k.ops.total() as f64 / n,
                local_bytes_per_frame: k.local.total() as f64 / n,
                buffer_bytes_per_frame: k.buffer.total() as f64 / n,
                main_bytes_per_frame: k.main.total() as f64 / n,
            })
            .collect(),
        working_memory_bytes: fe.working_memory_bytes(),
    };
    Ok(FrontEndMetrics {
        sequence: ds.mav0().display().to_string(),
        config: config.clone(),
        summary,
        frames,
    })
}

/// Wall time per frame of each stage, ms (this machine, this build).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct StageTimes {
    /// Front end (gyro prior and tracking).
    pub frontend: Quantiles,
    /// Back end (IMU samples and the frame).
    pub backend: Quantiles,
    /// Front end plus back end: the computing time of a frame, queues excluded.
    pub total: Quantiles,
}

/// Absolute trajectory error of positions after one alignment, m.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct AteFigures {
    /// Root mean square.
    pub rmse_m: f64,
    /// Mean.
    pub mean_m: f64,
    /// Largest.
    pub max_m: f64,
}

/// The estimate against the sequence's ground truth.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AteMetrics {
    /// Ground-truth poses.
    pub ground_truth_poses: usize,
    /// Estimated poses (frames with status `Tracking`).
    pub estimate_poses: usize,
    /// Estimated poses matched to a ground-truth pose within the default
    /// association limit ([`EvalOptions::max_time_diff_s`]).
    pub matched_poses: usize,
    /// After an SE(3) alignment (6 DoF); `None` when it could not be made.
    pub se3: Option<AteFigures>,
    /// After a position+yaw alignment (4 DoF, the usual one for VIO).
    pub posyaw: Option<AteFigures>,
    /// Drift from the start, m: the position error at the last matched pose
    /// when the estimate is aligned at its first matched pose only (what a robot
    /// starting from a known pose sees at the end); `None` without two matches.
    pub drift_from_start_m: Option<f64>,
    /// Why an alignment gave no figures.
    pub notes: Vec<String>,
}

/// Scores `est` against `gt` with SE(3) and position+yaw alignment (defaults
/// of [`EvalOptions`] otherwise). An alignment that cannot be made (no pose,
/// too few matches, degenerate motion) gives `None` and a note instead of an
/// error: a short or lost run is a result, not a failure.
#[must_use]
pub fn ate_metrics(gt: &Trajectory, est: &Trajectory) -> AteMetrics {
    let options = EvalOptions::default();
    let max_dt_ns = (options.max_time_diff_s * 1e9).round() as i64;
    let mut metrics = AteMetrics {
        ground_truth_poses: gt.len(),
        estimate_poses: est.len(),
        matched_poses: associate(gt, est, max_dt_ns).len(),
        se3: None,
        posyaw: None,
        drift_from_start_m: drift_from_start(gt, est, max_dt_ns),
        notes: Vec::new(),
    };
    if est.is_empty() {
        metrics
            .notes
            .push("no frame reached the tracking status: nothing to score".into());
        return metrics;
    }
    for align in [Alignment::Se3, Alignment::PosYaw] {
        let options = EvalOptions {
            align,
            rpe_segments_m: Some(Vec::new()),
            ..EvalOptions::default()
        };
        let figures = match evaluate(gt, est, &options) {
            Ok(report) => Some(AteFigures {
                rmse_m: report.ate_trans_m.rmse,
                mean_m: report.ate_trans_m.mean,
                max_m: report.ate_trans_m.max,
            }),
            Err(e) => {
                metrics.notes.push(format!("{align}: {e}"));
                None
            }
        };
        match align {
            Alignment::Se3 => metrics.se3 = figures,
            _ => metrics.posyaw = figures,
        }
    }
    metrics
}

/// See [`AteMetrics::drift_from_start_m`].
fn drift_from_start(gt: &Trajectory, est: &Trajectory, max_dt_ns: i64) -> Option<f64> {
    let matches = associate(gt, est, max_dt_ns);
    let (first, last) = (matches.first()?, matches.last()?);
    if first.est_index == last.est_index {
        return None;
    }
    let (g0, g1) = (
        gt.world_from_body()[first.gt_index],
        gt.world_from_body()[last.gt_index],
    );
    let (e0, e1) = (
        est.world_from_body()[first.est_index],
        est.world_from_body()[last.est_index],
    );
    // gt_world_from_est_world, from the first pair.
    let align = g0 * e0.inverse();
    Some(
        (align * e1)
            .translation
            .vector
            .metric_distance(&g1.translation.vector),
    )
}

/// One frame of a pipeline replay.
#[derive(Debug, Clone, Serialize)]
pub struct PipelineFrame {
    /// Time stamp of the stereo pair, ns.
    pub t_ns: i64,
    /// The back end's status after the frame.
    pub status: TrackingStatus,
    /// What carried a tracking frame's estimate.
    pub tracking_mode: TrackingMode,
    /// Whether the frame became a keyframe.
    pub keyframe: bool,
    /// Features the front end output.
    pub features: u32,
    /// Of which with a stereo match.
    pub stereo: u32,
    /// Front-end wall time, ms.
    pub frontend_ms: f64,
    /// Back-end wall time, ms.
    pub backend_ms: f64,
    /// From the pair being available to its estimate, ms.
    pub latency_ms: f64,
}

/// Everything `scout replay` (the whole pipeline) writes to `metrics.json`.
#[derive(Debug, Clone, Serialize)]
pub struct PipelineMetrics {
    /// The sequence folder.
    pub sequence: String,
    /// Deterministic or real time (with its speed).
    pub mode: PipelineMode,
    /// The configuration used.
    pub config: PipelineConfig,
    /// Stereo pairs in the sequence.
    pub pairs: usize,
    /// Frames processed (`pairs - drops`).
    pub frames: usize,
    /// Frames whose status was `Tracking`: the rows of `trajectory.tum`.
    pub frames_tracking: usize,
    /// Of those, frames stereo vision alone carried across an IMU gap
    /// (`TrackingMode::Visual`).
    pub frames_visual_only: usize,
    /// Of those, frames the IMU alone carried while vision saw too few
    /// landmarks (`TrackingMode::Inertial`, bounded by the back end's
    /// `max_dead_reckoning_s`).
    pub frames_inertial_only: usize,
    /// Pairs dropped because the front end's queue was full (real time only).
    pub drops: usize,
    /// Frames with status `Lost` (tracking failed; the back end restarted from
    /// the last good state propagated by the IMU, or re-initialized).
    pub lost_frames: usize,
    /// Re-initializations from scratch after the first, each in a new world
    /// frame (`Estimate::session`); the ATE then scores the poses of the
    /// first session only (see `ate.notes`), and `sessions` each alone.
    pub reinitializations: usize,
    /// `frames_tracking / frames` (0 without frames).
    pub tracked_share: f64,
    /// The tracking sessions, one world frame each, in order: each written
    /// to its own file and scored alone.
    pub sessions: Vec<SessionMetrics>,
    /// The sensor faults found, in the order the stream revealed them
    /// (`vio::health`: IMU gaps, IMU samples beyond the sensor's range,
    /// dropped; camera gaps; stretches of frames without usable texture or
    /// with failed stereo matching), times in ns.
    pub faults: Vec<SensorFault>,
    /// Why the run is not the whole answer it looks like (sensor faults,
    /// frames carried by one sensor alone, fewer than [`TRACKED_SHARE_MIN`]
    /// of the frames tracked, more than one world frame); empty for a clean
    /// run. The headline says the same.
    pub degraded: Vec<String>,
    /// Frames that became keyframes.
    pub keyframes: usize,
    /// IMU samples given to the back end.
    pub imu_samples: usize,
    /// Wall time of the run, s.
    pub wall_s: f64,
    /// Per-stage wall time per frame, ms.
    pub time_ms: StageTimes,
    /// From a pair being available to its estimate, queueing included, ms
    /// (camera to pose).
    pub latency_ms: Quantiles,
    /// The map built online from the keyframes; `None` with `[map] enabled
    /// = false`.
    pub map: Option<MapLatency>,
    /// Peak resident memory of the process, bytes (`VmHWM`; `None` where
    /// `/proc/self/status` does not exist).
    pub peak_rss_bytes: Option<u64>,
    /// ATE against the sequence's ground truth; `None` when it has none.
    pub ate: Option<AteMetrics>,
    /// The camera-IMU time offset at the end of the run, s, in Kalibr's
    /// convention (`t_imu = t_cam + offset`): the shift the source put on
    /// the camera's stamps plus the back end's estimate (or its configured
    /// `[backend] time_offset_s` when `estimate_time_offset` is off).
    pub cam_imu_time_offset_s: f64,
    /// Live sensors' counts (`scout run`): pairs captured and dropped before
    /// the pipeline took them, IMU samples dropped, pairs late for the IMU;
    /// `None` for a recording.
    pub live: Option<pipeline::live::LiveCounts>,
    /// The poses at the IMU's rate of a live run (`imu_poses.tum`); `None`
    /// for a recording.
    pub imu_rate: Option<ImuRateMetrics>,
    /// Per-frame figures.
    pub per_frame: Vec<PipelineFrame>,
}

/// The poses at the IMU's rate of a live run (`pipeline::imu_rate`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImuRateMetrics {
    /// What the IMU-rate output did: poses, rate, sample-to-pose latency,
    /// samples without a pose and why, drops.
    #[serde(flatten)]
    pub output: pipeline::imu_rate::ImuRateStats,
    /// No pose further than this past its estimate, s (`[live.poses]
    /// horizon_s`).
    pub horizon_s: f64,
    /// The poses against the ground truth interpolated at their times
    /// ([`ImuRateMetrics::score`]); `None` without ground truth.
    pub ate: Option<AteMetrics>,
}

/// Ground-truth poses further apart than this are not interpolated
/// between, ns.
const GT_INTERPOLATION_GAP_NS: i64 = 20_000_000;

impl ImuRateMetrics {
    /// Scores `poses` (IMU-rate poses on the ground truth's clock) against
    /// `gt` interpolated at their times: the same [`ate_metrics`] as the
    /// frames', without the association error of poses and ground truth
    /// sampled at different instants.
    #[must_use]
    pub fn score(gt: &Trajectory, poses: &Trajectory) -> AteMetrics {
        let at_poses = gt.resampled_at(poses.t_ns(), GT_INTERPOLATION_GAP_NS);
        ate_metrics(&at_poses, poses)
    }
}

/// What a run was fed: its name in the metrics and, when there is one, the
/// ground truth it is scored against.
#[derive(Debug, Clone)]
pub struct RunSubject {
    /// The sequence folder, or the live devices.
    pub name: String,
    /// Ground truth, if the source has it.
    pub ground_truth: Option<Trajectory>,
    /// What the source added to the camera's stamps to put them on the
    /// IMU's clock, s (a robot file's Kalibr `timeshift_cam_imu`; 0 for a
    /// recording).
    pub camera_time_shift_s: f64,
}

impl RunSubject {
    /// An EuRoC/ASL folder: its `mav0` and its ground truth.
    ///
    /// # Errors
    /// If the ground truth is not a trajectory (times out of order).
    pub fn of_dataset(ds: &EurocDataset) -> Result<Self, EvalError> {
        Ok(Self {
            name: ds.mav0().display().to_string(),
            ground_truth: ground_truth_trajectory(ds)?,
            camera_time_shift_s: 0.0,
        })
    }
}

/// Below this share of frames tracked a run is degraded (its headline and
/// `metrics.json` say so).
pub const TRACKED_SHARE_MIN: f64 = 0.9;

/// One tracking session of a run: the frames of one world frame whose status
/// was `Tracking`.
#[derive(Debug, Clone, Serialize)]
pub struct SessionMetrics {
    /// The back end's session number (`Estimate::session`).
    pub session: u32,
    /// The file its poses are in ([`session_file_name`]), in the output
    /// folder.
    pub file: String,
    /// Its tracking frames (the file's rows).
    pub frames_tracking: usize,
    /// `frames_tracking` over the run's frames.
    pub share_of_frames: f64,
    /// Time of its first and last tracking frame, ns.
    pub first_t_ns: i64,
    /// See `first_t_ns`.
    pub last_t_ns: i64,
    /// Its poses against the ground truth, aligned alone; `None` without
    /// ground truth.
    pub ate: Option<AteMetrics>,
}

/// The sensor faults of a run in a line per kind: how many, the longest and
/// when (s on the sensors' clock); nothing for a clean run.
#[must_use]
pub fn fault_summary(faults: &[SensorFault]) -> Vec<String> {
    let mut lines = Vec::new();
    let s = |t_ns: i64| t_ns as f64 * 1e-9;
    for (name, names, pick) in [
        (
            "IMU gap",
            "IMU gaps",
            (|f: &SensorFault| matches!(f, SensorFault::ImuGap { .. })) as fn(&SensorFault) -> bool,
        ),
        ("camera gap", "camera gaps", |f| {
            matches!(f, SensorFault::CameraGap { .. })
        }),
        (
            "stretch of frames without usable texture",
            "stretches of frames without usable texture",
            |f| matches!(f, SensorFault::NoTexture { .. }),
        ),
        (
            "stretch of frames with failed stereo matching",
            "stretches of frames with failed stereo matching",
            |f| matches!(f, SensorFault::StereoFailure { .. }),
        ),
    ] {
        let of_kind: Vec<&SensorFault> = faults.iter().filter(|f| pick(f)).collect();
        if let Some(longest) = of_kind
            .iter()
            .max_by(|a, b| a.duration_s().total_cmp(&b.duration_s()))
        {
            lines.push(format!(
                "{} {}, {:.3} s in all, the longest {:.3} s from t = {:.3} s",
                of_kind.len(),
                if of_kind.len() == 1 { name } else { names },
                of_kind.iter().map(|f| f.duration_s()).sum::<f64>(),
                longest.duration_s(),
                s(longest.t_ns())
            ));
        }
    }
    // Samples dropped, by why.
    for (why, pick) in [
        (
            "out of time order",
            (|f: &SensorFault| matches!(f, SensorFault::ImuOutOfOrder { .. }))
                as fn(&SensorFault) -> bool,
        ),
        ("beyond the sensor's range", |f| {
            matches!(f, SensorFault::ImuOutOfRange { .. })
        }),
    ] {
        let dropped: Vec<i64> = faults
            .iter()
            .filter(|f| pick(f))
            .map(SensorFault::t_ns)
            .collect();
        if let Some(first) = dropped.first() {
            lines.push(format!(
                "{} IMU sample{} {why} dropped, the first at t = {:.3} s",
                dropped.len(),
                if dropped.len() == 1 { "" } else { "s" },
                s(*first)
            ));
        }
    }
    for fault in faults {
        if let SensorFault::TimeOffset { t_ns, offset_s } = *fault {
            lines.push(format!(
                "IMU time stamps off the cameras' by {:+.1} ms (found at t = {:.3} s)",
                offset_s * 1e3,
                s(t_ns)
            ));
        }
    }
    lines
}

/// The frames one sensor alone carried, in a line per sensor: how many, in
/// how many stretches, the longest and when (s on the sensors' clock);
/// nothing when both carried every tracking frame.
#[must_use]
pub fn single_sensor_summary(records: &[PipelineRecord]) -> Vec<String> {
    let mut lines = Vec::new();
    for (mode, what) in [
        (
            TrackingMode::Visual,
            "tracked on stereo vision alone (no IMU)",
        ),
        (
            TrackingMode::Inertial,
            "carried by the IMU alone (too few landmarks seen)",
        ),
    ] {
        // Stretches of consecutive frames in `mode`: (first t, last t, frames).
        let mut stretches: Vec<(i64, i64, usize)> = Vec::new();
        let mut open = false;
        for r in records {
            let inside = r.estimate.status == TrackingStatus::Tracking && r.estimate.mode == mode;
            match (inside, open, stretches.last_mut()) {
                (true, true, Some(last)) => {
                    last.1 = r.t_ns;
                    last.2 += 1;
                }
                (true, _, _) => stretches.push((r.t_ns, r.t_ns, 1)),
                (false, _, _) => {}
            }
            open = inside;
        }
        let frames: usize = stretches.iter().map(|s| s.2).sum();
        if let Some(longest) = stretches.iter().max_by_key(|s| s.1 - s.0) {
            lines.push(format!(
                "{frames} frame{} {what} in {} stretch{}, the longest {:.3} s from t = {:.3} s",
                if frames == 1 { "" } else { "s" },
                stretches.len(),
                if stretches.len() == 1 { "" } else { "es" },
                (longest.1 - longest.0) as f64 * 1e-9,
                longest.0 as f64 * 1e-9
            ));
        }
    }
    lines
}

/// A tracking session's poses ([`session_trajectories`]).
#[derive(Debug, Clone)]
pub struct SessionTrajectory {
    /// The back end's session number.
    pub session: u32,
    /// Its `Tracking` poses (`world_from_body`, body = IMU frame), in its own
    /// world frame.
    pub trajectory: Trajectory,
}

/// The file a session's poses go to: `trajectory.tum` for the run's first
/// tracking session (`index` 0), `trajectory.session-N.tum` (N the back
/// end's session number) for each later one, so that no file joins two
/// world frames.
#[must_use]
pub fn session_file_name(index: usize, session: u32) -> String {
    if index == 0 {
        "trajectory.tum".to_string()
    } else {
        format!("trajectory.session-{session}.tum")
    }
}

/// Whether a file name is one [`session_file_name`] gives a later session
/// (`trajectory.session-N.tum`): what a run clears from its output folder
/// before writing its own.
#[must_use]
pub fn is_later_session_file(name: &str) -> bool {
    name.strip_prefix("trajectory.session-")
        .and_then(|rest| rest.strip_suffix(".tum"))
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// The `Tracking` poses of `records` split by session (world frame), the
/// sessions in the order they first tracked; a session that never tracked
/// has no entry.
///
/// # Errors
/// [`EvalError::InvalidTrajectory`] when a pose is not finite or the times
/// are not increasing.
pub fn session_trajectories(
    records: &[PipelineRecord],
) -> Result<Vec<SessionTrajectory>, EvalError> {
    let mut order: Vec<u32> = Vec::new();
    for r in records {
        if r.estimate.status == TrackingStatus::Tracking && !order.contains(&r.estimate.session) {
            order.push(r.estimate.session);
        }
    }
    order
        .into_iter()
        .map(|session| {
            let rows = || {
                records.iter().filter(move |r| {
                    r.estimate.session == session && r.estimate.status == TrackingStatus::Tracking
                })
            };
            Ok(SessionTrajectory {
                session,
                trajectory: Trajectory::new(
                    rows().map(|r| r.t_ns).collect(),
                    rows().map(|r| r.estimate.world_from_body).collect(),
                )?,
            })
        })
        .collect()
}

/// The online map's share of `metrics.json`: what reached the map, and how
/// late.
#[derive(Debug, Clone, Serialize)]
pub struct MapLatency {
    /// Keyframes whose depth went into the map.
    pub keyframes_mapped: usize,
    /// Keyframes of a later tracking session (another world frame), not
    /// mapped.
    pub keyframes_skipped: usize,
    /// Keyframes not mapped because the mapper's queue was full (real time
    /// only).
    pub keyframes_dropped: usize,
    /// From the back end's estimate of a keyframe to its depth being in the
    /// map, queueing included, ms.
    pub keyframe_to_map_ms: Quantiles,
    /// From a keyframe's pair being available to its depth being in the map,
    /// ms.
    pub camera_to_map_ms: Quantiles,
    /// The mapper's own time per keyframe (stereo matching and insertion), ms.
    pub map_ms: Quantiles,
}

impl MapLatency {
    /// Of a run with a map.
    #[must_use]
    pub fn of(run: &PipelineRun) -> Option<Self> {
        let summary = run.mapper.as_ref()?.summary();
        let ms = |f: &dyn Fn(&pipeline::MapRecord) -> f64| {
            Quantiles::of(&run.map_records.iter().map(f).collect::<Vec<_>>())
        };
        Some(Self {
            keyframes_mapped: run.map_records.len(),
            keyframes_skipped: summary.keyframes_skipped,
            keyframes_dropped: summary.keyframes_dropped,
            keyframe_to_map_ms: ms(&|r| r.keyframe_to_map_ns as f64 * 1e-6),
            camera_to_map_ms: ms(&|r| r.camera_to_map_ns as f64 * 1e-6),
            map_ms: ms(&|r| r.stereo_ms + r.insert_ms),
        })
    }
}

/// The poses of the frames whose status is `Tracking`, as a trajectory
/// (`world_from_body`, body = IMU frame): the rows of `trajectory.tum`.
///
/// # Errors
/// [`EvalError::InvalidTrajectory`] when a pose is not finite.
pub fn tracking_trajectory(run: &PipelineRun) -> Result<Trajectory, EvalError> {
    let tracking = || {
        run.records
            .iter()
            .filter(|r| r.estimate.status == TrackingStatus::Tracking)
    };
    Trajectory::new(
        tracking().map(|r| r.t_ns).collect(),
        tracking().map(|r| r.estimate.world_from_body).collect(),
    )
}

/// Summarizes a pipeline run; `estimate` is its `Tracking` trajectory
/// ([`tracking_trajectory`]), scored against `ds`'s ground truth
/// when it has any.
///
/// # Errors
/// [`EvalError::InvalidTrajectory`] when the ground truth does not form a
/// trajectory (the reader checks its order and values, so this is a bug).
pub fn pipeline_metrics(
    subject: &RunSubject,
    config: &PipelineConfig,
    run: &PipelineRun,
    estimate: &Trajectory,
) -> Result<PipelineMetrics, EvalError> {
    let gt = subject.ground_truth.as_ref();
    let frames = run.records.len();
    let share = |n: usize| {
        if frames == 0 {
            0.0
        } else {
            n as f64 / frames as f64
        }
    };
    let session_metrics: Vec<SessionMetrics> = session_trajectories(&run.records)?
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let times = s.trajectory.t_ns();
            SessionMetrics {
                session: s.session,
                file: session_file_name(i, s.session),
                frames_tracking: s.trajectory.len(),
                share_of_frames: share(s.trajectory.len()),
                first_t_ns: times.first().copied().unwrap_or(0),
                last_t_ns: times.last().copied().unwrap_or(0),
                ate: gt.map(|gt| ate_metrics(gt, &s.trajectory)),
            }
        })
        .collect();
    let ms = |ns: u64| ns as f64 * 1e-6;
    let per = |f: &dyn Fn(&PipelineRecord) -> f64| {
        Quantiles::of(&run.records.iter().map(f).collect::<Vec<_>>())
    };
    let count = |status: TrackingStatus| {
        run.records
            .iter()
            .filter(|r| r.estimate.status == status)
            .count()
    };
    let count_mode = |mode: TrackingMode| {
        run.records
            .iter()
            .filter(|r| r.estimate.status == TrackingStatus::Tracking && r.estimate.mode == mode)
            .count()
    };
    // The run's ATE is its first tracking session's (the whole of
    // `estimate` when there is one world frame), already scored above.
    let ate = gt.map(|gt| {
        let first = session_metrics.first();
        let mut m = first
            .and_then(|s| s.ate.clone())
            .unwrap_or_else(|| ate_metrics(gt, estimate));
        let world_frames = sessions(run);
        if world_frames > 1 {
            m.notes.push(format!(
                "{} re-initializations in new world frames: only the first tracking session's {} poses are scored here (each session alone: sessions)",
                world_frames - 1,
                first.map_or(0, |s| s.frames_tracking)
            ));
        }
        m
    });
    let frames_tracking = count(TrackingStatus::Tracking);
    let tracked_share = share(frames_tracking);
    let faults: Vec<SensorFault> = run
        .records
        .iter()
        .flat_map(|r| r.faults.iter().copied())
        .collect();
    let mut degraded = fault_summary(&faults);
    degraded.extend(single_sensor_summary(&run.records));
    if tracked_share < TRACKED_SHARE_MIN {
        degraded.push(format!(
            "only {:.1} % of the frames tracked ({frames_tracking} of {frames})",
            100.0 * tracked_share
        ));
    }
    if session_metrics.len() > 1 {
        degraded.push(format!(
            "{} world frames (re-initialized from scratch): each session's poses in its own file ({}), scored alone",
            session_metrics.len(),
            session_metrics
                .iter()
                .map(|s| s.file.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    Ok(PipelineMetrics {
        cam_imu_time_offset_s: subject.camera_time_shift_s + run.time_offset_s,
        sequence: subject.name.clone(),
        mode: run.mode,
        config: config.clone(),
        pairs: run.pairs,
        frames,
        frames_tracking,
        frames_visual_only: count_mode(TrackingMode::Visual),
        frames_inertial_only: count_mode(TrackingMode::Inertial),
        drops: run.drops(),
        lost_frames: count(TrackingStatus::Lost),
        reinitializations: run
            .records
            .iter()
            .map(|r| r.estimate.session)
            .max()
            .unwrap_or(0)
            .saturating_sub(1) as usize,
        tracked_share,
        sessions: session_metrics,
        faults,
        degraded,
        keyframes: run.records.iter().filter(|r| r.estimate.keyframe).count(),
        imu_samples: run.imu_samples,
        wall_s: run.wall_ns as f64 * 1e-9,
        time_ms: StageTimes {
            frontend: per(&|r| ms(r.timing.frontend_ns)),
            backend: per(&|r| ms(r.timing.backend_ns)),
            total: per(&|r| ms(r.timing.frontend_ns.saturating_add(r.timing.backend_ns))),
        },
        latency_ms: per(&|r| ms(r.timing.latency_ns)),
        map: MapLatency::of(run),
        peak_rss_bytes: peak_rss_bytes(),
        ate,
        live: None,
        imu_rate: None,
        per_frame: run
            .records
            .iter()
            .map(|r| PipelineFrame {
                t_ns: r.t_ns,
                status: r.estimate.status,
                tracking_mode: r.estimate.mode,
                keyframe: r.estimate.keyframe,
                features: r.features,
                stereo: r.stereo,
                frontend_ms: ms(r.timing.frontend_ns),
                backend_ms: ms(r.timing.backend_ns),
                latency_ms: ms(r.timing.latency_ns),
            })
            .collect(),
    })
}

/// The process's peak resident set size, bytes: `VmHWM` of
/// `/proc/self/status`; `None` where that file does not exist (not Linux) or
/// does not say.
#[must_use]
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_status_bytes(&status, "VmHWM:")
}

/// Resident memory of the process now, bytes (`VmRSS` of
/// `/proc/self/status`; `None` where that file does not exist or does not
/// say).
#[must_use]
pub fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_status_bytes(&status, "VmRSS:")
}

/// `FIELD   1234 kB` of `/proc/self/status` -> bytes.
fn parse_status_bytes(status: &str, field: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with(field))?;
    let mut fields = line[field.len()..].split_whitespace();
    let value: u64 = fields.next()?.parse().ok()?;
    match fields.next() {
        Some("kB") => value.checked_mul(1024),
        _ => None,
    }
}

/// The sequence's ground truth as a trajectory (`None` when it has none).
///
/// # Errors
/// [`EvalError::InvalidTrajectory`] when its poses do not form a trajectory
/// (the reader checks their order and values, so this is a bug).
pub fn ground_truth_trajectory(ds: &EurocDataset) -> Result<Option<Trajectory>, EvalError> {
    let gt = ds.ground_truth();
    if gt.is_empty() {
        return Ok(None);
    }
    Trajectory::new(
        gt.iter().map(|s| s.t_ns).collect(),
        gt.iter().map(|s| s.world_from_body).collect(),
    )
    .map(Some)
}

/// World-frame sessions of a run (1 without re-initialization).
fn sessions(run: &PipelineRun) -> u32 {
    run.records
        .iter()
        .map(|r| r.estimate.session)
        .max()
        .unwrap_or(0)
}

/// The counted work of a pipeline run by stage (`frontend`, `backend`, and
/// `map` when a map was built), with the wall time each stage took: what
/// `scout replay` writes to `OUT/cost.json` and `scout cost` reads.
#[must_use]
pub fn pipeline_cost_report(source: &str, run: &PipelineRun) -> CostReport {
    let map = run.mapper.as_ref().map(|m| m.summary());
    let frames = run.records.len() as u64;
    let seconds = |f: fn(&RecordTiming) -> u64| {
        run.records.iter().map(|r| f(&r.timing) as f64).sum::<f64>() * 1e-9
    };
    let mut report = CostReport::new(source, frames);
    report.stages.push(StageReport::from_counts(
        "frontend",
        frames,
        "frame",
        seconds(|t| t.frontend_ns),
        &run.frontend_cost,
    ));
    report.stages.push(StageReport::from_counts(
        "backend",
        frames,
        "frame",
        seconds(|t| t.backend_ns),
        &run.backend_cost,
    ));
    if let Some(m) = map {
        report.stages.push(StageReport::from_counts(
            "map",
            m.keyframes as u64,
            "keyframe",
            m.wall_s,
            &m.cost,
        ));
    }
    report
}

#[cfg(test)]
mod tests {
    use nalgebra::{Isometry3, Translation3, UnitQuaternion};

    use super::*;

    #[test]
    fn vm_hwm_and_vm_rss_are_read_in_bytes() {
        let status = "Name:\tscout\nVmPeak:\t  20000 kB\nVmHWM:\t    1234 kB\nVmRSS:\t 1000 kB\n";
        assert_eq!(parse_status_bytes(status, "VmHWM:"), Some(1234 * 1024));
        assert_eq!(parse_status_bytes(status, "VmRSS:"), Some(1000 * 1024));
        assert_eq!(parse_status_bytes("VmHWM: lots\n", "VmHWM:"), None);
        assert_eq!(parse_status_bytes("Name: x\n", "VmHWM:"), None);
        if cfg!(target_os = "linux") {
            assert!(peak_rss_bytes().is_some_and(|b| b > 0));
            assert!(rss_bytes().is_some_and(|b| b > 0));
        }
    }

    fn circle(n: usize, offset: f64) -> Trajectory {
        let t = (0..n as i64).map(|k| 1_000 + k * 50_000_000).collect();
        let poses = (0..n)
            .map(|k| {
                let a = k as f64 * 0.1;
                Isometry3::from_parts(
                    Translation3::new(a.cos() + offset, a.sin(), 0.1 * a),
                    UnitQuaternion::from_euler_angles(0.0, 0.0, a),
                )
            })
            .collect();
        match Trajectory::new(t, poses) {
            Ok(t) => t,
            Err(e) => panic!("{e}"),
        }
    }

    /// A run's record: a frame at `k` 50 ms steps with a status and session,
    /// the body at `x` metres along x in that session's world.
    fn record(k: usize, status: TrackingStatus, session: u32, x: f64) -> PipelineRecord {
        let t_ns = 1_000 + k as i64 * 50_000_000;
        PipelineRecord {
            index: k,
            t_ns,
            features: 0,
            stereo: 0,
            tracks_digest: 0,
            estimate: vio::backend::Estimate {
                t_ns,
                imu_t_ns: t_ns,
                time_offset_s: 0.0,
                status,
                mode: vio::backend::TrackingMode::VisualInertial,
                world_from_body: Isometry3::translation(x, 0.0, 0.0),
                v_world: Vector3::zeros(),
                bias: datasets::ImuBias::default(),
                keyframe: false,
                tracked_landmarks: 0,
                session,
                iterations: 0,
                time_ns: 0,
            },
            faults: Vec::new(),
            timing: RecordTiming::default(),
            view: None,
        }
    }

    #[test]
    fn each_world_frame_is_a_session_of_its_own_file() {
        use TrackingStatus::{Initializing, Lost, Tracking};
        // Session 1 tracks frames 1-4 (a short loss at 3 keeps its frame),
        // is lost at 5-6, and session 2 tracks again from 9 in a new world
        // frame, 100 m away.
        let statuses = [
            (Initializing, 1),
            (Tracking, 1),
            (Tracking, 1),
            (Lost, 1),
            (Tracking, 1),
            (Lost, 1),
            (Lost, 1),
            (Initializing, 2),
            (Initializing, 2),
            (Tracking, 2),
            (Tracking, 2),
        ];
        let records: Vec<PipelineRecord> = statuses
            .iter()
            .enumerate()
            .map(|(k, &(status, session))| {
                record(
                    k,
                    status,
                    session,
                    100.0 * f64::from(session - 1) + k as f64,
                )
            })
            .collect();
        let sessions = session_trajectories(&records).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(sessions.len(), 2);
        assert_eq!(sessions[0].session, 1);
        assert_eq!(sessions[0].trajectory.len(), 3);
        assert_eq!(sessions[1].session, 2);
        assert_eq!(sessions[1].trajectory.len(), 2);
        // No file joins the two: the 100 m jump is between files only.
        for s in &sessions {
            let xs: Vec<f64> = s
                .trajectory
                .world_from_body()
                .iter()
                .map(|p| p.translation.vector.x)
                .collect();
            assert!(xs.windows(2).all(|w| (w[1] - w[0]).abs() < 5.0), "{xs:?}");
        }
        assert_eq!(session_file_name(0, 1), "trajectory.tum");
        assert_eq!(session_file_name(1, 2), "trajectory.session-2.tum");
        // Session 1 never tracked: the first tracking session is the main file's.
        assert_eq!(session_file_name(0, 2), "trajectory.tum");
        assert!(is_later_session_file("trajectory.session-2.tum"));
        assert!(is_later_session_file("trajectory.session-17.tum"));
        for other in [
            "trajectory.tum",
            "trajectory.session-.tum",
            "trajectory.session-2.tum.bak",
            "trajectory.session-x.tum",
            "my-trajectory.session-2.tum",
        ] {
            assert!(!is_later_session_file(other), "{other}");
        }
        // Nothing tracked: no session.
        let lost: Vec<PipelineRecord> = (0..3).map(|k| record(k, Lost, 1, 0.0)).collect();
        assert!(session_trajectories(&lost).is_ok_and(|s| s.is_empty()));
    }

    #[test]
    fn ate_metrics_score_both_alignments_and_explain_missing_ones() {
        let gt = circle(40, 0.0);
        // A shifted copy: both alignments remove the shift.
        let m = ate_metrics(&gt, &circle(40, 3.0));
        assert_eq!(m.matched_poses, 40);
        for figures in [m.se3, m.posyaw] {
            let Some(f) = figures else {
                panic!("{:?}", m.notes)
            };
            assert!(f.rmse_m < 1e-9 && f.max_m < 1e-9, "{f:?}");
        }
        assert!(m.notes.is_empty());
        // No tracking pose: no figures, a note.
        let m = ate_metrics(&gt, &Trajectory::default());
        assert_eq!((m.estimate_poses, m.matched_poses), (0, 0));
        assert!(m.se3.is_none() && m.posyaw.is_none());
        assert_eq!(m.notes.len(), 1);
        // Two poses: position+yaw works, SE(3) needs three.
        let two = match Trajectory::new(gt.t_ns()[..2].to_vec(), gt.world_from_body()[..2].to_vec())
        {
            Ok(t) => t,
            Err(e) => panic!("{e}"),
        };
        let m = ate_metrics(&gt, &two);
        assert!(m.se3.is_none() && m.posyaw.is_some(), "{m:?}");
        assert!(m.notes[0].starts_with("se3"), "{:?}", m.notes);
    }
}
