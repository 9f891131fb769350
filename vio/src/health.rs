//! Sensor health: what the sensors' streams say about themselves before any
//! estimate is made from them.
//!
//! [`SensorHealth`] watches the IMU samples and the stereo frames as the
//! back end gets them and reports [`SensorFault`]s with their times:
//!
//! - **IMU gap**: two consecutive samples further apart than
//!   [`HealthConfig::imu_gap_s`] (a 200 Hz IMU has 5 ms between samples;
//!   preintegration bridges a gap with the last sample held, which over a
//!   second or more is no measurement at all).
//! - **IMU sample out of range**: a rate or a specific force beyond what the
//!   sensor can report ([`HealthConfig::max_gyro_rad_s`],
//!   [`HealthConfig::max_accel_m_s2`]: a MEMS IMU saturates near 2000 deg/s
//!   and 16 g, the EuRoC ADIS16448 at 1000 deg/s and 18 g). Such a sample is
//!   a transmission or driver error; the caller drops it (one sample of
//!   1e300 integrated used to cost 41 frames and a re-initialization).
//! - **IMU sample out of order**: stamped at or before the sample before
//!   it (a driver's clock stepping back, a replayed buffer); dropped, as
//!   preintegration needs increasing times.
//! - **Camera gap**: two consecutive frames further apart than
//!   [`HealthConfig::camera_gap_periods`] camera periods (dropped or
//!   missing pairs).
//!
//!
//! [`VisionHealth`] watches what the front end made of each stereo pair
//! ([`FrameTracks`]) and reports stretches of frames as faults when they end:
//!
//! - **No texture**: fewer than [`HealthConfig::min_features`] features in a
//!   frame (a dark or saturated image, a covered lens, a blank wall).
//! - **Stereo failure**: features enough, but fewer than
//!   [`HealthConfig::min_stereo_share`] of them matched in the right image
//!   (the cameras out of sync, one lens obscured, heavy noise).
//!
//! [`crate::time_offset::TimeOffsetMonitor`] compares the rotation the
//! cameras see with the gyro's and reports an IMU-camera time offset beyond
//! [`HealthConfig::max_time_offset_s`].
//!
//! Units: times in ns on the sensors' clock, rates in rad/s, specific force
//! in m/s^2 (IMU frame). The checks are the sensors' own; what the estimator
//! makes of a fault (visual-only tracking across an IMU gap) is the back
//! end's.

use datasets::ImuSample;

use crate::frontend::FrameTracks;
use serde::{Deserialize, Serialize};

use crate::{Result, VioError};

/// Limits of [`SensorHealth`] (`[health]` in the pipeline file).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HealthConfig {
    /// Longest interval between two IMU samples that is not a gap, s.
    pub imu_gap_s: f64,
    /// Largest plausible angular rate on any axis, rad/s.
    pub max_gyro_rad_s: f64,
    /// Largest plausible specific force on any axis, m/s^2.
    pub max_accel_m_s2: f64,
    /// Longest interval between two frames that is not a gap, in camera
    /// periods (of the calibrated rate).
    pub camera_gap_periods: f64,
    /// Fewest features in a frame that is not a no-texture frame.
    pub min_features: u32,
    /// Smallest share of a frame's features with a stereo match that is not
    /// a stereo failure.
    pub min_stereo_share: f64,
    /// Largest IMU-camera time offset that is not a fault, s
    /// ([`crate::time_offset`]; it searches four times as far).
    pub max_time_offset_s: f64,
}

impl Default for HealthConfig {
    fn default() -> Self {
        Self {
            // Ten samples at 200 Hz: jitter and a lost packet are not gaps.
            imu_gap_s: 0.05,
            // 2000 deg/s and 16 g, the widest ranges of common MEMS IMUs.
            max_gyro_rad_s: 35.0,
            max_accel_m_s2: 160.0,
            camera_gap_periods: 2.5,
            // The front end keeps ~150 features on a textured scene (EuRoC,
            // the synthetic worlds) with 70-96 % of them stereo.
            min_features: 20,
            min_stereo_share: 0.2,
            // 10 ms: at 1 rad/s, 0.6 degrees between what the IMU and the
            // cameras say about the same instant.
            max_time_offset_s: 0.01,
        }
    }
}

impl HealthConfig {
    /// Checks every field.
    ///
    /// # Errors
    /// [`VioError::Config`] naming the first field out of range.
    pub fn validate(&self) -> Result<()> {
        for (name, v, lo, hi) in [
            ("imu_gap_s", self.imu_gap_s, 1e-4, 60.0),
            ("max_gyro_rad_s", self.max_gyro_rad_s, 1.0, 1e3),
            ("max_accel_m_s2", self.max_accel_m_s2, 10.0, 1e4),
            ("camera_gap_periods", self.camera_gap_periods, 1.5, 1e3),
            ("min_features", f64::from(self.min_features), 0.0, 1e4),
            ("min_stereo_share", self.min_stereo_share, 0.0, 1.0),
            ("max_time_offset_s", self.max_time_offset_s, 0.001, 0.5),
        ] {
            if !(v.is_finite() && (lo..=hi).contains(&v)) {
                return Err(VioError::Config(format!(
                    "health.{name} must be in [{lo}, {hi}], got {v}"
                )));
            }
        }
        Ok(())
    }
}

/// A fault in a sensor's stream.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SensorFault {
    /// No IMU sample between two times, ns.
    ImuGap {
        /// The last sample before the gap.
        from_ns: i64,
        /// The first sample after it.
        to_ns: i64,
    },
    /// An IMU sample beyond the sensor's range (dropped).
    ImuOutOfRange {
        /// Its time.
        t_ns: i64,
        /// Its largest rate on an axis, rad/s.
        gyro_rad_s: f64,
        /// Its largest specific force on an axis, m/s^2.
        accel_m_s2: f64,
    },
    /// An IMU sample stamped at or before the one before it (dropped).
    ImuOutOfOrder {
        /// Its time.
        t_ns: i64,
        /// The time of the sample before it.
        after_ns: i64,
    },
    /// No stereo frame between two times, ns.
    CameraGap {
        /// The last frame before the gap.
        from_ns: i64,
        /// The first frame after it.
        to_ns: i64,
    },
    /// Frames with too few features, ns.
    NoTexture {
        /// The first such frame.
        from_ns: i64,
        /// The last.
        to_ns: i64,
    },
    /// Frames whose features found too few stereo matches, ns.
    StereoFailure {
        /// The first such frame.
        from_ns: i64,
        /// The last.
        to_ns: i64,
    },
    /// The IMU's time stamps are off the cameras' ([`crate::time_offset`]).
    TimeOffset {
        /// The frame at which it was found.
        t_ns: i64,
        /// The offset, s (positive: the IMU's stamps lag).
        offset_s: f64,
    },
}

impl SensorFault {
    /// When it began, ns.
    #[must_use]
    pub fn t_ns(&self) -> i64 {
        match *self {
            Self::ImuGap { from_ns, .. }
            | Self::CameraGap { from_ns, .. }
            | Self::NoTexture { from_ns, .. }
            | Self::StereoFailure { from_ns, .. } => from_ns,
            Self::ImuOutOfRange { t_ns, .. }
            | Self::ImuOutOfOrder { t_ns, .. }
            | Self::TimeOffset { t_ns, .. } => t_ns,
        }
    }

    /// How long it lasted, s (0 for a single sample).
    #[must_use]
    pub fn duration_s(&self) -> f64 {
        match *self {
            Self::ImuGap { from_ns, to_ns }
            | Self::CameraGap { from_ns, to_ns }
            | Self::NoTexture { from_ns, to_ns }
            | Self::StereoFailure { from_ns, to_ns } => to_ns.saturating_sub(from_ns) as f64 * 1e-9,
            Self::ImuOutOfRange { .. } | Self::ImuOutOfOrder { .. } | Self::TimeOffset { .. } => {
                0.0
            }
        }
    }
}

/// Watches the IMU and camera streams ([module docs](self)).
#[derive(Debug, Clone)]
pub struct SensorHealth {
    config: HealthConfig,
    imu_gap_ns: i64,
    camera_gap_ns: i64,
    last_imu_ns: Option<i64>,
    last_frame_ns: Option<i64>,
    /// Faults found since the last [`Self::take_faults`].
    pending: Vec<SensorFault>,
}

impl SensorHealth {
    /// A monitor for a camera at `camera_rate_hz`.
    ///
    /// # Errors
    /// [`VioError::Config`] when a limit or the rate is out of range.
    pub fn new(config: HealthConfig, camera_rate_hz: f64) -> Result<Self> {
        config.validate()?;
        if !(camera_rate_hz.is_finite() && (0.1..=1e4).contains(&camera_rate_hz)) {
            return Err(VioError::Config(format!(
                "the camera rate must be in [0.1, 10000] Hz, got {camera_rate_hz}"
            )));
        }
        Ok(Self {
            config,
            imu_gap_ns: (config.imu_gap_s * 1e9).round() as i64,
            camera_gap_ns: (config.camera_gap_periods / camera_rate_hz * 1e9).round() as i64,
            last_imu_ns: None,
            last_frame_ns: None,
            pending: Vec::new(),
        })
    }

    /// Checks one IMU sample (time-ordered); `false` when it is out of range
    /// and must be dropped.
    pub fn check_imu(&mut self, sample: &ImuSample) -> bool {
        let finite = sample
            .gyro
            .iter()
            .chain(sample.accel.iter())
            .all(|v| v.is_finite());
        let gyro = sample.gyro.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let accel = sample.accel.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        if !(finite && gyro <= self.config.max_gyro_rad_s && accel <= self.config.max_accel_m_s2) {
            self.pending.push(SensorFault::ImuOutOfRange {
                t_ns: sample.t_ns,
                gyro_rad_s: gyro,
                accel_m_s2: accel,
            });
            return false;
        }
        if let Some(last) = self.last_imu_ns
            && sample.t_ns <= last
        {
            self.pending.push(SensorFault::ImuOutOfOrder {
                t_ns: sample.t_ns,
                after_ns: last,
            });
            return false;
        }
        if let Some(last) = self.last_imu_ns
            && sample.t_ns.saturating_sub(last) > self.imu_gap_ns
        {
            self.pending.push(SensorFault::ImuGap {
                from_ns: last,
                to_ns: sample.t_ns,
            });
        }
        self.last_imu_ns = Some(sample.t_ns);
        true
    }

    /// Checks a frame's time (time-ordered).
    pub fn check_frame(&mut self, t_ns: i64) {
        if let Some(last) = self.last_frame_ns
            && t_ns.saturating_sub(last) > self.camera_gap_ns
        {
            self.pending.push(SensorFault::CameraGap {
                from_ns: last,
                to_ns: t_ns,
            });
        }
        self.last_frame_ns = Some(t_ns);
    }

    /// The faults found since the last call, oldest first.
    pub fn take_faults(&mut self) -> Vec<SensorFault> {
        std::mem::take(&mut self.pending)
    }
}

/// What a frame's tracks say about the cameras.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FrameClass {
    Good,
    NoTexture,
    StereoFailure,
}

/// Watches the front end's output frame by frame ([module docs](self)).
#[derive(Debug, Clone)]
pub struct VisionHealth {
    config: HealthConfig,
    /// The open stretch of bad frames: its class, first and last frame time.
    open: Option<(FrameClass, i64, i64)>,
    pending: Vec<SensorFault>,
}

impl VisionHealth {
    /// A monitor with `config`'s limits.
    ///
    /// # Errors
    /// [`VioError::Config`] when a limit is out of range.
    pub fn new(config: HealthConfig) -> Result<Self> {
        config.validate()?;
        Ok(Self {
            config,
            open: None,
            pending: Vec::new(),
        })
    }

    /// Checks one frame's tracks (time-ordered); a stretch of bad frames is
    /// logged when it starts and becomes a fault when it ends.
    pub fn check_tracks(&mut self, tracks: &FrameTracks) {
        let features = tracks.features.len();
        let stereo = tracks
            .features
            .iter()
            .filter(|f| f.right_bearing.is_some())
            .count();
        let class = if features < self.config.min_features as usize {
            FrameClass::NoTexture
        } else if (stereo as f64) < self.config.min_stereo_share * features as f64 {
            FrameClass::StereoFailure
        } else {
            FrameClass::Good
        };
        let t_ns = tracks.t_ns;
        match self.open {
            Some((open, _, ref mut last)) if open == class => *last = t_ns,
            _ => {
                self.close();
                if class != FrameClass::Good {
                    let t_s = t_ns as f64 * 1e-9;
                    match class {
                        FrameClass::NoTexture => tracing::warn!(
                            "no usable texture from t = {t_s:.3} s: {features} features"
                        ),
                        _ => tracing::warn!(
                            "stereo failing from t = {t_s:.3} s: {stereo} of {features} features matched"
                        ),
                    }
                    self.open = Some((class, t_ns, t_ns));
                }
            }
        }
    }

    /// Ends the open stretch of bad frames (at the end of a stream), if any.
    pub fn close(&mut self) {
        let Some((class, from_ns, to_ns)) = self.open.take() else {
            return;
        };
        self.pending.push(match class {
            FrameClass::NoTexture => SensorFault::NoTexture { from_ns, to_ns },
            _ => SensorFault::StereoFailure { from_ns, to_ns },
        });
    }

    /// The faults found since the last call, oldest first.
    pub fn take_faults(&mut self) -> Vec<SensorFault> {
        std::mem::take(&mut self.pending)
    }
}

#[cfg(test)]
mod tests {
    use nalgebra::Vector3;

    use super::*;

    fn sample(t_ns: i64, gyro: f64, accel: f64) -> ImuSample {
        ImuSample {
            t_ns,
            gyro: Vector3::new(gyro, 0.0, 0.0),
            accel: Vector3::new(0.0, 0.0, accel),
        }
    }

    #[test]
    fn gaps_and_implausible_samples_are_reported_with_their_times() {
        let mut h =
            SensorHealth::new(HealthConfig::default(), 20.0).unwrap_or_else(|e| panic!("{e}"));
        let ms = 1_000_000;
        // 200 Hz for 1 s, then 1 s without a sample, then on.
        let mut t = 0;
        while t <= 1000 * ms {
            assert!(h.check_imu(&sample(t, 0.1, 9.81)));
            t += 5 * ms;
        }
        assert!(h.take_faults().is_empty());
        assert!(h.check_imu(&sample(2000 * ms, 0.1, 9.81)));
        assert_eq!(
            h.take_faults(),
            vec![SensorFault::ImuGap {
                from_ns: 1000 * ms,
                to_ns: 2000 * ms
            }]
        );
        // A sample of 1e300 and a NaN: dropped, reported, no gap after them.
        assert!(!h.check_imu(&sample(2005 * ms, 1e300, 9.81)));
        assert!(!h.check_imu(&sample(2010 * ms, 0.1, f64::NAN)));
        assert!(h.check_imu(&sample(2015 * ms, 0.1, 9.81)));
        let faults = h.take_faults();
        assert_eq!(faults.len(), 2, "{faults:?}");
        assert!(matches!(faults[0], SensorFault::ImuOutOfRange { t_ns, .. } if t_ns == 2005 * ms));
        assert!(faults[1].duration_s() == 0.0 && faults[1].t_ns() == 2010 * ms);
        // A sample stepping back in time: dropped, reported, no gap.
        assert!(!h.check_imu(&sample(2012 * ms, 0.1, 9.81)));
        assert!(h.check_imu(&sample(2020 * ms, 0.1, 9.81)));
        assert_eq!(
            h.take_faults(),
            vec![SensorFault::ImuOutOfOrder {
                t_ns: 2012 * ms,
                after_ns: 2015 * ms
            }]
        );
        // Frames at 20 Hz with one pair missing (100 ms): no gap at 2.5
        // periods; three missing (200 ms): a gap.
        for t in [0, 50, 100, 200, 400] {
            h.check_frame(t * ms);
        }
        let faults = h.take_faults();
        assert_eq!(
            faults,
            vec![SensorFault::CameraGap {
                from_ns: 200 * ms,
                to_ns: 400 * ms
            }]
        );
        assert!((faults[0].duration_s() - 0.2).abs() < 1e-12);
    }

    /// Tracks at `t_ms` with `features` features, `stereo` of them matched.
    fn tracks(t_ms: i64, features: usize, stereo: usize) -> FrameTracks {
        let feature = |k: usize| crate::frontend::Feature {
            id: k as u64,
            age: 0,
            left: nalgebra::Vector2::zeros(),
            right: None,
            left_bearing: Vector3::z(),
            right_bearing: (k < stereo).then(Vector3::z),
        };
        FrameTracks {
            t_ns: t_ms * 1_000_000,
            features: (0..features).map(feature).collect(),
            ..FrameTracks::default()
        }
    }

    #[test]
    fn stretches_without_texture_or_stereo_are_reported_when_they_end() {
        let mut h = VisionHealth::new(HealthConfig::default()).unwrap_or_else(|e| panic!("{e}"));
        let ms = 1_000_000;
        // Good, two dark frames, good, three frames with 10 % stereo, a
        // dark one, good.
        let frames = [
            (0, 150, 140),
            (50, 0, 0),
            (100, 19, 19),
            (150, 150, 31),
            (200, 150, 14),
            (250, 150, 10),
            (300, 150, 2),
            (350, 3, 0),
            (400, 150, 120),
        ];
        for (t, features, stereo) in frames {
            h.check_tracks(&tracks(t, features, stereo));
        }
        assert_eq!(
            h.take_faults(),
            vec![
                SensorFault::NoTexture {
                    from_ns: 50 * ms,
                    to_ns: 100 * ms
                },
                SensorFault::StereoFailure {
                    from_ns: 200 * ms,
                    to_ns: 300 * ms
                },
                SensorFault::NoTexture {
                    from_ns: 350 * ms,
                    to_ns: 350 * ms
                },
            ]
        );
        // A stretch still open at the end is closed by `close`.
        h.check_tracks(&tracks(450, 0, 0));
        assert!(h.take_faults().is_empty());
        h.close();
        assert_eq!(h.take_faults().len(), 1);
    }

    #[test]
    fn limits_out_of_range_are_refused_by_name() {
        for (cfg, name) in [
            (
                HealthConfig {
                    imu_gap_s: 0.0,
                    ..HealthConfig::default()
                },
                "imu_gap_s",
            ),
            (
                HealthConfig {
                    max_gyro_rad_s: f64::NAN,
                    ..HealthConfig::default()
                },
                "max_gyro_rad_s",
            ),
            (
                HealthConfig {
                    max_accel_m_s2: 1e300,
                    ..HealthConfig::default()
                },
                "max_accel_m_s2",
            ),
            (
                HealthConfig {
                    camera_gap_periods: 1.0,
                    ..HealthConfig::default()
                },
                "camera_gap_periods",
            ),
        ] {
            let e = SensorHealth::new(cfg, 20.0)
                .map(|_| ())
                .map_err(|e| e.to_string());
            assert!(e.as_ref().is_err_and(|m| m.contains(name)), "{e:?}");
        }
        assert!(SensorHealth::new(HealthConfig::default(), 0.0).is_err());
    }
}
