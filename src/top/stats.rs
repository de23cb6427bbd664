//! What the live view shows, computed from the sampler's ticks: per-function own and total
//! samples and the RSS growth charged to each function, with line or function aggregation and
//! a per-thread filter. Pure (no terminal, no process): fed ticks, asked for rows.
//!
//! Counting and the RSS-growth rule are [`Profile::add_tick`]'s: a [`Profile`] holds the counts
//! since the last reset, and the rows here only regroup its stacks by function.
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Duration;

use crate::memory::MemoryDetails;
use crate::profile::{AggregateOptions, Profile, ThreadInfo};
use crate::stack::ThreadStack;

/// Sort columns of the function table, in display order (keys 1–6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum SortColumn {
    /// Samples where the function was the innermost frame.
    #[default]
    OwnPct,
    /// Samples where the function was anywhere on the stack.
    TotalPct,
    /// Own samples as time.
    OwnTime,
    /// Total samples as time.
    TotalTime,
    /// RSS growth charged while the function was the innermost frame.
    OwnGrowth,
    /// RSS growth charged while the function was on the stack.
    TotalGrowth,
}

impl SortColumn {
    /// Every column, in display order.
    pub(crate) const ALL: [SortColumn; 6] = [
        SortColumn::OwnPct,
        SortColumn::TotalPct,
        SortColumn::OwnTime,
        SortColumn::TotalTime,
        SortColumn::OwnGrowth,
        SortColumn::TotalGrowth,
    ];

    /// Position in [`SortColumn::ALL`].
    pub(crate) fn index(self) -> usize {
        SortColumn::ALL.iter().position(|&c| c == self).unwrap_or(0)
    }

    /// The column `step` places to the right (wrapping).
    pub(crate) fn step(self, step: isize) -> SortColumn {
        let n = SortColumn::ALL.len() as isize;
        SortColumn::ALL[(self.index() as isize + step).rem_euclid(n) as usize]
    }

    /// Short name for the status line.
    pub(crate) fn label(self) -> &'static str {
        match self {
            SortColumn::OwnPct => "%Own",
            SortColumn::TotalPct => "%Total",
            SortColumn::OwnTime => "OwnTime",
            SortColumn::TotalTime => "TotalTime",
            SortColumn::OwnGrowth => "RSS+ own",
            SortColumn::TotalGrowth => "RSS+ total",
        }
    }
}

/// How frames are grouped into rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Aggregation {
    /// One row per function (name + file); the row shows the function's busiest line.
    #[default]
    Functions,
    /// One row per (function, line).
    Lines,
}

/// One row of the function table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FunctionRow {
    /// Function name.
    pub name: String,
    /// Source file as the code object records it.
    pub filename: String,
    /// The line (in function aggregation: the line with the most samples).
    pub line: u32,
    /// Samples with this function innermost.
    pub own: u64,
    /// Samples with this function anywhere on the stack (counted once per sample).
    pub total: u64,
    /// RSS growth charged with this function innermost, bytes.
    pub own_growth: u64,
    /// RSS growth charged with this function on the stack, bytes.
    pub total_growth: u64,
}

/// What the table shows and how.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct RowOptions {
    /// Grouping.
    pub aggregation: Aggregation,
    /// Only this thread (`threading.get_ident()`), or all.
    pub thread: Option<u64>,
    /// Sort column (descending).
    pub sort: SortColumn,
}

/// GIL and activity counts of one thread, or of the process ("any thread").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Activity {
    /// Ticks in which the thread (any thread) was seen.
    pub seen: u64,
    /// Ticks in which it was running (any thread was).
    pub active: u64,
    /// Ticks in which it held the GIL (any thread did).
    pub gil: u64,
}

impl Activity {
    fn count(&mut self, active: bool, gil: bool) {
        self.seen += 1;
        self.active += u64::from(active);
        self.gil += u64::from(gil);
    }
}

/// Width of one point of the RSS history: its sparkline shows one point per column.
pub(crate) const RSS_POINT: Duration = Duration::from_millis(500);
/// Points of RSS history kept (10 minutes at one per half second: wider than any terminal).
const RSS_POINTS: usize = 1200;

/// RSS over time, not cleared by a reset (it describes the process, not the counts).
#[derive(Debug, Clone, Default)]
pub(crate) struct RssHistory {
    /// Highest RSS in each [`RSS_POINT`] stretch, oldest first.
    points: VecDeque<u64>,
    /// Index of the stretch the last point covers.
    last_slot: Option<u64>,
    /// Last reading.
    pub now: Option<u64>,
    /// Highest reading.
    pub peak: Option<u64>,
}

impl RssHistory {
    /// Record a reading taken `at` since the sampler started.
    pub(crate) fn push(&mut self, at: Duration, rss: u64) {
        let slot = (at.as_nanos() / RSS_POINT.as_nanos()) as u64;
        self.now = Some(rss);
        self.peak = Some(self.peak.map_or(rss, |p| p.max(rss)));
        match self.last_slot {
            Some(last) if slot <= last => {
                if let Some(p) = self.points.back_mut() {
                    *p = (*p).max(rss);
                }
            }
            Some(last) => {
                // A gap (failed reads): hold the previous level across it.
                let hold = self.points.back().copied().unwrap_or(rss);
                for _ in last + 1..slot.min(last + RSS_POINTS as u64) {
                    self.points.push_back(hold);
                }
                self.points.push_back(rss);
            }
            None => self.points.push_back(rss),
        }
        self.last_slot = Some(slot);
        while self.points.len() > RSS_POINTS {
            self.points.pop_front();
        }
    }

    /// The last `n` points, oldest first.
    pub(crate) fn recent(&self, n: usize) -> Vec<u64> {
        let skip = self.points.len().saturating_sub(n);
        self.points.iter().skip(skip).copied().collect()
    }
}

/// Everything the live view knows about one target.
#[derive(Debug, Clone)]
pub(crate) struct Stats {
    /// Counts since the last reset; its stacks keep line numbers, so both aggregations can be
    /// derived from it at any time.
    profile: Profile,
    opts: AggregateOptions,
    /// `at` of the reset (ticks are fed to the profile relative to it).
    since: Duration,
    /// `at` of the first and last tick since the reset.
    first_at: Option<Duration>,
    last_at: Duration,
    /// Failed ticks since the reset.
    pub errors: u64,
    /// Any-thread activity since the reset.
    pub process: Activity,
    /// Per thread id, since the reset.
    threads: HashMap<u64, Activity>,
    /// Threads with a Python stack in the last sample.
    pub threads_now: usize,
    /// RSS history (kept across resets).
    pub rss: RssHistory,
    /// The last memory breakdown (kept across resets).
    pub details: Option<MemoryDetails>,
    nominal_interval: Duration,
}

impl Stats {
    /// Empty stats for a sampler running at `rate_hz`; idle threads are counted when
    /// `include_idle`.
    pub(crate) fn new(rate_hz: f64, include_idle: bool) -> Stats {
        let interval = Duration::from_secs_f64(1.0 / rate_hz.max(1e-3));
        Stats {
            profile: Profile::new("", interval),
            opts: AggregateOptions {
                include_idle,
                ..Default::default()
            },
            since: Duration::ZERO,
            first_at: None,
            last_at: Duration::ZERO,
            errors: 0,
            process: Activity::default(),
            threads: HashMap::new(),
            threads_now: 0,
            rss: RssHistory::default(),
            details: None,
            nominal_interval: interval,
        }
    }

    /// Whether idle threads' stacks are counted.
    pub(crate) fn include_idle(&self) -> bool {
        self.opts.include_idle
    }

    /// Count idle threads or not; the counts so far (made the other way) are reset.
    pub(crate) fn set_include_idle(&mut self, include: bool) {
        self.opts.include_idle = include;
        self.reset();
    }

    /// Forget the counts (not the RSS history); the next tick starts a new window.
    pub(crate) fn reset(&mut self) {
        self.profile = Profile::new("", self.nominal_interval);
        self.since = self.last_at;
        self.first_at = None;
        self.errors = 0;
        self.process = Activity::default();
        self.threads.clear();
    }

    fn note_time(&mut self, at: Duration) {
        if self.first_at.is_none() {
            self.first_at = Some(at);
        }
        self.last_at = self.last_at.max(at);
    }

    /// How RSS growth is charged (the sampler says, once it started).
    pub(crate) fn set_attribution(&mut self, attribution: crate::profile::Attribution) {
        self.profile.attribution = attribution;
    }

    /// How growth is charged, in a few words (see [`crate::profile::attribution`]).
    pub(crate) fn attribution_name(&self) -> &'static str {
        self.profile.attribution.short_name()
    }

    /// A page-fault wake-up: growth charged as the recording's profile does.
    pub(crate) fn add_fault(
        &mut self,
        at: Duration,
        stacks: &[ThreadStack],
        faults: &crate::perf::faults::FaultCounts,
        rss: Option<u64>,
    ) {
        let rel = at.saturating_sub(self.since);
        self.profile.add_fault(rel, stacks, faults, rss, &self.opts);
    }

    /// A successful sample.
    #[cfg(test)]
    pub(crate) fn add_sample(&mut self, at: Duration, stacks: &[ThreadStack], rss: Option<u64>) {
        self.add_sample_counted(at, stacks, rss, &[]);
    }

    /// A successful sample, with the fault counts that moved (the fallback rule).
    pub(crate) fn add_sample_counted(
        &mut self,
        at: Duration,
        stacks: &[ThreadStack],
        rss: Option<u64>,
        moved: &[(u32, u64)],
    ) {
        self.note_time(at);
        let rel = at.saturating_sub(self.since);
        self.profile
            .add_tick_counted(rel, stacks, rss, moved, &self.opts);
        if let Some(rss) = rss {
            self.rss.push(at, rss);
        }
        let python: Vec<&ThreadStack> = stacks.iter().filter(|s| !s.frames.is_empty()).collect();
        self.threads_now = python.len();
        self.process.count(
            python.iter().any(|s| s.active),
            python.iter().any(|s| s.holds_gil),
        );
        for s in python {
            self.threads
                .entry(s.thread_id)
                .or_default()
                .count(s.active, s.holds_gil);
        }
    }

    /// A failed sample (its RSS reading still counts for the history).
    pub(crate) fn add_error(&mut self, at: Duration, rss: Option<u64>) {
        self.note_time(at);
        self.errors += 1;
        if let Some(rss) = rss {
            self.rss.push(at, rss);
        }
    }

    /// A memory breakdown.
    pub(crate) fn add_details(&mut self, details: MemoryDetails) {
        self.details = Some(details);
    }

    /// Successful samples since the reset.
    pub(crate) fn samples(&self) -> u64 {
        self.profile.sample_count
    }

    /// Wall time covered since the reset.
    pub(crate) fn elapsed(&self) -> Duration {
        match self.first_at {
            Some(first) => self.last_at - first + self.nominal_interval,
            None => Duration::ZERO,
        }
    }

    /// Ticks (samples and errors) per second since the reset.
    pub(crate) fn rate(&self) -> f64 {
        let secs = self.elapsed().as_secs_f64();
        if secs > 0.0 {
            (self.samples() + self.errors) as f64 / secs
        } else {
            0.0
        }
    }

    /// Failed ticks as a fraction of all ticks.
    pub(crate) fn error_fraction(&self) -> f64 {
        let ticks = self.samples() + self.errors;
        if ticks == 0 {
            0.0
        } else {
            self.errors as f64 / ticks as f64
        }
    }

    /// Wall time one sample stands for: the measured mean interval (the sampler may fall
    /// behind the rate asked for), or the nominal one before there are two ticks.
    pub(crate) fn time_per_sample(&self) -> Duration {
        let ticks = self.samples() + self.errors;
        match self.first_at {
            Some(first) if ticks >= 2 => (self.last_at - first).div_f64((ticks - 1) as f64),
            _ => self.nominal_interval,
        }
    }

    /// Threads seen since the reset, in order of first appearance.
    pub(crate) fn threads(&self) -> &[ThreadInfo] {
        &self.profile.threads
    }

    /// Activity of one thread, or of the process when `thread` is `None`.
    pub(crate) fn activity(&self, thread: Option<u64>) -> Activity {
        match thread {
            None => self.process,
            Some(id) => self.threads.get(&id).copied().unwrap_or_default(),
        }
    }

    /// The function table, sorted by `opts.sort` (descending), then by name, file and line.
    pub(crate) fn rows(&self, opts: &RowOptions) -> Vec<FunctionRow> {
        let p = &self.profile;
        let thread_index = match opts.thread {
            Some(id) => match p.threads.iter().position(|t| t.thread_id == id) {
                Some(i) => Some(i),
                None => return Vec::new(),
            },
            None => None,
        };
        // Key: (name, file, line) with line 0 in function aggregation.
        type Key<'a> = (&'a str, &'a str, u32);
        let mut rows: BTreeMap<Key, FunctionRow> = BTreeMap::new();
        // Function aggregation: own samples per line, to show the busiest line.
        let mut lines: HashMap<(&str, &str), BTreeMap<u32, u64>> = HashMap::new();
        let mut seen: Vec<Key> = Vec::new();
        for ((thread, frame_ids), w) in &p.stacks {
            if thread_index.is_some_and(|t| t != *thread) {
                continue;
            }
            if w.samples == 0 && w.rss_growth == 0 {
                continue;
            }
            seen.clear();
            let innermost = frame_ids.len().saturating_sub(1);
            for (depth, &fid) in frame_ids.iter().enumerate() {
                let f = &p.frames[fid as usize];
                let line = match opts.aggregation {
                    Aggregation::Lines => f.line,
                    Aggregation::Functions => 0,
                };
                let key = (&*f.name, &*f.filename, line);
                let row = rows.entry(key).or_insert_with(|| FunctionRow {
                    name: f.name.to_string(),
                    filename: f.filename.to_string(),
                    line: f.line,
                    own: 0,
                    total: 0,
                    own_growth: 0,
                    total_growth: 0,
                });
                if depth == innermost {
                    row.own += w.samples;
                    row.own_growth += w.rss_growth;
                }
                // Recursion: a function counts once per stack in its total.
                if !seen.contains(&key) {
                    seen.push(key);
                    row.total += w.samples;
                    row.total_growth += w.rss_growth;
                }
                if opts.aggregation == Aggregation::Functions {
                    let weight = if depth == innermost { w.samples * 2 } else { 0 } + w.samples;
                    *lines
                        .entry((key.0, key.1))
                        .or_default()
                        .entry(f.line)
                        .or_default() += weight;
                }
            }
        }
        let mut out: Vec<FunctionRow> = rows
            .into_values()
            .map(|mut row| {
                if opts.aggregation == Aggregation::Functions {
                    if let Some(by_line) = lines.get(&(row.name.as_str(), row.filename.as_str())) {
                        // Busiest line (own samples weigh more than passing through); ties go
                        // to the lowest line.
                        if let Some((&line, _)) = by_line
                            .iter()
                            .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
                        {
                            row.line = line;
                        }
                    }
                }
                row
            })
            .collect();
        let key = |r: &FunctionRow| match opts.sort {
            SortColumn::OwnPct | SortColumn::OwnTime => (r.own, r.total),
            SortColumn::TotalPct | SortColumn::TotalTime => (r.total, r.own),
            SortColumn::OwnGrowth => (r.own_growth, r.own),
            SortColumn::TotalGrowth => (r.total_growth, r.total),
        };
        out.sort_by(|a, b| {
            key(b)
                .cmp(&key(a))
                .then_with(|| a.name.cmp(&b.name))
                .then_with(|| a.filename.cmp(&b.filename))
                .then_with(|| a.line.cmp(&b.line))
        });
        out
    }

    /// Percent of samples (ticks since the reset) that `count` samples make.
    pub(crate) fn percent(&self, count: u64) -> f64 {
        let n = self.samples();
        if n == 0 {
            0.0
        } else {
            100.0 * count as f64 / n as f64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stack::Frame;

    fn frame(name: &str, line: u32) -> Frame {
        Frame {
            name: name.into(),
            filename: "app.py".into(),
            line,
        }
    }

    /// A thread whose stack is `frames` (innermost first).
    fn thread(id: u64, active: bool, frames: &[(&str, u32)]) -> ThreadStack {
        ThreadStack {
            thread_id: id,
            os_tid: Some(id as u32),
            name: Some(format!("t{id}").into()),
            active,
            holds_gil: active,
            frames: frames.iter().map(|&(n, l)| frame(n, l)).collect(),
        }
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn row<'a>(rows: &'a [FunctionRow], name: &str) -> &'a FunctionRow {
        rows.iter()
            .find(|r| r.name == name)
            .unwrap_or_else(|| panic!("no row {name}"))
    }

    #[test]
    fn own_and_total_with_recursion_counted_once() {
        let mut s = Stats::new(100.0, false);
        // 3 samples: main→work→leaf, main→work→work (recursion), main.
        s.add_sample(
            ms(0),
            &[thread(1, true, &[("leaf", 9), ("work", 5), ("main", 1)])],
            None,
        );
        s.add_sample(
            ms(10),
            &[thread(1, true, &[("work", 6), ("work", 5), ("main", 1)])],
            None,
        );
        s.add_sample(ms(20), &[thread(1, true, &[("main", 2)])], None);
        let rows = s.rows(&RowOptions::default());
        assert_eq!((row(&rows, "main").own, row(&rows, "main").total), (1, 3));
        assert_eq!((row(&rows, "work").own, row(&rows, "work").total), (1, 2));
        assert_eq!((row(&rows, "leaf").own, row(&rows, "leaf").total), (1, 1));
        assert_eq!(s.percent(2), 200.0 / 3.0);
        assert_eq!(s.time_per_sample(), ms(10));
        // Ties on own are broken by total, then name.
        let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["main", "work", "leaf"]);
    }

    #[test]
    fn lines_versus_functions() {
        let mut s = Stats::new(100.0, false);
        for i in 0..4 {
            let line = if i < 3 { 10 } else { 11 };
            s.add_sample(
                ms(i * 10),
                &[thread(1, true, &[("f", line), ("main", 1)])],
                None,
            );
        }
        let by_line = s.rows(&RowOptions {
            aggregation: Aggregation::Lines,
            ..Default::default()
        });
        let f: Vec<(u32, u64)> = by_line
            .iter()
            .filter(|r| r.name == "f")
            .map(|r| (r.line, r.own))
            .collect();
        assert_eq!(f, [(10, 3), (11, 1)]);
        let by_function = s.rows(&RowOptions::default());
        let f = row(&by_function, "f");
        assert_eq!((f.own, f.total, f.line), (4, 4, 10), "busiest line shown");
        assert_eq!(by_function.len(), 2);
    }

    #[test]
    fn thread_filter_and_activity() {
        let mut s = Stats::new(100.0, true);
        for i in 0..10 {
            s.add_sample(
                ms(i * 10),
                &[
                    thread(1, true, &[("busy", 3)]),
                    thread(2, i % 2 == 0, &[("sometimes", 4)]),
                ],
                None,
            );
        }
        let only2 = s.rows(&RowOptions {
            thread: Some(2),
            ..Default::default()
        });
        assert_eq!(only2.len(), 1);
        assert_eq!((only2[0].name.as_str(), only2[0].own), ("sometimes", 10));
        assert!(s
            .rows(&RowOptions {
                thread: Some(99),
                ..Default::default()
            })
            .is_empty());
        assert_eq!(
            s.activity(Some(2)),
            Activity {
                seen: 10,
                active: 5,
                gil: 5
            }
        );
        assert_eq!(s.activity(None).active, 10);
        assert_eq!(s.threads().len(), 2);
        assert_eq!(s.threads_now, 2);
    }

    #[test]
    fn idle_threads_are_left_out_unless_asked() {
        let mut s = Stats::new(100.0, false);
        s.add_sample(
            ms(0),
            &[
                thread(1, false, &[("sleeper", 1)]),
                thread(2, true, &[("runner", 2)]),
            ],
            None,
        );
        let rows = s.rows(&RowOptions::default());
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].name, "runner");
        s.set_include_idle(true);
        assert!(s.include_idle() && s.samples() == 0);
        s.add_sample(
            ms(10),
            &[
                thread(1, false, &[("sleeper", 1)]),
                thread(2, true, &[("runner", 2)]),
            ],
            None,
        );
        assert_eq!(s.rows(&RowOptions::default()).len(), 2);
    }

    #[test]
    fn rss_growth_follows_the_profile_rule() {
        let mut s = Stats::new(100.0, false);
        let a = [thread(1, true, &[("alloc", 7), ("main", 1)])];
        let b = [thread(1, true, &[("other", 8), ("main", 1)])];
        s.add_sample(ms(0), &a, Some(1000));
        // +600 between a reading under `alloc` and one under `other`: half each.
        s.add_sample(ms(10), &b, Some(1600));
        let rows = s.rows(&RowOptions {
            sort: SortColumn::OwnGrowth,
            ..Default::default()
        });
        assert_eq!(row(&rows, "alloc").own_growth, 300);
        assert_eq!(row(&rows, "other").own_growth, 300);
        assert_eq!(row(&rows, "main").total_growth, 600);
        assert_eq!(row(&rows, "main").own_growth, 0);
        assert_eq!(s.rss.now, Some(1600));
        assert_eq!(s.rss.peak, Some(1600));
    }

    #[test]
    fn reset_clears_counts_but_not_memory() {
        let mut s = Stats::new(100.0, false);
        s.add_sample(ms(0), &[thread(1, true, &[("f", 1)])], Some(5000));
        s.add_error(ms(10), Some(9000));
        s.add_sample(ms(20), &[thread(1, true, &[("f", 1)])], Some(7000));
        assert_eq!((s.samples(), s.errors), (2, 1));
        assert!((s.error_fraction() - 1.0 / 3.0).abs() < 1e-9);
        s.reset();
        assert_eq!((s.samples(), s.errors), (0, 0));
        assert!(s.rows(&RowOptions::default()).is_empty());
        assert_eq!(s.rss.peak, Some(9000));
        assert_eq!(s.elapsed(), Duration::ZERO);
        s.add_sample(ms(30), &[thread(1, true, &[("g", 1)])], Some(7000));
        s.add_sample(ms(40), &[thread(1, true, &[("g", 1)])], Some(7000));
        let rows = s.rows(&RowOptions::default());
        assert_eq!(rows.len(), 1);
        assert_eq!((rows[0].name.as_str(), rows[0].own), ("g", 2));
        assert_eq!(s.time_per_sample(), ms(10));
    }

    #[test]
    fn sort_columns() {
        let mut s = Stats::new(100.0, false);
        // `a` runs more, `b` is innermost while memory grows.
        let a = [thread(1, true, &[("a", 1), ("main", 1)])];
        let b = [thread(1, true, &[("b", 1), ("main", 1)])];
        // a a b b a a, RSS grows between the two readings under `b`.
        for i in 0..6u64 {
            let stacks = if i == 2 || i == 3 { &b } else { &a };
            let rss = if i >= 3 { 1000 } else { 0 };
            s.add_sample(ms(i * 10), stacks, Some(rss));
        }
        let first = |sort| {
            s.rows(&RowOptions {
                sort,
                ..Default::default()
            })[0]
                .name
                .clone()
        };
        assert_eq!(first(SortColumn::OwnPct), "a");
        assert_eq!(first(SortColumn::TotalTime), "main");
        assert_eq!(first(SortColumn::OwnGrowth), "b");
        assert_eq!(first(SortColumn::TotalGrowth), "main");
        assert_eq!(SortColumn::OwnPct.step(-1), SortColumn::TotalGrowth);
        assert_eq!(SortColumn::TotalGrowth.step(1), SortColumn::OwnPct);
    }

    #[test]
    fn rss_history_is_bucketed_and_bounded() {
        let mut h = RssHistory::default();
        h.push(ms(0), 10);
        h.push(ms(100), 30);
        h.push(ms(600), 20);
        h.push(ms(2100), 40); // skips two stretches: held at 20
        assert_eq!(h.recent(10), [30, 20, 20, 20, 40]);
        assert_eq!(h.recent(2), [20, 40]);
        for i in 0..5000u64 {
            h.push(ms(3000 + i * 500), i);
        }
        assert_eq!(h.recent(usize::MAX).len(), RSS_POINTS);
        assert_eq!(h.peak, Some(4999));
    }
}
