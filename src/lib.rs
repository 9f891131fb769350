//! scout: evaluation, plots and the viewer glue around the `pipeline` crate,
//! shared by the `scout` binary and the end-to-end tests.

pub mod eval;
pub mod frontend_eval;
#[cfg(feature = "opencv")]
pub mod opencv_baseline;
pub mod plots;
pub mod replay;
pub mod synthetic;
#[cfg(feature = "rerun")]
pub mod viewer;
