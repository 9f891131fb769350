//! What can stop the pipeline: one error type for every stage, naming the
//! stage, the frame (its time stamp) and, for data from outside, the file
//! and line.

use datasets::DatasetError;
use mapping::MappingError;
use vio::VioError;

/// What can stop the pipeline.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// A setting or the mode is out of range; the message names it (and the
    /// file, for a configuration file).
    #[error("invalid pipeline configuration: {0}")]
    Config(String),
    /// A VIO stage refused its configuration or the calibration.
    #[error("setting up the {stage}: {error}")]
    Setup {
        /// `front end` or `back end`.
        stage: &'static str,
        /// Why.
        error: VioError,
    },
    /// The mapper refused its configuration or the calibration.
    #[error("setting up the mapper: {0}")]
    MapSetup(MappingError),
    /// A source could not deliver a stereo pair or IMU sample (the message
    /// names the csv file and line of the image).
    #[error(transparent)]
    Dataset(#[from] DatasetError),
    /// A source other than a dataset folder failed; the message says which
    /// and why.
    #[error("source {source_name}: {message}")]
    Source {
        /// The source ([`crate::source::Source::name`]).
        source_name: String,
        /// Why.
        message: String,
    },
    /// The front end refused a frame.
    #[error("front end, frame at t = {t_ns} ns: {error}")]
    FrontEnd {
        /// Time of the frame, ns.
        t_ns: i64,
        /// Why.
        error: VioError,
    },
    /// The back end refused an IMU sample or a frame.
    #[error("back end, input at t = {t_ns} ns: {error}")]
    BackEnd {
        /// Time of the sample or frame, ns.
        t_ns: i64,
        /// Why.
        error: VioError,
    },
    /// The mapper refused a keyframe (its images do not fit the rig).
    #[error("mapper, keyframe at t = {t_ns} ns: {error}")]
    Map {
        /// Time of the keyframe, ns.
        t_ns: i64,
        /// Why.
        error: MappingError,
    },
    /// The planner refused its configuration or the map's view.
    #[error("planner, at t = {t_ns} ns: {error}")]
    Planner {
        /// Time of the plan, ns.
        t_ns: i64,
        /// Why.
        error: exploration::ExplorationError,
    },
    /// An output file could not be written.
    #[error("writing {path}: {message}")]
    Write {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        message: String,
    },
    /// A stage's thread could not be started.
    #[error("starting the {stage} thread: {message}")]
    Spawn {
        /// The stage.
        stage: &'static str,
        /// The operating system's reason.
        message: String,
    },
    /// A stage's thread panicked (a bug); the others were stopped and joined.
    #[error("the {stage} thread panicked: {message}")]
    Panicked {
        /// The stage.
        stage: &'static str,
        /// The panic message.
        message: String,
    },
}

/// Writes `bytes` to `path` through a temporary file in the same folder, a
/// sync and a rename ([`mapping::io::write_atomically`]), so a reader never
/// sees half a file.
///
/// # Errors
/// [`PipelineError::Write`] naming the file.
pub fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> Result<(), PipelineError> {
    use std::io::Write as _;
    mapping::io::write_atomically(path, |w| w.write_all(bytes)).map_err(|e| PipelineError::Write {
        path: path.to_path_buf(),
        message: match e {
            mapping::MappingError::Io { error, .. } => error.to_string(),
            other => other.to_string(),
        },
    })
}
