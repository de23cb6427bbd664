//! Faults while recording: the target exits, is killed or execs another program; pyprobe itself
//! is killed while sampling (in blocking mode, with the target stopped at any moment) or while
//! writing. The recording is written whole or not at all, and the target is never left
//! stopped or traced. (Ctrl-C and SIGTERM: tests/integration/launch.rs.)
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::interpreter;
use crate::harness::{spawn_pyprobe, Finished, Running, Target};
use crate::record::{parse_collapsed, read_collapsed, samples_in};

/// How long pyprobe may take to notice an exit, exec or signal, write its file and quit.
const STOP_TIMEOUT: Duration = Duration::from_secs(20);

/// Start `pyprobe record` of `target` into `out` (collapsed), and wait until it samples and has
/// had `accumulate` of wall time to collect samples.
fn start_recording(target: &Target, out: &Path, extra: &[&str], accumulate: Duration) -> Running {
    let pid = target.pid().to_string();
    let mut args = vec![
        "record",
        "--pid",
        &pid,
        "-f",
        "raw",
        "-o",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let running = spawn_pyprobe(&args);
    let deadline = Instant::now() + STOP_TIMEOUT;
    // The sampler thread exists once pyprobe has attached.
    while running.thread_count() < 2 {
        assert!(
            Instant::now() < deadline,
            "pyprobe {args:?} never started sampling"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    // Nothing reports "n samples taken" outside a terminal: let some wall time pass.
    let since = Instant::now();
    while since.elapsed() < accumulate {
        std::thread::sleep(Duration::from_millis(10));
    }
    running
}

/// pyprobe ended successfully, said `why` in its summary, named the output, and the output
/// holds samples in `function`.
fn check_kept(what: &str, done: &Finished, out: &Path, why: &str, function: &str) -> u64 {
    assert!(
        done.status.success(),
        "{what}: pyprobe exited with {:?}: {}",
        done.status,
        done.stderr
    );
    for bad in ["panicked", "RUST_BACKTRACE"] {
        assert!(!done.stderr.contains(bad), "{what}: {}", done.stderr);
    }
    assert!(
        done.stderr.contains(why) && done.stderr.contains(out.to_str().unwrap()),
        "{what}: the summary does not say {why:?} and the output path: {}",
        done.stderr
    );
    // The failed reads of its exit or exec are that ending, not errors.
    let (_, errors) = crate::record::summary_counts(&done.stderr).expect("a summary line");
    assert_eq!(errors, 0, "{what}: {}", done.stderr);
    let stacks = read_collapsed(out).unwrap_or_else(|e| panic!("{what}: {e}"));
    let n = samples_in(&stacks, function);
    assert!(n > 0, "{what}: no samples in {function}: {stacks:?}");
    n
}

/// The target runs freely: no thread stopped, no tracer.
fn check_unharmed(what: &str, target: &Target) {
    if let Some(why) = target.stopped_or_traced() {
        panic!("{what}: {why}");
    }
}

/// The executable of a running pid.
fn exe_of(pid: u32) -> PathBuf {
    pyprobe::proc::exe(pid as i32).unwrap_or_default()
}

/// Wait (bounded) until `pid` runs a different executable than `before`.
fn wait_for_exec(pid: u32, before: &Path) {
    let deadline = Instant::now() + STOP_TIMEOUT;
    while exe_of(pid) == before {
        assert!(Instant::now() < deadline, "pid {pid} never exec'd");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn target_exits_normally_while_recorded() {
    for (label, extra) in [
        ("pyenv-3.8.18", &[][..]),
        ("pyenv-3.13.0", &["--blocking", "-r", "500"][..]),
    ] {
        let py = interpreter(label);
        let what = format!("{label} {extra:?} exit");
        let (target, _) = Target::spawn(&py.path, "fault_exec.py", &["exit"]);
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("exit.txt");
        let running = start_recording(&target, &out, extra, Duration::from_millis(500));
        target.signal(libc::SIGUSR1);
        let done = running.finish(STOP_TIMEOUT).unwrap();
        check_kept(&what, &done, &out, "target exited", "before_exec");
    }
}

#[test]
fn target_killed_while_recorded_in_blocking_mode() {
    // Nonblocking: tests/integration/launch.rs. Blocking at a high rate: the kill lands while
    // the target is stopped for a sample as often as not.
    for label in ["pyenv-2.7.18", "pyenv-3.11.7"] {
        let py = interpreter(label);
        let what = format!("{label} SIGKILL --blocking");
        let (mut target, _) = Target::spawn(&py.path, "fault_exec.py", &["exit"]);
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("killed.txt");
        let running = start_recording(
            &target,
            &out,
            &["--blocking", "-r", "1000"],
            Duration::from_millis(500),
        );
        target.kill();
        let done = running.finish(STOP_TIMEOUT).unwrap();
        check_kept(&what, &done, &out, "target exited", "before_exec");
    }
}

/// The target replaces itself with a program that is not Python: pyprobe stops at once (not
/// after a run of failed reads), keeps what it sampled, says why, and lets the new program be.
#[test]
fn target_execs_a_non_python_program() {
    for (label, extra) in [
        ("pyenv-3.10.13", &[][..]),
        ("debian-3.14", &["--blocking"][..]),
    ] {
        let py = interpreter(label);
        let what = format!("{label} {extra:?} exec sleep");
        let (target, _) = Target::spawn(&py.path, "fault_exec.py", &["/bin/sleep", "120"]);
        let before = exe_of(target.pid());
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("exec.txt");
        let running = start_recording(&target, &out, extra, Duration::from_millis(500));
        target.signal(libc::SIGUSR1);
        wait_for_exec(target.pid(), &before);
        let done = running.finish(STOP_TIMEOUT).unwrap();
        // "exec'd": a detected exec, not a run of 500 failed samples ("repeated errors").
        check_kept(&what, &done, &out, "exec'd", "before_exec");
        assert!(
            done.stderr.contains("sleep") && done.stderr.contains("attach again"),
            "{what}: {}",
            done.stderr
        );
        check_unharmed(&what, &target);
        // `sleep` may still be starting up on a busy machine: wait (bounded) for it to sleep.
        let deadline = Instant::now() + Duration::from_secs(10);
        while target.state() != 'S' && Instant::now() < deadline {
            std::thread::yield_now();
        }
        assert_eq!(target.state(), 'S', "{what}: sleep should be sleeping");
    }
}

/// The target execs another Python program. pyprobe does not follow it: a profile is of one
/// program (its addresses, its code); the summary says to attach again, to the same pid.
#[test]
fn target_execs_another_python() {
    for (label, extra) in [
        ("pyenv-3.12.1", &["-r", "500"][..]),
        ("pyenv-2.7.18", &["--blocking"][..]),
    ] {
        let py = interpreter(label);
        let what = format!("{label} {extra:?} exec python");
        let next = crate::harness::script("stack_shape.py");
        let args = [py.path.to_str().unwrap(), next.to_str().unwrap()];
        let (mut target, _) = Target::spawn(&py.path, "fault_exec.py", &args);
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("exec.txt");
        let running = start_recording(&target, &out, extra, Duration::from_millis(500));
        target.signal(libc::SIGUSR1);
        // The new program prints its own "ready" on the same stdout.
        let deadline = Instant::now() + STOP_TIMEOUT;
        while target.read_line().unwrap() != "ready" {
            assert!(
                Instant::now() < deadline,
                "{what}: no ready from the new program"
            );
        }
        let done = running.finish(STOP_TIMEOUT).unwrap();
        check_kept(&what, &done, &out, "exec'd", "before_exec");
        let stacks = read_collapsed(&out).unwrap();
        assert_eq!(
            samples_in(&stacks, "spin") + samples_in(&stacks, "leaf"),
            0,
            "{what}: samples of the new program mixed in: {stacks:?}"
        );
        check_unharmed(&what, &target);
        assert!(
            target.makes_progress(Duration::from_secs(5)),
            "{what}: the new program does not run"
        );
    }
}

/// The names of the files in `dir`.
fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

/// Only the atomic writer's temporary file (`.NAME.tmp-PID`) may survive a SIGKILL: never a
/// partial file under the output's own name. Returns how many temporary files were left.
fn only_temp_files(what: &str, dir: &Path, out_name: &str) -> usize {
    let files = leftovers(dir);
    let temp_prefix = format!(".{out_name}.tmp-");
    for f in &files {
        assert!(
            f.starts_with(&temp_prefix),
            "{what}: unexpected file {f:?} in {files:?}"
        );
    }
    files.len()
}

/// pyprobe SIGKILLed in blocking mode at many moments of its sampling (so often while the
/// target is stopped for a sample): the target runs on, untraced; no output file appears.
#[test]
fn pyprobe_killed_while_sampling_in_blocking_mode() {
    let py = interpreter("pyenv-3.12.1");
    let (target, _) = Target::spawn(&py.path, "cpu_split.py", &["thread"]);
    let dir = tempfile::tempdir().unwrap();
    for round in 0..12u64 {
        let what = format!("SIGKILL round {round}");
        let out = dir.path().join("killed.txt");
        // Kill moments spread over the first ~0.3 s of sampling at 1 kHz.
        let running = start_recording(
            &target,
            &out,
            &["--blocking", "-r", "1000"],
            Duration::from_millis(round * 27),
        );
        running.signal(libc::SIGKILL);
        let done = running.finish(STOP_TIMEOUT).unwrap();
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&done.status),
            Some(libc::SIGKILL),
            "{what}"
        );
        check_unharmed(&what, &target);
        assert!(
            target.makes_progress(Duration::from_secs(5)),
            "{what}: the target does not run"
        );
        assert_eq!(only_temp_files(&what, dir.path(), "killed.txt"), 0);
        assert!(!out.exists());
    }
}

/// pyprobe SIGKILLed just after Ctrl-C, while it writes a large output: the output is either
/// absent or complete, never cut short. A temporary `.NAME.tmp-PID` may be left behind (a
/// SIGKILL runs no cleanup); it is never the output's own name.
#[test]
fn pyprobe_killed_while_writing_leaves_no_partial_output() {
    let py = interpreter("pyenv-3.11.7");
    // 5000-frame stacks: each collapsed line is about 300 KB, so writing takes a while.
    let (target, _) = Target::spawn(&py.path, "fault_deep.py", &["spin"]);
    let dir = tempfile::tempdir().unwrap();
    let (mut complete, mut absent, mut temps) = (0, 0, 0);
    for round in 0..10u64 {
        let what = format!("kill while writing, round {round}");
        let name = format!("deep-{round}.txt");
        let out = dir.path().join(&name);
        let running = start_recording(&target, &out, &["-r", "200"], Duration::from_millis(300));
        running.signal(libc::SIGINT);
        let since = Instant::now();
        while since.elapsed() < Duration::from_millis(round * 4) {
            std::hint::spin_loop();
        }
        running.signal(libc::SIGKILL);
        let _ = running.finish(STOP_TIMEOUT).unwrap();
        if out.exists() {
            let text = std::fs::read_to_string(&out).unwrap();
            // Empty is complete too: a recording stopped before its first sample.
            if !text.is_empty() {
                assert!(text.ends_with('\n'), "{what}: truncated");
                let stacks = parse_collapsed(&text).unwrap_or_else(|e| panic!("{what}: {e}"));
                assert!(stacks.iter().all(|s| s.frames.len() > 5000), "{what}");
            }
            complete += 1;
            std::fs::remove_file(&out).unwrap();
        } else {
            absent += 1;
        }
        temps += only_temp_files(&what, dir.path(), &name);
        for f in leftovers(dir.path()) {
            std::fs::remove_file(dir.path().join(f)).unwrap();
        }
        check_unharmed(&what, &target);
    }
    eprintln!(
        "SIGKILL while writing: {complete} complete outputs, {absent} absent, {temps} temp files left"
    );
}

/// The number after `label` in `text` (e.g. "fell behind: 290 samples missed").
fn number_after(text: &str, label: &str) -> Option<u64> {
    let rest = &text[text.find(label)? + label.len()..];
    rest.split(|c: char| !c.is_ascii_digit())
        .find(|w| !w.is_empty())?
        .parse()
        .ok()
}

/// pyprobe stopped for 300 ms in the middle of a 1 kHz recording (as a stalled machine would
/// stop it) makes up no more than 10 ms of ticks and says how many it missed: the samples it
/// took and the ones it reports missing add up to the ticks of the duration.
#[test]
fn pyprobe_stalled_reports_missed_samples() {
    let py = interpreter("pyenv-3.11.7");
    let (target, _) = Target::spawn(&py.path, "deep_100.py", &[]);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("stalled.txt");
    let extra = ["-r", "1000", "-d", "3"];
    let running = start_recording(&target, &out, &extra, Duration::from_millis(500));
    running.signal(libc::SIGSTOP);
    // The stall under test: a known length of time with pyprobe stopped.
    std::thread::sleep(Duration::from_millis(300));
    running.signal(libc::SIGCONT);
    let done = running.finish(STOP_TIMEOUT).unwrap();
    assert!(done.status.success(), "{}", done.stderr);
    let (samples, errors) = crate::record::summary_counts(&done.stderr).expect("a summary");
    let missed = number_after(&done.stderr, "fell behind: ")
        .unwrap_or_else(|| panic!("no missed samples reported: {}", done.stderr));
    // ~290 (300 ms less the 10 ms made up); more if the stop took effect late.
    assert!((250..=600).contains(&missed), "{}", done.stderr);
    // 3,000 ticks ± the jitter's spread (±1.5% at 3 sigma) and the 10 ms made up.
    let ticks = samples + errors + missed;
    assert!(
        (2900..=3100).contains(&ticks),
        "{ticks} ticks: {}",
        done.stderr
    );
    check_unharmed("stalled pyprobe", &target);
}
