//! Reading Python objects out of another process: str, bytes, int, dict, instance attributes.
//!
//! Every length read from the target is bounded, so a racing or corrupt object yields an error,
//! never a huge allocation or an endless loop.
use python_versions::Layout;

use crate::error::{Error, Result};
use crate::process::{i32_at, u64_at, MemoryReader, ReadExt};

/// Longest string we decode (function names, file names, thread names).
const MAX_STR_CHARS: u64 = 16 * 1024;
/// Longest bytes object we copy (line tables).
pub(crate) const MAX_BYTES: u64 = 4 * 1024 * 1024;
/// Most entries we look at in one dict (sys.modules has a few thousand at most).
const MAX_DICT_ENTRIES: u64 = 1 << 16;
/// Bytes read at once from a str: header plus the start of its data, so short names cost one read.
const STR_FIRST_READ: usize = 160;

/// The address of the field at `offset` in the struct at `base`. Wrapping, because `base` was
/// read from the target and may be garbage (a torn read): a wrapped address fails to read,
/// while `+` would panic on overflow in debug builds (found by the mutation test).
pub(crate) fn field(base: u64, offset: i64) -> u64 {
    base.wrapping_add(offset as u64)
}

/// The object readers of one interpreter: its layout and version.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Objects<'a> {
    pub(crate) layout: &'a Layout,
}

impl<'a> Objects<'a> {
    fn major(&self) -> u8 {
        self.layout.version.0
    }

    fn minor(&self) -> u8 {
        self.layout.version.1
    }

    /// A `str` (3.x: PyUnicodeObject; 2.7: PyStringObject, or unicode decoded as UTF-32).
    pub(crate) fn read_str<R: MemoryReader>(&self, r: &R, addr: u64) -> Result<String> {
        if addr == 0 {
            return Err(Error::invalid("NULL string pointer"));
        }
        if self.major() == 2 {
            let bytes = self.read_bytes(r, addr, MAX_STR_CHARS)?;
            return Ok(String::from_utf8_lossy(&bytes).into_owned());
        }
        let l = self.layout;
        let mut head = [0u8; STR_FIRST_READ];
        if r.read_into(addr, &mut head).is_err() {
            // The object may sit at the very end of a mapping: read just its header.
            let n = (l.unicode_compact_size as usize).min(STR_FIRST_READ);
            head = [0u8; STR_FIRST_READ];
            r.read_into(addr, &mut head[..n])?;
        }
        let length = u64_at(&head, l.unicode_length)?;
        let state = i32_at(&head, l.unicode_state)? as u32;
        let kind = (state >> l.unicode_kind_shift) & 0x7;
        let compact = (state >> l.unicode_compact_bit) & 1 == 1;
        let ascii = (state >> l.unicode_ascii_bit) & 1 == 1;
        if length > MAX_STR_CHARS || !matches!(kind, 1 | 2 | 4) {
            return Err(Error::invalid(format!(
                "implausible str at {addr:#x}: length {length}, kind {kind}"
            )));
        }
        let nbytes = (length * u64::from(kind)) as usize;
        let data_offset = match (compact, ascii) {
            (true, true) => l.unicode_ascii_size as usize,
            (true, false) => l.unicode_compact_size as usize,
            // Legacy (non-compact) strings keep their data elsewhere; rare for names.
            (false, _) => {
                let data = u64_at(&head, l.unicode_data_any)?;
                let raw = r.read_vec(data, nbytes)?;
                return Ok(decode_ucs(&raw, kind));
            }
        };
        let raw = if data_offset + nbytes <= head.len() {
            head[data_offset..data_offset + nbytes].to_vec()
        } else {
            r.read_vec(field(addr, data_offset as i64), nbytes)?
        };
        Ok(decode_ucs(&raw, kind))
    }

    /// The contents of a `bytes` object (2.7: `str`), at most `max` bytes long.
    pub(crate) fn read_bytes<R: MemoryReader>(
        &self,
        r: &R,
        addr: u64,
        max: u64,
    ) -> Result<Vec<u8>> {
        let l = self.layout;
        let size = r.read_u64(field(addr, l.bytes_ob_size))?;
        if size > max {
            return Err(Error::invalid(format!(
                "bytes object at {addr:#x} claims {size} bytes"
            )));
        }
        r.read_vec(field(addr, l.bytes_ob_sval), size as usize)
    }

    /// A small non-negative `int` such as a thread ident (2.7: `int` or `long`).
    pub(crate) fn read_int<R: MemoryReader>(&self, r: &R, addr: u64) -> Result<u64> {
        let mut head = [0u8; 40];
        r.read_into(addr, &mut head)?;
        // Layout is the same in every version: ob_size / lv_tag (or 2.7's ob_ival) at 16, digits at 24.
        // https://github.com/python/cpython/blob/v3.12.1/Include/cpython/longintrepr.h
        let word = u64_at(&head, 16)?;
        if self.major() == 2 {
            let tp = u64_at(&head, self.layout.ob_type)?;
            let name = self.type_name(r, tp)?;
            if name == "int" {
                return Ok(word);
            }
        }
        let (ndigits, negative) = if (self.major(), self.minor()) >= (3, 12) {
            (word >> 3, word & 3 == 2)
        } else {
            let size = word as i64;
            (size.unsigned_abs(), size < 0)
        };
        if negative || ndigits > 3 {
            return Err(Error::invalid("int out of range for a thread id"));
        }
        let mut value = 0u64;
        for i in 0..ndigits as usize {
            let digit = u64::from(i32_at(&head, 24 + 4 * i as i64)? as u32);
            value |= digit << (30 * i);
        }
        Ok(value)
    }

    /// `type(obj).__name__` from a type object's `tp_name`.
    pub(crate) fn type_name<R: MemoryReader>(&self, r: &R, type_addr: u64) -> Result<String> {
        let name_ptr = r.read_u64(field(type_addr, self.layout.tp_name))?;
        let raw = r.read_vec(name_ptr, 64)?;
        let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
        Ok(String::from_utf8_lossy(&raw[..end]).into_owned())
    }

    /// All (key, value) object pointers of a dict.
    pub(crate) fn dict_items<R: MemoryReader>(&self, r: &R, dict: u64) -> Result<Vec<(u64, u64)>> {
        let l = self.layout;
        if self.major() == 2 {
            // 2.7: an open-addressing table of (hash, key, value), https://github.com/python/cpython/blob/v2.7.18/Include/dictobject.h
            let mask = r.read_u64(field(dict, l.dict_ma_mask))?;
            if mask >= MAX_DICT_ENTRIES {
                return Err(Error::invalid("dict too large"));
            }
            let table = r.read_u64(field(dict, l.dict_ma_table))?;
            let entry = l.dict_entry_size as usize;
            let raw = r.read_vec(table, (mask as usize + 1) * entry)?;
            return Ok(raw
                .chunks_exact(entry)
                .map(|e| (u64_at(e, 8).unwrap_or(0), u64_at(e, 16).unwrap_or(0)))
                .filter(|&(k, v)| k != 0 && v != 0)
                .collect());
        }
        let keys = r.read_u64(field(dict, l.dict_ma_keys))?;
        let values = r.read_u64(field(dict, l.dict_ma_values))?;
        self.keys_items(r, keys, values)
    }

    /// Items of a keys object; `values` is the split-table values array (0 for combined tables).
    fn keys_items<R: MemoryReader>(
        &self,
        r: &R,
        keys: u64,
        values: u64,
    ) -> Result<Vec<(u64, u64)>> {
        let l = self.layout;
        let mut head = [0u8; 64];
        r.read_into(keys, &mut head)?;
        let nentries = u64_at(&head, l.dictkeys_dk_nentries)?;
        let (index_bytes, entry_size, key_at) = if self.minor() >= 11 {
            // https://github.com/python/cpython/blob/v3.11.7/Include/internal/pycore_dict.h
            let log2_index_bytes = u64::from(head[l.dictkeys_dk_log2_index_bytes as usize]);
            let kind = head[l.dictkeys_dk_kind as usize];
            if log2_index_bytes > 40 {
                return Err(Error::invalid("dict index size implausible"));
            }
            if kind == 0 {
                (1u64 << log2_index_bytes, l.dict_entry_size as u64, 8u64)
            } else {
                (
                    1u64 << log2_index_bytes,
                    l.dict_unicode_entry_size as u64,
                    0u64,
                )
            }
        } else {
            // 3.6–3.10: index width follows the table size, https://github.com/python/cpython/blob/v3.8.18/Objects/dict-common.h
            let size = u64_at(&head, l.dictkeys_dk_size)?;
            if size > MAX_DICT_ENTRIES * 4 {
                return Err(Error::invalid("dict size implausible"));
            }
            let width = match size {
                0..=0xff => 1,
                0x100..=0xffff => 2,
                _ => 4,
            };
            (size * width, l.dict_entry_size as u64, 8u64)
        };
        if nentries > MAX_DICT_ENTRIES {
            return Err(Error::invalid("dict has too many entries"));
        }
        let entries_addr = field(keys, l.dictkeys_dk_indices).wrapping_add(index_bytes);
        let raw = r.read_vec(entries_addr, (nentries * entry_size) as usize)?;
        let split_values = if values != 0 {
            let base = values.wrapping_add(self.values_array_offset());
            Some(r.read_vec(base, nentries as usize * 8)?)
        } else {
            None
        };
        let mut items = Vec::new();
        for (i, e) in raw.chunks_exact(entry_size as usize).enumerate() {
            let key = u64_at(e, key_at as i64)?;
            let value = match &split_values {
                Some(v) => u64_at(v, 8 * i as i64)?,
                None => u64_at(e, key_at as i64 + 8)?,
            };
            if key != 0 && value != 0 {
                items.push((key, value));
            }
        }
        Ok(items)
    }

    fn values_array_offset(&self) -> u64 {
        if Layout::has(self.layout.dictvalues_values) && self.minor() >= 11 {
            self.layout.dictvalues_values as u64
        } else {
            0
        }
    }

    /// The value stored under the str key `name` in a dict.
    pub(crate) fn dict_get<R: MemoryReader>(
        &self,
        r: &R,
        dict: u64,
        name: &str,
    ) -> Result<Option<u64>> {
        self.find_in(r, self.dict_items(r, dict)?, name)
    }

    fn find_in<R: MemoryReader>(
        &self,
        r: &R,
        items: Vec<(u64, u64)>,
        name: &str,
    ) -> Result<Option<u64>> {
        for (k, v) in items {
            if self.read_str(r, k).map(|s| s == name).unwrap_or(false) {
                return Ok(Some(v));
            }
        }
        Ok(None)
    }

    /// An instance attribute stored in the object's `__dict__` (or its inline / split values).
    pub(crate) fn instance_attr<R: MemoryReader>(
        &self,
        r: &R,
        obj: u64,
        name: &str,
    ) -> Result<Option<u64>> {
        let l = self.layout;
        let tp = r.read_u64(field(obj, l.ob_type))?;
        let flags = r.read_u64(field(tp, l.tp_flags))? as i64;
        let cached_keys = || r.read_u64(field(tp, l.ht_cached_keys));
        let minor = self.minor();
        if self.major() == 3 && minor >= 11 && flags & l.tpflags_managed_dict != 0 {
            // https://github.com/python/cpython/blob/v3.12.1/Include/internal/pycore_object.h (managed dicts)
            let slot = r.read_u64(field(obj, l.managed_dict_offset))?;
            if minor >= 13 {
                if slot != 0 {
                    return self.dict_get(r, slot, name);
                }
                if flags & l.tpflags_inline_values != 0 {
                    let basic = r.read_u64(field(tp, l.tp_basicsize))?;
                    let values = obj.wrapping_add(basic);
                    if r.read_u8(field(values, l.dictvalues_valid))? == 0 {
                        return Ok(None);
                    }
                    let items = self.keys_items(r, cached_keys()?, values)?;
                    return self.find_in(r, items, name);
                }
                return Ok(None);
            }
            if minor == 12 {
                // PyDictOrValues: values are stored as (pointer - 1), so an odd slot is values.
                if slot & 1 == 1 {
                    let items = self.keys_items(r, cached_keys()?, slot.wrapping_add(1))?;
                    return self.find_in(r, items, name);
                }
                return if slot != 0 {
                    self.dict_get(r, slot, name)
                } else {
                    Ok(None)
                };
            }
            // 3.11: dict pointer, or else a values pointer just before it.
            if slot != 0 {
                return self.dict_get(r, slot, name);
            }
            let values = r.read_u64(field(obj, l.managed_values_offset))?;
            if values == 0 {
                return Ok(None);
            }
            let items = self.keys_items(r, cached_keys()?, values)?;
            return self.find_in(r, items, name);
        }
        let dictoffset = r.read_u64(field(tp, l.tp_dictoffset))? as i64;
        if dictoffset <= 0 {
            return Ok(None);
        }
        let dict = r.read_u64(field(obj, dictoffset))?;
        if dict == 0 {
            return Ok(None);
        }
        self.dict_get(r, dict, name)
    }
}

/// Decode PEP 393 data of one, two or four bytes per character.
fn decode_ucs(raw: &[u8], kind: u32) -> String {
    match kind {
        1 => raw.iter().map(|&b| char::from(b)).collect(),
        2 => raw
            .chunks_exact(2)
            .map(|c| {
                char::from_u32(u32::from(u16::from_le_bytes([c[0], c[1]]))).unwrap_or('\u{fffd}')
            })
            .collect(),
        _ => raw
            .chunks_exact(4)
            .map(|c| {
                char::from_u32(u32::from_le_bytes([c[0], c[1], c[2], c[3]])).unwrap_or('\u{fffd}')
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::decode_ucs;

    #[test]
    fn decodes_each_kind() {
        assert_eq!(decode_ucs(b"gr\xfc\xdfe", 1), "grüße");
        let two: Vec<u8> = "日本"
            .encode_utf16()
            .flat_map(|u| u.to_le_bytes())
            .collect();
        assert_eq!(decode_ucs(&two, 2), "日本");
        let four: Vec<u8> = "🐍x"
            .chars()
            .flat_map(|c| (c as u32).to_le_bytes())
            .collect();
        assert_eq!(decode_ucs(&four, 4), "🐍x");
        // a lone surrogate becomes the replacement character instead of failing
        assert_eq!(decode_ucs(&0xd800u16.to_le_bytes(), 2), "\u{fffd}");
    }
}
