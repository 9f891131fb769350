//! Camera buffers to grey images and stereo pairs.
//!
//! A V4L2 capture buffer holds one frame in the pixel format and size the
//! driver agreed to, each line `stride` bytes apart (`bytesperline`, at least
//! the packed width; MJPEG is compressed and has none). [`FrameDecoder`]
//! turns it into 8-bit grey:
//!
//! - `GREY` (Y8): the bytes are the pixels.
//! - `YUYV` (YUV 4:2:2, `Y0 U Y1 V`): the luma is every even byte; the
//!   chroma is dropped.
//! - `MJPG`: each buffer a JPEG (a UVC camera's often without Huffman
//!   tables, which the decoder, `zune-jpeg`, fills in), decoded to luma
//!   only.
//!
//! and, for the ways stereo USB cameras present themselves
//! ([`StereoLayout`]), into a stereo pair:
//!
//! - **Two devices**, one eye each, paired by time stamp
//!   ([`crate::pairing`]): each buffer is one grey image.
//! - **Side by side**: one frame twice an eye's width (ELP-style dual-lens
//!   UVC cameras); which half is the left eye varies between cameras and
//!   even formats, so it is configured, not assumed.
//! - **Interleaved**: one frame of 16-bit pixels negotiated as `YUYV`,
//!   carrying one eye in the even bytes and the other in the odd ones. The
//!   oCamS-1CGN-U puts the *right* eye in the even ("Y") bytes and the left
//!   in the odd ones (its vendor's driver code); its sensors are colour, and
//!   each eye arrives as a raw Bayer mosaic, so [`StereoLayout::Interleaved`]
//!   can turn a mosaic into grey; and it writes its own millisecond counter
//!   over the frame's first four bytes (two pixels of each eye in the top
//!   row, inside every detector's border).
//!
//! Bayer to grey: every 2x2 window of a Bayer mosaic, wherever it starts,
//! covers one red, two green and one blue photosite, so the mean of the
//! window at each pixel is a luma of `(R + 2G + B) / 4` at full resolution,
//! for any of the four patterns, shifted half a pixel down and right (which
//! a calibration made on the same images absorbs). The last row and column
//! repeat their neighbours'.
//!
//! Every size is checked against the buffer before a byte is read; a buffer
//! too short, a JPEG of another size, or a size past [`MAX_SIDE`] is an error
//! that says which.

use datasets::GrayImage;
use zune_jpeg::JpegDecoder;
use zune_jpeg::zune_core::bytestream::ZCursor;
use zune_jpeg::zune_core::colorspace::ColorSpace;
use zune_jpeg::zune_core::options::DecoderOptions;

use crate::{Result, SensorError};

/// The largest width or height a decoder accepts, pixels.
pub const MAX_SIDE: usize = 8192;

/// A capture pixel format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PixelFormat {
    /// `GREY` (Y8): 8-bit luma.
    Grey,
    /// `YUYV`: YUV 4:2:2, two bytes a pixel, luma in the even bytes.
    Yuyv,
    /// `MJPG`: one JPEG a buffer.
    Mjpeg,
}

impl PixelFormat {
    /// Its V4L2 four-character code.
    #[must_use]
    pub fn fourcc(self) -> [u8; 4] {
        match self {
            Self::Grey => *b"GREY",
            Self::Yuyv => *b"YUYV",
            Self::Mjpeg => *b"MJPG",
        }
    }

    /// The format of a four-character code (`Y8  ` is `GREY`'s other name).
    ///
    /// # Errors
    /// For any other code, naming it and the ones supported.
    pub fn from_fourcc(code: [u8; 4]) -> Result<Self> {
        match &code {
            b"GREY" | b"Y8  " => Ok(Self::Grey),
            b"YUYV" => Ok(Self::Yuyv),
            b"MJPG" => Ok(Self::Mjpeg),
            _ => Err(SensorError::Config(format!(
                "pixel format {:?} is not supported: GREY (Y8), YUYV or MJPG",
                String::from_utf8_lossy(&code)
            ))),
        }
    }

    /// Bytes a pixel takes on a line (1 for MJPEG's decoded luma).
    #[must_use]
    pub fn bytes_per_pixel(self) -> usize {
        match self {
            Self::Grey | Self::Mjpeg => 1,
            Self::Yuyv => 2,
        }
    }
}

/// How a stereo camera presents its two eyes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StereoLayout {
    /// Two devices, one eye each ([`crate::pairing`] pairs their frames).
    TwoDevices,
    /// One frame twice an eye's width.
    SideBySide {
        /// The left eye is the frame's right half.
        left_on_right: bool,
    },
    /// One frame of 16-bit pixels (negotiated as `YUYV`), an eye in each byte.
    Interleaved {
        /// The left eye is in the odd bytes (the oCamS-1CGN-U's layout).
        left_in_odd: bool,
        /// Each eye is a raw Bayer mosaic, turned into grey (see the module
        /// docs).
        bayer: bool,
    },
}

/// What the driver agreed to, and the scratch space to decode it.
#[derive(Debug)]
pub struct FrameDecoder {
    format: PixelFormat,
    width: usize,
    height: usize,
    stride: usize,
    /// A decoded JPEG, or a grey frame to split.
    scratch: Vec<u8>,
}

impl FrameDecoder {
    /// A decoder for frames of `width` x `height` pixels in `format`, lines
    /// `stride` bytes apart (0: packed; ignored for MJPEG).
    ///
    /// # Errors
    /// If a side is 0 or over [`MAX_SIDE`], or the stride is under a line.
    pub fn new(format: PixelFormat, width: usize, height: usize, stride: usize) -> Result<Self> {
        if !(1..=MAX_SIDE).contains(&width) || !(1..=MAX_SIDE).contains(&height) {
            return Err(SensorError::Config(format!(
                "frame size {width}x{height} must be 1 to {MAX_SIDE} pixels a side"
            )));
        }
        let line = width * format.bytes_per_pixel();
        let stride = if stride == 0 || format == PixelFormat::Mjpeg {
            line
        } else {
            stride
        };
        if stride < line {
            return Err(SensorError::Config(format!(
                "a {width}-pixel {:?} line takes {line} bytes, the stride is {stride}",
                format
            )));
        }
        Ok(Self {
            format,
            width,
            height,
            stride,
            scratch: Vec::new(),
        })
    }

    /// The frame's width and height, pixels.
    #[must_use]
    pub fn size(&self) -> (usize, usize) {
        (self.width, self.height)
    }

    /// One eye's image from a buffer (the two-device layout).
    ///
    /// # Errors
    /// If the buffer is shorter than its lines, or a JPEG does not decode to
    /// the negotiated size.
    pub fn grey_into(&mut self, raw: &[u8], out: &mut GrayImage) -> Result<()> {
        let (w, h) = (self.width, self.height);
        let mut data = std::mem::take(out).into_vec();
        data.resize(w * h, 0);
        let result = match self.format {
            PixelFormat::Grey => self
                .lines(raw)
                .map(|lines| copy_lines(lines, &mut data, w, 0, 1)),
            PixelFormat::Yuyv => self
                .lines(raw)
                .map(|lines| copy_lines(lines, &mut data, w, 0, 2)),
            PixelFormat::Mjpeg => decode_jpeg(raw, w, h, &mut data),
        };
        *out = GrayImage::from_vec(w, h, data)
            .ok_or_else(|| SensorError::Frame("decoded size mismatch".into()))?;
        result
    }

    /// The pair from one buffer of a one-device stereo layout.
    ///
    /// # Errors
    /// As [`FrameDecoder::grey_into`]; if the layout is
    /// [`StereoLayout::TwoDevices`]; for a side-by-side frame of odd width;
    /// for an interleaved frame not negotiated as `YUYV`.
    pub fn stereo_into(
        &mut self,
        layout: StereoLayout,
        raw: &[u8],
        left: &mut GrayImage,
        right: &mut GrayImage,
    ) -> Result<()> {
        let (w, h) = (self.width, self.height);
        match layout {
            StereoLayout::TwoDevices => Err(SensorError::Config(
                "a two-device camera gives one eye a buffer: use grey_into for each".into(),
            )),
            StereoLayout::SideBySide { left_on_right } => {
                if w % 2 != 0 {
                    return Err(SensorError::Frame(format!(
                        "a side-by-side frame {w} pixels wide does not split into two eyes"
                    )));
                }
                let mut full = GrayImage::from_vec(w, h, std::mem::take(&mut self.scratch))
                    .unwrap_or_else(|| GrayImage::new(0, 0));
                let decoded = self.grey_into(raw, &mut full);
                self.scratch = full.into_vec();
                decoded?;
                let half = w / 2;
                let (l0, r0) = if left_on_right { (half, 0) } else { (0, half) };
                crop_into(&self.scratch, w, h, l0, half, left);
                crop_into(&self.scratch, w, h, r0, half, right);
                Ok(())
            }
            StereoLayout::Interleaved { left_in_odd, bayer } => {
                if self.format != PixelFormat::Yuyv {
                    return Err(SensorError::Config(format!(
                        "an interleaved stereo frame has two bytes a pixel and is negotiated \
                         as YUYV, not {:?}",
                        self.format
                    )));
                }
                let lines = self.lines(raw)?;
                let (l_byte, r_byte) = if left_in_odd { (1, 0) } else { (0, 1) };
                for (image, byte) in [(&mut *left, l_byte), (&mut *right, r_byte)] {
                    let mut data = std::mem::take(image).into_vec();
                    data.resize(w * h, 0);
                    copy_lines(lines.clone(), &mut data, w, byte, 2);
                    if bayer {
                        bayer_to_grey(&mut data, w, h);
                    }
                    *image = GrayImage::from_vec(w, h, data)
                        .ok_or_else(|| SensorError::Frame("decoded size mismatch".into()))?;
                }
                Ok(())
            }
        }
    }

    /// The buffer's lines, each `width * bytes_per_pixel` bytes, checked.
    fn lines<'a>(&self, raw: &'a [u8]) -> Result<impl Iterator<Item = &'a [u8]> + Clone> {
        let line = self.width * self.format.bytes_per_pixel();
        let need = self.stride * (self.height - 1) + line;
        if raw.len() < need {
            return Err(SensorError::Frame(format!(
                "a {}x{} {:?} buffer with lines {} bytes apart needs {need} bytes, it has {}",
                self.width,
                self.height,
                self.format,
                self.stride,
                raw.len()
            )));
        }
        let stride = self.stride;
        Ok((0..self.height).map(move |y| &raw[y * stride..y * stride + line]))
    }
}

/// Copies every `step`-th byte from `first` of each line into `out` (`w`
/// pixels a line).
fn copy_lines<'a>(
    lines: impl Iterator<Item = &'a [u8]>,
    out: &mut [u8],
    w: usize,
    first: usize,
    step: usize,
) {
    for (line, dst) in lines.zip(out.chunks_exact_mut(w)) {
        if step == 1 {
            dst.copy_from_slice(&line[..w]);
        } else {
            for (d, s) in dst.iter_mut().zip(line[first..].iter().step_by(step)) {
                *d = *s;
            }
        }
    }
}

/// Columns `x0..x0 + cols` of a `w` x `h` grey frame into `out`.
fn crop_into(frame: &[u8], w: usize, h: usize, x0: usize, cols: usize, out: &mut GrayImage) {
    let mut data = std::mem::take(out).into_vec();
    data.clear();
    for y in 0..h {
        data.extend_from_slice(&frame[y * w + x0..y * w + x0 + cols]);
    }
    *out = GrayImage::from_vec(cols, h, data).unwrap_or_else(|| GrayImage::new(0, 0));
}

/// A Bayer mosaic to grey in place: each pixel the mean of the 2x2 window
/// it is the top-left corner of (the last row and column repeat).
fn bayer_to_grey(data: &mut [u8], w: usize, h: usize) {
    if w < 2 || h < 2 {
        return;
    }
    for y in 0..h - 1 {
        for x in 0..w - 1 {
            let i = y * w + x;
            let sum = u16::from(data[i])
                + u16::from(data[i + 1])
                + u16::from(data[i + w])
                + u16::from(data[i + w + 1]);
            data[i] = ((sum + 2) / 4) as u8;
        }
        data[y * w + w - 1] = data[y * w + w - 2];
    }
    let (top, last) = data.split_at_mut((h - 1) * w);
    last.copy_from_slice(&top[(h - 2) * w..]);
}

/// Decodes a JPEG's luma into `out` (`w * h` bytes).
fn decode_jpeg(raw: &[u8], w: usize, h: usize, out: &mut [u8]) -> Result<()> {
    let options = DecoderOptions::default()
        .jpeg_set_out_colorspace(ColorSpace::Luma)
        .set_max_width(w)
        .set_max_height(h);
    let mut decoder = JpegDecoder::new_with_options(ZCursor::new(raw), options);
    decoder
        .decode_headers()
        .map_err(|e| SensorError::Frame(format!("MJPEG frame: {e}")))?;
    let (jw, jh) = decoder.dimensions().unwrap_or((0, 0));
    if (jw, jh) != (w, h) {
        return Err(SensorError::Frame(format!(
            "MJPEG frame is {jw}x{jh}, the camera was set to {w}x{h}"
        )));
    }
    decoder
        .decode_into(out)
        .map_err(|e| SensorError::Frame(format!("MJPEG frame: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `w` x `h` test pattern: each pixel a different function of x and y
    /// for each `salt`.
    fn pattern(w: usize, h: usize, salt: u8) -> Vec<u8> {
        (0..h)
            .flat_map(|y| {
                (0..w).map(move |x| (x as u8).wrapping_mul(3) ^ (y as u8).wrapping_mul(7) ^ salt)
            })
            .collect()
    }

    fn ok<T>(r: Result<T>) -> T {
        r.unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn grey_with_a_padded_stride_drops_the_padding() {
        let (w, h, stride) = (10, 4, 16);
        let img = pattern(w, h, 1);
        let mut raw = vec![0xEEu8; stride * h];
        for y in 0..h {
            raw[y * stride..y * stride + w].copy_from_slice(&img[y * w..(y + 1) * w]);
        }
        let mut dec = ok(FrameDecoder::new(PixelFormat::Grey, w, h, stride));
        let mut out = GrayImage::new(0, 0);
        ok(dec.grey_into(&raw, &mut out));
        assert_eq!(out.data(), &img[..]);
        // The last line need not be padded; one byte less is refused.
        ok(dec.grey_into(&raw[..stride * (h - 1) + w], &mut out));
        assert!(
            dec.grey_into(&raw[..stride * (h - 1) + w - 1], &mut out)
                .is_err()
        );
    }

    #[test]
    fn yuyv_luma_is_the_even_bytes() {
        let (w, h) = (8, 3);
        let y = pattern(w, h, 2);
        let raw: Vec<u8> = y.iter().flat_map(|&v| [v, 128]).collect();
        let mut dec = ok(FrameDecoder::new(PixelFormat::Yuyv, w, h, 0));
        let mut out = GrayImage::new(0, 0);
        ok(dec.grey_into(&raw, &mut out));
        assert_eq!(out.data(), &y[..]);
    }

    #[test]
    fn side_by_side_splits_at_the_middle_either_way() {
        let (eye, h) = (6, 4);
        let (l, r) = (pattern(eye, h, 3), pattern(eye, h, 200));
        let mut raw = Vec::new();
        for y in 0..h {
            raw.extend_from_slice(&l[y * eye..(y + 1) * eye]);
            raw.extend_from_slice(&r[y * eye..(y + 1) * eye]);
        }
        let mut dec = ok(FrameDecoder::new(PixelFormat::Grey, 2 * eye, h, 0));
        let (mut left, mut right) = (GrayImage::new(0, 0), GrayImage::new(0, 0));
        let layout = StereoLayout::SideBySide {
            left_on_right: false,
        };
        ok(dec.stereo_into(layout, &raw, &mut left, &mut right));
        assert_eq!((left.width(), left.height()), (eye, h));
        assert_eq!((left.data(), right.data()), (&l[..], &r[..]));
        let swapped = StereoLayout::SideBySide {
            left_on_right: true,
        };
        ok(dec.stereo_into(swapped, &raw, &mut left, &mut right));
        assert_eq!((left.data(), right.data()), (&r[..], &l[..]));
        // An odd width does not split; the two-device layout has no pair.
        let mut odd = ok(FrameDecoder::new(PixelFormat::Grey, 7, h, 0));
        assert!(
            odd.stereo_into(layout, &raw, &mut left, &mut right)
                .is_err()
        );
        assert!(
            dec.stereo_into(StereoLayout::TwoDevices, &raw, &mut left, &mut right)
                .is_err()
        );
    }

    #[test]
    fn interleaved_eyes_come_from_their_bytes() {
        let (w, h) = (5, 3);
        let (l, r) = (pattern(w, h, 9), pattern(w, h, 77));
        // oCamS: right in the even bytes, left in the odd ones.
        let raw: Vec<u8> = r.iter().zip(&l).flat_map(|(&a, &b)| [a, b]).collect();
        let mut dec = ok(FrameDecoder::new(PixelFormat::Yuyv, w, h, 0));
        let (mut left, mut right) = (GrayImage::new(0, 0), GrayImage::new(0, 0));
        let layout = StereoLayout::Interleaved {
            left_in_odd: true,
            bayer: false,
        };
        ok(dec.stereo_into(layout, &raw, &mut left, &mut right));
        assert_eq!((left.data(), right.data()), (&l[..], &r[..]));
        // Only as YUYV.
        let mut grey = ok(FrameDecoder::new(PixelFormat::Grey, 2 * w, h, 0));
        assert!(
            grey.stereo_into(layout, &raw, &mut left, &mut right)
                .is_err()
        );
    }

    #[test]
    fn a_bayer_mosaic_of_a_flat_colour_is_a_flat_grey() {
        // A GRBG mosaic of a surface with R = 40, G = 100, B = 160: every
        // pixel of the grey is (40 + 200 + 160) / 4 = 100, whatever the
        // pattern's phase.
        let (w, h) = (8, 6);
        let mut mosaic = vec![0u8; w * h];
        for y in 0..h {
            for x in 0..w {
                mosaic[y * w + x] = match (y % 2, x % 2) {
                    (0, 0) | (1, 1) => 100,
                    (0, 1) => 40,
                    _ => 160,
                };
            }
        }
        let raw: Vec<u8> = mosaic.iter().flat_map(|&v| [0, v]).collect();
        let mut dec = ok(FrameDecoder::new(PixelFormat::Yuyv, w, h, 0));
        let (mut left, mut right) = (GrayImage::new(0, 0), GrayImage::new(0, 0));
        let layout = StereoLayout::Interleaved {
            left_in_odd: true,
            bayer: true,
        };
        ok(dec.stereo_into(layout, &raw, &mut left, &mut right));
        assert!(left.data().iter().all(|&v| v == 100), "{:?}", left.data());
    }

    #[test]
    fn mjpeg_decodes_to_its_luma_and_another_size_is_refused() {
        let (w, h) = (32u16, 16u16);
        // Smooth, so the JPEG is near the original.
        let grey: Vec<u8> = (0..h)
            .flat_map(|y| (0..w).map(move |x| (x * 4 + y * 2) as u8))
            .collect();
        let mut jpeg = Vec::new();
        let encoder = jpeg_encoder::Encoder::new(&mut jpeg, 95);
        encoder
            .encode(&grey, w, h, jpeg_encoder::ColorType::Luma)
            .unwrap_or_else(|e| panic!("{e}"));
        let mut dec = ok(FrameDecoder::new(PixelFormat::Mjpeg, 32, 16, 0));
        let mut out = GrayImage::new(0, 0);
        ok(dec.grey_into(&jpeg, &mut out));
        let worst = out
            .data()
            .iter()
            .zip(&grey)
            .map(|(&a, &b)| a.abs_diff(b))
            .max()
            .unwrap_or(255);
        assert!(worst <= 4, "{worst}");
        let mut other = ok(FrameDecoder::new(PixelFormat::Mjpeg, 64, 16, 0));
        assert!(other.grey_into(&jpeg, &mut out).is_err());
        assert!(dec.grey_into(&jpeg[..jpeg.len() / 2], &mut out).is_err());
        assert!(dec.grey_into(b"not a jpeg", &mut out).is_err());
    }

    #[test]
    fn sizes_and_formats_out_of_range_are_refused() {
        assert!(FrameDecoder::new(PixelFormat::Grey, 0, 4, 0).is_err());
        assert!(FrameDecoder::new(PixelFormat::Grey, MAX_SIDE + 1, 4, 0).is_err());
        assert!(FrameDecoder::new(PixelFormat::Yuyv, 8, 4, 15).is_err());
        assert_eq!(
            PixelFormat::from_fourcc(*b"Y8  ").ok(),
            Some(PixelFormat::Grey)
        );
        for f in [PixelFormat::Grey, PixelFormat::Yuyv, PixelFormat::Mjpeg] {
            assert_eq!(PixelFormat::from_fourcc(f.fourcc()).ok(), Some(f));
        }
        assert!(PixelFormat::from_fourcc(*b"NV12").is_err());
    }
}
