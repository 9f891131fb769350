//! An IMU whose accelerometer and gyroscope are two devices, each with its
//! own buffer and time stamps (Linux `st_lsm6dsx`, `inv_icm42600`: two IIO
//! devices), as one stream of [`ImuSample`]s.
//!
//! [`AxisMerger`] gives a sample at each gyroscope stamp, with the
//! accelerometer interpolated linearly between its two readings around
//! that stamp: the gyroscope's rate and stamps are the stream's (the
//! preintegration's rotation, the larger error term, is then on measured
//! instants), and the accelerometer, smoother and read at the same or a
//! higher rate, is resampled. A gyroscope reading with no accelerometer
//! reading on both sides within `max_gap_ns` gives no sample (counted): the
//! back end's gap handling sees the hole. Both queues are bounded.
//!
//! [`SplitImu`] reads the two devices on a thread each (a blocking `read`
//! per device) and merges in the caller's [`Imu::read_into`]; dropping it
//! ends the threads at their next reading, which closes the devices.
//!
//! Times are ns on the devices' clock (`CLOCK_MONOTONIC`, set by
//! [`crate::iio::IioImu::open`]); units are the samples'.

use std::collections::VecDeque;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use datasets::ImuSample;
use nalgebra::Vector3;

use crate::{Imu, Result, SensorError};

/// Readings of one sensor waiting for the other at most.
pub const MAX_PENDING: usize = 4096;

/// Merges an accelerometer's and a gyroscope's readings: see the module
/// documentation.
#[derive(Debug, Clone)]
pub struct AxisMerger {
    accel: VecDeque<(i64, Vector3<f64>)>,
    gyro: VecDeque<(i64, Vector3<f64>)>,
    max_gap_ns: i64,
    /// Readings given no sample: out of order, before the other sensor's
    /// first, across a gap, or beyond [`MAX_PENDING`].
    pub dropped: u64,
}

impl AxisMerger {
    /// A merger interpolating the accelerometer across at most `max_gap_ns`.
    #[must_use]
    pub fn new(max_gap_ns: i64) -> Self {
        Self {
            accel: VecDeque::new(),
            gyro: VecDeque::new(),
            max_gap_ns: max_gap_ns.max(1),
            dropped: 0,
        }
    }

    /// Takes an accelerometer reading (m/s^2) at `t_ns`.
    pub fn push_accel(&mut self, t_ns: i64, accel: Vector3<f64>) {
        Self::push(&mut self.accel, &mut self.dropped, t_ns, accel);
    }

    /// Takes a gyroscope reading (rad/s) at `t_ns`.
    pub fn push_gyro(&mut self, t_ns: i64, gyro: Vector3<f64>) {
        Self::push(&mut self.gyro, &mut self.dropped, t_ns, gyro);
    }

    fn push(
        queue: &mut VecDeque<(i64, Vector3<f64>)>,
        dropped: &mut u64,
        t_ns: i64,
        v: Vector3<f64>,
    ) {
        let finite = v.iter().all(|x| x.is_finite());
        if !finite || queue.back().is_some_and(|(t, _)| t_ns <= *t) {
            *dropped += 1;
            return;
        }
        if queue.len() == MAX_PENDING {
            queue.pop_front();
            *dropped += 1;
        }
        queue.push_back((t_ns, v));
    }

    /// Appends every sample the readings so far make to `out`; returns how
    /// many. A gyroscope reading after the accelerometer's last waits for
    /// the next accelerometer reading.
    pub fn drain_into(&mut self, out: &mut Vec<ImuSample>) -> usize {
        let before = out.len();
        while let Some(&(t, gyro)) = self.gyro.front() {
            let Some(&(first, _)) = self.accel.front() else {
                break;
            };
            if t < first {
                // Before the accelerometer's first reading: never bracketed.
                self.gyro.pop_front();
                self.dropped += 1;
                continue;
            }
            // The first accelerometer reading at or after `t`.
            let Some(b) = self.accel.iter().position(|(ta, _)| *ta >= t) else {
                break;
            };
            let a = if self.accel[b].0 == t { b } else { b - 1 };
            let ((ta, va), (tb, vb)) = (self.accel[a], self.accel[b]);
            self.gyro.pop_front();
            if tb - ta > self.max_gap_ns {
                self.dropped += 1;
            } else {
                let f = if tb > ta {
                    (t - ta) as f64 / (tb - ta) as f64
                } else {
                    0.0
                };
                out.push(ImuSample {
                    t_ns: t,
                    gyro,
                    accel: va + (vb - va) * f,
                });
            }
            // The readings before `a` can bracket no later stamp.
            for _ in 0..a {
                self.accel.pop_front();
            }
        }
        out.len() - before
    }
}

/// What a part's thread hands the merger.
enum Part {
    Accel(Vec<ImuSample>),
    Gyro(Vec<ImuSample>),
    /// The part's stream ended (`None`) or failed (why, naming the device).
    Ended(Option<String>),
}

/// Batches waiting for the merger at most (each a read's worth).
const PART_QUEUE: usize = 256;

/// An accelerometer and a gyroscope, each an [`Imu`] on its own thread
/// (the accelerometer's samples read for their `accel`, the gyroscope's
/// for their `gyro`), as one [`Imu`].
pub struct SplitImu {
    name: String,
    rx: Receiver<Part>,
    merger: AxisMerger,
    /// Parts whose stream has ended.
    parts_ended: u8,
    /// A part's failure, which ends the stream at once.
    failed: Option<String>,
}

impl std::fmt::Debug for SplitImu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SplitImu")
            .field("name", &self.name)
            .field("dropped", &self.merger.dropped)
            .finish_non_exhaustive()
    }
}

impl SplitImu {
    /// Starts reading `accel` and `gyro`, merging across at most
    /// `max_gap_ns` of the accelerometer.
    ///
    /// # Errors
    /// [`SensorError::Config`] when a thread cannot start.
    pub fn start(accel: Box<dyn Imu>, gyro: Box<dyn Imu>, max_gap_ns: i64) -> Result<Self> {
        let name = format!("accelerometer {}, gyroscope {}", accel.name(), gyro.name());
        let (tx, rx) = sync_channel(PART_QUEUE);
        spawn_part("accel", accel, tx.clone(), Part::Accel)?;
        spawn_part("gyro", gyro, tx, Part::Gyro)?;
        Ok(Self {
            name,
            rx,
            merger: AxisMerger::new(max_gap_ns),
            parts_ended: 0,
            failed: None,
        })
    }

    /// Readings that gave no sample so far.
    #[must_use]
    pub fn dropped(&self) -> u64 {
        self.merger.dropped
    }

    fn take(&mut self, part: Part) {
        match part {
            Part::Accel(batch) => {
                for s in batch {
                    self.merger.push_accel(s.t_ns, s.accel);
                }
            }
            Part::Gyro(batch) => {
                for s in batch {
                    self.merger.push_gyro(s.t_ns, s.gyro);
                }
            }
            Part::Ended(None) => self.parts_ended += 1,
            Part::Ended(Some(why)) => {
                // A failed sensor ends the stream: one alone is no IMU.
                self.failed.get_or_insert(why);
            }
        }
    }
}

fn spawn_part(
    what: &str,
    mut imu: Box<dyn Imu>,
    tx: SyncSender<Part>,
    wrap: fn(Vec<ImuSample>) -> Part,
) -> Result<()> {
    std::thread::Builder::new()
        .name(format!("scout-imu-{what}"))
        .spawn(move || {
            let mut batch = Vec::with_capacity(64);
            loop {
                match imu.read_into(&mut batch) {
                    Ok(0) => {
                        let _ = tx.send(Part::Ended(None));
                        return;
                    }
                    Ok(_) => {
                        // The merger has gone (the IMU was dropped): stop,
                        // closing the device.
                        if tx.send(wrap(std::mem::take(&mut batch))).is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        let _ = tx.send(Part::Ended(Some(format!("{}: {e}", imu.name()))));
                        return;
                    }
                }
            }
        })
        .map(|_| ())
        .map_err(|e| SensorError::Config(format!("starting the IMU's {what} thread: {e}")))
}

impl Imu for SplitImu {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn read_into(&mut self, out: &mut Vec<ImuSample>) -> Result<usize> {
        let before = out.len();
        loop {
            while let Ok(part) = self.rx.try_recv() {
                self.take(part);
            }
            self.merger.drain_into(out);
            if out.len() > before {
                return Ok(out.len() - before);
            }
            if let Some(why) = &self.failed {
                return Err(SensorError::Iio {
                    device: self.name.clone(),
                    what: why.clone(),
                });
            }
            // A recording ends when both parts have (a device does not end).
            if self.parts_ended >= 2 {
                return Ok(0);
            }
            match self.rx.recv() {
                Ok(part) => self.take(part),
                // Both threads gone without a word: they ended.
                Err(_) => self.parts_ended = 2,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A recording of one sensor, handed over in batches of `batch`.
    struct Recorded {
        name: &'static str,
        samples: Vec<ImuSample>,
        batch: usize,
        fail_at_end: bool,
    }

    impl Imu for Recorded {
        fn name(&self) -> String {
            self.name.into()
        }
        fn read_into(&mut self, out: &mut Vec<ImuSample>) -> Result<usize> {
            if self.samples.is_empty() {
                return if self.fail_at_end {
                    Err(SensorError::Config("unplugged".into()))
                } else {
                    Ok(0)
                };
            }
            let n = self.batch.min(self.samples.len());
            out.extend(self.samples.drain(..n));
            Ok(n)
        }
    }

    fn accel_at(t: f64) -> Vector3<f64> {
        Vector3::new(9.8 + t, 0.5 * t, -2.0 * t)
    }

    fn gyro_at(t: f64) -> Vector3<f64> {
        Vector3::new(0.1 * t, -0.3, 0.2 + t)
    }

    fn readings(period_ns: i64, from_ns: i64, n: i64, accel: bool) -> Vec<ImuSample> {
        (0..n)
            .map(|k| {
                let t_ns = from_ns + k * period_ns;
                let t = t_ns as f64 * 1e-9;
                ImuSample {
                    t_ns,
                    gyro: if accel { Vector3::zeros() } else { gyro_at(t) },
                    accel: if accel { accel_at(t) } else { Vector3::zeros() },
                }
            })
            .collect()
    }

    #[test]
    fn gyro_stamps_with_the_accelerometer_interpolated_between_its_readings() {
        // Accelerometer at 416 Hz, gyroscope at 208 Hz, offset clocks (an
        // lsm6ds3's two FIFOs); the accelerometer's reading is linear in
        // time, so interpolation is exact.
        let mut m = AxisMerger::new(20_000_000);
        let accel = readings(2_403_846, 1_000_000, 400, true);
        let gyro = readings(4_807_692, 3_500_000, 200, false);
        let mut out = Vec::new();
        // Gyroscope first, then the accelerometer in pieces.
        for g in &gyro {
            m.push_gyro(g.t_ns, g.gyro);
        }
        assert_eq!(m.drain_into(&mut out), 0, "no accelerometer yet");
        for chunk in accel.chunks(37) {
            for a in chunk {
                m.push_accel(a.t_ns, a.accel);
            }
            m.drain_into(&mut out);
        }
        let last_accel = accel[accel.len() - 1].t_ns;
        let expected = gyro.iter().filter(|g| g.t_ns <= last_accel).count();
        assert_eq!(out.len(), expected);
        for (s, g) in out.iter().zip(&gyro) {
            assert_eq!(s.t_ns, g.t_ns);
            assert_eq!(s.gyro, g.gyro);
            let truth = accel_at(s.t_ns as f64 * 1e-9);
            assert!((s.accel - truth).norm() < 1e-9, "{} vs {truth}", s.accel);
        }
        assert_eq!(m.dropped, 0);
        assert!(m.accel.len() <= 4, "readings no stamp can use are let go");
    }

    #[test]
    fn gaps_early_readings_and_disorder_give_no_sample_and_are_counted() {
        let mut m = AxisMerger::new(10_000_000);
        let v = Vector3::new(1.0, 2.0, 3.0);
        // A gyroscope reading before the accelerometer's first.
        m.push_gyro(0, v);
        m.push_accel(5_000_000, v);
        m.push_accel(10_000_000, v);
        // An accelerometer gap of 30 ms around the gyroscope at 25 ms.
        m.push_accel(40_000_000, v);
        m.push_gyro(7_000_000, v);
        m.push_gyro(25_000_000, v);
        // Out of order, and not finite.
        m.push_gyro(20_000_000, v);
        m.push_accel(41_000_000, Vector3::new(f64::NAN, 0.0, 0.0));
        let mut out = Vec::new();
        m.drain_into(&mut out);
        assert_eq!(out.iter().map(|s| s.t_ns).collect::<Vec<_>>(), [7_000_000]);
        assert_eq!(m.dropped, 4);
        // Bounded: a gyroscope whose accelerometer stopped.
        for k in 0..(MAX_PENDING as i64 + 10) {
            m.push_gyro(50_000_000 + k, v);
        }
        assert_eq!(m.gyro.len(), MAX_PENDING);
        assert_eq!(m.dropped, 14);
    }

    #[test]
    fn two_devices_read_on_their_threads_make_one_stream_that_ends_with_them() {
        let accel = Recorded {
            name: "accel",
            samples: readings(2_500_000, 0, 800, true),
            batch: 13,
            fail_at_end: false,
        };
        let gyro = Recorded {
            name: "gyro",
            samples: readings(5_000_000, 1_000_000, 300, false),
            batch: 7,
            fail_at_end: false,
        };
        let mut imu = SplitImu::start(Box::new(accel), Box::new(gyro), 20_000_000)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(imu.name().contains("accel") && imu.name().contains("gyro"));
        let mut out = Vec::new();
        while imu.read_into(&mut out).unwrap_or_else(|e| panic!("{e}")) > 0 {}
        // Every gyroscope stamp: all are within the accelerometer's span
        // (the gyroscope's last at 1.496 s, the accelerometer's at 1.9975 s).
        assert_eq!(out.len(), 300);
        assert!(out.windows(2).all(|w| w[1].t_ns - w[0].t_ns == 5_000_000));
        for s in &out {
            let truth = accel_at(s.t_ns as f64 * 1e-9);
            assert!((s.accel - truth).norm() < 1e-9);
            assert!((s.gyro - gyro_at(s.t_ns as f64 * 1e-9)).norm() < 1e-12);
        }
        // A device that fails is named.
        let accel = Recorded {
            name: "accel",
            samples: Vec::new(),
            batch: 1,
            fail_at_end: true,
        };
        let gyro = Recorded {
            name: "gyro-dev",
            samples: Vec::new(),
            batch: 1,
            fail_at_end: true,
        };
        let mut imu = SplitImu::start(Box::new(accel), Box::new(gyro), 20_000_000)
            .unwrap_or_else(|e| panic!("{e}"));
        match imu.read_into(&mut Vec::new()) {
            Err(e) => assert!(e.to_string().contains("unplugged"), "{e}"),
            Ok(n) => panic!("read {n} from failed devices"),
        }
    }
}
