//! `--native`: C functions under the Python functions that called them, on every interpreter,
//! read without stopping the target.
use std::time::{Duration, Instant};

use crate::harness::{
    assert_no_failures, on_every_interpreter, run_pyprobe_within, spawn_pyprobe, Interpreter,
    Target,
};
use crate::record::{read_collapsed, Folded};

/// The eval loop's own frames must never show: they are replaced by Python frames.
const EVAL_LOOP: [&str; 2] = ["_PyEval_EvalFrameDefault", "PyEval_EvalFrameEx"];

/// Frames (root first) after the Python function `caller` in stacks that have it.
fn callees<'a>(stacks: &'a [Folded], caller: &str) -> Vec<(&'a [String], u64)> {
    stacks
        .iter()
        .filter_map(|s| {
            let at = s
                .frames
                .iter()
                .position(|f| crate::record::function_of(f) == caller)?;
            Some((&s.frames[at + 1..], s.count))
        })
        .collect()
}

fn check_record(py: &Interpreter) -> Result<(), String> {
    let (target, _) = Target::spawn(&py.path, "native_work.py", &[]);
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let out = dir.path().join("native.txt");
    let pid = target.pid().to_string();
    let out_s = out.to_string_lossy().to_string();
    let running = spawn_pyprobe(&[
        "record",
        "--native",
        "--pid",
        &pid,
        "-d",
        "3",
        "-r",
        "200",
        "-f",
        "collapsed",
        "-o",
        &out_s,
    ]);
    // Perf mode never stops the target: watch every thread's state while it records.
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut checks = 0;
    while Instant::now() < deadline {
        if let Some(why) = target.stopped_or_traced() {
            return Err(format!("target stopped during record --native: {why}"));
        }
        checks += 1;
        std::thread::sleep(Duration::from_millis(2));
    }
    let finished = running.finish(Duration::from_secs(30))?;
    if !finished.status.success() {
        return Err(format!("record failed: {}", finished.stderr));
    }
    if finished.stderr.contains("refused") {
        return Err(format!("perf events refused: {}", finished.stderr));
    }
    let stacks = read_collapsed(&out)?;
    if let Some(s) = stacks.iter().find(|s| {
        s.frames
            .iter()
            .any(|f| EVAL_LOOP.contains(&crate::record::function_of(f)))
    }) {
        return Err(format!("a raw eval-loop frame: {:?}", s.frames));
    }
    let under = |caller: &str, wanted: &dyn Fn(&str) -> bool| -> u64 {
        callees(&stacks, caller)
            .into_iter()
            .filter(|(rest, _)| rest.iter().any(|f| wanted(crate::record::function_of(f))))
            .map(|(_, n)| n)
            .sum()
    };
    let deflate = under("squeeze", &|f| f == "deflate");
    let sha = under("digest", &|f| {
        let l = f.to_ascii_lowercase();
        l.contains("sha256") || l.contains("sha_") || l.starts_with("evp_") || l.contains("sha2")
    });
    let summary = finished.stderr.lines().next().unwrap_or("").to_string();
    if deflate < 5 || sha < 5 {
        let mut top: Vec<&Folded> = stacks.iter().collect();
        top.sort_by_key(|s| std::cmp::Reverse(s.count));
        let top: Vec<String> = top
            .iter()
            .take(6)
            .map(|s| format!("{} {}", s.frames.join(";"), s.count))
            .collect();
        return Err(format!(
            "deflate under squeeze {deflate}, SHA-256 under digest {sha} (want >= 5 each); {summary}; top stacks: {top:#?}"
        ));
    }
    // Nothing of libz under digest, nothing of SHA-256 under squeeze: the right caller.
    if under("digest", &|f| f == "deflate") > 0 {
        return Err("deflate under digest".into());
    }
    if checks < 100 {
        return Err(format!("only {checks} state checks"));
    }
    Ok(())
}

#[test]
fn record_native_shows_c_functions_under_their_python_callers() {
    assert_no_failures(&on_every_interpreter(2, check_record));
}

/// Most dumps taken to catch the C call (the loop ends at the first that does).
const DUMP_TRIES: usize = 40;

#[test]
fn dump_native_shows_the_c_call_under_its_python_frame() {
    let failures = on_every_interpreter(3, |py| {
        let (target, _) = Target::spawn(&py.path, "native_work.py", &[]);
        let pid = target.pid().to_string();
        // The program alternates between the two calls; a few dumps see one of them in C (on a
        // busy machine the target runs little, and 10 dumps of 2.7 once missed deflate).
        for _ in 0..DUMP_TRIES {
            let done = run_pyprobe_within(
                &["dump", "--native", "--pid", &pid],
                Duration::from_secs(30),
            )?;
            if !done.status.success() {
                return Err(format!("dump failed: {}", done.stderr));
            }
            let lines: Vec<&str> = done.stdout.lines().map(str::trim).collect();
            let at = |name: &str| {
                lines
                    .iter()
                    .position(|l| l.starts_with(&format!("{name} (")))
            };
            if EVAL_LOOP.iter().any(|e| at(e).is_some()) {
                return Err(format!("a raw eval-loop frame:\n{}", done.stdout));
            }
            // Innermost first: deflate above squeeze.
            if let (Some(d), Some(s)) = (at("deflate"), at("squeeze")) {
                if d < s {
                    return Ok(());
                }
                return Err(format!("deflate below squeeze:\n{}", done.stdout));
            }
        }
        Err(format!(
            "no dump caught deflate under squeeze in {DUMP_TRIES} tries"
        ))
    });
    assert_no_failures(&failures);
}
