//! Dense matching of a rectified pair, one row at a time: census costs,
//! their aggregation (block sums, or semi-global paths in one raster pass),
//! and winner-take-all with the uniqueness, range and left-right checks and a
//! sub-pixel fit.
//!
//! Fixed point throughout: census strings are `u32`, matching costs `u8`
//! (Hamming distances) or `u16` (their block sums), semi-global path costs
//! `u8` (bounded by the cost plus `P2`), their sum `u16`, disparities `u16` in
//! 1/16 px. Every buffer holds one row of the cost volume (`width x
//! disparities`, disparity innermost, so every inner loop runs over
//! contiguous disparities and vectorizes) or a few of them: the cost volume
//! is never stored whole.

use cost::{KernelCost, OpCounts, Residence};

use super::{DisparityImage, MatcherKind, StereoConfig, SubpixelFit};

/// Radius of the census window (5x5: 24 comparisons).
pub const CENSUS_RADIUS: usize = 2;
/// Bits of a census string, the largest Hamming distance.
pub const CENSUS_BITS: u8 = 24;
/// Sub-pixel steps of the disparity image (disparities are in 1/16 px).
pub const SUBPIXEL_STEPS: u16 = 16;
/// The semi-global path costs are kept below this (the per-pixel matching
/// cost is scaled down to at most this minus `P2`).
const PATH_COST_LIMIT: u16 = 255;
/// Padding value around a path's disparities (never the minimum).
const PAD: u8 = u8::MAX;

/// The scratch of the row-by-row matcher, sized once for one image size and
/// configuration.
#[derive(Debug, Clone)]
pub struct Matcher {
    width: usize,
    height: usize,
    disparities: usize,
    radius: usize,
    census: [Vec<u32>; 2],
    /// Hamming rows of the last `2 radius + 1` census rows, `width x disparities` each.
    ring: Vec<u8>,
    /// Their vertical sum.
    vertical: Vec<u16>,
    /// The block sums of the current row.
    block: Vec<u16>,
    /// Semi-global: matching costs scaled to `u8`.
    cost8: Vec<u8>,
    /// Semi-global: path costs of the previous and current rows for the top,
    /// top-left and top-right paths, `width x (disparities + 2)` each (padded).
    rows: [Vec<u8>; 6],
    /// Their minima per pixel.
    row_min: [Vec<u8>; 6],
    /// Semi-global: the horizontal path's previous and current pixel.
    horizontal: [Vec<u8>; 2],
    /// Semi-global: the sum of the paths for the current row.
    total: Vec<u16>,
    /// Per column of the current row: best cost and disparity seen from the
    /// right image.
    right_best: Vec<u16>,
    right_arg: Vec<u16>,
    /// Per column of the current row: the left image's best disparity, or
    /// `u16::MAX` when it failed a check.
    left_arg: Vec<u16>,
    /// Per column: the sub-pixel disparity in 1/16 px.
    left_sub: Vec<u16>,
    /// `0, 1, .., disparities - 1`.
    ramp: Vec<u16>,
    /// One right census row, mirrored.
    mirrored: Vec<u32>,
    /// Cost scaling for the semi-global paths (right shift).
    cost_shift: u32,
    /// The semi-global `P2` by the absolute intensity step along the path.
    p2_table: [u8; 256],
}

impl Matcher {
    /// Scratch for `width x height` rectified images.
    pub fn new(width: usize, height: usize, cfg: &StereoConfig) -> Self {
        let d = cfg.disparities;
        let r = cfg.block_radius;
        let padded = vec![PAD; width * (d + 2)];
        // Largest block sum, scaled to leave room for P2 in the path costs.
        let max_block = u32::from(CENSUS_BITS) * ((2 * r + 1) * (2 * r + 1)) as u32;
        let room = u32::from(PATH_COST_LIMIT) - u32::from(cfg.sgm_p2);
        let mut cost_shift = 0;
        while (max_block >> cost_shift) > room {
            cost_shift += 1;
        }
        Self {
            width,
            height,
            disparities: d,
            radius: r,
            census: [vec![0; width * height], vec![0; width * height]],
            ring: vec![0; (2 * r + 1) * width * d],
            vertical: vec![0; width * d],
            block: vec![0; width * d],
            cost8: vec![0; width * d],
            rows: std::array::from_fn(|_| padded.clone()),
            row_min: std::array::from_fn(|_| vec![0; width]),
            horizontal: [vec![PAD; d + 2], vec![PAD; d + 2]],
            total: vec![0; width * d],
            right_best: vec![0; width],
            right_arg: vec![0; width],
            left_arg: vec![0; width],
            left_sub: vec![0; width],
            ramp: (0..d as u16).collect(),
            mirrored: vec![0; width],
            cost_shift,
            p2_table: std::array::from_fn(|step| {
                // P2 * G / (G + |dI|), at least P1 + 1 (G = 0: constant).
                let g = u32::from(cfg.sgm_p2_edge_grey);
                let p2 = u32::from(cfg.sgm_p2);
                let scaled = if g == 0 {
                    p2
                } else {
                    (p2 * g + (g + step as u32) / 2) / (g + step as u32)
                };
                scaled.max(u32::from(cfg.sgm_p1) + 1) as u8
            }),
        }
    }

    /// Columns `[x0, x1)` and rows `[y0, y1)` where disparities are computed:
    /// the census and block windows lie inside the image.
    pub fn window(&self) -> (usize, usize, usize, usize) {
        let m = CENSUS_RADIUS + self.radius;
        (m, self.width - m, m, self.height - m)
    }

    /// Bytes of the scratch.
    pub fn bytes(&self) -> usize {
        4 * (self.census[0].len() + self.census[1].len())
            + self.ring.len()
            + 2 * (self.vertical.len() + self.block.len() + self.total.len())
            + self.cost8.len()
            + self.rows.iter().map(Vec::len).sum::<usize>()
            + self.row_min.iter().map(Vec::len).sum::<usize>()
            + 2 * self.horizontal[0].len()
            + 8 * self.width
    }

    /// Matches `left` against `right` (rectified, `width x height`, row-major)
    /// into `out`; pixels where `valid_left` or, at the match, `valid_right`
    /// is 0 get no disparity. Adds the counted work to `costs` (census, cost,
    /// aggregation, matching).
    pub fn run(
        &mut self,
        cfg: &StereoConfig,
        left: &[u8],
        right: &[u8],
        valid_left: &[u8],
        valid_right: &[u8],
        out: &mut DisparityImage,
    ) -> [KernelCost; 4] {
        let (w, h, d, r) = (self.width, self.height, self.disparities, self.radius);
        census(left, w, h, &mut self.census[0]);
        census(right, w, h, &mut self.census[1]);
        out.data.fill(DisparityImage::INVALID);
        self.ring.fill(0);
        self.vertical.fill(0);
        let (x0, x1, y0, y1) = self.window();
        let slots = 2 * r + 1;
        let slot_len = w * d;
        let [census_left, census_right] = &self.census;
        for yy in (y0 - r)..(y1 + r) {
            let slot = yy % slots;
            for (m, &c) in self
                .mirrored
                .iter_mut()
                .zip(census_right[yy * w..(yy + 1) * w].iter().rev())
            {
                *m = c;
            }
            hamming_row(
                &census_left[yy * w..(yy + 1) * w],
                &self.mirrored,
                d,
                &mut self.ring[slot * slot_len..(slot + 1) * slot_len],
                &mut self.vertical,
            );
            if yy < y0 + r {
                continue;
            }
            let y = yy - r;
            block_row(&self.vertical, d, r, x0, x1, &mut self.block);
            let costs: &[u16] = match cfg.matcher {
                MatcherKind::Block => &self.block,
                MatcherKind::SemiGlobal => {
                    for (c, &b) in self.cost8[x0 * d..x1 * d]
                        .iter_mut()
                        .zip(&self.block[x0 * d..x1 * d])
                    {
                        *c = (b >> self.cost_shift) as u8;
                    }
                    let [top0, top1, tl0, tl1, tr0, tr1] = &mut self.rows;
                    let [mtop0, mtop1, mtl0, mtl1, mtr0, mtr1] = &mut self.row_min;
                    let [h0, h1] = &mut self.horizontal;
                    let mut paths = SgmRow {
                        d,
                        p1: cfg.sgm_p1,
                        p2: &self.p2_table,
                        image: &left[y * w..(y + 1) * w],
                        image_above: &left[y.saturating_sub(1) * w..(y.saturating_sub(1) + 1) * w],
                        diagonals: cfg.sgm_diagonal_paths,
                        cost: &self.cost8,
                        total: &mut self.total,
                        top: (top0, mtop0, top1, mtop1),
                        top_left: (tl0, mtl0, tl1, mtl1),
                        top_right: (tr0, mtr0, tr1, mtr1),
                        horizontal: (h0, h1),
                    };
                    paths.run(x0, x1, y == y0);
                    std::mem::swap(top0, top1);
                    std::mem::swap(mtop0, mtop1);
                    std::mem::swap(tl0, tl1);
                    std::mem::swap(mtl0, mtl1);
                    std::mem::swap(tr0, tr1);
                    std::mem::swap(mtr0, mtr1);
                    &self.total
                }
            };
            let row_out = &mut out.data[y * w..(y + 1) * w];
            select_row(
                cfg,
                costs,
                d,
                x0,
                x1,
                &valid_left[y * w..(y + 1) * w],
                &valid_right[y * w..(y + 1) * w],
                &mut self.right_best,
                &mut self.right_arg,
                &mut self.left_arg,
                &mut self.left_sub,
                &self.ramp,
                row_out,
            );
        }
        self.counted_work(cfg)
    }

    /// The work of one [`Self::run`] from its loop bounds: census, cost,
    /// aggregation and matching.
    fn counted_work(&self, cfg: &StereoConfig) -> [KernelCost; 4] {
        let (w, h) = (self.width as u64, self.height as u64);
        let d = self.disparities as u64;
        let r = self.radius as u64;
        let c = CENSUS_RADIUS as u64;
        let census_px = 2 * (w - 2 * c) * (h - 2 * c);
        let mut census = KernelCost {
            calls: 2,
            ops: OpCounts {
                // Per bit: compare, shift, or.
                int8_add: census_px * u64::from(CENSUS_BITS),
                int32_add: 2 * census_px * u64::from(CENSUS_BITS),
                ..OpCounts::default()
            },
            ..KernelCost::default()
        };
        census.read(Residence::Main, 2 * w * h);
        census.read(Residence::Buffer, census_px * u64::from(CENSUS_BITS));
        census.write(Residence::Main, 4 * census_px);

        let (x0, x1, y0, y1) = self.window();
        let (cols, rows) = ((x1 - x0) as u64, (y1 - y0) as u64);
        let hamming_rows = rows + 2 * r;
        let hamming_voxels = hamming_rows * (w - 2 * c) * d;
        let voxels = rows * cols * d;
        let mut cost = KernelCost {
            calls: 1,
            ops: OpCounts {
                // xor and popcount per voxel (popcount as one op).
                int32_add: 2 * hamming_voxels,
                // Vertical update (add new, subtract old), horizontal
                // running sum (the same).
                int16_add: 2 * hamming_voxels + 2 * voxels,
                ..OpCounts::default()
            },
            ..KernelCost::default()
        };
        // Census rows come from main memory once per row (the right row is
        // then read `d` times from cache); the Hamming ring, the vertical and
        // block sums are row buffers.
        cost.read(Residence::Main, 8 * hamming_rows * (w - 2 * c));
        cost.read(Residence::Buffer, 4 * hamming_voxels);
        cost.read(
            Residence::Buffer,
            hamming_voxels + 2 * hamming_voxels + 2 * 2 * voxels,
        );
        cost.write(
            Residence::Buffer,
            hamming_voxels + 2 * hamming_voxels + 2 * voxels,
        );

        let mut aggregate = KernelCost::default();
        if cfg.matcher == MatcherKind::SemiGlobal {
            let paths = if cfg.sgm_diagonal_paths { 5 } else { 3 };
            aggregate.calls = 1;
            aggregate.ops = OpCounts {
                // Per path and voxel: 2 saturating adds of P1, 4 minima,
                // subtract the previous minimum, add the cost, the running
                // minimum.
                int8_add: paths * 9 * voxels,
                // Scaling the cost, adding the path into the sum.
                int16_add: voxels + paths * voxels,
                ..OpCounts::default()
            };
            // Per path and voxel: 3 previous values, the cost, the sum read and
            // written, the new value written; the rows of path costs are
            // row buffers, the running pixel is local.
            aggregate.read(Residence::Buffer, paths * voxels * (3 + 1 + 2) + 2 * voxels);
            aggregate.write(Residence::Buffer, paths * voxels * (1 + 2) + voxels);
        }

        let px = rows * cols;
        let mut select = KernelCost {
            calls: 1,
            ops: OpCounts {
                // Per voxel: minimum, its position (half the row on average),
                // second minimum, and the right image's compare and two
                // selects.
                int16_add: voxels * 6,
                // Per pixel: checks and the sub-pixel fit.
                int32_add: 12 * px,
                int32_mul: 3 * px,
                ..OpCounts::default()
            },
            ..KernelCost::default()
        };
        select.read(Residence::Buffer, 2 * voxels * 4 + 2 * px);
        select.write(Residence::Buffer, 4 * px);
        select.write(Residence::Main, 2 * w * h);
        [census, cost, aggregate, select]
    }
}

/// The 5x5 census transform (Zabih and Woodfill 1994): bit `k` is set when
/// the `k`-th neighbour (row-major, centre skipped) is darker than the centre.
/// Pixels within [`CENSUS_RADIUS`] of the border are left untouched.
fn census(img: &[u8], w: usize, h: usize, out: &mut [u32]) {
    const R: usize = CENSUS_RADIUS;
    let n = w - 2 * R;
    for y in R..h - R {
        let dst = &mut out[y * w + R..y * w + R + n];
        let centre = &img[y * w + R..y * w + R + n];
        dst.fill(0);
        let mut bit = 0;
        for ny in y - R..=y + R {
            for nx in 0..=2 * R {
                if ny == y && nx == R {
                    continue;
                }
                let neighbour = &img[ny * w + nx..ny * w + nx + n];
                for ((o, &c), &v) in dst.iter_mut().zip(centre).zip(neighbour) {
                    *o |= u32::from(v < c) << bit;
                }
                bit += 1;
            }
        }
    }
}

/// Hamming distances of one census row pair into a ring slot, updating the
/// vertical sums by the difference with the row the slot held. Column `x`,
/// disparity `k` compares left `x` with right `x - k`, which is
/// `mirrored[w - 1 - x + k]` in the mirrored right row (so the loop over `k`
/// runs forwards); where `x - k` has no census the cost is [`CENSUS_BITS`].
fn hamming_row(left: &[u32], mirrored: &[u32], d: usize, slot: &mut [u8], vertical: &mut [u16]) {
    const R: usize = CENSUS_RADIUS;
    let w = left.len();
    for x in R..w - R {
        let k_max = (x - R).min(d - 1);
        let cl = left[x];
        let m = w - 1 - x;
        let candidates = &mirrored[m..=m + k_max];
        let (slot_in, slot_out) = slot[x * d..(x + 1) * d].split_at_mut(k_max + 1);
        let (vert_in, vert_out) = vertical[x * d..(x + 1) * d].split_at_mut(k_max + 1);
        for ((s, v), &cr) in slot_in.iter_mut().zip(vert_in.iter_mut()).zip(candidates) {
            let new = (cl ^ cr).count_ones() as u16;
            *v = *v + new - u16::from(*s);
            *s = new as u8;
        }
        for (s, v) in slot_out.iter_mut().zip(vert_out.iter_mut()) {
            *v = *v + u16::from(CENSUS_BITS) - u16::from(*s);
            *s = CENSUS_BITS;
        }
    }
}

/// Horizontal box sums of radius `r` of the vertical sums, for columns
/// `[x0, x1)`.
fn block_row(vertical: &[u16], d: usize, r: usize, x0: usize, x1: usize, block: &mut [u16]) {
    {
        let first = &mut block[x0 * d..(x0 + 1) * d];
        first.fill(0);
        for x in x0 - r..=x0 + r {
            for (b, &v) in first.iter_mut().zip(&vertical[x * d..(x + 1) * d]) {
                *b += v;
            }
        }
    }
    for x in x0 + 1..x1 {
        let (done, rest) = block.split_at_mut(x * d);
        let prev = &done[(x - 1) * d..];
        let cur = &mut rest[..d];
        let add = &vertical[(x + r) * d..(x + r + 1) * d];
        let sub = &vertical[(x - 1 - r) * d..(x - r) * d];
        for (((c, &p), &a), &s) in cur.iter_mut().zip(prev).zip(add).zip(sub) {
            *c = p + a - s;
        }
    }
}

/// One cell of a path arriving from the previous row: at column `x`, from
/// column `q` of the previous row with large penalty `p2` (`from`), or
/// starting here (`None`: the first row, or the image's side).
#[inline(always)]
fn path_from_row(
    rows: &mut PathRows<'_>,
    x: usize,
    from: Option<(usize, u8)>,
    d: usize,
    cost: &[u8],
    p1: u8,
    total: &mut [u16],
) {
    let p = d + 2;
    let (prev, prev_min, cur, cur_min) = rows;
    let out = &mut cur[x * p..(x + 1) * p];
    cur_min[x] = match from {
        None => path_start::<false>(cost, out, total),
        Some((q, p2)) => path_step::<false>(
            &prev[q * p..(q + 1) * p],
            prev_min[q],
            cost,
            p1,
            p2,
            out,
            total,
        ),
    };
}

/// Buffers of one path direction over the rows: previous row's costs and
/// minima, current row's costs and minima.
type PathRows<'a> = (
    &'a mut Vec<u8>,
    &'a mut Vec<u8>,
    &'a mut Vec<u8>,
    &'a mut Vec<u8>,
);

/// One row of the semi-global aggregation (Hirschmüller 2008) along
/// the paths a single raster pass can follow: from the left, from above, the
/// two upper diagonals (optional), then from the right within the row.
struct SgmRow<'a> {
    d: usize,
    p1: u8,
    /// `P2` by the absolute intensity step along the path.
    p2: &'a [u8; 256],
    /// The left image's current and previous rows.
    image: &'a [u8],
    image_above: &'a [u8],
    diagonals: bool,
    cost: &'a [u8],
    total: &'a mut [u16],
    top: PathRows<'a>,
    top_left: PathRows<'a>,
    top_right: PathRows<'a>,
    horizontal: (&'a mut Vec<u8>, &'a mut Vec<u8>),
}

impl SgmRow<'_> {
    fn run(&mut self, x0: usize, x1: usize, first_row: bool) {
        let d = self.d;
        let p1 = self.p1;
        let (image, above, table) = (self.image, self.image_above, self.p2);
        let p2 = |a: u8, b: u8| table[usize::from(a.abs_diff(b))];
        let mut h_min = 0;
        for x in x0..x1 {
            let i = image[x];
            let cost = &self.cost[x * d..(x + 1) * d];
            let total = &mut self.total[x * d..(x + 1) * d];
            // From the left: assigns the sum.
            let (h_prev, h_cur) = (&mut *self.horizontal.0, &mut *self.horizontal.1);
            h_min = if x == x0 {
                path_start::<true>(cost, h_cur, total)
            } else {
                path_step::<true>(h_prev, h_min, cost, p1, p2(i, image[x - 1]), h_cur, total)
            };
            std::mem::swap(h_prev, h_cur);
            // From above, then the two upper diagonals (optional).
            let from = |q: usize| (q, p2(i, above[q]));
            path_from_row(
                &mut self.top,
                x,
                (!first_row).then(|| from(x)),
                d,
                cost,
                p1,
                total,
            );
            if !self.diagonals {
                continue;
            }
            let left = (!first_row && x > x0).then(|| from(x - 1));
            path_from_row(&mut self.top_left, x, left, d, cost, p1, total);
            let right = (!first_row && x + 1 < x1).then(|| from(x + 1));
            path_from_row(&mut self.top_right, x, right, d, cost, p1, total);
        }
        // From the right, within the row.
        for x in (x0..x1).rev() {
            let cost = &self.cost[x * d..(x + 1) * d];
            let total = &mut self.total[x * d..(x + 1) * d];
            let (h_prev, h_cur) = (&mut *self.horizontal.0, &mut *self.horizontal.1);
            h_min = if x + 1 == x1 {
                path_start::<false>(cost, h_cur, total)
            } else {
                let step = p2(image[x], image[x + 1]);
                path_step::<false>(h_prev, h_min, cost, p1, step, h_cur, total)
            };
            std::mem::swap(h_prev, h_cur);
        }
    }
}

/// The first pixel of a path: its costs are the matching costs. Writes
/// `out[1..=d]`, adds (or with `ASSIGN`, stores) them into `total`, and
/// returns their minimum.
#[inline(always)]
fn path_start<const ASSIGN: bool>(cost: &[u8], out: &mut [u8], total: &mut [u16]) -> u8 {
    let d = cost.len();
    let out = &mut out[1..=d];
    let total = &mut total[..d];
    let mut m = u8::MAX;
    for ((o, t), &c) in out.iter_mut().zip(total.iter_mut()).zip(cost) {
        *o = c;
        *t = if ASSIGN {
            u16::from(c)
        } else {
            *t + u16::from(c)
        };
        m = m.min(c);
    }
    m
}

/// One step along a path: `L(p, k) = C(p, k) + min(L(p-r, k), L(p-r, k±1) +
/// P1, min_j L(p-r, j) + P2) - min_j L(p-r, j)`. `prev` and `out` are padded
/// with [`PAD`] at both ends. Writes `out[1..=d]`, adds (or stores) into
/// `total`, returns the new minimum.
#[inline(always)]
fn path_step<const ASSIGN: bool>(
    prev: &[u8],
    prev_min: u8,
    cost: &[u8],
    p1: u8,
    p2: u8,
    out: &mut [u8],
    total: &mut [u16],
) -> u8 {
    let d = cost.len();
    let (lower, same, upper) = (&prev[..d], &prev[1..=d], &prev[2..d + 2]);
    let out = &mut out[1..=d];
    let total = &mut total[..d];
    let jump = prev_min.saturating_add(p2);
    let mut m = u8::MAX;
    for i in 0..d {
        let best = same[i]
            .min(lower[i].saturating_add(p1))
            .min(upper[i].saturating_add(p1))
            .min(jump);
        // best >= prev_min, and cost + (best - prev_min) <= cost + P2 <= 255.
        let v = cost[i].wrapping_add(best.wrapping_sub(prev_min));
        out[i] = v;
        total[i] = if ASSIGN {
            u16::from(v)
        } else {
            total[i] + u16::from(v)
        };
        m = m.min(v);
    }
    m
}

/// Winner-take-all for one row with the checks, into `out` (1/16 px).
#[allow(clippy::too_many_arguments)]
fn select_row(
    cfg: &StereoConfig,
    costs: &[u16],
    d: usize,
    x0: usize,
    x1: usize,
    valid_left: &[u8],
    valid_right: &[u8],
    right_best: &mut [u16],
    right_arg: &mut [u16],
    left_arg: &mut [u16],
    left_sub: &mut [u16],
    ramp: &[u16],
    out: &mut [u16],
) {
    // The right image's columns are stored mirrored (`w - 1 - xr`), so that
    // the diagonal `xr = x - k` runs forwards with `k` and vectorizes.
    let w = out.len();
    right_best.fill(u16::MAX);
    right_arg.fill(0);
    let keep = u32::from(100 - cfg.uniqueness_percent.min(100));
    for x in x0..x1 {
        let k_max = (x - x0).min(d - 1);
        let c = &costs[x * d..x * d + k_max + 1];
        let m = w - 1 - x;
        let n = k_max + 1;
        let (rb, ra) = (&mut right_best[m..m + n], &mut right_arg[m..m + n]);
        let ramp = &ramp[..n];
        // Branch-free (a mask, not a select), so that it vectorizes.
        for i in 0..n {
            let (v, b) = (c[i], rb[i]);
            let better = 0u16.wrapping_sub(u16::from(v < b));
            rb[i] = v.min(b);
            ra[i] = (ramp[i] & better) | (ra[i] & !better);
        }
        // The left image's best and the best away from its neighbours.
        let best = c.iter().copied().min().unwrap_or(u16::MAX);
        let k = c.iter().position(|&v| v == best).unwrap_or(0);
        let below = c[..k.saturating_sub(1)]
            .iter()
            .copied()
            .min()
            .unwrap_or(u16::MAX);
        let above = c
            .get(k + 2..)
            .map_or(u16::MAX, |s| s.iter().copied().min().unwrap_or(u16::MAX));
        let second = below.min(above);
        let unique = u32::from(best) * 100 < u32::from(second) * keep;
        // The minimum must be inside the searched range (not at its ends),
        // which also gives both neighbours for the fit.
        let inside = k >= 1 && k < k_max;
        if !(unique && inside && valid_left[x] != 0 && valid_right[x - k] != 0) {
            left_arg[x] = u16::MAX;
            continue;
        }
        left_arg[x] = k as u16;
        left_sub[x] = subpixel(cfg.subpixel, c[k - 1], c[k], c[k + 1], k);
    }
    let tolerance = u16::from(cfg.max_left_right_diff_px);
    for x in x0..x1 {
        let k = left_arg[x];
        if k == u16::MAX {
            continue;
        }
        let kr = right_arg[w - 1 - (x - usize::from(k))];
        if k.abs_diff(kr) <= tolerance {
            out[x] = left_sub[x];
        }
    }
}

/// The disparity in 1/16 px from the costs at `k - 1`, `k`, `k + 1`.
#[inline]
fn subpixel(fit: SubpixelFit, minus: u16, at: u16, plus: u16, k: usize) -> u16 {
    let (m, c, p) = (i32::from(minus), i32::from(at), i32::from(plus));
    let steps = i32::from(SUBPIXEL_STEPS);
    let offset = match fit {
        SubpixelFit::None => 0,
        SubpixelFit::Parabola => {
            let den = 2 * (m + p - 2 * c);
            if den > 0 {
                (steps * (m - p) + (m - p).signum() * den / 2) / den
            } else {
                0
            }
        }
        SubpixelFit::Equiangular => {
            let den = 2 * (m.max(p) - c);
            if den > 0 {
                (steps * (m - p) + (m - p).signum() * den / 2) / den
            } else {
                0
            }
        }
    };
    let offset = offset.clamp(-steps / 2, steps / 2);
    (k as i32 * steps + offset) as u16
}
