//! An MCAP file read with positioned reads: one pass over its records when it
//! is opened, then single messages fetched again by location.
//!
//! The file is not memory-mapped: a mapping needs `unsafe` (the workspace
//! denies it) and turns a file truncated or changed under the reader into a
//! `SIGBUS` instead of an error, while the page cache gives a positioned read
//! the same speed for chunk-sized reads (a syscall per chunk of ~1 MiB). The
//! memory held is bounded: one chunk during the pass, and a few decompressed
//! chunks ([`CACHED_CHUNKS`]) while images are fetched, each at most the
//! caller's limit on a chunk's size.
//!
//! Records (MCAP spec): the 8-byte magic, then records of `opcode: u8, length:
//! u64 (little-endian), body`. The pass reads schemas, channels and messages,
//! at the top level and inside chunks (`none`, `zstd` or `lz4` compressed,
//! their CRC checked when present); it skips indexes, attachments and
//! metadata, and stops at the data-end or footer record. A file that ends in
//! the middle of a record (a recording cut short) yields what came before it,
//! and the pass reports where it stopped.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use mcap::records::{Record, op};

use crate::error::{DatasetError, Result};

/// Decompressed chunks kept for fetching messages: the two images of a
/// stereo pair may sit in two chunks, and the next pair in a third.
pub const CACHED_CHUNKS: usize = 3;

/// Length of a record's opcode and length fields, bytes.
const RECORD_HEADER: u64 = 9;

/// Where a message's data (after its 22-byte message header) is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MessageAt {
    /// The chunk holding it (an index into the file's chunk list), or `None`
    /// for a message at the top level of the file.
    pub chunk: Option<u32>,
    /// Offset of the data in the file, or in the decompressed chunk, bytes.
    pub offset: u64,
    /// Length of the data, bytes.
    pub len: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Compression {
    None,
    Zstd,
    Lz4,
}

/// A chunk's compressed records and what they decompress to.
#[derive(Debug, Clone, Copy)]
struct ChunkInfo {
    /// File offset of the chunk record (for messages).
    record_offset: u64,
    /// File offset of the compressed records.
    data_offset: u64,
    compressed_len: u64,
    uncompressed_len: u64,
    /// CRC-32 of the decompressed records; 0 when the writer left it out.
    crc: u32,
    compression: Compression,
}

/// One record the pass hands on.
#[derive(Debug)]
pub(crate) enum Event<'a> {
    /// A schema: its id, name and encoding.
    Schema {
        /// Schema id.
        id: u16,
        /// Schema name (`sensor_msgs/msg/Image`).
        name: &'a str,
    },
    /// A channel.
    Channel {
        /// Channel id.
        id: u16,
        /// Its schema's id (0: none).
        schema_id: u16,
        /// Topic name.
        topic: &'a str,
        /// Message encoding (`cdr`).
        message_encoding: &'a str,
    },
    /// A message.
    Message {
        /// Its channel.
        channel_id: u16,
        /// When it was logged, ns.
        log_time: u64,
        /// Where its data is.
        at: MessageAt,
        /// The data.
        data: &'a [u8],
    },
}

/// How the pass over the records ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PassEnd {
    /// The file offset of a record cut off by the end of the file, if any.
    pub truncated_at: Option<u64>,
}

struct FileState {
    file: File,
    /// Decompressed chunks, least recently used first.
    cache: Vec<(u32, Vec<u8>)>,
    scratch: Vec<u8>,
}

/// An MCAP file being read.
pub(crate) struct McapFile {
    path: PathBuf,
    len: u64,
    max_chunk_bytes: u64,
    chunks: Vec<ChunkInfo>,
    state: Mutex<FileState>,
}

impl std::fmt::Debug for McapFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McapFile")
            .field("path", &self.path)
            .field("len", &self.len)
            .field("chunks", &self.chunks.len())
            .finish_non_exhaustive()
    }
}

impl McapFile {
    /// Opens `path` and checks the MCAP magic. `max_chunk_bytes` bounds every
    /// allocation made for one record or one decompressed chunk.
    pub(crate) fn open(path: &Path, max_chunk_bytes: u64) -> Result<Self> {
        let mut file = File::open(path).map_err(|e| DatasetError::io(path, e))?;
        let len = file
            .metadata()
            .map_err(|e| DatasetError::io(path, e))?
            .len();
        let mut magic = [0; 8];
        let read = read_up_to(&mut file, &mut magic).map_err(|e| DatasetError::io(path, e))?;
        if read < magic.len() || magic[..] != *mcap::MAGIC {
            return Err(DatasetError::malformed_file(
                path,
                "not an MCAP file (it does not start with the MCAP magic bytes)",
            ));
        }
        Ok(Self {
            path: path.to_path_buf(),
            len,
            max_chunk_bytes,
            chunks: Vec::new(),
            state: Mutex::new(FileState {
                file,
                cache: Vec::new(),
                scratch: Vec::new(),
            }),
        })
    }

    /// The file.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    fn malformed(&self, offset: u64, message: impl std::fmt::Display) -> DatasetError {
        DatasetError::malformed_file(&self.path, format!("byte {offset}: {message}"))
    }

    /// Reads every record once, in file order, handing schemas, channels and
    /// messages to `on_event`; remembers the chunks for [`Self::with_message`].
    pub(crate) fn pass(
        &mut self,
        mut on_event: impl FnMut(Event<'_>) -> Result<()>,
    ) -> Result<PassEnd> {
        let state = self.state.get_mut().unwrap_or_else(PoisonError::into_inner);
        let mut chunks = Vec::new();
        let mut body = Vec::new();
        let mut records = Vec::new();
        let mut pos = mcap::MAGIC.len() as u64;
        let path = self.path.clone();
        let io = |e| DatasetError::io(&path, e);
        let malformed = |offset: u64, message: String| {
            DatasetError::malformed_file(&path, format!("byte {offset}: {message}"))
        };
        let end = loop {
            if pos == self.len {
                // No footer: a recording cut between two records.
                break PassEnd {
                    truncated_at: Some(pos),
                };
            }
            let mut head = [0; RECORD_HEADER as usize];
            state.file.seek(SeekFrom::Start(pos)).map_err(io)?;
            let got = read_up_to(&mut state.file, &mut head).map_err(io)?;
            let body_len = u64::from_le_bytes([
                head[1], head[2], head[3], head[4], head[5], head[6], head[7], head[8],
            ]);
            let body_start = pos + RECORD_HEADER;
            if got < head.len() || body_len > self.len - body_start {
                break PassEnd {
                    truncated_at: Some(pos),
                };
            }
            let opcode = head[0];
            match opcode {
                op::FOOTER | op::DATA_END => break PassEnd { truncated_at: None },
                op::SCHEMA | op::CHANNEL | op::MESSAGE | op::CHUNK => {}
                _ => {
                    pos = body_start + body_len;
                    continue;
                }
            }
            if body_len > self.max_chunk_bytes {
                return Err(malformed(
                    pos,
                    format!(
                        "a record of {body_len} bytes is over the limit of {} bytes",
                        self.max_chunk_bytes
                    ),
                ));
            }
            body.clear();
            (&mut state.file)
                .take(body_len)
                .read_to_end(&mut body)
                .map_err(io)?;
            if opcode == op::CHUNK {
                let info = parse_chunk(&body, pos, body_start, self.max_chunk_bytes)
                    .map_err(|m| malformed(pos, m))?;
                let index = u32::try_from(chunks.len())
                    .map_err(|_| malformed(pos, "more than 2^32 chunks".into()))?;
                let data_start = usize::try_from(info.data_offset - body_start).unwrap_or(0);
                decompress(&info, &body[data_start..], &mut records)
                    .map_err(|m| malformed(pos, format!("chunk: {m}")))?;
                chunks.push(info);
                walk_records(&records, |offset, opcode, record| {
                    event(opcode, record, Some(index), offset, &mut on_event)
                        .map_err(|m| m.into_error(&path, pos, Some(offset)))
                })
                .map_err(|e| e.into_error(&path, pos, None))?;
            } else {
                event(opcode, &body, None, body_start, &mut on_event)
                    .map_err(|m| m.into_error(&path, pos, None))?;
            }
            pos = body_start + body_len;
        };
        self.chunks = chunks;
        Ok(end)
    }

    /// Calls `f` on the data of the message at `at` (read again from the
    /// file; its chunk decompressed, or taken from the cache).
    pub(crate) fn with_message<R>(&self, at: MessageAt, f: impl FnOnce(&[u8]) -> R) -> Result<R> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let state = &mut *state;
        let Some(chunk) = at.chunk else {
            if at.len > self.max_chunk_bytes || at.offset.saturating_add(at.len) > self.len {
                return Err(self.malformed(at.offset, "message outside the file"));
            }
            state.scratch.clear();
            state
                .file
                .seek(SeekFrom::Start(at.offset))
                .and_then(|_| {
                    (&mut state.file)
                        .take(at.len)
                        .read_to_end(&mut state.scratch)
                })
                .map_err(|e| DatasetError::io(&self.path, e))?;
            if state.scratch.len() as u64 != at.len {
                return Err(self.malformed(at.offset, "the file ends inside the message"));
            }
            return Ok(f(&state.scratch));
        };
        let info = *self
            .chunks
            .get(chunk as usize)
            .ok_or_else(|| self.malformed(0, format!("no chunk {chunk}")))?;
        let cached = match state.cache.iter().position(|(c, _)| *c == chunk) {
            Some(k) => {
                let entry = state.cache.remove(k);
                state.cache.push(entry);
                state.cache.len() - 1
            }
            None => {
                let mut records = if state.cache.len() >= CACHED_CHUNKS {
                    state.cache.remove(0).1
                } else {
                    Vec::new()
                };
                state.scratch.clear();
                state
                    .file
                    .seek(SeekFrom::Start(info.data_offset))
                    .and_then(|_| {
                        (&mut state.file)
                            .take(info.compressed_len)
                            .read_to_end(&mut state.scratch)
                    })
                    .map_err(|e| DatasetError::io(&self.path, e))?;
                if state.scratch.len() as u64 != info.compressed_len {
                    return Err(
                        self.malformed(info.record_offset, "the file ends inside the chunk")
                    );
                }
                decompress(&info, &state.scratch, &mut records)
                    .map_err(|m| self.malformed(info.record_offset, format!("chunk: {m}")))?;
                state.cache.push((chunk, records));
                state.cache.len() - 1
            }
        };
        let records = &state.cache[cached].1;
        let data = usize::try_from(at.offset)
            .ok()
            .zip(usize::try_from(at.len).ok())
            .and_then(|(o, l)| records.get(o..o.checked_add(l)?))
            .ok_or_else(|| {
                self.malformed(info.record_offset, "message outside its decompressed chunk")
            })?;
        Ok(f(data))
    }
}

/// Reads until `buf` is full or the file ends; returns the bytes read.
fn read_up_to(file: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match file.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// The chunk record's header: where its records are and how they are packed.
fn parse_chunk(
    body: &[u8],
    record_offset: u64,
    body_start: u64,
    max: u64,
) -> std::result::Result<ChunkInfo, String> {
    let Record::Chunk { header, data } =
        mcap::parse_record(op::CHUNK, body).map_err(|e| format!("chunk record: {e}"))?
    else {
        return Err("chunk record expected".into());
    };
    let compression = match header.compression.as_str() {
        "" => Compression::None,
        "zstd" => Compression::Zstd,
        "lz4" => Compression::Lz4,
        other => {
            return Err(format!(
                "chunk compression `{other}` is not supported (none, zstd, lz4 are)"
            ));
        }
    };
    if header.uncompressed_size > max {
        return Err(format!(
            "a chunk of {} bytes decompressed is over the limit of {max} bytes",
            header.uncompressed_size
        ));
    }
    // Start and end times, uncompressed size (u64 each), CRC (u32), the
    // compression name (u32 length and bytes), the records' length (u64).
    let data_in_body = 40 + header.compression.len() as u64;
    Ok(ChunkInfo {
        record_offset,
        data_offset: body_start + data_in_body,
        compressed_len: data.len() as u64,
        uncompressed_len: header.uncompressed_size,
        crc: header.uncompressed_crc,
        compression,
    })
}

/// Decompresses a chunk's records into `out` (cleared first), checking their
/// length and CRC.
fn decompress(
    info: &ChunkInfo,
    compressed: &[u8],
    out: &mut Vec<u8>,
) -> std::result::Result<(), String> {
    out.clear();
    let expected = usize::try_from(info.uncompressed_len).map_err(|e| e.to_string())?;
    match info.compression {
        Compression::None => out.extend_from_slice(compressed),
        Compression::Zstd => {
            out.reserve_exact(expected);
            let mut decoder = zstd::bulk::Decompressor::new().map_err(|e| e.to_string())?;
            decoder
                .decompress_to_buffer(compressed, out)
                .map_err(|e| format!("zstd: {e}"))?;
        }
        Compression::Lz4 => {
            let decoder = lz4::Decoder::new(compressed).map_err(|e| format!("lz4: {e}"))?;
            decoder
                .take(info.uncompressed_len.saturating_add(1))
                .read_to_end(out)
                .map_err(|e| format!("lz4: {e}"))?;
        }
    }
    if out.len() != expected {
        return Err(format!(
            "decompresses to {} bytes, its header says {expected}",
            out.len()
        ));
    }
    if info.crc != 0 {
        let crc = crc32fast::hash(out);
        if crc != info.crc {
            return Err(format!(
                "CRC {crc:08x} of the decompressed records, its header says {:08x} (corrupt)",
                info.crc
            ));
        }
    }
    Ok(())
}

/// A problem with one record, placed in the file by the caller.
pub(crate) enum RecordProblem {
    /// The record is malformed.
    Malformed(String),
    /// The caller's handler refused it.
    Handler(DatasetError),
}

impl RecordProblem {
    fn into_error(self, path: &Path, pos: u64, in_chunk: Option<u64>) -> DatasetError {
        match self {
            Self::Handler(e) => e,
            Self::Malformed(m) => {
                let at = match in_chunk {
                    Some(o) => format!("byte {pos}: in the chunk at byte {o}: {m}"),
                    None => format!("byte {pos}: {m}"),
                };
                DatasetError::malformed_file(path, at)
            }
        }
    }
}

/// Calls `f(offset, opcode, body)` on each record packed in `records`.
fn walk_records(
    records: &[u8],
    mut f: impl FnMut(u64, u8, &[u8]) -> std::result::Result<(), DatasetError>,
) -> std::result::Result<(), RecordProblem> {
    let mut pos = 0usize;
    while pos < records.len() {
        let head = records
            .get(pos..pos + RECORD_HEADER as usize)
            .ok_or_else(|| RecordProblem::Malformed(format!("record header at {pos} cut off")))?;
        let len = u64::from_le_bytes([
            head[1], head[2], head[3], head[4], head[5], head[6], head[7], head[8],
        ]);
        let start = pos + RECORD_HEADER as usize;
        let end = usize::try_from(len)
            .ok()
            .and_then(|l| start.checked_add(l))
            .filter(|&e| e <= records.len())
            .ok_or_else(|| {
                RecordProblem::Malformed(format!(
                    "record at {pos} claims {len} bytes, {} left",
                    records.len() - start
                ))
            })?;
        f(start as u64, head[0], &records[start..end]).map_err(RecordProblem::Handler)?;
        pos = end;
    }
    Ok(())
}

/// Parses a schema, channel or message record and hands it on.
fn event(
    opcode: u8,
    body: &[u8],
    chunk: Option<u32>,
    body_offset: u64,
    on_event: &mut impl FnMut(Event<'_>) -> Result<()>,
) -> std::result::Result<(), RecordProblem> {
    if !matches!(opcode, op::SCHEMA | op::CHANNEL | op::MESSAGE) {
        return Ok(());
    }
    let record = mcap::parse_record(opcode, body)
        .map_err(|e| RecordProblem::Malformed(format!("record (opcode {opcode:#04x}): {e}")))?;
    let handled = match &record {
        Record::Schema { header, .. } => on_event(Event::Schema {
            id: header.id,
            name: &header.name,
        }),
        Record::Channel(c) => on_event(Event::Channel {
            id: c.id,
            schema_id: c.schema_id,
            topic: &c.topic,
            message_encoding: &c.message_encoding,
        }),
        Record::Message { header, data } => {
            let data_in_body = (body.len() - data.len()) as u64;
            on_event(Event::Message {
                channel_id: header.channel_id,
                log_time: header.log_time,
                at: MessageAt {
                    chunk,
                    offset: body_offset + data_in_body,
                    len: data.len() as u64,
                },
                data,
            })
        }
        _ => Ok(()),
    };
    handled.map_err(RecordProblem::Handler)
}
