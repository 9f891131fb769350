//! Fault injection: a [`Source`] wrapper that damages the stream of another
//! on a schedule, the way sensors fail on a robot, so the pipeline's
//! detection and reaction can be tested and measured on flights with known
//! ground truth (`scout fault-bench`, the fault tests).
//!
//! Faults ([`FaultKind`]) and what they do to the stream between `from_s`
//! and `from_s + duration_s` (s after the first pair, on the sensors' clock):
//!
//! - **Camera dropout**: the pairs are not delivered; their IMU samples ride
//!   with the next pair delivered (as a driver that lost frames would).
//! - **Black frames**, **white frames**: both images all 0 or all 255 (a
//!   covered lens, an exposure gone wrong).
//! - **Noisy frames**: Gaussian noise of `sigma` grey levels on every pixel
//!   of both images, rounded and clamped (a failing sensor, interference).
//! - **IMU gap**: the IMU samples are not delivered (a bus fault, a driver
//!   restart); the stream resumes after.
//! - **Stereo desync**: the right image is the previous pair's (the two
//!   cameras' triggers slipped by a frame).
//! - **IMU time offset**: the IMU samples measured in the stretch are
//!   stamped `offset_s` late (a clock not synchronized with the cameras';
//!   over the whole stream for a steady offset, as the stretch's ends would
//!   otherwise reorder the samples).
//!
//! Deterministic: the noise comes from a generator seeded by the plan, so a
//! faulted run is the same on every run.

use datasets::model::RigCalibration;
use datasets::synth::rng::Rng;
use datasets::{GrayImage, ImuSample};
use serde::{Deserialize, Serialize};

use crate::PipelineError;
use crate::source::{FrameInput, Source};

/// A fault this long from the start lasts the whole stream (for its
/// description), s.
pub const THROUGHOUT_S: f64 = 1e6;

/// What an injected fault does (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultKind {
    /// Pairs not delivered.
    CameraDropout,
    /// Both images all 0.
    BlackFrames,
    /// Both images all 255.
    WhiteFrames,
    /// Gaussian noise on every pixel.
    NoisyFrames {
        /// Its standard deviation, grey levels.
        sigma: f64,
    },
    /// IMU samples not delivered.
    ImuGap,
    /// The right image is the previous pair's.
    StereoDesync,
    /// IMU samples stamped late.
    ImuTimeOffset {
        /// The delay, s.
        offset_s: f64,
    },
}

/// One fault over a stretch of the stream.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct InjectedFault {
    /// What it does.
    #[serde(flatten)]
    pub kind: FaultKind,
    /// When it starts, s after the first pair.
    pub from_s: f64,
    /// How long it lasts, s.
    pub duration_s: f64,
}

impl InjectedFault {
    /// Whether it acts at `t_s` (s after the first pair).
    #[must_use]
    pub fn active(&self, t_s: f64) -> bool {
        t_s >= self.from_s && t_s < self.from_s + self.duration_s
    }

    /// The fault in a few words, e.g. `IMU gap 5.0 s at 30.0 s`.
    #[must_use]
    pub fn describe(&self) -> String {
        let what = match self.kind {
            FaultKind::CameraDropout => "camera dropout".to_string(),
            FaultKind::BlackFrames => "black frames".to_string(),
            FaultKind::WhiteFrames => "white frames".to_string(),
            FaultKind::NoisyFrames { sigma } => format!("noisy frames (sigma {sigma})"),
            FaultKind::ImuGap => "IMU gap".to_string(),
            FaultKind::StereoDesync => "stereo desync".to_string(),
            FaultKind::ImuTimeOffset { offset_s } => {
                format!("IMU stamps {:.0} ms late", offset_s * 1e3)
            }
        };
        if self.from_s == 0.0 && self.duration_s >= THROUGHOUT_S {
            format!("{what} throughout")
        } else {
            format!("{what} {:.1} s at {:.1} s", self.duration_s, self.from_s)
        }
    }

    /// Checks the times and the noise.
    ///
    /// # Errors
    /// [`PipelineError::Config`] naming what is out of range.
    pub fn validate(&self) -> Result<(), PipelineError> {
        if !(self.from_s.is_finite() && self.from_s >= 0.0) {
            return Err(PipelineError::Config(format!(
                "fault start must be finite and >= 0 s, got {}",
                self.from_s
            )));
        }
        if !(self.duration_s.is_finite() && self.duration_s > 0.0) {
            return Err(PipelineError::Config(format!(
                "fault duration must be finite and > 0 s, got {}",
                self.duration_s
            )));
        }
        if let FaultKind::ImuTimeOffset { offset_s } = self.kind
            && !(offset_s.is_finite() && offset_s.abs() <= 1.0)
        {
            return Err(PipelineError::Config(format!(
                "IMU time offset must be within 1 s, got {offset_s}"
            )));
        }
        if let FaultKind::NoisyFrames { sigma } = self.kind
            && !(sigma.is_finite() && (0.0..=255.0).contains(&sigma))
        {
            return Err(PipelineError::Config(format!(
                "noise sigma must be in [0, 255] grey levels, got {sigma}"
            )));
        }
        Ok(())
    }
}

/// A source whose stream is damaged by a plan of [`InjectedFault`]s.
#[derive(Debug)]
pub struct Faulted<S: Source> {
    inner: S,
    plan: Vec<InjectedFault>,
    /// Time of the first pair, ns.
    t0_ns: Option<i64>,
    /// IMU samples of dropped pairs, for the next pair delivered.
    carried: Vec<ImuSample>,
    /// The last right image the inner source gave (for a desync).
    previous_right: GrayImage,
    rng: Rng,
}

impl<S: Source> Faulted<S> {
    /// Damages `inner`'s stream with `plan`; `seed` seeds the noise.
    ///
    /// # Errors
    /// [`PipelineError::Config`] when a fault is out of range.
    pub fn new(inner: S, plan: Vec<InjectedFault>, seed: u64) -> Result<Self, PipelineError> {
        for fault in &plan {
            fault.validate()?;
        }
        Ok(Self {
            inner,
            plan,
            t0_ns: None,
            carried: Vec::new(),
            previous_right: GrayImage::new(0, 0),
            rng: Rng::stream(seed, &[0xfa17]),
        })
    }

    /// The plan.
    #[must_use]
    pub fn plan(&self) -> &[InjectedFault] {
        &self.plan
    }

    fn acting(&self, t_s: f64, pick: impl Fn(&FaultKind) -> bool) -> Option<FaultKind> {
        self.plan
            .iter()
            .find(|f| pick(&f.kind) && f.active(t_s))
            .map(|f| f.kind)
    }
}

impl<S: Source> Source for Faulted<S> {
    fn name(&self) -> String {
        format!("{} (faults injected)", self.inner.name())
    }

    fn rig(&self) -> &RigCalibration {
        self.inner.rig()
    }

    fn len_hint(&self) -> Option<usize> {
        self.inner.len_hint()
    }

    fn next_into(&mut self, input: &mut FrameInput) -> Result<bool, PipelineError> {
        loop {
            if !self.inner.next_into(input)? {
                return Ok(false);
            }
            let t0 = *self.t0_ns.get_or_insert(input.frame.t_ns);
            let rel_s = |t_ns: i64| t_ns.saturating_sub(t0) as f64 * 1e-9;
            let plan = &self.plan;
            input.imu.retain(|s| {
                !plan
                    .iter()
                    .any(|f| f.kind == FaultKind::ImuGap && f.active(rel_s(s.t_ns)))
            });
            for s in &mut input.imu {
                let t_s = rel_s(s.t_ns);
                for f in &self.plan {
                    if let FaultKind::ImuTimeOffset { offset_s } = f.kind
                        && f.active(t_s)
                    {
                        s.t_ns = s.t_ns.saturating_add((offset_s * 1e9).round() as i64);
                    }
                }
            }
            if !self.carried.is_empty() {
                self.carried.append(&mut input.imu);
                std::mem::swap(&mut self.carried, &mut input.imu);
            }
            let t_s = rel_s(input.frame.t_ns);
            let right_now = std::mem::replace(&mut self.previous_right, GrayImage::new(0, 0));
            self.previous_right.clone_from(&input.frame.right);
            if self
                .acting(t_s, |k| *k == FaultKind::CameraDropout)
                .is_some()
            {
                self.carried.append(&mut input.imu);
                continue;
            }
            if self
                .acting(t_s, |k| *k == FaultKind::StereoDesync)
                .is_some()
                && right_now.width() == input.frame.right.width()
                && right_now.height() == input.frame.right.height()
            {
                input.frame.right = right_now;
            }
            match self.acting(t_s, |k| {
                matches!(
                    k,
                    FaultKind::BlackFrames | FaultKind::WhiteFrames | FaultKind::NoisyFrames { .. }
                )
            }) {
                Some(FaultKind::BlackFrames) => {
                    input.frame.left.data_mut().fill(0);
                    input.frame.right.data_mut().fill(0);
                }
                Some(FaultKind::WhiteFrames) => {
                    input.frame.left.data_mut().fill(255);
                    input.frame.right.data_mut().fill(255);
                }
                Some(FaultKind::NoisyFrames { sigma }) => {
                    for image in [&mut input.frame.left, &mut input.frame.right] {
                        for px in image.data_mut() {
                            let v = f64::from(*px) + sigma * self.rng.gaussian();
                            *px = v.round().clamp(0.0, 255.0) as u8;
                        }
                    }
                }
                _ => {}
            }
            return Ok(true);
        }
    }
}

#[cfg(test)]
mod tests {
    use datasets::StereoFrame;
    use nalgebra::Vector3;

    use super::*;

    /// Pairs every 50 ms from 0 with images of one grey level `10 + i`, the
    /// IMU every 5 ms.
    struct Steady {
        rig: RigCalibration,
        next: usize,
        pairs: usize,
    }

    impl Source for Steady {
        fn name(&self) -> String {
            "steady".into()
        }
        fn rig(&self) -> &RigCalibration {
            &self.rig
        }
        fn len_hint(&self) -> Option<usize> {
            Some(self.pairs)
        }
        fn next_into(&mut self, input: &mut FrameInput) -> Result<bool, PipelineError> {
            if self.next == self.pairs {
                return Ok(false);
            }
            let i = self.next;
            self.next += 1;
            let t_ns = i as i64 * 50_000_000;
            let grey = |level: usize| {
                GrayImage::from_vec(8, 4, vec![(10 + level) as u8; 32]).unwrap_or_else(|| panic!())
            };
            input.index = i;
            input.frame = StereoFrame {
                t_ns,
                left: grey(i),
                right: grey(i + 100),
            };
            input.imu.clear();
            let from = if i == 0 { 0 } else { t_ns - 45_000_000 };
            input
                .imu
                .extend((from..=t_ns).step_by(5_000_000).map(|t| ImuSample {
                    t_ns: t,
                    gyro: Vector3::zeros(),
                    accel: Vector3::new(0.0, 0.0, 9.81),
                }));
            Ok(true)
        }
    }

    fn steady(pairs: usize) -> Steady {
        Steady {
            rig: RigCalibration {
                cam0: datasets::CameraCalibration::euroc_cam0(),
                cam1: datasets::CameraCalibration::euroc_cam1(),
                imu: datasets::ImuCalibration::euroc_adis16448(),
            },
            next: 0,
            pairs,
        }
    }

    fn fault(kind: FaultKind, from_s: f64, duration_s: f64) -> InjectedFault {
        InjectedFault {
            kind,
            from_s,
            duration_s,
        }
    }

    fn drain(source: &mut impl Source) -> Vec<FrameInput> {
        let mut out = Vec::new();
        let mut input = FrameInput::empty();
        while source
            .next_into(&mut input)
            .unwrap_or_else(|e| panic!("{e}"))
        {
            out.push(input.clone());
        }
        out
    }

    #[test]
    fn each_fault_damages_only_its_stretch() {
        let plan = vec![
            fault(FaultKind::CameraDropout, 0.1, 0.1), // pairs 2, 3
            fault(FaultKind::BlackFrames, 0.25, 0.05), // pair 5
            fault(FaultKind::WhiteFrames, 0.3, 0.05),  // pair 6
            fault(FaultKind::NoisyFrames { sigma: 20.0 }, 0.35, 0.05), // pair 7
            fault(FaultKind::ImuGap, 0.4, 0.1),        // samples 400..500 ms
            fault(FaultKind::StereoDesync, 0.55, 0.05), // pair 11
            fault(FaultKind::ImuTimeOffset { offset_s: 0.002 }, 0.62, 0.1), // 620..720 ms
        ];
        let mut source = Faulted::new(steady(14), plan, 1).unwrap_or_else(|e| panic!("{e}"));
        let out = drain(&mut source);
        let index: Vec<usize> = out.iter().map(|p| p.index).collect();
        assert_eq!(index, [0, 1, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]);
        // Every sample delivered once, in order, but those of the gap; the
        // dropped pairs' samples came with pair 4.
        let samples: Vec<i64> = out
            .iter()
            .flat_map(|p| p.imu.iter().map(|s| s.t_ns))
            .collect();
        let expected: Vec<i64> = (0..=13 * 50)
            .step_by(5)
            .filter(|ms| !(400..500).contains(ms))
            .map(|ms| {
                let late = if (620..720).contains(&ms) { 2 } else { 0 };
                (ms + late) * 1_000_000
            })
            .collect();
        assert_eq!(samples, expected);
        assert_eq!(out[2].imu.first().map(|s| s.t_ns), Some(55_000_000));
        let level = |p: &FrameInput| (p.frame.left.data()[0], p.frame.right.data()[0]);
        assert_eq!(level(&out[2]), (14, 114));
        assert_eq!(level(&out[3]), (0, 0));
        assert_eq!(level(&out[4]), (255, 255));
        let noisy = &out[5].frame.left;
        assert!(noisy.data().iter().any(|&v| v != 17), "no noise");
        assert_eq!(level(&out[9]), (21, 120), "the right image is pair 10's");
        assert_eq!(level(&out[10]), (22, 122));
        // The same plan and seed give the same noise.
        let again = drain(
            &mut Faulted::new(
                steady(14),
                vec![fault(FaultKind::NoisyFrames { sigma: 20.0 }, 0.35, 0.05)],
                1,
            )
            .unwrap_or_else(|e| panic!("{e}")),
        );
        assert_eq!(again[7].frame.left.data(), noisy.data());
    }

    #[test]
    fn out_of_range_faults_are_refused() {
        for bad in [
            fault(FaultKind::ImuGap, -1.0, 1.0),
            fault(FaultKind::ImuGap, 1.0, 0.0),
            fault(FaultKind::ImuGap, f64::NAN, 1.0),
            fault(FaultKind::NoisyFrames { sigma: 1e300 }, 1.0, 1.0),
        ] {
            assert!(Faulted::new(steady(1), vec![bad], 0).is_err(), "{bad:?}");
        }
    }
}
