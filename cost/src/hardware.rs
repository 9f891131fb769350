//! Hardware descriptions: clock, peak operation rates, energy per operation and
//! a memory hierarchy with energy per byte and bandwidth per level, read from
//! TOML files (`cost/hw/*.toml`, embedded in the binary; a user's own file has
//! the same layout).
//!
//! Units: hertz, operations per cycle, picojoules per operation, bytes,
//! picojoules per byte, bytes per second. Every number in the shipped files
//! carries its source in a comment beside it.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::ledger::{OpCounts, Residence};
use crate::{CostError, Result};

/// The hardware files shipped with scout, by name.
pub const BUILTIN: [(&str, &str); 3] = [
    ("rpi4", include_str!("../hw/rpi4.toml")),
    ("rpi5", include_str!("../hw/rpi5.toml")),
    ("accel", include_str!("../hw/accel.toml")),
];

/// One number per operation kind of [`OpCounts`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PerOp {
    /// 8-bit integer adds.
    pub int8_add: f64,
    /// 16-bit integer adds.
    pub int16_add: f64,
    /// 16-bit integer multiplies.
    pub int16_mul: f64,
    /// 32-bit integer adds.
    pub int32_add: f64,
    /// 32-bit integer multiplies.
    pub int32_mul: f64,
    /// Single-precision adds.
    pub f32_add: f64,
    /// Single-precision multiplies.
    pub f32_mul: f64,
    /// Single-precision divides and square roots.
    pub f32_div_sqrt: f64,
    /// Double-precision operations.
    pub f64_ops: f64,
}

impl PerOp {
    fn values(&self) -> [(&'static str, f64); 9] {
        [
            ("int8_add", self.int8_add),
            ("int16_add", self.int16_add),
            ("int16_mul", self.int16_mul),
            ("int32_add", self.int32_add),
            ("int32_mul", self.int32_mul),
            ("f32_add", self.f32_add),
            ("f32_mul", self.f32_mul),
            ("f32_div_sqrt", self.f32_div_sqrt),
            ("f64_ops", self.f64_ops),
        ]
    }

    /// `sum_kind ops[kind] * self[kind]`.
    #[must_use]
    pub fn dot(&self, ops: &OpCounts) -> f64 {
        ops.int8_add as f64 * self.int8_add
            + ops.int16_add as f64 * self.int16_add
            + ops.int16_mul as f64 * self.int16_mul
            + ops.int32_add as f64 * self.int32_add
            + ops.int32_mul as f64 * self.int32_mul
            + ops.f32_add as f64 * self.f32_add
            + ops.f32_mul as f64 * self.f32_mul
            + ops.f32_div_sqrt as f64 * self.f32_div_sqrt
            + ops.f64_ops as f64 * self.f64_ops
    }

    /// `sum_kind ops[kind] / self[kind]` (cycles, when `self` is a rate per
    /// cycle).
    #[must_use]
    pub fn cycles(&self, ops: &OpCounts) -> f64 {
        ops.int8_add as f64 / self.int8_add
            + ops.int16_add as f64 / self.int16_add
            + ops.int16_mul as f64 / self.int16_mul
            + ops.int32_add as f64 / self.int32_add
            + ops.int32_mul as f64 / self.int32_mul
            + ops.f32_add as f64 / self.f32_add
            + ops.f32_mul as f64 / self.f32_mul
            + ops.f32_div_sqrt as f64 / self.f32_div_sqrt
            + ops.f64_ops as f64 / self.f64_ops
    }
}

/// One level of the memory hierarchy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemoryLevel {
    /// Its name (`L1`, `L2`, `DRAM`, `RF`, `SRAM`, ...).
    pub name: String,
    /// Capacity, bytes.
    pub capacity_bytes: u64,
    /// Energy to read or write one byte, pJ.
    pub energy_pj_per_byte: f64,
    /// Sustained bandwidth, bytes per second.
    pub bandwidth_bytes_per_s: f64,
}

/// Which level holds each [`Residence`] of the counted traffic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResidenceMap {
    /// Registers and scratch.
    pub local: String,
    /// Reused working sets.
    pub buffer: String,
    /// Whole images and maps.
    pub main: String,
}

/// A machine to estimate energy and latency on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hardware {
    /// Short name (`rpi4`).
    pub name: String,
    /// One line about it.
    pub description: String,
    /// Clock, Hz.
    pub clock_hz: f64,
    /// Peak operations per cycle by kind.
    pub ops_per_cycle: PerOp,
    /// Energy per operation by kind, pJ.
    pub energy_pj: PerOp,
    /// Memory levels, nearest first.
    pub levels: Vec<MemoryLevel>,
    /// Where each residence lives.
    pub residence: ResidenceMap,
    /// Level index of each residence (local, buffer, main), filled in by
    /// [`Hardware::validate`].
    #[serde(skip)]
    level_of: [usize; 3],
}

impl Hardware {
    /// A shipped description by name (`rpi4`, `rpi5`, `accel`), or else a TOML
    /// file at that path.
    ///
    /// # Errors
    /// [`CostError::Hardware`] for an unknown name that is no readable file,
    /// or a file that does not parse or validate (naming the file and line).
    pub fn named_or_file(name_or_path: &str) -> Result<Self> {
        if let Some((_, text)) = BUILTIN.iter().find(|(n, _)| *n == name_or_path) {
            return Self::from_toml(text, &format!("built-in hardware {name_or_path}"));
        }
        let path = Path::new(name_or_path);
        if !path.exists() {
            let names: Vec<&str> = BUILTIN.iter().map(|(n, _)| *n).collect();
            return Err(CostError::Hardware(format!(
                "no hardware named {name_or_path:?} (built in: {}) and no such file",
                names.join(", ")
            )));
        }
        Self::from_file(path)
    }

    /// Reads and validates a TOML description.
    ///
    /// # Errors
    /// As [`Hardware::from_toml`], or when the file cannot be read.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| CostError::Io {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        Self::from_toml(&text, &path.display().to_string())
    }

    /// Parses and validates a TOML description; `origin` names it in errors.
    ///
    /// # Errors
    /// [`CostError::Hardware`] naming `origin` and the line for a syntax error,
    /// a missing or unknown key, or a value out of range.
    pub fn from_toml(text: &str, origin: &str) -> Result<Self> {
        let mut hw: Self = toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].lines().count().max(1));
            let at = line.map_or_else(String::new, |l| format!(", line {l}"));
            CostError::Hardware(format!("{origin}{at}: {}", e.message()))
        })?;
        hw.validate()
            .map_err(|e| CostError::Hardware(format!("{origin}: {e}")))?;
        Ok(hw)
    }

    /// Checks the values and resolves the residence map.
    fn validate(&mut self) -> std::result::Result<(), String> {
        let positive = |what: &str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(format!("{what} must be a positive number, got {v}"))
            }
        };
        positive("clock_hz", self.clock_hz)?;
        for (k, v) in self.ops_per_cycle.values() {
            positive(&format!("ops_per_cycle.{k}"), v)?;
        }
        for (k, v) in self.energy_pj.values() {
            if !(v.is_finite() && v >= 0.0) {
                return Err(format!("energy_pj.{k} must be >= 0, got {v}"));
            }
        }
        if self.levels.is_empty() {
            return Err("at least one memory level is needed".into());
        }
        for l in &self.levels {
            positive(
                &format!("level {} bandwidth_bytes_per_s", l.name),
                l.bandwidth_bytes_per_s,
            )?;
            if !(l.energy_pj_per_byte.is_finite() && l.energy_pj_per_byte >= 0.0) {
                return Err(format!("level {} energy_pj_per_byte must be >= 0", l.name));
            }
            if l.capacity_bytes == 0 {
                return Err(format!("level {} has no capacity", l.name));
            }
        }
        let find = |name: &str| {
            self.levels
                .iter()
                .position(|l| l.name == name)
                .ok_or_else(|| format!("residence names level {name:?}, which is not listed"))
        };
        self.level_of = [
            find(&self.residence.local)?,
            find(&self.residence.buffer)?,
            find(&self.residence.main)?,
        ];
        Ok(())
    }

    /// The index in [`Hardware::levels`] of the level holding `at`.
    #[must_use]
    pub fn level_of(&self, at: Residence) -> usize {
        match at {
            Residence::Local => self.level_of[0],
            Residence::Buffer => self.level_of[1],
            Residence::Main => self.level_of[2],
        }
    }

    /// Peak single-precision operations per second (adds and multiplies in
    /// equal numbers).
    #[must_use]
    pub fn peak_f32_ops_per_s(&self) -> f64 {
        self.clock_hz * 0.5 * (self.ops_per_cycle.f32_add + self.ops_per_cycle.f32_mul)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]
mod tests {
    use super::*;

    #[test]
    fn shipped_descriptions_load_and_map_residences() {
        for (name, _) in BUILTIN {
            let hw = Hardware::named_or_file(name).unwrap();
            assert_eq!(hw.name, name);
            let main = &hw.levels[hw.level_of(Residence::Main)];
            assert_eq!(main.name, "DRAM");
            // Data movement costs more the farther it goes.
            let e: Vec<f64> = [Residence::Local, Residence::Buffer, Residence::Main]
                .iter()
                .map(|r| hw.levels[hw.level_of(*r)].energy_pj_per_byte)
                .collect();
            assert!(e[0] < e[1] && e[1] < e[2], "{name}: {e:?}");
            // A DRAM byte costs more than a 32-bit float multiply.
            assert!(main.energy_pj_per_byte > hw.energy_pj.f32_mul);
        }
        let rpi4 = Hardware::named_or_file("rpi4").unwrap();
        assert_eq!(rpi4.levels[0].capacity_bytes, 32 * 1024);
        assert_eq!(rpi4.levels[1].capacity_bytes, 1024 * 1024);
        assert!((rpi4.clock_hz - 1.5e9).abs() < 1.0);
    }

    #[test]
    fn bad_descriptions_are_refused_with_origin_and_line() {
        let good = BUILTIN[0].1;
        let err = Hardware::named_or_file("rpi9").unwrap_err().to_string();
        assert!(err.contains("rpi9") && err.contains("rpi4"), "{err}");
        let unknown = good.replace("clock_hz = 1.5e9", "clock_hz = 1.5e9\nturbo = true");
        let err = Hardware::from_toml(&unknown, "x.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("x.toml") && err.contains("line"), "{err}");
        assert!(err.contains("turbo"), "{err}");
        let negative = good.replace("clock_hz = 1.5e9", "clock_hz = -1.0");
        let err = Hardware::from_toml(&negative, "y.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("y.toml") && err.contains("clock_hz"), "{err}");
        let missing_level = good.replace("main = \"DRAM\"", "main = \"HBM\"");
        let err = Hardware::from_toml(&missing_level, "z.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("HBM"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mine.toml");
        std::fs::write(&path, good.replace("name = \"rpi4\"", "name = \"mine\"")).unwrap();
        let hw = Hardware::named_or_file(path.to_str().unwrap()).unwrap();
        assert_eq!(hw.name, "mine");
    }
}
