//! Stopping every thread of a target with ptrace, and letting it go: `PTRACE_SEIZE` (no
//! signal sent) then `PTRACE_INTERRUPT`, and a wait for each thread's stop; `PTRACE_DETACH`
//! on drop. https://man7.org/linux/man-pages/man2/ptrace.2.html
//!
//! Our own, not a library's, for one reason: a program pyprobe launched is its child, so the
//! wait for a thread's stop can *reap* the program when it exits at that moment, and its exit
//! status, which `record -- COMMAND` must hand back, would be lost (seen under load: a script
//! exiting with 3 reported 0). Here such a status is kept ([`take_reaped_exit`]).
use std::collections::HashSet;
use std::io;
use std::sync::Mutex;

use crate::proc;

/// `PTRACE_O_TRACEEXIT`: an exiting thread stops at its exit, so the wait for it cannot miss
/// it (and it cannot linger as a zombie the wait never sees).
const OPTIONS: libc::c_ulong = libc::PTRACE_O_TRACEEXIT as libc::c_ulong;

/// Exit statuses (raw wait statuses) of processes reaped while being stopped.
static REAPED: Mutex<Vec<(i32, i32)>> = Mutex::new(Vec::new());

/// The raw wait status of process `pid` if a stop reaped it (then it is forgotten).
pub fn take_reaped_exit(pid: i32) -> Option<i32> {
    let mut reaped = REAPED.lock().unwrap_or_else(|e| e.into_inner());
    let at = reaped.iter().position(|&(p, _)| p == pid)?;
    Some(reaped.swap_remove(at).1)
}

fn keep_reaped_exit(pid: i32, status: i32) {
    let mut reaped = REAPED.lock().unwrap_or_else(|e| e.into_inner());
    // Bounded: a pid is taken back at most once, and only launched programs are children.
    if reaped.len() >= 64 {
        reaped.remove(0);
    }
    reaped.push((pid, status));
}

/// Every thread of a process, stopped until dropped. Not `Send` by its user's choice (ptrace
/// ties a tracee to the thread that seized it).
#[derive(Debug)]
pub struct ThreadStops {
    /// Threads seized, to detach.
    seized: Vec<i32>,
}

impl ThreadStops {
    /// Stop every thread of `pid`, including those that appear meanwhile. A thread that exits
    /// on the way is skipped; an error if none could be stopped, or on a refusal (EPERM) by a
    /// thread that still exists.
    pub fn stop_all(pid: i32) -> io::Result<ThreadStops> {
        let mut stops = ThreadStops { seized: Vec::new() };
        let mut tried = HashSet::new();
        loop {
            let tids = proc::tids(pid)?;
            let new: Vec<u32> = tids.into_iter().filter(|t| tried.insert(*t)).collect();
            if new.is_empty() {
                break;
            }
            for tid in new {
                stops.stop(pid, tid as i32)?;
            }
        }
        if stops.seized.is_empty() {
            return Err(io::Error::from_raw_os_error(libc::ESRCH));
        }
        Ok(stops)
    }

    fn stop(&mut self, pid: i32, tid: i32) -> io::Result<()> {
        // SAFETY: ptrace requests on a thread id, with integer arguments as documented.
        if unsafe { libc::ptrace(libc::PTRACE_SEIZE, tid, 0, OPTIONS) } != 0 {
            let e = io::Error::last_os_error();
            return match e.raw_os_error() {
                Some(libc::ESRCH) => Ok(()),
                // A thread on its way out refuses (EPERM) until it is gone.
                Some(libc::EPERM) if proc::task_stat(pid, tid as u32).is_err() => Ok(()),
                _ => Err(e),
            };
        }
        // From here on, detached on every path (drop).
        self.seized.push(tid);
        // SAFETY: as above, on a thread we seized.
        if unsafe { libc::ptrace(libc::PTRACE_INTERRUPT, tid, 0, 0) } != 0 {
            let e = io::Error::last_os_error();
            return if e.raw_os_error() == Some(libc::ESRCH) {
                Ok(())
            } else {
                Err(e)
            };
        }
        self.wait_for_stop(pid, tid)
    }

    /// Wait until `tid` is in a ptrace stop (or gone). Other signals that stop it on the way
    /// are handed back to it.
    fn wait_for_stop(&mut self, pid: i32, tid: i32) -> io::Result<()> {
        loop {
            let mut status = 0;
            // SAFETY: waits for one thread we trace; `status` is ours to fill.
            let r = unsafe { libc::waitpid(tid, &mut status, libc::__WALL) };
            if r < 0 {
                let e = io::Error::last_os_error();
                match e.raw_os_error() {
                    Some(libc::EINTR) => continue,
                    Some(libc::ECHILD) => return Ok(()),
                    _ => return Err(e),
                }
            }
            if libc::WIFEXITED(status) || libc::WIFSIGNALED(status) {
                // Gone: nothing to detach. The leader of a child of ours is reaped by this
                // wait, and its status is the program's.
                self.seized.retain(|&t| t != tid);
                if tid == pid {
                    keep_reaped_exit(pid, status);
                }
                return Ok(());
            }
            if libc::WIFSTOPPED(status) {
                let event = status >> 16;
                if event == libc::PTRACE_EVENT_STOP || event == libc::PTRACE_EVENT_EXIT {
                    return Ok(());
                }
                // A signal on its way to the thread: deliver it, and wait on (the interrupt
                // is still pending).
                let signal = libc::WSTOPSIG(status);
                // SAFETY: resumes a thread we trace, with the signal it was stopped by.
                unsafe { libc::ptrace(libc::PTRACE_CONT, tid, 0, signal as libc::c_long) };
            }
        }
    }

    /// Let threads of `pid` still traced by the calling thread go (see
    /// [`super::Target::pause`]): a thread killed while stopped can be on its way to its exit
    /// stop when the stop ends, and then refuses every later seize. Returns whether any was.
    pub fn release_leftovers(pid: i32) -> bool {
        // SAFETY: gettid has no preconditions.
        let me = unsafe { libc::gettid() };
        let mut released = false;
        for tid in proc::tids(pid).unwrap_or_default() {
            if proc::task_tracer(pid, tid) != Some(me) {
                continue;
            }
            let mut status = 0;
            // SAFETY: plain syscalls on a thread we trace; WNOHANG never blocks, and a failed
            // detach leaves things as they were.
            unsafe {
                let r = libc::waitpid(tid as i32, &mut status, libc::WNOHANG | libc::__WALL);
                if r > 0
                    && tid as i32 == pid
                    && (libc::WIFEXITED(status) || libc::WIFSIGNALED(status))
                {
                    keep_reaped_exit(pid, status);
                }
                released |= libc::ptrace(libc::PTRACE_DETACH, tid as libc::pid_t, 0, 0) == 0;
            }
        }
        released
    }
}

impl Drop for ThreadStops {
    fn drop(&mut self) {
        for &tid in &self.seized {
            // SAFETY: detaches a thread we seized; a failure (it is gone) changes nothing.
            unsafe { libc::ptrace(libc::PTRACE_DETACH, tid, 0, 0) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    #[test]
    fn stops_every_thread_and_lets_them_go() {
        let mut child = Command::new("sleep").arg("30").spawn().expect("sleep");
        let pid = child.id() as i32;
        {
            let _stops = ThreadStops::stop_all(pid).expect("ptrace (tests run as root)");
            assert_eq!(proc::task_stat(pid, pid as u32).unwrap().state, 't');
        }
        // Detached: running (sleeping) again, untraced.
        assert_eq!(proc::tracer(pid), Some(0));
        assert_ne!(proc::task_stat(pid, pid as u32).unwrap().state, 't');
        child.kill().unwrap();
        child.wait().unwrap();
    }
}
