//! `/proc/PID/maps`, read through the proc-maps crate into typed lines.
use std::path::PathBuf;

use super::parse::strip_deleted;

/// One line of `/proc/PID/maps`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapRegion {
    /// First address.
    pub start: u64,
    /// One past the last address.
    pub end: u64,
    /// Offset in the mapped file (0 for anonymous memory).
    pub offset: u64,
    /// `r` permission.
    pub readable: bool,
    /// `w` permission.
    pub writable: bool,
    /// `x` permission.
    pub executable: bool,
    /// The mapped file or pseudo-file (`[heap]`, `[stack]`), `None` for anonymous memory.
    /// A trailing ` (deleted)` is removed (the file was replaced on disk after it was mapped).
    pub path: Option<PathBuf>,
}

impl MapRegion {
    /// Whether `addr` lies in this region.
    pub fn contains(&self, addr: u64) -> bool {
        self.start <= addr && addr < self.end
    }

    /// Size in bytes.
    pub fn size(&self) -> u64 {
        self.end - self.start
    }
}

/// Every line of `/proc/PID/maps`, in the kernel's order (by address). The error is the
/// read's own (`ENOENT`/`ESRCH`: gone, `EACCES`/`EPERM`: not ours to read).
pub fn maps(pid: i32) -> std::io::Result<Vec<MapRegion>> {
    let ranges = proc_maps::get_process_maps(pid)?;
    Ok(ranges
        .iter()
        .map(|m| MapRegion {
            start: m.start() as u64,
            end: (m.start() + m.size()) as u64,
            offset: m.offset as u64,
            readable: m.is_read(),
            writable: m.is_write(),
            executable: m.is_exec(),
            path: m.filename().map(|p| strip_deleted(p.to_path_buf())),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_maps_hold_this_code_and_the_stack() {
        let regions = maps(std::process::id() as i32).unwrap();
        let here = own_maps_hold_this_code_and_the_stack as *const () as u64;
        let code = regions.iter().find(|r| r.contains(here)).unwrap();
        assert!(code.readable && code.executable && !code.writable);
        assert_eq!(code.path, std::env::current_exe().ok());
        assert!(regions
            .iter()
            .any(|r| r.path.as_deref() == Some("[stack]".as_ref()) && r.writable));
        assert!(regions.windows(2).all(|w| w[0].end <= w[1].start));
        assert!(matches!(
            maps(i32::MAX - 1).map_err(|e| e.kind()),
            Err(std::io::ErrorKind::NotFound)
        ));
    }
}
