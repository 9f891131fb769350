//! The planner stage beside the stream: asked for a plan at one frame, it
//! answers at the first frame `latency` later, computed inline or on its
//! own thread, the same plan either way.
//!
//! ```text
//! flight loop (render, front end, back end, mapper, control)
//!    | ask at t: the stage, a snapshot of the map, the position   (jobs: bounded(1))
//!    v
//! planner thread   PlannerStage::step on the snapshot
//!    | done: the stage and its plan                               (done: bounded(1))
//!    v
//! flight loop      takes it at the first frame at or after t + latency
//!                  (waits there if the planner is not done)
//! ```
//!
//! **A consistent view at the cost of a brick table.** The planner reads a
//! snapshot of the map ([`mapping::OccupancyMap::snapshot`]): its bricks are
//! shared copy-on-write, so asking copies the brick table (20 bytes a
//! brick) and the mapper copies a 512-byte brick only when it writes one
//! the snapshot still holds (counted in `bricks_copied_on_write`).
//!
//! **Deterministic either way.** The plan is computed from what the loop
//! had at `t` (the map, the position, the stage's own state) and flown from
//! `t + latency`, whether the thread finished early or late, so a flight is
//! the same bit for bit inline and threaded; only wall time differs. While
//! the stage is out the loop keeps what it would have told it (the cells
//! the body swept) and hands that over when it comes back. The latency is
//! what a robot's planner takes: the drone keeps flying its last plan
//! meanwhile, and the loop's other stages overlap the planning.

use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender, bounded};
use exploration::planner::Plan;
use mapping::FixedMap;

use crate::PipelineError;
use crate::stages::PlannerStage;

/// What the planner is asked.
struct PlanJob {
    stage: PlannerStage,
    map: FixedMap,
    position: [f64; 2],
    t_ns: i64,
}

/// A plan made: the stage back, and its answer.
pub struct PlanDone {
    /// The stage, with the grid the plan was made on.
    pub stage: PlannerStage,
    /// The plan (`None`: nothing left to explore), or why there is none.
    pub plan: Result<Option<Plan>, PipelineError>,
}

/// The planner inline or on its thread (see the module docs).
pub struct PlannerRunner {
    thread: Option<(Sender<PlanJob>, Receiver<PlanDone>, JoinHandle<()>)>,
    /// The frame time the pending plan is due at, and (inline) the plan.
    pending: Option<(i64, Option<PlanDone>)>,
    /// Bytes the snapshots copied (their brick tables).
    pub snapshot_bytes: u64,
    /// Wall time the loop waited for a plan past its due frame, s.
    pub wait_s: f64,
}

impl std::fmt::Debug for PlannerRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlannerRunner")
            .field("threaded", &self.thread.is_some())
            .field("due_t_ns", &self.pending.as_ref().map(|p| p.0))
            .finish_non_exhaustive()
    }
}

impl PlannerRunner {
    /// The planner inline (`threaded` false) or on a thread of its own.
    ///
    /// # Errors
    /// [`PipelineError::Spawn`] if the thread cannot be started.
    pub fn new(threaded: bool) -> Result<Self, PipelineError> {
        let thread = if threaded {
            let (jobs_tx, jobs_rx) = bounded::<PlanJob>(1);
            let (done_tx, done_rx) = bounded::<PlanDone>(1);
            let handle = std::thread::Builder::new()
                .name("scout-planner".into())
                .spawn(move || {
                    for mut job in jobs_rx {
                        let plan = job.stage.step(&job.map, job.position, job.t_ns);
                        drop(job.map);
                        let done = PlanDone {
                            stage: job.stage,
                            plan,
                        };
                        if done_tx.send(done).is_err() {
                            break;
                        }
                    }
                })
                .map_err(|e| PipelineError::Spawn {
                    stage: "planner",
                    message: e.to_string(),
                })?;
            Some((jobs_tx, done_rx, handle))
        } else {
            None
        };
        Ok(Self {
            thread,
            pending: None,
            snapshot_bytes: 0,
            wait_s: 0.0,
        })
    }

    /// Whether a plan is being made.
    #[must_use]
    pub fn busy(&self) -> bool {
        self.pending.is_some()
    }

    /// Whether the pending plan is due at frame time `t_ns`.
    #[must_use]
    pub fn due(&self, t_ns: i64) -> bool {
        self.pending.as_ref().is_some_and(|p| t_ns >= p.0)
    }

    /// Asks `stage` for a plan from `position` on `map` as it is at `t_ns`,
    /// due at `due_t_ns`.
    ///
    /// # Errors
    /// A plan is already pending, or the planner's thread has ended.
    pub fn ask(
        &mut self,
        mut stage: PlannerStage,
        map: &FixedMap,
        position: [f64; 2],
        t_ns: i64,
        due_t_ns: i64,
    ) -> Result<(), PipelineError> {
        if self.pending.is_some() {
            return Err(PipelineError::Config(
                "the planner was asked for a plan while making one".into(),
            ));
        }
        let inline = match &self.thread {
            None => Some(PlanDone {
                plan: stage.step(map, position, t_ns),
                stage,
            }),
            Some((jobs, ..)) => {
                let map = map.snapshot();
                self.snapshot_bytes += map.snapshot_bytes() as u64;
                let job = PlanJob {
                    stage,
                    map,
                    position,
                    t_ns,
                };
                if jobs.send(job).is_err() {
                    return Err(self.ended());
                }
                None
            }
        };
        self.pending = Some((due_t_ns, inline));
        Ok(())
    }

    /// The pending plan (waiting for the thread if it is not done).
    ///
    /// # Errors
    /// Nothing is pending, or the planner's thread has ended (a panic there
    /// is named).
    pub fn take(&mut self) -> Result<PlanDone, PipelineError> {
        let Some((_, inline)) = self.pending.take() else {
            return Err(PipelineError::Config(
                "a plan was taken that was never asked".into(),
            ));
        };
        if let Some(done) = inline {
            return Ok(done);
        }
        let start = std::time::Instant::now();
        let received = self.thread.as_ref().map(|(_, done, _)| done.recv());
        self.wait_s += start.elapsed().as_secs_f64();
        match received {
            Some(Ok(done)) => Ok(done),
            _ => Err(self.ended()),
        }
    }

    /// Why the thread is gone: its panic, if it panicked.
    fn ended(&mut self) -> PipelineError {
        let message = match self.thread.take() {
            Some((jobs, done, handle)) => {
                drop((jobs, done));
                match handle.join() {
                    Err(payload) => crate::run::panic_message(payload.as_ref()),
                    Ok(()) => "the planner's thread ended".to_string(),
                }
            }
            None => "the planner's thread ended".to_string(),
        };
        PipelineError::Panicked {
            stage: "planner",
            message,
        }
    }

    /// Stops the thread: the stage of a plan still pending comes back.
    ///
    /// # Errors
    /// The planner's thread panicked.
    pub fn finish(mut self) -> Result<Option<PlannerStage>, PipelineError> {
        let stage = if self.busy() {
            Some(self.take()?.stage)
        } else {
            None
        };
        if let Some((jobs, done, handle)) = self.thread.take() {
            drop((jobs, done));
            handle.join().map_err(|payload| PipelineError::Panicked {
                stage: "planner",
                message: crate::run::panic_message(payload.as_ref()),
            })?;
        }
        Ok(stage)
    }
}
