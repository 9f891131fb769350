//! The occupancy map: cells in bricks of 8 x 8 x 8 in a hash map keyed by brick
//! coordinate, generic over the cell type so the int8 map and its float
//! reference share every line of logic.
//!
//! Frames and units: world frame, metres. Cell `(i, j, k)` covers
//! `[i r, (i + 1) r) x [j r, ...) x [k r, ...)` for resolution `r`. A brick
//! holds the 512 cells whose keys agree above the low 3 bits, x fastest, so a
//! ray stepping along x reads consecutive bytes and a brick is 512 bytes (eight
//! cache lines) in the int8 map. Memory grows with observed space only: a brick
//! is allocated when a ray first touches it.
//!
//! Bricks are shared copy-on-write (`Arc`): [`OccupancyMap::snapshot`]
//! copies only the table (a key and a pointer per brick), and a write to a
//! brick a snapshot still holds copies that brick first (512 bytes in the
//! int8 map; counted, [`OccupancyMap::bricks_copied_on_write`]). So a
//! planner or a viewer reads a consistent map while the mapper keeps
//! writing, at the cost of the bricks written meanwhile. An unshared brick
//! is written in place (one reference-count check per brick and scan).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use cost::OpCounts;
use nalgebra::Vector3;

use crate::MappingError;
use crate::logodds::{OccupancyParams, QuantizedModel, UNKNOWN_I8, logit};

/// Brick side, cells.
pub const BRICK_SIDE: i32 = 8;
const BRICK_SHIFT: i32 = 3;
const BRICK_MASK: i32 = BRICK_SIDE - 1;
/// Cells per brick.
pub const BRICK_CELLS: usize = 512;

/// Integer coordinates of a cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CellKey {
    /// x index.
    pub x: i32,
    /// y index.
    pub y: i32,
    /// z index.
    pub z: i32,
}

impl CellKey {
    /// The brick holding the cell.
    #[inline]
    #[must_use]
    pub fn brick(self) -> BrickKey {
        BrickKey {
            x: self.x >> BRICK_SHIFT,
            y: self.y >> BRICK_SHIFT,
            z: self.z >> BRICK_SHIFT,
        }
    }

    /// Index of the cell inside its brick (x fastest).
    #[inline]
    #[must_use]
    pub fn index_in_brick(self) -> usize {
        ((self.x & BRICK_MASK)
            | ((self.y & BRICK_MASK) << BRICK_SHIFT)
            | ((self.z & BRICK_MASK) << (2 * BRICK_SHIFT))) as usize
    }
}

/// Integer coordinates of a brick.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BrickKey {
    /// x index.
    pub x: i32,
    /// y index.
    pub y: i32,
    /// z index.
    pub z: i32,
}

/// A small multiplicative hasher for integer keys (deterministic, unlike the
/// standard library's randomly seeded one, and several times cheaper).
#[derive(Debug, Default, Clone, Copy)]
pub struct KeyHasher(u64);

impl Hasher for KeyHasher {
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
    #[inline]
    fn write_i32(&mut self, v: i32) {
        self.write_u64(u64::from(v as u32));
    }
    #[inline]
    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

/// A hash map with [`KeyHasher`].
pub(crate) type KeyMap<K, V> = HashMap<K, V, BuildHasherDefault<KeyHasher>>;

/// What a cell says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Occupancy {
    /// Never observed.
    Unknown,
    /// Observed, at or below the threshold.
    Free,
    /// Observed, above the threshold.
    Occupied,
}

/// A cell representation: the int8 fixed-point one or the f32 reference.
pub trait CellModel: Copy + std::fmt::Debug {
    /// The cell type.
    type Cell: Copy + PartialEq + std::fmt::Debug;
    /// A never-observed cell.
    fn unknown(&self) -> Self::Cell;
    /// The cell after a hit or a miss.
    fn update(&self, cell: Self::Cell, hit: bool) -> Self::Cell;
    /// The cell after a scan's mark: bit 0 a miss, bit 1 a hit (the hit
    /// wins), neither: unchanged; written without branches so a brick's cells
    /// vectorize.
    fn apply(&self, cell: Self::Cell, mark: u8) -> Self::Cell;
    /// What the cell says.
    fn occupancy(&self, cell: Self::Cell) -> Occupancy;
    /// Its log-odds (`None` when unknown).
    fn log_odds(&self, cell: Self::Cell) -> Option<f64>;
    /// Operations of one [`CellModel::apply`] (for the cost ledger).
    fn apply_ops(&self) -> OpCounts;
}

impl CellModel for QuantizedModel {
    type Cell = i8;
    #[inline]
    fn unknown(&self) -> i8 {
        UNKNOWN_I8
    }
    #[inline]
    fn update(&self, cell: i8, hit: bool) -> i8 {
        QuantizedModel::update(self, cell, hit)
    }
    #[inline]
    fn apply(&self, cell: i8, mark: u8) -> i8 {
        let base = if cell == UNKNOWN_I8 { 0 } else { cell };
        let delta = if mark & 2 != 0 { self.hit } else { self.miss };
        let new = base.saturating_add(delta).clamp(self.min, self.max);
        if mark & 3 == 0 { cell } else { new }
    }
    #[inline]
    fn occupancy(&self, cell: i8) -> Occupancy {
        if cell == UNKNOWN_I8 {
            Occupancy::Unknown
        } else if cell > self.threshold {
            Occupancy::Occupied
        } else {
            Occupancy::Free
        }
    }
    fn log_odds(&self, cell: i8) -> Option<f64> {
        (cell != UNKNOWN_I8).then(|| f64::from(cell) * self.step)
    }
    fn apply_ops(&self) -> OpCounts {
        // Unknown test, mark tests, saturating add, two clamps, select.
        OpCounts {
            int8_add: 7,
            ..OpCounts::default()
        }
    }
}

/// The f32 log-odds model (the reference the int8 map is tested against, and
/// the baseline of the benchmarks); NaN marks unknown.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FloatModel {
    hit: f32,
    miss: f32,
    min: f32,
    max: f32,
    threshold: f32,
}

impl FloatModel {
    /// From validated parameters.
    ///
    /// # Errors
    /// If the parameters are out of range.
    pub fn new(p: &OccupancyParams) -> Result<Self, MappingError> {
        p.validate()?;
        Ok(Self {
            hit: logit(p.hit) as f32,
            miss: logit(p.miss) as f32,
            min: logit(p.clamp_min) as f32,
            max: logit(p.clamp_max) as f32,
            threshold: logit(p.threshold) as f32,
        })
    }
}

impl CellModel for FloatModel {
    type Cell = f32;
    #[inline]
    fn unknown(&self) -> f32 {
        f32::NAN
    }
    #[inline]
    fn update(&self, cell: f32, hit: bool) -> f32 {
        let base = if cell.is_nan() { 0.0 } else { cell };
        (base + if hit { self.hit } else { self.miss }).clamp(self.min, self.max)
    }
    #[inline]
    fn apply(&self, cell: f32, mark: u8) -> f32 {
        let base = if cell.is_nan() { 0.0 } else { cell };
        let delta = if mark & 2 != 0 { self.hit } else { self.miss };
        let new = (base + delta).clamp(self.min, self.max);
        if mark & 3 == 0 { cell } else { new }
    }
    #[inline]
    fn occupancy(&self, cell: f32) -> Occupancy {
        if cell.is_nan() {
            Occupancy::Unknown
        } else if cell > self.threshold {
            Occupancy::Occupied
        } else {
            Occupancy::Free
        }
    }
    fn log_odds(&self, cell: f32) -> Option<f64> {
        (!cell.is_nan()).then_some(f64::from(cell))
    }
    fn apply_ops(&self) -> OpCounts {
        // Unknown test, add, two clamps, select; the mark tests in int8.
        OpCounts {
            f32_add: 5,
            int8_add: 2,
            ..OpCounts::default()
        }
    }
}

/// An occupancy map; see the module documentation.
#[derive(Debug, Clone)]
pub struct OccupancyMap<M: CellModel> {
    resolution: f64,
    model: M,
    bricks: KeyMap<BrickKey, Arc<[M::Cell; BRICK_CELLS]>>,
    /// Bricks copied because a snapshot shared them when they were written.
    copied_on_write: u64,
}

/// The int8 map.
pub type FixedMap = OccupancyMap<QuantizedModel>;
/// The f32 reference map.
pub type FloatMap = OccupancyMap<FloatModel>;

impl FixedMap {
    /// An empty int8 map.
    ///
    /// # Errors
    /// If the resolution is not positive and finite or the parameters are out of range.
    pub fn fixed(resolution: f64, params: &OccupancyParams) -> Result<Self, MappingError> {
        Self::with_model(resolution, QuantizedModel::new(params)?)
    }
}

impl FloatMap {
    /// An empty f32 map.
    ///
    /// # Errors
    /// If the resolution is not positive and finite or the parameters are out of range.
    pub fn float(resolution: f64, params: &OccupancyParams) -> Result<Self, MappingError> {
        Self::with_model(resolution, FloatModel::new(params)?)
    }
}

impl<M: CellModel> OccupancyMap<M> {
    /// An empty map with a cell model.
    ///
    /// # Errors
    /// If the resolution is not positive and finite.
    pub fn with_model(resolution: f64, model: M) -> Result<Self, MappingError> {
        if !(resolution.is_finite() && resolution > 1e-4) {
            return Err(MappingError::Config(format!(
                "resolution must be finite and > 1e-4 m, got {resolution}"
            )));
        }
        Ok(Self {
            resolution,
            model,
            bricks: KeyMap::default(),
            copied_on_write: 0,
        })
    }

    /// Cell side, m.
    #[must_use]
    pub fn resolution(&self) -> f64 {
        self.resolution
    }

    /// The cell model.
    #[must_use]
    pub fn model(&self) -> &M {
        &self.model
    }

    /// The cell holding a point (`None` outside the representable range).
    #[must_use]
    pub fn key(&self, p: &Vector3<f64>) -> Option<CellKey> {
        let limit = i64::from(i32::MAX / 2);
        let f = |v: f64| {
            // `floor` without the library call (baseline x86-64 has no
            // rounding instruction): truncate, then step down for negatives.
            let q = v / self.resolution;
            // NaN and the infinities fail this too.
            if q.is_nan() || q.abs() >= 2.0 * limit as f64 {
                return None;
            }
            let t = q as i64;
            let c = if (t as f64) > q { t - 1 } else { t };
            (c.abs() < limit).then_some(c as i32)
        };
        Some(CellKey {
            x: f(p.x)?,
            y: f(p.y)?,
            z: f(p.z)?,
        })
    }

    /// Centre of a cell, m.
    #[must_use]
    pub fn center(&self, k: CellKey) -> Vector3<f64> {
        Vector3::new(
            (f64::from(k.x) + 0.5) * self.resolution,
            (f64::from(k.y) + 0.5) * self.resolution,
            (f64::from(k.z) + 0.5) * self.resolution,
        )
    }

    /// The cell's value (unknown when its brick does not exist).
    #[must_use]
    pub fn cell(&self, k: CellKey) -> M::Cell {
        self.bricks
            .get(&k.brick())
            .map_or_else(|| self.model.unknown(), |b| b[k.index_in_brick()])
    }

    /// What the cell says.
    #[must_use]
    pub fn occupancy(&self, k: CellKey) -> Occupancy {
        self.model.occupancy(self.cell(k))
    }

    /// Applies a hit or a miss to one cell.
    pub fn update_cell(&mut self, k: CellKey, hit: bool) {
        let model = self.model;
        let brick = self.brick_mut(k.brick());
        let i = k.index_in_brick();
        brick[i] = model.update(brick[i], hit);
    }

    /// Applies a run of updates that all fall in one brick (one lookup).
    pub fn update_brick(
        &mut self,
        brick: BrickKey,
        updates: impl IntoIterator<Item = (usize, bool)>,
    ) {
        let model = self.model;
        let cells = self.brick_mut(brick);
        for (i, hit) in updates {
            if let Some(c) = cells.get_mut(i) {
                *c = model.update(*c, hit);
            }
        }
    }

    /// Applies one scan's marks to a brick: for each cell, bit 0 is a miss,
    /// bit 1 a hit (a hit wins over a miss), other bits are ignored; the marks
    /// are cleared. A brick is allocated only if some cell of it is updated.
    /// Branch-free over the 512 cells, so it runs in SIMD lanes: 16 int8
    /// cells per 128-bit operation, 4 f32 ones. Returns (misses, hits) applied.
    pub fn apply_marks(
        &mut self,
        brick: BrickKey,
        marks: &mut [u8; BRICK_CELLS],
    ) -> (usize, usize) {
        let model = self.model;
        if marks.iter().all(|&m| m & 3 == 0) {
            marks.fill(0);
            return (0, 0);
        }
        let cells = self.brick_mut(brick);
        let (mut misses, mut hits) = (0u16, 0u16);
        for (c, m) in cells.iter_mut().zip(marks.iter_mut()) {
            let v = *m;
            hits += u16::from((v >> 1) & 1);
            misses += u16::from(v & 3 == 1);
            *c = model.apply(*c, v);
            *m = 0;
        }
        (usize::from(misses), usize::from(hits))
    }

    /// A brick to write: allocated (all unknown) if new, copied first if a
    /// snapshot shares it.
    #[inline]
    fn brick_mut(&mut self, key: BrickKey) -> &mut [M::Cell; BRICK_CELLS] {
        let unknown = self.model.unknown();
        let brick = self
            .bricks
            .entry(key)
            .or_insert_with(|| Arc::new([unknown; BRICK_CELLS]));
        if Arc::get_mut(brick).is_none() {
            self.copied_on_write += 1;
        }
        Arc::make_mut(brick)
    }

    /// Puts a whole brick in the map, replacing any brick at that key (for
    /// loading a saved map).
    pub fn insert_brick(&mut self, key: BrickKey, cells: Box<[M::Cell; BRICK_CELLS]>) {
        self.bricks.insert(key, Arc::from(cells));
    }

    /// A consistent copy of the map that shares its bricks (see the module
    /// documentation): copies the table, not the cells. Later writes to
    /// either map copy the bricks they touch.
    #[must_use]
    pub fn snapshot(&self) -> Self {
        Self {
            copied_on_write: 0,
            ..self.clone()
        }
    }

    /// Bytes a snapshot copies: the brick table's slots (key and pointer)
    /// for every brick.
    #[must_use]
    pub fn snapshot_bytes(&self) -> usize {
        self.bricks.len() * (std::mem::size_of::<BrickKey>() + std::mem::size_of::<usize>())
    }

    /// Bricks this map copied because a snapshot shared them when they were
    /// written (each `BRICK_CELLS` cells).
    #[must_use]
    pub fn bricks_copied_on_write(&self) -> u64 {
        self.copied_on_write
    }

    /// A brick's cells, if allocated.
    #[must_use]
    pub fn brick(&self, key: BrickKey) -> Option<&[M::Cell; BRICK_CELLS]> {
        self.bricks.get(&key).map(|b| &**b)
    }

    /// Bricks allocated.
    #[must_use]
    pub fn brick_count(&self) -> usize {
        self.bricks.len()
    }

    /// Cells allocated (observed or sharing a brick with an observed one).
    #[must_use]
    pub fn allocated_cells(&self) -> usize {
        self.bricks.len() * BRICK_CELLS
    }

    /// Bytes the map holds on the heap: the cells with each brick's two
    /// reference counts, and the hash table's slots (key, pointer, control
    /// byte) at its current capacity.
    #[must_use]
    pub fn memory_bytes(&self) -> usize {
        let brick = BRICK_CELLS * std::mem::size_of::<M::Cell>() + 2 * std::mem::size_of::<usize>();
        let cells = self.bricks.len() * brick;
        let slot = std::mem::size_of::<BrickKey>() + std::mem::size_of::<usize>() + 1;
        cells + self.bricks.capacity() * slot
    }

    /// Every allocated brick with its cells (in no particular order).
    pub fn bricks(&self) -> impl Iterator<Item = (BrickKey, &[M::Cell; BRICK_CELLS])> {
        self.bricks.iter().map(|(k, b)| (*k, &**b))
    }

    /// The key of cell `i` of brick `b`.
    #[must_use]
    pub fn key_in_brick(b: BrickKey, i: usize) -> CellKey {
        let i = i as i32;
        CellKey {
            x: (b.x << BRICK_SHIFT) | (i & BRICK_MASK),
            y: (b.y << BRICK_SHIFT) | ((i >> BRICK_SHIFT) & BRICK_MASK),
            z: (b.z << BRICK_SHIFT) | ((i >> (2 * BRICK_SHIFT)) & BRICK_MASK),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_stays_as_it_was_while_the_map_is_written_and_copies_only_what_changes() {
        let mut map =
            FixedMap::fixed(0.05, &OccupancyParams::default()).unwrap_or_else(|e| panic!("{e}"));
        let a = CellKey { x: 1, y: 2, z: 3 };
        let b = CellKey { x: 40, y: 2, z: 3 };
        map.update_cell(a, true);
        map.update_cell(b, false);
        assert_eq!(map.bricks_copied_on_write(), 0);
        let snap = map.snapshot();
        assert_eq!(snap.snapshot_bytes(), 2 * 20);
        // Writing brick a's brick copies it once; brick b's stays shared.
        map.update_cell(a, true);
        map.update_cell(a, true);
        assert_eq!(map.bricks_copied_on_write(), 1);
        assert_eq!(snap.cell(a), map.model().update(UNKNOWN_I8, true));
        assert_ne!(snap.cell(a), map.cell(a));
        assert_eq!(snap.cell(b), map.cell(b));
        // A new brick in the map is not in the snapshot.
        map.update_cell(CellKey { x: -30, y: 0, z: 0 }, true);
        assert_eq!((snap.brick_count(), map.brick_count()), (2, 3));
        // Without a snapshot alive, writes are in place.
        drop(snap);
        map.update_cell(b, true);
        assert_eq!(map.bricks_copied_on_write(), 1);
    }

    #[test]
    fn keys_bricks_and_indices_round_trip_including_negative_coordinates() {
        for &(x, y, z) in &[
            (0, 0, 0),
            (7, 7, 7),
            (8, 0, -1),
            (-1, -8, -9),
            (123, -456, 789),
        ] {
            let k = CellKey { x, y, z };
            let back = FixedMap::key_in_brick(k.brick(), k.index_in_brick());
            assert_eq!(back, k);
            assert!(k.index_in_brick() < BRICK_CELLS);
        }
        let map =
            FixedMap::fixed(0.1, &OccupancyParams::default()).unwrap_or_else(|e| panic!("{e}"));
        let k = map
            .key(&Vector3::new(-0.05, 0.15, 0.0))
            .unwrap_or_else(|| panic!("in range"));
        assert_eq!(k, CellKey { x: -1, y: 1, z: 0 });
        assert!((map.center(k) - Vector3::new(-0.05, 0.15, 0.05)).norm() < 1e-12);
        assert!(map.key(&Vector3::new(f64::NAN, 0.0, 0.0)).is_none());
        assert!(map.key(&Vector3::new(1e300, 0.0, 0.0)).is_none());
    }

    #[test]
    fn unknown_is_distinct_and_a_brick_is_allocated_on_first_touch() {
        let mut map =
            FixedMap::fixed(0.1, &OccupancyParams::default()).unwrap_or_else(|e| panic!("{e}"));
        let k = CellKey { x: 3, y: -2, z: 9 };
        assert_eq!(map.occupancy(k), Occupancy::Unknown);
        map.update_cell(k, false);
        assert_eq!(map.occupancy(k), Occupancy::Free);
        assert_eq!(
            map.occupancy(CellKey { x: 4, y: -2, z: 9 }),
            Occupancy::Unknown
        );
        map.update_cell(k, true);
        map.update_cell(k, true);
        assert_eq!(map.occupancy(k), Occupancy::Occupied);
        assert_eq!(map.brick_count(), 1);
        assert_eq!(map.allocated_cells(), 512);
    }
}
