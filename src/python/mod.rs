//! The Python interpreter inside the target: finding it, and walking its threads' stacks.
mod code;
mod debug_offsets;
mod discovery;
mod linetable;
pub(crate) mod objects;
mod regions;
mod replay;
mod threads;
mod version;
mod walker;

#[cfg(test)]
mod drift_tests;
#[cfg(test)]
mod fuzz_tests;
#[cfg(test)]
#[path = "../../tests/support/interpreter_list.rs"]
mod interpreter_list;
#[cfg(test)]
mod motion_tests;
#[cfg(test)]
mod mutation_tests;

use std::collections::HashMap;
use std::path::PathBuf;

use python_versions::Layout;

pub use discovery::{find_interpreter, find_interpreter_or_exit};
pub use replay::InterpreterRecord;
pub use version::Version;
pub use walker::{OsThreads, Walker, MAX_FRAMES};

/// Where an interpreter lives in the target, and the layout to read it with.
#[derive(Debug, Clone)]
pub struct Interpreter {
    /// Exact version of the target.
    pub version: Version,
    /// The struct layout, with the target's own `_Py_DebugOffsets` applied (3.13+).
    pub layout: Layout,
    /// `PyInterpreterState *` of the main interpreter.
    pub interp_addr: u64,
    /// `&_PyRuntime` (3.7+), when found.
    pub runtime_addr: Option<u64>,
    /// `&_PyThreadState_Current` (2.7 and 3.6: the thread that holds the GIL).
    pub tstate_current_addr: Option<u64>,
    /// The binary that holds the interpreter (libpython or the executable).
    pub binary: PathBuf,
    /// How the interpreter was found, for `--verbose` and bug reports.
    pub found_by: String,
    /// Fields where the target's published layout differs from our table (3.13+ patch drift).
    pub layout_drift: Vec<String>,
}

impl threads::OsThreadList for OsThreads {
    fn tids(&self) -> &HashMap<u32, bool> {
        &self.active
    }
}
