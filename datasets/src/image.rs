//! 8-bit grayscale images, the only pixel format the pipeline consumes.
//!
//! Pixels are stored row-major with no padding: pixel `(x, y)` (column, row, origin
//! at the top-left pixel's centre) is `data[y * width + x]`. Images are 8-bit
//! because camera data is 8-bit and integer image kernels move 4x fewer bytes than
//! f32 ones; 16-bit sources (TUM-VI) are reduced to their high byte on load.

/// An owned 8-bit grayscale image.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct GrayImage {
    width: usize,
    height: usize,
    data: Vec<u8>,
}

impl std::fmt::Debug for GrayImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GrayImage({}x{})", self.width, self.height)
    }
}

impl GrayImage {
    /// A black image.
    #[must_use]
    pub fn new(width: usize, height: usize) -> Self {
        Self {
            width,
            height,
            data: vec![0; width * height],
        }
    }

    /// Wraps a row-major buffer; `None` when its length is not `width * height`.
    #[must_use]
    pub fn from_vec(width: usize, height: usize, data: Vec<u8>) -> Option<Self> {
        (data.len() == width * height).then_some(Self {
            width,
            height,
            data,
        })
    }

    /// Width in pixels.
    #[must_use]
    pub fn width(&self) -> usize {
        self.width
    }

    /// Height in pixels.
    #[must_use]
    pub fn height(&self) -> usize {
        self.height
    }

    /// The pixels, row-major.
    #[must_use]
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// The pixels, row-major, mutable.
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.data
    }

    /// Gives the buffer back.
    #[must_use]
    pub fn into_vec(self) -> Vec<u8> {
        self.data
    }

    /// Pixel at column `x`, row `y`; `None` outside the image.
    #[must_use]
    pub fn get(&self, x: usize, y: usize) -> Option<u8> {
        (x < self.width && y < self.height).then(|| self.data[y * self.width + x])
    }

    /// One row.
    ///
    /// # Panics
    /// If `y >= height` (a caller bug, not a data problem).
    #[must_use]
    pub fn row(&self, y: usize) -> &[u8] {
        &self.data[y * self.width..(y + 1) * self.width]
    }

    /// Mean intensity, in grey levels.
    #[must_use]
    pub fn mean(&self) -> f64 {
        if self.data.is_empty() {
            return 0.0;
        }
        self.data.iter().map(|&v| f64::from(v)).sum::<f64>() / self.data.len() as f64
    }
}
