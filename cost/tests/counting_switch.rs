//! The process-wide counting switch (its own test binary: the switch is
//! global, so it must not flip under other tests).

use cost::{CostLedger, KernelCost, OpCounts, Residence, counting, set_counting};

#[test]
fn ledgers_stay_empty_while_counting_is_off() {
    let mut k = KernelCost {
        calls: 2,
        ..KernelCost::default()
    };
    k.add_ops(OpCounts {
        f32_mul: 5,
        ..OpCounts::default()
    });
    k.read(Residence::Main, 64);
    let mut l = CostLedger::new();
    assert!(counting());
    l.record("a", k);
    set_counting(false);
    l.record("a", k);
    *l.kernel("b") += k;
    assert_eq!(l.kernels().count(), 1, "no kernel is added while off");
    set_counting(true);
    assert_eq!(l.total(), k, "only the first record counted");
    l.record("a", k);
    assert_eq!(l.total().ops.f32_mul, 10);
}
