//! A binary's bytes, mapped rather than read: libpython is ~25 MB and discovery touches only its
//! headers, symbol tables and `.rodata`, so mapping it keeps attach fast and pyprobe's peak
//! memory small (reading it whole cost ~10 ms and 25 MB of RSS on every attach).
use std::fs::File;
use std::ops::Deref;
use std::os::fd::AsRawFd;
use std::path::Path;

/// Bytes of a file: a read-only private mapping, or an owned buffer (tests, tiny files).
pub enum FileBytes {
    /// `mmap` of the whole file.
    Mapped {
        /// Start of the mapping.
        ptr: *const u8,
        /// Length of the file (and of the mapping).
        len: usize,
    },
    /// Bytes held in memory.
    Owned(Vec<u8>),
}

// SAFETY: the mapping is read-only and private, never written through, and unmapped only on
// drop, so sharing or sending it is as safe as sharing a `&[u8]`.
unsafe impl Send for FileBytes {}
// SAFETY: see `Send`.
unsafe impl Sync for FileBytes {}

impl FileBytes {
    /// Map the file at `path` (falls back to reading it when it cannot be mapped, e.g. empty).
    pub fn open(path: &Path) -> std::io::Result<FileBytes> {
        let file = File::open(path)?;
        let len = usize::try_from(file.metadata()?.len()).map_err(std::io::Error::other)?;
        if len == 0 {
            return Ok(FileBytes::Owned(Vec::new()));
        }
        // SAFETY: a fresh read-only private mapping of an open file; checked for MAP_FAILED.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_PRIVATE,
                file.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return std::fs::read(path).map(FileBytes::Owned);
        }
        Ok(FileBytes::Mapped {
            ptr: ptr as *const u8,
            len,
        })
    }
}

impl Deref for FileBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            // SAFETY: `ptr` maps `len` readable bytes until drop.
            FileBytes::Mapped { ptr, len } => unsafe { std::slice::from_raw_parts(*ptr, *len) },
            FileBytes::Owned(v) => v,
        }
    }
}

impl Drop for FileBytes {
    fn drop(&mut self) {
        if let FileBytes::Mapped { ptr, len } = *self {
            // SAFETY: unmapping exactly what `open` mapped, once.
            unsafe {
                libc::munmap(ptr as *mut libc::c_void, len);
            }
        }
    }
}

impl std::fmt::Debug for FileBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FileBytes({} bytes)", self.len())
    }
}

impl Clone for FileBytes {
    fn clone(&self) -> Self {
        FileBytes::Owned(self.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_a_file_and_reads_the_same_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.bin");
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        let mapped = FileBytes::open(&path).unwrap();
        assert!(matches!(mapped, FileBytes::Mapped { .. }));
        assert_eq!(&mapped[..], &data[..]);
        std::fs::write(dir.path().join("empty"), b"").unwrap();
        assert!(FileBytes::open(&dir.path().join("empty"))
            .unwrap()
            .is_empty());
        assert!(FileBytes::open(&dir.path().join("missing")).is_err());
    }
}
