//! `pyprobe dump` against every interpreter.
use crate::harness::{interpreters, run_pyprobe, script, Target};

/// Line number of the line tagged `# TAG` in a script.
pub fn line_of(script_name: &str, tag: &str) -> u32 {
    let text = std::fs::read_to_string(script(script_name)).unwrap();
    let idx = text
        .lines()
        .position(|l| l.contains(&format!("# {tag}")))
        .unwrap_or_else(|| panic!("no {tag} in {script_name}"));
    idx as u32 + 1
}

#[test]
fn dump_json_shows_known_stack_on_every_interpreter() {
    let mut failures = Vec::new();
    for py in interpreters() {
        let (target, _) = Target::spawn(&py.path, "stack_shape.py", &[]);
        let pid = target.pid().to_string();
        let out = run_pyprobe(&["dump", "--pid", &pid, "--json"]);
        let text = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            failures.push(format!(
                "{}: exit {:?}: {}",
                py.label,
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ));
            continue;
        }
        let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        let threads = doc["threads"].as_array().unwrap();
        let main = threads.iter().find(|t| t["name"] == "MainThread");
        let Some(main) = main else {
            failures.push(format!("{}: no MainThread in {text}", py.label));
            continue;
        };
        let frames: Vec<(String, u64)> = main["frames"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                (
                    f["name"].as_str().unwrap().to_string(),
                    f["line"].as_u64().unwrap(),
                )
            })
            .collect();
        let expected = [
            (
                "leaf".to_string(),
                u64::from(line_of("stack_shape.py", "LINE_LEAF")),
            ),
            (
                "middle".to_string(),
                u64::from(line_of("stack_shape.py", "LINE_MIDDLE")),
            ),
        ];
        if frames.len() < 3 || frames[..2] != expected[..] || frames[2].0 != "<module>" {
            failures.push(format!("{}: main thread frames {frames:?}", py.label));
        }
        let worker = threads.iter().find(|t| t["name"] == "busy-worker");
        match worker {
            Some(w) if w["frames"][0]["name"] == "spin" => {}
            _ => failures.push(format!(
                "{}: no busy-worker thread in spin(): {text}",
                py.label
            )),
        }
        assert!(
            !matches!(target.state(), 'T' | 't'),
            "{} left stopped",
            py.label
        );
    }
    assert!(failures.is_empty(), "failures:\n{}", failures.join("\n"));
}

/// `pyprobe dump | head -1` (and `dump --json | head -1`): the reader closes the pipe early;
/// pyprobe ends quietly with success (as `cat` does), not with "error: Broken pipe", and leaves
/// the target running.
#[test]
fn dump_into_a_closed_pipe_ends_quietly() {
    let py = &interpreters()[0];
    let (target, _) = Target::spawn(&py.path, "stack_shape.py", &[]);
    for extra in [None, Some("--json")] {
        // A pipe whose reading end is closed before pyprobe starts: its first write fails.
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = crate::harness::pyprobe()
            .args(["dump", "--pid", &target.pid().to_string()])
            .args(extra)
            .stdout(writer)
            .stderr(std::process::Stdio::piped())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "{} {extra:?}: {:?} {stderr}",
            py.label,
            out.status
        );
        assert!(stderr.is_empty(), "{} {extra:?}: {stderr}", py.label);
        assert!(!matches!(target.state(), 'T' | 't'), "target left stopped");
    }
}
