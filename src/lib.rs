//! boontadata: does a stream engine give the right answer when devices send
//! duplicates, out-of-order and late events — and how fast? `docs/SPEC.md` is
//! the contract every part keeps. Read from the top down, each module one job:
//!
//! | layer | module | its job |
//! |---|---|---|
//! | command line | `cli` (and `main.rs`) | every command's options, and the dispatch to each command |
//! | running | `run` | one run in its phases (`prepare`, `drive`, `crash`, `gather`, `keep`); the simulator alone (`run::inject`); scenarios in turn (`run::matrix`); a bench's sitting (`run::bench`, `baselines`) |
//! | reporting | `report` | the matrix's and the bench's files and pages, written and read back |
//! | | `html` | the self-contained HTML pages and their pictures, inline SVG (pure) |
//! | | `matrix`, `bench` | what a matrix and a sitting measured, and how each reads as text (pure) |
//! | | `sustainable` | the sustainable-rate search: the next probe, kept up or not (pure) |
//! | evaluating | `evaluate` | a stored run's comparisons and summary, as `run` and `compare` print them (pure) |
//! | | `summary` | a run's summary rows, as a terminal shows them (pure) |
//! | | `compare` | the join of truth and results, and the `why` of every difference (pure) |
//! | | `truth` | the truth in both views, from the event log (pure) |
//! | | `groups` | a run by groups of devices, and runs held as numbers (pure) |
//! | the stream | `inject` | sending a plan to a broker, paced, with its flush events |
//! | | `simulate`, `scenario`, `rng` | the simulator's seeded plan, its scenarios, its random numbers (pure) |
//! | engines | `engine` | the engines' manifests and `--engines` (pure), the job's flags and lines (`engine::protocol`, pure), their folders and the engine path (`engine::folder`), an engine process (`engine::running`), a new engine's folder (`engine::scaffold`) |
//! | | `engines` | the engines built into this binary, each in its folder of `engines/` |
//! | the outside | `collect` | the collector: what it keeps of a result (`collect::rows`, pure) and its reads of the results topics |
//! | | `store` | the `Store` interface and its backends: SQLite, PostgreSQL, Cassandra (and a local Cassandra node) |
//! | | `broker` | the local broker: Apache Kafka (one node or a cluster) or tansu |
//! | | `kafka` | the one Kafka layer every Rust part uses |
//! | | `process` | child processes: started to die with the harness, their ports, stopped by PID, measured |
//! | | `progress` | what a person sees while a command runs: its status on stderr, live on a terminal, a line per step in a log; the harness's own lines (`say!`) above it |
//! | | `install`, `phases`, `clock` | what is installed where; the time and memory of a command's phases; the wall clock |
//! | the contract | `model` | the contract's records, depending on nothing of the project's |
//! | | `intern`, `format` | names held once; how times and numbers are written for a person (pure) |
//!
//! `tests/layout.rs` holds the pure modules to doing no I/O (no I/O crate, no file or process
//! call) and the module graph to having no cycle.

pub mod bench;
pub mod broker;
pub mod cli;
pub mod clock;
pub mod collect;
pub mod compare;
pub mod engine;
pub mod evaluate;
pub mod format;
pub mod groups;
pub mod html;
pub mod inject;
pub mod install;
pub mod intern;
pub mod kafka;
pub mod matrix;
pub mod model;
pub mod phases;
pub mod process;
pub mod progress;
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
