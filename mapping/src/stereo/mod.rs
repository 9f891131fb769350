//! Dense depth from a calibrated stereo pair, for the occupancy map.
//!
//! [`StereoDepth::compute`] takes a raw (distorted) left/right pair, rectifies
//! both at a reduced resolution ([`rectify`]), matches them densely
//! ([`matcher`]) and keeps a [`DisparityImage`] of the rectified left image;
//! [`StereoDepth::points_world`] turns its valid disparities into 3D points
//! for [`crate::ScanInserter::insert`]. Pixels without a disparity give no
//! point: nothing is invented, not even free space.
//!
//! # Frames and units
//! - Rectified left frame: origin at cam0's optical centre, x right (along the
//!   baseline), y down, z forward; a rotation `rect_from_cam0` away from cam0
//!   ([`StereoRectification::cam0_from_rect`]). Rectified pixel `(u, v)` with
//!   disparity `d` (rectified pixels) is the point `z = f B / d`,
//!   `x = (u - cx) z / f`, `y = (v - cy) z / f`, metres.
//! - cam0: EuRoC's left camera frame; world: the frame of the caller's
//!   `world_from_cam0`. Points are in metres; depth limits are on `z`.
//! - Integers and fixed point in the per-frame path: 8-bit images, 7-bit
//!   bilinear weights, `u32` census strings, `u8`/`u16` costs, disparities in
//!   1/16 px. Only the geometry (tables, once; points, per point) is `f64`.
//!
//! # Algorithm
//! 1. Rectification (Bouguet's split of the relative rotation, as OpenCV's
//!    `stereoRectify`), `s x s` box reduction (`downscale`, default 2: EuRoC's
//!    752x480 becomes 376x240, f = 228.07 px, the smaller of the two cameras'
//!    focal lengths) and a precomputed bilinear remap
//!    through the lens model ([`StereoRectification`]).
//! 2. Census transform over 5x5 (Zabih and Woodfill, ECCV 1994): robust to
//!    the gain and offset differences between the two cameras.
//! 3. Matching cost: the Hamming distance of the census strings, summed over
//!    a `(2 r + 1)^2` block (`block_radius`, default 2: 5x5).
//! 4. Aggregation, by default semi-global (Hirschmüller, TPAMI 2008)
//!    along the paths a single raster pass can follow: from the left, from
//!    above and from the right within the row (optionally the two upper
//!    diagonals). The cost volume is never stored: every buffer is one or a
//!    few rows of `width x disparities`, so the working set stays in cache
//!    (the matcher's scratch is 1.2 MB for EuRoC, 0.7 MB of it the census
//!    images; 2.9 MB in all with the remap tables and images) and the main
//!    memory traffic is little more than the images. The large penalty is lowered across
//!    intensity edges (`P2 G / (G + |dI|)`, after Hirschmüller's
//!    intensity-adaptive P2), so depth jumps follow object outlines.
//!    [`MatcherKind::Block`] skips this step (plain block matching).
//! 5. Winner-take-all with a uniqueness ratio, the minimum inside the searched
//!    range, a left-right consistency check (the right image's disparities
//!    from the same costs along the diagonal, as Hirschmüller 2008 does) and
//!    a parabola through the three costs around the minimum (1/16 px).
//! 6. Speckle removal (the `speckle` module): 4-connected regions of fewer
//!    than `speckle_max_px` pixels whose neighbours differ by at most
//!    `speckle_max_diff_px` are dropped, as Hirschmüller's peak filter and
//!    OpenCV's `filterSpeckles` do.
//!
//! Disparity range: 64 disparities at half resolution (`disparities`), so
//! the nearest depth is `f B / 62 = 0.41 m` for EuRoC (0.2 m at full
//! resolution would need 250 disparities, four times the work); at 4 m the
//! disparity is 6.3 px and a 0.15 px error is 2.4 % of depth. Half
//! resolution is the trade: a quarter of the pixels and half the
//! disparities of full resolution (an eighth of the cost volume), enough
//! for a map with 5 cm cells (at 4 m a rectified pixel spans 1.7 cm).
//!
//! # Measured (release, one core of the shared 2-core x86-64 VM)
//! `cargo test -p mapping --release --test stereo_depth -- --ignored
//! --nocapture` compares the variants; on synthetic pairs (EuRoC's rig and
//! lens, ray-cast ground truth, 3 frames each) and on the EuRoC snippet
//! (`V1_01_easy_micro`, where the motion-capture poses carry one frame's depth
//! onto another's, pairs 0->94, 20->70, 45->90):
//!
//! | | default: SGM, 3 paths | SGM, 5 paths | block 9x9 | block 11x11 |
//! |---|---|---|---|---|
//! | synthetic medium: valid / median depth error (<= 4 m) / > 10 % | 98.8 / 1.20 / 1.79 % | 98.7 / 1.73 / 2.23 % | 97.2 / 0.87 / 1.58 % | 97.5 / 0.83 / 1.49 % |
//! | synthetic hard (low contrast, noise) | 98.6 / 0.87 / 0.57 % | 98.6 / 0.83 / 0.60 % | 73.9 / 0.87 / 1.05 % | 81.1 / 0.76 / 0.65 % |
//! | EuRoC: valid / motion-consistency median / > 10 % | 85.0 / 0.59 / 0.28 % | 85.3 / 0.63 / 0.28 % | 78.5 / 0.71 / 0.46 % | 78.6 / 0.66 / 0.31 % |
//! | time per pair | 15 ms | 18 ms | 10 ms | 10 ms |
//!
//! Valid fractions are of the pixels whose match can lie in the right image
//! (synthetic) or of all rectified pixels (EuRoC). Semi-global aggregation is
//! the default because it keeps 98 % of the pixels where block matching
//! loses a fifth to a quarter of them on low contrast (the hard sequence,
//! EuRoC's plain walls) at equal or better accuracy on the real data; the
//! diagonal paths cost 3 ms and bought nothing measurable. Block matching is
//! the choice when 5 ms matter more than density. Most remaining outliers of
//! both lie on occlusion boundaries (the thin band the left-right check does
//! not remove) and at the left image border. On EuRoC, 142 corners matched by
//! an unconstrained 2D search land 0.09 px (mean; median |offset| 0.08 px)
//! from the same rectified row, which checks the calibration and the
//! rectification on real images, and their disparities differ from the
//! dense ones by 0.18 px (median).
//! Timings on this shared machine vary by 20-30 % between runs.
//!
//! Speckle removal (regions under 50 px, steps of at most 1 px) halves the
//! gross errors on the real images, 0.28 % to 0.12 % of the pixels over 10 %
//! off in motion consistency, for 0.7 % of the valid pixels (84.9 % to
//! 84.2 %), and changes nothing measurable on the synthetic pairs (their
//! outliers are occlusion bands attached to surfaces); 20 px removes a
//! little less (0.14 %), 200 px no more (0.10 %) and more valid pixels. In
//! the map it matters most: an island of wrong disparity is a spray of
//! false obstacles and of free space carved through walls, and a drone's
//! planner inflates every false obstacle by its radius. On the closed-loop
//! flight of world 0 (`scout explore --world-seed 0 --planner frontier
//! --sensor stereo --pose true`), the frontier baseline went from ending at
//! 86.5 % coverage with frontiers behind noise to covering 95.5 %, and the
//! occupied cells within 10 cm of a surface from 88.7 % to 95.8 %.
//!
//! Counted work per EuRoC-sized pair (default, [`StereoDepth::cost`]): 253 M
//! operations (two thirds of them the semi-global paths' 8-bit minima and
//! adds), 3.8 MB of main-memory traffic and about 300 MB moved within the
//! row buffers (`cargo test -p mapping --test stereo_depth -- --nocapture
//! work_is_counted` prints it per kernel).

pub mod matcher;
pub mod rectify;
mod speckle;

use cost::{CostLedger, KernelCost, OpCounts, Residence};
use datasets::{GrayImage, RigCalibration};
use nalgebra::{Isometry3, Vector3};
use serde::{Deserialize, Serialize};

use self::matcher::{Matcher, SUBPIXEL_STEPS};
pub use self::rectify::{StereoCamera, StereoRectification};
use crate::MappingError;

/// Default [`StereoConfig::speckle_max_px`]: at half EuRoC resolution
/// (376 x 240) about a 7 x 7 patch; see the module docs for the measurement.
pub const SPECKLE_MAX_PX: usize = 50;

/// Names of the stereo kernels in [`StereoDepth::cost`].
pub mod kernels {
    /// Box reduction and bilinear remap of both raw images.
    pub const RECTIFY: &str = "rectify";
    /// Census transform of both rectified images.
    pub const CENSUS: &str = "census";
    /// Hamming distances and their block sums, one row of the volume at a time.
    pub const COST: &str = "stereo_cost";
    /// Semi-global path costs (absent for block matching).
    pub const AGGREGATE: &str = "stereo_aggregate";
    /// Winner-take-all, uniqueness, left-right check and sub-pixel fit.
    pub const MATCH: &str = "stereo_match";
    /// Speckle removal: small islands of disparity dropped.
    pub const SPECKLE: &str = "stereo_speckle";
    /// Disparities to 3D points.
    pub const POINTS: &str = "stereo_points";
}

/// How matching costs are aggregated before winner-take-all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MatcherKind {
    /// Block matching: the sum of the census Hamming distances over the block.
    Block,
    /// Semi-global matching (Hirschmüller 2008) along the paths of one raster
    /// pass, on the block sums.
    SemiGlobal,
}

/// How the disparity between integer steps is estimated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SubpixelFit {
    /// Integer disparities.
    None,
    /// A parabola through the three costs around the minimum.
    Parabola,
    /// Two lines of opposite slope (Shimizu and Okutomi 2001), suited to
    /// absolute-difference-like costs.
    Equiangular,
}

/// Parameters of [`StereoDepth`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StereoConfig {
    /// Raw pixels per rectified pixel along each axis (1 to 4).
    pub downscale: usize,
    /// Disparities searched, `0..disparities`, in rectified pixels (8 to 256).
    pub disparities: usize,
    /// Cost aggregation.
    pub matcher: MatcherKind,
    /// Radius of the block the census costs are summed over, rectified pixels
    /// (0 to 7; the block is `2 r + 1` square).
    pub block_radius: usize,
    /// Semi-global penalty for a disparity change of one step, in units of the
    /// (scaled) matching cost.
    pub sgm_p1: u8,
    /// Semi-global penalty for a larger disparity change, between pixels of
    /// equal intensity.
    pub sgm_p2: u8,
    /// Semi-global: across an intensity step `dI` (grey levels) the large
    /// penalty is `sgm_p2 * G / (G + dI)` with this `G`, at least `sgm_p1 + 1`,
    /// so that disparity jumps follow image edges (0: constant `sgm_p2`).
    pub sgm_p2_edge_grey: u8,
    /// Semi-global: also the two upper diagonal paths (5 paths instead of 3).
    pub sgm_diagonal_paths: bool,
    /// The best cost must be below `100 - uniqueness_percent` percent of the
    /// best cost at least two disparities away, percent.
    pub uniqueness_percent: u8,
    /// Largest difference between the left image's disparity and the right
    /// image's at the match, rectified pixels.
    pub max_left_right_diff_px: u8,
    /// The sub-pixel estimator.
    pub subpixel: SubpixelFit,
    /// Regions of fewer pixels than this (4-connected, neighbours within
    /// `speckle_max_diff_px`) are dropped as wrong matches (0: kept); see
    /// the `speckle` module.
    pub speckle_max_px: usize,
    /// Largest disparity step between neighbours of one region, rectified
    /// pixels (0 to 16).
    pub speckle_max_diff_px: f64,
}

impl Default for StereoConfig {
    fn default() -> Self {
        Self {
            downscale: 2,
            disparities: 64,
            matcher: MatcherKind::SemiGlobal,
            block_radius: 2,
            sgm_p1: 30,
            sgm_p2: 150,
            sgm_p2_edge_grey: 8,
            sgm_diagonal_paths: false,
            uniqueness_percent: 5,
            max_left_right_diff_px: 1,
            subpixel: SubpixelFit::Parabola,
            speckle_max_px: SPECKLE_MAX_PX,
            speckle_max_diff_px: 1.0,
        }
    }
}

impl StereoConfig {
    /// Checks every field's range.
    ///
    /// # Errors
    /// Naming the first field out of range.
    pub fn validate(&self) -> Result<(), MappingError> {
        let fail = |m: String| Err(MappingError::Config(format!("stereo: {m}")));
        if !(1..=rectify::MAX_DOWNSCALE).contains(&self.downscale) {
            return fail(format!("downscale {} must be in 1..=4", self.downscale));
        }
        if !(8..=256).contains(&self.disparities) {
            return fail(format!(
                "disparities {} must be in 8..=256",
                self.disparities
            ));
        }
        if self.block_radius > 7 {
            return fail(format!(
                "block_radius {} must be at most 7",
                self.block_radius
            ));
        }
        if !(self.sgm_p1 >= 1 && self.sgm_p1 < self.sgm_p2 && self.sgm_p2 <= 200) {
            return fail(format!(
                "sgm_p1 {} and sgm_p2 {} must satisfy 1 <= p1 < p2 <= 200",
                self.sgm_p1, self.sgm_p2
            ));
        }
        if !(0.0..=16.0).contains(&self.speckle_max_diff_px) || self.speckle_max_px > 1 << 20 {
            return fail(format!(
                "speckle_max_diff_px {} must be in 0..=16 and speckle_max_px {} at most 2^20",
                self.speckle_max_diff_px, self.speckle_max_px
            ));
        }
        if self.uniqueness_percent >= 100 {
            return fail(format!(
                "uniqueness_percent {} must be below 100",
                self.uniqueness_percent
            ));
        }
        Ok(())
    }
}

/// Disparities of the rectified left image, in 1/16 rectified pixel, with
/// [`DisparityImage::INVALID`] where there is none.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DisparityImage {
    width: usize,
    height: usize,
    data: Vec<u16>,
}

impl DisparityImage {
    /// No disparity at this pixel.
    pub const INVALID: u16 = u16::MAX;
    /// Steps per pixel of the stored values.
    pub const SUBPIXEL_STEPS: u16 = SUBPIXEL_STEPS;

    /// An image with no disparities.
    #[must_use]
    pub fn new(width: usize, height: usize) -> Self {
        Self {
            width,
            height,
            data: vec![Self::INVALID; width * height],
        }
    }

    /// Width, px.
    #[must_use]
    pub fn width(&self) -> usize {
        self.width
    }

    /// Height, px.
    #[must_use]
    pub fn height(&self) -> usize {
        self.height
    }

    /// The stored values (1/16 px or [`Self::INVALID`]), row-major.
    #[must_use]
    pub fn data(&self) -> &[u16] {
        &self.data
    }

    /// The disparity at column `x`, row `y`, in rectified pixels; `None` where
    /// there is none or outside the image.
    #[must_use]
    pub fn get(&self, x: usize, y: usize) -> Option<f64> {
        if x >= self.width || y >= self.height {
            return None;
        }
        let v = self.data[y * self.width + x];
        (v != Self::INVALID).then(|| f64::from(v) / f64::from(Self::SUBPIXEL_STEPS))
    }

    /// Pixels with a disparity.
    #[must_use]
    pub fn valid_count(&self) -> usize {
        self.data.iter().filter(|&&v| v != Self::INVALID).count()
    }
}

/// Dense stereo depth on rectified, reduced images: owns the rectification,
/// the matcher's scratch and its outputs, so nothing is allocated per frame.
#[derive(Debug, Clone)]
pub struct StereoDepth {
    config: StereoConfig,
    rect: StereoRectification,
    left: GrayImage,
    right: GrayImage,
    reduced: Vec<u8>,
    matcher: Matcher,
    disparity: DisparityImage,
    speckles: speckle::SpeckleScratch,
    ledger: CostLedger,
}

impl StereoDepth {
    /// Depth for the rig's left (cam0) and right (cam1) cameras.
    ///
    /// # Errors
    /// On an invalid configuration or calibration (see
    /// [`StereoRectification::new`]), or when the rectified images would be
    /// too narrow for the disparity range.
    pub fn new(config: StereoConfig, rig: &RigCalibration) -> Result<Self, MappingError> {
        config.validate()?;
        let rect = StereoRectification::new(&rig.cam0, &rig.cam1, config.downscale)?;
        let (w, h) = (rect.width(), rect.height());
        let margin = 2 * (matcher::CENSUS_RADIUS + config.block_radius);
        if w < margin + config.disparities + 2 || h < margin + 2 {
            return Err(MappingError::Config(format!(
                "stereo: rectified images of {w}x{h} px are too small for {} disparities \
                 and a block radius of {}",
                config.disparities, config.block_radius
            )));
        }
        Ok(Self {
            matcher: Matcher::new(w, h, &config),
            left: GrayImage::new(w, h),
            right: GrayImage::new(w, h),
            reduced: vec![0; w * h],
            disparity: DisparityImage::new(w, h),
            speckles: speckle::SpeckleScratch::default(),
            ledger: CostLedger::new(),
            rect,
            config,
        })
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &StereoConfig {
        &self.config
    }

    /// The rectification (intrinsics, baseline, rotations, remap tables).
    #[must_use]
    pub fn rectification(&self) -> &StereoRectification {
        &self.rect
    }

    /// The last rectified left image.
    #[must_use]
    pub fn rectified_left(&self) -> &GrayImage {
        &self.left
    }

    /// The last rectified right image.
    #[must_use]
    pub fn rectified_right(&self) -> &GrayImage {
        &self.right
    }

    /// The last disparity image.
    #[must_use]
    pub fn disparity(&self) -> &DisparityImage {
        &self.disparity
    }

    /// The work of the last frame (and of the points taken from it), by kernel
    /// (names in [`kernels`]).
    #[must_use]
    pub fn cost(&self) -> &CostLedger {
        &self.ledger
    }

    /// Bytes of working memory: rectification tables, images and scratch.
    #[must_use]
    pub fn working_memory_bytes(&self) -> usize {
        let px = self.rect.width() * self.rect.height();
        // Two tables of 4 + 2 + 1 bytes a pixel, three images, the disparities.
        2 * 7 * px + 3 * px + 2 * px + self.matcher.bytes() + self.speckles.bytes()
    }

    /// Rectifies a raw stereo pair and matches it.
    ///
    /// # Errors
    /// If an image does not have the calibrated size.
    pub fn compute(
        &mut self,
        left: &GrayImage,
        right: &GrayImage,
    ) -> Result<&DisparityImage, MappingError> {
        // Check both before touching any state.
        let expected = self.rect.raw_size();
        for (name, img) in [("left", left), ("right", right)] {
            if (img.width(), img.height()) != expected {
                return Err(MappingError::Config(format!(
                    "stereo: the {name} image is {}x{} px but the calibration is for {}x{}",
                    img.width(),
                    img.height(),
                    expected.0,
                    expected.1
                )));
            }
        }
        self.ledger.clear();
        let mut k =
            self.rect
                .rectify(StereoCamera::Left, left, &mut self.reduced, &mut self.left)?;
        k += self.rect.rectify(
            StereoCamera::Right,
            right,
            &mut self.reduced,
            &mut self.right,
        )?;
        self.ledger.record(kernels::RECTIFY, k);
        let [census, cost, aggregate, select] = self.matcher.run(
            &self.config,
            self.left.data(),
            self.right.data(),
            self.rect.valid_mask(StereoCamera::Left),
            self.rect.valid_mask(StereoCamera::Right),
            &mut self.disparity,
        );
        self.ledger.record(kernels::CENSUS, census);
        self.ledger.record(kernels::COST, cost);
        if aggregate.calls > 0 {
            self.ledger.record(kernels::AGGREGATE, aggregate);
        }
        self.ledger.record(kernels::MATCH, select);
        if self.config.speckle_max_px > 0 {
            let max_diff = (self.config.speckle_max_diff_px * f64::from(SUBPIXEL_STEPS)).round();
            let (removed, visited) = speckle::remove_speckles(
                &mut self.disparity.data,
                self.disparity.width,
                self.config.speckle_max_px,
                max_diff as u16,
                &mut self.speckles,
            );
            let px = (self.disparity.width * self.disparity.height) as u64;
            let mut k = KernelCost {
                calls: 1,
                ops: OpCounts {
                    // A test per pixel; four neighbour tests (compare,
                    // subtract) per pixel of a region.
                    int16_add: px + 8 * visited,
                    ..OpCounts::default()
                },
                ..KernelCost::default()
            };
            // The disparities are read once from main memory and the removed
            // ones written back; the labels (4 bytes a pixel, 0.36 MB at
            // 376 x 240) and a region's stack are a working buffer: cleared,
            // then each pixel's label tested by up to four neighbours.
            k.read(Residence::Main, 2 * px);
            k.write(Residence::Main, 2 * removed);
            k.read(Residence::Buffer, 4 * px + 4 * 4 * visited);
            k.write(Residence::Buffer, 4 * px + 4 * 2 * visited);
            self.ledger.record(kernels::SPECKLE, k);
        }
        Ok(&self.disparity)
    }

    /// Depth (z in the rectified left frame, metres) at rectified pixel
    /// `(x, y)` of the last frame; `None` without a disparity.
    #[must_use]
    pub fn depth_at(&self, x: usize, y: usize) -> Option<f64> {
        self.disparity
            .get(x, y)
            .filter(|&d| d > 0.0)
            .map(|d| self.rect.focal_baseline() / d)
    }

    /// Appends the 3D points of the last frame's disparities to `out`, in the
    /// frame `frame_from_rect` maps the rectified left frame to (metres):
    /// every `stride`-th pixel along rows and columns that has a disparity and
    /// a depth up to `max_depth_m`. Returns how many were appended.
    fn append_points(
        &mut self,
        frame_from_rect: &Isometry3<f64>,
        max_depth_m: f64,
        stride: usize,
        out: &mut Vec<Vector3<f64>>,
    ) -> usize {
        let stride = stride.max(1);
        let (w, h) = (self.disparity.width, self.disparity.height);
        let (cx, cy) = self.rect.principal_point();
        let f = self.rect.focal_px();
        // Depth up to max_depth_m: disparity at least fB / max_depth (in 1/16 px).
        let steps = f64::from(SUBPIXEL_STEPS);
        let min_disparity = self.rect.focal_baseline() / max_depth_m.max(1e-9) * steps;
        let fb_steps = self.rect.focal_baseline() * steps;
        let rotation = frame_from_rect.rotation.to_rotation_matrix();
        let translation = frame_from_rect.translation.vector;
        let before = out.len();
        let mut visited = 0u64;
        for y in (0..h).step_by(stride) {
            let row = &self.disparity.data[y * w..(y + 1) * w];
            for x in (0..w).step_by(stride) {
                visited += 1;
                let v = row[x];
                if v == DisparityImage::INVALID || f64::from(v) < min_disparity || v == 0 {
                    continue;
                }
                let z = fb_steps / f64::from(v);
                let p = Vector3::new((x as f64 - cx) * z / f, (y as f64 - cy) * z / f, z);
                out.push(rotation * p + translation);
            }
        }
        let appended = out.len() - before;
        let n = appended as u64;
        let mut k = KernelCost {
            calls: 1,
            ops: OpCounts {
                int16_add: 2 * visited,
                // Depth (1 divide), two offsets and products, the rigid
                // transform (9 multiplies, 9 adds).
                f64_ops: n * (1 + 6 + 18),
                ..OpCounts::default()
            },
            ..KernelCost::default()
        };
        k.read(Residence::Main, 2 * visited);
        k.write(Residence::Main, 24 * n);
        self.ledger.record(kernels::POINTS, k);
        appended
    }

    /// Appends the last frame's points in the rectified left frame (x right, y
    /// down, z forward along the rectified axis; metres); see
    /// [`Self::points_world`] for the selection. Returns how many.
    pub fn points_rect(
        &mut self,
        max_depth_m: f64,
        stride: usize,
        out: &mut Vec<Vector3<f64>>,
    ) -> usize {
        self.append_points(&Isometry3::identity(), max_depth_m, stride, out)
    }

    /// Appends the last frame's points in cam0's frame (metres); see
    /// [`Self::points_world`]. Returns how many.
    pub fn points_cam0(
        &mut self,
        max_depth_m: f64,
        stride: usize,
        out: &mut Vec<Vector3<f64>>,
    ) -> usize {
        let cam0_from_rect = self.rect.cam0_from_rect();
        self.append_points(&cam0_from_rect, max_depth_m, stride, out)
    }

    /// Appends the last frame's points in the world frame (metres), given
    /// cam0's pose `world_from_cam0` when the images were taken: one point per
    /// `stride`-th rectified pixel along rows and columns that has a
    /// disparity, with a depth (z in the rectified left frame) up to
    /// `max_depth_m`. Pixels without a disparity give no point. The rays'
    /// common origin (for [`crate::ScanInserter::insert`]) is
    /// `world_from_cam0.translation`. Returns how many were appended.
    pub fn points_world(
        &mut self,
        world_from_cam0: &Isometry3<f64>,
        max_depth_m: f64,
        stride: usize,
        out: &mut Vec<Vector3<f64>>,
    ) -> usize {
        let world_from_rect = world_from_cam0 * self.rect.cam0_from_rect();
        self.append_points(&world_from_rect, max_depth_m, stride, out)
    }
}
