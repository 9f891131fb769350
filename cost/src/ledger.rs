//! Per-kernel counts of operations and bytes moved, gathered per frame.

use std::ops::{Add, AddAssign, Mul};
use std::sync::atomic::{AtomicBool, Ordering};

use serde::{Deserialize, Serialize};

/// Arithmetic operations by kind and width. A multiply-accumulate counts as one
/// multiply and one add; comparisons and min/max count as adds of their width.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpCounts {
    /// 8-bit integer adds, subtracts, compares.
    pub int8_add: u64,
    /// 16-bit integer adds, subtracts, compares.
    pub int16_add: u64,
    /// 16-bit integer multiplies (8x8 -> 16 and 16x16 -> 16/32 products).
    pub int16_mul: u64,
    /// 32-bit integer adds, subtracts, compares, shifts.
    pub int32_add: u64,
    /// 32-bit integer multiplies.
    pub int32_mul: u64,
    /// Single-precision adds, subtracts, compares.
    pub f32_add: u64,
    /// Single-precision multiplies.
    pub f32_mul: u64,
    /// Single-precision divides and square roots.
    pub f32_div_sqrt: u64,
    /// Double-precision adds, multiplies, divides (the geometry of a few hundred
    /// points per frame; counted together).
    pub f64_ops: u64,
}

impl OpCounts {
    /// All operations, whatever their kind.
    #[must_use]
    pub fn total(&self) -> u64 {
        [
            self.int8_add,
            self.int16_add,
            self.int16_mul,
            self.int32_add,
            self.int32_mul,
            self.f32_add,
            self.f32_mul,
            self.f32_div_sqrt,
            self.f64_ops,
        ]
        .into_iter()
        .fold(0, u64::saturating_add)
    }
}

/// Counters add saturating: counts read from a file (`scout cost`) may be
/// anything, and a sum that wrapped would be silently small.
impl Add for OpCounts {
    type Output = Self;
    fn add(self, o: Self) -> Self {
        Self {
            int8_add: self.int8_add.saturating_add(o.int8_add),
            int16_add: self.int16_add.saturating_add(o.int16_add),
            int16_mul: self.int16_mul.saturating_add(o.int16_mul),
            int32_add: self.int32_add.saturating_add(o.int32_add),
            int32_mul: self.int32_mul.saturating_add(o.int32_mul),
            f32_add: self.f32_add.saturating_add(o.f32_add),
            f32_mul: self.f32_mul.saturating_add(o.f32_mul),
            f32_div_sqrt: self.f32_div_sqrt.saturating_add(o.f32_div_sqrt),
            f64_ops: self.f64_ops.saturating_add(o.f64_ops),
        }
    }
}

impl AddAssign for OpCounts {
    fn add_assign(&mut self, o: Self) {
        *self = *self + o;
    }
}

impl Mul<u64> for OpCounts {
    type Output = Self;
    /// The counts of `n` repetitions.
    fn mul(self, n: u64) -> Self {
        Self {
            int8_add: self.int8_add * n,
            int16_add: self.int16_add * n,
            int16_mul: self.int16_mul * n,
            int32_add: self.int32_add * n,
            int32_mul: self.int32_mul * n,
            f32_add: self.f32_add * n,
            f32_mul: self.f32_mul * n,
            f32_div_sqrt: self.f32_div_sqrt * n,
            f64_ops: self.f64_ops * n,
        }
    }
}

/// Where the data a kernel touches lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Residence {
    /// Registers and small scratch the kernel owns (a patch, a row of sums).
    Local,
    /// A working set the kernel reuses while it runs (a band of rows, a pyramid
    /// level's neighbourhood): on-chip buffer or L2 cache.
    Buffer,
    /// Whole images and maps, written in one step and read in a later one: DRAM.
    Main,
}

/// Working sets up to this size are booked as [`Residence::Buffer`]; larger
/// ones cannot stay on chip (a Pi 4's whole L2 is 1 MiB, shared with the other
/// stages' data) and are booked as [`Residence::Main`]: 512 KiB.
pub const BUFFER_LIMIT_BYTES: u64 = 512 * 1024;

impl Residence {
    /// Where a working set of `bytes` that a kernel reuses lives: the buffer
    /// level up to [`BUFFER_LIMIT_BYTES`], main memory beyond.
    #[must_use]
    pub fn of_working_set(bytes: u64) -> Self {
        if bytes <= BUFFER_LIMIT_BYTES {
            Self::Buffer
        } else {
            Self::Main
        }
    }
}

/// Bytes read and written at one [`Residence`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Traffic {
    /// Bytes read.
    pub read: u64,
    /// Bytes written.
    pub written: u64,
}

impl Traffic {
    /// Bytes moved either way.
    #[must_use]
    pub fn total(&self) -> u64 {
        self.read.saturating_add(self.written)
    }
}

impl Add for Traffic {
    type Output = Self;
    fn add(self, o: Self) -> Self {
        Self {
            read: self.read.saturating_add(o.read),
            written: self.written.saturating_add(o.written),
        }
    }
}

impl AddAssign for Traffic {
    fn add_assign(&mut self, o: Self) {
        *self = *self + o;
    }
}

/// What one kernel did: its calls, operations, and traffic by residence.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KernelCost {
    /// Times the kernel ran (for example features tracked, images filtered).
    pub calls: u64,
    /// Operations by kind.
    pub ops: OpCounts,
    /// Registers and scratch.
    pub local: Traffic,
    /// On-chip buffer / cache-resident working set.
    pub buffer: Traffic,
    /// Main memory.
    pub main: Traffic,
}

impl KernelCost {
    /// Adds operations.
    pub fn add_ops(&mut self, ops: OpCounts) {
        self.ops += ops;
    }

    /// Adds bytes read at a residence.
    pub fn read(&mut self, at: Residence, bytes: u64) {
        let t = self.traffic_mut(at);
        t.read = t.read.saturating_add(bytes);
    }

    /// Adds bytes written at a residence.
    pub fn write(&mut self, at: Residence, bytes: u64) {
        let t = self.traffic_mut(at);
        t.written = t.written.saturating_add(bytes);
    }

    /// The traffic at one residence.
    #[must_use]
    pub fn traffic(&self, at: Residence) -> Traffic {
        match at {
            Residence::Local => self.local,
            Residence::Buffer => self.buffer,
            Residence::Main => self.main,
        }
    }

    fn traffic_mut(&mut self, at: Residence) -> &mut Traffic {
        match at {
            Residence::Local => &mut self.local,
            Residence::Buffer => &mut self.buffer,
            Residence::Main => &mut self.main,
        }
    }

    /// Bytes moved at every residence.
    #[must_use]
    pub fn bytes(&self) -> u64 {
        self.local
            .total()
            .saturating_add(self.buffer.total())
            .saturating_add(self.main.total())
    }
}

impl AddAssign for KernelCost {
    fn add_assign(&mut self, o: Self) {
        self.calls = self.calls.saturating_add(o.calls);
        self.ops += o.ops;
        self.local += o.local;
        self.buffer += o.buffer;
        self.main += o.main;
    }
}

/// Whether ledgers count (on unless [`set_counting`] turned it off).
static COUNTING: AtomicBool = AtomicBool::new(true);

/// Turns counting on or off for the whole process. Off, every ledger's
/// [`CostLedger::record`] and [`CostLedger::kernel`] leave the ledger empty
/// (the kernels' few count computations per call still run; `scout replay
/// --no-cost` measures what that leaves).
pub fn set_counting(on: bool) {
    COUNTING.store(on, Ordering::Relaxed);
}

/// Whether ledgers count (see [`set_counting`]).
#[must_use]
pub fn counting() -> bool {
    COUNTING.load(Ordering::Relaxed)
}

/// One stage's counts for one frame, by kernel name. Kernels are few (a handful
/// per stage) and named by `'static` strings, so lookup is a short linear scan and
/// [`CostLedger::clear`] keeps the storage: no allocation in steady state.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CostLedger {
    kernels: Vec<(&'static str, KernelCost)>,
    /// Where counts go while counting is off.
    #[serde(skip)]
    sink: KernelCost,
}

impl CostLedger {
    /// An empty ledger.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Forgets the counts, keeping the kernel names and the storage.
    pub fn clear(&mut self) {
        for (_, k) in &mut self.kernels {
            *k = KernelCost::default();
        }
    }

    /// The counts of kernel `name`, created empty on first use.
    pub fn kernel(&mut self, name: &'static str) -> &mut KernelCost {
        if !counting() {
            self.sink = KernelCost::default();
            return &mut self.sink;
        }
        let i = match self.kernels.iter().position(|(n, _)| *n == name) {
            Some(i) => i,
            None => {
                self.kernels.push((name, KernelCost::default()));
                self.kernels.len() - 1
            }
        };
        &mut self.kernels[i].1
    }

    /// Adds `cost` to kernel `name`.
    pub fn record(&mut self, name: &'static str, cost: KernelCost) {
        if counting() {
            *self.kernel(name) += cost;
        }
    }

    /// The kernels in first-use order.
    pub fn kernels(&self) -> impl Iterator<Item = (&'static str, &KernelCost)> {
        self.kernels.iter().map(|(n, k)| (*n, k))
    }

    /// The counts of kernel `name`, if it ran.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&KernelCost> {
        self.kernels
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, k)| k)
    }

    /// All kernels together.
    #[must_use]
    pub fn total(&self) -> KernelCost {
        let mut t = KernelCost::default();
        for (_, k) in &self.kernels {
            t += *k;
        }
        t
    }

    /// Adds every kernel of `other` into this ledger (to sum frames).
    pub fn accumulate(&mut self, other: &CostLedger) {
        for (n, k) in &other.kernels {
            *self.kernel(n) += *k;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_saturate_instead_of_wrapping() {
        let near = u64::MAX - 10;
        let mut k = KernelCost {
            calls: near,
            ops: OpCounts {
                f32_add: near,
                f64_ops: near,
                ..OpCounts::default()
            },
            ..KernelCost::default()
        };
        k.read(Residence::Main, near);
        k.write(Residence::Main, near);
        let copy = k;
        k += copy;
        assert_eq!(k.calls, u64::MAX);
        assert_eq!(k.ops.f32_add, u64::MAX);
        assert_eq!(k.ops.total(), u64::MAX);
        assert_eq!(k.main.read, u64::MAX);
        assert_eq!(k.main.total(), u64::MAX);
        assert_eq!(k.bytes(), u64::MAX);
        k.read(Residence::Local, 5);
        assert_eq!(k.bytes(), u64::MAX);
        assert_eq!(k.local.read, 5);
    }

    #[test]
    fn ledger_sums_by_kernel_and_clear_keeps_names() {
        let mut l = CostLedger::new();
        let mut k = KernelCost {
            calls: 1,
            ..KernelCost::default()
        };
        k.add_ops(OpCounts {
            int16_mul: 10,
            f32_add: 2,
            ..OpCounts::default()
        });
        k.read(Residence::Main, 100);
        k.write(Residence::Local, 7);
        l.record("pyramid", k);
        l.record("pyramid", k);
        l.record("klt", k);
        let p = l.get("pyramid").copied().unwrap_or_default();
        assert_eq!(p.calls, 2);
        assert_eq!(p.ops.int16_mul, 20);
        assert_eq!(p.main.read, 200);
        assert_eq!(p.local.written, 14);
        assert_eq!(l.total().ops.total(), 36);
        assert_eq!(l.total().bytes(), 321);
        let mut sum = CostLedger::new();
        sum.accumulate(&l);
        sum.accumulate(&l);
        assert_eq!(sum.total().calls, 6);
        l.clear();
        assert_eq!(l.kernels().count(), 2);
        assert_eq!(l.total(), KernelCost::default());
        assert_eq!(
            (OpCounts {
                int8_add: 3,
                ..OpCounts::default()
            } * 4)
                .int8_add,
            12
        );
    }
}
