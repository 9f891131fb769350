//! End-to-end tests of `scout explore` and `scout explore-bench`: the outputs a
//! user reads (coverage log, summary, cost, map picture) agree with each other,
//! and bad input is refused with the file named.

mod common;
use common::{scout, stderr, stdout};

#[test]
fn explore_writes_a_consistent_coverage_log_summary_cost_and_map() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let out = scout(
        &[
            "explore",
            "--world-seed",
            "1",
            "--planner",
            "mi",
            "--out",
            "run",
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("world 1 with mi: Covered"),
        "{}",
        stdout(&out)
    );
    let run = dir.path().join("run");
    let summary: serde_json::Value = serde_json::from_slice(
        &std::fs::read(run.join("summary.json")).unwrap_or_else(|e| panic!("{e}")),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(summary["outcome"], "covered");
    assert_eq!(summary["planner"], "mi");
    let target = summary["distance_to_target_m"]
        .as_f64()
        .unwrap_or_else(|| panic!("missing value"));
    // The log's last row is the summary's end, and coverage reached 95 %.
    let csv = std::fs::read_to_string(run.join("coverage.csv")).unwrap_or_else(|e| panic!("{e}"));
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("time_s,distance_m,coverage,known_cells,plans")
    );
    let rows: Vec<Vec<f64>> = lines
        .map(|l| {
            l.split(',')
                .map(|v| v.parse().unwrap_or_else(|e| panic!("{e}")))
                .collect()
        })
        .collect();
    let last = rows.last().unwrap_or_else(|| panic!("missing value"));
    assert!((last[1] - target).abs() < 1e-3, "{last:?} vs {target}");
    assert!(
        last[2] >= 0.95
            && (last[2]
                - summary["coverage"]
                    .as_f64()
                    .unwrap_or_else(|| panic!("missing value")))
            .abs()
                < 1e-5
    );
    assert!(
        (last[0] - target / 0.5).abs() < 1e-2,
        "time is path over 0.5 m/s"
    );
    // The cost names the MI kernel with as many beams as poses x 60.
    let cost = cost::CostReport::read(&run.join("cost.json")).unwrap_or_else(|e| panic!("{e}"));
    let stage = |name: &str| {
        cost.stages
            .iter()
            .find(|s| s.stage == name)
            .unwrap_or_else(|| panic!("no stage {name}"))
    };
    let fsmi = stage("explore")
        .kernels
        .iter()
        .find(|k| k.kernel == "fsmi_beam")
        .unwrap_or_else(|| panic!("missing value"));
    let poses = summary["candidates_scored"]
        .as_u64()
        .unwrap_or_else(|| panic!("missing value"));
    assert_eq!(fsmi.cost.calls, poses * 60);
    assert!(
        stage("map")
            .kernels
            .iter()
            .any(|k| k.kernel == "map_update")
    );
    // And the cost model reads it.
    let o = scout(
        &["cost", "run/cost.json", "--hw", "accel", "--json"],
        dir.path(),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // A PNG, 3 pixels per cell.
    let png = std::fs::read(run.join("map.png")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(&png[1..4], b"PNG");
    let be = |at: usize| u32::from_be_bytes([png[at], png[at + 1], png[at + 2], png[at + 3]]);
    let (width, height) = (be(16), be(20));
    // The world's room (8-9.6 m a side) plus margins, 3 pixels per 5 cm cell.
    assert!(width % 3 == 0 && height % 3 == 0, "{width} x {height}");
    assert!(
        (480..=630).contains(&width) && (360..=630).contains(&height),
        "{width} x {height}"
    );
}

#[test]
fn explore_refuses_a_bad_config_naming_the_file() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(dir.path().join("bad.toml"), "[explore]\nrange = 3\n")
        .unwrap_or_else(|e| panic!("{e}"));
    let out = scout(
        &[
            "explore",
            "--planner",
            "frontier",
            "--out",
            "o",
            "--config",
            "bad.toml",
        ],
        dir.path(),
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("bad.toml"), "{}", stderr(&out));
    std::fs::write(dir.path().join("neg.toml"), "[explore]\nspeed_m_s = -1.0\n")
        .unwrap_or_else(|e| panic!("{e}"));
    let out = scout(
        &["explore", "--out", "o", "--config", "neg.toml"],
        dir.path(),
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("speed_m_s"), "{}", stderr(&out));
    assert!(stderr(&out).contains("neg.toml"), "{}", stderr(&out));
    assert!(
        !dir.path().join("o").exists(),
        "nothing written for a refused run"
    );
}

#[test]
fn explore_bench_reports_accuracy_map_scoring_and_worlds() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let out = scout(
        &[
            "explore-bench",
            "--beams",
            "5",
            "--repeat",
            "1",
            "--worlds",
            "1",
            "--first-seed",
            "8",
            "--json",
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value =
        serde_json::from_str(&stdout(&out)).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        v["accuracy"]["max_relative_error"]
            .as_f64()
            .unwrap_or_else(|| panic!("missing value"))
            < 0.01
    );
    assert!(
        v["accuracy"]["speedup"]
            .as_f64()
            .unwrap_or_else(|| panic!("missing value"))
            > 1.0
    );
    assert_eq!(
        v["map"]["full_visits"]
            .as_u64()
            .unwrap_or_else(|| panic!("missing value")),
        201 * 201 * 60 * 100
    );
    assert!(
        v["map"]["early_visits"]
            .as_u64()
            .unwrap_or_else(|| panic!("missing value"))
            < 201 * 201 * 60 * 100
    );
    let world = &v["worlds"][0];
    assert_eq!(world["seed"], 8);
    assert_eq!(world["mi_outcome"], "covered");
    assert_eq!(world["frontier_outcome"], "covered");
}
