//! Every engine runs the same conformance suite against a real broker.

mod common;

use common::conformance;

#[test]
fn native_conformance() {
    conformance("native", &[]);
}

#[test]
fn timely_conformance_one_worker() {
    conformance("timely", &[]);
}

#[test]
fn timely_conformance_two_workers() {
    conformance("timely", &["--timely-workers", "2"]);
}

#[test]
fn timely_conformance_two_process_cluster() {
    conformance("timely", &["--timely-processes", "2"]);
}
