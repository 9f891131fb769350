//! Gaussian image pyramids of 8-bit images, with replicated borders.
//!
//! Level 0 is the input image; level `l + 1` is level `l` blurred by the separable
//! binomial kernel `[1 4 6 4 1] / 16` in each direction and decimated by 2, with
//! size `((w + 1) / 2, (h + 1) / 2)` (the filter and sizes of OpenCV's `pyrDown`
//! and Burt & Adelson's Laplacian pyramid, 1983). Pixel `(x, y)` of level `l` sits
//! at `(2^l x, 2^l y)` of level 0: pixel centres map as `x_0 = 2^l x_l`.
//!
//! Every level is stored with a border of [`BORDER`] pixels on each side that
//! replicates the edge pixels, so the tracker can sample a patch whose centre is
//! anywhere inside the image without bounds checks per pixel. The buffers belong
//! to the pyramid and are reused frame to frame: [`ImagePyramid::build`] never
//! allocates once the pyramid has seen an image of the same size.
//!
//! Arithmetic is integer: the vertical pass sums 5 rows with weights 1, 4, 6, 4, 1
//! into `u16` (at most 16 x 255), the horizontal pass sums 5 of those, still in
//! `u16` (at most 256 x 255 = 65280), and rounds `(s + 128) >> 8`. Exact, so the
//! output is bit-identical on every platform.

use cost::{KernelCost, OpCounts, Residence};
use datasets::GrayImage;

/// Replicated border around every level, pixels. It must cover the tracker's
/// half window plus its gradient and interpolation margins (7 + 2 for 15x15).
pub const BORDER: usize = 16;

/// One pyramid level: `width x height` pixels inside a [`BORDER`]-wide margin.
#[derive(Debug, Clone, Default)]
pub struct PyramidLevel {
    width: usize,
    height: usize,
    stride: usize,
    data: Vec<u8>,
}

impl PyramidLevel {
    fn resize(&mut self, width: usize, height: usize) {
        self.width = width;
        self.height = height;
        self.stride = width + 2 * BORDER;
        self.data.resize(self.stride * (height + 2 * BORDER), 0);
    }

    /// Width of the image, pixels (without the border).
    #[must_use]
    pub fn width(&self) -> usize {
        self.width
    }

    /// Height of the image, pixels (without the border).
    #[must_use]
    pub fn height(&self) -> usize {
        self.height
    }

    /// Distance between rows in [`Self::padded_data`], bytes.
    #[must_use]
    pub fn stride(&self) -> usize {
        self.stride
    }

    /// The whole buffer, border included: pixel `(x, y)` (which may be negative
    /// down to `-BORDER`) is at `(y + BORDER) * stride + x + BORDER`.
    #[must_use]
    pub fn padded_data(&self) -> &[u8] {
        &self.data
    }

    /// Index in [`Self::padded_data`] of pixel `(x, y)`, for
    /// `-BORDER <= x < width + BORDER` (and likewise y).
    #[inline]
    #[must_use]
    pub fn index(&self, x: isize, y: isize) -> usize {
        ((y + BORDER as isize) as usize) * self.stride + (x + BORDER as isize) as usize
    }

    /// Row `y` of the image, without the border.
    #[must_use]
    pub fn row(&self, y: usize) -> &[u8] {
        let start = (y + BORDER) * self.stride + BORDER;
        &self.data[start..start + self.width]
    }

    /// The pixel at `(x, y)`, border included (`None` beyond the border).
    #[must_use]
    pub fn get(&self, x: isize, y: isize) -> Option<u8> {
        let b = BORDER as isize;
        let inside = x >= -b
            && y >= -b
            && x < (self.width + BORDER) as isize
            && y < (self.height + BORDER) as isize;
        inside.then(|| self.data[self.index(x, y)])
    }

    /// Bytes of the level's buffer.
    #[must_use]
    pub fn bytes(&self) -> usize {
        self.data.len()
    }

    /// Fills the border by replicating the edge pixels.
    fn replicate_border(&mut self) {
        let (w, h, s) = (self.width, self.height, self.stride);
        for y in BORDER..BORDER + h {
            let row = &mut self.data[y * s..(y + 1) * s];
            let (first, last) = (row[BORDER], row[BORDER + w - 1]);
            row[..BORDER].fill(first);
            row[BORDER + w..].fill(last);
        }
        let (top, rest) = self.data.split_at_mut(BORDER * s);
        let first_row = &rest[..s];
        for r in top.chunks_exact_mut(s) {
            r.copy_from_slice(first_row);
        }
        let last_start = (BORDER + h - 1) * s;
        let (body, bottom) = self.data.split_at_mut((BORDER + h) * s);
        let last_row = &body[last_start..last_start + s];
        for r in bottom.chunks_exact_mut(s) {
            r.copy_from_slice(last_row);
        }
    }
}

/// A Gaussian pyramid whose buffers are reused frame to frame.
#[derive(Debug, Clone, Default)]
pub struct ImagePyramid {
    levels: Vec<PyramidLevel>,
    /// One row of vertical sums, reused.
    column_sums: Vec<u16>,
}

impl ImagePyramid {
    /// An empty pyramid; buffers are sized by the first [`Self::build`].
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of levels built.
    #[must_use]
    pub fn len(&self) -> usize {
        self.levels.len()
    }

    /// Whether nothing was built yet.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.levels.is_empty()
    }

    /// Level `l` (0 is full resolution).
    #[must_use]
    pub fn level(&self, l: usize) -> Option<&PyramidLevel> {
        self.levels.get(l)
    }

    /// The levels, finest first.
    #[must_use]
    pub fn levels(&self) -> &[PyramidLevel] {
        &self.levels
    }

    /// Bytes of all levels' buffers and scratch.
    #[must_use]
    pub fn bytes(&self) -> usize {
        self.levels.iter().map(PyramidLevel::bytes).sum::<usize>() + 2 * self.column_sums.len()
    }

    /// Builds `levels` levels from `image` (fewer if a level would be smaller
    /// than 8 pixels across) and returns the work done.
    pub fn build(&mut self, image: &GrayImage, levels: usize) -> KernelCost {
        let mut cost = KernelCost::default();
        let levels = levels.max(1);
        self.levels.resize_with(levels, PyramidLevel::default);
        let (w, h) = (image.width(), image.height());
        self.levels[0].resize(w, h);
        {
            let l0 = &mut self.levels[0];
            let s = l0.stride;
            for y in 0..h {
                let start = (y + BORDER) * s + BORDER;
                l0.data[start..start + w].copy_from_slice(image.row(y));
            }
            l0.replicate_border();
        }
        let mut built = 1;
        cost.calls += 1;
        cost.read(Residence::Main, (w * h) as u64);
        cost.write(Residence::Main, self.levels[0].bytes() as u64);
        for l in 1..levels {
            let (pw, ph) = (self.levels[l - 1].width, self.levels[l - 1].height);
            let (nw, nh) = (pw.div_ceil(2), ph.div_ceil(2));
            if nw < 8 || nh < 8 {
                break;
            }
            let (done, rest) = self.levels.split_at_mut(l);
            let src = &done[l - 1];
            let dst = &mut rest[0];
            dst.resize(nw, nh);
            pyr_down(src, dst, &mut self.column_sums);
            dst.replicate_border();
            built += 1;
            cost += pyr_down_cost(nw, nh, dst.bytes(), src.bytes());
        }
        self.levels.truncate(built);
        cost
    }
}

/// Blurs `src` with `[1 4 6 4 1]^2 / 256` and keeps every other pixel into the
/// interior of `dst` (already sized). Reads `src`'s border for the edge pixels.
///
/// Both passes run over contiguous columns (so they vectorize); the horizontal
/// one filters every column and the decimation keeps the even ones.
fn pyr_down(src: &PyramidLevel, dst: &mut PyramidLevel, scratch: &mut Vec<u16>) {
    // Source columns -2 ..= 2 * dst.width + 1.
    let span = 2 * dst.width + 4;
    scratch.resize(2 * span, 0);
    let (column_sums, filtered) = scratch.split_at_mut(span);
    let s = src.stride;
    for y in 0..dst.height {
        let sy = 2 * y as isize;
        let start = src.index(-2, sy - 2);
        let row = |k: usize| &src.data[start + k * s..start + k * s + span];
        vertical_taps([row(0), row(1), row(2), row(3), row(4)], column_sums);
        horizontal_taps(column_sums, &mut filtered[..span - 4]);
        let out_start = (y + BORDER) * dst.stride + BORDER;
        let out = &mut dst.data[out_start..out_start + dst.width];
        for (o, f) in out.iter_mut().zip(filtered.iter().step_by(2)) {
            // At most 65280 + 128: the shift leaves at most 255.
            *o = (f.wrapping_add(128) >> 8) as u8;
        }
    }
}

/// Column sums `r0 + 4 r1 + 6 r2 + 4 r3 + r4` (at most 4080).
#[inline]
fn vertical_taps(rows: [&[u8]; 5], sums: &mut [u16]) {
    let n = sums.len();
    let [r0, r1, r2, r3, r4] = rows.map(|r| &r[..n]);
    for i in 0..n {
        let outer = u16::from(r0[i]) + u16::from(r4[i]);
        let inner = u16::from(r1[i]) + u16::from(r3[i]);
        sums[i] = outer + 4 * inner + 6 * u16::from(r2[i]);
    }
}

/// `out[i] = s[i] + 4 s[i+1] + 6 s[i+2] + 4 s[i+3] + s[i+4]` (at most 65280).
#[inline]
fn horizontal_taps(s: &[u16], out: &mut [u16]) {
    let n = out.len();
    let (s0, s1, s2, s3, s4) = (
        &s[..n],
        &s[1..n + 1],
        &s[2..n + 2],
        &s[3..n + 3],
        &s[4..n + 4],
    );
    for i in 0..n {
        out[i] = s0[i] + s4[i] + 4 * (s1[i] + s3[i]) + 6 * s2[i];
    }
}

/// The work of one [`pyr_down`] to a `w x h` level whose padded buffer is
/// `padded_bytes`, from its loop bounds: per output row, the vertical pass sums
/// 5 taps over `2w + 4` source columns and the horizontal pass 5 taps over `2w`
/// of those sums (4 adds and 2 constant multiplies each, 16-bit), then `w`
/// rounded shifts.
fn pyr_down_cost(w: usize, h: usize, padded_bytes: usize, source_bytes: usize) -> KernelCost {
    let (w, h) = (w as u64, h as u64);
    let vertical = (2 * w + 4) * h;
    let horizontal = 2 * w * h;
    let out = w * h;
    let mut k = KernelCost {
        calls: 1,
        ops: OpCounts {
            int16_add: 4 * (vertical + horizontal) + 2 * out,
            int16_mul: 2 * (vertical + horizontal),
            ..OpCounts::default()
        },
        ..KernelCost::default()
    };
    // Output row y reads source rows 2y-2 ..= 2y+2: each source row serves 2.5
    // output rows, so the distinct bytes (about 2 per vertical tap column) are
    // fetched once and the other 3 reads per column come from the band of 5
    // rows that stays in cache (buffer). The source level was written just
    // before: it is still on chip when it fits a buffer (every level here; the
    // full-resolution level of a 752 x 480 image is 401 kB), from main memory
    // beyond. Sums live in two row-sized scratch arrays.
    k.read(Residence::of_working_set(source_bytes as u64), 2 * vertical);
    k.read(Residence::Buffer, 3 * vertical);
    k.write(Residence::Local, 2 * (vertical + horizontal));
    k.read(Residence::Local, 2 * (5 * horizontal + out));
    k.write(Residence::Main, padded_bytes as u64);
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image_from(w: usize, h: usize, f: impl Fn(usize, usize) -> u8) -> GrayImage {
        let mut img = GrayImage::new(w, h);
        for y in 0..h {
            for x in 0..w {
                img.data_mut()[y * w + x] = f(x, y);
            }
        }
        img
    }

    /// The reference: direct 2D convolution with clamped coordinates.
    fn reference_down(src: &[u8], w: usize, h: usize) -> Vec<u8> {
        let k = [1u32, 4, 6, 4, 1];
        let (nw, nh) = (w.div_ceil(2), h.div_ceil(2));
        let mut out = vec![0u8; nw * nh];
        for y in 0..nh {
            for x in 0..nw {
                let mut s = 0u32;
                for (j, kj) in k.iter().enumerate() {
                    for (i, ki) in k.iter().enumerate() {
                        let sx = (2 * x as isize + i as isize - 2).clamp(0, w as isize - 1);
                        let sy = (2 * y as isize + j as isize - 2).clamp(0, h as isize - 1);
                        s += ki * kj * u32::from(src[sy as usize * w + sx as usize]);
                    }
                }
                out[y * nw + x] = ((s + 128) >> 8) as u8;
            }
        }
        out
    }

    #[test]
    fn levels_match_direct_convolution_with_replicated_borders() {
        let img = image_from(101, 67, |x, y| ((x * 37 + y * 91 + x * y * 7) % 251) as u8);
        let mut pyr = ImagePyramid::new();
        pyr.build(&img, 4);
        assert_eq!(pyr.len(), 4);
        let mut expected = img.data().to_vec();
        let (mut w, mut h) = (101, 67);
        for l in 1..4 {
            expected = reference_down(&expected, w, h);
            (w, h) = (w.div_ceil(2), h.div_ceil(2));
            let Some(level) = pyr.level(l) else {
                panic!("level {l} missing")
            };
            assert_eq!((level.width(), level.height()), (w, h));
            for y in 0..h {
                assert_eq!(
                    level.row(y),
                    &expected[y * w..(y + 1) * w],
                    "level {l} row {y}"
                );
            }
        }
    }

    #[test]
    fn border_replicates_edges_and_constant_images_stay_constant() {
        let img = image_from(40, 30, |_, _| 77);
        let mut pyr = ImagePyramid::new();
        pyr.build(&img, 3);
        for level in pyr.levels() {
            assert!(level.padded_data().iter().all(|&v| v == 77));
        }
        let img = image_from(40, 30, |x, y| (x + 3 * y) as u8);
        pyr.build(&img, 1);
        let Some(l0) = pyr.level(0) else { panic!() };
        let b = BORDER as isize;
        assert_eq!(l0.get(-b, -b), Some(0));
        assert_eq!(l0.get(39 + b, 5), Some(39 + 15));
        assert_eq!(l0.get(-3, 29 + b), Some(87));
        assert_eq!(l0.get(-b - 1, 0), None);
    }

    #[test]
    fn rebuild_reuses_buffers_and_stops_at_small_levels() {
        let img = image_from(64, 40, |x, y| (x ^ y) as u8);
        let mut pyr = ImagePyramid::new();
        let cost = pyr.build(&img, 8);
        // 64x40 -> 32x20 -> 16x10 -> 8x5 (too small): three levels.
        assert_eq!(pyr.len(), 3);
        assert!(cost.main.read >= 64 * 40);
        let ptr = pyr.level(0).map(|l| l.padded_data().as_ptr());
        pyr.build(&img, 3);
        assert_eq!(pyr.level(0).map(|l| l.padded_data().as_ptr()), ptr);
    }
}
