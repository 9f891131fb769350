//! Scan insertion into the int8 map beside the f32 map (the same code with f32
//! cells), on the same simulated depth scans in the same run: cell updates per
//! second, their ratio, and bytes per allocated cell.
//!
//! `cargo bench -p mapping --bench map_insert` (`-- report-only` for the report
//! alone). Scans: a 320 x 240 depth camera (87 degrees, 6 m, noise-free) looking
//! forward from the body of a synthetic medium flight (seed 1), one scan every
//! half second, into a 5 cm map with a 5 m maximum range. The machine is shared:
//! compare the two maps within a run.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};
use datasets::CameraCalibration;
use datasets::synth::SynthConfig;
use datasets::synth::range::{DepthCamera, DepthCameraConfig, DepthImage};
use datasets::synth::rng::Rng;
use datasets::synth::trajectory::Trajectory;
use datasets::synth::world::World;
use mapping::map::CellModel;
use mapping::{FixedMap, FloatMap, FreeSpace, OccupancyMap, OccupancyParams, ScanInserter};
use nalgebra::Vector3;

const RESOLUTION: f64 = 0.05;
const MAX_RANGE: f64 = 5.0;

type Scan = (Vector3<f64>, Vec<Vector3<f64>>);

fn scans() -> Result<Vec<Scan>, Box<dyn std::error::Error>> {
    let cfg = SynthConfig {
        seed: 1,
        duration_s: 30.0,
        ..SynthConfig::default()
    };
    let world = World::generate(&cfg.world_config(), cfg.seed)?;
    let trajectory = Trajectory::generate(&world, &cfg.trajectory_config(), cfg.seed)?;
    let camera_cfg = DepthCameraConfig {
        width: 320,
        height: 240,
        ..DepthCameraConfig::default()
    }
    .noise_free();
    let camera = DepthCamera::new(&camera_cfg)?;
    let k = camera.intrinsics();
    let body_from_cam = CameraCalibration::euroc_cam0().body_from_cam;
    let mut rng = Rng::from_seed(1);
    let mut image = DepthImage::default();
    let mut out = Vec::new();
    let mut t = 0.0;
    while t < trajectory.duration_s() {
        let world_from_cam = trajectory.state(t).world_from_body * body_from_cam;
        camera.capture(&world, &world_from_cam, &mut rng, &mut image);
        let mut points = Vec::with_capacity(image.depth_m.len());
        for y in 0..image.height {
            for x in 0..image.width {
                let d = image.depth_m[y * image.width + x];
                let bearing = Vector3::new((x as f64 - k.cx) / k.fx, (y as f64 - k.cy) / k.fy, 1.0);
                let p_cam = if d.is_finite() {
                    bearing * f64::from(d)
                } else if d.is_infinite() {
                    // Nothing within range: a free ray to beyond the maximum.
                    bearing * (2.0 * camera_cfg.max_range_m)
                } else {
                    continue;
                };
                points.push(world_from_cam * nalgebra::Point3::from(p_cam));
            }
        }
        out.push((
            world_from_cam.translation.vector,
            points.into_iter().map(|p| p.coords).collect(),
        ));
        t += 0.5;
    }
    Ok(out)
}

/// Inserts every scan; returns (cell updates applied, cells traversed).
fn insert_all<M: CellModel>(
    map: &mut OccupancyMap<M>,
    scans: &[Scan],
    mode: FreeSpace,
) -> (usize, usize) {
    let mut ins = ScanInserter::with_mode(mode);
    scans.iter().fold((0, 0), |(u, t), (o, p)| {
        let s = ins.insert(map, o, p, MAX_RANGE);
        (u + s.updates(), t + s.cells_traversed)
    })
}

fn report(scans: &[Scan]) -> Result<(), Box<dyn std::error::Error>> {
    let params = OccupancyParams::default();
    let points: usize = scans.iter().map(|s| s.1.len()).sum();
    println!(
        "\n{} scans, {points} rays, {RESOLUTION} m cells, {MAX_RANGE} m maximum range",
        scans.len()
    );
    let rate = |n: usize, d: Duration| n as f64 / d.as_secs_f64() * 1e-6;
    let mut fixed_bytes = (0, 0);
    let mut exact_updates = 0;
    for mode in [FreeSpace::Exact, FreeSpace::Discretized] {
        let mut best = [Duration::MAX; 2];
        let mut updates = (0, 0);
        for _ in 0..3 {
            let mut fixed = FixedMap::fixed(RESOLUTION, &params)?;
            let start = Instant::now();
            updates = insert_all(&mut fixed, scans, mode);
            best[0] = best[0].min(start.elapsed());
            fixed_bytes = (fixed.memory_bytes(), fixed.allocated_cells());
            let mut float = FloatMap::float(RESOLUTION, &params)?;
            let start = Instant::now();
            insert_all(&mut float, scans, mode);
            best[1] = best[1].min(start.elapsed());
        }
        if mode == FreeSpace::Exact {
            exact_updates = updates.0;
        }
        println!(
            "  {mode:?}: {:.4} of the exact mode's cell updates",
            updates.0 as f64 / exact_updates.max(1) as f64
        );
        for (name, d) in [("int8 map", best[0]), ("f32 map ", best[1])] {
            println!(
                "    {name}   {:.1} M cell updates/s, {:.1} M cells traversed/s ({} updates, {} traversed, {:.1} ms)",
                rate(updates.0, d),
                rate(updates.1, d),
                updates.0,
                updates.1,
                d.as_secs_f64() * 1e3
            );
        }
        println!(
            "    ratio      int8 / f32 throughput {:.2}",
            best[1].as_secs_f64() / best[0].as_secs_f64()
        );
    }
    println!(
        "  memory     {:.3} bytes per allocated cell ({} cells, {:.1} MB)",
        fixed_bytes.0 as f64 / fixed_bytes.1.max(1) as f64,
        fixed_bytes.1,
        fixed_bytes.0 as f64 * 1e-6
    );
    Ok(())
}

fn map_insert(c: &mut Criterion) {
    let scans = match scans() {
        Ok(s) => s,
        Err(e) => {
            println!("could not simulate the scans: {e}");
            return;
        }
    };
    if let Err(e) = report(&scans) {
        println!("report failed: {e}");
    }
    let params = OccupancyParams::default();
    let mut group = c.benchmark_group("map_insert");
    group.sampling_mode(SamplingMode::Flat).sample_size(10);
    group.bench_function("int8", |b| {
        b.iter(|| {
            FixedMap::fixed(RESOLUTION, &params)
                .map(|mut m| insert_all(&mut m, black_box(&scans), FreeSpace::Exact).0)
                .unwrap_or(0)
        });
    });
    group.bench_function("f32", |b| {
        b.iter(|| {
            FloatMap::float(RESOLUTION, &params)
                .map(|mut m| insert_all(&mut m, black_box(&scans), FreeSpace::Exact).0)
                .unwrap_or(0)
        });
    });
    group.finish();
}

criterion_group!(benches, map_insert);
criterion_main!(benches);
