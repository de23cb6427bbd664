//! What the sampler samples: a [`Probe`], the attached [`Session`] with its memory readers when
//! sampling ([`LiveProbe`]), a scripted fake in tests; and the fallback's reading of the
//! threads' fault counts ([`FaultCounting`]).
use std::path::PathBuf;
use std::time::Instant;

use super::ClockStats;
use crate::error::Result;
use crate::memory::{DetailsReader, MemoryDetails, RssReader};
use crate::perf::stacks::StackSample;
use crate::profile::attribution::{FaultBaseline, FaultDeltas};
use crate::session::Session;
use crate::stack::ThreadStack;

/// What the sampler calls on the thing it samples.
pub trait Probe {
    /// One sample of every thread (paused or not, as the session's mode decides).
    fn sample(&mut self) -> Result<Vec<ThreadStack>>;

    /// One sample read without pausing (a page fault's wake-up).
    fn sample_unpaused(&mut self) -> Result<Vec<ThreadStack>>;

    /// With `--native`: the faulting threads' registers and stacks at their faults, for the
    /// next [`Probe::sample_unpaused`] to merge (the native frames of the code that grew).
    fn native_at_faults(&mut self, _samples: &mut dyn Iterator<Item = StackSample>) {}

    /// Whether native stacks are merged (`--native`): page-fault records then carry stacks.
    fn merges_native(&mut self) -> bool {
        false
    }

    /// How long the target was held stopped for reads since the last call (left out of the
    /// tick schedule, see [`Session::take_pause`]).
    fn take_pause(&mut self) -> std::time::Duration {
        std::time::Duration::ZERO
    }

    /// The target's threads (tids), as last listed.
    fn thread_ids(&mut self) -> Vec<u32>;

    /// Each thread's page faults so far (tid, minor + major).
    fn thread_faults(&mut self) -> Vec<(u32, u64)>;

    /// Resident set size now, bytes; `None` if it cannot be read.
    fn rss(&mut self) -> Option<u64>;

    /// The memory breakdown now; `None` if there is no reader for it.
    fn details(&mut self) -> Option<MemoryDetails>;

    /// Whether the target still runs (after a failed sample).
    fn is_alive(&self) -> bool;

    /// The new executable, if the target replaced its program (after a failed sample).
    fn exec_change(&self) -> Option<PathBuf>;

    /// Non-blocking samples taken paused (see [`Session::paused_samples`]).
    fn paused_samples(&self) -> u64 {
        0
    }

    /// How native stacks fitted, when `--native` is on.
    fn native_stats(&self) -> Option<crate::native::capture::NativeStats> {
        None
    }

    /// `--subprocesses`: every process of the tree seen, and what became of it.
    fn processes(&self) -> Option<crate::subprocesses::ProcessReport> {
        None
    }
}

/// A live target: the session, and its RSS and memory-breakdown files kept open.
pub struct LiveProbe {
    session: Session,
    rss: Option<RssReader>,
    details: Option<DetailsReader>,
}

impl LiveProbe {
    /// Open the memory readers of `session`'s target (sampling goes on without them if they
    /// cannot be opened).
    pub fn new(session: Session) -> LiveProbe {
        let pid = session.target().pid();
        LiveProbe {
            session,
            rss: RssReader::open(pid).ok(),
            details: DetailsReader::open(pid).ok(),
        }
    }
}

impl Probe for LiveProbe {
    fn sample(&mut self) -> Result<Vec<ThreadStack>> {
        self.session.sample()
    }

    fn sample_unpaused(&mut self) -> Result<Vec<ThreadStack>> {
        self.session.sample_unpaused()
    }

    fn native_at_faults(&mut self, samples: &mut dyn Iterator<Item = StackSample>) {
        if let Some(native) = self.session.native() {
            native.at_faults(samples);
        }
    }

    fn merges_native(&mut self) -> bool {
        self.session.native().is_some()
    }

    fn take_pause(&mut self) -> std::time::Duration {
        self.session.take_pause()
    }

    fn thread_ids(&mut self) -> Vec<u32> {
        self.session.thread_ids()
    }

    fn thread_faults(&mut self) -> Vec<(u32, u64)> {
        self.session.thread_faults()
    }

    fn rss(&mut self) -> Option<u64> {
        self.rss.as_mut().and_then(|r| r.rss_bytes().ok())
    }

    fn details(&mut self) -> Option<MemoryDetails> {
        self.details.as_mut().map(DetailsReader::read)
    }

    fn is_alive(&self) -> bool {
        self.session.target().is_alive()
    }

    fn exec_change(&self) -> Option<PathBuf> {
        self.session.target().exec_change()
    }

    fn paused_samples(&self) -> u64 {
        self.session.paused_samples()
    }

    fn native_stats(&self) -> Option<crate::native::capture::NativeStats> {
        self.session.native_stats()
    }
}

/// The fallback's reading of the threads' fault counts: only when RSS changed (one kept-open
/// `stat` read per thread), and what they moved by since, kept until a sample goes out with it.
#[derive(Debug, Default)]
pub(super) struct FaultCounting {
    baseline: FaultBaseline,
    last_rss: Option<u64>,
    pending: FaultDeltas,
}

impl FaultCounting {
    /// RSS was read: if it changed (or on the first reading, for the baseline), read the
    /// counts. Falls are read too, so that faults before a fall are not charged to a later rise.
    pub(super) fn on_rss(
        &mut self,
        rss: Option<u64>,
        probe: &mut (impl Probe + ?Sized),
        stats: &mut ClockStats,
    ) {
        if rss.is_none() || rss == self.last_rss {
            return;
        }
        self.last_rss = rss;
        let began = Instant::now();
        let moved = self.baseline.moved(&probe.thread_faults());
        stats.fault_count_reads += 1;
        stats.fault_count_time += began.elapsed();
        for (tid, faults) in moved {
            match self.pending.iter_mut().find(|p| p.0 == tid) {
                Some(p) => p.1 = p.1.saturating_add(faults),
                None => self.pending.push((tid, faults)),
            }
        }
    }

    /// What moved since the last sample sent.
    pub(super) fn take(&mut self) -> FaultDeltas {
        std::mem::take(&mut self.pending)
    }
}
