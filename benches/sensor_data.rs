//! Cost of producing sensor data: decoding a stored EuRoC-size stereo pair (what
//! `scout replay` pays per frame), rendering a synthetic one, and encoding one.
//!
//! `cargo bench --bench sensor_data`. Compare the three in the same run: the
//! machine is shared, absolute times drift, ratios hold.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use datasets::euroc::{EurocDataset, EurocWriter};
use datasets::synth::{Difficulty, SynthConfig, SyntheticSequence};

fn sensor_data(c: &mut Criterion) {
    let cfg = SynthConfig {
        seed: 5,
        duration_s: 3.0,
        difficulty: Difficulty::Medium,
        ..SynthConfig::default()
    };
    let Ok(seq) = SyntheticSequence::generate(&cfg) else {
        eprintln!("cannot generate the synthetic sequence");
        return;
    };
    let mut frame = seq.new_frame();
    let mid = seq.frame_count() / 2;
    c.bench_function("render synthetic stereo pair 752x480", |b| {
        b.iter(|| seq.render_stereo(black_box(mid), &mut frame))
    });

    let Ok(dir) = tempfile::tempdir() else { return };
    let Ok(mut writer) = EurocWriter::create(dir.path(), &seq.calibration) else {
        return;
    };
    let mut t = frame.t_ns;
    c.bench_function("encode + write stereo pair PNG", |b| {
        b.iter(|| {
            t += 1;
            frame.t_ns = t;
            writer.write_stereo(&frame)
        })
    });
    let _ = writer.write_imu(&seq.imu[..1]);
    let _ = writer.finish();

    let Ok(ds) = EurocDataset::open(dir.path()) else {
        return;
    };
    let mut decoded = seq.new_frame();
    c.bench_function("read + decode stereo pair PNG", |b| {
        b.iter(|| ds.load_stereo_into(black_box(0), &mut decoded))
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = sensor_data
}
criterion_main!(benches);
