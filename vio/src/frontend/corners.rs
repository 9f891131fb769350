//! Shi-Tomasi corners in a rectangle of an 8-bit image.
//!
//! The score of a pixel is the smaller eigenvalue of the structure tensor
//! `M = mean over a 3x3 block of [gx^2 gx gy; gx gy gy^2]` (Shi & Tomasi, "Good
//! Features to Track", CVPR 1994), with `gx`, `gy` from 3x3 Sobel filters. It is
//! the quantity that decides how well the KLT tracker's 2x2 system is
//! conditioned, which is why it is the detector here: the corners it picks are
//! the patches the tracker follows best. Scores are in (gray levels / px)^2
//! (Sobel responses divided by 8, the block by 9), so one threshold holds for
//! every image. Local maxima over 3x3 neighbours (non-maximum suppression) above
//! the threshold are the candidates, best first.
//!
//! Gradients are `i16` (at most 4 x 255), products and block sums `i32` (at
//! most 9 x 1020^2); only the eigenvalue is `f32`. The detector runs on the
//! rectangles the front end asks for (grid cells short of features), never on
//! the whole image unless every cell is empty, and owns its buffers.

use cost::{KernelCost, OpCounts, Residence};
use nalgebra::Vector2;
use serde::{Deserialize, Serialize};

use super::pyramid::PyramidLevel;

/// Parameters of the detector.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CornerConfig {
    /// Smallest Shi-Tomasi score of a corner, (gray levels / px)^2.
    pub min_score: f32,
    /// Corners closer than this to the image edge are not reported, pixels.
    pub edge_margin_px: usize,
}

impl Default for CornerConfig {
    fn default() -> Self {
        Self {
            min_score: 10.0,
            edge_margin_px: 8,
        }
    }
}

/// A detected corner: pixel position (level 0) and score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Corner {
    /// Pixel position, x right, y down.
    pub px: Vector2<f32>,
    /// Shi-Tomasi score, (gray / px)^2.
    pub score: f32,
}

/// A rectangle of pixels `[x0, x1) x [y0, y1)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    /// First column.
    pub x0: usize,
    /// First row.
    pub y0: usize,
    /// One past the last column.
    pub x1: usize,
    /// One past the last row.
    pub y1: usize,
}

impl Rect {
    /// Pixels inside.
    #[must_use]
    pub fn area(&self) -> usize {
        self.x1.saturating_sub(self.x0) * self.y1.saturating_sub(self.y0)
    }
}

/// A Shi-Tomasi detector with its scratch buffers.
#[derive(Debug, Clone, Default)]
pub struct CornerDetector {
    config: CornerConfig,
    gx: Vec<i16>,
    gy: Vec<i16>,
    /// Products, then block sums, of gx^2, gx gy, gy^2.
    sums: [Vec<i32>; 3],
    /// Row-wise block sums (the separable box filter's first pass).
    row_sums: [Vec<i32>; 3],
    score: Vec<f32>,
    pixels: u64,
    calls: u64,
}

impl CornerDetector {
    /// A detector with the given parameters.
    #[must_use]
    pub fn new(config: CornerConfig) -> Self {
        Self {
            config,
            ..Self::default()
        }
    }

    /// The parameters.
    #[must_use]
    pub fn config(&self) -> &CornerConfig {
        &self.config
    }

    /// Appends to `out` the local maxima of the score inside `rect` (clipped to
    /// the image minus the edge margin) that reach the threshold, best first.
    pub fn detect(&mut self, image: &PyramidLevel, rect: Rect, out: &mut Vec<Corner>) {
        let m = self.config.edge_margin_px.max(2);
        let rect = Rect {
            x0: rect.x0.max(m),
            y0: rect.y0.max(m),
            x1: rect.x1.min(image.width().saturating_sub(m)),
            y1: rect.y1.min(image.height().saturating_sub(m)),
        };
        if rect.area() == 0 {
            return;
        }
        self.calls += 1;
        // Scores are needed on the rectangle plus one pixel (for the maxima test),
        // block sums likewise, products and gradients on one pixel more.
        let (sx0, sy0) = (rect.x0 - 1, rect.y0 - 1);
        let (sw, sh) = (rect.x1 - rect.x0 + 2, rect.y1 - rect.y0 + 2);
        let (gw, gh) = (sw + 2, sh + 2);
        self.pixels += (gw * gh) as u64;
        self.gradients(image, sx0 as isize - 1, sy0 as isize - 1, gw, gh);
        self.block_sums(gw, gh);
        self.scores(gw, sw, sh);
        let start = out.len();
        let threshold = self.config.min_score;
        for y in 1..sh - 1 {
            let up = &self.score[(y - 1) * sw..y * sw];
            let mid = &self.score[y * sw..(y + 1) * sw];
            let down = &self.score[(y + 1) * sw..(y + 2) * sw];
            for x in 1..sw - 1 {
                let v = mid[x];
                // Strictly greater than the earlier neighbours, at least the later:
                // a plateau yields one corner.
                if v >= threshold
                    && v > up[x - 1]
                    && v > up[x]
                    && v > up[x + 1]
                    && v > mid[x - 1]
                    && v >= mid[x + 1]
                    && v >= down[x - 1]
                    && v >= down[x]
                    && v >= down[x + 1]
                {
                    out.push(Corner {
                        px: Vector2::new((sx0 + x) as f32, (sy0 + y) as f32),
                        score: v,
                    });
                }
            }
        }
        // Best first; ties by position, so the order never depends on the sort.
        out[start..].sort_unstable_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then(a.px.y.total_cmp(&b.px.y))
                .then(a.px.x.total_cmp(&b.px.x))
        });
    }

    /// Sobel gradients of the `w x h` pixels from `(x0, y0)` (which may reach into
    /// the level's border).
    fn gradients(&mut self, image: &PyramidLevel, x0: isize, y0: isize, w: usize, h: usize) {
        self.gx.resize(w * h, 0);
        self.gy.resize(w * h, 0);
        let data = image.padded_data();
        let stride = image.stride();
        for y in 0..h {
            let i = image.index(x0 - 1, y0 + y as isize - 1);
            let up = &data[i..i + w + 2];
            let mid = &data[i + stride..i + stride + w + 2];
            let down = &data[i + 2 * stride..i + 2 * stride + w + 2];
            let gx = &mut self.gx[y * w..(y + 1) * w];
            let gy = &mut self.gy[y * w..(y + 1) * w];
            for x in 0..w {
                let p = |r: &[u8], k: usize| i16::from(r[x + k]);
                gx[x] =
                    (p(up, 2) - p(up, 0)) + 2 * (p(mid, 2) - p(mid, 0)) + (p(down, 2) - p(down, 0));
                gy[x] =
                    (p(down, 0) - p(up, 0)) + 2 * (p(down, 1) - p(up, 1)) + (p(down, 2) - p(up, 2));
            }
        }
    }

    /// 3x3 block sums of the gradient products, valid on the inner `w-2 x h-2`.
    fn block_sums(&mut self, w: usize, h: usize) {
        for k in 0..3 {
            self.row_sums[k].resize(w * h, 0);
            self.sums[k].resize(w * h, 0);
        }
        for y in 0..h {
            let gx = &self.gx[y * w..(y + 1) * w];
            let gy = &self.gy[y * w..(y + 1) * w];
            let [pxx, pxy, pyy] = &mut self.sums;
            let (pxx, pxy, pyy) = (
                &mut pxx[y * w..(y + 1) * w],
                &mut pxy[y * w..(y + 1) * w],
                &mut pyy[y * w..(y + 1) * w],
            );
            for x in 0..w {
                let (a, b) = (i32::from(gx[x]), i32::from(gy[x]));
                pxx[x] = a * a;
                pxy[x] = a * b;
                pyy[x] = b * b;
            }
        }
        for k in 0..3 {
            let (prod, rows) = (&self.sums[k], &mut self.row_sums[k]);
            for y in 0..h {
                let p = &prod[y * w..(y + 1) * w];
                let r = &mut rows[y * w..(y + 1) * w];
                for x in 1..w - 1 {
                    r[x] = p[x - 1] + p[x] + p[x + 1];
                }
            }
            let (rows, out) = (&self.row_sums[k], &mut self.sums[k]);
            for y in 1..h - 1 {
                for x in 1..w - 1 {
                    out[y * w + x] =
                        rows[(y - 1) * w + x] + rows[y * w + x] + rows[(y + 1) * w + x];
                }
            }
        }
    }

    /// Scores of the `sw x sh` pixels inside the gradient window of width `gw`.
    fn scores(&mut self, gw: usize, sw: usize, sh: usize) {
        self.score.resize(sw * sh, 0.0);
        // Sobel is 8x the gradient; the block holds 9 pixels.
        let norm = 1.0 / (64.0 * 9.0);
        let [sxx, sxy, syy] = &self.sums;
        for y in 0..sh {
            let g = (y + 1) * gw + 1;
            let (a, b, c) = (&sxx[g..g + sw], &sxy[g..g + sw], &syy[g..g + sw]);
            let out = &mut self.score[y * sw..(y + 1) * sw];
            for x in 0..sw {
                let (a, b, c) = (a[x] as f32, b[x] as f32, c[x] as f32);
                let half_diff = 0.5 * (a - c);
                out[x] = (0.5 * (a + c) - (half_diff * half_diff + b * b).sqrt()) * norm;
            }
        }
    }

    /// The work since the last call, as analytic counts, and resets it.
    pub fn take_cost(&mut self) -> KernelCost {
        let px = std::mem::take(&mut self.pixels);
        let calls = std::mem::take(&mut self.calls);
        let mut k = KernelCost {
            calls,
            ops: OpCounts {
                // Sobel: 10 adds/subs and 2 doublings per pixel.
                int16_add: 12 * px,
                // Products, 3x3 separable sums of three channels.
                int32_mul: 3 * px,
                int32_add: 12 * px,
                // Eigenvalue: 4 adds, 4 multiplies, 1 sqrt; maxima test 8 compares.
                f32_add: 12 * px,
                f32_mul: 4 * px,
                f32_div_sqrt: px,
                ..OpCounts::default()
            },
            ..KernelCost::default()
        };
        // Three image rows stream from main memory per gradient row; the
        // gradients, products and sums stay in the detector's buffers.
        k.read(Residence::Main, px);
        k.read(Residence::Buffer, 8 * px);
        k.write(Residence::Buffer, 4 * px + 24 * px + 4 * px);
        k.read(Residence::Buffer, 4 * px + 24 * px + 9 * 4 * px);
        k
    }
}

#[cfg(test)]
mod tests {
    use datasets::GrayImage;

    use super::*;
    use crate::frontend::pyramid::ImagePyramid;

    fn level_of(img: &GrayImage) -> ImagePyramid {
        let mut p = ImagePyramid::new();
        p.build(img, 1);
        p
    }

    #[test]
    fn finds_the_corners_of_squares_and_nothing_on_edges_or_flat() {
        // Two bright squares on dark: 8 corners; a long vertical edge: none.
        let (w, h) = (200, 120);
        let mut img = GrayImage::new(w, h);
        for y in 0..h {
            for x in 0..w {
                let sq1 = (30..60).contains(&x) && (30..60).contains(&y);
                let sq2 = (100..140).contains(&x) && (50..90).contains(&y);
                let edge = x >= 170;
                img.data_mut()[y * w + x] = if sq1 || sq2 || edge { 200 } else { 40 };
            }
        }
        let pyr = level_of(&img);
        let Some(l0) = pyr.level(0) else { panic!() };
        let mut det = CornerDetector::new(CornerConfig::default());
        let mut out = Vec::new();
        det.detect(
            l0,
            Rect {
                x0: 0,
                y0: 0,
                x1: w,
                y1: h,
            },
            &mut out,
        );
        let expected = [
            (29.5, 29.5),
            (59.5, 29.5),
            (29.5, 59.5),
            (59.5, 59.5),
            (99.5, 49.5),
            (139.5, 49.5),
            (99.5, 89.5),
            (139.5, 89.5),
        ];
        for (ex, ey) in expected {
            let near = out
                .iter()
                .any(|c| (c.px.x - ex).abs() <= 1.5 && (c.px.y - ey).abs() <= 1.5);
            assert!(near, "no corner near ({ex}, {ey}): {out:?}");
        }
        assert_eq!(out.len(), expected.len(), "{out:?}");
        assert!(out.windows(2).all(|p| p[0].score >= p[1].score));
        let cost = det.take_cost();
        assert_eq!(cost.calls, 1);
        assert!(cost.ops.int16_add > 0);
    }

    #[test]
    fn a_rectangle_limits_the_search() {
        let (w, h) = (120, 80);
        let mut img = GrayImage::new(w, h);
        for y in 0..h {
            for x in 0..w {
                let checker = ((x / 10) + (y / 10)) % 2 == 0;
                img.data_mut()[y * w + x] = if checker { 180 } else { 60 };
            }
        }
        let pyr = level_of(&img);
        let Some(l0) = pyr.level(0) else { panic!() };
        let mut det = CornerDetector::new(CornerConfig::default());
        let mut out = Vec::new();
        let rect = Rect {
            x0: 35,
            y0: 25,
            x1: 65,
            y1: 55,
        };
        det.detect(l0, rect, &mut out);
        assert!(!out.is_empty());
        for c in &out {
            assert!(c.px.x >= 35.0 && c.px.x < 65.0 && c.px.y >= 25.0 && c.px.y < 55.0);
        }
    }
}
