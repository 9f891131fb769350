//! The closed loop with the VIO in it: a simulated drone explores a
//! synthetic world with its own stereo camera, IMU, VIO, map and planner.
//!
//! ```text
//! SyntheticFlight (world rendered along the path actually flown, IMU along it)
//!   -> FrontEndStage -> BackEndStage (pose: estimated, or the true one)
//!   -> MapperStage (stereo depth at keyframes, at the *estimated* poses)
//!   -> PlannerStage (every `plan_every_s`, on the map's band at flying
//!      height; on its own thread, on a snapshot of the map, its plan flown
//!      `plan_latency_s` after it was asked: `crate::plan_thread`)
//!   -> Controller: the path as B-spline control points, yaw rate limited,
//!      each checked against the live map (`crate::safety::BodyCheck`)
//!   -> SyntheticFlight (the next control point)
//! ```
//!
//! The loop calls the stages in order on one thread, the planner aside, and
//! a plan is flown at a fixed frame after it was asked however long its
//! thread took, so a flight is deterministic (the same output bit for bit on
//! every run, the planner inline or threaded; the renderer's and the stages'
//! wall times aside).
//!
//! **Frames.** The true world is the generator's (z up, floor at z = 0). With
//! `--pose vio` the map, the planning grid and the plans are in the VIO's
//! world (gravity-aligned, origin and yaw at the body pose where it
//! initialized), as on a real drone. `true_from_est`, a yaw and a
//! translation tied at the first tracking frame (`gravity_aligned_tie`: the
//! initial estimate's roll and pitch error is left out), places the
//! planning grid and the ground truth (reachable free space, coverage, map
//! quality) in that frame; the controller, a stand-in
//! for a flight controller tracking the plan with the estimated pose, carries
//! each control point into the true world through the latest estimate's
//! error, so the VIO's drift moves the real drone as it would. With `--pose
//! true` the estimate is the true pose and the two worlds are one.
//!
//! **Flight.** The drone hovers at its start (the VIO initializes on the
//! still start, 0.3 s), turns a full circle in place to see around it, then
//! follows each plan's A* path at `speed_m_s`, resampled to one control point
//! per knot interval (a quintic B-spline: speed at most the step over the
//! interval, the path inside the convex hull of six consecutive points, C4
//! so the IMU sees no jumps), facing along its way and, at the goal, the
//! plan's yaw, the yaw changing at most `max_yaw_rate_rad_s`. The plans keep
//! the drone's radius and `clearance_m` from every occupied cell; before
//! each control point the move is checked against the live map's obstacle
//! band (not the last plan's grid: a keyframe's new obstacle counts at
//! once) with the radius and `safety_margin_m` (the VIO's error, the
//! map's, the spline cutting a corner); a body already that near may stay
//! put (turning in place) or move strictly clear (backing off a wall the
//! map put too near), so its own map never pins the drone; when
//! the map has closed in on the point the drone was sent to (within the
//! radius and the margin), it drops the plan and steps away
//! ([`crate::safety::BodyCheck::back_off`]). The points sent ahead of the
//! drone (the trajectory is kept defined `HORIZON_KNOTS` ahead, and a
//! quintic's span is shaped by six points, about a metre at full speed)
//! are checked again before every frame on the latest map: when it has
//! closed in on one the drone has not started flying toward
//! (`SyntheticFlight::retract_unflown`), they are taken back and the
//! drone brakes at the last point it is committed to, from where it holds
//! or steps away. The
//! cells the body sweeps are free on the planner's grid from then on where
//! the map has not observed them. A blocked move, or a lost VIO, makes the
//! drone hold its last point (it slows to a hover);
//! while lost it also turns slowly in place (half the yaw rate) to find
//! features again, and it replans once it tracks. A re-initialization from
//! scratch (a new world frame) ends the flight as `vio_lost`: its map and
//! plans are in the first world. Contacts with the true world (the body's
//! centre nearer than `radius_m` to a surface) are counted.
//!
//! **Measured** ([`FlightRun`]): coverage of the reachable free space in the
//! band over time, path length (true), simulated time, the estimated and
//! true poses (the caller scores the ATE), contacts, each stage's wall time,
//! the map's agreement with the world.

use std::collections::VecDeque;
use std::time::Instant;

use cost::StageCounts;
use datasets::ImuSample;
use datasets::synth::SynthConfig;
use datasets::synth::flight::SyntheticFlight;
use datasets::synth::world::World;
use exploration::grid::Grid2;
use exploration::planner::{FrontierPlanner, MiPlanner, Plan, Planner};
use exploration::sim::{PlannerKind, planar_clearance, reachable_where, start_point};
use mapping::logodds::UNKNOWN_I8;
use mapping::map::Occupancy;
use mapping::{CrossedFarEnd, FixedMap, OccupancyParams, QuantizedModel};
use nalgebra::{Isometry3, Point3, UnitQuaternion, Vector3};
use serde::{Deserialize, Serialize};
use vio::backend::TrackingStatus;

use crate::PipelineError;
use crate::config::PipelineConfig;
use crate::plan_thread::PlannerRunner;
use crate::record::{MapRecord, PipelineRecord, RecordTiming, StreamEvent};
use crate::safety::BodyCheck;
use crate::source::{FlightSource, FrameInput, Source};
use crate::stages::{BackEndStage, FrontEndStage, KeyframeMapper, MapperStage, PlannerStage};

/// Where the drone's pose comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PoseSource {
    /// The simulator's true pose (no VIO).
    True,
    /// The VIO's estimate.
    Vio,
}

/// The `[flight]` section: the drone, its flight and its map model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FlightConfig {
    /// Flying height above the floor, m.
    pub height_m: f64,
    /// Speed along the path, m/s (at most 1).
    pub speed_m_s: f64,
    /// Time between the trajectory's knots, s.
    pub knot_interval_s: f64,
    /// Largest yaw rate, rad/s.
    pub max_yaw_rate_rad_s: f64,
    /// Stereo depth is mapped up to this range, m, and the planner scores
    /// beams this long (stereo's depth error grows as the square of the
    /// distance: about 5 cm at 3 m at half EuRoC resolution).
    pub depth_range_m: f64,
    /// Time between plans, s (and at every goal).
    pub plan_every_s: f64,
    /// A plan asked for at one frame is flown from the first frame this
    /// much later, simulated s (what planning takes on the robot; the drone
    /// flies its last plan meanwhile). At most `plan_every_s`.
    pub plan_latency_s: f64,
    /// Plans on a thread of its own, on a snapshot of the map, while the
    /// other stages go on (the same flight bit for bit as inline).
    pub planner_thread: bool,
    /// The planning grid is the map's band of this half height around the
    /// flying height, m: what the drone explores (free space, frontiers,
    /// coverage).
    pub band_half_height_m: f64,
    /// Occupied cells of the map's band of this half height around the
    /// flying height are obstacles too, m: the drone's body (a sphere of
    /// `radius_m`) and a margin, so at least `radius_m` (with the planning
    /// band alone, thinner than the body, the drone grazed box tops just
    /// under it).
    pub obstacle_half_height_m: f64,
    /// Free cells under which the map's cells from this far below the
    /// flying height up to it were never observed are kept clear of like
    /// obstacles, m (a box top just under the drone, seen edge-on; 0 for
    /// none; see `PlannerStage::with_unseen_below`). The radius by
    /// default: a surface nearer than that under the body's centre touches
    /// it (at 0.1 m the drone flew 6 cm over a box top it had seen only
    /// edge-on, whose inside from 0.9 m up was carved free by the rays
    /// passing over it).
    pub unseen_below_m: f64,
    /// Travel keeps this far from the unobserved cells beside observed free
    /// ones, m (centre to centre; `PlannerStage::with_unknown_clearance`),
    /// and the frontier baseline's goals may lie this much further from
    /// their frontier. 0.25 m (the radius and the safety margin) keeps the
    /// body clear of a surface the camera never saw; 0, the default, keeps
    /// none: over ten worlds 0.25 m cost the frontier baseline two worlds
    /// (docs/architecture.md, "What the flights taught").
    pub unknown_clearance_m: f64,
    /// The drone's radius, m: obstacles are inflated by it plus
    /// `clearance_m`, and a contact is its centre nearer than this to a
    /// surface.
    pub radius_m: f64,
    /// Extra clearance, m.
    pub clearance_m: f64,
    /// Each control point is checked against the live map with the
    /// radius plus this margin, m, to the nearest point of an occupied
    /// cell: the VIO's error, the map's surface error and the spline
    /// cutting a corner. A body already that near may stay put (turning in
    /// place) or move strictly clear (backing away), and a drone
    /// sent to a point the map has since put within this distance of an
    /// obstacle steps away.
    pub safety_margin_m: f64,
    /// Longest flight, simulated s.
    pub max_time_s: f64,
    /// Turn in place at the start, once the VIO tracks, rad (a full turn
    /// shows the camera what is around; 0 for none).
    pub spin_rad: f64,
    /// With `--pose true`, every this many frames is a keyframe.
    pub keyframe_every: usize,
    /// MI candidates are scored at this many headings.
    pub headings: usize,
    /// MI scores poses as if every observed cell were certain, so that it
    /// values the unknown space its camera would see
    /// (`exploration::planner::MiSettings::observed_as_certain`): a camera
    /// sees each cell from a few keyframes, and a cell seen once keeps most
    /// of its entropy.
    pub mi_observed_as_certain: bool,
    /// MI scores unknown cells at the rate the map's observed free space
    /// ends (`exploration::planner::MiSettings::unknown_prior_from_map`),
    /// so that a pose's information grows with the unknown space it would
    /// see, not only with the frontier in its view.
    pub mi_unknown_prior_from_map: bool,
    /// The flight map's occupancy model: stereo's hit and miss (OctoMap's 0.7
    /// and 0.4) with the explorer's tight clamps, so that well-seen free
    /// space stops looking informative (see `exploration::sim::LidarOccupancy`).
    pub occupancy: OccupancyParams,
    /// The flight map's crossed end cells beyond `[map] sharp_range_m`
    /// (`mapping::CrossedFarEnd`): `free`, the crossing wins. The drone
    /// comes within the sharp range of the surfaces it flies near, where a
    /// hit still wins, so the surface cells a miss carves at range are hit
    /// again before they matter; what it clears are the cells stereo's far
    /// points scatter into in front of surfaces (over ten worlds, 0.16-0.94 %
    /// of truly free cells occupied, against 0.34-1.79 % left `unchanged`
    /// and 0.94-3.9 % with OctoMap's rule).
    pub crossed_far_end: CrossedFarEnd,
    /// Lights in the ceiling of the rendered world (the lidar explorer's
    /// worlds have none; geometry is the same for a seed).
    pub lights: usize,
}

impl Default for FlightConfig {
    fn default() -> Self {
        Self {
            height_m: 1.0,
            speed_m_s: 0.5,
            knot_interval_s: 0.5,
            max_yaw_rate_rad_s: 0.8,
            depth_range_m: 3.0,
            plan_every_s: 1.0,
            plan_latency_s: 0.25,
            planner_thread: true,
            band_half_height_m: 0.15,
            obstacle_half_height_m: 0.25,
            unseen_below_m: 0.2,
            unknown_clearance_m: 0.0,
            radius_m: 0.2,
            clearance_m: 0.15,
            safety_margin_m: 0.05,
            max_time_s: 300.0,
            spin_rad: std::f64::consts::TAU,
            keyframe_every: 5,
            headings: 8,
            mi_observed_as_certain: true,
            mi_unknown_prior_from_map: false,
            occupancy: OccupancyParams {
                hit: 0.7,
                miss: 0.4,
                clamp_min: 0.001,
                clamp_max: 0.999,
                ..OccupancyParams::default()
            },
            crossed_far_end: CrossedFarEnd::Free,
            lights: 4,
        }
    }
}

impl FlightConfig {
    /// Checks every value.
    ///
    /// # Errors
    /// [`PipelineError::Config`] naming the first value out of range.
    pub fn validate(&self) -> Result<(), PipelineError> {
        let checks = [
            ("height_m", self.height_m, 0.3, 2.5),
            ("speed_m_s", self.speed_m_s, 0.05, 1.0),
            ("knot_interval_s", self.knot_interval_s, 0.1, 2.0),
            ("max_yaw_rate_rad_s", self.max_yaw_rate_rad_s, 0.05, 3.0),
            ("depth_range_m", self.depth_range_m, 0.5, 10.0),
            ("plan_every_s", self.plan_every_s, 0.1, 60.0),
            ("plan_latency_s", self.plan_latency_s, 0.0, 60.0),
            ("band_half_height_m", self.band_half_height_m, 0.0, 1.0),
            (
                "obstacle_half_height_m",
                self.obstacle_half_height_m,
                0.0,
                1.0,
            ),
            ("unseen_below_m", self.unseen_below_m, 0.0, 1.0),
            ("unknown_clearance_m", self.unknown_clearance_m, 0.0, 1.0),
            ("radius_m", self.radius_m, 0.05, 1.0),
            ("clearance_m", self.clearance_m, 0.0, 1.0),
            ("safety_margin_m", self.safety_margin_m, 0.0, 1.0),
            ("max_time_s", self.max_time_s, 1.0, 7200.0),
            ("spin_rad", self.spin_rad, 0.0, 4.0 * std::f64::consts::PI),
        ];
        for (name, v, lo, hi) in checks {
            if !(v.is_finite() && (lo..=hi).contains(&v)) {
                return Err(PipelineError::Config(format!(
                    "[flight] {name} must be {lo} to {hi}, got {v}"
                )));
            }
        }
        if self.obstacle_half_height_m < self.radius_m {
            return Err(PipelineError::Config(format!(
                "[flight] obstacle_half_height_m ({}) must be at least radius_m ({}): the \
                 planner must see every obstacle the drone's body can reach above or below it",
                self.obstacle_half_height_m, self.radius_m
            )));
        }
        if self.plan_latency_s > self.plan_every_s {
            return Err(PipelineError::Config(format!(
                "[flight] plan_latency_s ({}) must be at most plan_every_s ({}): one plan is made \
                 at a time",
                self.plan_latency_s, self.plan_every_s
            )));
        }
        if self.safety_margin_m >= self.clearance_m {
            return Err(PipelineError::Config(format!(
                "[flight] safety_margin_m ({}) must be under clearance_m ({}): plans keep the \
                 clearance, moves are checked with the margin, and the fallback plan for a \
                 doorway uses the margin",
                self.safety_margin_m, self.clearance_m
            )));
        }
        if !(1..=100).contains(&self.keyframe_every) || !(1..=64).contains(&self.headings) {
            return Err(PipelineError::Config(format!(
                "[flight] keyframe_every must be 1 to 100 and headings 1 to 64, got {} and {}",
                self.keyframe_every, self.headings
            )));
        }
        QuantizedModel::new(&self.occupancy)
            .map_err(|e| PipelineError::Config(format!("[flight.occupancy] {e}")))?;
        Ok(())
    }
}

/// How a flight ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FlightOutcome {
    /// The coverage target was reached.
    Covered,
    /// The planner found nothing left to explore first.
    NothingLeft,
    /// The time budget ran out first.
    Timeout,
    /// Plans kept failing to move the drone.
    Stuck,
    /// The VIO lost track long enough to re-initialize in a new world
    /// frame: the map and the plans were in the first, so the drone landed.
    VioLost,
}

/// One row of the coverage log (at every keyframe and plan).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct FlightSample {
    /// Simulated time since the start, s.
    pub time_s: f64,
    /// Path flown (true), m.
    pub distance_m: f64,
    /// Known fraction of the reachable free space.
    pub coverage: f64,
    /// Plans so far.
    pub plans: usize,
}

/// How the map agrees with the world.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct MapQuality {
    /// Cells observed occupied.
    pub occupied_cells: usize,
    /// Share of them within 10 cm of a true surface.
    pub occupied_near_surface: f64,
    /// Observed cells whose centre is in truly free space (half a cell
    /// diagonal from any surface).
    pub truly_free_cells: usize,
    /// Share of them marked occupied.
    pub free_marked_occupied: f64,
    /// Cells marked free.
    pub free_cells: usize,
    /// Share of them whose centre lies more than the tolerance (10 cm)
    /// inside a solid (an obstacle, or beyond a wall, floor or ceiling):
    /// space carved through what the drone cannot fly through, deeper than
    /// a surface's own noise.
    pub free_inside_solids: f64,
}

/// Wall time of each stage over the flight, s.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct StageSeconds {
    /// Rendering the stereo pairs and sampling the IMU (the simulator).
    pub renderer: f64,
    /// The VIO front end.
    pub frontend: f64,
    /// The VIO back end.
    pub backend: f64,
    /// Stereo depth and insertion at keyframes.
    pub mapper: f64,
    /// Planning (band projection, frontiers, MI or nearest frontier, A*).
    pub planner: f64,
    /// The controller and the bookkeeping (coverage, checks).
    pub control: f64,
}

/// What a viewer sees of a flight as it happens.
#[derive(Debug)]
pub enum FlightEvent<'a> {
    /// The flight starts with this rig.
    Started {
        /// The drone's cameras and IMU.
        rig: &'a datasets::model::RigCalibration,
    },
    /// A frame or a keyframe went through the stream.
    Stream(StreamEvent<'a>),
    /// The drone moved: its true and estimated poses at a frame.
    Pose {
        /// Time stamp, ns.
        t_ns: i64,
        /// True pose, in the estimate's world.
        true_in_est: Isometry3<f64>,
        /// Estimated pose (the true one with `--pose true`).
        estimate: Isometry3<f64>,
        /// Coverage so far.
        coverage: f64,
    },
    /// The planner chose a goal (or found nothing left).
    Plan {
        /// Time stamp, ns.
        t_ns: i64,
        /// The plan.
        plan: Option<&'a Plan>,
        /// The planner (its grid and scored candidates).
        planner: &'a PlannerStage,
        /// The drone's estimated position, world x, y (m).
        position: [f64; 2],
        /// Coverage after the plan's refresh of the grid.
        coverage: f64,
    },
}

/// One contact with the true world (a run of frames with the drone's centre
/// nearer than its radius to a surface), at its deepest frame.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Contact {
    /// When it began, simulated s.
    pub time_s: f64,
    /// Frames it lasted.
    pub frames: usize,
    /// The smallest distance from the drone's centre to a surface, m.
    pub clearance_m: f64,
    /// The true position then, true world, m.
    pub position_m: [f64; 3],
    /// The estimate's position error then, m (the estimate carried into the
    /// true world at the VIO's start; null before the VIO tracked).
    pub estimate_error_m: Option<f64>,
    /// The distance from the estimated position to the nearest occupied
    /// cell of the planner's last grid then, up to 1 m (what the drone
    /// believed; null before the first plan).
    pub map_clearance_m: Option<f64>,
    /// Whether the VIO was tracking then.
    pub tracking: bool,
    /// Whether the drone was following a plan then (else holding or
    /// turning in place).
    pub following_plan: bool,
}

/// A finished flight.
#[derive(Debug)]
pub struct FlightRun {
    /// The planner.
    pub planner: PlannerKind,
    /// Where the pose came from.
    pub pose: PoseSource,
    /// The world's seed.
    pub seed: u64,
    /// How it ended.
    pub outcome: FlightOutcome,
    /// Coverage over time.
    pub samples: Vec<FlightSample>,
    /// Simulated time flown, s.
    pub sim_time_s: f64,
    /// Path flown (true), m.
    pub path_length_m: f64,
    /// Path when the coverage target was reached, m.
    pub path_to_target_m: Option<f64>,
    /// Frames at which the drone's centre was nearer than its radius to a
    /// surface of the true world.
    pub contact_frames: usize,
    /// Separate contacts (runs of contact frames).
    pub collisions: usize,
    /// Smallest distance from the drone's centre to a surface, m.
    pub min_clearance_m: f64,
    /// Each contact: when, where, how deep, and what the drone was doing.
    pub contacts: Vec<Contact>,
    /// Frames processed.
    pub frames: usize,
    /// Frames whose estimate was not `Tracking`.
    pub frames_not_tracking: usize,
    /// Re-initializations of the VIO after the first.
    pub reinitializations: u32,
    /// Keyframes mapped.
    pub keyframes: usize,
    /// Plans made.
    pub plans: usize,
    /// Plans that found a goal only with obstacles inflated by the radius
    /// and the safety margin (`PlannerStage::with_fallback_inflation`).
    pub fallback_plans: usize,
    /// Control points that stepped the drone away from an obstacle the map
    /// had put within its radius and the safety margin of where it was sent
    /// (`BodyCheck::back_off`).
    pub back_offs: usize,
    /// Control points sent but not flown yet that were taken back because
    /// the map had since closed in on them (the drone braked short of them).
    pub retracted_points: usize,
    /// Wall time the loop waited for plans past their due frame, s (the
    /// planner on its own thread; what the latency did not hide).
    pub planner_wait_s: f64,
    /// Bytes the planner's map snapshots copied (brick tables).
    pub planner_snapshot_bytes: u64,
    /// Bricks (512 bytes each) the mapper copied because a snapshot shared
    /// them when it wrote them.
    pub bricks_copied_on_write: u64,
    /// Goals chosen, in the estimate's world (x, y, yaw).
    pub goals: Vec<[f64; 3]>,
    /// `(t_ns, estimated pose)` of the tracking frames.
    pub estimated: Vec<(i64, Isometry3<f64>)>,
    /// `(t_ns, true pose)` of every frame, true world.
    pub truth: Vec<(i64, Isometry3<f64>)>,
    /// The true world from the estimate's (fixed at the first tracking
    /// frame).
    pub true_from_est: Isometry3<f64>,
    /// Wall time of each stage, s.
    pub seconds: StageSeconds,
    /// The map (in the estimate's world) and its figures.
    pub mapper: KeyframeMapper,
    /// The map's agreement with the world.
    pub map_quality: MapQuality,
    /// The last planning grid.
    pub grid: Grid2,
    /// Reachable free cells of the grid (row-major).
    pub reachable: Vec<bool>,
    /// Counted work of the stages.
    pub cost: FlightCost,
}

/// Counted work of a flight's stages, run by run.
#[derive(Debug, Default)]
pub struct FlightCost {
    /// The source: the stereo pair and the IMU readings written to main
    /// memory, per frame (what a camera's driver and the IMU's buffer move).
    pub source: StageCounts,
    /// Front end, per frame.
    pub frontend: StageCounts,
    /// Back end, per frame.
    pub backend: StageCounts,
    /// Planner, per plan.
    pub planner: StageCounts,
}

impl FlightRun {
    /// The last coverage.
    #[must_use]
    pub fn coverage(&self) -> f64 {
        self.samples.last().map_or(0.0, |s| s.coverage)
    }

    /// Stage seconds per simulated second.
    #[must_use]
    pub fn seconds_per_sim_second(&self) -> StageSeconds {
        let t = self.sim_time_s.max(1e-9);
        let s = &self.seconds;
        StageSeconds {
            renderer: s.renderer / t,
            frontend: s.frontend / t,
            backend: s.backend / t,
            mapper: s.mapper / t,
            planner: s.planner / t,
            control: s.control / t,
        }
    }
}

/// Plans in a row that leave the drone where it was before the flight is
/// `Stuck`.
const MAX_IDLE_PLANS: usize = 20;
/// A goal counts as reached within this distance, m.
const GOAL_REACHED_M: f64 = 0.3;
/// The drone has arrived where it was sent within this distance, m.
const ARRIVED_M: f64 = 0.1;
/// Around its start the heights under the drone count as seen, m (it took
/// off there; see `PlannerStage::seen_below`).
const TAKEOFF_SEEN_M: f64 = 0.5;
/// The trajectory is kept defined this many knots ahead of the next frame.
const HORIZON_KNOTS: f64 = 2.0;
/// The commanded points remembered for checking again: more than the
/// trajectory ever holds unflown (the horizon and a span's points).
const COMMANDED_KEPT: usize = 16;

/// The controller: the plan's path as control points (see the module docs).
#[derive(Debug)]
struct Controller {
    /// Waypoints still to fly, estimate's world x, y (m).
    waypoints: VecDeque<[f64; 2]>,
    /// The yaw to face at the goal, estimate's world, rad.
    goal_yaw: Option<f64>,
    /// The last point commanded, estimate's world (x, y, z, yaw unwrapped).
    last: [f64; 4],
    /// The last point commanded, true world.
    last_true: [f64; 4],
    /// Yaw step per knot, rad.
    yaw_step: f64,
    /// Distance between waypoints, m.
    step_m: f64,
    /// Turns still to make in place before flying (the first look around).
    spin_left_rad: f64,
}

/// `a - b` wrapped to (-pi, pi].
fn angle_diff(a: f64, b: f64) -> f64 {
    let tau = std::f64::consts::TAU;
    let d = (a - b) % tau;
    if d > std::f64::consts::PI {
        d - tau
    } else if d <= -std::f64::consts::PI {
        d + tau
    } else {
        d
    }
}

/// The yaw (rad) of a pose's body z axis (the cameras' forward axis) in the
/// horizontal plane.
fn heading(pose: &Isometry3<f64>) -> f64 {
    let f = pose.rotation * Vector3::z();
    f.y.atan2(f.x)
}

impl Controller {
    /// Loads a plan's path (cell centres, estimate's world).
    /// The path starts where the robot is; the points already commanded are
    /// ahead of it, so the path is joined at its point nearest the last one
    /// commanded.
    fn follow(&mut self, path: &[[f64; 2]], goal_yaw: Option<f64>) {
        self.waypoints.clear();
        let mut from = [self.last[0], self.last[1]];
        let join = path
            .iter()
            .enumerate()
            .min_by(|a, b| {
                let d = |p: &[f64; 2]| (p[0] - from[0]).hypot(p[1] - from[1]);
                d(a.1).total_cmp(&d(b.1))
            })
            .map_or(0, |(i, _)| i);
        for p in &path[join..] {
            let d = (p[0] - from[0]).hypot(p[1] - from[1]);
            let n = (d / self.step_m).floor() as usize;
            for k in 1..=n {
                let f = k as f64 * self.step_m / d;
                let q = [
                    from[0] + f * (p[0] - from[0]),
                    from[1] + f * (p[1] - from[1]),
                ];
                self.waypoints.push_back(q);
            }
            if n > 0 {
                from = *self.waypoints.back().unwrap_or(&from);
            }
        }
        if let Some(end) = path.last()
            && (end[0] - from[0]).hypot(end[1] - from[1]) > 1e-6
        {
            self.waypoints.push_back(*end);
        }
        self.goal_yaw = goal_yaw;
    }

    /// Stops: the drone holds its last point.
    fn stop(&mut self) {
        self.waypoints.clear();
        self.goal_yaw = None;
    }

    /// The next control point in the estimate's world: the next waypoint
    /// (when `go`), the yaw toward it or, at the end, the goal's, rate
    /// limited.
    fn next(&mut self, go: bool) -> [f64; 4] {
        let [x, y, z, yaw] = self.last;
        if self.spin_left_rad > 0.0 {
            let step = self.yaw_step.min(self.spin_left_rad);
            self.spin_left_rad -= step;
            self.last = [x, y, z, yaw + step];
            return self.last;
        }
        let (mut nx, mut ny, mut target_yaw) = (x, y, None);
        if go && let Some(w) = self.waypoints.pop_front() {
            target_yaw = Some((w[1] - y).atan2(w[0] - x));
            (nx, ny) = (w[0], w[1]);
        }
        if self.waypoints.is_empty() && self.goal_yaw.is_some() && target_yaw.is_none() {
            target_yaw = self.goal_yaw;
        }
        let yaw = match target_yaw {
            Some(t) => yaw + angle_diff(t, yaw).clamp(-self.yaw_step, self.yaw_step),
            None => yaw,
        };
        // A turn bigger than the rate allows: turn in place first.
        if go && target_yaw.is_some() && (nx, ny) != (x, y) {
            let left = angle_diff(target_yaw.unwrap_or(yaw), yaw).abs();
            if left > self.yaw_step * 2.0 {
                self.waypoints.push_front([nx, ny]);
                (nx, ny) = (x, y);
            }
        }
        self.last = [nx, ny, z, yaw];
        self.last
    }
}

/// The share of a map's observed cells that agree with the world, its cell
/// centres carried into the world's frame by `true_from_map`: occupied cells
/// within `tolerance_m` of a surface, truly free cells (half a cell
/// diagonal from every surface) marked occupied, and free cells more than
/// `tolerance_m` inside a solid.
#[must_use]
pub fn map_quality(
    map: &FixedMap,
    world: &World,
    true_from_map: &Isometry3<f64>,
    tolerance_m: f64,
) -> MapQuality {
    let half_diagonal = map.resolution() * 3f64.sqrt() / 2.0;
    let (mut occupied, mut near, mut free, mut free_occupied) = (0usize, 0usize, 0usize, 0usize);
    let (mut marked_free, mut free_inside) = (0usize, 0usize);
    for (brick, cells) in map.bricks() {
        for i in 0..cells.len() {
            let k = FixedMap::key_in_brick(brick, i);
            let o = map.occupancy(k);
            if o == Occupancy::Unknown {
                continue;
            }
            let p = true_from_map * Point3::from(map.center(k));
            let d = world.signed_distance(&p.coords);
            if o == Occupancy::Occupied {
                occupied += 1;
                near += usize::from(d.abs() <= tolerance_m);
            }
            if d > half_diagonal {
                free += 1;
                free_occupied += usize::from(o == Occupancy::Occupied);
            }
            if o == Occupancy::Free {
                marked_free += 1;
                free_inside += usize::from(d < -tolerance_m);
            }
        }
    }
    MapQuality {
        occupied_cells: occupied,
        occupied_near_surface: near as f64 / occupied.max(1) as f64,
        truly_free_cells: free,
        free_marked_occupied: free_occupied as f64 / free.max(1) as f64,
        free_cells: marked_free,
        free_inside_solids: free_inside as f64 / marked_free.max(1) as f64,
    }
}

/// Explores world `seed` with `planner`, the pose from `pose`, every stage
/// configured by `config` (`[explore]` for the world, the grid and the
/// planners, `[flight]` for the drone, `[map]` for stereo depth,
/// `[frontend]` and `[backend]` for the VIO); `observe` sees the stream, the
/// poses and the plans.
///
/// # Errors
/// A configuration out of range, a world without a free start, or a stage
/// that fails; never for the VIO losing track (the drone hovers until it
/// recovers, and the run says how many frames it was lost).
#[allow(clippy::too_many_lines, reason = "the loop reads best in one piece")]
pub fn fly(
    config: &PipelineConfig,
    seed: u64,
    planner: PlannerKind,
    pose: PoseSource,
    mut observe: impl FnMut(FlightEvent<'_>),
) -> Result<FlightRun, PipelineError> {
    config.validate()?;
    let fc = &config.flight;
    let explore = &config.explore;
    let fail_world = |e: datasets::DatasetError| PipelineError::Source {
        source_name: format!("synthetic flight, world seed {seed}"),
        message: e.to_string(),
    };
    let mut world_config = explore.world.clone();
    world_config.light_count = fc.lights;
    let world = World::generate(&world_config, seed).map_err(fail_world)?;
    let model = QuantizedModel::new(&fc.occupancy)
        .map_err(|e| PipelineError::Config(format!("[flight.occupancy] {e}")))?;
    let plan_error = |error| PipelineError::Planner { t_ns: 0, error };
    // The true world's grid: the start, as the lidar explorer picks it.
    let true_grid = exploration::sim::grid_for(&world, explore, model).map_err(plan_error)?;
    let start_cell = start_point(&world, &true_grid, fc.height_m).map_err(plan_error)?;
    let start_xy = true_grid.center(start_cell.0, start_cell.1);
    let start = Vector3::new(start_xy[0], start_xy[1], fc.height_m);
    let synth = SynthConfig {
        seed,
        ..SynthConfig::default()
    };
    let mut source = FlightSource::new(
        SyntheticFlight::new(&synth, world, start, 0.0, fc.knot_interval_s).map_err(fail_world)?,
    );
    let rig = source.rig().clone();
    let mut screen = crate::source::StreamScreen::new(&config.health, &rig)?;
    observe(FlightEvent::Started { rig: &rig });
    let mut frontend = FrontEndStage::new(&config.frontend, &config.health, &rig, &config.backend)?;
    let mut backend = BackEndStage::new(
        &config.backend,
        &config.health,
        &rig,
        config.pipeline.views,
        config.pipeline.view_images_every,
    )?;
    let map_config = crate::stages::MapConfig {
        resolution_m: explore.resolution_m,
        occupancy: fc.occupancy,
        max_range_m: fc.depth_range_m,
        max_depth_m: fc.depth_range_m + 2.0,
        crossed_far_end: fc.crossed_far_end,
        ..config.map.clone()
    };
    let mut mapper = MapperStage::new(&map_config, &rig, config.pipeline.views)?;
    let fov =
        exploration::mi::BeamFan::pinhole_fov_rad(rig.cam0.width as f64, rig.cam0.intrinsics.fx);
    let policy: Box<dyn Planner + Send> = match planner {
        PlannerKind::Mi => {
            let mut mi = explore.mi;
            mi.fan.fov_rad = fov;
            mi.fan.cells = (fc.depth_range_m / explore.resolution_m).round() as usize;
            mi.headings = fc.headings;
            mi.observed_as_certain = fc.mi_observed_as_certain;
            mi.unknown_prior_from_map = fc.mi_unknown_prior_from_map;
            Box::new(MiPlanner::new(mi))
        }
        // The camera's baseline: facing its frontier, and a goal up to the
        // inflation, the clearance from unknown cells and a cell from it (a
        // drone keeps off the walls where most frontiers lie, and off the
        // unknown side of every frontier).
        PlannerKind::Frontier => Box::new(FrontierPlanner {
            rules: explore.frontier_rules,
            face_frontier: true,
            goal_reach_m: fc.radius_m
                + fc.clearance_m
                + fc.unknown_clearance_m
                + explore.resolution_m,
        }),
    };
    let mut policy = Some(policy);

    let mut input = FrameInput::empty();
    let mut source_ledger = cost::CostLedger::new();
    let mut source_cost = StageCounts::new();
    let mut seconds = StageSeconds::default();
    let timed = |start: Instant| start.elapsed().as_secs_f64();
    let knot = fc.knot_interval_s;
    let t0_ns = source.flight().next_frame_t_ns();
    let mut controller = Controller {
        waypoints: VecDeque::new(),
        goal_yaw: None,
        last: [0.0; 4],
        last_true: [start.x, start.y, start.z, 0.0],
        yaw_step: fc.max_yaw_rate_rad_s * knot,
        step_m: fc.speed_m_s * knot,
        spin_left_rad: fc.spin_rad,
    };
    // Set at the first tracking frame: the true world from the estimate's,
    // the reachable cells and their count, the body's check; and the
    // planner's stage (out on `runner` while it plans).
    let mut est_setup: Option<(Isometry3<f64>, Vec<bool>, usize, BodyCheck)> = None;
    let mut planner_stage: Option<PlannerStage> = None;
    let mut runner = PlannerRunner::new(fc.planner_thread)?;
    let latency_ns = (fc.plan_latency_s * 1e9).round() as i64;
    // Where the body swept while the stage was out planning.
    let mut swept_while_out: Vec<[f64; 2]> = Vec::new();
    let mut run_samples = Vec::new();
    let mut estimated = Vec::new();
    let mut truth = Vec::new();
    let mut goals = Vec::new();
    let (mut distance, mut last_true_pos) = (0.0, start);
    let mut in_contact = false;
    let mut contacts: Vec<Contact> = Vec::new();
    let mut min_clearance = f64::INFINITY;
    let mut not_tracking = 0usize;
    // Whether the VIO tracked at the last frame (the controller steps away
    // from an obstacle only on a tracked estimate), and how often it did.
    let mut tracked = false;
    let mut back_offs = 0usize;
    // The points sent to the trajectory, estimate's world (`None` before the
    // VIO tracked), the last `COMMANDED_KEPT`; and how many were taken back.
    let mut commanded: VecDeque<Option<[f64; 4]>> = VecDeque::with_capacity(COMMANDED_KEPT);
    let mut retracted_points = 0usize;
    // Moves are checked with the body's radius and the safety margin.
    let reach = fc.radius_m + fc.safety_margin_m;
    let mut last_plan_t: Option<i64> = None;
    let mut idle_plans = 0usize;
    let mut current_plan: Option<Plan> = None;
    let mut coverage = 0.0;
    let mut path_to_target = None;
    let mut outcome = FlightOutcome::Timeout;
    let mut plans_position = start;
    let mut frames = 0usize;
    let mut keyframes = 0usize;
    let mut max_session = 0u32;

    loop {
        // The trajectory far enough ahead: the controller's next points.
        let t_next = source.flight().seconds(source.flight().next_frame_t_ns());
        let start_control = Instant::now();
        // The points already sent but not flown yet, checked again on the
        // latest map: where it has closed in on one of them, they are taken
        // back, and the controller holds (or steps away) from the last point
        // the drone is committed to.
        if let Some((.., body)) = est_setup.as_ref() {
            let unflown = source.flight().unflown_points().min(commanded.len());
            let map = mapper.mapper.map();
            let first = commanded.len() - unflown;
            let closed_in =
                (first.max(1)..commanded.len()).any(|i| match (commanded[i - 1], commanded[i]) {
                    (Some(a), Some(b)) => {
                        !body.move_is_safe(map, [a[0], a[1]], [b[0], b[1]], reach)
                    }
                    _ => false,
                });
            if closed_in {
                let dropped = source.flight_mut().retract_unflown();
                commanded.truncate(commanded.len() - dropped.min(unflown));
                if let Some(Some(kept)) = commanded.back() {
                    controller.last = *kept;
                }
                if let Some(kept) = source.flight().trajectory().control_points().last() {
                    controller.last_true = *kept;
                }
                controller.stop();
                current_plan = None;
                retracted_points += dropped;
            }
        }
        while source.flight().trajectory().duration_s() < t_next + HORIZON_KNOTS * knot {
            let point = match est_setup.as_ref() {
                // Not tracking yet: hold the start.
                None => controller.last_true,
                Some((.., body)) => {
                    let go = current_plan.is_some();
                    let before = controller.last;
                    let mut next = controller.next(go);
                    let map = mapper.mapper.map();
                    let from = [before[0], before[1]];
                    let refused = go && !body.move_is_safe(map, from, [next[0], next[1]], reach);
                    // Where the drone was sent, the map may have closed in
                    // since (a box the camera saw only on the way): step
                    // away from it, whatever the plan says.
                    let away = if tracked {
                        body.back_off(map, from, reach, controller.step_m)
                    } else {
                        None
                    };
                    if refused || (go && away.is_some()) {
                        // Blocked ahead on the latest map: hold (or step
                        // away), replan.
                        controller.last = before;
                        controller.stop();
                        current_plan = None;
                    }
                    if let Some(q) = away {
                        let yaw = if go { before[3] } else { next[3] };
                        next = [q[0], q[1], before[2], yaw];
                        controller.last = next;
                        back_offs += 1;
                    }
                    if refused && away.is_none() {
                        controller.last_true
                    } else {
                        let true_from_est = correction(source.flight(), &estimated);
                        let p = true_from_est * Point3::new(next[0], next[1], next[2]);
                        let yaw = next[3] + heading_offset(&true_from_est);
                        // Keep the yaw continuous with the last true point.
                        let last_yaw = controller.last_true[3];
                        [p.x, p.y, p.z, last_yaw + angle_diff(yaw, last_yaw)]
                    }
                }
            };
            controller.last_true = point;
            source
                .flight_mut()
                .push_control_point(point)
                .map_err(fail_world)?;
            if commanded.len() == COMMANDED_KEPT {
                commanded.pop_front();
            }
            commanded.push_back(est_setup.is_some().then_some(controller.last));
        }
        seconds.control += timed(start_control);

        // Sense.
        let start_render = Instant::now();
        source.next_into(&mut input)?;
        seconds.renderer += timed(start_render);
        screen.screen(&mut input);
        source_ledger.clear();
        let bytes = input.frame.left.data().len()
            + input.frame.right.data().len()
            + input.imu.len() * std::mem::size_of::<ImuSample>();
        source_ledger
            .kernel("source_frame")
            .write(cost::Residence::Main, bytes as u64);
        source_cost.record_run(input.frame.t_ns, &[&source_ledger]);
        let available = Instant::now();
        let t_ns = input.frame.t_ns;
        let sim_s = (t_ns - t0_ns) as f64 * 1e-9;
        frames += 1;
        let true_pose = source.flight().pose_at(t_ns);
        truth.push((t_ns, true_pose));
        let p = true_pose.translation.vector;
        distance += (p - last_true_pos).norm();
        last_true_pos = p;
        let clearance = source.flight().world.signed_distance(&p);
        min_clearance = min_clearance.min(clearance);
        let contact = clearance < fc.radius_m;
        if contact && !in_contact {
            contacts.push(Contact {
                time_s: sim_s,
                frames: 0,
                clearance_m: f64::INFINITY,
                position_m: [p.x, p.y, p.z],
                estimate_error_m: None,
                map_clearance_m: None,
                tracking: false,
                following_plan: false,
            });
        }
        let mut deepest = false;
        if contact && let Some(c) = contacts.last_mut() {
            c.frames += 1;
            if clearance < c.clearance_m {
                c.clearance_m = clearance;
                c.position_m = [p.x, p.y, p.z];
                c.following_plan = current_plan.is_some();
                deepest = true;
            }
        }
        in_contact = contact;

        // Estimate.
        let (estimate_pose, tracking, keyframe, record) = match pose {
            PoseSource::Vio => {
                let start_fe = Instant::now();
                let (tracks, frontend_ns) = frontend.step(&mut input)?;
                seconds.frontend += timed(start_fe);
                let start_be = Instant::now();
                let Some((estimate, backend_ns)) = backend.step(&input.imu, Some(tracks))? else {
                    continue;
                };
                seconds.backend += timed(start_be);
                max_session = max_session.max(estimate.session);
                // Only the first session's world is the map's and the plan's:
                // a re-initialization from scratch ends the flight.
                if backend.in_later_session(&estimate) {
                    outcome = FlightOutcome::VioLost;
                    break;
                }
                let tracking = estimate.status == TrackingStatus::Tracking;
                let keyframe = backend.maps(&estimate);
                let timing = RecordTiming {
                    frontend_ns,
                    backend_ns,
                    latency_ns: crate::stages::elapsed_ns(available),
                };
                let view = backend.view(input.index, tracks, &input.frame);
                let world_from_body = estimate.world_from_body;
                let faults = std::mem::take(&mut input.faults);
                let record =
                    PipelineRecord::new(input.index, tracks, estimate, faults, timing, view);
                (world_from_body, tracking, keyframe, Some(record))
            }
            PoseSource::True => (
                true_pose,
                true,
                (frames - 1).is_multiple_of(fc.keyframe_every),
                None,
            ),
        };
        // When the estimate was made: the keyframe's latency to the map runs
        // from here.
        let estimated_at = Instant::now();
        if let Some(r) = &record {
            observe(FlightEvent::Stream(StreamEvent::Frame(r)));
        }
        tracked = tracking;
        if tracking {
            estimated.push((t_ns, estimate_pose));
        } else {
            not_tracking += 1;
            if current_plan.is_some() {
                // Lost: stop (the drone slows to a hover) until it tracks.
                controller.stop();
                current_plan = None;
            }
            if est_setup.is_some() {
                // And turn slowly in place: a camera facing a bare or a
                // too-near surface finds features again elsewhere.
                controller.spin_left_rad = controller.spin_left_rad.max(0.5 * controller.yaw_step);
            }
        }
        if tracking && est_setup.is_none() {
            // The estimate's world is fixed now: the planning grid, the
            // reachable free space and the flying height in it.
            let true_from_est = gravity_aligned_tie(&true_pose, &estimate_pose);
            let est_from_true = true_from_est.inverse();
            let z_est = (est_from_true * Point3::from(start)).z;
            let world = &source.flight().world;
            let grid = est_grid(world, explore, model, &est_from_true)?;
            let reachable = est_reachable(world, &grid, &true_from_est, fc.height_m, start);
            let total = reachable.iter().filter(|&&r| r).count().max(1);
            let band = [z_est - fc.band_half_height_m, z_est + fc.band_half_height_m];
            let h = fc.obstacle_half_height_m;
            let mut stage = PlannerStage::new(
                policy
                    .take()
                    .ok_or_else(|| PipelineError::Config("no planner".into()))?,
                grid,
                band,
                fc.radius_m + fc.clearance_m,
                explore.min_frontier_cells,
            )
            .with_obstacle_band([z_est - h, z_est + h])
            .with_fallback_inflation(
                reach + explore.resolution_m * std::f64::consts::FRAC_1_SQRT_2,
            );
            if fc.unknown_clearance_m > 0.0 {
                stage = stage.with_unknown_clearance(fc.unknown_clearance_m);
            }
            if fc.unseen_below_m > 0.0 {
                stage = stage.with_unseen_below(z_est - fc.unseen_below_m, z_est);
                let s = est_from_true * Point3::from(start);
                stage.seen_below([s.x, s.y], TAKEOFF_SEEN_M);
            }
            planner_stage = Some(stage);
            let body = BodyCheck {
                band_m: [z_est - h, z_est + h],
            };
            let e = estimate_pose.translation.vector;
            controller.last = [e.x, e.y, z_est, heading(&estimate_pose)];
            est_setup = Some((true_from_est, reachable, total, body));
        }
        // Map.
        if keyframe && tracking {
            let start_map = Instant::now();
            let mut map_record: MapRecord =
                mapper.step(input.index, &input.frame, &estimate_pose)?;
            map_record.keyframe_to_map_ns = crate::stages::elapsed_ns(estimated_at);
            map_record.camera_to_map_ns = crate::stages::elapsed_ns(available);
            seconds.mapper += timed(start_map);
            keyframes += 1;
            observe(FlightEvent::Stream(StreamEvent::Keyframe(&map_record)));
        }
        if deepest && let Some(c) = contacts.last_mut() {
            c.tracking = tracking;
            c.estimate_error_m = est_setup.as_ref().map(|(true_from_est, ..)| {
                ((true_from_est * estimate_pose).translation.vector - p).norm()
            });
            let e = estimate_pose.translation.vector;
            c.map_clearance_m = est_setup
                .as_ref()
                .and_then(|(.., body)| body.clearance_m(mapper.mapper.map(), [e.x, e.y], 1.0));
        }
        let Some((true_from_est, reachable, total, _)) = est_setup.as_ref() else {
            if sim_s >= fc.max_time_s {
                break;
            }
            continue;
        };
        let e = estimate_pose.translation.vector;
        let here = [e.x, e.y];
        let start_control = Instant::now();
        if tracking {
            match planner_stage.as_mut() {
                Some(stage) => stage.sweep(here, fc.radius_m),
                None => swept_while_out.push(here),
            }
        }
        seconds.control += timed(start_control);
        observe(FlightEvent::Pose {
            t_ns,
            true_in_est: true_from_est.inverse() * true_pose,
            estimate: estimate_pose,
            coverage,
        });

        // Plan: at the rate, when the path is done, never while lost or
        // turning on the spot at the start.
        // Arrived: nothing left to fly and the drone where it was sent (the
        // spline trails the points commanded by a knot or two).
        let arrived = controller.waypoints.is_empty()
            && (controller.last[0] - here[0]).hypot(controller.last[1] - here[1]) < ARRIVED_M;
        let at_goal = current_plan.is_none() || arrived;
        let due = last_plan_t.is_none_or(|t| (t_ns - t) as f64 * 1e-9 >= fc.plan_every_s);
        if tracking
            && controller.spin_left_rad <= 0.0
            && (due || at_goal)
            && let Some(mut stage) = planner_stage.take()
        {
            if let Some(plan) = current_plan.as_ref() {
                let goal = stage.grid().center(plan.goal.0, plan.goal.1);
                if (goal[0] - here[0]).hypot(goal[1] - here[1]) < GOAL_REACHED_M && arrived {
                    stage.reached(plan.goal, Some((heading(&estimate_pose), 0.5 * fov)));
                }
            }
            runner.ask(stage, mapper.mapper.map(), here, t_ns, t_ns + latency_ns)?;
            last_plan_t = Some(t_ns);
        }
        // The plan asked `plan_latency_s` ago: flown from now.
        if runner.due(t_ns) {
            let done = runner.take()?;
            let stage = planner_stage.insert(done.stage);
            for p in swept_while_out.drain(..) {
                stage.sweep(p, fc.radius_m);
            }
            let plan = done.plan?;
            coverage = known_share(stage.grid(), reachable, *total);
            observe(FlightEvent::Plan {
                t_ns,
                plan: plan.as_ref(),
                planner: stage,
                position: here,
                coverage,
            });
            let moved = (e - plans_position).norm() > 0.05;
            plans_position = e;
            idle_plans = if moved { 0 } else { idle_plans + 1 };
            run_samples.push(FlightSample {
                time_s: sim_s,
                distance_m: distance,
                coverage,
                plans: stage.plans,
            });
            if coverage >= explore.coverage_target {
                path_to_target.get_or_insert(distance);
                outcome = FlightOutcome::Covered;
                break;
            }
            match plan {
                None => {
                    outcome = FlightOutcome::NothingLeft;
                    break;
                }
                // Lost since it was asked: the drone hovers, and plans again
                // once it tracks.
                Some(_) if !tracking => {}
                Some(plan) => {
                    let g = stage.grid().center(plan.goal.0, plan.goal.1);
                    goals.push([g[0], g[1], plan.yaw_rad.unwrap_or(f64::NAN)]);
                    let path: Vec<[f64; 2]> = plan
                        .path
                        .iter()
                        .skip(1)
                        .map(|&(c, r)| stage.grid().center(c, r))
                        .collect();
                    controller.follow(&path, plan.yaw_rad);
                    current_plan = Some(plan);
                }
            }
            if idle_plans >= MAX_IDLE_PLANS {
                outcome = FlightOutcome::Stuck;
                break;
            }
        }
        if sim_s >= fc.max_time_s {
            outcome = FlightOutcome::Timeout;
            break;
        }
    }
    let sim_time_s = truth
        .last()
        .map_or(0.0, |(t, _)| (*t - t0_ns) as f64 * 1e-9);
    let planner_wait_s = runner.wait_s;
    let planner_snapshot_bytes = runner.snapshot_bytes;
    if let Some(stage) = runner.finish()? {
        planner_stage = Some(stage);
    }
    if let Some(stage) = planner_stage.as_ref() {
        seconds.planner = stage.wall_ns as f64 * 1e-9;
    }
    let (true_from_est, reachable) = match est_setup {
        Some((t, r, ..)) => (t, r),
        None => (Isometry3::identity(), Vec::new()),
    };
    let map_quality = map_quality(
        mapper.mapper.map(),
        &source.flight().world,
        &true_from_est,
        0.1,
    );
    let (grid, plans, fallback_plans, planner_cost) = match planner_stage {
        Some(p) => (p.grid().clone(), p.plans, p.fallback_plans, p.cost),
        None => (true_grid, 0, 0, StageCounts::new()),
    };
    Ok(FlightRun {
        planner,
        pose,
        seed,
        outcome,
        samples: run_samples,
        sim_time_s,
        path_length_m: distance,
        path_to_target_m: path_to_target,
        contact_frames: contacts.iter().map(|c| c.frames).sum(),
        collisions: contacts.len(),
        min_clearance_m: min_clearance,
        contacts,
        frames,
        frames_not_tracking: not_tracking,
        reinitializations: max_session.saturating_sub(1),
        keyframes,
        plans,
        fallback_plans,
        back_offs,
        retracted_points,
        planner_wait_s,
        planner_snapshot_bytes,
        bricks_copied_on_write: mapper.mapper.map().bricks_copied_on_write(),
        goals,
        estimated,
        truth,
        true_from_est,
        seconds,
        mapper: mapper.mapper,
        map_quality,
        grid,
        reachable,
        cost: FlightCost {
            source: source_cost,
            frontend: frontend.cost,
            backend: backend.cost,
            planner: planner_cost,
        },
    })
}

/// The controller's correction: the true world from the estimate's at the
/// latest estimate (the true pose then times the inverse of the estimate).
fn correction(flight: &SyntheticFlight, estimated: &[(i64, Isometry3<f64>)]) -> Isometry3<f64> {
    estimated
        .last()
        .map_or_else(Isometry3::identity, |(t, est)| {
            flight.pose_at(*t) * est.inverse()
        })
}

/// The true world from the VIO's, tied at one frame by its true and
/// estimated body poses: the yaw and the translation that carry the
/// estimated pose onto the true one, no roll or pitch. Both worlds have z
/// against gravity, so they differ only in the four directions a VIO cannot
/// observe (position and yaw); the estimate's own roll and pitch error at
/// that frame is an error of that pose, not of its world. At the first
/// tracking frame it is the initialization's (gravity from a still IMU
/// whose accelerometer bias is not yet known: 0.47-0.58 degrees on the
/// bench's worlds 6 and 0, under 0.1 degrees once the back end has
/// estimated the bias), and tying the worlds with it would tilt the whole
/// map against the true one, by 2-4 cm at the far walls.
fn gravity_aligned_tie(
    true_pose: &Isometry3<f64>,
    estimate_pose: &Isometry3<f64>,
) -> Isometry3<f64> {
    let yaw = heading_offset(&(true_pose * estimate_pose.inverse()));
    let rotation = UnitQuaternion::from_axis_angle(&Vector3::z_axis(), yaw);
    let translation = true_pose.translation.vector - rotation * estimate_pose.translation.vector;
    Isometry3::from_parts(translation.into(), rotation)
}

/// The yaw of a transform's rotation (about z), rad.
fn heading_offset(t: &Isometry3<f64>) -> f64 {
    let x = t.rotation * Vector3::x();
    x.y.atan2(x.x)
}

/// The planning grid in the estimate's world: the room's footprint carried
/// there, with room for a beam around it.
fn est_grid(
    world: &World,
    explore: &exploration::sim::ExploreConfig,
    model: QuantizedModel,
    est_from_true: &Isometry3<f64>,
) -> Result<Grid2, PipelineError> {
    let room = &world.room;
    let (mut lo, mut hi) = ([f64::INFINITY; 2], [f64::NEG_INFINITY; 2]);
    for x in [room.min.x, room.max.x] {
        for y in [room.min.y, room.max.y] {
            let p = est_from_true * Point3::new(x, y, 0.0);
            lo = [lo[0].min(p.x), lo[1].min(p.y)];
            hi = [hi[0].max(p.x), hi[1].max(p.y)];
        }
    }
    exploration::sim::grid_over(lo, hi, 4, explore, model)
        .map_err(|error| PipelineError::Planner { t_ns: 0, error })
}

/// The grid cells (estimate's world) whose centres, carried into the true
/// world at flying height, are free and connected to the start.
fn est_reachable(
    world: &World,
    grid: &Grid2,
    true_from_est: &Isometry3<f64>,
    height_m: f64,
    start: Vector3<f64>,
) -> Vec<bool> {
    let est_from_true = true_from_est.inverse();
    let s = est_from_true * Point3::from(start);
    let Some(start_cell) = grid.cell_of(s.x, s.y) else {
        return vec![false; grid.width() * grid.height()];
    };
    reachable_where(grid, start_cell, |x, y| {
        let p = true_from_est * Point3::new(x, y, s.z);
        planar_clearance(world, p.x, p.y, height_m) > 0.0
    })
}

/// Known reachable cells over all reachable cells.
fn known_share(grid: &Grid2, reachable: &[bool], total: usize) -> f64 {
    let w = grid.width();
    let known = reachable
        .iter()
        .enumerate()
        .filter(|&(i, &r)| r && grid.get(i % w, i / w) != UNKNOWN_I8)
        .count();
    known as f64 / total as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worlds_are_tied_by_yaw_and_translation_without_the_estimates_tilt() {
        // The VIO's world in the true one: yawed 0.7 rad and shifted.
        let true_from_est_world = Isometry3::from_parts(
            Vector3::new(1.0, -2.0, 0.5).into(),
            UnitQuaternion::from_axis_angle(&Vector3::z_axis(), 0.7),
        );
        let true_pose = Isometry3::from_parts(
            Vector3::new(0.3, 0.4, 1.0).into(),
            UnitQuaternion::from_euler_angles(0.02, -0.01, 1.2),
        );
        // The estimate is right but for half a degree of roll and pitch.
        let tilt = UnitQuaternion::from_euler_angles(0.006, 0.005, 0.0);
        let mut estimate = true_from_est_world.inverse() * true_pose;
        estimate.rotation *= tilt;
        let tie = gravity_aligned_tie(&true_pose, &estimate);
        // The world's tie is found (up to the tilt's second-order share of
        // the yaw): the tilt stays the estimate's.
        let p = estimate.translation.vector;
        assert!(
            ((tie * Point3::from(p)) - true_pose.translation.vector)
                .coords
                .norm()
                < 1e-12
        );
        assert!((tie.translation.vector - true_from_est_world.translation.vector).norm() < 1e-3);
        assert!(
            tie.rotation.angle_to(&true_from_est_world.rotation) < 1e-3,
            "{tie:?}"
        );
        assert!((tie.rotation * Vector3::z() - Vector3::z()).norm() < 1e-15);
        // The 6-DoF tie at that pose would tilt the world by the error.
        let six = true_pose * estimate.inverse();
        assert!(six.rotation.angle_to(&true_from_est_world.rotation) > 0.007);
    }

    #[test]
    fn map_quality_counts_each_cell_against_the_true_surfaces() {
        use datasets::synth::world::{Aabb, Shape, SurfaceKind};
        let mut world = World::empty_room(Aabb::new(
            Vector3::new(0.0, 0.0, 0.0),
            Vector3::new(4.0, 4.0, 3.0),
        ))
        .unwrap_or_else(|e| panic!("{e}"));
        world
            .add_obstacle(
                Shape::Box(Aabb::new(
                    Vector3::new(2.0, 2.0, 0.0),
                    Vector3::new(3.0, 3.0, 1.0),
                )),
                SurfaceKind::Wall,
            )
            .unwrap_or_else(|e| panic!("{e}"));
        let mut map =
            FixedMap::fixed(0.1, &OccupancyParams::default()).unwrap_or_else(|e| panic!("{e}"));
        // Cell centres (x.x5): a true surface (the box's face at x = 2.0 is
        // 0.05 m away), free space marked occupied, two deep inside the box
        // marked free and one occupied, one just inside its face marked
        // free, free space marked free.
        let cells = [
            ([1.95, 2.45, 0.55], true),
            ([0.95, 0.95, 0.55], true),
            ([2.45, 2.45, 0.55], false),
            ([2.55, 2.55, 0.45], false),
            ([2.45, 2.55, 0.45], true),
            ([2.05, 2.45, 0.55], false),
            ([1.45, 1.45, 0.55], false),
        ];
        for (c, occupied) in cells {
            let key = map
                .key(&Vector3::new(c[0], c[1], c[2]))
                .unwrap_or_else(|| panic!("{c:?} off the map"));
            for _ in 0..4 {
                map.update_cell(key, occupied);
            }
        }
        let q = map_quality(&map, &world, &Isometry3::identity(), 0.1);
        assert_eq!(q.occupied_cells, 3);
        // The surface cell, and the occupied cell inside the box (0.45 m
        // from its faces) is not near one.
        assert!((q.occupied_near_surface - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(q.truly_free_cells, 2);
        assert!((q.free_marked_occupied - 0.5).abs() < 1e-12);
        assert_eq!(q.free_cells, 4);
        assert!((q.free_inside_solids - 0.5).abs() < 1e-12);
    }

    #[test]
    fn a_latency_longer_than_the_plan_period_or_a_margin_wider_than_the_clearance_is_refused() {
        assert!(FlightConfig::default().validate().is_ok());
        for (config, name) in [
            (
                FlightConfig {
                    plan_latency_s: 1.5,
                    ..FlightConfig::default()
                },
                "plan_latency_s",
            ),
            (
                FlightConfig {
                    safety_margin_m: 0.15,
                    ..FlightConfig::default()
                },
                "safety_margin_m",
            ),
            (
                FlightConfig {
                    unknown_clearance_m: f64::NAN,
                    ..FlightConfig::default()
                },
                "unknown_clearance_m",
            ),
        ] {
            let message = config
                .validate()
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(message.contains(name), "{name}: {message:?}");
        }
    }

    #[test]
    fn angles_wrap_and_headings_read_the_camera_axis() {
        assert!((angle_diff(3.0, -3.0) - (6.0 - std::f64::consts::TAU)).abs() < 1e-12);
        assert!((angle_diff(0.5, 0.2) - 0.3).abs() < 1e-12);
        // EuRoC's body: z forward; a body whose z points along +y heads pi/2.
        let pose = Isometry3::from_parts(
            nalgebra::Translation3::new(0.0, 0.0, 0.0),
            UnitQuaternion::rotation_between(&Vector3::z(), &Vector3::y())
                .unwrap_or_else(UnitQuaternion::identity),
        );
        assert!((heading(&pose) - std::f64::consts::FRAC_PI_2).abs() < 1e-9);
    }

    #[test]
    fn the_controller_resamples_the_path_and_limits_the_yaw_rate() {
        let mut c = Controller {
            waypoints: VecDeque::new(),
            goal_yaw: None,
            last: [0.0, 0.0, 1.0, 0.0],
            last_true: [0.0; 4],
            yaw_step: 0.3,
            step_m: 0.25,
            spin_left_rad: 0.0,
        };
        c.follow(&[[1.0, 0.0], [1.0, 0.6]], Some(1.0));
        // 0.25 m apart along the polyline, the corner and the end included.
        assert_eq!(c.waypoints.len(), 4 + 3);
        for _ in 0..4 {
            let p = c.next(true);
            assert_eq!(p[3], 0.0);
        }
        assert!((c.last[0] - 1.0).abs() < 1e-12);
        // Turning left by pi/2 at the corner: in place, 0.3 rad a knot.
        let p = c.next(true);
        assert!((p[0] - 1.0).abs() < 1e-12 && p[1].abs() < 1e-12 && (p[3] - 0.3).abs() < 1e-12);
        let mut yaws = vec![p[3]];
        for _ in 0..20 {
            yaws.push(c.next(true)[3]);
        }
        assert!(yaws.windows(2).all(|w| (w[1] - w[0]).abs() <= 0.3 + 1e-12));
        // At the end: the goal's yaw, then a hold.
        assert!((c.last[1] - 0.6).abs() < 1e-12, "{:?}", c.last);
        assert!((c.last[3] - 1.0).abs() < 1e-12, "{:?}", c.last);
        assert_eq!(c.next(true), c.last);
    }
}
