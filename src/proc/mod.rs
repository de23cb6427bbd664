//! The one reader of Linux's `/proc` (proc(5)): every other module asks here, in typed records.
//!
//! One-shot reads (attaching, `top`'s scan of the machine, permission hints) read the file and
//! parse it; the files read on every sample stay open and are re-read with one `pread`
//! ([`StatmReader`], [`StatusReader`], [`MeminfoReader`], [`ThreadStates`]). Errors are the
//! read's own `io::Error`, so callers can tell a process that is gone (`NotFound`) from one
//! they may not read (`PermissionDenied`).
//! https://man7.org/linux/man-pages/man5/proc.5.html
use std::io;
use std::path::{Path, PathBuf};

mod children;
mod kept_open;
mod maps;
mod parse;
mod tasks;

pub use children::{children_by_scan, ChildrenReader, CHILDREN_RELIST_EVERY};
pub(crate) use kept_open::read_start;
pub use kept_open::{
    Meminfo, MeminfoReader, StatmReader, StatusMemory, StatusReader, ThreadFaultsReader,
};
pub use maps::{maps, MapRegion};
pub use parse::Stat;
pub use procfs::ProcessCGroup;
pub use tasks::{ThreadStates, RELIST_EVERY};

const PROC: &str = "/proc";

/// `/proc/PID/<name>`.
pub(crate) fn pid_path(pid: i32, name: &str) -> PathBuf {
    PathBuf::from(format!("{PROC}/{pid}/{name}"))
}

/// `/proc/PID/task/TID/<name>`.
pub(crate) fn task_path(pid: i32, tid: u32, name: &str) -> PathBuf {
    PathBuf::from(format!("{PROC}/{pid}/task/{tid}/{name}"))
}

/// `/proc/<name>`, a file about the whole system.
pub(crate) fn system_path(name: &str) -> PathBuf {
    Path::new(PROC).join(name)
}

/// Whether a process (or a zombie) has pid `pid` now.
pub fn exists(pid: i32) -> bool {
    Path::new(PROC).join(pid.to_string()).exists()
}

/// The pids of every process now, in directory order.
pub fn pids() -> Vec<i32> {
    std::fs::read_dir(PROC)
        .map(|dir| {
            dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// `/proc/PID/stat`. `InvalidData` when it has no state field.
pub fn stat(pid: i32) -> io::Result<Stat> {
    parse_stat(&std::fs::read(pid_path(pid, "stat"))?)
}

/// `/proc/PID/task/TID/stat`: one thread's scheduler state and times.
pub fn task_stat(pid: i32, tid: u32) -> io::Result<Stat> {
    parse_stat(&std::fs::read(task_path(pid, tid, "stat"))?)
}

fn parse_stat(bytes: &[u8]) -> io::Result<Stat> {
    Stat::parse(bytes).ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no state field"))
}

/// The executable (`/proc/PID/exe`), as a path in the process's mount namespace, without the
/// kernel's ` (deleted)` mark. `NotFound` for kernel threads and processes that are exiting.
pub fn exe(pid: i32) -> io::Result<PathBuf> {
    std::fs::read_link(pid_path(pid, "exe")).map(parse::strip_deleted)
}

/// The command line (`/proc/PID/cmdline`), one string per argument.
pub fn cmdline(pid: i32) -> io::Result<Vec<String>> {
    std::fs::read(pid_path(pid, "cmdline")).map(|b| parse::cmdline(&b))
}

/// The auxiliary vector (`/proc/PID/auxv`) as raw bytes: written by the kernel at each `execve`.
pub fn auxv(pid: i32) -> io::Result<Vec<u8>> {
    std::fs::read(pid_path(pid, "auxv"))
}

/// The thread ids of process `pid` (`/proc/PID/task`), sorted; the main thread's is the pid.
pub fn tids(pid: i32) -> io::Result<Vec<u32>> {
    let mut tids: Vec<u32> = std::fs::read_dir(pid_path(pid, "task"))?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    tids.sort_unstable();
    Ok(tids)
}

/// The resident set size of `pid` in bytes, read once (`/proc/PID/statm`).
pub fn rss_bytes(pid: i32) -> Option<u64> {
    StatmReader::open(pid).ok()?.rss_bytes().ok()
}

/// A line of `/proc/PID/status` (`/proc/self/status` for `None`), or of one thread's status
/// for `tid`; the text after the key, trimmed.
fn status_field(pid: Option<i32>, tid: Option<u32>, key: &str) -> Option<String> {
    let path = match (pid, tid) {
        (Some(pid), Some(tid)) => task_path(pid, tid, "status"),
        (Some(pid), None) => pid_path(pid, "status"),
        (None, _) => system_path("self/status"),
    };
    let text = std::fs::read_to_string(path).ok()?;
    parse::field(&text, key).map(str::to_string)
}

/// The real uid owning process `pid` (`Uid:` in its status).
pub fn uid(pid: i32) -> Option<u32> {
    status_field(Some(pid), None, "Uid:")?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The pid of the process tracing `pid` (0: none), `TracerPid:` in its status.
pub fn tracer(pid: i32) -> Option<i32> {
    status_field(Some(pid), None, "TracerPid:")?.parse().ok()
}

/// The tid of the thread tracing thread `tid` of `pid` (0: none). A tracer is a thread, and
/// each thread of a process is traced on its own.
pub fn task_tracer(pid: i32, tid: u32) -> Option<i32> {
    status_field(Some(pid), Some(tid), "TracerPid:")?
        .parse()
        .ok()
}

/// This process's effective capabilities (`CapEff:` of `/proc/self/status`).
pub fn own_effective_capabilities() -> Option<u64> {
    u64::from_str_radix(&status_field(None, None, "CapEff:")?, 16).ok()
}

/// The cgroups of `pid` (`/proc/PID/cgroup`); empty when unreadable.
pub fn cgroups(pid: i32) -> Vec<ProcessCGroup> {
    procfs::process::Process::new(pid)
        .and_then(|p| p.cgroups())
        .map(|c| c.0)
        .unwrap_or_default()
}

/// Total and available memory of the system (`/proc/meminfo`), read once.
pub fn meminfo() -> Meminfo {
    std::fs::read(system_path("meminfo"))
        .map(|text| Meminfo::parse(&text))
        .unwrap_or_default()
}

/// Seconds since boot (`/proc/uptime`).
pub fn uptime() -> Option<f64> {
    use procfs::Current;
    procfs::Uptime::current().ok().map(|u| u.uptime)
}

/// The file of kernel setting `key` (`/proc/sys/<key>`, e.g. `kernel/yama/ptrace_scope`).
pub fn sysctl_path(key: &str) -> PathBuf {
    system_path("sys").join(key)
}

/// A numeric kernel setting (`/proc/sys/<key>`); `None` if absent or unreadable (a container
/// may hide `/proc/sys`).
pub fn sysctl(key: &str) -> Option<u32> {
    std::fs::read_to_string(sysctl_path(key))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// `path` as process `pid` sees it, through `/proc/PID/root`: in a container (another mount
/// namespace) its own files, not the host's files of the same name.
pub fn root_path(pid: i32, path: &Path) -> PathBuf {
    let relative = path.strip_prefix("/").unwrap_or(path);
    pid_path(pid, "root").join(relative)
}

/// The path that names this process's descriptor `fd` (`/proc/self/fd/N`).
pub fn own_fd_path(fd: i32) -> PathBuf {
    system_path("self/fd").join(fd.to_string())
}

/// The descriptor number in a path that names one of this process's own descriptors
/// (`/proc/self/fd/N`, `/proc/thread-self/fd/N`, `/dev/fd/N`), still as text.
pub fn own_fd_number(path: &str) -> Option<&str> {
    ["/proc/self/fd/", "/proc/thread-self/fd/", "/dev/fd/"]
        .iter()
        .find_map(|prefix| path.strip_prefix(prefix))
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
    fn own_process() {
        let pid = std::process::id() as i32;
        assert!(exists(pid) && !exists(i32::MAX - 1));
        assert!(pids().contains(&pid));
        let s = stat(pid).unwrap();
        assert!(!s.is_zombie() && !s.is_kernel_thread());
        assert!(s.start_time.is_some() && s.cpu_ticks().is_some());
        // This thread runs while it asks.
        assert_eq!(task_stat(pid, gettid()).unwrap().state, 'R');
        assert_eq!(exe(pid).unwrap(), std::env::current_exe().unwrap());
        assert_eq!(cmdline(pid).unwrap(), std::env::args().collect::<Vec<_>>());
        assert!(!auxv(pid).unwrap().is_empty());
        let tids = tids(pid).unwrap();
        assert!(tids.contains(&(pid as u32)) && tids.contains(&gettid()));
        assert!(tids.windows(2).all(|w| w[0] < w[1]));
        assert!(rss_bytes(pid).unwrap() > 1 << 20);
        // SAFETY: getuid cannot fail.
        assert_eq!(uid(pid), Some(unsafe { libc::getuid() }));
        assert_eq!(task_tracer(pid, gettid()), tracer(pid));
        assert!(own_effective_capabilities().is_some());
        assert!(!cgroups(pid).is_empty());
        let m = meminfo();
        assert!(m.total.unwrap() >= m.available.unwrap());
        assert!(uptime().unwrap() > 0.0);
        assert!(sysctl("kernel/pid_max").unwrap() > 300);
        assert_eq!(sysctl("kernel/no_such_setting"), None);
    }

    #[test]
    fn a_missing_process_is_not_found() {
        let gone = i32::MAX - 1;
        for kind in [
            stat(gone).map(|_| ()).map_err(|e| e.kind()),
            exe(gone).map(|_| ()).map_err(|e| e.kind()),
            tids(gone).map(|_| ()).map_err(|e| e.kind()),
        ] {
            assert_eq!(kind, Err(io::ErrorKind::NotFound));
        }
        assert_eq!((uid(gone), rss_bytes(gone)), (None, None));
        assert!(cgroups(gone).is_empty());
    }

    #[test]
    fn paths() {
        assert_eq!(
            root_path(7, Path::new("/usr/lib/libpython3.so")),
            Path::new("/proc/7/root/usr/lib/libpython3.so")
        );
        assert_eq!(own_fd_path(1), Path::new("/proc/self/fd/1"));
        assert_eq!(own_fd_number("/proc/self/fd/12"), Some("12"));
        assert_eq!(own_fd_number("/proc/thread-self/fd/3"), Some("3"));
        assert_eq!(own_fd_number("/dev/fd/0"), Some("0"));
        assert_eq!(own_fd_number("/dev/stdout"), None);
        assert_eq!(
            sysctl_path("fs/protected_regular"),
            Path::new("/proc/sys/fs/protected_regular")
        );
    }
}
