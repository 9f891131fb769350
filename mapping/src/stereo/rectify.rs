//! Stereo rectification at a reduced resolution: rotations, common intrinsics
//! and per-camera remap tables.
//!
//! Frames: `cam0` and `cam1` are the calibrated cameras (x right, y down, z
//! forward, metres). The *rectified* left and right frames share one
//! orientation, with x along the baseline (from the left optical centre to the
//! right one); the rectified left frame has its origin at cam0's optical
//! centre, the rectified right frame at cam1's, so a point `p` in the
//! rectified left frame is `p - (B, 0, 0)` in the rectified right frame, with
//! `B` the baseline in metres. Both rectified images use the same pinhole
//! `(f, cx, cy)` (square pixels, no distortion), so a point at depth `z`
//! appears on the same row in both with disparity `u_left - u_right = f B / z`.
//!
//! Rotations (Bouguet's method, as in OpenCV's `stereoRectify`): each camera
//! is turned by half of the relative rotation, so both look along their mean
//! direction, then both by the smallest rotation taking the baseline onto x.
//!
//! Resolution: the raw images are first reduced by an `s x s` box filter
//! (`s` = the downscale factor), then resampled bilinearly. The rectified
//! images have the reduced size `floor(W / s) x floor(H / s)`; reduced pixel
//! `i` covers full-resolution pixels `s i .. s i + s - 1`, so its centre is at
//! full-resolution coordinate `s i + (s - 1) / 2`.
//!
//! Remap tables: for every rectified pixel, the position in the reduced raw
//! image of the same ray through the lens model
//! ([`CameraCalibration::project`]), stored as the index of the top-left of
//! its 2x2 neighbourhood and two 7-bit fractions; the per-frame resampling is
//! integer arithmetic only. Pixels whose ray leaves the raw image (or the
//! lens model's domain) are marked invalid; they are filled from the nearest
//! border pixel (or the principal point, outside the lens model's domain) only
//! so that the matcher's windows stay defined.

use cost::{KernelCost, OpCounts, Residence};
use datasets::{CameraCalibration, GrayImage};
use nalgebra::{Isometry3, Translation3, UnitQuaternion, Vector2, Vector3};

use crate::MappingError;

/// Fractional bits of the bilinear weights.
const FRAC_BITS: u32 = 7;
/// One in the bilinear weights' fixed point.
const FRAC_ONE: u32 = 1 << FRAC_BITS;
/// Largest supported downscale factor.
pub const MAX_DOWNSCALE: usize = 4;

/// Which camera of the pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StereoCamera {
    /// The left camera (cam0), the reference of the disparity image.
    Left,
    /// The right camera (cam1).
    Right,
}

impl StereoCamera {
    fn index(self) -> usize {
        match self {
            Self::Left => 0,
            Self::Right => 1,
        }
    }
}

/// One camera's remap table, structure of arrays over the rectified pixels
/// (row-major).
#[derive(Debug, Clone, PartialEq, Default)]
struct RemapTable {
    /// Index in the reduced raw image of the top-left pixel of the 2x2
    /// neighbourhood.
    source: Vec<u32>,
    /// Horizontal and vertical fractions, `0..=FRAC_ONE`.
    weights: Vec<[u8; 2]>,
    /// 1 where the ray lands in the raw image, 0 elsewhere.
    valid: Vec<u8>,
}

/// The rectification of a calibrated stereo pair at a reduced resolution.
#[derive(Debug, Clone, PartialEq)]
pub struct StereoRectification {
    raw_width: usize,
    raw_height: usize,
    downscale: usize,
    width: usize,
    height: usize,
    focal_px: f64,
    cx: f64,
    cy: f64,
    baseline_m: f64,
    rect_from_cam0: UnitQuaternion<f64>,
    rect_from_cam1: UnitQuaternion<f64>,
    tables: [RemapTable; 2],
}

impl StereoRectification {
    /// Builds the rectification of `cam0` (left) and `cam1` (right) at
    /// `1 / downscale` of their resolution (1 to [`MAX_DOWNSCALE`]).
    ///
    /// The common focal length is the smallest of the two cameras' (reduced
    /// by `downscale`), so that the rectified images lose little of the raw
    /// field of view to the border; the principal point puts the mean of the
    /// two optical axes where the raw principal points are on average.
    ///
    /// # Errors
    /// If the cameras' image sizes differ or are too small, the downscale is
    /// out of range, or cam1 is not to the right of cam0 (a positive x
    /// component of the baseline in cam0's frame).
    pub fn new(
        cam0: &CameraCalibration,
        cam1: &CameraCalibration,
        downscale: usize,
    ) -> Result<Self, MappingError> {
        if !(1..=MAX_DOWNSCALE).contains(&downscale) {
            return Err(MappingError::Config(format!(
                "stereo downscale {downscale} must be in 1..={MAX_DOWNSCALE}"
            )));
        }
        if (cam0.width, cam0.height) != (cam1.width, cam1.height) {
            return Err(MappingError::Config(format!(
                "stereo: {} is {}x{} but {} is {}x{}",
                cam0.name, cam0.width, cam0.height, cam1.name, cam1.width, cam1.height
            )));
        }
        let (width, height) = (cam0.width / downscale, cam0.height / downscale);
        if width < 16 || height < 16 {
            return Err(MappingError::Config(format!(
                "stereo: rectified images of {width}x{height} px are too small"
            )));
        }
        let cam0_from_cam1 = cam0.body_from_cam.inverse() * cam1.body_from_cam;
        let t = cam0_from_cam1.translation.vector;
        if !(t.iter().all(|c| c.is_finite()) && t.x > 0.0 && t.norm() > 1e-6) {
            return Err(MappingError::Config(format!(
                "stereo: {} must be to the right of {} (its centre in {}'s frame is {:?} m)",
                cam1.name,
                cam0.name,
                cam0.name,
                t.as_slice()
            )));
        }
        // Bouguet: half the relative rotation each, then align the baseline.
        let q = cam0_from_cam1.rotation;
        let half = UnitQuaternion::from_scaled_axis(q.scaled_axis() * 0.5);
        let mid_from_cam0 = half.inverse();
        let mid_from_cam1 = half.inverse() * q;
        let baseline_mid = mid_from_cam0 * t;
        let align = UnitQuaternion::rotation_between(&baseline_mid, &Vector3::x())
            .unwrap_or_else(UnitQuaternion::identity);
        let rect_from_cam0 = align * mid_from_cam0;
        let rect_from_cam1 = align * mid_from_cam1;

        // Common intrinsics at full resolution, then reduced.
        let focal_full = [cam0, cam1]
            .iter()
            .flat_map(|c| [c.intrinsics.fx, c.intrinsics.fy])
            .fold(f64::INFINITY, f64::min);
        if !(focal_full.is_finite() && focal_full > 0.0) {
            return Err(MappingError::Config(
                "stereo: focal lengths must be positive".into(),
            ));
        }
        let mut principal = Vector2::zeros();
        for (cam, rect_from_cam) in [(cam0, &rect_from_cam0), (cam1, &rect_from_cam1)] {
            let axis = rect_from_cam * Vector3::z();
            let offset = Vector2::new(axis.x / axis.z, axis.y / axis.z) * focal_full;
            principal += Vector2::new(cam.intrinsics.cx, cam.intrinsics.cy) - offset;
        }
        principal *= 0.5;
        let s = downscale as f64;
        let mut rect = Self {
            raw_width: cam0.width,
            raw_height: cam0.height,
            downscale,
            width,
            height,
            focal_px: focal_full / s,
            cx: (principal.x + 0.5) / s - 0.5,
            cy: (principal.y + 0.5) / s - 0.5,
            baseline_m: t.norm(),
            rect_from_cam0,
            rect_from_cam1,
            tables: [RemapTable::default(), RemapTable::default()],
        };
        rect.tables = [
            rect.build_table(cam0, &rect_from_cam0),
            rect.build_table(cam1, &rect_from_cam1),
        ];
        Ok(rect)
    }

    /// The remap table of one camera.
    fn build_table(
        &self,
        cam: &CameraCalibration,
        rect_from_cam: &UnitQuaternion<f64>,
    ) -> RemapTable {
        let (w, h) = (self.width, self.height);
        let n = w * h;
        let mut table = RemapTable {
            source: Vec::with_capacity(n),
            weights: Vec::with_capacity(n),
            valid: Vec::with_capacity(n),
        };
        let cam_from_rect = rect_from_cam.inverse();
        let s = self.downscale as f64;
        let (wf, hf) = (w as f64, h as f64);
        for v in 0..h {
            for u in 0..w {
                let ray = self.ray(u as f64, v as f64);
                let raw = cam.project(&(cam_from_rect * ray));
                // Position in the reduced raw image.
                let small = raw.map(|p| (p.add_scalar(0.5)) / s - Vector2::repeat(0.5));
                let inside = small.is_some_and(|p| {
                    p.x >= -0.5 && p.y >= -0.5 && p.x < wf - 0.5 && p.y < hf - 0.5
                });
                let p = small.unwrap_or_else(|| Vector2::new(self.cx, self.cy));
                let (x0, fx) = split_coordinate(p.x, w);
                let (y0, fy) = split_coordinate(p.y, h);
                table.source.push((y0 * w + x0) as u32);
                table.weights.push([fx, fy]);
                table.valid.push(u8::from(inside));
            }
        }
        table
    }

    /// Width of the rectified images, px.
    #[must_use]
    pub fn width(&self) -> usize {
        self.width
    }

    /// Height of the rectified images, px.
    #[must_use]
    pub fn height(&self) -> usize {
        self.height
    }

    /// Size of the raw images the rectification expects, px.
    #[must_use]
    pub fn raw_size(&self) -> (usize, usize) {
        (self.raw_width, self.raw_height)
    }

    /// The downscale factor from raw to rectified pixels.
    #[must_use]
    pub fn downscale(&self) -> usize {
        self.downscale
    }

    /// The rectified focal length, in rectified pixels.
    #[must_use]
    pub fn focal_px(&self) -> f64 {
        self.focal_px
    }

    /// The rectified principal point `(cx, cy)`, in rectified pixels (the same
    /// for both cameras).
    #[must_use]
    pub fn principal_point(&self) -> (f64, f64) {
        (self.cx, self.cy)
    }

    /// The baseline, metres.
    #[must_use]
    pub fn baseline_m(&self) -> f64 {
        self.baseline_m
    }

    /// `f B`, rectified pixels times metres: depth is this over disparity.
    #[must_use]
    pub fn focal_baseline(&self) -> f64 {
        self.focal_px * self.baseline_m
    }

    /// Rotation from cam0's frame to the rectified left frame.
    #[must_use]
    pub fn rect_from_cam0(&self) -> UnitQuaternion<f64> {
        self.rect_from_cam0
    }

    /// Rotation from cam1's frame to the rectified right frame.
    #[must_use]
    pub fn rect_from_cam1(&self) -> UnitQuaternion<f64> {
        self.rect_from_cam1
    }

    /// The rectified left frame in cam0's frame (a pure rotation: both have
    /// their origin at cam0's optical centre).
    #[must_use]
    pub fn cam0_from_rect(&self) -> Isometry3<f64> {
        Isometry3::from_parts(Translation3::identity(), self.rect_from_cam0.inverse())
    }

    /// The ray of rectified pixel `(u, v)` in the rectified frame, with z = 1.
    #[must_use]
    pub fn ray(&self, u: f64, v: f64) -> Vector3<f64> {
        Vector3::new(
            (u - self.cx) / self.focal_px,
            (v - self.cy) / self.focal_px,
            1.0,
        )
    }

    /// Projects a point given in the rectified left frame (metres) into the
    /// rectified image of `camera`, in rectified pixels; `None` behind the
    /// camera.
    #[must_use]
    pub fn project(&self, camera: StereoCamera, p_rect: &Vector3<f64>) -> Option<Vector2<f64>> {
        let x = match camera {
            StereoCamera::Left => p_rect.x,
            StereoCamera::Right => p_rect.x - self.baseline_m,
        };
        (p_rect.z > 1e-9).then(|| {
            Vector2::new(
                self.focal_px * x / p_rect.z + self.cx,
                self.focal_px * p_rect.y / p_rect.z + self.cy,
            )
        })
    }

    /// Where rectified pixel `(x, y)` of `camera` samples the raw image, in
    /// raw full-resolution pixels, as stored in the remap table (with its
    /// fixed-point rounding); `None` outside the rectified image or when the
    /// ray misses the raw image.
    #[must_use]
    pub fn source_position(
        &self,
        camera: StereoCamera,
        x: usize,
        y: usize,
    ) -> Option<Vector2<f64>> {
        if x >= self.width || y >= self.height {
            return None;
        }
        let table = &self.tables[camera.index()];
        let i = y * self.width + x;
        if table.valid[i] == 0 {
            return None;
        }
        let src = table.source[i] as usize;
        let [fx, fy] = table.weights[i];
        let one = f64::from(FRAC_ONE);
        let small = Vector2::new(
            (src % self.width) as f64 + f64::from(fx) / one,
            (src / self.width) as f64 + f64::from(fy) / one,
        );
        let s = self.downscale as f64;
        Some((small.add_scalar(0.5)) * s - Vector2::repeat(0.5))
    }

    /// Which rectified pixels of `camera` see the raw image (1) or not (0),
    /// row-major.
    #[must_use]
    pub fn valid_mask(&self, camera: StereoCamera) -> &[u8] {
        &self.tables[camera.index()].valid
    }

    /// Fraction of the rectified pixels of `camera` that see the raw image.
    #[must_use]
    pub fn valid_fraction(&self, camera: StereoCamera) -> f64 {
        let v = &self.tables[camera.index()].valid;
        v.iter().map(|&b| usize::from(b)).sum::<usize>() as f64 / v.len().max(1) as f64
    }

    /// Rectifies one raw image of `camera` into `out` (resized to the
    /// rectified size), using `reduced` as scratch for the box-filtered raw
    /// image. Returns the work done.
    ///
    /// # Errors
    /// If `raw` does not have the calibrated size.
    pub fn rectify(
        &self,
        camera: StereoCamera,
        raw: &GrayImage,
        reduced: &mut Vec<u8>,
        out: &mut GrayImage,
    ) -> Result<KernelCost, MappingError> {
        if (raw.width(), raw.height()) != (self.raw_width, self.raw_height) {
            return Err(MappingError::Config(format!(
                "stereo: the {} image is {}x{} px but the calibration is for {}x{}",
                match camera {
                    StereoCamera::Left => "left",
                    StereoCamera::Right => "right",
                },
                raw.width(),
                raw.height(),
                self.raw_width,
                self.raw_height
            )));
        }
        let (w, h) = (self.width, self.height);
        if (out.width(), out.height()) != (w, h) {
            *out = GrayImage::new(w, h);
        }
        reduced.resize(w * h, 0);
        box_reduce(raw, self.downscale, w, h, reduced);
        let table = &self.tables[camera.index()];
        remap(reduced, w, table, out.data_mut());
        Ok(self.rectify_cost())
    }

    /// The counted work of one [`Self::rectify`].
    fn rectify_cost(&self) -> KernelCost {
        let s = self.downscale as u64;
        let px = (self.width * self.height) as u64;
        let mut k = KernelCost {
            calls: 1,
            ops: OpCounts {
                // Box: s^2 - 1 adds and a rounding add and shift per pixel.
                int16_add: px * (s * s + 1) + 2 * px,
                // Bilinear: two rows of two products and a sum (16-bit), then
                // two 32-bit products, their sum, the rounding and the shift,
                // and the complementary weights.
                int16_mul: 4 * px,
                int32_mul: 2 * px,
                int32_add: 6 * px,
                ..OpCounts::default()
            },
            ..KernelCost::default()
        };
        // The raw image streams in once; the reduced image is written and
        // gathered from cache; the table (4 + 2 bytes a pixel) and the output
        // stream through main memory.
        k.read(
            Residence::Main,
            (self.raw_width * self.raw_height) as u64 + 6 * px,
        );
        k.write(Residence::Buffer, px);
        k.read(Residence::Buffer, 4 * px);
        k.write(Residence::Main, px);
        k
    }
}

/// Splits a coordinate in `[-0.5, n - 0.5)` (clamped to `[0, n - 1]`) into the
/// left neighbour's index, at most `n - 2`, and the fraction towards the right
/// one in `0..=FRAC_ONE`.
fn split_coordinate(p: f64, n: usize) -> (usize, u8) {
    let max = (n - 1) as f64;
    let p = if p.is_finite() {
        p.clamp(0.0, max)
    } else {
        0.0
    };
    let i = (p.floor() as usize).min(n - 2);
    let frac = ((p - i as f64) * f64::from(FRAC_ONE)).round() as u32;
    (i, frac.min(FRAC_ONE) as u8)
}

/// Reduces `raw` by an `s x s` box filter (rounded mean) into `out`
/// (`w x h`, `w = floor(W / s)`).
fn box_reduce(raw: &GrayImage, s: usize, w: usize, h: usize, out: &mut [u8]) {
    match s {
        1 => {
            for (y, dst) in out.chunks_exact_mut(w).take(h).enumerate() {
                dst.copy_from_slice(&raw.row(y)[..w]);
            }
        }
        2 => {
            for (y, dst) in out.chunks_exact_mut(w).take(h).enumerate() {
                let r0 = &raw.row(2 * y)[..2 * w];
                let r1 = &raw.row(2 * y + 1)[..2 * w];
                for ((o, a), b) in dst
                    .iter_mut()
                    .zip(r0.chunks_exact(2))
                    .zip(r1.chunks_exact(2))
                {
                    let sum = u16::from(a[0]) + u16::from(a[1]) + u16::from(b[0]) + u16::from(b[1]);
                    *o = ((sum + 2) >> 2) as u8;
                }
            }
        }
        _ => {
            let area = (s * s) as u32;
            for (y, dst) in out.chunks_exact_mut(w).take(h).enumerate() {
                for (x, o) in dst.iter_mut().enumerate() {
                    let mut sum = 0u32;
                    for k in 0..s {
                        let row = &raw.row(s * y + k)[s * x..s * x + s];
                        sum += row.iter().map(|&v| u32::from(v)).sum::<u32>();
                    }
                    *o = ((sum + area / 2) / area) as u8;
                }
            }
        }
    }
}

/// Bilinear resampling of `src` (`w` wide) through `table` into `out`.
fn remap(src: &[u8], w: usize, table: &RemapTable, out: &mut [u8]) {
    let round = 1u32 << (2 * FRAC_BITS - 1);
    for ((o, &i), &[fx, fy]) in out.iter_mut().zip(&table.source).zip(&table.weights) {
        let i = i as usize;
        let (Some(top), Some(bottom)) = (src.get(i..i + 2), src.get(i + w..i + w + 2)) else {
            continue;
        };
        let (fx, fy) = (u32::from(fx), u32::from(fy));
        let upper = u32::from(top[0]) * (FRAC_ONE - fx) + u32::from(top[1]) * fx;
        let lower = u32::from(bottom[0]) * (FRAC_ONE - fx) + u32::from(bottom[1]) * fx;
        *o = ((upper * (FRAC_ONE - fy) + lower * fy + round) >> (2 * FRAC_BITS)) as u8;
    }
}
