//! One module per subcommand: argument struct and `run`.

pub mod convert;
pub mod cost;
pub mod demo;
pub mod eval;
pub mod explore;
pub mod explore_bench;
pub mod fault_bench;
pub mod flight;
pub mod flight_bench;
pub mod inspect;
pub mod map_bench;
pub mod record;
pub mod replay;
pub mod run;
pub mod soak;
pub mod synth;
pub mod view;

use indicatif::{ProgressBar, ProgressStyle};

/// Worker threads for parallel work: the machine's cores.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

/// Creates the output folder `dir` if needed and checks, before any work,
/// that files can be written in it (a file created and removed): a run
/// must not find an unwritable folder only after it has done its work.
///
/// # Errors
/// Naming the folder and the system's reason.
pub fn prepare_output_folder(dir: &std::path::Path) -> anyhow::Result<()> {
    use anyhow::Context as _;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let probe = dir.join(format!(".scout-write-check.{}", std::process::id()));
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .with_context(|| format!("{} is not writable", dir.display()))?;
    std::fs::remove_file(&probe).with_context(|| format!("removing {}", probe.display()))?;
    Ok(())
}

/// Writes a run's outputs into `out` as one thing: the files `ours` names
/// (those the command writes) are removed from `out` first, `write` writes
/// this run's, and if it fails, what it wrote is removed again. A folder
/// reused for another run never mixes two runs; a failed run leaves
/// nothing of either; files `ours` does not name stay.
///
/// # Errors
/// `write`'s error, saying whether its partial outputs were removed; or
/// the error of a removal, naming the file.
pub fn write_as_one<T>(
    out: &std::path::Path,
    ours: &dyn Fn(&str) -> bool,
    write: impl FnOnce() -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    remove_outputs(out, ours)?;
    write().map_err(|e| {
        let removed = remove_outputs(out, ours).is_ok();
        e.context(if removed {
            format!("writing the outputs into {} (removed again)", out.display())
        } else {
            format!(
                "writing the outputs into {} (partly written: remove them)",
                out.display()
            )
        })
    })
}

/// Removes the files of `out` that `ours` names (not folders, nothing
/// else).
fn remove_outputs(out: &std::path::Path, ours: &dyn Fn(&str) -> bool) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let entries = match std::fs::read_dir(out) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("listing {}", out.display())),
    };
    for entry in entries {
        let entry = entry.with_context(|| format!("listing {}", out.display()))?;
        let is_ours = entry.file_name().to_str().is_some_and(ours);
        if is_ours && entry.file_type().is_ok_and(|t| t.is_file()) {
            let path = entry.path();
            std::fs::remove_file(&path)
                .with_context(|| format!("removing the earlier run's {}", path.display()))?;
        }
    }
    Ok(())
}

/// A command-line number within `range`, `what` saying which in the
/// message (NaN and infinities are refused whatever the range).
///
/// # Errors
/// The text for clap to show beside the option's name.
pub fn parse_number_in(
    s: &str,
    range: std::ops::RangeInclusive<f64>,
    what: &str,
) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && range.contains(&v) => Ok(v),
        Ok(v) => Err(format!("must be {what}, got {v}")),
        Err(e) => Err(format!("{s:?} is not a number: {e}")),
    }
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
