//! Range scans in a plain binary file, and simulated depth-camera scans to
//! fill one, so that this map and other mapping libraries (OctoMap, ...) can
//! be run on identical input (`scout map-bench`).
//!
//! A scan is a sensor origin and the end points of its rays, world frame,
//! metres. A ray whose end point is farther than the inserter's maximum range
//! is cut there and marks free space only (see [`crate::insert`]); that is how
//! a scan says "nothing within range" in this direction.
//!
//! # File format
//!
//! Little-endian, no header, no padding; offsets in bytes:
//!
//! ```text
//!    0  u32                   n_scans
//! then n_scans times:
//!    0  f32 x 3               origin x, y, z (world frame, m)
//!   12  u32                   n_points
//!   16  f32 x 3 x n_points    end points x, y, z (world frame, m)
//! ```
//!
//! and nothing after the last scan. A scan takes `16 + 12 n_points` bytes.
//! Reading checks every count against the bytes that are left before
//! allocating anything for it, refuses non-finite coordinates and trailing
//! bytes, and never panics whatever the bytes: a problem is a
//! [`MappingError::Format`] naming the file, the byte offset, and what was
//! expected there. Writing goes to a temporary file in the target's
//! directory that is synced and then renamed over the target, so a crash
//! leaves the old file or the new one, never part of one. Coordinates are
//! stored as f32 (about 1 µm at 10 m from the origin, far below a cell).
//!
//! # Simulated scans
//!
//! [`simulate_depth_scans`]: the synthetic world and flight of
//! `datasets::synth` (medium difficulty), and a pinhole depth camera
//! (`datasets::synth::range::DepthCamera`, 87 degrees, 0.2-6 m) mounted as
//! the EuRoC cam0 on the body, one scan every `period_s`. A pixel with no
//! surface within the camera's range becomes a point at twice that range
//! along its ray (a free ray once cut at the map's maximum range); a pixel
//! with no return (nearer than the minimum range, a dropout) is skipped.
//! The synthetic floor is the plane `z = 0`, a cell face at every resolution,
//! so its end points fall on either side of it by rounding; for accuracy
//! figures, shift the scans by a fraction of a cell (as
//! `mapping/tests/room_accuracy.rs` does).

use std::io::{Read, Write};
use std::path::Path;

use datasets::CameraCalibration;
use datasets::synth::SynthConfig;
use datasets::synth::range::{DepthCamera, DepthCameraConfig, DepthImage};
use datasets::synth::rng::Rng;
use datasets::synth::trajectory::Trajectory;
use datasets::synth::world::World;
use nalgebra::{Point3, Vector3};

use crate::MappingError;

/// Bytes of a scan without its points: origin and point count.
pub const SCAN_HEADER_BYTES: usize = 16;
/// Bytes of one point.
pub const POINT_BYTES: usize = 12;

/// One range scan: the sensor origin and the rays' end points, world frame, m.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Scan {
    /// Sensor origin, world frame, m.
    pub origin: Vector3<f64>,
    /// End points of the rays, world frame, m.
    pub points: Vec<Vector3<f64>>,
}

/// The length of the file holding `scans`, bytes.
#[must_use]
pub fn file_bytes(scans: &[Scan]) -> u64 {
    4 + scans
        .iter()
        .map(|s| (SCAN_HEADER_BYTES + POINT_BYTES * s.points.len()) as u64)
        .sum::<u64>()
}

/// Writes scans in the format of the module documentation to a stream;
/// returns the bytes written.
///
/// # Errors
/// If the stream fails, or the scans cannot be stored (more than `u32::MAX`
/// scans or points in a scan, or a coordinate that is not finite as an f32;
/// reported as [`std::io::ErrorKind::InvalidInput`], naming the scan and point).
pub fn write_to(w: &mut impl Write, scans: &[Scan]) -> std::io::Result<u64> {
    let invalid = |m: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, m);
    let too_many = |what: String| invalid(format!("{what}, more than u32::MAX"));
    let finite = |v: &Vector3<f64>, what: &dyn Fn() -> String| {
        let f = v.map(|c| c as f32);
        if f.iter().all(|c| c.is_finite()) {
            Ok(f)
        } else {
            Err(invalid(format!(
                "{} ({}, {}, {}) is not finite as an f32",
                what(),
                v.x,
                v.y,
                v.z
            )))
        }
    };
    let n_scans =
        u32::try_from(scans.len()).map_err(|_| too_many(format!("{} scans", scans.len())))?;
    w.write_all(&n_scans.to_le_bytes())?;
    let mut written = 4u64;
    let mut buf = Vec::new();
    for (i, s) in scans.iter().enumerate() {
        buf.clear();
        let origin = finite(&s.origin, &|| format!("the origin of scan {i}"))?;
        for c in &origin {
            buf.extend_from_slice(&c.to_le_bytes());
        }
        let n = u32::try_from(s.points.len())
            .map_err(|_| too_many(format!("scan {i} has {} points", s.points.len())))?;
        buf.extend_from_slice(&n.to_le_bytes());
        for (j, p) in s.points.iter().enumerate() {
            let p = finite(p, &|| format!("point {j} of scan {i}"))?;
            for c in &p {
                buf.extend_from_slice(&c.to_le_bytes());
            }
        }
        w.write_all(&buf)?;
        written += buf.len() as u64;
    }
    Ok(written)
}

/// Writes scans to `path` atomically (a temporary file in the same directory,
/// synced, then renamed over `path`); returns the bytes written.
///
/// # Errors
/// [`MappingError::Io`] naming `path` if the file cannot be written or the
/// scans cannot be stored (see [`write_to`]); nothing is left at `path` but
/// the previous file, if any.
pub fn write_scans(path: impl AsRef<Path>, scans: &[Scan]) -> Result<u64, MappingError> {
    crate::io::write_atomically(path.as_ref(), |w| write_to(w, scans))
}

/// Reads the scans of a file written by [`write_scans`] (or by anything that
/// follows the module's format).
///
/// # Errors
/// [`MappingError::Io`] if the file cannot be read, [`MappingError::Format`]
/// naming the file and the byte offset if it is not a valid scan file.
pub fn read_scans(path: impl AsRef<Path>) -> Result<Vec<Scan>, MappingError> {
    let path = path.as_ref();
    decode(&crate::io::read_file(path)?, path)
}

/// Reads scans from a stream to its end; `path` names the source in error
/// messages.
///
/// # Errors
/// As [`read_scans`].
pub fn read_from(r: &mut impl Read, path: impl AsRef<Path>) -> Result<Vec<Scan>, MappingError> {
    let path = path.as_ref();
    decode(&crate::io::read_stream(r, path)?, path)
}

/// Parses a whole file held in memory.
fn decode(bytes: &[u8], path: &Path) -> Result<Vec<Scan>, MappingError> {
    let error = |at: usize, message: String| MappingError::Format {
        path: path.to_path_buf(),
        message: format!("at byte {at}: {message}"),
    };
    let end = bytes.len();
    let truncated = |at: usize, n: usize, what: String| {
        error(
            at,
            format!(
                "truncated: {what} needs {n} bytes from byte {at}, but the file ends at byte {end}"
            ),
        )
    };
    // Callers check the bounds first.
    let word_at = |at: usize| {
        let mut b = [0u8; 4];
        b.copy_from_slice(&bytes[at..at + 4]);
        b
    };
    let u32_at = |at: usize| u32::from_le_bytes(word_at(at));
    let f32_at = |at: usize| f64::from(f32::from_le_bytes(word_at(at)));
    let vector_at = |at: usize| Vector3::new(f32_at(at), f32_at(at + 4), f32_at(at + 8));
    if end < 4 {
        return Err(truncated(0, 4, "the scan count".to_string()));
    }
    let n_scans = u32_at(0);
    // No more scans than the bytes left could hold, whatever the count says.
    let mut scans = Vec::with_capacity((n_scans as usize).min((end - 4) / SCAN_HEADER_BYTES));
    let mut pos = 4;
    for i in 0..n_scans {
        let scan = || format!("scan {i} (of {n_scans})");
        if end - pos < 12 {
            return Err(truncated(pos, 12, format!("the origin of {}", scan())));
        }
        if end - pos < SCAN_HEADER_BYTES {
            return Err(truncated(
                pos + 12,
                4,
                format!("the point count of {}", scan()),
            ));
        }
        let origin = vector_at(pos);
        if !origin.iter().all(|c| c.is_finite()) {
            return Err(error(
                pos,
                format!(
                    "the origin of {} is not finite: ({}, {}, {})",
                    scan(),
                    origin.x,
                    origin.y,
                    origin.z
                ),
            ));
        }
        let n_points = u32_at(pos + 12) as usize;
        let points_at = pos + SCAN_HEADER_BYTES;
        let left = end - points_at;
        // u32 * 12 fits in u64 (and in usize on 64-bit targets); compare in u64.
        let needed = n_points as u64 * POINT_BYTES as u64;
        if needed > left as u64 {
            let cut = left / POINT_BYTES;
            return Err(error(
                pos + 12,
                format!(
                    "{} declares {n_points} points ({needed} bytes from byte {points_at}), but the \
                     file ends at byte {end}, {left} bytes later (room for {cut} points): \
                     truncated in the points of {}, or a corrupt point count",
                    scan(),
                    scan()
                ),
            ));
        }
        let mut points = Vec::with_capacity(n_points);
        for j in 0..n_points {
            let at = points_at + j * POINT_BYTES;
            let p = vector_at(at);
            if !p.iter().all(|c| c.is_finite()) {
                return Err(error(
                    at,
                    format!(
                        "point {j} of {} is not finite: ({}, {}, {})",
                        scan(),
                        p.x,
                        p.y,
                        p.z
                    ),
                ));
            }
            points.push(p);
        }
        pos = points_at + n_points * POINT_BYTES;
        scans.push(Scan { origin, points });
    }
    if pos != end {
        return Err(error(
            pos,
            format!(
                "{} unexpected bytes after the last of the {n_scans} scans (the file should end here)",
                end - pos
            ),
        ));
    }
    Ok(scans)
}

/// The most scans [`simulate_depth_scans`] makes in one call.
pub const MAX_SIMULATED_SCANS: usize = 100_000;

/// Settings of [`simulate_depth_scans`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SimulatedScans {
    /// Seed of the world, the flight and the depth noise.
    pub seed: u64,
    /// Length of the flight, s.
    pub duration_s: f64,
    /// Time between scans, s (the first at 0).
    pub period_s: f64,
    /// Depth image width, pixels.
    pub width: usize,
    /// Depth image height, pixels.
    pub height: usize,
    /// The camera's default depth noise and dropouts when true; exact depths
    /// when false.
    pub noise: bool,
}

impl Default for SimulatedScans {
    /// The `map_insert` bench's scans: seed 1, 30 s, a 320 x 240 scan every
    /// 0.5 s (60 scans), noise-free.
    fn default() -> Self {
        Self {
            seed: 1,
            duration_s: 30.0,
            period_s: 0.5,
            width: 320,
            height: 240,
            noise: false,
        }
    }
}

/// Simulated depth-camera scans of a synthetic flight; see the module
/// documentation. The same settings give the same scans.
///
/// # Errors
/// [`MappingError::Config`] if a setting is out of range (a duration not
/// longer than the flight's initial hover of 1.5 s, a non-positive period, an
/// image size the camera refuses) or the world or flight cannot be generated.
pub fn simulate_depth_scans(cfg: &SimulatedScans) -> Result<Vec<Scan>, MappingError> {
    simulate_depth_scans_in_world(cfg).map(|(_, scans)| scans)
}

/// [`simulate_depth_scans`], with the world the scans were taken in (for
/// ground truth).
///
/// # Errors
/// As [`simulate_depth_scans`].
pub fn simulate_depth_scans_in_world(
    cfg: &SimulatedScans,
) -> Result<(World, Vec<Scan>), MappingError> {
    let config = |m: String| MappingError::Config(format!("simulated scans: {m}"));
    if !(cfg.duration_s.is_finite() && cfg.duration_s > 0.0) {
        return Err(config(format!(
            "duration must be finite and > 0 s, got {}",
            cfg.duration_s
        )));
    }
    if !(cfg.period_s.is_finite() && cfg.period_s > 0.0) {
        return Err(config(format!(
            "period must be finite and > 0 s, got {}",
            cfg.period_s
        )));
    }
    let synth = SynthConfig {
        seed: cfg.seed,
        duration_s: cfg.duration_s,
        ..SynthConfig::default()
    };
    if cfg.duration_s <= synth.hover_s {
        return Err(config(format!(
            "duration must exceed the flight's initial hover of {} s, got {} s",
            synth.hover_s, cfg.duration_s
        )));
    }
    let world = World::generate(&synth.world_config(), synth.seed)
        .map_err(|e| config(format!("world: {e}")))?;
    let trajectory = Trajectory::generate(&world, &synth.trajectory_config(), synth.seed)
        .map_err(|e| config(format!("flight: {e}")))?;
    let camera_cfg = DepthCameraConfig {
        width: cfg.width,
        height: cfg.height,
        ..DepthCameraConfig::default()
    };
    let camera_cfg = if cfg.noise {
        camera_cfg
    } else {
        camera_cfg.noise_free()
    };
    let camera = DepthCamera::new(&camera_cfg).map_err(|e| config(format!("depth camera: {e}")))?;
    let k = camera.intrinsics();
    let body_from_cam = CameraCalibration::euroc_cam0().body_from_cam;
    // Beyond the camera's range: far enough that the map cuts the ray.
    let far = 2.0 * camera_cfg.max_range_m;
    // Scans at 0, period, 2 period, ... before the end of the flight.
    let count = (trajectory.duration_s() / cfg.period_s).ceil();
    if count > MAX_SIMULATED_SCANS as f64 {
        return Err(config(format!(
            "{count} scans ({} s every {} s) is more than {MAX_SIMULATED_SCANS}",
            trajectory.duration_s(),
            cfg.period_s
        )));
    }
    let mut rng = Rng::from_seed(cfg.seed);
    let mut image = DepthImage::default();
    let mut scans = Vec::new();
    for i in 0..count as usize {
        let t = i as f64 * cfg.period_s;
        if t >= trajectory.duration_s() {
            break;
        }
        let world_from_cam = trajectory.state(t).world_from_body * body_from_cam;
        camera.capture(&world, &world_from_cam, &mut rng, &mut image);
        let mut points = Vec::with_capacity(image.depth_m.len());
        for y in 0..image.height {
            for x in 0..image.width {
                let d = image.depth_m[y * image.width + x];
                // The pixel's ray scaled to depth 1 (pinhole, no distortion).
                let ray = Vector3::new((x as f64 - k.cx) / k.fx, (y as f64 - k.cy) / k.fy, 1.0);
                let p_cam = if d.is_finite() {
                    ray * f64::from(d)
                } else if d.is_infinite() {
                    ray * far
                } else {
                    continue;
                };
                points.push((world_from_cam * Point3::from(p_cam)).coords);
            }
        }
        scans.push(Scan {
            origin: world_from_cam.translation.vector,
            points,
        });
    }
    Ok((world, scans))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> Vec<Scan> {
        vec![
            Scan {
                origin: Vector3::new(1.0, -2.0, 0.5),
                points: vec![Vector3::new(3.0, 0.25, 1.0), Vector3::new(-1.5, 2.0, 0.0)],
            },
            Scan {
                origin: Vector3::new(0.0, 0.0, 1.0),
                points: Vec::new(),
            },
            Scan {
                origin: Vector3::new(0.5, 0.5, 0.5),
                points: vec![Vector3::new(4.0, 4.0, 4.0)],
            },
        ]
    }

    fn encode(scans: &[Scan]) -> Vec<u8> {
        let mut bytes = Vec::new();
        let n = write_to(&mut bytes, scans).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(n, bytes.len() as u64);
        assert_eq!(n, file_bytes(scans));
        bytes
    }

    fn format_message(r: Result<Vec<Scan>, MappingError>) -> String {
        match r {
            Err(MappingError::Format { path, message }) => {
                assert_eq!(path, Path::new("scans.bin"));
                message
            }
            other => panic!("expected a format error, got {other:?}"),
        }
    }

    #[test]
    fn round_trip_through_a_stream_and_a_file() {
        let scans = small();
        let bytes = encode(&scans);
        // 4 + (16 + 24) + 16 + (16 + 12).
        assert_eq!(bytes.len(), 88);
        let back = read_from(&mut bytes.as_slice(), "scans.bin").unwrap_or_else(|e| panic!("{e}"));
        // The coordinates above are exact in f32.
        assert_eq!(back, scans);
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("scans.bin");
        assert_eq!(
            write_scans(&path, &scans).unwrap_or_else(|e| panic!("{e}")),
            88
        );
        assert_eq!(read_scans(&path).unwrap_or_else(|e| panic!("{e}")), scans);
        // No temporary file is left behind.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap_or_else(|e| panic!("{e}"))
            .filter_map(|e| e.ok().map(|e| e.file_name()))
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
        // An empty file of scans is valid.
        assert_eq!(encode(&[]), vec![0, 0, 0, 0]);
        assert!(
            read_from(&mut [0u8, 0, 0, 0].as_slice(), "x")
                .unwrap_or_else(|e| panic!("{e}"))
                .is_empty()
        );
    }

    #[test]
    fn truncation_at_every_offset_names_the_offset_and_the_field() {
        let bytes = encode(&small());
        for len in 0..bytes.len() {
            let m = format_message(read_from(&mut &bytes[..len], "scans.bin"));
            assert!(m.starts_with("at byte "), "{len}: {m}");
            assert!(m.contains("truncated"), "{len}: {m}");
            assert!(m.contains(&format!("ends at byte {len}")), "{len}: {m}");
            // Which field was cut.
            let expected = match len {
                0..4 => "the scan count",
                4..16 => "the origin of scan 0 (of 3)",
                16..20 => "the point count of scan 0 (of 3)",
                20..44 => "truncated in the points of scan 0 (of 3)",
                44..56 => "the origin of scan 1 (of 3)",
                56..60 => "the point count of scan 1 (of 3)",
                60..72 => "the origin of scan 2 (of 3)",
                72..76 => "the point count of scan 2 (of 3)",
                _ => "truncated in the points of scan 2 (of 3)",
            };
            assert!(m.contains(expected), "{len}: {m}");
        }
        let m = format_message(read_from(&mut &bytes[..30], "scans.bin"));
        assert!(
            m.starts_with("at byte 16: scan 0 (of 3) declares 2 points (24 bytes from byte 20)"),
            "{m}"
        );
        assert!(m.contains("10 bytes later (room for 0 points)"), "{m}");
        let m = format_message(read_from(&mut &bytes[..6], "scans.bin"));
        assert_eq!(
            m,
            "at byte 4: truncated: the origin of scan 0 (of 3) needs 12 bytes from byte 4, \
             but the file ends at byte 6"
        );
    }

    #[test]
    fn trailing_bytes_absurd_counts_and_non_finite_values_are_refused() {
        let bytes = encode(&small());
        let mut long = bytes.clone();
        long.extend_from_slice(&[0, 1, 2]);
        let m = format_message(read_from(&mut long.as_slice(), "scans.bin"));
        assert!(
            m.starts_with("at byte 88: 3 unexpected bytes after the last of the 3 scans"),
            "{m}"
        );

        // Counts far beyond the file: refused before allocating.
        let mut absurd = bytes.clone();
        absurd[0..4].copy_from_slice(&u32::MAX.to_le_bytes());
        let m = format_message(read_from(&mut absurd.as_slice(), "scans.bin"));
        assert!(
            m.contains("the origin of scan 3 (of 4294967295)") && m.contains("ends at byte 88"),
            "{m}"
        );
        let mut absurd = bytes.clone();
        absurd[16..20].copy_from_slice(&u32::MAX.to_le_bytes());
        let m = format_message(read_from(&mut absurd.as_slice(), "scans.bin"));
        assert!(
            m.starts_with(
                "at byte 16: scan 0 (of 3) declares 4294967295 points (51539607540 bytes"
            ),
            "{m}"
        );
        // A point count too small leaves bytes over, read as the next scan.
        let mut short = bytes.clone();
        short[16..20].copy_from_slice(&1u32.to_le_bytes());
        assert!(read_from(&mut short.as_slice(), "scans.bin").is_err());

        // NaN and infinities, in an origin and in a point.
        let mut nan = bytes.clone();
        nan[32..36].copy_from_slice(&f32::NAN.to_le_bytes());
        let m = format_message(read_from(&mut nan.as_slice(), "scans.bin"));
        assert_eq!(
            m,
            "at byte 32: point 1 of scan 0 (of 3) is not finite: (NaN, 2, 0)"
        );
        let mut inf = bytes.clone();
        inf[68..72].copy_from_slice(&f32::INFINITY.to_le_bytes());
        let m = format_message(read_from(&mut inf.as_slice(), "scans.bin"));
        assert_eq!(
            m,
            "at byte 60: the origin of scan 2 (of 3) is not finite: (0.5, 0.5, inf)"
        );

        // Writing refuses what it could not read back.
        let mut bad = small();
        bad[2].points[0].y = f64::NAN;
        let e = write_to(&mut Vec::new(), &bad).err();
        assert!(
            e.is_some_and(|e| e.to_string().contains("point 0 of scan 2")),
            "writing a NaN"
        );
        bad[2].points[0].y = 1e300;
        assert!(write_to(&mut Vec::new(), &bad).is_err(), "beyond f32");
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // Every single-byte corruption of a valid file, and pseudo-random files.
        let bytes = encode(&small());
        for i in 0..bytes.len() {
            for v in [0u8, 1, 0x7f, 0x80, 0xff] {
                let mut b = bytes.clone();
                b[i] = v;
                let _ = read_from(&mut b.as_slice(), "scans.bin");
            }
        }
        let mut state = 0x1234_5678_u64;
        for len in 0..200 {
            let b: Vec<u8> = (0..len)
                .map(|_| {
                    state = state
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1_442_695_040_888_963_407);
                    (state >> 56) as u8
                })
                .collect();
            let _ = read_from(&mut b.as_slice(), "scans.bin");
        }
    }

    #[test]
    fn missing_file_is_an_io_error_naming_it() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("absent.bin");
        match read_scans(&path) {
            Err(e @ MappingError::Io { .. }) => {
                assert!(e.to_string().contains("absent.bin"), "{e}");
            }
            other => panic!("expected an I/O error, got {other:?}"),
        }
        // Writing into a folder that does not exist fails and leaves nothing.
        let e = write_scans(dir.path().join("no/such/dir/x.bin"), &small());
        assert!(matches!(e, Err(MappingError::Io { .. })));
    }

    #[test]
    fn simulated_scans_are_reproducible_and_cut_far_rays() {
        let cfg = SimulatedScans {
            duration_s: 2.0,
            period_s: 1.0,
            width: 32,
            height: 24,
            ..SimulatedScans::default()
        };
        let a = simulate_depth_scans(&cfg).unwrap_or_else(|e| panic!("{e}"));
        let b = simulate_depth_scans(&cfg).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(a, b);
        assert_eq!(a.len(), 2);
        for s in &a {
            // Noise-free: no dropouts, every pixel gives a point.
            assert_eq!(s.points.len(), 32 * 24);
            assert!(s.points.iter().all(|p| (p - s.origin).norm() > 0.2));
        }
        let noisy = simulate_depth_scans(&SimulatedScans { noise: true, ..cfg })
            .unwrap_or_else(|e| panic!("{e}"));
        assert_ne!(noisy, a);
        for bad in [
            SimulatedScans {
                period_s: 0.0,
                ..cfg
            },
            SimulatedScans {
                duration_s: f64::NAN,
                ..cfg
            },
            SimulatedScans { width: 0, ..cfg },
        ] {
            assert!(matches!(
                simulate_depth_scans(&bad),
                Err(MappingError::Config(_))
            ));
        }
    }
}
