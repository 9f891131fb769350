//! Runs the front end and the back end over an EuRoC/ASL folder in a plain loop
//! and prints the trajectory error against the ground truth after a rigid
//! (Kabsch) alignment of positions, for quick experiments:
//! `cargo run --release -p vio --example run_vio -- DIR [--verbose]`.
//! The user-facing command is `scout replay DIR --out OUT`.

use datasets::StereoFrame;
use datasets::euroc::EurocDataset;
use nalgebra::{Matrix3, Vector3};
use vio::backend::{BackEnd, BackEndConfig, TrackingStatus};
use vio::frontend::{FrontEnd, FrontEndConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let dir = args.get(1).ok_or("usage: run_vio DIR [--verbose]")?;
    let verbose = args.iter().any(|a| a == "--verbose");
    // `--skip N`: start at stereo pair N (e.g. in motion).
    let skip: usize = args
        .iter()
        .position(|a| a == "--skip")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let ds = EurocDataset::open(dir)?;
    let rig = ds.calibration().clone();
    let mut fe = FrontEnd::new(FrontEndConfig::default(), &rig)?;
    let mut be = BackEnd::new(BackEndConfig::default(), &rig)?;
    let mut frame = StereoFrame {
        t_ns: 0,
        left: datasets::GrayImage::new(rig.cam0.width, rig.cam0.height),
        right: datasets::GrayImage::new(rig.cam1.width, rig.cam1.height),
    };
    let imu = ds.imu();
    let mut next_imu = 0;
    let mut prev_t: Option<i64> = None;
    let mut est_pos = Vec::new();
    let mut gt_pos = Vec::new();
    let gt = ds.ground_truth();
    let (mut fe_ns, mut be_ns, mut frames) = (0u64, 0u64, 0u64);
    let mut be_times = Vec::new();
    if let Some(e) = ds.stereo_entries().get(skip) {
        next_imu = imu.partition_point(|s| s.t_ns < e.t_ns - 50_000_000);
    }
    for i in skip..ds.stereo_entries().len() {
        if ds.load_stereo_into(i, &mut frame).is_err() {
            continue;
        }
        while next_imu < imu.len() && imu[next_imu].t_ns <= frame.t_ns {
            be.push_imu(&imu[next_imu])?;
            next_imu += 1;
        }
        if next_imu < imu.len() {
            be.push_imu(&imu[next_imu])?;
            next_imu += 1;
        }
        let prior =
            prev_t.and_then(|t0| vio::imu::integrate_gyro(imu, t0, frame.t_ns, &Vector3::zeros()));
        prev_t = Some(frame.t_ns);
        let tracks = fe.process(&frame, prior.as_ref())?.clone();
        fe_ns += tracks.timing.total_ns;
        let est = be.process(&tracks)?.clone();
        be_ns += est.time_ns;
        be_times.push(est.time_ns as f64 * 1e-6);
        frames += 1;
        let g = gt.iter().min_by_key(|s| (s.t_ns - est.t_ns).abs());
        if est.status == TrackingStatus::Tracking
            && let Some(g) = g
            && (g.t_ns - est.t_ns).abs() < 3_000_000
        {
            est_pos.push(est.world_from_body.translation.vector);
            gt_pos.push(g.world_from_body.translation.vector);
        }
        if verbose {
            let (kfs, lms) = be.window_size();
            println!(
                "{:4} t={:.2} {:?} kf={} it={} tracked={} win={kfs}/{lms} p=[{:.3} {:.3} {:.3}] v={:.3} bg=[{:.4} {:.4} {:.4}] ba=[{:.3} {:.3} {:.3}] be={:.2}ms",
                i,
                est.t_ns as f64 * 1e-9,
                est.status,
                est.keyframe,
                est.iterations,
                est.tracked_landmarks,
                est.world_from_body.translation.x,
                est.world_from_body.translation.y,
                est.world_from_body.translation.z,
                est.v_world.norm(),
                est.bias.gyro.x,
                est.bias.gyro.y,
                est.bias.gyro.z,
                est.bias.accel.x,
                est.bias.accel.y,
                est.bias.accel.z,
                est.time_ns as f64 * 1e-6
            );
        }
    }
    be_times.sort_by(f64::total_cmp);
    println!(
        "frames {frames}, tracking {}, stats {:?}; front end {:.2} ms/frame, back end {:.2} ms/frame (median {:.2}, p90 {:.2}, max {:.2})",
        est_pos.len(),
        be.stats(),
        fe_ns as f64 * 1e-6 / frames as f64,
        be_ns as f64 * 1e-6 / frames as f64,
        be_times[be_times.len() / 2],
        be_times[be_times.len() * 9 / 10],
        be_times[be_times.len() - 1]
    );
    if est_pos.len() >= 3 {
        let (rmse, max, drift) = rigid_ate(&est_pos, &gt_pos);
        println!(
            "ATE (rigid position alignment): RMSE {rmse:.4} m, max {max:.4} m; start-aligned final drift {drift:.4} m"
        );
    }
    Ok(())
}

/// RMSE and max position error after the best rotation + translation
/// (Kabsch), and the drift of the last position when only the first is aligned
/// (rotation still from Kabsch).
fn rigid_ate(est: &[Vector3<f64>], gt: &[Vector3<f64>]) -> (f64, f64, f64) {
    let n = est.len() as f64;
    let me = est.iter().sum::<Vector3<f64>>() / n;
    let mg = gt.iter().sum::<Vector3<f64>>() / n;
    let mut cov = Matrix3::zeros();
    for (e, g) in est.iter().zip(gt) {
        cov += (g - mg) * (e - me).transpose();
    }
    let svd = cov.svd(true, true);
    let (Some(u), Some(vt)) = (svd.u, svd.v_t) else {
        return (f64::NAN, f64::NAN, f64::NAN);
    };
    let mut d = Matrix3::identity();
    if (u * vt).determinant() < 0.0 {
        d[(2, 2)] = -1.0;
    }
    let r = u * d * vt;
    let t = mg - r * me;
    let errs: Vec<f64> = est
        .iter()
        .zip(gt)
        .map(|(e, g)| (r * e + t - g).norm())
        .collect();
    let rmse = (errs.iter().map(|e| e * e).sum::<f64>() / n).sqrt();
    let max = errs.iter().cloned().fold(0.0, f64::max);
    let t0 = gt[0] - r * est[0];
    let drift = (r * est[est.len() - 1] + t0 - gt[gt.len() - 1]).norm();
    (rmse, max, drift)
}
