//! `scout record --config robot.toml --out DIR`: the live sensors (as `scout
//! run` opens them) written to the EuRoC/ASL layout until Ctrl-C (or
//! `--seconds`): every pair as two PNGs with the camera's stamp, every IMU
//! sample, and the rig's calibration, so that a flight replays exactly with
//! `scout replay DIR` (and in any tool that reads EuRoC). Stamps are on
//! `CLOCK_MONOTONIC` (the camera's shifted by the calibration's time shift).
//! A pair that comes while the last is still being written is dropped, and
//! said: the recording is what the pipeline would have seen.
//!
//! The IMU samples are held until the end (56 bytes each: 40 MB an hour at
//! 200 Hz) and written with the camera indexes when the recording stops.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use datasets::euroc::EurocWriter;
use pipeline::robot::RobotConfig;
use pipeline::{FrameInput, Source};

/// Arguments of `scout record`.
#[derive(Debug, Args)]
pub struct RecordArgs {
    /// The robot's configuration (TOML, `[live]`: devices and calibration).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Output folder: `DIR/mav0/` in the EuRoC layout (created; must be
    /// empty).
    #[arg(long)]
    pub out: PathBuf,
    /// Record this EuRoC/ASL folder replayed as live sensors instead of the
    /// devices (to check the recorder).
    #[arg(long, value_name = "DIR")]
    pub paced: Option<PathBuf>,
    /// Stop after this many seconds (default: at Ctrl-C).
    #[arg(long)]
    pub seconds: Option<f64>,
}

/// Runs `scout record`.
pub fn run(args: &RecordArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.config.is_some() || args.paced.is_some(),
        "give --config ROBOT.toml (the devices) or --paced DIR (a recording replayed as live \
         sensors)"
    );
    let robot = match &args.config {
        Some(path) => RobotConfig::from_file(path)?,
        None => RobotConfig::default(),
    };
    let (mut source, _) = super::run::open_source(&robot, args.paced.as_deref(), args.seconds)?;
    let name = super::run::source_name(&source);
    let mut writer = EurocWriter::create(&args.out, source.rig())
        .with_context(|| format!("creating {}", args.out.display()))?;
    println!(
        "{name}: recording to {}, Ctrl-C to stop",
        writer.mav0().display()
    );
    let mut input = FrameInput::empty();
    let mut imu = Vec::new();
    while source
        .next_into(&mut input)
        .with_context(|| format!("reading {name}"))?
    {
        writer.write_stereo(&input.frame)?;
        imu.extend_from_slice(&input.imu);
    }
    writer.write_imu(&imu)?;
    let pairs = writer.frames_written();
    let mav0 = writer.finish()?;
    let counts = source.counts();
    println!(
        "wrote {pairs} pairs and {} IMU samples to {} ({} pairs dropped while writing, {} lost \
         by the camera, {} IMU samples dropped)",
        imu.len(),
        mav0.display(),
        counts.pairs_dropped,
        counts.camera_lost,
        counts.imu_dropped
    );
    Ok(())
}
