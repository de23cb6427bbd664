//! The sampler's loop on a fake clock and a scripted probe: catching up, lateness, missed ticks
//! and every stop reason, exactly, without wall time or a target.
use std::cell::Cell;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::sync_channel;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;
use crate::error::Result;
use crate::stack::Frame;

/// Time that moves only when the sampler sleeps (to its deadline, or later when told to wake
/// late) or when a fake sample takes time.
struct FakeClock {
    base: Instant,
    now: Cell<Duration>,
    sleeps: Cell<u64>,
    /// The sleep (by number, from 0) that wakes late, and by how much.
    late_wake: Cell<Option<(u64, Duration)>>,
}

impl FakeClock {
    fn new() -> Rc<FakeClock> {
        Rc::new(FakeClock {
            base: Instant::now(),
            now: Cell::new(Duration::ZERO),
            sleeps: Cell::new(0),
            late_wake: Cell::new(None),
        })
    }

    fn advance(&self, by: Duration) {
        self.now.set(self.now.get() + by);
    }
}

impl Clock for FakeClock {
    fn now(&self) -> Instant {
        self.base + self.now.get()
    }

    fn sleep_until(&self, deadline: Instant, _stop: &AtomicBool) {
        let n = self.sleeps.get();
        self.sleeps.set(n + 1);
        let late = match self.late_wake.get() {
            Some((k, by)) if k == n => by,
            _ => Duration::ZERO,
        };
        let wake = deadline.saturating_duration_since(self.base) + late;
        self.now.set(self.now.get().max(wake));
    }
}

/// What the n-th sample (from 0) does: how long it takes, and what it returns.
type Script = Box<dyn FnMut(u64) -> (Duration, Result<Vec<ThreadStack>>)>;

/// A target whose samples follow a script.
struct FakeProbe {
    clock: Rc<FakeClock>,
    script: Script,
    samples: u64,
    /// RSS by the number of the reading (from 0).
    rss: Box<dyn FnMut(u64) -> Option<u64>>,
    rss_reads: u64,
    /// Thread 7's fault count, moved by 512 at every reading, and the readings made.
    faults: u64,
    fault_reads: u64,
    alive: bool,
    exec: Option<PathBuf>,
}

impl FakeProbe {
    fn new(clock: &Rc<FakeClock>, script: Script) -> FakeProbe {
        FakeProbe {
            clock: clock.clone(),
            script,
            samples: 0,
            rss: Box::new(|_| Some(100 << 20)),
            rss_reads: 0,
            faults: 0,
            fault_reads: 0,
            alive: true,
            exec: None,
        }
    }
}

impl Probe for FakeProbe {
    fn sample(&mut self) -> Result<Vec<ThreadStack>> {
        let (takes, result) = (self.script)(self.samples);
        self.samples += 1;
        self.clock.advance(takes);
        result
    }

    fn sample_unpaused(&mut self) -> Result<Vec<ThreadStack>> {
        self.sample()
    }

    fn thread_ids(&mut self) -> Vec<u32> {
        vec![7]
    }

    fn thread_faults(&mut self) -> Vec<(u32, u64)> {
        self.fault_reads += 1;
        self.faults += 512;
        vec![(7, self.faults)]
    }

    fn rss(&mut self) -> Option<u64> {
        let rss = (self.rss)(self.rss_reads);
        self.rss_reads += 1;
        rss
    }

    fn details(&mut self) -> Option<MemoryDetails> {
        Some(MemoryDetails::default())
    }

    fn is_alive(&self) -> bool {
        self.alive
    }

    fn exec_change(&self) -> Option<PathBuf> {
        self.exec.clone()
    }
}

/// A thread in one Python function.
fn python() -> Result<Vec<ThreadStack>> {
    Ok(vec![ThreadStack {
        thread_id: 1,
        os_tid: Some(7),
        name: None,
        active: true,
        holds_gil: true,
        frames: vec![Frame {
            name: "work".into(),
            filename: "app.py".into(),
            line: 3,
        }]
        .into(),
    }])
}

fn instant_samples() -> Script {
    Box::new(|_| (Duration::ZERO, python()))
}

fn torn() -> Result<Vec<ThreadStack>> {
    Err(Error::Invalid("a torn frame".into()))
}

/// A finished run: why it stopped, its counters, every tick sent, the missed count shared.
struct Outcome {
    reason: StopReason,
    stats: ClockStats,
    ticks: Vec<Tick>,
    missed_shared: u64,
}

impl Outcome {
    /// The times of the samples sent.
    fn sample_times(&self) -> Vec<Duration> {
        self.ticks
            .iter()
            .filter_map(|t| match t {
                Tick::Sample { at, .. } => Some(*at),
                _ => None,
            })
            .collect()
    }

    fn count(&self, kind: fn(&Tick) -> bool) -> usize {
        self.ticks.iter().filter(|t| kind(t)).count()
    }

    /// The longest run of samples taken at one instant: ticks made up back to back.
    fn longest_burst(&self) -> usize {
        let times = self.sample_times();
        let mut longest = 0;
        let mut run = 0;
        for (i, at) in times.iter().enumerate() {
            run = if i > 0 && times[i - 1] == *at {
                run + 1
            } else {
                1
            };
            longest = longest.max(run);
        }
        longest
    }
}

fn run_at(rate_hz: f64, duration: Option<Duration>, probe: &mut FakeProbe) -> Outcome {
    run_with_stop(rate_hz, duration, probe, &AtomicBool::new(false))
}

fn run_with_stop(
    rate_hz: f64,
    duration: Option<Duration>,
    probe: &mut FakeProbe,
    stop: &AtomicBool,
) -> Outcome {
    let (tx, rx) = sync_channel(1 << 20);
    let missed = AtomicU64::new(0);
    let run = Run {
        config: SamplerConfig {
            rate_hz,
            duration,
            fault_period: None,
        },
        stop,
        tx: &tx,
        missed: &missed,
    };
    let clock = probe.clock.clone();
    let (reason, stats) = run.sample(probe, &*clock, None);
    drop(tx);
    Outcome {
        reason,
        stats,
        ticks: rx.try_iter().collect(),
        missed_shared: missed.load(Ordering::Relaxed),
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn runs_for_its_duration_one_tick_per_interval() {
    let clock = FakeClock::new();
    let mut probe = FakeProbe::new(&clock, instant_samples());
    let out = run_at(100.0, Some(ms(1000)), &mut probe);
    assert_eq!(out.reason, StopReason::Duration);
    let samples = out.sample_times().len();
    assert!(
        (100..=101).contains(&samples),
        "{samples} samples in 1 s at 100 Hz"
    );
    assert_eq!((out.stats.late, out.stats.missed), (0, 0));
    // The last sleep stops at the end of --duration, not past it.
    assert_eq!(out.stats.span, ms(1000));
    // The memory breakdown every 200 ms: at 0, 200, 400, 600 and 800 ms.
    assert_eq!(out.count(|t| matches!(t, Tick::Details { .. })), 5);
    // Samples lie on the jittered grid: each within half an interval of its slot.
    for (k, at) in out.sample_times().iter().enumerate().skip(1) {
        let slot = ms(10) * k as u32;
        assert!(
            *at + ms(5) >= slot && *at < slot + ms(5),
            "sample {k} at {at:?}"
        );
    }
}

#[test]
fn a_late_wake_up_is_made_up_without_a_burst_beyond_the_backlog() {
    let clock = FakeClock::new();
    // At 1 kHz the 100th sleep wakes 5 ms late: within the 10 ms made up at once.
    clock.late_wake.set(Some((100, ms(5))));
    let mut probe = FakeProbe::new(&clock, instant_samples());
    let out = run_at(1000.0, Some(ms(1000)), &mut probe);
    assert_eq!(out.reason, StopReason::Duration);
    let samples = out.sample_times().len();
    assert!(
        (1000..=1001).contains(&samples),
        "every tick made up: {samples}"
    );
    assert_eq!(out.stats.missed, 0);
    // Lateness is reported, measured at the deadline after the late sample (the woken tick's
    // own is not): ~4 ms, and the few ticks made up more than one interval late counted.
    let worst = out.stats.max_late;
    assert!(worst > ms(3) && worst <= ms(5), "max late {worst:?}");
    assert!((3..=5).contains(&out.stats.late), "late {}", out.stats.late);
    // The backlog is made up at once: ~5 ticks back to back, no more.
    let burst = out.longest_burst();
    assert!((4..=7).contains(&burst), "burst of {burst}");
}

#[test]
fn a_long_stall_skips_ticks_and_counts_them_missed() {
    let clock = FakeClock::new();
    // At 1 kHz the 200th sample takes 50 ms: 10 ms of ticks made up, the other 40 skipped.
    let mut probe = FakeProbe::new(
        &clock,
        Box::new(|n| (if n == 200 { ms(50) } else { Duration::ZERO }, python())),
    );
    let out = run_at(1000.0, Some(ms(1000)), &mut probe);
    assert_eq!(out.reason, StopReason::Duration);
    assert!(
        (39..=41).contains(&out.stats.missed),
        "missed {}",
        out.stats.missed
    );
    assert_eq!(out.missed_shared, out.stats.missed, "progress lines see it");
    let samples = out.sample_times().len() as u64;
    assert!(
        (999..=1001).contains(&(samples + out.stats.missed)),
        "{samples} samples + {} missed",
        out.stats.missed
    );
    let worst = out.stats.max_late;
    assert!(worst >= ms(48) && worst <= ms(50), "max late {worst:?}");
    // The backlog kept (10 ms at 1 kHz) is made up back to back: no burst beyond it.
    let burst = out.longest_burst();
    assert!((9..=12).contains(&burst), "burst of {burst}");
}

#[test]
fn stops_when_the_target_exits() {
    let clock = FakeClock::new();
    let mut probe = FakeProbe::new(
        &clock,
        Box::new(|n| {
            let result = if n < 10 {
                python()
            } else {
                Err(Error::ProcessExited { pid: 42 })
            };
            (Duration::ZERO, result)
        }),
    );
    let out = run_at(100.0, None, &mut probe);
    assert_eq!(out.reason, StopReason::TargetExited);
    assert_eq!(out.sample_times().len(), 10);
}

#[test]
fn failures_before_an_exit_are_the_exit_not_errors() {
    let clock = FakeClock::new();
    // Torn reads, then the process is found gone: the failures are dropped.
    let mut probe = FakeProbe::new(
        &clock,
        Box::new(|n| (Duration::ZERO, if n < 10 { python() } else { torn() })),
    );
    probe.alive = false;
    let out = run_at(100.0, None, &mut probe);
    assert_eq!(out.reason, StopReason::TargetExited);
    assert_eq!(out.count(|t| matches!(t, Tick::Error { .. })), 0);
    assert_eq!(out.sample_times().len(), 10);
}

#[test]
fn stops_when_the_target_execs() {
    let clock = FakeClock::new();
    let mut probe = FakeProbe::new(
        &clock,
        Box::new(|n| (Duration::ZERO, if n < 5 { python() } else { torn() })),
    );
    probe.exec = Some(PathBuf::from("/usr/bin/true"));
    let out = run_at(100.0, None, &mut probe);
    assert_eq!(
        out.reason,
        StopReason::TargetExeced(PathBuf::from("/usr/bin/true"))
    );
    assert_eq!(out.count(|t| matches!(t, Tick::Error { .. })), 0);
}

#[test]
fn stops_when_asked() {
    let clock = FakeClock::new();
    let stop = Arc::new(AtomicBool::new(false));
    let asked = stop.clone();
    // Ctrl-C during the 21st sample: it is still sent, then sampling stops.
    let mut probe = FakeProbe::new(
        &clock,
        Box::new(move |n| {
            if n == 20 {
                asked.store(true, Ordering::Relaxed);
            }
            (Duration::ZERO, python())
        }),
    );
    let out = run_with_stop(100.0, Some(ms(10_000)), &mut probe, &stop);
    assert_eq!(out.reason, StopReason::Interrupted);
    assert_eq!(out.sample_times().len(), 21);
    assert!(out.stats.span < ms(250), "{:?}", out.stats.span);
}

#[test]
fn stops_when_the_collector_is_gone() {
    let clock = FakeClock::new();
    let mut probe = FakeProbe::new(&clock, instant_samples());
    let (tx, rx) = sync_channel(16);
    drop(rx);
    let missed = AtomicU64::new(0);
    let run = Run {
        config: SamplerConfig {
            rate_hz: 100.0,
            duration: None,
            fault_period: None,
        },
        stop: &AtomicBool::new(false),
        tx: &tx,
        missed: &missed,
    };
    let (reason, _) = run.sample(&mut probe, &*clock, None);
    assert_eq!(reason, StopReason::Interrupted);
    // Its first send (the memory breakdown) fails: no sample is taken for nobody.
    assert_eq!(probe.samples, 0);
}

#[test]
fn too_many_consecutive_errors_stop_and_are_sent() {
    let clock = FakeClock::new();
    let mut probe = FakeProbe::new(&clock, Box::new(|_| (Duration::ZERO, torn())));
    let out = run_at(1000.0, None, &mut probe);
    assert!(
        matches!(&out.reason, StopReason::TooManyErrors(e) if e.contains("torn frame")),
        "{:?}",
        out.reason
    );
    assert_eq!(probe.samples, u64::from(MAX_CONSECUTIVE_ERRORS));
    // The target still runs: its failures were real, and are sent when sampling ends.
    let errors = out.count(|t| matches!(t, Tick::Error { .. }));
    assert_eq!(errors as u32, MAX_CONSECUTIVE_ERRORS - 1);
}

#[test]
fn a_panicking_walk_ends_sampling_with_what_was_collected() {
    let clock = FakeClock::new();
    let mut probe = FakeProbe::new(
        &clock,
        Box::new(|n| {
            assert!(n < 3, "walker bug");
            (Duration::ZERO, python())
        }),
    );
    let out = run_at(100.0, None, &mut probe);
    assert_eq!(
        out.reason,
        StopReason::TooManyErrors("internal error: walker bug".into())
    );
    assert_eq!(out.sample_times().len(), 3);
}

#[test]
fn failures_count_once_the_program_ran_on_and_lose_their_stale_rss() {
    let clock = FakeClock::new();
    // Samples 3-5 fail (at ~30-50 ms); the program runs on.
    let mut probe = FakeProbe::new(
        &clock,
        Box::new(|n| {
            (
                Duration::ZERO,
                if (3..6).contains(&n) {
                    torn()
                } else {
                    python()
                },
            )
        }),
    );
    let out = run_at(100.0, Some(ms(1000)), &mut probe);
    let errors: Vec<(usize, Duration, Option<u64>)> = out
        .ticks
        .iter()
        .enumerate()
        .filter_map(|(i, t)| match t {
            Tick::Error { at, rss, .. } => Some((i, *at, *rss)),
            _ => None,
        })
        .collect();
    assert_eq!(errors.len(), 3);
    // Sent just before the first sample at least 250 ms after the first failure (the one that
    // shows the program ran on), and without their stale RSS.
    let sample_at = |t: &Tick| match t {
        Tick::Sample { at, .. } => Some(*at),
        _ => None,
    };
    let window_end = errors[0].1 + EXIT_WINDOW;
    let before = out.ticks[..errors[0].0].iter().rev().find_map(sample_at);
    let after = out.ticks[errors[2].0..].iter().find_map(sample_at);
    assert!(before.unwrap() < window_end, "{before:?}");
    assert!(after.unwrap() >= window_end, "{after:?}");
    assert!(errors.iter().all(|e| e.2.is_none()));
}

#[test]
fn fault_counts_are_read_only_when_rss_changes() {
    let clock = FakeClock::new();
    let mut probe = FakeProbe::new(&clock, instant_samples());
    // RSS steps up at the 10th reading and down at the 20th.
    probe.rss = Box::new(|n| {
        Some(match n {
            0..=9 => 100 << 20,
            10..=19 => 102 << 20,
            _ => 101 << 20,
        })
    });
    let out = run_at(100.0, Some(ms(500)), &mut probe);
    // The baseline, then one reading per change: not one per tick.
    assert_eq!(probe.fault_reads, 3);
    assert_eq!(out.stats.fault_count_reads, 3);
    let moved: Vec<(usize, FaultDeltas)> = out
        .ticks
        .iter()
        .filter_map(|t| match t {
            Tick::Sample { moved, .. } => Some(moved.clone()),
            _ => None,
        })
        .enumerate()
        .filter(|(_, m)| !m.is_empty())
        .collect();
    assert_eq!(moved, vec![(10, vec![(7, 512)]), (20, vec![(7, 512)])]);
}
