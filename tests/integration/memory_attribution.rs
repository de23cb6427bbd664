//! RSS growth charged to the code that grew it: tests/scripts/grow_patterns.py grows memory in
//! one function only, grow(), in four patterns (sleeping inside it, returning at once to a CPU
//! loop, many small objects, another thread while the main thread spins). With page-fault
//! events, at least 95% of the growth must go to stacks in grow(), in the default and the
//! blocking mode, on every interpreter; and the growth charged must add up to the growth the
//! OS reported. Without them (`--no-fault-events`) the fallback (per-thread fault counts) is
//! used, said so, and measured against its own thresholds.
use std::path::Path;

use crate::harness::{assert_no_failures, measure_alone, Interpreter, Target};
use crate::record::{read_collapsed, record};

/// Least share of the growth charged to grow().
const MIN_SHARE: f64 = 0.95;
/// The same with `--blocking` under the test suite's load: its regular samples stop every
/// thread, and a fault's wake-up waits behind such a stop (measured beside a cargo build: 94-95%
/// in the "thread" pattern; 100% on an idle machine).
const MIN_SHARE_BLOCKING: f64 = 0.90;

/// Least share of the growth charged to grow() without page-fault events (the fallback: growth
/// to the threads whose fault counts moved, at their stacks after the growth), per pattern.
/// The fallback knows which thread grew memory, not when in the interval: code that grows and
/// returns (or sleeps outside grow(), as the "thread" pattern's grower does) is seen in grow()
/// only when a tick lands in it. Measured with `benches/fallback_attribution.py --seconds 2
/// --runs 2` (fresh targets, as here) on 3.9/3.12/3.15, worst of six: sleep 100%, return 16%,
/// small 22%, thread 5%; by this test on all 13, default and --blocking, worst: 100%, 18%, 35%,
/// 4%. The floors sit under those; the "thread" pattern has none in grow() (the interval rule
/// got 4% there too), its floor is on the thread (below).
fn min_share_fallback(pattern: &str) -> f64 {
    match pattern {
        "sleep" => 0.90,
        "return" => 0.10,
        "small" => 0.15,
        _ => 0.0,
    }
}

/// Least share of the growth charged to the grower thread in the "thread" pattern without
/// page-fault events: the fallback's gain (97-100% measured on all 13, against 8-17% for the
/// interval rule on 3.9/3.12/3.15, which charged the spinning main thread).
const MIN_THREAD_SHARE_FALLBACK: f64 = 0.90;

/// Parse "456.5 MiB" (as the summary prints sizes) into bytes.
fn parse_size(text: &str) -> Option<f64> {
    let (number, unit) = text.trim().split_once(' ')?;
    let scale = match unit {
        "B" => 1.0,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    Some(number.parse::<f64>().ok()? * scale)
}

/// The growth the summary says the OS reported ("grew X in all").
fn grown(stderr: &str) -> Option<f64> {
    let after = stderr.split("; grew ").nth(1)?;
    parse_size(after.split(" in all").next()?)
}

/// (bytes charged to stacks in grow(), bytes charged in all) of a `-w rss-growth` recording.
fn charged(out: &Path) -> Result<(u64, u64), String> {
    charged_in(out, "grow")
}

/// (bytes charged to stacks through `function`, bytes charged in all).
fn charged_in(out: &Path, function: &str) -> Result<(u64, u64), String> {
    let stacks = read_collapsed(out)?;
    let all: u64 = stacks.iter().map(|s| s.count).sum();
    let within: u64 = stacks
        .iter()
        .filter(|s| s.has(function))
        .map(|s| s.count)
        .sum();
    Ok((within, all))
}

fn check_pattern(py: &Interpreter, pattern: &str, extra: &[&str]) -> Result<(), String> {
    let fallback = extra.contains(&"--no-fault-events");
    let (target, _) = Target::spawn(&py.path, "grow_patterns.py", &[pattern]);
    let pid = target.pid().to_string();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("growth.txt");
    let mut args = vec![
        "record",
        "-p",
        &pid,
        "-d",
        "2",
        "-w",
        "rss-growth",
        "-f",
        "raw",
        "-o",
    ];
    args.push(out.to_str().unwrap());
    args.extend_from_slice(extra);
    let done = record(&args)?;
    let what = format!("{pattern} {extra:?}");
    let said = if fallback {
        "charged by per-thread fault counts to the stacks after each change"
    } else {
        "charged to the code whose page faults grew it"
    };
    if !done.stderr.contains(said) {
        return Err(format!("{what}: {said:?} not said: {}", done.stderr));
    }
    let (in_grow, all) = charged(&out)?;
    let share = in_grow as f64 / all.max(1) as f64;
    let reported = grown(&done.stderr).ok_or_else(|| format!("{what}: {}", done.stderr))?;
    if all < 16 << 20 {
        return Err(format!("{what}: only {all} bytes of growth charged in 2 s"));
    }
    // Shown with --nocapture: the figures behind the thresholds.
    eprintln!(
        "measured: {} {what}: {:.1}% of {all} bytes in grow()",
        py.label,
        share * 100.0
    );
    let least = if fallback {
        min_share_fallback(pattern)
    } else if extra.contains(&"--blocking") {
        MIN_SHARE_BLOCKING
    } else {
        MIN_SHARE
    };
    if share < least {
        return Err(format!(
            "{what}: {:.1}% of {all} bytes of growth charged to grow()",
            share * 100.0
        ));
    }
    if fallback && pattern == "thread" {
        let (in_grower, _) = charged_in(&out, "grower")?;
        let thread_share = in_grower as f64 / all.max(1) as f64;
        eprintln!(
            "measured: {} {what}: {:.1}% in the grower thread",
            py.label,
            thread_share * 100.0
        );
        if thread_share < MIN_THREAD_SHARE_FALLBACK {
            return Err(format!(
                "{what}: {:.1}% of {all} bytes of growth charged to the grower thread",
                thread_share * 100.0
            ));
        }
    }
    // The summary rounds to 0.1 of its unit.
    if (all as f64 - reported).abs() > reported * 0.10 {
        return Err(format!(
            "{what}: {all} bytes charged, the OS reported {reported} bytes of growth"
        ));
    }
    Ok(())
}

/// One interpreter at a time, no other test on every interpreter beside it: with three growing
/// targets (some with two busy threads) and three samplers on two cores, a wake-up can wait
/// behind the others' reads until the code that grew has returned (measured: 85-94% in the
/// "thread" pattern, 99-100% alone). A pattern under the limit is measured once more (with
/// other tests running beside it, the "thread" pattern with `--blocking` came out at 94% once).
#[test]
#[ignore = "a measurement: run alone, by the README's test command (--ignored --test-threads=1)"]
fn growth_is_charged_to_the_function_that_grew_it() {
    assert_no_failures(&measure_alone(|py| {
        every_pattern(py, &[&[], &["--blocking"]])
    }));
}

/// Without page-fault events (`--no-fault-events`, as where the kernel refuses them): growth
/// to the threads whose fault counts moved, at their stacks after it. Its own thresholds (see
/// [`min_share_fallback`]), every pattern, on every interpreter, default and --blocking.
#[test]
#[ignore = "a measurement: run alone, by the README's test command (--ignored --test-threads=1)"]
fn without_fault_events_growth_follows_the_fault_counts() {
    assert_no_failures(&measure_alone(|py| {
        every_pattern(
            py,
            &[&["--no-fault-events"], &["--no-fault-events", "--blocking"]],
        )
    }));
}

/// With page-fault events switched off the fallback is used, and every output says so.
#[test]
fn without_fault_events_the_fallback_is_said() {
    let py = &crate::harness::interpreters()[6];
    let (target, _) = Target::spawn(&py.path, "grow_patterns.py", &["sleep"]);
    let pid = target.pid().to_string();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("growth.txt");
    let done = record(&[
        "record",
        "-p",
        &pid,
        "-d",
        "1",
        "-w",
        "rss-growth",
        "-f",
        "raw",
        "--no-fault-events",
        "-o",
        out.to_str().unwrap(),
    ])
    .unwrap();
    assert!(
        done.stderr
            .contains("charged by per-thread fault counts to the stacks after each change (page-fault events switched off)"),
        "{}",
        done.stderr
    );
    let (in_grow, all) = charged(&out).unwrap();
    assert!(all > 0 && in_grow > 0, "{in_grow} of {all}");
}

/// Every pattern in each of `modes` (extra pyprobe arguments), a pattern under its limit
/// measured once more; the failures together.
fn every_pattern(py: &Interpreter, modes: &[&[&str]]) -> Result<(), String> {
    let mut failures = Vec::new();
    for pattern in ["sleep", "return", "small", "thread"] {
        for extra in modes {
            let measured =
                check_pattern(py, pattern, extra).or_else(|_| check_pattern(py, pattern, extra));
            if let Err(e) = measured {
                failures.push(e);
            }
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("; "))
    }
}
