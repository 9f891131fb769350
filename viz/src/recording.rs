//! Rerun recordings of a run (feature `rerun`): what the VIO sees and
//! estimates, the map it builds, where the planner wants to go, and what each
//! stage costs, on the sensor's timeline, saved to an `.rrd` file, streamed to
//! a running viewer, or both.
//!
//! Frames and units: the VIO's world frame (z up, gravity aligned; its origin
//! and yaw are the VIO's first pose), metres; images in pixels; time on the
//! `t_ns` timeline is the sensor's time stamp, ns since the Unix epoch as in
//! EuRoC. Exploration runs in its own simulated world, on the `explore_time`
//! timeline (seconds of simulated motion), drawn in the map image's pixels.
//!
//! Entity paths (the contract the tests and `.ci/run` check; see
//! [`paths`]):
//!
//! ```text
//! world                          z-up view coordinates (static)
//! world/trajectory               estimated body trajectory, one strip per tracking session
//! world/ground_truth             ground truth, aligned to the estimate (SE(3), static)
//! world/body                     estimated world_from_body
//! world/body/cam0, cam1          body_from_cam and the pinhole (static)
//! world/body/cam0/image          left image            .../cam1/image  right image
//! world/body/cam0/tracks         features coloured by track age, ids as hidden labels
//! world/body/cam0/tails          the last positions of each track
//! world/body/cam1/matches        stereo matches: arrows from the left position to the right one
//! world/landmarks                the window's landmarks
//! world/map/voxels               occupied voxels of the map, coloured by height
//! world/map/slice                the map's layer at flight height
//! stats/time_ms/STAGE            wall time per frame (frontend, backend) or keyframe (map)
//! stats/dram_kB/STAGE            counted main-memory traffic
//! stats/energy_uJ/STAGE          modelled energy on the recording's hardware
//! stats/ate_mm                   position error after alignment
//! explore/PLANNER/map            the planner's map layer (grey unknown, white free, black occupied)
//! explore/PLANNER/mi             candidate poses coloured by mutual information (the heatmap)
//! explore/PLANNER/goal, path     the chosen goal and the path to it
//! explore/PLANNER/travelled, robot, scan
//! stats/coverage/PLANNER         explored fraction of the reachable free space
//! ```
//!
//! The blueprint ([`Layout`]) lays these out in tabs: the VIO (3D scene, the
//! two cameras, stage costs), the map, and exploration.

use std::collections::HashMap;
use std::path::PathBuf;

use datasets::{GrayImage, RigCalibration};
use exploration::grid::Grid2;
use exploration::sim::ExploreEvent;
use mapping::{FixedMap, Occupancy, OccupancyMap, Slice2D};
use nalgebra::{Isometry3, Point3};
use rerun::blueprint::{
    Blueprint, BlueprintActivation, BlueprintPanel, ContainerLike, Horizontal, SelectionPanel,
    Spatial2DView, Spatial3DView, Tabs, TimePanel, TimeSeriesView, Vertical,
};
use rerun::{RecordingStream, TimeCell};
use vio::backend::{Estimate, TrackingStatus};
use vio::frontend::Feature;

/// The sensor timeline.
pub const SENSOR_TIMELINE: &str = "t_ns";
/// The exploration timeline (simulated seconds).
pub const EXPLORE_TIMELINE: &str = "explore_time";
/// The Rerun version the recordings are written with (open them with the
/// viewer of the same version: `pip install rerun-sdk==` this).
pub const RERUN_VERSION: &str = "0.36.3";

/// The entity paths, in one place.
pub mod paths {
    /// The VIO's world.
    pub const WORLD: &str = "world";
    /// Estimated trajectory.
    pub const TRAJECTORY: &str = "world/trajectory";
    /// Ground truth, aligned to the estimate.
    pub const GROUND_TRUTH: &str = "world/ground_truth";
    /// The body pose.
    pub const BODY: &str = "world/body";
    /// The cameras (index 0 left, 1 right).
    pub const CAMERAS: [&str; 2] = ["world/body/cam0", "world/body/cam1"];
    /// Their images.
    pub const IMAGES: [&str; 2] = ["world/body/cam0/image", "world/body/cam1/image"];
    /// Features in the left image.
    pub const TRACKS: &str = "world/body/cam0/tracks";
    /// Track tails in the left image.
    pub const TAILS: &str = "world/body/cam0/tails";
    /// Stereo matches in the right image.
    pub const MATCHES: &str = "world/body/cam1/matches";
    /// The window's landmarks.
    pub const LANDMARKS: &str = "world/landmarks";
    /// Occupied voxels.
    pub const VOXELS: &str = "world/map/voxels";
    /// The map's layer at flight height.
    pub const SLICE: &str = "world/map/slice";
    /// Position error over time.
    pub const ATE: &str = "stats/ate_mm";
}

/// Where a recording goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sink {
    /// An `.rrd` file.
    File(PathBuf),
    /// A running viewer: `HOST:PORT` (the viewer's gRPC port, 9876 by
    /// default) or a full `rerun+http://HOST:PORT/proxy` address.
    Connect(String),
    /// A viewer started here (the `rerun` executable must be on the PATH).
    Spawn,
}

/// A recording that could not be opened or written.
#[derive(Debug, thiserror::Error)]
pub enum RecordingError {
    /// The file could not be created.
    #[error("{path}: cannot write the recording: {message}")]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// A bad viewer address.
    #[error("--connect {address}: {message} (expected HOST:PORT or rerun+http://HOST:PORT/proxy)")]
    Address {
        /// What was given.
        address: String,
        /// Why it was refused.
        message: String,
    },
    /// The viewer could not be started.
    #[error(
        "cannot start a Rerun viewer: {0} (pip install rerun-sdk=={RERUN_VERSION} puts `rerun` on the PATH)"
    )]
    Spawn(String),
    /// A sink did not take everything within the wait given to
    /// [`Recorder::flush_within`] (a `--connect`ed viewer that is not
    /// listening, or too slow).
    #[error("the recording's sinks did not take it all within {seconds} s")]
    FlushTimeout {
        /// The wait, s.
        seconds: f64,
    },
    /// The SDK refused something.
    #[error("rerun: {0}")]
    Sdk(String),
}

fn sdk<E: std::fmt::Display>(e: E) -> RecordingError {
    RecordingError::Sdk(e.to_string())
}

/// Which tabs the blueprint has.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Layout {
    /// The VIO tab (3D scene, cameras, stage costs).
    pub vio: bool,
    /// The map tab.
    pub map: bool,
    /// One view per exploration run (planner names).
    pub explore: Vec<String>,
}

/// JPEG quality of the logged images (1-100): corners and tracks stay
/// sharp to the eye at 3-4x less than the PNG files (the noise of a real or
/// rendered sensor is what JPEG cannot compress).
pub const JPEG_QUALITY: u8 = 80;

/// How many positions a track's tail keeps.
const TAIL_LENGTH: usize = 12;
/// A track this old or older gets the last colour of the ramp.
const OLD_TRACK: u32 = 30;

/// A Rerun recording of scout's stages.
pub struct Recorder {
    rec: RecordingStream,
    /// One strip per tracking session, f32 metres.
    trajectory: Vec<Vec<[f32; 3]>>,
    session: Option<u32>,
    tails: HashMap<u64, Vec<[f32; 2]>>,
    travelled: HashMap<String, Vec<[f32; 2]>>,
    sinks: Vec<Sink>,
    /// Scratch for image encoding.
    jpeg: Vec<u8>,
    /// Chart series already given their name and colour.
    styled: std::collections::HashSet<String>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("sinks", &self.sinks)
            .finish_non_exhaustive()
    }
}

/// One frame of the VIO, as the recorder shows it.
#[derive(Debug, Clone, Copy)]
pub struct FrameLog<'a> {
    /// Sensor time, ns.
    pub t_ns: i64,
    /// The left and right images (logged as JPEG, see [`JPEG_QUALITY`]);
    /// `None` to leave the images out of this frame.
    pub images: [Option<&'a GrayImage>; 2],
    /// The front end's features.
    pub features: &'a [Feature],
    /// The back end's estimate.
    pub estimate: &'a Estimate,
    /// The window's landmarks (world, m).
    pub landmarks: &'a [(u64, Point3<f64>)],
}

/// One stage's figures for one run (frame, keyframe) on the charts.
#[derive(Debug, Clone, Copy, Default)]
pub struct StageFigures {
    /// Wall time, ms (`None` when not measured).
    pub time_ms: Option<f64>,
    /// Counted main-memory traffic, kB.
    pub dram_kb: Option<f64>,
    /// Modelled energy, uJ.
    pub energy_uj: Option<f64>,
}

impl Recorder {
    /// Opens a recording that goes to every sink in `sinks` (at least one).
    ///
    /// # Errors
    /// If a file cannot be created, an address is malformed, or a viewer
    /// cannot be started.
    pub fn new(application: &'static str, sinks: &[Sink]) -> Result<Self, RecordingError> {
        let mut boxed: Vec<Box<dyn rerun::sink::LogSink>> = Vec::new();
        for sink in sinks {
            match sink {
                Sink::File(path) => {
                    let file =
                        rerun::sink::FileSink::new(path).map_err(|e| RecordingError::File {
                            path: path.clone(),
                            message: e.to_string(),
                        })?;
                    boxed.push(Box::new(file));
                }
                Sink::Connect(address) => {
                    boxed.push(Box::new(rerun::sink::GrpcSink::new(proxy_uri(address)?)));
                }
                Sink::Spawn => {
                    let opts = rerun::SpawnOptions::default();
                    rerun::spawn(&opts).map_err(|e| RecordingError::Spawn(e.to_string()))?;
                    let address = format!("127.0.0.1:{}", opts.port);
                    boxed.push(Box::new(rerun::sink::GrpcSink::new(proxy_uri(&address)?)));
                }
            }
        }
        if boxed.is_empty() {
            return Err(RecordingError::Sdk("no sink to record to".into()));
        }
        let rec = rerun::RecordingStreamBuilder::new(application)
            .set_sinks(boxed)
            .map_err(sdk)?;
        Ok(Self {
            rec,
            trajectory: Vec::new(),
            session: None,
            tails: HashMap::new(),
            travelled: HashMap::new(),
            sinks: sinks.to_vec(),
            jpeg: Vec::new(),
            styled: std::collections::HashSet::new(),
        })
    }

    /// Sends the blueprint: tabs for the VIO, the map and exploration as
    /// `layout` asks, the time panel on the sensor timeline when there is a
    /// VIO tab.
    ///
    /// # Errors
    /// If the SDK refuses it.
    pub fn send_blueprint(&self, layout: &Layout) -> Result<(), RecordingError> {
        let mut tabs: Vec<ContainerLike> = Vec::new();
        if layout.vio {
            let scene = Spatial3DView::new("3D: trajectory, landmarks, cameras")
                .with_origin(paths::WORLD)
                .with_contents(["+ $origin/**", "- /world/map/**"]);
            let cameras = Vertical::new([
                Spatial2DView::new("left camera: tracks by age")
                    .with_origin(paths::CAMERAS[0])
                    .into(),
                Spatial2DView::new("right camera: stereo matches")
                    .with_origin(paths::CAMERAS[1])
                    .into(),
            ]);
            let charts = Horizontal::new([
                TimeSeriesView::new("time per run (ms)")
                    .with_origin("stats/time_ms")
                    .into(),
                TimeSeriesView::new("main-memory traffic (kB)")
                    .with_origin("stats/dram_kB")
                    .into(),
                TimeSeriesView::new("modelled energy (uJ)")
                    .with_origin("stats/energy_uJ")
                    .into(),
                TimeSeriesView::new("position error (mm)")
                    .with_origin(paths::ATE)
                    .into(),
            ]);
            let top =
                Horizontal::new([scene.into(), cameras.into()]).with_column_shares([3.0, 2.0]);
            tabs.push(
                Vertical::new([top.into(), charts.into()])
                    .with_name("VIO")
                    .with_row_shares([3.0, 1.0])
                    .into(),
            );
        }
        if layout.map {
            tabs.push(
                Spatial3DView::new("Map")
                    .with_origin(paths::WORLD)
                    .with_contents([
                        "+ /world/map/**".to_string(),
                        format!("+ /{}", paths::TRAJECTORY),
                        format!("+ /{}", paths::GROUND_TRUTH),
                        format!("+ /{}", paths::BODY),
                    ])
                    .into(),
            );
        }
        if !layout.explore.is_empty() {
            let views: Vec<ContainerLike> = layout
                .explore
                .iter()
                .map(|p| {
                    Spatial2DView::new(format!("{p}: map, MI of candidate poses, goal, path"))
                        .with_origin(format!("explore/{p}"))
                        .into()
                })
                .collect();
            tabs.push(
                Vertical::new([
                    Horizontal::new(views).into(),
                    TimeSeriesView::new("coverage of the reachable free space")
                        .with_origin("stats/coverage")
                        .into(),
                ])
                .with_name("Exploration")
                .with_row_shares([3.0, 1.0])
                .into(),
            );
        }
        let timeline = if layout.vio || layout.map {
            SENSOR_TIMELINE
        } else {
            EXPLORE_TIMELINE
        };
        let collapsed = rerun::blueprint::components::PanelState::Collapsed;
        Blueprint::new(Tabs::new(tabs))
            .with_blueprint_panel(BlueprintPanel::new().with_state(collapsed))
            .with_selection_panel(SelectionPanel::new().with_state(collapsed))
            .with_time_panel(TimePanel::new().with_timeline(timeline))
            .send(&self.rec, BlueprintActivation::default())
            .map_err(sdk)
    }

    /// Logs the static parts of the rig: z-up world, each camera's pose on
    /// the body and its pinhole (undistorted model; the images are shown as
    /// taken).
    ///
    /// # Errors
    /// If the SDK refuses it.
    pub fn log_rig(&self, rig: &RigCalibration) -> Result<(), RecordingError> {
        self.rec
            .log_static(paths::WORLD, &rerun::ViewCoordinates::RIGHT_HAND_Z_UP())
            .map_err(sdk)?;
        for (cam, path) in [&rig.cam0, &rig.cam1].into_iter().zip(paths::CAMERAS) {
            self.rec
                .log_static(path, &transform(&cam.body_from_cam))
                .map_err(sdk)?;
            let k = &cam.intrinsics;
            let pinhole = rerun::Pinhole::from_focal_length_and_resolution(
                [k.fx as f32, k.fy as f32],
                [cam.width as f32, cam.height as f32],
            )
            .with_principal_point([k.cx as f32, k.cy as f32])
            .with_image_plane_distance(0.25);
            self.rec.log_static(path, &pinhole).map_err(sdk)?;
        }
        Ok(())
    }

    fn at_sensor_time(&self, t_ns: i64) {
        self.rec.set_time(
            SENSOR_TIMELINE,
            TimeCell::from_timestamp_nanos_since_epoch(t_ns),
        );
    }

    /// Logs one frame: the images, the features (coloured by track age, with
    /// their tails), the stereo matches, the pose, the trajectory so far and
    /// the window's landmarks.
    ///
    /// # Errors
    /// If the SDK refuses it.
    pub fn log_frame(&mut self, frame: &FrameLog<'_>) -> Result<(), RecordingError> {
        self.at_sensor_time(frame.t_ns);
        let rec = &self.rec;
        for (image, path) in frame.images.iter().zip(paths::IMAGES) {
            if let Some(img) = image {
                self.jpeg.clear();
                let (Ok(w), Ok(h)) = (u16::try_from(img.width()), u16::try_from(img.height()))
                else {
                    return Err(RecordingError::Sdk(format!(
                        "a {}x{} image is too large for JPEG",
                        img.width(),
                        img.height()
                    )));
                };
                jpeg_encoder::Encoder::new(&mut self.jpeg, JPEG_QUALITY)
                    .encode(img.data(), w, h, jpeg_encoder::ColorType::Luma)
                    .map_err(sdk)?;
                rec.log(
                    path,
                    &rerun::EncodedImage::from_file_contents(self.jpeg.clone())
                        .with_media_type(rerun::MediaType::JPEG),
                )
                .map_err(sdk)?;
            }
        }
        // Features in the left image, and their tails.
        let positions: Vec<[f32; 2]> = frame
            .features
            .iter()
            .map(|f| [f.left.x as f32, f.left.y as f32])
            .collect();
        let colors: Vec<rerun::Color> = frame
            .features
            .iter()
            .map(|f| {
                let [r, g, b] = age_color(f.age);
                rerun::Color::from_rgb(r, g, b)
            })
            .collect();
        rec.log(
            paths::TRACKS,
            &rerun::Points2D::new(positions.iter().copied())
                .with_colors(colors.iter().copied())
                .with_radii([2.5f32])
                .with_labels(
                    frame
                        .features
                        .iter()
                        .map(|f| format!("{} (age {})", f.id, f.age)),
                )
                .with_show_labels(false),
        )
        .map_err(sdk)?;
        // Tails of the tracks alive in this frame; the others are forgotten.
        let mut tails = std::mem::take(&mut self.tails);
        self.tails.reserve(frame.features.len());
        for (f, p) in frame.features.iter().zip(&positions) {
            let mut tail = tails.remove(&f.id).unwrap_or_default();
            if f.age == 0 {
                tail.clear();
            }
            tail.push(*p);
            if tail.len() > TAIL_LENGTH {
                tail.remove(0);
            }
            self.tails.insert(f.id, tail);
        }
        let mut strips = Vec::new();
        let mut strip_colors = Vec::new();
        for (f, c) in frame.features.iter().zip(&colors) {
            if let Some(t) = self.tails.get(&f.id)
                && t.len() > 1
            {
                strips.push(t.clone());
                strip_colors.push(*c);
            }
        }
        rec.log(
            paths::TAILS,
            &rerun::LineStrips2D::new(strips).with_colors(strip_colors),
        )
        .map_err(sdk)?;
        // Stereo matches, drawn on the right image.
        let (origins, vectors): (Vec<[f32; 2]>, Vec<[f32; 2]>) = frame
            .features
            .iter()
            .filter_map(|f| {
                let r = f.right?;
                Some((
                    [f.left.x as f32, f.left.y as f32],
                    [(r.x - f.left.x) as f32, (r.y - f.left.y) as f32],
                ))
            })
            .unzip();
        rec.log(
            paths::MATCHES,
            &rerun::Arrows2D::from_vectors(vectors)
                .with_origins(origins)
                .with_colors([rerun::Color::from_rgb(40, 200, 230)]),
        )
        .map_err(sdk)?;
        // The pose and the trajectory, while tracking.
        let e = frame.estimate;
        if e.status == TrackingStatus::Tracking {
            rec.log(paths::BODY, &transform(&e.world_from_body))
                .map_err(sdk)?;
            if self.session != Some(e.session) {
                self.session = Some(e.session);
                self.trajectory.push(Vec::new());
            }
            let t = e.world_from_body.translation.vector;
            if let Some(strip) = self.trajectory.last_mut() {
                strip.push([t.x as f32, t.y as f32, t.z as f32]);
            }
            rec.log(
                paths::TRAJECTORY,
                &rerun::LineStrips3D::new(self.trajectory.iter().cloned())
                    .with_colors([rerun::Color::from_rgb(40, 110, 230)])
                    .with_radii([0.008f32]),
            )
            .map_err(sdk)?;
        }
        rec.log(
            paths::LANDMARKS,
            &rerun::Points3D::new(
                frame
                    .landmarks
                    .iter()
                    .map(|(_, p)| [p.x as f32, p.y as f32, p.z as f32]),
            )
            .with_colors([rerun::Color::from_rgb(235, 140, 30)])
            .with_radii([0.015f32]),
        )
        .map_err(sdk)?;
        Ok(())
    }

    /// Logs the ground truth (already in the estimate's world frame) as one
    /// static strip.
    ///
    /// # Errors
    /// If the SDK refuses it.
    pub fn log_ground_truth(&self, points: &[[f32; 3]]) -> Result<(), RecordingError> {
        self.rec
            .log_static(
                paths::GROUND_TRUTH,
                &rerun::LineStrips3D::new([points.to_vec()])
                    .with_colors([rerun::Color::from_rgb(60, 180, 75)])
                    .with_radii([0.006f32]),
            )
            .map_err(sdk)
    }

    /// Logs the position error at `t_ns`, m (shown in mm).
    ///
    /// # Errors
    /// If the SDK refuses it.
    pub fn log_position_error(&mut self, t_ns: i64, error_m: f64) -> Result<(), RecordingError> {
        self.at_sensor_time(t_ns);
        self.style_series(paths::ATE, "position error")?;
        self.rec
            .log(paths::ATE, &rerun::Scalars::single(error_m * 1e3))
            .map_err(sdk)
    }

    /// Gives a chart series its name and its colour (the same colour for a
    /// stage or a planner on every chart), once.
    fn style_series(&mut self, path: &str, name: &str) -> Result<(), RecordingError> {
        if self.styled.contains(path) {
            return Ok(());
        }
        let [r, g, b] = series_color(name);
        self.rec
            .log_static(
                path,
                &rerun::SeriesLines::new()
                    .with_names([name])
                    .with_colors([rerun::Color::from_rgb(r, g, b)])
                    .with_widths([1.5f32]),
            )
            .map_err(sdk)?;
        self.styled.insert(path.to_string());
        Ok(())
    }

    /// Logs one stage's figures at `t_ns` under `stats/*/STAGE`.
    ///
    /// # Errors
    /// If the SDK refuses it.
    pub fn log_stage(
        &mut self,
        t_ns: i64,
        stage: &str,
        figures: &StageFigures,
    ) -> Result<(), RecordingError> {
        self.at_sensor_time(t_ns);
        for (chart, value) in [
            ("time_ms", figures.time_ms),
            ("dram_kB", figures.dram_kb),
            ("energy_uJ", figures.energy_uj),
        ] {
            if let Some(v) = value {
                let path = format!("stats/{chart}/{stage}");
                self.style_series(&path, stage)?;
                self.rec
                    .log(path, &rerun::Scalars::single(v))
                    .map_err(sdk)?;
            }
        }
        Ok(())
    }

    /// Logs the map at `t_ns`: its occupied voxels (coloured by height) and,
    /// when given, its layer at flight height.
    ///
    /// # Errors
    /// If the SDK refuses it.
    pub fn log_map(
        &self,
        t_ns: i64,
        map: &FixedMap,
        slice: Option<&Slice2D>,
    ) -> Result<(), RecordingError> {
        self.at_sensor_time(t_ns);
        let (indices, heights) = occupied_voxels(map);
        let res = map.resolution() as f32;
        self.rec
            .log(
                paths::VOXELS,
                &rerun::VoxelGridMap::new(indices, [res, res, res])
                    .with_values(heights)
                    .with_colormap(rerun::components::Colormap::Turbo),
            )
            .map_err(sdk)?;
        if let Some(s) = slice {
            let data: Vec<u8> = s
                .cells
                .iter()
                .map(|c| match c {
                    Occupancy::Unknown => 255,
                    Occupancy::Free => 0,
                    Occupancy::Occupied => 100,
                })
                .collect();
            let z = (f64::from(s.z_cells[0]) + 0.5) * s.resolution;
            self.rec
                .log(
                    paths::SLICE,
                    &rerun::GridMap::new(
                        data,
                        rerun::components::ImageFormat::from_color_model(
                            [s.width as u32, s.height as u32],
                            rerun::ColorModel::L,
                            rerun::ChannelDatatype::U8,
                        ),
                        s.resolution as f32,
                    )
                    .with_translation([s.origin_m[0] as f32, s.origin_m[1] as f32, z as f32])
                    .with_colormap(rerun::components::Colormap::RvizMap)
                    .with_opacity(0.6),
                )
                .map_err(sdk)?;
        }
        Ok(())
    }

    /// Logs one event of an exploration run under `explore/PLANNER`: a scan
    /// moves the robot and adds to the travelled path and the coverage; a
    /// plan shows the map it was made on, the candidates coloured by their
    /// mutual information, the goal and the path.
    ///
    /// # Errors
    /// If the SDK refuses it.
    pub fn log_explore(
        &mut self,
        planner: &str,
        event: &ExploreEvent<'_>,
    ) -> Result<(), RecordingError> {
        let base = format!("explore/{planner}");
        match event {
            ExploreEvent::Scan {
                time_s,
                position,
                points,
                range_m,
                grid,
                coverage,
            } => {
                self.rec.set_duration_secs(EXPLORE_TIMELINE, *time_s);
                let px = to_pixels(grid, position[0], position[1]);
                let travelled = self.travelled.entry(planner.to_string()).or_default();
                travelled.push(px);
                self.rec
                    .log(
                        format!("{base}/travelled"),
                        &rerun::LineStrips2D::new([travelled.clone()])
                            .with_colors([rerun::Color::from_rgb(30, 80, 220)])
                            .with_draw_order(30.0),
                    )
                    .map_err(sdk)?;
                self.rec
                    .log(
                        format!("{base}/robot"),
                        &rerun::Points2D::new([px])
                            .with_colors([rerun::Color::from_rgb(0, 170, 0)])
                            .with_radii([3.0f32])
                            .with_draw_order(50.0),
                    )
                    .map_err(sdk)?;
                self.rec
                    .log(
                        format!("{base}/scan"),
                        &rerun::Points2D::new(
                            points
                                .iter()
                                .filter(|p| {
                                    (p.x - position[0]).hypot(p.y - position[1]) <= *range_m
                                })
                                .map(|p| to_pixels(grid, p.x, p.y)),
                        )
                        .with_colors([rerun::Color::from_rgb(220, 40, 40)])
                        .with_radii([0.6f32])
                        .with_draw_order(20.0),
                    )
                    .map_err(sdk)?;
                let path = format!("stats/coverage/{planner}");
                self.style_series(&path, planner)?;
                self.rec
                    .log(path, &rerun::Scalars::single(*coverage))
                    .map_err(sdk)?;
            }
            ExploreEvent::Plan {
                time_s,
                plan,
                candidates,
                grid,
                ..
            } => {
                self.rec.set_duration_secs(EXPLORE_TIMELINE, *time_s);
                self.log_grid(&format!("{base}/map"), grid)?;
                let max_gain = candidates
                    .iter()
                    .map(|c| c.gain_bits)
                    .fold(0.0f32, f32::max)
                    .max(f32::MIN_POSITIVE);
                let cell_px =
                    |c: (usize, usize)| [c.0 as f32 + 0.5, grid.height() as f32 - c.1 as f32 - 0.5];
                self.rec
                    .log(
                        format!("{base}/mi"),
                        &rerun::Points2D::new(candidates.iter().map(|c| cell_px(c.cell)))
                            .with_colors(candidates.iter().map(|c| {
                                let [r, g, b] = heat_color(c.gain_bits / max_gain);
                                rerun::Color::from_rgb(r, g, b)
                            }))
                            .with_radii([2.5f32])
                            .with_labels(
                                candidates
                                    .iter()
                                    .map(|c| format!("{:.1} bits", c.gain_bits)),
                            )
                            .with_show_labels(false)
                            .with_draw_order(10.0),
                    )
                    .map_err(sdk)?;
                let (goal, path): (Vec<[f32; 2]>, Vec<[f32; 2]>) = match plan {
                    Some(p) => (
                        vec![cell_px(p.goal)],
                        p.path.iter().map(|&c| cell_px(c)).collect(),
                    ),
                    None => (Vec::new(), Vec::new()),
                };
                self.rec
                    .log(
                        format!("{base}/goal"),
                        &rerun::Points2D::new(goal)
                            .with_colors([rerun::Color::from_rgb(250, 150, 0)])
                            .with_radii([4.0f32])
                            .with_draw_order(60.0),
                    )
                    .map_err(sdk)?;
                self.rec
                    .log(
                        format!("{base}/path"),
                        &rerun::LineStrips2D::new([path])
                            .with_colors([rerun::Color::from_rgb(250, 150, 0)])
                            .with_draw_order(40.0),
                    )
                    .map_err(sdk)?;
            }
        }
        Ok(())
    }

    /// Logs a planner's map layer as a greyscale image, +y up.
    fn log_grid(&self, path: &str, grid: &Grid2) -> Result<(), RecordingError> {
        let (w, h) = (grid.width(), grid.height());
        let mut px = vec![0u8; w * h];
        for row in 0..h {
            for col in 0..w {
                px[(h - 1 - row) * w + col] = match grid.occupancy(col, row) {
                    Occupancy::Unknown => 128,
                    Occupancy::Free => 255,
                    Occupancy::Occupied => 0,
                };
            }
        }
        self.rec
            .log(
                path,
                &rerun::Image::from_l8(px, [w as u32, h as u32]).with_draw_order(0.0),
            )
            .map_err(sdk)
    }

    /// Sends everything logged so far and waits for it to be written or
    /// sent.
    ///
    /// # Errors
    /// If a sink cannot take it.
    pub fn flush(&self) -> Result<(), RecordingError> {
        self.rec.flush_blocking().map_err(sdk)
    }

    /// As [`Self::flush`], waiting at most `timeout`.
    ///
    /// # Errors
    /// [`RecordingError::FlushTimeout`] when a sink has not taken it all by
    /// then (the recording's drop would then wait for it forever: forget
    /// the recorder rather than drop it); [`RecordingError::Sdk`] when a
    /// sink failed.
    pub fn flush_within(&self, timeout: std::time::Duration) -> Result<(), RecordingError> {
        match self.rec.flush_with_timeout(timeout) {
            Ok(()) => Ok(()),
            Err(rerun::sink::SinkFlushError::Timeout) => Err(RecordingError::FlushTimeout {
                seconds: timeout.as_secs_f64(),
            }),
            Err(e) => Err(sdk(e)),
        }
    }
}

/// A `Transform3D` of an isometry.
fn transform(iso: &Isometry3<f64>) -> rerun::Transform3D {
    let t = iso.translation.vector;
    let q = iso.rotation.coords; // x, y, z, w
    rerun::Transform3D::from_translation_rotation(
        [t.x as f32, t.y as f32, t.z as f32],
        rerun::Quaternion::from_xyzw([q.x as f32, q.y as f32, q.z as f32, q.w as f32]),
    )
}

/// `HOST:PORT` or a full URL to the viewer's proxy address.
fn proxy_uri(address: &str) -> Result<rerun::external::re_uri::ProxyUri, RecordingError> {
    let url = if address.contains("://") {
        address.to_string()
    } else {
        format!("rerun+http://{address}/proxy")
    };
    url.parse().map_err(
        |e: rerun::external::re_uri::Error| RecordingError::Address {
            address: address.to_string(),
            message: e.to_string(),
        },
    )
}

/// Pixel coordinates of world point x, y (m) in [`Recorder::log_grid`]'s image.
fn to_pixels(grid: &Grid2, x: f64, y: f64) -> [f32; 2] {
    let o = grid.origin_m();
    let res = grid.resolution();
    [
        ((x - o[0]) / res) as f32,
        (grid.height() as f64 - (y - o[1]) / res) as f32,
    ]
}

/// The occupied cells' indices and centre heights (m).
fn occupied_voxels(map: &FixedMap) -> (Vec<[i32; 3]>, Vec<f32>) {
    let model = map.model();
    let mut indices = Vec::new();
    let mut heights = Vec::new();
    for (key, cells) in map.bricks() {
        for (i, &c) in cells.iter().enumerate() {
            if mapping::map::CellModel::occupancy(model, c) == Occupancy::Occupied {
                let k = OccupancyMap::<mapping::QuantizedModel>::key_in_brick(key, i);
                indices.push([k.x, k.y, k.z]);
                heights.push(((f64::from(k.z) + 0.5) * map.resolution()) as f32);
            }
        }
    }
    (indices, heights)
}

/// Track age to colour: red when new, through yellow, to green at
/// [`OLD_TRACK`] frames.
#[must_use]
pub fn age_color(age: u32) -> [u8; 3] {
    let t = age.min(OLD_TRACK) as f32 / OLD_TRACK as f32;
    ramp(&[[230, 50, 40], [245, 200, 40], [40, 200, 90]], t)
}

/// A heat ramp for `t` in 0..=1 (clamped), after matplotlib's "plasma":
/// dark blue, purple, orange, yellow.
#[must_use]
pub fn heat_color(t: f32) -> [u8; 3] {
    ramp(
        &[[13, 8, 135], [156, 23, 158], [237, 121, 83], [240, 249, 33]],
        t,
    )
}

/// The colour of a chart series: one per stage and per planner, the same on
/// every chart.
#[must_use]
pub fn series_color(name: &str) -> [u8; 3] {
    match name {
        "frontend" => [31, 119, 180],
        "backend" => [255, 127, 14],
        "map" => [44, 160, 44],
        "mi" => [148, 103, 189],
        "frontier" => [140, 86, 75],
        "position error" => [214, 39, 40],
        _ => [127, 127, 127],
    }
}

fn ramp(stops: &[[u8; 3]], t: f32) -> [u8; 3] {
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let n = stops.len() - 1;
    let x = t * n as f32;
    let i = (x.floor() as usize).min(n - 1);
    let f = x - i as f32;
    let mut out = [0u8; 3];
    for (k, o) in out.iter_mut().enumerate() {
        let a = f32::from(stops[i][k]);
        let b = f32::from(stops[i + 1][k]);
        *o = (a + (b - a) * f).round() as u8;
    }
    out
}

/// What a recording file holds: rows logged on a timeline per entity path
/// of its recording, and the entities with static data (paths written as in
/// [`paths`], without the leading `/`; the blueprint's own entities left out),
/// and its timelines.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordingContents {
    /// Entity path to the number of rows logged there on a timeline.
    pub rows: std::collections::BTreeMap<String, usize>,
    /// Entity paths with static data (the rig, the ground truth, chart styles).
    pub static_entities: std::collections::BTreeSet<String>,
    /// Timeline names.
    pub timelines: std::collections::BTreeSet<String>,
    /// Whether a blueprint came with it.
    pub has_blueprint: bool,
}

impl RecordingContents {
    /// Rows logged at `path` on a timeline (0 when none).
    #[must_use]
    pub fn rows_at(&self, path: &str) -> usize {
        self.rows.get(path).copied().unwrap_or(0)
    }

    /// Whether anything, static or on a timeline, was logged at `path`.
    #[must_use]
    pub fn has(&self, path: &str) -> bool {
        self.rows_at(path) > 0 || self.static_entities.contains(path)
    }
}

/// Reads an `.rrd` file back through the SDK's decoder and lists what it
/// holds (every message decoded down to its Arrow data).
///
/// # Errors
/// If the file cannot be read or is not a valid recording.
pub fn read_contents(path: &std::path::Path) -> Result<RecordingContents, RecordingError> {
    use rerun::external::re_log_encoding::DecoderApp;
    use rerun::external::re_log_types::{LogMsg, StoreKind};
    let bad = |message: String| RecordingError::File {
        path: path.to_path_buf(),
        message,
    };
    let file = std::fs::File::open(path).map_err(|e| bad(e.to_string()))?;
    let decoder = DecoderApp::decode_eager(std::io::BufReader::new(file))
        .map_err(|e| bad(format!("not a Rerun recording: {e}")))?;
    let mut contents = RecordingContents::default();
    for msg in decoder {
        let msg = msg.map_err(|e| bad(format!("undecodable message: {e}")))?;
        if let LogMsg::ArrowMsg(store, arrow) = msg {
            if store.kind() == StoreKind::Blueprint {
                contents.has_blueprint = true;
                continue;
            }
            let chunk = rerun::log::Chunk::from_arrow_msg(&arrow)
                .map_err(|e| bad(format!("undecodable chunk: {e}")))?;
            let path = chunk.entity_path().to_string();
            let path = path.trim_start_matches('/').to_string();
            if chunk.timelines().is_empty() {
                contents.static_entities.insert(path);
            } else {
                *contents.rows.entry(path).or_default() += chunk.num_rows();
                contents
                    .timelines
                    .extend(chunk.timelines().keys().map(ToString::to_string));
            }
        }
    }
    Ok(contents)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]
mod tests {
    use super::*;

    #[test]
    fn colour_ramps_hit_their_ends_and_clamp() {
        assert_eq!(age_color(0), [230, 50, 40]);
        assert_eq!(age_color(OLD_TRACK), [40, 200, 90]);
        assert_eq!(age_color(10 * OLD_TRACK), age_color(OLD_TRACK));
        assert_eq!(age_color(OLD_TRACK / 2), [245, 200, 40]);
        assert_eq!(heat_color(0.0), [13, 8, 135]);
        assert_eq!(heat_color(1.0), [240, 249, 33]);
        assert_eq!(heat_color(f32::NAN), heat_color(0.0));
        assert_eq!(heat_color(7.0), heat_color(1.0));
        // Brighter with more information.
        let luma: Vec<u32> = (0..=20)
            .map(|i| {
                let [r, g, b] = heat_color(i as f32 / 20.0);
                2 * u32::from(r) + 5 * u32::from(g) + u32::from(b)
            })
            .collect();
        assert!(luma.windows(2).all(|w| w[0] <= w[1]), "{luma:?}");
    }

    #[test]
    fn viewer_addresses_become_proxy_urls() {
        assert!(proxy_uri("127.0.0.1:9876").is_ok());
        assert!(proxy_uri("rerun+http://laptop.local:9876/proxy").is_ok());
        let err = proxy_uri("two words").unwrap_err();
        assert!(err.to_string().contains("two words"), "{err}");
    }
}
