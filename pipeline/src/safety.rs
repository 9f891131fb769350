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
//! When the map closes in on the point the drone was sent to (a surface
//! seen only as it came near, an edge that turned occupied a keyframe
//! late), [`BodyCheck::back_off`] finds the short move away that the
//! controller makes instead: a drone sent there would otherwise fly on to
//! it, and holding there is always allowed.
//!
//! Frames and units: the map's world (the VIO's, when the pose is
//! estimated), metres; distances are horizontal, from the body's centre to
//! the nearest point of an occupied cell's square (an occupied cell says a
//! surface lies somewhere in it, so its nearest point is the worst case;
//! measured to cell centres, a drone held 0.232 m from the map was 0.169 m
//! from the true edge).

use mapping::{CellKey, FixedMap, Occupancy};
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
    /// nearest point of an occupied cell of the band within `reach_m`;
    /// `reach_m` if none is, `None` if the position lies outside the map's
    /// range.
    #[must_use]
    pub fn clearance_m(&self, map: &FixedMap, position: [f64; 2], reach_m: f64) -> Option<f64> {
        let res = map.resolution();
        let centre = map.key(&Vector3::new(position[0], position[1], self.band_m[0]))?;
        let top = map.key(&Vector3::new(position[0], position[1], self.band_m[1]))?;
        let n = (reach_m / res).ceil() as i32 + 1;
        // From a coordinate difference to the cell's centre, to its edge.
        let gap = |a: f64| (a.abs() - 0.5 * res).max(0.0);
        let mut best = reach_m;
        for dy in -n..=n {
            for dx in -n..=n {
                let mut k = centre;
                k.x = centre.x.saturating_add(dx);
                k.y = centre.y.saturating_add(dy);
                let c = map.center(k);
                let d = gap(c.x - position[0]).hypot(gap(c.y - position[1]));
                if d >= best {
                    continue;
                }
                if column_has(map, k, centre.z..=top.z, Occupancy::Occupied) {
                    best = d;
                }
            }
        }
        Some(best)
    }

    /// Whether a move of the body (a cylinder of `radius_m` over the band)
    /// from `from` to `to` (world x, y, m) is safe on `map`: no occupied
    /// cell within `radius_m` of `to`, or, for a body already within it,
    /// staying where it is (turning in place) or moving strictly clear of
    /// it (backing away from a wall the map put too near): a drone is never
    /// held in place by its own map, and never slides along an obstacle at
    /// the clearance it was caught at (a flight did, 7 mm from a box edge,
    /// for 5.6 s).
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
        let stays = (to[0] - from[0]).hypot(to[1] - from[1]) < 1e-9;
        match (
            self.clearance_m(map, from, reach),
            self.clearance_m(map, to, reach),
        ) {
            (_, None) => false,
            (None, Some(to)) => to > radius_m,
            (Some(from), Some(to)) => to > radius_m || stays || to > from,
        }
    }

    /// Where to move a body (radius `radius_m`) at `from` (world x, y, m)
    /// whose clearance on `map` is under its radius: of 16 points
    /// around it, at most `step_m` away (the deficit and a cell), the one
    /// with the largest clearance, if that is larger than `from`'s and the
    /// point lies in space the map has observed free at some height of the
    /// band (never into the unknown). `None` when `from` is clear, outside
    /// the map, or no point is better.
    #[must_use]
    pub fn back_off(
        &self,
        map: &FixedMap,
        from: [f64; 2],
        radius_m: f64,
        step_m: f64,
    ) -> Option<[f64; 2]> {
        let res = map.resolution();
        let reach = radius_m + res;
        let here = self.clearance_m(map, from, reach)?;
        if here > radius_m {
            return None;
        }
        let step = (radius_m - here + res).min(step_m);
        let mut best: Option<([f64; 2], f64)> = None;
        for k in 0..16 {
            let a = std::f64::consts::TAU * f64::from(k) / 16.0;
            let to = [from[0] + step * a.cos(), from[1] + step * a.sin()];
            let Some(c) = self.clearance_m(map, to, reach) else {
                continue;
            };
            if c > here + 1e-9 && best.is_none_or(|(_, b)| c > b) && self.observed_free(map, to) {
                best = Some((to, c));
            }
        }
        best.map(|(to, _)| to)
    }

    /// Whether some cell of the band at `position` is observed free.
    fn observed_free(&self, map: &FixedMap, position: [f64; 2]) -> bool {
        let (Some(low), Some(high)) = (
            map.key(&Vector3::new(position[0], position[1], self.band_m[0])),
            map.key(&Vector3::new(position[0], position[1], self.band_m[1])),
        ) else {
            return false;
        };
        column_has(map, low, low.z..=high.z, Occupancy::Free)
    }
}

/// Whether a cell of the map's column through `key` (its x and y), in one
/// of the `layers` (z indices), is in `state`.
pub(crate) fn column_has(
    map: &FixedMap,
    key: CellKey,
    layers: impl IntoIterator<Item = i32>,
    state: Occupancy,
) -> bool {
    layers
        .into_iter()
        .any(|z| map.occupancy(CellKey { z, ..key }) == state)
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
        // The clearance is horizontal, to the nearest point of the cell
        // (x from 1.0 to 1.05 m).
        let c = check.clearance_m(&map, at(0.725), 1.0);
        assert!(c.is_some_and(|c| (c - 0.275).abs() < 1e-9), "{c:?}");
        // In the open.
        assert!(check.move_is_safe(&map, at(0.2), at(0.25), 0.2));
        // Into the radius (to 0.125 m from the cell, from 0.225 m): refused.
        assert!(!check.move_is_safe(&map, at(0.775), at(0.875), 0.2));
        // Already within it: holding and backing off are allowed, going
        // nearer is not.
        assert!(check.move_is_safe(&map, at(0.875), at(0.875), 0.2));
        assert!(check.move_is_safe(&map, at(0.875), at(0.825), 0.2));
        assert!(!check.move_is_safe(&map, at(0.875), at(0.925), 0.2));
        // Sliding along the obstacle at the same clearance is not.
        assert!(!check.move_is_safe(&map, [0.875, 0.525], [0.875, 0.55], 0.2));
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

    #[test]
    fn a_body_within_its_radius_backs_straight_off_into_observed_free_space() {
        let map = map_with_obstacle_at(1.025);
        let check = BodyCheck {
            band_m: [0.75, 1.25],
        };
        // 0.125 m from the cell's face (x = 1.0): the step is the deficit
        // and a cell, 0.125 m, and straight back along -x clears most.
        let to = check.back_off(&map, [0.875, 0.525], 0.2, 0.25);
        let to = to.unwrap_or_else(|| panic!("no back-off"));
        assert!(
            (to[0] - 0.75).abs() < 1e-9 && (to[1] - 0.525).abs() < 1e-9,
            "{to:?}"
        );
        let c = check.clearance_m(&map, to, 1.0).unwrap_or(0.0);
        assert!(c > 0.2, "{c}");
        // The step is capped.
        let short = check.back_off(&map, [0.875, 0.525], 0.2, 0.05);
        assert!(
            short.is_some_and(|p| (p[0] - 0.825).abs() < 1e-9),
            "{short:?}"
        );
        // Clear already: nothing to do.
        assert_eq!(check.back_off(&map, [0.5, 0.525], 0.2, 0.25), None);
        // Nowhere observed to go: hold.
        let mut unseen =
            FixedMap::fixed(0.05, &OccupancyParams::default()).unwrap_or_else(|e| panic!("{e}"));
        let key = unseen
            .key(&Vector3::new(1.025, 0.525, 1.025))
            .unwrap_or_else(|| panic!("off the map"));
        for _ in 0..8 {
            unseen.update_cell(key, true);
        }
        assert_eq!(check.back_off(&unseen, [0.875, 0.525], 0.2, 0.25), None);
    }
}
