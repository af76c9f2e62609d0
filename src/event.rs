//! The two record formats of the contract: an event (SPEC §2) and a window
//! result (SPEC §5), with the one JSON encoding and decoding every Rust part uses.

use serde::{Deserialize, Serialize};
use std::borrow::Cow;

/// Device id of the end-of-stream events (SPEC §6); the comparison ignores it.
pub const FLUSH_DEVICE: &str = "__flush__";

/// One event as it travels on `events`. Borrowed on decode so that an engine's
/// hot path does not allocate per record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event<'a> {
    #[serde(borrow)]
    pub id: Cow<'a, str>,
    #[serde(borrow)]
    pub di: Cow<'a, str>,
    pub dt: i64,
    #[serde(borrow)]
    pub c: Cow<'a, str>,
    pub m1: i64,
    pub m2: f64,
}

impl<'a> Event<'a> {
    /// Decodes one record value; `None` for anything that is not a whole, well-typed event.
    pub fn decode(bytes: &'a [u8]) -> Option<Event<'a>> {
        serde_json::from_slice(bytes).ok()
    }

    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.clear();
        serde_json::to_writer(out, self).expect("an event always encodes");
    }
}

/// One window result as engines write it on `results`; borrowed so that an
/// engine can emit without allocating.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowResult<'a> {
    #[serde(borrow)]
    pub engine: Cow<'a, str>,
    #[serde(borrow)]
    pub mode: Cow<'a, str>,
    pub window_end: i64,
    #[serde(borrow)]
    pub di: Cow<'a, str>,
    #[serde(borrow)]
    pub c: Cow<'a, str>,
    pub count: i64,
    pub m1_sum: i64,
    pub m2_sum: f64,
    pub emitted_at: i64,
}

impl WindowResult<'_> {
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.clear();
        serde_json::to_writer(out, self).expect("a result always encodes");
    }
}

/// 64-bit FNV-1a of a message id: engines remember ids by this hash, which
/// keeps dedup state small and allocation-free (collision odds ~1e-8 at 1M ids).
pub fn id_hash(id: &str) -> u64 {
    id.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_spec_example_and_round_trips() {
        let raw = br#"{"id":"56169865-cf64-408a-951e-cd7d6016de51-0","di":"56169865-cf64-408a-951e-cd7d6016de51","dt":1487662207216,"c":"cat-1","m1":33,"m2":381.230831563}"#;
        let e = Event::decode(raw).unwrap();
        assert_eq!(e.dt, 1_487_662_207_216);
        assert_eq!((e.c.as_ref(), e.m1, e.m2), ("cat-1", 33, 381.230831563));
        assert!(matches!(e.id, Cow::Borrowed(_)), "plain ids decode without allocating");
        let mut out = Vec::new();
        e.encode_into(&mut out);
        assert_eq!(out, raw.to_vec());
    }

    #[test]
    fn rejects_malformed_records() {
        for bad in [
            &b"\xff\x00garbage"[..],
            br#"{"id":"a","di":"d","dt":1,"c":"cat-1","m1":3}"#,
            br#"{"id":"a","di":"d","dt":"1","c":"cat-1","m1":3,"m2":1.0}"#,
            br#"{"id":"a","di":"d","dt":1,"c":"cat-1","m1":"x","m2":1.0}"#,
            b"",
        ] {
            assert!(Event::decode(bad).is_none(), "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn id_hash_is_stable() {
        assert_eq!(id_hash(""), 0xcbf2_9ce4_8422_2325);
        assert_ne!(id_hash("d-1"), id_hash("d-2"));
    }
}
