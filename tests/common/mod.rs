//! Helpers shared by the end-to-end tests that run the `scout` binary.

// Each test binary includes this module and uses only some of it.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

/// Runs the `scout` binary built for the tests, in `dir`.
pub fn scout(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_scout"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run scout: {e}"))
}

/// A run's standard output as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A run's standard error as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
