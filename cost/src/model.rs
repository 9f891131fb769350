//! The energy and latency model: counted work ([`KernelCost`]) on a machine
//! ([`Hardware`]).
//!
//! ```text
//! energy  = sum_kind ops[kind] e_op[kind]  +  sum_level bytes[level] e_byte[level]
//!           \______ compute ______/          \________ data movement ________/
//! latency >= max( sum_kind ops[kind] / (ops_per_cycle[kind] clock),
//!                 max_level bytes[level] / bandwidth[level] )          (roofline)
//! intensity = operations / bytes at the level holding main memory (ops/B)
//! ```
//!
//! Operations of different kinds share the core's issue slots, so their times
//! add; the levels transfer in parallel with the arithmetic and with each
//! other, so the bound is the largest of them (Williams, Waterman and
//! Patterson, "Roofline", CACM 2009, extended to one roof per level). The
//! bound is a lower bound on time: stalls, dependencies and instruction
//! overhead come on top, which is why the measured time is shown beside it.

use serde::Serialize;

use crate::hardware::Hardware;
use crate::ledger::{KernelCost, Residence};

/// What limits a stage in the roofline bound.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Bound {
    /// The arithmetic.
    Compute,
    /// The bandwidth of this memory level.
    Memory(String),
}

impl std::fmt::Display for Bound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Compute => f.write_str("compute"),
            Self::Memory(level) => f.write_str(level),
        }
    }
}

/// Energy and latency of some counted work on one machine.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Estimate {
    /// Operations of every kind.
    pub ops: u64,
    /// Bytes read and written at each level of [`Hardware::levels`].
    pub level_bytes: Vec<u64>,
    /// Energy of the arithmetic, pJ.
    pub compute_pj: f64,
    /// Energy of the traffic at each level, pJ.
    pub level_pj: Vec<f64>,
    /// Time the arithmetic needs at peak rates, s.
    pub compute_s: f64,
    /// Time each level needs at its bandwidth, s.
    pub level_s: Vec<f64>,
    /// The roofline bound: the largest of the times above, s.
    pub bound_s: f64,
    /// What sets the bound.
    pub bound: Bound,
    /// Operations per byte at the main-memory level (`None` without traffic
    /// there).
    pub intensity: Option<f64>,
    /// Operations per byte at every level together.
    pub intensity_all_levels: Option<f64>,
}

impl Estimate {
    /// Energy of all data movement, pJ.
    #[must_use]
    pub fn movement_pj(&self) -> f64 {
        self.level_pj.iter().sum()
    }

    /// Total energy, pJ.
    #[must_use]
    pub fn total_pj(&self) -> f64 {
        self.compute_pj + self.movement_pj()
    }

    /// Share of the energy spent moving data (0 when there is none).
    #[must_use]
    pub fn movement_share(&self) -> f64 {
        let total = self.total_pj();
        if total > 0.0 {
            self.movement_pj() / total
        } else {
            0.0
        }
    }

    /// Operations per second at the bound (`None` for no work).
    #[must_use]
    pub fn attainable_ops_per_s(&self) -> Option<f64> {
        (self.bound_s > 0.0).then(|| self.ops as f64 / self.bound_s)
    }
}

/// Estimates `work` on `hw`.
#[must_use]
pub fn estimate(work: &KernelCost, hw: &Hardware) -> Estimate {
    let n = hw.levels.len();
    let mut level_bytes = vec![0_u64; n];
    for at in [Residence::Local, Residence::Buffer, Residence::Main] {
        let level = &mut level_bytes[hw.level_of(at)];
        *level = level.saturating_add(work.traffic(at).total());
    }
    let level_pj: Vec<f64> = level_bytes
        .iter()
        .zip(&hw.levels)
        .map(|(b, l)| *b as f64 * l.energy_pj_per_byte)
        .collect();
    let level_s: Vec<f64> = level_bytes
        .iter()
        .zip(&hw.levels)
        .map(|(b, l)| *b as f64 / l.bandwidth_bytes_per_s)
        .collect();
    let compute_s = hw.ops_per_cycle.cycles(&work.ops) / hw.clock_hz;
    let mut bound = Bound::Compute;
    let mut bound_s = compute_s;
    for (l, s) in hw.levels.iter().zip(&level_s) {
        if *s > bound_s {
            bound_s = *s;
            bound = Bound::Memory(l.name.clone());
        }
    }
    let ops = work.ops.total();
    let main_bytes = level_bytes[hw.level_of(Residence::Main)];
    let all_bytes: u64 = level_bytes.iter().sum();
    Estimate {
        ops,
        compute_pj: hw.energy_pj.dot(&work.ops),
        level_bytes,
        level_pj,
        compute_s,
        level_s,
        bound_s,
        bound,
        intensity: (main_bytes > 0).then(|| ops as f64 / main_bytes as f64),
        intensity_all_levels: (all_bytes > 0).then(|| ops as f64 / all_bytes as f64),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]
mod tests {
    use super::*;
    use crate::ledger::OpCounts;

    #[test]
    fn energy_and_bound_follow_the_tables() {
        let hw = Hardware::named_or_file("rpi4").unwrap();
        let mut k = KernelCost::default();
        k.add_ops(OpCounts {
            int32_add: 1000,
            f32_mul: 100,
            ..OpCounts::default()
        });
        k.read(Residence::Local, 800);
        k.read(Residence::Buffer, 80);
        k.write(Residence::Main, 8);
        let e = estimate(&k, &hw);
        // 1000 x 0.1 + 100 x 3.7 pJ.
        assert!((e.compute_pj - 470.0).abs() < 1e-9);
        // 800 x 2.5 + 80 x 12.5 + 8 x 162.5 pJ.
        assert_eq!(e.level_bytes, vec![800, 80, 8]);
        assert!((e.movement_pj() - (2000.0 + 1000.0 + 1300.0)).abs() < 1e-9);
        assert!((e.movement_share() - 4300.0 / 4770.0).abs() < 1e-12);
        // 1000 / 8 + 100 / 8 cycles at 1.5 GHz; L1 800 B at 24 GB/s.
        assert!((e.compute_s - 137.5 / 1.5e9).abs() < 1e-18);
        assert!((e.level_s[0] - 800.0 / 24e9).abs() < 1e-18);
        assert_eq!(e.bound, Bound::Compute);
        assert!((e.bound_s - e.compute_s).abs() < 1e-18);
        assert_eq!(e.intensity, Some(1100.0 / 8.0));

        // Streaming a megabyte from DRAM with little arithmetic is DRAM-bound.
        let mut stream = KernelCost::default();
        stream.read(Residence::Main, 1 << 20);
        stream.add_ops(OpCounts {
            int8_add: 1 << 20,
            ..OpCounts::default()
        });
        let e = estimate(&stream, &hw);
        assert_eq!(e.bound, Bound::Memory("DRAM".into()));
        assert!((e.bound_s - (1 << 20) as f64 / 5.5e9).abs() < 1e-15);
        assert!(e.movement_share() > 0.99);
    }

    #[test]
    fn no_work_costs_nothing() {
        for (name, _) in crate::hardware::BUILTIN {
            let hw = Hardware::named_or_file(name).unwrap();
            let e = estimate(&KernelCost::default(), &hw);
            assert_eq!(e.total_pj(), 0.0);
            assert_eq!(e.bound_s, 0.0);
            assert_eq!(e.intensity, None);
            assert_eq!(e.attainable_ops_per_s(), None);
            assert_eq!(e.movement_share(), 0.0);
        }
    }
}
