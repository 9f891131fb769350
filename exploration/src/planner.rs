//! Exploration policies behind one trait: given what the robot has seen, where
//! to go next.
//!
//! - [`FrontierPlanner`], the baseline: the reachable frontier nearest by path
//!   length (Yamauchi, CIRA 1997), its goal the traversable cell at or beside
//!   a frontier cell with the shortest path.
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

use cost::CostLedger;
use kiddo::{ImmutableKdTree, SquaredEuclidean};

use crate::Result;
use crate::frontier::FrontierCluster;
use crate::grid::Grid2;
use crate::mi::{BeamFan, EarlyExit, Fsmi};
use crate::paths::{Traversable, astar};

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

/// The allowed traversable cell at or beside a cluster's cells with the
/// shortest path, and its path length.
fn nearest_goal_of(
    view: &View,
    rules: &GoalRules,
    cluster: &FrontierCluster,
) -> Option<((usize, usize), f32)> {
    let w = view.grid.width();
    let mut best: Option<((usize, usize), f32)> = None;
    for &(col, row) in &cluster.cells {
        for dr in -1i64..=1 {
            for dc in -1i64..=1 {
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
    }
    best
}

fn plan_to(
    view: &View,
    goal: (usize, usize),
    gain_bits: Option<f32>,
    candidates: usize,
) -> Option<Plan> {
    astar(view.traversable, view.robot, goal).map(|(path, length_m)| Plan {
        goal,
        path,
        length_m,
        gain_bits,
        candidates,
    })
}

/// The nearest-frontier baseline.
#[derive(Debug, Clone, Default)]
pub struct FrontierPlanner {
    /// Goal rules.
    pub rules: GoalRules,
}

impl Planner for FrontierPlanner {
    fn name(&self) -> &'static str {
        "frontier"
    }

    fn plan(&mut self, view: &View) -> Result<Option<Plan>> {
        // On the way, keep the goal while it still borders a frontier
        // (Yamauchi replans on arrival; switching to whichever frontier is
        // nearest every metre makes the robot oscillate between two).
        if let Some(goal) = view.current_goal
            && view.traversable.ok(goal.0 as i64, goal.1 as i64)
            && self.rules.allows(view, goal)
            && view.frontiers.iter().any(|c| {
                c.cells
                    .iter()
                    .any(|&(col, row)| col.abs_diff(goal.0) <= 1 && row.abs_diff(goal.1) <= 1)
            })
            && let Some(plan) = plan_to(view, goal, None, view.frontiers.len())
        {
            return Ok(Some(plan));
        }
        let best = view
            .frontiers
            .iter()
            .filter_map(|c| nearest_goal_of(view, &self.rules, c))
            .min_by(|a, b| a.1.total_cmp(&b.1));
        Ok(best.and_then(|(goal, _)| plan_to(view, goal, None, view.frontiers.len())))
    }

    fn take_cost(&mut self) -> CostLedger {
        CostLedger::new()
    }
}

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
}

impl Default for MiSettings {
    fn default() -> Self {
        Self {
            fan: BeamFan::default(),
            lattice_cells: 5,
            lambda_per_m: 0.05,
            switch_factor: 1.5,
            rules: GoalRules::default(),
        }
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

/// The candidate cells for a view.
fn candidates(settings: &MiSettings, view: &View) -> Vec<(usize, usize)> {
    let grid = view.grid;
    let w = grid.width();
    let rules = &settings.rules;
    let mut out: Vec<(usize, usize)> = view
        .frontiers
        .iter()
        .filter_map(|c| nearest_goal_of(view, rules, c).map(|(cell, _)| cell))
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
        self.scored.clear();
        let w = grid.width();
        for &cell in &candidates {
            let c = grid.center(cell.0, cell.1);
            let gain_bits = fsmi.pose(grid, c[0], c[1])?;
            let d = f64::from(view.distance[cell.1 * w + cell.0]);
            let utility = f64::from(gain_bits) * (-self.settings.lambda_per_m * d).exp();
            self.scored.push(ScoredCandidate {
                cell,
                gain_bits,
                utility: utility as f32,
            });
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
        Ok(best.and_then(|b| plan_to(view, b.cell, Some(b.gain_bits), candidates.len())))
    }

    fn take_cost(&mut self) -> CostLedger {
        std::mem::take(&mut self.cost)
    }

    fn scored(&self) -> &[ScoredCandidate] {
        &self.scored
    }
}
