//! Faults and bad input (issue 7): every mistake a user can make on the command line, and every
//! way the target or pyprobe itself can fail, ends in one clear line, a non-zero exit or a kept
//! recording, and a target that runs on unharmed.
//!
//! This file: bad input and permissions. `faults/recording.rs`: the target exits, is killed or
//! execs while recorded, pyprobe is killed. `faults/memory.rs`: threads that come and go, deep
//! stacks, generators and coroutines.
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use pyprobe::proc;

use crate::harness::{interpreters, run_pyprobe_within, Finished, Interpreter, Target};

mod memory;
mod recording;

/// Bad input is refused at once; this only catches a hang.
const QUICK: Duration = Duration::from_secs(20);

/// "Before sampling" means well before any `--duration`: a check done after the recording
/// would take the full duration.
const FAIL_FAST: Duration = Duration::from_secs(2);

/// The interpreter labelled `label`.
pub fn interpreter(label: &str) -> &'static Interpreter {
    interpreters()
        .iter()
        .find(|i| i.label == label)
        .unwrap_or_else(|| panic!("no interpreter {label}"))
}

/// The one message line of a failed run: pyprobe must have exited non-zero (not by a signal),
/// printed no panic or backtrace, and said exactly one thing. clap's fixed "For more
/// information, try '--help'." footer after its message is allowed.
pub fn one_clear_line(what: &str, status: std::process::ExitStatus, stderr: &str) -> String {
    assert!(
        status.code().is_some_and(|c| c != 0),
        "{what}: expected a non-zero exit code, got {status:?}; stderr: {stderr}"
    );
    for bad in ["panicked", "RUST_BACKTRACE", "stack backtrace"] {
        assert!(!stderr.contains(bad), "{what}: {bad:?} in stderr: {stderr}");
    }
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("For more information, try"))
        .collect();
    assert_eq!(lines.len(), 1, "{what}: expected one line, got {stderr:?}");
    let line = lines[0];
    assert!(
        line.starts_with("pyprobe: error: ") || line.starts_with("error: "),
        "{what}: not an error line: {line:?}"
    );
    line.to_string()
}

/// Run pyprobe, expect a clean failure; its message line.
fn fails_with(args: &[&str]) -> String {
    let done = run_pyprobe_within(args, QUICK).unwrap_or_else(|e| panic!("{args:?}: {e}"));
    one_clear_line(&format!("{args:?}"), done.status, &done.stderr)
}

/// A pid no process has now (counting down from the top of the pid space).
fn unused_pid() -> i32 {
    let max = proc::sysctl("kernel/pid_max").unwrap_or(32_768) as i32;
    (2..max)
        .rev()
        .find(|&p| !proc::exists(p))
        .expect("a free pid")
}

/// A child process we started; killed and reaped on drop.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn pid_that_does_not_exist() {
    let pid = unused_pid().to_string();
    for args in [
        &["record", "--pid", &pid, "-d", "30"][..],
        &["record", "--pid", &pid, "--blocking"],
        &["dump", "--pid", &pid],
    ] {
        let line = fails_with(args);
        assert!(
            line.contains(&format!("no process with pid {pid}")) && line.contains("check the pid"),
            "{args:?}: {line}"
        );
    }
}

#[test]
fn pid_that_is_not_python_names_the_binary() {
    // `spawn` returns once the exec succeeded: /proc/PID/exe is already sleep.
    let sleep = ChildGuard(
        Command::new("sleep")
            .arg("60")
            .spawn()
            .expect("starting sleep"),
    );
    let pid = sleep.0.id().to_string();
    for args in [
        &["record", "--pid", &pid, "-d", "30"][..],
        &["dump", "--pid", &pid],
    ] {
        let line = fails_with(args);
        assert!(
            line.contains("does not look like Python") && line.contains("/sleep"),
            "{args:?}: {line}"
        );
        assert!(line.contains("pgrep"), "{args:?} says what to do: {line}");
    }
}

#[test]
fn zombie_pid() {
    let py = interpreter("pyenv-3.11.7");
    let (_parent, zombie) = Target::spawn(&py.path, "fault_zombie.py", &[]);
    let state = proc::stat(zombie.parse().unwrap()).unwrap();
    assert!(state.is_zombie(), "not a zombie: {state:?}");
    for args in [
        &["record", "--pid", &zombie, "-d", "30"][..],
        &["dump", "--pid", &zombie],
    ] {
        let line = fails_with(args);
        assert!(
            line.contains(&format!("process {zombie} has exited")) && line.contains("zombie"),
            "{args:?}: {line}"
        );
    }
}

/// A target that exits right after saying ready: whatever pyprobe sees (the process, its
/// maps, its memory disappearing at any point), it ends with a clean error or a clean
/// recording.
#[test]
fn process_exiting_during_attach() {
    let dir = tempfile::tempdir().unwrap();
    let mut outcomes = std::collections::BTreeMap::<String, u32>::new();
    for label in ["pyenv-3.9.18", "pyenv-3.12.1"] {
        let py = interpreter(label);
        // Exits at once, or after a little while: the exit lands before, during or after
        // the attach.
        for (i, linger) in ["0", "0.01", "0.05", "0.1", "0.2", "0.3", "0.5", "1"]
            .into_iter()
            .enumerate()
        {
            let (target, _) = Target::spawn(&py.path, "fault_exit_now.py", &[linger]);
            let pid = target.pid().to_string();
            let out = dir.path().join(format!("{label}-{i}.txt"));
            let done = run_pyprobe_within(
                &[
                    "record",
                    "--pid",
                    &pid,
                    "-d",
                    "10",
                    "-f",
                    "raw",
                    "-o",
                    out.to_str().unwrap(),
                ],
                QUICK,
            )
            .unwrap();
            let what = format!("{label} run {i} (exit after {linger} s)");
            let outcome = if done.status.success() {
                assert!(
                    done.stderr.contains("target exited") && out.exists(),
                    "{what}: {}",
                    done.stderr
                );
                "recorded until the exit".to_string()
            } else {
                let line = one_clear_line(&what, done.status, &done.stderr);
                assert!(
                    line.contains("has exited") || line.contains("no process"),
                    "{what}: an exiting process must be reported as such: {line}"
                );
                line.replace(&pid, "PID")
            };
            *outcomes.entry(outcome).or_default() += 1;
            drop(target);
        }
    }
    eprintln!("process exiting during attach, outcomes: {outcomes:#?}");
}

#[test]
fn bad_numbers_and_format() {
    let cases: &[(&[&str], &str)] = &[
        (&["record", "-p", "1", "-r", "0"], "--rate 100"),
        (&["record", "-p", "1", "-r", "-5"], "--rate 100"),
        (&["record", "-p", "1", "-r", "fast"], "--rate 100"),
        (&["record", "-p", "1", "-r", "nan"], "--rate 100"),
        (&["record", "-p", "1", "-r", "inf"], "--rate 100"),
        (&["record", "-p", "1", "-d", "0"], "--duration 10"),
        (&["record", "-p", "1", "-d", "-1"], "--duration 10"),
        (&["record", "-p", "1", "-d", "soon"], "--duration 10"),
        (&["record", "-p", "1", "-d", "1e400"], "--duration 10"),
        (&["record", "-p", "1", "-f", "png"], "expected one of"),
        (&["record", "-p", "1", "-w", "bytes"], "rss-growth"),
        (&["record", "-p", "0"], "positive"),
        (&["record", "-p", "-7"], "positive"),
        (&["record", "-p", "12ab"], "--pid 1234"),
        (&["dump", "-p", "-3"], "positive"),
        (&["top", "-r", "0"], "--rate 100"),
        (&["record"], "--pid PID"),
        (&["record", "-p", "1", "--", "python"], "not both"),
    ];
    for (args, hint) in cases {
        let line = fails_with(args);
        assert!(line.contains(hint), "{args:?}: {line:?} lacks {hint:?}");
    }
}

/// A Python target to point output-path checks at: it would be recorded fine.
fn sleeping_target() -> Target {
    Target::spawn(&interpreter("pyenv-3.11.7").path, "stack_shape.py", &[]).0
}

/// `record` with an unwritable output fails before sampling: fast, not after `--duration`,
/// and never leaves a file behind.
fn check_unwritable(runner: &dyn Fn(&[&str]) -> Finished, pid: &str, out: &Path, why: &str) {
    let out_s = out.to_str().unwrap();
    let started = Instant::now();
    let done = runner(&["record", "--pid", pid, "-d", "30", "-o", out_s]);
    let took = started.elapsed();
    let line = one_clear_line(out_s, done.status, &done.stderr);
    assert!(
        line.contains(&format!("cannot write {out_s}")) && line.contains(why),
        "{out_s}: {line}"
    );
    assert!(
        took < FAIL_FAST,
        "{out_s}: took {took:?}, not checked first"
    );
}

#[test]
fn unwritable_output_fails_before_sampling() {
    let target = sleeping_target();
    let pid = target.pid().to_string();
    let dir = tempfile::tempdir().unwrap();
    let afile = dir.path().join("afile");
    std::fs::write(&afile, "x").unwrap();
    let as_root = |args: &[&str]| run_pyprobe_within(args, QUICK).unwrap();
    for (out, why) in [
        (dir.path().join("missing/profile.svg"), "does not exist"),
        (dir.path().to_path_buf(), "is a directory"),
        (afile.join("profile.svg"), "is not a directory"),
    ] {
        check_unwritable(&as_root, &pid, &out, why);
    }
    // Launch mode: refused before the program is started.
    let marker = dir.path().join("started");
    let program = format!("open({:?}, 'w').close()", marker.to_str().unwrap());
    let done = as_root(&[
        "record",
        "-o",
        "/nonexistent-dir/x.svg",
        "--",
        interpreter("pyenv-3.11.7").path.to_str().unwrap(),
        "-c",
        &program,
    ]);
    one_clear_line("launch", done.status, &done.stderr);
    assert!(!marker.exists(), "the program was started anyway");
}

/// Non-root users are refused where root is not: a read-only file (which the atomic rename
/// would otherwise silently replace) and a directory they cannot write.
#[test]
fn unwritable_output_as_non_root() {
    let target = sleeping_target();
    let pid = target.pid().to_string();
    let dir = world_writable_tempdir();
    let read_only = dir.path().join("read-only.svg");
    std::fs::write(&read_only, "keep me").unwrap();
    chown_nobody(&read_only);
    set_mode(&read_only, 0o444);
    let root_dir = dir.path().join("root-only");
    std::fs::create_dir(&root_dir).unwrap();
    set_mode(&root_dir, 0o755);
    let as_nobody = |args: &[&str]| {
        let out = nobody()
            .args(args)
            .output()
            .expect("running pyprobe as nobody");
        finished(out)
    };
    check_unwritable(&as_nobody, &pid, &read_only, "read-only");
    assert_eq!(std::fs::read_to_string(&read_only).unwrap(), "keep me");
    check_unwritable(
        &as_nobody,
        &pid,
        &root_dir.join("profile.svg"),
        "is not writable",
    );
}

/// The permission message as a non-root user against a root process: names the problem and
/// every fix (root, CAP_SYS_PTRACE, and ptrace_scope when Yama restricts ptrace).
#[test]
fn non_root_user_against_root_process() {
    let (target, _) = Target::spawn(&interpreter("pyenv-3.12.1").path, "cpu_split.py", &[]);
    let pid = target.pid().to_string();
    let scope = proc::sysctl("kernel/yama/ptrace_scope");
    for args in [
        &["record", "--pid", &pid, "-d", "30"][..],
        &["record", "--pid", &pid, "-d", "30", "--blocking"],
        &["dump", "--pid", &pid],
    ] {
        let started = Instant::now();
        let out = nobody().args(args).output().expect("pyprobe as nobody");
        let done = finished(out);
        let line = one_clear_line(&format!("nobody {args:?}"), done.status, &done.stderr);
        for needed in [
            "permission denied",
            &format!("process {pid}"),
            "sudo",
            "CAP_SYS_PTRACE",
            "uid 0",
        ] {
            assert!(line.contains(needed), "{args:?}: {line:?} lacks {needed:?}");
        }
        if scope.is_some_and(|s| s >= 1) {
            assert!(line.contains("ptrace_scope"), "{args:?}: {line}");
        }
        assert!(started.elapsed() < FAIL_FAST, "{args:?}: slow to refuse");
    }
    assert!(target.stopped_or_traced().is_none());
}

/// Root without CAP_SYS_PTRACE (a container without `--cap-add SYS_PTRACE`) is refused by the
/// kernel: the message says exactly that and how to add it.
#[test]
fn root_without_cap_sys_ptrace() {
    let (target, _) = Target::spawn(&interpreter("pyenv-3.11.7").path, "cpu_split.py", &[]);
    let pid = target.pid().to_string();
    for args in [
        &["record", "--pid", &pid, "-d", "30"][..],
        &["record", "--pid", &pid, "-d", "30", "--blocking"],
        &["dump", "--pid", &pid],
    ] {
        let out = Command::new("setpriv")
            .args(["--bounding-set=-sys_ptrace", "--inh-caps=-sys_ptrace"])
            .arg(pyprobe_for_nobody())
            .args(args)
            .output()
            .expect("setpriv");
        let done = finished(out);
        let line = one_clear_line(
            &format!("no CAP_SYS_PTRACE {args:?}"),
            done.status,
            &done.stderr,
        );
        for needed in [
            "permission denied",
            "CAP_SYS_PTRACE",
            "--cap-add SYS_PTRACE",
        ] {
            assert!(line.contains(needed), "{args:?}: {line:?} lacks {needed:?}");
        }
    }
    assert!(target.stopped_or_traced().is_none());
}

/// `Output` as the harness's `Finished`.
fn finished(out: Output) -> Finished {
    Finished {
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        elapsed: Duration::ZERO,
    }
}

/// The pyprobe binary at a path user `nobody` can execute: the build's own if every directory
/// above it is traversable, else a copy in a 0755 directory (kept for the whole test run).
fn pyprobe_for_nobody() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let built = PathBuf::from(env!("CARGO_BIN_EXE_pyprobe"));
        let ok = Command::new("setpriv")
            .args(NOBODY)
            .arg(&built)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return built;
        }
        let dir = std::env::temp_dir().join(format!("pyprobe-faults-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        set_mode(&dir, 0o755);
        let copy = dir.join("pyprobe");
        std::fs::copy(&built, &copy).unwrap();
        set_mode(&copy, 0o755);
        copy
    })
}

/// setpriv arguments that drop to user and group `nobody` (65534), with no other groups.
const NOBODY: [&str; 3] = ["--reuid=65534", "--regid=65534", "--clear-groups"];

/// pyprobe run as user nobody.
fn nobody() -> Command {
    let mut cmd = Command::new("setpriv");
    cmd.args(NOBODY).arg(pyprobe_for_nobody());
    cmd.stdin(Stdio::null());
    cmd
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn chown_nobody(path: &Path) {
    std::os::unix::fs::chown(path, Some(65534), Some(65534)).unwrap();
}

/// A temporary directory anyone may write in (with the sticky bit, like /tmp).
fn world_writable_tempdir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    set_mode(dir.path(), 0o1777);
    dir
}

/// A target in another mount namespace (as in a container): its interpreter binary exists only
/// inside that namespace, so pyprobe must read it through /proc/PID/root.
#[test]
fn target_in_another_mount_namespace() {
    let outside = tempfile::tempdir().unwrap();
    let dir = outside.path().display().to_string();
    let python = &crate::harness::interpreters()
        .iter()
        .find(|i| i.label == "debian-static-3.11")
        .expect("Debian's static python3.11")
        .path;
    // Inside a private mount namespace: a tmpfs over `dir`, the interpreter copied onto it, then
    // exec'd (same pid). Outside, `dir` stays empty.
    let inner = format!(
        "mount -t tmpfs none {dir} && cp {py} {dir}/python-in-ns && exec {dir}/python-in-ns {script}",
        py = python.display(),
        script = crate::harness::script("stack_shape.py").display(),
    );
    let mut cmd = std::process::Command::new("unshare");
    cmd.args(["-m", "--propagation", "private", "sh", "-c", &inner]);
    let (target, _) = Target::spawn_command(cmd, "python in a private mount namespace");
    let binary = format!("{dir}/python-in-ns");
    assert!(
        !Path::new(&binary).exists(),
        "the binary must not be visible outside the namespace"
    );
    let out = crate::harness::run_pyprobe(&["dump", "--pid", &target.pid().to_string()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "dump failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("Python v3.11"), "{text}");
    assert!(
        text.contains("leaf (") && text.contains("middle ("),
        "{text}"
    );
}

/// `fs.protected_symlinks` set for a test and restored on drop, even when the test fails. The
/// setting is machine-wide: an exclusive `flock` on its file, held until the drop, serializes
/// this with every other test that changes it (the unit tests of src/output/protected too).
struct ProtectedSymlinks {
    lock: std::fs::File,
    saved: String,
}

impl ProtectedSymlinks {
    fn path() -> PathBuf {
        proc::sysctl_path("fs/protected_symlinks")
    }

    fn set(value: u32) -> ProtectedSymlinks {
        use std::os::fd::AsRawFd;
        let lock = std::fs::File::open(Self::path()).unwrap();
        // SAFETY: flock on a descriptor we own; it blocks until no other holder is left.
        assert_eq!(unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) }, 0);
        let saved = std::fs::read_to_string(Self::path()).unwrap();
        std::fs::write(Self::path(), value.to_string()).unwrap();
        ProtectedSymlinks { lock, saved }
    }
}

impl Drop for ProtectedSymlinks {
    fn drop(&mut self) {
        let _ = std::fs::write(Self::path(), self.saved.trim());
        let _ = &self.lock; // released when closed, after the restore
    }
}

/// As root, `-o` through another user's link in a sticky world-writable directory (/tmp) to a
/// root-only file: refused before anything starts (exit 2, the link, its owner and why) where
/// the kernel would refuse to follow it, and followed where it would.
#[test]
fn another_users_link_in_tmp_is_followed_only_where_the_kernel_would() {
    let tmp = world_writable_tempdir();
    let private = tempfile::tempdir().unwrap();
    let secret = private.path().join("secret");
    std::fs::write(&secret, "secret\n").unwrap();
    set_mode(&secret, 0o600);
    let link = tmp.path().join("profile.txt");
    std::os::unix::fs::symlink(&secret, &link).unwrap();
    std::os::unix::fs::lchown(&link, Some(65534), Some(65534)).unwrap();
    let marker = private.path().join("started");
    let program = format!("open({:?}, 'w').close()", marker.to_str().unwrap());
    let python = interpreter("pyenv-3.11.7").path.to_str().unwrap();
    let link_s = link.to_str().unwrap();
    let args = [
        "record", "-d", "1", "-f", "raw", "-o", link_s, "--", python, "-c", &program,
    ];
    {
        let _on = ProtectedSymlinks::set(1);
        let done = run_pyprobe_within(&args, QUICK).unwrap();
        let line = one_clear_line("protected link", done.status, &done.stderr);
        assert_eq!(done.status.code(), Some(2), "{line}");
        for part in [
            link_s,
            "symbolic link owned by nobody (uid 65534)",
            "fs.protected_symlinks = 1",
        ] {
            assert!(line.contains(part), "{part:?} not in {line:?}");
        }
        assert!(!marker.exists(), "the program was started anyway");
        assert_eq!(std::fs::read_to_string(&secret).unwrap(), "secret\n");
    }
    let _off = ProtectedSymlinks::set(0);
    let done = run_pyprobe_within(&args, QUICK).unwrap();
    assert!(done.status.success(), "{}", done.stderr);
    assert!(marker.exists());
    assert_ne!(std::fs::read_to_string(&secret).unwrap(), "secret\n");
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
}
