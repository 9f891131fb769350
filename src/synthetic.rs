//! Writing a synthetic sequence to disk in the EuRoC layout, with its summary.
//!
//! The sequence comes from [`datasets::synth::SyntheticSequence`]; frames are
//! rendered and written one at a time, so memory stays flat whatever the duration.
//! The summary's motion figures are measured on the exact trajectory at the IMU
//! rate; the timings are wall-clock on this machine, one core.

use std::path::{Path, PathBuf};
use std::time::Instant;

use datasets::StereoFrame;
use datasets::euroc::EurocWriter;
use datasets::synth::render::RenderScratch;
use datasets::synth::{SynthConfig, SyntheticSequence};
use serde::Serialize;

use crate::eval::{Trajectory, write_tum};

/// What was written and how long it took.
#[derive(Debug, Clone, Serialize)]
pub struct SequenceSummary {
    /// The sequence folder (holding `mav0/`).
    pub path: PathBuf,
    /// Seed of the generator.
    pub seed: u64,
    /// Difficulty level.
    pub difficulty: String,
    /// Stereo pairs written.
    pub stereo_pairs: usize,
    /// Image size, pixels (width, height).
    pub image_size: (usize, usize),
    /// IMU samples written.
    pub imu_samples: usize,
    /// Duration, s.
    pub duration_s: f64,
    /// Length of the body's path (polyline through the frame-rate poses), m.
    pub path_length_m: f64,
    /// Largest speed, m/s.
    pub max_speed_m_s: f64,
    /// Mean speed after the initial hover, m/s.
    pub mean_speed_after_hover_m_s: f64,
    /// Largest angular rate, rad/s.
    pub max_angular_rate_rad_s: f64,
    /// Mean intensity of the left images, grey levels.
    pub mean_intensity: f64,
    /// Time to build the world, textures, trajectory and IMU, s.
    pub generate_s: f64,
    /// Time spent rendering both cameras, summed over threads (one core's time), s.
    pub render_s: f64,
    /// Time spent encoding and writing PNGs and csv files, s.
    pub write_s: f64,
    /// Render threads used.
    pub threads: usize,
    /// Wall-clock time of rendering and writing together, s.
    pub render_and_write_wall_s: f64,
}

impl SequenceSummary {
    /// Rendering time per stereo pair, ms.
    #[must_use]
    pub fn render_ms_per_pair(&self) -> f64 {
        1e3 * self.render_s / self.stereo_pairs.max(1) as f64
    }
}

impl std::fmt::Display for SequenceSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "synthetic sequence {} (seed {}, {})",
            self.path.display(),
            self.seed,
            self.difficulty
        )?;
        writeln!(
            f,
            "  {} stereo pairs ({}x{}, EuRoC calibration), {} IMU samples, {:.1} s",
            self.stereo_pairs,
            self.image_size.0,
            self.image_size.1,
            self.imu_samples,
            self.duration_s
        )?;
        writeln!(
            f,
            "  motion: path {:.2} m, speed max {:.2} m/s (mean {:.2} after the hover), angular rate max {:.2} rad/s",
            self.path_length_m,
            self.max_speed_m_s,
            self.mean_speed_after_hover_m_s,
            self.max_angular_rate_rad_s
        )?;
        writeln!(f, "  images: mean intensity {:.1}", self.mean_intensity)?;
        write!(
            f,
            "  time: generate {:.2} s, render {:.2} s of one core ({:.1} ms per stereo pair), write {:.2} s; \
             {:.2} s wall for rendering and writing on {} thread{}",
            self.generate_s,
            self.render_s,
            self.render_ms_per_pair(),
            self.write_s,
            self.render_and_write_wall_s,
            self.threads,
            if self.threads == 1 { "" } else { "s" }
        )
    }
}

/// Generates a sequence and writes it under `out` (which must not hold a
/// `mav0/` yet): the EuRoC layout plus `ground_truth.tum` beside `mav0/`.
/// Frames are rendered on `threads` threads (1 renders on the calling thread's
/// core only); `on_frame` is called after each stereo pair (for a progress bar).
pub fn write_synthetic_sequence(
    cfg: &SynthConfig,
    out: &Path,
    threads: usize,
    mut on_frame: impl FnMut(usize, usize),
) -> anyhow::Result<SequenceSummary> {
    let start = Instant::now();
    let seq = SyntheticSequence::generate(cfg)?;
    let generate_s = start.elapsed().as_secs_f64();

    let mut writer = EurocWriter::create(out, &seq.calibration)?;
    writer.write_imu(&seq.imu)?;
    writer.write_ground_truth(&seq.ground_truth)?;
    let gt = Trajectory::new(
        seq.ground_truth.iter().map(|s| s.t_ns).collect(),
        seq.ground_truth.iter().map(|s| s.world_from_body).collect(),
    )?;
    write_tum(out.join("ground_truth.tum"), &gt)?;

    // Frames are independent: `threads` workers render a batch of consecutive
    // frames, each into its own buffers, then they are written in order. The
    // output does not depend on the number of threads.
    let threads = threads.max(1);
    let mut batch: Vec<(StereoFrame, RenderScratch, f64)> = (0..threads)
        .map(|_| (seq.new_frame(), RenderScratch::new(), 0.0))
        .collect();
    let (mut render_s, mut write_s, mut intensity) = (0.0, 0.0, 0.0);
    let frames = seq.frame_count();
    let render_start = Instant::now();
    for first in (0..frames).step_by(threads) {
        let count = threads.min(frames - first);
        let results: Vec<datasets::Result<()>> = std::thread::scope(|scope| {
            let handles: Vec<_> = batch[..count]
                .iter_mut()
                .enumerate()
                .map(|(k, (frame, scratch, seconds))| {
                    let seq = &seq;
                    scope.spawn(move || {
                        let t = Instant::now();
                        let result = seq.render_stereo_with(first + k, frame, scratch);
                        *seconds = t.elapsed().as_secs_f64();
                        result
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(datasets::DatasetError::InvalidArgument(
                            "a render thread panicked".into(),
                        ))
                    })
                })
                .collect()
        });
        for (k, result) in results.into_iter().enumerate() {
            result?;
            let (frame, _, seconds) = &batch[k];
            render_s += seconds;
            intensity += frame.left.mean();
            let t = Instant::now();
            writer.write_stereo(frame)?;
            write_s += t.elapsed().as_secs_f64();
            on_frame(first + k + 1, frames);
        }
    }
    let wall_s = render_start.elapsed().as_secs_f64();
    let t = Instant::now();
    writer.finish()?;
    write_s += t.elapsed().as_secs_f64();

    // Motion figures on the exact trajectory, sampled at the IMU times.
    let t0 = seq.imu.first().map_or(0, |s| s.t_ns);
    let (mut max_v, mut max_w, mut sum_v, mut n_v) = (0.0f64, 0.0f64, 0.0, 0usize);
    for sample in &seq.imu {
        let k = seq.kinematics_at(sample.t_ns);
        let speed = k.velocity.norm();
        max_v = max_v.max(speed);
        max_w = max_w.max(k.angular_velocity_body.norm());
        if (sample.t_ns - t0) as f64 * 1e-9 > cfg.hover_s {
            sum_v += speed;
            n_v += 1;
        }
    }
    let duration_s = match (seq.frame_times_ns.first(), seq.frame_times_ns.last()) {
        (Some(a), Some(b)) => (b - a) as f64 * 1e-9,
        _ => 0.0,
    };
    Ok(SequenceSummary {
        path: out.to_path_buf(),
        seed: cfg.seed,
        difficulty: cfg.difficulty.to_string(),
        stereo_pairs: frames,
        image_size: (seq.calibration.cam0.width, seq.calibration.cam0.height),
        imu_samples: seq.imu.len(),
        duration_s,
        path_length_m: gt.path_length_m(),
        max_speed_m_s: max_v,
        mean_speed_after_hover_m_s: sum_v / n_v.max(1) as f64,
        max_angular_rate_rad_s: max_w,
        mean_intensity: intensity / frames.max(1) as f64,
        generate_s,
        render_s,
        write_s,
        threads,
        render_and_write_wall_s: wall_s,
    })
}
