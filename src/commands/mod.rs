//! One module per subcommand: argument struct and `run`.

pub mod cost;
pub mod demo;
pub mod eval;
pub mod explore;
pub mod explore_bench;
pub mod flight;
pub mod flight_bench;
pub mod inspect;
pub mod map_bench;
pub mod replay;
pub mod synth;
pub mod view;

use indicatif::{ProgressBar, ProgressStyle};

/// Worker threads for parallel work: the machine's cores.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

/// A progress bar on stderr (hidden when stderr is not a terminal).
pub fn progress(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    let style =
        ProgressStyle::with_template("{msg:>12} [{bar:40}] {pos}/{len} ({per_sec}, {eta} left)")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
    bar.set_style(style);
    bar.set_message(what.to_string());
    bar
}
