//! Two cameras, one eye each, paired by time stamp.
//!
//! Two USB cameras run on their own clocks' frame timing: unless wired to a
//! common trigger, their exposures drift against each other by up to half a
//! frame, and either may drop a frame the other kept. [`StereoPairer`] takes
//! each eye's frames as they come (on `CLOCK_MONOTONIC`, the clock V4L2
//! stamps both with) and pairs a left with a right within a tolerance; a
//! frame whose partner cannot come any more (the other eye has moved on past
//! the tolerance) is dropped and counted, so nothing waits without bound and
//! at most one frame an eye is held. The pair takes the left frame's time
//! (EuRoC's convention: `cam0` stamps the pair); the gap between the eyes is
//! reported so that a rig whose eyes drift apart can be seen, since a pair
//! taken at different times is a stereo baseline in motion.

use crate::{Result, SensorError};

/// One eye.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Eye {
    /// The left camera (`cam0`).
    Left,
    /// The right camera (`cam1`).
    Right,
}

/// Two frames taken together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paired<T> {
    /// The left frame's time, ns.
    pub t_ns: i64,
    /// Right's time minus left's, ns.
    pub gap_ns: i64,
    /// The left frame.
    pub left: T,
    /// The right frame.
    pub right: T,
}

/// Pairs the frames of two cameras.
#[derive(Debug)]
pub struct StereoPairer<T> {
    tolerance_ns: i64,
    left: Option<(i64, T)>,
    right: Option<(i64, T)>,
    dropped: Vec<T>,
    unpaired: u64,
}

impl<T> StereoPairer<T> {
    /// A pairer that pairs frames at most `tolerance_ns` apart (say half the
    /// frame period; a rig on a common trigger is within microseconds).
    ///
    /// # Errors
    /// If the tolerance is not positive.
    pub fn new(tolerance_ns: i64) -> Result<Self> {
        if tolerance_ns <= 0 {
            return Err(SensorError::Config(format!(
                "the stereo pairing tolerance must be positive, got {tolerance_ns} ns"
            )));
        }
        Ok(Self {
            tolerance_ns,
            left: None,
            right: None,
            dropped: Vec::with_capacity(2),
            unpaired: 0,
        })
    }

    /// Takes one eye's frame stamped `t_ns`; returns a pair when it completes
    /// one. Frames that can no longer be paired go to
    /// [`StereoPairer::take_dropped`] (for their buffers to be reused).
    pub fn push(&mut self, eye: Eye, t_ns: i64, frame: T) -> Option<Paired<T>> {
        let (mine, other) = match eye {
            Eye::Left => (&mut self.left, &mut self.right),
            Eye::Right => (&mut self.right, &mut self.left),
        };
        // A frame of the same eye still waiting has lost its partner.
        if let Some((_, old)) = mine.replace((t_ns, frame)) {
            self.dropped.push(old);
            self.unpaired += 1;
        }
        let (t_other, t_mine) = match (other.as_ref(), mine.as_ref()) {
            (Some((a, _)), Some((b, _))) => (*a, *b),
            _ => return None,
        };
        let gap = t_mine.saturating_sub(t_other);
        if gap.saturating_abs() <= self.tolerance_ns {
            let (t_l, l) = self.left.take()?;
            let (t_r, r) = self.right.take()?;
            return Some(Paired {
                t_ns: t_l,
                gap_ns: t_r.saturating_sub(t_l),
                left: l,
                right: r,
            });
        }
        // The older of the two will never meet a partner: the other eye is
        // past it, and its own next frame will be later still.
        let older = if gap > 0 { other } else { mine };
        if let Some((_, old)) = older.take() {
            self.dropped.push(old);
            self.unpaired += 1;
        }
        None
    }

    /// The frames dropped since the last call.
    pub fn take_dropped(&mut self) -> impl Iterator<Item = T> + '_ {
        self.dropped.drain(..)
    }

    /// Frames dropped for want of a partner since the start.
    #[must_use]
    pub fn unpaired(&self) -> u64 {
        self.unpaired
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_within_the_tolerance_pair_and_a_lone_frame_is_dropped() {
        let mut p = match StereoPairer::new(5_000_000) {
            Ok(p) => p,
            Err(e) => panic!("{e}"),
        };
        // 20 Hz; the right camera 3 ms behind; it skips its frame at 100 ms.
        let mut pairs = Vec::new();
        for k in 0..6i64 {
            let t = k * 50_000_000;
            if let Some(pair) = p.push(Eye::Left, t, ("L", k)) {
                pairs.push(pair);
            }
            if k != 2
                && let Some(pair) = p.push(Eye::Right, t + 3_000_000, ("R", k))
            {
                pairs.push(pair);
            }
        }
        let got: Vec<(i64, i64, i64)> = pairs
            .iter()
            .map(|q| (q.t_ns, q.left.1, q.right.1))
            .collect();
        let want: Vec<(i64, i64, i64)> = [0, 1, 3, 4, 5]
            .iter()
            .map(|&k| (k * 50_000_000, k, k))
            .collect();
        assert_eq!(got, want);
        assert!(pairs.iter().all(|q| q.gap_ns == 3_000_000));
        assert_eq!(p.unpaired(), 1);
        assert_eq!(p.take_dropped().collect::<Vec<_>>(), vec![("L", 2)]);
        assert_eq!(p.take_dropped().count(), 0);
    }

    #[test]
    fn eyes_out_of_step_drop_the_older_and_hold_at_most_one_each() {
        let mut p = match StereoPairer::new(1_000) {
            Ok(p) => p,
            Err(e) => panic!("{e}"),
        };
        // The right camera runs 10 us late: never within 1 us; every push
        // drops the older frame, and nothing accumulates.
        for k in 0..100i64 {
            assert!(p.push(Eye::Left, k * 50_000, k).is_none());
            assert!(p.push(Eye::Right, k * 50_000 + 10_000, k).is_none());
            assert!(p.take_dropped().count() <= 2);
        }
        assert_eq!(p.unpaired(), 199);
        // A right frame arriving before its left still pairs.
        let mut q = match StereoPairer::new(1_000) {
            Ok(p) => p,
            Err(e) => panic!("{e}"),
        };
        assert!(q.push(Eye::Right, 500, 'r').is_none());
        let pair = q.push(Eye::Left, 0, 'l');
        assert_eq!(
            pair,
            Some(Paired {
                t_ns: 0,
                gap_ns: 500,
                left: 'l',
                right: 'r'
            })
        );
        assert!(StereoPairer::<u8>::new(0).is_err());
    }
}
