//! scout: pipeline wiring and evaluation, shared by the `scout` binary and the
//! end-to-end tests.

pub mod config;
pub mod eval;
pub mod frontend_eval;
pub mod mapper;
#[cfg(feature = "opencv")]
pub mod opencv_baseline;
pub mod pipeline;
pub mod plots;
pub mod replay;
pub mod synthetic;
#[cfg(feature = "rerun")]
pub mod viewer;
