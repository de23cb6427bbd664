//! The gecko JSON parsed back as plain JSON: structure, indices, sample counts, the RSS counter.
use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use super::*;
use crate::output::pprof::tests::memory_profile;
use crate::profile::Weights;

fn render(p: &Profile, opts: &OutputOptions) -> Value {
    let mut out = Vec::new();
    GeckoWriter.write(p, opts, &mut out).unwrap();
    assert_eq!(out.last(), Some(&b'\n'));
    serde_json::from_slice(&out).unwrap()
}

fn uint(v: &Value) -> usize {
    v.as_u64().unwrap_or_else(|| panic!("not an index: {v}")) as usize
}

/// Column name → index, checking that the indices are exactly 0..n.
fn schema(table: &Value, expected: &[&str]) -> BTreeMap<String, usize> {
    let map: BTreeMap<String, usize> = table["schema"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), uint(v)))
        .collect();
    let mut names: Vec<&str> = map.keys().map(String::as_str).collect();
    names.sort_unstable();
    let mut want = expected.to_vec();
    want.sort_unstable();
    assert_eq!(names, want);
    let mut indices: Vec<usize> = map.values().copied().collect();
    indices.sort_unstable();
    assert_eq!(indices, (0..map.len()).collect::<Vec<_>>());
    for row in table["data"].as_array().unwrap() {
        assert_eq!(row.as_array().unwrap().len(), map.len(), "{row}");
    }
    map
}

/// A thread, checked: its samples as (frame locations outermost first, time ms).
struct ParsedThread {
    name: String,
    tid: u64,
    samples: Vec<(Vec<String>, f64)>,
}

fn check_thread(t: &Value, categories: &[Value], end_ms: f64) -> ParsedThread {
    for key in ["processType", "registerTime", "unregisterTime", "pid"] {
        assert!(t.get(key).is_some(), "thread lacks {key}");
    }
    let strings: Vec<&str> = t["stringTable"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    let markers = schema(
        &t["markers"],
        &["name", "startTime", "endTime", "phase", "category", "data"],
    );
    assert_eq!(markers.len(), 6);
    let ft = schema(
        &t["frameTable"],
        &[
            "location",
            "relevantForJS",
            "innerWindowID",
            "implementation",
            "line",
            "column",
            "category",
            "subcategory",
        ],
    );
    let frames = t["frameTable"]["data"].as_array().unwrap();
    for f in frames {
        assert!(uint(&f[ft["location"]]) < strings.len());
        assert!(f[ft["relevantForJS"]].is_boolean());
        assert!(f[ft["line"]].is_null() || f[ft["line"]].as_u64().unwrap() > 0);
        let c = uint(&f[ft["category"]]);
        let subs = categories[c]["subcategories"].as_array().unwrap();
        assert!(uint(&f[ft["subcategory"]]) < subs.len());
    }
    let st = schema(&t["stackTable"], &["prefix", "frame"]);
    let stacks = t["stackTable"]["data"].as_array().unwrap();
    for (i, s) in stacks.iter().enumerate() {
        if !s[st["prefix"]].is_null() {
            assert!(uint(&s[st["prefix"]]) < i, "prefix after its stack");
        }
        assert!(uint(&s[st["frame"]]) < frames.len());
    }
    let sm = schema(&t["samples"], &["stack", "time", "eventDelay"]);
    let mut samples = Vec::new();
    let mut last = 0.0;
    for s in t["samples"]["data"].as_array().unwrap() {
        let time = s[sm["time"]].as_f64().unwrap();
        assert!(
            time >= last && time <= end_ms,
            "time {time} after {last}, end {end_ms}"
        );
        last = time;
        let mut stack = Some(uint(&s[sm["stack"]]));
        assert!(stack.unwrap() < stacks.len());
        let mut locations = Vec::new();
        while let Some(i) = stack {
            let frame = &frames[uint(&stacks[i][st["frame"]])];
            locations.push(strings[uint(&frame[ft["location"]])].to_string());
            stack = stacks[i][st["prefix"]].as_u64().map(|p| p as usize);
        }
        locations.reverse();
        samples.push((locations, time));
    }
    ParsedThread {
        name: t["name"].as_str().unwrap().to_string(),
        tid: t["tid"].as_u64().unwrap(),
        samples,
    }
}

/// The location string the writer gives a frame (with line numbers on).
fn location(f: &crate::stack::Frame) -> String {
    match (f.filename.is_empty(), f.line) {
        (true, _) => f.name.to_string(),
        (false, 0) => format!("{} ({})", f.name, f.filename),
        (false, line) => format!("{} ({}:{line})", f.name, f.filename),
    }
}

fn check_file(v: &Value, p: &Profile) -> Vec<ParsedThread> {
    let meta = &v["meta"];
    assert_eq!(meta["version"], GECKO_VERSION);
    assert_eq!(
        meta["interval"].as_f64().unwrap(),
        p.interval.as_secs_f64() * 1e3
    );
    assert_eq!(meta["startTime"], 0.0);
    assert_eq!(meta["presymbolicated"], true);
    assert!(meta["markerSchema"].as_array().unwrap().is_empty());
    let categories = meta["categories"].as_array().unwrap();
    assert_eq!(categories[PYTHON_CATEGORY]["name"], "Python");
    assert!(categories.iter().any(|c| c["color"] == "grey"));
    for key in ["libs", "pages", "pausedRanges", "processes", "counters"] {
        assert!(v[key].is_array(), "{key}");
    }
    let end = meta["profilingEndTime"].as_f64().unwrap();
    let threads: Vec<ParsedThread> = v["threads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| check_thread(t, categories, end))
        .collect();
    // Exactly one main thread, first, carrying the process name; one pid.
    let mains: Vec<&Value> = v["threads"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["name"] == MAIN_THREAD_NAME)
        .collect();
    assert_eq!(mains.len(), 1);
    assert_eq!(v["threads"][0]["name"], MAIN_THREAD_NAME);
    assert!(mains[0]["processName"].is_string());
    let pids: Vec<&Value> = v["threads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| &t["pid"])
        .collect();
    assert!(pids.iter().all(|&pid| pid == pids[0]));

    // Sample count per thread = the profile's; stacks rebuilt = the profile's.
    assert_eq!(threads.len(), p.threads.len().max(1));
    for (i, t) in p.threads.iter().enumerate() {
        let tid = t.os_tid.map_or(t.thread_id, u64::from);
        let parsed = threads.iter().find(|x| x.tid == tid).unwrap();
        let mut want: BTreeMap<Vec<String>, u64> = BTreeMap::new();
        for ((thread, ids), w) in &p.stacks {
            if *thread == i && w.samples > 0 {
                let locations = ids.iter().map(|&id| location(&p.frames[id as usize]));
                *want.entry(locations.collect()).or_default() += w.samples;
            }
        }
        let mut got: BTreeMap<Vec<String>, u64> = BTreeMap::new();
        for (stack, _) in &parsed.samples {
            *got.entry(stack.clone()).or_default() += 1;
        }
        assert_eq!(got, want, "thread {}", t.label());
        if parsed.name != MAIN_THREAD_NAME {
            assert_eq!(parsed.name, t.label());
        }
    }
    threads
}

#[test]
fn structure_samples_and_counter() {
    let p = memory_profile();
    let v = render(&p, &OutputOptions::default());
    let threads = check_file(&v, &p);
    let total: usize = threads.iter().map(|t| t.samples.len()).sum();
    assert_eq!(total as u64, p.total_samples());
    // MainThread is the main thread; its os tid is the pid.
    assert_eq!(v["threads"][0]["tid"], 1234);
    assert_eq!(v["threads"][0]["pid"], 1234);
    assert_eq!(
        v["threads"][0]["processName"],
        "python main.py --big — MainThread (tid 1234)"
    );

    // The RSS counter: one sample per point, the running sum is the RSS.
    let counters = v["counters"].as_array().unwrap();
    assert_eq!(counters.len(), 1);
    let c = &counters[0];
    assert_eq!(c["category"], "Memory");
    assert_eq!(c["name"], "RSS");
    let cs = schema(&c["samples"], &["time", "count"]);
    let data = c["samples"]["data"].as_array().unwrap();
    assert_eq!(data.len(), p.memory.points.len());
    let mut sum = 0i64;
    for (row, point) in data.iter().zip(&p.memory.points) {
        sum += row[cs["count"]].as_i64().unwrap();
        assert_eq!(sum as u64, point.last);
        assert!((row[cs["time"]].as_f64().unwrap() - point.at * 1e3).abs() < 1e-6);
    }
    assert_eq!(Some(sum as u64), p.memory.end.map(|(_, rss)| rss));
}

#[test]
fn samples_follow_the_timeline() {
    let p = memory_profile();
    let v = render(&p, &OutputOptions::default());
    let threads = check_file(&v, &p);
    let width = p.timeline.width.as_secs_f64() * 1e3;
    // Per bucket, the main thread's samples are those the timeline has for it.
    let main = &threads[0];
    for (b, bucket) in p.timeline.buckets.iter().enumerate() {
        let want: u64 = bucket
            .stacks
            .iter()
            .filter(|(&id, _)| p.stack_keys[id as usize].0 == 0)
            .map(|(_, w)| w.samples)
            .sum();
        let got = main
            .samples
            .iter()
            .filter(|(_, t)| (t / width).floor() as usize == b)
            .count() as u64;
        assert_eq!(got, want, "bucket {b}");
    }
    assert!(main
        .samples
        .iter()
        .any(|(s, _)| s.iter().any(|l| l.starts_with("burn ("))));
}

#[test]
fn without_lines_frames_merge() {
    let p = memory_profile();
    let opts = OutputOptions {
        show_line_numbers: false,
        ..OutputOptions::default()
    };
    let v = render(&p, &opts);
    let t = &v["threads"][0];
    let strings = t["stringTable"].as_array().unwrap();
    let grow: Vec<&Value> = strings
        .iter()
        .filter(|s| s.as_str().unwrap().starts_with("grow "))
        .collect();
    assert_eq!(grow, [&Value::from("grow (/app/main.py)")]);
    assert!(t["frameTable"]["data"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f[4].is_null()));
}

#[test]
fn thread_without_main_name_and_hand_built_profile() {
    // No timeline (stacks inserted by hand), no thread named MainThread, no RSS.
    let mut p = Profile::new("", Duration::from_millis(10));
    for (t, name) in [(1u64, "a"), (2, "b")] {
        p.intern_thread(&crate::stack::ThreadStack {
            thread_id: t,
            os_tid: Some(100 + t as u32),
            name: Some(name.into()),
            active: true,
            holds_gil: true,
            frames: Default::default(),
        });
    }
    let f = p.intern_frame(&crate::stack::Frame {
        name: "f".into(),
        filename: "".into(),
        line: 3,
    });
    let g = p.intern_frame(&crate::stack::Frame {
        name: "g".into(),
        filename: "/x.py".into(),
        line: 9,
    });
    let w = |samples| Weights {
        samples,
        ..Default::default()
    };
    p.stacks.insert((0, vec![f]), w(2));
    p.stacks.insert((1, vec![f, g]), w(5));
    p.stacks.insert((1, vec![g]), w(1));
    p.sample_count = 8;
    p.duration = Duration::from_millis(80);
    let v = render(&p, &OutputOptions::default());
    let threads = check_file(&v, &p);
    // The thread with the most samples is the main one; no pid known.
    assert_eq!(v["threads"][0]["tid"], 102);
    assert_eq!(v["threads"][0]["processName"], "b (tid 102)");
    assert_eq!(v["threads"][0]["pid"], 0);
    assert_eq!(v["threads"][1]["name"], "a (tid 101)");
    assert!(v["counters"].as_array().unwrap().is_empty());
    // Spread over the recording.
    let times: Vec<f64> = threads[0].samples.iter().map(|s| s.1).collect();
    let want: Vec<f64> = (0..6).map(|k| ms((k as f64 + 0.5) * 0.080 / 6.0)).collect();
    assert_eq!(times, want);
    assert_eq!(threads[0].samples[0].0, ["f", "g (/x.py:9)"]);
}

#[test]
fn empty_profile_has_a_main_thread() {
    let p = Profile::new("python x.py", Duration::from_millis(10));
    let v = render(&p, &OutputOptions::default());
    check_file(&v, &p);
    assert_eq!(v["threads"].as_array().unwrap().len(), 1);
    assert!(v["threads"][0]["samples"]["data"]
        .as_array()
        .unwrap()
        .is_empty());
}

#[test]
fn deterministic() {
    let p = memory_profile();
    let opts = OutputOptions::default();
    let render_bytes = || {
        let mut out = Vec::new();
        GeckoWriter.write(&p, &opts, &mut out).unwrap();
        out
    };
    assert_eq!(render_bytes(), render_bytes());
}
