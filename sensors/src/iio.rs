//! A Linux IIO IMU in buffered capture: its channels from sysfs, its scans
//! from the character device, its samples in SI units.
//!
//! Why not libiio (the `industrial-io` crate): it links the C library, which
//! the aarch64 build would need as a cross library and the Pi at run time,
//! for what is a few sysfs files and one `read`. The kernel's buffer layout
//! is small and documented (`Documentation/iio/iio_devbuf.rst`), so this
//! reads it directly with `std::fs`:
//!
//! - `/sys/bus/iio/devices/iio:deviceN/scan_elements/` (or `buffer0/` on
//!   newer kernels) holds, per channel, `<ch>_en` (write 1 to capture it),
//!   `<ch>_index` (its order in a scan) and `<ch>_type`
//!   (`[be|le]:[s|u]bits/storagebits[Xrepeat][>>shift]`, [`ChannelType`]).
//! - A scan is the enabled channels in index order, each aligned to its own
//!   storage size, the whole padded to the largest ([`ScanLayout`]); a
//!   6-axis IMU with its timestamp is `6 x s16`, 4 bytes of padding, `s64`:
//!   24 bytes.
//! - A value in SI units is `(raw + offset) * scale` with `in_accel_scale`
//!   (m/s^2 per count) and `in_anglvel_scale` (rad/s per count), or per
//!   axis (`in_accel_x_scale`), and the offsets likewise when the driver
//!   has them.
//! - `current_timestamp_clock` is set to `monotonic`, the clock V4L2 stamps
//!   frames with (the default is `realtime`, which jumps with NTP).
//! - `buffer/length` is set, then `buffer/enable` last, once the channels and
//!   the trigger are set; dropping the reader writes `enable` 0 again.
//!
//! The device layer is [`IioImu::open`] (the sysfs writes) and a `read` of
//! the character device; everything between the bytes and the samples is
//! [`ScanDecoder`], which tests drive from a fake sysfs tree and a pipe.
//! Some drivers (`st_lsm6dsx`, `inv_icm42600`) make the accelerometer and
//! the gyroscope two IIO devices, each with its own buffer and timestamp:
//! [`IioSettings::channels`] opens each for its one sensor
//! ([`IioChannels`]), and [`crate::split::SplitImu`] merges the two streams.
//!
//! Axes: the IMU's own, as the driver reports them (the board's mounting is
//! the calibration's `T_cam_imu`, not corrected here).

use std::io::Read;
use std::path::{Path, PathBuf};

use datasets::ImuSample;
use nalgebra::Vector3;

use crate::{Result, SensorError};

/// The most bytes one channel may store (a repeat of 8-byte values).
const MAX_CHANNEL_BYTES: usize = 64;
/// The most bytes a scan may take.
const MAX_SCAN_BYTES: usize = 1024;

/// How one channel is stored in a scan (`<ch>_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelType {
    /// Big-endian (`be`) rather than little-endian (`le`).
    pub big_endian: bool,
    /// Signed (`s`) rather than unsigned (`u`).
    pub signed: bool,
    /// Bits of the value.
    pub bits: u32,
    /// Bits it is stored in (8, 16, 32 or 64).
    pub storage_bits: u32,
    /// Values stored one after the other (`X2`: 2), 1 without.
    pub repeat: u32,
    /// Right shift to the value.
    pub shift: u32,
}

impl ChannelType {
    /// Parses a `<ch>_type` line such as `le:s16/16>>0` or `be:u12/16>>4`.
    ///
    /// # Errors
    /// For anything else, quoting it.
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        let t = text.trim();
        let bad = || format!("type {t:?} is not [be|le]:[s|u]bits/storagebits[Xrepeat][>>shift]");
        let (endian, rest) = t.split_once(':').ok_or_else(bad)?;
        let big_endian = match endian {
            "be" => true,
            "le" => false,
            _ => return Err(bad()),
        };
        let mut chars = rest.chars();
        let signed = match chars.next() {
            Some('s') => true,
            Some('u') => false,
            Some('f') => return Err(format!("type {t:?}: floating-point channels are not read")),
            _ => return Err(bad()),
        };
        let rest = chars.as_str();
        let (bits, rest) = rest.split_once('/').ok_or_else(bad)?;
        let (storage, shift) = match rest.split_once(">>") {
            Some((s, sh)) => (s, sh),
            None => (rest, "0"),
        };
        let (storage, repeat) = match storage.split_once('X') {
            Some((s, r)) => (s, r),
            None => (storage, "1"),
        };
        let num = |s: &str| s.parse::<u32>().map_err(|_| bad());
        let ty = Self {
            big_endian,
            signed,
            bits: num(bits)?,
            storage_bits: num(storage)?,
            repeat: num(repeat)?,
            shift: num(shift)?,
        };
        if ![8, 16, 32, 64].contains(&ty.storage_bits)
            || ty.bits == 0
            || ty.bits.saturating_add(ty.shift) > ty.storage_bits
            || ty.repeat == 0
            || ty.bytes() > MAX_CHANNEL_BYTES
        {
            return Err(format!(
                "type {t:?}: {} bits shifted by {} do not fit {}-bit storage (x{})",
                ty.bits, ty.shift, ty.storage_bits, ty.repeat
            ));
        }
        Ok(ty)
    }

    /// Bytes one value is stored in, and its alignment.
    #[must_use]
    pub fn element_bytes(&self) -> usize {
        self.storage_bits as usize / 8
    }

    /// Bytes the channel takes in a scan.
    #[must_use]
    pub fn bytes(&self) -> usize {
        self.element_bytes().saturating_mul(self.repeat as usize)
    }

    /// The first value of the channel from its bytes (`bytes()` of them).
    #[must_use]
    pub fn value(&self, bytes: &[u8]) -> i64 {
        let n = self.element_bytes();
        let mut raw = 0u64;
        for k in 0..n {
            let b = if self.big_endian {
                bytes[k]
            } else {
                bytes[n - 1 - k]
            };
            raw = (raw << 8) | u64::from(b);
        }
        raw >>= self.shift;
        if self.bits < 64 {
            raw &= (1u64 << self.bits) - 1;
            if self.signed && raw & (1u64 << (self.bits - 1)) != 0 {
                return (raw | !((1u64 << self.bits) - 1)) as i64;
            }
        }
        raw as i64
    }
}

/// Where each enabled channel lies in a scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanLayout {
    /// Each channel's name, type and byte offset, in index order.
    pub channels: Vec<(String, ChannelType, usize)>,
    /// Bytes a scan takes.
    pub bytes: usize,
}

impl ScanLayout {
    /// The layout of the enabled channels, given as `(name, index, type)`:
    /// in index order, each aligned to its element size, the scan padded to
    /// the largest.
    ///
    /// # Errors
    /// If two channels share an index, or the scan would exceed 1 KiB.
    pub fn new(mut enabled: Vec<(String, u32, ChannelType)>) -> std::result::Result<Self, String> {
        enabled.sort_by_key(|c| c.1);
        if let Some(w) = enabled.windows(2).find(|w| w[0].1 == w[1].1) {
            return Err(format!(
                "channels {} and {} share index {}",
                w[0].0, w[1].0, w[0].1
            ));
        }
        let mut offset = 0usize;
        let mut largest = 1usize;
        let mut channels = Vec::with_capacity(enabled.len());
        for (name, _, ty) in enabled {
            let align = ty.element_bytes();
            offset = offset.next_multiple_of(align);
            channels.push((name, ty, offset));
            offset += ty.bytes();
            largest = largest.max(align);
            if offset > MAX_SCAN_BYTES {
                return Err(format!("a scan would take over {MAX_SCAN_BYTES} bytes"));
            }
        }
        Ok(Self {
            channels,
            bytes: offset.next_multiple_of(largest),
        })
    }
}

/// The accelerometer's and gyroscope's axes, the timestamp, and their units.
#[derive(Debug, Clone, PartialEq)]
pub struct ScanDecoder {
    layout: ScanLayout,
    /// Per axis x, y, z: the channel's position in the layout (`None`: a
    /// sensor the device does not carry).
    accel: Option<[usize; 3]>,
    gyro: Option<[usize; 3]>,
    timestamp: usize,
    /// `(raw + offset) * scale` per axis.
    accel_scale: [f64; 3],
    accel_offset: [f64; 3],
    gyro_scale: [f64; 3],
    gyro_offset: [f64; 3],
}

/// The IMU channels a scan must carry.
pub const IMU_CHANNELS: [&str; 7] = [
    "in_accel_x",
    "in_accel_y",
    "in_accel_z",
    "in_anglvel_x",
    "in_anglvel_y",
    "in_anglvel_z",
    "in_timestamp",
];

/// Units of one channel: `(scale, offset)`.
pub type Units = (f64, f64);

/// Which of the IMU's sensors an IIO device carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IioChannels {
    /// Accelerometer and gyroscope in one scan ([`IMU_CHANNELS`]).
    #[default]
    Both,
    /// The accelerometer alone (the gyroscope is another device).
    Accelerometer,
    /// The gyroscope alone (the accelerometer is another device).
    Gyroscope,
}

impl IioChannels {
    /// The channels a scan of such a device must carry.
    #[must_use]
    pub fn names(self) -> &'static [&'static str] {
        match self {
            Self::Both => &IMU_CHANNELS,
            Self::Accelerometer => &["in_accel_x", "in_accel_y", "in_accel_z", "in_timestamp"],
            Self::Gyroscope => &[
                "in_anglvel_x",
                "in_anglvel_y",
                "in_anglvel_z",
                "in_timestamp",
            ],
        }
    }

    fn has_accel(self) -> bool {
        self != Self::Gyroscope
    }

    fn has_gyro(self) -> bool {
        self != Self::Accelerometer
    }
}

/// The units of a sensor a device does not carry (its triad reads zero).
const ABSENT: [Units; 3] = [(1.0, 0.0); 3];

impl ScanDecoder {
    /// A decoder for `layout`, with the scale and offset of each accelerometer
    /// and gyroscope axis (x, y, z).
    ///
    /// # Errors
    /// If a channel of [`IMU_CHANNELS`] is missing, the timestamp is not a
    /// 64-bit signed value, or a scale is not finite and non-zero.
    pub fn new(layout: ScanLayout, accel: [Units; 3], gyro: [Units; 3]) -> Result<Self> {
        Self::with_channels(layout, IioChannels::Both, accel, gyro)
    }

    /// [`Self::new`] for a device carrying `channels`: the units of a sensor
    /// it does not carry are ignored, and that sensor's triad of each
    /// sample is zero.
    ///
    /// # Errors
    /// As [`Self::new`], for the channels of [`IioChannels::names`].
    pub fn with_channels(
        layout: ScanLayout,
        channels: IioChannels,
        accel: [Units; 3],
        gyro: [Units; 3],
    ) -> Result<Self> {
        let (accel, gyro) = (
            if channels.has_accel() { accel } else { ABSENT },
            if channels.has_gyro() { gyro } else { ABSENT },
        );
        let find = |name: &str| {
            layout
                .channels
                .iter()
                .position(|c| c.0 == name)
                .ok_or_else(|| format!("the scan has no channel {name}"))
        };
        let wrap = |what: String| SensorError::Iio {
            device: "scan".into(),
            what,
        };
        let pos = |names: [&str; 3]| -> Result<[usize; 3]> {
            Ok([
                find(names[0]).map_err(wrap)?,
                find(names[1]).map_err(wrap)?,
                find(names[2]).map_err(wrap)?,
            ])
        };
        let accel_pos = if channels.has_accel() {
            Some(pos(["in_accel_x", "in_accel_y", "in_accel_z"])?)
        } else {
            None
        };
        let gyro_pos = if channels.has_gyro() {
            Some(pos(["in_anglvel_x", "in_anglvel_y", "in_anglvel_z"])?)
        } else {
            None
        };
        let timestamp = find("in_timestamp").map_err(wrap)?;
        let ts = layout.channels[timestamp].1;
        if !(ts.signed && ts.bits == 64 && ts.storage_bits == 64) {
            return Err(wrap(format!(
                "the timestamp channel is {ts:?}, not a signed 64-bit value"
            )));
        }
        for (what, units) in [("in_accel", accel), ("in_anglvel", gyro)] {
            if let Some((scale, offset)) = units
                .iter()
                .find(|(s, o)| !(s.is_finite() && *s != 0.0 && o.is_finite()))
            {
                return Err(wrap(format!(
                    "{what}: scale {scale} and offset {offset} do not make a unit"
                )));
            }
        }
        Ok(Self {
            layout,
            accel: accel_pos,
            gyro: gyro_pos,
            timestamp,
            accel_scale: accel.map(|u| u.0),
            accel_offset: accel.map(|u| u.1),
            gyro_scale: gyro.map(|u| u.0),
            gyro_offset: gyro.map(|u| u.1),
        })
    }

    /// Bytes a scan takes.
    #[must_use]
    pub fn scan_bytes(&self) -> usize {
        self.layout.bytes
    }

    /// The sample in one scan (`scan_bytes()` long).
    #[must_use]
    pub fn sample(&self, scan: &[u8]) -> ImuSample {
        let value = |k: usize| {
            let (_, ty, off) = &self.layout.channels[k];
            ty.value(&scan[*off..*off + ty.bytes()])
        };
        let axis = |pos: &Option<[usize; 3]>, scale: &[f64; 3], offset: &[f64; 3]| {
            pos.map_or_else(Vector3::zeros, |pos| {
                Vector3::from_fn(|i, _| (value(pos[i]) as f64 + offset[i]) * scale[i])
            })
        };
        ImuSample {
            t_ns: value(self.timestamp),
            gyro: axis(&self.gyro, &self.gyro_scale, &self.gyro_offset),
            accel: axis(&self.accel, &self.accel_scale, &self.accel_offset),
        }
    }

    /// Decodes every whole scan in `bytes` into `out` and returns how many
    /// bytes were used (the rest, part of a scan, waits for more).
    pub fn decode(&self, bytes: &[u8], out: &mut Vec<ImuSample>) -> usize {
        let n = self.layout.bytes;
        let whole = bytes.len() / n * n;
        out.extend(bytes[..whole].chunks_exact(n).map(|scan| self.sample(scan)));
        whole
    }
}

/// How to set an IIO IMU up.
#[derive(Debug, Clone, PartialEq)]
pub struct IioSettings {
    /// The device's sysfs folder (`/sys/bus/iio/devices/iio:device0`).
    pub sysfs: PathBuf,
    /// Its character device (`/dev/iio:device0`).
    pub dev: PathBuf,
    /// Samples a second to ask for (`sampling_frequency`), if set.
    pub rate_hz: Option<f64>,
    /// The trigger to attach (`trigger/current_trigger`), for drivers that
    /// need one (`bmi160` without an interrupt wired: an hrtimer trigger).
    pub trigger: Option<String>,
    /// Scans the kernel buffer holds (`buffer/length`).
    pub buffer_scans: u32,
    /// The sensors the device carries (both, for most drivers).
    pub channels: IioChannels,
}

/// A live IIO IMU in buffered capture.
#[derive(Debug)]
pub struct IioImu {
    settings: IioSettings,
    decoder: ScanDecoder,
    file: std::fs::File,
    /// Bytes read and not yet a whole scan.
    pending: Vec<u8>,
    enabled: bool,
}

impl IioImu {
    /// Sets the device up (channels, clock, rate, trigger, buffer) and starts
    /// capture.
    ///
    /// # Errors
    /// If a sysfs file is missing or refuses the value (naming it), a channel
    /// is missing or malformed, or the character device cannot be opened.
    pub fn open(settings: &IioSettings) -> Result<Self> {
        let dir = &settings.sysfs;
        let device = dir.display().to_string();
        let err = |what: String| SensorError::Iio {
            device: device.clone(),
            what,
        };
        if !(1..=1 << 20).contains(&settings.buffer_scans) {
            return Err(err(format!(
                "buffer_scans must be 1 to 1048576, got {}",
                settings.buffer_scans
            )));
        }
        let buffer = ["buffer0", "buffer"]
            .iter()
            .map(|b| dir.join(b))
            .find(|p| p.join("enable").exists())
            .ok_or_else(|| err("has no buffer/enable: not a buffered IIO device".into()))?;
        let elements = ["scan_elements", "buffer0"]
            .iter()
            .map(|b| dir.join(b))
            .find(|p| p.join("in_timestamp_en").exists())
            .ok_or_else(|| {
                err("has no scan_elements/in_timestamp_en: no timestamp channel".into())
            })?;
        write_sysfs(&buffer.join("enable"), "0")?;
        let names = settings.channels.names();
        let mut enabled = Vec::new();
        for &name in names {
            write_sysfs(&elements.join(format!("{name}_en")), "1")?;
            let index = read_sysfs(&elements.join(format!("{name}_index")))?;
            let index: u32 = index
                .parse()
                .map_err(|_| err(format!("{name}_index is {index:?}, not an index")))?;
            let ty = read_sysfs(&elements.join(format!("{name}_type")))?;
            let ty = ChannelType::parse(&ty).map_err(|e| err(format!("{name}: {e}")))?;
            enabled.push((name.to_string(), index, ty));
        }
        // Any other channel left enabled would change the layout.
        for entry in std::fs::read_dir(&elements).map_err(|e| io(&elements, e))? {
            let entry = entry.map_err(|e| io(&elements, e))?;
            let file = entry.file_name().to_string_lossy().into_owned();
            if let Some(ch) = file.strip_suffix("_en")
                && !names.contains(&ch)
                && read_sysfs(&entry.path())? != "0"
            {
                write_sysfs(&entry.path(), "0")?;
            }
        }
        let layout = ScanLayout::new(enabled).map_err(err)?;
        let units = |kind: &str| -> Result<[Units; 3]> {
            let one = |axis: &str| -> Result<Units> {
                let scale = read_number(
                    dir,
                    &[
                        format!("in_{kind}_{axis}_scale"),
                        format!("in_{kind}_scale"),
                    ],
                )?
                .ok_or_else(|| {
                    err(format!(
                        "has no in_{kind}_scale (nor in_{kind}_{axis}_scale)"
                    ))
                })?;
                let offset = read_number(
                    dir,
                    &[
                        format!("in_{kind}_{axis}_offset"),
                        format!("in_{kind}_offset"),
                    ],
                )?
                .unwrap_or(0.0);
                Ok((scale, offset))
            };
            Ok([one("x")?, one("y")?, one("z")?])
        };
        let channels = settings.channels;
        let accel = if channels.has_accel() {
            units("accel")?
        } else {
            ABSENT
        };
        let gyro = if channels.has_gyro() {
            units("anglvel")?
        } else {
            ABSENT
        };
        let decoder = ScanDecoder::with_channels(layout, channels, accel, gyro).map_err(|e| {
            err(match e {
                SensorError::Iio { what, .. } => what,
                other => other.to_string(),
            })
        })?;
        let clock = dir.join("current_timestamp_clock");
        if clock.exists() {
            write_sysfs(&clock, "monotonic")?;
        } else {
            return Err(err(
                "has no current_timestamp_clock: its time stamps could not be put on \
                 CLOCK_MONOTONIC (kernel 4.10 or later has it)"
                    .into(),
            ));
        }
        if let Some(hz) = settings.rate_hz {
            if !(hz.is_finite() && hz > 0.0) {
                return Err(err(format!("rate_hz must be positive, got {hz}")));
            }
            write_sysfs(&dir.join("sampling_frequency"), &format!("{hz}"))?;
        }
        if let Some(trigger) = &settings.trigger {
            write_sysfs(&dir.join("trigger").join("current_trigger"), trigger)?;
        }
        write_sysfs(&buffer.join("length"), &settings.buffer_scans.to_string())?;
        write_sysfs(&buffer.join("enable"), "1")?;
        let file = std::fs::File::open(&settings.dev).map_err(|e| io(&settings.dev, e))?;
        Ok(Self {
            settings: settings.clone(),
            pending: Vec::with_capacity(decoder.scan_bytes() * 64),
            decoder,
            file,
            enabled: true,
        })
    }

    /// Bytes one scan takes.
    #[must_use]
    pub fn scan_bytes(&self) -> usize {
        self.decoder.scan_bytes()
    }

    /// The character device it reads.
    #[must_use]
    pub fn device_name(&self) -> String {
        self.settings.dev.display().to_string()
    }

    /// Blocks until the device has at least one whole scan, then appends
    /// every whole sample read to `out`; returns how many, 0 only at the end
    /// of the stream (a read that ends inside a scan waits for the rest).
    ///
    /// # Errors
    /// If the read fails (naming the device).
    pub fn read_into(&mut self, out: &mut Vec<ImuSample>) -> Result<usize> {
        let mut chunk = [0u8; 4096];
        let before = out.len();
        while out.len() == before {
            let n = self
                .file
                .read(&mut chunk)
                .map_err(|e| io(&self.settings.dev, e))?;
            if n == 0 {
                return Ok(0);
            }
            self.pending.extend_from_slice(&chunk[..n]);
            let used = self.decoder.decode(&self.pending, out);
            self.pending.drain(..used);
        }
        Ok(out.len() - before)
    }

    /// Stops capture (also done on drop).
    ///
    /// # Errors
    /// If `buffer/enable` refuses.
    pub fn stop(&mut self) -> Result<()> {
        if !self.enabled {
            return Ok(());
        }
        self.enabled = false;
        let dir = &self.settings.sysfs;
        let buffer = ["buffer0", "buffer"]
            .iter()
            .map(|b| dir.join(b))
            .find(|p| p.join("enable").exists())
            .unwrap_or_else(|| dir.join("buffer"));
        write_sysfs(&buffer.join("enable"), "0")
    }
}

impl Drop for IioImu {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            tracing::warn!("{e}");
        }
    }
}

fn io(path: &Path, source: std::io::Error) -> SensorError {
    SensorError::Io {
        what: path.display().to_string(),
        source,
    }
}

/// A sysfs attribute, trimmed (at most 4 KiB, a page, as sysfs serves).
fn read_sysfs(path: &Path) -> Result<String> {
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(4096).read_to_string(&mut text))
        .map_err(|e| io(path, e))?;
    Ok(text.trim().to_string())
}

fn write_sysfs(path: &Path, value: &str) -> Result<()> {
    std::fs::write(path, value).map_err(|e| SensorError::Io {
        what: format!("writing {value:?} to {}", path.display()),
        source: e,
    })
}

/// The first of `names` under `dir` that exists, as a number.
fn read_number(dir: &Path, names: &[String]) -> Result<Option<f64>> {
    for name in names {
        let path = dir.join(name);
        if path.exists() {
            let text = read_sysfs(&path)?;
            return text.parse::<f64>().map(Some).map_err(|_| SensorError::Iio {
                device: dir.display().to_string(),
                what: format!("{name} is {text:?}, not a number"),
            });
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ty(s: &str) -> ChannelType {
        ChannelType::parse(s).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn channel_types_parse_and_decode_in_either_endianness() {
        let t = ty("le:s16/16>>0");
        assert_eq!(
            (t.signed, t.bits, t.storage_bits, t.repeat, t.shift),
            (true, 16, 16, 1, 0)
        );
        assert_eq!(t.value(&(-1234i16).to_le_bytes()), -1234);
        let t = ty("be:s12/16>>4");
        // -5 in 12 bits, shifted up by 4, big-endian.
        let raw = (((-5i16 as u16) & 0x0fff) << 4).to_be_bytes();
        assert_eq!(t.value(&raw), -5);
        let t = ty("le:u12/16>>4");
        assert_eq!(t.value(&((0xabcu16 << 4) | 0xf).to_le_bytes()), 0xabc);
        let t = ty("le:s64/64>>0");
        assert_eq!(t.value(&i64::MIN.to_le_bytes()), i64::MIN);
        assert_eq!(ty("le:s16/16X3>>0").bytes(), 6);
        for bad in [
            "",
            "xx:s16/16>>0",
            "le:s16/12>>0",
            "le:s16/16>>1",
            "le:f32/32>>0",
            "le:s0/16>>0",
            "le:s16/16X0>>0",
            "le:s16/16X100>>0",
            "le:q16/16",
            "le:s16",
        ] {
            assert!(ChannelType::parse(bad).is_err(), "{bad:?}");
        }
    }

    fn imu_layout(indices: [u32; 7]) -> ScanLayout {
        let enabled = IMU_CHANNELS
            .iter()
            .zip(indices)
            .map(|(n, i)| {
                let t = if *n == "in_timestamp" {
                    "le:s64/64>>0"
                } else {
                    "le:s16/16>>0"
                };
                (n.to_string(), i, ty(t))
            })
            .collect();
        ScanLayout::new(enabled).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_six_axis_scan_with_its_timestamp_is_24_bytes() {
        // bmi160's order: anglvel x y z (0-2), accel x y z (3-5), timestamp.
        let layout = imu_layout([3, 4, 5, 0, 1, 2, 6]);
        assert_eq!(layout.bytes, 24);
        let offsets: Vec<(&str, usize)> = layout
            .channels
            .iter()
            .map(|c| (c.0.as_str(), c.2))
            .collect();
        assert_eq!(
            offsets,
            vec![
                ("in_anglvel_x", 0),
                ("in_anglvel_y", 2),
                ("in_anglvel_z", 4),
                ("in_accel_x", 6),
                ("in_accel_y", 8),
                ("in_accel_z", 10),
                ("in_timestamp", 16),
            ]
        );
        // The kernel's example: u16 at 0, u32 at 4 and 8, u64 at 16.
        let mixed = ScanLayout::new(vec![
            ("a".into(), 0, ty("le:u16/16>>0")),
            ("b".into(), 1, ty("le:u32/32>>0")),
            ("c".into(), 2, ty("le:u32/32>>0")),
            ("d".into(), 3, ty("le:u64/64>>0")),
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            mixed.channels.iter().map(|c| c.2).collect::<Vec<_>>(),
            [0, 4, 8, 16]
        );
        assert_eq!(mixed.bytes, 24);
        assert!(
            ScanLayout::new(vec![
                ("a".into(), 0, ty("le:u16/16>>0")),
                ("b".into(), 0, ty("le:u16/16>>0"))
            ])
            .is_err()
        );
    }

    #[test]
    fn scans_decode_to_si_units_and_a_partial_scan_waits() {
        let layout = imu_layout([3, 4, 5, 0, 1, 2, 6]);
        let accel_scale = 0.000_598_550; // m/s^2 per count (+-2 g)
        let gyro_scale = 0.000_266_316; // rad/s per count
        let decoder = ScanDecoder::new(
            layout,
            [(accel_scale, 0.0), (accel_scale, 0.0), (accel_scale, 2.0)],
            [(gyro_scale, 0.0); 3],
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let mut bytes = Vec::new();
        for k in 0..3i16 {
            for v in [10 * k, -20, 30, 100, -200, 16384 + k] {
                bytes.extend_from_slice(&v.to_le_bytes());
            }
            bytes.extend_from_slice(&[0; 4]);
            bytes.extend_from_slice(&(1_000_000_000i64 + i64::from(k) * 5_000_000).to_le_bytes());
        }
        let mut out = Vec::new();
        let used = decoder.decode(&bytes[..60], &mut out);
        assert_eq!((used, out.len()), (48, 2));
        let used = decoder.decode(&bytes[48..], &mut out);
        assert_eq!((used, out.len()), (24, 3));
        let s = &out[2];
        assert_eq!(s.t_ns, 1_010_000_000);
        assert!((s.gyro.x - 20.0 * gyro_scale).abs() < 1e-15);
        assert!((s.gyro.y + 20.0 * gyro_scale).abs() < 1e-15);
        assert!((s.accel.z - 16388.0 * accel_scale).abs() < 1e-12);
        assert!((s.accel.y + 200.0 * accel_scale).abs() < 1e-15);
    }
}
