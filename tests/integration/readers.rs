//! Output files read by their real readers, not by our reading of their schemas: a `pprof`
//! file decoded by npm's `pprof-format`, a `speedscope` file loaded by speedscope's own web app
//! (npm's `speedscope` release, in headless chromium). Both installed by
//! tools/install-test-decoders.
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::harness::{interpreters, run_pyprobe_within, script, Target};

const TARGET: &str = "grow_and_burn.py";

/// The node_modules directory of tools/install-test-decoders.
fn node_modules() -> PathBuf {
    let tool = Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/install-test-decoders");
    let out = Command::new("bash")
        .arg(&tool)
        .output()
        .expect("running install-test-decoders");
    assert!(
        out.status.success(),
        "install-test-decoders failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8_lossy(&out.stdout).lines().nth(1).unwrap())
}

fn python() -> &'static Path {
    &interpreters()
        .iter()
        .find(|i| i.label == "pyenv-3.12.1")
        .expect("pyenv 3.12.1 is among the interpreters")
        .path
}

/// Record grow_and_burn.py for 2 s in `format` into `dir`; the file.
fn record(dir: &Path, format: &str, name: &str) -> PathBuf {
    let (target, _) = Target::spawn(python(), TARGET, &[]);
    let out = dir.join(name);
    let pid = target.pid().to_string();
    let args = [
        "record",
        "-p",
        &pid,
        "-d",
        "2",
        "-f",
        format,
        "-o",
        out.to_str().unwrap(),
    ];
    let done = run_pyprobe_within(&args, Duration::from_secs(30)).unwrap();
    assert!(done.status.success(), "{}", done.stderr);
    out
}

/// npm's pprof-format decodes `-f pprof`: the four sample types, burn() under <module>, the
/// thread labels.
#[test]
fn pprof_file_decodes_with_pprof_format() {
    let dir = tempfile::tempdir().unwrap();
    let file = record(dir.path(), "pprof", "profile.pb.gz");
    let decoded = Command::new("node")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/decode_pprof.cjs"))
        .env("PPROF_FORMAT_MODULES", node_modules())
        .stdin(std::fs::File::open(&file).unwrap())
        .stderr(Stdio::inherit())
        .output()
        .expect("running node");
    assert!(decoded.status.success());
    let p: Value = serde_json::from_slice(&decoded.stdout).unwrap();
    assert_eq!(
        p["sample_types"],
        serde_json::json!([
            ["samples", "count"],
            ["wall", "nanoseconds"],
            ["rss_growth", "bytes"],
            ["rss_release", "bytes"]
        ])
    );
    assert_eq!(p["period_type"], serde_json::json!(["wall", "nanoseconds"]));
    let samples = p["samples"].as_array().unwrap();
    let leaf_of = |s: &Value| s["stack"][0]["name"].as_str().unwrap().to_string();
    let burn: i64 = samples
        .iter()
        .filter(|s| leaf_of(s) == "burn")
        .map(|s| s["values"][0].as_i64().unwrap())
        .sum();
    let all: i64 = samples
        .iter()
        .map(|s| s["values"][0].as_i64().unwrap())
        .sum();
    assert!(burn * 2 > all, "burn {burn} of {all}");
    let grown: i64 = samples
        .iter()
        .filter(|s| leaf_of(s) == "grow")
        .map(|s| s["values"][2].as_i64().unwrap())
        .sum();
    assert!(grown >= 2 << 20, "grow() charged {grown} bytes");
    for s in samples {
        let last = s["stack"].as_array().unwrap().last().unwrap();
        assert_eq!(last["name"], "<module>", "{s}");
        assert!(last["file"].as_str().unwrap().ends_with(TARGET));
        assert_eq!(s["labels"]["thread_name"], "MainThread");
    }
}

/// speedscope's own web app imports `-f speedscope`: it names the profile after the command
/// line, and its sandwich view lists burn() and grow().
#[test]
fn speedscope_file_loads_in_speedscope() {
    let dir = tempfile::tempdir().unwrap();
    record(dir.path(), "speedscope", "profile.json");
    std::os::unix::fs::symlink(
        node_modules().join("speedscope/dist/release"),
        dir.path().join("speedscope"),
    )
    .unwrap();
    let mut serve = Command::new(python());
    serve.arg(script("serve_dir.py")).arg(dir.path());
    let (_server, port) = Target::spawn_command(serve, "serve_dir.py");
    let base = format!("http://127.0.0.1:{port}");
    let url = format!("{base}/speedscope/index.html#profileURL={base}/profile.json&view=sandwich");
    let dom = crate::html_report::run_chromium(&url, &["--dump-dom"]).unwrap();
    let title = dom
        .split_once("<title>")
        .and_then(|(_, rest)| rest.split_once("</title>"))
        .map(|(t, _)| t)
        .unwrap_or_default();
    assert!(
        title.ends_with(&format!("{TARGET} - speedscope")),
        "speedscope did not load the profile: title {title:?}"
    );
    for function in ["burn (", "grow ("] {
        assert!(
            dom.contains(&format!(">{function}")),
            "{function} missing from the sandwich view"
        );
    }
}
