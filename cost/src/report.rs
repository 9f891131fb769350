//! Per-stage reports of counted work, and the `cost.json` file that holds them.
//!
//! A [`StageReport`] is one stage's counted work over a run (front end, back
//! end, map, exploration), by kernel, with the number of times the stage ran
//! and its measured wall time on the machine that ran it. A [`CostReport`] is a
//! run's stages together with the number of sensor frames they served, so
//! figures can be given per frame. `scout replay` and `scout explore` write
//! one to `OUT/cost.json`; `scout cost` reads it back and applies a
//! [`crate::Hardware`] to it ([`crate::estimate`]).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::ledger::{CostLedger, KernelCost, counting};
use crate::{CostError, Result};

/// The `cost.json` format's version.
pub const FORMAT_VERSION: u32 = 1;

/// One kernel's counted work over a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KernelReport {
    /// Kernel name (`pyramid`, `tracking`, `be_linearize`, ...).
    pub kernel: String,
    /// Its counts.
    #[serde(flatten)]
    pub cost: KernelCost,
}

/// One run of a stage (a frame, a keyframe, a plan): its time stamp and all
/// its kernels' work together.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RunCost {
    /// Time of the frame it served, ns (sensor clock; the plan's index for
    /// exploration).
    pub t_ns: i64,
    /// The work.
    #[serde(flatten)]
    pub cost: KernelCost,
}

/// What a stage gathers while it runs: its kernels' work over all runs, and
/// each run's total (what a [`StageReport`] is made from).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct StageCounts {
    /// Work by kernel over all runs.
    #[serde(flatten)]
    pub ledger: CostLedger,
    /// Each run's work, in order.
    #[serde(skip)]
    pub per_run: Vec<RunCost>,
}

impl StageCounts {
    /// Nothing counted yet.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one run (a frame, a keyframe) at `t_ns` whose work is in
    /// `ledgers` (a stage may own several kernels' ledgers). Nothing while
    /// counting is off ([`crate::set_counting`]).
    pub fn record_run(&mut self, t_ns: i64, ledgers: &[&CostLedger]) {
        if !counting() {
            return;
        }
        let mut cost = KernelCost::default();
        for l in ledgers {
            self.ledger.accumulate(l);
            cost += l.total();
        }
        self.per_run.push(RunCost { t_ns, cost });
    }
}

/// One stage's counted work over a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageReport {
    /// Stage name (`frontend`, `backend`, `map`, `explore`).
    pub stage: String,
    /// Times the stage ran (frames, keyframes, plans).
    pub runs: u64,
    /// What one run is (`frame`, `keyframe`, `plan`).
    pub run_unit: String,
    /// Wall time of all its runs on the machine that made the report, s.
    pub measured_s: f64,
    /// Its kernels.
    pub kernels: Vec<KernelReport>,
    /// Each run's work, when the stage recorded it (frames of the front and
    /// back end, keyframes of the map).
    #[serde(default)]
    pub per_run: Vec<RunCost>,
}

impl StageReport {
    /// A stage's report from its accumulated ledger.
    #[must_use]
    pub fn from_ledger(
        stage: &str,
        runs: u64,
        run_unit: &str,
        measured_s: f64,
        ledger: &CostLedger,
    ) -> Self {
        Self {
            stage: stage.to_string(),
            runs,
            run_unit: run_unit.to_string(),
            measured_s,
            kernels: ledger
                .kernels()
                .map(|(name, k)| KernelReport {
                    kernel: name.to_string(),
                    cost: *k,
                })
                .collect(),
            per_run: Vec::new(),
        }
    }

    /// A stage's report from what it gathered, every run included.
    #[must_use]
    pub fn from_counts(
        stage: &str,
        runs: u64,
        run_unit: &str,
        measured_s: f64,
        counts: &StageCounts,
    ) -> Self {
        Self {
            per_run: counts.per_run.clone(),
            ..Self::from_ledger(stage, runs, run_unit, measured_s, &counts.ledger)
        }
    }

    /// All kernels together.
    #[must_use]
    pub fn total(&self) -> KernelCost {
        let mut t = KernelCost::default();
        for k in &self.kernels {
            t += k.cost;
        }
        t
    }
}

/// A run's stages (what `cost.json` holds).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CostReport {
    /// [`FORMAT_VERSION`].
    pub format_version: u32,
    /// What ran (a command and its input).
    pub source: String,
    /// Sensor frames (stereo pairs, or lidar scans in exploration) the run
    /// processed: the unit of the per-frame figures.
    pub frames: u64,
    /// Where the wall times were measured (`x86_64-linux`, `aarch64-linux`).
    pub measured_on: String,
    /// The stages.
    pub stages: Vec<StageReport>,
}

impl CostReport {
    /// An empty report for `frames` frames of `source`, measured on this
    /// machine.
    #[must_use]
    pub fn new(source: &str, frames: u64) -> Self {
        Self {
            format_version: FORMAT_VERSION,
            source: source.to_string(),
            frames,
            measured_on: format!("{}-{}", std::env::consts::ARCH, std::env::consts::OS),
            stages: Vec::new(),
        }
    }

    /// Writes the report as pretty JSON (to a temporary file renamed into
    /// place, so a failed write leaves no half file).
    ///
    /// # Errors
    /// [`CostError::Io`] naming the path.
    pub fn write(&self, path: &Path) -> Result<()> {
        let io = |e: std::io::Error| CostError::Io {
            path: path.display().to_string(),
            message: e.to_string(),
        };
        let json = serde_json::to_vec_pretty(self).map_err(|e| CostError::Io {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, json).map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)
    }

    /// Reads a report.
    ///
    /// # Errors
    /// [`CostError::Io`] when the file cannot be read, [`CostError::Report`]
    /// naming the file, line and column when it is not a report of this
    /// version, or holds a negative or non-finite time.
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| CostError::Io {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        let report: Self = serde_json::from_str(&text).map_err(|e| {
            CostError::Report(format!(
                "{}, line {} column {}: {e}",
                path.display(),
                e.line(),
                e.column()
            ))
        })?;
        if report.format_version != FORMAT_VERSION {
            return Err(CostError::Report(format!(
                "{}: format_version {} (this scout reads {FORMAT_VERSION})",
                path.display(),
                report.format_version
            )));
        }
        for s in &report.stages {
            if !(s.measured_s.is_finite() && s.measured_s >= 0.0) {
                return Err(CostError::Report(format!(
                    "{}: stage {} has measured_s {}",
                    path.display(),
                    s.stage,
                    s.measured_s
                )));
            }
        }
        Ok(report)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]
mod tests {
    use super::*;
    use crate::ledger::{OpCounts, Residence};

    fn sample() -> CostReport {
        let mut ledger = CostLedger::new();
        let mut k = KernelCost {
            calls: 3,
            ..KernelCost::default()
        };
        k.add_ops(OpCounts {
            int16_mul: 7,
            f64_ops: 2,
            ..OpCounts::default()
        });
        k.read(Residence::Main, 640);
        k.write(Residence::Buffer, 64);
        ledger.record("pyramid", k);
        ledger.record("tracking", k);
        let mut r = CostReport::new("test", 10);
        r.stages.push(StageReport::from_ledger(
            "frontend", 10, "frame", 0.5, &ledger,
        ));
        r
    }

    #[test]
    fn report_round_trips_through_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cost.json");
        let r = sample();
        r.write(&path).unwrap();
        let back = CostReport::read(&path).unwrap();
        assert_eq!(back, r);
        assert_eq!(back.stages[0].total().ops.int16_mul, 14);
        assert_eq!(back.stages[0].total().main.read, 1280);
        assert!(!dir.path().join("cost.json.tmp").exists());
    }

    #[test]
    fn bad_files_name_the_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cost.json");
        let text = serde_json::to_string_pretty(&sample()).unwrap();
        std::fs::write(&path, text.replace("\"runs\": 10", "\"runs\": -1")).unwrap();
        let err = CostReport::read(&path).unwrap_err().to_string();
        assert!(err.contains("cost.json") && err.contains("line"), "{err}");
        std::fs::write(
            &path,
            text.replace("\"format_version\": 1", "\"format_version\": 9"),
        )
        .unwrap();
        let err = CostReport::read(&path).unwrap_err().to_string();
        assert!(err.contains("format_version 9"), "{err}");
        let err = CostReport::read(&dir.path().join("none.json"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("none.json"), "{err}");
    }
}
