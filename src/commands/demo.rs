//! `scout demo`: the main job on a sequence scout makes itself.
//!
//! Synthesize a short stereo-inertial sequence with ground truth, write it in
//! the EuRoC layout, read it back through the same reader that replays real
//! EuRoC data (checking every file), run the VIO front end over it (as
//! `scout replay --frontend-only` would) and score its tracks against the
//! exact correspondences of the synthetic world, then run the whole VIO
//! (front end, back end and the map built online from its keyframes, as
//! `scout replay` does) and score its trajectory against the ground truth;
//! model the VIO's and the map's energy per frame on a Pi 4 and on the
//! accelerator (as `scout cost` does); then fly a drone through a world of
//! the same seed on its own stereo camera, IMU, VIO, map and MI planner (the
//! closed loop, as `scout explore --sensor stereo --pose vio` does, with its
//! own recording `flight.rrd`); and write `report.md` with those figures and
//! the plots (trajectory against ground truth, error over time, time per
//! frame, the map, energy, roofline, the drone's map and explored layer).
//! The lidar explorer with the true pose (`scout explore`) and the planner
//! benchmarks (`scout explore-bench`, `scout flight-bench`) are commands of
//! their own.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Args;
use datasets::euroc::EurocDataset;
use datasets::synth::{Difficulty, SynthConfig, SyntheticSequence};
use exploration::sim::PlannerKind;
use pipeline::PipelineConfig;
use pipeline::PipelineMode;
use scout::frontend_eval::{FlowEvaluator, TrackObservation};
use scout::replay::replay_frontend;
use scout::synthetic::write_synthetic_sequence;

/// The Rerun SDK version recordings are written with.
#[cfg(feature = "rerun")]
const RERUN_VERSION: &str = viz::recording::RERUN_VERSION;
#[cfg(not(feature = "rerun"))]
const RERUN_VERSION: &str = "";

/// Marker file that says a folder was written by `scout demo` and may be replaced.
const MARKER: &str = ".scout-demo";

/// Arguments of `scout demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Output folder (replaced if an earlier `scout demo` wrote it).
    #[arg(long, default_value = "scout-demo")]
    pub out: PathBuf,
    /// Seed of the synthetic world and trajectory.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Duration of the synthetic sequence, seconds.
    #[arg(long, default_value_t = 20.0)]
    pub duration: f64,
    /// Simulated seconds of the drone's closed-loop flight (0: none).
    #[arg(long, default_value_t = 20.0)]
    pub flight_seconds: f64,
    /// Where the Rerun recording goes besides `OUT/recording.rrd` (`--rrd`
    /// writes it elsewhere instead).
    #[command(flatten)]
    pub view: super::view::ViewerArgs,
}

fn prepare_output(out: &Path) -> anyhow::Result<()> {
    if out.exists() {
        if !out.join(MARKER).is_file() {
            if out.read_dir().is_ok_and(|mut d| d.next().is_some()) {
                bail!(
                    "{} exists and was not written by `scout demo`; choose another --out",
                    out.display()
                );
            }
        } else {
            std::fs::remove_dir_all(out)
                .with_context(|| format!("removing the previous demo output {}", out.display()))?;
        }
    }
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    std::fs::write(
        out.join(MARKER),
        "written by scout demo; the folder is replaced on re-run\n",
    )
    .with_context(|| format!("writing into {}", out.display()))?;
    Ok(())
}

/// Runs `scout demo`.
pub fn run(args: &DemoArgs) -> anyhow::Result<()> {
    prepare_output(&args.out)?;
    let cfg = SynthConfig {
        seed: args.seed,
        duration_s: args.duration,
        difficulty: Difficulty::Medium,
        ..SynthConfig::default()
    };
    let sequence_dir = args.out.join("sequence");
    tracing::info!(
        "synthesizing {:.0} s of stereo + IMU in a random room (seed {})",
        cfg.duration_s,
        cfg.seed
    );
    let bar = super::progress(0, "rendering");
    let summary = write_synthetic_sequence(
        &cfg,
        &sequence_dir,
        super::default_threads(),
        |done, total| {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        },
    )?;
    bar.finish_and_clear();

    // Read it back through the EuRoC reader, decoding every image.
    let ds = EurocDataset::open(&sequence_dir)?;
    let bar = super::progress(ds.stereo_entries().len() as u64, "reading back");
    ds.decode_all(|done| bar.set_position(done as u64))?;
    bar.finish_and_clear();
    anyhow::ensure!(
        ds.stereo_entries().len() == summary.stereo_pairs
            && ds.imu().len() == summary.imu_samples
            && ds.ground_truth().len() == summary.stereo_pairs,
        "the sequence read back differs from what was written"
    );

    // The front end over the sequence as read from disk, scored against the
    // world the sequence was rendered from.
    let truth = SyntheticSequence::generate(&cfg)?;
    let mut flow = FlowEvaluator::new(&truth)?;
    let mut eval_error = None;
    let mut observations = Vec::new();
    let bar = super::progress(ds.stereo_entries().len() as u64, "front end");
    let config = PipelineConfig::default();
    let metrics = replay_frontend(&ds, &config.frontend, |i, _, tracks| {
        bar.set_position(i as u64 + 1);
        observations.clear();
        observations.extend(tracks.features.iter().map(|f| TrackObservation {
            id: f.id,
            left: f.left,
            right: f.right,
        }));
        if let Err(e) = flow.add_frame(i, &observations) {
            eval_error.get_or_insert(e);
        }
    })?;
    bar.finish_and_clear();
    if let Some(e) = eval_error {
        return Err(e.into());
    }
    let accuracy = flow.report();
    let metrics_path = args.out.join("frontend_metrics.json");
    std::fs::write(&metrics_path, serde_json::to_string_pretty(&metrics)?)
        .with_context(|| format!("writing {}", metrics_path.display()))?;
    let accuracy_path = args.out.join("frontend_accuracy.json");
    std::fs::write(&accuracy_path, serde_json::to_string_pretty(&accuracy)?)
        .with_context(|| format!("writing {}", accuracy_path.display()))?;

    let summary_path = args.out.join("summary.json");
    std::fs::write(&summary_path, serde_json::to_string_pretty(&summary)?)
        .with_context(|| format!("writing {}", summary_path.display()))?;

    println!("{summary}");
    println!(
        "  read back through the EuRoC reader: {} stereo pairs, {} IMU samples, {} ground-truth states",
        ds.stereo_entries().len(),
        ds.imu().len(),
        ds.ground_truth().len()
    );
    let s = &metrics.summary;
    println!();
    println!(
        "Front end: {} frames, {:.0} features/frame ({:.0} with stereo), {:.2} ms/frame median",
        s.frames, s.features.mean, s.stereo.mean, s.time_ms.median
    );
    println!("  against the true correspondences of the synthetic world:");
    println!("{accuracy}");
    // The whole VIO (front end and back end on their threads), as `scout
    // replay` runs it, scored against the sequence's ground truth.
    println!();
    println!("VIO (front end + back end) over the sequence:");
    let vio_out = args.out.join("vio");
    std::fs::create_dir_all(&vio_out).with_context(|| format!("creating {}", vio_out.display()))?;
    let mut view = args.view.clone();
    if cfg!(feature = "rerun") && view.rrd.is_none() {
        view.rrd = Some(args.out.join("recording.rrd"));
    }
    let mut viewer = view.open(true, config.map.enabled, &[])?;
    let vio = super::replay::run_full(
        &ds,
        &config,
        PipelineMode::Deterministic,
        &vio_out,
        viewer.as_mut(),
    )?;
    let tum = args.out.join("trajectory.tum");
    std::fs::copy(vio_out.join("trajectory.tum"), &tum)
        .with_context(|| format!("writing {}", tum.display()))?;
    let energy = super::cost::print_summary(&vio_out.join("cost.json"), &vio_out)?;

    if let Some(v) = viewer {
        v.finish()?;
    }

    // The closed loop with the VIO in it: a drone explores the same world on
    // its own camera, IMU, VIO, map and MI planner.
    let mut flight = None;
    if args.flight_seconds > 0.0 {
        println!();
        println!(
            "A drone's flight through world {} ({} s, stereo camera and IMU, its own VIO, map and MI planner):",
            args.seed, args.flight_seconds
        );
        let mut flight_config = config.clone();
        flight_config.flight.max_time_s = args.flight_seconds;
        let flight_view = super::view::ViewerArgs {
            rrd: view.rrd.as_ref().map(|_| args.out.join("flight.rrd")),
            ..args.view.clone()
        };
        let mut flight_viewer = flight_view.open(true, true, &[PlannerKind::Mi.name()])?;
        let summary = super::flight::run_flight(
            &flight_config,
            args.seed,
            PlannerKind::Mi,
            pipeline::flight::PoseSource::Vio,
            &args.out.join("flight"),
            flight_viewer.as_mut(),
        )?;
        if let Some(v) = flight_viewer {
            v.finish()?;
        }
        super::flight::print_summary(&summary);
        flight = Some(summary);
    }
    let report_path = args.out.join("report.md");
    let report = Report {
        sequence: summary.to_string(),
        frontend: format!(
            "{} frames, {:.0} features/frame ({:.0} with stereo), {:.2} ms/frame median\n\n{accuracy}",
            s.frames, s.features.mean, s.stereo.mean, s.time_ms.median
        ),
        vio: &vio,
        map: config.map.enabled,
        energy: &energy,
        flight: flight.as_ref(),
        recording: view
            .rrd
            .as_ref()
            .map(|p| p.strip_prefix(&args.out).unwrap_or(p).display().to_string()),
    };
    std::fs::write(&report_path, report.markdown())
        .with_context(|| format!("writing {}", report_path.display()))?;

    println!();
    println!("Wrote {}:", args.out.display());
    println!("  report.md           the figures below, with the plots: start here");
    if let Some(rrd) = &view.rrd {
        println!(
            "  {:<19} Rerun recording of the VIO: images and tracks, trajectory against ground truth, map, stage costs",
            rrd.strip_prefix(&args.out).unwrap_or(rrd).display()
        );
    }
    println!("  trajectory.tum      the VIO's body trajectory (TUM: t x y z qx qy qz qw)");
    println!(
        "  sequence/mav0/      EuRoC layout: cam0, cam1 (PNG), imu0, state_groundtruth_estimate0"
    );
    println!("  sequence/ground_truth.tum   body trajectory, TUM format (t x y z qx qy qz qw)");
    println!("  summary.json        the sequence's figures");
    println!("  frontend_metrics.json   per-frame tracks, time and counted work of the front end");
    println!("  frontend_accuracy.json  track errors against the synthetic ground truth");
    println!("  vio/trajectory.tum  the VIO's body trajectory (TUM), one row per tracked frame");
    println!("  vio/metrics.json    stage times, latency, peak memory, ATE and drift");
    println!(
        "  vio/trajectory.png, vio/ate.png, vio/timing.png   top view against ground truth, error over time, time per frame"
    );
    if config.map.enabled {
        println!(
            "  vio/map.bin         the occupancy map of the keyframes (stereo depth; mapping::io::load)"
        );
        println!(
            "  vio/map.png         its layer at flight height: black occupied, white free, grey unknown"
        );
        println!("  vio/map.ply         occupied cells as points, coloured by height");
        println!("  vio/map.json        the map's figures and counted work");
    }
    println!(
        "  vio/cost.json       counted operations and bytes of every stage and frame (`scout cost vio/cost.json --hw rpi4|rpi5|accel`)"
    );
    println!(
        "  vio/energy_rpi4.png, vio/roofline_rpi4.png   energy by stage and memory level; the stages on a Pi 4's roofline"
    );
    if flight.is_some() {
        println!(
            "  flight/             the drone's flight: summary.json, coverage.csv, trajectory.tum, groundtruth.tum, map.*, explored.png, cost.json"
        );
        if view.rrd.is_some() {
            println!("  flight.rrd          the flight frame by frame (rerun flight.rrd)");
        }
    }
    if vio.frames_tracking == 0 {
        anyhow::bail!("the VIO never reached the tracking status on the demo sequence");
    }
    println!(
        "Next: `scout eval --gt {} --est {}` for ATE and RPE,",
        sequence_dir.join("ground_truth.tum").display(),
        vio_out.join("trajectory.tum").display()
    );
    println!(
        "      look at sequence/mav0/cam0/data/*.png, run `scout inspect {}`,",
        sequence_dir.display()
    );
    println!(
        "      or feed the folder to any EuRoC-reading VIO (OpenVINS, Basalt, VINS-Fusion, ORB-SLAM3)."
    );
    if let Some(rrd) = &view.rrd {
        println!();
        println!(
            "Open the recording in the Rerun viewer (the same version as the SDK that wrote it):"
        );
        println!("  pip install rerun-sdk=={RERUN_VERSION}");
        println!("  rerun {}", rrd.display());
    }
    Ok(())
}

/// What `report.md` shows.
struct Report<'a> {
    sequence: String,
    frontend: String,
    vio: &'a scout::replay::PipelineMetrics,
    map: bool,
    energy: &'a [super::cost::CostEvaluation],
    /// The drone's flight.
    flight: Option<&'a super::flight::FlightSummary>,
    /// The Rerun recording, relative to the report.
    recording: Option<String>,
}

impl Report<'_> {
    fn markdown(&self) -> String {
        use std::fmt::Write;
        let mut md = String::new();
        let m = self.vio;
        let _ = writeln!(md, "# scout demo\n");
        if let Some(rrd) = &self.recording {
            let flight = if self.flight.is_some() {
                ", and the drone's flight (its images, estimated and true paths, map and plans) in `flight.rrd`"
            } else {
                ""
            };
            let _ = writeln!(
                md,
                "The VIO below, frame by frame (images and tracks, the trajectory against ground truth, the map growing, the stages' time, traffic and energy), is in the Rerun recording `{rrd}`{flight}: `pip install rerun-sdk=={}`, then `rerun {rrd}`.\n",
                RERUN_VERSION
            );
        }
        let _ = writeln!(
            md,
            "## The sequence\n\n```\n{}\n```\n",
            self.sequence.trim_end()
        );
        let _ = writeln!(
            md,
            "## Front end against the synthetic world\n\n```\n{}\n```\n",
            self.frontend.trim_end()
        );
        let _ = writeln!(md, "## VIO\n");
        let _ = writeln!(
            md,
            "{} of {} frames tracking, {} keyframes, {} lost, {} re-initializations.\n",
            m.frames_tracking, m.frames, m.keyframes, m.lost_frames, m.reinitializations
        );
        if let Some(ate) = &m.ate {
            let f = |a: &Option<scout::replay::AteFigures>| {
                a.map_or_else(|| "-".to_string(), |a| format!("{:.1} mm", a.rmse_m * 1e3))
            };
            let _ = writeln!(
                md,
                "ATE (RMSE) {} after SE(3) alignment, {} after position + yaw, over {} poses.\n",
                f(&ate.se3),
                f(&ate.posyaw),
                ate.matched_poses
            );
        }
        let _ = writeln!(
            md,
            "| stage | median ms | p90 ms | max ms |\n|---|---|---|---|"
        );
        for (name, q) in [
            ("front end", &m.time_ms.frontend),
            ("back end", &m.time_ms.backend),
            ("latency", &m.latency_ms),
        ] {
            let _ = writeln!(
                md,
                "| {name} | {:.2} | {:.2} | {:.2} |",
                q.median, q.p90, q.max
            );
        }
        let _ = writeln!(
            md,
            "\n![trajectory](vio/trajectory.png)\n\n![error over time](vio/ate.png)\n\n![time per frame](vio/timing.png)\n"
        );
        if self.map {
            let _ = writeln!(md, "## Map\n\n![map at flight height](vio/map.png)\n");
        }
        let _ = writeln!(
            md,
            "## Modeled energy per frame (`scout cost vio/cost.json`)\n"
        );
        let _ = writeln!(
            md,
            "| machine | stage | compute uJ | data movement uJ | moving data | bound ms |\n|---|---|---|---|---|---|"
        );
        for e in self.energy {
            for s in &e.stages {
                let _ = writeln!(
                    md,
                    "| {} | {} | {:.1} | {:.1} | {:.1} % | {:.3} |",
                    e.hardware,
                    s.name,
                    s.run.compute_pj * 1e-6 / e.frames.max(1) as f64,
                    s.run.movement_pj() * 1e-6 / e.frames.max(1) as f64,
                    100.0 * s.movement_share,
                    s.bound_ms_per_frame
                );
            }
        }
        let _ = writeln!(
            md,
            "\n![energy by stage and memory level](vio/energy_rpi4.png)\n\n![roofline](vio/roofline_rpi4.png)\n"
        );
        if let Some(f) = self.flight {
            let _ = writeln!(
                md,
                "\n## A drone on its own VIO
"
            );
            let _ = writeln!(
                md,
                "The drone flew {:.1} m in {:.0} s on its own stereo camera, IMU, VIO, map and MI planner ({:?}): coverage {:.1} %, ATE {}, {} contacts with the world (closest {:.2} m). Its stages took {:.3} CPU s per simulated s on one thread (the renderer {:.3} more). Of the map's {} occupied cells {:.1} % lie within 10 cm of a true surface; {:.2} % of the truly free cells are marked occupied. Files in `flight/`; the flight frame by frame in `flight.rrd`.",
                f.path_length_m,
                f.sim_time_s,
                f.outcome,
                f.coverage * 100.0,
                f.ate_rmse_m
                    .map_or_else(|| "-".into(), |a| format!("{:.1} mm", a * 1e3)),
                f.collisions,
                f.min_clearance_m,
                f.stages_cpu_s_per_sim_s,
                f.cpu_s_per_sim_s.renderer,
                f.map_quality.occupied_cells,
                f.map_quality.occupied_near_surface * 100.0,
                f.map_quality.free_marked_occupied * 100.0
            );
            let _ = writeln!(
                md,
                "\n![the drone's map at flight height](flight/map.png)\n\n![what its planner knew at the end: unseen reachable space pale red, frontiers cyan, its path blue, its goals orange](flight/explored.png)"
            );
        }
        md
    }
}
