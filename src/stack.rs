//! What one walk of a thread produces: plain data, shared by the walker, `dump`, and the aggregator.
use crate::name::Name;

use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// One Python frame. Names are interned ([`Name`]), so a sample copies pointers, not strings.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Frame {
    /// Function name (qualified name on 3.11+, e.g. `Class.method`).
    pub name: Name,
    /// Source file name as the code object records it.
    pub filename: Name,
    /// Line being executed (0 when unknown).
    pub line: u32,
}

impl Frame {
    /// A native frame of `--native` (a C function, its module as the file, no line), or a
    /// marker such as `[native unwind stopped]`.
    pub fn is_native(&self) -> bool {
        self.line == 0 && !self.filename.ends_with(".py")
    }
}

/// One call of the C eval loop as the Python stack shows it: how many Python frames it runs,
/// and (3.12+) the address of its entry frame, a local of that C call on the native stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct EvalCall {
    /// Python frames the call runs (innermost first in the thread's frames).
    pub frames: u32,
    /// Address of the call's entry frame; 0 where there is none on the C stack (≤ 3.11).
    pub entry_frame: u64,
}

/// The stack of one Python thread at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThreadStack {
    /// `threading.get_ident()`: the pthread_t of the thread.
    pub thread_id: u64,
    /// OS thread id (what `top -H` shows), when known.
    pub os_tid: Option<u32>,
    /// `threading.Thread.name`, when the thread is registered with `threading`.
    pub name: Option<Arc<str>>,
    /// Running or runnable on a CPU (false when sleeping / waiting).
    pub active: bool,
    /// Holds the GIL.
    pub holds_gil: bool,
    /// Frames, innermost first. Shared: a thread whose stack is the same as in the previous
    /// sample hands on the same frames (one reference count, no copy; see the walker).
    pub frames: Arc<[Frame]>,
}

impl ThreadStack {
    /// A short status word: `active+gil`, `active`, `idle`, `idle+gil`.
    pub fn status(&self) -> &'static str {
        match (self.active, self.holds_gil) {
            (true, true) => "active+gil",
            (true, false) => "active",
            (false, true) => "idle+gil",
            (false, false) => "idle",
        }
    }
}
