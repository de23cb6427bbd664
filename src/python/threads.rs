//! Thread identity: names from `threading._active`, and OS thread ids for ≤3.10 (where the
//! thread state only records the pthread_t).
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::objects::{field, Objects};
use super::Interpreter;
use crate::process::{MemoryReader, ReadExt};

/// The target's threads as the OS lists them: tid → running. The walker's `OsThreads` is one
/// (`python/mod.rs` says so); a trait, so this module needs nothing of the walker, which uses it.
pub(crate) trait OsThreadList {
    /// The known tids, each with whether it was running; empty when the OS was not asked.
    fn tids(&self) -> &HashMap<u32, bool>;
}

/// Names of Python threads by `threading.get_ident()`, refreshed only when the set of threads
/// changes (a dict walk costs dozens of reads; the thread set rarely changes).
#[derive(Debug, Default)]
pub(crate) struct ThreadNames {
    names: HashMap<u64, Arc<str>>,
    /// The thread ids seen at the last refresh.
    refreshed_for: Option<Vec<u64>>,
    threading_loaded: bool,
    /// This sample's thread ids, sorted (kept to compare without allocating).
    sorted: Vec<u64>,
}

impl ThreadNames {
    /// Shared, so a sample hands the name on with a reference count, not a copy.
    pub(crate) fn name_of(&self, thread_id: u64) -> Option<Arc<str>> {
        self.names.get(&thread_id).cloned()
    }

    pub(crate) fn threading_loaded(&self) -> bool {
        self.threading_loaded
    }

    /// Re-read `threading._active` if the thread set differs from the last refresh.
    pub(crate) fn refresh_if_changed<R: MemoryReader>(
        &mut self,
        r: &R,
        objects: &Objects,
        interp: &Interpreter,
        ids: &[u64],
    ) {
        self.sorted.clear();
        self.sorted.extend_from_slice(ids);
        self.sorted.sort_unstable();
        if self.refreshed_for.as_ref() == Some(&self.sorted) {
            return;
        }
        // A failed read (a dict resizing under us) leaves the old names and retries next time.
        if let Ok((loaded, names)) = read_thread_names(r, objects, interp) {
            self.threading_loaded = loaded;
            self.names
                .extend(names.into_iter().map(|(id, name)| (id, Arc::from(name))));
            self.refreshed_for = Some(self.sorted.clone());
        }
    }
}

/// `sys.modules["threading"]._active`: {ident: Thread}, and each Thread's name.
/// https://github.com/python/cpython/blob/v3.12.1/Lib/threading.py
fn read_thread_names<R: MemoryReader>(
    r: &R,
    objects: &Objects,
    interp: &Interpreter,
) -> crate::Result<(bool, HashMap<u64, String>)> {
    let l = objects.layout;
    let modules = r.read_u64(interp.interp_addr + l.interp_modules as u64)?;
    let mut names = HashMap::new();
    if modules == 0 {
        return Ok((false, names));
    }
    let Some(threading) = objects.dict_get(r, modules, "threading")? else {
        return Ok((false, names));
    };
    let module_dict = r.read_u64(field(threading, l.module_md_dict))?;
    let Some(active) = objects.dict_get(r, module_dict, "_active")? else {
        return Ok((true, names));
    };
    for (key, thread) in objects.dict_items(r, active)? {
        let Ok(ident) = objects.read_int(r, key) else {
            continue;
        };
        // 2.7 mangles `self.__name` to `_Thread__name`.
        for attr in ["_name", "_Thread__name"] {
            if let Ok(Some(name)) = objects.instance_attr(r, thread, attr) {
                if let Ok(text) = objects.read_str(r, name) {
                    names.insert(ident, text);
                    break;
                }
            }
        }
    }
    Ok((true, names))
}

/// pthread_t → OS tid for ≤3.10. A pthread_t is the address of glibc's `struct pthread`, which
/// holds the kernel tid; we find the offset once by matching the process's real tids.
#[derive(Debug, Default)]
pub(crate) struct NativeIds {
    offset: Option<u64>,
    cache: HashMap<u64, u32>,
}

/// How much of `struct pthread` we search for the tid (it sits at 0x2d0 in glibc 2.x, x86_64).
const PTHREAD_SCAN: usize = 0x800;

impl NativeIds {
    pub(crate) fn tid_of<R: MemoryReader>(
        &mut self,
        r: &R,
        pthread: u64,
        os: &impl OsThreadList,
    ) -> Option<u32> {
        let known = os.tids();
        if pthread == 0 {
            return None;
        }
        if let Some(&tid) = self.cache.get(&pthread) {
            if known.contains_key(&tid) || known.is_empty() {
                return Some(tid);
            }
        }
        let tids: HashSet<u32> = known.keys().copied().collect();
        if let Some(off) = self.offset {
            if let Ok(tid) = r.read_u32(pthread.wrapping_add(off)) {
                if tids.contains(&tid) {
                    self.cache.insert(pthread, tid);
                    return Some(tid);
                }
            }
        }
        let block = r.read_vec(pthread, PTHREAD_SCAN).ok()?;
        let candidates: Vec<u64> = (0..PTHREAD_SCAN as u64 / 4)
            .map(|i| i * 4)
            .filter(|&o| {
                let v =
                    u32::from_le_bytes(block[o as usize..o as usize + 4].try_into().expect("4"));
                tids.contains(&v)
            })
            .collect();
        // Prefer glibc's known offset when it matches, else the first match.
        let off = if candidates.contains(&0x2d0) {
            0x2d0
        } else {
            *candidates.first()?
        };
        self.offset = Some(off);
        let tid = u32::from_le_bytes(block[off as usize..off as usize + 4].try_into().expect("4"));
        self.cache.insert(pthread, tid);
        Some(tid)
    }
}
