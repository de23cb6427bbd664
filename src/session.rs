//! An attached Python process: the target, its interpreter, and a walker over live memory.
use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::native::capture::NativeStacks;
use crate::process::{LiveReader, StateCache, Target, ThreadStates};
use crate::python::{find_interpreter, find_interpreter_or_exit, Interpreter, OsThreads, Walker};
use crate::stack::ThreadStack;

/// How samples read the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PauseMode {
    /// Read while the target runs: no slowdown; a stack may change during its read, which shows
    /// up as an occasional error, not as a wrong stack (reads are validated).
    #[default]
    NonBlocking,
    /// Stop every thread (ptrace) for each sample: exact stacks, at a cost to the target.
    Blocking,
}

/// A Python process we sample.
pub struct Session {
    target: Target,
    walker: Walker<LiveReader>,
    pause: PauseMode,
    states: ThreadStates,
    /// The walker's view of the OS threads: its keys are the known tids (≤3.10 maps pthread_t
    /// to tid through them), rebuilt only when the listing changes. Values: whether each was
    /// running, read before the pause in blocking mode only.
    os: OsThreads,
    /// Non-blocking mode: running states reused while a thread's stack top stays put.
    reused_states: StateCache<StackTop>,
    /// Non-blocking mode: when to pause (see [`PAUSED_RUN`]).
    pausing: PausePolicy,
    /// Non-blocking mode: samples taken paused (see [`Session::paused_samples`]).
    paused_samples: u64,
    /// How long the last sample held the target stopped (see [`Session::take_pause`]).
    last_pause: Duration,
    /// `--native`: native stacks merged into each sample.
    native: Option<NativeStacks>,
}

/// Samples taken paused after a read without pausing found a stack that moved while it was
/// copied, before the next read without pausing is tried.
///
/// Read without pausing, a copy of a stack takes a fraction of a microsecond to a few (the
/// kernel pins each page), while call-heavy Python code changes its top frame every few hundred
/// nanoseconds; such a copy is of no single moment, and the moments around calls come out too
/// often (measured against `--blocking` on html.parser and json work: whole functions 5-15
/// points off). Where that happens the profile must come from paused reads, decided ahead,
/// from the stack's recent behaviour, never from the moment being read: replacing the reads
/// that moved by paused ones over-counts the calm moments instead (html.parser on 3.11: a
/// function 6.8 points too high), and the more so the later the paused read comes (on a loaded
/// machine, milliseconds: a long-running function 6-10 points too high). So a read that moved
/// stands, and the next samples are all paused; then one read without pausing tries again.
/// Code that holds still (long calls into C, sleeping, I/O) is read without pausing;
/// call-heavy code costs what `--blocking` costs, and the summary says how often.
const PAUSED_RUN: u32 = 12;

/// The non-blocking mode's choice to pause, made ahead of each sample (see [`PAUSED_RUN`]).
#[derive(Debug, Default)]
struct PausePolicy {
    /// Samples still to take paused.
    run: u32,
}

impl PausePolicy {
    /// Whether the next sample is taken paused.
    fn pause_next(&mut self) -> bool {
        let pause = self.run > 0;
        self.run = self.run.saturating_sub(1);
        pause
    }

    /// A read without pausing found a stack that moved: pause for the next samples.
    fn moved(&mut self) {
        self.run = PAUSED_RUN;
    }
}

/// How long a thread's running state is reused while its stack top does not move.
const STATE_REUSE: Duration = Duration::from_millis(20);

/// Where a thread stands: depth, and the top frame's function (its interned name) and line.
type StackTop = (usize, usize, u32);

fn stack_top(stack: &ThreadStack) -> StackTop {
    let top = stack.frames.first();
    (
        stack.frames.len(),
        top.map_or(0, |f| f.name.address()),
        top.map_or(0, |f| f.line),
    )
}

impl Session {
    /// Attach to `pid` and find its interpreter.
    pub fn attach(pid: i32, pause: PauseMode) -> Result<Session> {
        let target = Target::open(pid)?;
        let interp = find_interpreter_or_exit(&target)?;
        Ok(Session::with_interpreter(target, interp, pause))
    }

    /// Attach to a process that may still be starting (launch mode): retry until its
    /// interpreter is initialized, it exits, or `timeout` passes.
    pub fn attach_when_ready(pid: i32, pause: PauseMode, timeout: Duration) -> Result<Session> {
        let start = Instant::now();
        loop {
            let target = Target::open(pid)?;
            match find_interpreter(&target) {
                Ok(interp) => return Ok(Session::with_interpreter(target, interp, pause)),
                Err(e @ (Error::UnsupportedVersion { .. } | Error::PermissionDenied { .. })) => {
                    return Err(e)
                }
                Err(e) => {
                    if !target.is_alive() {
                        return Err(Error::ProcessExited { pid });
                    }
                    if start.elapsed() > timeout {
                        return Err(e);
                    }
                    // Polling is the only way to learn that another process finished starting.
                    std::thread::sleep(Duration::from_millis(2));
                }
            }
        }
    }

    pub(crate) fn with_interpreter(
        target: Target,
        interp: Interpreter,
        pause: PauseMode,
    ) -> Session {
        let walker = Walker::new(*target.reader(), interp);
        let states = ThreadStates::new(target.pid());
        let os = OsThreads {
            pid: target.pid() as u32,
            active: HashMap::new(),
        };
        Session {
            target,
            walker,
            pause,
            states,
            os,
            reused_states: StateCache::new(STATE_REUSE),
            pausing: PausePolicy::default(),
            paused_samples: 0,
            last_pause: Duration::ZERO,
            native: None,
        }
    }

    /// `--native`: merge native stacks into every sample from now on: perf samples every
    /// `period` of each thread's CPU time, `stack_bytes` of stack each, or ptrace stops where
    /// perf events are refused (then [`NativeStacks::perf_refused`] says why).
    pub fn enable_native(&mut self, period: Duration, stack_bytes: u32) -> &NativeStacks {
        self.walker.track_eval_calls();
        let tids = self.thread_ids();
        let python2 = self.interpreter().layout.version.0 == 2;
        self.native.insert(NativeStacks::open(
            self.target.pid(),
            &tids,
            period,
            stack_bytes,
            python2,
        ))
    }

    /// How native stacks fitted so far, when enabled.
    pub fn native_stats(&self) -> Option<crate::native::capture::NativeStats> {
        self.native.as_ref().map(|n| n.stats())
    }

    /// The native side, when enabled.
    pub fn native(&mut self) -> Option<&mut NativeStacks> {
        self.native.as_mut()
    }

    /// The target's threads (their tids), as last listed.
    pub fn thread_ids(&mut self) -> Vec<u32> {
        self.states.tids_listed()
    }

    /// Each known thread's page faults so far (tid, minor + major), one kept-open `stat` read
    /// per thread: what the fallback attribution charges growth by when page-fault events are
    /// not in use (see [`crate::profile::attribution`]). Threads that cannot be read are left out.
    pub fn thread_faults(&mut self) -> Vec<(u32, u64)> {
        let tids: Vec<u32> = self.states.tids().collect();
        tids.into_iter()
            .filter_map(|tid| Some((tid, self.states.faults(tid)?)))
            .collect()
    }

    /// The target process.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// The interpreter found.
    pub fn interpreter(&self) -> &Interpreter {
        self.walker.interpreter()
    }

    /// One sample of every thread. In blocking mode the target is stopped only for the walk.
    pub fn sample(&mut self) -> Result<Vec<ThreadStack>> {
        self.refresh_threads()?;
        // While stacks move faster than a copy of them, every sample is taken paused (see
        // [`PAUSED_RUN`]). A read without pausing that finds a stack that moved while it was
        // copied stands (it is one sample of many in a run that then pauses); one torn beyond
        // use is read again at once, paused.
        if let Some(native) = &mut self.native {
            let states = &mut self.states;
            native.before_walk(|| states.tids_listed());
        }
        // `--native` from perf samples promises a target never stopped: its torn reads are
        // read again at once, without pausing (an error if torn again).
        let never_stop = self.pause == PauseMode::NonBlocking
            && self.native.as_ref().is_some_and(|n| !n.needs_pause());
        let mut paused = self.pause == PauseMode::Blocking
            || (self.pausing.pause_next() && !never_stop)
            || self.native.as_ref().is_some_and(|n| n.needs_pause());
        let mut result = if paused {
            self.sample_paused()
        } else {
            self.walker.sample(&self.os)
        };
        if !paused {
            match &result {
                Ok(_) if self.walker.stack_moved() => self.pausing.moved(),
                Err(Error::Read { .. } | Error::Invalid(_)) if self.target.is_alive() => {
                    self.pausing.moved();
                    if never_stop {
                        result = self.walker.sample(&self.os);
                    } else {
                        paused = true;
                        result = self.sample_paused();
                    }
                }
                _ => {}
            }
        }
        if paused && self.pause == PauseMode::NonBlocking {
            self.paused_samples += 1;
        }
        match result {
            // A failed read of a process that is gone is an exit, not a bad sample.
            Err(Error::Read { .. }) | Err(Error::Invalid(_)) if !self.target.is_alive() => {
                Err(Error::ProcessExited {
                    pid: self.target.pid(),
                })
            }
            Ok(mut stacks) => {
                self.set_active(&mut stacks, paused);
                if let Some(native) = &mut self.native {
                    native.merge_into(&mut stacks, self.walker.eval_calls());
                }
                Ok(stacks)
            }
            other => other,
        }
    }

    /// One sample read without pausing, whatever the mode: a page fault's wake-up must see the
    /// faulting thread before it returns from the code that grew, and pausing every thread
    /// takes longer than that (the allocating code is mostly inside one long call, whose stack
    /// a read without pausing sees whole).
    pub fn sample_unpaused(&mut self) -> Result<Vec<ThreadStack>> {
        self.refresh_threads()?;
        let mut stacks = self.walker.sample(&self.os)?;
        self.set_active(&mut stacks, false);
        if let Some(native) = &mut self.native {
            native.merge_at_faults(&mut stacks, self.walker.eval_calls());
        }
        Ok(stacks)
    }

    /// List the threads again if due, and forget what was known of threads gone.
    fn refresh_threads(&mut self) -> Result<()> {
        if self.states.refresh()? {
            self.os.active.clear();
            self.os
                .active
                .extend(self.states.tids().map(|tid| (tid, false)));
            let known = &self.os.active;
            self.reused_states.retain(|tid| known.contains_key(&tid));
        }
        Ok(())
    }

    /// Samples of the non-blocking mode taken with the target paused, because its stacks
    /// moved faster than a copy of them (see [`PAUSED_RUN`]).
    pub fn paused_samples(&self) -> u64 {
        self.paused_samples
    }

    /// One sample with every thread stopped for the walk.
    fn sample_paused(&mut self) -> Result<Vec<ThreadStack>> {
        // Read states before stopping: a stopped thread reads `t`, and one resumed out of a
        // blocking call reads `R` until it blocks again (about half of the idle threads looked
        // active when read just after). Next to stopping every thread, one `stat` read per
        // thread is cheap.
        for (&tid, running) in &mut self.os.active {
            *running = self.states.is_running(tid) == Some(true);
        }
        let since = Instant::now();
        let paused = self.target.pause()?;
        for (&tid, running) in &mut self.os.active {
            *running = *running && !paused.stopped_in_blocking_call(tid);
        }
        if let Some(native) = &mut self.native {
            let tids: Vec<u32> = self.os.active.keys().copied().collect();
            native.while_paused(&tids, self.target.reader());
        }
        let stacks = self.walker.sample(&self.os);
        drop(paused);
        self.last_pause += since.elapsed();
        stacks
    }

    /// How long the target was held stopped since the last call. The sampler's clock leaves
    /// this time out: a tick made up right after a pause would find the target where the pause
    /// left it, so a stack that is slow to read would be counted again for every tick its
    /// reading made the sampler late (measured: an unoptimised build at 1 kHz, whose paused
    /// reads take longer than an interval, gave difflib's `find_longest_match` 51% of samples
    /// with `--blocking` against 65-68% without pausing).
    pub fn take_pause(&mut self) -> Duration {
        std::mem::take(&mut self.last_pause)
    }

    /// Whether each thread is running. The GIL holder runs Python code by definition, so the OS
    /// is not asked about it; only the other Python threads cost a `stat` read (not every thread
    /// of the process: native threads are not shown), reused for up to [`STATE_REUSE`] while
    /// the thread's stack top stays put (see [`StateCache`]).
    /// https://github.com/python/cpython/blob/v3.12.1/Python/ceval_gil.c
    fn set_active(&mut self, stacks: &mut [ThreadStack], paused: bool) {
        let now = Instant::now();
        for stack in stacks {
            let known = stack
                .os_tid
                .and_then(|tid| Some((tid, *self.os.active.get(&tid)?)));
            let Some((tid, running_before)) = known else {
                // A thread the listing did not have yet: list again on the next sample.
                self.states.relist_soon();
                stack.active = stack.holds_gil;
                continue;
            };
            stack.active = stack.holds_gil
                || if paused {
                    running_before
                } else {
                    let states = &mut self.states;
                    self.reused_states.running(tid, stack_top(stack), now, || {
                        states.is_running(tid) == Some(true)
                    })
                };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{PausePolicy, PAUSED_RUN};

    #[test]
    fn after_a_moving_read_the_next_samples_pause_then_one_tries_again() {
        let mut policy = PausePolicy::default();
        assert!(!policy.pause_next(), "starts without pausing");
        assert!(!policy.pause_next());
        policy.moved();
        for k in 0..PAUSED_RUN {
            assert!(policy.pause_next(), "sample {k} after the move pauses");
        }
        assert!(!policy.pause_next(), "then one read without pausing");
        // That read moved again: another run of paused samples.
        policy.moved();
        assert!(policy.pause_next());
    }
}
