//! `scout run --config robot.toml --out OUT`: the pipeline on live sensors
//! (a V4L2 stereo camera and an IIO IMU, `[live]` in the file, see
//! `pipeline::robot`) until Ctrl-C (or `--seconds`), then the same outputs as
//! `scout replay` (trajectory, metrics, map, plots, cost), with the live
//! counts in `metrics.json` (`live`: pairs captured and dropped, IMU
//! samples late or dropped). Camera-to-pose latency (from the camera's time
//! stamp) is logged every few seconds and its quantiles written to
//! `metrics.json` (`latency_ms`).
//!
//! `--paced DIR` replays an EuRoC/ASL folder as live sensors (each pair and
//! sample released at its recorded time): the whole live path, queues and
//! drops included, without a device.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use datasets::euroc::EurocDataset;
use pipeline::live::{LiveSource, PacedReplay};
use pipeline::robot::{RobotConfig, open_live};
use pipeline::{EurocSource, PipelineMode, RunTaps, StreamEvent, run_pipeline_tapped};
use scout::eval::{Trajectory, read_tum};
use scout::replay::{ImuRateMetrics, RunSubject};

/// The most pairs `--paced` holds in memory (about 720 kB each at EuRoC's
/// size: 2.9 GB), longer than EuRoC's longest sequence.
const MAX_PACED_PAIRS: usize = 4000;

/// The poses at the IMU's rate (`[live.poses] file`), in the output folder.
const IMU_POSES: &str = "imu_poses.tum";

/// [`IMU_POSES`] while the run writes it (kept under this name when the
/// run fails: what the robot did up to then).
const IMU_POSES_PARTIAL: &str = "imu_poses.tum.partial";

/// Seconds between two latency lines in the log.
const LOG_EVERY_S: f64 = 5.0;

/// Where the live sensors come from (`scout run`, `scout record`).
#[derive(Debug, Args)]
pub struct LiveSourceArgs {
    /// The robot's configuration (TOML): `[live]` (devices, calibration) and
    /// the pipeline's sections.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Replay this EuRoC/ASL folder as live sensors instead of opening
    /// devices.
    #[arg(long, value_name = "DIR")]
    pub paced: Option<PathBuf>,
    /// Stop after this many seconds (default: at Ctrl-C, or the end of a
    /// paced recording).
    #[arg(long)]
    pub seconds: Option<f64>,
}

impl LiveSourceArgs {
    /// The robot's configuration (`--config`, or the defaults with
    /// `--paced`).
    ///
    /// # Errors
    /// Without either flag, or when the file is refused.
    pub(crate) fn robot(&self) -> anyhow::Result<RobotConfig> {
        anyhow::ensure!(
            self.config.is_some() || self.paced.is_some(),
            "give --config ROBOT.toml (the devices, see `pipeline::robot`) or --paced DIR (a \
             recording replayed as live sensors)"
        );
        Ok(match &self.config {
            Some(path) => RobotConfig::from_file(path)?,
            None => RobotConfig::default(),
        })
    }

    /// The live source ([`open_source`]).
    ///
    /// # Errors
    /// As [`open_source`].
    pub(crate) fn open(
        &self,
        robot: &RobotConfig,
    ) -> anyhow::Result<(LiveSource, Option<Trajectory>)> {
        open_source(robot, self.paced.as_deref(), self.seconds)
    }
}

/// Arguments of `scout run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Where the sensors come from.
    #[command(flatten)]
    pub source: LiveSourceArgs,
    /// Output folder (created).
    #[arg(long)]
    pub out: PathBuf,
    /// Keep this many threads spinning for the whole run: the latency with
    /// that much of the CPU taken (a measurement aid, as a robot's other
    /// work would).
    #[arg(long, default_value_t = 0)]
    pub load_threads: usize,
}

/// Runs `scout run`.
pub fn run(args: &RunArgs) -> anyhow::Result<()> {
    let robot = args.source.robot()?;
    super::prepare_output_folder(&args.out)?;
    let (mut source, ground_truth) = args.source.open(&robot)?;
    let spinning = Arc::new(AtomicBool::new(true));
    let load: Vec<_> = (0..args.load_threads)
        .map(|_| {
            let spinning = Arc::clone(&spinning);
            std::thread::spawn(move || {
                let mut x = 0u64;
                while spinning.load(Ordering::Relaxed) {
                    x = std::hint::black_box(
                        x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1),
                    );
                }
            })
        })
        .collect();
    // The poses at the IMU's rate: the IMU's thread and the back end's feed
    // the IMU-rate thread directly, not through the calling thread's sinks.
    let poses = &robot.live.poses;
    let partial = args.out.join(IMU_POSES_PARTIAL);
    let poses_path = args.out.join(IMU_POSES);
    let poses_name = poses_path.display().to_string();
    let imu_rate = {
        use pipeline::Source as _;
        poses.start(
            source.rig(),
            &robot.pipeline.health,
            poses
                .file
                .then_some((partial.as_path(), poses_name.as_str())),
        )?
    };
    source.tap_imu(imu_rate.samples());
    let taps = RunTaps {
        estimates: Some(imu_rate.estimates()),
    };
    println!("{}: running, Ctrl-C to stop", source_name(&source));
    let mut window: Vec<f64> = Vec::new();
    let mut last_log = Instant::now();
    let mut run = run_pipeline_tapped(
        &mut source,
        &robot.pipeline,
        PipelineMode::Live,
        &taps,
        |event| {
            if let StreamEvent::Frame(record) = event {
                window.push(record.timing.latency_ns as f64 * 1e-6);
                if last_log.elapsed().as_secs_f64() >= LOG_EVERY_S {
                    window.sort_by(f64::total_cmp);
                    let at = |q: f64| window[((window.len() - 1) as f64 * q).round() as usize];
                    tracing::info!(
                        "frame {}: camera to pose p50 {:.1} ms, p99 {:.1} ms over {} frames ({:?})",
                        record.index,
                        at(0.5),
                        at(0.99),
                        window.len(),
                        record.estimate.status
                    );
                    window.clear();
                    last_log = Instant::now();
                }
            }
        },
    )
    .with_context(|| format!("running {}", source_name(&source)))?;
    let imu_rate = imu_rate
        .finish()
        .context("the poses at the IMU's rate ([live.poses])")?;
    spinning.store(false, Ordering::Relaxed);
    for thread in load {
        let _ = thread.join();
    }
    let counts = source.counts();
    let subject = RunSubject {
        name: source_name(&source),
        ground_truth,
        camera_time_shift_s: source.camera_time_shift_ns() as f64 * 1e-9,
    };
    let ours = |name: &str| name == IMU_POSES || super::replay::is_replay_output(name);
    super::write_as_one(&args.out, &ours, || {
        let mut ate = None;
        if poses.file {
            std::fs::rename(&partial, &poses_path)
                .with_context(|| format!("renaming {} to {IMU_POSES}", partial.display()))?;
            if let Some(gt) = &subject.ground_truth
                && imu_rate.predictor.poses > 0
            {
                let written =
                    read_tum(&poses_path).with_context(|| format!("reading {poses_name}"));
                ate = Some(ImuRateMetrics::score(gt, &written?));
            }
        }
        let live = super::replay::LiveOutputs {
            counts,
            imu_rate: Some(ImuRateMetrics {
                output: imu_rate,
                horizon_s: poses.horizon_s,
                ate,
            }),
        };
        super::replay::write_outputs(
            &subject,
            &robot.pipeline,
            &mut run,
            &args.out,
            Some(live),
            None,
        )
    })?;
    Ok(())
}

/// The live source (`paced`: a folder replayed as live sensors, with its
/// ground truth on the replay's clock; otherwise the devices of `robot`),
/// stopped by Ctrl-C or after `seconds`.
pub(crate) fn open_source(
    robot: &RobotConfig,
    paced: Option<&std::path::Path>,
    seconds: Option<f64>,
) -> anyhow::Result<(LiveSource, Option<Trajectory>)> {
    if let Some(s) = seconds {
        anyhow::ensure!(
            s.is_finite() && s > 0.0,
            "--seconds must be positive, got {s}"
        );
    }
    let (source, ground_truth) = match paced {
        Some(dir) => paced_source(dir, robot)?,
        None => (open_live(robot)?, None),
    };
    let stopper = source.stopper();
    let on_signal = stopper.clone();
    ctrlc::set_handler(move || on_signal.stop()).context("installing the Ctrl-C handler")?;
    if let Some(s) = seconds {
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs_f64(s));
            stopper.stop();
        });
    }
    Ok((source, ground_truth))
}

pub(crate) fn source_name(source: &LiveSource) -> String {
    use pipeline::Source as _;
    source.name()
}

/// An EuRoC/ASL folder read into memory and replayed as live sensors, and
/// its ground truth on the replay's clock (when it has one).
fn paced_source(
    dir: &std::path::Path,
    robot: &RobotConfig,
) -> anyhow::Result<(LiveSource, Option<Trajectory>)> {
    let ds = EurocDataset::open(dir).with_context(|| format!("reading {}", dir.display()))?;
    ds.check_usable()
        .with_context(|| format!("{} cannot feed a visual-inertial run", dir.display()))?;
    let mut recorded = EurocSource::new(&ds, robot.pipeline.pipeline.imu_lead_ns());
    let replay = PacedReplay::record(&mut recorded, MAX_PACED_PAIRS)?;
    let rig = replay.rig().clone();
    let (camera, imu) = replay.start();
    let shift = camera.shift_ns();
    let ground_truth = RunSubject::of_dataset(&ds)?
        .ground_truth
        .map(|gt| {
            let t = gt.t_ns().iter().map(|t| t + shift).collect();
            Trajectory::new(t, gt.world_from_body().to_vec())
        })
        .transpose()?;
    let source = LiveSource::start(
        Box::new(camera),
        Box::new(imu),
        rig,
        robot.live_settings(0.0),
    )?;
    Ok((source, ground_truth))
}
