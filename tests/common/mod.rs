//! Helpers shared by the end-to-end tests that run the `scout` binary.

// Each test binary includes this module and uses only some of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
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

/// The real EuRoC snippet (`../shared/data/euroc/V1_01_easy_micro`, or
/// `SCOUT_EUROC_MICRO`); `None`, said on stderr, when it is absent.
pub fn euroc_micro() -> Option<PathBuf> {
    let dir = std::env::var_os("SCOUT_EUROC_MICRO").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/euroc/V1_01_easy_micro"),
        PathBuf::from,
    );
    if dir.join("mav0").is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "SKIPPED: {} is absent (the shared EuRoC snippet)",
            dir.display()
        );
        None
    }
}
