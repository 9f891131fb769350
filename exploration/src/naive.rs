//! The naive reference for a beam's mutual information: Shannon MI by
//! numerical integration over the range reading, as Julian, Karaman and Rus
//! compute it ("On mutual information-based control of range sensing robots
//! for mapping applications", IJRR 2014), used only to test [`crate::mi`].
//!
//! For every reading `z` on a fine grid (`samples_per_cell` midpoints per
//! cell, from where the noise of the nearest cell has died out to where that
//! of the farthest has), it evaluates the density
//! `p(z) = sum_j P(e_j) p(z | e_j)` from the noise model's density (not its
//! cell integrals), applies the map's own update for that reading to every
//! cell of the beam, and sums each cell's Kullback-Leibler divergence from its
//! prior, in f64; `I = integral p(z) info(z) dz` plus the no-return event.
//! Nothing is tabulated or filtered, so it shares no shortcut with FSMI: only
//! the beam model (cells, events, the update rule) is the same.
//! Cost: O(n^2 samples_per_cell) with transcendental functions inside.

use mapping::QuantizedModel;

use crate::mi::{RangeNoise, bernoulli_kl_bits, probability};

/// Mutual information (bits) between the cells `values` (in beam order, cells
/// `res` m long) and one reading with `noise`, integrated with
/// `samples_per_cell` points per cell.
#[must_use]
pub fn beam_mi(
    values: &[i8],
    model: &QuantizedModel,
    noise: &RangeNoise,
    res: f64,
    samples_per_cell: usize,
) -> f64 {
    let n = values.len();
    let prior: Vec<f64> = values.iter().map(|&v| probability(model, v)).collect();
    // P(e_j), and the no-return probability.
    let mut occurrence = Vec::with_capacity(n);
    let mut no_return = 1.0;
    for &o in &prior {
        occurrence.push(no_return * o);
        no_return *= 1.0 - o;
    }
    // The information of a reading in cell k (k = n: beyond the beam), by
    // updating every cell as the map would.
    let info_of = |k: usize| -> f64 {
        (0..n.min(k + 1))
            .map(|i| {
                let posterior = probability(model, model.update(values[i], i == k));
                bernoulli_kl_bits(posterior, prior[i])
            })
            .sum()
    };
    // Densities of the reading given each event, over [lo, hi) m.
    let (density, reach): (Box<dyn Fn(f64, f64) -> f64>, f64) = match *noise {
        RangeNoise::Gaussian { sigma_m, .. } => (
            Box::new(move |z: f64, mean: f64| {
                let u = (z - mean) / sigma_m;
                (-0.5 * u * u).exp() / (sigma_m * (2.0 * std::f64::consts::PI).sqrt())
            }),
            8.0 * sigma_m,
        ),
        RangeNoise::Uniform { half_width_cells } => {
            let half = (half_width_cells as f64 + 0.5) * res;
            (
                Box::new(move |z: f64, mean: f64| {
                    if (z - mean).abs() < half {
                        0.5 / half
                    } else {
                        0.0
                    }
                }),
                half + res,
            )
        }
    };
    let dz = res / samples_per_cell.max(1) as f64;
    let lo = -reach;
    let hi = n as f64 * res + reach;
    let steps = ((hi - lo) / dz).ceil() as usize;
    let mut mi = 0.0;
    for s in 0..steps {
        let z = lo + (s as f64 + 0.5) * dz;
        let p: f64 = (0..n)
            .map(|j| occurrence[j] * density(z, (j as f64 + 0.5) * res))
            .sum();
        if p == 0.0 || z < 0.0 {
            continue;
        }
        let k = ((z / res) as usize).min(n);
        mi += p * info_of(k) * dz;
    }
    mi + no_return * info_of(n)
}
