//! Live sources: a stereo camera and an IMU that run on their own clocks,
//! as one [`Source`] that never lets latency pile up.
//!
//! ```text
//! camera thread   StereoCamera::next_pair -> the latest-pair slot
//!                 (a pair still there is replaced: dropped, counted)
//! IMU thread      Imu::read_into -> the sample queue (bounded: the oldest
//!                 beyond it dropped, counted)
//! LiveSource::next_into (the pipeline's source thread)
//!                 waits for a pair, then for the IMU to reach its time
//!                 (at most `imu_wait_s`), takes the samples queued up to
//!                 the first at or after it plus `RECORDED_IMU_LAG_S` (as a
//!                 recording does; those that came while the pipeline was
//!                 busy), and swaps the pair's buffers into the slot
//! ```
//!
//! The pair waiting for the front end is always the newest the camera has
//! given: with [`crate::PipelineMode::Live`]'s queues (the front end's of
//! length 1-2), a slow frame costs the frames that came meanwhile, never the
//! latency of the ones after it. Nothing is allocated per pair once the two
//! buffers have cycled. A camera or IMU that stops or fails ends the stream
//! with an error naming it; [`LiveSource::stopper`] ends it cleanly (Ctrl-C).
//!
//! [`PacedReplay`] is the same sensors made from a recording (an EuRoC
//! folder, a synthetic sequence: any [`Source`], read up front): each pair
//! and sample released at its recorded time after the start and stamped on
//! `CLOCK_MONOTONIC`, so a live run, its queues and its latency are tested
//! here without a device.
//!
//! Times are ns on `CLOCK_MONOTONIC` throughout.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use datasets::model::RigCalibration;
use datasets::{GrayImage, ImuSample, StereoFrame};
use sensors::clock::monotonic_now_ns;
use sensors::{Imu, StereoCamera};

use crate::PipelineError;
use crate::imu_rate::Tap;
use crate::source::{FrameInput, Source};

/// How a live source waits and what it keeps.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LiveSettings {
    /// With no pair for this long, the camera has failed, s.
    pub camera_timeout_s: f64,
    /// How long a pair waits for the IMU to reach its time, s; after it the
    /// pair goes on with the samples there are (the back end's gap handling
    /// takes over).
    pub imu_wait_s: f64,
    /// IMU samples kept waiting for a pair at most (the oldest beyond it
    /// dropped, counted).
    pub imu_queue: usize,
    /// Samples before the first pair's time handed with it, s (a still
    /// initialization needs some; `[pipeline] imu_lead_s`).
    pub imu_lead_s: f64,
    /// Added to the camera's stamps to put them on the IMU's clock, ns
    /// (Kalibr's `timeshift_cam_imu`: `t_imu = t_cam + shift`).
    pub camera_time_shift_ns: i64,
}

impl Default for LiveSettings {
    fn default() -> Self {
        Self {
            camera_timeout_s: 2.0,
            imu_wait_s: 0.05,
            imu_queue: 4096,
            imu_lead_s: crate::StreamConfig::default().imu_lead_s,
            camera_time_shift_ns: 0,
        }
    }
}

impl LiveSettings {
    /// Checks the values.
    ///
    /// # Errors
    /// If a wait is not positive and finite, or the queue is empty or over a
    /// million samples.
    pub fn validate(&self) -> Result<(), PipelineError> {
        let ok = |v: f64| v.is_finite() && v > 0.0 && v <= 60.0;
        if !ok(self.camera_timeout_s) || !ok(self.imu_wait_s) || !ok(self.imu_lead_s) {
            return Err(PipelineError::Config(format!(
                "[live] camera_timeout_s, imu_wait_s and imu_lead_s must be in (0, 60] s, got {}, \
                 {} and {}",
                self.camera_timeout_s, self.imu_wait_s, self.imu_lead_s
            )));
        }
        if self.camera_time_shift_ns.unsigned_abs() > 1_000_000_000 {
            return Err(PipelineError::Config(format!(
                "the camera's time shift must be within 1 s, got {} ns",
                self.camera_time_shift_ns
            )));
        }
        if !(1..=1_000_000).contains(&self.imu_queue) {
            return Err(PipelineError::Config(format!(
                "[live] imu_queue must be 1 to 1000000 samples, got {}",
                self.imu_queue
            )));
        }
        Ok(())
    }
}

/// What a live source captured and dropped.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct LiveCounts {
    /// Pairs the camera gave.
    pub pairs_captured: u64,
    /// Pairs replaced by a newer one before the pipeline took them.
    pub pairs_dropped: u64,
    /// Frames the camera itself lost (driver sequence gaps, unpaired eyes).
    pub camera_lost: u64,
    /// IMU samples dropped from a full queue.
    pub imu_dropped: u64,
    /// Pairs that went on before the IMU reached their time.
    pub imu_late: u64,
    /// Frames the camera handed over that did not decode (skipped).
    pub bad_frames: u64,
}

/// Why a sensor's thread ended.
#[derive(Debug, Clone, PartialEq, Eq)]
enum SensorEnd {
    /// The recording it replays has ended.
    Finished,
    /// It failed (or its thread panicked); the message names the device.
    Failed(String),
}

/// Times of skipped pairs kept for the next delivered one at most (a minute
/// at 20 Hz).
const MAX_SKIPPED_KEPT: usize = 1200;

/// Frames in a row that may fail to decode before the camera counts as
/// failed (about a second at 20 Hz): a USB camera on a busy bus hands over a
/// corrupt frame now and then, which costs that frame, not the run.
const MAX_BAD_FRAMES_IN_A_ROW: u32 = 25;

/// Marks its sensor's thread as ended when the thread unwinds from a panic,
/// so that the stream ends with an error naming it rather than waiting.
struct EndOnPanic<'a> {
    shared: &'a Shared,
    camera: bool,
}

impl Drop for EndOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let why = Some(SensorEnd::Failed("its thread panicked".into()));
            let mut state = self.shared.lock();
            if self.camera {
                state.camera_ended = why;
            } else {
                state.imu_ended = why;
            }
            drop(state);
            self.shared.changed.notify_all();
        }
    }
}

#[derive(Debug, Default)]
struct State {
    latest: Option<StereoFrame>,
    spare: Option<StereoFrame>,
    imu: VecDeque<ImuSample>,
    /// Times of the pairs replaced in the slot since the last delivery.
    skipped: Vec<i64>,
    counts: LiveCounts,
    camera_ended: Option<SensorEnd>,
    imu_ended: Option<SensorEnd>,
    delivered_first: bool,
}

#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
    changed: Condvar,
    stop: AtomicBool,
    /// Where each IMU sample also goes as soon as it is read (the IMU-rate
    /// poses), if anywhere.
    imu_tap: Mutex<Option<Tap<ImuSample>>>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A thread that panicked holding the lock left consistent data (every
        // update is a whole assignment), so the poison is ignored.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A stereo camera and an IMU, each on its own thread, as a [`Source`].
pub struct LiveSource {
    name: String,
    rig: RigCalibration,
    settings: LiveSettings,
    shared: Arc<Shared>,
    next_index: usize,
    /// The IMU sample the last pair's batch ended at.
    last_imu_t: Option<i64>,
    /// The camera's and the IMU's threads, joined on drop (so their
    /// devices close: an IIO buffer is disabled, a V4L2 stream stopped).
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for LiveSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveSource")
            .field("name", &self.name)
            .field("next_index", &self.next_index)
            .finish_non_exhaustive()
    }
}

impl LiveSource {
    /// Starts the camera's and the IMU's threads.
    ///
    /// # Errors
    /// If the settings are out of range or a thread cannot start.
    pub fn start(
        camera: Box<dyn StereoCamera>,
        imu: Box<dyn Imu>,
        rig: RigCalibration,
        settings: LiveSettings,
    ) -> Result<Self, PipelineError> {
        settings.validate()?;
        let name = format!("live: camera {}, IMU {}", camera.name(), imu.name());
        let shared = Arc::new(Shared::default());
        let spawn = |what: &str| std::thread::Builder::new().name(format!("scout-{what}"));
        let s = Arc::clone(&shared);
        let shift = settings.camera_time_shift_ns;
        let camera_thread = spawn("camera")
            .spawn(move || camera_loop(camera, &s, shift))
            .map_err(|e| PipelineError::Config(format!("starting the camera thread: {e}")))?;
        let s = Arc::clone(&shared);
        let queue = settings.imu_queue;
        let imu_thread = spawn("imu")
            .spawn(move || imu_loop(imu, &s, queue))
            .map_err(|e| PipelineError::Config(format!("starting the IMU thread: {e}")))?;
        Ok(Self {
            name,
            rig,
            settings,
            shared,
            next_index: 0,
            last_imu_t: None,
            threads: vec![camera_thread, imu_thread],
        })
    }

    /// A flag that ends the stream cleanly when set (the next pair is not
    /// waited for): hand it to a Ctrl-C handler.
    #[must_use]
    pub fn stopper(&self) -> LiveStopper {
        LiveStopper(Arc::clone(&self.shared))
    }

    /// What this source adds to the camera's stamps to put them on the
    /// IMU's clock, ns ([`LiveSettings::camera_time_shift_ns`]).
    #[must_use]
    pub fn camera_time_shift_ns(&self) -> i64 {
        self.settings.camera_time_shift_ns
    }

    /// Hands every IMU sample from now on to `tap` as soon as it is read,
    /// before any pair waits for it ([`crate::imu_rate`]: poses at the IMU's
    /// rate). The IMU's thread never waits for it: a full tap drops.
    pub fn tap_imu(&self, tap: Tap<ImuSample>) {
        *self
            .shared
            .imu_tap
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(tap);
    }

    /// What was dropped so far.
    pub fn counts(&self) -> LiveCounts {
        self.shared.lock().counts.clone()
    }

    fn error(&self, message: String) -> PipelineError {
        PipelineError::Source {
            source_name: self.name.clone(),
            message,
        }
    }
}

/// Ends a [`LiveSource`]'s stream from another thread.
#[derive(Debug, Clone)]
pub struct LiveStopper(Arc<Shared>);

impl LiveStopper {
    /// Ends the stream: the source returns no more pairs.
    pub fn stop(&self) {
        self.0.stop.store(true, Ordering::SeqCst);
        self.0.changed.notify_all();
    }
}

/// How long dropping a [`LiveSource`] waits for its threads to stop.
const STOP_WAIT: Duration = Duration::from_secs(1);

impl Drop for LiveSource {
    fn drop(&mut self) {
        // The threads stop at their next pair or sample and close their
        // devices; a device read blocked for good is left to the process's
        // exit, said.
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.changed.notify_all();
        let deadline = Instant::now() + STOP_WAIT;
        while self.threads.iter().any(|t| !t.is_finished()) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        for thread in self.threads.drain(..) {
            if thread.is_finished() {
                let _ = thread.join();
            } else {
                tracing::warn!(
                    "{}: a sensor's thread did not stop within {} s; its device closes when \
                     the process ends",
                    self.name,
                    STOP_WAIT.as_secs_f64()
                );
            }
        }
    }
}

fn camera_loop(mut camera: Box<dyn StereoCamera>, shared: &Shared, shift_ns: i64) {
    let _guard = EndOnPanic {
        shared,
        camera: true,
    };
    let mut frame = empty_frame();
    let mut bad_in_a_row = 0u32;
    while !shared.stop.load(Ordering::SeqCst) {
        let end = match camera.next_pair(&mut frame.left, &mut frame.right) {
            Ok(Some(t_ns)) => {
                bad_in_a_row = 0;
                frame.t_ns = t_ns.saturating_add(shift_ns);
                let lost = camera.lost();
                let mut state = shared.lock();
                state.counts.pairs_captured += 1;
                state.counts.camera_lost = lost;
                let old = state.latest.replace(frame);
                if let Some(old) = &old {
                    state.counts.pairs_dropped += 1;
                    // Bounded: beyond it the health checks see a gap, which
                    // a minute of skipping is.
                    if state.skipped.len() < MAX_SKIPPED_KEPT {
                        state.skipped.push(old.t_ns);
                    }
                }
                frame = old
                    .or_else(|| state.spare.take())
                    .unwrap_or_else(empty_frame);
                drop(state);
                shared.changed.notify_all();
                continue;
            }
            Ok(None) => SensorEnd::Finished,
            Err(sensors::SensorError::Frame(why)) if bad_in_a_row < MAX_BAD_FRAMES_IN_A_ROW => {
                bad_in_a_row += 1;
                shared.lock().counts.bad_frames += 1;
                tracing::warn!("a frame skipped: {why}");
                continue;
            }
            Err(e) => SensorEnd::Failed(e.to_string()),
        };
        shared.lock().camera_ended = Some(end);
        shared.changed.notify_all();
        return;
    }
}

fn empty_frame() -> StereoFrame {
    StereoFrame {
        t_ns: 0,
        left: GrayImage::new(0, 0),
        right: GrayImage::new(0, 0),
    }
}

fn imu_loop(mut imu: Box<dyn Imu>, shared: &Shared, queue: usize) {
    let _guard = EndOnPanic {
        shared,
        camera: false,
    };
    let mut batch = Vec::with_capacity(256);
    while !shared.stop.load(Ordering::SeqCst) {
        batch.clear();
        let ended = match imu.read_into(&mut batch) {
            Ok(0) => Some(SensorEnd::Finished),
            Ok(_) => None,
            Err(e) => Some(SensorEnd::Failed(e.to_string())),
        };
        if let Some(tap) = shared
            .imu_tap
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
        {
            for s in &batch {
                tap.offer(*s);
            }
        }
        let mut state = shared.lock();
        for s in batch.drain(..) {
            if state.imu.len() == queue {
                state.imu.pop_front();
                state.counts.imu_dropped += 1;
            }
            state.imu.push_back(s);
        }
        let done = ended.is_some();
        if done {
            state.imu_ended = ended;
        }
        drop(state);
        shared.changed.notify_all();
        if done {
            return;
        }
    }
}

impl Source for LiveSource {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn rig(&self) -> &RigCalibration {
        &self.rig
    }

    fn len_hint(&self) -> Option<usize> {
        None
    }

    fn next_into(&mut self, input: &mut FrameInput) -> Result<bool, PipelineError> {
        let shared = Arc::clone(&self.shared);
        let timeout = Duration::from_secs_f64(self.settings.camera_timeout_s);
        let mut state = shared.lock();
        // The latest pair.
        let deadline = std::time::Instant::now() + timeout;
        let mut frame = loop {
            if shared.stop.load(Ordering::SeqCst) {
                return Ok(false);
            }
            if let Some(frame) = state.latest.take() {
                break frame;
            }
            match &state.camera_ended {
                Some(SensorEnd::Finished) => return Ok(false),
                Some(SensorEnd::Failed(why)) => {
                    return Err(self.error(format!("the camera stopped: {why}")));
                }
                None => {}
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Err(self.error(format!(
                    "no stereo pair for {:.1} s ([live] camera_timeout_s)",
                    self.settings.camera_timeout_s
                )));
            }
            state = shared
                .changed
                .wait_timeout(state, left)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        };
        let t = frame.t_ns;
        // The IMU up to the pair's time.
        let imu_deadline =
            std::time::Instant::now() + Duration::from_secs_f64(self.settings.imu_wait_s);
        while state.imu.back().is_none_or(|s| s.t_ns < t)
            && state.imu_ended.is_none()
            && !shared.stop.load(Ordering::SeqCst)
        {
            let left = imu_deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                state.counts.imu_late += 1;
                break;
            }
            state = shared
                .changed
                .wait_timeout(state, left)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
        if state.imu.is_empty() {
            match &state.imu_ended {
                // A recording whose IMU ends before its last pair ends there.
                Some(SensorEnd::Finished) => return Ok(false),
                Some(SensorEnd::Failed(why)) => {
                    return Err(self.error(format!("the IMU stopped: {why}")));
                }
                None => {}
            }
        }
        // An IMU that has gone quiet (a read blocked for good) is a failure,
        // not a stream of pairs without motion.
        let newest = state.imu.back().map(|s| s.t_ns).or(self.last_imu_t);
        let quiet_ns = (self.settings.camera_timeout_s * 1e9) as i64;
        if newest.is_some_and(|n| n < t - quiet_ns) || (newest.is_none() && self.next_index > 0) {
            return Err(self.error(format!(
                "the IMU gave no sample within {:.1} s of the pair at t = {t} ns \
                 ([live.stream] camera_timeout_s)",
                self.settings.camera_timeout_s
            )));
        }
        input.imu.clear();
        input.faults.clear();
        if !state.delivered_first {
            // The first pair: the lead before it, older samples dropped.
            let lead = (self.settings.imu_lead_s * 1e9) as i64;
            while state.imu.front().is_some_and(|s| s.t_ns < t - lead) {
                state.imu.pop_front();
            }
            state.delivered_first = true;
        }
        // Every sample there is up to the first at or after the pair's time
        // plus the recordings' lag: a state that stands after the camera's
        // stamp (an IMU that lags, `t + td`) is integrated on the samples
        // that have come by now rather than the last one held, without
        // waiting for more.
        let until = t.saturating_add((crate::source::RECORDED_IMU_LAG_S * 1e9) as i64);
        while let Some(s) = state.imu.pop_front() {
            // Samples older than the last batch's end (out of order) are not
            // delivered twice.
            if self.last_imu_t.is_some_and(|last| s.t_ns <= last) {
                continue;
            }
            input.imu.push(s);
            self.last_imu_t = Some(s.t_ns);
            if s.t_ns >= until {
                break;
            }
        }
        // Pairs skipped before this one go with it; those the camera gave
        // while it waited for its IMU (later) wait for the next.
        input.skipped_t_ns.clear();
        input
            .skipped_t_ns
            .extend(state.skipped.iter().copied().filter(|&s| s < t));
        state.skipped.retain(|&s| s >= t);
        // The pair's buffers into the slot, the slot's back as the spare.
        std::mem::swap(&mut input.frame, &mut frame);
        state.spare = Some(frame);
        drop(state);
        input.index = self.next_index;
        self.next_index += 1;
        Ok(true)
    }
}

/// A recording replayed as live sensors: see the module docs.
#[derive(Debug)]
pub struct PacedReplay {
    frames: Vec<StereoFrame>,
    imu: Vec<ImuSample>,
    rig: RigCalibration,
    name: String,
}

impl PacedReplay {
    /// Reads up to `max_pairs` pairs of `source` and their IMU samples into
    /// memory (a replay must not wait on a disk).
    ///
    /// # Errors
    /// If the source fails, or gives no pair.
    pub fn record(source: &mut dyn Source, max_pairs: usize) -> Result<Self, PipelineError> {
        let mut frames = Vec::new();
        let mut imu = Vec::new();
        let mut input = FrameInput::empty();
        while frames.len() < max_pairs && source.next_into(&mut input)? {
            imu.extend_from_slice(&input.imu);
            frames.push(input.frame.clone());
        }
        if frames.is_empty() {
            return Err(PipelineError::Source {
                source_name: source.name(),
                message: "has no stereo pair to replay".into(),
            });
        }
        Ok(Self {
            frames,
            imu,
            rig: source.rig().clone(),
            name: source.name(),
        })
    }

    /// The recording's calibration.
    #[must_use]
    pub fn rig(&self) -> &RigCalibration {
        &self.rig
    }

    /// Pairs recorded.
    #[must_use]
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// Whether no pair was recorded (never: [`PacedReplay::record`] refuses).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// A camera and an IMU that release the recording from now on, with
    /// times shifted onto `CLOCK_MONOTONIC`.
    #[must_use]
    pub fn start(self) -> (PacedCamera, PacedImu) {
        let first = self
            .imu
            .first()
            .map_or(self.frames[0].t_ns, |s| s.t_ns.min(self.frames[0].t_ns));
        let shift = monotonic_now_ns() - first;
        let name = self.name;
        (
            PacedCamera {
                frames: self.frames,
                next: 0,
                shift,
                name: name.clone(),
            },
            PacedImu {
                imu: self.imu,
                next: 0,
                shift,
                name,
            },
        )
    }
}

/// `src` into `dst`, reusing `dst`'s buffer.
fn copy_image(src: &GrayImage, dst: &mut GrayImage) {
    let mut data = std::mem::take(dst).into_vec();
    data.clear();
    data.extend_from_slice(src.data());
    *dst = GrayImage::from_vec(src.width(), src.height(), data)
        .unwrap_or_else(|| GrayImage::new(0, 0));
}

/// Sleeps until `t_ns` on `CLOCK_MONOTONIC`.
fn sleep_until(t_ns: i64) {
    let wait = t_ns - monotonic_now_ns();
    if wait > 0 {
        std::thread::sleep(Duration::from_nanos(wait.unsigned_abs()));
    }
}

/// The camera of a [`PacedReplay`].
#[derive(Debug)]
pub struct PacedCamera {
    frames: Vec<StereoFrame>,
    next: usize,
    shift: i64,
    name: String,
}

impl PacedCamera {
    /// What was added to the recording's times to put them on
    /// `CLOCK_MONOTONIC`, ns (to score the run against the recording's
    /// ground truth).
    #[must_use]
    pub fn shift_ns(&self) -> i64 {
        self.shift
    }
}

impl StereoCamera for PacedCamera {
    fn name(&self) -> String {
        format!("paced replay of {}", self.name)
    }

    fn next_pair(
        &mut self,
        left: &mut GrayImage,
        right: &mut GrayImage,
    ) -> sensors::Result<Option<i64>> {
        let Some(frame) = self.frames.get(self.next) else {
            return Ok(None);
        };
        self.next += 1;
        let t = frame.t_ns + self.shift;
        sleep_until(t);
        copy_image(&frame.left, left);
        copy_image(&frame.right, right);
        Ok(Some(t))
    }

    fn lost(&self) -> u64 {
        0
    }
}

/// The IMU of a [`PacedReplay`].
#[derive(Debug)]
pub struct PacedImu {
    imu: Vec<ImuSample>,
    next: usize,
    shift: i64,
    name: String,
}

impl Imu for PacedImu {
    fn name(&self) -> String {
        format!("paced replay of {}", self.name)
    }

    fn read_into(&mut self, out: &mut Vec<ImuSample>) -> sensors::Result<usize> {
        let Some(first) = self.imu.get(self.next) else {
            return Ok(0);
        };
        sleep_until(first.t_ns + self.shift);
        let now = monotonic_now_ns();
        let before = out.len();
        while let Some(s) = self.imu.get(self.next)
            && s.t_ns + self.shift <= now
        {
            out.push(ImuSample {
                t_ns: s.t_ns + self.shift,
                ..*s
            });
            self.next += 1;
        }
        Ok(out.len() - before)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sensors that give small frames and samples on time and say when
    /// they are dropped (their devices closed).
    struct Closing(Arc<AtomicBool>);

    impl Drop for Closing {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    /// Held for its drop, the device closing.
    struct Camera(#[allow(dead_code, reason = "held for its drop")] Closing);

    impl StereoCamera for Camera {
        fn name(&self) -> String {
            "test camera".into()
        }

        fn next_pair(
            &mut self,
            left: &mut GrayImage,
            right: &mut GrayImage,
        ) -> sensors::Result<Option<i64>> {
            std::thread::sleep(Duration::from_millis(10));
            *left = GrayImage::new(8, 8);
            *right = GrayImage::new(8, 8);
            Ok(Some(monotonic_now_ns()))
        }

        fn lost(&self) -> u64 {
            0
        }
    }

    /// Held for its drop, the device closing.
    struct Gyro(#[allow(dead_code, reason = "held for its drop")] Closing);

    impl Imu for Gyro {
        fn name(&self) -> String {
            "test IMU".into()
        }

        fn read_into(&mut self, out: &mut Vec<ImuSample>) -> sensors::Result<usize> {
            std::thread::sleep(Duration::from_millis(2));
            out.push(ImuSample {
                t_ns: monotonic_now_ns(),
                gyro: nalgebra::Vector3::zeros(),
                accel: nalgebra::Vector3::new(0.0, 0.0, 9.81),
            });
            Ok(1)
        }
    }

    /// Dropping the source stops its threads and closes both devices.
    #[test]
    fn dropping_the_source_closes_its_devices() {
        let camera_closed = Arc::new(AtomicBool::new(false));
        let imu_closed = Arc::new(AtomicBool::new(false));
        let rig = RigCalibration {
            cam0: datasets::CameraCalibration::euroc_cam0(),
            cam1: datasets::CameraCalibration::euroc_cam1(),
            imu: datasets::ImuCalibration::euroc_adis16448(),
        };
        let mut source = LiveSource::start(
            Box::new(Camera(Closing(Arc::clone(&camera_closed)))),
            Box::new(Gyro(Closing(Arc::clone(&imu_closed)))),
            rig,
            LiveSettings::default(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let mut input = FrameInput::empty();
        assert!(
            source
                .next_into(&mut input)
                .unwrap_or_else(|e| panic!("{e}"))
        );
        assert!(!camera_closed.load(Ordering::SeqCst));
        drop(source);
        assert!(camera_closed.load(Ordering::SeqCst), "the camera is open");
        assert!(imu_closed.load(Ordering::SeqCst), "the IMU is open");
    }
}
