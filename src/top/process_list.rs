//! Every Python process on the machine, found from /proc without attaching: the executable or
//! a mapped libpython names Python. For each: version, command line, CPU%, RSS, % of RAM, an
//! RSS trend, and the function it runs now (one non-blocking sample through a session that is
//! opened once per process and kept while the process lives).
use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use crate::display::one_line;
use crate::error::Error;
use crate::proc::{self, MapRegion};
use crate::session::{PauseMode, Session};
use crate::stack::ThreadStack;

/// RSS readings kept per process for its trend (one per scan).
pub(crate) const TREND_POINTS: usize = 16;

/// Whether a file name is a CPython executable: `python`, `python3`, `python3.12`,
/// `python3.13t`, `python2.7d` (not `python3-config`, `pythonw.sh`).
pub(crate) fn is_python_executable_name(name: &str) -> bool {
    let Some(rest) = name.strip_prefix("python") else {
        return false;
    };
    let suffix = rest.trim_start_matches(|c: char| c.is_ascii_digit() || c == '.');
    suffix.chars().all(|c| matches!(c, 'd' | 'm' | 't' | 'u'))
        && suffix.len() <= 2
        && (rest.is_empty() || rest.starts_with(|c: char| c.is_ascii_digit()))
}

/// The first `libpythonX.Y….so` among the mapped files, in address order.
pub(crate) fn libpython_in_maps(regions: &[MapRegion]) -> Option<&str> {
    regions
        .iter()
        .filter_map(|r| r.path.as_deref()?.to_str())
        .find(|path| {
            let name = file_name(path);
            name.starts_with("libpython") && name.contains(".so")
        })
}

/// `X.Y` from a CPython file name: `python3.12`, `libpython3.11.so.1.0`, `python2.7d`.
/// `None` when the name gives no minor version (`python3`).
pub(crate) fn version_from_file_name(name: &str) -> Option<String> {
    let rest = name
        .strip_prefix("libpython")
        .or_else(|| name.strip_prefix("python"))?;
    let digits: String = rest
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    let mut parts = digits.split('.').filter(|p| !p.is_empty());
    let major = parts.next()?;
    let minor = parts.next()?;
    Some(format!("{major}.{minor}"))
}

fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// The command line for display: the executable's file name instead of its full path, then
/// the arguments as given, control characters escaped (no escape sequence of a target's
/// arguments reaches the terminal).
pub(crate) fn display_command(cmdline: &[String], exe: &str) -> String {
    let text = match cmdline.split_first() {
        Some((argv0, args)) => {
            let mut out = file_name(argv0).to_string();
            for a in args {
                out.push(' ');
                out.push_str(a);
            }
            out
        }
        None => file_name(exe).to_string(),
    };
    one_line(&text)
}

/// CPU use in percent of one core, from two readings of utime+stime.
pub(crate) fn cpu_percent(ticks_before: u64, ticks_now: u64, seconds: f64, clk_tck: f64) -> f64 {
    if seconds <= 0.0 || clk_tck <= 0.0 {
        return 0.0;
    }
    100.0 * ticks_now.saturating_sub(ticks_before) as f64 / clk_tck / seconds
}

/// What a process is running now, for the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Current {
    /// Not sampled yet.
    Pending,
    /// The innermost frame of the thread that runs (else of the main thread).
    Function {
        /// Function name.
        name: String,
        /// File name.
        filename: String,
        /// Line.
        line: u32,
        /// No thread was running: the process waits (sleep, I/O, a lock).
        idle: bool,
    },
    /// Attached, but no thread has a Python frame (starting up, or finishing).
    NoFrames,
    /// Why it cannot be sampled.
    Unavailable(String),
}

/// The frame to show for one sample: the GIL holder that runs, else any running thread, else
/// the main thread (os tid = pid), else the first thread with frames.
pub(crate) fn current_of(stacks: &[ThreadStack], pid: i32) -> Current {
    let python = || stacks.iter().filter(|s| !s.frames.is_empty());
    let pick = python()
        .find(|s| s.active && s.holds_gil)
        .or_else(|| python().find(|s| s.active))
        .or_else(|| python().find(|s| s.os_tid == Some(pid as u32)))
        .or_else(|| python().next());
    match pick {
        Some(s) => {
            let f = &s.frames[0];
            Current::Function {
                name: f.name.to_string(),
                filename: f.filename.to_string(),
                line: f.line,
                idle: !s.active,
            }
        }
        None => Current::NoFrames,
    }
}

/// One Python process in the list.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ProcessRow {
    /// Pid.
    pub pid: i32,
    /// The parent's pid (for the grouping by tree).
    pub ppid: Option<i32>,
    /// Python version: exact once attached (`3.12.1`), else from the file name (`3.12`).
    pub version: String,
    /// Command line for display.
    pub command: String,
    /// CPU in percent of one core since the previous scan (over its lifetime at the first).
    pub cpu: f64,
    /// Resident set size, bytes.
    pub rss: u64,
    /// RSS over the last scans, oldest first.
    pub trend: Vec<u64>,
    /// What it runs now.
    pub current: Current,
    /// Where it sits in its process tree (set by [`super::trees::group`]).
    pub tree: super::trees::TreePlace,
}

/// One scan of the machine.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ProcessSnapshot {
    /// The Python processes (unsorted).
    pub rows: Vec<ProcessRow>,
    /// `MemTotal`, bytes.
    pub mem_total: Option<u64>,
    /// `MemAvailable`, bytes.
    pub mem_available: Option<u64>,
}

enum SessionSlot {
    Untried,
    Attached(Box<Session>),
    /// Attaching failed; retried at scan `retry_at` unless the reason is permanent.
    Failed {
        reason: String,
        retry_at: Option<u64>,
    },
}

struct Tracked {
    start_time: u64,
    command: String,
    version: String,
    cpu: (Instant, u64),
    rss: VecDeque<u64>,
    session: SessionSlot,
    current: Current,
}

/// Scans /proc; keeps what it learnt about each process (its sessions, CPU and RSS history)
/// between scans, and forgets processes that exited.
pub(crate) struct Scanner {
    tracked: HashMap<i32, Tracked>,
    /// Processes found not to be Python: pid → start time.
    not_python: HashMap<i32, u64>,
    scans: u64,
    clk_tck: f64,
    own_pid: i32,
}

impl Default for Scanner {
    fn default() -> Self {
        Self::new()
    }
}

impl Scanner {
    /// A scanner that knows nothing yet.
    pub(crate) fn new() -> Scanner {
        // SAFETY: sysconf has no preconditions.
        let tck = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        Scanner {
            tracked: HashMap::new(),
            not_python: HashMap::new(),
            scans: 0,
            clk_tck: if tck > 0 { tck as f64 } else { 100.0 },
            own_pid: std::process::id() as i32,
        }
    }

    /// Look at every process now.
    pub(crate) fn scan(&mut self) -> ProcessSnapshot {
        self.scans += 1;
        let now = Instant::now();
        let uptime = proc::uptime();
        let mut alive: Vec<i32> = Vec::new();
        let mut rows = Vec::new();
        for pid in proc::pids() {
            if pid == self.own_pid {
                continue;
            }
            let Ok(stat) = proc::stat(pid) else {
                continue;
            };
            let (Some(cpu_ticks), Some(start_time)) = (stat.cpu_ticks(), stat.start_time) else {
                continue;
            };
            if stat.is_zombie() {
                continue;
            }
            if self.not_python.get(&pid) == Some(&start_time) {
                continue;
            }
            if self
                .tracked
                .get(&pid)
                .is_some_and(|t| t.start_time != start_time)
            {
                self.tracked.remove(&pid); // the pid was reused
            }
            if !self.tracked.contains_key(&pid) {
                match identify(pid) {
                    Some((command, version)) => {
                        // First CPU reading: the lifetime average, so the first screen has
                        // a number.
                        let age = uptime
                            .map(|u| u - start_time as f64 / self.clk_tck)
                            .filter(|&a| a > 0.0)
                            .unwrap_or(1.0);
                        let virtual_start = now
                            .checked_sub(std::time::Duration::from_secs_f64(age))
                            .unwrap_or(now);
                        self.tracked.insert(
                            pid,
                            Tracked {
                                start_time,
                                command,
                                version,
                                cpu: (virtual_start, 0),
                                rss: VecDeque::new(),
                                session: SessionSlot::Untried,
                                current: Current::Pending,
                            },
                        );
                    }
                    None => {
                        self.not_python.insert(pid, start_time);
                        continue;
                    }
                }
            }
            alive.push(pid);
            let scans = self.scans;
            let clk_tck = self.clk_tck;
            let t = self.tracked.get_mut(&pid).expect("tracked above");
            let (then, ticks) = t.cpu;
            let cpu = cpu_percent(
                ticks,
                cpu_ticks,
                now.duration_since(then).as_secs_f64(),
                clk_tck,
            );
            t.cpu = (now, cpu_ticks);
            let rss = proc::rss_bytes(pid).unwrap_or(0);
            t.rss.push_back(rss);
            if t.rss.len() > TREND_POINTS {
                t.rss.pop_front();
            }
            sample_current(pid, t, scans);
            rows.push(ProcessRow {
                pid,
                ppid: stat.ppid,
                version: t.version.clone(),
                command: t.command.clone(),
                cpu,
                rss,
                trend: t.rss.iter().copied().collect(),
                current: t.current.clone(),
                tree: Default::default(),
            });
        }
        // Drop what we kept about processes that exited (their sessions too).
        alive.sort_unstable();
        self.tracked
            .retain(|pid, _| alive.binary_search(pid).is_ok());
        self.not_python.retain(|&pid, _| proc::exists(pid));
        let memory = proc::meminfo();
        ProcessSnapshot {
            rows,
            mem_total: memory.total,
            mem_available: memory.available,
        }
    }
}

/// Whether `pid` is a Python process: its command for display and a version from file names.
fn identify(pid: i32) -> Option<(String, String)> {
    // Empty arguments are left out: the list shows words.
    let mut cmdline = proc::cmdline(pid).ok()?;
    cmdline.retain(|a| !a.is_empty());
    let exe = proc::exe(pid)
        .ok()
        .map(|p| p.to_string_lossy().into_owned());
    let exe_name = exe.as_deref().map(file_name).unwrap_or("");
    let mut version = None;
    let python = if is_python_executable_name(exe_name) {
        version = version_from_file_name(exe_name);
        true
    } else if exe.is_none() {
        // No access to the executable link (another user's process): the command line is
        // all there is to go by.
        cmdline
            .first()
            .is_some_and(|a| is_python_executable_name(file_name(a)))
    } else {
        false
    };
    // The maps tell embedded interpreters (uwsgi, Blender) apart, and give the shared
    // build's version.
    let maps = proc::maps(pid).unwrap_or_default();
    let lib = libpython_in_maps(&maps);
    if !python && lib.is_none() {
        return None;
    }
    if let Some(lib) = lib {
        version = version.or_else(|| version_from_file_name(file_name(lib)));
    }
    let version = version
        .or_else(|| {
            cmdline
                .first()
                .and_then(|a| version_from_file_name(file_name(a)))
        })
        .unwrap_or_else(|| "?".into());
    Some((
        display_command(&cmdline, exe.as_deref().unwrap_or("?")),
        version,
    ))
}

/// Take one non-blocking sample of a tracked process, attaching first if needed.
fn sample_current(pid: i32, t: &mut Tracked, scan: u64) {
    if let SessionSlot::Failed {
        retry_at: Some(at), ..
    } = t.session
    {
        if scan >= at {
            t.session = SessionSlot::Untried;
        }
    }
    if let SessionSlot::Untried = t.session {
        t.session = match Session::attach(pid, PauseMode::NonBlocking) {
            Ok(s) => {
                t.version = s.interpreter().version.to_string();
                SessionSlot::Attached(Box::new(s))
            }
            Err(e) => {
                let permanent = matches!(
                    e,
                    Error::PermissionDenied { .. } | Error::UnsupportedVersion { .. }
                );
                SessionSlot::Failed {
                    reason: short_reason(&e),
                    // An interpreter still starting is not findable yet: look again soon.
                    retry_at: (!permanent).then_some(scan + 3),
                }
            }
        };
    }
    match &mut t.session {
        SessionSlot::Attached(session) => {
            // A racing read fails now and then: a few tries, else keep the last answer.
            for _ in 0..3 {
                if let Ok(stacks) = session.sample() {
                    t.current = current_of(&stacks, pid);
                    break;
                }
            }
        }
        SessionSlot::Failed { reason, .. } => t.current = Current::Unavailable(reason.clone()),
        SessionSlot::Untried => {}
    }
}

fn short_reason(e: &Error) -> String {
    match e {
        Error::PermissionDenied { .. } => "no access: run as root".into(),
        Error::UnsupportedVersion { version, .. } => format!("Python {version} unsupported"),
        Error::NotPython { .. } => "interpreter not found".into(),
        Error::ProcessExited { .. } | Error::ProcessNotFound { .. } => "exited".into(),
        other => other.kind(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stack::Frame;

    #[test]
    fn python_executable_names() {
        for yes in [
            "python",
            "python3",
            "python3.12",
            "python2.7",
            "python3.13t",
            "python3.9d",
        ] {
            assert!(is_python_executable_name(yes), "{yes}");
        }
        for no in [
            "python3-config",
            "pythonw.sh",
            "bash",
            "ipython",
            "python3.12-gdb.py",
            "pythonista",
        ] {
            assert!(!is_python_executable_name(no), "{no}");
        }
    }

    #[test]
    fn libpython_from_maps() {
        let region = |start: u64, path: Option<&str>| MapRegion {
            start,
            end: start + 0x1000,
            offset: 0,
            readable: true,
            writable: false,
            executable: false,
            path: path.map(Into::into),
        };
        let maps = [
            region(
                0x55d4c000,
                Some("/root/.pyenv/versions/3.12.1/bin/python3.12"),
            ),
            region(0x7f00a000, Some("/usr/lib/x86_64-linux-gnu/libc.so.6")),
            region(0x7f00b000, None),
            region(
                0x7f10a000,
                Some("/root/.pyenv/versions/3.12.1/lib/libpython3.12.so.1.0"),
            ),
            region(0x7ffd0000, Some("[stack]")),
        ];
        assert_eq!(
            libpython_in_maps(&maps),
            Some("/root/.pyenv/versions/3.12.1/lib/libpython3.12.so.1.0")
        );
        assert_eq!(libpython_in_maps(&maps[1..3]), None);
        assert_eq!(libpython_in_maps(&[]), None);
    }

    #[test]
    fn versions_from_file_names() {
        assert_eq!(
            version_from_file_name("python3.12").as_deref(),
            Some("3.12")
        );
        assert_eq!(
            version_from_file_name("libpython3.11.so.1.0").as_deref(),
            Some("3.11")
        );
        assert_eq!(
            version_from_file_name("libpython2.7.so").as_deref(),
            Some("2.7")
        );
        assert_eq!(
            version_from_file_name("python3.13t").as_deref(),
            Some("3.13")
        );
        assert_eq!(version_from_file_name("python3"), None);
        assert_eq!(version_from_file_name("bash"), None);
    }

    #[test]
    fn commands_and_cpu() {
        let argv: Vec<String> = ["/root/.pyenv/versions/3.12.1/bin/python", "app.py", "-v"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(display_command(&argv, "/x/python3.12"), "python app.py -v");
        assert_eq!(display_command(&[], "/usr/bin/python3.11"), "python3.11");
        let script = vec![
            "python".to_string(),
            "-c".into(),
            "\u{1b}[2J\nwhile 1: pass".into(),
        ];
        assert_eq!(
            display_command(&script, "/x/python"),
            "python -c \\x1b[2J\\nwhile 1: pass"
        );
        // 150 ticks at 100 Hz over 2 s: 75% of a core; two busy threads exceed 100%.
        assert_eq!(cpu_percent(100, 250, 2.0, 100.0), 75.0);
        assert_eq!(cpu_percent(0, 400, 2.0, 100.0), 200.0);
        assert_eq!(cpu_percent(10, 5, 1.0, 100.0), 0.0);
        assert_eq!(cpu_percent(0, 5, 0.0, 100.0), 0.0);
    }

    fn stack(tid: u32, active: bool, gil: bool, name: &str) -> ThreadStack {
        ThreadStack {
            thread_id: tid as u64,
            os_tid: Some(tid),
            name: None,
            active,
            holds_gil: gil,
            frames: vec![Frame {
                name: name.into(),
                filename: "a.py".into(),
                line: 3,
            }]
            .into(),
        }
    }

    #[test]
    fn current_function_prefers_the_running_gil_holder() {
        let name = |c: Current| match c {
            Current::Function { name, idle, .. } => (name, idle),
            other => panic!("{other:?}"),
        };
        let s = [
            stack(7, false, false, "main_wait"),
            stack(8, true, false, "spinning"),
            stack(9, true, true, "holder"),
        ];
        assert_eq!(name(current_of(&s, 7)), ("holder".into(), false));
        assert_eq!(name(current_of(&s[..2], 7)), ("spinning".into(), false));
        let idle = [
            stack(8, false, false, "worker"),
            stack(7, false, false, "main"),
        ];
        assert_eq!(name(current_of(&idle, 7)), ("main".into(), true));
        let mut empty = stack(7, true, true, "x");
        empty.frames = Default::default();
        assert_eq!(current_of(&[empty], 7), Current::NoFrames);
    }

    #[test]
    fn a_scan_never_lists_itself() {
        let mut scanner = Scanner::new();
        let snap = scanner.scan();
        let me = std::process::id() as i32;
        assert!(snap.rows.iter().all(|r| r.pid != me));
        assert!(snap.mem_total.unwrap() >= snap.mem_available.unwrap());
    }
}
