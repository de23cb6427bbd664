//! `--subprocesses`: one sampler for a process and its descendants. The tree is watched for new
//! processes at every tick (at most every [`POLL_EVERY`]) through the kernel's list of each
//! watched process's children, kept open and re-read with one `pread` per thread; each Python
//! process is sampled by its own [`Session`] in turn, its stacks under a root frame
//! `process PID: command`. Processes that are not Python (a shell, `/bin/sleep`) are watched
//! for their children and listed as skipped with the reason; a process that ends is dropped
//! from the tree, whatever the order (children may outlive their parent). Sampling ends when
//! every process of the tree has ended.
//!
//! Children are found through their parent. A process whose parent ended before it was seen
//! (a double fork within a poll) is no longer the child of any watched process: in a launched
//! tree pyprobe is the subreaper and finds it among its own children; attached by `--pid`, it
//! is not found.
use std::collections::HashSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::memory::{DetailsReader, MemoryDetails};
use crate::proc::{children_by_scan, ChildrenReader};
use crate::process::Target;
use crate::sampler::Probe;
use crate::session::PauseMode;
use crate::stack::ThreadStack;

mod member;
mod report;

use member::{Member, Outcome, State};
pub use report::{ProcessEntry, ProcessReport};

/// Shortest time between two looks for new processes: a child that lives 50 ms is seen (at
/// 100 Hz and more, every tick looks; at lower rates, every tick too, so a short-lived child
/// is seen only if it outlives the gap between ticks).
pub const POLL_EVERY: Duration = Duration::from_millis(5);

/// Without `children` files (a kernel without `CONFIG_PROC_CHILDREN`), every process's `stat`
/// is read to find children: no more often than this.
const SCAN_EVERY: Duration = Duration::from_millis(50);

/// Longest wait for a launched root before sampling starts (see [`TreeProbe::wait_for_root`]).
const ROOT_WAIT: Duration = Duration::from_secs(10);

/// Shortest time between two points of a process's RSS series in the report.
pub const RSS_SERIES_EVERY: Duration = Duration::from_millis(100);

/// The tree, sampled as one target.
pub struct TreeProbe {
    root: i32,
    pause: PauseMode,
    members: Vec<Member>,
    report: ProcessReport,
    /// Every pid watched so far: a pid is watched once (its reuse by a new process in the
    /// same recording is not followed).
    seen: HashSet<i32>,
    next_poll: Option<Instant>,
    /// Without `children` files: when to scan next.
    next_scan: Option<Instant>,
    /// A launched tree: pyprobe's own children, where the kernel hands orphans of the tree
    /// once pyprobe is their subreaper (see [`become_subreaper`]).
    adopter: Option<ChildrenReader>,
    /// Set at the first RSS reading: the sampler's clock starts there, give or take a read.
    started: Option<Instant>,
    next_rss_point: Option<Instant>,
    details: Option<DetailsReader>,
    found: Vec<i32>,
    buf: Vec<u8>,
}

impl TreeProbe {
    /// Watch `root` (a process that may not be Python, or not yet) and its descendants.
    pub fn new(root: i32, pause: PauseMode) -> Result<TreeProbe> {
        let target = Target::open(root)?;
        let launched = crate::proc::stat(root)
            .ok()
            .and_then(|s| s.ppid)
            .is_some_and(|ppid| ppid == std::process::id() as i32);
        let mut tree = TreeProbe {
            adopter: launched
                .then(|| ChildrenReader::open(std::process::id() as i32).ok())
                .flatten(),

            root,
            pause,
            members: Vec::new(),
            report: ProcessReport::default(),
            seen: HashSet::new(),
            next_poll: None,
            next_scan: None,
            started: None,
            next_rss_point: None,
            details: DetailsReader::open(root).ok(),
            found: Vec::new(),
            buf: vec![0; 8192],
        };
        tree.watch(target, None);
        tree.wait_for_root();
        Ok(tree)
    }

    /// Before sampling starts: look at the root until it is Python (or skipped, or gone), or a
    /// Python process appears under it, for up to [`ROOT_WAIT`]. A program just launched
    /// initializes its interpreter in some tens of milliseconds, and the first reading of its
    /// libpython's symbols takes as long again: on the sampler's thread, that would hold up the
    /// first ticks and the look for short-lived children.
    fn wait_for_root(&mut self) {
        let began = Instant::now();
        loop {
            self.next_poll = None;
            self.poll();
            let decided = self
                .members
                .iter()
                .all(|m| m.pid != self.root || !matches!(m.state, State::Waiting { .. }));
            let python = self
                .members
                .iter()
                .any(|m| matches!(m.state, State::Python(_)));
            if decided || python || began.elapsed() > ROOT_WAIT {
                return;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// The root's command line, for titles.
    pub fn title(&self) -> String {
        let root = self.report.processes.first();
        format!(
            "{} (and its subprocesses)",
            root.map(|p| p.command.as_str()).unwrap_or_default()
        )
    }

    /// The root's Python version, if it is Python.
    pub fn root_version(&self) -> Option<String> {
        self.report.processes.first()?.python.clone()
    }

    fn since_start(&self) -> Duration {
        self.started.map(|s| s.elapsed()).unwrap_or_default()
    }

    fn watch(&mut self, target: Target, parent: Option<i32>) {
        let pid = target.pid();
        self.seen.insert(pid);
        self.report.processes.push(ProcessEntry {
            pid,
            parent,
            command: Member::command(&target),
            first_seen: self.since_start(),
            ..Default::default()
        });
        let entry = self.report.processes.len() - 1;
        let mut member = Member::new(target, entry);
        let parent = parent.and_then(|p| self.members.iter().find(|m| m.pid == p));
        if let Some((version, command)) = parent.and_then(|p| member.forked(p, self.pause)) {
            let entry = &mut self.report.processes[entry];
            entry.python = Some(version);
            entry.command = command;
        }
        self.members.push(member);
    }

    /// Look for new processes under the watched ones, and at the ones not sampled.
    fn poll(&mut self) {
        let now = Instant::now();
        if self.next_poll.is_some_and(|t| now < t) {
            return;
        }
        self.next_poll = Some(now + POLL_EVERY);
        let mut found = std::mem::take(&mut self.found);
        found.clear();
        let mut parents = Vec::new();
        if let Some(adopter) = &mut self.adopter {
            // Besides the launched root (seen already), orphans of the tree.
            adopter.read(&mut found);
            parents.resize(found.len(), 0);
        }
        let mut unlisted = false;
        for m in &mut self.members {
            let before = found.len();
            match &mut m.children {
                Some(children) => children.read(&mut found),
                None => unlisted = true,
            }
            parents.extend(std::iter::repeat_n(m.pid, found.len() - before));
        }
        if unlisted && self.next_scan.is_none_or(|t| now >= t) {
            self.next_scan = Some(now + SCAN_EVERY);
            let watched: HashSet<i32> = self.members.iter().map(|m| m.pid).collect();
            for pid in children_by_scan(&watched) {
                found.push(pid);
                // The parent is read again for the report only.
                parents.push(
                    crate::proc::stat(pid)
                        .ok()
                        .and_then(|s| s.ppid)
                        .unwrap_or(0),
                );
            }
        }
        for (&pid, &parent) in found.iter().zip(&parents) {
            if self.seen.contains(&pid) {
                continue;
            }
            match Target::open(pid) {
                // Adopted: its parent ended before it was seen.
                Ok(target) if parent == 0 => self.watch(target, None),
                Ok(target) => self.watch(target, Some(parent)),
                // Gone already (or a zombie): nothing to watch.
                Err(_) => {
                    self.seen.insert(pid);
                    self.reap_adopted(pid);
                }
            }
        }
        self.found = found;
        for i in (0..self.members.len()).rev() {
            match self.members[i].check_unsampled() {
                Some(Outcome::Gone) => self.end(i),
                Some(Outcome::Execed) => self.execed(i),
                Some(Outcome::Restarted) => {}
                _ => {}
            }
        }
        self.attach_waiting();
    }

    /// Try the processes whose interpreter was not found yet.
    fn attach_waiting(&mut self) {
        for m in &mut self.members {
            if let Some(found) = m.try_attach(self.pause) {
                let entry = &mut self.report.processes[m.entry];
                match found {
                    Ok((version, command)) => {
                        entry.python = Some(version);
                        entry.command = command;
                        entry.skipped = None;
                    }
                    Err((reason, command)) => {
                        entry.skipped = Some(reason);
                        entry.command = command;
                    }
                }
            }
        }
    }

    /// In a launched tree, a process that ended may be pyprobe's own (adopted when its parent
    /// ended before it): reaped, or it stays a zombie. The launched root is left to the
    /// launcher, which reports its status.
    fn reap_adopted(&self, pid: i32) {
        if self.adopter.is_some() && pid != self.root {
            reap(pid);
        }
    }

    /// Member `i` is gone.
    fn end(&mut self, i: usize) {
        let m = self.members.swap_remove(i);
        self.reap_adopted(m.pid);
        let at = self.since_start();
        let entry = &mut self.report.processes[m.entry];
        entry.ended = Some(at);
    }

    /// Member `i` replaced its program: it is reported as a new process entry from now on
    /// (the pid's earlier life keeps its own, with its samples).
    fn execed(&mut self, i: usize) {
        let at = self.since_start();
        let m = &mut self.members[i];
        let old = &mut self.report.processes[m.entry];
        old.ended = Some(at);
        let parent = old.parent;
        let command = m.target().map(Member::command).unwrap_or_default();
        self.report.processes.push(ProcessEntry {
            pid: m.pid,
            parent,
            command,
            first_seen: at,
            ..Default::default()
        });
        m.entry = self.report.processes.len() - 1;
    }
}

/// Make pyprobe the subreaper of the processes it starts from now on: a process of a launched
/// tree whose parent ends is handed to pyprobe (not to init), where the tree's watch finds it
/// even if it was never seen under its parent. Linux 3.4+; without it, such orphans are lost.
/// https://man7.org/linux/man-pages/man2/prctl.2.html (PR_SET_CHILD_SUBREAPER)
pub fn become_subreaper() {
    // SAFETY: PR_SET_CHILD_SUBREAPER takes a plain integer and affects only this process.
    unsafe {
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1 as libc::c_ulong);
    }
}

/// Reap `pid` if it is a child of pyprobe that ended; a no-op otherwise (not ended, or not
/// pyprobe's child: `ECHILD`).
fn reap(pid: i32) {
    let mut status = 0;
    // SAFETY: a plain waitpid on one pid, WNOHANG: never blocks.
    unsafe {
        libc::waitpid(pid, &mut status, libc::WNOHANG);
    }
}

impl Probe for TreeProbe {
    fn sample(&mut self) -> Result<Vec<ThreadStack>> {
        self.poll();
        let mut out = Vec::new();
        let mut first_error = None;
        let mut sampled = 0;
        for i in (0..self.members.len()).rev() {
            let entry = self.members[i].entry;
            match self.members[i].sample(&mut out) {
                None => {}
                Some(Outcome::Sampled) => {
                    sampled += 1;
                    self.report.processes[entry].samples += 1;
                }
                Some(Outcome::Failed(e)) => {
                    self.report.processes[entry].errors += 1;
                    first_error.get_or_insert(e);
                }
                Some(Outcome::Gone) => self.end(i),
                Some(Outcome::Execed) => self.execed(i),
                Some(Outcome::Restarted) => {}
            }
        }
        if self.members.is_empty() {
            // The last processes just ended: look once more, now, for what they left (an
            // orphan handed to pyprobe as they exited, seen last before it was adopted).
            self.next_poll = None;
            self.poll();
            if self.members.is_empty() {
                return Err(Error::ProcessExited { pid: self.root });
            }
        }
        match first_error {
            // One process's failed read is its own; the tick stands on the others.
            Some(e) if sampled == 0 => Err(e),
            _ => Ok(out),
        }
    }

    /// Page-fault wake-ups are not used with `--subprocesses` (see [`crate::record`]).
    fn sample_unpaused(&mut self) -> Result<Vec<ThreadStack>> {
        self.sample()
    }

    fn take_pause(&mut self) -> Duration {
        self.members
            .iter_mut()
            .filter_map(|m| match &mut m.state {
                State::Python(s) => Some(s.session.take_pause()),
                _ => None,
            })
            .sum()
    }

    fn thread_ids(&mut self) -> Vec<u32> {
        let mut tids = Vec::new();
        for m in &mut self.members {
            if let State::Python(s) = &mut m.state {
                tids.extend(s.session.thread_ids());
            }
        }
        tids
    }

    /// Thread ids are unique across processes: growth is charged to the faulting threads of
    /// whichever process grew.
    fn thread_faults(&mut self) -> Vec<(u32, u64)> {
        let mut faults = Vec::new();
        for m in &mut self.members {
            if let State::Python(s) = &mut m.state {
                faults.extend(s.session.thread_faults());
            }
        }
        faults
    }

    /// The tree's total: the sum of every watched process's RSS (Python or not).
    fn rss(&mut self) -> Option<u64> {
        let now = Instant::now();
        let started = *self.started.get_or_insert(now);
        let at = now - started;
        let point = self.next_rss_point.is_none_or(|t| now >= t);
        if point {
            self.next_rss_point = Some(now + RSS_SERIES_EVERY);
        }
        let mut total = None;
        for m in &mut self.members {
            let Some(rss) = m.rss.as_mut().and_then(|r| r.rss_bytes().ok()) else {
                continue;
            };
            *total.get_or_insert(0) += rss;
            let entry = &mut self.report.processes[m.entry];
            entry.peak_rss = entry.peak_rss.max(rss);
            if point {
                entry.rss.push((at, rss));
            }
        }
        if let Some(total) = total {
            self.report.peak_total_rss = self.report.peak_total_rss.max(total);
            if point {
                self.report.total_rss.push((at, total));
            }
        }
        total
    }

    /// The root's breakdown, with the resident and swapped memory of the whole tree.
    fn details(&mut self) -> Option<MemoryDetails> {
        let mut details = self.details.as_mut()?.read();
        let (mut anon, mut file, mut shmem, mut swap) = (0, 0, 0, 0);
        for m in &self.members {
            if let Some(d) = m.status.as_ref().and_then(|s| s.read(&mut self.buf)) {
                anon += d.rss_anon;
                file += d.rss_file;
                shmem += d.rss_shmem;
                swap += d.swap;
            }
        }
        details.rss_anon = anon;
        details.rss_file = file;
        details.rss_shmem = shmem;
        details.swap = swap;
        Some(details)
    }

    fn is_alive(&self) -> bool {
        !self.members.is_empty()
    }

    /// An exec is handled per process (it is looked at again), never the end of the tree.
    fn exec_change(&self) -> Option<PathBuf> {
        None
    }

    fn paused_samples(&self) -> u64 {
        self.members
            .iter()
            .filter_map(|m| match &m.state {
                State::Python(s) => Some(s.session.paused_samples()),
                _ => None,
            })
            .sum()
    }

    fn processes(&self) -> Option<ProcessReport> {
        Some(self.report.clone())
    }
}
