//! The map of a replayed sequence against the synthetic world it was rendered
//! from: dense stereo on keyframes into the int8 map, first with the exact
//! poses (the depth and the map alone), then with the VIO's poses through the
//! whole pipeline (aligned to the ground truth as the ATE is), built online
//! by the mapper stage and compared byte for byte with the map built after
//! the run from the same keyframes read again from disk.

use datasets::euroc::EurocDataset;
use datasets::synth::world::World;
use datasets::synth::{Difficulty, SynthConfig, SyntheticSequence};
use mapping::map::Occupancy;
use mapping::{FixedMap, io};
use nalgebra::{Point3, Vector3};
use pipeline::stages::{KeyframeMapper, MapConfig};
use pipeline::{
    EurocSource, PipelineConfig, PipelineMode, PipelineRun, StreamConfig, run_pipeline,
    run_sequential,
};
use scout::eval::align::{Alignment, align};
use scout::synthetic::write_synthetic_sequence;
use vio::backend::TrackingStatus;

fn config() -> SynthConfig {
    SynthConfig {
        seed: 5,
        duration_s: 3.0,
        difficulty: Difficulty::Medium,
        ..SynthConfig::default()
    }
}

/// How the map's observed cells agree with the world.
#[derive(Debug)]
struct Agreement {
    occupied: usize,
    /// Occupied cells within `tolerance` of a surface.
    occupied_on_surface: usize,
    /// Occupied cells whose centre is more than half a cell diagonal from
    /// every surface, in free space.
    occupied_in_free: usize,
    /// Observed cells whose centre is in free space that far.
    truly_free: usize,
    free: usize,
    /// Free cells wholly inside an obstacle or a wall.
    free_inside: usize,
}

/// Compares every observed cell's centre, carried into the world's frame by
/// `world_from_map`, with the world's signed distance.
fn agreement(
    map: &FixedMap,
    world: &World,
    world_from_map: &dyn Fn(&Vector3<f64>) -> Vector3<f64>,
    tolerance: f64,
) -> Agreement {
    let half_diagonal = map.resolution() * 3f64.sqrt() / 2.0;
    let mut a = Agreement {
        occupied: 0,
        occupied_on_surface: 0,
        occupied_in_free: 0,
        truly_free: 0,
        free: 0,
        free_inside: 0,
    };
    for (brick, cells) in map.bricks() {
        for i in 0..cells.len() {
            let k = FixedMap::key_in_brick(brick, i);
            let d = world.signed_distance(&world_from_map(&map.center(k)));
            let occupancy = map.occupancy(k);
            if occupancy != Occupancy::Unknown && d > half_diagonal {
                a.truly_free += 1;
                a.occupied_in_free += usize::from(occupancy == Occupancy::Occupied);
            }
            match occupancy {
                Occupancy::Occupied => {
                    a.occupied += 1;
                    a.occupied_on_surface += usize::from(d.abs() <= tolerance);
                }
                Occupancy::Free => {
                    a.free += 1;
                    a.free_inside += usize::from(d < -half_diagonal);
                }
                Occupancy::Unknown => {}
            }
        }
    }
    a
}

/// The map of the sequence's keyframes (every 0.25 s) at their exact poses.
fn exact_pose_map(seq: &SyntheticSequence, config: &MapConfig) -> Agreement {
    let mut mapper =
        KeyframeMapper::new(config, &seq.calibration).unwrap_or_else(|e| panic!("{e:#}"));
    let mut frame = seq.new_frame();
    for i in (0..seq.frame_count()).step_by(5) {
        seq.render_stereo(i, &mut frame)
            .unwrap_or_else(|e| panic!("{e}"));
        let pose = seq.pose_at(frame.t_ns);
        mapper
            .integrate(i, &frame, &pose)
            .unwrap_or_else(|e| panic!("{e:#}"));
    }
    agreement(mapper.map(), &seq.world, &|p| *p, 0.1)
}

impl Agreement {
    fn print(&self, label: &str) -> (f64, f64, f64) {
        let on_surface = self.occupied_on_surface as f64 / self.occupied as f64;
        let in_free = self.occupied_in_free as f64 / self.truly_free as f64;
        let inside = self.free_inside as f64 / self.free as f64;
        println!(
            "{label}: {self:?}\n  occupied within 10 cm of a surface {on_surface:.4}, \
             truly free cells occupied {in_free:.5}, free cells inside {inside:.5}"
        );
        (on_surface, in_free, inside)
    }
}

#[test]
fn stereo_map_with_exact_poses_lies_on_the_world_surfaces() {
    let seq = SyntheticSequence::generate(&config()).unwrap_or_else(|e| panic!("{e}"));
    let a = exact_pose_map(&seq, &MapConfig::default());
    let (on_surface, in_free, inside) = a.print("exact poses");
    assert!(a.occupied > 1000 && a.free > 100_000, "{a:?}");
    // Measured 0.872, 0.0022 and 0.0053: half-resolution stereo's depth
    // error grows as z^2 (about 10 cm at the 4 m range).
    assert!(on_surface > 0.86, "{a:?}");
    assert!(in_free < 0.004, "{a:?}");
    assert!(inside < 0.007, "{a:?}");
    // OctoMap's rule at every range (measured 0.895, 0.0100, 0.0029): the
    // sharp range is what keeps the free cells in front of far surfaces
    // free, for a little of the surface (its far cells left undecided).
    let octomap = exact_pose_map(
        &seq,
        &MapConfig {
            sharp_range_m: f64::INFINITY,
            ..MapConfig::default()
        },
    );
    let (_, octomap_in_free, _) = octomap.print("exact poses, OctoMap's rule");
    assert!(in_free * 3.0 < octomap_in_free, "{a:?} {octomap:?}");
}

#[test]
fn replayed_map_with_vio_poses_lies_on_the_world_surfaces() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let dir = tmp.path().join("seq");
    write_synthetic_sequence(&config(), &dir, 2, |_, _| {}).unwrap_or_else(|e| panic!("{e:#}"));
    let ds = EurocDataset::open(&dir).unwrap_or_else(|e| panic!("{e}"));
    let lead = StreamConfig::default().imu_lead_ns();
    let pipeline_config = PipelineConfig::default();
    let mut run = run_sequential(&mut EurocSource::new(&ds, lead), &pipeline_config, |_| {})
        .unwrap_or_else(|e| panic!("{e}"));
    let out = tmp.path().join("out");
    std::fs::create_dir_all(&out).unwrap_or_else(|e| panic!("{e}"));
    let online = run.mapper.as_mut().unwrap_or_else(|| panic!("no map"));
    let summary = online.write(&out).unwrap_or_else(|e| panic!("{e:#}"));
    assert!(summary.keyframes >= 5, "{summary:?}");
    assert_eq!(run.map_records.len(), summary.keyframes);

    // The same map, byte for byte, as the one built after the run from the
    // keyframes' pairs read and decoded again (the way `scout replay` built
    // it before the mapper was a stage), and as the threaded pipeline's.
    let post_hoc = post_hoc_map(&ds, &run);
    let bytes = |map: &FixedMap, name: &str| {
        let path = tmp.path().join(name);
        io::save(map, &path).unwrap_or_else(|e| panic!("{e}"));
        std::fs::read(&path).unwrap_or_else(|e| panic!("{e}"))
    };
    let online_bytes = bytes(
        run.mapper.as_ref().map_or_else(|| panic!(), |m| m.map()),
        "a.bin",
    );
    assert_eq!(online_bytes, bytes(&post_hoc, "b.bin"));
    let threaded = run_pipeline(
        &mut EurocSource::new(&ds, lead),
        &pipeline_config,
        PipelineMode::Deterministic,
        |_| {},
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(threaded.same_output(&run));
    let threaded_map = threaded
        .mapper
        .as_ref()
        .map_or_else(|| panic!(), |m| m.map());
    assert_eq!(online_bytes, bytes(threaded_map, "c.bin"));
    for f in ["map.bin", "map.png", "map.ply", "map.json"] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    let map = io::load(out.join("map.bin")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(map.brick_count(), summary.bricks);

    // The VIO's world frame onto the synthetic one, from the tracked poses.
    let seq = SyntheticSequence::generate(&config()).unwrap_or_else(|e| panic!("{e}"));
    let (est, gt): (Vec<Point3<f64>>, Vec<Point3<f64>>) = run
        .records
        .iter()
        .filter(|r| r.estimate.status == TrackingStatus::Tracking && r.estimate.session == 1)
        .map(|r| {
            (
                Point3::from(r.estimate.world_from_body.translation.vector),
                Point3::from(seq.pose_at(r.t_ns).translation.vector),
            )
        })
        .unzip();
    let t = align(Alignment::PosYaw, &est, &gt).unwrap_or_else(|e| panic!("{e}"));
    let a = agreement(
        &map,
        &seq.world,
        &|p| t.transform_point(&Point3::from(*p)).coords,
        0.1,
    );
    let (on_surface, in_free, inside) = a.print("VIO poses");
    // Measured 0.833, 0.0027 and 0.0087 (OctoMap's rule: 0.868, 0.0124,
    // 0.0043).
    assert!(on_surface > 0.82, "{a:?}");
    assert!(in_free < 0.005, "{a:?}");
    assert!(inside < 0.011, "{a:?}");
}

/// The map of a run's keyframes (tracking, first session) built after the
/// run, each pair read and decoded again from the sequence.
fn post_hoc_map(ds: &EurocDataset, run: &PipelineRun) -> FixedMap {
    let mut mapper = KeyframeMapper::new(&MapConfig::default(), ds.calibration())
        .unwrap_or_else(|e| panic!("{e}"));
    let first_session = run
        .records
        .iter()
        .find(|r| r.estimate.status == TrackingStatus::Tracking)
        .map(|r| r.estimate.session);
    let mut frame = datasets::StereoFrame {
        t_ns: 0,
        left: datasets::GrayImage::new(0, 0),
        right: datasets::GrayImage::new(0, 0),
    };
    for r in &run.records {
        let e = &r.estimate;
        if e.keyframe && e.status == TrackingStatus::Tracking && Some(e.session) == first_session {
            ds.load_stereo_into(r.index, &mut frame)
                .unwrap_or_else(|e| panic!("{e}"));
            mapper
                .integrate(r.index, &frame, &e.world_from_body)
                .unwrap_or_else(|e| panic!("{e}"));
        }
    }
    mapper.map().clone()
}
