//! Replaying a recorded sequence through the pipeline's stages, step by step.
//!
//! [`replay_frontend`] runs only the VIO front end over an EuRoC/ASL sequence
//! (what `scout replay DIR --out OUT --frontend-only` does): each stereo pair is
//! decoded into a reused frame, the gyro rotation since the previous pair
//! (integrated with zero bias: the front end alone has no bias estimate) is
//! handed over with it, and per frame the
//! feature counts, the wall time of each step and the counted work of each
//! kernel are recorded. The result serializes to `metrics.json`.

use cost::CostLedger;
use datasets::euroc::EurocDataset;
use datasets::{DatasetError, StereoFrame};
use nalgebra::Vector3;
use serde::Serialize;
use vio::frontend::{FrameStats, FrameTiming, FrameTracks, FrontEnd, FrontEndConfig};

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
