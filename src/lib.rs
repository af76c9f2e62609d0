//! boontadata: does a stream engine give the right answer when devices send
//! duplicates, out-of-order and late events — and how fast? `docs/SPEC.md` is
//! the contract every part keeps. Each module does one of three things:
//!
//! | kind | modules |
//! |---|---|
//! | the contract's records | `model` (depends on nothing of the project's) |
//! | pure logic | `rng`, `scenario`, `simulate`, `truth`, `compare`, `summary`, `sustainable`, `evaluate`, `matrix`, `html`, `engine` (manifests), `engine::protocol`, `collect::rows` |
//! | I/O | `bench`, `clock`, `install`, `kafka`, `broker`, `process`, `phases`, `inject`, `collect`, `store`, `engine::folder`, `engine::running`, `report`, `run` |
//! | command line | `cli` (and `main.rs`, which dispatches) |
//!
//! `tests/layout.rs` holds the pure modules to that (no I/O crate, no file or
//! process call) and the module graph to having no cycle.

pub mod bench;
pub mod broker;
pub mod cli;
pub mod clock;
pub mod collect;
pub mod compare;
pub mod engine;
pub mod evaluate;
pub mod html;
pub mod inject;
pub mod install;
pub mod kafka;
pub mod matrix;
pub mod model;
pub mod phases;
pub mod process;
pub mod report;
pub mod rng;
pub mod run;
pub mod scenario;
pub mod simulate;
pub mod store;
pub mod summary;
pub mod sustainable;
pub mod truth;

/// The engines written in Rust; each has its own folder under `engines/`.
#[path = "../engines/mod.rs"]
pub mod engines;
