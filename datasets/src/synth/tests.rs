//! Tests of whole synthetic sequences: trajectory constraints over seeds and
//! difficulties, image richness, geometric consistency of the rendering with the
//! calibration, determinism, time alignment; and (ignored) timing and a PNG dump.

use nalgebra::{Isometry3, Point3, Translation3, UnitQuaternion, Vector2, Vector3};

use super::render::{CameraRenderer, RenderConfig, RenderScratch};
use super::rng::Rng;
use super::texture::{SceneTextures, TextureConfig};
use super::world::{Aabb, World};
use super::*;

fn short_config(seed: u64, difficulty: Difficulty, duration_s: f64) -> SynthConfig {
    SynthConfig {
        seed,
        difficulty,
        duration_s,
        ..SynthConfig::default()
    }
}

fn generate(cfg: &SynthConfig) -> SyntheticSequence {
    SyntheticSequence::generate(cfg).unwrap_or_else(|e| panic!("{e}"))
}

/// Shi-Tomasi corners: the smaller eigenvalue of the 5x5 structure tensor of
/// central-difference gradients above `threshold` (grey levels^2 summed over the
/// window), local maxima in 3x3, at least 8 px from the border.
fn shi_tomasi_corners(image: &GrayImage, threshold: f64) -> usize {
    let (w, h) = (image.width(), image.height());
    let px = |x: usize, y: usize| f64::from(image.data()[y * w + x]);
    let mut gxx = vec![0.0; w * h];
    let mut gyy = vec![0.0; w * h];
    let mut gxy = vec![0.0; w * h];
    for y in 1..h - 1 {
        for x in 1..w - 1 {
            let gx = 0.5 * (px(x + 1, y) - px(x - 1, y));
            let gy = 0.5 * (px(x, y + 1) - px(x, y - 1));
            gxx[y * w + x] = gx * gx;
            gyy[y * w + x] = gy * gy;
            gxy[y * w + x] = gx * gy;
        }
    }
    let mut score = vec![0.0; w * h];
    for y in 3..h - 3 {
        for x in 3..w - 3 {
            let (mut a, mut b, mut c) = (0.0, 0.0, 0.0);
            for dy in 0..5 {
                for dx in 0..5 {
                    let i = (y + dy - 2) * w + x + dx - 2;
                    a += gxx[i];
                    b += gxy[i];
                    c += gyy[i];
                }
            }
            let half_trace = 0.5 * (a + c);
            let det = a * c - b * b;
            score[y * w + x] = half_trace - (half_trace * half_trace - det).max(0.0).sqrt();
        }
    }
    let mut count = 0;
    for y in 8..h - 8 {
        for x in 8..w - 8 {
            let s = score[y * w + x];
            if s < threshold {
                continue;
            }
            let is_max = (0..3).all(|dy| {
                (0..3).all(|dx| (dx == 1 && dy == 1) || score[(y + dy - 1) * w + x + dx - 1] < s)
            });
            if is_max {
                count += 1;
            }
        }
    }
    count
}

/// Asserts that `s` keeps `cfg`'s speed, angular-rate and clearance limits,
/// its cameras a little nearer the surfaces than the body; returns its angular
/// rate (rad/s) and clearance (m).
fn assert_within_limits(
    world: &World,
    cfg: &SynthConfig,
    s: &KinematicState,
    what: &str,
) -> (f64, f64) {
    let profile = cfg.resolved_profile();
    let t = s.t_s;
    let speed = s.velocity.norm();
    let rate = s.angular_velocity_body.norm();
    assert!(
        speed <= profile.speed_m_s[1] + 1e-9 && speed <= 1.5 + 1e-9,
        "{what} t {t}: speed {speed}"
    );
    assert!(
        rate <= profile.max_angular_rate_rad_s,
        "{what} t {t}: rate {rate}"
    );
    let d = world.signed_distance(&s.position);
    assert!(d >= cfg.clearance_m, "{what} t {t}: clearance {d}");
    for calibration in [
        CameraCalibration::euroc_cam0(),
        CameraCalibration::euroc_cam1(),
    ] {
        let cam = s.world_from_body * calibration.body_from_cam;
        assert!(
            world.signed_distance(&cam.translation.vector) > cfg.clearance_m - 0.15,
            "{what} t {t}: camera too near a surface"
        );
    }
    (rate, d)
}

#[test]
fn trajectories_respect_hover_speed_rate_and_clearance_limits() {
    for difficulty in [Difficulty::Easy, Difficulty::Medium, Difficulty::Hard] {
        let (mut peak_speed, mut peak_rate, mut min_clearance) = (0.0_f64, 0.0_f64, f64::MAX);
        for seed in 0..4 {
            let cfg = short_config(seed, difficulty, 30.0);
            let what = format!("{difficulty} seed {seed}");
            let world =
                World::generate(&cfg.world_config(), seed).unwrap_or_else(|e| panic!("{e}"));
            let traj = Trajectory::generate(&world, &cfg.trajectory_config(), seed)
                .unwrap_or_else(|e| panic!("{difficulty} seed {seed}: {e}"));
            let start = traj.state(0.0);
            let mut seq_peak_speed = 0.0_f64;
            let mut moving_time = 0.0;
            for k in 0..=6000 {
                let t = k as f64 * 0.005;
                let s = traj.state(t);
                if t <= cfg.hover_s {
                    assert!(
                        (s.position - start.position).norm() < 1e-12,
                        "{difficulty} {seed} t {t}"
                    );
                    assert!(s.velocity.norm() < 1e-12 && s.angular_velocity_body.norm() < 1e-12);
                } else {
                    seq_peak_speed = seq_peak_speed.max(s.velocity.norm());
                    if s.velocity.norm() > 0.1 {
                        moving_time += 0.005;
                    }
                }
                let (rate, d) = assert_within_limits(&world, &cfg, &s, &what);
                peak_rate = peak_rate.max(rate);
                min_clearance = min_clearance.min(d);
            }
            assert!(
                seq_peak_speed >= 0.3,
                "{difficulty} seed {seed}: peak {seq_peak_speed}"
            );
            assert!(
                moving_time > 0.8 * (30.0 - cfg.hover_s),
                "{difficulty} {seed}: {moving_time}"
            );
            peak_speed = peak_speed.max(seq_peak_speed);
        }
        println!(
            "{difficulty}: peak speed {peak_speed:.2} m/s, peak rate {peak_rate:.2} rad/s, \
             min clearance {min_clearance:.3} m"
        );
    }
}

/// The share of `traj`'s poses from `from_s` on (sampled every 50 ms) with an
/// earlier pose, at least 5 s earlier, within 0.3 m and 0.3 rad of it: places
/// seen again from about the same viewpoint.
fn revisited_share(traj: &Trajectory, from_s: f64) -> f64 {
    let poses: Vec<KinematicState> = (0..)
        .map(|k| f64::from(k) * 0.05)
        .take_while(|&t| t <= traj.duration_s())
        .map(|t| traj.state(t))
        .collect();
    let late: Vec<&KinematicState> = poses.iter().filter(|s| s.t_s >= from_s).collect();
    let revisits = late
        .iter()
        .filter(|s| {
            poses.iter().take_while(|e| e.t_s <= s.t_s - 5.0).any(|e| {
                (e.position - s.position).norm() <= 0.3
                    && e.world_from_body
                        .rotation
                        .angle_to(&s.world_from_body.rotation)
                        <= 0.3
            })
        })
        .count();
    revisits as f64 / late.len().max(1) as f64
}

#[test]
fn out_and_back_flights_see_their_places_again_within_the_limits() {
    let duration_s = 40.0;
    for seed in 0..4 {
        let wander_cfg = short_config(seed, Difficulty::Medium, duration_s);
        let cfg = SynthConfig {
            route: Route::OutAndBack,
            ..wander_cfg.clone()
        };
        let what = format!("out-and-back seed {seed}");
        let world = World::generate(&cfg.world_config(), seed).unwrap_or_else(|e| panic!("{e}"));
        let traj = Trajectory::generate(&world, &cfg.trajectory_config(), seed)
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        let wander = Trajectory::generate(&world, &wander_cfg.trajectory_config(), seed)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!((traj.duration_s() - duration_s).abs() < 1e-12);
        for k in 0..=8000 {
            let s = traj.state(f64::from(k) * 0.005);
            if s.t_s <= cfg.hover_s {
                // The hover is the random walk's, untouched.
                assert_eq!(s, wander.state(s.t_s), "{what} t {}", s.t_s);
            }
            assert_within_limits(&world, &cfg, &s, &what);
        }
        // After the first leg (a third of the flight after the hover), most
        // poses repeat an earlier one; the random walk's hardly ever do.
        let first_leg_end = cfg.hover_s + (duration_s - cfg.hover_s) / 3.0;
        let share = revisited_share(&traj, first_leg_end);
        let wander_share = revisited_share(&wander, first_leg_end);
        println!("seed {seed}: revisited {share:.3} (random walk {wander_share:.3})");
        assert!(share > 0.75, "{what}: {share}");
        assert!(
            wander_share < 0.2,
            "seed {seed}: random walk {wander_share}"
        );
    }
}

#[test]
fn the_default_route_is_the_random_walk_and_every_route_is_deterministic() {
    assert_eq!(SynthConfig::default().route, Route::Wander);
    assert_eq!(TrajectoryConfig::default().route, Route::Wander);
    for (seed, difficulty) in [
        (0, Difficulty::Easy),
        (5, Difficulty::Medium),
        (9, Difficulty::Hard),
    ] {
        let cfg = short_config(seed, difficulty, 30.0);
        let world = World::generate(&cfg.world_config(), seed).unwrap_or_else(|e| panic!("{e}"));
        let make = |route: Route, seed: u64| {
            let cfg = SynthConfig {
                route,
                ..cfg.clone()
            };
            Trajectory::generate(&world, &cfg.trajectory_config(), seed)
                .unwrap_or_else(|e| panic!("{route} seed {seed}: {e}"))
        };
        let default = Trajectory::generate(&world, &cfg.trajectory_config(), seed)
            .unwrap_or_else(|e| panic!("{e}"));
        let wander = make(Route::Wander, seed);
        assert_eq!(default.control_points(), wander.control_points());
        assert_eq!(default, wander);
        let there_and_back = make(Route::OutAndBack, seed);
        assert_eq!(there_and_back, make(Route::OutAndBack, seed));
        assert_ne!(there_and_back.control_points(), wander.control_points());
        assert_ne!(
            there_and_back.control_points(),
            make(Route::OutAndBack, seed + 1).control_points()
        );
    }
}

#[test]
fn frames_and_imu_are_aligned_and_ground_truth_is_exact() {
    let seq = generate(&SynthConfig {
        texel_size_m: 0.02,
        ..short_config(11, Difficulty::Medium, 4.0)
    });
    assert_eq!(seq.frame_count(), 80);
    assert_eq!(seq.imu.len(), 800);
    assert_eq!(seq.frame_times_ns[0], 1_403_715_273_262_142_976);
    for (i, (gt, &t)) in seq.ground_truth.iter().zip(&seq.frame_times_ns).enumerate() {
        assert_eq!(gt.t_ns, t);
        assert_eq!(seq.imu[i * 10].t_ns, t, "every frame time is an IMU time");
        assert_eq!(gt.bias, Some(seq.imu_bias[i * 10]));
        if i > 0 {
            assert_eq!(t - seq.frame_times_ns[i - 1], 50_000_000);
        }
    }
    for w in seq.imu.windows(2) {
        assert_eq!(w[1].t_ns - w[0].t_ns, 5_000_000);
    }
    let first = &seq.ground_truth[0];
    let exact = seq.trajectory.state(0.0);
    assert_eq!(first.world_from_body, exact.world_from_body);
    assert_eq!(first.v_world, Some(Vector3::zeros()));
    // The hover's accelerometer reads gravity plus the initial bias (plus noise).
    let f = seq.imu[0].accel - seq.imu_bias[0].accel;
    let g_body = exact.world_from_body.rotation.inverse() * Vector3::new(0.0, 0.0, 9.81);
    assert!((f - g_body).norm() < 0.05, "{f:?} vs {g_body:?}");
    // state_at agrees with the ground truth at frame times.
    let s = seq.state_at(seq.frame_times_ns[7]);
    assert_eq!(s.world_from_body, seq.ground_truth[7].world_from_body);
    assert_eq!(s.bias, seq.ground_truth[7].bias);
}

#[test]
fn rendered_images_are_textured_with_many_corners_and_not_saturated() {
    for difficulty in [Difficulty::Easy, Difficulty::Hard] {
        let seq = generate(&short_config(3, difficulty, 6.0));
        let mut frame = seq.new_frame();
        for index in [0, 70, 110] {
            seq.render_stereo(index, &mut frame)
                .unwrap_or_else(|e| panic!("{e}"));
            for image in [&frame.left, &frame.right] {
                let corners = shi_tomasi_corners(image, 1000.0);
                let n = image.data().len() as f64;
                let saturated =
                    image.data().iter().filter(|&&v| v == 0 || v == 255).count() as f64 / n;
                let mean = image.mean();
                println!(
                    "{difficulty} frame {index}: {corners} corners, mean {mean:.0}, saturated {saturated:.4}"
                );
                assert!(
                    corners > 200,
                    "{difficulty} frame {index}: only {corners} corners"
                );
                assert!(
                    saturated < 0.02,
                    "{difficulty} frame {index}: {saturated} saturated"
                );
                assert!(
                    (40.0..200.0).contains(&mean),
                    "{difficulty} frame {index}: mean {mean}"
                );
            }
        }
    }
}

/// An empty room with textures, and a camera facing its x = 2 wall from 1 m.
fn wall_scene() -> (World, SceneTextures, Isometry3<f64>) {
    let mut world = World::empty_room(Aabb::new(
        Vector3::new(-4.0, -3.0, 0.0),
        Vector3::new(2.0, 3.0, 3.0),
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    world.add_ceiling_lights(4, &mut Rng::from_seed(1));
    let textures = SceneTextures::generate(&world, &TextureConfig::default(), 9)
        .unwrap_or_else(|e| panic!("{e}"));
    // Camera z along world +x, camera x along world -y, camera y along world -z.
    let r = nalgebra::Matrix3::from_columns(&[-Vector3::y(), -Vector3::z(), Vector3::x()]);
    let world_from_cam = Isometry3::from_parts(
        Translation3::new(1.0, 0.2, 1.4),
        UnitQuaternion::from_matrix(&r),
    );
    (world, textures, world_from_cam)
}

#[test]
fn rendering_through_the_distorted_lens_samples_the_wall_where_the_model_says() {
    let (world, textures, world_from_cam) = wall_scene();
    let cam = CameraCalibration::euroc_cam0();
    let cfg = RenderConfig {
        noise_sigma: 0.0,
        vignetting: 0.0,
        ..RenderConfig::default()
    };
    let renderer = CameraRenderer::new(&cam, &cfg).unwrap_or_else(|e| panic!("{e}"));
    let mut image = GrayImage::new(cam.width, cam.height);
    renderer
        .render(
            &world,
            &textures,
            &world_from_cam,
            1.0,
            0,
            &mut RenderScratch::new(),
            &mut image,
        )
        .unwrap_or_else(|e| panic!("{e}"));
    let wall = &textures.surfaces[1]; // x-max wall
    let mut checked = 0;
    for v in (20..460).step_by(37) {
        for u in (20..730).step_by(41) {
            // Independently of the renderer: the pixel's bearing from the camera
            // model, the wall plane x = 2 intersected analytically.
            let bearing = cam
                .unproject(Vector2::new(u as f64, v as f64))
                .unwrap_or_else(|| panic!("unproject"));
            let dir = world_from_cam.rotation * bearing;
            let o = world_from_cam.translation.vector;
            let t = (2.0 - o.x) / dir.x;
            let p = o + dir * t;
            // Near the axis (incidence under 32 deg) one trilinear sample is taken.
            if !(p.z > 0.05 && p.z < 2.95 && p.y.abs() < 2.95 && bearing.z > 0.85) {
                continue;
            }
            let hit = renderer
                .cast_pixel(&world, &world_from_cam, u, v)
                .unwrap_or_else(|| panic!("no hit"));
            assert_eq!(hit.surface, 1);
            assert!(
                (hit.distance - t).abs() < 1e-9,
                "depth {} vs plane {t}",
                hit.distance
            );
            // Close and head-on: the footprint is below a texel, so level 0 is used.
            let expected = wall.levels()[0].bilinear(p.y as f32 + 3.0, p.z as f32);
            let got = f32::from(image.data()[v * cam.width + u]);
            assert!(
                (got - expected).abs() <= 1.01,
                "({u}, {v}): {got} vs {expected}"
            );
            checked += 1;
        }
    }
    assert!(checked > 100, "{checked}");
}

/// Zero-mean normalized cross-correlation of 9x9 patches, the right one sampled
/// bilinearly at a sub-pixel centre; `None` for flat patches.
fn ncc(left: &GrayImage, l: (usize, usize), right: &GrayImage, r: Vector2<f64>) -> Option<f64> {
    let bilinear = |img: &GrayImage, x: f64, y: f64| {
        let (x0, y0) = (x.floor() as usize, y.floor() as usize);
        let (fx, fy) = (x - x0 as f64, y - y0 as f64);
        let at = |x: usize, y: usize| f64::from(img.data()[y * img.width() + x]);
        let top = at(x0, y0) * (1.0 - fx) + at(x0 + 1, y0) * fx;
        let bottom = at(x0, y0 + 1) * (1.0 - fx) + at(x0 + 1, y0 + 1) * fx;
        top * (1.0 - fy) + bottom * fy
    };
    let mut a = Vec::with_capacity(81);
    let mut b = Vec::with_capacity(81);
    for dy in -4..=4 {
        for dx in -4..=4 {
            a.push(f64::from(
                left.data()[(l.1 as i64 + dy) as usize * left.width() + (l.0 as i64 + dx) as usize],
            ));
            b.push(bilinear(right, r.x + dx as f64, r.y + dy as f64));
        }
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let (ma, mb) = (mean(&a), mean(&b));
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(&b) {
        sab += (x - ma) * (y - mb);
        saa += (x - ma) * (x - ma);
        sbb += (y - mb) * (y - mb);
    }
    (saa > 81.0 * 25.0 && sbb > 81.0 * 25.0).then(|| sab / (saa * sbb).sqrt())
}

#[test]
fn left_pixels_reprojected_into_the_right_camera_look_the_same() {
    let seq = generate(&short_config(5, Difficulty::Medium, 5.0));
    let mut frame = seq.new_frame();
    let index = 60;
    seq.render_stereo(index, &mut frame)
        .unwrap_or_else(|e| panic!("{e}"));
    let world_from_body = seq.ground_truth[index].world_from_body;
    let (cam0, cam1) = (&seq.calibration.cam0, &seq.calibration.cam1);
    let world_from_cam0 = world_from_body * cam0.body_from_cam;
    let world_from_cam1 = world_from_body * cam1.body_from_cam;
    let renderer = seq.renderer(0).unwrap_or_else(|| panic!("renderer"));
    let (mut good, mut total, mut shifted_good) = (0, 0, 0);
    for v in (12..468).step_by(23) {
        for u in (12..740).step_by(23) {
            let Some(hit) = renderer.cast_pixel(&seq.world, &world_from_cam0, u, v) else {
                continue;
            };
            let bearing =
                world_from_cam0.rotation * renderer.ray(u, v).unwrap_or_else(|| panic!("ray"));
            let p_world = world_from_cam0.translation.vector + bearing * hit.distance;
            let p_cam1 = world_from_cam1.inverse() * Point3::from(p_world);
            let Some(uv1) = cam1.project(&p_cam1.coords) else {
                continue;
            };
            if !(uv1.x > 12.0 && uv1.y > 12.0 && uv1.x < 739.0 && uv1.y < 467.0) {
                continue;
            }
            // Skip points the right camera cannot see (occluded).
            let o1 = world_from_cam1.translation.vector;
            let d1 = (p_world - o1).normalize();
            let seen = seq.world.cast_ray(&Point3::from(o1), &d1, f64::INFINITY);
            if seen.is_none_or(|h| (h.distance - (p_world - o1).norm()).abs() > 1e-3) {
                continue;
            }
            let Some(score) = ncc(&frame.left, (u, v), &frame.right, uv1) else {
                continue;
            };
            total += 1;
            if score > 0.8 {
                good += 1;
            }
            let off = ncc(
                &frame.left,
                (u, v),
                &frame.right,
                uv1 + Vector2::new(3.0, 0.0),
            );
            if off.is_some_and(|s| s > 0.8) {
                shifted_good += 1;
            }
        }
    }
    println!(
        "stereo consistency: {good}/{total} patches with NCC > 0.8, {shifted_good} when shifted 3 px"
    );
    assert!(total > 200, "{total}");
    assert!(good as f64 > 0.9 * total as f64, "{good}/{total}");
    assert!(
        (shifted_good as f64) < 0.5 * good as f64,
        "{shifted_good} vs {good}"
    );
}

#[test]
fn same_seed_gives_identical_output_and_another_seed_does_not() {
    let cfg = SynthConfig {
        texel_size_m: 0.01,
        ..short_config(21, Difficulty::Hard, 3.0)
    };
    let a = generate(&cfg);
    let b = generate(&cfg);
    let c = generate(&SynthConfig {
        seed: 22,
        ..cfg.clone()
    });
    assert_eq!(a.imu, b.imu);
    assert_eq!(a.ground_truth, b.ground_truth);
    assert_ne!(a.imu, c.imu);
    let (mut fa, mut fb, mut fc) = (a.new_frame(), b.new_frame(), c.new_frame());
    // Rendering out of order and with separate scratch buffers changes nothing.
    a.render_stereo(30, &mut fa)
        .unwrap_or_else(|e| panic!("{e}"));
    b.render_stereo(5, &mut fb)
        .unwrap_or_else(|e| panic!("{e}"));
    b.render_stereo_with(30, &mut fb, &mut RenderScratch::new())
        .unwrap_or_else(|e| panic!("{e}"));
    c.render_stereo(30, &mut fc)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(fa, fb);
    assert_ne!(fa.left, fc.left);
    // A frame beyond the sequence is an error, not a panic.
    assert!(a.render_stereo(999, &mut fa).is_err());
}

#[test]
fn bad_configurations_are_rejected_with_a_reason() {
    let bad = [
        SynthConfig {
            camera_rate_hz: 0.0,
            ..SynthConfig::default()
        },
        SynthConfig {
            camera_rate_hz: 30.0,
            ..SynthConfig::default()
        }, // 33.3 ms is not whole ns
        SynthConfig {
            imu_rate_hz: 300.0,
            ..SynthConfig::default()
        }, // 50 ms / 3.33 ms
        SynthConfig {
            duration_s: 1.0,
            ..SynthConfig::default()
        },
        SynthConfig {
            texel_size_m: 0.0,
            duration_s: 3.0,
            ..SynthConfig::default()
        },
        SynthConfig {
            duration_s: f64::NAN,
            ..SynthConfig::default()
        },
    ];
    for cfg in bad {
        assert!(matches!(
            SyntheticSequence::generate(&cfg),
            Err(DatasetError::InvalidArgument(_))
        ));
    }
    assert_eq!("Hard".parse::<Difficulty>().ok(), Some(Difficulty::Hard));
    assert!("extreme".parse::<Difficulty>().is_err());
}

/// Timing, to run by hand in release on one core:
/// `cargo test -p datasets --release --lib synth -- --ignored --nocapture timing`.
/// Generates a 30 s medium sequence, renders 60 of its 600 pairs, and renders the
/// left camera with cheaper settings to show what each feature costs (best of 3).
#[test]
#[ignore = "timing; run in release by hand"]
fn timing_of_a_30_s_sequence() {
    let cfg = SynthConfig::default();
    let t0 = std::time::Instant::now();
    let seq = generate(&cfg);
    let generate_s = t0.elapsed().as_secs_f64();
    let world = World::generate(&cfg.world_config(), cfg.seed).unwrap_or_else(|e| panic!("{e}"));
    let t1 = std::time::Instant::now();
    let _textures = SceneTextures::generate(&world, &cfg.texture_config(), cfg.seed)
        .unwrap_or_else(|e| panic!("{e}"));
    let texture_s = t1.elapsed().as_secs_f64();
    let t2 = std::time::Instant::now();
    let _imu = imu::simulate_imu(
        &seq.trajectory,
        &seq.calibration.imu,
        &cfg.imu_noise,
        cfg.start_time_ns,
        5_000_000,
        seq.imu.len(),
        cfg.seed,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let imu_s = t2.elapsed().as_secs_f64();
    let mut frame = seq.new_frame();
    let n = 60;
    let mut per_pair = f64::MAX;
    for _ in 0..3 {
        let t3 = std::time::Instant::now();
        for i in 0..n {
            seq.render_stereo(i * 10, &mut frame)
                .unwrap_or_else(|e| panic!("{e}"));
        }
        per_pair = per_pair.min(t3.elapsed().as_secs_f64() / n as f64);
    }
    let pixels = 2.0 * (752.0 * 480.0);
    println!(
        "generate {generate_s:.2} s (textures {texture_s:.2} s, {} MB; IMU {} samples {:.1} ms); \
         render {:.1} ms per stereo pair ({:.1} ns/pixel); 600 pairs {:.1} s",
        seq.textures.bytes() / 1_000_000,
        seq.imu.len(),
        imu_s * 1e3,
        per_pair * 1e3,
        per_pair / pixels * 1e9,
        per_pair * 600.0,
    );
    let cam = &seq.calibration.cam0;
    let base = cfg.render_config();
    let variants = [
        ("default", base),
        (
            "max_anisotropy 2",
            RenderConfig {
                max_anisotropy: 2,
                ..base
            },
        ),
        (
            "max_anisotropy 1",
            RenderConfig {
                max_anisotropy: 1,
                ..base
            },
        ),
        (
            "no edge supersampling",
            RenderConfig {
                edge_supersampling: false,
                ..base
            },
        ),
        (
            "none of the three, no noise",
            RenderConfig {
                max_anisotropy: 1,
                edge_supersampling: false,
                noise_sigma: 0.0,
                ..base
            },
        ),
    ];
    let mut image = GrayImage::new(cam.width, cam.height);
    let mut scratch = RenderScratch::new();
    for (name, rc) in variants {
        let renderer = CameraRenderer::new(cam, &rc).unwrap_or_else(|e| panic!("{e}"));
        let mut best = f64::MAX;
        for _ in 0..3 {
            let t = std::time::Instant::now();
            for i in 0..n {
                let pose = seq.ground_truth[i * 10].world_from_body * cam.body_from_cam;
                renderer
                    .render(
                        &seq.world,
                        &seq.textures,
                        &pose,
                        1.25,
                        1,
                        &mut scratch,
                        &mut image,
                    )
                    .unwrap_or_else(|e| panic!("{e}"));
            }
            best = best.min(t.elapsed().as_secs_f64() / n as f64);
        }
        println!(
            "  left camera, {name}: {:.1} ns/pixel",
            best / (pixels / 2.0) * 1e9
        );
    }
}

/// Writes a rendered pair to `/tmp/synth_left.png` and `/tmp/synth_right.png`:
/// `cargo test -p datasets --lib synth::tests::write_png -- --ignored`; the
/// environment variables `SYNTH_SEED` (1), `SYNTH_DIFFICULTY` (medium) and
/// `SYNTH_FRAME` (80, of a 10 s sequence) choose the view.
#[test]
#[ignore = "writes files to /tmp for a look"]
fn write_png_of_a_rendered_pair() {
    let difficulty = std::env::var("SYNTH_DIFFICULTY")
        .ok()
        .and_then(|d| d.parse().ok())
        .unwrap_or(Difficulty::Medium);
    let seed = std::env::var("SYNTH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let index = std::env::var("SYNTH_FRAME")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(80);
    let seq = generate(&short_config(seed, difficulty, 10.0));
    let mut frame = seq.new_frame();
    seq.render_stereo(index, &mut frame)
        .unwrap_or_else(|e| panic!("{e}"));
    crate::png_io::write_gray_png(std::path::Path::new("/tmp/synth_left.png"), &frame.left)
        .unwrap_or_else(|e| panic!("{e}"));
    crate::png_io::write_gray_png(std::path::Path::new("/tmp/synth_right.png"), &frame.right)
        .unwrap_or_else(|e| panic!("{e}"));
    println!("{seq:?}");
}
