//! Simulated range sensors against a [`World`]: a pinhole depth camera and a
//! lidar-style set of beams, with noise and dropouts, for mapping and exploration.
//!
//! Depth camera: an undistorted pinhole (x right, y down, z forward, metres) whose
//! pixel `(x, y)` reports the depth `z` (not the ray length) of the first surface
//! along its centre ray. Noise is axial Gaussian with
//! `sigma(z) = a + b (z - 0.4)^2`, the structured-light model of Nguyen, Izadi &
//! Lovell (3DIMPVT 2012) for the Kinect (`a = 1.2 mm`, `b = 1.9 mm/m^2`).
//!
//! Lidar: beams at every combination of `azimuth_count` azimuths (uniform over a
//! full turn, counter-clockwise from the sensor's x axis about its z axis) and
//! the configured elevations (0 gives a planar scan in the sensor's x-y plane);
//! each reports the range along the beam, with constant Gaussian noise.
//!
//! Both follow one convention for what comes back: a range or depth in metres; a
//! surface beyond `max_range_m` is a miss and reads `f32::INFINITY` (free space
//! up to the maximum range, what a map integrator wants); a surface nearer than
//! `min_range_m`, or a dropped return, reads `f32::NAN` (no information). Noise is
//! drawn from the caller's [`Rng`], so a stream gives reproducible scans.

use nalgebra::{Isometry3, Point3, Vector3};

use super::rng::Rng;
use super::world::World;
use crate::model::PinholeIntrinsics;
use crate::{DatasetError, Result};

/// Depth camera parameters.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct DepthCameraConfig {
    /// Image width, pixels.
    pub width: usize,
    /// Image height, pixels.
    pub height: usize,
    /// Horizontal field of view, degrees (the focal length follows; square pixels,
    /// principal point at the image centre).
    pub horizontal_fov_deg: f64,
    /// Nearest measurable depth, metres.
    pub min_range_m: f64,
    /// Farthest measurable depth, metres.
    pub max_range_m: f64,
    /// Constant part of the depth noise sigma, metres.
    pub noise_sigma_const_m: f64,
    /// Quadratic part of the depth noise sigma, `b` in `a + b (z - 0.4)^2`, 1/m.
    pub noise_sigma_quadratic_per_m: f64,
    /// Probability that a pixel returns nothing (NaN).
    pub dropout_probability: f64,
}

impl Default for DepthCameraConfig {
    fn default() -> Self {
        Self {
            width: 160,
            height: 120,
            horizontal_fov_deg: 87.0,
            min_range_m: 0.2,
            max_range_m: 6.0,
            noise_sigma_const_m: 0.0012,
            noise_sigma_quadratic_per_m: 0.0019,
            dropout_probability: 0.002,
        }
    }
}

impl DepthCameraConfig {
    /// The same sensor without noise or dropouts.
    #[must_use]
    pub fn noise_free(mut self) -> Self {
        self.noise_sigma_const_m = 0.0;
        self.noise_sigma_quadratic_per_m = 0.0;
        self.dropout_probability = 0.0;
        self
    }
}

/// A depth image: `depth_m[y * width + x]`, metres along the optical axis
/// (`INFINITY` beyond the range, `NAN` for no return).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DepthImage {
    /// Width, pixels.
    pub width: usize,
    /// Height, pixels.
    pub height: usize,
    /// Depths, metres, row-major.
    pub depth_m: Vec<f32>,
}

/// A pinhole depth camera with precomputed rays.
#[derive(Debug, Clone, PartialEq)]
pub struct DepthCamera {
    cfg: DepthCameraConfig,
    intrinsics: PinholeIntrinsics,
    /// Per pixel: unit bearing and its z component (depth = range * z).
    rays: Vec<(Vector3<f64>, f64)>,
}

fn check_ranges(min: f64, max: f64, dropout: f64) -> Result<()> {
    if !(min >= 0.0 && min < max && max.is_finite() && (0.0..=1.0).contains(&dropout)) {
        return Err(DatasetError::InvalidArgument(format!(
            "range sensor: need 0 <= min_range ({min}) < max_range ({max}) and dropout in [0, 1]"
        )));
    }
    Ok(())
}

impl DepthCamera {
    /// Precomputes the rays.
    ///
    /// # Errors
    /// If the configuration is out of range.
    pub fn new(cfg: &DepthCameraConfig) -> Result<Self> {
        check_ranges(cfg.min_range_m, cfg.max_range_m, cfg.dropout_probability)?;
        if cfg.width == 0
            || cfg.height == 0
            || cfg.width * cfg.height > 1 << 24
            || !(1.0..179.0).contains(&cfg.horizontal_fov_deg)
            || !(cfg.noise_sigma_const_m >= 0.0 && cfg.noise_sigma_quadratic_per_m >= 0.0)
        {
            return Err(DatasetError::InvalidArgument(
                "depth camera: size, field of view (1..179 deg) or noise out of range".into(),
            ));
        }
        let f = cfg.width as f64 / 2.0 / (cfg.horizontal_fov_deg.to_radians() / 2.0).tan();
        let intrinsics = PinholeIntrinsics {
            fx: f,
            fy: f,
            cx: (cfg.width as f64 - 1.0) / 2.0,
            cy: (cfg.height as f64 - 1.0) / 2.0,
        };
        let mut rays = Vec::with_capacity(cfg.width * cfg.height);
        for y in 0..cfg.height {
            for x in 0..cfg.width {
                let d = Vector3::new(
                    (x as f64 - intrinsics.cx) / f,
                    (y as f64 - intrinsics.cy) / f,
                    1.0,
                )
                .normalize();
                rays.push((d, d.z));
            }
        }
        Ok(Self {
            cfg: *cfg,
            intrinsics,
            rays,
        })
    }

    /// The pinhole intrinsics (no distortion).
    #[must_use]
    pub fn intrinsics(&self) -> PinholeIntrinsics {
        self.intrinsics
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &DepthCameraConfig {
        &self.cfg
    }

    /// An image of the right size to capture into.
    #[must_use]
    pub fn new_image(&self) -> DepthImage {
        DepthImage {
            width: self.cfg.width,
            height: self.cfg.height,
            depth_m: vec![f32::NAN; self.cfg.width * self.cfg.height],
        }
    }

    /// Captures the depth seen from `world_from_cam` into `out` (resized if needed;
    /// no allocation when it already has the right size).
    pub fn capture(
        &self,
        world: &World,
        world_from_cam: &Isometry3<f64>,
        rng: &mut Rng,
        out: &mut DepthImage,
    ) {
        out.width = self.cfg.width;
        out.height = self.cfg.height;
        out.depth_m
            .resize(self.cfg.width * self.cfg.height, f32::NAN);
        let origin = Point3::from(world_from_cam.translation.vector);
        let c = &self.cfg;
        let noisy = c.noise_sigma_const_m > 0.0 || c.noise_sigma_quadratic_per_m > 0.0;
        for (&(bearing, z_per_m), depth) in self.rays.iter().zip(out.depth_m.iter_mut()) {
            let dir = world_from_cam.rotation * bearing;
            // Reach the far end of the depth range along oblique rays too.
            let reach = c.max_range_m / z_per_m;
            *depth = match world.cast_ray(&origin, &dir, reach) {
                None => f32::INFINITY,
                Some(hit) => {
                    let z = hit.distance * z_per_m;
                    let dropped = c.dropout_probability > 0.0 && rng.chance(c.dropout_probability);
                    if z < c.min_range_m || dropped {
                        f32::NAN
                    } else if noisy {
                        let sigma = c.noise_sigma_const_m
                            + c.noise_sigma_quadratic_per_m * (z - 0.4) * (z - 0.4);
                        (z + sigma * rng.gaussian()).max(0.0) as f32
                    } else {
                        z as f32
                    }
                }
            };
        }
    }

    /// The 3D point of a depth pixel in the camera frame, metres; `None` for a
    /// miss or no return.
    #[must_use]
    pub fn point(&self, image: &DepthImage, x: usize, y: usize) -> Option<Vector3<f64>> {
        if x >= image.width || y >= image.height {
            return None;
        }
        let z = f64::from(*image.depth_m.get(y * image.width + x)?);
        let (bearing, z_per_m) = self.rays.get(y * self.cfg.width + x)?;
        z.is_finite().then(|| bearing * (z / z_per_m))
    }
}

/// Lidar parameters.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct LidarConfig {
    /// Beams per revolution.
    pub azimuth_count: usize,
    /// Elevation of each ring, degrees above the sensor's x-y plane.
    pub elevations_deg: Vec<f64>,
    /// Nearest measurable range, metres.
    pub min_range_m: f64,
    /// Farthest measurable range, metres.
    pub max_range_m: f64,
    /// Range noise standard deviation, metres.
    pub noise_sigma_m: f64,
    /// Probability that a beam returns nothing (NaN).
    pub dropout_probability: f64,
}

impl Default for LidarConfig {
    fn default() -> Self {
        Self {
            azimuth_count: 360,
            elevations_deg: vec![0.0],
            min_range_m: 0.1,
            max_range_m: 8.0,
            noise_sigma_m: 0.01,
            dropout_probability: 0.002,
        }
    }
}

/// One scan: `ranges_m[ring * azimuth_count + k]` along
/// [`Lidar::beam_directions`]`[same index]`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LidarScan {
    /// Ranges, metres (`INFINITY` beyond the range, `NAN` for no return).
    pub ranges_m: Vec<f32>,
}

/// A lidar with precomputed beam directions.
#[derive(Debug, Clone, PartialEq)]
pub struct Lidar {
    cfg: LidarConfig,
    directions: Vec<Vector3<f64>>,
}

impl Lidar {
    /// Precomputes the beams.
    ///
    /// # Errors
    /// If the configuration is out of range.
    pub fn new(cfg: &LidarConfig) -> Result<Self> {
        check_ranges(cfg.min_range_m, cfg.max_range_m, cfg.dropout_probability)?;
        if cfg.azimuth_count == 0
            || cfg.elevations_deg.is_empty()
            || cfg
                .elevations_deg
                .iter()
                .any(|e| !(-90.0..=90.0).contains(e))
            || !(0.0..=f64::MAX).contains(&cfg.noise_sigma_m)
        {
            return Err(DatasetError::InvalidArgument(
                "lidar: need beams, elevations within +-90 deg and noise >= 0".into(),
            ));
        }
        let mut directions = Vec::with_capacity(cfg.azimuth_count * cfg.elevations_deg.len());
        for e in &cfg.elevations_deg {
            let (se, ce) = e.to_radians().sin_cos();
            for k in 0..cfg.azimuth_count {
                let az = std::f64::consts::TAU * k as f64 / cfg.azimuth_count as f64;
                let (sa, ca) = az.sin_cos();
                directions.push(Vector3::new(ce * ca, ce * sa, se));
            }
        }
        Ok(Self {
            cfg: cfg.clone(),
            directions,
        })
    }

    /// Unit beam directions in the sensor frame, ring by ring.
    #[must_use]
    pub fn beam_directions(&self) -> &[Vector3<f64>] {
        &self.directions
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &LidarConfig {
        &self.cfg
    }

    /// Scans from `world_from_sensor` into `out` (resized if needed).
    pub fn scan(
        &self,
        world: &World,
        world_from_sensor: &Isometry3<f64>,
        rng: &mut Rng,
        out: &mut LidarScan,
    ) {
        out.ranges_m.resize(self.directions.len(), f32::NAN);
        let origin = Point3::from(world_from_sensor.translation.vector);
        let c = &self.cfg;
        for (d, range) in self.directions.iter().zip(out.ranges_m.iter_mut()) {
            let dir = world_from_sensor.rotation * d;
            *range = match world.cast_ray(&origin, &dir, c.max_range_m) {
                None => f32::INFINITY,
                Some(hit) => {
                    let dropped = c.dropout_probability > 0.0 && rng.chance(c.dropout_probability);
                    if hit.distance < c.min_range_m || dropped {
                        f32::NAN
                    } else {
                        let noise = if c.noise_sigma_m > 0.0 {
                            c.noise_sigma_m * rng.gaussian()
                        } else {
                            0.0
                        };
                        (hit.distance + noise).max(0.0) as f32
                    }
                }
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use nalgebra::{Translation3, UnitQuaternion};

    use super::*;
    use crate::synth::world::Aabb;

    fn room() -> World {
        World::empty_room(Aabb::new(
            Vector3::new(-2.0, -3.0, 0.0),
            Vector3::new(4.0, 3.0, 3.0),
        ))
        .unwrap_or_else(|e| panic!("{e}"))
    }

    /// A camera at (0, 0, 1.5) looking along world +x (camera z), x right = -y world.
    fn looking_along_x() -> Isometry3<f64> {
        let r = nalgebra::Matrix3::from_columns(&[-Vector3::y(), -Vector3::z(), Vector3::x()]);
        let q = UnitQuaternion::from_matrix(&r);
        Isometry3::from_parts(Translation3::new(0.0, 0.0, 1.5), q)
    }

    #[test]
    fn depth_of_a_wall_straight_ahead_is_its_distance() {
        let world = room();
        let cam = DepthCamera::new(&DepthCameraConfig::default().noise_free())
            .unwrap_or_else(|e| panic!("{e}"));
        let mut img = cam.new_image();
        cam.capture(&world, &looking_along_x(), &mut Rng::from_seed(1), &mut img);
        // Every pixel that sees the x = 4 wall has depth exactly 4 (a plane facing
        // the camera has constant depth), including the centre ray.
        let mut seen = 0;
        for y in 0..img.height {
            for x in 0..img.width {
                let z = img.depth_m[y * img.width + x];
                let p = cam
                    .point(&img, x, y)
                    .unwrap_or_else(|| panic!("no point at ({x}, {y})"));
                let world_p = looking_along_x() * Point3::from(p);
                if (world_p.x - 4.0).abs() < 1e-6 {
                    assert!((z - 4.0).abs() < 1e-5, "({x}, {y}): {z}");
                    seen += 1;
                }
            }
        }
        assert!(seen > img.width * img.height / 3, "{seen}");
        let centre = img.depth_m[(img.height / 2) * img.width + img.width / 2];
        assert!((centre - 4.0).abs() < 1e-6, "{centre}");
    }

    #[test]
    fn depth_noise_follows_the_quadratic_model_and_misses_are_infinite() {
        let world = room();
        let cfg = DepthCameraConfig {
            dropout_probability: 0.0,
            max_range_m: 5.0,
            ..Default::default()
        };
        let cam = DepthCamera::new(&cfg).unwrap_or_else(|e| panic!("{e}"));
        let mut img = cam.new_image();
        let mut rng = Rng::from_seed(2);
        let (cx, cy) = (cfg.width / 2, cfg.height / 2);
        let mut sum2 = 0.0;
        let n = 400;
        for _ in 0..n {
            cam.capture(&world, &looking_along_x(), &mut rng, &mut img);
            let z = f64::from(img.depth_m[cy * cfg.width + cx]);
            sum2 += (z - 4.0) * (z - 4.0);
        }
        let sigma = (sum2 / f64::from(n)).sqrt();
        let expected = 0.0012 + 0.0019 * 3.6 * 3.6;
        assert!(
            (sigma / expected - 1.0).abs() < 0.15,
            "{sigma} vs {expected}"
        );
        // Looking the other way the wall is 2 m away; beyond 5 m the corners of a
        // far view read infinity.
        let far = Isometry3::from_parts(
            Translation3::new(-1.5, 0.0, 1.5),
            looking_along_x().rotation,
        );
        cam.capture(&world, &far, &mut rng, &mut img);
        assert!(img.depth_m.iter().any(|z| z.is_infinite()));
    }

    #[test]
    fn lidar_ring_measures_the_room() {
        let world = room();
        let cfg = LidarConfig {
            noise_sigma_m: 0.0,
            dropout_probability: 0.0,
            max_range_m: 20.0,
            azimuth_count: 4,
            ..LidarConfig::default()
        };
        let lidar = Lidar::new(&cfg).unwrap_or_else(|e| panic!("{e}"));
        let mut scan = LidarScan::default();
        let pose = Isometry3::translation(0.0, 0.0, 1.0);
        lidar.scan(&world, &pose, &mut Rng::from_seed(3), &mut scan);
        let expected = [4.0, 3.0, 2.0, 3.0]; // +x, +y, -x, -y
        for (r, e) in scan.ranges_m.iter().zip(expected) {
            assert!((f64::from(*r) - e).abs() < 1e-6, "{:?}", scan.ranges_m);
        }
        let short = Lidar::new(&LidarConfig {
            max_range_m: 2.5,
            ..cfg
        })
        .unwrap_or_else(|e| panic!("{e}"));
        short.scan(&world, &pose, &mut Rng::from_seed(3), &mut scan);
        assert!(scan.ranges_m[0].is_infinite() && (scan.ranges_m[2] - 2.0).abs() < 1e-6);
    }
}
