//! A small, fast, non-cryptographic hasher for hot maps keyed by integers and pointers (the
//! walker's visited-frame sets, the profile's frame interning). The default SipHash costs more
//! than the work it guards there. Same idea as rustc's FxHash: multiply and rotate per word.
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

/// The hasher state.
#[derive(Debug, Default, Clone, Copy)]
pub struct FastHasher(u64);

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl Hasher for FastHasher {
    fn finish(&self) -> u64 {
        // The multiply leaves the low bits of aligned pointers zero; hash tables index buckets
        // with the low bits, so bring well-mixed high bits down.
        self.0.rotate_left(26)
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(SEED);
    }

    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
}

/// A `HashMap` with [`FastHasher`].
pub type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FastHasher>>;
/// A `HashSet` with [`FastHasher`].
pub type FastSet<T> = HashSet<T, BuildHasherDefault<FastHasher>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_work_and_spread() {
        let mut m: FastMap<u64, u64> = FastMap::default();
        for i in 0..10_000u64 {
            m.insert(i * 8 + 0x7f00_0000_0000, i);
        }
        assert_eq!(m.len(), 10_000);
        assert_eq!(m[&(0x7f00_0000_0000 + 80)], 10);
        // Aligned pointers must not collide into few buckets: low and high bits of hashes vary.
        let hashes: Vec<u64> = (0..1024u64)
            .map(|i| {
                let mut h = FastHasher::default();
                h.write_u64(0x7f00_0000_0000 + i * 16);
                h.finish()
            })
            .collect();
        let low: FastSet<u64> = hashes.iter().map(|h| h & 1023).collect();
        let high: FastSet<u64> = hashes.iter().map(|h| h >> 57).collect();
        assert!(low.len() > 500, "low bits: {}", low.len());
        assert!(high.len() > 100, "high bits: {}", high.len());
    }
}
