//! Saving, loading and exporting maps: exact round trips, deterministic
//! bytes, every kind of damaged file refused with its path named, and exports
//! read back with an independent parser (PLY) or decoder (PNG).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use mapping::io::{self, HEADER_BYTES};
use mapping::map::{BRICK_CELLS, CellModel};
use mapping::query::{self, CellRect};
use mapping::{BrickKey, FixedMap, MappingError, Occupancy, OccupancyParams, ScanInserter};
use nalgebra::Vector3;

const RES: f64 = 0.1;

/// End points on a grid of points on the walls, floor and ceiling of
/// a box room (x, y in [-1, 3] m, z in [0, 2.5] m), ending just inside.
fn box_room_scan(spacing: f64) -> Vec<Vector3<f64>> {
    let (lo, hi) = ([-1.0, -1.0, 0.0], [3.0, 3.0, 2.5]);
    let mut points = Vec::new();
    for a in 0..3 {
        let (u, v) = ((a + 1) % 3, (a + 2) % 3);
        let nu = ((hi[u] - lo[u]) / spacing) as usize;
        let nv = ((hi[v] - lo[v]) / spacing) as usize;
        for (wall, inward) in [(lo[a], 1e-3), (hi[a], -1e-3)] {
            for i in 0..nu {
                for j in 0..nv {
                    let mut p = Vector3::zeros();
                    p[a] = wall + inward;
                    p[u] = lo[u] + (i as f64 + 0.5) * spacing;
                    p[v] = lo[v] + (j as f64 + 0.5) * spacing;
                    points.push(p);
                }
            }
        }
    }
    points
}

fn box_room_map() -> FixedMap {
    let mut map =
        FixedMap::fixed(RES, &OccupancyParams::default()).unwrap_or_else(|e| panic!("{e}"));
    let mut ins = ScanInserter::new();
    for origin in [
        Vector3::new(1.03, 1.07, 1.21),
        Vector3::new(0.12, 2.31, 0.83),
        Vector3::new(2.44, -0.35, 1.66),
    ] {
        let points = box_room_scan(0.13);
        ins.insert(&mut map, &origin, &points, 4.0);
    }
    map
}

fn assert_same_map(a: &FixedMap, b: &FixedMap) {
    assert_eq!(a.resolution().to_bits(), b.resolution().to_bits());
    assert_eq!(a.model(), b.model());
    assert_eq!(a.brick_count(), b.brick_count());
    for (k, cells) in a.bricks() {
        let other = b.brick(k).unwrap_or_else(|| panic!("brick {k:?} missing"));
        assert_eq!(cells, other, "brick {k:?}");
    }
}

fn encode(map: &FixedMap) -> Vec<u8> {
    let mut bytes = Vec::new();
    io::write_to(map, &mut bytes).unwrap_or_else(|e| panic!("{e}"));
    bytes
}

/// FNV-1a 64, written again here so the tests can reseal edited files.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Fixes the length field and the checksum after an edit.
fn reseal(mut body: Vec<u8>) -> Vec<u8> {
    let len = (body.len() + 8) as u64;
    body[16..24].copy_from_slice(&len.to_le_bytes());
    let h = fnv1a(&body);
    body.extend_from_slice(&h.to_le_bytes());
    body
}

fn format_error(bytes: &[u8], name: &str) -> String {
    match io::read_from(&mut &bytes[..], name) {
        Ok(_) => panic!("{name}: loaded a damaged file"),
        Err(MappingError::Format { path, message }) => {
            assert_eq!(path, PathBuf::from(name));
            message
        }
        Err(e) => panic!("{name}: not a format error: {e}"),
    }
}

/// The offset of each brick record (key, encoding, payload) in a valid file.
fn brick_offsets(bytes: &[u8]) -> Vec<usize> {
    let count = u64::from_le_bytes(bytes[48..56].try_into().unwrap_or_else(|e| panic!("{e}")));
    let mut at = HEADER_BYTES;
    let mut out = Vec::new();
    for _ in 0..count {
        out.push(at);
        at += 12;
        let enc = bytes[at];
        at += 1;
        if enc == 0 {
            at += BRICK_CELLS;
        } else {
            let runs = u16::from_le_bytes([bytes[at], bytes[at + 1]]);
            at += 2 + 2 * usize::from(runs);
        }
    }
    assert_eq!(at, bytes.len() - 8);
    out
}

#[test]
fn save_then_load_gives_the_same_map_bit_for_bit() {
    let map = box_room_map();
    assert!(map.brick_count() > 50, "{} bricks", map.brick_count());
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("room.scoutmap");
    let report = io::save(&map, &path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.bricks, map.brick_count() as u64);
    let on_disk = std::fs::metadata(&path)
        .unwrap_or_else(|e| panic!("{e}"))
        .len();
    assert_eq!(report.bytes, on_disk);
    let loaded = io::load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_same_map(&map, &loaded);
    assert_same_map(&loaded, &map);
    // In memory too, and saving the loaded map gives the same bytes.
    let bytes = encode(&map);
    let again = io::read_from(&mut &bytes[..], "memory").unwrap_or_else(|e| panic!("{e}"));
    assert_same_map(&map, &again);
    assert_eq!(encode(&loaded), bytes);
    // Nothing but the file is left in the directory (no temporary files).
    let entries: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap_or_else(|e| panic!("{e}"))
        .filter_map(Result::ok)
        .map(|e| e.file_name())
        .collect();
    assert_eq!(entries, vec![std::ffi::OsString::from("room.scoutmap")]);
    println!(
        "box room: {} bricks, {} bytes, {:.3} bytes per cell ({:.3} raw), {} bricks as runs",
        report.bricks,
        report.bytes,
        report.bytes_per_cell(),
        report.raw_bytes() as f64 / (report.bricks as f64 * 512.0),
        report.run_bricks
    );
}

#[test]
fn the_same_map_always_gives_the_same_bytes() {
    let map = box_room_map();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (a, b) = (dir.path().join("a.map"), dir.path().join("b.map"));
    io::save(&map, &a).unwrap_or_else(|e| panic!("{e}"));
    io::save(&map, &b).unwrap_or_else(|e| panic!("{e}"));
    let read = |p: &Path| std::fs::read(p).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(read(&a), read(&b));
    // A copy whose bricks went into its hash table in the opposite order.
    let mut copy =
        FixedMap::with_model(map.resolution(), *map.model()).unwrap_or_else(|e| panic!("{e}"));
    let mut bricks: Vec<_> = map.bricks().collect();
    bricks.sort_by_key(|(k, _)| std::cmp::Reverse((k.x, k.y, k.z)));
    for (k, cells) in bricks {
        copy.insert_brick(k, Box::new(*cells));
    }
    io::save(&copy, &b).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(read(&a), read(&b));
    // Overwriting an existing file works and replaces it.
    io::save(
        &FixedMap::fixed(RES, &OccupancyParams::default()).unwrap_or_else(|e| panic!("{e}")),
        &b,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(read(&b).len(), HEADER_BYTES + 8);
    assert_eq!(
        io::load(&b)
            .map(|m| m.brick_count())
            .unwrap_or_else(|e| panic!("{e}")),
        0
    );
}

#[test]
fn a_truncated_file_is_refused_at_every_length_with_its_path_and_offset() {
    let bytes = encode(&box_room_map());
    let n = bytes.len();
    // Every length through the header and the first bricks, then a dense
    // sample, then every length near the end.
    let mut lengths: Vec<usize> = (0..(HEADER_BYTES + 2000).min(n)).collect();
    lengths.extend((HEADER_BYTES + 2000..n).step_by(37));
    lengths.extend(n.saturating_sub(40)..n);
    for len in lengths {
        let message = format_error(&bytes[..len], "cut.map");
        assert!(
            message.contains("truncated") && message.contains(&format!("ends at byte {len}")),
            "length {len}: {message}"
        );
    }
    // The message says what was being read.
    let in_header = format_error(&bytes[..35], "cut.map");
    assert!(in_header.contains("the log-odds step"), "{in_header}");
    let second = brick_offsets(&bytes)[1];
    let in_brick = format_error(&bytes[..second + 5], "cut.map");
    assert!(in_brick.contains("of brick 1 (of"), "{in_brick}");
    println!("cut in the header: {in_header}\ncut in a brick: {in_brick}");
    // Through a real file the error names the file.
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("cut.map");
    std::fs::write(&path, &bytes[..n / 2]).unwrap_or_else(|e| panic!("{e}"));
    match io::load(&path) {
        Err(e @ MappingError::Format { .. }) => {
            assert!(e.to_string().contains(&path.display().to_string()), "{e}");
        }
        other => panic!("{other:?}"),
    }
    // Trailing bytes are refused as well.
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(format_error(&longer, "long.map").contains("unexpected bytes"));
}

#[test]
fn a_changed_byte_anywhere_after_the_length_fails_the_checksum() {
    let bytes = encode(&box_room_map());
    let offsets = brick_offsets(&bytes);
    let mut run_brick = None;
    let mut raw_brick = None;
    for &o in &offsets {
        if bytes[o + 12] == 1 {
            run_brick.get_or_insert(o);
        } else {
            raw_brick.get_or_insert(o);
        }
    }
    let mut targets = vec![24, 33, 41, 49, bytes.len() - 9, bytes.len() - 1];
    for o in run_brick.into_iter().chain(raw_brick) {
        targets.extend([o, o + 11, o + 12, o + 13, o + 15, o + 16, o + 40]);
    }
    for (i, &at) in targets.iter().enumerate() {
        let mut damaged = bytes.clone();
        damaged[at] ^= 1 << (i % 8);
        let message = format_error(&damaged, "flipped.map");
        assert!(
            message.contains("checksum mismatch"),
            "byte {at}: {message}"
        );
        if i == 0 {
            println!("flipped byte: {message}");
        }
    }
}

#[test]
fn wrong_magic_version_and_header_fields_are_refused_by_name() {
    let bytes = encode(&box_room_map());
    let edit = |at: usize, new: &[u8]| {
        let mut b = bytes[..bytes.len() - 8].to_vec();
        b[at..at + new.len()].copy_from_slice(new);
        reseal(b)
    };
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (edit(0, b"OCTOMAP!"), "not a scout map"),
        (edit(8, &2u32.to_le_bytes()), "unsupported format version 2"),
        (edit(12, &[2]), "cell type"),
        (edit(13, &[16]), "brick side"),
        (edit(24, &f64::NAN.to_le_bytes()), "resolution"),
        (edit(24, &(-0.1f64).to_le_bytes()), "resolution"),
        (edit(32, &0.0f64.to_le_bytes()), "step"),
        (edit(42, &[100]), "min <= threshold"),
        (edit(40, &[0]), "miss < 0 < hit"),
        (edit(48, &u64::MAX.to_le_bytes()), "cannot fit"),
        (edit(48, &(1u64 << 40).to_le_bytes()), "cannot fit"),
        (
            edit(HEADER_BYTES, &i32::MAX.to_le_bytes()),
            "outside the map's range",
        ),
    ];
    for (damaged, expected) in cases {
        let message = format_error(&damaged, "edited.map");
        assert!(
            message.contains(expected),
            "expected {expected:?} in {message}"
        );
    }
    // An unsupported version is named even if the file is otherwise garbage.
    let mut v9 = bytes.clone();
    v9[8..12].copy_from_slice(&9u32.to_le_bytes());
    assert!(format_error(&v9, "v9.map").contains("version 9"));
    // A short file that is not a map at all.
    assert!(format_error(b"hello", "hello.txt").contains("not a scout map"));
    assert!(format_error(b"", "empty.map").contains("ends at byte 0"));
    assert!(format_error(b"SCOUT", "short.map").contains("truncated"));
    assert!(format_error(b"hello, world", "hello.txt").contains("not a scout map"));
}

#[test]
fn duplicate_or_unordered_bricks_and_impossible_cells_are_refused() {
    let bytes = encode(&box_room_map());
    let offsets = brick_offsets(&bytes);
    let body = &bytes[..bytes.len() - 8];
    let record = |i: usize| {
        let end = offsets.get(i + 1).copied().unwrap_or(body.len());
        body[offsets[i]..end].to_vec()
    };
    let with_records = |records: &[Vec<u8>]| {
        let mut b = body[..HEADER_BYTES].to_vec();
        b[48..56].copy_from_slice(&(records.len() as u64).to_le_bytes());
        for r in records {
            b.extend_from_slice(r);
        }
        reseal(b)
    };
    let dup = with_records(&[record(0), record(1), record(1)]);
    assert!(format_error(&dup, "dup.map").contains("duplicate"));
    let swapped = with_records(&[record(1), record(0)]);
    assert!(format_error(&swapped, "order.map").contains("out of order"));
    // A raw brick with a value beyond the clamp (not reachable by updates).
    let mut raw = record(0)[..12].to_vec();
    raw.push(0);
    raw.extend(std::iter::repeat_n(0x80u8, BRICK_CELLS));
    raw[13 + 7] = 127;
    let map = box_room_map();
    if map.model().max < 127 {
        assert!(format_error(&with_records(&[raw.clone()]), "cell.map").contains("outside"));
    }
    raw[13 + 7] = (map.model().min - 1) as u8;
    assert!(format_error(&with_records(&[raw.clone()]), "cell.map").contains("cell 7 holds"));
    // Runs that do not cover the brick exactly, or an unknown encoding.
    let runs = |pairs: &[(u8, u8)]| {
        let mut r = record(0)[..12].to_vec();
        r.push(1);
        r.extend_from_slice(&(pairs.len() as u16).to_le_bytes());
        for &(l, v) in pairs {
            r.extend([l, v]);
        }
        r
    };
    let ok = with_records(&[runs(&[(255, 0x80), (255, 0x80)])]);
    let loaded = io::read_from(&mut &ok[..], "ok.map").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(loaded.brick_count(), 1);
    let short = with_records(&[runs(&[(255, 0x80), (254, 0x80)])]);
    assert!(format_error(&short, "runs.map").contains("cover 511 cells"));
    let long = with_records(&[runs(&[(255, 0x80), (255, 0x80), (0, 0x80)])]);
    assert!(format_error(&long, "runs.map").contains("more than 512"));
    let none = with_records(&[runs(&[]), record(1)]);
    assert!(format_error(&none, "runs.map").contains("0 runs"));
    let mut odd = raw;
    odd[12] = 7;
    assert!(format_error(&with_records(&[odd]), "enc.map").contains("encoding 7"));
}

#[test]
fn random_damage_never_panics() {
    let bytes = encode(&box_room_map());
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for trial in 0..600 {
        let mut b = bytes.clone();
        for _ in 0..1 + next() % 4 {
            let at = (next() % b.len() as u64) as usize;
            b[at] = next() as u8;
        }
        if trial % 3 == 0 {
            let cut = (next() % b.len() as u64) as usize;
            b.truncate(cut);
        }
        // Resealed half the time, so the parser behind the checksum is hit too.
        let b = if trial % 2 == 0 && b.len() > HEADER_BYTES + 8 {
            let n = b.len() - 8;
            b.truncate(n);
            reseal(b)
        } else {
            b
        };
        if let Err(e) = io::read_from(&mut &b[..], "fuzz.map") {
            assert!(e.to_string().starts_with("fuzz.map: "), "{e}");
        }
    }
}

#[test]
fn saving_into_a_missing_directory_is_an_io_error_naming_the_path() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("no").join("such").join("dir.map");
    match io::save(&box_room_map(), &path) {
        Err(MappingError::Io { path: p, .. }) => assert_eq!(p, path),
        other => panic!("{other:?}"),
    }
    match io::load(&path) {
        Err(e @ MappingError::Io { .. }) => assert!(e.to_string().contains("dir.map"), "{e}"),
        other => panic!("{other:?}"),
    }
}

/// The occupied cells of a map, as keys.
fn occupied_keys(map: &FixedMap) -> HashSet<(i32, i32, i32)> {
    let mut out = HashSet::new();
    for (b, cells) in map.bricks() {
        for (i, &c) in cells.iter().enumerate() {
            if map.model().occupancy(c) == Occupancy::Occupied {
                let k = FixedMap::key_in_brick(b, i);
                out.insert((k.x, k.y, k.z));
            }
        }
    }
    out
}

#[test]
fn ply_holds_every_occupied_cell_centre_once() {
    let map = box_room_map();
    let expected = occupied_keys(&map);
    assert!(expected.len() > 1000, "{} occupied", expected.len());
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("room.ply");
    let n = io::export_ply(&map, &path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(n, expected.len());
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{e}"));
    // Parse the header as a PLY reader would.
    let marker = b"end_header\n";
    let end = bytes
        .windows(marker.len())
        .position(|w| w == marker)
        .unwrap_or_else(|| panic!("no end_header"))
        + marker.len();
    let header = std::str::from_utf8(&bytes[..end]).unwrap_or_else(|e| panic!("{e}"));
    let lines: Vec<&str> = header.lines().collect();
    assert_eq!(lines[0], "ply");
    assert_eq!(lines[1], "format binary_little_endian 1.0");
    let mut vertices = None;
    let mut properties = Vec::new();
    for l in &lines {
        let w: Vec<&str> = l.split_whitespace().collect();
        match w.as_slice() {
            ["element", "vertex", c] => vertices = c.parse::<usize>().ok(),
            ["element", ..] => panic!("unexpected element {l}"),
            ["property", t, name] => properties.push((t.to_string(), name.to_string())),
            _ => {}
        }
    }
    assert_eq!(vertices, Some(expected.len()));
    let names: Vec<&str> = properties.iter().map(|(_, n)| n.as_str()).collect();
    assert_eq!(names, ["x", "y", "z", "red", "green", "blue"]);
    assert_eq!(bytes.len() - end, 15 * expected.len());
    // Every vertex is the centre of a distinct occupied cell.
    let mut seen = HashSet::new();
    let (mut lowest, mut highest) = ([0u8; 3], [0u8; 3]);
    let (mut z_lo, mut z_hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in bytes[end..].chunks_exact(15) {
        let f = |i: usize| f64::from(f32::from_le_bytes([v[i], v[i + 1], v[i + 2], v[i + 3]]));
        let p = Vector3::new(f(0), f(4), f(8));
        let k = map.key(&p).unwrap_or_else(|| panic!("{p:?}"));
        assert!((map.center(k) - p).norm() < 1e-5, "{p:?} is not a centre");
        assert!(expected.contains(&(k.x, k.y, k.z)), "{k:?} is not occupied");
        assert!(seen.insert((k.x, k.y, k.z)));
        if p.z < z_lo {
            z_lo = p.z;
            lowest.copy_from_slice(&v[12..15]);
        }
        if p.z > z_hi {
            z_hi = p.z;
            highest.copy_from_slice(&v[12..15]);
        }
    }
    // Blue at the floor, red at the ceiling.
    assert_eq!(lowest, [0, 0, 255]);
    assert_eq!(highest, [255, 0, 0]);
}

#[test]
fn png_pixels_are_the_slice_with_x_right_and_y_up() {
    let map = box_room_map();
    let slice = query::slice_at(&map, 1.25, None).unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("slice.png");
    let placement = io::export_png(&slice, &path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(placement.origin_m, slice.origin_m);
    assert_eq!(placement.resolution_m, RES);
    let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{e}"));
    let mut reader = png::Decoder::new(std::io::BufReader::new(file))
        .read_info()
        .unwrap_or_else(|e| panic!("{e}"));
    let texts: Vec<(String, String)> = reader
        .info()
        .uncompressed_latin1_text
        .iter()
        .map(|t| (t.keyword.clone(), t.text.clone()))
        .collect();
    assert!(
        texts.contains(&("scout:resolution_m".into(), "0.1".into())),
        "{texts:?}"
    );
    let mut buf = vec![0; reader.output_buffer_size().unwrap_or(0)];
    let info = reader
        .next_frame(&mut buf)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(info.color_type, png::ColorType::Grayscale);
    assert_eq!(info.bit_depth, png::BitDepth::Eight);
    assert_eq!(
        (info.width as usize, info.height as usize),
        (slice.width, slice.height)
    );
    let mut counts = [0usize; 3];
    for v in 0..slice.height {
        for u in 0..slice.width {
            let pixel = buf[v * info.line_size + u];
            // Pixel (u, v) from the top-left is slice (col u, row height-1-v).
            let row = slice.height - 1 - v;
            let expected = match slice.get(u, row) {
                Some(Occupancy::Unknown) => 128,
                Some(Occupancy::Free) => 255,
                Some(Occupancy::Occupied) => 0,
                None => panic!("outside"),
            };
            assert_eq!(pixel, expected, "pixel ({u}, {v})");
            // And the pixel's world position holds that state in the map.
            let [x, y] = slice.center(u, row);
            let k = map
                .key(&Vector3::new(x, y, 1.25))
                .unwrap_or_else(|| panic!("key"));
            assert_eq!(slice.get(u, row), Some(map.occupancy(k)));
            counts[match pixel {
                0 => 0,
                255 => 1,
                _ => 2,
            }] += 1;
        }
    }
    assert!(counts.iter().all(|&c| c > 0), "{counts:?}");
    // A world point with larger y is in a higher (smaller v) pixel row.
    let (_, r0) = slice.cell_of(1.0, 0.0).unwrap_or_else(|| panic!("inside"));
    let (_, r1) = slice.cell_of(1.0, 2.0).unwrap_or_else(|| panic!("inside"));
    assert!(r1 > r0);
    // An empty slice cannot be a PNG, and says so.
    let empty = query::slice_at(
        &map,
        1.25,
        Some(CellRect {
            min_x: 0,
            min_y: 0,
            max_x: 0,
            max_y: 0,
        }),
    )
    .map(|mut s| {
        s.width = 0;
        s.cells.clear();
        s
    })
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(
        io::export_png(&empty, dir.path().join("empty.png")),
        Err(MappingError::Config(_))
    ));
}

/// The map of a simulated flight (the `map_insert` bench's world and depth
/// camera, fewer and smaller scans): on-disk size with runs against raw.
#[test]
fn compression_on_a_simulated_flight() {
    use mapping::scans::{SimulatedScans, simulate_depth_scans};

    // `SCOUT_IO_FULL=1`: the bench's own scans (320 x 240 every 0.5 s).
    let full = std::env::var("SCOUT_IO_FULL").is_ok();
    let cfg = SimulatedScans {
        width: if full { 320 } else { 160 },
        height: if full { 240 } else { 120 },
        period_s: if full { 0.5 } else { 1.5 },
        ..SimulatedScans::default()
    };
    let simulated = simulate_depth_scans(&cfg).unwrap_or_else(|e| panic!("{e}"));
    let mut map =
        FixedMap::fixed(0.05, &OccupancyParams::default()).unwrap_or_else(|e| panic!("{e}"));
    let mut ins = ScanInserter::new();
    for scan in &simulated {
        ins.insert(&mut map, &scan.origin, &scan.points, 5.0);
    }
    let (scans, width, height) = (simulated.len(), cfg.width, cfg.height);
    let mut bytes = Vec::new();
    let report = io::write_to(&map, &mut bytes).unwrap_or_else(|e| panic!("{e}"));
    let cells = (report.bricks * 512) as f64;
    // What the bricks hold: partly unknown ones, and runs of equal cells.
    let (mut partly_unknown, mut runs) = (0, 0);
    for (_, c) in map.bricks() {
        partly_unknown += usize::from(c.contains(&mapping::logodds::UNKNOWN_I8));
        runs += 1 + c.windows(2).filter(|w| w[0] != w[1]).count();
    }
    println!(
        "simulated flight: {partly_unknown} of {} bricks partly unknown, {:.1} runs of equal cells per brick",
        map.brick_count(),
        runs as f64 / map.brick_count() as f64
    );
    println!(
        "simulated flight: {scans} scans of {width} x {height}, {} bricks; on disk {:.3} bytes per cell \
         with runs ({} bytes, {} of {} bricks as runs), {:.3} raw ({} bytes); in memory {:.3}",
        report.bricks,
        report.bytes as f64 / cells,
        report.bytes,
        report.run_bricks,
        report.bricks,
        report.raw_bytes() as f64 / cells,
        report.raw_bytes(),
        map.memory_bytes() as f64 / cells,
    );
    assert!(report.bytes * 2 < report.raw_bytes(), "{report:?}");
    let loaded = io::read_from(&mut &bytes[..], "flight.map").unwrap_or_else(|e| panic!("{e}"));
    assert_same_map(&map, &loaded);
}

#[test]
fn bricks_of_one_value_take_a_few_bytes_and_mixed_ones_stay_raw() {
    let mut map =
        FixedMap::fixed(RES, &OccupancyParams::default()).unwrap_or_else(|e| panic!("{e}"));
    let min = map.model().min;
    map.insert_brick(BrickKey { x: 0, y: 0, z: 0 }, Box::new([min; BRICK_CELLS]));
    let mut mixed = [0i8; BRICK_CELLS];
    for (i, c) in mixed.iter_mut().enumerate() {
        *c = (i % 2) as i8;
    }
    map.insert_brick(BrickKey { x: -1, y: 5, z: -3 }, Box::new(mixed));
    let mut bytes = Vec::new();
    let report = io::write_to(&map, &mut bytes).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.run_bricks, 1);
    // Header, one raw record, one record of two runs, checksum.
    assert_eq!(
        report.bytes as usize,
        HEADER_BYTES + (13 + 512) + (13 + 2 + 4) + 8
    );
    let loaded = io::read_from(&mut &bytes[..], "two.map").unwrap_or_else(|e| panic!("{e}"));
    assert_same_map(&map, &loaded);
}
