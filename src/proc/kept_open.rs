//! /proc files read on the sampler's clock: opened once, re-read from offset 0 with one `pread`
//! (the kernel regenerates a proc file's text on every read at offset 0), into buffers the
//! caller keeps. Re-opening them on each read cost an `open` and a `close` per file, about a
//! microsecond per sample at 1 kHz.
use std::fs::File;
use std::os::unix::fs::FileExt;

use super::parse::{fault_count, kib_field, statm_resident};

/// The start of a kept-open proc (or cgroup) file, read afresh; `None` if it cannot be read.
pub(crate) fn read_start<'a>(file: &File, buf: &'a mut [u8]) -> Option<&'a [u8]> {
    let n = file.read_at(buf, 0).ok()?;
    buf.get(..n)
}

/// Resident set size through a kept-open `/proc/PID/statm`: one `pread` per reading.
#[derive(Debug)]
pub struct StatmReader {
    statm: File,
    page_size: u64,
    buf: [u8; 128],
}

impl StatmReader {
    /// Open `/proc/PID/statm`.
    pub fn open(pid: i32) -> std::io::Result<StatmReader> {
        // SAFETY: sysconf has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        Ok(StatmReader {
            statm: File::open(super::pid_path(pid, "statm"))?,
            page_size: if page > 0 { page as u64 } else { 4096 },
            buf: [0; 128],
        })
    }

    /// Resident set size in bytes (statm's second field × page size).
    pub fn rss_bytes(&mut self) -> std::io::Result<u64> {
        let n = self.statm.read_at(&mut self.buf, 0)?;
        statm_resident(&self.buf[..n])
            .map(|pages| pages * self.page_size)
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidData, "unreadable statm"))
    }
}

/// One thread's page faults so far through its kept-open `/proc/TID/task/TID/stat` (the
/// thread's own counts; `/proc/TID/stat` would sum the whole process).
#[derive(Debug)]
pub struct ThreadFaultsReader(File);

impl ThreadFaultsReader {
    /// Open thread `tid`'s `stat` (any thread of any process: /proc resolves the tid).
    pub fn open(tid: u32) -> std::io::Result<ThreadFaultsReader> {
        File::open(format!("/proc/{tid}/task/{tid}/stat")).map(ThreadFaultsReader)
    }

    /// Minor plus major faults so far; `None` once the thread has gone.
    pub fn faults(&self) -> Option<u64> {
        let mut buf = [0u8; 1024];
        fault_count(read_start(&self.0, &mut buf)?)
    }
}

/// The memory lines of `/proc/PID/status`, in bytes; a line the kernel does not write is 0.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatusMemory {
    /// `RssAnon`.
    pub rss_anon: u64,
    /// `RssFile`.
    pub rss_file: u64,
    /// `RssShmem`.
    pub rss_shmem: u64,
    /// `VmSwap`.
    pub swap: u64,
}

impl StatusMemory {
    /// From the text of a status file.
    pub(crate) fn parse(status: &[u8]) -> StatusMemory {
        let bytes = |key| kib_field(status, key).unwrap_or(0) * 1024;
        StatusMemory {
            rss_anon: bytes("RssAnon:"),
            rss_file: bytes("RssFile:"),
            rss_shmem: bytes("RssShmem:"),
            swap: bytes("VmSwap:"),
        }
    }
}

/// A kept-open `/proc/PID/status`, for its memory lines.
#[derive(Debug)]
pub struct StatusReader(File);

impl StatusReader {
    /// Open `/proc/PID/status`.
    pub fn open(pid: i32) -> std::io::Result<StatusReader> {
        File::open(super::pid_path(pid, "status")).map(StatusReader)
    }

    /// The memory lines now; `None` if the file cannot be read (the process is gone).
    pub fn read(&self, buf: &mut [u8]) -> Option<StatusMemory> {
        read_start(&self.0, buf).map(StatusMemory::parse)
    }
}

/// System memory from `/proc/meminfo`, in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Meminfo {
    /// `MemTotal`.
    pub total: Option<u64>,
    /// `MemAvailable`: what can be allocated without swapping.
    pub available: Option<u64>,
}

impl Meminfo {
    /// From the text of `/proc/meminfo`.
    pub(crate) fn parse(text: &[u8]) -> Meminfo {
        let bytes = |key| kib_field(text, key).map(|k| k * 1024);
        Meminfo {
            total: bytes("MemTotal:"),
            available: bytes("MemAvailable:"),
        }
    }
}

/// A kept-open `/proc/meminfo`.
#[derive(Debug)]
pub struct MeminfoReader(File);

impl MeminfoReader {
    /// Open `/proc/meminfo`.
    pub fn open() -> std::io::Result<MeminfoReader> {
        File::open(super::system_path("meminfo")).map(MeminfoReader)
    }

    /// The system's memory now; `None` if the file cannot be read.
    pub fn read(&self, buf: &mut [u8]) -> Option<Meminfo> {
        read_start(&self.0, buf).map(Meminfo::parse)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_rss_status_and_meminfo_afresh() {
        let pid = std::process::id() as i32;
        let mut rss = StatmReader::open(pid).unwrap();
        let before = rss.rss_bytes().unwrap();
        assert!(
            before > 1 << 20,
            "a test process has at least 1 MiB resident: {before}"
        );
        let (status, meminfo) = (
            StatusReader::open(pid).unwrap(),
            MeminfoReader::open().unwrap(),
        );
        let mut buf = vec![0; 8192];
        // Other tests in this process allocate and free at the same time, so one
        // reading can miss our block by their churn (seen: 100 MiB freed beside a
        // 64 MiB block). A big block and a few tries keep the check about caching:
        // a reader that served stale bytes would fail every try.
        let mut seen = Vec::new();
        let fresh = (0..5).any(|_| {
            let (before, anon) = (
                rss.rss_bytes().unwrap(),
                status.read(&mut buf).unwrap().rss_anon,
            );
            let block = std::hint::black_box(vec![1u8; 256 << 20]);
            let (after, grown) = (
                rss.rss_bytes().unwrap(),
                status.read(&mut buf).unwrap().rss_anon,
            );
            drop(block);
            seen.push((before, after, anon, grown));
            after >= before + (200 << 20) && grown >= anon + (200 << 20)
        });
        assert!(
            fresh,
            "statm and status did not follow a 256 MiB block: {seen:?}"
        );
        let m = meminfo.read(&mut buf).unwrap();
        assert!(m.total.unwrap() > m.available.unwrap());
    }

    #[test]
    fn memory_lines() {
        let status = b"Name:\tpython3\nRssAnon:\t    7040 kB\nRssFile:\t  10 kB\nVmSwap:\t 0 kB\n";
        assert_eq!(
            StatusMemory::parse(status),
            StatusMemory {
                rss_anon: 7040 << 10,
                rss_file: 10 << 10,
                rss_shmem: 0,
                swap: 0
            }
        );
        let text = b"MemTotal:       32768000 kB\nMemFree:  100 kB\nMemAvailable:   16384000 kB\n";
        assert_eq!(
            Meminfo::parse(text),
            Meminfo {
                total: Some(32768000 * 1024),
                available: Some(16384000 * 1024)
            }
        );
        assert_eq!(Meminfo::parse(b""), Meminfo::default());
    }
}
