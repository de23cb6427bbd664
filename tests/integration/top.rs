//! `pyprobe top` in a real terminal: tmux runs it in a shell, capture-pane reads the screen,
//! send-keys types. Every wait is a bounded poll of the screen, never a fixed sleep.
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::harness::{interpreters, Interpreter, Target};

/// How long a screen may take to show what a test waits for (a loaded CI machine included).
const PATIENCE: Duration = Duration::from_secs(40);

/// Install tmux when it is missing (CI images may lack it).
fn ensure_tmux() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let have = |cmd: &str| {
            Command::new("sh")
                .args(["-c", &format!("command -v {cmd} >/dev/null")])
                .status()
                .is_ok_and(|s| s.success())
        };
        if !have("tmux") {
            let ok = Command::new("sh")
                .args([
                    "-c",
                    "apt-get update -qq && apt-get install -y -qq tmux >/dev/null",
                ])
                .status()
                .is_ok_and(|s| s.success());
            assert!(
                ok && have("tmux"),
                "tmux is missing and could not be installed"
            );
        }
    });
}

/// A tmux server of our own (its own socket) running one shell; killed on drop.
struct Tmux {
    socket: String,
}

impl Tmux {
    /// A `width`×`height` terminal with a plain bash in it.
    fn start(width: u16, height: u16) -> Tmux {
        ensure_tmux();
        static N: AtomicUsize = AtomicUsize::new(0);
        let socket = format!(
            "pyprobe-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        let tmux = Tmux { socket };
        let out = tmux
            .cmd()
            .args(["-f", "/dev/null", "new-session", "-d", "-s", "t", "-x"])
            .arg(width.to_string())
            .arg("-y")
            .arg(height.to_string())
            .arg("env PS1='$ ' TERM=xterm-256color bash --norc --noprofile")
            .output()
            .expect("running tmux");
        assert!(
            out.status.success(),
            "tmux new-session: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        tmux
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new("tmux");
        c.args(["-L", &self.socket]);
        c
    }

    /// Type `keys` (tmux key names, e.g. "Enter", "Escape", "Down", or literal text).
    fn keys(&self, keys: &[&str]) {
        let out = self
            .cmd()
            .args(["send-keys", "-t", "t"])
            .args(keys)
            .output()
            .expect("tmux send-keys");
        assert!(out.status.success(), "send-keys {keys:?}");
    }

    /// Type a command line and press Enter.
    fn run(&self, line: &str) {
        let out = self
            .cmd()
            .args(["send-keys", "-t", "t", "-l", line])
            .output()
            .expect("tmux send-keys");
        assert!(out.status.success());
        self.keys(&["Enter"]);
    }

    /// The visible screen.
    fn screen(&self) -> String {
        let out = self
            .cmd()
            .args(["capture-pane", "-p", "-t", "t"])
            .output()
            .expect("tmux capture-pane");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A pane variable, e.g. `alternate_on`.
    fn var(&self, name: &str) -> String {
        let out = self
            .cmd()
            .args(["display-message", "-p", "-t", "t", &format!("#{{{name}}}")])
            .output()
            .expect("tmux display-message");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Poll the screen until `ready` accepts it; the screen, or an error with the last one.
    fn wait_for(&self, what: &str, ready: impl Fn(&str) -> bool) -> Result<String, String> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let screen = self.screen();
            if ready(&screen) {
                return Ok(screen);
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "waited {PATIENCE:?} for {what}; the screen:\n{screen}"
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd().arg("kill-server").output();
    }
}

fn pyprobe() -> &'static str {
    env!("CARGO_BIN_EXE_pyprobe")
}

/// The interpreters these tests use: a shared pyenv build and Debian's static executable
/// (per-version walking is tested elsewhere).
fn two_interpreters() -> Vec<&'static Interpreter> {
    interpreters()
        .iter()
        .filter(|i| i.label == "pyenv-3.12.1" || i.label == "debian-static-3.11")
        .collect()
}

/// Whether `screen` shows "RSS " followed by a size like 45.2M.
fn shows_rss(screen: &str) -> bool {
    screen.match_indices("RSS ").any(|(i, _)| {
        let rest = &screen[i + 4..];
        rest.starts_with(|c: char| c.is_ascii_digit())
            && rest
                .split_whitespace()
                .next()
                .is_some_and(|v| v.ends_with(['K', 'M', 'G']))
    })
}

/// The sample count in the header ("Samples 1234 at …"), 0 when not shown.
fn samples(screen: &str) -> u64 {
    screen
        .split("Samples ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// The shell came back: top printed nothing over it and the terminal is out of raw mode and
/// the alternate screen.
fn check_restored(tmux: &Tmux, marker: &str) -> Result<(), String> {
    let screen = tmux.wait_for("the shell after top", |s| s.contains(marker))?;
    if !screen.contains("BEFORE-2") {
        return Err(format!("the screen from before top is not back:\n{screen}"));
    }
    if screen.contains("%Own") {
        return Err(format!("top's screen is still shown:\n{screen}"));
    }
    let alt = tmux.var("alternate_on");
    if alt != "0" {
        return Err(format!("still on the alternate screen ({alt})"));
    }
    if tmux.var("cursor_flag") != "1" {
        return Err("the cursor is still hidden".into());
    }
    tmux.run(
        "case \"$(stty -a)\" in *-icanon*) echo RAW-$((1+1));; *) echo COOKED-$((1+1));; esac",
    );
    let screen = tmux.wait_for("stty's answer", |s| {
        s.contains("RAW-2") || s.contains("COOKED-2")
    })?;
    if screen.contains("RAW-2") {
        return Err("the terminal was left in raw mode".into());
    }
    Ok(())
}

fn pid_view(py: &Interpreter) -> Result<(), String> {
    let (target, _) = Target::spawn(&py.path, "top_target.py", &[]);
    let pid = target.pid();
    let tmux = Tmux::start(120, 40);
    tmux.run("echo BEFORE-$((1+1))");
    tmux.wait_for("the shell", |s| s.contains("BEFORE-2"))?;
    tmux.run(&format!(
        "{} top --pid {pid}; echo AFTER-$?-$((40+2))",
        pyprobe()
    ));
    // Enough samples that the hottest function is surely first.
    let screen = tmux.wait_for("hot_loop with RSS after 100 samples", |s| {
        s.contains("hot_loop (")
            && shows_rss(s)
            && s.contains(&format!("pid {pid}"))
            && samples(s) >= 100
    })?;
    for expected in [
        "%Own",
        "%Total",
        "OwnTime",
        "TotalTime",
        "top_target.py",
        "headroom",
    ] {
        if !screen.contains(expected) {
            return Err(format!("{expected:?} is not on the screen:\n{screen}"));
        }
    }
    let version = format!("Python {}.{}.", py.version.0, py.version.1);
    if !screen.contains(&version) {
        return Err(format!("no {version:?} in the header:\n{screen}"));
    }
    if tmux.var("alternate_on") != "1" {
        return Err("top does not use the alternate screen".into());
    }
    // The hottest function is first (sorted by %Own).
    let first_row = screen
        .lines()
        .skip_while(|l| !(l.contains("%Total") && l.contains("OwnTime")))
        .nth(1)
        .unwrap_or("");
    if !first_row.contains("hot_loop") {
        return Err(format!("hot_loop is not the top row:\n{screen}"));
    }
    // Lines view, then help, then quit.
    tmux.keys(&["L"]);
    tmux.wait_for("the line view", |s| s.contains("by line"))?;
    tmux.keys(&["?"]);
    tmux.wait_for("the help", |s| s.contains("reset the counts"))?;
    tmux.keys(&["q"]);
    check_restored(&tmux, "AFTER-0-42")?;
    if let Some(problem) = target.stopped_or_traced() {
        return Err(format!("the target was left unhealthy: {problem}"));
    }
    Ok(())
}

#[test]
fn top_pid_shows_the_hot_function_and_quits_cleanly() {
    for py in two_interpreters() {
        pid_view(py).unwrap_or_else(|e| panic!("{}: {e}", py.label));
    }
}

#[test]
fn top_pid_says_when_the_target_exits_and_waits_for_a_key() {
    let py = two_interpreters()[0];
    let (mut target, _) = Target::spawn(&py.path, "top_target.py", &[]);
    let pid = target.pid();
    let tmux = Tmux::start(80, 24);
    tmux.run("echo BEFORE-$((1+1))");
    tmux.wait_for("the shell", |s| s.contains("BEFORE-2"))
        .unwrap();
    tmux.run(&format!(
        "{} top --pid {pid}; echo AFTER-$?-$((40+2))",
        pyprobe()
    ));
    tmux.wait_for("hot_loop", |s| s.contains("hot_loop"))
        .unwrap();
    target.kill();
    let screen = tmux
        .wait_for("the exit notice", |s| {
            s.contains(&format!("process {pid} exited")) && s.contains("press any key")
        })
        .unwrap();
    assert!(
        screen.contains("hot_loop"),
        "the last screen stays:\n{screen}"
    );
    assert!(
        !screen.contains("AFTER-"),
        "top must wait for a key:\n{screen}"
    );
    tmux.keys(&["x"]);
    check_restored(&tmux, "AFTER-0-42").unwrap();
}

#[test]
fn a_panic_in_top_restores_the_terminal() {
    let py = two_interpreters()[0];
    let (target, _) = Target::spawn(&py.path, "top_target.py", &[]);
    let tmux = Tmux::start(100, 30);
    tmux.run("echo BEFORE-$((1+1))");
    tmux.wait_for("the shell", |s| s.contains("BEFORE-2"))
        .unwrap();
    // Debug builds of pyprobe panic on purpose when this variable is set.
    tmux.run(&format!(
        "PYPROBE_TEST_PANIC_IN_TOP=1 {} top --pid {}; echo AFTER-$?-$((40+2))",
        pyprobe(),
        target.pid()
    ));
    check_restored(&tmux, "AFTER-101-42").unwrap();
    let screen = tmux.screen();
    assert!(
        screen.contains("a test asked for this panic"),
        "the panic message is readable on the normal screen:\n{screen}"
    );
}

/// The screen line of the selected row (marked `>`) of the process list.
fn selected_line(screen: &str) -> Option<&str> {
    screen.lines().find(|l| l.starts_with('>'))
}

#[test]
fn top_lists_python_processes_and_opens_one() {
    let py = two_interpreters()[0];
    let (target, _) = Target::spawn(&py.path, "top_target.py", &[]);
    let pid = target.pid().to_string();
    let tmux = Tmux::start(160, 50);
    tmux.run("echo BEFORE-$((1+1))");
    tmux.wait_for("the shell", |s| s.contains("BEFORE-2"))
        .unwrap();
    tmux.run(&format!("{} top; echo AFTER-$?-$((40+2))", pyprobe()));
    let is_ours = |line: &str| {
        line.trim_start_matches(['>', ' '])
            .split_whitespace()
            .next()
            == Some(pid.as_str())
    };
    // Our process, with its script and what it runs now, on a screen drawn to its footer (a
    // capture under load can catch a frame half drawn).
    let screen = tmux
        .wait_for("the target in the list", |s| {
            s.contains("available")
                && s.lines()
                    .any(|l| is_ours(l) && l.contains("top_target.py") && l.contains("hot_loop"))
        })
        .unwrap();
    assert!(screen.contains("Python processes"), "{screen}");
    assert!(screen.contains("available"), "memory footer:\n{screen}");
    // Sort by pid (stable while other tests start and stop Pythons), then walk to ours.
    tmux.keys(&["1"]);
    tmux.wait_for("sorting by PID", |s| s.contains("sorted by PID"))
        .unwrap();
    let deadline = Instant::now() + PATIENCE;
    loop {
        let screen = tmux.screen();
        let rows: Vec<&str> = screen
            .lines()
            .skip_while(|l| !l.contains("Running now"))
            .skip(1)
            .collect();
        let ours = rows.iter().position(|l| is_ours(l));
        let sel = rows.iter().position(|l| l.starts_with('>'));
        match (ours, sel) {
            (Some(o), Some(s)) if o == s => break,
            (Some(o), Some(s)) => {
                let key = if o > s { "Down" } else { "Up" };
                tmux.keys(&[key]);
                // Wait for the selection to move before looking again.
                let before = selected_line(&screen).map(str::to_string);
                let _ = tmux.wait_for("the selection to move", |now| {
                    selected_line(now).map(str::to_string) != before
                });
            }
            _ => {}
        }
        assert!(
            Instant::now() < deadline,
            "could not select {pid}:\n{screen}"
        );
    }
    tmux.keys(&["Enter"]);
    let screen = tmux
        .wait_for("the live view of the target", |s| {
            s.contains(&format!("pid {pid}")) && s.contains("hot_loop (") && shows_rss(s)
        })
        .unwrap();
    assert!(screen.contains("Esc"), "{screen}");
    tmux.keys(&["Escape"]);
    tmux.wait_for("the list again", |s| {
        s.contains("Python processes") && s.contains("Running now")
    })
    .unwrap();
    // Ctrl-C quits like q (raw mode turns it into a key, not a signal).
    tmux.keys(&["C-c"]);
    check_restored(&tmux, "AFTER-0-42").unwrap();
}

#[test]
fn top_without_a_terminal_says_so() {
    let out = Command::new(pyprobe())
        .args(["top", "--pid", "1"])
        .output()
        .expect("running pyprobe");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("needs a terminal"), "{err}");
}

/// `top --pid ROOT --subprocesses`: each worker of a pool is a row `process PID: command`
/// above the function they all run.
fn tree_view(py: &Interpreter) -> Result<(), String> {
    let (target, workers) = Target::spawn(&py.path, "subprocs.py", &["pool", "3"]);
    let workers: Vec<&str> = workers.split_whitespace().collect();
    if workers.len() != 2 {
        return Err(format!("expected 2 worker pids, got {workers:?}"));
    }
    let tmux = Tmux::start(160, 40);
    tmux.run("echo BEFORE-$((1+1))");
    tmux.wait_for("the shell", |s| s.contains("BEFORE-2"))?;
    tmux.run(&format!(
        "{} top --pid {} --subprocesses; echo AFTER-$?-$((40+2))",
        pyprobe(),
        target.pid()
    ));
    tmux.wait_for("a row per worker, and pool_burn", |s| {
        s.contains("pool_burn (")
            && workers
                .iter()
                .all(|w| s.contains(&format!("process {w}: ")))
    })?;
    tmux.keys(&["q"]);
    check_restored(&tmux, "AFTER-0-42")
}

#[test]
fn top_subprocesses_shows_each_process_of_the_tree() {
    ensure_tmux();
    let py = interpreters()
        .iter()
        .find(|i| i.label == "pyenv-3.12.1")
        .expect("pyenv-3.12.1 is listed");
    if let Err(e) = tree_view(py) {
        panic!("{}: {e}", py.label);
    }
}

/// The tree's size a root row of plain `top` shows: `[tree of N: …` or `[N× …`.
fn tree_size(line: &str) -> Option<usize> {
    let at = line.find("[tree of ").map(|i| i + "[tree of ".len());
    let at = at.or_else(|| line.find('[').map(|i| i + 1))?;
    let digits: String = line[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

#[test]
fn top_groups_a_pool_under_its_parent_with_the_tree_total() {
    ensure_tmux();
    let py = two_interpreters()[0];
    let (target, workers) = Target::spawn(&py.path, "subprocs.py", &["pool", "3"]);
    let workers: Vec<String> = workers.split_whitespace().map(str::to_string).collect();
    assert_eq!(workers.len(), 2, "worker pids: {workers:?}");
    let parent = target.pid().to_string();
    let tmux = Tmux::start(160, 50);
    tmux.run("echo BEFORE-$((1+1))");
    tmux.wait_for("the shell", |s| s.contains("BEFORE-2"))
        .unwrap();
    tmux.run(&format!("{} top; echo AFTER-$?-$((40+2))", pyprobe()));
    let pid_of = |line: &str| {
        line.trim_start_matches(['>', ' '])
            .split_whitespace()
            .next()
            .map(str::to_string)
    };
    // Sorted by pid, so the tree stays put while other tests' Pythons come and go.
    tmux.keys(&["1"]);
    let screen = tmux
        .wait_for("the pool under its parent", |s| {
            let lines: Vec<&str> = s.lines().collect();
            let Some(root) = lines.iter().position(|l| pid_of(l) == Some(parent.clone())) else {
                return false;
            };
            let size_ok = tree_size(lines[root]).is_some_and(|n| n >= 3);
            let under = |w: &String| {
                lines.iter().enumerate().any(|(i, l)| {
                    i > root
                        && pid_of(l).as_ref() == Some(w)
                        && (l.contains("├─") || l.contains("└─"))
                })
            };
            s.contains("sorted by PID") && size_ok && workers.iter().all(under)
        })
        .unwrap();
    assert!(
        screen.contains(" trees │"),
        "the title counts trees:\n{screen}"
    );
    tmux.keys(&["q"]);
    check_restored(&tmux, "AFTER-0-42").unwrap();
}

#[test]
fn top_pid_shows_the_heap_census_on_a_key() {
    ensure_tmux();
    let py = two_interpreters()[0];
    let (mut target, _) = Target::spawn(&py.path, "heap_census.py", &["3000"]);
    target.signal(libc::SIGUSR1);
    // The ground truth (a JSON line), then "created": the objects are in place.
    while target.read_line().unwrap() != "created" {}
    let tmux = Tmux::start(120, 40);
    tmux.run("echo BEFORE-$((1+1))");
    tmux.wait_for("the shell", |s| s.contains("BEFORE-2"))
        .unwrap();
    tmux.run(&format!(
        "{} top --pid {}; echo AFTER-$?-$((40+2))",
        pyprobe(),
        target.pid()
    ));
    tmux.wait_for("the function table", |s| s.contains("%Own"))
        .unwrap();
    tmux.keys(&["o"]);
    // The script's own class, counted 3,000 times, on a row of the census.
    let screen = tmux
        .wait_for("the census with __main__.Point", |s| {
            s.contains("Heap ")
                && s.lines().any(|l| {
                    l.contains("__main__.Point")
                        && l.split_whitespace()
                            .any(|w| w.parse::<u64>().is_ok_and(|n| (3000..3100).contains(&n)))
                })
        })
        .unwrap();
    assert!(screen.contains("o functions"), "{screen}");
    tmux.keys(&["o"]);
    tmux.wait_for("the function table again", |s| s.contains("%Own"))
        .unwrap();
    tmux.keys(&["q"]);
    check_restored(&tmux, "AFTER-0-42").unwrap();
}
