//! The protections on real files, as root (the user they matter for): another user's link and
//! file in a sticky world-writable directory, with each sysctl on and off. Skipped, saying so,
//! when not root.
use std::fs;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{chown, lchown, MetadataExt, PermissionsExt};
use std::path::Path;

use crate::output::{check_writable, write_file_atomic};

const NOBODY: u32 = 65534;

/// Both protections set for a test, restored on drop (a failing test included). The settings
/// are machine-wide: an exclusive `flock` on the protected_symlinks file, held until then,
/// serializes every test that changes them, in this process or any other (another test binary,
/// another checkout).
struct Protections {
    _lock: fs::File,
    saved: Vec<(std::path::PathBuf, String)>,
}

impl Protections {
    /// `None` (the test is skipped) unless we are root and may change the settings.
    fn set(symlinks: u32, regular: u32) -> Option<Protections> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("skipping: changing fs.protected_* needs root");
            return None;
        }
        let lock = fs::File::open(crate::proc::sysctl_path("fs/protected_symlinks")).ok()?;
        // SAFETY: flock on a descriptor we own; it blocks until no other holder is left.
        assert_eq!(unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) }, 0);
        let mut guard = Protections {
            _lock: lock,
            saved: Vec::new(),
        };
        for (name, value) in [
            ("protected_symlinks", symlinks),
            ("protected_regular", regular),
        ] {
            let path = crate::proc::sysctl_path(&format!("fs/{name}"));
            let old = fs::read_to_string(&path).ok()?;
            if fs::write(&path, value.to_string()).is_err() {
                eprintln!("skipping: {} is not writable here", path.display());
                return None; // what was already set is restored by the drop
            }
            guard.saved.push((path, old));
        }
        Some(guard)
    }
}

impl Drop for Protections {
    fn drop(&mut self) {
        for (path, old) in &self.saved {
            let _ = fs::write(path, old.trim());
        }
    }
}

/// A fresh directory like /tmp (root's, mode 1777), and a root-only file elsewhere (0600 in a
/// 0700 directory), as /etc/shadow is.
struct Scene {
    sticky: tempfile::TempDir,
    _private: tempfile::TempDir,
    secret: std::path::PathBuf,
}

fn scene() -> Scene {
    let sticky = tempfile::tempdir().unwrap();
    fs::set_permissions(sticky.path(), fs::Permissions::from_mode(0o1777)).unwrap();
    let private = tempfile::tempdir().unwrap();
    let secret = private.path().join("secret");
    fs::write(&secret, "secret\n").unwrap();
    fs::set_permissions(&secret, fs::Permissions::from_mode(0o600)).unwrap();
    Scene {
        sticky,
        _private: private,
        secret,
    }
}

fn write_profile(path: &Path) -> anyhow::Result<()> {
    write_file_atomic(path, |w| Ok(w.write_all(b"profile\n")?))
}

fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn another_users_link_in_a_sticky_directory_is_followed_only_where_the_kernel_would() {
    let s = scene();
    let link = s.sticky.path().join("profile.txt");
    std::os::unix::fs::symlink(&s.secret, &link).unwrap();
    lchown(&link, Some(NOBODY), Some(NOBODY)).unwrap();
    {
        let Some(_on) = Protections::set(1, 0) else {
            return;
        };
        let err = format!("{:#}", check_writable(&link).unwrap_err());
        for part in [
            &link.display().to_string(),
            "symbolic link owned by nobody (uid 65534)",
            "owned by root (uid 0)",
            "fs.protected_symlinks = 1",
        ] {
            assert!(err.contains(part), "{part:?} not in: {err}");
        }
        // Refused at write time too (the link may appear while recording), leaving nothing.
        let err = format!("{:#}", write_profile(&link).unwrap_err());
        assert!(err.contains("refusing to write through"), "{err}");
        assert_eq!(fs::read_to_string(&s.secret).unwrap(), "secret\n");
        assert_eq!(entries(s.sticky.path()), ["profile.txt"]);
        // The directory owner's link is followed, as the kernel would.
        lchown(&link, Some(0), Some(0)).unwrap();
        check_writable(&link).unwrap();
        lchown(&link, Some(NOBODY), Some(NOBODY)).unwrap();
    }
    {
        let Some(_off) = Protections::set(0, 0) else {
            return;
        };
        check_writable(&link).unwrap();
        write_profile(&link).unwrap();
    }
    // Followed: the target replaced (keeping root's 0600), the link kept.
    assert_eq!(fs::read_to_string(&s.secret).unwrap(), "profile\n");
    let meta = fs::metadata(&s.secret).unwrap();
    assert_eq!((meta.uid(), meta.mode() & 0o7777), (0, 0o600));
    assert!(fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(entries(s.sticky.path()), ["profile.txt"]);
}

#[test]
fn another_users_file_in_a_sticky_directory_is_replaced_only_where_the_kernel_would_open_it() {
    let s = scene();
    let theirs = s.sticky.path().join("profile.txt");
    fs::write(&theirs, "theirs\n").unwrap();
    fs::set_permissions(&theirs, fs::Permissions::from_mode(0o600)).unwrap();
    chown(&theirs, Some(NOBODY), Some(NOBODY)).unwrap();
    {
        let Some(_on) = Protections::set(0, 1) else {
            return;
        };
        let err = format!("{:#}", check_writable(&theirs).unwrap_err());
        for part in [
            "refusing to replace",
            &theirs.display().to_string(),
            "belongs to nobody (uid 65534)",
            "fs.protected_regular = 1",
        ] {
            assert!(err.contains(part), "{part:?} not in: {err}");
        }
        assert!(write_profile(&theirs).is_err());
        assert_eq!(fs::read_to_string(&theirs).unwrap(), "theirs\n");
        assert_eq!(entries(s.sticky.path()), ["profile.txt"]);
    }
    {
        let Some(_off) = Protections::set(0, 0) else {
            return;
        };
        write_profile(&theirs).unwrap();
    }
    assert_eq!(fs::read_to_string(&theirs).unwrap(), "profile\n");
    let meta = fs::metadata(&theirs).unwrap();
    assert_eq!(
        (meta.uid(), meta.gid(), meta.mode() & 0o7777),
        (NOBODY, NOBODY, 0o600)
    );
}

#[test]
fn a_replaced_file_keeps_its_owner_and_mode() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipping: giving a file to nobody needs root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for (uid, mode) in [(NOBODY, 0o600), (0, 0o640), (NOBODY, 0o4755)] {
        let path = dir.path().join(format!("{uid}-{mode:o}.txt"));
        fs::write(&path, "old\n").unwrap();
        chown(&path, Some(uid), Some(uid)).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
        write_profile(&path).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "profile\n");
        let meta = fs::metadata(&path).unwrap();
        // Set-id bits are not carried over to a profile.
        assert_eq!(
            (meta.uid(), meta.gid(), meta.mode() & 0o7777),
            (uid, uid, mode & 0o777),
            "{}",
            path.display()
        );
    }
}
