//! Shared test machinery: the interpreters of this machine, a guard that kills a spawned target
//! on drop, and a "ready" handshake instead of sleeps.
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Output, Stdio};
use std::sync::OnceLock;

/// One interpreter the tests must pass on.
#[derive(Debug, Clone)]
#[allow(dead_code)] // fields are used by some test modules only
pub struct Interpreter {
    /// Short label for messages, e.g. "pyenv-3.11.7" or "debian-3.14".
    pub label: String,
    /// Path of the `python` executable.
    pub path: PathBuf,
    /// (major, minor).
    pub version: (u8, u8),
}

const PYENV: &[&str] = &[
    "2.7.18", "3.6.15", "3.7.16", "3.8.18", "3.9.18", "3.10.13", "3.11.7", "3.12.1", "3.13.0",
];

/// Every interpreter listed in the project's brief. A missing one fails the test run (it is
/// not skipped): CI must prove each of them.
pub fn interpreters() -> &'static [Interpreter] {
    static ALL: OnceLock<Vec<Interpreter>> = OnceLock::new();
    ALL.get_or_init(|| {
        let mut out = Vec::new();
        for v in PYENV {
            let mut parts = v.split('.');
            let major = parts.next().unwrap().parse().unwrap();
            let minor = parts.next().unwrap().parse().unwrap();
            out.push(Interpreter {
                label: format!("pyenv-{v}"),
                path: PathBuf::from(format!("/root/.pyenv/versions/{v}/bin/python")),
                version: (major, minor),
            });
        }
        out.push(Interpreter {
            label: "debian-static-3.11".into(),
            path: "/usr/bin/python3.11".into(),
            version: (3, 11),
        });
        for (minor, line) in [(14u8, 0usize), (13, 1)] {
            let path = debian_pythons().get(line).cloned().unwrap_or_default();
            out.push(Interpreter {
                label: format!("debian-3.{minor}"),
                path,
                version: (3, minor),
            });
        }
        let missing: Vec<String> = out
            .iter()
            .filter(|i| !i.path.is_file())
            .map(|i| format!("{} ({})", i.label, i.path.display()))
            .collect();
        assert!(
            missing.is_empty(),
            "interpreters missing on this machine: {missing:?}"
        );
        out
    })
}

/// Paths printed by `../shared/tools/install-debian-pythons` (3.14 then 3.13); installs if needed.
fn debian_pythons() -> Vec<PathBuf> {
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/tools/install-debian-pythons");
    let out = Command::new("bash")
        .arg(&script)
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", script.display()));
    assert!(
        out.status.success(),
        "install-debian-pythons failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(PathBuf::from)
        .collect()
}

/// A test script under tests/scripts/.
pub fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/scripts")
        .join(name)
}

/// A running target; killed and reaped on drop, whatever the test did.
pub struct Target {
    child: Child,
    /// Lines the script printed after "ready" are readable here.
    pub stdout: BufReader<ChildStdout>,
}

impl Target {
    /// Start `python script args…` and wait for it to print a line starting with "ready".
    /// Returns the rest of that line too (scripts report facts there, e.g. line numbers).
    pub fn spawn(python: &Path, script_name: &str, args: &[&str]) -> (Target, String) {
        let mut child = Command::new(python)
            .arg(script(script_name))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("spawning {}: {e}", python.display()));
        let stdout = child.stdout.take().unwrap();
        let mut target = Target {
            child,
            stdout: BufReader::new(stdout),
        };
        let mut line = String::new();
        loop {
            line.clear();
            let n = target.stdout.read_line(&mut line).unwrap();
            assert!(
                n > 0,
                "{} {script_name} exited before printing ready",
                python.display()
            );
            if let Some(rest) = line.trim_end().strip_prefix("ready") {
                return (target, rest.trim().to_string());
            }
        }
    }

    /// The target's pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The scheduler state letter of the process (`/proc/PID/stat`).
    pub fn state(&self) -> char {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).unwrap_or_default();
        stat.rsplit(')')
            .next()
            .and_then(|s| s.trim().chars().next())
            .unwrap_or('?')
    }

    /// Kill now and reap; the exit status.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The pyprobe binary built for this test run.
pub fn pyprobe() -> Command {
    Command::new(env!("CARGO_BIN_EXE_pyprobe"))
}

/// Run pyprobe with `args`; the output.
pub fn run_pyprobe(args: &[&str]) -> Output {
    pyprobe().args(args).output().expect("running pyprobe")
}
