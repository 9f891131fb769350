//! The EuRoC/ASL dataset layout: reading (streaming) and writing.
//!
//! ```text
//! <sequence>/mav0/
//!   cam0/{sensor.yaml, data.csv, data/<t_ns>.png}   left camera, 8-bit PNG
//!   cam1/{sensor.yaml, data.csv, data/<t_ns>.png}   right camera
//!   imu0/{sensor.yaml, data.csv}                    t[ns], gyro[rad/s], accel[m/s^2]
//!   state_groundtruth_estimate0/data.csv            t, p, q(w first), v, b_g, b_a
//! ```
//! (Burri et al., "The EuRoC micro aerial vehicle datasets", IJRR 2016.) TUM-VI
//! exports (Schubert et al., IROS 2018) use the same layout with `mocap0/` ground
//! truth and equidistant fisheye lenses; see [`Layout`].

mod calibration;
mod csv;
mod reader;
mod writer;
pub mod yaml;

pub use calibration::{
    read_camera_sensor_yaml, read_imu_yaml, read_kalibr_camera, read_kalibr_rig,
};
pub(crate) use reader::pair_stereo;
pub use reader::{
    EurocDataset, Events, ImageRef, Layout, MissingImage, ReaderConfig, StereoEntry,
    read_ground_truth_csv, read_imu_csv,
};
pub use writer::EurocWriter;
