//! Pyramidal Lucas-Kanade tracking of small patches, inverse compositional, in
//! fixed point, with gain and bias compensation.
//!
//! A feature at pixel `p` of image A (level-0 pixel coordinates, x right, y down)
//! is searched for in image B: coarse to fine over the pyramid levels, the
//! translation `d` minimizing
//!
//! `sum_x [ alpha (B(x + p + d) - mean_B) - (A(x + p) - mean_A) ]^2`
//!
//! over a `W x W` window (`x` in `[-W/2, W/2]^2`), with `alpha = sigma_A / sigma_B`
//! making the match invariant to an affine change of brightness (auto exposure,
//! the two cameras' gain mismatch). The update is inverse compositional (Baker &
//! Matthews, "Lucas-Kanade 20 Years On", IJCV 2004, section 3): the template A and
//! its gradient are sampled once per level, so the 2x2 Gauss-Newton Hessian is
//! constant and each iteration only resamples B. With the mean removed from the
//! template the Jacobian is `grad A - mean(grad A)`; its Hessian is
//! `sum grad A grad A^T - n m m^T` (m the mean gradient), and the gradient of the
//! cost is `alpha (sum grad A B - mean_B sum grad A) - (sum grad A A - mean_A sum grad A)`.
//!
//! Fixed point, chosen so every per-pixel operation is a 16-bit SIMD lane on
//! SSE2 and NEON: bilinear weights in Q7 (they sum to 128, so a weighted sum of
//! four 8-bit pixels fits `u16`), resampled intensities in Q5 (`i16`, at most
//! 255 * 32), template gradients as half the central difference of Q5 values
//! (`32 * dI/dx`, `i16`). Products are `i16 x i16 -> i32` dot products of 8
//! lanes into 4 (`pmaddwd` / `vmull`): each 32-bit lane gains 4 products of at
//! most `8160^2` per row and is flushed to `i64` every 4 rows, so it never
//! overflows.
//! Q7 weights quantize the position to 1/128 px, well below the tracker's noise.
//! The window's rows are padded to 16 columns (the 16th has zero gradient and is
//! taken out of the intensity sums) so the inner loops have a fixed length.
//!
//! A track is accepted only after a forward-backward check (Kalal et al., 2010):
//! tracking the found patch back from B into A at level 0, starting from the
//! original position, must return within `max_fb_error_px` of it, and the zero-
//! mean normalized cross-correlation of the two patches must reach `min_zncc`.

use cost::{KernelCost, OpCounts, Residence};
use nalgebra::Vector2;
use serde::{Deserialize, Serialize};
use wide::{i16x8, i32x4, u8x16};

use super::pyramid::{BORDER, ImagePyramid, PyramidLevel};

/// Window side, pixels (odd). 15 is the usual compromise between the basin of
/// convergence and cost (OpenVINS uses 15x15; OpenCV defaults to 21x21).
pub const WINDOW: usize = 15;
const HALF: isize = (WINDOW / 2) as isize;
/// Columns per stored row: the window padded to 16.
const COLS: usize = 16;
/// Rows of the template's sampled area: the window and a one-pixel margin.
const SAMPLED: usize = WINDOW + 2;
/// Columns of the template's sampled area: 16 and a one-pixel margin each side.
const SAMPLED_COLS: usize = COLS + 2;
/// Pixels of the window.
const N: i64 = (WINDOW * WINDOW) as i64;
/// Bilinear weights sum to this (Q7).
const W_ONE: u16 = 128;

/// Parameters of the tracker.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KltConfig {
    /// Gauss-Newton iterations at level 0 at most.
    pub max_iterations: u32,
    /// Gauss-Newton iterations at each coarser level at most.
    pub coarse_max_iterations: u32,
    /// Convergence at level 0: stop when the update is shorter, pixels.
    pub epsilon_px: f32,
    /// Convergence at coarser levels, pixels of the level: they only need to
    /// land inside the next level's basin of convergence.
    pub coarse_epsilon_px: f32,
    /// Smallest eigenvalue of the template's (mean-removed) gradient matrix,
    /// divided by the window's pixel count, (gray levels / px)^2. Flatter patches
    /// are not tracked at that level.
    pub min_eigenvalue: f32,
    /// Forward-backward check: largest distance between the start and the
    /// back-tracked position, level-0 pixels.
    pub max_fb_error_px: f32,
    /// Smallest zero-mean normalized cross-correlation between the patches.
    pub min_zncc: f32,
}

impl Default for KltConfig {
    fn default() -> Self {
        Self {
            max_iterations: 30,
            coarse_max_iterations: 10,
            epsilon_px: 0.01,
            coarse_epsilon_px: 0.05,
            min_eigenvalue: 0.05,
            max_fb_error_px: 0.5,
            min_zncc: 0.8,
        }
    }
}

/// When Gauss-Newton stops at one level.
#[derive(Debug, Clone, Copy)]
struct Stopping {
    /// Stop when the update is shorter than this, pixels of the level.
    epsilon: f32,
    /// Iterations at most.
    max_iterations: u32,
    /// Whether ending without settling (last update over 0.5 px) is a failure.
    must_settle: bool,
}

/// Why a track was not found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrackFailure {
    /// The window left the image.
    OutOfImage,
    /// The template has too little texture at level 0.
    Flat,
    /// Gauss-Newton did not converge at level 0, or the iterate went wild.
    Diverged,
    /// The forward-backward check failed.
    ForwardBackward,
    /// The matched patches do not correlate enough.
    LowCorrelation,
}

/// Work done by the tracker since the last [`KltTracker::take_cost`], from
/// which the counts are derived analytically.
#[derive(Debug, Clone, Copy, Default)]
struct Work {
    calls: u64,
    templates: u64,
    /// Templates sampled at levels larger than an L1 cache (see
    /// [`KltTracker::take_cost`]).
    large_level_templates: u64,
    iterations: u64,
}

/// Levels up to this many bytes stay in a first-level cache between frames
/// (the coarse levels of a 752 x 480 image: 24 kB and less).
const SMALL_LEVEL_BYTES: usize = 32 * 1024;

/// Bytes moved from main memory per row of a template's neighbourhood: rows
/// of `SAMPLED_COLS` bytes come in 64-byte lines, and a row straddles two
/// lines about `SAMPLED_COLS / 64` of the time.
const TEMPLATE_ROW_MAIN_BYTES: u64 = 64 + SAMPLED_COLS as u64;

/// A window of the template: intensities and gradients, rows of [`COLS`].
#[derive(Debug, Clone)]
struct Template {
    /// Intensities, Q5; column 15 zero.
    value: [[i16; COLS]; WINDOW],
    /// `32 dA/dx`, column 15 zero.
    gx: [[i16; COLS]; WINDOW],
    /// `32 dA/dy`, column 15 zero.
    gy: [[i16; COLS]; WINDOW],
    /// Constant sums: of A, A^2, gx, gy, gx A, gy A.
    s_a: i64,
    s_aa: i64,
    s_gx: i64,
    s_gy: i64,
    s_gxa: i64,
    s_gya: i64,
    /// Inverse of the mean-removed Hessian (in units of the Q5 values).
    h_inv: [[f64; 2]; 2],
    /// Smallest eigenvalue of the Hessian / N, in (gray/px)^2.
    min_eig: f64,
}

impl Default for Template {
    fn default() -> Self {
        Self {
            value: [[0; COLS]; WINDOW],
            gx: [[0; COLS]; WINDOW],
            gy: [[0; COLS]; WINDOW],
            s_a: 0,
            s_aa: 0,
            s_gx: 0,
            s_gy: 0,
            s_gxa: 0,
            s_gya: 0,
            h_inv: [[0.0; 2]; 2],
            min_eig: 0.0,
        }
    }
}

/// Sums over the window of the resampled target B.
#[derive(Debug, Clone, Copy, Default)]
struct TargetSums {
    s_b: i64,
    s_bb: i64,
    s_gxb: i64,
    s_gyb: i64,
    /// Sum of A B, only when asked for (for the correlation).
    s_ab: i64,
}

/// A pyramidal KLT tracker; owns its scratch so tracking never allocates.
#[derive(Debug, Clone, Default)]
pub struct KltTracker {
    config: KltConfig,
    template: Box<Template>,
    /// Scratch: the template's sampled area, Q5.
    sampled: Box<[[i16; SAMPLED_COLS]; SAMPLED]>,
    work: Work,
}

impl KltTracker {
    /// A tracker with the given parameters.
    #[must_use]
    pub fn new(config: KltConfig) -> Self {
        Self {
            config,
            template: Box::default(),
            sampled: Box::new([[0; SAMPLED_COLS]; SAMPLED]),
            work: Work::default(),
        }
    }

    /// The parameters.
    #[must_use]
    pub fn config(&self) -> &KltConfig {
        &self.config
    }

    /// Tracks the patch at `from_px` of pyramid `a` into pyramid `b`, starting
    /// from the guess `guess_px` (level-0 pixels), from level `top_level` (capped
    /// at the pyramids' depth) down to 0, then verifies the result by tracking
    /// back at level 0 and by the patches' correlation.
    ///
    /// # Errors
    /// Why no trustworthy position was found.
    pub fn track(
        &mut self,
        a: &ImagePyramid,
        b: &ImagePyramid,
        from_px: Vector2<f32>,
        guess_px: Vector2<f32>,
        top_level: usize,
    ) -> Result<Vector2<f32>, TrackFailure> {
        self.work.calls += 1;
        let levels = a.len().min(b.len()).min(top_level + 1);
        let mut d = guess_px - from_px;
        for l in (1..levels).rev() {
            let (Some(la), Some(lb)) = (a.level(l), b.level(l)) else {
                return Err(TrackFailure::OutOfImage);
            };
            let scale = 1.0 / (1u32 << l) as f32;
            let p = from_px * scale;
            let q = (from_px + d) * scale;
            // A coarse level without texture, leaving the image or not settling
            // keeps the current estimate and lets finer levels refine it.
            if self.sample_template(la, p).is_ok()
                && let Ok((q, _)) = self.iterate(lb, q, self.coarse_stopping(), false)
            {
                d = q / scale - from_px;
            }
        }
        let (Some(la), Some(lb)) = (a.level(0), b.level(0)) else {
            return Err(TrackFailure::OutOfImage);
        };
        self.sample_template(la, from_px)?;
        let fine = self.fine_stopping();
        let (found, zncc) = self.iterate(lb, from_px + d, fine, true)?;
        if zncc < self.config.min_zncc {
            return Err(TrackFailure::LowCorrelation);
        }
        // Backward: the template is now B at `found`; search A from `from_px`.
        // Both neighbourhoods were just read, so this template is not one that
        // comes from the template image's level in main memory.
        let large = self.work.large_level_templates;
        let sampled = self.sample_template(lb, found);
        self.work.large_level_templates = large;
        sampled?;
        let (back, _) = self.iterate(la, from_px, fine, false)?;
        if (back - from_px).norm() > self.config.max_fb_error_px {
            return Err(TrackFailure::ForwardBackward);
        }
        Ok(found)
    }

    /// Stopping rule of the coarse levels: they only have to bring the estimate
    /// closer, so running out of iterations is not a failure.
    fn coarse_stopping(&self) -> Stopping {
        Stopping {
            epsilon: self.config.coarse_epsilon_px,
            max_iterations: self.config.coarse_max_iterations,
            must_settle: false,
        }
    }

    /// Stopping rule at level 0 (forward and backward): the iterate must settle.
    fn fine_stopping(&self) -> Stopping {
        Stopping {
            epsilon: self.config.epsilon_px,
            max_iterations: self.config.max_iterations,
            must_settle: true,
        }
    }

    /// Gauss-Newton on the current template, searched in `b` from `q` (pixels of
    /// this level). Returns the converged position and, when `correlate`, the
    /// zero-mean normalized cross-correlation at the last resampling.
    fn iterate(
        &mut self,
        b: &PyramidLevel,
        mut q: Vector2<f32>,
        stop: Stopping,
        correlate: bool,
    ) -> Result<(Vector2<f32>, f32), TrackFailure> {
        let t = &*self.template;
        let mut prev_step = Vector2::<f32>::zeros();
        let eps2 = stop.epsilon * stop.epsilon;
        let mut converged = false;
        let mut last = TargetSums::default();
        let n = N as f64;
        let mean_a = t.s_a as f64 / n;
        let var_a = t.s_aa as f64 / n - mean_a * mean_a;
        for it in 0..stop.max_iterations {
            self.work.iterations += 1;
            let s = if correlate {
                resample::<true>(b, q, t)
            } else {
                resample::<false>(b, q, t)
            }
            .ok_or(TrackFailure::OutOfImage)?;
            last = s;
            let mean_b = s.s_b as f64 / n;
            let var_b = s.s_bb as f64 / n - mean_b * mean_b;
            if var_b <= 1e-6 {
                return Err(TrackFailure::Diverged);
            }
            let alpha = (var_a / var_b).sqrt();
            let gx = alpha * (s.s_gxb as f64 - mean_b * t.s_gx as f64)
                - (t.s_gxa as f64 - mean_a * t.s_gx as f64);
            let gy = alpha * (s.s_gyb as f64 - mean_b * t.s_gy as f64)
                - (t.s_gya as f64 - mean_a * t.s_gy as f64);
            let h = &t.h_inv;
            // Gradients are 32 dA/dx and residuals 32 gray: the step is in pixels.
            let step = Vector2::new(
                (h[0][0] * gx + h[0][1] * gy) as f32,
                (h[1][0] * gx + h[1][1] * gy) as f32,
            );
            if !(step.x.is_finite() && step.y.is_finite()) {
                return Err(TrackFailure::Diverged);
            }
            q -= step;
            if step.norm_squared() <= eps2 {
                converged = true;
                break;
            }
            // Oscillating between two positions: settle in the middle.
            if it > 0 && (step + prev_step).norm_squared() <= eps2 {
                q += step * 0.5;
                converged = true;
                break;
            }
            prev_step = step;
        }
        if !converged && stop.must_settle && prev_step.norm() > 0.5 {
            return Err(TrackFailure::Diverged);
        }
        if !inside(b, q) {
            return Err(TrackFailure::OutOfImage);
        }
        let zncc = if correlate {
            let cov = last.s_ab as f64 - last.s_b as f64 * t.s_a as f64 / n;
            let var_a = t.s_aa as f64 - t.s_a as f64 * t.s_a as f64 / n;
            let var_b = last.s_bb as f64 - last.s_b as f64 * last.s_b as f64 / n;
            if var_a > 0.0 && var_b > 0.0 {
                (cov / (var_a * var_b).sqrt()) as f32
            } else {
                0.0
            }
        } else {
            1.0
        };
        Ok((q, zncc))
    }

    /// Samples the template at `p` of level `a` with a one-pixel margin, and its
    /// gradients, sums and inverse Hessian.
    ///
    /// # Errors
    /// [`TrackFailure::OutOfImage`], or [`TrackFailure::Flat`] when its smallest
    /// eigenvalue is below the threshold.
    fn sample_template(&mut self, a: &PyramidLevel, p: Vector2<f32>) -> Result<(), TrackFailure> {
        self.work.templates += 1;
        if a.bytes() > SMALL_LEVEL_BYTES {
            self.work.large_level_templates += 1;
        }
        if !inside(a, p) {
            return Err(TrackFailure::OutOfImage);
        }
        let w = Bilinear::at(p);
        let data = a.padded_data();
        let stride = a.stride();
        let start = a.index(w.ix - HALF - 1, w.iy - HALF - 1);
        for (r, out) in self.sampled.iter_mut().enumerate() {
            let i = start + r * stride;
            let (Some(r0), Some(r1)) = (
                data.get(i..i + SAMPLED_COLS + 1),
                data.get(i + stride..i + stride + SAMPLED_COLS + 1),
            ) else {
                return Err(TrackFailure::OutOfImage);
            };
            let (Ok(a0), Ok(a1)) = (r0[..COLS + 1].try_into(), r1[..COLS + 1].try_into()) else {
                return Err(TrackFailure::OutOfImage);
            };
            let (head, tail) = out.split_at_mut(COLS);
            let [lo, hi] = w.sample_row(a0, a1);
            head[..8].copy_from_slice(&lo.to_array());
            head[8..].copy_from_slice(&hi.to_array());
            for (c, o) in tail.iter_mut().enumerate() {
                let c = c + COLS;
                *o = w.sample(r0[c], r0[c + 1], r1[c], r1[c + 1]);
            }
        }
        let t = &mut *self.template;
        let mut sums = [0i64; 9];
        let mut acc = [i32x4::ZERO; 9];
        for r in 0..WINDOW {
            let (up, mid, down) = (&self.sampled[r], &self.sampled[r + 1], &self.sampled[r + 2]);
            for h in 0..2 {
                let o = 8 * h;
                let mask = if h == 0 { ALL_LANES } else { NO_PAD_LANE };
                let v = load(&mid[o + 1..]) * mask;
                let gx = ((load(&mid[o + 2..]) - load(&mid[o..])) >> 1u32) * mask;
                let gy = ((load(&down[o + 1..]) - load(&up[o + 1..])) >> 1u32) * mask;
                t.value[r][o..o + 8].copy_from_slice(&v.to_array());
                t.gx[r][o..o + 8].copy_from_slice(&gx.to_array());
                t.gy[r][o..o + 8].copy_from_slice(&gy.to_array());
                acc[0] += v.dot(ONES);
                acc[1] += v.dot(v);
                acc[2] += gx.dot(ONES);
                acc[3] += gy.dot(ONES);
                acc[4] += gx.dot(v);
                acc[5] += gy.dot(v);
                acc[6] += gx.dot(gx);
                acc[7] += gx.dot(gy);
                acc[8] += gy.dot(gy);
            }
            // Each lane holds at most 4 products of 8160^2 per row: flush every
            // 4 rows to stay inside i32.
            if r % 4 == 3 || r == WINDOW - 1 {
                flush(&mut acc, &mut sums);
            }
        }
        let [s_a, s_aa, s_gx, s_gy, s_gxa, s_gya, hxx, hxy, hyy] = sums;
        (t.s_a, t.s_aa, t.s_gx, t.s_gy, t.s_gxa, t.s_gya) = (s_a, s_aa, s_gx, s_gy, s_gxa, s_gya);
        let n = N as f64;
        let (mx, my) = (s_gx as f64 / n, s_gy as f64 / n);
        let a11 = hxx as f64 - n * mx * mx;
        let a12 = hxy as f64 - n * mx * my;
        let a22 = hyy as f64 - n * my * my;
        let det = a11 * a22 - a12 * a12;
        let half_trace = 0.5 * (a11 + a22);
        let disc = (0.25 * (a11 - a22) * (a11 - a22) + a12 * a12).sqrt();
        // Q5 gradients are 32 dA/dx: divide by 32^2 for (gray/px)^2.
        t.min_eig = (half_trace - disc) / n / 1024.0;
        if det <= 0.0 || t.min_eig < f64::from(self.config.min_eigenvalue) {
            return Err(TrackFailure::Flat);
        }
        t.h_inv = [[a22 / det, -a12 / det], [-a12 / det, a11 / det]];
        Ok(())
    }

    /// The work since the last call, as analytic counts, and resets it.
    /// `template_image` is where the image the templates were sampled from
    /// lives: [`Residence::Main`] for the previous frame's pyramid (temporal
    /// tracking: the current frame's pyramids and the other stages' data have
    /// pushed it out of the caches since), [`Residence::Buffer`] for the
    /// current frame's (stereo: its left pyramid was just built and read).
    /// From main memory come the lines of each template's neighbourhood at
    /// levels larger than [`SMALL_LEVEL_BYTES`]; the iterations' reads of the
    /// other image, built just before, are booked as buffer traffic.
    pub fn take_cost(&mut self, template_image: Residence) -> KernelCost {
        let w = std::mem::take(&mut self.work);
        let s = (SAMPLED * SAMPLED_COLS) as u64;
        let px = (WINDOW * COLS) as u64;
        // Template: bilinear resampling of the sampled area (4 multiplies, 4
        // adds with rounding, a shift, in 16 bits), gradients and masks over the
        // padded window (2 subtractions, 2 shifts, 3 mask multiplies), 9 dot
        // products (widening multiply-accumulates) per padded pixel.
        let template_ops = OpCounts {
            int16_mul: 4 * s + 3 * px,
            int16_add: 5 * s + 4 * px,
            int32_mul: 9 * px,
            int32_add: 9 * px,
            f64_ops: 40,
            ..OpCounts::default()
        };
        // Iteration: resample the padded window in 16 bits, then 4 widening dot
        // products per pixel (sum, square, two gradients; a fifth for the
        // correlation at level 0, not counted separately); a 2x2 solve.
        let iteration_ops = OpCounts {
            int16_mul: 4 * px,
            int16_add: 5 * px,
            int32_mul: 4 * px,
            int32_add: 4 * px,
            f64_ops: 30,
            ..OpCounts::default()
        };
        let mut k = KernelCost {
            calls: w.calls,
            ops: template_ops * w.templates + iteration_ops * w.iterations,
            ..KernelCost::default()
        };
        // Each resampling reads (rows + 1) x (cols + 1) bytes of a pyramid level:
        // the feature's neighbourhood, cached while it iterates (buffer); the
        // template and its gradients (3 x 2 bytes per pixel) are local.
        let image_bytes_template = ((SAMPLED + 1) * (SAMPLED_COLS + 1)) as u64;
        let image_bytes_iteration = ((WINDOW + 1) * (COLS + 1)) as u64;
        k.read(
            Residence::Buffer,
            image_bytes_template * w.templates + image_bytes_iteration * w.iterations,
        );
        if template_image == Residence::Main {
            k.read(
                Residence::Main,
                w.large_level_templates * (SAMPLED + 1) as u64 * TEMPLATE_ROW_MAIN_BYTES,
            );
        }
        k.write(Residence::Local, (2 * s + 6 * px) * w.templates);
        k.read(
            Residence::Local,
            2 * s * w.templates + 4 * px * w.iterations,
        );
        k
    }
}

/// Whether the window around `p` (with its margins) lies inside the padded level.
#[inline]
fn inside(level: &PyramidLevel, p: Vector2<f32>) -> bool {
    // The centre may leave the image by a few pixels; the border covers the rest.
    let m = (BORDER as f32) - (HALF as f32) - 3.0;
    p.x >= -m
        && p.y >= -m
        && p.x <= level.width() as f32 - 1.0 + m
        && p.y <= level.height() as f32 - 1.0 + m
}

/// Bilinear weights for a sub-pixel position, Q7, non-negative, summing to 128.
#[derive(Debug, Clone, Copy)]
struct Bilinear {
    ix: isize,
    iy: isize,
    w00: u16,
    w01: u16,
    w10: u16,
    w11: u16,
}

impl Bilinear {
    #[inline]
    fn at(p: Vector2<f32>) -> Self {
        let (fx0, fy0) = (p.x.floor(), p.y.floor());
        let (fx, fy) = (p.x - fx0, p.y - fy0);
        let one = f32::from(W_ONE);
        let mut w = [
            ((1.0 - fx) * (1.0 - fy) * one).round() as i32,
            (fx * (1.0 - fy) * one).round() as i32,
            ((1.0 - fx) * fy * one).round() as i32,
            (fx * fy * one).round() as i32,
        ];
        // Rounding may leave the sum 1 or 2 off: the largest weight absorbs it.
        let excess = w.iter().sum::<i32>() - i32::from(W_ONE);
        let largest = (0..4).max_by_key(|&i| w[i]).unwrap_or(0);
        w[largest] -= excess;
        let c = |v: i32| v.clamp(0, i32::from(W_ONE)) as u16;
        Self {
            ix: fx0 as isize,
            iy: fy0 as isize,
            w00: c(w[0]),
            w01: c(w[1]),
            w10: c(w[2]),
            w11: c(w[3]),
        }
    }

    /// A row of 16 interpolated values (two vectors of 8) from two rows of 17
    /// pixels, in 16-bit lanes.
    #[inline(always)]
    fn sample_row(&self, r0: &[u8; COLS + 1], r1: &[u8; COLS + 1]) -> [i16x8; 2] {
        let (a, b) = widen_row(r0);
        let (c, d) = widen_row(r1);
        let w = |x: u16| i16x8::splat(x as i16);
        let (w00, w01, w10, w11) = (w(self.w00), w(self.w01), w(self.w10), w(self.w11));
        let two = i16x8::splat(2);
        // Every product and sum is at most 128 x 255 = 32640: no lane overflows.
        std::array::from_fn(|h| (a[h] * w00 + b[h] * w01 + c[h] * w10 + d[h] * w11 + two) >> 2u32)
    }

    /// The interpolated value in Q5: the Q7 sum (at most 128 x 255) rounded.
    #[inline(always)]
    fn sample(&self, a: u8, b: u8, c: u8, d: u8) -> i16 {
        let v = self.w00 * u16::from(a)
            + self.w01 * u16::from(b)
            + self.w10 * u16::from(c)
            + self.w11 * u16::from(d);
        ((v + 2) >> 2) as i16
    }
}

/// All eight lanes.
const ALL_LANES: i16x8 = i16x8::new([1; 8]);
/// The second half of a 16-column row without its last (padding) lane.
const NO_PAD_LANE: i16x8 = i16x8::new([1, 1, 1, 1, 1, 1, 1, 0]);
/// Ones, to sum lanes with a dot product.
const ONES: i16x8 = i16x8::new([1; 8]);

/// Eight values from the start of `s` (which holds at least eight).
#[inline(always)]
fn load(s: &[i16]) -> i16x8 {
    i16x8::from_slice_unaligned(s)
}

/// Pixels 0..16 and 1..17 of a row, widened to 16 bits: `([0..8, 8..16],
/// [1..9, 9..17])`.
#[inline(always)]
fn widen_row(row: &[u8; COLS + 1]) -> ([i16x8; 2], [i16x8; 2]) {
    let mut a = [0u8; 16];
    let mut b = [0u8; 16];
    a.copy_from_slice(&row[..16]);
    b.copy_from_slice(&row[1..]);
    let (a, b) = (u8x16::new(a), u8x16::new(b));
    (
        [i16x8::from_u8x16_low(a), i16x8::from_u8x16_high(a)],
        [i16x8::from_u8x16_low(b), i16x8::from_u8x16_high(b)],
    )
}

/// Adds the lanes of each accumulator into its 64-bit sum and clears it.
#[inline(always)]
fn flush<const K: usize>(acc: &mut [i32x4; K], sums: &mut [i64; K]) {
    for (a, s) in acc.iter_mut().zip(sums.iter_mut()) {
        *s += a.to_array().iter().map(|&x| i64::from(x)).sum::<i64>();
        *a = i32x4::ZERO;
    }
}

/// One Gauss-Newton iteration's sums over the window of `b` at `q` (and the
/// sum of A B when `AB`). `None` when the window leaves the padded level.
#[inline]
fn resample<const AB: bool>(b: &PyramidLevel, q: Vector2<f32>, t: &Template) -> Option<TargetSums> {
    if !inside(b, q) {
        return None;
    }
    let w = Bilinear::at(q);
    let data = b.padded_data();
    let stride = b.stride();
    let start = b.index(w.ix - HALF, w.iy - HALF);
    let mut acc = [i32x4::ZERO; 5];
    let mut sums = [0i64; 5];
    for r in 0..WINDOW {
        let i = start + r * stride;
        let r0: &[u8; COLS + 1] = data.get(i..i + COLS + 1)?.try_into().ok()?;
        let r1: &[u8; COLS + 1] = data
            .get(i + stride..i + stride + COLS + 1)?
            .try_into()
            .ok()?;
        let row = w.sample_row(r0, r1);
        for (h, v) in row.into_iter().enumerate() {
            let o = 8 * h;
            // The 16th column is padding: out of the intensity sums.
            let v = if h == 0 { v } else { v * NO_PAD_LANE };
            acc[0] += v.dot(ONES);
            acc[1] += v.dot(v);
            acc[2] += v.dot(load(&t.gx[r][o..]));
            acc[3] += v.dot(load(&t.gy[r][o..]));
            if AB {
                acc[4] += v.dot(load(&t.value[r][o..]));
            }
        }
        if r % 4 == 3 || r == WINDOW - 1 {
            flush(&mut acc, &mut sums);
        }
    }
    let [s_b, s_bb, s_gxb, s_gyb, s_ab] = sums;
    let s = TargetSums {
        s_b,
        s_bb,
        s_gxb,
        s_gyb,
        s_ab,
    };
    Some(s)
}

#[cfg(test)]
mod tests {
    use datasets::GrayImage;

    use super::*;

    /// Value noise: random values on a lattice of `cell` pixels, interpolated
    /// smoothly; `seed` picks the pattern.
    fn value_noise(x: f32, y: f32, cell: f32, seed: u32) -> f32 {
        let hash = |i: i32, j: i32| {
            let mut h =
                (i as u32).wrapping_mul(0x9E37_79B1) ^ (j as u32).wrapping_mul(0x85EB_CA77) ^ seed;
            h ^= h >> 15;
            h = h.wrapping_mul(0x2C1B_3C6D);
            h ^= h >> 12;
            (h & 0xFFFF) as f32 / 65535.0 - 0.5
        };
        let (gx, gy) = (x / cell, y / cell);
        let (i, j) = (gx.floor() as i32, gy.floor() as i32);
        let smooth = |t: f32| t * t * (3.0 - 2.0 * t);
        let (fx, fy) = (smooth(gx - gx.floor()), smooth(gy - gy.floor()));
        let top = hash(i, j) * (1.0 - fx) + hash(i + 1, j) * fx;
        let bottom = hash(i, j + 1) * (1.0 - fx) + hash(i + 1, j + 1) * fx;
        top * (1.0 - fy) + bottom * fy
    }

    /// A random texture with structure at several scales, 0-255.
    fn texture_seeded(x: f32, y: f32, seed: u32) -> f32 {
        let v = 128.0
            + 120.0 * value_noise(x, y, 24.0, seed)
            + 80.0 * value_noise(x, y, 9.0, seed + 1)
            + 40.0 * value_noise(x, y, 3.5, seed + 2);
        v.clamp(0.0, 255.0)
    }

    fn texture(x: f32, y: f32) -> f32 {
        texture_seeded(x, y, 7)
    }

    fn render(w: usize, h: usize, shift: Vector2<f32>, gain: f32, bias: f32) -> GrayImage {
        let mut img = GrayImage::new(w, h);
        for y in 0..h {
            for x in 0..w {
                let v = texture(x as f32 - shift.x, y as f32 - shift.y) * gain + bias;
                img.data_mut()[y * w + x] = v.round().clamp(0.0, 255.0) as u8;
            }
        }
        img
    }

    fn pyramids(shift: Vector2<f32>, gain: f32, bias: f32) -> (ImagePyramid, ImagePyramid) {
        let (mut a, mut b) = (ImagePyramid::new(), ImagePyramid::new());
        a.build(&render(320, 240, Vector2::zeros(), 1.0, 0.0), 4);
        b.build(&render(320, 240, shift, gain, bias), 4);
        (a, b)
    }

    #[test]
    fn recovers_known_subpixel_shifts_with_exposure_change() {
        for (shift, gain, bias) in [
            (Vector2::new(0.3f32, -0.2f32), 1.0, 0.0),
            (Vector2::new(4.7, 2.25), 1.0, 0.0),
            (Vector2::new(-17.4, 9.6), 0.85, 12.0),
            (Vector2::new(31.3, -22.8), 1.1, -8.0),
        ] {
            let (a, b) = pyramids(shift, gain, bias);
            let mut klt = KltTracker::new(KltConfig::default());
            let mut errors = Vec::new();
            for i in 0..20 {
                let p = Vector2::new(60.0 + 10.0 * i as f32, 80.0 + 4.0 * i as f32);
                match klt.track(&a, &b, p, p, 3) {
                    Ok(q) => errors.push((q - p - shift).norm()),
                    Err(e) => panic!("shift {shift:?}: lost at {p:?}: {e:?}"),
                }
            }
            errors.sort_by(f32::total_cmp);
            let median = errors[errors.len() / 2];
            assert!(median < 0.05, "shift {shift:?}: median error {median}");
        }
    }

    #[test]
    fn rejects_a_patch_that_changed_and_flat_patches() {
        let (a, _) = pyramids(Vector2::zeros(), 1.0, 0.0);
        // B: a different texture (another seed).
        let mut other = GrayImage::new(320, 240);
        for y in 0..240 {
            for x in 0..320 {
                let v = texture_seeded(x as f32, y as f32, 99);
                other.data_mut()[y * 320 + x] = v.round() as u8;
            }
        }
        let mut b = ImagePyramid::new();
        b.build(&other, 4);
        let mut klt = KltTracker::new(KltConfig::default());
        let mut accepted = 0;
        for i in 0..20 {
            let p = Vector2::new(60.0 + 10.0 * i as f32, 80.0 + 4.0 * i as f32);
            accepted += usize::from(klt.track(&a, &b, p, p, 3).is_ok());
        }
        assert!(accepted <= 1, "{accepted} of 20 false tracks accepted");
        let flat = render(64, 64, Vector2::zeros(), 0.0, 90.0);
        let mut f = ImagePyramid::new();
        f.build(&flat, 3);
        let p = Vector2::new(30.0, 30.0);
        assert_eq!(klt.track(&f, &f, p, p, 3), Err(TrackFailure::Flat));
    }

    #[test]
    fn cost_follows_the_work() {
        let (a, b) = pyramids(Vector2::new(1.5, 0.5), 1.0, 0.0);
        let mut klt = KltTracker::new(KltConfig::default());
        let p = Vector2::new(100.0, 100.0);
        assert!(klt.track(&a, &b, p, p, 3).is_ok());
        assert!(klt.track(&a, &b, p, p, 3).is_ok());
        let one = klt.take_cost(Residence::Buffer);
        assert_eq!(one.calls, 2);
        assert!(one.ops.int32_mul > 0 && one.buffer.read > 0);
        assert_eq!(one.main.read, 0, "templates from the current frame");
        assert!(klt.track(&a, &b, p, p, 3).is_ok());
        let evicted = klt.take_cost(Residence::Main);
        // The same work half as often, plus the template neighbourhoods at
        // the levels an L1 cache cannot hold, from main memory.
        assert_eq!(evicted.ops * 2, one.ops);
        // One template per level of A (the backward one, from B, excluded).
        let large = (0..4)
            .filter_map(|l| a.level(l))
            .filter(|l| l.bytes() > SMALL_LEVEL_BYTES)
            .count() as u64;
        assert!(large >= 1);
        assert_eq!(
            evicted.main.read,
            large * (SAMPLED + 1) as u64 * TEMPLATE_ROW_MAIN_BYTES
        );
        assert_eq!(klt.take_cost(Residence::Main).calls, 0);
    }
}
