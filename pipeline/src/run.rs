//! The runners: the same stages called in order on one thread
//! ([`run_sequential`]) or each on its own thread joined by bounded channels
//! ([`run_pipeline`]).
//!
//! ```text
//! source thread     next pair and its IMU samples into a pooled slot
//!    |  frames: bounded(frame_queue)
//! front-end thread  FrontEndStage::step, tracks into the slot
//!    |  tracks: bounded(tracks_queue)
//! back-end thread   BackEndStage::step -> a record per frame to the sinks;
//!    |              a keyframe to map: its slot (the same decoded pair) on,
//!    |              any other slot back to the pool
//!    |  keyframes: bounded(map_queue)
//! mapper thread     MapperStage::step -> a map record to the sinks; slot back
//!    |  events: bounded(16)
//! calling thread    the sinks (`on_event`), collects the run
//! ```
//!
//! **One pool of slots.** A slot holds a pair's images, its IMU samples, its
//! tracks and its pose, and travels by ownership from the source to the last
//! stage that needs it, which hands it back through the pool channel: the
//! decoded pair the front end tracked is the pair the mapper matches, with no
//! copy and no second decode. `frame_queue + tracks_queue + map_queue + 4`
//! slots (one per stage besides the queues), so the source never waits for
//! one while a queue has room; their images grow on first use and are reused,
//! so nothing is allocated per frame once the pool has cycled (the PNG
//! decoder's own state is the reader's).
//!
//! **Deterministic mode** ([`PipelineMode::Deterministic`]): every send
//! blocks (backpressure; nothing is ever unbounded) and every frame and
//! keyframe is processed; the output is bit-identical to [`run_sequential`]'s.
//! **Real time** ([`PipelineMode::RealTime`]): the source releases pair `i`
//! at `(t_i - t_0) / speed` after the start by the wall clock; a pair that
//! finds the front end's queue full is dropped (the newest, so latency stays
//! bounded) and its IMU samples ride with the next pair; a keyframe that finds
//! the mapper's queue full is not mapped (counted), so the map never holds the
//! odometry back.
//! **Live** ([`PipelineMode::Live`]): the source is live sensors
//! (`crate::live`), which deliver a pair when the camera has one and, while
//! the front end is busy, keep only the latest; the source thread takes a
//! pair only when the front end's queue has room, so no queue holds a stale
//! pair (the source's own drops are counted there); keyframes the mapper has
//! no room for are not mapped, and latencies count from the camera's time
//! stamp.
//!
//! **Errors.** A stage that fails returns its error and drops its channel
//! ends; the stages upstream see a closed channel and stop, those downstream
//! finish what they hold, every thread is joined, and the error of the
//! earliest frame is returned (mapper, then back end, front end, source: a
//! stage only sees frames the ones before it finished). A panic becomes
//! [`PipelineError::Panicked`] naming the stage.

use std::any::Any;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TrySendError, bounded};
use datasets::model::RigCalibration;
use nalgebra::Isometry3;
use vio::backend::Estimate;
use vio::frontend::FrameTracks;

use crate::PipelineError;
use crate::config::PipelineConfig;
use crate::imu_rate::Tap;
use crate::record::{
    MapRecord, PipelineMode, PipelineRecord, PipelineRun, RecordTiming, StreamEvent, copy_tracks,
};
use crate::source::{FrameInput, Screened, Source};
use crate::stages::{BackEndStage, FrontEndStage, MapperStage, elapsed_ns};

/// How often a live source thread looks for room in the front end's queue
/// (a fraction of a millisecond against a 50 ms frame period).
const LIVE_ROOM_POLL: Duration = Duration::from_micros(200);

/// Events waiting for the calling thread; it only hands them to the sinks
/// and stores them.
const OUTPUT_QUEUE: usize = 16;

/// Runs the stages in a plain loop on the calling thread: for each pair, the
/// front end, the back end and, for a keyframe to map, the mapper.
/// `on_event` sees each record as it is made.
///
/// # Errors
/// As [`run_pipeline`].
pub fn run_sequential<S: Source>(
    source: &mut S,
    config: &PipelineConfig,
    mut on_event: impl FnMut(StreamEvent<'_>),
) -> Result<PipelineRun, PipelineError> {
    config.validate()?;
    let source = &mut Screened::new(source, &config.health)?;
    let start = Instant::now();
    let rig = source.rig().clone();
    let views = config.pipeline.views;
    let mut frontend = FrontEndStage::new(&config.frontend, &config.health, &rig, &config.backend)?;
    let mut backend = BackEndStage::new(
        &config.backend,
        &config.health,
        &rig,
        views,
        config.pipeline.view_images_every,
    )?;
    let mut mapper = new_mapper(config, &rig)?;
    let mut input = FrameInput::empty();
    let mut run = empty_run(PipelineMode::Deterministic, source.len_hint());
    let mut skipped = 0;
    while source.next_into(&mut input)? {
        run.pairs += 1;
        let available = Instant::now();
        let (tracks, frontend_ns) = frontend.step(&mut input)?;
        let Some((estimate, backend_ns)) = backend.step(&input.imu, Some(tracks))? else {
            continue;
        };
        let estimated = Instant::now();
        let timing = RecordTiming {
            frontend_ns,
            backend_ns,
            latency_ns: elapsed_ns(available),
        };
        let view = backend.view(input.index, tracks, &input.frame);
        let faults = std::mem::take(&mut input.faults);
        let mut record = PipelineRecord::new(input.index, tracks, estimate, faults, timing, view);
        on_event(StreamEvent::Frame(&record));
        record.view = None;
        let maps = backend.maps(&record.estimate);
        skipped += usize::from(backend.keyframe_of_later_session(&record.estimate));
        let pose = record.estimate.world_from_body;
        if config.pipeline.keep_records {
            run.records.push(record);
        }
        if let (Some(m), true) = (mapper.as_mut(), maps) {
            let mut map_record = m.step(input.index, &input.frame, &pose)?;
            map_record.keyframe_to_map_ns = elapsed_ns(estimated);
            map_record.camera_to_map_ns = elapsed_ns(available);
            on_event(StreamEvent::Keyframe(&map_record));
            map_record.snapshot = None;
            if config.pipeline.keep_records {
                run.map_records.push(map_record);
            }
        }
    }
    run.imu_samples = backend.imu_samples;
    run.time_offset_s = backend.time_offset_s() + frontend.imu_shift_s();
    run.wall_ns = elapsed_ns(start);
    run.frontend_cost = frontend.cost;
    run.backend_cost = backend.cost;
    run.mapper = mapper.map(|mut m| {
        m.mapper.count_unmapped(skipped, 0);
        m.mapper
    });
    Ok(run)
}

/// A pair, its IMU samples, its tracks and its pose on their way down the
/// stream; the buffers come back through the pool.
#[derive(Debug)]
struct Slot {
    input: FrameInput,
    /// False for the IMU-only message that ends a real-time run whose last
    /// pair was dropped.
    has_frame: bool,
    tracks: FrameTracks,
    frontend_ns: u64,
    /// When the source made the pair available.
    available: Instant,
    /// When the back end estimated the frame.
    estimated: Instant,
    world_from_body: Isometry3<f64>,
}

impl Slot {
    fn new() -> Self {
        let now = Instant::now();
        Self {
            input: FrameInput::empty(),
            has_frame: false,
            tracks: FrameTracks::default(),
            frontend_ns: 0,
            available: now,
            estimated: now,
            world_from_body: Isometry3::identity(),
        }
    }
}

/// What the back end and the mapper send to the calling thread.
#[derive(Debug)]
enum Output {
    Frame(PipelineRecord),
    Keyframe(MapRecord),
}

/// Runs the stages on their threads joined by bounded channels (see the
/// module docs). `on_event` runs on the calling thread, once per processed
/// frame and mapped keyframe, in stream order.
///
/// # Errors
/// [`PipelineError::Config`] for a bad `[pipeline]` or `[map]` section or
/// speed, [`PipelineError::Setup`] / [`PipelineError::MapSetup`] when a stage
/// refuses its configuration or the calibration, and the first error (by
/// frame) any stage met: a pair that cannot be read (naming the file and
/// line), a frame, sample or keyframe a stage refuses, a thread that
/// panicked.
pub fn run_pipeline<S: Source>(
    source: &mut S,
    config: &PipelineConfig,
    mode: PipelineMode,
    on_event: impl FnMut(StreamEvent<'_>),
) -> Result<PipelineRun, PipelineError> {
    run_pipeline_tapped(source, config, mode, &RunTaps::default(), on_event)
}

/// Copies of the stream for observers that cannot wait for the calling
/// thread's sinks: handed over by the stage's own thread as soon as it has
/// them, never waited for (a full tap drops, counted).
#[derive(Debug, Clone, Default)]
pub struct RunTaps {
    /// Every estimate of the back end ([`crate::imu_rate`]: the base of the
    /// IMU-rate poses).
    pub estimates: Option<Tap<Estimate>>,
}

/// [`run_pipeline`] with `taps` fed from the stages' threads.
///
/// # Errors
/// As [`run_pipeline`].
pub fn run_pipeline_tapped<S: Source>(
    source: &mut S,
    config: &PipelineConfig,
    mode: PipelineMode,
    taps: &RunTaps,
    mut on_event: impl FnMut(StreamEvent<'_>),
) -> Result<PipelineRun, PipelineError> {
    config.validate()?;
    if let PipelineMode::RealTime { speed } = mode
        && !(speed.is_finite() && speed > 0.0)
    {
        return Err(PipelineError::Config(format!(
            "the real-time speed must be finite and positive, got {speed}"
        )));
    }
    let source = &mut Screened::new(source, &config.health)?;
    let start = Instant::now();
    let rig = source.rig().clone();
    let frontend = FrontEndStage::new(&config.frontend, &config.health, &rig, &config.backend)?;
    let backend = BackEndStage::new(
        &config.backend,
        &config.health,
        &rig,
        config.pipeline.views,
        config.pipeline.view_images_every,
    )?;
    let mapper = new_mapper(config, &rig)?;

    let p = &config.pipeline;
    let slots = p.frame_queue + p.tracks_queue + p.map_queue + 4;
    let (pool_tx, pool_rx) = bounded::<Slot>(slots);
    let (frames_tx, frames_rx) = bounded::<Slot>(p.frame_queue);
    let (tracks_tx, tracks_rx) = bounded::<Slot>(p.tracks_queue);
    let (map_tx, map_rx) = bounded::<Slot>(p.map_queue);
    let (out_tx, out_rx) = bounded::<Output>(OUTPUT_QUEUE);
    for _ in 0..slots {
        // The pool has room for every slot.
        let _ = pool_tx.try_send(Slot::new());
    }
    let map_tx = mapper.is_some().then_some(map_tx);

    let mut run = empty_run(mode, source.len_hint());
    let frontend_done = AtomicBool::new(false);
    // Each thread owns its channel ends, so that a thread that ends, however
    // it ends, closes them and its neighbours see it.
    let (src, fe, be, mp) = std::thread::scope(|scope| {
        let spawn = |name: &str| std::thread::Builder::new().name(format!("scout-{name}"));
        let source_pool = pool_tx.clone();
        let frontend_done = &frontend_done;
        let spawn_source = spawn("source").spawn_scoped(scope, move || {
            let queue = FrontEndQueue {
                tx: frames_tx,
                done: frontend_done,
            };
            source_thread(source, mode, queue, pool_rx, source_pool)
        });
        let fe_pool = pool_tx.clone();
        let spawn_frontend = spawn("frontend").spawn_scoped(scope, move || {
            let result = frontend_thread(frontend, frames_rx, tracks_tx, fe_pool);
            frontend_done.store(true, Ordering::SeqCst);
            result
        });
        let be_out = out_tx.clone();
        let be_pool = pool_tx.clone();
        let blocking = mode == PipelineMode::Deterministic;
        let be_tap = taps.estimates.clone();
        let spawn_backend = spawn("backend").spawn_scoped(scope, move || {
            backend_thread(
                backend, tracks_rx, map_tx, be_pool, be_out, blocking, be_tap,
            )
        });
        let mp_out = out_tx;
        let spawn_mapper = mapper.map(|m| {
            spawn("mapper").spawn_scoped(scope, move || mapper_thread(m, map_rx, pool_tx, mp_out))
        });
        // Ends when the back end's and the mapper's threads end.
        let keep = config.pipeline.keep_records;
        for output in out_rx.iter() {
            match output {
                Output::Frame(mut record) => {
                    on_event(StreamEvent::Frame(&record));
                    record.view = None;
                    if keep {
                        run.records.push(record);
                    }
                }
                Output::Keyframe(mut record) => {
                    on_event(StreamEvent::Keyframe(&record));
                    record.snapshot = None;
                    if keep {
                        run.map_records.push(record);
                    }
                }
            }
        }
        (
            joined(spawn_source, "source"),
            joined(spawn_frontend, "front end"),
            joined(spawn_backend, "back end"),
            spawn_mapper.map(|s| joined(s, "mapper")),
        )
    });
    // A stage that stopped with an error made the stages upstream of it stop
    // quietly and those downstream finish what they had; the mapper's error
    // concerns the earliest frame, then the back end's, the front end's, the
    // source's.
    let mapper = mp.transpose()?;
    let (backend, unmapped) = be?;
    let (frontend_cost, imu_shift_s) = fe?;
    let (pairs, dropped_t_ns) = src?;
    run.pairs = pairs;
    run.dropped_t_ns = dropped_t_ns;
    run.imu_samples = backend.imu_samples;
    run.time_offset_s = backend.time_offset_s() + imu_shift_s;
    run.wall_ns = elapsed_ns(start);
    run.frontend_cost = frontend_cost;
    run.backend_cost = backend.cost;
    run.mapper = mapper.map(|mut m| {
        m.mapper.count_unmapped(unmapped.skipped, unmapped.dropped);
        m.mapper
    });
    Ok(run)
}

fn new_mapper(
    config: &PipelineConfig,
    rig: &RigCalibration,
) -> Result<Option<MapperStage>, PipelineError> {
    config
        .map
        .enabled
        .then(|| MapperStage::new(&config.map, rig, config.pipeline.views))
        .transpose()
}

fn empty_run(mode: PipelineMode, pairs_hint: Option<usize>) -> PipelineRun {
    PipelineRun {
        mode,
        pairs: 0,
        records: Vec::with_capacity(pairs_hint.unwrap_or(0)),
        map_records: Vec::new(),
        dropped_t_ns: Vec::new(),
        imu_samples: 0,
        wall_ns: 0,
        frontend_cost: cost::StageCounts::new(),
        backend_cost: cost::StageCounts::new(),
        mapper: None,
        time_offset_s: 0.0,
    }
}

/// The result of a stage's thread: its own, a failure to start it, or its panic.
fn joined<T>(
    spawned: std::io::Result<std::thread::ScopedJoinHandle<'_, Result<T, PipelineError>>>,
    stage: &'static str,
) -> Result<T, PipelineError> {
    match spawned {
        Err(e) => Err(PipelineError::Spawn {
            stage,
            message: e.to_string(),
        }),
        Ok(handle) => handle.join().unwrap_or_else(|payload| {
            Err(PipelineError::Panicked {
                stage,
                message: panic_message(payload.as_ref()),
            })
        }),
    }
}

pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(no message)".to_string()
    }
}

/// The front end's queue as the source thread sees it: the sending end, and
/// whether the front end's thread has ended (a full queue then never
/// empties).
struct FrontEndQueue<'a> {
    tx: Sender<Slot>,
    done: &'a AtomicBool,
}

/// Reads each pair into a pooled slot with its IMU samples and sends it on;
/// returns the pairs delivered and the time stamps of those dropped. Stops
/// quietly when the front end has gone.
fn source_thread<S: Source>(
    source: &mut S,
    mode: PipelineMode,
    queue: FrontEndQueue<'_>,
    pool: Receiver<Slot>,
    pool_back: Sender<Slot>,
) -> Result<(usize, Vec<i64>), PipelineError> {
    let clock_start = Instant::now();
    let mut first_t = None;
    let mut pairs = 0;
    let mut dropped = Vec::new();
    // A slot whose pair was dropped: its IMU samples go with the next pair.
    let mut pending: Option<Slot> = None;
    let mut carried_imu = Vec::new();
    let mut carried_faults = Vec::new();
    loop {
        let (mut slot, carried) = match pending.take() {
            Some(slot) => (slot, true),
            None => match pool.recv() {
                Ok(slot) => (slot, false),
                Err(_) => return Ok((pairs, dropped)),
            },
        };
        // The IMU samples of a dropped pair stay in front of the next one's
        // (through a buffer kept across pairs: nothing allocated per frame).
        if carried {
            carried_imu.clear();
            carried_imu.extend_from_slice(&slot.input.imu);
            carried_faults.clear();
            carried_faults.extend_from_slice(&slot.input.faults);
        }
        if mode == PipelineMode::Live {
            // Live, a pair is taken from the camera only once the front end
            // has room for it: it would age in the queue, while the source
            // keeps the newest.
            while queue.tx.is_full() && !queue.done.load(Ordering::SeqCst) {
                std::thread::sleep(LIVE_ROOM_POLL);
            }
        }
        let more = source.next_into(&mut slot.input)?;
        if carried {
            if !more {
                // The stream has ended and left the slot as it was.
                slot.input.imu.clear();
            }
            slot.input.imu.splice(0..0, carried_imu.drain(..));
            if more {
                slot.input.faults.splice(0..0, carried_faults.drain(..));
            }
        }
        if !more {
            if carried && !slot.input.imu.is_empty() {
                slot.has_frame = false;
                slot.available = Instant::now();
                // Blocking: the back end must see every IMU sample.
                let _ = queue.tx.send(slot);
            } else {
                let _ = pool_back.try_send(slot);
            }
            return Ok((pairs, dropped));
        }
        pairs += 1;
        slot.has_frame = true;
        match mode {
            PipelineMode::Deterministic => {
                slot.available = Instant::now();
                if queue.tx.send(slot).is_err() {
                    return Ok((pairs, dropped));
                }
            }
            PipelineMode::Live => {
                // The pairs the source skipped count as dropped.
                pairs += slot.input.skipped_t_ns.len();
                dropped.extend_from_slice(&slot.input.skipped_t_ns);
                // `Instant` is CLOCK_MONOTONIC on Linux, the clock the pair
                // is stamped on: its age makes the capture an instant.
                let age_ns = sensors::clock::monotonic_now_ns()
                    .saturating_sub(slot.input.frame.t_ns)
                    .max(0);
                let now = Instant::now();
                slot.available = now
                    .checked_sub(Duration::from_nanos(age_ns.unsigned_abs()))
                    .unwrap_or(now);
                // The source keeps only the latest pair while this waits.
                if queue.tx.send(slot).is_err() {
                    return Ok((pairs, dropped));
                }
            }
            PipelineMode::RealTime { speed } => {
                let t = slot.input.frame.t_ns;
                let t0 = *first_t.get_or_insert(t);
                let sensor_s = t.saturating_sub(t0) as f64 * 1e-9;
                let due = Duration::try_from_secs_f64(sensor_s / speed)
                    .ok()
                    .and_then(|d| clock_start.checked_add(d))
                    .ok_or_else(|| {
                        PipelineError::Config(format!(
                            "the pair at t = {t} ns is out of reach at speed {speed}"
                        ))
                    })?;
                std::thread::sleep(due.saturating_duration_since(Instant::now()));
                slot.available = Instant::now();
                match queue.tx.try_send(slot) {
                    Ok(()) => {}
                    Err(TrySendError::Full(slot)) => {
                        dropped.push(slot.input.frame.t_ns);
                        pending = Some(slot);
                    }
                    Err(TrySendError::Disconnected(_)) => return Ok((pairs, dropped)),
                }
            }
        }
    }
}

/// Runs the front end on each pair, puts the tracks in the slot and sends it
/// on. Stops quietly when the back end has gone.
fn frontend_thread(
    mut stage: FrontEndStage,
    frames_rx: Receiver<Slot>,
    tracks_tx: Sender<Slot>,
    pool: Sender<Slot>,
) -> Result<(cost::StageCounts, f64), PipelineError> {
    for mut slot in frames_rx.iter() {
        if slot.has_frame {
            let (tracks, frontend_ns) = match stage.step(&mut slot.input) {
                Ok(out) => out,
                Err(e) => {
                    let _ = pool.try_send(slot);
                    return Err(e);
                }
            };
            copy_tracks(&mut slot.tracks, tracks);
            slot.frontend_ns = frontend_ns;
        } else {
            stage.skip(&mut slot.input.imu);
        }
        if tracks_tx.send(slot).is_err() {
            break;
        }
    }
    let imu_shift_s = stage.imu_shift_s();
    Ok((stage.cost, imu_shift_s))
}

/// Keyframes the back end did not hand to the mapper.
#[derive(Debug, Default)]
struct Unmapped {
    /// Of a later tracking session.
    skipped: usize,
    /// The mapper's queue was full (real time).
    dropped: usize,
}

/// Pushes each frame's IMU samples and tracks into the back end, sends a
/// record per frame to the calling thread, and hands the keyframes to map to
/// the mapper with their pairs; returns the stage and what it did not map.
fn backend_thread(
    mut stage: BackEndStage,
    tracks_rx: Receiver<Slot>,
    map_tx: Option<Sender<Slot>>,
    pool: Sender<Slot>,
    out: Sender<Output>,
    blocking: bool,
    estimates: Option<Tap<Estimate>>,
) -> Result<(BackEndStage, Unmapped), PipelineError> {
    let mut unmapped = Unmapped::default();
    for mut slot in tracks_rx.iter() {
        let tracks = slot.has_frame.then_some(&slot.tracks);
        let Some((estimate, backend_ns)) = stage.step(&slot.input.imu, tracks)? else {
            let _ = pool.try_send(slot);
            continue;
        };
        if let Some(tap) = &estimates {
            tap.offer(estimate.clone());
        }
        slot.estimated = Instant::now();
        let timing = RecordTiming {
            frontend_ns: slot.frontend_ns,
            backend_ns,
            latency_ns: elapsed_ns(slot.available),
        };
        let maps = stage.maps(&estimate);
        unmapped.skipped += usize::from(stage.keyframe_of_later_session(&estimate));
        slot.world_from_body = estimate.world_from_body;
        let view = stage.view(slot.input.index, &slot.tracks, &slot.input.frame);
        let faults = std::mem::take(&mut slot.input.faults);
        let record = PipelineRecord::new(
            slot.input.index,
            &slot.tracks,
            estimate,
            faults,
            timing,
            view,
        );
        if out.send(Output::Frame(record)).is_err() {
            break;
        }
        let slot = match (&map_tx, maps) {
            (Some(tx), true) if blocking => match tx.send(slot) {
                Ok(()) => continue,
                // The mapper has gone (its error is returned).
                Err(_) => break,
            },
            (Some(tx), true) => match tx.try_send(slot) {
                Ok(()) => continue,
                Err(TrySendError::Full(slot)) => {
                    unmapped.dropped += 1;
                    slot
                }
                Err(TrySendError::Disconnected(_)) => break,
            },
            _ => slot,
        };
        let _ = pool.try_send(slot);
    }
    Ok((stage, unmapped))
}

/// How much nicer than the VIO's threads the mapper's is (`nice` steps).
const MAPPER_NICE: i32 = 5;

/// Gives the calling thread a lower scheduling priority ([`MAPPER_NICE`]):
/// on a busy core the front and back end, whose latency is the pose's, run
/// before the map's work, which only delays the map. Linux applies
/// `setpriority` to one thread given its id; where it is refused nothing
/// changes (a warning).
fn lower_this_threads_priority() {
    let tid = rustix::thread::gettid();
    let now = rustix::process::getpriority_process(Some(tid)).unwrap_or(0);
    if let Err(e) = rustix::process::setpriority_process(Some(tid), now + MAPPER_NICE) {
        tracing::warn!("the mapper's thread keeps its priority: {e}");
    }
}

/// Maps each keyframe it is handed, sends its record to the calling thread
/// and returns the slot to the pool.
fn mapper_thread(
    mut stage: MapperStage,
    map_rx: Receiver<Slot>,
    pool: Sender<Slot>,
    out: Sender<Output>,
) -> Result<MapperStage, PipelineError> {
    lower_this_threads_priority();
    for slot in map_rx.iter() {
        let mut record = stage.step(slot.input.index, &slot.input.frame, &slot.world_from_body)?;
        record.keyframe_to_map_ns = elapsed_ns(slot.estimated);
        record.camera_to_map_ns = elapsed_ns(slot.available);
        let _ = pool.try_send(slot);
        if out.send(Output::Keyframe(record)).is_err() {
            break;
        }
    }
    Ok(stage)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panics_become_errors_naming_the_stage() {
        let result: Result<(), PipelineError> = std::thread::scope(|scope| {
            let spawned = std::thread::Builder::new().spawn_scoped(scope, || {
                if std::hint::black_box(true) {
                    panic!("boom at frame {}", 3);
                }
                Ok(())
            });
            joined(spawned, "front end")
        });
        match result {
            Err(PipelineError::Panicked { stage, message }) => {
                assert_eq!(stage, "front end");
                assert_eq!(message, "boom at frame 3");
            }
            other => panic!("expected a panic error, got {other:?}"),
        }
    }
}
