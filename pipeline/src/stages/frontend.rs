//! The front end stage: the gyro rotation since the previous frame (raw gyro,
//! zero bias, so the front end's input does not depend on the back end or on
//! thread timing) and [`vio::frontend::FrontEnd::process`] on each stereo
//! pair. Pixels in the raw (distorted) images; the prior is
//! `body_prev_from_body`. Then the checks of what the cameras saw: frames
//! without texture or stereo matches (`vio::health::VisionHealth`) and the
//! IMU-camera time offset (`vio::time_offset`), reported as the pair's
//! faults.

use std::time::Instant;

use cost::StageCounts;
use datasets::ImuSample;
use datasets::model::RigCalibration;
use nalgebra::{UnitQuaternion, Vector3};
use vio::frontend::{FrameTracks, FrontEnd, FrontEndConfig};
use vio::health::{HealthConfig, SensorFault, VisionHealth};
use vio::time_offset::TimeOffsetMonitor;

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
    time_offset: TimeOffsetMonitor,
    /// Whether an offset the monitor finds is taken off the IMU stamps here
    /// (when the back end does not estimate it online); otherwise the first
    /// one is only reported, and the monitor's estimates move the gyro
    /// prior's interval.
    correct_time_offset: bool,
    /// The monitor's fault was reported (`correct_time_offset` off).
    time_offset_reported: bool,
    /// The camera-IMU time offset of the gyro prior, ns: the prior between
    /// two frames integrates the IMU between their stamps plus this. The
    /// configured `[backend] time_offset_s`, then (the back end estimating
    /// it) each offset the monitor reports as a fault: a prior off by the
    /// offset turns the temporal RANSAC against good tracks. Not every
    /// estimate: on clean streams their scatter cost more than it gave.
    prior_offset_ns: i64,
    /// The configured offset, ns: the monitor sees the IMU stamps less this,
    /// so that it finds (and reports) what the configuration misses.
    configured_offset_ns: i64,
    /// The monitor's samples, moved by `configured_offset_ns` (reused).
    monitor_imu: Vec<ImuSample>,
    /// The IMU-camera time offset found so far, taken off every IMU stamp
    /// before any stage sees it, ns.
    imu_shift_ns: i64,
    /// The last IMU stamp handed on (after the shift), ns.
    last_imu_ns: Option<i64>,
    /// Counted work over the run, frame by frame.
    pub cost: StageCounts,
}

impl FrontEndStage {
    /// A front end for a rig; `health` says what an IMU gap is (no gyro
    /// prior across one); `clocks`, the back end's settings: the configured
    /// camera-IMU time offset (the gyro prior's IMU interval), and whether
    /// the back end estimates it (otherwise an offset the monitor finds is
    /// taken off the IMU stamps here).
    ///
    /// # Errors
    /// [`PipelineError::Setup`] when the configuration or the calibration is
    /// refused.
    pub fn new(
        config: &FrontEndConfig,
        health: &HealthConfig,
        rig: &RigCalibration,
        clocks: &vio::backend::BackEndConfig,
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
            time_offset: TimeOffsetMonitor::new(rig, health),
            correct_time_offset: !clocks.estimate_time_offset,
            time_offset_reported: false,
            prior_offset_ns: (clocks.time_offset_s * 1e9).round() as i64,
            configured_offset_ns: (clocks.time_offset_s * 1e9).round() as i64,
            monitor_imu: Vec::new(),
            imu_shift_ns: 0,
            last_imu_ns: None,
            cost: StageCounts::new(),
        })
    }

    /// Processes one pair with the IMU samples that came with it; returns the
    /// tracks and the wall time, ns. A stretch of frames without texture or
    /// stereo matches that this pair ends ([`VisionHealth`]), and an
    /// IMU-camera time offset found ([`TimeOffsetMonitor`]), are added to
    /// its faults. From the pair at which an offset is found on, the IMU
    /// stamps of every pair (`input.imu`, which the back end then reads) are
    /// corrected by it.
    ///
    /// # Errors
    /// [`PipelineError::FrontEnd`] when the front end refuses the frame.
    pub fn step(&mut self, input: &mut FrameInput) -> Result<(&FrameTracks, u64), PipelineError> {
        let start = Instant::now();
        self.correct_imu(&mut input.imu);
        let frame = &input.frame;
        self.gyro.extend(&input.imu);
        let t_imu = frame.t_ns.saturating_add(self.prior_offset_ns);
        let prior = self.gyro.prior(t_imu);
        self.gyro.advance(t_imu);
        self.frontend
            .process(frame, prior.as_ref())
            .map_err(|error| PipelineError::FrontEnd {
                t_ns: frame.t_ns,
                error,
            })?;
        self.vision.check_tracks(self.frontend.last());
        input.faults.extend(self.vision.take_faults());
        self.feed_monitor(&input.imu);
        self.time_offset.check_tracks(self.frontend.last());
        for mut fault in self.time_offset.take_faults() {
            // The monitor found what the configured offset misses; the
            // fault says the whole offset.
            let configured_s = self.configured_offset_ns as f64 * 1e-9;
            if !self.correct_time_offset {
                // The back end estimates the offset as it flies: not taken
                // off the stamps here as well, said once; the gyro prior
                // takes it from now on.
                if let SensorFault::TimeOffset { offset_s, .. } = &mut fault {
                    *offset_s += configured_s;
                    self.prior_offset_ns = (*offset_s * 1e9).round() as i64;
                }
                if !std::mem::replace(&mut self.time_offset_reported, true) {
                    input.faults.push(fault);
                }
                continue;
            }
            if let SensorFault::TimeOffset { offset_s, .. } = &mut fault {
                // Compensated from the next pair on; the monitor starts
                // afresh on the corrected stamps.
                self.imu_shift_ns = self
                    .imu_shift_ns
                    .saturating_add((*offset_s * 1e9).round() as i64);
                *offset_s = self.imu_shift_ns as f64 * 1e-9 + configured_s;
                tracing::warn!(
                    "IMU stamps corrected by {:.1} ms from t = {:.3} s on",
                    -*offset_s * 1e3,
                    frame.t_ns as f64 * 1e-9
                );
                self.time_offset.reset();
            }
            input.faults.push(fault);
        }
        let ns = elapsed_ns(start);
        self.cost.record_run(frame.t_ns, &[self.frontend.cost()]);
        Ok((self.frontend.last(), ns))
    }

    /// IMU samples that came without a pair (their pair was dropped, or
    /// after the last pair): corrected as a pair's, kept for the next prior.
    pub fn skip(&mut self, imu: &mut Vec<ImuSample>) {
        self.correct_imu(imu);
        self.gyro.extend(imu);
        self.feed_monitor(imu);
    }

    /// What the front end took off the IMU stamps (the offset the monitor
    /// found, with the back end not estimating it), s: part of the run's
    /// camera-IMU offset.
    #[must_use]
    pub fn imu_shift_s(&self) -> f64 {
        self.imu_shift_ns as f64 * 1e-9
    }

    /// Gives the monitor the samples on the clock the configured offset
    /// puts them on (`t - configured`).
    fn feed_monitor(&mut self, imu: &[ImuSample]) {
        if self.configured_offset_ns == 0 {
            self.time_offset.push_imu(imu);
            return;
        }
        self.monitor_imu.clear();
        self.monitor_imu.extend(imu.iter().map(|s| ImuSample {
            t_ns: s.t_ns.saturating_sub(self.configured_offset_ns),
            ..*s
        }));
        self.time_offset.push_imu(&self.monitor_imu);
    }

    /// Takes the time offset found so far off the stamps; drops the samples
    /// a larger correction moved to or before one already handed on.
    fn correct_imu(&mut self, imu: &mut Vec<ImuSample>) {
        if self.imu_shift_ns != 0 {
            for s in imu.iter_mut() {
                s.t_ns = s.t_ns.saturating_sub(self.imu_shift_ns);
            }
        }
        if let Some(last) = self.last_imu_ns {
            imu.retain(|s| s.t_ns > last);
        }
        if let Some(s) = imu.last() {
            self.last_imu_ns = Some(s.t_ns);
        }
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
        let batches = imu_batches(&imu, &frames, 0, 0);
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
