//! Property-based tests of the cost crate's readers (`testkit::fuzz`): any
//! bytes in a hardware description (TOML) or a `cost.json` give a value or
//! an error naming the file, never a panic; counts read back add without
//! wrapping.

use cost::{CostLedger, CostReport, Hardware, KernelCost, OpCounts, Residence, StageReport};

#[test]
fn a_hardware_file_gives_a_model_or_an_error() {
    for (name, text) in cost::hardware::BUILTIN {
        assert!(Hardware::from_toml(text, name).is_ok(), "{name}");
        testkit::fuzz(name, text.as_bytes(), |bytes| {
            let text = String::from_utf8_lossy(bytes);
            if let Err(e) = Hardware::from_toml(&text, "hw.toml") {
                assert!(e.to_string().contains("hw.toml"), "{e}");
            }
        });
    }
}

#[test]
fn a_cost_report_gives_a_report_or_an_error() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("cost.json");
    let mut kernel = KernelCost {
        calls: 3,
        ..KernelCost::default()
    };
    kernel.add_ops(OpCounts {
        int16_mul: 7,
        f64_ops: 2,
        ..OpCounts::default()
    });
    kernel.read(Residence::Main, 640);
    kernel.write(Residence::Buffer, 64);
    let mut ledger = CostLedger::new();
    ledger.record("pyramid", kernel);
    let mut report = CostReport::new("fuzz", 10);
    report.stages.push(StageReport::from_ledger(
        "frontend", 10, "frame", 0.5, &ledger,
    ));
    report.write(&path).unwrap_or_else(|e| panic!("{e}"));
    let sample = std::fs::read(&path).unwrap_or_else(|e| panic!("{e}"));
    assert!(CostReport::read(&path).is_ok(), "the sample is refused");
    testkit::fuzz("cost.json", &sample, |bytes| {
        std::fs::write(&path, bytes).unwrap_or_else(|e| panic!("{e}"));
        if let Err(e) = CostReport::read(&path) {
            assert!(e.to_string().contains("cost.json"), "{e}");
        }
    });
}
