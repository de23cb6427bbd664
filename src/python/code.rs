//! Code objects → (function name, file name, line table), cached by address.
//!
//! Code objects are immutable, so their strings and line table are read once. An address can be
//! reused after a code object dies, so each sample re-reads the *head* of every code object it
//! uses (one vectored read for all of them) and compares the pointers the cache was built from.
use crate::name::Name;
use std::collections::HashMap;
use std::sync::Arc;

use python_versions::Layout;

use crate::fast_hash::FastMap;

use super::linetable::{line_for, LineTableFormat};
use super::objects::{Objects, MAX_BYTES};
use crate::error::{Error, Result};
use crate::process::{i32_at, u64_at, MemoryReader};

/// Most code objects kept; beyond it the cache is cleared (programs that exec() endlessly).
const MAX_CACHED: usize = 100_000;

/// What a sample needs of one code object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CodeInfo {
    /// Function name (`co_qualname` on 3.11+, `co_name` before).
    pub(crate) name: Name,
    /// `co_filename`.
    pub(crate) filename: Name,
    /// `co_firstlineno`.
    pub(crate) first_line: i32,
    /// The raw line table.
    pub(crate) line_table: Vec<u8>,
    /// The head fields the entry was built from: a mismatch means the address was reused.
    fingerprint: Fingerprint,
}

/// Pointers and numbers that identify a code object's contents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Fingerprint {
    ob_type: u64,
    name: u64,
    filename: u64,
    linetable: u64,
    first_line: i32,
}

/// Code objects resolved for one sample: looked up by address without cloning an `Arc` per
/// frame (a 100-frame stack would otherwise take 200 atomic reference-count changes).
#[derive(Debug)]
pub(crate) struct Resolved {
    /// Sorted, unique.
    addrs: Vec<u64>,
    /// Parallel to `addrs`; `None` for an address that is not a code object.
    infos: Vec<Option<Arc<CodeInfo>>>,
}

impl Resolved {
    /// The code object at `addr`, if it is one.
    pub(crate) fn get(&self, addr: u64) -> Option<&Arc<CodeInfo>> {
        let i = self.addrs.binary_search(&addr).ok()?;
        self.infos[i].as_ref()
    }
}

/// Cache of decoded code objects of one interpreter.
#[derive(Debug)]
pub(crate) struct CodeCache {
    entries: HashMap<u64, Arc<CodeInfo>>,
    /// Type objects known to be (or not to be) `code`.
    code_types: HashMap<u64, bool>,
    format: LineTableFormat,
    /// Bytes of a code object's head that hold every field we fingerprint.
    head_len: usize,
    /// (code info pointer, bytecode offset) → line: decoding a line table on every sample is
    /// the walk's largest CPU cost otherwise. Cleared whenever an entry is replaced, so a
    /// pointer is never reused for another code object while its lines are here.
    lines: FastMap<(usize, u64), u32>,
    hits: u64,
    misses: u64,
    /// Lists of the last sample, reused by the next (fewer allocations per sample).
    spare_addrs: Vec<u64>,
    spare_infos: Vec<Option<Arc<CodeInfo>>>,
    heads: Vec<u8>,
}

impl CodeCache {
    pub(crate) fn new(layout: &Layout) -> Self {
        let fields = [
            layout.ob_type,
            layout.code_name,
            layout.code_qualname,
            layout.code_filename,
            layout.code_linetable,
            layout.code_firstlineno,
        ];
        let head_len = fields
            .iter()
            .filter(|&&f| Layout::has(f))
            .max()
            .copied()
            .unwrap_or(0) as usize
            + 8;
        CodeCache {
            entries: HashMap::new(),
            code_types: HashMap::new(),
            format: LineTableFormat::for_version(layout.version.0, layout.version.1),
            head_len,
            lines: FastMap::default(),
            hits: 0,
            misses: 0,
            spare_addrs: Vec::new(),
            spare_infos: Vec::new(),
            heads: Vec::new(),
        }
    }

    /// (hits, misses) so far, for diagnostics and benches.
    pub(crate) fn stats(&self) -> (u64, u64) {
        (self.hits, self.misses)
    }

    /// Resolve many code objects at once: one vectored read of their heads, then the strings of
    /// the ones not cached (or whose head changed). Look each address up in the result.
    pub(crate) fn resolve<R: MemoryReader>(
        &mut self,
        r: &R,
        layout: &Layout,
        addrs: &[u64],
    ) -> Result<Resolved> {
        let mut unique = std::mem::take(&mut self.spare_addrs);
        unique.clear();
        unique.extend_from_slice(addrs);
        unique.sort_unstable();
        unique.dedup();
        let mut heads = std::mem::take(&mut self.heads);
        heads.clear();
        heads.resize(unique.len() * self.head_len, 0);
        {
            let mut requests: Vec<(u64, &mut [u8])> = unique
                .iter()
                .copied()
                .zip(heads.chunks_exact_mut(self.head_len))
                .collect();
            r.read_batch(&mut requests)?;
        }
        if self.entries.len() > MAX_CACHED {
            self.entries.clear();
            self.lines.clear();
        }
        let objects = Objects { layout };
        // Parallel to `unique` (sorted): looked up by binary search below, no map per sample.
        let mut resolved = std::mem::take(&mut self.spare_infos);
        resolved.clear();
        for (addr, head) in unique.iter().zip(heads.chunks_exact(self.head_len)) {
            let fp = self.fingerprint(layout, head)?;
            if let Some(hit) = self.entries.get(addr) {
                if hit.fingerprint == fp {
                    self.hits += 1;
                    resolved.push(Some(hit.clone()));
                    continue;
                }
            }
            if !self.is_code_type(r, &objects, fp.ob_type)? {
                resolved.push(None);
                continue;
            }
            self.misses += 1;
            let info = Arc::new(CodeInfo {
                name: objects.read_str(r, fp.name)?.into(),
                filename: objects.read_str(r, fp.filename)?.into(),
                first_line: fp.first_line,
                line_table: objects.read_bytes(r, fp.linetable, MAX_BYTES)?,
                fingerprint: fp,
            });
            if self.entries.insert(*addr, info.clone()).is_some() {
                self.lines.clear();
            }
            resolved.push(Some(info));
        }
        self.heads = heads;
        Ok(Resolved {
            addrs: unique,
            infos: resolved,
        })
    }

    /// Take back a sample's [`Resolved`] to reuse its lists (its `Arc`s are dropped).
    pub(crate) fn recycle(&mut self, mut resolved: Resolved) {
        resolved.infos.clear();
        self.spare_addrs = resolved.addrs;
        self.spare_infos = resolved.infos;
    }

    /// The source line at byte offset `addr` of a code object's bytecode.
    pub(crate) fn line(&mut self, info: &Arc<CodeInfo>, addr: u64) -> u32 {
        let key = (Arc::as_ptr(info) as usize, addr);
        if let Some(&line) = self.lines.get(&key) {
            return line;
        }
        // No line for this instruction (a frame that has not reached its first line yet, e.g.
        // 3.11+'s RESUME / MAKE_CELL prologue): report the `def` line, as CPython's own
        // `frame.f_lineno` does for a frame that has not started.
        let line = line_for(self.format, &info.line_table, info.first_line, addr)
            .unwrap_or_else(|| u32::try_from(info.first_line).unwrap_or(0));
        if self.lines.len() >= 1 << 20 {
            self.lines.clear();
        }
        self.lines.insert(key, line);
        line
    }

    fn fingerprint(&self, layout: &Layout, head: &[u8]) -> Result<Fingerprint> {
        let name_field = if Layout::has(layout.code_qualname) {
            layout.code_qualname
        } else {
            layout.code_name
        };
        Ok(Fingerprint {
            ob_type: u64_at(head, layout.ob_type)?,
            name: u64_at(head, name_field)?,
            filename: u64_at(head, layout.code_filename)?,
            linetable: u64_at(head, layout.code_linetable)?,
            first_line: i32_at(head, layout.code_firstlineno)?,
        })
    }

    fn is_code_type<R: MemoryReader>(&mut self, r: &R, objects: &Objects, tp: u64) -> Result<bool> {
        if let Some(&known) = self.code_types.get(&tp) {
            return Ok(known);
        }
        let is_code = match objects.type_name(r, tp) {
            Ok(name) => name == "code",
            // Not cached: the read may have raced with the target.
            Err(Error::Read { .. }) => return Ok(false),
            Err(e) => return Err(e),
        };
        self.code_types.insert(tp, is_code);
        Ok(is_code)
    }
}
