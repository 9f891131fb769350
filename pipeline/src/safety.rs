//! The drone's body against the live map: the controller's last check
//! before each control point.
//!
//! The planner plans on a 2D grid projected from the map at its last plan
//! (up to a second old, and on its own thread a snapshot older still); the
//! mapper keeps inserting keyframes meanwhile. [`BodyCheck`] reads the map as
//! it is now: the occupied cells of a band of heights around the flying
//! height (the body's own height and a margin) within a horizontal reach of
//! the body's centre, the same cylinder the planner's obstacle band
//! projects, so an obstacle the camera saw a keyframe ago stops the drone
//! even if no plan has seen it yet.
//!
//! Frames and units: the map's world (the VIO's, when the pose is
//! estimated), metres; distances are horizontal, from the body's centre to
//! the centre of an occupied cell.

use mapping::{FixedMap, Occupancy};
use nalgebra::Vector3;

/// The body's check against the map (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BodyCheck {
    /// The band of heights whose occupied cells are obstacles (low, high z),
    /// m.
    pub band_m: [f64; 2],
}

impl BodyCheck {
    /// The horizontal distance from `position` (world x, y, m) to the
    /// nearest occupied cell of the band within `reach_m`; `reach_m` if none
    /// is, `None` if the position lies outside the map's range.
    #[must_use]
    pub fn clearance_m(&self, map: &FixedMap, position: [f64; 2], reach_m: f64) -> Option<f64> {
        let res = map.resolution();
        let centre = map.key(&Vector3::new(position[0], position[1], self.band_m[0]))?;
        let top = map.key(&Vector3::new(position[0], position[1], self.band_m[1]))?;
        let n = (reach_m / res).ceil() as i32;
        let mut best = reach_m;
        for dy in -n..=n {
            for dx in -n..=n {
                let mut k = centre;
                k.x = centre.x.saturating_add(dx);
                k.y = centre.y.saturating_add(dy);
                let c = map.center(k);
                let d = (c.x - position[0]).hypot(c.y - position[1]);
                if d >= best {
                    continue;
                }
                for z in centre.z..=top.z {
                    k.z = z;
                    if map.occupancy(k) == Occupancy::Occupied {
                        best = d;
                        break;
                    }
                }
            }
        }
        Some(best)
    }

    /// Whether a move of the body (a cylinder of `radius_m` over the band)
    /// from `from` to `to` (world x, y, m) is safe on `map`: no occupied
    /// cell within `radius_m` of `to`, or the move does not bring the body
    /// nearer to one (turning in place, backing away from a wall the map
    /// put too near): a drone is never held in place by its own map.
    #[must_use]
    pub fn move_is_safe(
        &self,
        map: &FixedMap,
        from: [f64; 2],
        to: [f64; 2],
        radius_m: f64,
    ) -> bool {
        // Clear means no occupied cell within `radius_m`: look a cell
        // further, so that "as near as before" is told from "clear".
        let reach = radius_m + map.resolution();
        match (
            self.clearance_m(map, from, reach),
            self.clearance_m(map, to, reach),
        ) {
            (_, None) => false,
            (None, Some(to)) => to > radius_m,
            (Some(from), Some(to)) => to > radius_m || to >= from,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mapping::OccupancyParams;

    /// A map of 5 cm cells, observed free around (0.5, 0.5) at heights
    /// 0.8-1.2 m, with one occupied cell whose centre is (1.025, 0.525,
    /// `z`).
    fn map_with_obstacle_at(z: f64) -> FixedMap {
        let params = OccupancyParams::default();
        let mut map = FixedMap::fixed(0.05, &params).unwrap_or_else(|e| panic!("{e}"));
        for iz in 16..24 {
            for iy in 0..20 {
                for ix in 0..30 {
                    let p = Vector3::new(
                        (f64::from(ix) + 0.5) * 0.05,
                        (f64::from(iy) + 0.5) * 0.05,
                        (f64::from(iz) + 0.5) * 0.05,
                    );
                    let key = map.key(&p).unwrap_or_else(|| panic!("{p:?} off the map"));
                    for _ in 0..4 {
                        map.update_cell(key, false);
                    }
                }
            }
        }
        let key = map
            .key(&Vector3::new(1.025, 0.525, z))
            .unwrap_or_else(|| panic!("off the map"));
        for _ in 0..8 {
            map.update_cell(key, true);
        }
        map
    }

    #[test]
    fn moves_are_refused_only_toward_an_obstacle_within_the_radius() {
        let map = map_with_obstacle_at(0.875);
        let check = BodyCheck {
            band_m: [0.75, 1.25],
        };
        let at = |x: f64| [x, 0.525];
        // The clearance is horizontal, centre to cell centre.
        let c = check.clearance_m(&map, at(0.725), 1.0);
        assert!(c.is_some_and(|c| (c - 0.3).abs() < 1e-9), "{c:?}");
        // In the open.
        assert!(check.move_is_safe(&map, at(0.2), at(0.25), 0.2));
        // Into the radius (0.15 m from the obstacle, from 0.2 m): refused.
        assert!(!check.move_is_safe(&map, at(0.825), at(0.875), 0.2));
        // Already within it: holding and backing off are allowed, going
        // nearer is not.
        assert!(check.move_is_safe(&map, at(0.875), at(0.875), 0.2));
        assert!(check.move_is_safe(&map, at(0.875), at(0.825), 0.2));
        assert!(!check.move_is_safe(&map, at(0.875), at(0.925), 0.2));
        // A point outside the map's range is never safe.
        assert!(!check.move_is_safe(&map, at(0.2), [f64::NAN, 0.5], 0.2));
    }

    #[test]
    fn an_obstacle_below_the_flying_height_counts_within_the_band_only() {
        // A box top 12 cm under a drone flying at 1.0 m: inside a band of
        // +-0.25 m, a body check refuses to fly onto it.
        let map = map_with_obstacle_at(0.875);
        let body = BodyCheck {
            band_m: [0.75, 1.25],
        };
        assert!(!body.move_is_safe(&map, [0.775, 0.525], [0.875, 0.525], 0.2));
        // A band of +-0.1 m does not see it.
        let thin = BodyCheck { band_m: [0.9, 1.1] };
        assert!(thin.move_is_safe(&map, [0.775, 0.525], [0.875, 0.525], 0.2));
    }
}
