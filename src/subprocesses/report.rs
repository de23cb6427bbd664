//! What `--subprocesses` saw of the tree: every process, whether it was sampled or skipped
//! and why, and its RSS over time; for the summary and the outputs.
use std::time::Duration;

/// One process of the tree.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProcessEntry {
    /// Its pid.
    pub pid: i32,
    /// The watched process it was found under (`None` for the root).
    pub parent: Option<i32>,
    /// Its command line when first seen (or after its last exec), on one line.
    pub command: String,
    /// The Python version, once sampled.
    pub python: Option<String>,
    /// Ticks at which its stacks were read.
    pub samples: u64,
    /// Ticks at which its read failed while it ran.
    pub errors: u64,
    /// Why it was not sampled (not Python, unsupported, no permission); `None` if it was.
    pub skipped: Option<String>,
    /// When it was first seen, since sampling started.
    pub first_seen: Duration,
    /// When it was seen gone; `None` if it outlived the recording.
    pub ended: Option<Duration>,
    /// Its RSS over time (time since sampling started, bytes), at most every
    /// [`super::RSS_SERIES_EVERY`].
    pub rss: Vec<(Duration, u64)>,
    /// Its highest RSS reading, bytes.
    pub peak_rss: u64,
}

/// Every process of the tree seen while recording, in the order found (the root first).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProcessReport {
    /// The processes.
    pub processes: Vec<ProcessEntry>,
    /// The tree's total RSS over time (the sum of the readings of one tick).
    pub total_rss: Vec<(Duration, u64)>,
    /// The highest total.
    pub peak_total_rss: u64,
}

impl ProcessReport {
    /// Summary lines: one per process, then the total.
    pub fn summary(&self) -> String {
        let sampled = self.processes.iter().filter(|p| p.samples > 0).count();
        let mut text = format!(
            "pyprobe: {} processes seen, {sampled} sampled; peak RSS of the tree {}",
            self.processes.len(),
            mib(self.peak_total_rss)
        );
        for (i, p) in self.processes.iter().enumerate() {
            let what = match (&p.skipped, &p.python) {
                (Some(why), _) => format!("skipped: {why}"),
                (None, Some(v)) => format!(
                    "Python {v}, {} samples{}, peak RSS {}",
                    p.samples,
                    if p.errors > 0 {
                        format!(" ({} failed)", p.errors)
                    } else {
                        String::new()
                    },
                    mib(p.peak_rss)
                ),
                (None, None) => "not sampled (it ended before its interpreter was found)".into(),
            };
            let ended = match p.ended {
                Some(at) => format!(", ended at {:.2} s", at.as_secs_f64()),
                None => String::new(),
            };
            text += &format!(
                "\n  process {}{}: {} — {what}{ended}",
                p.pid,
                match p.parent {
                    Some(pp) => format!(" (child of {pp})"),
                    // Found among pyprobe's own children: adopted when its parent ended.
                    None if i > 0 => " (orphan: its parent ended before it was seen)".into(),
                    None => String::new(),
                },
                p.command
            );
        }
        text
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_lists_sampled_and_skipped() {
        let report = ProcessReport {
            processes: vec![
                ProcessEntry {
                    pid: 10,
                    command: "sh -c run".into(),
                    skipped: Some("not Python (/bin/sh)".into()),
                    ..Default::default()
                },
                ProcessEntry {
                    pid: 11,
                    parent: Some(10),
                    command: "python3 app.py".into(),
                    python: Some("3.12.1".into()),
                    samples: 40,
                    peak_rss: 10 << 20,
                    ended: Some(Duration::from_millis(1500)),
                    ..Default::default()
                },
            ],
            peak_total_rss: 12 << 20,
            ..Default::default()
        };
        let text = report.summary();
        assert!(
            text.starts_with("pyprobe: 2 processes seen, 1 sampled; peak RSS of the tree 12.0 MiB")
        );
        assert!(text.contains("process 10: sh -c run — skipped: not Python (/bin/sh)"));
        assert!(text.contains(
            "process 11 (child of 10): python3 app.py — Python 3.12.1, 40 samples, peak RSS 10.0 MiB, ended at 1.50 s"
        ));
    }
}
