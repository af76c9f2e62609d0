//! The engine conformance suite: every engine the registry knows (each
//! `engines/NAME/engine.toml`), and every variant its manifest declares, runs
//! the same scenarios as a matrix against a real local broker and is held to
//! what the engine declares (the rules are in `common/conformance.rs`). A new engine is in the
//! suite by being registered: in the checkout's `engines/`, or on `$BOONTADATA_ENGINE_PATH`.

mod common;

use boontadata::engine::folder;
use common::conformance::{conformance, crash};
use libtest_mimic::{Arguments, Trial};

fn main() {
    let engines = folder::registry().expect("the engines' registry");
    let mut trials = Vec::new();
    for spec in engines {
        trials.push(Trial::test(format!("conformance_{}", spec.name), move || {
            conformance(spec, None, &[]);
            Ok(())
        }));
        for v in &spec.variants {
            trials.push(Trial::test(format!("conformance_{}_{}", spec.name, v.name), move || {
                conformance(spec, Some(v), &[]);
                Ok(())
            }));
        }
        trials.push(Trial::test(format!("crash_{}", spec.name), move || {
            crash(spec, "engine-crash", &[]);
            Ok(())
        }));
    }
    libtest_mimic::run(&Arguments::from_args(), trials).exit();
}
