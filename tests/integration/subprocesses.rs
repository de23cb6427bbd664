//! `record --subprocesses`: a process and its descendants in one recording, each process's
//! stacks under its root frame `process PID: command`. The scripts print each process's pid
//! ("pid ROLE PID"), and every check matches the profile's roots to those real pids.
use std::time::Duration;

use crate::harness::{
    assert_no_failures, on_every_interpreter, run_pyprobe_within, script, Finished, Interpreter,
};
use crate::record::{read_collapsed, summary_counts, Folded, RECORD_TIMEOUT};

/// Trees burn a core per process: two interpreters at a time on the two-core machine.
const PARALLEL: usize = 2;

/// Record `command` with `--subprocesses` (and `extra` options) into collapsed stacks.
fn record_tree(extra: &[&str], command: &[&str]) -> Result<(Finished, Vec<Folded>), String> {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("tree.txt");
    let mut args = vec![
        "record",
        "--subprocesses",
        "-d",
        "30",
        "-f",
        "raw",
        "-o",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    args.push("--");
    args.extend_from_slice(command);
    let run = run_pyprobe_within(&args, RECORD_TIMEOUT)?;
    if !run.status.success() {
        return Err(format!(
            "pyprobe exited with {:?}; stderr: {}",
            run.status, run.stderr
        ));
    }
    let stacks = read_collapsed(&out).map_err(|e| format!("{e}\nstderr: {}", run.stderr))?;
    Ok((run, stacks))
}

/// `python subprocs.py MODE ARGS…`.
fn tree_of(
    py: &Interpreter,
    mode_args: &[&str],
    extra: &[&str],
) -> Result<(Finished, Vec<Folded>), String> {
    let script = script("subprocs.py");
    let mut command = vec![py.path.to_str().unwrap(), script.to_str().unwrap()];
    command.extend_from_slice(mode_args);
    record_tree(extra, &command)
}

/// The pids the script printed for `role`.
fn pids(stdout: &str, role: &str) -> Vec<i32> {
    stdout
        .lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            (words.next() == Some("pid") && words.next() == Some(role))
                .then(|| words.next()?.parse().ok())
                .flatten()
        })
        .collect()
}

/// Samples of process `pid` (stacks under its root) whose stack calls `function`.
fn samples_under(stacks: &[Folded], pid: i32, function: &str) -> u64 {
    let root = format!("process {pid}: ");
    stacks
        .iter()
        .filter(|s| s.frames[0].starts_with(&root) && s.has(function))
        .map(|s| s.count)
        .sum()
}

/// Every stack sits under a `process PID:` root of one of `pids`.
fn all_under(stacks: &[Folded], pids: &[i32]) -> Result<(), String> {
    for s in stacks {
        let known = pids
            .iter()
            .any(|p| s.frames[0].starts_with(&format!("process {p}: ")));
        if !known {
            return Err(format!(
                "a stack is not under the root of a process of the tree {pids:?}: {:?}",
                s.frames
            ));
        }
    }
    Ok(())
}

/// One pid for `role`, or an error with the output.
fn one_pid(run: &Finished, role: &str) -> Result<i32, String> {
    match pids(&run.stdout, role)[..] {
        [pid] => Ok(pid),
        _ => Err(format!("expected one '{role}' pid in {:?}", run.stdout)),
    }
}

/// `function` has at least `share` of the recording's ticks under `pid`'s root. A share, not
/// a count: on a loaded machine the sampler falls behind and takes fewer ticks, but a process
/// that runs for most of the recording is in most of them.
fn expect_under(
    stacks: &[Folded],
    pid: i32,
    function: &str,
    share: f64,
    stderr: &str,
) -> Result<(), String> {
    let (ticks, _) = summary_counts(stderr).ok_or_else(|| format!("no summary in {stderr}"))?;
    let least = ((ticks as f64 * share) as u64).max(1);
    let n = samples_under(stacks, pid, function);
    if n < least {
        return Err(format!(
            "{n} samples of {function} under process {pid} (expected at least {least} of {ticks}); stacks: {stacks:#?}\nstderr: {stderr}"
        ));
    }
    Ok(())
}

fn check_start_method(py: &Interpreter, method: &str) -> Result<(), String> {
    let (run, stacks) = tree_of(py, &["mp", method], &[])?;
    let parent = one_pid(&run, "parent")?;
    let workers = pids(&run.stdout, "worker");
    if workers.len() != 2 {
        return Err(format!("{method}: expected 2 workers in {:?}", run.stdout));
    }
    // Each worker burns 1.5 s: at 100 Hz, ~150 samples; a loaded machine gets fewer.
    for &w in &workers {
        expect_under(&stacks, w, "mp_worker_burn", 0.25, &run.stderr)
            .map_err(|e| format!("{method}: {e}"))?;
    }
    // The worker's function is never charged to the parent.
    if samples_under(&stacks, parent, "mp_worker_burn") > 0 {
        return Err(format!(
            "{method}: mp_worker_burn under the parent {parent}"
        ));
    }
    for p in workers.iter().chain([&parent]) {
        if !run.stderr.contains(&format!("process {p}")) {
            return Err(format!(
                "{method}: the summary does not list {p}: {}",
                run.stderr
            ));
        }
    }
    Ok(())
}

#[test]
fn multiprocessing_fork_spawn_and_forkserver_children_are_followed() {
    assert_no_failures(&on_every_interpreter(PARALLEL, |py| {
        // multiprocessing.get_context: 3.4+. forkserver and spawn exist from then on.
        if py.version < (3, 4) {
            return Ok(());
        }
        for method in ["fork", "spawn", "forkserver"] {
            check_start_method(py, method)?;
        }
        Ok(())
    }));
}

fn check_run_and_grandchildren(py: &Interpreter) -> Result<(), String> {
    let (run, stacks) = tree_of(py, &["run"], &[])?;
    let (parent, leaf) = (one_pid(&run, "parent")?, one_pid(&run, "leaf")?);
    expect_under(&stacks, leaf, "leaf_burn", 0.25, &run.stderr)?;
    all_under(&stacks, &[parent, leaf])?;

    // --idle: the middle process only waits for its child.
    let (run, stacks) = tree_of(py, &["grand"], &["--idle"])?;
    let (parent, middle, leaf) = (
        one_pid(&run, "parent")?,
        one_pid(&run, "middle")?,
        one_pid(&run, "leaf")?,
    );
    expect_under(&stacks, leaf, "leaf_burn", 0.25, &run.stderr)?;
    expect_under(&stacks, middle, "middle_wait", 0.1, &run.stderr)?;
    all_under(&stacks, &[parent, middle, leaf])?;
    if !run
        .stderr
        .contains(&format!("process {leaf} (child of {middle})"))
    {
        return Err(format!(
            "the summary does not show {leaf} as the child of {middle}: {}",
            run.stderr
        ));
    }
    Ok(())
}

#[test]
fn subprocess_children_and_grandchildren_are_followed() {
    assert_no_failures(&on_every_interpreter(PARALLEL, check_run_and_grandchildren));
}

fn check_shell_parent(py: &Interpreter) -> Result<(), String> {
    let script = script("subprocs.py");
    let (python, script) = (py.path.to_str().unwrap(), script.to_str().unwrap());
    let line = format!("{python} {script} leaf 1 & {python} {script} leaf 1.2; wait");
    let (run, stacks) = record_tree(&[], &["/bin/sh", "-c", &line])?;
    let leaves = pids(&run.stdout, "leaf");
    if leaves.len() != 2 {
        return Err(format!("expected 2 leaves in {:?}", run.stdout));
    }
    // Each leaf is a new program (found once its interpreter is up, which under the suite's
    // load takes a good part of its 1 s): a tenth of the ticks is enough to show it sampled.
    for &leaf in &leaves {
        expect_under(&stacks, leaf, "leaf_burn", 0.10, &run.stderr)?;
    }
    all_under(&stacks, &leaves)?;
    // The shell is listed, skipped, with the reason. Its command is `sh -c …`, or its
    // executable (`/usr/bin/dash`) when its command line was read while it started (empty).
    let shell = run
        .stderr
        .lines()
        .find(|l| l.contains("sh -c") || (l.contains("skipped: not Python (") && l.contains("sh)")))
        .unwrap_or_default();
    if !shell.contains("skipped: not Python") {
        return Err(format!(
            "the shell is not listed as skipped: {}",
            run.stderr
        ));
    }
    Ok(())
}

#[test]
fn python_children_of_a_shell_are_followed() {
    assert_no_failures(&on_every_interpreter(PARALLEL, check_shell_parent));
}

fn check_short_children(py: &Interpreter) -> Result<(), String> {
    let (run, stacks) = tree_of(py, &["short"], &["-r", "200"])?;
    let shorts = pids(&run.stdout, "short");
    if shorts.len() != 3 {
        return Err(format!("expected 3 short children in {:?}", run.stdout));
    }
    // Each is found (listed as Python: its interpreter was read within its 50 ms).
    for &pid in &shorts {
        let listed = run
            .stderr
            .lines()
            .any(|l| l.contains(&format!("process {pid} ")) && l.contains(" — Python "));
        if !listed {
            return Err(format!(
                "short child {pid} not listed as Python: {}",
                run.stderr
            ));
        }
    }
    // 50 ms of work at 200 Hz: about 10 samples each. A sampler starved of CPU (the machine
    // loaded by other work) can miss one, not most.
    let seen = shorts
        .iter()
        .filter(|&&pid| samples_under(&stacks, pid, "short_burn") > 0)
        .count();
    if seen < 2 {
        return Err(format!(
            "{seen} of 3 short children sampled in short_burn; stacks: {stacks:#?}\nstderr: {}",
            run.stderr
        ));
    }
    Ok(())
}

#[test]
fn children_that_live_50_ms_are_seen() {
    assert_no_failures(&on_every_interpreter(PARALLEL, check_short_children));
}

fn check_exec_and_orphan(py: &Interpreter) -> Result<(), String> {
    let (run, stacks) = tree_of(py, &["exec"], &[])?;
    let (parent, sleeper) = (one_pid(&run, "parent")?, one_pid(&run, "sleeper")?);
    expect_under(&stacks, parent, "parent_burn", 0.25, &run.stderr)?;
    // Sampled as a fork of Python if seen before its exec, then listed again as `sleep`.
    // Its command is `sleep 1`, or the executable when read mid-exec (an empty cmdline).
    let listed = run.stderr.lines().any(|l| {
        l.contains(&format!("process {sleeper} "))
            && l.contains("sleep")
            && l.contains("skipped: not Python (")
            && l.contains("sleep)")
    });
    if !listed {
        return Err(format!(
            "the child that exec'd /bin/sleep is not listed as skipped: {}",
            run.stderr
        ));
    }
    if !run.stderr.contains("target exited") {
        return Err(format!(
            "the recording did not end with the tree: {}",
            run.stderr
        ));
    }

    // The parent exits 0.3 s after starting a child that burns 1.5 s.
    let (run, stacks) = tree_of(py, &["orphan"], &[])?;
    let (parent, leaf) = (one_pid(&run, "parent")?, one_pid(&run, "leaf")?);
    expect_under(&stacks, leaf, "leaf_burn", 0.25, &run.stderr)?;
    all_under(&stacks, &[parent, leaf])?;
    if run.elapsed < Duration::from_millis(1500) {
        return Err(format!(
            "the recording ended after {:?}, before the child did",
            run.elapsed
        ));
    }

    // Parent and middle exit at once: the grandchild, orphaned maybe before it was seen, is
    // handed to pyprobe (the subreaper of what it launched) and found there.
    let (run, stacks) = tree_of(py, &["orphan-now"], &[])?;
    let leaf = one_pid(&run, "leaf")?;
    expect_under(&stacks, leaf, "leaf_burn", 0.25, &run.stderr)?;
    Ok(())
}

#[test]
fn a_child_exec_of_sleep_is_skipped_and_children_outlive_their_parent() {
    assert_no_failures(&on_every_interpreter(PARALLEL, check_exec_and_orphan));
}

/// The formats of a real tree (one interpreter: the formats do not depend on it): pprof's
/// `pid`/`command` labels, speedscope's profile per process thread, the HTML report's table
/// and stacked chart, each with the real pids.
#[test]
fn outputs_of_a_tree_name_each_process() {
    use pyprobe::output::pprof::{decode, COMMAND_LABEL, PID_LABEL};

    let py = crate::harness::interpreters()
        .iter()
        .rfind(|i| i.version >= (3, 9))
        .expect("an interpreter ≥ 3.9");
    let script = script("subprocs.py");
    let dir = tempfile::tempdir().unwrap();
    let path = |ext: &str| dir.path().join(format!("tree.{ext}"));
    let mut outputs = Vec::new();
    for format in ["pprof", "speedscope", "html"] {
        let out = path(format);
        let run = run_pyprobe_within(
            &[
                "record",
                "--subprocesses",
                "-f",
                format,
                "-o",
                out.to_str().unwrap(),
                "--",
                py.path.to_str().unwrap(),
                script.to_str().unwrap(),
                "mp",
                "fork",
            ],
            RECORD_TIMEOUT,
        )
        .unwrap();
        assert!(run.status.success(), "{format}: {}", run.stderr);
        let mut tree = pids(&run.stdout, "worker");
        tree.extend(pids(&run.stdout, "parent"));
        assert_eq!(tree.len(), 3, "{}", run.stdout);
        outputs.push((out, tree));
    }

    let (out, tree) = &outputs[0];
    let p = decode(&std::fs::read(out).unwrap()).unwrap();
    let s = |i: i64| p.string_table[i as usize].as_str();
    let mut labelled: Vec<i64> = Vec::new();
    for sample in &p.sample {
        let label = |key: &str| sample.label.iter().find(|l| s(l.key) == key).cloned();
        let pid = label(PID_LABEL).expect("a pid label").num;
        let command = s(label(COMMAND_LABEL).expect("a command label").str);
        assert!(command.contains("subprocs.py mp fork"), "{command}");
        labelled.push(pid);
    }
    for pid in tree {
        assert!(
            labelled.contains(&i64::from(*pid)),
            "no pprof sample of {pid}: {labelled:?}"
        );
    }

    let (out, tree) = &outputs[1];
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(out).unwrap()).unwrap();
    let names: Vec<&str> = v["profiles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for pid in tree {
        let wanted = format!("process {pid} — MainThread (tid {pid})");
        assert!(
            names.contains(&wanted.as_str()),
            "{wanted} not in {names:?}"
        );
    }

    let (out, tree) = &outputs[2];
    let html = std::fs::read_to_string(out).unwrap();
    assert!(html.contains("<section id=\"processes-section\">"));
    for pid in tree {
        assert!(
            html.contains(&format!("<title>process {pid}</title>")),
            "no RSS area of {pid}"
        );
        assert!(
            html.contains(&format!("process {pid} — MainThread")),
            "no thread filter entry of {pid}"
        );
    }
}
