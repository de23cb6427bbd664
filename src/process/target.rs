//! A target process by pid: existence checks, executable and command line, threads and their
//! run states, memory maps, and pausing.
use std::collections::HashMap;
use std::io;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use super::elf::ElfFile;
use super::live::LiveReader;
use super::maps::ProcessMaps;
use super::permissions::permission_hint;
use super::ptrace_stop::ThreadStops;
use crate::display::one_line;
use crate::error::{Error, Result};
use crate::proc;

/// A running process we read from.
#[derive(Debug)]
pub struct Target {
    pid: i32,
    exe: PathBuf,
    cmdline: Vec<String>,
    /// `starttime` of `/proc/PID/stat` at open: if the pid is reused by a new process, this
    /// changes, so `is_alive` does not mistake the newcomer for our target.
    start_time: u64,
    /// `/proc/PID/auxv` at open (`None` if unreadable). The kernel writes a new auxiliary vector
    /// on every `execve` (entry point, vDSO and `AT_RANDOM` addresses, randomized by ASLR), and
    /// the process cannot change it: a different one means the program was replaced.
    auxv: Option<Vec<u8>>,
    reader: LiveReader,
}

/// Keeps every thread of the target stopped (ptrace) until dropped.
///
/// Not `Send`: ptrace ties a tracee to the tracing *thread*, so detaching (on drop) from another
/// thread would fail and leave the target stopped until we exit.
pub struct PauseGuard {
    _stops: ThreadStops,
    _not_send: PhantomData<*const ()>,
}

impl std::fmt::Debug for PauseGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PauseGuard")
    }
}

impl PauseGuard {
    /// Whether thread `tid` is stopped inside a system call that the stop interrupted, or on its
    /// way back into one to restart it: it was blocked (a lock, a sleep, a wait for I/O). Such a thread can read `R` just before the
    /// pause only because the previous pause woke it and it had not blocked again yet (seen
    /// in 9 of 3,000 samples of a waiting thread at 1 kHz on an idle machine, more on a busy
    /// one). A thread stopped in user code, or unreadable, is not.
    pub fn stopped_in_blocking_call(&self, tid: u32) -> bool {
        super::blocked::stopped_in_blocking_call(tid)
    }
}

impl Target {
    /// Attach to process `pid` (without stopping it): checks it exists and is not a zombie, and
    /// reads its executable path and command line.
    pub fn open(pid: i32) -> Result<Target> {
        if pid <= 0 {
            return Err(Error::ProcessNotFound { pid });
        }
        let stat = match proc::stat(pid) {
            Ok(s) => s,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(Error::ProcessNotFound { pid })
            }
            Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                return Err(Error::Io {
                    context: format!("parsing /proc/{pid}/stat"),
                    source: e,
                })
            }
            Err(e) => return Err(io_error(pid, "reading stat", e)),
        };
        if stat.is_zombie() {
            return Err(Error::ProcessExited { pid });
        }
        let start_time = stat.start_time.unwrap_or(0);
        let exe = match proc::exe(pid) {
            Ok(p) => p,
            // Kernel threads have no executable; nor has a process that is exiting (its
            // memory is released before it becomes a zombie).
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(if stat.is_kernel_thread() {
                    Error::NotPython {
                        pid,
                        detail: "it is a kernel thread, with no executable".into(),
                    }
                } else {
                    Error::ProcessExited { pid }
                })
            }
            Err(e) => return Err(io_error(pid, "reading the executable path", e)),
        };
        let cmdline =
            proc::cmdline(pid).map_err(|e| io_error(pid, "reading the command line", e))?;
        let auxv = proc::auxv(pid).ok();
        Ok(Target {
            pid,
            exe,
            cmdline,
            start_time,
            auxv,
            reader: LiveReader::new(pid),
        })
    }

    /// The pid.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// The executable (`/proc/PID/exe`), as a path in the target's mount namespace.
    pub fn exe(&self) -> &Path {
        &self.exe
    }

    /// The command line, one string per argument.
    pub fn cmdline(&self) -> &[String] {
        &self.cmdline
    }

    /// The command line joined by spaces, for titles; the executable path if it is empty.
    pub fn cmdline_string(&self) -> String {
        if self.cmdline.is_empty() {
            one_line(&self.exe.display().to_string())
        } else {
            one_line(&self.cmdline.join(" "))
        }
    }

    /// The reader for the target's memory.
    pub fn reader(&self) -> &LiveReader {
        &self.reader
    }

    /// The current memory maps.
    pub fn maps(&self) -> Result<ProcessMaps> {
        ProcessMaps::read(self.pid)
    }

    /// Parse a binary mapped in the target (its path as the target sees it).
    pub fn open_elf(&self, path: &Path) -> Result<std::sync::Arc<ElfFile>> {
        ElfFile::open_for_pid_shared(self.pid, path)
    }

    /// Whether the process is still running (not gone, not a zombie, and not a new process
    /// that reused the pid).
    pub fn is_alive(&self) -> bool {
        let Ok(stat) = proc::stat(self.pid) else {
            return false;
        };
        // An exiting process releases its memory (and its executable link) a moment before
        // it turns zombie: without memory it is gone for us.
        let exiting = || proc::exe(self.pid).is_err_and(|e| e.kind() == io::ErrorKind::NotFound);
        !stat.is_zombie() && stat.start_time.unwrap_or(0) == self.start_time && !exiting()
    }

    /// If the process has replaced its program (`execve`) since it was opened, the executable
    /// it runs now. Same pid, same start time, but none of the memory we knew: its old
    /// addresses mean nothing any more. Detected by a new auxiliary vector or a new executable;
    /// with ASLR off, an exec of the same binary goes unnoticed here (the walker then either
    /// reads the new interpreter at the same addresses or fails like on any bad read).
    pub fn exec_change(&self) -> Option<PathBuf> {
        let exe = proc::exe(self.pid).ok()?;
        let auxv = proc::auxv(self.pid).ok();
        let new_auxv = matches!((&self.auxv, &auxv), (Some(old), Some(new)) if old != new);
        (new_auxv || exe != self.exe).then_some(exe)
    }

    /// Whether this process is a fork of `parent` that has not exec'd since: the same
    /// executable and the same auxiliary vector (the kernel writes one at each exec; a fork
    /// copies it), so the same memory layout, interpreter included.
    pub fn forked_from(&self, parent: &Target) -> bool {
        self.exe == parent.exe && self.auxv.is_some() && self.auxv == parent.auxv
    }

    /// OS thread ids (`/proc/PID/task`), sorted; the main thread's tid is the pid.
    pub fn threads(&self) -> Result<Vec<u32>> {
        proc::tids(self.pid).map_err(|e| self.gone_or(e, "listing threads"))
    }

    /// The scheduler state letter of thread `tid` (`R` running, `S` sleeping, `D` disk wait,
    /// `T`/`t` stopped, `Z` zombie, …), `None` if the thread is gone.
    pub fn thread_state(&self, tid: u32) -> Option<char> {
        proc::task_stat(self.pid, tid).ok().map(|s| s.state)
    }

    /// Whether thread `tid` is running or runnable (`R`). Sleeping, waiting on I/O, stopped or
    /// gone threads count as idle.
    pub fn thread_is_active(&self, tid: u32) -> bool {
        self.thread_state(tid) == Some('R')
    }

    /// The state letter of every thread (see [`Target::thread_state`]).
    pub fn thread_states(&self) -> Result<HashMap<u32, char>> {
        Ok(self
            .threads()?
            .into_iter()
            .filter_map(|tid| Some((tid, self.thread_state(tid)?)))
            .collect())
    }

    /// Stop every thread of the target (ptrace) until the guard is dropped. The target is
    /// resumed on every path out, including early returns and panics.
    pub fn pause(&self) -> Result<PauseGuard> {
        let stops = match ThreadStops::stop_all(self.pid) {
            Ok(stops) => stops,
            // A thread still traced by us refuses a new seize (EPERM): try once more after
            // letting it go.
            Err(e)
                if e.raw_os_error() == Some(libc::EPERM)
                    && ThreadStops::release_leftovers(self.pid) =>
            {
                ThreadStops::stop_all(self.pid).map_err(|e| self.pause_error(e))?
            }
            Err(e) => return Err(self.pause_error(e)),
        };
        Ok(PauseGuard {
            _stops: stops,
            _not_send: PhantomData,
        })
    }

    fn pause_error(&self, io: io::Error) -> Error {
        match io.raw_os_error() {
            Some(libc::EPERM) | Some(libc::EACCES) => Error::PermissionDenied {
                pid: self.pid,
                hint: permission_hint(self.pid),
            },
            Some(libc::ESRCH) | Some(libc::ENOENT) => Error::ProcessExited { pid: self.pid },
            _ => io_error(self.pid, "pausing the process", io),
        }
    }

    /// A /proc read failed: the process exited if its directory is gone, otherwise I/O.
    fn gone_or(&self, e: io::Error, what: &str) -> Error {
        if e.kind() == io::ErrorKind::NotFound {
            Error::ProcessExited { pid: self.pid }
        } else {
            io_error(self.pid, what, e)
        }
    }
}

fn io_error(pid: i32, what: &str, source: io::Error) -> Error {
    if matches!(
        source.raw_os_error(),
        Some(libc::EACCES) | Some(libc::EPERM)
    ) {
        return Error::PermissionDenied {
            pid,
            hint: permission_hint(pid),
        };
    }
    Error::Io {
        context: format!("process {pid}: {what}"),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::process::ReadExt;
    use crate::process::{MappedFile, MemoryReader};
    use std::io::{BufRead, BufReader};
    use std::process::{Child, Command, Stdio};

    const PYENV_PY: &str = "/root/.pyenv/versions/3.11.7/bin/python";

    /// Kills and reaps the child however the test ends.
    struct ChildGuard(Child);

    impl Drop for ChildGuard {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    /// A Python that has finished starting up: we wait for its "ready" line, never sleep.
    fn spawn_python() -> Option<ChildGuard> {
        spawn_python_running("import time; print('ready', flush=True); time.sleep(30)")
    }

    /// A Python running `code`, which prints "ready" once started.
    fn spawn_python_running(code: &str) -> Option<ChildGuard> {
        if !Path::new(PYENV_PY).exists() {
            eprintln!("skipping: {PYENV_PY} not installed");
            return None;
        }
        let child = Command::new(PYENV_PY)
            .args(["-c", code])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut guard = ChildGuard(child);
        let stdout = guard.0.stdout.take().unwrap();
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "ready");
        Some(guard)
    }

    #[test]
    fn open_self_and_missing() {
        let me = Target::open(std::process::id() as i32).unwrap();
        assert!(me.is_alive());
        assert!(!me.cmdline().is_empty());
        assert_eq!(me.exe(), std::env::current_exe().unwrap());
        assert!(me.threads().unwrap().contains(&(std::process::id())));
        // This test thread is running while it asks.
        // SAFETY: gettid has no preconditions.
        let tid = unsafe { libc::gettid() } as u32;
        assert!(me.thread_is_active(tid));
        assert_eq!(me.thread_states().unwrap().get(&tid), Some(&'R'));
        assert!(matches!(
            Target::open(i32::MAX - 1),
            Err(Error::ProcessNotFound { .. })
        ));
        assert!(matches!(
            Target::open(0),
            Err(Error::ProcessNotFound { .. })
        ));
    }

    #[test]
    fn zombie_is_exited() {
        let mut child = Command::new("/bin/true").spawn().unwrap();
        let pid = child.id() as i32;
        // Wait for it to exit without reaping it: it stays a zombie until `wait`.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: info is a valid out-pointer; WNOWAIT leaves the child reapable.
        let rc = unsafe {
            libc::waitid(
                libc::P_PID,
                pid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOWAIT,
            )
        };
        assert_eq!(rc, 0);
        assert!(matches!(
            Target::open(pid),
            Err(Error::ProcessExited { .. })
        ));
        child.wait().unwrap();
    }

    #[test]
    fn python_child_maps_bias_threads_pause() {
        let Some(child) = spawn_python() else { return };
        let pid = child.0.id() as i32;
        let target = Target::open(pid).unwrap();
        assert!(target.cmdline_string().contains("time.sleep(30)"));
        assert!(target.threads().unwrap().contains(&(pid as u32)));
        // Once in time.sleep the thread is idle. "ready" is printed just before the sleep
        // starts, so poll the state (bounded) rather than assert at once.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while target.thread_state(pid as u32) != Some('S') {
            assert!(std::time::Instant::now() < deadline, "child never slept");
            std::thread::yield_now();
        }
        assert!(!target.thread_is_active(pid as u32));

        // _PyRuntime in the child = libpython's load bias + the symbol's file vaddr.
        let maps = target.maps().unwrap();
        let lib: MappedFile = maps.libpython().expect("pyenv python links libpython");
        assert!(maps.executable(target.exe()).is_some());
        let elf = target.open_elf(&lib.path).unwrap();
        let bias = lib.load_bias(elf.first_load_vaddr().unwrap());
        let rt = elf.symbol("_PyRuntime").unwrap();
        let addr = bias + rt.addr;
        assert!(maps.is_readable(addr, rt.size));
        let mut buf = vec![0u8; rt.size as usize];
        target.reader().read_into(addr, &mut buf).unwrap();
        // A started interpreter has a non-null interpreter list head somewhere in there.
        assert!(buf.iter().any(|&b| b != 0));
        // Py_Version (3.11+) is PY_VERSION_HEX: 3.11.7 final = 0x030b07f0.
        let ver = target
            .reader()
            .read_u32(bias + elf.find_symbol("Py_Version").unwrap())
            .unwrap();
        assert_eq!(ver, 0x030b_07f0);
        print_cross_process_timing(target.reader(), addr);
        let ranges = maps.writable_ranges(&lib);
        assert!(ranges.iter().any(|&(s, e)| s <= addr && addr < e));

        {
            let paused = target.pause().unwrap();
            assert!(matches!(
                target.thread_state(pid as u32),
                Some('t') | Some('T')
            ));
            assert!(
                paused.stopped_in_blocking_call(pid as u32),
                "stopped inside time.sleep"
            );
            // Memory can still be read while paused.
            target.reader().read_u32(bias + rt.addr).unwrap();
        }
        let state = target.thread_state(pid as u32).unwrap();
        assert!(!matches!(state, 't' | 'T'), "still stopped: {state}");
        assert!(target.is_alive());
    }

    /// Not an assertion: what a read of *another* process costs (`-- --nocapture`).
    fn print_cross_process_timing(r: &LiveReader, addr: u64) {
        let n = 5_000;
        let t = std::time::Instant::now();
        for _ in 0..n {
            r.read_u64(addr).unwrap();
        }
        let one = t.elapsed() / n;
        let (mut x, mut y, mut z) = ([0u8; 8], [0u8; 64], [0u8; 16]);
        let t = std::time::Instant::now();
        for _ in 0..n {
            r.read_batch(&mut [
                (addr, &mut x[..]),
                (addr + 256, &mut y[..]),
                (addr + 4096, &mut z[..]),
            ])
            .unwrap();
        }
        let batch = t.elapsed() / n;
        println!("cross-process process_vm_readv: 8-byte read {one:?}, 3-region batch {batch:?}");
    }

    #[test]
    fn a_thread_stopped_in_user_code_is_not_in_a_blocking_call() {
        let code = "print('ready', flush=True)\nwhile True: pass";
        let Some(child) = spawn_python_running(code) else {
            return;
        };
        let pid = child.0.id() as i32;
        let target = Target::open(pid).unwrap();
        let paused = target.pause().unwrap();
        assert!(!paused.stopped_in_blocking_call(pid as u32));
        // Not a thread we hold stopped: unreadable, so not "blocked".
        assert!(!paused.stopped_in_blocking_call(std::process::id()));
    }

    #[test]
    fn pause_is_released_on_early_return() {
        let Some(child) = spawn_python() else { return };
        let pid = child.0.id() as i32;
        let target = Target::open(pid).unwrap();
        let early = |t: &Target| -> Result<()> {
            let _g = t.pause()?;
            t.reader().read_u64(8)?; // fails: the guard still resumes the target
            Ok(())
        };
        assert!(early(&target).is_err());
        assert_ne!(target.thread_state(pid as u32), Some('t'));
        assert_ne!(target.thread_state(pid as u32), Some('T'));
    }

    #[test]
    fn exited_child_is_not_alive() {
        let Some(mut child) = spawn_python() else {
            return;
        };
        let target = Target::open(child.0.id() as i32).unwrap();
        child.0.kill().unwrap();
        child.0.wait().unwrap();
        assert!(!target.is_alive());
        assert!(matches!(target.threads(), Err(Error::ProcessExited { .. })));
        assert!(matches!(
            target.reader().read_u64(0x1000),
            Err(Error::ProcessExited { .. })
        ));
    }
}
