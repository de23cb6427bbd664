//! The memory-aware formats (pprof, gecko, speedscope) from a real recording, decoded rather
//! than grepped: on grow_and_burn_formats.py, where `grow_memory` only grows memory (and
//! sleeps) and `burn_cpu` only burns CPU, each format must show the CPU samples in `burn_cpu`,
//! the RSS growth in `grow_memory`, and as many bytes of growth as the OS saw the process gain.
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::harness::{interpreters, run_pyprobe_within, Interpreter, Target};

const SCRIPT: &str = "grow_and_burn_formats.py";
const GROWER: &str = "grow_memory";
const BURNER: &str = "burn_cpu";
const TIMEOUT: Duration = Duration::from_secs(60);

fn python() -> &'static Interpreter {
    interpreters()
        .iter()
        .find(|i| i.label == "pyenv-3.11.7")
        .expect("pyenv 3.11.7 is among the interpreters")
}

/// Resident memory of `pid` as the OS reports it (`/proc/PID/statm`), bytes.
fn rss_of(pid: u32) -> u64 {
    pyprobe::proc::rss_bytes(pid as i32).expect("reading statm")
}

/// The function of a frame label `function (file:line)` (also a gecko location).
fn function_of(label: &str) -> &str {
    label.split_once(" (").map_or(label, |(f, _)| f)
}

/// A recording of the script in one format.
struct Recording {
    _dir: tempfile::TempDir,
    path: PathBuf,
    /// RSS gained by the target between just before pyprobe started and just after it exited.
    os_growth: u64,
}

/// When the script grows memory, seconds after "ready": well inside the recording, which starts
/// when pyprobe has attached (a fraction of a second) and lasts 2.5 s. Outside this range the
/// script only burns CPU, so the RSS change the OS reports from just before pyprobe starts to
/// just after it exits is all growth that pyprobe was recording.
const GROW_FROM: &str = "0.8";
const GROW_UNTIL: &str = "2.2";

fn record(format: &str, extension: &str) -> Recording {
    let (target, _) = Target::spawn(&python().path, SCRIPT, &["6", GROW_FROM, GROW_UNTIL]);
    let pid = target.pid();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(format!("profile.{extension}"));
    let before = rss_of(pid);
    let args = [
        "record",
        "--pid",
        &pid.to_string(),
        "-d",
        "2.5",
        "-r",
        "200",
        "-f",
        format,
        "-o",
        path.to_str().unwrap(),
    ];
    let run = run_pyprobe_within(&args, TIMEOUT).unwrap();
    let after = rss_of(pid);
    assert!(
        run.status.success(),
        "pyprobe {args:?}: {:?}\n{}",
        run.status,
        run.stderr
    );
    eprintln!("{format}: {}", run.stderr.trim());
    assert!(
        after > before + (16 << 20),
        "the script grew by only {} bytes ({before} → {after})",
        after.saturating_sub(before)
    );
    Recording {
        _dir: dir,
        path,
        os_growth: after - before,
    }
}

/// What a format says, reduced to the facts checked.
#[derive(Debug, Default)]
struct Facts {
    /// Samples whose stack contains the burner, the grower, and all of them.
    burn_samples: u64,
    grow_samples: u64,
    samples: u64,
    /// Bytes of RSS growth charged to stacks containing the grower, when the format has them.
    grow_bytes: Option<u64>,
    /// Bytes of RSS growth the format reports in all.
    growth: u64,
}

impl Facts {
    /// Count `samples` and `bytes` of one stack (its function names).
    fn add<'a>(&mut self, functions: impl IntoIterator<Item = &'a str>, samples: u64, bytes: u64) {
        let functions: Vec<&str> = functions.into_iter().collect();
        self.samples += samples;
        if functions.contains(&BURNER) {
            self.burn_samples += samples;
        }
        let grower = functions.contains(&GROWER);
        if grower {
            self.grow_samples += samples;
        }
        if bytes > 0 {
            *self.grow_bytes.get_or_insert(0) += if grower { bytes } else { 0 };
        }
        self.growth += bytes;
    }

    fn check(&self, format: &str, os_growth: u64) {
        eprintln!("{format}: {self:?}, OS growth {os_growth}");
        assert!(
            self.samples >= 100,
            "{format}: only {} samples at 200 Hz for 2.5 s",
            self.samples
        );
        assert!(
            self.burn_samples * 10 >= (self.burn_samples + self.grow_samples) * 7,
            "{format}: {BURNER} has {} samples, {GROWER} {}: the burner should be hot",
            self.burn_samples,
            self.grow_samples
        );
        if let Some(grow) = self.grow_bytes {
            assert!(
                grow * 10 >= self.growth * 7,
                "{format}: only {grow} of {} bytes of RSS growth charged to {GROWER}",
                self.growth
            );
        }
        let error = (self.growth as f64 - os_growth as f64).abs() / os_growth as f64;
        assert!(
            error <= 0.25,
            "{format}: {} bytes of RSS growth, the OS saw {os_growth} ({:.0}% off)",
            self.growth,
            error * 100.0
        );
    }
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

#[test]
fn pprof_charges_cpu_and_memory_to_the_right_functions() {
    use pyprobe::output::pprof::{decode, SAMPLE_TYPES, THREAD_ID_LABEL, THREAD_NAME_LABEL};

    let rec = record("pprof", "pb.gz");
    let p = decode(&read(&rec.path)).unwrap();
    let s = |i: i64| p.string_table[i as usize].as_str();
    let types: Vec<(&str, &str)> = p
        .sample_type
        .iter()
        .map(|t| (s(t.r#type), s(t.unit)))
        .collect();
    assert_eq!(types, SAMPLE_TYPES);
    assert_eq!(s(p.default_sample_type), "samples");
    assert_eq!(p.period, 5_000_000);
    assert!(p.duration_nanos > 2_000_000_000, "{}", p.duration_nanos);

    let function_name = |location: u64| {
        let loc = p.location.iter().find(|l| l.id == location).unwrap();
        let f = p
            .function
            .iter()
            .find(|f| f.id == loc.line[0].function_id)
            .unwrap();
        assert!(s(f.filename).ends_with(SCRIPT) || !s(f.filename).contains("grow_and_burn"));
        s(f.name)
    };
    let mut facts = Facts::default();
    for sample in &p.sample {
        let label = |key: &str| {
            sample
                .label
                .iter()
                .find(|l| s(l.key) == key)
                .unwrap_or_else(|| panic!("no {key} label"))
        };
        assert_eq!(s(label(THREAD_NAME_LABEL).str), "MainThread");
        assert!(label(THREAD_ID_LABEL).num > 0);
        let values = &sample.value;
        assert_eq!(values[1], values[0] * 5_000_000);
        facts.add(
            sample.location_id.iter().map(|&l| function_name(l)),
            values[0] as u64,
            values[2] as u64,
        );
    }
    // Lines of the two functions come back.
    let lines: Vec<i64> = p.location.iter().map(|l| l.line[0].line).collect();
    assert!(lines.iter().all(|&l| l > 0), "{lines:?}");
    facts.check("pprof", rec.os_growth);
}

#[test]
fn speedscope_has_sample_and_rss_growth_profiles() {
    let rec = record("speedscope", "json");
    let v: Value = serde_json::from_slice(&read(&rec.path)).unwrap();
    let frames: Vec<&str> = v["shared"]["frames"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    let profiles = v["profiles"].as_array().unwrap();
    let named = |suffix: &str| -> Vec<&Value> {
        profiles
            .iter()
            .filter(|p| {
                let name = p["name"].as_str().unwrap();
                name.starts_with("MainThread (tid ") && name.ends_with(suffix)
            })
            .collect()
    };
    let cpu = named(")");
    let memory = named(") — RSS growth");
    assert_eq!((cpu.len(), memory.len()), (1, 1), "{:?}", v["profiles"]);
    assert_eq!(cpu[0]["unit"], "none");
    assert_eq!(memory[0]["unit"], "bytes");

    let mut facts = Facts::default();
    for (profile, is_memory) in [(cpu[0], false), (memory[0], true)] {
        let samples = profile["samples"].as_array().unwrap();
        let weights = profile["weights"].as_array().unwrap();
        assert_eq!(samples.len(), weights.len());
        let mut sum = 0;
        for (stack, weight) in samples.iter().zip(weights) {
            let weight = weight.as_u64().unwrap();
            sum += weight;
            let functions = stack
                .as_array()
                .unwrap()
                .iter()
                .map(|i| function_of(frames[i.as_u64().unwrap() as usize]));
            if is_memory {
                facts.add(functions, 0, weight);
            } else {
                facts.add(functions, weight, 0);
            }
        }
        assert_eq!(profile["endValue"].as_u64(), Some(sum));
    }
    facts.check("speedscope", rec.os_growth);
}

#[test]
fn gecko_has_samples_and_an_rss_counter() {
    let rec = record("gecko", "gecko.json");
    let v: Value = serde_json::from_slice(&read(&rec.path)).unwrap();
    assert!(v["meta"]["version"].as_u64().is_some());
    assert_eq!(v["meta"]["interval"].as_f64(), Some(5.0));
    let threads = v["threads"].as_array().unwrap();
    assert_eq!(threads.len(), 1, "one Python thread");
    let t = &threads[0];
    // The main thread carries the process's name and the counter.
    assert_eq!(t["name"], "GeckoMain");
    assert!(t["processName"].as_str().unwrap().contains("MainThread"));
    assert_eq!(t["pid"], t["tid"]);

    let strings = t["stringTable"].as_array().unwrap();
    let frames = t["frameTable"]["data"].as_array().unwrap();
    let stacks = t["stackTable"]["data"].as_array().unwrap();
    let col = |table: &str, name: &str| t[table]["schema"][name].as_u64().unwrap() as usize;
    let (location, frame, prefix) = (
        col("frameTable", "location"),
        col("stackTable", "frame"),
        col("stackTable", "prefix"),
    );
    let (stack_col, time_col) = (col("samples", "stack"), col("samples", "time"));
    let mut facts = Facts::default();
    let end = v["meta"]["profilingEndTime"].as_f64().unwrap();
    let mut last_time = 0.0;
    for sample in t["samples"]["data"].as_array().unwrap() {
        let time = sample[time_col].as_f64().unwrap();
        assert!(
            time >= last_time && time <= end,
            "{time} after {last_time}, end {end}"
        );
        last_time = time;
        let mut functions = Vec::new();
        let mut stack = sample[stack_col].as_u64();
        while let Some(i) = stack {
            let f = &frames[stacks[i as usize][frame].as_u64().unwrap() as usize];
            let name = strings[f[location].as_u64().unwrap() as usize]
                .as_str()
                .unwrap();
            functions.push(function_of(name));
            stack = stacks[i as usize][prefix].as_u64();
        }
        facts.add(functions, 1, 0);
    }

    // The RSS counter: its running sum is the RSS; its rise is the growth.
    let counters = v["counters"].as_array().unwrap();
    assert_eq!(counters.len(), 1);
    assert_eq!(counters[0]["category"], "Memory");
    let samples = &counters[0]["samples"];
    let count = samples["schema"]["count"].as_u64().unwrap() as usize;
    let mut rss = Vec::new();
    let mut sum = 0i64;
    for row in samples["data"].as_array().unwrap() {
        sum += row[count].as_i64().unwrap();
        rss.push(sum);
    }
    // One point per reading at best (500 here); the timeline may merge neighbours.
    assert!(rss.len() > 20, "{} RSS points", rss.len());
    assert!(rss.iter().all(|&r| r > 1 << 20), "RSS values are absolute");
    facts.growth = (rss[rss.len() - 1] - rss[0]) as u64;
    facts.check("gecko", rec.os_growth);
}
