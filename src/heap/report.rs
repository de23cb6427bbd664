//! The census as text or JSON, and the difference of two censuses.
use std::collections::BTreeMap;
use std::io::{self, Write};
use std::time::Duration;

use serde::Serialize;

use super::census::{Census, Totals, TypeRow};
use super::{HeapConfig, HeapTarget, BYTES_MEANING};
use crate::display;

/// Totals with the process's RSS beside them.
#[derive(Debug, Clone, Serialize)]
pub struct ReportTotals {
    /// What the census counted.
    #[serde(flatten)]
    pub census: Totals,
    /// Resident set size of the process when the census ended.
    pub rss_bytes: Option<u64>,
    /// RSS not explained by the small-object heap (whole arenas) and the large objects found:
    /// C extensions, native buffers, malloc fragmentation, the interpreter itself.
    pub rss_outside_python_bytes: Option<u64>,
    /// How long the census took.
    pub scan_seconds: f64,
    /// How long the target was stopped (`--blocking`), else absent.
    pub paused_seconds: Option<f64>,
}

/// The JSON document of `heap --json`.
#[derive(Debug, Clone, Serialize)]
pub struct HeapReport {
    /// Target pid.
    pub pid: i32,
    /// Python version.
    pub python_version: String,
    /// Per type, largest bytes first.
    pub types: Vec<TypeRow>,
    /// Totals.
    pub totals: ReportTotals,
    /// What was skipped, by reason.
    pub skipped: BTreeMap<String, u64>,
    /// What this census cannot count on this interpreter.
    pub limits: Vec<String>,
    /// What `bytes` means.
    pub bytes_meaning: &'static str,
}

impl HeapReport {
    /// A report of `census`, with the RSS read after it.
    pub fn new(
        heap: &HeapTarget,
        census: Census,
        rss_bytes: Option<u64>,
        scan_seconds: f64,
        paused: Option<Duration>,
    ) -> HeapReport {
        let python = census.totals.python_bytes();
        HeapReport {
            pid: heap.target().pid(),
            python_version: heap.interpreter().version.to_string(),
            types: census.rows,
            totals: ReportTotals {
                census: census.totals,
                rss_bytes,
                rss_outside_python_bytes: rss_bytes.map(|rss| rss.saturating_sub(python)),
                scan_seconds,
                paused_seconds: paused.map(|p| p.as_secs_f64()),
            },
            skipped: census.skipped,
            limits: census.limits,
            bytes_meaning: BYTES_MEANING,
        }
    }

    /// Print as the config asks.
    pub fn write(&self, config: &HeapConfig, out: &mut dyn Write) -> io::Result<()> {
        if config.json {
            serde_json::to_writer_pretty(&mut *out, self).map_err(io::Error::from)?;
            return writeln!(out);
        }
        self.write_header(out)?;
        writeln!(out, "{:>12}  {:>10}  type", "count", "bytes")?;
        for row in self.types.iter().take(config.top) {
            writeln!(
                out,
                "{:>12}  {:>10}  {}",
                thousands(row.count),
                display::bytes(row.bytes as f64),
                row.name
            )?;
        }
        if self.types.len() > config.top {
            let rest = &self.types[config.top..];
            writeln!(
                out,
                "{:>12}  {:>10}  ({} more types)",
                thousands(rest.iter().map(|r| r.count).sum()),
                display::bytes(rest.iter().map(|r| r.bytes).sum::<u64>() as f64),
                rest.len()
            )?;
        }
        self.write_totals(out)
    }

    fn write_header(&self, out: &mut dyn Write) -> io::Result<()> {
        let how = match self.totals.paused_seconds {
            Some(p) => format!("the target paused for {}", seconds(p)),
            None => "without pausing the target".to_string(),
        };
        writeln!(
            out,
            "Heap of process {} (Python {}): read in {}, {how}",
            self.pid,
            self.python_version,
            seconds(self.totals.scan_seconds)
        )
    }

    fn write_totals(&self, out: &mut dyn Write) -> io::Result<()> {
        let t = &self.totals.census;
        let b = |n: u64| display::bytes(n as f64);
        writeln!(out)?;
        writeln!(
            out,
            "objects counted: {} ({})",
            thousands(t.objects),
            b(t.object_bytes)
        )?;
        if t.arenas > 0 {
            writeln!(
                out,
                "small-object heap: {} arenas ({}): {} in used blocks ({} objects, {} other \
                 blocks: item arrays, dict tables, buffers), {} free",
                thousands(t.arenas),
                b(t.arena_bytes),
                b(t.used_block_bytes),
                b(t.object_block_bytes),
                b(t.other_block_bytes),
                b(t.arena_free_bytes)
            )?;
            writeln!(
                out,
                "large objects (outside the arenas): {} ({})",
                thousands(t.large_objects),
                b(t.large_object_bytes)
            )?;
        }
        if let (Some(rss), Some(outside)) =
            (self.totals.rss_bytes, self.totals.rss_outside_python_bytes)
        {
            writeln!(
                out,
                "RSS {}: {} of it outside Python's object heap (native memory, C extensions, \
                 fragmentation, the interpreter)",
                b(rss),
                b(outside)
            )?;
        }
        for (reason, n) in &self.skipped {
            writeln!(out, "skipped: {} {reason}", thousands(*n))?;
        }
        for limit in &self.limits {
            writeln!(out, "not counted: {limit}")?;
        }
        writeln!(out, "({BYTES_MEANING})")
    }
}

/// Growth of one type between two censuses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DiffRow {
    /// Type name.
    #[serde(rename = "type")]
    pub name: String,
    /// Change in count.
    pub count: i64,
    /// Change in bytes.
    pub bytes: i64,
}

/// Per type, `after - before`, largest byte growth first (types that did not change left out).
pub fn diff_rows(before: &[TypeRow], after: &[TypeRow]) -> Vec<DiffRow> {
    let mut by_name: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
    for r in before {
        let e = by_name.entry(&r.name).or_default();
        e.0 -= r.count as i64;
        e.1 -= r.bytes as i64;
    }
    for r in after {
        let e = by_name.entry(&r.name).or_default();
        e.0 += r.count as i64;
        e.1 += r.bytes as i64;
    }
    let mut rows: Vec<DiffRow> = by_name
        .into_iter()
        .filter(|(_, (c, b))| *c != 0 || *b != 0)
        .map(|(name, (count, bytes))| DiffRow {
            name: name.to_string(),
            count,
            bytes,
        })
        .collect();
    rows.sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.name.cmp(&b.name)));
    rows
}

#[derive(Serialize)]
struct DiffReport<'a> {
    seconds_apart: f64,
    growth: Vec<DiffRow>,
    before: &'a HeapReport,
    after: &'a HeapReport,
}

/// Print the growth between two censuses `wait` apart.
pub fn write_diff(
    before: &HeapReport,
    after: &HeapReport,
    wait: Duration,
    config: &HeapConfig,
    out: &mut dyn Write,
) -> io::Result<()> {
    let growth = diff_rows(&before.types, &after.types);
    if config.json {
        let doc = DiffReport {
            seconds_apart: wait.as_secs_f64(),
            growth,
            before,
            after,
        };
        serde_json::to_writer_pretty(&mut *out, &doc).map_err(io::Error::from)?;
        return writeln!(out);
    }
    after.write_header(out)?;
    writeln!(
        out,
        "Growth over {} (second census minus first), largest first:",
        seconds(wait.as_secs_f64())
    )?;
    for row in growth.iter().take(config.top) {
        writeln!(
            out,
            "  {} {} ({})",
            row.name,
            signed_thousands(row.count),
            display::signed_bytes(row.bytes as f64)
        )?;
    }
    if growth.is_empty() {
        writeln!(out, "  (no change)")?;
    }
    after.write_totals(out)
}

fn seconds(s: f64) -> String {
    if s < 1.0 {
        format!("{:.0} ms", s * 1000.0)
    } else {
        format!("{s:.2} s")
    }
}

/// `1234567` as `1,234,567`.
pub(crate) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn signed_thousands(n: i64) -> String {
    let sign = if n < 0 { '-' } else { '+' };
    format!("{sign}{}", thousands(n.unsigned_abs()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, count: u64, bytes: u64) -> TypeRow {
        TypeRow {
            name: name.into(),
            count,
            bytes,
        }
    }

    #[test]
    fn growth_is_sorted_by_bytes() {
        let before = [row("dict", 10, 1000), row("str", 5, 100), row("gone", 1, 8)];
        let after = [
            row("dict", 120_010, 18_000_000),
            row("str", 5, 100),
            row("new", 2, 64),
        ];
        let d = diff_rows(&before, &after);
        assert_eq!(d[0].name, "dict");
        assert_eq!(d[0].count, 120_000);
        assert_eq!(
            d.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
            ["dict", "new", "gone"]
        );
        assert_eq!(d[2].bytes, -8);
    }

    #[test]
    fn numbers() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(120_000), "120,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(signed_thousands(-1500), "-1,500");
    }
}
