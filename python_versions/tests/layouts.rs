//! The generated tables: they match the headers, they are all registered, and their values agree
//! with what is well known about each CPython version.

use python_versions::{layout_for, supported_versions, Layout, ABSENT, LAYOUTS};
use std::path::{Path, PathBuf};
use std::process::Command;

#[path = "../../tests/support/interpreter_list.rs"]
mod interpreter_list;

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn python3() -> PathBuf {
    let system = Path::new("/usr/bin/python3");
    if system.exists() {
        system.to_path_buf()
    } else {
        PathBuf::from("python3")
    }
}

fn layout(major: u8, minor: u8) -> &'static Layout {
    layout_for(major, minor).unwrap_or_else(|| panic!("no layout for {major}.{minor}"))
}

fn has(field: i64) -> bool {
    Layout::has(field)
}

/// The repository's installer of Debian's CPython builds (their headers are generate.py's input).
fn install_debian_pythons() {
    let installer = crate_dir().join("../tools/install-debian-pythons");
    let out = Command::new("bash")
        .arg(&installer)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", installer.display()));
    assert!(
        out.status.success(),
        "{} failed ({}): {}",
        installer.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `generate.py --check` recompiles the probe against every version's headers and compares.
#[test]
fn regenerates_identically() {
    install_debian_pythons();
    let script = crate_dir().join("generator/generate.py");
    let out = Command::new(python3())
        .arg(&script)
        .arg("--check")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {} with {:?}: {e}", script.display(), python3()));
    if !out.status.success() {
        panic!(
            "`generate.py --check` failed ({}):\n{}\n{}\n\
             If headers are missing: the Debian 3.13/3.14/3.15 builds install with \
             `tools/install-debian-pythons` (as root, from the repository root); the others are \
             pyenv shared builds (`pyenv install X.Y.Z`, versions in tests/interpreters.txt).\n\
             If the headers are there and the tables are stale: run \
             python_versions/generator/generate.py and commit the result.",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
    }
}

/// Every `src/vX_Y.rs` has a `mod` and a `LAYOUTS` line in the generated registry.rs (in
/// order), and nothing else is listed.
#[test]
fn every_table_is_registered() {
    let src = crate_dir().join("src");
    let parse = |stem: &str| -> Option<(u8, u8)> {
        let rest = stem.strip_prefix('v')?;
        let (major, minor) = rest.split_once('_')?;
        Some((major.parse().ok()?, minor.parse().ok()?))
    };
    let mut files: Vec<(u8, u8)> = std::fs::read_dir(&src)
        .expect("read src/")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .filter_map(|p| parse(p.file_stem()?.to_str()?))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no src/vX_Y.rs tables");

    let lib = std::fs::read_to_string(src.join("registry.rs")).expect("read registry.rs");
    let mut mods: Vec<(u8, u8)> = lib
        .lines()
        .filter_map(|l| parse(l.trim().strip_prefix("mod ")?.strip_suffix(';')?))
        .collect();
    mods.sort();
    assert_eq!(
        mods, files,
        "`mod vX_Y;` lines in registry.rs vs src/vX_Y.rs files"
    );

    // The registry lines in source order, e.g. `&v3_11::LAYOUT,`.
    let registry: Vec<(u8, u8)> = lib
        .lines()
        .filter_map(|l| parse(l.trim().strip_prefix('&')?.strip_suffix("::LAYOUT,")?))
        .collect();
    assert_eq!(
        registry, files,
        "LAYOUTS lines (oldest first) vs src/vX_Y.rs files"
    );

    // Each line points at the table of its own version, and the registry is sorted and unique.
    let versions: Vec<(u8, u8)> = LAYOUTS.iter().map(|l| l.version).collect();
    assert_eq!(
        versions, registry,
        "LAYOUTS[i].version vs the vX_Y named on line i"
    );
    assert!(
        versions.windows(2).all(|w| w[0] < w[1]),
        "LAYOUTS not strictly increasing: {versions:?}"
    );
}

#[test]
fn registry_lookups() {
    // The generated registry is the interpreter list's: a line added there and not generated
    // fails here.
    let listed: Vec<(u8, u8)> = interpreter_list::listed()
        .into_iter()
        .filter(|l| l.has("headers"))
        .map(|l| l.version)
        .collect();
    let names: Vec<String> = listed.iter().map(|v| format!("{}.{}", v.0, v.1)).collect();
    assert_eq!(supported_versions(), names);
    assert_eq!(names[..2], ["2.7", "3.6"]);
    assert!(layout_for(3, 5).is_none());
    let &(major, minor) = listed.last().expect("versions");
    assert!(layout_for(major, minor + 1).is_none());
    for l in LAYOUTS {
        let prefix = format!("{}.{}.", l.version.0, l.version.1);
        assert!(
            l.source_version.starts_with(&prefix),
            "{} from {}",
            prefix,
            l.source_version
        );
        assert_eq!(layout_for(l.version.0, l.version.1), Some(*l));
    }
}

#[test]
fn object_header_is_stable() {
    for l in LAYOUTS {
        let v = l.version;
        assert_eq!(l.ob_type, 8, "{v:?}");
        assert_eq!(l.var_ob_size, 16, "{v:?}");
        assert_eq!(l.tp_name, 24, "{v:?}");
        assert_eq!(l.tp_basicsize, 32, "{v:?}");
        assert_eq!(l.tp_flags, 168, "{v:?}");
        assert_eq!(l.tp_dictoffset, 288, "{v:?}");
        assert_eq!(l.bytes_ob_size, 16, "{v:?}");
        assert_eq!(l.module_md_dict, 16, "{v:?}");
        assert_eq!(l.dict_entry_size, 24, "{v:?}");
        assert_eq!(l.ts_interp, l.ts_next + 8, "{v:?}");
    }
    // 2.7's str has ob_shash (long) and ob_sstate (int) before ob_sval; 3.x bytes only ob_shash.
    assert_eq!(layout(2, 7).bytes_ob_sval, 36);
    assert_eq!(layout(3, 6).bytes_ob_sval, 32);
}

/// Which fields exist in which versions, per the doc comments of `Layout`.
#[test]
fn fields_exist_exactly_in_their_versions() {
    for l in LAYOUTS {
        let v = l.version;
        let py3 = v.0 == 3;
        let at_least = |minor: u8| py3 && v.1 >= minor;
        let expect = [
            ("ht_cached_keys", l.ht_cached_keys, py3),
            ("tpflags_managed_dict", l.tpflags_managed_dict, at_least(11)),
            (
                "tpflags_inline_values",
                l.tpflags_inline_values,
                at_least(13),
            ),
            ("managed_dict_offset", l.managed_dict_offset, at_least(11)),
            (
                "managed_values_offset",
                l.managed_values_offset,
                v == (3, 11),
            ),
            ("unicode_length", l.unicode_length, py3),
            ("unicode_kind_shift", l.unicode_kind_shift, py3),
            ("unicode_data_any", l.unicode_data_any, py3),
            ("dict_ma_keys", l.dict_ma_keys, py3),
            ("dict_ma_values", l.dict_ma_values, py3),
            ("dict_ma_mask", l.dict_ma_mask, !py3),
            ("dict_ma_table", l.dict_ma_table, !py3),
            ("dictkeys_dk_size", l.dictkeys_dk_size, py3 && v.1 <= 10),
            (
                "dictkeys_dk_log2_size",
                l.dictkeys_dk_log2_size,
                at_least(11),
            ),
            ("dictkeys_dk_kind", l.dictkeys_dk_kind, at_least(11)),
            ("dictkeys_dk_nentries", l.dictkeys_dk_nentries, py3),
            ("dictkeys_dk_indices", l.dictkeys_dk_indices, py3),
            (
                "dict_unicode_entry_size",
                l.dict_unicode_entry_size,
                at_least(11),
            ),
            ("dictvalues_values", l.dictvalues_values, at_least(11)),
            ("dictvalues_valid", l.dictvalues_valid, at_least(13)),
            (
                "runtime_interpreters_head",
                l.runtime_interpreters_head,
                at_least(7),
            ),
            ("runtime_gil", l.runtime_gil, at_least(7) && v.1 <= 11),
            ("interp_ceval_gil", l.interp_ceval_gil, at_least(12)),
            ("gil_locked", l.gil_locked, at_least(7)),
            ("gil_last_holder", l.gil_last_holder, at_least(7)),
            ("ts_native_thread_id", l.ts_native_thread_id, at_least(11)),
            ("ts_frame", l.ts_frame, !at_least(11)),
            ("ts_cframe", l.ts_cframe, at_least(11) && v.1 <= 12),
            (
                "cframe_current_frame",
                l.cframe_current_frame,
                at_least(11) && v.1 <= 12,
            ),
            ("ts_current_frame", l.ts_current_frame, at_least(13)),
            ("ts_base_frame", l.ts_base_frame, at_least(15)),
            ("ts_datastack_chunk", l.ts_datastack_chunk, at_least(11)),
            ("chunk_data", l.chunk_data, at_least(11)),
            ("frame_size", l.frame_size, !at_least(11)),
            ("frame_back", l.frame_back, !at_least(11)),
            ("frame_lasti", l.frame_lasti, !at_least(11)),
            ("iframe_size", l.iframe_size, at_least(11)),
            ("iframe_code", l.iframe_code, at_least(11)),
            ("iframe_instr", l.iframe_instr, at_least(11)),
            ("iframe_owner", l.iframe_owner, at_least(11)),
            (
                "frame_owned_by_cstack",
                l.frame_owned_by_cstack,
                at_least(12) && v.1 <= 14,
            ),
            (
                "frame_owned_by_interpreter",
                l.frame_owned_by_interpreter,
                at_least(14),
            ),
            ("code_qualname", l.code_qualname, at_least(11)),
            ("code_code_adaptive", l.code_code_adaptive, at_least(11)),
            ("tpflags_preheader", l.tpflags_preheader, at_least(11)),
            ("runtime_gc", l.runtime_gc, at_least(7) && v.1 <= 8),
            ("interp_gc", l.interp_gc, at_least(9)),
            ("gc_generations", l.gc_generations, at_least(7)),
            ("gc_permanent", l.gc_permanent, at_least(7)),
            ("gc_generation0", l.gc_generation0, at_least(7)),
            ("interp_obmalloc", l.interp_obmalloc, v == (3, 12)),
            ("interp_obmalloc_ptr", l.interp_obmalloc_ptr, at_least(13)),
            ("obmalloc_arenas", l.obmalloc_arenas, at_least(12)),
            ("obmalloc_maxarenas", l.obmalloc_maxarenas, at_least(12)),
        ];
        for (name, value, present) in expect {
            assert_eq!(has(value), present, "{v:?}.{name} = {value}");
        }
        // `_Py_DebugOffsets` exists from 3.13; its leading cookie, version and free_threaded
        // words are never listed (they are at fixed places).
        assert_eq!(
            !l.debug_offsets.is_empty(),
            at_least(13),
            "{v:?}.debug_offsets"
        );
        for &(name, at) in l.debug_offsets {
            assert!(
                at >= 24 && at % 8 == 0,
                "{v:?}.debug_offsets {name} at {at}"
            );
        }
        // Fields every version has.
        for value in [
            l.dict_ma_used,
            l.interp_next,
            l.interp_threads_head,
            l.interp_modules,
            l.ts_size,
            l.ts_thread_id,
            l.code_size,
            l.code_filename,
            l.code_name,
            l.code_firstlineno,
            l.code_linetable,
            l.stackref_tag_bits,
            l.tp_itemsize,
            l.tp_dict,
            l.list_ob_item,
            l.list_allocated,
            l.gc_head_size,
            l.gc_generation_size,
        ] {
            assert!(has(value), "{v:?}");
        }
    }
}

#[test]
fn well_known_values() {
    // Absent before _PyRuntimeState existed.
    assert_eq!(layout(2, 7).runtime_interpreters_head, ABSENT);
    assert_eq!(layout(3, 6).runtime_interpreters_head, ABSENT);
    assert_eq!(layout(3, 6).gil_locked, ABSENT);

    // The thread-state fields pyprobe finds threads and frames with (cross-checked against the
    // running interpreters' _Py_DebugOffsets for 3.13 and 3.14).
    let v311 = layout(3, 11);
    assert_eq!((v311.ts_thread_id, v311.ts_native_thread_id), (152, 160));
    assert_eq!((v311.ts_cframe, v311.cframe_current_frame), (56, 8));
    assert_eq!(
        v311.interp_threads_head, 16,
        "3.11 already has threads.head"
    );
    let v312 = layout(3, 12);
    assert_eq!((v312.ts_thread_id, v312.ts_native_thread_id), (136, 144));
    assert_eq!(v312.cframe_current_frame, 0);
    let v315 = layout(3, 15);
    assert_eq!((v315.ts_thread_id, v315.ts_native_thread_id), (176, 184));
    assert_eq!((v315.ts_base_frame, v315.ts_datastack_chunk), (80, 256));
    for (minor, owner, localsplus) in [(13, 70, 72), (14, 74, 80), (15, 74, 80)] {
        let l = layout(3, minor);
        assert_eq!(l.ts_current_frame, 72, "3.{minor}");
        assert_eq!(
            (l.iframe_code, l.iframe_previous, l.iframe_instr),
            (0, 8, 56)
        );
        assert_eq!((l.iframe_owner, l.iframe_localsplus), (owner, localsplus));
        assert_eq!(
            (l.code_filename, l.code_name, l.code_qualname),
            (112, 120, 128)
        );
    }

    // Frame-owner enum values.
    assert_eq!(layout(3, 12).frame_owned_by_cstack, 3);
    assert_eq!(layout(3, 13).frame_owned_by_cstack, 3);
    assert_eq!(layout(3, 14).frame_owned_by_cstack, 4);
    assert_eq!(layout(3, 14).frame_owned_by_interpreter, 3);
    // 3.15 removed FRAME_OWNED_BY_CSTACK: entry frames are owned by the interpreter.
    assert_eq!(layout(3, 15).frame_owned_by_cstack, ABSENT);
    assert_eq!(layout(3, 15).frame_owned_by_interpreter, 3);

    // Where `_Py_DebugOffsets` keeps a field moves: 3.15 put the base frame and the profiler's
    // frame fields before `thread_state.thread_id`.
    let at = |minor: u8, name: &str| layout(3, minor).debug_offset(name);
    assert_eq!(at(13, "runtime_state.interpreters_head"), Some(40));
    assert_eq!(at(15, "runtime_state.interpreters_head"), Some(40));
    assert_eq!(at(14, "thread_state.thread_id"), Some(216));
    assert_eq!(at(15, "thread_state.thread_id"), Some(240));
    assert_eq!(at(15, "thread_state.base_frame"), Some(216));
    assert_eq!(at(14, "thread_state.base_frame"), None);

    // Tagged stack references only from 3.14 (default GIL build: Py_TAG_BITS == 3; 3.15 keeps
    // it, adding Py_TAG_INVALID and a shift for small ints above the tag).
    for l in LAYOUTS {
        let expected = if l.version >= (3, 14) { 3 } else { 0 };
        assert_eq!(l.stackref_tag_bits, expected, "{:?}", l.version);
    }

    // Managed dicts live before the object; 3.11 also has the values pointer before it.
    for l in LAYOUTS.iter().filter(|l| l.version >= (3, 11)) {
        assert_eq!(l.managed_dict_offset, -24, "{:?}", l.version);
        assert_eq!(l.tpflags_managed_dict, 1 << 4, "{:?}", l.version);
        assert_eq!(l.iframe_size, l.iframe_localsplus, "{:?}", l.version);
        assert_eq!(l.code_size, l.code_code_adaptive, "{:?}", l.version);
        let values = if l.version >= (3, 13) { 8 } else { 0 };
        assert_eq!(l.dictvalues_values, values, "{:?}", l.version);
    }
    assert_eq!(layout(3, 11).managed_values_offset, -32);
    assert_eq!(layout(3, 13).tpflags_inline_values, 1 << 2);
    assert_eq!(layout(3, 13).dictvalues_valid, 3);

    // str: interned:2 comes first, then kind:3, compact:1, ascii:1; wstr is gone from 3.12.
    for l in LAYOUTS.iter().filter(|l| l.version.0 == 3) {
        let v = l.version;
        assert_eq!(
            (
                l.unicode_kind_shift,
                l.unicode_compact_bit,
                l.unicode_ascii_bit
            ),
            (2, 5, 6),
            "{v:?}"
        );
        assert_eq!((l.unicode_length, l.unicode_state), (16, 32), "{v:?}");
        let (ascii, compact) = if v >= (3, 12) { (40, 56) } else { (48, 72) };
        assert_eq!(
            (l.unicode_ascii_size, l.unicode_compact_size),
            (ascii, compact),
            "{v:?}"
        );
        assert_eq!(l.unicode_data_any, l.unicode_compact_size, "{v:?}");
    }

    // Dict keys: 3.6-3.10 (mirrored from Objects/dict-common.h) and 3.11+.
    for minor in 6..=10 {
        let l = layout(3, minor);
        assert_eq!(
            (
                l.dictkeys_dk_size,
                l.dictkeys_dk_nentries,
                l.dictkeys_dk_indices
            ),
            (8, 32, 40)
        );
    }
    for minor in 11..=15 {
        let l = layout(3, minor);
        assert_eq!(
            (
                l.dictkeys_dk_log2_size,
                l.dictkeys_dk_log2_index_bytes,
                l.dictkeys_dk_kind
            ),
            (8, 9, 10)
        );
        assert_eq!((l.dictkeys_dk_nentries, l.dictkeys_dk_indices), (24, 32));
        assert_eq!(l.dict_unicode_entry_size, 16);
    }

    // The GIL state: last_holder then locked, in every version that exposes it.
    for l in LAYOUTS.iter().filter(|l| has(l.gil_locked)) {
        assert_eq!(
            (l.gil_last_holder, l.gil_locked),
            (8, 16),
            "{:?}",
            l.version
        );
    }

    // PyFrameObject: f_back / f_code right after the var-object header; f_lasti moved in 3.7/3.10.
    let lasti: Vec<i64> = LAYOUTS
        .iter()
        .filter(|l| has(l.frame_lasti))
        .map(|l| l.frame_lasti)
        .collect();
    assert_eq!(lasti, [120, 120, 104, 104, 104, 96]);
    for l in LAYOUTS.iter().filter(|l| has(l.frame_back)) {
        assert_eq!((l.frame_back, l.frame_code), (24, 32), "{:?}", l.version);
        assert_eq!(l.frame_lineno, l.frame_lasti + 4, "{:?}", l.version);
    }
}
