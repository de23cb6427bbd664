//! The target's memory, read on the sampler's clock: resident set size on every sample (a
//! kept-open `/proc/PID/statm`, one `pread`), and at a lower rate the breakdown, the system's
//! available memory and the cgroup limit — how far the process is from running out. The /proc
//! files are read through [`crate::proc`]; what they mean for running out is decided here.
use std::path::Path;

use serde::Serialize;

use crate::proc::{MeminfoReader, StatusReader};

mod cgroup;

/// Reads RSS cheaply: the statm file stays open and is re-read from offset 0.
pub use crate::proc::StatmReader as RssReader;
pub use cgroup::CgroupLimit;

/// The slower-changing memory facts, read a few times a second.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct MemoryDetails {
    /// Anonymous resident memory (heap, stacks): what Python objects live in.
    pub rss_anon: u64,
    /// File-backed resident memory (code, mapped files).
    pub rss_file: u64,
    /// Shared-memory resident pages.
    pub rss_shmem: u64,
    /// Swapped-out memory of the process.
    pub swap: u64,
    /// System-wide `MemAvailable`.
    pub mem_available: Option<u64>,
    /// System-wide `MemTotal`.
    pub mem_total: Option<u64>,
    /// The tightest cgroup memory limit over the process, with its usage.
    pub cgroup: Option<CgroupLimit>,
}

impl MemoryDetails {
    /// Bytes the process can still grow before the system or its cgroup runs out: the smaller
    /// of available memory and (cgroup limit − cgroup usage).
    pub fn headroom(&self) -> Option<u64> {
        let cg = self.cgroup.map(|c| c.limit.saturating_sub(c.usage));
        match (self.mem_available, cg) {
            (Some(a), Some(c)) => Some(a.min(c)),
            (a, c) => a.or(c),
        }
    }
}

/// Reads [`MemoryDetails`] of one process through files opened once: `/proc/PID/status`,
/// `/proc/meminfo` and the cgroup limit files found at the start. Re-opening them (and probing
/// every cgroup directory for v1 and v2 names) on each read cost ~24 `open`s, about a
/// microsecond per sample at 1 kHz.
#[derive(Debug)]
pub struct DetailsReader {
    status: StatusReader,
    meminfo: Option<MeminfoReader>,
    cgroups: Vec<cgroup::LimitFiles>,
    buf: Vec<u8>,
}

impl DetailsReader {
    /// For process `pid`; finds its cgroup limits once.
    pub fn open(pid: i32) -> std::io::Result<DetailsReader> {
        let status = StatusReader::open(pid)?;
        let cgroup_dirs =
            cgroup::limit_dirs(&crate::proc::cgroups(pid), Path::new("/sys/fs/cgroup"));
        Ok(DetailsReader {
            status,
            meminfo: MeminfoReader::open().ok(),
            cgroups: cgroup::open_limits(&cgroup_dirs),
            buf: vec![0; 8192],
        })
    }

    /// Read everything now. Parts that cannot be read are left empty.
    pub fn read(&mut self) -> MemoryDetails {
        let mut d = MemoryDetails::default();
        if let Some(m) = self.status.read(&mut self.buf) {
            d.rss_anon = m.rss_anon;
            d.rss_file = m.rss_file;
            d.rss_shmem = m.rss_shmem;
            d.swap = m.swap;
        }
        if let Some(info) = self.meminfo.as_ref().and_then(|f| f.read(&mut self.buf)) {
            d.mem_available = info.available;
            d.mem_total = info.total;
        }
        d.cgroup = cgroup::tightest(&self.cgroups);
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_details() {
        let pid = std::process::id() as i32;
        let mut details = DetailsReader::open(pid).unwrap();
        let d = details.read();
        assert!(d.rss_anon > 0 && d.mem_total.unwrap() > d.mem_available.unwrap());
        assert!(d.headroom().unwrap() <= d.mem_available.unwrap());
        // The kept-open files are read afresh: a 256 MiB block shows. Other tests
        // in this process free memory meanwhile, so one try can miss it; a reader
        // serving stale bytes would miss it every time.
        let mut seen = Vec::new();
        let fresh = (0..5).any(|_| {
            let before = details.read().rss_anon;
            let block = std::hint::black_box(vec![1u8; 256 << 20]);
            let grown = details.read().rss_anon;
            drop(block);
            seen.push((before, grown));
            grown >= before + (200 << 20)
        });
        assert!(fresh, "RssAnon did not follow a 256 MiB block: {seen:?}");
    }

    #[test]
    fn headroom_is_the_tighter_limit() {
        let mut d = MemoryDetails {
            mem_available: Some(10 << 30),
            ..Default::default()
        };
        assert_eq!(d.headroom(), Some(10 << 30));
        d.cgroup = Some(CgroupLimit {
            limit: 4 << 30,
            usage: 3 << 30,
        });
        assert_eq!(d.headroom(), Some(1 << 30));
    }
}
