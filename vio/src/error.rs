//! The crate's error type.

/// What went wrong in the VIO.
#[derive(Debug, thiserror::Error)]
pub enum VioError {
    /// A configuration value is out of range; the message names the field.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// An input does not match what the stage was built for (an image of the
    /// wrong size, timestamps going backwards).
    #[error("bad input: {0}")]
    Input(String),
    /// A calibration the stage cannot use.
    #[error("calibration: {0}")]
    Calibration(String),
}

/// The crate's result type.
pub type Result<T, E = VioError> = std::result::Result<T, E>;
