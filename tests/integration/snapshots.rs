//! Recorded memory snapshots of every interpreter: the walk's offline golden tests.
//!
//! Each fixture holds the bytes one live sample read (address → bytes), the
//! [`InterpreterRecord`] to rebuild the interpreter from, the OS thread view the sample was
//! taken with, and the stacks it produced. Replaying needs no process and no Python.
//!
//! `PYPROBE_BLESS=1 cargo test --test integration snapshots` records them again (every
//! interpreter of [`interpreters`] must be installed); `PYPROBE_BLESS=debian-3.15` (labels,
//! comma-separated) records only those, so adding a version leaves the other fixtures as they
//! are. Without it the fixtures are only read.
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Once;
use std::time::Duration;

use pyprobe::process::{RecordingReader, SnapshotReader, Target as LiveTarget};
use pyprobe::python::{find_interpreter, Interpreter, InterpreterRecord, OsThreads, Walker};
use pyprobe::stack::ThreadStack;
use serde::{Deserialize, Serialize};

use crate::dump::line_of;
use crate::harness::{interpreters, Interpreter as Python, Target};
use crate::interpreter_list::labels_tagged;

/// The environment variable that makes the tests record fixtures instead of only reading them.
const BLESS: &str = "PYPROBE_BLESS";

/// A recorded scene: a script, and the interpreters it is recorded on.
struct Scene {
    script: &'static str,
    /// Fixture directory under tests/fixtures/snapshots ("" for the top level).
    subdir: &'static str,
    /// The tag of tests/interpreters.txt it is recorded on; `None`: every interpreter.
    tag: Option<&'static str>,
}

/// `stack_shape.py` on every interpreter: two threads, a known main-thread stack.
const SHAPE: Scene = Scene {
    script: "stack_shape.py",
    subdir: "",
    tag: None,
};

/// `deep_100.py`, a 100-frame stack, on the interpreters tagged `deep` in tests/interpreters.txt
/// (one per frame-walk family, for the benches).
const DEEP: Scene = Scene {
    script: "deep_100.py",
    subdir: "deep_100",
    tag: Some("deep"),
};

const SCENES: [&Scene; 2] = [&SHAPE, &DEEP];

/// What a fixture keeps besides the memory: its JSON metadata.
#[derive(Debug, Serialize, Deserialize)]
struct Meta {
    label: String,
    script: String,
    interpreter: InterpreterRecord,
    os_threads: OsThreads,
    stacks: Vec<ThreadStack>,
}

impl Scene {
    fn dir(&self) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/snapshots")
            .join(self.subdir)
    }

    fn path(&self, label: &str) -> PathBuf {
        self.dir().join(format!("{label}.snap"))
    }

    fn labels(&self) -> BTreeSet<String> {
        match self.tag {
            Some(tag) => labels_tagged(tag).into_iter().collect(),
            None => interpreters().iter().map(|p| p.label.clone()).collect(),
        }
    }

    /// Labels of the fixture files present.
    fn fixtures(&self) -> BTreeSet<String> {
        std::fs::read_dir(self.dir())
            .map(|d| {
                d.filter_map(|e| {
                    let name = e.ok()?.file_name().into_string().ok()?;
                    name.strip_suffix(".snap").map(str::to_string)
                })
                .collect()
            })
            .unwrap_or_default()
    }

    /// Is this the stack the script is known to have? (Checked on record and on replay.)
    fn check(&self, stacks: &[ThreadStack]) -> Result<(), String> {
        let main = stacks
            .iter()
            .find(|t| t.name.as_deref() == Some("MainThread"))
            .ok_or("no MainThread")?;
        let frames: Vec<(&str, u32)> = main.frames.iter().map(|f| (&*f.name, f.line)).collect();
        let module_ok = |f: Option<&(&str, u32)>| f.is_some_and(|f| f.0 == "<module>");
        let ok = if self.script == SHAPE.script {
            let worker = stacks
                .iter()
                .find(|t| t.name.as_deref() == Some("busy-worker"));
            let worker_ok = worker.is_some_and(|w| {
                w.frames.first().map(|f| &*f.name) == Some("spin")
                    && w.frames[0].line >= line_of(self.script, "LINE_SPIN") - 1
            });
            frames.len() == 3
                && frames[0] == ("leaf", line_of(self.script, "LINE_LEAF"))
                && frames[1] == ("middle", line_of(self.script, "LINE_MIDDLE"))
                && module_ok(frames.get(2))
                && worker_ok
                && stacks.len() == 2
        } else {
            let recurse = line_of(self.script, "LINE_RECURSE");
            frames.len() == 100
                && frames[0] == ("recurse", line_of(self.script, "LINE_DEEP_LEAF"))
                && frames[1..99].iter().all(|&f| f == ("recurse", recurse))
                && module_ok(frames.get(99))
                && stacks.len() == 1
        };
        if ok {
            Ok(())
        } else {
            Err(format!("unexpected stacks: {stacks:#?}"))
        }
    }
}

/// Record one fixture: spawn the script, pause the target, take one sample through a recording
/// reader. Retried while the target is still on its way into the known stack.
fn record(scene: &Scene, py: &Python) -> SnapshotReader {
    let (child, _) = Target::spawn(&py.path, scene.script, &[]);
    let target = LiveTarget::open(child.pid() as i32).expect("open target");
    let interp = find_interpreter(&target).expect("find interpreter");
    let mut last = String::new();
    for _ in 0..100 {
        // The OS view first: while paused every thread is in ptrace stop.
        let os = OsThreads {
            pid: target.pid() as u32,
            active: target
                .thread_states()
                .expect("thread states")
                .into_iter()
                .map(|(tid, s)| (tid, s == 'R'))
                .collect(),
        };
        let rec = RecordingReader::new(*target.reader());
        let result = {
            let _paused = target.pause().expect("pause target");
            // Rebuilding through the recorder records the bytes the replay needs (3.13+:
            // `_Py_DebugOffsets`), and proves the record rebuilds the live layout.
            let replayed = Interpreter::from_record(&interp.record(), &rec).expect("from_record");
            assert_eq!(replayed.layout, interp.layout, "{}: layout", py.label);
            Walker::new(&rec, replayed).sample(&os)
        };
        match result.map_err(|e| e.to_string()).and_then(|stacks| {
            scene.check(&stacks)?;
            Ok(stacks)
        }) {
            Ok(stacks) => {
                let meta = Meta {
                    label: py.label.clone(),
                    script: scene.script.into(),
                    interpreter: interp.record(),
                    os_threads: os,
                    stacks,
                };
                let mut snap = rec.into_snapshot();
                snap.set_metadata(serde_json::to_value(&meta).unwrap());
                return snap;
            }
            Err(e) => last = e,
        }
        // The script printed "ready" just before entering the stack we want: give it a moment.
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!(
        "{} {}: never reached the known stack: {last}",
        py.label, scene.script
    );
}

/// With `PYPROBE_BLESS` set, record every fixture, or only those of the labels it lists
/// (once per test run).
fn bless_if_asked() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let Some(asked) = std::env::var_os(BLESS) else {
            return;
        };
        let asked = asked.to_string_lossy().into_owned();
        let only: Option<BTreeSet<&str>> = (asked != "1").then(|| asked.split(',').collect());
        if let Some(only) = &only {
            let known: BTreeSet<&str> = interpreters().iter().map(|p| p.label.as_str()).collect();
            let unknown: Vec<_> = only.difference(&known).collect();
            assert!(
                unknown.is_empty(),
                "{BLESS}={asked}: not interpreter labels: {unknown:?} (use 1 for all)"
            );
        }
        for scene in SCENES {
            std::fs::create_dir_all(scene.dir()).unwrap();
            for label in scene.labels() {
                if only.as_ref().is_some_and(|o| !o.contains(label.as_str())) {
                    continue;
                }
                let py = interpreters()
                    .iter()
                    .find(|p| p.label == label)
                    .unwrap_or_else(|| panic!("{label}: not an interpreter of the harness"));
                let path = scene.path(&label);
                record(scene, py).save(&path).unwrap();
                eprintln!(
                    "recorded {} ({} bytes)",
                    path.display(),
                    std::fs::metadata(&path).unwrap().len()
                );
            }
        }
    });
}

/// Replay one fixture: no process, the recorded bytes only.
fn replay(scene: &Scene, label: &str) -> Result<(), String> {
    let path = scene.path(label);
    let snap = SnapshotReader::load(&path).map_err(|e| e.to_string())?;
    let meta: Meta = serde_json::from_value(snap.metadata().clone()).map_err(|e| e.to_string())?;
    if meta.label != label || meta.script != scene.script {
        return Err(format!("metadata says {} {}", meta.label, meta.script));
    }
    let interp = Interpreter::from_record(&meta.interpreter, &snap).map_err(|e| e.to_string())?;
    if (interp.version.major, interp.version.minor)
        != interpreters()
            .iter()
            .find(|p| p.label == label)
            .map(|p| p.version)
            .ok_or("no such interpreter")?
    {
        return Err(format!("recorded version {}", interp.version));
    }
    let mut walker = Walker::new(snap, interp);
    // Twice: the second sample runs on warm caches and must not change anything.
    for round in ["cold", "warm"] {
        let stacks = walker
            .sample(&meta.os_threads)
            .map_err(|e| format!("{round} replay: {e}"))?;
        if stacks != meta.stacks {
            return Err(format!(
                "{round} replay differs:\n got {stacks:#?}\n expected {:#?}",
                meta.stacks
            ));
        }
    }
    scene.check(&meta.stacks)
}

#[test]
fn snapshots_replay_offline_on_every_version() {
    bless_if_asked();
    let mut failures = Vec::new();
    for scene in SCENES {
        for label in scene.labels() {
            if let Err(e) = replay(scene, &label) {
                failures.push(format!("{}: {e}", scene.path(&label).display()));
            }
        }
    }
    assert!(failures.is_empty(), "failures:\n{}", failures.join("\n"));
}

/// One source of truth: the harness lists the interpreters, and each has exactly one fixture.
#[test]
fn snapshots_match_the_interpreter_list() {
    bless_if_asked();
    let all: BTreeSet<String> = interpreters().iter().map(|p| p.label.clone()).collect();
    for scene in SCENES {
        let want = scene.labels();
        assert!(
            want.is_subset(&all),
            "{}: labels that are no interpreter: {:?}",
            scene.script,
            want.difference(&all).collect::<Vec<_>>()
        );
        let have = scene.fixtures();
        assert_eq!(
            have,
            want,
            "{}: fixtures in {} vs interpreters (record with {BLESS}=1)",
            scene.script,
            scene.dir().display()
        );
    }
}

/// Fixtures stay small: a sample reads kilobytes, not the heap.
#[test]
fn snapshots_are_small() {
    bless_if_asked();
    for scene in SCENES {
        for label in scene.fixtures() {
            let path = scene.path(&label);
            let len = std::fs::metadata(&path).unwrap().len();
            assert!(len < 200 * 1024, "{}: {len} bytes", path.display());
        }
    }
}
