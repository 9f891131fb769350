//! Where the robot may go on the 2D grid, how far every cell is, and the
//! shortest path to one.
//!
//! - [`Traversable`]: observed-free cells farther than the robot's radius
//!   (plus a margin) from every occupied cell: the occupied cells inflated by
//!   a disc, as a costmap does. Unknown cells are not traversable (the robot
//!   plans through what it has seen) but are not inflated: a frontier must stay
//!   reachable. A robot standing in the inflated band (an obstacle seen late)
//!   may leave it through observed-free cells at three times the length per
//!   cell, within the band's width of where it stands
//!   ([`Traversable::escape_from`]), and may not re-enter it.
//! - [`distance_field`]: Dijkstra's path length (m) from the robot to every
//!   cell, 8-connected, diagonals at sqrt(2) cells and only between two
//!   traversable side cells (no corner cutting). The planners rank every
//!   candidate with one such search.
//! - [`astar`]: the path to one goal under the same moves, A* with the octile
//!   distance (admissible and consistent for these moves; Hart, Nilsson &
//!   Raphael 1968), so its length equals the field's.
//!
//! Cells are `(col, row)` of [`Grid2`]; lengths are metres.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use mapping::Occupancy;

use crate::grid::Grid2;

/// Which cells the robot may occupy.
#[derive(Debug, Clone, PartialEq)]
pub struct Traversable {
    width: usize,
    height: usize,
    resolution: f64,
    /// Observed free and clear of the inflated obstacles.
    clear: Vec<bool>,
    /// Observed free.
    free: Vec<bool>,
    /// Escape moves start only within this many cells (Chebyshev) of this
    /// cell.
    escape: Option<((usize, usize), usize)>,
}

/// Length factor of a step through the inflated band, escaping it.
const ESCAPE_FACTOR: f32 = 3.0;

/// The eight moves: column and row steps, and length in cells.
const MOVES: [(i32, i32, f32); 8] = [
    (1, 0, 1.0),
    (-1, 0, 1.0),
    (0, 1, 1.0),
    (0, -1, 1.0),
    (1, 1, std::f32::consts::SQRT_2),
    (1, -1, std::f32::consts::SQRT_2),
    (-1, 1, std::f32::consts::SQRT_2),
    (-1, -1, std::f32::consts::SQRT_2),
];

impl Traversable {
    /// The free cells of `grid` at least `radius_m` from every occupied cell
    /// (centre to centre).
    #[must_use]
    pub fn new(grid: &Grid2, radius_m: f64) -> Self {
        let (w, h) = (grid.width(), grid.height());
        let free: Vec<bool> = (0..h)
            .flat_map(|row| (0..w).map(move |col| (col, row)))
            .map(|(col, row)| grid.occupancy(col, row) == Occupancy::Free)
            .collect();
        let mut traversable = Self {
            width: w,
            height: h,
            resolution: grid.resolution(),
            clear: free.clone(),
            free,
            escape: None,
        };
        let disc: Vec<(i64, i64)> = disc(grid, radius_m).collect();
        for row in 0..h {
            for col in 0..w {
                if grid.occupancy(col, row) == Occupancy::Occupied {
                    traversable.block_disc(&disc, (col, row));
                }
            }
        }
        traversable
    }

    /// Marks the cells at `disc`'s offsets from `cell` not clear.
    fn block_disc(&mut self, disc: &[(i64, i64)], cell: (usize, usize)) {
        for &(dx, dy) in disc {
            if let Some(i) = self.index(cell.0 as i64 + dx, cell.1 as i64 + dy) {
                self.clear[i] = false;
            }
        }
    }

    /// Whether cell `(col, row)` is traversable (false outside).
    #[must_use]
    #[inline]
    pub fn ok(&self, col: i64, row: i64) -> bool {
        self.index(col, row).is_some_and(|i| self.clear[i])
    }

    /// The row-major index of cell `(col, row)`, if inside.
    #[inline]
    fn index(&self, col: i64, row: i64) -> Option<usize> {
        ((0..self.width as i64).contains(&col) && (0..self.height as i64).contains(&row))
            .then(|| row as usize * self.width + col as usize)
    }

    /// Lets a robot at `start` inside the inflated band leave it: escape moves
    /// may start within `reach` cells of `start` (none are allowed before
    /// this is called).
    pub fn escape_from(&mut self, start: (usize, usize), reach: usize) {
        self.escape = Some((start, reach));
    }

    fn may_escape_from(&self, col: i64, row: i64) -> bool {
        self.escape.is_some_and(|((c, r), reach)| {
            col.abs_diff(c as i64) as usize <= reach && row.abs_diff(r as i64) as usize <= reach
        })
    }

    /// Marks cells the robot found it cannot enter (the world was in the way
    /// where the map said free).
    pub fn forbid(&mut self, cells: &[(usize, usize)]) {
        for &(col, row) in cells {
            if let Some(i) = self.index(col as i64, row as i64) {
                self.clear[i] = false;
                self.free[i] = false;
            }
        }
    }

    /// Keeps the robot `radius_m` (centre to centre) from `cells` too, as
    /// from occupied cells: cells the map does not call occupied but a body
    /// must not enter (the cells stay free for exploring, only travel avoids
    /// them).
    pub fn keep_clear_of(&mut self, cells: &[(usize, usize)], radius_m: f64) {
        let disc: Vec<(i64, i64)> =
            disc_offsets(self.resolution, self.width, self.height, radius_m).collect();
        for &cell in cells {
            self.block_disc(&disc, cell);
        }
    }

    /// Columns.
    #[must_use]
    pub fn width(&self) -> usize {
        self.width
    }

    /// Rows.
    #[must_use]
    pub fn height(&self) -> usize {
        self.height
    }

    /// The length factor of the move from `(col, row)` by `(dc, dr)`, if
    /// allowed: into a traversable cell (for a diagonal, both side cells
    /// traversable too) at 1, or out of the inflated band into an observed
    /// free cell (for a diagonal, both side cells free too) at
    /// [`ESCAPE_FACTOR`], near the robot (see [`Traversable::escape_from`]).
    #[inline]
    fn step(&self, col: i64, row: i64, dc: i32, dr: i32) -> Option<f32> {
        let (c, r) = (col + i64::from(dc), row + i64::from(dr));
        let straight = dc == 0 || dr == 0;
        if self.ok(c, r) && (straight || (self.ok(c, row) && self.ok(col, r))) {
            Some(1.0)
        } else if !self.ok(col, row)
            && self.may_escape_from(col, row)
            && self.is_free(c, r)
            && (straight || (self.is_free(c, row) && self.is_free(col, r)))
        {
            Some(ESCAPE_FACTOR)
        } else {
            None
        }
    }

    fn is_free(&self, col: i64, row: i64) -> bool {
        self.index(col, row).is_some_and(|i| self.free[i])
    }
}

/// Whether no occupied cell of `grid` lies within `radius_m` of cell
/// `(col, row)` (centre to centre).
#[must_use]
pub fn is_clear(grid: &Grid2, col: usize, row: usize, radius_m: f64) -> bool {
    let (w, h) = (grid.width() as i64, grid.height() as i64);
    disc(grid, radius_m).all(|(dx, dy)| {
        let (c, r) = (col as i64 + dx, row as i64 + dy);
        !((0..w).contains(&c)
            && (0..h).contains(&r)
            && grid.occupancy(c as usize, r as usize) == Occupancy::Occupied)
    })
}

/// The distance (m, centre to centre) from cell `(col, row)` to the nearest
/// occupied cell of `grid` within `reach_m`, or `reach_m` if there is none.
#[must_use]
pub fn clearance_m(grid: &Grid2, col: usize, row: usize, reach_m: f64) -> f64 {
    let (w, h) = (grid.width() as i64, grid.height() as i64);
    let res = grid.resolution();
    disc(grid, reach_m)
        .filter(|&(dx, dy)| {
            let (c, r) = (col as i64 + dx, row as i64 + dy);
            (0..w).contains(&c)
                && (0..h).contains(&r)
                && grid.occupancy(c as usize, r as usize) == Occupancy::Occupied
        })
        .map(|(dx, dy)| ((dx * dx + dy * dy) as f64).sqrt() * res)
        .fold(reach_m, f64::min)
}

/// The cell offsets within `radius_m` of a cell (centre to centre); a disc
/// wider than the grid's diagonal reaches nothing more, so it is cut there.
fn disc(grid: &Grid2, radius_m: f64) -> impl Iterator<Item = (i64, i64)> {
    disc_offsets(grid.resolution(), grid.width(), grid.height(), radius_m)
}

/// [`disc`] for cells of `resolution` m on a grid of `width` x `height`.
fn disc_offsets(
    resolution: f64,
    width: usize,
    height: usize,
    radius_m: f64,
) -> impl Iterator<Item = (i64, i64)> {
    let diagonal = (width as f64).hypot(height as f64);
    let r = (radius_m / resolution).clamp(0.0, diagonal);
    let reach = r.ceil() as i64;
    (-reach..=reach)
        .flat_map(move |dy| (-reach..=reach).map(move |dx| (dx, dy)))
        .filter(move |&(dx, dy)| ((dx * dx + dy * dy) as f64).sqrt() <= r)
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Open {
    priority: f32,
    cost: f32,
    cell: usize,
}

impl Eq for Open {}

impl Ord for Open {
    fn cmp(&self, other: &Self) -> Ordering {
        // A min-heap on priority, ties to the larger cost (deeper first).
        other
            .priority
            .total_cmp(&self.priority)
            .then(self.cost.total_cmp(&other.cost))
            .then(other.cell.cmp(&self.cell))
    }
}

impl PartialOrd for Open {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Path length (m) from `start` to every cell (`f32::INFINITY` where
/// unreachable), row-major. The start cell itself need not be traversable
/// (the robot may stand in a cell inflated by a newly seen obstacle).
#[must_use]
pub fn distance_field(trav: &Traversable, start: (usize, usize)) -> Vec<f32> {
    let w = trav.width;
    let mut dist = vec![f32::INFINITY; w * trav.height];
    if start.0 >= w || start.1 >= trav.height {
        return dist;
    }
    let mut heap = BinaryHeap::new();
    let s = start.1 * w + start.0;
    dist[s] = 0.0;
    heap.push(Open {
        priority: 0.0,
        cost: 0.0,
        cell: s,
    });
    let res = trav.resolution as f32;
    while let Some(Open { cost, cell, .. }) = heap.pop() {
        if cost > dist[cell] {
            continue;
        }
        let (col, row) = ((cell % w) as i64, (cell / w) as i64);
        for &(dc, dr, len) in &MOVES {
            let Some(factor) = trav.step(col, row, dc, dr) else {
                continue;
            };
            let next = (row + i64::from(dr)) as usize * w + (col + i64::from(dc)) as usize;
            let c = cost + factor * len * res;
            if c < dist[next] {
                dist[next] = c;
                heap.push(Open {
                    priority: c,
                    cost: c,
                    cell: next,
                });
            }
        }
    }
    dist
}

/// The octile distance between two cells, m.
fn octile(a: (i64, i64), b: (i64, i64), res: f32) -> f32 {
    let dx = (a.0 - b.0).unsigned_abs() as f32;
    let dy = (a.1 - b.1).unsigned_abs() as f32;
    (dx.max(dy) + (std::f32::consts::SQRT_2 - 1.0) * dx.min(dy)) * res
}

/// The shortest path from `start` to `goal` (both ends included) and its
/// length (m), or `None` when the goal cannot be reached.
#[must_use]
pub fn astar(
    trav: &Traversable,
    start: (usize, usize),
    goal: (usize, usize),
) -> Option<(Vec<(usize, usize)>, f32)> {
    let w = trav.width;
    if start.0 >= w || start.1 >= trav.height || !trav.ok(goal.0 as i64, goal.1 as i64) {
        return None;
    }
    let res = trav.resolution as f32;
    let g_cell = (goal.0 as i64, goal.1 as i64);
    let mut cost = vec![f32::INFINITY; w * trav.height];
    let mut parent = vec![usize::MAX; w * trav.height];
    let mut heap = BinaryHeap::new();
    let (s, t) = (start.1 * w + start.0, goal.1 * w + goal.0);
    cost[s] = 0.0;
    heap.push(Open {
        priority: octile((start.0 as i64, start.1 as i64), g_cell, res),
        cost: 0.0,
        cell: s,
    });
    while let Some(Open { cost: c, cell, .. }) = heap.pop() {
        if c > cost[cell] {
            continue;
        }
        if cell == t {
            let mut path = vec![(cell % w, cell / w)];
            let mut at = cell;
            while parent[at] != usize::MAX {
                at = parent[at];
                path.push((at % w, at / w));
            }
            path.reverse();
            return Some((path, c));
        }
        let (col, row) = ((cell % w) as i64, (cell / w) as i64);
        for &(dc, dr, len) in &MOVES {
            let Some(factor) = trav.step(col, row, dc, dr) else {
                continue;
            };
            let (nc, nr) = (col + i64::from(dc), row + i64::from(dr));
            let next = nr as usize * w + nc as usize;
            let nc_cost = c + factor * len * res;
            if nc_cost < cost[next] {
                cost[next] = nc_cost;
                parent[next] = cell;
                heap.push(Open {
                    priority: nc_cost + octile((nc, nr), g_cell, res),
                    cost: nc_cost,
                    cell: next,
                });
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use mapping::{OccupancyParams, QuantizedModel};

    const RES: f64 = 0.1;

    /// A free 40 x 30 room with a wall across x = 20 from row 0 to row 24
    /// (a gap at the top) and unknown space right of x = 35.
    fn room() -> Grid2 {
        let m = QuantizedModel::new(&OccupancyParams::default()).unwrap_or_else(|e| panic!("{e}"));
        let mut g = Grid2::new([0, 0], 40, 30, 2, RES, m).unwrap_or_else(|e| panic!("{e}"));
        for row in 0..30 {
            for col in 0..35 {
                let wall = col == 20 && row < 24;
                g.set(col, row, if wall { m.max } else { m.min });
            }
        }
        g
    }

    #[test]
    fn inflation_keeps_the_robot_clear_of_walls_but_not_of_unknown_space() {
        let g = room();
        let t = Traversable::new(&g, 0.25);
        assert!(!t.ok(20, 10) && !t.ok(18, 10) && !t.ok(22, 10));
        assert!(t.ok(17, 10) && t.ok(23, 10));
        // The wall's end inflates a disc: (20, 26) is 2 cells past its last cell.
        assert!(!t.ok(20, 25) && t.ok(20, 27));
        // Free next to unknown stays traversable; unknown is not.
        assert!(t.ok(34, 5) && !t.ok(35, 5));
    }

    #[test]
    fn cells_kept_clear_of_block_a_disc_as_an_occupied_cell_would() {
        let g = room();
        let mut t = Traversable::new(&g, 0.25);
        assert!(t.ok(10, 10) && t.ok(12, 10) && t.ok(10, 13));
        t.keep_clear_of(&[(10, 10)], 0.25);
        // The cell and its disc of 2.5 cells are blocked, beyond it is not.
        assert!(!t.ok(10, 10) && !t.ok(12, 10) && !t.ok(11, 12));
        assert!(t.ok(13, 10) && t.ok(10, 13) && t.ok(12, 12));
        // The same disc as an occupied cell's.
        let mut walled = g.clone();
        walled.set(10, 10, g.model().max);
        let w = Traversable::new(&walled, 0.25);
        for row in 5..16 {
            for col in 5..16 {
                assert_eq!(t.ok(col, row), w.ok(col, row), "({col}, {row})");
            }
        }
    }

    #[test]
    fn astar_matches_dijkstra_and_goes_round_the_wall() {
        let g = room();
        let t = Traversable::new(&g, 0.25);
        let dist = distance_field(&t, (5, 5));
        let (path, len) = astar(&t, (5, 5), (30, 5)).unwrap_or_else(|| panic!("missing value"));
        assert!(
            (len - dist[5 * 40 + 30]).abs() < 1e-4,
            "{len} vs {}",
            dist[5 * 40 + 30]
        );
        // Around the wall's end: at least up to row 27 and back.
        assert!(path.iter().any(|&(_, r)| r >= 26), "{path:?}");
        // At least the octile length via the first clear cell past the wall's end.
        assert!(len > 5.2, "{len}");
        // Every step is one move between traversable cells, and lengths add up.
        let mut total = 0.0f32;
        for w in path.windows(2) {
            let (dc, dr) = (w[1].0 as i64 - w[0].0 as i64, w[1].1 as i64 - w[0].1 as i64);
            assert!(dc.abs() <= 1 && dr.abs() <= 1 && (dc, dr) != (0, 0));
            assert!(t.ok(w[1].0 as i64, w[1].1 as i64));
            total += if dc != 0 && dr != 0 {
                std::f32::consts::SQRT_2
            } else {
                1.0
            };
        }
        assert!((total * RES as f32 - len).abs() < 1e-3);
        // Unknown goals and cells behind unknown space are unreachable.
        assert!(astar(&t, (5, 5), (37, 5)).is_none());
        assert!(dist[5 * 40 + 37].is_infinite());
        // From inside the inflated band next to the wall: no way out until
        // escapes are allowed, then out within a few cells and never back in.
        assert!(!t.ok(19, 5));
        assert!(astar(&t, (19, 5), (5, 5)).is_none());
        let mut t = t;
        t.escape_from((19, 5), 3);
        let (escape, _) = astar(&t, (19, 5), (5, 5)).unwrap_or_else(|| panic!("no escape"));
        let first_clear = escape
            .iter()
            .position(|&(c, r)| t.ok(c as i64, r as i64))
            .unwrap_or_else(|| panic!("never clear: {escape:?}"));
        assert!(first_clear <= 3, "{escape:?}");
        assert!(
            escape[first_clear..]
                .iter()
                .all(|&(c, r)| t.ok(c as i64, r as i64))
        );
        // A robot far from the band cannot use it as a corridor.
        let far = distance_field(&t, (5, 5));
        assert!(far[5 * 40 + 19].is_infinite());
        assert!(is_clear(&g, 10, 10, 0.25) && !is_clear(&g, 18, 10, 0.25));
        // The wall is col 20, rows 0..24: 2 cells from (18, 10); (17, 24) is
        // sqrt(3^2 + 1^2) cells from its last cell (20, 23); none within
        // 0.5 m of (5, 5).
        assert!((clearance_m(&g, 18, 10, 1.0) - 0.2).abs() < 1e-12);
        assert!((clearance_m(&g, 17, 24, 1.0) - 10f64.sqrt() * RES).abs() < 1e-12);
        assert!((clearance_m(&g, 5, 5, 0.5) - 0.5).abs() < 1e-12);
        // Straight line in the open: exactly the distance.
        let (_, straight) = astar(&t, (5, 5), (5, 15)).unwrap_or_else(|| panic!("missing value"));
        assert!((straight - 1.0).abs() < 1e-5);
    }
}
