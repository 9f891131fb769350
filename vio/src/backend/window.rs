//! The sliding window: states, landmarks, the marginalization prior, and the
//! Levenberg-Marquardt solver with the Schur complement on landmarks.
//!
//! Each state (a keyframe, or the newest frame) has a 15-dimensional error state
//! `[dtheta, dp, dv, dbg, dba]` (`R <- R Exp(dtheta)`, the rest additive, world
//! axes for `p` and `v`). Landmarks are inverse depths (1 parameter each) along a
//! unit bearing in the cam0 frame of their host keyframe
//! ([`super::reprojection`]). The cost is
//!
//! ```text
//! 1/2 sum_imu |r_imu|^2_Sigma + 1/2 sum_bias |b_j - b_i|^2_Q dt
//!   + 1/2 sum_obs huber(|r_obs|^2 (f / sigma_px)^2) + prior(x)
//! ```
//!
//! The normal equations `H dx = -b` have a dense pose part (15 rows per state:
//! 135 with the default 8 keyframes and the newest frame) and a diagonal
//! landmark part; each landmark is eliminated on the fly (its
//! 1 x 1 block is a scalar), leaving the reduced system `S = H_pp - H_pl H_ll^-1
//! H_lp` that a dense Cholesky solves. Marginalizing the oldest keyframe applies
//! the same elimination to the factors that touch it (its IMU and bias factors,
//! the old prior, and every observation of the landmarks it hosts, which are
//! marginalized with it) and keeps the result as a linear prior on the remaining
//! states, linearized at their estimates of that moment. Only the prior stays
//! at that point; the IMU and visual factors on the same states are
//! relinearized at every iteration, as in VINS-Mono (Qin et al., T-RO 2018):
//! not first-estimate Jacobians in the consistency sense of Leutenegger et al.
//! (OKVIS, IJRR 2015) or Huang et al. The window solve holds the gauge (the
//! translation and the yaw about gravity that no factor observes) at the
//! oldest state ([`Window::hold_gauge`]): the prior alone let it drift.

use std::collections::BTreeMap;

use cost::CostLedger;
use datasets::ImuBias;
use nalgebra::{DMatrix, DVector, Matrix2x3, Matrix3, SMatrix, SVector, Vector2, Vector3};

use super::reprojection::{
    Extrinsics, PoseRef, observation_jacobian, residual, residual_and_jacobians,
};
use super::work;
use crate::preintegration::{NavState, Preintegrated, Vector9, imu_residual};
use crate::so3::{right_jacobian_inv, so3_exp, so3_log};

/// Smallest cost decrease worth another iteration.
const MIN_DECREASE: f64 = 1e-3;

/// Whitened squared error charged for a view whose projection is refused
/// (100 sigmas).
const REJECTED_E2: f64 = 1e4;

/// Stiffness of the held gauge directions ([`Window::hold_gauge`]), relative
/// to the oldest state's largest pose diagonal.
const GAUGE_STIFFNESS: f64 = 1e6;

/// Size of one state's error vector.
pub(crate) const STATE_DIM: usize = 15;
type Vector6 = SVector<f64, 6>;
type Vector15 = SVector<f64, 15>;
type Matrix15 = SMatrix<f64, 15, 15>;

/// One state of the window.
#[derive(Debug, Clone)]
pub(crate) struct FrameState {
    /// Frame number (unique, increasing).
    pub id: u64,
    /// Time on the IMU's clock, ns: the camera's stamp plus
    /// [`FrameState::time_offset_s`] (the IMU factors integrate between
    /// these).
    pub t_ns: i64,
    /// The camera-IMU time offset this state's time was set with, s (the
    /// window's estimate when the frame came): its observations are moved
    /// by the difference between the current estimate and this.
    pub time_offset_s: f64,
    /// Pose and velocity.
    pub nav: NavState,
    /// IMU biases.
    pub bias: ImuBias,
    /// What ties it to the previous state of the window.
    pub link: Link,
}

/// What ties a state to the one before it in the window.
#[derive(Debug, Clone)]
#[allow(
    clippy::large_enum_variant,
    reason = "at most a window's few states hold one, as Option<Preintegrated> did; boxing would allocate every frame"
)]
pub(crate) enum Link {
    /// Nothing: the window's first state.
    None,
    /// The IMU preintegrated from the previous state to this one, and the
    /// biases' random walk.
    Imu(Preintegrated),
    /// The IMU had a gap in between (`dt` s apart): a constant-velocity
    /// motion prior and the biases' random walk ([`motion_residual`]), so
    /// that stereo vision alone fixes the pose.
    Motion {
        /// Time between the two states, s.
        dt: f64,
    },
}

impl Link {
    /// The preintegrated IMU, for an IMU link.
    pub(crate) fn preint(&self) -> Option<&Preintegrated> {
        match self {
            Self::Imu(pre) => Some(pre),
            Self::None | Self::Motion { .. } => None,
        }
    }

    /// Time between the two states of a link, s (`None` for no link).
    fn dt(&self) -> Option<f64> {
        match self {
            Self::Imu(pre) => Some(pre.dt),
            Self::Motion { dt } => Some(*dt),
            Self::None => None,
        }
    }
}

/// The motion prior of a [`Link::Motion`] under white-noise acceleration of
/// spectral density `q` ((m/s^2)^2/Hz): `r_p = p_j - p_i - (v_i + v_j) dt / 2`
/// with variance `q dt^3 / 12` and `r_v = v_j - v_i` with variance `q dt`,
/// which are uncorrelated (the trapezoid is exact for a constant
/// acceleration, so a steady turn or climb costs nothing). Returns the two
/// residuals and their information.
pub(crate) fn motion_residual(
    fi: &NavState,
    fj: &NavState,
    dt: f64,
    q: f64,
) -> ([Vector3<f64>; 2], [f64; 2]) {
    let dt = dt.max(1e-3);
    let r_p = fj.position - fi.position - (fi.velocity + fj.velocity) * (0.5 * dt);
    let r_v = fj.velocity - fi.velocity;
    ([r_p, r_v], [12.0 / (q * dt.powi(3)), 1.0 / (q * dt)])
}

/// The Jacobians of [`motion_residual`]: each residual's derivative with
/// respect to a state's position (error-state rows 3..6) or velocity
/// (6..9) is a multiple of the identity, `(residual, state 0 for i or 1 for
/// j, row offset, multiple)`.
fn motion_jacobian(dt: f64) -> [(usize, usize, usize, f64); 6] {
    let h = 0.5 * dt.max(1e-3);
    [
        (0, 0, 3, -1.0),
        (0, 0, 6, -h),
        (0, 1, 3, 1.0),
        (0, 1, 6, -h),
        (1, 0, 6, -1.0),
        (1, 1, 6, 1.0),
    ]
}

/// One observation of a landmark.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Observation {
    /// Frame number.
    pub frame: u64,
    /// Camera (0 left, 1 right).
    pub cam: u8,
    /// Unit bearing in that camera.
    pub z: Vector3<f64>,
    /// How fast `z` moves, 1/s (tangent to it).
    pub rate: Vector3<f64>,
}

/// A landmark: an inverse depth along a bearing of its host keyframe's cam0.
#[derive(Debug, Clone)]
pub(crate) struct Landmark {
    /// Host keyframe (frame number).
    pub host: u64,
    /// Unit bearing in the host's cam0 frame.
    pub bearing: Vector3<f64>,
    /// How fast `bearing` moved when it was seen, 1/s.
    pub bearing_rate: Vector3<f64>,
    /// Inverse depth, 1/m.
    pub rho: f64,
    /// Observations, oldest first; the host's cam0 view is the bearing itself and
    /// is not listed.
    pub obs: Vec<Observation>,
}

/// A linear(ized) prior on some states and the time offset: `cost = b0 . dx
/// + 1/2 dx' H dx` with `dx = x - x_lin`, the time offset last.
#[derive(Debug, Clone)]
pub(crate) struct Prior {
    /// The states it constrains (frame numbers), in order.
    pub ids: Vec<u64>,
    /// Their linearization points.
    pub lin: Vec<(NavState, ImuBias)>,
    /// The time offset's linearization point, s.
    pub lin_time_offset_s: f64,
    /// Information matrix, `15 ids.len() + 1` square.
    pub h: DMatrix<f64>,
    /// Gradient at the linearization point.
    pub b: DVector<f64>,
}

/// Weights of the cost.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CostWeights {
    /// `(focal_px / sigma_px)^2`: information of a normalized-plane residual.
    pub obs_information: f64,
    /// Huber threshold on the whitened reprojection error (sigmas).
    pub huber: f64,
    /// Gyro bias random walk, rad/s^2/sqrt(Hz).
    pub gyro_random_walk: f64,
    /// Accelerometer bias random walk, m/s^3/sqrt(Hz).
    pub accel_random_walk: f64,
    /// Spectral density of the white-noise acceleration of a
    /// [`Link::Motion`], (m/s^2)^2/Hz.
    pub motion_q: f64,
}

/// What the system is built from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Selection {
    /// Every factor.
    All,
    /// Only the factors touching the oldest state.
    Oldest,
}

/// One landmark's eliminated block, for back-substitution.
#[derive(Debug, Clone, Copy)]
struct LandmarkBlock {
    key: u64,
    h_ll: f64,
    b_l: f64,
    /// Its coupling with the time offset.
    h_lt: f64,
    start: usize,
    len: usize,
}

/// Outcome of an optimization.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SolveReport {
    /// Iterations run.
    pub iterations: usize,
    /// Cost before.
    pub initial_cost: f64,
    /// Cost after.
    pub final_cost: f64,
}

/// The sliding window and its solver.
#[derive(Debug)]
pub(crate) struct Window {
    pub frames: Vec<FrameState>,
    pub landmarks: BTreeMap<u64, Landmark>,
    pub prior: Option<Prior>,
    pub ext: Extrinsics,
    pub weights: CostWeights,
    /// The camera-IMU time offset, s (Kalibr's convention: `t_imu = t_cam +
    /// offset`): the last entry of the solved vector.
    pub time_offset_s: f64,
    /// Whether the solves move the time offset (otherwise it stays at its
    /// configured value).
    pub estimate_time_offset: bool,
    /// Random walk of the time offset, s/sqrt(s), applied to the prior at
    /// each marginalization ([`add_random_walk_on_last`]).
    pub time_offset_random_walk: f64,
    // Scratch, reused.
    h: DMatrix<f64>,
    b: DVector<f64>,
    /// The damped reduced matrix, factorized in place.
    damped: DMatrix<f64>,
    blocks: Vec<LandmarkBlock>,
    block_entries: Vec<(usize, Vector6)>,
    acc: Vec<Option<Vector6>>,
    /// Pose-pose blocks of the landmark terms, `[a * n + b]` for `a <= b`.
    pose_blocks: Vec<SMatrix<f64, 6, 6>>,
    pose_grad: Vec<Vector6>,
    /// Pose-time-offset blocks of the landmark terms.
    pose_time: Vec<Vector6>,
    backup_frames: Vec<FrameState>,
    backup_time_offset_s: f64,
    backup_rho: Vec<f64>,
    /// Counted work of the current frame (see the `work` module).
    pub cost: CostLedger,
}

impl Window {
    pub(crate) fn new(ext: Extrinsics, weights: CostWeights) -> Self {
        Self {
            frames: Vec::new(),
            landmarks: BTreeMap::new(),
            prior: None,
            ext,
            weights,
            time_offset_s: 0.0,
            estimate_time_offset: false,
            time_offset_random_walk: 0.0,
            h: DMatrix::zeros(0, 0),
            b: DVector::zeros(0),
            damped: DMatrix::zeros(0, 0),
            blocks: Vec::new(),
            block_entries: Vec::new(),
            acc: Vec::new(),
            pose_blocks: Vec::new(),
            pose_grad: Vec::new(),
            pose_time: Vec::new(),
            backup_frames: Vec::new(),
            backup_time_offset_s: 0.0,
            backup_rho: Vec::new(),
            cost: CostLedger::new(),
        }
    }

    pub(crate) fn clear(&mut self) {
        self.frames.clear();
        self.landmarks.clear();
        self.prior = None;
    }

    pub(crate) fn position(&self, id: u64) -> Option<usize> {
        self.frames.iter().position(|f| f.id == id)
    }

    /// The state difference `x - lin` in error-state coordinates.
    fn state_delta(frame: &FrameState, lin: &(NavState, ImuBias)) -> Vector15 {
        let mut d = Vector15::zeros();
        let dr = lin.0.rotation.inverse() * frame.nav.rotation;
        d.fixed_rows_mut::<3>(0)
            .copy_from(&so3_log(&dr.to_rotation_matrix()));
        d.fixed_rows_mut::<3>(3)
            .copy_from(&(frame.nav.position - lin.0.position));
        d.fixed_rows_mut::<3>(6)
            .copy_from(&(frame.nav.velocity - lin.0.velocity));
        d.fixed_rows_mut::<3>(9)
            .copy_from(&(frame.bias.gyro - lin.1.gyro));
        d.fixed_rows_mut::<3>(12)
            .copy_from(&(frame.bias.accel - lin.1.accel));
        d
    }

    /// The host bearing and the observed bearing of a view moved to the
    /// instants their states stand for (VINS-Mono's time-offset model,
    /// first order): an observation made at camera time `t` was taken at
    /// IMU time `t + offset`, its state is at `t + offset_k` (the estimate
    /// when the frame came), so it is moved back by `(offset - offset_k)`
    /// times its rate. Returns the two bearings and the residual's
    /// derivative with respect to the offset is `-J_f rate_f - J_z rate_z`
    /// ([`Window::time_offset_jacobian`]).
    fn moved(
        &self,
        lm: &Landmark,
        host: &FrameState,
        ob: &Observation,
        target: &FrameState,
    ) -> (Vector3<f64>, Vector3<f64>) {
        let sh = self.time_offset_s - host.time_offset_s;
        let st = self.time_offset_s - target.time_offset_s;
        (lm.bearing - lm.bearing_rate * sh, ob.z - ob.rate * st)
    }

    /// The derivative of a view's residual with respect to the time offset,
    /// from its Jacobian with respect to the host bearing and the moved
    /// observed bearing `z`.
    fn time_offset_jacobian(
        j_bearing: &Matrix2x3<f64>,
        lm: &Landmark,
        ob: &Observation,
        z: &Vector3<f64>,
    ) -> Vector2<f64> {
        -(j_bearing * lm.bearing_rate) - observation_jacobian(z) * ob.rate
    }

    /// Every view's whitened squared reprojection error (`None` when the point
    /// is behind the camera), landmark by landmark in key order, views in
    /// order: `f(key, view index, error)`.
    pub(crate) fn for_each_view_error(&self, mut f: impl FnMut(u64, usize, Option<f64>)) {
        let rotations: Vec<Matrix3<f64>> = self
            .frames
            .iter()
            .map(|f| f.nav.rotation.to_rotation_matrix().into_inner())
            .collect();
        for (&key, lm) in &self.landmarks {
            let hp = self.position(lm.host);
            for (k, ob) in lm.obs.iter().enumerate() {
                let e2 = hp.zip(self.position(ob.frame)).and_then(|(hp, tp)| {
                    let (f, z) = self.moved(lm, &self.frames[hp], ob, &self.frames[tp]);
                    residual(
                        &self.ext,
                        PoseRef {
                            r: &rotations[hp],
                            p: &self.frames[hp].nav.position,
                        },
                        PoseRef {
                            r: &rotations[tp],
                            p: &self.frames[tp].nav.position,
                        },
                        &f,
                        lm.rho,
                        usize::from(ob.cam),
                        &z,
                    )
                    .map(|r| r.norm_squared() * self.weights.obs_information)
                });
                f(key, k, e2);
            }
        }
    }

    /// The whitened squared reprojection error of one observation, `None` when
    /// the point is behind the camera or a frame is missing.
    pub(crate) fn observation_error(&self, lm: &Landmark, ob: &Observation) -> Option<f64> {
        let host = &self.frames[self.position(lm.host)?];
        let target = &self.frames[self.position(ob.frame)?];
        let rh = host.nav.rotation.to_rotation_matrix().into_inner();
        let rt = target.nav.rotation.to_rotation_matrix().into_inner();
        let (f, z) = self.moved(lm, host, ob, target);
        let r = residual(
            &self.ext,
            PoseRef {
                r: &rh,
                p: &host.nav.position,
            },
            PoseRef {
                r: &rt,
                p: &target.nav.position,
            },
            &f,
            lm.rho,
            usize::from(ob.cam),
            &z,
        )?;
        Some(r.norm_squared() * self.weights.obs_information)
    }

    fn huber(&self, e2: f64) -> (f64, f64) {
        let k = self.weights.huber;
        if e2 <= k * k {
            (e2, 1.0)
        } else {
            let e = e2.sqrt();
            (2.0 * k * e - k * k, k / e)
        }
    }

    fn imu_information(pre: &Preintegrated) -> SMatrix<f64, 9, 9> {
        let mut cov = pre.covariance;
        for i in 0..9 {
            cov[(i, i)] += 1e-12;
        }
        cov.try_inverse()
            .unwrap_or_else(SMatrix::<f64, 9, 9>::identity)
    }

    fn bias_information(&self, dt: f64) -> (f64, f64) {
        let dt = dt.max(1e-3);
        (
            1.0 / (self.weights.gyro_random_walk.powi(2) * dt),
            1.0 / (self.weights.accel_random_walk.powi(2) * dt),
        )
    }

    /// The total cost at the current estimate.
    pub(crate) fn cost(&self) -> f64 {
        let mut cost = 0.0;
        for j in 1..self.frames.len() {
            let (fi, fj) = (&self.frames[j - 1], &self.frames[j]);
            match &fj.link {
                Link::None => continue,
                Link::Imu(pre) => {
                    let (r, _, _) = imu_residual(pre, &fi.nav, &fi.bias, &fj.nav);
                    let w = Self::imu_information(pre);
                    cost += 0.5 * (r.transpose() * w * r)[0];
                }
                Link::Motion { dt } => {
                    let (r, w) = motion_residual(&fi.nav, &fj.nav, *dt, self.weights.motion_q);
                    cost += 0.5 * (w[0] * r[0].norm_squared() + w[1] * r[1].norm_squared());
                }
            }
            if let Some(dt) = fj.link.dt() {
                let (wg, wa) = self.bias_information(dt);
                cost += 0.5 * wg * (fj.bias.gyro - fi.bias.gyro).norm_squared();
                cost += 0.5 * wa * (fj.bias.accel - fi.bias.accel).norm_squared();
            }
        }
        if let Some(prior) = &self.prior {
            cost += self.prior_cost(prior);
        }
        // A view the projection refuses (behind the camera) is charged as a
        // gross outlier, so a step cannot lower the cost by pushing points
        // behind cameras.
        self.for_each_view_error(|_, _, e2| {
            cost += 0.5 * self.huber(e2.unwrap_or(REJECTED_E2)).0;
        });
        cost
    }

    fn prior_dx(&self, prior: &Prior) -> DVector<f64> {
        let mut dx = DVector::zeros(prior.b.len());
        for (k, id) in prior.ids.iter().enumerate() {
            if let Some(p) = self.position(*id) {
                let d = Self::state_delta(&self.frames[p], &prior.lin[k]);
                dx.rows_mut(k * STATE_DIM, STATE_DIM).copy_from(&d);
            }
        }
        dx[prior.ids.len() * STATE_DIM] = self.time_offset_s - prior.lin_time_offset_s;
        dx
    }

    /// Index of the time offset in the solved vector.
    fn time_index(&self) -> usize {
        self.frames.len() * STATE_DIM
    }

    fn prior_cost(&self, prior: &Prior) -> f64 {
        let dx = self.prior_dx(prior);
        prior.b.dot(&dx) + 0.5 * (dx.transpose() * &prior.h * &dx)[0]
    }

    /// Builds the reduced normal equations into `self.h`, `self.b` (landmarks
    /// eliminated, their blocks kept for back-substitution), with the landmark
    /// diagonal damped by `1 + lambda`.
    fn build(&mut self, selection: Selection, lambda: f64) {
        let n = self.frames.len();
        let ti = self.time_index();
        let dim = ti + 1;
        if self.h.nrows() != dim {
            self.h = DMatrix::zeros(dim, dim);
            self.b = DVector::zeros(dim);
        } else {
            self.h.fill(0.0);
            self.b.fill(0.0);
        }
        self.blocks.clear();
        self.block_entries.clear();
        let last_imu = if selection == Selection::Oldest {
            2.min(n)
        } else {
            n
        };
        let mut counts = work::BuildCounts::default();
        // IMU and bias random-walk factors.
        for j in 1..last_imu {
            let (fi, fj) = (&self.frames[j - 1], &self.frames[j]);
            let i0 = (j - 1) * STATE_DIM;
            let j0 = j * STATE_DIM;
            match &fj.link {
                Link::None => continue,
                Link::Imu(pre) => {
                    counts.imu_factors += 1;
                    let (r, ji, jj) = imu_residual(pre, &fi.nav, &fi.bias, &fj.nav);
                    let w = Self::imu_information(pre);
                    let wji = w * ji;
                    let wjj = w * jj;
                    add_block(&mut self.h, i0, i0, &(ji.transpose() * wji));
                    add_block(&mut self.h, j0, j0, &(jj.transpose() * wjj));
                    let hij = ji.transpose() * wjj;
                    add_block(&mut self.h, i0, j0, &hij);
                    add_block(&mut self.h, j0, i0, &hij.transpose());
                    let wr: Vector9 = w * r;
                    add_rows(&mut self.b, i0, &(ji.transpose() * wr));
                    add_rows(&mut self.b, j0, &(jj.transpose() * wr));
                }
                Link::Motion { dt } => {
                    let (r, w) = motion_residual(&fi.nav, &fj.nav, *dt, self.weights.motion_q);
                    let jac = motion_jacobian(*dt);
                    let offset = |state: usize| if state == 0 { i0 } else { j0 };
                    for &(ra, sa, oa, ca) in &jac {
                        add_rows(&mut self.b, offset(sa) + oa, &(r[ra] * (w[ra] * ca)));
                        for &(rb, sb, ob, cb) in jac.iter().filter(|e| e.0 == ra) {
                            debug_assert_eq!(ra, rb);
                            for k in 0..3 {
                                self.h[(offset(sa) + oa + k, offset(sb) + ob + k)] +=
                                    w[ra] * ca * cb;
                            }
                        }
                    }
                }
            }
            let Some(dt) = fj.link.dt() else { continue };
            let (wg, wa) = self.bias_information(dt);
            for k in 0..6 {
                let wk = if k < 3 { wg } else { wa };
                let (ii, jj_) = (i0 + 9 + k, j0 + 9 + k);
                let rk = if k < 3 {
                    fj.bias.gyro[k] - fi.bias.gyro[k]
                } else {
                    fj.bias.accel[k - 3] - fi.bias.accel[k - 3]
                };
                self.h[(ii, ii)] += wk;
                self.h[(jj_, jj_)] += wk;
                self.h[(ii, jj_)] -= wk;
                self.h[(jj_, ii)] -= wk;
                self.b[ii] -= wk * rk;
                self.b[jj_] += wk * rk;
            }
        }
        // Prior. Its residual is linear in `dx = x [-] x_lin`, whose rotation part
        // `Log(R_lin^T R)` has the Jacobian `Jr^-1(dtheta)` with respect to the
        // state's perturbation: `H' = J^T H J`, `b' = J^T (b0 + H dx)`.
        if let Some(prior) = &self.prior {
            let dx = self.prior_dx(prior);
            let g = &prior.b + &prior.h * &dx;
            let m = prior.ids.len();
            counts.prior_states = m as u64;
            let jr_inv: Vec<Matrix3<f64>> = (0..m)
                .map(|k| {
                    right_jacobian_inv(&Vector3::new(
                        dx[k * STATE_DIM],
                        dx[k * STATE_DIM + 1],
                        dx[k * STATE_DIM + 2],
                    ))
                })
                .collect();
            let pos: Vec<Option<usize>> = prior.ids.iter().map(|id| self.position(*id)).collect();
            for (a, pa) in pos.iter().enumerate() {
                let Some(pa) = pa else { continue };
                for (c, pc) in pos.iter().enumerate() {
                    let Some(pc) = pc else { continue };
                    let mut blk: Matrix15 = prior
                        .h
                        .fixed_view::<STATE_DIM, STATE_DIM>(a * STATE_DIM, c * STATE_DIM)
                        .into_owned();
                    let top = jr_inv[a].transpose() * blk.fixed_rows::<3>(0);
                    blk.fixed_rows_mut::<3>(0).copy_from(&top);
                    let left = blk.fixed_columns::<3>(0) * jr_inv[c];
                    blk.fixed_columns_mut::<3>(0).copy_from(&left);
                    add_block(&mut self.h, pa * STATE_DIM, pc * STATE_DIM, &blk);
                }
                let mut ga: Vector15 = g.fixed_rows::<STATE_DIM>(a * STATE_DIM).into_owned();
                let top = jr_inv[a].transpose() * ga.fixed_rows::<3>(0);
                ga.fixed_rows_mut::<3>(0).copy_from(&top);
                add_rows(&mut self.b, pa * STATE_DIM, &ga);
                // With the time offset (the prior's last row).
                let mut ht: Vector15 = prior
                    .h
                    .fixed_view::<STATE_DIM, 1>(a * STATE_DIM, m * STATE_DIM)
                    .into_owned();
                let top = jr_inv[a].transpose() * ht.fixed_rows::<3>(0);
                ht.fixed_rows_mut::<3>(0).copy_from(&top);
                for k in 0..STATE_DIM {
                    self.h[(pa * STATE_DIM + k, ti)] += ht[k];
                    self.h[(ti, pa * STATE_DIM + k)] += ht[k];
                }
            }
            self.h[(ti, ti)] += prior.h[(m * STATE_DIM, m * STATE_DIM)];
            self.b[ti] += g[m * STATE_DIM];
        }
        // Landmarks, eliminated one by one.
        let rotations: Vec<Matrix3<f64>> = self
            .frames
            .iter()
            .map(|f| f.nav.rotation.to_rotation_matrix().into_inner())
            .collect();
        self.acc.clear();
        self.acc.resize(n, None);
        self.pose_blocks.clear();
        self.pose_blocks.resize(n * n, SMatrix::zeros());
        self.pose_grad.clear();
        self.pose_grad.resize(n, Vector6::zeros());
        self.pose_time.clear();
        self.pose_time.resize(n, Vector6::zeros());
        let with_time = self.estimate_time_offset;
        let (mut h_tt, mut b_t) = (0.0, 0.0);
        let oldest = self.frames.first().map(|f| f.id);
        for (&key, lm) in &self.landmarks {
            if selection == Selection::Oldest && Some(lm.host) != oldest {
                continue;
            }
            let Some(hp) = self.position(lm.host) else {
                continue;
            };
            let mut h_ll = 0.0;
            let mut b_l = 0.0;
            let mut h_lt = 0.0;
            for a in self.acc.iter_mut() {
                *a = None;
            }
            counts.landmarks += 1;
            for ob in &lm.obs {
                let Some(tp) = self.position(ob.frame) else {
                    continue;
                };
                counts.views += 1;
                let (f, z) = self.moved(lm, &self.frames[hp], ob, &self.frames[tp]);
                let Some((r, j)) = residual_and_jacobians(
                    &self.ext,
                    PoseRef {
                        r: &rotations[hp],
                        p: &self.frames[hp].nav.position,
                    },
                    PoseRef {
                        r: &rotations[tp],
                        p: &self.frames[tp].nav.position,
                    },
                    &f,
                    lm.rho,
                    usize::from(ob.cam),
                    &z,
                ) else {
                    continue;
                };
                let e2 = r.norm_squared() * self.weights.obs_information;
                let (_, robust) = self.huber(e2);
                let w = robust * self.weights.obs_information;
                h_ll += w * j.rho.norm_squared();
                b_l += w * j.rho.dot(&r);
                let j_t = if with_time {
                    Self::time_offset_jacobian(&j.bearing, lm, ob, &z)
                } else {
                    Vector2::zeros()
                };
                if with_time {
                    h_lt += w * j.rho.dot(&j_t);
                    h_tt += w * j_t.norm_squared();
                    b_t += w * j_t.dot(&r);
                }
                if tp == hp {
                    continue;
                }
                let jh_t = j.host.transpose() * w;
                let jt_t = j.target.transpose() * w;
                if with_time {
                    self.pose_time[hp] += jh_t * j_t;
                    self.pose_time[tp] += jt_t * j_t;
                }
                self.pose_blocks[hp * n + hp] += jh_t * j.host;
                self.pose_blocks[tp * n + tp] += jt_t * j.target;
                if hp < tp {
                    self.pose_blocks[hp * n + tp] += jh_t * j.target;
                } else {
                    self.pose_blocks[tp * n + hp] += jt_t * j.host;
                }
                self.pose_grad[hp] += jh_t * r;
                self.pose_grad[tp] += jt_t * r;
                let hl = jh_t * j.rho;
                let tl = jt_t * j.rho;
                self.acc[hp] = Some(self.acc[hp].unwrap_or_else(Vector6::zeros) + hl);
                self.acc[tp] = Some(self.acc[tp].unwrap_or_else(Vector6::zeros) + tl);
            }
            if h_ll <= 1e-9 {
                continue;
            }
            let h_ll_damped = h_ll * (1.0 + lambda);
            let start = self.block_entries.len();
            for (p, a) in self.acc.iter().enumerate() {
                if let Some(v) = a {
                    self.block_entries.push((p, *v));
                }
            }
            let entries = &self.block_entries[start..];
            let k = entries.len() as u64;
            counts.schur_outer += k * (k + 1) / 2;
            counts.schur_entries += k;
            let inv = -1.0 / h_ll_damped;
            for (k, &(pa, va)) in entries.iter().enumerate() {
                let va_s = va * inv;
                for &(pb, vb) in &entries[k..] {
                    self.pose_blocks[pa * n + pb] += va_s * vb.transpose();
                }
                self.pose_grad[pa] += va_s * b_l;
                self.pose_time[pa] += va_s * h_lt;
            }
            h_tt += h_lt * inv * h_lt;
            b_t += h_lt * inv * b_l;
            self.blocks.push(LandmarkBlock {
                key,
                h_ll: h_ll_damped,
                b_l,
                h_lt,
                start,
                len: self.block_entries.len() - start,
            });
        }
        counts.states = n as u64;
        counts.record(&mut self.cost);
        for a in 0..n {
            add_rows6(&mut self.b, a * STATE_DIM, &self.pose_grad[a]);
            for c in a..n {
                let blk = self.pose_blocks[a * n + c];
                add_block6(&mut self.h, a * STATE_DIM, c * STATE_DIM, &blk);
                if c != a {
                    add_block6(&mut self.h, c * STATE_DIM, a * STATE_DIM, &blk.transpose());
                }
            }
            for k in 0..6 {
                self.h[(a * STATE_DIM + k, ti)] += self.pose_time[a][k];
                self.h[(ti, a * STATE_DIM + k)] += self.pose_time[a][k];
            }
        }
        self.h[(ti, ti)] += h_tt;
        self.b[ti] += b_t;
        if !with_time {
            // Held: a unit row of its own with no gradient, so the step
            // leaves it where it is.
            self.h.row_mut(ti).fill(0.0);
            self.h.column_mut(ti).fill(0.0);
            self.h[(ti, ti)] = 1.0;
            self.b[ti] = 0.0;
        }
    }

    /// The normal equations of the newest state alone, every other state and
    /// every landmark held fixed, and the cost of the factors touching it.
    fn newest_system(&self, with_jacobians: bool) -> (Matrix15, Vector15, f64) {
        let mut h = Matrix15::zeros();
        let mut g = Vector15::zeros();
        let mut cost = 0.0;
        let n = self.frames.len();
        let (fi, fj) = (&self.frames[n - 2], &self.frames[n - 1]);
        match &fj.link {
            Link::None => {}
            Link::Imu(pre) => {
                let (r, _, jj) = imu_residual(pre, &fi.nav, &fi.bias, &fj.nav);
                let w = Self::imu_information(pre);
                cost += 0.5 * (r.transpose() * w * r)[0];
                if with_jacobians {
                    let wjj = w * jj;
                    h += jj.transpose() * wjj;
                    g += jj.transpose() * (w * r);
                }
            }
            Link::Motion { dt } => {
                let (r, w) = motion_residual(&fi.nav, &fj.nav, *dt, self.weights.motion_q);
                cost += 0.5 * (w[0] * r[0].norm_squared() + w[1] * r[1].norm_squared());
                if with_jacobians {
                    let jac = motion_jacobian(*dt);
                    for &(ra, _, oa, ca) in jac.iter().filter(|e| e.1 == 1) {
                        let mut rows = g.fixed_rows_mut::<3>(oa);
                        rows += r[ra] * (w[ra] * ca);
                        for &(_, _, ob, cb) in jac.iter().filter(|e| e.0 == ra && e.1 == 1) {
                            for k in 0..3 {
                                h[(oa + k, ob + k)] += w[ra] * ca * cb;
                            }
                        }
                    }
                }
            }
        }
        if let Some(dt) = fj.link.dt() {
            let (wg, wa) = self.bias_information(dt);
            let dg = fj.bias.gyro - fi.bias.gyro;
            let da = fj.bias.accel - fi.bias.accel;
            cost += 0.5 * (wg * dg.norm_squared() + wa * da.norm_squared());
            for k in 0..3 {
                h[(9 + k, 9 + k)] += wg;
                h[(12 + k, 12 + k)] += wa;
                g[9 + k] += wg * dg[k];
                g[12 + k] += wa * da[k];
            }
        }
        let rt = fj.nav.rotation.to_rotation_matrix().into_inner();
        let mut host_cache: Option<(u64, Matrix3<f64>, Vector3<f64>, f64)> = None;
        for lm in self.landmarks.values() {
            if lm.host == fj.id {
                continue;
            }
            let (rh, ph, host_time_offset_s) = match host_cache {
                Some((id, r, p, t)) if id == lm.host => (r, p, t),
                _ => {
                    let Some(hp) = self.position(lm.host) else {
                        continue;
                    };
                    let f = &self.frames[hp];
                    let r = f.nav.rotation.to_rotation_matrix().into_inner();
                    host_cache = Some((lm.host, r, f.nav.position, f.time_offset_s));
                    (r, f.nav.position, f.time_offset_s)
                }
            };
            for ob in lm.obs.iter().rev().take_while(|o| o.frame == fj.id) {
                let f = lm.bearing - lm.bearing_rate * (self.time_offset_s - host_time_offset_s);
                let z = ob.z - ob.rate * (self.time_offset_s - fj.time_offset_s);
                let host = PoseRef { r: &rh, p: &ph };
                let target = PoseRef {
                    r: &rt,
                    p: &fj.nav.position,
                };
                let cam = usize::from(ob.cam);
                if with_jacobians {
                    let Some((r, j)) =
                        residual_and_jacobians(&self.ext, host, target, &f, lm.rho, cam, &z)
                    else {
                        continue;
                    };
                    let e2 = r.norm_squared() * self.weights.obs_information;
                    let (rho_cost, robust) = self.huber(e2);
                    cost += 0.5 * rho_cost;
                    let w = robust * self.weights.obs_information;
                    let jt = j.target.transpose() * w;
                    let mut hv = h.fixed_view_mut::<6, 6>(0, 0);
                    hv += jt * j.target;
                    let mut gv = g.fixed_rows_mut::<6>(0);
                    gv += jt * r;
                } else if let Some(r) = residual(&self.ext, host, target, &f, lm.rho, cam, &z) {
                    cost += 0.5
                        * self
                            .huber(r.norm_squared() * self.weights.obs_information)
                            .0;
                }
            }
        }
        (h, g, cost)
    }

    /// Levenberg-Marquardt on the newest state alone (motion-only tracking of a
    /// frame against the fixed keyframes and landmarks).
    pub(crate) fn optimize_newest(&mut self, max_iterations: usize) -> SolveReport {
        let mut report = SolveReport::default();
        if self.frames.len() < 2 {
            return report;
        }
        let (_, _, c0) = self.newest_system(false);
        report.initial_cost = c0;
        let mut cost = c0;
        let mut lambda = 1e-4;
        let views = if cost::counting() {
            self.newest_views()
        } else {
            0
        };
        self.cost.record("be_track", work::track_evaluation(views));
        for _ in 0..max_iterations {
            report.iterations += 1;
            self.cost.record("be_track", work::track_iteration(views));
            let (mut h, g, _) = self.newest_system(true);
            for i in 0..STATE_DIM {
                h[(i, i)] += lambda * h[(i, i)].max(1e-6);
            }
            let Some(chol) = h.cholesky() else {
                lambda *= 10.0;
                continue;
            };
            let dx = chol.solve(&(-g));
            let Some(saved) = self.frames.last().cloned() else {
                break;
            };
            if let Some(f) = self.frames.last_mut() {
                apply_state(f, &dx);
            }
            let (_, _, new_cost) = self.newest_system(false);
            if new_cost.is_finite() && new_cost <= cost {
                let decrease = cost - new_cost;
                cost = new_cost;
                lambda = (lambda * 0.3).max(1e-7);
                // The cost is half a sum of whitened squared errors (plus the
                // prior, which has no constant): a decrease below 1e-3 changes
                // nothing that matters.
                if decrease < MIN_DECREASE || dx.amax() < 1e-6 {
                    break;
                }
            } else {
                if let Some(f) = self.frames.last_mut() {
                    *f = saved;
                }
                lambda *= 10.0;
                if lambda > 1e4 {
                    break;
                }
            }
        }
        report.final_cost = cost;
        report
    }

    /// Levenberg-Marquardt on the whole window.
    pub(crate) fn optimize(&mut self, max_iterations: usize) -> SolveReport {
        let mut report = SolveReport {
            initial_cost: self.cost(),
            ..SolveReport::default()
        };
        self.count_evaluation();
        let mut cost = report.initial_cost;
        let mut lambda = 1e-4;
        for _ in 0..max_iterations {
            report.iterations += 1;
            self.build(Selection::All, lambda);
            let dim = self.h.nrows();
            let mut s = std::mem::replace(&mut self.damped, DMatrix::zeros(0, 0));
            if s.shape() == self.h.shape() {
                s.copy_from(&self.h);
            } else {
                s = self.h.clone();
            }
            for i in 0..dim {
                s[(i, i)] += lambda * s[(i, i)].max(1e-6);
            }
            self.hold_gauge(&mut s);
            let Some(chol) = s.cholesky() else {
                lambda *= 10.0;
                continue;
            };
            let dx = chol.solve(&(-&self.b));
            // Keep the buffer for the next iteration.
            self.damped = chol.unpack();
            self.backup();
            self.apply(&dx);
            let entries = self.block_entries.len() as u64;
            let landmarks = self.blocks.len() as u64;
            self.cost
                .record("be_solve", work::solve(dim as u64, landmarks, entries));
            let new_cost = self.cost();
            self.count_evaluation();
            if new_cost.is_finite() && new_cost <= cost {
                let decrease = cost - new_cost;
                cost = new_cost;
                lambda = (lambda * 0.3).max(1e-7);
                // The cost is half a sum of whitened squared errors (plus the
                // prior, which has no constant): a decrease below 1e-3 changes
                // nothing that matters.
                if decrease < MIN_DECREASE || dx.amax() < 1e-6 {
                    break;
                }
            } else {
                self.restore();
                lambda *= 10.0;
                if lambda > 1e4 {
                    break;
                }
            }
        }
        report.final_cost = cost;
        report
    }

    /// Holds the four directions no factor observes (Zhang, Gallego &
    /// Scaramuzza, RA-L 2018: a visual-inertial problem is invariant to a
    /// translation and a rotation about gravity) fixed at the oldest state:
    /// its position and its rotation about the world's z axis get a stiffness
    /// [`GAUGE_STIFFNESS`] times its largest pose diagonal in `s`, the
    /// reduced system, so a step leaves them where they are.
    ///
    /// Without it, only the marginalization prior holds the window in place,
    /// and that prior, linearized once, is not invariant to where the window
    /// has moved since: as the damping falls, Gauss-Newton steps turn the
    /// whole window about the vertical by up to 4e-4 rad an iteration at no
    /// change in cost, and the yaw the last solve left behind accumulated
    /// keyframe after keyframe (5.7 degrees over 150 s of the world-2 flight).
    fn hold_gauge(&self, s: &mut DMatrix<f64>) {
        let Some(oldest) = self.frames.first() else {
            return;
        };
        let scale = (0..6).map(|i| s[(i, i)]).fold(1.0, f64::max);
        let stiffness = GAUGE_STIFFNESS * scale;
        // `R Exp(dtheta)` turns about world z by `delta` for `dtheta = R^T z delta`.
        let up = oldest.nav.rotation.inverse() * Vector3::z();
        for r in 0..3 {
            for c in 0..3 {
                s[(r, c)] += stiffness * up[r] * up[c];
            }
            s[(3 + r, 3 + r)] += stiffness;
        }
    }

    /// Counts one evaluation of [`Window::cost`] at the window's size.
    fn count_evaluation(&mut self) {
        if !cost::counting() {
            return;
        }
        let imu = self
            .frames
            .iter()
            .filter(|f| f.link.preint().is_some())
            .count() as u64;
        let views: u64 = self.landmarks.values().map(|lm| lm.obs.len() as u64).sum();
        let prior_dim = self.prior.as_ref().map_or(0, |p| p.b.len() as u64);
        self.cost.record(
            "be_evaluate",
            work::evaluation(imu, self.landmarks.len() as u64, views, prior_dim),
        );
    }

    /// Views of the newest frame that motion-only tracking linearizes.
    fn newest_views(&self) -> u64 {
        let Some(newest) = self.frames.last().map(|f| f.id) else {
            return 0;
        };
        self.landmarks
            .values()
            .filter(|lm| lm.host != newest)
            .map(|lm| {
                lm.obs
                    .iter()
                    .rev()
                    .take_while(|o| o.frame == newest)
                    .count() as u64
            })
            .sum()
    }

    fn backup(&mut self) {
        self.backup_frames.clone_from(&self.frames);
        self.backup_time_offset_s = self.time_offset_s;
        self.backup_rho.clear();
        self.backup_rho
            .extend(self.blocks.iter().map(|b| self.landmarks[&b.key].rho));
    }

    fn restore(&mut self) {
        self.frames.clone_from(&self.backup_frames);
        self.time_offset_s = self.backup_time_offset_s;
        for (blk, rho) in self.blocks.iter().zip(&self.backup_rho) {
            if let Some(lm) = self.landmarks.get_mut(&blk.key) {
                lm.rho = *rho;
            }
        }
    }

    fn apply(&mut self, dx: &DVector<f64>) {
        for (k, f) in self.frames.iter_mut().enumerate() {
            let d = dx.fixed_rows::<STATE_DIM>(k * STATE_DIM).into_owned();
            apply_state(f, &d);
        }
        let dt = dx[self.time_index()];
        self.time_offset_s += dt;
        for blk in &self.blocks {
            let mut num = blk.b_l + blk.h_lt * dt;
            for &(p, v) in &self.block_entries[blk.start..blk.start + blk.len] {
                num += v.dot(&dx.fixed_rows::<6>(p * STATE_DIM));
            }
            if let Some(lm) = self.landmarks.get_mut(&blk.key) {
                lm.rho -= num / blk.h_ll;
            }
        }
    }

    /// Marginalizes the oldest state into the prior, together with the
    /// landmarks it hosts and all their observations. Landmarks that a later
    /// state still sees in cam0 then restart, hosted in the first such state,
    /// with their later observations (as VINS-Mono does). Those later
    /// observations are thereby counted twice, once frozen in the prior and
    /// once live: the estimate is overconfident, but measured on synthetic
    /// flights (`examples/run_vio.rs`, medium seed 1, 20 s) the position error
    /// is 50x smaller than when the oldest views of tracked landmarks are dropped
    /// instead (OKVIS' choice, which keeps the prior consistent but cuts the
    /// visual chain at every marginalization): 1.9 mm against 97 mm RMSE.
    pub(crate) fn marginalize_oldest(&mut self) {
        if self.frames.len() < 2 {
            return;
        }
        self.build(Selection::Oldest, 0.0);
        self.rehost_from_oldest();
        let dim = self.h.nrows();
        let keep = dim - STATE_DIM;
        let hmm = self.h.view((0, 0), (STATE_DIM, STATE_DIM)).into_owned();
        let hmk = self.h.view((0, STATE_DIM), (STATE_DIM, keep)).into_owned();
        let hkk = self
            .h
            .view((STATE_DIM, STATE_DIM), (keep, keep))
            .into_owned();
        let bm = self.b.rows(0, STATE_DIM).into_owned();
        let bk = self.b.rows(STATE_DIM, keep).into_owned();
        let hmm_sym = Matrix15::from_fn(|i, j| 0.5 * (hmm[(i, j)] + hmm[(j, i)]));
        let finite = self.h.iter().chain(self.b.iter()).all(|v| v.is_finite());
        let eig = if finite {
            hmm_sym.try_symmetric_eigen(1e-14, 1000)
        } else {
            None
        };
        let Some(eig) = eig else {
            // Nothing sound to keep: drop the oldest state and the old prior.
            tracing::warn!("marginalization failed (non-finite or no convergence): prior dropped");
            self.prior = None;
            self.drop_oldest_unmarginalized();
            return;
        };
        let max_ev = eig.eigenvalues.amax().max(1e-300);
        let inv_ev = eig
            .eigenvalues
            .map(|e| if e > 1e-9 * max_ev { 1.0 / e } else { 0.0 });
        let hmm_inv =
            eig.eigenvectors * Matrix15::from_diagonal(&inv_ev) * eig.eigenvectors.transpose();
        let hmm_inv = DMatrix::from_column_slice(STATE_DIM, STATE_DIM, hmm_inv.as_slice());
        let t = hmk.transpose() * &hmm_inv;
        let mut hp = hkk - &t * &hmk;
        let mut bp = bk - &t * bm;
        hp = (&hp + hp.transpose()) * 0.5;
        if self.estimate_time_offset && self.time_offset_random_walk > 0.0 {
            let dt_s = (self.frames[1].t_ns - self.frames[0].t_ns).max(0) as f64 * 1e-9;
            let variance = self.time_offset_random_walk.powi(2) * dt_s;
            add_random_walk_on_last(&mut hp, &mut bp, variance);
        }
        self.cost
            .record("be_marginalize", work::marginalize(keep as u64));
        let oldest = self.frames[0].id;
        let kept: Vec<&FrameState> = self.frames[1..].iter().collect();
        self.prior = Some(Prior {
            ids: kept.iter().map(|f| f.id).collect(),
            lin: kept.iter().map(|f| (f.nav, f.bias)).collect(),
            lin_time_offset_s: self.time_offset_s,
            h: hp,
            b: bp,
        });
        self.frames.remove(0);
        if let Some(f) = self.frames.first_mut() {
            f.link = Link::None;
        }
        self.landmarks.retain(|_, lm| lm.host != oldest);
        for lm in self.landmarks.values_mut() {
            lm.obs.retain(|o| o.frame != oldest);
        }
    }

    /// Removes the oldest state and what it hosts without keeping their
    /// information.
    fn drop_oldest_unmarginalized(&mut self) {
        let oldest = self.frames.remove(0).id;
        if let Some(f) = self.frames.first_mut() {
            f.link = Link::None;
        }
        self.landmarks.retain(|_, lm| lm.host != oldest);
        for lm in self.landmarks.values_mut() {
            lm.obs.retain(|o| o.frame != oldest);
        }
    }

    /// Moves the landmarks hosted in the oldest state that a later state sees
    /// in cam0 to the first such state; drops their views from the oldest.
    fn rehost_from_oldest(&mut self) {
        let Some(oldest) = self.frames.first().map(|f| f.id) else {
            return;
        };
        let frames = &self.frames;
        let ext = &self.ext;
        for lm in self.landmarks.values_mut() {
            if lm.host != oldest {
                continue;
            }
            let Some(k) = lm.obs.iter().position(|o| o.cam == 0 && o.frame != oldest) else {
                continue;
            };
            let anchor = lm.obs[k];
            let (Some(h), Some(t)) = (
                frames.iter().find(|f| f.id == oldest),
                frames.iter().find(|f| f.id == anchor.frame),
            ) else {
                continue;
            };
            // The point in the new host's cam0 frame.
            let p_body_h = ext.body_from_cam0_r * (lm.bearing / lm.rho) + ext.body_from_cam0_t;
            let p_world = h.nav.rotation * p_body_h + h.nav.position;
            let p_body_t = t.nav.rotation.inverse() * (p_world - t.nav.position);
            let p_cam = ext.cam_from_body_r[0] * p_body_t + ext.cam_from_body_t[0];
            let depth = p_cam.dot(&anchor.z);
            if !(depth.is_finite() && depth > 1e-3) {
                continue;
            }
            lm.host = anchor.frame;
            lm.bearing = anchor.z;
            lm.bearing_rate = anchor.rate;
            lm.rho = 1.0 / depth;
            lm.obs.remove(k);
            lm.obs.retain(|o| o.frame != oldest);
        }
    }

    /// Drops the observations made in frame `id` (the newest), keeping the
    /// state.
    pub(crate) fn drop_observations_of(&mut self, id: u64) {
        for lm in self.landmarks.values_mut() {
            while lm.obs.last().is_some_and(|o| o.frame == id) {
                lm.obs.pop();
            }
        }
    }

    /// Drops the newest state and its observations (a frame that did not become
    /// a keyframe).
    pub(crate) fn drop_newest(&mut self) {
        let Some(f) = self.frames.pop() else { return };
        for lm in self.landmarks.values_mut() {
            while lm.obs.last().is_some_and(|o| o.frame == f.id) {
                lm.obs.pop();
            }
        }
        self.landmarks.retain(|_, lm| lm.host != f.id);
    }
}

/// `x <- x [+] d` for one state.
fn apply_state(f: &mut FrameState, d: &Vector15) {
    let dtheta = Vector3::new(d[0], d[1], d[2]);
    f.nav.rotation *= nalgebra::UnitQuaternion::from_rotation_matrix(&so3_exp(&dtheta));
    f.nav.position += Vector3::new(d[3], d[4], d[5]);
    f.nav.velocity += Vector3::new(d[6], d[7], d[8]);
    f.bias.gyro += Vector3::new(d[9], d[10], d[11]);
    f.bias.accel += Vector3::new(d[12], d[13], d[14]);
}

fn add_block<const R: usize, const C: usize>(
    h: &mut DMatrix<f64>,
    r0: usize,
    c0: usize,
    m: &SMatrix<f64, R, C>,
) {
    let mut v = h.view_mut((r0, c0), (R, C));
    v += m;
}

fn add_block6(h: &mut DMatrix<f64>, r0: usize, c0: usize, m: &SMatrix<f64, 6, 6>) {
    add_block(h, r0, c0, m);
}

fn add_rows<const R: usize>(b: &mut DVector<f64>, r0: usize, v: &SVector<f64, R>) {
    let mut w = b.rows_mut(r0, R);
    w += v;
}

fn add_rows6(b: &mut DVector<f64>, r0: usize, v: &Vector6) {
    add_rows(b, r0, v);
}

/// Adds `variance` to the covariance of the last variable of a Gaussian in
/// information form (`h`, `b`: cost `1/2 dx' h dx + b' dx`), its mean and
/// the rest unchanged: the prior on `(x, y)` with `y' = y + w`, `w ~ N(0,
/// variance)`, and `y` marginalized out. With `u = h e` (`e` the last axis)
/// and `c = 1 / variance + h_yy`: `h' = h - u u' / c`, `b' = b - u b_y / c`
/// (Woodbury, exact, no inverse of `h`; `h` may be singular). The variable
/// keeps what the others say of it, but its own information is bounded by
/// `1 / variance` plus theirs.
fn add_random_walk_on_last(h: &mut DMatrix<f64>, b: &mut DVector<f64>, variance: f64) {
    let n = h.nrows();
    if n == 0 || !(variance.is_finite() && variance > 0.0) {
        return;
    }
    let u = h.column(n - 1).into_owned();
    let c = 1.0 / variance + h[(n - 1, n - 1)];
    if !(c.is_finite() && c > 0.0) {
        return;
    }
    let by = b[n - 1];
    h.ger(-1.0 / c, &u, &u, 1.0);
    b.axpy(-by / c, &u, 1.0);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::preintegration::ImuNoise;
    use datasets::ImuSample;
    use nalgebra::{Isometry3, Translation3, UnitQuaternion};

    #[test]
    fn a_random_walk_on_the_last_variable_adds_its_variance_and_keeps_the_mean() {
        let a = DMatrix::from_row_slice(3, 3, &[2.0, 0.3, -0.1, 0.5, 1.5, 0.2, 0.1, -0.4, 3.0]);
        let h0 = &a * a.transpose();
        let b0 = DVector::from_column_slice(&[0.3, -1.2, 0.7]);
        let q = 0.25;
        let (mut h, mut b) = (h0.clone(), b0.clone());
        add_random_walk_on_last(&mut h, &mut b, q);
        let cov0 = h0
            .clone()
            .try_inverse()
            .unwrap_or_else(|| panic!("invertible"));
        let mean0 = -&cov0 * &b0;
        let cov = h
            .clone()
            .try_inverse()
            .unwrap_or_else(|| panic!("invertible"));
        let mut expected = cov0.clone();
        expected[(2, 2)] += q;
        assert!((&cov - &expected).amax() < 1e-12, "{cov} vs {expected}");
        assert!((-&cov * &b - &mean0).amax() < 1e-12);
        // A singular information (a direction nothing constrains) is as
        // explicit marginalization of the old value from the joint with
        // the walk factor says.
        let mut hs = DMatrix::zeros(3, 3);
        hs.view_mut((1, 1), (2, 2))
            .copy_from(&DMatrix::from_row_slice(2, 2, &[4.0, 1.0, 1.0, 2.0]));
        let bs = DVector::from_column_slice(&[0.0, 0.5, -0.3]);
        let mut joint = DMatrix::zeros(4, 4);
        joint.view_mut((0, 0), (3, 3)).copy_from(&hs);
        joint[(2, 2)] += 1.0 / q;
        joint[(3, 3)] += 1.0 / q;
        joint[(2, 3)] -= 1.0 / q;
        joint[(3, 2)] -= 1.0 / q;
        let keep = [0usize, 1, 3];
        let hk = DMatrix::from_fn(3, 3, |i, j| joint[(keep[i], keep[j])]);
        let hky = DVector::from_fn(3, |i, _| joint[(keep[i], 2)]);
        let want_h = &hk - &hky * hky.transpose() / joint[(2, 2)];
        let want_b =
            DVector::from_column_slice(&[bs[0], bs[1], 0.0]) - &hky * (bs[2] / joint[(2, 2)]);
        let (mut h, mut b) = (hs, bs);
        add_random_walk_on_last(&mut h, &mut b, q);
        assert!((&h - &want_h).amax() < 1e-12, "{h} vs {want_h}");
        assert!((&b - &want_b).amax() < 1e-12, "{b} vs {want_b}");
    }

    fn state(id: u64, t_ns: i64, angle: f64, x: f64) -> FrameState {
        FrameState {
            id,
            t_ns,
            time_offset_s: 0.0,
            nav: NavState {
                rotation: UnitQuaternion::from_euler_angles(0.1 + angle, -0.2, 0.3 + angle),
                position: Vector3::new(x, 0.2 * x, 1.0),
                velocity: Vector3::new(0.5, -0.1 + x, 0.05),
            },
            bias: ImuBias {
                gyro: Vector3::new(0.01, -0.02, 0.015 + 0.01 * x),
                accel: Vector3::new(0.05, 0.02 - 0.03 * x, -0.04),
            },
            link: Link::None,
        }
    }

    /// A window of three states joined by IMU factors (from made-up samples), a
    /// dense prior on the last two away from its linearization point, no
    /// landmarks.
    fn three_states_with_prior() -> Window {
        let ext = Extrinsics::new(
            &Isometry3::identity(),
            &Isometry3::from_parts(Translation3::new(0.1, 0.0, 0.0), UnitQuaternion::identity()),
        );
        let weights = CostWeights {
            obs_information: 1e5,
            huber: 2.0,
            gyro_random_walk: 1.9e-5,
            accel_random_walk: 3e-3,
            motion_q: 4.0,
        };
        let mut w = Window::new(ext, weights);
        let noise = ImuNoise {
            gyro_noise_density: 1.7e-4,
            accel_noise_density: 2e-3,
            gyro_random_walk: 1.9e-5,
            accel_random_walk: 3e-3,
        };
        let samples: Vec<ImuSample> = (0..=200)
            .map(|k| {
                let t = k as f64 * 0.005;
                ImuSample {
                    t_ns: k * 5_000_000,
                    gyro: Vector3::new(0.3 * t.sin(), 0.2, -0.1 * t),
                    accel: Vector3::new(0.5, 9.81 + 0.3 * t.cos(), -0.2),
                }
            })
            .collect();
        for (k, (angle, x)) in [(0.0, 0.0), (0.05, 0.3), (0.12, 0.7)].iter().enumerate() {
            let mut f = state(k as u64, k as i64 * 400_000_000, *angle, *x);
            if k > 0 {
                let prev = &w.frames[k - 1];
                let mut pre = Preintegrated::new(&prev.bias);
                pre.integrate_samples(&samples, prev.t_ns, f.t_ns, &noise)
                    .unwrap_or_else(|e| panic!("{e}"));
                f.link = Link::Imu(pre);
            }
            w.frames.push(f);
        }
        let dim = 2 * STATE_DIM + 1;
        let h = DMatrix::from_fn(dim, dim, |i, j| {
            let d = if i == j { 50.0 + i as f64 } else { 0.0 };
            d + 1.0 / (1.0 + (i as f64 - j as f64).abs())
        });
        let lin: Vec<(NavState, ImuBias)> = w.frames[1..]
            .iter()
            .map(|f| {
                let mut nav = f.nav;
                nav.rotation *= UnitQuaternion::from_euler_angles(0.03, -0.02, 0.04);
                nav.position += Vector3::new(0.01, 0.02, -0.01);
                (nav, f.bias)
            })
            .collect();
        w.prior = Some(Prior {
            ids: vec![1, 2],
            lin,
            lin_time_offset_s: -0.002,
            h,
            b: DVector::from_fn(dim, |i, _| 0.1 * (i as f64 - 10.0)),
        });
        w
    }

    /// Asserts that `grad` is the derivative of `cost` along each of the
    /// first `dims` error-state directions of the window, by central
    /// differences (costs of about 1e8, the bias random walk's information
    /// being ~1e10: round-off is ~cost * 1e-16 / eps).
    fn assert_gradient(w: &mut Window, cost: impl Fn(&Window) -> f64, grad: &[f64], offset: usize) {
        let eps = 1e-4;
        let c0 = cost(w);
        let n = w.frames.len();
        for (k, &g) in grad.iter().enumerate() {
            let mut d = DVector::zeros(n * STATE_DIM + 1);
            d[offset + k] = eps;
            let saved = w.frames.clone();
            let saved_time = w.time_offset_s;
            // No landmark moves: the blocks of the last build would move them.
            let blocks = std::mem::take(&mut w.blocks);
            w.apply(&d);
            let plus = cost(w);
            w.frames.clone_from(&saved);
            w.time_offset_s = saved_time;
            w.apply(&(-&d));
            let minus = cost(w);
            w.frames.clone_from(&saved);
            w.time_offset_s = saved_time;
            w.blocks = blocks;
            let fd = (plus - minus) / (2.0 * eps);
            let tol = 1e-5 * (1.0 + fd.abs()) + 20.0 * c0 * f64::EPSILON / eps;
            assert!(
                (fd - g).abs() < tol,
                "row {}: finite difference {fd}, built {g}",
                offset + k
            );
        }
    }

    /// The built gradient must be the derivative of the cost (the time
    /// offset's entry, held, has none).
    #[test]
    fn built_gradient_is_the_derivative_of_the_cost() {
        let mut w = three_states_with_prior();
        w.build(Selection::All, 0.0);
        let n = w.frames.len() * STATE_DIM;
        let grad: Vec<f64> = w.b.iter().take(n).copied().collect();
        assert_gradient(&mut w, Window::cost, &grad, 0);
        assert_eq!(w.b[n], 0.0);
    }

    /// Landmarks hosted in the first state, seen in the later two by both
    /// cameras, observations off their prediction by a fraction of a pixel,
    /// bearings moving, and the time offset estimated away from the offsets
    /// the states were set with.
    fn window_with_landmarks() -> Window {
        let mut w = three_states_with_prior();
        w.estimate_time_offset = true;
        w.time_offset_s = 0.004;
        w.frames[1].time_offset_s = 0.001;
        w.frames[2].time_offset_s = 0.003;
        let host = w.frames[0].clone();
        for k in 0..12u64 {
            let kf = k as f64;
            let p_world = host.nav.position
                + host.nav.rotation
                    * Vector3::new(
                        0.4 * (kf * 0.7).sin(),
                        0.3 * (kf * 1.3).cos(),
                        3.0 + 0.2 * kf,
                    );
            let p_host = host.nav.rotation.inverse() * (p_world - host.nav.position);
            let p_cam = w.ext.cam_from_body_r[0] * p_host + w.ext.cam_from_body_t[0];
            let tangent = |b: &Vector3<f64>, a: f64| {
                let r = Vector3::new(0.3 * (a * 2.1).cos(), -0.2 * (a * 0.9).sin(), 0.1);
                r - b * b.dot(&r)
            };
            let bearing = p_cam.normalize();
            let mut obs = Vec::new();
            for frame in &w.frames[1..] {
                for cam in 0..2 {
                    let p_body = frame.nav.rotation.inverse() * (p_world - frame.nav.position);
                    let q = w.ext.cam_from_body_r[cam] * p_body + w.ext.cam_from_body_t[cam];
                    let noise = Vector3::new(1e-3 * (kf + cam as f64).sin(), 1e-3 * kf.cos(), 0.0);
                    let z = (q.normalize() + noise).normalize();
                    obs.push(Observation {
                        frame: frame.id,
                        cam: cam as u8,
                        z,
                        rate: tangent(&z, kf + cam as f64),
                    });
                }
            }
            w.landmarks.insert(
                k,
                Landmark {
                    host: host.id,
                    bearing,
                    bearing_rate: tangent(&bearing, -kf),
                    rho: 1.0 / p_cam.norm() * 1.01,
                    obs,
                },
            );
        }
        w
    }

    /// With landmarks and the time offset: the built gradient, landmarks
    /// held (their elimination damped away), is the derivative of the cost
    /// along every state direction and the time offset.
    #[test]
    fn built_gradient_with_landmarks_and_time_offset_is_the_derivative_of_the_cost() {
        let mut w = window_with_landmarks();
        w.build(Selection::All, 1e13);
        let grad: Vec<f64> = w.b.iter().copied().collect();
        let time = grad.len() - 1;
        assert!(
            grad[time].abs() > 1.0,
            "the time offset has a gradient: {}",
            grad[time]
        );
        assert_gradient(&mut w, Window::cost, &grad, 0);
        // The newest state's own system, the offset held.
        let (_, g, _) = w.newest_system(true);
        assert_gradient(
            &mut w,
            |w| w.newest_system(false).2,
            g.as_slice(),
            2 * STATE_DIM,
        );
    }

    /// A solve with the time offset free lowers the cost through it, and
    /// held it does not move.
    #[test]
    fn a_held_time_offset_stays_and_a_free_one_moves() {
        let mut w = window_with_landmarks();
        w.estimate_time_offset = false;
        w.optimize(5);
        assert_eq!(w.time_offset_s, 0.004);
        let mut w = window_with_landmarks();
        let before = w.cost();
        w.optimize(5);
        assert!(w.cost() < before);
        assert!(w.time_offset_s != 0.004);
    }

    /// The same with the newest state tied by the motion prior of an IMU gap,
    /// for the whole window's system and the newest state's alone; and a
    /// constant acceleration costs nothing in position.
    #[test]
    fn a_motion_link_has_the_derivatives_of_its_cost() {
        let mut w = three_states_with_prior();
        w.frames[2].link = Link::Motion { dt: 0.4 };
        w.build(Selection::All, 0.0);
        let states = w.frames.len() * STATE_DIM;
        let grad: Vec<f64> = w.b.iter().take(states).copied().collect();
        assert_gradient(&mut w, Window::cost, &grad, 0);
        let (h, g, _) = w.newest_system(true);
        let newest = 2 * STATE_DIM;
        assert_gradient(&mut w, |w| w.newest_system(false).2, g.as_slice(), newest);
        // The motion prior is linear in position and velocity: its
        // Gauss-Newton block is the Hessian, symmetric and positive on them.
        for i in 3..9 {
            assert!(h[(i, i)] > 0.0);
            for j in 3..9 {
                assert!((h[(i, j)] - h[(j, i)]).abs() <= 1e-9 * h[(i, i)].abs());
            }
        }
        let fi = w.frames[1].nav;
        let a = Vector3::new(0.7, -1.2, 0.4);
        let dt = 0.4;
        let fj = NavState {
            position: fi.position + fi.velocity * dt + 0.5 * a * dt * dt,
            velocity: fi.velocity + a * dt,
            ..fi
        };
        let (r, _) = motion_residual(&fi, &fj, dt, 1.0);
        assert!(r[0].norm() < 1e-12, "{:?}", r[0]);
    }

    /// Solves lower the cost and move the states, but none moves the oldest
    /// state's position or turns it about the world's z axis (the gauge
    /// directions no factor here holds: the prior is on the other two).
    /// Checked step by step: a turn is a step's component along `R^T z`,
    /// exact for one step, while a chain of tilts does turn a little.
    #[test]
    fn a_solve_holds_the_oldest_position_and_yaw() {
        let mut w = three_states_with_prior();
        let start = w.frames.clone();
        let initial_cost = w.cost();
        for _ in 0..10 {
            let before = w.frames[0].clone();
            w.optimize(1);
            let after = &w.frames[0];
            let shift = (after.nav.position - before.nav.position).norm();
            assert!(shift < 1e-6, "the oldest position moved {shift} m");
            let dr = before.nav.rotation.inverse() * after.nav.rotation;
            let dtheta = so3_log(&dr.to_rotation_matrix());
            let up = before.nav.rotation.inverse() * Vector3::z();
            let turn = dtheta.dot(&up).abs();
            assert!(
                turn < 1e-6 * (1.0 + dtheta.norm()),
                "a step turned the oldest state {turn} rad about z (step {dtheta:?})"
            );
        }
        let final_cost = w.cost();
        assert!(
            final_cost < 0.5 * initial_cost,
            "cost {initial_cost} -> {final_cost}"
        );
        let moved = (w.frames[2].nav.position - start[2].nav.position).norm();
        assert!(moved > 1e-3, "the newest state moved {moved} m");
        let tilt = so3_log(
            &(start[0].nav.rotation.inverse() * w.frames[0].nav.rotation).to_rotation_matrix(),
        );
        assert!(tilt.norm() > 1e-4, "roll and pitch stay free: {tilt:?}");
    }
}
