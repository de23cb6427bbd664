//! A process's children, as the kernel lists them: `/proc/PID/task/TID/children` of each of its
//! threads (a child is listed under the thread that forked it; when that thread ends, under
//! another of the process). The files stay open and are re-read with one `pread` each, so that
//! a tree can be watched for new processes every few milliseconds; the threads are listed again
//! every [`CHILDREN_RELIST_EVERY`]. Kernels built without `CONFIG_PROC_CHILDREN` have no such
//! files: [`children_by_scan`] reads every process's parent instead (costlier, so less often).
//! https://docs.kernel.org/filesystems/proc.html (3.7 /proc/<pid>/task/<tid>/children)
use std::collections::HashSet;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::time::{Duration, Instant};

/// Longest time between two listings of a watched process's threads: a thread newer than
/// this that forks is seen late (its child is listed under it only).
pub const CHILDREN_RELIST_EVERY: Duration = Duration::from_millis(100);

/// Kept-open `children` files of one process's threads.
#[derive(Debug)]
pub struct ChildrenReader {
    pid: i32,
    threads: Vec<(u32, File)>,
    listed_at: Option<Instant>,
    buf: Vec<u8>,
}

impl ChildrenReader {
    /// For process `pid`. `NotFound` when the process is gone or the kernel has no `children`
    /// files (tell them apart with [`super::exists`]).
    pub fn open(pid: i32) -> io::Result<ChildrenReader> {
        let main = File::open(super::task_path(pid, pid as u32, "children"))?;
        Ok(ChildrenReader {
            pid,
            threads: vec![(pid as u32, main)],
            listed_at: None,
            buf: vec![0; 512],
        })
    }

    /// The pid watched.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Append the process's children now to `out` (nothing if it is gone).
    pub fn read(&mut self, out: &mut Vec<i32>) {
        if self
            .listed_at
            .is_none_or(|t| t.elapsed() >= CHILDREN_RELIST_EVERY)
        {
            self.relist();
        }
        let mut gone = false;
        for (_, file) in &self.threads {
            loop {
                match file.read_at(&mut self.buf, 0) {
                    // A full buffer may have cut the list: read it again, whole.
                    Ok(n) if n == self.buf.len() && n < 1 << 20 => {
                        self.buf.resize(n * 2, 0);
                    }
                    Ok(n) => {
                        out.extend(parse_pids(&self.buf[..n]));
                        break;
                    }
                    Err(_) => {
                        gone = true;
                        break;
                    }
                }
            }
        }
        if gone {
            // A thread ended: its children moved to another thread, which the next read sees.
            self.listed_at = None;
        }
    }

    fn relist(&mut self) {
        self.listed_at = Some(Instant::now());
        let Ok(tids) = super::tids(self.pid) else {
            return;
        };
        self.threads
            .retain(|(tid, _)| tids.binary_search(tid).is_ok());
        for tid in tids {
            if self.threads.iter().all(|(t, _)| *t != tid) {
                if let Ok(file) = File::open(super::task_path(self.pid, tid, "children")) {
                    self.threads.push((tid, file));
                }
            }
        }
    }
}

/// Pids in a `children` file: decimal numbers separated by spaces.
fn parse_pids(text: &[u8]) -> impl Iterator<Item = i32> + '_ {
    text.split(|b| b.is_ascii_whitespace())
        .filter_map(|w| std::str::from_utf8(w).ok()?.parse().ok())
}

/// Without `children` files: every process whose parent is in `parents`, found by reading the
/// `stat` of every process (one read per process on the machine).
pub fn children_by_scan(parents: &HashSet<i32>) -> Vec<i32> {
    super::pids()
        .into_iter()
        .filter(|&pid| {
            super::stat(pid)
                .ok()
                .and_then(|s| s.ppid)
                .is_some_and(|ppid| parents.contains(&ppid))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pids_from_a_children_file() {
        assert_eq!(
            parse_pids(b"12 345 6789 ").collect::<Vec<_>>(),
            [12, 345, 6789]
        );
        assert_eq!(parse_pids(b"").count(), 0);
        assert_eq!(parse_pids(b"7 x 8").collect::<Vec<_>>(), [7, 8]);
    }

    #[test]
    fn a_child_is_listed_under_its_parent() {
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let me = std::process::id() as i32;
        let pid = child.id() as i32;
        let parents: HashSet<i32> = [me].into();
        let scanned = children_by_scan(&parents);
        let listed = ChildrenReader::open(me).map(|mut r| {
            let mut out = Vec::new();
            r.read(&mut out);
            out
        });
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(scanned.contains(&pid), "{scanned:?} lacks {pid}");
        // Kernels without CONFIG_PROC_CHILDREN have no file to read.
        if let Ok(listed) = listed {
            assert!(listed.contains(&pid), "{listed:?} lacks {pid}");
        }
    }
}
