//! Which code RSS growth is charged to.
//!
//! With page-fault events (see [`crate::perf::faults`]) the kernel names the thread that grew
//! memory, and its stack is read at once: the growth measured at that wake-up (the RSS change
//! since the previous reading) goes to the stacks of the threads that faulted, in proportion to
//! their faults. A thread whose faults had already stopped by the time its stack was read may
//! have returned from the code that grew (a 2 MiB allocation takes a few hundred microseconds,
//! a wake-up 20-70): its growth then goes to the stack read at its last wake-up while it was
//! still faulting, if that was within [`BURST`]. Growth a regular tick sees shortly after goes
//! to the same stacks (the tail of a burst, under one record).
//!
//! Without them (refused, or not asked for), the interval rule: half of each change to the
//! stacks running at either end of the interval.
use std::collections::HashMap;
use std::time::Duration;

use serde::Serialize;

/// How long a thread's growth is taken to continue the same burst.
pub const BURST: Duration = Duration::from_millis(50);

/// How a recording charges RSS changes to stacks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "rule", rename_all = "kebab-case")]
pub enum Attribution {
    /// Page-fault events: growth to the threads that faulted, their stacks read at the fault.
    PageFaults {
        /// Faults per record.
        period: u64,
    },
    /// The interval rule, and why.
    Interval {
        /// Why page-fault events are not in use.
        why: String,
    },
}

impl Default for Attribution {
    fn default() -> Self {
        Attribution::interval("page-fault events not in use")
    }
}

impl Attribution {
    /// The interval rule, because `why`.
    pub fn interval(why: &str) -> Self {
        Attribution::Interval { why: why.into() }
    }

    /// One line for summaries and headers.
    pub fn describe(&self) -> String {
        match self {
            Attribution::PageFaults { period } => format!(
                "memory growth charged to the threads that took the page faults (a record every \
                 {period} faults)"
            ),
            Attribution::Interval { why } => format!(
                "memory growth charged to the stacks around each RSS change (interval rule: {why})"
            ),
        }
    }
}

/// One faulting thread at a wake-up: its stack now (an interned id; `None` without Python
/// frames), its faults, and whether it was still faulting when read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Faulted {
    /// Stack read at the wake-up.
    pub stack: Option<u32>,
    /// Thread id.
    pub tid: u32,
    /// Faults since its last wake-up.
    pub faults: u64,
    /// Still faulting when read.
    pub growing: bool,
}

/// The state of the page-fault rule across wake-ups.
#[derive(Debug, Clone, Default)]
pub struct FaultCharges {
    /// Per thread: the last wake-up at which it was still faulting, and its stack then.
    growing: HashMap<u32, (Duration, u32)>,
    /// The last wake-up's shares (stack, weight), for the growth a regular tick sees after it.
    recent: Option<(Duration, Vec<(u32, u64)>)>,
}

impl FaultCharges {
    /// The stacks a wake-up at `at` charges its growth to, with weights.
    pub fn on_fault(&mut self, at: Duration, threads: &[Faulted]) -> Vec<(u32, u64)> {
        let mut shares: Vec<(u32, u64)> = Vec::new();
        for t in threads {
            let earlier = self
                .growing
                .get(&t.tid)
                .filter(|(when, _)| at.saturating_sub(*when) <= BURST)
                .map(|&(_, stack)| stack);
            let stack = match (t.growing, t.stack) {
                (true, Some(now)) => {
                    self.growing.insert(t.tid, (at, now));
                    Some(now)
                }
                _ => earlier.or(t.stack),
            };
            if let Some(stack) = stack {
                match shares.iter_mut().find(|s| s.0 == stack) {
                    Some(s) => s.1 += t.faults,
                    None => shares.push((stack, t.faults)),
                }
            }
        }
        if !shares.is_empty() {
            self.recent = Some((at, shares.clone()));
        }
        shares
    }

    /// Where growth seen by a regular tick at `at` goes: the last wake-up's stacks, if it was
    /// within [`BURST`].
    pub fn after_fault(&self, at: Duration) -> Option<&[(u32, u64)]> {
        self.recent
            .as_ref()
            .filter(|(when, _)| at.saturating_sub(*when) <= BURST)
            .map(|(_, shares)| &shares[..])
    }
}

/// Split `bytes` over weighted shares so that they add up exactly (the remainder, a few bytes,
/// to the first shares).
pub fn split_weighted(bytes: u64, shares: &[(u32, u64)]) -> Vec<(u32, u64)> {
    let total: u128 = shares.iter().map(|s| u128::from(s.1)).sum();
    if total == 0 {
        return Vec::new();
    }
    let mut out: Vec<(u32, u64)> = shares
        .iter()
        .map(|&(id, w)| (id, (u128::from(bytes) * u128::from(w) / total) as u64))
        .collect();
    let mut rest = bytes - out.iter().map(|s| s.1).sum::<u64>();
    for share in out.iter_mut() {
        if rest == 0 {
            break;
        }
        share.1 += 1;
        rest -= 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn t(tid: u32, stack: u32, faults: u64, growing: bool) -> Faulted {
        Faulted {
            stack: Some(stack),
            tid,
            faults,
            growing,
        }
    }

    #[test]
    fn weighted_split_adds_up_exactly() {
        let out = split_weighted(1000, &[(1, 1), (2, 2)]);
        assert_eq!(out, vec![(1, 334), (2, 666)]);
        assert_eq!(
            split_weighted(7, &[(1, 1), (2, 1), (3, 1)]),
            vec![(1, 3), (2, 2), (3, 2)]
        );
        assert!(split_weighted(5, &[(1, 0)]).is_empty());
        assert_eq!(
            split_weighted(u64::MAX, &[(1, u64::MAX), (2, 1)])
                .iter()
                .map(|s| s.1)
                .sum::<u64>(),
            u64::MAX
        );
    }

    #[test]
    fn growth_goes_to_the_stack_read_while_faulting() {
        let mut c = FaultCharges::default();
        // A 2 MiB allocation: three wake-ups read it still faulting in alloc (stack 7) ...
        for k in 0..3 {
            assert_eq!(c.on_fault(ms(k), &[t(1, 7, 64, true)]), vec![(7, 64)]);
        }
        // ... the last one after it returned to a CPU loop (stack 9), faults over: alloc's.
        assert_eq!(c.on_fault(ms(3), &[t(1, 9, 64, false)]), vec![(7, 64)]);
        // The tail a regular tick sees just after: alloc's too; long after: nobody's.
        assert_eq!(c.after_fault(ms(10)), Some(&[(7, 64)][..]));
        assert_eq!(c.after_fault(ms(100)), None);
        // Much later, a short burst that ended before its read: no earlier stack in the burst,
        // so the stack read is the best there is.
        assert_eq!(c.on_fault(ms(500), &[t(1, 9, 64, false)]), vec![(9, 64)]);
    }

    #[test]
    fn threads_share_by_their_faults_and_are_never_mixed_up() {
        let mut c = FaultCharges::default();
        c.on_fault(ms(0), &[t(2, 20, 64, true)]);
        let shares = c.on_fault(ms(1), &[t(1, 10, 192, true), t(2, 21, 64, false)]);
        // Thread 2 stopped faulting: its share goes to its stack read while it grew (20).
        assert_eq!(shares, vec![(10, 192), (20, 64)]);
        assert_eq!(split_weighted(4096, &shares), vec![(10, 3072), (20, 1024)]);
        // A thread without Python frames when read, never seen growing: no share.
        let none = Faulted {
            stack: None,
            tid: 3,
            faults: 64,
            growing: true,
        };
        assert_eq!(c.on_fault(ms(2), &[none]), vec![]);
    }
}
