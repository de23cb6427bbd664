//! The HTML report's heap section (`record --heap`): the census taken at the highest RSS, its
//! largest types with their change since the start census, and the totals that say whether
//! Python objects or native memory held the RAM. Rendered here as plain HTML (no script
//! needed), placed after the memory flame graph.
use std::collections::HashMap;
use std::fmt::Write;

use crate::display::{bytes, escape_markup};
use crate::heap::during::{peak_and_start, HeapSnapshot, Moment};
use crate::profile::Profile;

/// Types shown in the table.
const SHOWN: usize = 25;

/// The section, or nothing for a recording without censuses.
pub fn heap_section(profile: &Profile) -> String {
    let Some((peak, start)) = peak_and_start(&profile.heap) else {
        return String::new();
    };
    let mut out =
        String::from("<section id=\"heap-section\">\n<h2>Heap: what held the memory</h2>\n");
    let moments: Vec<String> = profile.heap.iter().map(moment_label).collect();
    let t = &peak.totals;
    let rss = peak
        .rss
        .map_or_else(|| "?".to_string(), |r| bytes(r as f64));
    let _ = writeln!(
        out,
        "<p class=\"info\" id=\"heap-peak\">Census at the peak of RSS ({rss} at {:.2} s, read in \
         {:.2} s without stopping the program): {} live Python objects hold {}, of which {} in \
         objects outside pymalloc's arenas; the arenas take {} ({} free). {} censuses: {}.</p>",
        peak.at,
        peak.took,
        t.objects,
        bytes(t.object_bytes as f64),
        bytes(t.large_object_bytes as f64),
        bytes(t.arena_bytes as f64),
        bytes(t.arena_free_bytes as f64),
        profile.heap.len(),
        escape_markup(&moments.join(", "))
    );
    if let Some(rss) = peak.rss {
        let outside = rss.saturating_sub(t.object_bytes + t.arena_free_bytes);
        let _ = writeln!(
            out,
            "<p class=\"info\" id=\"heap-native\">RSS outside Python objects and free arena \
             space (C extensions, native buffers, the interpreter, fragmentation): {}.</p>",
            bytes(outside as f64)
        );
    }
    let before: HashMap<&str, (u64, u64)> = start
        .filter(|s| !std::ptr::eq(*s, peak))
        .map(|s| {
            s.types
                .iter()
                .map(|r| (r.name.as_str(), (r.count, r.bytes)))
                .collect()
        })
        .unwrap_or_default();
    let since = if before.is_empty() {
        ""
    } else {
        "<th>objects since start</th><th>bytes since start</th>"
    };
    let _ = writeln!(
        out,
        "<table id=\"heap-table\"><thead><tr><th>type</th><th>objects</th><th>bytes</th>{since}\
         </tr></thead><tbody>"
    );
    for row in peak.types.iter().take(SHOWN) {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td>",
            escape_markup(&row.name),
            row.count,
            bytes(row.bytes as f64)
        );
        if !before.is_empty() {
            let (count, size) = before.get(row.name.as_str()).copied().unwrap_or((0, 0));
            let _ = write!(
                out,
                "<td>{:+}</td><td>{}{}</td>",
                row.count as i64 - count as i64,
                if row.bytes >= size { "+" } else { "-" },
                bytes(row.bytes.abs_diff(size) as f64)
            );
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody></table>\n");
    for limit in &peak.limits {
        let _ = writeln!(out, "<p class=\"hint\">{}</p>", escape_markup(limit));
    }
    out.push_str("</section>\n");
    out
}

fn moment_label(s: &HeapSnapshot) -> String {
    let what = match s.moment {
        Moment::Start => "start",
        Moment::NewHigh => "new RSS high",
        Moment::End => "end",
        Moment::Asked => "asked for",
    };
    format!("{what} at {:.1} s", s.at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::heap::during::test_snapshot as snapshot;

    #[test]
    fn shows_the_census_at_the_peak_and_its_change_since_the_start() {
        let mut p = Profile::new("t", std::time::Duration::from_millis(10));
        assert_eq!(heap_section(&p), "", "no censuses, no section");
        p.heap = vec![
            snapshot(
                Moment::Start,
                0.0,
                100 << 20,
                &[("dict", 10, 1000), ("app.<Node>", 1, 64)],
            ),
            snapshot(
                Moment::NewHigh,
                2.0,
                300 << 20,
                &[("app.<Node>", 5001, 320_064), ("dict", 8, 800)],
            ),
            snapshot(Moment::End, 3.0, 200 << 20, &[]),
        ];
        let html = heap_section(&p);
        assert!(html.contains("300.0 MiB at 2.00 s"), "{html}");
        assert!(
            html.contains("<td>app.&lt;Node&gt;</td><td>5001</td>"),
            "{html}"
        );
        assert!(html.contains("<td>+5000</td>"), "{html}");
        assert!(html.contains("<td>-2</td><td>-200 B</td>"), "{html}");
        assert!(
            html.contains("start at 0.0 s, new RSS high at 2.0 s, end at 3.0 s"),
            "{html}"
        );
        assert!(html.contains("no 2.7 ints"), "{html}");
    }
}
