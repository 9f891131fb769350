//! Counted work of the back end's kernels, from their loop bounds and matrix
//! shapes (all arithmetic is f64).
//!
//! Kernels (names in the `cost` ledger):
//! - `be_linearize`: reprojection residuals and their 2x6, 2x6, 2x1 Jacobians
//!   (one per view), IMU residuals with their 9x15 Jacobians and the 9x9
//!   information (one per IMU factor), the prior's relinearization;
//! - `be_schur`: accumulating the views into pose blocks, eliminating each
//!   landmark's inverse depth (a rank-one update of every pair of the states
//!   that see it), assembling the reduced pose system;
//! - `be_solve`: damping, dense Cholesky of the reduced system, the two
//!   triangular solves, back-substitution of the inverse depths;
//! - `be_evaluate`: the cost at a trial point (residuals only);
//! - `be_track`: motion-only tracking of a non-keyframe (its views, a 15x15
//!   solve);
//! - `be_marginalize`: the Schur complement of the oldest state into the
//!   prior (a 15x15 eigen decomposition and the update of the kept block).
//!
//! Operation counts per item, from the code (`reprojection.rs`, `window.rs`):
//! a reprojection residual is 104 operations (three 3x3 rotations, two
//! translations, the projection) and its Jacobians 272 more; folding a view
//! into the pose blocks is 570 (three 6x6 outer products of 6x2 by 2x6
//! blocks, two gradients, two landmark columns); an IMU residual with its
//! Jacobians about 1800 and folding it in 17 200 (`J' W J` for two 9x15
//! Jacobians and the cross block, a 9x9 inverse of the covariance); a
//! landmark's elimination 72 per pair of its states (a 6x6 outer product) and
//! 18 per state. Traffic: a view's data (32 bytes) and a landmark's (56
//! bytes) are read from the buffer level (the window is a few hundred KiB at
//! most); the pose blocks and the reduced matrix (`(15 n)^2` doubles, 146 kB
//! for nine states) are buffer traffic; the Cholesky's inner products stream
//! one operand per multiply-add from the buffer level (the matrix is larger
//! than an L1 cache). Main memory: the frame's input (tracks, IMU samples), and
//! on every pass (a build, a cost evaluation) the landmarks and views, and the
//! reduced matrix written anew: the front end's images flow through the shared
//! last-level cache between passes, so the window does not stay there.

use cost::{KernelCost, OpCounts, Residence};

/// Bytes of one landmark's fixed part (host, bearing, inverse depth, the
/// vector's header).
const LANDMARK_BYTES: u64 = 8 + 24 + 8 + 24;
/// Bytes of one view as the kernels read it (frame, camera, bearing).
const VIEW_BYTES: u64 = 32;
const RESIDUAL_OPS: u64 = 104;
const JACOBIAN_OPS: u64 = 272;
const FOLD_VIEW_OPS: u64 = 570;
const IMU_RESIDUAL_OPS: u64 = 1800;
const FOLD_IMU_OPS: u64 = 17_200;
/// A 15x15 block of the prior through the rotation's `Jr^-1` on both sides.
const PRIOR_BLOCK_OPS: u64 = 700;

fn f64_ops(n: u64) -> OpCounts {
    OpCounts {
        f64_ops: n,
        ..OpCounts::default()
    }
}

/// What one `build` of the normal equations went through.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct BuildCounts {
    /// States in the system.
    pub states: u64,
    /// IMU factors folded in.
    pub imu_factors: u64,
    /// States of the prior.
    pub prior_states: u64,
    /// Landmarks visited.
    pub landmarks: u64,
    /// Views linearized.
    pub views: u64,
    /// Pairs of states updated by landmark eliminations (`k (k + 1) / 2` per
    /// landmark seen from `k` states).
    pub schur_outer: u64,
    /// States touched by landmark eliminations.
    pub schur_entries: u64,
}

impl BuildCounts {
    /// Books a build into `ledger` (`be_linearize`, `be_schur`).
    pub fn record(&self, ledger: &mut cost::CostLedger) {
        let dim = 15 * self.states;
        let prior_dim = 15 * self.prior_states;
        let mut lin = KernelCost {
            calls: 1,
            ..KernelCost::default()
        };
        lin.add_ops(f64_ops(
            self.views * (RESIDUAL_OPS + JACOBIAN_OPS)
                + self.imu_factors * IMU_RESIDUAL_OPS
                + 2 * prior_dim * prior_dim,
        ));
        lin.read(Residence::Buffer, 8 * (prior_dim * prior_dim + prior_dim));
        // The window's landmarks and views are read again from main memory on
        // every pass: the front end streams megabytes of images through the
        // shared last-level cache between the back end's passes (measured
        // against cachegrind, docs/efficiency.md).
        lin.read(
            Residence::Main,
            self.views * VIEW_BYTES + self.landmarks * LANDMARK_BYTES,
        );
        lin.read(Residence::Local, self.views * 8 * 26);
        lin.write(Residence::Local, self.views * 8 * 26);
        ledger.record("be_linearize", lin);

        let mut schur = KernelCost {
            calls: 1,
            ..KernelCost::default()
        };
        let blocks = self.states * (self.states + 1) / 2;
        schur.add_ops(f64_ops(
            self.views * FOLD_VIEW_OPS
                + self.imu_factors * FOLD_IMU_OPS
                + self.prior_states * self.prior_states * PRIOR_BLOCK_OPS
                + self.schur_outer * 72
                + self.schur_entries * 18
                + blocks * 36 * 2,
        ));
        // Pose blocks (6x6 doubles) read and written per view and per pair;
        // the reduced matrix written once, the IMU and prior blocks added in.
        let pose_block = 36 * 8;
        schur.read(
            Residence::Buffer,
            (3 * self.views + self.schur_outer) * pose_block
                + self.imu_factors * 4 * 225 * 8
                + self.prior_states * self.prior_states * 225 * 8,
        );
        schur.write(
            Residence::Buffer,
            (3 * self.views + self.schur_outer) * pose_block,
        );
        // The reduced matrix is written over the last pass's, whose lines
        // have left the cache since: main memory.
        schur.write(Residence::Main, 8 * (dim * dim + dim));
        schur.read(Residence::Local, self.views * 8 * 48);
        ledger.record("be_schur", schur);
    }
}

/// One damped Cholesky solve of a `dim` system and the back-substitution of
/// `landmarks` inverse depths with `entries` state columns in all.
pub(crate) fn solve(dim: u64, landmarks: u64, entries: u64) -> KernelCost {
    let mut k = KernelCost {
        calls: 1,
        ..KernelCost::default()
    };
    let cholesky = dim * dim * dim / 3;
    k.add_ops(f64_ops(
        2 * cholesky + 4 * dim * dim + 2 * dim + entries * 12 + landmarks * 3,
    ));
    // Copy and damp, factorize (one streamed operand per multiply-add), two
    // triangular solves, back-substitution.
    k.read(
        Residence::Buffer,
        8 * (dim * dim + cholesky + 2 * dim * dim) + entries * 56,
    );
    k.write(Residence::Buffer, 8 * (2 * dim * dim + 2 * dim));
    k
}

/// One evaluation of the window's cost.
pub(crate) fn evaluation(imu: u64, landmarks: u64, views: u64, prior_dim: u64) -> KernelCost {
    let mut k = KernelCost {
        calls: 1,
        ..KernelCost::default()
    };
    k.add_ops(f64_ops(
        views * (RESIDUAL_OPS + 10)
            + imu * (IMU_RESIDUAL_OPS / 2 + 1458 + 180)
            + 2 * prior_dim * prior_dim
            + 30 * prior_dim,
    ));
    k.read(
        Residence::Main,
        views * VIEW_BYTES + landmarks * LANDMARK_BYTES,
    );
    k.read(Residence::Buffer, 8 * (prior_dim * prior_dim + prior_dim));
    k
}

/// Motion-only tracking: the cost evaluation before the iterations.
pub(crate) fn track_evaluation(views: u64) -> KernelCost {
    let mut k = KernelCost {
        calls: 1,
        ..KernelCost::default()
    };
    k.add_ops(f64_ops(views * (RESIDUAL_OPS + 10) + IMU_RESIDUAL_OPS));
    k.read(Residence::Buffer, views * (VIEW_BYTES + LANDMARK_BYTES));
    k
}

/// One iteration of motion-only tracking: linearize the newest frame's views
/// and IMU factor, a 15x15 Cholesky, the trial point's cost.
pub(crate) fn track_iteration(views: u64) -> KernelCost {
    let mut k = KernelCost {
        calls: 0,
        ..KernelCost::default()
    };
    let per_view = RESIDUAL_OPS + JACOBIAN_OPS + 12 + 36 * 2 + 12 + RESIDUAL_OPS + 10;
    k.add_ops(f64_ops(
        views * per_view + IMU_RESIDUAL_OPS * 2 + FOLD_IMU_OPS / 3 + 2 * 15 * 15 * 15 / 3 + 900,
    ));
    k.read(Residence::Buffer, 2 * views * (VIEW_BYTES + LANDMARK_BYTES));
    k.read(Residence::Local, views * 8 * 60 + 8 * 225 * 15);
    k.write(Residence::Local, views * 8 * 36 + 8 * 225 * 2);
    k
}

/// Marginalizing the oldest state with `keep` kept dimensions (after the
/// build of its factors, counted by [`BuildCounts`]): a 15x15 symmetric eigen
/// decomposition (about 10 sweeps of 15^3 rotations' work), the pseudo-inverse,
/// `T = H_mk' H_mm^+` and `H_kk - T H_mk`.
pub(crate) fn marginalize(keep: u64) -> KernelCost {
    let mut k = KernelCost {
        calls: 1,
        ..KernelCost::default()
    };
    let m = 15;
    k.add_ops(f64_ops(
        10 * 4 * m * m * m + 2 * m * m * m + 2 * keep * m * m + 2 * keep * keep * m + keep * keep,
    ));
    // Copies of the blocks, the product streaming H_mk per column of H_kk.
    k.read(
        Residence::Buffer,
        8 * (2 * (m + keep) * (m + keep) + keep * keep * 2 + keep * m * 2),
    );
    k.write(Residence::Buffer, 8 * (2 * keep * keep + keep * m + keep));
    k
}
