//! ELF symbols, sections and program headers of the target's binaries (goblin).
//!
//! The file could be anything (a stripped static executable, a truncated library, not an ELF at
//! all), so parsing never panics: everything is copied out of goblin's borrowed view into owned
//! tables once, inside `catch_unwind`, and later lookups only touch those tables.
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use goblin::container::Ctx;
use goblin::elf::program_header::PT_LOAD;
use goblin::elf::section_header::{SHN_XINDEX, SHT_DYNSYM, SHT_NOBITS, SHT_SYMTAB};
use goblin::elf::sym::{Sym, Symtab, STT_FILE, STT_SECTION};
use goblin::elf::{Elf, ProgramHeader, SectionHeader};

pub use super::elf_symbols::Symbol;
use super::elf_symbols::{string_at, SymbolIndex};
use super::file_bytes::FileBytes;
use crate::error::{Error, Result};

/// A section header: where the section lives in the file and in memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// The name (`.data`, `.bss`, `.PyRuntime`, …).
    pub name: String,
    /// Virtual address (0 for sections that are not loaded).
    pub addr: u64,
    /// Size in memory.
    pub size: u64,
    /// Offset of the contents in the file; `None` for `.bss`-like sections with no file bytes.
    pub file_offset: Option<u64>,
}

/// A parsed ELF binary: symbols of `.dynsym` and `.symtab`, sections, the first PT_LOAD, and
/// the raw bytes for pattern searches.
#[derive(Debug, Clone)]
pub struct ElfFile {
    path: PathBuf,
    bytes: FileBytes,
    symbols: SymbolIndex,
    sections: Vec<Section>,
    first_load_vaddr: Option<u64>,
    is_shared: bool,
}

impl ElfFile {
    /// Open `path` as process `pid` sees it: through `/proc/PID/root/<path>` so a target in a
    /// container (another mount namespace) resolves its own files; if that fails (e.g. no
    /// permission on `/proc/PID/root`), the plain path.
    pub fn open_for_pid(pid: i32, path: &Path) -> Result<Self> {
        match FileBytes::open(&crate::proc::root_path(pid, path)) {
            Ok(bytes) => Self::parse_bytes(path, bytes),
            Err(_) => Self::open(path),
        }
    }

    /// [`ElfFile::open_for_pid`], shared: the same file (device, inode, size, modification
    /// time) is parsed once and handed out again. Parsing libpython's symbols takes 25-100 ms
    /// in a dev build, and `--subprocesses` looks for Python in every new process of a pool.
    pub fn open_for_pid_shared(pid: i32, path: &Path) -> Result<Arc<Self>> {
        use std::os::unix::fs::MetadataExt;
        /// Files kept parsed: a tree runs one or two Python builds.
        const KEPT: usize = 8;
        type Cache = Mutex<Vec<((u64, u64, u64, i64, i64), Arc<ElfFile>)>>;
        static CACHE: OnceLock<Cache> = OnceLock::new();
        let key = std::fs::metadata(crate::proc::root_path(pid, path))
            .or_else(|_| std::fs::metadata(path))
            .ok()
            .map(|m| (m.dev(), m.ino(), m.size(), m.mtime(), m.mtime_nsec()));
        let cache = CACHE.get_or_init(Default::default);
        if let Some(key) = key {
            let kept = cache.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((_, elf)) = kept.iter().find(|(k, _)| *k == key) {
                return Ok(elf.clone());
            }
        }
        let elf = Arc::new(Self::open_for_pid(pid, path)?);
        if let Some(key) = key {
            let mut kept = cache.lock().unwrap_or_else(|p| p.into_inner());
            if kept.len() >= KEPT {
                kept.remove(0);
            }
            kept.push((key, elf.clone()));
        }
        Ok(elf)
    }

    /// Open and parse the file at `path`.
    pub fn open(path: &Path) -> Result<Self> {
        let bytes = FileBytes::open(path).map_err(|e| Error::Binary {
            path: path.to_path_buf(),
            detail: format!("cannot read: {e}"),
        })?;
        Self::parse_bytes(path, bytes)
    }

    /// Parse ELF `bytes`; `path` only names the file in errors.
    pub fn parse(path: &Path, bytes: Vec<u8>) -> Result<Self> {
        Self::parse_bytes(path, FileBytes::Owned(bytes))
    }

    fn parse_bytes(path: &Path, bytes: FileBytes) -> Result<Self> {
        let err = |detail: String| Error::Binary {
            path: path.to_path_buf(),
            detail,
        };
        // goblin validates offsets against the buffer, but a panic on some malformed input in
        // a dependency must still not take the profiler down.
        let tables = catch_unwind(AssertUnwindSafe(|| extract(&bytes)))
            .map_err(|_| err("malformed ELF (the parser panicked)".into()))?
            .map_err(|e| err(format!("not a valid ELF file: {e}")))?;
        Ok(ElfFile {
            path: path.to_path_buf(),
            bytes,
            symbols: tables.symbols,
            sections: tables.sections,
            first_load_vaddr: tables.first_load_vaddr,
            is_shared: tables.is_shared,
        })
    }

    /// The path this was opened as.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The whole file.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The file vaddr of the defined symbol `name` (from `.dynsym` or `.symtab`).
    pub fn find_symbol(&self, name: &str) -> Option<u64> {
        self.symbol(name).map(|s| s.addr)
    }

    /// The defined symbol `name` with its size.
    pub fn symbol(&self, name: &str) -> Option<Symbol> {
        self.symbols.get(name)
    }

    /// Every defined symbol with a UTF-8 name, `.dynsym` first, each name once.
    pub fn symbols(&self) -> impl Iterator<Item = (&str, Symbol)> {
        self.symbols.iter()
    }

    /// `(vaddr, size)` of the section `name`.
    pub fn section(&self, name: &str) -> Option<(u64, u64)> {
        self.section_header(name).map(|s| (s.addr, s.size))
    }

    /// The full header of section `name`.
    pub fn section_header(&self, name: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.name == name)
    }

    /// All sections, in file order.
    pub fn sections(&self) -> &[Section] {
        &self.sections
    }

    /// The file bytes of section `name` (`None` for `.bss`-like sections or bad offsets).
    pub fn section_bytes(&self, name: &str) -> Option<&[u8]> {
        let s = self.section_header(name)?;
        let start = usize::try_from(s.file_offset?).ok()?;
        let end = start.checked_add(usize::try_from(s.size).ok()?)?;
        self.bytes.get(start..end)
    }

    /// `p_vaddr` of the first PT_LOAD segment: the base for the load bias
    /// ([`super::maps::MappedFile::load_bias`]).
    pub fn first_load_vaddr(&self) -> Option<u64> {
        self.first_load_vaddr
    }

    /// `ET_DYN` (a shared library or a PIE executable), which is loaded at a bias; an
    /// `ET_EXEC` executable is loaded at its link address (bias 0).
    pub fn is_shared(&self) -> bool {
        self.is_shared
    }

    /// File offset of the first occurrence of `pattern` anywhere in the file.
    pub fn find_bytes(&self, pattern: &[u8]) -> Option<usize> {
        find(&self.bytes, pattern)
    }

    /// Virtual address of the first occurrence of `pattern` in section `name` (e.g. a version
    /// string like `"3.11.7 (main, "` in `.rodata`).
    pub fn find_bytes_in_section(&self, name: &str, pattern: &[u8]) -> Option<u64> {
        let (addr, _) = self.section(name)?;
        let at = find(self.section_bytes(name)?, pattern)?;
        Some(addr + at as u64)
    }
}

/// What we keep from goblin's borrowed view.
struct Tables {
    symbols: SymbolIndex,
    sections: Vec<Section>,
    first_load_vaddr: Option<u64>,
    is_shared: bool,
}

/// Header, program and section headers through goblin; symbols straight from the tables the
/// section headers point to. A full `Elf::parse` (relocations, dynamic section, every string
/// decoded) is only the fallback for a file whose section headers name no symbol table.
fn extract(bytes: &[u8]) -> std::result::Result<Tables, goblin::error::Error> {
    let header = Elf::parse_header(bytes)?;
    let ctx = Ctx::new(header.container()?, header.endianness()?);
    let offset = |v: u64| usize::try_from(v).unwrap_or(usize::MAX);
    let program_headers =
        ProgramHeader::parse(bytes, offset(header.e_phoff), header.e_phnum.into(), ctx)?;
    let section_headers =
        SectionHeader::parse(bytes, offset(header.e_shoff), header.e_shnum.into(), ctx)?;
    let section_data = |sh: &SectionHeader| -> &[u8] {
        let start = offset(sh.sh_offset);
        bytes
            .get(start..start.saturating_add(offset(sh.sh_size)))
            .unwrap_or_default()
    };
    // e_shstrndx too large for its field is kept in the first section header's sh_link.
    let names_index = match u32::from(header.e_shstrndx) {
        SHN_XINDEX => section_headers.first().map_or(0, |sh| sh.sh_link),
        i => i,
    };
    let section_names = section_headers
        .get(names_index as usize)
        .map(section_data)
        .unwrap_or_default();
    let sections = section_headers
        .iter()
        .map(|sh| Section {
            name: string_at(section_names, sh.sh_name)
                .map(|n| String::from_utf8_lossy(n).into_owned())
                .unwrap_or_default(),
            addr: sh.sh_addr,
            size: sh.sh_size,
            file_offset: (sh.sh_type != SHT_NOBITS).then_some(sh.sh_offset),
        })
        .collect();
    let mut symbols = SymbolIndex::default();
    // .dynsym first: it is what survives stripping, and its entries are the exported ones.
    let tables: Vec<&SectionHeader> = [SHT_DYNSYM, SHT_SYMTAB]
        .iter()
        .flat_map(|&kind| section_headers.iter().filter(move |sh| sh.sh_type == kind))
        .collect();
    if tables.is_empty() {
        let elf = Elf::parse(bytes)?;
        for (syms, strtab) in [(&elf.dynsyms, &elf.dynstrtab), (&elf.syms, &elf.strtab)] {
            for sym in syms.iter() {
                if let Some(name) = strtab.get_at(sym.st_name) {
                    add_symbol(&mut symbols, name.as_bytes(), &sym);
                }
            }
        }
    }
    for table in tables {
        let Some(strings) = section_headers.get(table.sh_link as usize) else {
            continue;
        };
        let strings = section_data(strings);
        let count = offset(table.sh_size) / Sym::size(ctx.container);
        for sym in Symtab::parse(bytes, offset(table.sh_offset), count, ctx)?.iter() {
            if let Some(name) = string_at(strings, sym.st_name) {
                add_symbol(&mut symbols, name, &sym);
            }
        }
    }
    let first_load_vaddr = program_headers
        .iter()
        .filter(|ph| ph.p_type == PT_LOAD)
        .map(|ph| ph.p_vaddr)
        .next();
    Ok(Tables {
        symbols,
        sections,
        first_load_vaddr,
        is_shared: header.e_type == goblin::elf::header::ET_DYN,
    })
}

/// Index `sym` if it is a defined function or object with a name.
fn add_symbol(symbols: &mut SymbolIndex, name: &[u8], sym: &Sym) {
    // Undefined (imported) symbols have no address here; an executable linked to libpython
    // lists `_PyRuntime` as undefined and must not shadow the real one.
    if sym.st_shndx == 0 || sym.st_value == 0 || name.is_empty() {
        return;
    }
    if matches!(sym.st_type(), STT_SECTION | STT_FILE) {
        return;
    }
    symbols.insert(
        name,
        Symbol {
            addr: sym.st_value,
            size: sym.st_size,
        },
    );
}

/// First index of `needle` in `haystack`. Scans for the first byte, then compares: fast enough
/// for a one-off search of a 20 MB library, with no extra dependency.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    let (&first, rest) = needle.split_first()?;
    let last_start = haystack.len().checked_sub(needle.len())?;
    let mut i = 0;
    while i <= last_start {
        let off = haystack[i..=last_start].iter().position(|&b| b == first)?;
        i += off;
        if haystack[i + 1..i + needle.len()] == *rest {
            return Some(i);
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const PYENV_LIB: &str = "/root/.pyenv/versions/3.11.7/lib/libpython3.11.so.1.0";
    const DEBIAN_PY: &str = "/usr/bin/python3.11";

    #[test]
    fn own_executable() {
        let exe = std::env::current_exe().unwrap();
        let elf = ElfFile::open_for_pid(std::process::id() as i32, &exe).unwrap();
        assert!(elf.first_load_vaddr().is_some());
        assert!(elf.section(".text").is_some());
        assert!(elf.symbols().count() > 0);
    }

    #[test]
    fn pyenv_libpython_has_pyruntime() {
        let path = Path::new(PYENV_LIB);
        if !path.exists() {
            eprintln!("skipping: {PYENV_LIB} not installed");
            return;
        }
        let elf = ElfFile::open(path).unwrap();
        let rt = elf.symbol("_PyRuntime").unwrap();
        assert!(rt.addr != 0 && rt.size > 0);
        assert!(elf.is_shared());
        assert_eq!(elf.first_load_vaddr(), Some(0));
        assert!(elf.find_symbol("Py_Version").is_some());
        // A C `static` function is only in .symtab: found too.
        assert!(elf.find_symbol("bytearray_length").is_some());
        let (data, size) = elf.section(".data").unwrap();
        assert!(data > 0 && size > 0);
        assert!(elf.section_bytes(".bss").is_none());
        assert!(elf.find_bytes_in_section(".rodata", b"3.11.7").is_some());
    }

    /// The section-header route finds exactly the symbols goblin's full parse lists.
    #[test]
    fn symbols_match_a_full_parse() {
        let mut paths = vec![
            PYENV_LIB.to_string(),
            DEBIAN_PY.to_string(),
            "/root/.pyenv/versions/2.7.18/bin/python".to_string(),
        ];
        paths.push(std::env::current_exe().unwrap().display().to_string());
        for path in paths.iter().map(Path::new).filter(|p| p.exists()) {
            let bytes = std::fs::read(path).unwrap();
            let elf = Elf::parse(&bytes).unwrap();
            let mut expected = std::collections::HashMap::new();
            for (syms, strtab) in [(&elf.dynsyms, &elf.dynstrtab), (&elf.syms, &elf.strtab)] {
                for sym in syms.iter() {
                    let name = strtab.get_at(sym.st_name).unwrap_or_default();
                    let defined = sym.st_shndx != 0 && sym.st_value != 0 && !name.is_empty();
                    if defined && !matches!(sym.st_type(), STT_SECTION | STT_FILE) {
                        expected.entry(name.to_string()).or_insert(sym.st_value);
                    }
                }
            }
            let ours = ElfFile::parse(path, bytes.clone()).unwrap();
            assert_eq!(ours.symbols().count(), expected.len(), "{}", path.display());
            for (name, addr) in &expected {
                assert_eq!(
                    ours.find_symbol(name),
                    Some(*addr),
                    "{name} in {}",
                    path.display()
                );
            }
        }
    }

    #[test]
    fn debian_static_python() {
        let path = Path::new(DEBIAN_PY);
        if !path.exists() {
            eprintln!("skipping: {DEBIAN_PY} not installed");
            return;
        }
        let elf = ElfFile::open(path).unwrap();
        assert!(!elf.is_shared(), "Debian's python3.11 is ET_EXEC");
        assert!(elf.find_symbol("_PyRuntime").is_some());
        assert!(elf.find_symbol("Py_Version").is_some());
        let first = elf.first_load_vaddr().unwrap();
        // A non-PIE executable mapped at its link address has bias 0.
        let mapped = super::super::maps::MappedFile {
            path: path.to_path_buf(),
            start: first,
            end: first + 0x1000,
            offset: 0,
            base: Some(first),
        };
        assert_eq!(mapped.load_bias(first), 0);
    }

    #[test]
    fn malformed_input_is_an_error() {
        let p = Path::new("junk");
        let real = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        let mut cases: Vec<Vec<u8>> = vec![
            vec![],
            b"\x7fELF".to_vec(),
            b"not an elf at all".to_vec(),
            vec![0xff; 4096],
        ];
        // Truncations of a real ELF at awkward places.
        for n in [16, 52, 64, 65, 200, 4096, real.len() / 2] {
            cases.push(real[..n.min(real.len())].to_vec());
        }
        // A real header with its section and program header offsets corrupted.
        let mut bad = real[..4096.min(real.len())].to_vec();
        bad[0x20..0x30].copy_from_slice(&[0xff; 16]);
        cases.push(bad);
        let mut bad = real.clone();
        bad[0x3c..0x40].copy_from_slice(&[0xff; 4]); // e_shnum, e_shstrndx
        cases.push(bad);
        for (i, bytes) in cases.into_iter().enumerate() {
            // Ok is acceptable for a lenient parse; a panic is not.
            if let Err(e) = ElfFile::parse(p, bytes) {
                assert!(matches!(e, Error::Binary { .. }), "case {i}: {e:?}");
            }
        }
        assert!(ElfFile::parse(p, b"garbage".to_vec()).is_err());
        assert!(matches!(
            ElfFile::open(Path::new("/nonexistent/x")),
            Err(Error::Binary { .. })
        ));
    }

    #[test]
    fn byte_search() {
        assert_eq!(find(b"hello world", b"world"), Some(6));
        assert_eq!(find(b"aaab", b"ab"), Some(2));
        assert_eq!(find(b"abc", b"abcd"), None);
        assert_eq!(find(b"abc", b""), None);
        assert_eq!(find(b"", b"a"), None);
        assert_eq!(find(b"xxa", b"a"), Some(2));
    }
}
