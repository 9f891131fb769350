//! The glue between the pipeline and a Rerun recording (feature `rerun`): the
//! pipeline's records (with the stereo pair the front end tracked, copied
//! into the record's view every `--images-every` frames), the map snapshots
//! the mapper attaches to keyframes as it builds the map, and the exploration
//! runs become `viz::recording` calls. It is a sink on the calling thread:
//! the stages' threads never touch Rerun.
//!
//! Per-stage charts: wall time as the record measured it; main-memory
//! traffic and energy from each run's counted work ([`cost::RunCost`]) on a
//! Raspberry Pi 4 ([`cost::Hardware`] `rpi4`), so the viewer shows the same
//! figures `scout cost run/cost.json --hw rpi4` sums. The ground truth is
//! drawn in the estimate's world frame through the SE(3) alignment that
//! `metrics.json`'s ATE uses ([`crate::plots::align_for_plots`]), and the
//! position error of every scored frame goes on the `stats/ate_mm` chart.

use datasets::model::RigCalibration;
use exploration::sim::ExploreEvent;
use viz::recording::{FrameLog, Layout, Recorder, Sink, StageFigures};

use pipeline::{MapRecord, PipelineRecord, PipelineRun};

use crate::eval::Trajectory;
use crate::plots::AlignedTrajectory;

/// How long [`Viewer::finish`] waits for the sinks to take what is left,
/// unless [`Viewer::set_finish_wait`] says otherwise (`--viewer-wait`).
pub const FINISH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// A recording of a run in progress.
#[derive(Debug)]
pub struct Viewer {
    rec: Recorder,
    images_every: usize,
    hw: cost::Hardware,
    /// The keyframe whose map snapshot was logged last.
    last_map_t_ns: Option<i64>,
    /// A flight's true positions in the VIO's world.
    truth: Vec<[f32; 3]>,
    /// How long [`Self::finish`] waits for the sinks.
    finish_wait: std::time::Duration,
}

impl Viewer {
    /// Opens a recording to `sinks`, sends the blueprint for `layout`.
    /// `images_every`: log the images of every Nth frame (0 for none).
    ///
    /// # Errors
    /// If a sink cannot be opened.
    pub fn open(sinks: &[Sink], layout: &Layout, images_every: usize) -> anyhow::Result<Self> {
        let rec = Recorder::new("scout", sinks)?;
        rec.send_blueprint(layout)?;
        Ok(Self {
            rec,
            images_every,
            hw: cost::Hardware::named_or_file("rpi4")?,
            last_map_t_ns: None,
            truth: Vec::new(),
            finish_wait: FINISH_TIMEOUT,
        })
    }

    /// How long [`Self::finish`] waits for the sinks to take what is left
    /// (a slow link to a remote viewer may need more than the default).
    pub fn set_finish_wait(&mut self, wait: std::time::Duration) {
        self.finish_wait = wait;
    }

    /// Log the images of every this many frames (0: none).
    #[must_use]
    pub fn images_every(&self) -> usize {
        self.images_every
    }

    /// Logs the rig (static).
    ///
    /// # Errors
    /// If the SDK refuses it.
    pub fn start_sequence(&self, rig: &RigCalibration) -> anyhow::Result<()> {
        self.rec.log_rig(rig)?;
        Ok(())
    }

    /// Logs one record of the pipeline: its images (when its view carries
    /// them, every `--images-every`th frame), features, matches, pose,
    /// landmarks, and the stages' times. A record without a view (views off)
    /// logs the pose and times only.
    ///
    /// # Errors
    /// If the SDK refuses it.
    pub fn record(&mut self, record: &PipelineRecord) -> anyhow::Result<()> {
        let images = match record.view.as_deref().and_then(|v| v.images.as_ref()) {
            Some(pair) => [Some(&pair.left), Some(&pair.right)],
            None => [None, None],
        };
        let (features, landmarks) = record
            .view
            .as_deref()
            .map_or((&[][..], &[][..]), |v| (&v.features[..], &v.landmarks[..]));
        self.rec.log_frame(&FrameLog {
            t_ns: record.t_ns,
            images,
            features,
            estimate: &record.estimate,
            landmarks,
        })?;
        for (stage, ns) in [
            ("frontend", record.timing.frontend_ns),
            ("backend", record.timing.backend_ns),
        ] {
            let figures = StageFigures {
                time_ms: Some(ns as f64 * 1e-6),
                ..StageFigures::default()
            };
            self.rec.log_stage(record.t_ns, stage, &figures)?;
        }
        Ok(())
    }

    /// After the run: the ground truth in the estimate's frame, the position
    /// error of every scored frame, and each frame's counted traffic and
    /// modelled energy for the front end and the back end.
    ///
    /// # Errors
    /// If the SDK refuses it.
    pub fn finish_run(
        &mut self,
        run: &PipelineRun,
        gt: Option<&Trajectory>,
        aligned: Option<&AlignedTrajectory>,
    ) -> anyhow::Result<()> {
        if let (Some(gt), Some(a)) = (gt, aligned) {
            let est_from_gt = a.transform.gt_world_from_est_world.inverse();
            let scale = a.transform.scale;
            let points: Vec<[f32; 3]> = gt
                .world_from_body()
                .iter()
                .map(|p| {
                    let q = est_from_gt * nalgebra::Point3::from(p.translation.vector) / scale;
                    [q.x as f32, q.y as f32, q.z as f32]
                })
                .collect();
            self.rec.log_ground_truth(&points)?;
            for &(t_ns, error_m) in &a.error_at_t_ns {
                self.rec.log_position_error(t_ns, error_m)?;
            }
        }
        let map_cost = run.mapper.as_ref().map(|m| &m.summary().cost);
        for (stage, counts) in [
            ("frontend", Some(&run.frontend_cost)),
            ("backend", Some(&run.backend_cost)),
            ("map", map_cost),
        ] {
            let Some(counts) = counts else { continue };
            for r in &counts.per_run {
                self.rec
                    .log_stage(r.t_ns, stage, &self.figures(&r.cost, None))?;
            }
        }
        // The whole map at its last keyframe, unless a snapshot showed it.
        if let (Some(m), Some(last)) = (&run.mapper, run.map_records.last())
            && self.last_map_t_ns != Some(last.t_ns)
        {
            self.last_map_t_ns = Some(last.t_ns);
            self.rec
                .log_map(last.t_ns, m.map(), m.flight_layer().as_ref())?;
        }
        Ok(())
    }

    fn figures(&self, work: &cost::KernelCost, time_ms: Option<f64>) -> StageFigures {
        let e = cost::estimate(work, &self.hw);
        StageFigures {
            time_ms,
            dram_kb: Some(work.main.total() as f64 * 1e-3),
            energy_uj: Some(e.total_pj() * 1e-6),
        }
    }

    /// After a keyframe entered the map: the map stage's time for it; the
    /// voxels and the flight layer when the record carries a snapshot (every
    /// `[map] view_every_s` of sensor time).
    ///
    /// # Errors
    /// If the SDK refuses it.
    pub fn keyframe(&mut self, record: &MapRecord) -> anyhow::Result<()> {
        let figures = StageFigures {
            time_ms: Some(record.stereo_ms + record.insert_ms),
            ..StageFigures::default()
        };
        self.rec.log_stage(record.t_ns, "map", &figures)?;
        if let Some(snapshot) = &record.snapshot {
            self.last_map_t_ns = Some(record.t_ns);
            self.rec
                .log_map(record.t_ns, &snapshot.map, snapshot.flight_layer.as_ref())?;
        }
        Ok(())
    }

    /// One event of a closed-loop flight by `planner`, as it happens, on the
    /// sensor timeline (`t_ns`) and the exploration timeline (simulated
    /// seconds) at once: each frame's images, tracks and estimated pose, the
    /// map snapshots as the mapper builds it, and each plan (the planner's
    /// grid, the MI candidates, goal and path) with the drone's position and
    /// the coverage. Everything in the VIO's world.
    ///
    /// # Errors
    /// If the SDK refuses it.
    pub fn flight_event(
        &mut self,
        planner: &str,
        t0_ns: i64,
        event: &pipeline::flight::FlightEvent<'_>,
    ) -> anyhow::Result<()> {
        use pipeline::flight::FlightEvent;
        match event {
            FlightEvent::Started { rig } => self.start_sequence(rig),
            FlightEvent::Stream(pipeline::StreamEvent::Frame(record)) => self.record(record),
            FlightEvent::Stream(pipeline::StreamEvent::Keyframe(record)) => self.keyframe(record),
            FlightEvent::Pose { true_in_est, .. } => {
                let p = true_in_est.translation.vector;
                self.truth.push([p.x as f32, p.y as f32, p.z as f32]);
                Ok(())
            }
            FlightEvent::Plan {
                t_ns,
                plan,
                planner: stage,
                position,
                coverage,
            } => {
                let time_s = (t_ns - t0_ns) as f64 * 1e-9;
                let grid = stage.grid();
                self.rec.log_explore(
                    planner,
                    &ExploreEvent::Scan {
                        time_s,
                        position: *position,
                        points: &[],
                        range_m: 0.0,
                        grid,
                        coverage: *coverage,
                    },
                )?;
                let robot = grid.cell_of(position[0], position[1]).unwrap_or((0, 0));
                self.rec.log_explore(
                    planner,
                    &ExploreEvent::Plan {
                        time_s,
                        robot,
                        plan: *plan,
                        candidates: stage.scored(),
                        grid,
                    },
                )?;
                Ok(())
            }
        }
    }

    /// After a flight: the true path, in the VIO's world, beside the
    /// estimated one.
    ///
    /// # Errors
    /// If the SDK refuses it.
    pub fn finish_flight(&mut self) -> anyhow::Result<()> {
        self.rec.log_ground_truth(&self.truth)?;
        Ok(())
    }

    /// One event of an exploration run by `planner`.
    ///
    /// # Errors
    /// If the SDK refuses it.
    pub fn explore_event(&mut self, planner: &str, event: &ExploreEvent<'_>) -> anyhow::Result<()> {
        self.rec.log_explore(planner, event)?;
        Ok(())
    }

    /// Writes or sends what is left, waiting at most [`FINISH_TIMEOUT`] (or
    /// what [`Self::set_finish_wait`] set) for the sinks: a `--connect`ed viewer that is not there (or stopped
    /// listening) would otherwise hold the run at its end forever, the
    /// Rerun SDK retrying the connection while its queue is full. On the
    /// timeout the run still finishes (its files are written): a warning
    /// says the recording is incomplete, and the recording is left to the
    /// process's exit rather than dropped (its drop waits for the viewer
    /// without a bound).
    ///
    /// # Errors
    /// If a sink failed.
    pub fn finish(self) -> anyhow::Result<()> {
        let flushed = self.rec.flush_within(self.finish_wait);
        if flushed.is_err() {
            std::mem::forget(self);
        }
        match flushed {
            Ok(()) => Ok(()),
            Err(viz::recording::RecordingError::FlushTimeout { seconds }) => {
                tracing::warn!(
                    "the viewer did not take the recording within {seconds} s (is a Rerun viewer listening at the --connect address? a slow link may need a longer --viewer-wait): the recording is incomplete; the run's files are written"
                );
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }
}
