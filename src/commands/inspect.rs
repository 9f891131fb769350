//! `scout inspect DIR`: open an EuRoC/ASL sequence, decode every stereo pair, and
//! print what is there (so a user learns about a broken dataset before a long run).

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use datasets::Distortion;
use datasets::euroc::EurocDataset;

/// Arguments of `scout inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Sequence folder (the one holding `mav0/`).
    pub dir: PathBuf,
    /// Only read the index files and calibration; do not decode the images.
    #[arg(long)]
    pub no_images: bool,
}

/// Runs `scout inspect`.
pub fn run(args: &InspectArgs) -> anyhow::Result<()> {
    let ds =
        EurocDataset::open(&args.dir).with_context(|| format!("reading {}", args.dir.display()))?;
    let pairs = ds.stereo_entries();
    if !args.no_images {
        let bar = super::progress(pairs.len() as u64, "decoding");
        ds.decode_all(|done| bar.set_position(done as u64))?;
        bar.finish_and_clear();
    }
    let span_s = |a: i64, b: i64| (b - a) as f64 * 1e-9;
    println!("{} ({:?} layout)", ds.mav0().display(), ds.layout());
    match (pairs.first(), pairs.last()) {
        (Some(first), Some(last)) => println!(
            "  stereo pairs   {:>7}  over {:.2} s{}",
            pairs.len(),
            span_s(first.t_ns, last.t_ns),
            if args.no_images { "" } else { ", all decoded" }
        ),
        _ => println!("  stereo pairs         0"),
    }
    if let (Some(a), Some(b)) = (ds.imu().first(), ds.imu().last()) {
        println!(
            "  IMU samples    {:>7}  over {:.2} s",
            ds.imu().len(),
            span_s(a.t_ns, b.t_ns)
        );
    }
    match (ds.ground_truth().first(), ds.ground_truth().last()) {
        (Some(a), Some(b)) => println!(
            "  ground truth   {:>7}  over {:.2} s{}",
            ds.ground_truth().len(),
            span_s(a.t_ns, b.t_ns),
            if a.bias.is_some() {
                " (pose, velocity, biases)"
            } else {
                " (pose only)"
            }
        ),
        _ => println!("  ground truth         none"),
    }
    for m in ds.missing_images() {
        let name = m
            .image
            .file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default();
        println!(
            "  skipped        {}: image {name} does not exist",
            m.location
        );
    }
    if ds.unpaired_rows() > 0 {
        println!(
            "  skipped        {} camera rows without a partner in the other camera",
            ds.unpaired_rows()
        );
    }
    let cal = ds.calibration();
    for cam in [&cal.cam0, &cal.cam1] {
        let model = match cam.distortion {
            Distortion::None => "no distortion",
            Distortion::RadialTangential { .. } => "radial-tangential",
            Distortion::Equidistant { .. } => "equidistant fisheye",
        };
        let t = cam.body_from_cam.translation.vector;
        println!(
            "  {}           {}x{} @ {} Hz, f = ({:.1}, {:.1}) px, {model}, at ({:.3}, {:.3}, {:.3}) m in body",
            cam.name,
            cam.width,
            cam.height,
            cam.rate_hz,
            cam.intrinsics.fx,
            cam.intrinsics.fy,
            t.x,
            t.y,
            t.z
        );
    }
    let baseline = (cal.cam0.body_from_cam.inverse() * cal.cam1.body_from_cam)
        .translation
        .vector
        .norm();
    println!("  stereo baseline {:.4} m", baseline);
    println!(
        "  imu0           {} Hz, gyro noise {:.3e} rad/s/sqrt(Hz), accel noise {:.3e} m/s^2/sqrt(Hz)",
        cal.imu.rate_hz, cal.imu.gyro_noise_density, cal.imu.accel_noise_density
    );
    // The report first, then the verdict: a sequence no run can use fails.
    ds.check_usable()
        .with_context(|| format!("{} cannot feed a visual-inertial run", args.dir.display()))?;
    Ok(())
}
