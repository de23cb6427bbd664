//! Native stacks for a live session: where the registers and stack copies come from (perf
//! samples without stopping the target, or a ptrace stop where perf events are refused), and
//! their merge into the Python stacks of the same sample.
//!
//! Timing: the perf rings are drained just before the Python stacks are walked, and each
//! thread's newest record is merged with the Python stack read right after. A thread inside a
//! long C call (the case `--native` is for) has the same Python stack at both moments; one that
//! returned or called in between shows a different count of eval-loop calls than its Python
//! stack, and is given its Python frames alone (counted in [`NativeStats::mismatched`]).
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::merge::{merge, Fit};
use super::{Modules, Registers, StackCopy, Unwinder};
use crate::perf::stacks::{StackSample, StackWatch};
use crate::process::{MemoryReader, ProcessMaps};
use crate::stack::{Frame, ThreadStack};

/// How often the module list is read again (new libraries loaded) and the thread list synced.
const REFRESH: Duration = Duration::from_millis(500);

/// Counts over a session, for the summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NativeStats {
    /// Thread samples merged with a native stack.
    pub merged: u64,
    /// Merged as far as the native unwind went (it stopped early).
    pub partial: u64,
    /// Native and Python stacks of different moments: Python frames alone.
    pub mismatched: u64,
    /// Thread samples with no native stack (the thread did not run since the last sample).
    pub without: u64,
}

/// Where registers and stacks come from.
#[derive(Debug)]
enum Source {
    /// Per-thread cpu-clock perf events: no stop.
    Perf(StackWatch),
    /// ptrace: registers read while the target is paused for the Python walk.
    Ptrace { stack_bytes: usize },
}

/// The native side of a session.
#[derive(Debug)]
pub struct NativeStacks {
    pid: i32,
    source: Source,
    /// Why perf events are not used, when they are not.
    refused: Option<String>,
    unwinder: Unwinder,
    newest: HashMap<u32, StackSample>,
    fresh: Vec<u32>,
    refreshed: Instant,
    merged: Vec<Frame>,
    /// Threads merged by the last [`NativeStacks::merge_into`].
    merged_tids: Vec<u32>,
    stats: NativeStats,
}

impl NativeStacks {
    /// Perf events on `tids` (one sample per `period` of each thread's CPU time), or ptrace
    /// where the kernel refuses them (see [`NativeStacks::perf_refused`]).
    pub fn open(
        pid: i32,
        tids: &[u32],
        period: Duration,
        stack_bytes: u32,
        python2: bool,
    ) -> NativeStacks {
        let (source, refused) = match StackWatch::open(tids.iter().copied(), period, stack_bytes) {
            Ok(watch) => (Source::Perf(watch), None),
            Err(e) => (
                Source::Ptrace {
                    stack_bytes: stack_bytes as usize,
                },
                Some(e.to_string()),
            ),
        };
        let mut modules = Modules::default();
        if let Ok(maps) = ProcessMaps::read(pid) {
            modules.refresh(pid, &maps);
        }
        NativeStacks {
            pid,
            source,
            refused,
            unwinder: Unwinder::new(modules, python2),
            newest: HashMap::new(),
            fresh: Vec::new(),
            refreshed: Instant::now(),
            merged: Vec::new(),
            merged_tids: Vec::new(),
            stats: NativeStats::default(),
        }
    }

    /// Why perf events were refused (the stacks then come from ptrace stops), if they were.
    pub fn perf_refused(&self) -> Option<&str> {
        self.refused.as_deref()
    }

    /// Whether samples must be taken with the target paused (ptrace source).
    pub fn needs_pause(&self) -> bool {
        matches!(self.source, Source::Ptrace { .. })
    }

    /// Read registers in ptrace stops from now on (dump: for the threads perf samples did not
    /// reach, the idle ones, which cpu-clock events never sample).
    pub fn use_ptrace(&mut self, stack_bytes: usize) {
        self.source = Source::Ptrace { stack_bytes };
    }

    /// Threads merged with a native stack by the last sample.
    pub fn merged_tids(&self) -> &[u32] {
        &self.merged_tids
    }

    /// Counts so far.
    pub fn stats(&self) -> NativeStats {
        self.stats
    }

    /// Perf records lost (rings full).
    pub fn lost(&self) -> u64 {
        match &self.source {
            Source::Perf(watch) => watch.lost(),
            Source::Ptrace { .. } => 0,
        }
    }

    /// Wait up to `timeout` for a perf record (dump: for a running thread to be sampled).
    pub fn wait(&mut self, timeout: Duration) -> bool {
        match &mut self.source {
            Source::Perf(watch) => watch.wait(timeout),
            Source::Ptrace { .. } => false,
        }
    }

    /// Before the Python walk: take each thread's newest perf record (and, now and then,
    /// follow new threads and newly mapped modules).
    pub fn before_walk(&mut self, tids: impl FnOnce() -> Vec<u32>) {
        if self.refreshed.elapsed() >= REFRESH {
            self.refreshed = Instant::now();
            if let Ok(maps) = ProcessMaps::read(self.pid) {
                self.unwinder.modules_mut().refresh(self.pid, &maps);
            }
            if let Source::Perf(watch) = &mut self.source {
                watch.sync(&tids());
            }
        }
        match &mut self.source {
            Source::Perf(watch) => watch.drain_newest(&mut self.newest, &mut self.fresh),
            Source::Ptrace { .. } => self.fresh.clear(),
        }
    }

    /// While the target is paused (ptrace source): every thread's registers and stack.
    pub fn while_paused(&mut self, tids: &[u32], reader: &dyn MemoryReader) {
        let Source::Ptrace { stack_bytes } = self.source else {
            return;
        };
        self.fresh.clear();
        for &tid in tids {
            let Some(regs) = ptrace_registers(tid) else {
                continue;
            };
            let sample = self.newest.entry(tid).or_default();
            sample.tid = tid;
            sample.regs = regs;
            read_stack(reader, regs.sp, stack_bytes, &mut sample.stack);
            self.fresh.push(tid);
        }
    }

    /// After the walk: merge each thread that has a fresh native stack. `calls`, per stack,
    /// from [`crate::python::Walker::eval_calls`].
    pub fn merge_into(&mut self, stacks: &mut [ThreadStack], calls: &[Vec<u32>]) {
        self.merged_tids.clear();
        for (i, stack) in stacks.iter_mut().enumerate() {
            let fresh = stack.os_tid.filter(|tid| self.fresh.contains(tid));
            let (Some(tid), Some(calls)) = (fresh, calls.get(i)) else {
                self.stats.without += 1;
                continue;
            };
            let Some(sample) = self.newest.get(&tid) else {
                continue;
            };
            let native = self.unwinder.unwind(
                sample.regs,
                StackCopy {
                    start: sample.regs.sp,
                    bytes: &sample.stack,
                },
            );
            match merge(&native, &stack.frames, calls, &mut self.merged) {
                Fit::Mismatch => self.stats.mismatched += 1,
                fit => {
                    if fit == Fit::Partial {
                        self.stats.partial += 1;
                    }
                    self.stats.merged += 1;
                    self.merged_tids.push(tid);
                    stack.frames = Arc::from(&self.merged[..]);
                }
            }
        }
    }
}

/// A stopped thread's rip, rsp, rbp (`PTRACE_GETREGS`), if it is traced by this thread.
pub fn ptrace_registers(tid: u32) -> Option<Registers> {
    // SAFETY: an all-zero user_regs_struct is valid; GETREGS fills it or fails.
    let mut regs: libc::user_regs_struct = unsafe { std::mem::zeroed() };
    // SAFETY: a plain ptrace request on a thread we trace, into a buffer of the right type.
    let r = unsafe {
        libc::ptrace(
            libc::PTRACE_GETREGS,
            tid as libc::pid_t,
            std::ptr::null_mut::<libc::c_void>(),
            &mut regs as *mut libc::user_regs_struct,
        )
    };
    (r == 0).then_some(Registers {
        ip: regs.rip,
        sp: regs.rsp,
        bp: regs.rbp,
    })
}

/// Up to `len` bytes of stack from `sp`: a stack shorter than that ends in an unmapped page,
/// so shorter reads are tried down to one page.
pub fn read_stack(reader: &dyn MemoryReader, sp: u64, len: usize, out: &mut Vec<u8>) {
    let mut len = len;
    while len >= 512 {
        out.resize(len, 0);
        if reader.read_into(sp, out).is_ok() {
            return;
        }
        // To the next page boundary below `sp + len`, halving the rest.
        len /= 2;
    }
    out.clear();
}
