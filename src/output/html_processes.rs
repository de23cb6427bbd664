//! `--subprocesses` in the HTML report: each process of the tree (sampled or skipped, and
//! why), and their RSS over time stacked into the tree's total, as a static SVG chart drawn
//! here (the data needs no script: one series per process, on the sampler's clock).
use std::fmt::Write as _;
use std::time::Duration;

use crate::display::escape_markup;
use crate::subprocesses::ProcessReport;

const WIDTH: f64 = 900.0;
const HEIGHT: f64 = 220.0;

/// Fill colours of the stacked series, in turn.
const COLOURS: [&str; 8] = [
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#9c755f",
];

/// The section, or nothing for a recording of one process.
pub(crate) fn section(report: Option<&ProcessReport>) -> String {
    let Some(report) = report else {
        return String::new();
    };
    let mut html = String::from(
        "<section id=\"processes-section\">\n<h2>Processes of the tree: RSS stacked per process</h2>\n",
    );
    html += &chart(report);
    html += "<table id=\"processes\">\n<tr><th>pid</th><th>parent</th><th>command</th><th>sampled</th><th>samples</th><th>peak RSS</th><th>ended</th></tr>\n";
    for (i, p) in report.processes.iter().enumerate() {
        let what = match (&p.skipped, &p.python) {
            (Some(why), _) => format!("skipped: {why}"),
            (None, Some(v)) => format!("Python {v}"),
            (None, None) => "ended before its interpreter was found".into(),
        };
        let _ = writeln!(
            html,
            "<tr><td><span class=\"swatch\" style=\"background:{}\"></span>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            COLOURS[i % COLOURS.len()],
            p.pid,
            p.parent.map(|pp| pp.to_string()).unwrap_or_default(),
            escape_markup(&p.command),
            escape_markup(&what),
            p.samples,
            mib(p.peak_rss),
            p.ended.map(|at| format!("{:.2} s", at.as_secs_f64())).unwrap_or_default(),
        );
    }
    let _ = writeln!(
        html,
        "<tr class=\"total\"><td colspan=\"5\">the tree</td><td>{}</td><td></td></tr>\n</table>\n</section>",
        mib(report.peak_total_rss)
    );
    html
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1u64 << 20) as f64)
}

/// Stacked areas, one per process, over the times of the total's series.
fn chart(report: &ProcessReport) -> String {
    let times: Vec<Duration> = report.total_rss.iter().map(|&(at, _)| at).collect();
    let (Some(&first), Some(&last)) = (times.first(), times.last()) else {
        return "<p class=\"info\">No RSS readings.</p>\n".into();
    };
    let span = (last - first).as_secs_f64().max(1e-9);
    let top = report.peak_total_rss.max(1) as f64;
    let x = |at: Duration| (at - first).as_secs_f64() / span * WIDTH;
    let y = |bytes: u64| HEIGHT - bytes as f64 / top * HEIGHT;
    let mut below = vec![0u64; times.len()];
    let mut svg = format!(
        "<svg id=\"processes-chart\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" width=\"100%\" height=\"{HEIGHT}\" preserveAspectRatio=\"none\" role=\"img\">\n"
    );
    for (i, p) in report.processes.iter().enumerate() {
        // This process's reading at each time of the total (0 where it did not run).
        let mut own = vec![0u64; times.len()];
        let mut at = 0;
        for &(t, rss) in &p.rss {
            while at < times.len() && times[at] < t {
                at += 1;
            }
            if at < times.len() && times[at] == t {
                own[at] = rss;
            }
        }
        if own.iter().all(|&b| b == 0) {
            continue;
        }
        let mut points: Vec<String> = Vec::with_capacity(2 * times.len());
        for (k, &t) in times.iter().enumerate() {
            points.push(format!("{:.1},{:.1}", x(t), y(below[k] + own[k])));
        }
        for (k, &t) in times.iter().enumerate().rev() {
            points.push(format!("{:.1},{:.1}", x(t), y(below[k])));
        }
        let _ = writeln!(
            svg,
            "<polygon fill=\"{}\" fill-opacity=\"0.8\" points=\"{}\"><title>process {}</title></polygon>",
            COLOURS[i % COLOURS.len()],
            points.join(" "),
            p.pid
        );
        for (b, o) in below.iter_mut().zip(&own) {
            *b += o;
        }
    }
    let total: Vec<String> = report
        .total_rss
        .iter()
        .map(|&(t, b)| format!("{:.1},{:.1}", x(t), y(b)))
        .collect();
    let _ = writeln!(
        svg,
        "<polyline fill=\"none\" stroke=\"#000\" stroke-width=\"1.5\" points=\"{}\"><title>the tree's total</title></polyline>\n</svg>",
        total.join(" ")
    );
    svg + &format!(
        "<p class=\"info\">0 to {} over {:.1} s; the black line is the tree's total.</p>\n",
        mib(report.peak_total_rss),
        span
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::subprocesses::ProcessEntry;

    #[test]
    fn stacks_each_process_under_the_total() {
        let s = |ms: u64| Duration::from_millis(ms);
        let report = ProcessReport {
            processes: vec![
                ProcessEntry {
                    pid: 10,
                    command: "python <app>.py".into(),
                    python: Some("3.12.1".into()),
                    rss: vec![(s(0), 10 << 20), (s(100), 12 << 20)],
                    peak_rss: 12 << 20,
                    ..Default::default()
                },
                ProcessEntry {
                    pid: 11,
                    parent: Some(10),
                    command: "sleep 1".into(),
                    skipped: Some("not Python (/usr/bin/sleep)".into()),
                    rss: vec![(s(100), 1 << 20)],
                    peak_rss: 1 << 20,
                    ..Default::default()
                },
            ],
            total_rss: vec![(s(0), 10 << 20), (s(100), 13 << 20)],
            peak_total_rss: 13 << 20,
        };
        let html = section(Some(&report));
        assert_eq!(html.matches("<polygon").count(), 2);
        assert!(html.contains("<title>process 11</title>"));
        assert!(html.contains("python &lt;app&gt;.py"), "escaped: {html}");
        assert!(html.contains("skipped: not Python (/usr/bin/sleep)"));
        assert!(html.contains("<td>13.0 MiB</td>"));
        assert_eq!(section(None), "");
    }
}
