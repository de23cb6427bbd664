//! Stacks that move while a sample copies them, on the recorded snapshots
//! (tests/fixtures/snapshots): the walker must notice a top frame replaced, or a top pointer
//! moved, between its two looks at the top, and must not flag a stack that held still.
use std::cell::{Cell, RefCell};
use std::path::Path;

use python_versions::Layout;

use super::{Interpreter, InterpreterRecord, OsThreads, Walker};
use crate::error::Result;
use crate::process::{MemoryReader, ReadExt, SnapshotReader};

/// One fixture per frame-walk family: the interpreters tagged `family` in
/// tests/interpreters.txt.
fn fixtures() -> Vec<String> {
    super::interpreter_list::labels_tagged("family")
}

fn load(name: &str) -> (SnapshotReader, Interpreter, OsThreads) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/snapshots")
        .join(format!("{name}.snap"));
    let snap = SnapshotReader::load(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
    let meta = snap.metadata();
    let record: InterpreterRecord =
        serde_json::from_value(meta["interpreter"].clone()).expect("record");
    let os = serde_json::from_value(meta["os_threads"].clone()).expect("os threads");
    let interp = Interpreter::from_record(&record, &snap).expect("rebuilds");
    (snap, interp, os)
}

/// The first thread's top-frame pointer slot, its top frame, and that frame's caller.
fn top_of(snap: &SnapshotReader, interp: &Interpreter) -> (u64, u64, u64) {
    let l = &interp.layout;
    let tstate = snap
        .read_u64(interp.interp_addr + l.interp_threads_head as u64)
        .unwrap();
    let slot = if Layout::has(l.ts_frame) {
        tstate + l.ts_frame as u64
    } else if Layout::has(l.ts_current_frame) {
        tstate + l.ts_current_frame as u64
    } else {
        snap.read_u64(tstate + l.ts_cframe as u64).unwrap() + l.cframe_current_frame as u64
    };
    let top = snap.read_u64(slot).unwrap();
    let back = if Layout::has(l.ts_frame) {
        l.frame_back
    } else {
        l.iframe_previous
    };
    (slot, top, snap.read_u64(top + back as u64).unwrap())
}

/// The fixture's memory, changed once while a sample reads it: after the first read that
/// covers `armed_by`, the next read of the pointer `slot` first writes `value` at `at`: the
/// target made a call (or returned) between the walker's copy of the top and its second look.
struct Moving {
    snap: RefCell<SnapshotReader>,
    armed_by: u64,
    slot: u64,
    at: u64,
    value: u64,
    armed: Cell<bool>,
    fired: Cell<bool>,
}

impl MemoryReader for Moving {
    fn read_into(&self, addr: u64, buf: &mut [u8]) -> Result<()> {
        if self.armed.get() && !self.fired.get() && addr == self.slot {
            self.fired.set(true);
            self.snap
                .borrow_mut()
                .insert(self.at, &self.value.to_le_bytes());
        }
        if addr <= self.armed_by && self.armed_by < addr + buf.len() as u64 {
            self.armed.set(true);
        }
        self.snap.borrow().read_into(addr, buf)
    }
}

fn walk(reader: Moving, interp: &Interpreter, os: &OsThreads) -> (bool, bool) {
    let mut walker = Walker::new(&reader, interp.clone());
    let _ = walker.sample(os);
    (walker.stack_moved(), reader.fired.get())
}

#[test]
fn a_stack_that_holds_still_is_not_flagged() {
    for name in &fixtures() {
        let (snap, interp, os) = load(name);
        let mut walker = Walker::new(&snap, interp);
        walker.sample(&os).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!walker.stack_moved(), "{name}: flagged a still stack");
    }
}

#[test]
fn a_top_pointer_that_moves_between_the_looks_is_flagged() {
    for name in &fixtures() {
        let (snap, interp, os) = load(name);
        let (slot, top, caller) = top_of(&snap, &interp);
        let code = if Layout::has(interp.layout.ts_frame) {
            interp.layout.frame_code
        } else {
            interp.layout.iframe_code
        };
        // The top frame returns while it is copied: the pointer now names its caller.
        let reader = Moving {
            snap: RefCell::new(snap),
            armed_by: top + code as u64,
            slot,
            at: slot,
            value: caller,
            armed: Cell::new(false),
            fired: Cell::new(false),
        };
        let (moved, fired) = walk(reader, &interp, &os);
        assert!(fired, "{name}: the walk never looked at the top twice");
        assert!(moved, "{name}: a return during the copy went unnoticed");
    }
}

#[test]
fn a_new_call_at_the_same_address_is_flagged() {
    // 3.11+: frames live in the data stack, so the next call reuses the returned frame's
    // address: the pointer reads the same both times, only the frame's contents tell.
    for name in fixtures()
        .iter()
        .filter(|n| !n.contains("2.7") && !n.contains("3.6"))
    {
        let (snap, interp, os) = load(name);
        let l = interp.layout;
        if Layout::has(l.ts_frame) {
            continue;
        }
        let (slot, top, caller) = top_of(&snap, &interp);
        let caller_code = snap.read_u64(caller + l.iframe_code as u64).unwrap();
        let reader = Moving {
            snap: RefCell::new(snap),
            armed_by: top + l.iframe_code as u64,
            slot,
            at: top + l.iframe_code as u64,
            value: caller_code,
            armed: Cell::new(false),
            fired: Cell::new(false),
        };
        let (moved, fired) = walk(reader, &interp, &os);
        assert!(fired, "{name}: the walk never looked at the top twice");
        assert!(
            moved,
            "{name}: another call at the top's address went unnoticed"
        );
    }
}
