//! Recorded memory images: record what a live walk read, save it, replay it offline.
//!
//! A [`RecordingReader`] wraps any reader and keeps every byte range that was read
//! successfully. Its [`SnapshotReader`] then answers exactly those reads (and any read inside
//! them) with no process, which gives golden tests for every Python version and benches that do
//! not need a target.
//!
//! File format (all integers little-endian), kept trivial so fixtures stay diffable by size and
//! need no compression crate:
//!
//! ```text
//! "PYPROBE-SNAP1"                       13-byte magic
//! u32 metadata_len, metadata_len bytes  JSON, free-form (python version, symbol addresses…)
//! u64 region_count
//! region_count × { u64 addr, u64 len, len bytes }   sorted by addr, non-overlapping
//! ```
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::{MemoryReader, PAGE};
use crate::error::{Error, Result};

/// First bytes of every snapshot file; the digit is the format version.
const MAGIC: &[u8; 13] = b"PYPROBE-SNAP1";

/// A recorded memory image: sorted, non-overlapping, non-adjacent regions of bytes, plus the
/// metadata the recorder supplied.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SnapshotReader {
    /// Region start → bytes. Invariant: regions neither overlap nor touch, so a read that lies
    /// inside recorded bytes lies inside exactly one region.
    regions: BTreeMap<u64, Vec<u8>>,
    metadata: serde_json::Value,
}

impl SnapshotReader {
    /// An empty image with `null` metadata.
    pub fn new() -> Self {
        Self::default()
    }

    /// The caller-supplied metadata (python version, symbol addresses, …).
    pub fn metadata(&self) -> &serde_json::Value {
        &self.metadata
    }

    /// Replace the metadata.
    pub fn set_metadata(&mut self, metadata: serde_json::Value) {
        self.metadata = metadata;
    }

    /// The recorded regions, sorted by address.
    pub fn regions(&self) -> impl Iterator<Item = (u64, &[u8])> {
        self.regions.iter().map(|(a, b)| (*a, b.as_slice()))
    }

    /// Total recorded bytes.
    pub fn total_bytes(&self) -> usize {
        self.regions.values().map(Vec::len).sum()
    }

    /// Add bytes at `addr`, merging with overlapping or adjacent regions. Where they overlap the
    /// new bytes win: a later read saw the newer value.
    pub fn insert(&mut self, addr: u64, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        // Clamp at the top of the address space rather than overflow.
        let bytes = &bytes[..bytes.len().min((u64::MAX - addr) as usize)];
        let end = addr + bytes.len() as u64;
        // Collect every region that overlaps or touches [addr, end].
        let mut touching: Vec<u64> = Vec::new();
        if let Some((&start, buf)) = self.regions.range(..addr).next_back() {
            if start + buf.len() as u64 >= addr {
                touching.push(start);
            }
        }
        touching.extend(self.regions.range(addr..=end).map(|(&s, _)| s));
        if touching.is_empty() {
            self.regions.insert(addr, bytes.to_vec());
            return;
        }
        let mut new_start = addr;
        let mut new_end = end;
        let mut old = Vec::with_capacity(touching.len());
        for start in touching {
            let buf = self.regions.remove(&start).unwrap_or_default();
            new_start = new_start.min(start);
            new_end = new_end.max(start + buf.len() as u64);
            old.push((start, buf));
        }
        let mut merged = vec![0u8; (new_end - new_start) as usize];
        for (start, buf) in old {
            let off = (start - new_start) as usize;
            merged[off..off + buf.len()].copy_from_slice(&buf);
        }
        let off = (addr - new_start) as usize;
        merged[off..off + bytes.len()].copy_from_slice(bytes);
        self.regions.insert(new_start, merged);
    }

    /// The recorded bytes for `[addr, addr + len)`, if all of them were recorded.
    pub fn get(&self, addr: u64, len: usize) -> Option<&[u8]> {
        let (&start, buf) = self.regions.range(..=addr).next_back()?;
        let off = usize::try_from(addr - start).ok()?;
        buf.get(off..off.checked_add(len)?)
    }

    /// Write the image to `w` in the snapshot format.
    pub fn write_to(&self, mut w: impl Write) -> io::Result<()> {
        let meta = serde_json::to_vec(&self.metadata)?;
        let meta_len = u32::try_from(meta.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "metadata over 4 GiB"))?;
        w.write_all(MAGIC)?;
        w.write_all(&meta_len.to_le_bytes())?;
        w.write_all(&meta)?;
        w.write_all(&(self.regions.len() as u64).to_le_bytes())?;
        for (addr, buf) in &self.regions {
            w.write_all(&addr.to_le_bytes())?;
            w.write_all(&(buf.len() as u64).to_le_bytes())?;
            w.write_all(buf)?;
        }
        w.flush()
    }

    /// Read an image in the snapshot format. `InvalidData` when it is not one.
    pub fn read_from(mut r: impl Read) -> io::Result<Self> {
        let mut magic = [0u8; MAGIC.len()];
        r.read_exact(&mut magic)?;
        if &magic != MAGIC {
            return Err(invalid("not a pyprobe snapshot (bad magic)"));
        }
        let meta_len = read_u32(&mut r)? as usize;
        let meta = read_exact_vec(&mut r, meta_len)?;
        let metadata = serde_json::from_slice(&meta)
            .map_err(|e| invalid(&format!("bad metadata JSON: {e}")))?;
        let count = read_u64(&mut r)?;
        let mut snap = SnapshotReader {
            regions: BTreeMap::new(),
            metadata,
        };
        for _ in 0..count {
            let addr = read_u64(&mut r)?;
            let len = usize::try_from(read_u64(&mut r)?)
                .map_err(|_| invalid("region length does not fit in memory"))?;
            let buf = read_exact_vec(&mut r, len)?;
            // `insert` restores the invariant even if a hand-made file has overlaps.
            snap.insert(addr, &buf);
        }
        let mut rest = [0u8; 1];
        if r.read(&mut rest)? != 0 {
            return Err(invalid("trailing bytes after the last region"));
        }
        Ok(snap)
    }

    /// Save the image to a file.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let io_err = |source| Error::Io {
            context: format!("writing snapshot {}", path.display()),
            source,
        };
        let file = File::create(path).map_err(io_err)?;
        self.write_to(BufWriter::new(file)).map_err(io_err)
    }

    /// Load an image from a file saved by [`SnapshotReader::save`].
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let file = File::open(path).map_err(|source| Error::Io {
            context: format!("opening snapshot {}", path.display()),
            source,
        })?;
        Self::read_from(BufReader::new(file)).map_err(|e| match e.kind() {
            io::ErrorKind::InvalidData | io::ErrorKind::UnexpectedEof => Error::Binary {
                path: PathBuf::from(path),
                detail: format!("corrupt snapshot: {e}"),
            },
            _ => Error::Io {
                context: format!("reading snapshot {}", path.display()),
                source: e,
            },
        })
    }
}

impl MemoryReader for SnapshotReader {
    fn read_into(&self, addr: u64, buf: &mut [u8]) -> Result<()> {
        match self.get(addr, buf.len()) {
            Some(bytes) => {
                buf.copy_from_slice(bytes);
                Ok(())
            }
            None => Err(Error::Read {
                addr,
                len: buf.len(),
                source: io::Error::new(io::ErrorKind::NotFound, "range not in the snapshot"),
            }),
        }
    }

    /// Like a live batch, page by page: a region every page of which holds recorded bytes was
    /// readable in the process, so it reads here too, unrecorded bytes as zero. The prefetch
    /// merges neighbouring reads into such regions and hands out only the recorded parts.
    fn read_batch_prefix(&self, requests: &mut [(u64, &mut [u8])]) -> usize {
        let mut whole = 0;
        for (addr, buf) in requests.iter_mut() {
            if self.read_into(*addr, buf).is_err() && !self.read_paged(*addr, buf) {
                break;
            }
            whole += 1;
        }
        whole
    }
}

impl SnapshotReader {
    /// Fill `buf` from every recorded byte in it, zero elsewhere, if each page it spans holds
    /// some recorded byte; false (and `buf` unspecified) otherwise.
    fn read_paged(&self, addr: u64, buf: &mut [u8]) -> bool {
        let Some(end) = addr.checked_add(buf.len() as u64) else {
            return false;
        };
        if buf.is_empty() {
            return true;
        }
        buf.fill(0);
        let first = self
            .regions
            .range(..=addr)
            .next_back()
            .map_or(addr, |(&start, _)| start);
        // The next page that still needs a recorded byte.
        let mut need = addr / PAGE;
        for (&start, bytes) in self.regions.range(first..end) {
            let (lo, hi) = (start.max(addr), (start + bytes.len() as u64).min(end));
            if lo >= hi {
                continue;
            }
            if lo / PAGE > need {
                return false;
            }
            buf[(lo - addr) as usize..(hi - addr) as usize]
                .copy_from_slice(&bytes[(lo - start) as usize..(hi - start) as usize]);
            need = need.max((hi - 1) / PAGE + 1);
        }
        need > (end - 1) / PAGE
    }
}

fn invalid(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_string())
}

fn read_u32(r: &mut impl Read) -> io::Result<u32> {
    let mut b = [0u8; 4];
    r.read_exact(&mut b)?;
    Ok(u32::from_le_bytes(b))
}

fn read_u64(r: &mut impl Read) -> io::Result<u64> {
    let mut b = [0u8; 8];
    r.read_exact(&mut b)?;
    Ok(u64::from_le_bytes(b))
}

/// Read exactly `len` bytes without trusting `len` for the allocation: a corrupt length must
/// end in `UnexpectedEof`, not in an attempt to allocate exabytes.
fn read_exact_vec(r: &mut impl Read, len: usize) -> io::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(len.min(1 << 20));
    let got = r.take(len as u64).read_to_end(&mut buf)?;
    if got != len {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("region truncated: {got} of {len} bytes"),
        ));
    }
    Ok(buf)
}

/// Wraps a reader and records every successful read into a [`SnapshotReader`].
#[derive(Debug)]
pub struct RecordingReader<R> {
    inner: R,
    // A Mutex, not a RefCell: MemoryReader takes &self and the recorder may be shared with a
    // sampler thread. Recording is for fixtures, so the lock's cost does not matter.
    recorded: Mutex<SnapshotReader>,
}

impl<R: MemoryReader> RecordingReader<R> {
    /// Start recording reads made through `inner`.
    pub fn new(inner: R) -> Self {
        RecordingReader {
            inner,
            recorded: Mutex::new(SnapshotReader::new()),
        }
    }

    /// The wrapped reader.
    pub fn inner(&self) -> &R {
        &self.inner
    }

    /// A copy of what has been recorded so far.
    pub fn snapshot(&self) -> SnapshotReader {
        self.lock().clone()
    }

    /// Stop recording and return the image.
    pub fn into_snapshot(self) -> SnapshotReader {
        self.recorded
            .into_inner()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SnapshotReader> {
        // A panic elsewhere while holding the lock leaves a usable image: every insert is
        // complete before the guard is released.
        self.recorded
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl<R: MemoryReader> MemoryReader for RecordingReader<R> {
    fn read_into(&self, addr: u64, buf: &mut [u8]) -> Result<()> {
        self.inner.read_into(addr, buf)?;
        self.lock().insert(addr, buf);
        Ok(())
    }

    fn read_batch(&self, requests: &mut [(u64, &mut [u8])]) -> Result<()> {
        // A failed batch records nothing, so the replay fails the same batch too.
        self.inner.read_batch(requests)?;
        let mut rec = self.lock();
        for (addr, buf) in requests.iter() {
            rec.insert(*addr, buf);
        }
        Ok(())
    }

    fn read_batch_prefix(&self, requests: &mut [(u64, &mut [u8])]) -> usize {
        let whole = self.inner.read_batch_prefix(requests);
        let mut rec = self.lock();
        for (addr, buf) in requests[..whole].iter() {
            rec.insert(*addr, buf);
        }
        whole
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::ReadExt;

    /// A fake address space: `base..base + data.len()` holds `data`.
    struct VecReader {
        base: u64,
        data: Vec<u8>,
    }

    impl MemoryReader for VecReader {
        fn read_into(&self, addr: u64, buf: &mut [u8]) -> Result<()> {
            let off = addr.checked_sub(self.base).map(|o| o as usize);
            match off.and_then(|o| self.data.get(o..o + buf.len())) {
                Some(b) => {
                    buf.copy_from_slice(b);
                    Ok(())
                }
                None => Err(Error::Read {
                    addr,
                    len: buf.len(),
                    source: io::Error::from_raw_os_error(libc::EFAULT),
                }),
            }
        }
    }

    fn fake() -> VecReader {
        VecReader {
            base: 0x1000,
            data: (0..4096u32).map(|i| (i * 7) as u8).collect(),
        }
    }

    #[test]
    fn record_save_load_replay() {
        let rec = RecordingReader::new(fake());
        let a = rec.read_u64(0x1010).unwrap();
        let b = rec.read_vec(0x1100, 32).unwrap();
        let (mut x, mut y) = ([0u8; 4], [0u8; 16]);
        rec.read_batch(&mut [(0x1800, &mut x[..]), (0x1018, &mut y[..])])
            .unwrap();
        assert!(rec.read_u64(0x9000).is_err());

        let mut snap = rec.into_snapshot();
        snap.set_metadata(serde_json::json!({"python": "3.11.7", "_PyRuntime": 0x1234}));
        // 0x1010..0x1018 and 0x1018..0x1028 are adjacent: one region.
        let regions: Vec<(u64, usize)> = snap.regions().map(|(a, b)| (a, b.len())).collect();
        assert_eq!(regions, vec![(0x1010, 24), (0x1100, 32), (0x1800, 4)]);

        let file = tempfile::NamedTempFile::new().unwrap();
        snap.save(file.path()).unwrap();
        let loaded = SnapshotReader::load(file.path()).unwrap();
        assert_eq!(loaded, snap);
        assert_eq!(loaded.metadata()["python"], "3.11.7");

        assert_eq!(loaded.read_u64(0x1010).unwrap(), a);
        assert_eq!(loaded.read_vec(0x1100, 32).unwrap(), b);
        // Any read inside recorded bytes works, including across merged reads.
        assert_eq!(
            loaded.read_vec(0x1014, 8).unwrap(),
            fake().read_vec(0x1014, 8).unwrap()
        );
        let (mut x2, mut y2) = ([0u8; 4], [0u8; 16]);
        loaded
            .read_batch(&mut [(0x1800, &mut x2[..]), (0x1018, &mut y2[..])])
            .unwrap();
        assert_eq!((x2, y2), (x, y));
    }

    #[test]
    fn reads_outside_recorded_fail() {
        let mut snap = SnapshotReader::new();
        snap.insert(0x100, &[1, 2, 3, 4]);
        for (addr, len) in [(0xfc, 4), (0xff, 2), (0x103, 2), (0x104, 1), (0, 1)] {
            match snap.read_vec(addr, len) {
                Err(Error::Read { source, .. }) => {
                    assert_eq!(source.kind(), io::ErrorKind::NotFound)
                }
                other => panic!("{addr:#x}+{len}: {other:?}"),
            }
        }
        assert_eq!(snap.read_vec(0x101, 3).unwrap(), vec![2, 3, 4]);
        assert!(snap.read_vec(u64::MAX, 2).is_err());
    }

    #[test]
    fn insert_merges_and_overwrites() {
        let mut s = SnapshotReader::new();
        s.insert(10, &[1; 4]);
        s.insert(20, &[2; 4]);
        s.insert(30, &[3; 4]);
        // Bridges the first two regions and overwrites part of the first.
        s.insert(12, &[9; 8]);
        let r: Vec<(u64, Vec<u8>)> = s.regions().map(|(a, b)| (a, b.to_vec())).collect();
        assert_eq!(
            r,
            vec![
                (10, vec![1, 1, 9, 9, 9, 9, 9, 9, 9, 9, 2, 2, 2, 2]),
                (30, vec![3; 4])
            ]
        );
        s.insert(0, &[0; 40]);
        assert_eq!(s.regions().count(), 1);
        assert_eq!(s.total_bytes(), 40);
        s.insert(u64::MAX - 1, &[5; 8]);
        assert_eq!(s.get(u64::MAX - 1, 1), Some(&[5u8][..]));
    }

    #[test]
    fn corrupt_files_are_errors() {
        let mut snap = SnapshotReader::new();
        snap.insert(0x10, &[1, 2, 3]);
        let mut good = Vec::new();
        snap.write_to(&mut good).unwrap();
        assert_eq!(SnapshotReader::read_from(&good[..]).unwrap(), snap);

        // Every truncation fails cleanly.
        for n in 0..good.len() {
            assert!(SnapshotReader::read_from(&good[..n]).is_err(), "len {n}");
        }
        let mut bad_magic = good.clone();
        bad_magic[0] = b'X';
        assert!(SnapshotReader::read_from(&bad_magic[..]).is_err());
        let mut trailing = good.clone();
        trailing.push(0);
        assert!(SnapshotReader::read_from(&trailing[..]).is_err());
        // A huge region length must not allocate it.
        let mut huge = good.clone();
        let len_at = good.len() - 3 - 8;
        huge[len_at..len_at + 8].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(SnapshotReader::read_from(&huge[..]).is_err());

        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), b"garbage").unwrap();
        assert!(matches!(
            SnapshotReader::load(file.path()),
            Err(Error::Binary { .. })
        ));
    }

    #[test]
    fn batches_read_by_page_like_a_live_process() {
        let mut snap = SnapshotReader::new();
        snap.insert(0x1010, &[1u8; 16]);
        snap.insert(0x1f00, &[2u8; 16]);
        snap.insert(0x2100, &[3u8; 16]);
        snap.insert(0x4000, &[4u8; 16]);
        let mut a = [9u8; 0x1200];
        let mut b = [9u8; 0x3010];
        let mut c = [9u8; 8];
        let n = snap.read_batch_prefix(&mut [(0x1000, &mut a), (0x1000, &mut b), (0x4000, &mut c)]);
        assert_eq!(
            n, 1,
            "pages 0x1000 and 0x2000 were touched, 0x3000 never was"
        );
        assert_eq!(
            (a[0], a[0x10], a[0xf00], a[0x1100], a[0x1110]),
            (0, 1, 2, 3, 0)
        );
        assert!(
            snap.read_into(0x1000, &mut [0u8; 0x20]).is_err(),
            "plain reads stay exact"
        );
    }
}
