//! `--subprocesses`: each process's stacks sit under a root frame `process PID: command`; the
//! outputs find a thread's process there (pprof labels, speedscope profile names).
use super::Profile;

/// The name of a process's root frame.
pub fn root_name(pid: i32, command: &str) -> String {
    format!("process {pid}: {command}")
}

/// The pid and command of a root frame's name, if it is one.
pub fn parse_root(name: &str) -> Option<(i32, &str)> {
    let (pid, command) = name.strip_prefix("process ")?.split_once(": ")?;
    Some((pid.parse().ok()?, command))
}

/// Each thread's process (pid, command), by thread index: from the root of its stacks; `None`
/// for a recording of one process.
pub fn thread_processes(profile: &Profile) -> Vec<Option<(i32, String)>> {
    let mut out = vec![None; profile.threads.len()];
    for (thread, ids) in profile.stacks.keys() {
        let Some(slot) = out.get_mut(*thread) else {
            continue;
        };
        if slot.is_some() {
            continue;
        }
        let root = ids.first().and_then(|&id| profile.frames.get(id as usize));
        // A root frame has no file: a Python function never does.
        if let Some(f) = root.filter(|f| f.filename.is_empty()) {
            *slot = parse_root(&f.name).map(|(pid, cmd)| (pid, cmd.to_string()));
        }
    }
    out
}

/// Each thread's label, after its process's pid in a tree (`process 42 — MainThread (tid 42)`),
/// by thread index: what outputs that list threads show.
pub fn thread_labels(profile: &Profile) -> Vec<String> {
    profile
        .threads
        .iter()
        .zip(thread_processes(profile))
        .map(|(t, process)| match process {
            Some((pid, _)) => format!("process {pid} — {}", t.label()),
            None => t.label(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_names_round_trip() {
        let name = root_name(42, "python -c 'a: b'");
        assert_eq!(name, "process 42: python -c 'a: b'");
        assert_eq!(parse_root(&name), Some((42, "python -c 'a: b'")));
        assert_eq!(parse_root("process x: y"), None);
        assert_eq!(parse_root("main"), None);
    }
}
