//! A recording written through `Recorder` and read back through the SDK's
//! decoder holds every entity it logged, on the right timelines, with a
//! blueprint; bad sinks are refused with their path or address.
#![cfg(feature = "rerun")]
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use datasets::model::{CameraCalibration, Distortion, ImuCalibration, PinholeIntrinsics};
use datasets::{GrayImage, ImuBias, RigCalibration};
use exploration::grid::Grid2;
use exploration::planner::{Plan, ScoredCandidate};
use exploration::sim::ExploreEvent;
use mapping::{CellKey, FixedMap, OccupancyParams, QuantizedModel};
use nalgebra::{Isometry3, Point3, Translation3, UnitQuaternion, Vector2, Vector3};
use vio::backend::{Estimate, TrackingStatus};
use vio::frontend::Feature;
use viz::recording::{
    FrameLog, Layout, Recorder, RecordingError, Sink, StageFigures, paths, read_contents,
};

fn camera(name: &str, x: f64) -> CameraCalibration {
    CameraCalibration {
        name: name.into(),
        width: 64,
        height: 48,
        intrinsics: PinholeIntrinsics {
            fx: 50.0,
            fy: 50.0,
            cx: 32.0,
            cy: 24.0,
        },
        distortion: Distortion::None,
        body_from_cam: Isometry3::from_parts(
            Translation3::new(x, 0.0, 0.0),
            UnitQuaternion::identity(),
        ),
        rate_hz: 20.0,
    }
}

fn estimate(t_ns: i64, x: f64, session: u32) -> Estimate {
    Estimate {
        t_ns,
        imu_t_ns: t_ns,
        time_offset_s: 0.0,
        status: TrackingStatus::Tracking,
        mode: vio::backend::TrackingMode::VisualInertial,
        world_from_body: Isometry3::from_parts(
            Translation3::new(x, 0.0, 1.0),
            UnitQuaternion::identity(),
        ),
        v_world: Vector3::zeros(),
        bias: ImuBias::default(),
        keyframe: true,
        tracked_landmarks: 1,
        session,
        iterations: 1,
        time_ns: 0,
    }
}

fn feature(id: u64, age: u32, stereo: bool) -> Feature {
    Feature {
        id,
        age,
        left: Vector2::new(10.0 + id as f64, 20.0),
        right: stereo.then(|| Vector2::new(4.0 + id as f64, 20.0)),
        left_bearing: Vector3::z(),
        right_bearing: stereo.then(Vector3::z),
    }
}

#[test]
fn a_recording_reads_back_with_every_entity_and_timeline() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.rrd");
    let mut rec = Recorder::new("scout-test", &[Sink::File(path.clone())]).unwrap();
    rec.send_blueprint(&Layout {
        vio: true,
        map: true,
        explore: vec!["mi".into()],
    })
    .unwrap();
    let rig = RigCalibration {
        cam0: camera("cam0", 0.0),
        cam1: camera("cam1", 0.11),
        imu: ImuCalibration::euroc_adis16448(),
    };
    rec.log_rig(&rig).unwrap();
    let image = GrayImage::new(64, 48);
    let t0 = 1_403_715_273_262_142_976_i64;
    for k in 0..3i64 {
        let features = [feature(1, k as u32, true), feature(2 + k as u64, 0, false)];
        let landmarks = [(7u64, Point3::new(1.0, 2.0, 3.0))];
        rec.log_frame(&FrameLog {
            t_ns: t0 + k * 50_000_000,
            images: [Some(&image), Some(&image)],
            features: &features,
            estimate: &estimate(t0 + k * 50_000_000, k as f64 * 0.1, 1),
            landmarks: &landmarks,
        })
        .unwrap();
        rec.log_stage(
            t0 + k * 50_000_000,
            "frontend",
            &StageFigures {
                time_ms: Some(1.0),
                dram_kb: Some(100.0),
                energy_uj: Some(50.0),
            },
        )
        .unwrap();
        rec.log_position_error(t0 + k * 50_000_000, 0.001).unwrap();
    }
    rec.log_ground_truth(&[[0.0, 0.0, 1.0], [0.2, 0.0, 1.0]])
        .unwrap();
    let params = OccupancyParams::default();
    let mut map = FixedMap::fixed(0.1, &params).unwrap();
    for x in 0..4 {
        let k = CellKey { x, y: 1, z: 10 };
        for _ in 0..5 {
            map.update_cell(k, true);
        }
    }
    rec.log_map(t0, &map, None).unwrap();
    let grid = Grid2::new(
        [-5, -5],
        10,
        10,
        3,
        0.1,
        QuantizedModel::new(&params).unwrap(),
    )
    .unwrap();
    let plan = Plan {
        goal: (7, 7),
        path: vec![(2, 2), (5, 5), (7, 7)],
        length_m: 0.7,
        gain_bits: Some(3.0),
        candidates: 2,
        yaw_rad: None,
    };
    let candidates = [
        ScoredCandidate {
            cell: (7, 7),
            gain_bits: 3.0,
            utility: 2.5,
            yaw_rad: None,
        },
        ScoredCandidate {
            cell: (2, 7),
            gain_bits: 1.0,
            utility: 0.9,
            yaw_rad: None,
        },
    ];
    let points = [Vector3::new(0.1, 0.2, 0.5)];
    rec.log_explore(
        "mi",
        &ExploreEvent::Scan {
            time_s: 0.0,
            position: [-0.25, -0.25],
            points: &points,
            range_m: 5.0,
            grid: &grid,
            coverage: 0.1,
        },
    )
    .unwrap();
    rec.log_explore(
        "mi",
        &ExploreEvent::Plan {
            time_s: 0.5,
            robot: (2, 2),
            plan: Some(&plan),
            candidates: &candidates,
            grid: &grid,
        },
    )
    .unwrap();
    rec.flush().unwrap();
    drop(rec);

    let contents = read_contents(&path).unwrap();
    assert!(contents.has_blueprint, "no blueprint in the recording");
    for timeline in ["t_ns", "explore_time"] {
        assert!(
            contents.timelines.contains(timeline),
            "no timeline {timeline}: {contents:?}"
        );
    }
    let rows = |p: &str| contents.rows_at(p);
    for p in [
        paths::IMAGES[0],
        paths::IMAGES[1],
        paths::TRACKS,
        paths::MATCHES,
        paths::LANDMARKS,
        paths::BODY,
    ] {
        assert_eq!(rows(p), 3, "{p}: {contents:?}");
    }
    assert_eq!(rows(paths::TRAJECTORY), 3);
    // The static rig and ground truth; the charts' styles.
    for p in [
        paths::CAMERAS[0],
        paths::CAMERAS[1],
        paths::GROUND_TRUTH,
        paths::WORLD,
        paths::ATE,
        "stats/coverage/mi",
    ] {
        assert!(
            contents.static_entities.contains(p),
            "{p} not static: {contents:?}"
        );
    }
    for p in [paths::TAILS, paths::VOXELS] {
        assert!(rows(p) >= 1, "{p} missing: {contents:?}");
    }
    for p in [
        "stats/time_ms/frontend",
        "stats/dram_kB/frontend",
        "stats/energy_uJ/frontend",
        paths::ATE,
    ] {
        assert_eq!(rows(p), 3, "{p}");
    }
    for p in ["map", "mi", "goal", "path", "travelled", "robot", "scan"] {
        assert_eq!(
            rows(&format!("explore/mi/{p}")),
            1,
            "explore/mi/{p}: {contents:?}"
        );
    }
    assert_eq!(rows("stats/coverage/mi"), 1);
}

#[test]
fn bad_sinks_are_refused_with_their_path_or_address() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no/such/folder/run.rrd");
    let err = Recorder::new("scout-test", &[Sink::File(missing.clone())]).unwrap_err();
    assert!(matches!(err, RecordingError::File { .. }), "{err}");
    assert!(err.to_string().contains("run.rrd"), "{err}");
    let err = Recorder::new(
        "scout-test",
        &[Sink::Connect("not an address at all".into())],
    )
    .unwrap_err();
    assert!(err.to_string().contains("not an address at all"), "{err}");
    assert!(Recorder::new("scout-test", &[]).is_err());
}

#[test]
fn a_file_that_is_not_a_recording_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fake.rrd");
    std::fs::write(&path, b"this is not a recording").unwrap();
    let err = read_contents(&path).unwrap_err();
    assert!(err.to_string().contains("fake.rrd"), "{err}");
}
