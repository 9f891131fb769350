//! The ROS 2 message definitions a bag written by scout carries (MCAP schema
//! encoding `ros2msg`): each message type's fields, then every type it uses
//! after a separator line of `=` and a `MSG: package/Type` line, the layout
//! rosbag2 writes and ROS 2 tools parse. Field order here is the CDR order of
//! [`super::cdr`].

/// MCAP schema encoding of ROS 2 message definitions.
pub const SCHEMA_ENCODING: &str = "ros2msg";
/// MCAP message encoding of ROS 2 messages.
pub const MESSAGE_ENCODING: &str = "cdr";
/// MCAP profile of ROS 2 bags.
pub const PROFILE: &str = "ros2";

/// Schema name of `sensor_msgs/msg/Image`.
pub const IMAGE: &str = "sensor_msgs/msg/Image";
/// Schema name of `sensor_msgs/msg/Imu`.
pub const IMU: &str = "sensor_msgs/msg/Imu";
/// Schema name of `geometry_msgs/msg/PoseStamped`.
pub const POSE_STAMPED: &str = "geometry_msgs/msg/PoseStamped";

const SEPARATOR: &str =
    "================================================================================";

const HEADER: &str = "builtin_interfaces/Time stamp\nstring frame_id\n";
const TIME: &str = "int32 sec\nuint32 nanosec\n";
const QUATERNION: &str = "float64 x\nfloat64 y\nfloat64 z\nfloat64 w\n";
const VECTOR3: &str = "float64 x\nfloat64 y\nfloat64 z\n";
const POINT: &str = "float64 x\nfloat64 y\nfloat64 z\n";
const POSE: &str = "geometry_msgs/Point position\ngeometry_msgs/Quaternion orientation\n";

fn definition(fields: &str, dependencies: &[(&str, &str)]) -> String {
    let mut text = fields.to_owned();
    for (name, body) in dependencies {
        text.push_str(SEPARATOR);
        text.push_str("\nMSG: ");
        text.push_str(name);
        text.push('\n');
        text.push_str(body);
    }
    text
}

/// The definition of `sensor_msgs/msg/Image`.
#[must_use]
pub fn image_definition() -> String {
    definition(
        "std_msgs/Header header\nuint32 height\nuint32 width\nstring encoding\nuint8 is_bigendian\nuint32 step\nuint8[] data\n",
        &[
            ("std_msgs/Header", HEADER),
            ("builtin_interfaces/Time", TIME),
        ],
    )
}

/// The definition of `sensor_msgs/msg/Imu`.
#[must_use]
pub fn imu_definition() -> String {
    definition(
        "std_msgs/Header header\ngeometry_msgs/Quaternion orientation\nfloat64[9] orientation_covariance\ngeometry_msgs/Vector3 angular_velocity\nfloat64[9] angular_velocity_covariance\ngeometry_msgs/Vector3 linear_acceleration\nfloat64[9] linear_acceleration_covariance\n",
        &[
            ("std_msgs/Header", HEADER),
            ("builtin_interfaces/Time", TIME),
            ("geometry_msgs/Quaternion", QUATERNION),
            ("geometry_msgs/Vector3", VECTOR3),
        ],
    )
}

/// The definition of `geometry_msgs/msg/PoseStamped`.
#[must_use]
pub fn pose_stamped_definition() -> String {
    definition(
        "std_msgs/Header header\ngeometry_msgs/Pose pose\n",
        &[
            ("std_msgs/Header", HEADER),
            ("builtin_interfaces/Time", TIME),
            ("geometry_msgs/Pose", POSE),
            ("geometry_msgs/Point", POINT),
            ("geometry_msgs/Quaternion", QUATERNION),
        ],
    )
}

/// What a schema name is, for the types scout reads (`sensor_msgs/msg/Image`
/// and the ROS 1 style `sensor_msgs/Image` alike).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    /// `sensor_msgs/Image`.
    Image,
    /// `sensor_msgs/Imu`.
    Imu,
    /// `geometry_msgs/PoseStamped`.
    PoseStamped,
    /// Anything else (not read).
    Other,
}

impl MessageKind {
    /// The kind of a schema name.
    #[must_use]
    pub fn of(schema_name: &str) -> Self {
        match schema_name {
            "sensor_msgs/msg/Image" | "sensor_msgs/Image" => Self::Image,
            "sensor_msgs/msg/Imu" | "sensor_msgs/Imu" => Self::Imu,
            "geometry_msgs/msg/PoseStamped" | "geometry_msgs/PoseStamped" => Self::PoseStamped,
            _ => Self::Other,
        }
    }
}
