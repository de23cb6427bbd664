//! The actionable text for "permission denied": reading another process's memory needs the same
//! rights as ptrace-attaching to it, and the fix depends on why we lack them.
use std::fs;

/// `CAP_SYS_PTRACE` from `<linux/capability.h>`: the bit in `CapEff` that lets a non-parent
/// read any process.
const CAP_SYS_PTRACE: u32 = 19;

/// Explains what to try when reading process `pid` was refused: run as root, the Yama
/// `ptrace_scope` setting, the `SYS_PTRACE` capability in containers, a target owned by
/// another user. Never fails: every probe that cannot be read is simply left out.
pub fn permission_hint(pid: i32) -> String {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    let mut hints = Vec::new();
    if euid != 0 {
        hints.push("run pyprobe as root (e.g. `sudo pyprobe ...`)".to_string());
        if let Some(owner) = target_uid(pid) {
            if owner != euid {
                hints.push(format!(
                    "the target runs as uid {owner} and you are uid {euid}: only root (or a \
                     process with CAP_SYS_PTRACE) can read it"
                ));
            }
        }
    } else if !has_cap_sys_ptrace() {
        hints.push(
            "pyprobe runs as root but without CAP_SYS_PTRACE: in a container add it \
             (`docker run --cap-add SYS_PTRACE`, or `securityContext.capabilities.add: \
             [SYS_PTRACE]` in Kubernetes)"
                .to_string(),
        );
    }
    if let Some(scope) = ptrace_scope() {
        match scope {
            0 => {}
            1 => hints.push(
                "/proc/sys/kernel/yama/ptrace_scope is 1: only a parent may read its child \
                 unless you are root or have CAP_SYS_PTRACE (or launch the target through \
                 pyprobe, or `echo 0 | sudo tee /proc/sys/kernel/yama/ptrace_scope`)"
                    .to_string(),
            ),
            2 => hints.push(
                "/proc/sys/kernel/yama/ptrace_scope is 2: only processes with CAP_SYS_PTRACE \
                 (root) may read others"
                    .to_string(),
            ),
            _ => hints.push(format!(
                "/proc/sys/kernel/yama/ptrace_scope is {scope}: ptrace is disabled on this \
                 machine until reboot"
            )),
        }
    }
    if euid == 0 && in_container() && hints.is_empty() {
        // Root with the capability can still be refused by a seccomp profile or by a target
        // in another user namespace.
        hints.push(
            "this looks like a container: run it with `--cap-add SYS_PTRACE` (and check its \
             seccomp profile allows process_vm_readv and ptrace)"
                .to_string(),
        );
    }
    if hints.is_empty() {
        hints.push(
            "check that the target is not in another user namespace and that no security \
             module (SELinux, AppArmor, seccomp) blocks ptrace"
                .to_string(),
        );
    }
    hints.join("; ")
}

/// The Yama ptrace scope, if the Yama module is present.
fn ptrace_scope() -> Option<u32> {
    fs::read_to_string("/proc/sys/kernel/yama/ptrace_scope")
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Whether our effective capabilities include `CAP_SYS_PTRACE`.
fn has_cap_sys_ptrace() -> bool {
    let Ok(status) = fs::read_to_string("/proc/self/status") else {
        // Cannot tell: do not send the user chasing a capability they may have.
        return true;
    };
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .is_none_or(|caps| caps & (1 << CAP_SYS_PTRACE) != 0)
}

/// The real uid owning process `pid` (`Uid:` in its status).
fn target_uid(pid: i32) -> Option<u32> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Best-effort detection of running inside a container.
fn in_container() -> bool {
    if fs::metadata("/.dockerenv").is_ok() || fs::metadata("/run/.containerenv").is_ok() {
        return true;
    }
    fs::read_to_string("/proc/1/cgroup").is_ok_and(|c| {
        ["docker", "kubepods", "containerd", "libpod", "lxc"]
            .iter()
            .any(|k| c.contains(k))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hint_is_never_empty() {
        let h = permission_hint(std::process::id() as i32);
        assert!(!h.is_empty());
        // An absent pid must not break the probes.
        assert!(!permission_hint(i32::MAX - 1).is_empty());
    }

    #[test]
    fn own_uid_is_found() {
        // SAFETY: getuid cannot fail.
        let uid = unsafe { libc::getuid() };
        assert_eq!(target_uid(std::process::id() as i32), Some(uid));
    }
}
