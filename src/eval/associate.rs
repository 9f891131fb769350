//! Association of estimated poses to ground-truth poses by timestamp.
//!
//! Input: two trajectories with strictly increasing `t_ns`; a maximum time
//! difference in ns. Output: one-to-one pairs `(gt index, est index)` in time order.
//!
//! Follows `evo`'s `sync.associate_trajectories` (nearest-time method, evo 1.38):
//! starting from the trajectory with *fewer* poses (the estimate when both have as
//! many), each of its stamps is paired with the nearest stamp of the other one if
//! that is within `max_time_diff_ns` (`|dt| <= max`); of two equally near stamps the
//! earlier wins. evo stops there, so two poses of the sparse trajectory can share
//! one pose of the dense one when `max_time_diff` exceeds half the dense period; we
//! keep such a shared pose only for the nearer of its claimants (the earlier on a
//! tie), making the pairing one-to-one. Whenever evo's pairing is one-to-one (the
//! usual case, and the case of our evo fixtures) the two are identical. Unlike evo we
//! compare integer nanoseconds, so a difference of exactly `max` is kept exactly.

use super::trajectory::Trajectory;

/// One matched pair of poses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Match {
    /// Index into the ground truth.
    pub gt_index: usize,
    /// Index into the estimate.
    pub est_index: usize,
    /// `t_est - t_gt`, ns.
    pub dt_ns: i64,
}

/// Index of the stamp in `stamps` (strictly increasing) nearest to `t` within
/// `max_diff_ns`; ties go to the earlier stamp.
fn nearest(stamps: &[i64], t: i64, max_diff_ns: i64) -> Option<usize> {
    let upper = stamps.partition_point(|&s| s <= t); // first stamp after t
    let diff_up = stamps.get(upper).map(|&s| s.abs_diff(t));
    let diff_low = upper.checked_sub(1).map(|i| t.abs_diff(stamps[i]));
    let (index, diff) = match (diff_low, diff_up) {
        (Some(lo), Some(up)) if up < lo => (upper, up),
        (Some(lo), _) => (upper - 1, lo),
        (None, Some(up)) => (upper, up),
        (None, None) => return None,
    };
    (diff <= max_diff_ns.unsigned_abs()).then_some(index)
}

/// Pairs estimate poses with ground-truth poses by nearest timestamp, one-to-one,
/// within `max_time_diff_ns` (see the module docs for the exact rule). Pairs are in
/// increasing time; an empty result means no overlap.
#[must_use]
pub fn associate(gt: &Trajectory, est: &Trajectory, max_time_diff_ns: i64) -> Vec<Match> {
    // evo: "Start from the trajectory that has fewer poses, so that none of its poses
    // are lost"; the estimate is the short one unless it is strictly longer.
    let from_gt = est.len() > gt.len();
    let (short, long) = if from_gt {
        (gt.t_ns(), est.t_ns())
    } else {
        (est.t_ns(), gt.t_ns())
    };

    let mut matches: Vec<Match> = Vec::new();
    for (i_short, &t) in short.iter().enumerate() {
        let Some(i_long) = nearest(long, t, max_time_diff_ns) else {
            continue;
        };
        let m = if from_gt {
            Match {
                gt_index: i_short,
                est_index: i_long,
                dt_ns: long[i_long] - t,
            }
        } else {
            Match {
                gt_index: i_long,
                est_index: i_short,
                dt_ns: t - long[i_long],
            }
        };
        // The nearest-stamp map is monotone, so claimants of one pose of the long
        // trajectory are consecutive: keep the nearer (the earlier on a tie).
        if let Some(last) = matches.last_mut() {
            let same = if from_gt {
                last.est_index == m.est_index
            } else {
                last.gt_index == m.gt_index
            };
            if same {
                if m.dt_ns.unsigned_abs() < last.dt_ns.unsigned_abs() {
                    *last = m;
                }
                continue;
            }
        }
        matches.push(m);
    }
    matches
}

#[cfg(test)]
mod tests {
    use nalgebra::Isometry3;

    use super::*;

    fn traj(t_ns: &[i64]) -> Trajectory {
        let poses = vec![Isometry3::identity(); t_ns.len()];
        match Trajectory::new(t_ns.to_vec(), poses) {
            Ok(t) => t,
            Err(e) => panic!("{e}"),
        }
    }

    fn pairs(m: &[Match]) -> Vec<(usize, usize)> {
        m.iter().map(|m| (m.gt_index, m.est_index)).collect()
    }

    const MS: i64 = 1_000_000;

    #[test]
    fn offsets_and_missing_rows() {
        // gt at 20 Hz; estimate offset by -4..+4 ms, row 3 missing, one extra row
        // 25 ms after gt 5 (unmatched), one before the start.
        let gt = traj(&[0, 50 * MS, 100 * MS, 150 * MS, 200 * MS, 250 * MS, 300 * MS]);
        let est = traj(&[
            -500 * MS,
            3 * MS,
            46 * MS,
            104 * MS,
            199 * MS,
            250 * MS + 1,
            275 * MS,
            296 * MS,
        ]);
        let m = associate(&gt, &est, 10 * MS);
        assert_eq!(
            pairs(&m),
            vec![(0, 1), (1, 2), (2, 3), (4, 4), (5, 5), (6, 7)]
        );
        assert_eq!(m[1].dt_ns, -4 * MS);
        assert_eq!(m[4].dt_ns, 1);
        // A tighter limit drops the 4 ms offsets.
        let m = associate(&gt, &est, 3 * MS);
        assert_eq!(pairs(&m), vec![(0, 1), (4, 4), (5, 5)]);
    }

    #[test]
    fn limit_is_inclusive_and_ties_go_to_the_earlier_stamp() {
        let gt = traj(&[0, 20 * MS]);
        let est = traj(&[10 * MS]);
        assert_eq!(pairs(&associate(&gt, &est, 10 * MS)), vec![(0, 0)]);
        assert!(associate(&gt, &est, 10 * MS - 1).is_empty());
    }

    #[test]
    fn dense_estimate_is_matched_from_the_ground_truth_side() {
        // The estimate has more poses: each gt stamp takes its nearest estimate.
        let gt = traj(&[0, 100 * MS]);
        let est = traj(&[-2 * MS, MS, 5 * MS, 97 * MS, 99 * MS, 130 * MS]);
        assert_eq!(pairs(&associate(&gt, &est, 10 * MS)), vec![(0, 1), (1, 4)]);
    }

    #[test]
    fn shared_nearest_pose_is_kept_once() {
        // Two estimate stamps both nearest to gt 1 under a loose limit: evo would
        // pair both; we keep the nearer one.
        let gt = traj(&[0, 100 * MS, 200 * MS]);
        let est = traj(&[60 * MS, 110 * MS]);
        let m = associate(&gt, &est, 50 * MS);
        assert_eq!(pairs(&m), vec![(1, 1)]);
    }

    #[test]
    fn no_overlap_is_empty() {
        let gt = traj(&[0, MS]);
        let est = traj(&[100 * MS, 101 * MS]);
        assert!(associate(&gt, &est, 10 * MS).is_empty());
        assert!(associate(&gt, &traj(&[]), 10 * MS).is_empty());
    }
}
