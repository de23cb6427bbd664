//! Finding the interpreter in a live process: which binary holds it, which version it is, and
//! where its `PyInterpreterState` lives.
//!
//! Order of preference (most trustworthy first): the layout the target publishes
//! (`_Py_DebugOffsets`, 3.13+), `Py_Version` (3.11+), a version string in the binary, the file
//! name. For the interpreter: `_PyRuntime` (3.7+), `interp_head` (2.7/3.6, `.symtab` only), and
//! for stripped binaries a scan of the binary's writable memory for a pointer to a structure
//! that validates as an interpreter (its first thread points back to it).
use python_versions::Layout;

use super::debug_offsets::{self, DebugOffsets};
use super::objects::{field, Objects};
use super::version::{scan_version_string, Version};
use super::Interpreter;
use crate::error::{Error, Result};
use crate::process::elf::ElfFile;
use crate::process::maps::{MappedFile, ProcessMaps};
use crate::process::target::Target;
use crate::process::{MemoryReader, ReadExt};

/// A binary mapped into the target, parsed, with its load bias.
struct Candidate {
    elf: std::sync::Arc<ElfFile>,
    mapped: MappedFile,
    bias: u64,
}

impl Candidate {
    fn symbol(&self, name: &str) -> Option<u64> {
        self.elf
            .find_symbol(name)
            .map(|a| a.wrapping_add(self.bias))
    }
}

/// [`find_interpreter`], for a process that may be exiting: a process that exits while we
/// look at it loses its maps and memory first, so what looks like "not Python" or a bad read
/// is then only its exit.
pub fn find_interpreter_or_exit(target: &Target) -> Result<Interpreter> {
    match find_interpreter(target) {
        Err(
            Error::NotPython { .. }
            | Error::Read { .. }
            | Error::Invalid(_)
            | Error::Io { .. }
            | Error::Binary { .. },
        ) if !target.is_alive() => Err(Error::ProcessExited { pid: target.pid() }),
        other => other,
    }
}

/// Find the main interpreter of the Python process `target`.
pub fn find_interpreter(target: &Target) -> Result<Interpreter> {
    let maps = target.maps()?;
    let mut candidates = Vec::new();
    // libpython first: in a shared build the executable is a small stub without the runtime.
    for mapped in [maps.libpython(), maps.executable(target.exe())]
        .into_iter()
        .flatten()
    {
        let elf = target.open_elf(&mapped.path)?;
        let bias = mapped.load_bias(elf.first_load_vaddr().unwrap_or(0));
        candidates.push(Candidate { elf, mapped, bias });
    }
    let reader = target.reader();
    let looks_like_python = |c: &Candidate| {
        [
            "_PyRuntime",
            "interp_head",
            "Py_Version",
            "Py_Initialize",
            "PyEval_EvalFrameEx",
            "_PyThreadState_Current",
        ]
        .iter()
        .any(|s| c.elf.find_symbol(s).is_some())
    };
    if !candidates.iter().any(looks_like_python) {
        return Err(Error::NotPython {
            pid: target.pid(),
            detail: format!(
                "its executable is {} and no libpython is loaded: there are no Python symbols to find. \
                 If Python runs as a child of this process (a shell script, a launcher), give the \
                 python process's own pid (`pgrep -a python`)",
                target.exe().display()
            ),
        });
    }
    let mut reasons = Vec::new();
    for c in &candidates {
        match find_in_binary(reader, &maps, c) {
            Ok(found) => return Ok(found),
            Err(
                e @ (Error::UnsupportedVersion { .. }
                | Error::ProcessExited { .. }
                | Error::PermissionDenied { .. }),
            ) => return Err(e),
            Err(e) => reasons.push(format!("{}: {e}", c.mapped.path.display())),
        }
    }
    if reasons.is_empty() {
        reasons.push(format!(
            "{} has no mapping this profiler could inspect",
            target.exe().display()
        ));
    }
    Err(Error::NotPython {
        pid: target.pid(),
        detail: reasons.join("; "),
    })
}

fn find_in_binary<R: MemoryReader>(
    r: &R,
    maps: &ProcessMaps,
    c: &Candidate,
) -> Result<Interpreter> {
    let runtime = c.symbol("_PyRuntime");
    let debug = match runtime {
        Some(rt) => debug_offsets::read(r, rt)?,
        None => None,
    };
    let (version, version_source) = detect_version(r, c, debug.as_ref())
        .ok_or_else(|| Error::invalid("no Python version found in the binary"))?;
    let (layout, layout_drift) = debug_offsets::target_layout(version, debug.as_ref())?;

    let mut runtime_addr = runtime.filter(|_| Layout::has(layout.runtime_interpreters_head));
    let (interp_addr, how) = if let Some(rt) = runtime_addr {
        (
            r.read_u64(rt + layout.runtime_interpreters_head as u64)?,
            "_PyRuntime symbol",
        )
    } else if let Some(head) = c.symbol("interp_head") {
        (r.read_u64(head)?, "interp_head symbol")
    } else {
        let (word_addr, interp) = scan_for_interpreter(r, maps, c, &layout)?;
        if Layout::has(layout.runtime_interpreters_head) {
            // The word found is `_PyRuntime.interpreters.head`.
            runtime_addr = Some(word_addr - layout.runtime_interpreters_head as u64);
        }
        (interp, "scan of the binary's data")
    };
    // The newest thread can exit between the two reads of the check (a program that starts and
    // ends threads all the time): look again before calling it not an interpreter.
    if !(0..5).any(|_| is_interpreter(r, &layout, interp_addr)) {
        return Err(Error::invalid(format!(
            "found no initialized interpreter (via {how}); if the program is just starting, try again"
        )));
    }
    // Versions found only by file name lack the patch level: sys.version has it.
    let version = match version_source {
        "the binary's file name" => version_from_sys(r, &layout, interp_addr).unwrap_or(version),
        _ => version,
    };
    let tstate_current_addr =
        if Layout::has(layout.runtime_gil) || Layout::has(layout.interp_ceval_gil) {
            None
        } else {
            c.symbol("_PyThreadState_Current")
        };
    Ok(Interpreter {
        version,
        layout,
        interp_addr,
        runtime_addr,
        tstate_current_addr,
        binary: c.mapped.path.clone(),
        found_by: format!("version from {version_source}, interpreter from {how}"),
        layout_drift,
    })
}

/// The version, and how it was found.
fn detect_version<R: MemoryReader>(
    r: &R,
    c: &Candidate,
    debug: Option<&DebugOffsets>,
) -> Option<(Version, &'static str)> {
    if let Some(d) = debug {
        return Some((d.version, "_Py_DebugOffsets"));
    }
    if let Some(v) = c
        .symbol("Py_Version")
        .and_then(|a| r.read_u64(a).ok())
        .and_then(|h| Version::from_hex(h & 0xffff_ffff))
    {
        return Some((v, "Py_Version"));
    }
    let text = c.elf.section_bytes(".rodata").unwrap_or(c.elf.bytes());
    if let Some(v) = scan_version_string(text) {
        return Some((v, "the version string in the binary"));
    }
    let name = c.mapped.path.file_name()?.to_str()?;
    let digits = name.trim_start_matches("lib").trim_start_matches("python");
    let mut parts = digits.split(|ch: char| !ch.is_ascii_digit());
    let major: u8 = parts.next()?.parse().ok()?;
    let minor: u8 = parts.next()?.parse().ok()?;
    Some((
        Version {
            major,
            minor,
            patch: 0,
        },
        "the binary's file name",
    ))
}

/// `sys.version` of the running interpreter, e.g. "3.10.13 (main, …)".
fn version_from_sys<R: MemoryReader>(r: &R, l: &Layout, interp: u64) -> Option<Version> {
    let objects = Objects { layout: l };
    let modules = r.read_u64(interp + l.interp_modules as u64).ok()?;
    let sys = objects.dict_get(r, modules, "sys").ok()??;
    let sys_dict = r.read_u64(field(sys, l.module_md_dict)).ok()?;
    let text = objects
        .read_str(r, objects.dict_get(r, sys_dict, "version").ok()??)
        .ok()?;
    Version::parse_prefix(&text).filter(|v| (v.major, v.minor) == l.version)
}

/// A `PyInterpreterState` whose first thread state points back to it.
fn is_interpreter<R: MemoryReader>(r: &R, l: &Layout, interp: u64) -> bool {
    if interp == 0 || !interp.is_multiple_of(8) {
        return false;
    }
    let Ok(head) = r.read_u64(interp + l.interp_threads_head as u64) else {
        return false;
    };
    if head == 0 || !head.is_multiple_of(8) {
        return false;
    }
    r.read_u64(field(head, l.ts_interp))
        .is_ok_and(|back| back == interp)
}

/// Search the binary's writable memory for a pointer to a valid interpreter (stripped binaries).
/// Returns (address of the pointer, the interpreter).
fn scan_for_interpreter<R: MemoryReader>(
    r: &R,
    maps: &ProcessMaps,
    c: &Candidate,
    l: &Layout,
) -> Result<(u64, u64)> {
    const WINDOW: u64 = 64 * 1024;
    for (start, end) in maps.writable_ranges(&c.mapped) {
        let mut at = start;
        while at < end {
            let len = WINDOW.min(end - at) as usize;
            let Ok(block) = r.read_vec(at, len) else {
                at += WINDOW;
                continue;
            };
            for (i, word) in block.chunks_exact(8).enumerate() {
                let p = u64::from_le_bytes(word.try_into().expect("8"));
                if p != 0
                    && p.is_multiple_of(8)
                    && maps.is_readable(p, 8)
                    && is_interpreter(r, l, p)
                {
                    return Ok((at + 8 * i as u64, p));
                }
            }
            at += WINDOW;
        }
    }
    Err(Error::invalid(
        "no interpreter symbol, and no interpreter found in the binary's data",
    ))
}
