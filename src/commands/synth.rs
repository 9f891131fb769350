//! `scout synth`: write a synthetic stereo-inertial sequence in the EuRoC layout.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use datasets::synth::trajectory::Route;
use datasets::synth::{Difficulty, SynthConfig};
use scout::synthetic::write_synthetic_sequence;

/// Arguments of `scout synth`.
#[derive(Debug, Args)]
pub struct SynthArgs {
    /// Output folder; `mav0/` and `ground_truth.tum` are written inside it.
    #[arg(long)]
    pub out: PathBuf,
    /// Seed: the same seed gives bit-identical files.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Duration, seconds (the first ~1.5 s are a hover, for initialization).
    #[arg(long, default_value_t = 30.0)]
    pub duration: f64,
    /// Motion speed, clutter, texture contrast, noise and exposure change.
    #[arg(long, default_value = "medium", value_parser = parse_difficulty)]
    pub difficulty: Difficulty,
    /// Where the flight goes after the hover: `wander` (a random walk) or
    /// `out-and-back` (a leg, then the same path flown backwards with the same
    /// headings, and again: places seen again, for measuring loop closure).
    #[arg(long, default_value = "wander", value_parser = parse_route)]
    pub route: Route,
    /// Render threads (default: all cores). The files do not depend on it.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Also write the summary as JSON to this file.
    #[arg(long)]
    pub summary_json: Option<PathBuf>,
}

fn parse_difficulty(s: &str) -> Result<Difficulty, String> {
    s.parse::<Difficulty>().map_err(|e| e.to_string())
}

fn parse_route(s: &str) -> Result<Route, String> {
    s.parse::<Route>().map_err(|e| e.to_string())
}

/// Runs `scout synth`.
pub fn run(args: &SynthArgs) -> anyhow::Result<()> {
    let cfg = SynthConfig {
        seed: args.seed,
        duration_s: args.duration,
        difficulty: args.difficulty,
        route: args.route,
        ..SynthConfig::default()
    };
    let bar = super::progress(0, "rendering");
    let threads = args.threads.unwrap_or_else(super::default_threads);
    let summary = write_synthetic_sequence(&cfg, &args.out, threads, |done, total| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    })?;
    bar.finish_and_clear();
    println!("{summary}");
    if let Some(path) = &args.summary_json {
        std::fs::write(path, serde_json::to_string_pretty(&summary)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}
