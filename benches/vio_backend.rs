//! The VIO back end on the same front-end tracks in the same run: the default
//! schedule (a frame tracked alone against the fixed window, the window solved
//! at keyframes) beside solving the whole window at every frame, the usual
//! sliding-window schedule (VINS-Mono, OKVIS). Accuracy first, then the time
//! per frame and its ratio.
//!
//! `cargo bench --bench vio_backend` (report only: `-- report-only`).
//!
//! Inputs, each decoded or rendered into memory once and run through the front
//! end once (its tracks and the IMU are then replayed into fresh back ends):
//! 1. synthetic, medium difficulty, seed [`SYNTH_SEED`], [`SYNTH_SECONDS`] s
//!    (hover included), with exact ground truth;
//! 2. the real EuRoC snippet `../shared/data/euroc/V1_01_easy_micro` (or the
//!    folder in `SCOUT_EUROC_MICRO`), when present.
//!
//! The machine is shared: compare the schedules within a run, not runs with
//! each other.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};
use datasets::euroc::EurocDataset;
use datasets::synth::{Difficulty, SynthConfig, SyntheticSequence};
use datasets::{GroundTruthState, ImuSample, RigCalibration, StereoFrame};
use nalgebra::Vector3;
use scout::eval::{Alignment, EvalOptions, Trajectory, evaluate};
use vio::backend::{BackEnd, BackEndConfig, TrackingStatus};
use vio::frontend::{FrameTracks, FrontEnd, FrontEndConfig};
use vio::imu::integrate_gyro;

/// Seed of the synthetic sequence.
const SYNTH_SEED: u64 = 3;
/// Its duration, s.
const SYNTH_SECONDS: f64 = 20.0;
/// Timed passes per schedule for the printed ratio (the fastest is kept).
const RATIO_PASSES: usize = 3;

type BoxError = Box<dyn std::error::Error>;

/// Front-end output and IMU of one sequence, ready to replay into back ends.
struct Recorded {
    name: String,
    rig: RigCalibration,
    imu: Vec<ImuSample>,
    tracks: Vec<FrameTracks>,
    truth: Vec<GroundTruthState>,
}

fn record(
    name: &str,
    rig: &RigCalibration,
    imu: &[ImuSample],
    truth: &[GroundTruthState],
    mut next_frame: impl FnMut(usize, &mut StereoFrame) -> Result<bool, BoxError>,
) -> Result<Recorded, BoxError> {
    let mut fe = FrontEnd::new(FrontEndConfig::default(), rig)?;
    let mut frame = StereoFrame {
        t_ns: 0,
        left: datasets::GrayImage::new(rig.cam0.width, rig.cam0.height),
        right: datasets::GrayImage::new(rig.cam1.width, rig.cam1.height),
    };
    let mut tracks = Vec::new();
    let mut prev_t: Option<i64> = None;
    let mut i = 0;
    while next_frame(i, &mut frame)? {
        let prior = prev_t.and_then(|t0| integrate_gyro(imu, t0, frame.t_ns, &Vector3::zeros()));
        tracks.push(fe.process(&frame, prior.as_ref())?.clone());
        prev_t = Some(frame.t_ns);
        i += 1;
    }
    Ok(Recorded {
        name: name.to_string(),
        rig: rig.clone(),
        imu: imu.to_vec(),
        tracks,
        truth: truth.to_vec(),
    })
}

fn synthetic() -> Result<Recorded, BoxError> {
    let cfg = SynthConfig {
        seed: SYNTH_SEED,
        duration_s: SYNTH_SECONDS,
        difficulty: Difficulty::Medium,
        ..SynthConfig::default()
    };
    let seq = SyntheticSequence::generate(&cfg)?;
    let n = seq.frame_count();
    record(
        &format!("synthetic medium seed {SYNTH_SEED}, {SYNTH_SECONDS} s"),
        &seq.calibration,
        &seq.imu,
        &seq.ground_truth,
        |i, frame| {
            if i >= n {
                return Ok(false);
            }
            seq.render_stereo(i, frame)?;
            Ok(true)
        },
    )
}

fn euroc() -> Option<Result<Recorded, BoxError>> {
    let dir = std::env::var_os("SCOUT_EUROC_MICRO").map_or_else(
        || PathBuf::from("../shared/data/euroc/V1_01_easy_micro"),
        PathBuf::from,
    );
    if !dir.is_dir() {
        println!("SKIPPED the EuRoC snippet: {} is absent", dir.display());
        return None;
    }
    Some((|| {
        let ds = EurocDataset::open(&dir)?;
        let n = ds.stereo_entries().len();
        record(
            "EuRoC V1_01_easy_micro",
            ds.calibration(),
            ds.imu(),
            ds.ground_truth(),
            |i, frame| {
                if i >= n {
                    return Ok(false);
                }
                ds.load_stereo_into(i, frame)?;
                Ok(true)
            },
        )
    })())
}

/// Replays the recorded tracks into a fresh back end; returns the tracked
/// poses and the back end's summed time.
fn replay(rec: &Recorded, config: &BackEndConfig) -> Result<(Trajectory, Duration), BoxError> {
    let mut be = BackEnd::new(config.clone(), &rec.rig)?;
    let mut next_imu = 0;
    let mut t = Vec::new();
    let mut poses = Vec::new();
    let mut spent = Duration::ZERO;
    for tracks in &rec.tracks {
        let start = Instant::now();
        while next_imu < rec.imu.len() && rec.imu[next_imu].t_ns <= tracks.t_ns {
            be.push_imu(&rec.imu[next_imu])?;
            next_imu += 1;
        }
        if next_imu < rec.imu.len() {
            be.push_imu(&rec.imu[next_imu])?;
            next_imu += 1;
        }
        let est = be.process(black_box(tracks))?;
        spent += start.elapsed();
        if est.status == TrackingStatus::Tracking {
            t.push(est.t_ns);
            poses.push(est.world_from_body);
        }
    }
    Ok((Trajectory::new(t, poses)?, spent))
}

fn schedules() -> [(&'static str, BackEndConfig); 2] {
    [
        (
            "track frames, solve the window at keyframes (default)",
            BackEndConfig::default(),
        ),
        (
            "solve the window at every frame",
            BackEndConfig {
                optimize_window_every_frame: true,
                ..BackEndConfig::default()
            },
        ),
    ]
}

fn report(recorded: &[Recorded]) -> Result<(), BoxError> {
    for rec in recorded {
        let truth = Trajectory::new(
            rec.truth.iter().map(|s| s.t_ns).collect(),
            rec.truth.iter().map(|s| s.world_from_body).collect(),
        )?;
        println!("\n{} ({} frames):", rec.name, rec.tracks.len());
        let mut times = Vec::new();
        for (name, config) in schedules() {
            let mut best = Duration::MAX;
            let mut trajectory = None;
            for _ in 0..RATIO_PASSES {
                let (traj, spent) = replay(rec, &config)?;
                best = best.min(spent);
                trajectory = Some(traj);
            }
            let Some(trajectory) = trajectory else {
                continue;
            };
            let ate = evaluate(
                &truth,
                &trajectory,
                &EvalOptions {
                    align: Alignment::Se3,
                    rpe_segments_m: Some(Vec::new()),
                    ..EvalOptions::default()
                },
            )?;
            let per_frame = best.as_secs_f64() * 1e3 / rec.tracks.len().max(1) as f64;
            println!(
                "  {name:<55} {per_frame:.3} ms/frame, ATE RMSE (se3) {:.2} mm over {} poses",
                ate.ate_trans_m.rmse * 1e3,
                ate.matched_poses
            );
            times.push(per_frame);
        }
        if let [fast, slow] = times[..] {
            println!(
                "  ratio: the default schedule is {:.2}x faster",
                slow / fast
            );
        }
    }
    Ok(())
}

fn vio_backend(c: &mut Criterion) {
    let mut recorded = Vec::new();
    match synthetic() {
        Ok(r) => recorded.push(r),
        Err(e) => println!("the synthetic sequence failed: {e}"),
    }
    match euroc() {
        Some(Ok(r)) => recorded.push(r),
        Some(Err(e)) => println!("the EuRoC snippet failed: {e}"),
        None => {}
    }
    if let Err(e) = report(&recorded) {
        println!("report failed: {e}");
    }
    let mut group = c.benchmark_group("vio_backend");
    group.sampling_mode(SamplingMode::Flat).sample_size(10);
    for rec in &recorded {
        for (name, config) in schedules() {
            let id = format!("{} / {}", rec.name, name);
            group.bench_function(id, |b| {
                b.iter(|| replay(rec, &config).map(|(t, _)| t.len()).unwrap_or(0));
            });
        }
    }
    group.finish();
}

criterion_group!(benches, vio_backend);
criterion_main!(benches);
