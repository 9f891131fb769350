//! The planner's 2D map: one horizontal layer, or a height band, of the
//! fixed-point occupancy map (`mapping`), int8 log-odds cells as the map
//! stores them, with a border of unknown cells around it so a sensor beam
//! leaving the layer reads "unknown" without a bounds test per cell.
//!
//! Frames and units: world frame (z up), metres; column `col` runs along +x
//! and row `row` along +y, cell `(col, row)` covering
//! `[origin_x + col res, origin_x + (col + 1) res) x [origin_y + row res, ...)`.
//!
//! - [`Grid2::copy_layer`]: the layer the robot's planar range sensor sweeps
//!   (see `sim`), so one layer of the 3D map is exactly what the sensor has
//!   seen of its plane.
//! - [`Grid2::copy_band`]: the layers from `z_lo` to `z_hi` folded per column
//!   into the largest int8 value (the most occupied observed cell; unknown,
//!   -128, is below every observed value). So a column is occupied if any
//!   cell of the band is (a drone holding its height has a vertical extent:
//!   an obstacle anywhere in its band blocks it), else free if any cell has
//!   been observed (a stereo camera observes each layer sparsely, so one
//!   observed cell per column is enough to call it free), else unknown: the
//!   classes of `mapping::query::project_band_with` under
//!   `BandRule::Observed` (tested equal). That function is not reused as is
//!   because it keeps only the classes, and FSMI reads each cell's
//!   probability and information from its int8 value.

use mapping::logodds::UNKNOWN_I8;
use mapping::map::{BRICK_SIDE, CellModel};
use mapping::{FixedMap, Occupancy, QuantizedModel};
use nalgebra::Vector3;

use crate::{ExplorationError, Result};

/// The largest grid, cells (border included): 16 Mi cells. A plan keeps
/// about 20 bytes of scratch per cell (distances, A*, traversability).
pub const MAX_GRID_CELLS: usize = 1 << 24;

/// The longest side of a grid, cells (border included): the beam walk's 16.16
/// fixed point must hold every position.
pub const MAX_GRID_SIDE: usize = (1 << 15) - 1;

/// A 2D int8 log-odds grid with an unknown border.
#[derive(Debug, Clone, PartialEq)]
pub struct Grid2 {
    origin_m: [f64; 2],
    resolution: f64,
    /// Map cell indices x, y of interior cell (0, 0).
    min_cell: [i32; 2],
    width: usize,
    height: usize,
    border: usize,
    stride: usize,
    cells: Vec<i8>,
    model: QuantizedModel,
}

impl Grid2 {
    /// An all-unknown grid of `width` x `height` cells of `resolution` m whose
    /// cell (0, 0) is the map cell `min_cell`, with `border` unknown cells on
    /// every side.
    ///
    /// # Errors
    /// If a size is zero, the resolution is not positive and finite, or the
    /// grid would exceed [`MAX_GRID_CELLS`].
    pub fn new(
        min_cell: [i32; 2],
        width: usize,
        height: usize,
        border: usize,
        resolution: f64,
        model: QuantizedModel,
    ) -> Result<Self> {
        if width == 0 || height == 0 || !(resolution > 0.0 && resolution.is_finite()) {
            return Err(ExplorationError::Config(format!(
                "a grid needs a positive size and resolution, got {width} x {height} cells of {resolution} m"
            )));
        }
        let padded = |side: usize| border.checked_mul(2).and_then(|b| b.checked_add(side));
        let (Some(stride), Some(rows)) = (padded(width), padded(height)) else {
            return Err(ExplorationError::Config(format!(
                "a grid of {width} x {height} cells with a border of {border} is too large"
            )));
        };
        if stride > MAX_GRID_SIDE
            || rows > MAX_GRID_SIDE
            || stride.checked_mul(rows).is_none_or(|n| n > MAX_GRID_CELLS)
        {
            return Err(ExplorationError::Config(format!(
                "a grid of {stride} x {rows} cells exceeds {MAX_GRID_SIDE} cells a side or {MAX_GRID_CELLS} cells"
            )));
        }
        Ok(Self {
            origin_m: [
                f64::from(min_cell[0]) * resolution,
                f64::from(min_cell[1]) * resolution,
            ],
            resolution,
            min_cell,
            width,
            height,
            border,
            stride,
            cells: vec![UNKNOWN_I8; stride * rows],
            model,
        })
    }

    /// The layer of `map` holding height `z_m` (m) over the same cells as
    /// `self`, copied brick by brick (cells outside every brick: unknown):
    /// [`Grid2::copy_band`] from `z_m` to `z_m`.
    ///
    /// # Errors
    /// If `z_m` is not finite or outside the map's range, or the resolutions
    /// differ.
    pub fn copy_layer(&mut self, map: &FixedMap, z_m: f64) -> Result<()> {
        self.copy_band(map, z_m, z_m)
    }

    /// The layers of `map` from the one holding `z_lo_m` to the one holding
    /// `z_hi_m` (m, both included) over the same cells as `self`, each column
    /// the largest value among its cells: occupied (the most occupied value)
    /// if any cell is occupied, else free (the largest observed value) if any
    /// is observed, else unknown (see the module documentation for why).
    /// Cells outside every brick are unknown.
    ///
    /// # Errors
    /// If a height is not finite or outside the map's range, `z_lo_m >
    /// z_hi_m`, or the resolutions differ.
    pub fn copy_band(&mut self, map: &FixedMap, z_lo_m: f64, z_hi_m: f64) -> Result<()> {
        if (map.resolution() - self.resolution).abs() > 1e-12 * self.resolution {
            return Err(ExplorationError::Config(format!(
                "the grid's resolution {} m differs from the map's {} m",
                self.resolution,
                map.resolution()
            )));
        }
        if !(z_lo_m.is_finite() && z_hi_m.is_finite() && z_lo_m <= z_hi_m) {
            return Err(ExplorationError::Config(format!(
                "a height band needs finite heights, the lower first, got {z_lo_m} m and {z_hi_m} m"
            )));
        }
        let layer = |z: f64| {
            map.key(&Vector3::new(0.0, 0.0, z))
                .map(|k| i64::from(k.z))
                .ok_or_else(|| ExplorationError::Config(format!("height {z} m is outside the map")))
        };
        let (z_lo, z_hi) = (layer(z_lo_m)?, layer(z_hi_m)?);
        self.clear();
        let side = i64::from(BRICK_SIDE);
        let (x_min, y_min) = (i64::from(self.min_cell[0]), i64::from(self.min_cell[1]));
        let (x_max, y_max) = (
            x_min + self.width as i64 - 1,
            y_min + self.height as i64 - 1,
        );
        for (key, brick) in map.bricks() {
            let (bx, by, bz) = (
                i64::from(key.x) * side,
                i64::from(key.y) * side,
                i64::from(key.z) * side,
            );
            let (x0, x1) = (bx.max(x_min), (bx + side - 1).min(x_max));
            let (y0, y1) = (by.max(y_min), (by + side - 1).min(y_max));
            let (z0, z1) = (bz.max(z_lo), (bz + side - 1).min(z_hi));
            if x0 > x1 || y0 > y1 || z0 > z1 {
                continue;
            }
            let columns = (x1 - x0 + 1) as usize;
            for z in z0..=z1 {
                for y in y0..=y1 {
                    // Cell (x, y, z) of the brick is at x + 8 y + 64 z.
                    let from = ((z - bz) * side * side + (y - by) * side + (x0 - bx)) as usize;
                    let to = self.index((x0 - x_min) as usize, (y - y_min) as usize);
                    let src = &brick[from..from + columns];
                    for (cell, &value) in self.cells[to..to + columns].iter_mut().zip(src) {
                        *cell = (*cell).max(value);
                    }
                }
            }
        }
        Ok(())
    }

    /// Every cell unknown.
    pub fn clear(&mut self) {
        self.cells.fill(UNKNOWN_I8);
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

    /// Cell side, m.
    #[must_use]
    pub fn resolution(&self) -> f64 {
        self.resolution
    }

    /// World x, y (m) of the lower-left corner of cell (0, 0).
    #[must_use]
    pub fn origin_m(&self) -> [f64; 2] {
        self.origin_m
    }

    /// Unknown cells on each side beyond the interior.
    #[must_use]
    pub fn border(&self) -> usize {
        self.border
    }

    /// The map's cell model.
    #[must_use]
    pub fn model(&self) -> &QuantizedModel {
        &self.model
    }

    /// The padded cells (row-major, `stride` per row, interior cell (0, 0) at
    /// `border * stride + border`) and the stride.
    #[must_use]
    pub fn padded(&self) -> (&[i8], usize) {
        (&self.cells, self.stride)
    }

    #[inline]
    fn index(&self, col: usize, row: usize) -> usize {
        (row + self.border) * self.stride + col + self.border
    }

    /// The value of an interior cell (`UNKNOWN_I8` when never observed).
    ///
    /// # Panics
    /// If the cell is outside the interior (a caller's bug).
    #[must_use]
    #[inline]
    pub fn get(&self, col: usize, row: usize) -> i8 {
        assert!(
            col < self.width && row < self.height,
            "cell outside the grid"
        );
        self.cells[self.index(col, row)]
    }

    /// Sets an interior cell.
    ///
    /// # Panics
    /// If the cell is outside the interior (a caller's bug).
    #[inline]
    pub fn set(&mut self, col: usize, row: usize, value: i8) {
        assert!(
            col < self.width && row < self.height,
            "cell outside the grid"
        );
        let at = self.index(col, row);
        self.cells[at] = value;
    }

    /// What an interior cell says.
    #[must_use]
    #[inline]
    pub fn occupancy(&self, col: usize, row: usize) -> Occupancy {
        self.model.occupancy(self.get(col, row))
    }

    /// The interior cell holding world point x, y (m), if any.
    #[must_use]
    pub fn cell_of(&self, x_m: f64, y_m: f64) -> Option<(usize, usize)> {
        let c = (x_m - self.origin_m[0]) / self.resolution;
        let r = (y_m - self.origin_m[1]) / self.resolution;
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

    /// Interior cells that are not unknown.
    #[must_use]
    pub fn known_cells(&self) -> usize {
        (0..self.height)
            .map(|row| {
                let at = self.index(0, row);
                self.cells[at..at + self.width]
                    .iter()
                    .filter(|&&v| v != UNKNOWN_I8)
                    .count()
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mapping::OccupancyParams;

    fn model() -> QuantizedModel {
        QuantizedModel::new(&OccupancyParams::default()).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn copies_one_layer_of_the_map_cell_for_cell() {
        let mut map =
            FixedMap::fixed(0.05, &OccupancyParams::default()).unwrap_or_else(|e| panic!("{e}"));
        // Cells at three heights, some at negative indices, some outside the grid.
        let mut expected = Vec::new();
        for (i, (x, y)) in [(-7, 3), (0, 0), (12, -4), (30, 30), (-20, 1)]
            .into_iter()
            .enumerate()
        {
            for z in [9, 10, 11] {
                let k = mapping::CellKey { x, y, z };
                for _ in 0..=i {
                    map.update_cell(k, z == 10);
                }
            }
            expected.push(((x, y), map.cell(mapping::CellKey { x, y, z: 10 })));
        }
        let mut grid =
            Grid2::new([-10, -5], 25, 20, 3, 0.05, model()).unwrap_or_else(|e| panic!("{e}"));
        grid.copy_layer(&map, 10.5 * 0.05)
            .unwrap_or_else(|e| panic!("{e}"));
        let mut inside = 0;
        for ((x, y), v) in expected {
            let (col, row) = (x + 10, y + 5);
            if (0..25).contains(&col) && (0..20).contains(&row) {
                assert_eq!(grid.get(col as usize, row as usize), v);
                assert_eq!(
                    grid.occupancy(col as usize, row as usize),
                    Occupancy::Occupied
                );
                inside += 1;
            }
        }
        assert_eq!(inside, 3);
        assert_eq!(grid.known_cells(), 3);
        // Point lookups agree with the cell corners.
        let c = grid.center(3, 4);
        assert_eq!(grid.cell_of(c[0], c[1]), Some((3, 4)));
        assert_eq!(grid.cell_of(-10.0, 0.0), None);
    }

    #[test]
    fn copies_a_band_as_its_most_occupied_observed_cell_per_column() {
        let params = OccupancyParams::default();
        let mut map = FixedMap::fixed(0.05, &params).unwrap_or_else(|e| panic!("{e}"));
        let key = |x, y, z| mapping::CellKey { x, y, z };
        // The band is layers 6..=9 (across the bricks z = 0 and z = 1).
        // (x, y, z, hit, times)
        let updates = [
            // Occupied at the band's top over a free cell: occupied.
            (-7, 3, 7, false, 1),
            (-7, 3, 9, true, 1),
            // Free twice over: free, the less free of the two.
            (0, 0, 6, false, 3),
            (0, 0, 8, false, 1),
            // Occupied only above and below the band: unknown.
            (12, -4, 10, true, 2),
            (12, -4, 5, true, 2),
            // One observed cell in four: free.
            (3, 2, 9, false, 1),
            // Occupied between two free cells: occupied.
            (2, 2, 6, false, 1),
            (2, 2, 8, true, 2),
            (2, 2, 9, false, 4),
            // Outside the grid.
            (30, 30, 7, true, 1),
        ];
        for (x, y, z, hit, times) in updates {
            for _ in 0..times {
                map.update_cell(key(x, y, z), hit);
            }
        }
        let (lo, hi) = (6.5 * 0.05, 9.5 * 0.05);
        let mut grid =
            Grid2::new([-10, -5], 25, 20, 3, 0.05, model()).unwrap_or_else(|e| panic!("{e}"));
        grid.copy_band(&map, lo, hi)
            .unwrap_or_else(|e| panic!("{e}"));
        let at = |x: i32, y: i32| ((x + 10) as usize, (y + 5) as usize);
        let class = |x, y| {
            let (c, r) = at(x, y);
            grid.occupancy(c, r)
        };
        assert_eq!(class(-7, 3), Occupancy::Occupied);
        assert_eq!(class(0, 0), Occupancy::Free);
        assert_eq!(class(12, -4), Occupancy::Unknown);
        assert_eq!(class(3, 2), Occupancy::Free);
        assert_eq!(class(2, 2), Occupancy::Occupied);
        assert_eq!(grid.known_cells(), 4);
        let (c, r) = at(0, 0);
        assert_eq!(grid.get(c, r), map.cell(key(0, 0, 8)));
        assert!(map.cell(key(0, 0, 8)) > map.cell(key(0, 0, 6)));
        let (c, r) = at(2, 2);
        assert_eq!(grid.get(c, r), map.cell(key(2, 2, 8)));
        // Every cell is the largest value of its column in the band.
        for row in 0..20 {
            for col in 0..25 {
                let (x, y) = (col as i32 - 10, row as i32 - 5);
                let top = (6..=9)
                    .map(|z| map.cell(key(x, y, z)))
                    .max()
                    .unwrap_or(UNKNOWN_I8);
                assert_eq!(grid.get(col, row), top, "({x}, {y})");
            }
        }
        // The classes are mapping's band projection under the observed rule.
        let area = mapping::query::CellRect {
            min_x: -10,
            min_y: -5,
            max_x: 14,
            max_y: 14,
        };
        let slice = mapping::query::project_band_with(
            &map,
            lo,
            hi,
            Some(area),
            mapping::query::BandRule::Observed,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        for row in 0..20 {
            for col in 0..25 {
                assert_eq!(Some(grid.occupancy(col, row)), slice.get(col, row));
            }
        }
        // One layer is the band from a height to itself.
        let mut layer = grid.clone();
        layer
            .copy_layer(&map, 8.5 * 0.05)
            .unwrap_or_else(|e| panic!("{e}"));
        grid.copy_band(&map, 8.5 * 0.05, 8.5 * 0.05)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(layer, grid);
        assert_eq!(grid.known_cells(), 2);
        // Refused: heights out of order, not finite, outside the map; another
        // resolution.
        assert!(grid.copy_band(&map, hi, lo).is_err());
        assert!(grid.copy_band(&map, f64::NAN, hi).is_err());
        assert!(grid.copy_band(&map, lo, f64::INFINITY).is_err());
        assert!(grid.copy_band(&map, -1e300, hi).is_err());
        let mut coarse =
            Grid2::new([0, 0], 5, 5, 0, 0.1, model()).unwrap_or_else(|e| panic!("{e}"));
        assert!(coarse.copy_band(&map, lo, hi).is_err());
    }

    #[test]
    fn refuses_bad_sizes() {
        assert!(Grid2::new([0, 0], 0, 5, 0, 0.05, model()).is_err());
        assert!(Grid2::new([0, 0], 5, 5, 0, f64::NAN, model()).is_err());
        assert!(Grid2::new([0, 0], 1 << 13, 1 << 13, 0, 0.05, model()).is_err());
        assert!(Grid2::new([0, 0], 40_000, 10, 0, 0.05, model()).is_err());
        assert!(Grid2::new([0, 0], 10, 10, usize::MAX / 2, 0.05, model()).is_err());
    }
}
