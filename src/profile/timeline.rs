//! Stack weights per stretch of time, so a report can re-draw flamegraphs for any time range.
//! The number of buckets is bounded: when full, neighbours merge and the width doubles.
use std::collections::HashMap;
use std::time::Duration;

use super::Weights;

/// Most buckets kept.
pub const MAX_BUCKETS: usize = 512;

/// Weights of the stacks seen in one stretch of time.
#[derive(Debug, Clone, Default)]
pub struct Bucket {
    /// Stack id (index into `Profile::stack_keys`) → weights in this stretch.
    pub stacks: HashMap<u32, Weights>,
    /// Samples (ticks) in this stretch.
    pub ticks: u64,
}

/// Buckets of equal width from the start of the recording.
#[derive(Debug, Clone)]
pub struct Timeline {
    /// Width of each bucket.
    pub width: Duration,
    /// Buckets, oldest first; bucket i covers [i·width, (i+1)·width).
    pub buckets: Vec<Bucket>,
}

impl Default for Timeline {
    fn default() -> Self {
        Timeline {
            width: Duration::from_millis(50),
            buckets: Vec::new(),
        }
    }
}

impl Timeline {
    /// The bucket for time `at`, merging old buckets first if `at` lies beyond the last one.
    pub fn bucket_at(&mut self, at: Duration) -> &mut Bucket {
        let mut index = (at.as_nanos() / self.width.as_nanos().max(1)) as usize;
        while index >= MAX_BUCKETS {
            self.merge_pairs();
            index = (at.as_nanos() / self.width.as_nanos().max(1)) as usize;
        }
        if self.buckets.len() <= index {
            self.buckets.resize_with(index + 1, Bucket::default);
        }
        &mut self.buckets[index]
    }

    fn merge_pairs(&mut self) {
        let old = std::mem::take(&mut self.buckets);
        let mut it = old.into_iter();
        while let Some(mut a) = it.next() {
            if let Some(b) = it.next() {
                a.ticks += b.ticks;
                for (id, w) in b.stacks {
                    a.stacks.entry(id).or_default().add(&w);
                }
            }
            self.buckets.push(a);
        }
        self.width *= 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merging_keeps_totals() {
        let mut t = Timeline::default();
        for ms in 0..200_000u64 {
            let b = t.bucket_at(Duration::from_millis(ms));
            b.ticks += 1;
            b.stacks.entry((ms % 3) as u32).or_default().samples += 1;
        }
        assert!(t.buckets.len() <= MAX_BUCKETS);
        assert_eq!(t.buckets.iter().map(|b| b.ticks).sum::<u64>(), 200_000);
        let total: u64 = t
            .buckets
            .iter()
            .flat_map(|b| b.stacks.values())
            .map(|w| w.samples)
            .sum();
        assert_eq!(total, 200_000);
        assert!(t.width >= Duration::from_millis(200_000 / MAX_BUCKETS as u64));
    }
}
