//! ROS 2 bags (MCAP files of CDR messages) without ROS: reading one as a
//! stereo-inertial sequence, and writing one.
//!
//! - Reading: [`EurocDataset::open_mcap`](crate::euroc::EurocDataset::open_mcap)
//!   with [`BagOptions`] (topics, or found by type; the rig's calibration,
//!   which a bag does not carry) gives the same [`EurocDataset`] a folder
//!   gives, its images decoded from the bag as pairs are loaded; every
//!   consumer of a folder (`EurocSource`, `scout replay`) takes it unchanged.
//!   [`list_topics`] lists a bag's topics. Message types read:
//!   `sensor_msgs/msg/Image` (`mono8`, `mono16`, RGB/BGR(A), YUV 4:2:2 to
//!   grey), `sensor_msgs/msg/Imu`, `geometry_msgs/msg/PoseStamped`; stamps are
//!   the messages' `header.stamp`, not the bag's log times. The conventions
//!   (`mono16` scaling, topic choice, duplicates) are in [`reader`]'s docs.
//! - Writing: [`BagWriter`] (pair by pair, IMU samples in batches, as a live
//!   recorder produces them) and [`write_dataset`] (a whole folder or bag),
//!   topics `/cam0/image_raw`, `/cam1/image_raw`, `/imu0` by default,
//!   zstd-compressed chunks, ROS 2 message definitions as schemas.
//! - [`cdr`]: the CDR encoding of those messages; [`schema`]: their
//!   definitions.
//!
//! The file is read with positioned reads, not mapped (see `file.rs`): no
//! `unsafe`, no `SIGBUS` on a file cut short, and memory bounded by a few
//! chunks. MCAP record parsing and writing are the `mcap` crate's.
//!
//! [`EurocDataset`]: crate::euroc::EurocDataset

pub mod cdr;
mod file;
pub mod reader;
pub mod schema;
mod writer;

pub use file::CACHED_CHUNKS;
pub use reader::{
    BagMessageRef, BagOptions, BagReport, BagTopics, DEFAULT_MAX_CHUNK_BYTES, TopicInfo,
    list_topics,
};
pub use writer::{BagCompression, BagTopicNames, BagWriter, BagWriterOptions, write_dataset};
