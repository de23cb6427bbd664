//! A small xorshift generator for the places that need cheap, reproducible randomness: the
//! sampler's jitter, the walker's choice between two tops seen in one copy, test data. No
//! cryptographic quality, and no extra crate.

/// xorshift64 (Marsaglia): never zero once seeded.
#[derive(Debug, Clone)]
pub struct XorShift(u64);

impl XorShift {
    /// A generator from `seed` (any value; zero is made odd).
    pub fn new(seed: u64) -> Self {
        XorShift(seed | 1)
    }

    /// A generator seeded from the clock and the address of a local: different each run.
    pub fn from_time() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        let local = 0u8;
        XorShift::new(nanos ^ (&local as *const u8 as u64).rotate_left(32))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [0, n) (n = 0 is taken as 1); the modulo's bias is negligible for the small
    /// `n` of test data.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// true or false, each half the time.
    pub fn flip(&mut self) -> bool {
        self.next_u64() >> 63 == 1
    }
}

#[cfg(test)]
mod tests {
    use super::XorShift;

    #[test]
    fn flips_and_units_are_balanced() {
        let mut rng = XorShift::new(42);
        let heads = (0..100_000).filter(|_| rng.flip()).count();
        // Binomial(100000, 1/2): sigma 158; 5 sigma.
        assert!((heads as i64 - 50_000).abs() < 800, "{heads}");
        let mean = (0..100_000).map(|_| rng.unit()).sum::<f64>() / 100_000.0;
        assert!((mean - 0.5).abs() < 0.005, "{mean}");
        assert!((0..1000).all(|_| (0.0..1.0).contains(&rng.unit())));
        assert!((0..1000).all(|_| rng.below(6) < 6));
        assert_eq!(rng.below(0), 0);
    }

    #[test]
    fn same_seed_same_sequence() {
        let (mut a, mut b) = (XorShift::new(7), XorShift::new(6));
        // 6 and 7 differ only in the bit that seeding sets.
        assert!((0..100).all(|_| a.next_u64() == b.next_u64()));
    }
}
