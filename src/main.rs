//! The `scout` command line: see `scout --help`.

mod commands;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

/// scout: a perception pipeline for small robots.
///
/// Stereo visual-inertial odometry, a fixed-point occupancy map and an exploration
/// planner, each counting the operations it performs and the bytes it moves.
/// Reads EuRoC MAV / TUM-VI sequences (the ASL folder layout) and makes its own
/// synthetic sequences with exact ground truth.
#[derive(Debug, Parser)]
#[command(name = "scout", version, propagate_version = true)]
struct Cli {
    /// More log output (-v debug, -vv trace). RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    /// Only warnings and errors.
    #[arg(short, long, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the main job on a synthetic sequence scout makes itself (start here).
    Demo(commands::demo::DemoArgs),
    /// Write a synthetic stereo-inertial sequence with ground truth in the EuRoC layout.
    Synth(commands::synth::SynthArgs),
    /// Check an EuRoC/ASL sequence folder and summarize it (decodes every image).
    Inspect(commands::inspect::InspectArgs),
    /// Score an estimated trajectory against ground truth (ATE and RPE).
    Eval(commands::eval::EvalArgs),
    /// Run the VIO pipeline over an EuRoC/ASL sequence or a ROS 2 bag: trajectory and metrics.
    Replay(commands::replay::ReplayArgs),
    /// Convert an EuRoC/ASL sequence folder to a ROS 2 bag (MCAP), or a bag to a folder.
    Convert(commands::convert::ConvertArgs),
    /// Run the pipeline on live sensors (V4L2 stereo camera, IIO IMU) until Ctrl-C.
    Run(commands::run::RunArgs),
    /// Write live sensors to the EuRoC layout, to replay a flight exactly.
    Record(commands::record::RecordArgs),
    /// Time the occupancy map alone on range scans from a file (or write simulated ones).
    MapBench(commands::map_bench::MapBenchArgs),
    /// Explore a synthetic world in closed loop with the MI or the frontier planner.
    Explore(commands::explore::ExploreArgs),
    /// Time FSMI against the naive MI and a whole map, and compare the planners over seeded worlds.
    ExploreBench(commands::explore_bench::ExploreBenchArgs),
    /// Fly seeded worlds with a drone's own stereo camera, IMU, VIO and map, both planners.
    FlightBench(commands::flight_bench::FlightBenchArgs),
    /// Sensor faults injected into a flight: detection, reaction and ATE against the clean run.
    FaultBench(commands::fault_bench::FaultBenchArgs),
    /// The whole pipeline on a long synthetic stream: is memory flat, does it keep tracking?
    Soak(commands::soak::SoakArgs),
    /// Energy and latency per stage of a run's cost.json on a Raspberry Pi or an accelerator.
    Cost(commands::cost::CostArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let default_level = match (cli.quiet, cli.verbose) {
        (true, _) => "warn",
        (false, 0) => "info",
        (false, 1) => "debug",
        (false, _) => "trace",
    };
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .without_time()
        .init();
    let result = match cli.command {
        Command::Demo(args) => commands::demo::run(&args),
        Command::Synth(args) => commands::synth::run(&args),
        Command::Inspect(args) => commands::inspect::run(&args),
        Command::Eval(args) => commands::eval::run(&args),
        Command::Replay(args) => commands::replay::run(&args),
        Command::Convert(args) => commands::convert::run(&args),
        Command::Run(args) => commands::run::run(&args),
        Command::Record(args) => commands::record::run(&args),
        Command::MapBench(args) => commands::map_bench::run(&args),
        Command::Explore(args) => commands::explore::run(&args),
        Command::ExploreBench(args) => commands::explore_bench::run(&args),
        Command::FlightBench(args) => commands::flight_bench::run(&args),
        Command::FaultBench(args) => commands::fault_bench::run(&args),
        Command::Soak(args) => commands::soak::run(&args),
        Command::Cost(args) => commands::cost::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
