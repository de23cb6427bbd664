//! One process of the tree: found, then waited on until its interpreter can be found (a
//! program just started by `exec` maps and initializes Python a few milliseconds later),
//! sampled while it runs, or kept only for its children when it is not Python. A process that
//! replaces its program (`exec`) is looked at again: a forked child of Python that execs
//! `python` (multiprocessing's spawn, `subprocess.run([sys.executable, …])`) becomes a new
//! Python process; one that execs `/bin/sleep` is skipped from then on.
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::memory::RssReader;
use crate::proc::{ChildrenReader, StatusReader};
use crate::process::Target;
use crate::python::find_interpreter;
use crate::session::{PauseMode, Session};
use crate::stack::{Frame, ThreadStack};

/// How long a process whose interpreter cannot be read yet is tried again (as long as a
/// launched program is given to start).
const WAIT_LIMIT: Duration = Duration::from_secs(10);

/// How long a process that does not look like Python (neither a `python*` executable nor a
/// libpython mapped) is looked at again: a program just started by `exec` runs in the dynamic
/// loader before its libpython is mapped.
const NOT_PYTHON_GRACE: Duration = Duration::from_millis(200);

/// Longest command shown in a process's root frame.
const COMMAND_CHARS: usize = 120;

/// Where a process stands.
pub(super) enum State {
    /// Sampled.
    Python(Box<Sampled>),
    /// Its interpreter could not be read yet: tried again at every poll until [`WAIT_LIMIT`].
    Waiting { target: Target, since: Instant },
    /// Not sampled (the reason is in the report); watched for its children, and for an exec.
    Skipped { target: Target },
    /// Seen gone (for the moment a state is being replaced).
    Gone,
}

/// A Python process of the tree and what its stacks are tagged with.
pub(super) struct Sampled {
    pub(super) session: Session,
    /// `process PID: command`, the root of each of its stacks.
    root: Frame,
    /// Mixed into its threads' ids: forked children share the parent's `pthread_t` values,
    /// and the profile tells threads apart by them.
    tag: u64,
    /// Each thread's last stack as read, and with the root frame added: a stack that did not
    /// change is handed on as the same `Arc` (what the profile recognises without a look at
    /// its frames), so the root is added only when a stack changes.
    tagged: Vec<Tagged>,
    spare: Vec<Tagged>,
    /// A sample of it succeeded, and how many failed.
    sampled_once: bool,
    failures: u32,
}

/// A thread's id, its stack as read, and the same with the root frame.
type Tagged = (u64, Arc<[Frame]>, Arc<[Frame]>);

/// What a sample of one process came to.
pub(super) enum Outcome {
    /// Its threads' stacks were appended.
    Sampled,
    /// The read failed while it runs.
    Failed(Error),
    /// It is gone.
    Gone,
    /// It replaced its program: it waits to be looked at again.
    Execed,
    /// No sample of it ever succeeded: it waits to be looked at again, the same program.
    Restarted,
}

/// One watched process.
pub(super) struct Member {
    pub(super) pid: i32,
    /// Index of its entry in the report.
    pub(super) entry: usize,
    pub(super) state: State,
    pub(super) children: Option<ChildrenReader>,
    pub(super) rss: Option<RssReader>,
    /// Its memory lines, for the tree's breakdown.
    pub(super) status: Option<StatusReader>,
    /// Times it went back to waiting because no sample of it ever succeeded.
    restarts: u8,
}

/// Failed samples, none successful, after which a process's interpreter is looked for again:
/// a program caught while it starts can show an interpreter it has not set up yet (a 2.7 read
/// as "2.7.0" gave 118 failed samples and none else). At most [`MAX_RESTARTS`] times.
const FAILS_BEFORE_RESTART: u32 = 10;
const MAX_RESTARTS: u8 = 5;

impl Member {
    /// Start watching `target`.
    pub(super) fn new(target: Target, entry: usize) -> Member {
        let pid = target.pid();
        Member {
            pid,
            entry,
            state: State::Waiting {
                target,
                since: Instant::now(),
            },
            children: ChildrenReader::open(pid).ok(),
            rss: RssReader::open(pid).ok(),
            status: StatusReader::open(pid).ok(),
            restarts: 0,
        }
    }

    /// A fork of a sampled process (not exec'd since): its interpreter is where the parent's
    /// is, and reading the binary again (several milliseconds) would hold up every sample.
    pub(super) fn forked(&mut self, parent: &Member, pause: PauseMode) -> Option<(String, String)> {
        let (State::Waiting { target, .. }, State::Python(from)) = (&self.state, &parent.state)
        else {
            return None;
        };
        if !target.forked_from(from.session.target()) {
            return None;
        }
        let interp = from.session.interpreter().clone();
        let State::Waiting { target, .. } = std::mem::replace(&mut self.state, State::Gone) else {
            return None;
        };
        let found = (interp.version.to_string(), Member::command(&target));
        let session = Session::with_interpreter(target, interp, pause);
        self.state = State::Python(Box::new(Sampled::new(session)));
        Some(found)
    }

    /// A waiting process: look for its interpreter again. Returns what changed, for the report:
    /// `Some(Ok((version, command)))` when found, `Some(Err((reason, command)))` when it is
    /// skipped from now on.
    pub(super) fn try_attach(
        &mut self,
        pause: PauseMode,
    ) -> Option<std::result::Result<(String, String), (String, String)>> {
        let State::Waiting { target, since } = &mut self.state else {
            return None;
        };
        // A process found just after its fork may have exec'd since: look at what it runs now.
        if target.exec_change().is_some() {
            if let Ok(now) = Target::open(self.pid) {
                *target = now;
                *since = Instant::now();
            }
        }
        let began = Instant::now();
        let found = find_interpreter(target);
        if std::env::var_os("PYPROBE_DEBUG").is_some() {
            crate::say!(
                "pyprobe: looked for Python in {} in {:.1} ms: {}",
                self.pid,
                began.elapsed().as_secs_f64() * 1e3,
                match &found {
                    Ok(_) => "found".to_string(),
                    Err(e) => e.to_string(),
                }
            );
        }
        let outcome = match found {
            Ok(interp) => Ok(interp),
            Err(Error::NotPython { .. })
                if since.elapsed() < NOT_PYTHON_GRACE || named_python(target) =>
            {
                if since.elapsed() > WAIT_LIMIT {
                    Err(format!(
                        "no initialized Python interpreter found within {} s",
                        WAIT_LIMIT.as_secs()
                    ))
                } else {
                    return None;
                }
            }
            Err(Error::NotPython { .. }) => Err(format!("not Python ({})", target.exe().display())),
            // Final whatever the wait: it will not change while the program is the same.
            Err(e @ (Error::UnsupportedVersion { .. } | Error::PermissionDenied { .. })) => {
                Err(e.to_string())
            }
            // Not initialized yet, most likely.
            Err(e) if since.elapsed() > WAIT_LIMIT => Err(format!(
                "its interpreter could not be read within {} s: {e}",
                WAIT_LIMIT.as_secs()
            )),
            Err(_) => return None,
        };
        let State::Waiting { target, .. } = std::mem::replace(&mut self.state, State::Gone) else {
            return None;
        };
        match outcome {
            Ok(interp) => {
                let version = interp.version.to_string();
                let command = Member::command(&target);
                let session = Session::with_interpreter(target, interp, pause);
                self.state = State::Python(Box::new(Sampled::new(session)));
                Some(Ok((version, command)))
            }
            Err(reason) => {
                let command = Member::command(&target);
                self.state = State::Skipped { target };
                Some(Err((reason, command)))
            }
        }
    }

    /// The process as opened (whatever its state, until it is gone).
    pub(super) fn target(&self) -> Option<&Target> {
        match &self.state {
            State::Python(s) => Some(s.session.target()),
            State::Waiting { target, .. } | State::Skipped { target } => Some(target),
            State::Gone => None,
        }
    }

    /// A process not sampled: whether it is gone, or replaced its program (then it waits to
    /// be looked at again, with its new command line).
    pub(super) fn check_unsampled(&mut self) -> Option<Outcome> {
        let target = match &self.state {
            State::Python(_) => return None,
            State::Gone => return Some(Outcome::Gone),
            State::Waiting { target, .. } | State::Skipped { target } => target,
        };
        if !target.is_alive() {
            return Some(Outcome::Gone);
        }
        if matches!(self.state, State::Skipped { .. }) && target.exec_change().is_some() {
            return self.reopen();
        }
        None
    }

    /// After an exec: open the process again and wait for its interpreter.
    fn reopen(&mut self) -> Option<Outcome> {
        match Target::open(self.pid) {
            Ok(target) => {
                self.state = State::Waiting {
                    target,
                    since: Instant::now(),
                };
                Some(Outcome::Execed)
            }
            Err(_) => Some(Outcome::Gone),
        }
    }

    /// Sample a Python process: its stacks, under its root frame, are appended to `out`.
    pub(super) fn sample(&mut self, out: &mut Vec<ThreadStack>) -> Option<Outcome> {
        let State::Python(sampled) = &mut self.state else {
            return None;
        };
        match sampled.session.sample() {
            Ok(stacks) => {
                sampled.sampled_once = true;
                sampled.tag_into(stacks, out);
                Some(Outcome::Sampled)
            }
            Err(Error::ProcessExited { .. }) => Some(Outcome::Gone),
            Err(e) => {
                sampled.failures += 1;
                let stuck = !sampled.sampled_once
                    && sampled.failures >= FAILS_BEFORE_RESTART
                    && self.restarts < MAX_RESTARTS;
                let target = sampled.session.target();
                if !target.is_alive() {
                    Some(Outcome::Gone)
                } else if target.exec_change().is_some() {
                    self.reopen()
                } else if stuck {
                    self.restarts += 1;
                    self.reopen().map(|o| {
                        if matches!(o, Outcome::Execed) {
                            Outcome::Restarted
                        } else {
                            o
                        }
                    })
                } else {
                    Some(Outcome::Failed(e))
                }
            }
        }
    }

    /// The command line as shown (one line, shortened).
    pub(super) fn command(target: &Target) -> String {
        let full = target.cmdline_string();
        if full.chars().count() <= COMMAND_CHARS {
            full
        } else {
            full.chars().take(COMMAND_CHARS - 1).collect::<String>() + "…"
        }
    }
}

/// Whether a process runs a `python…` executable or has a libpython mapped: one whose
/// interpreter cannot be read is then most likely still starting.
fn named_python(target: &Target) -> bool {
    let named = |p: &std::path::Path| {
        p.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("python"))
    };
    named(target.exe()) || target.maps().is_ok_and(|m| m.libpython().is_some())
}

impl Sampled {
    fn new(session: Session) -> Sampled {
        let pid = session.target().pid();
        let root = Frame {
            name: crate::profile::processes::root_name(pid, &Member::command(session.target()))
                .into(),
            filename: "".into(),
            line: 0,
        };
        Sampled {
            session,
            root,
            tag: (pid as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15),
            tagged: Vec::new(),
            spare: Vec::new(),
            sampled_once: false,
            failures: 0,
        }
    }

    /// Append `stacks` to `out` with the root frame outermost and the thread ids tagged.
    fn tag_into(&mut self, stacks: Vec<ThreadStack>, out: &mut Vec<ThreadStack>) {
        std::mem::swap(&mut self.tagged, &mut self.spare);
        self.tagged.clear();
        for mut stack in stacks {
            stack.thread_id ^= self.tag;
            // A thread without Python frames stays without: the root alone is no sample.
            if stack.frames.is_empty() {
                out.push(stack);
                continue;
            }
            let id = stack.thread_id;
            let known = self
                .spare
                .iter()
                .find(|(t, read, _)| *t == id && Arc::ptr_eq(read, &stack.frames))
                .map(|(_, _, rooted)| rooted.clone());
            let rooted = known.unwrap_or_else(|| {
                let mut frames = Vec::with_capacity(stack.frames.len() + 1);
                frames.extend_from_slice(&stack.frames);
                frames.push(self.root.clone());
                frames.into()
            });
            self.tagged.push((id, stack.frames.clone(), rooted.clone()));
            stack.frames = rooted;
            out.push(stack);
        }
        self.spare.clear();
    }
}
