//! Robustness: walk randomly corrupted copies of the recorded snapshots
//! (tests/fixtures/snapshots). A live target's memory can change under any read, so every
//! pointer, length and offset the walker reads may be garbage: it must answer Ok or Err, never
//! panic (slicing, overflow, capacity), allocate without bound, or loop forever.
//!
//! Deterministic: a fixed xorshift seed per fixture, so a failure names an iteration that
//! reproduces.
use std::cell::RefCell;
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use super::{Interpreter, InterpreterRecord, OsThreads, Walker};
use crate::error::Error;
use crate::error::Result;
use crate::process::{MemoryReader, ReadExt, SnapshotReader};
use crate::rng::XorShift;

/// One fixture per frame-walk family (the interpreters tagged `family` in
/// tests/interpreters.txt), plus deep stacks of heap frames and of data-stack chunks (long
/// frame chains).
fn fixtures() -> Vec<String> {
    let mut names = super::interpreter_list::labels_tagged("family");
    names.extend([
        "deep_100/pyenv-3.9.18".into(),
        "deep_100/pyenv-3.11.7".into(),
    ]);
    names
}

/// Corrupted walks per fixture; `PYPROBE_MUTATIONS=N` runs more (a longer hunt, same seeds).
const ITERATIONS: u32 = 400;

/// Longest a single corrupted walk may take before the test calls it a hang.
const HANG: Duration = Duration::from_secs(20);

/// A reader whose image can be swapped under a warm walker (its caches built on clean memory).
struct Swappable<'a>(&'a RefCell<SnapshotReader>);

impl MemoryReader for Swappable<'_> {
    fn read_into(&self, addr: u64, buf: &mut [u8]) -> Result<()> {
        self.0.borrow().read_into(addr, buf)
    }
}

/// A loaded fixture and the facts the mutator aims with.
struct Fixture {
    name: String,
    snap: SnapshotReader,
    record: InterpreterRecord,
    os: OsThreads,
    /// (start, len) of every region, for picking a random recorded byte.
    regions: Vec<(u64, u64)>,
    total: u64,
    /// Addresses of aligned words whose value points into recorded memory: the pointers.
    pointers: Vec<u64>,
}

impl Fixture {
    fn load(name: &str) -> Fixture {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/snapshots")
            .join(format!("{name}.snap"));
        let snap = SnapshotReader::load(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        let meta = snap.metadata();
        let record = serde_json::from_value(meta["interpreter"].clone()).expect("record");
        let os = serde_json::from_value(meta["os_threads"].clone()).expect("os threads");
        let regions: Vec<(u64, u64)> = snap.regions().map(|(a, b)| (a, b.len() as u64)).collect();
        let total = regions.iter().map(|r| r.1).sum();
        let mut pointers = Vec::new();
        for (start, bytes) in snap.regions() {
            let first = start.next_multiple_of(8);
            let mut at = first;
            while at + 8 <= start + bytes.len() as u64 {
                let off = (at - start) as usize;
                let v = u64::from_le_bytes(bytes[off..off + 8].try_into().unwrap());
                if v != 0 && snap.get(v, 1).is_some() {
                    pointers.push(at);
                }
                at += 8;
            }
        }
        Fixture {
            name: name.into(),
            snap,
            record,
            os,
            regions,
            total,
            pointers,
        }
    }

    /// A random recorded address.
    fn any_addr(&self, rng: &mut XorShift) -> u64 {
        let mut pick = rng.below(self.total);
        for &(start, len) in &self.regions {
            if pick < len {
                return start + pick;
            }
            pick -= len;
        }
        self.regions[0].0
    }

    /// A random pointer word if there are any, else a random address.
    fn target_word(&self, rng: &mut XorShift) -> u64 {
        if !self.pointers.is_empty() && rng.below(4) != 0 {
            self.pointers[rng.below(self.pointers.len() as u64) as usize]
        } else {
            self.any_addr(rng) & !7
        }
    }

    /// A corrupted copy and a description of what was done to it.
    fn mutate(&self, rng: &mut XorShift) -> (SnapshotReader, String) {
        let mut snap = self.snap.clone();
        let mut what = Vec::new();
        for _ in 0..1 + rng.below(6) {
            let word = self.target_word(rng);
            let (addr, bytes, desc): (u64, Vec<u8>, String) = match rng.below(6) {
                0 => {
                    let at = self.any_addr(rng);
                    let old = snap.get(at, 1).map_or(0, |b| b[0]);
                    let new = old ^ (1 + rng.below(255) as u8);
                    (at, vec![new], format!("flip {at:#x}"))
                }
                1 => (word, vec![0; 8], format!("zero {word:#x}")),
                2 => {
                    // Point at another pointer's slot, or at itself: cycles and type confusion.
                    let to = if rng.below(3) == 0 {
                        word
                    } else {
                        self.target_word(rng)
                    };
                    (
                        word,
                        to.to_le_bytes().to_vec(),
                        format!("{word:#x} -> {to:#x}"),
                    )
                }
                3 => {
                    let extreme = [
                        u64::MAX,
                        u64::MAX - 7,
                        1 << 63,
                        (1 << 47) - 8,
                        0xffff_ffff,
                        0x7fff_ffff,
                        0x8000_0000,
                        1,
                    ][rng.below(8) as usize];
                    (
                        word,
                        extreme.to_le_bytes().to_vec(),
                        format!("{word:#x} = {extreme:#x}"),
                    )
                }
                4 => {
                    // Off by a small amount: a pointer into the middle of an object.
                    let old = snap
                        .get(word, 8)
                        .map_or(0, |b| u64::from_le_bytes(b.try_into().expect("8 bytes")));
                    let new = old.wrapping_add(rng.below(64)).wrapping_sub(32);
                    (word, new.to_le_bytes().to_vec(), format!("nudge {word:#x}"))
                }
                _ => {
                    let at = self.any_addr(rng);
                    let n = 1 + rng.below(64) as usize;
                    let junk: Vec<u8> = (0..n).map(|_| rng.next_u64() as u8).collect();
                    (at, junk, format!("junk {at:#x}+{n}"))
                }
            };
            snap.insert(addr, &bytes);
            what.push(desc);
        }
        (snap, what.join(", "))
    }
}

/// Walk `ITERATIONS` corrupted copies of one fixture, cold (new walker) and warm (caches built
/// on the clean image). Returns the panics seen.
fn torture(fx: &Fixture, progress: &mpsc::Sender<String>) -> Vec<String> {
    let iterations = std::env::var("PYPROBE_MUTATIONS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(ITERATIONS);
    let seed = std::env::var("PYPROBE_MUTATION_SEED")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0x9e37_79b9_7f4a_7c15u64);
    let mut rng = XorShift::new(seed ^ fx.name.len() as u64 ^ (fx.total << 20));
    let mut panics = Vec::new();
    let clean = Interpreter::from_record(&fx.record, &fx.snap).expect("clean fixture rebuilds");
    for i in 0..iterations {
        let (bad, what) = fx.mutate(&mut rng);
        let label = format!("{} iteration {i}: {what}", fx.name);
        progress.send(label.clone()).ok();
        let warm = i % 2 == 1;
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            if warm {
                let cell = RefCell::new(fx.snap.clone());
                let mut walker = Walker::new(Swappable(&cell), clean.clone());
                walker.sample(&fx.os).expect("clean fixture walks");
                *cell.borrow_mut() = bad;
                let _ = walker.sample(&fx.os);
                let _ = walker.sample(&fx.os);
            } else if let Ok(interp) = Interpreter::from_record(&fx.record, &bad) {
                let mut walker = Walker::new(&bad, interp);
                let _ = walker.sample(&fx.os);
            }
        }));
        if let Err(payload) = outcome {
            let msg = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            panics.push(format!("{label}: {msg}"));
        }
    }
    panics
}

#[test]
fn corrupted_snapshots_never_panic_or_hang() {
    let fixtures: Vec<Fixture> = fixtures().iter().map(|n| Fixture::load(n)).collect();
    let (tx, rx) = mpsc::channel();
    let worker = std::thread::spawn(move || {
        let mut panics = Vec::new();
        for fx in &fixtures {
            panics.extend(torture(fx, &tx));
        }
        panics
    });
    let mut last = String::from("(start)");
    loop {
        match rx.recv_timeout(HANG) {
            Ok(label) => last = label,
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                panic!("walk did not finish within {HANG:?}: {last}")
            }
        }
    }
    let panics = worker.join().expect("torture thread");
    assert!(
        panics.is_empty(),
        "{} corrupted walks panicked:\n{}",
        panics.len(),
        panics.join("\n")
    );
}

/// 3.15: a chain that ends at an entry frame but not at the thread's base frame was cut (its
/// bottom entry frame's `previous` read stale). The entry-frame rule of 3.12–3.14 cannot see
/// it; the base frame can.
#[test]
fn a_chain_cut_above_the_base_frame_is_refused() {
    let fx = Fixture::load("debian-3.15");
    let interp = Interpreter::from_record(&fx.record, &fx.snap).expect("rebuilds");
    let l = interp.layout;
    Walker::new(&fx.snap, interp.clone())
        .sample(&fx.os)
        .expect("clean fixture walks");
    let r = &fx.snap;
    let tstate = r
        .read_u64(interp.interp_addr + l.interp_threads_head as u64)
        .unwrap();
    let base = r.read_u64(tstate + l.ts_base_frame as u64).unwrap();
    let mut frame = r.read_u64(tstate + l.ts_current_frame as u64).unwrap();
    let previous = |f: u64| r.read_u64(f + l.iframe_previous as u64).unwrap();
    while previous(frame) != base {
        frame = previous(frame);
    }
    let owner = r.get(frame + l.iframe_owner as u64, 1).unwrap()[0];
    assert_eq!(
        i64::from(owner),
        l.frame_owned_by_interpreter,
        "an entry frame"
    );
    let mut cut = fx.snap.clone();
    cut.insert(frame + l.iframe_previous as u64, &0u64.to_le_bytes());
    let err = Walker::new(&cut, interp).sample(&fx.os).unwrap_err();
    assert!(
        matches!(&err, Error::Invalid(m) if m.contains("base frame")),
        "{err}"
    );
}
