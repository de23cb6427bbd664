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
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::{bail, Context};

use crate::profile::Profile;

mod collapsed;
mod flamegraph;
mod gecko;
mod html;
mod label;
pub mod pprof;
mod speedscope;

#[cfg(test)]
mod golden_tests;

pub use collapsed::{collapsed_lines, CollapsedWriter};
pub use flamegraph::FlamegraphWriter;
pub use gecko::GeckoWriter;
pub use html::HtmlWriter;
pub use label::{frame_label, short_filename};
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
    serde_json::to_writer(&mut out, value).with_context(|| format!("writing {what}"))?;
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

/// The directory a file at `path` lives in (`.` for a bare file name).
fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// `.{name}.{tag}-{pid}` next to `path`.
fn sibling_temp_path(path: &Path, tag: &str) -> anyhow::Result<PathBuf> {
    let Some(name) = path.file_name() else {
        bail!("output path {} does not name a file", path.display());
    };
    let mut temp_name = std::ffi::OsString::from(".");
    temp_name.push(name);
    temp_name.push(format!(".{tag}-{}", std::process::id()));
    Ok(parent_dir(path).join(temp_name))
}

/// Removes the temporary file when dropped, unless disarmed (after a successful rename). Covers
/// errors and panics in the writing closure alike.
struct TempGuard {
    path: PathBuf,
    armed: bool,
}

impl Drop for TempGuard {
    fn drop(&mut self) {
        if self.armed {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Write the file at `path` atomically: `write` fills a temporary file in the same directory
/// (`.NAME.tmp-PID`), which is then flushed, fsynced and renamed over `path`. If `write` fails or
/// panics, or anything else fails, the temporary file is removed and `path` is untouched: it is
/// either absent or holds its previous complete contents, never a partial write.
///
/// `write` gets a buffered writer. If `path` is a symbolic link, the link itself is replaced.
pub fn write_file_atomic<P, F>(path: P, write: F) -> anyhow::Result<()>
where
    P: AsRef<Path>,
    F: FnOnce(&mut dyn Write) -> anyhow::Result<()>,
{
    let path = path.as_ref();
    let temp = sibling_temp_path(path, "tmp")?;
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&temp)
        .with_context(|| format!("cannot create temporary file {}", temp.display()))?;
    let mut guard = TempGuard {
        path: temp,
        armed: true,
    };

    let mut buffered = io::BufWriter::new(file);
    write(&mut buffered).with_context(|| format!("writing {}", path.display()))?;
    let file = buffered
        .into_inner()
        .map_err(|e| e.into_error())
        .with_context(|| format!("writing {}", guard.path.display()))?;
    file.sync_all()
        .with_context(|| format!("syncing {}", guard.path.display()))?;
    drop(file);
    fs::rename(&guard.path, path).with_context(|| {
        format!(
            "cannot rename {} to {}",
            guard.path.display(),
            path.display()
        )
    })?;
    guard.armed = false;
    // Make the rename itself durable; best effort (not every platform can open a directory).
    if let Ok(dir) = File::open(parent_dir(path)) {
        let _ = dir.sync_all();
    }
    Ok(())
}

/// Check, before recording, that `path` can be written: its directory exists and is writable
/// (checked by creating and removing a temporary file there), and `path` is not a directory.
pub fn check_writable<P: AsRef<Path>>(path: P) -> anyhow::Result<()> {
    let path = path.as_ref();
    let dir = parent_dir(path);
    match fs::metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => bail!(
            "cannot write {}: {} is not a directory",
            path.display(),
            dir.display()
        ),
        Err(e) if e.kind() == io::ErrorKind::NotFound => bail!(
            "cannot write {}: directory {} does not exist",
            path.display(),
            dir.display()
        ),
        Err(e) => bail!(
            "cannot write {}: cannot access directory {}: {e}",
            path.display(),
            dir.display()
        ),
    }
    if fs::metadata(path).is_ok_and(|m| m.is_dir()) {
        bail!("cannot write {}: it is a directory", path.display());
    }
    // The rename in `write_file_atomic` would replace a read-only file (it needs only the
    // directory's permission): respect the file's own permission instead, as `>` does.
    if fs::metadata(path).is_ok() && !writable_by_us(path) {
        bail!(
            "cannot write {}: the file exists and is read-only for you (remove it or choose \
             another --output)",
            path.display()
        );
    }
    let probe = sibling_temp_path(path, "check")?;
    // One line for the user: the OS error goes in the message, not in a "caused by" chain.
    if let Err(e) = OpenOptions::new().write(true).create_new(true).open(&probe) {
        bail!(
            "cannot write {}: directory {} is not writable ({e}); choose another --output",
            path.display(),
            dir.display()
        );
    }
    fs::remove_file(&probe)
        .with_context(|| format!("cannot remove test file {}", probe.display()))?;
    Ok(())
}

/// Whether our effective user may write the existing file `path` (root may write any).
fn writable_by_us(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c_path) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: c_path is a valid NUL-terminated string that outlives the call.
    unsafe {
        libc::faccessat(
            libc::AT_FDCWD,
            c_path.as_ptr(),
            libc::W_OK,
            libc::AT_EACCESS,
        ) == 0
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

    fn dir_entries(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn atomic_write_success() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.txt");
        write_file_atomic(&path, |w| {
            w.write_all(b"hello\n")?;
            Ok(())
        })
        .unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "hello\n");
        assert_eq!(dir_entries(dir.path()), ["out.txt"]);
        // Replaces an existing file.
        write_file_atomic(&path, |w| Ok(w.write_all(b"again\n")?)).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "again\n");
        assert_eq!(dir_entries(dir.path()), ["out.txt"]);
    }

    #[test]
    fn atomic_write_error_midway_leaves_no_partial_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.svg");
        // Write more than the BufWriter buffer, so the temp file really holds partial data.
        let err = write_file_atomic(&path, |w| {
            w.write_all(&vec![b'x'; 100_000])?;
            bail!("interrupted")
        })
        .unwrap_err();
        assert!(format!("{err:#}").contains("interrupted"), "{err:#}");
        assert!(!path.exists());
        assert!(dir_entries(dir.path()).is_empty());

        // An existing file keeps its previous complete contents.
        fs::write(&path, "complete").unwrap();
        write_file_atomic(&path, |w| {
            w.write_all(&vec![b'y'; 100_000])?;
            bail!("interrupted")
        })
        .unwrap_err();
        assert_eq!(fs::read_to_string(&path).unwrap(), "complete");
        assert_eq!(dir_entries(dir.path()), ["out.svg"]);
    }

    #[test]
    fn atomic_write_panic_cleans_up() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.json");
        let r = std::panic::catch_unwind(|| {
            let _ = write_file_atomic(&path, |w| {
                w.write_all(b"{")?;
                panic!("boom");
            });
        });
        assert!(r.is_err());
        assert!(dir_entries(dir.path()).is_empty());
    }

    #[test]
    fn atomic_write_missing_dir_fails() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nope/out.txt");
        let err = write_file_atomic(&path, |_| Ok(())).unwrap_err();
        assert!(format!("{err:#}").contains("temporary file"), "{err:#}");
    }

    #[test]
    fn check_writable_ok_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        check_writable(dir.path().join("profile.svg")).unwrap();
        assert!(dir_entries(dir.path()).is_empty());
        // A bare file name refers to the current directory.
        assert!(parent_dir(Path::new("profile.svg")) == Path::new("."));
    }

    #[test]
    fn check_writable_errors() {
        let dir = tempfile::tempdir().unwrap();
        let err = check_writable(dir.path().join("missing/profile.svg")).unwrap_err();
        assert!(err.to_string().contains("does not exist"), "{err}");

        let err = check_writable(dir.path()).unwrap_err();
        assert!(err.to_string().contains("is a directory"), "{err}");

        let file = dir.path().join("afile");
        fs::write(&file, "").unwrap();
        let err = check_writable(file.join("profile.svg")).unwrap_err();
        assert!(err.to_string().contains("not a directory"), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn check_writable_read_only_dir() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let ro = dir.path().join("ro");
        fs::create_dir(&ro).unwrap();
        fs::set_permissions(&ro, fs::Permissions::from_mode(0o555)).unwrap();
        let probe = ro.join("probe");
        let can_write_anyway = File::create(&probe).is_ok(); // root ignores permissions
        let _ = fs::remove_file(&probe);
        let result = check_writable(ro.join("profile.svg"));
        if can_write_anyway {
            result.unwrap();
        } else {
            let err = result.unwrap_err();
            assert!(format!("{err:#}").contains("not writable"), "{err:#}");
        }
        fs::set_permissions(&ro, fs::Permissions::from_mode(0o755)).unwrap();
    }
}
