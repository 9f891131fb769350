//! Procedural surface textures, generated once per world surface into 8-bit texel
//! maps with mip levels, and sampled with trilinear filtering.
//!
//! Content: every surface gets its own pattern (seeded by the surface index), so no
//! two places look alike and nothing repeats: multi-octave value noise (octave
//! wavelengths from 1.6 m down to 4 texels, amplitude falling as a power of the
//! wavelength, each octave's lattice independently random), then random shapes in
//! size bands from about 0.6 m down to 2 cm (rotated rectangles, triangles and
//! quadrilaterals, ellipses, strokes, outlines and "labels" with rows of glyph-like
//! marks), the small ones mostly gathered in random clusters, drawn with
//! one-texel anti-aliasing from signed distances, then a fine per-texel grain. Straight edges meeting at angles give FAST / Shi-Tomasi
//! corners at every scale; ellipses give blobs; the noise gives KLT gradients.
//! A contrast factor (difficulty) scales everything about the surface's mean.
//!
//! Shading: the albedo is multiplied by Lambertian irradiance from the world's
//! point lights (`cos / (d^2 + d0^2)^(3/2)`, a softened inverse square with
//! `d0 = 0.5 m` standing in for the lamps' size), compressed by
//! `s = a + 2 (1 - a) E / (E + E_ref)` (ambient `a`, reference irradiance `E_ref`
//! from the room height). Lighting is view-independent, so baking it into the
//! texels is exact, and brightness constancy holds as for real matte surfaces.
//! No shadows are cast.
//!
//! Units: texture coordinates `(u, v)` are metres on the surface (see
//! [`super::world::SurfaceGeometry`]); texel `(i, j)` of level `l` covers
//! `[i, i + 1) x [j, j + 1)` times `texel_size_m * 2^l`. Values are radiance in
//! grey levels at unit exposure gain. Mip level `l + 1` is the 2x2 box average of
//! level `l` (Williams, "Pyramidal parametrics", SIGGRAPH 1983).

use nalgebra::{Vector2, Vector3};

use super::rng::{Rng, Stream};
use super::world::{SurfaceKind, World};
use crate::{DatasetError, Result};

/// Texture parameters.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct TextureConfig {
    /// Size of a level-0 texel on visible surfaces, metres (5 mm: 2-3 px at 1 m
    /// in a 458 px-focal camera; closer views magnify it).
    pub texel_size_m: f64,
    /// Texel size on surfaces no camera can see, metres.
    pub hidden_texel_size_m: f64,
    /// Contrast factor applied to each surface's pattern about its mean, 0..1.
    pub contrast: f64,
    /// Ambient share of the shading, 0..1 (the rest is from the lights).
    pub ambient: f64,
    /// Mean fraction of a surface covered by the shapes of one size band (each
    /// surface and band draws a factor in `[0.4, 1.4]` of it).
    pub shape_coverage: f64,
    /// Smallest shape, metres.
    pub shape_min_m: f64,
    /// Largest shape, metres.
    pub shape_max_m: f64,
}

impl Default for TextureConfig {
    fn default() -> Self {
        Self {
            texel_size_m: 0.005,
            hidden_texel_size_m: 0.1,
            contrast: 1.0,
            ambient: 0.35,
            shape_coverage: 0.22,
            shape_min_m: 0.02,
            shape_max_m: 0.6,
        }
    }
}

/// One mip level: `width x height` texels, row-major, radiance in grey levels at
/// unit gain.
#[derive(Debug, Clone, PartialEq)]
pub struct MipLevel {
    width: usize,
    height: usize,
    texels_per_m: f32,
    data: Vec<u8>,
    /// `256 * texels_per_m`, for fixed-point addressing.
    fixed_scale: f32,
    /// Largest fixed-point texel coordinates, `256 (width - 1) - 1` and the same
    /// for the height.
    max_x: i32,
    max_y: i32,
}

impl MipLevel {
    /// A level from its texels (`data.len() == width * height`, both >= 2).
    ///
    /// # Errors
    /// If the sizes do not match or are below 2.
    pub fn new(width: usize, height: usize, texels_per_m: f32, data: Vec<u8>) -> Result<Self> {
        if width < 2
            || height < 2
            || data.len() != width * height
            || !(texels_per_m > 0.0 && texels_per_m.is_finite())
        {
            return Err(DatasetError::InvalidArgument(format!(
                "mip level {width}x{height} with {} texels at {texels_per_m} texels/m",
                data.len()
            )));
        }
        Ok(Self::from_parts(width, height, texels_per_m, data))
    }

    fn from_parts(width: usize, height: usize, texels_per_m: f32, data: Vec<u8>) -> Self {
        Self {
            width,
            height,
            texels_per_m,
            data,
            fixed_scale: 256.0 * texels_per_m,
            max_x: (((width.max(2) - 1) as i32) << 8) - 1,
            max_y: (((height.max(2) - 1) as i32) << 8) - 1,
        }
    }

    /// Texels along `u`.
    #[must_use]
    pub fn width(&self) -> usize {
        self.width
    }

    /// Texels along `v`.
    #[must_use]
    pub fn height(&self) -> usize {
        self.height
    }

    /// Texels per metre (1 / texel size).
    #[must_use]
    pub fn texels_per_m(&self) -> f32 {
        self.texels_per_m
    }

    /// Radiance, grey levels at unit gain, `data[j * width + i]`.
    #[must_use]
    pub fn data(&self) -> &[u8] {
        &self.data
    }
}

impl MipLevel {
    /// Bilinear sample at texture coordinates `(u, v)` metres, clamped at the
    /// borders. Fixed point inside (8-bit sub-texel weights, 1/256 texel steps),
    /// which keeps the instruction count low in the renderer's inner loop.
    #[inline(always)]
    #[must_use]
    pub fn bilinear(&self, u: f32, v: f32) -> f32 {
        let top = self.bilinear_fixed(u, v);
        top as f32 * (1.0 / 65536.0)
    }

    /// [`Self::bilinear`] in 16.16 fixed point (grey levels times 65536).
    #[inline(always)]
    fn bilinear_fixed(&self, u: f32, v: f32) -> i32 {
        // Texel-centre coordinates in 24.8 fixed point, clamped so that the 2x2
        // neighbourhood lies inside the level (levels are at least 2 x 2; the last
        // texel centre is reached with weight 255/256: clamping to 1/256 texel).
        // `as i32` saturates, so far-off coordinates clamp too.
        let x = clamp_fixed(u * self.fixed_scale - 128.0, self.max_x);
        let y = clamp_fixed(v * self.fixed_scale - 128.0, self.max_y);
        let (fx, fy) = (x & 0xff, y & 0xff);
        let i = (y >> 8) as usize * self.width + (x >> 8) as usize;
        let d = &self.data;
        let (a, b) = (i32::from(d[i]), i32::from(d[i + 1]));
        let (c, e) = (
            i32::from(d[i + self.width]),
            i32::from(d[i + self.width + 1]),
        );
        let top = (a << 8) + (b - a) * fx;
        let bottom = (c << 8) + (e - c) * fx;
        (top << 8) + (bottom - top) * fy
    }
}

/// `x` clamped to `[0, max]` and rounded to the nearest integer (`max < 2^23`),
/// without a saturating float-to-int conversion: adding 2^23 puts the integer in
/// the low mantissa bits (the classic "magic number" conversion).
#[inline(always)]
fn clamp_fixed(x: f32, max: i32) -> i32 {
    let x = if x > 0.0 { x } else { 0.0 };
    let m = max as f32;
    round_small(if x < m { x } else { m }) as i32
}

/// `x` rounded to the nearest integer (ties to even) for `0 <= x < 2^23` (the
/// sum must land in `[2^23, 2^24)`, where the spacing of floats is 1).
#[inline(always)]
pub(crate) fn round_small(x: f32) -> u32 {
    (x + 8_388_608.0).to_bits() & 0x007f_ffff
}

/// A surface's texture: level 0 first, each next level half the resolution.
#[derive(Debug, Clone, PartialEq)]
pub struct SurfaceTexture {
    /// Mip levels, finest first (at least one).
    levels: Vec<MipLevel>,
    /// Index of the coarsest level, as f32.
    last: f32,
}

impl SurfaceTexture {
    /// A texture from its mip levels, finest first.
    ///
    /// # Errors
    /// If there is no level.
    pub fn new(levels: Vec<MipLevel>) -> Result<Self> {
        if levels.is_empty() {
            return Err(DatasetError::InvalidArgument(
                "a texture needs a level".into(),
            ));
        }
        Ok(Self::from_levels(levels))
    }

    fn from_levels(levels: Vec<MipLevel>) -> Self {
        let last = levels.len().saturating_sub(1) as f32;
        Self { levels, last }
    }

    /// The mip levels, finest first.
    #[must_use]
    pub fn levels(&self) -> &[MipLevel] {
        &self.levels
    }

    /// Trilinear sample at `(u, v)` metres and level of detail `lod`
    /// (`log2` of the footprint in level-0 texels; clamped to the levels there are).
    #[inline(always)]
    #[must_use]
    pub fn sample(&self, u: f32, v: f32, lod: f32) -> f32 {
        // Single-instruction max/min; NaN goes to level 0.
        let lod = if lod > 0.0 { lod } else { 0.0 };
        let lod = if lod < self.last { lod } else { self.last };
        let nearest = round_small(lod);
        let l0 = (nearest - u32::from(nearest as f32 > lod)) as usize; // floor
        let f = lod - l0 as f32;
        let a = self.levels[l0].bilinear_fixed(u, v) as f32;
        // f > 0 implies a finer level than the last, so l0 + 1 exists.
        let value = if f > 1e-3 {
            let b = self.levels[l0 + 1].bilinear_fixed(u, v) as f32;
            a + (b - a) * f
        } else {
            a
        };
        value * (1.0 / 65536.0)
    }

    /// Size of a level-0 texel, metres.
    #[must_use]
    pub fn texel_size_m(&self) -> f32 {
        1.0 / self.levels[0].texels_per_m
    }

    /// Bytes held by all levels.
    #[must_use]
    pub fn bytes(&self) -> usize {
        self.levels.iter().map(|l| l.data.len()).sum()
    }
}

/// The textures of every surface of a world, indexed like
/// [`World::surfaces`](super::world::World::surfaces).
#[derive(Debug, Clone, PartialEq)]
pub struct SceneTextures {
    /// One texture per surface.
    pub surfaces: Vec<SurfaceTexture>,
}

impl SceneTextures {
    /// Generates every surface's texture (deterministic in `seed`).
    ///
    /// # Errors
    /// If the configuration is out of range or a surface would need more than
    /// 64 Mtexels (a texel size far too small for the room).
    pub fn generate(world: &World, cfg: &TextureConfig, seed: u64) -> Result<Self> {
        let bad = |m: &str| {
            Err(DatasetError::InvalidArgument(format!(
                "texture config: {m}"
            )))
        };
        if !(cfg.texel_size_m >= 0.001 && cfg.texel_size_m <= 0.1) {
            return bad("texel_size_m must be in [0.001, 0.1]");
        }
        if !(cfg.hidden_texel_size_m >= cfg.texel_size_m && cfg.hidden_texel_size_m <= 1.0) {
            return bad("hidden_texel_size_m must be in [texel_size_m, 1]");
        }
        if !(0.0..=1.0).contains(&cfg.contrast) || !(0.0..=1.0).contains(&cfg.ambient) {
            return bad("contrast and ambient must be in [0, 1]");
        }
        if !(cfg.shape_min_m > 0.0
            && cfg.shape_min_m <= cfg.shape_max_m
            && (0.0..=2.0).contains(&cfg.shape_coverage))
        {
            return bad("shape sizes must satisfy 0 < min <= max, coverage in [0, 2]");
        }
        let mut scratch = Vec::new();
        let mut surfaces = Vec::with_capacity(world.surfaces.len());
        for (index, surface) in world.surfaces.iter().enumerate() {
            let texel = if surface.visible {
                cfg.texel_size_m
            } else {
                cfg.hidden_texel_size_m
            };
            let mut rng = Rng::stream(seed, &[Stream::Texture.id(), index as u64]);
            surfaces.push(generate_surface(
                world,
                index,
                texel,
                cfg,
                &mut rng,
                &mut scratch,
            )?);
        }
        Ok(Self { surfaces })
    }

    /// Bytes held by all textures.
    #[must_use]
    pub fn bytes(&self) -> usize {
        self.surfaces.iter().map(SurfaceTexture::bytes).sum()
    }
}

/// The look of one surface: random within its kind.
struct Style {
    /// Mean albedo.
    base: f32,
    /// Amplitude of the coarsest noise octave (albedo units).
    noise_amplitude: f32,
    /// Amplitude ratio per octave halving (the Hurst-like exponent, as 2^-H).
    noise_falloff: f32,
    /// Per-texel grain amplitude.
    grain: f32,
    /// Shape coverage multiplier.
    shapes: f32,
    /// Contrast of shapes against the base (albedo units).
    shape_contrast: f32,
    /// Relative frequency of labels (rows of glyphs).
    labels: f32,
    /// Relative frequency of long strokes.
    strokes: f32,
}

fn style_for(kind: SurfaceKind, rng: &mut Rng) -> Style {
    let r = |rng: &mut Rng, lo: f64, hi: f64| rng.range(lo, hi) as f32;
    match kind {
        SurfaceKind::Wall => Style {
            base: r(rng, 0.45, 0.65),
            noise_amplitude: r(rng, 0.06, 0.12),
            noise_falloff: r(rng, 0.6, 0.8),
            grain: r(rng, 0.02, 0.04),
            shapes: r(rng, 0.7, 1.3),
            shape_contrast: r(rng, 0.2, 0.4),
            labels: r(rng, 0.1, 0.3),
            strokes: r(rng, 0.1, 0.3),
        },
        SurfaceKind::Floor => Style {
            base: r(rng, 0.3, 0.45),
            noise_amplitude: r(rng, 0.1, 0.16),
            noise_falloff: r(rng, 0.7, 0.85),
            grain: r(rng, 0.03, 0.06),
            shapes: r(rng, 0.6, 1.0),
            shape_contrast: r(rng, 0.15, 0.3),
            labels: 0.02,
            strokes: r(rng, 0.2, 0.4),
        },
        SurfaceKind::Ceiling => Style {
            base: r(rng, 0.55, 0.7),
            noise_amplitude: r(rng, 0.04, 0.08),
            noise_falloff: r(rng, 0.6, 0.75),
            grain: r(rng, 0.015, 0.03),
            shapes: r(rng, 0.4, 0.7),
            shape_contrast: r(rng, 0.15, 0.3),
            labels: 0.05,
            strokes: 0.1,
        },
        SurfaceKind::Object => Style {
            base: r(rng, 0.2, 0.7),
            noise_amplitude: r(rng, 0.05, 0.12),
            noise_falloff: r(rng, 0.65, 0.85),
            grain: r(rng, 0.02, 0.05),
            shapes: r(rng, 0.8, 1.5),
            shape_contrast: r(rng, 0.2, 0.45),
            labels: r(rng, 0.2, 0.5),
            strokes: r(rng, 0.1, 0.3),
        },
        SurfaceKind::Structure => Style {
            base: r(rng, 0.35, 0.6),
            noise_amplitude: r(rng, 0.07, 0.12),
            noise_falloff: r(rng, 0.7, 0.85),
            grain: r(rng, 0.02, 0.05),
            shapes: r(rng, 0.6, 1.1),
            shape_contrast: r(rng, 0.2, 0.35),
            labels: r(rng, 0.1, 0.3),
            strokes: r(rng, 0.1, 0.3),
        },
    }
}

/// A working albedo canvas (f32, level-0 resolution).
struct Canvas<'a> {
    width: usize,
    height: usize,
    /// Texels per metre.
    scale: f64,
    data: &'a mut [f32],
}

impl Canvas<'_> {
    /// Paints a shape given by its signed distance in metres (negative inside),
    /// over the texel rectangle covering `[lo, hi]` (metres), with value `value`
    /// and opacity `opacity`, anti-aliased over one texel.
    fn paint(
        &mut self,
        lo: Vector2<f64>,
        hi: Vector2<f64>,
        value: f32,
        opacity: f32,
        sdf: impl Fn(f64, f64) -> f64,
    ) {
        let i0 = ((lo.x * self.scale).floor().max(0.0)) as usize;
        let j0 = ((lo.y * self.scale).floor().max(0.0)) as usize;
        let i1 = ((hi.x * self.scale).ceil().max(0.0) as usize).min(self.width);
        let j1 = ((hi.y * self.scale).ceil().max(0.0) as usize).min(self.height);
        let inv = 1.0 / self.scale;
        for j in j0..j1 {
            let v = (j as f64 + 0.5) * inv;
            let row = &mut self.data[j * self.width..(j + 1) * self.width];
            for (i, texel) in row.iter_mut().enumerate().take(i1).skip(i0) {
                let u = (i as f64 + 0.5) * inv;
                let d = sdf(u, v) * self.scale; // texels
                let coverage = (0.5 - d).clamp(0.0, 1.0) as f32;
                if coverage > 0.0 {
                    let a = coverage * opacity;
                    *texel += (value - *texel) * a;
                }
            }
        }
    }
}

/// Signed distance (metres) to a convex polygon given by unit edge normals
/// `n_k` and offsets `c_k` (inside where every `n_k . p < c_k`): the largest
/// half-plane distance, exact on the edges, which is where anti-aliasing needs it.
fn convex_sdf(normals: &[Vector2<f64>], offsets: &[f64], u: f64, v: f64) -> f64 {
    normals
        .iter()
        .zip(offsets)
        .map(|(n, c)| n.x * u + n.y * v - c)
        .fold(f64::NEG_INFINITY, f64::max)
}

/// Edge normals and offsets of a convex polygon with counter-clockwise vertices.
fn convex_edges(vertices: &[Vector2<f64>]) -> (Vec<Vector2<f64>>, Vec<f64>) {
    let n = vertices.len();
    let mut normals = Vec::with_capacity(n);
    let mut offsets = Vec::with_capacity(n);
    for k in 0..n {
        let a = vertices[k];
        let b = vertices[(k + 1) % n];
        let e = b - a;
        let len = e.norm().max(1e-12);
        let normal = Vector2::new(e.y, -e.x) / len; // outward for counter-clockwise
        normals.push(normal);
        offsets.push(normal.dot(&a));
    }
    (normals, offsets)
}

/// A value contrasting with `base` by `contrast`, kept in `[0.03, 0.97]`.
fn contrasting(base: f32, contrast: f32, rng: &mut Rng) -> f32 {
    let delta = contrast * rng.range(0.4, 1.0) as f32;
    let up = if base + delta > 0.97 {
        false
    } else if base - delta < 0.03 {
        true
    } else {
        rng.chance(0.5)
    };
    (if up { base + delta } else { base - delta }).clamp(0.03, 0.97)
}

/// Adds one octave of value noise: a random lattice with spacing `spacing`
/// texels, smoothly (quintic) interpolated, times `amplitude`.
fn add_value_noise(canvas: &mut Canvas<'_>, spacing: f64, amplitude: f32, rng: &mut Rng) {
    let (w, h) = (canvas.width, canvas.height);
    let lw = (w as f64 / spacing).ceil() as usize + 3;
    let lh = (h as f64 / spacing).ceil() as usize + 3;
    let lattice: Vec<f32> = (0..lw * lh).map(|_| rng.range(-1.0, 1.0) as f32).collect();
    let (ox, oy) = (rng.uniform(), rng.uniform()); // lattice phase, in cells
    let fade = |t: f64| (t * t * t * (t * (t * 6.0 - 15.0) + 10.0)) as f32;
    let cols: Vec<(usize, f32)> = (0..w)
        .map(|i| {
            let x = (i as f64 + 0.5) / spacing + ox;
            (x.floor() as usize, fade(x - x.floor()))
        })
        .collect();
    for j in 0..h {
        let y = (j as f64 + 0.5) / spacing + oy;
        let (cy, fy) = (y.floor() as usize, fade(y - y.floor()));
        let r0 = &lattice[cy * lw..(cy + 1) * lw];
        let r1 = &lattice[(cy + 1) * lw..(cy + 2) * lw];
        let row = &mut canvas.data[j * w..(j + 1) * w];
        for (texel, &(cx, fx)) in row.iter_mut().zip(&cols) {
            let a = r0[cx] + (r0[cx + 1] - r0[cx]) * fx;
            let b = r1[cx] + (r1[cx + 1] - r1[cx]) * fx;
            *texel += amplitude * (a + (b - a) * fy);
        }
    }
}

/// Draws one random shape of about `size` metres centred at `c`.
fn draw_shape(canvas: &mut Canvas<'_>, style: &Style, c: Vector2<f64>, size: f64, rng: &mut Rng) {
    let base_here = style.base;
    let value = contrasting(base_here, style.shape_contrast, rng);
    let opacity = rng.range(0.6, 1.0) as f32;
    let angle = if rng.chance(0.5) {
        0.0
    } else {
        rng.range(0.0, std::f64::consts::PI)
    };
    let (s, co) = angle.sin_cos();
    let rot = |p: Vector2<f64>| Vector2::new(co * p.x - s * p.y, s * p.x + co * p.y);
    let pick = rng.uniform() as f32;
    let labels = style.labels;
    let strokes = labels + style.strokes;
    if pick < labels {
        draw_label(canvas, style, c, size, rng);
    } else if pick < strokes {
        // A thick line, possibly long.
        let len = size * rng.range(1.0, 4.0);
        let half_w = (size * rng.range(0.03, 0.12)).max(0.5 / canvas.scale);
        let d = rot(Vector2::new(len / 2.0, 0.0));
        let (a, b) = (c - d, c + d);
        let pad = Vector2::new(half_w + 0.01, half_w + 0.01);
        canvas.paint(a.inf(&b) - pad, a.sup(&b) + pad, value, opacity, |u, v| {
            let p = Vector2::new(u, v) - a;
            let ab = b - a;
            let t = (p.dot(&ab) / ab.norm_squared()).clamp(0.0, 1.0);
            (p - ab * t).norm() - half_w
        });
    } else {
        let kind = rng.below(10);
        let half = Vector2::new(size / 2.0, size / 2.0 * rng.range(0.3, 1.0));
        let pad = Vector2::new(size, size) * 0.75;
        if kind < 2 {
            // Ellipse (blob); approximate distance, exact enough at the rim.
            let r = half;
            canvas.paint(c - pad, c + pad, value, opacity, |u, v| {
                let p = Vector2::new(u, v) - c;
                let q = Vector2::new(co * p.x + s * p.y, -s * p.x + co * p.y);
                let k = (q.x * q.x / (r.x * r.x) + q.y * q.y / (r.y * r.y)).sqrt();
                (k - 1.0) * r.x.min(r.y)
            });
        } else {
            // Convex polygon: rectangle, triangle or irregular quadrilateral.
            let vertices: Vec<Vector2<f64>> = match kind {
                2..=5 => [(-1.0, -1.0), (1.0, -1.0), (1.0, 1.0), (-1.0, 1.0)]
                    .iter()
                    .map(|&(x, y)| c + rot(Vector2::new(x * half.x, y * half.y)))
                    .collect(),
                6..=7 => {
                    // Triangle from three angles around the centre.
                    let a0 = rng.range(0.0, std::f64::consts::TAU);
                    let a1 = a0 + rng.range(1.4, 2.6);
                    let a2 = a1 + rng.range(1.4, 2.6);
                    [a0, a1, a2]
                        .iter()
                        .map(|&a| c + Vector2::new(a.cos(), a.sin()) * half.x)
                        .collect()
                }
                _ => {
                    let mut a = rng.range(0.0, std::f64::consts::TAU);
                    (0..4)
                        .map(|_| {
                            let p =
                                c + Vector2::new(a.cos(), a.sin()) * half.x * rng.range(0.6, 1.0);
                            a += rng.range(1.1, 1.9);
                            p
                        })
                        .collect()
                }
            };
            let mut lo = vertices[0];
            let mut hi = vertices[0];
            for p in &vertices {
                lo = lo.inf(p);
                hi = hi.sup(p);
            }
            let (normals, offsets) = convex_edges(&vertices);
            let pad1 = Vector2::new(2.0, 2.0) / canvas.scale;
            if rng.chance(0.2) {
                // Outline only.
                let half_w = (size * rng.range(0.02, 0.06)).max(0.6 / canvas.scale);
                let pad2 = pad1 + Vector2::new(half_w, half_w);
                canvas.paint(lo - pad2, hi + pad2, value, opacity, |u, v| {
                    convex_sdf(&normals, &offsets, u, v).abs() - half_w
                });
            } else {
                canvas.paint(lo - pad1, hi + pad1, value, opacity, |u, v| {
                    convex_sdf(&normals, &offsets, u, v)
                });
            }
        }
    }
}

/// A label: a light or dark panel with rows of glyph-like marks on it.
fn draw_label(canvas: &mut Canvas<'_>, style: &Style, c: Vector2<f64>, size: f64, rng: &mut Rng) {
    let panel = contrasting(style.base, style.shape_contrast * 0.7, rng);
    let half = Vector2::new(size / 2.0, size / 2.0 * rng.range(0.4, 0.9));
    let (lo, hi) = (c - half, c + half);
    canvas.paint(lo, hi, panel, 1.0, |u, v| {
        let q = (Vector2::new(u, v) - c).abs() - half;
        q.x.max(q.y)
    });
    let ink = contrasting(panel, style.shape_contrast.max(0.3), rng);
    let glyph_h = (half.y * rng.range(0.12, 0.3)).max(1.5 / canvas.scale);
    let line_gap = glyph_h * rng.range(0.5, 1.0);
    let margin = glyph_h * 0.6;
    let mut y = lo.y + margin;
    while y + glyph_h < hi.y - margin * 0.5 {
        let mut x = lo.x + margin;
        let line_end = hi.x - margin - rng.range(0.0, half.x);
        while x < line_end {
            let gw = glyph_h * rng.range(0.3, 1.0);
            let gh = glyph_h * rng.range(0.5, 1.0);
            let g_lo = Vector2::new(x, y + glyph_h - gh);
            let g_hi = Vector2::new((x + gw).min(line_end), y + glyph_h);
            let gc = (g_lo + g_hi) * 0.5;
            let gh2 = (g_hi - g_lo) * 0.5;
            canvas.paint(g_lo, g_hi, ink, 1.0, |u, v| {
                let q = (Vector2::new(u, v) - gc).abs() - gh2;
                q.x.max(q.y)
            });
            x += gw + glyph_h * rng.range(0.15, 0.5);
            if rng.chance(0.15) {
                x += glyph_h; // a word gap
            }
        }
        y += glyph_h + line_gap;
    }
}

/// Irradiance of the world's lights at `p` with normal `n` (softened inverse square).
fn irradiance(world: &World, p: &Vector3<f64>, n: &Vector3<f64>) -> f64 {
    const D0_SQUARED: f64 = 0.25; // (0.5 m)^2, the lamps' size
    world
        .lights
        .iter()
        .map(|l| {
            let d = l.position - p;
            let cos_d = n.dot(&d).max(0.0); // cos * |d|
            let r2 = d.norm_squared() + D0_SQUARED;
            l.intensity * cos_d / (r2 * r2.sqrt())
        })
        .sum()
}

fn generate_surface(
    world: &World,
    index: usize,
    texel: f64,
    cfg: &TextureConfig,
    rng: &mut Rng,
    scratch: &mut Vec<f32>,
) -> Result<SurfaceTexture> {
    let surface = &world.surfaces[index];
    let size = surface.geometry.size();
    let width = ((size.x / texel).ceil() as usize).max(2);
    let height = ((size.y / texel).ceil() as usize).max(2);
    if width.saturating_mul(height) > 64 << 20 {
        return Err(DatasetError::InvalidArgument(format!(
            "surface {index} of {:.1} x {:.1} m needs {width} x {height} texels at {texel} m",
            size.x, size.y
        )));
    }
    let style = style_for(surface.kind, rng);
    scratch.clear();
    scratch.resize(width * height, style.base);
    let scale = 1.0 / texel;
    let mut canvas = Canvas {
        width,
        height,
        scale,
        data: scratch,
    };

    // Multi-octave value noise, coarse to fine.
    let mut wavelength = 1.6; // metres
    let mut amplitude = style.noise_amplitude;
    while wavelength * scale >= 4.0 {
        add_value_noise(&mut canvas, wavelength * scale, amplitude, rng);
        wavelength *= 0.5;
        amplitude *= style.noise_falloff;
    }

    // Shapes, large to small so small detail lies on top.
    if surface.visible {
        let area = size.x * size.y;
        // Small shapes gather in clusters (notice boards, shelves, stains) with
        // quieter surface between them, as on real walls.
        let cluster_count = ((area * rng.range(0.3, 1.0)).round() as usize).max(1);
        let clusters: Vec<(Vector2<f64>, f64)> = (0..cluster_count)
            .map(|_| {
                let c = Vector2::new(rng.range(0.0, size.x), rng.range(0.0, size.y));
                (c, rng.range(0.1, 0.4))
            })
            .collect();
        let mut band = cfg.shape_max_m;
        while band >= cfg.shape_min_m * 0.999 {
            let density = cfg.shape_coverage * f64::from(style.shapes) * rng.range(0.4, 1.4);
            let expected = density * area / (band * band);
            // Stochastic rounding keeps small surfaces' expectation right.
            let count = expected.floor() as usize + usize::from(rng.chance(expected.fract()));
            for _ in 0..count {
                let c = if band <= 0.1 && rng.chance(0.7) {
                    let (centre, spread) = clusters[rng.below(clusters.len() as u64) as usize];
                    centre + Vector2::new(rng.gaussian(), rng.gaussian()) * spread
                } else {
                    Vector2::new(rng.range(0.0, size.x), rng.range(0.0, size.y))
                };
                let s = band * rng.range(0.7, 1.4);
                draw_shape(&mut canvas, &style, c, s, rng);
            }
            band *= 0.5;
        }
    }

    // Grain, contrast, shading, quantization.
    let contrast = cfg.contrast as f32;
    let ambient = cfg.ambient;
    let e_ref = {
        let h = world.room.max.z - world.room.min.z;
        let intensity: f64 = world.lights.iter().map(|l| l.intensity).sum();
        (intensity / (h * h)).max(1e-9)
    };
    let mut level0 = vec![0_u8; width * height];
    // Shading varies slowly: evaluate it every 4 texels along u and interpolate.
    const SHADE_STEP: usize = 4;
    let mut shade_row = vec![0.0_f32; width / SHADE_STEP + 2];
    for j in 0..height {
        let v = (j as f64 + 0.5) * texel;
        for (k, s) in shade_row.iter_mut().enumerate() {
            let u = ((k * SHADE_STEP) as f64 + 0.5) * texel;
            let uv = Vector2::new(u.min(size.x), v.min(size.y));
            let p = surface.geometry.point(&uv);
            let n = surface.geometry.normal(&p);
            let e = if world.lights.is_empty() {
                e_ref
            } else {
                irradiance(world, &p, &n)
            };
            *s = (ambient + 2.0 * (1.0 - ambient) * e / (e + e_ref)) as f32;
        }
        for i in 0..width {
            let k = i / SHADE_STEP;
            let f = (i % SHADE_STEP) as f32 / SHADE_STEP as f32;
            let shade = shade_row[k] + (shade_row[k + 1] - shade_row[k]) * f;
            let grain = style.grain * (rng.uniform() as f32 * 2.0 - 1.0);
            let albedo = canvas.data[j * width + i] + grain;
            let albedo = (style.base + contrast * (albedo - style.base)).clamp(0.02, 0.98);
            level0[j * width + i] = (255.0 * albedo * shade).round().clamp(0.0, 255.0) as u8;
        }
    }
    Ok(SurfaceTexture::from_levels(build_mips(
        width,
        height,
        scale as f32,
        level0,
    )))
}

/// Mip levels from level 0 by 2x2 box averaging, down to 2 texels or 10 levels.
fn build_mips(width: usize, height: usize, texels_per_m: f32, data: Vec<u8>) -> Vec<MipLevel> {
    let mut levels = vec![MipLevel::from_parts(width, height, texels_per_m, data)];
    while levels.len() < 10 {
        let Some(prev) = levels.last() else { break };
        if prev.width.max(prev.height) <= 2 {
            break;
        }
        let w = prev.width.div_ceil(2).max(2);
        let h = prev.height.div_ceil(2).max(2);
        let mut data = vec![0_u8; w * h];
        for j in 0..h {
            let j0 = (2 * j).min(prev.height - 1);
            let j1 = (2 * j + 1).min(prev.height - 1);
            for i in 0..w {
                let i0 = (2 * i).min(prev.width - 1);
                let i1 = (2 * i + 1).min(prev.width - 1);
                let p = &prev.data;
                let sum = u32::from(p[j0 * prev.width + i0])
                    + u32::from(p[j0 * prev.width + i1])
                    + u32::from(p[j1 * prev.width + i0])
                    + u32::from(p[j1 * prev.width + i1]);
                data[j * w + i] = ((sum + 2) / 4) as u8;
            }
        }
        let texels_per_m = prev.texels_per_m * 0.5;
        levels.push(MipLevel::from_parts(w, h, texels_per_m, data));
    }
    levels
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::world::Aabb;

    #[test]
    fn mip_levels_halve_and_average() {
        let data: Vec<u8> = (0..16).map(|i| (i * 10) as u8).collect();
        let levels = build_mips(4, 4, 100.0, data);
        assert_eq!(levels.len(), 2);
        assert_eq!((levels[1].width, levels[1].height), (2, 2));
        // Top-left 2x2 of 0,10,40,50 -> 25.
        assert_eq!(levels[1].data[0], 25);
        assert!((levels[1].texels_per_m - 50.0).abs() < 1e-6);
    }

    #[test]
    fn bilinear_hits_texel_centres_and_interpolates() {
        let level =
            MipLevel::new(2, 2, 100.0, vec![0, 100, 0, 100]).unwrap_or_else(|e| panic!("{e}"));
        assert!((level.bilinear(0.005, 0.005) - 0.0).abs() < 1e-4);
        // The last texel centre is reached to within 1/256 texel.
        assert!((level.bilinear(0.015, 0.005) - 100.0).abs() < 0.5);
        assert!((level.bilinear(0.010, 0.005) - 50.0).abs() < 1e-3);
        assert!((level.bilinear(-1.0, 0.005) - 0.0).abs() < 1e-4); // clamped
        assert!((level.bilinear(1.0, 1.0) - 100.0).abs() < 0.5); // clamped
    }

    #[test]
    fn fixed_point_bilinear_matches_float_interpolation() {
        let (w, h) = (37, 23);
        let mut rng = Rng::from_seed(4);
        let data: Vec<u8> = (0..w * h).map(|_| rng.below(256) as u8).collect();
        let level = MipLevel::new(w, h, 200.0, data.clone()).unwrap_or_else(|e| panic!("{e}"));
        for _ in 0..10_000 {
            // Inside the texel centres' hull.
            let x = rng.range(0.0, (w - 1) as f64 - 0.01);
            let y = rng.range(0.0, (h - 1) as f64 - 0.01);
            let (i, j) = (x.floor() as usize, y.floor() as usize);
            let (fx, fy) = (x - i as f64, y - j as f64);
            let at = |i: usize, j: usize| f64::from(data[j * w + i]);
            let top = at(i, j) + (at(i + 1, j) - at(i, j)) * fx;
            let bottom = at(i, j + 1) + (at(i + 1, j + 1) - at(i, j + 1)) * fx;
            let expected = top + (bottom - top) * fy;
            let got = level.bilinear(((x + 0.5) / 200.0) as f32, ((y + 0.5) / 200.0) as f32);
            // 1/256-texel positions: at most 255 * 2/256 grey levels off.
            assert!(
                (f64::from(got) - expected).abs() < 2.0,
                "{x} {y}: {got} vs {expected}"
            );
        }
    }

    #[test]
    fn textures_are_rich_unique_and_deterministic() {
        let mut world = World::empty_room(Aabb::new(
            Vector3::new(-3.0, -2.5, 0.0),
            Vector3::new(3.0, 2.5, 2.8),
        ))
        .unwrap_or_else(|e| panic!("{e}"));
        world.add_ceiling_lights(4, &mut Rng::from_seed(1));
        let cfg = TextureConfig {
            texel_size_m: 0.01,
            ..TextureConfig::default()
        };
        let t = SceneTextures::generate(&world, &cfg, 5).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            t,
            SceneTextures::generate(&world, &cfg, 5).unwrap_or_else(|e| panic!("{e}"))
        );
        let wall = &t.surfaces[0].levels[0];
        // Strong gradients at the finest level across the wall: a texture, not a flat tone.
        let mut strong = 0;
        for j in 1..wall.height - 1 {
            for i in 1..wall.width - 1 {
                let at = |x: usize, y: usize| i32::from(wall.data[y * wall.width + x]);
                let gx = at(i + 1, j) - at(i - 1, j);
                let gy = at(i, j + 1) - at(i, j - 1);
                if gx * gx + gy * gy > 20 * 20 {
                    strong += 1;
                }
            }
        }
        let frac = strong as f64 / (wall.width * wall.height) as f64;
        assert!(frac > 0.03, "{frac}");
        // Two walls of the same size are different.
        assert_ne!(t.surfaces[0].levels[0].data, t.surfaces[1].levels[0].data);
        let other = SceneTextures::generate(&world, &cfg, 6).unwrap_or_else(|e| panic!("{e}"));
        assert_ne!(
            t.surfaces[0].levels[0].data,
            other.surfaces[0].levels[0].data
        );
    }
}
