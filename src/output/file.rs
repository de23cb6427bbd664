//! Writing the output: atomically where it is a file (a recording is never left half-written
//! or truncated), straight through where it is a stream (`-o /dev/stdout`, a pipe, a terminal).
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::{FromRawFd, RawFd};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

use super::protected::{check_follow, check_replace, user};

/// Where the bytes of `-o PATH` go.
#[derive(Debug, PartialEq, Eq)]
enum Destination {
    /// A regular file, or nothing yet, at this path (a symbolic link's target, so the link
    /// stays): written to a temporary sibling and renamed over it.
    Replace(PathBuf),
    /// A pipe, terminal or device, e.g. `/dev/stdout` → `/proc/self/fd/1` → a pipe: written in
    /// place. A rename would replace the link or device node itself: as root, `-o /dev/stdout`
    /// once turned the system's `/dev/stdout` into a regular file.
    Stream(PathBuf),
    /// One of our own open descriptors (`-`, `/dev/stdout`, `/dev/fd/N`, `/proc/self/fd/N`):
    /// written through a duplicate, which keeps its position and append mode. Opened anew by
    /// path, `-o /dev/stdout >> log` would truncate the log.
    Descriptor(RawFd),
}

/// Most links followed to a link's missing target (the kernel's own limit is 40).
const MAX_LINKS: usize = 40;

/// `-o -`: standard output, the Unix convention (a file named `-` is `./-`).
pub const STDOUT_PATH: &str = "-";

/// Where `-o path` goes; an error where the kernel would refuse to go there (see
/// [`super::protected`]).
fn destination(path: &Path) -> anyhow::Result<Destination> {
    if path == Path::new(STDOUT_PATH) {
        return Ok(Destination::Descriptor(1));
    }
    if let Some(fd) = own_descriptor(path)? {
        return Ok(Destination::Descriptor(fd));
    }
    let is_link = fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
    let found = match fs::metadata(path) {
        // Opened by path: the kernel follows any link itself, with its own checks.
        Ok(m) if !m.is_file() && !m.is_dir() => Destination::Stream(path.into()),
        // Only the final links are followed here; the kernel follows any in the directories
        // on the way when the file is created and renamed. A link to a deleted file
        // (/proc/PID/fd/N) leads nowhere and is written through as a stream.
        Ok(_) if is_link => match final_target(path)? {
            Some(target) if fs::metadata(&target).is_ok() => Destination::Replace(target),
            _ => Destination::Stream(path.into()),
        },
        Ok(_) => Destination::Replace(path.into()),
        // A dangling link: `>` would create the file it points to.
        Err(_) if is_link => {
            final_target(path)?.map_or(Destination::Stream(path.into()), Destination::Replace)
        }
        Err(_) => Destination::Replace(path.into()),
    };
    if let Destination::Replace(file) = &found {
        check_replace(file)?;
    }
    Ok(found)
}

/// The descriptor number `path` names, directly or through links (`/dev/stdout` →
/// `/proc/self/fd/1`), if it names one of this process's own descriptors.
fn own_descriptor(asked: &Path) -> anyhow::Result<Option<RawFd>> {
    let mut path = asked.to_path_buf();
    for _ in 0..MAX_LINKS {
        let Some(text) = path.to_str() else {
            return Ok(None);
        };
        if let Some(number) = crate::proc::own_fd_number(text) {
            return Ok(number.parse().ok());
        }
        let Ok(target) = fs::read_link(&path) else {
            return Ok(None);
        };
        check_follow(&path, asked)?;
        path = parent_dir(&path).join(target);
    }
    Ok(None)
}

/// Where the chain of links at `path` ends (the file, or where `>` would create it), each link
/// followed only where the kernel would follow it; `None` past [`MAX_LINKS`].
fn final_target(asked: &Path) -> anyhow::Result<Option<PathBuf>> {
    let mut path = asked.to_path_buf();
    for _ in 0..MAX_LINKS {
        if !fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink()) {
            return Ok(Some(path));
        }
        let Ok(target) = fs::read_link(&path) else {
            return Ok(None);
        };
        check_follow(&path, asked)?;
        path = parent_dir(&path).join(target);
    }
    Ok(None)
}

/// Write the output at `path`: a file atomically (see [`replace_file`]; through a symbolic
/// link, its target is replaced and the link kept), a stream (pipe, terminal, device) in place.
/// `write` gets a buffered writer.
pub fn write_file_atomic<P, F>(path: P, write: F) -> anyhow::Result<()>
where
    P: AsRef<Path>,
    F: FnOnce(&mut dyn Write) -> anyhow::Result<()>,
{
    match destination(path.as_ref())? {
        Destination::Replace(file) => replace_file(&file, write),
        Destination::Stream(stream) => {
            refuse_block_device(&stream, path.as_ref())?;
            write_stream(&stream, write)
        }
        Destination::Descriptor(fd) => {
            refuse_block_device(&descriptor_path(fd), path.as_ref())?;
            write_descriptor(fd, path.as_ref(), write)
        }
    }
}

/// Check, before recording, that `path` can be written, so that a long recording is not lost
/// to a bad output path.
pub fn check_writable<P: AsRef<Path>>(path: P) -> anyhow::Result<()> {
    let path = path.as_ref();
    match destination(path)? {
        Destination::Replace(file) => check_replaceable(&file),
        Destination::Stream(stream) => {
            refuse_block_device(&stream, path)?;
            if fs::metadata(&stream).is_ok() && !writable_by_us(&stream) {
                bail!("cannot write {}: not writable for you", path.display());
            }
            Ok(())
        }
        Destination::Descriptor(fd) => {
            refuse_block_device(&descriptor_path(fd), path)?;
            // SAFETY: F_GETFL only reads the flags of a descriptor number; no memory involved.
            let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
            if flags < 0 || flags & libc::O_ACCMODE == libc::O_RDONLY {
                bail!(
                    "cannot write {}: descriptor {fd} is not open for writing",
                    path.display()
                );
            }
            Ok(())
        }
    }
}

fn descriptor_path(fd: RawFd) -> PathBuf {
    crate::proc::own_fd_path(fd)
}

/// Write through a duplicate of our descriptor `fd`: its file position and append mode are
/// kept, as for a shell's `>/dev/stdout`.
fn write_descriptor(
    fd: RawFd,
    asked: &Path,
    write: impl FnOnce(&mut dyn Write) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    // SAFETY: dup only creates a new descriptor; on success we own it (closed by `File`).
    let copy = unsafe { libc::dup(fd) };
    if copy < 0 {
        bail!(
            "cannot write {}: descriptor {fd} is not open",
            asked.display()
        );
    }
    // SAFETY: `copy` is a fresh descriptor owned by nothing else.
    write_through(unsafe { File::from_raw_fd(copy) }, asked, write)
}

/// A disk (`-o /dev/sda`, a slip of the finger) is never where a profile belongs: writing it
/// as root would overwrite the start of the disk.
fn refuse_block_device(stream: &Path, asked: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::FileTypeExt;
    if fs::metadata(stream).is_ok_and(|m| m.file_type().is_block_device()) {
        bail!(
            "cannot write {}: it is a block device (a disk); choose a file",
            asked.display()
        );
    }
    Ok(())
}

/// Write into a pipe, terminal or device as `>` would: no temporary file, no rename, no fsync
/// (a pipe cannot be synced).
fn write_stream(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    write_through(file, path, write)
}

/// `write` into `file` through a buffer, flushed at the end; errors name `asked`.
fn write_through(
    file: File,
    asked: &Path,
    write: impl FnOnce(&mut dyn Write) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut buffered = io::BufWriter::new(file);
    write(&mut buffered).with_context(|| format!("writing {}", asked.display()))?;
    buffered
        .flush()
        .with_context(|| format!("writing {}", asked.display()))
}

/// The directory a file at `path` lives in (`.` for a bare file name).
pub(super) fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// `.{name}.{tag}-{pid}` next to `path`, with `-{n}` after it from the second try on.
fn sibling_temp_path(path: &Path, tag: &str, n: u32) -> anyhow::Result<PathBuf> {
    let Some(name) = path.file_name() else {
        bail!("output path {} does not name a file", path.display());
    };
    let mut temp_name = std::ffi::OsString::from(".");
    temp_name.push(name);
    temp_name.push(format!(".{tag}-{}", std::process::id()));
    if n > 0 {
        temp_name.push(format!("-{n}"));
    }
    Ok(parent_dir(path).join(temp_name))
}

/// Create a new file beside `path` (see [`sibling_temp_path`]) with permission bits `mode`
/// (less the umask). `O_EXCL`: never an existing file, nor a link planted under the name by
/// another user of the directory; a name taken is skipped.
fn create_sibling(path: &Path, tag: &str, mode: u32) -> anyhow::Result<(File, PathBuf)> {
    let mut n = 0;
    loop {
        let temp = sibling_temp_path(path, tag, n)?;
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&temp)
        {
            Ok(file) => return Ok((file, temp)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && n < 100 => n += 1,
            Err(e) => return Err(anyhow::Error::new(e).context(temp.display().to_string())),
        }
    }
}

/// Give the new `file` the permission bits, owner and group of `old`, the file it replaces:
/// a profile written over a file keeps who may read it and whose it is (as root, it would
/// otherwise become root's). Set-id and sticky bits are not copied: a profile is no program.
/// Only root may give a file away: otherwise the file becomes ours, and we say so.
fn keep_owner_and_mode(file: &File, old: &fs::Metadata, path: &Path) -> anyhow::Result<()> {
    file.set_permissions(fs::Permissions::from_mode(old.mode() & 0o777))
        .with_context(|| format!("setting the mode of {}", path.display()))?;
    let new = file.metadata()?;
    if (new.uid(), new.gid()) == (old.uid(), old.gid()) {
        return Ok(());
    }
    if let Err(e) = std::os::unix::fs::fchown(file, Some(old.uid()), Some(old.gid())) {
        // A member of the file's group may still keep the group.
        let _ = std::os::unix::fs::fchown(file, None, Some(old.gid()));
        if new.uid() == old.uid() {
            return Ok(());
        }
        crate::say!(
            "pyprobe: note: {} now belongs to {}, not {} ({e})",
            path.display(),
            user(new.uid()),
            user(old.uid())
        );
    }
    Ok(())
}

/// Removes the temporary file when dropped, unless disarmed (after a successful rename). Covers
/// errors and panics in the writing closure alike.
struct TempGuard {
    path: PathBuf,
    armed: bool,
}

impl Drop for TempGuard {
    fn drop(&mut self) {
        if self.armed {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// `write` fills a temporary file in the same directory (`.NAME.tmp-PID`), which is then
/// flushed, fsynced and renamed over `path`. If `write` fails or panics, or anything else fails,
/// the temporary file is removed and `path` is untouched: it is either absent or holds its
/// previous complete contents, never a partial write.
fn replace_file(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let old = fs::symlink_metadata(path).ok().filter(|m| m.is_file());
    // Private while written when it replaces a file (its mode is copied before the rename);
    // a new file gets the usual 0666 less the umask, as `>` would give it.
    let mode = if old.is_some() { 0o600 } else { 0o666 };
    let (file, temp) = create_sibling(path, "tmp", mode).context("cannot create temporary file")?;
    let mut guard = TempGuard {
        path: temp,
        armed: true,
    };

    let mut buffered = io::BufWriter::new(file);
    write(&mut buffered).with_context(|| format!("writing {}", path.display()))?;
    let file = buffered
        .into_inner()
        .map_err(|e| e.into_error())
        .with_context(|| format!("writing {}", guard.path.display()))?;
    if let Some(old) = &old {
        keep_owner_and_mode(&file, old, path)?;
    }
    file.sync_all()
        .with_context(|| format!("syncing {}", guard.path.display()))?;
    drop(file);
    fs::rename(&guard.path, path).with_context(|| {
        format!(
            "cannot rename {} to {}",
            guard.path.display(),
            path.display()
        )
    })?;
    guard.armed = false;
    // Make the rename itself durable; best effort (not every platform can open a directory).
    if let Ok(dir) = File::open(parent_dir(path)) {
        let _ = dir.sync_all();
    }
    Ok(())
}

/// A file to be replaced at `path`: its directory exists and is writable (checked by creating
/// and removing a temporary file there), and `path` is not a directory.
fn check_replaceable(path: &Path) -> anyhow::Result<()> {
    let dir = parent_dir(path);
    match fs::metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => bail!(
            "cannot write {}: {} is not a directory",
            path.display(),
            dir.display()
        ),
        Err(e) if e.kind() == io::ErrorKind::NotFound => bail!(
            "cannot write {}: directory {} does not exist",
            path.display(),
            dir.display()
        ),
        Err(e) => bail!(
            "cannot write {}: cannot access directory {}: {e}",
            path.display(),
            dir.display()
        ),
    }
    if fs::metadata(path).is_ok_and(|m| m.is_dir()) {
        bail!("cannot write {}: it is a directory", path.display());
    }
    // The rename in `write_file_atomic` would replace a read-only file (it needs only the
    // directory's permission): respect the file's own permission instead, as `>` does.
    if fs::metadata(path).is_ok() && !writable_by_us(path) {
        bail!(
            "cannot write {}: the file exists and is read-only for you (remove it or choose \
             another --output)",
            path.display()
        );
    }
    // One line for the user: the OS error goes in the message, not in a "caused by" chain.
    let probe = match create_sibling(path, "check", 0o600) {
        Ok((_, probe)) => probe,
        Err(e) => bail!(
            "cannot write {}: directory {} is not writable ({}); choose another --output",
            path.display(),
            dir.display(),
            e.root_cause()
        ),
    };
    fs::remove_file(&probe)
        .with_context(|| format!("cannot remove test file {}", probe.display()))?;
    Ok(())
}

/// Whether our effective user may write the existing file `path` (root may write any).
fn writable_by_us(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c_path) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: c_path is a valid NUL-terminated string that outlives the call.
    unsafe {
        libc::faccessat(
            libc::AT_FDCWD,
            c_path.as_ptr(),
            libc::W_OK,
            libc::AT_EACCESS,
        ) == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir_entries(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn atomic_write_success() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.txt");
        write_file_atomic(&path, |w| {
            w.write_all(b"hello\n")?;
            Ok(())
        })
        .unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "hello\n");
        assert_eq!(dir_entries(dir.path()), ["out.txt"]);
        // Replaces an existing file.
        write_file_atomic(&path, |w| Ok(w.write_all(b"again\n")?)).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "again\n");
        assert_eq!(dir_entries(dir.path()), ["out.txt"]);
    }

    #[test]
    fn atomic_write_error_midway_leaves_no_partial_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.svg");
        // Write more than the BufWriter buffer, so the temp file really holds partial data.
        let err = write_file_atomic(&path, |w| {
            w.write_all(&vec![b'x'; 100_000])?;
            bail!("interrupted")
        })
        .unwrap_err();
        assert!(format!("{err:#}").contains("interrupted"), "{err:#}");
        assert!(!path.exists());
        assert!(dir_entries(dir.path()).is_empty());

        // An existing file keeps its previous complete contents.
        fs::write(&path, "complete").unwrap();
        write_file_atomic(&path, |w| {
            w.write_all(&vec![b'y'; 100_000])?;
            bail!("interrupted")
        })
        .unwrap_err();
        assert_eq!(fs::read_to_string(&path).unwrap(), "complete");
        assert_eq!(dir_entries(dir.path()), ["out.svg"]);
    }

    #[test]
    fn atomic_write_panic_cleans_up() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.json");
        let r = std::panic::catch_unwind(|| {
            let _ = write_file_atomic(&path, |w| {
                w.write_all(b"{")?;
                panic!("boom");
            });
        });
        assert!(r.is_err());
        assert!(dir_entries(dir.path()).is_empty());
    }

    #[test]
    fn atomic_write_missing_dir_fails() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nope/out.txt");
        let err = write_file_atomic(&path, |_| Ok(())).unwrap_err();
        assert!(format!("{err:#}").contains("temporary file"), "{err:#}");
    }

    #[test]
    fn check_writable_ok_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        check_writable(dir.path().join("profile.svg")).unwrap();
        assert!(dir_entries(dir.path()).is_empty());
        // A bare file name refers to the current directory.
        assert!(parent_dir(Path::new("profile.svg")) == Path::new("."));
    }

    #[test]
    fn check_writable_errors() {
        let dir = tempfile::tempdir().unwrap();
        let err = check_writable(dir.path().join("missing/profile.svg")).unwrap_err();
        assert!(err.to_string().contains("does not exist"), "{err}");

        let err = check_writable(dir.path()).unwrap_err();
        assert!(err.to_string().contains("is a directory"), "{err}");

        let file = dir.path().join("afile");
        fs::write(&file, "").unwrap();
        let err = check_writable(file.join("profile.svg")).unwrap_err();
        assert!(err.to_string().contains("not a directory"), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn check_writable_read_only_dir() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let ro = dir.path().join("ro");
        fs::create_dir(&ro).unwrap();
        fs::set_permissions(&ro, fs::Permissions::from_mode(0o555)).unwrap();
        let probe = ro.join("probe");
        let can_write_anyway = File::create(&probe).is_ok(); // root ignores permissions
        let _ = fs::remove_file(&probe);
        let result = check_writable(ro.join("profile.svg"));
        if can_write_anyway {
            result.unwrap();
        } else {
            let err = result.unwrap_err();
            assert!(format!("{err:#}").contains("not writable"), "{err:#}");
        }
        fs::set_permissions(&ro, fs::Permissions::from_mode(0o755)).unwrap();
    }

    /// A named pipe with a reader thread: what `write_file_atomic` sends arrives, and the pipe
    /// (and a link to it, like /dev/stdout → /proc/self/fd/1) is still there, not a file.
    #[test]
    fn a_pipe_or_a_link_to_one_is_written_in_place() {
        use std::os::unix::ffi::OsStrExt;
        use std::os::unix::fs::FileTypeExt;
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.as_os_str().as_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let link = dir.path().join("stdout");
        std::os::unix::fs::symlink(&fifo, &link).unwrap();
        for path in [&fifo, &link] {
            assert_eq!(
                destination(path).unwrap(),
                Destination::Stream(path.clone())
            );
            check_writable(path).unwrap();
            let reader = {
                let fifo = fifo.clone();
                std::thread::spawn(move || fs::read_to_string(fifo).unwrap())
            };
            write_file_atomic(path, |w| Ok(w.write_all(b"a;b 3\n")?)).unwrap();
            // Checked before joining: a pipe replaced by a file would leave the reader waiting.
            assert!(fs::metadata(&fifo).unwrap().file_type().is_fifo());
            assert_eq!(reader.join().unwrap(), "a;b 3\n");
        }
        assert!(fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(dir_entries(dir.path()), vec!["fifo", "stdout"]);
        // `-`, /dev/stdout and its like are our own descriptors; `./-` a file named `-`.
        assert_eq!(
            destination(Path::new(STDOUT_PATH)).unwrap(),
            Destination::Descriptor(1)
        );
        assert_eq!(
            destination(Path::new("/dev/fd/2")).unwrap(),
            Destination::Descriptor(2)
        );
        let to_stdout = dir.path().join("out");
        std::os::unix::fs::symlink(crate::proc::own_fd_path(1), &to_stdout).unwrap();
        assert_eq!(destination(&to_stdout).unwrap(), Destination::Descriptor(1));
        assert_eq!(
            destination(Path::new("./-")).unwrap(),
            Destination::Replace("./-".into())
        );
    }

    #[test]
    fn a_block_device_is_refused() {
        use std::os::unix::fs::FileTypeExt;
        // Any block device will do; none is opened for writing.
        let disk = fs::read_dir("/dev")
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| fs::metadata(p).is_ok_and(|m| m.file_type().is_block_device()));
        let Some(disk) = disk else {
            return; // no block device on this machine to try
        };
        let err = check_writable(&disk).unwrap_err();
        assert!(err.to_string().contains("block device"), "{err}");
        let err = write_file_atomic(&disk, |_| panic!("must not write")).unwrap_err();
        assert!(err.to_string().contains("block device"), "{err}");
    }

    /// A link planted under the temporary file's (predictable) name, as another user of /tmp
    /// could: it is neither followed nor opened; the next free name is used.
    #[test]
    fn a_link_planted_at_the_temporary_name_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        fs::write(&victim, "keep").unwrap();
        let path = dir.path().join("out.txt");
        for tag in ["tmp", "check"] {
            let planted = sibling_temp_path(&path, tag, 0).unwrap();
            std::os::unix::fs::symlink(&victim, &planted).unwrap();
        }
        check_writable(&path).unwrap();
        write_file_atomic(&path, |w| Ok(w.write_all(b"profile")?)).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "profile");
        assert_eq!(fs::read_to_string(&victim).unwrap(), "keep");
        let pid = std::process::id();
        let mut expected = vec![
            format!(".out.txt.check-{pid}"),
            format!(".out.txt.tmp-{pid}"),
            "out.txt".to_string(),
            "victim".to_string(),
        ];
        expected.sort();
        assert_eq!(dir_entries(dir.path()), expected);
    }

    /// Through a link to a file, or a dangling link, the target is written (atomically) and
    /// the link stays a link.
    #[test]
    fn a_link_keeps_its_target_written() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.txt");
        fs::write(&real, "old").unwrap();
        let link = dir.path().join("link.txt");
        std::os::unix::fs::symlink("real.txt", &link).unwrap();
        check_writable(&link).unwrap();
        write_file_atomic(&link, |w| Ok(w.write_all(b"new")?)).unwrap();
        assert_eq!(fs::read_to_string(&real).unwrap(), "new");
        assert!(fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());

        let dangling = dir.path().join("dangling.txt");
        std::os::unix::fs::symlink("sub/../made.txt", &dangling).unwrap();
        fs::create_dir(dir.path().join("sub")).unwrap();
        assert_eq!(
            destination(&dangling).unwrap(),
            Destination::Replace(dir.path().join("sub/../made.txt"))
        );
        write_file_atomic(&dangling, |w| Ok(w.write_all(b"made")?)).unwrap();
        assert_eq!(
            fs::read_to_string(dir.path().join("made.txt")).unwrap(),
            "made"
        );
        assert!(fs::symlink_metadata(&dangling)
            .unwrap()
            .file_type()
            .is_symlink());
    }
}
