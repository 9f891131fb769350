//! PNG reading and writing for 8-bit grayscale camera images.
//!
//! Reading decodes into a caller-owned [`GrayImage`] so that a replay loop reuses
//! its buffers. 16-bit grayscale (TUM-VI's `_16` exports) is reduced to its high
//! byte; colour, palette and sub-byte depths are rejected, as is any size other
//! than the calibrated resolution.

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::Path;

use crate::image::GrayImage;

/// Why an image could not be used; the caller adds the file and csv line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageProblem {
    /// The file could not be opened or read.
    Io(String),
    /// The PNG stream is invalid or truncated.
    Decode(String),
    /// Not grayscale at 8 (or, when allowed, 16) bits.
    Format(String),
    /// Width or height differ from the calibration.
    Size {
        /// What the file holds.
        found: (usize, usize),
        /// What the calibration says.
        expected: (usize, usize),
    },
}

impl std::fmt::Display for ImageProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Io(m) => write!(f, "cannot read: {m}"),
            Self::Decode(m) => write!(f, "not a valid PNG: {m}"),
            Self::Format(m) => write!(f, "{m}"),
            Self::Size { found, expected } => write!(
                f,
                "is {}x{} pixels, the calibration says {}x{}",
                found.0, found.1, expected.0, expected.1
            ),
        }
    }
}

/// Decodes a grayscale PNG into `out`, which is resized to the image (reusing its
/// allocation). `scratch` holds 16-bit rows when needed and is reused too.
pub fn read_gray_png_into(
    path: &Path,
    expected: (usize, usize),
    allow_16_bit: bool,
    out: &mut GrayImage,
    scratch: &mut Vec<u8>,
) -> Result<(), ImageProblem> {
    let file = File::open(path).map_err(|e| ImageProblem::Io(e.to_string()))?;
    let mut reader = png::Decoder::new(BufReader::new(file))
        .read_info()
        .map_err(|e| ImageProblem::Decode(e.to_string()))?;
    let (width, height) = {
        let (w, h) = reader.info().size();
        (w as usize, h as usize)
    };
    if (width, height) != expected {
        return Err(ImageProblem::Size {
            found: (width, height),
            expected,
        });
    }
    let (color, depth) = reader.output_color_type();
    let sixteen = match (color, depth) {
        (png::ColorType::Grayscale, png::BitDepth::Eight) => false,
        (png::ColorType::Grayscale, png::BitDepth::Sixteen) if allow_16_bit => true,
        (png::ColorType::Grayscale, png::BitDepth::Sixteen) => {
            return Err(ImageProblem::Format(
                "is 16-bit grayscale; this layout stores 8-bit images".into(),
            ));
        }
        (c, d) => {
            return Err(ImageProblem::Format(format!(
                "is {c:?} at {} bits; 8-bit grayscale is required",
                d as u8
            )));
        }
    };
    let mut data = std::mem::take(out).into_vec();
    let result = if sixteen {
        scratch.resize(width * height * 2, 0);
        reader.next_frame(scratch).map(|_| {
            data.clear();
            // Big-endian samples: keep the high byte.
            data.extend(scratch.chunks_exact(2).map(|px| px[0]));
        })
    } else {
        data.resize(width * height, 0);
        reader.next_frame(&mut data).map(|_| ())
    };
    result.map_err(|e| ImageProblem::Decode(e.to_string()))?;
    *out = GrayImage::from_vec(width, height, data)
        .ok_or_else(|| ImageProblem::Decode("decoded size mismatch".into()))?;
    Ok(())
}

/// Writes an 8-bit grayscale PNG with fast compression.
pub fn write_gray_png(path: &Path, image: &GrayImage) -> std::io::Result<()> {
    let file = BufWriter::new(File::create(path)?);
    let mut encoder = png::Encoder::new(file, image.width() as u32, image.height() as u32);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(png::Compression::Fast);
    let mut writer = encoder.write_header().map_err(std::io::Error::other)?;
    writer
        .write_image_data(image.data())
        .map_err(std::io::Error::other)?;
    writer.finish().map_err(std::io::Error::other)
}
