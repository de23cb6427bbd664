//! `pyprobe dump` in detail: thread names and states, deep stacks, non-ASCII names, the text
//! format. Every test runs on every interpreter.
use std::time::Duration;

use serde_json::Value;

use crate::dump::line_of;
use crate::harness::{
    assert_no_failures, on_every_interpreter, run_pyprobe_within, script, Interpreter, Target,
};

/// Generous: a dump takes well under a second, but the machine may be busy.
const DUMP_TIMEOUT: Duration = Duration::from_secs(30);

/// Dumps tried while waiting for a target to reach the state a test wants. Each try is a real
/// dump that takes tens of milliseconds, so this bounds the wait to a few seconds.
const SETTLE_TRIES: usize = 100;

/// `pyprobe dump --pid PID [extra…]`: stdout on success.
fn dump(pid: u32, extra: &[&str]) -> Result<String, String> {
    let pid = pid.to_string();
    let mut args = vec!["dump", "--pid", pid.as_str()];
    args.extend_from_slice(extra);
    let out = run_pyprobe_within(&args, DUMP_TIMEOUT)?;
    if !out.status.success() {
        return Err(format!("dump exit {:?}: {}", out.status, out.stderr));
    }
    Ok(out.stdout)
}

/// `pyprobe dump --json`, parsed.
fn dump_json(pid: u32) -> Result<Value, String> {
    let text = dump(pid, &["--json"])?;
    serde_json::from_str(&text).map_err(|e| format!("dump --json is not JSON ({e}): {text}"))
}

/// Dump until `done` says the dump shows the state wanted, at most [`SETTLE_TRIES`] times.
/// The last dump and whether it settled.
fn dump_until(pid: u32, done: impl Fn(&Value) -> bool) -> Result<(Value, bool), String> {
    let mut last = dump_json(pid)?;
    for _ in 1..SETTLE_TRIES {
        if done(&last) {
            return Ok((last, true));
        }
        last = dump_json(pid)?;
    }
    let ok = done(&last);
    Ok((last, ok))
}

/// The thread named `name` in a dump.
fn thread<'a>(doc: &'a Value, name: &str) -> Option<&'a Value> {
    doc["threads"]
        .as_array()?
        .iter()
        .find(|t| t["name"].as_str() == Some(name))
}

/// A thread's frames as (function, file, line), innermost first.
fn frames(thread: &Value) -> Vec<(String, String, u64)> {
    thread["frames"]
        .as_array()
        .map(|fs| {
            fs.iter()
                .map(|f| {
                    (
                        f["name"].as_str().unwrap_or("?").to_string(),
                        f["filename"].as_str().unwrap_or("?").to_string(),
                        f["line"].as_u64().unwrap_or(0),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// (function, line) pairs of a thread, innermost first.
fn names_lines(thread: &Value) -> Vec<(String, u64)> {
    frames(thread).into_iter().map(|(n, _, l)| (n, l)).collect()
}

fn names(doc: &Value) -> Vec<String> {
    doc["threads"]
        .as_array()
        .map(|ts| ts.iter().map(|t| t["name"].to_string()).collect())
        .unwrap_or_default()
}

fn is_active(thread: Option<&Value>) -> Option<bool> {
    thread?["active"].as_bool()
}

/// Dumps of thread_status.py after its threads settled.
const DUMPS_AFTER_SETTLING: u32 = 5;

fn tag(tag: &str) -> u64 {
    u64::from(line_of("thread_status.py", tag))
}

fn check_thread_status(py: &Interpreter) -> Result<(), String> {
    let (target, _) = Target::spawn(&py.path, "thread_status.py", &[]);
    let pid = target.pid();
    // The target printed "ready" just before sleeping, and its threads had started, but each
    // may still be a few bytecodes away from where it blocks: wait until the dump shows them
    // there, and idle.
    let (doc, settled) = dump_until(pid, |doc| {
        let main = thread(doc, "MainThread");
        let waiter = thread(doc, "waiter");
        let burner = thread(doc, "cpu-burner");
        let (Some(main), Some(waiter), Some(burner)) = (main, waiter, burner) else {
            return false;
        };
        names_lines(main).first() == Some(&("main_sleep".into(), tag("LINE_SLEEP")))
            && names_lines(waiter).contains(&("wait_forever".into(), tag("LINE_WAIT")))
            && names_lines(burner).first().map(|f| f.0.as_str()) == Some("burn")
            && is_active(Some(main)) == Some(false)
            && is_active(Some(waiter)) == Some(false)
    })?;
    if !settled {
        return Err(format!(
            "never saw MainThread in main_sleep, waiter in wait_forever (both idle) and \
             cpu-burner in burn; last dump: {doc}"
        ));
    }
    if doc["threads"].as_array().map(Vec::len) != Some(3) {
        return Err(format!("expected 3 threads, got {:?}", names(&doc)));
    }
    // From now on the waiter and the main thread never run; the burner always wants to, but
    // with 2 cores and other tests it may be off a CPU at the moment of a dump.
    let mut burner_active = u32::from(is_active(thread(&doc, "cpu-burner")) == Some(true));
    for _ in 0..DUMPS_AFTER_SETTLING {
        let doc = dump_json(pid)?;
        for idle in ["waiter", "MainThread"] {
            if is_active(thread(&doc, idle)) != Some(false) {
                return Err(format!("{idle} reported active (or missing): {doc}"));
            }
        }
        match is_active(thread(&doc, "cpu-burner")) {
            Some(true) => burner_active += 1,
            Some(false) => {}
            None => return Err(format!("no cpu-burner: {doc}")),
        }
    }
    if burner_active == 0 {
        return Err(format!(
            "cpu-burner was never reported active in {} dumps",
            DUMPS_AFTER_SETTLING + 1
        ));
    }
    if let Some(why) = target.stopped_or_traced() {
        return Err(format!("after dumps: {why}"));
    }
    Ok(())
}

#[test]
fn dump_thread_names_and_active_status() {
    assert_no_failures(&on_every_interpreter(3, check_thread_status));
}

fn check_deep_recursion(py: &Interpreter) -> Result<(), String> {
    let (target, depth) = Target::spawn(&py.path, "deep_recursion.py", &[]);
    let depth: usize = depth
        .parse()
        .map_err(|e| format!("ready line {depth:?}: {e}"))?;
    let line = |t| u64::from(line_of("deep_recursion.py", t));
    let (bottom, recurse, call) = (line("LINE_BOTTOM"), line("LINE_RECURSE"), line("LINE_CALL"));
    let (doc, settled) = dump_until(target.pid(), |doc| {
        thread(doc, "MainThread").and_then(|m| names_lines(m).first().cloned())
            == Some(("recurse".into(), bottom))
    })?;
    let main = thread(&doc, "MainThread").ok_or_else(|| format!("no MainThread: {doc}"))?;
    let got = frames(main);
    let mut expected = vec![("recurse".to_string(), bottom)];
    expected.extend(std::iter::repeat_n(("recurse".to_string(), recurse), depth));
    expected.push(("<module>".to_string(), call));
    let got_pairs: Vec<(String, u64)> = got.iter().map(|(n, _, l)| (n.clone(), *l)).collect();
    if !settled || got_pairs != expected {
        let first_diff = got_pairs
            .iter()
            .zip(&expected)
            .position(|(g, e)| g != e)
            .unwrap_or(got_pairs.len().min(expected.len()));
        return Err(format!(
            "main thread has {} frames, expected {} ({} × recurse then <module>); first \
             difference at index {first_diff}: got {:?}, expected {:?}",
            got_pairs.len(),
            expected.len(),
            depth + 1,
            got_pairs.get(first_diff),
            expected.get(first_diff),
        ));
    }
    let file = script("deep_recursion.py").display().to_string();
    if let Some(bad) = got.iter().find(|(_, f, _)| *f != file) {
        return Err(format!("frame {bad:?} is not in {file}"));
    }
    Ok(())
}

#[test]
fn dump_deep_recursion_shows_every_frame() {
    assert_no_failures(&on_every_interpreter(3, check_deep_recursion));
}

/// Name of the thread started by unicode_names.py: Cyrillic, a 2-byte UTF-8 sequence per letter.
const THREAD_NAME: &str = "тред-1";
/// File name unicode_names.py compiles its Python 3 part under (a 4-byte character in it).
const PY3_FILE: &str = "ünï_\u{20000}.py";

fn check_unicode_names(py: &Interpreter) -> Result<(), String> {
    let (target, _) = Target::spawn(&py.path, "unicode_names.py", &[]);
    let main_file = script("unicode_names.py").display().to_string();
    let l = |t| u64::from(line_of("unicode_names.py", t));
    let l3 = |t| u64::from(line_of("unicode_names_py3.txt", t));
    // (function, file, line), innermost first.
    let expected: Vec<(String, String, u64)> = if py.version.0 == 2 {
        vec![
            ("plain_sleep".into(), main_file.clone(), l("LINE_PLAIN")),
            ("<module>".into(), main_file.clone(), l("LINE_CALL_PLAIN")),
        ]
    } else {
        // Qualified names from 3.11 (co_qualname); before that, the bare name.
        let method = if py.version >= (3, 11) {
            "日本.m\u{20000}"
        } else {
            "m\u{20000}"
        };
        vec![
            ("grüße_λ".into(), PY3_FILE.into(), l3("LINE_GREEK")),
            ("grüße".into(), PY3_FILE.into(), l3("LINE_LATIN")),
            (method.into(), PY3_FILE.into(), l3("LINE_METHOD")),
            ("<module>".into(), PY3_FILE.into(), l3("LINE_TOP")),
            ("<module>".into(), main_file.clone(), l("LINE_EXEC")),
        ]
    };
    let innermost = expected[0].clone();
    let (doc, settled) = dump_until(target.pid(), |doc| {
        thread(doc, "MainThread").and_then(|m| frames(m).first().cloned())
            == Some(innermost.clone())
    })?;
    let main = thread(&doc, "MainThread").ok_or_else(|| format!("no MainThread: {doc}"))?;
    if !settled || frames(main) != expected {
        return Err(format!(
            "main thread frames {:?}, expected {expected:?}",
            frames(main)
        ));
    }
    let Some(named) = thread(&doc, THREAD_NAME) else {
        return Err(format!(
            "no thread named {THREAD_NAME:?}; names: {:?}",
            names(&doc)
        ));
    };
    if !names_lines(named).contains(&("thread_body".into(), l("LINE_THREAD"))) {
        return Err(format!(
            "{THREAD_NAME} is not in thread_body: {:?}",
            frames(named)
        ));
    }
    Ok(())
}

#[test]
fn dump_non_ascii_names() {
    assert_no_failures(&on_every_interpreter(3, check_unicode_names));
}

fn check_text_format(py: &Interpreter) -> Result<(), String> {
    let (target, _) = Target::spawn(&py.path, "stack_shape.py", &[]);
    let pid = target.pid();
    let path = script("stack_shape.py").display().to_string();
    let l = |t| line_of("stack_shape.py", t);
    let main_header = format!("Thread {pid} (idle): \"MainThread\"");
    let leaf = format!("    leaf ({path}:{})", l("LINE_LEAF"));
    // stack_shape.py says "ready" just before calling middle(): wait until it sleeps in leaf().
    let mut text = String::new();
    for _ in 0..SETTLE_TRIES {
        text = dump(pid, &[])?;
        let mut lines = text.lines().skip_while(|l| *l != main_header);
        if lines.nth(1) == Some(leaf.as_str()) {
            break;
        }
    }
    let lines: Vec<&str> = text.lines().collect();
    let cmdline = format!("{} {path}", py.path.display());
    if lines.first().copied() != Some(format!("Process {pid}: {cmdline}").as_str()) {
        return Err(format!(
            "first line is not `Process {pid}: {cmdline}`:\n{text}"
        ));
    }
    let version = match py.label.strip_prefix("pyenv-") {
        Some(v) => format!("Python v{v}"),
        None => format!("Python v{}.{}.", py.version.0, py.version.1),
    };
    if !lines.get(1).is_some_and(|l| l.starts_with(&version)) {
        return Err(format!(
            "second line does not start with {version:?}:\n{text}"
        ));
    }
    // The main thread comes first: a blank line, its header, then its frames innermost first.
    let expected_main = [
        "",
        main_header.as_str(),
        leaf.as_str(),
        &format!("    middle ({path}:{})", l("LINE_MIDDLE")),
    ];
    if lines.get(2..6) != Some(&expected_main[..]) {
        return Err(format!(
            "expected the main thread as\n{expected_main:#?}\ngot:\n{text}"
        ));
    }
    if !lines
        .get(6)
        .is_some_and(|l| l.starts_with(&format!("    <module> ({path}:")))
    {
        return Err(format!("no <module> frame after middle:\n{text}"));
    }
    // The worker: `Thread TID (STATUS): "busy-worker"`, spin() innermost, then threading.py's
    // run() (qualified as Thread.run from 3.11) with the standard library path shortened.
    let run = if py.version >= (3, 11) {
        "Thread.run"
    } else {
        "run"
    };
    let Some(at) = lines
        .iter()
        .position(|l| l.starts_with("Thread ") && l.ends_with(": \"busy-worker\""))
    else {
        return Err(format!("no busy-worker header:\n{text}"));
    };
    let header = lines[at];
    let tid_ok = header
        .strip_prefix("Thread ")
        .and_then(|r| r.split_once(' '))
        .is_some_and(|(tid, rest)| {
            tid.parse::<u32>().is_ok_and(|t| t != pid)
                && ["(active", "(idle"].iter().any(|s| rest.starts_with(s))
        });
    if !tid_ok || lines.get(at - 1) != Some(&"") {
        return Err(format!("bad worker header {header:?}:\n{text}"));
    }
    if !lines
        .get(at + 1)
        .is_some_and(|l| l.starts_with(&format!("    spin ({path}:")))
    {
        return Err(format!("busy-worker is not in spin():\n{text}"));
    }
    let worker_frames: Vec<&str> = lines[at + 1..]
        .iter()
        .take_while(|l| l.starts_with("    "))
        .copied()
        .collect();
    if !worker_frames
        .iter()
        .any(|l| l.starts_with(&format!("    {run} (threading.py:")) && l.ends_with(')'))
    {
        return Err(format!(
            "no `{run} (threading.py:LINE)` frame in busy-worker:\n{text}"
        ));
    }
    // --full-filenames keeps the standard library path whole.
    let full = dump(pid, &["--full-filenames"])?;
    let stdlib = format!("/python{}.{}/threading.py:", py.version.0, py.version.1);
    if !full
        .lines()
        .any(|l| l.starts_with(&format!("    {run} (/")) && l.contains(&stdlib))
    {
        return Err(format!(
            "--full-filenames: no `{run} (/…{stdlib}N)` line:\n{full}"
        ));
    }
    Ok(())
}

#[test]
fn dump_text_format() {
    assert_no_failures(&on_every_interpreter(3, check_text_format));
}
