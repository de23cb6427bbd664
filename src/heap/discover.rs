//! Finding pymalloc's pools without the allocator's symbols (stripped binaries up to 3.11 keep
//! `arenas` in a static variable that only `.symtab` names).
//!
//! Arenas are anonymous mappings, and every pool in use starts, at a pool-aligned address, with
//! a header whose fields must agree with each other exactly (size class, `maxnextoffset`,
//! `nextoffset` on the block grid, a count no larger than the pool holds). Reading just those
//! headers of every pool-aligned address of the anonymous writable memory (batched, one vectored
//! read for many) finds the pools; the census then reads them whole like any other. Empty pools
//! are not found this way, so free space is a lower bound.
use super::pymalloc::{parse_pool_header, Geometry, POOL_OVERHEAD};
use crate::process::MemoryReader;

/// Headers read per vectored read.
const BATCH: usize = 512;
/// Most pools believed (a terabyte of 16 KiB pools would be 2^26).
const MAX_POOLS: usize = 1 << 24;

/// A run of adjacent pools in use of one arena, to be read whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolRun {
    /// First pool.
    pub first: u64,
    /// One past the last pool.
    pub end: u64,
    /// The arena index the pool headers name.
    pub arena_index: u32,
}

/// Whether the first bytes of a pool are a consistent header of a pool in use.
pub fn looks_like_pool(head: &[u8], pool_size: u64) -> Option<u32> {
    let h = parse_pool_header(head)?;
    let size = h.block_size(pool_size)?;
    let capacity = (pool_size - POOL_OVERHEAD) / size;
    let carved = (u64::from(h.nextoffset) - POOL_OVERHEAD) / size;
    let ok = h.count > 0
        && u64::from(h.count) <= carved
        && carved <= capacity
        && h.arenaindex < (1 << 20)
        && (h.freeblock == 0 || h.freeblock % 8 == 0);
    ok.then_some(h.arenaindex)
}

/// Pools in use found in `regions` (anonymous writable mappings, sorted), grouped into runs of
/// adjacent pools of the same arena.
pub fn find_pool_runs<R: MemoryReader>(r: &R, regions: &[(u64, u64)], g: Geometry) -> Vec<PoolRun> {
    let mut candidates = Vec::new();
    for &(start, end) in regions {
        let first = (start + g.pool_size - 1) & !(g.pool_size - 1);
        let mut at = first;
        while at + g.pool_size <= end && candidates.len() < MAX_POOLS {
            candidates.push(at);
            at += g.pool_size;
        }
    }
    let mut found: Vec<(u64, u32)> = Vec::new();
    let mut bufs = vec![[0u8; POOL_OVERHEAD as usize]; BATCH];
    for chunk in candidates.chunks(BATCH) {
        let mut done = 0;
        while done < chunk.len() {
            let mut requests: Vec<(u64, &mut [u8])> = chunk[done..]
                .iter()
                .zip(bufs.iter_mut())
                .map(|(&a, b)| (a, b.as_mut_slice()))
                .collect();
            let whole = r.read_batch_prefix(&mut requests);
            drop(requests);
            for (i, &addr) in chunk[done..done + whole].iter().enumerate() {
                if let Some(index) = looks_like_pool(&bufs[i], g.pool_size) {
                    found.push((addr, index));
                }
            }
            // Skip the one that failed (unmapped since the maps were read).
            done += whole + 1;
        }
    }
    group_runs(&found, g)
}

/// Adjacent pools of the same arena, as runs (input sorted by address).
pub fn group_runs(pools: &[(u64, u32)], g: Geometry) -> Vec<PoolRun> {
    let mut runs: Vec<PoolRun> = Vec::new();
    for &(addr, index) in pools {
        match runs.last_mut() {
            Some(run)
                if run.end == addr
                    && run.arena_index == index
                    && run.end + g.pool_size - run.first <= g.arena_size =>
            {
                run.end += g.pool_size;
            }
            _ => runs.push(PoolRun {
                first: addr,
                end: addr + g.pool_size,
                arena_index: index,
            }),
        }
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::heap::fake::FakeMemory;

    const POOL: u64 = 16 << 10;

    fn put_pool(m: &mut FakeMemory, at: u64, index: u32, count: u32) {
        let size = 32u64;
        m.put(at, &count.to_le_bytes());
        m.put_u64(at + 8, 0);
        m.put(at + 32, &index.to_le_bytes());
        m.put(at + 36, &1u32.to_le_bytes());
        m.put(at + 40, &((48 + 4 * size) as u32).to_le_bytes());
        m.put(at + 44, &((POOL - size) as u32).to_le_bytes());
    }

    #[test]
    fn pools_are_found_by_their_headers_and_grouped() {
        let g = Geometry::for_version(3, 11);
        let mut m = FakeMemory::default();
        let base = 0x7f00_0000_0000u64;
        put_pool(&mut m, base, 3, 2);
        put_pool(&mut m, base + POOL, 3, 4);
        put_pool(&mut m, base + 3 * POOL, 3, 1);
        put_pool(&mut m, base + 4 * POOL, 9, 1);
        // Zeroed memory (a never-used pool) and a count above what was carved are not pools.
        m.put(base + 2 * POOL, &[0u8; 48]);
        put_pool(&mut m, base + 5 * POOL, 9, 5);
        m.put(base + 6 * POOL, &[0u8; 48]);
        // Region starts unaligned; an unmapped hole in the middle is skipped.
        let runs = find_pool_runs(&m, &[(base - 100, base + 7 * POOL + 10)], g);
        assert_eq!(
            runs,
            vec![
                PoolRun {
                    first: base,
                    end: base + 2 * POOL,
                    arena_index: 3
                },
                PoolRun {
                    first: base + 3 * POOL,
                    end: base + 4 * POOL,
                    arena_index: 3
                },
                PoolRun {
                    first: base + 4 * POOL,
                    end: base + 5 * POOL,
                    arena_index: 9
                },
            ]
        );
    }
}
