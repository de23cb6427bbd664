//! The terminal for the live view: raw mode and the alternate screen, undone when the guard is
//! dropped *and* when anything panics (a panic hook restores the terminal before the message
//! is printed, so the message is readable and the shell is usable).
use std::io::{self, Stdout};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Once;

use crossterm::cursor::{Hide, Show};
use crossterm::execute;
use crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;

/// Whether we changed the terminal and have not restored it yet.
static ACTIVE: AtomicBool = AtomicBool::new(false);
static HOOK: Once = Once::new();

/// The terminal in raw mode on the alternate screen, until dropped.
pub(crate) struct TerminalGuard {
    /// What the screens draw on.
    pub terminal: Terminal<CrosstermBackend<Stdout>>,
}

impl TerminalGuard {
    /// Switch to raw mode and the alternate screen, hide the cursor.
    pub(crate) fn enter() -> io::Result<TerminalGuard> {
        install_panic_hook();
        enable_raw_mode()?;
        ACTIVE.store(true, Ordering::SeqCst);
        let setup = execute!(io::stdout(), EnterAlternateScreen, Hide)
            .and_then(|()| Terminal::new(CrosstermBackend::new(io::stdout())));
        match setup {
            Ok(terminal) => Ok(TerminalGuard { terminal }),
            Err(e) => {
                restore();
                Err(e)
            }
        }
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore();
    }
}

/// Undo [`TerminalGuard::enter`] (once; later calls do nothing).
pub(crate) fn restore() {
    if ACTIVE.swap(false, Ordering::SeqCst) {
        let _ = execute!(io::stdout(), LeaveAlternateScreen, Show);
        let _ = disable_raw_mode();
    }
}

fn install_panic_hook() {
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            previous(info);
        }));
    });
}

/// Wait up to `timeout` for a terminal event; `Ok(true)` when one can be read without blocking.
///
/// Waiting happens in our own `poll(2)` on the terminal, not inside crossterm: when the
/// terminal goes away (its window closed, tmux killed) crossterm's reader can spin on the
/// hung-up descriptor without returning, and the view would burn a CPU forever. A hang-up is
/// an error here, so the view ends and the terminal guard is dropped.
pub(crate) fn wait_for_event(timeout: std::time::Duration) -> io::Result<bool> {
    use crossterm::event;
    // SAFETY: isatty has no preconditions.
    if unsafe { libc::isatty(0) } != 1 {
        return event::poll(timeout);
    }
    let hung_up =
        |revents: libc::c_short| revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0;
    let mut fd = libc::pollfd {
        fd: 0,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd, zero timeout.
    if unsafe { libc::poll(&mut fd, 1, 0) } > 0 && hung_up(fd.revents) {
        return Err(io::Error::new(
            io::ErrorKind::BrokenPipe,
            "the terminal went away",
        ));
    }
    // Events crossterm already read and buffered.
    if event::poll(std::time::Duration::ZERO)? {
        return Ok(true);
    }
    fd.revents = 0;
    let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
    // SAFETY: one valid pollfd.
    let n = unsafe { libc::poll(&mut fd, 1, ms) };
    if n < 0 {
        let e = io::Error::last_os_error();
        return if e.kind() == io::ErrorKind::Interrupted {
            Ok(false)
        } else {
            Err(e)
        };
    }
    if n > 0 && hung_up(fd.revents) {
        return Err(io::Error::new(
            io::ErrorKind::BrokenPipe,
            "the terminal went away",
        ));
    }
    Ok(n > 0 && event::poll(std::time::Duration::ZERO)?)
}
