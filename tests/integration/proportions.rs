//! The default mode's proportions against `--blocking` on call-heavy standard-library code
//! (tests/scripts/call_heavy.py), where stacks change fastest: every interpreter, three
//! workloads, self share per function.
//!
//! The limit is 3 points of self share for each of the ten functions with the most samples.
//! Sampling noise: a share p estimated from n samples has a standard deviation of
//! sqrt(p(1-p)/n), and the difference of two such estimates sqrt(p1(1-p1)/n1 + p2(1-p2)/n2);
//! with ≥ 4,000 samples per mode that is at most 1.1 points (p = 0.5), so 3 points is ≥ 2.7σ
//! for every function (≥ 3.3σ for the shares under 30% that most functions have). The test also
//! fails, as underpowered, if fewer samples than that were taken. One interpreter at a time,
//! and no other test on every interpreter beside it: with three targets and three samplers on
//! two cores, blocking fell behind its rate and the two modes drifted apart by up to 3.5
//! points. A workload over the limit is measured once more (the other tests still running
//! beside it — a browser, a terminal — moved a measurement by up to 4 points now and then);
//! on an idle machine the worst gap is 2.8 points (`benches/proportions.py`).
//!
//! It runs the dev build, which the package's profile optimises (opt-level 1): unoptimised, a
//! paused read took longer than an interval. (Before the sampler left the time a target is held
//! stopped out of its clock, that made `--blocking` count slow-to-read stacks again for every
//! tick made up after them, and this test's reference skewed by up to 27 points.)
use std::collections::HashMap;
use std::path::Path;

use crate::harness::{assert_no_failures, measure_alone, Interpreter, Target};
use crate::record::{function_of, read_collapsed, record, summary_counts};

/// Samples per second. At 2 kHz blocking fell behind on a busy machine, and the ticks it made
/// up in bursts skewed the reference itself (one function 12% against 53%).
const RATE: &str = "1000";
/// Each mode records in alternating stretches, so that a drift of the workload cancels.
const HALF_SECONDS: &str = "2";
/// Fewest samples per mode (the issue's 4,000): the limit is then ≥ 2.7σ at p = 0.5, ≥ 3.3σ for
/// the shares under 30% that most functions have; a workload over it is measured once more.
const MIN_SAMPLES: u64 = 4_000;
/// Most alternating pairs of recordings per workload: `--blocking` leaves the time the target
/// is held stopped out of its clock (10-50% of the time on a busy machine), so it may need more.
const MAX_ROUNDS: usize = 10;
/// Largest gap in self share, in points.
const LIMIT: f64 = 3.0;
/// Most errors (torn reads) the default mode may have, in percent of its samples.
const MAX_ERROR_PERCENT: f64 = 0.5;

/// Self samples per function (leaf frame), and the sample and error counts of the summaries.
#[derive(Default)]
struct Tally {
    by_function: HashMap<String, u64>,
    samples: u64,
    errors: u64,
}

/// Record `pid` for [`HALF_SECONDS`] with `extra` arguments, adding each sample to `tally` by its
/// innermost Python function (with `--native` C frames sit below it).
fn record_into(tally: &mut Tally, pid: &str, extra: &[&str], out: &Path) -> Result<(), String> {
    let mut args = vec![
        "record",
        "-p",
        pid,
        "-r",
        RATE,
        "-d",
        HALF_SECONDS,
        "-f",
        "raw",
        "--function",
        "-o",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let done = record(&args)?;
    let (samples, errors) =
        summary_counts(&done.stderr).ok_or_else(|| format!("no summary line: {}", done.stderr))?;
    tally.samples += samples;
    tally.errors += errors;
    for stack in read_collapsed(out)? {
        let leaf = stack
            .frames
            .iter()
            .rev()
            .find(|f| is_python_frame(f))
            .map(|f| function_of(f).to_string());
        *tally
            .by_function
            .entry(leaf.unwrap_or_default())
            .or_default() += stack.count;
    }
    Ok(())
}

/// A Python frame's label names its source file (`squeeze (app.py)`); a native one its
/// module (`deflate (libz.so.1)`).
fn is_python_frame(label: &str) -> bool {
    label
        .rsplit_once(" (")
        .is_some_and(|(_, file)| file.trim_end_matches(')').ends_with(".py"))
}

/// The largest gap in self share over the top functions: (points, function, its σ, shares).
fn worst_gap(default: &Tally, blocking: &Tally) -> (f64, String, f64, f64, f64) {
    let total = |t: &Tally| t.by_function.values().sum::<u64>().max(1) as f64;
    let (n1, n2) = (total(default), total(blocking));
    let mut combined: Vec<(&String, u64)> = blocking
        .by_function
        .iter()
        .map(|(f, &c)| (f, c + default.by_function.get(f).copied().unwrap_or(0)))
        .collect();
    combined.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let mut worst = (0.0, String::new(), 0.0, 0.0, 0.0);
    for (function, _) in combined.into_iter().take(10) {
        let share =
            |t: &Tally, n: f64| t.by_function.get(function).copied().unwrap_or(0) as f64 / n;
        let (p1, p2) = (share(default, n1), share(blocking, n2));
        let sigma = (p1 * (1.0 - p1) / n1 + p2 * (1.0 - p2) / n2).sqrt() * 100.0;
        let gap = (p1 - p2).abs() * 100.0;
        if gap >= worst.0 {
            worst = (gap, function.clone(), sigma, p1 * 100.0, p2 * 100.0);
        }
    }
    worst
}

fn check_workload(py: &Interpreter, workload: &str) -> Result<(), String> {
    let (target, _) = Target::spawn(&py.path, "call_heavy.py", &[workload]);
    let pid = target.pid().to_string();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("profile.txt");
    let (mut default, mut blocking) = (Tally::default(), Tally::default());
    // Alternating halves until both modes have enough samples: on a busy machine blocking
    // falls behind its rate (3,000 of 5,000 ticks beside a cargo build), so the count, not the
    // time, decides.
    for round in 0..MAX_ROUNDS {
        if round >= 2 && default.samples >= MIN_SAMPLES && blocking.samples >= MIN_SAMPLES {
            break;
        }
        record_into(&mut default, &pid, &[], &out)?;
        record_into(&mut blocking, &pid, &["--blocking"], &out)?;
    }
    let what = format!("{workload}: ");
    if default.samples < MIN_SAMPLES || blocking.samples < MIN_SAMPLES {
        return Err(format!(
            "{what}{} samples without pausing, {} with: fewer than {MIN_SAMPLES}, the limit \
             would be within the noise",
            default.samples, blocking.samples
        ));
    }
    let errors = default.errors as f64 * 100.0 / (default.samples + default.errors) as f64;
    if errors > MAX_ERROR_PERCENT {
        return Err(format!(
            "{what}{} errors in {} samples without pausing ({errors:.2}%)",
            default.errors, default.samples
        ));
    }
    let (gap, function, sigma, p_default, p_blocking) = worst_gap(&default, &blocking);
    // The figures, for `--nocapture`: the table of the README and the issue notes.
    eprintln!(
        "{} {workload}: errors {}/{} without pausing; worst gap {gap:.1} points ({function} \
         {p_default:.1}% vs {p_blocking:.1}%, σ {sigma:.2}); samples {} / {}",
        py.label,
        default.errors,
        default.samples + default.errors,
        default.samples,
        blocking.samples
    );
    if gap > LIMIT {
        return Err(format!(
            "{what}{function} has {p_default:.1}% of self samples without pausing and \
             {p_blocking:.1}% with --blocking: {gap:.1} points apart (σ {sigma:.2})"
        ));
    }
    Ok(())
}

#[test]
#[ignore = "a measurement: run alone, after the suite (the README's test command)"]
fn default_mode_matches_blocking_on_call_heavy_code() {
    assert_no_failures(&measure_alone(|py| {
        let failures: Vec<String> = ["difflib", "json", "html"]
            .iter()
            .filter_map(|w| {
                check_workload(py, w)
                    .or_else(|_| check_workload(py, w))
                    .err()
            })
            .collect();
        if failures.is_empty() {
            Ok(())
        } else {
            Err(failures.join("; "))
        }
    }));
}

/// The functions of tests/scripts/native_mix.py, in the order of its "totals" line.
const MIX: [&str; 3] = ["squeeze", "digest", "tally"];

/// native_mix.py's "totals S D T" line, asked for with SIGUSR1.
fn mix_totals(target: &mut Target) -> Result<[f64; 3], String> {
    target.signal(libc::SIGUSR1);
    let line = target.read_line()?;
    let numbers: Vec<f64> = line
        .strip_prefix("totals ")
        .map(|rest| rest.split(' ').filter_map(|n| n.parse().ok()).collect())
        .unwrap_or_default();
    numbers
        .try_into()
        .map_err(|_| format!("expected `totals S D T`, got {line:?}"))
}

/// `--native` must not move the Python proportions: each function's share (the innermost
/// Python frame, C frames below it set aside) within [`LIMIT`] of a recording without
/// `--native`, in alternating stretches of the same target, which spends its time in zlib, in
/// SHA-256 and in the eval loop (tests/scripts/native_mix.py). The workload's own split drifts
/// from minute to minute, so each mode is held against the split the script measured in its
/// own stretches, and the two errors are compared; each must also be within [`LIMIT`].
fn check_native(py: &Interpreter) -> Result<(), String> {
    let (mut target, _) = Target::spawn(&py.path, "native_mix.py", &[]);
    let pid = target.pid().to_string();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("profile.txt");
    let mut tallies = [Tally::default(), Tally::default()];
    let mut truths = [[0.0f64; 3]; 2];
    for round in 0..MAX_ROUNDS {
        if round >= 2 && tallies.iter().all(|t| t.samples >= MIN_SAMPLES) {
            break;
        }
        for (mode, extra) in [&[][..], &["--native"][..]].into_iter().enumerate() {
            let before = mix_totals(&mut target)?;
            record_into(&mut tallies[mode], &pid, extra, &out)?;
            let after = mix_totals(&mut target)?;
            for (f, truth) in truths[mode].iter_mut().enumerate() {
                *truth += after[f] - before[f];
            }
        }
    }
    let [plain, native] = &tallies;
    if plain.samples < MIN_SAMPLES || native.samples < MIN_SAMPLES {
        return Err(format!(
            "{} samples without --native, {} with: fewer than {MIN_SAMPLES}",
            plain.samples, native.samples
        ));
    }
    // Share in points of each function, against the truth of the mode's own stretches.
    let errors = |t: &Tally, truth: &[f64; 3]| -> Vec<(f64, f64)> {
        let samples: u64 = MIX
            .iter()
            .map(|f| t.by_function.get(*f).copied().unwrap_or(0))
            .sum();
        let seconds: f64 = truth.iter().sum();
        MIX.iter()
            .zip(truth)
            .map(|(f, s)| {
                let share =
                    t.by_function.get(*f).copied().unwrap_or(0) as f64 / samples.max(1) as f64;
                (share * 100.0, s / seconds.max(1e-9) * 100.0)
            })
            .collect()
    };
    let (e_plain, e_native) = (errors(plain, &truths[0]), errors(native, &truths[1]));
    let mut worst = (0.0f64, "");
    for (i, function) in MIX.iter().enumerate() {
        let (got_p, truth_p) = e_plain[i];
        let (got_n, truth_n) = e_native[i];
        let gap = ((got_n - truth_n) - (got_p - truth_p)).abs();
        eprintln!(
            "{} native_mix {function}: without --native {got_p:.1}% (truth {truth_p:.1}%), \
             with {got_n:.1}% (truth {truth_n:.1}%): {gap:.1} points apart",
            py.label
        );
        if gap >= worst.0 {
            worst = (gap, function);
        }
        // Each mode against the truth too: ticks that cluster on the code that faults moved
        // squeeze() by 8 points in both modes alike, which the difference alone hides.
        for (mode, got, truth) in [("without", got_p, truth_p), ("with", got_n, truth_n)] {
            if (got - truth).abs() > LIMIT {
                return Err(format!(
                    "{function}: {got:.1}% of the samples {mode} --native, {truth:.1}% of the \
                     time by the script's own clock"
                ));
            }
        }
    }
    if worst.0 > LIMIT {
        return Err(format!(
            "{}: --native moved its share by {:.1} points against the recording without it \
             (samples {} / {})",
            worst.1, worst.0, plain.samples, native.samples
        ));
    }
    Ok(())
}

#[test]
#[ignore = "a measurement: run alone, after the suite (the README's test command)"]
fn native_keeps_the_python_proportions() {
    assert_no_failures(&measure_alone(|py| {
        check_native(py).or_else(|_| check_native(py))
    }));
}
