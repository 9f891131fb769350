//! Static PNG charts: a small RGB raster ([`Canvas`]) and three charts drawn on
//! it, [`StackedBars`], [`Roofline`] and [`LineChart`].
//!
//! Everything is drawn with integer pixel operations and an 8x8 bitmap font
//! (`font8x8`), so the module needs no font files and no graphics library; the
//! result is written as an 8-bit RGB PNG.
//!
//! ```no_run
//! use std::path::Path;
//! use viz::plot::{BarSeries, LineChart, LineSeries, Roofline, RooflinePoint, StackedBars};
//!
//! let mut bars = StackedBars::new("Energy per frame", "uJ");
//! bars.categories = vec!["frontend".into(), "backend".into()];
//! bars.series = vec![
//!     BarSeries::new("compute", vec![12.0, 30.0]),
//!     BarSeries::new("DRAM", vec![40.0, 8.0]),
//! ];
//! viz::plot::stacked_bars_png(&bars, Path::new("energy.png"))?;
//!
//! let mut roof = Roofline::new("Roofline", 2.0e10);
//! roof.roofs = vec![("DRAM 5.5 GB/s".into(), 5.5e9)];
//! roof.points = vec![RooflinePoint::new("frontend", 0.8, 3.0e9)];
//! viz::plot::roofline_png(&roof, Path::new("roofline.png"))?;
//!
//! let mut top_view = LineChart::new("Trajectory", "x (m)", "y (m)");
//! top_view.equal_aspect = true;
//! top_view.mark_start = true;
//! top_view.series = vec![
//!     LineSeries::new("ground truth", vec![(0.0, 0.0), (2.0, 0.0), (2.0, -1.5)]),
//!     LineSeries::new("estimate", vec![(0.0, 0.0), (2.1, 0.1), (2.2, -1.4)]),
//! ];
//! viz::plot::line_chart_png(&top_view, Path::new("trajectory.png"))?;
//! # Ok::<(), viz::plot::PlotError>(())
//! ```

use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use font8x8::UnicodeFonts;

/// An RGB colour, 8 bits per channel.
pub type Rgb = [u8; 3];

/// White, the background of every chart.
pub const WHITE: Rgb = [255, 255, 255];

/// Colours given to series (bars, lines) and roofs, in order, repeating after the last:
/// the Okabe–Ito palette, which stays distinguishable under the common forms of
/// colour blindness.
pub const PALETTE: [Rgb; 8] = [
    [0, 114, 178],   // blue
    [230, 159, 0],   // orange
    [0, 158, 115],   // bluish green
    [213, 94, 0],    // vermillion
    [204, 121, 167], // reddish purple
    [86, 180, 233],  // sky blue
    [240, 228, 66],  // yellow
    [90, 90, 90],    // grey
];

/// Default chart width in pixels.
pub const DEFAULT_WIDTH: u32 = 900;
/// Default chart height in pixels.
pub const DEFAULT_HEIGHT: u32 = 560;
/// Smallest chart width accepted by the chart functions.
pub const MIN_WIDTH: u32 = 320;
/// Smallest chart height accepted by the chart functions.
pub const MIN_HEIGHT: u32 = 200;

/// Width and height in pixels of one character of text at scale 1.
pub const GLYPH_SIZE: u32 = 8;

/// Colour of text.
const TEXT: Rgb = [20, 20, 20];
/// Colour of axis lines and tick marks.
const AXIS: Rgb = [70, 70, 70];
/// Colour of grid lines.
const GRID: Rgb = [228, 228, 228];
/// Colour of secondary text (notes).
const MUTED: Rgb = [110, 110, 110];
/// Colour of the flat compute roof.
const COMPUTE_ROOF: Rgb = [30, 30, 30];
/// Colour of roofline point markers.
const MARKER: Rgb = [200, 0, 60];

/// Scale of chart titles.
const TITLE_SCALE: u32 = 2;
/// Scale of every other chart text.
const LABEL_SCALE: u32 = 1;
/// Padding around chart elements, in pixels.
const PAD: i32 = 12;
/// Length of major tick marks, in pixels.
const TICK_LEN: i32 = 5;

/// What can go wrong when drawing or writing a chart.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// The output file could not be created, written or moved into place.
    #[error("cannot write {}: {source}", path.display())]
    Io {
        /// The file asked for.
        path: PathBuf,
        /// The operating system's reason.
        #[source]
        source: io::Error,
    },
    /// The PNG encoder refused the image.
    #[error("cannot encode PNG {}: {source}", path.display())]
    Encode {
        /// The file asked for.
        path: PathBuf,
        /// The encoder's reason.
        #[source]
        source: png::EncodingError,
    },
    /// The requested image is too small to hold a chart.
    #[error("chart size {width}x{height} is below the minimum {MIN_WIDTH}x{MIN_HEIGHT}")]
    TooSmall {
        /// Requested width in pixels.
        width: u32,
        /// Requested height in pixels.
        height: u32,
    },
    /// A bar series does not have one value per category.
    #[error("series {series:?} has {len} values but there are {categories} categories")]
    SeriesLength {
        /// The series' name.
        series: String,
        /// How many values it has.
        len: usize,
        /// How many categories the chart has.
        categories: usize,
    },
    /// A bar value is NaN, infinite or negative.
    #[error("series {series:?}, category {category:?}: {value} is not a finite value >= 0")]
    InvalidValue {
        /// The series' name.
        series: String,
        /// The category's label.
        category: String,
        /// The offending value.
        value: f64,
    },
    /// A bar's total is too large to represent (overflows `f64`).
    #[error("category {category:?}: the bar's total overflows")]
    TotalOverflow {
        /// The category's label.
        category: String,
    },
    /// The roofline's peak performance is not finite and positive.
    #[error("roofline peak performance must be finite and > 0, got {0}")]
    InvalidPeak(f64),
    /// A roofline bandwidth is not finite and positive.
    #[error("roof {name:?}: bandwidth must be finite and > 0 bytes/s, got {bytes_per_s}")]
    InvalidBandwidth {
        /// The roof's name.
        name: String,
        /// The offending bandwidth.
        bytes_per_s: f64,
    },
}

// ---------------------------------------------------------------------------
// Canvas
// ---------------------------------------------------------------------------

/// An RGB raster, row-major, 3 bytes per pixel, origin at the top left.
///
/// Drawing is clipped to the canvas: coordinates outside it are allowed and
/// simply draw nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Canvas {
    width: u32,
    height: u32,
    pixels: Vec<u8>,
}

/// Distinguishes the temporary files of concurrent [`Canvas::save_png`] calls.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

impl Canvas {
    /// A `width` x `height` canvas filled with `background`.
    pub fn new(width: u32, height: u32, background: Rgb) -> Self {
        let count = width as usize * height as usize;
        Self {
            width,
            height,
            pixels: background.repeat(count),
        }
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// The raw pixels: rows from the top, 3 bytes (R, G, B) per pixel.
    pub fn pixels(&self) -> &[u8] {
        &self.pixels
    }

    /// The colour at (`x`, `y`), or `None` outside the canvas.
    pub fn pixel(&self, x: u32, y: u32) -> Option<Rgb> {
        let i = self.index(i64::from(x), i64::from(y))?;
        let p = self.pixels.get(i..i + 3)?;
        Some([p[0], p[1], p[2]])
    }

    /// Byte offset of a pixel, or `None` outside the canvas.
    fn index(&self, x: i64, y: i64) -> Option<usize> {
        if x < 0 || y < 0 || x >= i64::from(self.width) || y >= i64::from(self.height) {
            return None;
        }
        Some((y as usize * self.width as usize + x as usize) * 3)
    }

    /// Sets one pixel (nothing happens outside the canvas).
    pub fn set_pixel(&mut self, x: i32, y: i32, colour: Rgb) {
        if let Some(i) = self.index(i64::from(x), i64::from(y))
            && let Some(p) = self.pixels.get_mut(i..i + 3)
        {
            p.copy_from_slice(&colour);
        }
    }

    /// Paints the whole canvas.
    pub fn fill(&mut self, colour: Rgb) {
        for p in self.pixels.chunks_exact_mut(3) {
            p.copy_from_slice(&colour);
        }
    }

    /// Fills the rectangle with top-left corner (`x`, `y`), `width` pixels wide and
    /// `height` tall.
    pub fn fill_rect(&mut self, x: i32, y: i32, width: u32, height: u32, colour: Rgb) {
        self.fill_rect_i64(
            i64::from(x),
            i64::from(y),
            i64::from(width),
            i64::from(height),
            colour,
        );
    }

    fn fill_rect_i64(&mut self, x: i64, y: i64, width: i64, height: i64, colour: Rgb) {
        let x0 = x.max(0);
        let y0 = y.max(0);
        let x1 = x.saturating_add(width).min(i64::from(self.width));
        let y1 = y.saturating_add(height).min(i64::from(self.height));
        if x0 >= x1 || y0 >= y1 {
            return;
        }
        let run = (x1 - x0) as usize * 3;
        for row in y0..y1 {
            let Some(start) = self.index(x0, row) else {
                continue;
            };
            if let Some(span) = self.pixels.get_mut(start..start + run) {
                for p in span.chunks_exact_mut(3) {
                    p.copy_from_slice(&colour);
                }
            }
        }
    }

    /// Draws the outline of a rectangle, 1 pixel wide.
    pub fn stroke_rect(&mut self, x: i32, y: i32, width: u32, height: u32, colour: Rgb) {
        if width == 0 || height == 0 {
            return;
        }
        let (x, y, w, h) = (
            i64::from(x),
            i64::from(y),
            i64::from(width),
            i64::from(height),
        );
        self.fill_rect_i64(x, y, w, 1, colour);
        self.fill_rect_i64(x, y + h - 1, w, 1, colour);
        self.fill_rect_i64(x, y, 1, h, colour);
        self.fill_rect_i64(x + w - 1, y, 1, h, colour);
    }

    /// Draws a straight line from (`x0`, `y0`) to (`x1`, `y1`), both ends included
    /// (Bresenham), with a square pen `thickness` pixels wide centred on the line
    /// (0 is taken as 1).
    pub fn line(
        &mut self,
        (x0, y0): (i32, i32),
        (x1, y1): (i32, i32),
        colour: Rgb,
        thickness: u32,
    ) {
        self.stroke(x0, y0, x1, y1, colour, thickness, None);
    }

    /// Like [`Canvas::line`], but only `dash` pixels out of every `dash + gap`
    /// steps along the line are drawn, starting with a dash (`dash` 0 is taken
    /// as 1).
    pub fn dashed_line(
        &mut self,
        (x0, y0): (i32, i32),
        (x1, y1): (i32, i32),
        colour: Rgb,
        thickness: u32,
        dash: u32,
        gap: u32,
    ) {
        self.stroke(x0, y0, x1, y1, colour, thickness, Some((dash.max(1), gap)));
    }

    #[allow(clippy::too_many_arguments)]
    fn stroke(
        &mut self,
        x0: i32,
        y0: i32,
        x1: i32,
        y1: i32,
        colour: Rgb,
        thickness: u32,
        pattern: Option<(u32, u32)>,
    ) {
        let t = i64::from(thickness.max(1));
        // Clip to the canvas (plus the pen) first, so huge coordinates cannot make
        // the walk below long.
        let margin = t as f64 + 1.0;
        let bounds = (
            -margin,
            -margin,
            f64::from(self.width) + margin,
            f64::from(self.height) + margin,
        );
        let (mut x, mut y, x1, y1) = {
            let a = (f64::from(x0), f64::from(y0));
            let b = (f64::from(x1), f64::from(y1));
            let Some((a2, b2)) = clip_segment(a, b, bounds) else {
                return;
            };
            if a2 == a && b2 == b {
                (i64::from(x0), i64::from(y0), i64::from(x1), i64::from(y1))
            } else {
                (
                    a2.0.round() as i64,
                    a2.1.round() as i64,
                    b2.0.round() as i64,
                    b2.1.round() as i64,
                )
            }
        };
        let dx = (x1 - x).abs();
        let dy = -(y1 - y).abs();
        let sx = if x < x1 { 1 } else { -1 };
        let sy = if y < y1 { 1 } else { -1 };
        let mut err = dx + dy;
        let offset = (t - 1) / 2;
        let mut step: u64 = 0;
        loop {
            let on = match pattern {
                None => true,
                Some((dash, gap)) => step % u64::from(dash + gap) < u64::from(dash),
            };
            if on {
                self.fill_rect_i64(x - offset, y - offset, t, t, colour);
            }
            if x == x1 && y == y1 {
                break;
            }
            let e2 = 2 * err;
            if e2 >= dy {
                err += dy;
                x += sx;
            }
            if e2 <= dx {
                err += dx;
                y += sy;
            }
            step += 1;
        }
    }

    /// Fills a disc of radius `radius` centred on (`cx`, `cy`).
    pub fn fill_circle(&mut self, cx: i32, cy: i32, radius: u32, colour: Rgb) {
        let r = i64::from(radius);
        let (cx, cy) = (i64::from(cx), i64::from(cy));
        for dy in -r..=r {
            // Widest dx with dx² + dy² <= r² + r (a rounder disc than r² alone).
            let mut half = 0;
            while (half + 1) * (half + 1) + dy * dy <= r * r + r {
                half += 1;
            }
            self.fill_rect_i64(cx - half, cy + dy, 2 * half + 1, 1, colour);
        }
    }

    /// Writes `text` with its top-left corner at (`x`, `y`), each 8x8 glyph drawn
    /// `scale` times larger (0 is taken as 1). Characters the font lacks are drawn
    /// as `?`.
    pub fn text(&mut self, x: i32, y: i32, text: &str, scale: u32, colour: Rgb) {
        let s = i64::from(scale.max(1));
        for (i, ch) in text.chars().enumerate() {
            let gx = i64::from(x) + i as i64 * 8 * s;
            for (row, bits) in glyph(ch).iter().enumerate() {
                for col in 0..8 {
                    if bits >> col & 1 == 1 {
                        let px = gx + col * s;
                        let py = i64::from(y) + row as i64 * s;
                        self.fill_rect_i64(px, py, s, s, colour);
                    }
                }
            }
        }
    }

    /// Writes `text` rotated 90 degrees counter-clockwise (reading from bottom to
    /// top, as a y-axis label). (`x`, `y`) is the top-left corner of the rotated
    /// text's box, which is `8 * scale` wide and [`text_width`] tall.
    pub fn text_vertical(&mut self, x: i32, y: i32, text: &str, scale: u32, colour: Rgb) {
        let s = i64::from(scale.max(1));
        let total = i64::from(text_width(text, scale));
        for (i, ch) in text.chars().enumerate() {
            for (row, bits) in glyph(ch).iter().enumerate() {
                for col in 0..8 {
                    if bits >> col & 1 == 1 {
                        let along = i as i64 * 8 + col;
                        let px = i64::from(x) + row as i64 * s;
                        let py = i64::from(y) + total - (along + 1) * s;
                        self.fill_rect_i64(px, py, s, s, colour);
                    }
                }
            }
        }
    }

    /// Writes the canvas to `path` as an 8-bit RGB PNG.
    ///
    /// The image goes to a temporary file in the same directory first, which is
    /// then renamed to `path`, so a failed write never leaves a partial file at
    /// `path` (and the temporary file is removed).
    pub fn save_png(&self, path: &Path) -> Result<(), PlotError> {
        let io_error = |source| PlotError::Io {
            path: path.to_path_buf(),
            source,
        };
        let Some(file_name) = path.file_name() else {
            return Err(io_error(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the path names no file",
            )));
        };
        let dir = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        let mut temp_name = OsString::from(".");
        temp_name.push(file_name);
        temp_name.push(format!(
            ".{}-{}.tmp",
            std::process::id(),
            TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let temp = dir.join(temp_name);
        let result = self
            .write_png_file(&temp, path)
            .and_then(|()| fs::rename(&temp, path).map_err(io_error));
        if result.is_err() {
            // Best effort: the file may not even exist.
            let _ = fs::remove_file(&temp);
        }
        result
    }

    /// Encodes the canvas into the file `temp`; errors name `path`.
    fn write_png_file(&self, temp: &Path, path: &Path) -> Result<(), PlotError> {
        let io_error = |source| PlotError::Io {
            path: path.to_path_buf(),
            source,
        };
        let encode_error = |source| PlotError::Encode {
            path: path.to_path_buf(),
            source,
        };
        let mut out = BufWriter::new(File::create(temp).map_err(io_error)?);
        {
            let mut encoder = png::Encoder::new(&mut out, self.width, self.height);
            encoder.set_color(png::ColorType::Rgb);
            encoder.set_depth(png::BitDepth::Eight);
            let mut writer = encoder.write_header().map_err(encode_error)?;
            writer
                .write_image_data(&self.pixels)
                .map_err(encode_error)?;
            writer.finish().map_err(encode_error)?;
        }
        out.flush().map_err(io_error)?;
        let file = out.into_inner().map_err(|e| io_error(e.into_error()))?;
        file.sync_all().map_err(io_error)
    }
}

/// Width in pixels of `text` drawn at `scale` (0 is taken as 1).
pub fn text_width(text: &str, scale: u32) -> u32 {
    let chars = u32::try_from(text.chars().count()).unwrap_or(u32::MAX);
    chars.saturating_mul(GLYPH_SIZE * scale.max(1))
}

/// The 8x8 bitmap of a character: rows from the top, bit 0 the leftmost pixel.
fn glyph(ch: char) -> [u8; 8] {
    font8x8::BASIC_FONTS
        .get(ch)
        .or_else(|| font8x8::LATIN_FONTS.get(ch))
        .or_else(|| font8x8::BASIC_FONTS.get('?'))
        .unwrap_or([0; 8])
}

/// A point in pixel coordinates, for clipping.
type Point = (f64, f64);

/// Clips the segment `a`-`b` to the box (`x_min`, `y_min`, `x_max`, `y_max`)
/// (Liang–Barsky); `None` when nothing of it is inside.
fn clip_segment(
    a: Point,
    b: Point,
    (x_min, y_min, x_max, y_max): (f64, f64, f64, f64),
) -> Option<(Point, Point)> {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let (mut t0, mut t1) = (0.0_f64, 1.0_f64);
    for (p, q) in [
        (-dx, a.0 - x_min),
        (dx, x_max - a.0),
        (-dy, a.1 - y_min),
        (dy, y_max - a.1),
    ] {
        if p == 0.0 {
            if q < 0.0 {
                return None;
            }
        } else {
            let r = q / p;
            if p < 0.0 {
                if r > t1 {
                    return None;
                }
                t0 = t0.max(r);
            } else {
                if r < t0 {
                    return None;
                }
                t1 = t1.min(r);
            }
        }
    }
    Some((
        (a.0 + t0 * dx, a.1 + t0 * dy),
        (a.0 + t1 * dx, a.1 + t1 * dy),
    ))
}

// ---------------------------------------------------------------------------
// Shared chart helpers
// ---------------------------------------------------------------------------

/// `text_width` as an `i32` for layout arithmetic.
fn width_px(text: &str, scale: u32) -> i32 {
    i32::try_from(text_width(text, scale)).unwrap_or(i32::MAX)
}

/// Height in pixels of a line of text at `scale`.
fn line_px(scale: u32) -> i32 {
    (GLYPH_SIZE * scale.max(1)) as i32
}

/// `text`, shortened with a trailing `.` so that it is at most `max_px` wide.
fn fit_text(text: &str, max_px: i32, scale: u32) -> String {
    if width_px(text, scale) <= max_px {
        return text.to_string();
    }
    let fits = (max_px.max(0) / line_px(scale)) as usize;
    if fits == 0 {
        return String::new();
    }
    let mut out: String = text.chars().take(fits - 1).collect();
    out.push('.');
    out
}

/// Refuses images too small to hold a chart.
fn check_size(width: u32, height: u32) -> Result<(), PlotError> {
    if width < MIN_WIDTH || height < MIN_HEIGHT {
        return Err(PlotError::TooSmall { width, height });
    }
    Ok(())
}

/// The plot area of a chart: the rectangle inside the axes. `left` and `bottom`
/// are where the axis lines are drawn; `top` and `right` are the last rows and
/// columns that the data may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PlotArea {
    left: i32,
    top: i32,
    right: i32,
    bottom: i32,
}

impl PlotArea {
    fn width(&self) -> i32 {
        self.right - self.left
    }
    fn height(&self) -> i32 {
        self.bottom - self.top
    }
}

/// Draws the chart title, centred over `centre_x` as far as the image allows.
fn draw_title(canvas: &mut Canvas, title: &str, centre_x: i32) {
    if title.is_empty() {
        return;
    }
    let image_w = canvas.width() as i32;
    let title = fit_text(title, image_w - 2 * PAD, TITLE_SCALE);
    let title_w = width_px(&title, TITLE_SCALE);
    let x = (centre_x - title_w / 2)
        .min(image_w - PAD - title_w)
        .max(PAD);
    canvas.text(x, PAD, &title, TITLE_SCALE, TEXT);
}

/// Height taken by the title, including the padding below it.
fn title_block(title: &str) -> i32 {
    if title.is_empty() {
        PAD
    } else {
        PAD + line_px(TITLE_SCALE) + PAD
    }
}

/// Draws a y-axis label rotated, at `x`, centred on the plot's height.
/// The left and bottom axis lines of `plot`.
fn draw_axes(canvas: &mut Canvas, plot: PlotArea) {
    canvas.line((plot.left, plot.top), (plot.left, plot.bottom), AXIS, 1);
    canvas.line((plot.left, plot.bottom), (plot.right, plot.bottom), AXIS, 1);
}

/// The title above `plot`, the x label under its tick labels and the y label
/// beside it (an empty x label is left out).
fn draw_titles(canvas: &mut Canvas, title: &str, x_label: &str, y_label: &str, plot: PlotArea) {
    draw_title(canvas, title, (plot.left + plot.right) / 2);
    if !x_label.is_empty() {
        let label = fit_text(x_label, plot.width(), LABEL_SCALE);
        let x = (plot.left + plot.right) / 2 - width_px(&label, LABEL_SCALE) / 2;
        let y = plot.bottom + TICK_LEN + 4 + line_px(LABEL_SCALE) + 10;
        canvas.text(x, y, &label, LABEL_SCALE, TEXT);
    }
    draw_y_label(canvas, y_label, PAD, plot);
}

fn draw_y_label(canvas: &mut Canvas, label: &str, x: i32, plot: PlotArea) {
    if label.is_empty() {
        return;
    }
    let label = fit_text(label, plot.height(), LABEL_SCALE);
    let y = plot.top + (plot.height() - width_px(&label, LABEL_SCALE)) / 2;
    canvas.text_vertical(x, y, &label, LABEL_SCALE, TEXT);
}

/// Draws text with a 1-pixel white halo, readable over lines.
fn text_with_halo(canvas: &mut Canvas, x: i32, y: i32, text: &str, colour: Rgb) {
    for (dx, dy) in [
        (-1, 0),
        (1, 0),
        (0, -1),
        (0, 1),
        (-1, -1),
        (1, 1),
        (-1, 1),
        (1, -1),
    ] {
        canvas.text(x + dx, y + dy, text, LABEL_SCALE, WHITE);
    }
    canvas.text(x, y, text, LABEL_SCALE, colour);
}

// ---------------------------------------------------------------------------
// Number formatting and ticks
// ---------------------------------------------------------------------------

/// Tick values for a linear axis from 0 that covers `max`: 0, s, 2s, ... up to
/// the first multiple of s at or above `max`, with the step s one of 1, 2 or 5
/// times a power of ten, chosen so that there are about `target` intervals (never
/// more than `target`, at least `target / 2.5` rounded up). A `max` that is not
/// finite and positive is taken as 1.
fn nice_ticks(max: f64, target: usize) -> Vec<f64> {
    let max = if max.is_finite() && max > 0.0 {
        max
    } else {
        1.0
    };
    let step = nice_step(max / target.max(1) as f64);
    let intervals = ((max / step) - 1e-9).ceil().max(1.0) as usize;
    (0..=intervals).map(|i| i as f64 * step).collect()
}

/// The smallest of 1, 2, 5 or 10 times a power of ten that is >= `raw`.
fn nice_step(raw: f64) -> f64 {
    let exponent = raw.log10().floor();
    let magnitude = 10f64.powf(exponent);
    let normalized = raw / magnitude;
    let mantissa = [1.0, 2.0, 5.0]
        .into_iter()
        .find(|m| normalized <= m * (1.0 + 1e-9))
        .unwrap_or(10.0);
    mantissa * magnitude
}

/// The multiples of `step` (> 0) in `lo..=hi` (with a hair of tolerance at
/// both ends), ascending; at most [`MAX_TICKS`] of them.
fn ticks_between(lo: f64, hi: f64, step: f64) -> Vec<f64> {
    let first = (lo / step - 1e-9).ceil();
    let last = (hi / step + 1e-9).floor();
    if !(first.is_finite() && last.is_finite()) || last < first {
        return Vec::new();
    }
    let count = ((last - first) as usize).saturating_add(1).min(MAX_TICKS);
    (0..count).map(|i| (first + i as f64) * step).collect()
}

/// Most ticks an axis of a line chart gets (a guard; nice steps give far fewer).
const MAX_TICKS: usize = 200;

/// Labels for ticks from [`nice_ticks`]: plain decimals with as many decimals as
/// the step needs (0, 50, 100 or 0.0, 0.5, 1.0), or, when the axis goes to 1e5
/// or more (or stays under 1e-3), each tick in short scientific form (5e5, 1e6,
/// 1.5e6).
fn format_ticks(ticks: &[f64]) -> Vec<String> {
    let step = match ticks {
        [a, b, ..] => b - a,
        _ => 1.0,
    };
    format_ticks_with_step(ticks, step)
}

/// [`format_ticks`] for ticks `step` apart (which works for a single tick too);
/// negative ticks get a leading `-` (-1.5, -1e6). Whether labels are scientific
/// depends on the tick furthest from 0.
fn format_ticks_with_step(ticks: &[f64], step: f64) -> Vec<String> {
    let top = ticks.iter().fold(0.0_f64, |m, v| m.max(v.abs()));
    let step_exponent = (step.log10() + 1e-9).floor() as i32;
    let scientific = top >= 1e5 || (top > 0.0 && top < 1e-3);
    ticks
        .iter()
        .map(|&v| {
            if v.abs() < step * 1e-6 {
                "0".to_string()
            } else if scientific {
                let exponent = (v.abs().log10() + 1e-9).floor() as i32;
                let decimals = (exponent - step_exponent).max(0) as usize;
                scientific_label(v, exponent, decimals)
            } else {
                let decimals = (-step_exponent).max(0) as usize;
                format!("{v:.decimals$}")
            }
        })
        .collect()
}

/// `v` as `{mantissa}e{exponent}` with at most `decimals` decimals in the
/// mantissa and no trailing zeros.
fn scientific_label(v: f64, exponent: i32, decimals: usize) -> String {
    let mantissa = v / 10f64.powi(exponent);
    let mut text = format!("{mantissa:.decimals$}");
    if text.contains('.') {
        text = text.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    format!("{text}e{exponent}")
}

/// A value in at most about 3 significant digits: 12345, 1.23, 0.0123, 1.23e6.
fn format_compact(v: f64) -> String {
    if v == 0.0 {
        return "0".to_string();
    }
    if !v.is_finite() {
        return format!("{v}");
    }
    let exponent = (v.abs().log10() + 1e-9).floor() as i32;
    if (-2..5).contains(&exponent) {
        let decimals = (2 - exponent).max(0) as usize;
        let mut text = format!("{v:.decimals$}");
        if text.contains('.') {
            text = text.trim_end_matches('0').trim_end_matches('.').to_string();
        }
        text
    } else {
        scientific_label(v, exponent, 2)
    }
}

/// Label of the decade 10^`exponent`: plain (0.01 ... 1000) when `plain`, else
/// `1e{exponent}`.
fn decade_label(exponent: i32, plain: bool) -> String {
    if !plain {
        return format!("1e{exponent}");
    }
    if exponent >= 0 {
        format!("1{}", "0".repeat(exponent as usize))
    } else {
        format!("0.{}1", "0".repeat((-exponent - 1) as usize))
    }
}

// ---------------------------------------------------------------------------
// Stacked bars
// ---------------------------------------------------------------------------

/// One series of a [`StackedBars`] chart: a name for the legend and one value per
/// category.
#[derive(Debug, Clone, PartialEq)]
pub struct BarSeries {
    /// Name shown in the legend (e.g. `"DRAM"`).
    pub name: String,
    /// One value per category, in the chart's category order; finite and >= 0.
    pub values: Vec<f64>,
}

impl BarSeries {
    /// A series named `name` with `values`.
    pub fn new(name: impl Into<String>, values: Vec<f64>) -> Self {
        Self {
            name: name.into(),
            values,
        }
    }
}

/// A stacked bar chart: one bar per category, each the stack of every series'
/// value for that category (the first series at the bottom), on a linear y axis
/// from 0.
///
/// Each series gets the next colour of [`PALETTE`]; the legend, right of the
/// plot, lists the series from the top of the stack down. The total of each bar
/// is written above it.
#[derive(Debug, Clone, PartialEq)]
pub struct StackedBars {
    /// Title drawn above the chart (may be empty).
    pub title: String,
    /// Y-axis label, usually the unit (e.g. `"energy per frame (uJ)"`); may be empty.
    pub y_label: String,
    /// Category labels along x, one bar each (e.g. pipeline stages). Labels
    /// wider than their bar's slot are shortened.
    pub categories: Vec<String>,
    /// The series stacked in each bar, bottom first.
    pub series: Vec<BarSeries>,
    /// Image width in pixels (at least [`MIN_WIDTH`]).
    pub width: u32,
    /// Image height in pixels (at least [`MIN_HEIGHT`]).
    pub height: u32,
}

impl StackedBars {
    /// An empty chart with a title and y-axis label, of the default size
    /// ([`DEFAULT_WIDTH`] x [`DEFAULT_HEIGHT`]); fill in `categories` and `series`.
    pub fn new(title: impl Into<String>, y_label: impl Into<String>) -> Self {
        Self {
            title: title.into(),
            y_label: y_label.into(),
            categories: Vec::new(),
            series: Vec::new(),
            width: DEFAULT_WIDTH,
            height: DEFAULT_HEIGHT,
        }
    }

    /// Checks sizes and values, and returns the total of each category's bar.
    fn validated_totals(&self) -> Result<Vec<f64>, PlotError> {
        check_size(self.width, self.height)?;
        let mut totals = vec![0.0; self.categories.len()];
        for series in &self.series {
            if series.values.len() != self.categories.len() {
                return Err(PlotError::SeriesLength {
                    series: series.name.clone(),
                    len: series.values.len(),
                    categories: self.categories.len(),
                });
            }
            for ((&value, category), total) in
                series.values.iter().zip(&self.categories).zip(&mut totals)
            {
                if !value.is_finite() || value < 0.0 {
                    return Err(PlotError::InvalidValue {
                        series: series.name.clone(),
                        category: category.clone(),
                        value,
                    });
                }
                *total += value;
            }
        }
        if let Some(i) = totals.iter().position(|t| !t.is_finite()) {
            return Err(PlotError::TotalOverflow {
                category: self.categories.get(i).cloned().unwrap_or_default(),
            });
        }
        Ok(totals)
    }
}

/// Where the parts of a stacked bar chart go.
#[derive(Debug, Clone, PartialEq)]
struct BarsLayout {
    plot: PlotArea,
    /// Y ticks from 0; the last one is the top of the axis.
    ticks: Vec<f64>,
    /// The legend's top-left corner and size, if there are series.
    legend: Option<(i32, i32, i32, i32)>,
    /// Legend names, shortened to fit.
    legend_names: Vec<String>,
    /// Rows of category labels: 1, or 2 (staggered) when they do not fit in one.
    category_rows: i32,
}

impl BarsLayout {
    /// The y axis's top value.
    fn y_max(&self) -> f64 {
        self.ticks.last().copied().unwrap_or(1.0)
    }

    /// Pixel row of the value `v`.
    fn y_px(&self, v: f64) -> i32 {
        let p = self.plot;
        (f64::from(p.bottom) - v / self.y_max() * f64::from(p.height())).round() as i32
    }

    /// Width of the slot of each category.
    fn slot(&self, categories: usize) -> f64 {
        f64::from(self.plot.width()) / categories.max(1) as f64
    }

    /// Left column and width of category `i`'s bar.
    fn bar_x(&self, i: usize, categories: usize) -> (i32, i32) {
        let slot = self.slot(categories);
        let width = (slot * 0.6).round().clamp(1.0, (slot - 2.0).max(1.0)) as i32;
        let centre = f64::from(self.plot.left) + slot * (i as f64 + 0.5);
        ((centre - f64::from(width) / 2.0).round() as i32, width)
    }
}

/// Lays out a validated chart whose tallest bar is `max_total`.
fn bars_layout(chart: &StackedBars, max_total: f64) -> BarsLayout {
    let one_row = bars_layout_rows(chart, max_total, 1);
    let slot = one_row.slot(chart.categories.len());
    let fits = chart
        .categories
        .iter()
        .all(|c| f64::from(width_px(c, LABEL_SCALE)) <= slot - 4.0);
    if fits {
        one_row
    } else {
        bars_layout_rows(chart, max_total, 2)
    }
}

/// [`bars_layout`] with `category_rows` rows of category labels.
fn bars_layout_rows(chart: &StackedBars, max_total: f64, category_rows: i32) -> BarsLayout {
    let line = line_px(LABEL_SCALE);
    let (w, h) = (chart.width as i32, chart.height as i32);

    // Vertical: title, room for the totals above the bars, plot, category labels.
    let top = title_block(&chart.title) + line + 6;
    let bottom = h - PAD - category_rows * (line + 4) - 4;
    let target = ((bottom - top) / 55).clamp(3, 10) as usize;
    let ticks = nice_ticks(max_total, target);
    let tick_labels = format_ticks(&ticks);

    // Horizontal: y label, tick labels, plot, legend.
    let y_label_w = if chart.y_label.is_empty() {
        0
    } else {
        line + PAD
    };
    let tick_w = tick_labels
        .iter()
        .map(|t| width_px(t, LABEL_SCALE))
        .max()
        .unwrap_or(0);
    let left = PAD + y_label_w + tick_w + TICK_LEN + 4;

    let swatch = line + 2;
    let max_name = w / 4;
    let legend_names: Vec<String> = chart
        .series
        .iter()
        .map(|s| fit_text(&s.name, max_name, LABEL_SCALE))
        .collect();
    let (right, legend) = if legend_names.is_empty() {
        (w - PAD - PAD, None)
    } else {
        let name_w = legend_names
            .iter()
            .map(|n| width_px(n, LABEL_SCALE))
            .max()
            .unwrap_or(0);
        let legend_w = 10 + swatch + 8 + name_w + 10;
        let legend_h = 8 + legend_names.len() as i32 * (swatch + 6) + 2;
        let right = w - PAD - legend_w - PAD;
        (right, Some((right + PAD + 4, top, legend_w, legend_h)))
    };
    BarsLayout {
        plot: PlotArea {
            left,
            top,
            right,
            bottom,
        },
        ticks,
        legend,
        legend_names,
        category_rows,
    }
}

/// Draws a stacked bar chart onto a new canvas.
///
/// Errors: [`PlotError::TooSmall`], [`PlotError::SeriesLength`] when a series
/// does not have one value per category, [`PlotError::InvalidValue`] for a
/// NaN, infinite or negative value and [`PlotError::TotalOverflow`] for a bar
/// whose total overflows. A chart without categories or series, or
/// whose values are all 0, is drawn as axes from 0 to 1 without bars.
pub fn render_stacked_bars(chart: &StackedBars) -> Result<Canvas, PlotError> {
    let totals = chart.validated_totals()?;
    let max_total = totals.iter().copied().fold(0.0, f64::max);
    let layout = bars_layout(chart, max_total);
    let plot = layout.plot;
    let line = line_px(LABEL_SCALE);
    let mut canvas = Canvas::new(chart.width, chart.height, WHITE);

    // Grid, ticks and tick labels.
    let labels = format_ticks(&layout.ticks);
    for (&tick, label) in layout.ticks.iter().zip(&labels) {
        let y = layout.y_px(tick);
        if tick > 0.0 {
            canvas.line((plot.left + 1, y), (plot.right, y), GRID, 1);
        }
        canvas.line((plot.left - TICK_LEN, y), (plot.left, y), AXIS, 1);
        let x = plot.left - TICK_LEN - 4 - width_px(label, LABEL_SCALE);
        canvas.text(x, y - line / 2, label, LABEL_SCALE, TEXT);
    }

    // Bars, totals and category labels.
    let n = chart.categories.len();
    let slot = layout.slot(n);
    for (i, (category, &total)) in chart.categories.iter().zip(&totals).enumerate() {
        let (x, width) = layout.bar_x(i, n);
        let mut below = 0.0;
        for (j, series) in chart.series.iter().enumerate() {
            let value = series.values.get(i).copied().unwrap_or(0.0);
            let (y_low, y_high) = (layout.y_px(below), layout.y_px(below + value));
            if y_low > y_high {
                let colour = PALETTE[j % PALETTE.len()];
                canvas.fill_rect(x, y_high, width as u32, (y_low - y_high) as u32, colour);
            }
            below += value;
        }
        let centre = x + width / 2;
        let total_label = format_compact(total);
        let total_w = width_px(&total_label, LABEL_SCALE);
        if f64::from(total_w) <= slot {
            let y = layout.y_px(total) - line - 4;
            canvas.text(centre - total_w / 2, y, &total_label, LABEL_SCALE, TEXT);
        }
        // Staggered over two rows when one row is too narrow.
        let (row, room) = if layout.category_rows > 1 {
            ((i % 2) as i32, 2.0 * slot - 8.0)
        } else {
            (0, slot - 4.0)
        };
        let label = fit_text(category, room as i32, LABEL_SCALE);
        let label_w = width_px(&label, LABEL_SCALE);
        let y = plot.bottom + 8 + row * (line + 4);
        canvas.text(centre - label_w / 2, y, &label, LABEL_SCALE, TEXT);
    }

    // Axes on top of the bars' feet.
    draw_axes(&mut canvas, plot);

    // Legend: top of the stack first, as the bars read.
    if let Some((lx, ly, lw, lh)) = layout.legend {
        canvas.stroke_rect(lx, ly, lw as u32, lh as u32, GRID);
        let swatch = line + 2;
        for (row, j) in (0..chart.series.len()).rev().enumerate() {
            let y = ly + 8 + row as i32 * (swatch + 6);
            let colour = PALETTE[j % PALETTE.len()];
            canvas.fill_rect(lx + 10, y, swatch as u32, swatch as u32, colour);
            if let Some(name) = layout.legend_names.get(j) {
                let ty = y + (swatch - line) / 2;
                canvas.text(lx + 10 + swatch + 8, ty, name, LABEL_SCALE, TEXT);
            }
        }
    }

    draw_title(&mut canvas, &chart.title, (plot.left + plot.right) / 2);
    draw_y_label(&mut canvas, &chart.y_label, PAD, plot);
    Ok(canvas)
}

/// Draws a stacked bar chart (see [`render_stacked_bars`]) and writes it to
/// `path` as a PNG (see [`Canvas::save_png`]).
pub fn stacked_bars_png(chart: &StackedBars, path: &Path) -> Result<(), PlotError> {
    render_stacked_bars(chart)?.save_png(path)
}

// ---------------------------------------------------------------------------
// Roofline
// ---------------------------------------------------------------------------

/// A measured kernel or stage on a [`Roofline`] chart.
#[derive(Debug, Clone, PartialEq)]
pub struct RooflinePoint {
    /// Name written beside the marker.
    pub label: String,
    /// Arithmetic intensity: operations per byte of DRAM traffic.
    pub intensity: f64,
    /// Achieved performance: operations per second.
    pub ops_per_s: f64,
}

impl RooflinePoint {
    /// A point named `label` at (`intensity`, `ops_per_s`).
    pub fn new(label: impl Into<String>, intensity: f64, ops_per_s: f64) -> Self {
        Self {
            label: label.into(),
            intensity,
            ops_per_s,
        }
    }

    /// Whether the point can be placed on log-log axes.
    fn is_plottable(&self) -> bool {
        self.intensity.is_finite()
            && self.intensity > 0.0
            && self.ops_per_s.is_finite()
            && self.ops_per_s > 0.0
    }
}

/// A roofline chart on log-log axes: x is arithmetic intensity (operations per
/// byte), y is performance (operations per second).
///
/// Each bandwidth roof is the line `y = bandwidth * x`, drawn up to its ridge
/// point (`peak / bandwidth`, `peak`) where it meets the flat compute roof at
/// `peak_ops_per_s`; a dashed line marks each ridge's intensity. Roofs are
/// named in the legend right of the plot. The axes span whole decades chosen to
/// include every ridge point and every point with some margin (between about a
/// third of a decade and a decade and a third).
///
/// Points whose intensity or performance is not finite or not > 0 cannot be
/// placed on log axes: they are skipped, not an error, and the legend says how
/// many were.
#[derive(Debug, Clone, PartialEq)]
pub struct Roofline {
    /// Title drawn above the chart (may be empty).
    pub title: String,
    /// X-axis label.
    pub x_label: String,
    /// Y-axis label.
    pub y_label: String,
    /// Peak compute performance, operations per second (finite, > 0).
    pub peak_ops_per_s: f64,
    /// Bandwidth roofs: a name (e.g. `"DRAM 5.5 GB/s"`) and bytes per second
    /// (finite, > 0).
    pub roofs: Vec<(String, f64)>,
    /// Measured points.
    pub points: Vec<RooflinePoint>,
    /// The points' legend entry (`"measured"` by default).
    pub points_legend: String,
    /// Image width in pixels (at least [`MIN_WIDTH`]).
    pub width: u32,
    /// Image height in pixels (at least [`MIN_HEIGHT`]).
    pub height: u32,
}

impl Roofline {
    /// A chart with a title and a compute peak, no roofs and no points, the
    /// default axis labels and the default size.
    pub fn new(title: impl Into<String>, peak_ops_per_s: f64) -> Self {
        Self {
            title: title.into(),
            x_label: "arithmetic intensity (ops/byte)".to_string(),
            y_label: "performance (ops/s)".to_string(),
            peak_ops_per_s,
            roofs: Vec::new(),
            points: Vec::new(),
            points_legend: "measured".to_string(),
            width: DEFAULT_WIDTH,
            height: DEFAULT_HEIGHT,
        }
    }

    fn validate(&self) -> Result<(), PlotError> {
        check_size(self.width, self.height)?;
        if !self.peak_ops_per_s.is_finite() || self.peak_ops_per_s <= 0.0 {
            return Err(PlotError::InvalidPeak(self.peak_ops_per_s));
        }
        for (name, bw) in &self.roofs {
            if !bw.is_finite() || *bw <= 0.0 {
                return Err(PlotError::InvalidBandwidth {
                    name: name.clone(),
                    bytes_per_s: *bw,
                });
            }
        }
        Ok(())
    }

    /// Intensity at which roof `bw` meets the compute roof.
    fn ridge(&self, bw: f64) -> f64 {
        self.peak_ops_per_s / bw
    }
}

/// A log10 axis over whole decades `lo..=hi`, mapped to pixels `px_lo..px_hi`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct LogAxis {
    lo: i32,
    hi: i32,
    px_lo: f64,
    px_hi: f64,
}

impl LogAxis {
    /// Pixel coordinate of the value `v` (> 0).
    fn px(&self, v: f64) -> i32 {
        let t = (v.log10() - f64::from(self.lo)) / f64::from(self.hi - self.lo);
        (self.px_lo + t * (self.px_hi - self.px_lo)).round() as i32
    }

    fn min_value(&self) -> f64 {
        10f64.powi(self.lo)
    }

    /// Whether labels are plain numbers (every decade in 0.01..=1000).
    fn plain(&self) -> bool {
        self.lo >= -2 && self.hi <= 3
    }

    fn labels(&self) -> Vec<(i32, String)> {
        (self.lo..=self.hi)
            .map(|e| (e, decade_label(e, self.plain())))
            .collect()
    }
}

/// Decades `lo..=hi` covering `min..=max` with a margin of 0.3 to 1.3 decades
/// on each side, within 1e-301..=1e301 (0 and infinity, which a ridge can
/// round to, are taken as those bounds).
fn decade_range(min: f64, max: f64) -> (i32, i32) {
    let lo = (min.log10() - 0.3).ceil().clamp(-300.0, 300.0) as i32 - 1;
    let hi = (max.log10() + 0.3).floor().clamp(-300.0, 300.0) as i32 + 1;
    (lo, hi.max(lo + 1))
}

/// Where the parts of a roofline chart go.
#[derive(Debug, Clone, PartialEq)]
struct RooflineLayout {
    plot: PlotArea,
    x: LogAxis,
    y: LogAxis,
    legend: (i32, i32, i32, i32),
    legend_entries: Vec<(Rgb, String)>,
    skipped: usize,
}

/// Lays out a validated roofline chart.
fn roofline_layout(chart: &Roofline) -> RooflineLayout {
    let line = line_px(LABEL_SCALE);
    let (w, h) = (chart.width as i32, chart.height as i32);
    let points: Vec<&RooflinePoint> = chart.points.iter().filter(|p| p.is_plottable()).collect();
    let skipped = chart.points.len() - points.len();

    let xs: Vec<f64> = chart
        .roofs
        .iter()
        .map(|(_, bw)| chart.ridge(*bw))
        .chain(points.iter().map(|p| p.intensity))
        .collect();
    let (x_min, x_max) = if xs.is_empty() {
        (1.0, 1.0)
    } else {
        (
            xs.iter().copied().fold(f64::INFINITY, f64::min),
            xs.iter().copied().fold(0.0, f64::max),
        )
    };
    let (x_lo, x_hi) = decade_range(x_min, x_max);
    // The y range also takes in where each roof enters at the left edge, so the
    // roofs are drawn across the whole plot.
    let ys: Vec<f64> = std::iter::once(chart.peak_ops_per_s)
        .chain(points.iter().map(|p| p.ops_per_s))
        .chain(chart.roofs.iter().map(|(_, bw)| bw * 10f64.powi(x_lo)))
        .collect();
    let y_min = ys.iter().copied().fold(f64::INFINITY, f64::min);
    let y_max = ys.iter().copied().fold(0.0, f64::max);
    let (y_lo, y_hi) = decade_range(y_min, y_max);

    let mut legend_entries = vec![(
        COMPUTE_ROOF,
        format!("peak {} ops/s", format_compact(chart.peak_ops_per_s)),
    )];
    for (i, (name, _)) in chart.roofs.iter().enumerate() {
        legend_entries.push((
            PALETTE[i % PALETTE.len()],
            fit_text(name, w / 4, LABEL_SCALE),
        ));
    }
    if !points.is_empty() {
        legend_entries.push((MARKER, chart.points_legend.clone()));
    }
    let sample = 24;
    let name_w = legend_entries
        .iter()
        .map(|(_, n)| width_px(n, LABEL_SCALE))
        .max()
        .unwrap_or(0);
    let note_w = if skipped > 0 {
        width_px(&skipped_note(skipped), LABEL_SCALE)
    } else {
        0
    };
    let legend_w = (10 + sample + 8 + name_w + 10).max(note_w + 20);
    let legend_h = 8 + legend_entries.len() as i32 * (line + 8) + 2;

    let top = title_block(&chart.title) + 4;
    let bottom = h - PAD - line - 10 - line - TICK_LEN - 4;
    let y_plain = y_lo >= -2 && y_hi <= 3;
    let tick_w = (y_lo..=y_hi)
        .map(|e| width_px(&decade_label(e, y_plain), LABEL_SCALE))
        .max()
        .unwrap_or(0);
    let y_label_w = if chart.y_label.is_empty() {
        0
    } else {
        line + PAD
    };
    let left = PAD + y_label_w + tick_w + TICK_LEN + 4;
    let right = w - PAD - legend_w - PAD - 4;
    let plot = PlotArea {
        left,
        top,
        right,
        bottom,
    };
    RooflineLayout {
        plot,
        x: LogAxis {
            lo: x_lo,
            hi: x_hi,
            px_lo: f64::from(left),
            px_hi: f64::from(right),
        },
        y: LogAxis {
            lo: y_lo,
            hi: y_hi,
            px_lo: f64::from(bottom),
            px_hi: f64::from(top),
        },
        legend: (right + PAD + 4, top, legend_w, legend_h),
        legend_entries,
        skipped,
    }
}

fn skipped_note(skipped: usize) -> String {
    if skipped == 1 {
        "1 point skipped".to_string()
    } else {
        format!("{skipped} points skipped")
    }
}

/// Every how many decades a label fits in `room` pixels per decade.
fn label_stride(decades: i32, room_px: i32, label_px: i32) -> i32 {
    let per_decade = room_px / decades.max(1);
    let mut stride = 1;
    while stride < decades && per_decade * stride < label_px {
        stride += 1;
    }
    stride
}

/// Draws a roofline chart onto a new canvas.
///
/// Errors: [`PlotError::TooSmall`], [`PlotError::InvalidPeak`] and
/// [`PlotError::InvalidBandwidth`]. Points with an intensity or performance that
/// is not finite and > 0 are skipped (see [`Roofline`]).
pub fn render_roofline(chart: &Roofline) -> Result<Canvas, PlotError> {
    chart.validate()?;
    let layout = roofline_layout(chart);
    let (plot, xa, ya) = (layout.plot, layout.x, layout.y);
    let line = line_px(LABEL_SCALE);
    let mut canvas = Canvas::new(chart.width, chart.height, WHITE);

    // Grid at every decade, minor ticks at 2..9 times each decade.
    for e in xa.lo..=xa.hi {
        let x = xa.px(10f64.powi(e));
        if e > xa.lo {
            canvas.line((x, plot.top), (x, plot.bottom - 1), GRID, 1);
        }
        canvas.line((x, plot.bottom), (x, plot.bottom + TICK_LEN), AXIS, 1);
        if e < xa.hi {
            for m in 2..10 {
                let x = xa.px(f64::from(m) * 10f64.powi(e));
                canvas.line((x, plot.bottom), (x, plot.bottom + 2), AXIS, 1);
            }
        }
    }
    for e in ya.lo..=ya.hi {
        let y = ya.px(10f64.powi(e));
        if e > ya.lo {
            canvas.line((plot.left + 1, y), (plot.right, y), GRID, 1);
        }
        canvas.line((plot.left - TICK_LEN, y), (plot.left, y), AXIS, 1);
        if e < ya.hi {
            for m in 2..10 {
                let y = ya.px(f64::from(m) * 10f64.powi(e));
                canvas.line((plot.left - 2, y), (plot.left, y), AXIS, 1);
            }
        }
    }

    // Tick labels, thinned out if the decades are crowded.
    let x_labels = xa.labels();
    let widest = x_labels
        .iter()
        .map(|(_, l)| width_px(l, LABEL_SCALE))
        .max()
        .unwrap_or(0);
    let stride = label_stride(xa.hi - xa.lo, plot.width(), widest + 12);
    for (e, label) in &x_labels {
        if (e - xa.lo) % stride == 0 {
            let x = xa.px(10f64.powi(*e)) - width_px(label, LABEL_SCALE) / 2;
            canvas.text(x, plot.bottom + TICK_LEN + 4, label, LABEL_SCALE, TEXT);
        }
    }
    let stride = label_stride(ya.hi - ya.lo, plot.height(), line + 8);
    for (e, label) in &ya.labels() {
        if (e - ya.lo) % stride == 0 {
            let y = ya.px(10f64.powi(*e)) - line / 2;
            let x = plot.left - TICK_LEN - 4 - width_px(label, LABEL_SCALE);
            canvas.text(x, y, label, LABEL_SCALE, TEXT);
        }
    }

    // Roofs: dashed ridge markers, the flat compute roof, then the bandwidth roofs.
    let peak = chart.peak_ops_per_s;
    let peak_y = ya.px(peak);
    for (i, (_, bw)) in chart.roofs.iter().enumerate() {
        let x = xa.px(chart.ridge(*bw));
        let colour = PALETTE[i % PALETTE.len()];
        canvas.dashed_line((x, peak_y + 3), (x, plot.bottom - 1), colour, 1, 4, 4);
    }
    let flat_from = chart
        .roofs
        .iter()
        .map(|(_, bw)| chart.ridge(*bw))
        .fold(f64::INFINITY, f64::min)
        .max(xa.min_value());
    let flat_from = if flat_from.is_finite() {
        flat_from
    } else {
        xa.min_value()
    };
    canvas.line(
        (xa.px(flat_from), peak_y),
        (plot.right, peak_y),
        COMPUTE_ROOF,
        2,
    );
    for (i, (_, bw)) in chart.roofs.iter().enumerate() {
        let colour = PALETTE[i % PALETTE.len()];
        let ridge = chart.ridge(*bw);
        // Enter at the left edge, or at the bottom edge if the roof is below it there.
        let start = xa.min_value().max(ya.min_value() / bw);
        if start < ridge {
            let (x0, y0) = (xa.px(start), ya.px(bw * start));
            canvas.line((x0, y0), (xa.px(ridge), peak_y), colour, 2);
        }
    }

    // Axes.
    draw_axes(&mut canvas, plot);

    // Points, then their labels, placed where they overlap nothing placed before.
    let points: Vec<&RooflinePoint> = chart.points.iter().filter(|p| p.is_plottable()).collect();
    let centres: Vec<(i32, i32)> = points
        .iter()
        .map(|p| (xa.px(p.intensity), ya.px(p.ops_per_s)))
        .collect();
    for &(x, y) in &centres {
        canvas.fill_circle(x, y, 6, WHITE);
    }
    let mut taken: Vec<(i32, i32, i32, i32)> = Vec::new();
    for &(x, y) in &centres {
        canvas.fill_circle(x, y, 4, MARKER);
        taken.push((x - 6, y - 6, 13, 13));
    }
    for (p, &(x, y)) in points.iter().zip(&centres) {
        let label = fit_text(&p.label, plot.width() / 2, LABEL_SCALE);
        let lw = width_px(&label, LABEL_SCALE);
        let (lx, ly) = place_label(x, y, lw, line, plot, &taken);
        taken.push((lx - 1, ly - 1, lw + 2, line + 2));
        text_with_halo(&mut canvas, lx, ly, &label, TEXT);
    }

    // Legend.
    let (lx, ly, lw, lh) = layout.legend;
    canvas.stroke_rect(lx, ly, lw as u32, lh as u32, GRID);
    for (row, (colour, name)) in layout.legend_entries.iter().enumerate() {
        let y = ly + 8 + row as i32 * (line + 8);
        let mid = y + line / 2;
        if *colour == MARKER {
            canvas.fill_circle(lx + 10 + 12, mid, 4, MARKER);
        } else {
            canvas.line((lx + 10, mid), (lx + 10 + 24, mid), *colour, 2);
        }
        canvas.text(lx + 10 + 24 + 8, y, name, LABEL_SCALE, TEXT);
    }
    if layout.skipped > 0 {
        let note = skipped_note(layout.skipped);
        canvas.text(lx + 10, ly + lh + 8, &note, LABEL_SCALE, MUTED);
    }

    draw_titles(
        &mut canvas,
        &chart.title,
        &chart.x_label,
        &chart.y_label,
        plot,
    );
    Ok(canvas)
}

/// Top-left corner for a `w` x `h` label of the marker at (`x`, `y`): the first
/// of right, left, above, below (then further up or down) that stays inside the
/// plot and overlaps nothing in `taken`; right of the marker if none does.
fn place_label(
    x: i32,
    y: i32,
    w: i32,
    h: i32,
    plot: PlotArea,
    taken: &[(i32, i32, i32, i32)],
) -> (i32, i32) {
    let gap = 9;
    let mut candidates = vec![
        (x + gap, y - h / 2),
        (x - gap - w, y - h / 2),
        (x - w / 2, y - gap - h),
        (x - w / 2, y + gap),
    ];
    for k in 1..=8 {
        let dy = k * (h + 3);
        candidates.push((x + gap, y - h / 2 - dy));
        candidates.push((x + gap, y - h / 2 + dy));
        candidates.push((x - gap - w, y - h / 2 - dy));
        candidates.push((x - gap - w, y - h / 2 + dy));
        candidates.push((x - w / 2, y - gap - h - dy));
        candidates.push((x - w / 2, y + gap + dy));
    }
    let inside = |&(cx, cy): &(i32, i32)| {
        cx > plot.left + 1 && cy > plot.top && cx + w < plot.right && cy + h < plot.bottom - 1
    };
    let free = |&(cx, cy): &(i32, i32)| {
        taken
            .iter()
            .all(|&(tx, ty, tw, th)| cx + w < tx || tx + tw < cx || cy + h < ty || ty + th < cy)
    };
    candidates
        .iter()
        .copied()
        .find(|c| inside(c) && free(c))
        .or_else(|| candidates.iter().copied().find(inside))
        .unwrap_or((x + gap, y - h / 2))
}

/// Draws a roofline chart (see [`render_roofline`]) and writes it to `path` as a
/// PNG (see [`Canvas::save_png`]).
pub fn roofline_png(chart: &Roofline, path: &Path) -> Result<(), PlotError> {
    render_roofline(chart)?.save_png(path)
}

// ---------------------------------------------------------------------------
// Line chart
// ---------------------------------------------------------------------------

/// Pen width of a series' line, in pixels.
const SERIES_THICKNESS: u32 = 2;
/// Radius of the disc drawn for a point with no neighbour to join it to.
const LONE_POINT_RADIUS: u32 = 2;
/// Radius of the start markers (inside a white ring 2 pixels wider).
const START_RADIUS: u32 = 4;
/// Room left around the data on each side, as a fraction of the data's range.
const DATA_MARGIN: f64 = 0.05;
/// Coordinates further from 0 than this are treated like NaN (a gap), so that
/// ranges, margins and ticks stay finite.
const MAX_COORD: f64 = 1e300;

/// A range of values `(lo, hi)`, both included.
type Range = (f64, f64);

/// One series of a [`LineChart`]: a name for the legend and the points of its
/// polyline, joined in order.
#[derive(Debug, Clone, PartialEq)]
pub struct LineSeries {
    /// Name shown in the legend (e.g. `"estimate"`).
    pub name: String,
    /// The points (x, y), in drawing order. A point with a coordinate that is
    /// not finite (or beyond ±1e300) is not drawn and breaks the line: the
    /// points before and after it are not joined.
    pub points: Vec<(f64, f64)>,
}

impl LineSeries {
    /// A series named `name` through `points`.
    pub fn new(name: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Self {
            name: name.into(),
            points,
        }
    }
}

/// A line chart on linear axes: each series is a polyline through its points
/// (e.g. a trajectory's top view, x against y in metres, or a quantity against
/// time).
///
/// The axes span the data with a small margin on every side; ticks are at
/// multiples of 1, 2 or 5 times a power of ten. Each series gets the next colour
/// of [`PALETTE`] and a 2-pixel line, and is named in the legend right of the
/// plot. Points with a coordinate that is not finite break the line (see
/// [`LineSeries::points`]). A chart without points has axes over 0..1; data
/// with no extent along an axis (a single point, or a constant) gets a range
/// around its value.
#[derive(Debug, Clone, PartialEq)]
pub struct LineChart {
    /// Title drawn above the chart (may be empty).
    pub title: String,
    /// X-axis label, with its unit (e.g. `"x (m)"`); may be empty.
    pub x_label: String,
    /// Y-axis label, with its unit (e.g. `"error (m)"`); may be empty.
    pub y_label: String,
    /// The series, drawn in order (later ones on top).
    pub series: Vec<LineSeries>,
    /// Same units per pixel on both axes, so shapes keep their proportions (for
    /// trajectory top views): the axis whose data is narrower for its length is
    /// widened, around the data's centre. Both axes then share one tick step.
    pub equal_aspect: bool,
    /// Mark each series' first drawable point with a small disc in its colour
    /// (and add a "start" entry to the legend).
    pub mark_start: bool,
    /// Start the y axis at 0, on the bottom axis line, with the margin only
    /// above the data (for errors and times). Negative values still extend the
    /// axis below 0 rather than being hidden.
    pub y_from_zero: bool,
    /// Image width in pixels (at least [`MIN_WIDTH`]).
    pub width: u32,
    /// Image height in pixels (at least [`MIN_HEIGHT`]).
    pub height: u32,
}

impl LineChart {
    /// An empty chart with a title and axis labels, of the default size
    /// ([`DEFAULT_WIDTH`] x [`DEFAULT_HEIGHT`]), without equal aspect, start
    /// markers or a y axis from 0; fill in `series`.
    pub fn new(
        title: impl Into<String>,
        x_label: impl Into<String>,
        y_label: impl Into<String>,
    ) -> Self {
        Self {
            title: title.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            series: Vec::new(),
            equal_aspect: false,
            mark_start: false,
            y_from_zero: false,
            width: DEFAULT_WIDTH,
            height: DEFAULT_HEIGHT,
        }
    }

    /// The smallest and largest x and y over the drawable points, if any.
    fn extents(&self) -> (Option<Range>, Option<Range>) {
        let grow = |e: Option<Range>, v: f64| match e {
            None => Some((v, v)),
            Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
        };
        self.series
            .iter()
            .flat_map(|s| s.points.iter().copied())
            .filter(|&p| is_drawable(p))
            .fold((None, None), |(x, y), (px, py)| (grow(x, px), grow(y, py)))
    }
}

/// Whether a point can be drawn (else it is a gap in its line).
fn is_drawable((x, y): (f64, f64)) -> bool {
    x.is_finite() && y.is_finite() && x.abs() <= MAX_COORD && y.abs() <= MAX_COORD
}

/// Whether `lo..=hi` is too narrow to map onto pixels (a single value, up to
/// rounding).
fn is_degenerate((lo, hi): Range) -> bool {
    hi - lo <= lo.abs().max(hi.abs()) * 1e-9
}

/// The axis range for data spanning `extent` (`None`: no data, taken as 0..1):
/// the data plus [`DATA_MARGIN`] on each side. With `from_zero` the range
/// takes in 0, and when the data is >= 0 it starts exactly at 0. A degenerate
/// range (see [`is_degenerate`]) is widened to 10% of its value on each side
/// (0..1 from zero, -1..1 around 0), unless `keep_degenerate` (the equal-aspect
/// fit will widen it).
fn axis_range(extent: Option<Range>, from_zero: bool, keep_degenerate: bool) -> Range {
    let (mut lo, mut hi) = extent.unwrap_or((0.0, 1.0));
    if from_zero {
        lo = lo.min(0.0);
        hi = hi.max(0.0);
    }
    let anchored = from_zero && lo == 0.0;
    if is_degenerate((lo, hi)) {
        if keep_degenerate {
            return (lo, hi);
        }
        if anchored {
            // From zero, only all-zero data is degenerate.
            return (0.0, 1.0);
        }
        let value = lo / 2.0 + hi / 2.0;
        let half = if value == 0.0 { 1.0 } else { value.abs() * 0.1 };
        return (value - half, value + half);
    }
    let pad = (hi - lo) * DATA_MARGIN;
    (if anchored { lo } else { lo - pad }, hi + pad)
}

/// Widens `x` or `y` so that both have the same units per pixel over a plot
/// `w` x `h` pixels: the wider one's scale is kept, the other grows around its
/// centre (upwards only for `y` when `y_anchored`, to keep 0 at the bottom).
fn equalize(x: Range, y: Range, w: f64, h: f64, y_anchored: bool) -> (Range, Range) {
    let grow = |(lo, hi): Range, span: f64, anchored: bool| {
        if anchored {
            (lo, lo + span)
        } else {
            let centre = lo / 2.0 + hi / 2.0;
            (centre - span / 2.0, centre + span / 2.0)
        }
    };
    let (ux, uy) = ((x.1 - x.0) / w, (y.1 - y.0) / h);
    if ux > uy {
        (x, grow(y, ux * h, y_anchored))
    } else if uy > ux {
        (grow(x, uy * w, false), y)
    } else {
        (x, y)
    }
}

/// A linear axis from `lo` to `hi` (`lo < hi`), mapped to pixels `px_lo..px_hi`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct LinearAxis {
    lo: f64,
    hi: f64,
    px_lo: f64,
    px_hi: f64,
}

impl LinearAxis {
    /// Pixel coordinate of the value `v`, unrounded.
    fn px_exact(&self, v: f64) -> f64 {
        self.px_lo + (v - self.lo) / (self.hi - self.lo) * (self.px_hi - self.px_lo)
    }

    /// Pixel coordinate of the value `v`.
    fn px(&self, v: f64) -> i32 {
        self.px_exact(v).round() as i32
    }

    /// Pixels between consecutive ticks `step` apart.
    fn spacing(&self, step: f64) -> f64 {
        (step / (self.hi - self.lo) * (self.px_hi - self.px_lo)).abs()
    }

    /// The ticks and their labels for the tick step `step`.
    fn ticks(&self, step: f64) -> (Vec<f64>, Vec<String>) {
        let ticks = ticks_between(self.lo, self.hi, step);
        let labels = format_ticks_with_step(&ticks, step);
        (ticks, labels)
    }

    /// A nice tick step for about `target` intervals (at most `target`, but
    /// small enough for two ticks inside the range), made larger if the labels,
    /// each `room(label)` pixels long along the axis, would crowd.
    fn tick_step(&self, target: i32, room: impl Fn(&str) -> i32) -> f64 {
        let mut step = nice_step((self.hi - self.lo) / f64::from(target.max(1)));
        for _ in 0..4 {
            if ticks_between(self.lo, self.hi, step).len() >= 2 {
                break;
            }
            // The previous nice step: 10 -> 5 -> 2 -> 1.
            step = nice_step(step / 2.5);
        }
        for _ in 0..30 {
            let (_, labels) = self.ticks(step);
            let need = labels.iter().map(|l| room(l)).max().unwrap_or(0);
            if self.spacing(step) >= f64::from(need) {
                break;
            }
            // The next nice step: 1 -> 2 -> 5 -> 10.
            step = nice_step(step * 1.01);
        }
        step
    }
}

/// Where the parts of a line chart go.
#[derive(Debug, Clone, PartialEq)]
struct LineLayout {
    plot: PlotArea,
    x: LinearAxis,
    y: LinearAxis,
    x_ticks: Vec<f64>,
    x_labels: Vec<String>,
    y_ticks: Vec<f64>,
    y_labels: Vec<String>,
    /// The legend's top-left corner and size, if there are series.
    legend: Option<(i32, i32, i32, i32)>,
    /// Legend names, shortened to fit.
    legend_names: Vec<String>,
}

/// Lays out a line chart of a valid size.
fn line_layout(chart: &LineChart) -> LineLayout {
    let line = line_px(LABEL_SCALE);
    let (w, h) = (chart.width as i32, chart.height as i32);

    // Data ranges before the equal-aspect fit. With equal aspect, an axis whose
    // data has no extent is left for the fit to widen, unless both are.
    let (x_extent, y_extent) = chart.extents();
    let x_flat = is_degenerate(axis_range(x_extent, false, true));
    let y_flat = is_degenerate(axis_range(y_extent, chart.y_from_zero, true));
    let keep = |other_flat: bool| chart.equal_aspect && !other_flat;
    let x_range = axis_range(x_extent, false, keep(y_flat));
    let y_range = axis_range(y_extent, chart.y_from_zero, keep(x_flat));

    // Legend.
    let max_name = w / 4;
    let legend_names: Vec<String> = chart
        .series
        .iter()
        .map(|s| fit_text(&s.name, max_name, LABEL_SCALE))
        .collect();
    let sample = 24;
    let legend_size = if legend_names.is_empty() {
        None
    } else {
        let name_w = legend_names
            .iter()
            .map(|n| width_px(n, LABEL_SCALE))
            .chain(chart.mark_start.then(|| width_px("start", LABEL_SCALE)))
            .max()
            .unwrap_or(0);
        let rows = legend_names.len() as i32 + i32::from(chart.mark_start);
        Some((10 + sample + 8 + name_w + 10, 8 + rows * (line + 8) + 2))
    };

    // Vertical: title, plot, x tick labels, x label. Horizontal: y label, y tick
    // labels, plot, legend.
    let top = title_block(&chart.title) + 4;
    let bottom = h - PAD - line - 10 - line - TICK_LEN - 4;
    let right = match legend_size {
        Some((legend_w, _)) => w - PAD - legend_w - PAD - 4,
        None => w - PAD - PAD,
    };
    let y_label_w = if chart.y_label.is_empty() {
        0
    } else {
        line + PAD
    };

    // The layout when `tick_w` pixels are left for the y tick labels.
    let with_tick_width = |tick_w: i32| {
        let left = PAD + y_label_w + tick_w + TICK_LEN + 4;
        let plot = PlotArea {
            left,
            top,
            right: right.max(left + 1),
            bottom: bottom.max(top + 1),
        };
        let (x_range, y_range) = if chart.equal_aspect {
            let y_anchored = chart.y_from_zero && y_range.0 == 0.0;
            let (pw, ph) = (f64::from(plot.width()), f64::from(plot.height()));
            equalize(x_range, y_range, pw, ph, y_anchored)
        } else {
            (x_range, y_range)
        };
        let x = LinearAxis {
            lo: x_range.0,
            hi: x_range.1,
            px_lo: f64::from(plot.left),
            px_hi: f64::from(plot.right),
        };
        let y = LinearAxis {
            lo: y_range.0,
            hi: y_range.1,
            px_lo: f64::from(plot.bottom),
            px_hi: f64::from(plot.top),
        };
        let x_step = x.tick_step((plot.width() / 60).clamp(2, 10), |l| {
            width_px(l, LABEL_SCALE) + 16
        });
        let y_step = y.tick_step((plot.height() / 50).clamp(2, 10), |_| line + 10);
        // With equal aspect one step for both axes makes the grid square,
        // unless that leaves an axis with a single tick.
        let shared = x_step.max(y_step);
        let two_ticks = |a: &LinearAxis| ticks_between(a.lo, a.hi, shared).len() >= 2;
        let (x_step, y_step) = if chart.equal_aspect && two_ticks(&x) && two_ticks(&y) {
            (shared, shared)
        } else {
            (x_step, y_step)
        };
        let (x_ticks, x_labels) = x.ticks(x_step);
        let (y_ticks, y_labels) = y.ticks(y_step);
        LineLayout {
            plot,
            x,
            y,
            x_ticks,
            x_labels,
            y_ticks,
            y_labels,
            legend: legend_size.map(|(lw, lh)| (plot.right + PAD + 4, top, lw, lh)),
            legend_names: legend_names.clone(),
        }
    };

    // The y tick labels' width sets the plot's left edge, which (with equal
    // aspect) changes the ranges and so the labels: widen until they fit (the
    // width only grows, so this settles quickly).
    let mut tick_w = 0;
    let mut layout = with_tick_width(tick_w);
    for _ in 0..8 {
        let need = layout
            .y_labels
            .iter()
            .map(|l| width_px(l, LABEL_SCALE))
            .max()
            .unwrap_or(0);
        if need <= tick_w {
            break;
        }
        tick_w = need;
        layout = with_tick_width(tick_w);
    }
    layout
}

/// Draws `points` as a polyline of `colour`: consecutive drawable points are
/// joined, an undrawable one breaks the line, and a drawable point with no
/// drawable neighbour gets a small disc so that it shows.
fn draw_polyline(
    canvas: &mut Canvas,
    points: &[(f64, f64)],
    x: &LinearAxis,
    y: &LinearAxis,
    colour: Rgb,
) {
    let mut previous: Option<(i32, i32)> = None;
    let mut run = 0;
    let end_run = |canvas: &mut Canvas, previous: Option<(i32, i32)>, run: usize| {
        if let (Some((px, py)), 1) = (previous, run) {
            canvas.fill_circle(px, py, LONE_POINT_RADIUS, colour);
        }
    };
    for &p in points {
        if !is_drawable(p) {
            end_run(canvas, previous, run);
            previous = None;
            run = 0;
            continue;
        }
        let here = (x.px(p.0), y.px(p.1));
        if let Some(from) = previous {
            canvas.line(from, here, colour, SERIES_THICKNESS);
        }
        previous = Some(here);
        run += 1;
    }
    end_run(canvas, previous, run);
}

/// Draws a start marker: a disc of `colour` in a white ring.
fn draw_start_marker(canvas: &mut Canvas, x: i32, y: i32, colour: Rgb) {
    canvas.fill_circle(x, y, START_RADIUS + 2, WHITE);
    canvas.fill_circle(x, y, START_RADIUS, colour);
}

/// Draws a line chart onto a new canvas.
///
/// Errors: [`PlotError::TooSmall`] only. Points that cannot be drawn break
/// their line instead (see [`LineSeries::points`]), and a chart without
/// drawable points is drawn as axes from 0 to 1.
pub fn render_line_chart(chart: &LineChart) -> Result<Canvas, PlotError> {
    check_size(chart.width, chart.height)?;
    let layout = line_layout(chart);
    let (plot, xa, ya) = (layout.plot, layout.x, layout.y);
    let line = line_px(LABEL_SCALE);
    let mut canvas = Canvas::new(chart.width, chart.height, WHITE);

    // Grid, ticks and tick labels.
    for (&tick, label) in layout.x_ticks.iter().zip(&layout.x_labels) {
        let x = xa.px(tick);
        if x > plot.left {
            canvas.line((x, plot.top), (x, plot.bottom - 1), GRID, 1);
        }
        canvas.line((x, plot.bottom), (x, plot.bottom + TICK_LEN), AXIS, 1);
        let lx = x - width_px(label, LABEL_SCALE) / 2;
        canvas.text(lx, plot.bottom + TICK_LEN + 4, label, LABEL_SCALE, TEXT);
    }
    for (&tick, label) in layout.y_ticks.iter().zip(&layout.y_labels) {
        let y = ya.px(tick);
        if y < plot.bottom {
            canvas.line((plot.left + 1, y), (plot.right, y), GRID, 1);
        }
        canvas.line((plot.left - TICK_LEN, y), (plot.left, y), AXIS, 1);
        let lx = plot.left - TICK_LEN - 4 - width_px(label, LABEL_SCALE);
        canvas.text(lx, y - line / 2, label, LABEL_SCALE, TEXT);
    }

    // Axes under the data, so that a line along an axis stays visible.
    draw_axes(&mut canvas, plot);

    // The series, then the start markers over every line.
    for (i, series) in chart.series.iter().enumerate() {
        let colour = PALETTE[i % PALETTE.len()];
        draw_polyline(&mut canvas, &series.points, &xa, &ya, colour);
    }
    if chart.mark_start {
        for (i, series) in chart.series.iter().enumerate() {
            if let Some(&(x, y)) = series.points.iter().find(|&&p| is_drawable(p)) {
                let colour = PALETTE[i % PALETTE.len()];
                draw_start_marker(&mut canvas, xa.px(x), ya.px(y), colour);
            }
        }
    }

    // Legend.
    if let Some((lx, ly, lw, lh)) = layout.legend {
        canvas.stroke_rect(lx, ly, lw as u32, lh as u32, GRID);
        for (row, name) in layout.legend_names.iter().enumerate() {
            let y = ly + 8 + row as i32 * (line + 8);
            let mid = y + line / 2;
            let colour = PALETTE[row % PALETTE.len()];
            canvas.line(
                (lx + 10, mid),
                (lx + 10 + 24, mid),
                colour,
                SERIES_THICKNESS,
            );
            canvas.text(lx + 10 + 24 + 8, y, name, LABEL_SCALE, TEXT);
        }
        if chart.mark_start {
            let y = ly + 8 + layout.legend_names.len() as i32 * (line + 8);
            draw_start_marker(&mut canvas, lx + 10 + 12, y + line / 2, MUTED);
            canvas.text(lx + 10 + 24 + 8, y, "start", LABEL_SCALE, TEXT);
        }
    }

    draw_titles(
        &mut canvas,
        &chart.title,
        &chart.x_label,
        &chart.y_label,
        plot,
    );
    Ok(canvas)
}

/// Draws a line chart (see [`render_line_chart`]) and writes it to `path` as a
/// PNG (see [`Canvas::save_png`]).
pub fn line_chart_png(chart: &LineChart, path: &Path) -> Result<(), PlotError> {
    render_line_chart(chart)?.save_png(path)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]
mod tests {
    use super::*;

    /// Decodes an 8-bit RGB PNG into a canvas.
    fn load(path: &Path) -> Canvas {
        let file = io::BufReader::new(File::open(path).unwrap());
        let mut reader = png::Decoder::new(file).read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!(info.color_type, png::ColorType::Rgb);
        assert_eq!(info.bit_depth, png::BitDepth::Eight);
        buf.truncate(info.buffer_size());
        Canvas {
            width: info.width,
            height: info.height,
            pixels: buf,
        }
    }

    fn at(canvas: &Canvas, x: i32, y: i32) -> Rgb {
        canvas.pixel(x as u32, y as u32).unwrap()
    }

    fn is_dark(c: Rgb) -> bool {
        c.iter().all(|&v| v < 100)
    }

    /// Number of dark pixels in the rectangle [x0, x1) x [y0, y1).
    fn dark_in(canvas: &Canvas, x0: i32, y0: i32, x1: i32, y1: i32) -> usize {
        let mut n = 0;
        for y in y0..y1 {
            for x in x0..x1 {
                if canvas.pixel(x as u32, y as u32).is_some_and(is_dark) {
                    n += 1;
                }
            }
        }
        n
    }

    /// Number of pixels of exactly `colour` in [x0, x1) x [y0, y1).
    fn count_colour(canvas: &Canvas, colour: Rgb, x0: i32, y0: i32, x1: i32, y1: i32) -> usize {
        let mut n = 0;
        for y in y0..y1 {
            for x in x0..x1 {
                if canvas.pixel(x as u32, y as u32) == Some(colour) {
                    n += 1;
                }
            }
        }
        n
    }

    fn energy_chart() -> StackedBars {
        let mut chart = StackedBars::new("Energy per frame by memory level", "energy (uJ)");
        chart.categories = ["frontend", "backend", "map", "explore"]
            .map(String::from)
            .to_vec();
        chart.series = vec![
            BarSeries::new("compute", vec![10.0, 5.0, 4.0, 1.0]),
            BarSeries::new("L1", vec![20.0, 10.0, 6.0, 2.0]),
            BarSeries::new("L2", vec![30.0, 5.0, 10.0, 3.0]),
            BarSeries::new("DRAM", vec![40.0, 20.0, 5.0, 4.0]),
        ];
        chart
    }

    fn roofline_chart() -> Roofline {
        let mut chart = Roofline::new("Roofline, Raspberry Pi 5", 1.0e10);
        chart.roofs = vec![
            ("L1 100 GB/s".to_string(), 1.0e11),
            ("DRAM 10 GB/s".to_string(), 1.0e10),
        ];
        chart.points = vec![
            RooflinePoint::new("frontend", 0.5, 2.0e9),
            RooflinePoint::new("backend", 8.0, 6.0e9),
            RooflinePoint::new("map", 0.05, 3.0e8),
        ];
        chart
    }

    /// A trajectory top view: a ground-truth loop around (-3, 1) m and an
    /// estimate that drifts from it and loses tracking for a while.
    fn trajectory_chart() -> LineChart {
        let mut chart = LineChart::new("Trajectory (top view)", "x (m)", "y (m)");
        chart.equal_aspect = true;
        chart.mark_start = true;
        let truth: Vec<(f64, f64)> = (0..=400)
            .map(|i| {
                let t = f64::from(i) / 400.0 * std::f64::consts::TAU;
                let r = 1.0 + 0.15 * (3.0 * t).sin();
                (-3.0 + 6.0 * r * t.cos(), 1.0 + 3.0 * r * t.sin())
            })
            .collect();
        let estimate = truth
            .iter()
            .enumerate()
            .map(|(i, &(x, y))| {
                if (250..270).contains(&i) {
                    return (f64::NAN, f64::NAN);
                }
                // Drift: a slow rotation about the start, a growing offset and a wobble.
                let k = i as f64 / 400.0;
                let (dx, dy) = (x - 3.0, y - 1.0);
                let a = 0.08 * k;
                let wobble = 0.05 * (i as f64 * 0.3).sin();
                (
                    3.0 + dx * a.cos() - dy * a.sin() + 0.6 * k + wobble,
                    1.0 + dx * a.sin() + dy * a.cos() - 0.4 * k,
                )
            })
            .collect();
        chart.series = vec![
            LineSeries::new("ground truth", truth),
            LineSeries::new("VIO estimate", estimate),
        ];
        chart
    }

    /// Position error against time for two runs, from 0, with a gap.
    fn error_chart() -> LineChart {
        let mut chart = LineChart::new("Position error", "time (s)", "error (m)");
        chart.y_from_zero = true;
        let run = |growth: f64, closure: bool| -> Vec<(f64, f64)> {
            (0..=600)
                .map(|i| {
                    let t = f64::from(i) * 0.1;
                    if (380..400).contains(&i) && !closure {
                        return (t, f64::NAN);
                    }
                    let base = growth * t * (1.0 + 0.2 * (t * 0.7).sin());
                    let e = if closure && t > 35.0 {
                        base * 0.25
                    } else {
                        base
                    };
                    (t, e + 0.01 * (t * 5.0).sin().abs())
                })
                .collect()
        };
        chart.series = vec![
            LineSeries::new("VIO", run(0.006, false)),
            LineSeries::new("VIO + loop closure", run(0.005, true)),
        ];
        chart
    }

    #[test]
    fn nice_ticks_use_1_2_5_steps_and_cover_the_maximum() {
        assert_eq!(
            nice_ticks(100.0, 5),
            vec![0.0, 20.0, 40.0, 60.0, 80.0, 100.0]
        );
        assert_eq!(
            nice_ticks(87.0, 5),
            vec![0.0, 20.0, 40.0, 60.0, 80.0, 100.0]
        );
        assert_eq!(nice_ticks(7.0, 5), vec![0.0, 2.0, 4.0, 6.0, 8.0]);
        assert_eq!(nice_ticks(1.4e6, 5), vec![0.0, 5e5, 1e6, 1.5e6]);
        // Nothing to show: 0 to 1.
        assert_eq!(
            nice_ticks(0.0, 5),
            vec![0.0, 0.2, 0.4, 0.6000000000000001, 0.8, 1.0]
        );
        assert_eq!(nice_ticks(f64::NAN, 5).last(), Some(&1.0));
        for max in [0.003, 0.37, 1.0, 3.3, 42.0, 999.0, 1234.5, 7.7e8] {
            for target in [3, 5, 8] {
                let ticks = nice_ticks(max, target);
                let step = ticks[1] - ticks[0];
                let mantissa = step / 10f64.powf(step.log10().floor());
                assert!(
                    [1.0, 2.0, 5.0].iter().any(|m| (mantissa - m).abs() < 1e-6),
                    "step {step} for max {max}"
                );
                assert_eq!(ticks[0], 0.0);
                let top = *ticks.last().unwrap();
                assert!(top >= max * (1.0 - 1e-9), "top {top} < max {max}");
                assert!(top - step < max, "a tick too many for {max}: {ticks:?}");
                assert!(ticks.len() - 1 <= target, "{ticks:?} for target {target}");
            }
        }
    }

    #[test]
    fn tick_labels_are_compact() {
        assert_eq!(format_ticks(&nice_ticks(100.0, 2)), ["0", "50", "100"]);
        assert_eq!(
            format_ticks(&nice_ticks(0.35, 4)),
            ["0", "0.1", "0.2", "0.3", "0.4"]
        );
        assert_eq!(
            format_ticks(&nice_ticks(1.2, 3)),
            ["0", "0.5", "1.0", "1.5"]
        );
        assert_eq!(
            format_ticks(&nice_ticks(1.4e6, 5)),
            ["0", "5e5", "1e6", "1.5e6"]
        );
        assert_eq!(format_compact(12345.0), "12345");
        assert_eq!(format_compact(1.2345), "1.23");
        assert_eq!(format_compact(100.0), "100");
        assert_eq!(format_compact(0.012345), "0.0123");
        assert_eq!(format_compact(1.5e10), "1.5e10");
        assert_eq!(decade_label(-2, true), "0.01");
        assert_eq!(decade_label(0, true), "1");
        assert_eq!(decade_label(3, true), "1000");
        assert_eq!(decade_label(-1, false), "1e-1");
        assert_eq!(decade_label(9, false), "1e9");
    }

    #[test]
    fn lines_follow_bresenham_and_dashes_leave_gaps() {
        let mut c = Canvas::new(20, 20, WHITE);
        let red = [255, 0, 0];
        c.line((2, 3), (12, 8), red, 1);
        assert_eq!(c.pixel(2, 3), Some(red));
        assert_eq!(c.pixel(12, 8), Some(red));
        // One pixel per column, within half a pixel of the exact line.
        assert_eq!(count_colour(&c, red, 0, 0, 20, 20), 11);
        for x in 2..=12 {
            let exact = 3.0 + f64::from(x - 2) * 0.5;
            let rows: Vec<u32> = (0..20).filter(|&y| c.pixel(x, y) == Some(red)).collect();
            assert_eq!(rows.len(), 1, "column {x}");
            assert!(
                (f64::from(rows[0]) - exact).abs() <= 0.5,
                "column {x}: {rows:?}"
            );
        }
        // Thick: a 3-pixel pen covers the rows around a horizontal line.
        let mut c = Canvas::new(20, 20, WHITE);
        c.line((2, 10), (17, 10), red, 3);
        for y in 9..=11 {
            assert_eq!(c.pixel(10, y), Some(red));
        }
        assert_eq!(c.pixel(10, 8), Some(WHITE));
        assert_eq!(c.pixel(10, 12), Some(WHITE));
        // Dashed: 3 on, 2 off.
        let mut c = Canvas::new(20, 5, WHITE);
        c.dashed_line((0, 2), (19, 2), red, 1, 3, 2);
        let row: Vec<bool> = (0..20).map(|x| c.pixel(x, 2) == Some(red)).collect();
        for (x, &on) in row.iter().enumerate() {
            assert_eq!(on, x % 5 < 3, "column {x}");
        }
        // Lines far outside the canvas are clipped, not walked.
        let mut c = Canvas::new(20, 20, WHITE);
        c.line((-2_000_000_000, 5), (2_000_000_000, 5), red, 1);
        assert_eq!(count_colour(&c, red, 0, 0, 20, 20), 20);
    }

    #[test]
    fn text_leaves_dark_pixels_only_inside_its_box() {
        let mut c = Canvas::new(80, 40, WHITE);
        c.text(5, 6, "L2 ok", 2, TEXT);
        let (w, h) = (text_width("L2 ok", 2) as i32, 16);
        assert_eq!(w, 80); // 5 characters x 8 x 2
        let inside = dark_in(&c, 5, 6, 5 + w, 6 + h);
        assert!(inside > 40, "only {inside} dark pixels");
        assert_eq!(dark_in(&c, 0, 0, 80, 40), inside);
        // Each character of a different shape: "L" has its stem on the left.
        assert!(dark_in(&c, 5, 6, 5 + 4, 6 + h) > 8);

        // Rotated text fits a box 8*scale wide and text_width tall, and reads
        // upwards: the first character ("L", whose foot points right) is at the bottom.
        let mut c = Canvas::new(30, 60, WHITE);
        c.text_vertical(4, 3, "Lxx", 1, TEXT);
        let inside = dark_in(&c, 4, 3, 12, 27);
        assert!(inside > 15);
        assert_eq!(dark_in(&c, 0, 0, 30, 60), inside);
        let mut l_only = Canvas::new(30, 60, WHITE);
        l_only.text_vertical(4, 3 + 16, "L", 1, TEXT);
        for y in 19..27 {
            for x in 4..12 {
                assert_eq!(c.pixel(x, y), l_only.pixel(x, y), "({x}, {y})");
            }
        }
        assert!(dark_in(&l_only, 4, 19, 12, 27) > 5);
    }

    #[test]
    fn save_png_round_trips_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.png");
        let mut c = Canvas::new(7, 5, WHITE);
        c.fill_rect(1, 1, 3, 2, PALETTE[0]);
        c.set_pixel(6, 4, PALETTE[3]);
        c.save_png(&path).unwrap();
        assert_eq!(load(&path), c);
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "{names:?}");

        // A directory where the file should go: the rename fails, the error names
        // the path, and the temporary file is gone.
        let blocked = dir.path().join("blocked.png");
        fs::create_dir(&blocked).unwrap();
        fs::write(blocked.join("keep"), b"x").unwrap();
        match c.save_png(&blocked) {
            Err(PlotError::Io { path, .. }) => assert_eq!(path, blocked),
            other => panic!("expected an I/O error, got {other:?}"),
        }
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 2);
        // A missing directory.
        let missing = dir.path().join("no/such/dir/c.png");
        let err = c.save_png(&missing).unwrap_err();
        assert!(err.to_string().contains("no/such/dir/c.png"), "{err}");
    }

    #[test]
    fn stacked_bars_draw_each_segment_where_the_axis_puts_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bars.png");
        let chart = energy_chart();
        stacked_bars_png(&chart, &path).unwrap();
        let img = load(&path);
        assert_eq!((img.width(), img.height()), (DEFAULT_WIDTH, DEFAULT_HEIGHT));

        let layout = bars_layout(&chart, 100.0);
        assert_eq!(layout.y_max(), 100.0); // the tallest bar, frontend, totals 100
        let plot = layout.plot;
        assert!(plot.left > 40 && plot.right < 800 && plot.top > 30 && plot.bottom > 480);

        // Tallest bar (frontend): DRAM (series 3, 60..100) on top, compute (0..10) at the foot.
        let (x, w) = layout.bar_x(0, 4);
        let centre = x + w / 2;
        assert_eq!(at(&img, centre, layout.y_px(80.0)), PALETTE[3]);
        assert_eq!(at(&img, centre, plot.top + 1), PALETTE[3]); // top of bar = top of axis
        assert_eq!(at(&img, centre, layout.y_px(45.0)), PALETTE[2]);
        assert_eq!(at(&img, centre, layout.y_px(20.0)), PALETTE[1]);
        assert_eq!(at(&img, centre, layout.y_px(5.0)), PALETTE[0]);
        // The bar's edges.
        assert_eq!(at(&img, x, layout.y_px(80.0)), PALETTE[3]);
        assert_eq!(at(&img, x + w - 1, layout.y_px(80.0)), PALETTE[3]);
        assert_ne!(at(&img, x - 2, layout.y_px(80.0)), PALETTE[3]);
        // "map" totals 25: DRAM 20..25 on top, nothing above it but its total label.
        let (x, w) = layout.bar_x(2, 4);
        assert_eq!(at(&img, x + w / 2, layout.y_px(22.5)), PALETTE[3]);
        assert_eq!(at(&img, x + w / 2, layout.y_px(35.0)), WHITE);
        // Its total ("25") is written just above it.
        let top = layout.y_px(25.0);
        assert!(dark_in(&img, x, top - 14, x + w, top - 2) > 10);
        // Category label under the bar, title above the plot.
        assert!(dark_in(&img, x, plot.bottom + 4, x + w, plot.bottom + 20) > 10);
        assert!(dark_in(&img, 0, 0, 900, plot.top - 20) > 100);
        // Tick label "100" left of the axis at the top tick.
        let y = layout.y_px(100.0);
        assert!(dark_in(&img, plot.left - 40, y - 4, plot.left - TICK_LEN, y + 4) > 10);
        // The legend, right of the plot, has a swatch of every series and no bar
        // pixel is right of the plot.
        let (lx, ly, lw, lh) = layout.legend.unwrap();
        assert!(lx > plot.right);
        for colour in &PALETTE[..4] {
            let n = count_colour(&img, *colour, lx, ly, lx + lw, ly + lh);
            assert!(n >= 100, "legend swatch {colour:?}: {n} pixels");
            assert_eq!(count_colour(&img, *colour, plot.right + 1, 0, lx, 560), 0);
        }
        // The y label is drawn rotated left of the tick labels.
        assert!(dark_in(&img, PAD, plot.top, PAD + 8, plot.bottom) > 30);
    }

    #[test]
    fn all_zero_bars_give_an_empty_chart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("zeros.png");
        let mut chart = energy_chart();
        for s in &mut chart.series {
            s.values.iter_mut().for_each(|v| *v = 0.0);
        }
        stacked_bars_png(&chart, &path).unwrap();
        let img = load(&path);
        let layout = bars_layout(&chart, 0.0);
        assert_eq!(layout.y_max(), 1.0);
        let p = layout.plot;
        for colour in &PALETTE[..4] {
            assert_eq!(count_colour(&img, *colour, 0, 0, p.right + 1, 560), 0);
        }
        // Axes are still there.
        assert!(is_dark(at(&img, p.left, (p.top + p.bottom) / 2)));

        // No categories and no series at all: also a valid, empty chart.
        let empty = StackedBars::new("nothing", "");
        let path = dir.path().join("empty.png");
        stacked_bars_png(&empty, &path).unwrap();
        assert_eq!(load(&path).width(), DEFAULT_WIDTH);
    }

    #[test]
    fn bad_bar_values_are_refused_and_write_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.png");
        for bad in [f64::NAN, -1.0, f64::INFINITY] {
            let mut chart = energy_chart();
            chart.series[2].values[1] = bad;
            match stacked_bars_png(&chart, &path) {
                Err(PlotError::InvalidValue {
                    series, category, ..
                }) => {
                    assert_eq!((series.as_str(), category.as_str()), ("L2", "backend"));
                }
                other => panic!("{bad}: expected InvalidValue, got {other:?}"),
            }
        }
        let mut chart = energy_chart();
        chart.series[0].values.pop();
        assert!(matches!(
            stacked_bars_png(&chart, &path),
            Err(PlotError::SeriesLength {
                len: 3,
                categories: 4,
                ..
            })
        ));
        let mut chart = energy_chart();
        chart.series[0].values[3] = f64::MAX;
        chart.series[1].values[3] = f64::MAX;
        assert!(matches!(
            stacked_bars_png(&chart, &path),
            Err(PlotError::TotalOverflow { category }) if category == "explore"
        ));
        let mut chart = energy_chart();
        chart.width = 100;
        assert!(matches!(
            render_stacked_bars(&chart),
            Err(PlotError::TooSmall { width: 100, .. })
        ));
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn roofline_axes_take_in_ridges_and_points_with_margin() {
        let layout = roofline_layout(&roofline_chart());
        // Ridges at 0.1 and 1 ops/byte, points 0.05..8: x from 1e-2 to 1e2.
        assert_eq!((layout.x.lo, layout.x.hi), (-2, 2));
        // Peak 1e10, lowest point 3e8, the DRAM roof enters at 1e10 * 1e-2 = 1e8.
        assert_eq!((layout.y.lo, layout.y.hi), (7, 11));
        assert_eq!(decade_range(1.0, 1.0), (-1, 1));
        assert_eq!(decade_range(0.12, 9e10), (-2, 12));
        assert_eq!(decade_range(0.9, 0.9), (-1, 1));
    }

    #[test]
    fn roofline_draws_roofs_ridges_and_points_where_the_axes_put_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("roofline.png");
        let chart = roofline_chart();
        roofline_png(&chart, &path).unwrap();
        let img = load(&path);
        assert_eq!((img.width(), img.height()), (DEFAULT_WIDTH, DEFAULT_HEIGHT));
        let layout = roofline_layout(&chart);
        let (xa, ya, plot) = (layout.x, layout.y, layout.plot);
        // The axis mapping puts decades at even spacing from the plot's edges.
        assert_eq!(xa.px(1e-2), plot.left);
        assert_eq!(xa.px(1e2), plot.right);
        assert_eq!(ya.px(1e7), plot.bottom);
        assert_eq!(ya.px(1e11), plot.top);

        // DRAM (roof 1) meets the compute roof at intensity 1: its ridge pixel is
        // in its colour, and so is its slanted part one decade to the left.
        let dram = PALETTE[1];
        assert_eq!(at(&img, xa.px(1.0), ya.px(1e10)), dram);
        let (x, y) = (xa.px(0.1), ya.px(1e9));
        assert!(
            (-1..=1).any(|d| at(&img, x, y + d) == dram),
            "DRAM roof not at ({x}, {y})"
        );
        // L1 (roof 0) ridge at 0.1, and its line through (0.01, 1e9).
        let l1 = PALETTE[0];
        assert_eq!(at(&img, xa.px(0.1), ya.px(1e10)), l1);
        assert!((-1..=1).any(|d| at(&img, xa.px(0.02), ya.px(2e9) + d) == l1));
        // The flat compute roof runs right of the ridges to the edge, not left of them.
        assert_eq!(at(&img, xa.px(30.0), ya.px(1e10)), COMPUTE_ROOF);
        assert_eq!(at(&img, plot.right - 1, ya.px(1e10)), COMPUTE_ROOF);
        assert_ne!(at(&img, xa.px(0.05), ya.px(1e10)), COMPUTE_ROOF);
        // Dashed ridge marker under the DRAM ridge: some pixels of the colour, not all.
        let x = xa.px(1.0);
        let n = count_colour(&img, dram, x, ya.px(1e10) + 4, x + 1, plot.bottom);
        let len = (plot.bottom - ya.px(1e10) - 4) as usize;
        assert!(n > len / 3 && n < len * 2 / 3, "{n} of {len}");

        // Markers at the points, and their labels leave dark pixels next to them.
        for p in &chart.points {
            let (x, y) = (xa.px(p.intensity), ya.px(p.ops_per_s));
            assert_eq!(at(&img, x, y), MARKER, "{}", p.label);
            let w = width_px(&p.label, LABEL_SCALE);
            let near = dark_in(&img, x - w - 12, y - 30, x + w + 12, y + 30);
            assert!(near > 20, "{}: {near}", p.label);
        }
        // The backend label goes right of its marker (nothing is in the way).
        let (x, y) = (xa.px(8.0), ya.px(6e9));
        assert!(dark_in(&img, x + 9, y - 4, x + 9 + 7 * 8, y + 4) > 20);
        // The legend is right of the plot and names each roof with its colour.
        let (lx, ly, lw, lh) = layout.legend;
        assert!(lx > plot.right);
        assert!(count_colour(&img, l1, lx, ly, lx + lw, ly + lh) >= 40);
        assert!(count_colour(&img, dram, lx, ly, lx + lw, ly + lh) >= 40);
        assert!(dark_in(&img, lx + 40, ly, lx + lw, ly + lh) > 100);
    }

    #[test]
    fn roofline_skips_unplottable_points_and_refuses_bad_roofs() {
        let dir = tempfile::tempdir().unwrap();
        let mut chart = roofline_chart();
        let good = chart.clone();
        chart.points.push(RooflinePoint::new("zero", 0.0, 1e9));
        chart.points.push(RooflinePoint::new("neg", 2.0, -1e9));
        chart.points.push(RooflinePoint::new("nan", f64::NAN, 1e9));
        chart
            .points
            .push(RooflinePoint::new("inf", 1.0, f64::INFINITY));
        let path = dir.path().join("skip.png");
        roofline_png(&chart, &path).unwrap();
        let layout = roofline_layout(&chart);
        assert_eq!(layout.skipped, 4);
        // Same axes as without them, and the same number of marker pixels.
        let good_layout = roofline_layout(&good);
        assert_eq!((layout.x, layout.y), (good_layout.x, good_layout.y));
        let img = load(&path);
        let p = layout.plot;
        let with_bad = count_colour(&img, MARKER, p.left, p.top, p.right, p.bottom);
        let plain = render_roofline(&good).unwrap();
        let without = count_colour(&plain, MARKER, p.left, p.top, p.right, p.bottom);
        assert_eq!(with_bad, without);
        // The note under the legend.
        let (lx, ly, lw, lh) = layout.legend;
        assert!(dark_in(&img, lx, ly + lh + 4, lx + lw, ly + lh + 20) == 0);
        assert!(count_colour(&img, MUTED, lx, ly + lh + 4, 900, ly + lh + 20) > 20);

        let mut bad = good.clone();
        bad.peak_ops_per_s = 0.0;
        assert!(matches!(
            render_roofline(&bad),
            Err(PlotError::InvalidPeak(_))
        ));
        let mut bad = good.clone();
        bad.roofs.push(("broken".to_string(), f64::NAN));
        assert!(matches!(
            roofline_png(&bad, &dir.path().join("x.png")),
            Err(PlotError::InvalidBandwidth { name, .. }) if name == "broken"
        ));
        // Ridges that round to 0 or infinity still give a chart.
        let mut extreme = Roofline::new("extreme", 1e300);
        extreme.roofs = vec![("tiny".to_string(), 1e-300), ("huge".to_string(), 1e300)];
        extreme.points = vec![RooflinePoint::new("subnormal", 1e-310, 1e-310)];
        let layout = roofline_layout(&extreme);
        assert!(layout.x.lo >= -301 && layout.x.hi <= 301, "{:?}", layout.x);
        render_roofline(&extreme).unwrap();
        extreme.peak_ops_per_s = 1e-300;
        render_roofline(&extreme).unwrap();

        // No roofs and no points: only the compute roof, across the whole plot.
        let bare = Roofline::new("", 5e9);
        let img = render_roofline(&bare).unwrap();
        let layout = roofline_layout(&bare);
        let y = layout.y.px(5e9);
        assert_eq!(at(&img, layout.plot.left + 2, y), COMPUTE_ROOF);
        assert_eq!(at(&img, layout.plot.right - 1, y), COMPUTE_ROOF);
    }

    /// Checks what every line chart layout must satisfy: the axes map their
    /// ends to the plot's edges, there are at least two ticks per axis, all
    /// inside the range, and the tick labels neither crowd nor leave the room
    /// kept for them.
    fn check_line_layout(chart: &LineChart, layout: &LineLayout) {
        let (plot, xa, ya) = (layout.plot, layout.x, layout.y);
        assert!(
            xa.lo.is_finite() && xa.hi.is_finite() && xa.lo < xa.hi,
            "{xa:?}"
        );
        assert!(
            ya.lo.is_finite() && ya.hi.is_finite() && ya.lo < ya.hi,
            "{ya:?}"
        );
        assert_eq!((xa.px(xa.lo), xa.px(xa.hi)), (plot.left, plot.right));
        assert_eq!((ya.px(ya.lo), ya.px(ya.hi)), (plot.bottom, plot.top));
        for (axis, ticks) in [(xa, &layout.x_ticks), (ya, &layout.y_ticks)] {
            assert!(ticks.len() >= 2, "{ticks:?} on {axis:?}");
            let slack = (axis.hi - axis.lo) * 1e-6;
            assert!(
                ticks
                    .iter()
                    .all(|t| *t >= axis.lo - slack && *t <= axis.hi + slack)
            );
        }
        let line = line_px(LABEL_SCALE);
        let spans: Vec<(i32, i32)> = layout
            .x_ticks
            .iter()
            .zip(&layout.x_labels)
            .map(|(&t, l)| {
                let x = xa.px(t) - width_px(l, LABEL_SCALE) / 2;
                (x, x + width_px(l, LABEL_SCALE))
            })
            .collect();
        for pair in spans.windows(2) {
            assert!(pair[0].1 + 8 <= pair[1].0, "x labels crowd: {spans:?}");
        }
        let rows: Vec<i32> = layout.y_ticks.iter().map(|&t| ya.px(t)).collect();
        for pair in rows.windows(2) {
            assert!(pair[0] - pair[1] >= line + 4, "y labels crowd: {rows:?}");
        }
        let y_label_w = if chart.y_label.is_empty() {
            0
        } else {
            line + PAD
        };
        for l in &layout.y_labels {
            let x = plot.left - TICK_LEN - 4 - width_px(l, LABEL_SCALE);
            assert!(x >= PAD + y_label_w, "{l:?} at {x}");
        }
    }

    /// Whether a pixel of `colour` is within one pixel of (`x`, `y`).
    fn colour_near(canvas: &Canvas, colour: Rgb, x: i32, y: i32) -> bool {
        (-1..=1).any(|dy| (-1..=1).any(|dx| pixel_i(canvas, x + dx, y + dy) == Some(colour)))
    }

    /// [`Canvas::pixel`] with signed coordinates.
    fn pixel_i(canvas: &Canvas, x: i32, y: i32) -> Option<Rgb> {
        canvas.pixel(u32::try_from(x).ok()?, u32::try_from(y).ok()?)
    }

    /// Bounding box (x0, y0, x1, y1), inclusive, of the pixels of `colour`
    /// inside the plot.
    fn colour_box(canvas: &Canvas, colour: Rgb, plot: PlotArea) -> (i32, i32, i32, i32) {
        let mut b = (i32::MAX, i32::MAX, i32::MIN, i32::MIN);
        for y in plot.top..=plot.bottom + 1 {
            for x in plot.left..=plot.right + 1 {
                if pixel_i(canvas, x, y) == Some(colour) {
                    b = (b.0.min(x), b.1.min(y), b.2.max(x), b.3.max(y));
                }
            }
        }
        b
    }

    #[test]
    fn ticks_between_and_their_labels_handle_negative_ranges() {
        assert_eq!(
            ticks_between(-12.3, -1.7, 2.0),
            vec![-12.0, -10.0, -8.0, -6.0, -4.0, -2.0]
        );
        assert_eq!(ticks_between(-0.25, 0.3, 0.1).len(), 6); // -0.2 ..= 0.3
        assert_eq!(ticks_between(0.0, 1.0, 0.5), vec![0.0, 0.5, 1.0]);
        assert!(ticks_between(0.1, 0.2, 1.0).is_empty());
        assert_eq!(
            format_ticks_with_step(&ticks_between(-1.0, 0.5, 0.5), 0.5),
            ["-1.0", "-0.5", "0", "0.5"]
        );
        assert_eq!(
            format_ticks_with_step(&ticks_between(-0.25, 0.3, 0.1), 0.1),
            ["-0.2", "-0.1", "0", "0.1", "0.2", "0.3"]
        );
        // Scientific when the tick furthest from 0 is large, even if negative.
        assert_eq!(
            format_ticks_with_step(&[-1e6, -5e5, 0.0], 5e5),
            ["-1e6", "-5e5", "0"]
        );
        // A single tick still gets the decimals its step needs.
        assert_eq!(format_ticks_with_step(&[0.25], 0.05), ["0.25"]);
        // The old entry point is unchanged for ticks from 0.
        assert_eq!(format_ticks(&[0.0, 0.5, 1.0]), ["0", "0.5", "1.0"]);
    }

    #[test]
    fn line_chart_draws_each_polyline_where_the_axes_put_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lines.png");
        let mut chart = LineChart::new("Two series", "time (s)", "value");
        let zigzag = vec![(0.0, 0.0), (10.0, 5.0), (20.0, -5.0), (30.0, 0.0)];
        chart.series = vec![
            LineSeries::new("zigzag", zigzag.clone()),
            LineSeries::new("flat", vec![(0.0, 2.0), (30.0, 2.0)]),
        ];
        line_chart_png(&chart, &path).unwrap();
        let img = load(&path);
        assert_eq!((img.width(), img.height()), (DEFAULT_WIDTH, DEFAULT_HEIGHT));
        let layout = line_layout(&chart);
        check_line_layout(&chart, &layout);
        let (plot, xa, ya) = (layout.plot, layout.x, layout.y);
        // The data (x 0..30, y -5..5) plus a 5% margin on each side.
        assert!(
            (xa.lo + 1.5).abs() < 1e-9 && (xa.hi - 31.5).abs() < 1e-9,
            "{xa:?}"
        );
        assert!(
            (ya.lo + 5.5).abs() < 1e-9 && (ya.hi - 5.5).abs() < 1e-9,
            "{ya:?}"
        );
        assert_eq!(layout.x_labels, ["0", "5", "10", "15", "20", "25", "30"]);
        assert_eq!(layout.y_labels, ["-4", "-2", "0", "2", "4"]);

        // Vertices exactly, and points along each segment within a pixel (the
        // 2-pixel pen covers the line's pixel and the one right of or below it).
        let zig = PALETTE[0];
        for &(x, y) in &zigzag {
            assert_eq!(at(&img, xa.px(x), ya.px(y)), zig, "vertex ({x}, {y})");
        }
        for pair in zigzag.windows(2) {
            let ((x0, y0), (x1, y1)) = (pair[0], pair[1]);
            for t in [0.1, 0.3, 0.5, 0.7, 0.9] {
                let (x, y) = (x0 + t * (x1 - x0), y0 + t * (y1 - y0));
                if (y - 2.0).abs() < 0.3 {
                    continue; // under the flat series, drawn later
                }
                let (px, py) = (xa.px(x), ya.px(y));
                assert!(colour_near(&img, zig, px, py), "({x}, {y}) at ({px}, {py})");
            }
        }
        // Nowhere near the line: not painted.
        for (x, y) in [(10.0, -3.0), (20.0, 4.0), (5.0, -4.0), (28.0, 4.5)] {
            assert!(!colour_near(&img, zig, xa.px(x), ya.px(y)), "({x}, {y})");
        }
        // The flat series, 2 pixels thick, across its whole x range (on top of
        // the zigzag where they cross), and nothing beyond its ends.
        let flat = PALETTE[1];
        let (y, x0, x1) = (ya.px(2.0), xa.px(0.0), xa.px(30.0));
        for x in x0..=x1 {
            assert_eq!(at(&img, x, y), flat, "column {x}");
            assert_eq!(at(&img, x, y + 1), flat, "column {x}");
        }
        assert_ne!(at(&img, x0 - 2, y), flat);
        assert_ne!(at(&img, x1 + 3, y), flat);
        assert_ne!(at(&img, (x0 + x1) / 2, y - 1), flat);
        assert_ne!(at(&img, (x0 + x1) / 2, y + 2), flat);

        // The legend, right of the plot, has a line sample of each colour; no
        // series pixel is elsewhere outside the plot.
        let (lx, ly, lw, lh) = layout.legend.unwrap();
        assert!(lx > plot.right + 2);
        for colour in [zig, flat] {
            assert!(count_colour(&img, colour, lx, ly, lx + lw, ly + lh) >= 40);
            let total = count_colour(&img, colour, 0, 0, 900, 560);
            let inside = count_colour(
                &img,
                colour,
                plot.left,
                plot.top,
                plot.right + 2,
                plot.bottom + 2,
            );
            let legend = count_colour(&img, colour, lx, ly, lx + lw, ly + lh);
            assert_eq!(total, inside + legend, "{colour:?}");
        }
        assert!(dark_in(&img, lx + 40, ly, lx + lw, ly + lh) > 100); // the names
        // Title above, x label below the tick labels, y label on the left.
        assert!(dark_in(&img, 0, 0, 900, plot.top - 8) > 100);
        assert!(dark_in(&img, plot.left, plot.bottom + 30, plot.right, 560) > 30);
        assert!(dark_in(&img, PAD, plot.top, PAD + 8, plot.bottom) > 20);
    }

    #[test]
    fn start_markers_sit_on_each_series_first_drawable_point() {
        let mut chart = LineChart::new("", "", "");
        chart.mark_start = true;
        chart.series = vec![
            LineSeries::new("a", vec![(f64::NAN, 0.0), (1.0, 1.0), (4.0, 3.0)]),
            LineSeries::new("b", vec![(4.0, 0.0), (0.0, 2.0)]),
            LineSeries::new("nothing", vec![(f64::NAN, f64::NAN)]),
        ];
        let img = render_line_chart(&chart).unwrap();
        let layout = line_layout(&chart);
        check_line_layout(&chart, &layout);
        let (xa, ya) = (layout.x, layout.y);
        for (colour, (x, y)) in [(PALETTE[0], (1.0, 1.0)), (PALETTE[1], (4.0, 0.0))] {
            let (px, py) = (xa.px(x), ya.px(y));
            // A disc of radius 4 in the series' colour, in a white ring.
            assert_eq!(
                count_colour(&img, colour, px - 4, py - 4, px + 5, py + 5),
                69
            );
            assert_eq!(at(&img, px + 6, py), WHITE);
            assert_eq!(at(&img, px, py - 6), WHITE);
        }
        // The other end of each line has no marker: just the 2-pixel line.
        let (px, py) = (xa.px(0.0), ya.px(2.0));
        assert!(count_colour(&img, PALETTE[1], px - 4, py - 4, px + 5, py + 5) < 30);
        // The legend's last row says what the markers are.
        let (lx, ly, lw, lh) = layout.legend.unwrap();
        let row_y = ly + 8 + 3 * (line_px(LABEL_SCALE) + 8);
        assert!(row_y + 8 <= ly + lh);
        assert!(count_colour(&img, MUTED, lx, row_y, lx + 40, row_y + 8) > 30);
        assert!(dark_in(&img, lx + 40, row_y, lx + lw, row_y + 8) > 10);
    }

    #[test]
    fn equal_aspect_draws_a_unit_square_as_a_square() {
        let square = vec![(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0), (0.0, 0.0)];
        // Wide data (x range 7 m, y 1 m) and tall data (x 1 m, y 12 m): the
        // narrower axis for its length is widened either way.
        for (other, wide) in [
            (vec![(-3.0, 0.5), (4.0, 0.5)], true),
            (vec![(0.5, -5.0), (0.5, 7.0)], false),
        ] {
            let mut chart = LineChart::new("square", "x (m)", "y (m)");
            chart.series = vec![
                LineSeries::new("square", square.clone()),
                LineSeries::new("other", other),
            ];
            // Without equal aspect the square is stretched.
            let img = render_line_chart(&chart).unwrap();
            let layout = line_layout(&chart);
            let (x0, y0, x1, y1) = colour_box(&img, PALETTE[0], layout.plot);
            assert!(((x1 - x0) - (y1 - y0)).abs() > 20, "{wide}: not stretched");

            chart.equal_aspect = true;
            let img = render_line_chart(&chart).unwrap();
            let layout = line_layout(&chart);
            check_line_layout(&chart, &layout);
            let (xa, ya) = (layout.x, layout.y);
            let x_ppu = (xa.px_hi - xa.px_lo) / (xa.hi - xa.lo);
            let y_ppu = (ya.px_lo - ya.px_hi) / (ya.hi - ya.lo);
            assert!((x_ppu - y_ppu).abs() < 1e-9 * x_ppu, "{x_ppu} vs {y_ppu}");
            // The square's painted corners (the pen adds one pixel right and below).
            let (x0, y0, x1, y1) = colour_box(&img, PALETTE[0], layout.plot);
            assert_eq!((x0, y0), (xa.px(0.0), ya.px(1.0)), "{wide}");
            assert_eq!((x1, y1), (xa.px(1.0) + 1, ya.px(0.0) + 1), "{wide}");
            let (side_x, side_y) = (x1 - x0, y1 - y0);
            assert!((side_x - side_y).abs() <= 1, "{wide}: {side_x} x {side_y}");
            assert!((f64::from(side_x - 1) - x_ppu).abs() <= 1.0);
            // Both axes share one tick step, and the ticks are square on screen.
            let step = |t: &[f64]| t[1] - t[0];
            assert_eq!(step(&layout.x_ticks), step(&layout.y_ticks));
            // The data's own range is kept on the wider axis (with its margin).
            if wide {
                assert!((xa.lo + 3.35).abs() < 1e-9 && (xa.hi - 4.35).abs() < 1e-9);
                assert!(ya.lo < -1.0 && ya.hi > 2.0);
            } else {
                assert!((ya.lo + 5.6).abs() < 1e-9 && (ya.hi - 7.6).abs() < 1e-9);
                assert!(xa.lo < -1.0 && xa.hi > 2.0);
            }
        }
    }

    #[test]
    fn negative_coordinates_get_ticks_and_labels() {
        let mut chart = LineChart::new("Negative", "x (m)", "y (m)");
        let path_xy = vec![(-12.0, -8.0), (-7.0, -1.0), (-2.0, -6.0)];
        chart.series = vec![LineSeries::new("track", path_xy.clone())];
        let img = render_line_chart(&chart).unwrap();
        let layout = line_layout(&chart);
        check_line_layout(&chart, &layout);
        let (plot, xa, ya) = (layout.plot, layout.x, layout.y);
        assert!(xa.hi < 0.0 && ya.hi < 0.0, "{xa:?} {ya:?}");
        for &(x, y) in &path_xy {
            assert_eq!(at(&img, xa.px(x), ya.px(y)), PALETTE[0]);
        }
        assert_eq!(layout.x_labels, ["-12", "-10", "-8", "-6", "-4", "-2"]);
        assert_eq!(
            layout.y_labels,
            ["-8", "-7", "-6", "-5", "-4", "-3", "-2", "-1"]
        );
        // Each label is drawn where the layout puts it: its dark pixels are
        // exactly those of the text drawn alone there.
        let line = line_px(LABEL_SCALE);
        let mut boxes = Vec::new();
        for (&t, l) in layout.x_ticks.iter().zip(&layout.x_labels) {
            let x = xa.px(t) - width_px(l, LABEL_SCALE) / 2;
            boxes.push((x, plot.bottom + TICK_LEN + 4, l.clone()));
        }
        for (&t, l) in layout.y_ticks.iter().zip(&layout.y_labels) {
            let x = plot.left - TICK_LEN - 4 - width_px(l, LABEL_SCALE);
            boxes.push((x, ya.px(t) - line / 2, l.clone()));
        }
        for (x, y, label) in boxes {
            let mut alone = Canvas::new(img.width(), img.height(), WHITE);
            alone.text(x, y, &label, LABEL_SCALE, TEXT);
            let w = width_px(&label, LABEL_SCALE);
            let n = dark_in(&alone, x, y, x + w, y + line);
            assert!(n > 10, "{label}");
            for py in y..y + line {
                for px in x..x + w {
                    let want = is_dark(at(&alone, px, py));
                    assert_eq!(is_dark(at(&img, px, py)), want, "{label} at ({px}, {py})");
                }
            }
            // The minus sign: a dash in the first glyph's middle rows.
            assert!(dark_in(&img, x, y + 3, x + 8, y + 5) >= 4, "{label}");
        }
    }

    #[test]
    fn non_finite_points_break_the_line() {
        let with_gap = vec![
            (0.0, 0.0),
            (1.0, 1.0),
            (f64::NAN, 1.0), // gap between (1, 1) and (3, 1)
            (3.0, 1.0),
            (4.0, 0.0),
            (5.0, f64::INFINITY), // gap, then a lone point
            (6.0, 0.5),
            (f64::NEG_INFINITY, 0.0),
            (7.0, 1e301), // beyond ±1e300: a gap too
            (8.0, 0.0),
            (9.0, 0.5),
        ];
        let mut chart = LineChart::new("gaps", "x", "y");
        chart.series = vec![LineSeries::new("gappy", with_gap.clone())];
        let img = render_line_chart(&chart).unwrap();
        let layout = line_layout(&chart);
        check_line_layout(&chart, &layout);
        let (xa, ya) = (layout.x, layout.y);
        // The range ignores the undrawable points.
        assert!(
            (xa.lo + 0.45).abs() < 1e-9 && (xa.hi - 9.45).abs() < 1e-9,
            "{xa:?}"
        );
        assert!(
            (ya.lo + 0.05).abs() < 1e-9 && (ya.hi - 1.05).abs() < 1e-9,
            "{ya:?}"
        );
        let c = PALETTE[0];
        // Nothing across the gap from (1, 1) to (3, 1).
        let y = ya.px(1.0);
        let n = count_colour(&img, c, xa.px(1.0) + 3, y - 2, xa.px(3.0) - 2, y + 3);
        assert_eq!(n, 0, "{n} pixels across the NaN gap");
        // Nor from (4, 0) to the lone (6, 0.5), nor from it on to (8, 0).
        for x in [4.6, 5.0, 5.4, 6.6, 7.0, 7.4] {
            let y = if x < 6.0 {
                (x - 4.0) * 0.25
            } else {
                0.5 - (x - 6.0) * 0.25
            };
            assert!(!colour_near(&img, c, xa.px(x), ya.px(y)), "x = {x}");
        }
        // The segments between drawable neighbours are there, and so is a disc
        // at the lone point.
        for (x, y) in [(0.5, 0.5), (3.0, 1.0), (3.5, 0.5), (8.5, 0.25)] {
            assert!(colour_near(&img, c, xa.px(x), ya.px(y)), "({x}, {y})");
        }
        let (px, py) = (xa.px(6.0), ya.px(0.5));
        assert_eq!(count_colour(&img, c, px - 2, py - 2, px + 3, py + 3), 21);

        // Without the gap the segment across it is drawn (the test can fail).
        let mut joined = chart.clone();
        joined.series[0].points.remove(2);
        let img = render_line_chart(&joined).unwrap();
        let n = count_colour(&img, c, xa.px(1.0) + 3, y - 2, xa.px(3.0) - 2, y + 3);
        assert!(n > 100, "{n}");
    }

    #[test]
    fn empty_and_degenerate_line_charts_render() {
        let dir = tempfile::tempdir().unwrap();
        let close = |a: f64, b: f64| (a - b).abs() < 1e-9;

        // Nothing at all: axes 0..1 (with the margin), no legend.
        let empty = LineChart::new("nothing", "", "");
        let path = dir.path().join("empty.png");
        line_chart_png(&empty, &path).unwrap();
        let img = load(&path);
        let layout = line_layout(&empty);
        check_line_layout(&empty, &layout);
        assert!(close(layout.x.lo, -0.05) && close(layout.x.hi, 1.05));
        assert!(close(layout.y.lo, -0.05) && close(layout.y.hi, 1.05));
        assert_eq!(layout.legend, None);
        let p = layout.plot;
        assert!(is_dark(at(&img, p.left, (p.top + p.bottom) / 2)));
        assert!(is_dark(at(&img, (p.left + p.right) / 2, p.bottom)));
        for colour in PALETTE {
            assert_eq!(count_colour(&img, colour, 0, 0, 900, 560), 0);
        }

        // Series without drawable points: a legend, the same axes, no lines.
        let mut hollow = LineChart::new("hollow", "x", "y");
        hollow.mark_start = true;
        hollow.series = vec![
            LineSeries::new("empty", Vec::new()),
            LineSeries::new("all NaN", vec![(f64::NAN, 1.0), (2.0, f64::NAN)]),
        ];
        let img = render_line_chart(&hollow).unwrap();
        let layout = line_layout(&hollow);
        check_line_layout(&hollow, &layout);
        assert!(close(layout.x.lo, -0.05) && close(layout.y.hi, 1.05));
        let p = layout.plot;
        assert_eq!(
            count_colour(&img, PALETTE[0], p.left, p.top, p.right + 2, p.bottom + 2),
            0
        );
        assert!(layout.legend.is_some());

        // A single point: a range of ±10% of each value, the point in the middle.
        let mut single = LineChart::new("single", "x", "y");
        single.series = vec![LineSeries::new("one", vec![(2.5, -1.0)])];
        let img = render_line_chart(&single).unwrap();
        let layout = line_layout(&single);
        check_line_layout(&single, &layout);
        assert!(close(layout.x.lo, 2.25) && close(layout.x.hi, 2.75));
        assert!(close(layout.y.lo, -1.1) && close(layout.y.hi, -0.9));
        let p = layout.plot;
        let (px, py) = (layout.x.px(2.5), layout.y.px(-1.0));
        assert!(
            (px - (p.left + p.right) / 2).abs() <= 1 && (py - (p.top + p.bottom) / 2).abs() <= 1
        );
        assert_eq!(at(&img, px, py), PALETTE[0]);
        // A single point at the origin: -1..1 on both axes.
        single.series[0].points = vec![(0.0, 0.0)];
        let layout = line_layout(&single);
        check_line_layout(&single, &layout);
        assert!(close(layout.x.lo, -1.0) && close(layout.y.hi, 1.0));

        // All x equal: a vertical line in the middle.
        let mut vertical = LineChart::new("vertical", "x", "y");
        vertical.series = vec![LineSeries::new(
            "v",
            vec![(3.0, 0.0), (3.0, 1.0), (3.0, 2.0)],
        )];
        let img = render_line_chart(&vertical).unwrap();
        let layout = line_layout(&vertical);
        check_line_layout(&vertical, &layout);
        assert!(close(layout.x.lo, 2.7) && close(layout.x.hi, 3.3));
        let x = layout.x.px(3.0);
        for v in [0.0, 0.5, 1.0, 1.5, 2.0] {
            assert_eq!(at(&img, x, layout.y.px(v)), PALETTE[0]);
        }
        // ... and with equal aspect, x is widened to y's scale instead of ±10%.
        vertical.equal_aspect = true;
        let layout = line_layout(&vertical);
        check_line_layout(&vertical, &layout);
        assert!(close(layout.y.lo, -0.1) && close(layout.y.hi, 2.1));
        let (xa, ya) = (layout.x, layout.y);
        let ratio =
            ((xa.hi - xa.lo) / (xa.px_hi - xa.px_lo)) / ((ya.hi - ya.lo) / (ya.px_lo - ya.px_hi));
        assert!((ratio - 1.0).abs() < 1e-9, "{ratio}");
        assert!(close(xa.lo / 2.0 + xa.hi / 2.0, 3.0));
        // Equal aspect with a single point: still a sensible, equal-scale chart.
        single.equal_aspect = true;
        render_line_chart(&single).unwrap();
        check_line_layout(&single, &line_layout(&single));

        // All zeros from zero: 0..1.
        let mut zeros = LineChart::new("zeros", "t", "e");
        zeros.y_from_zero = true;
        zeros.series = vec![LineSeries::new("z", vec![(0.0, 0.0), (1.0, 0.0)])];
        let layout = line_layout(&zeros);
        check_line_layout(&zeros, &layout);
        assert_eq!((layout.y.lo, layout.y.hi), (0.0, 1.0));
        render_line_chart(&zeros).unwrap();

        // Extreme magnitudes still give finite, ordered axes.
        for points in [
            vec![(1e300, -1e300), (-1e300, 1e300)],
            vec![(5e-324, 1e-310), (1e-310, 5e-324)],
            vec![(1e15, 1.0), (1e15 + 1.0, 1.0 + 1e-12)],
        ] {
            let mut extreme = LineChart::new("extreme", "x", "y");
            extreme.series = vec![LineSeries::new("e", points.clone())];
            for equal_aspect in [false, true] {
                extreme.equal_aspect = equal_aspect;
                render_line_chart(&extreme).unwrap();
                let layout = line_layout(&extreme);
                assert!(
                    layout.x.lo < layout.x.hi && layout.y.lo < layout.y.hi,
                    "{points:?}"
                );
                assert!(
                    layout.x.hi.is_finite() && layout.y.hi.is_finite(),
                    "{points:?}"
                );
            }
        }

        // The smallest size works; smaller is refused and writes nothing.
        let mut small = single.clone();
        (small.width, small.height) = (MIN_WIDTH, MIN_HEIGHT);
        render_line_chart(&small).unwrap();
        check_line_layout(&small, &line_layout(&small));
        small.height = MIN_HEIGHT - 1;
        let path = dir.path().join("small.png");
        assert!(matches!(
            line_chart_png(&small, &path),
            Err(PlotError::TooSmall {
                width: MIN_WIDTH,
                ..
            })
        ));
        assert!(!path.exists());
    }

    #[test]
    fn y_from_zero_puts_zero_on_the_bottom_axis() {
        let mut chart = LineChart::new("error", "time (s)", "error (m)");
        let points: Vec<(f64, f64)> = (0..=10)
            .map(|i| (f64::from(i), 2.0 + 0.3 * f64::from(i)))
            .collect();
        chart.series = vec![
            LineSeries::new("error", points),
            LineSeries::new("touches 0", vec![(2.0, 0.0), (8.0, 0.0)]),
        ];
        let unanchored = line_layout(&chart);
        check_line_layout(&chart, &unanchored);
        assert!(unanchored.y.lo < 0.0); // the second series' 0 minus the margin

        chart.series.truncate(1);
        let unanchored = line_layout(&chart);
        assert!(close_to(unanchored.y.lo, 1.85), "{:?}", unanchored.y); // 2 - 5% of 3

        chart.y_from_zero = true;
        let path = tempfile::tempdir().unwrap();
        let file = path.path().join("from_zero.png");
        chart
            .series
            .push(LineSeries::new("touches 0", vec![(2.0, 0.0), (8.0, 0.0)]));
        line_chart_png(&chart, &file).unwrap();
        let img = load(&file);
        let layout = line_layout(&chart);
        check_line_layout(&chart, &layout);
        let (plot, xa, ya) = (layout.plot, layout.x, layout.y);
        assert_eq!(ya.lo, 0.0);
        assert!(close_to(ya.hi, 5.25), "{ya:?}"); // 5 plus 5% above only
        assert_eq!(ya.px(0.0), plot.bottom);
        assert_eq!(layout.y_ticks[0], 0.0);
        assert_eq!(layout.y_labels[0], "0");
        // The "0" label sits at the bottom axis.
        let line = line_px(LABEL_SCALE);
        let x = plot.left - TICK_LEN - 4 - 8;
        assert!(
            dark_in(
                &img,
                x,
                plot.bottom - line / 2,
                x + 8,
                plot.bottom + line / 2
            ) > 8
        );
        // A series at y = 0 runs along the bottom axis, drawn over it.
        for t in [2.0, 5.0, 8.0] {
            assert_eq!(at(&img, xa.px(t), plot.bottom), PALETTE[1], "t = {t}");
        }
        assert_eq!(at(&img, xa.px(9.0), plot.bottom), AXIS);
        // The other series is where the axis puts it.
        assert_eq!(at(&img, xa.px(10.0), ya.px(5.0)), PALETTE[0]);

        // With equal aspect, 0 stays at the bottom; y grows upwards only.
        chart.equal_aspect = true;
        let layout = line_layout(&chart);
        check_line_layout(&chart, &layout);
        assert_eq!(layout.y.lo, 0.0);
        assert_eq!(layout.y.px(0.0), layout.plot.bottom);

        // Negative values are not hidden: the axis goes below 0 for them.
        chart.equal_aspect = false;
        chart.series[1].points.push((9.0, -1.0));
        let layout = line_layout(&chart);
        assert!(close_to(layout.y.lo, -1.3), "{:?}", layout.y);
    }

    fn close_to(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    /// Writes the sample charts to `$VIZ_SAMPLES_DIR` (run with `--ignored`).
    #[test]
    #[ignore = "writes sample PNGs for people to look at"]
    fn write_samples() {
        let dir = PathBuf::from(
            std::env::var_os("VIZ_SAMPLES_DIR").unwrap_or_else(|| "/tmp/viz-samples".into()),
        );
        fs::create_dir_all(&dir).unwrap();
        stacked_bars_png(&energy_chart(), &dir.join("stacked_bars.png")).unwrap();
        let mut big = energy_chart();
        big.title = "Energy per second".to_string();
        big.y_label = "energy (J/s)".to_string();
        for s in &mut big.series {
            s.values.iter_mut().for_each(|v| *v *= 3.7e4);
        }
        stacked_bars_png(&big, &dir.join("stacked_bars_large.png")).unwrap();
        let mut zeros = energy_chart();
        for s in &mut zeros.series {
            s.values.iter_mut().for_each(|v| *v = 0.0);
        }
        stacked_bars_png(&zeros, &dir.join("stacked_bars_zero.png")).unwrap();
        roofline_png(&roofline_chart(), &dir.join("roofline.png")).unwrap();
        let mut pi = Roofline::new("Roofline, Raspberry Pi 4 (model)", 2.4e10);
        pi.roofs = vec![
            ("L1 76.8 GB/s".to_string(), 76.8e9),
            ("L2 38 GB/s".to_string(), 38.0e9),
            ("DRAM 5.5 GB/s".to_string(), 5.5e9),
        ];
        pi.points = vec![
            RooflinePoint::new("frontend", 1.9, 4.1e9),
            RooflinePoint::new("backend", 12.0, 9.0e9),
            RooflinePoint::new("map", 0.35, 1.2e9),
            RooflinePoint::new("explore", 0.4, 1.5e9),
            RooflinePoint::new("idle", 0.0, 0.0),
        ];
        roofline_png(&pi, &dir.join("roofline_pi4.png")).unwrap();

        // Crowded: many categories with long names, more series than colours,
        // a small image; many decades and clustered points.
        let mut crowded = StackedBars::new(
            "A rather long title for a small chart of many bars",
            "a long unit label (mJ per frame)",
        );
        crowded.width = 480;
        crowded.height = 300;
        crowded.categories = (0..12).map(|i| format!("stage-number-{i}")).collect();
        crowded.series = (0..10)
            .map(|j| {
                BarSeries::new(
                    format!("series with a long name {j}"),
                    (0..12)
                        .map(|i| f64::from((i * 7 + j * 3) % 11) * 0.013)
                        .collect(),
                )
            })
            .collect();
        stacked_bars_png(&crowded, &dir.join("stacked_bars_crowded.png")).unwrap();
        let mut wide = Roofline::new("Wide ranges", 3.0e14);
        wide.roofs = vec![
            ("HBM".to_string(), 2.0e12),
            ("slow link".to_string(), 1.0e6),
        ];
        wide.points = (0..8)
            .map(|i| {
                RooflinePoint::new(
                    format!("kernel {i}"),
                    2.0 + f64::from(i) * 0.1,
                    1.0e9 * (1.0 + f64::from(i) * 0.05),
                )
            })
            .collect();
        roofline_png(&wide, &dir.join("roofline_wide.png")).unwrap();

        // Line charts: a trajectory top view and a quantity over time.
        line_chart_png(&trajectory_chart(), &dir.join("line_trajectory.png")).unwrap();
        line_chart_png(&error_chart(), &dir.join("line_time.png")).unwrap();
        let mut frame_ms = LineChart::new("Time per frame", "frame", "time (ms)");
        frame_ms.y_from_zero = true;
        frame_ms.width = 480;
        frame_ms.height = 300;
        frame_ms.series = vec![
            LineSeries::new(
                "frontend",
                (0..300)
                    .map(|i| (f64::from(i), 11.0 + 3.0 * (f64::from(i) * 0.21).sin().abs()))
                    .collect(),
            ),
            LineSeries::new(
                "backend",
                (0..300)
                    .map(|i| (f64::from(i), if i % 10 == 0 { 24.0 } else { 6.5 }))
                    .collect(),
            ),
        ];
        line_chart_png(&frame_ms, &dir.join("line_frame_ms.png")).unwrap();
        let mut flat = LineChart::new("Degenerate", "x", "y");
        flat.series = vec![
            LineSeries::new("one point", vec![(2.5, -1.0)]),
            LineSeries::new("empty", Vec::new()),
        ];
        line_chart_png(&flat, &dir.join("line_single_point.png")).unwrap();
        line_chart_png(
            &LineChart::new("Empty", "x (m)", "y (m)"),
            &dir.join("line_empty.png"),
        )
        .unwrap();
    }
}
