//! Scheduler state of the target's threads, read as cheaply as /proc allows: each thread's
//! `stat` file stays open and is re-read with one `pread`, only for the threads asked about;
//! the task directory is listed again only when asked (a thread appeared that we do not know)
//! or every [`RELIST_EVERY`].
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::time::{Duration, Instant};

use super::parse::{fault_count, state as parse_state};
use crate::error::{Error, Result};

/// Longest time between two listings of `/proc/PID/task`.
pub const RELIST_EVERY: Duration = Duration::from_millis(250);

/// Kept-open `/proc/PID/task/TID/stat` files.
#[derive(Debug)]
pub struct ThreadStates {
    pid: i32,
    files: HashMap<u32, File>,
    listed_at: Option<Instant>,
    /// The set of known tids changed since [`ThreadStates::refresh`] last said so.
    changed: bool,
    buf: Vec<u8>,
}

impl ThreadStates {
    /// For process `pid`; nothing is opened until the first [`ThreadStates::refresh`].
    pub fn new(pid: i32) -> Self {
        ThreadStates {
            pid,
            files: HashMap::new(),
            listed_at: None,
            changed: false,
            buf: vec![0; 1024],
        }
    }

    /// Ask for a new listing on the next refresh (a thread we do not know was seen).
    pub fn relist_soon(&mut self) {
        self.listed_at = None;
    }

    /// List the threads again if due (no `stat` is read). Returns whether the set of known tids
    /// changed since the last call. `ProcessExited` if the process has no threads left.
    pub fn refresh(&mut self) -> Result<bool> {
        if self.listed_at.is_none_or(|t| t.elapsed() >= RELIST_EVERY) {
            self.relist()?;
        }
        Ok(std::mem::take(&mut self.changed))
    }

    /// The known tids, as of the last listing (less those seen to exit since).
    pub fn tids(&self) -> impl Iterator<Item = u32> + '_ {
        self.files.keys().copied()
    }

    /// The known tids, listing them first if they never were.
    pub fn tids_listed(&mut self) -> Vec<u32> {
        if self.listed_at.is_none() {
            let _ = self.relist();
        }
        self.tids().collect()
    }

    /// Whether `tid` is a known thread.
    pub fn contains(&self, tid: u32) -> bool {
        self.files.contains_key(&tid)
    }

    /// The state letter of `tid` (`R` running, `S` sleeping, …): one `pread` of its kept-open
    /// `stat`. `None` if the tid is unknown or the read fails: the thread exited, and its file
    /// is dropped.
    pub fn state(&mut self, tid: u32) -> Option<char> {
        let file = self.files.get(&tid)?;
        match file.read_at(&mut self.buf, 0) {
            Ok(n) => parse_state(&self.buf[..n]),
            Err(_) => {
                self.files.remove(&tid);
                self.changed = true;
                None
            }
        }
    }

    /// The page faults `tid` took so far (minor plus major): one `pread` of its kept-open
    /// `stat`, like [`ThreadStates::state`]. `None` if the tid is unknown or the read fails.
    pub fn faults(&mut self, tid: u32) -> Option<u64> {
        let file = self.files.get(&tid)?;
        match file.read_at(&mut self.buf, 0) {
            Ok(n) => fault_count(&self.buf[..n]),
            Err(_) => {
                self.files.remove(&tid);
                self.changed = true;
                None
            }
        }
    }

    /// Whether `tid` is running (or runnable): see [`ThreadStates::state`].
    pub fn is_running(&mut self, tid: u32) -> Option<bool> {
        self.state(tid).map(|state| state == 'R')
    }

    fn relist(&mut self) -> Result<()> {
        let dir =
            std::fs::read_dir(super::pid_path(self.pid, "task")).map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => Error::ProcessExited { pid: self.pid },
                _ => Error::Io {
                    context: format!("listing threads of {}", self.pid),
                    source: e,
                },
            })?;
        let mut present = HashSet::new();
        for entry in dir.flatten() {
            let Some(tid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            present.insert(tid);
            if !self.files.contains_key(&tid) {
                if let Ok(f) = File::open(super::task_path(self.pid, tid, "stat")) {
                    self.files.insert(tid, f);
                    self.changed = true;
                }
            }
        }
        let known = self.files.len();
        self.files.retain(|tid, _| present.contains(tid));
        self.changed |= self.files.len() != known;
        self.listed_at = Some(Instant::now());
        if self.files.is_empty() {
            return Err(Error::ProcessExited { pid: self.pid });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The calling thread's tid.
    fn gettid() -> u32 {
        // SAFETY: gettid has no preconditions.
        unsafe { libc::gettid() as u32 }
    }

    #[test]
    fn sees_own_threads_come_and_go() {
        let pid = std::process::id() as i32;
        let mut states = ThreadStates::new(pid);
        assert!(states.refresh().unwrap(), "the first listing is a change");
        assert!(states.contains(pid as u32));
        assert!(states.tids().any(|tid| tid == gettid()));
        assert_eq!(
            states.is_running(gettid()),
            Some(true),
            "the thread asking is running"
        );
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<u32>();
        let handle = std::thread::spawn(move || {
            ready_tx.send(gettid()).unwrap();
            rx.recv().unwrap();
        });
        let tid = ready_rx.recv().unwrap();
        assert_eq!(states.is_running(tid), None, "not listed yet: unknown");
        states.relist_soon();
        assert!(states.refresh().unwrap(), "a new thread changes the set");
        // The thread reaches its blocking recv() just after sending: wait (bounded) until it sleeps.
        let deadline = Instant::now() + Duration::from_secs(5);
        while states.is_running(tid) != Some(false) && Instant::now() < deadline {
            std::thread::yield_now();
        }
        assert_eq!(states.state(tid), Some('S'), "blocked on a channel: sleeps");
        assert_eq!(states.is_running(tid), Some(false));
        tx.send(()).unwrap();
        handle.join().unwrap();
        // `join` returns once the thread has cleared its tid, a moment before the kernel
        // releases the task: its stat stays readable until then. Wait (bounded) for that.
        let deadline = Instant::now() + Duration::from_secs(10);
        while states.is_running(tid).is_some() {
            assert!(
                Instant::now() < deadline,
                "thread {tid} still listed 10 s after join: {:?}",
                states.state(tid)
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(!states.contains(tid), "an exited thread is dropped");
        assert!(states.refresh().unwrap(), "which changes the set");
        assert!(states.contains(pid as u32));
    }

    #[test]
    fn counts_the_faults_of_the_thread_that_touches_memory() {
        let pid = std::process::id() as i32;
        let mut states = ThreadStates::new(pid);
        states.refresh().unwrap();
        let before = states.faults(gettid()).unwrap();
        // 16 MiB written by this thread: 4096 faults of 4 KiB pages, at least 8 of huge pages.
        let block = std::hint::black_box(vec![1u8; 16 << 20]);
        let after = states.faults(gettid()).unwrap();
        assert!(after >= before + 8, "{before} → {after}");
        drop(block);
        assert_eq!(states.faults(u32::MAX), None, "an unknown thread");
    }

    #[test]
    fn exited_process_is_reported_at_listing() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id() as i32;
        child.wait().unwrap();
        let mut states = ThreadStates::new(pid);
        assert!(matches!(states.refresh(), Err(Error::ProcessExited { .. })));
    }
}
