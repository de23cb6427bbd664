//! Registers and a copy of the user stack of each running thread, taken by the kernel at a
//! CPU-clock tick, without stopping the thread (as `perf record --call-graph dwarf` does): a
//! cpu-clock event per thread with `PERF_SAMPLE_REGS_USER` (rip, rsp, rbp) and
//! `PERF_SAMPLE_STACK_USER` (the bytes from rsp up). [`crate::native`] unwinds them.
//! https://man7.org/linux/man-pages/man2/perf_event_open.2.html
use std::collections::HashMap;
use std::io;
use std::time::Duration;

use super::{
    u64_le, Attr, Event, FLAG_DISABLED, FLAG_EXCLUDE_HV, FLAG_EXCLUDE_KERNEL, FLAG_USE_CLOCKID,
    SAMPLE_IP, SAMPLE_REGS_USER, SAMPLE_STACK_USER, SAMPLE_TID, SAMPLE_TIME, SW_CPU_CLOCK,
    TYPE_SOFTWARE,
};
use crate::native::Registers;

/// x86_64 `perf_event_x86_regs` bits: BP (6), SP (7), IP (8); the kernel writes the chosen
/// registers in bit order.
/// https://github.com/torvalds/linux/blob/v6.8/arch/x86/include/uapi/asm/perf_regs.h
const REGS_MASK: u64 = (1 << 6) | (1 << 7) | (1 << 8);
/// `PERF_SAMPLE_REGS_ABI_NONE`: the sample has no user registers (taken in a kernel thread).
const ABI_NONE: u64 = 0;
/// Default bytes of stack copied per sample.
pub const DEFAULT_STACK_BYTES: u32 = 32 * 1024;
/// Most bytes of stack per sample: a record's size is a u16.
pub const MAX_STACK_BYTES: u32 = 60 * 1024;

/// One thread's registers and stack at a CPU-clock tick.
#[derive(Debug, Clone, Default)]
pub struct StackSample {
    /// The thread.
    pub tid: u32,
    /// `CLOCK_MONOTONIC` ns of the tick.
    pub time_ns: u64,
    /// rip, rsp, rbp.
    pub regs: Registers,
    /// The stack from rsp up, as much as was copied.
    pub stack: Vec<u8>,
}

/// Decode a sample record (after its header) of the layout [`StackWatch`] asks for:
/// ip, pid/tid, time, regs ABI + bp/sp/ip, stack size + bytes + dynamic size.
pub fn decode(record: &[u8], into: &mut StackSample) -> bool {
    if record.len() < 32 {
        return false;
    }
    into.tid = super::u32_le(record, 12);
    into.time_ns = u64_le(record, 16);
    let abi = u64_le(record, 24);
    if abi == ABI_NONE || record.len() < 64 {
        return false;
    }
    into.regs = Registers {
        bp: u64_le(record, 32),
        sp: u64_le(record, 40),
        ip: u64_le(record, 48),
    };
    let size = u64_le(record, 56) as usize;
    let Some(bytes) = record.get(64..64usize.saturating_add(size)) else {
        return false;
    };
    // The dynamic size follows the bytes: how much of the copy was really stack.
    let used = (u64_le(record, 64 + size) as usize).min(size);
    into.stack.clear();
    into.stack.extend_from_slice(&bytes[..used]);
    true
}

/// A software event (`config`: cpu-clock, page faults) that records, every `period`, the user
/// registers and `stack_bytes` of user stack, in the layout [`decode`] reads.
pub(super) fn stack_attr(config: u64, period: u64, stack_bytes: u32) -> Attr {
    Attr {
        kind: TYPE_SOFTWARE,
        size: std::mem::size_of::<Attr>() as u32,
        config,
        sample_period: period.max(1),
        sample_type: SAMPLE_IP | SAMPLE_TID | SAMPLE_TIME | SAMPLE_REGS_USER | SAMPLE_STACK_USER,
        flags: FLAG_DISABLED | FLAG_EXCLUDE_KERNEL | FLAG_EXCLUDE_HV | FLAG_USE_CLOCKID,
        wakeup_events: 1,
        sample_regs_user: REGS_MASK,
        sample_stack_user: stack_bytes,
        clockid: libc::CLOCK_MONOTONIC,
        ..Attr::default()
    }
}

/// Ring pages (a power of two) for `records` records of `stack_bytes` of stack.
pub(super) fn ring_pages(stack_bytes: u32, records: usize) -> usize {
    let record = stack_bytes as usize + 128;
    (record * records).div_ceil(4096).next_power_of_two()
}

/// Bytes of stack a request of `stack_bytes` copies: within what a record can hold, whole words.
pub fn stack_bytes_in_range(stack_bytes: u32) -> u32 {
    stack_bytes.clamp(1024, MAX_STACK_BYTES) & !7
}

/// CPU-clock events with stack copies on every thread of a target.
#[derive(Debug)]
pub struct StackWatch {
    period_ns: u64,
    stack_bytes: u32,
    events: HashMap<u32, Event>,
    pollfds: Vec<libc::pollfd>,
    /// The newest record of a thread, copied out of its ring (reused).
    record: Vec<u8>,
}

impl StackWatch {
    /// Events on `tids`, one sample per `period` of each thread's CPU time, `stack_bytes` of
    /// stack each. An error when the kernel refuses perf events: the caller falls back.
    pub fn open(
        tids: impl IntoIterator<Item = u32>,
        period: Duration,
        stack_bytes: u32,
    ) -> io::Result<StackWatch> {
        let mut watch = StackWatch {
            period_ns: (period.as_nanos() as u64).max(10_000),
            stack_bytes: stack_bytes_in_range(stack_bytes),
            events: HashMap::new(),
            pollfds: Vec::new(),
            record: Vec::new(),
        };
        let mut first_error = None;
        for tid in tids {
            if let Err(e) = watch.add(tid) {
                first_error = first_error.or(Some(e));
            }
        }
        match first_error {
            Some(e) if watch.events.is_empty() => Err(e),
            _ => Ok(watch),
        }
    }

    fn add(&mut self, tid: u32) -> io::Result<()> {
        let attr = stack_attr(SW_CPU_CLOCK, self.period_ns, self.stack_bytes);
        // Room for a few records: the ring is drained every sample.
        match Event::open(&attr, tid, ring_pages(self.stack_bytes, 4)) {
            Ok(event) => {
                self.events.insert(tid, event);
                Ok(())
            }
            // A thread that exited in between: not a refusal.
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Follow the target's threads: events for new ones, none for those gone.
    pub fn sync(&mut self, tids: &[u32]) {
        self.events.retain(|tid, _| tids.contains(tid));
        for &tid in tids {
            if !self.events.contains_key(&tid) {
                let _ = self.add(tid);
            }
        }
    }

    /// Threads watched.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Whether no thread is watched.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Records the kernel dropped (ring full).
    pub fn lost(&self) -> u64 {
        self.events.values().map(|e| e.lost).sum()
    }

    /// Wait up to `timeout` for any thread's record.
    pub fn wait(&mut self, timeout: Duration) -> bool {
        self.pollfds.clear();
        self.pollfds
            .extend(self.events.values().map(|e| libc::pollfd {
                fd: e.raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            }));
        let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: a valid array of pollfds, its length given.
        let n = unsafe {
            libc::poll(
                self.pollfds.as_mut_ptr(),
                self.pollfds.len() as libc::nfds_t,
                ms,
            )
        };
        n > 0
    }

    /// Each thread's newest record since the last call, decoded into `newest` (keyed by tid;
    /// entries of threads without a new record are left as they were, and reported by
    /// `fresh`, which lists the tids that got one).
    pub fn drain_newest(&mut self, newest: &mut HashMap<u32, StackSample>, fresh: &mut Vec<u32>) {
        fresh.clear();
        let record = &mut self.record;
        for (&tid, event) in &mut self.events {
            if event.drain_newest(record) > 0 && decode(record, newest.entry(tid).or_default()) {
                fresh.push(tid);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(stack: &[u8], dyn_size: u64) -> Vec<u8> {
        let mut r = Vec::new();
        for v in [0x401000u64, (7u64 << 32) | 5, 99, 2, 0x10, 0x7ff0, 0x401000] {
            r.extend_from_slice(&v.to_le_bytes());
        }
        r.extend_from_slice(&(stack.len() as u64).to_le_bytes());
        r.extend_from_slice(stack);
        r.extend_from_slice(&dyn_size.to_le_bytes());
        r
    }

    #[test]
    fn decodes_registers_and_the_used_part_of_the_stack() {
        let mut s = StackSample::default();
        assert!(decode(&record(&[1, 2, 3, 4, 5, 6, 7, 8], 4), &mut s));
        assert_eq!((s.tid, s.time_ns), (7, 99));
        assert_eq!(
            s.regs,
            Registers {
                ip: 0x401000,
                sp: 0x7ff0,
                bp: 0x10
            }
        );
        assert_eq!(s.stack, [1, 2, 3, 4]);
        // Truncated or garbage records are refused, never a panic.
        let full = record(&[0; 64], 64);
        for cut in 0..full.len() {
            let _ = decode(&full[..cut], &mut s);
        }
        let mut huge = record(&[0; 8], 8);
        huge[56..64].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(!decode(&huge, &mut s));
    }

    /// Needs perf events (root, as the tests run): this thread's own stack while it spins.
    #[test]
    fn samples_this_threads_stack_while_it_runs() {
        let tid = unsafe { libc::gettid() } as u32;
        let mut watch = StackWatch::open([tid], Duration::from_micros(200), 8192)
            .expect("perf_event_open refused (tests run as root)");
        let start = std::time::Instant::now();
        let mut x = 0u64;
        while start.elapsed() < Duration::from_millis(30) {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
        let (mut newest, mut fresh) = (HashMap::new(), Vec::new());
        watch.drain_newest(&mut newest, &mut fresh);
        assert_eq!(fresh, [tid]);
        let s = &newest[&tid];
        let here = &x as *const u64 as u64;
        assert!(
            s.regs.sp <= here && here < s.regs.sp + (1 << 20),
            "{:?}",
            s.regs
        );
        assert!(s.stack.len() >= 1024, "{} bytes", s.stack.len());
    }
}
