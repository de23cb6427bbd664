//! Which addresses in the target are type objects, and what they are called.
//!
//! The census reads a candidate type pointer out of every block and every tracked object; most
//! candidates are not types (a PyGC_Head's `gc_prev`, list items, string bytes). A candidate is
//! a type only if it is mapped, outside pymalloc's arenas (every type object is larger than a
//! small block, or static in the binary), and its own type is `type` (or a metaclass whose
//! type is `type`), with `Py_TPFLAGS_READY` set and sane sizes. Results are cached by address,
//! so each distinct type costs one read.
use python_versions::Layout;

use crate::fast_hash::FastMap;
use crate::process::{u64_at, MemoryReader};
use crate::python::objects::{field, Objects};

/// `Py_TPFLAGS_HEAPTYPE`: a class made by a `class` statement (its name lacks the module).
/// https://github.com/python/cpython/blob/v3.12.1/Include/object.h
pub(crate) const TPFLAGS_HEAPTYPE: u64 = 1 << 9;
/// `Py_TPFLAGS_READY`: set by `PyType_Ready` on every usable type.
pub(crate) const TPFLAGS_READY: u64 = 1 << 12;
/// `Py_TPFLAGS_HAVE_GC`: instances carry a `PyGC_Head` before them.
pub(crate) const TPFLAGS_HAVE_GC: u64 = 1 << 14;
/// `Py_TPFLAGS_TYPE_SUBCLASS`: the type is a metaclass.
pub(crate) const TPFLAGS_TYPE_SUBCLASS: u64 = 1 << 31;

/// Largest plausible `tp_basicsize` (bytes) and `tp_itemsize`.
const MAX_BASICSIZE: u64 = 1 << 20;
const MAX_ITEMSIZE: u64 = 1 << 12;
/// Most non-type addresses remembered; past this, unknown candidates are still checked (one
/// read each) but not remembered, so pyprobe's memory stays bounded on any heap.
const MAX_NEGATIVE: usize = 1 << 18;
/// Longest type name read.
const MAX_NAME: usize = 96;

/// What the census needs of one type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeInfo {
    /// `module.Name` for classes defined in Python (`__module__` from the type's dict), the
    /// `tp_name` of built-in and extension types (`dict`, `collections.deque`).
    pub name: String,
    /// `tp_flags`.
    pub flags: u64,
    /// `tp_basicsize`.
    pub basicsize: u64,
    /// `tp_itemsize`.
    pub itemsize: u64,
}

impl TypeInfo {
    /// Whether instances carry a GC header.
    pub fn is_gc(&self) -> bool {
        self.flags & TPFLAGS_HAVE_GC != 0
    }
}

/// Address ranges a type pointer may not fall into (pymalloc's arenas), sorted, and ranges it
/// must fall into (readable mappings), sorted.
#[derive(Debug, Default, Clone)]
pub struct AddressFilter {
    /// Readable mappings `[start, end)`, sorted by start.
    pub readable: Vec<(u64, u64)>,
    /// pymalloc arenas `[start, end)`, sorted by start.
    pub arenas: Vec<(u64, u64)>,
}

/// Whether `addr` lies in one of the sorted, disjoint ranges.
pub(crate) fn in_ranges(ranges: &[(u64, u64)], addr: u64) -> bool {
    let i = ranges.partition_point(|&(_, end)| end <= addr);
    ranges
        .get(i)
        .is_some_and(|&(start, end)| start <= addr && addr < end)
}

impl AddressFilter {
    fn may_be_type(&self, addr: u64) -> bool {
        addr != 0
            && addr.is_multiple_of(8)
            && (self.readable.is_empty() || in_ranges(&self.readable, addr))
            && !in_ranges(&self.arenas, addr)
    }
}

/// The types seen so far, by address.
pub struct TypeTable<'a> {
    layout: &'a Layout,
    /// `&PyType_Type` in the target.
    type_type: u64,
    filter: AddressFilter,
    /// Address → index in `types`, or `None` for "not a type".
    known: FastMap<u64, Option<u32>>,
    types: Vec<TypeInfo>,
    negatives: usize,
}

impl<'a> TypeTable<'a> {
    /// A table for an interpreter whose `type` object is at `type_type`.
    pub fn new(layout: &'a Layout, type_type: u64, filter: AddressFilter) -> Self {
        TypeTable {
            layout,
            type_type,
            filter,
            known: FastMap::default(),
            types: Vec::new(),
            negatives: 0,
        }
    }

    /// The arena ranges the table rejects.
    pub fn filter(&self) -> &AddressFilter {
        &self.filter
    }

    /// Replace the ranges (once the arenas are known).
    pub fn set_filter(&mut self, filter: AddressFilter) {
        self.filter = filter;
    }

    /// Every type found, by index.
    pub fn types(&self) -> &[TypeInfo] {
        &self.types
    }

    /// The index of the type at `addr`, if `addr` is a type object.
    pub fn lookup<R: MemoryReader>(&mut self, r: &R, addr: u64) -> Option<u32> {
        if let Some(&known) = self.known.get(&addr) {
            return known;
        }
        if !self.filter.may_be_type(addr) {
            return None;
        }
        let found = self.read_type(r, addr, 0);
        let idx = found.map(|info| {
            self.types.push(info);
            (self.types.len() - 1) as u32
        });
        if idx.is_some() || self.negatives < MAX_NEGATIVE {
            self.negatives += usize::from(idx.is_none());
            self.known.insert(addr, idx);
        }
        idx
    }

    /// Info of a type found by [`TypeTable::lookup`].
    pub fn info(&self, idx: u32) -> &TypeInfo {
        &self.types[idx as usize]
    }

    fn read_type<R: MemoryReader>(&mut self, r: &R, addr: u64, depth: u8) -> Option<TypeInfo> {
        let l = self.layout;
        let len = [
            l.tp_flags,
            l.tp_dict,
            l.tp_itemsize,
            l.tp_basicsize,
            l.tp_name,
        ]
        .into_iter()
        .max()
        .unwrap_or(0) as usize
            + 8;
        let mut head = vec![0u8; len];
        r.read_into(addr, &mut head).ok()?;
        let meta = u64_at(&head, l.ob_type).ok()?;
        if meta != self.type_type {
            // A metaclass instance: its type must itself be a type whose type is `type`.
            if depth > 0 || meta == addr || !self.filter.may_be_type(meta) {
                return None;
            }
            let meta_info = match self.known.get(&meta) {
                Some(Some(i)) => self.types[*i as usize].clone(),
                Some(None) => return None,
                None => self.read_type(r, meta, depth + 1)?,
            };
            if meta_info.flags & TPFLAGS_TYPE_SUBCLASS == 0 {
                return None;
            }
        }
        let flags = u64_at(&head, l.tp_flags).ok()?;
        let basicsize = u64_at(&head, l.tp_basicsize).ok()?;
        let itemsize = u64_at(&head, l.tp_itemsize).ok()?;
        if flags & TPFLAGS_READY == 0
            || !(16..=MAX_BASICSIZE).contains(&basicsize)
            || itemsize > MAX_ITEMSIZE
        {
            return None;
        }
        let short = read_c_name(r, u64_at(&head, l.tp_name).ok()?)?;
        let name = if flags & TPFLAGS_HEAPTYPE != 0 && !short.contains('.') {
            let dict = u64_at(&head, l.tp_dict).unwrap_or(0);
            match self.module_of(r, dict) {
                Some(m) if m != "builtins" => format!("{m}.{short}"),
                _ => short,
            }
        } else {
            short
        };
        Some(TypeInfo {
            name,
            flags,
            basicsize,
            itemsize,
        })
    }

    /// `__module__` from a heap type's dict.
    fn module_of<R: MemoryReader>(&self, r: &R, dict: u64) -> Option<String> {
        if dict == 0 {
            return None;
        }
        let objects = Objects {
            layout: self.layout,
        };
        let module = objects.dict_get(r, dict, "__module__").ok()??;
        let text = objects.read_str(r, module).ok()?;
        qualified_name_part(&text).then_some(text)
    }
}

/// A NUL-terminated type name of printable ASCII (`tp_name`), or `None` if it is not one.
fn read_c_name<R: MemoryReader>(r: &R, addr: u64) -> Option<String> {
    if addr == 0 {
        return None;
    }
    let mut raw = [0u8; MAX_NAME];
    if r.read_into(addr, &mut raw).is_err() {
        // The name may end near the end of its mapping.
        raw = [0u8; MAX_NAME];
        r.read_into(addr, &mut raw[..16]).ok()?;
    }
    let end = raw.iter().position(|&b| b == 0)?;
    let text = std::str::from_utf8(&raw[..end]).ok()?;
    qualified_name_part(text).then(|| text.to_string())
}

/// Whether `text` looks like a (dotted) Python name: what a real `tp_name` or `__module__` is.
pub(crate) fn qualified_name_part(text: &str) -> bool {
    !text.is_empty()
        && text.len() < MAX_NAME
        && text
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '.' | '-' | '<' | '>' | ' '))
}

/// `&PyType_Type`: the type of the type of `sys.modules` (a dict).
pub(crate) fn find_type_type<R: MemoryReader>(
    r: &R,
    layout: &Layout,
    interp: u64,
) -> crate::Result<u64> {
    use crate::process::ReadExt;
    let modules = r.read_u64(field(interp, layout.interp_modules))?;
    let dict_type = r.read_u64(field(modules, layout.ob_type))?;
    let type_type = r.read_u64(field(dict_type, layout.ob_type))?;
    // `type` is its own type.
    if r.read_u64(field(type_type, layout.ob_type))? != type_type {
        return Err(crate::Error::invalid(
            "the type of sys.modules' type is not `type`: the interpreter state looks wrong",
        ));
    }
    Ok(type_type)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::heap::fake::FakeMemory;

    fn layout() -> &'static Layout {
        python_versions::layout_for(3, 12).unwrap()
    }

    /// A type object at `addr` named `name` (its name string at `addr + 0x800`).
    fn put_type(m: &mut FakeMemory, addr: u64, meta: u64, name: &str, flags: u64) {
        let l = layout();
        m.put_u64(addr + l.ob_type as u64, meta);
        m.put_u64(addr + l.tp_name as u64, addr + 0x800);
        m.put_u64(addr + l.tp_basicsize as u64, 32);
        m.put_u64(addr + l.tp_itemsize as u64, 0);
        m.put_u64(addr + l.tp_flags as u64, flags);
        m.put_u64(addr + l.tp_dict as u64, 0);
        let mut bytes = name.as_bytes().to_vec();
        bytes.push(0);
        m.put(addr + 0x800, &bytes);
    }

    #[test]
    fn types_are_recognised_by_their_type_and_named() {
        let mut m = FakeMemory::default();
        let type_type = 0x10_0000;
        put_type(&mut m, type_type, type_type, "type", TPFLAGS_READY);
        put_type(&mut m, 0x20_0000, type_type, "float", TPFLAGS_READY);
        put_type(&mut m, 0x30_0000, type_type, "notready", 0);
        put_type(&mut m, 0x40_0000, 0x99, "orphan", TPFLAGS_READY);
        put_type(&mut m, 0x50_0000, type_type, "bad\u{7}name", TPFLAGS_READY);
        let filter = AddressFilter {
            readable: vec![],
            arenas: vec![(0x60_0000, 0x70_0000)],
        };
        let mut t = TypeTable::new(layout(), type_type, filter);
        let float = t.lookup(&m, 0x20_0000).expect("float is a type");
        assert_eq!(t.info(float).name, "float");
        assert_eq!(t.lookup(&m, 0x20_0000), Some(float), "cached");
        assert_eq!(t.lookup(&m, 0x30_0000), None, "not ready");
        assert_eq!(t.lookup(&m, 0x40_0000), None, "type of type is not `type`");
        assert_eq!(t.lookup(&m, 0x50_0000), None, "unprintable name");
        assert_eq!(t.lookup(&m, 0x60_0100), None, "inside an arena");
        assert_eq!(t.lookup(&m, 0x20_0001), None, "unaligned");
        assert_eq!(t.lookup(&m, 0x1234_0000), None, "unmapped");
    }

    #[test]
    fn metaclass_instances_are_types() {
        let mut m = FakeMemory::default();
        let type_type = 0x10_0000;
        put_type(&mut m, type_type, type_type, "type", TPFLAGS_READY);
        put_type(
            &mut m,
            0x20_0000,
            type_type,
            "ABCMeta",
            TPFLAGS_READY | TPFLAGS_TYPE_SUBCLASS,
        );
        put_type(&mut m, 0x30_0000, 0x20_0000, "Base", TPFLAGS_READY);
        put_type(&mut m, 0x40_0000, 0x30_0000, "Instance", TPFLAGS_READY);
        let mut t = TypeTable::new(layout(), type_type, AddressFilter::default());
        assert!(t.lookup(&m, 0x30_0000).is_some());
        assert_eq!(t.lookup(&m, 0x40_0000), None, "Base is not a metaclass");
    }

    #[test]
    fn ranges() {
        let r = [(10, 20), (30, 40)];
        assert!(in_ranges(&r, 10));
        assert!(!in_ranges(&r, 20));
        assert!(in_ranges(&r, 39));
        assert!(!in_ranges(&r, 5));
        assert!(!in_ranges(&r, 45));
    }
}
