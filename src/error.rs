//! Typed errors of the core. The CLI adds context with anyhow; these say what went wrong and
//! what the user can do about it.
use std::path::PathBuf;

/// Everything the reader can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No process has this pid.
    #[error("no process with pid {pid}: check the pid (`ps aux | grep python`)")]
    ProcessNotFound {
        /// The pid asked for.
        pid: i32,
    },
    /// The process went away (or became a zombie) while we were reading it.
    #[error(
        "process {pid} has exited (or is a zombie its parent has not reaped): there is nothing \
         left to profile; check the pid (`pgrep -a python`)"
    )]
    ProcessExited {
        /// The pid of the target.
        pid: i32,
    },
    /// The OS refused access to the target's memory.
    #[error("permission denied reading process {pid}: {hint}")]
    PermissionDenied {
        /// The pid of the target.
        pid: i32,
        /// What to do about it.
        hint: String,
    },
    /// The process does not look like a CPython interpreter.
    #[error("process {pid} does not look like Python: {detail}")]
    NotPython {
        /// The pid of the target.
        pid: i32,
        /// What we found instead (the binary, what was missing).
        detail: String,
    },
    /// A CPython version we have no layout for.
    #[error("Python {version} is not supported (supported: {supported})")]
    UnsupportedVersion {
        /// The version found in the target.
        version: String,
        /// The versions pyprobe knows.
        supported: String,
    },
    /// A read of target memory failed.
    #[error("could not read {len} bytes at {addr:#x} in the target: {source}")]
    Read {
        /// Target address.
        addr: u64,
        /// Bytes asked for.
        len: usize,
        /// The OS error.
        source: std::io::Error,
    },
    /// Memory that was read does not hold what the layout says (a racing or corrupt read).
    #[error("inconsistent target memory: {0}")]
    Invalid(String),
    /// A binary or library of the target could not be parsed.
    #[error("could not parse {path}: {detail}")]
    Binary {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        detail: String,
    },
    /// Any other I/O error (opening /proc files, ptrace).
    #[error("{context}: {source}")]
    Io {
        /// What we were doing.
        context: String,
        /// The OS error.
        source: std::io::Error,
    },
}

/// Result with the core [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// An `Error::Invalid` from anything displayable.
    pub fn invalid(msg: impl Into<String>) -> Self {
        Error::Invalid(msg.into())
    }
}

impl Error {
    /// A short category for counting errors in summaries (no addresses, so equal kinds group).
    pub fn kind(&self) -> String {
        match self {
            Error::ProcessNotFound { .. } => "process not found".into(),
            Error::ProcessExited { .. } => "process exited".into(),
            Error::PermissionDenied { .. } => "permission denied".into(),
            Error::NotPython { .. } => "not Python".into(),
            Error::UnsupportedVersion { .. } => "unsupported version".into(),
            Error::Read { source, .. } => read_failure_kind(source),
            Error::Invalid(msg) => {
                // The whole message, less numbers and addresses, so equal kinds group.
                let words: Vec<&str> = msg
                    .split_whitespace()
                    .filter(|w| !w.chars().next().is_some_and(|c| c.is_ascii_digit()))
                    .collect();
                format!("inconsistent memory ({})", words.join(" "))
            }
            Error::Binary { .. } => "unreadable binary".into(),
            Error::Io { context, .. } => format!("I/O ({context})"),
        }
    }
}

/// A failed read of target memory, named by what the OS said.
fn read_failure_kind(source: &std::io::Error) -> String {
    match source.raw_os_error() {
        Some(libc::EFAULT) | Some(libc::EIO) => "read of memory the target does not map".into(),
        Some(libc::ESRCH) => "target gone during the read".into(),
        Some(libc::EPERM) | Some(libc::EACCES) => "read refused by the OS".into(),
        Some(libc::ENOMEM) => "read failed: out of memory".into(),
        _ => {
            let text = source.to_string();
            let text = text.split(" (os error").next().unwrap_or_default();
            format!("read failed ({text})")
        }
    }
}

/// The reader of our standard output went away (`pyprobe dump | head`): not a failure to
/// report, the way `cat` or `grep` end quietly when their reader closes the pipe.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod kind_tests {
    use super::Error;

    #[test]
    fn every_kind_has_a_full_readable_name() {
        let read = |errno| Error::Read {
            addr: 0x7f00_dead_0000,
            len: 8,
            source: std::io::Error::from_raw_os_error(errno),
        };
        assert_eq!(
            read(libc::EFAULT).kind(),
            "read of memory the target does not map"
        );
        assert_eq!(read(libc::ESRCH).kind(), "target gone during the read");
        assert_eq!(read(libc::EPERM).kind(), "read refused by the OS");
        assert_eq!(read(libc::EINVAL).kind(), "read failed (Invalid argument)");
        let long = Error::invalid(
            "torn stack: the frame chain does not end at an entry frame 0x7f00 after 12 frames",
        );
        assert_eq!(
            long.kind(),
            "inconsistent memory (torn stack: the frame chain does not end at an entry frame \
             after frames)"
        );
        for e in [read(libc::EFAULT), read(libc::EINVAL), long] {
            assert!(!e.kind().contains("uncategorized"), "{}", e.kind());
        }
    }
}

#[cfg(test)]
mod broken_pipe_tests {
    use super::is_broken_pipe;

    #[test]
    fn only_a_closed_pipe_counts() {
        let pipe = std::io::Error::from(std::io::ErrorKind::BrokenPipe);
        assert!(is_broken_pipe(
            &anyhow::Error::new(pipe).context("writing the dump")
        ));
        let other = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        assert!(!is_broken_pipe(&anyhow::Error::new(other)));
        assert!(!is_broken_pipe(&anyhow::anyhow!("no such process")));
    }
}
