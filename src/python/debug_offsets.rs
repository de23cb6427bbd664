//! `_Py_DebugOffsets`: the layout a 3.13+ interpreter publishes at the start of `_PyRuntime`.
//! Reading it from the target keeps pyprobe right on patch releases whose structs moved.
//!
//! 3.13: https://github.com/python/cpython/blob/v3.13.0/Include/internal/pycore_runtime.h
//! 3.14: https://github.com/python/cpython/blob/v3.14.0/Include/internal/pycore_debug_offsets.h
use python_versions::{layout_for, supported_versions, Layout};

use super::version::Version;
use crate::error::{Error, Result};
use crate::process::{MemoryReader, ReadExt};

/// The cookie `_Py_DebugOffsets` starts with.
pub(crate) const COOKIE: &[u8; 8] = b"xdebugpy";

/// Bytes to read from `_PyRuntime` to cover every field we use (3.14's struct is the larger).
pub(crate) const READ_LEN: usize = 8 * 128;

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
    let layout = d.overlay(base);
    d.check(&layout)?;
    Ok((layout, d.drift(base)))
}

/// The order of the `uint64_t` fields after the cookie, per minor version. Field names follow
/// the C struct (`section.field`), so a reader can check them against the header.
fn field_names(minor: u8) -> Vec<&'static str> {
    let mut f = vec![
        "version",
        "free_threaded",
        "runtime_state.size",
        "runtime_state.finalizing",
        "runtime_state.interpreters_head",
        "interpreter_state.size",
        "interpreter_state.id",
        "interpreter_state.next",
        "interpreter_state.threads_head",
    ];
    if minor >= 14 {
        f.push("interpreter_state.threads_main");
    }
    f.extend([
        "interpreter_state.gc",
        "interpreter_state.imports_modules",
        "interpreter_state.sysdict",
        "interpreter_state.builtins",
        "interpreter_state.ceval_gil",
        "interpreter_state.gil_runtime_state",
        "interpreter_state.gil_runtime_state_enabled",
        "interpreter_state.gil_runtime_state_locked",
        "interpreter_state.gil_runtime_state_holder",
    ]);
    if minor >= 14 {
        f.extend([
            "interpreter_state.code_object_generation",
            "interpreter_state.tlbc_generation",
        ]);
    }
    f.extend([
        "thread_state.size",
        "thread_state.prev",
        "thread_state.next",
        "thread_state.interp",
        "thread_state.current_frame",
        "thread_state.thread_id",
        "thread_state.native_thread_id",
        "thread_state.datastack_chunk",
        "thread_state.status",
        "interpreter_frame.size",
        "interpreter_frame.previous",
        "interpreter_frame.executable",
        "interpreter_frame.instr_ptr",
        "interpreter_frame.localsplus",
        "interpreter_frame.owner",
    ]);
    if minor >= 14 {
        f.extend([
            "interpreter_frame.stackpointer",
            "interpreter_frame.tlbc_index",
        ]);
    }
    f.extend([
        "code_object.size",
        "code_object.filename",
        "code_object.name",
        "code_object.qualname",
        "code_object.linetable",
        "code_object.firstlineno",
        "code_object.argcount",
        "code_object.localsplusnames",
        "code_object.localspluskinds",
        "code_object.co_code_adaptive",
    ]);
    if minor >= 14 {
        f.push("code_object.co_tlbc");
    }
    f.extend([
        "pyobject.size",
        "pyobject.ob_type",
        "type_object.size",
        "type_object.tp_name",
        "type_object.tp_repr",
        "type_object.tp_flags",
        "tuple_object.size",
        "tuple_object.ob_item",
        "tuple_object.ob_size",
        "list_object.size",
        "list_object.ob_item",
        "list_object.ob_size",
    ]);
    if minor >= 14 {
        f.extend([
            "set_object.size",
            "set_object.used",
            "set_object.table",
            "set_object.mask",
        ]);
    }
    f.extend([
        "dict_object.size",
        "dict_object.ma_keys",
        "dict_object.ma_values",
        "float_object.size",
        "float_object.ob_fval",
        "long_object.size",
        "long_object.lv_tag",
        "long_object.ob_digit",
        "bytes_object.size",
        "bytes_object.ob_size",
        "bytes_object.ob_sval",
        "unicode_object.size",
        "unicode_object.state",
        "unicode_object.length",
        "unicode_object.asciiobject_size",
    ]);
    f
}

/// What the target published.
#[derive(Debug, Clone)]
pub(crate) struct DebugOffsets {
    /// The exact version (`PY_VERSION_HEX`).
    pub(crate) version: Version,
    /// A free-threaded (no-GIL) build.
    pub(crate) free_threaded: bool,
    fields: Vec<(&'static str, u64)>,
}

impl DebugOffsets {
    /// Parse the bytes at the start of `_PyRuntime`; `None` when the cookie is absent.
    pub(crate) fn parse(bytes: &[u8]) -> Result<Option<DebugOffsets>> {
        if bytes.len() < 24 || &bytes[..8] != COOKIE {
            return Ok(None);
        }
        let word = |i: usize| -> Option<u64> {
            bytes
                .get(8 + 8 * i..16 + 8 * i)
                .map(|b| u64::from_le_bytes(b.try_into().expect("8")))
        };
        let version = word(0)
            .and_then(Version::from_hex)
            .ok_or_else(|| Error::invalid("_Py_DebugOffsets has an implausible version"))?;
        let names = field_names(version.minor);
        let mut fields = Vec::with_capacity(names.len());
        for (i, name) in names.into_iter().enumerate() {
            let value = word(i).ok_or_else(|| Error::invalid("_Py_DebugOffsets read too short"))?;
            fields.push((name, value));
        }
        Ok(Some(DebugOffsets {
            version,
            free_threaded: word(1) != Some(0),
            fields,
        }))
    }

    fn get(&self, name: &str) -> i64 {
        self.fields
            .iter()
            .find(|(n, _)| *n == name)
            .map(|&(_, v)| v as i64)
            .expect("field listed")
    }

    /// The generated table for this minor version, with every field the target publishes
    /// replaced by the target's own value.
    pub(crate) fn overlay(&self, base: &Layout) -> Layout {
        let mut l = *base;
        let g = |n| self.get(n);
        l.runtime_interpreters_head = g("runtime_state.interpreters_head");
        l.interp_next = g("interpreter_state.next");
        l.interp_threads_head = g("interpreter_state.threads_head");
        l.interp_modules = g("interpreter_state.imports_modules");
        l.interp_ceval_gil = g("interpreter_state.ceval_gil");
        // The published GIL offsets are relative to the interpreter; ours to the GIL struct.
        let gil = g("interpreter_state.gil_runtime_state");
        // Wrapping: garbage values must reach `check`, not overflow here.
        l.gil_locked = g("interpreter_state.gil_runtime_state_locked").wrapping_sub(gil);
        l.gil_last_holder = g("interpreter_state.gil_runtime_state_holder").wrapping_sub(gil);
        l.ts_size = g("thread_state.size");
        l.ts_next = g("thread_state.next");
        l.ts_interp = g("thread_state.interp");
        l.ts_current_frame = g("thread_state.current_frame");
        l.ts_thread_id = g("thread_state.thread_id");
        l.ts_native_thread_id = g("thread_state.native_thread_id");
        l.ts_datastack_chunk = g("thread_state.datastack_chunk");
        l.iframe_previous = g("interpreter_frame.previous");
        l.iframe_code = g("interpreter_frame.executable");
        l.iframe_instr = g("interpreter_frame.instr_ptr");
        l.iframe_owner = g("interpreter_frame.owner");
        l.iframe_localsplus = g("interpreter_frame.localsplus");
        l.iframe_size = g("interpreter_frame.localsplus");
        l.code_filename = g("code_object.filename");
        l.code_name = g("code_object.name");
        l.code_qualname = g("code_object.qualname");
        l.code_linetable = g("code_object.linetable");
        l.code_firstlineno = g("code_object.firstlineno");
        l.code_code_adaptive = g("code_object.co_code_adaptive");
        l.code_size = g("code_object.co_code_adaptive");
        l.ob_type = g("pyobject.ob_type");
        l.tp_name = g("type_object.tp_name");
        l.tp_flags = g("type_object.tp_flags");
        l.dict_ma_keys = g("dict_object.ma_keys");
        l.dict_ma_values = g("dict_object.ma_values");
        l.bytes_ob_size = g("bytes_object.ob_size");
        l.bytes_ob_sval = g("bytes_object.ob_sval");
        l.unicode_state = g("unicode_object.state");
        l.unicode_length = g("unicode_object.length");
        l.unicode_ascii_size = g("unicode_object.asciiobject_size");
        l
    }

    /// Reject a published layout with offsets no real build has: negative (a GIL field before
    /// the GIL struct) or huge. Catches garbage behind a valid cookie before it becomes reads of
    /// gigabytes or address arithmetic that wraps.
    fn check(&self, l: &Layout) -> Result<()> {
        let fields = [
            ("runtime_interpreters_head", l.runtime_interpreters_head),
            ("interp_next", l.interp_next),
            ("interp_threads_head", l.interp_threads_head),
            ("interp_modules", l.interp_modules),
            ("interp_ceval_gil", l.interp_ceval_gil),
            ("gil_locked", l.gil_locked),
            ("gil_last_holder", l.gil_last_holder),
            ("ts_size", l.ts_size),
            ("ts_next", l.ts_next),
            ("ts_interp", l.ts_interp),
            ("ts_current_frame", l.ts_current_frame),
            ("ts_thread_id", l.ts_thread_id),
            ("ts_native_thread_id", l.ts_native_thread_id),
            ("ts_datastack_chunk", l.ts_datastack_chunk),
            ("iframe_previous", l.iframe_previous),
            ("iframe_code", l.iframe_code),
            ("iframe_instr", l.iframe_instr),
            ("iframe_owner", l.iframe_owner),
            ("iframe_size", l.iframe_size),
            ("code_filename", l.code_filename),
            ("code_name", l.code_name),
            ("code_qualname", l.code_qualname),
            ("code_linetable", l.code_linetable),
            ("code_firstlineno", l.code_firstlineno),
            ("code_code_adaptive", l.code_code_adaptive),
            ("ob_type", l.ob_type),
            ("tp_name", l.tp_name),
            ("tp_flags", l.tp_flags),
            ("dict_ma_keys", l.dict_ma_keys),
            ("dict_ma_values", l.dict_ma_values),
            ("bytes_ob_size", l.bytes_ob_size),
            ("bytes_ob_sval", l.bytes_ob_sval),
            ("unicode_state", l.unicode_state),
            ("unicode_length", l.unicode_length),
            ("unicode_ascii_size", l.unicode_ascii_size),
        ];
        match fields.iter().find(|(_, v)| !(0..MAX_PUBLISHED).contains(v)) {
            Some((name, v)) => Err(Error::invalid(format!(
                "_Py_DebugOffsets publishes an implausible {name} ({v})"
            ))),
            None => Ok(()),
        }
    }

    /// Fields whose published value differs from the generated table (layout drift).
    pub(crate) fn drift(&self, base: &Layout) -> Vec<String> {
        let published = self.overlay(base);
        let mut out = Vec::new();
        macro_rules! cmp {
            ($($f:ident),*) => {$(
                if published.$f != base.$f {
                    out.push(format!("{}: table {} → target {}", stringify!($f), base.$f, published.$f));
                }
            )*};
        }
        cmp!(
            runtime_interpreters_head,
            interp_next,
            interp_threads_head,
            interp_modules,
            interp_ceval_gil,
            gil_locked,
            gil_last_holder,
            ts_size,
            ts_next,
            ts_interp,
            ts_current_frame,
            ts_thread_id,
            ts_native_thread_id,
            ts_datastack_chunk,
            iframe_previous,
            iframe_code,
            iframe_instr,
            iframe_owner,
            iframe_size,
            code_filename,
            code_name,
            code_qualname,
            code_linetable,
            code_firstlineno,
            code_code_adaptive,
            tp_name,
            tp_flags,
            dict_ma_keys,
            dict_ma_values,
            bytes_ob_size,
            bytes_ob_sval,
            unicode_state,
            unicode_length,
            unicode_ascii_size
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_cookie_is_none() {
        assert!(DebugOffsets::parse(&[0u8; READ_LEN]).unwrap().is_none());
    }

    #[test]
    fn parses_fields_in_order() {
        let mut bytes = COOKIE.to_vec();
        let names = field_names(13);
        for (i, _) in names.iter().enumerate() {
            let v: u64 = if i == 0 {
                0x030d00f0
            } else if i == 1 {
                0
            } else {
                1000 + i as u64
            };
            bytes.extend(v.to_le_bytes());
        }
        let d = DebugOffsets::parse(&bytes).unwrap().unwrap();
        assert_eq!(d.version.to_string(), "3.13.0");
        assert!(!d.free_threaded);
        let idx = names
            .iter()
            .position(|n| *n == "thread_state.next")
            .unwrap();
        assert_eq!(d.get("thread_state.next"), 1000 + idx as i64);
        assert!(field_names(13).len() * 8 + 8 <= READ_LEN);
        assert!(field_names(14).len() * 8 + 8 <= READ_LEN);
    }
}
