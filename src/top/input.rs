//! Keys to actions, for both screens. Pure: the event loop applies the actions.
use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::render_list::ListSort;
use super::stats::SortColumn;

/// What a key does in the single-process screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PidAction {
    /// Leave pyprobe.
    Quit,
    /// Back to the process list (Esc).
    Back,
    /// Sort by a column.
    Sort(SortColumn),
    /// Sort by the column to the left (-1) or right (+1).
    SortStep(isize),
    /// Lines ↔ functions.
    ToggleAggregation,
    /// Next thread, then all.
    NextThread,
    /// Freeze / unfreeze the display.
    TogglePause,
    /// Forget the counts.
    Reset,
    /// Count idle threads or not (resets the counts).
    ToggleIdle,
    /// Show / hide the help.
    ToggleHelp,
    /// Show the newest heap census in place of the function table, or the table again.
    ToggleHeap,
    /// Nothing.
    None,
}

/// What a key does in the process list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ListAction {
    /// Leave pyprobe.
    Quit,
    /// Move the selection by this many rows.
    Move(isize),
    /// First row.
    Home,
    /// Last row.
    End,
    /// Open the selected process.
    Open,
    /// Sort order.
    Sort(ListSort),
    /// Sort order to the left (-1) or right (+1).
    SortStep(isize),
    /// Show / hide the help.
    ToggleHelp,
    /// Nothing.
    None,
}

/// Ctrl-C, or `q`.
pub(crate) fn is_quit(key: &KeyEvent) -> bool {
    key.kind != KeyEventKind::Release
        && (matches!(key.code, KeyCode::Char('q') | KeyCode::Char('Q'))
            && !key.modifiers.contains(KeyModifiers::CONTROL)
            || key.modifiers.contains(KeyModifiers::CONTROL)
                && matches!(key.code, KeyCode::Char('c') | KeyCode::Char('C')))
}

/// The single-process screen's keys.
pub(crate) fn pid_action(key: &KeyEvent) -> PidAction {
    if key.kind == KeyEventKind::Release {
        return PidAction::None;
    }
    if is_quit(key) {
        return PidAction::Quit;
    }
    match key.code {
        KeyCode::Esc => PidAction::Back,
        KeyCode::Char(c @ '1'..='6') => PidAction::Sort(SortColumn::ALL[c as usize - '1' as usize]),
        KeyCode::Left | KeyCode::BackTab | KeyCode::Char('<') => PidAction::SortStep(-1),
        KeyCode::Right | KeyCode::Tab | KeyCode::Char('>') => PidAction::SortStep(1),
        KeyCode::Char('l' | 'L') => PidAction::ToggleAggregation,
        KeyCode::Char('t' | 'T') => PidAction::NextThread,
        KeyCode::Char(' ' | 'p' | 'P') => PidAction::TogglePause,
        KeyCode::Char('r' | 'R') => PidAction::Reset,
        KeyCode::Char('i' | 'I') => PidAction::ToggleIdle,
        KeyCode::Char('o' | 'O') => PidAction::ToggleHeap,
        KeyCode::Char('?' | 'h' | 'H') | KeyCode::F(1) => PidAction::ToggleHelp,
        _ => PidAction::None,
    }
}

/// The process list's keys.
pub(crate) fn list_action(key: &KeyEvent) -> ListAction {
    if key.kind == KeyEventKind::Release {
        return ListAction::None;
    }
    if is_quit(key) {
        return ListAction::Quit;
    }
    match key.code {
        KeyCode::Up | KeyCode::Char('k') => ListAction::Move(-1),
        KeyCode::Down | KeyCode::Char('j') => ListAction::Move(1),
        KeyCode::PageUp => ListAction::Move(-10),
        KeyCode::PageDown => ListAction::Move(10),
        KeyCode::Home | KeyCode::Char('g') => ListAction::Home,
        KeyCode::End | KeyCode::Char('G') => ListAction::End,
        KeyCode::Enter => ListAction::Open,
        KeyCode::Char(c @ '1'..='4') => ListAction::Sort(ListSort::ALL[c as usize - '1' as usize]),
        KeyCode::Left | KeyCode::BackTab | KeyCode::Char('<') => ListAction::SortStep(-1),
        KeyCode::Right | KeyCode::Tab | KeyCode::Char('>') => ListAction::SortStep(1),
        KeyCode::Char('?' | 'h' | 'H') | KeyCode::F(1) => ListAction::ToggleHelp,
        _ => ListAction::None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    #[test]
    fn pid_keys() {
        assert_eq!(pid_action(&key(KeyCode::Char('q'))), PidAction::Quit);
        assert_eq!(
            pid_action(&KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)),
            PidAction::Quit
        );
        assert_eq!(
            pid_action(&key(KeyCode::Char('c'))),
            PidAction::None,
            "plain c is not Ctrl-C"
        );
        assert_eq!(
            pid_action(&key(KeyCode::Char('5'))),
            PidAction::Sort(SortColumn::OwnGrowth)
        );
        assert_eq!(pid_action(&key(KeyCode::Tab)), PidAction::SortStep(1));
        assert_eq!(
            pid_action(&key(KeyCode::Char('L'))),
            PidAction::ToggleAggregation
        );
        assert_eq!(pid_action(&key(KeyCode::Char(' '))), PidAction::TogglePause);
        assert_eq!(pid_action(&key(KeyCode::Char('o'))), PidAction::ToggleHeap);
        assert_eq!(pid_action(&key(KeyCode::Char('T'))), PidAction::NextThread);
        assert_eq!(pid_action(&key(KeyCode::Char('R'))), PidAction::Reset);
        assert_eq!(pid_action(&key(KeyCode::Char('i'))), PidAction::ToggleIdle);
        assert_eq!(pid_action(&key(KeyCode::Char('?'))), PidAction::ToggleHelp);
        assert_eq!(pid_action(&key(KeyCode::Esc)), PidAction::Back);
        let mut release = key(KeyCode::Char('q'));
        release.kind = KeyEventKind::Release;
        assert_eq!(pid_action(&release), PidAction::None);
    }

    #[test]
    fn list_keys() {
        assert_eq!(list_action(&key(KeyCode::Down)), ListAction::Move(1));
        assert_eq!(list_action(&key(KeyCode::Enter)), ListAction::Open);
        assert_eq!(
            list_action(&key(KeyCode::Char('2'))),
            ListAction::Sort(ListSort::Cpu)
        );
        assert_eq!(list_action(&key(KeyCode::Char('q'))), ListAction::Quit);
    }
}
