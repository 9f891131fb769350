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
//!
//! `--out FLIGHT.mcap` writes a ROS 2 bag instead (`datasets::rosbag`:
//! `sensor_msgs/Image` mono8 on `/cam0/image_raw` and `/cam1/image_raw`,
//! `sensor_msgs/Imu` on `/imu0`, zstd chunks), streamed as the sensors give
//! it, and the rig's calibration as an ASL folder beside it
//! (`FLIGHT.calib/mav0/{cam0,cam1,imu0}/sensor.yaml`) for `scout replay
//! FLIGHT.mcap --calib FLIGHT.calib`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use datasets::ImuSample;
use datasets::euroc::EurocWriter;
use datasets::rosbag::{BagWriter, BagWriterOptions};
use pipeline::{FrameInput, Source};

/// Arguments of `scout record`.
#[derive(Debug, Args)]
pub struct RecordArgs {
    /// Where the sensors come from.
    #[command(flatten)]
    pub source: super::run::LiveSourceArgs,
    /// Output folder: `DIR/mav0/` in the EuRoC layout (created; must be
    /// empty); or a ROS 2 bag, `FLIGHT.mcap` (with `FLIGHT.calib/` beside
    /// it; neither may exist).
    #[arg(long)]
    pub out: PathBuf,
}

/// Where a recording goes: the EuRoC layout, or a ROS 2 bag with the
/// calibration in an ASL folder beside it.
enum Recorder {
    /// `DIR/mav0/`; the IMU samples held to the end.
    Folder(EurocWriter, Vec<ImuSample>),
    /// `OUT.mcap`, streamed (IMU before each pair, as the source gives
    /// them): the pairs and IMU samples written.
    Bag(Box<BagWriter>, usize, usize),
}

/// The ASL folder a bag's calibration is written to: `flight.mcap` ->
/// `flight.calib/`.
fn calibration_folder(bag: &Path) -> PathBuf {
    bag.with_extension("calib")
}

/// Runs `scout record`.
pub fn run(args: &RecordArgs) -> anyhow::Result<()> {
    let robot = args.source.robot()?;
    let to_bag = args.out.extension().is_some_and(|e| e == "mcap");
    if to_bag {
        let calib = calibration_folder(&args.out);
        anyhow::ensure!(
            !args.out.exists() && !calib.exists(),
            "{} or {} already exists; refusing to overwrite",
            args.out.display(),
            calib.display()
        );
    }
    let (mut source, _) = args.source.open(&robot)?;
    let name = super::run::source_name(&source);
    let mut recorder = if to_bag {
        // The calibration first: the stamps written are the source's (the
        // camera's already shifted onto the IMU's clock), so the folder
        // holds no time shift to apply again.
        let calib = calibration_folder(&args.out);
        EurocWriter::create(&calib, source.rig())
            .and_then(EurocWriter::finish)
            .with_context(|| format!("writing the calibration to {}", calib.display()))?;
        let mut writer = match BagWriter::create(&args.out, &BagWriterOptions::default()) {
            Ok(w) => w,
            Err(e) => {
                // Nothing recorded: the calibration goes too, so a retry
                // is not refused.
                let _ = std::fs::remove_dir_all(&calib);
                return Err(e).with_context(|| format!("creating {}", args.out.display()));
            }
        };
        // A recording that cannot be closed keeps what it has.
        writer.keep_partial();
        println!(
            "{name}: recording to {} (calibration in {}), Ctrl-C to stop",
            args.out.display(),
            calib.display()
        );
        Recorder::Bag(Box::new(writer), 0, 0)
    } else {
        let writer = EurocWriter::create(&args.out, source.rig())
            .with_context(|| format!("creating {}", args.out.display()))?;
        println!(
            "{name}: recording to {}, Ctrl-C to stop",
            writer.mav0().display()
        );
        Recorder::Folder(writer, Vec::new())
    };
    let mut input = FrameInput::empty();
    let mut record = || -> anyhow::Result<()> {
        while source
            .next_into(&mut input)
            .with_context(|| format!("reading {name}"))?
        {
            match &mut recorder {
                Recorder::Folder(writer, imu) => {
                    imu.extend_from_slice(&input.imu);
                    writer.write_stereo(&input.frame)?;
                }
                Recorder::Bag(writer, pairs, samples) => {
                    writer.write_imu(&input.imu)?;
                    *samples += input.imu.len();
                    writer.write_stereo(&input.frame)?;
                    *pairs += 1;
                }
            }
        }
        Ok(())
    };
    // What was recorded before a failure is kept (a folder's IMU samples,
    // held to the end, are written all the same) and the failure said.
    let recorded = record();
    let finished = match recorder {
        Recorder::Folder(writer, imu) => writer
            .write_imu(&imu)
            .and_then(|()| {
                let pairs = writer.frames_written();
                writer.finish().map(|path| (pairs, imu.len(), path))
            })
            .map_err(anyhow::Error::from),
        Recorder::Bag(writer, pairs, samples) => {
            let partial = writer.partial_path();
            writer
                .finish()
                .map(|path| (pairs, samples, path))
                .map_err(|e| {
                    anyhow::Error::from(e).context(format!(
                        "what was recorded is kept in {} (a reader takes it up to the cut)",
                        partial.display()
                    ))
                })
        }
    };
    if let Err(e) = recorded {
        return Err(match finished {
            Ok((pairs, samples, path)) => e.context(format!(
                "the recording stopped; {pairs} pairs and {samples} IMU samples before it are in {}",
                path.display()
            )),
            Err(also) => e.context(format!("the recording stopped, and closing it failed too: {also}")),
        });
    }
    let (pairs, samples, written) = finished?;
    let counts = source.counts();
    println!(
        "wrote {pairs} pairs and {samples} IMU samples to {} ({} pairs dropped while writing, {} lost \
         by the camera, {} IMU samples dropped)",
        written.display(),
        counts.pairs_dropped,
        counts.camera_lost,
        counts.imu_dropped
    );
    if to_bag {
        println!(
            "replay it with: scout replay {} --calib {} --out OUT",
            written.display(),
            calibration_folder(&args.out).display()
        );
    }
    Ok(())
}
