//! The front end allocates nothing per frame in steady state: a counting global
//! allocator watches `FrontEnd::process` over synthetic frames after warm-up.
//!
//! This test file needs `unsafe` for one reason: implementing `GlobalAlloc`
//! (it forwards every call to the system allocator unchanged).
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use datasets::synth::{Difficulty, SynthConfig, SyntheticSequence};
use vio::frontend::{FrontEnd, FrontEndConfig};
use vio::imu::integrate_gyro;

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every method forwards to `System` with the caller's arguments.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn steady_state_frames_allocate_nothing() {
    let cfg = SynthConfig {
        seed: 4,
        duration_s: 4.0,
        difficulty: Difficulty::Medium,
        ..SynthConfig::default()
    };
    let seq = match SyntheticSequence::generate(&cfg) {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    };
    // Frames of flight, rendered before anything is counted.
    let frames: Vec<_> = (30..60)
        .map(|i| {
            let mut f = seq.new_frame();
            if let Err(e) = seq.render_stereo(i, &mut f) {
                panic!("{e}");
            }
            f
        })
        .collect();
    let priors: Vec<_> = frames
        .windows(2)
        .map(|w| integrate_gyro(&seq.imu, w[0].t_ns, w[1].t_ns, &nalgebra::Vector3::zeros()))
        .collect();
    let mut fe = match FrontEnd::new(FrontEndConfig::default(), &seq.calibration) {
        Ok(f) => f,
        Err(e) => panic!("{e}"),
    };
    let mut per_frame = Vec::with_capacity(frames.len());
    for (i, frame) in frames.iter().enumerate() {
        let prior = i.checked_sub(1).and_then(|k| priors[k]);
        let before = ALLOCATIONS.load(Ordering::Relaxed);
        if let Err(e) = fe.process(frame, prior.as_ref()) {
            panic!("{e}");
        }
        per_frame.push(ALLOCATIONS.load(Ordering::Relaxed) - before);
    }
    // The first frames size the buffers (pyramids, candidate lists, RANSAC
    // scratch); after ten, nothing more.
    assert!(
        per_frame[0] > 0,
        "the counter counts nothing: {per_frame:?}"
    );
    assert!(
        per_frame[10..].iter().all(|&n| n == 0),
        "allocations per frame: {per_frame:?}"
    );
}
