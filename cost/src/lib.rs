//! Work and traffic accounting, and (later) the cost model that turns it into
//! energy and latency.
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
//! The hardware descriptions and the energy/latency model that consume these
//! counts (Horowitz, ISSCC 2014; Eyeriss's normalized access costs) come with the
//! cost-model issue.

mod ledger;

pub use ledger::{CostLedger, KernelCost, OpCounts, Residence, Traffic};
