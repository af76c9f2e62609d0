//! The engines written in Rust and run by this binary (`boontadata engine NAME`).
//! Engines of other ecosystems live beside these folders, each in its own idiom.

pub mod native;
pub mod timely;
