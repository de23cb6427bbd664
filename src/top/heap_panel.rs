//! `top --pid`'s heap view (key `o`): the newest heap census of the process (see
//! [`crate::heap`]), taken on a thread of its own when the view opens and again every
//! [`CENSUS_EVERY`] while it stays open, drawn in place of the function table.
use std::time::{Duration, Instant};

use ratatui::layout::{Alignment, Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table};
use ratatui::Frame;

use super::render::{bold, dim, label, value};
use crate::display::bytes_short;
use crate::heap::during::{HeapCensuses, HeapSnapshot};

/// How often a new census is asked for while the view is open.
pub(crate) const CENSUS_EVERY: Duration = Duration::from_secs(10);

/// The census thread of one process and when it was last asked.
pub(crate) struct HeapView {
    censuses: HeapCensuses,
    opened: Instant,
    asked: Option<Instant>,
}

impl HeapView {
    /// Start the census thread for `pid` (it attaches on its own) and ask for a census.
    pub(crate) fn open(pid: i32, rss: Option<u64>) -> HeapView {
        let mut view = HeapView {
            censuses: HeapCensuses::start(pid, Instant::now()),
            opened: Instant::now(),
            asked: None,
        };
        view.refresh(rss);
        view
    }

    /// Ask for a new census when the last one is [`CENSUS_EVERY`] old and none is running.
    pub(crate) fn refresh(&mut self, rss: Option<u64>) {
        if self.asked.is_some_and(|t| t.elapsed() < CENSUS_EVERY) {
            return;
        }
        let at = self.opened.elapsed().as_secs_f64();
        if self.censuses.ask_now(at, rss) {
            self.asked = Some(Instant::now());
        }
    }

    /// What to draw now.
    pub(crate) fn panel(&self) -> HeapPanel {
        let (latest, failure) = self.censuses.latest();
        HeapPanel {
            age: latest
                .as_ref()
                .map(|s| self.opened.elapsed().as_secs_f64() - s.at),
            latest,
            failure,
            busy: self.censuses.busy(),
        }
    }
}

/// Plain data for drawing the view.
#[derive(Debug, Clone)]
pub(crate) struct HeapPanel {
    /// The newest census.
    pub latest: Option<HeapSnapshot>,
    /// Seconds since it began.
    pub age: Option<f64>,
    /// Why there is none, or why the newest failed.
    pub failure: Option<String>,
    /// One is being taken.
    pub busy: bool,
}

/// Draw `panel` in `area` (where the function table goes).
pub(crate) fn draw_heap(frame: &mut Frame, area: Rect, panel: &HeapPanel) {
    let Some(census) = &panel.latest else {
        let text = match (&panel.failure, panel.busy) {
            (Some(why), _) => why.clone(),
            (None, _) => "taking a heap census…".to_string(),
        };
        frame.render_widget(
            Paragraph::new(Span::styled(text, dim())).alignment(Alignment::Center),
            Rect {
                y: area.y + area.height.min(2),
                height: 1.min(area.height),
                ..area
            },
        );
        return;
    };
    let t = &census.totals;
    let age = panel.age.unwrap_or(0.0);
    let mut head = vec![
        label("Heap "),
        value(format!("{age:.0} s ago")),
        label(format!(" ({:.1} s)", census.took).as_str()),
        label("  objects "),
        value(format!("{} in {}", t.objects, bytes_short(t.object_bytes))),
        label("  arenas "),
        value(bytes_short(t.arena_bytes)),
        label(format!(" ({} free)", bytes_short(t.arena_free_bytes)).as_str()),
    ];
    if let Some(rss) = census.rss {
        let outside = rss.saturating_sub(t.python_bytes());
        head.extend([label("  RSS outside Python "), value(bytes_short(outside))]);
    }
    if panel.busy {
        head.push(Span::styled("  (new census running)", dim()));
    }
    let [top, table] =
        ratatui::layout::Layout::vertical([Constraint::Length(1), Constraint::Fill(1)]).areas(area);
    frame.render_widget(Paragraph::new(Line::from(head)), top);
    let header = Row::new(["Bytes", "Count", "Type"].map(|h| Cell::from(Span::styled(h, bold()))));
    let rows: Vec<Row> = census
        .types
        .iter()
        .take(table.height.saturating_sub(1) as usize)
        .map(|r| {
            Row::new([
                Cell::from(Line::from(bytes_short(r.bytes)).alignment(Alignment::Right)),
                Cell::from(Line::from(r.count.to_string()).alignment(Alignment::Right)),
                Cell::from(crate::display::one_line(&r.name)),
            ])
        })
        .collect();
    frame.render_widget(
        Table::new(
            rows,
            [
                Constraint::Length(8),
                Constraint::Length(10),
                Constraint::Fill(1),
            ],
        )
        .header(header)
        .column_spacing(1),
        table,
    );
}
