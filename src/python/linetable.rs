//! Instruction offset → source line, for the three line-table formats CPython has used.
//!
//! All functions take the *byte* offset of the instruction in the code object's bytecode and the
//! code object's `co_firstlineno`, and never panic on truncated or garbage tables (they come
//! from another process and may be read mid-update).

/// Which encoding a code object's line table uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LineTableFormat {
    /// `co_lnotab`, 2.7: (address increment, line increment) unsigned byte pairs.
    LnotabUnsigned,
    /// `co_lnotab`, 3.6–3.9: the line increment is a signed byte.
    LnotabSigned,
    /// `co_linetable`, 3.10: (address delta, line delta) pairs; line delta -128 = no line.
    Linetable310,
    /// `co_linetable`, 3.11+: the location table (PEP 657).
    Locations311,
}

impl LineTableFormat {
    /// The format a (major, minor) version uses.
    pub(crate) fn for_version(major: u8, minor: u8) -> Self {
        match (major, minor) {
            (2, _) => LineTableFormat::LnotabUnsigned,
            (3, 0..=9) => LineTableFormat::LnotabSigned,
            (3, 10) => LineTableFormat::Linetable310,
            _ => LineTableFormat::Locations311,
        }
    }
}

/// The line of the instruction at byte offset `addr`; `None` when the table says it has none.
pub(crate) fn line_for(
    format: LineTableFormat,
    table: &[u8],
    first_line: i32,
    addr: u64,
) -> Option<u32> {
    let line = match format {
        LineTableFormat::LnotabUnsigned => lnotab(table, first_line, addr, false),
        LineTableFormat::LnotabSigned => lnotab(table, first_line, addr, true),
        LineTableFormat::Linetable310 => linetable_310(table, first_line, addr),
        LineTableFormat::Locations311 => locations_311(table, first_line, addr),
    }?;
    u32::try_from(line).ok()
}

/// Mirrors `PyCode_Addr2Line` of 2.7–3.9 (Objects/codeobject.c,
/// https://github.com/python/cpython/blob/v3.9.18/Objects/lnotab_notes.txt).
fn lnotab(table: &[u8], first_line: i32, addr: u64, signed: bool) -> Option<i64> {
    let mut line = i64::from(first_line);
    let mut current = 0u64;
    for pair in table.chunks_exact(2) {
        current += u64::from(pair[0]);
        if current > addr {
            break;
        }
        line += if signed {
            i64::from(pair[1] as i8)
        } else {
            i64::from(pair[1])
        };
    }
    Some(line)
}

/// Mirrors 3.10's `PyCode_Addr2Line`
/// (https://github.com/python/cpython/blob/v3.10.13/Objects/lnotab_notes.txt).
fn linetable_310(table: &[u8], first_line: i32, addr: u64) -> Option<i64> {
    let mut computed = i64::from(first_line);
    let mut start = 0u64;
    for pair in table.chunks_exact(2) {
        let end = start + u64::from(pair[0]);
        let delta = pair[1] as i8;
        let line = if delta == -128 {
            None
        } else {
            computed += i64::from(delta);
            Some(computed)
        };
        if start <= addr && addr < end {
            return line;
        }
        start = end;
    }
    None
}

/// Mirrors 3.11+'s location table
/// (https://github.com/python/cpython/blob/v3.11.7/Objects/locations.md).
fn locations_311(table: &[u8], first_line: i32, addr: u64) -> Option<i64> {
    let mut line = i64::from(first_line);
    let mut pos = 0usize;
    let mut start = 0u64;
    while pos < table.len() {
        let head = table[pos];
        pos += 1;
        if head & 0x80 == 0 {
            return None; // lost sync: not an entry start
        }
        let code = (head >> 3) & 0x0f;
        let end = start + 2 * (u64::from(head & 0x07) + 1);
        let entry_line = match code {
            15 => None,
            14 => {
                let delta = read_svarint(table, &mut pos)?;
                read_varint(table, &mut pos)?; // end line delta
                read_varint(table, &mut pos)?; // column + 1
                read_varint(table, &mut pos)?; // end column + 1
                line = line.wrapping_add(delta);
                Some(line)
            }
            13 => {
                line = line.wrapping_add(read_svarint(table, &mut pos)?);
                Some(line)
            }
            10..=12 => {
                pos += 2; // column, end column

                // Wrapping like the deltas above: garbage can carry `line` to the top.
                line = line.wrapping_add(i64::from(code - 10));
                Some(line)
            }
            _ => {
                pos += 1; // short form: column bits
                Some(line)
            }
        };
        if start <= addr && addr < end {
            return entry_line;
        }
        start = end;
    }
    None
}

fn read_varint(table: &[u8], pos: &mut usize) -> Option<i64> {
    let mut value: i64 = 0;
    let mut shift = 0u32;
    loop {
        let b = *table.get(*pos)?;
        *pos += 1;
        value |= i64::from(b & 0x3f) << shift;
        if b & 0x40 == 0 {
            return Some(value);
        }
        shift += 6;
        if shift > 60 {
            return None;
        }
    }
}

fn read_svarint(table: &[u8], pos: &mut usize) -> Option<i64> {
    let v = read_varint(table, pos)?;
    Some(if v & 1 != 0 { -(v >> 1) } else { v >> 1 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lnotab_signed_walks_increments() {
        // addr 0 → line 10, addr 6 → +2, addr 10 → -1 (signed)
        let table = [6u8, 2, 4, 0xff];
        let f = LineTableFormat::LnotabSigned;
        assert_eq!(line_for(f, &table, 10, 0), Some(10));
        assert_eq!(line_for(f, &table, 5, 5), Some(5));
        assert_eq!(line_for(f, &table, 10, 6), Some(12));
        assert_eq!(line_for(f, &table, 10, 12), Some(11));
    }

    #[test]
    fn lnotab_unsigned_for_python2() {
        let table = [6u8, 200];
        assert_eq!(
            line_for(LineTableFormat::LnotabUnsigned, &table, 1, 8),
            Some(201)
        );
    }

    #[test]
    fn linetable_310_ranges_and_no_line() {
        // [0,4) line 3; [4,8) no line; [8,12) line 5
        let table = [4u8, 2, 4, 0x80, 4, 2];
        let f = LineTableFormat::Linetable310;
        assert_eq!(line_for(f, &table, 1, 0), Some(3));
        assert_eq!(line_for(f, &table, 1, 6), None);
        assert_eq!(line_for(f, &table, 1, 8), Some(5));
        assert_eq!(line_for(f, &table, 1, 40), None);
    }

    #[test]
    fn locations_311_all_entry_kinds() {
        let table = [
            0x80 | (13 << 3),     // no-column entry, 1 code unit, line delta svarint
            4,                    // +2  → 12
            0x80 | (11 << 3) | 1, // one-line form, line +1 → 13, 2 code units
            0,
            5,
            0x80 | (15 << 3), // no location, 1 unit
            0x80 | (14 << 3), // long form
            3,                // svarint -1 → 12
            0,
            1,
            1,
            0x80 | (2 << 3), // short form, same line
            0x22,
        ];
        let f = LineTableFormat::Locations311;
        assert_eq!(line_for(f, &table, 10, 0), Some(12));
        assert_eq!(line_for(f, &table, 10, 2), Some(13));
        assert_eq!(line_for(f, &table, 10, 4), Some(13));
        assert_eq!(line_for(f, &table, 10, 6), None);
        assert_eq!(line_for(f, &table, 10, 8), Some(12));
        assert_eq!(line_for(f, &table, 10, 10), Some(12));
        assert_eq!(line_for(f, &table, 10, 12), None);
    }

    #[test]
    fn garbage_never_panics() {
        let mut seed = 0x1234_5678_u64;
        for len in 0..200 {
            let table: Vec<u8> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    seed as u8
                })
                .collect();
            for f in [
                LineTableFormat::LnotabSigned,
                LineTableFormat::LnotabUnsigned,
                LineTableFormat::Linetable310,
                LineTableFormat::Locations311,
            ] {
                let _ = line_for(f, &table, i32::MAX, u64::MAX);
                let _ = line_for(f, &table, i32::MIN, 3);
            }
        }
    }
}
