//! Frontiers (Yamauchi, "A frontier-based approach for autonomous exploration",
//! CIRA 1997): observed-free cells with an unknown 4-neighbour, grouped into
//! 8-connected clusters. A cluster smaller than a few cells is usually a gap in
//! a wall's raster, not a way into unknown space, and is dropped.
//!
//! Cells are `(col, row)` of [`Grid2`]; positions are world metres.

use mapping::Occupancy;

use crate::grid::Grid2;

/// One 8-connected group of frontier cells.
#[derive(Debug, Clone, PartialEq)]
pub struct FrontierCluster {
    /// Its cells.
    pub cells: Vec<(usize, usize)>,
    /// Mean of the cells' centres, m.
    pub centroid_m: [f64; 2],
}

/// Whether cell `(col, row)` is a frontier cell.
#[must_use]
pub fn is_frontier(grid: &Grid2, col: usize, row: usize) -> bool {
    if grid.occupancy(col, row) != Occupancy::Free {
        return false;
    }
    let unknown = |c: i64, r: i64| {
        (0..grid.width() as i64).contains(&c)
            && (0..grid.height() as i64).contains(&r)
            && grid.occupancy(c as usize, r as usize) == Occupancy::Unknown
    };
    let (c, r) = (col as i64, row as i64);
    unknown(c + 1, r) || unknown(c - 1, r) || unknown(c, r + 1) || unknown(c, r - 1)
}

/// The frontier clusters of at least `min_cells` cells, leaving out cells
/// marked in `ignored` (row-major, the grid's size; empty: none), largest
/// first.
#[must_use]
pub fn frontier_clusters(grid: &Grid2, ignored: &[bool], min_cells: usize) -> Vec<FrontierCluster> {
    let (w, h) = (grid.width(), grid.height());
    let mut frontier = vec![false; w * h];
    for row in 0..h {
        for col in 0..w {
            let i = row * w + col;
            frontier[i] = !ignored.get(i).copied().unwrap_or(false) && is_frontier(grid, col, row);
        }
    }
    let mut clusters = Vec::new();
    let mut stack = Vec::new();
    for start in 0..w * h {
        if !frontier[start] {
            continue;
        }
        frontier[start] = false;
        stack.push(start);
        let mut cells = Vec::new();
        while let Some(i) = stack.pop() {
            let (col, row) = (i % w, i / w);
            cells.push((col, row));
            for dr in -1i64..=1 {
                for dc in -1i64..=1 {
                    let (c, r) = (col as i64 + dc, row as i64 + dr);
                    if (0..w as i64).contains(&c) && (0..h as i64).contains(&r) {
                        let j = r as usize * w + c as usize;
                        if frontier[j] {
                            frontier[j] = false;
                            stack.push(j);
                        }
                    }
                }
            }
        }
        if cells.len() >= min_cells {
            let n = cells.len() as f64;
            let sum = cells.iter().fold([0.0, 0.0], |acc, &(c, r)| {
                let p = grid.center(c, r);
                [acc[0] + p[0], acc[1] + p[1]]
            });
            clusters.push(FrontierCluster {
                cells,
                centroid_m: [sum[0] / n, sum[1] / n],
            });
        }
    }
    clusters.sort_by_key(|c| std::cmp::Reverse(c.cells.len()));
    clusters
}

#[cfg(test)]
mod tests {
    use super::*;
    use mapping::{OccupancyParams, QuantizedModel};

    #[test]
    fn finds_the_edges_of_the_seen_area_as_clusters() {
        let m = QuantizedModel::new(&OccupancyParams::default()).unwrap_or_else(|e| panic!("{e}"));
        let mut g = Grid2::new([0, 0], 30, 20, 0, 0.1, m).unwrap_or_else(|e| panic!("{e}"));
        // Seen: a free 10 x 10 square at (5..15, 5..15), its left side a wall;
        // one lone free cell far away.
        for row in 5..15 {
            for col in 5..15 {
                g.set(col, row, if col == 5 { m.max } else { m.min });
            }
        }
        g.set(25, 2, m.min);
        let all = frontier_clusters(&g, &[], 1);
        assert_eq!(all.len(), 2);
        // The square's top, bottom and right edges (the wall is not free):
        // 9 + 9 + 10 cells, less the two corners counted twice.
        assert_eq!(all[0].cells.len(), 9 + 9 + 10 - 2);
        assert!(all[0].cells.iter().all(|&(c, _)| c > 5));
        assert_eq!(all[1].cells, vec![(25, 2)]);
        // The lone cell is dropped by size; ignored cells are left out.
        assert_eq!(frontier_clusters(&g, &[], 2).len(), 1);
        let mut ignored = vec![false; 30 * 20];
        for &(c, r) in &all[0].cells {
            ignored[r * 30 + c] = true;
        }
        assert_eq!(frontier_clusters(&g, &ignored, 2).len(), 0);
    }
}
