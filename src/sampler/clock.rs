//! The sampler's time: a clock it can be given (the monotonic clock, or a fake one in tests),
//! the schedule of ticks, and the rule for catching up when it falls behind.
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::rng::XorShift;

/// What the sampler reads the time from and sleeps on: the monotonic clock when sampling, a
/// fake one in tests, so that catching up, lateness and missed ticks are tested exactly.
pub trait Clock {
    /// The time now.
    fn now(&self) -> Instant;

    /// Sleep until `deadline`, or until `stop` is set (noticed within ~50 ms).
    fn sleep_until(&self, deadline: Instant, stop: &AtomicBool);
}

/// The monotonic clock (`Instant`, CLOCK_MONOTONIC on Linux), with absolute sleeps.
#[derive(Debug, Clone, Copy, Default)]
pub struct MonotonicClock;

impl Clock for MonotonicClock {
    fn now(&self) -> Instant {
        Instant::now()
    }

    /// An absolute `clock_nanosleep` rather than `std::thread::sleep` (relative): one clock
    /// read less per wake-up, and no drift from the time spent between reading the clock and
    /// sleeping. Measured on this machine kind: 15.1 µs of CPU per 1 ms sleep, against 17.2 µs
    /// relative.
    fn sleep_until(&self, deadline: Instant, stop: &AtomicBool) {
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

/// How far behind the clock the sampler may fall and still make the ticks up, sampling at once
/// until caught up: timer wake-ups on a VM run late by up to a scheduler tick (4 ms) now and
/// then (a bare C sleep loop at 10 kHz: 275-367 of 50,000 wake-ups more than one interval late,
/// worst 4.0-4.1 ms, `benches/sleep_floor.c`). Made up, the sample count stays true to wall
/// time; further behind (the sampler cannot keep up, or was stopped), ticks are skipped and
/// counted as missed. At least two intervals at low rates.
pub(super) fn make_up_limit(interval: Duration) -> Duration {
    (interval * 2).max(Duration::from_millis(10))
}

/// For a sampler `behind` its next deadline: `None` if it makes the ticks up, or the ticks it
/// skips and how far behind it stays (the backlog it still makes up).
pub(super) fn too_far_behind(behind: Duration, interval: Duration) -> Option<(u64, Duration)> {
    let limit = make_up_limit(interval);
    (behind > limit).then(|| {
        let skipped = (behind - limit).as_nanos() / interval.as_nanos().max(1);
        (skipped as u64, limit)
    })
}

/// When ticks are due: one per interval on an exact grid, each at a random point of its own
/// slot (uniform within half an interval either side of its grid point), so sampling never
/// locks in step with a periodic program. Unlike a walk of jittered intervals, whose tick count
/// over 5 s at 10 kHz drifts by ±65 (one standard deviation), the count stays within one tick
/// of duration × rate.
pub(super) struct Schedule {
    grid: Instant,
    interval: Duration,
    jitter: XorShift,
}

impl Schedule {
    /// The first tick is at `start`, unjittered.
    pub(super) fn new(start: Instant, interval: Duration, seed: u64) -> Schedule {
        Schedule {
            grid: start,
            interval,
            jitter: XorShift::new(seed),
        }
    }

    /// The next tick's deadline.
    pub(super) fn next_tick(&mut self) -> Instant {
        self.grid += self.interval;
        // unit() is uniform in [0, 1): the offset runs over the whole slot.
        let offset = self.interval.mul_f64(self.jitter.unit());
        self.grid - self.interval / 2 + offset
    }

    /// Drop the ticks before `grid`: the next one is a slot after it.
    pub(super) fn restart_at(&mut self, grid: Instant) {
        self.grid = grid;
    }

    /// Move every tick still to come later by `by` (time the target did not run).
    pub(super) fn delay(&mut self, by: Duration) {
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
