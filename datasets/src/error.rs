//! The error type of the `datasets` crate.
//!
//! Every error that comes from outside data (a file on disk) names the file and,
//! where there is one, the 1-based line, so a user can open the file and fix it.

use std::fmt;
use std::path::{Path, PathBuf};

/// Where in an input file a problem was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The file.
    pub path: PathBuf,
    /// The 1-based line, when the problem belongs to one line.
    pub line: Option<usize>,
}

impl Location {
    /// A whole file.
    #[must_use]
    pub fn file(path: impl AsRef<Path>) -> Self {
        Self {
            path: path.as_ref().to_path_buf(),
            line: None,
        }
    }

    /// One line of a file (1-based).
    #[must_use]
    pub fn line(path: impl AsRef<Path>, line: usize) -> Self {
        Self {
            path: path.as_ref().to_path_buf(),
            line: Some(line),
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}", self.path.display(), line),
            None => write!(f, "{}", self.path.display()),
        }
    }
}

/// Errors reading or writing sensor data.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    /// A file could not be opened, read or written.
    #[error("{location}: {source}")]
    Io {
        /// The file.
        location: Location,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },
    /// The content of a file is not what the format says it must be.
    #[error("{location}: {message}")]
    Malformed {
        /// Where.
        location: Location,
        /// What is wrong, in words a user can act on.
        message: String,
    },
    /// An image could not be decoded or has the wrong size or pixel format.
    #[error("{location}: image {image}: {message}")]
    BadImage {
        /// The csv row that names the image.
        location: Location,
        /// The image file.
        image: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A folder does not hold the expected dataset layout.
    #[error("{path}: {message}")]
    Layout {
        /// The folder or the missing file.
        path: PathBuf,
        /// What is missing.
        message: String,
    },
    /// A request made by the caller is invalid (not an input-file problem).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

impl DatasetError {
    /// A malformed-content error at a file and line.
    pub fn malformed(path: impl AsRef<Path>, line: usize, message: impl Into<String>) -> Self {
        Self::Malformed {
            location: Location::line(path, line),
            message: message.into(),
        }
    }

    /// A malformed-content error about a whole file.
    pub fn malformed_file(path: impl AsRef<Path>, message: impl Into<String>) -> Self {
        Self::Malformed {
            location: Location::file(path),
            message: message.into(),
        }
    }

    /// An I/O error on a file.
    pub fn io(path: impl AsRef<Path>, source: std::io::Error) -> Self {
        Self::Io {
            location: Location::file(path),
            source,
        }
    }

    /// The location the error points at, if it points at an input file.
    #[must_use]
    pub fn location(&self) -> Option<&Location> {
        match self {
            Self::Io { location, .. }
            | Self::Malformed { location, .. }
            | Self::BadImage { location, .. } => Some(location),
            Self::Layout { .. } | Self::InvalidArgument(_) => None,
        }
    }
}

/// Result with [`DatasetError`].
pub type Result<T, E = DatasetError> = std::result::Result<T, E>;
