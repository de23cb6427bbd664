//! The walker's CPU cost per sample, on recorded snapshots (tests/fixtures/snapshots): no target
//! process, so it runs anywhere and measures only our side. A live sample adds ~1 µs per read
//! (DESIGN.md §3), so the reads and bytes per sample are printed first, per fixture.
//!
//! `cargo bench --bench walker -- --quick`
use std::cell::Cell;
use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use pyprobe::output::{writer_for, Format, OutputOptions};
use pyprobe::process::{MemoryReader, SnapshotReader};
use pyprobe::profile::{AggregateOptions, Profile};
use pyprobe::python::{Interpreter, InterpreterRecord, OsThreads, Walker};
use pyprobe::stack::{Frame, ThreadStack};
use pyprobe::Result;

#[path = "../tests/support/interpreter_list.rs"]
mod interpreter_list;

/// One fixture per frame-walk family, the interpreters tagged `deep` in tests/interpreters.txt:
/// (its version, its label).
fn families() -> Vec<(String, String)> {
    interpreter_list::listed()
        .into_iter()
        .filter(|l| l.has("deep"))
        .map(|l| (format!("{}.{}", l.version.0, l.version.1), l.label))
        .collect()
}

/// The scenes recorded per family: the two-thread `stack_shape.py` and the 100-frame stack.
const SCENES: &[(&str, &str)] = &[("shape", ""), ("deep100", "deep_100/")];

/// Samples aggregated in the profile benches.
const PROFILE_SAMPLES: usize = 1000;

/// Counts what a sample asks of the reader. `syscalls` is what a live reader pays for: one
/// `process_vm_readv` per `read_into` or `read_batch`.
struct Counting<R> {
    inner: R,
    syscalls: Cell<u64>,
    regions: Cell<u64>,
    bytes: Cell<u64>,
}

impl<R> Counting<R> {
    fn new(inner: R) -> Self {
        Counting {
            inner,
            syscalls: Cell::new(0),
            regions: Cell::new(0),
            bytes: Cell::new(0),
        }
    }

    fn take(&self) -> (u64, u64, u64) {
        (
            self.syscalls.replace(0),
            self.regions.replace(0),
            self.bytes.replace(0),
        )
    }
}

impl<R: MemoryReader> MemoryReader for Counting<R> {
    fn read_into(&self, addr: u64, buf: &mut [u8]) -> Result<()> {
        self.syscalls.set(self.syscalls.get() + 1);
        self.regions.set(self.regions.get() + 1);
        self.bytes.set(self.bytes.get() + buf.len() as u64);
        self.inner.read_into(addr, buf)
    }

    fn read_batch(&self, requests: &mut [(u64, &mut [u8])]) -> Result<()> {
        self.syscalls.set(self.syscalls.get() + 1);
        self.regions.set(self.regions.get() + requests.len() as u64);
        let bytes: usize = requests.iter().map(|(_, b)| b.len()).sum();
        self.bytes.set(self.bytes.get() + bytes as u64);
        self.inner.read_batch(requests)
    }

    fn read_batch_prefix(&self, requests: &mut [(u64, &mut [u8])]) -> usize {
        self.syscalls.set(self.syscalls.get() + 1);
        self.regions.set(self.regions.get() + requests.len() as u64);
        let bytes: usize = requests.iter().map(|(_, b)| b.len()).sum();
        self.bytes.set(self.bytes.get() + bytes as u64);
        self.inner.read_batch_prefix(requests)
    }
}

/// A snapshot fixture and what its metadata says.
struct Fixture {
    name: String,
    snap: SnapshotReader,
    record: InterpreterRecord,
    os: OsThreads,
    stacks: Vec<ThreadStack>,
}

fn load(rel: &str) -> Fixture {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/snapshots")
        .join(format!("{rel}.snap"));
    let snap = SnapshotReader::load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let meta = snap.metadata().clone();
    Fixture {
        name: rel.to_string(),
        record: serde_json::from_value(meta["interpreter"].clone()).expect("interpreter"),
        os: serde_json::from_value(meta["os_threads"].clone()).expect("os_threads"),
        stacks: serde_json::from_value(meta["stacks"].clone()).expect("stacks"),
        snap,
    }
}

impl Fixture {
    /// A walker that has taken one sample already (code cache and thread names warm).
    fn warm_walker(&self) -> Walker<Counting<SnapshotReader>> {
        let interp = Interpreter::from_record(&self.record, &self.snap).expect("from_record");
        let mut w = Walker::new(Counting::new(self.snap.clone()), interp);
        let first = w.sample(&self.os).expect("first sample");
        assert_eq!(first, self.stacks, "{}: replay differs", self.name);
        w.reader().take();
        w
    }

    fn frames(&self) -> usize {
        self.stacks.iter().map(|s| s.frames.len()).sum()
    }
}

/// Reads per sample, cold (first sample) and warm, for every fixture: what a live sample costs.
fn print_read_counts() {
    eprintln!(
        "\n{:<28} {:>6} {:>7} | {:>9} {:>8} {:>9} | {:>9} {:>8} {:>9}",
        "fixture",
        "frames",
        "threads",
        "cold:read",
        "regions",
        "bytes",
        "warm:read",
        "regions",
        "bytes"
    );
    let mut all: Vec<String> = Vec::new();
    for (_, dir) in SCENES {
        let entries = std::fs::read_dir(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/snapshots")
                .join(dir),
        )
        .expect("fixture dir");
        let mut names: Vec<String> = entries
            .filter_map(|e| {
                let n = e.ok()?.file_name().into_string().ok()?;
                Some(format!("{dir}{}", n.strip_suffix(".snap")?))
            })
            .collect();
        names.sort();
        all.extend(names);
    }
    for name in all {
        let fx = load(&name);
        let interp = Interpreter::from_record(&fx.record, &fx.snap).expect("from_record");
        let mut w = Walker::new(Counting::new(fx.snap.clone()), interp);
        w.sample(&fx.os).expect("cold sample");
        let cold = w.reader().take();
        // The sample after the cold one still prefetches what the cold one read (names, line
        // tables); the one after that shows the steady state.
        w.sample(&fx.os).expect("second sample");
        w.reader().take();
        w.sample(&fx.os).expect("warm sample");
        let warm = w.reader().take();
        eprintln!(
            "{:<28} {:>6} {:>7} | {:>9} {:>8} {:>9} | {:>9} {:>8} {:>9}",
            name,
            fx.frames(),
            fx.stacks.len(),
            cold.0,
            cold.1,
            cold.2,
            warm.0,
            warm.1,
            warm.2
        );
    }
    eprintln!("(read = one process_vm_readv live; regions = iovecs; bytes copied)\n");
}

fn sample(c: &mut Criterion) {
    print_read_counts();
    let mut group = c.benchmark_group("sample");
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for (scene, dir) in SCENES {
        for (family, label) in families() {
            let fx = load(&format!("{dir}{label}"));
            let mut w = fx.warm_walker();
            group.bench_function(format!("{family}/{scene}"), |b| {
                b.iter(|| black_box(w.sample(&fx.os).expect("sample")))
            });
        }
    }
    group.finish();
}

/// Samples from every fixture, round-robin: stacks of several versions, files and threads.
fn sample_mix() -> Vec<Vec<ThreadStack>> {
    let mut out = Vec::new();
    for (_, dir) in SCENES {
        for (_, label) in families() {
            out.push(load(&format!("{dir}{label}")).stacks);
        }
    }
    out
}

fn build_profile(mix: &[Vec<ThreadStack>], n: usize) -> Profile {
    let opts = AggregateOptions {
        include_idle: true,
        per_thread: true,
        ..Default::default()
    };
    let mut p = Profile::new("bench", Duration::from_millis(10));
    for stacks in mix.iter().cycle().take(n) {
        p.add_sample(stacks, &opts);
    }
    p
}

fn profile(c: &mut Criterion) {
    let mix = sample_mix();
    let mut group = c.benchmark_group("profile");
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    group.bench_function(format!("aggregate_{PROFILE_SAMPLES}"), |b| {
        b.iter(|| black_box(build_profile(&mix, PROFILE_SAMPLES)))
    });
    let profile = build_profile(&mix, PROFILE_SAMPLES);
    let opts = OutputOptions {
        per_thread: true,
        show_line_numbers: true,
        ..OutputOptions::default()
    };
    for format in [Format::Collapsed, Format::Flamegraph] {
        let writer = writer_for(format);
        let mut out = Vec::with_capacity(1 << 20);
        group.bench_function(format!("render_{format}"), |b| {
            b.iter(|| {
                out.clear();
                writer.write(&profile, &opts, &mut out).expect("render");
                black_box(out.len())
            })
        });
    }
    group.finish();
}

/// A profile of 100,000 distinct stacks (five levels of ten functions under `<module>`, on
/// four threads), the size the render row of the performance targets names.
fn distinct_stacks_profile() -> Profile {
    let opts = AggregateOptions {
        per_thread: true,
        ..Default::default()
    };
    let mut p = Profile::new("100k distinct stacks", Duration::from_millis(10));
    let frame = |level: u32, k: u32| Frame {
        name: format!("mod{level}.function_{k}").into(),
        filename: format!("/usr/lib/python3.11/site-packages/pkg{level}/m{k}.py").into(),
        line: 10 * k + level,
    };
    for i in 0..100_000u32 {
        let mut frames: Vec<Frame> = (0..5)
            .map(|level| frame(level, (i / 10u32.pow(level)) % 10))
            .collect();
        frames.push(Frame {
            name: "<module>".into(),
            filename: "/app/main.py".into(),
            line: 1,
        });
        let stack = ThreadStack {
            thread_id: u64::from(i % 4),
            os_tid: Some(100 + i % 4),
            name: Some(format!("thread-{}", i % 4).into()),
            active: true,
            holds_gil: false,
            frames: frames.into(),
        };
        p.add_sample(std::slice::from_ref(&stack), &opts);
    }
    p
}

fn render_large(c: &mut Criterion) {
    let profile = distinct_stacks_profile();
    let mut group = c.benchmark_group("render_100k_distinct_stacks");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(5));
    for format in [Format::Flamegraph, Format::Collapsed] {
        let writer = writer_for(format);
        let mut out = Vec::new();
        group.bench_function(format!("{format}"), |b| {
            b.iter(|| {
                out.clear();
                writer
                    .write(&profile, &OutputOptions::default(), &mut out)
                    .expect("render");
                black_box(out.len())
            })
        });
    }
    group.finish();
}

criterion_group!(benches, sample, profile, render_large);
criterion_main!(benches);
