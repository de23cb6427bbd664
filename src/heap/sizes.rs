//! How many bytes an object holds, from its type and its header words.
use python_versions::Layout;

use super::types::TypeInfo;
use crate::process::{i32_at, u64_at};

/// Largest object size believed (bytes); a bigger result means a torn or wrong read.
const MAX_OBJECT: u64 = 1 << 40;

/// `Py_TPFLAGS_LIST_SUBCLASS` / `Py_TPFLAGS_TUPLE_SUBCLASS`: list and tuple and their subclasses.
/// https://github.com/python/cpython/blob/v3.12.1/Include/object.h
pub(crate) const TPFLAGS_LIST_SUBCLASS: u64 = 1 << 25;
pub(crate) const TPFLAGS_TUPLE_SUBCLASS: u64 = 1 << 26;

fn round8(n: u64) -> u64 {
    n.saturating_add(7) & !7
}

/// `tp_basicsize + tp_itemsize * |ob_size|`, rounded to a word: the size of a variable-size
/// object as allocated (`_PyObject_VAR_SIZE`), without the GC header.
pub(crate) fn large_object_size(info: &TypeInfo, ob_size: u64) -> u64 {
    let items = if info.itemsize == 0 {
        0
    } else {
        (ob_size as i64).unsigned_abs().min(MAX_OBJECT) * info.itemsize
    };
    round8(info.basicsize.saturating_add(items)).min(MAX_OBJECT)
}

/// A list's separately allocated item array: (address, slots), from the list object's bytes.
pub(crate) fn list_storage(l: &Layout, object: &[u8]) -> Option<(u64, u64)> {
    let items = u64_at(object, l.list_ob_item).ok()?;
    let allocated = u64_at(object, l.list_allocated).ok()?;
    // `allocated` is -1 while the list is sorted.
    if allocated > MAX_OBJECT / 8 || (items == 0) != (allocated == 0) {
        return None;
    }
    Some((items, allocated))
}

/// The size of an untracked object outside the arenas from its first bytes (`head`): str by
/// its kind and length (3.x compact strings keep their characters inline,
/// https://github.com/python/cpython/blob/v3.12.1/Include/cpython/unicodeobject.h), int by its
/// digit count (3.12+ keeps it in `lv_tag`), others by `tp_basicsize + tp_itemsize * ob_size`.
pub(crate) fn untracked_size(l: &Layout, info: &TypeInfo, head: &[u8]) -> Option<u64> {
    let size = if l.version.0 == 3 && info.name == "str" {
        let length = u64_at(head, l.unicode_length).ok()?;
        let state = i32_at(head, l.unicode_state).ok()? as u32;
        let kind = u64::from((state >> l.unicode_kind_shift) & 7);
        let compact = (state >> l.unicode_compact_bit) & 1 == 1;
        let ascii = (state >> l.unicode_ascii_bit) & 1 == 1;
        if !matches!(kind, 1 | 2 | 4) || length > MAX_OBJECT {
            return None;
        }
        match (compact, ascii) {
            (true, true) => l.unicode_ascii_size as u64 + length + 1,
            (true, false) => l.unicode_compact_size as u64 + (length + 1) * kind,
            // A legacy string: its characters are a separate buffer, not counted here.
            (false, _) => info.basicsize,
        }
    } else if l.version >= (3, 12) && info.name == "int" {
        let tag = u64_at(head, l.var_ob_size).ok()?;
        info.basicsize + (tag >> 3) * info.itemsize
    } else {
        let ob_size = u64_at(head, l.var_ob_size).ok()?;
        if info.itemsize != 0 && (ob_size as i64).unsigned_abs() > MAX_OBJECT {
            return None;
        }
        large_object_size(info, ob_size)
    };
    (size <= MAX_OBJECT).then_some(round8(size))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(name: &str, basicsize: u64, itemsize: u64) -> TypeInfo {
        TypeInfo {
            name: name.into(),
            flags: 0,
            basicsize,
            itemsize,
        }
    }

    #[test]
    fn variable_size_objects() {
        let tuple = info("tuple", 24, 8);
        assert_eq!(large_object_size(&tuple, 100), 24 + 800);
        let bytes = info("bytes", 33, 1);
        assert_eq!(large_object_size(&bytes, 1000), 1040);
        // A negative ob_size (a negative int up to 3.11) counts its magnitude.
        let int = info("int", 24, 4);
        assert_eq!(large_object_size(&int, (-3i64) as u64), 40);
        let fixed = info("float", 24, 0);
        assert_eq!(large_object_size(&fixed, 12345), 24);
    }

    #[test]
    fn str_sizes_follow_kind_and_length() {
        let l = python_versions::layout_for(3, 12).unwrap();
        let s = info("str", l.unicode_compact_size as u64, 0);
        let mut head = vec![0u8; 64];
        head[l.unicode_length as usize..][..8].copy_from_slice(&1000u64.to_le_bytes());
        let state = (1u32 << l.unicode_kind_shift)
            | (1 << l.unicode_compact_bit)
            | (1 << l.unicode_ascii_bit);
        head[l.unicode_state as usize..][..4].copy_from_slice(&state.to_le_bytes());
        // sys.getsizeof("x" * 1000) == 1041 on 3.12.
        assert_eq!(untracked_size(l, &s, &head), Some(1048));
        let state = (4u32 << l.unicode_kind_shift) | (1 << l.unicode_compact_bit);
        head[l.unicode_state as usize..][..4].copy_from_slice(&state.to_le_bytes());
        assert_eq!(
            untracked_size(l, &s, &head),
            Some(round8(l.unicode_compact_size as u64 + 1001 * 4))
        );
        // Kind 3 does not exist.
        let state = (3u32 << l.unicode_kind_shift) | (1 << l.unicode_compact_bit);
        head[l.unicode_state as usize..][..4].copy_from_slice(&state.to_le_bytes());
        assert_eq!(untracked_size(l, &s, &head), None);
    }

    #[test]
    fn list_storage_is_checked() {
        let l = python_versions::layout_for(3, 12).unwrap();
        let mut obj = vec![0u8; 40];
        obj[l.list_ob_item as usize..][..8].copy_from_slice(&0x1000u64.to_le_bytes());
        obj[l.list_allocated as usize..][..8].copy_from_slice(&4u64.to_le_bytes());
        assert_eq!(list_storage(l, &obj), Some((0x1000, 4)));
        obj[l.list_allocated as usize..][..8].copy_from_slice(&u64::MAX.to_le_bytes());
        assert_eq!(list_storage(l, &obj), None, "being sorted");
    }
}
