//! `scout replay DIR --out OUT --frontend-only`: run the VIO front end over an
//! EuRoC/ASL sequence and write its per-frame figures to `OUT/metrics.json`.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Args;
use datasets::euroc::EurocDataset;
use scout::config::PipelineConfig;
use scout::replay::replay_frontend;

/// Arguments of `scout replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// Sequence folder (the one holding `mav0/`).
    pub dir: PathBuf,
    /// Output folder (created).
    #[arg(long)]
    pub out: PathBuf,
    /// Run only the front end (corners, KLT, stereo) and write its figures.
    #[arg(long)]
    pub frontend_only: bool,
    /// Pipeline configuration (TOML; see `scout::config`).
    #[arg(long)]
    pub config: Option<PathBuf>,
}

/// Runs `scout replay`.
pub fn run(args: &ReplayArgs) -> anyhow::Result<()> {
    if !args.frontend_only {
        bail!(
            "the back end is not built yet: only `scout replay DIR --out OUT --frontend-only` runs"
        );
    }
    let config = match &args.config {
        Some(path) => PipelineConfig::from_file(path)?,
        None => PipelineConfig::default(),
    };
    let ds =
        EurocDataset::open(&args.dir).with_context(|| format!("reading {}", args.dir.display()))?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let bar = super::progress(ds.stereo_entries().len() as u64, "front end");
    let metrics = replay_frontend(&ds, &config.frontend, |i, _, _| {
        bar.set_position(i as u64 + 1)
    })
    .with_context(|| format!("replaying {}", args.dir.display()))?;
    bar.finish_and_clear();
    let path = args.out.join("metrics.json");
    let json = serde_json::to_string_pretty(&metrics)?;
    std::fs::write(&path, json).with_context(|| format!("writing {}", path.display()))?;
    let s = &metrics.summary;
    println!(
        "{}: {} frames ({} skipped)",
        metrics.sequence, s.frames, s.frames_skipped
    );
    println!(
        "  features/frame   mean {:.1}, min {:.0}; with stereo mean {:.1}",
        s.features.mean, s.features.min, s.stereo.mean
    );
    println!(
        "  track length     median {:.1} frames per observation, {:.1} per track",
        s.tracks.median_length_per_observation, s.tracks.median_length_per_track
    );
    println!(
        "  time/frame       median {:.2} ms, p90 {:.2} ms, max {:.2} ms",
        s.time_ms.median, s.time_ms.p90, s.time_ms.max
    );
    let (ops, main): (f64, f64) = s.cost_per_frame.iter().fold((0.0, 0.0), |(o, m), k| {
        (o + k.ops_per_frame, m + k.main_bytes_per_frame)
    });
    println!(
        "  counted/frame    {:.2} M ops, {:.2} MB main-memory traffic; working memory {:.2} MB",
        ops * 1e-6,
        main * 1e-6,
        s.working_memory_bytes as f64 * 1e-6
    );
    println!("wrote {}", path.display());
    Ok(())
}
