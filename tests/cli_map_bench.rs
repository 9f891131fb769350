//! End-to-end tests of `scout map-bench`: simulate a small scan file, bench it
//! (table and JSON), and the errors for a truncated file, a missing one and
//! conflicting options.

mod common;
use common::{scout, stderr, stdout};

use std::path::Path;

/// The first number on the table row that starts with `label`.
fn field(text: &str, label: &str) -> f64 {
    text.lines()
        .find_map(|l| l.trim_start().strip_prefix(label))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no number for {label:?} in\n{text}"))
}

/// Writes the small simulated file: 4 scans of 160 x 120 over 2 s.
fn simulate(dir: &Path) {
    let out = scout(
        &[
            "map-bench",
            "--simulate",
            "scans.bin",
            "--duration",
            "2",
            "--width",
            "160",
            "--height",
            "120",
        ],
        dir,
    );
    assert!(out.status.success(), "simulate failed: {}", stderr(&out));
    let text = stdout(&out);
    // 4 + 4 x (16 + 160 x 120 x 12) bytes: noise-free, every pixel a point.
    assert!(
        text.contains("wrote 4 scans, 76800 points, 921668 bytes to scans.bin"),
        "{text}"
    );
}

#[test]
fn map_bench_simulates_then_benches_a_scan_file() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    simulate(dir.path());

    let out = scout(
        &["map-bench", "--scans", "scans.bin", "--repeat", "2"],
        dir.path(),
    );
    assert!(out.status.success(), "bench failed: {}", stderr(&out));
    let text = stdout(&out);
    assert_eq!(field(&text, "scans"), 4.0, "{text}");
    assert_eq!(field(&text, "points"), 76800.0, "{text}");
    assert_eq!(field(&text, "rays refused"), 0.0, "{text}");
    assert_eq!(field(&text, "resolution"), 0.05, "{text}");
    assert_eq!(field(&text, "max range"), 5.0, "{text}");
    assert!(
        text.contains("free space") && text.contains("exact"),
        "{text}"
    );
    let updates = field(&text, "cell updates");
    let traversed = field(&text, "cells traversed");
    assert!(updates > 10_000.0 && traversed > updates, "{text}");
    assert!(field(&text, "seconds") > 0.0, "{text}");
    assert!(field(&text, "updates per second") > 0.0, "{text}");
    assert!(field(&text, "traversed per second") > 0.0, "{text}");
    let cells = field(&text, "allocated cells");
    let bricks = field(&text, "bricks");
    assert_eq!(cells, bricks * 512.0, "{text}");
    let bytes = field(&text, "bytes per cell");
    assert!((1.0..=1.25).contains(&bytes), "{text}");
    assert!(field(&text, "int8 / f32 throughput") > 0.0, "{text}");
    // Both maps are on the rows: the f32 one holds four bytes per cell.
    let row = text
        .lines()
        .find(|l| l.trim_start().starts_with("bytes per cell"))
        .unwrap_or_default();
    let f32_bytes: f64 = row
        .split_whitespace()
        .last()
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN);
    assert!((4.0..=4.25).contains(&f32_bytes), "{text}");

    // The figures as JSON, in the discretized mode: fewer cells traversed.
    let out = scout(
        &[
            "map-bench",
            "--scans",
            "scans.bin",
            "--repeat",
            "1",
            "--free-space",
            "discretized",
            "--json",
        ],
        dir.path(),
    );
    assert!(
        out.status.success(),
        "bench --json failed: {}",
        stderr(&out)
    );
    let report: serde_json::Value =
        serde_json::from_str(&stdout(&out)).unwrap_or_else(|e| panic!("{e}: {}", stdout(&out)));
    assert_eq!(report["scans"], 4);
    assert_eq!(report["points"], 76800);
    assert_eq!(report["free_space"], "discretized");
    for map in ["int8", "f32"] {
        let m = &report[map];
        assert!(m["cell_updates"].as_u64().unwrap_or(0) > 10_000, "{report}");
        assert_eq!(
            m["cell_updates"].as_u64(),
            m["free_updates"]
                .as_u64()
                .zip(m["occupied_updates"].as_u64())
                .map(|(a, b)| a + b),
            "{report}"
        );
        assert!(
            m["cells_traversed"].as_f64().unwrap_or(f64::INFINITY) < traversed,
            "{report}"
        );
        assert!(m["updates_per_second"].as_f64().unwrap_or(0.0) > 0.0);
    }
    let bytes = report["int8"]["bytes_per_cell"].as_f64().unwrap_or(0.0);
    assert!((1.0..=1.25).contains(&bytes), "{report}");
}

#[test]
fn map_bench_names_the_file_and_the_offset_of_a_problem() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    simulate(dir.path());
    let bytes = std::fs::read(dir.path().join("scans.bin")).unwrap_or_else(|e| panic!("{e}"));

    // Cut in the middle of the second scan's points.
    let cut = 4 + (16 + 19_200 * 12) + 16 + 1000;
    std::fs::write(dir.path().join("cut.bin"), &bytes[..cut]).unwrap_or_else(|e| panic!("{e}"));
    let out = scout(&["map-bench", "--scans", "cut.bin"], dir.path());
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("cut.bin: at byte 230432: scan 1 (of 4) declares 19200 points")
            && err.contains(&format!("the file ends at byte {cut}"))
            && err.contains("truncated"),
        "{err}"
    );
    assert!(stdout(&out).is_empty(), "{}", stdout(&out));

    // Trailing bytes.
    let mut long = bytes.clone();
    long.extend_from_slice(b"junk");
    std::fs::write(dir.path().join("long.bin"), &long).unwrap_or_else(|e| panic!("{e}"));
    let out = scout(&["map-bench", "--scans", "long.bin"], dir.path());
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("long.bin: at byte 921668: 4 unexpected bytes after the last"),
        "{}",
        stderr(&out)
    );

    // A missing file: named once, with the system's reason.
    let out = scout(&["map-bench", "--scans", "absent.bin"], dir.path());
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("absent.bin"), "{err}");
    assert_eq!(err.matches("absent.bin").count(), 1, "{err}");

    // Options of the other mode, and neither mode, are refused by the parser.
    for args in [
        &["map-bench", "--scans", "scans.bin", "--seed", "3"][..],
        &["map-bench", "--simulate", "x.bin", "--res", "0.1"],
        &["map-bench"],
        &["map-bench", "--scans", "scans.bin", "--repeat", "0"],
    ] {
        let out = scout(args, dir.path());
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
    }
    // A bad value for the map is an error naming it.
    let out = scout(
        &["map-bench", "--scans", "scans.bin", "--max-range", "0"],
        dir.path(),
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--max-range"), "{}", stderr(&out));
}
