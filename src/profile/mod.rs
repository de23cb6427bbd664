//! Aggregated samples: interned frames and stacks with their counts. Deterministic (sorted)
//! so that outputs are reproducible and golden tests can compare them.
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use crate::stack::{Frame, ThreadStack};

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
    /// Interval between samples the user asked for.
    pub interval: Duration,
    frame_index: HashMap<Frame, FrameId>,
    thread_index: HashMap<u64, usize>,
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
        if let Some(&id) = self.frame_index.get(frame) {
            return id;
        }
        let id = self.frames.len() as FrameId;
        self.frames.push(frame.clone());
        self.frame_index.insert(frame.clone(), id);
        id
    }

    /// Intern a thread, updating its name if it became known.
    pub fn intern_thread(&mut self, stack: &ThreadStack) -> usize {
        if let Some(&i) = self.thread_index.get(&stack.thread_id) {
            let t = &mut self.threads[i];
            if t.name.is_none() && stack.name.is_some() {
                t.name = stack.name.clone();
            }
            if t.os_tid.is_none() {
                t.os_tid = stack.os_tid;
            }
            return i;
        }
        let i = self.threads.len();
        self.threads.push(ThreadInfo {
            thread_id: stack.thread_id,
            os_tid: stack.os_tid,
            name: stack.name.clone(),
        });
        self.thread_index.insert(stack.thread_id, i);
        i
    }

    /// Add one sample: the stacks of every thread at one tick.
    pub fn add_sample(&mut self, stacks: &[ThreadStack], opts: &AggregateOptions) {
        self.sample_count += 1;
        for stack in stacks {
            if !opts.include_idle && !stack.active {
                continue;
            }
            if opts.gil_only && !stack.holds_gil {
                continue;
            }
            if stack.frames.is_empty() {
                continue;
            }
            let thread = self.intern_thread(stack);
            let ids: Vec<FrameId> = stack
                .frames
                .iter()
                .rev()
                .map(|f| {
                    if opts.functions_only {
                        self.intern_frame(&Frame {
                            line: 0,
                            ..f.clone()
                        })
                    } else {
                        self.intern_frame(f)
                    }
                })
                .collect();
            self.stacks.entry((thread, ids)).or_default().samples += 1;
        }
    }

    /// Total weight over all stacks.
    pub fn total_samples(&self) -> u64 {
        self.stacks.values().map(|w| w.samples).sum()
    }
}
