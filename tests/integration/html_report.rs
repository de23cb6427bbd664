//! `--format html` in a real browser. A real interpreter runs grow_and_burn.py (grow() only
//! grows memory, burn() only burns CPU); pyprobe records it into an HTML report, and headless
//! Debian chromium loads the report:
//! - the whole recording (`--dump-dom`): the timeline has its RSS line, peak marker and label,
//!   the anon/file split and the out-of-memory label; both flame graphs have frames; the CPU
//!   graph's widest function is burn, the RSS-growth graph's is grow;
//! - a sub-range through the address fragment `#range=T0-T1`: both flame graphs re-draw, and
//!   their totals equal the sum of the embedded timeline buckets that meet the range, less than
//!   the whole;
//! - a drag across the timeline and a click on a frame, driven by synthetic mouse events: the
//!   drag selects a range (and writes it to the address), the click zooms the frame to the full
//!   width;
//! - a screenshot, to /tmp/pyprobe-html-report.png, for a person to look at.
//!
//! Needs `/usr/bin/chromium` (`apt-get install chromium`; .ci/run installs it).
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::{interpreters, run_pyprobe_within, Interpreter, Target};

const CHROMIUM: &str = "/usr/bin/chromium";
const SCREENSHOT: &str = "/tmp/pyprobe-html-report.png";
const BROWSER_TIMEOUT: Duration = Duration::from_secs(90);
const RECORD_TIMEOUT: Duration = Duration::from_secs(60);
/// The interpreters this runs on: the per-version stack walking is tested elsewhere.
const LABELS: [&str; 2] = ["pyenv-3.12.1", "debian-3.14"];
/// The flame graphs' width in SVG units (report.js `FLAME_WIDTH`).
const FLAME_WIDTH: f64 = 1200.0;

fn chromium() -> &'static Path {
    let path = Path::new(CHROMIUM);
    assert!(
        path.is_file(),
        "{CHROMIUM} is missing: the HTML report is tested in Debian's chromium. Install it with \
         `apt-get update && apt-get install -y chromium` (.ci/run does this)"
    );
    path
}

/// Run headless chromium on `url` with `extra` flags; its stdout.
pub(crate) fn run_chromium(url: &str, extra: &[&str]) -> Result<String, String> {
    let profile_dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let user_data = format!("--user-data-dir={}", profile_dir.path().display());
    let mut child = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--virtual-time-budget=5000",
            &user_data,
        ])
        .args(extra)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("starting {CHROMIUM}: {e}"))?;
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + BROWSER_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => break None,
        }
    };
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    match status {
        Some(s) if s.success() => Ok(stdout),
        Some(s) => Err(format!("chromium {url} exited {s}: {stderr}")),
        None => Err(format!(
            "chromium {url} still running after {BROWSER_TIMEOUT:?}: {stderr}"
        )),
    }
}

/// The rendered DOM of `url`.
fn dump_dom(url: &str) -> Result<String, String> {
    let dom = run_chromium(url, &["--dump-dom"])?;
    if !dom.contains("data-rendered=\"1\"") || dom.contains("id=\"script-error\"") {
        return Err(format!(
            "the report's script did not finish: {}",
            excerpt(&dom, "<body")
        ));
    }
    Ok(dom)
}

fn excerpt(text: &str, from: &str) -> String {
    let start = text.find(from).unwrap_or(0);
    text[start..].chars().take(1500).collect()
}

// ---- a small parser for the serialized DOM --------------------------------------------------

/// A start tag: its name and attributes (entities decoded).
#[derive(Debug, Clone)]
struct Tag {
    name: String,
    attrs: HashMap<String, String>,
}

impl Tag {
    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.get(name).map(String::as_str)
    }

    fn num(&self, name: &str) -> Option<f64> {
        self.attr(name)?.parse().ok()
    }
}

fn decode_entities(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&nbsp;", "\u{a0}")
        .replace("&amp;", "&")
}

/// The start tag at `html[start..]` (which begins with `<`), and the offset just after it.
fn parse_tag(html: &str, start: usize) -> Option<(Tag, usize)> {
    let b = html.as_bytes();
    let mut i = start + 1;
    let name_start = i;
    while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'>' && b[i] != b'/' {
        i += 1;
    }
    let name = html[name_start..i].to_ascii_lowercase();
    let mut attrs = HashMap::new();
    loop {
        while i < b.len() && (b[i].is_ascii_whitespace() || b[i] == b'/') {
            i += 1;
        }
        if i >= b.len() {
            return None;
        }
        if b[i] == b'>' {
            return Some((Tag { name, attrs }, i + 1));
        }
        let n0 = i;
        while i < b.len() && !b[i].is_ascii_whitespace() && !matches!(b[i], b'=' | b'>' | b'/') {
            i += 1;
        }
        let attr = html[n0..i].to_ascii_lowercase();
        if i < b.len() && b[i] == b'=' {
            i += 1;
            let quote = b[i];
            if quote == b'"' || quote == b'\'' {
                let v0 = i + 1;
                let len = html[v0..].find(quote as char)?;
                attrs.insert(attr, decode_entities(&html[v0..v0 + len]));
                i = v0 + len + 1;
            } else {
                let v0 = i;
                while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'>' {
                    i += 1;
                }
                attrs.insert(attr, decode_entities(&html[v0..i]));
            }
        } else {
            attrs.insert(attr, String::new());
        }
    }
}

/// Every start tag in `html`, in document order.
fn tags(html: &str) -> Vec<Tag> {
    let mut out = Vec::new();
    let mut pos = 0;
    while let Some(off) = html[pos..].find('<') {
        let start = pos + off;
        let next = html.as_bytes().get(start + 1).copied().unwrap_or(b' ');
        if next.is_ascii_alphabetic() {
            if let Some((tag, end)) = parse_tag(html, start) {
                out.push(tag);
                pos = end;
                continue;
            }
        }
        pos = start + 1;
    }
    out
}

/// The text of the element `<NAME … id="ID" …>…</NAME>` (no nesting of the same name inside).
fn element<'a>(dom: &'a str, name: &str, id: &str) -> Result<&'a str, String> {
    let open = format!("<{name}");
    let mut pos = 0;
    while let Some(off) = dom[pos..].find(&open) {
        let start = pos + off;
        pos = start + open.len();
        let Some((tag, _)) = parse_tag(dom, start) else {
            continue;
        };
        if tag.name != name || tag.attr("id") != Some(id) {
            continue;
        }
        let close = format!("</{name}>");
        let len = dom[start..]
            .find(&close)
            .ok_or_else(|| format!("<{name} id={id:?}> is not closed"))?;
        return Ok(&dom[start..start + len + close.len()]);
    }
    Err(format!(
        "no <{name} id={id:?}> in the page: {}",
        excerpt(dom, "<main")
    ))
}

/// The text content of the element with `id` (tags stripped, entities decoded).
fn text_of(dom: &str, name: &str, id: &str) -> Result<String, String> {
    let e = element(dom, name, id)?;
    let mut out = String::new();
    let mut in_tag = false;
    for c in e.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    Ok(decode_entities(&out))
}

/// One drawn frame of a flame graph.
#[derive(Debug, Clone)]
struct DrawnFrame {
    label: String,
    value: f64,
    depth: u32,
    width: f64,
}

impl DrawnFrame {
    fn function(&self) -> &str {
        self.label.split(" (").next().unwrap_or(&self.label)
    }
}

/// A flame graph as drawn: the svg's attributes and its frames.
#[derive(Debug)]
struct Flame {
    svg: Tag,
    frames: Vec<DrawnFrame>,
}

impl Flame {
    fn total(&self) -> f64 {
        self.svg.num("data-total").unwrap_or(-1.0)
    }

    /// The function whose frames are widest in all, over frames other than the root and the
    /// module frame (the trunk every sample of the script goes through); and its width.
    fn widest_function(&self) -> Option<(String, f64)> {
        let mut widths: HashMap<&str, f64> = HashMap::new();
        for f in self
            .frames
            .iter()
            .filter(|f| f.depth > 0 && f.function() != "<module>")
        {
            *widths.entry(f.function()).or_default() += f.width;
        }
        widths
            .into_iter()
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(f, w)| (f.to_string(), w))
    }

    /// Sum of the values of the frames of `function` (the script does not recurse).
    fn value_of(&self, function: &str) -> f64 {
        self.frames
            .iter()
            .filter(|f| f.function() == function)
            .map(|f| f.value)
            .fold(0.0, |a, b| a + b)
    }
}

fn flame(dom: &str, id: &str) -> Result<Flame, String> {
    let svg_text = element(dom, "svg", id)?;
    let all = tags(svg_text);
    let svg = all[0].clone();
    let mut frames = Vec::new();
    for (i, t) in all.iter().enumerate() {
        if t.name != "g" || t.attr("class") != Some("frame") {
            continue;
        }
        let rect = all[i + 1..]
            .iter()
            .find(|t| t.name == "rect")
            .ok_or_else(|| format!("{id}: a frame without a rectangle"))?;
        frames.push(DrawnFrame {
            label: t.attr("data-label").unwrap_or_default().to_string(),
            value: t.num("data-value").unwrap_or(-1.0),
            depth: t.num("data-depth").unwrap_or(-1.0) as u32,
            width: rect.num("width").unwrap_or(-1.0),
        });
    }
    Ok(Flame { svg, frames })
}

// ---- the embedded data ----------------------------------------------------------------------

/// The report's JSON data, parsed back from the HTML file.
fn embedded_data(html: &str) -> Result<Value, String> {
    let open = "<script type=\"application/json\" id=\"pyprobe-data\">";
    let start = html.find(open).ok_or("no data element")? + open.len();
    let len = html[start..]
        .find("</script>")
        .ok_or("data element not closed")?;
    serde_json::from_str(&html[start..start + len]).map_err(|e| format!("data: {e}"))
}

/// (samples, rss_growth) summed over the buckets that meet [t0, t1].
fn range_totals(data: &Value, t0: f64, t1: f64) -> (u64, u64) {
    let width = data["timeline"]["width"].as_f64().unwrap();
    let mut totals = (0, 0);
    for (i, b) in data["timeline"]["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        let b0 = i as f64 * width;
        if !(b0 <= t1 && t0 < b0 + width) {
            continue;
        }
        for e in b["stacks"].as_array().unwrap() {
            totals.0 += e[1].as_u64().unwrap();
            totals.1 += e[2].as_u64().unwrap();
        }
    }
    totals
}

// ---- the checks -----------------------------------------------------------------------------

fn file_url(path: &Path) -> String {
    format!("file://{}", path.display())
}

fn record_report(py: &Interpreter, dir: &Path) -> Result<PathBuf, String> {
    let (target, _) = Target::spawn(&py.path, "grow_and_burn.py", &[]);
    let out = dir.join("report.html");
    let pid = target.pid().to_string();
    let args = [
        "record",
        "--pid",
        &pid,
        "-r",
        "100",
        "-d",
        "3",
        "-f",
        "html",
        "-o",
        out.to_str().unwrap(),
    ];
    let run = run_pyprobe_within(&args, RECORD_TIMEOUT)?;
    drop(target);
    if !run.status.success() {
        return Err(format!(
            "pyprobe {args:?} exit {:?}: {}",
            run.status, run.stderr
        ));
    }
    eprintln!("{}: {}", py.label, run.stderr.trim());
    Ok(out)
}

/// The whole recording: timeline and flame graphs drawn, burn hot on CPU, grow on memory.
fn check_whole(dom: &str, data: &Value) -> Result<(Flame, Flame), String> {
    let timeline = element(dom, "svg", "timeline")?;
    let t = tags(timeline);
    let find = |id: &str| t.iter().find(|t| t.attr("id") == Some(id));
    let line = find("rss-line").ok_or("the timeline has no RSS line")?;
    let d = line.attr("d").unwrap_or_default();
    if d.matches('L').count() < 10 {
        return Err(format!("the RSS line has too few points: {d:?}"));
    }
    let marker = find("peak-marker").ok_or("the timeline has no peak marker")?;
    if marker.name != "circle" {
        return Err(format!("the peak marker is a {}", marker.name));
    }
    for id in ["anon-area", "file-area", "limit-label"] {
        find(id).ok_or_else(|| format!("the timeline has no {id}"))?;
    }
    let peak_label = text_of(timeline, "text", "peak-label")?;
    if !(peak_label.starts_with("peak ")
        && peak_label.contains(" MiB at ")
        && peak_label.contains(": "))
    {
        return Err(format!("peak label {peak_label:?}"));
    }
    let limit_label = text_of(timeline, "text", "limit-label")?;
    if !limit_label.contains("out of memory at") {
        return Err(format!("limit label {limit_label:?}"));
    }

    let cpu = flame(dom, "flame-cpu")?;
    let rss = flame(dom, "flame-rss")?;
    for (name, f, total) in [
        ("CPU", &cpu, data["totals"]["samples"].as_u64().unwrap()),
        (
            "RSS growth",
            &rss,
            data["totals"]["rss_growth"].as_u64().unwrap(),
        ),
    ] {
        if f.frames.len() < 3 || f.svg.attr("data-nodes") != Some(&f.frames.len().to_string()) {
            return Err(format!(
                "the {name} flame graph drew {} frames ({:?})",
                f.frames.len(),
                f.svg.attrs
            ));
        }
        if total == 0 || f.total() != total as f64 || f.svg.attr("data-range") != Some("all") {
            return Err(format!(
                "the {name} flame graph's total {:?} != {total}",
                f.svg.attrs
            ));
        }
        let root = &f.frames[0];
        if root.depth != 0 || (root.width - FLAME_WIDTH).abs() > 0.5 {
            return Err(format!("the {name} root frame: {root:?}"));
        }
    }
    let (cpu_top, _) = cpu.widest_function().ok_or("no CPU frames")?;
    let (rss_top, _) = rss.widest_function().ok_or("no RSS frames")?;
    eprintln!(
        "html: CPU burn {:.0}% grow {:.0}%; RSS growth grow {:.0}% burn {:.0}%",
        100.0 * cpu.value_of("burn") / cpu.total(),
        100.0 * cpu.value_of("grow") / cpu.total(),
        100.0 * rss.value_of("grow") / rss.total(),
        100.0 * rss.value_of("burn") / rss.total(),
    );
    if cpu_top != "burn" {
        return Err(format!(
            "the CPU flame graph's widest function is {cpu_top}, not burn: {:?}",
            cpu.frames
        ));
    }
    if rss_top != "grow" {
        return Err(format!(
            "the RSS flame graph's widest function is {rss_top}, not grow: {:?}",
            rss.frames
        ));
    }
    if !peak_label.contains("grow (") {
        // The peak comes right after an allocation, while grow() waits.
        return Err(format!(
            "the peak label names no grow frame: {peak_label:?}"
        ));
    }
    Ok((cpu, rss))
}

/// A sub-range from the address: both graphs re-drawn with the buckets' totals for it.
fn check_range(
    dom: &str,
    data: &Value,
    whole: &(Flame, Flame),
    t0: f64,
    t1: f64,
) -> Result<(), String> {
    let (samples, growth) = range_totals(data, t0, t1);
    let cpu = flame(dom, "flame-cpu")?;
    let rss = flame(dom, "flame-rss")?;
    let range = format!("{t0}-{t1}");
    for (name, f, expected, all) in [
        ("CPU", &cpu, samples, &whole.0),
        ("RSS growth", &rss, growth, &whole.1),
    ] {
        if f.svg.attr("data-range") != Some(range.as_str()) {
            return Err(format!(
                "the {name} flame graph shows range {:?}, not {range}",
                f.svg.attr("data-range")
            ));
        }
        if f.total() != expected as f64 {
            return Err(format!(
                "the {name} flame graph's total for {range} is {}, the buckets say {expected}",
                f.total()
            ));
        }
        if !(f.total() > 0.0 && f.total() < all.total()) {
            return Err(format!(
                "the {name} total for {range} ({}) is not within (0, {})",
                f.total(),
                all.total()
            ));
        }
        if f.frames.len() < 2 {
            return Err(format!(
                "the {name} flame graph for {range} drew {} frames",
                f.frames.len()
            ));
        }
    }
    let toolbar = tags(element(dom, "div", "toolbar")?).remove(0);
    if toolbar.attr("data-range") != Some(range.as_str())
        || toolbar.attr("data-samples") != Some(samples.to_string().as_str())
    {
        return Err(format!("toolbar {:?}", toolbar.attrs));
    }
    let label = text_of(dom, "strong", "range-label")?;
    if !label.contains(&format!("{t0:.2} s")) {
        return Err(format!("range label {label:?}"));
    }
    let timeline = element(dom, "svg", "timeline")?;
    if !timeline.contains("id=\"selection\"") {
        return Err("the selected range is not shaded on the timeline".into());
    }
    Ok(())
}

/// Drives the page like a person: drags across the timeline from 25% to 50% of its width,
/// then clicks the widest depth-2 frame of the CPU graph.
const DRIVER: &str = r##"<script>
(function () {
  var area = document.querySelector("#timeline .drag-area");
  var box = area.getBoundingClientRect();
  var y = box.top + box.height / 2;
  function mouse(type, x) { return new MouseEvent(type, { bubbles: true, clientX: x, clientY: y, button: 0 }); }
  var x0 = box.left + box.width * 0.25, x1 = box.left + box.width * 0.5;
  area.dispatchEvent(mouse("mousedown", x0));
  window.dispatchEvent(mouse("mousemove", (x0 + x1) / 2));
  window.dispatchEvent(mouse("mouseup", x1));
  document.body.setAttribute("data-driver-hash", location.hash);
  var best = null;
  document.querySelectorAll("#flame-cpu g.frame").forEach(function (g) {
    if (g.getAttribute("data-depth") === "2" && (!best || +g.getAttribute("data-value") > +best.getAttribute("data-value"))) best = g;
  });
  if (best) {
    document.body.setAttribute("data-driver-zoomed", best.getAttribute("data-label"));
    best.dispatchEvent(new MouseEvent("click", { bubbles: true }));
  }
})();
</script>
</body>"##;

fn check_drag_and_zoom(report: &Path, data: &Value) -> Result<(), String> {
    let html = std::fs::read_to_string(report).map_err(|e| e.to_string())?;
    let driven = report.with_file_name("report-driven.html");
    std::fs::write(&driven, html.replacen("</body>", DRIVER, 1)).map_err(|e| e.to_string())?;
    let dom = dump_dom(&file_url(&driven))?;
    let body = tags(&dom)
        .into_iter()
        .find(|t| t.name == "body")
        .ok_or("no body")?;
    let hash = body.attr("data-driver-hash").unwrap_or_default();
    let toolbar = tags(element(&dom, "div", "toolbar")?).remove(0);
    let range = toolbar.attr("data-range").unwrap_or_default();
    if hash != format!("#range={range}") {
        return Err(format!(
            "after the drag the address says {hash:?}, the toolbar {range:?}"
        ));
    }
    let (t0, t1) = range
        .split_once('-')
        .and_then(|(a, b)| Some((a.parse::<f64>().ok()?, b.parse::<f64>().ok()?)))
        .ok_or_else(|| format!("the drag selected no range: {range:?}"))?;
    // The drag went from 25% to 50% of the plot, whose time axis starts at 0.
    let points = data["memory"]["points"].as_array().unwrap();
    let end = points.last().unwrap()[0]
        .as_f64()
        .unwrap()
        .max(data["duration"].as_f64().unwrap());
    if (t0 - 0.25 * end).abs() > 0.05 * end || (t1 - 0.5 * end).abs() > 0.05 * end {
        return Err(format!(
            "the drag over 25%–50% of {end:.2} s selected {t0}–{t1}"
        ));
    }
    let cpu = flame(&dom, "flame-cpu")?;
    let (samples, _) = range_totals(data, t0, t1);
    if cpu.total() != samples as f64 {
        return Err(format!(
            "after the drag the CPU total is {}, the buckets say {samples}",
            cpu.total()
        ));
    }
    let zoomed = body
        .attr("data-driver-zoomed")
        .ok_or("no depth-2 frame to click")?;
    let frame = cpu
        .frames
        .iter()
        .find(|f| f.label == zoomed)
        .ok_or_else(|| format!("the clicked frame {zoomed:?} is gone"))?;
    if (frame.width - FLAME_WIDTH).abs() > 0.5 {
        return Err(format!(
            "the clicked frame did not zoom to the full width: {frame:?}"
        ));
    }
    Ok(())
}

fn check_interpreter(py: &Interpreter, screenshot: bool) -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let report = record_report(py, dir.path())?;
    let html = std::fs::read_to_string(&report).map_err(|e| e.to_string())?;
    let data = embedded_data(&html)?;
    let url = file_url(&report);

    let whole =
        check_whole(&dump_dom(&url)?, &data).map_err(|e| format!("whole recording: {e}"))?;

    let duration = data["duration"].as_f64().unwrap();
    let t0 = (duration * 0.2 * 100.0).round() / 100.0;
    let t1 = (duration * 0.6 * 100.0).round() / 100.0;
    let ranged = format!("{url}#range={t0}-{t1}");
    check_range(&dump_dom(&ranged)?, &data, &whole, t0, t1)
        .map_err(|e| format!("#range={t0}-{t1}: {e}"))?;

    check_drag_and_zoom(&report, &data).map_err(|e| format!("drag and zoom: {e}"))?;

    if screenshot {
        let _ = std::fs::remove_file(SCREENSHOT);
        run_chromium(
            &ranged,
            &[
                &format!("--screenshot={SCREENSHOT}"),
                "--window-size=1400,1000",
            ],
        )?;
        let png = std::fs::read(SCREENSHOT).map_err(|e| format!("{SCREENSHOT}: {e}"))?;
        if !png.starts_with(b"\x89PNG") || png.len() < 20_000 {
            return Err(format!(
                "{SCREENSHOT} is not a screenshot ({} bytes)",
                png.len()
            ));
        }
        println!("html report screenshot ({}): {SCREENSHOT}", py.label);
        eprintln!("html report screenshot ({}): {SCREENSHOT}", py.label);
    }
    Ok(())
}

#[test]
fn html_report_in_chromium() {
    chromium();
    let mut failures = Vec::new();
    for (i, label) in LABELS.iter().enumerate() {
        let py = interpreters()
            .iter()
            .find(|p| p.label == *label)
            .unwrap_or_else(|| panic!("no interpreter {label}"));
        if let Err(e) = check_interpreter(py, i == 0) {
            failures.push(format!("{label}: {e}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn dom_parser_reads_attributes() {
    let html = r#"<svg id="s"><g class="frame" data-label="<module> (a.py:1)" data-value="3"><rect x="0" width="12.5"></rect></g><g class="frame" data-label="f &amp; &quot;g&quot; (b.py:2)" data-value="1"><title>x</title><rect width='4'/></g></svg>"#;
    let f = flame(html, "s").unwrap();
    assert_eq!(f.frames.len(), 2);
    assert_eq!(f.frames[0].label, "<module> (a.py:1)");
    assert_eq!(f.frames[0].width, 12.5);
    assert_eq!(f.frames[1].label, "f & \"g\" (b.py:2)");
    assert_eq!(f.frames[1].function(), "f & \"g\"");
    assert_eq!(f.frames[1].width, 4.0);
}
