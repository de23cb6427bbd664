//! The clock: one thread that samples on a jittered schedule for a wall-clock duration, and
//! sends each sample over a bounded channel to one collector. Lateness is measured, not hidden.
//!
//! The loop ([`run`]) is generic over what it samples ([`Probe`]: the attached session when
//! sampling) and over its clock ([`Clock`]: the monotonic clock when sampling), so that catching
//! up, lateness, missed ticks and the stop reasons are tested with a fake of each.
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::error::Error;
use crate::memory::MemoryDetails;
use crate::perf::faults::{FaultCounts, FaultWatch, FAULT_STACK_BYTES};
use crate::profile::attribution::FaultDeltas;
use crate::profile::Attribution;
use crate::session::Session;
use crate::stack::ThreadStack;

mod clock;
mod fault_wake;
mod probe;
#[cfg(test)]
mod tests;

use clock::{too_far_behind, Schedule};
pub use clock::{Clock, MonotonicClock};
use fault_wake::{wake_first, FAULT_SYNC_EVERY};
use probe::FaultCounting;
pub use probe::{LiveProbe, Probe};

/// What the sampler does.
#[derive(Debug, Clone, Copy)]
pub struct SamplerConfig {
    /// Samples per second.
    pub rate_hz: f64,
    /// Stop after this much wall time (`None`: until stopped or the target exits).
    pub duration: Option<Duration>,
    /// Watch page faults, one record per this many (see [`crate::perf::faults`]); `None` for
    /// the fallback (per-thread fault counts).
    pub fault_period: Option<u64>,
}

/// One tick's outcome.
#[derive(Debug)]
pub enum Tick {
    /// Stacks of every thread, `at` since the start.
    Sample {
        /// Time since sampling started.
        at: Duration,
        /// Every thread's stack.
        stacks: Vec<ThreadStack>,
        /// Resident set size read just before the stacks, bytes.
        rss: Option<u64>,
        /// Without page-fault events: the faults each thread took since the last reading of
        /// the counts, for the threads whose count moved (read when RSS changed; see
        /// [`crate::profile::attribution`]). Empty otherwise.
        moved: FaultDeltas,
    },
    /// The walk failed (a racing read, a torn structure); counted, not fatal.
    Error {
        /// Time since sampling started.
        at: Duration,
        /// What failed.
        error: Error,
        /// Resident set size, which was still read.
        rss: Option<u64>,
    },
    /// Threads took page faults: their stacks read at once, to charge the growth to.
    Fault {
        /// Time since sampling started.
        at: Duration,
        /// Every thread's stack, read on the wake-up.
        stacks: Vec<ThreadStack>,
        /// Resident set size read just before the stacks, bytes.
        rss: Option<u64>,
        /// Faults per thread (tid, count) since the last wake-up.
        faults: FaultCounts,
    },
    /// The memory breakdown, sent every [`DETAILS_EVERY`].
    Details {
        /// Time since sampling started.
        at: Duration,
        /// The breakdown.
        details: MemoryDetails,
    },
}

/// Why sampling ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopReason {
    /// `--duration` elapsed.
    Duration,
    /// The user asked (Ctrl-C, SIGTERM).
    Interrupted,
    /// The target exited.
    TargetExited,
    /// The target replaced its program (`execve`); the path is the new executable.
    TargetExeced(std::path::PathBuf),
    /// Too many consecutive errors: something is wrong with the reader, not the timing.
    TooManyErrors(String),
}

/// Counters the sampler keeps about its own timing.
#[derive(Debug, Clone, Default)]
pub struct ClockStats {
    /// Ticks that started more than one interval after their deadline.
    pub late: u64,
    /// Ticks skipped because the sampler fell further behind than it makes up.
    pub missed: u64,
    /// The worst lateness seen.
    pub max_late: Duration,
    /// Wall time from the first tick to the end of sampling.
    pub span: Duration,
    /// Time the target was held stopped for reads, left out of the tick schedule.
    pub held: Duration,
    /// Without page-fault events: ticks at which the threads' fault counts were read (those
    /// whose RSS reading changed), and the time those reads took.
    pub fault_count_reads: u64,
    /// See [`ClockStats::fault_count_reads`].
    pub fault_count_time: Duration,
    /// With page-fault events: wake-ups that read the stacks, and the time they took.
    pub fault_wakes: u64,
    /// See [`ClockStats::fault_wakes`].
    pub fault_wake_time: Duration,
}

/// A running sampler thread.
pub struct Sampler {
    /// Samples and errors, in order.
    pub ticks: Receiver<Tick>,
    /// Samples skipped so far because the sampler fell behind (for progress lines).
    missed: Arc<AtomicU64>,
    handle: JoinHandle<(StopReason, ClockStats, Box<dyn Probe + Send>)>,
    attribution: Attribution,
}

/// How often the memory breakdown (status, meminfo, cgroup) is read: a few files each time,
/// too many to read on every sample at high rates.
pub const DETAILS_EVERY: Duration = Duration::from_millis(200);

/// Consecutive failed samples after which we stop: a healthy target fails a few in a row at most.
const MAX_CONSECUTIVE_ERRORS: u32 = 500;

impl Sampler {
    /// Start sampling `session` on its own thread; it stops when `stop` is set.
    pub fn start(session: Session, config: SamplerConfig, stop: Arc<AtomicBool>) -> Sampler {
        Sampler::start_probe(Box::new(LiveProbe::new(session)), config, stop)
    }

    /// Start sampling `probe` (one process, or a process tree) on its own thread.
    pub fn start_probe(
        mut probe: Box<dyn Probe + Send>,
        config: SamplerConfig,
        stop: Arc<AtomicBool>,
    ) -> Sampler {
        let (tx, rx) = sync_channel(4096);
        let missed = Arc::new(AtomicU64::new(0));
        let missed_shared = missed.clone();
        let (faults, attribution) = match config.fault_period {
            None => (
                None,
                Attribution::fallback("page-fault events switched off"),
            ),
            Some(period) => match FaultWatch::open_with(
                probe.thread_ids(),
                period,
                // With --native, each fault record carries the native stack of the code that grew.
                probe.merges_native().then_some(FAULT_STACK_BYTES),
            ) {
                Ok(watch) => (Some(watch), Attribution::PageFaults { period }),
                Err(e) => (
                    None,
                    Attribution::fallback(&format!("page-fault events refused: {e}")),
                ),
            },
        };
        let handle = std::thread::spawn(move || {
            reduce_timer_slack();
            if faults.is_some() {
                wake_first();
            }
            let run = Run {
                config,
                stop: &stop,
                tx: &tx,
                missed: &missed_shared,
            };
            let (reason, stats) = run.sample(&mut *probe, &MonotonicClock, faults);
            (reason, stats, probe)
        });
        Sampler {
            ticks: rx,
            missed,
            handle,
            attribution,
        }
    }

    /// How memory growth is charged in this recording.
    pub fn attribution(&self) -> &Attribution {
        &self.attribution
    }

    /// Samples skipped so far because the sampler fell behind.
    pub fn missed(&self) -> u64 {
        self.missed.load(Ordering::Relaxed)
    }

    /// Wait for the thread to finish (after the channel is drained); the probe is handed back.
    pub fn join(self) -> (StopReason, ClockStats, Box<dyn Probe + Send>) {
        match self.handle.join() {
            Ok(result) => result,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}

/// One sampling run: what it is asked, and where its ticks and counts go.
pub(crate) struct Run<'a> {
    /// Rate, duration, page-fault period.
    pub config: SamplerConfig,
    /// Set to stop (Ctrl-C, SIGTERM).
    pub stop: &'a AtomicBool,
    /// Where ticks go; a gone receiver stops the run.
    pub tx: &'a SyncSender<Tick>,
    /// Ticks skipped so far, for progress lines.
    pub missed: &'a AtomicU64,
}

impl Run<'_> {
    /// Sample `probe` on `clock` until a stop reason: the sampler's loop. `faults`: the
    /// page-fault events, if in use; without them the threads' fault counts are read when RSS
    /// changes (the fallback, see [`crate::profile::attribution`]).
    pub(crate) fn sample<P: Probe + ?Sized, C: Clock>(
        &self,
        probe: &mut P,
        clock: &C,
        mut faults: Option<FaultWatch>,
    ) -> (StopReason, ClockStats) {
        let (config, stop, tx) = (&self.config, self.stop, self.tx);
        let interval = Duration::from_secs_f64(1.0 / config.rate_hz);
        let start = clock.now();
        let seed = (clock.now() - start).as_nanos() as u64 ^ 0x9e37_79b9_7f4a_7c15;
        let mut schedule = Schedule::new(start, interval, seed);
        let end = config.duration.map(|d| start + d);
        let mut stats = ClockStats::default();
        let mut consecutive_errors = 0;
        // Failed ticks are held until the next sample succeeds: a run of failures that ends
        // with the target exiting or exec'ing was its exit (memory unmapped, thread states
        // freed as the interpreter finalizes), not a bad sample, and is dropped.
        let mut held: Vec<Tick> = Vec::new();
        let mut next_details = start;
        let mut next_fault_sync = start;
        // Without page-fault events, the threads' fault counts, read when RSS changes.
        let mut counts = faults.is_none().then(FaultCounting::default);
        let reason = loop {
            if stop.load(Ordering::Relaxed) {
                break StopReason::Interrupted;
            }
            let now = clock.now();
            if end.is_some_and(|e| now >= e) {
                break StopReason::Duration;
            }
            let at = now - start;
            if now >= next_details {
                if let Some(details) = probe.details() {
                    next_details = now + DETAILS_EVERY;
                    if tx.send(Tick::Details { at, details }).is_err() {
                        break StopReason::Interrupted;
                    }
                }
            }
            // RSS first, then the stacks: both belong to this tick.
            let rss = probe.rss();
            if let Some(counting) = counts.as_mut() {
                counting.on_rss(rss, probe, &mut stats);
            }
            // A bug in the walker must not lose the recording: a panic ends sampling like an
            // error, and what was collected is still written.
            let sampled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| probe.sample()));
            let sampled = match sampled {
                Ok(result) => result,
                Err(panic) => {
                    break StopReason::TooManyErrors(format!(
                        "internal error: {}",
                        panic_message(&panic)
                    ))
                }
            };
            let tick = match sampled {
                Ok(stacks) => {
                    consecutive_errors = 0;
                    // Failures are counted once the program has shown, for a while after them,
                    // that it was not ending: a sample with Python frames (a finalizing
                    // interpreter can read as no threads, or threads without frames) at least
                    // EXIT_WINDOW later (atexit code runs Python after the first reads of a
                    // shutdown fail).
                    let alive = stacks.iter().any(|s| !s.frames.is_empty());
                    let settled = held.first().is_some_and(|t| match t {
                        Tick::Error { at: failed, .. } => at >= *failed + EXIT_WINDOW,
                        _ => true,
                    });
                    if alive
                        && settled
                        && held.drain(..).map(without_rss).any(|t| tx.send(t).is_err())
                    {
                        break StopReason::Interrupted;
                    }
                    let moved = counts.as_mut().map(FaultCounting::take).unwrap_or_default();
                    Some(Tick::Sample {
                        at,
                        stacks,
                        rss,
                        moved,
                    })
                }
                Err(Error::ProcessExited { .. }) => break StopReason::TargetExited,
                Err(error) => {
                    consecutive_errors += 1;
                    if consecutive_errors >= MAX_CONSECUTIVE_ERRORS {
                        break StopReason::TooManyErrors(error.to_string());
                    }
                    if !probe.is_alive() {
                        break StopReason::TargetExited;
                    }
                    // Checked only after a failure: an exec unmaps everything we knew, so the
                    // first sample after it fails.
                    if let Some(exe) = probe.exec_change() {
                        break StopReason::TargetExeced(exe);
                    }
                    held.push(Tick::Error { at, error, rss });
                    None
                }
            };
            if tick.is_some_and(|tick| tx.send(tick).is_err()) {
                break StopReason::Interrupted;
            }
            // Ticks follow the target's running time: the time it was held stopped is left out
            // (see [`Session::take_pause`]).
            let held = probe.take_pause();
            stats.held += held;
            schedule.delay(held);
            let deadline = schedule.next_tick();
            let now = clock.now();
            if now > deadline {
                let behind = now - deadline;
                if behind > interval {
                    stats.late += 1;
                    stats.max_late = stats.max_late.max(behind);
                }
                if let Some((skipped, keep)) = too_far_behind(behind, interval) {
                    stats.missed += skipped;
                    self.missed.store(stats.missed, Ordering::Relaxed);
                    schedule.restart_at(now - keep);
                }
            } else {
                // Not past the end of --duration: the last sleep would only add to it.
                let until = end.map_or(deadline, |e| deadline.min(e));
                match faults.as_mut() {
                    None => clock.sleep_until(until, stop),
                    Some(watch) => {
                        // Threads are relisted every 250 ms at most: no need to look more often
                        // (this is the sampler's loop).
                        if now >= next_fault_sync {
                            watch.sync(&probe.thread_ids());
                            next_fault_sync = now + FAULT_SYNC_EVERY;
                        }
                        if self
                            .wait_for_faults(watch, until, probe, clock, start, &mut stats)
                            .is_err()
                        {
                            break StopReason::Interrupted;
                        }
                    }
                }
            }
        };
        stats.span = clock.now() - start;
        if !matches!(
            reason,
            StopReason::TargetExited | StopReason::TargetExeced(_)
        ) {
            for tick in held {
                let _ = tx.send(tick);
            }
        }
        (reason, stats)
    }
}

/// Linux delays timer wake-ups by up to 50 µs by default (timer slack) to batch them; at
/// 10 kHz that alone would cost half the interval. Ask for precise wake-ups on this thread.
fn reduce_timer_slack() {
    // SAFETY: PR_SET_TIMERSLACK takes a plain integer and affects only the calling thread.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong);
    }
}

/// The text of a panic payload.
fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".to_string())
}

/// How long after a failed sample the program must still be running (and show Python frames)
/// for the failure to count: failures in the last stretch before an exit are the exit.
const EXIT_WINDOW: Duration = Duration::from_millis(250);

/// A held failure, sent late: its RSS reading is older than the samples sent since, so it is
/// left out (the collectors' series stay in time order).
fn without_rss(tick: Tick) -> Tick {
    match tick {
        Tick::Error { at, error, .. } => Tick::Error {
            at,
            error,
            rss: None,
        },
        other => other,
    }
}
