//! Seeded planning grids for the tests and the benchmark: what a planner
//! meets (unknown space, free cells observed one to six times, occupied blobs
//! observed one to four times), or every int8 value at random.

use mapping::QuantizedModel;
use mapping::logodds::UNKNOWN_I8;

use crate::Result;
use crate::grid::Grid2;

/// A small deterministic generator (SplitMix64; Steele, Lea & Flood, OOPSLA
/// 2014).
#[derive(Debug, Clone)]
pub struct SplitMix(pub u64);

impl SplitMix {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A `side` x `side` grid of cells `res` m with a `border`, filled from `rng`:
/// one time in three every cell holds a uniformly random byte, otherwise 35 %
/// of cells are unknown, 50 % free (1 to 6 misses) and 15 % occupied (1 to 4
/// hits) under `model`.
///
/// # Errors
/// As [`Grid2::new`].
pub fn random_grid(
    rng: &mut SplitMix,
    model: QuantizedModel,
    side: usize,
    border: usize,
    res: f64,
) -> Result<Grid2> {
    let mut g = Grid2::new([0, 0], side, side, border, res, model)?;
    let uniform = rng.next_u64().is_multiple_of(3);
    let observed = |rng: &mut SplitMix, hit: bool, most: u64| {
        (0..1 + rng.next_u64() % most).fold(0i8, |v, _| model.update(v, hit))
    };
    for row in 0..side {
        for col in 0..side {
            let u = rng.unit();
            let v = if uniform {
                (rng.next_u64() % 256) as u8 as i8
            } else if u < 0.35 {
                UNKNOWN_I8
            } else if u < 0.85 {
                observed(rng, false, 6)
            } else {
                observed(rng, true, 4)
            };
            g.set(col, row, v);
        }
    }
    Ok(g)
}
