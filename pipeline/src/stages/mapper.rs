//! The mapper stage: dense stereo depth on the VIO's keyframes, inserted
//! into the int8 occupancy map at the keyframes' estimated poses, online.
//!
//! Frames and units: the map is in the VIO's world frame (gravity along -z,
//! metres); a keyframe's depth rays start at cam0's centre,
//! `world_from_cam0 = world_from_body * body_from_cam0`, with
//! `world_from_body` the back end's estimate for that frame when it was
//! made. Only the first tracking session is mapped: after a re-initialization
//! from scratch the world frame is a new one, and its poses would smear the
//! map ([`crate::stages::BackEndStage::maps`] decides).
//!
//! The keyframe arrives with the stereo pair the front end tracked (the same
//! decoded buffers, handed down the stream), so nothing is read or decoded
//! twice. The work per keyframe (matching, insertion) is measured and
//! counted ([`MapSummary::cost`]).

use std::path::Path;
use std::time::Instant;

use cost::StageCounts;
use datasets::model::{RigCalibration, StereoFrame};
use mapping::io::{export_ply, export_png, save};
use mapping::query::{BandRule, entropy_bits, project_band_with};
use mapping::stereo::{StereoConfig, StereoDepth};
use mapping::{CrossedFarEnd, FixedMap, FreeSpace, OccupancyParams, ScanInserter, Slice2D};
use nalgebra::{Isometry3, Vector3};
use serde::{Deserialize, Serialize};

use crate::PipelineError;
use crate::error::write_atomically;
use crate::record::MapRecord;

/// The files [`KeyframeMapper::write`] writes into its folder: the map,
/// its band as an image, its occupied cells as points, its summary.
pub const MAP_FILES: [&str; 4] = ["map.bin", "map.png", "map.ply", "map.json"];

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
    /// Beyond this range a stereo point's cell is hit only if no other ray
    /// of the keyframe passed through it, else it is what `crossed_far_end`
    /// says (`mapping::ScanInserter::with_sharp_range`; `inf` for OctoMap's
    /// rule at every range), m. Stereo's depth error reaches half a 5 cm cell at
    /// `sqrt(0.025 f B / sigma_d)` = 2.0 m (half EuRoC resolution, 0.15 px):
    /// farther, the points on a surface scatter over the cells in front of
    /// it, which the rays of the deeper points cross, and OctoMap's rule
    /// would mark them occupied keyframe after keyframe.
    pub sharp_range_m: f64,
    /// A crossed end cell beyond the sharp range: `unchanged` (a replay sees
    /// many surfaces only from afar, and a miss would carve them) or `free`.
    /// A closed-loop flight takes `[flight] crossed_far_end` instead, as it
    /// takes its own cell size, occupancy model and ranges.
    pub crossed_far_end: CrossedFarEnd,
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
    /// With views on, a keyframe carries a snapshot of the map when this
    /// much sensor time has passed since the last snapshot, s (each snapshot
    /// holds every occupied voxel).
    pub view_every_s: f64,
}

impl MapConfig {
    /// Checks the values the map's own types do not (the occupancy model and
    /// the matcher check theirs).
    ///
    /// # Errors
    /// [`PipelineError::Config`] naming the first value out of range.
    pub fn validate(&self) -> Result<(), PipelineError> {
        for (name, v) in [
            ("max_range_m", self.max_range_m),
            ("max_depth_m", self.max_depth_m),
            ("png_band_m", self.png_band_m),
            ("view_every_s", self.view_every_s),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return Err(PipelineError::Config(format!(
                    "[map] {name} must be finite and > 0, got {v}"
                )));
            }
        }
        if self.sharp_range_m.is_nan() || self.sharp_range_m <= 0.0 {
            return Err(PipelineError::Config(format!(
                "[map] sharp_range_m must be > 0 (inf for none), got {}",
                self.sharp_range_m
            )));
        }
        mapping::check_ray_cells(self.max_range_m, self.resolution_m).map_err(|e| {
            PipelineError::Config(format!("[map] max_range_m and resolution_m: {e}"))
        })?;
        if self.pixel_stride < 1 {
            return Err(PipelineError::Config(
                "[map] pixel_stride must be at least 1".into(),
            ));
        }
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
            sharp_range_m: 2.0,
            crossed_far_end: CrossedFarEnd::Unchanged,
            pixel_stride: 1,
            free_space: FreeSpace::Discretized,
            occupancy: OccupancyParams::default(),
            stereo: StereoConfig::default(),
            png_band_m: 0.5,
            view_every_s: 2.0,
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
    /// Keyframes not mapped because the mapper's queue was full (real time
    /// only; deterministic runs map every keyframe).
    pub keyframes_dropped: usize,
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
    /// [`PipelineError::Config`] or [`PipelineError::MapSetup`] when the
    /// configuration is out of range or does not fit the rig.
    pub fn new(config: &MapConfig, rig: &RigCalibration) -> Result<Self, PipelineError> {
        config.validate()?;
        let map = FixedMap::fixed(config.resolution_m, &config.occupancy)
            .map_err(PipelineError::MapSetup)?;
        let depth =
            StereoDepth::new(config.stereo.clone(), rig).map_err(PipelineError::MapSetup)?;
        Ok(Self {
            config: config.clone(),
            map,
            depth,
            inserter: ScanInserter::with_mode(config.free_space)
                .with_sharp_range(config.sharp_range_m, config.crossed_far_end),
            body_from_cam0: rig.cam0.body_from_cam,
            points: Vec::new(),
            stereo_ms: Vec::new(),
            insert_ms: Vec::new(),
            heights: Vec::new(),
            summary: MapSummary::default(),
        })
    }

    /// Matches a stereo pair and inserts its points, with the body's pose in
    /// the map's world frame when the pair was taken. Returns the keyframe's
    /// record (its latency is the caller's to fill in).
    ///
    /// # Errors
    /// [`PipelineError::Map`] when the images do not fit the calibration.
    pub fn integrate(
        &mut self,
        index: usize,
        frame: &StereoFrame,
        world_from_body: &Isometry3<f64>,
    ) -> Result<MapRecord, PipelineError> {
        let start = Instant::now();
        self.depth
            .compute(&frame.left, &frame.right)
            .map_err(|error| PipelineError::Map {
                t_ns: frame.t_ns,
                error,
            })?;
        let world_from_cam0 = world_from_body * self.body_from_cam0;
        self.points.clear();
        self.depth.points_world(
            &world_from_cam0,
            self.config.max_depth_m,
            self.config.pixel_stride,
            &mut self.points,
        );
        let stereo_ms = start.elapsed().as_secs_f64() * 1e3;
        let start = Instant::now();
        let origin = world_from_cam0.translation.vector;
        let stats = self.inserter.insert(
            &mut self.map,
            &origin,
            &self.points,
            self.config.max_range_m,
        );
        let insert_ms = start.elapsed().as_secs_f64() * 1e3;
        self.stereo_ms.push(stereo_ms);
        self.insert_ms.push(insert_ms);
        let s = &mut self.summary;
        s.keyframes += 1;
        s.wall_s += 1e-3 * (stereo_ms + insert_ms);
        s.points += self.points.len();
        s.cell_updates += stats.updates();
        s.cells_traversed += stats.cells_traversed;
        s.cost
            .record_run(frame.t_ns, &[self.depth.cost(), self.inserter.cost()]);
        self.heights.push(world_from_body.translation.vector.z);
        Ok(MapRecord {
            index,
            t_ns: frame.t_ns,
            points: self.points.len(),
            cell_updates: stats.updates(),
            stereo_ms,
            insert_ms,
            keyframe_to_map_ns: 0,
            camera_to_map_ns: 0,
            snapshot: None,
        })
    }

    /// The map so far.
    #[must_use]
    pub fn map(&self) -> &FixedMap {
        &self.map
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &MapConfig {
        &self.config
    }

    /// The summary so far (map figures filled in by [`Self::write`]).
    #[must_use]
    pub fn summary(&self) -> &MapSummary {
        &self.summary
    }

    /// Counts keyframes left out: `skipped` of a later session, `dropped`
    /// for want of room in the mapper's queue.
    pub fn count_unmapped(&mut self, skipped: usize, dropped: usize) {
        self.summary.keyframes_skipped += skipped;
        self.summary.keyframes_dropped += dropped;
    }

    /// The keyframes' mean height so far, m (0 before the first).
    #[must_use]
    pub fn mean_height_m(&self) -> f64 {
        if self.heights.is_empty() {
            0.0
        } else {
            self.heights.iter().sum::<f64>() / self.heights.len() as f64
        }
    }

    /// The map's band around the keyframes' mean height so far (as
    /// `map.png` shows it; see [`MapConfig::png_band_m`]); `None` for an
    /// empty map or one too wide for a slice.
    #[must_use]
    pub fn flight_layer(&self) -> Option<Slice2D> {
        if self.heights.is_empty() || self.map.brick_count() == 0 {
            return None;
        }
        let z = self.mean_height_m();
        let half = 0.5 * self.config.png_band_m;
        project_band_with(&self.map, z - half, z + half, None, BandRule::Observed).ok()
    }

    /// A snapshot of the map (its bricks shared copy-on-write: the table is
    /// copied, the cells only when the mapper next writes them) and its
    /// flight layer, for a viewer.
    #[must_use]
    pub fn snapshot(&self) -> MapSnapshot {
        MapSnapshot {
            map: self.map.snapshot(),
            flight_layer: self.flight_layer(),
        }
    }

    /// Writes `OUT/map.bin`, `OUT/map.png` (the band around the keyframes'
    /// mean height, see [`MapConfig::png_band_m`]), `OUT/map.ply` (occupied
    /// cells) and `OUT/map.json` (the summary), each whole or not at all.
    /// Returns the summary.
    ///
    /// # Errors
    /// [`PipelineError::Write`] naming a file that cannot be written.
    pub fn write(&mut self, out: &Path) -> Result<MapSummary, PipelineError> {
        let write_error = |path: &Path, e: &dyn std::fmt::Display| PipelineError::Write {
            path: path.to_path_buf(),
            message: e.to_string(),
        };
        let mean_height = self.mean_height_m();
        let map = &self.map;
        let s = &mut self.summary;
        s.stereo_ms_median = median(&mut self.stereo_ms);
        s.insert_ms_median = median(&mut self.insert_ms);
        s.bricks = map.brick_count();
        s.allocated_cells = map.allocated_cells();
        s.bytes_per_cell = map.memory_bytes() as f64 / map.allocated_cells().max(1) as f64;
        let entropy = entropy_bits(map, None).map_err(PipelineError::MapSetup)?;
        s.occupied_cells = entropy.occupied;
        s.free_cells = entropy.free;
        s.entropy_bits = entropy.bits;
        s.slice_height_m = mean_height;
        let [bin, png, ply, json] = MAP_FILES.map(|name| out.join(name));
        s.file_bytes = save(map, &bin).map_err(|e| write_error(&bin, &e))?.bytes;
        if map.brick_count() > 0 {
            // A map too wide for one image (poses gone astray) still has its
            // other files.
            let half = 0.5 * self.config.png_band_m;
            let (z, rule) = (s.slice_height_m, BandRule::Observed);
            match project_band_with(map, z - half, z + half, None, rule) {
                Ok(slice) => {
                    export_png(&slice, &png).map_err(|e| write_error(&png, &e))?;
                }
                Err(e) => tracing::warn!("no map.png: {e}"),
            }
            export_ply(map, &ply).map_err(|e| write_error(&ply, &e))?;
        }
        let text = serde_json::to_string_pretty(&*s).map_err(|e| write_error(&json, &e))?;
        write_atomically(&json, text.as_bytes())?;
        Ok(s.clone())
    }
}

/// A copy of the map at a keyframe, for a viewer.
#[derive(Debug, Clone)]
pub struct MapSnapshot {
    /// The map.
    pub map: FixedMap,
    /// Its band around the keyframes' mean height ([`MapConfig::png_band_m`]).
    pub flight_layer: Option<Slice2D>,
}

/// The mapper stage: a [`KeyframeMapper`] that, with views on, attaches a
/// [`MapSnapshot`] to a keyframe's record every
/// [`MapConfig::view_every_s`] of sensor time.
#[derive(Debug)]
pub struct MapperStage {
    /// The map and its figures.
    pub mapper: KeyframeMapper,
    views: bool,
    last_snapshot_t_ns: Option<i64>,
}

impl MapperStage {
    /// An empty map for a rig; `views`: attach snapshots for a viewer.
    ///
    /// # Errors
    /// As [`KeyframeMapper::new`].
    pub fn new(
        config: &MapConfig,
        rig: &RigCalibration,
        views: bool,
    ) -> Result<Self, PipelineError> {
        Ok(Self {
            mapper: KeyframeMapper::new(config, rig)?,
            views,
            last_snapshot_t_ns: None,
        })
    }

    /// Maps keyframe `index` (its pair and `world_from_body`, the back end's
    /// estimate).
    ///
    /// # Errors
    /// As [`KeyframeMapper::integrate`].
    pub fn step(
        &mut self,
        index: usize,
        frame: &StereoFrame,
        world_from_body: &Isometry3<f64>,
    ) -> Result<MapRecord, PipelineError> {
        let mut record = self.mapper.integrate(index, frame, world_from_body)?;
        let every_ns = (self.mapper.config.view_every_s * 1e9) as i64;
        if self.views
            && self
                .last_snapshot_t_ns
                .is_none_or(|t| frame.t_ns.saturating_sub(t) >= every_ns)
        {
            self.last_snapshot_t_ns = Some(frame.t_ns);
            record.snapshot = Some(Box::new(self.mapper.snapshot()));
        }
        Ok(record)
    }
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
                    sharp_range_m: f64::NAN,
                    ..MapConfig::default()
                },
                "sharp_range_m",
            ),
            (
                MapConfig {
                    sharp_range_m: 0.0,
                    ..MapConfig::default()
                },
                "sharp_range_m",
            ),
            (
                MapConfig {
                    pixel_stride: 0,
                    ..MapConfig::default()
                },
                "pixel_stride",
            ),
            (
                MapConfig {
                    view_every_s: 0.0,
                    ..MapConfig::default()
                },
                "view_every_s",
            ),
        ] {
            let e = config
                .validate()
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(e.contains(name), "{e}");
        }
        // OctoMap's rule at every range is written `inf`.
        let octomap =
            toml::from_str::<MapConfig>("sharp_range_m = inf").unwrap_or_else(|e| panic!("{e}"));
        assert!(octomap.sharp_range_m.is_infinite() && octomap.validate().is_ok());
        let typo = toml::from_str::<MapConfig>("max_rnge_m = 3.0");
        assert!(typo.is_err());
    }
}
