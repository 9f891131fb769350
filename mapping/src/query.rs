//! Queries the planner asks of the map: 2D occupancy slices, map entropy, and
//! rays with per-cell distances.
//!
//! Frames and units: world frame, metres; cells as in [`crate::map`] (cell
//! `(i, j, k)` covers `[i r, (i + 1) r)` in x, and likewise in y and z).
//!
//! - [`slice_at`] and [`project_band`]: a [`Slice2D`] grid over x, y. A band
//!   projection is conservative, as a robot of some height needs: a column is
//!   occupied if any cell of the band is, free only if every cell of the band
//!   has been observed free, unknown otherwise (an unobserved cell may hold an
//!   obstacle at head height).
//! - [`entropy_bits`]: Shannon entropy of the map in bits, `sum H(p)` with
//!   `H(p) = -p log2 p - (1 - p) log2 (1 - p)` and `p = 1 / (1 + exp(-L))` from
//!   each cell's log-odds `L`; a never-observed cell has `p = 0.5` (1 bit). For
//!   the int8 map the cells are counted into a 256-bin histogram and the sum is
//!   the histogram times a 256-entry table of `H` per int8 value: one counter
//!   increment per cell, and the result is independent of the order the bricks
//!   are visited in.
//! - [`cast_ray`] and [`first_occupied`]: the cells a beam crosses, with the
//!   distances where it enters and leaves each, as the mutual-information
//!   planner needs them. FSMI (Zhang, Henderson, Karaman, Sze, "FSMI: Fast
//!   computation of Shannon mutual information for information-theoretic
//!   mapping", ICRA 2019; IJRR 2020) evaluates, per beam, the probability
//!   that the beam's measurement ends in each cell, `P(e_j) = o_j prod_{l < j} (1 - o_l)`, and integrates the range
//!   sensor's noise over each cell's extent along the beam: so each
//!   [`RaySample`] holds the cell's occupancy probability `o` (0.5 unknown),
//!   its log-odds, and its entry and exit distances. The cells are those of
//!   [`insert::traverse`](crate::insert::traverse) (the same Amanatides-Woo
//!   walk, shared code), which as a set are the cells an exact-mode
//!   insertion without a surface margin marks along the same ray.

use std::ops::ControlFlow;

use nalgebra::Vector3;

use crate::MappingError;
use crate::insert::Walk;
use crate::logodds::QuantizedModel;
use crate::map::{
    BRICK_CELLS, BRICK_SIDE, BrickKey, CellKey, CellModel, FloatModel, Occupancy, OccupancyMap,
};

/// The largest slice [`slice_at`] and [`project_band`] build, cells.
pub const MAX_SLICE_CELLS: usize = 1 << 28;

/// The most cells a ray may cross in [`cast_ray`] and [`first_occupied`]
/// (a bound on the work and memory an absurd range can ask for).
pub const MAX_RAY_CELLS: u64 = 1 << 24;

/// An inclusive rectangle of cell indices in x and y.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CellRect {
    /// Smallest x index.
    pub min_x: i32,
    /// Smallest y index.
    pub min_y: i32,
    /// Largest x index (inclusive).
    pub max_x: i32,
    /// Largest y index (inclusive).
    pub max_y: i32,
}

impl CellRect {
    /// The x, y extent of every allocated brick (all heights), or `None` for
    /// an empty map.
    #[must_use]
    pub fn of_allocated<M: CellModel>(map: &OccupancyMap<M>) -> Option<Self> {
        map.bricks().fold(None, |acc: Option<Self>, (b, _)| {
            let (x0, y0) = (b.x * BRICK_SIDE, b.y * BRICK_SIDE);
            let r = Self {
                min_x: x0,
                min_y: y0,
                max_x: x0 + BRICK_SIDE - 1,
                max_y: y0 + BRICK_SIDE - 1,
            };
            Some(match acc {
                None => r,
                Some(a) => Self {
                    min_x: a.min_x.min(r.min_x),
                    min_y: a.min_y.min(r.min_y),
                    max_x: a.max_x.max(r.max_x),
                    max_y: a.max_y.max(r.max_y),
                },
            })
        })
    }
}

/// A 2D occupancy grid over x, y: a horizontal layer of the map or a band of
/// layers projected down.
#[derive(Debug, Clone, PartialEq)]
pub struct Slice2D {
    /// World x, y (m) of the lower-left corner of cell (column 0, row 0).
    pub origin_m: [f64; 2],
    /// Cell side, m.
    pub resolution: f64,
    /// Map cell indices x, y of column 0, row 0.
    pub min_cell: [i32; 2],
    /// The map's z cell indices the slice covers, inclusive (equal for one layer).
    pub z_cells: [i32; 2],
    /// Columns (along +x).
    pub width: usize,
    /// Rows (along +y).
    pub height: usize,
    /// Row-major, row 0 at the lowest y: cell `(col, row)` is at
    /// `row * width + col`.
    pub cells: Vec<Occupancy>,
}

impl Slice2D {
    /// The cell at column `col` (x) and row `row` (y), if inside.
    #[must_use]
    pub fn get(&self, col: usize, row: usize) -> Option<Occupancy> {
        (col < self.width && row < self.height).then(|| self.cells[row * self.width + col])
    }

    /// The column and row holding world point x, y (m), if inside.
    #[must_use]
    pub fn cell_of(&self, x_m: f64, y_m: f64) -> Option<(usize, usize)> {
        let c = ((x_m - self.origin_m[0]) / self.resolution).floor();
        let r = ((y_m - self.origin_m[1]) / self.resolution).floor();
        (c >= 0.0 && r >= 0.0 && c < self.width as f64 && r < self.height as f64)
            .then_some((c as usize, r as usize))
    }

    /// World x, y (m) of a cell's centre.
    #[must_use]
    pub fn center(&self, col: usize, row: usize) -> [f64; 2] {
        [
            self.origin_m[0] + (col as f64 + 0.5) * self.resolution,
            self.origin_m[1] + (row as f64 + 0.5) * self.resolution,
        ]
    }
}

/// The layer of cells containing height `z_m` (m), over `area` or the extent
/// of the allocated bricks.
///
/// # Errors
/// If `z_m` is not finite or outside the map's range, or the slice would hold
/// more than [`MAX_SLICE_CELLS`] cells.
pub fn slice_at<M: CellModel>(
    map: &OccupancyMap<M>,
    z_m: f64,
    area: Option<CellRect>,
) -> Result<Slice2D, MappingError> {
    project_band(map, z_m, z_m, area)
}

/// How [`project_band_with`] folds a column of cells into one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BandRule {
    /// Occupied if any cell is occupied, free only if every cell has been
    /// observed free, unknown otherwise: what a robot as tall as the band may
    /// cross.
    Conservative,
    /// Occupied if any cell is occupied, free if any has been observed free
    /// (and none is occupied), unknown if none has been observed: what the
    /// sensor has seen of the band, for a picture or a frontier search.
    Observed,
}

/// The cells with heights from `z_min_m` to `z_max_m` (m; the layers
/// containing both ends, inclusive) projected down by the conservative rule
/// ([`BandRule::Conservative`]); see [`project_band_with`].
///
/// # Errors
/// As [`project_band_with`].
pub fn project_band<M: CellModel>(
    map: &OccupancyMap<M>,
    z_min_m: f64,
    z_max_m: f64,
    area: Option<CellRect>,
) -> Result<Slice2D, MappingError> {
    project_band_with(map, z_min_m, z_max_m, area, BandRule::Conservative)
}

/// The cells with heights from `z_min_m` to `z_max_m` (m; the layers
/// containing both ends, inclusive) projected down by `rule`, over `area` or
/// the extent of the allocated bricks (all heights, so slices at different
/// heights share one grid); cells in unallocated bricks are unknown.
///
/// # Errors
/// If the heights are not finite, out of order or outside the map's range, or
/// the slice would hold more than [`MAX_SLICE_CELLS`] cells.
pub fn project_band_with<M: CellModel>(
    map: &OccupancyMap<M>,
    z_min_m: f64,
    z_max_m: f64,
    area: Option<CellRect>,
    rule: BandRule,
) -> Result<Slice2D, MappingError> {
    if !(z_min_m.is_finite() && z_max_m.is_finite()) || z_min_m > z_max_m {
        return Err(MappingError::Config(format!(
            "band heights must be finite and z_min <= z_max, got {z_min_m} and {z_max_m}"
        )));
    }
    let layer = |z: f64| {
        map.key(&Vector3::new(0.0, 0.0, z))
            .map(|k| k.z)
            .ok_or_else(|| MappingError::Config(format!("height {z} m is outside the map's range")))
    };
    let (z_lo, z_hi) = (layer(z_min_m)?, layer(z_max_m)?);
    let res = map.resolution();
    let rect = area.or_else(|| CellRect::of_allocated(map));
    let (rect, width, height) = match rect {
        Some(r) if r.min_x <= r.max_x && r.min_y <= r.max_y => {
            let w = (i64::from(r.max_x) - i64::from(r.min_x) + 1) as u64;
            let h = (i64::from(r.max_y) - i64::from(r.min_y) + 1) as u64;
            if w.saturating_mul(h) > MAX_SLICE_CELLS as u64 {
                return Err(MappingError::Config(format!(
                    "a {w} x {h} slice exceeds {MAX_SLICE_CELLS} cells"
                )));
            }
            (r, w as usize, h as usize)
        }
        Some(r) => {
            return Err(MappingError::Config(format!(
                "empty or inverted area {r:?}"
            )));
        }
        None => (
            CellRect {
                min_x: 0,
                min_y: 0,
                max_x: -1,
                max_y: -1,
            },
            0,
            0,
        ),
    };
    let mut cells = vec![Occupancy::Unknown; width * height];
    // Observed-free cells per column; a column is free when all its layers are.
    let mut free = vec![0u32; width * height];
    let layers = u64::try_from(i64::from(z_hi) - i64::from(z_lo) + 1).unwrap_or(u64::MAX);
    let model = map.model();
    let side = i64::from(BRICK_SIDE);
    for (b, brick) in map.bricks() {
        let (bx, by, bz) = (
            i64::from(b.x) * side,
            i64::from(b.y) * side,
            i64::from(b.z) * side,
        );
        let x0 = bx.max(i64::from(rect.min_x));
        let x1 = (bx + side - 1).min(i64::from(rect.max_x));
        let y0 = by.max(i64::from(rect.min_y));
        let y1 = (by + side - 1).min(i64::from(rect.max_y));
        let z0 = bz.max(i64::from(z_lo));
        let z1 = (bz + side - 1).min(i64::from(z_hi));
        if x0 > x1 || y0 > y1 || z0 > z1 {
            continue;
        }
        for z in z0..=z1 {
            for y in y0..=y1 {
                let row = (y - i64::from(rect.min_y)) as usize;
                let in_brick = ((z - bz) * side * side + (y - by) * side) as usize;
                for x in x0..=x1 {
                    let col = (x - i64::from(rect.min_x)) as usize;
                    let i = row * width + col;
                    match model.occupancy(brick[in_brick + (x - bx) as usize]) {
                        Occupancy::Occupied => cells[i] = Occupancy::Occupied,
                        Occupancy::Free => free[i] = free[i].saturating_add(1),
                        Occupancy::Unknown => {}
                    }
                }
            }
        }
    }
    let needed = match rule {
        BandRule::Conservative => layers,
        BandRule::Observed => 1,
    };
    for (c, &f) in cells.iter_mut().zip(&free) {
        if *c != Occupancy::Occupied && u64::from(f) >= needed {
            *c = Occupancy::Free;
        }
    }
    Ok(Slice2D {
        origin_m: [f64::from(rect.min_x) * res, f64::from(rect.min_y) * res],
        resolution: res,
        min_cell: [rect.min_x, rect.min_y],
        z_cells: [z_lo, z_hi],
        width,
        height,
        cells,
    })
}

/// Binary entropy in bits of a cell with log-odds `l` (natural log), in a
/// form that stays accurate for large `|l|`:
/// with `s = exp(-|l|)`, `H = (ln(1 + s) + |l| s / (1 + s)) / ln 2`.
#[must_use]
pub fn binary_entropy_bits_of_log_odds(l: f64) -> f64 {
    let a = l.abs();
    let s = (-a).exp();
    (s.ln_1p() + a * s / (1.0 + s)) / std::f64::consts::LN_2
}

/// A cell model whose cells' entropy can be summed; see [`entropy_bits`].
pub trait CellEntropy: CellModel {
    /// The running sum.
    type Accumulator: Default;
    /// Adds one cell.
    fn accumulate(&self, acc: &mut Self::Accumulator, cell: Self::Cell);
    /// The entropy of the cells added, bits.
    fn total_bits(&self, acc: &Self::Accumulator) -> f64;
}

/// Counts of each int8 value (index `value as u8`).
#[derive(Debug, Clone)]
pub struct I8Histogram(pub Box<[u64; 256]>);

impl Default for I8Histogram {
    fn default() -> Self {
        Self(Box::new([0; 256]))
    }
}

impl CellEntropy for QuantizedModel {
    type Accumulator = I8Histogram;
    #[inline]
    fn accumulate(&self, acc: &mut I8Histogram, cell: i8) {
        acc.0[usize::from(cell as u8)] += 1;
    }
    fn total_bits(&self, acc: &I8Histogram) -> f64 {
        // The table of H per int8 value, through the model's own log-odds.
        (0..=255u8)
            .map(|v| {
                let h = self
                    .log_odds(v as i8)
                    .map_or(1.0, binary_entropy_bits_of_log_odds);
                acc.0[usize::from(v)] as f64 * h
            })
            .sum()
    }
}

impl CellEntropy for FloatModel {
    type Accumulator = f64;
    #[inline]
    fn accumulate(&self, acc: &mut f64, cell: f32) {
        *acc += self
            .log_odds(cell)
            .map_or(1.0, binary_entropy_bits_of_log_odds);
    }
    fn total_bits(&self, acc: &f64) -> f64 {
        *acc
    }
}

/// The entropy of a region of the map and what its cells say.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MapEntropy {
    /// Sum of the cells' binary entropies, bits.
    pub bits: f64,
    /// Cells counted.
    pub cells: u64,
    /// Of which never observed (1 bit each).
    pub unknown: u64,
    /// Of which observed free.
    pub free: u64,
    /// Of which observed occupied.
    pub occupied: u64,
}

/// The map's entropy in bits (see the module documentation) over the cells of
/// the allocated bricks, or, with `bounds` (min and max cell keys, inclusive),
/// over every cell of that box, the cells of unallocated bricks counting as
/// unknown (1 bit each).
///
/// # Errors
/// If `bounds` is inverted on some axis.
pub fn entropy_bits<M: CellEntropy>(
    map: &OccupancyMap<M>,
    bounds: Option<(CellKey, CellKey)>,
) -> Result<MapEntropy, MappingError> {
    let model = map.model();
    let mut acc = M::Accumulator::default();
    let (mut unknown, mut free, mut occupied) = (0u64, 0u64, 0u64);
    let mut count = |c: M::Cell, acc: &mut M::Accumulator| {
        model.accumulate(acc, c);
        match model.occupancy(c) {
            Occupancy::Unknown => unknown += 1,
            Occupancy::Free => free += 1,
            Occupancy::Occupied => occupied += 1,
        }
    };
    let mut outside_bits = 0u64;
    match bounds {
        None => {
            for (_, brick) in map.bricks() {
                for &c in brick.iter() {
                    count(c, &mut acc);
                }
            }
        }
        Some((lo, hi)) => {
            if lo.x > hi.x || lo.y > hi.y || lo.z > hi.z {
                return Err(MappingError::Config(format!(
                    "inverted entropy bounds {lo:?} .. {hi:?}"
                )));
            }
            let extent = |a: i32, b: i32| (i64::from(b) - i64::from(a) + 1) as u64;
            let volume = extent(lo.x, hi.x)
                .saturating_mul(extent(lo.y, hi.y))
                .saturating_mul(extent(lo.z, hi.z));
            let side = i64::from(BRICK_SIDE);
            let mut inside = 0u64;
            for (b, brick) in map.bricks() {
                let range = |bc: i32, l: i32, h: i32| {
                    let base = i64::from(bc) * side;
                    let a = base.max(i64::from(l)) - base;
                    let z = (base + side - 1).min(i64::from(h)) - base;
                    (a <= z).then_some((a as usize, z as usize))
                };
                let (Some(rx), Some(ry), Some(rz)) = (
                    range(b.x, lo.x, hi.x),
                    range(b.y, lo.y, hi.y),
                    range(b.z, lo.z, hi.z),
                ) else {
                    continue;
                };
                let s = BRICK_SIDE as usize;
                for z in rz.0..=rz.1 {
                    for y in ry.0..=ry.1 {
                        let row = &brick[(z * s + y) * s..(z * s + y + 1) * s];
                        for &c in &row[rx.0..=rx.1] {
                            count(c, &mut acc);
                            inside += 1;
                        }
                    }
                }
            }
            outside_bits = volume.saturating_sub(inside);
        }
    }
    let bits = model.total_bits(&acc) + outside_bits as f64;
    let unknown = unknown + outside_bits;
    Ok(MapEntropy {
        bits,
        cells: unknown + free + occupied,
        unknown,
        free,
        occupied,
    })
}

/// One cell a beam crosses.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RaySample {
    /// The cell.
    pub key: CellKey,
    /// Distance from the origin where the beam enters the cell, m (0 for the
    /// origin's cell).
    pub enter_m: f64,
    /// Distance where it leaves the cell, m (the maximum range for the last).
    pub exit_m: f64,
    /// What the cell says.
    pub occupancy: Occupancy,
    /// Its log-odds (0 when unknown, the prior).
    pub log_odds: f64,
    /// Its occupancy probability `1 / (1 + exp(-log_odds))` (0.5 when unknown).
    pub p_occupied: f64,
}

/// Looks cells up, keeping the last brick (consecutive cells of a ray mostly
/// share one).
struct BrickCache<'m, M: CellModel> {
    map: &'m OccupancyMap<M>,
    last: Option<(BrickKey, Option<&'m [M::Cell; BRICK_CELLS]>)>,
}

impl<'m, M: CellModel> BrickCache<'m, M> {
    #[inline]
    fn cell(&mut self, k: CellKey) -> M::Cell {
        let b = k.brick();
        let brick = match self.last {
            Some((lb, brick)) if lb == b => brick,
            _ => {
                let brick = self.map.brick(b);
                self.last = Some((b, brick));
                brick
            }
        };
        brick.map_or_else(|| self.map.model().unknown(), |c| c[k.index_in_brick()])
    }
}

/// Walks a beam's cells in order with their entry and exit distances (m),
/// with the steps and arithmetic of [`crate::insert::traverse`] and then the
/// cell the walk ends in (the end point's), until `visit` breaks.
fn walk<M: CellModel>(
    map: &OccupancyMap<M>,
    origin: &Vector3<f64>,
    dir: &Vector3<f64>,
    max_range: f64,
    mut visit: impl FnMut(CellKey, f64, f64) -> ControlFlow<()>,
) -> Result<(), MappingError> {
    let norm = dir.norm();
    if !(norm.is_finite() && norm > 0.0) {
        return Err(MappingError::Config(format!(
            "ray direction must be finite and non-zero, got {dir:?}"
        )));
    }
    if !(max_range.is_finite() && max_range > 0.0) {
        return Err(MappingError::Config(format!(
            "ray range must be finite and > 0, got {max_range}"
        )));
    }
    let unit = dir / norm;
    let end_point = origin + unit * max_range;
    let (Some(start), Some(end)) = (map.key(origin), map.key(&end_point)) else {
        return Err(MappingError::Config(format!(
            "ray from {origin:?} to {end_point:?} leaves the map's range"
        )));
    };
    let res = map.resolution();
    let (from, to) = (origin / res, end_point / res);
    // As `traverse`: exactly one cell per unit of Manhattan distance between
    // the end cells, then the cell the walk ends in (the end point's).
    let mut w = Walk::new(&from, &to, start, end);
    if w.cells as u64 > MAX_RAY_CELLS {
        return Err(MappingError::Config(format!(
            "a ray of {max_range} m crosses {} cells, more than {MAX_RAY_CELLS}",
            w.cells
        )));
    }
    let as_key = |k: [i32; 3]| CellKey {
        x: k[0],
        y: k[1],
        z: k[2],
    };
    // Parameter along the segment, 0 at the origin and 1 at the maximum range.
    let mut t_enter = 0.0f64;
    for _ in 0..w.cells {
        let t_exit = w.t_max[w.next_axis()].clamp(t_enter, 1.0);
        if visit(as_key(w.key), t_enter * max_range, t_exit * max_range).is_break() {
            return Ok(());
        }
        w.advance();
        t_enter = t_exit;
    }
    let _ = visit(as_key(w.key), t_enter * max_range, max_range);
    Ok(())
}

/// The cells a beam from `origin` (m) along `dir` (normalized here) crosses up
/// to `max_range` (m), in order, into `out` (cleared first, its allocation
/// reused): the cells of [`crate::insert::traverse`] from the origin's cell,
/// then the cell holding the end point. Consecutive samples are face
/// neighbours, each one's exit is the next one's entry, and the lengths add up
/// to `max_range` (see [`RaySample`]). Returns the number of samples.
///
/// # Errors
/// If the direction is zero or not finite, the range not finite and
/// positive, the ray leaves the map's representable range or crosses more
/// than [`MAX_RAY_CELLS`] cells.
pub fn cast_ray<M: CellModel>(
    map: &OccupancyMap<M>,
    origin: &Vector3<f64>,
    dir: &Vector3<f64>,
    max_range: f64,
    out: &mut Vec<RaySample>,
) -> Result<usize, MappingError> {
    out.clear();
    let model = *map.model();
    let mut cache = BrickCache { map, last: None };
    walk(map, origin, dir, max_range, |key, enter_m, exit_m| {
        let cell = cache.cell(key);
        let log_odds = model.log_odds(cell).unwrap_or(0.0);
        out.push(RaySample {
            key,
            enter_m,
            exit_m,
            occupancy: model.occupancy(cell),
            log_odds,
            p_occupied: 1.0 / (1.0 + (-log_odds).exp()),
        });
        ControlFlow::Continue(())
    })?;
    Ok(out.len())
}

/// How a beam ends; see [`first_occupied`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RayOutcome {
    /// An occupied cell comes first: it and the distance where the beam
    /// enters it, m (0 if the origin's cell is occupied).
    Blocked {
        /// The occupied cell.
        key: CellKey,
        /// Distance to it, m.
        distance_m: f64,
    },
    /// A never-observed cell comes before any occupied one: the beam's fate
    /// beyond it is unknown.
    Unknown {
        /// The first unknown cell.
        key: CellKey,
        /// Distance to it, m.
        distance_m: f64,
    },
    /// Every cell up to the maximum range is observed free.
    Free,
}

/// Follows a beam as [`cast_ray`] does (the same cells) and says whether it
/// is blocked by an occupied cell, stopped by an unknown one (the first of
/// either, with the distance where the beam enters it), or free all the way to
/// `max_range`. A planner checking a straight move treats `Unknown` as not
/// (yet) safe; one estimating visibility treats it as where information
/// starts.
///
/// # Errors
/// As [`cast_ray`].
pub fn first_occupied<M: CellModel>(
    map: &OccupancyMap<M>,
    origin: &Vector3<f64>,
    dir: &Vector3<f64>,
    max_range: f64,
) -> Result<RayOutcome, MappingError> {
    let model = *map.model();
    let mut cache = BrickCache { map, last: None };
    let mut outcome = RayOutcome::Free;
    walk(map, origin, dir, max_range, |key, enter_m, _| {
        match model.occupancy(cache.cell(key)) {
            Occupancy::Free => return ControlFlow::Continue(()),
            Occupancy::Occupied => {
                outcome = RayOutcome::Blocked {
                    key,
                    distance_m: enter_m,
                }
            }
            Occupancy::Unknown => {
                outcome = RayOutcome::Unknown {
                    key,
                    distance_m: enter_m,
                }
            }
        }
        ControlFlow::Break(())
    })?;
    Ok(outcome)
}
