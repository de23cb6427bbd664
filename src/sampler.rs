//! The clock: one thread that samples on a jittered schedule for a wall-clock duration, and
//! sends each sample over a bounded channel to one collector. Lateness is measured, not hidden.
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::memory::{DetailsReader, MemoryDetails, RssReader};
use crate::perf::faults::{FaultCounts, FaultWatch};
use crate::profile::Attribution;
use crate::rng::XorShift;
use crate::session::Session;
use crate::stack::ThreadStack;

/// What the sampler does.
#[derive(Debug, Clone, Copy)]
pub struct SamplerConfig {
    /// Samples per second.
    pub rate_hz: f64,
    /// Stop after this much wall time (`None`: until stopped or the target exits).
    pub duration: Option<Duration>,
    /// Watch page faults, one record per this many (see [`crate::perf::faults`]); `None` for
    /// the interval rule alone.
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
}

/// A running sampler thread.
pub struct Sampler {
    /// Samples and errors, in order.
    pub ticks: Receiver<Tick>,
    /// Samples skipped so far because the sampler fell behind (for progress lines).
    missed: Arc<AtomicU64>,
    handle: JoinHandle<(StopReason, ClockStats, Session)>,
    attribution: Attribution,
}

/// How often the memory breakdown (status, meminfo, cgroup) is read: a few files each time,
/// too many to read on every sample at high rates.
pub const DETAILS_EVERY: Duration = Duration::from_millis(200);

/// How far behind the clock the sampler may fall and still make the ticks up, sampling at once
/// until caught up: timer wake-ups on a VM run late by up to a scheduler tick (4 ms) now and
/// then (a bare C sleep loop at 10 kHz: 275-367 of 50,000 wake-ups more than one interval late,
/// worst 4.0-4.1 ms, `benches/sleep_floor.c`). Made up, the sample count stays true to wall
/// time; further behind (the sampler cannot keep up, or was stopped), ticks are skipped and
/// counted as missed. At least two intervals at low rates.
fn make_up_limit(interval: Duration) -> Duration {
    (interval * 2).max(Duration::from_millis(10))
}

/// For a sampler `behind` its next deadline: `None` if it makes the ticks up, or the ticks it
/// skips and how far behind it stays (the backlog it still makes up).
fn too_far_behind(behind: Duration, interval: Duration) -> Option<(u64, Duration)> {
    let limit = make_up_limit(interval);
    (behind > limit).then(|| {
        let skipped = (behind - limit).as_nanos() / interval.as_nanos().max(1);
        (skipped as u64, limit)
    })
}

/// Consecutive failed samples after which we stop: a healthy target fails a few in a row at most.
const MAX_CONSECUTIVE_ERRORS: u32 = 500;

impl Sampler {
    /// Start sampling `session` on its own thread; it stops when `stop` is set.
    pub fn start(mut session: Session, config: SamplerConfig, stop: Arc<AtomicBool>) -> Sampler {
        let (tx, rx) = sync_channel(4096);
        let missed = Arc::new(AtomicU64::new(0));
        let missed_shared = missed.clone();
        let (mut faults, attribution) = match config.fault_period {
            None => (
                None,
                Attribution::interval("page-fault events switched off"),
            ),
            Some(period) => match FaultWatch::open(session.thread_ids(), period) {
                Ok(watch) => (Some(watch), Attribution::PageFaults { period }),
                Err(e) => (
                    None,
                    Attribution::interval(&format!("page-fault events refused: {e}")),
                ),
            },
        };
        let realtime = faults.is_some();
        let handle = std::thread::spawn(move || {
            reduce_timer_slack();
            if realtime {
                wake_first();
            }
            let interval = Duration::from_secs_f64(1.0 / config.rate_hz);
            let start = Instant::now();
            let seed = start.elapsed().as_nanos() as u64 ^ 0x9e37_79b9_7f4a_7c15;
            let mut schedule = Schedule::new(start, interval, seed);
            let end = config.duration.map(|d| start + d);
            let mut stats = ClockStats::default();
            let mut consecutive_errors = 0;
            // Failed ticks are held until the next sample succeeds: a run of failures that ends
            // with the target exiting or exec'ing was its exit (memory unmapped, thread states
            // freed as the interpreter finalizes), not a bad sample, and is dropped.
            let mut held: Vec<Tick> = Vec::new();
            let pid = session.target().pid();
            let mut rss_reader = RssReader::open(pid).ok();
            let mut details_reader = DetailsReader::open(pid).ok();
            let mut next_details = start;
            let mut next_fault_sync = start;
            let reason = loop {
                if stop.load(Ordering::Relaxed) {
                    break StopReason::Interrupted;
                }
                let now = Instant::now();
                if end.is_some_and(|e| now >= e) {
                    break StopReason::Duration;
                }
                let at = now - start;
                if let Some(reader) = details_reader.as_mut().filter(|_| now >= next_details) {
                    next_details = now + DETAILS_EVERY;
                    if tx
                        .send(Tick::Details {
                            at,
                            details: reader.read(),
                        })
                        .is_err()
                    {
                        break StopReason::Interrupted;
                    }
                }
                // RSS first, then the stacks: both belong to this tick.
                let rss = rss_reader.as_mut().and_then(|r| r.rss_bytes().ok());
                // A bug in the walker must not lose the recording: a panic ends sampling like
                // an error, and what was collected is still written.
                let sampled =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| session.sample()));
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
                        // Failures are counted once the program has shown, for a while after
                        // them, that it was not ending: a sample with Python frames (a
                        // finalizing interpreter can read as no threads, or threads without
                        // frames) at least EXIT_WINDOW later (atexit code runs Python after
                        // the first reads of a shutdown fail).
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
                        Some(Tick::Sample { at, stacks, rss })
                    }
                    Err(Error::ProcessExited { .. }) => break StopReason::TargetExited,
                    Err(error) => {
                        consecutive_errors += 1;
                        if consecutive_errors >= MAX_CONSECUTIVE_ERRORS {
                            break StopReason::TooManyErrors(error.to_string());
                        }
                        if !session.target().is_alive() {
                            break StopReason::TargetExited;
                        }
                        // Checked only after a failure: an exec unmaps everything we knew,
                        // so the first sample after it fails.
                        if let Some(exe) = session.target().exec_change() {
                            break StopReason::TargetExeced(exe);
                        }
                        held.push(Tick::Error { at, error, rss });
                        None
                    }
                };
                if tick.is_some_and(|tick| tx.send(tick).is_err()) {
                    break StopReason::Interrupted;
                }
                // Ticks follow the target's running time: the time it was held stopped is
                // left out (see [`Session::take_pause`]).
                let held = session.take_pause();
                stats.held += held;
                schedule.delay(held);
                let deadline = schedule.next_tick();
                let now = Instant::now();
                if now > deadline {
                    let behind = now - deadline;
                    if behind > interval {
                        stats.late += 1;
                        stats.max_late = stats.max_late.max(behind);
                    }
                    if let Some((skipped, keep)) = too_far_behind(behind, interval) {
                        stats.missed += skipped;
                        missed_shared.store(stats.missed, Ordering::Relaxed);
                        schedule.restart_at(now - keep);
                    }
                } else {
                    // Not past the end of --duration: the last sleep would only add to it.
                    let until = end.map_or(deadline, |e| deadline.min(e));
                    match faults.as_mut() {
                        None => sleep_until(until, &stop),
                        Some(watch) => {
                            // Threads are relisted every 250 ms at most: no need to look more
                            // often (this is the sampler's loop).
                            if now >= next_fault_sync {
                                watch.sync(&session.thread_ids());
                                next_fault_sync = now + FAULT_SYNC_EVERY;
                            }
                            let sent = wait_for_faults(
                                watch,
                                until,
                                &stop,
                                &mut session,
                                rss_reader.as_mut(),
                                start,
                                &tx,
                            );
                            if sent.is_err() {
                                break StopReason::Interrupted;
                            }
                        }
                    }
                }
            };
            stats.span = start.elapsed();
            if !matches!(
                reason,
                StopReason::TargetExited | StopReason::TargetExeced(_)
            ) {
                for tick in held {
                    let _ = tx.send(tick);
                }
            }
            (reason, stats, session)
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

    /// Wait for the thread to finish (after the channel is drained).
    pub fn join(self) -> (StopReason, ClockStats, Session) {
        match self.handle.join() {
            Ok(result) => result,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}

/// Linux delays timer wake-ups by up to 50 µs by default (timer slack) to batch them; at
/// 10 kHz that alone would cost half the interval. Ask for precise wake-ups on this thread.
/// Run the sampler thread under the lowest real-time priority (`SCHED_FIFO` 1) when allowed
/// (root): a page fault's wake-up must read the faulting thread's stack before the code that
/// grew returns, and on a machine whose cores are busy an ordinary thread waits behind the
/// running ones for a few hundred microseconds (measured on 2 cores with two busy target
/// threads: wake-ups 25-260 µs late, the longest missing whole 2 MiB allocations). The thread
/// sleeps between samples; the kernel's real-time throttling bounds it in any case.
fn wake_first() {
    let param = libc::sched_param { sched_priority: 1 };
    // SAFETY: affects only the calling thread; a refusal (not root) leaves it as it was.
    unsafe {
        libc::sched_setscheduler(0, libc::SCHED_FIFO, &param);
    }
}

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

/// Sleep until `deadline`, waking early enough to notice `stop` within ~50 ms.
///
/// An absolute `clock_nanosleep` rather than `std::thread::sleep` (relative): one clock read
/// less per wake-up, and no drift from the time spent between reading the clock and sleeping.
/// Measured on this machine kind: 15.1 µs of CPU per 1 ms sleep, against 17.2 µs relative.
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

/// How often the page-fault events are matched to the target's threads.
const FAULT_SYNC_EVERY: Duration = Duration::from_millis(250);

/// Shortest time between two fault wake-ups: faults that come faster are counted together and
/// charged at the next one, so a program growing fast cannot keep the sampler busy.
const FAULT_GAP: Duration = Duration::from_micros(250);

/// Until `until`: on each wake-up by page-fault records, read RSS and every stack at once and
/// send them with the faults. An error only when the collector has gone.
fn wait_for_faults(
    watch: &mut FaultWatch,
    until: Instant,
    stop: &AtomicBool,
    session: &mut Session,
    mut rss_reader: Option<&mut RssReader>,
    start: Instant,
    tx: &std::sync::mpsc::SyncSender<Tick>,
) -> Result<(), ()> {
    while watch.wait(until, stop) {
        let mut faults = watch.drain();
        if faults.is_empty() {
            continue;
        }
        let rss = rss_reader.as_mut().and_then(|r| r.rss_bytes().ok());
        let at = start.elapsed();
        // A failed read here is the next tick's to report (or the exit's).
        if let Ok(stacks) = session.sample_unpaused() {
            watch.while_read(&mut faults);
            tx.send(Tick::Fault {
                at,
                stacks,
                rss,
                faults,
            })
            .map_err(|_| ())?;
        }
        let next = Instant::now() + FAULT_GAP;
        if next < until {
            sleep_until(next, stop);
        }
    }
    Ok(())
}

fn sleep_until(deadline: Instant, stop: &AtomicBool) {
    loop {
        let now = Instant::now();
        if now >= deadline || stop.load(Ordering::Relaxed) {
            return;
        }
        let wake = deadline.min(now + Duration::from_millis(50));
        match monotonic_timespec(wake, now) {
            // SAFETY: a valid timespec, and no remainder pointer (absolute sleeps need none).
            Some(ts) => unsafe {
                libc::clock_nanosleep(
                    libc::CLOCK_MONOTONIC,
                    libc::TIMER_ABSTIME,
                    &ts,
                    std::ptr::null_mut(),
                );
            },
            None => std::thread::sleep(wake - now),
        }
    }
}

/// `at` as a CLOCK_MONOTONIC time (the clock `Instant` reads on Linux), given `now` read just
/// before: the clock is read once more and `at - now` added to it.
fn monotonic_timespec(at: Instant, now: Instant) -> Option<libc::timespec> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-pointer.
    if unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) } != 0 {
        return None;
    }
    let ahead = at.saturating_duration_since(now);
    let nanos = ts.tv_nsec as u64 + u64::from(ahead.subsec_nanos());
    Some(libc::timespec {
        tv_sec: ts.tv_sec
            + ahead.as_secs() as libc::time_t
            + (nanos / 1_000_000_000) as libc::time_t,
        tv_nsec: (nanos % 1_000_000_000) as libc::c_long,
    })
}

/// When ticks are due: one per interval on an exact grid, each at a random point of its own
/// slot (uniform within half an interval either side of its grid point), so sampling never
/// locks in step with a periodic program. Unlike a walk of jittered intervals, whose tick count
/// over 5 s at 10 kHz drifts by ±65 (one standard deviation), the count stays within one tick
/// of duration × rate.
struct Schedule {
    grid: Instant,
    interval: Duration,
    jitter: XorShift,
}

impl Schedule {
    /// The first tick is at `start`, unjittered.
    fn new(start: Instant, interval: Duration, seed: u64) -> Schedule {
        Schedule {
            grid: start,
            interval,
            jitter: XorShift::new(seed),
        }
    }

    /// The next tick's deadline.
    fn next_tick(&mut self) -> Instant {
        self.grid += self.interval;
        // unit() is uniform in [0, 1): the offset runs over the whole slot.
        let offset = self.interval.mul_f64(self.jitter.unit());
        self.grid - self.interval / 2 + offset
    }

    /// Drop the ticks before `grid`: the next one is a slot after it.
    fn restart_at(&mut self, grid: Instant) {
        self.grid = grid;
    }

    /// Move every tick still to come later by `by` (time the target did not run).
    fn delay(&mut self, by: Duration) {
        self.grid += by;
    }
}

#[cfg(test)]
mod tests {
    use super::{too_far_behind, Schedule};
    use std::time::{Duration, Instant};

    #[test]
    fn schedule_keeps_one_jittered_tick_per_slot() {
        let start = Instant::now();
        let interval = Duration::from_micros(100);
        let mut schedule = Schedule::new(start, interval, 12345);
        let mut previous = start;
        let mut gaps = Vec::new();
        for k in 1..=50_000u32 {
            let tick = schedule.next_tick();
            let slot_start = start + interval * k - interval / 2;
            assert!(
                tick >= slot_start && tick < slot_start + interval,
                "tick {k}"
            );
            assert!(tick >= previous);
            gaps.push((tick - previous).as_secs_f64());
            previous = tick;
        }
        // 50,000 ticks in 5 s, not a drifting number; the gaps vary (no lockstep), mean exact.
        let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
        assert!((mean - 100e-6).abs() < 1e-8, "mean gap {mean}");
        let spread = gaps.iter().fold(0.0f64, |m, g| m.max((g - 100e-6).abs()));
        assert!(spread > 80e-6, "gaps barely vary: {spread}");
        // After a skip, ticks continue a slot after the new grid point.
        let later = start + Duration::from_secs(10);
        schedule.restart_at(later);
        let tick = schedule.next_tick();
        assert!(tick >= later + interval / 2 && tick < later + interval * 3 / 2);
    }

    #[test]
    fn time_the_target_was_held_stopped_is_left_out_of_the_schedule() {
        let start = Instant::now();
        let interval = Duration::from_millis(1);
        let mut schedule = Schedule::new(start, interval, 7);
        let first = schedule.next_tick();
        // A 3 ms pause: the next tick is a slot after the first one's, 3 ms later; no tick is
        // owed for the time the target did not run.
        schedule.delay(Duration::from_millis(3));
        let second = schedule.next_tick();
        let slot = start + interval * 2 + Duration::from_millis(3) - interval / 2;
        assert!(
            second >= slot && second < slot + interval,
            "{first:?} {second:?}"
        );
    }

    #[test]
    fn short_stalls_are_made_up_long_ones_skipped() {
        let ms = Duration::from_millis;
        let at_10khz = Duration::from_micros(100);
        // A scheduler tick late (a VM's usual worst): every tick made up.
        assert_eq!(too_far_behind(ms(4), at_10khz), None);
        // 50 ms stopped: 10 ms made up, the other 40 ms of ticks skipped.
        assert_eq!(too_far_behind(ms(50), at_10khz), Some((400, ms(10))));
        // At 100 Hz up to two intervals are made up.
        assert_eq!(too_far_behind(ms(15), ms(10)), None);
        assert_eq!(too_far_behind(ms(55), ms(10)), Some((3, ms(20))));
    }
}
