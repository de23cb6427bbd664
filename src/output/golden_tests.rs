//! Golden tests of every format on a small fixed profile.
//!
//! Expected outputs live in `tests/fixtures/output/`. After an intended change of output, rerun
//! with `PYPROBE_BLESS=1 cargo test --lib output` to rewrite them, and review the diff.
use std::fs;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::speedscope::{SpeedscopeFile, SCHEMA};
use super::*;
use crate::profile::{AggregateOptions, Weights};
use crate::stack::{Frame, ThreadStack};

fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/output")
}

fn blessing() -> bool {
    std::env::var_os("PYPROBE_BLESS").is_some_and(|v| v == "1")
}

fn check_golden(name: &str, actual: &str) {
    let path = fixtures_dir().join(name);
    if blessing() {
        fs::create_dir_all(fixtures_dir()).unwrap();
        fs::write(&path, actual).unwrap();
        return;
    }
    let expected = fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read golden file {}: {e}; run with PYPROBE_BLESS=1 to create it",
            path.display()
        )
    });
    assert!(
        actual == expected,
        "output differs from golden file {}; if the change is intended, rerun with \
         PYPROBE_BLESS=1 and review the diff.\n--- expected\n{expected}\n--- actual\n{actual}",
        path.display()
    );
}

fn frame(name: &str, filename: &str, line: u32) -> Frame {
    Frame {
        name: name.into(),
        filename: filename.into(),
        line,
    }
}

fn thread(thread_id: u64, os_tid: u32, name: &str, active: bool, frames: &[&Frame]) -> ThreadStack {
    ThreadStack {
        thread_id,
        os_tid: Some(os_tid),
        name: Some(name.into()),
        active,
        holds_gil: active,
        // Innermost first, as the walker produces them.
        frames: frames.iter().rev().map(|f| (*f).clone()).collect(),
    }
}

/// Two threads, frames shared between them and distinct ones, a non-ASCII function name, a name
/// containing `;`, a frame without line number, frames differing only by line, an idle sample.
fn fixture_profile() -> Profile {
    let module = frame("<module>", "/home/dev/app/main.py", 42);
    let main = frame("main", "/home/dev/app/main.py", 30);
    let get = frame(
        "get",
        "/usr/lib/python3.11/site-packages/requests/api.py",
        73,
    );
    let gruss = frame("grüße", "/home/dev/app/i18n.py", 7);
    let bootstrap = frame("_bootstrap_inner", "/usr/lib/python3.11/threading.py", 1045);
    let run = frame("run", "/usr/lib/python3.11/threading.py", 1012);
    let work18 = frame("Worker.work", "/home/dev/app/main.py", 18);
    let work19 = frame("Worker.work", "/home/dev/app/main.py", 19);
    let weird = frame("Parser.parse;inner", "/home/dev/app/parse.py", 0);

    const MAIN: u64 = 0x7f00_0000_1000;
    const WORKER: u64 = 0x7f00_0000_2000;
    let agg = AggregateOptions::default();
    let mut p = Profile::new("python -m app --flag", Duration::from_millis(10));
    let ticks: Vec<Vec<ThreadStack>> = vec![
        vec![
            thread(MAIN, 1234, "MainThread", true, &[&module, &main, &get]),
            thread(WORKER, 1240, "worker-1", true, &[&bootstrap, &run, &work18]),
        ],
        vec![
            thread(MAIN, 1234, "MainThread", true, &[&module, &main, &get]),
            thread(WORKER, 1240, "worker-1", true, &[&bootstrap, &run, &work19]),
        ],
        vec![
            thread(MAIN, 1234, "MainThread", true, &[&module, &main, &gruss]),
            thread(WORKER, 1240, "worker-1", true, &[&bootstrap, &run, &weird]),
        ],
        vec![
            thread(MAIN, 1234, "MainThread", true, &[&module, &main, &get]),
            thread(
                WORKER,
                1240,
                "worker-1",
                true,
                &[&bootstrap, &run, &work18, &get],
            ),
        ],
        vec![
            thread(MAIN, 1234, "MainThread", true, &[&module, &main]),
            thread(WORKER, 1240, "worker-1", false, &[&bootstrap, &run]),
        ],
    ];
    for tick in &ticks {
        p.add_sample(tick, &agg);
    }
    p.duration = Duration::from_millis(50);
    p
}

fn render(format: Format, profile: &Profile, opts: &OutputOptions) -> String {
    let mut out = Vec::new();
    writer_for(format).write(profile, opts, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

const NO_LINES_PER_THREAD: OutputOptions = OutputOptions {
    per_thread: true,
    show_line_numbers: false,
    measure: crate::profile::Measure::Samples,
};

#[test]
fn collapsed_golden() {
    let p = fixture_profile();
    let out = render(Format::Collapsed, &p, &OutputOptions::default());
    check_golden("collapsed.txt", &out);
    // Invariants that do not depend on the golden file.
    for line in out.lines() {
        let (stack, count) = line.rsplit_once(' ').unwrap();
        assert!(count.parse::<u64>().unwrap() > 0);
        assert!(!stack.contains("Parser.parse;inner"), "{line}");
    }
    let total: u64 = out
        .lines()
        .map(|l| l.rsplit_once(' ').unwrap().1.parse::<u64>().unwrap())
        .sum();
    assert_eq!(total, p.total_samples());
}

#[test]
fn collapsed_per_thread_no_lines_golden() {
    let p = fixture_profile();
    let out = render(Format::Collapsed, &p, &NO_LINES_PER_THREAD);
    check_golden("collapsed_per_thread_no_lines.txt", &out);
    assert!(out
        .lines()
        .all(|l| l.starts_with("MainThread (tid 1234);") || l.starts_with("worker-1 (tid 1240);")));
}

#[test]
fn raw_is_collapsed() {
    let p = fixture_profile();
    let opts = OutputOptions::default();
    let raw: Format = "raw".parse().unwrap();
    assert_eq!(render(raw, &p, &opts), render(Format::Collapsed, &p, &opts));
}

/// Pretty-printed, with the version normalized so that a version bump does not break the test.
fn normalized_speedscope(out: &str) -> String {
    let mut v: serde_json::Value = serde_json::from_str(out).unwrap();
    assert_eq!(
        v["exporter"],
        format!("pyprobe {}", env!("CARGO_PKG_VERSION"))
    );
    v["exporter"] = "pyprobe VERSION".into();
    serde_json::to_string_pretty(&v).unwrap() + "\n"
}

fn check_speedscope_structure(out: &str, p: &Profile) -> SpeedscopeFile {
    super::speedscope::check_schema(&serde_json::from_str(out).unwrap()).unwrap();
    let f: SpeedscopeFile = serde_json::from_str(out).unwrap();
    assert_eq!(f.schema, SCHEMA);
    assert_eq!(f.name, p.title);
    assert_eq!(f.active_profile_index, 0);
    assert_eq!(f.profiles.len(), p.threads.len());
    for (prof, t) in f.profiles.iter().zip(&p.threads) {
        assert_eq!(prof.kind, "sampled");
        assert_eq!(prof.unit, "none");
        assert_eq!(prof.name, t.label());
        assert_eq!(prof.samples.len(), prof.weights.len());
        assert_eq!(prof.start_value, 0);
        assert_eq!(prof.end_value, prof.weights.iter().sum::<u64>());
        for s in &prof.samples {
            assert!(!s.is_empty());
            assert!(s.iter().all(|&i| i < f.shared.frames.len()), "{s:?}");
        }
    }
    let total: u64 = f.profiles.iter().map(|p| p.end_value).sum();
    assert_eq!(total, p.total_samples());
    f
}

#[test]
fn speedscope_golden() {
    let p = fixture_profile();
    let out = render(Format::Speedscope, &p, &OutputOptions::default());
    check_golden("speedscope.json", &normalized_speedscope(&out));
    let f = check_speedscope_structure(&out, &p);
    // Non-ASCII and `;` survive verbatim in JSON.
    let names: Vec<&str> = f.shared.frames.iter().map(|f| f.name.as_str()).collect();
    assert!(
        names.contains(&"grüße (/home/dev/app/i18n.py:7)"),
        "{names:?}"
    );
    assert!(
        names.contains(&"Parser.parse;inner (/home/dev/app/parse.py)"),
        "{names:?}"
    );
    // The frame shared between threads appears once.
    assert_eq!(names.iter().filter(|n| n.starts_with("get ")).count(), 1);
    // MainThread: module;main ×1, module;main;get ×3, module;main;grüße ×1. The worker's idle
    // sample is left out.
    assert_eq!(f.profiles[0].weights, [1, 3, 1]);
    assert_eq!(f.profiles[1].weights.iter().sum::<u64>(), 4);
}

#[test]
fn speedscope_without_lines_merges_frames() {
    let p = fixture_profile();
    let out = render(Format::Speedscope, &p, &NO_LINES_PER_THREAD);
    let f = check_speedscope_structure(&out, &p);
    let works: Vec<_> = f
        .shared
        .frames
        .iter()
        .filter(|f| f.name.starts_with("Worker.work"))
        .collect();
    assert_eq!(works.len(), 1, "{works:?}");
    assert_eq!(works[0].line, None);
    // work:18 and work:19 stacks merged: the worker has 3 distinct stacks left.
    assert_eq!(f.profiles[1].samples.len(), 3);
}

fn assert_svg(svg: &str) {
    assert!(svg.starts_with("<?xml"), "{}", &svg[..svg.len().min(200)]);
    assert!(svg.contains("<svg"));
    assert_eq!(svg.matches("<svg").count(), svg.matches("</svg>").count());
    assert!(svg.trim_end().ends_with("</svg>"));
}

#[test]
fn flamegraph_svg() {
    let p = fixture_profile();
    let svg = render(Format::Flamegraph, &p, &OutputOptions::default());
    assert_svg(&svg);
    assert!(svg.contains("python -m app --flag"));
    assert!(svg.contains("grüße (/home/dev/app/i18n.py:7)"));
    assert!(svg.contains("Parser.parse:inner (/home/dev/app/parse.py)"));
    assert!(svg.contains("get (requests/api.py:73)"));
    // Names are XML-escaped.
    assert!(svg.contains("&lt;module&gt; (/home/dev/app/main.py:42)"));
    assert!(svg.contains("5 samples over 0.05 s, every 10 ms (9 thread stacks)"));
    // Deterministic.
    assert_eq!(
        svg,
        render(Format::Flamegraph, &p, &OutputOptions::default())
    );

    let per_thread = render(Format::Flamegraph, &p, &NO_LINES_PER_THREAD);
    assert_svg(&per_thread);
    assert!(per_thread.contains("MainThread (tid 1234)"));
    assert!(per_thread.contains("worker-1 (tid 1240)"));
}

#[test]
fn flamegraph_empty_profile_says_no_samples() {
    let mut p = Profile::new("python <idle> & \"quoted\"", Duration::from_millis(10));
    p.sample_count = 3;
    let svg = render(Format::Flamegraph, &p, &OutputOptions::default());
    assert_svg(&svg);
    assert!(svg.contains("no samples were collected: none of the 3 samples"));
    assert!(svg.contains("python &lt;idle&gt; &amp; &quot;quoted&quot;"));

    let never = Profile::new("x", Duration::from_millis(10));
    let svg = render(Format::Flamegraph, &never, &OutputOptions::default());
    assert!(svg.contains("no samples were collected: the target was not sampled"));
}

#[test]
fn every_format_through_write_file_atomic() {
    let p = fixture_profile();
    let dir = tempfile::tempdir().unwrap();
    for format in Format::ALL {
        let path = dir.path().join(format!("profile.{}", format.extension()));
        check_writable(&path).unwrap();
        let opts = OutputOptions::default();
        write_file_atomic(&path, |w| writer_for(format).write(&p, &opts, w)).unwrap();
        // pprof is binary (gzip): compare bytes.
        let mut expected = Vec::new();
        writer_for(format).write(&p, &opts, &mut expected).unwrap();
        assert_eq!(fs::read(&path).unwrap(), expected, "{format}");
    }
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), Format::ALL.len());
}

/// A profile with `n` distinct stacks of depth 8 over 60 frames, in 4 threads.
fn big_profile(n: u32) -> Profile {
    let mut p = Profile::new("big", Duration::from_millis(10));
    for t in 0..4u64 {
        p.intern_thread(&ThreadStack {
            thread_id: t,
            os_tid: Some(t as u32 + 100),
            name: Some(format!("thread-{t}").into()),
            active: true,
            holds_gil: false,
            frames: Default::default(),
        });
    }
    let ids: Vec<FrameIdRow> = (0..6)
        .map(|level| {
            (0..10)
                .map(|k| {
                    p.intern_frame(&frame(
                        &format!("mod{level}.function_{k}"),
                        &format!("/usr/lib/python3.11/site-packages/pkg{level}/m{k}.py"),
                        10 * k + level,
                    ))
                })
                .collect()
        })
        .collect();
    let root = p.intern_frame(&frame("<module>", "/app/main.py", 1));
    let main = p.intern_frame(&frame("main", "/app/main.py", 2));
    for i in 0..n {
        let mut stack = vec![root, main];
        let mut x = i;
        for row in &ids {
            stack.push(row[(x % 10) as usize]);
            x /= 10;
        }
        p.stacks.insert(
            ((i % 4) as usize, stack),
            Weights {
                samples: u64::from(i % 7 + 1),
                ..Default::default()
            },
        );
        p.sample_count += u64::from(i % 7 + 1);
    }
    p.duration = Duration::from_secs(60);
    p
}

type FrameIdRow = Vec<crate::profile::FrameId>;

/// `cargo test --release --lib output::golden_tests::flamegraph_100k_stacks -- --ignored --nocapture`
#[test]
#[ignore]
fn flamegraph_100k_stacks() {
    let p = big_profile(100_000);
    assert_eq!(p.stacks.len(), 100_000);
    let opts = OutputOptions::default();

    let start = Instant::now();
    let lines = collapsed_lines(&p, &opts).unwrap();
    let collapsed = start.elapsed();
    assert_eq!(lines.len(), 100_000);

    let start = Instant::now();
    let mut out = Vec::new();
    FlamegraphWriter.write(&p, &opts, &mut out).unwrap();
    let flamegraph = start.elapsed();

    let start = Instant::now();
    let mut json = Vec::new();
    SpeedscopeWriter.write(&p, &opts, &mut json).unwrap();
    let speedscope = start.elapsed();

    println!(
        "100k distinct stacks: collapsed lines {collapsed:?}; flamegraph (incl. collapsing) \
         {flamegraph:?}, {} bytes; speedscope {speedscope:?}, {} bytes",
        out.len(),
        json.len()
    );
    assert_svg(std::str::from_utf8(&out).unwrap());
}
