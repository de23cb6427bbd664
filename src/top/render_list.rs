//! Drawing the list of every Python process, from plain data (see `render` for the
//! single-process screen and the shared pieces).
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table};
use ratatui::Frame;

use super::format::{fit_command, function_label, sparkline, truncate};
use super::process_list::{Current, ProcessRow, ProcessSnapshot};
use super::render::{bold, dim, draw_help, help_key, key_hints, label, title_bar, value, WIDE};
use super::trees;
use crate::display::{bytes_short, signed_bytes_short};

/// Sort orders of the process list (keys 1–4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum ListSort {
    /// By pid, ascending.
    Pid,
    /// By CPU use.
    Cpu,
    /// By resident memory.
    #[default]
    Rss,
    /// By RSS growth over the trend window.
    Growth,
}

impl ListSort {
    /// In key order.
    pub(crate) const ALL: [ListSort; 4] = [
        ListSort::Pid,
        ListSort::Cpu,
        ListSort::Rss,
        ListSort::Growth,
    ];

    /// The name shown.
    pub(crate) fn label(self) -> &'static str {
        match self {
            ListSort::Pid => "PID",
            ListSort::Cpu => "CPU%",
            ListSort::Rss => "RSS",
            ListSort::Growth => "RSS growth",
        }
    }

    /// Sort `rows` by this order (ties by pid), grouped by process tree (see [`trees`]).
    pub(crate) fn sort(self, rows: &mut Vec<ProcessRow>) {
        trees::group(rows, self);
    }
}

pub(crate) fn trend_delta(trend: &[u64]) -> i64 {
    match (trend.first(), trend.last()) {
        (Some(&a), Some(&b)) => b as i64 - a as i64,
        _ => 0,
    }
}

/// Everything the process list shows.
pub(crate) struct ListModel<'a> {
    /// The last scan (`None` while the first one runs).
    pub snapshot: Option<&'a ProcessSnapshot>,
    /// Its rows, sorted.
    pub rows: &'a [ProcessRow],
    /// Index of the selected row.
    pub selected: usize,
    /// Sort order.
    pub sort: ListSort,
    /// A message for the bottom line (e.g. why a process could not be opened).
    pub message: Option<&'a str>,
    /// Help shown.
    pub help: bool,
}

/// The process list screen.
pub(crate) fn draw_list(frame: &mut Frame, m: &ListModel) {
    let area = frame.area();
    let wide = area.width >= WIDE + 10;
    let [top, table, memory, keys] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Fill(1),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(area);
    let count = match m.snapshot {
        Some(_) => {
            let trees = m.rows.iter().filter(|r| r.tree.depth == 0).count();
            match trees < m.rows.len() {
                true => format!("{} Python processes in {trees} trees", m.rows.len()),
                false => format!("{} Python processes", m.rows.len()),
            }
        }
        None => "scanning…".into(),
    };
    title_bar(
        frame,
        top,
        &format!(" pyprobe top │ {count} │ sorted by {}", m.sort.label()),
        None,
    );
    let trend_w: u16 = if wide { 16 } else { 8 };
    let mut names = vec!["PID", "Python", "CPU%", "RSS", "%RAM", "Trend"];
    let mut widths: Vec<u16> = vec![8, 6, 5, 5, 5, trend_w];
    if wide {
        names.push("ΔRSS");
        widths.push(7);
    }
    let fixed: u16 = widths.iter().sum::<u16>() + widths.len() as u16 + 1;
    let rest = area.width.saturating_sub(fixed);
    let command_w = rest * 2 / 5;
    let current_w = rest.saturating_sub(command_w + 1);
    names.extend(["Command", "Running now"]);
    widths.extend([command_w, current_w]);
    let sort_col = match m.sort {
        ListSort::Pid => 0,
        ListSort::Cpu => 2,
        ListSort::Rss => 3,
        ListSort::Growth => 5,
    };
    let right_aligned = |i: usize| matches!(i, 2..=4) || (wide && i == 6);
    let header = Row::new(names.iter().enumerate().map(|(i, n)| {
        let style = if i == sort_col {
            bold().add_modifier(Modifier::UNDERLINED).fg(Color::Cyan)
        } else {
            bold()
        };
        let line = Line::from(Span::styled(n.to_string(), style));
        Cell::from(if right_aligned(i) {
            line.alignment(Alignment::Right)
        } else {
            line
        })
    }));
    let visible = table.height.saturating_sub(1) as usize;
    let offset = (m.selected + 1).saturating_sub(visible);
    let total = m.snapshot.and_then(|s| s.mem_total);
    let body: Vec<Row> = m
        .rows
        .iter()
        .enumerate()
        .skip(offset)
        .take(visible)
        .map(|(i, r)| {
            let selected = i == m.selected;
            let delta = trend_delta(&r.trend);
            let trend_color = if delta > (1 << 20) {
                Color::Yellow
            } else if delta < -(1 << 20) {
                Color::Green
            } else {
                Color::Reset
            };
            let shown = &r.trend[r.trend.len().saturating_sub(trend_w as usize)..];
            let mut cells = vec![
                Cell::from(format!("{}{}", if selected { ">" } else { " " }, r.pid)),
                Cell::from(r.version.clone()),
                Cell::from(Line::from(cpu(r.cpu)).alignment(Alignment::Right)),
                Cell::from(Line::from(bytes_short(r.rss)).alignment(Alignment::Right)),
                Cell::from(
                    Line::from(match total {
                        Some(t) if t > 0 => format!("{:.1}", 100.0 * r.rss as f64 / t as f64),
                        _ => "-".into(),
                    })
                    .alignment(Alignment::Right),
                ),
                Cell::from(Span::styled(sparkline(shown), Style::new().fg(trend_color))),
            ];
            if wide {
                cells.push(Cell::from(
                    Line::from(Span::styled(
                        signed_bytes_short(delta),
                        Style::new().fg(trend_color),
                    ))
                    .alignment(Alignment::Right),
                ));
            }
            let prefix = trees::prefix(&r.tree, bytes_short, command_w as usize);
            let room = (command_w as usize).saturating_sub(prefix.chars().count());
            cells.push(Cell::from(prefix + &fit_command(&r.command, room)));
            cells.push(Cell::from(current_line(&r.current, current_w as usize)));
            let row = Row::new(cells);
            if selected {
                row.style(Style::new().add_modifier(Modifier::REVERSED))
            } else {
                row
            }
        })
        .collect();
    let empty = body.is_empty();
    let constraints: Vec<Constraint> = widths.iter().map(|&w| Constraint::Length(w)).collect();
    frame.render_widget(
        Table::new(body, constraints)
            .header(header)
            .column_spacing(1),
        table,
    );
    if empty && table.height > 2 {
        let msg = if m.snapshot.is_some() {
            "no Python processes found"
        } else {
            "looking for Python processes…"
        };
        frame.render_widget(
            Paragraph::new(Span::styled(msg, dim())).alignment(Alignment::Center),
            Rect {
                y: table.y + 2,
                height: 1,
                ..table
            },
        );
    }
    let mut mem = Vec::new();
    if let Some(s) = m.snapshot {
        if let Some(t) = s.mem_total {
            mem.extend([label(" RAM "), value(bytes_short(t))]);
        }
        if let Some(a) = s.mem_available {
            mem.extend([label("  available "), value(bytes_short(a))]);
        }
        let held: u64 = m.rows.iter().map(|r| r.rss).sum();
        mem.extend([label("  Python holds "), value(bytes_short(held))]);
        if let Some(t) = s.mem_total.filter(|&t| t > 0) {
            mem.push(label(&format!(
                " ({:.1}% of RAM)",
                100.0 * held as f64 / t as f64
            )));
        }
    }
    frame.render_widget(Paragraph::new(Line::from(mem)), memory);
    let keys_line = match m.message {
        Some(msg) => Line::from(Span::styled(
            format!(" {msg} "),
            Style::new().fg(Color::White).bg(Color::Red),
        )),
        None => key_hints(&[
            ("↑↓", "select"),
            ("Enter", "open"),
            ("1-4/←→", "sort"),
            ("?", "help"),
            ("q", "quit"),
        ]),
    };
    frame.render_widget(Paragraph::new(keys_line), keys);
    if m.help {
        let key = help_key;
        draw_help(
            frame,
            area,
            &[
                key("↑ ↓ PgUp PgDn", "select a process"),
                key("Enter", "open its live view (Esc comes back)"),
                key("1-4  ← →", "sort by PID, CPU%, RSS, RSS growth"),
                key("? h", "show / hide this help"),
                key("q  Ctrl-C", "quit"),
                Line::raw(""),
                Line::styled(
                    " Trend: RSS at each of the last scans (one a second). Running now: the \
                     innermost function of the running thread, from one sample that does not \
                     stop the process.",
                    dim(),
                ),
            ],
        );
    }
}

fn cpu(p: f64) -> String {
    if p < 99.95 {
        format!("{p:.1}")
    } else {
        format!("{p:.0}")
    }
}

fn current_line(c: &Current, max: usize) -> Line<'static> {
    match c {
        Current::Pending => Line::from(Span::styled("…", dim())),
        Current::NoFrames => Line::from(Span::styled("(no Python frame)", dim())),
        Current::Unavailable(why) => Line::from(Span::styled(truncate(why, max), dim())),
        Current::Function {
            name,
            filename,
            line,
            idle,
        } => {
            let prefix = if *idle { "idle: " } else { "" };
            let (n, place) =
                function_label(name, filename, *line, max.saturating_sub(prefix.len()));
            let base = if *idle { dim() } else { Style::new() };
            Line::from(vec![
                Span::styled(prefix.to_string(), base),
                Span::styled(n, base.add_modifier(Modifier::BOLD)),
                Span::styled(place, base.add_modifier(Modifier::DIM)),
            ])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_sorting() {
        let row = |pid, cpu, rss, trend: &[u64]| ProcessRow {
            pid,
            ppid: None,
            tree: Default::default(),
            version: "3.12".into(),
            command: "python".into(),
            cpu,
            rss,
            trend: trend.to_vec(),
            current: Current::Pending,
        };
        let mut rows = vec![
            row(3, 5.0, 100, &[100, 100]),
            row(1, 50.0, 10, &[1, 10]),
            row(2, 5.0, 100, &[50, 100]),
        ];
        let pids = |rows: &[ProcessRow]| rows.iter().map(|r| r.pid).collect::<Vec<_>>();
        ListSort::Rss.sort(&mut rows);
        assert_eq!(pids(&rows), [2, 3, 1]);
        ListSort::Cpu.sort(&mut rows);
        assert_eq!(pids(&rows), [1, 2, 3]);
        ListSort::Growth.sort(&mut rows);
        assert_eq!(pids(&rows), [2, 1, 3]);
        ListSort::Pid.sort(&mut rows);
        assert_eq!(pids(&rows), [1, 2, 3]);
    }
}
