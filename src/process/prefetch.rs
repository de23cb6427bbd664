//! One syscall per sample: the reads of a sample are served from a single batched copy of the
//! regions the previous sample read.
//!
//! Between two samples a Python stack mostly stays where it was: the same thread states, the
//! same data-stack chunk, the same code objects. So a sample starts by copying, in one vectored
//! `process_vm_readv`, every region the previous sample asked for, in the order it asked; each
//! read of the walk then takes the first unused copy that holds it, or goes to the target when
//! none does. A wrong guess costs nothing but bytes: every copy is memory as it is *now*, only
//! its address was guessed.
//!
//! Order matters: a region asked for twice (a thread's top-frame pointer, read before and again
//! after its frames, to notice a stack that moved while it was copied) is copied twice, in
//! that order, inside the batch, so the second copy is still taken after the frames.
use std::cell::RefCell;

use super::MemoryReader;
use crate::error::Result;

/// Most regions in one speculative batch (the kernel's iovec limit).
const MAX_REGIONS: usize = libc::UIO_MAXIOV as usize;
/// Most bytes copied speculatively per sample: the data-stack chunks of several deep threads.
const MAX_BYTES: usize = 4 << 20;
/// A batch that fails at one region is re-sent without it this many times at most.
const MAX_RESENDS: usize = 3;

/// A [`MemoryReader`] that records a sample's reads and prefetches them for the next one.
pub struct Prefetching<R> {
    inner: R,
    state: RefCell<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Reads asked for since the sample began, in order: the next sample's plan.
    asked: Vec<(u64, usize)>,
    /// Regions copied at the start of this sample.
    copies: Vec<Copy>,
    /// Their bytes, back to back.
    bytes: Vec<u8>,
    /// Where the next search starts: reads come in the order of the plan.
    cursor: usize,
    hits: u64,
    misses: u64,
}

#[derive(Debug, Clone)]
struct Copy {
    addr: u64,
    len: usize,
    /// Offset of its bytes in [`State::bytes`].
    at: usize,
    /// Copied whole by the batch.
    loaded: bool,
    /// Already served a read.
    used: bool,
}

impl State {
    /// The first unused, loaded copy holding `[addr, addr + len)`, searching from the cursor.
    fn take(&mut self, addr: u64, len: usize) -> Option<&[u8]> {
        let end = addr.checked_add(len as u64)?;
        let n = self.copies.len();
        let found = (0..n).map(|k| (self.cursor + k) % n).find(|&i| {
            let c = &self.copies[i];
            c.loaded && !c.used && addr >= c.addr && end <= c.addr + c.len as u64
        })?;
        self.cursor = found + 1;
        let c = &mut self.copies[found];
        c.used = true;
        let start = c.at + (addr - c.addr) as usize;
        Some(&self.bytes[start..start + len])
    }

    fn remember(&mut self, addr: u64, len: usize) {
        if self.asked.len() < MAX_REGIONS {
            self.asked.push((addr, len));
        }
    }
}

impl<R: MemoryReader> Prefetching<R> {
    /// Wrap `inner`; nothing is prefetched until a sample has been recorded.
    pub fn new(inner: R) -> Self {
        Prefetching {
            inner,
            state: RefCell::new(State::default()),
        }
    }

    /// The wrapped reader.
    pub fn inner(&self) -> &R {
        &self.inner
    }

    /// (reads served from the batch, reads that went to the target) so far.
    pub fn stats(&self) -> (u64, u64) {
        let s = self.state.borrow();
        (s.hits, s.misses)
    }

    /// Begin a sample: copy, in one batch, every region the previous sample read.
    pub fn begin_sample(&mut self) {
        let state = self.state.get_mut();
        let plan = std::mem::take(&mut state.asked);
        state.copies.clear();
        state.cursor = 0;
        let mut total = 0usize;
        for &(addr, len) in &plan {
            if total + len > MAX_BYTES {
                break;
            }
            state.copies.push(Copy {
                addr,
                len,
                at: total,
                loaded: false,
                used: false,
            });
            total += len;
        }
        state.bytes.resize(total, 0);
        let mut first = 0;
        for _ in 0..=MAX_RESENDS {
            if first >= state.copies.len() {
                break;
            }
            let whole = {
                let mut rest = &mut state.bytes[state.copies[first].at..];
                let mut requests = Vec::with_capacity(state.copies.len() - first);
                for c in &state.copies[first..] {
                    let (buf, tail) = std::mem::take(&mut rest).split_at_mut(c.len);
                    requests.push((c.addr, buf));
                    rest = tail;
                }
                self.inner.read_batch_prefix(&mut requests)
            };
            for c in &mut state.copies[first..first + whole] {
                c.loaded = true;
            }
            // Skip the region that failed (freed since, or a guess that no longer holds).
            first += whole + 1;
        }
        state.asked = plan;
        state.asked.clear();
    }

    /// Forget the copies (a retry must see fresh memory) and start recording afresh.
    pub fn restart_sample(&mut self) {
        let state = self.state.get_mut();
        state.copies.clear();
        state.asked.clear();
    }
}

impl<R: MemoryReader> MemoryReader for Prefetching<R> {
    fn read_into(&self, addr: u64, buf: &mut [u8]) -> Result<()> {
        let mut state = self.state.borrow_mut();
        if let Some(bytes) = state.take(addr, buf.len()) {
            buf.copy_from_slice(bytes);
            state.hits += 1;
        } else {
            self.inner.read_into(addr, buf)?;
            state.misses += 1;
        }
        state.remember(addr, buf.len());
        Ok(())
    }

    fn read_batch(&self, requests: &mut [(u64, &mut [u8])]) -> Result<()> {
        let mut state = self.state.borrow_mut();
        let asked_before = state.asked.len();
        let mut missing: Vec<(u64, &mut [u8])> = Vec::new();
        for (addr, buf) in requests.iter_mut() {
            state.remember(*addr, buf.len());
            match state.take(*addr, buf.len()) {
                Some(bytes) => {
                    buf.copy_from_slice(bytes);
                    state.hits += 1;
                }
                None => missing.push((*addr, &mut buf[..])),
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        state.misses += missing.len() as u64;
        let result = self.inner.read_batch(&mut missing);
        if result.is_err() {
            // A failed batch is not a plan for the next sample.
            state.asked.truncate(asked_before);
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::{ReadExt, SnapshotReader};
    use std::cell::Cell;

    /// Counts calls to the reader underneath (one call = one syscall live).
    struct Counting {
        snap: RefCell<SnapshotReader>,
        calls: Cell<usize>,
    }

    impl MemoryReader for Counting {
        fn read_into(&self, addr: u64, buf: &mut [u8]) -> Result<()> {
            self.calls.set(self.calls.get() + 1);
            self.snap.borrow().read_into(addr, buf)
        }
        fn read_batch(&self, requests: &mut [(u64, &mut [u8])]) -> Result<()> {
            self.calls.set(self.calls.get() + 1);
            self.snap.borrow().read_batch(requests)
        }
        fn read_batch_prefix(&self, requests: &mut [(u64, &mut [u8])]) -> usize {
            self.calls.set(self.calls.get() + 1);
            self.snap.borrow().read_batch_prefix(requests)
        }
    }

    fn image() -> Counting {
        let mut snap = SnapshotReader::new();
        snap.insert(0x1000, &[1u8; 0x100]);
        snap.insert(0x2000, &[2u8; 0x100]);
        snap.insert(0x3000, &[3u8; 0x100]);
        Counting {
            snap: RefCell::new(snap),
            calls: Cell::new(0),
        }
    }

    /// The walk of the tests: a pointer, a block, the same pointer again.
    fn walk(r: &Prefetching<Counting>) -> (u64, Vec<u8>, u64) {
        (
            r.read_u64(0x1000).unwrap(),
            r.read_vec(0x2000, 0x80).unwrap(),
            r.read_u64(0x1000).unwrap(),
        )
    }

    #[test]
    fn a_repeated_walk_costs_one_call() {
        let mut r = Prefetching::new(image());
        r.begin_sample();
        let first = walk(&r);
        assert_eq!(r.inner().calls.replace(0), 3, "nothing to prefetch yet");
        r.begin_sample();
        assert_eq!(walk(&r), first);
        assert_eq!(r.inner().calls.get(), 1, "one batch served the whole walk");
        assert_eq!(r.stats(), (3, 3));
    }

    #[test]
    fn copies_show_memory_as_it_is_now() {
        let mut r = Prefetching::new(image());
        r.begin_sample();
        walk(&r);
        r.inner().snap.borrow_mut().insert(0x2000, &[9u8; 0x100]);
        r.begin_sample();
        assert_eq!(walk(&r).1, vec![9u8; 0x80]);
    }

    #[test]
    fn each_copy_serves_one_read() {
        // The second read of 0x1000 must come from the second copy (taken after the block),
        // not again from the first: that is what makes the re-read a check.
        let mut r = Prefetching::new(image());
        r.begin_sample();
        walk(&r);
        r.inner().calls.set(0);
        r.begin_sample();
        r.read_u64(0x1000).unwrap();
        r.read_vec(0x2000, 0x80).unwrap();
        r.inner().snap.borrow_mut().insert(0x1000, &[7u8; 8]);
        assert_eq!(r.read_u64(0x1000).unwrap(), 0x0101_0101_0101_0101);
        assert_eq!(
            r.inner().calls.get(),
            1,
            "the third read was served by the batch"
        );
        // A fourth read of the same address finds no unused copy and goes to the target.
        assert_eq!(r.read_u64(0x1000).unwrap(), 0x0707_0707_0707_0707);
    }

    #[test]
    fn a_failed_region_does_not_lose_the_rest() {
        let mut r = Prefetching::new(image());
        r.begin_sample();
        r.read_u64(0x1000).unwrap();
        r.read_u64(0x2000).unwrap();
        r.read_u64(0x3000).unwrap();
        // 0x2000 goes away: the batch stops there and is re-sent for what follows.
        let mut snap = SnapshotReader::new();
        snap.insert(0x1000, &[1u8; 0x100]);
        snap.insert(0x3000, &[3u8; 0x100]);
        *r.inner().snap.borrow_mut() = snap;
        r.inner().calls.set(0);
        r.begin_sample();
        assert_eq!(
            r.inner().calls.get(),
            2,
            "one batch, one re-send past the hole"
        );
        assert!(r.read_u64(0x1000).is_ok());
        assert!(r.read_u64(0x2000).is_err());
        assert!(r.read_u64(0x3000).is_ok());
        assert_eq!(
            r.inner().calls.get(),
            3,
            "only the missing region was read again"
        );
    }

    #[test]
    fn a_restart_reads_fresh_memory() {
        let mut r = Prefetching::new(image());
        r.begin_sample();
        walk(&r);
        r.begin_sample();
        r.inner().snap.borrow_mut().insert(0x1000, &[5u8; 8]);
        r.restart_sample();
        assert_eq!(r.read_u64(0x1000).unwrap(), 0x0505_0505_0505_0505);
    }

    #[test]
    fn batches_are_served_and_recorded() {
        let mut r = Prefetching::new(image());
        r.begin_sample();
        let (mut a, mut b) = ([0u8; 8], [0u8; 8]);
        r.read_batch(&mut [(0x1000, &mut a), (0x3000, &mut b)])
            .unwrap();
        r.begin_sample();
        let calls = r.inner().calls.get();
        r.read_batch(&mut [(0x1000, &mut a), (0x3000, &mut b)])
            .unwrap();
        assert_eq!(r.inner().calls.get(), calls);
        assert_eq!((a[0], b[0]), (1, 3));
    }
}
