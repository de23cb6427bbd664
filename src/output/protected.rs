//! The kernel's protections for sticky world-writable directories such as /tmp, applied to what
//! the output writer does by hand. It follows a symbolic link itself (to replace the link's
//! target and keep the link) and renames over a file instead of opening it: both skip the checks
//! the kernel makes in its own path walk (`fs.protected_symlinks`) and in `open(O_CREAT)`
//! (`fs.protected_regular`). As root, another user's link in /tmp could then point our output
//! at any file on the system. Here the same rules refuse it, before recording starts.
//!
//! Rules mirrored from fs/namei.c (`may_follow_link`, `may_create_in_sticky`), Linux 6.x.
use std::ffi::CStr;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use anyhow::bail;

const STICKY: u32 = 0o1000;
const WORLD_WRITABLE: u32 = 0o002;
const GROUP_WRITABLE: u32 = 0o020;

/// Owner and mode of a directory, or of an entry in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Owned {
    pub uid: u32,
    pub mode: u32,
}

impl From<&fs::Metadata> for Owned {
    fn from(m: &fs::Metadata) -> Self {
        Owned {
            uid: m.uid(),
            mode: m.mode(),
        }
    }
}

/// Whether the kernel follows a link owned by `link_uid` in directory `dir` for a process
/// whose file-system uid is `us`, at `fs.protected_symlinks` = `level`.
pub(crate) fn may_follow(level: u32, link_uid: u32, dir: Owned, us: u32) -> bool {
    level == 0
        || link_uid == us
        || dir.mode & (STICKY | WORLD_WRITABLE) != STICKY | WORLD_WRITABLE
        || dir.uid == link_uid
}

/// Whether the kernel lets a process whose file-system uid is `us` open an existing regular
/// file owned by `file_uid` in directory `dir` with `O_CREAT`, at `fs.protected_regular` =
/// `level` (1: world-writable sticky directories; 2: group-writable ones too).
pub(crate) fn may_open_existing(level: u32, file_uid: u32, dir: Owned, us: u32) -> bool {
    if level == 0 || dir.mode & STICKY == 0 || file_uid == dir.uid || file_uid == us {
        return true;
    }
    let refused = dir.mode & WORLD_WRITABLE != 0 || (level >= 2 && dir.mode & GROUP_WRITABLE != 0);
    !refused
}

/// A protection's level from /proc/sys/fs. Unreadable (a container that hides /proc/sys, whose
/// kernel still enforces its setting), it is taken as 1: what systemd sets on every
/// distribution, and the side that refuses rather than writes.
fn sysctl(name: &str) -> u32 {
    crate::proc::sysctl(&format!("fs/{name}")).unwrap_or(1)
}

/// Our file-system uid: the effective uid (pyprobe never changes its fsuid).
fn our_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// `name (uid N)`, or `uid N` for a uid without a name.
pub(crate) fn user(uid: u32) -> String {
    let mut buf = vec![0u8; 4096];
    // SAFETY: all-zero is a valid `passwd` (null pointers); it is only read if filled in.
    let mut entry: libc::passwd = unsafe { std::mem::zeroed() };
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: the buffer and out-pointers are valid for the call; the name it sets points into
    // `buf`, which outlives its use below.
    let rc = unsafe {
        libc::getpwuid_r(
            uid,
            &mut entry,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut found,
        )
    };
    if rc != 0 || found.is_null() || entry.pw_name.is_null() {
        return format!("uid {uid}");
    }
    // SAFETY: getpwuid_r succeeded: pw_name is a NUL-terminated string inside `buf`.
    let name = unsafe { CStr::from_ptr(entry.pw_name) }.to_string_lossy();
    format!("{name} (uid {uid})")
}

/// The directory `entry` is in, as the kernel sees it (links on the way followed).
fn directory_of(entry: &Path) -> anyhow::Result<(Owned, &Path)> {
    let dir = super::file::parent_dir(entry);
    match fs::metadata(dir) {
        Ok(m) => Ok(((&m).into(), dir)),
        Err(e) => bail!(
            "cannot write {}: cannot access directory {}: {e}",
            entry.display(),
            dir.display()
        ),
    }
}

/// Refuse to follow symbolic link `link` (reached from `asked`, the output path) where the
/// kernel would refuse: another user's link in a sticky world-writable directory that is not
/// theirs either.
pub(crate) fn check_follow(link: &Path, asked: &Path) -> anyhow::Result<()> {
    let Ok(meta) = fs::symlink_metadata(link) else {
        return Ok(()); // gone: nothing is followed
    };
    let (dir, dir_path) = directory_of(link)?;
    let level = sysctl("protected_symlinks");
    if may_follow(level, meta.uid(), dir, our_uid()) {
        return Ok(());
    }
    let via = if link == asked {
        String::new()
    } else {
        format!(" (reached from {})", asked.display())
    };
    bail!(
        "refusing to write through {}{via}: it is a symbolic link owned by {} in {}, a sticky \
         world-writable directory owned by {}; with fs.protected_symlinks = {level} the kernel \
         follows such a link only for its owner or the directory's owner, so pyprobe does not \
         either. Remove the link or choose another --output",
        link.display(),
        user(meta.uid()),
        dir_path.display(),
        user(dir.uid)
    )
}

/// Refuse to replace the existing regular file `file` where the kernel would refuse to open
/// it with `O_CREAT` (as `>` does): another user's file in a sticky directory that is not theirs.
pub(crate) fn check_replace(file: &Path) -> anyhow::Result<()> {
    let Ok(meta) = fs::symlink_metadata(file) else {
        return Ok(()); // nothing to replace: a new file is created
    };
    if !meta.is_file() {
        return Ok(());
    }
    let (dir, dir_path) = directory_of(file)?;
    let level = sysctl("protected_regular");
    if may_open_existing(level, meta.uid(), dir, our_uid()) {
        return Ok(());
    }
    bail!(
        "refusing to replace {}: it belongs to {} and lies in {}, a sticky {}-writable directory \
         owned by {}; with fs.protected_regular = {level} the kernel lets no one else open such \
         a file for writing, so pyprobe does not replace it either. Choose another --output",
        file.display(),
        user(meta.uid()),
        dir_path.display(),
        if dir.mode & WORLD_WRITABLE != 0 {
            "world"
        } else {
            "group"
        },
        user(dir.uid)
    )
}

#[cfg(test)]
mod root_tests;

#[cfg(test)]
mod tests {
    use super::*;

    const ROOT: u32 = 0;
    const ALICE: u32 = 1000;
    const MALLORY: u32 = 1001;

    fn dir(uid: u32, mode: u32) -> Owned {
        Owned { uid, mode }
    }

    #[test]
    fn following_links_as_the_kernel_does() {
        let tmp = dir(ROOT, 0o1777);
        // Another user's link in /tmp: refused when protected, followed when not.
        assert!(!may_follow(1, MALLORY, tmp, ROOT));
        assert!(!may_follow(2, MALLORY, tmp, ALICE));
        assert!(may_follow(0, MALLORY, tmp, ROOT));
        // Our own link, or the directory owner's.
        assert!(may_follow(1, ROOT, tmp, ROOT));
        assert!(may_follow(1, ALICE, dir(ALICE, 0o1777), ROOT));
        // Sticky but not world-writable, or world-writable but not sticky: followed.
        assert!(may_follow(1, MALLORY, dir(ROOT, 0o1775), ROOT));
        assert!(may_follow(1, MALLORY, dir(ROOT, 0o777), ROOT));
    }

    #[test]
    fn opening_existing_files_as_the_kernel_does() {
        let tmp = dir(ROOT, 0o1777);
        assert!(!may_open_existing(1, MALLORY, tmp, ROOT));
        assert!(may_open_existing(0, MALLORY, tmp, ROOT));
        // Ours, or the directory owner's.
        assert!(may_open_existing(1, ALICE, tmp, ALICE));
        assert!(may_open_existing(1, ROOT, tmp, ALICE));
        // Not sticky: the kernel does not check.
        assert!(may_open_existing(2, MALLORY, dir(ROOT, 0o777), ROOT));
        // Sticky and only group-writable: refused at level 2 only.
        let shared = dir(ROOT, 0o1770);
        assert!(may_open_existing(1, MALLORY, shared, ROOT));
        assert!(!may_open_existing(2, MALLORY, shared, ROOT));
        // Sticky, writable by no one else: allowed.
        assert!(may_open_existing(2, MALLORY, dir(ROOT, 0o1755), ROOT));
    }

    #[test]
    fn users_are_named() {
        assert_eq!(user(0), "root (uid 0)");
        assert_eq!(user(4_000_000_000), "uid 4000000000");
    }
}
