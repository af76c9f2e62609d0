//! Every engine runs the same conformance suite against a real broker.

mod common;

#[test]
fn native_conformance() {
    common::conformance("native");
}

#[test]
fn spark_conformance() {
    common::conformance("spark");
}
