//! `dump --native`: one merged stack per thread. Running threads come from perf samples
//! (a few milliseconds of cpu-clock events, no stop); threads the events did not reach (idle
//! ones: a cpu-clock event samples only a thread on a CPU) from one brief ptrace stop, unless
//! `--nonblocking`, when they keep their Python frames alone.
use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::perf::stacks::MAX_STACK_BYTES;
use crate::session::{PauseMode, Session};
use crate::stack::ThreadStack;

/// cpu-clock period of the one-shot events: a running thread is sampled within ~1 ms.
const PERIOD: Duration = Duration::from_millis(1);
/// How long running threads are waited for.
const PERF_WINDOW: Duration = Duration::from_millis(200);

/// Every thread's stack, native frames merged where a native stack was read.
pub fn sample(session: &mut Session, pause: PauseMode) -> anyhow::Result<Vec<ThreadStack>> {
    let refused = session
        .enable_native(PERIOD, MAX_STACK_BYTES)
        .perf_refused()
        .map(str::to_owned);
    if let Some(why) = &refused {
        crate::say!(
            "pyprobe: perf events refused ({why}): native stacks are read in a brief stop of the target"
        );
    }
    let mut best: HashMap<u32, ThreadStack> = HashMap::new();
    let mut last = None;
    let deadline = Instant::now() + PERF_WINDOW;
    if refused.is_none() {
        while Instant::now() < deadline {
            let native = session.native().expect("enabled above");
            native.wait(Duration::from_millis(10));
            let Ok(stacks) = session.sample() else {
                continue;
            };
            let merged = session.native().expect("enabled").merged_tids().to_vec();
            for stack in &stacks {
                if let Some(tid) = stack.os_tid.filter(|t| merged.contains(t)) {
                    best.insert(tid, stack.clone());
                }
            }
            let all = stacks
                .iter()
                .all(|s| s.os_tid.is_some_and(|t| best.contains_key(&t)) || !s.active);
            last = Some(stacks);
            if all {
                break;
            }
        }
    }
    let missing = |stacks: &[ThreadStack], best: &HashMap<u32, ThreadStack>| {
        stacks
            .iter()
            .any(|s| !s.os_tid.is_some_and(|t| best.contains_key(&t)))
    };
    let need_stop = last.as_deref().is_none_or(|s| missing(s, &best));
    if need_stop && (pause != PauseMode::NonBlocking || refused.is_some()) {
        let native = session.native().expect("enabled");
        native.use_ptrace(MAX_STACK_BYTES as usize);
        if let Ok(stacks) = crate::dump::sample_consistently(session) {
            let merged = session.native().expect("enabled").merged_tids().to_vec();
            for stack in &stacks {
                if let Some(tid) = stack.os_tid.filter(|t| merged.contains(t)) {
                    best.entry(tid).or_insert_with(|| stack.clone());
                }
            }
            last = Some(stacks);
        }
    }
    let mut threads = match last {
        Some(stacks) => stacks,
        None => crate::dump::sample_consistently(session)?,
    };
    for stack in &mut threads {
        if let Some(merged) = stack.os_tid.and_then(|t| best.remove(&t)) {
            *stack = merged;
        }
    }
    let main = session.target().pid() as u32;
    threads.sort_by_key(|t| (t.os_tid != Some(main), t.os_tid));
    Ok(threads)
}
