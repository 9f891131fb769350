//! The back end stage: each frame's IMU samples into
//! [`vio::backend::BackEnd::push_imu`], then its tracks into
//! [`vio::backend::BackEnd::process`]: one [`Estimate`] per frame
//! (`world_from_body`, body = IMU frame, in the back end's gravity-aligned
//! world, z up, m).

use std::time::Instant;

use cost::StageCounts;
use datasets::model::RigCalibration;
use datasets::{ImuSample, StereoFrame};
use vio::backend::{BackEnd, BackEndConfig, Estimate, TrackingStatus};
use vio::frontend::FrameTracks;
use vio::health::HealthConfig;

use super::elapsed_ns;
use crate::PipelineError;
use crate::record::FrameView;

/// The back end, the IMU samples it was given and its counted work.
#[derive(Debug)]
pub struct BackEndStage {
    backend: BackEnd,
    /// IMU samples pushed so far.
    pub imu_samples: usize,
    /// Counted work over the run, frame by frame.
    pub cost: StageCounts,
    /// The session of the first frame that tracked: the world frame the
    /// map is built in (a re-initialization from scratch starts another).
    first_session: Option<u32>,
    views: bool,
    images_every: usize,
}

impl BackEndStage {
    /// The camera-IMU time offset estimated so far, s
    /// ([`BackEnd::time_offset_s`]).
    #[must_use]
    pub fn time_offset_s(&self) -> f64 {
        self.backend.time_offset_s()
    }

    /// A back end for a rig; `health` says what an IMU gap is (vision alone
    /// carries the frames across one); `views`: give each frame a
    /// [`FrameView`], with its stereo pair every `images_every` frames (0:
    /// never).
    ///
    /// # Errors
    /// [`PipelineError::Setup`] when the configuration or the calibration is
    /// refused.
    pub fn new(
        config: &BackEndConfig,
        health: &HealthConfig,
        rig: &RigCalibration,
        views: bool,
        images_every: usize,
    ) -> Result<Self, PipelineError> {
        let setup = |error| PipelineError::Setup {
            stage: "back end",
            error,
        };
        let mut backend = BackEnd::new(config.clone(), rig).map_err(setup)?;
        backend.set_imu_gap_s(health.imu_gap_s).map_err(setup)?;
        Ok(Self {
            backend,
            imu_samples: 0,
            cost: StageCounts::new(),
            first_session: None,
            views,
            images_every,
        })
    }

    /// Pushes `imu`, then processes `tracks` when there are any (an IMU-only
    /// step ends a real-time run whose last pair was dropped); returns the
    /// estimate and the wall time, ns.
    ///
    /// # Errors
    /// [`PipelineError::BackEnd`] when the back end refuses a sample or the
    /// frame.
    pub fn step(
        &mut self,
        imu: &[ImuSample],
        tracks: Option<&FrameTracks>,
    ) -> Result<Option<(Estimate, u64)>, PipelineError> {
        let start = Instant::now();
        for sample in imu {
            self.backend
                .push_imu(sample)
                .map_err(|error| PipelineError::BackEnd {
                    t_ns: sample.t_ns,
                    error,
                })?;
        }
        self.imu_samples += imu.len();
        let Some(tracks) = tracks else {
            return Ok(None);
        };
        let estimate = self
            .backend
            .process(tracks)
            .map_err(|error| PipelineError::BackEnd {
                t_ns: tracks.t_ns,
                error,
            })?
            .clone();
        if estimate.status == TrackingStatus::Tracking && self.first_session.is_none() {
            self.first_session = Some(estimate.session);
        }
        self.cost.record_run(tracks.t_ns, &[self.backend.cost()]);
        Ok(Some((estimate, elapsed_ns(start))))
    }

    /// Whether a frame's estimate goes to the mapper: a keyframe, tracking,
    /// in the world frame of the first tracking session.
    #[must_use]
    pub fn maps(&self, estimate: &Estimate) -> bool {
        estimate.keyframe
            && estimate.status == TrackingStatus::Tracking
            && Some(estimate.session) == self.first_session
    }

    /// A keyframe that tracks in a later session (not mapped: its world frame
    /// is another).
    #[must_use]
    pub fn keyframe_of_later_session(&self, estimate: &Estimate) -> bool {
        estimate.keyframe && estimate.status == TrackingStatus::Tracking && !self.maps(estimate)
    }

    /// Whether an estimate belongs to a session after the first tracking one
    /// (a re-initialization from scratch: another world frame).
    #[must_use]
    pub fn in_later_session(&self, estimate: &Estimate) -> bool {
        self.first_session.is_some_and(|s| s != estimate.session)
    }

    /// The view of frame `index` for a viewer, when views are on.
    #[must_use]
    pub fn view(
        &self,
        index: usize,
        tracks: &FrameTracks,
        frame: &StereoFrame,
    ) -> Option<Box<FrameView>> {
        self.views.then(|| {
            let mut landmarks = Vec::new();
            self.backend.landmarks_world(&mut landmarks);
            let with_images = self.images_every > 0 && index.is_multiple_of(self.images_every);
            Box::new(FrameView {
                features: tracks.features.clone(),
                landmarks,
                images: with_images.then(|| frame.clone()),
            })
        })
    }
}
