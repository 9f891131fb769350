//! The viewer options every command that shows a run takes (`--rrd`,
//! `--connect`, `--spawn`, `--images-every`), and the [`Viewer`] they open.
//!
//! Built without the `rerun` feature (`--no-default-features`), `Viewer` is
//! a type with no values and asking for a recording is an error that says
//! how to get one, so the commands read the same either way.

use std::path::PathBuf;

use clap::Args;

/// Where a recording of the run goes.
#[derive(Debug, Clone, Default, Args)]
pub struct ViewerArgs {
    /// Save a Rerun recording of the run to FILE (`rerun FILE` opens it).
    #[arg(long, value_name = "FILE")]
    pub rrd: Option<PathBuf>,
    /// Stream the recording to a running Rerun viewer at HOST:PORT (a robot
    /// logging to a laptop: `rerun` there, `--connect LAPTOP:9876` here).
    #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = "127.0.0.1:9876")]
    pub connect: Option<String>,
    /// Start a Rerun viewer here and stream the run to it.
    #[arg(long)]
    pub spawn: bool,
    /// Log the images of every Nth frame (0: none); features, poses, maps and
    /// charts are logged for every frame.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub images_every: usize,
    /// At the end of the run, wait at most this long for the viewer or the
    /// file to take the rest of the recording, then warn that it is
    /// incomplete and finish (a `--connect` address where nothing listens
    /// would otherwise hold the run forever).
    #[arg(long, value_name = "SECONDS", default_value_t = 10.0, value_parser = parse_wait)]
    pub viewer_wait: f64,
}

/// `--viewer-wait`: 0 to 86400 seconds.
fn parse_wait(s: &str) -> Result<f64, String> {
    super::parse_number_in(s, 0.0..=86_400.0, "0 to 86400 seconds")
}

impl ViewerArgs {
    /// Whether any destination was asked for.
    pub fn wanted(&self) -> bool {
        self.rrd.is_some() || self.connect.is_some() || self.spawn
    }

    /// Opens the recording when one was asked for, with the blueprint's tabs:
    /// the VIO, the map, and one view per exploration planner.
    pub fn open(&self, vio: bool, map: bool, explore: &[&str]) -> anyhow::Result<Option<Viewer>> {
        if !self.wanted() {
            return Ok(None);
        }
        open(self, vio, map, explore).map(Some)
    }
}

#[cfg(feature = "rerun")]
pub use scout::viewer::Viewer;

#[cfg(feature = "rerun")]
fn open(args: &ViewerArgs, vio: bool, map: bool, explore: &[&str]) -> anyhow::Result<Viewer> {
    use viz::recording::{Layout, Sink};
    let mut sinks = Vec::new();
    if let Some(path) = &args.rrd {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| anyhow::anyhow!("creating {}: {e}", dir.display()))?;
        }
        sinks.push(Sink::File(path.clone()));
    }
    if let Some(address) = &args.connect {
        sinks.push(Sink::Connect(address.clone()));
    }
    if args.spawn {
        sinks.push(Sink::Spawn);
    }
    let layout = Layout {
        vio,
        map,
        explore: explore.iter().map(ToString::to_string).collect(),
    };
    let mut viewer = Viewer::open(&sinks, &layout, args.images_every)?;
    viewer.set_finish_wait(std::time::Duration::from_secs_f64(args.viewer_wait));
    Ok(viewer)
}

/// Without the `rerun` feature there is no recording to open.
#[cfg(not(feature = "rerun"))]
#[derive(Debug)]
pub enum Viewer {}

#[cfg(not(feature = "rerun"))]
fn open(_: &ViewerArgs, _: bool, _: bool, _: &[&str]) -> anyhow::Result<Viewer> {
    anyhow::bail!(
        "this scout was built without Rerun (--no-default-features); rebuild with the default features for --rrd, --connect and --spawn"
    )
}

#[cfg(not(feature = "rerun"))]
#[allow(
    clippy::unused_self,
    reason = "the same calls as scout::viewer::Viewer"
)]
impl Viewer {
    pub fn images_every(&self) -> usize {
        match *self {}
    }
    pub fn start_sequence(&self, _: &datasets::model::RigCalibration) -> anyhow::Result<()> {
        match *self {}
    }
    pub fn record(&mut self, _: &pipeline::PipelineRecord) -> anyhow::Result<()> {
        match *self {}
    }
    pub fn finish_run(
        &mut self,
        _: &pipeline::PipelineRun,
        _: Option<&scout::eval::Trajectory>,
        _: Option<&scout::plots::AlignedTrajectory>,
    ) -> anyhow::Result<()> {
        match *self {}
    }
    pub fn keyframe(&mut self, _: &pipeline::MapRecord) -> anyhow::Result<()> {
        match *self {}
    }
    pub fn flight_event(
        &mut self,
        _: &str,
        _: i64,
        _: &pipeline::flight::FlightEvent<'_>,
    ) -> anyhow::Result<()> {
        match *self {}
    }
    pub fn finish_flight(&mut self) -> anyhow::Result<()> {
        match *self {}
    }
    pub fn explore_event(
        &mut self,
        _: &str,
        _: &exploration::sim::ExploreEvent<'_>,
    ) -> anyhow::Result<()> {
        match *self {}
    }
    pub fn finish(self) -> anyhow::Result<()> {
        match self {}
    }
}
