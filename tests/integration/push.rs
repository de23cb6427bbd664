//! `record --push`: what reaches a server, decoded by third-party decoders — npm's
//! `pprof-format` for Pyroscope's ingest API, PyPI's `opentelemetry-proto` for OTLP profiles
//! — in a sink (tests/scripts/push_sink.py) the test starts; and what happens when the server
//! is down, fails, or answers slowly: windows are kept and retried, the sampler does not wait.
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::harness::{
    interpreters, run_pyprobe, run_pyprobe_within, spawn_pyprobe, Finished, Target,
};

const TARGET: &str = "grow_and_burn.py";

/// The venv python and the node_modules directory of tools/install-test-decoders (installed
/// on first use, once per run).
fn deps() -> &'static (PathBuf, PathBuf) {
    static DEPS: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    DEPS.get_or_init(|| {
        let mut paths = crate::harness::install_tool_paths("install-test-decoders").into_iter();
        (paths.next().unwrap(), paths.next().unwrap())
    })
}

/// A sink on `port` (0: any), with push_sink.py's `extra` options; it writes to `out`.
fn sink(out: &Path, port: u16, extra: &[&str]) -> (Target, u16) {
    let (python, modules) = deps();
    let mut cmd = Command::new(python);
    cmd.arg(crate::harness::script("push_sink.py"))
        .arg(out)
        .args(["--port", &port.to_string()])
        .args(extra)
        .env("PPROF_FORMAT_MODULES", modules);
    let (target, rest) = Target::spawn_command(cmd, "push_sink.py");
    (target, rest.parse().expect("push_sink.py prints its port"))
}

/// What the sink received, one JSON value a request.
fn received(out: &Path) -> Vec<Value> {
    std::fs::read_to_string(out)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

/// One `record --push` of a fresh target to a fresh sink (started with `sink_args`), with
/// `push_args` after `--push URL`: pyprobe's run, which must have succeeded, the target's pid,
/// and the requests the sink received.
struct Pushed {
    done: Finished,
    pid: u32,
    received: Vec<Value>,
}

fn push_to_sink(sink_args: &[&str], push_args: &[&str]) -> Pushed {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("received.jsonl");
    let (_sink, port) = sink(&out, 0, sink_args);
    let target = target();
    let pid = target.pid();
    let (pid_arg, url) = (pid.to_string(), format!("http://127.0.0.1:{port}"));
    let mut args = vec!["record", "-p", &pid_arg, "--push", &url];
    args.extend_from_slice(push_args);
    let done = run_pyprobe_within(&args, Duration::from_secs(40)).unwrap();
    assert!(done.status.success(), "{}", done.stderr);
    Pushed {
        done,
        pid,
        received: received(&out),
    }
}

fn target() -> Target {
    let python = interpreters()
        .iter()
        .find(|i| i.label == "pyenv-3.12.1")
        .expect("pyenv 3.12.1 is among the interpreters");
    Target::spawn(&python.path, TARGET, &[]).0
}

/// The function names of a decoded stack (leaf first).
fn names(stack: &Value) -> Vec<&str> {
    stack
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect()
}

/// A port nothing listens on (just released).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_string()
}

/// Pyroscope: every window arrives as a pprof profile with pyprobe's four sample types, the
/// labels in the application name, the CPU in burn() and the memory growth in grow().
#[test]
fn pprof_windows_reach_a_pyroscope_ingest_endpoint() {
    let Pushed {
        done,
        pid,
        received: got,
    } = push_to_sink(&[], &["--push-every", "1s", "-d", "4.5"]);
    assert!(
        done.stderr.contains("pushed 5 of 5 windows"),
        "{}",
        done.stderr
    );
    assert_eq!(got.len(), 5, "{got:?}");
    let (mut burn, mut grow_bytes, mut samples) = (0u64, 0u64, 0u64);
    for window in &got {
        assert_eq!(window["kind"], "pprof", "{window}");
        assert_eq!(window["path"], "/ingest");
        let q = &window["query"];
        let name = q["name"].as_str().unwrap();
        assert_eq!(
            name,
            format!(
                "grow_and_burn{{pid={pid},command={} {},host={}}}",
                interpreters()
                    .iter()
                    .find(|i| i.label == "pyenv-3.12.1")
                    .unwrap()
                    .path
                    .display(),
                crate::harness::script(TARGET).display(),
                host_name()
            )
        );
        assert_eq!(q["format"], "pprof");
        assert_eq!(q["spyName"], "pyprobe");
        assert_eq!(q["sampleRate"], "100");
        let (from, until): (u64, u64) = (
            q["from"].as_str().unwrap().parse().unwrap(),
            q["until"].as_str().unwrap().parse().unwrap(),
        );
        assert!(from < until && until as f64 <= now_secs() + 1.0, "{q}");
        assert_eq!(
            window["sample_types"],
            serde_json::json!([
                ["samples", "count"],
                ["wall", "nanoseconds"],
                ["rss_growth", "bytes"],
                ["rss_release", "bytes"]
            ])
        );
        assert_eq!(window["sample_type_config"]["rss_growth"]["units"], "bytes");
        assert_eq!(window["period"], 10_000_000);
        // The profile's own start is the window's.
        let start = window["time_nanos"].as_f64().unwrap() / 1e9;
        assert!((start - from as f64).abs() < 1.0, "{start} vs {from}");
        for s in window["samples"].as_array().unwrap() {
            let stack = names(&s["stack"]);
            assert_eq!(stack.last(), Some(&"<module>"), "{s}");
            assert_eq!(s["labels"]["thread_name"], "MainThread", "{s}");
            assert_eq!(s["labels"]["thread_id"].to_string(), pid.to_string(), "{s}");
            let values: Vec<u64> = s["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap())
                .collect();
            assert_eq!(values[1], values[0] * 10_000_000, "{s}");
            samples += values[0];
            if stack[0] == "burn" {
                burn += values[0];
            }
            if stack[0] == "grow" {
                grow_bytes += values[2];
            }
        }
    }
    // grow_and_burn.py burns 150 ms for each 50 ms of growing.
    assert!(burn * 10 > samples * 5, "burn {burn} of {samples}");
    // A 2 MiB chunk every 200 ms or so: several chunks' growth charged to grow().
    assert!(grow_bytes >= 4 << 20, "grow() charged {grow_bytes} bytes");
    // Ticks while the thread sleeps (in grow()) are not samples: the windows together hold
    // most ticks of the recording, and no more.
    let line = done
        .stderr
        .lines()
        .find(|l| l.contains(" samples, "))
        .unwrap();
    let ticks: u64 = line["pyprobe: ".len()..]
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        samples <= ticks && samples * 2 >= ticks,
        "{samples} of {ticks}: {line}"
    );
}

/// OTLP: each window is one request with the process as resource and one profile per sample
/// type, samples carrying the thread's attributes.
#[test]
fn otlp_windows_reach_a_collector() {
    let Pushed {
        done,
        pid,
        received: got,
    } = push_to_sink(
        &[],
        &[
            "--push-every",
            "1s",
            "--push-format",
            "otlp",
            "--push-service",
            "batch-job",
            "-d",
            "3.5",
        ],
    );
    assert!(
        done.stderr.contains("pushed 4 of 4 windows"),
        "{}",
        done.stderr
    );
    assert_eq!(got.len(), 4, "{got:?}");
    let (mut burn, mut grow_bytes) = (0u64, 0u64);
    let mut ids = std::collections::HashSet::new();
    for request in &got {
        assert_eq!(request["kind"], "otlp", "{request}");
        assert_eq!(request["path"], "/v1development/profiles");
        assert_eq!(request["content_type"], "application/x-protobuf");
        let resources = request["resources"].as_array().unwrap();
        assert_eq!(resources.len(), 1);
        let attrs = &resources[0]["attributes"];
        assert_eq!(attrs["service.name"], "batch-job");
        assert_eq!(attrs["process.pid"], pid);
        assert_eq!(attrs["host.name"], host_name().as_str());
        assert!(attrs["process.command_line"]
            .as_str()
            .unwrap()
            .ends_with(TARGET));
        let profiles = resources[0]["profiles"].as_array().unwrap();
        let types: Vec<&Value> = profiles.iter().map(|p| &p["sample_type"]).collect();
        assert_eq!(
            types,
            [
                &serde_json::json!(["samples", "count"]),
                &serde_json::json!(["rss_growth", "bytes"])
            ]
        );
        for p in profiles {
            assert_eq!(p["scope"], "pyprobe");
            assert_eq!(p["period_type"], serde_json::json!(["wall", "nanoseconds"]));
            assert_eq!(p["period"], 10_000_000);
            assert!(
                ids.insert(p["profile_id"].to_string()),
                "profile ids repeat"
            );
            let start = p["time_unix_nano"].as_f64().unwrap() / 1e9;
            assert!((now_secs() - start) < 60.0, "{start}");
            assert!(p["duration_nano"].as_u64().unwrap() > 0);
            for s in p["samples"].as_array().unwrap() {
                let stack = names(&s["stack"]);
                assert_eq!(stack.last(), Some(&"<module>"), "{s}");
                assert_eq!(s["attributes"]["thread.name"], "MainThread");
                assert_eq!(s["attributes"]["thread.id"], pid);
                let v = s["values"][0].as_u64().unwrap();
                assert!(v > 0, "{s}");
                match (p["sample_type"][0].as_str().unwrap(), stack[0]) {
                    ("samples", "burn") => burn += v,
                    ("rss_growth", "grow") => grow_bytes += v,
                    _ => {}
                }
            }
        }
    }
    assert!(burn > 100, "burn() samples: {burn}");
    assert!(grow_bytes >= 4 << 20, "grow() charged {grow_bytes} bytes");
}

/// A server that is down when pushing starts, then comes up: the refusal is reported, the
/// windows are kept and retried, and every one arrives, the early ones included.
#[test]
fn windows_wait_for_a_server_that_comes_up_late() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("received.jsonl");
    let port = free_port();
    let target = target();
    let pid = target.pid().to_string();
    let url = format!("http://127.0.0.1:{port}");
    let running = spawn_pyprobe(&[
        "record",
        "-p",
        &pid,
        "--push",
        &url,
        "--push-every",
        "1s",
        "-d",
        "5.5",
    ]);
    std::thread::sleep(Duration::from_millis(2500));
    let up_at = now_secs();
    let (_sink, _) = sink(&out, port, &[]);
    let done = running.finish(Duration::from_secs(40)).unwrap();
    assert!(done.status.success(), "{}", done.stderr);
    assert!(
        done.stderr
            .contains(&format!("connection refused by 127.0.0.1:{port}")),
        "{}",
        done.stderr
    );
    assert!(
        done.stderr.contains("takes windows again"),
        "{}",
        done.stderr
    );
    assert!(
        done.stderr.contains("pushed 6 of 6 windows"),
        "{}",
        done.stderr
    );
    let got = received(&out);
    assert_eq!(got.len(), 6, "{got:?}");
    let first = got
        .iter()
        .map(|w| w["query"]["from"].as_str().unwrap().parse::<f64>().unwrap())
        .fold(f64::MAX, f64::min);
    assert!(
        first < up_at - 1.0,
        "the first window (from {first}) was made while the server was down (up at {up_at})"
    );
}

/// A server answering 503 twice: the window is sent again, and nothing is lost.
#[test]
fn a_failing_server_gets_the_window_again() {
    let Pushed {
        done,
        pid: _,
        received: got,
    } = push_to_sink(&["--fail", "2"], &["--push-every", "1s", "-d", "2.5"]);
    assert!(
        done.stderr.contains("answered 503: failing on purpose"),
        "{}",
        done.stderr
    );
    assert!(
        done.stderr.contains("pushed 3 of 3 windows"),
        "{}",
        done.stderr
    );
    assert_eq!(got.len(), 3);
}

/// A server that takes 2 s to answer each request while windows close every 0.5 s: sampling
/// keeps its rate, the queue absorbs what it can, and pyprobe exits within its grace period,
/// saying how many windows were dropped.
#[test]
fn a_slow_server_does_not_slow_sampling() {
    let Pushed {
        done,
        pid: _,
        received: got,
    } = push_to_sink(&["--slow", "2"], &["--push-every", "500ms", "-d", "4"]);
    // 4 s of sampling plus at most the 5 s grace, and start-up.
    assert!(done.elapsed < Duration::from_secs(12), "{:?}", done.elapsed);
    let line = done
        .stderr
        .lines()
        .find(|l| l.contains(" samples, "))
        .unwrap();
    let samples: u64 = line["pyprobe: ".len()..]
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(samples >= 300, "{samples} samples in 4 s at 100 Hz: {line}");
    let got = got.len();
    assert!(got >= 3, "{got} windows received: {line}");
    assert!(line.contains(&format!("pushed {got} of ")), "{line}");
    assert!(line.contains("dropped (server unreachable)"), "{line}");
}

/// A URL that is not plain http: a clear message, before anything is attached.
#[test]
fn a_bad_push_url_is_refused_with_a_hint() {
    for (url, says) in [
        ("localhost:4040", "is not a URL: give http://HOST:PORT"),
        ("https://example.com", "https is not supported"),
    ] {
        let out = run_pyprobe(&["record", "-p", "1", "--push", url]);
        assert_eq!(out.status.code(), Some(2), "{url}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{url}: {err}");
    }
}
