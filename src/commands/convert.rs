//! `scout convert IN OUT`: an EuRoC/ASL sequence folder to a ROS 2 bag, or
//! a bag back to a folder; the direction is the input's.
//!
//! - Folder to bag (`OUT` must end in `.mcap`): every stereo pair as two
//!   `mono8` `sensor_msgs/msg/Image` messages on `/cam0/image_raw` and
//!   `/cam1/image_raw`, every IMU sample on `/imu0`, ground truth (poses
//!   only: a `PoseStamped` has no velocity or biases) on `/ground_truth`,
//!   stamps as in the folder ([`datasets::rosbag::write_dataset`]). A bag
//!   carries no calibration: replay it with `--calib IN`.
//! - Bag to folder (`OUT/mav0/`): the bag read as `scout replay` reads it
//!   (`--calib`, topic options; see [`super::replay::BagArgs`]), written by
//!   [`EurocWriter`]: PNGs, IMU, ground truth if the bag has some (velocity
//!   and biases written as zeros), and the calibration as `sensor.yaml`
//!   files. Stamps are the cameras' after Kalibr's time shift, so the
//!   folder is on the IMU's clock and its calibration has no shift.
//!
//! An existing `OUT` is refused. Either output appears whole or not at all:
//! a bag is written under a temporary name and renamed when finished; a
//! folder is written as a hidden sibling of `OUT` and renamed to it.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use datasets::euroc::{EurocDataset, EurocWriter};
use datasets::model::StereoFrame;
use datasets::rosbag::{BagWriterOptions, write_dataset};

use super::replay::{BagArgs, bag_path, open_bag};

/// Arguments of `scout convert`.
#[derive(Debug, Args)]
pub struct ConvertArgs {
    /// What to convert: a sequence folder (the one holding `mav0/`) or a
    /// ROS 2 bag (an MCAP file, or a rosbag2 folder holding one).
    #[arg(value_name = "IN")]
    pub input: PathBuf,
    /// What to write (must not exist): a bag `OUT.mcap` from a folder, a
    /// sequence folder `OUT/mav0/` from a bag.
    #[arg(value_name = "OUT")]
    pub output: PathBuf,
    /// For a bag: its calibration and topics.
    #[command(flatten)]
    pub bag: BagArgs,
}

/// Runs `scout convert`.
pub fn run(args: &ConvertArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        std::fs::symlink_metadata(&args.output).is_err(),
        "{} exists; refusing to overwrite it",
        args.output.display()
    );
    let is_mcap = |p: &Path| {
        p.extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("mcap"))
    };
    if let Some(bag) = bag_path(&args.input)? {
        anyhow::ensure!(
            !is_mcap(&args.output),
            "{} is a bag, converted to a sequence folder: {} should not end in .mcap",
            args.input.display(),
            args.output.display()
        );
        bag_to_folder(&bag, &args.output, &args.bag)
    } else {
        args.bag.ensure_unused(&args.input)?;
        anyhow::ensure!(
            is_mcap(&args.output),
            "{} is a sequence folder, converted to a ROS 2 bag: name the output OUT.mcap, not {}",
            args.input.display(),
            args.output.display()
        );
        folder_to_bag(&args.input, &args.output)
    }
}

/// A sequence folder to a new bag.
fn folder_to_bag(input: &Path, output: &Path) -> anyhow::Result<()> {
    let ds = EurocDataset::open(input).with_context(|| format!("reading {}", input.display()))?;
    let pairs = ds.stereo_entries().len();
    let bar = super::progress(pairs as u64, "convert");
    let options = BagWriterOptions::default();
    let written = write_dataset(&ds, output, &options, |done| bar.set_position(done as u64))
        .with_context(|| format!("converting {} to {}", input.display(), output.display()));
    bar.finish_and_clear();
    let written = written?;
    let topics = &options.topics;
    let mut streams = vec![
        format!("{} and {}: {pairs} pairs", topics.cam0, topics.cam1),
        format!("{}: {} IMU samples", topics.imu, ds.imu().len()),
    ];
    if !ds.ground_truth().is_empty() {
        streams.push(format!(
            "{}: {} ground-truth poses",
            topics.ground_truth,
            ds.ground_truth().len()
        ));
    }
    let bytes = std::fs::metadata(&written).map_or(0, |m| m.len());
    println!(
        "wrote {} ({:.1} MB; {})",
        written.display(),
        bytes as f64 * 1e-6,
        streams.join(", ")
    );
    println!(
        "a bag carries no calibration: scout replay {} --calib {} --out OUT",
        written.display(),
        input.display()
    );
    Ok(())
}

/// A bag to a new sequence folder, written under a hidden sibling name and
/// renamed to `output` when complete.
fn bag_to_folder(bag: &Path, output: &Path, args: &BagArgs) -> anyhow::Result<()> {
    let (ds, _) = open_bag(bag, args)?;
    let temp = TempFolder::beside(output)?;
    write_folder(&ds, &temp.path).with_context(|| {
        format!(
            "converting {} to {} (nothing written)",
            bag.display(),
            output.display()
        )
    })?;
    let mav0 = temp.keep_as(output)?;
    let ground_truth = if ds.ground_truth().is_empty() {
        String::new()
    } else {
        format!(", {} ground-truth poses", ds.ground_truth().len())
    };
    println!(
        "wrote {} ({} pairs, {} IMU samples{ground_truth}, the calibration as sensor.yaml files)",
        mav0.display(),
        ds.stereo_entries().len(),
        ds.imu().len()
    );
    Ok(())
}

/// Writes `ds` to `root/mav0/`.
fn write_folder(ds: &EurocDataset, root: &Path) -> anyhow::Result<()> {
    let mut writer = EurocWriter::create(root, ds.calibration())?;
    let pairs = ds.stereo_entries().len();
    let bar = super::progress(pairs as u64, "convert");
    let mut frame = StereoFrame {
        t_ns: 0,
        left: datasets::GrayImage::default(),
        right: datasets::GrayImage::default(),
    };
    for i in 0..pairs {
        ds.load_stereo_into(i, &mut frame)?;
        writer.write_stereo(&frame)?;
        bar.set_position(i as u64 + 1);
    }
    bar.finish_and_clear();
    writer.write_imu(ds.imu())?;
    let gt_dir = writer.mav0().join("state_groundtruth_estimate0");
    if ds.ground_truth().is_empty() {
        // No ground truth: no folder for it (the writer makes it empty).
        std::fs::remove_dir(&gt_dir).with_context(|| format!("removing {}", gt_dir.display()))?;
    } else {
        writer.write_ground_truth(ds.ground_truth())?;
    }
    writer.finish()?;
    Ok(())
}

/// A folder being written beside its final name; removed when dropped
/// before [`TempFolder::keep_as`].
struct TempFolder {
    path: PathBuf,
    kept: bool,
}

impl TempFolder {
    /// A new, empty hidden folder in `output`'s parent folder (created).
    fn beside(output: &Path) -> anyhow::Result<Self> {
        let name = output
            .file_name()
            .with_context(|| format!("{} names no folder", output.display()))?;
        let parent = output
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
        let path = parent.join(format!(
            ".{}.scout-convert-{}",
            name.to_string_lossy(),
            std::process::id()
        ));
        std::fs::create_dir(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(Self { path, kept: false })
    }

    /// Renames the folder to `output` (which must not exist); returns
    /// `output/mav0`.
    fn keep_as(mut self, output: &Path) -> anyhow::Result<PathBuf> {
        anyhow::ensure!(
            std::fs::symlink_metadata(output).is_err(),
            "{} appeared while converting; refusing to overwrite it",
            output.display()
        );
        std::fs::rename(&self.path, output)
            .with_context(|| format!("renaming {} to {}", self.path.display(), output.display()))?;
        self.kept = true;
        Ok(output.join("mav0"))
    }
}

impl Drop for TempFolder {
    fn drop(&mut self) {
        if !self.kept {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}
