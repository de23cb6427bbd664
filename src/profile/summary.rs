//! The memory lines of the end-of-record summary: start, peak (and what ran then), end,
//! growth rate, headroom, and the time left at the recent growth rate.
use std::fmt;

use super::Profile;
use crate::display::{bytes, duration, short_filename, signed_bytes};
use crate::stack::Frame;

/// Memory facts of a recording, ready to print.
#[derive(Debug, Clone, PartialEq)]
pub struct MemorySummary {
    /// RSS at the first reading, bytes.
    pub start: u64,
    /// RSS at the last reading, bytes.
    pub end: u64,
    /// Highest RSS, bytes.
    pub peak: u64,
    /// When the peak was, seconds from the start.
    pub peak_at: f64,
    /// The innermost frame running at the peak, `function (file:line)`.
    pub peak_frame: Option<String>,
    /// Average growth over the recording, bytes per second.
    pub growth_rate: f64,
    /// Growth over the last few seconds, bytes per second.
    pub recent_rate: Option<f64>,
    /// Room left: available memory or cgroup limit minus usage, at the last breakdown.
    pub headroom: Option<u64>,
    /// Seconds until the headroom is used up at the recent rate (when growing and still
    /// running).
    pub time_to_exhaustion: Option<f64>,
    /// The process ended before the recording did: no projection, and the headroom is the
    /// one it had last.
    pub target_gone: bool,
    /// Sum of the RSS increases between readings, bytes: what the memory profile charges.
    pub grown: u64,
    /// How growth was charged to code.
    pub attribution: super::Attribution,
}

/// The window used for the "recent" growth rate.
const RECENT_SECONDS: f64 = 10.0;
/// The shortest recording whose growth rate is projected to an out-of-memory time: a program
/// that starts, imports and exits in 20 ms grows at "200 MiB/s", which predicts nothing.
const MIN_PROJECTION_SECONDS: f64 = 1.0;

/// The code running at the peak: the innermost Python frame, and with `--native` the C
/// function it was in (`__memset_avx2 (libc.so.6) under grow (app.py:7)`).
fn peak_label(frames: &[&Frame]) -> String {
    let python = frames.iter().rev().find(|f| !f.is_native());
    // Line 0: lines merged away (`--function`) or unknown; no ":0".
    let python = python.map(|f| match f.line {
        0 => format!("{} ({})", f.name, short_filename(&f.filename)),
        line => format!("{} ({}:{line})", f.name, short_filename(&f.filename)),
    });
    match (frames.last().filter(|f| f.is_native()), python) {
        (Some(c), Some(py)) => format!("{} ({}) under {py}", c.name, short_filename(&c.filename)),
        (Some(c), None) => format!("{} ({})", c.name, short_filename(&c.filename)),
        (None, py) => py.unwrap_or_default(),
    }
}

impl MemorySummary {
    /// Summarize `profile`'s memory; `None` when RSS was never read.
    pub fn of(profile: &Profile) -> Option<MemorySummary> {
        let m = &profile.memory;
        let (t0, start) = m.start?;
        let (t1, end) = m.end?;
        let peak = m.peak.as_ref()?;
        let peak_frame = peak
            .stack
            .and_then(|id| profile.stack_keys.get(id as usize))
            .map(|(_, ids)| {
                let frames: Vec<&Frame> = ids
                    .iter()
                    .filter_map(|&f| profile.frames.get(f as usize))
                    .collect();
                peak_label(&frames)
            })
            .filter(|label| !label.is_empty());
        let dt = t1 - t0;
        let growth_rate = if dt > 0.0 {
            (end as f64 - start as f64) / dt
        } else {
            0.0
        };
        let recent_rate = m.recent_growth_rate(RECENT_SECONDS);
        let headroom = m.details.last().and_then(|d| d.details.headroom());
        // A process that has exited frees its memory: it never runs out.
        let time_to_exhaustion = match (headroom, recent_rate) {
            (Some(room), Some(rate))
                if rate > 0.0 && dt >= MIN_PROJECTION_SECONDS && !profile.target_gone =>
            {
                Some(room as f64 / rate)
            }
            _ => None,
        };
        Some(MemorySummary {
            start,
            end,
            peak: peak.rss,
            peak_at: peak.at,
            peak_frame,
            growth_rate,
            recent_rate,
            headroom,
            time_to_exhaustion,
            target_gone: profile.target_gone,
            grown: m.growth_total,
            attribution: profile.attribution.clone(),
        })
    }
}

impl fmt::Display for MemorySummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "memory: RSS {} at start, peak {} at {:.2} s",
            bytes(self.start as f64),
            bytes(self.peak as f64),
            self.peak_at
        )?;
        if let Some(frame) = &self.peak_frame {
            write!(f, " (in {frame})")?;
        }
        write!(
            f,
            ", {} at end; {}/s on average",
            bytes(self.end as f64),
            signed_bytes(self.growth_rate)
        )?;
        if let Some(rate) = self.recent_rate {
            write!(f, ", {}/s recently", signed_bytes(rate))?;
        }
        if let Some(room) = self.headroom {
            write!(f, "; headroom {}", bytes(room as f64))?;
            match self.time_to_exhaustion {
                _ if self.target_gone => write!(f, " before it exited")?,
                Some(secs) => write!(f, ", used up in ~{} at the recent rate", duration(secs))?,
                // Growing, but over too short a recording to project.
                None if self.recent_rate.is_some_and(|r| r > 0.0) => {}
                None => write!(f, ", not shrinking")?,
            }
        }
        write!(f, "; grew {} in all, ", bytes(self.grown as f64))?;
        match &self.attribution {
            super::Attribution::PageFaults { .. } => {
                write!(f, "charged to the code whose page faults grew it")
            }
            super::Attribution::FaultCounts { why } => write!(
                f,
                "charged by per-thread fault counts to the stacks after each change ({why})"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::{CgroupLimit, MemoryDetails};
    use crate::profile::AggregateOptions;
    use crate::stack::ThreadStack;
    use std::time::Duration;

    /// A process growing by 1 MiB every `step` for 20 steps, from 100 MiB, in function `grow`,
    /// with 512 MiB of cgroup headroom at the end.
    fn growing(step: Duration) -> Profile {
        let mut p = Profile::new("t", step);
        let grow = ThreadStack {
            thread_id: 1,
            os_tid: Some(1),
            name: None,
            active: true,
            holds_gil: true,
            frames: vec![Frame {
                name: "grow".into(),
                filename: "/x/app.py".into(),
                line: 7,
            }]
            .into(),
        };
        for i in 0..=20u64 {
            p.add_tick(
                step * i as u32,
                std::slice::from_ref(&grow),
                Some((100 + i) << 20),
                &AggregateOptions::default(),
            );
        }
        let details = MemoryDetails {
            mem_available: Some(10 << 30),
            cgroup: Some(CgroupLimit {
                limit: 1 << 30,
                usage: 1 << 29,
            }),
            ..Default::default()
        };
        p.add_details(step * 20, details);
        p
    }

    #[test]
    fn summary_of_a_growing_process() {
        let p = growing(Duration::from_millis(100));
        let s = MemorySummary::of(&p).unwrap();
        assert_eq!(s.start, 100 << 20);
        assert_eq!(s.peak, 120 << 20);
        assert_eq!(s.peak_frame.as_deref(), Some("grow (/x/app.py:7)"));
        assert!((s.growth_rate - 10.0 * 1048576.0).abs() < 1.0);
        assert_eq!(s.headroom, Some(1 << 29));
        let tte = s.time_to_exhaustion.unwrap();
        assert!((tte - 51.2).abs() < 0.5, "{tte}");
        let text = s.to_string();
        assert!(
            text.contains("peak 120.0 MiB at 2.00 s (in grow (/x/app.py:7))"),
            "{text}"
        );
        assert!(text.contains("used up in ~51s"), "{text}");
        // All growth went to the one stack.
        assert_eq!(p.total(crate::profile::Measure::RssGrowth), 20 << 20);

        // The same growth squeezed into 20 ms (a program that starts and exits): rates are
        // reported, no out-of-memory time is projected from them, nor is "not shrinking" said.
        let s = MemorySummary::of(&growing(Duration::from_millis(1))).unwrap();
        assert!(s.recent_rate.is_some_and(|r| r > 0.0));
        assert_eq!(s.time_to_exhaustion, None);
        let text = s.to_string();
        assert!(
            !text.contains("used up") && !text.contains("shrinking"),
            "{text}"
        );
    }

    #[test]
    fn no_projection_once_the_target_has_exited() {
        let mut p = growing(Duration::from_millis(100));
        p.target_gone = true;
        let s = MemorySummary::of(&p).unwrap();
        // The rates are what was measured; the exhaustion time would be a forecast for a
        // process whose memory is already freed.
        assert!((s.growth_rate - 10.0 * 1048576.0).abs() < 1.0);
        assert!(s.recent_rate.is_some_and(|r| r > 0.0));
        assert_eq!(s.time_to_exhaustion, None);
        let text = s.to_string();
        assert!(text.contains("+10.0 MiB/s on average"), "{text}");
        assert!(
            text.contains("; headroom 512.0 MiB before it exited;"),
            "{text}"
        );
        assert!(!text.contains("used up"), "{text}");
    }

    #[test]
    fn the_peak_names_the_python_function_and_the_c_function_it_was_in() {
        let frame = |name: &str, file: &str, line| Frame {
            name: name.into(),
            filename: file.into(),
            line,
        };
        let (main, grow) = (frame("main", "/x/app.py", 3), frame("grow", "/x/app.py", 7));
        let memset = frame("__memset_avx2", "libc.so.6", 0);
        assert_eq!(peak_label(&[&main, &grow]), "grow (/x/app.py:7)");
        assert_eq!(
            peak_label(&[&main, &grow, &memset]),
            "__memset_avx2 (libc.so.6) under grow (/x/app.py:7)"
        );
        assert_eq!(peak_label(&[&memset]), "__memset_avx2 (libc.so.6)");
        assert_eq!(peak_label(&[]), "");
        // With --function lines are merged away (0): no ":0".
        let grow_anywhere = frame("grow", "/x/app.py", 0);
        assert_eq!(
            peak_label(&[&grow_anywhere, &memset]),
            "__memset_avx2 (libc.so.6) under grow (/x/app.py)"
        );
    }
}
