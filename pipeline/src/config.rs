//! The pipeline configuration: one typed section per stage, read from one TOML
//! file (`scout replay --config FILE`). Every field has a default, so a file
//! only lists what it changes, e.g.
//!
//! ```toml
//! [frontend]
//! max_features = 200
//! [frontend.klt]
//! max_fb_error_px = 0.3
//! [pipeline]
//! frame_queue = 3
//! [health]
//! imu_gap_s = 0.1
//! [map]
//! resolution_m = 0.1
//! [explore.mi]
//! lambda_per_m = 0.1
//! ```

use std::path::Path;

use exploration::sim::ExploreConfig;
use serde::{Deserialize, Serialize};
use vio::backend::BackEndConfig;
use vio::frontend::FrontEndConfig;
use vio::health::HealthConfig;

use crate::PipelineError;
use crate::stages::mapper::MapConfig;

/// Largest queue capacity accepted, frames (a stereo pair of EuRoC is 0.7 MB).
const MAX_QUEUE: usize = 64;
/// Largest IMU lead accepted, s.
const MAX_IMU_LEAD_S: f64 = 60.0;

/// Configuration of every stage.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PipelineConfig {
    /// The VIO front end.
    pub frontend: FrontEndConfig,
    /// The VIO back end.
    pub backend: BackEndConfig,
    /// The sensors' health checks before the back end
    /// ([`vio::health::SensorHealth`]).
    pub health: HealthConfig,
    /// How the stages are wired: queue capacities, IMU lead.
    pub pipeline: StreamConfig,
    /// The occupancy map built on keyframes ([`crate::stages::mapper`]).
    pub map: MapConfig,
    /// Closed-loop exploration (`scout explore`; `exploration::sim`).
    pub explore: ExploreConfig,
    /// The drone of a closed-loop flight with its own camera, IMU and VIO
    /// (`scout explore --sensor stereo`; [`crate::flight`]).
    pub flight: crate::flight::FlightConfig,
}

impl PipelineConfig {
    /// Reads a TOML file; unknown keys are errors (a typo must not pass
    /// silently).
    ///
    /// # Errors
    /// [`PipelineError::Config`] when the file cannot be read or is not a
    /// valid configuration; the message names the file and, for syntax
    /// errors, the line.
    pub fn from_file(path: &Path) -> Result<Self, PipelineError> {
        let fail =
            |e: &dyn std::fmt::Display| PipelineError::Config(format!("{}: {e}", path.display()));
        let text = std::fs::read_to_string(path).map_err(|e| fail(&e))?;
        let config: Self = toml::from_str(&text).map_err(|e| fail(&e))?;
        config.validate().map_err(|e| fail(&e))?;
        Ok(config)
    }

    /// Checks every section, so that a value out of range is refused before
    /// the first frame rather than mid-run (the runners call it first).
    ///
    /// # Errors
    /// [`PipelineError::Config`] naming the section and the first value out
    /// of range.
    pub fn validate(&self) -> Result<(), PipelineError> {
        let section =
            |name: &str, e: &dyn std::fmt::Display| PipelineError::Config(format!("[{name}] {e}"));
        self.frontend
            .validate()
            .map_err(|e| section("frontend", &e))?;
        self.backend
            .validate()
            .map_err(|e| section("backend", &e))?;
        self.health.validate().map_err(|e| section("health", &e))?;
        self.pipeline.validate()?;
        self.map.validate().map_err(|e| section("map", &e))?;
        self.explore
            .validate()
            .map_err(|e| section("explore", &e))?;
        self.flight.validate().map_err(|e| section("flight", &e))?;
        Ok(())
    }
}

/// The `[pipeline]` section of the configuration: how the stages are wired.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StreamConfig {
    /// Stereo pairs that may wait between the source and the front end,
    /// frames (1 to 64). In real time a pair arriving when this queue is full
    /// is dropped, so this bounds the latency the front end can build up.
    pub frame_queue: usize,
    /// Frames' tracks that may wait between the front end and the back end,
    /// frames (1 to 64). Never dropped: a full queue holds the front end back.
    pub tracks_queue: usize,
    /// Keyframes (with their stereo pairs) that may wait between the back end
    /// and the mapper (1 to 64). In real time a keyframe finding this queue
    /// full is not mapped (counted in `map_dropped`), so the mapper never
    /// holds the odometry back; in deterministic mode the back end waits.
    pub map_queue: usize,
    /// IMU samples from this long before the first stereo pair come with it
    /// (static initialization), s (0 to 60).
    pub imu_lead_s: f64,
    /// Give each record its view (the features and the window's landmarks)
    /// and each mapped keyframe a snapshot of the map, for a viewer; set by
    /// `--rrd`, `--connect` and `--spawn`, not by the file.
    #[serde(skip)]
    pub views: bool,
    /// With views on, every this many frames a view carries the frame's
    /// stereo pair (0: never); set by `--images-every`, not by the file.
    #[serde(skip)]
    pub view_images_every: usize,
    /// Keep every frame's and keyframe's record in the run
    /// ([`crate::PipelineRun::records`], for the metrics of a replay); off,
    /// the sinks see them and the run keeps none, so a robot's endless
    /// stream runs in flat memory. Set by the command, not by the file.
    #[serde(skip)]
    pub keep_records: bool,
}

impl Default for StreamConfig {
    fn default() -> Self {
        Self {
            frame_queue: 2,
            tracks_queue: 4,
            map_queue: 2,
            imu_lead_s: 1.0,
            views: false,
            view_images_every: 0,
            keep_records: true,
        }
    }
}

impl StreamConfig {
    /// Checks every field.
    ///
    /// # Errors
    /// [`PipelineError::Config`] naming the field.
    pub fn validate(&self) -> Result<(), PipelineError> {
        for (name, value) in [
            ("frame_queue", self.frame_queue),
            ("tracks_queue", self.tracks_queue),
            ("map_queue", self.map_queue),
        ] {
            if !(1..=MAX_QUEUE).contains(&value) {
                return Err(PipelineError::Config(format!(
                    "pipeline.{name} must be 1 to {MAX_QUEUE} frames, got {value}"
                )));
            }
        }
        if !(self.imu_lead_s.is_finite() && (0.0..=MAX_IMU_LEAD_S).contains(&self.imu_lead_s)) {
            return Err(PipelineError::Config(format!(
                "pipeline.imu_lead_s must be 0 to {MAX_IMU_LEAD_S} s, got {}",
                self.imu_lead_s
            )));
        }
        Ok(())
    }

    /// The IMU lead, ns.
    #[must_use]
    pub fn imu_lead_ns(&self) -> i64 {
        (self.imu_lead_s * 1e9).round() as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> PipelineConfig {
        toml::from_str(text).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn partial_files_keep_defaults_and_typos_are_refused() {
        let cfg = parse("[frontend]\nmax_features = 200\n");
        assert_eq!(cfg.frontend.max_features, 200);
        assert_eq!(cfg.frontend.grid_cols, FrontEndConfig::default().grid_cols);
        assert!(toml::from_str::<PipelineConfig>("[frontend]\nmax_featurs = 1\n").is_err());
        assert!(toml::from_str::<PipelineConfig>("[frontnd]\n").is_err());

        let cfg = parse("[backend]\n[pipeline]\nframe_queue = 3\n");
        assert_eq!(cfg.backend, BackEndConfig::default());
        assert_eq!(cfg.pipeline.frame_queue, 3);
        assert_eq!(
            cfg.pipeline.tracks_queue,
            StreamConfig::default().tracks_queue
        );
        assert!(toml::from_str::<PipelineConfig>("[pipeline]\nframe_queu = 3\n").is_err());

        let cfg = parse("[explore]\nrange_m = 4.0\n[explore.mi]\nlambda_per_m = 0.1\n");
        assert_eq!(cfg.explore.range_m, 4.0);
        assert_eq!(cfg.explore.mi.lambda_per_m, 0.1);
        assert_eq!(cfg.explore.mi.fan, ExploreConfig::default().mi.fan);
        assert!(toml::from_str::<PipelineConfig>("[explore.mi]\nlambda = 1\n").is_err());
        // A partial model keeps the explorer's other values, not OctoMap's.
        let cfg = parse("[explore.occupancy]\nhit = 0.7\n");
        assert_eq!(cfg.explore.occupancy.hit, 0.7);
        assert_eq!(cfg.explore.occupancy.clamp_min, 0.001);
        let cfg = parse("[map]\nresolution_m = 0.1\n");
        assert_eq!(cfg.map.resolution_m, 0.1);
        assert!(toml::from_str::<PipelineConfig>("[map]\nresolution = 0.1\n").is_err());
    }

    #[test]
    fn settings_out_of_range_are_refused_by_name() {
        assert!(StreamConfig::default().validate().is_ok());
        for (cfg, field) in [
            (
                StreamConfig {
                    frame_queue: 0,
                    ..StreamConfig::default()
                },
                "frame_queue",
            ),
            (
                StreamConfig {
                    tracks_queue: 1000,
                    ..StreamConfig::default()
                },
                "tracks_queue",
            ),
            (
                StreamConfig {
                    map_queue: 0,
                    ..StreamConfig::default()
                },
                "map_queue",
            ),
            (
                StreamConfig {
                    imu_lead_s: f64::NAN,
                    ..StreamConfig::default()
                },
                "imu_lead_s",
            ),
        ] {
            match cfg.validate() {
                Err(e) => assert!(e.to_string().contains(field), "{e}"),
                Ok(()) => panic!("{field} accepted"),
            }
        }
    }

    /// One value out of range in any section: refused by
    /// `PipelineConfig::validate` (which every runner calls before the first
    /// frame) and by `from_file`, naming the section and the value.
    #[test]
    fn every_section_is_checked_before_work() {
        assert!(PipelineConfig::default().validate().is_ok());
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        for (text, section, field) in [
            (
                "[frontend]\nmax_features = 0\n",
                "[frontend]",
                "max_features",
            ),
            (
                "[backend]\npixel_sigma_px = 1e300\n",
                "[backend]",
                "pixel_sigma_px",
            ),
            ("[health]\nimu_gap_s = 0.0\n", "[health]", "imu_gap_s"),
            ("[pipeline]\nmap_queue = 0\n", "pipeline", "map_queue"),
            ("[map]\nresolution_m = 0.0002\n", "[map]", "resolution"),
            ("[explore]\nrange_m = 1e9\n", "[explore]", "range_m"),
            ("[flight]\nheight_m = 30.0\n", "[flight]", "height_m"),
        ] {
            let cfg = parse(text);
            let message = cfg
                .validate()
                .map_or_else(|e| e.to_string(), |()| String::new());
            assert!(
                message.contains(section) && message.contains(field),
                "{text:?}: {message:?}"
            );
            let path = dir.path().join("bad.toml");
            std::fs::write(&path, text).unwrap_or_else(|e| panic!("{e}"));
            let message =
                PipelineConfig::from_file(&path).map_or_else(|e| e.to_string(), |_| String::new());
            assert!(
                message.contains("bad.toml") && message.contains(field),
                "{message}"
            );
        }
    }

    /// Any bytes in a configuration file give a configuration every
    /// section of which is in range, or an error naming the file
    /// (`testkit::fuzz`: the full default file with random edits, and
    /// random bytes).
    #[test]
    fn a_configuration_file_gives_a_valid_configuration_or_an_error() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("scout.toml");
        let sample = toml::to_string(&PipelineConfig::default()).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(&path, &sample).unwrap_or_else(|e| panic!("{e}"));
        assert!(PipelineConfig::from_file(&path).is_ok());
        testkit::fuzz("scout.toml", sample.as_bytes(), |bytes| {
            std::fs::write(&path, bytes).unwrap_or_else(|e| panic!("{e}"));
            match PipelineConfig::from_file(&path) {
                Ok(config) => assert!(config.validate().is_ok()),
                Err(e) => assert!(e.to_string().contains("scout.toml"), "{e}"),
            }
        });
    }

    #[test]
    fn a_bad_file_is_refused_with_its_name_and_line() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, "[pipeline]\n\nframe_queue = \"two\"\n")
            .unwrap_or_else(|e| panic!("{e}"));
        let e = PipelineConfig::from_file(&path)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("bad.toml") && e.contains("line 3"), "{e}");
        let e = PipelineConfig::from_file(&dir.path().join("missing.toml"))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("missing.toml"), "{e}");
    }
}
