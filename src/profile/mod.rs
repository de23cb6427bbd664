//! Aggregated samples: interned frames and stacks with their counts and the memory charged to
//! them, plus the RSS timeline. Deterministic (sorted) so that outputs are reproducible and
//! golden tests can compare them. Nothing is kept per sample: memory stays flat however long
//! a recording runs.
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use crate::fast_hash::FastMap;
use crate::memory::MemoryDetails;
use crate::stack::{Frame, ThreadStack};

pub mod attribution;
pub mod memory;
pub mod processes;
pub mod summary;
pub mod timeline;
mod window;

pub use attribution::Attribution;
use attribution::{CountedThread, FaultCharges, Faulted};
pub use memory::MemoryTimeline;
pub use summary::MemorySummary;
pub use timeline::Timeline;

/// (name pointer, file name pointer, line) of a frame whose strings are shared `Arc`s.
type FramePointers = (usize, usize, u32);

/// A stack: (thread index, frame ids outermost first).
pub type StackKey = (usize, Vec<FrameId>);

/// Index of an interned frame in [`Profile::frames`].
pub type FrameId = u32;

/// A thread seen during recording.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ThreadInfo {
    /// `threading.get_ident()` of the thread.
    pub thread_id: u64,
    /// OS thread id, when known.
    pub os_tid: Option<u32>,
    /// Thread name, when known.
    pub name: Option<String>,
}

impl ThreadInfo {
    /// A label for outputs: `MainThread (tid 1234)` or `thread 0x7f…`.
    pub fn label(&self) -> String {
        match (&self.name, self.os_tid) {
            (Some(n), Some(t)) => format!("{n} (tid {t})"),
            (Some(n), None) => n.clone(),
            (None, Some(t)) => format!("tid {t}"),
            (None, None) => format!("thread {:#x}", self.thread_id),
        }
    }
}

/// What a stack's weight counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Weights {
    /// Number of samples in which this stack was seen.
    pub samples: u64,
    /// Bytes of RSS growth charged to this stack (see [`Profile::add_tick`]).
    pub rss_growth: u64,
    /// Bytes of RSS released while this stack was observed.
    pub rss_release: u64,
}

impl Weights {
    /// Add another weight to this one.
    pub fn add(&mut self, other: &Weights) {
        self.samples += other.samples;
        self.rss_growth += other.rss_growth;
        self.rss_release += other.rss_release;
    }

    /// The value of one measure.
    pub fn get(&self, measure: Measure) -> u64 {
        match measure {
            Measure::Samples => self.samples,
            Measure::RssGrowth => self.rss_growth,
            Measure::RssRelease => self.rss_release,
        }
    }
}

/// What flamegraphs and collapsed stacks count.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Measure {
    /// Samples (time).
    #[default]
    Samples,
    /// Bytes of RSS growth.
    RssGrowth,
    /// Bytes of RSS released.
    RssRelease,
}

impl std::str::FromStr for Measure {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "samples" | "cpu" | "time" => Ok(Measure::Samples),
            "rss-growth" | "rss" | "memory" => Ok(Measure::RssGrowth),
            "rss-release" => Ok(Measure::RssRelease),
            _ => Err(format!(
                "unknown weight {s:?}: expected samples, rss-growth or rss-release"
            )),
        }
    }
}

impl Measure {
    /// The unit name outputs show.
    pub fn unit(self) -> &'static str {
        match self {
            Measure::Samples => "samples",
            Measure::RssGrowth | Measure::RssRelease => "bytes",
        }
    }
}

/// The aggregate of a recording.
#[derive(Debug, Clone, Default)]
pub struct Profile {
    /// Title for outputs (the target's command line).
    pub title: String,
    /// Interned frames; a stack refers to them by index.
    pub frames: Vec<Frame>,
    /// Threads by index; a stack refers to them by index.
    pub threads: Vec<ThreadInfo>,
    /// (thread index, frame ids outermost first) → weights. Sorted for deterministic output.
    pub stacks: BTreeMap<(usize, Vec<FrameId>), Weights>,
    /// Samples taken (one per tick, whatever the number of threads).
    pub sample_count: u64,
    /// Ticks whose walk failed.
    pub error_count: u64,
    /// Wall time covered.
    pub duration: Duration,
    /// The target ended (exited, or replaced its program) before the recording did: its growth
    /// rates are history, not a forecast.
    pub target_gone: bool,
    /// Interval between samples the user asked for.
    pub interval: Duration,
    /// The RSS series, peak and totals.
    pub memory: MemoryTimeline,
    /// How RSS changes are charged to stacks.
    pub attribution: Attribution,
    /// The page-fault rule's state across wake-ups.
    faults: FaultCharges,
    /// Weights per stretch of time (for time-range views).
    pub timeline: Timeline,
    /// Every stack seen, by id (the ids the timeline and the peak use).
    pub stack_keys: Vec<StackKey>,
    /// `record --heap`: the heap censuses taken, in order.
    pub heap: Vec<crate::heap::during::HeapSnapshot>,
    stack_ids: FastMap<StackKey, u32>,
    /// Stacks charged for memory at the previous reading, and that reading.
    previous: Option<(Vec<u32>, u64)>,
    /// Each thread's stack (tid, stack id) at the previous tick with a reading, and at this one:
    /// the ends of an interval, for the fallback rule.
    by_thread_before: Vec<(u32, u32)>,
    by_thread_now: Vec<(u32, u32)>,
    frame_index: HashMap<Frame, FrameId>,
    /// Fast path of [`Profile::intern_frame`]: names are interned, so (name address, file
    /// address, line) identifies a frame without hashing strings.
    frame_by_ptr: FastMap<FramePointers, FrameId>,
    thread_index: FastMap<u64, usize>,
    /// The last stack interned for each thread (by thread index).
    recent: FastMap<usize, RecentStack>,
    /// Emptied lists of stack ids, reused by the next tick.
    spare_ids: Vec<Vec<u32>>,
    /// `--subprocesses`: every process of the tree, with its RSS over time.
    pub processes: Option<crate::subprocesses::ProcessReport>,
}

/// A thread's last interned stack: its next one usually repeats most of it from the root, and
/// comparing pointers is cheaper than looking every frame up again.
#[derive(Debug, Clone, Default)]
struct RecentStack {
    /// Each frame's identity, outermost first.
    frames: Vec<FramePointers>,
    ids: Vec<FrameId>,
    stack: u32,
    functions_only: bool,
    /// The frames it was interned from: the walker hands on the same `Arc` while a thread's
    /// stack does not change, so the next sample is recognised without a look at its frames.
    shared: Option<Arc<[Frame]>>,
}

fn frame_pointers(frame: &Frame) -> FramePointers {
    (frame.name.address(), frame.filename.address(), frame.line)
}

/// Options that shape what is aggregated.
#[derive(Debug, Clone, Copy, Default)]
pub struct AggregateOptions {
    /// Keep threads apart (a root frame per thread in flamegraphs).
    pub per_thread: bool,
    /// Include idle threads.
    pub include_idle: bool,
    /// Only threads holding the GIL.
    pub gil_only: bool,
    /// Drop line numbers (aggregate by function).
    pub functions_only: bool,
}

impl Profile {
    /// An empty profile titled `title`.
    pub fn new(title: impl Into<String>, interval: Duration) -> Self {
        Profile {
            title: title.into(),
            interval,
            ..Default::default()
        }
    }

    /// Intern a frame.
    pub fn intern_frame(&mut self, frame: &Frame) -> FrameId {
        let ptrs = frame_pointers(frame);
        if let Some(&id) = self.frame_by_ptr.get(&ptrs) {
            return id;
        }
        let id = match self.frame_index.get(frame) {
            Some(&id) => id,
            None => {
                let id = self.frames.len() as FrameId;
                self.frames.push(frame.clone());
                self.frame_index.insert(frame.clone(), id);
                id
            }
        };
        self.frame_by_ptr.insert(ptrs, id);
        id
    }

    /// Intern a thread, updating its name if it became known.
    pub fn intern_thread(&mut self, stack: &ThreadStack) -> usize {
        if let Some(&i) = self.thread_index.get(&stack.thread_id) {
            let t = &mut self.threads[i];
            if t.name.is_none() && stack.name.is_some() {
                t.name = stack.name.as_deref().map(str::to_string);
            }
            // The newest tid: a fork's main thread reads its parent's tid until the child's
            // interpreter updates it (`PyOS_AfterFork_Child`), and a fork is sampled at once.
            if stack.os_tid.is_some() {
                t.os_tid = stack.os_tid;
            }
            return i;
        }
        let i = self.threads.len();
        self.threads.push(ThreadInfo {
            thread_id: stack.thread_id,
            os_tid: stack.os_tid,
            name: stack.name.as_deref().map(str::to_string),
        });
        self.thread_index.insert(stack.thread_id, i);
        i
    }

    /// Add one sample without a memory reading.
    pub fn add_sample(&mut self, stacks: &[ThreadStack], opts: &AggregateOptions) {
        let at = self.interval * self.sample_count as u32;
        self.add_tick(at, stacks, None, opts);
    }

    /// Add one tick: the stacks of every thread, and the RSS read just before them.
    ///
    /// Samples count the stacks that pass the filters (`--idle`, `--gil`). Memory: the change
    /// of RSS between two readings is charged half to the stacks of the earlier reading and half
    /// to those of the later one; within a reading, equally to the threads that were running
    /// (to every thread with a Python stack, idle ones too, when none was running). Growth and
    /// release are kept apart.
    pub fn add_tick(
        &mut self,
        at: Duration,
        stacks: &[ThreadStack],
        rss: Option<u64>,
        opts: &AggregateOptions,
    ) {
        self.add_tick_counted(at, stacks, rss, &[], opts);
    }

    /// [`Profile::add_tick`], with the page faults each thread took since the last reading of
    /// the counts (the fallback rule, see [`attribution`]): an increase of RSS goes to the
    /// threads in `moved`, at their stacks after it; without them, the interval rule.
    pub fn add_tick_counted(
        &mut self,
        at: Duration,
        stacks: &[ThreadStack],
        rss: Option<u64>,
        moved: &[(u32, u64)],
        opts: &AggregateOptions,
    ) {
        self.sample_count += 1;
        self.by_thread_now.clear();
        let [mut charged, mut running, mut counted] = [(); 3].map(|()| {
            let mut ids = self.spare_ids.pop().unwrap_or_default();
            ids.clear();
            ids
        });
        for stack in stacks {
            if stack.frames.is_empty() {
                continue;
            }
            let id = self.intern_stack(stack, opts);
            if let Some(tid) = stack.os_tid {
                self.by_thread_now.push((tid, id));
            }
            charged.push(id);
            if stack.active {
                running.push(id);
            }
            if (opts.include_idle || stack.active) && (!opts.gil_only || stack.holds_gil) {
                counted.push(id);
            }
        }
        if !running.is_empty() {
            std::mem::swap(&mut charged, &mut running);
        }
        for &id in &counted {
            self.update(id, at, |w| w.samples += 1);
        }
        self.spare_ids.extend([running, counted]);
        self.timeline.bucket_at(at).ticks += 1;
        let Some(rss) = rss else {
            self.spare_ids.push(charged);
            return;
        };
        let mut peak_stack = charged.first().copied();
        if let Some(delta) = self.memory.add(at, rss) {
            // The tail of a fault burst, under one record, seen by this tick: the burst's.
            let after_fault = self.faults.after_fault(at).map(<[_]>::to_vec);
            let counted = if delta > 0 && !moved.is_empty() {
                attribution::by_fault_counts(&self.counted_threads(moved))
            } else {
                Vec::new()
            };
            if let Some(shares) = after_fault.filter(|_| delta > 0) {
                self.charge_shares(&shares, delta as u64, at);
            } else if !counted.is_empty() {
                self.charge_shares(&counted, delta as u64, at);
                // The peak is named after the stack that faulted most, not the first running
                // one (with `--subprocesses`, that may be another process's).
                peak_stack = counted.iter().max_by_key(|s| s.1).map(|s| s.0);
            } else if let Some((before, _)) = self.previous.take() {
                let bytes = delta.unsigned_abs();
                let half = bytes / 2;
                self.charge(&before, half, delta > 0, at);
                self.charge(&charged, bytes - half, delta > 0, at);
                self.spare_ids.push(before);
            }
        }
        self.memory.note_peak(at, rss, peak_stack);
        if let Some((before, _)) = self.previous.replace((charged, rss)) {
            self.spare_ids.push(before);
        }
        std::mem::swap(&mut self.by_thread_before, &mut self.by_thread_now);
    }

    /// The threads in `moved` with their stacks at either end of the interval just ended.
    fn counted_threads(&self, moved: &[(u32, u64)]) -> Vec<CountedThread> {
        let stack_of = |stacks: &[(u32, u32)], tid| {
            stacks
                .iter()
                .find(|&&(t, _)| t == tid)
                .map(|&(_, stack)| stack)
        };
        moved
            .iter()
            .map(|&(tid, faults)| CountedThread {
                faults,
                end: stack_of(&self.by_thread_now, tid),
                start: stack_of(&self.by_thread_before, tid),
            })
            .collect()
    }

    /// A page-fault wake-up at `at`: `faults` per thread since the last one, the `stacks` read
    /// at once, and RSS. The growth since the previous reading goes to the faulting threads
    /// (see [`attribution`]); it is not a CPU sample.
    pub fn add_fault(
        &mut self,
        at: Duration,
        stacks: &[ThreadStack],
        faults: &crate::perf::faults::FaultCounts,
        rss: Option<u64>,
        opts: &AggregateOptions,
    ) {
        let Some(rss) = rss else { return };
        let threads: Vec<Faulted> = faults
            .iter()
            .map(|f| Faulted {
                stack: stacks
                    .iter()
                    .find(|s| s.os_tid == Some(f.tid) && !s.frames.is_empty())
                    .map(|s| self.intern_stack(s, opts)),
                tid: f.tid,
                faults: f.faults,
                growing: f.growing,
            })
            .collect();
        let shares = self.faults.on_fault(at, &threads);
        match self.memory.add(at, rss) {
            Some(delta) if delta > 0 && !shares.is_empty() => {
                self.charge_shares(&shares, delta as u64, at)
            }
            // A fall, or faults of threads without Python frames: the stacks of the last tick.
            Some(delta) if delta != 0 => {
                if let Some((before, _)) = self.previous.take() {
                    self.charge(&before, delta.unsigned_abs(), delta > 0, at);
                    self.previous = Some((before, rss));
                }
            }
            _ => {}
        }
        self.memory
            .note_peak(at, rss, shares.first().map(|&(stack, _)| stack));
    }

    /// Charge `bytes` of growth over weighted stacks.
    fn charge_shares(&mut self, shares: &[(u32, u64)], bytes: u64, at: Duration) {
        for (id, share) in attribution::split_weighted(bytes, shares) {
            self.update(id, at, |w| w.rss_growth += share);
        }
    }

    /// Record a memory breakdown read at `at`.
    pub fn add_details(&mut self, at: Duration, details: MemoryDetails) {
        self.memory.add_details(at, details);
    }

    fn charge(&mut self, ids: &[u32], bytes: u64, growth: bool, at: Duration) {
        if bytes == 0 || ids.is_empty() {
            return;
        }
        for (&id, share) in ids.iter().zip(memory::split_exact(bytes, ids.len())) {
            if growth {
                self.update(id, at, |w| w.rss_growth += share);
            } else {
                self.update(id, at, |w| w.rss_release += share);
            }
        }
    }

    /// Apply `change` to a stack's totals and to its weights in the time bucket of `at`.
    fn update(&mut self, id: u32, at: Duration, change: impl Fn(&mut Weights)) {
        change(self.timeline.bucket_at(at).stacks.entry(id).or_default());
        // Look up before inserting: cloning the key (a Vec) on every sample is the costly part.
        let key = &self.stack_keys[id as usize];
        match self.stacks.get_mut(key) {
            Some(total) => change(total),
            None => change(self.stacks.entry(key.clone()).or_default()),
        }
    }

    fn intern_stack(&mut self, stack: &ThreadStack, opts: &AggregateOptions) -> u32 {
        let thread = self.intern_thread(stack);
        if let Some(recent) = self.recent.get(&thread) {
            let unchanged = recent
                .shared
                .as_ref()
                .is_some_and(|last| Arc::ptr_eq(last, &stack.frames));
            if unchanged && recent.functions_only == opts.functions_only {
                return recent.stack;
            }
        }
        let mut recent = self.recent.remove(&thread).unwrap_or_default();
        if recent.functions_only != opts.functions_only {
            recent = RecentStack {
                functions_only: opts.functions_only,
                ..Default::default()
            };
        }
        recent.shared = Some(stack.frames.clone());
        // The frames shared with this thread's last stack, from the root, keep their ids.
        let same = stack
            .frames
            .iter()
            .rev()
            .zip(&recent.frames)
            .take_while(|(f, p)| frame_pointers(f) == **p)
            .count();
        if same == stack.frames.len() && same == recent.frames.len() && !recent.frames.is_empty() {
            let id = recent.stack;
            self.recent.insert(thread, recent);
            return id;
        }
        recent.frames.truncate(same);
        recent.ids.truncate(same);
        for f in stack.frames.iter().rev().skip(same) {
            recent.frames.push(frame_pointers(f));
            let id = if opts.functions_only {
                self.intern_frame(&Frame {
                    line: 0,
                    ..f.clone()
                })
            } else {
                self.intern_frame(f)
            };
            recent.ids.push(id);
        }
        let key = (thread, recent.ids.clone());
        recent.stack = match self.stack_ids.get(&key) {
            Some(&id) => id,
            None => {
                let id = self.stack_keys.len() as u32;
                self.stack_keys.push(key.clone());
                self.stack_ids.insert(key, id);
                id
            }
        };
        let id = recent.stack;
        self.recent.insert(thread, recent);
        id
    }

    /// Total samples over all stacks.
    pub fn total_samples(&self) -> u64 {
        self.total(Measure::Samples)
    }

    /// Total of one measure over all stacks.
    pub fn total(&self, measure: Measure) -> u64 {
        self.stacks.values().map(|w| w.get(measure)).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stack(frames: &Arc<[Frame]>) -> ThreadStack {
        ThreadStack {
            thread_id: 1,
            os_tid: Some(10),
            name: None,
            active: true,
            holds_gil: true,
            frames: frames.clone(),
        }
    }

    fn frames(line: u32) -> Arc<[Frame]> {
        vec![Frame {
            name: "work".into(),
            filename: "a.py".into(),
            line,
        }]
        .into()
    }

    /// Samples recognised by their shared frames still land on the right stack when the
    /// thread's stack changes and comes back, and with lines dropped or kept.
    #[test]
    fn shared_frames_count_on_their_own_stack() {
        let mut p = Profile::new("t", Duration::from_millis(1));
        let (a, b) = (frames(1), frames(2));
        let mut opts = AggregateOptions::default();
        for f in [&a, &a, &b, &a, &b, &b, &b] {
            p.add_sample(&[stack(f)], &opts);
        }
        let lines: Vec<(u32, u64)> = p
            .stacks
            .iter()
            .map(|((_, ids), w)| (p.frames[ids[0] as usize].line, w.samples))
            .collect();
        assert_eq!(lines, vec![(1, 3), (2, 4)]);
        // Switching to functions only must not reuse the stack interned with lines.
        opts.functions_only = true;
        p.add_sample(&[stack(&b)], &opts);
        let no_line = p
            .stacks
            .keys()
            .find(|(_, ids)| p.frames[ids[0] as usize].line == 0);
        assert!(no_line.is_some(), "{:?}", p.stacks);
    }

    #[test]
    fn a_thread_keeps_its_newest_tid() {
        let mut p = Profile::new("t", Duration::from_millis(10));
        let mut t = thread(7, true, "f");
        // A fork's main thread, read before its interpreter updated the tid.
        t.os_tid = Some(6);
        assert_eq!(p.intern_thread(&t), 0);
        t.os_tid = Some(7);
        assert_eq!(p.intern_thread(&t), 0);
        t.os_tid = None;
        p.intern_thread(&t);
        assert_eq!(p.threads[0].os_tid, Some(7));
    }

    fn thread(tid: u32, active: bool, function: &str) -> ThreadStack {
        ThreadStack {
            thread_id: u64::from(tid),
            os_tid: Some(tid),
            name: None,
            active,
            holds_gil: active,
            frames: if function.is_empty() {
                Vec::new().into()
            } else {
                vec![Frame {
                    name: function.into(),
                    filename: "a.py".into(),
                    line: 1,
                }]
                .into()
            },
        }
    }

    /// Growth charged (function, bytes) per stack's innermost function.
    fn growth_by_function(p: &Profile) -> Vec<(String, u64)> {
        let mut out: Vec<(String, u64)> = p
            .stacks
            .iter()
            .filter(|(_, w)| w.rss_growth > 0)
            .map(|((_, ids), w)| {
                let f = &p.frames[*ids.last().unwrap() as usize];
                (f.name.to_string(), w.rss_growth)
            })
            .collect();
        out.sort();
        out
    }

    /// The fallback: growth to the thread whose fault count moved, at its stack after the
    /// growth, even while it sleeps and another thread runs; without counts, the interval rule.
    #[test]
    fn fault_counts_charge_the_thread_that_grew() {
        let ms = Duration::from_millis;
        let opts = AggregateOptions::default();
        let mut p = Profile::new("t", ms(10));
        let spin = thread(1, true, "spin");
        p.add_tick_counted(
            ms(0),
            &[spin.clone(), thread(2, false, "sleep")],
            Some(1 << 20),
            &[],
            &opts,
        );
        // Thread 2 grew 2 MiB (512 faults) and sleeps in grow(); thread 1 took 2 faults.
        let grown = [spin.clone(), thread(2, false, "grow")];
        p.add_tick_counted(ms(10), &grown, Some(3 << 20), &[(1, 2), (2, 512)], &opts);
        assert_eq!(
            growth_by_function(&p),
            vec![("grow".into(), 2_088_991), ("spin".into(), 8_161)]
        );
        // No Python frames after the growth: its stack before (grow) takes it.
        p.add_tick_counted(
            ms(20),
            &[spin.clone(), thread(2, false, "")],
            Some(4 << 20),
            &[(2, 256)],
            &opts,
        );
        assert_eq!(
            growth_by_function(&p)[0],
            ("grow".into(), 2_088_991 + (1 << 20))
        );
        // No count moved: the interval rule (the running thread at either end: spin).
        p.add_tick_counted(
            ms(30),
            &[spin, thread(2, false, "grow")],
            Some(5 << 20),
            &[],
            &opts,
        );
        assert_eq!(
            growth_by_function(&p)[1],
            ("spin".into(), 8_161 + (1 << 20))
        );
    }
}
