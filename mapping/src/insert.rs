//! Inserting range scans: Amanatides-Woo ray traversal and per-scan updates.
//!
//! Frames and units: world frame, metres. A scan is a sensor origin and end
//! points. Each ray marks the cells it passes through as misses and the cell of
//! its end point as a hit; a ray longer than `max_range` is cut there and marks
//! only misses (its end is not a measured surface). As in OctoMap's
//! `computeUpdate`, each cell is updated at most once per scan, and a cell that
//! is both passed through and hit by the scan gets the hit only. The updates are
//! then sorted by brick and applied brick by brick, so each brick is looked up
//! once per scan. The traversal is Amanatides and Woo, "A Fast Voxel Traversal
//! Algorithm for Ray Tracing", Eurographics 1987.

use nalgebra::Vector3;

use crate::map::{BRICK_CELLS, BrickKey, CellKey, CellModel, KeyMap, OccupancyMap};

/// Calls `visit` for every cell a segment passes through, from the cell of
/// `from` up to but excluding the cell of `to` (both given as cell keys with
/// the exact points in cell units, i.e. metres divided by the resolution).
/// Returns the number of cells visited.
pub fn traverse(
    from: &Vector3<f64>,
    to: &Vector3<f64>,
    start: CellKey,
    end: CellKey,
    mut visit: impl FnMut(CellKey),
) -> usize {
    let d = to - from;
    let mut key = [start.x, start.y, start.z];
    let target = [end.x, end.y, end.z];
    let mut step = [0i32; 3];
    let mut t_max = [f64::INFINITY; 3];
    let mut t_delta = [f64::INFINITY; 3];
    for a in 0..3 {
        if d[a] > 0.0 {
            step[a] = 1;
            t_max[a] = (f64::from(key[a]) + 1.0 - from[a]) / d[a];
            t_delta[a] = 1.0 / d[a];
        } else if d[a] < 0.0 {
            step[a] = -1;
            t_max[a] = (f64::from(key[a]) - from[a]) / d[a];
            t_delta[a] = -1.0 / d[a];
        }
    }
    // Never more steps than the Manhattan distance between the end cells.
    let limit = (0..3)
        .map(|a| (i64::from(target[a]) - i64::from(key[a])).unsigned_abs())
        .sum::<u64>();
    let mut visited = 0;
    for _ in 0..=limit {
        if key == target {
            break;
        }
        visit(CellKey {
            x: key[0],
            y: key[1],
            z: key[2],
        });
        visited += 1;
        let a = if t_max[0] < t_max[1] {
            if t_max[0] < t_max[2] { 0 } else { 2 }
        } else if t_max[1] < t_max[2] {
            1
        } else {
            2
        };
        if step[a] == 0 {
            break;
        }
        key[a] += step[a];
        t_max[a] += t_delta[a];
    }
    visited
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
}

impl ScanStats {
    /// Cell updates applied.
    #[must_use]
    pub fn updates(&self) -> usize {
        self.free_updates + self.occupied_updates
    }
}

/// A scan's marks: per touched brick, a byte per cell (0 untouched, 1 miss,
/// 2 hit), reused from scan to scan.
#[derive(Debug, Default)]
struct Marks {
    slots: KeyMap<BrickKey, u32>,
    bricks: Vec<BrickKey>,
    marks: Vec<[u8; BRICK_CELLS]>,
    last: Option<(BrickKey, u32)>,
}

impl Marks {
    #[inline]
    fn mark(&mut self, k: CellKey, value: u8) {
        let b = k.brick();
        let slot = match self.last {
            Some((lb, s)) if lb == b => s,
            _ => {
                let next = self.bricks.len() as u32;
                let s = *self.slots.entry(b).or_insert(next);
                if s == next {
                    self.bricks.push(b);
                    if self.marks.len() < self.bricks.len() {
                        self.marks.push([0; BRICK_CELLS]);
                    }
                }
                self.last = Some((b, s));
                s
            }
        };
        let cell = &mut self.marks[slot as usize][k.index_in_brick()];
        *cell = (*cell).max(value);
    }

    fn clear(&mut self) {
        self.slots.clear();
        self.bricks.clear();
        self.last = None;
    }
}

/// Inserts scans into a map, reusing its buffers from scan to scan.
#[derive(Debug, Default)]
pub struct ScanInserter {
    marks: Marks,
    hits: Vec<CellKey>,
    order: Vec<u32>,
}

impl ScanInserter {
    /// A new inserter.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Inserts one scan (`origin` and end points, world frame, m; rays longer
    /// than `max_range` m are cut and mark misses only).
    pub fn insert<M: CellModel>(
        &mut self,
        map: &mut OccupancyMap<M>,
        origin: &Vector3<f64>,
        points: &[Vector3<f64>],
        max_range: f64,
    ) -> ScanStats {
        let mut stats = ScanStats::default();
        self.marks.clear();
        let res = map.resolution();
        let Some(start) = map.key(origin) else {
            stats.refused = points.len();
            return stats;
        };
        let from = origin / res;
        self.hits.clear();
        for p in points {
            stats.rays += 1;
            let ray = p - origin;
            let length = ray.norm();
            if !length.is_finite() {
                stats.refused += 1;
                continue;
            }
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
            let marks = &mut self.marks;
            stats.cells_traversed += traverse(&from, &(end_point / res), start, end, |k| {
                marks.mark(k, 1);
            });
            if hit {
                self.hits.push(end);
            }
        }
        // Hits after the misses: a cell both passed through and hit is a hit.
        for &k in &self.hits {
            self.marks.mark(k, 2);
        }
        // Brick by brick, in key order (deterministic whatever the hashing).
        self.order.clear();
        self.order.extend(0..self.marks.bricks.len() as u32);
        let bricks = &self.marks.bricks;
        self.order.sort_unstable_by_key(|&s| bricks[s as usize]);
        for &s in &self.order {
            let brick = self.marks.bricks[s as usize];
            let (misses, hits) = map.apply_marks(brick, &mut self.marks.marks[s as usize]);
            stats.free_updates += misses;
            stats.occupied_updates += hits;
            stats.bricks_touched += 1;
        }
        stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logodds::OccupancyParams;
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
            // The sampled cells up to the first entry into the end cell.
            let stop = sampled.len();
            assert_eq!(visited, sampled[..stop].to_vec(), "segment {a:?} -> {b:?}");
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
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut rand = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        for _ in 0..40 {
            let origin = Vector3::new(rand() * 2.0, rand() * 2.0, 1.0 + rand() * 0.5);
            let points: Vec<Vector3<f64>> = (0..300)
                .map(|_| {
                    // A box room 4 x 4 x 2.5 m: walls at x, y in {-1, 3}, floor, ceiling.
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
                .collect();
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
