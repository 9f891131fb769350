//! `scout replay` writes the counted work of every stage to `cost.json`, and
//! `scout cost` turns it into energy and latency on each shipped machine.

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

mod common;

use common::{scout, stderr, stdout};

#[test]
fn replay_counts_every_stage_and_cost_models_it_on_every_machine() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let o = scout(
        &[
            "-q",
            "synth",
            "--out",
            "seq",
            "--seed",
            "4",
            "--duration",
            "3",
        ],
        d,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let o = scout(&["-q", "replay", "seq", "--out", "run"], d);
    assert!(o.status.success(), "{}", stderr(&o));

    let report = cost::CostReport::read(&d.join("run/cost.json")).unwrap();
    assert_eq!(report.frames, 60);
    let names: Vec<&str> = report.stages.iter().map(|s| s.stage.as_str()).collect();
    assert_eq!(names, ["frontend", "backend", "map"]);
    for s in &report.stages {
        // Every run is recorded, and the runs add up to the totals.
        assert_eq!(s.per_run.len() as u64, s.runs, "{}", s.stage);
        let mut sum = cost::KernelCost::default();
        for r in &s.per_run {
            sum += r.cost;
        }
        assert_eq!(sum.ops, s.total().ops, "{}", s.stage);
        assert_eq!(sum.main, s.total().main, "{}", s.stage);
        let t = s.total();
        assert!(t.ops.total() > 0, "{} counted no operations", s.stage);
        assert!(t.main.total() > 0, "{} counted no DRAM traffic", s.stage);
        assert!(s.measured_s > 0.0, "{} has no time", s.stage);
    }
    let kernels = |stage: &str| -> Vec<String> {
        report
            .stages
            .iter()
            .find(|s| s.stage == stage)
            .map(|s| s.kernels.iter().map(|k| k.kernel.clone()).collect())
            .unwrap_or_default()
    };
    for k in [
        "be_input",
        "be_linearize",
        "be_schur",
        "be_solve",
        "be_evaluate",
    ] {
        assert!(kernels("backend").iter().any(|n| n == k), "no {k}");
    }
    for k in ["pyramid", "tracking", "stereo"] {
        assert!(kernels("frontend").iter().any(|n| n == k), "no {k}");
    }

    let mut per_frame_uj = Vec::new();
    for hw in ["rpi4", "rpi5", "accel"] {
        let o = scout(&["cost", "run/cost.json", "--hw", hw, "--json"], d);
        assert!(o.status.success(), "{}", stderr(&o));
        let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
        assert_eq!(v["hardware"], hw);
        let stages = v["stages"].as_array().unwrap();
        assert_eq!(stages.len(), 4, "three stages and the total");
        for s in stages {
            let e = s["energy_uj_per_frame"].as_f64().unwrap();
            let share = s["movement_share"].as_f64().unwrap();
            let bound = s["bound_ms_per_frame"].as_f64().unwrap();
            assert!(e > 0.0 && bound > 0.0, "{s}");
            // Moving data dominates every stage on every machine here.
            assert!(share > 0.5 && share < 1.0, "{s}");
        }
        per_frame_uj.push(stages[3]["energy_uj_per_frame"].as_f64().unwrap());
    }
    // The accelerator's hierarchy spends less than a Pi 4 on the same work.
    assert!(per_frame_uj[2] < per_frame_uj[0], "{per_frame_uj:?}");

    let o = scout(
        &["cost", "run/cost.json", "--hw", "rpi4", "--plots", "plots"],
        d,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("frontend") && stdout(&o).contains("DRAM kB"));
    for png in ["plots/energy_rpi4.png", "plots/roofline_rpi4.png"] {
        assert!(
            std::fs::metadata(d.join(png)).unwrap().len() > 1000,
            "{png}"
        );
    }
}

#[test]
fn bad_machines_and_reports_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut report = cost::CostReport::new("test", 1);
    report.stages.push(cost::StageReport::from_ledger(
        "frontend",
        1,
        "frame",
        0.001,
        &cost::CostLedger::new(),
    ));
    report.write(&d.join("cost.json")).unwrap();
    let o = scout(&["cost", "cost.json", "--hw", "rpi9"], d);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("rpi9"), "{}", stderr(&o));
    std::fs::write(d.join("hw.toml"), "name = \"x\"\nclock_hz = \"fast\"\n").unwrap();
    let o = scout(&["cost", "cost.json", "--hw", "hw.toml"], d);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("hw.toml") && stderr(&o).contains("line 2"),
        "{}",
        stderr(&o)
    );
    std::fs::write(
        d.join("broken.json"),
        "{\n  \"format_version\": 1,\n  \"source\": 3\n}\n",
    )
    .unwrap();
    let o = scout(&["cost", "broken.json"], d);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("broken.json") && stderr(&o).contains("line 3"),
        "{}",
        stderr(&o)
    );
}
