//! scout's stream: the sensor data of a rig through the five stages, from a
//! source to exploration goals, on one thread or on one thread per stage.
//!
//! ```text
//! Source (EuRoC/ASL folder | synthetic world | live devices | bag files)
//!   -> FrameInput: a stereo pair and the IMU samples before it   (source)
//!   -> FrontEndStage -> FrameTracks                            (vio, every frame)
//!   -> BackEndStage  -> Estimate; a keyframe with its pair     (vio, every frame)
//!   -> MapperStage   -> the int8 occupancy map                 (mapping, keyframes)
//!   -> PlannerStage  -> goal, yaw and path                     (exploration, ~1 Hz)
//!   -> sinks: PipelineRecord per frame, MapRecord per keyframe (files, viewers)
//! ```
//!
//! Frames and units follow the stages': time stamps `t_ns` (ns) on the
//! source's clock; poses `world_from_body` (body = IMU frame) in the back
//! end's gravity-aligned world, metres; the map in that world.
//!
//! [`config`] gathers every stage's settings in one TOML file;
//! [`source`] holds the [`source::Source`] trait and its recorded and
//! synthetic implementations, [`live`] the live one (a camera and an IMU on
//! their own threads, the latest pair kept; and a recording paced as live);
//! [`stages`] the stages, each a plain struct with a step method; [`run`]
//! the runners (a plain loop, and threads joined by bounded channels, the
//! same output bit for bit in deterministic mode); [`record`] what comes out;
//! [`imu_rate`] poses at the IMU's rate on a live run (the newest
//! estimate propagated through each sample) to files and UDP;
//! [`flight`] the closed loop, where a simulated drone's planner decides the
//! path its own camera and IMU are rendered along, with [`plan_thread`] (the
//! planner on its own thread, on a snapshot of the map) and [`safety`] (the
//! body's check against the live map before each move).
//!
//! Why not Copper (copper-rs): its single loop cadence for the whole task
//! graph fights a stream whose stages run at 200 Hz (IMU), 20 Hz (frames),
//! a few Hz (keyframes) and about 1 Hz (planning), and one thread leaves the
//! Pi's other cores idle unless tasks run in the background, which then drop
//! outputs; every message must meet eight trait bounds, and the runtime adds
//! about a hundred crates and a code generator. Its good ideas are taken
//! here: source / stage / sink roles, pre-allocated slots handed down the
//! stream, and a deterministic single-thread mode (`docs/architecture.md`,
//! "Streaming pipeline").

pub mod config;
pub mod error;
pub mod faults;
pub mod flight;
pub mod imu_rate;
pub mod live;
pub mod plan_thread;
pub mod record;
pub mod robot;
pub mod run;
pub mod safety;
pub mod source;
pub mod stages;

pub use config::{PipelineConfig, StreamConfig};
pub use error::PipelineError;
pub use record::{
    FrameView, MapRecord, PipelineMode, PipelineRecord, PipelineRun, RecordTiming, StreamEvent,
};
pub use run::{RunTaps, run_pipeline, run_pipeline_tapped, run_sequential};
pub use source::{
    EurocSource, FrameInput, Screened, SequenceSource, Source, StreamScreen, describe_fault,
};
