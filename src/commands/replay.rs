//! `scout replay DIR --out OUT [--config FILE] [--realtime [SPEED]]`: run the
//! VIO pipeline (front end and back end on their threads) over an EuRoC/ASL
//! sequence; write the `Tracking` poses to `OUT/trajectory.tum` and the run's
//! figures (and ATE when the sequence has ground truth) to `OUT/metrics.json`,
//! the plots (`trajectory.png`, `ate.png`, `timing.png`, see `scout::plots`)
//! and the counted work to `OUT/cost.json`.
//! With `--frontend-only`, the front end alone and its per-frame figures.
//!
//! `scout replay BAG.mcap --calib PATH --out OUT`: the same over a ROS 2 bag
//! (see [`BagArgs`] and [`open_input`]: the calibration comes from outside,
//! the topics are named or found by type).

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use datasets::euroc::{EurocDataset, read_camera_sensor_yaml, read_imu_yaml, read_kalibr_rig};
use datasets::model::RigCalibration;
use datasets::rosbag::schema::MessageKind;
use datasets::rosbag::{BagOptions, BagReport, BagTopicNames};
use pipeline::{EurocSource, PipelineConfig, PipelineMode, StreamEvent, run_pipeline};
use scout::eval::write_tum;
use scout::replay::{
    AteFigures, PipelineMetrics, RunSubject, is_later_session_file, pipeline_cost_report,
    pipeline_metrics, replay_frontend, session_file_name, session_trajectories,
    tracking_trajectory,
};

use super::view::Viewer;

/// Arguments of `scout replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// Sequence folder (the one holding `mav0/`), or a ROS 2 bag (an MCAP
    /// file: `.mcap`, or found by its magic bytes; needs `--calib`).
    #[arg(value_name = "SEQUENCE|BAG")]
    pub input: PathBuf,
    /// Output folder (created).
    #[arg(long)]
    pub out: PathBuf,
    /// Run only the front end (corners, KLT, stereo) and write its figures.
    #[arg(long, conflicts_with = "realtime")]
    pub frontend_only: bool,
    /// Pipeline configuration (TOML; see `pipeline::config`).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Release the frames at their sensor times (divided by SPEED, default 1)
    /// by the wall clock and drop those the front end has no room for, as a
    /// live camera would; without it every frame is processed and the output
    /// is the same on every run.
    #[arg(long, value_name = "SPEED", num_args = 0..=1, default_missing_value = "1")]
    pub realtime: Option<f64>,
    /// Do not count operations and traffic (no `cost.json`): what counting
    /// costs is the difference in time.
    #[arg(long)]
    pub no_cost: bool,
    /// Where a Rerun recording of the run goes.
    #[command(flatten)]
    pub view: super::view::ViewerArgs,
    /// For a bag: its calibration and topics.
    #[command(flatten)]
    pub bag: BagArgs,
}

/// Runs `scout replay`.
pub fn run(args: &ReplayArgs) -> anyhow::Result<()> {
    let mode = match args.realtime {
        None => PipelineMode::Deterministic,
        Some(speed) => {
            anyhow::ensure!(
                speed.is_finite() && speed > 0.0,
                "--realtime SPEED must be a positive number, got {speed}"
            );
            PipelineMode::RealTime { speed }
        }
    };
    let config = match &args.config {
        Some(path) => PipelineConfig::from_file(path)?,
        None => PipelineConfig::default(),
    };
    let (ds, camera_time_shift_s) = open_input(&args.input, &args.bag)?;
    if !args.frontend_only {
        ds.check_usable().with_context(|| {
            format!("{} cannot feed a visual-inertial run", args.input.display())
        })?;
    }
    super::prepare_output_folder(&args.out)?;
    if args.frontend_only {
        anyhow::ensure!(
            !args.view.wanted(),
            "--frontend-only writes no recording; leave out --rrd, --connect and --spawn"
        );
        run_frontend_only(args, &ds, &config)
    } else {
        cost::set_counting(!args.no_cost);
        let mut viewer = args.view.open(true, config.map.enabled, &[])?;
        run_full_with(
            &ds,
            camera_time_shift_s,
            &config,
            mode,
            &args.out,
            viewer.as_mut(),
        )?;
        if let Some(v) = viewer {
            v.finish()?;
            if let Some(path) = &args.view.rrd {
                println!("wrote {} (rerun {})", path.display(), path.display());
            }
        }
        Ok(())
    }
}

/// The whole pipeline over `ds`, the map built online from its keyframes
/// (unless `[map] enabled = false`): writes `out/trajectory.tum`,
/// `out/metrics.json`, the map (`out/map.bin`, `map.png`, `map.ply`,
/// `map.json`), the plots and `out/cost.json`; shows the run to `viewer` as
/// it goes; prints a summary, returns the metrics.
pub(crate) fn run_full(
    ds: &EurocDataset,
    config: &PipelineConfig,
    mode: PipelineMode,
    out: &Path,
    viewer: Option<&mut Viewer>,
) -> anyhow::Result<PipelineMetrics> {
    run_full_with(ds, 0.0, config, mode, out, viewer)
}

/// [`run_full`] over a sequence whose camera stamps were shifted by
/// `camera_time_shift_s` onto the IMU's clock when it was read (a bag with
/// Kalibr's `timeshift_cam_imu`; said in `metrics.json`).
fn run_full_with(
    ds: &EurocDataset,
    camera_time_shift_s: f64,
    config: &PipelineConfig,
    mode: PipelineMode,
    out: &Path,
    mut viewer: Option<&mut Viewer>,
) -> anyhow::Result<PipelineMetrics> {
    let mut config = config.clone();
    if let Some(v) = viewer.as_deref() {
        v.start_sequence(ds.calibration())?;
        config.pipeline.views = true;
        config.pipeline.view_images_every = v.images_every();
    }
    let config = &config;
    let bar = super::progress(ds.stereo_entries().len() as u64, "pipeline");
    let mut view_error = None;
    let mut source = EurocSource::new(ds, config.pipeline.imu_lead_ns());
    let mut run = run_pipeline(&mut source, config, mode, |event| {
        if let StreamEvent::Frame(record) = &event {
            bar.set_position(record.index as u64 + 1);
        }
        if let Some(v) = viewer.as_deref_mut()
            && view_error.is_none()
            && let Err(e) = match event {
                StreamEvent::Frame(record) => v.record(record),
                StreamEvent::Keyframe(record) => v.keyframe(record),
            }
        {
            view_error = Some(e);
        }
    })
    .with_context(|| format!("replaying {}", ds.mav0().display()))?;
    bar.finish_and_clear();
    if let Some(e) = view_error {
        return Err(e.context("recording the run"));
    }
    // The run is one thing: what an earlier replay wrote into `out` goes
    // before anything of this one is written, and what this one wrote goes
    // too if a write fails.
    let mut subject = RunSubject::of_dataset(ds)?;
    subject.camera_time_shift_s = camera_time_shift_s;
    let m = super::write_as_one(out, &is_replay_output, || {
        write_outputs(&subject, config, &mut run, out, None, viewer)
    })?;
    // A replay is for a trajectory: without one it failed, whatever else it
    // wrote (kept, to see why).
    anyhow::ensure!(
        m.frames_tracking > 0,
        "no frame of {} tracked ({} frames processed): {} has no pose (see {})",
        m.sequence,
        m.frames,
        out.join("trajectory.tum").display(),
        out.join("metrics.json").display()
    );
    Ok(m)
}

/// Writes a finished run's outputs into `out` (see [`run_full`]) and prints
/// its summary.
#[allow(clippy::too_many_lines, reason = "the summary reads best in one piece")]
/// What only a live run has for its outputs.
pub(crate) struct LiveOutputs {
    /// The live source's counts.
    pub counts: pipeline::live::LiveCounts,
    /// The poses at the IMU's rate, when they were made.
    pub imu_rate: Option<scout::replay::ImuRateMetrics>,
}

pub(crate) fn write_outputs(
    subject: &RunSubject,
    config: &PipelineConfig,
    run: &mut pipeline::PipelineRun,
    out: &Path,
    live: Option<LiveOutputs>,
    viewer: Option<&mut Viewer>,
) -> anyhow::Result<PipelineMetrics> {
    let trajectory = tracking_trajectory(run).context("the back end's trajectory")?;
    // One file per world frame: the first tracking session in
    // `trajectory.tum`, each later one beside it.
    let sessions = session_trajectories(&run.records).context("the back end's sessions")?;
    let tum = out.join("trajectory.tum");
    if sessions.is_empty() {
        write_tum(&tum, &trajectory)?;
    }
    for (i, s) in sessions.iter().enumerate() {
        write_tum(out.join(session_file_name(i, s.session)), &s.trajectory)?;
    }
    let mut metrics = pipeline_metrics(subject, config, run, &trajectory)?;
    if let Some(live) = live {
        metrics.live = Some(live.counts);
        metrics.imu_rate = live.imu_rate;
    }
    let path = out.join("metrics.json");
    let json = serde_json::to_string_pretty(&metrics)?;
    pipeline::error::write_atomically(&path, json.as_bytes())?;

    let m = &metrics;
    let mode_text = match m.mode {
        PipelineMode::Deterministic => "deterministic".to_string(),
        PipelineMode::RealTime { speed } => format!("real time x{speed}"),
        PipelineMode::Live => "live".to_string(),
    };
    println!(
        "{}: {} of {} frames processed ({mode_text}), {} dropped",
        m.sequence, m.frames, m.pairs, m.drops
    );
    for reason in &m.degraded {
        println!("  DEGRADED         {reason}");
    }
    if let Some(l) = &m.live {
        println!(
            "  live             {} pairs captured, {} replaced by a newer one before the front end \
             took them, {} lost by the camera, {} corrupt, {} late for the IMU, {} IMU samples \
             dropped",
            l.pairs_captured,
            l.pairs_dropped,
            l.camera_lost,
            l.bad_frames,
            l.imu_late,
            l.imu_dropped
        );
    }
    if let Some(r) = &m.imu_rate {
        let o = &r.output;
        let latency = o.latency_ms.map_or(String::new(), |l| {
            format!(", sample to pose p50 {:.2} ms, p99 {:.2} ms", l.p50, l.p99)
        });
        let ate = r
            .ate
            .as_ref()
            .and_then(|a| a.se3.as_ref())
            .map_or(String::new(), |f| {
                format!(", ATE {:.1} mm (SE(3))", f.rmse_m * 1e3)
            });
        println!(
            "  IMU rate         {} poses at {:.0} Hz{latency}{ate}; {} samples without a tracking \
             estimate, {} past the {:.2} s horizon, {} after an IMU gap, {} dropped",
            o.predictor.poses,
            o.rate_hz,
            o.predictor.without_estimate,
            o.predictor.beyond_horizon,
            r.horizon_s,
            o.predictor.after_gap,
            o.samples_dropped
        );
    }
    println!(
        "  tracking         {} frames ({:.1} %), {} keyframes, {} frames lost, {} re-initializations",
        m.frames_tracking,
        100.0 * m.tracked_share,
        m.keyframes,
        m.lost_frames,
        m.reinitializations
    );
    for (name, q) in [
        ("front end", &m.time_ms.frontend),
        ("back end", &m.time_ms.backend),
        ("latency", &m.latency_ms),
    ] {
        println!(
            "  {name:<16} median {:.2} ms, p90 {:.2} ms, max {:.2} ms",
            q.median, q.p90, q.max
        );
    }
    match &m.ate {
        None => println!("  ATE              no ground truth in the sequence"),
        Some(ate) => {
            let text = |f: &Option<AteFigures>| {
                f.map_or_else(|| "-".to_string(), |f| format!("{:.4} m", f.rmse_m))
            };
            println!(
                "  ATE (rmse)       se3 {}, posyaw {} over {} matched poses",
                text(&ate.se3),
                text(&ate.posyaw),
                ate.matched_poses
            );
            if let Some(d) = ate.drift_from_start_m {
                println!("  drift            {d:.4} m at the end, aligned at the first pose only");
            }
            for note in &ate.notes {
                println!("                   ({note})");
            }
        }
    }
    if m.sessions.len() > 1 {
        let t0_ns = m.per_frame.first().map_or(0, |f| f.t_ns);
        for s in &m.sessions {
            let ate = s
                .ate
                .as_ref()
                .and_then(|a| a.se3)
                .map_or_else(|| "-".to_string(), |f| format!("{:.4} m", f.rmse_m));
            println!(
                "  session {:<8} {} frames ({:.1} %), {:.2}-{:.2} s, ATE se3 {ate}: {}",
                s.session,
                s.frames_tracking,
                100.0 * s.share_of_frames,
                (s.first_t_ns - t0_ns) as f64 * 1e-9,
                (s.last_t_ns - t0_ns) as f64 * 1e-9,
                s.file
            );
        }
    }
    if let Some(bytes) = m.peak_rss_bytes {
        println!("  peak memory      {:.1} MB", bytes as f64 * 1e-6);
    }
    println!("wrote {} and {}", tum.display(), path.display());
    let gt = subject.ground_truth.as_ref();
    // Scored and plotted: the first tracking session (`trajectory.tum`).
    let scored = sessions
        .first()
        .map_or_else(|| trajectory.clone(), |s| s.trajectory.clone());
    let plots = scout::plots::write_replay_plots(out, gt, &scored, run)?;
    if let Some(v) = viewer {
        let aligned = gt.and_then(|g| scout::plots::align_for_plots(g, &scored));
        v.finish_run(run, gt, aligned.as_ref())?;
    }
    let names: Vec<String> = plots
        .iter()
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    println!("wrote {}/{}", out.display(), names.join(", "));
    if let Some(mapper) = run.mapper.as_mut() {
        let s = mapper.write(out).context("writing the map")?;
        println!(
            "  map (online)     {} keyframes ({} skipped, {} dropped), {} points, {} cell updates; stereo {:.1} ms, insertion {:.1} ms per keyframe (median)",
            s.keyframes,
            s.keyframes_skipped,
            s.keyframes_dropped,
            s.points,
            s.cell_updates,
            s.stereo_ms_median,
            s.insert_ms_median
        );
        if let Some(l) = &m.map {
            println!(
                "                   keyframe to map median {:.1} ms, p99 {:.1} ms (camera to pose median {:.1} ms, p99 {:.1} ms)",
                l.keyframe_to_map_ms.median,
                l.keyframe_to_map_ms.p99,
                m.latency_ms.median,
                m.latency_ms.p99
            );
        }
        println!(
            "                   {} occupied and {} free cells, {:.3} bytes per allocated cell, {:.1} kB on disk",
            s.occupied_cells,
            s.free_cells,
            s.bytes_per_cell,
            s.file_bytes as f64 * 1e-3
        );
        if s.bricks > 0 {
            println!(
                "wrote {}/map.bin, map.png (z = {:.2} +- {:.2} m), map.ply and map.json",
                out.display(),
                s.slice_height_m,
                0.5 * config.map.png_band_m
            );
        } else {
            println!("wrote {}/map.bin (empty) and map.json", out.display());
        }
    }
    if cost::counting() {
        let cost_path = out.join("cost.json");
        let command = if m.live.is_some() { "run" } else { "replay" };
        pipeline_cost_report(&format!("scout {command} {}", m.sequence), run).write(&cost_path)?;
        println!(
            "wrote {} (scout cost {} --hw rpi4|rpi5|accel)",
            cost_path.display(),
            cost_path.display()
        );
    } else {
        println!("  cost             not counted (--no-cost)");
    }
    Ok(metrics)
}

/// The files a replay writes into its output folder (besides the
/// later-session trajectories, `trajectory.session-N.tum`).
const REPLAY_FILES: [&str; 6] = [
    "trajectory.tum",
    "metrics.json",
    "trajectory.png",
    "ate.png",
    "timing.png",
    "cost.json",
];

/// Whether a replay writes the file `name` ([`REPLAY_FILES`], the map's
/// files, the later-session trajectories).
pub(crate) fn is_replay_output(name: &str) -> bool {
    is_later_session_file(name)
        || REPLAY_FILES.contains(&name)
        || pipeline::stages::MAP_FILES.contains(&name)
}

/// The front end alone, as before the back end existed.
fn run_frontend_only(
    args: &ReplayArgs,
    ds: &EurocDataset,
    config: &PipelineConfig,
) -> anyhow::Result<()> {
    let bar = super::progress(ds.stereo_entries().len() as u64, "front end");
    let metrics = replay_frontend(ds, &config.frontend, |i, _, _| {
        bar.set_position(i as u64 + 1)
    })
    .with_context(|| format!("replaying {}", args.input.display()))?;
    bar.finish_and_clear();
    let path = args.out.join("metrics.json");
    let json = serde_json::to_string_pretty(&metrics)?;
    std::fs::write(&path, json).with_context(|| format!("writing {}", path.display()))?;
    let s = &metrics.summary;
    println!(
        "{}: {} frames ({} skipped)",
        metrics.sequence, s.frames, s.frames_skipped
    );
    println!(
        "  features/frame   mean {:.1}, min {:.0}; with stereo mean {:.1}",
        s.features.mean, s.features.min, s.stereo.mean
    );
    println!(
        "  track length     median {:.1} frames per observation, {:.1} per track",
        s.tracks.median_length_per_observation, s.tracks.median_length_per_track
    );
    println!(
        "  time/frame       median {:.2} ms, p90 {:.2} ms, max {:.2} ms",
        s.time_ms.median, s.time_ms.p90, s.time_ms.max
    );
    let (ops, main): (f64, f64) = s.cost_per_frame.iter().fold((0.0, 0.0), |(o, m), k| {
        (o + k.ops_per_frame, m + k.main_bytes_per_frame)
    });
    println!(
        "  counted/frame    {:.2} M ops, {:.2} MB main-memory traffic; working memory {:.2} MB",
        ops * 1e-6,
        main * 1e-6,
        s.working_memory_bytes as f64 * 1e-6
    );
    println!("wrote {}", path.display());
    Ok(())
}

/// Where a ROS 2 bag's calibration and topics come from (`scout replay` and
/// `scout convert`): a bag carries no calibration.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "ROS 2 bags (MCAP)")]
pub struct BagArgs {
    /// The rig's calibration: an ASL folder (`cam0/`, `cam1/` and `imu0/`
    /// with their `sensor.yaml`, or the folder holding `mav0/`), a folder of
    /// Kalibr's results (`camchain*.yaml`, `camchain-imucam*.yaml` first, and
    /// `imu*.yaml`), or Kalibr's camchain file with `--calib-imu`.
    #[arg(long, value_name = "PATH")]
    pub calib: Option<PathBuf>,
    /// Kalibr's IMU file (noise densities, `update_rate`), with `--calib
    /// camchain.yaml` (or to choose one in a Kalibr folder).
    #[arg(long, value_name = "FILE", requires = "calib")]
    pub calib_imu: Option<PathBuf>,
    /// The cameras' frame rate, Hz (for the camera gap check). Default:
    /// `sensor.yaml`'s `rate_hz`; Kalibr's files have none: the median
    /// interval between the bag's stereo pairs.
    #[arg(long, value_name = "HZ", value_parser = parse_rate)]
    pub rate: Option<f64>,
    /// The left camera's `sensor_msgs/msg/Image` topic (default: found by
    /// type, `left`/`cam0`/`infra1` in its name, else name order).
    #[arg(long, value_name = "TOPIC")]
    pub cam0_topic: Option<String>,
    /// The right camera's `sensor_msgs/msg/Image` topic (default: as
    /// `--cam0-topic`).
    #[arg(long, value_name = "TOPIC")]
    pub cam1_topic: Option<String>,
    /// The `sensor_msgs/msg/Imu` topic (default: the bag's only one).
    #[arg(long, value_name = "TOPIC")]
    pub imu_topic: Option<String>,
    /// A `geometry_msgs/msg/PoseStamped` topic of ground truth (the body in
    /// the world). Default: `/ground_truth` if the bag has it with that type
    /// (as `scout convert` writes it), else none.
    #[arg(long, value_name = "TOPIC")]
    pub gt_topic: Option<String>,
}

fn parse_rate(s: &str) -> Result<f64, String> {
    super::parse_number_in(s, 0.1..=1e4, "a frame rate from 0.1 to 10000 Hz")
}

impl BagArgs {
    /// The bag options given (for a message refusing them).
    fn given(&self) -> Vec<&'static str> {
        let mut flags = Vec::new();
        for (flag, given) in [
            ("--calib", self.calib.is_some()),
            ("--calib-imu", self.calib_imu.is_some()),
            ("--rate", self.rate.is_some()),
            ("--cam0-topic", self.cam0_topic.is_some()),
            ("--cam1-topic", self.cam1_topic.is_some()),
            ("--imu-topic", self.imu_topic.is_some()),
            ("--gt-topic", self.gt_topic.is_some()),
        ] {
            if given {
                flags.push(flag);
            }
        }
        flags
    }

    /// Refuses the bag options for an input that is not a bag: silently
    /// ignoring a calibration would mislead.
    ///
    /// # Errors
    /// Naming the options and the input.
    pub(crate) fn ensure_unused(&self, input: &Path) -> anyhow::Result<()> {
        let given = self.given();
        anyhow::ensure!(
            given.is_empty(),
            "{}: for a ROS 2 bag only; {} is a sequence folder, whose calibration is in its \
             sensor.yaml files",
            given.join(", "),
            input.display()
        );
        Ok(())
    }
}

/// The first bytes of every MCAP file.
const MCAP_MAGIC: &[u8; 8] = b"\x89MCAP0\r\n";

/// The MCAP file `input` names, if it names a bag: a file ending in `.mcap`
/// or starting with MCAP's magic bytes, or a rosbag2 folder
/// (`metadata.yaml` beside one `.mcap` file); `None` for anything else (a
/// sequence folder, or nothing: the folder reader says what is missing).
///
/// # Errors
/// For a file that is not an MCAP file, a rosbag2 folder without exactly
/// one `.mcap` file, or an unreadable file; each naming it.
pub(crate) fn bag_path(input: &Path) -> anyhow::Result<Option<PathBuf>> {
    let is_mcap_name = |p: &Path| {
        p.extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("mcap"))
    };
    if input.is_dir() {
        if !input.join("metadata.yaml").is_file() || input.join("mav0").is_dir() {
            return Ok(None);
        }
        let mut bags = Vec::new();
        for entry in
            std::fs::read_dir(input).with_context(|| format!("listing {}", input.display()))?
        {
            let path = entry
                .with_context(|| format!("listing {}", input.display()))?
                .path();
            if path.is_file() && is_mcap_name(&path) {
                bags.push(path);
            }
        }
        bags.sort();
        return match bags.as_slice() {
            [one] => Ok(Some(one.clone())),
            [] => anyhow::bail!(
                "{} is a rosbag2 folder (metadata.yaml) without an .mcap file: only MCAP \
                 storage is read (not sqlite3)",
                input.display()
            ),
            _ => anyhow::bail!(
                "{} is a rosbag2 folder of {} .mcap files (a split bag): give one of them",
                input.display(),
                bags.len()
            ),
        };
    }
    if is_mcap_name(input) {
        return Ok(Some(input.to_path_buf()));
    }
    if input.is_file() {
        use std::io::Read as _;
        let mut magic = Vec::with_capacity(MCAP_MAGIC.len());
        std::fs::File::open(input)
            .and_then(|f| f.take(MCAP_MAGIC.len() as u64).read_to_end(&mut magic))
            .with_context(|| format!("reading {}", input.display()))?;
        anyhow::ensure!(
            magic == MCAP_MAGIC,
            "{} is a file but not an MCAP file (it does not start with MCAP's magic bytes): \
             give a sequence folder or a ROS 2 bag in MCAP (ROS 1 bags are not read)",
            input.display()
        );
        return Ok(Some(input.to_path_buf()));
    }
    Ok(None)
}

/// Opens the input of `scout replay` or `scout convert`: a sequence folder
/// (`bag` must then be empty) or a ROS 2 bag ([`open_bag`]). Returns the
/// dataset and the shift its camera stamps were given onto the IMU's
/// clock, s.
///
/// # Errors
/// Naming the input, or the calibration file at fault.
pub(crate) fn open_input(input: &Path, bag: &BagArgs) -> anyhow::Result<(EurocDataset, f64)> {
    if let Some(path) = bag_path(input)? {
        open_bag(&path, bag)
    } else {
        bag.ensure_unused(input)?;
        let ds =
            EurocDataset::open(input).with_context(|| format!("reading {}", input.display()))?;
        Ok((ds, 0.0))
    }
}

/// Where a bag's calibration is.
#[derive(Debug, Clone)]
enum CalibrationFiles {
    /// An ASL folder: `cam0/sensor.yaml`, `cam1/sensor.yaml`,
    /// `imu0/sensor.yaml` in it.
    Asl(PathBuf),
    /// Kalibr's camchain and IMU files.
    Kalibr { camchain: PathBuf, imu: PathBuf },
}

impl std::fmt::Display for CalibrationFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Asl(dir) => write!(f, "{}/{{cam0,cam1,imu0}}/sensor.yaml", dir.display()),
            Self::Kalibr { camchain, imu } => {
                write!(f, "{} and {} (Kalibr)", camchain.display(), imu.display())
            }
        }
    }
}

/// What `--calib` (and `--calib-imu`) name; see [`BagArgs::calib`].
fn calibration_files(args: &BagArgs, bag: &Path) -> anyhow::Result<CalibrationFiles> {
    let Some(calib) = &args.calib else {
        anyhow::bail!(
            "{} is a ROS 2 bag, which carries no calibration: give --calib PATH (an ASL folder \
             with cam0/, cam1/ and imu0/sensor.yaml; a folder of Kalibr's camchain*.yaml and \
             imu*.yaml; or Kalibr's camchain.yaml with --calib-imu imu.yaml)",
            bag.display()
        );
    };
    if calib.is_file() {
        let Some(imu) = &args.calib_imu else {
            anyhow::bail!(
                "--calib {} is a file, read as Kalibr's camchain: give the IMU's file with \
                 --calib-imu imu.yaml",
                calib.display()
            );
        };
        return Ok(CalibrationFiles::Kalibr {
            camchain: calib.clone(),
            imu: imu.clone(),
        });
    }
    anyhow::ensure!(
        calib.is_dir(),
        "--calib {}: no such file or folder",
        calib.display()
    );
    for dir in [calib.clone(), calib.join("mav0")] {
        if dir.join("cam0").join("sensor.yaml").is_file() {
            anyhow::ensure!(
                args.calib_imu.is_none(),
                "--calib-imu goes with Kalibr's camchain; --calib {} is an ASL folder (its IMU \
                 is imu0/sensor.yaml)",
                calib.display()
            );
            return Ok(CalibrationFiles::Asl(dir));
        }
    }
    let yaml = yaml_files(calib)?;
    let starting = |prefix: &str| -> Vec<PathBuf> {
        yaml.iter()
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(prefix))
            })
            .cloned()
            .collect()
    };
    let list = |paths: &[PathBuf]| {
        paths
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    // Kalibr's camera-IMU run writes `camchain-imucam-NAME.yaml` (with
    // `T_cam_imu`) beside the cameras-only `camchain-NAME.yaml`.
    let imucam = starting("camchain-imucam");
    let camchains = if imucam.is_empty() {
        starting("camchain")
    } else {
        imucam
    };
    let camchain = match camchains.as_slice() {
        [one] => one.clone(),
        [] => anyhow::bail!(
            "--calib {} holds neither cam0/sensor.yaml (an ASL folder, or one holding mav0/) \
             nor Kalibr's camchain*.yaml",
            calib.display()
        ),
        several => anyhow::bail!(
            "--calib {} holds several camchains ({}): name one, --calib CAMCHAIN --calib-imu IMU",
            calib.display(),
            list(several)
        ),
    };
    let imu = match &args.calib_imu {
        Some(imu) => imu.clone(),
        None => match starting("imu").as_slice() {
            [one] => one.clone(),
            [] => anyhow::bail!(
                "--calib {} holds Kalibr's {} but no imu*.yaml: give it with --calib-imu",
                calib.display(),
                camchain.display()
            ),
            several => anyhow::bail!(
                "--calib {} holds several IMU files ({}): choose one with --calib-imu",
                calib.display(),
                list(several)
            ),
        },
    };
    Ok(CalibrationFiles::Kalibr { camchain, imu })
}

/// The `.yaml` and `.yml` files of `dir`, sorted.
fn yaml_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let path = entry
            .with_context(|| format!("listing {}", dir.display()))?
            .path();
        let yaml = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml"));
        if yaml && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// Reads the rig's calibration and the camera time shift (s, Kalibr's
/// `timeshift_cam_imu`; 0 for ASL files), the cameras at `rate_hz` when
/// given.
fn read_calibration(
    files: &CalibrationFiles,
    rate_hz: Option<f64>,
) -> anyhow::Result<(RigCalibration, f64)> {
    match files {
        CalibrationFiles::Asl(dir) => {
            let camera = |name: &str| {
                let path = dir.join(name).join("sensor.yaml");
                read_camera_sensor_yaml(&path, name)
                    .with_context(|| format!("reading the calibration {}", path.display()))
            };
            let (mut cam0, mut cam1) = (camera("cam0")?, camera("cam1")?);
            let imu_path = dir.join("imu0").join("sensor.yaml");
            let imu = read_imu_yaml(&imu_path)
                .with_context(|| format!("reading the calibration {}", imu_path.display()))?;
            if let Some(rate) = rate_hz {
                cam0.rate_hz = rate;
                cam1.rate_hz = rate;
            }
            Ok((RigCalibration { cam0, cam1, imu }, 0.0))
        }
        CalibrationFiles::Kalibr { camchain, imu } => {
            read_kalibr_rig(camchain, imu, rate_hz.unwrap_or(KALIBR_FIRST_RATE_HZ)).with_context(
                || {
                    format!(
                        "reading Kalibr's calibration {} and {}",
                        camchain.display(),
                        imu.display()
                    )
                },
            )
        }
    }
}

/// The frame rate a Kalibr calibration is first read with (EuRoC's), Hz;
/// replaced by the bag's own when it differs.
const KALIBR_FIRST_RATE_HZ: f64 = 20.0;

/// The frame rate of a sequence's stereo pairs: one over their median
/// interval; `None` with fewer than two pairs.
fn pair_rate_hz(ds: &EurocDataset) -> Option<f64> {
    let mut dts: Vec<i64> = ds
        .stereo_entries()
        .windows(2)
        .map(|w| w[1].t_ns - w[0].t_ns)
        .collect();
    dts.sort_unstable();
    let median = *dts.get(dts.len() / 2)?;
    (median > 0).then(|| 1e9 / median as f64)
}

/// Opens the ROS 2 bag `path` with the calibration and topics of `args`
/// and says which topics it used. Kalibr's camera time shift goes to the
/// cameras' stamps; returned, s.
///
/// Without `--gt-topic`, a `PoseStamped` topic `/ground_truth` is ground
/// truth; with a Kalibr calibration and no `--rate`, the cameras' rate is
/// measured from the pairs. Either may need a second pass over the bag
/// (the first has told the topics and stamps): a bag scout wrote is read
/// twice, once to index it and once with its ground truth.
///
/// # Errors
/// Naming the bag or the calibration file (a wrong topic: the error lists
/// the bag's topics).
pub(crate) fn open_bag(path: &Path, args: &BagArgs) -> anyhow::Result<(EurocDataset, f64)> {
    let files = calibration_files(args, path)?;
    let (calibration, shift_s) = read_calibration(&files, args.rate)?;
    let mut options = BagOptions::new(calibration);
    options.topics.cam0.clone_from(&args.cam0_topic);
    options.topics.cam1.clone_from(&args.cam1_topic);
    options.topics.imu.clone_from(&args.imu_topic);
    options.topics.ground_truth.clone_from(&args.gt_topic);
    options.camera_time_shift_ns = (shift_s * 1e9).round() as i64;
    let open = |options: &BagOptions| {
        EurocDataset::open_mcap(path, options)
            .with_context(|| format!("reading the bag {}", path.display()))
    };
    let mut ds = open(&options)?;
    let mut again = false;
    if args.gt_topic.is_none()
        && let Some(report) = ds.bag_report()
    {
        let name = BagTopicNames::default().ground_truth;
        let has_ground_truth = report.topics.iter().any(|t| {
            t.topic == name
                && MessageKind::of(&t.schema) == MessageKind::PoseStamped
                && t.message_encoding == datasets::rosbag::schema::MESSAGE_ENCODING
        });
        if has_ground_truth {
            options.topics.ground_truth = Some(name);
            again = true;
        }
    }
    let mut measured_rate = None;
    if matches!(files, CalibrationFiles::Kalibr { .. })
        && args.rate.is_none()
        && let Some(rate) = pair_rate_hz(&ds)
    {
        measured_rate = Some(rate);
        if (rate - options.calibration.cam0.rate_hz).abs() > 1e-9 * rate {
            options.calibration.cam0.rate_hz = rate;
            options.calibration.cam1.rate_hz = rate;
            again = true;
        }
    }
    if again {
        ds = open(&options)?;
    }
    let report = ds
        .bag_report()
        .context("a dataset read from a bag has its report")?;
    print_bag_report(report, &ds);
    println!("  calibration      {files}");
    if let Some(rate) = measured_rate {
        println!("  frame rate       {rate:.3} Hz (the median interval of the bag's pairs)");
    }
    if shift_s != 0.0 {
        println!(
            "  time shift       {:+.3} ms added to the camera stamps (Kalibr's timeshift_cam_imu)",
            shift_s * 1e3
        );
    }
    Ok((ds, shift_s))
}

/// Prints which topics of a bag were read, and what of them.
fn print_bag_report(report: &BagReport, ds: &EurocDataset) {
    let count = |topic: &str| {
        report
            .topics
            .iter()
            .find(|t| t.topic == topic)
            .map_or(0, |t| t.messages)
    };
    println!(
        "{}: {} stereo pairs, {} IMU samples, {} ground-truth poses",
        report.path.display(),
        ds.stereo_entries().len(),
        ds.imu().len(),
        ds.ground_truth().len()
    );
    println!(
        "  cam0             {} ({} messages)",
        report.cam0,
        count(&report.cam0)
    );
    println!(
        "  cam1             {} ({} messages)",
        report.cam1,
        count(&report.cam1)
    );
    match &report.imu {
        Some(t) => println!("  imu              {t} ({} messages)", count(t)),
        None => println!("  imu              none (no sensor_msgs/msg/Imu topic)"),
    }
    match &report.ground_truth {
        Some(t) => println!("  ground truth     {t} ({} messages)", count(t)),
        None => println!("  ground truth     none (--gt-topic names a PoseStamped topic)"),
    }
    let used = [
        Some(&report.cam0),
        Some(&report.cam1),
        report.imu.as_ref(),
        report.ground_truth.as_ref(),
    ];
    let unused = report
        .topics
        .iter()
        .filter(|t| !used.contains(&Some(&t.topic)))
        .count();
    if unused > 0 {
        println!("  not used         {unused} other topics");
    }
    if ds.unpaired_rows() > 0 {
        println!(
            "  unpaired         {} images without a partner in the other camera",
            ds.unpaired_rows()
        );
    }
    if report.duplicate_stamps > 0 {
        println!(
            "  duplicates       {} messages dropped for repeating the stamp before them",
            report.duplicate_stamps
        );
    }
    if let Some(at) = report.truncated_at {
        println!("  truncated        the bag ends inside a record at byte {at}: read up to it");
    }
}
