//! The target process: attaching, memory maps, ELF symbols, and reading its memory.
//!
//! Everything that walks Python stacks reads memory only through [`MemoryReader`], so the same
//! walker runs against a live process ([`LiveReader`]) or a recorded snapshot ([`SnapshotReader`]).
use crate::error::{Error, Result};

mod blocked;
pub mod elf;
mod elf_symbols;
pub mod file_bytes;
pub mod launched;
pub mod live;
pub mod maps;
pub mod permissions;
pub mod prefetch;
pub mod ptrace_stop;
pub mod snapshot;
pub mod target;
pub mod thread_states;

/// The kept-open task `stat` files live with the other /proc readers.
pub use crate::proc::ThreadStates;
pub use elf::{ElfFile, Section, Symbol};
pub use launched::{EndSignal, Ending, Launched};
pub use live::LiveReader;
pub use maps::{MapRegion, MappedFile, ProcessMaps};
pub use permissions::permission_hint;
pub use prefetch::Prefetching;
pub use snapshot::{RecordingReader, SnapshotReader};
pub use target::{PauseGuard, Target};
pub use thread_states::StateCache;

/// The page size of the targets (x86_64): memory is mapped, and readable, page by page.
pub(crate) const PAGE: u64 = 4096;

/// Reads bytes of another address space.
pub trait MemoryReader {
    /// Fill `buf` with the bytes at `addr`. A short or failed read is an error.
    fn read_into(&self, addr: u64, buf: &mut [u8]) -> Result<()>;

    /// Read several regions at once. Live readers override this with one vectored syscall.
    fn read_batch(&self, requests: &mut [(u64, &mut [u8])]) -> Result<()> {
        for (addr, buf) in requests.iter_mut() {
            self.read_into(*addr, buf)?;
        }
        Ok(())
    }

    /// Read the requests in order until one fails; return how many leading requests were read
    /// whole. A speculative batch (see [`prefetch`]) uses this: one bad guess must not lose
    /// the rest. Live readers override it with one vectored syscall.
    fn read_batch_prefix(&self, requests: &mut [(u64, &mut [u8])]) -> usize {
        let mut whole = 0;
        for (addr, buf) in requests.iter_mut() {
            if self.read_into(*addr, buf).is_err() {
                break;
            }
            whole += 1;
        }
        whole
    }
}

impl<T: MemoryReader + ?Sized> MemoryReader for &T {
    fn read_into(&self, addr: u64, buf: &mut [u8]) -> Result<()> {
        (**self).read_into(addr, buf)
    }
    fn read_batch(&self, requests: &mut [(u64, &mut [u8])]) -> Result<()> {
        (**self).read_batch(requests)
    }
    fn read_batch_prefix(&self, requests: &mut [(u64, &mut [u8])]) -> usize {
        (**self).read_batch_prefix(requests)
    }
}

/// Typed reads on top of [`MemoryReader`] (little-endian x86_64).
pub trait ReadExt: MemoryReader {
    /// Read `len` bytes into a new vector.
    fn read_vec(&self, addr: u64, len: usize) -> Result<Vec<u8>> {
        let mut v = vec![0u8; len];
        self.read_into(addr, &mut v)?;
        Ok(v)
    }
    /// Read a u64 (a pointer or a Py_ssize_t).
    fn read_u64(&self, addr: u64) -> Result<u64> {
        let mut b = [0u8; 8];
        self.read_into(addr, &mut b)?;
        Ok(u64::from_le_bytes(b))
    }
    /// Read an i32 (a C `int`).
    fn read_i32(&self, addr: u64) -> Result<i32> {
        let mut b = [0u8; 4];
        self.read_into(addr, &mut b)?;
        Ok(i32::from_le_bytes(b))
    }
    /// Read a u32.
    fn read_u32(&self, addr: u64) -> Result<u32> {
        let mut b = [0u8; 4];
        self.read_into(addr, &mut b)?;
        Ok(u32::from_le_bytes(b))
    }
    /// Read one byte.
    fn read_u8(&self, addr: u64) -> Result<u8> {
        let mut b = [0u8; 1];
        self.read_into(addr, &mut b)?;
        Ok(b[0])
    }
}

impl<T: MemoryReader + ?Sized> ReadExt for T {}

/// Little-endian field access in a buffer already read from the target.
pub(crate) fn u64_at(buf: &[u8], offset: i64) -> Result<u64> {
    let start = usize::try_from(offset).map_err(|_| Error::invalid("negative offset"))?;
    buf.get(start..start + 8)
        .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
        .ok_or_else(|| Error::invalid(format!("offset {offset} outside a {}-byte read", buf.len())))
}

/// Little-endian `int` access in a buffer already read from the target.
pub(crate) fn i32_at(buf: &[u8], offset: i64) -> Result<i32> {
    let start = usize::try_from(offset).map_err(|_| Error::invalid("negative offset"))?;
    buf.get(start..start + 4)
        .map(|b| i32::from_le_bytes(b.try_into().expect("4 bytes")))
        .ok_or_else(|| Error::invalid(format!("offset {offset} outside a {}-byte read", buf.len())))
}
