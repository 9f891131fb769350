//! Kernel time stamps and the clock they are on.
//!
//! V4L2 stamps a buffer with a `struct timeval` on `CLOCK_MONOTONIC` (when
//! its flags say `V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC`); IIO stamps a scan
//! with an `s64` of ns on the clock `current_timestamp_clock` names
//! (`realtime` by default, which is why the IIO reader sets it to
//! `monotonic`). Both end here as ns on `CLOCK_MONOTONIC`, the stream's
//! clock for a live run: a latency is `monotonic_now_ns() - t_ns`.

use crate::{Result, SensorError};

/// `V4L2_BUF_FLAG_TIMESTAMP_MASK`: the bits of a V4L2 buffer's flags that say
/// which clock stamped it.
pub const V4L2_TIMESTAMP_MASK: u32 = 0x0000_e000;
/// `V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC`: stamped on `CLOCK_MONOTONIC`.
pub const V4L2_TIMESTAMP_MONOTONIC: u32 = 0x0000_2000;

/// Now on `CLOCK_MONOTONIC`, ns.
#[must_use]
pub fn monotonic_now_ns() -> i64 {
    let ts = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    ts.tv_sec
        .saturating_mul(1_000_000_000)
        .saturating_add(ts.tv_nsec)
}

/// A V4L2 buffer's time stamp (`timeval`: seconds and microseconds) as ns
/// on `CLOCK_MONOTONIC`.
///
/// # Errors
/// If `flags` say another clock stamped it (`TIMESTAMP_UNKNOWN` or
/// `TIMESTAMP_COPY`: the pair's time would be a guess), or the stamp is
/// negative or out of range.
pub fn v4l2_timestamp_ns(sec: i64, usec: i64, flags: u32) -> Result<i64> {
    let clock = flags & V4L2_TIMESTAMP_MASK;
    if clock != V4L2_TIMESTAMP_MONOTONIC {
        return Err(SensorError::Frame(format!(
            "the driver stamps buffers with clock flags {clock:#06x}, not \
             V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC ({V4L2_TIMESTAMP_MONOTONIC:#06x}): the pairs' \
             times would not be comparable with the IMU's"
        )));
    }
    if sec < 0 || !(0..1_000_000).contains(&usec) {
        return Err(SensorError::Frame(format!(
            "buffer time stamp {sec} s {usec} us is not a time"
        )));
    }
    sec.checked_mul(1_000_000_000)
        .and_then(|ns| ns.checked_add(usec * 1000))
        .ok_or_else(|| SensorError::Frame(format!("buffer time stamp {sec} s is out of range")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_monotonic_clock_moves_forward() {
        let a = monotonic_now_ns();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = monotonic_now_ns();
        assert!(a > 0 && b - a >= 2_000_000, "{a} {b}");
    }

    #[test]
    fn a_monotonic_timeval_is_ns_and_other_clocks_are_refused() {
        let flags = V4L2_TIMESTAMP_MONOTONIC | 0x0001_0000;
        assert_eq!(
            v4l2_timestamp_ns(12, 345_678, flags).ok(),
            Some(12_345_678_000)
        );
        // TIMESTAMP_UNKNOWN (0) and TIMESTAMP_COPY (0x4000).
        assert!(v4l2_timestamp_ns(12, 0, 0).is_err());
        assert!(v4l2_timestamp_ns(12, 0, 0x4000).is_err());
        assert!(v4l2_timestamp_ns(-1, 0, V4L2_TIMESTAMP_MONOTONIC).is_err());
        assert!(v4l2_timestamp_ns(1, 1_000_000, V4L2_TIMESTAMP_MONOTONIC).is_err());
        assert!(v4l2_timestamp_ns(i64::MAX / 10, 0, V4L2_TIMESTAMP_MONOTONIC).is_err());
    }
}
