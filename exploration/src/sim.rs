//! Closed-loop exploration in a simulated world: a robot with a planar 360
//! degree lidar moves along planned paths with its true pose, inserts every
//! scan into the fixed-point occupancy map, and replans from the map's layer
//! at the sensor's height, until 95 % of the reachable free space is known or
//! a budget runs out.
//!
//! Frames and units: world frame of `datasets::synth::world` (z up, floor at
//! z = 0), metres, seconds. The robot moves in the plane z = `sensor_height_m`
//! (a ground robot's lidar, or a drone holding its height); everything below
//! and above is invisible to it, so the worlds here have obstacles that cross
//! that plane. Time is simulated: path length over speed (the sensor sees all
//! round, so turning costs nothing); the planners' CPU time is reported apart.
//!
//! A planner fan narrower than a full turn (`mi.fan.fov_rad`, a camera's)
//! makes both planners plan a yaw (the MI planner scores `mi.headings`
//! headings; the frontier planner faces its frontier,
//! [`FrontierPlanner::face_frontier`]), seen by the observer in each plan.
//! The simulated sensor stays the 360-degree lidar and the robot does not
//! turn: the yaw is planned, not flown.
//!
//! Ground truth: the cells of the planning grid whose centre is free in the
//! world at the sensor's height and 4-connected to the start through such
//! cells are the *reachable free space*; a cell is *known* once the map has
//! observed it (free or occupied). Coverage = known reachable free cells /
//! reachable free cells.

use std::time::Instant;

use cost::CostLedger;
use datasets::synth::range::{Lidar, LidarConfig, LidarScan};
use datasets::synth::rng::{Rng, Stream};
use datasets::synth::world::{World, WorldConfig};
use mapping::logodds::UNKNOWN_I8;
use mapping::{FixedMap, FreeSpace, Occupancy, OccupancyParams, QuantizedModel, ScanInserter};
use nalgebra::{Isometry3, Translation3, UnitQuaternion, Vector3};
use serde::{Deserialize, Serialize};

use crate::frontier::frontier_clusters;
use crate::grid::Grid2;
use crate::paths::{Traversable, distance_field, is_clear};
use crate::planner::{
    FrontierPlanner, GoalRules, MiPlanner, MiSettings, Plan, Planner, ScoredCandidate, View,
};
use crate::{ExplorationError, Result};

/// Which policy drives the robot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlannerKind {
    /// FSMI-scored candidates ([`MiPlanner`]).
    Mi,
    /// Nearest frontier ([`FrontierPlanner`]).
    Frontier,
}

impl PlannerKind {
    /// Its command-line name.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Mi => "mi",
            Self::Frontier => "frontier",
        }
    }
}

/// Everything about an exploration run but the seed and the planner.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExploreConfig {
    /// The worlds: three rooms in a row (two partitions with doorways), boxes
    /// and pillars that all cross the sensor's plane.
    pub world: WorldConfig,
    /// Map cell side, m.
    pub resolution_m: f64,
    /// The sensor's (and the robot's plane's) height, m.
    pub sensor_height_m: f64,
    /// Lidar beams per turn.
    pub lidar_beams: usize,
    /// Lidar range, m.
    pub range_m: f64,
    /// Lidar range noise, m (standard deviation).
    pub range_noise_m: f64,
    /// Each ray's free space ends this far short of its end point, m (see
    /// `mapping::ScanInserter::with_surface_margin`). 0 by default: with the
    /// lidar's 1 cm noise, 0.1 m made both planners' paths longer (10 worlds:
    /// MI 144 m against 127 m, frontier 210 m against 211 m).
    pub surface_margin_m: f64,
    /// The robot's radius, m; the map's obstacles are inflated by it plus
    /// `clearance_m`.
    pub robot_radius_m: f64,
    /// Extra clearance, m.
    pub clearance_m: f64,
    /// Speed along the path, m/s.
    pub speed_m_s: f64,
    /// Travel between scans, m.
    pub scan_every_m: f64,
    /// Travel between plans, m (and at every goal).
    pub replan_every_m: f64,
    /// Fraction of the reachable free space to know.
    pub coverage_target: f64,
    /// Longest path before giving up, m (checked after every step).
    pub budget_m: f64,
    /// Smallest frontier cluster, cells.
    pub min_frontier_cells: usize,
    /// The map's occupancy model (see [`LidarOccupancy`]).
    pub occupancy: LidarOccupancy,
    /// The MI planner (its fan's field of view also decides whether the
    /// frontier planner plans a yaw).
    pub mi: MiSettings,
    /// The frontier planner's goal rules.
    pub frontier_rules: GoalRules,
}

impl Default for ExploreConfig {
    fn default() -> Self {
        Self {
            world: WorldConfig {
                room_size_min_m: [8.0, 6.0, 2.6],
                room_size_max_m: [9.6, 9.6, 3.0],
                box_count: [4, 8],
                box_side_m: [0.4, 1.4],
                box_height_m: [0.8, 1.8],
                round_pillar_count: [1, 3],
                square_pillar_count: [0, 2],
                pillar_radius_m: [0.1, 0.3],
                partition_count: 2,
                partition_thickness_m: 0.12,
                door_width_m: 1.0,
                door_height_m: 2.2,
                obstacle_gap_m: 0.7,
                light_count: 0,
            },
            resolution_m: 0.05,
            sensor_height_m: 0.525,
            lidar_beams: 360,
            range_m: 5.0,
            range_noise_m: 0.01,
            surface_margin_m: 0.0,
            robot_radius_m: 0.2,
            clearance_m: 0.05,
            speed_m_s: 0.5,
            scan_every_m: 0.1,
            replan_every_m: 0.5,
            coverage_target: 0.95,
            budget_m: 300.0,
            min_frontier_cells: 4,
            occupancy: LidarOccupancy::default(),
            mi: MiSettings::default(),
            frontier_rules: GoalRules::default(),
        }
    }
}

/// The explorer map's occupancy model: a lidar's (hit 0.95, miss 0.1,
/// clamps 0.001 / 0.999) rather than OctoMap's defaults for depth cameras
/// (0.7, 0.4, 0.12 / 0.97). A return with 1 cm noise in 5 cm cells is nearly
/// certain; and with OctoMap's clamps a well-seen free cell stays 12 %
/// occupied, so each 5 cm of free space would stop 12 % of the expected
/// readings and mutual information would prize re-seeing known space (tested
/// in `fsmi_vs_naive`). Its own type so that a configuration file giving some
/// fields keeps these defaults for the others. Figures for both models are in
/// `docs/architecture.md`, "Exploration".
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LidarOccupancy {
    /// Probability that a cell holding a return is occupied.
    pub hit: f64,
    /// Probability that a cell a beam crosses is occupied.
    pub miss: f64,
    /// Lower clamp.
    pub clamp_min: f64,
    /// Upper clamp.
    pub clamp_max: f64,
    /// Occupied above this probability.
    pub threshold: f64,
}

impl Default for LidarOccupancy {
    fn default() -> Self {
        Self {
            hit: 0.95,
            miss: 0.1,
            clamp_min: 0.001,
            clamp_max: 0.999,
            threshold: 0.5,
        }
    }
}

impl From<LidarOccupancy> for OccupancyParams {
    fn from(o: LidarOccupancy) -> Self {
        Self {
            hit: o.hit,
            miss: o.miss,
            clamp_min: o.clamp_min,
            clamp_max: o.clamp_max,
            threshold: o.threshold,
        }
    }
}

impl ExploreConfig {
    /// Checks the values a run relies on.
    ///
    /// # Errors
    /// Names the first value out of range.
    pub fn validate(&self) -> Result<()> {
        let bad = |msg: String| Err(ExplorationError::Config(msg));
        let within = [
            ("resolution_m", self.resolution_m, 0.005, 1.0),
            ("range_m", self.range_m, 0.1, 100.0),
            ("speed_m_s", self.speed_m_s, 1e-3, 100.0),
            ("scan_every_m", self.scan_every_m, 1e-3, 100.0),
            ("replan_every_m", self.replan_every_m, 1e-3, 1000.0),
            ("budget_m", self.budget_m, 1e-3, 1e6),
            ("robot_radius_m", self.robot_radius_m, 1e-3, 5.0),
            ("clearance_m", self.clearance_m, 0.0, 5.0),
            ("surface_margin_m", self.surface_margin_m, 0.0, 5.0),
            ("range_noise_m", self.range_noise_m, 0.0, 10.0),
            ("sensor_height_m", self.sensor_height_m, 1e-3, 100.0),
            ("mi.lambda_per_m", self.mi.lambda_per_m, 0.0, 100.0),
            ("mi.switch_factor", self.mi.switch_factor, 1.0, 100.0),
            ("mi.rules.min_goal_m", self.mi.rules.min_goal_m, 0.0, 100.0),
            (
                "mi.rules.visited_radius_m",
                self.mi.rules.visited_radius_m,
                0.0,
                100.0,
            ),
            (
                "frontier_rules.min_goal_m",
                self.frontier_rules.min_goal_m,
                0.0,
                100.0,
            ),
            (
                "frontier_rules.visited_radius_m",
                self.frontier_rules.visited_radius_m,
                0.0,
                100.0,
            ),
        ];
        for (name, v, lo, hi) in within {
            // NaN fails both comparisons.
            if !(v >= lo && v <= hi) {
                return bad(format!("{name} must be in [{lo}, {hi}], got {v}"));
            }
        }
        if !(self.coverage_target > 0.0 && self.coverage_target <= 1.0) {
            return bad(format!(
                "coverage_target must be in (0, 1], got {}",
                self.coverage_target
            ));
        }
        if self.lidar_beams == 0 || self.lidar_beams > 100_000 {
            return bad(format!(
                "lidar_beams must be 1..=100000, got {}",
                self.lidar_beams
            ));
        }
        if self.scan_every_m > self.replan_every_m {
            return bad("scan_every_m must not exceed replan_every_m".into());
        }
        if self
            .world
            .room_size_max_m
            .iter()
            .any(|&v| v.is_nan() || v > 200.0)
        {
            return bad("world.room_size_max_m must be at most 200 m on each axis".into());
        }
        if self.sensor_height_m >= self.world.room_size_min_m[2] {
            return bad(format!(
                "sensor_height_m {} must be below the lowest ceiling {}",
                self.sensor_height_m, self.world.room_size_min_m[2]
            ));
        }
        let w = &self.world;
        let counts = [
            ("world.box_count", w.box_count[1]),
            ("world.round_pillar_count", w.round_pillar_count[1]),
            ("world.square_pillar_count", w.square_pillar_count[1]),
            ("world.partition_count", w.partition_count),
            ("world.light_count", w.light_count),
        ];
        for (name, v) in counts {
            if v > 100 {
                return bad(format!("{name} must be at most 100, got {v}"));
            }
        }
        let sizes = [
            ("world.obstacle_gap_m", w.obstacle_gap_m),
            ("world.door_width_m", w.door_width_m),
            ("world.door_height_m", w.door_height_m),
            ("world.partition_thickness_m", w.partition_thickness_m),
        ];
        for (name, v) in sizes {
            if !(0.0..=200.0).contains(&v) {
                return bad(format!("{name} must be in [0, 200] m, got {v}"));
            }
        }
        if self.mi.fan.beams == 0 || self.mi.fan.beams > 100_000 {
            return bad(format!(
                "mi.fan.beams must be 1..=100000, got {}",
                self.mi.fan.beams
            ));
        }
        self.mi.validate()?;
        self.mi.fan.noise.taps(self.resolution_m)?;
        // The planner scores the sensor it has: the fan must reach as far.
        let fan_m = self.mi.fan.cells as f64 * self.resolution_m;
        if (fan_m - self.range_m).abs() > self.resolution_m {
            return bad(format!(
                "mi.fan.cells x resolution_m ({fan_m} m) must equal range_m ({} m) within a cell",
                self.range_m
            ));
        }
        Ok(())
    }
}

/// One row of the coverage log, written after every scan.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Sample {
    /// Simulated time, s.
    pub time_s: f64,
    /// Path length so far, m.
    pub distance_m: f64,
    /// Known fraction of the reachable free space.
    pub coverage: f64,
    /// Known cells of the grid (reachable or not).
    pub known_cells: usize,
    /// Plans so far.
    pub plans: usize,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The coverage target was reached.
    Covered,
    /// The planner found nothing left to explore first.
    NothingLeft,
    /// The path budget ran out first.
    Budget,
    /// Plans kept failing to move the robot (the map said free where the
    /// world was not, and no other way was found).
    Stuck,
}

/// Frontier cells this near a reached goal (m) are dropped from then on.
const GOAL_FRONTIER_DROP_M: f64 = 0.5;
/// Path cells ahead checked for newly seen obstacles after every step.
const LOOK_AHEAD_CELLS: usize = 10;
/// Plans in a row that do not move the robot before the run is `Stuck`.
const MAX_IDLE_PLANS: usize = 20;

/// A finished run.
#[derive(Debug, Clone)]
pub struct ExploreRun {
    /// The planner.
    pub planner: PlannerKind,
    /// The world's seed.
    pub seed: u64,
    /// How it ended.
    pub outcome: Outcome,
    /// Coverage after every scan.
    pub samples: Vec<Sample>,
    /// Positions after every step, world x, y (m).
    pub path_m: Vec<[f64; 2]>,
    /// Goals the planner chose, cells.
    pub goals: Vec<(usize, usize)>,
    /// The final map layer.
    pub grid: Grid2,
    /// Reachable free cells (row-major over the grid).
    pub reachable: Vec<bool>,
    /// Path length when the target was reached, m.
    pub distance_to_target_m: Option<f64>,
    /// Plans made.
    pub plans: usize,
    /// Candidate poses scored (MI planner).
    pub candidates_scored: usize,
    /// CPU time spent planning (frontiers, distances, candidates, MI, A*), s.
    pub planning_s: f64,
    /// Steps refused because the true world was in the way (the robot then
    /// marks the cell untraversable and replans).
    pub blocked_steps: usize,
    /// Counted work: the map's insertion kernels and the MI kernel.
    pub cost: CostLedger,
}

impl ExploreRun {
    /// Its final map layer, reachable space, path and goals, to draw.
    #[must_use]
    pub fn picture(&self) -> LayerPicture<'_> {
        LayerPicture {
            grid: &self.grid,
            reachable: &self.reachable,
            path_m: &self.path_m,
            goals: &self.goals,
            frontiers: false,
        }
    }

    /// The last coverage.
    #[must_use]
    pub fn coverage(&self) -> f64 {
        self.samples.last().map_or(0.0, |s| s.coverage)
    }

    /// The total path length, m.
    #[must_use]
    pub fn distance_m(&self) -> f64 {
        self.samples.last().map_or(0.0, |s| s.distance_m)
    }
}

/// The grid over `world`'s room with room for a beam around it.
///
/// # Errors
/// If the grid would be too large.
pub fn grid_for(world: &World, cfg: &ExploreConfig, model: QuantizedModel) -> Result<Grid2> {
    let room = &world.room;
    grid_over(
        [room.min.x, room.min.y],
        [room.max.x, room.max.y],
        2,
        cfg,
        model,
    )
}

/// The grid over the box `lo`..`hi` (world x, y, m) and `margin` cells more
/// on every side, at `cfg`'s resolution, with an unknown border as long as
/// the longer of the sensor's range and the MI fan's beams.
///
/// # Errors
/// If the grid would be too large.
pub fn grid_over(
    lo: [f64; 2],
    hi: [f64; 2],
    margin: i32,
    cfg: &ExploreConfig,
    model: QuantizedModel,
) -> Result<Grid2> {
    let res = cfg.resolution_m;
    let cell = |v: f64| (v / res).floor() as i32;
    let min = [cell(lo[0]) - margin, cell(lo[1]) - margin];
    let max = [cell(hi[0]) + margin, cell(hi[1]) + margin];
    let beam = (cfg.range_m / res).ceil() as usize;
    Grid2::new(
        min,
        (max[0] - min[0] + 1) as usize,
        (max[1] - min[1] + 1) as usize,
        beam.max(cfg.mi.fan.cells) + 1,
        res,
        model,
    )
}

/// Distance (m) from `(x, y)` at height `z` to the nearest wall or obstacle,
/// leaving out the floor and the ceiling (the robot moves in the plane).
#[must_use]
pub fn planar_clearance(world: &World, x: f64, y: f64, z: f64) -> f64 {
    let p = Vector3::new(x, y, z);
    let room = &world.room;
    let walls = (x - room.min.x)
        .min(room.max.x - x)
        .min(y - room.min.y)
        .min(room.max.y - y);
    world
        .obstacles
        .iter()
        .map(|o| o.shape.signed_distance(&p))
        .fold(walls, f64::min)
}

/// The start: the free point (0.6 m clearance) nearest to 1 m inside the
/// room's -x wall, half way along y: the first room of the row.
///
/// # Errors
/// If no cell has that clearance.
pub fn start_point(world: &World, grid: &Grid2, z: f64) -> Result<(usize, usize)> {
    let target = [
        world.room.min.x + 1.0,
        (world.room.min.y + world.room.max.y) / 2.0,
    ];
    let mut best: Option<((usize, usize), f64)> = None;
    for row in 0..grid.height() {
        for col in 0..grid.width() {
            let c = grid.center(col, row);
            let d = (c[0] - target[0]).hypot(c[1] - target[1]);
            if best.is_none_or(|(_, b)| d < b) && planar_clearance(world, c[0], c[1], z) >= 0.6 {
                best = Some(((col, row), d));
            }
        }
    }
    best.map(|(c, _)| c)
        .ok_or_else(|| ExplorationError::Config("the world has no free start point".into()))
}

/// The reachable free cells from `start`.
#[must_use]
pub fn reachable_free(world: &World, grid: &Grid2, z: f64, start: (usize, usize)) -> Vec<bool> {
    reachable_where(grid, start, |x, y| planar_clearance(world, x, y, z) > 0.0)
}

/// The cells 4-connected to `start` through cells whose centre (world x, y,
/// m) `free` accepts, row-major (`start` included whatever `free` says).
#[must_use]
pub fn reachable_where(
    grid: &Grid2,
    start: (usize, usize),
    free: impl Fn(f64, f64) -> bool,
) -> Vec<bool> {
    let (w, h) = (grid.width(), grid.height());
    let free: Vec<bool> = (0..w * h)
        .map(|i| {
            let c = grid.center(i % w, i / w);
            free(c[0], c[1])
        })
        .collect();
    let mut reach = vec![false; w * h];
    let mut stack = vec![start.1 * w + start.0];
    reach[stack[0]] = true;
    while let Some(i) = stack.pop() {
        let (c, r) = ((i % w) as i64, (i / w) as i64);
        for (dc, dr) in [(1, 0), (-1, 0), (0, 1), (0, -1)] {
            let (nc, nr) = (c + dc, r + dr);
            if (0..w as i64).contains(&nc) && (0..h as i64).contains(&nr) {
                let j = nr as usize * w + nc as usize;
                if free[j] && !reach[j] {
                    reach[j] = true;
                    stack.push(j);
                }
            }
        }
    }
    reach
}

/// The robot, its sensor and its map.
struct Robot<'w> {
    world: &'w World,
    lidar: Lidar,
    scan: LidarScan,
    points: Vec<Vector3<f64>>,
    rng: Rng,
    map: FixedMap,
    inserter: ScanInserter,
    grid: Grid2,
    z: f64,
    range: f64,
    cost: CostLedger,
}

impl Robot<'_> {
    /// Scans from `(x, y)`, inserts the scan, refreshes the grid.
    fn sense(&mut self, x: f64, y: f64) -> Result<()> {
        let pose =
            Isometry3::from_parts(Translation3::new(x, y, self.z), UnitQuaternion::identity());
        self.lidar
            .scan(self.world, &pose, &mut self.rng, &mut self.scan);
        self.points.clear();
        let origin = Vector3::new(x, y, self.z);
        for (d, &r) in self.lidar.beam_directions().iter().zip(&self.scan.ranges_m) {
            if r.is_nan() {
                continue;
            }
            // No return within range: a point beyond it marks misses only.
            let range = if r.is_finite() {
                f64::from(r)
            } else {
                self.range + 1.0
            };
            self.points.push(origin + d * range);
        }
        self.inserter
            .insert(&mut self.map, &origin, &self.points, self.range);
        self.cost.accumulate(self.inserter.cost());
        self.grid.copy_layer(&self.map, self.z)
    }

    /// The last scan, for a viewer.
    fn scan_event(&self, position: [f64; 2], time_s: f64, coverage: f64) -> ExploreEvent<'_> {
        ExploreEvent::Scan {
            time_s,
            position,
            points: &self.points,
            range_m: self.range,
            grid: &self.grid,
            coverage,
        }
    }

    fn known_reachable(&self, reachable: &[bool]) -> usize {
        let w = self.grid.width();
        reachable
            .iter()
            .enumerate()
            .filter(|&(i, &r)| r && self.grid.get(i % w, i / w) != UNKNOWN_I8)
            .count()
    }
}

/// What a viewer sees of a run as it happens (see [`explore_observed`]).
#[derive(Debug)]
pub enum ExploreEvent<'a> {
    /// The robot scanned and updated its map.
    Scan {
        /// Simulated time, s.
        time_s: f64,
        /// The robot's position, world x, y (m).
        position: [f64; 2],
        /// The scan's end points, world (m); beams without a return end past
        /// the range.
        points: &'a [Vector3<f64>],
        /// The sensor's range, m.
        range_m: f64,
        /// The map layer after the scan.
        grid: &'a Grid2,
        /// Known fraction of the reachable free space.
        coverage: f64,
    },
    /// The planner chose a goal (or found nothing left).
    Plan {
        /// Simulated time, s.
        time_s: f64,
        /// The robot's cell.
        robot: (usize, usize),
        /// The plan; `None` when nothing is left to explore.
        plan: Option<&'a Plan>,
        /// The candidate poses scored (the MI planner's; empty for frontier).
        candidates: &'a [ScoredCandidate],
        /// The map layer the plan was made on.
        grid: &'a Grid2,
    },
}

/// Explores world `seed` with `planner`.
///
/// # Errors
/// If the configuration is invalid or the world cannot be generated.
pub fn explore(cfg: &ExploreConfig, seed: u64, planner: PlannerKind) -> Result<ExploreRun> {
    explore_observed(cfg, seed, planner, |_| {})
}

/// [`explore`], showing `observe` every scan and every plan as it happens.
///
/// # Errors
/// As [`explore`].
pub fn explore_observed(
    cfg: &ExploreConfig,
    seed: u64,
    planner: PlannerKind,
    mut observe: impl FnMut(ExploreEvent<'_>),
) -> Result<ExploreRun> {
    cfg.validate()?;
    let world = World::generate(&cfg.world, seed)?;
    let params = OccupancyParams::from(cfg.occupancy);
    let model = QuantizedModel::new(&params)?;
    let map = FixedMap::fixed(cfg.resolution_m, &params)?;
    let grid = grid_for(&world, cfg, model)?;
    let z = cfg.sensor_height_m;
    let start = start_point(&world, &grid, z)?;
    let reachable = reachable_free(&world, &grid, z, start);
    let total = reachable.iter().filter(|&&r| r).count().max(1);
    let lidar = Lidar::new(&LidarConfig {
        azimuth_count: cfg.lidar_beams,
        elevations_deg: vec![0.0],
        min_range_m: 0.05,
        max_range_m: cfg.range_m,
        noise_sigma_m: cfg.range_noise_m,
        dropout_probability: 0.0,
    })?;
    let mut robot = Robot {
        world: &world,
        lidar,
        scan: LidarScan::default(),
        points: Vec::new(),
        rng: Rng::stream(seed, &[Stream::Range.id(), 0x6578_706c]),
        map,
        inserter: ScanInserter::with_mode(FreeSpace::Exact)
            .with_surface_margin(cfg.surface_margin_m),
        grid,
        z,
        range: cfg.range_m,
        cost: CostLedger::new(),
    };
    let mut policy: Box<dyn Planner> = match planner {
        PlannerKind::Mi => Box::new(MiPlanner::new(cfg.mi)),
        PlannerKind::Frontier => Box::new(FrontierPlanner {
            rules: cfg.frontier_rules,
            face_frontier: !cfg.mi.fan.is_full_turn(),
            goal_reach_m: 0.0,
        }),
    };
    let (w, h) = (robot.grid.width(), robot.grid.height());
    let mut pos = robot.grid.center(start.0, start.1);
    robot.sense(pos[0], pos[1])?;
    let mut run = ExploreRun {
        planner,
        seed,
        outcome: Outcome::Budget,
        samples: Vec::new(),
        path_m: vec![pos],
        goals: Vec::new(),
        grid: robot.grid.clone(),
        reachable: Vec::new(),
        distance_to_target_m: None,
        plans: 0,
        candidates_scored: 0,
        planning_s: 0.0,
        blocked_steps: 0,
        cost: CostLedger::new(),
    };
    let mut distance = 0.0;
    let log = |robot: &Robot, distance: f64, plans: usize, samples: &mut Vec<Sample>| {
        let coverage = robot.known_reachable(&reachable) as f64 / total as f64;
        samples.push(Sample {
            time_s: distance / cfg.speed_m_s,
            distance_m: distance,
            coverage,
            known_cells: robot.grid.known_cells(),
            plans,
        });
        coverage
    };
    let mut coverage = log(&robot, distance, 0, &mut run.samples);
    observe(robot.scan_event(pos, distance / cfg.speed_m_s, coverage));
    let mut ignored = vec![false; w * h];
    let mut visited: Vec<(usize, usize)> = Vec::new();
    let inflation = cfg.robot_radius_m + cfg.clearance_m;
    let res = cfg.resolution_m;
    let mut current_goal = None;
    let mut forbidden: Vec<(usize, usize)> = Vec::new();
    let mut idle_plans = 0;
    'explore: loop {
        if coverage >= cfg.coverage_target {
            run.outcome = Outcome::Covered;
            break;
        }
        if distance >= cfg.budget_m {
            run.outcome = Outcome::Budget;
            break;
        }
        let t0 = Instant::now();
        let Some(here) = robot.grid.cell_of(pos[0], pos[1]) else {
            return Err(ExplorationError::Config("the robot left the grid".into()));
        };
        let mut traversable = Traversable::new(&robot.grid, inflation);
        traversable.forbid(&forbidden);
        traversable.escape_from(here, (inflation / res).ceil() as usize + 1);
        let dist = distance_field(&traversable, here);
        let frontiers = frontier_clusters(&robot.grid, &ignored, cfg.min_frontier_cells);
        let view = View {
            grid: &robot.grid,
            traversable: &traversable,
            distance: &dist,
            robot: here,
            frontiers: &frontiers,
            visited: &visited,
            current_goal,
        };
        let plan = policy.plan(&view)?;
        run.planning_s += t0.elapsed().as_secs_f64();
        observe(ExploreEvent::Plan {
            time_s: distance / cfg.speed_m_s,
            robot: here,
            plan: plan.as_ref(),
            candidates: policy.scored(),
            grid: &robot.grid,
        });
        run.plans += 1;
        run.cost.accumulate(&policy.take_cost());
        let Some(plan) = plan else {
            run.outcome = Outcome::NothingLeft;
            break;
        };
        run.candidates_scored += if planner == PlannerKind::Mi {
            plan.candidates
        } else {
            0
        };
        run.goals.push(plan.goal);
        // Follow the path's cell centres, a scan every `scan_every_m`.
        let waypoints: Vec<[f64; 2]> = plan
            .path
            .iter()
            .map(|&(c, r)| robot.grid.center(c, r))
            .collect();
        let mut travelled = 0.0;
        let mut since_scan = 0.0;
        let mut reached = true;
        for (i, wp) in waypoints.iter().enumerate().skip(1) {
            // Replan when an obstacle seen since planning comes within the
            // inflation radius of the next path cells (cells of the band the
            // robot is escaping from excepted).
            let ahead = &plan.path[i..plan.path.len().min(i + LOOK_AHEAD_CELLS)];
            let ahead_blocked = ahead.iter().any(|&(c, r)| {
                traversable.ok(c as i64, r as i64) && !is_clear(&robot.grid, c, r, inflation)
            });
            if ahead_blocked {
                reached = false;
                break;
            }
            // The world in the way where the map says free: the robot stops
            // (a bumper, say), and that cell is off limits from now on.
            if planar_clearance(&world, wp[0], wp[1], z) < cfg.robot_radius_m * 0.5 {
                run.blocked_steps += 1;
                forbidden.push(plan.path[i]);
                reached = false;
                break;
            }
            let step = (wp[0] - pos[0]).hypot(wp[1] - pos[1]);
            pos = *wp;
            distance += step;
            travelled += step;
            since_scan += step;
            run.path_m.push(pos);
            let last = i + 1 == waypoints.len();
            if since_scan + 1e-9 >= cfg.scan_every_m || last {
                since_scan = 0.0;
                robot.sense(pos[0], pos[1])?;
                coverage = log(&robot, distance, run.plans, &mut run.samples);
                observe(robot.scan_event(pos, distance / cfg.speed_m_s, coverage));
                if coverage >= cfg.coverage_target && run.distance_to_target_m.is_none() {
                    run.distance_to_target_m = Some(distance);
                    continue 'explore;
                }
            }
            if distance >= cfg.budget_m || (travelled >= cfg.replan_every_m && !last) {
                reached = last;
                break;
            }
        }
        idle_plans = if travelled > 0.0 { 0 } else { idle_plans + 1 };
        if idle_plans >= MAX_IDLE_PLANS {
            run.outcome = Outcome::Stuck;
            break;
        }
        current_goal = (!reached).then_some(plan.goal);
        if reached || plan.path.len() < 2 {
            visited.push(plan.goal);
        }
        if reached {
            // At the goal: frontier cells this near it were not cleared by
            // coming here; leave them out from now on.
            let reach = (GOAL_FRONTIER_DROP_M / res).ceil() as i64;
            let (gc, gr) = (plan.goal.0 as i64, plan.goal.1 as i64);
            for r in (gr - reach).max(0)..=(gr + reach).min(h as i64 - 1) {
                for c in (gc - reach).max(0)..=(gc + reach).min(w as i64 - 1) {
                    if crate::frontier::is_frontier(&robot.grid, c as usize, r as usize) {
                        ignored[r as usize * w + c as usize] = true;
                    }
                }
            }
        }
    }
    // Steps after the last scan (a run stopped by the budget or stuck) still
    // count in the path.
    if run.samples.last().is_some_and(|s| s.distance_m < distance) {
        log(&robot, distance, run.plans, &mut run.samples);
    }
    if run.outcome == Outcome::Covered && run.distance_to_target_m.is_none() {
        run.distance_to_target_m = Some(distance);
    }
    run.cost.accumulate(&robot.cost);
    run.grid = robot.grid;
    run.reachable = reachable;
    Ok(run)
}

/// What a picture of an exploration's map layer shows (see
/// [`render_layer_rgb`]).
#[derive(Debug, Clone, Copy)]
pub struct LayerPicture<'a> {
    /// The map layer.
    pub grid: &'a Grid2,
    /// Reachable free cells, row-major over the grid (empty: none marked).
    pub reachable: &'a [bool],
    /// Positions the robot passed, world x, y (m), in order.
    pub path_m: &'a [[f64; 2]],
    /// Goals the planner chose, cells.
    pub goals: &'a [(usize, usize)],
    /// Mark the frontier cells left at the end.
    pub frontiers: bool,
}

/// The map layer as RGB pixels, `scale` pixels per cell, +y up: unknown
/// grey, free white, occupied black, reachable free space never seen pale
/// red, the frontier cells left cyan (if asked), the path blue, the start
/// green and the goals orange. Returns width, height and the pixels.
#[must_use]
pub fn render_layer_rgb(picture: &LayerPicture<'_>, scale: usize) -> (usize, usize, Vec<u8>) {
    let g = picture.grid;
    let s = scale.max(1);
    let (w, h) = (g.width() * s, g.height() * s);
    let mut px = vec![0u8; w * h * 3];
    let mut paint = |col: usize, row: usize, rgb: [u8; 3]| {
        if col < g.width() && row < g.height() {
            let top = g.height() - 1 - row;
            for v in top * s..(top + 1) * s {
                for u in col * s..(col + 1) * s {
                    px[(v * w + u) * 3..(v * w + u) * 3 + 3].copy_from_slice(&rgb);
                }
            }
        }
    };
    for row in 0..g.height() {
        for col in 0..g.width() {
            let reachable = picture
                .reachable
                .get(row * g.width() + col)
                .copied()
                .unwrap_or(false);
            let rgb = match g.occupancy(col, row) {
                Occupancy::Unknown if reachable => [240, 190, 190],
                Occupancy::Unknown => [128, 128, 128],
                Occupancy::Free
                    if picture.frontiers && crate::frontier::is_frontier(g, col, row) =>
                {
                    [0, 200, 220]
                }
                Occupancy::Free => [255, 255, 255],
                Occupancy::Occupied => [0, 0, 0],
            };
            paint(col, row, rgb);
        }
    }
    for p in picture.path_m {
        if let Some((c, r)) = g.cell_of(p[0], p[1]) {
            paint(c, r, [30, 80, 220]);
        }
    }
    for &(c, r) in picture.goals {
        paint(c, r, [250, 150, 0]);
    }
    if let Some(p) = picture.path_m.first()
        && let Some((c, r)) = g.cell_of(p[0], p[1])
    {
        paint(c, r, [0, 170, 0]);
    }
    (w, h, px)
}

/// The final map of a lidar run as RGB pixels ([`render_layer_rgb`]
/// without the frontier cells).
#[must_use]
pub fn render_rgb(run: &ExploreRun, scale: usize) -> (usize, usize, Vec<u8>) {
    render_layer_rgb(&run.picture(), scale)
}

/// Writes [`render_layer_rgb`] as a PNG, atomically
/// (`mapping::io::write_atomically`).
///
/// # Errors
/// [`ExplorationError::Mapping`] naming `path` if it cannot be written.
pub fn write_layer_png(
    picture: &LayerPicture<'_>,
    scale: usize,
    path: &std::path::Path,
) -> Result<()> {
    let (w, h, px) = render_layer_rgb(picture, scale);
    mapping::io::write_atomically(path, |file| {
        let mut enc = png::Encoder::new(file, w as u32, h as u32);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        enc.write_header()
            .and_then(|mut writer| writer.write_image_data(&px).and_then(|()| writer.finish()))
            .map_err(std::io::Error::other)
    })?;
    Ok(())
}

/// Writes [`render_rgb`] as a PNG, atomically.
///
/// # Errors
/// [`ExplorationError::Mapping`] naming `path` if it cannot be written.
pub fn write_png(run: &ExploreRun, scale: usize, path: &std::path::Path) -> Result<()> {
    write_layer_png(&run.picture(), scale, path)
}
