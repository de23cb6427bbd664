//! An attached Python process: the target, its interpreter, and a walker over live memory.
use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::process::{LiveReader, StateCache, Target, ThreadStates};
use crate::python::{find_interpreter, Interpreter, OsThreads, Walker};
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
        let interp = match find_interpreter(&target) {
            Ok(interp) => interp,
            // A process that exits while we look at it loses its maps and memory first: what
            // looks like "not Python" or a bad read is then only its exit.
            Err(
                Error::NotPython { .. }
                | Error::Read { .. }
                | Error::Invalid(_)
                | Error::Io { .. }
                | Error::Binary { .. },
            ) if !target.is_alive() => return Err(Error::ProcessExited { pid }),
            Err(e) => return Err(e),
        };
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

    fn with_interpreter(target: Target, interp: Interpreter, pause: PauseMode) -> Session {
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
        }
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
        if self.states.refresh()? {
            self.os.active.clear();
            self.os
                .active
                .extend(self.states.tids().map(|tid| (tid, false)));
            let known = &self.os.active;
            self.reused_states.retain(|tid| known.contains_key(&tid));
        }
        let result = match self.pause {
            PauseMode::Blocking => {
                // Read states before stopping: a stopped thread reads `t`, and one resumed out of
                // a blocking call reads `R` until it blocks again (about half of the idle threads
                // looked active when read just after). Next to stopping every thread, one `stat`
                // read per thread is cheap.
                for (&tid, running) in &mut self.os.active {
                    *running = self.states.is_running(tid) == Some(true);
                }
                let paused = self.target.pause()?;
                for (&tid, running) in &mut self.os.active {
                    *running = *running && !paused.stopped_in_blocking_call(tid);
                }
                self.walker.sample(&self.os)
            }
            PauseMode::NonBlocking => self.walker.sample(&self.os),
        };
        match result {
            // A failed read of a process that is gone is an exit, not a bad sample.
            Err(Error::Read { .. }) | Err(Error::Invalid(_)) if !self.target.is_alive() => {
                Err(Error::ProcessExited {
                    pid: self.target.pid(),
                })
            }
            Ok(mut stacks) => {
                self.set_active(&mut stacks);
                Ok(stacks)
            }
            other => other,
        }
    }

    /// Whether each thread is running. The GIL holder runs Python code by definition, so the OS
    /// is not asked about it; only the other Python threads cost a `stat` read (not every thread
    /// of the process: native threads are not shown), reused for up to [`STATE_REUSE`] while
    /// the thread's stack top stays put (see [`StateCache`]).
    /// https://github.com/python/cpython/blob/v3.12.1/Python/ceval_gil.c
    fn set_active(&mut self, stacks: &mut [ThreadStack]) {
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
                || match self.pause {
                    PauseMode::Blocking => running_before,
                    PauseMode::NonBlocking => {
                        let states = &mut self.states;
                        self.reused_states.running(tid, stack_top(stack), now, || {
                            states.is_running(tid) == Some(true)
                        })
                    }
                };
        }
    }
}
