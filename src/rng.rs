//! A tiny seeded PRNG (SplitMix64). Written out here rather than taken from a
//! crate so that "same seed, same stream, byte for byte, on every machine"
//! cannot be broken by a dependency upgrade.

#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// An independent stream for one part of a run (one device, say).
    pub fn derive(seed: u64, stream: u64) -> Self {
        let mut mixer = Rng(seed ^ stream.wrapping_mul(0xA24B_AED4_963E_E407));
        Rng(mixer.next_u64())
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform integer in [0, n).
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }

    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Uniform duration in [0, max_ms) milliseconds, whole ms.
    pub fn ms_below(&mut self, max_ms: i64) -> i64 {
        if max_ms <= 0 {
            0
        } else {
            self.below(max_ms as u64) as i64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence_and_known_first_value() {
        let a: Vec<u64> = (0..5).scan(Rng::new(34), |r, _| Some(r.next_u64())).collect();
        let b: Vec<u64> = (0..5).scan(Rng::new(34), |r, _| Some(r.next_u64())).collect();
        assert_eq!(a, b);
        // SplitMix64's published first output for seed 0, so the algorithm itself is pinned.
        assert_eq!(Rng::new(0).next_u64(), 0xE220_A839_7B1D_CDAF);
    }

    #[test]
    fn unit_and_below_stay_in_range() {
        let mut r = Rng::new(7);
        for _ in 0..10_000 {
            let u = r.unit();
            assert!((0.0..1.0).contains(&u));
            assert!(r.below(4) < 4);
        }
    }

    #[test]
    fn derived_streams_differ() {
        assert_ne!(Rng::derive(34, 0).next_u64(), Rng::derive(34, 1).next_u64());
    }
}
