//! Fast Shannon mutual information (FSMI) between the 2D map and a planar range
//! sensor's next reading, per beam and per pose, read from the int8 map.
//!
//! Following Zhang, Henderson, Sze and Karaman, "FSMI: Fast computation of
//! Shannon mutual information for information-theoretic mapping" (ICRA 2019;
//! IJRR 2020). A beam's cells `0..n` are those a fixed-step walk meets:
//! sample `s` at distance `(s + 1) res` from the sensor (from a cell's centre,
//! the centres of the cells along an axis). A fixed step meets some cells
//! twice and skips the corner cells a diagonal crosses, so a beam can pass
//! between two diagonal neighbours where the map's exact insertion could not;
//! the uniform spacing is what makes the noise a fixed filter (below). With
//! `o_i` the occupancy probability of cell `i`, the event `e_j` "cell `j` is
//! the first occupied one" has probability
//!
//! ```text
//! P(e_j) = o_j prod_{l<j} (1 - o_l),        P(e_n) = prod_{l<n} (1 - o_l)  (no return)
//! ```
//!
//! A reading falling in cell `k` updates cells `i < k` as misses and cell `k`
//! as a hit (the map's own inverse sensor model); a reading beyond the beam
//! (`k >= n`) makes every cell a miss; one short of the sensor (`k < 0`) says
//! nothing. The information of such a reading is
//!
//! ```text
//! C_k = kl_hit(o_k) + sum_{i<k} kl_miss(o_i)                           (FSMI eq. 11)
//! ```
//!
//! where `kl_x(o)` is the Kullback-Leibler divergence of the updated cell from
//! the prior cell, the per-cell term FSMI writes in closed form as
//! `f(delta, r) = ln((r + 1) / (r + 1/delta)) - ln(delta) / (r delta + 1)`
//! with `r` the cell's odds and `delta` the update's odds factor ([`fsmi_f`];
//! FSMI eq. 9). The mutual information of the beam is then
//!
//! ```text
//! I = sum_j sum_k P(e_j) G_{k,j} C_k,   G_{k,j} = P(reading in cell k | e_j)   (FSMI Thm. 1)
//! ```
//!
//! With range noise that depends only on `k - j` (cells one step apart),
//! `G_{k,j} = g[k - j]`, and the inner sum is a short filter over the `C`
//! array: a Gaussian truncated at `t` sigma has `2 ceil(t sigma / res) + 1`
//! taps, so a beam costs O(n (2 Delta + 1)) (FSMI section IV-C); uniform noise
//! over `2 Delta + 1` cells is a running-window sum, O(n) whatever its width
//! (FSMI section IV-D).
//!
//! What is fixed-point here: the cells are the map's int8 log-odds, and every
//! per-cell quantity (`o`, `1 - o`, `kl_hit`, `kl_miss`) is a 256-entry table
//! indexed by the cell's byte, built once from the map's own quantized update,
//! clamps included (a cell at a clamp gains nothing from another reading of
//! the same kind, exactly as the map behaves). The accumulation is f32.
//! Information is in bits.
//!
//! The direct mode ([`TermSource::Direct`], [`Fsmi::with_terms`]) is the
//! naive counterpart, there to measure what the tables save in a before/after
//! energy study (`cargo bench -p exploration --bench mi_tables`): every cell
//! visit computes its four terms from the int8 value with [`CellFormula`] (an
//! `exp` for the probabilities, an `expm1` and an `ln_1p` per reading for the
//! divergences, through the same quantized update and clamps), in registers
//! and with no table read. The scores equal the table's up to f32 rounding
//! (about 1e-6 relative) and an unknown cell reads as even odds in both;
//! [`Fsmi::cost`] counts the same visits, walk, grid byte, scratch and
//! filter, with the table's 16 bytes a visit replaced by the formula's 205
//! operations (the table path counts 30 a visit with the default 9-tap
//! filter).
//!
//! Beam walks step in 16.16 fixed point through the grid's unknown border, so
//! the inner loop has no floor, no division and no bounds logic beyond the
//! slice index. `EarlyExit::On` stops a beam once the chance that the reading
//! comes from beyond the walked cells falls under 1e-6 (plus the filter's
//! reach), which bounds the neglected information by 1e-6 times the largest
//! `C_k` of the whole beam, unwalked cells included (at most `C_n`, every cell
//! a miss).
//!
//! The fan ([`BeamFan`]): a full turn by default (a planar 360-degree lidar),
//! beam `b` at `2 pi b / beams` from +x whatever the heading, so a pose is a
//! position. A narrower field of view `fov` (a forward-looking camera: EuRoC's
//! cam0, 752 px wide with `fx` = 458 px, sees about 79 degrees,
//! [`BeamFan::pinhole_fov_rad`]) spreads the beams' centres evenly over
//! `[heading - fov / 2, heading + fov / 2]`, beam `b` at
//! `heading - fov / 2 + (b + 0.5) fov / beams`, and a pose is a position and a
//! heading ([`Fsmi::pose_heading`]; [`Fsmi::pose`] and [`Fsmi::score_all`]
//! face +x). The beams' 16.16 steps are computed once for a full turn and
//! again whenever a narrower fan turns to another heading (a sine and a cosine
//! per beam, counted in [`Fsmi::cost`]); the walk and the filter are the same.
//! Frames and units: world frame, metres, radians from +x (counter-clockwise,
//! z up).

use cost::{KernelCost, OpCounts, Residence};
use mapping::QuantizedModel;
use mapping::logodds::UNKNOWN_I8;
use mapping::map::CellModel;

use crate::grid::Grid2;
use crate::{ExplorationError, Result};

/// One fixed-point unit of the beam walk (16.16).
const FIXED_ONE: f64 = 65536.0;
/// The no-return probability under which `EarlyExit::On` stops a beam.
const EXIT_BELOW: f32 = 1e-6;
/// Products under this flush to zero, so nothing denormal enters the loop.
const FLUSH_BELOW: f32 = 1e-30;

/// f64 operations counted per steered beam (a fan narrower than a full turn
/// turned to a new heading, see [`Fsmi::cost`]): the beam's angle (six: `b +
/// 0.5`, the product and the quotient by the fan, the half field of view and
/// two adds), a sine and a cosine as fdlibm evaluates them (each a Cody-Waite
/// reduction by pi / 2 of six operations, an odd or even polynomial kernel of
/// fifteen and the quadrant's selection of three: 24), and the two 16.16
/// conversions (a multiply and a rounding each: four).
pub const STEER_F64_OPS: u64 = 6 + 2 * 24 + 4;

/// The per-cell terms of one int8 cell value.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
#[repr(C, align(16))]
pub struct CellTerms {
    /// Occupancy probability `o`.
    pub occupied: f32,
    /// `1 - o`.
    pub free: f32,
    /// Information of a hit in this cell, bits (`kl_hit`).
    pub hit_bits: f32,
    /// Information of a miss through this cell, bits (`kl_miss`).
    pub miss_bits: f32,
}

/// Kullback-Leibler divergence of Bernoulli `q` from Bernoulli `p`, bits.
#[must_use]
pub fn bernoulli_kl_bits(q: f64, p: f64) -> f64 {
    let term = |a: f64, b: f64| if a > 0.0 { a * (a / b).log2() } else { 0.0 };
    term(q, p) + term(1.0 - q, 1.0 - p)
}

/// FSMI's closed form of the per-cell information, nats: a cell of odds `r`
/// whose odds a reading multiplies by `delta` (FSMI eq. 9). Equals
/// [`bernoulli_kl_bits`] (times ln 2) of the updated cell from the prior one.
#[must_use]
pub fn fsmi_f(delta: f64, r: f64) -> f64 {
    ((r + 1.0) / (r + 1.0 / delta)).ln() - delta.ln() / (r * delta + 1.0)
}

/// Occupancy probability of an int8 value (unknown: 0.5).
#[must_use]
pub fn probability(model: &QuantizedModel, v: i8) -> f64 {
    let log_odds = model.log_odds(v).unwrap_or(0.0);
    1.0 / (1.0 + (-log_odds).exp())
}

/// The 256 per-cell terms of a quantized model, indexed by the cell's byte.
#[derive(Debug, Clone, PartialEq)]
pub struct CellTable(Box<[CellTerms; 256]>);

impl CellTable {
    /// The terms of every int8 value under `model`'s update, clamps included.
    #[must_use]
    pub fn new(model: &QuantizedModel) -> Self {
        let mut terms = Box::new([CellTerms::default(); 256]);
        for (byte, t) in terms.iter_mut().enumerate() {
            let v = byte as u8 as i8;
            let o = probability(model, v);
            let hit = probability(model, model.update(v, true));
            let miss = probability(model, model.update(v, false));
            *t = CellTerms {
                occupied: o as f32,
                free: (1.0 - o) as f32,
                hit_bits: bernoulli_kl_bits(hit, o) as f32,
                miss_bits: bernoulli_kl_bits(miss, o) as f32,
            };
        }
        Self(terms)
    }

    /// The terms of value `v`.
    #[must_use]
    #[inline]
    pub fn get(&self, v: i8) -> &CellTerms {
        &self.0[v as u8 as usize]
    }
}

/// The per-cell terms of an int8 value computed from scratch in f32 at every
/// call, with the exponential and the logarithm: what [`CellTable`] saves
/// (see the module documentation). The same quantized update and clamps, so
/// the terms equal the table's up to f32 rounding; unknown (-128) is
/// computed as 0 (even odds, updated from 0), as the table holds it.
///
/// With `l` the cell's log-odds and `D` a reading's change of it (the clamped
/// update, 0 at a clamp): the Bernoulli distribution is symmetric under
/// exchanging occupied and free (`l -> -l`, `D -> -D`), so the formula works
/// with `x = |l|` and `delta = D` (or `-D` where `l < 0`). Then `e = exp(-x)`
/// is in `(0, 1]` and `s = e / (1 + e)` is the minority probability (`o`
/// where `l < 0`, else `1 - o`), `1 - s` the majority one. After the reading,
/// `e' = e (1 + m)` with `m = expm1(-delta)`, `s' = e' / (1 + e')`, and the
/// Kullback-Leibler divergence of the updated cell from the prior one is
///
/// ```text
/// kl = -ln_1p(m s) - s' delta   nats   (= ln((1 - s') / (1 - s)) - s' delta)
/// ```
///
/// FSMI's eq. 9 ([`fsmi_f`]) with the logarithm's argument `1 + m s` exact to
/// rounding: with `exp` and `ln` instead (`ln(d / d')`, `d = 1 + e`), a
/// change of one step next to a clamp came out up to 12 % off; `expm1` and
/// `ln_1p` cost about what `exp` and `ln` cost. The two terms still cancel to
/// second order when `delta` is small (`kl ~ s (1 - s) delta^2 / 2`), so the
/// absolute error is a few f32 roundings of `s |delta|`, not of `kl` (at
/// most 8.2e-6 relative over the 256 values of the models tested). Per call:
/// one `exp` (the prior), two `expm1` and two `ln_1p` (one each per reading);
/// see [`CellFormula::ops`] for the count.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CellFormula {
    model: QuantizedModel,
    /// Log-odds per step, f32.
    step: f32,
}

impl CellFormula {
    /// The formula for `model`'s update, clamps included.
    #[must_use]
    pub fn new(model: &QuantizedModel) -> Self {
        Self {
            model: *model,
            step: model.step as f32,
        }
    }

    /// The terms of value `v`, computed.
    #[must_use]
    #[inline]
    pub fn get(&self, v: i8) -> CellTerms {
        let base = if v == UNKNOWN_I8 { 0 } else { v };
        let flip = base < 0;
        let step = self.step;
        // The readings' changes `delta` (0 at a clamp), negated where l < 0.
        let change = |hit: bool| {
            let steps = i16::from(self.model.update(base, hit)) - i16::from(base);
            f32::from(if flip { -steps } else { steps }) * step
        };
        let (delta_hit, delta_miss) = (change(true), change(false));
        let minus_x = f32::from(-i16::from(base).abs()) * step;
        let e = minus_x.exp();
        let minority = e / (1.0 + e);
        let majority = 1.0 - minority;
        let kl_bits = |delta: f32| {
            let m = (-delta).exp_m1();
            let e_post = e + e * m;
            let s_post = e_post / (1.0 + e_post);
            -((m * minority).ln_1p() + s_post * delta) * std::f32::consts::LOG2_E
        };
        let (occupied, free) = if flip {
            (minority, majority)
        } else {
            (majority, minority)
        };
        CellTerms {
            occupied,
            free,
            hit_bits: kl_bits(delta_hit),
            miss_bits: kl_bits(delta_miss),
        }
    }

    /// Operations of one f32 `exp` as a table-free libm evaluation does it:
    /// two range checks, `n = round(x log2 e)` (a multiply, two adds), the
    /// two-constant reduction `r = x - n ln2_hi - n ln2_lo` (two multiplies,
    /// two adds), `1 + r + r^2 P(r)` with `P` of degree 5 (seven multiplies,
    /// seven adds), and `2^n` put into the exponent bits (conversion, shift,
    /// add). 9 multiplies, 13 adds, 3 int32.
    #[must_use]
    pub fn exp_ops() -> OpCounts {
        OpCounts {
            f32_mul: 9,
            f32_add: 13,
            int32_add: 3,
            ..OpCounts::default()
        }
    }

    /// Operations of one f32 `expm1` (`exp(x) - 1` without the
    /// cancellation), table-free: two range checks, the reduction of `exp`
    /// with its rounding correction (three multiplies, six adds), the
    /// rational kernel in `r^2 / 2` (`hxs = r^2 / 2`, `r1 = 1 + hxs (Q1 + hxs
    /// Q2)`, `t = 3 - r1 r / 2`, `hxs (r1 - t) / (6 - r t)`: seven multiplies,
    /// six adds, a divide), the reconstruction `r (e - c) - c - hxs` and `2^n
    /// (1 + ...) - 1` (one multiply, three adds, three int32). 11 multiplies,
    /// 17 adds, 1 divide, 3 int32.
    #[must_use]
    pub fn expm1_ops() -> OpCounts {
        OpCounts {
            f32_mul: 11,
            f32_add: 17,
            f32_div_sqrt: 1,
            int32_add: 3,
            ..OpCounts::default()
        }
    }

    /// Operations of one f32 `ln_1p` (`ln(1 + x)` exact for small `x`),
    /// table-free, as `ln` plus the rounding of `1 + x`: `u = 1 + x`, its
    /// correction `(x - (u - 1)) / u` (three adds, a divide), the split `u =
    /// 2^k m` with `m` in `[sqrt(1/2), sqrt(2))` and checks (seven int32),
    /// `f = m - 1`, `s = f / (2 + f)` (two adds, a divide), `z = s^2`, `w =
    /// z^2` and the two degree-2 polynomials in `w` with their sum (six
    /// multiplies, three adds), `f^2 / 2` (two multiplies), `k` converted and
    /// `s (f^2/2 + R) + (k ln2_lo + c) - f^2/2 + f + k ln2_hi` (three
    /// multiplies, seven adds). 11 multiplies, 15 adds, 2 divides, 7 int32.
    #[must_use]
    pub fn ln_1p_ops() -> OpCounts {
        OpCounts {
            f32_mul: 11,
            f32_add: 15,
            f32_div_sqrt: 2,
            int32_add: 7,
            ..OpCounts::default()
        }
    }

    /// Operations of one [`CellFormula::get`]: one [`CellFormula::exp_ops`],
    /// two [`CellFormula::expm1_ops`] and two [`CellFormula::ln_1p_ops`],
    /// plus: the unknown test and select, the side test, two saturating adds
    /// and four clamp compares (nine int8); the two changes' differences and
    /// sign flips, `-|base|` (six int16); three multiplies by the step, and
    /// per reading `e m`, `m s`, `s' delta` and the conversion to bits (eleven
    /// multiplies); three int-to-f32 conversions, `1 + e`, `1 - s`, the
    /// select of `o` and `1 - o` (two), and per reading the sign of `-delta`,
    /// `e + e m`, `1 + e'`, the sum and its sign (seventeen adds; conversions,
    /// selects and sign flips counted as adds); `s` and the two `s'` (three
    /// divides). 64 multiplies, 94 adds, 9 divides, 23 int32, 9 int8 and 6
    /// int16 in all (205 operations), and no memory beyond registers.
    #[must_use]
    pub fn ops() -> OpCounts {
        OpCounts {
            int8_add: 9,
            int16_add: 6,
            f32_mul: 11,
            f32_add: 17,
            f32_div_sqrt: 3,
            ..OpCounts::default()
        } + Self::exp_ops()
            + Self::expm1_ops() * 2
            + Self::ln_1p_ops() * 2
    }
}

/// Where [`Fsmi`] gets a visited cell's terms (`o`, `1 - o`, `kl_hit`,
/// `kl_miss`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TermSource {
    /// Read from the 256-entry [`CellTable`] (16 bytes a visit): the
    /// evaluator's design.
    #[default]
    Table,
    /// Computed at every visit by [`CellFormula`] (an `exp`, two `expm1`
    /// and two `ln_1p`): the naive counterpart, to measure what the table
    /// saves.
    Direct,
}

/// The range sensor's noise along a beam.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum RangeNoise {
    /// Gaussian of `sigma_m` metres around the first occupied cell's centre,
    /// truncated at `truncate_sigmas` (at least 3) standard deviations. The
    /// planner's model of the sensor: it may be wider than the real noise, to
    /// allow for pose and map error.
    Gaussian {
        /// Standard deviation, m.
        sigma_m: f64,
        /// Truncation, standard deviations.
        truncate_sigmas: f64,
    },
    /// Uniform over the first occupied cell and `half_width_cells` cells on
    /// each side.
    Uniform {
        /// Cells on each side.
        half_width_cells: usize,
    },
}

impl Default for RangeNoise {
    fn default() -> Self {
        // 4 sigma (9 taps at 5 cm): at 3 sigma (7 taps) the largest
        // difference from the naive integral over `scout explore-bench`'s 200
        // random beams was 2.3 %, at 4 sigma 0.04 %.
        Self::Gaussian {
            sigma_m: 0.05,
            truncate_sigmas: 4.0,
        }
    }
}

impl RangeNoise {
    /// The filter `g[d]`, `d = -Delta..=Delta` cells, for cells of `res` m.
    ///
    /// # Errors
    /// If a parameter is not positive and finite, or the filter would be
    /// longer than 1001 taps.
    pub fn taps(&self, res: f64) -> Result<Vec<f32>> {
        match *self {
            Self::Gaussian {
                sigma_m,
                truncate_sigmas,
            } => {
                let ok = |v: f64| v > 0.0 && v.is_finite();
                if !(ok(sigma_m) && truncate_sigmas >= 3.0 && ok(truncate_sigmas) && ok(res)) {
                    return Err(ExplorationError::Config(format!(
                        "Gaussian range noise needs a positive sigma and a truncation of at least 3 sigma \
                         (the filter is not renormalized), got {sigma_m} m and {truncate_sigmas}"
                    )));
                }
                // The reach in cells, rounded up, but not past a whole number
                // that floating point overshoots (3 x 0.05 / 0.05 = 3.0000000000000004).
                let half = (truncate_sigmas * sigma_m / res - 1e-9).ceil().max(0.0);
                if half > 500.0 {
                    return Err(ExplorationError::Config(format!(
                        "range noise of {sigma_m} m spans more than 500 cells of {res} m"
                    )));
                }
                let half = half as i64;
                let s = sigma_m / res;
                Ok((-half..=half)
                    .map(|d| {
                        let d = d as f64;
                        (normal_cdf((d + 0.5) / s) - normal_cdf((d - 0.5) / s)) as f32
                    })
                    .collect())
            }
            Self::Uniform { half_width_cells } => {
                if half_width_cells > 500 {
                    return Err(ExplorationError::Config(format!(
                        "uniform range noise of {half_width_cells} cells is wider than 500"
                    )));
                }
                let n = 2 * half_width_cells + 1;
                Ok(vec![1.0 / n as f32; n])
            }
        }
    }
}

/// The standard normal CDF (Abramowitz & Stegun 7.1.26 for erf, |error| <
/// 1.5e-7).
#[must_use]
pub fn normal_cdf(x: f64) -> f64 {
    let z = x.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * z);
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let erf = 1.0 - poly * (-z * z).exp();
    if x >= 0.0 {
        0.5 * (1.0 + erf)
    } else {
        0.5 * (1.0 - erf)
    }
}

/// The range sensor the planner scores poses for: `beams` beams, each `cells`
/// cells long, over a horizontal field of view of `fov_rad`.
///
/// A full turn (`fov_rad` = 2 pi, the default: a planar 360-degree lidar)
/// puts beam `b` at `2 pi b / beams` from +x (the first along +x), whatever
/// the heading. A narrower fan (a forward-looking camera) spreads the beams'
/// centres evenly over `[heading - fov / 2, heading + fov / 2]`
/// ([`BeamFan::beam_angle`]).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BeamFan {
    /// Beams per pose.
    pub beams: usize,
    /// Cells per beam (range = cells x resolution).
    pub cells: usize,
    /// Range noise.
    pub noise: RangeNoise,
    /// Horizontal field of view, rad, in `(0, 2 pi]`; 2 pi (a full turn) by
    /// default.
    pub fov_rad: f64,
}

impl Default for BeamFan {
    fn default() -> Self {
        Self {
            beams: 60,
            cells: 100,
            noise: RangeNoise::default(),
            fov_rad: std::f64::consts::TAU,
        }
    }
}

impl BeamFan {
    /// Whether the fan covers a full turn (and so has no heading).
    #[must_use]
    pub fn is_full_turn(&self) -> bool {
        self.fov_rad >= std::f64::consts::TAU
    }

    /// The angle (rad from +x) of beam `b` for a fan facing `heading_rad`:
    /// `2 pi b / beams` for a full turn (the heading plays no part), else
    /// `heading - fov / 2 + (b + 0.5) fov / beams`.
    #[must_use]
    pub fn beam_angle(&self, b: usize, heading_rad: f64) -> f64 {
        if self.is_full_turn() {
            std::f64::consts::TAU * b as f64 / self.beams as f64
        } else {
            heading_rad - 0.5 * self.fov_rad + (b as f64 + 0.5) * self.fov_rad / self.beams as f64
        }
    }

    /// The horizontal field of view (rad) of a pinhole camera `width_px`
    /// pixels wide with focal length `fx_px` pixels: `2 atan(width / (2 fx))`
    /// (EuRoC's cam0, 752 px and 458.654 px: 1.373 rad, 78.7 degrees).
    /// Not validated here: [`BeamFan::check_fov`] refuses what a bad size
    /// gives.
    #[must_use]
    pub fn pinhole_fov_rad(width_px: f64, fx_px: f64) -> f64 {
        2.0 * (0.5 * width_px / fx_px).atan()
    }

    /// Checks the field of view.
    ///
    /// # Errors
    /// If `fov_rad` is not finite and in `(0, 2 pi]`.
    pub fn check_fov(&self) -> Result<()> {
        let fov = self.fov_rad;
        if !(fov > 0.0 && fov <= std::f64::consts::TAU) {
            return Err(ExplorationError::Config(format!(
                "a beam fan's fov_rad must be in (0, 2 pi] (a full turn), got {fov}"
            )));
        }
        Ok(())
    }
}

/// Whether a beam walk stops once nothing beyond can matter (see the module
/// documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EarlyExit {
    /// Walk every cell (the benchmark's count of cell visits).
    Off,
    /// Stop once the no-return probability is under 1e-6.
    On,
}

/// The work of the last evaluations, for the cost ledger and the figures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MiWork {
    /// Beams evaluated.
    pub beams: u64,
    /// Cells visited (read from the grid).
    pub cell_visits: u64,
    /// Beam directions computed for a new heading of a fan narrower than a
    /// full turn (none for a full turn: its directions are computed once).
    pub steered_beams: u64,
}

/// The FSMI evaluator: tables, the noise filter and scratch, reused from call
/// to call (no allocation after construction).
#[derive(Debug, Clone)]
pub struct Fsmi {
    table: CellTable,
    formula: CellFormula,
    terms: TermSource,
    fan: BeamFan,
    taps: Vec<f32>,
    uniform: bool,
    /// Per beam of the fan: fixed-point step along x and y, cells.
    steps: Vec<[i32; 2]>,
    /// The heading `steps` face (rad; 0 at construction, and for a full turn
    /// always).
    heading: f64,
    /// `P(e_j)`, scratch.
    first_hit: Vec<f32>,
    /// `C_k` with the filter's reach of padding on each side, scratch.
    reading_info: Vec<f32>,
    /// `sum_d g[d] C_{j+d}`, scratch.
    smoothed: Vec<f32>,
    /// The model and resolution the tables were built for.
    built_for: (QuantizedModel, f64),
    exit: EarlyExit,
    work: MiWork,
}

impl Fsmi {
    /// An evaluator for `fan` on maps of cells `res` m with `model`'s update,
    /// reading the per-cell terms from the table ([`TermSource::Table`]).
    ///
    /// # Errors
    /// If the fan has no beams or cells, more than 100 000 cells per beam, a
    /// field of view outside `(0, 2 pi]`, or the noise is invalid.
    pub fn new(model: &QuantizedModel, fan: &BeamFan, res: f64, exit: EarlyExit) -> Result<Self> {
        Self::with_terms(model, fan, res, exit, TermSource::Table)
    }

    /// As [`Fsmi::new`], taking the per-cell terms from `terms`.
    ///
    /// # Errors
    /// As [`Fsmi::new`].
    pub fn with_terms(
        model: &QuantizedModel,
        fan: &BeamFan,
        res: f64,
        exit: EarlyExit,
        terms: TermSource,
    ) -> Result<Self> {
        if fan.beams == 0 || fan.cells == 0 || fan.cells > 100_000 || fan.beams > 100_000 {
            return Err(ExplorationError::Config(format!(
                "a beam fan needs 1..=100000 beams and cells, got {} beams of {} cells",
                fan.beams, fan.cells
            )));
        }
        fan.check_fov()?;
        let taps = fan.noise.taps(res)?;
        let half = taps.len() / 2;
        let steps = (0..fan.beams)
            .map(|b| fixed_step(fan.beam_angle(b, 0.0)))
            .collect();
        Ok(Self {
            table: CellTable::new(model),
            formula: CellFormula::new(model),
            terms,
            fan: *fan,
            uniform: matches!(fan.noise, RangeNoise::Uniform { .. }),
            taps,
            steps,
            heading: 0.0,
            first_hit: vec![0.0; fan.cells],
            reading_info: vec![0.0; fan.cells + 2 * half],
            smoothed: vec![0.0; fan.cells],
            built_for: (*model, res),
            exit,
            work: MiWork::default(),
        })
    }

    /// The fan.
    #[must_use]
    pub fn fan(&self) -> &BeamFan {
        &self.fan
    }

    /// The per-cell table.
    #[must_use]
    pub fn table(&self) -> &CellTable {
        &self.table
    }

    /// Where the per-cell terms come from.
    #[must_use]
    pub fn terms(&self) -> TermSource {
        self.terms
    }

    /// Work since the last [`Fsmi::take_work`].
    pub fn take_work(&mut self) -> MiWork {
        std::mem::take(&mut self.work)
    }

    /// Whether the tables were built for `grid`'s cell model and resolution.
    #[must_use]
    pub fn fits(&self, grid: &Grid2) -> bool {
        self.built_for == (*grid.model(), grid.resolution())
    }

    /// Checks that a grid matches the tables and its border holds a whole beam.
    fn check_grid(&self, grid: &Grid2) -> Result<()> {
        if !self.fits(grid) {
            return Err(ExplorationError::Config(
                "the grid's cell model or resolution differs from the evaluator's".into(),
            ));
        }
        check_border(grid, self.fan.cells)
    }

    /// Mutual information (bits) of one beam from world point `(x, y)` (m,
    /// inside the grid) at `angle` (rad from +x).
    ///
    /// # Errors
    /// If the point is outside the grid or the border is shorter than a beam.
    pub fn beam(&mut self, grid: &Grid2, x_m: f64, y_m: f64, angle: f64) -> Result<f32> {
        self.check_grid(grid)?;
        let start = fixed_start(grid, x_m, y_m)?;
        let step = fixed_step(angle);
        Ok(match self.terms {
            TermSource::Table => self.walk::<false>(grid, start, step),
            TermSource::Direct => self.walk::<true>(grid, start, step),
        })
    }

    /// Mutual information (bits) of the whole fan from world point `(x, y)`;
    /// a fan narrower than a full turn faces +x (as [`Fsmi::pose_heading`]
    /// at heading 0).
    ///
    /// # Errors
    /// If the point is outside the grid or the border is shorter than a beam.
    pub fn pose(&mut self, grid: &Grid2, x_m: f64, y_m: f64) -> Result<f32> {
        self.check_grid(grid)?;
        let start = fixed_start(grid, x_m, y_m)?;
        self.steer(0.0);
        Ok(self.fan_from(grid, start))
    }

    /// Mutual information (bits) of the fan from world point `(x, y)` facing
    /// `heading_rad` (rad from +x; see [`BeamFan::beam_angle`]). For a full
    /// turn the heading plays no part and this is [`Fsmi::pose`], bit for
    /// bit.
    ///
    /// # Errors
    /// If the heading is not finite, the point is outside the grid or the
    /// border is shorter than a beam.
    pub fn pose_heading(
        &mut self,
        grid: &Grid2,
        x_m: f64,
        y_m: f64,
        heading_rad: f64,
    ) -> Result<f32> {
        if !heading_rad.is_finite() {
            return Err(ExplorationError::Config(format!(
                "a heading must be finite, got {heading_rad}"
            )));
        }
        self.check_grid(grid)?;
        let start = fixed_start(grid, x_m, y_m)?;
        self.steer(heading_rad);
        Ok(self.fan_from(grid, start))
    }

    /// Turns a fan narrower than a full turn to `heading` (rad), computing
    /// its beams' steps unless they already face it.
    fn steer(&mut self, heading: f64) {
        if self.fan.is_full_turn() || heading.to_bits() == self.heading.to_bits() {
            return;
        }
        for (b, step) in self.steps.iter_mut().enumerate() {
            *step = fixed_step(self.fan.beam_angle(b, heading));
        }
        self.heading = heading;
        self.work.steered_beams += self.steps.len() as u64;
    }

    /// Mutual information (bits) of the fan from every interior cell's
    /// centre, row-major, into `out` (resized to the grid); a fan narrower
    /// than a full turn faces +x.
    ///
    /// # Errors
    /// If the border is shorter than a beam.
    pub fn score_all(&mut self, grid: &Grid2, out: &mut Vec<f32>) -> Result<()> {
        self.check_grid(grid)?;
        self.steer(0.0);
        out.clear();
        out.reserve(grid.width() * grid.height());
        for row in 0..grid.height() {
            for col in 0..grid.width() {
                let start = cell_start(grid, col as f64 + 0.5, row as f64 + 0.5);
                let mi = self.fan_from(grid, start);
                out.push(mi);
            }
        }
        Ok(())
    }

    fn fan_from(&mut self, grid: &Grid2, start: [i32; 2]) -> f32 {
        match self.terms {
            TermSource::Table => self.fan_with::<false>(grid, start),
            TermSource::Direct => self.fan_with::<true>(grid, start),
        }
    }

    /// The fan with the terms from the table or (`DIRECT`) the formula.
    fn fan_with<const DIRECT: bool>(&mut self, grid: &Grid2, start: [i32; 2]) -> f32 {
        let mut total = 0.0;
        for b in 0..self.steps.len() {
            let step = self.steps[b];
            total += self.walk::<DIRECT>(grid, start, step);
        }
        total
    }

    /// One beam: the walk fills `P(e_j)` and `C_k`, the filter sums them;
    /// the terms from the table or (`DIRECT`) the formula.
    #[inline]
    fn walk<const DIRECT: bool>(&mut self, grid: &Grid2, start: [i32; 2], step: [i32; 2]) -> f32 {
        let (cells, stride) = grid.padded();
        let n = self.fan.cells;
        let half = self.taps.len() / 2;
        let table = &self.table;
        let formula = &self.formula;
        let first_hit = &mut self.first_hit[..n];
        let reading_info = &mut self.reading_info[..n + 2 * half];
        let mut walk = BeamWalk::new(start, step, stride);
        let mut no_return = 1.0f32;
        let mut misses = 0.0f32;
        let mut end = n;
        let mut s = 0;
        while s < end {
            let v = cells[walk.next_index()];
            let computed;
            let t = if DIRECT {
                computed = formula.get(v);
                &computed
            } else {
                table.get(v)
            };
            first_hit[s] = no_return * t.occupied;
            reading_info[half + s] = misses + t.hit_bits;
            no_return *= t.free;
            no_return = if no_return < FLUSH_BELOW {
                0.0
            } else {
                no_return
            };
            misses += t.miss_bits;
            s += 1;
            if self.exit == EarlyExit::On && no_return < EXIT_BELOW && end == n {
                end = (s + half).min(n);
            }
        }
        self.work.beams += 1;
        self.work.cell_visits += end as u64;
        // Readings short of the sensor say nothing; beyond the walked cells,
        // every walked cell is a miss.
        reading_info[..half].fill(0.0);
        reading_info[half + end..half + end + half].fill(misses);
        let mut mi = no_return * misses;
        if self.uniform {
            let width = self.taps.len();
            let weight = self.taps[0];
            let mut window: f32 = reading_info[..width].iter().sum();
            for j in 0..end {
                mi += first_hit[j] * window * weight;
                if j + width < half + end + half {
                    window += reading_info[j + width] - reading_info[j];
                }
            }
        } else {
            // The filter tap by tap over the whole array (independent lanes,
            // so it vectorizes), then the dot product in eight partial sums.
            let smoothed = &mut self.smoothed[..end];
            let g0 = self.taps[0];
            for (out, &c) in smoothed.iter_mut().zip(&reading_info[..end]) {
                *out = g0 * c;
            }
            for (d, &g) in self.taps.iter().enumerate().skip(1) {
                for (out, &c) in smoothed.iter_mut().zip(&reading_info[d..d + end]) {
                    *out += g * c;
                }
            }
            let mut partial = [0.0f32; 8];
            let (p8, s8) = (first_hit[..end].chunks_exact(8), smoothed.chunks_exact(8));
            let (p_rest, s_rest) = (p8.remainder(), s8.remainder());
            for (p, s) in p8.zip(s8) {
                for k in 0..8 {
                    partial[k] += p[k] * s[k];
                }
            }
            for (p, s) in p_rest.iter().zip(s_rest) {
                partial[0] += p * s;
            }
            mi += partial.iter().sum::<f32>();
        }
        mi
    }

    /// The cost of the work since the last [`Fsmi::take_work`], as a ledger
    /// kernel (without taking it). Per visited cell: the 16.16 walk (two
    /// adds, two shifts, a multiply-add for the index, the loop counter: six
    /// int32 operations counted as adds and one multiply), one table entry of
    /// 16 bytes (local: the table is 4 KiB), one grid byte (buffered: a
    /// planning grid is tens to hundreds of KiB), two f32 multiplies and two
    /// adds for the recurrences, two scratch writes; then the filter: for a
    /// Gaussian of `T` taps, run tap by tap over the beam, `T + 1` multiplies,
    /// `T` adds, `2 T + 1` scratch reads and `T` scratch writes; for uniform
    /// noise, two multiplies, three adds and three scratch reads. Per beam:
    /// the padding writes and, for uniform noise, the first window's sum. Per
    /// steered beam (a fan narrower than a full turn turned to a new
    /// heading, [`MiWork::steered_beams`]): [`STEER_F64_OPS`] f64 operations
    /// and the 8-byte step written.
    ///
    /// With [`TermSource::Direct`], the same cell visits, walk, grid byte,
    /// recurrences, scratch and filter, but no table read: each visit
    /// computes its terms in registers instead, [`CellFormula::ops`] more a
    /// visit (an `exp`, two `expm1` and two `ln_1p` with their glue: 64 f32
    /// multiplies, 94 adds, 9 divides, 23 int32, 9 int8 and 6 int16
    /// operations).
    #[must_use]
    pub fn cost(&self) -> KernelCost {
        let (visits, beams) = (self.work.cell_visits, self.work.beams);
        let steered = self.work.steered_beams;
        let taps = self.taps.len() as u64;
        let half = taps / 2;
        let (mul, add, reads, writes, per_beam_adds) = if self.uniform {
            (2, 3, 3, 0, taps)
        } else {
            (taps + 1, taps, 2 * taps + 1, taps, 0)
        };
        let mut k = KernelCost {
            calls: beams,
            ..KernelCost::default()
        };
        k.add_ops(OpCounts {
            int32_add: 6 * visits,
            int32_mul: visits,
            f32_mul: (2 + mul) * visits,
            f32_add: (2 + add) * visits + per_beam_adds * beams,
            ..OpCounts::default()
        });
        let table_bytes = match self.terms {
            TermSource::Table => 16,
            TermSource::Direct => {
                k.add_ops(CellFormula::ops() * visits);
                0
            }
        };
        k.read(Residence::Buffer, visits);
        k.read(Residence::Local, visits * (table_bytes + 4 * reads));
        k.write(
            Residence::Local,
            visits * (8 + 4 * writes) + beams * 8 * half,
        );
        if steered > 0 {
            k.add_ops(OpCounts {
                f64_ops: STEER_F64_OPS * steered,
                ..OpCounts::default()
            });
            k.write(Residence::Local, 8 * steered);
        }
        k
    }
}

/// A direction component in 16.16 fixed point (one cell per unit).
fn fixed(v: f64) -> i32 {
    (v * FIXED_ONE).round() as i32
}

/// The 16.16 step of one cell along `angle` (rad from +x).
fn fixed_step(angle: f64) -> [i32; 2] {
    [fixed(angle.cos()), fixed(angle.sin())]
}

/// The fixed-step walk along a beam through the padded grid: sample `s` at
/// `s + 1` steps from the start, as an index into [`Grid2::padded`].
struct BeamWalk {
    x: i32,
    y: i32,
    step: [i32; 2],
    stride: usize,
}

impl BeamWalk {
    fn new(start: [i32; 2], step: [i32; 2], stride: usize) -> Self {
        Self {
            x: start[0],
            y: start[1],
            step,
            stride,
        }
    }

    #[inline]
    fn next_index(&mut self) -> usize {
        self.x += self.step[0];
        self.y += self.step[1];
        (self.y >> 16) as usize * self.stride + (self.x >> 16) as usize
    }
}

/// Checks that the grid's border holds a beam of `cells` cells.
fn check_border(grid: &Grid2, cells: usize) -> Result<()> {
    if grid.border() < cells + 1 {
        return Err(ExplorationError::Config(format!(
            "the grid's border of {} cells is shorter than a beam of {cells} cells",
            grid.border()
        )));
    }
    Ok(())
}

/// The 16.16 padded-grid position of interior cell coordinates (cells);
/// [`Grid2::new`] keeps the padded grid under 32 768 cells a side, so it fits.
fn cell_start(grid: &Grid2, col: f64, row: f64) -> [i32; 2] {
    let b = grid.border() as f64;
    [
        ((col + b) * FIXED_ONE) as i32,
        ((row + b) * FIXED_ONE) as i32,
    ]
}

fn fixed_start(grid: &Grid2, x_m: f64, y_m: f64) -> Result<[i32; 2]> {
    let origin = grid.origin_m();
    let col = (x_m - origin[0]) / grid.resolution();
    let row = (y_m - origin[1]) / grid.resolution();
    let inside =
        col >= 0.0 && row >= 0.0 && col < grid.width() as f64 && row < grid.height() as f64;
    if !inside {
        return Err(ExplorationError::Config(format!(
            "pose ({x_m}, {y_m}) m is outside the grid"
        )));
    }
    Ok(cell_start(grid, col, row))
}

/// The int8 values of the cells a beam of `cells` samples from `(x, y)` at
/// `angle` meets, in order, by the same fixed-point walk as [`Fsmi`].
///
/// # Errors
/// As [`Fsmi::beam`].
pub fn beam_cells(grid: &Grid2, x_m: f64, y_m: f64, angle: f64, cells: usize) -> Result<Vec<i8>> {
    check_border(grid, cells)?;
    let start = fixed_start(grid, x_m, y_m)?;
    let (padded, stride) = grid.padded();
    let mut walk = BeamWalk::new(start, fixed_step(angle), stride);
    Ok((0..cells).map(|_| padded[walk.next_index()]).collect())
}
