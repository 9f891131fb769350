//! `scout eval --gt GT --est EST`: ATE and RPE of an estimated trajectory.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use scout::eval::{Alignment, EvalOptions, evaluate, read_trajectory};

/// Arguments of `scout eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Ground truth: EuRoC csv (`state_groundtruth_estimate0/data.csv`, or 8-column
    /// pose-only) or TUM (`t[s] x y z qx qy qz qw`).
    #[arg(long)]
    pub gt: PathBuf,
    /// Estimate: TUM (`t[s] x y z qx qy qz qw`, body frame), or EuRoC csv.
    #[arg(long)]
    pub est: PathBuf,
    /// Alignment fitted before the errors: se3 and sim3 are Umeyama's (as evo's
    /// `-a` and `-as`), posyaw fits translation and yaw only (4 DoF, the usual
    /// choice for VIO, whose roll and pitch are observable), none fits nothing.
    #[arg(long, default_value = "posyaw", value_parser = parse_alignment)]
    pub align: Alignment,
    /// Largest time difference for two poses to be matched, seconds.
    #[arg(long, default_value_t = 0.01)]
    pub max_time_diff: f64,
    /// RPE segment lengths in metres, comma separated (default: 10-50 % of the path).
    #[arg(long, value_delimiter = ',')]
    pub rpe_lengths: Option<Vec<f64>>,
    /// Print the report as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Fail (exit status 1) when the largest translation error exceeds this many
    /// metres, or when an estimated pose has no ground-truth match: a regression
    /// gate for scripts and CI.
    #[arg(long, value_parser = parse_max_ate)]
    pub max_ate: Option<f64>,
}

/// `--max-ate`: a finite, non-negative number of metres (NaN would pass
/// every trajectory, infinity would gate nothing).
fn parse_max_ate(s: &str) -> Result<f64, String> {
    super::parse_number_in(s, 0.0..=f64::MAX, "a finite number of metres >= 0")
}

fn parse_alignment(s: &str) -> Result<Alignment, String> {
    s.parse::<Alignment>().map_err(|e| e.to_string())
}

/// Runs `scout eval`.
pub fn run(args: &EvalArgs) -> anyhow::Result<()> {
    let gt = read_trajectory(&args.gt).context("reading the ground truth")?;
    let est = read_trajectory(&args.est).context("reading the estimate")?;
    let opts = EvalOptions {
        align: args.align,
        max_time_diff_s: args.max_time_diff,
        rpe_segments_m: args.rpe_lengths.clone(),
        ..EvalOptions::default()
    };
    let report = evaluate(&gt, &est, &opts)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{report}");
    }
    if let Some(limit) = args.max_ate {
        if report.matched_poses < report.est_poses {
            anyhow::bail!(
                "{} of {} estimated poses have no ground-truth pose within {} s",
                report.est_poses - report.matched_poses,
                report.est_poses,
                args.max_time_diff
            );
        }
        if report.ate_trans_m.max.is_nan() || report.ate_trans_m.max > limit {
            anyhow::bail!(
                "the largest translation error, {} m, exceeds --max-ate {limit} m",
                report.ate_trans_m.max
            );
        }
    }
    Ok(())
}
