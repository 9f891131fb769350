//! Exploration policies behind one trait: given what the robot has seen, where
//! to go next.
//!
//! - [`FrontierPlanner`], the baseline: the reachable frontier nearest by path
//!   length (Yamauchi, CIRA 1997), its goal the traversable cell at or beside
//!   a frontier cell (or within [`FrontierPlanner::goal_reach_m`] of one)
//!   with the shortest path.
//! - [`MiPlanner`]: candidate poses are a lattice of reachable traversable
//!   cells (every `lattice_cells` cells) whose nearest frontier cell, found in
//!   a kd-tree (`kiddo`), lies within sensor range, plus the frontier
//!   baseline's goal of every cluster; each is scored by FSMI over the whole
//!   beam fan ([`crate::mi`]), and the goal maximizes
//!   `U = I exp(-lambda d)`, with `I` the mutual information (bits) and `d` the
//!   path length (m) (the exponential discount of Gonzalez-Banos & Latombe,
//!   IJRR 2002, and Bircher et al.'s receding-horizon next-best view, ICRA
//!   2016). Why this form: the ranking does not depend on the unit of `I`,
//!   and `1 / lambda` is the detour, in metres, worth an e-fold of information,
//!   a figure one can reason about. A ratio `I / d` was the alternative, but
//!   it ranks a small gain next to the robot over everything else. The
//!   default, 0.05 /m (20 m per e-fold), was the best of 0 to 0.5 /m over the
//!   ten benchmark worlds: the discount breaks near-ties toward the nearer
//!   pose without pulling the robot into small shadows, which is exactly
//!   where the nearest-frontier rule loses its path length.
//!
//! Both planners skip goals closer than `min_goal_m` (the robot is there
//! already) and within `visited_radius_m` of a goal reached before (a place
//! whose frontier could not be cleared from it).
//!
//! Heading. A full-turn fan (a 360-degree lidar, the default) sees all round,
//! so a goal is a position and [`Plan::yaw_rad`] is `None`. A narrower fan (a
//! forward-looking camera, [`BeamFan::fov_rad`] under 2 pi) makes it a
//! position and a yaw: the MI planner scores each candidate at
//! [`MiSettings::headings`] evenly spaced headings (`2 pi k / headings` from
//! +x, `k = 0..headings`) and keeps the best one (the first on a tie); the
//! utility, the goal's choice and the commitment to the current goal work on
//! that best score, so the current goal is re-scored at its best heading
//! each time. The frontier planner, given the same camera
//! ([`FrontierPlanner::face_frontier`]), faces the centroid of the cluster
//! it goes to (see there why not the nearest frontier cell, and what it does
//! when the centroid is on the goal).
//!
//! Seen once is not known. FSMI counts every bit of a cell's entropy, and a
//! cell observed once keeps most of it; a lidar sees each cell many times,
//! a camera from a few keyframes, and MI then keeps coming back to look
//! again. [`MiSettings::observed_as_certain`] scores poses as if every
//! observed cell were certain: the gain is then the unknown space a pose
//! would see (the drone's default; the lidar explorer keeps the full MI).
//!
//! Unknown is mostly free. A reading ends at the first occupied cell, and an
//! unknown cell at even odds ends half the beams that reach it, so a beam
//! learns about the first cell or two of the unknown: a pose facing a
//! pocket one cell deep scores nearly what one facing a room does (in the
//! drone's flights every chosen goal scored 5-8 bits, first plan to last).
//! [`MiSettings::unknown_prior_from_map`] scores the unknown cells at
//! [`line_hazard`], the rate at which lines through the observed free space
//! meet an occupied cell (2-5 % a cell in the flights' worlds), so the
//! beams reach as far into the unknown as free space runs and the
//! information grows with the space a reading would reveal. Off by default
//! (docs/architecture.md, "What the flights taught").
//!
//! Frames and units: cells are `(col, row)` of [`Grid2`]; lengths metres;
//! yaws radians from +x, counter-clockwise (z up); information bits.

use cost::CostLedger;
use kiddo::{ImmutableKdTree, SquaredEuclidean};
use mapping::Occupancy;

use crate::frontier::FrontierCluster;
use crate::grid::Grid2;
use crate::mi::{BeamFan, EarlyExit, Fsmi};
use crate::paths::{Traversable, astar};
use crate::{ExplorationError, Result};

/// What a planner sees.
#[derive(Debug, Clone, Copy)]
pub struct View<'a> {
    /// The map layer.
    pub grid: &'a Grid2,
    /// Where the robot may be.
    pub traversable: &'a Traversable,
    /// Path length (m) from the robot to every cell, row-major.
    pub distance: &'a [f32],
    /// The robot's cell.
    pub robot: (usize, usize),
    /// Frontier clusters.
    pub frontiers: &'a [FrontierCluster],
    /// Goals reached before.
    pub visited: &'a [(usize, usize)],
    /// The goal being driven to, when replanning on the way.
    pub current_goal: Option<(usize, usize)>,
}

/// A planner's choice.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The goal cell.
    pub goal: (usize, usize),
    /// Cells from the robot to the goal, both included.
    pub path: Vec<(usize, usize)>,
    /// Path length, m.
    pub length_m: f32,
    /// Mutual information expected at the goal, bits (MI planner only).
    pub gain_bits: Option<f32>,
    /// Candidates considered.
    pub candidates: usize,
    /// The yaw the robot should face at the goal, rad from +x: the MI
    /// planner's best heading for a fan narrower than a full turn, the
    /// frontier planner's direction to its frontier with
    /// [`FrontierPlanner::face_frontier`]; `None` for a sensor that sees all
    /// round. The MI planner's yaws are in `[0, 2 pi)`, the frontier
    /// planner's in `(-pi, pi]` (`atan2`).
    pub yaw_rad: Option<f64>,
}

/// An exploration policy.
pub trait Planner {
    /// Its name on the command line.
    fn name(&self) -> &'static str;
    /// The next goal and the path to it, or `None` when nothing is left to
    /// explore.
    ///
    /// # Errors
    /// If the view is inconsistent with the planner's configuration.
    fn plan(&mut self, view: &View) -> Result<Option<Plan>>;
    /// Counted work since the last call to `take_cost`.
    fn take_cost(&mut self) -> CostLedger;
    /// The candidate poses the last plan scored, for a viewer (none for a
    /// planner that scores none).
    fn scored(&self) -> &[ScoredCandidate] {
        &[]
    }
}

/// Goal rules both planners share.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GoalRules {
    /// Goals nearer than this are skipped, m.
    pub min_goal_m: f64,
    /// Goals this near a goal reached before are skipped, m.
    pub visited_radius_m: f64,
}

impl Default for GoalRules {
    fn default() -> Self {
        Self {
            min_goal_m: 0.5,
            visited_radius_m: 0.3,
        }
    }
}

impl GoalRules {
    fn allows(&self, view: &View, cell: (usize, usize)) -> bool {
        let w = view.grid.width();
        let d = view.distance[cell.1 * w + cell.0];
        let res = view.grid.resolution();
        let r2 = (self.visited_radius_m / res).powi(2);
        d.is_finite()
            && f64::from(d) >= self.min_goal_m
            && view.visited.iter().all(|&(c, r)| {
                let (dc, dr) = (c as f64 - cell.0 as f64, r as f64 - cell.1 as f64);
                dc * dc + dr * dr > r2
            })
    }
}

/// The cell offsets a frontier planner looks at around a frontier cell for
/// a goal: the cell and its 8 neighbours, or every cell within `reach_m`
/// (centre to centre) if that reaches further.
fn goal_offsets(grid: &Grid2, reach_m: f64) -> Vec<(i64, i64)> {
    let r = reach_m / grid.resolution();
    let k = (r.floor() as i64).max(1);
    (-k..=k)
        .flat_map(|dr| (-k..=k).map(move |dc| (dc, dr)))
        .filter(|&(dc, dr)| {
            (dc.abs() <= 1 && dr.abs() <= 1) || ((dc * dc + dr * dr) as f64).sqrt() <= r
        })
        .collect()
}

/// The allowed traversable cell among `offsets` of a cluster's cells with
/// the shortest path, and its path length.
fn nearest_goal_of(
    view: &View,
    rules: &GoalRules,
    offsets: &[(i64, i64)],
    cluster: &FrontierCluster,
) -> Option<((usize, usize), f32)> {
    let w = view.grid.width();
    let mut best: Option<((usize, usize), f32)> = None;
    for &(col, row) in &cluster.cells {
        for &(dc, dr) in offsets {
            let (c, r) = (col as i64 + dc, row as i64 + dr);
            if !view.traversable.ok(c, r) {
                continue;
            }
            let cell = (c as usize, r as usize);
            let d = view.distance[cell.1 * w + cell.0];
            if best.is_none_or(|(_, b)| d < b) && rules.allows(view, cell) {
                best = Some((cell, d));
            }
        }
    }
    best
}

fn plan_to(
    view: &View,
    goal: (usize, usize),
    gain_bits: Option<f32>,
    yaw_rad: Option<f64>,
    candidates: usize,
) -> Option<Plan> {
    astar(view.traversable, view.robot, goal).map(|(path, length_m)| Plan {
        goal,
        path,
        length_m,
        gain_bits,
        candidates,
        yaw_rad,
    })
}

/// Whether `cluster` has a cell `cell` is one of `offsets` from.
fn borders(cluster: &FrontierCluster, offsets: &[(i64, i64)], cell: (usize, usize)) -> bool {
    cluster.cells.iter().any(|&(col, row)| {
        let d = (cell.0 as i64 - col as i64, cell.1 as i64 - row as i64);
        offsets.contains(&d)
    })
}

/// Cells within which a cluster's centroid is too near the goal to give a
/// direction (see [`FrontierPlanner::face_frontier`]).
const FACE_MIN_CELLS: f64 = 2.0;

/// The yaw (rad from +x) from `goal` to `cluster`'s centroid, or, with the
/// centroid within [`FACE_MIN_CELLS`] of the goal's centre, toward the
/// cluster's unknown side (see [`FrontierPlanner::face_frontier`]).
fn facing(grid: &Grid2, goal: (usize, usize), cluster: &FrontierCluster) -> f64 {
    let g = grid.center(goal.0, goal.1);
    let (dx, dy) = (cluster.centroid_m[0] - g[0], cluster.centroid_m[1] - g[1]);
    if dx.hypot(dy) < FACE_MIN_CELLS * grid.resolution() {
        let (w, h) = (grid.width() as i64, grid.height() as i64);
        let mut side = (0i64, 0i64);
        for &(col, row) in &cluster.cells {
            for (dc, dr) in [(1, 0), (-1, 0), (0, 1), (0, -1)] {
                let (c, r) = (col as i64 + dc, row as i64 + dr);
                if (0..w).contains(&c)
                    && (0..h).contains(&r)
                    && grid.occupancy(c as usize, r as usize) == Occupancy::Unknown
                {
                    side = (side.0 + dc, side.1 + dr);
                }
            }
        }
        if side != (0, 0) {
            return (side.1 as f64).atan2(side.0 as f64);
        }
    }
    dy.atan2(dx)
}

/// The nearest-frontier baseline.
#[derive(Debug, Clone, Default)]
pub struct FrontierPlanner {
    /// Goal rules.
    pub rules: GoalRules,
    /// Give each plan a yaw facing the chosen frontier, for a sensor
    /// narrower than a full turn (false by default: no yaw, as for a lidar).
    ///
    /// The yaw points from the goal to the centroid of the cluster the goal
    /// was chosen for (or, when replanning on the way, of the first cluster
    /// bordering the kept goal). The centroid rather than the nearest
    /// frontier cell: the goal is at or beside a cell of its cluster, so the
    /// nearest frontier cell is at most one cell away, its direction one of
    /// eight, taken from a neighbour rather than toward the unknown space,
    /// and undefined when the goal is itself a frontier cell; the centroid
    /// sums up the whole cluster, so a camera facing it looks along or into
    /// the frontier the goal was chosen for. The centroid fails the same way
    /// when the goal is in the middle of a straight frontier (it lies on the
    /// goal, or a cell or two along the frontier): within two cells of the
    /// goal's centre, the yaw is the cluster's unknown side instead, the sum
    /// of the steps from its cells to their unknown 4-neighbours (straight
    /// across a straight frontier).
    pub face_frontier: bool,
    /// A goal may be a traversable cell this near a frontier cell (m,
    /// centre to centre); 0 by default: at or beside one (Yamauchi's
    /// rule, for a robot whose inflation is a cell or two). A drone that
    /// keeps its radius and a clearance from walls needs about that much
    /// (`radius + clearance` and a cell): a frontier along a wall, or in a
    /// doorway narrower than the inflation, has no traversable cell beside
    /// it, and the baseline would end with those frontiers still open.
    pub goal_reach_m: f64,
}

impl Planner for FrontierPlanner {
    fn name(&self) -> &'static str {
        "frontier"
    }

    fn plan(&mut self, view: &View) -> Result<Option<Plan>> {
        // On the way, keep the goal while it still borders a frontier
        // (Yamauchi replans on arrival; switching to whichever frontier is
        // nearest every metre makes the robot oscillate between two).
        let face = |plan: Plan, cluster: &FrontierCluster| Plan {
            yaw_rad: self
                .face_frontier
                .then(|| facing(view.grid, plan.goal, cluster)),
            ..plan
        };
        let offsets = goal_offsets(view.grid, self.goal_reach_m);
        if let Some(goal) = view.current_goal
            && view.traversable.ok(goal.0 as i64, goal.1 as i64)
            && self.rules.allows(view, goal)
            && let Some(cluster) = view.frontiers.iter().find(|c| borders(c, &offsets, goal))
            && let Some(plan) = plan_to(view, goal, None, None, view.frontiers.len())
        {
            return Ok(Some(face(plan, cluster)));
        }
        let best = view
            .frontiers
            .iter()
            .filter_map(|c| nearest_goal_of(view, &self.rules, &offsets, c).map(|(g, d)| (g, d, c)))
            .min_by(|a, b| a.1.total_cmp(&b.1));
        Ok(best.and_then(|(goal, _, cluster)| {
            plan_to(view, goal, None, None, view.frontiers.len()).map(|p| face(p, cluster))
        }))
    }

    fn take_cost(&mut self) -> CostLedger {
        CostLedger::new()
    }
}

/// The most headings [`MiSettings::headings`] may ask for (one a degree).
pub const MAX_HEADINGS: usize = 360;

/// The MI planner's settings.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MiSettings {
    /// The sensor fan the poses are scored for.
    pub fan: BeamFan,
    /// Lattice spacing of candidate poses, cells.
    pub lattice_cells: usize,
    /// Discount of information per metre of path, 1/m.
    pub lambda_per_m: f64,
    /// On the way to a goal, a new goal must beat the current one's utility
    /// by this factor (commitment: without it the robot dithers between
    /// goals of similar worth).
    pub switch_factor: f64,
    /// Goal rules.
    pub rules: GoalRules,
    /// Headings each candidate is scored at when the fan is narrower than a
    /// full turn, evenly spaced from +x (`2 pi k / headings`), the best kept;
    /// 1..=[`MAX_HEADINGS`], 1 by default (a narrow fan then always faces
    /// +x: ask for at least `2 pi / fov_rad`, say 8 for a 79-degree camera).
    /// A full-turn fan is scored once whatever this says.
    pub headings: usize,
    /// Scores each pose as if every observed cell were certain (free or
    /// occupied at the model's clamp): the information is then that of the
    /// unknown cells the fan would see, the space a coverage target counts.
    /// Off, a cell seen once keeps most of its entropy (one miss of 0.4 is
    /// 0.97 bits) and draws the robot back to look again, which a lidar
    /// that sees every cell many times over hardly does but a camera,
    /// seeing each cell from few keyframes, does all the time.
    pub observed_as_certain: bool,
    /// Scores unknown cells at the occupancy rate the map's observed space
    /// shows rather than at even odds: the chance that a line through
    /// observed free cells meets an occupied one at the next cell
    /// ([`line_hazard`]). FSMI's beam stops at the first occupied cell, and
    /// at even odds it stops within a cell or two of unknown space: a pose
    /// facing a pocket one cell deep then scores nearly as much as one
    /// facing a room, so the information counts the frontier in view, not
    /// the space a reading would reveal. At the rate free space really
    /// ends (a few percent a cell indoors) a beam reaches as deep into the
    /// unknown as rooms are wide. With `observed_as_certain`.
    pub unknown_prior_from_map: bool,
}

impl Default for MiSettings {
    fn default() -> Self {
        Self {
            fan: BeamFan::default(),
            lattice_cells: 5,
            lambda_per_m: 0.05,
            switch_factor: 1.5,
            rules: GoalRules::default(),
            headings: 1,
            observed_as_certain: false,
            unknown_prior_from_map: false,
        }
    }
}

impl MiSettings {
    /// Checks the fan's field of view and the headings (the rest of the fan
    /// is checked when the planner builds its evaluator).
    ///
    /// # Errors
    /// If `fan.fov_rad` is outside `(0, 2 pi]` or `headings` outside
    /// 1..=[`MAX_HEADINGS`].
    pub fn validate(&self) -> Result<()> {
        self.fan.check_fov()?;
        if !(1..=MAX_HEADINGS).contains(&self.headings) {
            return Err(ExplorationError::Config(format!(
                "mi.headings must be in 1..={MAX_HEADINGS}, got {}",
                self.headings
            )));
        }
        Ok(())
    }
}

/// A candidate pose and its score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoredCandidate {
    /// The cell.
    pub cell: (usize, usize),
    /// Mutual information of the fan from its centre, bits.
    pub gain_bits: f32,
    /// `gain_bits exp(-lambda d)`.
    pub utility: f32,
    /// The heading (rad from +x) `gain_bits` was scored at, the best of
    /// [`MiSettings::headings`]; `None` for a full-turn fan.
    pub yaw_rad: Option<f64>,
}

/// The mutual-information planner.
#[derive(Debug)]
pub struct MiPlanner {
    settings: MiSettings,
    fsmi: Option<Fsmi>,
    cost: CostLedger,
    scored: Vec<ScoredCandidate>,
}

impl MiPlanner {
    /// A planner with `settings`.
    #[must_use]
    pub fn new(settings: MiSettings) -> Self {
        Self {
            settings,
            fsmi: None,
            cost: CostLedger::new(),
            scored: Vec::new(),
        }
    }

    /// The candidates of the last plan.
    #[must_use]
    pub fn last_candidates(&self) -> &[ScoredCandidate] {
        &self.scored
    }
}

/// A copy of `grid` whose observed cells are at the model's clamps
/// (occupied ones at the largest value, free ones at the smallest) and, with
/// `unknown_prior` (an occupancy probability), whose unknown cells are at the
/// int8 value nearest to it.
fn observed_as_certain(grid: &Grid2, unknown_prior: Option<f64>) -> Grid2 {
    let mut certain = grid.clone();
    let model = grid.model();
    let (min, max) = (model.min, model.max);
    let unknown = unknown_prior.map(|p| {
        let steps = (mapping::logodds::logit(p) / model.step).round();
        steps.clamp(f64::from(min), f64::from(max)) as i8
    });
    for row in 0..grid.height() {
        for col in 0..grid.width() {
            match (grid.occupancy(col, row), unknown) {
                (Occupancy::Occupied, _) => certain.set(col, row, max),
                (Occupancy::Free, _) => certain.set(col, row, min),
                (Occupancy::Unknown, Some(v)) => certain.set(col, row, v),
                (Occupancy::Unknown, None) => {}
            }
        }
    }
    certain
}

/// The least and largest occupancy rate [`line_hazard`] returns.
const HAZARD_RANGE: (f64, f64) = (0.005, 0.5);

/// The chance that a line through the observed free cells of `grid` meets
/// an occupied cell at the next step: over rows and columns, both ways, the
/// steps from a free cell to an occupied one over all steps from a free
/// cell to an observed one (unknown neighbours skipped), within
/// [`HAZARD_RANGE`]; even odds (0.5) before any step is observed. Under
/// FSMI's model of independent cells this is the occupancy probability that
/// makes a beam through unknown space end as often as one through the space
/// already seen.
#[must_use]
pub fn line_hazard(grid: &Grid2) -> f64 {
    let (w, h) = (grid.width(), grid.height());
    let (mut ends, mut steps) = (0u64, 0u64);
    let mut pair = |a: Occupancy, b: Occupancy| {
        for (from, to) in [(a, b), (b, a)] {
            if from == Occupancy::Free && to != Occupancy::Unknown {
                steps += 1;
                ends += u64::from(to == Occupancy::Occupied);
            }
        }
    };
    for row in 0..h {
        for col in 0..w {
            let here = grid.occupancy(col, row);
            if col + 1 < w {
                pair(here, grid.occupancy(col + 1, row));
            }
            if row + 1 < h {
                pair(here, grid.occupancy(col, row + 1));
            }
        }
    }
    if steps == 0 {
        return HAZARD_RANGE.1;
    }
    (ends as f64 / steps as f64).clamp(HAZARD_RANGE.0, HAZARD_RANGE.1)
}

/// The candidate cells for a view.
fn candidates(settings: &MiSettings, view: &View) -> Vec<(usize, usize)> {
    let grid = view.grid;
    let w = grid.width();
    let rules = &settings.rules;
    let beside = goal_offsets(grid, 0.0);
    let mut out: Vec<(usize, usize)> = view
        .frontiers
        .iter()
        .filter_map(|c| nearest_goal_of(view, rules, &beside, c).map(|(cell, _)| cell))
        .collect();
    if let Some(g) = view.current_goal
        && view.traversable.ok(g.0 as i64, g.1 as i64)
        && rules.allows(view, g)
    {
        out.push(g);
    }
    let points: Vec<[f64; 2]> = view
        .frontiers
        .iter()
        .flat_map(|c| c.cells.iter().map(|&(col, row)| grid.center(col, row)))
        .collect();
    if points.is_empty() {
        return out;
    }
    let tree: ImmutableKdTree<f64, 2> = ImmutableKdTree::new_from_slice(&points);
    let range = settings.fan.cells as f64 * grid.resolution();
    let step = settings.lattice_cells.max(1);
    for row in (step / 2..grid.height()).step_by(step) {
        for col in (step / 2..w).step_by(step) {
            if !view.traversable.ok(col as i64, row as i64) || !rules.allows(view, (col, row)) {
                continue;
            }
            let nearest = tree.nearest_one::<SquaredEuclidean>(&grid.center(col, row));
            if nearest.distance <= range * range {
                out.push((col, row));
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

impl Planner for MiPlanner {
    fn name(&self) -> &'static str {
        "mi"
    }

    fn plan(&mut self, view: &View) -> Result<Option<Plan>> {
        self.settings.validate()?;
        let grid = view.grid;
        let fsmi = match &mut self.fsmi {
            Some(f) if f.fits(grid) => f,
            slot => slot.insert(Fsmi::new(
                grid.model(),
                &self.settings.fan,
                grid.resolution(),
                EarlyExit::On,
            )?),
        };
        let candidates = candidates(&self.settings, view);
        let certain;
        let grid = if self.settings.observed_as_certain {
            let prior = self
                .settings
                .unknown_prior_from_map
                .then(|| line_hazard(grid));
            certain = observed_as_certain(grid, prior);
            &certain
        } else {
            grid
        };
        self.scored.clear();
        let w = grid.width();
        let lambda = self.settings.lambda_per_m;
        let score = |cell: (usize, usize), gain_bits: f32, yaw_rad: Option<f64>| {
            let d = f64::from(view.distance[cell.1 * w + cell.0]);
            let utility = f64::from(gain_bits) * (-lambda * d).exp();
            ScoredCandidate {
                cell,
                gain_bits,
                utility: utility as f32,
                yaw_rad,
            }
        };
        if fsmi.fan().is_full_turn() {
            for &cell in &candidates {
                let c = grid.center(cell.0, cell.1);
                let gain_bits = fsmi.pose(grid, c[0], c[1])?;
                self.scored.push(score(cell, gain_bits, None));
            }
        } else {
            // Heading by heading, so the fan turns `headings` times a plan,
            // not once a candidate.
            let headings = self.settings.headings;
            let mut best = vec![(f32::NEG_INFINITY, 0.0); candidates.len()];
            for k in 0..headings {
                let heading = std::f64::consts::TAU * k as f64 / headings as f64;
                for (&cell, best) in candidates.iter().zip(&mut best) {
                    let c = grid.center(cell.0, cell.1);
                    let gain_bits = fsmi.pose_heading(grid, c[0], c[1], heading)?;
                    if gain_bits > best.0 {
                        *best = (gain_bits, heading);
                    }
                }
            }
            for (&cell, &(gain_bits, heading)) in candidates.iter().zip(&best) {
                self.scored.push(score(cell, gain_bits, Some(heading)));
            }
        }
        self.cost.record("fsmi_beam", fsmi.cost());
        fsmi.take_work();
        let informative = self.scored.iter().copied().filter(|s| s.gain_bits > 0.0);
        let mut best = informative
            .clone()
            .max_by(|a, b| a.utility.total_cmp(&b.utility).then(b.cell.cmp(&a.cell)));
        if let (Some(b), Some(goal)) = (best, view.current_goal)
            && let Some(kept) = informative.clone().find(|s| s.cell == goal)
            && f64::from(b.utility) < self.settings.switch_factor * f64::from(kept.utility)
        {
            best = Some(kept);
        }
        Ok(
            best.and_then(|b| {
                plan_to(view, b.cell, Some(b.gain_bits), b.yaw_rad, candidates.len())
            }),
        )
    }

    fn take_cost(&mut self) -> CostLedger {
        std::mem::take(&mut self.cost)
    }

    fn scored(&self) -> &[ScoredCandidate] {
        &self.scored
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::LidarOccupancy;
    use mapping::{OccupancyParams, QuantizedModel};

    const RES: f64 = 0.05;

    fn ok<T>(r: Result<T>) -> T {
        r.unwrap_or_else(|e| panic!("{e}"))
    }

    /// The explorer's lidar model (known free space nearly uninformative).
    fn lidar_model() -> QuantizedModel {
        QuantizedModel::new(&OccupancyParams::from(LidarOccupancy::default()))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// 120 x 60 cells of the explorer's model: a room known free over
    /// columns 60..120 (walls on rows 0 and 59 and column 119), unknown
    /// west of it; in the north half (rows 0..30) a wall seen at column 57
    /// closes the unknown to a pocket two cells deep, in the south half
    /// the unknown runs on.
    fn room_beside_pocket_and_hall() -> Grid2 {
        let m = lidar_model();
        let mut g = ok(Grid2::new([0, 0], 120, 60, 101, RES, m));
        for row in 0..60 {
            for col in 60..120 {
                let wall = row == 0 || row == 59 || col == 119;
                g.set(col, row, if wall { m.max } else { m.min });
            }
        }
        for row in 0..30 {
            g.set(57, row, m.max);
        }
        g
    }

    #[test]
    fn the_line_hazard_is_where_lines_through_free_cells_end() {
        let m = lidar_model();
        let mut g = ok(Grid2::new([0, 0], 12, 3, 101, RES, m));
        assert_eq!(line_hazard(&g), HAZARD_RANGE.1);
        // One row: a wall, ten free cells, a wall; the rows beside unknown.
        // From the free cells: 18 steps to a free neighbour, 2 to a wall.
        g.set(0, 1, m.max);
        g.set(11, 1, m.max);
        for col in 1..11 {
            g.set(col, 1, m.min);
        }
        assert!((line_hazard(&g) - 0.1).abs() < 1e-12, "{}", line_hazard(&g));
    }

    #[test]
    fn with_the_map_s_hazard_a_deep_unknown_outscores_a_shallow_pocket() {
        let grid = room_beside_pocket_and_hall();
        let fan = BeamFan {
            beams: 24,
            cells: 80,
            fov_rad: std::f64::consts::FRAC_PI_2,
            ..BeamFan::default()
        };
        let mut fsmi = ok(Fsmi::new(grid.model(), &fan, RES, EarlyExit::On));
        let hazard = line_hazard(&grid);
        assert!(hazard > 0.005 && hazard < 0.03, "{hazard}");
        let mut gains = |g: &Grid2| {
            let mut facing_west = |row: usize| {
                let c = g.center(70, row);
                ok(fsmi.pose_heading(g, c[0], c[1], std::f64::consts::PI))
            };
            (facing_west(45), facing_west(15))
        };
        // At even odds a beam ends within a cell or two of the unknown: the
        // hall and the pocket score nearly alike.
        let (hall, pocket) = gains(&observed_as_certain(&grid, None));
        assert!(
            hall > 0.0 && pocket > 0.0 && hall < 1.5 * pocket,
            "{hall} vs {pocket}"
        );
        // At the map's rate the beams reach into the hall.
        let (hall, pocket) = gains(&observed_as_certain(&grid, Some(hazard)));
        assert!(hall > 3.0 * pocket, "{hall} vs {pocket}");
    }
}
