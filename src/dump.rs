//! `pyprobe dump`: every thread's current stack, as text or JSON.
use std::io::Write;

use serde::Serialize;

use crate::display::short_filename;
use crate::session::{PauseMode, Session};
use crate::stack::ThreadStack;

/// What `dump` does.
#[derive(Debug, Clone)]
pub struct DumpConfig {
    /// The process.
    pub pid: i32,
    /// JSON instead of text.
    pub json: bool,
    /// Stop the target while reading (default for dump: a consistent picture).
    pub pause: PauseMode,
    /// Show full file paths instead of shortened ones.
    pub full_filenames: bool,
    /// Native frames merged with the Python ones.
    pub native: bool,
}

/// The JSON document `dump --json` prints.
#[derive(Debug, Serialize)]
pub struct DumpReport {
    /// Target pid.
    pub pid: i32,
    /// Target command line.
    pub command: String,
    /// Python version, e.g. "3.11.7".
    pub python_version: String,
    /// Every thread, main thread first.
    pub threads: Vec<ThreadStack>,
}

/// Take one sample of `config.pid` and print it to `out`.
pub fn run(config: &DumpConfig, out: &mut dyn Write) -> anyhow::Result<()> {
    let mut session = Session::attach(
        config.pid,
        if config.native {
            PauseMode::NonBlocking
        } else {
            config.pause
        },
    )?;
    let threads = if config.native {
        crate::native::dump::sample(&mut session, config.pause)?
    } else {
        sample_consistently(&mut session)?
    };
    let report = DumpReport {
        pid: config.pid,
        command: session.target().cmdline_string(),
        python_version: session.interpreter().version.to_string(),
        threads,
    };
    if config.json {
        // As the `io::Error` it wraps: `serde_json::Error` does not list it as its source, so a
        // closed pipe would not be recognised (and would end as "error: Broken pipe").
        serde_json::to_writer_pretty(&mut *out, &report).map_err(std::io::Error::from)?;
        writeln!(out)?;
    } else {
        write_text(&report, config.full_filenames, out)?;
    }
    Ok(())
}

/// A non-blocking read can race with the target; a few retries give a clean picture.
pub(crate) fn sample_consistently(session: &mut Session) -> anyhow::Result<Vec<ThreadStack>> {
    let mut last = None;
    for _ in 0..20 {
        match session.sample() {
            Ok(mut threads) => {
                let main = session.target().pid() as u32;
                threads.sort_by_key(|t| (t.os_tid != Some(main), t.os_tid));
                return Ok(threads);
            }
            Err(e @ crate::Error::ProcessExited { .. }) => return Err(e.into()),
            Err(e) => last = Some(e),
        }
    }
    Err(last.expect("at least one attempt").into())
}

/// The text form: `Thread 1234 (active+gil): "MainThread"`, then frames innermost first.
pub fn write_text(
    report: &DumpReport,
    full_filenames: bool,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    writeln!(out, "Process {}: {}", report.pid, report.command)?;
    writeln!(out, "Python v{}", report.python_version)?;
    for t in &report.threads {
        writeln!(out)?;
        let id = t
            .os_tid
            .map(|t| t.to_string())
            .unwrap_or_else(|| format!("{:#x}", t.thread_id));
        match &t.name {
            Some(name) => writeln!(out, "Thread {id} ({}): \"{name}\"", t.status())?,
            None => writeln!(out, "Thread {id} ({})", t.status())?,
        }
        for f in t.frames.iter() {
            let file = if full_filenames {
                &f.filename
            } else {
                short_filename(&f.filename)
            };
            if f.is_native() {
                // A native frame: its module, no line.
                writeln!(out, "    {} ({file})", f.name)?;
            } else {
                writeln!(out, "    {} ({file}:{})", f.name, f.line)?;
            }
        }
    }
    Ok(())
}
