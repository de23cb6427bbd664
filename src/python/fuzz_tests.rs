//! Property tests (proptest) that feed random and mutated input to everything that parses what
//! comes from the target: the ELF/symbol reader, the line-table decoders, the published
//! `_Py_DebugOffsets`, and the stack walker over random memory images. Each must answer Ok or
//! Err: never panic, never hang, never allocate without bound.
//!
//! Bounded and deterministic in `cargo test` (a fixed seed, a few hundred cases each, the whole
//! module in seconds). A longer hunt: `PROPTEST_CASES=20000 PROPTEST_RNG_SEED=N cargo test
//! --lib fuzz_tests`; a failure prints the shrunk input.
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestRunner};

use super::debug_offsets;
use super::linetable::{line_for, LineTableFormat};
use super::{Interpreter, InterpreterRecord, OsThreads, Walker};
use crate::error::Error;
use crate::process::{ElfFile, SnapshotReader};
use crate::rng::XorShift;

/// Longest one property may run (all its cases) before it counts as a hang.
const HANG: Duration = Duration::from_secs(120);

/// Default seed: CI runs the same cases every time; `PROPTEST_RNG_SEED` picks others.
const SEED: u64 = 0x7079_7072_6f62_6531;

/// A runner with `cases` cases (unless `PROPTEST_CASES` says otherwise), a fixed seed (unless
/// `PROPTEST_RNG_SEED` says otherwise), and no regression files written into the source tree.
fn runner(cases: u32) -> TestRunner {
    let mut config = Config {
        failure_persistence: None,
        // Shrinking a walk over a big image is slow; a bounded shrink still gives a small case.
        max_shrink_iters: 2_000,
        ..Config::default()
    };
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = cases;
    }
    if std::env::var_os("PROPTEST_RNG_SEED").is_none() {
        config.rng_seed = RngSeed::Fixed(SEED);
    }
    TestRunner::new(config)
}

/// Run `body` on another thread and fail if it does not finish within [`HANG`] (proptest's own
/// timeout needs its `fork` feature; a thread is enough to tell a hang from a result).
fn within_time_limit(name: &str, body: impl FnOnce() + Send + 'static) {
    let (tx, rx) = mpsc::channel();
    let handle = std::thread::spawn(move || {
        body();
        let _ = tx.send(());
    });
    match rx.recv_timeout(HANG) {
        Ok(()) => handle.join().expect("property thread"),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            // The body panicked (a failed property): show its message.
            if let Err(panic) = handle.join() {
                std::panic::resume_unwind(panic);
            }
        }
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("{name}: no result within {HANG:?}"),
    }
}

/// Run one property, turning a failure (with its shrunk input) into a test panic.
fn check<S: Strategy>(
    name: &str,
    cases: u32,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) {
    if let Err(e) = runner(cases).run(&strategy, test) {
        panic!("{name}: {e}");
    }
}

/// A panic inside `f` as a property failure (proptest catches panics too, but this names them).
fn no_panic<T>(what: &str, f: impl FnOnce() -> T) -> Result<T, TestCaseError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        .map_err(|_| TestCaseError::fail(format!("{what} panicked")))
}

// ---------------------------------------------------------------------------------------------
// ELF and symbols

/// Exercise every lookup of a parsed file (they slice the file's bytes with header values).
fn use_elf(elf: &ElfFile) {
    let _ = elf.symbols().count();
    let _ = elf.find_symbol("_PyRuntime");
    let _ = elf.first_load_vaddr();
    let names: Vec<String> = elf.sections().iter().map(|s| s.name.clone()).collect();
    for name in &names {
        let _ = elf.section_bytes(name);
        let _ = elf.find_bytes_in_section(name, b"3.11");
    }
    let _ = elf.find_bytes(b"_PyRuntime");
}

/// The outcome of parsing `bytes`: Ok, or an `Error::Binary`; anything else fails.
fn parse_checked(bytes: Vec<u8>) -> Result<(), TestCaseError> {
    let parsed = no_panic("ElfFile::parse", || {
        ElfFile::parse(Path::new("fuzz.elf"), bytes)
    })?;
    match parsed {
        Ok(elf) => no_panic("lookups on a parsed ELF", || use_elf(&elf)),
        Err(Error::Binary { .. }) => Ok(()),
        Err(other) => Err(TestCaseError::fail(format!("not Error::Binary: {other:?}"))),
    }
}

#[test]
fn elf_parser_random_bytes() {
    within_time_limit("elf random", || {
        // Random bytes, and random bytes behind a valid ELF magic and class (so the parser gets
        // past the first check and reads header fields that are pure noise).
        let strategy = (
            proptest::collection::vec(any::<u8>(), 0..2048),
            any::<bool>(),
        )
            .prop_map(|(mut bytes, magic)| {
                if magic && bytes.len() >= 6 {
                    bytes[..6].copy_from_slice(b"\x7fELF\x02\x01");
                }
                bytes
            });
        check("elf random", 600, strategy, parse_checked);
    });
}

/// The byte ranges of a real ELF that a parser trusts: the header, the program and section
/// header tables, and the symbol and string tables.
fn interesting_ranges(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut ranges = vec![(0, 64.min(bytes.len()))];
    if let Ok(elf) = goblin::elf::Elf::parse(bytes) {
        let h = &elf.header;
        let ph = h.e_phoff as usize;
        ranges.push((ph, ph + usize::from(h.e_phnum) * usize::from(h.e_phentsize)));
        let sh = h.e_shoff as usize;
        ranges.push((sh, sh + usize::from(h.e_shnum) * usize::from(h.e_shentsize)));
        for s in &elf.section_headers {
            let name = elf.shdr_strtab.get_at(s.sh_name).unwrap_or("");
            if matches!(
                name,
                ".dynsym" | ".dynstr" | ".symtab" | ".strtab" | ".shstrtab" | ".dynamic"
            ) {
                let start = s.sh_offset as usize;
                ranges.push((start, start + s.sh_size as usize));
            }
        }
    }
    ranges
        .into_iter()
        .map(|(s, e)| (s.min(bytes.len()), e.min(bytes.len())))
        .filter(|(s, e)| s < e)
        .collect()
}

/// One edit of a real ELF: (which interesting range, where in it, what to write).
#[derive(Debug, Clone)]
enum ElfEdit {
    /// Overwrite one byte.
    Byte(usize, usize, u8),
    /// Overwrite a little-endian word (an offset, a size, a count) with an extreme value.
    Word(usize, usize, u64, usize),
}

fn elf_edit() -> impl Strategy<Value = ElfEdit> {
    let extreme = prop_oneof![
        Just(0u64),
        Just(u64::MAX),
        Just(u64::from(u32::MAX)),
        Just(0x8000_0000),
        Just(0xffff),
        any::<u64>(),
        0u64..0x1_0000,
    ];
    prop_oneof![
        (any::<usize>(), any::<usize>(), any::<u8>()).prop_map(|(r, o, b)| ElfEdit::Byte(r, o, b)),
        (
            any::<usize>(),
            any::<usize>(),
            extreme,
            prop_oneof![Just(2usize), Just(4), Just(8)]
        )
            .prop_map(|(r, o, v, w)| ElfEdit::Word(r, o, v, w)),
    ]
}

fn apply(bytes: &mut [u8], ranges: &[(usize, usize)], edit: &ElfEdit) {
    let (r, o) = match *edit {
        ElfEdit::Byte(r, o, _) | ElfEdit::Word(r, o, _, _) => (r, o),
    };
    let (start, end) = ranges[r % ranges.len()];
    let at = start + o % (end - start);
    match *edit {
        ElfEdit::Byte(_, _, b) => bytes[at] = b,
        ElfEdit::Word(_, _, v, width) => {
            let n = width.min(bytes.len() - at);
            bytes[at..at + n].copy_from_slice(&v.to_le_bytes()[..n]);
        }
    }
}

#[test]
fn elf_parser_mutated_real_binary() {
    let seed_path = Path::new("/bin/true");
    let Ok(original) = std::fs::read(seed_path) else {
        eprintln!("skipping: no {} to mutate", seed_path.display());
        return;
    };
    assert!(ElfFile::parse(seed_path, original.clone()).is_ok());
    within_time_limit("elf mutated", move || {
        let ranges = interesting_ranges(&original);
        let len = original.len();
        let strategy = (
            proptest::collection::vec(elf_edit(), 1..12),
            proptest::option::weighted(0.2, 0..len),
        );
        check("elf mutated", 500, strategy, |(edits, truncate)| {
            let mut bytes = original.clone();
            for e in &edits {
                apply(&mut bytes, &ranges, e);
            }
            if let Some(n) = truncate {
                bytes.truncate(n);
            }
            parse_checked(bytes)
        });
    });
}

// ---------------------------------------------------------------------------------------------
// Line tables

fn any_format() -> impl Strategy<Value = LineTableFormat> {
    prop_oneof![
        Just(LineTableFormat::LnotabUnsigned),
        Just(LineTableFormat::LnotabSigned),
        Just(LineTableFormat::Linetable310),
        Just(LineTableFormat::Locations311),
    ]
}

/// Bytes shaped like 3.11+ location entries (a header byte with the top bit set, then
/// varints), so the decoder goes deep instead of stopping at the first byte.
fn location_like() -> impl Strategy<Value = Vec<u8>> {
    let entry = (
        0u8..16,
        0u8..8,
        proptest::collection::vec(any::<u8>(), 0..6),
    )
        .prop_map(|(code, len, tail)| {
            let mut v = vec![0x80 | (code << 3) | len];
            v.extend(tail);
            v
        });
    proptest::collection::vec(entry, 0..200).prop_map(|e| e.concat())
}

#[test]
fn line_tables_random() {
    within_time_limit("line tables", || {
        let table = prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..600),
            location_like(),
        ];
        let addr = prop_oneof![any::<u64>(), 0u64..4096];
        let strategy = (any_format(), table, any::<i32>(), addr);
        check(
            "line tables",
            3000,
            strategy,
            |(format, table, first, addr)| {
                no_panic("line_for", || line_for(format, &table, first, addr)).map(|_| ())
            },
        );
    });
}

#[test]
fn line_tables_empty_give_the_first_line_or_none() {
    check(
        "empty tables",
        300,
        (any_format(), 0i32..1_000_000, any::<u64>()),
        |(format, first, addr)| {
            let line = line_for(format, &[], first, addr);
            let expected = match format {
                LineTableFormat::LnotabSigned | LineTableFormat::LnotabUnsigned => {
                    Some(first as u32)
                }
                _ => None,
            };
            prop_assert_eq!(line, expected);
            Ok(())
        },
    );
}

// ---------------------------------------------------------------------------------------------
// The walker over random memory

/// One fixture per frame-walk family (heap frames, data-stack chunks, 3.12 shims, 3.13
/// `_Py_DebugOffsets`, 3.14 tagged pointers, 3.15 base frames): the interpreters tagged
/// `family` in tests/interpreters.txt.
fn fixtures() -> impl Iterator<Item = Fixture> {
    super::interpreter_list::labels_tagged("family")
        .into_iter()
        .map(|name| load(&name))
}

/// A fixture's interpreter, rebuilt from its clean image, and its OS thread view.
struct Fixture {
    name: String,
    snap: SnapshotReader,
    record: InterpreterRecord,
    interp: Interpreter,
    os: OsThreads,
    /// Where random regions go: the interpreter's own addresses and the recorded regions' starts
    /// (so random pointers land where the walker will look).
    bases: Vec<u64>,
}

fn load(name: &str) -> Fixture {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/snapshots")
        .join(format!("{name}.snap"));
    let snap = SnapshotReader::load(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
    let record: InterpreterRecord =
        serde_json::from_value(snap.metadata()["interpreter"].clone()).expect("record");
    let os = serde_json::from_value(snap.metadata()["os_threads"].clone()).expect("os threads");
    let interp = Interpreter::from_record(&record, &snap).expect("clean fixture rebuilds");
    let mut bases = vec![record.interp_addr];
    bases.extend(record.runtime_addr);
    bases.extend(record.tstate_current_addr);
    bases.extend(snap.regions().map(|(a, _)| a & !7).take(64));
    Fixture {
        name: name.to_string(),
        snap,
        record,
        interp,
        os,
        bases,
    }
}

/// A word for the mutated fixtures: noise, zero, a small number, or a pointer near a base.
fn word(bases: Vec<u64>) -> impl Strategy<Value = u64> {
    let n = bases.len();
    prop_oneof![
        2 => any::<u64>(),
        2 => Just(0u64),
        1 => 0u64..4096,
        5 => (0..n, 0u64..1024).prop_map(move |(b, o)| bases[b].wrapping_add(o * 8)),
    ]
}

/// How a random image is made. Generating thousands of words through proptest's value trees
/// is slow, so proptest picks a seed and the mix, and [`build_image`] expands them: shrinking
/// then works on the number of regions and the mix, and a failure names a seed that
/// reproduces it.
#[derive(Debug, Clone)]
struct ImagePlan {
    seed: u64,
    regions: usize,
    /// Out of 16 words, how many are pointers near a base (the rest: zeros, small numbers,
    /// noise).
    pointers: u64,
    /// Words per region.
    words: usize,
}

fn image_plan() -> impl Strategy<Value = ImagePlan> {
    (any::<u64>(), 1usize..12, 0u64..=16, 64usize..2048).prop_map(
        |(seed, regions, pointers, words)| ImagePlan {
            seed,
            regions,
            pointers,
            words,
        },
    )
}

/// A random image: regions of words that start a little before the fixture's bases (so the
/// interpreter and its first reads are covered) and hold pointers back into the regions.
fn build_image(plan: &ImagePlan, bases: &[u64]) -> SnapshotReader {
    let mut rng = XorShift::new(plan.seed);
    let mut snap = SnapshotReader::new();
    // The first regions cover the interpreter's own addresses; the rest land anywhere.
    let starts: Vec<u64> = (0..plan.regions)
        .map(|i| {
            let base = if i < 3 {
                bases[i.min(bases.len() - 1)]
            } else {
                bases[rng.below(bases.len() as u64) as usize]
            };
            base.wrapping_sub(8 * rng.below(64))
        })
        .collect();
    for &start in &starts {
        let bytes: Vec<u8> = (0..plan.words)
            .flat_map(|_| {
                let w = if rng.below(16) < plan.pointers {
                    let to = starts[rng.below(starts.len() as u64) as usize];
                    to.wrapping_add(8 * rng.below(plan.words as u64))
                } else {
                    match rng.below(4) {
                        0 => 0,
                        1 => rng.below(4096),
                        2 => rng.next_u64() & 0x0000_7fff_ffff_fff8,
                        _ => rng.next_u64(),
                    }
                };
                w.to_le_bytes()
            })
            .collect();
        snap.insert(start, &bytes);
    }
    snap
}

#[test]
fn walker_random_memory_images() {
    within_time_limit("walker random images", || {
        for fx in fixtures() {
            let interp = fx.interp.clone();
            let os = fx.os.clone();
            check(&fx.name, 500, image_plan(), |plan| {
                let snap = build_image(&plan, &fx.bases);
                no_panic("walk", || {
                    let mut walker = Walker::new(&snap, interp.clone());
                    let _ = walker.sample(&os);
                    let _ = walker.sample(&os);
                })
            });
        }
    });
}

/// The clean fixture with random words written over it: mostly real structure, with a few
/// pointers, counts and lengths replaced. Walked cold and warm (caches built on clean memory).
#[test]
fn walker_mutated_fixtures() {
    within_time_limit("walker mutated fixtures", || {
        for fx in fixtures() {
            let regions: Vec<(u64, u64)> = fx
                .snap
                .regions()
                .map(|(a, b)| (a, b.len() as u64))
                .collect();
            let edits = proptest::collection::vec(
                (0..regions.len(), any::<u64>(), word(fx.bases.clone())),
                1..8,
            );
            check(&fx.name, 150, edits, |edits| {
                let mut bad = fx.snap.clone();
                for (r, at, value) in &edits {
                    let (start, len) = regions[*r];
                    let addr = (start + at % len.max(1)) & !7;
                    bad.insert(addr, &value.to_le_bytes());
                }
                no_panic("walk", || {
                    let mut cold = Walker::new(&bad, fx.interp.clone());
                    let _ = cold.sample(&fx.os);
                    let mut warm = Walker::new(&fx.snap, fx.interp.clone());
                    let _ = warm.sample(&fx.os);
                    // Same caches, now over the corrupted image.
                    let mut warm = Walker::new(&bad, fx.interp.clone());
                    let _ = warm.sample(&fx.os);
                    // And discovery of the layout from the corrupted image (3.13+ reads
                    // `_Py_DebugOffsets` from it).
                    let _ = Interpreter::from_record(&fx.record, &bad);
                })
            });
        }
    });
}

/// Random `_Py_DebugOffsets`: a valid cookie and version, then noise. Reading it must give Ok
/// (with every offset checked) or Err.
#[test]
fn published_debug_offsets_random() {
    within_time_limit("debug offsets", || {
        // Every version that publishes a layout (3.13+), as `PY_VERSION_HEX`, and noise.
        let publishing: Vec<(u8, u8)> = python_versions::LAYOUTS
            .iter()
            .filter(|l| !l.debug_offsets.is_empty())
            .map(|l| l.version)
            .collect();
        let hexes: Vec<u64> = publishing
            .iter()
            .map(|&(major, minor)| (u64::from(major) << 24) | (u64::from(minor) << 16) | 0xf0)
            .collect();
        let strategy = (
            prop_oneof![proptest::sample::select(hexes), any::<u64>()],
            proptest::collection::vec(
                prop_oneof![any::<u64>(), 0u64..2048, Just(u64::MAX)],
                0..debug_offsets::READ_LEN / 8,
            ),
        );
        check("debug offsets", 600, strategy, |(version, words)| {
            let runtime = 0x10_0000u64;
            let mut bytes = debug_offsets::COOKIE.to_vec();
            bytes.extend(version.to_le_bytes());
            bytes.extend(words.iter().flat_map(|w| w.to_le_bytes()));
            let mut snap = SnapshotReader::new();
            snap.insert(runtime, &bytes);
            no_panic("debug offsets", || {
                if let Ok(Some(d)) = debug_offsets::read(&snap, runtime) {
                    let _ = debug_offsets::target_layout(d.version, Some(&d));
                }
                for &(major, minor) in &publishing {
                    let rec = InterpreterRecord {
                        version: format!("{major}.{minor}.0"),
                        interp_addr: runtime + 0x1000,
                        runtime_addr: Some(runtime),
                        tstate_current_addr: None,
                    };
                    if let Ok(interp) = Interpreter::from_record(&rec, &snap) {
                        let _ = Walker::new(&snap, interp).sample(&OsThreads::default());
                    }
                }
            })
        });
    });
}

/// 6-bit little-endian varint, as the 3.11+ location table stores it.
fn varint(mut v: u64) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let chunk = (v & 0x3f) as u8;
        v >>= 6;
        if v == 0 {
            out.push(chunk);
            return out;
        }
        out.push(chunk | 0x40);
    }
}

/// Found by reading the decoder for what random tables rarely reach: a line delta that
/// carries the line to the top of `i64`, then a one-line entry that adds to it.
#[test]
fn location_table_line_at_the_top_of_i64() {
    let first = i32::MAX - 1;
    // Two no-column entries (code 13) of +(2^62 - 2^30) each: line = 2^63 - 2.
    let delta: u64 = (1 << 62) - (1 << 30);
    let mut table = Vec::new();
    for _ in 0..2 {
        table.push(0x80 | (13 << 3));
        table.extend(varint(delta << 1));
    }
    // A one-line entry (code 12): line + 2, past i64::MAX.
    table.extend([0x80 | (12 << 3), 0, 0]);
    for addr in [0, 2, 4, 6, 100] {
        let _ = line_for(LineTableFormat::Locations311, &table, first, addr);
    }
}
