//! The glue between the pipeline and a Rerun recording (feature `rerun`): the
//! pipeline's records, the keyframes' map and the exploration runs become
//! `viz::recording` calls, with each frame's images read again from the
//! sequence (the pipeline's own buffers are back in its pools by then).
//!
//! Per-stage charts: wall time as the record measured it; main-memory
//! traffic and energy from each run's counted work ([`cost::RunCost`]) on a
//! Raspberry Pi 4 ([`cost::Hardware`] `rpi4`), so the viewer shows the same
//! figures `scout cost run/cost.json --hw rpi4` sums. The ground truth is
//! drawn in the estimate's world frame through the SE(3) alignment that
//! `metrics.json`'s ATE uses ([`crate::plots::align_for_plots`]), and the
//! position error of every scored frame goes on the `stats/ate_mm` chart.

use anyhow::Context;
use datasets::euroc::EurocDataset;
use exploration::sim::ExploreEvent;
use viz::recording::{FrameLog, Layout, Recorder, Sink, StageFigures};

use crate::eval::Trajectory;
use crate::mapper::KeyframeMapper;
use crate::pipeline::{PipelineRecord, PipelineRun};
use crate::plots::AlignedTrajectory;

/// The map is logged at most this often (sensor time, ns), and at the last
/// keyframe: each logging holds every occupied voxel.
const MAP_EVERY_NS: i64 = 2_000_000_000;

/// A recording of a run in progress.
#[derive(Debug)]
pub struct Viewer {
    rec: Recorder,
    images_every: usize,
    hw: cost::Hardware,
    last_map_t_ns: Option<i64>,
    /// The pair being logged.
    frame: datasets::model::StereoFrame,
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
            frame: datasets::model::StereoFrame {
                t_ns: 0,
                left: datasets::GrayImage::new(0, 0),
                right: datasets::GrayImage::new(0, 0),
            },
        })
    }

    /// Logs the rig of `ds` (static).
    ///
    /// # Errors
    /// If the SDK refuses it.
    pub fn start_sequence(&self, ds: &EurocDataset) -> anyhow::Result<()> {
        self.rec.log_rig(ds.calibration())?;
        Ok(())
    }

    /// Logs one record of the pipeline: its images (every `images_every`th
    /// frame), features, matches, pose, landmarks, and the stages' times.
    /// A record without a view (views off) logs the pose and times only.
    ///
    /// # Errors
    /// If an image file cannot be read or the SDK refuses it.
    pub fn record(&mut self, ds: &EurocDataset, record: &PipelineRecord) -> anyhow::Result<()> {
        let with_images = self.images_every > 0 && record.index.is_multiple_of(self.images_every);
        if with_images {
            ds.load_stereo_into(record.index, &mut self.frame)
                .with_context(|| {
                    format!("reading stereo pair {} for the recording", record.index)
                })?;
        }
        let images = if with_images {
            [Some(&self.frame.left), Some(&self.frame.right)]
        } else {
            [None, None]
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
        for (stage, counts) in [
            ("frontend", &run.frontend_cost),
            ("backend", &run.backend_cost),
        ] {
            for r in &counts.per_run {
                self.rec
                    .log_stage(r.t_ns, stage, &self.figures(&r.cost, None))?;
            }
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

    /// After a keyframe entered the map: the map stage's time, traffic and
    /// energy for it; the voxels and the flight layer once a second of sensor
    /// time and at the last keyframe.
    ///
    /// # Errors
    /// If the SDK refuses it.
    pub fn keyframe(
        &mut self,
        t_ns: i64,
        mapper: &KeyframeMapper,
        last: bool,
    ) -> anyhow::Result<()> {
        let work = mapper.summary().cost.per_run.last().map(|r| r.cost);
        let figures = match work {
            Some(w) => self.figures(&w, mapper.last_keyframe_ms()),
            None => StageFigures {
                time_ms: mapper.last_keyframe_ms(),
                ..StageFigures::default()
            },
        };
        self.rec.log_stage(t_ns, "map", &figures)?;
        if last || self.last_map_t_ns.is_none_or(|t| t_ns - t >= MAP_EVERY_NS) {
            self.last_map_t_ns = Some(t_ns);
            self.rec
                .log_map(t_ns, mapper.map(), mapper.flight_layer().as_ref())?;
        }
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

    /// Writes or sends what is left.
    ///
    /// # Errors
    /// If a sink cannot take it.
    pub fn finish(self) -> anyhow::Result<()> {
        self.rec.flush()?;
        Ok(())
    }
}
