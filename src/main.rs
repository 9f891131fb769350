//! The `scout` command line.
fn main() {}
