//! CDR (OMG XCDR version 1, the serialization of ROS 2 messages) for the few
//! message types scout reads and writes from bags: `std_msgs/msg/Header`,
//! `sensor_msgs/msg/Image`, `sensor_msgs/msg/Imu` and
//! `geometry_msgs/msg/PoseStamped`.
//!
//! A serialized message starts with a 4-byte encapsulation header: a 2-byte
//! representation id (`00 01` CDR little-endian, `00 00` CDR big-endian; both
//! are read, little-endian is written) and 2 option bytes (ignored on read,
//! written as zero). The body follows; every primitive is aligned to its own
//! size (1, 2, 4 or 8 bytes) *relative to the start of the body*, i.e. to the
//! byte after the encapsulation header, with zero padding. A string is a `u32`
//! length that counts its terminating NUL, the bytes and the NUL; a
//! `sequence<u8>` is a `u32` count and the bytes; a fixed array (`float64[9]`)
//! is its elements with no count. Nested messages add no framing.
//!
//! Decoding borrows strings and image bytes from the input (no copy) and checks
//! every length against the bytes that are there, so a corrupt or hostile
//! message is an error ([`CdrError`]), never a panic or an allocation of the
//! size it claims. Bytes after the last field (padding some writers add) are
//! ignored. XCDR2 (representation ids `00 06`-`00 0b`) is refused: ROS 2
//! middlewares write XCDR1 for these types.

use std::fmt;

/// Representation id of little-endian CDR (XCDR1), what ROS 2 writes.
pub const CDR_LE: [u8; 2] = [0x00, 0x01];
/// Representation id of big-endian CDR (XCDR1).
pub const CDR_BE: [u8; 2] = [0x00, 0x00];

/// Why bytes are not a valid CDR message of the expected type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CdrError {
    /// Shorter than the 4-byte encapsulation header.
    NoHeader {
        /// Bytes present.
        len: usize,
    },
    /// An encapsulation other than XCDR1.
    Encapsulation([u8; 2]),
    /// A field runs past the end of the message.
    Truncated {
        /// The field.
        field: &'static str,
        /// Its offset in the body (after the encapsulation header), bytes.
        at: usize,
        /// Bytes it needs.
        need: u64,
        /// Bytes left in the message.
        left: usize,
    },
    /// A string without its NUL, or not UTF-8.
    BadString {
        /// The field.
        field: &'static str,
        /// Its offset in the body, bytes.
        at: usize,
    },
}

impl fmt::Display for CdrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoHeader { len } => write!(
                f,
                "{len} bytes: shorter than the 4-byte CDR encapsulation header"
            ),
            Self::Encapsulation(id) => write!(
                f,
                "CDR encapsulation {:02x} {:02x} is not XCDR1 (00 01 little-endian or 00 00 big-endian)",
                id[0], id[1]
            ),
            Self::Truncated {
                field,
                at,
                need,
                left,
            } => write!(
                f,
                "truncated CDR: `{field}` at body offset {at} needs {need} bytes, {left} left"
            ),
            Self::BadString { field, at } => write!(
                f,
                "`{field}` at body offset {at} is not a NUL-terminated UTF-8 string"
            ),
        }
    }
}

impl std::error::Error for CdrError {}

/// Reads the fields of one CDR message in order.
#[derive(Debug, Clone)]
pub struct CdrReader<'a> {
    body: &'a [u8],
    pos: usize,
    big_endian: bool,
}

impl<'a> CdrReader<'a> {
    /// Checks the encapsulation header of `message` and starts at the body.
    ///
    /// # Errors
    /// [`CdrError::NoHeader`], [`CdrError::Encapsulation`].
    pub fn new(message: &'a [u8]) -> Result<Self, CdrError> {
        let (Some(header), Some(body)) = (message.get(..4), message.get(4..)) else {
            return Err(CdrError::NoHeader { len: message.len() });
        };
        let id = [header[0], header[1]];
        let big_endian = match id {
            CDR_LE => false,
            CDR_BE => true,
            other => return Err(CdrError::Encapsulation(other)),
        };
        Ok(Self {
            body,
            pos: 0,
            big_endian,
        })
    }

    /// Offset of the next field in the body, bytes.
    #[must_use]
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Whether the message is big-endian CDR.
    #[must_use]
    pub fn is_big_endian(&self) -> bool {
        self.big_endian
    }

    fn truncated(&self, field: &'static str, at: usize, need: u64) -> CdrError {
        CdrError::Truncated {
            field,
            at,
            need,
            left: self.body.len().saturating_sub(at),
        }
    }

    /// Skips the padding before a primitive of `size` bytes.
    fn align(&mut self, field: &'static str, size: usize) -> Result<(), CdrError> {
        let padded = self.pos.next_multiple_of(size);
        if padded > self.body.len() {
            return Err(self.truncated(field, self.pos, (padded - self.pos) as u64));
        }
        self.pos = padded;
        Ok(())
    }

    /// The next `n` bytes, unaligned.
    fn take(&mut self, field: &'static str, n: u64) -> Result<&'a [u8], CdrError> {
        let at = self.pos;
        let end = usize::try_from(n)
            .ok()
            .and_then(|n| at.checked_add(n))
            .filter(|&end| end <= self.body.len())
            .ok_or_else(|| self.truncated(field, at, n))?;
        self.pos = end;
        Ok(&self.body[at..end])
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], CdrError> {
        self.align(field, N)?;
        let bytes = self.take(field, N as u64)?;
        let mut out = [0; N];
        out.copy_from_slice(bytes);
        if self.big_endian {
            out.reverse();
        }
        Ok(out)
    }

    /// A `uint8`.
    ///
    /// # Errors
    /// [`CdrError::Truncated`].
    pub fn u8(&mut self, field: &'static str) -> Result<u8, CdrError> {
        Ok(self.array::<1>(field)?[0])
    }

    /// A `uint32`.
    ///
    /// # Errors
    /// [`CdrError::Truncated`].
    pub fn u32(&mut self, field: &'static str) -> Result<u32, CdrError> {
        Ok(u32::from_le_bytes(self.array(field)?))
    }

    /// An `int32`.
    ///
    /// # Errors
    /// [`CdrError::Truncated`].
    pub fn i32(&mut self, field: &'static str) -> Result<i32, CdrError> {
        Ok(i32::from_le_bytes(self.array(field)?))
    }

    /// A `float64`.
    ///
    /// # Errors
    /// [`CdrError::Truncated`].
    pub fn f64(&mut self, field: &'static str) -> Result<f64, CdrError> {
        Ok(f64::from_le_bytes(self.array(field)?))
    }

    /// `N` `float64`s (a fixed array, or a nested message of `N` doubles).
    ///
    /// # Errors
    /// [`CdrError::Truncated`].
    pub fn f64s<const N: usize>(&mut self, field: &'static str) -> Result<[f64; N], CdrError> {
        let mut out = [0.0; N];
        for v in &mut out {
            *v = self.f64(field)?;
        }
        Ok(out)
    }

    /// A `string`, borrowed. A length of 0 (no NUL; some writers use it for
    /// the empty string) is read as the empty string.
    ///
    /// # Errors
    /// [`CdrError::Truncated`], [`CdrError::BadString`].
    pub fn string(&mut self, field: &'static str) -> Result<&'a str, CdrError> {
        let len = self.u32(field)?;
        let at = self.pos;
        let bytes = self.take(field, u64::from(len))?;
        let Some((&last, text)) = bytes.split_last() else {
            return Ok("");
        };
        if last != 0 {
            return Err(CdrError::BadString { field, at });
        }
        std::str::from_utf8(text).map_err(|_| CdrError::BadString { field, at })
    }

    /// A `sequence<uint8>` (`uint8[]`), borrowed.
    ///
    /// # Errors
    /// [`CdrError::Truncated`].
    pub fn bytes(&mut self, field: &'static str) -> Result<&'a [u8], CdrError> {
        let len = self.u32(field)?;
        self.take(field, u64::from(len))
    }
}

/// Writes the fields of one little-endian CDR message in order.
#[derive(Debug)]
pub struct CdrWriter<'a> {
    out: &'a mut Vec<u8>,
    start: usize,
}

impl<'a> CdrWriter<'a> {
    /// Appends the encapsulation header (`00 01 00 00`) to `out`; the body
    /// follows it.
    pub fn new(out: &'a mut Vec<u8>) -> Self {
        out.extend_from_slice(&[CDR_LE[0], CDR_LE[1], 0, 0]);
        let start = out.len();
        Self { out, start }
    }

    fn align(&mut self, size: usize) {
        let pos = self.out.len() - self.start;
        let padded = pos.next_multiple_of(size);
        self.out.resize(self.start + padded, 0);
    }

    /// A `uint8`.
    pub fn u8(&mut self, v: u8) {
        self.out.push(v);
    }

    /// A `uint32`.
    pub fn u32(&mut self, v: u32) {
        self.align(4);
        self.out.extend_from_slice(&v.to_le_bytes());
    }

    /// An `int32`.
    pub fn i32(&mut self, v: i32) {
        self.align(4);
        self.out.extend_from_slice(&v.to_le_bytes());
    }

    /// A `float64`.
    pub fn f64(&mut self, v: f64) {
        self.align(8);
        self.out.extend_from_slice(&v.to_le_bytes());
    }

    /// `float64`s in order.
    pub fn f64s(&mut self, v: &[f64]) {
        for &x in v {
            self.f64(x);
        }
    }

    /// A `string` (length with its NUL, bytes, NUL).
    ///
    /// # Panics
    /// If the string is 4 GiB or longer (a caller bug: names and encodings are short).
    pub fn string(&mut self, s: &str) {
        let len = u32::try_from(s.len() + 1).unwrap_or_else(|_| panic!("CDR string too long"));
        self.u32(len);
        self.out.extend_from_slice(s.as_bytes());
        self.out.push(0);
    }

    /// A `sequence<uint8>`.
    ///
    /// # Panics
    /// If `v` is 4 GiB or longer (a CDR sequence cannot hold it).
    pub fn bytes(&mut self, v: &[u8]) {
        let len = u32::try_from(v.len()).unwrap_or_else(|_| panic!("CDR sequence too long"));
        self.u32(len);
        self.out.extend_from_slice(v);
    }
}

/// `builtin_interfaces/msg/Time`: seconds and nanoseconds since the clock's
/// epoch (UNIX time for a sensor's wall clock).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Time {
    /// Whole seconds.
    pub sec: i32,
    /// Nanoseconds, `0..1_000_000_000`.
    pub nanosec: u32,
}

impl Time {
    /// Nanoseconds since the epoch; `None` when `nanosec` is a second or more
    /// (not a normalized time).
    #[must_use]
    pub fn to_ns(self) -> Option<i64> {
        (self.nanosec < 1_000_000_000)
            .then(|| i64::from(self.sec) * 1_000_000_000 + i64::from(self.nanosec))
    }

    /// The time of `t_ns`; `None` outside the `int32` seconds a ROS time
    /// holds (1901 to 2038 on the UNIX epoch).
    #[must_use]
    pub fn from_ns(t_ns: i64) -> Option<Self> {
        let sec = i32::try_from(t_ns.div_euclid(1_000_000_000)).ok()?;
        let nanosec = u32::try_from(t_ns.rem_euclid(1_000_000_000)).ok()?;
        Some(Self { sec, nanosec })
    }
}

/// `std_msgs/msg/Header`: the sensor's time stamp and frame name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Header<'a> {
    /// When the data was captured (the sensor's time, not the bag's log time).
    pub stamp: Time,
    /// Coordinate frame name.
    pub frame_id: &'a str,
}

impl<'a> Header<'a> {
    fn read(r: &mut CdrReader<'a>) -> Result<Self, CdrError> {
        let sec = r.i32("header.stamp.sec")?;
        let nanosec = r.u32("header.stamp.nanosec")?;
        let frame_id = r.string("header.frame_id")?;
        Ok(Self {
            stamp: Time { sec, nanosec },
            frame_id,
        })
    }

    fn write(&self, w: &mut CdrWriter<'_>) {
        w.i32(self.stamp.sec);
        w.u32(self.stamp.nanosec);
        w.string(self.frame_id);
    }
}

/// `sensor_msgs/msg/Image`, its pixel bytes borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Image<'a> {
    /// Stamp and camera frame.
    pub header: Header<'a>,
    /// Rows.
    pub height: u32,
    /// Columns.
    pub width: u32,
    /// Pixel encoding (`mono8`, `mono16`, `rgb8`, ...).
    pub encoding: &'a str,
    /// 1 when multi-byte samples are big-endian.
    pub is_bigendian: u8,
    /// Bytes from the start of one row to the next (at least a row's pixels).
    pub step: u32,
    /// The rows, `step` bytes apart.
    pub data: &'a [u8],
}

impl<'a> Image<'a> {
    /// Decodes a serialized message (with its encapsulation header).
    ///
    /// # Errors
    /// When the bytes are not such a message ([`CdrError`]).
    pub fn decode(message: &'a [u8]) -> Result<Self, CdrError> {
        let mut r = CdrReader::new(message)?;
        Ok(Self {
            header: Header::read(&mut r)?,
            height: r.u32("height")?,
            width: r.u32("width")?,
            encoding: r.string("encoding")?,
            is_bigendian: r.u8("is_bigendian")?,
            step: r.u32("step")?,
            data: r.bytes("data")?,
        })
    }

    /// Appends the serialized message (encapsulation header first) to `out`.
    ///
    /// # Panics
    /// If `data` is 4 GiB or longer.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let mut w = CdrWriter::new(out);
        self.header.write(&mut w);
        w.u32(self.height);
        w.u32(self.width);
        w.string(self.encoding);
        w.u8(self.is_bigendian);
        w.u32(self.step);
        w.bytes(self.data);
    }
}

/// `sensor_msgs/msg/Imu`. Vectors are `(x, y, z)`, the quaternion `(x, y, z,
/// w)` as ROS stores it; covariances are row-major 3x3 (a first element of -1
/// means "not provided", by ROS's convention).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Imu<'a> {
    /// Stamp and IMU frame.
    pub header: Header<'a>,
    /// Orientation estimate `(x, y, z, w)`, when the IMU has one.
    pub orientation: [f64; 4],
    /// Its covariance.
    pub orientation_covariance: [f64; 9],
    /// Angular velocity in the IMU frame, rad/s.
    pub angular_velocity: [f64; 3],
    /// Its covariance.
    pub angular_velocity_covariance: [f64; 9],
    /// Linear acceleration (specific force, gravity included) in the IMU frame, m/s^2.
    pub linear_acceleration: [f64; 3],
    /// Its covariance.
    pub linear_acceleration_covariance: [f64; 9],
}

impl<'a> Imu<'a> {
    /// Decodes a serialized message (with its encapsulation header).
    ///
    /// # Errors
    /// When the bytes are not such a message ([`CdrError`]).
    pub fn decode(message: &'a [u8]) -> Result<Self, CdrError> {
        let mut r = CdrReader::new(message)?;
        Ok(Self {
            header: Header::read(&mut r)?,
            orientation: r.f64s("orientation")?,
            orientation_covariance: r.f64s("orientation_covariance")?,
            angular_velocity: r.f64s("angular_velocity")?,
            angular_velocity_covariance: r.f64s("angular_velocity_covariance")?,
            linear_acceleration: r.f64s("linear_acceleration")?,
            linear_acceleration_covariance: r.f64s("linear_acceleration_covariance")?,
        })
    }

    /// Appends the serialized message (encapsulation header first) to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let mut w = CdrWriter::new(out);
        self.header.write(&mut w);
        w.f64s(&self.orientation);
        w.f64s(&self.orientation_covariance);
        w.f64s(&self.angular_velocity);
        w.f64s(&self.angular_velocity_covariance);
        w.f64s(&self.linear_acceleration);
        w.f64s(&self.linear_acceleration_covariance);
    }
}

/// `geometry_msgs/msg/PoseStamped`: a pose of a frame in `header.frame_id`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PoseStamped<'a> {
    /// Stamp and the frame the pose is expressed in.
    pub header: Header<'a>,
    /// Position `(x, y, z)`, m.
    pub position: [f64; 3],
    /// Orientation `(x, y, z, w)`.
    pub orientation: [f64; 4],
}

impl<'a> PoseStamped<'a> {
    /// Decodes a serialized message (with its encapsulation header).
    ///
    /// # Errors
    /// When the bytes are not such a message ([`CdrError`]).
    pub fn decode(message: &'a [u8]) -> Result<Self, CdrError> {
        let mut r = CdrReader::new(message)?;
        Ok(Self {
            header: Header::read(&mut r)?,
            position: r.f64s("pose.position")?,
            orientation: r.f64s("pose.orientation")?,
        })
    }

    /// Appends the serialized message (encapsulation header first) to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let mut w = CdrWriter::new(out);
        self.header.write(&mut w);
        w.f64s(&self.position);
        w.f64s(&self.orientation);
    }
}
