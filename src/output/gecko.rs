//! The Firefox Profiler's "gecko profile" JSON, which <https://profiler.firefox.com> imports
//! (File → Load a profile from file), with the process's RSS as a memory counter track.
//!
//! Written against the profiler's own definition of the format (`src/types/gecko-profile.ts`
//! and `docs-developer/gecko-profile-format.md` in firefox-devtools/profiler), at format
//! version [`GECKO_VERSION`] (counters carry `samples` directly; newer profilers upgrade it).
//!
//! - `meta`: `version`, `interval` (ms), `startTime` 0 (the wall-clock start is not kept, and
//!   output stays deterministic), `profilingStartTime` 0 and `profilingEndTime` (the
//!   recording's length, ms), `product` `pyprobe`, `presymbolicated` true (names are already
//!   resolved), two categories (`Other`, grey, which the profiler uses as default, and `Python`,
//!   which every frame belongs to), an empty `markerSchema`.
//! - `threads`: one per Python thread, each with its own `stringTable`, `frameTable`,
//!   `stackTable` (`{prefix, frame}` rows, outermost frame at the root) and `samples`
//!   (`{stack, time, eventDelay}` rows, `eventDelay` null). The profiler attaches counters to
//!   the thread named `GeckoMain` and shows it as the process's track, named by its
//!   `processName`: that is the Python main thread (the one named `MainThread`, else the one
//!   with the most samples, else an empty thread made up for the purpose), with
//!   `processName` `<title> — <thread label>`. The others are named by their labels. `tid` is
//!   the OS thread id (the Python ident when unknown); `pid` the main thread's OS id when it
//!   is `MainThread` (the process id on Linux), else 0.
//! - A frame's location is `function (file:line)` (the profiler reads it as a function of that
//!   file, with that line), or `function (file)` when line numbers are off or unknown, or
//!   `function` without a file; its `line` column holds the line (null when not shown).
//! - Samples: the profile is aggregated, not a series of stacks, so samples are rebuilt from
//!   the time buckets of [`crate::profile::Timeline`]: a stack seen `n` times in a bucket
//!   gives `n` samples, and the bucket's samples of one thread are spread evenly over its
//!   width (stacks in order of their ids). The format has no sample weights. A profile
//!   without a timeline (built by hand) puts its samples in one bucket spanning the recording.
//! - `counters`: one counter `RSS`, category `Memory` (drawn as a memory track), whose samples
//!   are `{time, count}` rows, one per point of [`crate::profile::MemoryTimeline::points`]
//!   (time: the point's start, ms). The profiler draws the running sum of `count` (as Firefox's
//!   memory counter reports allocation deltas), so the first count is the RSS of the first
//!   point and each next one the change of RSS (the point's last reading) since the previous
//!   point: the running sum is the RSS in bytes. No counter when RSS was never read.
//!
//! [`OutputOptions::per_thread`] does not apply (threads are always separate tracks), nor does
//! [`OutputOptions::measure`]: samples are samples, and memory is the counter.
use std::collections::HashMap;
use std::io::Write;

use anyhow::Context;
use serde::Serialize;
use serde_json::{json, Value};

use super::{OutputOptions, ProfileWriter};
use crate::profile::{Profile, StackKey, ThreadInfo};

/// The gecko profile format version written.
pub const GECKO_VERSION: u32 = 29;

/// Name the profiler gives the main thread of a process (it carries the counters).
pub const MAIN_THREAD_NAME: &str = "GeckoMain";

/// Category index of Python frames in `meta.categories`.
pub const PYTHON_CATEGORY: usize = 1;

/// Writes [`super::Format::Gecko`].
#[derive(Debug, Clone, Copy, Default)]
pub struct GeckoWriter;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct GeckoProfile {
    meta: Meta,
    libs: Vec<Value>,
    pages: Vec<Value>,
    threads: Vec<Thread>,
    paused_ranges: Vec<Value>,
    processes: Vec<Value>,
    counters: Vec<Counter>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Meta {
    version: u32,
    interval: f64,
    start_time: f64,
    shutdown_time: Option<f64>,
    profiling_start_time: f64,
    profiling_end_time: f64,
    process_type: u32,
    product: String,
    stackwalk: u32,
    debug: u32,
    gcpoison: u32,
    asyncstack: u32,
    presymbolicated: bool,
    categories: Value,
    marker_schema: Vec<Value>,
}

/// A table: `schema` maps column names to indices of the `data` rows.
#[derive(Serialize)]
struct Table<Row> {
    schema: Value,
    data: Vec<Row>,
}

/// `[location, relevantForJS, innerWindowID, implementation, line, column, category,
/// subcategory]`.
type FrameRow = (
    usize,
    bool,
    Option<u64>,
    Option<usize>,
    Option<u32>,
    Option<u32>,
    usize,
    usize,
);

/// `[prefix, frame]`.
type StackRow = (Option<usize>, usize);

/// `[stack, time, eventDelay]`.
type SampleRow = (usize, f64, Option<f64>);

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Thread {
    name: String,
    process_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    process_name: Option<String>,
    tid: u64,
    pid: u64,
    register_time: f64,
    unregister_time: Option<f64>,
    markers: Table<Value>,
    samples: Table<SampleRow>,
    frame_table: Table<FrameRow>,
    stack_table: Table<StackRow>,
    string_table: Vec<String>,
}

#[derive(Serialize)]
struct Counter {
    name: String,
    category: String,
    description: String,
    samples: Table<(f64, i64)>,
}

/// Milliseconds, rounded to the nanosecond so that files stay short and stable.
fn ms(seconds: f64) -> f64 {
    (seconds * 1e6).round() / 1e3
}

/// One thread's tables as they are filled.
struct ThreadBuilder<'a> {
    profile: &'a Profile,
    opts: &'a OutputOptions,
    strings: Vec<String>,
    string_index: HashMap<String, usize>,
    frames: Vec<FrameRow>,
    frame_index: HashMap<(usize, Option<u32>), usize>,
    /// Profile frame id → frame index.
    frame_of: HashMap<u32, usize>,
    stacks: Vec<StackRow>,
    stack_index: HashMap<StackRow, usize>,
    samples: Vec<SampleRow>,
}

impl<'a> ThreadBuilder<'a> {
    fn new(profile: &'a Profile, opts: &'a OutputOptions) -> Self {
        ThreadBuilder {
            profile,
            opts,
            strings: Vec::new(),
            string_index: HashMap::new(),
            frames: Vec::new(),
            frame_index: HashMap::new(),
            frame_of: HashMap::new(),
            stacks: Vec::new(),
            stack_index: HashMap::new(),
            samples: Vec::new(),
        }
    }

    fn string(&mut self, s: String) -> usize {
        if let Some(&i) = self.string_index.get(&s) {
            return i;
        }
        self.strings.push(s.clone());
        self.string_index.insert(s, self.strings.len() - 1);
        self.strings.len() - 1
    }

    fn frame(&mut self, id: u32) -> anyhow::Result<usize> {
        if let Some(&i) = self.frame_of.get(&id) {
            return Ok(i);
        }
        let f = self.profile.frames.get(id as usize).with_context(|| {
            format!(
                "malformed profile: a stack refers to frame {id} of {}",
                self.profile.frames.len()
            )
        })?;
        let line = (self.opts.show_line_numbers && f.line != 0).then_some(f.line);
        let location = match (f.filename.is_empty(), line) {
            (true, _) => f.name.to_string(),
            (false, Some(line)) => format!("{} ({}:{line})", f.name, f.filename),
            (false, None) => format!("{} ({})", f.name, f.filename),
        };
        let location = self.string(location);
        let next = self.frames.len();
        let index = *self.frame_index.entry((location, line)).or_insert(next);
        if index == next {
            self.frames
                .push((location, false, None, None, line, None, PYTHON_CATEGORY, 0));
        }
        self.frame_of.insert(id, index);
        Ok(index)
    }

    /// The stack index of frames `ids` (outermost first); `None` for an empty stack.
    fn stack(&mut self, ids: &[u32]) -> anyhow::Result<Option<usize>> {
        let mut prefix = None;
        for &id in ids {
            let row = (prefix, self.frame(id)?);
            let next = self.stacks.len();
            let index = *self.stack_index.entry(row).or_insert(next);
            if index == next {
                self.stacks.push(row);
            }
            prefix = Some(index);
        }
        Ok(prefix)
    }

    /// Add `count` samples of each stack, spread evenly over `[start, start + width)` seconds.
    fn add_bucket(
        &mut self,
        start: f64,
        width: f64,
        stacks: &[(&StackKey, u64)],
    ) -> anyhow::Result<()> {
        let n: u64 = stacks.iter().map(|(_, c)| c).sum();
        let mut k = 0u64;
        for ((_, ids), count) in stacks {
            let Some(stack) = self.stack(ids)? else {
                continue;
            };
            for _ in 0..*count {
                let t = start + width * (k as f64 + 0.5) / n as f64;
                self.samples.push((stack, ms(t), None));
                k += 1;
            }
        }
        Ok(())
    }

    /// The thread; `main_title` is the profile's title for the main thread, `None` for others.
    fn finish(self, info: Option<&ThreadInfo>, pid: u64, main_title: Option<&str>) -> Thread {
        let label = info.map_or_else(|| "no samples".to_string(), ThreadInfo::label);
        let tid = info.map_or(0, |t| t.os_tid.map_or(t.thread_id, u64::from));
        let (name, process_name) = match main_title {
            Some("") => (MAIN_THREAD_NAME.to_string(), Some(label)),
            Some(title) => (
                MAIN_THREAD_NAME.to_string(),
                Some(format!("{title} — {label}")),
            ),
            None => (label, None),
        };
        Thread {
            name,
            process_type: "default".to_string(),
            process_name,
            tid,
            pid,
            register_time: 0.0,
            unregister_time: None,
            markers: Table {
                schema: json!({"name": 0, "startTime": 1, "endTime": 2, "phase": 3,
                               "category": 4, "data": 5}),
                data: Vec::new(),
            },
            samples: Table {
                schema: json!({"stack": 0, "time": 1, "eventDelay": 2}),
                data: self.samples,
            },
            frame_table: Table {
                schema: json!({"location": 0, "relevantForJS": 1, "innerWindowID": 2,
                               "implementation": 3, "line": 4, "column": 5, "category": 6,
                               "subcategory": 7}),
                data: self.frames,
            },
            stack_table: Table {
                schema: json!({"prefix": 0, "frame": 1}),
                data: self.stacks,
            },
            string_table: self.strings,
        }
    }
}

/// Per thread, per time bucket (start s, width s): the stacks with their sample counts.
type Buckets<'a> = Vec<Vec<(f64, f64, Vec<(&'a StackKey, u64)>)>>;

fn buckets(profile: &Profile) -> anyhow::Result<Buckets<'_>> {
    let threads = profile.threads.len();
    let mut out: Buckets = vec![Vec::new(); threads];
    let check = |key: &StackKey| {
        anyhow::ensure!(
            key.0 < threads,
            "malformed profile: a stack refers to thread {} of {threads}",
            key.0
        );
        Ok(())
    };
    let timeline = &profile.timeline;
    let in_timeline: u64 = timeline
        .buckets
        .iter()
        .flat_map(|b| b.stacks.values())
        .map(|w| w.samples)
        .sum();
    if in_timeline == profile.total_samples() {
        let width = timeline.width.as_secs_f64();
        for (i, bucket) in timeline.buckets.iter().enumerate() {
            let mut ids: Vec<(u32, u64)> = bucket
                .stacks
                .iter()
                .filter(|(_, w)| w.samples > 0)
                .map(|(&id, w)| (id, w.samples))
                .collect();
            ids.sort_unstable();
            let mut per_thread: Vec<Vec<(&StackKey, u64)>> = vec![Vec::new(); threads];
            for (id, n) in ids {
                let key = profile.stack_keys.get(id as usize).with_context(|| {
                    format!(
                        "malformed profile: the timeline refers to stack {id} of {}",
                        profile.stack_keys.len()
                    )
                })?;
                check(key)?;
                per_thread[key.0].push((key, n));
            }
            for (t, stacks) in per_thread.into_iter().enumerate() {
                if !stacks.is_empty() {
                    out[t].push((i as f64 * width, width, stacks));
                }
            }
        }
    } else {
        // No (or an inconsistent) timeline: one bucket over the whole recording.
        let mut width = profile.duration.as_secs_f64();
        if width <= 0.0 {
            width = profile.interval.as_secs_f64() * profile.sample_count.max(1) as f64;
        }
        let mut per_thread: Vec<Vec<(&StackKey, u64)>> = vec![Vec::new(); threads];
        for (key, w) in &profile.stacks {
            if w.samples > 0 {
                check(key)?;
                per_thread[key.0].push((key, w.samples));
            }
        }
        for (t, stacks) in per_thread.into_iter().enumerate() {
            if !stacks.is_empty() {
                out[t].push((0.0, width, stacks));
            }
        }
    }
    Ok(out)
}

/// The index of the thread shown as the process's main thread.
fn main_thread(profile: &Profile) -> Option<usize> {
    if let Some(i) = profile
        .threads
        .iter()
        .position(|t| t.name.as_deref() == Some("MainThread"))
    {
        return Some(i);
    }
    let mut samples = vec![0u64; profile.threads.len()];
    for ((t, _), w) in &profile.stacks {
        if let Some(s) = samples.get_mut(*t) {
            *s += w.samples;
        }
    }
    // The first of those with the most samples.
    (0..samples.len()).rev().max_by_key(|&i| samples[i])
}

fn rss_counter(profile: &Profile) -> Option<Counter> {
    let points = &profile.memory.points;
    if points.is_empty() {
        return None;
    }
    let mut previous = 0i64;
    let data = points
        .iter()
        .map(|p| {
            let rss = i64::try_from(p.last).unwrap_or(i64::MAX);
            let delta = rss - previous;
            previous = rss;
            (ms(p.at), delta)
        })
        .collect();
    Some(Counter {
        name: "RSS".to_string(),
        category: "Memory".to_string(),
        description: "Resident set size of the process, bytes (the running sum of the counts)"
            .to_string(),
        samples: Table {
            schema: json!({"time": 0, "count": 1}),
            data,
        },
    })
}

fn build(profile: &Profile, opts: &OutputOptions) -> anyhow::Result<GeckoProfile> {
    let buckets = buckets(profile)?;
    let main = main_thread(profile);
    let pid = main
        .map(|i| &profile.threads[i])
        .filter(|t| t.name.as_deref() == Some("MainThread"))
        .and_then(|t| t.os_tid)
        .map_or(0, u64::from);
    let title = profile.title.as_str();
    let processes = crate::profile::processes::thread_processes(profile);

    let mut threads = Vec::new();
    if main.is_none() {
        threads.push(ThreadBuilder::new(profile, opts).finish(None, pid, Some(title)));
    }
    let order = main
        .into_iter()
        .chain((0..profile.threads.len()).filter(|&i| Some(i) != main));
    for i in order {
        let mut b = ThreadBuilder::new(profile, opts);
        for (start, width, stacks) in &buckets[i] {
            b.add_bucket(*start, *width, stacks)?;
        }
        // `--subprocesses`: each process is its own track, named by its root frame.
        let (pid, main_title) = match &processes[i] {
            Some((p, command)) => (
                u64::try_from(*p).unwrap_or(0),
                (profile.threads[i].os_tid == u32::try_from(*p).ok())
                    .then(|| crate::profile::processes::root_name(*p, command)),
            ),
            None => (pid, (Some(i) == main).then(|| title.to_string())),
        };
        threads.push(b.finish(Some(&profile.threads[i]), pid, main_title.as_deref()));
    }

    Ok(GeckoProfile {
        meta: Meta {
            version: GECKO_VERSION,
            interval: ms(profile.interval.as_secs_f64()),
            start_time: 0.0,
            shutdown_time: None,
            profiling_start_time: 0.0,
            profiling_end_time: ms(profile.duration.as_secs_f64()),
            process_type: 0,
            product: "pyprobe".to_string(),
            stackwalk: 0,
            debug: 0,
            gcpoison: 0,
            asyncstack: 0,
            presymbolicated: true,
            categories: json!([
                {"name": "Other", "color": "grey", "subcategories": ["Other"]},
                {"name": "Python", "color": "yellow", "subcategories": ["Other"]},
            ]),
            marker_schema: Vec::new(),
        },
        libs: Vec::new(),
        pages: Vec::new(),
        threads,
        paused_ranges: Vec::new(),
        processes: Vec::new(),
        counters: rss_counter(profile).into_iter().collect(),
    })
}

impl ProfileWriter for GeckoWriter {
    fn write(
        &self,
        profile: &Profile,
        opts: &OutputOptions,
        out: &mut dyn Write,
    ) -> anyhow::Result<()> {
        super::write_json(out, &build(profile, opts)?, "gecko profile JSON")
    }
}

#[cfg(test)]
mod tests;
