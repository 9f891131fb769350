//! What the stream outputs: one [`PipelineRecord`] per processed frame, one
//! [`MapRecord`] per mapped keyframe, and the whole run ([`PipelineRun`]).

use cost::StageCounts;
use serde::Serialize;
use vio::backend::Estimate;
use vio::frontend::{Feature, FrameTracks};
use vio::health::SensorFault;

use crate::stages::mapper::{KeyframeMapper, MapSnapshot};

/// How the threaded pipeline treats time.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PipelineMode {
    /// Replay: every frame is processed, sends block; the output does not
    /// depend on thread timing.
    Deterministic,
    /// Live-like: pairs are released at `sensor time / speed` by the wall clock
    /// and dropped when the front end's queue is full.
    RealTime {
        /// Playback speed (1 is the sensor's rate, 2 twice as fast); finite and
        /// positive.
        speed: f64,
    },
    /// Live sensors: the source delivers each pair when the sensor has
    /// it, stamped on `CLOCK_MONOTONIC`, and keeps only the latest while the
    /// front end is busy (`crate::live`); latencies count from the stamp.
    Live,
}

/// Wall times of one frame, ns (this machine, this build; not deterministic).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RecordTiming {
    /// Front end: gyro prior and `FrontEnd::process`.
    pub frontend_ns: u64,
    /// Back end: pushing the frame's IMU samples and `BackEnd::process`.
    pub backend_ns: u64,
    /// From the source making the pair available (decoded and, in real time,
    /// due; live, from the camera's time stamp) to the estimate, queueing
    /// included. In deterministic mode the
    /// source reads ahead until the front end's queue is full, so this is
    /// mostly the wait in that queue.
    pub latency_ns: u64,
}

/// The pipeline's output for one frame.
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineRecord {
    /// Index of the stereo pair in the source's stream.
    pub index: usize,
    /// Time of the pair, ns.
    pub t_ns: i64,
    /// Features the front end output.
    pub features: u32,
    /// Of which with a stereo match.
    pub stereo: u32,
    /// FNV-1a digest of the front end's tracks (ids, ages, positions and
    /// bearings, bit for bit; not the timing), to check determinism.
    pub tracks_digest: u64,
    /// The back end's estimate (its `time_ns` is timing, not output).
    pub estimate: Estimate,
    /// The sensor faults found since the previous frame
    /// ([`vio::health::SensorHealth`]; empty, and unallocated, when none).
    pub faults: Vec<SensorFault>,
    /// Wall times.
    pub timing: RecordTiming,
    /// What a viewer shows of the frame, when views are on; sinks see it,
    /// the run's records do not keep it.
    pub view: Option<Box<FrameView>>,
}

/// What a viewer shows of a frame beyond the record's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct FrameView {
    /// The front end's features.
    pub features: Vec<Feature>,
    /// The back end's window landmarks after the frame, world (m), with
    /// their ids.
    pub landmarks: Vec<(u64, nalgebra::Point3<f64>)>,
    /// The frame's stereo pair, every `view_images_every` frames (a copy of
    /// the decoded pair the front end tracked: a viewer needs no second
    /// read, and a live or rendered source has no file to read again).
    pub images: Option<datasets::StereoFrame>,
}

impl PipelineRecord {
    /// The record of a frame: its tracks, estimate, the sensor faults its
    /// pair brought ([`crate::FrameInput::faults`]) and wall times.
    #[must_use]
    pub fn new(
        index: usize,
        tracks: &FrameTracks,
        estimate: Estimate,
        faults: Vec<SensorFault>,
        timing: RecordTiming,
        view: Option<Box<FrameView>>,
    ) -> Self {
        Self {
            index,
            t_ns: tracks.t_ns,
            features: u32::try_from(tracks.features.len()).unwrap_or(u32::MAX),
            stereo: tracks.stats.stereo,
            tracks_digest: tracks_digest(tracks),
            estimate,
            faults,
            timing,
            view,
        }
    }

    /// Whether two records hold the same output bit for bit: everything but
    /// the wall times ([`RecordTiming`] and the estimate's `time_ns`). For
    /// tests and checks (it formats both estimates).
    #[must_use]
    pub fn same_output(&self, other: &Self) -> bool {
        self.index == other.index
            && self.t_ns == other.t_ns
            && self.features == other.features
            && self.stereo == other.stereo
            && self.tracks_digest == other.tracks_digest
            && estimate_output(&self.estimate) == estimate_output(&other.estimate)
            && self.faults == other.faults
    }
}

/// The estimate's output as text, its wall time left out: `Debug` writes each
/// float in its shortest round-trip form, so equal text means equal bits (NaN
/// payloads aside), and every field counts, including any the back end adds.
fn estimate_output(e: &Estimate) -> String {
    format!(
        "{:?}",
        Estimate {
            time_ns: 0,
            ..e.clone()
        }
    )
}

/// The mapper's output for one keyframe.
#[derive(Debug, Clone)]
pub struct MapRecord {
    /// Index of the keyframe's stereo pair in the source's stream.
    pub index: usize,
    /// Time of the pair, ns.
    pub t_ns: i64,
    /// Stereo points inserted.
    pub points: usize,
    /// Cell updates.
    pub cell_updates: usize,
    /// Wall time of the stereo matching, ms.
    pub stereo_ms: f64,
    /// Wall time of the insertion, ms.
    pub insert_ms: f64,
    /// From the back end's estimate of the keyframe to its depth being in the
    /// map, queueing included, ns.
    pub keyframe_to_map_ns: u64,
    /// From the source making the pair available to its depth being in the
    /// map, ns.
    pub camera_to_map_ns: u64,
    /// The map after this keyframe, for a viewer (views on, every
    /// `[map] view_every_s`); sinks see it, the run does not keep it.
    pub snapshot: Option<Box<MapSnapshot>>,
}

/// What a sink sees, in stream order: a frame's record, then, for a mapped
/// keyframe, its map record (never before the frame's).
#[derive(Debug)]
pub enum StreamEvent<'a> {
    /// A frame went through the back end.
    Frame(&'a PipelineRecord),
    /// A keyframe went into the map.
    Keyframe(&'a MapRecord),
}

/// The result of a run.
#[derive(Debug)]
pub struct PipelineRun {
    /// How it ran (`Deterministic` for [`crate::run::run_sequential`]).
    pub mode: PipelineMode,
    /// Stereo pairs the source delivered (processed or dropped).
    pub pairs: usize,
    /// One record per processed frame, in time order.
    pub records: Vec<PipelineRecord>,
    /// One record per mapped keyframe, in time order (snapshots dropped).
    pub map_records: Vec<MapRecord>,
    /// Time stamps of the pairs dropped in real time, ns.
    pub dropped_t_ns: Vec<i64>,
    /// IMU samples pushed to the back end.
    pub imu_samples: usize,
    /// Wall time of the whole run, ns.
    pub wall_ns: u64,
    /// The front end's counted work, by kernel and frame by frame.
    pub frontend_cost: StageCounts,
    /// The back end's counted work, by kernel and frame by frame.
    pub backend_cost: StageCounts,
    /// The map built online (`None` with `[map] enabled = false`); its
    /// summary holds the mapper's counted work.
    pub mapper: Option<KeyframeMapper>,
    /// The camera-IMU time offset at the end, s (Kalibr's convention,
    /// `t_imu = t_cam + offset`, on the stamps as the source gave them):
    /// the back end's (estimated, or configured) plus what the front end
    /// took off the IMU stamps.
    pub time_offset_s: f64,
}

impl PipelineRun {
    /// Pairs dropped.
    #[must_use]
    pub fn drops(&self) -> usize {
        self.dropped_t_ns.len()
    }

    /// Whether two runs processed the same frames with the same output bit for
    /// bit (timing excluded, see [`PipelineRecord::same_output`]), and mapped
    /// the same keyframes into the same map.
    #[must_use]
    pub fn same_output(&self, other: &Self) -> bool {
        let same_map = match (&self.mapper, &other.mapper) {
            (None, None) => true,
            (Some(a), Some(b)) => {
                a.map().resolution() == b.map().resolution()
                    && a.map().brick_count() == b.map().brick_count()
                    && a.map()
                        .bricks()
                        .all(|(k, cells)| b.map().brick(k) == Some(cells))
            }
            _ => false,
        };
        self.pairs == other.pairs
            && self.dropped_t_ns == other.dropped_t_ns
            && self.imu_samples == other.imu_samples
            && self.records.len() == other.records.len()
            && self
                .records
                .iter()
                .zip(&other.records)
                .all(|(a, b)| a.same_output(b))
            && self.map_records.len() == other.map_records.len()
            && self
                .map_records
                .iter()
                .zip(&other.map_records)
                .all(|(a, b)| {
                    (a.index, a.points, a.cell_updates) == (b.index, b.points, b.cell_updates)
                })
            && same_map
    }
}

/// 64-bit FNV-1a.
struct Fnv(u64);

impl Fnv {
    fn new() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }

    fn add(&mut self, value: u64) {
        for byte in value.to_le_bytes() {
            self.0 ^= u64::from(byte);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

/// Digest of everything the front end output for a frame but its timing.
#[must_use]
pub fn tracks_digest(tracks: &FrameTracks) -> u64 {
    let mut h = Fnv::new();
    h.add(tracks.t_ns as u64);
    h.add(tracks.frame_index);
    h.add(tracks.features.len() as u64);
    for f in &tracks.features {
        let Feature {
            id,
            age,
            left,
            right,
            left_bearing,
            right_bearing,
        } = f;
        h.add(*id);
        h.add(u64::from(*age));
        left.iter().for_each(|v| h.add(v.to_bits()));
        left_bearing.iter().for_each(|v| h.add(v.to_bits()));
        h.add(u64::from(right.is_some()));
        right.iter().flatten().for_each(|v| h.add(v.to_bits()));
        h.add(u64::from(right_bearing.is_some()));
        right_bearing
            .iter()
            .flatten()
            .for_each(|v| h.add(v.to_bits()));
    }
    h.0
}

/// Copies `src` into `dst`, reusing `dst`'s feature buffer.
pub(crate) fn copy_tracks(dst: &mut FrameTracks, src: &FrameTracks) {
    let FrameTracks {
        t_ns,
        frame_index,
        features,
        stats,
        timing,
    } = src;
    dst.t_ns = *t_ns;
    dst.frame_index = *frame_index;
    dst.features.clear();
    dst.features.extend_from_slice(features);
    dst.stats = *stats;
    dst.timing = *timing;
}

#[cfg(test)]
mod tests {
    use nalgebra::{Vector2, Vector3};

    use super::*;

    #[test]
    fn digest_and_copy_cover_every_output_field() {
        let feature = Feature {
            id: 7,
            age: 2,
            left: Vector2::new(10.0, 20.0),
            right: Some(Vector2::new(5.0, 20.0)),
            left_bearing: Vector3::z(),
            right_bearing: Some(Vector3::z()),
        };
        let tracks = FrameTracks {
            t_ns: 5,
            frame_index: 1,
            features: vec![feature; 3],
            ..FrameTracks::default()
        };
        let mut copy = FrameTracks {
            features: vec![feature; 10],
            ..FrameTracks::default()
        };
        copy_tracks(&mut copy, &tracks);
        assert_eq!(copy, tracks);
        let base = tracks_digest(&tracks);
        let mut other = tracks.clone();
        other.features[1].right = None;
        assert_ne!(tracks_digest(&other), base);
        let mut other = tracks.clone();
        other.features[2].left.x = 10.000_000_001;
        assert_ne!(tracks_digest(&other), base);
        // Timing is not output.
        let mut other = tracks.clone();
        other.timing.total_ns = 99;
        assert_eq!(tracks_digest(&other), base);
    }
}
