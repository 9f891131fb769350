//! The planner stage: where to go next, from the map the robot built and the
//! pose it estimated.
//!
//! Each step takes a view of the int8 map (a consistent one: the caller
//! hands a snapshot or calls between the mapper's keyframes), projects the
//! band of heights the drone sweeps into a 2D grid
//! (`exploration::grid::Grid2::copy_band`: a column is occupied if any cell
//! in the band is, free if one is observed and none occupied), inflates the
//! obstacles by the drone's radius (and, for travel, keeps clear of the
//! unobserved cells beside observed free ones: a surface the camera never
//! saw is not in the map to inflate), finds the frontier clusters and asks the
//! policy (FSMI mutual information or the nearest frontier,
//! `exploration::planner`) for a goal, a yaw to face there and an A* path.
//! It keeps what the lidar explorer keeps between plans: goals reached,
//! frontier cells given up, cells found blocked, the goal being driven to.
//!
//! Why a height band and not 3D scoring: the drone holds its height, so what
//! it can reach and what it will see next are decided in that band; FSMI's
//! closed form is per beam and a planar fan over the band keeps the cost of a
//! candidate at `beams x cells` (FSMI-RLE for 3D maps is left for later).
//!
//! Frames and units: the map's world (the VIO's, when the pose is
//! estimated), metres; grid cells `(col, row)` with +x, +y.

use std::time::Instant;

use cost::StageCounts;
use exploration::frontier::{frontier_clusters, is_frontier};
use exploration::grid::Grid2;
use exploration::paths::{Traversable, distance_field};
use exploration::planner::{Plan, Planner, ScoredCandidate, View};
use mapping::{FixedMap, Occupancy};
use nalgebra::Vector3;

use super::elapsed_ns;
use crate::PipelineError;
use crate::safety::column_has;

/// Frontier cells this near a reached goal (m) are dropped from then on.
const GOAL_FRONTIER_DROP_M: f64 = 0.5;

/// The planner stage (see the module docs).
pub struct PlannerStage {
    policy: Box<dyn Planner + Send>,
    grid: Grid2,
    band_m: [f64; 2],
    /// A wider band whose occupied cells are obstacles too, and its grid.
    obstacle_band: Option<([f64; 2], Grid2)>,
    /// The heights under the drone that must be observed where it flies
    /// (low z, flying height), m; see [`Self::with_unseen_below`].
    unseen_below: Option<[f64; 2]>,
    /// Free cells of the grid with an unobserved cell under them in that
    /// band: kept clear of as obstacles are.
    hidden: Vec<(usize, usize)>,
    /// Cells whose heights under the drone count as seen (where it took
    /// off; see [`Self::seen_below`]).
    seen_below_mask: Vec<bool>,
    /// Travel keeps this far from unknown cells, m (see
    /// [`Self::with_unknown_clearance`]).
    unknown_clearance_m: Option<f64>,
    /// The unknown cells of the grid beside a free one: the edge of what
    /// the map has observed.
    unknown_edge: Vec<(usize, usize)>,
    inflation_m: f64,
    min_frontier_cells: usize,
    ignored: Vec<bool>,
    visited: Vec<(usize, usize)>,
    forbidden: Vec<(usize, usize)>,
    current_goal: Option<(usize, usize)>,
    /// Cells the drone's body has swept: free whatever the map says of them
    /// (the camera never sees the space the drone stands in).
    swept: Vec<(usize, usize)>,
    swept_mask: Vec<bool>,
    /// Counted work, plan by plan.
    pub cost: StageCounts,
    /// Obstacles are inflated by this much instead when the plan with the
    /// full inflation finds no goal (see [`Self::with_fallback_inflation`]).
    fallback_inflation_m: Option<f64>,
    /// Plans made.
    pub plans: usize,
    /// Plans that found their goal only with the fallback inflation.
    pub fallback_plans: usize,
    /// Wall time of all plans, ns.
    pub wall_ns: u64,
}

impl std::fmt::Debug for PlannerStage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlannerStage")
            .field("policy", &self.policy.name())
            .field("plans", &self.plans)
            .finish_non_exhaustive()
    }
}

impl PlannerStage {
    /// A planner driving `policy` on `grid` (its extent, resolution and
    /// model), from the map's band `band_m` (low, high z, m), obstacles
    /// inflated by `inflation_m`, frontier clusters of at least
    /// `min_frontier_cells`.
    #[must_use]
    pub fn new(
        policy: Box<dyn Planner + Send>,
        grid: Grid2,
        band_m: [f64; 2],
        inflation_m: f64,
        min_frontier_cells: usize,
    ) -> Self {
        let cells = grid.width() * grid.height();
        Self {
            policy,
            grid,
            band_m,
            obstacle_band: None,
            unseen_below: None,
            hidden: Vec::new(),
            seen_below_mask: vec![false; cells],
            unknown_clearance_m: None,
            unknown_edge: Vec::new(),
            inflation_m,
            min_frontier_cells,
            ignored: vec![false; cells],
            visited: Vec::new(),
            forbidden: Vec::new(),
            current_goal: None,
            swept: Vec::new(),
            swept_mask: vec![false; cells],
            fallback_inflation_m: None,
            cost: StageCounts::new(),
            plans: 0,
            fallback_plans: 0,
            wall_ns: 0,
        }
    }

    /// Also takes as obstacles the occupied cells of the map's band
    /// `band_m` (low, high z, m; wider than the planning band): the drone's
    /// body reaches above and below the heights it explores, and a box top
    /// just under the planning band is an obstacle all the same. Frontiers,
    /// free space and coverage stay those of the planning band.
    #[must_use]
    pub fn with_obstacle_band(mut self, band_m: [f64; 2]) -> Self {
        self.obstacle_band = Some((band_m, self.grid.clone()));
        self
    }

    /// Also keeps the drone clear of the free cells of the grid under which
    /// some cell of the map between `low_m` and the flying height
    /// `height_m` (z, m; the layers under the drone's own) was never
    /// observed, where the drone has not flown. A box whose top lies a few
    /// centimetres under the flying height is seen edge-on: rays pass just
    /// over it and mark the band free, while its inside, under the top, is
    /// never seen; in open space the camera sees those heights long before
    /// the drone gets there. The cells stay free for exploring and
    /// coverage; only travel avoids them.
    #[must_use]
    pub fn with_unseen_below(mut self, low_m: f64, height_m: f64) -> Self {
        self.unseen_below = Some([low_m, height_m]);
        self
    }

    /// Also keeps travel `radius_m` (centre to centre) from the unknown
    /// cells of the grid that border free ones. Obstacles are inflated only
    /// where the map has seen them; a surface the camera never saw (the far
    /// side of a pillar, the foot of a box seen past its edge) is unknown
    /// while rays that grazed it carved the space in front of it free, and a
    /// path along that free space passed 0.13 m from a pillar. With
    /// `radius_m` the body's radius and the safety margin, the body stays
    /// clear of any surface inside unobserved space (the surface lies at or
    /// behind the first unknown cell, at most half a cell's diagonal nearer
    /// than its centre). The cells stay free and frontiers for exploring;
    /// only travel avoids them. A plan with a tighter inflation keeps clear
    /// by that inflation instead, if smaller.
    #[must_use]
    pub fn with_unknown_clearance(mut self, radius_m: f64) -> Self {
        self.unknown_clearance_m = Some(radius_m);
        self
    }

    /// The heights under the drone within `radius_m` of `position` (world
    /// x, y, m) count as seen from now on: where the drone took off. A
    /// camera does not see the heights under it nearer than their depth
    /// over the tangent of half its vertical field of view (about 0.2 m for
    /// 0.1 m down with a 55-degree field), so after turning in place at its
    /// start the drone would find itself ringed by unseen cells.
    pub fn seen_below(&mut self, position: [f64; 2], radius_m: f64) {
        for (c, r) in self.disc(position, radius_m) {
            self.seen_below_mask[r * self.grid.width() + c] = true;
        }
    }

    /// The grid cells whose centres lie within `radius_m` of the centre of
    /// the cell holding `position` (world x, y, m); none off the grid.
    fn disc(
        &self,
        position: [f64; 2],
        radius_m: f64,
    ) -> impl Iterator<Item = (usize, usize)> + use<> {
        let res = self.grid.resolution();
        let reach = (radius_m / res).ceil() as i64;
        let centre = self.cell_of(position);
        let (w, h) = (self.grid.width() as i64, self.grid.height() as i64);
        centre.into_iter().flat_map(move |(c0, r0)| {
            (-reach..=reach)
                .flat_map(move |dr| (-reach..=reach).map(move |dc| (dc, dr)))
                .filter_map(move |(dc, dr)| {
                    let (c, r) = (c0 as i64 + dc, r0 as i64 + dr);
                    let d = ((dc * dc + dr * dr) as f64).sqrt() * res;
                    (d <= radius_m && (0..w).contains(&c) && (0..h).contains(&r))
                        .then_some((c as usize, r as usize))
                })
        })
    }

    /// The free cells the last plan kept clear of because the heights under
    /// them were never observed ([`Self::with_unseen_below`]).
    #[must_use]
    pub fn hidden(&self) -> &[(usize, usize)] {
        &self.hidden
    }

    /// When no goal can be reached with obstacles inflated by the full
    /// inflation (the body's radius and a clearance), plans once more with
    /// them inflated by `inflation_m` only (the body's radius and the safety
    /// margin the moves are checked with, and half a cell's diagonal: the
    /// inflation is centre to centre, the check to a cell's nearest point).
    /// A doorway of 1 m leaves a lane of 0.3 m with the full 0.35 m
    /// inflation, and one false occupied cell of stereo at a door post
    /// closes it and hides everything behind it; the tighter inflation
    /// (0.285 m) leaves 0.43 m, and the move check still holds the body
    /// clear.
    #[must_use]
    pub fn with_fallback_inflation(mut self, inflation_m: f64) -> Self {
        self.fallback_inflation_m = Some(inflation_m);
        self
    }

    /// The policy's name.
    #[must_use]
    pub fn name(&self) -> &'static str {
        self.policy.name()
    }

    /// The grid of the last step.
    #[must_use]
    pub fn grid(&self) -> &Grid2 {
        &self.grid
    }

    /// The candidates the last plan scored (MI only).
    #[must_use]
    pub fn scored(&self) -> &[ScoredCandidate] {
        self.policy.scored()
    }

    /// Projects `map` onto the grid at the start of a plan: the exploring
    /// band, the obstacle band's occupied cells, the body's swept cells,
    /// and the cells to keep clear of.
    ///
    /// # Errors
    /// [`PipelineError::Planner`] if the band cannot be projected.
    fn refresh(&mut self, map: &FixedMap, t_ns: i64) -> Result<(), PipelineError> {
        self.grid
            .copy_band(map, self.band_m[0], self.band_m[1])
            .map_err(|error| PipelineError::Planner { t_ns, error })?;
        if let Some((band, obstacles)) = self.obstacle_band.as_mut() {
            obstacles
                .copy_band(map, band[0], band[1])
                .map_err(|error| PipelineError::Planner { t_ns, error })?;
            for row in 0..obstacles.height() {
                for col in 0..obstacles.width() {
                    if obstacles.occupancy(col, row) == Occupancy::Occupied
                        && self.grid.occupancy(col, row) != Occupancy::Occupied
                    {
                        self.grid.set(col, row, obstacles.get(col, row));
                    }
                }
            }
        }
        // The drone's body was there: the cells the camera never saw are
        // free. Not the occupied ones: a drone already too near a wall (its
        // estimate off by a few centimetres) would erase the wall it is
        // touching, and believe itself clear (it did, 3 cm from a wall).
        let free = self.grid.model().min;
        for &(c, r) in &self.swept {
            if self.grid.occupancy(c, r) == Occupancy::Unknown {
                self.grid.set(c, r, free);
            }
        }
        self.find_hidden(map);
        self.find_unknown_edge();
        Ok(())
    }

    /// The unknown cells with a free 8-neighbour (when keeping clear of
    /// them).
    fn find_unknown_edge(&mut self) {
        self.unknown_edge.clear();
        if self.unknown_clearance_m.is_none() {
            return;
        }
        let (w, h) = (self.grid.width(), self.grid.height());
        for row in 0..h {
            for col in 0..w {
                if self.grid.occupancy(col, row) != Occupancy::Unknown {
                    continue;
                }
                let free_beside = (row.saturating_sub(1)..=(row + 1).min(h - 1)).any(|r| {
                    (col.saturating_sub(1)..=(col + 1).min(w - 1))
                        .any(|c| self.grid.occupancy(c, r) == Occupancy::Free)
                });
                if free_beside {
                    self.unknown_edge.push((col, row));
                }
            }
        }
    }

    /// The free cells, not swept, with an unobserved map cell in the layers
    /// from `unseen_below[0]` up to (not including) the flying height's.
    fn find_hidden(&mut self, map: &FixedMap) {
        self.hidden.clear();
        let Some([low, height]) = self.unseen_below else {
            return;
        };
        let w = self.grid.width();
        for row in 0..self.grid.height() {
            for col in 0..w {
                if self.swept_mask[row * w + col]
                    || self.seen_below_mask[row * w + col]
                    || self.grid.occupancy(col, row) != Occupancy::Free
                {
                    continue;
                }
                let c = self.grid.center(col, row);
                let (Some(bottom), Some(top)) = (
                    map.key(&Vector3::new(c[0], c[1], low)),
                    map.key(&Vector3::new(c[0], c[1], height)),
                ) else {
                    continue;
                };
                if column_has(map, bottom, bottom.z..top.z, Occupancy::Unknown) {
                    self.hidden.push((col, row));
                }
            }
        }
    }

    /// The drone's body (a disc of `radius_m`) is at `position` (world x, y,
    /// m): those cells are free from now on where the map has not observed
    /// them (the camera never sees the space the drone stands in).
    pub fn sweep(&mut self, position: [f64; 2], radius_m: f64) {
        let w = self.grid.width();
        for (c, r) in self.disc(position, radius_m) {
            if !self.swept_mask[r * w + c] {
                self.swept_mask[r * w + c] = true;
                self.swept.push((c, r));
            }
        }
    }

    /// Plans from `position` (world x, y, m) on `map`: the goal, the yaw to
    /// face there and the path, or `None` when nothing is left to explore.
    ///
    /// # Errors
    /// [`PipelineError::Planner`] if the position is off the grid or the
    /// policy refuses the view.
    pub fn step(
        &mut self,
        map: &FixedMap,
        position: [f64; 2],
        t_ns: i64,
    ) -> Result<Option<Plan>, PipelineError> {
        let start = Instant::now();
        let fail = |error| PipelineError::Planner { t_ns, error };
        self.refresh(map, t_ns)?;
        let here = self.cell_of(position).ok_or_else(|| {
            fail(exploration::ExplorationError::Config(format!(
                "the robot at ({:.2}, {:.2}) m left the planning grid",
                position[0], position[1]
            )))
        })?;
        let frontiers = frontier_clusters(&self.grid, &self.ignored, self.min_frontier_cells);
        let mut plan = self
            .plan_inflated(self.inflation_m, here, &frontiers)
            .map_err(fail)?;
        if plan.is_none()
            && let Some(tight) = self.fallback_inflation_m
            && tight < self.inflation_m
            && !frontiers.is_empty()
        {
            plan = self.plan_inflated(tight, here, &frontiers).map_err(fail)?;
            self.fallback_plans += usize::from(plan.is_some());
        }
        self.current_goal = plan.as_ref().map(|p| p.goal);
        self.plans += 1;
        self.cost.record_run(t_ns, &[&self.policy.take_cost()]);
        self.wall_ns += elapsed_ns(start);
        Ok(plan)
    }

    /// The policy's plan from cell `here` with obstacles inflated by
    /// `inflation_m`.
    fn plan_inflated(
        &mut self,
        inflation_m: f64,
        here: (usize, usize),
        frontiers: &[exploration::frontier::FrontierCluster],
    ) -> exploration::Result<Option<Plan>> {
        let res = self.grid.resolution();
        let mut traversable = Traversable::new(&self.grid, inflation_m);
        traversable.forbid(&self.forbidden);
        traversable.keep_clear_of(&self.hidden, inflation_m);
        if let Some(r) = self.unknown_clearance_m {
            traversable.keep_clear_of(&self.unknown_edge, r.min(inflation_m));
        }
        traversable.escape_from(here, (inflation_m / res).ceil() as usize + 1);
        let dist = distance_field(&traversable, here);
        let view = View {
            grid: &self.grid,
            traversable: &traversable,
            distance: &dist,
            robot: here,
            frontiers,
            visited: &self.visited,
            current_goal: self.current_goal,
        };
        self.policy.plan(&view)
    }

    /// The grid cell of a world point, if on the grid.
    #[must_use]
    pub fn cell_of(&self, position: [f64; 2]) -> Option<(usize, usize)> {
        self.grid.cell_of(position[0], position[1])
    }

    /// The goal was reached: it is not chosen again, and the frontier cells
    /// near it that coming here did not clear are dropped: all of them for a
    /// sensor that sees all round (`facing` `None`), those the camera faced
    /// for one that does not (`facing`: the drone's yaw and half its field
    /// of view, rad): the others it has not looked at yet.
    pub fn reached(&mut self, goal: (usize, usize), facing: Option<(f64, f64)>) {
        self.visited.push(goal);
        self.current_goal = None;
        let (w, h) = (self.grid.width(), self.grid.height());
        let reach = (GOAL_FRONTIER_DROP_M / self.grid.resolution()).ceil() as i64;
        let (gc, gr) = (goal.0 as i64, goal.1 as i64);
        for r in (gr - reach).max(0)..=(gr + reach).min(h as i64 - 1) {
            for c in (gc - reach).max(0)..=(gc + reach).min(w as i64 - 1) {
                let seen = facing.is_none_or(|(yaw, half_fov)| {
                    let (dc, dr) = ((c - gc) as f64, (r - gr) as f64);
                    let d = dr.atan2(dc) - yaw;
                    let off = d.sin().atan2(d.cos());
                    (dc == 0.0 && dr == 0.0) || off.abs() <= half_fov
                });
                if seen && is_frontier(&self.grid, c as usize, r as usize) {
                    self.ignored[r as usize * w + c as usize] = true;
                }
            }
        }
    }

    /// A cell of the path turned out blocked: it is off limits from now on.
    pub fn blocked(&mut self, cell: (usize, usize)) {
        self.forbidden.push(cell);
        self.current_goal = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use exploration::planner::FrontierPlanner;
    use mapping::{OccupancyParams, QuantizedModel};

    /// A 2 m x 2 m room of 5 cm cells (a 40 x 40 grid and the map under
    /// it) whose cells of columns 0..35 at the map layers `layers` are
    /// observed free (four misses each) where `observed(col, row, layer)`
    /// says so; columns 35.. unknown (a frontier).
    fn room(
        layers: std::ops::Range<i32>,
        observed: impl Fn(usize, usize, i32) -> bool,
    ) -> (FixedMap, Grid2) {
        let params = OccupancyParams::default();
        let m = QuantizedModel::new(&params).unwrap_or_else(|e| panic!("{e}"));
        let mut map = FixedMap::fixed(0.05, &params).unwrap_or_else(|e| panic!("{e}"));
        let g = Grid2::new([0, 0], 40, 40, 0, 0.05, m).unwrap_or_else(|e| panic!("{e}"));
        for row in 0..40 {
            for col in 0..35 {
                for layer in layers.clone().filter(|&l| observed(col, row, l)) {
                    let c = g.center(col, row);
                    let z = (f64::from(layer) + 0.5) * 0.05;
                    let key = map
                        .key(&nalgebra::Vector3::new(c[0], c[1], z))
                        .unwrap_or_else(|| panic!("cell ({col}, {row}) off the map"));
                    for _ in 0..4 {
                        map.update_cell(key, false);
                    }
                }
            }
        }
        (map, g)
    }

    /// The room observed free from 0.8 m to 1.05 m, but for a box (columns
    /// and rows 15..25) seen only edge-on: its top layer (0.95-1.0 m)
    /// observed free by rays passing over it, the layers under it never
    /// observed.
    fn boxed_room() -> (FixedMap, PlannerStage) {
        let (map, g) = room(16..21, |col, row, layer| {
            let in_box = (15..25).contains(&col) && (15..25).contains(&row);
            !in_box || layer >= 19
        });
        let stage = PlannerStage::new(
            Box::new(FrontierPlanner::default()),
            g,
            [0.95, 1.05],
            0.35,
            3,
        );
        (map, stage)
    }

    #[test]
    fn a_box_seen_only_edge_on_is_kept_clear_of_and_still_counts_as_seen() {
        let (map, stage) = boxed_room();
        let mut stage = stage.with_unseen_below(0.8, 0.99);
        let start = stage.grid().center(5, 20);
        stage.sweep(start, 0.2);
        let plan = stage
            .step(&map, start, 0)
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("no plan to the frontier"));
        // The box's columns are free in the band (explored) but kept clear of.
        let mut hidden = stage.hidden().to_vec();
        hidden.sort_unstable();
        let boxed: Vec<(usize, usize)> = (15..25)
            .flat_map(|col| (15..25).map(move |row| (col, row)))
            .collect();
        assert_eq!(hidden, boxed);
        assert_eq!(stage.grid().occupancy(20, 20), Occupancy::Free);
        // The path to the frontier goes round the box, clear of it by the
        // inflation.
        assert!(plan.goal.0 >= 25, "goal {:?}", plan.goal);
        for &(col, row) in &plan.path {
            let dc = (15 - col as i64).max(col as i64 - 24).max(0);
            let dr = (15 - row as i64).max(row as i64 - 24).max(0);
            let d = ((dc * dc + dr * dr) as f64).sqrt() * 0.05;
            assert!(d > 0.35, "({col}, {row}) is {d} m from the box");
        }
        // Without the check, the path crosses the box.
        let (map, mut plain) = boxed_room();
        plain.sweep(start, 0.2);
        let plan = plain
            .step(&map, start, 0)
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("no plan"));
        assert!(plain.hidden().is_empty());
        assert!(
            plan.path
                .iter()
                .any(|&(c, r)| (15..25).contains(&c) && (15..25).contains(&r)),
            "{:?}",
            plan.path
        );
    }

    /// A wall across a 2 m x 2 m room at row 20 with a 1 m doorway (columns
    /// 10..30), the near half observed free, two rows beyond the door free
    /// and the rest unknown, and one false occupied cell at (17, 20) in the
    /// doorway: with a 0.35 m inflation the lane through the door is
    /// closed, with 0.25 m it is open.
    fn doorway() -> (FixedMap, PlannerStage) {
        let params = OccupancyParams::default();
        let m = QuantizedModel::new(&params).unwrap_or_else(|e| panic!("{e}"));
        let mut map = FixedMap::fixed(0.05, &params).unwrap_or_else(|e| panic!("{e}"));
        let g = Grid2::new([0, 0], 40, 40, 0, 0.05, m).unwrap_or_else(|e| panic!("{e}"));
        for row in 0..23 {
            for col in 0..40 {
                let wall = row == 20 && !(10..30).contains(&col);
                let hit = wall || (row, col) == (20, 17);
                let c = g.center(col, row);
                let key = map
                    .key(&nalgebra::Vector3::new(c[0], c[1], 1.0))
                    .unwrap_or_else(|| panic!("cell ({col}, {row}) off the map"));
                for _ in 0..4 {
                    map.update_cell(key, hit);
                }
            }
        }
        let stage = PlannerStage::new(
            Box::new(FrontierPlanner::default()),
            g,
            [0.95, 1.05],
            0.35,
            3,
        );
        (map, stage)
    }

    #[test]
    fn a_doorway_closed_by_one_false_cell_is_planned_through_with_the_fallback_inflation() {
        let (map, mut stage) = doorway();
        let start = stage.grid().center(20, 5);
        // The full inflation alone: nothing reachable is left.
        let plan = stage.step(&map, start, 0).unwrap_or_else(|e| panic!("{e}"));
        assert!(plan.is_none(), "the doorway should be closed at 0.35 m");
        // With the fallback, the path goes through the doorway, clear of
        // both the false cell and the door post by the fallback's 0.25 m.
        let (map, stage) = doorway();
        let mut stage = stage.with_fallback_inflation(0.25);
        let plan = stage
            .step(&map, start, 0)
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("no plan with the fallback inflation"));
        assert_eq!(stage.fallback_plans, 1);
        assert!(
            plan.goal.1 > 20,
            "the goal {:?} is not beyond the door",
            plan.goal
        );
        let crossing = plan
            .path
            .iter()
            .find(|&&(_, row)| row == 20)
            .unwrap_or_else(|| panic!("the path does not cross the wall"));
        assert!((22..=25).contains(&crossing.0), "crossed at {crossing:?}");
    }

    /// The room observed free at 0.95-1.05 m but for a pillar of columns
    /// and rows 18..22 never observed (rays that grazed it carved the space
    /// round it). A frontier planner whose goal may lie 0.4 m from its
    /// frontier.
    fn unseen_pillar() -> (FixedMap, PlannerStage) {
        let (map, g) = room(19..21, |col, row, _| {
            !((18..22).contains(&col) && (18..22).contains(&row))
        });
        let frontier = FrontierPlanner {
            goal_reach_m: 0.4,
            ..FrontierPlanner::default()
        };
        // Frontier clusters of 25 cells at least: the pillar's ring (20) is
        // not one, so both plans head for the far frontier past the pillar.
        let stage = PlannerStage::new(Box::new(frontier), g, [0.95, 1.05], 0.35, 25);
        (map, stage)
    }

    /// The smallest distance (m, centre to centre) from a path's cells to
    /// the pillar's.
    fn nearest_to_pillar(path: &[(usize, usize)]) -> f64 {
        let mut best = f64::INFINITY;
        for &(col, row) in path {
            for pc in 18..22 {
                for pr in 18..22 {
                    let (dc, dr) = (col as f64 - f64::from(pc), row as f64 - f64::from(pr));
                    best = best.min(dc.hypot(dr) * 0.05);
                }
            }
        }
        best
    }

    #[test]
    fn travel_keeps_clear_of_a_surface_the_camera_never_saw() {
        // Without the clearance the path to the frontier brushes the unseen
        // pillar: unknown cells are not inflated, only occupied ones.
        let (map, mut plain) = unseen_pillar();
        let start = plain.grid().center(5, 20);
        let plan = plain
            .step(&map, start, 0)
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("no plan"));
        assert!(nearest_to_pillar(&plan.path) < 0.1, "{:?}", plan.path);
        // With it, every cell of the path, the goal included, keeps 0.25 m
        // from the pillar and from the unknown beyond the frontier, and the
        // goal is still within 0.4 m of that frontier.
        let (map, stage) = unseen_pillar();
        let mut stage = stage.with_unknown_clearance(0.25);
        let plan = stage
            .step(&map, start, 0)
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("no plan with the clearance"));
        assert!(nearest_to_pillar(&plan.path) >= 0.25, "{:?}", plan.path);
        for &(col, row) in &plan.path {
            assert!(
                col <= 34 - 5,
                "({col}, {row}) is within 0.25 m of the frontier's unknown"
            );
        }
        assert!(plan.goal.0 >= 34 - 8, "goal {:?}", plan.goal);
        // The grid still calls the pillar unknown (it is explored, not
        // filled in).
        assert_eq!(stage.grid().occupancy(20, 20), Occupancy::Unknown);
    }
}
