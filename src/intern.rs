//! Names seen once and referred to afterwards by number or by a shared pointer, and the hash map
//! of the per-event lookups: what lets the harness and the native engine hold millions of events
//! and rows without a string allocated per event.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// A hash map for the per-event lookups (names, ids, window cells): foldhash, seeded per process
/// (without its `std` feature, from the address space), where SipHash took ~14% of the native
/// engine's reading thread on a backlog (docs/benchmarks.md).
pub type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;
pub type FastSet<K> = HashSet<K, foldhash::fast::RandomState>;

/// Names seen once and referred to by number afterwards, numbered in the order first given: no
/// allocation per event or row.
#[derive(Debug, Default)]
pub struct Interner {
    ids: FastMap<Arc<str>, u32>,
    names: Vec<Arc<str>>,
}

impl Interner {
    pub fn id(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = self.names.len() as u32;
        let name: Arc<str> = name.into();
        self.names.push(name.clone());
        self.ids.insert(name, id);
        id
    }

    /// The name, held once however many events carry it (a log read back: few names, many events).
    pub fn shared(&mut self, name: &str) -> Arc<str> {
        let id = self.id(name);
        self.names[id as usize].clone()
    }

    pub fn name(&self, id: u32) -> &str {
        &self.names[id as usize]
    }

    /// The names, by their numbers.
    pub fn names(&self) -> &[Arc<str>] {
        &self.names
    }

    /// The names, by their numbers, handed over.
    pub fn into_names(self) -> Vec<Arc<str>> {
        self.names
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_numbered_once_in_the_order_first_given_and_shared() {
        let mut names = Interner::default();
        assert_eq!([names.id("b"), names.id("a"), names.id("b")], [0, 1, 0]);
        let (first, again) = (names.shared("a"), names.shared("a"));
        assert!(Arc::ptr_eq(&first, &again), "one allocation for a name however often it is read");
        assert_eq!((names.name(1), names.names().len()), ("a", 2));
    }
}
