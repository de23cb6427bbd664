//! Whole screens rendered from fixed data into ratatui's `TestBackend`, compared with golden
//! files under tests/fixtures/top/. `PYPROBE_BLESS=1 cargo test --lib top` rewrites them.
use std::path::PathBuf;
use std::time::Duration;

use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::Terminal;

use super::process_list::{Current, ProcessRow, ProcessSnapshot};
use super::render::{draw_pid, PidModel};
use super::render_list::{draw_list, ListModel, ListSort};
use super::stats::{Aggregation, RowOptions, SortColumn, Stats};
use crate::memory::MemoryDetails;
use crate::stack::{Frame, ThreadStack};

const MIB: u64 = 1 << 20;

/// The text of a buffer, one line per row, trailing spaces trimmed.
fn text(buffer: &Buffer) -> String {
    let area = buffer.area;
    let mut out = String::new();
    for y in 0..area.height {
        let mut line = String::new();
        for x in 0..area.width {
            line.push_str(buffer[(x, y)].symbol());
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn check(name: &str, actual: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/top")
        .join(format!("{name}.txt"));
    if std::env::var_os("PYPROBE_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run with PYPROBE_BLESS=1 to create it. Rendered:\n{actual}",
            path.display()
        )
    });
    if expected != actual {
        let diff: Vec<String> = expected
            .lines()
            .zip(actual.lines())
            .enumerate()
            .filter(|(_, (e, a))| e != a)
            .map(|(i, (e, a))| format!("line {}:\n  expected |{e}|\n  actual   |{a}|", i + 1))
            .collect();
        panic!(
            "{} differs (PYPROBE_BLESS=1 to accept):\n{}\nrendered:\n{actual}",
            path.display(),
            diff.join("\n")
        );
    }
}

fn frame(name: &str, file: &str, line: u32) -> Frame {
    Frame {
        name: name.into(),
        filename: file.into(),
        line,
    }
}

/// A fixed workload: the main thread parses records (and sometimes encodes JSON from the
/// standard library), fills a cache that makes RSS grow, and a worker thread uploads.
fn workload() -> Stats {
    let app = "/srv/app/worker.py";
    let json = "/usr/lib/python3.12/json/encoder.py";
    let mut stats = Stats::new(100.0, false);
    let module = frame("<module>", app, 88);
    let main = |line| frame("main", app, line);
    let mut rss = 180 * MIB;
    for i in 0..1000u64 {
        let at = Duration::from_millis(i * 10);
        let main_frames = match i % 10 {
            0..=4 => vec![
                frame("parse_record", app, 14),
                frame("checksum", app, 21),
                main(60),
                module.clone(),
            ],
            5 | 6 => vec![
                frame("parse_record", app, 15),
                frame("checksum", app, 21),
                main(60),
                module.clone(),
            ],
            7 => vec![
                frame("iterencode", json, 261),
                frame("encode", json, 200),
                frame("export", app, 40),
                main(62),
                module.clone(),
            ],
            _ => {
                rss += 64 * 1024;
                vec![frame("fill_cache", app, 33), main(61), module.clone()]
            }
        };
        let stacks = vec![
            ThreadStack {
                thread_id: 0x7f00_0000_1000,
                os_tid: Some(4242),
                name: Some("MainThread".into()),
                active: true,
                holds_gil: i % 4 != 0,
                frames: main_frames.into(),
            },
            ThreadStack {
                thread_id: 0x7f00_0000_2000,
                os_tid: Some(4250),
                name: Some("uploader".into()),
                active: i % 4 == 0,
                holds_gil: i % 4 == 0,
                frames: vec![
                    frame("send_chunk", "/srv/app/upload.py", 71),
                    frame("run", "/usr/lib/python3.12/threading.py", 1010),
                ]
                .into(),
            },
        ];
        if i % 97 == 13 {
            stats.add_error(at, Some(rss));
        } else {
            stats.add_sample(at, &stacks, Some(rss));
        }
        if i % 20 == 0 {
            stats.add_details(MemoryDetails {
                rss_anon: rss - 20 * MIB,
                rss_file: 20 * MIB,
                mem_available: Some(20 << 30),
                mem_total: Some(31 << 30),
                ..Default::default()
            });
        }
    }
    stats
}

fn render_pid(
    w: u16,
    h: u16,
    stats: &Stats,
    opts: RowOptions,
    edit: impl Fn(&mut PidModel),
) -> String {
    let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
    let mut model = PidModel {
        pid: 4242,
        command: "python3.12 /srv/app/worker.py --queue exports",
        version: "3.12.1",
        stats,
        opts,
        paused: false,
        ended: None,
        help: false,
        from_list: false,
        heap: None,
    };
    edit(&mut model);
    terminal.draw(|f| draw_pid(f, &model)).unwrap();
    text(terminal.backend().buffer())
}

#[test]
fn pid_view_with_the_heap_census() {
    use crate::heap::during::{test_snapshot, Moment};
    use crate::top::heap_panel::HeapPanel;
    let stats = workload();
    let mut census = test_snapshot(
        Moment::Asked,
        2.0,
        300 << 20,
        &[
            ("dict", 120_000, 40 << 20),
            ("app.models.Order", 100_000, 12 << 20),
            ("str", 250_000, 11 << 20),
            ("bytes\u{1b}[31m", 3, 1 << 20),
        ],
    );
    census.totals.arenas = 40;
    census.totals.arena_bytes = 40 << 20;
    census.totals.arena_free_bytes = 3 << 20;
    census.totals.large_object_bytes = 20 << 20;
    let panel = HeapPanel {
        latest: Some(census),
        age: Some(4.0),
        failure: None,
        busy: false,
    };
    let screen = render_pid(100, 24, &stats, RowOptions::default(), |m| {
        m.heap = Some(panel.clone())
    });
    check("pid_100x24_heap", &screen);
    // No escape sequence of a type name reaches the terminal.
    assert!(!screen.contains('\u{1b}'), "{screen}");
    let waiting = HeapPanel {
        latest: None,
        age: None,
        failure: Some("no heap census: the target exited".into()),
        busy: false,
    };
    let screen = render_pid(100, 24, &stats, RowOptions::default(), |m| {
        m.heap = Some(waiting.clone())
    });
    assert!(
        screen.contains("no heap census: the target exited"),
        "{screen}"
    );
}

#[test]
fn pid_view_80x24() {
    let stats = workload();
    check(
        "pid_80x24",
        &render_pid(80, 24, &stats, RowOptions::default(), |_| {}),
    );
}

#[test]
fn pid_view_wide_by_line_sorted_by_growth() {
    let stats = workload();
    let opts = RowOptions {
        aggregation: Aggregation::Lines,
        sort: SortColumn::OwnGrowth,
        thread: None,
    };
    check(
        "pid_140x32_lines",
        &render_pid(140, 32, &stats, opts, |_| {}),
    );
}

#[test]
fn pid_view_one_thread_paused() {
    let stats = workload();
    let opts = RowOptions {
        thread: Some(0x7f00_0000_2000),
        ..Default::default()
    };
    check(
        "pid_80x24_thread_paused",
        &render_pid(80, 24, &stats, opts, |m| m.paused = true),
    );
}

#[test]
fn pid_view_exited_and_help() {
    let stats = workload();
    check(
        "pid_80x24_exited",
        &render_pid(80, 24, &stats, RowOptions::default(), |m| {
            m.ended = Some("process 4242 exited");
            m.from_list = true;
        }),
    );
    check(
        "pid_80x24_help",
        &render_pid(80, 24, &stats, RowOptions::default(), |m| m.help = true),
    );
}

#[test]
fn pid_view_before_any_sample() {
    let stats = Stats::new(100.0, false);
    check(
        "pid_80x24_waiting",
        &render_pid(80, 24, &stats, RowOptions::default(), |_| {}),
    );
}

fn snapshot() -> ProcessSnapshot {
    let row =
        |pid, version: &str, command: &str, cpu, rss_mib: u64, grow: u64, current| ProcessRow {
            pid,
            // Pids 4243-4244 are workers of 4242: one tree.
            ppid: Some(if (4243..=4244).contains(&pid) {
                4242
            } else {
                1
            }),
            tree: Default::default(),
            version: version.into(),
            command: command.into(),
            cpu,
            rss: rss_mib * MIB,
            trend: (0..16)
                .map(|i| (rss_mib - grow * (15 - i) / 15) * MIB)
                .collect(),
            current,
        };
    let function = |name: &str, file: &str, line, idle| Current::Function {
        name: name.into(),
        filename: file.into(),
        line,
        idle,
    };
    ProcessSnapshot {
        rows: vec![
            row(
                4242,
                "3.12.1",
                "python3.12 /srv/app/worker.py --queue exports",
                99.2,
                245,
                40,
                function("parse_record", "/srv/app/worker.py", 14, false),
            ),
            row(
                977,
                "3.11.2",
                "python3.11 -m http.server 8000",
                0.0,
                21,
                0,
                function("select", "/usr/lib/python3.11/selectors.py", 415, true),
            ),
            row(
                31337,
                "3.13",
                "uwsgi --ini /etc/uwsgi/app.ini",
                12.5,
                1536,
                0,
                Current::Unavailable("no access: run as root".into()),
            ),
            row(5000, "3.12", "python3.12", 0.0, 9, 0, Current::Pending),
            row(
                4243,
                "3.12.1",
                "python3.12 -c from multiprocessing.spawn import spawn_main",
                97.0,
                180,
                30,
                function("parse_record", "/srv/app/worker.py", 14, false),
            ),
            row(
                4244,
                "3.12.1",
                "python3.12 -c from multiprocessing.spawn import spawn_main",
                40.0,
                120,
                0,
                function("wait", "/usr/lib/python3.12/threading.py", 355, true),
            ),
        ],
        mem_total: Some(31 << 30),
        mem_available: Some(20 << 30),
    }
}

fn render_list(w: u16, h: u16, selected: usize, help: bool) -> String {
    let snap = snapshot();
    let mut rows = snap.rows.clone();
    ListSort::Rss.sort(&mut rows);
    let model = ListModel {
        snapshot: Some(&snap),
        rows: &rows,
        selected,
        sort: ListSort::Rss,
        message: None,
        help,
    };
    let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
    terminal.draw(|f| draw_list(f, &model)).unwrap();
    text(terminal.backend().buffer())
}

#[test]
fn process_list_80x24_and_wide() {
    check("list_80x24", &render_list(80, 24, 1, false));
    check("list_150x30", &render_list(150, 30, 0, false));
    check("list_80x24_help", &render_list(80, 24, 0, true));
}

#[test]
fn process_list_while_scanning() {
    let model = ListModel {
        snapshot: None,
        rows: &[],
        selected: 0,
        sort: ListSort::default(),
        message: None,
        help: false,
    };
    let mut terminal = Terminal::new(TestBackend::new(80, 24)).unwrap();
    terminal.draw(|f| draw_list(f, &model)).unwrap();
    let screen = text(terminal.backend().buffer());
    assert!(screen.contains("looking for Python processes…"), "{screen}");
}

#[test]
fn tiny_terminals_do_not_panic() {
    let stats = workload();
    for (w, h) in [(1, 1), (10, 3), (20, 6), (40, 10)] {
        render_pid(w, h, &stats, RowOptions::default(), |m| m.help = true);
        render_list(w, h, 0, true);
    }
}
