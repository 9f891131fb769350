//! Our ATE against `evo_ape` (evo 1.38.1, from PyPI) on the same files.
//!
//! `tests/fixtures/evo/` holds the trajectories (written by `make_fixture.py`) and,
//! for each evo run, a text file (written by `run_evo.sh`) whose first line is the
//! exact `evo_ape` command, then evo's verbose output (matches, alignment, the
//! 6-decimal statistics table), then the full-precision `stats.json` of its
//! `--save_results` zip. Each test re-runs that command's evaluation with
//! `scout::eval` and requires the same number of matched poses, the same alignment,
//! and ATE statistics within 1e-6 m.

use std::path::{Path, PathBuf};

use scout::eval::{
    Alignment, EvalOptions, EvalReport, TrajectoryFormat, evaluate, read_trajectory,
};

/// Required agreement of the ATE statistics, m (the acceptance bound).
const ATE_TOL_M: f64 = 1e-6;

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/evo")
}

/// What one evo output file says.
struct EvoRun {
    command: String,
    format: TrajectoryFormat,
    gt: PathBuf,
    est: PathBuf,
    alignment: Alignment,
    matched: usize,
    scale: f64,
    rotation: [[f64; 3]; 3],
    translation: [f64; 3],
    /// The printed table, 6 decimals: (name, value).
    table: Vec<(String, f64)>,
    /// `stats.json`, full precision.
    stats: serde_json::Map<String, serde_json::Value>,
}

fn numbers(line: &str) -> Vec<f64> {
    line.replace(['[', ']'], " ")
        .split_whitespace()
        .filter_map(|t| t.parse().ok())
        .collect()
}

fn parse_evo(name: &str) -> Result<EvoRun, String> {
    let path = fixture_dir().join(name);
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let lines: Vec<&str> = text.lines().collect();
    let command = lines.first().ok_or("empty fixture")?.to_string();
    let args: Vec<&str> = command.split_whitespace().collect();
    if args.len() < 5 || args[0] != "evo_ape" {
        return Err(format!(
            "{name}: line 1 is not an evo_ape command: {command}"
        ));
    }
    let format = match args[1] {
        "tum" => TrajectoryFormat::Tum,
        "euroc" => TrajectoryFormat::EurocCsv,
        other => return Err(format!("{name}: unsupported evo_ape subcommand {other}")),
    };
    let alignment = if args.contains(&"-as") {
        Alignment::Sim3
    } else if args.contains(&"-a") {
        Alignment::Se3
    } else {
        Alignment::None
    };

    let find = |prefix: &str| {
        lines
            .iter()
            .position(|l| l.trim_start().starts_with(prefix))
            .ok_or_else(|| format!("{name}: no line starting with '{prefix}'"))
    };
    let found = lines[find("Found ")?];
    let matched = found
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("{name}: cannot read '{found}'"))?;
    let scale_line = lines[find("Scale correction:")?];
    let scale = numbers(scale_line).first().copied().ok_or("no scale")?;
    let r0 = find("Rotation of alignment:")?;
    let mut rotation = [[0.0; 3]; 3];
    for (i, row) in rotation.iter_mut().enumerate() {
        let v = numbers(lines.get(r0 + 1 + i).ok_or("short rotation")?);
        *row = v
            .try_into()
            .map_err(|v| format!("{name}: bad rotation row {v:?}"))?;
    }
    let t0 = find("Translation of alignment:")?;
    let translation: [f64; 3] = numbers(lines.get(t0 + 1).ok_or("no translation")?)
        .try_into()
        .map_err(|v| format!("{name}: bad translation {v:?}"))?;

    let a0 = find("APE w.r.t. translation part (m)")?;
    let mut table = Vec::new();
    for line in &lines[a0 + 1..] {
        if line.starts_with("---") || line.starts_with('#') {
            break;
        }
        let mut parts = line.split_whitespace();
        if let (Some(key), Some(value), None) = (parts.next(), parts.next(), parts.next())
            && let Ok(v) = value.parse::<f64>()
        {
            table.push((key.to_string(), v));
        }
    }
    let j0 = find("# --- stats.json")?;
    let json = lines.get(j0 + 1).ok_or("no stats.json line")?;
    let stats: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(json).map_err(|e| format!("{name}: stats.json: {e}"))?;

    let (gt, est) = (fixture_dir().join(args[2]), fixture_dir().join(args[3]));
    Ok(EvoRun {
        command,
        format,
        gt,
        est,
        alignment,
        matched,
        scale,
        rotation,
        translation,
        table,
        stats,
    })
}

fn ours(report: &EvalReport, key: &str) -> Option<f64> {
    let s = &report.ate_trans_m;
    Some(match key {
        "rmse" => s.rmse,
        "mean" => s.mean,
        "median" => s.median,
        "std" => s.std,
        "min" => s.min,
        "max" => s.max,
        // Sum of squared errors.
        "sse" => s.rmse * s.rmse * s.count as f64,
        _ => return None,
    })
}

fn compare(name: &str) -> Result<(), String> {
    let evo = parse_evo(name)?;
    let gt = read_trajectory(&evo.gt).map_err(|e| e.to_string())?;
    let est = read_trajectory(&evo.est).map_err(|e| e.to_string())?;
    let gt_text = std::fs::read_to_string(&evo.gt).map_err(|e| e.to_string())?;
    assert_eq!(
        scout::eval::trajectory::detect_format(&gt_text),
        Some(evo.format),
        "{name}: format of {}",
        evo.gt.display()
    );

    let opts = EvalOptions {
        align: evo.alignment,
        ..EvalOptions::default()
    };
    let report = evaluate(&gt, &est, &opts).map_err(|e| e.to_string())?;
    eprintln!("{}\n{report}", evo.command);

    assert_eq!(report.matched_poses, evo.matched, "{name}: matched poses");
    assert!(
        (report.transform.scale - evo.scale).abs() < 1e-9,
        "{name}: scale"
    );
    let r = report
        .transform
        .gt_world_from_est_world
        .rotation
        .to_rotation_matrix();
    let t = report.transform.gt_world_from_est_world.translation.vector;
    for i in 0..3 {
        // evo prints the alignment with numpy's 8 significant decimals.
        assert!(
            (t[i] - evo.translation[i]).abs() < 1e-7,
            "{name}: translation {i}"
        );
        for j in 0..3 {
            assert!(
                (r[(i, j)] - evo.rotation[i][j]).abs() < 1e-7,
                "{name}: rotation ({i},{j})"
            );
        }
    }

    let mut worst: f64 = 0.0;
    for key in ["rmse", "mean", "median", "std", "min", "max", "sse"] {
        let evo_v = evo
            .stats
            .get(key)
            .and_then(serde_json::Value::as_f64)
            .ok_or_else(|| format!("{name}: stats.json has no {key}"))?;
        let our_v = ours(&report, key).ok_or("unknown key")?;
        let diff = (our_v - evo_v).abs();
        eprintln!("  {key:>6}: evo {evo_v:.15}  ours {our_v:.15}  |diff| {diff:.3e}");
        assert!(
            diff <= ATE_TOL_M,
            "{name}: {key}: evo {evo_v}, ours {our_v}"
        );
        worst = worst.max(diff);
    }
    // The printed table, rounded to 6 decimals, says the same.
    assert!(evo.table.len() >= 6, "{name}: table {:?}", evo.table);
    for (key, printed) in &evo.table {
        let our_v = ours(&report, key).ok_or_else(|| format!("{name}: unknown stat {key}"))?;
        assert!(
            (our_v - printed).abs() <= 0.5e-6 + 1e-12,
            "{name}: table {key}: {printed} vs {our_v}"
        );
    }
    eprintln!("  largest |ours - evo| over the ATE statistics: {worst:.3e} m");
    Ok(())
}

#[test]
fn ate_se3_matches_evo() -> Result<(), String> {
    compare("evo_ape_se3.txt")
}

#[test]
fn ate_sim3_matches_evo() -> Result<(), String> {
    compare("evo_ape_sim3.txt")
}

#[test]
fn ate_with_sparse_estimate_matches_evo() -> Result<(), String> {
    // Fewer estimate poses than ground truth: evo associates from the estimate side.
    compare("evo_ape_sparse_se3.txt")
}

#[test]
fn ate_with_euroc_ground_truth_matches_evo() -> Result<(), String> {
    compare("evo_ape_euroc_se3.txt")
}

#[test]
fn euroc_and_tum_ground_truth_read_the_same() -> Result<(), String> {
    let csv = read_trajectory(fixture_dir().join("gt.csv")).map_err(|e| e.to_string())?;
    let tum = read_trajectory(fixture_dir().join("gt.tum")).map_err(|e| e.to_string())?;
    assert_eq!(csv.t_ns(), tum.t_ns());
    for (a, b) in csv.world_from_body().iter().zip(tum.world_from_body()) {
        assert_eq!(a.translation, b.translation);
        assert!(a.rotation.angle_to(&b.rotation) < 1e-12);
    }
    Ok(())
}

#[test]
fn fixtures_stay_small() -> Result<(), String> {
    let mut total = 0;
    for entry in std::fs::read_dir(fixture_dir()).map_err(|e| e.to_string())? {
        let entry = entry.map_err(|e| e.to_string())?;
        total += entry.metadata().map_err(|e| e.to_string())?.len();
    }
    assert!(total < 200 * 1024, "tests/fixtures/evo is {total} bytes");
    Ok(())
}
