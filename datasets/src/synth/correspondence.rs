//! Ground-truth image correspondences from the synthetic world: where the surface
//! point seen at a sub-pixel position of one image appears in another image (the
//! same camera at another frame, the other camera of the rig, or both), or that it
//! is hidden or outside the image there.
//!
//! Inputs and outputs are pixel positions `(u, v)` of the distorted images, with
//! the origin at the centre of the top-left pixel (the renderer casts each pixel's
//! ray through its centre, so a position `(u, v)` names exactly the ray
//! [`CameraCalibration::unproject`] gives for it); world points are in the world
//! frame, metres. Cameras are numbered 0 (left, `cam0`) and 1 (right, `cam1`).
//!
//! Method, for a position `uv` in camera `a` at frame `i` and a target camera `b`
//! at frame `j`:
//! 1. back-project `uv` through the distorted model to a unit bearing (Newton
//!    undistortion, see [`crate::camera`]), rotate it by `world_from_cam_a` at
//!    frame `i` and cast it into the world ([`World::cast_ray`], exact f64
//!    geometry): the surface point `p_world`;
//! 2. project `p_world` into camera `b` at frame `j` and require the position to
//!    lie inside the image ([`CameraCalibration::contains`]);
//! 3. occlusion: cast a ray from camera `b`'s optical centre toward `p_world`; the
//!    point is visible when the first surface hit lies at the point's distance
//!    within [`OCCLUSION_TOLERANCE_M`] plus [`OCCLUSION_TOLERANCE_REL`] of the
//!    distance (a point on a face turned away from `b`, or behind another
//!    surface, is hit later than something nearer).
//!
//! A round trip (`b = a`, `j = i`) reproduces `uv` to the undistortion's accuracy
//! (about 1e-7 px). The poses are the exact trajectory poses at the frame times,
//! as used by the renderer.

use nalgebra::{Isometry3, Point3, Vector2, Vector3};

use super::SyntheticSequence;
use super::world::World;
use crate::model::CameraCalibration;

/// Absolute part of the distance tolerance of the visibility test, metres.
pub const OCCLUSION_TOLERANCE_M: f64 = 0.01;
/// Relative part of the distance tolerance of the visibility test (of the
/// distance from the camera to the point).
pub const OCCLUSION_TOLERANCE_REL: f64 = 1e-4;

/// The surface point seen through the sub-pixel position `uv` of `camera` posed
/// at `world_from_cam`: world frame, metres. `None` when `uv` is outside the
/// image, cannot be back-projected, or the ray hits nothing.
#[must_use]
pub fn surface_point(
    world: &World,
    camera: &CameraCalibration,
    world_from_cam: &Isometry3<f64>,
    uv: &Vector2<f64>,
) -> Option<Vector3<f64>> {
    if !camera.contains(uv) {
        return None;
    }
    let bearing = camera.unproject(*uv)?;
    let dir = world_from_cam.rotation * bearing;
    let origin = Point3::from(world_from_cam.translation.vector);
    let hit = world.cast_ray(&origin, &dir, f64::INFINITY)?;
    Some(origin.coords + dir * hit.distance)
}

/// The pixel position of the surface point `p_world` (world frame, metres) in
/// `camera` posed at `world_from_cam`, when it projects inside the image and no
/// surface lies between the camera and the point (see the module docs for the
/// tolerance). The point is assumed to lie on a surface (a point in free space
/// counts as hidden by whatever lies behind it).
#[must_use]
pub fn visible_projection_from(
    world: &World,
    camera: &CameraCalibration,
    world_from_cam: &Isometry3<f64>,
    p_world: &Vector3<f64>,
) -> Option<Vector2<f64>> {
    let p_cam = world_from_cam.inverse_transform_point(&Point3::from(*p_world));
    let uv = camera.project(&p_cam.coords)?;
    if !camera.contains(&uv) {
        return None;
    }
    let origin = Point3::from(world_from_cam.translation.vector);
    let to_point = p_world - origin.coords;
    let distance = to_point.norm();
    let dir = to_point.try_normalize(1e-12)?;
    let tolerance = OCCLUSION_TOLERANCE_M + OCCLUSION_TOLERANCE_REL * distance;
    let hit = world.cast_ray(&origin, &dir, distance + 2.0 * tolerance)?;
    ((hit.distance - distance).abs() <= tolerance).then_some(uv)
}

impl SyntheticSequence {
    /// The calibration of camera 0 (left) or 1 (right).
    #[must_use]
    pub fn camera(&self, camera: usize) -> Option<&CameraCalibration> {
        match camera {
            0 => Some(&self.calibration.cam0),
            1 => Some(&self.calibration.cam1),
            _ => None,
        }
    }

    /// The exact pose of camera 0 or 1 at frame `frame`: `world_from_body *
    /// body_from_cam`. `None` for an unknown camera or frame.
    #[must_use]
    pub fn world_from_cam(&self, frame: usize, camera: usize) -> Option<Isometry3<f64>> {
        let t_ns = *self.frame_times_ns.get(frame)?;
        Some(self.pose_at(t_ns) * self.camera(camera)?.body_from_cam)
    }

    /// The surface point (world frame, metres) seen through the sub-pixel position
    /// `uv` of camera `camera` at frame `frame`; `None` outside the image or for
    /// an unknown camera or frame. See [`surface_point`].
    ///
    /// ```no_run
    /// # use datasets::synth::{SynthConfig, SyntheticSequence};
    /// # use nalgebra::Vector2;
    /// let seq = SyntheticSequence::generate(&SynthConfig::default())?;
    /// let p = seq.world_point(0, 0, &Vector2::new(370.2, 251.7));
    /// assert!(p.is_some());
    /// # Ok::<(), datasets::DatasetError>(())
    /// ```
    #[must_use]
    pub fn world_point(
        &self,
        frame: usize,
        camera: usize,
        uv: &Vector2<f64>,
    ) -> Option<Vector3<f64>> {
        let world_from_cam = self.world_from_cam(frame, camera)?;
        surface_point(&self.world, self.camera(camera)?, &world_from_cam, uv)
    }

    /// The pixel position of the surface point `p_world` in camera `camera` at
    /// frame `frame`, when it is inside the image and not occluded. See
    /// [`visible_projection_from`].
    #[must_use]
    pub fn visible_projection(
        &self,
        p_world: &Vector3<f64>,
        frame: usize,
        camera: usize,
    ) -> Option<Vector2<f64>> {
        let world_from_cam = self.world_from_cam(frame, camera)?;
        visible_projection_from(&self.world, self.camera(camera)?, &world_from_cam, p_world)
    }

    /// Where the surface point seen at `uv` in camera `cam_a` at frame `frame_a`
    /// appears in camera `cam_b` at frame `frame_b`; `None` when it is outside
    /// either image or hidden from `cam_b`.
    ///
    /// ```no_run
    /// # use datasets::synth::{SynthConfig, SyntheticSequence};
    /// # use nalgebra::Vector2;
    /// let seq = SyntheticSequence::generate(&SynthConfig::default())?;
    /// // Stereo: the right-image position of a left-image pixel of frame 40.
    /// let left = Vector2::new(300.0, 200.0);
    /// if let Some(right) = seq.transfer(40, 0, &left, 40, 1) {
    ///     assert!(left.x - right.x > 0.0); // positive disparity
    /// }
    /// # Ok::<(), datasets::DatasetError>(())
    /// ```
    #[must_use]
    pub fn transfer(
        &self,
        frame_a: usize,
        cam_a: usize,
        uv: &Vector2<f64>,
        frame_b: usize,
        cam_b: usize,
    ) -> Option<Vector2<f64>> {
        let p_world = self.world_point(frame_a, cam_a, uv)?;
        self.visible_projection(&p_world, frame_b, cam_b)
    }
}

#[cfg(test)]
mod tests {
    use nalgebra::{Matrix3, Translation3, UnitQuaternion};

    use super::*;
    use crate::synth::world::{Aabb, Shape, SurfaceKind};
    use crate::synth::{Difficulty, SynthConfig};

    fn sequence() -> SyntheticSequence {
        let cfg = SynthConfig {
            seed: 5,
            duration_s: 4.0,
            difficulty: Difficulty::Medium,
            ..SynthConfig::default()
        };
        SyntheticSequence::generate(&cfg).unwrap_or_else(|e| panic!("{e}"))
    }

    /// A grid of sub-pixel positions over the image.
    fn grid(step: usize) -> impl Iterator<Item = Vector2<f64>> {
        (10..470)
            .step_by(step)
            .flat_map(move |v| (10..742).step_by(step).map(move |u| (u, v)))
            .map(|(u, v)| Vector2::new(u as f64 + 0.37, v as f64 - 0.21))
    }

    #[test]
    fn transfer_to_the_same_image_returns_the_position() {
        let seq = sequence();
        let mut checked = 0;
        for frame in [0, 45, 79] {
            for camera in [0, 1] {
                for uv in grid(29) {
                    let back = seq
                        .transfer(frame, camera, &uv, frame, camera)
                        .unwrap_or_else(|| panic!("frame {frame} camera {camera} {uv:?}"));
                    assert!((back - uv).norm() < 1e-6, "{uv:?} -> {back:?}");
                    checked += 1;
                }
            }
        }
        assert!(checked > 1500, "{checked}");
        // Outside the image, an unknown camera or frame: nothing.
        assert!(seq.world_point(0, 0, &Vector2::new(-0.6, 10.0)).is_none());
        assert!(seq.world_point(0, 2, &Vector2::new(10.0, 10.0)).is_none());
        assert!(seq.world_point(80, 0, &Vector2::new(10.0, 10.0)).is_none());
    }

    #[test]
    fn stereo_transfer_gives_the_disparity_of_the_depth() {
        let seq = sequence();
        let frame = 50;
        let (cam0, cam1) = (&seq.calibration.cam0, &seq.calibration.cam1);
        let world_from_cam0 = seq
            .world_from_cam(frame, 0)
            .unwrap_or_else(|| panic!("pose"));
        let cam0_from_cam1 = cam0.body_from_cam.inverse() * cam1.body_from_cam;
        let t = cam0_from_cam1.translation.vector;
        let f = cam0.intrinsics.fx;
        let (mut checked, mut hidden) = (0, 0);
        for uv in grid(17) {
            let Some(right) = seq.transfer(frame, 0, &uv, frame, 1) else {
                hidden += 1;
                continue;
            };
            let p_world = seq
                .world_point(frame, 0, &uv)
                .unwrap_or_else(|| panic!("point"));
            let p = (world_from_cam0.inverse() * Point3::from(p_world)).coords;
            // The cameras are not rectified (principal points 13 px apart, about
            // 0.5 degrees of relative rotation, different distortion), so compare
            // disparities of undistorted positions with the right bearing rotated
            // into cam0's axes: x_l - x_r = X/Z - (X - t_x)/(Z - t_z).
            let normalized = |b: Vector3<f64>| b.x / b.z;
            let left_bearing = cam0.unproject(uv).unwrap_or_else(|| panic!("left"));
            let right_bearing =
                cam0_from_cam1.rotation * cam1.unproject(right).unwrap_or_else(|| panic!("right"));
            let disparity = f * (normalized(left_bearing) - normalized(right_bearing));
            let exact = f * (p.x / p.z - (p.x - t.x) / (p.z - t.z));
            assert!(disparity > 0.0, "{uv:?}: disparity {disparity}");
            assert!((disparity - exact).abs() < 1e-5, "{disparity} vs {exact}");
            // Roughly baseline x focal length / depth.
            let rough = t.norm() * f / p.z;
            assert!(
                (disparity - rough).abs() < 0.05 * rough + 0.5,
                "{uv:?}: disparity {disparity} vs b f / z = {rough}"
            );
            checked += 1;
        }
        assert!(checked > 800 && hidden < checked / 5, "{checked} {hidden}");
    }

    /// A camera at `position` looking along world +x (camera x along world -y,
    /// camera y along world -z).
    fn looking_along_x(position: Vector3<f64>) -> Isometry3<f64> {
        let r = Matrix3::from_columns(&[-Vector3::y(), -Vector3::z(), Vector3::x()]);
        Isometry3::from_parts(
            Translation3::from(position),
            UnitQuaternion::from_matrix(&r),
        )
    }

    #[test]
    fn a_point_behind_an_obstacle_is_occluded() {
        let mut world = World::empty_room(Aabb::new(
            Vector3::new(-4.0, -3.0, 0.0),
            Vector3::new(2.0, 3.0, 3.0),
        ))
        .unwrap_or_else(|e| panic!("{e}"));
        let pillar = Aabb::new(Vector3::new(-1.0, -0.5, 0.0), Vector3::new(-0.5, 0.5, 2.0));
        world
            .add_obstacle(Shape::Box(pillar), SurfaceKind::Object)
            .unwrap_or_else(|e| panic!("{e}"));
        let cam = CameraCalibration::euroc_cam0();
        let world_from_cam = looking_along_x(Vector3::new(-3.0, 0.0, 1.4));

        // On the far wall (x = 2): behind the box, and beside it.
        let hidden = Vector3::new(2.0, 0.0, 1.0);
        let beside = Vector3::new(2.0, 2.0, 1.0);
        assert!(visible_projection_from(&world, &cam, &world_from_cam, &hidden).is_none());
        let uv = visible_projection_from(&world, &cam, &world_from_cam, &beside)
            .unwrap_or_else(|| panic!("the wall beside the box is visible"));
        let p = surface_point(&world, &cam, &world_from_cam, &uv)
            .unwrap_or_else(|| panic!("surface point"));
        assert!((p - beside).norm() < 1e-6, "{p:?}");

        // The pixel where the hidden point would appear sees the box's near face.
        let p_cam = world_from_cam.inverse_transform_point(&Point3::from(hidden));
        let uv = cam
            .project(&p_cam.coords)
            .unwrap_or_else(|| panic!("project"));
        assert!(cam.contains(&uv));
        let front = surface_point(&world, &cam, &world_from_cam, &uv)
            .unwrap_or_else(|| panic!("surface point"));
        assert!((front.x + 1.0).abs() < 1e-9, "{front:?}");
        assert!(visible_projection_from(&world, &cam, &world_from_cam, &front).is_some());

        // From 2.5 m to the side (still looking along +x) the line of sight to
        // the hidden point passes beside the box.
        let side = looking_along_x(Vector3::new(-3.0, 2.5, 1.4));
        assert!(visible_projection_from(&world, &cam, &side, &hidden).is_some());

        // A face turned away from the camera: the box's far face (x = -0.5).
        let back_face = Vector3::new(-0.5, 0.0, 1.0);
        assert!(visible_projection_from(&world, &cam, &world_from_cam, &back_face).is_none());
    }

    #[test]
    fn generated_worlds_have_occluded_stereo_and_temporal_transfers() {
        // Every pixel transferred to the right camera and 20 frames later: some
        // go out of view or behind obstacles, most survive, and whatever
        // survives lands on the same surface point.
        let seq = sequence();
        let (mut ok, mut lost) = (0, 0);
        for uv in grid(13) {
            match seq.transfer(60, 0, &uv, 79, 1) {
                Some(uv_b) => {
                    let a = seq.world_point(60, 0, &uv).unwrap_or_else(|| panic!("a"));
                    let b = seq.world_point(79, 1, &uv_b).unwrap_or_else(|| panic!("b"));
                    assert!((a - b).norm() < 1e-5, "{a:?} vs {b:?}");
                    ok += 1;
                }
                None => lost += 1,
            }
        }
        assert!(ok > lost && lost > 0, "{ok} transferred, {lost} lost");
    }
}
