//! pymalloc's arenas and pools, decoded from bytes read whole.
//!
//! pymalloc serves every request of at most 512 bytes (256 in 2.7) from pools of one size class
//! carved out of arenas; `arenas` is a vector of `struct arena_object`, one per arena (address 0:
//! a free slot). A pool starts with `struct pool_header`; its blocks run from the end of the
//! header up to `nextoffset` (every block ever handed out, plus the one the free list starts
//! with), and the free ones are chained through their first word from `freeblock`.
//! Layouts (identical from 2.7 to 3.15 on x86_64):
//! https://github.com/python/cpython/blob/v3.11.7/Objects/obmalloc.c (static there up to 3.11),
//! https://github.com/python/cpython/blob/v3.12.1/Include/internal/pycore_obmalloc.h (3.12+).
use crate::process::u64_at;

/// `sizeof(struct arena_object)`: address, pool_address, nfreepools, ntotalpools, freepools,
/// nextarena, prevarena.
pub const ARENA_OBJECT_SIZE: usize = 48;
/// `sizeof(struct pool_header)` rounded up to the alignment (`POOL_OVERHEAD`): 48 with both the
/// 8- and 16-byte alignments.
pub const POOL_OVERHEAD: u64 = 48;
/// Largest small request: blocks are never larger.
pub const MAX_BLOCK: u64 = 512;
/// Most arenas believed (maxarenas); 2^20 arenas would be a terabyte of small objects.
pub const MAX_ARENAS: u64 = 1 << 20;

/// Pool and arena sizes of a version: 4 KiB / 256 KiB up to 3.9, 16 KiB / 1 MiB from 3.10
/// (`USE_LARGE_POOLS`, `USE_LARGE_ARENAS` on 64-bit builds with the radix tree:
/// https://github.com/python/cpython/blob/v3.10.13/Objects/obmalloc.c).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    /// `POOL_SIZE`.
    pub pool_size: u64,
    /// `ARENA_SIZE`.
    pub arena_size: u64,
}

impl Geometry {
    /// The sizes for CPython `major.minor`.
    pub fn for_version(major: u8, minor: u8) -> Geometry {
        if (major, minor) >= (3, 10) {
            Geometry {
                pool_size: 16 << 10,
                arena_size: 1 << 20,
            }
        } else {
            Geometry {
                pool_size: 4 << 10,
                arena_size: 256 << 10,
            }
        }
    }

    /// The carved pools of an arena: from its first pool-aligned address to `pool_address`
    /// (the next pool to carve), validated against the arena's bounds.
    pub fn carved_pools(&self, arena: &ArenaObject) -> Option<(u64, u64)> {
        let first = arena.address.checked_add(self.pool_size - 1)? & !(self.pool_size - 1);
        let end = arena.pool_address;
        let limit = arena.address.checked_add(self.arena_size)?;
        (first <= end && end <= limit && (end - first).is_multiple_of(self.pool_size))
            .then_some((first, end))
    }
}

/// One `struct arena_object`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArenaObject {
    /// Where the arena's memory starts (0: unused slot).
    pub address: u64,
    /// Next pool to carve: pools before it have been used at least once.
    pub pool_address: u64,
    /// Free pools (carved and empty, or never carved).
    pub nfreepools: u32,
    /// Pools the arena holds.
    pub ntotalpools: u32,
}

/// Decode the `arenas` vector; unused slots (address 0) are left out, with their index kept.
pub fn parse_arenas(buf: &[u8]) -> Vec<(u32, ArenaObject)> {
    buf.chunks_exact(ARENA_OBJECT_SIZE)
        .enumerate()
        .filter_map(|(i, a)| {
            let word = |at: usize| u64::from_le_bytes(a[at..at + 8].try_into().expect("8"));
            let arena = ArenaObject {
                address: word(0),
                pool_address: word(8),
                nfreepools: u32::from_le_bytes(a[16..20].try_into().expect("4")),
                ntotalpools: u32::from_le_bytes(a[20..24].try_into().expect("4")),
            };
            (arena.address != 0).then_some((i as u32, arena))
        })
        .collect()
}

/// One `struct pool_header`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolHeader {
    /// `ref.count`: blocks in use.
    pub count: u32,
    /// First free block (0: none).
    pub freeblock: u64,
    /// Index of the arena in `arenas`.
    pub arenaindex: u32,
    /// Size class index.
    pub szidx: u32,
    /// Offset of the first never-used block.
    pub nextoffset: u32,
    /// `POOL_SIZE - block size`: the last offset a block may start at.
    pub maxnextoffset: u32,
}

/// Decode a pool header from the start of a pool.
pub fn parse_pool_header(pool: &[u8]) -> Option<PoolHeader> {
    if pool.len() < POOL_OVERHEAD as usize {
        return None;
    }
    let u32_at = |at: usize| u32::from_le_bytes(pool[at..at + 4].try_into().expect("4"));
    Some(PoolHeader {
        count: u32_at(0),
        freeblock: u64_at(pool, 8).ok()?,
        arenaindex: u32_at(32),
        szidx: u32_at(36),
        nextoffset: u32_at(40),
        maxnextoffset: u32_at(44),
    })
}

impl PoolHeader {
    /// The block size of a pool in use, checked against everything that must agree with it:
    /// `maxnextoffset = POOL_SIZE - size`, `size = (szidx + 1) * ALIGNMENT` with an alignment of
    /// 8 or 16 (the size of a class is derived, not assumed, since builds differ), and
    /// `nextoffset` inside the pool on the block grid.
    pub fn block_size(&self, pool_size: u64) -> Option<u64> {
        let size = pool_size.checked_sub(u64::from(self.maxnextoffset))?;
        let classes = u64::from(self.szidx) + 1;
        let aligned = size.is_multiple_of(classes) && matches!(size / classes, 8 | 16);
        let next = u64::from(self.nextoffset);
        let on_grid = next >= POOL_OVERHEAD
            && next <= pool_size
            && (next - POOL_OVERHEAD).is_multiple_of(size.max(1));
        (aligned && size <= MAX_BLOCK && on_grid).then_some(size)
    }
}

/// Why the blocks of a pool could not be told apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolProblem {
    /// The header does not hold together (sizes, offsets).
    BadHeader,
    /// The free list leaves the pool, is off the block grid, or loops.
    BadFreeList,
    /// The blocks found in use differ from the header's count: the pool changed while read.
    CountMismatch,
}

/// Offsets (from the pool start) of the blocks in use in a pool read whole at `pool_addr`.
pub fn used_blocks(
    pool_addr: u64,
    pool: &[u8],
    header: &PoolHeader,
    pool_size: u64,
) -> Result<Vec<u32>, PoolProblem> {
    let size = header.block_size(pool_size).ok_or(PoolProblem::BadHeader)?;
    if pool.len() as u64 != pool_size {
        return Err(PoolProblem::BadHeader);
    }
    let carved = (u64::from(header.nextoffset) - POOL_OVERHEAD) / size;
    let mut free = vec![false; carved as usize];
    let mut at = header.freeblock;
    let mut steps = 0;
    while at != 0 {
        let offset = at.wrapping_sub(pool_addr);
        if offset < POOL_OVERHEAD
            || offset >= pool_size
            || !(offset - POOL_OVERHEAD).is_multiple_of(size)
        {
            return Err(PoolProblem::BadFreeList);
        }
        let idx = ((offset - POOL_OVERHEAD) / size) as usize;
        // The block the list starts with may be the first never-carved one (nextoffset points
        // past it only when it is handed out).
        if idx < free.len() {
            if free[idx] {
                return Err(PoolProblem::BadFreeList);
            }
            free[idx] = true;
        } else if idx != free.len() {
            return Err(PoolProblem::BadFreeList);
        }
        steps += 1;
        if steps > carved + 1 {
            return Err(PoolProblem::BadFreeList);
        }
        at = u64_at(pool, offset as i64).map_err(|_| PoolProblem::BadFreeList)?;
    }
    let used: Vec<u32> = (0..carved as usize)
        .filter(|&i| !free[i])
        .map(|i| (POOL_OVERHEAD + i as u64 * size) as u32)
        .collect();
    if used.len() as u64 != u64::from(header.count) {
        return Err(PoolProblem::CountMismatch);
    }
    Ok(used)
}

#[cfg(test)]
mod tests {
    use super::*;

    const POOL: u64 = 16 << 10;

    fn header(count: u32, freeblock: u64, szidx: u32, size: u64, nextoffset: u64) -> Vec<u8> {
        let mut p = vec![0u8; POOL as usize];
        p[0..4].copy_from_slice(&count.to_le_bytes());
        p[8..16].copy_from_slice(&freeblock.to_le_bytes());
        p[32..36].copy_from_slice(&7u32.to_le_bytes());
        p[36..40].copy_from_slice(&szidx.to_le_bytes());
        p[40..44].copy_from_slice(&(nextoffset as u32).to_le_bytes());
        p[44..48].copy_from_slice(&((POOL - size) as u32).to_le_bytes());
        p
    }

    #[test]
    fn size_classes_are_derived_and_checked() {
        let base = 0x7f00_0000_0000u64;
        // 16-byte alignment: class 1 is 32 bytes; 8-byte alignment: class 3 is 32 bytes.
        for (szidx, size) in [(1, 32), (3, 32), (31, 512), (0, 16), (0, 8)] {
            let p = header(1, 0, szidx, size, POOL_OVERHEAD + 2 * size);
            let h = parse_pool_header(&p).unwrap();
            assert_eq!(h.arenaindex, 7);
            assert_eq!(h.block_size(POOL), Some(size), "szidx {szidx}");
            let _ = base;
        }
        // 48 = 3 * 16: class 2 with 16-byte alignment; class 4 would need 9.6-byte units.
        assert_eq!(
            parse_pool_header(&header(1, 0, 4, 48, 144))
                .unwrap()
                .block_size(POOL),
            None
        );
        // Larger than a small request.
        assert_eq!(
            parse_pool_header(&header(1, 0, 63, 1024, 48 + 1024))
                .unwrap()
                .block_size(POOL),
            None
        );
        // nextoffset off the grid.
        assert_eq!(
            parse_pool_header(&header(1, 0, 1, 32, 50))
                .unwrap()
                .block_size(POOL),
            None
        );
    }

    #[test]
    fn used_blocks_are_the_carved_ones_not_on_the_free_list() {
        let at = 0x7f00_0000_0000u64;
        let size = 32;
        // Blocks 0..=5 carved; 1 and 3 freed, 5 carved but not handed out yet (a fresh free
        // list ends with it): 3 -> 1 -> 5.
        let mut p = header(3, at + 48 + 3 * size, 1, size, 48 + 6 * size);
        let word = |p: &mut Vec<u8>, idx: u64, value: u64| {
            let o = (48 + idx * size) as usize;
            p[o..o + 8].copy_from_slice(&value.to_le_bytes());
        };
        word(&mut p, 3, at + 48 + size);
        word(&mut p, 1, at + 48 + 5 * size);
        word(&mut p, 5, 0);
        let h = parse_pool_header(&p).unwrap();
        let used = used_blocks(at, &p, &h, POOL).unwrap();
        assert_eq!(used, vec![48, 48 + 2 * 32, 48 + 4 * 32]);

        // A loop in the free list.
        word(&mut p, 1, at + 48 + 3 * size);
        assert_eq!(used_blocks(at, &p, &h, POOL), Err(PoolProblem::BadFreeList));
        // A pointer out of the pool.
        word(&mut p, 1, 0x1000);
        assert_eq!(used_blocks(at, &p, &h, POOL), Err(PoolProblem::BadFreeList));
        // The count disagrees (the pool changed while it was read).
        word(&mut p, 1, 0);
        assert_eq!(
            used_blocks(at, &p, &h, POOL),
            Err(PoolProblem::CountMismatch)
        );
    }

    #[test]
    fn arenas_and_their_carved_pools() {
        let mut buf = vec![0u8; 3 * ARENA_OBJECT_SIZE];
        let put = |buf: &mut Vec<u8>, i: usize, addr: u64, pool_address: u64| {
            let o = i * ARENA_OBJECT_SIZE;
            buf[o..o + 8].copy_from_slice(&addr.to_le_bytes());
            buf[o + 8..o + 16].copy_from_slice(&pool_address.to_le_bytes());
            buf[o + 20..o + 24].copy_from_slice(&63u32.to_le_bytes());
        };
        // An arena that is not pool-aligned: its first pool starts at the next 16 KiB.
        put(&mut buf, 0, 0x10_1000, 0x10_4000 + 3 * POOL);
        put(&mut buf, 2, 0x40_0000, 0x40_0000);
        let arenas = parse_arenas(&buf);
        assert_eq!(arenas.len(), 2, "slot 1 is unused");
        assert_eq!(arenas[1].0, 2);
        let g = Geometry::for_version(3, 12);
        assert_eq!(
            g.carved_pools(&arenas[0].1),
            Some((0x10_4000, 0x10_4000 + 3 * POOL))
        );
        assert_eq!(g.carved_pools(&arenas[1].1), Some((0x40_0000, 0x40_0000)));
        let beyond = ArenaObject {
            address: 0x40_0000,
            pool_address: 0x40_0000 + (2 << 20),
            nfreepools: 0,
            ntotalpools: 64,
        };
        assert_eq!(g.carved_pools(&beyond), None);
        assert_eq!(Geometry::for_version(3, 9).pool_size, 4096);
        assert_eq!(Geometry::for_version(2, 7).arena_size, 256 << 10);
    }
}
