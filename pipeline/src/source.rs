//! Sources: where the stream's sensor data comes from.
//!
//! A [`Source`] yields the sensor events of one rig in time order, grouped by
//! stereo pair: for pair `i` at `t_i` (ns), the IMU samples since those of
//! pair `i - 1`, up to and including the first sample at or after `t_i` (the
//! back end needs the IMU up to the frame's time), then the decoded pair;
//! a recording hands over [`RECORDED_IMU_LAG_S`] more (the back end's state
//! for the pair stands at the camera's stamp plus the camera-IMU time
//! offset, which it estimates as it runs, on the IMU's clock). The
//! first pair also brings the samples from the last one at or before
//! [`crate::config::StreamConfig::imu_lead_s`] ahead of it (for a still
//! initialization). Every source fills a [`FrameInput`] the caller owns and
//! reuses, so nothing is allocated per frame once the buffers have grown.
//!
//! Built: [`EurocSource`] (an EuRoC/ASL folder, images decoded on demand)
//! and [`FlightSource`] (a synthetic world rendered live along the path a
//! closed-loop drone flies, `crate::flight`). Live V4L2/IIO devices and bag
//! files implement the same trait; the stages never see which one feeds
//! them. Timestamps are on the source's own clock (EuRoC's: ns since
//! the epoch).

use std::ops::Range;

use datasets::euroc::EurocDataset;
use datasets::model::{ImuBias, RigCalibration};
use datasets::synth::SyntheticSequence;
use datasets::synth::flight::SyntheticFlight;
use datasets::{GrayImage, ImuSample, StereoFrame};

use vio::health::{HealthConfig, SensorFault, SensorHealth};

use crate::PipelineError;

/// One stereo pair and the IMU samples that came before it.
#[derive(Debug, Clone)]
pub struct FrameInput {
    /// The pair's index in the source's stream, from 0.
    pub index: usize,
    /// The decoded pair (`t_ns` is its time stamp).
    pub frame: StereoFrame,
    /// The IMU samples since the previous pair's, time-ordered.
    pub imu: Vec<ImuSample>,
    /// The sensor faults found in this pair's stretch of the stream
    /// ([`Screened`]; empty, and unallocated, when none).
    pub faults: Vec<SensorFault>,
    /// Times of the pairs the source itself skipped just before this one,
    /// oldest first (a live source keeps only the latest pair while the
    /// stream is busy): the camera gave them, so the health checks see the
    /// camera's own cadence, and the run counts them as dropped. Empty, and
    /// unallocated, for a source that skips nothing.
    pub skipped_t_ns: Vec<i64>,
}

impl FrameInput {
    /// Empty buffers: the images grow to the source's size on the first
    /// pair and are reused from then on.
    #[must_use]
    pub fn empty() -> Self {
        Self {
            index: 0,
            frame: StereoFrame {
                t_ns: 0,
                left: GrayImage::new(0, 0),
                right: GrayImage::new(0, 0),
            },
            imu: Vec::new(),
            faults: Vec::new(),
            skipped_t_ns: Vec::new(),
        }
    }
}

/// A time-ordered stream of stereo pairs with their IMU samples.
pub trait Source: Send {
    /// What the source is, for messages (a folder, a device).
    fn name(&self) -> String;

    /// The rig the data comes from: cameras, IMU and their extrinsics.
    fn rig(&self) -> &RigCalibration;

    /// Stereo pairs the stream holds, when known in advance.
    fn len_hint(&self) -> Option<usize>;

    /// Fills `input` with the next pair and the IMU samples before it
    /// (replacing what it held, reusing its buffers). Returns `false` at the
    /// end of the stream; IMU samples after the last pair are not delivered.
    ///
    /// # Errors
    /// When the data cannot be read or decoded; the error names the file and
    /// line (or the device).
    fn next_into(&mut self, input: &mut FrameInput) -> Result<bool, PipelineError>;
}

/// An EuRoC/ASL folder as a source: calibration, IMU and the image index are
/// read when the folder is opened ([`EurocDataset::open`]); each pair is
/// decoded when its turn comes.
#[derive(Debug)]
pub struct EurocSource<'a> {
    ds: &'a EurocDataset,
    pairs: RecordedPairs,
}

/// The pairs of a recorded stream, each with its range of the IMU samples
/// ([`imu_batches`]), and the next to deliver: what a source over a file or
/// a made-up sequence shares.
#[derive(Debug)]
struct RecordedPairs {
    batches: Vec<Range<usize>>,
    next: usize,
}

impl RecordedPairs {
    fn new(imu: &[ImuSample], frame_t_ns: &[i64], lead_ns: i64) -> Self {
        Self {
            batches: imu_batches(imu, frame_t_ns, lead_ns, (RECORDED_IMU_LAG_S * 1e9) as i64),
            next: 0,
        }
    }

    fn len(&self) -> usize {
        self.batches.len()
    }

    /// Moves on to the next pair: puts its IMU samples (from `imu`) and its
    /// index in `input` and returns the index; `None` at the end.
    fn advance(&mut self, imu: &[ImuSample], input: &mut FrameInput) -> Option<usize> {
        let batch = self.batches.get(self.next)?;
        input.imu.clear();
        input.imu.extend_from_slice(&imu[batch.clone()]);
        input.index = self.next;
        self.next += 1;
        Some(input.index)
    }
}

impl<'a> EurocSource<'a> {
    /// Streams `ds` from its first pair, with the IMU samples from `lead_ns`
    /// before it.
    #[must_use]
    pub fn new(ds: &'a EurocDataset, lead_ns: i64) -> Self {
        let frame_t: Vec<i64> = ds.stereo_entries().iter().map(|e| e.t_ns).collect();
        Self {
            ds,
            pairs: RecordedPairs::new(ds.imu(), &frame_t, lead_ns),
        }
    }

    /// The folder.
    #[must_use]
    pub fn dataset(&self) -> &'a EurocDataset {
        self.ds
    }
}

impl Source for EurocSource<'_> {
    fn name(&self) -> String {
        self.ds.mav0().display().to_string()
    }

    fn rig(&self) -> &RigCalibration {
        self.ds.calibration()
    }

    fn len_hint(&self) -> Option<usize> {
        Some(self.pairs.len())
    }

    fn next_into(&mut self, input: &mut FrameInput) -> Result<bool, PipelineError> {
        let Some(index) = self.pairs.advance(self.ds.imu(), input) else {
            return Ok(false);
        };
        self.ds.load_stereo_into(index, &mut input.frame)?;
        Ok(true)
    }
}

/// A synthetic world rendered live along the path the drone flies: the
/// source of the closed loop ([`crate::flight`]). Its command side is the
/// flight itself ([`Self::flight_mut`]: the controller appends control
/// points); its stream never ends (the flight holds its last point when no
/// command comes), the caller decides when to stop. The first pair brings
/// the IMU reading at its own time; each later one the readings since.
pub struct FlightSource {
    flight: SyntheticFlight,
    biases: Vec<ImuBias>,
    name: String,
}

impl std::fmt::Debug for FlightSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlightSource")
            .field("name", &self.name)
            .field("flight", &self.flight)
            .finish_non_exhaustive()
    }
}

impl FlightSource {
    /// A source rendering `flight`.
    #[must_use]
    pub fn new(flight: SyntheticFlight) -> Self {
        let name = format!("synthetic flight, world seed {}", flight.config.seed);
        Self {
            flight,
            biases: Vec::new(),
            name,
        }
    }

    /// The flight (its world, trajectory and true state).
    #[must_use]
    pub fn flight(&self) -> &SyntheticFlight {
        &self.flight
    }

    /// The flight, to steer it.
    pub fn flight_mut(&mut self) -> &mut SyntheticFlight {
        &mut self.flight
    }

    /// The true IMU biases of the readings the last pair brought.
    #[must_use]
    pub fn last_biases(&self) -> &[ImuBias] {
        &self.biases
    }
}

impl Source for FlightSource {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn rig(&self) -> &RigCalibration {
        &self.flight.calibration
    }

    fn len_hint(&self) -> Option<usize> {
        None
    }

    fn next_into(&mut self, input: &mut FrameInput) -> Result<bool, PipelineError> {
        input.imu.clear();
        self.biases.clear();
        input.index = self.flight.frames();
        self.flight
            .next_into(&mut input.frame, &mut input.imu, &mut self.biases)
            .map_err(|e| PipelineError::Source {
                source_name: self.name.clone(),
                message: e.to_string(),
            })?;
        Ok(true)
    }
}

/// A synthetic sequence ([`SyntheticSequence`]: world, trajectory, IMU and
/// ground truth made up front) as a source, each pair rendered when its
/// turn comes: streams of any length without a file (`scout soak`).
pub struct SequenceSource<'a> {
    seq: &'a SyntheticSequence,
    pairs: RecordedPairs,
}

impl std::fmt::Debug for SequenceSource<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SequenceSource")
            .field("seq", self.seq)
            .field("next", &self.pairs.next)
            .finish_non_exhaustive()
    }
}

impl<'a> SequenceSource<'a> {
    /// Streams `seq` from its first pair, with the IMU samples from `lead_ns`
    /// before it.
    #[must_use]
    pub fn new(seq: &'a SyntheticSequence, lead_ns: i64) -> Self {
        Self {
            seq,
            pairs: RecordedPairs::new(&seq.imu, &seq.frame_times_ns, lead_ns),
        }
    }
}

impl Source for SequenceSource<'_> {
    fn name(&self) -> String {
        format!(
            "synthetic sequence, seed {}, {:.0} s",
            self.seq.config.seed, self.seq.config.duration_s
        )
    }

    fn rig(&self) -> &RigCalibration {
        &self.seq.calibration
    }

    fn len_hint(&self) -> Option<usize> {
        Some(self.pairs.len())
    }

    fn next_into(&mut self, input: &mut FrameInput) -> Result<bool, PipelineError> {
        let Some(index) = self.pairs.advance(&self.seq.imu, input) else {
            return Ok(false);
        };
        if input.frame.left.width() == 0 {
            input.frame = self.seq.new_frame();
        }
        self.seq
            .render_stereo(index, &mut input.frame)
            .map_err(|e| PipelineError::Source {
                source_name: self.name(),
                message: e.to_string(),
            })?;
        Ok(true)
    }
}

/// How far past a pair's stamp a recording hands over the IMU samples with
/// it, s: the largest lag of the IMU's stamps behind the cameras' that the
/// back end's time offset sees whole IMU intervals for (a live source
/// cannot look ahead: the IMU's last sample is held over the rest).
pub const RECORDED_IMU_LAG_S: f64 = 0.1;

/// For each stereo pair, the range of `imu` that goes with it (see the module
/// docs): consecutive, non-overlapping, each sample in at most one range,
/// up to the first sample at or after the pair's time plus `lag_ns`.
/// `frame_t_ns` must be increasing, `imu` sorted by time.
#[must_use]
pub fn imu_batches(
    imu: &[ImuSample],
    frame_t_ns: &[i64],
    lead_ns: i64,
    lag_ns: i64,
) -> Vec<Range<usize>> {
    let mut start = frame_t_ns.first().map_or(imu.len(), |&t0| {
        let from = t0.saturating_sub(lead_ns);
        imu.partition_point(|s| s.t_ns <= from).saturating_sub(1)
    });
    frame_t_ns
        .iter()
        .map(|&t| {
            let t = t.saturating_add(lag_ns);
            let end = (imu.partition_point(|s| s.t_ns < t) + 1)
                .min(imu.len())
                .max(start);
            let range = start..end;
            start = end;
            range
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use nalgebra::Vector3;

    use super::*;

    pub(crate) fn imu_at(times: &[i64]) -> Vec<ImuSample> {
        times
            .iter()
            .map(|&t_ns| ImuSample {
                t_ns,
                gyro: Vector3::new(0.1, -0.2, 0.3 + t_ns as f64 * 1e-9),
                accel: Vector3::new(9.8, 0.0, 0.0),
            })
            .collect()
    }

    #[test]
    fn imu_batches_hand_over_every_sample_once_up_to_each_frame() {
        // IMU every 5 ms from 0 to 300 ms; frames at 100, 152 (between
        // samples), 200 and 400 ms (after the last sample).
        let times: Vec<i64> = (0..=60).map(|k| k * 5_000_000).collect();
        let imu = imu_at(&times);
        let frames = [100_000_000, 152_000_000, 200_000_000, 400_000_000];
        let batches = imu_batches(&imu, &frames, 50_000_000, 0);
        assert_eq!(batches.len(), 4);
        // Lead: from 50 ms; up to and including the sample at the frame time.
        assert_eq!(imu[batches[0].start].t_ns, 50_000_000);
        assert_eq!(imu[batches[0].end - 1].t_ns, 100_000_000);
        // Between samples: up to the first sample after the frame.
        assert_eq!(imu[batches[1].end - 1].t_ns, 155_000_000);
        for w in batches.windows(2) {
            assert_eq!(w[0].end, w[1].start);
        }
        // After the last sample: the rest, then nothing.
        assert_eq!(batches[3].end, imu.len());
        // A lead ending between samples starts at the sample before it.
        let batches = imu_batches(&imu, &frames, 52_000_000, 0);
        assert_eq!(imu[batches[0].start].t_ns, 45_000_000);
        assert!(imu_batches(&imu, &[], 0, 0).is_empty());
        assert_eq!(imu_batches(&[], &frames, 0, 0), vec![0..0; 4]);
        // A lag hands over the samples up to the first at or after each
        // pair's time plus the lag.
        let lagged = imu_batches(&imu, &frames, 50_000_000, 30_000_000);
        assert_eq!(imu[lagged[0].end - 1].t_ns, 130_000_000);
        assert_eq!(imu[lagged[0].start].t_ns, 50_000_000);
    }
}

/// The stream's check before any stage sees it
/// ([`vio::health::SensorHealth`]): IMU samples beyond the sensor's range
/// are dropped, and the faults found (IMU and camera gaps, dropped samples)
/// go with the pair in [`FrameInput::faults`], each logged as a warning
/// naming its time. Every run screens its source ([`Screened`], or a call
/// to [`StreamScreen::screen`] after each pair), so the front end's gyro
/// prior and the back end's preintegration see the same clean samples.
#[derive(Debug, Clone)]
pub struct StreamScreen {
    health: SensorHealth,
}

impl StreamScreen {
    /// Screens a stream from `rig` with `config`'s limits.
    ///
    /// # Errors
    /// [`PipelineError::Config`] when a limit or the camera's rate is out of
    /// range.
    pub fn new(config: &HealthConfig, rig: &RigCalibration) -> Result<Self, PipelineError> {
        let health = SensorHealth::new(*config, rig.cam0.rate_hz)
            .map_err(|e| PipelineError::Config(format!("[health] {e}")))?;
        Ok(Self { health })
    }

    /// Checks a pair the source has just filled in: drops its out-of-range
    /// IMU samples and sets its faults.
    pub fn screen(&mut self, input: &mut FrameInput) {
        let health = &mut self.health;
        input.imu.retain(|s| health.check_imu(s));
        for &t in &input.skipped_t_ns {
            health.check_frame(t);
        }
        health.check_frame(input.frame.t_ns);
        input.faults.clear();
        for fault in health.take_faults() {
            tracing::warn!("{}", describe_fault(&fault));
            input.faults.push(fault);
        }
    }
}

/// A source screened by a [`StreamScreen`].
#[derive(Debug)]
pub struct Screened<'a, S: Source + ?Sized> {
    inner: &'a mut S,
    screen: StreamScreen,
}

impl<'a, S: Source + ?Sized> Screened<'a, S> {
    /// Screens `inner` with `config`'s limits.
    ///
    /// # Errors
    /// As [`StreamScreen::new`].
    pub fn new(inner: &'a mut S, config: &HealthConfig) -> Result<Self, PipelineError> {
        let screen = StreamScreen::new(config, inner.rig())?;
        Ok(Self { inner, screen })
    }
}

impl<S: Source + ?Sized> Source for Screened<'_, S> {
    fn name(&self) -> String {
        self.inner.name()
    }

    fn rig(&self) -> &RigCalibration {
        self.inner.rig()
    }

    fn len_hint(&self) -> Option<usize> {
        self.inner.len_hint()
    }

    fn next_into(&mut self, input: &mut FrameInput) -> Result<bool, PipelineError> {
        // At the end the input is left as it was (already screened).
        if !self.inner.next_into(input)? {
            return Ok(false);
        }
        self.screen.screen(input);
        Ok(true)
    }
}

/// A fault in words, its times in s on the sensors' clock.
#[must_use]
pub fn describe_fault(fault: &SensorFault) -> String {
    let s = |t_ns: i64| t_ns as f64 * 1e-9;
    match *fault {
        SensorFault::ImuGap { from_ns, to_ns } => format!(
            "IMU gap: no sample for {:.3} s, from t = {:.3} s to {:.3} s",
            fault.duration_s(),
            s(from_ns),
            s(to_ns)
        ),
        SensorFault::ImuOutOfRange {
            t_ns,
            gyro_rad_s,
            accel_m_s2,
        } => format!(
            "IMU sample at t = {:.3} s beyond the sensor's range (rate {gyro_rad_s:.3e} rad/s, specific force {accel_m_s2:.3e} m/s^2): dropped",
            s(t_ns)
        ),
        SensorFault::CameraGap { from_ns, to_ns } => format!(
            "camera gap: no stereo pair for {:.3} s, from t = {:.3} s to {:.3} s",
            fault.duration_s(),
            s(from_ns),
            s(to_ns)
        ),
        SensorFault::ImuOutOfOrder { t_ns, after_ns } => format!(
            "IMU sample at t = {:.6} s stamped before the one at {:.6} s: dropped",
            s(t_ns),
            s(after_ns)
        ),
        SensorFault::TimeOffset { t_ns, offset_s } => format!(
            "the IMU's time stamps {} the cameras' by {:.1} ms (found at t = {:.3} s)",
            if offset_s > 0.0 { "lag" } else { "lead" },
            offset_s.abs() * 1e3,
            s(t_ns)
        ),
        SensorFault::NoTexture { from_ns, to_ns } => format!(
            "no usable texture in the frames from t = {:.3} s to {:.3} s ({:.3} s)",
            s(from_ns),
            s(to_ns),
            fault.duration_s()
        ),
        SensorFault::StereoFailure { from_ns, to_ns } => format!(
            "stereo matching failed in the frames from t = {:.3} s to {:.3} s ({:.3} s)",
            s(from_ns),
            s(to_ns),
            fault.duration_s()
        ),
    }
}
