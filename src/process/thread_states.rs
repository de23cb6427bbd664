//! Whether a thread runs, reused while its Python stack top stays put: the scheduler state read
//! through [`crate::proc::ThreadStates`] costs a `pread` per thread and sample.
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// A thread's running state, reused while the thread shows the same Python stack top.
///
/// A thread that does not hold the GIL and whose top frame stays put is inside one C call
/// (`sleep`, `recv`, a lock, a GIL-free computation), whose state rarely flips without the call
/// returning and the stack moving. Re-reading `stat` for every such thread on every sample
/// costs ~4 µs each: ten idle threads more than doubled the cost of a 1 kHz sample. The state is
/// read again when the stack top moves, and at least every `max_age`.
#[derive(Debug)]
pub struct StateCache<M> {
    max_age: Duration,
    known: HashMap<u32, (M, bool, Instant)>,
}

impl<M: PartialEq> StateCache<M> {
    /// Reuse a state for at most `max_age`.
    pub fn new(max_age: Duration) -> Self {
        StateCache {
            max_age,
            known: HashMap::new(),
        }
    }

    /// Thread `tid`'s state at `now`: the one read for the same `mark` less than `max_age`
    /// ago, else `read()`.
    pub fn running(
        &mut self,
        tid: u32,
        mark: M,
        now: Instant,
        read: impl FnOnce() -> bool,
    ) -> bool {
        if let Some((known_mark, running, at)) = self.known.get(&tid) {
            if *known_mark == mark && now.saturating_duration_since(*at) < self.max_age {
                return *running;
            }
        }
        let running = read();
        self.known.insert(tid, (mark, running, now));
        running
    }

    /// Forget threads that are gone.
    pub fn retain(&mut self, alive: impl Fn(u32) -> bool) {
        self.known.retain(|&tid, _| alive(tid));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_cache_rereads_when_the_mark_moves_or_ages() {
        let mut cache = StateCache::new(Duration::from_millis(20));
        let t0 = Instant::now();
        let count = std::cell::Cell::new(0);
        let reads = &count;
        let read = |value: bool| {
            move || {
                reads.set(reads.get() + 1);
                value
            }
        };
        assert!(!cache.running(7, 1, t0, read(false)));
        // Same mark, young: reused (the read's answer is ignored).
        assert!(!cache.running(7, 1, t0 + Duration::from_millis(5), read(true)));
        assert_eq!(reads.get(), 1);
        // The stack moved: read again.
        assert!(cache.running(7, 2, t0 + Duration::from_millis(6), read(true)));
        // Same mark but too old: read again.
        assert!(!cache.running(7, 2, t0 + Duration::from_millis(30), read(false)));
        assert_eq!(reads.get(), 3);
        // Another thread has its own entry; a forgotten thread is read again.
        assert!(cache.running(8, 2, t0 + Duration::from_millis(30), read(true)));
        cache.retain(|tid| tid != 7);
        assert!(cache.running(7, 2, t0 + Duration::from_millis(31), read(true)));
        assert_eq!(reads.get(), 5);
    }
}
