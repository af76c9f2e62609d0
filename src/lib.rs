//! boontadata: does a stream engine give the right answer when devices send
//! duplicates, out-of-order and late events — and how fast? The harness is
//! split by what each part does; `../shared/SPEC.md` is their contract.

pub mod broker;
pub mod collect;
pub mod compare;
pub mod engine;
pub mod event;
pub mod html;
pub mod inject;
pub mod kafka;
pub mod matrix;
pub mod process;
pub mod report;
pub mod rng;
pub mod run;
pub mod scenario;
pub mod simulate;
pub mod store;
pub mod truth;
pub mod window;

/// The engines written in Rust; each has its own folder under `engines/`.
#[path = "../engines/mod.rs"]
pub mod engines;
