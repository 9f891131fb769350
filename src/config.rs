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
//! [explore.mi]
//! lambda_per_m = 0.1
//! ```

use std::path::Path;

use exploration::sim::ExploreConfig;
use serde::{Deserialize, Serialize};
use vio::backend::BackEndConfig;
use vio::frontend::FrontEndConfig;

use crate::mapper::MapConfig;
use crate::pipeline::StreamConfig;

/// Configuration of every stage.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PipelineConfig {
    /// The VIO front end.
    pub frontend: FrontEndConfig,
    /// The VIO back end.
    pub backend: BackEndConfig,
    /// How the stages are wired: queue capacities, IMU lead
    /// ([`crate::pipeline`]).
    pub pipeline: StreamConfig,
    /// The occupancy map built on keyframes ([`crate::mapper`]).
    pub map: MapConfig,
    /// Closed-loop exploration (`scout explore`; `exploration::sim`).
    pub explore: ExploreConfig,
}

impl PipelineConfig {
    /// Reads a TOML file; unknown keys are errors (a typo must not pass silently).
    ///
    /// # Errors
    /// If the file cannot be read or is not a valid configuration; the message
    /// names the file and, for syntax errors, the line.
    pub fn from_file(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_files_keep_defaults_and_typos_are_refused() {
        let cfg: PipelineConfig = match toml::from_str("[frontend]\nmax_features = 200\n") {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(cfg.frontend.max_features, 200);
        assert_eq!(cfg.frontend.grid_cols, FrontEndConfig::default().grid_cols);
        assert!(toml::from_str::<PipelineConfig>("[frontend]\nmax_featurs = 1\n").is_err());
        assert!(toml::from_str::<PipelineConfig>("[frontnd]\n").is_err());

        let cfg: PipelineConfig = match toml::from_str("[backend]\n[pipeline]\nframe_queue = 3\n") {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(cfg.backend, BackEndConfig::default());
        assert_eq!(cfg.pipeline.frame_queue, 3);
        assert_eq!(
            cfg.pipeline.tracks_queue,
            StreamConfig::default().tracks_queue
        );
        assert!(toml::from_str::<PipelineConfig>("[pipeline]\nframe_queu = 3\n").is_err());

        let cfg: PipelineConfig =
            match toml::from_str("[explore]\nrange_m = 4.0\n[explore.mi]\nlambda_per_m = 0.1\n") {
                Ok(c) => c,
                Err(e) => panic!("{e}"),
            };
        assert_eq!(cfg.explore.range_m, 4.0);
        assert_eq!(cfg.explore.mi.lambda_per_m, 0.1);
        assert_eq!(cfg.explore.mi.fan, ExploreConfig::default().mi.fan);
        assert!(toml::from_str::<PipelineConfig>("[explore.mi]\nlambda = 1\n").is_err());
        // A partial model keeps the explorer's other values, not OctoMap's.
        let cfg: PipelineConfig = match toml::from_str("[explore.occupancy]\nhit = 0.7\n") {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(cfg.explore.occupancy.hit, 0.7);
        assert_eq!(cfg.explore.occupancy.clamp_min, 0.001);
    }
}
