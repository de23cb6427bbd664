//! Native (C) stacks: unwinding a thread's registers and a copy of its user stack by the DWARF
//! CFI of the modules mapped in the target (gimli), naming each frame from the modules'
//! symbol tables, and merging the result with the Python frames ([`merge`]), so a stack reads
//! `squeeze (app.py:7) → zlib_compress → deflate → longest_match`.
//!
//! The registers and stack come from a perf sample ([`crate::perf::stacks`]) taken without
//! stopping the target, or from a ptrace stop where perf events are refused. x86_64 only.
use std::sync::Arc;

use crate::fast_hash::FastMap;

pub mod capture;
pub mod cfi;
pub mod dump;
pub mod merge;
pub mod module;
pub mod replay;
pub mod symbols;
pub mod unwind;

#[cfg(test)]
mod fuzz_tests;
#[cfg(test)]
mod golden_tests;

pub use module::{MappedModule, ModuleData, Modules};
pub use unwind::{Ending, Registers, StackCopy};

/// The symbol of the interpreter's eval loop: each native frame of it runs Python frames.
/// 3.6+: `_PyEval_EvalFrameDefault` (`PyEval_EvalFrameEx` only wraps it); 2.7: `PyEval_EvalFrameEx`.
/// https://github.com/python/cpython/blob/v3.12.1/Python/ceval.c
pub fn is_eval_loop(symbol: &str, python2: bool) -> bool {
    let base = symbol.split('.').next().unwrap_or(symbol);
    if python2 {
        base == "PyEval_EvalFrameEx"
    } else {
        base == "_PyEval_EvalFrameDefault"
    }
}

/// What a native frame is, for the merge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    /// A call of the eval loop: where Python frames go.
    EvalLoop,
    /// Interpreter plumbing between Python and C (`_PyObject_Call`, vectorcall helpers):
    /// not shown.
    Plumbing,
    /// Code of a stripped interpreter without a name: shown only at the leaf (the C code a
    /// Python frame is in: a built-in module's), not between Python frames.
    Unnamed,
    /// Anything else: C extension code, libraries, the leaf.
    Shown,
}

/// One symbolised native frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NativeFrame {
    /// The address (inside the call instruction for callers).
    pub addr: u64,
    /// The frame's rsp.
    pub sp: u64,
    /// What the merge does with it.
    pub kind: FrameKind,
    /// `symbol`, or `module+0xoffset` without one, or `0x…` outside any module.
    pub label: Arc<str>,
    /// The module file name, or `?`.
    pub module: Arc<str>,
}

/// A thread's native stack, innermost first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NativeStack {
    /// The frames.
    pub frames: Vec<NativeFrame>,
    /// Why unwinding ended: anything but [`Ending::Complete`] is a partial stack.
    pub ending: Ending,
}

impl NativeStack {
    /// Whether unwinding stopped before the outermost frame.
    pub fn partial(&self) -> bool {
        self.ending != Ending::Complete
    }
}

/// Unwinds and symbolises the stacks of one process.
#[derive(Debug, Default)]
pub struct Unwinder {
    modules: Modules,
    rows: unwind::RowCache,
    raw: Vec<unwind::RawNativeFrame>,
    python2: bool,
    /// Each address's frame once symbolised (its `sp` aside): the same return addresses come
    /// back on every sample, and naming one is a symbol search, string tests and, without a
    /// symbol, a `format!` (5% of pyprobe's CPU at 1 kHz on zlib before this cache).
    named: FastMap<u64, NativeFrame>,
}

/// Most addresses [`Unwinder`] keeps named; past it the cache starts again (a JIT or a
/// program that maps code without end must not grow it for good).
const MOST_NAMED: usize = 1 << 16;

/// Interpreter functions that only pass calls along (names start with these).
const PLUMBING_PREFIXES: &[&str] = &[
    "_Py",
    "Py",
    "cfunction_",
    "method_vectorcall",
    "vectorcall",
    "slot_tp_",
    "call_trampoline",
    "function_code_fastcall",
    "fast_function",
    "call_function",
    "do_call_core",
    "object_vacall",
];

impl Unwinder {
    /// An unwinder over `modules`; `python2` picks the 2.7 eval-loop symbol.
    pub fn new(modules: Modules, python2: bool) -> Unwinder {
        Unwinder {
            modules,
            python2,
            ..Unwinder::default()
        }
    }

    /// The modules.
    pub fn modules(&self) -> &Modules {
        &self.modules
    }

    /// Whether the target is Python 2.
    pub fn python2(&self) -> bool {
        self.python2
    }

    /// Read the modules again from `maps`; rules cached by address are forgotten when the
    /// modules changed (an address may now be in another module).
    pub fn refresh_modules(&mut self, pid: i32, maps: &crate::process::ProcessMaps) {
        let before: Vec<(u64, u64)> = self
            .modules
            .list()
            .iter()
            .map(|m| (m.start, m.end))
            .collect();
        self.modules.refresh(pid, maps);
        if !self
            .modules
            .list()
            .iter()
            .map(|m| (m.start, m.end))
            .eq(before)
        {
            self.rows.clear();
            self.named.clear();
        }
    }

    /// Unwind and symbolise one stack.
    pub fn unwind(&mut self, regs: Registers, stack: StackCopy<'_>) -> NativeStack {
        self.raw.clear();
        let ending = unwind::unwind(&self.modules, &mut self.rows, regs, stack, &mut self.raw);
        if self.named.len() > MOST_NAMED {
            self.named.clear();
        }
        let mut frames = Vec::with_capacity(self.raw.len());
        for raw in &self.raw {
            let frame = match self.named.get(&raw.addr) {
                Some(named) => named.clone(),
                None => {
                    let named = self.symbolise(raw.addr);
                    self.named.insert(raw.addr, named.clone());
                    named
                }
            };
            frames.push(NativeFrame {
                sp: raw.sp,
                ..frame
            });
        }
        NativeStack { frames, ending }
    }

    fn symbolise(&self, addr: u64) -> NativeFrame {
        let Some(module) = self.modules.find(addr) else {
            return NativeFrame {
                addr,
                sp: 0,
                kind: FrameKind::Shown,
                label: "[unknown]".into(),
                module: "?".into(),
            };
        };
        let file_addr = addr.wrapping_sub(module.bias);
        let data = &module.data;
        let symbol = data.symbol(file_addr);
        let kind = match symbol {
            Some(s) if is_eval_loop(s, self.python2) => FrameKind::EvalLoop,
            Some(s)
                if data.is_interpreter && PLUMBING_PREFIXES.iter().any(|p| s.starts_with(p)) =>
            {
                FrameKind::Plumbing
            }
            None if data.is_interpreter => FrameKind::Unnamed,
            _ => FrameKind::Shown,
        };
        let label = match symbol {
            Some(s) => symbols::demangled(s),
            // Named by its function's start (one name per function, not per address: names
            // are interned for good).
            None => match data.function_start(file_addr) {
                Some(start) => format!("{}+{start:#x}", data.name).into(),
                None => format!("{}+?", data.name).into(),
            },
        };
        NativeFrame {
            addr,
            sp: 0,
            kind,
            label,
            module: data.name.clone(),
        }
    }
}
