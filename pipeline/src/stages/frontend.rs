//! The front end stage: the gyro rotation since the previous frame (raw gyro,
//! zero bias, so the front end's input does not depend on the back end or on
//! thread timing) and [`vio::frontend::FrontEnd::process`] on each stereo
//! pair. Pixels in the raw (distorted) images; the prior is
//! `body_prev_from_body`.

use std::time::Instant;

use cost::StageCounts;
use datasets::ImuSample;
use datasets::model::RigCalibration;
use nalgebra::{UnitQuaternion, Vector3};
use vio::frontend::{FrameTracks, FrontEnd, FrontEndConfig};
use vio::health::{HealthConfig, VisionHealth};

use super::elapsed_ns;
use crate::PipelineError;
use crate::source::FrameInput;

/// The IMU samples the front end needs for its gyro prior: from the last one
/// at or before the previous frame on.
#[derive(Debug)]
pub(crate) struct GyroWindow {
    samples: Vec<ImuSample>,
    prev_t_ns: Option<i64>,
    /// Longest interval between samples that is not a gap, ns: no prior
    /// across a gap (interpolating over it is no measurement).
    max_gap_ns: i64,
}

impl GyroWindow {
    pub(crate) fn new(health: &HealthConfig) -> Self {
        Self {
            samples: Vec::new(),
            prev_t_ns: None,
            max_gap_ns: (health.imu_gap_s * 1e9) as i64,
        }
    }

    pub(crate) fn extend(&mut self, imu: &[ImuSample]) {
        self.samples.extend_from_slice(imu);
    }

    /// `body_prev_from_body` since the previous frame, raw gyro (zero bias).
    pub(crate) fn prior(&self, t_ns: i64) -> Option<UnitQuaternion<f64>> {
        let t0 = self.prev_t_ns?;
        if !vio::imu::covers_without_gap(&self.samples, t0, t_ns, self.max_gap_ns) {
            return None;
        }
        vio::imu::integrate_gyro(&self.samples, t0, t_ns, &Vector3::zeros())
    }

    /// The frame at `t_ns` was processed: keep only what the next prior needs.
    pub(crate) fn advance(&mut self, t_ns: i64) {
        self.prev_t_ns = Some(t_ns);
        let keep_from = self
            .samples
            .partition_point(|s| s.t_ns <= t_ns)
            .saturating_sub(1);
        self.samples.drain(..keep_from);
    }
}

/// The front end with its gyro prior and its counted work.
#[derive(Debug)]
pub struct FrontEndStage {
    frontend: FrontEnd,
    gyro: GyroWindow,
    vision: VisionHealth,
    /// Counted work over the run, frame by frame.
    pub cost: StageCounts,
}

impl FrontEndStage {
    /// A front end for a rig; `health` says what an IMU gap is (no gyro
    /// prior across one).
    ///
    /// # Errors
    /// [`PipelineError::Setup`] when the configuration or the calibration is
    /// refused.
    pub fn new(
        config: &FrontEndConfig,
        health: &HealthConfig,
        rig: &RigCalibration,
    ) -> Result<Self, PipelineError> {
        let frontend =
            FrontEnd::new(config.clone(), rig).map_err(|error| PipelineError::Setup {
                stage: "front end",
                error,
            })?;
        Ok(Self {
            frontend,
            gyro: GyroWindow::new(health),
            vision: VisionHealth::new(*health).map_err(|error| PipelineError::Setup {
                stage: "front end",
                error,
            })?,
            cost: StageCounts::new(),
        })
    }

    /// Processes one pair with the IMU samples that came with it; returns the
    /// tracks and the wall time, ns. A stretch of frames without texture or
    /// stereo matches that this pair ends ([`VisionHealth`]) is added to
    /// its faults.
    ///
    /// # Errors
    /// [`PipelineError::FrontEnd`] when the front end refuses the frame.
    pub fn step(&mut self, input: &mut FrameInput) -> Result<(&FrameTracks, u64), PipelineError> {
        let start = Instant::now();
        let frame = &input.frame;
        self.gyro.extend(&input.imu);
        let prior = self.gyro.prior(frame.t_ns);
        self.gyro.advance(frame.t_ns);
        self.frontend
            .process(frame, prior.as_ref())
            .map_err(|error| PipelineError::FrontEnd {
                t_ns: frame.t_ns,
                error,
            })?;
        self.vision.check_tracks(self.frontend.last());
        input.faults.extend(self.vision.take_faults());
        let ns = elapsed_ns(start);
        self.cost.record_run(frame.t_ns, &[self.frontend.cost()]);
        Ok((self.frontend.last(), ns))
    }

    /// IMU samples that came without a pair (their pair was dropped): kept
    /// for the next prior.
    pub fn skip(&mut self, imu: &[ImuSample]) {
        self.gyro.extend(imu);
    }
}

#[cfg(test)]
mod tests {
    use nalgebra::Vector3;

    use super::*;
    use crate::source::imu_batches;

    #[test]
    fn gyro_window_gives_the_prior_of_the_whole_stream() {
        let imu: Vec<ImuSample> = (0..=100)
            .map(|k| ImuSample {
                t_ns: k * 5_000_000,
                gyro: Vector3::new(0.1, -0.2, 0.3 + k as f64 * 5e-3),
                accel: Vector3::new(9.8, 0.0, 0.0),
            })
            .collect();
        let frames: Vec<i64> = (1..=9).map(|k| k * 50_000_000 + 1_000_000).collect();
        let batches = imu_batches(&imu, &frames, 0);
        let mut window = GyroWindow::new(&HealthConfig::default());
        let mut prev = None;
        for (t, batch) in frames.iter().zip(&batches) {
            window.extend(&imu[batch.clone()]);
            let streamed = window.prior(*t);
            let whole =
                prev.and_then(|t0| vio::imu::integrate_gyro(&imu, t0, *t, &Vector3::zeros()));
            assert_eq!(streamed.is_some(), prev.is_some());
            assert_eq!(
                streamed.map(|q| q.coords.map(f64::to_bits)),
                whole.map(|q| q.coords.map(f64::to_bits))
            );
            window.advance(*t);
            // Only the sample at or before the frame and those after it stay.
            assert!(window.samples.len() <= 2, "{}", window.samples.len());
            prev = Some(*t);
        }
    }
}
