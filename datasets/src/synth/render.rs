//! Ray-cast rendering of the textured world through a calibrated, distorted camera
//! into an 8-bit image, with exposure gain, vignetting and pixel noise.
//!
//! Per camera, once: the unit bearing of every pixel centre from
//! [`CameraCalibration::unproject`] (so images carry exactly the lens distortion
//! that [`CameraCalibration::project`] models), each pixel's angular size, a
//! vignetting gain, and for every 16x16 tile the four planes through the optical
//! centre bounding its rays (with a one-pixel margin).
//!
//! Per frame: bearings are rotated by `world_from_cam` (the caller composes
//! `world_from_body * body_from_cam`); each tile keeps only the obstacles whose
//! bounding box is not entirely outside one of its planes (the "p-vertex" test,
//! Greene 1994; Assarsson & Moller, JGT 2000); every pixel intersects the room
//! and its tile's obstacles (see [`super::world`]); the hit's texture is sampled
//! trilinearly at a mip level from the pixel footprint (distance x angular size,
//! stretched by `1 / cos(incidence)` along the surface's slope, where up to
//! `max_anisotropy` samples are taken along that direction, as anisotropic
//! filtering does). Pixels whose 4-neighbours see another surface (silhouettes,
//! room corners) are re-rendered from 2x2 sub-pixel rays interpolated from the
//! bearing table, which removes the staircases that would make false corners.
//!
//! Output: `g * vignette(x, y) * L + n`, rounded and clamped to 0..=255, with `L`
//! the texture's radiance (shading baked, see [`super::texture`]), `g` the
//! exposure gain and `n` Gaussian noise of `noise_sigma` grey levels drawn from a
//! 256-entry quantile table by a per-pixel hash, so the noise of a pixel depends
//! only on the frame key and the pixel (independent of render order).
//!
//! Speed: the main pass works a tile at a time in stages over all its pixels
//! (rotate bearings and intersect the room; each culled obstacle; shade), in f32
//! with branch-free min/max so that the first two stages vectorize and the
//! processor overlaps the long per-pixel chains of the third. f32 is ample here:
//! a relative error of 1e-7 is a micrometre at 10 m. The anti-aliasing pass and
//! [`CameraRenderer::cast_pixel`] use the f64 geometry of [`super::world`].
//! No motion blur, no rolling shutter (EuRoC's cameras are global-shutter), no
//! defocus.

use nalgebra::{Isometry3, Matrix3, Vector2, Vector3};

use super::rng::{ln, splitmix64};
use super::texture::{SceneTextures, round_small};
use super::world::{Shape, SurfaceGeometry, World};
use crate::image::GrayImage;
use crate::model::CameraCalibration;
use crate::{DatasetError, Result};

/// Image formation parameters.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct RenderConfig {
    /// Standard deviation of the additive pixel noise, grey levels (0 = none).
    pub noise_sigma: f64,
    /// Brightness lost at the image corners by vignetting, 0..1 (falls as the
    /// squared distance from the principal point).
    pub vignetting: f64,
    /// Re-render pixels on surface boundaries with 2x2 sub-pixel rays.
    pub edge_supersampling: bool,
    /// Added to the mip level; negative is sharper (and more aliased), levels.
    pub lod_bias: f64,
    /// Most texture samples taken along a slanted surface's slope, 1..=8.
    pub max_anisotropy: usize,
    /// Tile side for obstacle culling, pixels.
    pub tile_size_px: usize,
}

impl Default for RenderConfig {
    fn default() -> Self {
        Self {
            noise_sigma: 2.0,
            vignetting: 0.25,
            edge_supersampling: true,
            lod_bias: 0.0,
            max_anisotropy: 4,
            tile_size_px: 16,
        }
    }
}

/// The culling frustum of one tile and where its pixels lie in the tile-major
/// tables.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Tile {
    x0: usize,
    y0: usize,
    x1: usize,
    y1: usize,
    /// First index of the tile's pixels in the tile-major tables.
    offset: usize,
    /// Inward normals of the four planes through the optical centre, camera frame;
    /// `None` when a corner cannot be unprojected (then nothing is culled).
    planes: Option<[Vector3<f64>; 4]>,
}

/// Buffers reused from frame to frame by [`CameraRenderer::render`].
#[derive(Debug, Clone, Default)]
pub struct RenderScratch {
    /// Surface seen by each pixel's centre ray, row-major.
    surface_ids: Vec<u32>,
    /// For tile `t`, its obstacles are `tile_items[tile_start[t]..tile_start[t + 1]]`.
    tile_start: Vec<u32>,
    tile_items: Vec<u32>,
    /// Per obstacle: bounding-box centre relative to the camera, half extents.
    bounds: Vec<(Vector3<f64>, Vector3<f64>)>,
    /// Per-frame shading constants of each surface.
    frame: Vec<FrameSurface>,
    /// The rays of one tile, structure of arrays.
    batch: Batch,
    /// Pixels to anti-alias (1) or not (0), row-major.
    edge_mask: Vec<u8>,
}

/// One tile's rays (world directions and their inverses) and nearest hits.
#[derive(Debug, Clone, Default)]
struct Batch {
    dx: Vec<f32>,
    dy: Vec<f32>,
    dz: Vec<f32>,
    ix: Vec<f32>,
    iy: Vec<f32>,
    iz: Vec<f32>,
    t: Vec<f32>,
    surface: Vec<u32>,
}

impl Batch {
    fn resize(&mut self, n: usize) {
        for v in [
            &mut self.dx,
            &mut self.dy,
            &mut self.dz,
            &mut self.ix,
            &mut self.iy,
            &mut self.iz,
            &mut self.t,
        ] {
            v.resize(n, 0.0);
        }
        self.surface.resize(n, 0);
    }
}

/// A planar surface's texture mapping relative to the camera, f32: a hit at
/// distance `t` along `d` has `u = u0 + t d . u_axis`, `v = v0 + t d . v_axis`.
#[derive(Debug, Clone, Copy, Default)]
struct FramePlane {
    u0: f32,
    v0: f32,
    u_axis: [f32; 3],
    v_axis: [f32; 3],
    normal: [f32; 3],
}

/// Shading constants of one surface for one frame.
#[derive(Debug, Clone, Copy, Default)]
struct FrameSurface {
    /// `None` for a cylinder side (shaded through the general f64 path).
    plane: Option<FramePlane>,
    /// Level-0 texels per metre of its texture.
    texels_per_m: f32,
}

impl RenderScratch {
    /// Empty buffers; they grow on first use.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }
}

/// A camera's precomputed rays and the image-formation settings.
#[derive(Debug, Clone, PartialEq)]
pub struct CameraRenderer {
    width: usize,
    height: usize,
    /// Unit bearing of each pixel centre, camera frame, row-major (f64, for the
    /// anti-aliasing pass and [`Self::cast_pixel`]).
    rays: Vec<Vector3<f64>>,
    /// The same bearings in f32, tile-major (see [`Tile::offset`]), per component.
    rx: Vec<f32>,
    ry: Vec<f32>,
    rz: Vec<f32>,
    /// Row-major pixel index of each tile-major entry.
    pixel_of: Vec<u32>,
    /// Angular size of each pixel, rad, tile-major.
    pixel_angle: Vec<f32>,
    /// Vignetting gain of each pixel, row-major.
    vignette: Vec<f32>,
    tiles: Vec<Tile>,
    cfg: RenderConfig,
    /// `noise_sigma` times the standard normal quantiles at `(i + 0.5) / 256`.
    noise_table: [f32; 256],
    /// `cfg.lod_bias` as f32.
    lod_bias: f32,
    /// `cfg.max_anisotropy` as f32.
    max_anisotropy: f32,
}

/// Inverse of the standard normal CDF (Acklam's rational approximation, relative
/// error below 1.2e-9), using the platform-independent [`ln`].
#[must_use]
pub fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    let p = p.clamp(1e-300, 1.0 - 1e-16);
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < 0.02425 {
        tail((-2.0 * ln(p)).sqrt())
    } else if p > 1.0 - 0.02425 {
        -tail((-2.0 * ln(1.0 - p)).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

/// `1 / n` for the anisotropic sample counts 0..=8 (0 unused).
const INV_SMALL: [f32; 9] = [
    1.0,
    1.0,
    1.0 / 2.0,
    1.0 / 3.0,
    1.0 / 4.0,
    1.0 / 5.0,
    1.0 / 6.0,
    1.0 / 7.0,
    1.0 / 8.0,
];

/// `log2(x)` to within 0.09, monotone and continuous (exponent plus linear
/// mantissa), enough to pick a mip level; `x` must be positive.
#[inline]
fn fast_log2(x: f32) -> f32 {
    let bits = (if x > 1e-30 { x } else { 1e-30 }).to_bits();
    let exponent = ((bits >> 23) & 0xff) as i32 - 127;
    let mantissa = f32::from_bits((bits & 0x007f_ffff) | 0x3f80_0000);
    exponent as f32 + (mantissa - 1.0)
}

/// Where a ray from inside the room leaves it: distance and face (0..6), from
/// the room's corners relative to the ray origin and the inverse direction.
#[inline(always)]
fn room_exit_f32(lo: &Vector3<f32>, hi: &Vector3<f32>, a0: f32, a1: f32, a2: f32) -> (f32, u32) {
    let t0 = (if a0 >= 0.0 { hi.x } else { lo.x }) * a0;
    let t1 = (if a1 >= 0.0 { hi.y } else { lo.y }) * a1;
    let t2 = (if a2 >= 0.0 { hi.z } else { lo.z }) * a2;
    let t = fmin(fmin(t0, t1), t2);
    // Leaving through the max face (2 axis + 1) when moving +.
    let face = if t == t0 {
        u32::from(a0 >= 0.0)
    } else if t == t1 {
        2 + u32::from(a1 >= 0.0)
    } else {
        4 + u32::from(a2 >= 0.0)
    };
    (t, face)
}

/// Branch-free slab test of a box (corners relative to the ray origin) against
/// a ray with inverse direction `(a0, a1, a2)`: the entry distance, the entry
/// face, and whether it is hit in `(0, t_max]`.
#[inline(always)]
fn box_entry_f32(
    bl: &Vector3<f32>,
    bh: &Vector3<f32>,
    a0: f32,
    a1: f32,
    a2: f32,
    t_max: f32,
) -> (f32, u32, bool) {
    let (l0, h0) = (bl.x * a0, bh.x * a0);
    let (l1, h1) = (bl.y * a1, bh.y * a1);
    let (l2, h2) = (bl.z * a2, bh.z * a2);
    let (n0, n1, n2) = (fmin(l0, h0), fmin(l1, h1), fmin(l2, h2));
    let (f0, f1, f2) = (fmax(l0, h0), fmax(l1, h1), fmax(l2, h2));
    let t_near = fmax(fmax(n0, n1), n2);
    let t_far = fmin(fmin(fmin(f0, f1), f2), t_max);
    let hit = t_near <= t_far && t_near > 0.0;
    // Entering through the min face when moving +.
    let face = if t_near == n0 {
        u32::from(a0 < 0.0)
    } else if t_near == n1 {
        2 + u32::from(a1 < 0.0)
    } else {
        4 + u32::from(a2 < 0.0)
    };
    (t_near, face, hit)
}

/// `min` that compiles to one instruction (`b` if either is NaN).
#[inline(always)]
fn fmin(a: f32, b: f32) -> f32 {
    if a < b { a } else { b }
}

/// `max` that compiles to one instruction (`b` if either is NaN).
#[inline(always)]
fn fmax(a: f32, b: f32) -> f32 {
    if a > b { a } else { b }
}

/// The noise hash of the 8 pixels `8 group .. 8 group + 7` under frame key `key`;
/// pixel `index` uses byte `index % 8` of the hash of group `index / 8`.
#[inline]
fn noise_hash(key: u64, group: usize) -> u64 {
    let mut s = key ^ (group as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    splitmix64(&mut s)
}

/// The noise byte of pixel `index` within its group's hash.
#[inline(always)]
fn noise_byte(hash: u64, index: usize) -> usize {
    ((hash >> ((index & 7) * 8)) & 0xff) as usize
}

impl CameraRenderer {
    /// Precomputes the rays of `camera`.
    ///
    /// # Errors
    /// If the configuration is out of range or a pixel centre cannot be
    /// unprojected (a lens model that does not cover the image).
    pub fn new(camera: &CameraCalibration, cfg: &RenderConfig) -> Result<Self> {
        let bad = |m: String| Err(DatasetError::InvalidArgument(format!("render config: {m}")));
        if !(cfg.noise_sigma >= 0.0 && cfg.noise_sigma <= 50.0) {
            return bad(format!(
                "noise_sigma {} must be in [0, 50]",
                cfg.noise_sigma
            ));
        }
        if !(0.0..=1.0).contains(&cfg.vignetting) || !cfg.lod_bias.is_finite() {
            return bad("vignetting must be in [0, 1] and lod_bias finite".into());
        }
        if !(1..=8).contains(&cfg.max_anisotropy) || !(4..=256).contains(&cfg.tile_size_px) {
            return bad("max_anisotropy must be in 1..=8 and tile_size_px in 4..=256".into());
        }
        let (width, height) = (camera.width, camera.height);
        if width < 2 || height < 2 || width * height > 1 << 26 {
            return bad(format!(
                "camera {}: image {width}x{height} not supported",
                camera.name
            ));
        }
        let mut rays = Vec::with_capacity(width * height);
        for y in 0..height {
            for x in 0..width {
                let uv = Vector2::new(x as f64, y as f64);
                let ray = camera.unproject(uv).ok_or_else(|| {
                    DatasetError::InvalidArgument(format!(
                        "camera {}: pixel ({x}, {y}) cannot be unprojected",
                        camera.name
                    ))
                })?;
                rays.push(ray);
            }
        }
        let at = |x: usize, y: usize| rays[y * width + x];
        let k = camera.intrinsics;
        let corner2 =
            (k.cx.max(width as f64 - k.cx)).powi(2) + (k.cy.max(height as f64 - k.cy)).powi(2);
        let mut vignette = Vec::with_capacity(width * height);
        for y in 0..height {
            for x in 0..width {
                let r2 = ((x as f64 - k.cx).powi(2) + (y as f64 - k.cy).powi(2)) / corner2;
                vignette.push((1.0 - cfg.vignetting * r2) as f32);
            }
        }
        let ts = cfg.tile_size_px;
        let n = width * height;
        let (mut rx, mut ry, mut rz) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        let mut pixel_of = Vec::with_capacity(n);
        let mut pixel_angle = Vec::with_capacity(n);
        let mut tiles = Vec::new();
        for y0 in (0..height).step_by(ts) {
            for x0 in (0..width).step_by(ts) {
                let (x1, y1) = ((x0 + ts).min(width), (y0 + ts).min(height));
                let offset = rx.len();
                for y in y0..y1 {
                    for x in x0..x1 {
                        let r = at(x, y);
                        rx.push(r.x as f32);
                        ry.push(r.y as f32);
                        rz.push(r.z as f32);
                        pixel_of.push((y * width + x) as u32);
                        // Angular pixel size: geometric mean of the spacing to the
                        // neighbours along x and y.
                        let (xa, xb) = (x.saturating_sub(1), (x + 1).min(width - 1));
                        let (ya, yb) = (y.saturating_sub(1), (y + 1).min(height - 1));
                        let ax = (at(xb, y) - at(xa, y)).norm() / (xb - xa) as f64;
                        let ay = (at(x, yb) - at(x, ya)).norm() / (yb - ya) as f64;
                        pixel_angle.push((ax * ay).sqrt() as f32);
                    }
                }
                // Corners one pixel beyond the tile's pixel areas, counter-clockwise
                // in the image (x right, y down).
                let m = 1.5;
                let corners = [
                    (x0 as f64 - m, y0 as f64 - m),
                    (x0 as f64 - m, y1 as f64 - 1.0 + m),
                    (x1 as f64 - 1.0 + m, y1 as f64 - 1.0 + m),
                    (x1 as f64 - 1.0 + m, y0 as f64 - m),
                ];
                let bearings: Option<Vec<Vector3<f64>>> = corners
                    .iter()
                    .map(|&(u, v)| camera.unproject(Vector2::new(u, v)))
                    .collect();
                let centre = at((x0 + x1) / 2, (y0 + y1) / 2);
                let planes = bearings.and_then(|b| {
                    let mut planes = [Vector3::zeros(); 4];
                    for i in 0..4 {
                        let mut n = b[i].cross(&b[(i + 1) % 4]);
                        if n.dot(&centre) < 0.0 {
                            n = -n;
                        }
                        planes[i] = n.try_normalize(1e-12)?;
                    }
                    Some(planes)
                });
                tiles.push(Tile {
                    x0,
                    y0,
                    x1,
                    y1,
                    offset,
                    planes,
                });
            }
        }
        let sigma = cfg.noise_sigma;
        let mut quantiles = [0.0_f64; 256];
        for (i, q) in quantiles.iter_mut().enumerate() {
            *q = normal_quantile((i as f64 + 0.5) / 256.0);
        }
        // Rescale to unit variance (the table's discrete quantiles have slightly less).
        let var = quantiles.iter().map(|q| q * q).sum::<f64>() / 256.0;
        let noise_table = quantiles.map(|q| (q / var.sqrt() * sigma) as f32);
        Ok(Self {
            width,
            height,
            rays,
            rx,
            ry,
            rz,
            pixel_of,
            pixel_angle,
            vignette,
            tiles,
            cfg: *cfg,
            noise_table,
            lod_bias: cfg.lod_bias as f32,
            max_anisotropy: cfg.max_anisotropy as f32,
        })
    }

    /// Image width, pixels.
    #[must_use]
    pub fn width(&self) -> usize {
        self.width
    }

    /// Image height, pixels.
    #[must_use]
    pub fn height(&self) -> usize {
        self.height
    }

    /// The settings.
    #[must_use]
    pub fn config(&self) -> &RenderConfig {
        &self.cfg
    }

    /// Unit bearing of pixel `(x, y)`'s centre in the camera frame; `None` outside
    /// the image.
    #[must_use]
    pub fn ray(&self, x: usize, y: usize) -> Option<Vector3<f64>> {
        (x < self.width && y < self.height).then(|| self.rays[y * self.width + x])
    }

    /// The bearing at a fractional pixel position, bilinearly interpolated from the
    /// table and renormalized (clamped to the image).
    fn ray_at(&self, u: f64, v: f64) -> Vector3<f64> {
        let u = u.clamp(0.0, (self.width - 1) as f64);
        let v = v.clamp(0.0, (self.height - 1) as f64);
        let (x0, y0) = (u as usize, v as usize); // u, v >= 0: truncation is floor
        let (x1, y1) = ((x0 + 1).min(self.width - 1), (y0 + 1).min(self.height - 1));
        let (fx, fy) = (u - x0 as f64, v - y0 as f64);
        let r = |x: usize, y: usize| self.rays[y * self.width + x];
        let top = r(x0, y0).lerp(&r(x1, y0), fx);
        let bottom = r(x0, y1).lerp(&r(x1, y1), fx);
        top.lerp(&bottom, fy).normalize()
    }

    /// Renders the view from `world_from_cam` into `out` (which must have the
    /// camera's size): exposure gain `gain`, noise from `noise_key` (any value;
    /// the same key gives the same noise).
    ///
    /// # Errors
    /// If `out` has the wrong size or `textures` does not belong to `world`.
    #[allow(clippy::too_many_arguments)]
    pub fn render(
        &self,
        world: &World,
        textures: &SceneTextures,
        world_from_cam: &Isometry3<f64>,
        gain: f64,
        noise_key: u64,
        scratch: &mut RenderScratch,
        out: &mut GrayImage,
    ) -> Result<()> {
        if out.width() != self.width || out.height() != self.height {
            return Err(DatasetError::InvalidArgument(format!(
                "output image is {}x{}, the camera renders {}x{}",
                out.width(),
                out.height(),
                self.width,
                self.height
            )));
        }
        if textures.surfaces.len() != world.surfaces.len() {
            return Err(DatasetError::InvalidArgument(format!(
                "{} textures for {} surfaces",
                textures.surfaces.len(),
                world.surfaces.len()
            )));
        }
        let rotation: Matrix3<f64> = world_from_cam.rotation.to_rotation_matrix().into_inner();
        let origin = world_from_cam.translation.vector;
        self.cull(world, &rotation, &origin, scratch);
        Self::frame_surfaces(world, textures, &origin, &mut scratch.frame);
        scratch.surface_ids.clear();
        scratch.surface_ids.resize(self.width * self.height, 0);
        scratch
            .batch
            .resize(self.cfg.tile_size_px * self.cfg.tile_size_px);
        let gain = gain as f32;
        let noise = self.cfg.noise_sigma > 0.0;
        let data = out.data_mut();
        let m: [f32; 9] = std::array::from_fn(|i| rotation[(i / 3, i % 3)] as f32);
        let lo = (world.room.min - origin).map(|c| c as f32);
        let hi = (world.room.max - origin).map(|c| c as f32);

        for (t, tile) in self.tiles.iter().enumerate() {
            let items = &scratch.tile_items
                [scratch.tile_start[t] as usize..scratch.tile_start[t + 1] as usize];
            let n = (tile.x1 - tile.x0) * (tile.y1 - tile.y0);
            let range = tile.offset..tile.offset + n;
            let b = &mut scratch.batch;
            let (dx, dy, dz) = (&mut b.dx[..n], &mut b.dy[..n], &mut b.dz[..n]);
            let (ix, iy, iz) = (&mut b.ix[..n], &mut b.iy[..n], &mut b.iz[..n]);
            let (tt, surf) = (&mut b.t[..n], &mut b.surface[..n]);
            let (rx, ry, rz) = (
                &self.rx[range.clone()],
                &self.ry[range.clone()],
                &self.rz[range.clone()],
            );
            // Stage 1: world directions and the room's exit.
            for i in 0..n {
                let (x, y, z) = (rx[i], ry[i], rz[i]);
                let (d0, d1, d2) = (
                    m[0] * x + m[1] * y + m[2] * z,
                    m[3] * x + m[4] * y + m[5] * z,
                    m[6] * x + m[7] * y + m[8] * z,
                );
                let (a0, a1, a2) = (1.0 / d0, 1.0 / d1, 1.0 / d2);
                dx[i] = d0;
                dy[i] = d1;
                dz[i] = d2;
                ix[i] = a0;
                iy[i] = a1;
                iz[i] = a2;
                let (t_exit, face) = room_exit_f32(&lo, &hi, a0, a1, a2);
                tt[i] = t_exit;
                surf[i] = face;
            }
            // Stage 2: the tile's obstacles.
            for &i in items {
                let ob = &world.obstacles[i as usize];
                match ob.shape {
                    Shape::Box(aabb) => {
                        let bl = (aabb.min - origin).map(|c| c as f32);
                        let bh = (aabb.max - origin).map(|c| c as f32);
                        let first = ob.first_surface;
                        for k in 0..n {
                            let (t_near, face, hit) =
                                box_entry_f32(&bl, &bh, ix[k], iy[k], iz[k], tt[k]);
                            tt[k] = if hit { t_near } else { tt[k] };
                            surf[k] = if hit { first + face } else { surf[k] };
                        }
                    }
                    Shape::Cylinder { .. } => {
                        for k in 0..n {
                            let dir =
                                Vector3::new(f64::from(dx[k]), f64::from(dy[k]), f64::from(dz[k]));
                            let inv = dir.map(|c| 1.0 / c);
                            if let Some((t_hit, face)) =
                                ob.shape.intersect(&origin, &dir, &inv, f64::from(tt[k]))
                            {
                                tt[k] = t_hit as f32;
                                surf[k] = ob.first_surface + face;
                            }
                        }
                    }
                }
            }
            // Stage 3: shading.
            let pixels = &self.pixel_of[range.clone()];
            let angles = &self.pixel_angle[range];
            let (mut group, mut hash) = (usize::MAX, 0);
            for k in 0..n {
                let p = pixels[k] as usize;
                let noise_value = if noise {
                    if p >> 3 != group {
                        group = p >> 3;
                        hash = noise_hash(noise_key, group);
                    }
                    self.noise_table[noise_byte(hash, p)]
                } else {
                    0.0
                };
                let radiance = self.shade(
                    world,
                    textures,
                    &scratch.frame,
                    &origin,
                    [dx[k], dy[k], dz[k]],
                    tt[k],
                    surf[k],
                    angles[k],
                );
                scratch.surface_ids[p] = surf[k];
                data[p] = self.quantize(radiance, gain, p, noise_value);
            }
        }

        if self.cfg.edge_supersampling {
            self.antialias(
                world, textures, &rotation, &origin, gain, noise_key, scratch, data,
            );
        }
        Ok(())
    }

    /// Re-renders pixels whose 4-neighbours see another surface from 2x2
    /// sub-pixel rays.
    #[allow(clippy::too_many_arguments)]
    fn antialias(
        &self,
        world: &World,
        textures: &SceneTextures,
        rotation: &Matrix3<f64>,
        origin: &Vector3<f64>,
        gain: f32,
        noise_key: u64,
        scratch: &mut RenderScratch,
        data: &mut [u8],
    ) {
        let noise = self.cfg.noise_sigma > 0.0;
        let (w, h) = (self.width, self.height);
        let ids = &scratch.surface_ids;
        // Edge mask, branch-free so that it vectorizes (a pixel beyond the border
        // counts as the same surface).
        let mask = &mut scratch.edge_mask;
        mask.clear();
        mask.resize(w * h, 0);
        for y in 0..h {
            let row = &ids[y * w..(y + 1) * w];
            let up = &ids[y.saturating_sub(1) * w..][..w];
            let down = &ids[(y + 1).min(h - 1) * w..][..w];
            let m = &mut mask[y * w..(y + 1) * w];
            for x in 0..w {
                let id = row[x];
                let left = row[x.saturating_sub(1)];
                let right = row[(x + 1).min(w - 1)];
                m[x] = u8::from((left != id) | (right != id) | (up[x] != id) | (down[x] != id));
            }
        }
        let ts = self.cfg.tile_size_px;
        let tiles_x = w.div_ceil(ts);
        for (chunk_index, chunk) in mask.chunks(8).enumerate() {
            if chunk.iter().all(|&e| e == 0) {
                continue;
            }
            for (j, &e) in chunk.iter().enumerate() {
                if e == 0 {
                    continue;
                }
                let p = chunk_index * 8 + j;
                let (x, y) = (p % w, p / w);
                let t = (y / ts) * tiles_x + x / ts;
                let tile = &self.tiles[t];
                let k = tile.offset + (y - tile.y0) * (tile.x1 - tile.x0) + (x - tile.x0);
                let items = &scratch.tile_items
                    [scratch.tile_start[t] as usize..scratch.tile_start[t + 1] as usize];
                let angle = 0.5 * self.pixel_angle[k];
                let mut sum = 0.0;
                for (sx, sy) in [(-0.25, -0.25), (0.25, -0.25), (-0.25, 0.25), (0.25, 0.25)] {
                    let dir = rotation * self.ray_at(x as f64 + sx, y as f64 + sy);
                    sum += self.trace(world, textures, &scratch.frame, origin, &dir, items, angle);
                }
                let noise_value = if noise {
                    self.noise_table[noise_byte(noise_hash(noise_key, p >> 3), p)]
                } else {
                    0.0
                };
                data[p] = self.quantize(0.25 * sum, gain, p, noise_value);
            }
        }
    }

    /// The surface seen along a pixel's centre ray and its distance (metres), for
    /// `world_from_cam`; `None` outside the image.
    #[must_use]
    pub fn cast_pixel(
        &self,
        world: &World,
        world_from_cam: &Isometry3<f64>,
        x: usize,
        y: usize,
    ) -> Option<super::world::RayHit> {
        let bearing = self.ray(x, y)?;
        let dir = world_from_cam.rotation * bearing;
        world.cast_ray(
            &world_from_cam.translation.vector.into(),
            &dir,
            f64::INFINITY,
        )
    }

    /// `gain * vignette * radiance + noise`, rounded and saturated to 8 bits.
    #[inline(always)]
    fn quantize(&self, radiance: f32, gain: f32, p: usize, noise: f32) -> u8 {
        let value = radiance * gain * self.vignette[p] + noise;
        // `as u8` saturates (and maps NaN to 0): no clamp needed.
        (value + 0.5) as u8
    }

    /// Fills the scratch's per-tile obstacle lists for this pose.
    fn cull(
        &self,
        world: &World,
        rotation: &Matrix3<f64>,
        origin: &Vector3<f64>,
        scratch: &mut RenderScratch,
    ) {
        scratch.tile_start.clear();
        scratch.tile_items.clear();
        scratch.tile_start.push(0);
        // Each obstacle's bounding box relative to the optical centre, once.
        scratch.bounds.clear();
        scratch.bounds.extend(world.obstacles.iter().map(|ob| {
            let b = ob.shape.bounds();
            (b.centre() - origin, b.half_extents())
        }));
        for tile in &self.tiles {
            match &tile.planes {
                None => scratch.tile_items.extend(0..world.obstacles.len() as u32),
                Some(planes) => {
                    let normals = planes.map(|n_cam| rotation * n_cam);
                    let abs_normals = normals.map(|n| n.abs());
                    for (i, (c, h)) in scratch.bounds.iter().enumerate() {
                        // Outside if the box's most inward corner is behind a plane.
                        let visible = normals
                            .iter()
                            .zip(&abs_normals)
                            .all(|(n, a)| n.dot(c) + a.dot(h) >= 0.0);
                        if visible {
                            scratch.tile_items.push(i as u32);
                        }
                    }
                }
            }
            scratch.tile_start.push(scratch.tile_items.len() as u32);
        }
    }

    /// Nearest surface along a ray and its filtered radiance at unit gain (the
    /// main pass's f32 geometry for one ray).
    #[allow(clippy::too_many_arguments)]
    fn trace(
        &self,
        world: &World,
        textures: &SceneTextures,
        frame: &[FrameSurface],
        origin: &Vector3<f64>,
        dir: &Vector3<f64>,
        items: &[u32],
        pixel_angle: f32,
    ) -> f32 {
        let d = [dir.x as f32, dir.y as f32, dir.z as f32];
        let (a0, a1, a2) = (1.0 / d[0], 1.0 / d[1], 1.0 / d[2]);
        let lo = (world.room.min - origin).map(|c| c as f32);
        let hi = (world.room.max - origin).map(|c| c as f32);
        let (mut t, mut surface) = room_exit_f32(&lo, &hi, a0, a1, a2);
        for &i in items {
            let ob = &world.obstacles[i as usize];
            match ob.shape {
                Shape::Box(aabb) => {
                    let bl = (aabb.min - origin).map(|c| c as f32);
                    let bh = (aabb.max - origin).map(|c| c as f32);
                    let (t_near, face, hit) = box_entry_f32(&bl, &bh, a0, a1, a2, t);
                    if hit {
                        t = t_near;
                        surface = ob.first_surface + face;
                    }
                }
                Shape::Cylinder { .. } => {
                    let inv = dir.map(|c| 1.0 / c);
                    if let Some((t_hit, face)) = ob.shape.intersect(origin, dir, &inv, f64::from(t))
                    {
                        t = t_hit as f32;
                        surface = ob.first_surface + face;
                    }
                }
            }
        }
        self.shade(world, textures, frame, origin, d, t, surface, pixel_angle)
    }

    /// Filtered radiance at unit gain of the surface `surface` hit at distance `t`
    /// along the unit direction `d` from `origin`, for a pixel of angular size
    /// `pixel_angle`.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn shade(
        &self,
        world: &World,
        textures: &SceneTextures,
        frame: &[FrameSurface],
        origin: &Vector3<f64>,
        d: [f32; 3],
        t: f32,
        surface: u32,
        pixel_angle: f32,
    ) -> f32 {
        let fs = &frame[surface as usize];
        // Texture coordinates, the cosine of incidence, and the ray's direction
        // projected on the surface in texture axes (for planes, d . u_axis and
        // d . v_axis, since the normal is orthogonal to both).
        let (u, v, cos_dn, du, dv) = match fs.plane {
            Some(plane) => {
                let dot = |a: &[f32; 3]| a[0] * d[0] + a[1] * d[1] + a[2] * d[2];
                let (du, dv) = (dot(&plane.u_axis), dot(&plane.v_axis));
                (
                    plane.u0 + t * du,
                    plane.v0 + t * dv,
                    dot(&plane.normal),
                    du,
                    dv,
                )
            }
            None => {
                let geometry = &world.surfaces[surface as usize].geometry;
                let dir = Vector3::new(f64::from(d[0]), f64::from(d[1]), f64::from(d[2]));
                let point = origin + dir * f64::from(t);
                let n = geometry.normal(&point);
                let uv = geometry.uv(&point);
                let tangent = Vector3::new(-n.y, n.x, 0.0);
                let (du, dv) = (dir.dot(&tangent) as f32, d[2]);
                (uv.x as f32, uv.y as f32, dir.dot(&n) as f32, du, dv)
            }
        };
        let texture = &textures.surfaces[surface as usize];
        let inv_cos = 1.0 / fmax(cos_dn.abs(), 0.02);
        let minor = t * pixel_angle; // footprint across the slope, metres
        let major = minor * inv_cos; // along the slope
        // Samples along the slope: the anisotropy ratio rounded (1 up to 1.5).
        let n = round_small(fmin(inv_cos, self.max_anisotropy)) as usize; // in 1..=8
        let step = major * INV_SMALL[n];
        let lod = fast_log2(fmax(step, minor) * fs.texels_per_m) + self.lod_bias;
        if n == 1 {
            texture.sample(u, v, lod)
        } else {
            let scale = step / fmax((du * du + dv * dv).sqrt(), 1e-12);
            let (du, dv) = (du * scale, dv * scale);
            let mut sum = 0.0;
            for k in 0..n {
                let s = k as f32 - 0.5 * (n - 1) as f32;
                sum += texture.sample(u + du * s, v + dv * s, lod);
            }
            sum * INV_SMALL[n]
        }
    }

    /// Per-frame shading constants of every surface, into `frame`.
    fn frame_surfaces(
        world: &World,
        textures: &SceneTextures,
        origin: &Vector3<f64>,
        frame: &mut Vec<FrameSurface>,
    ) {
        frame.clear();
        frame.extend(
            world
                .surfaces
                .iter()
                .zip(&textures.surfaces)
                .map(|(s, tex)| {
                    let texels_per_m = tex.levels()[0].texels_per_m();
                    let plane = match s.geometry {
                        SurfaceGeometry::Plane {
                            origin: o,
                            u_axis,
                            v_axis,
                            normal,
                            ..
                        } => {
                            let f = |a: Vector3<f64>| [a.x as f32, a.y as f32, a.z as f32];
                            Some(FramePlane {
                                u0: (origin - o).dot(&u_axis) as f32,
                                v0: (origin - o).dot(&v_axis) as f32,
                                u_axis: f(u_axis),
                                v_axis: f(v_axis),
                                normal: f(normal),
                            })
                        }
                        SurfaceGeometry::CylinderSide { .. } => None,
                    };
                    FrameSurface {
                        plane,
                        texels_per_m,
                    }
                }),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_symmetric_and_accurate() {
        assert!(normal_quantile(0.5).abs() < 1e-12);
        assert!((normal_quantile(0.975) - 1.959_963_984_540_054).abs() < 1e-8);
        assert!((normal_quantile(0.001) + 3.090_232_306_167_813_5).abs() < 1e-8);
        assert!((normal_quantile(0.2) + normal_quantile(0.8)).abs() < 1e-12);
    }

    #[test]
    fn fast_log2_is_close_and_monotone() {
        let mut prev = f32::NEG_INFINITY;
        for i in 1..2000 {
            let x = i as f32 * 0.01;
            let l = fast_log2(x);
            assert!((l - x.log2()).abs() < 0.09, "{x}");
            assert!(l >= prev);
            prev = l;
        }
    }

    #[test]
    fn tile_planes_contain_every_ray_of_their_tile() {
        let cam = CameraCalibration::euroc_cam0();
        let r =
            CameraRenderer::new(&cam, &RenderConfig::default()).unwrap_or_else(|e| panic!("{e}"));
        for tile in &r.tiles {
            let planes = tile
                .planes
                .unwrap_or_else(|| panic!("tile {tile:?} has no planes"));
            for y in tile.y0..tile.y1 {
                for x in tile.x0..tile.x1 {
                    for (dx, dy) in [
                        (0.0, 0.0),
                        (-0.5, -0.5),
                        (0.5, 0.5),
                        (-0.5, 0.5),
                        (0.5, -0.5),
                    ] {
                        let b = r.ray_at(x as f64 + dx, y as f64 + dy);
                        for n in &planes {
                            assert!(n.dot(&b) > 0.0, "pixel ({x}, {y}) outside its tile frustum");
                        }
                    }
                }
            }
        }
    }
}
