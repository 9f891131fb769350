//! The simulated world: one room (an inward-facing box) holding axis-aligned boxes,
//! square and round pillars and partition walls with doorways, lit by point lights
//! on the ceiling; ray casting and signed distance against it.
//!
//! Frames and units: the world frame is z-up (gravity along -z), metres; the floor
//! is `z = room.min.z`. Every visible face is a [`Surface`] with its own texture
//! coordinates `(u, v)` in metres, so a texture of a given texel size maps onto it
//! without stretching: planar faces use two of the world axes, a cylinder's side
//! uses arc length and height.
//!
//! Methods: rays against boxes by the slab test (Kay & Kajiya, SIGGRAPH 1986;
//! Williams et al., JGT 2005, for the robust form with precomputed inverse
//! directions), against vertical cylinders by the quadratic in the horizontal
//! plane plus the caps; signed distances as in Quilez's box and capped-cylinder
//! distance functions. The ray origin must be in free space (inside the room and
//! outside every obstacle), which the trajectory and sensors guarantee.

use nalgebra::{Point3, Vector2, Vector3};

use super::rng::{Rng, Stream};
use crate::{DatasetError, Result};

/// An axis-aligned box, metres.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Aabb {
    /// Minimum corner.
    pub min: Vector3<f64>,
    /// Maximum corner.
    pub max: Vector3<f64>,
}

impl Aabb {
    /// A box from its two corners (in any order).
    #[must_use]
    pub fn new(a: Vector3<f64>, b: Vector3<f64>) -> Self {
        Self {
            min: a.inf(&b),
            max: a.sup(&b),
        }
    }

    /// Centre, metres.
    #[must_use]
    pub fn centre(&self) -> Vector3<f64> {
        (self.min + self.max) * 0.5
    }

    /// Half extents, metres.
    #[must_use]
    pub fn half_extents(&self) -> Vector3<f64> {
        (self.max - self.min) * 0.5
    }

    /// Whether the two boxes overlap once each is grown by `gap` metres.
    #[must_use]
    pub fn overlaps(&self, other: &Self, gap: f64) -> bool {
        (0..3).all(|i| self.min[i] - gap < other.max[i] && other.min[i] - gap < self.max[i])
    }

    /// Signed distance from `p` to the box surface: positive outside, negative inside.
    #[must_use]
    pub fn signed_distance(&self, p: &Vector3<f64>) -> f64 {
        let q = (p - self.centre()).abs() - self.half_extents();
        let outside = q.sup(&Vector3::zeros()).norm();
        outside + q.max().min(0.0)
    }
}

/// The solid shape of an obstacle.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Shape {
    /// An axis-aligned box.
    Box(Aabb),
    /// A vertical circular cylinder.
    Cylinder {
        /// Axis position (x, y), metres.
        centre: Vector2<f64>,
        /// Radius, metres.
        radius: f64,
        /// Bottom, metres.
        z_min: f64,
        /// Top, metres.
        z_max: f64,
    },
}

impl Shape {
    /// The axis-aligned bounding box.
    #[must_use]
    pub fn bounds(&self) -> Aabb {
        match *self {
            Self::Box(b) => b,
            Self::Cylinder {
                centre,
                radius,
                z_min,
                z_max,
            } => Aabb {
                min: Vector3::new(centre.x - radius, centre.y - radius, z_min),
                max: Vector3::new(centre.x + radius, centre.y + radius, z_max),
            },
        }
    }

    /// Signed distance from `p` to the shape: positive outside, negative inside.
    #[must_use]
    pub fn signed_distance(&self, p: &Vector3<f64>) -> f64 {
        match *self {
            Self::Box(b) => b.signed_distance(p),
            Self::Cylinder {
                centre,
                radius,
                z_min,
                z_max,
            } => {
                let d_r = (p.xy() - centre).norm() - radius;
                let d_z = (z_min - p.z).max(p.z - z_max);
                let outside = Vector2::new(d_r.max(0.0), d_z.max(0.0)).norm();
                outside + d_r.max(d_z).min(0.0)
            }
        }
    }

    /// The nearest intersection with distance in `(0, t_max)` of the ray
    /// `origin + t dir` from outside the shape, and the local face index (box:
    /// 0 -x, 1 +x, 2 -y, 3 +y, 4 -z (bottom), 5 +z (top); cylinder: 0 side,
    /// 1 top, 2 bottom). `inv_dir` is `1 / dir` componentwise (infinite for a zero
    /// component).
    #[inline]
    #[must_use]
    pub fn intersect(
        &self,
        origin: &Vector3<f64>,
        dir: &Vector3<f64>,
        inv_dir: &Vector3<f64>,
        t_max: f64,
    ) -> Option<(f64, u32)> {
        match *self {
            Self::Box(b) => {
                // Branch-free slab test (comparisons written so that they compile
                // to single min/max instructions); the face only for a hit.
                let lo = (b.min - origin).component_mul(inv_dir);
                let hi = (b.max - origin).component_mul(inv_dir);
                let near = Vector3::new(fmin(lo.x, hi.x), fmin(lo.y, hi.y), fmin(lo.z, hi.z));
                let far = Vector3::new(fmax(lo.x, hi.x), fmax(lo.y, hi.y), fmax(lo.z, hi.z));
                let t_near = fmax(fmax(near.x, near.y), near.z);
                let t_far = fmin(fmin(fmin(far.x, far.y), far.z), t_max);
                if !(t_near <= t_far && t_near > 0.0 && t_near < t_max) {
                    return None;
                }
                // Entering through the min face when moving +, the max face when moving -.
                let axis = if t_near == near.x {
                    0
                } else if t_near == near.y {
                    1
                } else {
                    2
                };
                Some((t_near, 2 * axis + u32::from(dir[axis as usize] < 0.0)))
            }
            Self::Cylinder {
                centre,
                radius,
                z_min,
                z_max,
            } => {
                let mut best: Option<(f64, u32)> = None;
                let mut t_best = t_max;
                let ox = origin.x - centre.x;
                let oy = origin.y - centre.y;
                let a = dir.x * dir.x + dir.y * dir.y;
                if a > 1e-18 {
                    let half_b = ox * dir.x + oy * dir.y;
                    let c = ox * ox + oy * oy - radius * radius;
                    let disc = half_b * half_b - a * c;
                    if disc >= 0.0 {
                        let t = (-half_b - disc.sqrt()) / a;
                        let z = origin.z + t * dir.z;
                        if t > 0.0 && t < t_best && z >= z_min && z <= z_max {
                            t_best = t;
                            best = Some((t, 0));
                        }
                    }
                }
                // Caps: the top seen from above, the bottom from below.
                let caps = [(z_max, 1_u32, dir.z < 0.0), (z_min, 2, dir.z > 0.0)];
                for (z_cap, face, facing) in caps {
                    if !facing {
                        continue;
                    }
                    let t = (z_cap - origin.z) * inv_dir.z;
                    if t > 0.0 && t < t_best {
                        let x = ox + t * dir.x;
                        let y = oy + t * dir.y;
                        if x * x + y * y <= radius * radius {
                            t_best = t;
                            best = Some((t, face));
                        }
                    }
                }
                best
            }
        }
    }
}

/// What a surface is, which sets its texture style.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SurfaceKind {
    /// A wall of the room.
    Wall,
    /// The floor.
    Floor,
    /// The ceiling.
    Ceiling,
    /// A face of a box (crate, cabinet, table block).
    Object,
    /// A pillar's side or a partition wall.
    Structure,
}

/// The geometry of one textured surface and its texture coordinates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SurfaceGeometry {
    /// A planar rectangle: `p = origin + u u_axis + v v_axis`, `(u, v)` in
    /// `[0, size.x] x [0, size.y]` metres.
    Plane {
        /// The corner where `(u, v) = (0, 0)`, world frame, metres.
        origin: Vector3<f64>,
        /// Unit direction of increasing `u`.
        u_axis: Vector3<f64>,
        /// Unit direction of increasing `v`.
        v_axis: Vector3<f64>,
        /// Unit normal pointing into free space.
        normal: Vector3<f64>,
        /// Extent along `u` and `v`, metres.
        size: Vector2<f64>,
    },
    /// The side of a vertical cylinder: `u` is arc length from the -x direction
    /// (counter-clockwise seen from above), `v` is height above `z_min`, metres.
    CylinderSide {
        /// Axis position (x, y), metres.
        centre: Vector2<f64>,
        /// Radius, metres.
        radius: f64,
        /// Bottom, metres.
        z_min: f64,
        /// Top, metres.
        z_max: f64,
    },
}

impl SurfaceGeometry {
    /// Texture extent `(u, v)`, metres.
    #[must_use]
    pub fn size(&self) -> Vector2<f64> {
        match *self {
            Self::Plane { size, .. } => size,
            Self::CylinderSide {
                radius,
                z_min,
                z_max,
                ..
            } => Vector2::new(std::f64::consts::TAU * radius, z_max - z_min),
        }
    }

    /// Texture coordinates (metres) of a point on the surface.
    #[inline]
    #[must_use]
    pub fn uv(&self, p: &Vector3<f64>) -> Vector2<f64> {
        match *self {
            Self::Plane {
                origin,
                u_axis,
                v_axis,
                ..
            } => {
                let d = p - origin;
                Vector2::new(d.dot(&u_axis), d.dot(&v_axis))
            }
            Self::CylinderSide {
                centre,
                radius,
                z_min,
                ..
            } => {
                let angle = (p.y - centre.y).atan2(p.x - centre.x) + std::f64::consts::PI;
                Vector2::new(radius * angle, p.z - z_min)
            }
        }
    }

    /// The world point at texture coordinates `uv` (metres).
    #[must_use]
    pub fn point(&self, uv: &Vector2<f64>) -> Vector3<f64> {
        match *self {
            Self::Plane {
                origin,
                u_axis,
                v_axis,
                ..
            } => origin + u_axis * uv.x + v_axis * uv.y,
            Self::CylinderSide {
                centre,
                radius,
                z_min,
                ..
            } => {
                let angle = uv.x / radius - std::f64::consts::PI;
                Vector3::new(
                    centre.x + radius * angle.cos(),
                    centre.y + radius * angle.sin(),
                    z_min + uv.y,
                )
            }
        }
    }

    /// Unit normal into free space at a point on the surface.
    #[inline]
    #[must_use]
    pub fn normal(&self, p: &Vector3<f64>) -> Vector3<f64> {
        match *self {
            Self::Plane { normal, .. } => normal,
            Self::CylinderSide { centre, radius, .. } => {
                Vector3::new((p.x - centre.x) / radius, (p.y - centre.y) / radius, 0.0)
            }
        }
    }
}

/// One textured surface of the world.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Surface {
    /// Geometry and texture coordinates.
    pub geometry: SurfaceGeometry,
    /// What it is (sets the texture style).
    pub kind: SurfaceKind,
    /// False for faces no camera can see (a box's bottom on the floor); they get a
    /// coarse texture.
    pub visible: bool,
}

/// A solid obstacle and the index of its first surface in [`World::surfaces`]
/// (box faces follow in the order of [`Shape::intersect`]'s face index).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Obstacle {
    /// The solid.
    pub shape: Shape,
    /// Index of face 0 in [`World::surfaces`].
    pub first_surface: u32,
}

/// A point light used to shade the textures (Lambertian, inverse square).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PointLight {
    /// Position, world frame, metres.
    pub position: Vector3<f64>,
    /// Relative intensity (irradiance at 1 m on a facing surface).
    pub intensity: f64,
}

/// Where a ray hits the world.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RayHit {
    /// Distance along the (unit) ray, metres.
    pub distance: f64,
    /// Index into [`World::surfaces`].
    pub surface: u32,
    /// Texture coordinates on that surface, metres.
    pub uv: Vector2<f64>,
    /// Unit surface normal into free space, world frame.
    pub normal: Vector3<f64>,
}

/// Parameters of a randomly generated world. Counts are drawn uniformly from
/// `[min, max]`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct WorldConfig {
    /// Smallest room interior `[x, y, z]` (z is the ceiling height), metres.
    pub room_size_min_m: [f64; 3],
    /// Largest room interior `[x, y, z]`, metres.
    pub room_size_max_m: [f64; 3],
    /// Number of boxes standing on the floor, `[min, max]`.
    pub box_count: [usize; 2],
    /// Box footprint side length `[min, max]`, metres.
    pub box_side_m: [f64; 2],
    /// Box height `[min, max]`, metres.
    pub box_height_m: [f64; 2],
    /// Number of floor-to-ceiling round pillars, `[min, max]`.
    pub round_pillar_count: [usize; 2],
    /// Number of floor-to-ceiling square pillars, `[min, max]`.
    pub square_pillar_count: [usize; 2],
    /// Pillar radius (round) or half side (square) `[min, max]`, metres.
    pub pillar_radius_m: [f64; 2],
    /// Number of partition walls, each spanning the room with one doorway,
    /// splitting it into rooms.
    pub partition_count: usize,
    /// Partition wall thickness, metres.
    pub partition_thickness_m: f64,
    /// Doorway width, metres.
    pub door_width_m: f64,
    /// Doorway height, metres.
    pub door_height_m: f64,
    /// Smallest gap between two obstacles, metres.
    pub obstacle_gap_m: f64,
    /// Number of ceiling lights.
    pub light_count: usize,
}

impl Default for WorldConfig {
    fn default() -> Self {
        Self {
            room_size_min_m: [7.0, 5.5, 2.8],
            room_size_max_m: [10.0, 8.0, 3.4],
            box_count: [5, 9],
            box_side_m: [0.3, 1.3],
            box_height_m: [0.3, 1.8],
            round_pillar_count: [1, 2],
            square_pillar_count: [0, 1],
            pillar_radius_m: [0.1, 0.3],
            partition_count: 0,
            partition_thickness_m: 0.12,
            door_width_m: 1.6,
            door_height_m: 2.2,
            obstacle_gap_m: 0.1,
            light_count: 4,
        }
    }
}

/// A room with obstacles and lights.
#[derive(Debug, Clone, PartialEq)]
pub struct World {
    /// The room's interior, metres; walls, floor and ceiling are its faces.
    pub room: Aabb,
    /// Obstacles inside the room.
    pub obstacles: Vec<Obstacle>,
    /// Every surface: the room's six faces first (indices 0..6, in the face order
    /// of [`Shape::intersect`]: walls at x-min, x-max, y-min, y-max, the floor,
    /// the ceiling), then each obstacle's.
    pub surfaces: Vec<Surface>,
    /// Lights.
    pub lights: Vec<PointLight>,
}

/// Texture-coordinate axes of the face `face` (0..6, as in [`Shape::intersect`]) of
/// a box: `(u_axis index, v_axis index)`: walls use the horizontal axis and z,
/// horizontal faces use x and y.
fn face_axes(face: usize) -> (usize, usize) {
    match face / 2 {
        0 => (1, 2),
        1 => (0, 2),
        _ => (0, 1),
    }
}

/// The six planar faces of a box, as surfaces; `inward` for the room (normals
/// into the box), outward for obstacles.
fn box_surfaces(b: &Aabb, inward: bool, kind_of: impl Fn(usize) -> SurfaceKind) -> [Surface; 6] {
    std::array::from_fn(|face| {
        let axis = face / 2;
        let at_max = face % 2 == 1;
        let (ua, va) = face_axes(face);
        let mut origin = b.min;
        if at_max {
            origin[axis] = b.max[axis];
        }
        let mut normal = Vector3::zeros();
        normal[axis] = if at_max == inward { -1.0 } else { 1.0 };
        let mut u_axis = Vector3::zeros();
        u_axis[ua] = 1.0;
        let mut v_axis = Vector3::zeros();
        v_axis[va] = 1.0;
        let size = Vector2::new(b.max[ua] - b.min[ua], b.max[va] - b.min[va]);
        Surface {
            geometry: SurfaceGeometry::Plane {
                origin,
                u_axis,
                v_axis,
                normal,
                size,
            },
            kind: kind_of(face),
            visible: true,
        }
    })
}

impl World {
    /// An empty room with the given interior and no lights (see
    /// [`Self::add_ceiling_lights`]).
    ///
    /// # Errors
    /// If the room is thinner than 0.5 m along an axis.
    pub fn empty_room(room: Aabb) -> Result<Self> {
        let size = room.max - room.min;
        if size.min() < 0.5 || !size.iter().all(|s| s.is_finite()) {
            return Err(DatasetError::InvalidArgument(format!(
                "room interior {size:?} m must be at least 0.5 m along every axis"
            )));
        }
        let surfaces = box_surfaces(&room, true, |face| match face {
            4 => SurfaceKind::Floor,
            5 => SurfaceKind::Ceiling,
            _ => SurfaceKind::Wall,
        })
        .to_vec();
        Ok(Self {
            room,
            obstacles: Vec::new(),
            surfaces,
            lights: Vec::new(),
        })
    }

    /// Adds an obstacle; its surfaces get the given kind (faces lying on the floor
    /// or ceiling are marked invisible).
    ///
    /// # Errors
    /// If the obstacle is degenerate or not inside the room.
    pub fn add_obstacle(&mut self, shape: Shape, kind: SurfaceKind) -> Result<()> {
        let b = shape.bounds();
        let size = b.max - b.min;
        let eps = 1e-9;
        let inside = (0..3)
            .all(|i| b.min[i] >= self.room.min[i] - eps && b.max[i] <= self.room.max[i] + eps);
        if size.min() < 0.01 || !inside {
            return Err(DatasetError::InvalidArgument(format!(
                "obstacle {b:?} is degenerate or not inside the room {:?}",
                self.room
            )));
        }
        let first_surface = self.surfaces.len() as u32;
        let on_floor = b.min.z <= self.room.min.z + 1e-6;
        let at_ceiling = b.max.z >= self.room.max.z - 1e-6;
        match shape {
            Shape::Box(aabb) => {
                let mut faces = box_surfaces(&aabb, false, |_| kind);
                faces[4].visible = !on_floor;
                faces[5].visible = !at_ceiling;
                self.surfaces.extend_from_slice(&faces);
            }
            Shape::Cylinder {
                centre,
                radius,
                z_min,
                z_max,
            } => {
                self.surfaces.push(Surface {
                    geometry: SurfaceGeometry::CylinderSide {
                        centre,
                        radius,
                        z_min,
                        z_max,
                    },
                    kind,
                    visible: true,
                });
                for (z, visible, up) in [(z_max, !at_ceiling, true), (z_min, !on_floor, false)] {
                    self.surfaces.push(Surface {
                        geometry: SurfaceGeometry::Plane {
                            origin: Vector3::new(centre.x - radius, centre.y - radius, z),
                            u_axis: Vector3::x(),
                            v_axis: Vector3::y(),
                            normal: Vector3::new(0.0, 0.0, if up { 1.0 } else { -1.0 }),
                            size: Vector2::new(2.0 * radius, 2.0 * radius),
                        },
                        kind,
                        visible,
                    });
                }
            }
        }
        self.obstacles.push(Obstacle {
            shape,
            first_surface,
        });
        Ok(())
    }

    /// Places `count` lights on a jittered grid 5 cm below the ceiling.
    pub fn add_ceiling_lights(&mut self, count: usize, rng: &mut Rng) {
        let size = self.room.max - self.room.min;
        let count = count.max(1);
        // Grid with cells about as square as the room allows.
        let nx = ((count as f64 * size.x / size.y).sqrt().round() as usize).clamp(1, count);
        let ny = count.div_ceil(nx);
        for i in 0..count {
            let (gx, gy) = (i % nx, i / nx);
            let fx = (gx as f64 + 0.5 + rng.range(-0.2, 0.2)) / nx as f64;
            let fy = (gy as f64 + 0.5 + rng.range(-0.2, 0.2)) / ny as f64;
            self.lights.push(PointLight {
                position: Vector3::new(
                    self.room.min.x + fx * size.x,
                    self.room.min.y + fy * size.y,
                    self.room.max.z - 0.05,
                ),
                intensity: rng.range(0.7, 1.3),
            });
        }
    }

    /// A random world: a room of random size, partition walls with doorways,
    /// pillars and boxes that do not overlap each other (nor block doorways), and
    /// ceiling lights. Deterministic in `seed`.
    ///
    /// # Errors
    /// If the configuration is inconsistent (a range with min > max, a room too
    /// small for a doorway).
    pub fn generate(cfg: &WorldConfig, seed: u64) -> Result<Self> {
        validate_world_config(cfg)?;
        let mut rng = Rng::stream(seed, &[Stream::World.id()]);
        let size =
            Vector3::from_fn(|i, _| rng.range(cfg.room_size_min_m[i], cfg.room_size_max_m[i]));
        // Centred on the origin horizontally, floor at z = 0.
        let room = Aabb::new(
            Vector3::new(-size.x / 2.0, -size.y / 2.0, 0.0),
            Vector3::new(size.x / 2.0, size.y / 2.0, size.z),
        );
        let mut world = Self::empty_room(room)?;
        // Regions that must stay clear: doorway passages.
        let mut keep_clear: Vec<Aabb> = Vec::new();

        for _ in 0..cfg.partition_count {
            world.add_partition(cfg, &mut rng, &mut keep_clear);
        }
        let gap = cfg.obstacle_gap_m;
        let n_round = rng.int_in(cfg.round_pillar_count[0], cfg.round_pillar_count[1]);
        let n_square = rng.int_in(cfg.square_pillar_count[0], cfg.square_pillar_count[1]);
        for i in 0..n_round + n_square {
            let r = rng.range(cfg.pillar_radius_m[0], cfg.pillar_radius_m[1]);
            for _attempt in 0..50 {
                // At least 0.8 m from the walls so the path can go around.
                let margin = r + 0.8;
                let c = Vector2::new(
                    rng.range(room.min.x + margin, room.max.x - margin),
                    rng.range(room.min.y + margin, room.max.y - margin),
                );
                let shape = if i < n_round {
                    Shape::Cylinder {
                        centre: c,
                        radius: r,
                        z_min: room.min.z,
                        z_max: room.max.z,
                    }
                } else {
                    Shape::Box(Aabb::new(
                        Vector3::new(c.x - r, c.y - r, room.min.z),
                        Vector3::new(c.x + r, c.y + r, room.max.z),
                    ))
                };
                if world.fits(&shape.bounds(), 1.0, &keep_clear) {
                    world.add_obstacle(shape, SurfaceKind::Structure)?;
                    break;
                }
            }
        }
        let n_boxes = rng.int_in(cfg.box_count[0], cfg.box_count[1]);
        for _ in 0..n_boxes {
            for _attempt in 0..50 {
                let sx = rng.range(cfg.box_side_m[0], cfg.box_side_m[1]);
                let sy = rng.range(cfg.box_side_m[0], cfg.box_side_m[1]);
                let h = rng
                    .range(cfg.box_height_m[0], cfg.box_height_m[1])
                    .min(size.z - 0.9);
                // Half of the boxes stand against a wall, like furniture.
                let mut x = rng.range(room.min.x + gap, room.max.x - gap - sx);
                let mut y = rng.range(room.min.y + gap, room.max.y - gap - sy);
                if rng.chance(0.5) {
                    match rng.below(4) {
                        0 => x = room.min.x,
                        1 => x = room.max.x - sx,
                        2 => y = room.min.y,
                        _ => y = room.max.y - sy,
                    }
                }
                let b = Aabb::new(
                    Vector3::new(x, y, room.min.z),
                    Vector3::new(x + sx, y + sy, room.min.z + h),
                );
                if world.fits(&b, gap, &keep_clear) {
                    world.add_obstacle(Shape::Box(b), SurfaceKind::Object)?;
                    break;
                }
            }
        }
        world.add_ceiling_lights(cfg.light_count, &mut rng);
        Ok(world)
    }

    /// Whether a new obstacle with bounds `b` stays `gap` away from the existing
    /// ones and out of the `keep_clear` regions.
    fn fits(&self, b: &Aabb, gap: f64, keep_clear: &[Aabb]) -> bool {
        self.obstacles
            .iter()
            .all(|o| !o.shape.bounds().overlaps(b, gap))
            && keep_clear.iter().all(|k| !k.overlaps(b, 0.0))
    }

    /// A wall across the room with one doorway (three boxes: two wall parts and a
    /// lintel), at least 2 m from the room's walls and from other partitions.
    fn add_partition(&mut self, cfg: &WorldConfig, rng: &mut Rng, keep_clear: &mut Vec<Aabb>) {
        let room = self.room;
        let size = room.max - room.min;
        let half_t = cfg.partition_thickness_m / 2.0;
        for _attempt in 0..20 {
            // Across the longer side, so both rooms stay roomy.
            let along_x = if size.x >= size.y { 0 } else { 1 }; // axis the wall is normal to
            let span = 1 - along_x;
            let pos = rng.range(room.min[along_x] + 2.0, room.max[along_x] - 2.0);
            let door_lo = rng.range(
                room.min[span] + 0.4,
                room.max[span] - 0.4 - cfg.door_width_m,
            );
            let door_hi = door_lo + cfg.door_width_m;
            let make = |lo: f64, hi: f64, z0: f64, z1: f64| {
                let mut a = Vector3::new(0.0, 0.0, z0);
                let mut b = Vector3::new(0.0, 0.0, z1);
                a[along_x] = pos - half_t;
                b[along_x] = pos + half_t;
                a[span] = lo;
                b[span] = hi;
                Aabb::new(a, b)
            };
            let parts = [
                make(room.min[span], door_lo, room.min.z, room.max.z),
                make(door_hi, room.max[span], room.min.z, room.max.z),
                make(door_lo, door_hi, room.min.z + cfg.door_height_m, room.max.z),
            ];
            if !parts.iter().all(|p| self.fits(p, 2.0, keep_clear)) {
                continue;
            }
            for p in parts {
                // Infallible here: the parts lie inside the room by construction.
                if self
                    .add_obstacle(Shape::Box(p), SurfaceKind::Structure)
                    .is_err()
                {
                    return;
                }
            }
            // The passage through the door, 1 m to each side, stays clear.
            let mut a = Vector3::new(0.0, 0.0, room.min.z);
            let mut b = Vector3::new(0.0, 0.0, room.min.z + cfg.door_height_m);
            a[along_x] = pos - 1.0;
            b[along_x] = pos + 1.0;
            a[span] = door_lo;
            b[span] = door_hi;
            keep_clear.push(Aabb::new(a, b));
            return;
        }
    }

    /// The nearest surface along the ray `origin + t dir` (`dir` of unit length)
    /// with `t` in `(0, max_distance)`; `None` when nothing is that close. The
    /// origin must lie in free space.
    #[must_use]
    pub fn cast_ray(
        &self,
        origin: &Point3<f64>,
        dir: &Vector3<f64>,
        max_distance: f64,
    ) -> Option<RayHit> {
        let o = origin.coords;
        let inv = dir.map(|c| 1.0 / c);
        let (mut t, face) = room_exit(&self.room, &o, &inv);
        let mut surface = face;
        for ob in &self.obstacles {
            if let Some((t_hit, f)) = ob.shape.intersect(&o, dir, &inv, t) {
                t = t_hit;
                surface = ob.first_surface + f;
            }
        }
        if t.is_nan() || t >= max_distance {
            return None;
        }
        let p = o + dir * t;
        let geometry = &self.surfaces[surface as usize].geometry;
        Some(RayHit {
            distance: t,
            surface,
            uv: geometry.uv(&p),
            normal: geometry.normal(&p),
        })
    }

    /// Distance from `p` to the nearest surface: positive in free space, negative
    /// inside an obstacle or outside the room, metres.
    #[must_use]
    pub fn signed_distance(&self, p: &Vector3<f64>) -> f64 {
        let to_walls = (p - self.room.min).min().min((self.room.max - p).min());
        self.obstacles
            .iter()
            .map(|o| o.shape.signed_distance(p))
            .fold(to_walls, f64::min)
    }

    /// Whether `p` is at least `clearance` metres from every surface.
    #[must_use]
    pub fn is_free(&self, p: &Vector3<f64>, clearance: f64) -> bool {
        self.signed_distance(p) >= clearance
    }

    /// Whether every point of the segment `a`-`b` is at least `clearance` from
    /// every surface (checked every `step` metres and at both ends).
    #[must_use]
    pub fn segment_is_free(
        &self,
        a: &Vector3<f64>,
        b: &Vector3<f64>,
        clearance: f64,
        step: f64,
    ) -> bool {
        let n = ((b - a).norm() / step.max(1e-3)).ceil().max(1.0) as usize;
        (0..=n).all(|i| self.is_free(&a.lerp(b, i as f64 / n as f64), clearance))
    }
}

/// The exit of a ray from inside the room: distance and face (0..6), given the
/// origin and the componentwise inverse direction.
#[inline]
#[must_use]
pub fn room_exit(room: &Aabb, origin: &Vector3<f64>, inv_dir: &Vector3<f64>) -> (f64, u32) {
    let bound = |axis: usize| {
        if inv_dir[axis] >= 0.0 {
            room.max[axis]
        } else {
            room.min[axis]
        }
    };
    let tx = (bound(0) - origin.x) * inv_dir.x;
    let ty = (bound(1) - origin.y) * inv_dir.y;
    let tz = (bound(2) - origin.z) * inv_dir.z;
    let t = fmin(fmin(tx, ty), tz);
    // Leaving through the max face (2 axis + 1) when moving +.
    let axis = if t == tx {
        0
    } else if t == ty {
        1
    } else {
        2
    };
    (t, 2 * axis + u32::from(inv_dir[axis as usize] >= 0.0))
}

/// `min` that compiles to one instruction (`b` if either is NaN).
#[inline(always)]
fn fmin(a: f64, b: f64) -> f64 {
    if a < b { a } else { b }
}

/// `max` that compiles to one instruction (`b` if either is NaN).
#[inline(always)]
fn fmax(a: f64, b: f64) -> f64 {
    if a > b { a } else { b }
}

fn validate_world_config(cfg: &WorldConfig) -> Result<()> {
    let bad = |what: &str| {
        Err(DatasetError::InvalidArgument(format!(
            "world config: {what}"
        )))
    };
    for i in 0..3 {
        if !(cfg.room_size_min_m[i] > 0.0 && cfg.room_size_min_m[i] <= cfg.room_size_max_m[i]) {
            return bad("room_size_min_m must be positive and <= room_size_max_m");
        }
    }
    if cfg.room_size_min_m[0].min(cfg.room_size_min_m[1]) < 4.5 || cfg.room_size_min_m[2] < 2.4 {
        return bad("rooms must be at least 4.5 m x 4.5 m x 2.4 m");
    }
    if cfg.box_count[0] > cfg.box_count[1]
        || cfg.round_pillar_count[0] > cfg.round_pillar_count[1]
        || cfg.square_pillar_count[0] > cfg.square_pillar_count[1]
    {
        return bad("a count range has min > max");
    }
    let pos_range = |r: [f64; 2]| r[0] > 0.0 && r[0] <= r[1];
    if !pos_range(cfg.box_side_m) || !pos_range(cfg.box_height_m) || !pos_range(cfg.pillar_radius_m)
    {
        return bad("size ranges must be positive with min <= max");
    }
    if cfg.partition_count > 0
        && (cfg.door_width_m + 0.8 > cfg.room_size_min_m[0].min(cfg.room_size_min_m[1])
            || cfg.door_height_m >= cfg.room_size_min_m[2]
            || cfg.partition_thickness_m <= 0.0)
    {
        return bad("doorway does not fit in the smallest room");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cube_room() -> World {
        let mut w = World::empty_room(Aabb::new(
            Vector3::new(-3.0, -2.0, 0.0),
            Vector3::new(3.0, 2.0, 3.0),
        ))
        .unwrap_or_else(|e| panic!("{e}"));
        w.add_obstacle(
            Shape::Box(Aabb::new(
                Vector3::new(1.0, -0.5, 0.0),
                Vector3::new(2.0, 0.5, 1.0),
            )),
            SurfaceKind::Object,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        w.add_obstacle(
            Shape::Cylinder {
                centre: Vector2::new(-1.0, 0.0),
                radius: 0.25,
                z_min: 0.0,
                z_max: 2.0,
            },
            SurfaceKind::Structure,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        w
    }

    #[test]
    fn rays_hit_walls_boxes_and_cylinders_at_the_right_distance() {
        let w = cube_room();
        let o = Point3::new(0.0, 0.0, 0.5);
        let hit = w
            .cast_ray(&o, &Vector3::x(), 100.0)
            .unwrap_or_else(|| panic!("miss"));
        assert!((hit.distance - 1.0).abs() < 1e-12);
        assert_eq!(hit.surface, w.obstacles[0].first_surface); // -x face of the box
        assert_eq!(hit.normal, -Vector3::x());
        let hit = w
            .cast_ray(&o, &-Vector3::x(), 100.0)
            .unwrap_or_else(|| panic!("miss"));
        assert!((hit.distance - 0.75).abs() < 1e-12);
        assert_eq!(hit.surface, w.obstacles[1].first_surface);
        assert!((hit.normal - Vector3::x()).norm() < 1e-12);
        let hit = w
            .cast_ray(&o, &Vector3::y(), 100.0)
            .unwrap_or_else(|| panic!("miss"));
        assert!((hit.distance - 2.0).abs() < 1e-12);
        assert_eq!(hit.surface, 3);
        assert_eq!(hit.normal, -Vector3::y());
        let up = Point3::new(1.5, 0.0, 2.0);
        let hit = w
            .cast_ray(&up, &-Vector3::z(), 100.0)
            .unwrap_or_else(|| panic!("miss"));
        assert!((hit.distance - 1.0).abs() < 1e-12);
        assert_eq!(hit.surface, w.obstacles[0].first_surface + 5); // the box's top
        let over = Point3::new(-1.0, 0.1, 2.5);
        let hit = w
            .cast_ray(&over, &-Vector3::z(), 100.0)
            .unwrap_or_else(|| panic!("miss"));
        assert!((hit.distance - 0.5).abs() < 1e-12);
        assert_eq!(hit.surface, w.obstacles[1].first_surface + 1); // the pillar's cap
        assert!(w.cast_ray(&o, &Vector3::y(), 1.5).is_none());
    }

    #[test]
    fn texture_coordinates_round_trip() {
        let w = cube_room();
        for s in &w.surfaces {
            let size = s.geometry.size();
            let uv = Vector2::new(0.3 * size.x, 0.7 * size.y);
            let p = s.geometry.point(&uv);
            assert!((s.geometry.uv(&p) - uv).norm() < 1e-9, "{s:?}");
        }
    }

    #[test]
    fn signed_distance_is_positive_only_in_free_space() {
        let w = cube_room();
        // Nearest is the pillar of radius 0.25 at 1 m.
        assert!((w.signed_distance(&Vector3::new(0.0, 0.0, 1.5)) - 0.75).abs() < 1e-12);
        assert!(w.signed_distance(&Vector3::new(1.5, 0.0, 0.5)) < 0.0);
        assert!(w.signed_distance(&Vector3::new(-1.0, 0.0, 1.0)) < 0.0);
        assert!(w.signed_distance(&Vector3::new(0.0, 0.0, 3.5)) < 0.0);
        assert!((w.signed_distance(&Vector3::new(-1.5, 0.0, 1.0)) - 0.25).abs() < 1e-12);
    }

    #[test]
    fn generated_worlds_are_deterministic_and_consistent() {
        let cfg = WorldConfig {
            partition_count: 1,
            ..WorldConfig::default()
        };
        for seed in 0..20 {
            let w = World::generate(&cfg, seed).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(
                w,
                World::generate(&cfg, seed).unwrap_or_else(|e| panic!("{e}"))
            );
            assert!(w.obstacles.len() >= 4, "seed {seed}: {}", w.obstacles.len());
            assert_eq!(w.lights.len(), cfg.light_count);
            for (i, a) in w.obstacles.iter().enumerate() {
                for b in &w.obstacles[i + 1..] {
                    // Partition parts touch each other (wall and lintel); others keep the gap.
                    let (ba, bb) = (a.shape.bounds(), b.shape.bounds());
                    assert!(!ba.overlaps(&bb, -1e-9), "seed {seed}: {ba:?} {bb:?}");
                }
            }
        }
    }
}
