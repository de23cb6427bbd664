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
//! Without them (refused, or not asked for), per-thread fault counts: when RSS grew between two
//! readings, each thread's count of page faults (`minflt` + `majflt` of its
//! `/proc/PID/task/TID/stat`) says which threads grew it, and by how much each. The growth goes
//! to those threads in proportion to their faults, each to its stack read at the end of the
//! interval (after the growth: code that allocates and keeps working, or sleeps, is still
//! there), or to its stack at the start if it had no Python frames at the end
//! ([`by_fault_counts`]). The counts do not say *when* in the interval a thread faulted, so code
//! that grows and returns at once is missed as the interval rule misses it; but the growth stays
//! with the threads that grew it. Where no thread's count moved (the thread that faulted has
//! exited, or the kernel grew RSS by itself, e.g. khugepaged collapsing pages into a huge page),
//! and for every fall of RSS, the interval rule: half of each change to the stacks running at
//! either end of the interval.
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
    /// The fallback: growth to the threads whose fault counts moved, at their stacks after the
    /// growth; the interval rule where no count moved. And why page-fault events are not in use.
    FaultCounts {
        /// Why page-fault events are not in use.
        why: String,
    },
}

impl Default for Attribution {
    fn default() -> Self {
        Attribution::fallback("page-fault events not in use")
    }
}

impl Attribution {
    /// The fallback rule (per-thread fault counts), because `why`.
    pub fn fallback(why: &str) -> Self {
        Attribution::FaultCounts { why: why.into() }
    }

    /// A short name, for `top`'s header.
    pub fn short_name(&self) -> &'static str {
        match self {
            Attribution::PageFaults { .. } => "page faults",
            Attribution::FaultCounts { .. } => "fault counts",
        }
    }

    /// One line for summaries and headers.
    pub fn describe(&self) -> String {
        match self {
            Attribution::PageFaults { period } => format!(
                "memory growth charged to the threads that took the page faults (a record every \
                 {period} faults)"
            ),
            Attribution::FaultCounts { why } => format!(
                "memory growth charged by per-thread fault counts to the stacks after each RSS \
                 change ({why})"
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

/// Page faults per thread (tid, faults) between two readings of their counts.
pub type FaultDeltas = Vec<(u32, u64)>;

/// Each thread's fault count at the last reading, to tell whose counts moved since.
#[derive(Debug, Clone, Default)]
pub struct FaultBaseline {
    last: HashMap<u32, u64>,
    started: bool,
}

impl FaultBaseline {
    /// The faults each thread took since the last call, for the threads whose count moved. The
    /// first call only sets the baseline. A thread not seen before counts from zero: it started
    /// since (threads are listed at the start), so all its faults are new. A count that fell is
    /// a new thread under a reused tid, and counts from zero too. Threads not in `counts` are
    /// forgotten (they exited, or could not be read).
    pub fn moved(&mut self, counts: &[(u32, u64)]) -> FaultDeltas {
        let first = !std::mem::replace(&mut self.started, true);
        let mut moved = Vec::new();
        for &(tid, count) in counts {
            let before = match self.last.get(&tid) {
                Some(&b) if b <= count => b,
                _ => 0,
            };
            if !first && count > before {
                moved.push((tid, count - before));
            }
        }
        self.last.clear();
        self.last.extend(counts.iter().copied());
        moved
    }
}

/// A thread whose fault count moved while RSS grew, with its stacks at either end of the
/// interval (interned ids; `None` without Python frames).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CountedThread {
    /// Faults it took in the interval.
    pub faults: u64,
    /// Its stack at the end of the interval, after the growth.
    pub end: Option<u32>,
    /// Its stack at the start.
    pub start: Option<u32>,
}

/// The fallback rule: the stacks an RSS increase goes to, weighted by each thread's faults,
/// each thread's share to its stack after the growth, or before it when it had no Python frames
/// after (it returned to native code, or its Python frames were not yet set up). Empty when no
/// thread with a Python stack faulted: the caller then uses the interval rule.
pub fn by_fault_counts(threads: &[CountedThread]) -> Vec<(u32, u64)> {
    let mut shares: Vec<(u32, u64)> = Vec::new();
    for t in threads.iter().filter(|t| t.faults > 0) {
        let Some(stack) = t.end.or(t.start) else {
            continue;
        };
        match shares.iter_mut().find(|s| s.0 == stack) {
            Some(s) => s.1 = s.1.saturating_add(t.faults),
            None => shares.push((stack, t.faults)),
        }
    }
    shares
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

    #[test]
    fn fault_counts_say_whose_count_moved() {
        let mut b = FaultBaseline::default();
        assert_eq!(
            b.moved(&[(1, 500), (2, 40)]),
            vec![],
            "the first reading is the baseline"
        );
        assert_eq!(b.moved(&[(1, 500), (2, 552)]), vec![(2, 512)]);
        // A new thread counts from zero; thread 2 exited and is forgotten.
        assert_eq!(b.moved(&[(1, 501), (3, 64)]), vec![(1, 1), (3, 64)]);
        // Thread 2's tid reused by a new thread with fewer faults than the old one had.
        assert_eq!(b.moved(&[(1, 501), (2, 10), (3, 64)]), vec![(2, 10)]);
        // Nobody moved.
        assert_eq!(b.moved(&[(1, 501), (2, 10), (3, 64)]), vec![]);
    }

    fn counted(faults: u64, end: Option<u32>, start: Option<u32>) -> CountedThread {
        CountedThread { faults, end, start }
    }

    #[test]
    fn fault_counts_charge_the_stacks_after_the_growth() {
        // The grower (512 faults, in grow() = 7 after, sleep = 8 before) and a spinning thread
        // that took 2 faults: the grower's stack after the growth takes its share.
        let shares =
            by_fault_counts(&[counted(2, Some(1), Some(1)), counted(512, Some(7), Some(8))]);
        assert_eq!(shares, vec![(1, 2), (7, 512)]);
        assert_eq!(
            split_weighted(514 * 4096, &shares),
            vec![(1, 8192), (7, 2_097_152)]
        );
        // Without Python frames after the growth: its stack before.
        assert_eq!(
            by_fault_counts(&[counted(64, None, Some(8))]),
            vec![(8, 64)]
        );
        // Two threads on the same stack add up; a thread with no stack at all has no share.
        assert_eq!(
            by_fault_counts(&[
                counted(3, Some(5), None),
                counted(4, Some(5), None),
                counted(9, None, None)
            ]),
            vec![(5, 7)]
        );
        // Nothing to go by: the caller falls back to the interval rule.
        assert!(by_fault_counts(&[counted(9, None, None), counted(0, Some(1), None)]).is_empty());
        assert!(by_fault_counts(&[]).is_empty());
    }
}
