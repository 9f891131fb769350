//! Inserting range scans: which cells a scan's rays cross, and one update per
//! cell per scan.
//!
//! Frames and units: world frame, metres; inside, cell units (metres divided by
//! the resolution). A scan is a sensor origin and end points. Each ray marks the
//! cells it passes through as misses and the cell of its end point as a hit; a
//! ray longer than `max_range` is cut there and marks only misses (its end is
//! not a measured surface). As in OctoMap's `computeUpdate` (Hornung et al.,
//! Autonomous Robots 2013), each cell is updated at most once per scan, and a
//! cell both passed through and hit by the scan gets the hit only (beyond a
//! sharp range, below, not).
//!
//! How: three passes per scan.
//! 1. Cut and key the rays, and bound the scan in bricks.
//! 2. Mark a byte per cell (bit 0 miss, bit 1 hit): in a dense array over the
//!    scan's brick-aligned bounding box when it holds at most 16 M cells (one
//!    indexed OR per cell), else in per-brick buffers found through a dense
//!    grid of slots over the box in bricks (a hash map when even that is too
//!    large). The cells of a ray are found slab by slab along its major axis
//!    (`mark_segment`): the same set as the Amanatides-Woo walk ("A Fast
//!    Voxel Traversal Algorithm for Ray Tracing", Eurographics 1987;
//!    [`traverse`], the reference the tests compare with), without its chain
//!    of dependent comparisons.
//! 3. Apply the marks brick by brick, one map lookup per touched brick, the
//!    512 cells in branch-free SIMD lanes.
//!
//! [`FreeSpace::Discretized`] casts one ray per distinct end cell, to its
//! centre (OctoMap's `discretize` option): a depth image puts many rays in
//! each end cell, and the walks are what costs.
//!
//! A sensor whose depth error grows with range (stereo: as the square of
//! the depth) may set a sharp range ([`ScanInserter::with_sharp_range`]):
//! beyond it, a ray's end cell that another ray of the scan passed through
//! is not hit but left as it was or marked free ([`CrossedFarEnd`]), so the
//! end points scattered in front of a far surface do not mark the free cells
//! they fall in.

use cost::{CostLedger, OpCounts, Residence};
use nalgebra::Vector3;
use serde::{Deserialize, Serialize};

use crate::map::{BRICK_CELLS, BrickKey, CellKey, CellModel, KeyMap, OccupancyMap};

/// The longest ray a scan may ask for, in cells ([`check_ray_cells`]).
pub const MAX_CELLS_PER_RAY: f64 = 1024.0;

/// Checks that rays up to `max_range_m` stay within [`MAX_CELLS_PER_RAY`]
/// cells of `resolution_m`. A scan's marks and the bricks it allocates grow
/// with the volume its rays sweep, the cube of that ratio: a depth camera's
/// frustum at 1024 cells a ray allocates some 300 MB; a 0.2 mm map with
/// 4 m rays (20000 cells) would exhaust any memory. Call it before the
/// first scan, on the settings.
///
/// # Errors
/// [`MappingError::Config`] naming both values when the ratio is too
/// large or a value is not positive and finite.
pub fn check_ray_cells(max_range_m: f64, resolution_m: f64) -> Result<(), crate::MappingError> {
    if !(max_range_m.is_finite()
        && max_range_m > 0.0
        && resolution_m.is_finite()
        && resolution_m > 0.0)
    {
        return Err(crate::MappingError::Config(format!(
            "a range of {max_range_m} m at a resolution of {resolution_m} m: both must be positive and finite"
        )));
    }
    let cells = max_range_m / resolution_m;
    if cells > MAX_CELLS_PER_RAY {
        return Err(crate::MappingError::Config(format!(
            "rays of {max_range_m} m at a resolution of {resolution_m} m cross {cells:.0} cells, at most {MAX_CELLS_PER_RAY:.0} (the memory a scan needs grows as the cube): coarsen the map or shorten the range"
        )));
    }
    Ok(())
}

/// Calls `visit` for every cell a segment passes through, from the cell of
/// `from` up to but excluding the cell of `to` (both given as cell keys with
/// the exact points in cell units, i.e. metres divided by the resolution):
/// exactly one cell per unit of Manhattan distance between the two keys.
/// Returns the number of cells visited.
pub fn traverse(
    from: &Vector3<f64>,
    to: &Vector3<f64>,
    start: CellKey,
    end: CellKey,
    mut visit: impl FnMut(CellKey),
) -> usize {
    let mut w = Walk::new(from, to, start, end);
    for _ in 0..w.cells {
        visit(CellKey {
            x: w.key[0],
            y: w.key[1],
            z: w.key[2],
        });
        w.advance();
    }
    w.cells
}

/// The state of an Amanatides-Woo walk (shared with the planner's beam
/// queries, so both visit the same cells in the same arithmetic).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Walk {
    /// The current cell.
    pub(crate) key: [i32; 3],
    /// Direction of the steps along each axis (0 if the ray is parallel to it).
    step: [i32; 3],
    /// Ray parameter (0 at `from`, 1 at `to`) at the next boundary along
    /// each axis.
    pub(crate) t_max: [f64; 3],
    /// Ray parameter between boundaries along each axis.
    t_delta: [f64; 3],
    /// Cells to visit: the Manhattan distance between the end cells.
    pub(crate) cells: usize,
}

impl Walk {
    /// A walk from `from` (in cell `start`) to `to` (in cell `end`), points in
    /// cell units.
    pub(crate) fn new(
        from: &Vector3<f64>,
        to: &Vector3<f64>,
        start: CellKey,
        end: CellKey,
    ) -> Self {
        let d = to - from;
        let key = [start.x, start.y, start.z];
        let target = [end.x, end.y, end.z];
        let mut w = Self {
            key,
            step: [0; 3],
            t_max: [f64::INFINITY; 3],
            t_delta: [f64::INFINITY; 3],
            cells: 0,
        };
        for a in 0..3 {
            if d[a] > 0.0 {
                w.step[a] = 1;
                w.t_max[a] = (f64::from(key[a]) + 1.0 - from[a]) / d[a];
                w.t_delta[a] = 1.0 / d[a];
            } else if d[a] < 0.0 {
                w.step[a] = -1;
                w.t_max[a] = (f64::from(key[a]) - from[a]) / d[a];
                w.t_delta[a] = -1.0 / d[a];
            }
            w.cells += (i64::from(target[a]) - i64::from(key[a])).unsigned_abs() as usize;
        }
        w
    }

    /// The axis whose next cell boundary the walk meets first (z on ties).
    #[inline]
    pub(crate) fn next_axis(&self) -> usize {
        let t = &self.t_max;
        let x_first = (t[0] < t[1]) & (t[0] < t[2]);
        let y_first = (t[0] >= t[1]) & (t[1] < t[2]);
        usize::from(y_first) + 2 * usize::from(!x_first & !y_first)
    }

    /// Steps into the next cell; returns the axis crossed.
    #[inline]
    pub(crate) fn advance(&mut self) -> usize {
        let a = self.next_axis();
        self.key[a] += self.step[a];
        self.t_max[a] += self.t_delta[a];
        a
    }
}

/// What one scan did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScanStats {
    /// Rays cast.
    pub rays: usize,
    /// Rays cut at the maximum range (misses only).
    pub truncated: usize,
    /// Rays refused (non-finite or out of the map's range).
    pub refused: usize,
    /// Cells visited by the traversals, duplicates included.
    pub cells_traversed: usize,
    /// Cells updated as misses (each once).
    pub free_updates: usize,
    /// Cells updated as hits (each once).
    pub occupied_updates: usize,
    /// Bricks touched.
    pub bricks_touched: usize,
    /// Bricks the scan allocated (first observation of their space).
    pub bricks_allocated: usize,
    /// Lookups of a brick's mark buffer (one per brick a walk enters).
    pub brick_lookups: usize,
}

impl ScanStats {
    /// Cell updates applied.
    #[must_use]
    pub fn updates(&self) -> usize {
        self.free_updates + self.occupied_updates
    }
}

/// Mark bits: a ray passed through the cell, a ray ended in it.
const MISS: u8 = 1;
const HIT: u8 = 2;
/// A ray of the scan ended in the cell (scratch for [`FreeSpace::Discretized`]).
const END: u8 = 4;
/// Mark bit: crossed and hit beyond the sharp range, left unchanged
/// ([`CrossedFarEnd::Unchanged`]; a hit from within the range still wins).
const UNDECIDED: u8 = 8;
/// No slot yet for a brick.
const NO_SLOT: u32 = u32::MAX;
/// The largest dense brick grid over a scan's bounding box (4 MB of slots);
/// larger scans (long-range sensors, coarse maps) look bricks up in a hash map.
const MAX_GRID_BRICKS: usize = 1 << 20;
/// The largest dense box of marks, cells (bytes).
const MAX_DENSE_CELLS: usize = 1 << 24;

/// A scan's marks, a byte per cell (see [`MISS`], [`HIT`]), the buffers
/// reused from scan to scan: a dense array over the scan's box when it is
/// small enough, else per-brick buffers whose slots are found through a dense
/// grid over the box in bricks (one indexed load), or a hash map when even
/// that is too large.
#[derive(Debug, Default)]
struct Marks {
    grid: Vec<u32>,
    grid_min: [i32; 3],
    grid_dims: [i32; 3],
    use_grid: bool,
    slots: KeyMap<BrickKey, u32>,
    bricks: Vec<BrickKey>,
    marks: Vec<[u8; BRICK_CELLS]>,
    lookups: usize,
    /// Slabs in which a ray crossed both minor boundaries (decided in f64).
    middles: usize,
    /// The brick of the last cell marked, and its slot.
    last: Option<([i32; 3], usize)>,
    /// A byte per cell over the scan's brick-aligned box (x fastest), when it
    /// is small enough: a mark is then one indexed OR, no brick lookup.
    dense: Vec<u8>,
    dense_min: [i32; 3],
    dense_dims: [u32; 3],
    use_dense: bool,
}

impl Marks {
    /// Prepares for a scan whose cells lie in `[lo, hi]` (cell keys).
    fn begin(&mut self, lo: CellKey, hi: CellKey, dense_limit: usize) {
        let (blo, bhi) = (lo.brick(), hi.brick());
        let cells = [
            (i64::from(bhi.x) - i64::from(blo.x) + 1) * 8,
            (i64::from(bhi.y) - i64::from(blo.y) + 1) * 8,
            (i64::from(bhi.z) - i64::from(blo.z) + 1) * 8,
        ];
        let volume = cells
            .iter()
            .try_fold(1u64, |v, &d| v.checked_mul(u64::try_from(d).ok()?));
        self.use_dense = volume.is_some_and(|v| v <= dense_limit as u64);
        if let Some(v) = volume.filter(|_| self.use_dense) {
            self.dense_min = [blo.x * 8, blo.y * 8, blo.z * 8];
            self.dense_dims = cells.map(|d| d as u32);
            if self.dense.len() < v as usize {
                self.dense.resize(v as usize, 0);
            }
        }
        let (blo, bhi) = (lo.brick(), hi.brick());
        let dims = [bhi.x - blo.x + 1, bhi.y - blo.y + 1, bhi.z - blo.z + 1];
        // Checked: a long-range scan's box can exceed any integer type.
        let volume = dims.iter().try_fold(1usize, |v, &d| {
            usize::try_from(d).ok().and_then(|d| v.checked_mul(d))
        });
        self.use_grid = volume.is_some_and(|v| v <= MAX_GRID_BRICKS);
        if let Some(volume) = volume.filter(|_| self.use_grid) {
            self.grid_min = [blo.x, blo.y, blo.z];
            self.grid_dims = dims;
            if self.grid.len() < volume {
                self.grid.resize(volume, NO_SLOT);
            }
        }
    }

    #[inline]
    fn grid_index(&self, b: BrickKey) -> Option<usize> {
        let (d, m) = (self.grid_dims, self.grid_min);
        let (x, y, z) = (b.x - m[0], b.y - m[1], b.z - m[2]);
        (x >= 0 && y >= 0 && z >= 0 && x < d[0] && y < d[1] && z < d[2])
            .then(|| (x + d[0] * (y + d[1] * z)) as usize)
    }

    /// The slot of a brick, made on first use.
    #[inline]
    fn slot(&mut self, b: BrickKey) -> usize {
        self.lookups += 1;
        let next = self.bricks.len() as u32;
        let slot = match self.grid_index(b).filter(|_| self.use_grid) {
            Some(g) => {
                let s = &mut self.grid[g];
                if *s == NO_SLOT {
                    *s = next;
                }
                *s
            }
            None => *self.slots.entry(b).or_insert(next),
        };
        if slot == next {
            self.bricks.push(b);
            if self.marks.len() < self.bricks.len() {
                self.marks.push([0; BRICK_CELLS]);
            }
        }
        slot as usize
    }

    /// A cell's mark, to read or change.
    #[inline(always)]
    fn cell_mut(&mut self, k: CellKey) -> &mut u8 {
        if let Some(i) = self.dense_index([k.x, k.y, k.z])
            && i < self.dense.len()
        {
            return &mut self.dense[i];
        }
        let s = self.slot(k.brick());
        &mut self.marks[s][k.index_in_brick()]
    }

    /// The cell's byte in the dense box, if it is in it.
    #[inline(always)]
    fn dense_index(&self, k: [i32; 3]) -> Option<usize> {
        let m = self.dense_min;
        let d = self.dense_dims;
        let x = k[0].wrapping_sub(m[0]) as u32;
        let y = k[1].wrapping_sub(m[1]) as u32;
        let z = k[2].wrapping_sub(m[2]) as u32;
        (self.use_dense && x < d[0] && y < d[1] && z < d[2])
            .then(|| x as usize + d[0] as usize * (y as usize + d[1] as usize * z as usize))
    }

    /// Sets bits of a cell's mark (cell key as x, y, z).
    #[inline(always)]
    fn mark_cell(&mut self, k: [i32; 3], bits: u8) {
        if let Some(i) = self.dense_index(k) {
            if let Some(c) = self.dense.get_mut(i) {
                *c |= bits;
            }
            return;
        }
        let b = [k[0] >> 3, k[1] >> 3, k[2] >> 3];
        let slot = match self.last {
            Some((lb, s)) if lb == b => s,
            _ => {
                let s = self.slot(BrickKey {
                    x: b[0],
                    y: b[1],
                    z: b[2],
                });
                self.last = Some((b, s));
                s
            }
        };
        let i = (k[0] & 7) | ((k[1] & 7) << 3) | ((k[2] & 7) << 6);
        self.marks[slot][(i as usize) & (BRICK_CELLS - 1)] |= bits;
    }

    /// Sets bits of a cell's mark; returns whether they were all set already.
    #[inline]
    fn test_and_set(&mut self, k: CellKey, bits: u8) -> bool {
        let m = self.cell_mut(k);
        let was = *m & bits == bits;
        *m |= bits;
        was
    }

    /// Forgets the scan's bricks (their marks were cleared when applied).
    fn end(&mut self) {
        if self.use_grid {
            for i in 0..self.bricks.len() {
                if let Some(g) = self.grid_index(self.bricks[i]) {
                    self.grid[g] = NO_SLOT;
                }
            }
        }
        self.slots.clear();
        self.bricks.clear();
        self.lookups = 0;
        self.middles = 0;
        self.last = None;
    }
}

/// Marks as misses the cells a segment passes through, from the cell of
/// `from` up to but excluding the cell of `to` (points in cell units): the
/// cells [`traverse`] visits, found slab by slab along the segment's major
/// axis instead of boundary by boundary. In each unit slab the segment moves
/// by at most one cell along each minor axis, so a slab holds one to three of
/// its cells, found from the minor coordinates where the segment enters and
/// leaves the slab; those advance by a constant per slab, kept in 32.32 fixed
/// point so that no step waits on the previous one's comparisons (the walk of
/// Amanatides and Woo is a chain of dependent compares and unpredictable
/// branches; this is a few independent integer adds per slab). Returns the
/// cells marked.
fn mark_segment(
    marks: &mut Marks,
    from: &Vector3<f64>,
    to: &Vector3<f64>,
    start: CellKey,
    end: CellKey,
) -> usize {
    if start == end {
        return 0;
    }
    let d = to - from;
    let (start, end) = ([start.x, start.y, start.z], [end.x, end.y, end.z]);
    let (marked, middles) = if marks.use_dense {
        // Every cell of the segment lies in the scan's box (its end cells do,
        // and the minor coordinates are clamped between theirs): one indexed
        // OR per cell.
        let [dx, dy, _] = marks.dense_dims.map(i64::from);
        let m = marks.dense_min.map(i64::from);
        let offset = m[0] + dx * (m[1] + dy * m[2]);
        let dense = &mut marks.dense;
        slabs_by_axis(from, &d, start, end, |k| {
            let i = i64::from(k[0]) + dx * (i64::from(k[1]) + dy * i64::from(k[2])) - offset;
            if let Some(c) = dense.get_mut(i as usize) {
                *c |= MISS;
            }
        })
    } else {
        slabs_by_axis(from, &d, start, end, |k| marks.mark_cell(k, MISS))
    };
    marks.middles += middles;
    marked
}

/// [`mark_slabs`] with the major axis a constant: one copy of the loop per
/// axis. Returns (cells marked, slabs with a middle cell).
#[inline(always)]
fn slabs_by_axis(
    from: &Vector3<f64>,
    d: &Vector3<f64>,
    start: [i32; 3],
    end: [i32; 3],
    mark: impl FnMut([i32; 3]),
) -> (usize, usize) {
    if d.x.abs() >= d.y.abs() && d.x.abs() >= d.z.abs() {
        mark_slabs::<0>(from, d, start, end, mark)
    } else if d.y.abs() >= d.z.abs() {
        mark_slabs::<1>(from, d, start, end, mark)
    } else {
        mark_slabs::<2>(from, d, start, end, mark)
    }
}

/// [`mark_segment`] along major axis `M` (the minor ones follow it
/// cyclically), calling `mark` with each cell's key (x, y, z).
#[inline(always)]
fn mark_slabs<const M: usize>(
    from: &Vector3<f64>,
    d: &Vector3<f64>,
    start: [i32; 3],
    end: [i32; 3],
    mut mark: impl FnMut([i32; 3]),
) -> (usize, usize) {
    const ONE: f64 = (1u64 << 32) as f64;
    let (u, v) = ((M + 1) % 3, (M + 2) % 3);
    let forward = d[M] > 0.0;
    let step = if forward { 1 } else { -1 };
    let slabs = (end[M] - start[M]).unsigned_abs() as usize + 1;
    // Minor coordinates at the first slab boundary, and their change per slab.
    let boundary = f64::from(start[M]) + if forward { 1.0 } else { 0.0 };
    let (du, dv) = (d[u] / d[M], d[v] / d[M]);
    // Rounded half away from zero, as `f64::round`, without its library call.
    let fixed = |x: f64| {
        let y = x * ONE;
        (y + 0.5f64.copysign(y)) as i64
    };
    let mut fu = fixed(from[u] + (boundary - from[M]) * du);
    let mut fv = fixed(from[v] + (boundary - from[M]) * dv);
    let (su, sv) = (fixed(du * f64::from(step)), fixed(dv * f64::from(step)));
    // The minor cells stay between the end cells' (rounding cannot step out).
    let (lo_u, hi_u) = (start[u].min(end[u]), start[u].max(end[u]));
    let (lo_v, hi_v) = (start[v].min(end[v]), start[v].max(end[v]));
    // Which minor boundary comes first when both are crossed in one slab:
    // compare the segment's parameters at the two crossings.
    let (inv_u, inv_v) = (1.0 / d[u], 1.0 / d[v]);
    let key = |a: i32, b: i32, c: i32| {
        let mut k = [0i32; 3];
        k[M] = a;
        k[u] = b;
        k[v] = c;
        k
    };
    let (mut cu, mut cv) = (start[u], start[v]);
    let (mut marked, mut middles) = (0, 0);
    let mut cm = start[M];
    for n in 0..slabs {
        let last = n + 1 == slabs;
        let (nu, nv) = if last {
            (end[u], end[v])
        } else {
            (
                ((fu >> 32) as i32).clamp(lo_u, hi_u),
                ((fv >> 32) as i32).clamp(lo_v, hi_v),
            )
        };
        let changes = nu != cu || nv != cv;
        // The last slab ends in the end cell, which is left out.
        if changes || !last {
            mark(key(cm, cu, cv));
            marked += 1;
        }
        if nu != cu && nv != cv {
            let bu = f64::from(cu.max(nu));
            let bv = f64::from(cv.max(nv));
            let middle = if (bu - from[u]) * inv_u < (bv - from[v]) * inv_v {
                key(cm, nu, cv)
            } else {
                key(cm, cu, nv)
            };
            mark(middle);
            middles += 1;
            marked += 1;
        }
        if changes && !last {
            mark(key(cm, nu, nv));
            marked += 1;
        }
        cu = nu;
        cv = nv;
        fu += su;
        fv += sv;
        cm += step;
    }
    (marked, middles)
}

/// One ray of a scan, ready to walk (points in cell units).
#[derive(Debug, Clone, Copy)]
struct Ray {
    to: Vector3<f64>,
    end: CellKey,
    hit: bool,
    /// Longer than the sharp range: its end cell, if crossed, is not hit.
    beyond_sharp: bool,
}

/// What a scan does to an end cell beyond the sharp range that another of
/// its rays passed through ([`ScanInserter::with_sharp_range`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CrossedFarEnd {
    /// Nothing: the cell keeps what nearer or earlier views made it. The
    /// end points scattered behind a far surface cross the surface's own
    /// cells, which a miss would carve.
    #[default]
    Unchanged,
    /// A miss: the crossing wins. Clears more of the cells in front of far
    /// surfaces, and carves more of the surfaces, than `Unchanged`.
    Free,
}

/// How a scan's free space is marked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FreeSpace {
    /// Every cell of every ray, as OctoMap's `computeUpdate`.
    #[default]
    Exact,
    /// One ray per distinct end cell, to the cell's centre, as OctoMap's
    /// `discretize` option: a depth image puts several rays in each end cell
    /// (more the nearer the surface), and their walks are nearly the same.
    /// The hits are those of [`FreeSpace::Exact`] (with no sharp range:
    /// beyond one, whether an end cell is crossed depends on the walks); the
    /// free cells lie within one cell of the exact ones and number about the
    /// same (tested), for about a fifth of the cells walked on a 320 x 240
    /// depth camera.
    Discretized,
}

/// Inserts scans into a map, reusing its buffers from scan to scan.
#[derive(Debug)]
pub struct ScanInserter {
    mode: FreeSpace,
    surface_margin_m: f64,
    /// Beyond this range a crossed end cell is not hit, m.
    sharp_range_m: f64,
    /// What it is instead.
    crossed_far_end: CrossedFarEnd,
    /// The largest scan box marked in the dense array, cells.
    dense_limit: usize,
    marks: Marks,
    rays: Vec<Ray>,
    cost: CostLedger,
}

impl Default for ScanInserter {
    fn default() -> Self {
        Self {
            mode: FreeSpace::default(),
            surface_margin_m: 0.0,
            sharp_range_m: f64::INFINITY,
            crossed_far_end: CrossedFarEnd::Unchanged,
            dense_limit: MAX_DENSE_CELLS,
            marks: Marks::default(),
            rays: Vec::new(),
            cost: CostLedger::default(),
        }
    }
}

impl ScanInserter {
    /// A new inserter with the default free-space marking.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A new inserter marking free space as `mode` says.
    #[must_use]
    pub fn with_mode(mode: FreeSpace) -> Self {
        Self {
            mode,
            ..Self::default()
        }
    }

    /// Ends the free space of each ray that meets a surface `margin_m` short
    /// of its end point (0, OctoMap's rule, by default; negative or non-finite
    /// values count as 0). A ray meeting a surface at a shallow angle crosses
    /// the free part of the surface's cells before the one it ends in, and
    /// the neighbouring rays end farther along, so without a margin those
    /// surface cells are only ever crossed and read free (see
    /// `tests/room_accuracy.rs` for how many).
    #[must_use]
    pub fn with_surface_margin(mut self, margin_m: f64) -> Self {
        self.surface_margin_m = if margin_m.is_finite() {
            margin_m.max(0.0)
        } else {
            0.0
        };
        self
    }

    /// Rays longer than `range_m` (a sensor's sharp range) hit their end
    /// cell only where no ray of the same scan passed through it; a cell
    /// both crossed and hit beyond the sharp range is what `crossed` says.
    /// Within it, and by default (infinite; a negative or NaN value counts
    /// as infinite), such a cell is hit, OctoMap's rule. Where the depth
    /// error is larger than a cell, the end points on a surface scatter over
    /// several cells along the rays: OctoMap's rule hits every cell one falls
    /// in, scan after scan, the free cells in front of the surface with
    /// them, although the rays of the deeper points cross those cells. The
    /// deepest end cells are still hit, so a far surface may be hit a cell
    /// deep until a nearer view sees it. For stereo, whose depth error is
    /// `z^2 sigma_d / (f B)`, the range where it reaches half a cell
    /// (`pipeline`'s `[map] sharp_range_m`).
    #[must_use]
    pub fn with_sharp_range(mut self, range_m: f64, crossed: CrossedFarEnd) -> Self {
        self.sharp_range_m = if range_m >= 0.0 {
            range_m
        } else {
            f64::INFINITY
        };
        self.crossed_far_end = crossed;
        self
    }

    /// Inserts one scan (`origin` and end points, world frame, m; rays longer
    /// than `max_range` m are cut and mark misses only). A `max_range` that is
    /// not positive (or NaN), an origin outside the map's range, a non-finite
    /// point, or one outside the map's range is refused and counted in
    /// [`ScanStats::refused`]; nothing else of the scan changes.
    pub fn insert<M: CellModel>(
        &mut self,
        map: &mut OccupancyMap<M>,
        origin: &Vector3<f64>,
        points: &[Vector3<f64>],
        max_range: f64,
    ) -> ScanStats {
        let mut stats = ScanStats {
            rays: points.len(),
            ..ScanStats::default()
        };
        let res = map.resolution();
        let start = map.key(origin).filter(|_| max_range > 0.0);
        let Some(start) = start else {
            stats.refused = points.len();
            self.cost.clear();
            return stats;
        };
        let from = origin / res;
        // Pass 1: cut, key and bound the rays.
        self.rays.clear();
        let (mut lo, mut hi) = (start, start);
        for p in points {
            let ray = p - origin;
            let length = ray.norm();
            if !length.is_finite() {
                stats.refused += 1;
                continue;
            }
            let beyond_sharp = length > self.sharp_range_m;
            let (end_point, hit) = if length > max_range {
                stats.truncated += 1;
                (origin + ray * (max_range / length), false)
            } else {
                (*p, true)
            };
            let Some(end) = map.key(&end_point) else {
                stats.refused += 1;
                continue;
            };
            lo = CellKey {
                x: lo.x.min(end.x),
                y: lo.y.min(end.y),
                z: lo.z.min(end.z),
            };
            hi = CellKey {
                x: hi.x.max(end.x),
                y: hi.y.max(end.y),
                z: hi.z.max(end.z),
            };
            self.rays.push(Ray {
                to: end_point / res,
                end,
                hit,
                beyond_sharp,
            });
        }
        // Pass 2: misses along the rays, then the hits (a cell both passed
        // through and hit by the scan is a hit; beyond the sharp range, it is
        // what `crossed_far_end` says).
        self.marks.begin(lo, hi, self.dense_limit);
        let discretized = self.mode == FreeSpace::Discretized;
        let margin = self.surface_margin_m / res;
        for r in &self.rays {
            let to = if discretized {
                if self.marks.test_and_set(r.end, END) {
                    continue;
                }
                Vector3::new(
                    f64::from(r.end.x) + 0.5,
                    f64::from(r.end.y) + 0.5,
                    f64::from(r.end.z) + 0.5,
                )
            } else {
                r.to
            };
            if r.hit && margin > 0.0 {
                // Free space ends `margin` short of the surface.
                let d = to - from;
                let length = d.norm();
                if length <= margin {
                    continue;
                }
                let free_to = to - d * (margin / length);
                let free_end = CellKey {
                    x: free_to.x.floor() as i32,
                    y: free_to.y.floor() as i32,
                    z: free_to.z.floor() as i32,
                };
                stats.cells_traversed +=
                    mark_segment(&mut self.marks, &from, &free_to, start, free_end);
            } else {
                stats.cells_traversed += mark_segment(&mut self.marks, &from, &to, start, r.end);
            }
        }
        for r in &self.rays {
            if !r.hit {
                continue;
            }
            let mark = self.marks.cell_mut(r.end);
            if r.beyond_sharp && *mark & (MISS | UNDECIDED) != 0 {
                // Crossed and hit, the depth too uncertain for the hit: left
                // unchanged or a miss (a ray within the sharp range still
                // hits it).
                if self.crossed_far_end == CrossedFarEnd::Unchanged {
                    *mark = (*mark & !MISS) | UNDECIDED;
                }
            } else {
                *mark |= HIT;
            }
        }
        // Pass 3: brick by brick, one map lookup each.
        let bricks_before = map.brick_count();
        for (s, &brick) in self.marks.bricks.iter().enumerate() {
            let (misses, hits) = map.apply_marks(brick, &mut self.marks.marks[s]);
            stats.free_updates += misses;
            stats.occupied_updates += hits;
            stats.bricks_touched += usize::from(misses + hits > 0);
        }
        if self.marks.use_dense {
            let m = &mut self.marks;
            let [dx, dy, dz] = m.dense_dims.map(|d| d as usize);
            let mut buf = [0u8; BRICK_CELLS];
            for bz in 0..dz / 8 {
                for by in 0..dy / 8 {
                    for bx in 0..dx / 8 {
                        let mut any = 0u8;
                        for z in 0..8 {
                            for y in 0..8 {
                                let row = bx * 8 + dx * (by * 8 + y + dy * (bz * 8 + z));
                                let src = &mut m.dense[row..row + 8];
                                let dst = &mut buf[(z * 8 + y) * 8..(z * 8 + y) * 8 + 8];
                                dst.copy_from_slice(src);
                                src.fill(0);
                                any |= dst.iter().fold(0, |a, &v| a | v);
                            }
                        }
                        if any & 3 == 0 {
                            continue;
                        }
                        let brick = BrickKey {
                            x: (m.dense_min[0] >> 3) + bx as i32,
                            y: (m.dense_min[1] >> 3) + by as i32,
                            z: (m.dense_min[2] >> 3) + bz as i32,
                        };
                        let (misses, hits) = map.apply_marks(brick, &mut buf);
                        stats.free_updates += misses;
                        stats.occupied_updates += hits;
                        stats.bricks_touched += 1;
                    }
                }
            }
        }
        stats.bricks_allocated = map.brick_count() - bricks_before;
        stats.brick_lookups = self.marks.lookups;
        let middles = self.marks.middles as u64;
        let dense_cells = if self.marks.use_dense {
            self.marks
                .dense_dims
                .iter()
                .map(|&d| u64::from(d))
                .product()
        } else {
            0
        };
        self.marks.end();
        self.count_cost(&stats, middles, dense_cells, map.model());
        stats
    }

    /// The work of the last scan, by kernel: `map_rays` (cut and key the
    /// rays), `map_traverse` (walk them, marking cells in the scan's buffers),
    /// `map_update` (apply the marks to the map's bricks).
    #[must_use]
    pub fn cost(&self) -> &CostLedger {
        &self.cost
    }

    /// Counts the last scan's work from its statistics (loop bounds): the
    /// rays are read from main memory; the marks are the scan's working set
    /// (buffer, or main memory when the dense box exceeds
    /// [`cost::BUFFER_LIMIT_BYTES`]); the map's bricks live in main memory,
    /// read and written once per scan each.
    fn count_cost<M: CellModel>(
        &mut self,
        s: &ScanStats,
        middles: u64,
        dense_cells: u64,
        model: &M,
    ) {
        self.cost.clear();
        let rays = s.rays as u64;
        let rays_kept = self.rays.len() as u64;
        let k = self.cost.kernel("map_rays");
        k.calls += 1;
        // Difference, norm, cut, three floors and divisions, bounds.
        k.add_ops(
            OpCounts {
                f64_ops: 20,
                int32_add: 6,
                ..OpCounts::default()
            } * rays,
        );
        k.read(Residence::Main, 24 * rays);
        // The kept rays are the traversal's input: a buffer, unless a scan's
        // rays outgrow one (a stereo keyframe's 76 k rays are megabytes).
        let ray_bytes = std::mem::size_of::<Ray>() as u64 * rays_kept;
        k.write(Residence::of_working_set(ray_bytes), ray_bytes);
        let cells = s.cells_traversed as u64;
        let lookups = s.brick_lookups as u64;
        let k = self.cost.kernel("map_traverse");
        k.calls += 1;
        // Per walk: the major axis, slopes and fixed-point starts; per cell
        // (slabs and their extra cells together): the fixed-point steps,
        // shifts and clamps, the comparisons of the minor cells, the index
        // (in the dense box, or the brick check and the index in the brick),
        // the mark; per slab crossing both minor boundaries: the f64
        // comparison of the two crossings; per brick entered (brick buffers
        // only): the slot's grid lookup.
        k.add_ops(
            OpCounts {
                f64_ops: 24,
                int32_add: 12,
                ..OpCounts::default()
            } * rays_kept,
        );
        k.add_ops(
            OpCounts {
                int32_add: if dense_cells > 0 { 16 } else { 20 },
                int32_mul: if dense_cells > 0 { 2 } else { 0 },
                int8_add: 1,
                ..OpCounts::default()
            } * cells,
        );
        k.add_ops(
            OpCounts {
                f64_ops: 6,
                ..OpCounts::default()
            } * middles,
        );
        k.add_ops(
            OpCounts {
                int32_add: 10,
                int32_mul: 2,
                ..OpCounts::default()
            } * lookups,
        );
        k.read(Residence::of_working_set(ray_bytes), ray_bytes);
        k.read(Residence::Buffer, cells + 4 * lookups);
        k.write(Residence::Buffer, cells);
        let bricks = s.bricks_touched as u64;
        let cell_bytes = std::mem::size_of::<M::Cell>() as u64;
        let k = self.cost.kernel("map_update");
        k.calls += 1;
        // The dense box is read, gathered brick by brick and cleared; a box
        // larger than an on-chip buffer (a 4 m range at 5 cm is 4 MB) is
        // streamed from and to main memory.
        let dense_at = Residence::of_working_set(dense_cells);
        k.read(dense_at, dense_cells);
        k.write(dense_at, dense_cells);
        k.add_ops(OpCounts {
            int8_add: dense_cells,
            ..OpCounts::default()
        });
        k.add_ops(model.apply_ops() * (bricks * BRICK_CELLS as u64));
        k.read(Residence::Buffer, bricks * BRICK_CELLS as u64);
        k.write(Residence::Buffer, bricks * BRICK_CELLS as u64);
        k.read(Residence::Main, bricks * BRICK_CELLS as u64 * cell_bytes);
        k.write(Residence::Main, bricks * BRICK_CELLS as u64 * cell_bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logodds::OccupancyParams;
    use std::collections::BTreeSet;

    use crate::logodds::UNKNOWN_I8;
    use crate::map::{FixedMap, FloatMap, Occupancy};

    fn key(x: i32, y: i32, z: i32) -> CellKey {
        CellKey { x, y, z }
    }

    #[test]
    fn traversal_visits_the_cells_a_dense_sampling_of_the_segment_finds() {
        // Segments in cell units, in general position (no exact corner hits).
        let segments = [
            (
                Vector3::<f64>::new(0.3, 0.4, 0.45),
                Vector3::<f64>::new(7.7, 3.2, -2.6),
            ),
            (Vector3::new(-3.1, 2.9, 0.2), Vector3::new(4.4, -5.3, 1.7)),
            (Vector3::new(0.5, 0.5, 0.5), Vector3::new(0.5, 0.5, 9.5)),
            (
                Vector3::new(1.2, -0.7, 3.3),
                Vector3::new(1.21, -0.69, 3.31),
            ),
        ];
        for (a, b) in segments {
            let ka = key(a.x.floor() as i32, a.y.floor() as i32, a.z.floor() as i32);
            let kb = key(b.x.floor() as i32, b.y.floor() as i32, b.z.floor() as i32);
            let mut visited = Vec::new();
            traverse(&a, &b, ka, kb, |k| visited.push(k));
            let mut sampled = Vec::new();
            let n = 100_000;
            for s in 0..=n {
                let p = a + (b - a) * (f64::from(s) / f64::from(n));
                let k = key(p.x.floor() as i32, p.y.floor() as i32, p.z.floor() as i32);
                if k != kb && sampled.last() != Some(&k) {
                    sampled.push(k);
                }
            }
            // The sampled cells, the end cell left out.
            assert_eq!(visited, sampled, "segment {a:?} -> {b:?}");
            // Consecutive cells are face neighbours.
            for w in visited.windows(2) {
                let d = (w[0].x - w[1].x).abs() + (w[0].y - w[1].y).abs() + (w[0].z - w[1].z).abs();
                assert_eq!(d, 1);
            }
        }
    }

    #[test]
    fn a_scan_marks_free_space_and_surfaces_once_and_unknown_elsewhere() {
        let params = OccupancyParams::default();
        let mut map = FixedMap::fixed(0.1, &params).unwrap_or_else(|e| panic!("{e}"));
        let mut ins = ScanInserter::new();
        let origin = Vector3::new(0.05, 0.05, 0.05);
        // Two rays to the same wall cell, one through it to a farther cell.
        let points = [
            Vector3::new(1.05, 0.05, 0.05),
            Vector3::new(1.06, 0.06, 0.04),
            Vector3::new(2.05, 0.05, 0.05),
        ];
        let stats = ins.insert(&mut map, &origin, &points, 10.0);
        assert_eq!(stats.rays, 3);
        // The third ray passes through the wall cell (10, 0, 0): it stays a hit.
        assert_eq!(map.occupancy(key(10, 0, 0)), Occupancy::Occupied);
        assert_eq!(map.occupancy(key(20, 0, 0)), Occupancy::Occupied);
        for x in 0..10 {
            assert_eq!(map.occupancy(key(x, 0, 0)), Occupancy::Free, "x {x}");
        }
        for x in 11..20 {
            assert_eq!(map.occupancy(key(x, 0, 0)), Occupancy::Free, "x {x}");
        }
        assert_eq!(map.occupancy(key(0, 1, 0)), Occupancy::Unknown);
        assert_eq!(map.occupancy(key(21, 0, 0)), Occupancy::Unknown);
        // Each cell updated once: the free cells hold exactly one miss.
        assert_eq!(map.cell(key(3, 0, 0)), map.model().miss);
        assert_eq!(map.cell(key(10, 0, 0)), map.model().hit);
        assert_eq!(stats.occupied_updates, 2);
        assert_eq!(stats.free_updates, 19);
        assert_eq!(stats.bricks_touched, 3);
    }

    #[test]
    fn rays_beyond_the_maximum_range_mark_misses_only_up_to_it() {
        let mut map =
            FixedMap::fixed(0.1, &OccupancyParams::default()).unwrap_or_else(|e| panic!("{e}"));
        let mut ins = ScanInserter::new();
        let origin = Vector3::new(0.05, 0.05, 0.05);
        let stats = ins.insert(&mut map, &origin, &[Vector3::new(5.05, 0.05, 0.05)], 1.0);
        assert_eq!(stats.truncated, 1);
        assert_eq!(stats.occupied_updates, 0);
        assert_eq!(map.occupancy(key(9, 0, 0)), Occupancy::Free);
        assert_eq!(map.occupancy(key(11, 0, 0)), Occupancy::Unknown);
        assert_eq!(map.occupancy(key(50, 0, 0)), Occupancy::Unknown);
        // Non-finite points are refused, not a panic.
        let s = ins.insert(&mut map, &origin, &[Vector3::new(f64::NAN, 0.0, 0.0)], 1.0);
        assert_eq!(s.refused, 1);
        // So is every ray of a scan with a range that is not positive.
        let before = map.brick_count();
        for range in [0.0, -1.0, f64::NAN] {
            let s = ins.insert(&mut map, &origin, &[Vector3::new(-3.0, 0.0, 0.0)], range);
            assert_eq!((s.refused, s.updates()), (1, 0), "range {range}");
        }
        assert_eq!(map.brick_count(), before);
    }

    /// A wall at x = 3.0 m whose end points scatter a cell either side along
    /// the ray (two in the middle cell): by OctoMap's rule the three cells
    #[test]
    fn rays_of_too_many_cells_are_refused_before_any_scan() {
        assert!(check_ray_cells(4.0, 0.05).is_ok());
        assert!(check_ray_cells(10.24, 0.01).is_ok());
        let e = check_ray_cells(4.0, 0.0002).map_err(|e| e.to_string());
        assert!(
            e.as_ref()
                .is_err_and(|m| m.contains("20000 cells") && m.contains("0.0002")),
            "{e:?}"
        );
        for (range, res) in [
            (f64::NAN, 0.05),
            (4.0, 0.0),
            (f64::INFINITY, 0.05),
            (-1.0, 0.05),
        ] {
            assert!(check_ray_cells(range, res).is_err(), "{range} {res}");
        }
    }

    /// are hit; beyond a sharp range only the deepest, the others (crossed
    /// by the scan) keeping what they held or marked free; within it
    /// OctoMap's rule holds, and a hit from within it wins over a crossed
    /// far end in the same cell. In both modes, in the dense box and in
    /// per-brick buffers, the points in either order.
    #[test]
    fn beyond_the_sharp_range_a_crossed_end_cell_is_not_hit() {
        let params = OccupancyParams::default();
        let origin = Vector3::new(0.05, 0.05, 0.05);
        // Ranges 2.9, 3.0, 3.00003 and 3.1 m.
        let wall = [
            Vector3::new(2.95, 0.05, 0.05),
            Vector3::new(3.05, 0.05, 0.05),
            Vector3::new(3.05, 0.06, 0.04),
            Vector3::new(3.15, 0.05, 0.05),
        ];
        let (free, occupied) = (Occupancy::Free, Occupancy::Occupied);
        let unknown = Occupancy::Unknown;
        let octomap = [free, occupied, occupied, occupied, unknown];
        for mode in [FreeSpace::Exact, FreeSpace::Discretized] {
            for dense_limit in [MAX_DENSE_CELLS, 0] {
                for reversed in [false, true] {
                    let mut points = wall.to_vec();
                    if reversed {
                        points.reverse();
                    }
                    // Cells 28 to 32 along the ray after the scan, on a map
                    // that held cell 29 occupied before it when `before`.
                    let occupancy = |range_m: f64, crossed: CrossedFarEnd, before: bool| {
                        let mut map =
                            FixedMap::fixed(0.1, &params).unwrap_or_else(|e| panic!("{e}"));
                        let mut ins = ScanInserter {
                            dense_limit,
                            ..ScanInserter::with_mode(mode).with_sharp_range(range_m, crossed)
                        };
                        if before {
                            let cell_29 = [Vector3::new(2.95, 0.05, 0.05)];
                            ScanInserter::new().insert(&mut map, &origin, &cell_29, 10.0);
                        }
                        let stats = ins.insert(&mut map, &origin, &points, 10.0);
                        assert_eq!(stats.refused, 0);
                        [28, 29, 30, 31, 32].map(|x| map.occupancy(key(x, 0, 0)))
                    };
                    let case = format!("{mode:?} dense limit {dense_limit} reversed {reversed}");
                    for crossed in [CrossedFarEnd::Unchanged, CrossedFarEnd::Free] {
                        assert_eq!(occupancy(f64::INFINITY, crossed, false), octomap, "{case}");
                        assert_eq!(occupancy(f64::NAN, crossed, false), octomap, "{case}");
                        assert_eq!(occupancy(3.5, crossed, false), octomap, "{case}");
                        // The middle cell's nearer point is within the sharp
                        // range, its other beyond it: hit.
                        assert_eq!(occupancy(3.000_01, crossed, false), octomap, "{case}");
                    }
                    let unchanged = CrossedFarEnd::Unchanged;
                    assert_eq!(
                        occupancy(2.0, unchanged, false),
                        [free, unknown, unknown, occupied, unknown],
                        "{case}"
                    );
                    assert_eq!(
                        occupancy(2.0, unchanged, true),
                        [free, occupied, unknown, occupied, unknown],
                        "{case}"
                    );
                    assert_eq!(
                        occupancy(2.0, CrossedFarEnd::Free, false),
                        [free, free, free, occupied, unknown],
                        "{case}"
                    );
                }
            }
        }
    }

    /// The dense box of marks and the per-brick buffers (what larger scans
    /// use) give the same map, in both modes.
    #[test]
    fn dense_and_brick_marks_give_the_same_map() {
        let mut rand = xorshift(5);
        for mode in [FreeSpace::Exact, FreeSpace::Discretized] {
            let params = OccupancyParams::default();
            let mut dense = FixedMap::fixed(0.05, &params).unwrap_or_else(|e| panic!("{e}"));
            let mut bricks = FixedMap::fixed(0.05, &params).unwrap_or_else(|e| panic!("{e}"));
            let mut by_dense = ScanInserter::with_mode(mode);
            let mut by_bricks = ScanInserter {
                dense_limit: 0,
                ..ScanInserter::with_mode(mode)
            };
            for _ in 0..4 {
                let origin = Vector3::new(rand() * 2.0, rand() * 2.0, 0.5 + rand());
                let points = box_room_scan(&origin, 2000, &mut rand);
                let a = by_dense.insert(&mut dense, &origin, &points, 3.0);
                let b = by_bricks.insert(&mut bricks, &origin, &points, 3.0);
                assert_eq!(a.brick_lookups, 0);
                assert!(b.brick_lookups > 0);
                assert_eq!(
                    (a.updates(), a.cells_traversed, a.bricks_touched),
                    (b.updates(), b.cells_traversed, b.bricks_touched)
                );
            }
            assert_eq!(dense.brick_count(), bricks.brick_count());
            for (k, cells) in dense.bricks() {
                assert_eq!(Some(cells), bricks.brick(k), "{mode:?} brick {k:?}");
            }
        }
    }

    /// A scan spanning more bricks than the dense slot grid holds (a long
    /// range, rays in opposite directions) takes the hash map, with the same
    /// cells as a short scan would mark along the same rays.
    #[test]
    fn a_scan_too_wide_for_the_slot_grid_marks_the_same_cells() {
        let params = OccupancyParams::default();
        let origin = Vector3::new(0.05, 0.05, 0.05);
        let far = 1000.0;
        let points = [
            Vector3::new(far, 0.3, 0.2),
            Vector3::new(-far, -0.2, 0.1),
            Vector3::new(0.1, far, -0.3),
            Vector3::new(0.2, 0.1, -far),
            Vector3::new(1.5, 0.5, 0.2),
        ];
        let mut wide = FixedMap::fixed(0.05, &params).unwrap_or_else(|e| panic!("{e}"));
        let s = ScanInserter::new().insert(&mut wide, &origin, &points, 2.0 * far);
        assert_eq!(s.refused, 0);
        assert!(s.updates() > 70_000, "{s:?}");
        // Near the origin, the same cells as the last ray alone.
        let mut near = FixedMap::fixed(0.05, &params).unwrap_or_else(|e| panic!("{e}"));
        ScanInserter::new().insert(&mut near, &origin, &points[4..], 2.0);
        for x in 0..30 {
            for y in 0..10 {
                let k = key(x, y, 4);
                if near.occupancy(k) != Occupancy::Unknown {
                    assert_eq!(wide.occupancy(k), near.occupancy(k), "{k:?}");
                }
            }
        }
    }

    /// Every brick a scan allocates holds an observed cell, in both modes,
    /// also where rays are cut at the maximum range (their end cells are
    /// neither crossed nor hit).
    #[test]
    fn no_brick_is_allocated_without_an_update() {
        let mut rand = xorshift(11);
        let origin = Vector3::new(1.0, 1.0, 1.0);
        let points = box_room_scan(&origin, 3000, &mut rand);
        for mode in [FreeSpace::Exact, FreeSpace::Discretized] {
            let mut map = FixedMap::fixed(0.05, &OccupancyParams::default())
                .unwrap_or_else(|e| panic!("{e}"));
            let s = ScanInserter::with_mode(mode).insert(&mut map, &origin, &points, 1.5);
            assert!(s.truncated > 1000, "{s:?}");
            assert_eq!(s.bricks_allocated, map.brick_count());
            for (brick, cells) in map.bricks() {
                assert!(
                    cells.iter().any(|&c| c != UNKNOWN_I8),
                    "{mode:?}: brick {brick:?} allocated with no observed cell"
                );
            }
        }
    }

    /// Uniform numbers in [0, 1) from a xorshift generator.
    fn xorshift(mut state: u64) -> impl FnMut() -> f64 {
        move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    /// End points of `n` rays in random directions from `origin` to the walls
    /// of a box room 4 x 4 x 2.5 m (x, y in [-1, 3], z in [0, 2.5]).
    fn box_room_scan(
        origin: &Vector3<f64>,
        n: usize,
        rand: &mut impl FnMut() -> f64,
    ) -> Vec<Vector3<f64>> {
        (0..n)
            .map(|_| {
                let dir = Vector3::new(rand() - 0.5, rand() - 0.5, rand() - 0.5).normalize();
                let mut t = f64::INFINITY;
                for a in 0..3 {
                    let (lo, hi) = if a == 2 { (0.0, 2.5) } else { (-1.0, 3.0) };
                    if dir[a] > 0.0 {
                        t = t.min((hi - origin[a]) / dir[a]);
                    } else if dir[a] < 0.0 {
                        t = t.min((lo - origin[a]) / dir[a]);
                    }
                }
                origin + dir * (t - 1e-3)
            })
            .collect()
    }

    /// One scan into an empty map, the cells it marked free and occupied.
    fn scan_sets(
        mode: FreeSpace,
        origin: &Vector3<f64>,
        points: &[Vector3<f64>],
        max_range: f64,
    ) -> (BTreeSet<CellKey>, BTreeSet<CellKey>, ScanStats) {
        let mut map =
            FixedMap::fixed(0.05, &OccupancyParams::default()).unwrap_or_else(|e| panic!("{e}"));
        let stats = ScanInserter::with_mode(mode).insert(&mut map, origin, points, max_range);
        let (mut free, mut occupied) = (BTreeSet::new(), BTreeSet::new());
        for (brick, cells) in map.bricks() {
            for (i, _) in cells.iter().enumerate() {
                let k = FixedMap::key_in_brick(brick, i);
                match map.occupancy(k) {
                    Occupancy::Free => free.insert(k),
                    Occupancy::Occupied => occupied.insert(k),
                    Occupancy::Unknown => false,
                };
            }
        }
        (free, occupied, stats)
    }

    /// The exact mode against a direct transcription of OctoMap's
    /// `computeUpdate`: the set of cells the rays traverse, minus the cells
    /// they end in, as misses; the end cells as hits. The discretized mode
    /// gives the same hits (without a sharp range) and nearly the same free
    /// cells.
    #[test]
    fn exact_marking_equals_the_set_of_traversed_cells_and_discretized_nearly() {
        let mut rand = xorshift(0x2545_f491_4f6c_dd1d);
        let res = 0.05;
        let (mut exact_total, mut discretized_total) = (0, 0);
        for scan in 0..6 {
            let origin = Vector3::new(rand() * 2.0, rand() * 2.0, 0.5 + rand() * 1.5);
            let points = box_room_scan(&origin, 4000, &mut rand);
            let max_range = if scan % 2 == 0 { 3.0 } else { 10.0 };
            let (mut free, mut occupied) = (BTreeSet::new(), BTreeSet::new());
            let k = |p: &Vector3<f64>| {
                let c = p / res;
                key(c.x.floor() as i32, c.y.floor() as i32, c.z.floor() as i32)
            };
            for p in &points {
                let length = (p - origin).norm();
                let end = if length > max_range {
                    origin + (p - origin) * (max_range / length)
                } else {
                    occupied.insert(k(p));
                    *p
                };
                traverse(&(origin / res), &(end / res), k(&origin), k(&end), |c| {
                    free.insert(c);
                });
            }
            let free: BTreeSet<CellKey> = free.difference(&occupied).copied().collect();
            let (ef, eo, stats) = scan_sets(FreeSpace::Exact, &origin, &points, max_range);
            assert!(eo == occupied, "scan {scan}: the hits differ");
            let missing: Vec<_> = free.difference(&ef).take(5).collect();
            let extra: Vec<_> = ef.difference(&free).take(5).collect();
            assert!(
                missing.is_empty() && extra.is_empty(),
                "scan {scan}: {} free cells, {} missing (e.g. {missing:?}), {} extra (e.g. {extra:?})",
                free.len(),
                free.difference(&ef).count(),
                ef.difference(&free).count()
            );
            assert_eq!(stats.updates(), free.len() + occupied.len());
            let (df, dof, discretized) =
                scan_sets(FreeSpace::Discretized, &origin, &points, max_range);
            assert_eq!(dof, occupied, "scan {scan}");
            assert!(discretized.cells_traversed <= stats.cells_traversed);
            // Rays moved to the end cells' centres pass within a cell of the
            // exact ones.
            for c in df.difference(&free) {
                let near = (-1..=1).any(|dx| {
                    (-1..=1).any(|dy| {
                        (-1..=1).any(|dz| {
                            let n = key(c.x + dx, c.y + dy, c.z + dz);
                            free.contains(&n) || occupied.contains(&n)
                        })
                    })
                });
                assert!(
                    near,
                    "scan {scan}: {c:?} is not next to the exact free space"
                );
            }
            exact_total += free.len();
            discretized_total += df.len();
        }
        let ratio = discretized_total as f64 / exact_total as f64;
        println!("discretized / exact free cells: {ratio:.4}");
        assert!((ratio - 1.0).abs() < 0.05, "{ratio}");
    }

    /// The counted work follows the scan's statistics, and the f32 map moves
    /// four times the int8 map's bytes in main memory for the same updates.
    #[test]
    fn counted_cost_follows_the_scan_and_the_cell_width() {
        let mut rand = xorshift(7);
        let origin = Vector3::new(1.0, 1.0, 1.2);
        let points = box_room_scan(&origin, 2000, &mut rand);
        let params = OccupancyParams::default();
        let mut fixed = FixedMap::fixed(0.05, &params).unwrap_or_else(|e| panic!("{e}"));
        let mut float = FloatMap::float(0.05, &params).unwrap_or_else(|e| panic!("{e}"));
        let mut ins = ScanInserter::new();
        let s = ins.insert(&mut fixed, &origin, &points, 4.0);
        let main = |ins: &ScanInserter| {
            ins.cost()
                .get("map_update")
                .map(|k| k.traffic(cost::Residence::Main).total())
                .unwrap_or(0)
        };
        let fixed_main = main(&ins);
        assert_eq!(fixed_main, 2 * 512 * s.bricks_touched as u64);
        let traverse = ins.cost().get("map_traverse").copied().unwrap_or_default();
        assert_eq!(
            traverse.traffic(cost::Residence::Buffer).written,
            s.cells_traversed as u64
        );
        // Marked in the dense box: no brick looked up while walking.
        assert_eq!(s.brick_lookups, 0);
        let t = ins.insert(&mut float, &origin, &points, 4.0);
        assert_eq!(t, s);
        assert_eq!(main(&ins), 4 * fixed_main);
    }

    /// Random scans into the int8 map and the f32 reference: every cell's
    /// decision is the same, except where the float log-odds is within the
    /// int8 map's accumulated rounding of the threshold.
    #[test]
    fn fixed_point_decisions_equal_the_float_reference() {
        let params = OccupancyParams::default();
        let mut fixed = FixedMap::fixed(0.1, &params).unwrap_or_else(|e| panic!("{e}"));
        let mut float = FloatMap::float(0.1, &params).unwrap_or_else(|e| panic!("{e}"));
        let mut ins = ScanInserter::new();
        let mut rand = xorshift(0x9e37_79b9_7f4a_7c15);
        for _ in 0..40 {
            let origin = Vector3::new(rand() * 2.0, rand() * 2.0, 1.0 + rand() * 0.5);
            let points = box_room_scan(&origin, 300, &mut rand);
            let a = ins.insert(&mut fixed, &origin, &points, 3.0);
            let b = ins.insert(&mut float, &origin, &points, 3.0);
            assert_eq!(a, b);
        }
        let model = *fixed.model();
        let (mut same, mut near, mut observed) = (0usize, 0usize, 0usize);
        for (brick, cells) in fixed.bricks() {
            for (i, &c) in cells.iter().enumerate() {
                let k = FixedMap::key_in_brick(brick, i);
                let (df, dr) = (fixed.occupancy(k), float.occupancy(k));
                if df != Occupancy::Unknown {
                    observed += 1;
                }
                if df == dr {
                    same += 1;
                    continue;
                }
                // Allowed only near the threshold: within the rounding the int8
                // increments accumulate (half a step per update, at most 40
                // updates here) plus one step.
                let lf = float.model().log_odds(float.cell(k)).unwrap_or(f64::NAN);
                let bound = (1.0 + 0.5 * 40.0) * model.step;
                assert!(
                    lf.abs() <= bound,
                    "cell {k:?}: int8 {c} says {df:?}, float {lf} says {dr:?}"
                );
                near += 1;
            }
        }
        assert!(observed > 10_000, "observed {observed}");
        assert!(near * 1000 < observed, "{near} of {observed} differ");
        assert!(same > 0);
    }
}
