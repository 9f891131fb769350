//! Property-based tests (`arbtest`, through `testkit::fuzz`): any bytes a
//! camera or an IIO device hands over (a frame in each pixel format and
//! stereo layout, an MJPEG, a channel type, a stream of scans) give images,
//! samples or an error naming what is wrong, never a panic or an allocation
//! beyond the negotiated size.

use datasets::GrayImage;
use sensors::frame::{FrameDecoder, PixelFormat, StereoLayout};
use sensors::iio::{ChannelType, IMU_CHANNELS, ScanDecoder, ScanLayout};

/// A small smooth JPEG (32 x 16).
fn jpeg() -> Vec<u8> {
    let grey: Vec<u8> = (0..16u16)
        .flat_map(|y| (0..32u16).map(move |x| (x * 4 + y * 2) as u8))
        .collect();
    let mut out = Vec::new();
    jpeg_encoder::Encoder::new(&mut out, 90)
        .encode(&grey, 32, 16, jpeg_encoder::ColorType::Luma)
        .unwrap_or_else(|e| panic!("{e}"));
    out
}

#[test]
fn camera_buffers_never_panic() {
    let layouts = [
        StereoLayout::SideBySide {
            left_on_right: false,
        },
        StereoLayout::Interleaved {
            left_in_odd: true,
            bayer: true,
        },
    ];
    let raw: Vec<u8> = (0..32 * 16 * 2).map(|i| (i * 7 % 251) as u8).collect();
    let (mut left, mut right) = (GrayImage::new(0, 0), GrayImage::new(0, 0));
    for format in [PixelFormat::Grey, PixelFormat::Yuyv] {
        let mut dec = FrameDecoder::new(format, 32, 16, 0).unwrap_or_else(|e| panic!("{e}"));
        testkit::fuzz(&format!("{format:?} frame"), &raw, |bytes| {
            if dec.grey_into(bytes, &mut left).is_ok() {
                assert_eq!((left.width(), left.height()), (32, 16));
            }
            for layout in layouts {
                let _ = dec.stereo_into(layout, bytes, &mut left, &mut right);
            }
        });
    }
    let mut dec =
        FrameDecoder::new(PixelFormat::Mjpeg, 32, 16, 0).unwrap_or_else(|e| panic!("{e}"));
    testkit::fuzz("MJPEG frame", &jpeg(), |bytes| {
        if dec.grey_into(bytes, &mut left).is_ok() {
            assert_eq!((left.width(), left.height()), (32, 16));
        }
    });
}

#[test]
fn iio_types_and_scan_streams_never_panic() {
    testkit::fuzz("IIO channel type", b"le:s16/16X2>>0", |bytes| {
        let _ = ChannelType::parse(&String::from_utf8_lossy(bytes));
    });
    let enabled = IMU_CHANNELS
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let t = if *n == "in_timestamp" {
                "le:s64/64>>0"
            } else {
                "be:s12/16>>4"
            };
            let ty = ChannelType::parse(t).unwrap_or_else(|e| panic!("{e}"));
            (n.to_string(), i as u32, ty)
        })
        .collect();
    let layout = ScanLayout::new(enabled).unwrap_or_else(|e| panic!("{e}"));
    let decoder = ScanDecoder::new(layout, [(0.001, 0.0); 3], [(0.0002, -1.0); 3])
        .unwrap_or_else(|e| panic!("{e}"));
    let stream: Vec<u8> = (0..24 * 8).map(|i| (i * 13 % 256) as u8).collect();
    let mut out = Vec::new();
    testkit::fuzz("IIO scans", &stream, |bytes| {
        out.clear();
        let used = decoder.decode(bytes, &mut out);
        assert_eq!(used, out.len() * decoder.scan_bytes());
        assert!(used <= bytes.len());
    });
}
