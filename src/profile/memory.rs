//! The RSS series of a recording, bounded in size however long it runs, with its peak, and the
//! rule that charges RSS changes to stacks.
use std::time::Duration;

use serde::Serialize;

use crate::memory::MemoryDetails;

/// Most points kept; beyond it neighbouring points merge (keeping min and max), so a
/// 30-minute recording at 1 kHz costs as much memory as a 4-second one.
pub const MAX_POINTS: usize = 4096;

/// RSS over one stretch of time.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RssPoint {
    /// Seconds since the start of the recording (start of the stretch).
    pub at: f64,
    /// Lowest RSS in the stretch, bytes.
    pub min: u64,
    /// Highest RSS in the stretch, bytes.
    pub max: u64,
    /// Last RSS in the stretch, bytes.
    pub last: u64,
}

/// The breakdown at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct DetailsPoint {
    /// Seconds since the start of the recording.
    pub at: f64,
    /// The breakdown.
    pub details: MemoryDetails,
}

/// The highest RSS seen, and when.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Peak {
    /// Seconds since the start.
    pub at: f64,
    /// RSS in bytes.
    pub rss: u64,
    /// Index into [`crate::profile::Profile::stack_keys`] of the stack charged at that moment.
    pub stack: Option<u32>,
}

/// Memory over a recording.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MemoryTimeline {
    /// RSS points, oldest first, merged pairwise when there are too many.
    pub points: Vec<RssPoint>,
    /// Breakdowns (anon/file/shmem, available memory, cgroup), bounded the same way.
    pub details: Vec<DetailsPoint>,
    /// First reading (seconds, bytes).
    pub start: Option<(f64, u64)>,
    /// Last reading (seconds, bytes).
    pub end: Option<(f64, u64)>,
    /// Highest reading.
    pub peak: Option<Peak>,
    /// Sum of RSS increases between readings, bytes.
    pub growth_total: u64,
    /// Sum of RSS decreases between readings, bytes.
    pub release_total: u64,
    /// Readings taken.
    pub readings: u64,
    /// Shortest stretch of time one point covers: 0 until the first merge, then doubling.
    #[serde(skip)]
    stretch: f64,
}

impl MemoryTimeline {
    /// Record a reading; returns the change since the previous one.
    pub fn add(&mut self, at: Duration, rss: u64) -> Option<i64> {
        let t = at.as_secs_f64();
        self.readings += 1;
        let delta = self.end.map(|(_, prev)| rss as i64 - prev as i64);
        match delta {
            Some(d) if d > 0 => self.growth_total += d as u64,
            Some(d) => self.release_total += d.unsigned_abs(),
            None => self.start = Some((t, rss)),
        }
        self.end = Some((t, rss));
        if self.points.len() >= MAX_POINTS {
            self.points = merge_pairs(&self.points);
            // After a merge every point covers at least twice the average gap so far, so the
            // points stay evenly spread over time whatever the sampler's hiccups.
            let first = self.points.first().map_or(0.0, |p| p.at);
            let span = self.points.last().map_or(0.0, |p| p.at) - first;
            self.stretch = (self.stretch * 2.0).max(2.0 * span / MAX_POINTS as f64);
        }
        match self.points.last_mut() {
            Some(p) if t - p.at < self.stretch => {
                p.min = p.min.min(rss);
                p.max = p.max.max(rss);
                p.last = rss;
            }
            _ => self.points.push(RssPoint {
                at: t,
                min: rss,
                max: rss,
                last: rss,
            }),
        }
        delta
    }

    /// Note the peak; `stack` is what was charged at that moment.
    pub fn note_peak(&mut self, at: Duration, rss: u64, stack: Option<u32>) {
        if self.peak.as_ref().is_none_or(|p| rss > p.rss) {
            self.peak = Some(Peak {
                at: at.as_secs_f64(),
                rss,
                stack,
            });
        }
    }

    /// Record a breakdown.
    pub fn add_details(&mut self, at: Duration, details: MemoryDetails) {
        if self.details.len() >= MAX_POINTS {
            self.details = self.details.iter().step_by(2).copied().collect();
        }
        self.details.push(DetailsPoint {
            at: at.as_secs_f64(),
            details,
        });
    }

    /// Bytes per second over the last `window` seconds of the recording (or all of it).
    pub fn recent_growth_rate(&self, window: f64) -> Option<f64> {
        let (t_end, rss_end) = self.end?;
        let from = t_end - window;
        let p = self.points.iter().find(|p| p.at >= from)?;
        let dt = t_end - p.at;
        (dt > 0.0).then(|| (rss_end as f64 - p.last as f64) / dt)
    }
}

fn merge_pairs(points: &[RssPoint]) -> Vec<RssPoint> {
    points
        .chunks(2)
        .map(|pair| {
            let last = pair[pair.len() - 1];
            RssPoint {
                at: pair[0].at,
                min: pair.iter().map(|p| p.min).min().unwrap_or(0),
                max: pair.iter().map(|p| p.max).max().unwrap_or(0),
                last: last.last,
            }
        })
        .collect()
}

/// Split `bytes` over `n` shares so that the shares add up exactly.
pub fn split_exact(bytes: u64, n: usize) -> impl Iterator<Item = u64> {
    let n = n.max(1) as u64;
    let (each, rest) = (bytes / n, bytes % n);
    (0..n).map(move |i| each + u64::from(i < rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_and_totals_kept() {
        let mut m = MemoryTimeline::default();
        for i in 0..100_000u64 {
            let rss = 1000 + (i % 10) * 10 + i; // grows with a sawtooth
            m.add(Duration::from_millis(i), rss);
        }
        assert!(m.points.len() <= MAX_POINTS);
        assert_eq!(m.start, Some((0.0, 1000)));
        let (_, end) = m.end.unwrap();
        assert_eq!(
            m.growth_total as i64 - m.release_total as i64,
            end as i64 - 1000
        );
        assert_eq!(
            m.points.iter().map(|p| p.max).max(),
            Some(end.max(m.points.last().unwrap().max))
        );
        assert!(m.points.windows(2).all(|w| w[0].at < w[1].at));
        // Evenly spread: no point covers more than a few times the average span.
        let gaps: Vec<f64> = m.points.windows(2).map(|w| w[1].at - w[0].at).collect();
        let avg = gaps.iter().sum::<f64>() / gaps.len() as f64;
        assert!(gaps.iter().all(|&g| g <= 4.0 * avg), "uneven points");
        assert!(
            m.points.len() >= MAX_POINTS / 4,
            "too few points: {}",
            m.points.len()
        );
        let rate = m.recent_growth_rate(10.0).unwrap();
        assert!((rate - 1000.0).abs() < 50.0, "{rate}");
    }

    #[test]
    fn an_early_stall_does_not_coarsen_the_series() {
        let mut m = MemoryTimeline::default();
        m.add(Duration::from_millis(0), 1);
        m.add(Duration::from_millis(640), 2); // the sampler stalled once
        for i in 1..3000u64 {
            m.add(Duration::from_millis(640 + i), 3);
        }
        assert_eq!(m.points.len(), 3001);
    }

    #[test]
    fn exact_split() {
        let shares: Vec<u64> = split_exact(10, 3).collect();
        assert_eq!(shares, vec![4, 3, 3]);
        assert_eq!(split_exact(7, 0).sum::<u64>(), 7);
    }
}
