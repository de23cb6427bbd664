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
    when: RefreshSchedule,
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
        if !self.when.due(&self.sorted) {
            return;
        }
        // A failed read (a dict resizing under us) leaves the old names and retries next time.
        match read_thread_names(r, objects, interp) {
            Ok((loaded, names)) => {
                self.threading_loaded = loaded;
                self.names
                    .extend(names.into_iter().map(|(id, name)| (id, Arc::from(name))));
                let unnamed = loaded && self.sorted.iter().any(|id| !self.names.contains_key(id));
                self.when.read(&self.sorted, unnamed);
            }
            Err(_) => self.when.failed(),
        }
    }
}

/// When to walk `threading._active` again: when the thread set changes, and, while a thread is
/// left unnamed, at gaps that double up to `MAX_RETRY_GAP` samples. A thread runs before
/// `Thread._bootstrap_inner` puts it in `_active`, so a read can miss a name that appears a moment
/// later; a thread of `_thread.start_new_thread` never gets one, and costs a walk per 256 samples.
/// https://github.com/python/cpython/blob/v3.12.1/Lib/threading.py#L1000
#[derive(Debug, Default)]
struct RefreshSchedule {
    /// The thread ids seen at the last read.
    read_for: Option<Vec<u64>>,
    /// Samples until the next read for unnamed threads; 0: none is planned.
    retry_in: u32,
    /// The gap after that one.
    retry_gap: u32,
}

const MAX_RETRY_GAP: u32 = 256;

impl RefreshSchedule {
    /// Whether this sample, with these (sorted) thread ids, should read the names.
    fn due(&mut self, ids: &[u64]) -> bool {
        if self.read_for.as_deref() != Some(ids) {
            self.retry_gap = 1;
            return true;
        }
        if self.retry_in == 0 {
            return false;
        }
        self.retry_in -= 1;
        self.retry_in == 0
    }

    /// The names were read for `ids`; `unnamed`: some thread still has none.
    fn read(&mut self, ids: &[u64], unnamed: bool) {
        if self.read_for.as_deref() != Some(ids) {
            self.read_for = Some(ids.to_vec());
        }
        self.retry_in = if unnamed { self.retry_gap } else { 0 };
        self.retry_gap = (self.retry_gap * 2).clamp(1, MAX_RETRY_GAP);
    }

    /// The read failed: try again on the next sample.
    fn failed(&mut self) {
        self.retry_in = 1;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The samples (of `n`) on which names are read, for a fixed thread set.
    fn reads(schedule: &mut RefreshSchedule, ids: &[u64], n: u32, unnamed: bool) -> Vec<u32> {
        (0..n)
            .filter(|_| {
                let due = schedule.due(ids);
                if due {
                    schedule.read(ids, unnamed);
                }
                due
            })
            .collect()
    }

    #[test]
    fn reads_when_the_set_changes_and_then_only_for_unnamed_threads() {
        let mut s = RefreshSchedule::default();
        assert_eq!(reads(&mut s, &[1, 2], 100, false), [0], "named: one read");
        assert_eq!(
            reads(&mut s, &[1, 2, 3], 10, false),
            [0],
            "a new thread: read"
        );
        // Thread 4 stays unnamed: reads at gaps 1, 2, 4, … capped at 256 samples.
        let unnamed = reads(&mut s, &[1, 2, 3, 4], 2000, true);
        assert_eq!(&unnamed[..6], [0, 1, 3, 7, 15, 31]);
        let gaps: Vec<u32> = unnamed.windows(2).map(|w| w[1] - w[0]).collect();
        assert_eq!(gaps.iter().max(), Some(&MAX_RETRY_GAP));
        assert!(unnamed.len() < 20, "{unnamed:?}");
        // Once a retry finds the name, no more reads; a change restarts at gap 1.
        while !s.due(&[1, 2, 3, 4]) {}
        s.read(&[1, 2, 3, 4], false);
        assert_eq!(reads(&mut s, &[1, 2, 3, 4], 1000, true), [] as [u32; 0]);
        assert_eq!(reads(&mut s, &[1, 5], 4, true), [0, 1, 3]);
    }

    #[test]
    fn a_failed_read_is_tried_again_on_the_next_sample() {
        let mut s = RefreshSchedule::default();
        assert!(s.due(&[1]));
        s.failed();
        assert!(s.due(&[1]), "no read stood: the set still counts as new");
        s.read(&[1], false);
        assert!(!s.due(&[1]));
        s.failed();
        assert!(s.due(&[1]), "a failed retry is retried");
        s.read(&[1], false);
        assert!(!s.due(&[1]));
    }
}
