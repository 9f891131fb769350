//! A flight whose path is decided while it flies: the synthetic world
//! rendered live along a trajectory that grows as a planner appends control
//! points, with the IMU sampled along it as time advances. The closed-loop
//! counterpart of [`super::SyntheticSequence`], whose trajectory is fixed in
//! advance; the same world, textures, renderer, exposure and IMU models, so
//! images and IMU readings are as realistic.
//!
//! Frames and units: world z-up (floor at z = 0), metres, rad; body = IMU
//! frame as everywhere in [`super`]. Time: frame `i` at `start_time_ns + i *
//! camera_period`, IMU readings at `start_time_ns + k * imu_period` (every
//! frame time is an IMU time); trajectory time 0 is `start_time_ns`. The
//! flight starts in an exact hover at the given position and yaw.
//!
//! When the controller has not appended points far enough ahead, the flight
//! appends the last one again (the drone slows to a hover where it was
//! going) before rendering: the stream never stops for want of a command.
//! Determinism: everything is a function of the configuration, the world and
//! the control points appended.

use nalgebra::{Isometry3, Vector3};

use super::imu::ImuSimulator;
use super::render::{CameraRenderer, RenderScratch};
use super::texture::SceneTextures;
use super::trajectory::{KinematicState, Trajectory};
use super::world::World;
use super::{ExposureModel, PairRenderer, SynthConfig};
use crate::image::GrayImage;
use crate::model::{
    GroundTruthState, ImuBias, ImuCalibration, ImuSample, RigCalibration, StereoFrame,
};
use crate::{DatasetError, Result};

/// A closed-loop synthetic flight (see the module docs).
pub struct SyntheticFlight {
    /// Rendering, IMU and timing settings (its trajectory fields are unused).
    pub config: SynthConfig,
    /// EuRoC's camera and IMU calibration at the configured rates.
    pub calibration: RigCalibration,
    /// The world flown through.
    pub world: World,
    textures: SceneTextures,
    exposure: ExposureModel,
    renderers: [CameraRenderer; 2],
    trajectory: Trajectory,
    imu: ImuSimulator,
    camera_period_ns: i64,
    next_frame: usize,
    scratch: RenderScratch,
}

impl std::fmt::Debug for SyntheticFlight {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyntheticFlight")
            .field("seed", &self.config.seed)
            .field("next_frame", &self.next_frame)
            .field("control_points", &self.trajectory.control_points().len())
            .finish_non_exhaustive()
    }
}

impl SyntheticFlight {
    /// A flight through `world` (its textures from `cfg.seed`), hovering at
    /// `start` with `yaw` (rad), knots every `knot_interval_s`.
    ///
    /// # Errors
    /// If a rate, the noise settings, the knot interval or the start are
    /// invalid, or the start is within 0.1 m of a surface.
    pub fn new(
        cfg: &SynthConfig,
        world: World,
        start: Vector3<f64>,
        yaw: f64,
        knot_interval_s: f64,
    ) -> Result<Self> {
        let (camera_period_ns, imu_period_ns) = cfg.periods_ns()?;
        if !world.is_free(&start, 0.1) {
            return Err(DatasetError::InvalidArgument(format!(
                "the flight's start {start:?} is not free"
            )));
        }
        let textures = SceneTextures::generate(&world, &cfg.texture_config(), cfg.seed)?;
        let (calibration, renderers, exposure) = super::rig_renderers_exposure(cfg)?;
        let imu = ImuSimulator::new(
            &ImuCalibration::euroc_adis16448(),
            &cfg.imu_noise,
            cfg.start_time_ns,
            imu_period_ns,
            cfg.seed,
        )?;
        let trajectory = Trajectory::hover(
            start,
            yaw,
            knot_interval_s,
            cfg.camera_tilt_deg.to_radians(),
        )?;
        Ok(Self {
            config: cfg.clone(),
            calibration,
            world,
            textures,
            exposure,
            renderers,
            trajectory,
            imu,
            camera_period_ns,
            next_frame: 0,
            scratch: RenderScratch::new(),
        })
    }

    /// The trajectory so far (time 0 at the start time).
    #[must_use]
    pub fn trajectory(&self) -> &Trajectory {
        &self.trajectory
    }

    /// Appends a control point `(x, y, z, yaw)` to the trajectory (see
    /// [`Trajectory::push_control_point`]).
    ///
    /// # Errors
    /// If a value is not finite.
    pub fn push_control_point(&mut self, point: [f64; 4]) -> Result<()> {
        self.trajectory.push_control_point(point)
    }

    /// The control points that have not yet shaped anything this flight
    /// rendered or sampled (its frames and IMU readings so far): those
    /// [`Self::retract_unflown`] would drop.
    #[must_use]
    pub fn unflown_points(&self) -> usize {
        self.trajectory.points_after(self.flown_s())
    }

    /// Drops the control points that have not yet shaped anything rendered or
    /// sampled ([`Trajectory::retract_after`] at the last frame's time) and
    /// returns how many: what the drone flew stays, and the points appended
    /// next say where it goes from there.
    pub fn retract_unflown(&mut self) -> usize {
        let t = self.flown_s();
        self.trajectory.retract_after(t)
    }

    /// Seconds flown: the last frame's time (its IMU reading is the last
    /// one taken), 0 before the first.
    fn flown_s(&self) -> f64 {
        match self.next_frame {
            0 => 0.0,
            n => self.seconds(self.config.start_time_ns + (n as i64 - 1) * self.camera_period_ns),
        }
    }

    /// Seconds since the start for a time stamp.
    #[must_use]
    pub fn seconds(&self, t_ns: i64) -> f64 {
        t_ns.saturating_sub(self.config.start_time_ns) as f64 * 1e-9
    }

    /// Time stamp of the next frame, ns.
    #[must_use]
    pub fn next_frame_t_ns(&self) -> i64 {
        self.config.start_time_ns + self.next_frame as i64 * self.camera_period_ns
    }

    /// Frames gone by so far (rendered, or skipped by [`Self::skip_frame`]).
    #[must_use]
    pub fn frames(&self) -> usize {
        self.next_frame
    }

    /// The exact state at `t_ns`.
    #[must_use]
    pub fn kinematics_at(&self, t_ns: i64) -> KinematicState {
        self.trajectory.state(self.seconds(t_ns))
    }

    /// Ground truth at `t_ns`: exact pose and velocity (biases are not
    /// kept).
    #[must_use]
    pub fn state_at(&self, t_ns: i64) -> GroundTruthState {
        let s = self.kinematics_at(t_ns);
        GroundTruthState {
            t_ns,
            world_from_body: s.world_from_body,
            v_world: Some(s.velocity),
            bias: None,
        }
    }

    /// The body's pose at `t_ns`.
    #[must_use]
    pub fn pose_at(&self, t_ns: i64) -> Isometry3<f64> {
        self.kinematics_at(t_ns).world_from_body
    }

    /// A stereo frame of the right size to render into.
    #[must_use]
    pub fn new_frame(&self) -> StereoFrame {
        StereoFrame {
            t_ns: 0,
            left: GrayImage::new(self.renderers[0].width(), self.renderers[0].height()),
            right: GrayImage::new(self.renderers[1].width(), self.renderers[1].height()),
        }
    }

    /// Renders the next frame into `frame` (resized if needed) and appends to
    /// `imu` the readings after the previous frame's up to and including the
    /// one at this frame's time (the first frame gets the reading at its own
    /// time only), with their true biases to `biases`.
    ///
    /// # Errors
    /// If the renderer fails (never with a frame it sized itself).
    pub fn next_into(
        &mut self,
        frame: &mut StereoFrame,
        imu: &mut Vec<ImuSample>,
        biases: &mut Vec<ImuBias>,
    ) -> Result<()> {
        let t_ns = self.next_frame_t_ns();
        self.fly_to(t_ns, imu, biases)?;
        let world_from_body = self.pose_at(t_ns);
        let t_s = self.seconds(t_ns);
        frame.t_ns = t_ns;
        for (c, image) in [&mut frame.left, &mut frame.right].into_iter().enumerate() {
            let (w, h) = (self.renderers[c].width(), self.renderers[c].height());
            if image.width() != w || image.height() != h {
                *image = GrayImage::new(w, h);
            }
        }
        PairRenderer {
            seed: self.config.seed,
            calibration: &self.calibration,
            renderers: &self.renderers,
            world: &self.world,
            textures: &self.textures,
            exposure: &self.exposure,
        }
        .render(
            self.next_frame,
            &world_from_body,
            t_s,
            &mut self.scratch,
            frame,
        )?;
        self.next_frame += 1;
        Ok(())
    }

    /// [`Self::next_into`] without the pair: the flight and its IMU go on
    /// one frame, nothing is rendered (a frame nobody looks at: a camera
    /// that drops it, a test of the motion alone).
    ///
    /// # Errors
    /// As [`Self::next_into`].
    pub fn skip_frame(
        &mut self,
        imu: &mut Vec<ImuSample>,
        biases: &mut Vec<ImuBias>,
    ) -> Result<()> {
        let t_ns = self.next_frame_t_ns();
        self.fly_to(t_ns, imu, biases)?;
        self.next_frame += 1;
        Ok(())
    }

    /// Extends the trajectory to `t_ns` (holding its last point until the
    /// controller says more) and samples the IMU up to it.
    fn fly_to(
        &mut self,
        t_ns: i64,
        imu: &mut Vec<ImuSample>,
        biases: &mut Vec<ImuBias>,
    ) -> Result<()> {
        while self.trajectory.duration_s() < self.seconds(t_ns) + 1e-9 {
            let last = self
                .trajectory
                .control_points()
                .last()
                .copied()
                .unwrap_or([0.0; 4]);
            self.trajectory.push_control_point(last)?;
        }
        while self.imu.next_t_ns() <= t_ns {
            let (sample, bias) = self.imu.sample(&self.trajectory);
            imu.push(sample);
            biases.push(bias);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::world::WorldConfig;

    #[test]
    fn a_flight_renders_along_the_points_appended_and_its_imu_follows() {
        let world = World::generate(&WorldConfig::default(), 4).unwrap_or_else(|e| panic!("{e}"));
        let start = Vector3::new(
            world.room.min.x + 1.5,
            0.5 * (world.room.min.y + world.room.max.y),
            1.0,
        );
        let cfg = SynthConfig {
            seed: 4,
            ..SynthConfig::default()
        };
        let mut flight =
            SyntheticFlight::new(&cfg, world, start, 0.0, 0.5).unwrap_or_else(|e| panic!("{e}"));
        let mut frame = flight.new_frame();
        let (mut imu, mut biases) = (Vec::new(), Vec::new());
        // Hover for 10 frames (the flight holds its start by itself), then go
        // 1 m along +x in 0.25 m steps.
        for _ in 0..10 {
            flight
                .next_into(&mut frame, &mut imu, &mut biases)
                .unwrap_or_else(|e| panic!("{e}"));
        }
        assert_eq!(imu.len(), 1 + 9 * 10);
        assert_eq!(imu.len(), biases.len());
        assert_eq!(imu.last().map(|s| s.t_ns), Some(frame.t_ns));
        assert!(imu.windows(2).all(|w| w[1].t_ns - w[0].t_ns == 5_000_000));
        assert_eq!(flight.pose_at(frame.t_ns).translation.vector, start);
        let mean = frame.left.data().iter().map(|&p| f64::from(p)).sum::<f64>()
            / frame.left.data().len() as f64;
        assert!(mean > 20.0 && mean < 235.0, "a textured image: mean {mean}");
        for k in 1..=4 {
            flight
                .push_control_point([start.x + 0.25 * f64::from(k), start.y, start.z, 0.0])
                .unwrap_or_else(|e| panic!("{e}"));
        }
        // The motion alone from here (rendering every frame is what costs,
        // minutes under emulation); the last frame rendered again.
        for _ in 0..99 {
            flight
                .skip_frame(&mut imu, &mut biases)
                .unwrap_or_else(|e| panic!("{e}"));
        }
        flight
            .next_into(&mut frame, &mut imu, &mut biases)
            .unwrap_or_else(|e| panic!("{e}"));
        // 5 s later the drone has come to rest at the last point.
        let end = flight.kinematics_at(frame.t_ns);
        assert!((end.position - Vector3::new(start.x + 1.0, start.y, start.z)).norm() < 1e-9);
        assert!(end.velocity.norm() < 1e-9);
        // Integrating the noise-free part of the IMU is what the trajectory
        // flew: the mean specific force over a rest-to-rest flight is gravity.
        assert!(flight.world.is_free(&end.position, 0.1));
        assert_eq!(imu.len(), 1 + 109 * 10);
        // Sent 1 m back, then braked a frame later: the points not flown yet
        // go, the drone holds the last one kept and stops short of the 1 m.
        for k in 1..=4 {
            flight
                .push_control_point([start.x + 1.0 - 0.25 * f64::from(k), start.y, start.z, 0.0])
                .unwrap_or_else(|e| panic!("{e}"));
        }
        flight
            .next_into(&mut frame, &mut imu, &mut biases)
            .unwrap_or_else(|e| panic!("{e}"));
        let before = flight.kinematics_at(frame.t_ns);
        let unflown = flight.unflown_points();
        assert!(unflown > 0);
        assert_eq!(flight.retract_unflown(), unflown);
        assert_eq!(flight.unflown_points(), 0);
        assert_eq!(flight.kinematics_at(frame.t_ns).position, before.position);
        let held = *flight
            .trajectory()
            .control_points()
            .last()
            .unwrap_or(&[0.0; 4]);
        assert!(held[0] > start.x + 0.1, "a point kept still heads back");
        for _ in 0..100 {
            flight
                .skip_frame(&mut imu, &mut biases)
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let end = flight.kinematics_at(flight.next_frame_t_ns() - flight.camera_period_ns);
        assert!(
            (end.position.x - held[0]).abs() < 1e-9,
            "rests at the point held"
        );
        assert!(end.position.x > start.x + 0.1, "short of the 1 m back");
    }
}
