//! One census: pymalloc's arenas (every small object, tracked or not), then the collector's
//! lists (the tracked objects too big for pymalloc), then the large untracked objects that the
//! blocks read point at (big str, bytes). Generic over [`MemoryReader`]; nothing here knows
//! about /proc or ELF files.
use std::collections::{BTreeMap, HashSet};

use crate::fast_hash::FastSet;

use python_versions::Layout;

use super::discover::{self, PoolRun};
use super::gc_lists::{self, Roots, Tracked};
use super::pymalloc::{self, Geometry, PoolProblem, ARENA_OBJECT_SIZE, MAX_ARENAS};
use super::sizes::{
    large_object_size, list_storage, TPFLAGS_LIST_SUBCLASS, TPFLAGS_TUPLE_SUBCLASS,
};
use super::types::{in_ranges, AddressFilter, TypeTable, TPFLAGS_HAVE_GC, TPFLAGS_TYPE_SUBCLASS};
use crate::process::{u64_at, MemoryReader, ReadExt};

/// Two words before the GC header of 3.11+ objects with a managed dict / weakref list.
const PREHEADER: u64 = 16;
/// Most distinct addresses outside the arenas remembered as possible large objects.
const MAX_LARGE_CANDIDATES: usize = 1 << 20;
/// Most items read from one large list's item array.
const MAX_LIST_ITEMS: u64 = 1 << 22;
/// Candidates whose headers are read in one vectored read.
const BATCH: usize = 256;

/// Where pymalloc's `arenas` vector is described: the addresses of the `arenas` pointer and of
/// the `maxarenas` count (static symbols up to 3.11, fields of `struct _obmalloc_state` since).
#[derive(Debug, Clone)]
pub enum ArenaSource {
    /// Found.
    At {
        /// `&arenas`.
        arenas_ptr: u64,
        /// `&maxarenas`.
        maxarenas: u64,
    },
    /// Not found, and why (e.g. a stripped binary).
    Missing(String),
}

/// What a census starts from.
#[derive(Debug, Clone)]
pub struct CensusInput<'a> {
    /// The interpreter's layout.
    pub layout: &'a Layout,
    /// Where the collector's lists are.
    pub roots: Roots,
    /// Where the arenas are.
    pub arenas: ArenaSource,
    /// `&PyType_Type`.
    pub type_type: u64,
    /// Readable mappings, sorted (empty: do not filter).
    pub readable: Vec<(u64, u64)>,
    /// Anonymous writable mappings and the brk heap, sorted: where arenas and malloc'd objects
    /// are.
    pub anonymous: Vec<(u64, u64)>,
}

/// Count and bytes of one type.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct TypeRow {
    /// Type name (`module.Class` for classes defined in Python).
    #[serde(rename = "type")]
    pub name: String,
    /// Live objects.
    pub count: u64,
    /// Bytes they hold (see [`super::BYTES_MEANING`]).
    pub bytes: u64,
}

/// Totals of a census.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Totals {
    /// Arenas allocated.
    pub arenas: u64,
    /// Their size.
    pub arena_bytes: u64,
    /// Bytes of blocks in use.
    pub used_block_bytes: u64,
    /// ... of which blocks holding objects.
    pub object_block_bytes: u64,
    /// ... of which blocks holding no object (list item arrays, dict tables, other
    /// `PyMem_Malloc` buffers); the list arrays among them are also in `list`'s bytes.
    pub other_block_bytes: u64,
    /// Free bytes in the arenas: free blocks, empty pools, pools never used.
    pub arena_free_bytes: u64,
    /// Objects outside the arenas (tracked containers from the collector's lists, large
    /// str/bytes/... found through references).
    pub large_objects: u64,
    /// Their bytes.
    pub large_object_bytes: u64,
    /// Objects on the collector's lists.
    pub tracked_objects: u64,
    /// Objects counted, all types.
    pub objects: u64,
    /// Bytes counted, all types.
    pub object_bytes: u64,
}

impl Totals {
    /// Bytes Python's objects hold: the arenas (free space in them included: it is Python's
    /// heap) and the large objects; without arenas read, the objects counted.
    pub fn python_bytes(&self) -> u64 {
        if self.arenas > 0 {
            self.arena_bytes + self.large_object_bytes
        } else {
            self.object_bytes
        }
    }
}

/// The result of one census.
#[derive(Debug, Clone, Default)]
pub struct Census {
    /// Per type name, largest bytes first.
    pub rows: Vec<TypeRow>,
    /// Totals.
    pub totals: Totals,
    /// What was skipped, by reason, and how much.
    pub skipped: BTreeMap<String, u64>,
    /// What this census cannot see, in words.
    pub limits: Vec<String>,
}

/// Per type index: (count, bytes).
#[derive(Default)]
struct Tally {
    by_type: Vec<(u64, u64)>,
}

impl Tally {
    fn add(&mut self, idx: u32, bytes: u64) {
        let i = idx as usize;
        if self.by_type.len() <= i {
            self.by_type.resize(i + 1, (0, 0));
        }
        self.by_type[i].0 += 1;
        self.by_type[i].1 += bytes;
    }

    fn add_bytes(&mut self, idx: u32, bytes: u64) {
        let i = idx as usize;
        if self.by_type.len() <= i {
            self.by_type.resize(i + 1, (0, 0));
        }
        self.by_type[i].1 += bytes;
    }
}

/// Everything one census accumulates.
struct Scan<'a, 'r, R: MemoryReader> {
    r: &'r R,
    l: &'a Layout,
    types: TypeTable<'a>,
    tally: Tally,
    totals: Totals,
    skipped: BTreeMap<String, u64>,
    limits: Vec<String>,
    /// Addresses outside the arenas that blocks point at: possible large objects.
    large: FastSet<u64>,
    /// Objects outside the arenas already counted (tracked ones).
    counted_outside: FastSet<u64>,
    /// GC heads outside the arenas that tracked objects in the arenas link to.
    tracked_outside: FastSet<u64>,
    /// Anonymous writable memory, sorted.
    anonymous: Vec<(u64, u64)>,
    geometry: Geometry,
}

/// Take one census.
pub fn take<R: MemoryReader>(r: &R, input: &CensusInput) -> Census {
    let l = input.layout;
    let filter = AddressFilter {
        readable: input.readable.clone(),
        arenas: Vec::new(),
    };
    let mut scan = Scan {
        r,
        l,
        types: TypeTable::new(l, input.type_type, filter),
        tally: Tally::default(),
        totals: Totals::default(),
        skipped: BTreeMap::new(),
        limits: Vec::new(),
        large: FastSet::default(),
        counted_outside: FastSet::default(),
        tracked_outside: FastSet::default(),
        anonymous: input.anonymous.clone(),
        geometry: Geometry::for_version(l.version.0, l.version.1),
    };
    let arenas_ok = match &input.arenas {
        ArenaSource::At {
            arenas_ptr,
            maxarenas,
        } => match (0..3)
            .map(|_| scan.arenas(*arenas_ptr, *maxarenas))
            .find(|res| !matches!(res, Err(crate::Error::Invalid(m)) if m.contains("reallocated")))
            .unwrap_or_else(|| Err(crate::Error::invalid("the arena vector kept changing")))
        {
            Ok(()) => true,
            Err(e) => {
                scan.limits.push(format!(
                    "pymalloc's arenas could not be read ({e}): small objects that the collector \
                     does not track (str, bytes, int, float, and dicts/tuples it untracked) are not counted"
                ));
                false
            }
        },
        ArenaSource::Missing(why) if scan.discovered_pools(&input.anonymous) => {
            scan.limits.push(format!(
                "pymalloc's arena list was not found ({why}); its pools were found instead by \
                 their headers in anonymous memory: empty pools are not seen, so the free \
                 bytes are only those of the arenas' pools in use"
            ));
            true
        }
        ArenaSource::Missing(why) => {
            scan.limits.push(format!(
                "pymalloc's arenas were not found ({why}): small objects that the collector does \
                 not track (str, bytes, int, float, and dicts/tuples it untracked) are not counted; \
                 tracked containers are counted from the collector's lists"
            ));
            false
        }
    };
    scan.gc_lists(&input.roots, arenas_ok);
    if arenas_ok {
        scan.large_objects();
    }
    scan.finish()
}

impl<'a, 'r, R: MemoryReader> Scan<'a, 'r, R> {
    fn skip(&mut self, reason: &str, n: u64) {
        if n > 0 {
            *self.skipped.entry(reason.to_string()).or_default() += n;
        }
    }

    /// Read the `arenas` vector, then every arena's carved pools, one read per arena.
    fn arenas(&mut self, arenas_ptr: u64, maxarenas_at: u64) -> crate::Result<()> {
        let r = self.r;
        let vector = r.read_u64(arenas_ptr)?;
        let maxarenas = u64::from(r.read_u32(maxarenas_at)?);
        if vector == 0 || maxarenas == 0 || maxarenas > MAX_ARENAS {
            return Err(crate::Error::invalid(format!(
                "implausible arena vector {vector:#x} of {maxarenas} entries"
            )));
        }
        let raw = r.read_vec(vector, maxarenas as usize * ARENA_OBJECT_SIZE)?;
        // The vector is reallocated (and the old one freed) when it grows: read while that
        // happens, it is stale. Both words unchanged after the copy means it is the vector.
        if r.read_u64(arenas_ptr)? != vector || u64::from(r.read_u32(maxarenas_at)?) != maxarenas {
            return Err(crate::Error::invalid(
                "the arena vector was reallocated while read",
            ));
        }
        let mut arenas = pymalloc::parse_arenas(&raw);
        arenas.sort_by_key(|(_, a)| a.address);
        let g = self.geometry;
        let ranges: Vec<(u64, u64)> = arenas
            .iter()
            .map(|(_, a)| (a.address, a.address.saturating_add(g.arena_size)))
            .collect();
        if ranges.windows(2).any(|w| w[0].1 > w[1].0) {
            return Err(crate::Error::invalid(
                "arenas overlap: the vector changed while read",
            ));
        }
        let mut filter = self.types.filter().clone();
        filter.arenas = ranges;
        self.types.set_filter(filter);
        self.totals.arenas = arenas.len() as u64;
        self.totals.arena_bytes = arenas.len() as u64 * g.arena_size;
        let mut runs = Vec::with_capacity(arenas.len());
        for (index, arena) in &arenas {
            let Some((first, end)) = g.carved_pools(arena) else {
                self.skip("arenas whose pool bounds did not hold together", 1);
                continue;
            };
            self.totals.arena_free_bytes += g.arena_size - (end - first);
            runs.push(PoolRun {
                first,
                end,
                arena_index: *index,
            });
        }
        self.pool_runs(&runs);
        Ok(())
    }

    /// Without the allocator's symbols: find the pools in use by their headers in anonymous
    /// memory. Returns whether any was found.
    fn discovered_pools(&mut self, anonymous: &[(u64, u64)]) -> bool {
        let g = self.geometry;
        let runs = discover::find_pool_runs(self.r, anonymous, g);
        if runs.is_empty() {
            return false;
        }
        let mut filter = self.types.filter().clone();
        filter.arenas = runs.iter().map(|run| (run.first, run.end)).collect();
        self.types.set_filter(filter);
        let arenas: HashSet<u32> = runs.iter().map(|run| run.arena_index).collect();
        self.totals.arenas = arenas.len() as u64;
        self.totals.arena_bytes = arenas.len() as u64 * g.arena_size;
        let pools: u64 = runs
            .iter()
            .map(|run| (run.end - run.first) / g.pool_size)
            .sum();
        self.totals.arena_free_bytes += self.totals.arena_bytes.saturating_sub(pools * g.pool_size);
        self.pool_runs(&runs);
        true
    }

    /// Read each run of pools whole and take the census of its pools.
    fn pool_runs(&mut self, runs: &[PoolRun]) {
        let g = self.geometry;
        let mut buf = Vec::new();
        for run in runs {
            let len = run.end - run.first;
            buf.resize(len as usize, 0);
            if len > 0 && self.r.read_into(run.first, &mut buf).is_err() {
                self.skip("arenas that could not be read (freed during the scan)", 1);
                continue;
            }
            for (p, pool) in buf.chunks_exact(g.pool_size as usize).enumerate() {
                self.pool(run.first + p as u64 * g.pool_size, pool, run.arena_index);
            }
        }
    }

    fn pool(&mut self, pool_addr: u64, pool: &[u8], arena_index: u32) {
        let g = self.geometry;
        let Some(header) = pymalloc::parse_pool_header(pool) else {
            return;
        };
        if header.count == 0 {
            self.totals.arena_free_bytes += g.pool_size;
            return;
        }
        if header.arenaindex != arena_index {
            self.skip("pools whose header named another arena", 1);
            return;
        }
        let used = match pymalloc::used_blocks(pool_addr, pool, &header, g.pool_size) {
            Ok(used) => used,
            Err(problem) => {
                let reason = match problem {
                    PoolProblem::BadHeader => "pools with an inconsistent header",
                    PoolProblem::BadFreeList => "pools whose free list changed while read",
                    PoolProblem::CountMismatch => "pools that changed while read",
                };
                self.skip(reason, 1);
                return;
            }
        };
        let size = header
            .block_size(g.pool_size)
            .expect("checked by used_blocks");
        let used_bytes = used.len() as u64 * size;
        self.totals.used_block_bytes += used_bytes;
        self.totals.arena_free_bytes += g.pool_size - pymalloc::POOL_OVERHEAD - used_bytes;
        for offset in used {
            let block = &pool[offset as usize..(offset as u64 + size) as usize];
            self.block(block);
        }
    }

    /// Which object a used block holds, by the type pointer at each place an object header
    /// can start: at the block (no GC header), after the GC header, after the pre-header and
    /// the GC header (3.11+); the type's own flags must agree with the place.
    fn block(&mut self, block: &[u8]) {
        let l = self.l;
        let gc = l.gc_head_size as u64;
        let preheader_flags = if Layout::has(l.tpflags_preheader) {
            l.tpflags_preheader as u64
        } else {
            0
        };
        let size = block.len() as u64;
        let places = [
            (0u64, false, false),
            (gc, true, false),
            (PREHEADER + gc, true, true),
        ];
        let tried = if preheader_flags != 0 { 3 } else { 2 };
        for &(start, want_gc, want_pre) in &places[..tried] {
            // An object is at least its refcount and type (`object()` is 16 bytes).
            if start + l.ob_type as u64 + 8 > size {
                break;
            }
            let Ok(tp) = u64_at(block, (start as i64) + l.ob_type) else {
                break;
            };
            let Some(idx) = self.types.lookup(self.r, tp) else {
                continue;
            };
            let info = self.types.info(idx);
            let has_pre = info.flags & preheader_flags != 0;
            if info.is_gc() != want_gc || (want_gc && has_pre != want_pre) {
                continue;
            }
            // A refcount of 0: a dead object kept in a free list (tuples, lists, dicts,
            // floats...) for reuse, not a live one. (3.12+: the count is the low 32 bits.)
            let refcnt = u64_at(block, start as i64).unwrap_or(0);
            if refcnt & 0xffff_ffff == 0 {
                self.skip("dead objects kept in free lists (refcount 0)", 1);
                self.totals.other_block_bytes += size;
                return;
            }
            self.tally.add(idx, size);
            self.totals.object_block_bytes += size;
            if want_gc {
                // Where the collector's list goes next: outside the arenas is a tracked object
                // the arena scan cannot see (found by following these links, see gc_lists).
                let next = u64_at(block, (start - gc) as i64).unwrap_or(0) & !3;
                if next != 0 {
                    self.totals.tracked_objects += 1;
                    self.note_tracked_outside(next);
                }
            }
            let object = &block[start as usize..];
            self.references(idx, object);
            return;
        }
        self.totals.other_block_bytes += size;
        // A block with no object: an item array or table; what it points outside the arenas
        // may be a large object.
        for word in block.chunks_exact(8).skip(1) {
            self.note_reference(u64::from_le_bytes(word.try_into().expect("8")));
        }
    }

    /// References held by an object read whole in its block: tuple items; a list's item array
    /// (its bytes are the list's; a large array is read to find the large objects it holds).
    fn references(&mut self, idx: u32, object: &[u8]) {
        let l = self.l;
        let flags = self.types.info(idx).flags;
        if flags & TPFLAGS_TUPLE_SUBCLASS != 0 {
            {
                let header = l.var_ob_size as usize + 8;
                for word in object.get(header..).unwrap_or(&[]).chunks_exact(8) {
                    self.note_reference(u64::from_le_bytes(word.try_into().expect("8")));
                }
            }
        } else if flags & TPFLAGS_LIST_SUBCLASS != 0 {
            {
                let Some((items, allocated)) = list_storage(l, object) else {
                    return;
                };
                // A list read while it changes (or a block misread as one) can claim an array
                // of gigabytes: its array must lie in mapped memory to be counted (a 6.3 GiB
                // `_List` was seen on 3.13 otherwise).
                let readable = &self.types.filter().readable;
                let last = items.saturating_add((allocated * 8).saturating_sub(1));
                if allocated > 0
                    && !readable.is_empty()
                    && !(in_ranges(readable, items) && in_ranges(readable, last))
                {
                    *self
                        .skipped
                        .entry("list item array outside mapped memory".into())
                        .or_default() += 1;
                    return;
                }
                self.tally.add_bytes(idx, allocated * 8);
                let outside = !in_ranges(&self.types.filter().arenas, items);
                if outside && allocated > 0 && allocated <= MAX_LIST_ITEMS {
                    let len = u64_at(object, l.var_ob_size).unwrap_or(0).min(allocated);
                    if let Ok(raw) = self.r.read_vec(items, len as usize * 8) {
                        for word in raw.chunks_exact(8) {
                            self.note_reference(u64::from_le_bytes(word.try_into().expect("8")));
                        }
                    }
                }
            }
        }
    }

    fn note_tracked_outside(&mut self, node: u64) {
        // Tracked objects live in malloc'd memory; a link elsewhere (a list head in the
        // interpreter state, garbage in a block taken for an object) is no object to count.
        if node.is_multiple_of(4)
            && in_ranges(&self.anonymous, node)
            && !in_ranges(&self.types.filter().arenas, node)
            && self.tracked_outside.len() < MAX_LARGE_CANDIDATES
        {
            self.tracked_outside.insert(node);
        }
    }

    fn note_reference(&mut self, p: u64) {
        if p == 0 || !p.is_multiple_of(8) || self.large.len() >= MAX_LARGE_CANDIDATES {
            return;
        }
        let filter = self.types.filter();
        if in_ranges(&filter.arenas, p)
            || (!filter.readable.is_empty() && !in_ranges(&filter.readable, p))
        {
            return;
        }
        self.large.insert(p);
    }

    /// Walk every list; count the tracked objects that pymalloc's scan did not (all of them
    /// when the arenas are unknown).
    fn gc_lists(&mut self, roots: &Roots, arenas_ok: bool) {
        let l = self.l;
        let heads = match gc_lists::list_heads(self.r, l, roots) {
            Ok(heads) => heads,
            Err(e) => {
                self.limits.push(format!(
                    "the collector's lists could not be read ({e}): tracked containers larger \
                     than a small block are not counted"
                ));
                return;
            }
        };
        let found = if arenas_ok {
            self.tracked_outside_arenas(&heads)
        } else {
            self.walk_lists(&heads)
        };
        self.count_tracked(found, arenas_ok);
    }

    /// With the arenas scanned: the tracked objects outside them, without walking the millions
    /// inside. Each one is on a list, so the node before it links to it: a list head or an
    /// object whose link the arena scan noted (or another outside object, followed here).
    /// One read per object outside the arenas.
    fn tracked_outside_arenas(&mut self, heads: &[u64]) -> Vec<Tracked> {
        let l = self.l;
        for &head in heads {
            if let Ok(next) = self.r.read_u64(head) {
                self.note_tracked_outside(next & !3);
            }
        }
        let mut todo: Vec<u64> = self.tracked_outside.drain().collect();
        let mut seen: FastSet<u64> = heads.iter().copied().collect();
        let mut found = Vec::new();
        while let Some(node) = todo.pop() {
            if node == 0 || !seen.insert(node) || found.len() as u64 >= gc_lists::MAX_TRACKED {
                continue;
            }
            let Some((tracked, next)) = gc_lists::read_node(self.r, l, node) else {
                self.skip("collector list links that could not be followed", 1);
                continue;
            };
            found.push(tracked);
            if next != 0
                && in_ranges(&self.anonymous, next)
                && !in_ranges(&self.types.filter().arenas, next)
            {
                todo.push(next);
            }
        }
        self.totals.tracked_objects += found.len() as u64;
        found
    }

    /// Without the arenas: every object of every list, one read each.
    fn walk_lists(&mut self, heads: &[u64]) -> Vec<Tracked> {
        let l = self.l;
        let mut found: Vec<Tracked> = Vec::new();
        for &head in heads {
            let end = gc_lists::walk(self.r, l, head, |t| found.push(t));
            self.totals.tracked_objects += end.visited;
            if !end.complete {
                self.skip(
                    "collector lists that changed under the walk (walk cut short)",
                    1,
                );
            }
        }
        found
    }

    fn count_tracked(&mut self, found: Vec<Tracked>, arenas_ok: bool) {
        let l = self.l;
        let gc = l.gc_head_size as u64;
        for t in found {
            let Some(idx) = self.types.lookup(self.r, t.type_ptr) else {
                self.skip("tracked objects with an unrecognised type", 1);
                continue;
            };
            let info = self.types.info(idx);
            let pre = if Layout::has(l.tpflags_preheader)
                && info.flags & (l.tpflags_preheader as u64) != 0
            {
                PREHEADER
            } else {
                0
            };
            let bytes = gc + pre + large_object_size(info, t.ob_size);
            self.tally.add(idx, bytes);
            if arenas_ok {
                self.totals.large_objects += 1;
                self.totals.large_object_bytes += bytes;
            }
            self.counted_outside.insert(t.object);
        }
    }

    /// Read the headers of the possible large objects in batches; count the untracked ones
    /// whose type is known (tracked ones were counted from the collector's lists; containers
    /// the collector untracked are on no list and counted here).
    fn large_objects(&mut self) {
        let l = self.l;
        let mut candidates: Vec<u64> = self
            .large
            .drain()
            .filter(|p| !self.counted_outside.contains(p))
            .collect();
        candidates.sort_unstable();
        let header = (l.unicode_compact_size.max(l.bytes_ob_sval).max(32) as usize + 7) & !7;
        let mut bufs = vec![vec![0u8; header]; BATCH];
        for chunk in candidates.chunks(BATCH) {
            let mut requests: Vec<(u64, &mut [u8])> = chunk
                .iter()
                .zip(bufs.iter_mut())
                .map(|(&a, b)| (a, b.as_mut_slice()))
                .collect();
            let ok: Vec<bool> = if self.r.read_batch(&mut requests).is_ok() {
                vec![true; chunk.len()]
            } else {
                requests
                    .iter_mut()
                    .map(|(a, b)| self.r.read_into(*a, b).is_ok())
                    .collect()
            };
            drop(requests);
            for (i, _) in chunk.iter().enumerate().filter(|&(i, _)| ok[i]) {
                self.large_candidate(i, &bufs);
            }
        }
    }

    fn large_candidate(&mut self, i: usize, bufs: &[Vec<u8>]) {
        let l = self.l;
        let head = &bufs[i];
        let refcnt = u64_at(head, 0).unwrap_or(0);
        let tp = u64_at(head, l.ob_type).unwrap_or(0);
        if refcnt == 0 || refcnt > 1 << 62 {
            return;
        }
        let Some(idx) = self.types.lookup(self.r, tp) else {
            return;
        };
        let info = self.types.info(idx);
        // Static types (PyUnicode_Type...) are untracked type objects in the binary's data,
        // not heap objects; heap types are tracked and were counted from the lists.
        if info.flags & TPFLAGS_TYPE_SUBCLASS != 0 {
            return;
        }
        // A container the collector untracked (a tuple or dict of atomic values) is on no list:
        // found here, with its GC header (and 3.11+ pre-header) before it.
        let header = if info.flags & TPFLAGS_HAVE_GC != 0 {
            let pre = if Layout::has(l.tpflags_preheader)
                && info.flags & (l.tpflags_preheader as u64) != 0
            {
                PREHEADER
            } else {
                0
            };
            l.gc_head_size as u64 + pre
        } else {
            0
        };
        let Some(size) = super::sizes::untracked_size(l, info, head) else {
            self.skip("large objects of implausible size", 1);
            return;
        };
        let bytes = header + size;
        self.tally.add(idx, bytes);
        self.totals.large_objects += 1;
        self.totals.large_object_bytes += bytes;
    }

    fn finish(self) -> Census {
        let mut by_name: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
        for (i, &(count, bytes)) in self.tally.by_type.iter().enumerate() {
            if count == 0 {
                continue;
            }
            let e = by_name.entry(&self.types.types()[i].name).or_default();
            e.0 += count;
            e.1 += bytes;
        }
        let mut rows: Vec<TypeRow> = by_name
            .into_iter()
            .map(|(name, (count, bytes))| TypeRow {
                name: name.to_string(),
                count,
                bytes,
            })
            .collect();
        rows.sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.name.cmp(&b.name)));
        let mut totals = self.totals;
        totals.objects = rows.iter().map(|r| r.count).sum();
        totals.object_bytes = rows.iter().map(|r| r.bytes).sum();
        Census {
            rows,
            totals,
            skipped: self.skipped,
            limits: self.limits,
        }
    }
}
