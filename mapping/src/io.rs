//! Saving and loading the int8 map, and exporting it for viewers.
//!
//! - [`save`] / [`load`] (and the in-memory [`write_to`] / [`read_from`]): the
//!   whole [`FixedMap`] in a compact little-endian binary file, loaded back
//!   bit for bit. Writing goes to a temporary file in the target's directory
//!   that is synced and then renamed over the target, so a crash leaves the old
//!   file or the new one, never half of one. Loading validates every field and
//!   never panics, whatever the bytes: a problem is a [`MappingError::Format`]
//!   naming the file, the byte offset and what was expected there.
//! - [`export_ply`]: occupied cell centres as a coloured point cloud (world
//!   frame, metres) for MeshLab, CloudCompare or Open3D.
//! - [`export_png`]: a [`Slice2D`] as an 8-bit grey image.
//!
//! # File format, version 1
//!
//! All integers and floats little-endian; offsets in bytes.
//!
//! ```text
//! header (56 bytes)
//!    0  [u8; 8]  magic "SCOUTMAP"
//!    8  u32      format version, 1
//!   12  u8       cell type: 1 = int8 log-odds steps, -128 = never observed
//!   13  u8       brick side in cells: 8 (bricks of 512 cells)
//!   14  u16      reserved, 0
//!   16  u64      length of the whole file, checksum included
//!   24  f64      resolution: cell side, m
//!   32  f64      the quantized model: log-odds per int8 step
//!   40  i8 x 5   the quantized model: hit, miss, min, max, threshold (steps)
//!   45  [u8; 3]  reserved, 0
//!   48  u64      brick count
//! bricks, in increasing key order (z, then y, then x), keys unique
//!    0  i32 x 3  brick key x, y, z (cell key = brick key * 8 + offset)
//!   12  u8       encoding: 0 = raw, 1 = runs
//!       raw:  [i8; 512]   the cells, x fastest, then y, then z
//!       runs: u16 n (1..=512), then n x (u8 length - 1, i8 value), the
//!             lengths adding up to 512, cells in the raw order
//! trailer
//!    0  u64      FNV-1a 64 of every byte before it
//! ```
//!
//! The same map always gives the same bytes (sorted bricks, a deterministic
//! choice of encoding).
//!
//! The header holds the quantized model ([`QuantizedModel`]) rather than the
//! [`OccupancyParams`](crate::OccupancyParams) it was made from, because that
//! is what the cells mean and what the map holds: a loaded map compares equal
//! to the saved one, model included. Loading checks the model's invariants
//! (the ones [`QuantizedModel::new`] guarantees: finite positive step,
//! `-127 <= min <= threshold <= max <= 127`, `miss < 0 < hit`), the resolution
//! (through the map's constructor), the length, the checksum, the brick keys
//! (in range, strictly increasing, so never duplicated) and every cell
//! (unknown, or within `[min, max]`); it never allocates from a count it has
//! not checked against the bytes that are there.
//!
//! # Why per-brick runs
//!
//! Measured on the map of a simulated flight (`compression_on_a_simulated_flight`
//! in `tests/io_roundtrip.rs`, the `map_insert` bench's world, depth camera and
//! 5 cm cells): with the bench's 60 scans of 320 x 240 (`SCOUT_IO_FULL=1`),
//! raw bricks would take 1.025 bytes per allocated cell and runs take 0.217
//! (4.7x smaller; 3292 bricks, 365 kB); with the test's default 20 scans of
//! 160 x 120, 0.302 against 1.025. A brick holds 47 runs of equal cells on
//! average (69 with fewer scans): observed free space saturates at the free
//! clamp after a few scans, and 37 % of the bricks are partly unknown (a
//! surface or the edge of the observed volume crosses them), so every brick
//! but one was smaller as runs. A brick is written as runs only when that is smaller than raw, so no
//! map grows by more than one byte per brick; decoding a run is a `fill`.
//!
//! The checksum is FNV-1a 64 (Fowler, Noll, Vo): one xor and one multiply per
//! byte. It detects every single changed byte (each step is a bijection of the
//! state) and is no defence against deliberate tampering, which is not the
//! threat here (a crash, a truncated copy, a flipped bit).

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::MappingError;
use crate::logodds::{QuantizedModel, UNKNOWN_I8};
use crate::map::{BRICK_CELLS, BRICK_SIDE, BrickKey, CellModel, FixedMap, Occupancy, OccupancyMap};
use crate::query::Slice2D;

/// The first eight bytes of a map file.
pub const MAGIC: [u8; 8] = *b"SCOUTMAP";
/// The format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// Cell type tag: int8 log-odds steps.
const CELL_TYPE_I8: u8 = 1;
/// Header length, bytes.
pub const HEADER_BYTES: usize = 56;
/// Checksum length, bytes.
const TRAILER_BYTES: usize = 8;
const ENCODING_RAW: u8 = 0;
const ENCODING_RUNS: u8 = 1;
/// Key (12) + encoding (1) + run count (2) + one run (2).
const MIN_BRICK_RECORD: u64 = 17;
/// The brick keys of the cells `OccupancyMap::key` can give (cell keys within
/// `|k| < i32::MAX / 2`; bricks round down, so the range is one wider below).
const MAX_BRICK_COORD: i32 = (i32::MAX / 2) >> 3;
const MIN_BRICK_COORD: i32 = -MAX_BRICK_COORD - 1;

/// What [`save`] or [`write_to`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SaveReport {
    /// File length, bytes.
    pub bytes: u64,
    /// Bricks written.
    pub bricks: u64,
    /// Of which written as runs (the rest raw).
    pub run_bricks: u64,
}

impl SaveReport {
    /// The length the file would have with every brick raw, bytes.
    #[must_use]
    pub fn raw_bytes(&self) -> u64 {
        (HEADER_BYTES + TRAILER_BYTES) as u64 + self.bricks * (13 + BRICK_CELLS as u64)
    }

    /// Bytes on disk per allocated cell.
    #[must_use]
    pub fn bytes_per_cell(&self) -> f64 {
        self.bytes as f64 / (self.bricks.max(1) * BRICK_CELLS as u64) as f64
    }
}

/// FNV-1a 64.
#[derive(Debug, Clone, Copy)]
struct Fnv1a(u64);

impl Fnv1a {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;

    fn new() -> Self {
        Self(Self::OFFSET)
    }

    fn update(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(Self::PRIME);
        }
    }
}

/// A writer that hashes and counts what passes through it.
struct HashingWriter<'w, W: Write> {
    inner: &'w mut W,
    hash: Fnv1a,
    written: u64,
}

impl<W: Write> HashingWriter<'_, W> {
    fn put(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.hash.update(bytes);
        self.written += bytes.len() as u64;
        self.inner.write_all(bytes)
    }
}

/// Checks what loading requires of a model, so that save and load accept the
/// same maps.
fn check_model(m: &QuantizedModel) -> Result<(), String> {
    if !(m.step.is_finite() && m.step > 0.0) {
        return Err(format!(
            "log-odds step must be finite and > 0, got {}",
            m.step
        ));
    }
    if !(-127 <= m.min && m.min <= m.threshold && m.threshold <= m.max) {
        return Err(format!(
            "need -127 <= min <= threshold <= max, got min {} threshold {} max {}",
            m.min, m.threshold, m.max
        ));
    }
    if !(m.miss < 0 && m.hit > 0) {
        return Err(format!(
            "need miss < 0 < hit, got miss {} hit {}",
            m.miss, m.hit
        ));
    }
    Ok(())
}

/// A brick's runs of equal cells, in cell order: (length, value), each at
/// most 256 cells long (its length is stored less one in a byte), so a brick
/// of one value takes 2 runs.
fn runs(cells: &[i8; BRICK_CELLS]) -> impl Iterator<Item = (usize, i8)> + '_ {
    let mut i = 0;
    std::iter::from_fn(move || {
        let v = *cells.get(i)?;
        let mut j = i + 1;
        while j < BRICK_CELLS && j - i < 256 && cells[j] == v {
            j += 1;
        }
        let run = (j - i, v);
        i = j;
        Some(run)
    })
}

/// Bytes after the key and encoding byte, and whether runs are used.
fn brick_encoding(cells: &[i8; BRICK_CELLS]) -> (usize, bool) {
    let run_bytes = 2 + 2 * runs(cells).count();
    if run_bytes < BRICK_CELLS {
        (run_bytes, true)
    } else {
        (BRICK_CELLS, false)
    }
}

/// Writes a map in the format of the module documentation to a stream.
/// Returns what was written.
///
/// # Errors
/// If the stream fails, or the map's model is one [`load`] would refuse
/// (only possible for a model built by hand; reported as
/// [`std::io::ErrorKind::InvalidInput`]).
pub fn write_to(map: &FixedMap, w: &mut impl Write) -> std::io::Result<SaveReport> {
    let model = *map.model();
    check_model(&model).map_err(|m| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("cannot save: {m}"),
        )
    })?;
    let mut keys: Vec<BrickKey> = map.bricks().map(|(k, _)| k).collect();
    keys.sort_unstable_by_key(|k| (k.z, k.y, k.x));
    // First pass: the encodings, for the length in the header.
    let mut length = (HEADER_BYTES + TRAILER_BYTES) as u64;
    let mut run_bricks = 0;
    for k in &keys {
        if let Some(cells) = map.brick(*k) {
            let (n, as_runs) = brick_encoding(cells);
            length += 13 + n as u64;
            run_bricks += u64::from(as_runs);
        }
    }
    let mut out = HashingWriter {
        inner: w,
        hash: Fnv1a::new(),
        written: 0,
    };
    let mut header = [0u8; HEADER_BYTES];
    header[0..8].copy_from_slice(&MAGIC);
    header[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    header[12] = CELL_TYPE_I8;
    header[13] = BRICK_SIDE as u8;
    header[16..24].copy_from_slice(&length.to_le_bytes());
    header[24..32].copy_from_slice(&map.resolution().to_le_bytes());
    header[32..40].copy_from_slice(&model.step.to_le_bytes());
    for (i, v) in [model.hit, model.miss, model.min, model.max, model.threshold]
        .into_iter()
        .enumerate()
    {
        header[40 + i] = v as u8;
    }
    header[48..56].copy_from_slice(&(keys.len() as u64).to_le_bytes());
    out.put(&header)?;
    let mut record = Vec::with_capacity(13 + BRICK_CELLS);
    for k in &keys {
        let Some(cells) = map.brick(*k) else {
            continue;
        };
        record.clear();
        for c in [k.x, k.y, k.z] {
            record.extend_from_slice(&c.to_le_bytes());
        }
        let (n, as_runs) = brick_encoding(cells);
        if as_runs {
            record.push(ENCODING_RUNS);
            record.extend_from_slice(&(((n - 2) / 2) as u16).to_le_bytes());
            for (length, v) in runs(cells) {
                record.push((length - 1) as u8);
                record.push(v as u8);
            }
        } else {
            record.push(ENCODING_RAW);
            record.extend(cells.iter().map(|&c| c as u8));
        }
        out.put(&record)?;
    }
    let checksum = out.hash.0;
    out.put(&checksum.to_le_bytes())?;
    debug_assert_eq!(out.written, length);
    Ok(SaveReport {
        bytes: out.written,
        bricks: keys.len() as u64,
        run_bricks,
    })
}

/// Saves a map to `path` atomically (a temporary file in the same directory,
/// synced, then renamed over `path`). Returns what was written.
///
/// # Errors
/// [`MappingError::Io`] naming `path` if the file cannot be written; nothing
/// is left at `path` but the previous file, if any.
pub fn save(map: &FixedMap, path: impl AsRef<Path>) -> Result<SaveReport, MappingError> {
    write_atomically(path.as_ref(), |w| write_to(map, w))
}

/// Loads a map saved by [`save`].
///
/// # Errors
/// [`MappingError::Io`] if the file cannot be read, [`MappingError::Format`]
/// naming the file and the byte offset if it is not a valid map file.
pub fn load(path: impl AsRef<Path>) -> Result<FixedMap, MappingError> {
    let path = path.as_ref();
    decode(&read_file(path)?, path)
}

/// Reads a map written by [`write_to`] from a stream to its end; `path` names
/// the source in error messages.
///
/// # Errors
/// As [`load`].
pub fn read_from(r: &mut impl Read, path: impl AsRef<Path>) -> Result<FixedMap, MappingError> {
    let path = path.as_ref();
    decode(&read_stream(r, path)?, path)
}

/// A whole file's bytes; an error names the file.
pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>, MappingError> {
    std::fs::read(path).map_err(|error| MappingError::Io {
        path: path.to_path_buf(),
        error,
    })
}

/// A stream's bytes to its end; an error names `path`, the stream's source.
pub(crate) fn read_stream(r: &mut impl Read, path: &Path) -> Result<Vec<u8>, MappingError> {
    let mut bytes = Vec::new();
    r.read_to_end(&mut bytes)
        .map_err(|error| MappingError::Io {
            path: path.to_path_buf(),
            error,
        })?;
    Ok(bytes)
}

/// Reads fields from a byte slice, naming the offset and the field on failure.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    path: &'a Path,
    /// The length the header declares, for messages about truncation.
    declared: Option<u64>,
}

impl<'a> Reader<'a> {
    fn error(&self, at: usize, message: impl std::fmt::Display) -> MappingError {
        MappingError::Format {
            path: self.path.to_path_buf(),
            message: format!("at byte {at}: {message}"),
        }
    }

    fn take(&mut self, n: usize, what: impl FnOnce() -> String) -> Result<&'a [u8], MappingError> {
        let rest = &self.buf[self.pos.min(self.buf.len())..];
        if rest.len() < n {
            let declared = self
                .declared
                .map(|d| format!("; the header declares {d} bytes"))
                .unwrap_or_default();
            return Err(MappingError::Format {
                path: self.path.to_path_buf(),
                message: format!(
                    "truncated: the file ends at byte {} but {} needs {n} bytes from byte {}{declared}",
                    self.buf.len(),
                    what(),
                    self.pos
                ),
            });
        }
        let out = &rest[..n];
        self.pos += n;
        Ok(out)
    }

    fn array<const N: usize>(
        &mut self,
        what: impl FnOnce() -> String,
    ) -> Result<[u8; N], MappingError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N, what)?);
        Ok(a)
    }

    fn u8(&mut self, what: &str) -> Result<u8, MappingError> {
        Ok(self.array::<1>(|| what.to_string())?[0])
    }
    fn u16(&mut self, what: &str) -> Result<u16, MappingError> {
        Ok(u16::from_le_bytes(self.array(|| what.to_string())?))
    }
    fn u32(&mut self, what: &str) -> Result<u32, MappingError> {
        Ok(u32::from_le_bytes(self.array(|| what.to_string())?))
    }
    fn u64(&mut self, what: &str) -> Result<u64, MappingError> {
        Ok(u64::from_le_bytes(self.array(|| what.to_string())?))
    }
    fn f64(&mut self, what: &str) -> Result<f64, MappingError> {
        Ok(f64::from_le_bytes(self.array(|| what.to_string())?))
    }
}

/// Parses a whole file held in memory.
fn decode(bytes: &[u8], path: &Path) -> Result<FixedMap, MappingError> {
    let mut r = Reader {
        buf: bytes,
        pos: 0,
        path,
        declared: None,
    };
    if !bytes.iter().zip(MAGIC).all(|(&a, b)| a == b) {
        let n = bytes.len().min(8);
        return Err(r.error(
            0,
            format!(
                "not a scout map file (starts with {:02x?}, expected \"SCOUTMAP\")",
                &bytes[..n]
            ),
        ));
    }
    let magic = r.array::<8>(|| "the magic".to_string())?;
    if magic != MAGIC {
        return Err(r.error(
            0,
            format!("not a scout map file (magic {magic:02x?}, expected \"SCOUTMAP\")"),
        ));
    }
    let version = r.u32("the format version")?;
    if version != FORMAT_VERSION {
        return Err(r.error(
            8,
            format!(
                "unsupported format version {version} (this build reads version {FORMAT_VERSION})"
            ),
        ));
    }
    let cell_type = r.u8("the cell type")?;
    if cell_type != CELL_TYPE_I8 {
        return Err(r.error(
            12,
            format!("unsupported cell type {cell_type} (expected {CELL_TYPE_I8}, int8 log-odds)"),
        ));
    }
    let side = r.u8("the brick side")?;
    if i32::from(side) != BRICK_SIDE {
        return Err(r.error(13, format!("brick side {side}, expected {BRICK_SIDE}")));
    }
    let reserved = r.u16("the reserved field")?;
    if reserved != 0 {
        return Err(r.error(14, format!("reserved field is {reserved}, expected 0")));
    }
    let declared = r.u64("the file length")?;
    r.declared = Some(declared);
    let min_len = (HEADER_BYTES + TRAILER_BYTES) as u64;
    if declared < min_len {
        return Err(r.error(
            16,
            format!(
                "declared file length {declared} is shorter than a header and checksum ({min_len})"
            ),
        ));
    }
    let actual = bytes.len() as u64;
    if actual > declared {
        return Err(r.error(
            declared as usize,
            format!(
                "{} unexpected bytes after the declared end of the file (the header declares {declared} bytes)",
                actual - declared
            ),
        ));
    }
    if actual < declared {
        // Truncated: parse what is there to say where it ends. The declared
        // length bounds the counts, so the parse ends with a truncation
        // error in the field that was cut.
        let body_end = declared - TRAILER_BYTES as u64;
        parse_body(&mut r, body_end)?;
        r.take(TRAILER_BYTES, || "the checksum".to_string())?;
        return Err(r.error(bytes.len(), "truncated"));
    }
    let body_end = bytes.len() - TRAILER_BYTES;
    let mut hash = Fnv1a::new();
    hash.update(&bytes[..body_end]);
    let mut stored = [0u8; 8];
    stored.copy_from_slice(&bytes[body_end..]);
    let stored = u64::from_le_bytes(stored);
    if hash.0 != stored {
        return Err(r.error(
            body_end,
            format!(
                "checksum mismatch: the file says {stored:016x}, its contents hash to {:016x} (corrupted)",
                hash.0
            ),
        ));
    }
    r.buf = &bytes[..body_end];
    let map = parse_body(&mut r, body_end as u64)?;
    Ok(map)
}

/// Parses from the resolution to the last brick; `body_end` is where the
/// checksum starts according to the header.
fn parse_body(r: &mut Reader<'_>, body_end: u64) -> Result<FixedMap, MappingError> {
    let resolution = r.f64("the resolution")?;
    let step = r.f64("the log-odds step")?;
    let q = r.array::<5>(|| "the quantized model".to_string())?;
    let model = QuantizedModel {
        step,
        hit: q[0] as i8,
        miss: q[1] as i8,
        min: q[2] as i8,
        max: q[3] as i8,
        threshold: q[4] as i8,
    };
    check_model(&model).map_err(|m| r.error(32, format!("invalid occupancy model: {m}")))?;
    let mut map =
        FixedMap::with_model(resolution, model).map_err(|e| r.error(24, e.to_string()))?;
    let reserved = r.array::<3>(|| "the reserved bytes".to_string())?;
    if reserved != [0; 3] {
        return Err(r.error(45, format!("reserved bytes are {reserved:?}, expected 0")));
    }
    let count = r.u64("the brick count")?;
    let room = body_end.saturating_sub(HEADER_BYTES as u64);
    if count.checked_mul(MIN_BRICK_RECORD).is_none_or(|n| n > room) {
        return Err(r.error(
            48,
            format!(
                "brick count {count} cannot fit in the {room} bytes of bricks the file declares \
                 (at least {MIN_BRICK_RECORD} bytes each)"
            ),
        ));
    }
    let mut previous: Option<BrickKey> = None;
    for b in 0..count {
        let at = r.pos;
        let key_bytes = r.array::<12>(|| format!("the key of brick {b} (of {count})"))?;
        let c = |i: usize| {
            i32::from_le_bytes([
                key_bytes[i],
                key_bytes[i + 1],
                key_bytes[i + 2],
                key_bytes[i + 3],
            ])
        };
        let key = BrickKey {
            x: c(0),
            y: c(4),
            z: c(8),
        };
        if [key.x, key.y, key.z]
            .iter()
            .any(|v| !(MIN_BRICK_COORD..=MAX_BRICK_COORD).contains(v))
        {
            return Err(r.error(
                at,
                format!(
                    "brick {b} key {key:?} is outside the map's range \
                     ({MIN_BRICK_COORD} ..= {MAX_BRICK_COORD} per coordinate)"
                ),
            ));
        }
        if let Some(p) = previous {
            let order = |k: BrickKey| (k.z, k.y, k.x);
            if order(key) == order(p) {
                return Err(r.error(at, format!("brick {b} key {key:?} is a duplicate")));
            }
            if order(key) < order(p) {
                return Err(r.error(
                    at,
                    format!(
                        "brick {b} key {key:?} is out of order (after {p:?}; keys must increase)"
                    ),
                ));
            }
        }
        previous = Some(key);
        let enc_at = r.pos;
        let encoding = r.array::<1>(|| format!("the encoding of brick {b} (of {count})"))?[0];
        let mut cells = Box::new([UNKNOWN_I8; BRICK_CELLS]);
        match encoding {
            ENCODING_RAW => {
                let raw = r.take(BRICK_CELLS, || {
                    format!("the cells of brick {b} (of {count})")
                })?;
                for (c, &v) in cells.iter_mut().zip(raw) {
                    *c = v as i8;
                }
            }
            ENCODING_RUNS => {
                let runs = u16::from_le_bytes(
                    r.array(|| format!("the run count of brick {b} (of {count})"))?,
                );
                if runs == 0 || usize::from(runs) > BRICK_CELLS {
                    return Err(r.error(
                        enc_at + 1,
                        format!("brick {b} has {runs} runs, expected 1 to {BRICK_CELLS}"),
                    ));
                }
                let data = r.take(2 * usize::from(runs), || {
                    format!("the {runs} runs of brick {b} (of {count})")
                })?;
                let mut filled = 0;
                for pair in data.chunks_exact(2) {
                    let len = usize::from(pair[0]) + 1;
                    if filled + len > BRICK_CELLS {
                        return Err(r.error(
                            enc_at + 3,
                            format!("brick {b}'s runs cover more than {BRICK_CELLS} cells"),
                        ));
                    }
                    cells[filled..filled + len].fill(pair[1] as i8);
                    filled += len;
                }
                if filled != BRICK_CELLS {
                    return Err(r.error(
                        enc_at + 3,
                        format!("brick {b}'s runs cover {filled} cells, expected {BRICK_CELLS}"),
                    ));
                }
            }
            other => {
                return Err(r.error(
                    enc_at,
                    format!("brick {b} has encoding {other}, expected {ENCODING_RAW} (raw) or {ENCODING_RUNS} (runs)"),
                ));
            }
        }
        if let Some((i, v)) = cells
            .iter()
            .enumerate()
            .find(|&(_, &v)| v != UNKNOWN_I8 && !(model.min..=model.max).contains(&v))
        {
            return Err(r.error(
                enc_at + 1,
                format!(
                    "brick {b} cell {i} holds {v}, outside the model's range [{}, {}]",
                    model.min, model.max
                ),
            ));
        }
        map.insert_brick(key, cells);
    }
    if (r.pos as u64) < body_end && r.pos == r.buf.len() {
        // Truncated exactly after the last brick: the caller reports it.
        return Ok(map);
    }
    if r.pos as u64 != body_end {
        return Err(r.error(
            r.pos,
            format!(
                "{} unexpected bytes after the last brick",
                body_end.saturating_sub(r.pos as u64)
            ),
        ));
    }
    Ok(map)
}

/// Distinguishes temporary files written concurrently by one process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes a file through `write` into a temporary file beside `path`, syncs
/// it, and renames it over `path`: a reader never sees half a file, and a
/// failed write leaves no temporary file behind.
///
/// # Errors
/// [`MappingError::Io`] naming `path` if it cannot be written.
pub fn write_atomically<T>(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<File>) -> std::io::Result<T>,
) -> Result<T, MappingError> {
    let io = |error: std::io::Error| MappingError::Io {
        path: path.to_path_buf(),
        error,
    };
    let Some(name) = path.file_name() else {
        return Err(io(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a file path",
        )));
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let temp = dir.join(format!(
        ".{}.{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id(),
        TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)?;
        let mut w = BufWriter::new(file);
        let value = write(&mut w)?;
        let file = w
            .into_inner()
            .map_err(std::io::IntoInnerError::into_error)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&temp, path)?;
        Ok(value)
    })();
    match result {
        Ok(value) => {
            // Make the rename itself durable where directories can be synced
            // (not on every platform; the file is complete either way).
            if let Ok(d) = File::open(&dir) {
                let _ = d.sync_all();
            }
            Ok(value)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&temp);
            Err(io(e))
        }
    }
}

/// A colour for a height fraction in [0, 1]: blue, cyan, green, yellow, red.
fn height_colour(f: f64) -> [u8; 3] {
    let f = if f.is_finite() {
        f.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let s = f * 4.0;
    let ramp = |v: f64| (v.clamp(0.0, 1.0) * 255.0).round() as u8;
    [
        ramp(s - 2.0),
        ramp(if s < 3.0 { s } else { 4.0 - s }),
        ramp(2.0 - s),
    ]
}

/// Writes the occupied cells' centres to `path` as a binary little-endian PLY
/// point cloud: `x y z` as `float` (world frame, metres) and `red green blue`
/// as `uchar`, coloured by height from blue (lowest occupied cell) through
/// cyan, green and yellow to red (highest). A header comment gives the
/// resolution and the height range. Points are in brick key order, then cell
/// order (deterministic). Written atomically, as [`save`]. Returns the number
/// of points.
///
/// MeshLab, CloudCompare and Open3D (`o3d.io.read_point_cloud`) read it.
///
/// # Errors
/// [`MappingError::Io`] naming `path` if the file cannot be written.
pub fn export_ply<M: CellModel>(
    map: &OccupancyMap<M>,
    path: impl AsRef<Path>,
) -> Result<usize, MappingError> {
    let mut keys: Vec<BrickKey> = map.bricks().map(|(k, _)| k).collect();
    keys.sort_unstable_by_key(|k| (k.z, k.y, k.x));
    let model = map.model();
    let mut count = 0usize;
    let (mut z_lo, mut z_hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for &k in &keys {
        if let Some(cells) = map.brick(k) {
            for (i, &c) in cells.iter().enumerate() {
                if model.occupancy(c) == Occupancy::Occupied {
                    count += 1;
                    let z = map.center(OccupancyMap::<M>::key_in_brick(k, i)).z;
                    z_lo = z_lo.min(z);
                    z_hi = z_hi.max(z);
                }
            }
        }
    }
    let span = if z_hi > z_lo { z_hi - z_lo } else { 1.0 };
    write_atomically(path.as_ref(), |w| {
        write!(
            w,
            "ply\nformat binary_little_endian 1.0\n\
             comment scout occupancy map: occupied cell centres, world frame, metres\n\
             comment resolution {} m; colour by height, blue at z {:.3} m to red at z {:.3} m\n\
             element vertex {count}\n\
             property float x\nproperty float y\nproperty float z\n\
             property uchar red\nproperty uchar green\nproperty uchar blue\n\
             end_header\n",
            map.resolution(),
            if count > 0 { z_lo } else { 0.0 },
            if count > 0 { z_hi } else { 0.0 },
        )?;
        let mut vertex = [0u8; 15];
        for &k in &keys {
            let Some(cells) = map.brick(k) else {
                continue;
            };
            for (i, &c) in cells.iter().enumerate() {
                if model.occupancy(c) != Occupancy::Occupied {
                    continue;
                }
                let p = map.center(OccupancyMap::<M>::key_in_brick(k, i));
                for a in 0..3 {
                    vertex[4 * a..4 * a + 4].copy_from_slice(&(p[a] as f32).to_le_bytes());
                }
                vertex[12..15].copy_from_slice(&height_colour((p.z - z_lo) / span));
                w.write_all(&vertex)?;
            }
        }
        Ok(())
    })?;
    Ok(count)
}

/// Where a slice image sits in the world: returned by [`export_png`] and also
/// written into the PNG as text chunks (`scout:origin_m`, `scout:resolution_m`,
/// `scout:z_cells`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ImagePlacement {
    /// World x, y (m) of the lower-left corner of the bottom-left pixel.
    pub origin_m: [f64; 2],
    /// Pixel side, m (the map's resolution).
    pub resolution_m: f64,
    /// Width and height, pixels.
    pub size: [u32; 2],
}

/// Writes a slice as an 8-bit grey PNG, one pixel per cell: unknown 128
/// (mid grey), free 255 (white), occupied 0 (black). +x is to the right and
/// +y up: image row `v` (from the top) is slice row `height - 1 - v`, so pixel
/// `(u, v)` covers world x in `[ox + u r, ox + (u + 1) r)` and y in
/// `[oy + (height - 1 - v) r, oy + (height - v) r)` for origin `(ox, oy)` =
/// [`Slice2D::origin_m`] and resolution `r`. Written atomically, as [`save`].
/// Returns that placement, which the file also carries as text chunks.
///
/// # Errors
/// [`MappingError::Config`] for an empty slice (PNG needs at least one pixel)
/// or one larger than PNG allows, [`MappingError::Io`] naming `path` if the
/// file cannot be written.
pub fn export_png(slice: &Slice2D, path: impl AsRef<Path>) -> Result<ImagePlacement, MappingError> {
    let (width, height) = (slice.width, slice.height);
    let size = match (u32::try_from(width), u32::try_from(height)) {
        (Ok(w), Ok(h)) if w > 0 && h > 0 && slice.cells.len() == width * height => [w, h],
        _ => {
            return Err(MappingError::Config(format!(
                "cannot write a {width} x {height} slice ({} cells) as a PNG",
                slice.cells.len()
            )));
        }
    };
    let placement = ImagePlacement {
        origin_m: slice.origin_m,
        resolution_m: slice.resolution,
        size,
    };
    let mut pixels = Vec::with_capacity(width * height);
    for row in slice.cells.chunks_exact(width).rev() {
        pixels.extend(row.iter().map(|o| match o {
            Occupancy::Unknown => 128u8,
            Occupancy::Free => 255,
            Occupancy::Occupied => 0,
        }));
    }
    let png_error = |e: png::EncodingError| match e {
        png::EncodingError::IoError(e) => e,
        other => std::io::Error::other(other.to_string()),
    };
    write_atomically(path.as_ref(), |w| {
        let mut encoder = png::Encoder::new(w, size[0], size[1]);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::Eight);
        for (key, text) in [
            (
                "scout:origin_m",
                format!("{} {}", slice.origin_m[0], slice.origin_m[1]),
            ),
            ("scout:resolution_m", format!("{}", slice.resolution)),
            (
                "scout:z_cells",
                format!("{} {}", slice.z_cells[0], slice.z_cells[1]),
            ),
            (
                "Comment",
                "scout occupancy slice: +x right, +y up; origin_m is the lower-left corner \
                 of the bottom-left pixel; white free, black occupied, grey unknown"
                    .to_string(),
            ),
        ] {
            encoder
                .add_text_chunk(key.to_string(), text)
                .map_err(png_error)?;
        }
        let mut writer = encoder.write_header().map_err(png_error)?;
        writer.write_image_data(&pixels).map_err(png_error)?;
        writer.finish().map_err(png_error)
    })?;
    Ok(placement)
}
