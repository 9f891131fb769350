//! Speckle removal: small islands of disparity are dropped.
//!
//! A wrong match rarely comes alone, but it rarely covers much of the image
//! either: a patch of a few dozen pixels whose disparities agree with each
//! other and not with anything around them (a repeated texture matched one
//! period off, an occlusion band, a reflection). Real surfaces are larger
//! connected regions of smoothly varying disparity. So the valid pixels are
//! grouped into 4-connected regions whose neighbours differ by at most
//! `max_diff` (1/16 px), and the regions of fewer than `max_size` pixels are
//! marked invalid: the map then gets no hit there, and no free space carved
//! up to a wrong depth. This is the post-filter of Hirschmüller's SGM
//! (TPAMI 2008, section 3.4, "peak filtering") and of OpenCV's
//! `filterSpeckles`; the region grows with an explicit stack, one pass over
//! the image, no recursion.
//!
//! Units: disparities in 1/16 rectified pixels, [`DisparityImage::INVALID`]
//! where there is none.

use super::DisparityImage;

/// Scratch for [`remove_speckles`], kept between frames.
#[derive(Debug, Clone, Default)]
pub(crate) struct SpeckleScratch {
    /// 0: not visited yet; else the region's label.
    labels: Vec<u32>,
    /// The pixels of the region being grown (also its stack).
    region: Vec<u32>,
}

impl SpeckleScratch {
    /// Bytes held.
    pub(crate) fn bytes(&self) -> usize {
        4 * (self.labels.capacity() + self.region.capacity())
    }
}

/// Marks invalid every 4-connected region of `disparity` (row-major,
/// `width` wide) with fewer than `max_size` pixels, neighbours in a region
/// differing by at most `max_diff`. Returns the pixels removed and the
/// pixels visited.
pub(crate) fn remove_speckles(
    disparity: &mut [u16],
    width: usize,
    max_size: usize,
    max_diff: u16,
    scratch: &mut SpeckleScratch,
) -> (u64, u64) {
    const INVALID: u16 = DisparityImage::INVALID;
    if max_size == 0 || width == 0 {
        return (0, 0);
    }
    let n = disparity.len();
    let height = n / width;
    scratch.labels.clear();
    scratch.labels.resize(n, 0);
    let (mut removed, mut visited) = (0u64, 0u64);
    let mut label = 0u32;
    for seed in 0..n {
        if disparity[seed] == INVALID || scratch.labels[seed] != 0 {
            continue;
        }
        label += 1;
        scratch.labels[seed] = label;
        scratch.region.clear();
        scratch.region.push(seed as u32);
        let mut next = 0;
        while next < scratch.region.len() {
            let i = scratch.region[next] as usize;
            next += 1;
            let (x, y) = (i % width, i / width);
            let d = disparity[i];
            let mut visit = |j: usize| {
                let dj = disparity[j];
                if dj != INVALID && scratch.labels[j] == 0 && dj.abs_diff(d) <= max_diff {
                    scratch.labels[j] = label;
                    scratch.region.push(j as u32);
                }
            };
            if x > 0 {
                visit(i - 1);
            }
            if x + 1 < width {
                visit(i + 1);
            }
            if y > 0 {
                visit(i - width);
            }
            if y + 1 < height {
                visit(i + width);
            }
        }
        visited += scratch.region.len() as u64;
        if scratch.region.len() < max_size {
            removed += scratch.region.len() as u64;
            for &i in &scratch.region {
                disparity[i as usize] = INVALID;
            }
        }
    }
    (removed, visited)
}

#[cfg(test)]
mod tests {
    use super::*;

    const I: u16 = DisparityImage::INVALID;

    #[test]
    fn small_islands_go_and_large_smooth_regions_stay() {
        // 8 x 5: a smooth ramp over the left 5 columns (one step of 8 per
        // column, 25 pixels), a 2-pixel island of 400 in it, a lone pixel
        // on the right, invalid elsewhere.
        let w = 8;
        let mut d = vec![I; w * 5];
        for y in 0..5 {
            for x in 0..5 {
                d[y * w + x] = 160 + 8 * x as u16;
            }
        }
        d[2 * w + 2] = 400;
        d[2 * w + 3] = 404;
        d[4 * w + 7] = 170;
        let mut scratch = SpeckleScratch::default();
        let before = d.clone();
        let (removed, visited) = remove_speckles(&mut d, w, 4, 16, &mut scratch);
        assert_eq!((removed, visited), (3, 26));
        assert_eq!(d[2 * w + 2], I);
        assert_eq!(d[2 * w + 3], I);
        assert_eq!(d[4 * w + 7], I);
        for (i, (&a, &b)) in d.iter().zip(&before).enumerate() {
            if ![2 * w + 2, 2 * w + 3, 4 * w + 7].contains(&i) {
                assert_eq!(a, b, "pixel {i}");
            }
        }
        // A region of exactly max_size stays; max_size 0 turns it off.
        let mut again = before.clone();
        assert_eq!(remove_speckles(&mut again, w, 2, 16, &mut scratch).0, 1);
        let mut off = before.clone();
        assert_eq!(remove_speckles(&mut off, w, 0, 16, &mut scratch), (0, 0));
        assert_eq!(off, before);
        // A step larger than max_diff splits the ramp into single columns.
        let mut steep = before;
        let (removed, _) = remove_speckles(&mut steep, w, 6, 7, &mut scratch);
        assert_eq!(removed, 26);
    }
}
