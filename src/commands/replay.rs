//! `scout replay DIR --out OUT [--config FILE] [--realtime [SPEED]]`: run the
//! VIO pipeline (front end and back end on their threads) over an EuRoC/ASL
//! sequence; write the `Tracking` poses to `OUT/trajectory.tum` and the run's
//! figures (and ATE when the sequence has ground truth) to `OUT/metrics.json`,
//! the plots (`trajectory.png`, `ate.png`, `timing.png`, see `scout::plots`)
//! and the counted work to `OUT/cost.json`.
//! With `--frontend-only`, the front end alone and its per-frame figures.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use datasets::euroc::EurocDataset;
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
    /// Sequence folder (the one holding `mav0/`).
    pub dir: PathBuf,
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
    let ds =
        EurocDataset::open(&args.dir).with_context(|| format!("reading {}", args.dir.display()))?;
    if !args.frontend_only {
        ds.check_usable()
            .with_context(|| format!("{} cannot feed a visual-inertial run", args.dir.display()))?;
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
        run_full(&ds, &config, mode, &args.out, viewer.as_mut())?;
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
    let subject = RunSubject::of_dataset(ds)?;
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
pub(crate) fn write_outputs(
    subject: &RunSubject,
    config: &PipelineConfig,
    run: &mut pipeline::PipelineRun,
    out: &Path,
    live: Option<pipeline::live::LiveCounts>,
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
    metrics.live = live;
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
    .with_context(|| format!("replaying {}", args.dir.display()))?;
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
