//! The target's memory maps (read by [`crate::proc::maps`]): which file is mapped where, its
//! load bias, and which addresses are readable.
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

pub use crate::proc::MapRegion;

/// A file mapped into the target: the span of all its mappings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappedFile {
    /// The path as the target sees it (in its own mount namespace).
    pub path: PathBuf,
    /// Lowest address of any mapping of the file.
    pub start: u64,
    /// One past the highest address of any mapping of the file.
    pub end: u64,
    /// File offset of the lowest mapping (0 for a normally loaded ELF).
    pub offset: u64,
    /// Start of the mapping at file offset 0: where the ELF header is. The loader maps the
    /// first PT_LOAD there, which is what the load bias is computed from.
    pub base: Option<u64>,
}

impl MappedFile {
    /// The load bias: what to add to a file virtual address (a symbol's `st_value`) to get its
    /// address in the target. `first_load_vaddr` is the first PT_LOAD's `p_vaddr`
    /// ([`super::elf::ElfFile::first_load_vaddr`]); it is rounded down to a page because mmap
    /// only maps whole pages. 0 for a non-PIE executable.
    pub fn load_bias(&self, first_load_vaddr: u64) -> u64 {
        // Without a mapping at offset 0 (unusual: a hand-mapped file), assume the lowest
        // mapping keeps the usual vaddr ≡ offset layout of the linker.
        let base = self
            .base
            .unwrap_or_else(|| self.start.wrapping_sub(self.offset));
        base.wrapping_sub(first_load_vaddr & !(page_size() - 1))
    }
}

/// All memory maps of a process at one moment.
#[derive(Debug, Clone, Default)]
pub struct ProcessMaps {
    /// Sorted by start address (the kernel lists them that way).
    regions: Vec<MapRegion>,
}

impl ProcessMaps {
    /// Read `/proc/PID/maps`.
    pub fn read(pid: i32) -> Result<Self> {
        let regions = crate::proc::maps(pid).map_err(|e| match e.raw_os_error() {
            Some(libc::ENOENT) | Some(libc::ESRCH) => Error::ProcessExited { pid },
            Some(libc::EACCES) | Some(libc::EPERM) => Error::PermissionDenied {
                pid,
                hint: super::permissions::permission_hint(pid),
            },
            _ => Error::Io {
                context: format!("reading /proc/{pid}/maps"),
                source: e,
            },
        })?;
        Ok(Self::from_regions(regions))
    }

    /// Maps from regions already known (tests, snapshots).
    pub fn from_regions(mut regions: Vec<MapRegion>) -> Self {
        regions.sort_by_key(|r| r.start);
        ProcessMaps { regions }
    }

    /// Every region, sorted by address.
    pub fn regions(&self) -> &[MapRegion] {
        &self.regions
    }

    /// The region holding `addr`.
    pub fn find(&self, addr: u64) -> Option<&MapRegion> {
        let i = self.regions.partition_point(|r| r.end <= addr);
        self.regions.get(i).filter(|r| r.contains(addr))
    }

    /// Whether all of `[addr, addr + len)` is mapped readable (possibly across several
    /// contiguous regions). Lets a scan skip holes instead of failing reads one by one.
    pub fn is_readable(&self, addr: u64, len: u64) -> bool {
        let Some(end) = addr.checked_add(len) else {
            return false;
        };
        let mut at = addr;
        loop {
            match self.find(at) {
                Some(r) if r.readable => {
                    if r.end >= end {
                        return true;
                    }
                    at = r.end;
                }
                _ => return len == 0,
            }
        }
    }

    /// The mapped file whose path is exactly `path`.
    pub fn file(&self, path: &Path) -> Option<MappedFile> {
        self.file_where(|p| p == path)
    }

    /// The first mapped file (by address) whose path satisfies `pred`, spanning all its
    /// mappings.
    pub fn file_where(&self, mut pred: impl FnMut(&Path) -> bool) -> Option<MappedFile> {
        let path = self
            .regions
            .iter()
            .filter_map(|r| r.path.as_deref())
            .find(|p| p.is_absolute() && pred(p))?
            .to_path_buf();
        let mine = || {
            self.regions
                .iter()
                .filter(|r| r.path.as_deref() == Some(path.as_path()))
        };
        let first = mine().next()?;
        Some(MappedFile {
            start: first.start,
            end: mine().map(|r| r.end).max().unwrap_or(first.end),
            offset: first.offset,
            base: mine().find(|r| r.offset == 0).map(|r| r.start),
            path,
        })
    }

    /// The mapping of the executable `exe` (from `/proc/PID/exe`).
    pub fn executable(&self, exe: &Path) -> Option<MappedFile> {
        self.file(exe)
    }

    /// The mapped `libpython*.so*`, if the interpreter is linked against a shared libpython.
    pub fn libpython(&self) -> Option<MappedFile> {
        self.file_where(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("libpython") && n.contains(".so"))
        })
    }

    /// The writable ranges belonging to `file`: its `rw` mappings plus the anonymous mapping
    /// right after the last one, which is where the loader puts `.bss` beyond the file's last
    /// page. These are the ranges to scan for `_PyRuntime` or `interp_head` when the binary
    /// has no symbols.
    pub fn writable_ranges(&self, file: &MappedFile) -> Vec<(u64, u64)> {
        let mut out: Vec<(u64, u64)> = Vec::new();
        let mut prev_was_file = false;
        for r in &self.regions {
            let is_file = r.path.as_deref() == Some(file.path.as_path());
            if r.writable && r.readable {
                let bss = prev_was_file && r.path.is_none();
                if is_file || bss {
                    match out.last_mut() {
                        Some(last) if last.1 == r.start => last.1 = r.end,
                        _ => out.push((r.start, r.end)),
                    }
                }
            }
            prev_was_file = is_file;
        }
        out
    }
}

/// The system page size (4 KiB on x86_64, up to 64 KiB on some arm64 kernels).
pub(crate) fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if n > 0 && (n as u64).is_power_of_two() {
        n as u64
    } else {
        4096
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn region(start: u64, end: u64, perms: &str, offset: u64, path: Option<&str>) -> MapRegion {
        MapRegion {
            start,
            end,
            offset,
            readable: perms.contains('r'),
            writable: perms.contains('w'),
            executable: perms.contains('x'),
            path: path.map(PathBuf::from),
        }
    }

    fn sample() -> ProcessMaps {
        let exe = Some("/usr/bin/python3.11");
        let lib = Some("/opt/lib/libpython3.11.so.1.0");
        ProcessMaps::from_regions(vec![
            region(0x400000, 0x401000, "r--p", 0, exe),
            region(0x401000, 0x500000, "r-xp", 0x1000, exe),
            region(0x600000, 0x601000, "rw-p", 0x200000, exe),
            region(0x601000, 0x610000, "rw-p", 0, None),
            region(0x7f00_0000_0000, 0x7f00_0010_0000, "r--p", 0, lib),
            region(0x7f00_0010_0000, 0x7f00_0020_0000, "r-xp", 0x100000, lib),
            region(0x7f00_0030_0000, 0x7f00_0031_0000, "rw-p", 0x300000, lib),
            region(0x7f00_0040_0000, 0x7f00_0041_0000, "---p", 0, None),
        ])
    }

    #[test]
    fn finds_files_and_bias() {
        let m = sample();
        let exe = m.executable(Path::new("/usr/bin/python3.11")).unwrap();
        assert_eq!(
            (exe.start, exe.end, exe.base),
            (0x400000, 0x601000, Some(0x400000))
        );
        assert_eq!(exe.load_bias(0x400000), 0);
        let lib = m.libpython().unwrap();
        assert_eq!(lib.path, Path::new("/opt/lib/libpython3.11.so.1.0"));
        assert_eq!(lib.load_bias(0), 0x7f00_0000_0000);
        // p_vaddr inside a page rounds down.
        assert_eq!(lib.load_bias(0x10), 0x7f00_0000_0000);
        assert!(m.file(Path::new("/nope")).is_none());
    }

    #[test]
    fn readable_ranges_and_holes() {
        let m = sample();
        assert!(m.is_readable(0x400000, 0x1000));
        assert!(m.is_readable(0x400ff8, 16)); // across contiguous regions
        assert!(!m.is_readable(0x600ff8, 0x10000)); // runs into the unmapped hole
        assert!(!m.is_readable(0x7f00_0040_0000, 8)); // mapped but ---p
        assert!(!m.is_readable(0x10, 8));
        assert!(!m.is_readable(u64::MAX - 2, 8));
        assert_eq!(m.find(0x401234).map(|r| r.start), Some(0x401000));
        assert!(m.find(0x500000).is_none());
    }

    #[test]
    fn writable_ranges_include_bss() {
        let m = sample();
        let exe = m.executable(Path::new("/usr/bin/python3.11")).unwrap();
        assert_eq!(m.writable_ranges(&exe), vec![(0x600000, 0x610000)]);
        let lib = m.libpython().unwrap();
        assert_eq!(
            m.writable_ranges(&lib),
            vec![(0x7f00_0030_0000, 0x7f00_0031_0000)]
        );
    }

    #[test]
    fn own_maps() {
        let m = ProcessMaps::read(std::process::id() as i32).unwrap();
        let exe = std::env::current_exe().unwrap();
        let f = m.executable(&exe).unwrap();
        let here = own_maps as *const () as u64;
        assert!(f.start <= here && here < f.end);
        assert!(m.is_readable(here, 8));
    }
}
