//! A native sample kept for later: registers, the stack copy, and where each module was
//! mapped, so an unwind can be replayed offline (golden tests, bug reports).
//! Written by setting `PYPROBE_NATIVE_CAPTURE=<dir>` while `--native` runs (first few samples).
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::module::{build_id, ModuleData, Modules};
use super::{MappedModule, NativeStack, Registers, StackCopy, Unwinder};
use crate::process::ElfFile;

/// How many captures one run writes.
const MAX_CAPTURES: usize = 8;

/// One module of a capture.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CapturedModule {
    /// The file (as this machine sees it).
    pub path: PathBuf,
    /// Executable mapping.
    pub start: u64,
    /// Its end.
    pub end: u64,
    /// Load bias.
    pub bias: u64,
    /// GNU build id (hex), to refuse a replay against another build of the file.
    pub build_id: String,
}

/// Registers, stack and modules of one thread at one moment.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Capture {
    /// rip, rsp, rbp.
    pub regs: Registers,
    /// The stack from rsp, hex.
    pub stack_hex: String,
    /// The modules the unwind went through.
    pub modules: Vec<CapturedModule>,
    /// The Python version of the target (for the eval-loop symbol).
    pub python2: bool,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    let text = text.trim();
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

impl Capture {
    /// A capture of `stack` (unwound as `native`, whose frames say which modules matter and
    /// how much of the stack was used).
    pub fn new(
        modules: &Modules,
        regs: Registers,
        stack: &[u8],
        native: &NativeStack,
        python2: bool,
    ) -> Capture {
        let mut used: Vec<CapturedModule> = Vec::new();
        for frame in &native.frames {
            let Some(m) = modules.find(frame.addr) else {
                continue;
            };
            if used.iter().any(|u| u.start == m.start) {
                continue;
            }
            used.push(CapturedModule {
                path: m.data.path().to_path_buf(),
                start: m.start,
                end: m.end,
                bias: m.bias,
                build_id: m.data.build_id().map(hex).unwrap_or_default(),
            });
        }
        // The stack up to a little past the outermost frame's rsp: all the unwind read.
        let top = native
            .frames
            .last()
            .map_or(0, |f| f.sp.saturating_sub(regs.sp));
        let keep = (top as usize).saturating_add(512).min(stack.len());
        Capture {
            regs,
            stack_hex: hex(&stack[..keep]),
            modules: used,
            python2,
        }
    }

    /// Unwind again, with the module files of this machine; an error when one is missing or
    /// is another build than the one captured.
    pub fn replay(&self) -> Result<NativeStack, String> {
        let mut mapped = Vec::new();
        for m in &self.modules {
            let elf = ElfFile::open(&m.path).map_err(|e| e.to_string())?;
            let id = build_id(&elf).map(|b| hex(&b)).unwrap_or_default();
            if id != m.build_id {
                return Err(format!(
                    "{} is build {id}, the capture was of build {}",
                    m.path.display(),
                    m.build_id
                ));
            }
            mapped.push(MappedModule {
                start: m.start,
                end: m.end,
                bias: m.bias,
                data: std::sync::Arc::new(ModuleData::from_elf(elf, true)),
            });
        }
        let stack = unhex(&self.stack_hex).ok_or("stack_hex is not hex")?;
        let mut unwinder = Unwinder::new(Modules::from_list(mapped), self.python2);
        Ok(unwinder.unwind(
            self.regs,
            StackCopy {
                start: self.regs.sp,
                bytes: &stack,
            },
        ))
    }
}

/// Writes the first few captures of a run to `PYPROBE_NATIVE_CAPTURE`, if set.
#[derive(Debug, Default)]
pub struct CaptureWriter {
    dir: Option<PathBuf>,
    written: usize,
}

impl CaptureWriter {
    /// From the environment.
    pub fn from_env() -> CaptureWriter {
        CaptureWriter {
            dir: std::env::var_os("PYPROBE_NATIVE_CAPTURE")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
            written: 0,
        }
    }

    /// Whether a capture is wanted now.
    pub fn wants(&self) -> bool {
        self.dir.is_some() && self.written < MAX_CAPTURES
    }

    /// Write `capture` as `capture-N.json`.
    pub fn write(&mut self, capture: &Capture) {
        let Some(dir) = &self.dir else { return };
        let path = dir.join(format!("capture-{}.json", self.written));
        self.written += 1;
        if let Ok(text) = serde_json::to_string_pretty(capture) {
            let _ = std::fs::create_dir_all(dir);
            let _ = std::fs::write(&path, text);
        }
    }
}

/// Labels of a stack, one a line, and how it ended: the golden form.
pub fn describe(native: &NativeStack) -> String {
    let mut text = String::new();
    for f in &native.frames {
        text += &format!("{} [{}] {:?}\n", f.label, f.module, f.kind);
    }
    text += &format!("ending: {:?}\n", native.ending);
    text
}

/// Read a capture file.
pub fn read(path: &Path) -> Result<Capture, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}
