//! Function names by address, from the symbol tables pyprobe already reads
//! ([`crate::process::ElfFile`]: `.dynsym` and `.symtab`).
//!
//! Only symbols with a size are used: a stripped binary keeps a few exported names in
//! `.dynsym`, and naming every internal function after the exported one before it would be
//! worse than no name (`module+offset` instead).
use std::sync::Arc;

use crate::process::ElfFile;

/// Most symbols kept per file (a corrupt table could claim billions).
const MAX_SYMBOLS: usize = 4_000_000;

/// Sized symbols of one file, sorted by address (file virtual addresses).
#[derive(Debug, Default)]
pub struct SymbolTable {
    /// (start, end, name).
    entries: Vec<(u64, u64, Arc<str>)>,
}

impl SymbolTable {
    /// The sized symbols of `elf`, and of `extra` (a separate debug file) when given.
    pub fn of(elf: &ElfFile, extra: Option<&ElfFile>) -> SymbolTable {
        let mut entries: Vec<(u64, u64, Arc<str>)> = Vec::new();
        for file in std::iter::once(elf).chain(extra) {
            for (name, symbol) in file.symbols() {
                if entries.len() >= MAX_SYMBOLS {
                    break;
                }
                let Some(end) = symbol.addr.checked_add(symbol.size) else {
                    continue;
                };
                if symbol.size > 0 && symbol.addr > 0 && !name.is_empty() {
                    entries.push((symbol.addr, end, Arc::from(name)));
                }
            }
        }
        SymbolTable::from_entries(entries)
    }

    /// A table from (start, end, name) entries in any order.
    pub fn from_entries(mut entries: Vec<(u64, u64, Arc<str>)>) -> SymbolTable {
        // At equal starts the larger symbol first, so the lookup meets the function before an
        // alias of part of it; same names once.
        entries.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
        entries.dedup_by(|a, b| a.0 == b.0 && a.1 == b.1);
        SymbolTable { entries }
    }

    /// Symbols kept.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The symbol containing file virtual address `addr`, and `addr`'s offset in it.
    pub fn lookup(&self, addr: u64) -> Option<(&Arc<str>, u64)> {
        let i = self.entries.partition_point(|e| e.0 <= addr);
        // The closest start first; a few more back for a symbol that contains smaller ones.
        self.entries[i.saturating_sub(8)..i]
            .iter()
            .rev()
            .find(|e| addr < e.1)
            .map(|e| (&e.2, addr - e.0))
    }

    /// The start address of the symbol named `name` (tests, and the eval-loop check).
    pub fn address_of(&self, name: &str) -> Option<u64> {
        self.entries.iter().find(|e| &*e.2 == name).map(|e| e.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> SymbolTable {
        SymbolTable::from_entries(vec![
            (0x2000, 0x2100, "b".into()),
            (0x1000, 0x1800, "big".into()),
            (0x1200, 0x1210, "inner".into()),
            (0x1000, 0x1010, "alias".into()),
        ])
    }

    #[test]
    fn finds_the_containing_symbol_only() {
        let t = table();
        assert_eq!(t.lookup(0x2000).map(|(n, o)| (&**n, o)), Some(("b", 0)));
        assert_eq!(t.lookup(0x20ff).map(|(n, o)| (&**n, o)), Some(("b", 0xff)));
        assert_eq!(t.lookup(0x2100), None, "past the end");
        assert_eq!(t.lookup(0xfff), None, "before everything");
        assert_eq!(t.lookup(0x1205).map(|(n, _)| &**n), Some("inner"));
        // Past `inner`, still inside `big`.
        assert_eq!(t.lookup(0x1300).map(|(n, _)| &**n), Some("big"));
        assert_eq!(t.lookup(0x1900), None, "a gap");
    }
}

/// Longest name demangled; longer mangled names (template-heavy C++) are shown as they are.
const MAX_DEMANGLE: usize = 4096;

/// A symbol as a reader writes it: Rust (`_ZN…17h<hash>E`, `_R…`) and C++ (`_Z…`) names
/// demangled (Rust without its hash), anything else — C, or a name that does not parse — as
/// it is. Symbols come from the target's files: a name that fails to parse is left alone,
/// never an error.
pub fn demangled(symbol: &str) -> Arc<str> {
    if symbol.len() > MAX_DEMANGLE || !(symbol.starts_with("_Z") || symbol.starts_with("_R")) {
        return symbol.into();
    }
    if let Ok(rust) = rustc_demangle::try_demangle(symbol) {
        return format!("{rust:#}").into();
    }
    cpp_demangle::Symbol::new(symbol)
        .ok()
        .and_then(|s| s.demangle(&cpp_demangle::DemangleOptions::default()).ok())
        .map_or_else(|| symbol.into(), Arc::from)
}

#[cfg(test)]
mod demangle_tests {
    use super::demangled;

    #[test]
    fn rust_and_cpp_names_are_demangled_and_c_names_kept() {
        assert_eq!(
            &*demangled("_ZN4core3fmt5write17h0123456789abcdefE"),
            "core::fmt::write"
        );
        assert_eq!(&*demangled("_RNvCs1234_7mycrate4main"), "mycrate::main");
        assert_eq!(
            &*demangled("_ZNSt6vectorIiSaIiEE9push_backERKi"),
            "std::vector<int, std::allocator<int> >::push_back(int const&)"
        );
        assert_eq!(&*demangled("deflate"), "deflate");
        assert_eq!(
            &*demangled("_PyEval_EvalFrameDefault"),
            "_PyEval_EvalFrameDefault"
        );
        // Not a valid mangled name: kept as read.
        assert_eq!(&*demangled("_Z"), "_Z");
        assert_eq!(&*demangled("_ZZZZ!!"), "_ZZZZ!!");
        let long = format!("_Z{}", "N".repeat(10_000));
        assert_eq!(&*demangled(&long), long.as_str());
    }
}
