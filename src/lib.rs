//! scout: pipeline wiring and evaluation, shared by the `scout` binary and the
//! end-to-end tests.

pub mod eval;
pub mod synthetic;
