//! Linux perf events, for what the kernel sees and we cannot read from memory: which thread
//! took a page fault, and when. One module owns the events (opened per thread, an mmap'd ring
//! each, records decoded from it); the memory attribution uses it (see [`faults`]).
//! https://man7.org/linux/man-pages/man2/perf_event_open.2.html
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{fence, AtomicU64, Ordering};

pub mod faults;
pub mod stacks;

/// `PERF_TYPE_SOFTWARE`.
const TYPE_SOFTWARE: u32 = 1;
/// `PERF_COUNT_SW_PAGE_FAULTS`: minor and major faults both.
pub const SW_PAGE_FAULTS: u64 = 2;
/// `PERF_COUNT_SW_CPU_CLOCK`: CPU time of the thread, in ns.
pub const SW_CPU_CLOCK: u64 = 0;
/// `PERF_SAMPLE_IP`, `PERF_SAMPLE_TID`, `PERF_SAMPLE_TIME`, `PERF_SAMPLE_REGS_USER`,
/// `PERF_SAMPLE_STACK_USER`.
const SAMPLE_IP: u64 = 1 << 0;
const SAMPLE_TID: u64 = 1 << 1;
const SAMPLE_TIME: u64 = 1 << 2;
const SAMPLE_REGS_USER: u64 = 1 << 12;
const SAMPLE_STACK_USER: u64 = 1 << 13;
/// `PERF_RECORD_LOST`, `PERF_RECORD_SAMPLE`.
const RECORD_LOST: u32 = 2;
const RECORD_SAMPLE: u32 = 9;
/// Flag bits of `perf_event_attr` (the bitfield after `read_format`).
const FLAG_DISABLED: u64 = 1 << 0;
const FLAG_EXCLUDE_KERNEL: u64 = 1 << 5;
const FLAG_EXCLUDE_HV: u64 = 1 << 6;
const FLAG_USE_CLOCKID: u64 = 1 << 25;
/// `PERF_FLAG_FD_CLOEXEC`.
const FLAG_FD_CLOEXEC: libc::c_ulong = 1 << 3;
/// `PERF_EVENT_IOC_ENABLE`.
const IOC_ENABLE: libc::c_ulong = 0x2400;
/// Pages of ring after the header page (a power of two): 8 KiB holds ~340 fault records.
const RING_PAGES: usize = 2;

/// `struct perf_event_attr` up to `config3` (`PERF_ATTR_SIZE_VER8`, 136 bytes).
/// https://github.com/torvalds/linux/blob/v6.8/include/uapi/linux/perf_event.h
#[repr(C)]
#[derive(Default)]
struct Attr {
    kind: u32,
    size: u32,
    config: u64,
    sample_period: u64,
    sample_type: u64,
    read_format: u64,
    flags: u64,
    wakeup_events: u32,
    bp_type: u32,
    config1: u64,
    config2: u64,
    branch_sample_type: u64,
    sample_regs_user: u64,
    sample_stack_user: u32,
    clockid: i32,
    sample_regs_intr: u64,
    aux_watermark: u32,
    sample_max_stack: u16,
    reserved_2: u16,
    aux_sample_size: u32,
    reserved_3: u32,
    sig_data: u64,
    config3: u64,
}

/// One sample record of a software event: the thread, and when (CLOCK_MONOTONIC, ns).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// The thread that counted.
    pub tid: u32,
    /// `CLOCK_MONOTONIC` nanoseconds.
    pub time_ns: u64,
}

/// A counting event on one thread with an mmap'd ring of sample records.
#[derive(Debug)]
pub struct Event {
    fd: OwnedFd,
    ring: *mut u8,
    ring_len: usize,
    /// Records the kernel dropped because the ring was full.
    pub lost: u64,
    /// Sample records found by the last drain, reused.
    spans: Vec<(u64, usize)>,
}

// SAFETY: the ring is a private mapping owned by this value, read only through &mut self.
unsafe impl Send for Event {}

impl Event {
    /// A software event `config` on thread `tid`, recording a sample every `period` events.
    pub fn software(tid: u32, config: u64, period: u64) -> io::Result<Event> {
        let attr = Attr {
            kind: TYPE_SOFTWARE,
            size: std::mem::size_of::<Attr>() as u32,
            config,
            sample_period: period.max(1),
            sample_type: SAMPLE_TID | SAMPLE_TIME,
            flags: FLAG_DISABLED | FLAG_EXCLUDE_KERNEL | FLAG_EXCLUDE_HV | FLAG_USE_CLOCKID,
            wakeup_events: 1,
            clockid: libc::CLOCK_MONOTONIC,
            ..Attr::default()
        };
        Event::open(&attr, tid, RING_PAGES)
    }

    /// Open the event `attr` on thread `tid` with a ring of `ring_pages` pages (a power of
    /// two) after the header page, and enable it.
    fn open(attr: &Attr, tid: u32, ring_pages: usize) -> io::Result<Event> {
        // SAFETY: a valid attr of the size it declares; the fd returned is ours to own.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_perf_event_open,
                attr as *const Attr,
                tid as libc::pid_t,
                -1 as libc::c_int,
                -1 as libc::c_int,
                FLAG_FD_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: perf_event_open returned a new descriptor.
        let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        let page = page_size();
        let ring_len = page * (1 + ring_pages);
        // SAFETY: mapping the event's ring, as perf_event_open(2) describes; checked below.
        let ring = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                ring_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if ring == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let event = Event {
            fd,
            ring: ring.cast(),
            ring_len,
            lost: 0,
            spans: Vec::new(),
        };
        // SAFETY: an ioctl on our own perf descriptor.
        if unsafe { libc::ioctl(event.fd.as_raw_fd(), IOC_ENABLE, 0) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(event)
    }

    /// Events counted since the event was enabled (one `read`).
    pub fn count(&self) -> io::Result<u64> {
        let mut value = 0u64;
        // SAFETY: reading 8 bytes into a u64 from our own perf descriptor (read_format 0).
        let n = unsafe {
            libc::read(
                self.fd.as_raw_fd(),
                (&mut value as *mut u64).cast(),
                std::mem::size_of::<u64>(),
            )
        };
        if n == 8 {
            Ok(value)
        } else {
            Err(io::Error::last_os_error())
        }
    }

    /// The descriptor, to poll: readable when records are waiting.
    pub fn raw_fd(&self) -> i32 {
        self.fd.as_raw_fd()
    }

    /// Take every sample record waiting in the ring, oldest first, into `out`.
    pub fn drain(&mut self, out: &mut Vec<Sample>) {
        self.drain_records(|record| {
            if record.len() >= 16 {
                out.push(Sample {
                    tid: u32_le(record, 4),
                    time_ns: u64_le(record, 8),
                });
            }
        });
    }

    /// Hand every sample record waiting in the ring, oldest first, to `each` (its bytes after
    /// the 8-byte header, copied out of the ring), and free its space.
    pub(crate) fn drain_records(&mut self, mut each: impl FnMut(&[u8])) {
        let mut spans = std::mem::take(&mut self.spans);
        let tail = self.pending(&mut spans);
        let mut record = Vec::new();
        for &(at, len) in &spans {
            self.copy_body(at, len, &mut record);
            each(&record);
        }
        self.release(tail);
        self.spans = spans;
    }

    /// Free every record waiting, copying only the newest sample record's bytes into `into`
    /// (left empty without one); returns how many sample records there were. For rings of
    /// stack copies, where only the newest is unwound: one copy instead of one per record.
    pub(crate) fn drain_newest(&mut self, into: &mut Vec<u8>) -> usize {
        let mut spans = std::mem::take(&mut self.spans);
        let tail = self.pending(&mut spans);
        into.clear();
        if let Some(&(at, len)) = spans.last() {
            self.copy_body(at, len, into);
        }
        let n = spans.len();
        self.release(tail);
        self.spans = spans;
        n
    }

    fn data_len(&self) -> u64 {
        (self.ring_len - page_size()) as u64
    }

    /// The sample records waiting: (offset of the body in the data area, unwrapped; length),
    /// oldest first; LOST records are counted. Returns the tail after them; nothing is freed
    /// until [`Event::release`] (the kernel may overwrite freed space at once).
    fn pending(&mut self, spans: &mut Vec<(u64, usize)>) -> u64 {
        spans.clear();
        let data_len = self.data_len();
        // SAFETY: the header page is mapped; data_head/data_tail are u64s at fixed offsets
        // (1024, 1032) of `struct perf_event_mmap_page`, which the kernel and we share.
        let (head, mut tail) = unsafe {
            let head = (*(self.ring.add(1024) as *const AtomicU64)).load(Ordering::Acquire);
            fence(Ordering::Acquire);
            (
                head,
                (*(self.ring.add(1032) as *const AtomicU64)).load(Ordering::Relaxed),
            )
        };
        while tail + 8 <= head {
            let kind = self.read_le(tail, 4) as u32;
            let size = self.read_le(tail + 6, 2);
            if size < 8 || tail + size > head || size - 8 > data_len {
                break;
            }
            match kind {
                RECORD_SAMPLE => spans.push((tail + 8, (size - 8) as usize)),
                RECORD_LOST if size >= 24 => self.lost += self.read_le(tail + 16, 8),
                _ => {}
            }
            tail += size;
        }
        tail
    }

    /// `n` (≤ 8) little-endian bytes at unwrapped offset `at` of the data area.
    fn read_le(&self, at: u64, n: usize) -> u64 {
        let data = self.data();
        let len = data.len() as u64;
        (0..n).fold(0u64, |v, i| {
            v | (u64::from(data[((at + i as u64) % len) as usize]) << (8 * i))
        })
    }

    /// Copy `len` bytes at unwrapped offset `at` (in at most two pieces: a record may wrap
    /// around the ring's end) into `out`.
    fn copy_body(&self, at: u64, len: usize, out: &mut Vec<u8>) {
        let data = self.data();
        out.clear();
        let from = (at % data.len() as u64) as usize;
        let first = len.min(data.len() - from);
        out.extend_from_slice(&data[from..from + first]);
        out.extend_from_slice(&data[..len - first]);
    }

    fn data(&self) -> &[u8] {
        // SAFETY: the data area follows the header page, `data_len` bytes, mapped while self
        // lives; the kernel writes only past `data_head`, which we do not read.
        unsafe { std::slice::from_raw_parts(self.ring.add(page_size()), self.data_len() as usize) }
    }

    /// Free the ring up to `tail`.
    fn release(&mut self, tail: u64) {
        fence(Ordering::Release);
        // SAFETY: as in [`Event::pending`].
        unsafe { (*(self.ring.add(1032) as *const AtomicU64)).store(tail, Ordering::Release) };
    }
}

impl Drop for Event {
    fn drop(&mut self) {
        // SAFETY: unmapping our own mapping once; the descriptor closes with `fd`.
        unsafe {
            libc::munmap(self.ring.cast(), self.ring_len);
        }
    }
}

/// The little-endian u32 at `at` of `bytes` (0 past the end).
pub(crate) fn u32_le(bytes: &[u8], at: usize) -> u32 {
    bytes
        .get(at..at + 4)
        .map_or(0, |b| u32::from_le_bytes(b.try_into().unwrap_or_default()))
}

/// The little-endian u64 at `at` of `bytes` (0 past the end).
pub(crate) fn u64_le(bytes: &[u8], at: usize) -> u64 {
    bytes
        .get(at..at + 8)
        .map_or(0, |b| u64::from_le_bytes(b.try_into().unwrap_or_default()))
}

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    (unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).max(4096) as usize
}

#[cfg(test)]
mod tests {
    use super::{Event, Sample, SW_PAGE_FAULTS};

    /// Needs perf events (root here, as the tests run): this thread's own faults are recorded.
    #[test]
    fn records_this_threads_page_faults() {
        let tid = unsafe { libc::gettid() } as u32;
        let mut event = match Event::software(tid, SW_PAGE_FAULTS, 16) {
            Ok(e) => e,
            Err(e) => panic!("perf_event_open refused: {e} (tests run as root)"),
        };
        // 4 MiB of fresh anonymous memory touched page by page: 1024 faults, one record per 16.
        // Mapped here, not allocated: the allocator may hand back heap pages that other tests
        // of this binary already faulted in (then no fault at all).
        let len = 4 << 20;
        // SAFETY: a new private anonymous mapping, written within its length, unmapped below.
        unsafe {
            let p = libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            );
            assert_ne!(p, libc::MAP_FAILED);
            for i in (0..len).step_by(4096) {
                std::ptr::write_volatile(p.cast::<u8>().add(i), 1);
            }
            libc::munmap(p, len);
        }
        let mut out: Vec<Sample> = Vec::new();
        event.drain(&mut out);
        assert!(out.len() >= 40, "{} records for ~1024 faults", out.len());
        assert!(out.iter().all(|s| s.tid == tid));
        assert!(out.windows(2).all(|w| w[0].time_ns <= w[1].time_ns));
        // Drained: nothing twice.
        let mut again = Vec::new();
        event.drain(&mut again);
        assert!(again.len() < 5);
    }
}
