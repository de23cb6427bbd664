//! `_Py_DebugOffsets`: the layout a 3.13+ interpreter publishes at the start of `_PyRuntime`.
//! Reading it from the target keeps pyprobe right on patch releases whose structs moved.
//!
//! Where each field sits inside `_Py_DebugOffsets` differs between versions (3.14 and 3.15 added
//! fields in the middle of sections); the generated tables carry those positions
//! (`Layout::debug_offsets`, measured by the probe), so nothing here depends on a version.
//!
//! 3.13: https://github.com/python/cpython/blob/v3.13.0/Include/internal/pycore_runtime.h
//! 3.14: https://github.com/python/cpython/blob/v3.14.0/Include/internal/pycore_debug_offsets.h
//! 3.15: https://github.com/python/cpython/blob/v3.15.2/Include/internal/pycore_debug_offsets.h
use python_versions::{layout_for, supported_versions, Layout};

use super::version::Version;
use crate::error::{Error, Result};
use crate::process::{MemoryReader, ReadExt};

/// The cookie `_Py_DebugOffsets` starts with.
pub(crate) const COOKIE: &[u8; 8] = b"xdebugpy";

/// Bytes to read from `_PyRuntime` to cover every field we use (a test checks every table's
/// positions fit; 3.15's last one, `unicode_object.compactunicodeobject_size`, is at 744).
pub(crate) const READ_LEN: usize = 8 * 128;

/// `version` and `free_threaded` follow the cookie in every version (the probe checks it): the
/// version has to be read before it is known which table's positions apply.
const VERSION_AT: usize = 8;
const FREE_THREADED_AT: usize = 16;

/// Largest offset or size we accept from a published layout. The real values are a few KiB at
/// most; anything larger means the bytes at `_PyRuntime` are not what we think (a corrupt read),
/// and trusting them would mean huge reads or offsets past the end of the address space.
const MAX_PUBLISHED: i64 = 1 << 20;

/// Read `_Py_DebugOffsets` from the start of `_PyRuntime`; `None` when the target publishes none.
pub(crate) fn read<R: MemoryReader>(r: &R, runtime: u64) -> Result<Option<DebugOffsets>> {
    DebugOffsets::parse(&r.read_vec(runtime, READ_LEN)?)
}

/// The layout to read a target of `version` with, and its drift from our table: the generated
/// table, with the fields the target publishes (3.13+) overlaid. Live discovery and snapshot
/// replay both build their layout here, so a replay reads memory exactly as the live walk did.
pub(crate) fn target_layout(
    version: Version,
    debug: Option<&DebugOffsets>,
) -> Result<(Layout, Vec<String>)> {
    let base =
        layout_for(version.major, version.minor).ok_or_else(|| Error::UnsupportedVersion {
            version: version.to_string(),
            supported: supported_versions().join(", "),
        })?;
    let Some(d) = debug else {
        return Ok((*base, Vec::new()));
    };
    if d.free_threaded {
        return Err(Error::UnsupportedVersion {
            version: format!("{version} (free-threaded build)"),
            supported: supported_versions().join(", ") + " (GIL builds)",
        });
    }
    d.overlay(base)
}

/// Each table field the target publishes, the `_Py_DebugOffsets` entry it is published as, and
/// where it goes in `l`. Entries a version does not publish are skipped (3.15 added the type,
/// heap-type and compact-string sizes and the base frame).
fn published_fields(l: &mut Layout) -> [(&'static str, &'static str, &mut i64); 41] {
    macro_rules! published {
        ($($field:ident = $name:literal,)*) => {
            [$((stringify!($field), $name, &mut l.$field)),*]
        };
    }
    published!(
        runtime_interpreters_head = "runtime_state.interpreters_head",
        interp_next = "interpreter_state.next",
        interp_threads_head = "interpreter_state.threads_head",
        interp_modules = "interpreter_state.imports_modules",
        interp_ceval_gil = "interpreter_state.ceval_gil",
        interp_gc = "interpreter_state.gc",
        ts_size = "thread_state.size",
        ts_next = "thread_state.next",
        ts_interp = "thread_state.interp",
        ts_current_frame = "thread_state.current_frame",
        ts_base_frame = "thread_state.base_frame",
        ts_thread_id = "thread_state.thread_id",
        ts_native_thread_id = "thread_state.native_thread_id",
        ts_datastack_chunk = "thread_state.datastack_chunk",
        iframe_previous = "interpreter_frame.previous",
        iframe_code = "interpreter_frame.executable",
        iframe_instr = "interpreter_frame.instr_ptr",
        iframe_owner = "interpreter_frame.owner",
        iframe_localsplus = "interpreter_frame.localsplus",
        iframe_size = "interpreter_frame.localsplus",
        code_filename = "code_object.filename",
        code_name = "code_object.name",
        code_qualname = "code_object.qualname",
        code_linetable = "code_object.linetable",
        code_firstlineno = "code_object.firstlineno",
        code_code_adaptive = "code_object.co_code_adaptive",
        code_size = "code_object.co_code_adaptive",
        ob_type = "pyobject.ob_type",
        tp_name = "type_object.tp_name",
        tp_flags = "type_object.tp_flags",
        tp_basicsize = "type_object.tp_basicsize",
        tp_dictoffset = "type_object.tp_dictoffset",
        ht_cached_keys = "heap_type_object.ht_cached_keys",
        dict_ma_keys = "dict_object.ma_keys",
        dict_ma_values = "dict_object.ma_values",
        bytes_ob_size = "bytes_object.ob_size",
        bytes_ob_sval = "bytes_object.ob_sval",
        unicode_state = "unicode_object.state",
        unicode_length = "unicode_object.length",
        unicode_ascii_size = "unicode_object.asciiobject_size",
        unicode_compact_size = "unicode_object.compactunicodeobject_size",
    )
}

/// What the target published.
#[derive(Debug, Clone)]
pub(crate) struct DebugOffsets {
    /// The exact version (`PY_VERSION_HEX`).
    pub(crate) version: Version,
    /// A free-threaded (no-GIL) build.
    pub(crate) free_threaded: bool,
    /// The bytes read at `_PyRuntime`, cookie first.
    bytes: Vec<u8>,
}

impl DebugOffsets {
    /// Parse the bytes at the start of `_PyRuntime`; `None` when the cookie is absent.
    pub(crate) fn parse(bytes: &[u8]) -> Result<Option<DebugOffsets>> {
        if bytes.len() < FREE_THREADED_AT + 8 || &bytes[..8] != COOKIE {
            return Ok(None);
        }
        let word = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8"));
        let version = Version::from_hex(word(VERSION_AT))
            .ok_or_else(|| Error::invalid("_Py_DebugOffsets has an implausible version"))?;
        Ok(Some(DebugOffsets {
            version,
            free_threaded: word(FREE_THREADED_AT) != 0,
            bytes: bytes.to_vec(),
        }))
    }

    /// The value published for `name`, at the position `base` (the table of the target's
    /// version) gives; `None` when that version does not publish it.
    fn get(&self, base: &Layout, name: &str) -> Result<Option<i64>> {
        let Some(at) = base.debug_offset(name) else {
            return Ok(None);
        };
        let word = usize::try_from(at)
            .ok()
            .and_then(|at| self.bytes.get(at..at.checked_add(8)?))
            .ok_or_else(|| Error::invalid("_Py_DebugOffsets read too short"))?;
        Ok(Some(u64::from_le_bytes(word.try_into().expect("8")) as i64))
    }

    /// The generated table for this minor version, with every field the target publishes
    /// replaced by the target's own value; and the fields where the two differ (layout drift).
    ///
    /// A published layout with offsets no real build has, negative (a GIL field before the GIL
    /// struct) or huge, is refused: garbage behind a valid cookie must not become reads of
    /// gigabytes or address arithmetic that wraps.
    fn overlay(&self, base: &Layout) -> Result<(Layout, Vec<String>)> {
        let mut layout = *base;
        let mut drift = Vec::new();
        let mut take = |field: &str, slot: &mut i64, value: i64| -> Result<()> {
            if !(0..MAX_PUBLISHED).contains(&value) {
                return Err(Error::invalid(format!(
                    "_Py_DebugOffsets publishes an implausible {field} ({value})"
                )));
            }
            if *slot != value {
                drift.push(format!("{field}: table {} → target {value}", *slot));
            }
            *slot = value;
            Ok(())
        };
        for (field, name, slot) in published_fields(&mut layout) {
            if let Some(value) = self.get(base, name)? {
                take(field, slot, value)?;
            }
        }
        // The published GIL offsets are relative to the interpreter; ours to the GIL struct.
        // Wrapping: garbage values must be refused by the range check, not overflow here.
        if let (Some(gil), Some(locked), Some(holder)) = (
            self.get(base, "interpreter_state.gil_runtime_state")?,
            self.get(base, "interpreter_state.gil_runtime_state_locked")?,
            self.get(base, "interpreter_state.gil_runtime_state_holder")?,
        ) {
            take(
                "gil_locked",
                &mut layout.gil_locked,
                locked.wrapping_sub(gil),
            )?;
            take(
                "gil_last_holder",
                &mut layout.gil_last_holder,
                holder.wrapping_sub(gil),
            )?;
        }
        Ok((layout, drift))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use python_versions::LAYOUTS;

    #[test]
    fn no_cookie_is_none() {
        assert!(DebugOffsets::parse(&[0u8; READ_LEN]).unwrap().is_none());
    }

    /// The bytes a target of `base`'s version would publish if every field held `value(name)`.
    fn published(base: &Layout, free_threaded: u64, value: impl Fn(&str) -> u64) -> Vec<u8> {
        let mut bytes = vec![0u8; READ_LEN];
        bytes[..8].copy_from_slice(COOKIE);
        let hex = (u64::from(base.version.0) << 24) | (u64::from(base.version.1) << 16) | 0xf0;
        bytes[VERSION_AT..VERSION_AT + 8].copy_from_slice(&hex.to_le_bytes());
        bytes[FREE_THREADED_AT..FREE_THREADED_AT + 8].copy_from_slice(&free_threaded.to_le_bytes());
        for &(name, at) in base.debug_offsets {
            let at = at as usize;
            bytes[at..at + 8].copy_from_slice(&value(name).to_le_bytes());
        }
        bytes
    }

    /// Every version that publishes a layout: its positions fit the read, and it lists exactly
    /// the entries of the overlay that exist in it (a name misspelt in probe.c or here would
    /// otherwise be skipped silently).
    #[test]
    fn every_published_table_is_read_whole() {
        let new_in_315 = |name: &str| {
            matches!(
                name,
                "thread_state.base_frame"
                    | "type_object.tp_basicsize"
                    | "type_object.tp_dictoffset"
                    | "heap_type_object.ht_cached_keys"
                    | "unicode_object.compactunicodeobject_size"
            )
        };
        for l in LAYOUTS {
            assert_eq!(
                !l.debug_offsets.is_empty(),
                l.version >= (3, 13),
                "{:?}",
                l.version
            );
        }
        for base in LAYOUTS.iter().filter(|l| !l.debug_offsets.is_empty()) {
            for &(name, at) in base.debug_offsets {
                assert!(
                    at >= 24 && at % 8 == 0 && at as usize + 8 <= READ_LEN,
                    "{name} {at}"
                );
            }
            let mut l = **base;
            for (_, name, _) in published_fields(&mut l) {
                assert_eq!(
                    base.debug_offset(name).is_some(),
                    !new_in_315(name) || base.version >= (3, 15),
                    "{:?}: {name}",
                    base.version
                );
            }
        }
    }

    /// What a target publishes is what the table says (the tables are generated from the same
    /// headers), so the overlay changes nothing and reports no drift; a moved field is used and
    /// reported.
    #[test]
    fn overlay_takes_the_published_values() {
        for base in LAYOUTS.iter().filter(|l| !l.debug_offsets.is_empty()) {
            let mut table = **base;
            let fields = published_fields(&mut table);
            let value_of = |name: &str| -> u64 {
                let (_, _, slot) = fields.iter().find(|(_, n, _)| *n == name).expect("listed");
                **slot as u64
            };
            // The GIL entries: the struct at 16 in the interpreter, its fields after it.
            let bytes = published(base, 0, |name| match name {
                "interpreter_state.gil_runtime_state" => 4000,
                "interpreter_state.gil_runtime_state_locked" => 4000 + base.gil_locked as u64,
                "interpreter_state.gil_runtime_state_holder" => 4000 + base.gil_last_holder as u64,
                name => value_of(name),
            });
            let d = DebugOffsets::parse(&bytes).unwrap().unwrap();
            assert_eq!(
                d.version.to_string(),
                format!("{}.{}.0", base.version.0, base.version.1)
            );
            assert!(!d.free_threaded);
            let (layout, drift) = target_layout(d.version, Some(&d)).unwrap();
            assert_eq!(layout, **base, "{:?}", base.version);
            assert!(drift.is_empty(), "{drift:?}");

            let bytes = published(base, 0, |name| match name {
                "thread_state.next" => 8 + 64,
                "interpreter_state.gil_runtime_state" => 4000,
                "interpreter_state.gil_runtime_state_locked" => 4000 + base.gil_locked as u64,
                "interpreter_state.gil_runtime_state_holder" => 4000 + base.gil_last_holder as u64,
                name => value_of(name),
            });
            let d = DebugOffsets::parse(&bytes).unwrap().unwrap();
            let (layout, drift) = target_layout(d.version, Some(&d)).unwrap();
            assert_eq!(layout.ts_next, 72);
            assert_eq!(
                drift,
                [format!("ts_next: table {} → target 72", base.ts_next)]
            );
        }
    }

    #[test]
    fn free_threaded_and_garbage_are_refused() {
        for base in LAYOUTS.iter().filter(|l| !l.debug_offsets.is_empty()) {
            let d = DebugOffsets::parse(&published(base, 1, |_| 8))
                .unwrap()
                .unwrap();
            let err = target_layout(d.version, Some(&d)).unwrap_err().to_string();
            assert!(err.contains("free-threaded build"), "{err}");
            // Every field huge: refused, never an overflow.
            let d = DebugOffsets::parse(&published(base, 0, |_| u64::MAX / 3))
                .unwrap()
                .unwrap();
            let err = target_layout(d.version, Some(&d)).unwrap_err().to_string();
            assert!(err.contains("implausible"), "{err}");
        }
        // A read that ends before the fields the table places after it.
        let base = LAYOUTS.last().unwrap();
        let bytes = published(base, 0, |_| 8);
        let d = DebugOffsets::parse(&bytes[..200]).unwrap().unwrap();
        assert!(target_layout(d.version, Some(&d)).is_err());
    }
}
