//! Times the threaded pipeline against the plain loop on one sequence: wall
//! time per frame, the stages' own time per frame, and the latency.
//!
//! ```sh
//! cargo run --release --example pipeline_overhead -- ../shared/data/euroc/V1_01_easy_micro [RUNS]
//! ```
//!
//! Runs alternate (loop, pipeline, loop, ...) so that drift in the machine's
//! load hits both; the median over the runs is printed.

use std::process::ExitCode;

use datasets::euroc::EurocDataset;
use pipeline::{
    EurocSource, PipelineConfig, PipelineMode, PipelineRun, run_pipeline, run_sequential,
};

/// Median of a list (0 when empty).
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// Wall ms per frame, stage ms per frame (front end + back end), median latency ms.
fn figures(run: &PipelineRun) -> (f64, f64, f64) {
    let n = run.records.len().max(1) as f64;
    let stages: u64 = run
        .records
        .iter()
        .map(|r| r.timing.frontend_ns + r.timing.backend_ns)
        .sum();
    let latency = median(
        run.records
            .iter()
            .map(|r| r.timing.latency_ns as f64 * 1e-6)
            .collect(),
    );
    (
        run.wall_ns as f64 * 1e-6 / n,
        stages as f64 * 1e-6 / n,
        latency,
    )
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(dir) = args.next() else {
        eprintln!("usage: pipeline_overhead SEQUENCE_DIR [RUNS]");
        return ExitCode::FAILURE;
    };
    let runs: usize = args.next().and_then(|r| r.parse().ok()).unwrap_or(5);
    let ds = match EurocDataset::open(&dir) {
        Ok(ds) => ds,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let config = PipelineConfig::default();
    let (mut plain, mut threaded) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let lead = config.pipeline.imu_lead_ns();
        let a = run_sequential(&mut EurocSource::new(&ds, lead), &config, |_| {});
        let b = run_pipeline(
            &mut EurocSource::new(&ds, lead),
            &config,
            PipelineMode::Deterministic,
            |_| {},
        );
        match (a, b) {
            (Ok(a), Ok(b)) => {
                if !a.same_output(&b) {
                    eprintln!("error: the pipeline's output differs from the loop's");
                    return ExitCode::FAILURE;
                }
                plain.push(figures(&a));
                threaded.push(figures(&b));
            }
            (Err(e), _) | (_, Err(e)) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    println!(
        "{}: {} frames, median of {runs} runs",
        dir,
        ds.stereo_entries().len()
    );
    println!("                 wall/frame   stages/frame   latency (median)");
    for (name, v) in [("plain loop", &plain), ("pipeline", &threaded)] {
        println!(
            "  {name:<12} {:>9.3} ms {:>12.3} ms {:>12.3} ms",
            median(v.iter().map(|f| f.0).collect()),
            median(v.iter().map(|f| f.1).collect()),
            median(v.iter().map(|f| f.2).collect()),
        );
    }
    ExitCode::SUCCESS
}
