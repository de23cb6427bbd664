//! `pyprobe top`: a live terminal view.
//!
//! - `top --pid PID`: the hot functions of one process (%Own, %Total, their times, and the RSS
//!   growth charged to each), with its RSS, peak, recent history and memory headroom, refreshed
//!   once a second while sampling goes on.
//! - `top`: every Python process on the machine (found from /proc, nothing attached first) with
//!   CPU, RSS, its trend and the function each one runs now, grouped by process tree with each
//!   tree's totals (`trees`); Enter opens the first view.
//!
//! The pieces: `stats` (pure aggregation over [`crate::profile::Profile`]), `process_list`
//! (the /proc scan), `render` (ratatui drawing from plain data), `input` (keys), `terminal`
//! (raw mode and the alternate screen, restored on drop and on panic) and `app` (the loops).
use std::io::IsTerminal;

use crate::session::PauseMode;

mod app;
mod format;
mod heap_panel;
mod input;
mod process_list;
mod render;
mod render_list;
pub(crate) mod stats;
mod terminal;
mod trees;

#[cfg(test)]
mod golden_tests;

/// What `top` does.
#[derive(Debug, Clone)]
pub struct TopConfig {
    /// One process to watch; `None`: the list of every Python process.
    pub pid: Option<i32>,
    /// Samples per second of the live view.
    pub rate_hz: f64,
    /// Blocking or not (the list's one-off samples never block).
    pub pause: PauseMode,
    /// Count idle threads' stacks too.
    pub include_idle: bool,
    /// Page faults per record of the page-fault events (`None`: the fallback, per-thread fault
    /// counts).
    pub fault_period: Option<u64>,
    /// Native frames merged with the Python ones.
    pub native: bool,
    /// With `pid`: its descendants too (see [`crate::subprocesses`]).
    pub subprocesses: bool,
}

/// Run the live view until the user quits.
pub fn run(config: &TopConfig) -> anyhow::Result<()> {
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        anyhow::bail!(
            "pyprobe top needs a terminal; without one, use `pyprobe dump --pid PID` for the \
             current stacks or `pyprobe record` for a profile"
        );
    }
    match config.pid {
        Some(pid) => app::run_pid(pid, config),
        None => app::run_list(config),
    }
}
