//! `record --heap`: heap censuses taken while recording, on a thread of their own (a census of a
//! big heap takes seconds; the sampler must not wait for it). One at the start, one each time
//! RSS passes its last census high by [`NEW_HIGH`], and one at the end; the HTML report shows
//! the census at the peak and what changed since the start.
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use serde::Serialize;

use super::census::{Totals, TypeRow};
use super::HeapTarget;
use crate::session::PauseMode;

/// A new census when RSS exceeds the RSS of the last one by this fraction.
pub const NEW_HIGH: f64 = 0.10;

/// Types kept per census (the largest by bytes): enough for the report's table and its
/// difference from the start, bounded for a long recording.
const KEPT_TYPES: usize = 200;

/// Why a census was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Moment {
    /// When sampling started.
    Start,
    /// RSS passed the last census's by [`NEW_HIGH`].
    NewHigh,
    /// When sampling ended.
    End,
    /// Asked for by the user (`top`'s heap view).
    Asked,
}

/// One census of a recording.
#[derive(Debug, Clone, Serialize)]
pub struct HeapSnapshot {
    /// Why it was taken.
    pub moment: Moment,
    /// Seconds into the recording it began (it was asked for at most one census earlier).
    pub at: f64,
    /// RSS when it was asked for.
    pub rss: Option<u64>,
    /// Seconds it took.
    pub took: f64,
    /// The largest types by bytes.
    pub types: Vec<TypeRow>,
    /// Totals.
    pub totals: Totals,
    /// What the census cannot see.
    pub limits: Vec<String>,
}

struct Ask {
    moment: Moment,
    at: f64,
    rss: Option<u64>,
}

/// The census thread, and when to ask it.
pub struct HeapCensuses {
    asks: Option<Sender<Ask>>,
    done: Arc<Mutex<Vec<HeapSnapshot>>>,
    failures: Arc<Mutex<Vec<String>>>,
    /// A census is being taken: new highs wait (the next reading above the mark asks again).
    busy: Arc<AtomicBool>,
    /// RSS above which the next census is due; `None` before the first.
    next_at: Option<u64>,
    handle: Option<JoinHandle<()>>,
}

impl HeapCensuses {
    /// Start the thread; it attaches to `pid` on its own (finding the allocator's state reads
    /// the binary, which takes a while). `started`: the recording's start.
    pub fn start(pid: i32, started: Instant) -> HeapCensuses {
        let (tx, rx) = channel::<Ask>();
        let done = Arc::new(Mutex::new(Vec::new()));
        let failures = Arc::new(Mutex::new(Vec::new()));
        let busy = Arc::new(AtomicBool::new(false));
        let (d, f, b) = (done.clone(), failures.clone(), busy.clone());
        let handle = std::thread::Builder::new()
            .name("heap-census".into())
            .spawn(move || census_thread(pid, started, &rx, &d, &f, &b))
            .ok();
        HeapCensuses {
            asks: Some(tx),
            done,
            failures,
            busy,
            next_at: None,
            handle,
        }
    }

    /// A reading of RSS at `at` seconds: asks for the start census on the first, and for a
    /// new one when RSS passed the mark.
    pub fn on_rss(&mut self, at: f64, rss: Option<u64>) {
        let Some(now) = rss else { return };
        let moment = match self.next_at {
            None => Moment::Start,
            Some(mark) if now >= mark => Moment::NewHigh,
            Some(_) => return,
        };
        if self.busy.load(Ordering::Acquire) {
            return;
        }
        self.next_at = Some(now + (now as f64 * NEW_HIGH) as u64);
        self.ask(moment, at, rss);
    }

    fn ask(&mut self, moment: Moment, at: f64, rss: Option<u64>) {
        self.busy.store(true, Ordering::Release);
        if let Some(tx) = &self.asks {
            let _ = tx.send(Ask { moment, at, rss });
        }
    }

    /// Ask for a census now (`top`'s heap view), unless one is being taken: returns whether
    /// it was asked.
    pub fn ask_now(&mut self, at: f64, rss: Option<u64>) -> bool {
        if self.busy.load(Ordering::Acquire) {
            return false;
        }
        self.ask(Moment::Asked, at, rss);
        true
    }

    /// A census is being taken.
    pub fn busy(&self) -> bool {
        self.busy.load(Ordering::Acquire)
    }

    /// The newest census so far, and the newest failure (attaching, or a census that failed).
    pub fn latest(&self) -> (Option<HeapSnapshot>, Option<String>) {
        let done = self.done.lock().unwrap_or_else(|e| e.into_inner());
        let failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        (done.last().cloned(), failures.last().cloned())
    }

    /// The end census (with the RSS then, if `end` is given: the program still runs), then
    /// every census, in order, and what failed.
    pub fn finish(mut self, at: f64, end: Option<Option<u64>>) -> (Vec<HeapSnapshot>, Vec<String>) {
        if let Some(rss) = end {
            self.ask(Moment::End, at, rss);
        }
        self.asks = None;
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
        (taken(&self.done), taken(&self.failures))
    }
}

fn taken<T>(list: &Mutex<Vec<T>>) -> Vec<T> {
    std::mem::take(&mut *list.lock().unwrap_or_else(|e| e.into_inner()))
}

fn census_thread(
    pid: i32,
    started: Instant,
    asks: &Receiver<Ask>,
    done: &Mutex<Vec<HeapSnapshot>>,
    failures: &Mutex<Vec<String>>,
    busy: &AtomicBool,
) {
    let fail = |what: String| {
        failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(what)
    };
    let heap = match HeapTarget::attach(pid) {
        Ok(heap) => Some(heap),
        Err(e) => {
            fail(format!("no heap census: {e}"));
            None
        }
    };
    // Asks that came while one ran are for moments now past: only the newest is taken
    // (the end always is).
    while let Ok(mut ask) = asks.recv() {
        while let Ok(newer) = asks.try_recv() {
            ask = newer;
        }
        if let Some(heap) = &heap {
            let began = Instant::now();
            match heap.census(PauseMode::NonBlocking) {
                Ok((census, _)) => {
                    let mut types = census.rows;
                    types.truncate(KEPT_TYPES);
                    let mut done = done.lock().unwrap_or_else(|e| e.into_inner());
                    // The first census that could be taken is the start's (a program launched
                    // a moment ago may not have an interpreter to read yet).
                    let moment = match ask.moment {
                        Moment::NewHigh if done.is_empty() => Moment::Start,
                        moment => moment,
                    };
                    done.push(HeapSnapshot {
                        moment,
                        at: (began - started).as_secs_f64(),
                        rss: ask.rss,
                        took: began.elapsed().as_secs_f64(),
                        types,
                        totals: census.totals,
                        limits: census.limits,
                    });
                }
                Err(e) => fail(format!("heap census at {:.1} s failed: {e}", ask.at)),
            }
        }
        busy.store(false, Ordering::Release);
    }
}

/// The census taken at the highest RSS (the latest of equals), and the start census.
pub fn peak_and_start(
    snapshots: &[HeapSnapshot],
) -> Option<(&HeapSnapshot, Option<&HeapSnapshot>)> {
    let peak = snapshots
        .iter()
        .filter(|s| s.rss.is_some())
        .max_by(|a, b| a.rss.cmp(&b.rss).then(a.at.total_cmp(&b.at)))
        .or_else(|| snapshots.last())?;
    let start = snapshots.iter().find(|s| s.moment == Moment::Start);
    Some((peak, start))
}

/// A census of `types` (name, count, bytes), for tests of what shows them.
#[cfg(test)]
pub fn test_snapshot(
    moment: Moment,
    at: f64,
    rss: u64,
    types: &[(&str, u64, u64)],
) -> HeapSnapshot {
    let mut totals = Totals::default();
    for &(_, count, bytes) in types {
        totals.objects += count;
        totals.object_bytes += bytes;
    }
    HeapSnapshot {
        moment,
        at,
        rss: Some(rss),
        took: 0.5,
        types: types
            .iter()
            .map(|&(name, count, bytes)| TypeRow {
                name: name.into(),
                count,
                bytes,
            })
            .collect(),
        totals,
        limits: vec!["no 2.7 ints".into()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(moment: Moment, at: f64, rss: u64) -> HeapSnapshot {
        test_snapshot(moment, at, rss, &[])
    }

    #[test]
    fn the_peak_is_the_census_at_the_highest_rss() {
        let s = [
            snapshot(Moment::Start, 0.0, 100),
            snapshot(Moment::NewHigh, 1.0, 120),
            snapshot(Moment::NewHigh, 2.0, 150),
            snapshot(Moment::End, 3.0, 90),
        ];
        let (peak, start) = peak_and_start(&s).unwrap();
        assert_eq!((peak.at, start.map(|s| s.at)), (2.0, Some(0.0)));
        assert!(peak_and_start(&[]).is_none());
    }

    #[test]
    fn asks_at_the_start_and_at_each_new_high_of_ten_percent() {
        // A process that does not exist: the thread records why, and asks are still counted.
        let mut c = HeapCensuses::start(i32::MAX - 1, Instant::now());
        let mut asked = Vec::new();
        for (i, rss) in [100u64, 105, 109, 111, 115, 200, 150, 219, 221]
            .iter()
            .enumerate()
        {
            let before = c.next_at;
            // Wait for the thread between asks: this test is about when they are made.
            while c.busy.load(Ordering::Acquire) {
                std::thread::yield_now();
            }
            c.on_rss(i as f64, Some(rss * 1000));
            if c.next_at != before {
                asked.push(*rss);
            }
        }
        assert_eq!(asked, [100, 111, 200, 221]);
        let (snapshots, failures) = c.finish(9.0, Some(Some(1)));
        assert!(snapshots.is_empty());
        assert_eq!(failures.len(), 1, "{failures:?}");
        assert!(failures[0].starts_with("no heap census"), "{failures:?}");
    }
}
