//! `--native`: C functions under the Python functions that called them, on every interpreter,
//! read without stopping the target.
use std::time::{Duration, Instant};

use crate::harness::{
    assert_no_failures, on_every_interpreter, run_pyprobe_within, spawn_pyprobe,
    spawn_pyprobe_command, Interpreter, Target,
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

/// Growth bytes (of stacks with the Python function `caller`) whose frames below `caller`
/// include one `wanted` says yes to, and the caller's total.
fn growth_under(stacks: &[Folded], caller: &str, wanted: &dyn Fn(&str) -> bool) -> (u64, u64) {
    let all = callees(stacks, caller);
    let total = all.iter().map(|(_, n)| n).sum();
    let with = all
        .iter()
        .filter(|(rest, _)| rest.iter().any(|f| wanted(f)))
        .map(|(_, n)| n)
        .sum();
    (with, total)
}

/// `--native` with page-fault events: the growth is charged down to the C function whose page
/// faults grew it (the fault records carry the faulting thread's stack), under the right
/// Python caller.
fn check_native_growth(py: &Interpreter) -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let out = dir.path().join("growth.txt");
    let script = crate::harness::script("native_growth.py");
    let mut command = crate::harness::pyprobe();
    command
        .args([
            "record",
            "--native",
            "--weight",
            "rss-growth",
            "-f",
            "collapsed",
            "-o",
        ])
        .arg(&out)
        .arg("--")
        .args([&py.path, &script])
        // Each block its own mapping, unmapped when freed: every round faults in fresh memory
        // for both functions (glibc otherwise hands one the pages the other freed, resident
        // already, and that one grows nothing).
        .env("MALLOC_MMAP_THRESHOLD_", "65536");
    let run = spawn_pyprobe_command(command).finish(Duration::from_secs(60))?;
    if !run.status.success() {
        return Err(format!("record failed: {}", run.stderr));
    }
    let stacks = read_collapsed(&out)?;
    let native = |f: &str| f.ends_with(')') && !f.contains(".py:");
    let zlib = |f: &str| native(f) && (f.contains("libz") || f.contains("zlib"));
    let (unpack_native, unpack) = growth_under(&stacks, "unpack", &native);
    let (unpack_libz, _) = growth_under(&stacks, "unpack", &|f| f.contains("(libz"));
    let (repeat_native, repeat) = growth_under(&stacks, "repeat", &native);
    let (repeat_zlib, _) = growth_under(&stacks, "repeat", &zlib);
    let mib = |b: u64| b as f64 / f64::from(1 << 20);
    let pct = |a: u64, b: u64| 100.0 * a as f64 / b.max(1) as f64;
    let figures = format!(
        "unpack {:.0} MiB ({:.0}% with C frames, {:.0}% in libz), repeat {:.0} MiB ({:.0}% with \
         C frames, {:.1}% under zlib code); {}",
        mib(unpack),
        pct(unpack_native, unpack),
        pct(unpack_libz, unpack),
        mib(repeat),
        pct(repeat_native, repeat),
        pct(repeat_zlib, repeat),
        run.stderr.lines().next().unwrap_or("")
    );
    // 24 rounds of 4 MiB each: 96 MiB each. On a busy machine wake-ups come late and some of
    // one function's growth goes to the other (the Python-level rule, measured alone by
    // tests/integration/memory_attribution.rs); this test is about the C frames below.
    if mib(unpack) < 32.0 || mib(repeat) < 32.0 {
        return Err(format!("too little growth charged: {figures}"));
    }
    // A call's first wake-up keeps Python frames alone (its stack is new, the fault's moment
    // may be before it): the short memset of repeat() loses up to a fifth that way.
    if pct(unpack_native, unpack) < 60.0
        || pct(repeat_native, repeat) < 60.0
        || pct(unpack_libz, unpack) < 10.0
        || pct(repeat_zlib, repeat) > 5.0
    {
        return Err(format!("growth not charged down to its C code: {figures}"));
    }
    eprintln!("{}: {figures}", py.label);
    Ok(())
}

#[test]
fn native_growth_is_charged_to_the_c_function_that_faulted() {
    assert_no_failures(&on_every_interpreter(2, check_native_growth));
}
