//! The planner's 2D map: one horizontal layer of the fixed-point occupancy map
//! (`mapping`), int8 log-odds cells as the map stores them, with a border of
//! unknown cells around it so a sensor beam leaving the layer reads "unknown"
//! without a bounds test per cell.
//!
//! Frames and units: world frame, metres; column `col` runs along +x and row
//! `row` along +y, cell `(col, row)` covering
//! `[origin_x + col res, origin_x + (col + 1) res) x [origin_y + row res, ...)`.
//! The layer is the one the robot's planar range sensor sweeps (see `sim`), so
//! one layer of the 3D map is exactly what the sensor has seen of its plane.

use mapping::logodds::UNKNOWN_I8;
use mapping::map::{BRICK_SIDE, CellModel, OccupancyMap};
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
    /// `self`, copied brick by brick (cells outside every brick: unknown).
    ///
    /// # Errors
    /// If `z_m` is outside the map's range or the resolutions differ.
    pub fn copy_layer(&mut self, map: &FixedMap, z_m: f64) -> Result<()> {
        if (map.resolution() - self.resolution).abs() > 1e-12 * self.resolution {
            return Err(ExplorationError::Config(format!(
                "the grid's resolution {} m differs from the map's {} m",
                self.resolution,
                map.resolution()
            )));
        }
        let layer = map
            .key(&Vector3::new(0.0, 0.0, z_m))
            .ok_or_else(|| ExplorationError::Config(format!("height {z_m} m is outside the map")))?
            .z;
        let (brick_z, z_in) = (layer.div_euclid(BRICK_SIDE), layer.rem_euclid(BRICK_SIDE));
        self.clear();
        let side = BRICK_SIDE as usize;
        for (key, cells) in map.bricks() {
            if key.z != brick_z {
                continue;
            }
            let first = z_in as usize * side * side;
            for (i, &value) in cells.iter().enumerate().skip(first).take(side * side) {
                let k = OccupancyMap::<QuantizedModel>::key_in_brick(key, i);
                let col = i64::from(k.x) - i64::from(self.min_cell[0]);
                let row = i64::from(k.y) - i64::from(self.min_cell[1]);
                if (0..self.width as i64).contains(&col) && (0..self.height as i64).contains(&row) {
                    let at = self.index(col as usize, row as usize);
                    self.cells[at] = value;
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
    fn refuses_bad_sizes() {
        assert!(Grid2::new([0, 0], 0, 5, 0, 0.05, model()).is_err());
        assert!(Grid2::new([0, 0], 5, 5, 0, f64::NAN, model()).is_err());
        assert!(Grid2::new([0, 0], 1 << 13, 1 << 13, 0, 0.05, model()).is_err());
        assert!(Grid2::new([0, 0], 40_000, 10, 0, 0.05, model()).is_err());
        assert!(Grid2::new([0, 0], 10, 10, usize::MAX / 2, 0.05, model()).is_err());
    }
}
