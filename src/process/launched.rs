//! A program pyprobe started (`record -- COMMAND`). It is ours: when the recording ends before
//! it does, we end it (politely first), and no path out of pyprobe leaves it behind.
use std::io;
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

/// How long the program gets to exit after each signal before the next, stronger one: enough
/// for a Python program to unwind `KeyboardInterrupt` and run its `finally` blocks.
pub const GRACE: Duration = Duration::from_secs(1);

/// How often an exit is looked for while waiting.
const POLL: Duration = Duration::from_millis(10);

/// The signal that ended a program we stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndSignal {
    /// SIGINT, what Ctrl-C sends: Python raises `KeyboardInterrupt`.
    Interrupt,
    /// SIGTERM, sent when SIGINT did not end it within the grace.
    Terminate,
    /// SIGKILL, when neither did.
    Kill,
}

impl EndSignal {
    fn number(self) -> i32 {
        match self {
            EndSignal::Interrupt => libc::SIGINT,
            EndSignal::Terminate => libc::SIGTERM,
            EndSignal::Kill => libc::SIGKILL,
        }
    }

    /// `SIGINT`, `SIGTERM`, `SIGKILL`.
    pub fn name(self) -> &'static str {
        match self {
            EndSignal::Interrupt => "SIGINT",
            EndSignal::Terminate => "SIGTERM",
            EndSignal::Kill => "SIGKILL",
        }
    }
}

/// How a launched program ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// It exited on its own, with this status.
    Exited(ExitStatus),
    /// We ended it; the signal that did.
    Stopped(EndSignal),
}

/// A started program; killed and reaped on drop unless it was waited for.
#[derive(Debug)]
pub struct Launched {
    child: Option<Child>,
    pid: i32,
}

/// A wait on our child `pid`, where "no such child" means it exited and was reaped already:
/// a paused sample (ptrace) that catches the program's exit collects its status while
/// stopping it, since pyprobe is both its parent and its tracer; that status is kept (see
/// [`super::ptrace_stop`]) and is the one returned.
fn reaped(pid: i32, wait: io::Result<Option<ExitStatus>>) -> io::Result<Option<ExitStatus>> {
    use std::os::unix::process::ExitStatusExt;
    match wait {
        Err(e) if e.raw_os_error() == Some(libc::ECHILD) => {
            match super::ptrace_stop::take_reaped_exit(pid) {
                Some(status) => Ok(Some(ExitStatus::from_raw(status))),
                // Reaped by no wait of ours: it exited, and how is unknown.
                None => {
                    crate::say!("pyprobe: the exit status of the program (pid {pid}) was lost");
                    Ok(Some(ExitStatus::from_raw(0)))
                }
            }
        }
        other => other,
    }
}

impl Launched {
    /// Start `argv[0]` with the rest as its arguments; it shares our stdin, stdout and stderr.
    pub fn spawn(argv: &[String]) -> io::Result<Launched> {
        let Some((program, args)) = argv.split_first() else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "no command given",
            ));
        };
        Ok(Launched::of(Command::new(program).args(args).spawn()?))
    }

    fn of(child: Child) -> Launched {
        Launched {
            pid: child.id() as i32,
            child: Some(child),
        }
    }

    /// Its pid.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Its exit status if it has exited (it is then reaped).
    pub fn try_status(&mut self) -> Option<ExitStatus> {
        reaped(self.pid, self.child.as_mut()?.try_wait())
            .ok()
            .flatten()
    }

    /// Wait for the program to exit on its own; as soon as `give_up()` says so, end it (see
    /// [`Launched::end`]). `give_up` is asked every few milliseconds.
    pub fn wait_or_end(mut self, give_up: impl Fn() -> bool) -> io::Result<Ending> {
        loop {
            if let Some(status) = self.try_status() {
                self.child = None;
                return Ok(Ending::Exited(status));
            }
            if give_up() {
                return self.end(GRACE);
            }
            std::thread::sleep(POLL);
        }
    }

    /// End the program: SIGINT, then SIGTERM after `grace`, then SIGKILL after `grace` more.
    /// A program that already exited by itself is only reaped.
    pub fn end(mut self, grace: Duration) -> io::Result<Ending> {
        let Some(mut child) = self.child.take() else {
            return Err(io::Error::other("the launched program was already reaped"));
        };
        if let Some(status) = reaped(self.pid, child.try_wait())? {
            return Ok(Ending::Exited(status));
        }
        for signal in [EndSignal::Interrupt, EndSignal::Terminate] {
            // SAFETY: kill(2) takes plain integers. The pid is our child and not yet reaped,
            // so it cannot have been reused by another process.
            unsafe { libc::kill(self.pid, signal.number()) };
            let deadline = Instant::now() + grace;
            while Instant::now() < deadline {
                if reaped(self.pid, child.try_wait())?.is_some() {
                    return Ok(Ending::Stopped(signal));
                }
                std::thread::sleep(POLL);
            }
        }
        // SIGKILL cannot be caught or ignored: the wait is short.
        child.kill()?;
        child.wait()?;
        Ok(Ending::Stopped(EndSignal::Kill))
    }
}

impl Drop for Launched {
    fn drop(&mut self) {
        // Recording failed before the program was handed back: never leave an orphan we started.
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader};
    use std::os::unix::process::CommandExt;
    use std::process::Stdio;

    /// `argv` started with SIGINT and SIGTERM at their default action, as pyprobe's children
    /// get them (it handles both, and exec resets handled signals). A test run from a
    /// background job may itself ignore SIGINT, and ignored signals are inherited.
    fn command(argv: &[&str]) -> Command {
        let mut cmd = Command::new(argv[0]);
        cmd.args(&argv[1..]);
        // SAFETY: signal(2) is async-signal-safe, as code between fork and exec must be.
        unsafe {
            cmd.pre_exec(|| {
                libc::signal(libc::SIGINT, libc::SIG_DFL);
                libc::signal(libc::SIGTERM, libc::SIG_DFL);
                Ok(())
            });
        }
        cmd
    }

    /// `sh -c SCRIPT`, returned once it printed "ready" (its traps are then in place).
    fn ready_shell(script: &str) -> Launched {
        let mut child = command(&["sh", "-c", script])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready");
        Launched::of(child)
    }

    fn gone(pid: i32) -> bool {
        !crate::proc::exists(pid)
    }

    #[test]
    fn ends_with_the_mildest_signal_that_works() {
        let grace = Duration::from_millis(200);
        // Ignored signals stay ignored across exec: `sleep` then ignores them too.
        for (script, expected) in [
            ("echo ready; exec sleep 30", EndSignal::Interrupt),
            (
                "trap '' INT; echo ready; exec sleep 30",
                EndSignal::Terminate,
            ),
            (
                "trap '' INT TERM; echo ready; exec sleep 30",
                EndSignal::Kill,
            ),
        ] {
            let launched = ready_shell(script);
            let pid = launched.pid();
            let started = Instant::now();
            let ending = launched.end(grace).unwrap();
            assert_eq!(ending, Ending::Stopped(expected), "{script}");
            assert!(started.elapsed() < Duration::from_secs(5), "{script}");
            // Reaped by `end`: nothing is left.
            assert!(gone(pid), "{script}: pid {pid} still there");
        }
    }

    #[test]
    fn a_program_that_exits_by_itself_keeps_its_status() {
        let launched = Launched::spawn(&["sh".into(), "-c".into(), "exit 3".into()]).unwrap();
        let pid = launched.pid();
        let ending = launched.wait_or_end(|| false).unwrap();
        assert!(matches!(ending, Ending::Exited(s) if s.code() == Some(3)));
        assert!(gone(pid));
        // Asked to give up at once, a program that is running is ended.
        let launched = Launched::of(command(&["sleep", "30"]).spawn().unwrap());
        let pid = launched.pid();
        assert_eq!(
            launched.wait_or_end(|| true).unwrap(),
            Ending::Stopped(EndSignal::Interrupt)
        );
        assert!(gone(pid));
    }

    #[test]
    fn dropped_unfinished_it_is_killed() {
        let launched = Launched::spawn(&["sleep".into(), "30".into()]).unwrap();
        let pid = launched.pid();
        drop(launched);
        assert!(gone(pid));
        assert!(Launched::spawn(&[]).is_err());
    }

    #[test]
    fn a_program_reaped_elsewhere_counts_as_exited() {
        // A paused sample that detaches from the program as it exits collects its status.
        let launched = Launched::of(command(&["true"]).spawn().unwrap());
        let mut status = 0;
        // SAFETY: waiting for our own child, as the ptrace layer would.
        let reaped = unsafe { libc::waitpid(launched.pid(), &mut status, 0) };
        assert_eq!(reaped, launched.pid());
        let start = Instant::now();
        let ending = launched.wait_or_end(|| false).unwrap();
        assert!(matches!(ending, Ending::Exited(s) if s.success()));
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "it did not wait forever"
        );
    }

    /// A program that exits while pyprobe stops it (a paused sample) is reaped by that stop's
    /// wait, pyprobe being its parent and tracer: its status still comes back. Each round
    /// stops a short-lived program over and over until it is gone, so that its exit often
    /// lands in a stop; every round must report 7.
    #[test]
    fn an_exit_caught_by_a_paused_read_keeps_its_status() {
        let mut caught = 0;
        // Until three exits landed in a stop (a program that exits before the first stop is
        // waited for as usual; under load that can be most rounds).
        for _ in 0..500 {
            if caught >= 3 {
                break;
            }
            let mut launched = Launched::of(command(&["sh", "-c", "exit 7"]).spawn().unwrap());
            while let Ok(stops) = super::super::ptrace_stop::ThreadStops::stop_all(launched.pid) {
                drop(stops);
            }
            let reaped_by_stop = launched.child.as_mut().unwrap().try_wait().is_err();
            caught += usize::from(reaped_by_stop);
            let status = loop {
                if let Some(status) = launched.try_status() {
                    break status;
                }
            };
            assert_eq!(status.code(), Some(7), "reaped by a stop: {reaped_by_stop}");
        }
        assert!(caught > 0, "no exit landed in a stop in 500 rounds");
    }
}
