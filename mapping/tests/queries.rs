//! The planner's queries against ground truth: slices and band projections of
//! a hand-built map checked cell by cell, entropy in closed form and against
//! the f32 map, rays against `insert::traverse` and a box room's known walls.

use mapping::insert::traverse;
use mapping::logodds::UNKNOWN_I8;
use mapping::map::{BRICK_CELLS, CellModel};
use mapping::query::{self, CellRect, RayOutcome, RaySample};
use mapping::{
    BrickKey, CellKey, FixedMap, FloatMap, Occupancy, OccupancyMap, OccupancyParams, ScanInserter,
};
use nalgebra::Vector3;

const RES: f64 = 0.1;

fn key(x: i32, y: i32, z: i32) -> CellKey {
    CellKey { x, y, z }
}

fn empty_map() -> FixedMap {
    FixedMap::fixed(RES, &OccupancyParams::default()).unwrap_or_else(|e| panic!("{e}"))
}

/// Sets one cell of a hand-built map (allocating its brick as unknown).
fn set(map: &mut FixedMap, k: CellKey, v: i8) {
    let b = k.brick();
    let mut cells = Box::new(map.brick(b).copied().unwrap_or([UNKNOWN_I8; BRICK_CELLS]));
    cells[k.index_in_brick()] = v;
    map.insert_brick(b, cells);
}

/// A hand-built map: brick (0, 0, 0) all free except an occupied cell at
/// (2, 3, 1) and an unknown one at (4, 4, 2); brick (1, 0, 0) unknown except a
/// free cell at (9, 1, 1); brick (0, -1, 1) (z 8..15) all occupied.
fn hand_built() -> FixedMap {
    let mut map = empty_map();
    let free = map.model().miss;
    let occupied = map.model().hit;
    map.insert_brick(BrickKey { x: 0, y: 0, z: 0 }, Box::new([free; BRICK_CELLS]));
    set(&mut map, key(2, 3, 1), occupied);
    set(&mut map, key(4, 4, 2), UNKNOWN_I8);
    set(&mut map, key(9, 1, 1), free);
    map.insert_brick(
        BrickKey { x: 0, y: -1, z: 1 },
        Box::new([occupied; BRICK_CELLS]),
    );
    map
}

#[test]
fn a_slice_is_the_layer_containing_the_height_over_the_allocated_extent() {
    let map = hand_built();
    let s = query::slice_at(&map, 0.15, None).unwrap_or_else(|e| panic!("{e}"));
    // Extent of the allocated bricks: x 0..15, y -8..7.
    assert_eq!((s.width, s.height), (16, 16));
    assert_eq!(s.min_cell, [0, -8]);
    assert_eq!(s.z_cells, [1, 1]);
    assert!((s.origin_m[0] - 0.0).abs() < 1e-12 && (s.origin_m[1] + 0.8).abs() < 1e-12);
    for row in 0..s.height {
        for col in 0..s.width {
            let k = key(col as i32, row as i32 - 8, 1);
            assert_eq!(s.get(col, row), Some(map.occupancy(k)), "{k:?}");
        }
    }
    assert_eq!(s.get(2, 8 + 3), Some(Occupancy::Occupied));
    assert_eq!(s.get(9, 8 + 1), Some(Occupancy::Free));
    assert_eq!(s.get(10, 8 + 1), Some(Occupancy::Unknown));
    assert_eq!(s.get(0, 0), Some(Occupancy::Unknown));
    assert_eq!(s.cell_of(0.25, 0.35), Some((2, 11)));
    // The occupied brick is at z 8..15 (0.8 m to 1.6 m).
    let high = query::slice_at(&map, 1.0, None).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(high.get(3, 2), Some(Occupancy::Occupied));
    assert_eq!(high.get(3, 12), Some(Occupancy::Unknown));
    // A given area beyond the allocated bricks is unknown there.
    let area = CellRect {
        min_x: -3,
        min_y: 0,
        max_x: 4,
        max_y: 3,
    };
    let s = query::slice_at(&map, 0.15, Some(area)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((s.width, s.height, s.min_cell), (8, 4, [-3, 0]));
    assert_eq!(s.get(0, 0), Some(Occupancy::Unknown));
    assert_eq!(s.get(3, 0), Some(Occupancy::Free));
    assert_eq!(s.get(5, 3), Some(Occupancy::Occupied));
    // Bad heights are errors.
    assert!(query::slice_at(&map, f64::NAN, None).is_err());
    assert!(query::project_band(&map, 1.0, 0.5, None).is_err());
}

#[test]
fn a_band_is_free_only_where_every_cell_of_it_is_observed_free() {
    let map = hand_built();
    // Layers 0..2 (0.05 m to 0.25 m).
    let s = query::project_band(&map, 0.05, 0.25, None).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.z_cells, [0, 2]);
    for row in 0..s.height {
        for col in 0..s.width {
            let states: Vec<Occupancy> = (0..=2)
                .map(|z| map.occupancy(key(col as i32, row as i32 - 8, z)))
                .collect();
            let expected = if states.contains(&Occupancy::Occupied) {
                Occupancy::Occupied
            } else if states.iter().all(|&o| o == Occupancy::Free) {
                Occupancy::Free
            } else {
                Occupancy::Unknown
            };
            assert_eq!(s.get(col, row), Some(expected), "column ({col}, {row})");
        }
    }
    assert_eq!(s.get(2, 8 + 3), Some(Occupancy::Occupied));
    assert_eq!(
        s.get(4, 8 + 4),
        Some(Occupancy::Unknown),
        "one unknown cell in the band"
    );
    assert_eq!(s.get(0, 8), Some(Occupancy::Free));
    assert_eq!(
        s.get(9, 8 + 1),
        Some(Occupancy::Unknown),
        "free in one layer of three"
    );
    // A band reaching above the free brick is unknown wherever it is not
    // occupied: the cells at z 8 are never observed above brick (0, 0, 0).
    let tall = query::project_band(&map, 0.05, 0.85, None).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(tall.get(0, 8), Some(Occupancy::Unknown));
    assert_eq!(tall.get(2, 8 + 3), Some(Occupancy::Occupied));
    assert_eq!(tall.get(3, 2), Some(Occupancy::Occupied));
}

#[test]
fn the_observed_rule_frees_a_column_with_any_free_cell_and_no_occupied_one() {
    let map = hand_built();
    let s = query::project_band_with(&map, 0.05, 0.25, None, query::BandRule::Observed)
        .unwrap_or_else(|e| panic!("{e}"));
    for row in 0..s.height {
        for col in 0..s.width {
            let states: Vec<Occupancy> = (0..=2)
                .map(|z| map.occupancy(key(col as i32, row as i32 - 8, z)))
                .collect();
            let expected = if states.contains(&Occupancy::Occupied) {
                Occupancy::Occupied
            } else if states.contains(&Occupancy::Free) {
                Occupancy::Free
            } else {
                Occupancy::Unknown
            };
            assert_eq!(s.get(col, row), Some(expected), "column ({col}, {row})");
        }
    }
    // Free in one layer of three: free here, unknown by the conservative rule.
    assert_eq!(s.get(9, 8 + 1), Some(Occupancy::Free));
    assert_eq!(s.get(2, 8 + 3), Some(Occupancy::Occupied));
}

/// Binary entropy of a probability, bits.
fn h(p: f64) -> f64 {
    -(p * p.log2() + (1.0 - p) * (1.0 - p).log2())
}

#[test]
fn entropy_in_closed_form() {
    let mut map = empty_map();
    // An empty map: no cells; a box over it: one bit per cell.
    let e = query::entropy_bits(&map, None).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((e.bits, e.cells), (0.0, 0));
    let bounds = (key(-3, 0, 5), key(6, 4, 7));
    let e = query::entropy_bits(&map, Some(bounds)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((e.cells, e.unknown), (150, 150));
    assert!((e.bits - 150.0).abs() < 1e-12);
    // One cell at the upper clamp in an otherwise unknown brick.
    let max = map.model().max;
    set(&mut map, key(1, 2, 3), max);
    let e = query::entropy_bits(&map, None).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((e.cells, e.unknown, e.occupied, e.free), (512, 511, 1, 0));
    let clamp_max = OccupancyParams::default().clamp_max;
    assert!((e.bits - (511.0 + h(clamp_max))).abs() < 1e-9, "{}", e.bits);
    // A free cell at the lower clamp, counted inside a box that also covers
    // unallocated space (unknown, a bit each).
    let min = map.model().min;
    set(&mut map, key(-1, 2, 3), min);
    let p_min = 1.0 / (1.0 + (-f64::from(min) * map.model().step).exp());
    let e = query::entropy_bits(&map, Some((key(-2, 2, 3), key(1, 2, 3))))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((e.cells, e.unknown, e.free, e.occupied), (4, 2, 1, 1));
    assert!(
        (e.bits - (2.0 + h(clamp_max) + h(p_min))).abs() < 1e-9,
        "{}",
        e.bits
    );
    // Stable far out in the tails.
    assert!((query::binary_entropy_bits_of_log_odds(0.0) - 1.0).abs() < 1e-15);
    assert!(query::binary_entropy_bits_of_log_odds(800.0) >= 0.0);
    assert!(
        (query::binary_entropy_bits_of_log_odds(-2.0) - h(1.0 / (1.0 + 2f64.exp()))).abs() < 1e-12
    );
    assert!(query::entropy_bits(&map, Some((key(1, 0, 0), key(0, 0, 0)))).is_err());
}

/// Box room 4 x 4 x 2.5 m (x, y in [-1, 3], z in [0, 2.5]): random rays from
/// random origins, ending 1 mm inside the walls.
fn box_room_scans(count: usize, rays: usize) -> Vec<(Vector3<f64>, Vec<Vector3<f64>>)> {
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut rand = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    (0..count)
        .map(|_| {
            let origin = Vector3::new(rand() * 2.0, rand() * 2.0, 1.0 + rand() * 0.5);
            let points = (0..rays)
                .map(|_| {
                    let dir = Vector3::new(rand() - 0.5, rand() - 0.5, rand() - 0.5).normalize();
                    origin + dir * (wall_distance(&origin, &dir) - 1e-3)
                })
                .collect();
            (origin, points)
        })
        .collect()
}

/// Distance from a point inside the box room to its boundary along `dir`.
fn wall_distance(origin: &Vector3<f64>, dir: &Vector3<f64>) -> f64 {
    let mut t = f64::INFINITY;
    for a in 0..3 {
        let (lo, hi) = if a == 2 { (0.0, 2.5) } else { (-1.0, 3.0) };
        if dir[a] > 0.0 {
            t = t.min((hi - origin[a]) / dir[a]);
        } else if dir[a] < 0.0 {
            t = t.min((lo - origin[a]) / dir[a]);
        }
    }
    t
}

fn insert_all<M: CellModel>(
    map: &mut OccupancyMap<M>,
    scans: &[(Vector3<f64>, Vec<Vector3<f64>>)],
) {
    let mut ins = ScanInserter::new();
    for (o, p) in scans {
        ins.insert(map, o, p, 3.0);
    }
}

#[test]
fn int8_entropy_matches_the_float_map_on_the_same_scans() {
    let params = OccupancyParams::default();
    let mut fixed = FixedMap::fixed(RES, &params).unwrap_or_else(|e| panic!("{e}"));
    let mut float = FloatMap::float(RES, &params).unwrap_or_else(|e| panic!("{e}"));
    let scans = box_room_scans(30, 400);
    insert_all(&mut fixed, &scans);
    insert_all(&mut float, &scans);
    let a = query::entropy_bits(&fixed, None).unwrap_or_else(|e| panic!("{e}"));
    let b = query::entropy_bits(&float, None).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((a.cells, a.unknown), (b.cells, b.unknown));
    assert!(a.free + a.occupied > 20_000, "{a:?}");
    // The observed cells' entropy, where the two models differ.
    let (oa, ob) = (a.bits - a.unknown as f64, b.bits - b.unknown as f64);
    let rel = (oa - ob).abs() / ob;
    println!(
        "entropy: int8 {:.1} bits, f32 {:.1} bits ({} cells, {} unknown); observed cells {oa:.1} vs {ob:.1} ({:.2} %)",
        a.bits,
        b.bits,
        a.cells,
        a.unknown,
        100.0 * rel
    );
    // The int8 increments are 0.5 % (hit) and 2.3 % (miss) off in log-odds.
    assert!(rel < 0.03, "observed-cell entropy differs by {rel}");
    assert!((a.bits - b.bits).abs() / b.bits < 0.01);
    // In a box: the same closed form for the part outside the bricks.
    let bounds = (key(-20, -20, -5), key(40, 40, 30));
    let c = query::entropy_bits(&fixed, Some(bounds)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.cells, 61 * 61 * 36);
    let d = query::entropy_bits(&float, Some(bounds)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (c.free, c.occupied, c.unknown),
        (d.free, d.occupied, d.unknown)
    );
    assert!((c.bits - d.bits).abs() / d.bits < 0.01);
}

fn check_ray(
    map: &FixedMap,
    origin: &Vector3<f64>,
    dir: &Vector3<f64>,
    range: f64,
    out: &mut Vec<RaySample>,
) {
    let n = query::cast_ray(map, origin, dir, range, out).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(n, out.len());
    assert!(n >= 1);
    // The cells traverse gives for the same segment in cell units, then the
    // end point's cell.
    let unit = dir / dir.norm();
    let end = origin + unit * range;
    let (ks, ke) = (
        map.key(origin).unwrap_or_else(|| panic!("key")),
        map.key(&end).unwrap_or_else(|| panic!("key")),
    );
    let mut cells = Vec::new();
    traverse(&(origin / RES), &(end / RES), ks, ke, |k| cells.push(k));
    cells.push(ke);
    let keys: Vec<CellKey> = out.iter().map(|s| s.key).collect();
    assert_eq!(keys, cells, "ray {origin:?} {dir:?}");
    assert_eq!(out[0].enter_m, 0.0);
    assert!((out[n - 1].exit_m - range).abs() < 1e-12);
    let mut length = 0.0;
    for w in out.windows(2) {
        let (a, b) = (&w[0], &w[1]);
        let d = (a.key.x - b.key.x).abs() + (a.key.y - b.key.y).abs() + (a.key.z - b.key.z).abs();
        assert_eq!(d, 1, "not face neighbours");
        assert_eq!(a.exit_m, b.enter_m);
    }
    for s in out.iter() {
        assert!(s.exit_m >= s.enter_m);
        length += s.exit_m - s.enter_m;
        // The sample's extent along the beam lies in its cell (within rounding).
        let mid = origin + unit * (0.5 * (s.enter_m + s.exit_m));
        let c = map.center(s.key);
        for a in 0..3 {
            assert!((mid[a] - c[a]).abs() <= 0.5 * RES + 1e-9, "{s:?}");
        }
        // State, log-odds and probability agree with the map.
        assert_eq!(s.occupancy, map.occupancy(s.key));
        let l = map.model().log_odds(map.cell(s.key)).unwrap_or(0.0);
        assert_eq!(s.log_odds, l);
        assert!((s.p_occupied - 1.0 / (1.0 + (-l).exp())).abs() < 1e-15);
    }
    assert!((length - range).abs() < 1e-9, "{length} vs {range}");
}

#[test]
fn ray_samples_tile_the_beam_and_are_the_cells_traverse_visits() {
    let mut map = empty_map();
    insert_all(&mut map, &box_room_scans(5, 300));
    let mut out = Vec::new();
    let mut state = 0x1234_5678_9abc_def1_u64;
    let mut rand = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    for _ in 0..300 {
        let origin = Vector3::new(rand() * 4.0 - 1.0, rand() * 4.0 - 1.0, rand() * 2.5);
        let dir = Vector3::new(rand() - 0.5, rand() - 0.5, rand() - 0.5);
        check_ray(&map, &origin, &dir, 0.05 + rand() * 6.0, &mut out);
    }
    // Axis-aligned, negative, and inside one cell.
    let o = Vector3::new(0.55, 0.45, 1.25);
    check_ray(&map, &o, &Vector3::new(1.0, 0.0, 0.0), 2.0, &mut out);
    check_ray(&map, &o, &Vector3::new(0.0, -3.0, 0.0), 1.5, &mut out);
    check_ray(&map, &o, &Vector3::new(0.0, 0.0, 1.0), 0.01, &mut out);
    assert_eq!(out.len(), 1);
    // An unknown cell has p = 0.5.
    let mut empty = Vec::new();
    check_ray(
        &empty_map(),
        &o,
        &Vector3::new(1.0, 1.0, 0.2),
        3.0,
        &mut empty,
    );
    assert!(
        empty
            .iter()
            .all(|s| s.p_occupied == 0.5 && s.occupancy == Occupancy::Unknown)
    );
    // The buffer is reused, and bad rays are errors, not panics.
    let capacity = out.capacity();
    check_ray(&map, &o, &Vector3::new(1.0, 0.0, 0.0), 0.3, &mut out);
    assert_eq!(out.capacity(), capacity);
    assert!(query::cast_ray(&map, &o, &Vector3::zeros(), 1.0, &mut out).is_err());
    assert!(query::cast_ray(&map, &o, &Vector3::new(f64::NAN, 0.0, 0.0), 1.0, &mut out).is_err());
    assert!(
        query::cast_ray(
            &map,
            &o,
            &Vector3::new(1.0, 0.0, 0.0),
            f64::INFINITY,
            &mut out
        )
        .is_err()
    );
    assert!(query::cast_ray(&map, &o, &Vector3::new(1.0, 0.0, 0.0), 1e300, &mut out).is_err());
}

#[test]
fn first_occupied_finds_the_walls_of_a_box_room() {
    let mut map = empty_map();
    // Many scans from the middle, so the free space and walls are well seen.
    let mut ins = ScanInserter::new();
    let mut state = 0xdead_beef_cafe_f00d_u64;
    let mut rand = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    for _ in 0..12 {
        let origin = Vector3::new(0.9 + 0.2 * rand(), 0.9 + 0.2 * rand(), 1.2 + 0.1 * rand());
        let points: Vec<Vector3<f64>> = (0..20_000)
            .map(|_| {
                let dir = Vector3::new(rand() - 0.5, rand() - 0.5, rand() - 0.5).normalize();
                origin + dir * (wall_distance(&origin, &dir) - 1e-3)
            })
            .collect();
        ins.insert(&mut map, &origin, &points, 5.0);
    }
    let o = Vector3::new(1.05, 1.05, 1.25);
    // +x: the wall at x = 3, its cells x in [2.9, 3.0): entered at 1.85 m.
    for (dir, expected_m, expected_key) in [
        (Vector3::new(1.0, 0.0, 0.0), 1.85, key(29, 10, 12)),
        (Vector3::new(-1.0, 0.0, 0.0), 1.95, key(-10, 10, 12)),
        (Vector3::new(0.0, 0.0, -1.0), 1.15, key(10, 10, 0)),
        (Vector3::new(0.0, 0.0, 1.0), 1.15, key(10, 10, 24)),
    ] {
        match query::first_occupied(&map, &o, &dir, 5.0).unwrap_or_else(|e| panic!("{e}")) {
            RayOutcome::Blocked { key, distance_m } => {
                assert_eq!(key, expected_key, "{dir:?}");
                assert!(
                    (distance_m - expected_m).abs() < 1e-9,
                    "{dir:?}: {distance_m}"
                );
            }
            other => panic!("{dir:?}: {other:?}"),
        }
    }
    // Diagonal rays hit the wall within a cell of where it is.
    for i in 0..24 {
        let a = f64::from(i) * std::f64::consts::TAU / 24.0;
        let dir = Vector3::new(a.cos(), a.sin(), 0.1);
        let truth = wall_distance(&o, &(dir / dir.norm()));
        match query::first_occupied(&map, &o, &dir, 6.0).unwrap_or_else(|e| panic!("{e}")) {
            RayOutcome::Blocked { distance_m, .. } => {
                assert!(
                    distance_m <= truth && distance_m > truth - 2.0 * RES,
                    "angle {a}: {distance_m} vs wall at {truth}"
                );
            }
            other => panic!("angle {a}: {other:?}"),
        }
    }
    // Short of the wall: free to the maximum range.
    assert_eq!(
        query::first_occupied(&map, &o, &Vector3::new(1.0, 0.0, 0.0), 1.0)
            .unwrap_or_else(|e| panic!("{e}")),
        RayOutcome::Free
    );
    // Outside the room nothing was observed: an unknown cell stops the ray.
    let outside = Vector3::new(5.05, 1.05, 1.25);
    match query::first_occupied(&map, &outside, &Vector3::new(1.0, 0.0, 0.0), 2.0)
        .unwrap_or_else(|e| panic!("{e}"))
    {
        RayOutcome::Unknown { key, distance_m } => {
            assert_eq!(
                (key, distance_m),
                (map.key(&outside).unwrap_or_else(|| panic!("key")), 0.0)
            );
        }
        other => panic!("{other:?}"),
    }
}
