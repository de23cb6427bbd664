//! Scheduler state of every thread, read on each sample as cheaply as /proc allows: each
//! thread's `stat` file stays open and is re-read with one `pread`; the task directory is listed
//! again only when asked (a thread appeared that we do not know) or every [`RELIST_EVERY`].
use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::time::{Duration, Instant};

use super::target::parse_state;
use crate::error::{Error, Result};

/// Longest time between two listings of `/proc/PID/task`.
pub const RELIST_EVERY: Duration = Duration::from_millis(250);

/// Kept-open `/proc/PID/task/TID/stat` files.
#[derive(Debug)]
pub struct ThreadStates {
    pid: i32,
    files: HashMap<u32, File>,
    listed_at: Option<Instant>,
    buf: Vec<u8>,
}

impl ThreadStates {
    /// For process `pid`; nothing is opened until the first [`ThreadStates::read`].
    pub fn new(pid: i32) -> Self {
        ThreadStates {
            pid,
            files: HashMap::new(),
            listed_at: None,
            buf: vec![0; 1024],
        }
    }

    /// Ask for a new listing on the next read (a thread we do not know was seen).
    pub fn relist_soon(&mut self) {
        self.listed_at = None;
    }

    /// tid → state letter (`R` running, `S` sleeping, …) for every thread.
    pub fn read(&mut self) -> Result<HashMap<u32, char>> {
        self.read_with(|state| state)
    }

    /// tid → `f(state letter)` for every thread: one map per read, built directly.
    pub fn read_with<T>(&mut self, f: impl Fn(char) -> T) -> Result<HashMap<u32, T>> {
        if self.listed_at.is_none_or(|t| t.elapsed() >= RELIST_EVERY) {
            self.relist()?;
        }
        let mut states = HashMap::with_capacity(self.files.len());
        let mut gone = Vec::new();
        for (&tid, file) in &self.files {
            match file.read_at(&mut self.buf, 0) {
                Ok(n) => {
                    if let Some(state) = parse_state(&self.buf[..n]) {
                        states.insert(tid, f(state));
                    }
                }
                Err(_) => gone.push(tid), // the thread exited
            }
        }
        for tid in gone {
            self.files.remove(&tid);
        }
        if states.is_empty() {
            return Err(Error::ProcessExited { pid: self.pid });
        }
        Ok(states)
    }

    fn relist(&mut self) -> Result<()> {
        let dir =
            std::fs::read_dir(format!("/proc/{}/task", self.pid)).map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => Error::ProcessExited { pid: self.pid },
                _ => Error::Io {
                    context: format!("listing threads of {}", self.pid),
                    source: e,
                },
            })?;
        let mut present = Vec::new();
        for entry in dir.flatten() {
            let Some(tid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            present.push(tid);
            if !self.files.contains_key(&tid) {
                if let Ok(f) = File::open(format!("/proc/{}/task/{tid}/stat", self.pid)) {
                    self.files.insert(tid, f);
                }
            }
        }
        self.files.retain(|tid, _| present.contains(tid));
        self.listed_at = Some(Instant::now());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sees_own_threads_come_and_go() {
        let pid = std::process::id() as i32;
        let mut states = ThreadStates::new(pid);
        let before = states.read().unwrap();
        assert!(before.contains_key(&(pid as u32)));
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<u32>();
        let handle = std::thread::spawn(move || {
            // SAFETY: gettid has no preconditions.
            ready_tx.send(unsafe { libc::gettid() } as u32).unwrap();
            rx.recv().unwrap();
        });
        let tid = ready_rx.recv().unwrap();
        states.relist_soon();
        // The thread reaches its blocking recv() just after sending: wait (bounded) until it sleeps.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let mut during = states.read().unwrap();
        while during.get(&tid) != Some(&'S') && std::time::Instant::now() < deadline {
            std::thread::yield_now();
            during = states.read().unwrap();
        }
        assert_eq!(
            during.get(&tid),
            Some(&'S'),
            "a thread blocked on a channel sleeps"
        );
        tx.send(()).unwrap();
        handle.join().unwrap();
        let after = states.read().unwrap();
        assert!(
            !after.contains_key(&tid),
            "an exited thread is dropped at the next read"
        );
    }
}
