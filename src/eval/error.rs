//! The error type of trajectory evaluation.
//!
//! Errors about a file name the file and, where the problem belongs to one row, its
//! 1-based line (`est.tum:17: expected 8 columns, found 7`), so a user can open the
//! file at that line and fix it. Errors about the evaluation itself (no overlapping
//! timestamps, too few poses to align) name the trajectories by their source file
//! when they were read from one.

use std::path::PathBuf;

use super::align::Alignment;

/// Errors reading, writing or evaluating trajectories.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// A file could not be opened, read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },
    /// A row of a trajectory file is malformed (column count, a non-numeric or
    /// non-finite value, a quaternion that is not unit, a timestamp not after the
    /// previous one).
    #[error("{path}:{line}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong, in words a user can act on.
        message: String,
    },
    /// A trajectory file holds no pose (empty, or only comments).
    #[error("{path}: no poses (the file is empty or holds only comments)")]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// A trajectory built in code breaks an invariant (lengths differ, timestamps
    /// not strictly increasing, a non-finite pose).
    #[error("invalid trajectory: {0}")]
    InvalidTrajectory(String),
    /// No estimate pose is close enough in time to a ground-truth pose.
    #[error("no overlapping timestamps: {0}")]
    NoOverlap(String),
    /// Fewer matched poses than the alignment needs.
    #[error(
        "{alignment} alignment needs at least {needed} matched poses, found {found} \
         (check the time ranges and --max-time-diff)"
    )]
    TooFewMatches {
        /// The requested alignment.
        alignment: Alignment,
        /// How many it needs.
        needed: usize,
        /// How many pose pairs were matched.
        found: usize,
    },
    /// The matched positions do not determine the alignment (e.g. all collinear for
    /// SE(3)/Sim(3), or no horizontal motion for position+yaw).
    #[error("{alignment} alignment is not determined by the matched positions: {reason}")]
    DegenerateAlignment {
        /// The requested alignment.
        alignment: Alignment,
        /// Why.
        reason: String,
    },
    /// An evaluation option is out of range or unknown.
    #[error("invalid option: {0}")]
    InvalidOption(String),
}

impl EvalError {
    /// A malformed-row error at `path:line` (1-based).
    pub(crate) fn parse(path: impl Into<PathBuf>, line: usize, message: impl Into<String>) -> Self {
        Self::Parse {
            path: path.into(),
            line,
            message: message.into(),
        }
    }
}
