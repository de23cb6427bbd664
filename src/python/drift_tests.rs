//! Patch drift: a patch release may move fields (py-spy #852: 3.14.5 moved `imports.modules`),
//! and a 3.13+ interpreter says where its fields are in `_Py_DebugOffsets`. These tests play
//! such a release on every recorded snapshot of a version that publishes them
//! (tests/fixtures/snapshots): a field is moved — its bytes copied to the new offset in every
//! struct the walk reads, the old place filled with junk — and the new offset is written into
//! the snapshot's `_Py_DebugOffsets`. The walk must give the same stacks as on the recorded
//! image, and the generated table alone (the old offsets) must not.
//!
//! A snapshot holds only the bytes the recorded walk read, so a field can only move where the
//! walk had read bytes already: thread-state and frame fields move to a word of the same struct
//! that no field the walker uses occupies (the walk reads those structs whole). The
//! interpreter state is read a field at a time, so two of its fields trade places instead.
//! https://github.com/python/cpython/blob/v3.14.0/Include/internal/pycore_debug_offsets.h
use std::path::{Path, PathBuf};

use python_versions::Layout;

use super::{Interpreter, InterpreterRecord, OsThreads, Walker};
use crate::process::{ReadExt, SnapshotReader};
use crate::stack::ThreadStack;

/// What the old place of a moved field holds afterwards: neither a pointer into recorded memory
/// nor a thread id, so a walk that still reads it cannot give the recorded stacks.
const JUNK: [u8; 8] = [0x5a; 8];

/// Where a field lives in the target.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Home {
    /// In every thread state, read whole (`thread_state.size` bytes).
    ThreadState,
    /// In every `_PyInterpreterFrame` of every thread's chain, read whole (up to
    /// `localsplus`).
    Frame,
    /// Once, in the main interpreter's state, read field by field.
    Interpreter,
}

/// A published field: its `_Py_DebugOffsets` name, the `Layout` field it overlays, its home.
struct Published {
    name: &'static str,
    field: &'static str,
    home: Home,
    offset: fn(&Layout) -> i64,
}

const NATIVE_THREAD_ID: Published = Published {
    name: "thread_state.native_thread_id",
    field: "ts_native_thread_id",
    home: Home::ThreadState,
    offset: |l| l.ts_native_thread_id,
};
const CURRENT_FRAME: Published = Published {
    name: "thread_state.current_frame",
    field: "ts_current_frame",
    home: Home::ThreadState,
    offset: |l| l.ts_current_frame,
};
const INSTR_PTR: Published = Published {
    name: "interpreter_frame.instr_ptr",
    field: "iframe_instr",
    home: Home::Frame,
    offset: |l| l.iframe_instr,
};
const PREVIOUS: Published = Published {
    name: "interpreter_frame.previous",
    field: "iframe_previous",
    home: Home::Frame,
    offset: |l| l.iframe_previous,
};
const THREADS_HEAD: Published = Published {
    name: "interpreter_state.threads_head",
    field: "interp_threads_head",
    home: Home::Interpreter,
    offset: |l| l.interp_threads_head,
};
const MODULES: Published = Published {
    name: "interpreter_state.imports_modules",
    field: "interp_modules",
    home: Home::Interpreter,
    offset: |l| l.interp_modules,
};

/// The byte ranges the walker reads in a struct of `home`: a field may move only to a word
/// outside all of them.
fn used(l: &Layout, home: Home) -> Vec<(i64, i64)> {
    let words = |fields: &[i64]| -> Vec<(i64, i64)> {
        fields
            .iter()
            .filter(|&&f| Layout::has(f))
            .map(|&f| (f, f + 8))
            .collect()
    };
    match home {
        Home::ThreadState => words(&[
            l.ts_next,
            l.ts_interp,
            l.ts_thread_id,
            l.ts_native_thread_id,
            l.ts_current_frame,
            l.ts_base_frame,
            l.ts_datastack_chunk,
        ]),
        Home::Frame => {
            let mut used = words(&[l.iframe_previous, l.iframe_code, l.iframe_instr]);
            used.push((l.iframe_owner, l.iframe_owner + 1));
            used
        }
        Home::Interpreter => words(&[
            l.interp_next,
            l.interp_threads_head,
            l.interp_modules,
            l.interp_ceval_gil,
        ]),
    }
}

/// The first 8-aligned word after `from` (else before it) inside a struct of `size` bytes that
/// overlaps none of `used`.
fn free_word(used: &[(i64, i64)], size: i64, from: i64) -> i64 {
    let free = |at: i64| used.iter().all(|&(s, e)| at + 8 <= s || e <= at);
    let words = (0..size / 8).map(|w| w * 8);
    words
        .clone()
        .filter(|&at| at > from)
        .chain(words.filter(|&at| at < from))
        .find(|&at| free(at))
        .unwrap_or_else(|| panic!("no free word in a {size}-byte struct: {used:?}"))
}

/// A recorded snapshot of a version that publishes its layout.
struct Fixture {
    name: String,
    snap: SnapshotReader,
    record: InterpreterRecord,
    os: OsThreads,
    /// What the recorded live sample produced.
    stacks: Vec<ThreadStack>,
}

impl Fixture {
    fn load(path: &Path) -> Fixture {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let snap = SnapshotReader::load(path).unwrap_or_else(|e| panic!("{name}: {e}"));
        let meta = snap.metadata().clone();
        Fixture {
            record: serde_json::from_value(meta["interpreter"].clone()).expect("record"),
            os: serde_json::from_value(meta["os_threads"].clone()).expect("os threads"),
            stacks: serde_json::from_value(meta["stacks"].clone()).expect("stacks"),
            name,
            snap,
        }
    }

    /// Every top-level fixture whose interpreter publishes `_Py_DebugOffsets` (3.13+): a new
    /// version's fixture is drifted without a line here.
    fn publishing() -> Vec<Fixture> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/snapshots");
        let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "snap"))
            .collect();
        paths.sort();
        paths
            .iter()
            .map(|p| Fixture::load(p))
            .filter(|fx| {
                let v = super::Version::parse_prefix(&fx.record.version).expect("version");
                python_versions::layout_for(v.major, v.minor)
                    .is_some_and(|l| !l.debug_offsets.is_empty())
            })
            .collect()
    }

    fn interpreter(&self, image: &SnapshotReader) -> Interpreter {
        Interpreter::from_record(&self.record, image)
            .unwrap_or_else(|e| panic!("{}: rebuilding: {e}", self.name))
    }

    /// The structs of `home` the walk reads, found with the recorded layout.
    fn homes(&self, l: &Layout, home: Home) -> Vec<u64> {
        let r = &self.snap;
        let interp = self.record.interp_addr;
        if home == Home::Interpreter {
            return vec![interp];
        }
        let mut tstates = Vec::new();
        let mut tstate = r.read_u64(interp + l.interp_threads_head as u64).unwrap();
        while tstate != 0 {
            tstates.push(tstate);
            tstate = r.read_u64(tstate + l.ts_next as u64).unwrap();
        }
        if home == Home::ThreadState {
            return tstates;
        }
        let mut frames = Vec::new();
        for tstate in tstates {
            // 3.15: the chain ends at the thread's base frame, which the walk does not read.
            let base = if Layout::has(l.ts_base_frame) {
                r.read_u64(tstate + l.ts_base_frame as u64).unwrap()
            } else {
                0
            };
            let mut frame = r.read_u64(tstate + l.ts_current_frame as u64).unwrap();
            while frame != 0 && frame != base {
                frames.push(frame);
                frame = r.read_u64(frame + l.iframe_previous as u64).unwrap();
            }
        }
        frames
    }
}

/// Where each of `fields` goes: thread-state and frame fields to a free word of their struct,
/// interpreter fields to each other's place. `(field, old offset, new offset)`.
fn plan<'a>(l: &Layout, fields: &[&'a Published]) -> Vec<(&'a Published, i64, i64)> {
    let mut moves = Vec::new();
    let mut taken: Vec<(Home, Vec<(i64, i64)>)> = Vec::new();
    for &f in fields.iter().filter(|f| f.home != Home::Interpreter) {
        let from = (f.offset)(l);
        let size = if f.home == Home::ThreadState {
            l.ts_size
        } else {
            l.iframe_size
        };
        let i = match taken.iter().position(|(h, _)| *h == f.home) {
            Some(i) => i,
            None => {
                taken.push((f.home, used(l, f.home)));
                taken.len() - 1
            }
        };
        let to = free_word(&taken[i].1, size, from);
        taken[i].1.push((to, to + 8));
        moves.push((f, from, to));
    }
    let pair: Vec<&Published> = fields
        .iter()
        .copied()
        .filter(|f| f.home == Home::Interpreter)
        .collect();
    match pair[..] {
        [] => {}
        [a, b] => {
            let (x, y) = ((a.offset)(l), (b.offset)(l));
            moves.extend([(a, x, y), (b, y, x)]);
        }
        _ => panic!("interpreter fields trade places in pairs"),
    }
    moves
}

/// The recorded image with `fields` moved as a patch release would move them, and the
/// `(Layout field, offset in the table, new offset)` of each move.
fn drift(fx: &Fixture, fields: &[&Published]) -> (SnapshotReader, Vec<(String, i64, i64)>) {
    let l = fx.interpreter(&fx.snap).layout;
    let table = python_versions::layout_for(l.version.0, l.version.1).expect("table");
    let runtime = fx.record.runtime_addr.expect("3.13+ has _PyRuntime");
    let moves = plan(&l, fields);
    // (old address, new address, value) of every copy, read from the recorded image before
    // anything is written: fields that trade places must not read each other's junk.
    let mut copies = Vec::new();
    for &(f, from, to) in &moves {
        let homes = fx.homes(&l, f.home);
        assert!(
            !homes.is_empty(),
            "{}: no {:?} holds {}",
            fx.name,
            f.home,
            f.name
        );
        for at in homes {
            let (old, new) = (at + from as u64, at + to as u64);
            assert!(
                fx.snap.get(new, 8).is_some(),
                "{}: {} would move to memory the recording did not read",
                fx.name,
                f.name
            );
            let value = fx.snap.get(old, 8).expect("the walk read the field");
            copies.push((old, new, value.to_vec()));
        }
    }
    let mut image = fx.snap.clone();
    for (old, _, _) in &copies {
        image.insert(*old, &JUNK);
    }
    for (_, new, value) in &copies {
        image.insert(*new, value);
    }
    for &(f, _, to) in &moves {
        let at = table
            .debug_offset(f.name)
            .unwrap_or_else(|| panic!("{:?} does not publish {}", l.version, f.name));
        image.insert(runtime + at as u64, &(to as u64).to_le_bytes());
    }
    let moved = moves
        .iter()
        .map(|&(f, _, to)| (f.field.to_string(), (f.offset)(table), to))
        .collect();
    (image, moved)
}

/// Walk `image` with the layout it publishes: the recorded stacks, and the drift reported.
fn assert_walks_the_same(fx: &Fixture, fields: &[&Published]) {
    let (image, moved) = drift(fx, fields);
    let what = format!("{}: {moved:?}", fx.name);
    // A recording may already drift from the table (Debian's 3.13 publishes a thread state 8
    // bytes larger than the 3.13.0 headers the table comes from): that drift stays reported.
    let recorded = fx.interpreter(&fx.snap).layout_drift;
    let interp = fx.interpreter(&image);
    let mut reported = interp.layout_drift.clone();
    reported.sort();
    let mut expected: Vec<String> = recorded
        .into_iter()
        .filter(|d| {
            moved
                .iter()
                .all(|(field, ..)| !d.starts_with(&format!("{field}:")))
        })
        .chain(
            moved
                .iter()
                .map(|(field, table, to)| format!("{field}: table {table} → target {to}")),
        )
        .collect();
    expected.sort();
    assert_eq!(reported, expected, "{what}");
    let stacks = Walker::new(&image, interp)
        .sample(&fx.os)
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_eq!(stacks, fx.stacks, "{what}");
    // The table's offsets now point at junk or at another field: without the published
    // layout the same image does not walk to the same stacks.
    let table_only = fx.interpreter(&fx.snap);
    let stale = Walker::new(&image, table_only).sample(&fx.os);
    assert!(
        stale.as_ref().ok() != Some(&fx.stacks),
        "{what}: the move changed nothing"
    );
}

#[test]
fn recorded_images_walk_as_recorded() {
    let fixtures = Fixture::publishing();
    let labels: Vec<&str> = fixtures.iter().map(|f| f.name.as_str()).collect();
    for version in ["3.13", "3.14", "3.15"] {
        assert!(
            labels
                .iter()
                .any(|l| l.ends_with(version) || l.contains(&format!("{version}."))),
            "no {version} fixture among {labels:?}"
        );
    }
    for fx in &fixtures {
        let stacks = Walker::new(&fx.snap, fx.interpreter(&fx.snap))
            .sample(&fx.os)
            .unwrap();
        assert_eq!(stacks, fx.stacks, "{}", fx.name);
        assert!(stacks.iter().all(|s| !s.frames.is_empty()), "{}", fx.name);
    }
}

#[test]
fn a_moved_thread_state_field_is_read_where_the_target_says() {
    for fx in &Fixture::publishing() {
        assert_walks_the_same(fx, &[&NATIVE_THREAD_ID]);
        assert_walks_the_same(fx, &[&CURRENT_FRAME]);
    }
}

#[test]
fn a_moved_frame_field_is_read_where_the_target_says() {
    for fx in &Fixture::publishing() {
        assert_walks_the_same(fx, &[&INSTR_PTR]);
        assert_walks_the_same(fx, &[&PREVIOUS]);
    }
}

#[test]
fn interpreter_fields_that_trade_places_are_read_where_the_target_says() {
    for fx in &Fixture::publishing() {
        assert_walks_the_same(fx, &[&THREADS_HEAD, &MODULES]);
    }
}

#[test]
fn many_fields_moved_at_once() {
    for fx in &Fixture::publishing() {
        assert_walks_the_same(
            fx,
            &[
                &NATIVE_THREAD_ID,
                &CURRENT_FRAME,
                &INSTR_PTR,
                &PREVIOUS,
                &THREADS_HEAD,
                &MODULES,
            ],
        );
    }
}

#[test]
fn a_free_word_avoids_every_used_range() {
    // A 64-byte struct with words 8 and 24 used and a byte at 41.
    let used = [(8, 16), (24, 32), (41, 42)];
    assert_eq!(free_word(&used, 64, 8), 16);
    assert_eq!(free_word(&used, 64, 24), 32);
    assert_eq!(free_word(&used, 64, 32), 48);
    assert_eq!(free_word(&used, 64, 56), 0);
}
