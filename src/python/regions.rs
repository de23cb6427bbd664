//! Copies of target memory taken during one walk, so that frames which sit next to each other
//! cost one read between them rather than one each.
//!
//! - 3.11+: a thread's data-stack chunks (`_PyStackChunk`, 16 KiB or more) hold most of its
//!   frames; each chunk is copied as the walk reaches it, newest first: the newest only up to
//!   the top frame's page, older ones whole. Frames outside the chunks are read one by one.
//! - ≤3.10: frame objects are separate heap objects, but a recursion allocates them one after
//!   the other (inner frames at higher addresses), so a window ending at the frame just read
//!   usually holds the next several `f_back` frames too.
//!
//! Buffers are recycled across samples (see [`Regions::into_pool`]): no allocation per sample.
use python_versions::Layout;

use crate::error::Result;
use crate::process::{u64_at, MemoryReader, PAGE};

/// The smallest data-stack chunk CPython allocates (`DATA_STACK_CHUNK_SIZE`, 16 KiB): reading
/// this much from a chunk's start is always inside the chunk.
/// https://github.com/python/cpython/blob/v3.11.7/Python/pystate.c
pub(crate) const CHUNK_MIN: usize = 16 * 1024;
/// Largest chunk copied whole.
const CHUNK_MAX: u64 = 8 * 1024 * 1024;
/// Bytes read around a heap frame (≤3.10), ending at the frame's end. A page: since every
/// sample's reads go out in one batch anyway, a larger window saves no syscall, only copies
/// more (16 KiB windows copied 115 KB per 100-frame sample on 3.9, 4 KiB ones 61 KB).
pub(crate) const FRAME_WINDOW: usize = 4 * 1024;
/// Bytes under the top frame copied with it (see [`Regions::copy_top`]): the few frames that
/// call-heavy code pushes and pops while a stack is copied.
const TOP_BELOW: u64 = 1024;
/// Most regions one walk keeps.
const MAX_REGIONS: usize = 1024;

/// Memory copied during one walk of one thread.
#[derive(Debug, Default)]
pub(crate) struct Regions {
    /// (start address, bytes).
    loaded: Vec<(u64, Vec<u8>)>,
    /// Spare buffers from earlier samples.
    pool: Vec<Vec<u8>>,
    /// The next data-stack chunk to copy (0: none left).
    next_chunk: u64,
    /// The thread's newest chunk, where its frames end at the top frame.
    newest_chunk: u64,
    /// The top frame, once [`Regions::copy_top`] copied it (0 before).
    top: u64,
}

impl Regions {
    /// Start a walk, reusing `pool`'s buffers; `chunk` is the thread's newest data-stack chunk
    /// (0 before 3.11).
    pub(crate) fn new(pool: Vec<Vec<u8>>, chunk: u64) -> Self {
        Regions {
            loaded: Vec::new(),
            pool,
            next_chunk: chunk,
            newest_chunk: chunk,
            top: 0,
        }
    }

    /// Give the buffers back for the next sample.
    pub(crate) fn into_pool(mut self) -> Vec<Vec<u8>> {
        self.pool.extend(self.loaded.drain(..).map(|(_, b)| b));
        self.pool
    }

    /// A buffer of `len` bytes for a read to fill: old contents are left (every byte is
    /// overwritten by the read), only growth is zeroed.
    fn buffer(&mut self, len: usize) -> Vec<u8> {
        let mut b = self.pool.pop().unwrap_or_default();
        b.truncate(len);
        b.resize(len, 0);
        b
    }

    /// The `size` bytes at `addr`, if a copy already holds them.
    pub(crate) fn get(&self, addr: u64, size: usize) -> Option<&[u8]> {
        // `checked_add`: a garbage pointer near the top of the address space.
        let end = addr.checked_add(size as u64)?;
        self.loaded
            .iter()
            .find(|(start, data)| addr >= *start && end <= start + data.len() as u64)
            .map(|(start, data)| {
                let off = (addr - start) as usize;
                &data[off..off + size]
            })
    }

    /// 3.11+: the `size` bytes at `addr` from the thread's data-stack chunks, copying chunks
    /// (newest first) until one holds them; `None` when no chunk does (a generator's frame).
    pub(crate) fn in_chunks<R: MemoryReader>(
        &mut self,
        r: &R,
        l: &Layout,
        addr: u64,
        size: usize,
    ) -> Result<Option<&[u8]>> {
        while self.get(addr, size).is_none() {
            if self.next_chunk == 0 || self.loaded.len() >= MAX_REGIONS {
                return Ok(None);
            }
            let chunk = self.next_chunk;
            // The newest chunk is used up to the top frame, wherever the frame asked for is.
            let used_to = if self.top != 0 { self.top } else { addr };
            let data = match self.used_part_of_newest(r, l, chunk, used_to, size) {
                Some(data) => data,
                None => self.whole_chunk(r, l, chunk)?,
            };
            self.next_chunk = u64_at(&data, l.chunk_previous)?;
            self.loaded.push((chunk, data));
        }
        Ok(self.get(addr, size))
    }

    /// The newest chunk is used only up to the top frame (the first frame asked for, when it
    /// lies in that chunk): copy up to the end of that frame's page, not the whole chunk —
    /// most stacks use a fraction of their 16 KiB. Rounding to the page keeps the read the same
    /// while the top frame moves within a page, so the next sample's prefetch still serves it.
    fn used_part_of_newest<R: MemoryReader>(
        &mut self,
        r: &R,
        l: &Layout,
        chunk: u64,
        addr: u64,
        size: usize,
    ) -> Option<Vec<u8>> {
        let used = addr.checked_add(size as u64)?.checked_sub(chunk)?;
        if chunk != self.newest_chunk || addr < chunk || used > CHUNK_MAX {
            return None;
        }
        let len = (used.div_ceil(PAGE) * PAGE).max(PAGE) as usize;
        let mut data = self.buffer(len);
        let total = match r.read_into(chunk, &mut data) {
            Ok(()) => u64_at(&data, l.chunk_size).ok()?,
            Err(_) => 0,
        };
        // The top frame must lie inside the chunk the header describes; else read it whole.
        if total < used || total > CHUNK_MAX {
            self.pool.push(data);
            return None;
        }
        data.truncate(total.min(len as u64) as usize);
        Some(data)
    }

    /// A chunk copied whole: its first 16 KiB, then the rest if its header says it is larger.
    fn whole_chunk<R: MemoryReader>(&mut self, r: &R, l: &Layout, chunk: u64) -> Result<Vec<u8>> {
        let mut data = self.buffer(CHUNK_MIN);
        r.read_into(chunk, &mut data)?;
        let total = u64_at(&data, l.chunk_size)?;
        if total > CHUNK_MIN as u64 && total <= CHUNK_MAX {
            data.resize(total as usize, 0);
            r.read_into(chunk.wrapping_add(CHUNK_MIN as u64), &mut data[CHUNK_MIN..])?;
        }
        Ok(data)
    }

    /// 3.11+ frames outside the data stack (a generator's frame inside its object, an entry
    /// frame on the C stack): just the frame. Such frames are not laid out next to each other,
    /// and a window around one on the C stack would copy pages of it on every sample.
    pub(crate) fn exact<R: MemoryReader>(
        &mut self,
        r: &R,
        addr: u64,
        size: usize,
    ) -> Result<&[u8]> {
        if self.get(addr, size).is_none() {
            self.load(r, addr, size)?;
        }
        Ok(self.get(addr, size).expect("just loaded"))
    }

    /// Copy the memory around a thread's top frame, first: the walk reads it right after the
    /// pointer to the top, so that the frames which change fastest are copied within a fraction
    /// of a microsecond of it. Copied later, after the rest of the stack, the top would be seen
    /// at a moment the copy itself chose — and a copy is not a neutral moment: reading the
    /// cache lines where the target is about to build its next frame slows that call down, so
    /// a caller caught at its call line with the callee missing came out several times too
    /// often (measured on call-heavy json and html.parser work against `--blocking`).
    ///
    /// In a data-stack chunk (3.11+): from [`TOP_BELOW`] bytes under the top to the end of its
    /// page (page-aligned, so the next sample's batch serves it while the top stays near);
    /// ≤3.10: the frame's window; elsewhere (a generator's frame): the frame alone.
    pub(crate) fn copy_top<R: MemoryReader>(&mut self, r: &R, top: u64, size: usize) -> Result<()> {
        self.top = top;
        match self.top_span(top, size) {
            None if self.newest_chunk == 0 => {
                self.window(r, top, size)?;
            }
            None => {
                self.exact(r, top, size)?;
            }
            Some((start, len)) => {
                if self.load(r, start, len).is_err() {
                    self.load(r, top, size)?;
                }
                // Newest first: a copy taken again supersedes the earlier one.
                let newest = self.loaded.pop().expect("just loaded");
                self.loaded.insert(0, newest);
            }
        }
        Ok(())
    }

    /// Where [`Regions::copy_top`] copies a top frame at `top` in the newest data-stack chunk
    /// (start, length); `None` before 3.11 or for a frame outside it.
    pub(crate) fn top_span(&self, top: u64, size: usize) -> Option<(u64, usize)> {
        let chunk = self.newest_chunk;
        let end = top.checked_add(size as u64)?;
        if chunk == 0 || top < chunk || end - chunk > CHUNK_MAX {
            return None;
        }
        let start = (top.saturating_sub(TOP_BELOW) & !(PAGE - 1)).max(chunk);
        Some((start, (end.div_ceil(PAGE) * PAGE - start) as usize))
    }

    /// Keep `data` as the copy of the memory at `start`.
    fn keep(&mut self, start: u64, data: Vec<u8>) {
        if self.loaded.len() >= MAX_REGIONS {
            self.loaded.remove(0);
        }
        self.loaded.push((start, data));
    }

    /// Copy `len` bytes at `start` into a pooled buffer and keep it.
    fn load<R: MemoryReader>(&mut self, r: &R, start: u64, len: usize) -> Result<()> {
        let mut data = self.buffer(len);
        if let Err(e) = r.read_into(start, &mut data) {
            self.pool.push(data);
            return Err(e);
        }
        self.keep(start, data);
        Ok(())
    }

    /// ≤3.10: the `size` bytes at `addr`, from a copy when one holds them, else by reading a
    /// window that ends at the frame's end — falling back to the frame's own page, then to the
    /// frame alone, where the memory below is not mapped.
    pub(crate) fn window<R: MemoryReader>(
        &mut self,
        r: &R,
        addr: u64,
        size: usize,
    ) -> Result<&[u8]> {
        if self.get(addr, size).is_none() {
            let end = addr.wrapping_add(size as u64);
            let page_start = addr & !(PAGE - 1);
            let starts = [
                end.saturating_sub(FRAME_WINDOW as u64),
                page_start.min(addr),
                addr,
            ];
            let mut loaded = Ok(());
            for start in starts {
                loaded = self.load(r, start, end.wrapping_sub(start) as usize);
                if loaded.is_ok() {
                    break;
                }
            }
            loaded?;
        }
        Ok(self.get(addr, size).expect("just loaded"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::SnapshotReader;

    #[test]
    fn one_window_serves_neighbouring_frames() {
        let mut mem = SnapshotReader::new();
        mem.insert(0x10000, &vec![7u8; 0x8000]);
        let counting = Counting::new(&mem);
        let mut regions = Regions::new(Vec::new(), 0);
        for i in 0..8u64 {
            let frame = 0x17000 - i * 464;
            assert_eq!(regions.window(&counting, frame, 400).unwrap().len(), 400);
        }
        assert_eq!(
            counting.reads(),
            1,
            "8 frames 464 bytes apart fit one 4 KiB window"
        );
        // Below the mapping: falls back to the frame's page, then the frame.
        let mut regions = Regions::new(regions.into_pool(), 0);
        assert!(regions.window(&counting, 0x10010, 64).is_ok());
        assert!(regions.window(&counting, 0x0fff0, 64).is_err());
    }

    struct Counting<'a> {
        inner: &'a SnapshotReader,
        reads: std::cell::Cell<usize>,
    }

    impl<'a> Counting<'a> {
        fn new(inner: &'a SnapshotReader) -> Self {
            Counting {
                inner,
                reads: Default::default(),
            }
        }
        fn reads(&self) -> usize {
            self.reads.get()
        }
    }

    impl MemoryReader for Counting<'_> {
        fn read_into(&self, addr: u64, buf: &mut [u8]) -> Result<()> {
            self.inner.read_into(addr, buf)?;
            self.reads.set(self.reads.get() + 1);
            Ok(())
        }
    }
}
