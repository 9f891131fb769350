//! Poses at the IMU's rate on a live run, to sinks (a file, a UDP port):
//! what a flight controller or a motion planner reads between frames.
//!
//! ```text
//! IMU thread (crate::live)   each sample as read -> samples: bounded, try_send
//! back-end thread (run)      each estimate       -> estimates: bounded, try_send
//!            |
//! IMU-rate thread            vio::predict::ImuPredictor: the newest estimate
//!                            propagated through each sample -> the sinks
//! ```
//!
//! Neither stage waits for this thread: a full queue drops the sample or
//! estimate, counted ([`ImuRateStats`]). Estimates waiting are taken before
//! the next sample, so a pose always starts from the newest estimate there
//! is. Times are ns on the IMU's clock (`CLOCK_MONOTONIC` for live sensors),
//! so the latency of a pose is the monotonic clock when it was handed to the
//! sinks less its sample's stamp: the IMU driver's delivery and this
//! thread's work, not the frame's processing, which the propagation covers.
//!
//! Sinks: [`TumPoseFile`] (TUM lines, flushed every [`FILE_FLUSH_EVERY`]
//! poses, so another process can follow it while it grows) and
//! [`UdpPoseSink`] (one line per datagram, the TUM fields then velocity,
//! angular velocity and the time since the estimate; see
//! [`format_pose_line`]).

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crossbeam_channel::{Receiver, Sender, TrySendError, bounded, never, select};
use datasets::ImuSample;
use serde::Serialize;
use vio::backend::Estimate;
use vio::predict::{ImuPredictor, PredictedPose, PredictorCounts};

use crate::PipelineError;

/// Samples waiting for the IMU-rate thread at most (a second at 1 kHz).
pub const SAMPLE_QUEUE: usize = 1024;

/// Estimates waiting for the IMU-rate thread at most.
pub const ESTIMATE_QUEUE: usize = 8;

/// A file sink flushes after this many poses (0.1 s at 200 Hz).
pub const FILE_FLUSH_EVERY: u64 = 20;

/// A sending end that never blocks: what finds the queue full is dropped
/// and counted.
#[derive(Debug)]
pub struct Tap<T> {
    tx: Sender<T>,
    dropped: Arc<AtomicU64>,
}

impl<T> Clone for Tap<T> {
    fn clone(&self) -> Self {
        Self {
            tx: self.tx.clone(),
            dropped: Arc::clone(&self.dropped),
        }
    }
}

impl<T> Tap<T> {
    /// Hands `value` over, or drops it (counted) when the queue is full; a
    /// closed queue takes nothing, silently (the run is ending).
    pub fn offer(&self, value: T) {
        if let Err(TrySendError::Full(_)) = self.tx.try_send(value) {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Where poses go.
pub trait PoseSink: Send {
    /// The sink in messages (a path, an address).
    fn name(&self) -> String;
    /// Takes one pose.
    ///
    /// # Errors
    /// When it cannot take it: a file's write error ends the run's IMU-rate
    /// output with an error; a network sink's is counted.
    fn write(&mut self, pose: &PredictedPose) -> std::io::Result<()>;
    /// Whether a failed write ends the output (a file) or is only counted
    /// (a datagram to a listener that is not there yet).
    fn write_errors_are_fatal(&self) -> bool;
    /// Ends the output (flushes).
    ///
    /// # Errors
    /// When what was written cannot be flushed.
    fn finish(&mut self) -> std::io::Result<()>;
}

/// A pose as one line: `t x y z qx qy qz qw` (TUM: t in s, position in m,
/// the `world_from_body` rotation as a unit quaternion), then with
/// `extended` `vx vy vz` (world, m/s), `wx wy wz` (body, rad/s) and the time
/// since the estimate it starts from, s.
pub fn format_pose_line(out: &mut String, pose: &PredictedPose, extended: bool) {
    let p = pose.world_from_body.translation.vector;
    let q = pose.world_from_body.rotation.coords;
    let _ = write!(
        out,
        "{}.{:09} {:.6} {:.6} {:.6} {:.9} {:.9} {:.9} {:.9}",
        pose.t_ns.div_euclid(1_000_000_000),
        pose.t_ns.rem_euclid(1_000_000_000),
        p.x,
        p.y,
        p.z,
        q.x,
        q.y,
        q.z,
        q.w
    );
    if extended {
        let (v, w) = (pose.v_world, pose.w_body);
        let _ = write!(
            out,
            " {:.6} {:.6} {:.6} {:.6} {:.6} {:.6} {:.6}",
            v.x,
            v.y,
            v.z,
            w.x,
            w.y,
            w.z,
            pose.since_estimate_ns as f64 * 1e-9
        );
    }
    out.push('\n');
}

/// Poses as TUM lines into a file, flushed every [`FILE_FLUSH_EVERY`].
#[derive(Debug)]
pub struct TumPoseFile {
    path: PathBuf,
    name: String,
    file: std::io::BufWriter<std::fs::File>,
    line: String,
    unflushed: u64,
}

impl TumPoseFile {
    /// Creates (or empties) `path`.
    ///
    /// # Errors
    /// [`PipelineError::Write`] naming the file.
    pub fn create(path: &Path) -> Result<Self, PipelineError> {
        let file = std::fs::File::create(path).map_err(|e| PipelineError::Write {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        Ok(Self {
            path: path.to_path_buf(),
            name: path.display().to_string(),
            file: std::io::BufWriter::new(file),
            line: String::with_capacity(128),
            unflushed: 0,
        })
    }
}

impl TumPoseFile {
    /// The same sink named `name` in messages and figures (the file it is
    /// renamed to when the run ends, say).
    #[must_use]
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The file written.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl PoseSink for TumPoseFile {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn write(&mut self, pose: &PredictedPose) -> std::io::Result<()> {
        self.line.clear();
        format_pose_line(&mut self.line, pose, false);
        self.file.write_all(self.line.as_bytes())?;
        self.unflushed += 1;
        if self.unflushed >= FILE_FLUSH_EVERY {
            self.unflushed = 0;
            self.file.flush()?;
        }
        Ok(())
    }

    fn write_errors_are_fatal(&self) -> bool {
        true
    }

    fn finish(&mut self) -> std::io::Result<()> {
        self.file.flush()?;
        self.file.get_ref().sync_all()
    }
}

/// Poses as datagrams to one UDP address, a line each (extended
/// [`format_pose_line`]): what a flight controller's bridge or a ground
/// station on the same network reads.
#[derive(Debug)]
pub struct UdpPoseSink {
    socket: std::net::UdpSocket,
    to: std::net::SocketAddr,
    line: String,
}

impl UdpPoseSink {
    /// A socket on an ephemeral port sending to `to`.
    ///
    /// # Errors
    /// [`PipelineError::Config`] when no socket can be bound.
    pub fn connect(to: std::net::SocketAddr) -> Result<Self, PipelineError> {
        let any: std::net::SocketAddr = if to.is_ipv4() {
            ([0, 0, 0, 0], 0).into()
        } else {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let socket = std::net::UdpSocket::bind(any)
            .map_err(|e| PipelineError::Config(format!("a UDP socket for poses to {to}: {e}")))?;
        Ok(Self {
            socket,
            to,
            line: String::with_capacity(192),
        })
    }
}

impl PoseSink for UdpPoseSink {
    fn name(&self) -> String {
        format!("udp://{}", self.to)
    }

    fn write(&mut self, pose: &PredictedPose) -> std::io::Result<()> {
        self.line.clear();
        format_pose_line(&mut self.line, pose, true);
        self.socket
            .send_to(self.line.as_bytes(), self.to)
            .map(|_| ())
    }

    fn write_errors_are_fatal(&self) -> bool {
        false
    }

    fn finish(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Latency quantiles, ms.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct LatencyMs {
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest.
    pub max: f64,
}

/// Latencies in fixed bins (bounded memory however long the run).
#[derive(Debug, Clone)]
struct LatencyHistogram {
    bins: Vec<u64>,
    max_ns: i64,
    count: u64,
}

/// Width of a latency bin, ns.
const BIN_NS: i64 = 10_000;
/// Bins: 0 to 200 ms; longer ones in the last.
const BINS: usize = 20_000;

impl LatencyHistogram {
    fn new() -> Self {
        Self {
            bins: vec![0; BINS],
            max_ns: 0,
            count: 0,
        }
    }

    fn add(&mut self, ns: i64) {
        let ns = ns.max(0);
        let bin = usize::try_from(ns / BIN_NS)
            .unwrap_or(usize::MAX)
            .min(BINS - 1);
        self.bins[bin] += 1;
        self.max_ns = self.max_ns.max(ns);
        self.count += 1;
    }

    /// The upper edge of the bin holding quantile `q`, ms.
    fn quantile_ms(&self, q: f64) -> f64 {
        if self.count == 0 {
            return 0.0;
        }
        let rank = ((self.count as f64 * q).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, n) in self.bins.iter().enumerate() {
            seen += n;
            if seen >= rank {
                let edge = (i as i64 + 1) * BIN_NS;
                return edge.min(self.max_ns) as f64 * 1e-6;
            }
        }
        self.max_ns as f64 * 1e-6
    }

    fn summary(&self) -> LatencyMs {
        LatencyMs {
            p50: self.quantile_ms(0.5),
            p99: self.quantile_ms(0.99),
            max: self.max_ns as f64 * 1e-6,
        }
    }
}

/// What the IMU-rate output did over a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ImuRateStats {
    /// The predictor's counts: poses given, and samples without one (no
    /// tracking estimate, past the horizon, after an IMU gap, refused).
    #[serde(flatten)]
    pub predictor: PredictorCounts,
    /// Poses per second of IMU time between the first and the last.
    pub rate_hz: f64,
    /// From a sample's stamp to its pose handed to the sinks (live
    /// sensors' stamps are on `CLOCK_MONOTONIC`); `None` when the stamps
    /// are not on that clock.
    pub latency_ms: Option<LatencyMs>,
    /// Samples dropped because the thread's queue was full.
    pub samples_dropped: u64,
    /// Estimates dropped because the thread's queue was full.
    pub estimates_dropped: u64,
    /// Poses a network sink could not send (counted, not fatal).
    pub send_errors: u64,
    /// The sinks, by name.
    pub sinks: Vec<String>,
}

/// The IMU-rate thread: start it, hand [`ImuRateOutput::samples`] to the
/// IMU's thread and [`ImuRateOutput::estimates`] to the back end's, and
/// [`ImuRateOutput::finish`] it after the run.
#[derive(Debug)]
pub struct ImuRateOutput {
    samples: Tap<ImuSample>,
    estimates: Tap<Estimate>,
    stop: Option<Sender<()>>,
    thread: Option<std::thread::JoinHandle<Result<ImuRateStats, PipelineError>>>,
}

impl ImuRateOutput {
    /// Starts the thread with `predictor` and `sinks`; `monotonic_stamps`
    /// says the samples are stamped on `CLOCK_MONOTONIC` (so latency can be
    /// measured).
    ///
    /// # Errors
    /// [`PipelineError::Spawn`] when the thread cannot start.
    pub fn start(
        predictor: ImuPredictor,
        sinks: Vec<Box<dyn PoseSink>>,
        monotonic_stamps: bool,
    ) -> Result<Self, PipelineError> {
        let (samples_tx, samples_rx) = bounded(SAMPLE_QUEUE);
        let (estimates_tx, estimates_rx) = bounded(ESTIMATE_QUEUE);
        let (stop_tx, stop_rx) = bounded::<()>(1);
        let samples = Tap {
            tx: samples_tx,
            dropped: Arc::default(),
        };
        let estimates = Tap {
            tx: estimates_tx,
            dropped: Arc::default(),
        };
        let thread = std::thread::Builder::new()
            .name("scout-imu-rate".into())
            .spawn(move || {
                imu_rate_thread(
                    predictor,
                    sinks,
                    &samples_rx,
                    &estimates_rx,
                    &stop_rx,
                    monotonic_stamps,
                )
            })
            .map_err(|e| PipelineError::Spawn {
                stage: "IMU-rate output",
                message: e.to_string(),
            })?;
        Ok(Self {
            samples,
            estimates,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    /// Where the IMU's samples go (see [`crate::live::LiveSource::tap_imu`]).
    #[must_use]
    pub fn samples(&self) -> Tap<ImuSample> {
        self.samples.clone()
    }

    /// Where the back end's estimates go (see [`crate::run::RunTaps`]).
    #[must_use]
    pub fn estimates(&self) -> Tap<Estimate> {
        self.estimates.clone()
    }

    /// Stops the thread (what is still queued is not waited for), finishes
    /// the sinks and returns the run's figures.
    ///
    /// # Errors
    /// A file sink's write or flush error, naming the file; a thread that
    /// panicked.
    pub fn finish(mut self) -> Result<ImuRateStats, PipelineError> {
        self.stop.take();
        let thread = self.thread.take();
        let mut stats = match thread.map(std::thread::JoinHandle::join) {
            Some(Ok(result)) => result?,
            Some(Err(payload)) => {
                return Err(PipelineError::Panicked {
                    stage: "IMU-rate output",
                    message: crate::run::panic_message(payload.as_ref()),
                });
            }
            None => ImuRateStats::default(),
        };
        stats.samples_dropped = self.samples.dropped.load(Ordering::Relaxed);
        stats.estimates_dropped = self.estimates.dropped.load(Ordering::Relaxed);
        Ok(stats)
    }
}

impl Drop for ImuRateOutput {
    fn drop(&mut self) {
        // Not finished: stop the thread all the same (its result is lost).
        self.stop.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn imu_rate_thread(
    mut predictor: ImuPredictor,
    mut sinks: Vec<Box<dyn PoseSink>>,
    samples: &Receiver<ImuSample>,
    estimates: &Receiver<Estimate>,
    stop: &Receiver<()>,
    monotonic_stamps: bool,
) -> Result<ImuRateStats, PipelineError> {
    let closed_samples = never();
    let closed_estimates = never();
    let (mut samples_open, mut estimates_open) = (true, true);
    let mut latency = LatencyHistogram::new();
    let mut stats = ImuRateStats {
        sinks: sinks.iter().map(|s| s.name()).collect(),
        ..ImuRateStats::default()
    };
    let mut span: Option<(i64, i64)> = None;
    let mut failed: Option<PipelineError> = None;
    while samples_open || estimates_open {
        // The newest estimate first.
        while let Ok(e) = estimates.try_recv() {
            predictor.set_estimate(&e);
        }
        let s_rx = if samples_open {
            samples
        } else {
            &closed_samples
        };
        let e_rx = if estimates_open {
            estimates
        } else {
            &closed_estimates
        };
        select! {
            recv(stop) -> _ => break,
            recv(e_rx) -> e => match e {
                Ok(e) => predictor.set_estimate(&e),
                Err(_) => estimates_open = false,
            },
            recv(s_rx) -> s => match s {
                Err(_) => samples_open = false,
                Ok(s) => {
                    let Some(pose) = predictor.push(s) else { continue };
                    for sink in &mut sinks {
                        if let Err(e) = sink.write(&pose) {
                            if sink.write_errors_are_fatal() {
                                failed.get_or_insert(PipelineError::Write {
                                    path: PathBuf::from(sink.name()),
                                    message: e.to_string(),
                                });
                            } else {
                                stats.send_errors += 1;
                            }
                        }
                    }
                    if failed.is_some() {
                        break;
                    }
                    if monotonic_stamps {
                        latency.add(sensors::clock::monotonic_now_ns() - pose.t_ns);
                    }
                    span = Some(span.map_or((pose.t_ns, pose.t_ns), |(a, _)| (a, pose.t_ns)));
                }
            },
        }
    }
    for sink in &mut sinks {
        if let Err(e) = sink.finish()
            && sink.write_errors_are_fatal()
        {
            failed.get_or_insert(PipelineError::Write {
                path: PathBuf::from(sink.name()),
                message: e.to_string(),
            });
        }
    }
    if let Some(e) = failed {
        return Err(e);
    }
    stats.predictor = predictor.counts();
    stats.latency_ms = monotonic_stamps.then(|| latency.summary());
    stats.rate_hz = match span {
        Some((a, b)) if b > a => (stats.predictor.poses - 1) as f64 / ((b - a) as f64 * 1e-9),
        _ => 0.0,
    };
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use nalgebra::{Isometry3, Translation3, UnitQuaternion, Vector3};
    use vio::backend::{TrackingMode, TrackingStatus};
    use vio::predict::PredictorSettings;
    use vio::preintegration::{ImuNoise, gravity_world};

    use super::*;

    /// A sink that keeps what it is given.
    struct Kept(Arc<std::sync::Mutex<Vec<PredictedPose>>>);

    impl PoseSink for Kept {
        fn name(&self) -> String {
            "kept".into()
        }
        fn write(&mut self, pose: &PredictedPose) -> std::io::Result<()> {
            self.0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(*pose);
            Ok(())
        }
        fn write_errors_are_fatal(&self) -> bool {
            true
        }
        fn finish(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// At rest, level: the IMU reads gravity.
    fn still(t_ns: i64) -> ImuSample {
        ImuSample {
            t_ns,
            gyro: Vector3::zeros(),
            accel: -gravity_world(),
        }
    }

    fn estimate_at(t_ns: i64, x: f64) -> Estimate {
        Estimate {
            t_ns,
            imu_t_ns: t_ns,
            time_offset_s: 0.0,
            status: TrackingStatus::Tracking,
            mode: TrackingMode::VisualInertial,
            world_from_body: Isometry3::from_parts(
                Translation3::new(x, 0.0, 1.0),
                UnitQuaternion::identity(),
            ),
            v_world: Vector3::zeros(),
            bias: datasets::ImuBias::default(),
            keyframe: false,
            tracked_landmarks: 30,
            session: 1,
            iterations: 2,
            time_ns: 0,
        }
    }

    fn predictor() -> ImuPredictor {
        let noise = ImuNoise {
            gyro_noise_density: 1.7e-4,
            accel_noise_density: 2.0e-3,
            gyro_random_walk: 1.9e-5,
            accel_random_walk: 3.0e-3,
        };
        ImuPredictor::new(noise, PredictorSettings::default())
            .unwrap_or_else(|e| panic!("valid: {e}"))
    }

    fn wait_for(kept: &Arc<std::sync::Mutex<Vec<PredictedPose>>>, n: usize) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while kept.lock().map(|k| k.len()).unwrap_or(0) < n && std::time::Instant::now() < deadline
        {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }

    #[test]
    fn each_sample_after_an_estimate_gives_a_pose_from_the_newest_estimate() {
        let kept = Arc::new(std::sync::Mutex::new(Vec::new()));
        let out = ImuRateOutput::start(predictor(), vec![Box::new(Kept(Arc::clone(&kept)))], false)
            .unwrap_or_else(|e| panic!("started: {e}"));
        let (samples, estimates) = (out.samples(), out.estimates());
        samples.offer(still(0));
        // Before any estimate: no pose.
        samples.offer(still(5_000_000));
        estimates.offer(estimate_at(5_000_000, 2.0));
        // Wait until the estimate is in before the next samples (the order a
        // live run has most of the time; either order gives poses).
        std::thread::sleep(std::time::Duration::from_millis(20));
        for k in 2..6 {
            samples.offer(still(k * 5_000_000));
        }
        wait_for(&kept, 4);
        estimates.offer(estimate_at(20_000_000, 3.0));
        std::thread::sleep(std::time::Duration::from_millis(20));
        samples.offer(still(30_000_000));
        wait_for(&kept, 5);
        let stats = out.finish().unwrap_or_else(|e| panic!("finished: {e}"));
        let poses = kept
            .lock()
            .unwrap_or_else(|e| panic!("not poisoned: {e}"))
            .clone();
        assert_eq!(poses.len(), 5);
        for p in &poses[..4] {
            // At rest: the estimate's position, to rounding.
            assert!(
                (p.world_from_body.translation.vector - Vector3::new(2.0, 0.0, 1.0)).norm() < 1e-9
            );
        }
        assert!((poses[4].world_from_body.translation.x - 3.0).abs() < 1e-9);
        assert_eq!(poses[4].since_estimate_ns, 10_000_000);
        assert_eq!(stats.predictor.poses, 5);
        assert_eq!(stats.predictor.without_estimate, 2);
        assert!(
            (stats.rate_hz - 4.0 / 0.02).abs() < 1e-6,
            "rate {}",
            stats.rate_hz
        );
        assert_eq!(stats.latency_ms, None);
    }

    #[test]
    fn a_full_queue_drops_and_counts_instead_of_blocking() {
        let (tx, rx) = bounded(2);
        let tap = Tap {
            tx,
            dropped: Arc::default(),
        };
        for k in 0..5 {
            tap.offer(still(k));
        }
        assert_eq!(rx.len(), 2);
        assert_eq!(tap.dropped.load(Ordering::Relaxed), 3);
        drop(rx);
        tap.offer(still(9));
        assert_eq!(
            tap.dropped.load(Ordering::Relaxed),
            3,
            "a closed queue is not a drop"
        );
    }

    #[test]
    fn the_file_and_udp_sinks_write_tum_lines() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
        let path = dir.path().join("poses.tum");
        let listener =
            std::net::UdpSocket::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("bound: {e}"));
        listener
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap_or_else(|e| panic!("timeout set: {e}"));
        let sinks: Vec<Box<dyn PoseSink>> = vec![
            Box::new(TumPoseFile::create(&path).unwrap_or_else(|e| panic!("created: {e}"))),
            Box::new(
                UdpPoseSink::connect(
                    listener
                        .local_addr()
                        .unwrap_or_else(|e| panic!("addr: {e}")),
                )
                .unwrap_or_else(|e| panic!("socket: {e}")),
            ),
        ];
        let out = ImuRateOutput::start(predictor(), sinks, true)
            .unwrap_or_else(|e| panic!("started: {e}"));
        let now = sensors::clock::monotonic_now_ns();
        out.samples().offer(still(now - 5_000_000));
        out.estimates().offer(estimate_at(now - 5_000_000, 1.0));
        std::thread::sleep(std::time::Duration::from_millis(20));
        out.samples().offer(still(now));
        let mut buf = [0u8; 512];
        let n = listener
            .recv(&mut buf)
            .unwrap_or_else(|e| panic!("a datagram: {e}"));
        let line = std::str::from_utf8(&buf[..n]).unwrap_or_else(|e| panic!("text: {e}"));
        let fields: Vec<f64> = line
            .split_whitespace()
            .map(|f| f.parse().unwrap_or_else(|e| panic!("a number: {e}")))
            .collect();
        assert_eq!(fields.len(), 15, "{line}");
        assert!((fields[0] - now as f64 * 1e-9).abs() < 1e-6);
        assert_eq!(&fields[1..8], &[1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]);
        assert!((fields[14] - 0.005).abs() < 1e-9);
        let stats = out.finish().unwrap_or_else(|e| panic!("finished: {e}"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("written: {e}"));
        assert_eq!(text.lines().count(), 1);
        assert_eq!(text.split_whitespace().count(), 8);
        let latency = stats
            .latency_ms
            .unwrap_or_else(|| panic!("monotonic stamps"));
        assert!(
            latency.max > 0.0 && latency.p50 <= latency.max,
            "{latency:?}"
        );
        assert_eq!(stats.sinks.len(), 2);
    }

    #[test]
    fn latency_quantiles_come_from_bounded_bins() {
        let mut h = LatencyHistogram::new();
        for ns in 1..=100 {
            h.add(ns * 100_000);
        }
        h.add(5_000_000_000);
        let s = h.summary();
        assert!((s.p50 - 5.1).abs() < 0.011, "{s:?}");
        assert!((s.p99 - 10.0).abs() < 0.011, "{s:?}");
        assert!((s.max - 5000.0).abs() < 1e-9);
        assert_eq!(h.bins.len(), BINS);
    }
}
