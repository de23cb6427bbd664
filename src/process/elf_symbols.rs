//! The defined symbols of an ELF file, indexed for the few lookups discovery makes.
//!
//! libpython's `.symtab` holds ~15,000 symbols and discovery asks for a handful, once per
//! attach. Turning every name into an owned `String` key of a SipHash map cost ~3 ms, a third
//! of attaching. Here the names are copied back to back into one buffer and the map is keyed by
//! a fast 64-bit hash of the name; a lookup checks the name itself, so two names with the same
//! hash are still told apart (the second is found by a scan).
use crate::fast_hash::{FastHasher, FastMap};
use std::hash::Hasher;

/// A defined symbol: its file virtual address and size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Symbol {
    /// `st_value`: the address in the file's own address space (add the load bias).
    pub addr: u64,
    /// `st_size` in bytes (0 when unknown).
    pub size: u64,
}

/// Every defined symbol, first definition of a name kept.
#[derive(Debug, Clone, Default)]
pub(crate) struct SymbolIndex {
    /// All names, back to back.
    names: Vec<u8>,
    /// (start and length in `names`, symbol), in the order the tables list them.
    entries: Vec<(u32, u32, Symbol)>,
    /// Hash of a name → index in `entries` of the first name with that hash.
    by_hash: FastMap<u64, u32>,
}

fn hash(name: &[u8]) -> u64 {
    let mut h = FastHasher::default();
    h.write(name);
    h.write_usize(name.len());
    h.finish()
}

impl SymbolIndex {
    /// Add `name` unless a symbol of that name is already in (the earlier table wins: `.dynsym`
    /// is read before `.symtab`).
    pub(crate) fn insert(&mut self, name: &[u8], symbol: Symbol) {
        self.insert_hashed(hash(name), name, symbol);
    }

    fn insert_hashed(&mut self, hash: u64, name: &[u8], symbol: Symbol) {
        let (Ok(start), Ok(len), Ok(index)) = (
            u32::try_from(self.names.len()),
            u32::try_from(name.len()),
            u32::try_from(self.entries.len()),
        ) else {
            return; // over 4 GiB of names: not a real binary
        };
        match self.by_hash.get(&hash) {
            Some(&i) if self.name_at(i as usize) == name => return,
            // Another name with the same hash: kept, found by `scan`.
            Some(_) if self.scan(name).is_some() => return,
            Some(_) => {}
            None => {
                self.by_hash.insert(hash, index);
            }
        }
        self.names.extend_from_slice(name);
        self.entries.push((start, len, symbol));
    }

    /// The symbol named `name`.
    pub(crate) fn get(&self, name: &str) -> Option<Symbol> {
        let i = *self.by_hash.get(&hash(name.as_bytes()))? as usize;
        if self.name_at(i) == name.as_bytes() {
            return Some(self.entries[i].2);
        }
        self.scan(name.as_bytes())
    }

    /// Every symbol with a UTF-8 name, in table order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, Symbol)> {
        (0..self.entries.len()).filter_map(|i| {
            let name = std::str::from_utf8(self.name_at(i)).ok()?;
            Some((name, self.entries[i].2))
        })
    }

    fn name_at(&self, i: usize) -> &[u8] {
        let (start, len, _) = self.entries[i];
        &self.names[start as usize..(start + len) as usize]
    }

    fn scan(&self, name: &[u8]) -> Option<Symbol> {
        (0..self.entries.len())
            .find(|&i| self.name_at(i) == name)
            .map(|i| self.entries[i].2)
    }
}

/// The NUL-terminated string at `offset` of a string table (`None` past its end or unterminated).
pub(crate) fn string_at(table: &[u8], offset: usize) -> Option<&[u8]> {
    let rest = table.get(offset..)?;
    let end = rest.iter().position(|&b| b == 0)?;
    Some(&rest[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sym(addr: u64) -> Symbol {
        Symbol { addr, size: 8 }
    }

    #[test]
    fn first_definition_wins() {
        let mut index = SymbolIndex::default();
        index.insert(b"_PyRuntime", sym(1));
        index.insert(b"Py_Version", sym(2));
        index.insert(b"_PyRuntime", sym(3));
        assert_eq!(index.get("_PyRuntime"), Some(sym(1)));
        assert_eq!(index.get("Py_Version"), Some(sym(2)));
        assert_eq!(index.get("Py_Versio"), None);
        assert_eq!(index.get(""), None);
        assert_eq!(index.iter().count(), 2);
    }

    #[test]
    fn names_with_the_same_hash_are_told_apart() {
        let mut index = SymbolIndex::default();
        index.insert_hashed(7, b"alpha", sym(1));
        index.insert_hashed(7, b"beta", sym(2));
        index.insert_hashed(7, b"beta", sym(3));
        // `get` hashes for real, so look the colliding entries up the way it falls back.
        assert_eq!(index.scan(b"alpha"), Some(sym(1)));
        assert_eq!(index.scan(b"beta"), Some(sym(2)));
        assert_eq!(index.iter().count(), 2);
        // A lookup whose hash lands on another name falls back to the scan.
        let mut index = SymbolIndex::default();
        index.insert_hashed(hash(b"gamma"), b"delta", sym(4));
        index.insert(b"gamma", sym(5));
        assert_eq!(index.get("gamma"), Some(sym(5)));
    }

    #[test]
    fn strings_of_a_table() {
        let table = b"\0abc\0de";
        assert_eq!(string_at(table, 0), Some(&b""[..]));
        assert_eq!(string_at(table, 1), Some(&b"abc"[..]));
        assert_eq!(string_at(table, 2), Some(&b"bc"[..]));
        assert_eq!(string_at(table, 5), None, "unterminated");
        assert_eq!(string_at(table, 99), None);
    }
}
