//! Output formats: one [`ProfileWriter`] per [`Format`], and safe file writing.
//!
//! Every format labels a frame the same way (see [`frame_label`]): `function (file:line)`, or
//! `function (file)` without line numbers, with the file name shortened by [`short_filename`].
//!
//! - [`Format::Collapsed`] ([`CollapsedWriter`]): folded stacks, `a;b;c COUNT` per line, what
//!   `flamegraph.pl`, inferno and speedscope read.
//! - [`Format::Flamegraph`] ([`FlamegraphWriter`]): an interactive SVG rendered by inferno from
//!   the same folded lines.
//! - [`Format::Speedscope`] ([`SpeedscopeWriter`]): the speedscope JSON file format, one profile
//!   per thread.
//!
//! Write files with [`write_file_atomic`] so that an interrupted write never leaves a truncated
//! file, and call [`check_writable`] before recording so that a long recording is not lost to a
//! bad output path.
use std::fmt;
use std::io::Write;
use std::str::FromStr;

use anyhow::Context;

use crate::profile::Profile;

pub use file::{check_writable, write_file_atomic, STDOUT_PATH};

mod collapsed;
mod file;
mod flamegraph;
mod gecko;
mod html;
mod html_heap;
mod html_processes;
mod label;
pub mod pprof;
mod protected;
mod speedscope;

#[cfg(test)]
mod golden_tests;

pub use crate::display::short_filename;
pub use collapsed::{collapsed_lines, CollapsedWriter};
pub use flamegraph::FlamegraphWriter;
pub use gecko::GeckoWriter;
pub use html::HtmlWriter;
pub use label::frame_label;
pub use pprof::PprofWriter;
pub use speedscope::SpeedscopeWriter;

/// An output file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Interactive flame graph, SVG.
    Flamegraph,
    /// Folded stacks (`a;b;c COUNT` lines), also accepted as `raw`.
    Collapsed,
    /// speedscope JSON (<https://www.speedscope.app>).
    Speedscope,
    /// One self-contained HTML report: RSS timeline, CPU and RSS-growth flame graphs.
    Html,
    /// gzip-compressed pprof `profile.proto` (Pyroscope, Parca, `go tool pprof`).
    Pprof,
    /// Firefox Profiler (gecko profile JSON), with an RSS counter track.
    Gecko,
}

impl Format {
    /// Every format, in the order they are documented.
    pub const ALL: [Format; 6] = [
        Format::Flamegraph,
        Format::Collapsed,
        Format::Speedscope,
        Format::Html,
        Format::Pprof,
        Format::Gecko,
    ];

    /// The canonical name, as accepted by [`FromStr`].
    pub fn name(self) -> &'static str {
        match self {
            Format::Flamegraph => "flamegraph",
            Format::Collapsed => "collapsed",
            Format::Speedscope => "speedscope",
            Format::Html => "html",
            Format::Pprof => "pprof",
            Format::Gecko => "gecko",
        }
    }

    /// The usual file extension, without the dot: `svg`, `txt`, `json`.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Flamegraph => "svg",
            Format::Collapsed => "txt",
            Format::Speedscope => "json",
            Format::Html => "html",
            Format::Pprof => "pb.gz",
            Format::Gecko => "gecko.json",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The error of parsing an unknown [`Format`] name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown output format {0:?}: expected one of flamegraph, collapsed (or raw), speedscope, html, pprof, gecko")]
pub struct UnknownFormat(pub String);

impl FromStr for Format {
    type Err = UnknownFormat;

    /// `flamegraph`, `collapsed`, `raw` (alias of `collapsed`), `speedscope`; case-insensitive,
    /// surrounding whitespace ignored.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "flamegraph" => Ok(Format::Flamegraph),
            "collapsed" | "raw" => Ok(Format::Collapsed),
            "speedscope" => Ok(Format::Speedscope),
            "html" => Ok(Format::Html),
            "pprof" => Ok(Format::Pprof),
            "gecko" | "firefox" => Ok(Format::Gecko),
            _ => Err(UnknownFormat(s.to_string())),
        }
    }
}

/// Options shared by every format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputOptions {
    /// A root frame per thread (its label, e.g. `MainThread (tid 1234)`) in collapsed stacks and
    /// flame graphs. speedscope output always has one profile per thread and ignores this.
    pub per_thread: bool,
    /// Show `file:line` rather than `file` in frame labels. Frames that differ only by line are
    /// merged when this is off.
    pub show_line_numbers: bool,
    /// What flamegraphs and collapsed stacks count: samples, or bytes of RSS growth / release.
    pub measure: crate::profile::Measure,
}

impl Default for OutputOptions {
    fn default() -> Self {
        OutputOptions {
            per_thread: false,
            show_line_numbers: true,
            measure: crate::profile::Measure::Samples,
        }
    }
}

/// Renders a [`Profile`] in one format.
pub trait ProfileWriter {
    /// Write `profile` to `out`. Output is deterministic: the same profile and options give the
    /// same bytes.
    fn write(
        &self,
        profile: &Profile,
        opts: &OutputOptions,
        out: &mut dyn Write,
    ) -> anyhow::Result<()>;
}

/// Serialize `value` as one line of JSON to `out` (the JSON formats share this).
pub(crate) fn write_json(
    out: &mut dyn Write,
    value: &impl serde::Serialize,
    what: &str,
) -> anyhow::Result<()> {
    let mut out = std::io::BufWriter::new(out);
    // As the `io::Error` it wraps: `serde_json::Error` does not list it as its source, so a
    // reader that closed the pipe (`-o - | head`) would not be recognised as one.
    serde_json::to_writer(&mut out, value)
        .map_err(std::io::Error::from)
        .with_context(|| format!("writing {what}"))?;
    out.write_all(b"\n")?;
    out.flush()?;
    Ok(())
}

/// The writer for `format`.
pub fn writer_for(format: Format) -> Box<dyn ProfileWriter> {
    match format {
        Format::Flamegraph => Box::new(FlamegraphWriter),
        Format::Collapsed => Box::new(CollapsedWriter),
        Format::Speedscope => Box::new(SpeedscopeWriter),
        Format::Html => Box::new(HtmlWriter),
        Format::Pprof => Box::new(PprofWriter),
        Format::Gecko => Box::new(GeckoWriter),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_from_str() {
        assert_eq!("flamegraph".parse::<Format>(), Ok(Format::Flamegraph));
        assert_eq!("collapsed".parse::<Format>(), Ok(Format::Collapsed));
        assert_eq!("raw".parse::<Format>(), Ok(Format::Collapsed));
        assert_eq!("speedscope".parse::<Format>(), Ok(Format::Speedscope));
        assert_eq!("FlameGraph".parse::<Format>(), Ok(Format::Flamegraph));
        assert_eq!(" RAW ".parse::<Format>(), Ok(Format::Collapsed));
        for f in Format::ALL {
            assert_eq!(f.name().parse::<Format>(), Ok(f));
            assert_eq!(f.to_string(), f.name());
        }
    }

    #[test]
    fn format_unknown_name_lists_valid_names() {
        let err = "svg".parse::<Format>().unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("\"svg\""), "{msg}");
        for name in ["flamegraph", "collapsed", "raw", "speedscope"] {
            assert!(msg.contains(name), "{msg} lacks {name}");
        }
        assert!("".parse::<Format>().is_err());
    }

    #[test]
    fn format_extension() {
        assert_eq!(Format::Flamegraph.extension(), "svg");
        assert_eq!(Format::Collapsed.extension(), "txt");
        assert_eq!(Format::Speedscope.extension(), "json");
    }

    #[test]
    fn output_options_default() {
        let o = OutputOptions::default();
        assert!(!o.per_thread);
        assert!(o.show_line_numbers);
    }

    /// A reader gone mid-document (`-f speedscope -o - | head -c 10`): the error is recognised
    /// as a closed pipe, which ends pyprobe quietly, even when it comes from inside the JSON
    /// serializer (a document larger than the write buffer).
    #[test]
    fn json_into_a_closed_pipe_is_a_broken_pipe() {
        struct ClosedPipe;
        impl Write for ClosedPipe {
            fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
                Err(std::io::ErrorKind::BrokenPipe.into())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let big: Vec<String> = (0..10_000).map(|i| format!("frame {i}")).collect();
        let err = write_json(&mut ClosedPipe, &big, "a test document").unwrap_err();
        assert!(crate::error::is_broken_pipe(&err), "{err:#}");
    }
}
