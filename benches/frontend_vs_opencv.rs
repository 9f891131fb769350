//! scout's front end beside OpenCV's (VINS-Fusion's feature tracker:
//! `goodFeaturesToTrack` + `calcOpticalFlowPyrLK`, see
//! `scout::opencv_baseline`), on the same frames in the same run: accuracy first,
//! then the time per stereo frame.
//!
//! `cargo bench --features opencv --bench frontend_vs_opencv` (needs Debian's
//! `libopencv-dev`, `libclang-dev` and `clang`; the first build of the `opencv`
//! crate takes several minutes). Without the feature only scout's side runs, so
//! the bench builds everywhere; `.ci/run` does not run it.
//!
//! Frames:
//! 1. synthetic, medium difficulty: [`SYNTH_FRAMES`] frames of flight from frame
//!    [`SYNTH_FIRST_FRAME`] of seed [`SYNTH_SEED`], rendered into memory once;
//!    accuracy against the world's ground truth (`scout::frontend_eval`);
//! 2. the real EuRoC snippet `../shared/data/euroc/V1_01_easy_micro` (or the
//!    folder in `SCOUT_EUROC_MICRO`), decoded into memory once, when present;
//!    track statistics only (no ground-truth flow).
//!
//! Timing: every tracker starts fresh on each pass (construction not timed) and
//! processes the whole sequence; time per frame is the pass's time divided by
//! its frames, so the first frame's full detection is included as it is in use.
//! OpenCV runs on one thread (`cv::setNumThreads(1)`), as does scout. The
//! machine is shared: compare trackers within a run, not runs with each other.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use datasets::euroc::EurocDataset;
use datasets::synth::{Difficulty, SynthConfig, SyntheticSequence};
use datasets::{ImuSample, RigCalibration, StereoFrame};
use nalgebra::{UnitQuaternion, Vector3};
use scout::frontend_eval::{
    FlowEvaluator, TrackObservation, TrackStatsCollector, TrackStatsConfig,
};
use vio::frontend::{FrontEnd, FrontEndConfig};
use vio::imu::integrate_gyro;

/// Seed of the synthetic sequence.
const SYNTH_SEED: u64 = 3;
/// First synthetic frame used (the hover ends at frame 30).
const SYNTH_FIRST_FRAME: usize = 30;
/// Synthetic frames used.
const SYNTH_FRAMES: usize = 60;
/// Timed passes per tracker for the printed ratio (the fastest is kept).
const RATIO_PASSES: usize = 3;

type BoxError = Box<dyn std::error::Error>;

/// A tracker under comparison.
trait Tracker {
    /// Tracks one stereo frame (with the raw gyro rotation since the previous
    /// one, for a tracker that uses it); its tracks replace `out`'s contents.
    fn track(&mut self, input: &Input, out: &mut Vec<TrackObservation>) -> Result<(), BoxError>;

    /// The last frame's time per step, `(name, ns)`.
    fn steps(&self) -> Vec<(&'static str, u64)>;
}

/// Makes a fresh tracker for a rig.
type MakeTracker = fn(&RigCalibration) -> Result<Box<dyn Tracker>, BoxError>;

/// scout's front end.
struct Scout(FrontEnd);

impl Tracker for Scout {
    fn track(&mut self, input: &Input, out: &mut Vec<TrackObservation>) -> Result<(), BoxError> {
        let tracks = self.0.process(&input.frame, input.gyro.as_ref())?;
        out.clear();
        out.extend(tracks.features.iter().map(|f| TrackObservation {
            id: f.id,
            left: f.left,
            right: f.right,
        }));
        Ok(())
    }

    fn steps(&self) -> Vec<(&'static str, u64)> {
        let t = &self.0.last().timing;
        vec![
            ("pyramids", t.pyramid_ns),
            ("temporal", t.tracking_ns),
            ("ransac", t.ransac_ns),
            ("detection", t.detection_ns),
            ("stereo", t.stereo_ns),
        ]
    }
}

fn scout_tracker(rig: &RigCalibration) -> Result<Box<dyn Tracker>, BoxError> {
    Ok(Box::new(Scout(FrontEnd::new(
        FrontEndConfig::default(),
        rig,
    )?)))
}

#[cfg(feature = "opencv")]
mod cv {
    use scout::opencv_baseline::{OpenCvConfig, OpenCvTracker};

    use super::*;

    /// The baseline with scout's feature count, spacing, levels and
    /// forward-backward threshold.
    pub fn config(share_pyramids: bool) -> OpenCvConfig {
        let ours = FrontEndConfig::default();
        OpenCvConfig {
            max_features: ours.max_features,
            pyramid_levels: ours.pyramid_levels as i32,
            min_distance_px: f64::from(ours.min_distance_px),
            max_backward_error_px: f64::from(ours.klt.max_fb_error_px),
            share_pyramids,
            ..OpenCvConfig::default()
        }
    }

    struct OpenCv(OpenCvTracker);

    impl Tracker for OpenCv {
        fn track(
            &mut self,
            input: &Input,
            out: &mut Vec<TrackObservation>,
        ) -> Result<(), BoxError> {
            let tracks = self.0.process(&input.frame)?;
            out.clear();
            out.extend_from_slice(tracks);
            Ok(())
        }

        fn steps(&self) -> Vec<(&'static str, u64)> {
            let s = self.0.last_stats();
            vec![
                ("load", s.load_ns),
                ("temporal", s.temporal_ns),
                ("detection", s.detection_ns),
                ("stereo", s.stereo_ns),
            ]
        }
    }

    /// VINS-Fusion's calls as they are.
    pub fn vins(_: &RigCalibration) -> Result<Box<dyn Tracker>, BoxError> {
        Ok(Box::new(OpenCv(OpenCvTracker::new(config(false))?)))
    }

    /// The same with each pyramid built once.
    pub fn shared_pyramids(_: &RigCalibration) -> Result<Box<dyn Tracker>, BoxError> {
        Ok(Box::new(OpenCv(OpenCvTracker::new(config(true))?)))
    }
}

/// The trackers compared, by name.
fn trackers() -> Vec<(&'static str, MakeTracker)> {
    #[allow(unused_mut)]
    let mut list: Vec<(&'static str, MakeTracker)> = vec![("scout", scout_tracker)];
    #[cfg(feature = "opencv")]
    {
        list.push(("opencv-vins", cv::vins));
        list.push(("opencv-shared-pyramids", cv::shared_pyramids));
    }
    #[cfg(not(feature = "opencv"))]
    println!("(built without the `opencv` feature: scout's front end only)");
    list
}

/// One pass over `frames` with a fresh tracker; calls `each(i, tracks)`.
/// Returns the mean time of each step, as a line to print.
fn run(
    make: MakeTracker,
    rig: &RigCalibration,
    frames: &[Input],
    mut each: impl FnMut(usize, &[TrackObservation]) -> Result<(), BoxError>,
) -> Result<String, BoxError> {
    let mut tracker = make(rig)?;
    let mut out = Vec::new();
    let mut sums: Vec<(&'static str, u64)> = Vec::new();
    for (i, frame) in frames.iter().enumerate() {
        tracker.track(frame, &mut out)?;
        each(i, &out)?;
        for (k, (name, ns)) in tracker.steps().into_iter().enumerate() {
            match sums.get_mut(k) {
                Some(sum) => sum.1 += ns,
                None => sums.push((name, ns)),
            }
        }
    }
    let n = frames.len().max(1) as f64;
    let steps: Vec<String> = sums
        .iter()
        .map(|(name, ns)| format!("{name} {:.2}", *ns as f64 / n * 1e-6))
        .collect();
    Ok(format!(
        "  steps (ms/frame, this pass) {}",
        steps.join(", ")
    ))
}

/// The fastest of [`RATIO_PASSES`] passes of each tracker (interleaved, so
/// that load on the machine hits all alike), per frame.
fn time_per_frame(
    list: &[(&'static str, MakeTracker)],
    rig: &RigCalibration,
    frames: &[Input],
) -> Result<Vec<Duration>, BoxError> {
    let mut best = vec![Duration::MAX; list.len()];
    for _ in 0..RATIO_PASSES {
        for ((_, make), best) in list.iter().zip(&mut best) {
            let mut tracker = make(rig)?;
            let mut out = Vec::new();
            let start = Instant::now();
            for frame in frames {
                tracker.track(frame, &mut out)?;
                black_box(&out);
            }
            *best = (*best).min(start.elapsed() / frames.len().max(1) as u32);
        }
    }
    Ok(best)
}

fn print_times(list: &[(&'static str, MakeTracker)], times: &[Duration]) {
    let ours = times.first().copied().unwrap_or_default();
    for ((name, _), t) in list.iter().zip(times) {
        println!(
            "  {name:<24} {:7.3} ms/frame  ({:.2}x scout's time)",
            t.as_secs_f64() * 1e3,
            t.as_secs_f64() / ours.as_secs_f64().max(1e-12)
        );
    }
}

/// A stereo frame and the raw gyro rotation since the previous one (zero bias,
/// as `scout replay --frontend-only` integrates it).
struct Input {
    frame: StereoFrame,
    gyro: Option<UnitQuaternion<f64>>,
}

/// Pairs frames with the gyro rotation between consecutive ones.
fn with_gyro(frames: Vec<StereoFrame>, imu: &[ImuSample]) -> Vec<Input> {
    let mut prev: Option<i64> = None;
    frames
        .into_iter()
        .map(|frame| {
            let gyro = prev.and_then(|t0| integrate_gyro(imu, t0, frame.t_ns, &Vector3::zeros()));
            prev = Some(frame.t_ns);
            Input { frame, gyro }
        })
        .collect()
}

struct Synthetic {
    seq: SyntheticSequence,
    frames: Vec<Input>,
}

fn synthetic() -> Result<Synthetic, BoxError> {
    let cfg = SynthConfig {
        seed: SYNTH_SEED,
        duration_s: (SYNTH_FIRST_FRAME + SYNTH_FRAMES) as f64 / 20.0 + 0.1,
        difficulty: Difficulty::Medium,
        ..SynthConfig::default()
    };
    let seq = SyntheticSequence::generate(&cfg)?;
    let mut frames = Vec::with_capacity(SYNTH_FRAMES);
    for i in SYNTH_FIRST_FRAME..SYNTH_FIRST_FRAME + SYNTH_FRAMES {
        let mut frame = seq.new_frame();
        seq.render_stereo(i, &mut frame)?;
        frames.push(frame);
    }
    let frames = with_gyro(frames, &seq.imu);
    Ok(Synthetic { seq, frames })
}

fn euroc() -> Result<Option<(RigCalibration, Vec<Input>)>, BoxError> {
    let path = std::env::var_os("SCOUT_EUROC_MICRO").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/euroc/V1_01_easy_micro"),
        PathBuf::from,
    );
    if !path.exists() {
        println!(
            "EuRoC snippet {} not found: skipping the real data",
            path.display()
        );
        return Ok(None);
    }
    let ds = EurocDataset::open(&path)?;
    let frames = (0..ds.stereo_entries().len())
        .map(|i| ds.load_stereo(i))
        .collect::<Result<Vec<_>, _>>()?;
    println!(
        "EuRoC snippet {}: {} stereo pairs",
        path.display(),
        frames.len()
    );
    let frames = with_gyro(frames, ds.imu());
    Ok(Some((ds.calibration().clone(), frames)))
}

/// Accuracy on the synthetic frames and statistics on EuRoC, then the ratio.
fn report(
    list: &[(&'static str, MakeTracker)],
    synth: &Synthetic,
    real: Option<&(RigCalibration, Vec<Input>)>,
) -> Result<(), BoxError> {
    let rig = &synth.seq.calibration;
    println!(
        "\n== synthetic medium, seed {SYNTH_SEED}, frames {}..{} ({} frames, 752x480)",
        SYNTH_FIRST_FRAME,
        SYNTH_FIRST_FRAME + SYNTH_FRAMES,
        synth.frames.len()
    );
    for (name, make) in list {
        let mut eval = FlowEvaluator::new(&synth.seq)?;
        let steps = run(*make, rig, &synth.frames, |i, tracks| {
            Ok(eval.add_frame(SYNTH_FIRST_FRAME + i, tracks)?)
        })?;
        println!("{name}:\n{}\n{steps}", eval.report());
    }
    let times = time_per_frame(list, rig, &synth.frames)?;
    println!("time per frame (fastest of {RATIO_PASSES} passes):");
    print_times(list, &times);

    if let Some((rig, frames)) = real {
        println!("\n== EuRoC V1_01_easy snippet ({} frames)", frames.len());
        for (name, make) in list {
            let mut stats = TrackStatsCollector::new(
                rig.cam0.width,
                rig.cam0.height,
                TrackStatsConfig::default(),
            )?;
            let steps = run(*make, rig, frames, |_, tracks| Ok(stats.add_frame(tracks)?))?;
            println!("{name}:\n{}\n{steps}", stats.statistics());
        }
        let times = time_per_frame(list, rig, frames)?;
        println!("time per frame (fastest of {RATIO_PASSES} passes):");
        print_times(list, &times);
    }
    println!();
    Ok(())
}

fn bench_group(
    c: &mut Criterion,
    group_name: &str,
    list: &[(&'static str, MakeTracker)],
    rig: &RigCalibration,
    frames: &[Input],
) {
    let mut group = c.benchmark_group(group_name);
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(10))
        .throughput(Throughput::Elements(frames.len() as u64));
    for (name, make) in list {
        group.bench_function(*name, |b| {
            b.iter_batched(
                || make(rig).unwrap_or_else(|e| panic!("{name}: {e}")),
                |mut tracker| {
                    let mut out = Vec::new();
                    for frame in frames {
                        if let Err(e) = tracker.track(frame, &mut out) {
                            panic!("{name}: {e}");
                        }
                    }
                    out
                },
                BatchSize::PerIteration,
            );
        });
    }
    group.finish();
}

fn frontend_vs_opencv(c: &mut Criterion) {
    let list = trackers();
    let synth = match synthetic() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("cannot make the synthetic frames: {e}");
            return;
        }
    };
    let real = match euroc() {
        Ok(real) => real,
        Err(e) => {
            eprintln!("cannot read the EuRoC snippet: {e}");
            None
        }
    };
    if let Err(e) = report(&list, &synth, real.as_ref()) {
        eprintln!("accuracy pass failed: {e}");
        return;
    }
    bench_group(
        c,
        "frontend/synthetic-medium",
        &list,
        &synth.seq.calibration,
        &synth.frames,
    );
    if let Some((rig, frames)) = &real {
        bench_group(c, "frontend/euroc-V1_01_easy-snippet", &list, rig, frames);
    }
}

criterion_group!(benches, frontend_vs_opencv);
criterion_main!(benches);
