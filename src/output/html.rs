//! One self-contained HTML report: the RSS timeline (with the anon/file split and the
//! out-of-memory line), a CPU flame graph and an RSS-growth flame graph, and a time-range
//! selection that re-draws both flame graphs from the profile's timeline buckets.
//!
//! The page needs no network: the CSS and the script (`html/report.css`, `html/report.js`) are
//! inlined, and the profile is embedded as one JSON blob (`<script type="application/json"
//! id="pyprobe-data">`) in which every `<`, `>` and `&` is written as a `\u00XX` escape, so that
//! no frame name can close the script element. The header (title, counts, memory summary) is
//! plain HTML written here, so it reads even without the script. Output is deterministic: the
//! timeline's buckets are written sorted by stack id.
use std::collections::HashMap;
use std::io::Write;

use serde::Serialize;

use super::{frame_label, OutputOptions, ProfileWriter};
use crate::display::escape_markup;
use crate::profile::{MemorySummary, Profile, Weights};

const CSS: &str = include_str!("html/report.css");
const JS: &str = include_str!("html/report.js");

/// The `id` of the script element holding the JSON data.
pub const DATA_ELEMENT_ID: &str = "pyprobe-data";

/// Writes the `html` format.
#[derive(Debug, Clone, Copy, Default)]
pub struct HtmlWriter;

/// The embedded data; the script reads it, the tests parse it back.
#[derive(Debug, Serialize)]
struct Report<'a> {
    /// Format version of this blob.
    version: u32,
    title: &'a str,
    sample_count: u64,
    error_count: u64,
    /// Seconds.
    duration: f64,
    /// Seconds between samples.
    interval: f64,
    /// One root per thread in the flame graphs.
    per_thread: bool,
    /// The memory summary line, when RSS was read.
    summary: Option<String>,
    /// Thread labels by thread index.
    threads: Vec<String>,
    /// Distinct frame labels (`function (file:line)`); stacks refer to them by index. Frames
    /// with the same label (e.g. line numbers off) share one entry, so flame graphs merge them.
    frames: Vec<String>,
    /// Stacks by stack id (the ids the timeline and the peak use).
    stacks: Vec<StackOut>,
    /// Totals over the whole recording.
    totals: WeightsOut,
    timeline: TimelineOut,
    memory: MemoryOut,
}

#[derive(Debug, Serialize)]
struct StackOut {
    thread: usize,
    /// Indices into `frames`, outermost first.
    frames: Vec<u32>,
    /// Weights over the whole recording.
    total: WeightsOut,
}

#[derive(Debug, Default, Clone, Copy, Serialize)]
struct WeightsOut {
    samples: u64,
    rss_growth: u64,
    rss_release: u64,
}

impl From<&Weights> for WeightsOut {
    fn from(w: &Weights) -> Self {
        WeightsOut {
            samples: w.samples,
            rss_growth: w.rss_growth,
            rss_release: w.rss_release,
        }
    }
}

#[derive(Debug, Serialize)]
struct TimelineOut {
    /// Seconds; bucket i covers [i·width, (i+1)·width).
    width: f64,
    buckets: Vec<BucketOut>,
}

#[derive(Debug, Serialize)]
struct BucketOut {
    ticks: u64,
    /// `[stack id, samples, rss_growth, rss_release]`, sorted by stack id.
    stacks: Vec<[u64; 4]>,
}

#[derive(Debug, Serialize)]
struct MemoryOut {
    /// `[at seconds, min, max, last]` bytes.
    points: Vec<(f64, u64, u64, u64)>,
    details: Vec<DetailsOut>,
    start: Option<(f64, u64)>,
    end: Option<(f64, u64)>,
    peak: Option<PeakOut>,
    growth_total: u64,
    release_total: u64,
}

#[derive(Debug, Serialize)]
struct DetailsOut {
    at: f64,
    anon: u64,
    file: u64,
    shmem: u64,
    swap: u64,
    mem_available: Option<u64>,
    mem_total: Option<u64>,
    cgroup_limit: Option<u64>,
    cgroup_usage: Option<u64>,
    /// Room left: the smaller of available memory and cgroup limit − usage.
    headroom: Option<u64>,
}

#[derive(Debug, Serialize)]
struct PeakOut {
    at: f64,
    rss: u64,
    stack: Option<u32>,
    /// Label of the innermost frame running at the peak.
    frame: Option<String>,
    /// Label of the thread it ran on.
    thread: Option<String>,
}

impl<'a> Report<'a> {
    fn of(profile: &'a Profile, opts: &OutputOptions) -> Report<'a> {
        let mut label_index: HashMap<String, u32> = HashMap::new();
        let mut frames: Vec<String> = Vec::new();
        let frame_map: Vec<u32> = profile
            .frames
            .iter()
            .map(|f| {
                let label = frame_label(f, opts);
                *label_index.entry(label.clone()).or_insert_with(|| {
                    frames.push(label);
                    frames.len() as u32 - 1
                })
            })
            .collect();
        let stacks = profile
            .stack_keys
            .iter()
            .map(|key| StackOut {
                thread: key.0,
                frames: key.1.iter().map(|&f| frame_map[f as usize]).collect(),
                total: profile
                    .stacks
                    .get(key)
                    .map(WeightsOut::from)
                    .unwrap_or_default(),
            })
            .collect();
        let buckets = profile
            .timeline
            .buckets
            .iter()
            .map(|b| {
                let mut stacks: Vec<[u64; 4]> = b
                    .stacks
                    .iter()
                    .map(|(&id, w)| [u64::from(id), w.samples, w.rss_growth, w.rss_release])
                    .collect();
                stacks.sort_unstable();
                BucketOut {
                    ticks: b.ticks,
                    stacks,
                }
            })
            .collect();
        let m = &profile.memory;
        let peak = m.peak.as_ref().map(|p| {
            let key = p.stack.and_then(|id| profile.stack_keys.get(id as usize));
            PeakOut {
                at: p.at,
                rss: p.rss,
                stack: p.stack,
                frame: key
                    .and_then(|(_, ids)| ids.last())
                    .and_then(|&f| profile.frames.get(f as usize))
                    .map(|f| frame_label(f, opts)),
                thread: key
                    .and_then(|(t, _)| profile.threads.get(*t))
                    .map(|t| t.label()),
            }
        });
        Report {
            version: 1,
            title: &profile.title,
            sample_count: profile.sample_count,
            error_count: profile.error_count,
            duration: profile.duration.as_secs_f64(),
            interval: profile.interval.as_secs_f64(),
            per_thread: opts.per_thread,
            summary: MemorySummary::of(profile).map(|s| s.to_string()),
            // `--subprocesses`: the thread filter names each thread's process.
            threads: crate::profile::processes::thread_labels(profile),
            frames,
            stacks,
            totals: WeightsOut {
                samples: profile.total(crate::profile::Measure::Samples),
                rss_growth: profile.total(crate::profile::Measure::RssGrowth),
                rss_release: profile.total(crate::profile::Measure::RssRelease),
            },
            timeline: TimelineOut {
                width: profile.timeline.width.as_secs_f64(),
                buckets,
            },
            memory: MemoryOut {
                points: m
                    .points
                    .iter()
                    .map(|p| (p.at, p.min, p.max, p.last))
                    .collect(),
                details: m
                    .details
                    .iter()
                    .map(|d| DetailsOut {
                        at: d.at,
                        anon: d.details.rss_anon,
                        file: d.details.rss_file,
                        shmem: d.details.rss_shmem,
                        swap: d.details.swap,
                        mem_available: d.details.mem_available,
                        mem_total: d.details.mem_total,
                        cgroup_limit: d.details.cgroup.map(|c| c.limit),
                        cgroup_usage: d.details.cgroup.map(|c| c.usage),
                        headroom: d.details.headroom(),
                    })
                    .collect(),
                start: m.start,
                end: m.end,
                peak,
                growth_total: m.growth_total,
                release_total: m.release_total,
            },
        }
    }

    /// Nothing to show: no samples with a stack and no memory reading.
    fn is_empty(&self) -> bool {
        self.stacks.is_empty() && self.memory.points.is_empty()
    }
}

/// JSON safe to embed in a `<script>` element: `<`, `>` and `&` only occur inside JSON strings,
/// where their `\u00XX` escapes mean the same, so `</script>` and `<!--` cannot appear.
fn script_safe_json<T: Serialize>(value: &T) -> serde_json::Result<String> {
    let json = serde_json::to_string(value)?;
    Ok(json
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026"))
}

fn seconds(secs: f64) -> String {
    format!("{secs:.2} s")
}

impl ProfileWriter for HtmlWriter {
    fn write(
        &self,
        profile: &Profile,
        opts: &OutputOptions,
        out: &mut dyn Write,
    ) -> anyhow::Result<()> {
        let report = Report::of(profile, opts);
        let json = script_safe_json(&report)?;
        let title = escape_markup(&profile.title);
        let memory_line = match &report.summary {
            Some(s) => escape_markup(s),
            None => "memory: no RSS readings".to_string(),
        };
        let empty = if report.is_empty() {
            "<p id=\"empty\" class=\"empty\">This recording is empty: no samples with a Python \
             stack and no memory readings.</p>\n"
        } else {
            ""
        };
        write!(
            out,
            r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="pyprobe {version}">
<title>pyprobe: {title}</title>
<style>
{CSS}</style>
</head>
<body>
<header>
<h1>pyprobe report</h1>
<p class="command"><code id="title">{title}</code></p>
<p class="facts"><span id="sample-count">{samples}</span> samples over <span id="duration">{duration}</span> (every {interval}), <span id="error-count">{errors}</span> failed, {threads} thread(s)</p>
<p class="memory-summary" id="memory-summary">{memory_line}</p>
</header>
{empty}<main id="report">
<section id="timeline-section">
<h2>Resident memory (RSS) over time</h2>
<div class="chart" id="timeline-box"></div>
<p class="hint">Drag across the chart to select a time range: both flame graphs then show only that range. The range is kept in the address (<code>#range=T0-T1</code>, seconds), so it can be shared.</p>
</section>
<div class="toolbar" id="toolbar">
<span>Showing <strong id="range-label">the whole recording</strong>: <span id="range-totals"></span></span>
<button type="button" id="reset-range">reset range</button>
<label>Thread <select id="thread-select"><option value="all">all threads</option></select></label>
</div>
<section id="cpu-section">
<h2>CPU: where samples were taken</h2>
<p class="info" id="flame-cpu-info">Click a frame to zoom into it, the root to zoom out.</p>
<div class="chart" id="flame-cpu-box"></div>
</section>
<section id="rss-section">
<h2>Memory: what ran while RSS grew</h2>
<p class="info" id="flame-rss-info">Bytes of RSS growth charged to the stacks seen while it grew. Click a frame to zoom.</p>
<div class="chart" id="flame-rss-box"></div>
</section>
{heap}{processes}</main>
<script type="application/json" id="{DATA_ELEMENT_ID}">{json}</script>
<script>
{JS}</script>
</body>
</html>
"#,
            version = env!("CARGO_PKG_VERSION"),
            samples = profile.sample_count,
            duration = seconds(profile.duration.as_secs_f64()),
            interval = format_args!("{:.1} ms", profile.interval.as_secs_f64() * 1000.0),
            errors = profile.error_count,
            threads = profile.threads.len(),
            heap = super::html_heap::heap_section(profile),
            processes = super::html_processes::section(profile.processes.as_ref()),
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::{CgroupLimit, MemoryDetails};
    use crate::profile::AggregateOptions;
    use crate::stack::{Frame, ThreadStack};
    use serde_json::Value;
    use std::time::Duration;

    fn frame(name: &str, line: u32) -> Frame {
        Frame {
            name: name.into(),
            filename: "/app/main.py".into(),
            line,
        }
    }

    fn thread(id: u64, frames: Vec<Frame>) -> ThreadStack {
        ThreadStack {
            thread_id: id,
            os_tid: Some(id as u32 + 100),
            name: Some(format!("t{id}").into()),
            active: true,
            holds_gil: true,
            frames: frames.into(),
        }
    }

    fn render(profile: &Profile, opts: &OutputOptions) -> String {
        let mut out = Vec::new();
        HtmlWriter.write(profile, opts, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    /// The embedded JSON, parsed back.
    fn data(html: &str) -> Value {
        let open = format!("<script type=\"application/json\" id=\"{DATA_ELEMENT_ID}\">");
        let start = html.find(&open).expect("data element") + open.len();
        let len = html[start..].find("</script>").expect("end of data");
        serde_json::from_str(&html[start..start + len]).expect("valid JSON")
    }

    /// 0–2 s at 100 ms: `grow` (memory +1 MiB per tick) for the first second, then `burn`
    /// (RSS flat), on the main thread; a second thread runs `other` throughout.
    fn sample_profile() -> Profile {
        let mut p = Profile::new("python app.py", Duration::from_millis(100));
        let opts = AggregateOptions::default();
        let main = |f: Frame| thread(1, vec![f, frame("<module>", 1)]);
        let other = thread(2, vec![frame("other", 30)]);
        for i in 0..20u64 {
            let (stack, rss) = if i < 10 {
                (main(frame("grow", 10)), (100 + i) << 20)
            } else {
                (main(frame("burn", 20)), 109 << 20)
            };
            p.add_tick(
                Duration::from_millis(100 * i),
                &[stack, other.clone()],
                Some(rss),
                &opts,
            );
            if i % 5 == 0 {
                p.add_details(
                    Duration::from_millis(100 * i),
                    MemoryDetails {
                        rss_anon: (90 + i) << 20,
                        rss_file: 10 << 20,
                        mem_available: Some(4 << 30),
                        mem_total: Some(8 << 30),
                        cgroup: Some(CgroupLimit {
                            limit: 1 << 30,
                            usage: 512 << 20,
                        }),
                        ..Default::default()
                    },
                );
            }
        }
        p.duration = Duration::from_secs(2);
        p
    }

    fn u(v: &Value) -> u64 {
        v.as_u64().unwrap_or_else(|| panic!("not a u64: {v}"))
    }

    #[test]
    fn data_round_trips() {
        let p = sample_profile();
        let html = render(&p, &OutputOptions::default());
        let d = data(&html);
        assert_eq!(d["version"], 1);
        assert_eq!(d["title"], "python app.py");
        assert_eq!(u(&d["sample_count"]), 20);
        assert_eq!(
            d["threads"],
            serde_json::json!(["t1 (tid 101)", "t2 (tid 102)"])
        );

        let frames: Vec<&str> = d["frames"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap())
            .collect();
        let stacks = d["stacks"].as_array().unwrap();
        assert_eq!(stacks.len(), p.stack_keys.len());
        // Every stack matches the profile's key and totals.
        for (id, (thread, ids)) in p.stack_keys.iter().enumerate() {
            let s = &stacks[id];
            assert_eq!(u(&s["thread"]) as usize, *thread);
            let labels: Vec<&str> = s["frames"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| frames[u(i) as usize])
                .collect();
            let expected: Vec<String> = ids
                .iter()
                .map(|&f| frame_label(&p.frames[f as usize], &OutputOptions::default()))
                .collect();
            assert_eq!(labels, expected);
            let w = p.stacks[&(*thread, ids.clone())];
            assert_eq!(u(&s["total"]["samples"]), w.samples);
            assert_eq!(u(&s["total"]["rss_growth"]), w.rss_growth);
        }
        let label_of = |id: usize| {
            let fs = stacks[id]["frames"].as_array().unwrap();
            frames[u(fs.last().unwrap()) as usize]
        };

        // Buckets: 50 ms wide, a tick every 100 ms → 39 buckets, every other one with a tick.
        let width = d["timeline"]["width"].as_f64().unwrap();
        assert!((width - 0.05).abs() < 1e-9, "{width}");
        let buckets = d["timeline"]["buckets"].as_array().unwrap();
        assert_eq!(buckets.len(), p.timeline.buckets.len());
        let mut sums = [0u64; 3];
        for (b, pb) in buckets.iter().zip(&p.timeline.buckets) {
            assert_eq!(u(&b["ticks"]), pb.ticks);
            let entries = b["stacks"].as_array().unwrap();
            let ids: Vec<u64> = entries.iter().map(|e| u(&e[0])).collect();
            assert!(ids.windows(2).all(|w| w[0] < w[1]), "sorted: {ids:?}");
            for e in entries {
                let w = pb.stacks[&(u(&e[0]) as u32)];
                assert_eq!(
                    [u(&e[1]), u(&e[2]), u(&e[3])],
                    [w.samples, w.rss_growth, w.rss_release]
                );
                for (s, v) in sums.iter_mut().zip(&e.as_array().unwrap()[1..]) {
                    *s += u(v);
                }
            }
        }
        assert_eq!(sums[0], p.total_samples());
        assert_eq!(sums[1], 9 << 20);
        assert_eq!(u(&d["totals"]["rss_growth"]), 9 << 20);
        // The growth happened in the first second, on grow and other only.
        let late_growth: u64 = buckets[20..]
            .iter()
            .flat_map(|b| b["stacks"].as_array().unwrap())
            .map(|e| u(&e[2]))
            .sum();
        assert_eq!(late_growth, 0);
        let grow_growth: u64 = buckets
            .iter()
            .flat_map(|b| b["stacks"].as_array().unwrap())
            .filter(|e| label_of(u(&e[0]) as usize).starts_with("grow "))
            .map(|e| u(&e[2]))
            .sum();
        assert_eq!(grow_growth, (9 << 20) / 2, "half to grow, half to other");

        // Memory: points, details, peak with its frame.
        let m = &d["memory"];
        assert_eq!(m["points"].as_array().unwrap().len(), p.memory.points.len());
        assert_eq!(
            m["points"][0],
            serde_json::json!([0.0, 100 << 20, 100 << 20, 100 << 20])
        );
        assert_eq!(m["details"].as_array().unwrap().len(), 4);
        assert_eq!(u(&m["details"][0]["headroom"]), 512 << 20);
        assert_eq!(u(&m["details"][0]["cgroup_limit"]), 1 << 30);
        assert_eq!(u(&m["details"][1]["anon"]), 95 << 20);
        assert_eq!(u(&m["peak"]["rss"]), 109 << 20);
        assert!((m["peak"]["at"].as_f64().unwrap() - 0.9).abs() < 1e-9);
        assert_eq!(m["peak"]["frame"], "grow (/app/main.py:10)");
        assert_eq!(m["peak"]["thread"], "t1 (tid 101)");
        assert_eq!(
            label_of(u(&m["peak"]["stack"]) as usize),
            "grow (/app/main.py:10)"
        );
        assert_eq!(u(&m["growth_total"]), 9 << 20);

        // The header carries the summary line.
        let summary = MemorySummary::of(&p).unwrap().to_string();
        assert_eq!(d["summary"], summary.as_str());
        assert!(
            html.contains(&escape_markup(&summary)),
            "header lacks the summary"
        );
        assert!(summary.contains("peak 109.0 MiB at 0.90 s (in grow (/app/main.py:10))"));
        assert!(html.contains("<span id=\"sample-count\">20</span>"));
        assert!(!html.contains("id=\"empty\""));
    }

    #[test]
    fn deterministic() {
        let p = sample_profile();
        let a = render(&p, &OutputOptions::default());
        let b = render(&p.clone(), &OutputOptions::default());
        assert_eq!(a, b);
    }

    #[test]
    fn self_contained() {
        let html = render(&sample_profile(), &OutputOptions::default());
        // The SVG namespace is a name, not something fetched.
        let html = html.replace("\"http://www.w3.org/2000/svg\"", "");
        for needle in ["http://", "https://", "@import", "url(", "<link", "src="] {
            assert!(!html.contains(needle), "the page refers to {needle}");
        }
        // Exactly two scripts (data and code), each closed once.
        assert_eq!(html.matches("<script").count(), 2);
        assert_eq!(html.matches("</script>").count(), 2);
        assert!(!JS.to_ascii_lowercase().contains("</script"));
        assert!(!CSS.to_ascii_lowercase().contains("</style"));
    }

    #[test]
    fn script_tags_in_names_cannot_break_out() {
        let mut p = Profile::new(
            "python -c '</script><script>alert(1)</script>'",
            Duration::from_millis(10),
        );
        let evil = Frame {
            name: "</script><script>alert(1)</script><!--".into(),
            filename: "<stdin> & \"quotes\"".into(),
            line: 3,
        };
        p.add_tick(
            Duration::ZERO,
            &[thread(1, vec![evil.clone()])],
            Some(1 << 20),
            &AggregateOptions::default(),
        );
        let html = render(&p, &OutputOptions::default());
        assert_eq!(html.matches("<script").count(), 2, "{html}");
        assert_eq!(html.matches("</script>").count(), 2);
        assert!(!html.contains("<!--"));
        assert!(
            html.contains("&lt;/script&gt;&lt;script&gt;alert(1)"),
            "title escaped"
        );
        let d = data(&html);
        assert_eq!(d["title"], p.title.as_str());
        assert_eq!(
            d["frames"][0],
            "</script><script>alert(1)</script><!-- (<stdin> & \"quotes\":3)"
        );
        assert_eq!(d["memory"]["peak"]["frame"], d["frames"][0]);
    }

    #[test]
    fn labels_follow_options() {
        let mut p = Profile::new("t", Duration::from_millis(10));
        let opts = AggregateOptions::default();
        for line in [10, 11] {
            p.add_tick(
                Duration::ZERO,
                &[thread(1, vec![frame("f", line)])],
                None,
                &opts,
            );
        }
        let with_lines = data(&render(&p, &OutputOptions::default()));
        assert_eq!(
            with_lines["frames"],
            serde_json::json!(["f (/app/main.py:10)", "f (/app/main.py:11)"])
        );
        let no_lines = OutputOptions {
            show_line_numbers: false,
            per_thread: true,
            ..OutputOptions::default()
        };
        let d = data(&render(&p, &no_lines));
        // Frames differing only by line share one label, so the flame graphs merge them.
        assert_eq!(d["frames"], serde_json::json!(["f (/app/main.py)"]));
        assert_eq!(d["stacks"][0]["frames"], d["stacks"][1]["frames"]);
        assert_eq!(d["per_thread"], true);
        assert_eq!(d["summary"], Value::Null, "no RSS read");
    }

    #[test]
    fn empty_profile_is_a_valid_page_that_says_so() {
        let p = Profile::new("python idle.py", Duration::from_millis(10));
        let html = render(&p, &OutputOptions::default());
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.trim_end().ends_with("</html>"));
        assert!(html.contains("id=\"empty\""));
        assert!(html.contains("This recording is empty"));
        assert!(html.contains("memory: no RSS readings"));
        let d = data(&html);
        assert_eq!(d["stacks"], serde_json::json!([]));
        assert_eq!(d["timeline"]["buckets"], serde_json::json!([]));
        assert_eq!(d["memory"]["peak"], Value::Null);
        assert_eq!(d["summary"], Value::Null);
    }

    #[test]
    fn escapes() {
        let json = script_safe_json(&"</script><!-- &").unwrap();
        assert_eq!(json, r#""\u003c/script\u003e\u003c!-- \u0026""#);
        assert_eq!(
            serde_json::from_str::<String>(&json).unwrap(),
            "</script><!-- &"
        );
    }
}
