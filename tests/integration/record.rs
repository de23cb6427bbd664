//! `pyprobe record` on every interpreter: sample proportions against a measured truth, every
//! output format, `--threads`, `--duration` in seconds, and `--blocking`.
use std::path::Path;
use std::time::{Duration, Instant};

use crate::dump::line_of;
use crate::harness::{
    assert_no_failures, on_every_interpreter, run_pyprobe_within, script, spawn_pyprobe, Finished,
    Interpreter, Running, Target,
};

/// Record runs last a few seconds; this only catches a hang.
pub const RECORD_TIMEOUT: Duration = Duration::from_secs(60);

/// Interpreters recorded at once by one test: each target burns a core, the machine has two,
/// and the test harness runs two tests at a time.
pub const PARALLEL: usize = 3;

/// One line of collapsed output: frames outermost first, and a count.
#[derive(Debug, Clone)]
pub struct Folded {
    /// Frame labels, `function (file:line)`, outermost first.
    pub frames: Vec<String>,
    /// Samples.
    pub count: u64,
}

impl Folded {
    /// Whether some frame is a call of `function`.
    pub fn has(&self, function: &str) -> bool {
        self.frames.iter().any(|f| function_of(f) == function)
    }
}

/// The function of a frame label `function (file:line)`.
pub fn function_of(label: &str) -> &str {
    label.split_once(" (").map_or(label, |(f, _)| f)
}

/// Parse collapsed (`-f raw`) output; an error for any malformed line or an empty file.
pub fn parse_collapsed(text: &str) -> Result<Vec<Folded>, String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let parsed = line.rsplit_once(' ').and_then(|(stack, count)| {
            let count = count.parse().ok()?;
            let frames: Vec<String> = stack.split(';').map(str::to_string).collect();
            (count > 0 && frames.iter().all(|f| !f.is_empty())).then_some(Folded { frames, count })
        });
        match parsed {
            Some(f) => out.push(f),
            None => return Err(format!("malformed collapsed line {line:?}")),
        }
    }
    if out.is_empty() {
        return Err("no stacks in the collapsed output".into());
    }
    Ok(out)
}

/// Read and parse a collapsed output file.
pub fn read_collapsed(path: &Path) -> Result<Vec<Folded>, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    parse_collapsed(&text).map_err(|e| format!("{}: {e}\n{text}", path.display()))
}

/// Samples whose stack contains `function`.
pub fn samples_in(stacks: &[Folded], function: &str) -> u64 {
    stacks
        .iter()
        .filter(|s| s.has(function))
        .map(|s| s.count)
        .sum()
}

/// Samples and errors from pyprobe's summary line "pyprobe: N samples, M errors, …".
pub fn summary_counts(stderr: &str) -> Option<(u64, u64)> {
    let line = stderr.lines().find(|l| l.contains(" samples, "))?;
    let rest = line.split("pyprobe: ").nth(1)?;
    let mut words = rest.split([' ', ',']).filter(|w| !w.is_empty());
    let samples = words.next()?.parse().ok()?;
    words.next()?; // "samples"
    let errors = words.next()?.parse().ok()?;
    Some((samples, errors))
}

/// pyprobe's result, or an error with its stderr when it failed.
pub fn record(args: &[&str]) -> Result<Finished, String> {
    let out = run_pyprobe_within(args, RECORD_TIMEOUT)?;
    if !out.status.success() {
        return Err(format!(
            "pyprobe {args:?} exit {:?}: {}",
            out.status, out.stderr
        ));
    }
    Ok(out)
}

/// cpu_split.py's "totals A B" line, asked for with SIGUSR1: seconds spent in cpu_a and cpu_b.
fn split_totals(target: &mut Target) -> Result<(f64, f64), String> {
    target.signal(libc::SIGUSR1);
    let line = target.read_line()?;
    let parsed = line.strip_prefix("totals ").and_then(|rest| {
        let (a, b) = rest.split_once(' ')?;
        Some((a.parse().ok()?, b.parse().ok()?))
    });
    parsed.ok_or_else(|| format!("expected `totals A B`, got {line:?}"))
}

/// `record` of `pid` at `rate` for 2 s into `out`, collapsed (raw), plus `extra` options.
fn raw_record_args<'a>(
    pid: &'a str,
    rate: &'a str,
    out: &'a Path,
    extra: &[&'a str],
) -> Vec<&'a str> {
    let mut args = vec!["record", "--pid", pid, "-r", rate, "-d", "2", "-f", "raw"];
    args.extend_from_slice(extra);
    args.extend(["-o", out.to_str().unwrap()]);
    args
}

fn check_proportions(py: &Interpreter) -> Result<(), String> {
    let (mut target, calibrated) = Target::spawn(&py.path, "cpu_split.py", &[]);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("profile.txt");
    let pid = target.pid().to_string();
    let running = spawn_pyprobe(&raw_record_args(&pid, "500", &out, &[]));
    // The truth: the wall-time split the script measured while pyprobe's sampler thread ran.
    // On an idle machine it equals the CPU split calibrated at startup; on a busy one it also
    // holds the stretches the target was preempted in one function, which the sampler sees too.
    // (Attaching and writing can take a second on a busy machine: they are left out.)
    let deadline = Instant::now() + RECORD_TIMEOUT;
    let wait_for = |sampling: bool| -> Result<(), String> {
        while (running.thread_count() >= 2) != sampling {
            if Instant::now() > deadline || running.thread_count() == 0 {
                return Err(format!(
                    "pyprobe's sampler never became sampling={sampling}"
                ));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        Ok(())
    };
    wait_for(true)?;
    let before = split_totals(&mut target)?;
    wait_for(false)?;
    let after = split_totals(&mut target)?;
    let done = running.finish(RECORD_TIMEOUT)?;
    if !done.status.success() {
        return Err(format!("pyprobe exit {:?}: {}", done.status, done.stderr));
    }
    let (ta, tb) = (after.0 - before.0, after.1 - before.1);
    let truth = ta / (ta + tb);
    // The SIGUSR1 handler report() may show up on top of cpu_a or cpu_b once or twice.
    let stacks: Vec<Folded> = read_collapsed(&out)?
        .into_iter()
        .filter(|s| !s.has("report"))
        .collect();
    let (a, b) = (samples_in(&stacks, "cpu_a"), samples_in(&stacks, "cpu_b"));
    // ~1000 samples: the 7-point limit below is then ~5 standard deviations of sampling noise
    // (at 200 Hz it was under 3, which failed now and then on 12 interpreters).
    if a + b < 250 {
        return Err(format!(
            "only {} samples in cpu_a/cpu_b at 500 Hz for 2 s",
            a + b
        ));
    }
    let share = a as f64 / (a + b) as f64;
    if (share - truth).abs() > 0.07 {
        return Err(format!(
            "cpu_a has {:.1}% of the samples ({a} vs {b} in cpu_b); the script spent {:.1}% \
             of the window in cpu_a ({ta:.2} s vs {tb:.2} s; {calibrated} of CPU time at \
             startup)",
            share * 100.0,
            truth * 100.0
        ));
    }
    // Without pausing, a sample can catch cpu_a returning while its caller moves on: such a
    // torn stack (main() past its call line) is tolerated in a few samples, nothing else is.
    let torn = check_split_stacks(&stacks)?;
    if torn * 100 > (a + b) * 3 {
        return Err(format!(
            "{torn} of {} samples in cpu_a/cpu_b have main() at the wrong line",
            a + b
        ));
    }
    Ok(())
}

/// Check every stack of cpu_split.py's main thread that is in cpu_a or cpu_b: exactly
/// `<module>` → `main()` → `cpu_x()`, in cpu_split.py, `<module>` at its call of main(), cpu_x
/// at its `def` line or a line of its body (mostly the `for` line and the line of the loop body, which must be
/// seen if the function has 20 samples or more). Returns how many samples have main() at a line other than its call of that function
/// (torn reads, possible only without --blocking).
fn check_split_stacks(stacks: &[Folded]) -> Result<u64, String> {
    let file = script("cpu_split.py").display().to_string();
    let l = |t| line_of("cpu_split.py", t);
    let module = format!("<module> ({file}:{})", l("LINE_MAIN"));
    let main_prefix = format!("main ({file}:");
    let mut torn = 0;
    for (function, call, body) in [
        ("cpu_a", l("LINE_CALL_A"), l("LINE_A")),
        ("cpu_b", l("LINE_CALL_B"), l("LINE_B")),
    ] {
        // `def` (a frame just entered: CPython 3.11+ gives the first line to an instruction
        // pointer before the first instruction), `x = 0`, `for …`, the body (`lines[3]`),
        // `return x`.
        let lines: Vec<String> = (body - 3..=body + 1)
            .map(|n| format!("{function} ({file}:{n})"))
            .collect();
        let mut at_body = 0;
        let mut total = 0;
        let mut by_line: Vec<(&str, u64)> = Vec::new();
        for s in stacks.iter().filter(|s| s.has(function)) {
            let shape_ok = s.frames.len() == 3
                && s.frames[0] == module
                && s.frames[1].starts_with(&main_prefix)
                && lines.contains(&s.frames[2]);
            if !shape_ok {
                return Err(format!("unexpected stack {:?} x{}", s.frames, s.count));
            }
            if s.frames[1] != format!("main ({file}:{call})") {
                torn += s.count;
            }
            if s.frames[2] == lines[3] {
                at_body += s.count;
            }
            total += s.count;
            by_line.push((s.frames[2].as_str(), s.count));
        }
        if at_body == 0 && total >= 20 {
            return Err(format!(
                "no sample of {function} at its loop body (line {body}): {by_line:?}"
            ));
        }
    }
    Ok(torn)
}

#[test]
fn record_proportions_match_measured_work() {
    assert_no_failures(&on_every_interpreter(PARALLEL, check_proportions));
}

/// A thread that works outside the GIL (a long C call, its Python stack still) is active in
/// (nearly) every tick, and threads that wait are not counted. Without pausing, this holds
/// while its OS state is reused between reads (the stack top does not move); with pausing at
/// 1 kHz, a waiting thread that the previous pause woke is still not counted.
fn check_gil_free_work(py: &Interpreter, mode: &str, rate: &str) -> Result<(), String> {
    let (target, _) = Target::spawn(&py.path, "gil_free.py", &[]);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("gil_free.txt");
    let pid = target.pid().to_string();
    let run = record(&raw_record_args(&pid, rate, &out, &[mode]))?;
    let stacks = read_collapsed(&out)?;
    let file = script("gil_free.py").display().to_string();
    let fill_line = format!(
        "fill_forever ({file}:{})",
        line_of("gil_free.py", "LINE_FILL")
    );
    let filling: u64 = stacks
        .iter()
        .filter(|s| s.frames.last() == Some(&fill_line))
        .map(|s| s.count)
        .sum();
    let (ticks, _) = summary_counts(&run.stderr)
        .ok_or_else(|| format!("no sample count in {:?}", run.stderr))?;
    // memset leaves the GIL for a moment between calls: almost, not exactly, every tick.
    // Under the whole suite's load (a 256 MiB filler per interpreter on two cores) a blocking
    // pause waits for each stopped thread to be scheduled, and 2 s at 1 kHz gave 195 ticks
    // once, and beside a release build and three other test runs (load 14) 95: 50 is still
    // plenty to tell 90% from less.
    if ticks < 50 || filling * 10 < ticks * 9 {
        return Err(format!(
            "the GIL-free filler is active in {filling} of {ticks} ticks (want 90% of at least \
             50): {stacks:?}"
        ));
    }
    let waiting = samples_in(&stacks, "wait_forever") + samples_in(&stacks, "main_sleep");
    if waiting > 0 {
        return Err(format!("{waiting} samples of waiting threads: {stacks:?}"));
    }
    Ok(())
}

#[test]
fn record_counts_gil_free_work_as_active() {
    assert_no_failures(&on_every_interpreter(PARALLEL, |py| {
        check_gil_free_work(py, "--nonblocking", "200")
    }));
}

#[test]
fn record_blocking_counts_gil_free_work_and_no_waiting_thread() {
    assert_no_failures(&on_every_interpreter(PARALLEL, |py| {
        check_gil_free_work(py, "--blocking", "1000")
    }));
}

fn check_outputs(py: &Interpreter) -> Result<(), String> {
    let (target, _) = Target::spawn(&py.path, "cpu_split.py", &["thread"]);
    let pid = target.pid();
    let pid_s = pid.to_string();
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let file = script("cpu_split.py").display().to_string();

    // Three pyprobes on the same target at once (it also shows they do not disturb each other).
    let (svg, json, raw) = (
        path("profile.svg"),
        path("profile.json"),
        path("threads.txt"),
    );
    let base = ["record", "--pid", &pid_s, "-r", "100"];
    let flamegraph =
        spawn_pyprobe(&[&base[..], &["-d", "1.5", "-f", "flamegraph", "-o", &svg]].concat());
    let speedscope =
        spawn_pyprobe(&[&base[..], &["-d", "1", "-f", "speedscope", "-o", &json]].concat());
    let threads = spawn_pyprobe(
        &[
            &base[..],
            &["-d", "1", "-f", "raw", "--threads", "-o", &raw],
        ]
        .concat(),
    );
    let succeeded = |r: Running, what: &str| -> Result<Finished, String> {
        let out = r.finish(RECORD_TIMEOUT)?;
        if !out.status.success() {
            return Err(format!("{what}: exit {:?}: {}", out.status, out.stderr));
        }
        Ok(out)
    };

    // Flamegraph, with --duration in seconds of wall time.
    let run = succeeded(flamegraph, "flamegraph")?;
    let secs = run.elapsed.as_secs_f64();
    if !(1.5..3.0).contains(&secs) {
        return Err(format!("--duration 1.5 took {secs:.2} s of wall time"));
    }
    let summary = run.stderr.trim();
    if !(summary.contains(" samples") && summary.contains(&svg) && summary.contains("duration")) {
        return Err(format!(
            "summary does not mention samples, {svg} and the duration: {summary:?}"
        ));
    }
    let text = std::fs::read_to_string(&svg).map_err(|e| format!("{svg}: {e}"))?;
    let title = format!("{} {file} thread", py.path.display());
    for needle in [
        "<svg",
        title.as_str(),
        &format!("cpu_a ({file}:"),
        &format!("burn ({file}:"),
    ] {
        if !text.contains(needle) {
            return Err(format!("the flamegraph does not contain {needle:?}"));
        }
    }

    // speedscope: one sampled profile of samples per thread (unit "none"), then maybe one of
    // RSS growth (unit "bytes") for a thread that memory growth was charged to.
    succeeded(speedscope, "speedscope")?;
    let text = std::fs::read_to_string(&json).map_err(|e| format!("{json}: {e}"))?;
    let doc: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("speedscope is not JSON: {e}"))?;
    let frames = doc["shared"]["frames"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let profiles = doc["profiles"].as_array().cloned().unwrap_or_default();
    let names_with_unit = |unit: &str| -> Vec<String> {
        let mut names: Vec<String> = profiles
            .iter()
            .filter(|p| p["unit"] == unit)
            .map(|p| p["name"].as_str().unwrap_or("?").to_string())
            .collect();
        names.sort();
        names
    };
    let (cpu, rss) = (names_with_unit("none"), names_with_unit("bytes"));
    if cpu.len() != 2
        || cpu[0] != format!("MainThread (tid {pid})")
        || !cpu[1].starts_with("cpu-burner (tid ")
        || cpu.len() + rss.len() != profiles.len()
        || !rss
            .iter()
            .all(|r| cpu.iter().any(|c| *r == format!("{c} — RSS growth")))
    {
        return Err(format!(
            "speedscope profiles {cpu:?} (samples) and {rss:?} (bytes), expected \
             MainThread (tid {pid}) and cpu-burner, and RSS growth of those only"
        ));
    }
    for p in &profiles {
        let samples = p["samples"].as_array().cloned().unwrap_or_default();
        let weights = p["weights"].as_array().cloned().unwrap_or_default();
        let total: u64 = weights.iter().filter_map(|w| w.as_u64()).sum();
        let in_range = samples.iter().all(|s| {
            s.as_array().is_some_and(|ids| {
                !ids.is_empty()
                    && ids
                        .iter()
                        .all(|i| i.as_u64().is_some_and(|i| (i as usize) < frames.len()))
            })
        });
        if p["type"] != "sampled" || samples.len() != weights.len() || total == 0 || !in_range {
            return Err(format!(
                "bad speedscope profile {}: type {}, {} samples, {} weights (total {total}), \
                 frame indices valid: {in_range}",
                p["name"],
                p["type"],
                samples.len(),
                weights.len()
            ));
        }
    }
    let frame_named = |f: &str| {
        frames
            .iter()
            .any(|fr| fr["name"].as_str().is_some_and(|n| function_of(n) == f))
    };
    if !frame_named("cpu_a") || !frame_named("burn") {
        return Err(format!("speedscope frames lack cpu_a or burn: {frames:?}"));
    }

    // --threads: the first frame of every stack is its thread.
    succeeded(threads, "--threads")?;
    let stacks = read_collapsed(Path::new(&raw))?;
    let main_label = format!("MainThread (tid {pid})");
    for s in &stacks {
        let expected_root = if s.has("burn") {
            "cpu-burner (tid "
        } else {
            main_label.as_str()
        };
        if !s.frames[0].starts_with(expected_root) || s.frames.len() < 2 {
            return Err(format!(
                "--threads: stack {:?} does not start with {expected_root:?}",
                s.frames
            ));
        }
        if s.has("cpu_a") && s.frames[0] != main_label {
            return Err(format!("--threads: cpu_a under {:?}", s.frames[0]));
        }
    }
    if samples_in(&stacks, "burn") == 0 || samples_in(&stacks, "cpu_a") == 0 {
        return Err("--threads: no samples in burn or cpu_a".into());
    }
    Ok(())
}

#[test]
fn record_writes_every_format() {
    assert_no_failures(&on_every_interpreter(PARALLEL, check_outputs));
}

fn check_blocking(py: &Interpreter) -> Result<(), String> {
    let (target, _) = Target::spawn(&py.path, "cpu_split.py", &["thread"]);
    let pid = target.pid().to_string();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("blocking.txt");
    let run = record(&[
        "record",
        "--pid",
        &pid,
        "--blocking",
        "-d",
        "1",
        "-r",
        "100",
        "-f",
        "raw",
        "-o",
        out.to_str().unwrap(),
    ])?;
    if let Some(why) = target.stopped_or_traced() {
        return Err(format!("after record --blocking: {why}"));
    }
    let stacks = read_collapsed(&out)?;
    // The target is stopped while it is read: every stack is exact.
    let torn = check_split_stacks(&stacks)?;
    if torn > 0 {
        return Err(format!(
            "--blocking: {torn} samples have main() at the wrong line"
        ));
    }
    // At 100 Hz for 1 s of the target's running time (ticks leave out the time it is held
    // stopped); under a load of 14 on two cores a pause took so long that 17 came.
    let total: u64 = stacks.iter().map(|s| s.count).sum();
    if samples_in(&stacks, "cpu_a") == 0 || samples_in(&stacks, "burn") == 0 || total < 10 {
        return Err(format!(
            "blocking recording has {total} samples, cpu_a {}, burn {}; {}",
            samples_in(&stacks, "cpu_a"),
            samples_in(&stacks, "burn"),
            run.stderr
        ));
    }
    // And it really runs: its CPU time still grows.
    if !target.makes_progress(Duration::from_secs(5)) {
        return Err("the target used no CPU for 5 s after record --blocking".into());
    }
    Ok(())
}

#[test]
fn record_blocking_leaves_target_running() {
    assert_no_failures(&on_every_interpreter(PARALLEL, check_blocking));
}

/// A 0.3 s collapsed recording of `target` at 200 Hz into `output`.
fn short_raw_record(target: &Target, output: &Path) -> std::process::Command {
    let mut command = crate::harness::pyprobe();
    command
        .args(["record", "--pid", &target.pid().to_string(), "-d", "0.3"])
        .args(["-r", "200", "-f", "raw", "-o"])
        .arg(output);
    command
}

/// `pyprobe record ... 2>&1 | head -0`: stderr is closed before the summary is printed. The
/// recording is still written, the exit status is success (the summary has no reader), and
/// nothing panics (a plain `eprintln!` exited with 101 here).
#[test]
fn record_with_closed_stderr_still_writes_and_succeeds() {
    let py = &crate::harness::interpreters()[0];
    let (target, _) = Target::spawn(&py.path, "stack_shape.py", &[]);
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("closed.txt");
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let status = short_raw_record(&target, &out_path)
        .stderr(writer)
        .status()
        .unwrap();
    assert!(status.success(), "{}: {status:?}", py.label);
    let stacks = read_collapsed(&out_path).unwrap_or_else(|e| panic!("{}: {e}", py.label));
    // The busy worker thread of stack_shape.py (the main thread waits, so is not counted).
    assert!(samples_in(&stacks, "spin") > 0, "{}: {stacks:?}", py.label);
    assert!(!matches!(target.state(), 'T' | 't'), "target left stopped");
}

/// `-o /dev/stdout | ...` and `-o - | ...`: the profile streams into the pipe and the link
/// stays a link; `-o - >> log` appends. Tested through a link of our own to `/proc/self/fd/1` (what /dev/stdout is),
/// so a regression replaces a temporary link, not the system's /dev/stdout (which a rename
/// over it did).
#[test]
fn record_to_stdout_streams_into_the_pipe() {
    let py = &crate::harness::interpreters()[0];
    let (target, _) = Target::spawn(&py.path, "stack_shape.py", &[]);
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("stdout");
    std::os::unix::fs::symlink(pyprobe::proc::own_fd_path(1), &link).unwrap();
    let out = short_raw_record(&target, &link).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{}: {stderr}", py.label);
    let stacks = parse_collapsed(&String::from_utf8_lossy(&out.stdout))
        .unwrap_or_else(|e| panic!("{}: {e}; {stderr}", py.label));
    assert!(samples_in(&stacks, "spin") > 0, "{}: {stacks:?}", py.label);
    let kind = std::fs::symlink_metadata(&link).unwrap().file_type();
    assert!(kind.is_symlink(), "{}: the link was replaced", py.label);
    // `-o -` is standard output too.
    let out = short_raw_record(&target, Path::new("-")).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("wrote standard output"),
        "{}: {stderr}",
        py.label
    );
    let stacks = parse_collapsed(&String::from_utf8_lossy(&out.stdout))
        .unwrap_or_else(|e| panic!("{}: -o -: {e}; {stderr}", py.label));
    assert!(samples_in(&stacks, "spin") > 0, "{}: {stacks:?}", py.label);
    // `-o - >> log`: appended after what the log held, not truncating it.
    let log = dir.path().join("log");
    std::fs::write(&log, "earlier line\n").unwrap();
    let append = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    let status = short_raw_record(&target, Path::new("-"))
        .stdout(append)
        .status()
        .unwrap();
    assert!(status.success(), "{}: {status:?}", py.label);
    let text = std::fs::read_to_string(&log).unwrap();
    let rest = text.strip_prefix("earlier line\n");
    let stacks = rest.map(parse_collapsed);
    assert!(
        matches!(&stacks, Some(Ok(s)) if samples_in(s, "spin") > 0),
        "{}: {text}",
        py.label
    );
}

/// A thread that `threading` names only after the recording started (see the script) gets its
/// name in the recording: names are read again while a thread has none.
fn check_late_thread_name(py: &Interpreter) -> Result<(), String> {
    let (target, _) = Target::spawn(&py.path, "late_thread_name.py", &["1"]);
    let pid = target.pid().to_string();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("late.txt");
    let run = record(&[
        "record",
        "--pid",
        &pid,
        "--threads",
        "-d",
        "4",
        "-r",
        "100",
        "-f",
        "raw",
        "-o",
        out.to_str().unwrap(),
    ])?;
    let stacks = read_collapsed(&out)?;
    let spinning: Vec<&Folded> = stacks.iter().filter(|s| s.has("spin")).collect();
    let named: u64 = spinning
        .iter()
        .filter(|s| s.frames[0].starts_with("late-named (tid "))
        .map(|s| s.count)
        .sum();
    let total: u64 = spinning.iter().map(|s| s.count).sum();
    // Named after 1 s of 4: a quarter of the samples at most (plus the retry's delay) are nameless.
    if total < 100 || named * 2 < total {
        let roots: std::collections::BTreeSet<&str> =
            spinning.iter().map(|s| s.frames[0].as_str()).collect();
        return Err(format!(
            "{named} of {total} samples in spin() under \"late-named\"; thread roots {roots:?}; {}",
            run.stderr
        ));
    }
    Ok(())
}

#[test]
fn a_thread_named_after_the_start_is_named_in_the_recording() {
    assert_no_failures(&on_every_interpreter(PARALLEL, check_late_thread_name));
}
