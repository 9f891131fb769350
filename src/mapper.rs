//! The occupancy map of a replayed sequence: dense stereo depth on the VIO's
//! keyframes, inserted into the int8 map at the keyframes' estimated poses.
//!
//! Frames and units: the map is in the VIO's world frame (gravity along -z,
//! metres); a keyframe's depth rays start at cam0's centre,
//! `world_from_cam0 = world_from_body * body_from_cam0`, with `world_from_body`
//! the back end's estimate for that frame. Only the first tracking session is
//! mapped: after a re-initialization from scratch the world frame is a new
//! one, and its poses would smear the map.
//!
//! This runs after the VIO, over the keyframes it chose (the stereo pair is
//! read again from the dataset), so the map costs the odometry no latency; the
//! work per keyframe (matching, insertion) is measured and counted all the same.

use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use cost::StageCounts;
use datasets::GrayImage;
use datasets::euroc::EurocDataset;
use datasets::model::{RigCalibration, StereoFrame};
use mapping::io::{export_ply, export_png, save};
use mapping::query::{BandRule, entropy_bits, project_band_with};
use mapping::stereo::{StereoConfig, StereoDepth};
use mapping::{FixedMap, FreeSpace, OccupancyParams, ScanInserter, ScanStats};
use nalgebra::{Isometry3, Vector3};
use serde::{Deserialize, Serialize};
use vio::backend::TrackingStatus;

use crate::pipeline::PipelineRun;

/// The map's configuration (`[map]` in the pipeline file).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MapConfig {
    /// Build the map (stereo depth on keyframes).
    pub enabled: bool,
    /// Cell side, m.
    pub resolution_m: f64,
    /// Rays longer than this mark free space up to it and no surface, m.
    /// Stereo's depth error grows as `z^2 sigma_d / (f B)`: at half EuRoC
    /// resolution (`f B` = 25 px m) and 0.15 px of disparity error, 5 cm at
    /// 3 m, 10 cm at 4 m, 15 cm at 5 m; beyond 4 m the surfaces smear over
    /// several cells.
    pub max_range_m: f64,
    /// Stereo points farther than this are dropped (their disparity is a few
    /// pixels), m; keep it above `max_range_m` so far surfaces still clear
    /// the space in front of them.
    pub max_depth_m: f64,
    /// Use every n-th rectified pixel along rows and columns.
    pub pixel_stride: usize,
    /// How a scan's free space is marked.
    pub free_space: FreeSpace,
    /// The log-odds model (OctoMap's defaults).
    pub occupancy: OccupancyParams,
    /// The stereo matcher.
    pub stereo: StereoConfig,
    /// Height of the band `map.png` shows, centred on the keyframes' mean
    /// height, m: a column is black if any of its cells is occupied, white if
    /// any is observed free, grey if none is observed. One layer alone is
    /// crossed by few rays at a shallow angle and shows stripes of unknown.
    pub png_band_m: f64,
}

impl MapConfig {
    /// Checks the values the map's own types do not (the occupancy model and
    /// the matcher check theirs).
    ///
    /// # Errors
    /// Names the first value out of range.
    pub fn validate(&self) -> anyhow::Result<()> {
        for (name, v) in [
            ("max_range_m", self.max_range_m),
            ("max_depth_m", self.max_depth_m),
            ("png_band_m", self.png_band_m),
        ] {
            anyhow::ensure!(
                v.is_finite() && v > 0.0,
                "[map] {name} must be finite and > 0, got {v}"
            );
        }
        anyhow::ensure!(
            self.pixel_stride >= 1,
            "[map] pixel_stride must be at least 1"
        );
        Ok(())
    }
}

impl Default for MapConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            resolution_m: 0.05,
            max_range_m: 4.0,
            max_depth_m: 6.0,
            pixel_stride: 1,
            free_space: FreeSpace::Discretized,
            occupancy: OccupancyParams::default(),
            stereo: StereoConfig::default(),
            png_band_m: 0.5,
        }
    }
}

/// What building the map did, written to `OUT/map.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct MapSummary {
    /// Keyframes whose depth went into the map.
    pub keyframes: usize,
    /// Keyframes left out (not in the first tracking session).
    pub keyframes_skipped: usize,
    /// Stereo points inserted.
    pub points: usize,
    /// Cell updates (each cell at most once per keyframe).
    pub cell_updates: usize,
    /// Cells traversed by the rays.
    pub cells_traversed: usize,
    /// Median wall time of the stereo matching per keyframe, ms.
    pub stereo_ms_median: f64,
    /// Median wall time of the insertion per keyframe, ms.
    pub insert_ms_median: f64,
    /// Bricks allocated.
    pub bricks: usize,
    /// Cells allocated.
    pub allocated_cells: usize,
    /// Heap bytes of the map per allocated cell.
    pub bytes_per_cell: f64,
    /// Cells observed occupied.
    pub occupied_cells: u64,
    /// Cells observed free.
    pub free_cells: u64,
    /// Entropy of the allocated cells, bits.
    pub entropy_bits: f64,
    /// Height of the middle of the PNG's band (the keyframes' mean height), m.
    pub slice_height_m: f64,
    /// Saved map file, bytes.
    pub file_bytes: u64,
    /// Counted work of all keyframes, by kernel (stereo and insertion; each
    /// keyframe's goes to `cost.json`, not `map.json`).
    pub cost: StageCounts,
    /// Wall time of the stereo matching and insertion of all keyframes, s.
    pub wall_s: f64,
}

/// Dense stereo depth into the map, one keyframe at a time.
#[derive(Debug)]
pub struct KeyframeMapper {
    config: MapConfig,
    map: FixedMap,
    depth: StereoDepth,
    inserter: ScanInserter,
    body_from_cam0: Isometry3<f64>,
    points: Vec<Vector3<f64>>,
    stereo_ms: Vec<f64>,
    insert_ms: Vec<f64>,
    heights: Vec<f64>,
    summary: MapSummary,
}

impl KeyframeMapper {
    /// An empty map for a rig.
    ///
    /// # Errors
    /// If the configuration is out of range or does not fit the rig.
    pub fn new(config: &MapConfig, rig: &RigCalibration) -> anyhow::Result<Self> {
        config.validate()?;
        let map = FixedMap::fixed(config.resolution_m, &config.occupancy)
            .context("the [map] configuration")?;
        let depth = StereoDepth::new(config.stereo.clone(), rig)
            .context("the [map.stereo] configuration")?;
        Ok(Self {
            config: config.clone(),
            map,
            depth,
            inserter: ScanInserter::with_mode(config.free_space),
            body_from_cam0: rig.cam0.body_from_cam,
            points: Vec::new(),
            stereo_ms: Vec::new(),
            insert_ms: Vec::new(),
            heights: Vec::new(),
            summary: MapSummary::default(),
        })
    }

    /// Matches a stereo pair and inserts its points, with the body's pose in
    /// the map's world frame when the pair was taken.
    ///
    /// # Errors
    /// If the images do not fit the calibration.
    pub fn integrate(
        &mut self,
        frame: &StereoFrame,
        world_from_body: &Isometry3<f64>,
    ) -> anyhow::Result<ScanStats> {
        let start = Instant::now();
        self.depth
            .compute(&frame.left, &frame.right)
            .with_context(|| format!("stereo depth of the pair at {} ns", frame.t_ns))?;
        let world_from_cam0 = world_from_body * self.body_from_cam0;
        self.points.clear();
        self.depth.points_world(
            &world_from_cam0,
            self.config.max_depth_m,
            self.config.pixel_stride,
            &mut self.points,
        );
        self.stereo_ms.push(start.elapsed().as_secs_f64() * 1e3);
        let start = Instant::now();
        let origin = world_from_cam0.translation.vector;
        let stats = self.inserter.insert(
            &mut self.map,
            &origin,
            &self.points,
            self.config.max_range_m,
        );
        self.insert_ms.push(start.elapsed().as_secs_f64() * 1e3);
        let s = &mut self.summary;
        s.keyframes += 1;
        s.points += self.points.len();
        s.cell_updates += stats.updates();
        s.cells_traversed += stats.cells_traversed;
        s.cost
            .record_run(frame.t_ns, &[self.depth.cost(), self.inserter.cost()]);
        self.heights.push(world_from_body.translation.vector.z);
        Ok(stats)
    }

    /// The map so far.
    #[must_use]
    pub fn map(&self) -> &FixedMap {
        &self.map
    }

    /// The summary so far (map figures filled in by [`Self::write`]).
    #[must_use]
    pub fn summary(&self) -> &MapSummary {
        &self.summary
    }

    /// Wall time of the last keyframe's stereo matching and insertion, ms.
    #[must_use]
    pub fn last_keyframe_ms(&self) -> Option<f64> {
        Some(self.stereo_ms.last()? + self.insert_ms.last()?)
    }

    /// The map's band around the keyframes' mean height so far (as
    /// `map.png` shows it; see [`MapConfig::png_band_m`]); `None` for an
    /// empty map or one too wide for a slice.
    #[must_use]
    pub fn flight_layer(&self) -> Option<mapping::Slice2D> {
        if self.heights.is_empty() || self.map.brick_count() == 0 {
            return None;
        }
        let z = self.heights.iter().sum::<f64>() / self.heights.len() as f64;
        let half = 0.5 * self.config.png_band_m;
        project_band_with(&self.map, z - half, z + half, None, BandRule::Observed).ok()
    }

    /// Writes `OUT/map.bin`, `OUT/map.png` (the band around the keyframes'
    /// mean height, see [`MapConfig::png_band_m`]), `OUT/map.ply` (occupied
    /// cells) and `OUT/map.json` (the summary). Returns the summary.
    ///
    /// # Errors
    /// If a file cannot be written.
    pub fn write(&mut self, out: &Path) -> anyhow::Result<MapSummary> {
        let map = &self.map;
        let s = &mut self.summary;
        s.wall_s = 1e-3 * self.stereo_ms.iter().chain(&self.insert_ms).sum::<f64>();
        s.stereo_ms_median = median(&mut self.stereo_ms);
        s.insert_ms_median = median(&mut self.insert_ms);
        s.bricks = map.brick_count();
        s.allocated_cells = map.allocated_cells();
        s.bytes_per_cell = map.memory_bytes() as f64 / map.allocated_cells().max(1) as f64;
        let entropy = entropy_bits(map, None).context("the map's entropy")?;
        s.occupied_cells = entropy.occupied;
        s.free_cells = entropy.free;
        s.entropy_bits = entropy.bits;
        s.slice_height_m = if self.heights.is_empty() {
            0.0
        } else {
            self.heights.iter().sum::<f64>() / self.heights.len() as f64
        };
        s.file_bytes = save(map, out.join("map.bin"))?.bytes;
        if map.brick_count() > 0 {
            // A map too wide for one image (poses gone astray) still has its
            // other files.
            let half = 0.5 * self.config.png_band_m;
            let (z, rule) = (s.slice_height_m, BandRule::Observed);
            match project_band_with(map, z - half, z + half, None, rule) {
                Ok(slice) => {
                    export_png(&slice, out.join("map.png"))?;
                }
                Err(e) => tracing::warn!("no map.png: {e}"),
            }
            export_ply(map, out.join("map.ply"))?;
        }
        let json = out.join("map.json");
        std::fs::write(&json, serde_json::to_string_pretty(&*s)?)
            .with_context(|| format!("writing {}", json.display()))?;
        Ok(s.clone())
    }
}

/// Builds the map over the run's keyframes of its first tracking session and
/// writes it (see [`KeyframeMapper::write`]); `on_keyframe` sees the mapper
/// after each keyframe, with the keyframe's time and whether it is the last.
/// Returns the summary.
///
/// # Errors
/// If the configuration is invalid, a pair cannot be read, a file cannot be
/// written, or `on_keyframe` fails.
pub fn build_map(
    ds: &EurocDataset,
    run: &PipelineRun,
    config: &MapConfig,
    out: &Path,
    mut on_keyframe: impl FnMut(i64, &KeyframeMapper, bool) -> anyhow::Result<()>,
) -> anyhow::Result<MapSummary> {
    let mut mapper = KeyframeMapper::new(config, ds.calibration())?;
    let mut frame = StereoFrame {
        t_ns: 0,
        left: GrayImage::new(0, 0),
        right: GrayImage::new(0, 0),
    };
    let first_session = run
        .records
        .iter()
        .find(|r| r.estimate.status == TrackingStatus::Tracking)
        .map(|r| r.estimate.session);
    let mapped = |r: &&crate::pipeline::PipelineRecord| {
        let e = &r.estimate;
        e.keyframe && e.status == TrackingStatus::Tracking && Some(e.session) == first_session
    };
    let last = run.records.iter().rev().find(mapped).map(|r| r.index);
    for record in &run.records {
        let e = &record.estimate;
        if !e.keyframe || e.status != TrackingStatus::Tracking {
            continue;
        }
        if Some(e.session) != first_session {
            mapper.summary.keyframes_skipped += 1;
            continue;
        }
        ds.load_stereo_into(record.index, &mut frame)
            .with_context(|| format!("reading stereo pair {}", record.index))?;
        mapper.integrate(&frame, &e.world_from_body)?;
        on_keyframe(record.t_ns, &mapper, Some(record.index) == last)?;
    }
    mapper.write(out)
}

/// The median (0 for none); sorts the values.
fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_range_values_are_refused_by_name() {
        assert!(MapConfig::default().validate().is_ok());
        for (config, name) in [
            (
                MapConfig {
                    max_range_m: -1.0,
                    ..MapConfig::default()
                },
                "max_range_m",
            ),
            (
                MapConfig {
                    max_depth_m: f64::NAN,
                    ..MapConfig::default()
                },
                "max_depth_m",
            ),
            (
                MapConfig {
                    pixel_stride: 0,
                    ..MapConfig::default()
                },
                "pixel_stride",
            ),
        ] {
            let e = config
                .validate()
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(e.contains(name), "{e}");
        }
        let typo = toml::from_str::<MapConfig>("max_rnge_m = 3.0");
        assert!(typo.is_err());
    }
}
