//! scratch
use exploration::mi::{CellFormula, CellTable};
use mapping::{OccupancyParams, QuantizedModel};

#[test]
fn scratch_errors() {
    for params in [
        OccupancyParams::default(),
        OccupancyParams {
            hit: 0.95,
            miss: 0.1,
            clamp_min: 0.001,
            clamp_max: 0.999,
            threshold: 0.5,
        },
        OccupancyParams {
            clamp_min: 0.001,
            clamp_max: 0.999,
            ..OccupancyParams::default()
        },
    ] {
        let m = QuantizedModel::new(&params).unwrap();
        let (t, f) = (CellTable::new(&m), CellFormula::new(&m));
        let mut worst = [(0.0f64, 0i32, 0.0f32, 0.0f32); 4];
        for b in 0..256 {
            let v = b as u8 as i8;
            let (a, c) = (t.get(v), f.get(v));
            for (i, (x, y)) in [
                (a.occupied, c.occupied),
                (a.free, c.free),
                (a.hit_bits, c.hit_bits),
                (a.miss_bits, c.miss_bits),
            ]
            .into_iter()
            .enumerate()
            {
                let rel = if x == y {
                    0.0
                } else {
                    f64::from((x - y).abs()) / f64::from(x.abs())
                };
                if rel > worst[i].0 {
                    worst[i] = (rel, i32::from(v), x, y);
                }
            }
        }
        println!("{m:?}");
        for (name, w) in ["o", "1-o", "hit", "miss"].iter().zip(worst) {
            println!("  {name}: rel {:.3e} at {} ({} vs {})", w.0, w.1, w.2, w.3);
        }
    }
}
