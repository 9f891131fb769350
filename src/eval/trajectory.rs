//! Stamped trajectories and their files: TUM text and EuRoC ground-truth csv.
//!
//! A [`Trajectory`] is a time-ordered list of poses `world_from_body` (nalgebra
//! `Isometry3<f64>`, metres, Hamilton quaternions) with timestamps `t_ns: i64` in
//! nanoseconds, strictly increasing.
//!
//! File formats:
//! - **TUM** (Sturm et al., IROS 2012; the format `evo_ape tum` reads): one pose a
//!   line, `t[s] x y z qx qy qz qw`, separated by whitespace, `#` starts a comment.
//!   The time is read from its decimal text as integer seconds plus up to 9
//!   fraction digits (rounded at the 10th), so a stamp such as
//!   `1403715273.262142976` keeps its nanoseconds, which an `f64` would not.
//!   [`write_tum`] writes 9 decimals, so `t_ns` survives a round trip exactly.
//! - **EuRoC csv** (Burri et al., IJRR 2016, `state_groundtruth_estimate0/data.csv`;
//!   what `evo_ape euroc` reads): comma separated, `#timestamp [ns]`, position
//!   `p x y z` (m), quaternion **`q w x y z`** (w first), then velocity and biases: 17
//!   columns. The 8-column pose-only form (TUM-VI `mocap0/data.csv`) is accepted too.
//!
//! [`read_trajectory`] tells the two apart by the first data line: commas make it
//! EuRoC csv, whitespace makes it TUM.
//!
//! Quaternions are normalized on reading; one whose norm is further than
//! [`QUATERNION_NORM_TOLERANCE`] from 1 is an error, since that usually means the
//! columns are not what the format says.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use nalgebra::{Isometry3, Quaternion, Translation3, UnitQuaternion, Vector3};

use super::error::EvalError;

/// How far from 1 the norm of a quaternion read from a file may be before it is
/// rejected (files written with 6-7 decimals are off by about 1e-7).
pub const QUATERNION_NORM_TOLERANCE: f64 = 1e-2;

/// A time-ordered sequence of body poses in a world frame.
///
/// Invariants (checked by every constructor): as many timestamps as poses,
/// timestamps strictly increasing, every pose finite.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Trajectory {
    t_ns: Vec<i64>,
    world_from_body: Vec<Isometry3<f64>>,
    source: Option<PathBuf>,
}

impl Trajectory {
    /// A trajectory from timestamps (ns) and poses `world_from_body`.
    ///
    /// # Errors
    /// [`EvalError::InvalidTrajectory`] when the lengths differ, a timestamp is not
    /// after the one before, or a pose has a non-finite component.
    pub fn new(t_ns: Vec<i64>, world_from_body: Vec<Isometry3<f64>>) -> Result<Self, EvalError> {
        if t_ns.len() != world_from_body.len() {
            return Err(EvalError::InvalidTrajectory(format!(
                "{} timestamps but {} poses",
                t_ns.len(),
                world_from_body.len()
            )));
        }
        for (i, pair) in t_ns.windows(2).enumerate() {
            if pair[1] <= pair[0] {
                return Err(EvalError::InvalidTrajectory(format!(
                    "timestamp {} ({} ns) is not after timestamp {} ({} ns)",
                    i + 1,
                    pair[1],
                    i,
                    pair[0]
                )));
            }
        }
        for (i, pose) in world_from_body.iter().enumerate() {
            if !is_finite_pose(pose) {
                return Err(EvalError::InvalidTrajectory(format!(
                    "pose {i} is not finite"
                )));
            }
        }
        Ok(Self {
            t_ns,
            world_from_body,
            source: None,
        })
    }

    /// The same trajectory, remembering the file it came from (used in messages).
    #[must_use]
    pub fn with_source(mut self, path: impl Into<PathBuf>) -> Self {
        self.source = Some(path.into());
        self
    }

    /// The file the trajectory was read from, if any.
    #[must_use]
    pub fn source(&self) -> Option<&Path> {
        self.source.as_deref()
    }

    /// Number of poses.
    #[must_use]
    pub fn len(&self) -> usize {
        self.t_ns.len()
    }

    /// True when there is no pose.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.t_ns.is_empty()
    }

    /// Timestamps, ns, strictly increasing.
    #[must_use]
    pub fn t_ns(&self) -> &[i64] {
        &self.t_ns
    }

    /// Poses of the body in the world frame, one per timestamp.
    #[must_use]
    pub fn world_from_body(&self) -> &[Isometry3<f64>] {
        &self.world_from_body
    }

    /// `(t_ns, world_from_body)` pairs in time order.
    pub fn iter(&self) -> impl Iterator<Item = (i64, &Isometry3<f64>)> + '_ {
        self.t_ns.iter().copied().zip(self.world_from_body.iter())
    }

    /// The pose at `t_ns` interpolated between the two poses around it
    /// (position linearly, rotation by slerp); `None` outside the
    /// trajectory or when those two are more than `max_gap_ns` apart.
    #[must_use]
    pub fn interpolate(&self, t_ns: i64, max_gap_ns: i64) -> Option<Isometry3<f64>> {
        let i = self.t_ns.partition_point(|&t| t < t_ns);
        if self.t_ns.get(i) == Some(&t_ns) {
            return Some(self.world_from_body[i]);
        }
        let (a, b) = (i.checked_sub(1)?, i);
        let (ta, tb) = (self.t_ns[a], *self.t_ns.get(b)?);
        if tb - ta > max_gap_ns {
            return None;
        }
        let f = (t_ns - ta) as f64 / (tb - ta) as f64;
        Some(self.world_from_body[a].lerp_slerp(&self.world_from_body[b], f))
    }

    /// This trajectory at the times of `other` that it covers
    /// ([`Self::interpolate`]), to score an estimate whose poses come at
    /// other times than the ground truth's (IMU-rate poses) without an
    /// association error.
    #[must_use]
    pub fn resampled_at(&self, times_ns: &[i64], max_gap_ns: i64) -> Self {
        let (t, poses) = times_ns
            .iter()
            .filter_map(|&t| Some((t, self.interpolate(t, max_gap_ns)?)))
            .unzip();
        Self {
            t_ns: t,
            world_from_body: poses,
            source: self.source.clone(),
        }
    }

    /// Length of the polyline through the body positions, m.
    #[must_use]
    pub fn path_length_m(&self) -> f64 {
        self.world_from_body
            .windows(2)
            .map(|w| (w[1].translation.vector - w[0].translation.vector).norm())
            .sum()
    }

    /// A short name for messages: the source file, or `what` when there is none.
    pub(crate) fn describe(&self, what: &str) -> String {
        match &self.source {
            Some(p) => format!("{what} {}", p.display()),
            None => what.to_string(),
        }
    }
}

fn is_finite_pose(pose: &Isometry3<f64>) -> bool {
    pose.translation.vector.iter().all(|v| v.is_finite())
        && pose.rotation.coords.iter().all(|v| v.is_finite())
}

/// Which text format a trajectory file is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrajectoryFormat {
    /// `t[s] x y z qx qy qz qw`, whitespace separated.
    Tum,
    /// EuRoC `data.csv`: `t[ns],px,py,pz,qw,qx,qy,qz[,v,bw,ba]`, comma separated.
    EurocCsv,
}

/// Reads a trajectory file, telling TUM from EuRoC csv by its first data line
/// (commas: EuRoC csv; whitespace: TUM).
///
/// # Errors
/// [`EvalError::Io`] when the file cannot be read, [`EvalError::Empty`] when it has
/// no data line, [`EvalError::Parse`] (file and line) for a malformed row.
pub fn read_trajectory(path: impl AsRef<Path>) -> Result<Trajectory, EvalError> {
    let path = path.as_ref();
    let text = read_text(path)?;
    match detect_format(&text) {
        Some(TrajectoryFormat::EurocCsv) => parse_euroc_csv(&text, path),
        Some(TrajectoryFormat::Tum) => parse_tum(&text, path),
        None => Err(EvalError::Empty {
            path: path.to_path_buf(),
        }),
    }
}

/// The format of trajectory text, from its first line that is neither blank nor a
/// `#` comment; `None` when there is no such line.
#[must_use]
pub fn detect_format(text: &str) -> Option<TrajectoryFormat> {
    data_lines(text).next().map(|(_, line)| {
        if line.contains(',') {
            TrajectoryFormat::EurocCsv
        } else {
            TrajectoryFormat::Tum
        }
    })
}

/// Reads a TUM trajectory file (`t[s] x y z qx qy qz qw`).
///
/// # Errors
/// As [`read_trajectory`].
pub fn read_tum(path: impl AsRef<Path>) -> Result<Trajectory, EvalError> {
    let path = path.as_ref();
    parse_tum(&read_text(path)?, path)
}

/// Reads EuRoC ground truth (`state_groundtruth_estimate0/data.csv`, 17 columns, or
/// the 8-column pose-only `mocap0/data.csv`); quaternion columns are w, x, y, z.
/// Velocity and bias columns are not read.
///
/// # Errors
/// As [`read_trajectory`].
pub fn read_euroc_ground_truth(path: impl AsRef<Path>) -> Result<Trajectory, EvalError> {
    let path = path.as_ref();
    parse_euroc_csv(&read_text(path)?, path)
}

/// Writes a trajectory as TUM text, atomically (a temporary file renamed: a
/// reader never sees half a file): a `#` header, then `t[s] x y z qx qy qz qw` with
/// the time to 9 decimals and the other values in Rust's shortest round-trip form,
/// so reading the file back gives the same numbers.
///
/// # Errors
/// [`EvalError::Io`] when the file cannot be written.
pub fn write_tum(path: impl AsRef<Path>, trajectory: &Trajectory) -> Result<(), EvalError> {
    use std::io::Write as _;
    let path = path.as_ref();
    let text = format_tum(trajectory);
    mapping::io::write_atomically(path, |w| w.write_all(text.as_bytes())).map_err(|e| {
        EvalError::Io {
            path: path.to_path_buf(),
            source: match e {
                mapping::MappingError::Io { error, .. } => error,
                other => std::io::Error::other(other.to_string()),
            },
        }
    })
}

/// The TUM text [`write_tum`] writes.
#[must_use]
pub fn format_tum(trajectory: &Trajectory) -> String {
    let mut out = String::with_capacity(64 + trajectory.len() * 96);
    out.push_str("# t[s] x y z qx qy qz qw\n");
    for (t_ns, pose) in trajectory.iter() {
        let p = &pose.translation.vector;
        let q = pose.rotation.quaternion();
        // Writing to a String cannot fail.
        let _ = writeln!(
            out,
            "{} {} {} {} {} {} {} {}",
            format_seconds(t_ns),
            p.x,
            p.y,
            p.z,
            q.i,
            q.j,
            q.k,
            q.w
        );
    }
    out
}

/// Nanoseconds as decimal seconds with 9 fraction digits (`-0.5 s` is `-0.500000000`).
#[must_use]
pub fn format_seconds(t_ns: i64) -> String {
    let sign = if t_ns < 0 { "-" } else { "" };
    let abs = t_ns.unsigned_abs();
    format!("{sign}{}.{:09}", abs / 1_000_000_000, abs % 1_000_000_000)
}

/// Parses decimal seconds (`1403715273.262142976`, `-0.5`, `12`, `1.4e9`) into
/// nanoseconds. Plain decimals are converted exactly from their digits, rounding
/// half up at the 10th fraction digit; exponent notation goes through `f64`.
/// `None` for anything else, non-finite values, or values outside `i64` ns.
#[must_use]
pub fn parse_seconds_to_ns(text: &str) -> Option<i64> {
    if text.contains(['e', 'E']) {
        let seconds: f64 = text.parse().ok()?;
        let ns = (seconds * 1e9).round();
        // i64::MAX as f64 rounds up to 2^63, which is out of range.
        return (seconds.is_finite() && ns.abs() < 9.2e18).then_some(ns as i64);
    }
    let (negative, unsigned) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let (int_part, frac_part) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    if int_part.is_empty() && frac_part.is_empty() {
        return None;
    }
    if !int_part.bytes().all(|b| b.is_ascii_digit())
        || !frac_part.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let mut ns: i64 = 0;
    for b in int_part.bytes() {
        ns = ns.checked_mul(10)?.checked_add(i64::from(b - b'0'))?;
    }
    ns = ns.checked_mul(1_000_000_000)?;
    let frac = frac_part.as_bytes();
    let mut frac_ns: i64 = 0;
    for i in 0..9 {
        let digit = frac.get(i).map_or(0, |b| i64::from(b - b'0'));
        frac_ns = frac_ns * 10 + digit;
    }
    if frac.get(9).is_some_and(|&b| b >= b'5') {
        frac_ns += 1;
    }
    ns = ns.checked_add(frac_ns)?;
    Some(if negative { -ns } else { ns })
}

fn read_text(path: &Path) -> Result<String, EvalError> {
    std::fs::read_to_string(path).map_err(|source| EvalError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Non-blank, non-comment lines with their 1-based numbers, trimmed.
fn data_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    // A UTF-8 byte-order mark, as some editors write, is not data.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    text.lines()
        .enumerate()
        .map(|(i, line)| (i + 1, line.trim()))
        .filter(|(_, line)| !line.is_empty() && !line.starts_with('#'))
}

const TUM_COLUMNS: [&str; 8] = ["t", "x", "y", "z", "qx", "qy", "qz", "qw"];
const EUROC_COLUMNS: [&str; 8] = ["t_ns", "p_x", "p_y", "p_z", "q_w", "q_x", "q_y", "q_z"];

/// Parses TUM text; `path` is used in messages only.
///
/// # Errors
/// [`EvalError::Empty`] or [`EvalError::Parse`], as [`read_trajectory`].
pub fn parse_tum(text: &str, path: &Path) -> Result<Trajectory, EvalError> {
    let mut rows = RowCollector::new(path);
    for (line_no, line) in data_lines(text) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() != 8 {
            let hint = if line.contains(',') {
                " (commas are not TUM separators)"
            } else {
                ""
            };
            return Err(EvalError::parse(
                path,
                line_no,
                format!(
                    "expected 8 columns (t[s] x y z qx qy qz qw), found {}{hint}",
                    fields.len()
                ),
            ));
        }
        let t_ns = parse_seconds_to_ns(fields[0]).ok_or_else(|| {
            let hint = if fields[0].len() >= 16 && fields[0].bytes().all(|b| b.is_ascii_digit()) {
                " (it looks like nanoseconds; TUM times are seconds)"
            } else {
                ""
            };
            EvalError::parse(
                path,
                line_no,
                format!(
                    "column 1 (t): '{}' is not a time in seconds{hint}",
                    fields[0]
                ),
            )
        })?;
        let mut v = [0.0; 7];
        for (k, slot) in v.iter_mut().enumerate() {
            *slot = parse_float(fields[k + 1], path, line_no, k + 1, TUM_COLUMNS[k + 1])?;
        }
        let position = Vector3::new(v[0], v[1], v[2]);
        let q = Quaternion::new(v[6], v[3], v[4], v[5]);
        rows.push(line_no, t_ns, position, q)?;
    }
    rows.finish()
}

/// Parses EuRoC csv text; `path` is used in messages only.
///
/// # Errors
/// [`EvalError::Empty`] or [`EvalError::Parse`], as [`read_trajectory`].
pub fn parse_euroc_csv(text: &str, path: &Path) -> Result<Trajectory, EvalError> {
    let mut rows = RowCollector::new(path);
    let mut columns: Option<(usize, usize)> = None; // (count, line it was set by)
    for (line_no, line) in data_lines(text) {
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        match columns {
            None if fields.len() == 8 || fields.len() == 17 => {
                columns = Some((fields.len(), line_no));
            }
            None => {
                return Err(EvalError::parse(
                    path,
                    line_no,
                    format!(
                        "expected 17 columns (EuRoC state_groundtruth_estimate0) or 8 \
                         (t[ns],px,py,pz,qw,qx,qy,qz), found {}",
                        fields.len()
                    ),
                ));
            }
            Some((n, first)) if n != fields.len() => {
                return Err(EvalError::parse(
                    path,
                    line_no,
                    format!(
                        "expected {n} columns (as on line {first}), found {}",
                        fields.len()
                    ),
                ));
            }
            Some(_) => {}
        }
        let t_ns: i64 = fields[0].parse().map_err(|_| {
            EvalError::parse(
                path,
                line_no,
                format!(
                    "column 1 (t_ns): '{}' is not an integer number of nanoseconds",
                    fields[0]
                ),
            )
        })?;
        let mut v = [0.0; 7];
        for (k, slot) in v.iter_mut().enumerate() {
            *slot = parse_float(fields[k + 1], path, line_no, k + 1, EUROC_COLUMNS[k + 1])?;
        }
        let position = Vector3::new(v[0], v[1], v[2]);
        let q = Quaternion::new(v[3], v[4], v[5], v[6]);
        rows.push(line_no, t_ns, position, q)?;
    }
    rows.finish()
}

fn parse_float(
    text: &str,
    path: &Path,
    line: usize,
    index: usize,
    name: &str,
) -> Result<f64, EvalError> {
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        Ok(_) => Err(EvalError::parse(
            path,
            line,
            format!("column {} ({name}): '{text}' is not finite", index + 1),
        )),
        Err(_) => Err(EvalError::parse(
            path,
            line,
            format!("column {} ({name}): '{text}' is not a number", index + 1),
        )),
    }
}

/// Accumulates rows, checking quaternions and time order with file/line messages.
struct RowCollector<'a> {
    path: &'a Path,
    t_ns: Vec<i64>,
    poses: Vec<Isometry3<f64>>,
    last_line: usize,
}

impl<'a> RowCollector<'a> {
    fn new(path: &'a Path) -> Self {
        Self {
            path,
            t_ns: Vec::new(),
            poses: Vec::new(),
            last_line: 0,
        }
    }

    fn push(
        &mut self,
        line: usize,
        t_ns: i64,
        position: Vector3<f64>,
        q: Quaternion<f64>,
    ) -> Result<(), EvalError> {
        if let Some(&prev) = self.t_ns.last()
            && t_ns <= prev
        {
            let what = if t_ns == prev { "repeats" } else { "is before" };
            return Err(EvalError::parse(
                self.path,
                line,
                format!(
                    "timestamp {} s {what} the previous row's {} s (line {}); \
                         timestamps must increase",
                    format_seconds(t_ns),
                    format_seconds(prev),
                    self.last_line
                ),
            ));
        }
        let norm = q.norm();
        if (norm - 1.0).abs() > QUATERNION_NORM_TOLERANCE {
            return Err(EvalError::parse(
                self.path,
                line,
                format!(
                    "quaternion norm is {norm:.6}, not 1 (are the columns in the \
                     format's order?)"
                ),
            ));
        }
        let rotation = UnitQuaternion::from_quaternion(q);
        self.t_ns.push(t_ns);
        self.poses.push(Isometry3::from_parts(
            Translation3::from(position),
            rotation,
        ));
        self.last_line = line;
        Ok(())
    }

    fn finish(self) -> Result<Trajectory, EvalError> {
        if self.t_ns.is_empty() {
            return Err(EvalError::Empty {
                path: self.path.to_path_buf(),
            });
        }
        Ok(Trajectory {
            t_ns: self.t_ns,
            world_from_body: self.poses,
            source: None,
        }
        .with_source(self.path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpolation_is_exact_on_a_uniform_motion_and_stops_at_gaps() {
        use nalgebra::{Translation3, UnitQuaternion, Vector3};
        // Constant velocity and yaw rate: linear position, slerp rotation.
        let at = |t: f64| {
            Isometry3::from_parts(
                Translation3::new(1.0 + 2.0 * t, -t, 0.5),
                UnitQuaternion::from_axis_angle(&Vector3::z_axis(), 0.3 * t),
            )
        };
        let times = [0i64, 10_000_000, 20_000_000, 80_000_000];
        let traj = Trajectory::new(
            times.to_vec(),
            times.iter().map(|&t| at(t as f64 * 1e-9)).collect(),
        )
        .unwrap_or_else(|e| panic!("valid: {e}"));
        let gap = 15_000_000;
        let mid = traj
            .interpolate(12_500_000, gap)
            .unwrap_or_else(|| panic!("inside"));
        let truth = at(0.0125);
        assert!((mid.translation.vector - truth.translation.vector).norm() < 1e-12);
        assert!(mid.rotation.angle_to(&truth.rotation) < 1e-12);
        assert_eq!(
            traj.interpolate(10_000_000, gap),
            Some(traj.world_from_body()[1])
        );
        assert_eq!(
            traj.interpolate(50_000_000, gap),
            None,
            "across a 60 ms gap"
        );
        assert_eq!(traj.interpolate(-1, gap), None);
        assert_eq!(traj.interpolate(90_000_000, gap), None);
        let r = traj.resampled_at(&[-5, 5_000_000, 15_000_000, 50_000_000, 80_000_000], gap);
        assert_eq!(r.t_ns(), &[5_000_000, 15_000_000, 80_000_000]);
    }

    fn p() -> &'static Path {
        Path::new("est.tum")
    }

    /// Any bytes in a TUM file or a EuRoC ground-truth csv give a trajectory
    /// or an error naming the file (`testkit::fuzz`: valid files with random
    /// edits, and random bytes); a trajectory read holds only finite values.
    #[test]
    fn trajectory_files_give_a_trajectory_or_an_error() {
        let tum = "# t x y z qx qy qz qw\n\
                   1403715273.262142976 0.1 0.2 0.3 0 0 0 1\n\
                   1403715273.312142976 0.2 0.25 0.3 0 0 0.0998 0.995\n\
                   1403715273.362142976 0.3 0.3 0.31 0 0 0.1987 0.98\n";
        let csv = "#timestamp, p_x, p_y, p_z, q_w, q_x, q_y, q_z\n\
                   1403715273262142976,0.1,0.2,0.3,1,0,0,0\n\
                   1403715273312142976,0.2,0.25,0.3,0.995,0,0,0.0998\n";
        for (name, sample, parse) in [
            (
                "est.tum",
                tum,
                parse_tum as fn(&str, &Path) -> Result<Trajectory, EvalError>,
            ),
            ("data.csv", csv, parse_euroc_csv),
        ] {
            assert!(parse(sample, Path::new(name)).is_ok(), "{name}");
            testkit::fuzz(name, sample.as_bytes(), |bytes| {
                match parse(&String::from_utf8_lossy(bytes), Path::new(name)) {
                    Ok(t) => assert!(
                        t.world_from_body().iter().all(|p| p
                            .translation
                            .vector
                            .iter()
                            .all(|v| v.is_finite()))
                    ),
                    Err(e) => assert!(e.to_string().contains(name), "{e}"),
                }
            });
        }
    }

    fn err_text(r: Result<Trajectory, EvalError>) -> String {
        match r {
            Ok(t) => panic!("expected an error, got {} poses", t.len()),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn seconds_parse_exactly_to_ns() {
        assert_eq!(
            parse_seconds_to_ns("1403715273.262142976"),
            Some(1_403_715_273_262_142_976)
        );
        assert_eq!(
            parse_seconds_to_ns("1403715273.2621429765"),
            Some(1_403_715_273_262_142_977)
        );
        assert_eq!(
            parse_seconds_to_ns("1403715273.2621429764"),
            Some(1_403_715_273_262_142_976)
        );
        assert_eq!(parse_seconds_to_ns("12"), Some(12_000_000_000));
        assert_eq!(parse_seconds_to_ns("12."), Some(12_000_000_000));
        assert_eq!(parse_seconds_to_ns(".5"), Some(500_000_000));
        assert_eq!(parse_seconds_to_ns("-0.5"), Some(-500_000_000));
        assert_eq!(parse_seconds_to_ns("+1.000000001"), Some(1_000_000_001));
        assert_eq!(parse_seconds_to_ns("1.5e0"), Some(1_500_000_000));
        assert_eq!(
            parse_seconds_to_ns("1.403715273e9"),
            Some(1_403_715_273_000_000_000)
        );
        for bad in [
            "",
            ".",
            "-",
            "abc",
            "1.2.3",
            "nan",
            "inf",
            "1e400",
            "1,5",
            "99999999999",
        ] {
            assert_eq!(parse_seconds_to_ns(bad), None, "{bad}");
        }
    }

    #[test]
    fn seconds_format_round_trips() {
        for t in [
            0,
            1,
            -1,
            -500_000_000,
            1_403_715_273_262_142_976,
            i64::MAX,
            i64::MIN + 1,
        ] {
            assert_eq!(parse_seconds_to_ns(&format_seconds(t)), Some(t), "{t}");
        }
        assert_eq!(format_seconds(-500_000_000), "-0.500000000");
    }

    #[test]
    fn tum_round_trip_is_exact() -> Result<(), EvalError> {
        let q = UnitQuaternion::from_euler_angles(0.1, -0.2, 2.9);
        let poses = vec![
            Isometry3::from_parts(Translation3::new(1.0 / 3.0, -2.5, 1e-9), q),
            Isometry3::from_parts(Translation3::new(4.0, 5.0, 6.0), q.inverse()),
        ];
        let traj = Trajectory::new(
            vec![1_403_715_273_262_142_976, 1_403_715_273_312_142_977],
            poses,
        )?;
        let dir = tempfile::tempdir().map_err(|source| EvalError::Io {
            path: "tmp".into(),
            source,
        })?;
        let path = dir.path().join("t.tum");
        write_tum(&path, &traj)?;
        let back = read_trajectory(&path)?;
        assert_eq!(back.t_ns(), traj.t_ns());
        for (a, b) in back.world_from_body().iter().zip(traj.world_from_body()) {
            assert_eq!(a.translation, b.translation);
            assert!(a.rotation.angle_to(&b.rotation) < 1e-15);
        }
        assert_eq!(back.source(), Some(path.as_path()));
        Ok(())
    }

    #[test]
    fn euroc_has_w_first_and_accepts_8_or_17_columns() -> Result<(), EvalError> {
        let c17 = "#timestamp [ns],p x,p y,p z,q w,q x,q y,q z,v...\n\
                   1403636579758555392,4.688,-1.786,0.783,0.534,-0.153,-0.827,-0.082,\
                   -0.027,0.033,-0.801,-0.003,0.021,0.079,-0.025,0.136,0.076\n\
                   1403636579763555584, 4.688,-1.786,0.787,0.534,-0.153,-0.827,-0.082,\
                   -0.027,0.033,-0.801,-0.003,0.021,0.079,-0.025,0.136,0.076\r\n";
        let t = parse_euroc_csv(c17, Path::new("data.csv"))?;
        assert_eq!(
            t.t_ns(),
            &[1_403_636_579_758_555_392, 1_403_636_579_763_555_584]
        );
        let q = t.world_from_body()[0].rotation.quaternion();
        let n = (0.534f64.powi(2) + 0.153f64.powi(2) + 0.827f64.powi(2) + 0.082f64.powi(2)).sqrt();
        assert!((q.w - 0.534 / n).abs() < 1e-12 && (q.j + 0.827 / n).abs() < 1e-12);
        assert_eq!(detect_format(c17), Some(TrajectoryFormat::EurocCsv));

        let c8 = "# mocap\n1000,1,2,3,1,0,0,0\n2000,1,2,3,0,0,0,1\n";
        let t = parse_euroc_csv(c8, Path::new("mocap0/data.csv"))?;
        assert_eq!(t.len(), 2);
        assert!((t.world_from_body()[1].rotation.quaternion().k - 1.0).abs() < 1e-15);
        Ok(())
    }

    #[test]
    fn tum_quaternion_is_xyzw() -> Result<(), EvalError> {
        let t = parse_tum("# c\n\n1.0 1 2 3 0 0 1 0\n", p())?;
        assert!((t.world_from_body()[0].rotation.quaternion().k - 1.0).abs() < 1e-15);
        assert_eq!(
            t.world_from_body()[0].translation.vector,
            Vector3::new(1.0, 2.0, 3.0)
        );
        assert_eq!(
            detect_format("1.0 1 2 3 0 0 1 0"),
            Some(TrajectoryFormat::Tum)
        );
        Ok(())
    }

    #[test]
    fn malformed_tum_names_file_and_line() {
        let good = "1.0 0 0 0 0 0 0 1\n";
        let cases: [(&str, &str); 9] = [
            (
                "# h\n1.0 0 0 0 0 0 1\n",
                "est.tum:2: expected 8 columns (t[s] x y z qx qy qz qw), found 7",
            ),
            ("1.0 0 0 0 0 0 0 1 9\n", "est.tum:1: expected 8 columns"),
            (
                "1.0 0 zero 0 0 0 0 1\n",
                "est.tum:1: column 3 (y): 'zero' is not a number",
            ),
            (
                "1.0 0 0 NaN 0 0 0 1\n",
                "est.tum:1: column 4 (z): 'NaN' is not finite",
            ),
            (
                "1.0 0 0 0 0 0 0 inf\n",
                "est.tum:1: column 8 (qw): 'inf' is not finite",
            ),
            (
                "t 0 0 0 0 0 0 1\n",
                "est.tum:1: column 1 (t): 't' is not a time in seconds",
            ),
            (
                "1403715273262142976 0 0 0 0 0 0 1\n",
                "est.tum:1: column 1 (t): '1403715273262142976' is not a time in seconds \
                 (it looks like nanoseconds",
            ),
            (
                "1.0 0 0 0 0 0 0 2\n",
                "est.tum:1: quaternion norm is 2.000000, not 1",
            ),
            (
                "1.0,0,0,0,0,0,0,1\n",
                "est.tum:1: expected 8 columns (t[s] x y z qx qy qz qw), found 1 (commas",
            ),
        ];
        for (text, want) in cases {
            let got = err_text(parse_tum(text, p()));
            assert!(
                got.starts_with(want),
                "{got:?} does not start with {want:?}"
            );
        }
        let got = err_text(parse_tum(&format!("{good}\n# c\n0.5 0 0 0 0 0 0 1\n"), p()));
        assert!(
            got.starts_with("est.tum:4: timestamp 0.500000000 s is before the previous row's 1.000000000 s (line 1)"),
            "{got}"
        );
        let got = err_text(parse_tum(&format!("{good}{good}"), p()));
        assert!(
            got.starts_with("est.tum:2: timestamp 1.000000000 s repeats"),
            "{got}"
        );
        assert_eq!(
            err_text(parse_tum("", p())),
            "est.tum: no poses (the file is empty or holds only comments)"
        );
        assert_eq!(
            err_text(parse_tum("# only\n  \n", p())),
            "est.tum: no poses (the file is empty or holds only comments)"
        );
    }

    #[test]
    fn malformed_euroc_names_file_and_line() {
        let gt = Path::new("gt.csv");
        let row = "1000,0,0,0,1,0,0,0";
        let cases: [(String, &str); 5] = [
            (
                format!("#h\n{row}\n1001,0,0,0,1,0,0\n"),
                "gt.csv:3: expected 8 columns (as on line 2), found 7",
            ),
            (
                "1000,0,0,0,1,0,0\n".to_string(),
                "gt.csv:1: expected 17 columns (EuRoC state_groundtruth_estimate0) or 8",
            ),
            (
                "1000.5,0,0,0,1,0,0,0\n".to_string(),
                "gt.csv:1: column 1 (t_ns): '1000.5' is not an integer",
            ),
            (
                "1000,0,0,0,nan,0,0,0\n".to_string(),
                "gt.csv:1: column 5 (q_w): 'nan' is not finite",
            ),
            (
                format!("{row}\n{row}\n"),
                "gt.csv:2: timestamp 0.000001000 s repeats",
            ),
        ];
        for (text, want) in cases {
            let got = err_text(parse_euroc_csv(&text, gt));
            assert!(
                got.starts_with(want),
                "{got:?} does not start with {want:?}"
            );
        }
        assert_eq!(
            err_text(parse_euroc_csv("#h\n", gt)),
            "gt.csv: no poses (the file is empty or holds only comments)"
        );
    }

    #[test]
    fn reading_missing_or_empty_files_names_them() -> Result<(), EvalError> {
        let dir = tempfile::tempdir().map_err(|source| EvalError::Io {
            path: "tmp".into(),
            source,
        })?;
        let missing = dir.path().join("nope.tum");
        let e = err_text(read_trajectory(&missing));
        assert!(e.starts_with(&missing.display().to_string()), "{e}");
        let empty = dir.path().join("empty.tum");
        std::fs::write(&empty, "# nothing\n").map_err(|source| EvalError::Io {
            path: empty.clone(),
            source,
        })?;
        let e = err_text(read_trajectory(&empty));
        assert_eq!(
            e,
            format!(
                "{}: no poses (the file is empty or holds only comments)",
                empty.display()
            )
        );
        Ok(())
    }

    #[test]
    fn new_checks_invariants() {
        let id = Isometry3::identity();
        assert!(Trajectory::new(vec![1, 2], vec![id]).is_err());
        assert!(Trajectory::new(vec![2, 2], vec![id, id]).is_err());
        let nan = Isometry3::translation(f64::NAN, 0.0, 0.0);
        assert!(Trajectory::new(vec![1], vec![nan]).is_err());
        assert!(Trajectory::new(vec![1, 2], vec![id, id]).is_ok());
    }

    #[test]
    fn garbage_never_panics() {
        let lines = [
            "",
            "\u{feff}1.0 0 0 0 0 0 0 1",
            "é 0 0 0 0 0 0 1",
            "- 0 0 0 0 0 0 1",
            "+. 0 0 0 0 0 0 1",
            "1e308 0 0 0 0 0 0 1",
            "-9999999999999999999999 0 0 0 0 0 0 1",
            "1.0 1e309 0 0 0 0 0 1",
            "1.0 0 0 0 0 0 0 0",
            ",,,,,,,",
            ",,,,,,,,,,,,,,,,",
            "1,2",
            "9223372036854775807,0,0,0,1,0,0,0",
            "-9223372036854775808,0,0,0,1,0,0,0",
            "99999999999999999999,0,0,0,1,0,0,0",
            "\u{0}\u{1}\u{2}",
        ];
        for a in lines {
            for b in lines {
                let text = format!("{a}\n{b}\n");
                let _ = parse_tum(&text, p());
                let _ = parse_euroc_csv(&text, p());
                let _ = detect_format(&text);
            }
        }
    }
}
