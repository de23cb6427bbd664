//! The actionable text for "permission denied": reading another process's memory needs the same
//! rights as ptrace-attaching to it, and the fix depends on why we lack them.
use std::fs;

use crate::proc;

/// `CAP_SYS_PTRACE` from `<linux/capability.h>`: the bit in `CapEff` that lets a non-parent
/// read any process.
const CAP_SYS_PTRACE: u32 = 19;

/// The Yama LSM's setting of who may ptrace whom (absent without Yama).
/// https://www.kernel.org/doc/html/latest/admin-guide/LSM/Yama.html
const PTRACE_SCOPE: &str = "kernel/yama/ptrace_scope";

/// Explains what to try when reading process `pid` was refused: run as root, the Yama
/// `ptrace_scope` setting, the `SYS_PTRACE` capability in containers, a target owned by
/// another user. Never fails: every probe that cannot be read is simply left out.
pub fn permission_hint(pid: i32) -> String {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    let mut hints = Vec::new();
    if euid != 0 {
        hints.push("run pyprobe as root (e.g. `sudo pyprobe ...`)".to_string());
        if let Some(owner) = proc::uid(pid) {
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
    if let Some(scope) = proc::sysctl(PTRACE_SCOPE) {
        let setting = proc::sysctl_path(PTRACE_SCOPE);
        let setting = setting.display();
        match scope {
            0 => {}
            1 => hints.push(format!(
                "{setting} is 1: only a parent may read its child unless you are root or have \
                 CAP_SYS_PTRACE (or launch the target through pyprobe, or `echo 0 | sudo tee \
                 {setting}`)"
            )),
            2 => hints.push(format!(
                "{setting} is 2: only processes with CAP_SYS_PTRACE (root) may read others"
            )),
            _ => hints.push(format!(
                "{setting} is {scope}: ptrace is disabled on this machine until reboot"
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

/// Whether our effective capabilities include `CAP_SYS_PTRACE`.
fn has_cap_sys_ptrace() -> bool {
    // Cannot tell: do not send the user chasing a capability they may have.
    proc::own_effective_capabilities().is_none_or(|caps| caps & (1 << CAP_SYS_PTRACE) != 0)
}

/// Best-effort detection of running inside a container: a marker file of the runtime, or
/// init's cgroup named after one.
fn in_container() -> bool {
    if fs::metadata("/.dockerenv").is_ok() || fs::metadata("/run/.containerenv").is_ok() {
        return true;
    }
    proc::cgroups(1).iter().any(|g| {
        ["docker", "kubepods", "containerd", "libpod", "lxc"]
            .iter()
            .any(|k| g.pathname.contains(k))
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
}
