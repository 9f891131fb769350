//! Outlier rejection on bearings: the stereo epipolar check and temporal RANSAC.
//!
//! Inputs are unit bearings `f` in camera frames (x right, y down, z forward), as
//! [`crate::camera::Camera::unproject`] returns them; angles are in radians,
//! translations in metres. Two views of one point satisfy the epipolar constraint
//! (Hartley & Zisserman, *Multiple View Geometry*, 2nd ed., Sec. 9.6, written for
//! calibrated bearings as in Longuet-Higgins, Nature 1981)
//!
//! ```text
//! f_b . (t x R f_a) = f_b^T E f_a = 0,   E = [t]x R,   p_b = R p_a + t,
//! ```
//!
//! i.e. `f_b` lies in the *epipolar plane* through the baseline `t` and the rotated
//! bearing `a = R f_a`. Every residual here is the angle between `f_b` and that
//! plane, `asin(|f_b . n| / |n|)` with `n = t x a = E f_a`: an angle on the
//! sphere, so it means the same at the centre of a fisheye and at its rim, and a
//! threshold in pixels converts with [`crate::camera::Camera::pixel_angle_rad`].
//! When `a` is parallel to `t` the plane is undefined; the point then lies on the
//! baseline and `f_b` must be parallel to it, so the residual becomes the angle
//! between `f_b` and the baseline's line.
//!
//! - [`StereoEpipolarCheck`]: a stereo match `(f0, f1)` against the rig's
//!   `cam1_from_cam0`, and whether its triangulation lies in front of both
//!   cameras (positive depths, not the mirrored solution behind them).
//! - [`TemporalRansac`]: tracked features between the previous and current left
//!   image, in one of two ways.
//!   - With a rotation prior (gyro), the *two-point* model fits only the
//!     translation direction: the constraint `f_cur . (t x R f_prev) = 0` is
//!     linear in `t`, two correspondences give `t = n_1 x n_2` with
//!     `n_i = R f_prev_i x f_cur_i` (Kneip, Chli & Siegwart, BMVC 2011; Troiani et
//!     al., ICRA 2014).
//!   - Without one, the *eight-point* model fits the essential matrix
//!     (Longuet-Higgins 1981; Hartley, TPAMI 1997), as VINS-Fusion and OpenVINS
//!     do through OpenCV's `findFundamentalMat`. The linear fit works on unit
//!     bearings directly (its rows `kron(f_cur, f_prev)` have unit norm, so the
//!     pixel-unit imbalance Hartley's normalization removes is absent). Between
//!     consecutive frames, though, the motion is close to a pure rotation, whose
//!     eight-point null space is the 3-dimensional family `R [w]x`: a sample
//!     determines `R` well and `t` poorly. So each hypothesis keeps the fit's
//!     rotation, re-solves `t` given it (the two-point least squares), and takes
//!     three Gauss-Newton steps on `(R, t)` over its eight points before it is
//!     scored.
//!
//! Both score hypotheses by MSAC (Torr & Zisserman, CVIU 2000: residuals count
//! their square up to the threshold's), refine every new best by reweighted least
//! squares on its inliers at 2, 1.5, 1 and 1 thresholds (LO-RANSAC: Chum, Matas &
//! Kittler, DAGM 2003), and stop adaptively (Fischler & Bolles, CACM 1981:
//! `k = log(1 - confidence) / log(1 - w^s)` for inlier ratio `w` and sample size
//! `s`) but not before a minimum count, since with a few pixels of parallax a
//! sample of exact inliers does not always give a model that explains the others.
//!
//! Rotation-only motion (hover, or the camera only turning) makes the translation
//! unobservable: with `t = 0` the rotation-compensated motion `|n_i|` of every
//! inlier is noise. A point whose `|n_i|` is below the threshold is within the
//! threshold of *every* epipolar plane through `R f_prev` (its residual is
//! `|n_i . e|` for a unit `e`), so it is an inlier of any model and is never
//! rejected. Translation is believed only when enough points with clear parallax
//! (motion above [`PARALLAX_FACTOR`] thresholds) agree on it
//! ([`RansacConfig::min_parallax_inliers`], [`RansacConfig::min_parallax_fraction`]):
//! two mismatches always "agree" on the plane they span, and the eight-point
//! family of a pure rotation can fit two the same way. Otherwise the motion is
//! taken as a rotation (the prior, or the essential matrix's rotation refined by
//! orthogonal Procrustes) and the points it explains within
//! [`ROTATION_ONLY_RADIUS`] thresholds are the inliers.
//!
//! Measured on synthetic scenes (`failure_rates_over_many_scenes`: 300 points 2-8 m
//! away, 0.3 px noise, a gyro prior off by 1 mrad, 200 scenes for each of general
//! motion, pure rotation, forward motion and standing still): with 20-30 %
//! mismatches at most 1 scene in 200 keeps fewer than 98 % of inliers or catches
//! fewer than 95 % of mismatches, for either model. With 10 % mismatches the
//! eight-point model misses 2 of 30 mismatches in up to 2.5 % of scenes: its five
//! degrees of freedom, loosely held by a few pixels of parallax, can bend to fit
//! them.

use cost::{KernelCost, OpCounts, Residence};
use nalgebra::{
    Isometry3, Matrix3, Matrix3x2, Matrix5, Rotation3, SMatrix, SVector, SymmetricEigen, Vector2,
    Vector3, Vector5,
};
use serde::{Deserialize, Serialize};

use crate::error::{Result, VioError};

/// Below this `|t x a|` (the sine of the angle between the baseline and a rotated
/// unit bearing) the epipolar plane is treated as undefined.
const DEGENERATE_SIN: f64 = 1e-9;

/// The angle between unit bearing `f` and the epipolar plane spanned by the unit
/// baseline direction `t_dir` and the rotated unit bearing `a`, rad; the angle
/// between `f` and the baseline's line when the plane is undefined.
fn angle_to_epipolar_plane(t_dir: &Vector3<f64>, a: &Vector3<f64>, f: &Vector3<f64>) -> f64 {
    let normal = t_dir.cross(a);
    let normal_norm = normal.norm();
    let sine = if normal_norm > DEGENERATE_SIN {
        f.dot(&normal).abs() / normal_norm
    } else {
        f.cross(t_dir).norm()
    };
    sine.min(1.0).asin()
}

// ---------------------------------------------------------------------------
// Stereo

/// The epipolar geometry of a calibrated stereo rig, for checking matches.
#[derive(Debug, Clone, PartialEq)]
pub struct StereoEpipolarCheck {
    /// Rotation of `cam1_from_cam0`.
    rotation: Matrix3<f64>,
    /// Translation of `cam1_from_cam0` (cam0's centre in cam1), m.
    translation: Vector3<f64>,
    /// `translation` normalized.
    baseline_dir: Vector3<f64>,
    /// `E = [t]x R`, with `f1^T E f0 = 0` for a true match.
    essential: Matrix3<f64>,
}

impl StereoEpipolarCheck {
    /// Builds the check from the rig's extrinsics, `p_cam1 = cam1_from_cam0 * p_cam0`.
    ///
    /// # Errors
    /// [`VioError::Calibration`] when the transform is not finite or the baseline is
    /// shorter than 1 micrometre (no epipolar geometry).
    pub fn new(cam1_from_cam0: &Isometry3<f64>) -> Result<Self> {
        let rotation = cam1_from_cam0.rotation.to_rotation_matrix().into_inner();
        let translation = cam1_from_cam0.translation.vector;
        let finite = rotation
            .iter()
            .chain(translation.iter())
            .all(|v| v.is_finite());
        let baseline = translation.norm();
        if !finite || baseline <= 1e-6 {
            return Err(VioError::Calibration(format!(
                "stereo epipolar check: cam1_from_cam0 needs a finite, non-zero baseline \
                 (translation {:?})",
                translation.as_slice()
            )));
        }
        Ok(Self {
            rotation,
            translation,
            baseline_dir: translation / baseline,
            essential: translation.cross_matrix() * rotation,
        })
    }

    /// The essential matrix `E = [t]x R` of `cam1_from_cam0`, m (`f1^T E f0 = 0`).
    #[must_use]
    pub fn essential(&self) -> &Matrix3<f64> {
        &self.essential
    }

    /// The angle between `f1` (cam1) and the epipolar plane of `f0` (cam0), rad.
    /// A true match scores 0; a match displaced by `d` px across the epipolar line
    /// scores about `d / focal`.
    #[must_use]
    pub fn epipolar_error_rad(&self, f0: &Vector3<f64>, f1: &Vector3<f64>) -> f64 {
        angle_to_epipolar_plane(&self.baseline_dir, &(self.rotation * f0), f1)
    }

    /// Depths along the two bearings, m: `(d0, d1)` with `d1 f1 = d0 R f0 + t` in
    /// the least-squares sense (the closest points of the two rays; the midpoint
    /// method of Hartley & Sturm, CVIU 1997). `None` when the rays are parallel
    /// (a point at infinity). Negative depths mean the rays meet behind a camera.
    #[must_use]
    pub fn ray_depths(&self, f0: &Vector3<f64>, f1: &Vector3<f64>) -> Option<(f64, f64)> {
        let a = self.rotation * f0;
        let cos = a.dot(f1);
        let sin_sq = 1.0 - cos * cos;
        if sin_sq < 1e-12 {
            return None;
        }
        let (a_t, f1_t) = (a.dot(&self.translation), f1.dot(&self.translation));
        Some(((cos * f1_t - a_t) / sin_sq, (f1_t - cos * a_t) / sin_sq))
    }

    /// Whether the match triangulates in front of both cameras (both depths
    /// positive). Parallel rays (a point at infinity) count as in front when they
    /// point the same way. A far point whose parallax is below the matching noise
    /// can land on either side; callers wanting such points keep them separately.
    #[must_use]
    pub fn is_in_front(&self, f0: &Vector3<f64>, f1: &Vector3<f64>) -> bool {
        match self.ray_depths(f0, f1) {
            Some((d0, d1)) => d0 > 0.0 && d1 > 0.0,
            None => (self.rotation * f0).dot(f1) > 0.0,
        }
    }

    /// Whether a match passes both tests: epipolar error at most `max_error_rad`
    /// and in front of both cameras.
    #[must_use]
    pub fn accepts(&self, f0: &Vector3<f64>, f1: &Vector3<f64>, max_error_rad: f64) -> bool {
        self.epipolar_error_rad(f0, f1) <= max_error_rad && self.is_in_front(f0, f1)
    }
}

// ---------------------------------------------------------------------------
// Temporal RANSAC: configuration and results

/// Configuration of [`TemporalRansac`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RansacConfig {
    /// Largest angle between a current bearing and its epipolar plane for an
    /// inlier, rad. Default `3 / 460` (3 px at EuRoC's 458 px focal length).
    /// Measured on synthetic medium flight (seed 3, frames 30-90, true gyro bias
    /// removed), where the tracks' own error has a 90th percentile of 0.09 px: at
    /// 1.5 px the model rejected 117 tracks and 22 % of the tracks that stayed in
    /// view died within 10 frames; at 3 px it rejected 15 and 0.6 % died, with
    /// no more tracks off by over 1 px. The fitted model, not the tracks, is
    /// that far off: two-point and eight-point hypotheses from nearby, noisy
    /// bearings leave good points 1.5-3 px from their planes. VINS-Fusion and
    /// OpenVINS use 1 px on a fundamental matrix. Convert a pixel threshold with
    /// [`crate::camera::Camera::pixel_angle_rad`].
    pub threshold_rad: f64,
    /// Most hypotheses tried per call. The default 300 reaches 99 % confidence
    /// for the eight-point model with up to 40 % outliers (`w^8 = 0.017`); the
    /// two-point model needs 16 at 50 %.
    pub max_iterations: usize,
    /// Probability that at least one hypothesis drew only inliers, in (0, 1);
    /// sets the adaptive iteration count.
    pub confidence: f64,
    /// Fewest two-point hypotheses drawn, whatever the inlier ratio says. The
    /// stopping rule assumes that any all-inlier sample gives the right model;
    /// from two noisy bearings with a few pixels of parallax it gives a model off
    /// by about the threshold, and the best of a few more is needed.
    pub min_iterations: usize,
    /// Fewest eight-point hypotheses drawn. The eight-point model has five
    /// degrees of freedom against a few pixels of parallax, so its hypotheses
    /// scatter more and the good ones are rarer: on the test scenes (module docs)
    /// with 20 % mismatches, 50 left 4 % of general-motion frames below 98 % of
    /// inliers kept, 100 leave 0.5 %.
    pub eight_point_min_iterations: usize,
    /// Seed of the sampler. Every call restarts from it, so the same bearings give
    /// the same mask whatever ran before.
    pub seed: u64,
    /// Fewest points with parallax (rotation-compensated motion above
    /// [`PARALLAX_FACTOR`] thresholds) that must agree on a translation for it to
    /// be believed. Otherwise the motion is treated as rotation-only and the points
    /// the rotation does not explain are outliers. Two mismatches always fit a
    /// translation direction (and the eight-point family of a pure rotation);
    /// the default 6 asks for four more.
    pub min_parallax_inliers: usize,
    /// Smallest fraction of the points with parallax that must agree on a
    /// translation, in [0, 1]. Bounds chance agreement when mismatches are many:
    /// each lies within the threshold of a given epipolar plane with probability
    /// about 0.5 % in a 100-degree view, so 100 mismatches give a random plane a
    /// few supporters beyond its two, far below the default 25 %, while a real
    /// translation is supported by all its inliers with parallax. A slow
    /// translation whose few parallax points are outnumbered four to one by
    /// mismatches is taken for a rotation (those few points are then rejected).
    pub min_parallax_fraction: f64,
}

impl Default for RansacConfig {
    fn default() -> Self {
        Self {
            threshold_rad: 3.0 / 460.0,
            max_iterations: 300,
            confidence: 0.99,
            min_iterations: 20,
            eight_point_min_iterations: 100,
            seed: 0x5c07_0001,
            min_parallax_inliers: 6,
            min_parallax_fraction: 0.25,
        }
    }
}

impl RansacConfig {
    /// Checks every field's range.
    ///
    /// # Errors
    /// [`VioError::Config`] naming the field.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(VioError::Config(format!("ransac: {m}")));
        let t = self.threshold_rad;
        if !(t.is_finite() && t > 0.0 && t < std::f64::consts::FRAC_PI_2) {
            return bad(format!("threshold_rad = {t} must be in (0, pi/2)"));
        }
        if self.max_iterations == 0 {
            return bad("max_iterations must be at least 1".into());
        }
        let c = self.confidence;
        if !(c > 0.0 && c < 1.0) {
            return bad(format!("confidence = {c} must be in (0, 1)"));
        }
        let f = self.min_parallax_fraction;
        if !(0.0..=1.0).contains(&f) {
            return bad(format!("min_parallax_fraction = {f} must be in [0, 1]"));
        }
        Ok(())
    }
}

/// Which minimal solver a RANSAC call used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RansacMethod {
    /// Translation direction from two points, given the rotation.
    TwoPoint,
    /// Essential matrix from eight points.
    EightPoint,
}

/// The motion a RANSAC call settled on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MotionModel {
    /// Fewer points than the minimal sample: nothing was tested, every point is
    /// kept.
    TooFewPoints,
    /// No hypothesis could be formed (every sample was degenerate): every point
    /// is kept.
    Degenerate,
    /// No observable translation (hover or pure rotation): inliers are the points
    /// whose motion this rotation (`cur_from_prev`) explains.
    RotationOnly(Rotation3<f64>),
    /// The two-point model: unit translation direction in the current camera
    /// frame, up to sign.
    TranslationDirection(Vector3<f64>),
    /// The eight-point model: essential matrix with singular values (1, 1, 0),
    /// up to sign, `f_cur^T E f_prev = 0`.
    Essential(Matrix3<f64>),
}

/// What a RANSAC call did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RansacSummary {
    /// The solver.
    pub method: RansacMethod,
    /// The motion found.
    pub model: MotionModel,
    /// Correspondences given.
    pub points: usize,
    /// Correspondences kept.
    pub inliers: usize,
    /// Hypotheses drawn.
    pub iterations: usize,
}

// ---------------------------------------------------------------------------
// Temporal RANSAC: operation counts for the cost ledger
//
// f64 operations per unit of work, counted from the code below (a fused
// multiply-add counts as two; a square root or divide as one).

/// `a = R f_prev` (15), `n = a x f_cur` (9), `|n|^2` (5), `a . f_cur` (5), two compares.
const OPS_COMPENSATE_POINT: u64 = 36;
/// `t = n_a x n_b` (9), its norm and the degeneracy test (9), normalizing (4).
const OPS_TWO_POINT_HYPOTHESIS: u64 = 22;
/// `t . n` (5), `t x a` (9), `|t x a|^2` (5), squaring, dividing, comparing and
/// the truncated sum (5).
const OPS_TWO_POINT_RESIDUAL: u64 = 24;
/// One row `kron(f_cur, f_prev)` (9) and its lower-triangle outer product (90),
/// then splitting the fit: the two rotations' compensated motion (2 x 20) and
/// the translation's scatter (15 + 9 + 18).
const OPS_EIGHT_POINT_ROW: u64 = 99 + 40 + 42;
/// Symmetric eigen-decomposition of the 9x9 normal matrix: Householder
/// tridiagonalization (4/3 n^3) and implicit QR with eigenvector accumulation
/// (about 6 n^3 for two sweeps per eigenvalue); `9 n^3` is the estimate.
const OPS_EIGEN_9X9: u64 = 9 * 9 * 9 * 9;
/// A 3x3 SVD (bidiagonalization, a few QR sweeps, U and V) and a 3x3 product to
/// rebuild the matrix: an estimate.
const OPS_SVD_3X3: u64 = 450;
/// Everything an eight-point fit does once, beyond its rows: the 9x9 eigen-
/// decomposition, the projection and the decomposition into rotations (two SVDs),
/// and the translation's 3x3 eigen-decomposition.
const OPS_EIGHT_POINT_FIT: u64 = OPS_EIGEN_9X9 + 2 * OPS_SVD_3X3 + OPS_EIGEN_3X3;
/// `n = E f_prev` (15), `f_cur . n` (5), `|n|^2` (5), squaring, dividing,
/// comparing and the truncated sum (5).
const OPS_EIGHT_POINT_RESIDUAL: u64 = 30;
/// Accumulating `n n^T` (lower triangle, 12) or `f_cur f_prev^T` (18) for a refit.
const OPS_REFIT_POINT: u64 = 18;
/// A 3x3 symmetric eigen-decomposition: an estimate (`9 n^3`).
const OPS_EIGEN_3X3: u64 = 9 * 27;
/// A point's Gauss-Newton contribution: `a = R f_prev` (15), the normal and its
/// norm (14), `e` (5), the weight (3), the Jacobian row (33), the outer product
/// and gradient (40, lower triangle).
const OPS_GAUSS_NEWTON_POINT: u64 = 110;
/// Cholesky and solve of a 5x5 system, and the update (rotation exponential, `t`).
const OPS_SOLVE_5X5: u64 = 200;
/// Bytes of one bearing (three f64).
const BEARING_BYTES: u64 = 24;
/// Bytes of a moving-point index.
const INDEX_BYTES: u64 = 4;

/// Gauss-Newton (translation model) or Procrustes (rotation-only) rounds that
/// correct the rotation prior on the points it explains.
const PRIOR_REFINE_STEPS: usize = 2;

/// Minimal sample of the two-point model.
const TWO_POINT_SAMPLE: usize = 2;
/// Sample of the eight-point model.
const EIGHT_POINT_SAMPLE: usize = 8;
/// Local optimization of every new best hypothesis (LO-RANSAC, Chum, Matas &
/// Kittler, DAGM 2003): least-squares refits on the points within these multiples
/// of the threshold, each reweighted by the previous model, each kept unless it
/// raises the MSAC cost. A model from a noisy minimal sample, refit only on its
/// own inliers, stays near itself; the wider first rounds let the inliers it
/// excludes pull it over.
const REFIT_SCALES: [f64; 4] = [2.0, 1.5, 1.0, 1.0];
/// Gauss-Newton steps that fit each eight-point hypothesis to its own sample on
/// the essential manifold before it is scored. Eight points over-determine the
/// five degrees of freedom of `E`; the linear fit ignores that, and with a few
/// pixels of parallax a sample of exact inliers explains only half to two thirds
/// of the others. Measured on the test scenes with 20 % mismatches: without the
/// steps 8.5 % of general-motion frames kept fewer than 98 % of inliers, with
/// three 0.5 %.
const SAMPLE_REFINE_STEPS: usize = 3;
/// A point shows parallax when its rotation-compensated motion exceeds this many
/// thresholds: inliers of a hover stay below it (noise of 0.3-0.5 px and a prior
/// off by a few mrad stay within one 3 px threshold), so only real parallax or mismatches
/// drive the translation hypotheses and the rotation-only test.
pub const PARALLAX_FACTOR: f64 = 2.0;
/// The rotation-only model's inlier radius in thresholds: the parallax limit
/// itself. A frame is called rotation-only when too few points move by more
/// than [`PARALLAX_FACTOR`] thresholds to establish a translation, so only
/// those may be rejected. (A noise argument alone, two degrees of freedom
/// against one at 3 sigma, would give `sqrt(11.83 / 9) = 1.146`; on synthetic
/// flight that radius rejected 5-15 good tracks a frame whose real parallax of
/// 3-6 px, during slow translation, lay between the two.)
pub const ROTATION_ONLY_RADIUS: f64 = PARALLAX_FACTOR;

// ---------------------------------------------------------------------------
// Temporal RANSAC

/// RANSAC over tracked bearings between the previous and the current left image.
///
/// Owns its scratch buffers: after the first calls with the largest number of
/// points, a call allocates nothing. Every call restarts the sampler from
/// [`RansacConfig::seed`], so the result depends only on its inputs.
#[derive(Debug, Clone)]
pub struct TemporalRansac {
    config: RansacConfig,
    /// `sin(threshold)^2`: residuals are compared as squared sines.
    sin_threshold_sq: f64,
    /// `a_i = R f_prev_i` for the current rotation hypothesis.
    rotated: Vec<Vector3<f64>>,
    /// `n_i = a_i x f_cur_i`; `|n_i|` is the sine of the rotation-compensated motion.
    normals: Vec<Vector3<f64>>,
    /// Indices of the points the rotation does not explain (`|n_i|` above the
    /// threshold, or pointing backwards).
    moving: Vec<u32>,
    /// The subset of `moving` with clear parallax (`|n_i|` above
    /// [`PARALLAX_FACTOR`] thresholds): hypotheses and the translation test use
    /// only these.
    parallax: Vec<u32>,
    last_cost: KernelCost,
}

impl TemporalRansac {
    /// A RANSAC with the given configuration.
    ///
    /// # Errors
    /// [`VioError::Config`] when a field is out of range.
    pub fn new(config: RansacConfig) -> Result<Self> {
        config.validate()?;
        let sin_threshold = config.threshold_rad.sin();
        Ok(Self {
            config,
            sin_threshold_sq: sin_threshold * sin_threshold,
            rotated: Vec::new(),
            normals: Vec::new(),
            moving: Vec::new(),
            parallax: Vec::new(),
            last_cost: KernelCost::default(),
        })
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &RansacConfig {
        &self.config
    }

    /// Operations and bytes of the last call, counted from its loop bounds
    /// (f64 operations; the bearings and scratch, a few KiB reused by every
    /// hypothesis, as [`Residence::Buffer`] traffic).
    #[must_use]
    pub fn last_cost(&self) -> KernelCost {
        self.last_cost
    }

    /// Runs the two-point model when a rotation prior is given, else the
    /// eight-point model. See [`Self::two_point`] and [`Self::eight_point`].
    ///
    /// # Errors
    /// As [`Self::two_point`].
    pub fn reject_outliers(
        &mut self,
        prev: &[Vector3<f64>],
        cur: &[Vector3<f64>],
        cur_from_prev: Option<&Rotation3<f64>>,
        inliers: &mut Vec<bool>,
    ) -> Result<RansacSummary> {
        match cur_from_prev {
            Some(rotation) => self.two_point(prev, cur, rotation, inliers),
            None => self.eight_point(prev, cur, inliers),
        }
    }

    /// Two-point RANSAC on the translation direction, trusting the rotation
    /// `cur_from_prev` (for example integrated from the gyro). `prev[i]` and
    /// `cur[i]` are unit bearings of feature `i` in the previous and current
    /// camera frames; `inliers` is resized to `prev.len()` and set per feature.
    ///
    /// Each hypothesis is `t = n_a x n_b` from two points with clear parallax;
    /// the residual of point `i` is the angle between `f_cur_i` and the plane
    /// through `t` and `R f_prev_i`. Every new best is refit on its inliers (the
    /// eigenvector of `sum w_i n_i n_i^T` with the smallest eigenvalue, `w_i`
    /// turning algebraic residuals into angles). Points the rotation explains are
    /// always inliers; without enough parallax the model is
    /// [`MotionModel::RotationOnly`] (module docs). The prior's error adds to the
    /// residuals before the refinement below, so it should be below the
    /// threshold (1 mrad against the default 6.5 mrad is tested).
    ///
    /// # Errors
    /// [`VioError::Input`] when the slices differ in length or a bearing is not
    /// finite.
    pub fn two_point(
        &mut self,
        prev: &[Vector3<f64>],
        cur: &[Vector3<f64>],
        cur_from_prev: &Rotation3<f64>,
        inliers: &mut Vec<bool>,
    ) -> Result<RansacSummary> {
        self.start_tally();
        check_bearings(prev, cur)?;
        let method = RansacMethod::TwoPoint;
        if prev.len() < TWO_POINT_SAMPLE {
            return Ok(self.keep_all(method, MotionModel::TooFewPoints, prev.len(), 0, inliers));
        }
        self.compensate_rotation(prev, cur, cur_from_prev);
        if self.parallax.len() < TWO_POINT_SAMPLE {
            let rotation = self.refine_prior(prev, cur, *cur_from_prev, inliers);
            return Ok(self.rotation_only(cur, method, rotation, 0, inliers));
        }
        let (best, iterations) = self.search_translation();
        let Some((t_dir, _)) = best.filter(|(_, s)| self.shows_translation(s.inliers)) else {
            let rotation = self.refine_prior(prev, cur, *cur_from_prev, inliers);
            return Ok(self.rotation_only(cur, method, rotation, iterations, inliers));
        };
        let kept = self.write_translation_mask(&t_dir, inliers);
        // The prior is off by the gyro bias times the frame period (a few mrad on
        // EuRoC before the back end estimates it), which adds to every residual:
        // refine rotation and translation together on the inliers (Gauss-Newton
        // on the essential manifold) and label the points again with that model.
        let mut essential = t_dir.cross_matrix() * cur_from_prev.matrix();
        for _ in 0..PRIOR_REFINE_STEPS {
            let on = inliers
                .iter()
                .enumerate()
                .filter(|(_, k)| **k)
                .map(|(i, _)| i);
            let used = inliers.iter().filter(|k| **k).count() as u64;
            self.tally(
                used * OPS_GAUSS_NEWTON_POINT + OPS_SOLVE_5X5 + OPS_SVD_3X3,
                used * 2 * BEARING_BYTES,
                0,
            );
            match essential_step(prev, cur, &essential, on) {
                Some(e) => essential = e,
                None => break,
            }
        }
        self.write_essential_mask(prev, cur, &essential, inliers);
        let refined = inliers.iter().filter(|k| **k).count();
        if refined < kept {
            // The refinement went astray (too few or degenerate inliers): keep
            // the prior's model.
            let kept = self.write_translation_mask(&t_dir, inliers);
            return Ok(RansacSummary {
                method,
                model: MotionModel::TranslationDirection(t_dir),
                points: prev.len(),
                inliers: kept,
                iterations,
            });
        }
        Ok(RansacSummary {
            method,
            model: MotionModel::Essential(essential),
            points: prev.len(),
            inliers: refined,
            iterations,
        })
    }

    /// Eight-point RANSAC on the essential matrix, for when no rotation prior is
    /// available. Arguments as [`Self::two_point`].
    ///
    /// Each hypothesis solves `f_cur^T E f_prev = 0` for eight points (the
    /// eigenvector of the 9x9 normal matrix with the smallest eigenvalue,
    /// projected onto the essential matrices), keeps its rotation, re-solves the
    /// translation and is refined on its sample (module docs). Every new best is
    /// refit on its inliers. Then `E` is decomposed into its two rotations; with
    /// the one that explains more points, too few inliers with parallax means a
    /// hover or a pure rotation ([`MotionModel::RotationOnly`] with that rotation
    /// refined by orthogonal Procrustes on the points it explains).
    ///
    /// # Errors
    /// As [`Self::two_point`].
    pub fn eight_point(
        &mut self,
        prev: &[Vector3<f64>],
        cur: &[Vector3<f64>],
        inliers: &mut Vec<bool>,
    ) -> Result<RansacSummary> {
        self.start_tally();
        check_bearings(prev, cur)?;
        let method = RansacMethod::EightPoint;
        if prev.len() < EIGHT_POINT_SAMPLE {
            return Ok(self.keep_all(method, MotionModel::TooFewPoints, prev.len(), 0, inliers));
        }
        let (best, iterations) = self.search_essential(prev, cur);
        let Some((essential, score)) = best else {
            return Ok(self.keep_all(
                method,
                MotionModel::Degenerate,
                prev.len(),
                iterations,
                inliers,
            ));
        };
        if let Some(rotation) = self.rotation_of_essential(prev, cur, &essential) {
            self.compensate_rotation(prev, cur, &rotation);
            let with_parallax = self.parallax_essential_support(prev, cur, &essential);
            if !self.shows_translation(with_parallax) {
                let rotation = self.refine_rotation_on_static(prev, cur, rotation, inliers);
                self.compensate_rotation(prev, cur, &rotation);
                return Ok(self.rotation_only(cur, method, rotation, iterations, inliers));
            }
        }
        self.write_essential_mask(prev, cur, &essential, inliers);
        Ok(RansacSummary {
            method,
            model: MotionModel::Essential(essential),
            points: prev.len(),
            inliers: score.inliers,
            iterations,
        })
    }

    // --- shared steps ------------------------------------------------------

    fn start_tally(&mut self) {
        self.last_cost = KernelCost {
            calls: 1,
            ..KernelCost::default()
        };
    }

    /// Adds `ops` f64 operations and buffer traffic to the last call's cost.
    fn tally(&mut self, ops: u64, read: u64, written: u64) {
        self.last_cost.add_ops(OpCounts {
            f64_ops: ops,
            ..OpCounts::default()
        });
        self.last_cost.read(Residence::Buffer, read);
        self.last_cost.write(Residence::Buffer, written);
    }

    /// Every point is an inlier (nothing could be tested).
    fn keep_all(
        &mut self,
        method: RansacMethod,
        model: MotionModel,
        points: usize,
        iterations: usize,
        inliers: &mut Vec<bool>,
    ) -> RansacSummary {
        inliers.clear();
        inliers.resize(points, true);
        self.tally(0, 0, points as u64);
        RansacSummary {
            method,
            model,
            points,
            inliers: points,
            iterations,
        }
    }

    /// Fills `rotated`, `normals`, `moving` and `parallax` for rotation
    /// `cur_from_prev`.
    fn compensate_rotation(
        &mut self,
        prev: &[Vector3<f64>],
        cur: &[Vector3<f64>],
        cur_from_prev: &Rotation3<f64>,
    ) {
        self.rotated.clear();
        self.normals.clear();
        self.moving.clear();
        self.parallax.clear();
        let parallax_sq = PARALLAX_FACTOR * PARALLAX_FACTOR * self.sin_threshold_sq;
        for (i, (p, c)) in prev.iter().zip(cur).enumerate() {
            let a = cur_from_prev * p;
            let n = a.cross(c);
            let motion_sq = n.norm_squared();
            let forward = a.dot(c) > 0.0;
            // Fits: `check_bearings` caps the number of points at u32::MAX.
            let index = i as u32;
            if motion_sq > self.sin_threshold_sq || !forward {
                self.moving.push(index);
            }
            if motion_sq > parallax_sq && forward {
                self.parallax.push(index);
            }
            self.rotated.push(a);
            self.normals.push(n);
        }
        let n = prev.len() as u64;
        let listed = (self.moving.len() + self.parallax.len()) as u64;
        self.tally(
            n * OPS_COMPENSATE_POINT,
            2 * n * BEARING_BYTES,
            2 * n * BEARING_BYTES + listed * INDEX_BYTES,
        );
    }

    /// Whether `support` points with parallax agreeing on one motion are evidence
    /// of translation rather than chance (see [`RansacConfig::min_parallax_inliers`]).
    fn shows_translation(&self, support: usize) -> bool {
        let fraction = support as f64 / self.parallax.len().max(1) as f64;
        support >= self.config.min_parallax_inliers && fraction >= self.config.min_parallax_fraction
    }

    /// The rotation-only model: inliers are the points whose rotation-compensated
    /// motion is within [`ROTATION_ONLY_RADIUS`] thresholds (a two-dimensional
    /// residual). `compensate_rotation` has run with `cur_from_prev`.
    fn rotation_only(
        &mut self,
        cur: &[Vector3<f64>],
        method: RansacMethod,
        cur_from_prev: Rotation3<f64>,
        iterations: usize,
        inliers: &mut Vec<bool>,
    ) -> RansacSummary {
        let points = self.rotated.len();
        let radius_sq = ROTATION_ONLY_RADIUS * ROTATION_ONLY_RADIUS * self.sin_threshold_sq;
        inliers.clear();
        inliers.resize(points, true);
        let mut rejected = 0;
        for &i in &self.moving {
            let i = i as usize;
            let explained =
                self.normals[i].norm_squared() <= radius_sq && self.rotated[i].dot(&cur[i]) > 0.0;
            inliers[i] = explained;
            rejected += usize::from(!explained);
        }
        let m = self.moving.len() as u64;
        self.tally(8 * m, m * (INDEX_BYTES + 2 * BEARING_BYTES), points as u64);
        RansacSummary {
            method,
            model: MotionModel::RotationOnly(cur_from_prev),
            points,
            inliers: points - rejected,
            iterations,
        }
    }

    // --- two-point model ---------------------------------------------------

    /// Whether moving point `i` lies within the threshold of the epipolar plane
    /// through unit `t_dir` and `rotated[i]`.
    fn agrees_with_translation(&self, t_dir: &Vector3<f64>, i: usize) -> bool {
        self.agrees_with_translation_within(t_dir, i, self.sin_threshold_sq)
    }

    /// As [`Self::agrees_with_translation`] with the squared sine of another
    /// threshold.
    fn agrees_with_translation_within(&self, t_dir: &Vector3<f64>, i: usize, sin_sq: f64) -> bool {
        self.translation_residual_sq(t_dir, i) <= sin_sq
    }

    /// Squared sine of the angle between `f_cur_i` and the epipolar plane through
    /// `t_dir` and `rotated[i]`: `(t . n_i)^2 / |t x a_i|^2`.
    fn translation_residual_sq(&self, t_dir: &Vector3<f64>, i: usize) -> f64 {
        plane_residual_sq(
            t_dir.dot(&self.normals[i]),
            t_dir.cross(&self.rotated[i]).norm_squared(),
        )
    }

    /// The score of `t_dir` on the points with parallax, counted in the cost.
    fn translation_score(&mut self, t_dir: &Vector3<f64>) -> Score {
        let score = self.score_translation(t_dir);
        self.tally_translation_pass(self.parallax.len(), 1);
        score
    }

    fn score_translation(&self, t_dir: &Vector3<f64>) -> Score {
        Score::of(
            self.parallax
                .iter()
                .map(|&i| self.translation_residual_sq(t_dir, i as usize)),
            self.sin_threshold_sq,
        )
    }

    fn tally_translation_pass(&mut self, points: usize, passes: u64) {
        let m = points as u64;
        self.tally(
            passes * m * OPS_TWO_POINT_RESIDUAL,
            passes * m * (INDEX_BYTES + 2 * BEARING_BYTES),
            0,
        );
    }

    /// The RANSAC loop over pairs of points with parallax: the best direction and
    /// its support among them, and the number of hypotheses drawn.
    ///
    /// Only a direction passing [`Self::shows_translation`] matters, and that
    /// needs an inlier ratio of at least `min_parallax_fraction`, so the
    /// iteration count never exceeds what finds such a direction with the
    /// configured confidence (a hover stops there instead of at `max_iterations`).
    fn search_translation(&mut self) -> (Option<(Vector3<f64>, Score)>, usize) {
        let mut rng = SplitMix64::new(self.config.seed);
        let population = self.parallax.len();
        let lowest_useful = (self.config.min_parallax_fraction * population as f64).ceil() as usize;
        let mut best: Option<(Vector3<f64>, Score)> = None;
        let floor = self.config.min_iterations;
        let mut needed = self.iterations_needed(lowest_useful, population, TWO_POINT_SAMPLE, floor);
        let mut iterations = 0;
        let mut tested = 0;
        while iterations < needed {
            iterations += 1;
            let [a, b] = rng.distinct_indices::<TWO_POINT_SAMPLE>(population);
            let Some(t_dir) = self.translation_from_pair(a, b) else {
                continue;
            };
            tested += 1;
            let score = self.score_translation(&t_dir);
            if best.is_none_or(|(_, b)| score.beats(&b)) {
                let (t_dir, score) = self.polish_translation(t_dir, score);
                best = Some((t_dir, score));
                let ratio_for = score.inliers.max(lowest_useful);
                needed = self.iterations_needed(ratio_for, population, TWO_POINT_SAMPLE, floor);
            }
        }
        self.tally(
            iterations as u64 * OPS_TWO_POINT_HYPOTHESIS,
            iterations as u64 * 2 * (INDEX_BYTES + BEARING_BYTES),
            0,
        );
        self.tally_translation_pass(population, tested);
        (best, iterations)
    }

    /// `t = n_a x n_b` for parallax points number `a` and `b`, normalized; `None`
    /// when their constraints are (nearly) the same plane.
    fn translation_from_pair(&self, a: usize, b: usize) -> Option<Vector3<f64>> {
        let na = &self.normals[self.parallax[a] as usize];
        let nb = &self.normals[self.parallax[b] as usize];
        let t = na.cross(nb);
        let norm = t.norm();
        (norm > 1e-6 * na.norm() * nb.norm()).then(|| t / norm)
    }

    /// Local optimization of a hypothesis and its support (see [`REFIT_SCALES`]).
    fn polish_translation(
        &mut self,
        mut t_dir: Vector3<f64>,
        mut score: Score,
    ) -> (Vector3<f64>, Score) {
        for scale in REFIT_SCALES {
            let Some(refit) = self.refit_translation(&t_dir, scale) else {
                continue;
            };
            let refit_score = self.translation_score(&refit);
            if !score.beats(&refit_score) {
                (t_dir, score) = (refit, refit_score);
            }
        }
        (t_dir, score)
    }

    /// Weighted least-squares direction on the parallax points within `scale`
    /// thresholds of `t_dir`: the unit `t` minimizing
    /// `sum (t . n_i)^2 / |t_dir x a_i|^2`.
    fn refit_translation(&mut self, t_dir: &Vector3<f64>, scale: f64) -> Option<Vector3<f64>> {
        let sin_sq = self.sin_threshold_sq * scale * scale;
        let mut scatter = Matrix3::zeros();
        for &i in &self.parallax {
            let i = i as usize;
            if self.agrees_with_translation_within(t_dir, i, sin_sq) {
                let n = &self.normals[i];
                let weight = geometric_weight(t_dir.cross(&self.rotated[i]).norm_squared());
                scatter += n * n.transpose() * weight;
            }
        }
        let m = self.parallax.len() as u64;
        self.tally(
            m * (OPS_TWO_POINT_RESIDUAL + OPS_REFIT_POINT) + OPS_EIGEN_3X3,
            m * (INDEX_BYTES + 2 * BEARING_BYTES),
            0,
        );
        let t = smallest_eigenvector_3(scatter)?;
        let norm = t.norm();
        (norm > 0.5).then(|| t / norm)
    }

    /// Points the rotation explains are inliers; the others are if they agree
    /// with `t_dir`. Returns the inlier count.
    fn write_translation_mask(&mut self, t_dir: &Vector3<f64>, inliers: &mut Vec<bool>) -> usize {
        let points = self.rotated.len();
        inliers.clear();
        inliers.resize(points, true);
        let mut rejected = 0;
        for &i in &self.moving {
            let agrees = self.agrees_with_translation(t_dir, i as usize);
            inliers[i as usize] = agrees;
            rejected += usize::from(!agrees);
        }
        self.tally_translation_pass(self.moving.len(), 1);
        self.tally(0, 0, points as u64);
        points - rejected
    }

    // --- eight-point model -------------------------------------------------

    /// Whether `f_cur` lies within the threshold of the epipolar plane `E f_prev`.
    fn agrees_with_essential(
        &self,
        essential: &Matrix3<f64>,
        f_prev: &Vector3<f64>,
        f_cur: &Vector3<f64>,
    ) -> bool {
        agrees_with_essential_within(essential, f_prev, f_cur, self.sin_threshold_sq)
    }

    fn score_essential(
        &self,
        prev: &[Vector3<f64>],
        cur: &[Vector3<f64>],
        essential: &Matrix3<f64>,
    ) -> Score {
        Score::of(
            prev.iter()
                .zip(cur)
                .map(|(p, c)| essential_residual_sq(essential, p, c)),
            self.sin_threshold_sq,
        )
    }

    /// The score of `essential` on every point, counted in the cost.
    fn essential_score(
        &mut self,
        prev: &[Vector3<f64>],
        cur: &[Vector3<f64>],
        essential: &Matrix3<f64>,
    ) -> Score {
        let score = self.score_essential(prev, cur, essential);
        self.tally_essential_pass(prev.len(), 1);
        score
    }

    fn tally_essential_pass(&mut self, points: usize, passes: u64) {
        let n = points as u64;
        self.tally(
            passes * n * OPS_EIGHT_POINT_RESIDUAL,
            passes * n * 2 * BEARING_BYTES,
            0,
        );
    }

    /// The RANSAC loop over eight-point samples: the best essential matrix and its
    /// support, and the number of hypotheses drawn.
    fn search_essential(
        &mut self,
        prev: &[Vector3<f64>],
        cur: &[Vector3<f64>],
    ) -> (Option<(Matrix3<f64>, Score)>, usize) {
        let mut rng = SplitMix64::new(self.config.seed);
        let population = prev.len();
        let mut best: Option<(Matrix3<f64>, Score)> = None;
        let mut needed = self.config.max_iterations;
        let mut iterations = 0;
        let mut tested = 0;
        while iterations < needed {
            iterations += 1;
            let sample = rng.distinct_indices::<EIGHT_POINT_SAMPLE>(population);
            let Some(mut essential) = fit_essential(prev, cur, sample.iter().map(|&i| (i, 1.0)))
            else {
                continue;
            };
            for _ in 0..SAMPLE_REFINE_STEPS {
                match essential_step(prev, cur, &essential, sample.iter().copied()) {
                    Some(step) => essential = step,
                    None => break,
                }
            }
            tested += 1;
            let score = self.score_essential(prev, cur, &essential);
            if best.is_none_or(|(_, b)| score.beats(&b)) {
                let (essential, score) = self.polish_essential(prev, cur, essential, score);
                best = Some((essential, score));
                needed = self.iterations_needed(
                    score.inliers,
                    population,
                    EIGHT_POINT_SAMPLE,
                    self.config.eight_point_min_iterations,
                );
            }
        }
        let sample = EIGHT_POINT_SAMPLE as u64;
        let refine = SAMPLE_REFINE_STEPS as u64 * (sample * OPS_GAUSS_NEWTON_POINT + OPS_SOLVE_5X5);
        self.tally(
            iterations as u64 * (sample * OPS_EIGHT_POINT_ROW + OPS_EIGHT_POINT_FIT + refine),
            iterations as u64 * sample * 2 * BEARING_BYTES,
            0,
        );
        self.tally_essential_pass(population, tested);
        (best, iterations)
    }

    /// Local optimization of a hypothesis and its support (see [`REFIT_SCALES`]).
    fn polish_essential(
        &mut self,
        prev: &[Vector3<f64>],
        cur: &[Vector3<f64>],
        mut essential: Matrix3<f64>,
        mut score: Score,
    ) -> (Matrix3<f64>, Score) {
        for scale in REFIT_SCALES {
            let Some(refit) = self.refit_essential(prev, cur, &essential, scale) else {
                continue;
            };
            let refit_score = self.essential_score(prev, cur, &refit);
            if !score.beats(&refit_score) {
                (essential, score) = (refit, refit_score);
            }
        }
        (essential, score)
    }

    /// The eight-point fit on every point within `scale` thresholds of
    /// `essential`, each row weighted by `1 / |E f_prev|^2`.
    fn refit_essential(
        &mut self,
        prev: &[Vector3<f64>],
        cur: &[Vector3<f64>],
        essential: &Matrix3<f64>,
        scale: f64,
    ) -> Option<Matrix3<f64>> {
        let sin_sq = self.sin_threshold_sq * scale * scale;
        let weighted_inliers = (0..prev.len())
            .filter(|&i| agrees_with_essential_within(essential, &prev[i], &cur[i], sin_sq))
            .map(|i| (i, geometric_weight((essential * prev[i]).norm_squared())));
        let refit = fit_essential(prev, cur, weighted_inliers);
        let n = prev.len() as u64;
        self.tally(
            n * (OPS_EIGHT_POINT_RESIDUAL + OPS_EIGHT_POINT_ROW) + OPS_EIGHT_POINT_FIT,
            n * 2 * BEARING_BYTES,
            0,
        );
        refit
    }

    /// Inliers of `essential` among the parallax points of the last
    /// `compensate_rotation`.
    fn parallax_essential_support(
        &mut self,
        prev: &[Vector3<f64>],
        cur: &[Vector3<f64>],
        essential: &Matrix3<f64>,
    ) -> usize {
        let support = self
            .parallax
            .iter()
            .filter(|&&i| {
                let i = i as usize;
                self.agrees_with_essential(essential, &prev[i], &cur[i])
            })
            .count();
        let m = self.parallax.len() as u64;
        self.tally(
            m * OPS_EIGHT_POINT_RESIDUAL,
            m * (INDEX_BYTES + 2 * BEARING_BYTES),
            0,
        );
        support
    }

    /// Of the two rotations of `essential`, the one under which more points show
    /// no parallax (the other is the "twisted pair", rotated by pi about the
    /// baseline).
    fn rotation_of_essential(
        &mut self,
        prev: &[Vector3<f64>],
        cur: &[Vector3<f64>],
        essential: &Matrix3<f64>,
    ) -> Option<Rotation3<f64>> {
        let [first, second] = rotations_of_essential(essential)?;
        let explained = |r: &Rotation3<f64>| {
            prev.iter()
                .zip(cur)
                .filter(|(p, c)| {
                    let a = r * *p;
                    a.cross(c).norm_squared() <= self.sin_threshold_sq && a.dot(c) > 0.0
                })
                .count()
        };
        let choice = if explained(&second) > explained(&first) {
            second
        } else {
            first
        };
        let n = prev.len() as u64;
        self.tally(
            2 * n * OPS_COMPENSATE_POINT + OPS_SVD_3X3,
            2 * n * 2 * BEARING_BYTES,
            0,
        );
        Some(choice)
    }

    /// The prior rotation corrected on the points it (nearly) explains: two
    /// rounds of orthogonal Procrustes, each re-selecting the points without
    /// motion under the latest rotation. Leaves `compensate_rotation`'s lists
    /// filled for the returned rotation.
    fn refine_prior(
        &mut self,
        prev: &[Vector3<f64>],
        cur: &[Vector3<f64>],
        prior: Rotation3<f64>,
        scratch: &mut Vec<bool>,
    ) -> Rotation3<f64> {
        let mut rotation = prior;
        for _ in 0..PRIOR_REFINE_STEPS {
            // Too few still points to fit a rotation to: keep the prior.
            if prev.len() - self.moving.len() < TWO_POINT_SAMPLE + 1 {
                break;
            }
            rotation = self.refine_rotation_on_static(prev, cur, rotation, scratch);
            self.compensate_rotation(prev, cur, &rotation);
        }
        rotation
    }

    /// The rotation best aligning the points `rotation` explains (orthogonal
    /// Procrustes / Kabsch: `R = U diag(1, 1, det) V^T` from the SVD of
    /// `sum f_cur f_prev^T`); `rotation` itself when that fit is degenerate.
    /// Uses `inliers` as scratch.
    fn refine_rotation_on_static(
        &mut self,
        prev: &[Vector3<f64>],
        cur: &[Vector3<f64>],
        rotation: Rotation3<f64>,
        inliers: &mut Vec<bool>,
    ) -> Rotation3<f64> {
        inliers.clear();
        inliers.resize(prev.len(), true);
        for &i in &self.moving {
            inliers[i as usize] = false;
        }
        let mut correlation = Matrix3::zeros();
        for ((p, c), &keep) in prev.iter().zip(cur).zip(inliers.iter()) {
            if keep {
                correlation += c * p.transpose();
            }
        }
        let n = prev.len() as u64;
        self.tally(n * OPS_REFIT_POINT + OPS_SVD_3X3, n * 2 * BEARING_BYTES, n);
        nearest_rotation(&correlation).unwrap_or(rotation)
    }

    fn write_essential_mask(
        &mut self,
        prev: &[Vector3<f64>],
        cur: &[Vector3<f64>],
        essential: &Matrix3<f64>,
        inliers: &mut Vec<bool>,
    ) {
        inliers.clear();
        inliers.extend(
            prev.iter()
                .zip(cur)
                .map(|(p, c)| self.agrees_with_essential(essential, p, c)),
        );
        self.tally_essential_pass(prev.len(), 1);
        self.tally(0, 0, prev.len() as u64);
    }

    // --- iteration count ---------------------------------------------------

    /// Hypotheses needed so that, with inlier ratio `support / population`, one
    /// all-inlier sample of `sample` points was drawn with the configured
    /// confidence; at most `max_iterations`.
    fn iterations_needed(
        &self,
        support: usize,
        population: usize,
        sample: usize,
        floor: usize,
    ) -> usize {
        let max = self.config.max_iterations;
        let ratio = support as f64 / population.max(1) as f64;
        let all_inliers = ratio.powi(sample as i32);
        let k = (1.0 - self.config.confidence).ln() / (-all_inliers).ln_1p();
        let needed = if all_inliers >= 1.0 {
            1
        } else if k.is_finite() && k < max as f64 {
            (k.ceil() as usize).max(1)
        } else {
            max
        };
        needed.max(floor).min(max)
    }
}

// ---------------------------------------------------------------------------
// Helpers: input checks, linear algebra, sampling

fn check_bearings(prev: &[Vector3<f64>], cur: &[Vector3<f64>]) -> Result<()> {
    if prev.len() != cur.len() {
        return Err(VioError::Input(format!(
            "temporal RANSAC: {} previous bearings but {} current ones",
            prev.len(),
            cur.len()
        )));
    }
    if prev.len() > u32::MAX as usize {
        return Err(VioError::Input(format!(
            "temporal RANSAC: {} correspondences is more than it indexes",
            prev.len()
        )));
    }
    let finite = |f: &Vector3<f64>| f.iter().all(|v| v.is_finite());
    if let Some(i) = (0..prev.len()).find(|&i| !(finite(&prev[i]) && finite(&cur[i]))) {
        return Err(VioError::Input(format!(
            "temporal RANSAC: bearing pair {i} is not finite"
        )));
    }
    Ok(())
}

/// An essential matrix from weighted correspondences (at least eight): the
/// linear eight-point fit gives the rotation, and the translation is then
/// solved given that rotation.
///
/// Between consecutive frames the motion is close to a pure rotation, whose
/// eight-point null space is the 3-dimensional family `R [w]x`: the linear fit
/// pins down `R` well but its translation is mostly noise (a sample of eight
/// exact inliers typically explains only half of the others). Of the two
/// rotations of the fit, the one leaving the smaller rotation-compensated motion
/// `sum w (1 - R f_prev . f_cur)` is kept (the other, turned by pi about the
/// baseline, sends bearings far away), and `t` minimizes
/// `sum w (t . (R f_prev x f_cur))^2`, the two-point model's least squares.
fn fit_essential(
    prev: &[Vector3<f64>],
    cur: &[Vector3<f64>],
    weighted: impl Iterator<Item = (usize, f64)> + Clone,
) -> Option<Matrix3<f64>> {
    let linear = linear_essential(prev, cur, weighted.clone())?;
    let [first, second] = rotations_of_essential(&linear)?;
    let residual_motion = |r: &Rotation3<f64>| {
        weighted
            .clone()
            .map(|(i, w)| w * (1.0 - (r * prev[i]).dot(&cur[i])))
            .sum::<f64>()
    };
    let rotation = if residual_motion(&second) < residual_motion(&first) {
        second
    } else {
        first
    };
    let mut scatter = Matrix3::zeros();
    for (i, w) in weighted {
        let n = (rotation * prev[i]).cross(&cur[i]);
        scatter += n * n.transpose() * w;
    }
    let t = smallest_eigenvector_3(scatter)?;
    Some(t.cross_matrix() * rotation.matrix())
}

/// The linear eight-point fit (at least eight points) projected onto the
/// essential matrices; `None` if fewer than eight points or a decomposition fails.
fn linear_essential(
    prev: &[Vector3<f64>],
    cur: &[Vector3<f64>],
    weighted: impl Iterator<Item = (usize, f64)>,
) -> Option<Matrix3<f64>> {
    // Lower triangle of sum r r^T, r = kron(f_cur, f_prev): r . vec_rows(E) = f_cur^T E f_prev.
    let mut normal = SMatrix::<f64, 9, 9>::zeros();
    let mut rows = 0;
    for (i, weight) in weighted {
        let (c, p) = (&cur[i], &prev[i]);
        let r = SVector::<f64, 9>::from_fn(|k, _| c[k / 3] * p[k % 3]);
        for j in 0..9 {
            let wr = weight * r[j];
            for k in 0..=j {
                normal[(j, k)] += wr * r[k];
            }
        }
        rows += 1;
    }
    if rows < EIGHT_POINT_SAMPLE {
        return None;
    }
    let e = smallest_eigenvector_9(normal)?;
    project_to_essential(&Matrix3::from_row_slice(e.as_slice()))
}

/// Whether `f_cur` lies within the angle whose squared sine is `sin_sq` of the
/// epipolar plane `E f_prev`.
fn agrees_with_essential_within(
    essential: &Matrix3<f64>,
    f_prev: &Vector3<f64>,
    f_cur: &Vector3<f64>,
    sin_sq: f64,
) -> bool {
    essential_residual_sq(essential, f_prev, f_cur) <= sin_sq
}

/// Squared sine of the angle between `f_cur` and the epipolar plane `E f_prev`.
fn essential_residual_sq(
    essential: &Matrix3<f64>,
    f_prev: &Vector3<f64>,
    f_cur: &Vector3<f64>,
) -> f64 {
    let normal = essential * f_prev;
    plane_residual_sq(f_cur.dot(&normal), normal.norm_squared())
}

/// `along_normal^2 / normal_norm_sq`: the squared sine of the angle between a
/// unit bearing and a plane, from the bearing's component along the plane's
/// (unnormalized) normal. A vanishing normal (the bearing's point on the
/// baseline) scores 0; its component along it vanishes too.
fn plane_residual_sq(along_normal: f64, normal_norm_sq: f64) -> f64 {
    if normal_norm_sq > 0.0 {
        along_normal * along_normal / normal_norm_sq
    } else {
        0.0
    }
}

/// The MSAC score of a hypothesis (Torr & Zisserman, "MLESAC", CVIU 2000):
/// residuals count their square up to the threshold's, outliers the threshold's.
/// Between consecutive frames many models explain nearly all points; the plain
/// inlier count cannot tell them apart, the truncated cost prefers the one that
/// explains them best.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Score {
    /// Points within the threshold.
    inliers: usize,
    /// `sum min(r_i^2, sin(threshold)^2)` over squared-sine residuals.
    cost: f64,
}

impl Score {
    fn of(residuals_sq: impl Iterator<Item = f64>, sin_threshold_sq: f64) -> Self {
        let mut score = Self {
            inliers: 0,
            cost: 0.0,
        };
        for r in residuals_sq {
            score.inliers += usize::from(r <= sin_threshold_sq);
            score.cost += r.min(sin_threshold_sq);
        }
        score
    }

    /// Whether this hypothesis explains the points strictly better.
    fn beats(&self, other: &Self) -> bool {
        self.cost < other.cost
    }
}

/// The weight that turns an algebraic epipolar residual `f_cur . n` into the
/// angle `f_cur . n / |n|` in a least-squares refit (Sampson-style reweighting,
/// Torr & Murray, IJCV 1997): `1 / |n|^2`, with `|n|` (the sine of the angle to
/// the epipole) floored at 0.05 so points next to the epipole cannot dominate.
fn geometric_weight(normal_norm_sq: f64) -> f64 {
    1.0 / normal_norm_sq.max(0.05 * 0.05)
}

/// Unit eigenvector of a symmetric 9x9 matrix (lower triangle read) with the
/// smallest eigenvalue.
fn smallest_eigenvector_9(m: SMatrix<f64, 9, 9>) -> Option<SVector<f64, 9>> {
    let eigen = SymmetricEigen::try_new(m, f64::EPSILON, 1000)?;
    Some(
        eigen
            .eigenvectors
            .column(eigen.eigenvalues.imin())
            .into_owned(),
    )
}

/// Unit eigenvector of a symmetric 3x3 matrix with the smallest eigenvalue.
fn smallest_eigenvector_3(m: Matrix3<f64>) -> Option<Vector3<f64>> {
    let eigen = SymmetricEigen::try_new(m, f64::EPSILON, 1000)?;
    Some(
        eigen
            .eigenvectors
            .column(eigen.eigenvalues.imin())
            .into_owned(),
    )
}

/// The nearest matrix with singular values `(1, 1, 0)`.
fn project_to_essential(m: &Matrix3<f64>) -> Option<Matrix3<f64>> {
    let svd = m.try_svd(true, true, f64::EPSILON, 1000)?;
    let (u, v_t) = (svd.u?, svd.v_t?);
    Some(u * Matrix3::from_diagonal(&Vector3::new(1.0, 1.0, 0.0)) * v_t)
}

/// One Gauss-Newton step on the essential manifold, `E = [t]x R` with `R` and
/// the unit `t` updated as `R exp([dtheta]x)` and `t + B dt` (`B` a basis of the
/// plane orthogonal to `t`), minimizing the squared angles
/// `(f_cur . (t x R f_prev) / |t x R f_prev|)^2` of the given points, the
/// normalization held at the current model (Sampson-style reweighting). With
/// `g = f_cur x t`, `a = R f_prev`, `n = a x f_cur`, the algebraic residual
/// `e = t . n` has `de/d(dtheta) = f_prev x (R^T g)` and `de/d(dt) = B^T n`.
fn essential_step(
    prev: &[Vector3<f64>],
    cur: &[Vector3<f64>],
    essential: &Matrix3<f64>,
    points: impl Iterator<Item = usize>,
) -> Option<Matrix3<f64>> {
    let (rotation, t) = essential_parts(essential)?;
    let basis = tangent_basis(&t);
    let mut hessian = Matrix5::zeros();
    let mut gradient = Vector5::zeros();
    for i in points {
        let (e, jacobian, normal_sq) =
            epipolar_residual_jacobian(&rotation, &t, &basis, &prev[i], &cur[i]);
        let weight = geometric_weight(normal_sq).sqrt();
        let row = jacobian * weight;
        hessian += row * row.transpose();
        gradient += row * (e * weight);
    }
    let delta = hessian.cholesky()?.solve(&(-gradient));
    let rotation =
        rotation * Rotation3::from_scaled_axis(Vector3::new(delta[0], delta[1], delta[2]));
    let t = (t + basis * Vector2::new(delta[3], delta[4])).normalize();
    Some(t.cross_matrix() * rotation)
}

/// The algebraic epipolar residual `e = f_cur . (t x R f_prev)`, its derivative
/// w.r.t. `(dtheta, dt)` (see [`essential_step`]) and `|t x R f_prev|^2`.
fn epipolar_residual_jacobian(
    rotation: &Matrix3<f64>,
    t: &Vector3<f64>,
    basis: &Matrix3x2<f64>,
    f_prev: &Vector3<f64>,
    f_cur: &Vector3<f64>,
) -> (f64, Vector5<f64>, f64) {
    let a = rotation * f_prev;
    let normal = t.cross(&a);
    let g = f_cur.cross(t);
    let d_theta = f_prev.cross(&(rotation.transpose() * g));
    let d_t = basis.transpose() * a.cross(f_cur);
    let jacobian = Vector5::new(d_theta.x, d_theta.y, d_theta.z, d_t.x, d_t.y);
    (f_cur.dot(&normal), jacobian, normal.norm_squared())
}

/// A rotation and unit translation with `[t]x R = +-E` for an essential matrix.
fn essential_parts(essential: &Matrix3<f64>) -> Option<(Matrix3<f64>, Vector3<f64>)> {
    let svd = essential.try_svd(true, true, f64::EPSILON, 1000)?;
    let (mut u, mut v_t) = (svd.u?, svd.v_t?);
    if u.determinant() < 0.0 {
        u = -u;
    }
    if v_t.determinant() < 0.0 {
        v_t = -v_t;
    }
    let w = Matrix3::new(0.0, -1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0);
    Some((u * w * v_t, u.column(2).into_owned()))
}

/// Two unit vectors completing unit `t` to an orthonormal basis, as columns.
fn tangent_basis(t: &Vector3<f64>) -> Matrix3x2<f64> {
    let least_aligned = if t.x.abs() < 0.6 {
        Vector3::x()
    } else {
        Vector3::y()
    };
    let b1 = t.cross(&least_aligned).normalize();
    let b2 = t.cross(&b1);
    Matrix3x2::from_columns(&[b1, b2])
}

/// The two rotations of an essential matrix `E = [t]x R` (Hartley & Zisserman,
/// result 9.19): `U W V^T` and `U W^T V^T` with `W` a quarter turn about z.
fn rotations_of_essential(essential: &Matrix3<f64>) -> Option<[Rotation3<f64>; 2]> {
    let svd = essential.try_svd(true, true, f64::EPSILON, 1000)?;
    let (mut u, mut v_t) = (svd.u?, svd.v_t?);
    // E's sign is free, so flipping U or V keeps it an essential matrix of the same
    // geometry and makes both proper rotations.
    if u.determinant() < 0.0 {
        u = -u;
    }
    if v_t.determinant() < 0.0 {
        v_t = -v_t;
    }
    let w = Matrix3::new(0.0, -1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0);
    Some([
        Rotation3::from_matrix_unchecked(u * w * v_t),
        Rotation3::from_matrix_unchecked(u * w.transpose() * v_t),
    ])
}

/// The rotation nearest to `m` in the Frobenius sense, maximizing `tr(R^T m)`.
fn nearest_rotation(m: &Matrix3<f64>) -> Option<Rotation3<f64>> {
    let svd = m.try_svd(true, true, f64::EPSILON, 1000)?;
    let (u, v_t) = (svd.u?, svd.v_t?);
    // Rank below 2 (all points along one direction) leaves a free rotation.
    if svd.singular_values[1] <= 1e-9 * svd.singular_values[0] {
        return None;
    }
    // Singular values are sorted, so flipping the last (smallest) one is the
    // cheapest way to make the product a proper rotation.
    let sign = (u * v_t).determinant().signum();
    let r = u * Matrix3::from_diagonal(&Vector3::new(1.0, 1.0, sign)) * v_t;
    Some(Rotation3::from_matrix_unchecked(r))
}

/// SplitMix64 (Steele, Lea & Flood, "Fast Splittable Pseudorandom Number
/// Generators", OOPSLA 2014): a 64-bit state, good enough to draw samples and
/// identical on every platform.
#[derive(Debug, Clone)]
struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`) by the multiply-high method; its bias, below
    /// `n / 2^64`, is irrelevant here.
    fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }

    /// `K` distinct indices in `0..n` (`n >= K`), by rejecting repeats.
    fn distinct_indices<const K: usize>(&mut self, n: usize) -> [usize; K] {
        let mut out = [0; K];
        for i in 0..K {
            out[i] = loop {
                let candidate = self.below(n);
                if !out[..i].contains(&candidate) {
                    break candidate;
                }
            };
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use datasets::{CameraCalibration, ImuCalibration, RigCalibration};
    use nalgebra::{Point3, Translation3, UnitQuaternion, Vector2};

    use super::*;
    use crate::camera::StereoRig;

    /// A bearing's noise per tangent axis in the tests, rad: 0.3 px at 460 px.
    const NOISE_RAD: f64 = 0.3 / 460.0;

    /// Test randomness on top of the module's generator.
    struct TestRng(SplitMix64);

    impl TestRng {
        fn new(seed: u64) -> Self {
            Self(SplitMix64::new(seed))
        }

        fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
            let unit = (self.0.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
            lo + (hi - lo) * unit
        }

        /// Standard normal (Box-Muller).
        fn gaussian(&mut self) -> f64 {
            let u1 = self.uniform(f64::MIN_POSITIVE, 1.0);
            let u2 = self.uniform(0.0, 1.0);
            (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
        }

        fn unit_vector(&mut self) -> Vector3<f64> {
            loop {
                let v = Vector3::new(self.gaussian(), self.gaussian(), self.gaussian());
                if v.norm() > 1e-3 {
                    return v.normalize();
                }
            }
        }

        /// A bearing through a point of the image plane `(x/z, y/z)` inside a
        /// field of view about 100 x 80 degrees, EuRoC's.
        fn bearing_in_view(&mut self) -> Vector3<f64> {
            Vector3::new(self.uniform(-1.1, 1.1), self.uniform(-0.8, 0.8), 1.0).normalize()
        }

        /// `f` perturbed by `sigma` rad per tangent axis.
        fn noisy(&mut self, f: &Vector3<f64>, sigma: f64) -> Vector3<f64> {
            let mut d = Vector3::new(self.gaussian(), self.gaussian(), self.gaussian()) * sigma;
            d -= f * f.dot(&d);
            (f + d).normalize()
        }
    }

    fn in_view(p: &Vector3<f64>) -> bool {
        p.z > 0.3 && (p.x / p.z).abs() < 1.1 && (p.y / p.z).abs() < 0.8
    }

    /// Tracked bearings of a random scene seen from two poses, with noise and
    /// mismatches.
    struct Scene {
        prev: Vec<Vector3<f64>>,
        cur: Vec<Vector3<f64>>,
        is_outlier: Vec<bool>,
    }

    /// The residual of a current bearing under the true motion: the angle to its
    /// epipolar plane, or with no translation the angle the rotation leaves.
    fn true_residual(
        cur_from_prev: &Isometry3<f64>,
        f_prev: &Vector3<f64>,
        f_cur: &Vector3<f64>,
    ) -> f64 {
        let a = cur_from_prev.rotation * f_prev;
        let t = cur_from_prev.translation.vector;
        if t.norm() > 1e-9 {
            angle_to_epipolar_plane(&t.normalize(), &a, f_cur)
        } else {
            a.cross(f_cur).norm().asin()
        }
    }

    /// `points` points 2-8 m in front of the previous camera, visible from both
    /// poses, with 0.3 px of noise on every bearing; a fraction `outliers`
    /// (spread evenly) get a random current bearing instead, redrawn until it is
    /// at least three thresholds from what the true motion allows (closer ones
    /// are not mismatches any test could tell).
    fn scene(seed: u64, cur_from_prev: &Isometry3<f64>, points: usize, outliers: f64) -> Scene {
        let mut rng = TestRng::new(seed);
        let threshold = RansacConfig::default().threshold_rad;
        let mut s = Scene {
            prev: Vec::new(),
            cur: Vec::new(),
            is_outlier: Vec::new(),
        };
        while s.prev.len() < points {
            let p_prev = rng.bearing_in_view() * rng.uniform(2.0, 8.0);
            let p_cur = cur_from_prev * Point3::from(p_prev);
            if !in_view(&p_cur.coords) {
                continue;
            }
            let i = s.prev.len();
            let outlier = (i as f64 * outliers).floor() != ((i + 1) as f64 * outliers).floor();
            let f_prev = p_prev.normalize();
            let f_cur = if outlier {
                loop {
                    let f = rng.bearing_in_view();
                    if true_residual(cur_from_prev, &f_prev, &f) > 3.0 * threshold {
                        break f;
                    }
                }
            } else {
                p_cur.coords.normalize()
            };
            s.prev.push(rng.noisy(&f_prev, NOISE_RAD));
            s.cur.push(rng.noisy(&f_cur, NOISE_RAD));
            s.is_outlier.push(outlier);
        }
        s
    }

    /// `(outlier recall, inliers kept)` of a mask.
    fn score(s: &Scene, mask: &[bool]) -> (f64, f64) {
        let pairs = || s.is_outlier.iter().zip(mask);
        let outliers = s.is_outlier.iter().filter(|&&o| o).count();
        let caught = pairs().filter(|&(&o, &m)| o && !m).count();
        let kept = pairs().filter(|&(&o, &m)| !o && m).count();
        (
            caught as f64 / outliers as f64,
            kept as f64 / (s.prev.len() - outliers) as f64,
        )
    }

    fn pose(axis: Vector3<f64>, angle: f64, t: Vector3<f64>) -> Isometry3<f64> {
        let rotation = UnitQuaternion::from_scaled_axis(axis.normalize() * angle);
        Isometry3::from_parts(Translation3::from(t), rotation)
    }

    /// The motions of the tests, between two frames of a MAV at 20 Hz: 7.5 cm and
    /// 2.3 degrees in general (3-35 px of parallax), a 2.9-degree turn, 12 cm
    /// straight ahead, and standing still.
    fn motions() -> Vec<(&'static str, Isometry3<f64>)> {
        vec![
            (
                "general",
                pose(
                    Vector3::new(0.2, 1.0, 0.1),
                    0.04,
                    Vector3::new(0.06, -0.02, 0.04),
                ),
            ),
            (
                "pure rotation",
                pose(Vector3::new(0.3, -1.0, 0.2), 0.05, Vector3::zeros()),
            ),
            (
                "forward",
                pose(Vector3::z(), 0.0, Vector3::new(0.0, 0.0, 0.12)),
            ),
            ("zero motion", Isometry3::identity()),
        ]
    }

    fn has_translation(m: &Isometry3<f64>) -> bool {
        m.translation.vector.norm() > 0.0
    }

    fn ransac(config: RansacConfig) -> TemporalRansac {
        match TemporalRansac::new(config) {
            Ok(r) => r,
            Err(e) => panic!("{e}"),
        }
    }

    fn run(
        r: &mut TemporalRansac,
        s: &Scene,
        prior: Option<&Rotation3<f64>>,
        mask: &mut Vec<bool>,
    ) -> RansacSummary {
        match r.reject_outliers(&s.prev, &s.cur, prior, mask) {
            Ok(summary) => summary,
            Err(e) => panic!("{e}"),
        }
    }

    /// The true rotation off by 1 mrad about a random axis.
    fn slightly_wrong_prior(m: &Isometry3<f64>, seed: u64) -> Rotation3<f64> {
        let error = Rotation3::from_scaled_axis(TestRng::new(seed).unit_vector() * 1e-3);
        error * m.rotation.to_rotation_matrix()
    }

    /// Runs one model on every motion with 20 % and 30 % mismatches, three scenes
    /// each, checks the masks against the targets and hands each result to
    /// `check_model`.
    fn check_every_motion(
        with_prior: bool,
        check_model: impl Fn(&str, &Isometry3<f64>, &RansacSummary),
    ) {
        let mut r = ransac(RansacConfig::default());
        let mut mask = Vec::new();
        for (name, motion) in motions() {
            for fraction in [0.2, 0.3] {
                for seed in 0..3 {
                    let s = scene(seed, &motion, 300, fraction);
                    let prior = slightly_wrong_prior(&motion, seed);
                    let summary = run(&mut r, &s, with_prior.then_some(&prior), &mut mask);
                    let (recall, kept) = score(&s, &mask);
                    assert!(
                        recall >= 0.95 && kept >= 0.98,
                        "{name}, {fraction} mismatches, seed {seed}: recall {recall}, \
                         kept {kept}, {summary:?}"
                    );
                    assert_eq!(summary.inliers, mask.iter().filter(|&&m| m).count());
                    assert_eq!(summary.points, 300);
                    check_model(name, &motion, &summary);
                }
            }
        }
    }

    #[test]
    fn two_point_rejects_mismatches_in_every_motion() {
        check_every_motion(true, |name, motion, summary| {
            assert_eq!(summary.method, RansacMethod::TwoPoint);
            match (has_translation(motion), summary.model) {
                (true, MotionModel::TranslationDirection(t)) => {
                    // A prior off by 1 mrad moves the direction by about
                    // 1 mrad * depth / baseline = 0.07 rad here.
                    let truth = motion.translation.vector.normalize();
                    let angle = t.dot(&truth).abs().min(1.0).acos();
                    assert!(angle < 0.2, "{name}: direction off by {angle} rad");
                }
                // The prior refined together with the translation.
                (true, MotionModel::Essential(e)) => {
                    let Some((_, t)) = essential_parts(&e) else {
                        panic!("{name}: not an essential matrix {e:?}")
                    };
                    let truth = motion.translation.vector.normalize();
                    let angle = t.dot(&truth).abs().min(1.0).acos();
                    assert!(angle < 0.2, "{name}: direction off by {angle} rad");
                }
                (false, MotionModel::RotationOnly(_)) => {}
                (_, model) => panic!("{name}: unexpected model {model:?}"),
            }
        });
    }

    #[test]
    fn eight_point_rejects_mismatches_in_every_motion() {
        check_every_motion(false, |name, motion, summary| {
            assert_eq!(summary.method, RansacMethod::EightPoint);
            let truth_rotation = motion.rotation.to_rotation_matrix();
            match (has_translation(motion), summary.model) {
                (true, MotionModel::Essential(e)) => {
                    let singular = e.singular_values();
                    let expected = Vector3::new(1.0, 1.0, 0.0);
                    assert!((singular - expected).norm() < 1e-9, "{singular:?}");
                    let Some((r, _)) = essential_parts(&e) else {
                        panic!("{name}: no rotation in {e}");
                    };
                    // Of the two rotations of E, one is the camera's (within a few
                    // mrad: rotation and translation trade off at this parallax).
                    let errors = rotations_of_essential(&e)
                        .map(|rs| rs.map(|r| (r.inverse() * truth_rotation).angle()));
                    let Some([a, b]) = errors else {
                        panic!("{name}: {r}");
                    };
                    assert!(a.min(b) < 0.01, "{name}: rotation off by {a} / {b} rad");
                }
                (false, MotionModel::RotationOnly(rotation)) => {
                    let error = (rotation.inverse() * truth_rotation).angle();
                    assert!(error < 5e-4, "{name}: rotation off by {error} rad");
                }
                (_, model) => panic!("{name}: unexpected model {model:?}"),
            }
        });
    }

    /// Failure rates over 200 scenes per motion, model and mismatch fraction
    /// (about 10 s in the dev profile). The numbers in the docs of
    /// [`RansacConfig`] and the module come from here.
    #[test]
    #[ignore = "statistics over 4800 scenes; run with --ignored --nocapture"]
    fn failure_rates_over_many_scenes() {
        let mut r = ransac(RansacConfig::default());
        let mut mask = Vec::new();
        for (name, motion) in motions() {
            for fraction in [0.1, 0.2, 0.3] {
                for with_prior in [true, false] {
                    let (mut missed, mut lost, mut iterations) = (0, 0, 0);
                    for seed in 1000..1200 {
                        let s = scene(seed, &motion, 300, fraction);
                        let prior = slightly_wrong_prior(&motion, seed);
                        let summary = run(&mut r, &s, with_prior.then_some(&prior), &mut mask);
                        let (recall, kept) = score(&s, &mask);
                        missed += usize::from(recall < 0.95);
                        lost += usize::from(kept < 0.98);
                        iterations += summary.iterations;
                    }
                    let method = if with_prior {
                        "two-point"
                    } else {
                        "eight-point"
                    };
                    eprintln!(
                        "{name:13} {fraction} {method:11}: recall < 95 % in {missed}/200, \
                         kept < 98 % in {lost}/200, {} iterations on average",
                        iterations / 200
                    );
                    if fraction >= 0.2 {
                        assert!(missed + lost <= 4, "{name} {fraction} {method}");
                    }
                }
            }
        }
    }

    #[test]
    fn hovering_keeps_every_inlier_without_outliers() {
        let mut r = ransac(RansacConfig::default());
        let mut mask = Vec::new();
        let s = scene(7, &Isometry3::identity(), 150, 0.0);
        for prior in [Some(Rotation3::identity()), None] {
            let summary = run(&mut r, &s, prior.as_ref(), &mut mask);
            let kept = mask.iter().filter(|&&m| m).count();
            assert!(kept >= 149, "kept {kept} of 150: {summary:?}");
            assert!(
                matches!(summary.model, MotionModel::RotationOnly(_)),
                "{summary:?}"
            );
        }
    }

    #[test]
    fn clean_data_stops_at_the_minimum_iterations() {
        let (_, motion) = motions()[0];
        let s = scene(11, &motion, 200, 0.0);
        let config = RansacConfig::default();
        let mut r = ransac(config);
        let mut mask = Vec::new();
        let rotation = motion.rotation.to_rotation_matrix();
        for (prior, floor) in [
            (Some(rotation), config.min_iterations),
            (None, config.eight_point_min_iterations),
        ] {
            let summary = run(&mut r, &s, prior.as_ref(), &mut mask);
            assert_eq!(summary.iterations, floor, "{summary:?}");
            assert!(summary.inliers >= 198, "{summary:?}");
        }
    }

    #[test]
    fn same_input_gives_the_same_output_whatever_ran_before() {
        let (_, motion) = motions()[0];
        let a = scene(21, &motion, 200, 0.25);
        let b = scene(22, &motion, 120, 0.3);
        let prior = motion.rotation.to_rotation_matrix();
        for prior in [Some(prior), None] {
            let mut r = ransac(RansacConfig::default());
            let (mut first, mut second, mut other) = (Vec::new(), Vec::new(), Vec::new());
            let s1 = run(&mut r, &a, prior.as_ref(), &mut first);
            let _ = run(&mut r, &b, prior.as_ref(), &mut other);
            let s2 = run(&mut r, &a, prior.as_ref(), &mut second);
            assert_eq!(s1, s2);
            assert_eq!(first, second);
        }
    }

    #[test]
    fn steady_state_calls_do_not_allocate() {
        let (_, motion) = motions()[0];
        let s = scene(31, &motion, 200, 0.25);
        let prior = motion.rotation.to_rotation_matrix();
        let mut r = ransac(RansacConfig::default());
        let mut mask = Vec::new();
        run(&mut r, &s, Some(&prior), &mut mask);
        run(&mut r, &s, None, &mut mask);
        let buffers = |r: &TemporalRansac, mask: &Vec<bool>| {
            (
                (r.rotated.as_ptr(), r.rotated.capacity()),
                (r.normals.as_ptr(), r.normals.capacity()),
                (r.moving.as_ptr(), r.moving.capacity()),
                (r.parallax.as_ptr(), r.parallax.capacity()),
                (mask.as_ptr(), mask.capacity()),
            )
        };
        let before = buffers(&r, &mask);
        for _ in 0..3 {
            run(&mut r, &s, Some(&prior), &mut mask);
            run(&mut r, &s, None, &mut mask);
        }
        assert_eq!(before, buffers(&r, &mask));
    }

    #[test]
    fn too_few_points_keeps_everything_and_says_so() {
        let (_, motion) = motions()[0];
        let s = scene(41, &motion, 7, 0.3);
        let mut r = ransac(RansacConfig::default());
        let mut mask = vec![false; 3];
        let summary = run(&mut r, &s, None, &mut mask);
        assert_eq!(summary.model, MotionModel::TooFewPoints);
        assert_eq!((summary.points, summary.inliers), (7, 7));
        assert_eq!(mask, vec![true; 7]);
        let one = Scene {
            prev: s.prev[..1].to_vec(),
            cur: s.cur[..1].to_vec(),
            is_outlier: vec![false],
        };
        let summary = run(&mut r, &one, Some(&Rotation3::identity()), &mut mask);
        assert_eq!(summary.model, MotionModel::TooFewPoints);
        assert_eq!(mask, vec![true]);
        let empty = Scene {
            prev: vec![],
            cur: vec![],
            is_outlier: vec![],
        };
        let summary = run(&mut r, &empty, None, &mut mask);
        assert_eq!((summary.points, mask.len()), (0, 0));
    }

    #[test]
    fn bad_inputs_and_configs_are_errors() {
        let mut r = ransac(RansacConfig::default());
        let mut mask = Vec::new();
        let f = Vector3::z();
        let mismatched = r.eight_point(&[f; 9], &[f; 8], &mut mask);
        assert!(matches!(mismatched, Err(VioError::Input(m)) if m.contains("9 previous")));
        let mut cur = [f; 9];
        cur[4].y = f64::NAN;
        let nan = r.two_point(&[f; 9], &cur, &Rotation3::identity(), &mut mask);
        assert!(matches!(nan, Err(VioError::Input(m)) if m.contains("pair 4")));
        let d = RansacConfig::default();
        for (config, field) in [
            (
                RansacConfig {
                    threshold_rad: 0.0,
                    ..d
                },
                "threshold_rad",
            ),
            (
                RansacConfig {
                    threshold_rad: f64::NAN,
                    ..d
                },
                "threshold_rad",
            ),
            (
                RansacConfig {
                    threshold_rad: 2.0,
                    ..d
                },
                "threshold_rad",
            ),
            (
                RansacConfig {
                    max_iterations: 0,
                    ..d
                },
                "max_iterations",
            ),
            (
                RansacConfig {
                    confidence: 1.0,
                    ..d
                },
                "confidence",
            ),
            (
                RansacConfig {
                    confidence: 0.0,
                    ..d
                },
                "confidence",
            ),
            (
                RansacConfig {
                    min_parallax_fraction: 1.5,
                    ..d
                },
                "min_parallax_fraction",
            ),
        ] {
            assert!(
                matches!(TemporalRansac::new(config), Err(VioError::Config(m)) if m.contains(field)),
                "{field}"
            );
        }
    }

    #[test]
    fn cost_follows_the_loop_bounds() {
        let (_, motion) = motions()[0];
        let s = scene(51, &motion, 200, 0.25);
        let n = s.prev.len() as u64;
        let mut mask = Vec::new();
        for prior in [Some(motion.rotation.to_rotation_matrix()), None] {
            let mut r = ransac(RansacConfig::default());
            let summary = run(&mut r, &s, prior.as_ref(), &mut mask);
            let cost = r.last_cost();
            assert_eq!(cost.calls, 1);
            let per_hypothesis = if prior.is_some() {
                OPS_TWO_POINT_HYPOTHESIS
            } else {
                OPS_EIGHT_POINT_FIT + n * OPS_EIGHT_POINT_RESIDUAL
            };
            assert!(cost.ops.f64_ops >= summary.iterations as u64 * per_hypothesis);
            assert_eq!(cost.ops.f64_ops, cost.ops.total());
            assert!(cost.buffer.read >= 2 * n * BEARING_BYTES);
            assert!(cost.buffer.written >= n, "the mask");
            assert_eq!(cost.main.total() + cost.local.total(), 0);
            // More hypotheses, more work.
            let mut slow = ransac(RansacConfig {
                min_iterations: 200,
                eight_point_min_iterations: 200,
                ..RansacConfig::default()
            });
            let slow_summary = run(&mut slow, &s, prior.as_ref(), &mut mask);
            assert!(slow_summary.iterations > summary.iterations);
            assert!(slow.last_cost().ops.f64_ops > cost.ops.f64_ops);
        }
    }

    #[test]
    fn iteration_count_follows_the_inlier_ratio() {
        let r = ransac(RansacConfig::default());
        assert_eq!(r.iterations_needed(100, 100, 8, 0), 1);
        assert_eq!(r.iterations_needed(0, 100, 2, 0), 300);
        // log(0.01) / log(1 - 0.5^2) = 16.008
        assert_eq!(r.iterations_needed(50, 100, 2, 0), 17);
        // log(0.01) / log(1 - 0.7^8) = 77.6
        assert_eq!(r.iterations_needed(70, 100, 8, 0), 78);
        assert_eq!(r.iterations_needed(30, 100, 8, 0), 300);
        // The floor, and the ceiling over it.
        assert_eq!(r.iterations_needed(100, 100, 8, 20), 20);
        assert_eq!(r.iterations_needed(70, 100, 8, 100), 100);
        assert_eq!(r.iterations_needed(70, 100, 8, 1000), 300);
    }

    // --- stereo ----------------------------------------------------------

    fn euroc_rig() -> StereoRig {
        let rig = RigCalibration {
            cam0: CameraCalibration::euroc_cam0(),
            cam1: CameraCalibration::euroc_cam1(),
            imu: ImuCalibration::euroc_adis16448(),
        };
        match StereoRig::new(&rig) {
            Ok(r) => r,
            Err(e) => panic!("{e}"),
        }
    }

    fn euroc_check(rig: &StereoRig) -> StereoEpipolarCheck {
        match StereoEpipolarCheck::new(rig.cam1_from_cam0()) {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        }
    }

    /// Pixel pairs of random points 0.5-30 m in front of EuRoC's rig seen by both
    /// cameras, with the points in cam0.
    fn stereo_pixels(
        rig: &StereoRig,
        count: usize,
    ) -> Vec<(Vector2<f64>, Vector2<f64>, Vector3<f64>)> {
        let mut rng = TestRng::new(5);
        let mut out = Vec::new();
        while out.len() < count {
            let p0 = rng.bearing_in_view() * rng.uniform(0.5, 30.0);
            let p1 = rig.cam1_from_cam0() * Point3::from(p0);
            let (Some(uv0), Some(uv1)) = (rig.cam0().project(&p0), rig.cam1().project(&p1.coords))
            else {
                continue;
            };
            if rig.cam0().contains(&uv0) && rig.cam1().contains(&uv1) {
                out.push((uv0, uv1, p0));
            }
        }
        out
    }

    fn unproject(cam: &crate::camera::Camera, uv: &Vector2<f64>) -> Vector3<f64> {
        let Some(f) = cam.unproject(uv) else {
            panic!("unproject {uv:?}");
        };
        f
    }

    #[test]
    fn true_euroc_stereo_matches_have_no_epipolar_error_and_lie_in_front() {
        let rig = euroc_rig();
        let check = euroc_check(&rig);
        for (uv0, uv1, p0) in stereo_pixels(&rig, 500) {
            let f0 = unproject(rig.cam0(), &uv0);
            let f1 = unproject(rig.cam1(), &uv1);
            let error = check.epipolar_error_rad(&f0, &f1);
            assert!(error < 1e-9, "{uv0:?} {uv1:?}: {error:e}");
            assert!((f1.transpose() * check.essential() * f0)[0].abs() < 1e-9);
            assert!(check.is_in_front(&f0, &f1) && check.accepts(&f0, &f1, 1e-6));
            let Some((d0, d1)) = check.ray_depths(&f0, &f1) else {
                panic!("rays of a point at {p0:?} are not parallel");
            };
            let p1 = rig.cam1_from_cam0() * Point3::from(p0);
            assert!(
                (d0 - p0.norm()).abs() < 1e-5 * p0.norm(),
                "{d0} vs {}",
                p0.norm()
            );
            assert!((d1 - p1.coords.norm()).abs() < 1e-5 * p0.norm());
        }
    }

    #[test]
    fn shifted_stereo_matches_score_the_shift_over_the_focal_length() {
        let rig = euroc_rig();
        let check = euroc_check(&rig);
        let k = rig.cam1().calibration().intrinsics;
        let centre = Vector2::new(k.cx, k.cy);
        let near_centre = stereo_pixels(&rig, 3000)
            .into_iter()
            .filter(|(_, uv1, _)| (uv1 - centre).norm() < 60.0)
            .collect::<Vec<_>>();
        assert!(near_centre.len() > 20);
        for shift in [0.5, 1.0, 2.0, 5.0] {
            for (uv0, uv1, _) in &near_centre {
                let f0 = unproject(rig.cam0(), uv0);
                // EuRoC's epipolar lines are close to horizontal: shift across them.
                let f1 = unproject(rig.cam1(), &(uv1 + Vector2::new(0.0, shift)));
                let ratio = check.epipolar_error_rad(&f0, &f1) / (shift / k.fy);
                assert!(
                    (0.9..1.05).contains(&ratio),
                    "shift {shift} px: ratio {ratio}"
                );
                assert_eq!(check.accepts(&f0, &f1, 0.75 / k.fy), shift < 0.75);
            }
        }
    }

    #[test]
    fn matches_whose_rays_meet_behind_the_cameras_are_flagged() {
        let rig = euroc_rig();
        let check = euroc_check(&rig);
        let (r, t) = (
            rig.cam1_from_cam0().rotation,
            rig.cam1_from_cam0().translation.vector,
        );
        let mut rng = TestRng::new(9);
        for _ in 0..200 {
            // Bearings that point forward in both cameras but whose rays meet at
            // -p0: the mirrored solution, e.g. a match with negative disparity.
            let p0 = rng.bearing_in_view() * rng.uniform(0.5, 20.0);
            let behind1 = r * (-p0) + t;
            let f0 = p0.normalize();
            let f1 = -behind1.normalize();
            assert!(f0.z > 0.0 && f1.z > 0.0);
            assert!(check.epipolar_error_rad(&f0, &f1) < 1e-9);
            assert!(!check.is_in_front(&f0, &f1) && !check.accepts(&f0, &f1, 1e-3));
            let Some((d0, d1)) = check.ray_depths(&f0, &f1) else {
                panic!("not parallel");
            };
            assert!(d0 < 0.0 && d1 < 0.0, "{d0} {d1}");
        }
        // Parallel rays: a point at infinity is in front, its antipode is not.
        let f0 = Vector3::new(0.1, -0.2, 1.0).normalize();
        let f1 = r * f0;
        assert!(check.ray_depths(&f0, &f1).is_none());
        assert!(check.is_in_front(&f0, &f1) && !check.is_in_front(&f0, &-f1));
    }

    #[test]
    fn a_point_on_the_baseline_is_scored_against_the_baseline() {
        let rig = euroc_rig();
        let check = euroc_check(&rig);
        let (r, t) = (
            rig.cam1_from_cam0().rotation,
            rig.cam1_from_cam0().translation.vector,
        );
        let t_dir = t.normalize();
        let f0 = r.inverse() * t_dir;
        assert!(check.epipolar_error_rad(&f0, &t_dir) < 1e-12);
        let axis = t_dir.cross(&Vector3::z()).normalize();
        let off = Rotation3::from_scaled_axis(axis * 0.01) * t_dir;
        assert!((check.epipolar_error_rad(&f0, &off) - 0.01).abs() < 1e-9);
    }

    #[test]
    fn a_rig_without_baseline_has_no_epipolar_check() {
        let same_centre = Isometry3::from_parts(
            Translation3::identity(),
            UnitQuaternion::from_scaled_axis(Vector3::y() * 0.1),
        );
        assert!(matches!(
            StereoEpipolarCheck::new(&same_centre),
            Err(VioError::Calibration(_))
        ));
    }

    #[test]
    fn epipolar_jacobian_matches_finite_differences() {
        let mut rng = TestRng::new(3);
        for _ in 0..20 {
            let rotation = Rotation3::from_scaled_axis(rng.unit_vector() * 0.3).into_inner();
            let t = rng.unit_vector();
            let basis = tangent_basis(&t);
            let (p, c) = (rng.bearing_in_view(), rng.bearing_in_view());
            let residual = |d: &Vector5<f64>| {
                let r = rotation * Rotation3::from_scaled_axis(Vector3::new(d[0], d[1], d[2]));
                let t = t + basis * Vector2::new(d[3], d[4]);
                c.dot(&t.cross(&(r * p)))
            };
            let (e, analytic, _) = epipolar_residual_jacobian(&rotation, &t, &basis, &p, &c);
            assert!((e - residual(&Vector5::zeros())).abs() < 1e-15);
            let h = 1e-6;
            for k in 0..5 {
                let mut step = Vector5::zeros();
                step[k] = h;
                let numeric = (residual(&step) - residual(&-step)) / (2.0 * h);
                assert!(
                    (analytic[k] - numeric).abs() < 1e-8,
                    "{k}: {} vs {numeric}",
                    analytic[k]
                );
            }
        }
    }
}
