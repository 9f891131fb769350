//! Work and traffic accounting, and the cost model that turns it into energy
//! and latency on a given machine.
//!
//! Every kernel of every stage reports, per call, *analytic* counts computed from
//! its loop bounds (never per-operation increments in the inner loop): operations
//! by kind ([`OpCounts`]) and bytes moved ([`Traffic`]) split by where the data
//! lives ([`Residence`]). A stage gathers its kernels' counts for one frame in a
//! [`CostLedger`], which it owns and clears frame to frame, so accounting never
//! allocates in steady state.
//!
//! Where data lives is a property of the algorithm, not of a machine: a KLT patch
//! of 15x15 `i16` values is *local* (registers and scratch, a few KiB), a band of
//! image rows a separable filter keeps in flight is *buffered* (tens to hundreds
//! of KiB, an L2 cache or an accelerator's global buffer), and whole images that
//! are written once and read once a frame later live in *main* memory (DRAM).
//!
//! A run's ledgers become [`StageReport`]s in a [`CostReport`] (`cost.json`). A
//! [`Hardware`] description (`hw/*.toml`: clock, peak rates, energy per
//! operation from Horowitz, ISSCC 2014, energy per byte and bandwidth per memory
//! level, Eyeriss's normalized costs for the accelerator) maps each residence to
//! a level, and [`estimate`] gives energy split into compute and data movement,
//! a roofline latency bound and the arithmetic intensity (see [`model`]).

pub mod hardware;
mod ledger;
pub mod model;
pub mod report;

pub use hardware::{Hardware, MemoryLevel};
pub use ledger::{
    BUFFER_LIMIT_BYTES, CostLedger, KernelCost, OpCounts, Residence, Traffic, counting,
    set_counting,
};
pub use model::{Bound, Estimate, estimate};
pub use report::{CostReport, KernelReport, RunCost, StageCounts, StageReport};

/// What can go wrong reading hardware descriptions and reports.
#[derive(Debug, thiserror::Error)]
pub enum CostError {
    /// A file could not be read or written.
    #[error("{path}: {message}")]
    Io {
        /// The file.
        path: String,
        /// What happened.
        message: String,
    },
    /// A hardware description is malformed or out of range (names the file
    /// and, for syntax, the line).
    #[error("hardware description {0}")]
    Hardware(String),
    /// A cost report is malformed (names the file, line and column).
    #[error("cost report {0}")]
    Report(String),
}

/// Results of this crate.
pub type Result<T> = std::result::Result<T, CostError>;
