//! Native stacks for a live session: where the registers and stack copies come from (perf
//! samples without stopping the target, or a ptrace stop where perf events are refused), and
//! their merge into the Python stacks of the same sample.
//!
//! Timing: a perf record is taken by the kernel at a CPU-clock tick, and read by us later; the
//! Python stack is read later still. The two are merged only where the Python stack is known
//! not to have changed in between: the thread's Python functions have been the same in every
//! walk since one that began before the record's moment (so they were the same at that moment
//! too). A thread inside a long C call (what `--native` is for) passes; one
//! whose Python stack moved keeps its Python frames alone ([`NativeStats::moved`]). Then the
//! eval-loop calls must pair up with the Python calls (3.12+: each entry frame must lie in the
//! stack span of the native frame it belongs to), else [`NativeStats::mismatched`]. In a
//! ptrace stop the Python walk is of the same moment, and none of this is needed.
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::merge::{merge, Fit};
use super::{Modules, Registers, StackCopy, Unwinder};
use crate::perf::stacks::{StackSample, StackWatch};
use crate::process::{MemoryReader, ProcessMaps};
use crate::stack::{EvalCall, Frame, ThreadStack};

/// How often the module list is read again (new libraries loaded) and the thread list synced.
const REFRESH: Duration = Duration::from_millis(500);

/// Counts over a session, for the summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NativeStats {
    /// Thread samples merged with a native stack.
    pub merged: u64,
    /// Merged as far as the native unwind went (it stopped early).
    pub partial: u64,
    /// Eval-loop calls and Python calls did not pair up: Python frames alone.
    pub mismatched: u64,
    /// The Python stack changed around the perf record's moment: Python frames alone.
    pub moved: u64,
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
    captures: super::replay::CaptureWriter,
    /// Threads merged by the last [`NativeStacks::merge_into`].
    merged_tids: Vec<u32>,
    /// Each thread's Python frames in the previous walk, and since when (CLOCK_MONOTONIC ns,
    /// the start of the first walk that found them) its functions have been the same.
    previous: HashMap<u32, (Arc<[Frame]>, u64)>,
    /// When this walk began.
    walk_ns: u64,
    /// [`NativeStacks::at_faults`] gave the stacks of the next walk.
    at_faults: bool,
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
            captures: super::replay::CaptureWriter::from_env(),
            merged_tids: Vec::new(),
            previous: HashMap::new(),
            walk_ns: 0,
            at_faults: false,
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
        self.walk_ns = monotonic_ns();
        if self.refreshed.elapsed() >= REFRESH {
            self.refreshed = Instant::now();
            if let Ok(maps) = ProcessMaps::read(self.pid) {
                self.unwinder.refresh_modules(self.pid, &maps);
            }
            let tids = tids();
            self.previous.retain(|tid, _| tids.contains(tid));
            if let Source::Perf(watch) = &mut self.source {
                watch.sync(&tids);
            }
        }
        match &mut self.source {
            Source::Perf(watch) => watch.drain_newest(&mut self.newest, &mut self.fresh),
            Source::Ptrace { .. } => self.fresh.clear(),
        }
    }

    /// A page fault's wake-up: the faulting threads' registers and stacks, taken by the kernel
    /// at their newest fault record, for [`NativeStacks::merge_at_faults`].
    pub fn at_faults(&mut self, samples: &mut dyn Iterator<Item = StackSample>) {
        self.walk_ns = monotonic_ns();
        self.fresh.clear();
        for sample in samples {
            let tid = sample.tid;
            let newest = self.newest.entry(tid).or_default();
            if sample.time_ns >= newest.time_ns {
                *newest = sample;
            }
            self.fresh.push(tid);
        }
        self.at_faults = true;
    }

    /// After a page fault's walk: merge the faulting threads given to
    /// [`NativeStacks::at_faults`] (none if it was not called), so that the growth is charged
    /// down to the C function that touched the memory. The same check as a tick's: a thread
    /// whose Python functions changed since the walk before the fault keeps its Python frames
    /// alone (without it, 1% of the growth of a test of two growing functions called in turn
    /// showed the C code of one under the other; with it, 99.7% still has native frames, as a
    /// growing call is seen by several wake-ups). Not counted in [`NativeStacks::stats`], which
    /// describe the ticks.
    pub fn merge_at_faults(&mut self, stacks: &mut [ThreadStack], calls: &[Vec<EvalCall>]) {
        if !std::mem::take(&mut self.at_faults) {
            self.walk_ns = monotonic_ns();
            self.fresh.clear();
        }
        let ticks = self.stats;
        self.merge_into(stacks, calls);
        self.stats = ticks;
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
    pub fn merge_into(&mut self, stacks: &mut [ThreadStack], calls: &[Vec<EvalCall>]) {
        self.merged_tids.clear();
        let paused = matches!(self.source, Source::Ptrace { .. });
        for (i, stack) in stacks.iter_mut().enumerate() {
            let stable_since = match stack.os_tid {
                Some(tid) => {
                    let walk_ns = self.walk_ns;
                    let entry = self
                        .previous
                        .entry(tid)
                        .or_insert_with(|| (stack.frames.clone(), walk_ns));
                    if !same_functions(&entry.0, &stack.frames) {
                        entry.1 = walk_ns;
                    }
                    entry.0 = stack.frames.clone();
                    entry.1
                }
                None => u64::MAX,
            };
            let fresh = stack.os_tid.filter(|tid| self.fresh.contains(tid));
            let (Some(tid), Some(calls)) = (fresh, calls.get(i)) else {
                self.stats.without += 1;
                continue;
            };
            let Some(sample) = self.newest.get(&tid) else {
                continue;
            };
            let still = paused || sample.time_ns >= stable_since;
            if !still {
                self.stats.moved += 1;
                continue;
            }
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
                    if self.captures.wants() {
                        self.captures.write(&super::replay::Capture::new(
                            self.unwinder.modules(),
                            sample.regs,
                            &sample.stack,
                            &native,
                            self.unwinder.python2(),
                        ));
                    }
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

/// `record --native` / `top --native`: perf samples every half `interval` of each thread's
/// CPU time (so a thread on a CPU for most of an interval has a record at most ticks, on a
/// shared machine too); where perf events are refused, ptrace stops, and a message that says so.
pub fn enable_for_recording(session: &mut crate::session::Session, interval: Duration) {
    let native = session.enable_native(interval / 2, crate::perf::stacks::DEFAULT_STACK_BYTES);
    if let Some(why) = native.perf_refused() {
        crate::say!(
            "pyprobe: perf events refused ({why}): --native falls back to stopping the target (ptrace) for every sample"
        );
    }
}

/// The same functions (lines aside): a thread still inside the same calls.
fn same_functions(a: &Arc<[Frame]>, b: &Arc<[Frame]>) -> bool {
    Arc::ptr_eq(a, b)
        || (a.len() == b.len()
            && a.iter()
                .zip(b.iter())
                .all(|(x, y)| x.name == y.name && x.filename == y.filename))
}

/// `CLOCK_MONOTONIC` now, in ns: the clock perf records are stamped with.
fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid timespec to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(ts.tv_nsec as u64)
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
