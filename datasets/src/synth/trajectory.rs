//! Smooth MAV-like trajectories through a world's free space, with exact
//! derivatives: position, velocity, acceleration and jerk from the spline, and
//! orientation, angular velocity and specific force from quadrotor differential
//! flatness.
//!
//! Position and yaw are a uniform quintic B-spline (C4: jerk, hence angular
//! velocity, is continuous, so an IMU integrator sees no jumps) in the four flat
//! outputs `(x, y, z, yaw)` of a quadrotor (Mellinger & Kumar, ICRA 2011). The
//! spline is evaluated in matrix form (Qin, "General matrix representations for
//! B-splines", The Visual Computer 2000), so every derivative is exact. By the
//! convex-hull property of the derivative spline, `|v| <= max |P_{i+1} - P_i| / dt`
//! and `|yaw rate| <= max |yaw_{i+1} - yaw_i| / dt` exactly.
//!
//! Frames: world z-up. The vehicle frame `V` (x forward, y left, z along the
//! thrust) has `z_V = (a + g e_z) / |a + g e_z|` and its x axis in the vertical
//! plane of the yaw; the body (IMU) frame is fixed to it as on EuRoC's MAV: body x
//! up, y right, z forward (the cameras' optical axes), pitched down by the mount
//! tilt. Angular velocity is `omega_B^ = R_WB^T dR_WB/dt`, computed exactly with
//! forward-mode dual numbers through the flatness map instead of a hand-derived
//! formula. Specific force is `R_WB^T (a_W - g_W)`, `g_W = (0, 0, -9.81)`.
//!
//! Generation: the sequence starts with the spline's first control points
//! repeated, an exact hover at zero velocity; then control points follow a random
//! walk (step lengths from the speed range, heading turning by a Gaussian angle,
//! gentle climbs), each accepted only if the span it completes keeps the path
//! `clearance` away from every surface, under the speed and angular-rate limits,
//! checked densely; otherwise other candidates are tried and, failing those, the
//! walk backtracks. Yaw follows the direction of travel with a slowly wandering
//! offset (so the cameras also move sideways), bounded per knot.
//!
//! Routes: measuring loop closure or map reuse needs a flight that comes back
//! to places it has seen, from about the same viewpoint, with exact ground
//! truth for the revisits. The default [`Route::Wander`] is the random walk
//! above, which never comes back on purpose. [`Route::OutAndBack`] walks one
//! leg (a third of the flight after the hover, or `route_leg_s`), then flies
//! the leg's control points in reverse order with the same yaw values, then in
//! order again, and so on: a reversed window of control points gives the same
//! curve traced backwards, and the attitude depends only on the acceleration
//! (unchanged when time runs backwards) and the yaw, so the vehicle flies
//! backwards through exactly the poses of the way out and its cameras see the
//! same views again. Only the turnarounds are new curves; they are checked like
//! every span, and one that breaks a limit loses its apex (the vehicle turns one
//! control point earlier).

use nalgebra::{Isometry3, Matrix3, Point3, Rotation3, Translation3, UnitQuaternion, Vector3};

use super::rng::{Rng, Stream};
use super::world::World;
use crate::model::GRAVITY;
use crate::{DatasetError, Result};

/// B-spline degree.
const DEGREE: usize = 5;
/// Control points per span.
const ORDER: usize = DEGREE + 1;
/// Samples per span when checking constraints during generation.
const CHECK_SAMPLES_PER_SPAN: usize = 24;
/// Candidate control points tried before backtracking.
const CANDIDATES: usize = 40;
/// Backtracking steps allowed over a whole trajectory.
const MAX_BACKTRACKS: usize = 400;

/// Parameters of a trajectory.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct TrajectoryConfig {
    /// Length, including the hover, seconds.
    pub duration_s: f64,
    /// Hover at zero velocity at the start, seconds.
    pub hover_s: f64,
    /// Time between B-spline knots, seconds (longer is smoother).
    pub knot_interval_s: f64,
    /// Range of the control-polygon speed (step length / knot interval), m/s; the
    /// path's speed stays below the upper bound.
    pub speed_m_s: [f64; 2],
    /// Largest angular velocity magnitude, rad/s.
    pub max_angular_rate_rad_s: f64,
    /// Share of the angular-rate budget given to yaw, 0..1.
    pub yaw_rate_share: f64,
    /// Smallest distance from the body origin to any surface, metres.
    pub clearance_m: f64,
    /// Heading change per knot, standard deviation, rad.
    pub turn_sigma_rad: f64,
    /// Largest angle between the yaw and the direction of travel, rad.
    pub yaw_offset_max_rad: f64,
    /// Height range of the body above the floor, metres (also kept `clearance_m`
    /// below the ceiling).
    pub altitude_m: [f64; 2],
    /// Downward pitch of the sensor head (cameras and IMU) on the vehicle, rad.
    pub camera_tilt_rad: f64,
    /// Where the flight goes after the hover: a random walk, or back and forth
    /// along one so that places are seen again.
    pub route: Route,
    /// Length of the first leg of a [`Route::OutAndBack`] flight, seconds of
    /// control points (at least three knot intervals); `None`: a third of the
    /// flight after the hover. Ignored by [`Route::Wander`].
    pub route_leg_s: Option<f64>,
}

/// Where a generated trajectory goes after its hover.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Route {
    /// A random walk through free space that never deliberately comes back.
    #[default]
    Wander,
    /// A random-walk leg, then the same control points in reverse order with
    /// the same yaw values (the vehicle flies backwards along its path, its
    /// cameras looking where they looked on the way out), then out again, and
    /// so on until the duration is filled.
    OutAndBack,
}

impl std::fmt::Display for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Wander => "wander",
            Self::OutAndBack => "out-and-back",
        })
    }
}

impl std::str::FromStr for Route {
    type Err = DatasetError;

    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "wander" => Ok(Self::Wander),
            "out-and-back" => Ok(Self::OutAndBack),
            other => Err(DatasetError::InvalidArgument(format!(
                "route '{other}': expected wander or out-and-back"
            ))),
        }
    }
}

impl Default for TrajectoryConfig {
    fn default() -> Self {
        Self {
            duration_s: 30.0,
            hover_s: 1.5,
            knot_interval_s: 1.0,
            speed_m_s: [0.4, 1.0],
            max_angular_rate_rad_s: 1.0,
            yaw_rate_share: 0.9,
            clearance_m: 0.4,
            turn_sigma_rad: 0.5,
            yaw_offset_max_rad: 1.0,
            altitude_m: [0.7, 2.0],
            camera_tilt_rad: 0.15,
            route: Route::Wander,
            route_leg_s: None,
        }
    }
}

/// The exact state of the body at one instant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KinematicState {
    /// Seconds since the trajectory's start.
    pub t_s: f64,
    /// Body (IMU) origin, world frame, metres.
    pub position: Vector3<f64>,
    /// Velocity, world frame, m/s.
    pub velocity: Vector3<f64>,
    /// Acceleration, world frame, m/s^2.
    pub acceleration: Vector3<f64>,
    /// Jerk, world frame, m/s^3.
    pub jerk: Vector3<f64>,
    /// Rotation of the body in the world (orthonormal to rounding).
    pub rotation_world_from_body: Matrix3<f64>,
    /// Pose of the body in the world.
    pub world_from_body: Isometry3<f64>,
    /// Angular velocity of the body w.r.t. the world, in body axes, rad/s.
    pub angular_velocity_body: Vector3<f64>,
    /// Specific force `R_WB^T (a - g)`, body axes, m/s^2: what an ideal
    /// accelerometer reads.
    pub specific_force_body: Vector3<f64>,
}

/// A trajectory: a quintic B-spline in `(x, y, z, yaw)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Trajectory {
    /// Control points `(x, y, z, yaw)`, metres and rad (yaw unwrapped).
    control_points: Vec<[f64; 4]>,
    knot_interval_s: f64,
    /// Spline time at the trajectory's t = 0.
    time_offset_s: f64,
    duration_s: f64,
    hover_s: f64,
    /// Rotation from the body to the vehicle frame (the sensor-head mount).
    vehicle_from_body: Matrix3<f64>,
    /// Power-basis coefficients of the uniform quintic B-spline basis:
    /// `B_j(u) = sum_i basis[i][j] u^i`.
    basis: [[f64; ORDER]; ORDER],
}

/// The uniform B-spline basis matrix of degree `DEGREE` (Qin 2000, eq. 3):
/// `m[i][j] = C(k, i) / k! * sum_{s=j..k} (-1)^(s-j) C(k+1, s-j) (k-s)^(k-i)`.
fn uniform_basis() -> [[f64; ORDER]; ORDER] {
    let k = DEGREE as i64;
    let binom = |n: i64, r: i64| -> f64 {
        if r < 0 || r > n {
            return 0.0;
        }
        (0..r).fold(1.0, |acc, i| acc * (n - i) as f64 / (i + 1) as f64)
    };
    let factorial = (1..=k).product::<i64>() as f64;
    let mut m = [[0.0; ORDER]; ORDER];
    for (i, row) in m.iter_mut().enumerate() {
        for (j, entry) in row.iter_mut().enumerate() {
            let (i, j) = (i as i64, j as i64);
            let sum: f64 = (j..=k)
                .map(|s| {
                    let sign = if (s - j) % 2 == 0 { 1.0 } else { -1.0 };
                    sign * binom(k + 1, s - j) * ((k - s) as f64).powi((k - i) as i32)
                })
                .sum();
            *entry = binom(k, i) / factorial * sum;
        }
    }
    m
}

/// A dual number `v + d eps`, eps^2 = 0: forward-mode derivative w.r.t. time.
#[derive(Debug, Clone, Copy)]
struct Dual {
    v: f64,
    d: f64,
}

impl Dual {
    fn mul(self, o: Self) -> Self {
        Self {
            v: self.v * o.v,
            d: self.d * o.v + self.v * o.d,
        }
    }
    fn add(self, o: Self) -> Self {
        Self {
            v: self.v + o.v,
            d: self.d + o.d,
        }
    }
    fn sub(self, o: Self) -> Self {
        Self {
            v: self.v - o.v,
            d: self.d - o.d,
        }
    }
    fn recip(self) -> Self {
        Self {
            v: 1.0 / self.v,
            d: -self.d / (self.v * self.v),
        }
    }
    fn sqrt(self) -> Self {
        let s = self.v.sqrt();
        Self {
            v: s,
            d: self.d / (2.0 * s),
        }
    }
}

type DualVec = [Dual; 3];

fn dcross(a: &DualVec, b: &DualVec) -> DualVec {
    [
        a[1].mul(b[2]).sub(a[2].mul(b[1])),
        a[2].mul(b[0]).sub(a[0].mul(b[2])),
        a[0].mul(b[1]).sub(a[1].mul(b[0])),
    ]
}

fn dnormalize(a: &DualVec) -> DualVec {
    let n2 = a[0].mul(a[0]).add(a[1].mul(a[1])).add(a[2].mul(a[2]));
    let inv = n2.sqrt().recip();
    [a[0].mul(inv), a[1].mul(inv), a[2].mul(inv)]
}

/// The vehicle's rotation and its time derivative from acceleration, jerk, yaw and
/// yaw rate (differential flatness).
fn vehicle_rotation(
    acceleration: &Vector3<f64>,
    jerk: &Vector3<f64>,
    yaw: f64,
    yaw_rate: f64,
) -> (Matrix3<f64>, Matrix3<f64>) {
    let thrust: DualVec = [
        Dual {
            v: acceleration.x,
            d: jerk.x,
        },
        Dual {
            v: acceleration.y,
            d: jerk.y,
        },
        Dual {
            v: acceleration.z + GRAVITY,
            d: jerk.z,
        },
    ];
    let z = dnormalize(&thrust);
    let (s, c) = yaw.sin_cos();
    let x_c = [
        Dual {
            v: c,
            d: -s * yaw_rate,
        },
        Dual {
            v: s,
            d: c * yaw_rate,
        },
        Dual { v: 0.0, d: 0.0 },
    ];
    let y = dnormalize(&dcross(&z, &x_c));
    let x = dcross(&y, &z);
    let r = Matrix3::from_fn(|i, j| [x, y, z][j][i].v);
    let r_dot = Matrix3::from_fn(|i, j| [x, y, z][j][i].d);
    (r, r_dot)
}

/// `vee` of the skew-symmetric part of `m`.
fn vee(m: &Matrix3<f64>) -> Vector3<f64> {
    Vector3::new(
        0.5 * (m[(2, 1)] - m[(1, 2)]),
        0.5 * (m[(0, 2)] - m[(2, 0)]),
        0.5 * (m[(1, 0)] - m[(0, 1)]),
    )
}

/// Rotation from the body (IMU) frame to the vehicle frame: body x up, y right,
/// z forward, pitched down by `tilt` (rad) about the vehicle's y axis.
#[must_use]
pub fn vehicle_from_body(tilt: f64) -> Matrix3<f64> {
    let (s, c) = tilt.sin_cos();
    // Columns: body axes in vehicle coordinates.
    Matrix3::from_columns(&[
        Vector3::new(s, 0.0, c),
        Vector3::new(0.0, -1.0, 0.0),
        Vector3::new(c, 0.0, -s),
    ])
}

fn wrap_angle(a: f64) -> f64 {
    let tau = std::f64::consts::TAU;
    a - tau * ((a + std::f64::consts::PI) / tau).floor()
}

impl Trajectory {
    /// Generates a trajectory through `world`'s free space (deterministic in `seed`).
    ///
    /// # Errors
    /// If the configuration is invalid, or no path satisfying the clearance, speed
    /// and rate limits is found (a world too cluttered for the clearance).
    pub fn generate(world: &World, cfg: &TrajectoryConfig, seed: u64) -> Result<Self> {
        validate(cfg)?;
        let mut rng = Rng::stream(seed, &[Stream::Trajectory.id()]);
        let dt = cfg.knot_interval_s;
        let hover_spans = (cfg.hover_s / dt).ceil().max(1.0) as usize;
        let time_offset_s = hover_spans as f64 * dt - cfg.hover_s;
        let spans_needed = ((time_offset_s + cfg.duration_s) / dt).ceil() as usize + 1;
        let points_needed = spans_needed + DEGREE;
        let z_lo = cfg.altitude_m[0].max(world.room.min.z + cfg.clearance_m + 0.1);
        let z_hi = cfg.altitude_m[1].min(world.room.max.z - cfg.clearance_m - 0.1);
        if z_lo >= z_hi {
            return Err(DatasetError::InvalidArgument(format!(
                "no flying height between {z_lo:.2} and {z_hi:.2} m in this room"
            )));
        }

        let mut traj = Self {
            control_points: Vec::with_capacity(points_needed),
            knot_interval_s: dt,
            time_offset_s,
            duration_s: cfg.duration_s,
            hover_s: cfg.hover_s,
            vehicle_from_body: vehicle_from_body(cfg.camera_tilt_rad),
            basis: uniform_basis(),
        };

        // Start: a free point with room around it, looking toward the room centre.
        let room = world.room;
        let mut start = None;
        for _ in 0..2000 {
            let p = Vector3::new(
                rng.range(room.min.x + 0.5, room.max.x - 0.5),
                rng.range(room.min.y + 0.5, room.max.y - 0.5),
                rng.range(z_lo, z_hi.min(z_lo + 0.8)),
            );
            if world.is_free(&p, cfg.clearance_m + 0.5) {
                start = Some(p);
                break;
            }
        }
        let start = start.ok_or_else(|| {
            DatasetError::InvalidArgument("no free start point in the world".into())
        })?;
        let to_centre = room.centre() - start;
        let heading = to_centre.y.atan2(to_centre.x) + rng.range(-0.5, 0.5);
        let yaw0 = heading;
        for _ in 0..DEGREE + hover_spans {
            traj.control_points.push([start.x, start.y, start.z, yaw0]);
        }
        let first_free = traj.control_points.len();
        let mut search = Search {
            world,
            cfg,
            seed,
            rng,
            // Per accepted point: the heading and yaw offset it was made with.
            walk: vec![(heading, 0.0); first_free],
            first_free,
            z_range: [z_lo, z_hi],
            backtracks: 0,
        };
        match cfg.route {
            Route::Wander => search.wander(&mut traj, points_needed)?,
            Route::OutAndBack => {
                let leg_s = cfg
                    .route_leg_s
                    .unwrap_or((cfg.duration_s - cfg.hover_s) / 3.0);
                let leg_points = ((leg_s / dt).round() as usize).max(3);
                search.wander(&mut traj, points_needed.min(first_free + leg_points))?;
                search.shuttle(&mut traj, points_needed)?;
            }
        }
        Ok(traj)
    }

    /// A trajectory that hovers exactly at `position` with `yaw` (rad) and
    /// grows as control points are appended ([`Self::push_control_point`]):
    /// a closed-loop flight, whose path is planned as it flies. Time 0 is the
    /// start of the hover; the trajectory is defined up to
    /// [`Self::duration_s`], which grows by a knot interval per control
    /// point, and holds its last state after it.
    ///
    /// # Errors
    /// If the knot interval is outside [0.05, 5] s, the tilt is not under 1.2
    /// rad, or a value is not finite.
    pub fn hover(
        position: Vector3<f64>,
        yaw: f64,
        knot_interval_s: f64,
        camera_tilt_rad: f64,
    ) -> Result<Self> {
        let valid = (0.05..=5.0).contains(&knot_interval_s)
            && camera_tilt_rad.abs() < 1.2
            && position.iter().all(|v| v.is_finite())
            && yaw.is_finite();
        if !valid {
            return Err(DatasetError::InvalidArgument(format!(
                "hover at {position:?}, yaw {yaw}: knot interval {knot_interval_s} s must be in [0.05, 5], tilt {camera_tilt_rad} under 1.2 rad, values finite"
            )));
        }
        let point = [position.x, position.y, position.z, yaw];
        Ok(Self {
            control_points: vec![point; ORDER],
            knot_interval_s,
            time_offset_s: 0.0,
            duration_s: knot_interval_s,
            hover_s: knot_interval_s,
            vehicle_from_body: vehicle_from_body(camera_tilt_rad),
            basis: uniform_basis(),
        })
    }

    /// Appends a control point `(x, y, z, yaw)` (metres, rad, yaw unwrapped):
    /// the trajectory then lasts one knot interval longer. A point changes the
    /// path only from the end of the current last span on (the spline is
    /// local), so what has been flown is never rewritten. The speed stays
    /// under the largest step between consecutive points over the knot
    /// interval (the convex-hull property of the derivative spline), and the
    /// path within the convex hull of six consecutive points.
    ///
    /// # Errors
    /// If a value is not finite.
    pub fn push_control_point(&mut self, point: [f64; 4]) -> Result<()> {
        if !point.iter().all(|v| v.is_finite()) {
            return Err(DatasetError::InvalidArgument(format!(
                "control point {point:?} is not finite"
            )));
        }
        self.control_points.push(point);
        self.duration_s += self.knot_interval_s;
        Ok(())
    }

    /// How many of the last control points shape the path only after `t_s`
    /// (s since the start): those [`Self::retract_after`] would drop. The
    /// path at a time in span `k` is shaped by points `k` to `k + DEGREE`.
    #[must_use]
    pub fn points_after(&self, t_s: f64) -> usize {
        self.control_points.len() - self.points_up_to(t_s)
    }

    /// The number of control points that shape the path up to `t_s`.
    fn points_up_to(&self, t_s: f64) -> usize {
        let s = (t_s.max(0.0) + self.time_offset_s) / self.knot_interval_s;
        let span = if s.is_finite() { s.floor() as usize } else { 0 };
        span.saturating_add(ORDER).clamp(
            ORDER.min(self.control_points.len()),
            self.control_points.len(),
        )
    }

    /// Drops the control points that shape the path only after `t_s` (s
    /// since the start) and returns how many it dropped: the path up to
    /// `t_s` stays exactly as it was, and from there it goes on as the
    /// points appended next say, still smooth (the spline is local and its
    /// derivatives continuous at every knot). A closed-loop flight rewrites
    /// with it what it has not flown yet: a drone whose planned points the
    /// map has since put too near an obstacle stops short of the points
    /// still ahead of it. The duration shrinks with the points, never below
    /// `t_s`.
    pub fn retract_after(&mut self, t_s: f64) -> usize {
        let keep = self.points_up_to(t_s);
        let dropped = self.control_points.len() - keep;
        if dropped > 0 {
            self.control_points.truncate(keep);
            let defined = (keep - DEGREE) as f64 * self.knot_interval_s - self.time_offset_s;
            self.duration_s = self.duration_s.min(defined);
        }
        dropped
    }

    /// Time between knots, s.
    #[must_use]
    pub fn knot_interval_s(&self) -> f64 {
        self.knot_interval_s
    }

    /// Whether span `span` keeps the clearance and the speed and rate limits at
    /// dense samples (with margins for the gaps between samples).
    fn span_is_acceptable(&self, span: usize, world: &World, cfg: &TrajectoryConfig) -> bool {
        let dt = self.knot_interval_s;
        for k in 0..=CHECK_SAMPLES_PER_SPAN {
            let s = (span as f64 + k as f64 / CHECK_SAMPLES_PER_SPAN as f64) * dt;
            let state = self.state_at_spline_time(s);
            // The path moves at most speed * dt / (2 N) between a sample and the
            // nearest one; the signed distance is 1-Lipschitz.
            let gap = cfg.speed_m_s[1] * dt / (2.0 * CHECK_SAMPLES_PER_SPAN as f64) + 0.01;
            if !world.is_free(&state.position, cfg.clearance_m + gap)
                || state.velocity.norm() > cfg.speed_m_s[1] + 1e-9
                || state.angular_velocity_body.norm() > 0.95 * cfg.max_angular_rate_rad_s
            {
                return false;
            }
        }
        true
    }

    /// Seconds the trajectory lasts.
    #[must_use]
    pub fn duration_s(&self) -> f64 {
        self.duration_s
    }

    /// Seconds of hover at the start.
    #[must_use]
    pub fn hover_s(&self) -> f64 {
        self.hover_s
    }

    /// Rotation from the body frame to the vehicle (thrust) frame.
    #[must_use]
    pub fn vehicle_from_body(&self) -> Matrix3<f64> {
        self.vehicle_from_body
    }

    /// The control points `(x, y, z, yaw)`.
    #[must_use]
    pub fn control_points(&self) -> &[[f64; 4]] {
        &self.control_points
    }

    /// The exact state at `t_s` seconds since the start; times outside
    /// `[0, duration]` are clamped to it.
    #[must_use]
    pub fn state(&self, t_s: f64) -> KinematicState {
        let t = t_s.clamp(0.0, self.duration_s);
        let mut state = self.state_at_spline_time(t + self.time_offset_s);
        state.t_s = t;
        state
    }

    /// Position and yaw with derivatives 0..=3 at spline time `s`.
    fn flat_outputs(&self, s: f64) -> [[f64; 4]; 4] {
        let dt = self.knot_interval_s;
        let spans = self.control_points.len().saturating_sub(DEGREE).max(1);
        let x = s / dt;
        let span = (x.floor().max(0.0) as usize).min(spans - 1);
        let u = x - span as f64;
        // Relative to the span's first control point: the weights of the value sum
        // to 1 and those of each derivative to 0, so a hover (equal points) comes
        // out exactly constant with exactly zero derivatives, and rounding does not
        // grow with the distance from the origin.
        let base = self.control_points.get(span).copied().unwrap_or([0.0; 4]);
        // Powers of u and their derivatives: d^r/du^r u^i = i!/(i-r)! u^(i-r).
        let mut out = [[0.0; 4]; 4];
        out[0] = base;
        let mut scale = 1.0;
        for (r, out_r) in out.iter_mut().enumerate() {
            let mut weights = [0.0; ORDER];
            for (i, row) in self.basis.iter().enumerate().skip(r) {
                let falling = ((i - r + 1)..=i).fold(1.0, |acc, f| acc * f as f64);
                let monomial = falling * u.powi((i - r) as i32);
                for (w, m) in weights.iter_mut().zip(row) {
                    *w += m * monomial;
                }
            }
            for (j, w) in weights.iter().enumerate() {
                let cp = self.control_points.get(span + j).copied().unwrap_or(base);
                for c in 0..4 {
                    out_r[c] += w * (cp[c] - base[c]) * scale;
                }
            }
            scale /= dt;
        }
        out
    }

    fn state_at_spline_time(&self, s: f64) -> KinematicState {
        let f = self.flat_outputs(s);
        let v3 = |a: [f64; 4]| Vector3::new(a[0], a[1], a[2]);
        let position = v3(f[0]);
        let velocity = v3(f[1]);
        let acceleration = v3(f[2]);
        let jerk = v3(f[3]);
        let (r_wv, r_wv_dot) = vehicle_rotation(&acceleration, &jerk, f[0][3], f[1][3]);
        let r_wb = r_wv * self.vehicle_from_body;
        let r_wb_dot = r_wv_dot * self.vehicle_from_body;
        let angular_velocity_body = vee(&(r_wb.transpose() * r_wb_dot));
        let specific_force_body =
            r_wb.transpose() * (acceleration + Vector3::new(0.0, 0.0, GRAVITY));
        let rotation =
            UnitQuaternion::from_rotation_matrix(&Rotation3::from_matrix_unchecked(r_wb));
        KinematicState {
            t_s: s - self.time_offset_s,
            position,
            velocity,
            acceleration,
            jerk,
            rotation_world_from_body: r_wb,
            world_from_body: Isometry3::from_parts(Translation3::from(position), rotation),
            angular_velocity_body,
            specific_force_body,
        }
    }
}

/// The control-point search of [`Trajectory::generate`] after the hover: its
/// random numbers, the walk's state and the backtracking budget shared by the
/// route's stages.
struct Search<'a> {
    world: &'a World,
    cfg: &'a TrajectoryConfig,
    seed: u64,
    rng: Rng,
    /// Per accepted point: the heading and yaw offset it was made with, rad.
    walk: Vec<(f64, f64)>,
    /// Index of the first control point after the hover.
    first_free: usize,
    /// Flying height range, metres.
    z_range: [f64; 2],
    backtracks: usize,
}

impl Search<'_> {
    /// Counts a backtracking step; an error once the budget is spent.
    fn backtrack(&mut self) -> Result<()> {
        self.backtracks += 1;
        if self.backtracks > MAX_BACKTRACKS {
            return Err(DatasetError::InvalidArgument(format!(
                "no trajectory with clearance {} m found in this world (seed {}); \
                 try fewer obstacles or a smaller clearance",
                self.cfg.clearance_m, self.seed
            )));
        }
        Ok(())
    }

    /// Extends `traj` by the random walk until it has `target_len` control points.
    fn wander(&mut self, traj: &mut Trajectory, target_len: usize) -> Result<()> {
        let (world, cfg) = (self.world, self.cfg);
        let dt = cfg.knot_interval_s;
        let [z_lo, z_hi] = self.z_range;
        let yaw_step_max = cfg.yaw_rate_share * cfg.max_angular_rate_rad_s * dt;
        while traj.control_points.len() < target_len {
            let j = traj.control_points.len();
            let prev = traj.control_points[j - 1];
            let prev_p = Vector3::new(prev[0], prev[1], prev[2]);
            let (prev_heading, prev_offset) = self.walk[j - 1];
            let mut accepted = false;
            for attempt in 0..CANDIDATES {
                let turn = if attempt < CANDIDATES / 2 {
                    self.rng.gaussian() * cfg.turn_sigma_rad * (1.0 + attempt as f64 / 5.0)
                } else {
                    self.rng.range(-std::f64::consts::PI, std::f64::consts::PI)
                };
                let heading = prev_heading + turn;
                let step = self.rng.range(cfg.speed_m_s[0], cfg.speed_m_s[1]) * dt;
                let mut dz = self.rng.gaussian() * 0.2 * step;
                if prev_p.z + dz < z_lo || prev_p.z + dz > z_hi {
                    dz = -dz;
                }
                let dz = dz.clamp(z_lo - prev_p.z, z_hi - prev_p.z);
                let horizontal = (step * step - dz * dz).max(0.0).sqrt();
                let p = prev_p
                    + Vector3::new(horizontal * heading.cos(), horizontal * heading.sin(), dz);
                if !world.is_free(&p, cfg.clearance_m + 0.15)
                    || !world.segment_is_free(&prev_p, &p, cfg.clearance_m + 0.05, 0.05)
                {
                    continue;
                }
                // Yaw: toward the travel direction plus a wandering offset, looking
                // at something at least 1.2 m away when possible.
                let mut offset = (prev_offset + self.rng.gaussian() * 0.35)
                    .clamp(-cfg.yaw_offset_max_rad, cfg.yaw_offset_max_rad);
                let look = |yaw: f64| {
                    let (s, c) = yaw.sin_cos();
                    let (st, ct) = cfg.camera_tilt_rad.sin_cos();
                    let dir = Vector3::new(c * ct, s * ct, -st);
                    world.cast_ray(&Point3::from(p), &dir, 1.2).is_none()
                };
                if !look(heading + offset) {
                    offset *= 0.3;
                }
                let yaw_prev = prev[3];
                let yaw = yaw_prev
                    + wrap_angle(heading + offset - yaw_prev).clamp(-yaw_step_max, yaw_step_max);
                traj.control_points.push([p.x, p.y, p.z, yaw]);
                if traj.span_is_acceptable(j - DEGREE, world, cfg) {
                    self.walk.push((heading, offset));
                    accepted = true;
                    break;
                }
                traj.control_points.pop();
            }
            if !accepted {
                self.backtrack()?;
                // Undo the last free point (never the hover).
                if traj.control_points.len() > self.first_free {
                    traj.control_points.pop();
                    self.walk.pop();
                }
            }
        }
        Ok(())
    }

    /// Extends `traj`, whose control points after the hover are the first leg,
    /// back and forth along that leg until it has `target_len` points: the
    /// leg's points (from the last of the hover on) in reverse order, then in
    /// order, and so on, each with its yaw.
    ///
    /// A stretch flown again is the same curve (a window of six points, or its
    /// mirror image: the uniform basis is symmetric, `B_j(u) = B_{5-j}(1 - u)`),
    /// traced the other way: the same poses, since the attitude depends on the
    /// acceleration, unchanged by reversing time, and the yaw. The turnaround
    /// spans, whose windows hold the apex and points on both sides of it, are
    /// new curves; every span is checked, and when a turnaround span fails its
    /// apex is dropped, so the vehicle turns one point earlier, from then on at
    /// that end of the leg. A retraced span failing (only rounding at a limit
    /// could do it) makes the vehicle turn where it is.
    fn shuttle(&mut self, traj: &mut Trajectory, target_len: usize) -> Result<()> {
        let leg = traj.control_points[self.first_free - 1..].to_vec();
        // The leg's points still flown to, and the leg index of the last
        // control point.
        let (mut lo, mut hi) = (0, leg.len() - 1);
        let mut cur = hi;
        let mut toward_start = true;
        // Points appended since the last turnaround.
        let mut since_apex = 0;
        while traj.control_points.len() < target_len {
            if hi < lo + 2 {
                return Err(DatasetError::InvalidArgument(format!(
                    "out-and-back route: no turnaround within the limits on a leg of {} \
                     control points in this world (seed {}); try a longer leg or more clearance",
                    leg.len(),
                    self.seed
                )));
            }
            let next = if toward_start {
                (cur > lo).then(|| cur - 1)
            } else {
                (cur < hi).then(|| cur + 1)
            };
            let Some(next) = next else {
                toward_start = !toward_start;
                since_apex = 0;
                continue;
            };
            let j = traj.control_points.len();
            traj.control_points.push(leg[next]);
            since_apex += 1;
            if traj.span_is_acceptable(j - DEGREE, self.world, self.cfg) {
                cur = next;
                continue;
            }
            traj.control_points.pop();
            self.backtrack()?;
            if since_apex <= DEGREE {
                // The turnaround failed: drop the points after the apex and the
                // apex; the previous sweep came through its neighbour, now the
                // last control point and the new end of the leg.
                let keep = traj.control_points.len() - since_apex;
                traj.control_points.truncate(keep);
                if toward_start {
                    hi -= 1;
                    cur = hi;
                } else {
                    lo += 1;
                    cur = lo;
                }
            } else {
                if toward_start {
                    lo = cur;
                } else {
                    hi = cur;
                }
                toward_start = !toward_start;
            }
            since_apex = 0;
        }
        Ok(())
    }
}

fn validate(cfg: &TrajectoryConfig) -> Result<()> {
    let bad = |m: &str| {
        Err(DatasetError::InvalidArgument(format!(
            "trajectory config: {m}"
        )))
    };
    let finite_pos = |x: f64| x.is_finite() && x > 0.0;
    if !finite_pos(cfg.duration_s) || cfg.duration_s > 24.0 * 3600.0 {
        return bad("duration_s must be positive (and under a day)");
    }
    if !(cfg.hover_s >= 0.0 && cfg.hover_s < cfg.duration_s) {
        return bad("hover_s must be in [0, duration_s)");
    }
    if !(cfg.knot_interval_s >= 0.2 && cfg.knot_interval_s <= 5.0) {
        return bad("knot_interval_s must be in [0.2, 5] s");
    }
    if !(finite_pos(cfg.speed_m_s[0])
        && cfg.speed_m_s[0] <= cfg.speed_m_s[1]
        && cfg.speed_m_s[1] <= 5.0)
    {
        return bad("speed_m_s must satisfy 0 < min <= max <= 5");
    }
    if !finite_pos(cfg.max_angular_rate_rad_s) || !(0.05..=1.0).contains(&cfg.yaw_rate_share) {
        return bad("max_angular_rate_rad_s must be > 0, yaw_rate_share in [0.05, 1]");
    }
    if !(cfg.clearance_m >= 0.05 && cfg.clearance_m <= 2.0) {
        return bad("clearance_m must be in [0.05, 2] m");
    }
    if !(cfg.turn_sigma_rad >= 0.0 && cfg.yaw_offset_max_rad >= 0.0) {
        return bad("turn_sigma_rad and yaw_offset_max_rad must be >= 0");
    }
    if !(cfg.altitude_m[0] < cfg.altitude_m[1] && cfg.camera_tilt_rad.abs() < 1.2) {
        return bad("altitude_m must be increasing, |camera_tilt_rad| < 1.2");
    }
    if let Some(leg) = cfg.route_leg_s
        && !(leg.is_finite() && leg >= 3.0 * cfg.knot_interval_s)
    {
        return bad("route_leg_s must be at least three knot intervals");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::world::WorldConfig;

    #[test]
    fn basis_is_a_partition_of_unity_and_c4() {
        let m = uniform_basis();
        // sum_j B_j(u) = 1 for all u: row 0 sums to 1, higher rows to 0.
        for (i, row) in m.iter().enumerate() {
            let s: f64 = row.iter().sum();
            assert!(
                (s - if i == 0 { 1.0 } else { 0.0 }).abs() < 1e-12,
                "row {i}: {s}"
            );
        }
        // C4 across a knot: B_j at u = 1 and its derivatives equal B_{j+1} at u = 0.
        let deriv = |j: usize, r: usize, u: f64| -> f64 {
            (r..ORDER)
                .map(|i| {
                    let falling = ((i - r + 1)..=i).fold(1.0, |a, f| a * f as f64);
                    m[i][j] * falling * u.powi((i - r) as i32)
                })
                .sum()
        };
        for r in 0..=4 {
            for j in 1..ORDER {
                let left = deriv(j, r, 1.0);
                let right = deriv(j - 1, r, 0.0);
                assert!(
                    (left - right).abs() < 1e-9,
                    "r {r} j {j}: {left} vs {right}"
                );
            }
        }
    }

    #[test]
    fn retracting_keeps_the_path_flown_and_lets_the_drone_stop_short() {
        let start = Vector3::new(0.0, 0.0, 1.0);
        let forward = |n: usize| {
            let mut t = Trajectory::hover(start, 0.0, 0.5, 0.0).unwrap_or_else(|e| panic!("{e}"));
            for k in 1..=n {
                t.push_control_point([0.25 * k as f64, 0.0, 1.0, 0.0])
                    .unwrap_or_else(|e| panic!("{e}"));
            }
            t
        };
        let full = forward(12);
        let mut braked = forward(12);
        let now = 2.3;
        // Span 4 (2.0-2.5 s) is shaped by points 4..=9: the other 8 of 18
        // (6 of the hover and 12 pushed) go.
        assert_eq!(braked.points_after(now), 8);
        assert_eq!(braked.retract_after(now), 8);
        assert_eq!(braked.control_points().len(), 10);
        assert!(braked.duration_s() >= now);
        assert_eq!(braked.points_after(now), 0);
        for k in 0..=46 {
            let t = 0.05 * f64::from(k);
            let (a, b) = (full.state(t), braked.state(t));
            assert_eq!(a.position, b.position, "t {t}");
            assert_eq!(a.velocity, b.velocity, "t {t}");
        }
        // Holding the last point kept: the drone comes to rest there, short
        // of where the full path goes, and smoothly (continuous
        // acceleration across the knot at 2.5 s).
        let held = *braked.control_points().last().unwrap_or(&[0.0; 4]);
        for _ in 0..ORDER {
            braked
                .push_control_point(held)
                .unwrap_or_else(|e| panic!("{e}"));
        }
        let end = braked.state(braked.duration_s());
        assert!((end.position.x - held[0]).abs() < 1e-9 && end.velocity.norm() < 1e-9);
        assert!(held[0] + 1.0 < full.state(full.duration_s()).position.x);
        let (before, after) = (braked.state(2.5 - 1e-7), braked.state(2.5 + 1e-7));
        assert!((before.acceleration - after.acceleration).norm() < 1e-4);
        // Retracting at the start keeps the hover.
        assert_eq!(forward(3).retract_after(0.0), 3);
    }

    #[test]
    fn angular_velocity_matches_finite_differences_of_the_rotation() {
        let world = World::generate(&WorldConfig::default(), 3).unwrap_or_else(|e| panic!("{e}"));
        let cfg = TrajectoryConfig {
            duration_s: 12.0,
            ..TrajectoryConfig::default()
        };
        let traj = Trajectory::generate(&world, &cfg, 3).unwrap_or_else(|e| panic!("{e}"));
        let h = 1e-5;
        for k in 0..40 {
            let t = 2.0 + k as f64 * 0.25;
            let s = traj.state(t);
            let (a, b) = (traj.state(t - h), traj.state(t + h));
            let r_dot = (b.rotation_world_from_body - a.rotation_world_from_body) / (2.0 * h);
            let omega = vee(&(s.rotation_world_from_body.transpose() * r_dot));
            assert!((omega - s.angular_velocity_body).norm() < 1e-6, "t {t}");
            let v = (b.position - a.position) / (2.0 * h);
            assert!((v - s.velocity).norm() < 1e-6);
            let acc = (b.velocity - a.velocity) / (2.0 * h);
            assert!((acc - s.acceleration).norm() < 1e-5);
            let r = s.rotation_world_from_body;
            assert!((r.transpose() * r - Matrix3::identity()).norm() < 1e-12);
            assert!((r.determinant() - 1.0).abs() < 1e-12);
        }
    }

    #[test]
    fn a_growing_trajectory_never_rewrites_what_was_flown() {
        let start = Vector3::new(1.0, 2.0, 1.2);
        let mut traj = Trajectory::hover(start, 0.3, 0.5, 0.15).unwrap_or_else(|e| panic!("{e}"));
        // An exact hover at first: at rest, level thrust, no rotation.
        let s = traj.state(0.2);
        assert_eq!(s.position, start);
        assert_eq!(s.velocity, Vector3::zeros());
        assert_eq!(s.angular_velocity_body, Vector3::zeros());
        assert!((s.specific_force_body.norm() - GRAVITY).abs() < 1e-12);
        let mut flown: Vec<(f64, KinematicState)> = Vec::new();
        for k in 1..=12 {
            let before = traj.duration_s();
            let x = 1.0 + 0.2 * f64::from(k);
            traj.push_control_point([x, 2.0 + 0.05 * f64::from(k), 1.2, 0.3 + 0.1 * f64::from(k)])
                .unwrap_or_else(|e| panic!("{e}"));
            assert!((traj.duration_s() - before - 0.5).abs() < 1e-12);
            // Every state already defined stays what it was, bit for bit.
            for (t, state) in &flown {
                assert_eq!(traj.state(*t), *state, "t {t} after point {k}");
            }
            for i in 0..5 {
                let t = before - 0.5 + 0.1 * f64::from(i);
                if t >= 0.0 {
                    flown.push((t, traj.state(t)));
                }
            }
        }
        // Steps of 0.2 m (0.206 m with y) per 0.5 s bound the speed.
        let top = (0..200)
            .map(|i| traj.state(f64::from(i) * 0.03).velocity.norm())
            .fold(0.0, f64::max);
        assert!(top > 0.3 && top <= 0.2062 / 0.5 + 1e-9, "{top}");
        assert!(traj.push_control_point([f64::NAN, 0.0, 0.0, 0.0]).is_err());
        assert!(Trajectory::hover(start, 0.0, 0.0, 0.1).is_err());
    }

    #[test]
    fn out_and_back_retraces_its_leg_pose_for_pose_and_turns_early_where_it_must() {
        // Yaw may spend the whole rate budget and the steps are long, so some
        // turnarounds (braking pitches the vehicle back while it still turns)
        // break the angular-rate limit and lose their apex.
        let cfg = TrajectoryConfig {
            duration_s: 40.0,
            route: Route::OutAndBack,
            route_leg_s: Some(13.0),
            yaw_rate_share: 1.0,
            max_angular_rate_rad_s: 0.5,
            speed_m_s: [0.8, 1.5],
            ..TrajectoryConfig::default()
        };
        let dt = cfg.knot_interval_s;
        let leg_points = 13;
        let mut early_turns = Vec::new();
        for seed in 0..4 {
            let world =
                World::generate(&WorldConfig::default(), seed).unwrap_or_else(|e| panic!("{e}"));
            let traj = Trajectory::generate(&world, &cfg, seed)
                .unwrap_or_else(|e| panic!("seed {seed}: {e}"));
            let cps = traj.control_points();
            let hover_points = DEGREE + (cfg.hover_s / dt).ceil() as usize;
            assert!(cps[..hover_points].iter().all(|p| *p == cps[0]));
            // The first leg: from the last hover point to the first reversal.
            let apex = (hover_points..cps.len() - 1)
                .find(|&k| cps[k + 1] == cps[k - 1])
                .unwrap_or_else(|| panic!("seed {seed}: the flight never turns back"));
            let leg = &cps[hover_points - 1..=apex];
            assert!(
                (3..=leg_points + 1).contains(&leg.len()),
                "seed {seed}: leg of {}",
                leg.len()
            );
            if leg.len() < leg_points + 1 {
                early_turns.push(seed);
            }
            // After it, the leg's own points (yaw included), one step along
            // the leg at a time.
            let mut i = leg.len() - 1;
            for (k, p) in cps.iter().enumerate().skip(apex + 1) {
                i = [i.wrapping_sub(1), i + 1]
                    .into_iter()
                    .find(|&n| leg.get(n) == Some(p))
                    .unwrap_or_else(|| {
                        panic!("seed {seed}: point {k} is not next to leg point {i}")
                    });
            }
            // The way back is the way out, pose for pose: control points
            // symmetric about the apex make a curve symmetric in time about
            // the apex's knot, (apex - 2) knot intervals into the spline, as
            // far as the symmetry reaches (two knots short of its end).
            let radius = (1..=apex)
                .take_while(|&j| cps.get(apex + j).is_some_and(|p| *p == cps[apex - j]))
                .count();
            let t_apex = (apex as f64 - 2.0) * dt - traj.time_offset_s;
            let reach = ((radius as f64 - 2.0) * dt).min(traj.duration_s() - t_apex);
            assert!(reach > 8.0, "seed {seed}: {reach} s retraced");
            for k in 0..=400 {
                let tau = reach * f64::from(k) / 400.0;
                let (out, back) = (traj.state(t_apex - tau), traj.state(t_apex + tau));
                let turn = out
                    .world_from_body
                    .rotation
                    .angle_to(&back.world_from_body.rotation);
                assert!(
                    (out.position - back.position).norm() < 1e-9 && turn < 1e-9,
                    "seed {seed} tau {tau}"
                );
                assert!((out.velocity + back.velocity).norm() < 1e-9);
            }
            // Within the limits everywhere, the turnarounds included.
            for k in 0..=8000 {
                let s = traj.state(f64::from(k) * 0.005);
                assert!(s.velocity.norm() <= cfg.speed_m_s[1] + 1e-9);
                assert!(
                    s.angular_velocity_body.norm() <= cfg.max_angular_rate_rad_s,
                    "seed {seed} t {}",
                    s.t_s
                );
                assert!(world.signed_distance(&s.position) >= cfg.clearance_m);
            }
        }
        println!("turned before the leg's end: seeds {early_turns:?}");
        assert!(!early_turns.is_empty());
    }

    #[test]
    fn a_route_leg_shorter_than_three_knots_is_rejected() {
        let world = World::generate(&WorldConfig::default(), 1).unwrap_or_else(|e| panic!("{e}"));
        for leg in [2.5, f64::NAN, -1.0] {
            let cfg = TrajectoryConfig {
                route: Route::OutAndBack,
                route_leg_s: Some(leg),
                ..TrajectoryConfig::default()
            };
            assert!(matches!(
                Trajectory::generate(&world, &cfg, 1),
                Err(DatasetError::InvalidArgument(_))
            ));
        }
        assert_eq!(
            "Out-And-Back".parse::<Route>().ok(),
            Some(Route::OutAndBack)
        );
        assert_eq!(
            Route::OutAndBack.to_string().parse::<Route>().ok(),
            Some(Route::OutAndBack)
        );
        assert_eq!(
            Route::Wander.to_string().parse::<Route>().ok(),
            Some(Route::Wander)
        );
        assert!("loops".parse::<Route>().is_err());
    }

    #[test]
    fn body_axes_follow_euroc_convention() {
        // Level hover: body x up, z forward (horizontal when untilted).
        let r = vehicle_from_body(0.0);
        assert!((r * Vector3::x() - Vector3::z()).norm() < 1e-15);
        assert!((r.determinant() - 1.0).abs() < 1e-15);
        let tilted = vehicle_from_body(0.2);
        let forward = tilted * Vector3::z();
        assert!(forward.z < 0.0, "tilted down: {forward:?}");
    }
}
