//! Test support shared by the workspace's crates (a dev-dependency only).
//!
//! [`mutate`] makes the inputs of the property-based parser tests
//! (`arbtest`): a valid file with random edits, the way files go bad on a
//! robot (a cut write, a flipped byte, a line written twice, a hand edit
//! with `nan` or a 30-digit number), or now and then plain random bytes.
//! [`fuzz`] runs such a property for a time budget and checks it ran.

pub use arbtest::arbitrary::{Result, Unstructured};

/// Tokens an edit may drop in: non-finite and huge numbers, separators,
/// line ends, YAML and TOML syntax, a byte-order mark and a NUL.
pub const TOKENS: &[&str] = &[
    "nan",
    "inf",
    "-inf",
    "1e300",
    "-1e300",
    "0",
    "-0",
    "999999999999999999999999999999",
    "18446744073709551615",
    ",",
    ",,",
    "\n",
    "\r\n",
    "[",
    "]",
    "{",
    "}",
    "\"",
    "=",
    ":",
    "#",
    " ",
    "\t",
    "-",
    "e",
    ".",
    "\u{feff}",
    "\u{0}",
    "data: [",
    "rows: 1000000000",
    "cols: 0",
    "%YAML:1.0\n",
];

/// `sample` with 1 to 8 random edits (a byte replaced, a token inserted, up
/// to 64 bytes cut, the line at a point repeated, the rest cut off), or one
/// time in eight random bytes.
///
/// # Errors
/// When `u` runs out of entropy (arbtest then tries again with more).
pub fn mutate(u: &mut Unstructured<'_>, sample: &[u8]) -> Result<Vec<u8>> {
    if u.ratio(1, 8)? {
        return u.arbitrary();
    }
    let mut out = sample.to_vec();
    for _ in 0..u.int_in_range(1..=8)? {
        let at = u.int_in_range(0..=out.len())?;
        match u.int_in_range(0..=4)? {
            0 if at < out.len() => out[at] = u.arbitrary()?,
            1 => {
                let token = u.choose(TOKENS)?;
                out.splice(at..at, token.bytes());
            }
            2 => {
                let end = u.int_in_range(at..=out.len().min(at + 64))?;
                out.drain(at..end);
            }
            3 => {
                let start = out[..at]
                    .iter()
                    .rposition(|&b| b == b'\n')
                    .map_or(0, |p| p + 1);
                let end = out[at..]
                    .iter()
                    .position(|&b| b == b'\n')
                    .map_or(out.len(), |p| at + p + 1);
                let line = out[start..end].to_vec();
                out.splice(end..end, line);
            }
            _ => out.truncate(at),
        }
    }
    Ok(out)
}

/// Time each property runs for, ms: about 2000 cases of a small file on a
/// desktop core, a tenth of that under qemu.
pub const BUDGET_MS: u64 = 400;

/// Fewest cases a property must have run in [`BUDGET_MS`].
pub const MIN_CASES: usize = 30;

/// Runs `property` on mutations of `sample` ([`mutate`]) for [`BUDGET_MS`]
/// with a fresh random seed (a failure prints it, to replay with
/// `arbtest(..).seed(SEED)`), and checks it ran at least [`MIN_CASES`]
/// times. `name` labels the count printed.
///
/// # Panics
/// When the property panics, or ran too few times.
pub fn fuzz(name: &str, sample: &[u8], mut property: impl FnMut(&[u8])) {
    let mut cases = 0;
    arbtest::arbtest(|u| {
        let bytes = mutate(u, sample)?;
        property(&bytes);
        cases += 1;
        Ok(())
    })
    .budget_ms(BUDGET_MS)
    .run();
    println!("{name}: {cases} cases");
    assert!(cases >= MIN_CASES, "{name}: only {cases} cases ran");
}
