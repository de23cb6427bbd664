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

use super::{MemoryReader, PAGE};
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
    /// Regions the previous sample read, each served at most once.
    copies: Vec<Copy>,
    /// What is copied for them: runs of neighbouring regions merged into one.
    spans: Vec<Span>,
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
    /// The span holding its bytes.
    span: usize,
    /// Already served a read.
    used: bool,
}

/// One region of the batch (one iovec).
#[derive(Debug, Clone)]
struct Span {
    addr: u64,
    len: usize,
    /// Offset of its bytes in [`State::bytes`].
    at: usize,
    /// Copied whole by the batch.
    loaded: bool,
}

/// Largest merged span. Reads are merged only within a page or across neighbouring pages:
/// every page of a merged span is then touched by one of its regions, so it is as readable.
const MAX_SPAN: u64 = 64 << 10;

impl State {
    /// The first unused, loaded copy holding `[addr, addr + len)`, searching from the cursor.
    fn take(&mut self, addr: u64, len: usize) -> Option<&[u8]> {
        let end = addr.checked_add(len as u64)?;
        let n = self.copies.len();
        let found = (0..n).map(|k| (self.cursor + k) % n).find(|&i| {
            let c = &self.copies[i];
            self.spans[c.span].loaded && !c.used && addr >= c.addr && end <= c.addr + c.len as u64
        })?;
        self.cursor = found + 1;
        let c = &mut self.copies[found];
        c.used = true;
        let span = &self.spans[c.span];
        let start = span.at + (addr - span.addr) as usize;
        Some(&self.bytes[start..start + len])
    }

    /// Lay out the batch for `plan`: one copy per region, in order; consecutive regions in the
    /// same or neighbouring pages share one span (many small code-object heads in a few pages
    /// cost one iovec per page run, not one each). A span is copied where its first region
    /// stands in the plan, so no region is copied before one that preceded it.
    fn plan_spans(&mut self, plan: &[(u64, usize)]) {
        self.copies.clear();
        self.spans.clear();
        self.cursor = 0;
        let mut total = 0usize;
        for &(addr, len) in plan {
            let Some(end) = addr.checked_add(len as u64) else {
                continue;
            };
            if let Some(last) = self.spans.last_mut() {
                let last_end = last.addr + last.len as u64;
                let (lo, hi) = (addr.min(last.addr), end.max(last_end));
                // Up or down (a chain of generator frames is walked downwards), as long as no
                // page of the union is left untouched.
                let joins = addr / PAGE <= last_end.saturating_sub(1) / PAGE + 1
                    && end.saturating_sub(1) / PAGE + 1 >= last.addr / PAGE
                    && hi - lo <= MAX_SPAN;
                if joins {
                    let grown = (hi - lo) as usize;
                    if total - last.len + grown > MAX_BYTES {
                        break;
                    }
                    total = total - last.len + grown;
                    last.addr = lo;
                    last.len = grown;
                    self.copies.push(Copy {
                        addr,
                        len,
                        span: self.spans.len() - 1,
                        used: false,
                    });
                    continue;
                }
            }
            if total + len > MAX_BYTES {
                break;
            }
            self.spans.push(Span {
                addr,
                len,
                at: total,
                loaded: false,
            });
            total += len;
            self.copies.push(Copy {
                addr,
                len,
                span: self.spans.len() - 1,
                used: false,
            });
        }
        self.bytes.resize(total, 0);
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
        state.plan_spans(&plan);
        state.asked = plan;
        state.asked.clear();
        let mut first = 0;
        for _ in 0..=MAX_RESENDS {
            if first >= state.spans.len() {
                break;
            }
            let whole = {
                let mut rest = &mut state.bytes[state.spans[first].at..];
                let mut requests = Vec::with_capacity(state.spans.len() - first);
                for span in &state.spans[first..] {
                    let (buf, tail) = std::mem::take(&mut rest).split_at_mut(span.len);
                    requests.push((span.addr, buf));
                    rest = tail;
                }
                self.inner.read_batch_prefix(&mut requests)
            };
            for span in &mut state.spans[first..first + whole] {
                span.loaded = true;
            }
            // Skip the region that failed (freed since, or a guess that no longer holds).
            first += whole + 1;
        }
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
        /// Regions (iovecs) of the last speculative batch.
        batch_regions: Cell<usize>,
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
            self.batch_regions.set(requests.len());
            self.snap.borrow().read_batch_prefix(requests)
        }
    }

    fn image() -> Counting {
        let mut snap = SnapshotReader::new();
        snap.insert(0x1000, &[1u8; 0x100]);
        snap.insert(0x12000, &[2u8; 0x100]);
        snap.insert(0x23000, &[3u8; 0x100]);
        Counting {
            snap: RefCell::new(snap),
            calls: Cell::new(0),
            batch_regions: Cell::new(0),
        }
    }

    /// The walk of the tests: a pointer, a block, the same pointer again.
    fn walk(r: &Prefetching<Counting>) -> (u64, Vec<u8>, u64) {
        (
            r.read_u64(0x1000).unwrap(),
            r.read_vec(0x12000, 0x80).unwrap(),
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
        r.inner().snap.borrow_mut().insert(0x12000, &[9u8; 0x100]);
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
        r.read_vec(0x12000, 0x80).unwrap();
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
        r.read_u64(0x12000).unwrap();
        r.read_u64(0x23000).unwrap();
        // 0x12000 goes away: the batch stops there and is re-sent for what follows.
        let mut snap = SnapshotReader::new();
        snap.insert(0x1000, &[1u8; 0x100]);
        snap.insert(0x23000, &[3u8; 0x100]);
        *r.inner().snap.borrow_mut() = snap;
        r.inner().calls.set(0);
        r.begin_sample();
        assert_eq!(
            r.inner().calls.get(),
            2,
            "one batch, one re-send past the hole"
        );
        assert!(r.read_u64(0x1000).is_ok());
        assert!(r.read_u64(0x12000).is_err());
        assert!(r.read_u64(0x23000).is_ok());
        assert_eq!(
            r.inner().calls.get(),
            3,
            "only the missing region was read again"
        );
    }

    #[test]
    fn neighbouring_reads_share_one_region() {
        let mut snap = SnapshotReader::new();
        snap.insert(0x10000, &(0..0x3000).map(|i| i as u8).collect::<Vec<_>>());
        snap.insert(0x120000, &[4u8; 0x100]);
        let mut r = Prefetching::new(Counting {
            snap: RefCell::new(snap),
            calls: Cell::new(0),
            batch_regions: Cell::new(0),
        });
        // Ten heads over three neighbouring pages (as code objects lie), then a far region,
        // then one going back down: three regions in all.
        let heads: Vec<u64> = (0..10).map(|i| 0x10010 + i * 0x480).collect();
        let walk = |r: &Prefetching<Counting>| {
            let mut out: Vec<Vec<u8>> = heads
                .iter()
                .map(|&a| r.read_vec(a, 0x30).unwrap())
                .collect();
            out.push(r.read_vec(0x120000, 0x10).unwrap());
            out.push(r.read_vec(0x10000, 0x10).unwrap());
            out
        };
        r.begin_sample();
        let first = walk(&r);
        r.inner().calls.set(0);
        r.begin_sample();
        assert_eq!(r.inner().batch_regions.get(), 3);
        assert_eq!(
            walk(&r),
            first,
            "each read gets its own bytes from the merged copy"
        );
        assert_eq!(r.inner().calls.get(), 1);
    }

    #[test]
    fn batches_are_served_and_recorded() {
        let mut r = Prefetching::new(image());
        r.begin_sample();
        let (mut a, mut b) = ([0u8; 8], [0u8; 8]);
        r.read_batch(&mut [(0x1000, &mut a), (0x23000, &mut b)])
            .unwrap();
        r.begin_sample();
        let calls = r.inner().calls.get();
        r.read_batch(&mut [(0x1000, &mut a), (0x23000, &mut b)])
            .unwrap();
        assert_eq!(r.inner().calls.get(), calls);
        assert_eq!((a[0], b[0]), (1, 3));
    }
}
