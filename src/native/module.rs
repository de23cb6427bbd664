//! The code modules mapped in the target (executable, shared libraries), each with its unwind
//! rules and symbols, loaded once per file and kept while it stays mapped.
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use gimli::UnwindContext;

use super::cfi::{CfiIndex, CfiSections, Row, SectionSpan};
use super::symbols::SymbolTable;
use crate::process::{ElfFile, MappedFile, ProcessMaps};

/// Where separate debug files are found by build id (`<dir>/xx/yyyy….debug`).
/// https://sourceware.org/gdb/current/onlinedocs/gdb.html/Separate-Debug-Files.html
const DEBUG_DIR: &str = "/usr/lib/debug/.build-id";

/// One ELF file's unwind rules and symbols (independent of where it is mapped).
#[derive(Debug)]
pub struct ModuleData {
    /// The file name shown for frames without a symbol (`libz.so.1.2.13`).
    pub name: Arc<str>,
    elf: ElfFile,
    cfi: CfiIndex,
    /// A separate debug file's bytes and CFI (its `.debug_frame`), when found by build id.
    debug: Option<(ElfFile, CfiIndex)>,
    symbols: SymbolTable,
    /// `p_vaddr` of the first PT_LOAD, for the load bias.
    first_load_vaddr: u64,
    /// The interpreter itself (the executable or libpython): it defines the eval loop.
    pub is_interpreter: bool,
    build_id: Option<Vec<u8>>,
}

/// The CFI sections of `elf`.
pub fn cfi_sections(elf: &ElfFile) -> CfiSections {
    let span = |name: &str| {
        let s = elf.section_header(name)?;
        Some(SectionSpan {
            file_start: usize::try_from(s.file_offset?).ok()?,
            len: usize::try_from(s.size).ok()?,
            addr: s.addr,
        })
    };
    CfiSections {
        eh_frame: span(".eh_frame"),
        debug_frame: span(".debug_frame"),
        text_addr: elf.section(".text").map_or(0, |s| s.0),
        eh_frame_hdr_addr: elf.section(".eh_frame_hdr").map_or(0, |s| s.0),
    }
}

/// The GNU build id of `elf` (`.note.gnu.build-id`: namesz, descsz, type, "GNU\0", id).
pub fn build_id(elf: &ElfFile) -> Option<Vec<u8>> {
    let note = elf.section_bytes(".note.gnu.build-id")?;
    let word = |at: usize| Some(u32::from_le_bytes(note.get(at..at + 4)?.try_into().ok()?));
    let (namesz, descsz) = (word(0)? as usize, word(4)? as usize);
    let desc_start = 12usize.checked_add(namesz.checked_add(3)? & !3)?;
    let id = note.get(desc_start..desc_start.checked_add(descsz)?)?;
    (2..=64).contains(&id.len()).then(|| id.to_vec())
}

/// The separate debug file of a build id, when installed.
fn debug_file_for(id: &[u8]) -> Option<ElfFile> {
    let hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
    let path = Path::new(DEBUG_DIR)
        .join(&hex[..2])
        .join(format!("{}.debug", &hex[2..]));
    ElfFile::open(&path).ok()
}

impl ModuleData {
    /// Read the module at `path` as process `pid` sees it.
    pub fn load(pid: i32, path: &Path) -> Option<ModuleData> {
        let elf = ElfFile::open_for_pid(pid, path).ok()?;
        Some(ModuleData::from_elf(elf, true))
    }

    /// A module from a parsed file; `look_for_debug_file` finds its separate debug file.
    pub fn from_elf(elf: ElfFile, look_for_debug_file: bool) -> ModuleData {
        let name: Arc<str> = elf
            .path()
            .file_name()
            .map(|n| n.to_string_lossy().into())
            .unwrap_or_else(|| "?".into());
        let cfi = CfiIndex::build(elf.bytes(), cfi_sections(&elf));
        let id = build_id(&elf);
        let debug = look_for_debug_file
            .then_some(id.as_deref())
            .flatten()
            .and_then(debug_file_for);
        let symbols = SymbolTable::of(&elf, debug.as_ref());
        let debug = debug.map(|d| {
            let cfi = CfiIndex::build(d.bytes(), cfi_sections(&d));
            (d, cfi)
        });
        let is_interpreter = elf.symbol("_PyEval_EvalFrameDefault").is_some()
            || elf.symbol("PyEval_EvalFrameEx").is_some();
        ModuleData {
            is_interpreter,
            build_id: id,
            name,
            first_load_vaddr: elf.first_load_vaddr().unwrap_or(0),
            elf,
            cfi,
            debug,
            symbols,
        }
    }

    /// The file's path (as the target sees it).
    pub fn path(&self) -> &Path {
        self.elf.path()
    }

    /// The file's GNU build id.
    pub fn build_id(&self) -> Option<&[u8]> {
        self.build_id.as_deref()
    }

    /// The unwind rule at file address `addr`: `.eh_frame` first, then a debug file's CFI.
    pub fn row(&self, ctx: &mut UnwindContext<usize>, addr: u64) -> Option<Row> {
        self.cfi.row(self.elf.bytes(), ctx, addr).or_else(|| {
            let (elf, cfi) = self.debug.as_ref()?;
            cfi.row(elf.bytes(), ctx, addr)
        })
    }

    /// The symbol at file address `addr`.
    pub fn symbol(&self, addr: u64) -> Option<&Arc<str>> {
        self.symbols.lookup(addr).map(|(name, _)| name)
    }

    /// The start of the function holding file address `addr`, by its CFI.
    pub fn function_start(&self, addr: u64) -> Option<u64> {
        self.cfi.function_start(addr)
    }

    /// Whether CFI was found at all.
    pub fn has_cfi(&self) -> bool {
        !self.cfi.is_empty() || self.debug.as_ref().is_some_and(|(_, c)| !c.is_empty())
    }
}

/// A module where it is mapped in the target.
#[derive(Debug, Clone)]
pub struct MappedModule {
    /// First address of its executable mappings.
    pub start: u64,
    /// One past the last.
    pub end: u64,
    /// Add to a file address to get the target's address.
    pub bias: u64,
    /// The file's rules and symbols.
    pub data: Arc<ModuleData>,
}

/// The modules of one process, by address; file data cached by path across refreshes.
#[derive(Debug, Default)]
pub struct Modules {
    mapped: Vec<MappedModule>,
    cache: HashMap<PathBuf, Option<Arc<ModuleData>>>,
}

impl Modules {
    /// Rebuild the address map from `maps`; files already loaded are reused.
    pub fn refresh(&mut self, pid: i32, maps: &ProcessMaps) {
        let mut mapped = Vec::new();
        let mut paths: Vec<&Path> = maps
            .regions()
            .iter()
            .filter(|r| r.executable)
            .filter_map(|r| r.path.as_deref())
            .filter(|p| p.is_absolute())
            .collect();
        paths.dedup();
        for path in paths {
            let Some(file) = maps.file(path) else {
                continue;
            };
            let data = self
                .cache
                .entry(path.to_path_buf())
                .or_insert_with(|| ModuleData::load(pid, path).map(Arc::new))
                .clone();
            let Some(data) = data else { continue };
            for region in maps
                .regions()
                .iter()
                .filter(|r| r.executable && r.path.as_deref() == Some(path))
            {
                mapped.push(MappedModule {
                    start: region.start,
                    end: region.end,
                    bias: bias(&file, data.first_load_vaddr),
                    data: data.clone(),
                });
            }
        }
        mapped.sort_by_key(|m| m.start);
        self.mapped = mapped;
    }

    /// Modules from a list (tests, replays).
    pub fn from_list(mapped: Vec<MappedModule>) -> Modules {
        let mut mapped = mapped;
        mapped.sort_by_key(|m| m.start);
        Modules {
            mapped,
            cache: HashMap::new(),
        }
    }

    /// The module whose executable mapping holds `addr`.
    pub fn find(&self, addr: u64) -> Option<&MappedModule> {
        let i = self.mapped.partition_point(|m| m.start <= addr);
        self.mapped[..i].last().filter(|m| addr < m.end)
    }

    /// Every mapped module.
    pub fn list(&self) -> &[MappedModule] {
        &self.mapped
    }
}

fn bias(file: &MappedFile, first_load_vaddr: u64) -> u64 {
    file.load_bias(first_load_vaddr)
}
