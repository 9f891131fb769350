//! Occupancy probabilities as log-odds, and their int8 fixed-point form.
//!
//! The update rule is OctoMap's (Hornung et al., "OctoMap: an efficient
//! probabilistic 3D mapping framework based on octrees", Autonomous Robots
//! 2013): each cell holds `L = log(p / (1 - p))`; a ray ending in the cell adds
//! `logit(p_hit)`, a ray passing through it adds `logit(p_miss)`, and `L` is
//! clamped to `[logit(clamp_min), logit(clamp_max)]` so the map stays able to
//! change. A cell is occupied when `L > logit(threshold)`.
//!
//! Fixed point: `L = q * step` with `q` a saturating `i8` in `[-127, 127]`;
//! `-128` is reserved for "unknown" (never observed), so unknown stays distinct
//! from free. `step` is chosen so the clamping range fills the int8 range
//! (`max(|logit(clamp_min)|, |logit(clamp_max)|) / 127`, 0.02765 with
//! OctoMap's defaults); the hit and miss increments are rounded to whole steps
//! (31 and -15 steps, 0.857 and -0.415, for 0.847 and -0.405 by default: 1.1 %
//! and 2.3 % off), and the clamps to -72 and 127 steps.

use serde::{Deserialize, Serialize};

use crate::MappingError;

/// The occupancy model's parameters, probabilities in (0, 1).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OccupancyParams {
    /// Probability that a cell holding a ray's end point is occupied.
    pub hit: f64,
    /// Probability that a cell a ray passes through is occupied.
    pub miss: f64,
    /// Lower clamp.
    pub clamp_min: f64,
    /// Upper clamp.
    pub clamp_max: f64,
    /// Occupied above this probability.
    pub threshold: f64,
}

impl Default for OccupancyParams {
    /// OctoMap's defaults.
    fn default() -> Self {
        Self {
            hit: 0.7,
            miss: 0.4,
            clamp_min: 0.1192,
            clamp_max: 0.971,
            threshold: 0.5,
        }
    }
}

/// `log(p / (1 - p))`.
#[must_use]
pub fn logit(p: f64) -> f64 {
    (p / (1.0 - p)).ln()
}

impl OccupancyParams {
    /// Checks the probabilities: all in (0, 1), `miss < threshold < hit`,
    /// `clamp_min < threshold < clamp_max`.
    ///
    /// # Errors
    /// Names the first parameter out of range.
    pub fn validate(&self) -> Result<(), MappingError> {
        let bad = |m: &str| Err(MappingError::Config(m.to_string()));
        for (name, p) in [
            ("hit", self.hit),
            ("miss", self.miss),
            ("clamp_min", self.clamp_min),
            ("clamp_max", self.clamp_max),
            ("threshold", self.threshold),
        ] {
            if !(p > 0.0 && p < 1.0) {
                return bad(&format!("{name} must be in (0, 1), got {p}"));
            }
        }
        if !(self.miss < self.threshold && self.threshold < self.hit) {
            return bad("need miss < threshold < hit");
        }
        if !(self.clamp_min < self.threshold && self.threshold < self.clamp_max) {
            return bad("need clamp_min < threshold < clamp_max");
        }
        Ok(())
    }
}

/// The log-odds model in int8 steps; see the module documentation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QuantizedModel {
    /// Log-odds per step.
    pub step: f64,
    /// Hit increment, steps.
    pub hit: i8,
    /// Miss increment, steps (negative).
    pub miss: i8,
    /// Lower clamp, steps.
    pub min: i8,
    /// Upper clamp, steps.
    pub max: i8,
    /// Occupied when strictly above, steps.
    pub threshold: i8,
}

/// The int8 value of a never-observed cell.
pub const UNKNOWN_I8: i8 = i8::MIN;

impl QuantizedModel {
    /// Quantizes a validated model.
    ///
    /// # Errors
    /// If the parameters are out of range, or an increment rounds to zero steps.
    pub fn new(p: &OccupancyParams) -> Result<Self, MappingError> {
        p.validate()?;
        let (lo, hi) = (logit(p.clamp_min), logit(p.clamp_max));
        let step = lo.abs().max(hi.abs()) / 127.0;
        let q = |l: f64| (l / step).round().clamp(-127.0, 127.0) as i8;
        let model = Self {
            step,
            hit: q(logit(p.hit)),
            miss: q(logit(p.miss)),
            min: q(lo),
            max: q(hi),
            threshold: q(logit(p.threshold)),
        };
        if model.hit <= model.threshold.max(0) || model.miss >= 0 {
            return Err(MappingError::Config(
                "hit or miss rounds to no change at int8 resolution".into(),
            ));
        }
        Ok(model)
    }

    /// The value after a hit (`true`) or a miss, saturating at the clamps; an
    /// unknown cell starts from 0 (p = 0.5).
    #[inline]
    #[must_use]
    pub fn update(&self, value: i8, hit: bool) -> i8 {
        let base = if value == UNKNOWN_I8 { 0 } else { value };
        let delta = if hit { self.hit } else { self.miss };
        base.saturating_add(delta).clamp(self.min, self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn octomap_defaults_quantize_to_whole_steps_close_to_the_float_values() {
        let p = OccupancyParams::default();
        let m = QuantizedModel::new(&p).unwrap_or_else(|e| panic!("{e}"));
        assert!((m.step - 3.5 / 127.0).abs() < 1e-3, "step {}", m.step);
        assert_eq!((m.hit, m.miss, m.threshold), (31, -15, 0));
        assert!((f64::from(m.hit) * m.step - logit(0.7)).abs() < 0.5 * m.step);
        assert!((f64::from(m.miss) * m.step - logit(0.4)).abs() < 0.5 * m.step);
        assert_eq!(m.max, 127);
        assert!(m.min < -70 && m.min > -80, "min {}", m.min);
        // Unknown is none of the reachable values; updates saturate.
        let mut v = UNKNOWN_I8;
        for _ in 0..10 {
            v = m.update(v, true);
        }
        assert_eq!(v, m.max);
        for _ in 0..30 {
            v = m.update(v, false);
        }
        assert_eq!(v, m.min);
        assert_eq!(m.update(UNKNOWN_I8, false), m.miss);
    }

    #[test]
    fn bad_parameters_are_refused_by_name() {
        let bad = OccupancyParams {
            hit: 1.2,
            ..OccupancyParams::default()
        };
        let e = QuantizedModel::new(&bad)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("hit"), "{e}");
        let swapped = OccupancyParams {
            hit: 0.4,
            miss: 0.7,
            ..OccupancyParams::default()
        };
        assert!(QuantizedModel::new(&swapped).is_err());
    }
}
