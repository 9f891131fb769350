//! Static plots of a replay for people without a viewer: the trajectory seen
//! from above against the ground truth, the position error over time, and the
//! stages' time per frame (PNG, through `viz::plot`).
//!
//! The estimate is drawn in the ground truth's world frame after the same
//! SE(3) alignment (Umeyama) that `metrics.json`'s ATE uses, so the picture
//! and the number agree; x and y in metres at equal scale, time in seconds
//! from the first scored pose.

use std::path::{Path, PathBuf};

use viz::plot::{LineChart, LineSeries, PlotError, line_chart_png};

use crate::eval::{Alignment, EvalOptions, Trajectory, associate, evaluate};
use pipeline::PipelineRun;

/// An estimate aligned to its ground truth, ready to draw.
#[derive(Debug, Clone, PartialEq)]
pub struct AlignedTrajectory {
    /// Ground-truth positions (x, y) over the estimate's time span, m.
    pub gt_xy: Vec<(f64, f64)>,
    /// Aligned estimated positions (x, y), m.
    pub est_xy: Vec<(f64, f64)>,
    /// Position error of each matched pose after alignment: (time from the
    /// first match, s; error, m).
    pub error_over_time: Vec<(f64, f64)>,
    /// The same errors at the estimate's time stamps: (ns, m).
    pub error_at_t_ns: Vec<(i64, f64)>,
    /// The alignment: the estimate's world into the ground truth's.
    pub transform: crate::eval::SimilarityTransform,
}

/// Aligns `est` to `gt` (SE(3), the default association); `None` when the
/// alignment cannot be made (too few matches, degenerate motion).
#[must_use]
pub fn align_for_plots(gt: &Trajectory, est: &Trajectory) -> Option<AlignedTrajectory> {
    let options = EvalOptions {
        align: Alignment::Se3,
        rpe_segments_m: Some(Vec::new()),
        ..EvalOptions::default()
    };
    let report = evaluate(gt, est, &options).ok()?;
    let max_dt_ns = (options.max_time_diff_s * 1e9).round() as i64;
    let matches = associate(gt, est, max_dt_ns);
    let first = matches.first()?;
    let t0 = gt.t_ns()[first.gt_index];
    let aligned = |i: usize| {
        report
            .transform
            .transform_point(&est.world_from_body()[i].translation.vector.into())
    };
    let error = |m: &crate::eval::Match| {
        let g = gt.world_from_body()[m.gt_index].translation.vector;
        (aligned(m.est_index).coords - g).norm()
    };
    let error_over_time = matches
        .iter()
        .map(|m| ((gt.t_ns()[m.gt_index] - t0) as f64 * 1e-9, error(m)))
        .collect();
    let error_at_t_ns = matches
        .iter()
        .map(|m| (est.t_ns()[m.est_index], error(m)))
        .collect();
    let est_xy = (0..est.len())
        .map(|i| {
            let p = aligned(i);
            (p.x, p.y)
        })
        .collect();
    let (t_first, t_last) = (est.t_ns()[0], est.t_ns()[est.len() - 1]);
    let gt_xy = gt
        .iter()
        .filter(|(t, _)| *t >= t_first && *t <= t_last)
        .map(|(_, p)| (p.translation.vector.x, p.translation.vector.y))
        .collect();
    Some(AlignedTrajectory {
        gt_xy,
        est_xy,
        error_over_time,
        error_at_t_ns,
        transform: report.transform,
    })
}

/// Writes `trajectory.png` (top view; against the ground truth when there is
/// one), `ate.png` (the error over time, with ground truth only) and
/// `timing.png` (front end and back end per frame) into `out`; returns the
/// files written.
///
/// # Errors
/// [`PlotError`] when a file cannot be written.
pub fn write_replay_plots(
    out: &Path,
    gt: Option<&Trajectory>,
    est: &Trajectory,
    run: &PipelineRun,
) -> Result<Vec<PathBuf>, PlotError> {
    let mut written = Vec::new();
    let aligned = gt.and_then(|gt| align_for_plots(gt, est));
    let mut top = LineChart::new("trajectory, top view", "x (m)", "y (m)");
    top.equal_aspect = true;
    top.mark_start = true;
    match &aligned {
        Some(a) => {
            top.title = "top view, aligned to ground truth (SE(3))".into();
            top.series
                .push(LineSeries::new("ground truth", a.gt_xy.clone()));
            top.series.push(LineSeries::new("scout", a.est_xy.clone()));
        }
        None => {
            top.series.push(LineSeries::new(
                "scout",
                est.world_from_body()
                    .iter()
                    .map(|p| (p.translation.vector.x, p.translation.vector.y))
                    .collect(),
            ));
        }
    }
    let path = out.join("trajectory.png");
    line_chart_png(&top, &path)?;
    written.push(path);
    if let Some(a) = &aligned {
        let mut ate = LineChart::new(
            "position error after SE(3) alignment",
            "time (s)",
            "error (mm)",
        );
        ate.y_from_zero = true;
        ate.series.push(LineSeries::new(
            "scout",
            a.error_over_time
                .iter()
                .map(|(t, e)| (*t, e * 1e3))
                .collect(),
        ));
        let path = out.join("ate.png");
        line_chart_png(&ate, &path)?;
        written.push(path);
    }
    if let Some(first) = run.records.first() {
        let t0 = first.t_ns;
        let series = |name: &str, f: fn(&pipeline::RecordTiming) -> u64| {
            LineSeries::new(
                name,
                run.records
                    .iter()
                    .map(|r| ((r.t_ns - t0) as f64 * 1e-9, f(&r.timing) as f64 * 1e-6))
                    .collect(),
            )
        };
        let mut timing = LineChart::new("wall time per frame (this machine)", "time (s)", "ms");
        timing.y_from_zero = true;
        timing.series.push(series("front end", |t| t.frontend_ns));
        timing.series.push(series("back end", |t| t.backend_ns));
        let path = out.join("timing.png");
        line_chart_png(&timing, &path)?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]
mod tests {
    use nalgebra::{Isometry3, Translation3, UnitQuaternion, Vector3};

    use super::*;

    fn circle(n: usize, offset: Vector3<f64>, yaw: f64) -> Trajectory {
        let moved = Isometry3::from_parts(
            Translation3::from(offset),
            UnitQuaternion::from_euler_angles(0.0, 0.0, yaw),
        );
        let poses = (0..n)
            .map(|i| {
                let a = i as f64 * 0.1;
                moved * Isometry3::translation(2.0 * a.cos(), 2.0 * a.sin(), 0.3 * a.sin())
            })
            .collect();
        Trajectory::new((0..n as i64).map(|i| i * 50_000_000).collect(), poses).unwrap()
    }

    #[test]
    fn a_moved_copy_aligns_back_onto_the_ground_truth() {
        let gt = circle(60, Vector3::zeros(), 0.0);
        let est = circle(60, Vector3::new(1.0, -2.0, 0.5), 0.7);
        let a = align_for_plots(&gt, &est).unwrap();
        assert_eq!(a.est_xy.len(), 60);
        assert_eq!(a.gt_xy.len(), 60);
        assert_eq!(a.error_over_time.len(), 60);
        for ((g, e), (t, err)) in a.gt_xy.iter().zip(&a.est_xy).zip(&a.error_over_time) {
            assert!((g.0 - e.0).abs() < 1e-9 && (g.1 - e.1).abs() < 1e-9);
            assert!(*err < 1e-9 && *t >= 0.0);
        }
        assert!((a.error_over_time[59].0 - 59.0 * 0.05).abs() < 1e-12);
        // A straight line cannot fix a rotation: no plot data.
        let line = Trajectory::new(
            (0..10).map(|i| i * 50_000_000).collect(),
            (0..10)
                .map(|i| Isometry3::translation(f64::from(i), 0.0, 0.0))
                .collect(),
        )
        .unwrap();
        assert!(align_for_plots(&line, &line).is_none());
    }
}
