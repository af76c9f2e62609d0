//! A run end to end, as a user runs it: what it prints, and `compare` printing it again from the store.

mod common;

use common::boontadata;

#[test]
fn compare_prints_again_exactly_what_run_printed() {
    let out = common::out_dir("compare-again");
    let run = boontadata().args(["run", "--engines", "native", "--scenario", "late-beyond", "--messages", "60", "--out"]).arg(&out).output().unwrap();
    let printed = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success(), "{printed}\n{}", String::from_utf8_lossy(&run.stderr));
    assert!(printed.contains("== native event-time") && printed.contains("== native processing-time") && printed.contains("late event"), "{printed}");
    let store = format!("sqlite:{}", out.join("boontadata.sqlite").display());
    let again = boontadata().args(["compare", "--store", &store]).output().unwrap();
    assert_eq!(again.status.code(), run.status.code());
    let again = String::from_utf8_lossy(&again.stdout).replace(&store, "STORE");
    assert_eq!(again, printed.replace(&store, "STORE"), "compare reads the store and prints what run printed");
}
