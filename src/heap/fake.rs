//! Sparse fake memory for the heap census's unit tests: pages exist once written to.
use std::collections::HashMap;

use crate::error::{Error, Result};
use crate::process::MemoryReader;

const PAGE: u64 = 4096;

/// Written pages, by page number; reading any byte of an unwritten page fails.
#[derive(Default)]
pub(crate) struct FakeMemory {
    pages: HashMap<u64, Box<[u8; PAGE as usize]>>,
}

impl FakeMemory {
    pub(crate) fn put(&mut self, addr: u64, bytes: &[u8]) {
        for (i, &b) in bytes.iter().enumerate() {
            let at = addr + i as u64;
            let page = self
                .pages
                .entry(at / PAGE)
                .or_insert_with(|| Box::new([0u8; PAGE as usize]));
            page[(at % PAGE) as usize] = b;
        }
    }

    pub(crate) fn put_u64(&mut self, addr: u64, value: u64) {
        self.put(addr, &value.to_le_bytes());
    }
}

impl MemoryReader for FakeMemory {
    fn read_into(&self, addr: u64, buf: &mut [u8]) -> Result<()> {
        let len = buf.len();
        for (i, byte) in buf.iter_mut().enumerate() {
            let at = addr.wrapping_add(i as u64);
            let page = self.pages.get(&(at / PAGE)).ok_or_else(|| Error::Read {
                addr,
                len,
                source: std::io::Error::from_raw_os_error(libc::EFAULT),
            })?;
            *byte = page[(at % PAGE) as usize];
        }
        Ok(())
    }
}
