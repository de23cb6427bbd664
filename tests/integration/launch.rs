//! `pyprobe record -- python script.py` (launch mode), and how recording ends: Ctrl-C, SIGTERM,
//! the target exiting. Every test runs on every interpreter.
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::dump::line_of;
use crate::harness::{
    assert_no_failures, on_every_interpreter, run_pyprobe_within, script, spawn_pyprobe,
    Interpreter, Running, Target,
};
use crate::record::{read_collapsed, samples_in, PARALLEL, RECORD_TIMEOUT};

/// How long pyprobe may take to notice a signal or an exit, write its file and quit.
const STOP_TIMEOUT: Duration = Duration::from_secs(15);

fn check_launch(py: &Interpreter) -> Result<(), String> {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("launched.txt");
    let out_s = out.to_str().unwrap();
    let script_path = script("launch_exit.py");
    let python = py.path.to_str().unwrap();
    let run = run_pyprobe_within(
        &[
            "record",
            "-d",
            "10",
            "-r",
            "100",
            "-f",
            "raw",
            "-o",
            out_s,
            "--",
            python,
            script_path.to_str().unwrap(),
        ],
        RECORD_TIMEOUT,
    )?;
    if run.status.code() != Some(3) {
        return Err(format!(
            "pyprobe exited with {:?}, expected the script's status 3; stderr: {}",
            run.status, run.stderr
        ));
    }
    if !run.stdout.contains("hello from launch_exit.py") {
        return Err(format!(
            "the script's stdout was not forwarded; pyprobe's stdout: {:?}",
            run.stdout
        ));
    }
    if !run.stderr.contains("target exited") || !run.stderr.contains("status 3") {
        return Err(format!(
            "stderr does not say the target exited with status 3: {}",
            run.stderr
        ));
    }
    // The program is gone: its memory line forecasts nothing ("used up in …") for it.
    let memory = run
        .stderr
        .lines()
        .find(|l| l.starts_with("pyprobe: memory:"))
        .unwrap_or_default();
    if !memory.contains("before it exited") || memory.contains("used up") {
        return Err(format!(
            "the memory line should end with the headroom before it exited: {memory:?}"
        ));
    }
    // Recording stopped when the program exited (after about 3 s), not at --duration 10.
    if run.elapsed >= Duration::from_secs(10) {
        return Err(format!(
            "took {:?}: did not stop when the program exited",
            run.elapsed
        ));
    }
    let stacks = read_collapsed(&out)?;
    // Every sample: <module> at its call of launched_work(), inside launched_work's body.
    let file = script_path.display().to_string();
    let l = |t| line_of("launch_exit.py", t);
    let module = format!("<module> ({file}:{})", l("LINE_CALL"));
    let body: Vec<String> = (l("LINE_DEF") + 1..=l("LINE_RETURN"))
        .map(|n| format!("launched_work ({file}:{n})"))
        .collect();
    let work_line = format!("launched_work ({file}:{})", l("LINE_WORK"));
    let mut at_work = 0;
    for s in stacks.iter().filter(|s| s.has("launched_work")) {
        if s.frames.len() != 2 || s.frames[0] != module || !body.contains(&s.frames[1]) {
            return Err(format!("unexpected stack {:?} x{}", s.frames, s.count));
        }
        if s.frames[1] == work_line {
            at_work += s.count;
        }
    }
    if at_work == 0 {
        return Err(format!("no sample at {work_line:?}: {stacks:?}"));
    }
    Ok(())
}

#[test]
fn launch_mode_forwards_output_and_exit_status() {
    assert_no_failures(&on_every_interpreter(PARALLEL, check_launch));
}

/// How a recording of a running cpu_split.py target is ended.
#[derive(Debug, Clone, Copy)]
enum Ending {
    /// Ctrl-C.
    Sigint,
    /// `kill PID`, with `--blocking` (the target must not be left stopped).
    SigtermBlocking,
    /// The target is killed.
    TargetKilled,
}

/// One pyprobe recording the target without a duration.
struct Recording {
    ending: Ending,
    running: Running,
    out: PathBuf,
}

impl Recording {
    fn start(target: &Target, ending: Ending, dir: &Path) -> Recording {
        let out = dir.join(format!("{ending:?}.txt"));
        let pid = target.pid().to_string();
        let mut args = vec![
            "record",
            "--pid",
            &pid,
            "-r",
            "100",
            "-f",
            "raw",
            "-o",
            out.to_str().unwrap(),
        ];
        if let Ending::SigtermBlocking = ending {
            args.push("--blocking");
        }
        Recording {
            ending,
            running: spawn_pyprobe(&args),
            out,
        }
    }

    /// pyprobe has attached: its sampler thread exists.
    fn sampling(&self) -> bool {
        self.running.thread_count() >= 2
    }

    /// Wait for pyprobe to exit and check its status, summary and file.
    fn check(self) -> Result<(), String> {
        let ending = self.ending;
        let done = self.running.finish(STOP_TIMEOUT)?;
        if !done.status.success() {
            return Err(format!(
                "{ending:?}: pyprobe exited with {:?}: {}",
                done.status, done.stderr
            ));
        }
        let reason = match ending {
            Ending::Sigint | Ending::SigtermBlocking => "interrupted",
            Ending::TargetKilled => "target exited",
        };
        let out = self.out.to_str().unwrap();
        if !done.stderr.contains(reason) || !done.stderr.contains(out) {
            return Err(format!(
                "{ending:?}: the summary does not say {reason:?} and {out}: {}",
                done.stderr
            ));
        }
        let stacks =
            read_collapsed(&self.out).map_err(|e| format!("{ending:?}: {e}; {}", done.stderr))?;
        if samples_in(&stacks, "cpu_a") == 0 {
            return Err(format!("{ending:?}: no samples in cpu_a: {stacks:?}"));
        }
        Ok(())
    }
}

/// Three recordings of one target at once: one ended by SIGINT, one (blocking) by SIGTERM,
/// one by the target's death.
fn check_endings(py: &Interpreter) -> Result<(), String> {
    let (mut target, _) = Target::spawn(&py.path, "cpu_split.py", &[]);
    let dir = tempfile::tempdir().unwrap();
    let recordings: Vec<Recording> = [
        Ending::Sigint,
        Ending::SigtermBlocking,
        Ending::TargetKilled,
    ]
    .into_iter()
    .map(|e| Recording::start(&target, e, dir.path()))
    .collect();
    let deadline = Instant::now() + STOP_TIMEOUT;
    while !recordings.iter().all(Recording::sampling) {
        if Instant::now() > deadline {
            return Err("pyprobe did not start sampling".into());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    // Nothing marks "enough samples" (progress goes only to a terminal): let about one second
    // of them accumulate.
    let sampling_since = Instant::now();
    while sampling_since.elapsed() < Duration::from_secs(1) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut recordings = recordings.into_iter();
    let (sigint, sigterm, killed) = (
        recordings.next().unwrap(),
        recordings.next().unwrap(),
        recordings.next().unwrap(),
    );
    sigint.running.signal(libc::SIGINT);
    sigterm.running.signal(libc::SIGTERM);
    sigint.check()?;
    sigterm.check()?;
    if let Some(why) = target.stopped_or_traced() {
        return Err(format!("after SIGINT and SIGTERM (blocking): {why}"));
    }
    if !target.makes_progress(Duration::from_secs(5)) {
        return Err("after SIGINT and SIGTERM (blocking): the target does not run".into());
    }
    target.kill();
    killed.check()
}

#[test]
fn record_stops_cleanly_on_sigint_sigterm_and_target_exit() {
    assert_no_failures(&on_every_interpreter(PARALLEL, check_endings));
}
