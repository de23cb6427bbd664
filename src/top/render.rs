//! Drawing the two screens (one process; every Python process) from plain data, so that tests
//! can render fixed data into ratatui's `TestBackend` and compare whole screens.
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Clear, Paragraph, Row, Table, Wrap};
use ratatui::Frame;

use super::format::{fit_command, function_label, percent, sparkline, truncate, width};
use super::heap_panel::{draw_heap, HeapPanel};
use super::stats::{Aggregation, RowOptions, Stats};
use crate::display::{bytes_short, duration_short};

/// Terminals at least this wide get the wide layout (longer column names, more detail).
pub(crate) const WIDE: u16 = 110;

pub(super) fn bold() -> Style {
    Style::new().add_modifier(Modifier::BOLD)
}

pub(super) fn dim() -> Style {
    Style::new().add_modifier(Modifier::DIM)
}

pub(super) fn title_style() -> Style {
    Style::new().fg(Color::Black).bg(Color::Cyan)
}

pub(super) fn label(text: &str) -> Span<'static> {
    Span::styled(text.to_string(), dim())
}

pub(super) fn value(text: String) -> Span<'static> {
    Span::styled(text, bold())
}

/// Everything the single-process screen shows.
pub(crate) struct PidModel<'a> {
    /// Target pid.
    pub pid: i32,
    /// Its command line.
    pub command: &'a str,
    /// Python version, e.g. "3.12.1".
    pub version: &'a str,
    /// The counts.
    pub stats: &'a Stats,
    /// Table options.
    pub opts: RowOptions,
    /// Display frozen.
    pub paused: bool,
    /// Set when sampling ended (the target exited): the message to show.
    pub ended: Option<&'a str>,
    /// Help shown.
    pub help: bool,
    /// Opened from the process list (Esc goes back).
    pub from_list: bool,
    /// The heap view, when shown (in place of the function table).
    pub heap: Option<HeapPanel>,
}

/// A bar across the top: `left` on the left, `right` on the right.
pub(super) fn title_bar(frame: &mut Frame, area: Rect, left: &str, right: Option<(&str, Style)>) {
    let right_w = right.map_or(0, |(r, _)| width(r) + 1);
    let left = truncate(left, (area.width as usize).saturating_sub(right_w));
    let pad = (area.width as usize).saturating_sub(width(&left) + right_w.saturating_sub(1));
    let mut spans = vec![Span::raw(left), Span::raw(" ".repeat(pad))];
    if let Some((r, style)) = right {
        spans.push(Span::styled(r.to_string(), style));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)).style(title_style()), area);
}

/// The single-process screen.
pub(crate) fn draw_pid(frame: &mut Frame, m: &PidModel) {
    let area = frame.area();
    let wide = area.width >= WIDE;
    let [top, counts, memory, status, table, keys] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Fill(1),
        Constraint::Length(1),
    ])
    .areas(area);
    let s = m.stats;
    let elapsed = format!(" {} ", duration_short(s.elapsed().as_secs_f64()));
    let state = if m.ended.is_some() {
        (" EXITED ", Style::new().fg(Color::White).bg(Color::Red))
    } else if m.paused {
        (" PAUSED ", Style::new().fg(Color::Black).bg(Color::Yellow))
    } else {
        (elapsed.as_str(), title_style())
    };
    let head = format!(" pyprobe top │ pid {} │ Python {} │ ", m.pid, m.version);
    let room = (top.width as usize).saturating_sub(width(&head) + width(state.0) + 1);
    title_bar(
        frame,
        top,
        &format!("{head}{}", fit_command(m.command, room)),
        Some(state),
    );

    let act = s.activity(m.opts.thread);
    let pct = |n: u64| {
        if act.seen == 0 {
            "-".to_string()
        } else {
            percent(100.0 * n as f64 / act.seen as f64)
        }
    };
    let rate = s.rate();
    let counts_line = Line::from(vec![
        label("Samples "),
        value(s.samples().to_string()),
        label(" at "),
        value(if rate >= 99.95 {
            format!("{rate:.0}/s")
        } else {
            format!("{rate:.1}/s")
        }),
        label("  errors "),
        value(percent(100.0 * s.error_fraction())),
        label("  threads "),
        value(s.threads_now.to_string()),
        label("  GIL "),
        value(pct(act.gil)),
        label("  active "),
        value(pct(act.active)),
    ]);
    frame.render_widget(Paragraph::new(counts_line), counts);
    draw_memory_line(frame, memory, s, wide);
    draw_status(frame, status, m);
    match &m.heap {
        Some(panel) => draw_heap(frame, table, panel),
        None => draw_function_table(frame, table, m, wide),
    }

    let keys_line = if let Some(msg) = m.ended {
        let after = if m.from_list {
            "press any key to return to the list"
        } else {
            "press any key to quit"
        };
        Line::from(Span::styled(
            format!(" {msg} — {after} "),
            Style::new()
                .fg(Color::White)
                .bg(Color::Red)
                .add_modifier(Modifier::BOLD),
        ))
    } else {
        let mut k = Vec::new();
        if m.from_list {
            k.push(("Esc", "list"));
        }
        k.extend([
            ("q", "quit"),
            ("?", "help"),
            ("1-6/←→", "sort"),
            ("L", if wide { "lines/functions" } else { "lines" }),
            ("T", "thread"),
            ("Space", if m.paused { "resume" } else { "pause" }),
            ("R", "reset"),
            (
                "o",
                if m.heap.is_some() {
                    "functions"
                } else {
                    "heap"
                },
            ),
        ]);
        key_hints(&k)
    };
    frame.render_widget(Paragraph::new(keys_line), keys);
    if m.help {
        draw_help(frame, area, &pid_help(m.from_list));
    }
}

pub(super) fn key_hints(keys: &[(&str, &str)]) -> Line<'static> {
    let mut spans = Vec::new();
    for (i, (k, what)) in keys.iter().enumerate() {
        spans.push(Span::raw(if i == 0 { " " } else { "  " }));
        spans.push(Span::styled(k.to_string(), bold().fg(Color::Cyan)));
        spans.push(Span::raw(format!(" {what}")));
    }
    Line::from(spans)
}

fn draw_memory_line(frame: &mut Frame, area: Rect, s: &Stats, wide: bool) {
    let mut left = vec![label("RSS ")];
    match s.rss.now {
        Some(now) => {
            left.push(value(bytes_short(now)));
            left.push(label("  peak "));
            left.push(value(bytes_short(s.rss.peak.unwrap_or(now))));
        }
        None => left.push(value("unknown".into())),
    }
    left.push(Span::raw("  "));
    let mut right = Vec::new();
    if let Some(d) = &s.details {
        if wide {
            right.push(label("  anon "));
            right.push(value(bytes_short(d.rss_anon)));
            right.push(label(" file "));
            right.push(value(bytes_short(d.rss_file)));
            if d.swap > 0 {
                right.push(label(" swap "));
                right.push(value(bytes_short(d.swap)));
            }
        }
        if let Some(h) = d.headroom() {
            right.push(label("  headroom "));
            right.push(value(bytes_short(h)));
            if wide {
                if let Some(c) = d
                    .cgroup
                    .filter(|c| Some(c.limit.saturating_sub(c.usage)) == Some(h))
                {
                    right.push(label(
                        format!(" (cgroup limit {})", bytes_short(c.limit)).as_str(),
                    ));
                } else if let Some(total) = d.mem_total {
                    right.push(label(format!(" of {} RAM", bytes_short(total)).as_str()));
                }
            }
        }
    }
    if wide {
        // Which rule the RSS+ columns follow (see profile::attribution).
        right.push(label("  growth by "));
        right.push(value(s.attribution_name().into()));
    }
    let used: usize = left.iter().chain(&right).map(|s| s.width()).sum();
    let room = (area.width as usize).saturating_sub(used);
    let spark = sparkline(&s.rss.recent(room));
    let rising = s.rss.recent(room);
    let color = match (rising.first(), rising.last()) {
        (Some(a), Some(b)) if b > a => Color::Yellow,
        _ => Color::Green,
    };
    let pad = room.saturating_sub(width(&spark));
    let mut spans = left;
    spans.push(Span::styled(spark, Style::new().fg(color)));
    spans.push(Span::raw(" ".repeat(pad)));
    spans.extend(right);
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn draw_status(frame: &mut Frame, area: Rect, m: &PidModel) {
    let s = m.stats;
    let thread = match m.opts.thread {
        None => format!("all {} threads", s.threads().len()),
        Some(id) => s
            .threads()
            .iter()
            .find(|t| t.thread_id == id)
            .map(|t| format!("thread {}", t.label()))
            .unwrap_or_else(|| format!("thread {id:#x}")),
    };
    let mut spans = vec![
        label(" sorted by "),
        value(m.opts.sort.label().to_string()),
        label(" · by "),
        value(
            match m.opts.aggregation {
                Aggregation::Functions => "function",
                Aggregation::Lines => "line",
            }
            .to_string(),
        ),
        label(" · "),
        value(thread),
    ];
    spans.push(label(if s.include_idle() {
        " · idle threads counted"
    } else {
        " · idle threads hidden"
    }));
    frame.render_widget(
        Paragraph::new(Line::from(spans)).style(Style::new().add_modifier(Modifier::REVERSED)),
        area,
    );
}

fn draw_function_table(frame: &mut Frame, area: Rect, m: &PidModel, wide: bool) {
    let s = m.stats;
    let (names, widths): ([&str; 6], [u16; 6]) = if wide {
        (
            [
                "%Own",
                "%Total",
                "OwnTime",
                "TotalTime",
                "RSS+Own",
                "RSS+Total",
            ],
            [6, 7, 9, 9, 8, 9],
        )
    } else {
        (
            ["%Own", "%Total", "OwnTime", "TotTime", "RSS+", "RSS+Tot"],
            [5, 6, 7, 7, 6, 7],
        )
    };
    let sorted = m.opts.sort.index();
    let fixed: u16 = widths.iter().sum::<u16>() + widths.len() as u16;
    let func_w = area.width.saturating_sub(fixed) as usize;
    let mut header: Vec<Cell> = names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let style = if i == sorted {
                bold().add_modifier(Modifier::UNDERLINED).fg(Color::Cyan)
            } else {
                bold()
            };
            Cell::from(Line::from(Span::styled(n.to_string(), style)).alignment(Alignment::Right))
        })
        .collect();
    header.push(Cell::from(Span::styled(
        if m.opts.aggregation == Aggregation::Lines {
            "Function (file:line)"
        } else {
            "Function (file:busiest line)"
        },
        bold(),
    )));
    let rows = s.rows(&m.opts);
    let per = s.time_per_sample().as_secs_f64();
    let visible = area.height.saturating_sub(1) as usize;
    let body: Vec<Row> = rows
        .iter()
        .take(visible)
        .map(|r| {
            let growth = |b: u64| {
                if b == 0 {
                    "-".to_string()
                } else {
                    bytes_short(b)
                }
            };
            let values = [
                percent(s.percent(r.own)),
                percent(s.percent(r.total)),
                duration_short(r.own as f64 * per),
                duration_short(r.total as f64 * per),
                growth(r.own_growth),
                growth(r.total_growth),
            ];
            let mut cells: Vec<Cell> = values
                .into_iter()
                .enumerate()
                .map(|(i, v)| {
                    let mut style = Style::new();
                    if i == sorted {
                        style = style.add_modifier(Modifier::BOLD);
                    }
                    if i >= 4 && v != "-" {
                        style = style.fg(Color::Yellow);
                    }
                    Cell::from(Line::from(Span::styled(v, style)).alignment(Alignment::Right))
                })
                .collect();
            let (name, place) = function_label(&r.name, &r.filename, r.line, func_w);
            cells.push(Cell::from(Line::from(vec![
                Span::styled(name, bold()),
                Span::styled(place, dim()),
            ])));
            Row::new(cells)
        })
        .collect();
    let mut constraints: Vec<Constraint> = widths.iter().map(|&w| Constraint::Length(w)).collect();
    constraints.push(Constraint::Fill(1));
    let empty = body.is_empty();
    frame.render_widget(
        Table::new(body, constraints)
            .header(Row::new(header))
            .column_spacing(1),
        area,
    );
    if empty && area.height > 2 {
        let msg = if s.samples() == 0 {
            "waiting for samples…".to_string()
        } else if m.opts.thread.is_some() {
            "no samples of this thread (T: next thread)".to_string()
        } else if !s.include_idle() {
            "no thread was running (idle threads are hidden: I shows them)".to_string()
        } else {
            "no Python frames sampled".to_string()
        };
        let at = Rect {
            y: area.y + 2,
            height: 1,
            ..area
        };
        frame.render_widget(
            Paragraph::new(Span::styled(msg, dim())).alignment(Alignment::Center),
            at,
        );
    }
}

/// A line of a help screen: the keys, then what they do.
pub(super) fn help_key(keys: &str, what: &str) -> Line<'static> {
    Line::from(vec![
        Span::styled(format!(" {keys:<14}"), bold().fg(Color::Cyan)),
        Span::raw(what.to_string()),
    ])
}

fn pid_help(from_list: bool) -> Vec<Line<'static>> {
    let key = help_key;
    let mut lines = vec![
        key(
            "1-6  ← →",
            "sort: %Own %Total OwnTime TotalTime RSS+Own RSS+Total",
        ),
        key("L", "one row per line / per function"),
        key("T", "next thread, then all threads"),
        key("Space  P", "pause the display (sampling goes on)"),
        key("R", "reset the counts"),
        key("I", "count idle threads too, or not (resets)"),
        key(
            "o",
            "heap census (objects by type) in place of the table, or back",
        ),
        key("? h", "show / hide this help"),
    ];
    if from_list {
        lines.push(key("Esc", "back to the process list"));
    }
    lines.extend([
        key("q  Ctrl-C", "quit"),
        Line::raw(""),
        Line::styled(
            " %Own: share of samples with the function innermost; %Total: with it anywhere on \
             the stack. RSS+: resident memory growth charged to the function: to the code whose \
             page faults grew it (or by per-thread fault counts where perf events are refused; \
             the status line says which). headroom: memory left before the system (or the \
             cgroup) runs out.",
            dim(),
        ),
    ]);
    lines
}

pub(super) fn draw_help(frame: &mut Frame, area: Rect, lines: &[Line<'static>]) {
    let w = area.width.saturating_sub(4).min(76);
    let h = area.height.saturating_sub(2).min(lines.len() as u16 + 6);
    let popup = Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    };
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines.to_vec())
            .wrap(Wrap { trim: true })
            .block(
                Block::default()
                    .borders(Borders::ALL)
                    .title(" pyprobe top: keys (any key closes) "),
            ),
        popup,
    );
}
