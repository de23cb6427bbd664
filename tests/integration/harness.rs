//! Shared test machinery: the interpreters of this machine, a guard that kills a spawned target
//! on drop, and a "ready" handshake instead of sleeps.
use std::io::{BufRead, BufReader, Read};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use pyprobe::proc;

use crate::interpreter_list;

/// One interpreter the tests must pass on.
#[derive(Debug, Clone)]
#[allow(dead_code)] // fields are used by some test modules only
pub struct Interpreter {
    /// Short label for messages, e.g. "pyenv-3.11.7" or "debian-3.14".
    pub label: String,
    /// Path of the `python` executable.
    pub path: PathBuf,
    /// (major, minor).
    pub version: (u8, u8),
}

/// Every interpreter of tests/interpreters.txt. A missing one fails the test run (it is not
/// skipped): CI must prove each of them.
pub fn interpreters() -> &'static [Interpreter] {
    static ALL: OnceLock<Vec<Interpreter>> = OnceLock::new();
    ALL.get_or_init(|| {
        let listed = interpreter_list::listed();
        let debian = if listed.iter().any(|l| l.debian().is_some()) {
            debian_pythons()
        } else {
            Vec::new()
        };
        let out: Vec<Interpreter> = listed
            .into_iter()
            .map(|l| Interpreter {
                path: l.path().unwrap_or_else(|| {
                    // The installer prints `…/pythonX.Y` for each Debian build it keeps.
                    let name = format!("python{}", l.debian().expect("a debian: entry"));
                    debian
                        .iter()
                        .find(|p| p.file_name().is_some_and(|n| *n == *name))
                        .cloned()
                        .unwrap_or_else(|| PathBuf::from(format!("(not installed: {name})")))
                }),
                label: l.label,
                version: l.version,
            })
            .collect();
        let missing: Vec<String> = out
            .iter()
            .filter(|i| !i.path.is_file())
            .map(|i| format!("{} ({})", i.label, i.path.display()))
            .collect();
        assert!(
            missing.is_empty(),
            "interpreters missing on this machine: {missing:?}"
        );
        out
    })
}

/// Paths printed by the repository's `tools/install-debian-pythons` (the `debian:` entries of
/// tests/interpreters.txt); installs them on first use.
fn debian_pythons() -> Vec<PathBuf> {
    install_tool_paths("install-debian-pythons")
}

/// Run the repository's `tools/NAME` (an idempotent installer) and return the paths it
/// prints, one per line; a failure panics with what it said.
pub fn install_tool_paths(name: &str) -> Vec<PathBuf> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tools")
        .join(name);
    let out = Command::new("bash")
        .arg(&script)
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", script.display()));
    assert!(
        out.status.success(),
        "{name} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(PathBuf::from)
        .collect()
}

/// A test script under tests/scripts/.
pub fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/scripts")
        .join(name)
}

/// A running target; killed and reaped on drop, whatever the test did.
pub struct Target {
    child: Child,
    /// Lines the script printed after "ready" are readable here.
    pub stdout: BufReader<ChildStdout>,
}

impl Target {
    /// Start `python script args…` and wait for it to print a line starting with "ready".
    /// Returns the rest of that line too (scripts report facts there, e.g. line numbers).
    pub fn spawn(python: &Path, script_name: &str, args: &[&str]) -> (Target, String) {
        let mut cmd = Command::new(python);
        cmd.arg(script(script_name)).args(args);
        Target::spawn_command(cmd, &format!("{} {script_name}", python.display()))
    }

    /// Start `cmd` (whose process must end up running Python with the same pid, e.g. through
    /// `exec`) and wait for its "ready" line; `what` names it in failures.
    pub fn spawn_command(mut cmd: Command, what: &str) -> (Target, String) {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("spawning {what}: {e}"));
        let stdout = child.stdout.take().unwrap();
        let mut target = Target {
            child,
            stdout: BufReader::new(stdout),
        };
        let mut line = String::new();
        loop {
            line.clear();
            let n = target.stdout.read_line(&mut line).unwrap();
            assert!(n > 0, "{what} exited before printing ready");
            if let Some(rest) = line.trim_end().strip_prefix("ready") {
                return (target, rest.trim().to_string());
            }
        }
    }

    /// The target's pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The scheduler state letter of the process (`/proc/PID/stat`), `?` if it is gone.
    pub fn state(&self) -> char {
        proc::stat(self.pid() as i32).map_or('?', |s| s.state)
    }

    /// The scheduler state letter of every thread (`/proc/PID/task/*/stat`), by tid.
    pub fn thread_states(&self) -> Vec<(u32, char)> {
        let pid = self.pid() as i32;
        proc::tids(pid)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|tid| Some((tid, proc::task_stat(pid, tid).ok()?.state)))
            .collect()
    }

    /// Why the target is not in a healthy, running state: some thread is stopped (`T`, `t`) or
    /// it is still traced (`TracerPid` in /proc/PID/status). `None` when all is well.
    pub fn stopped_or_traced(&self) -> Option<String> {
        let stopped: Vec<_> = self
            .thread_states()
            .into_iter()
            .filter(|(_, s)| matches!(s, 'T' | 't'))
            .collect();
        if !stopped.is_empty() {
            return Some(format!("threads left stopped: {stopped:?}"));
        }
        let tracer = proc::tracer(self.pid() as i32);
        (tracer != Some(0)).then(|| format!("still traced: TracerPid {tracer:?}"))
    }

    /// Send the target `signal` (e.g. `libc::SIGUSR1`).
    pub fn signal(&self, signal: i32) {
        // SAFETY: kill(2) has no memory effects; the pid is our own unreaped child.
        let rc = unsafe { libc::kill(self.pid() as i32, signal) };
        assert_eq!(rc, 0, "kill({}, {signal})", self.pid());
    }

    /// The next line the target prints (after "ready"), without its line end; an error if it
    /// closed its stdout (exited).
    pub fn read_line(&mut self) -> Result<String, String> {
        let mut line = String::new();
        match self.stdout.read_line(&mut line) {
            Ok(n) if n > 0 => Ok(line.trim_end().to_string()),
            Ok(_) => Err("the target closed its stdout".into()),
            Err(e) => Err(format!("reading the target's stdout: {e}")),
        }
    }

    /// CPU time used so far (utime + stime of /proc/PID/stat, in clock ticks).
    pub fn cpu_ticks(&self) -> u64 {
        proc::stat(self.pid() as i32).map_or(0, |s| s.utime.unwrap_or(0) + s.stime.unwrap_or(0))
    }

    /// Whether the target uses CPU within `timeout` (for targets that burn CPU: proves it is
    /// not stopped). Polls; bounded.
    pub fn makes_progress(&self, timeout: Duration) -> bool {
        let start = self.cpu_ticks();
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.cpu_ticks() > start {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }

    /// Kill now and reap; the exit status.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The pyprobe binary built for this test run.
pub fn pyprobe() -> Command {
    Command::new(env!("CARGO_BIN_EXE_pyprobe"))
}

/// Run pyprobe with `args`; the output.
pub fn run_pyprobe(args: &[&str]) -> Output {
    pyprobe().args(args).output().expect("running pyprobe")
}

/// Run `test` on every interpreter, at most `max_parallel` at once, and return the failures as
/// "label: message" lines, in interpreter order. A panic inside `test` (e.g. a target that never
/// printed "ready") is a failure of that interpreter, not of the whole run.
pub fn on_every_interpreter<F>(max_parallel: usize, test: F) -> Vec<String>
where
    F: Fn(&Interpreter) -> Result<(), String> + Sync,
{
    // Shared: any number of these at once, but never beside a measurement (see `measure_alone`).
    let _shared = QUIET.read().unwrap_or_else(|e| e.into_inner());
    run_on_every_interpreter(max_parallel, test)
}

/// Tests that measure (proportions against `--blocking`, memory charged to code) need a
/// machine that is not also running three other targets: they take it whole, waiting for the
/// tests on every interpreter that are running, and one interpreter at a time.
static QUIET: std::sync::RwLock<()> = std::sync::RwLock::new(());

/// Run a measuring `test` on every interpreter, one at a time, with no other test on every
/// interpreter running beside it.
pub fn measure_alone<F>(test: F) -> Vec<String>
where
    F: Fn(&Interpreter) -> Result<(), String> + Sync,
{
    let _alone = QUIET.write().unwrap_or_else(|e| e.into_inner());
    run_on_every_interpreter(1, test)
}

fn run_on_every_interpreter<F>(max_parallel: usize, test: F) -> Vec<String>
where
    F: Fn(&Interpreter) -> Result<(), String> + Sync,
{
    let all = interpreters();
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, String)>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..max_parallel.clamp(1, all.len()) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(py) = all.get(i) else { break };
                let outcome = catch_unwind(AssertUnwindSafe(|| test(py)));
                let failure = match outcome {
                    Ok(Ok(())) => continue,
                    Ok(Err(msg)) => msg,
                    Err(panic) => {
                        let msg = panic
                            .downcast_ref::<String>()
                            .cloned()
                            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                            .unwrap_or_else(|| "panic".into());
                        format!("panicked: {msg}")
                    }
                };
                results
                    .lock()
                    .unwrap()
                    .push((i, format!("{}: {failure}", py.label)));
            });
        }
    });
    let mut failures = results.into_inner().unwrap();
    failures.sort();
    failures.into_iter().map(|(_, f)| f).collect()
}

/// Fail with every message, one per line, if there are any.
pub fn assert_no_failures(failures: &[String]) {
    assert!(
        failures.is_empty(),
        "{} failure(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// A pyprobe started in the background. Its stdout and stderr are drained by threads, so it
/// never blocks on a full pipe; it is killed and reaped on drop if still running.
pub struct Running {
    child: Child,
    stdout: Option<JoinHandle<Vec<u8>>>,
    stderr: Option<JoinHandle<Vec<u8>>>,
    started: Instant,
}

/// A finished pyprobe.
#[derive(Debug)]
pub struct Finished {
    /// Exit status.
    pub status: ExitStatus,
    /// Everything it printed on stdout.
    pub stdout: String,
    /// Everything it printed on stderr.
    pub stderr: String,
    /// Wall time from start to exit (measured by polling, to within ~5 ms).
    pub elapsed: Duration,
}

/// Start pyprobe with `args` in the background.
pub fn spawn_pyprobe(args: &[&str]) -> Running {
    let mut cmd = pyprobe();
    cmd.args(args);
    spawn_pyprobe_command(cmd)
}

/// Start `cmd` (a [`pyprobe`] command with its arguments) in the background.
pub fn spawn_pyprobe_command(mut cmd: Command) -> Running {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting pyprobe");
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            buf
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    Running {
        child,
        stdout: Some(stdout),
        stderr: Some(stderr),
        started: Instant::now(),
    }
}

/// Run pyprobe with `args`; an error (and pyprobe killed) if it runs longer than `timeout`.
pub fn run_pyprobe_within(args: &[&str], timeout: Duration) -> Result<Finished, String> {
    spawn_pyprobe(args).finish(timeout)
}

impl Running {
    /// How many threads it has now (0 once it exited). pyprobe starts its sampler thread only
    /// once it has attached: more than one thread means it is sampling.
    pub fn thread_count(&self) -> usize {
        proc::tids(self.child.id() as i32).map_or(0, |t| t.len())
    }

    /// Send it `signal` (e.g. `libc::SIGINT`).
    pub fn signal(&self, signal: i32) {
        // SAFETY: kill(2) has no memory effects; the pid is our own unreaped child.
        let rc = unsafe { libc::kill(self.child.id() as i32, signal) };
        assert_eq!(rc, 0, "kill({}, {signal})", self.child.id());
    }

    /// Send `signal` to its whole process group, as a terminal's Ctrl-C does: the group must
    /// be its own (`CommandExt::process_group(0)`), or this test would signal itself.
    pub fn signal_group(&self, signal: i32) {
        // SAFETY: as above; a negative pid names the process group pyprobe leads.
        let rc = unsafe { libc::kill(-(self.child.id() as i32), signal) };
        assert_eq!(rc, 0, "kill(-{}, {signal})", self.child.id());
    }

    /// Wait for it to exit, at most `timeout` (polling; then it is killed and this is an error
    /// that includes what it printed).
    pub fn finish(mut self, timeout: Duration) -> Result<Finished, String> {
        let deadline = Instant::now() + timeout;
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5))
                }
                _ => break None,
            }
        };
        let elapsed = self.started.elapsed();
        if status.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let text = |h: Option<JoinHandle<Vec<u8>>>| {
            String::from_utf8_lossy(&h.unwrap().join().unwrap_or_default()).into_owned()
        };
        let stdout = text(self.stdout.take());
        let stderr = text(self.stderr.take());
        match status {
            Some(status) => Ok(Finished {
                status,
                stdout,
                stderr,
                elapsed,
            }),
            None => Err(format!(
                "pyprobe still running after {timeout:?}, killed; stderr: {stderr}"
            )),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}
