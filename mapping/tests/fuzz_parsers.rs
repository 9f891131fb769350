//! Property-based tests of the map's file readers (`testkit::fuzz`): any
//! bytes in a map file (`mapping::io`) or a scan file (`mapping::scans`)
//! give a value or an error naming the file, never a panic or an
//! allocation the file's size does not justify (a header that declares a
//! billion bricks or points is refused before anything is reserved).
//! Inputs are valid files with random edits, and random bytes.

use mapping::scans::{self, Scan};
use mapping::{FixedMap, OccupancyParams, ScanInserter, io};
use nalgebra::Vector3;

#[test]
fn a_map_file_gives_a_map_or_an_error() {
    let mut map =
        FixedMap::fixed(0.1, &OccupancyParams::default()).unwrap_or_else(|e| panic!("{e}"));
    let points: Vec<Vector3<f64>> = (0..200)
        .map(|k| {
            let a = k as f64 * 0.0314;
            Vector3::new(2.0 * a.cos(), 2.0 * a.sin(), 0.3 * (3.0 * a).sin())
        })
        .collect();
    ScanInserter::new().insert(&mut map, &Vector3::new(0.1, 0.2, 0.0), &points, 4.0);
    let mut sample = Vec::new();
    io::write_to(&map, &mut sample).unwrap_or_else(|e| panic!("{e}"));
    assert!(io::read_from(&mut sample.as_slice(), "map.bin").is_ok());
    testkit::fuzz("map.bin", &sample, |bytes| {
        if let Err(e) = io::read_from(&mut &bytes[..], "map.bin") {
            assert!(e.to_string().contains("map.bin"), "{e}");
        }
    });
}

#[test]
fn a_scan_file_gives_scans_or_an_error() {
    let scans_in: Vec<Scan> = (0..3)
        .map(|s| Scan {
            origin: Vector3::new(f64::from(s), 0.0, 1.0),
            points: (0..20)
                .map(|k| Vector3::new(f64::from(k) * 0.1, 2.0, f64::from(s)))
                .collect(),
        })
        .collect();
    let mut sample = Vec::new();
    scans::write_to(&mut sample, &scans_in).unwrap_or_else(|e| panic!("{e}"));
    assert!(scans::read_from(&mut sample.as_slice(), "scans.bin").is_ok());
    testkit::fuzz("scans.bin", &sample, |bytes| {
        match scans::read_from(&mut &bytes[..], "scans.bin") {
            Ok(read) => {
                let points: usize = read.iter().map(|s| s.points.len()).sum();
                assert!(
                    points * 12 <= bytes.len(),
                    "{points} points from {} bytes",
                    bytes.len()
                );
            }
            Err(e) => assert!(e.to_string().contains("scans.bin"), "{e}"),
        }
    });
}
