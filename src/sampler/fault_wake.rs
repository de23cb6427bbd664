//! Page-fault wake-ups between ticks: the sampler waits on its timer and the page-fault events
//! together, and on a record reads RSS and every stack at once (see [`crate::perf::faults`]).
use std::time::{Duration, Instant};

use super::{Clock, ClockStats, Probe, Run, Tick};
use crate::perf::faults::FaultWatch;

/// How often the page-fault events are matched to the target's threads.
pub(super) const FAULT_SYNC_EVERY: Duration = Duration::from_millis(250);

/// Shortest time between two fault wake-ups: faults that come faster are counted together and
/// charged at the next one, so a program growing fast cannot keep the sampler busy.
const FAULT_GAP: Duration = Duration::from_micros(250);

impl Run<'_> {
    /// Until `until`: on each wake-up by page-fault records, read RSS and every stack at once
    /// and send them with the faults. An error only when the collector has gone.
    pub(super) fn wait_for_faults(
        &self,
        watch: &mut FaultWatch,
        until: Instant,
        probe: &mut (impl Probe + ?Sized),
        clock: &impl Clock,
        start: Instant,
        stats: &mut ClockStats,
    ) -> Result<(), ()> {
        let (stop, tx) = (self.stop, self.tx);
        while watch.wait(until, stop) {
            let mut faults = watch.drain();
            if faults.is_empty() {
                continue;
            }
            let began = Instant::now();
            probe.native_at_faults(&mut watch.take_stacks());
            let rss = probe.rss();
            let at = clock.now() - start;
            // A failed read here is the next tick's to report (or the exit's).
            if let Ok(stacks) = probe.sample_unpaused() {
                watch.while_read(&mut faults);
                tx.send(Tick::Fault {
                    at,
                    stacks,
                    rss,
                    faults,
                })
                .map_err(|_| ())?;
            }
            stats.fault_wakes += 1;
            stats.fault_wake_time += began.elapsed();
            let next = clock.now() + FAULT_GAP;
            if next < until {
                clock.sleep_until(next, stop);
            }
        }
        Ok(())
    }
}

/// Run the calling thread under the lowest real-time priority (`SCHED_FIFO` 1) when allowed
/// (root): a page fault's wake-up must read the faulting thread's stack before the code that
/// grew returns, and on a machine whose cores are busy an ordinary thread waits behind the
/// running ones for a few hundred microseconds (measured on 2 cores with two busy target
/// threads: wake-ups 25-260 µs late, the longest missing whole 2 MiB allocations). The thread
/// sleeps between samples; the kernel's real-time throttling bounds it in any case.
pub(super) fn wake_first() {
    let param = libc::sched_param { sched_priority: 1 };
    // SAFETY: affects only the calling thread; a refusal (not root) leaves it as it was.
    unsafe {
        libc::sched_setscheduler(0, libc::SCHED_FIFO, &param);
    }
}
