//! Page faults per thread, from the kernel: the only outside view of which thread grew the
//! process's memory. Anonymous resident memory grows by page faults, taken synchronously by the
//! thread that touches a new page; a software page-fault event per target thread, sampling every
//! [`FaultWatch::period`] faults, writes a record (thread, time) to its ring and wakes the
//! sampler, which then reads that thread's stack while it is, most likely, still growing.
use std::collections::HashMap;
use std::io;
use std::time::{Duration, Instant};

use super::stacks::{decode, ring_pages, stack_attr, stack_bytes_in_range, StackSample};
use super::{Event, Sample, SW_PAGE_FAULTS};
use crate::proc::ThreadFaultsReader;

/// Default faults between two records: 64 pages (256 KiB of 4 KiB pages), so growth is seen at
/// least every 256 KiB, and a program growing 1 GiB/s wakes the sampler 4,000 times a second.
pub const DEFAULT_PERIOD: u64 = 64;

/// What one wake-up learned of one thread's faults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FaultsSeen {
    /// The thread.
    pub tid: u32,
    /// Faults in its records since the last wake-up (records × period).
    pub faults: u64,
    /// It took faults while its stack was being read (see [`FaultWatch::while_read`]): its
    /// growth goes on, and the stack read is of the code that grows.
    pub growing: bool,
    /// Its fault count (`/proc` `stat`) when the records were drained.
    count: Option<u64>,
}

/// Faults per thread since the last drain, most first.
pub type FaultCounts = Vec<FaultsSeen>;

/// Bytes of user stack a record copies with `--native` (a fault is deep in C code under the
/// eval loop: 16 KiB reaches past it in the stacks seen here, and costs half the default).
pub const FAULT_STACK_BYTES: u32 = 16 * 1024;

/// Records a ring with stacks holds: a wake-up drains it, and a record lost is 64 faults not
/// counted, so room for a burst of 16 (4 MiB of growth at the default period).
const STACK_RECORDS: usize = 16;

/// One thread's event, and its fault count from /proc, which says whether the thread still
/// faults. Not the event's own counter: reading that while the thread runs interrupts it (an
/// IPI to its CPU), twice per wake-up; on this VM that cost the target ~11 µs per wake-up (a
/// Python loop touching fresh pages, `benches/fault_cost.py`: 2,500 ns per page under pyprobe
/// with the counter read, 2,330 without, 2,050 alone).
#[derive(Debug)]
struct Watched {
    event: Event,
    faults: Option<ThreadFaultsReader>,
}

impl Watched {
    fn new(tid: u32, event: Event) -> Watched {
        Watched {
            event,
            faults: ThreadFaultsReader::open(tid).ok(),
        }
    }

    fn faults_so_far(&self) -> Option<u64> {
        self.faults.as_ref()?.faults()
    }
}

/// Page-fault events on every thread of a target.
#[derive(Debug)]
pub struct FaultWatch {
    period: u64,
    /// With `--native`: bytes of user stack each record copies (see [`FaultWatch::take_stacks`]).
    stack_bytes: Option<u32>,
    /// Each thread's newest record with its stack, since the last [`FaultWatch::take_stacks`].
    stacks: HashMap<u32, StackSample>,
    /// A record being decoded (its stack buffer reused), and its bytes.
    scratch: StackSample,
    record: Vec<u8>,
    /// Each thread's event and what goes with it.
    events: HashMap<u32, Watched>,
    /// Records drained, reused.
    samples: Vec<Sample>,
    pollfds: Vec<libc::pollfd>,
}

impl FaultWatch {
    /// Events on `tids`, one record per `period` faults. An error when the kernel refuses
    /// perf events (perf_event_paranoid, seccomp, no CAP_PERFMON): the caller falls back.
    pub fn open(tids: impl IntoIterator<Item = u32>, period: u64) -> io::Result<FaultWatch> {
        FaultWatch::open_with(tids, period, None)
    }

    /// As [`FaultWatch::open`]; with `stack_bytes`, each record also copies the faulting
    /// thread's registers and user stack, for the native frames of the code that grew.
    pub fn open_with(
        tids: impl IntoIterator<Item = u32>,
        period: u64,
        stack_bytes: Option<u32>,
    ) -> io::Result<FaultWatch> {
        let mut watch = FaultWatch {
            period: period.max(1),
            stack_bytes: stack_bytes.map(stack_bytes_in_range),
            stacks: HashMap::new(),
            scratch: StackSample::default(),
            record: Vec::new(),
            events: HashMap::new(),
            samples: Vec::new(),
            pollfds: Vec::new(),
        };
        let mut first_error = None;
        for tid in tids {
            match watch.event(tid) {
                Ok(event) => {
                    watch.events.insert(tid, Watched::new(tid, event));
                }
                // A thread that exited in between: not a refusal.
                Err(e) if e.raw_os_error() == Some(libc::ESRCH) => {}
                Err(e) => first_error = first_error.or(Some(e)),
            }
        }
        match first_error {
            Some(e) if watch.events.is_empty() => Err(e),
            _ => Ok(watch),
        }
    }

    fn event(&self, tid: u32) -> io::Result<Event> {
        match self.stack_bytes {
            None => Event::software(tid, SW_PAGE_FAULTS, self.period),
            Some(bytes) => Event::open(
                &stack_attr(SW_PAGE_FAULTS, self.period, bytes),
                tid,
                ring_pages(bytes, STACK_RECORDS),
            ),
        }
    }

    /// Each faulting thread's registers and stack at its newest record since the last call
    /// (with stacks asked for at [`FaultWatch::open_with`]; else nothing).
    pub fn take_stacks(&mut self) -> impl Iterator<Item = StackSample> + '_ {
        self.stacks.drain().map(|(_, sample)| sample)
    }

    /// Faults per record.
    pub fn period(&self) -> u64 {
        self.period
    }

    /// Records the kernel dropped (ring full) so far.
    pub fn lost(&self) -> u64 {
        self.events.values().map(|w| w.event.lost).sum()
    }

    /// Follow the target's threads: events for new ones, none kept for those gone (their
    /// descriptors close). A thread the kernel refuses is skipped.
    pub fn sync(&mut self, tids: &[u32]) {
        self.events.retain(|tid, _| tids.contains(tid));
        for &tid in tids {
            if !self.events.contains_key(&tid) {
                if let Ok(event) = self.event(tid) {
                    self.events.insert(tid, Watched::new(tid, event));
                }
            }
        }
    }

    /// Wait until records arrive or `deadline` passes (`stop` is checked every 50 ms).
    /// Returns whether records are waiting.
    pub fn wait(&mut self, deadline: Instant, stop: &std::sync::atomic::AtomicBool) -> bool {
        self.pollfds.clear();
        self.pollfds
            .extend(self.events.values().map(|w| libc::pollfd {
                fd: w.event.raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            }));
        loop {
            let now = Instant::now();
            if now >= deadline || stop.load(std::sync::atomic::Ordering::Relaxed) {
                return false;
            }
            let wait = (deadline - now).min(Duration::from_millis(50));
            if self.pollfds.is_empty() {
                std::thread::sleep(wait);
                continue;
            }
            // To the nanosecond (ppoll), not poll's whole milliseconds: the deadline is the
            // next tick's, and a tick rounded up to the next millisecond is taken after
            // whatever page-fault record ends the wait first, so ticks would cluster on the
            // code that faults (squeeze() in tests/scripts/native_mix.py, on zlib: 28% of the
            // samples against 20% of the time; 19% against 20% with this, 3.9).
            let timeout = libc::timespec {
                tv_sec: wait.as_secs() as libc::time_t,
                tv_nsec: wait.subsec_nanos() as libc::c_long,
            };
            // SAFETY: a valid array of pollfds of the length given; no signal mask.
            let n = unsafe {
                libc::ppoll(
                    self.pollfds.as_mut_ptr(),
                    self.pollfds.len() as libc::nfds_t,
                    &timeout,
                    std::ptr::null(),
                )
            };
            if n > 0 {
                return true;
            }
            if n < 0 && io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
                std::thread::sleep(wait);
            }
        }
    }

    /// Faults recorded per thread since the last drain, most first.
    pub fn drain(&mut self) -> FaultCounts {
        let mut out = FaultCounts::new();
        for (&tid, watched) in &mut self.events {
            let event = &mut watched.event;
            let records = match self.stack_bytes {
                None => {
                    self.samples.clear();
                    event.drain(&mut self.samples);
                    self.samples.len()
                }
                // Only the newest record's stack is unwound: only it is copied.
                Some(_) => {
                    let records = event.drain_newest(&mut self.record);
                    if records > 0 && decode(&self.record, &mut self.scratch) {
                        std::mem::swap(self.stacks.entry(tid).or_default(), &mut self.scratch);
                    }
                    records
                }
            };
            if records == 0 {
                continue;
            }
            let faults = records as u64 * self.period;
            out.push(FaultsSeen {
                tid,
                faults,
                growing: false,
                count: watched.faults_so_far(),
            });
        }
        out.sort_by(|a, b| b.faults.cmp(&a.faults).then(a.tid.cmp(&b.tid)));
        out
    }

    /// After the stacks were read: mark the threads that took faults between the drain and
    /// now. Only those were surely still in the code that grows when read; a count above the
    /// last record alone says nothing (the few faults left over at the end of every burst).
    pub fn while_read(&self, counts: &mut FaultCounts) {
        for seen in counts.iter_mut() {
            seen.growing = self
                .events
                .get(&seen.tid)
                .and_then(Watched::faults_so_far)
                .zip(seen.count)
                .is_some_and(|(now, then)| now > then);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::FaultWatch;
    use std::sync::atomic::AtomicBool;
    use std::time::{Duration, Instant};

    #[test]
    fn a_growing_thread_wakes_the_watch_and_is_named() {
        let (tx, rx) = std::sync::mpsc::channel();
        let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
        let grower = std::thread::spawn(move || {
            tx.send(unsafe { libc::gettid() } as u32).unwrap();
            go_rx.recv().unwrap();
            let mut v = vec![0u8; 8 << 20];
            for i in (0..v.len()).step_by(4096) {
                v[i] = 1;
            }
            std::hint::black_box(&v);
        });
        let tid = rx.recv().unwrap();
        let me = unsafe { libc::gettid() } as u32;
        let mut watch = FaultWatch::open([tid, me], 64).expect("perf events (root)");
        assert_eq!(watch.drain(), vec![], "nothing before the growth");
        go_tx.send(()).unwrap();
        let stop = AtomicBool::new(false);
        assert!(watch.wait(Instant::now() + Duration::from_secs(10), &stop));
        grower.join().unwrap();
        let counts = watch.drain();
        let grown: u64 = counts
            .iter()
            .filter(|c| c.tid == tid)
            .map(|c| c.faults)
            .sum();
        // 2,048 pages touched: about 32 records of 64 (less what the first wait left).
        assert!(grown >= 1024, "{counts:?}");
        assert!(
            counts.iter().all(|c| c.tid == tid || c.tid == me),
            "{counts:?}"
        );
        // Drained after the grower finished: no fault after its last record but a remainder.
        assert!(counts
            .iter()
            .filter(|c| c.tid == tid)
            .all(|c| c.faults % 64 == 0));
        // The grower exited: its event goes.
        watch.sync(&[me]);
        assert!(watch.events.len() == 1 && watch.events.contains_key(&me));
    }

    #[test]
    fn a_thread_still_faulting_after_the_drain_is_told_from_one_that_stopped() {
        use std::sync::mpsc::channel;
        let (tid_tx, tid_rx) = channel();
        let (go_tx, go_rx) = channel::<bool>();
        let (done_tx, done_rx) = channel::<()>();
        // Touches 4 MiB of fresh pages each time it is told to, until told to end.
        let grower = std::thread::spawn(move || {
            tid_tx.send(unsafe { libc::gettid() } as u32).unwrap();
            let mut kept = Vec::new();
            while go_rx.recv().unwrap() {
                let mut v = vec![0u8; 4 << 20];
                for i in (0..v.len()).step_by(4096) {
                    v[i] = 1;
                }
                kept.push(v);
                done_tx.send(()).unwrap();
            }
        });
        let tid = tid_rx.recv().unwrap();
        let mut watch = FaultWatch::open([tid], 64).expect("perf events (root)");
        let growing_after = |watch: &mut FaultWatch, touch_again: bool| {
            go_tx.send(true).unwrap();
            done_rx.recv().unwrap();
            let mut counts = watch.drain();
            if touch_again {
                go_tx.send(true).unwrap();
                done_rx.recv().unwrap();
            }
            watch.while_read(&mut counts);
            let seen = counts.iter().find(|c| c.tid == tid).copied();
            seen.expect("the grower's records").growing
        };
        assert!(growing_after(&mut watch, true), "faults after the drain");
        assert!(
            !growing_after(&mut watch, false),
            "no fault after the drain"
        );
        go_tx.send(false).unwrap();
        grower.join().unwrap();
    }
}
