//! Display labels for frames, shared by every output format.
//!
//! A frame is shown as `function (file:line)`, or `function (file)` when line numbers are off or
//! the line is unknown (0). The file name is shortened by [`short_filename`].
use crate::stack::Frame;

use super::OutputOptions;

/// Directories under which third-party packages are installed; what follows is the package path.
const PACKAGE_DIRS: [&str; 2] = ["site-packages", "dist-packages"];

/// Shorten a source file name for display.
///
/// - Under a `site-packages` / `dist-packages` directory (the rightmost one wins), keep only the
///   package path: `/usr/lib/python3.11/site-packages/requests/api.py` → `requests/api.py`.
/// - Under a standard library directory `…/lib/pythonX.Y/` (also `lib64`, and the free-threaded
///   `pythonX.Yt`), keep only the module path: `/usr/lib/python3.11/threading.py` →
///   `threading.py`, `/opt/py/lib/python3.12/concurrent/futures/thread.py` →
///   `concurrent/futures/thread.py`.
/// - Anything else (application files, `<frozen …>`, `<string>`) is kept as-is.
///
/// Never returns an empty string for a non-empty input: a prefix is only stripped when something
/// follows it.
pub fn short_filename(path: &str) -> &str {
    // (byte offset, segment) for every `/`-separated segment.
    let mut segments: Vec<(usize, &str)> = Vec::new();
    let mut offset = 0;
    for seg in path.split('/') {
        segments.push((offset, seg));
        offset += seg.len() + 1;
    }
    // What follows segment `i`, if non-empty.
    let rest_after = |i: usize| -> Option<&str> {
        let (start, _) = *segments.get(i + 1)?;
        let rest = &path[start..];
        (!rest.is_empty()).then_some(rest)
    };

    if let Some(rest) = (0..segments.len())
        .rev()
        .filter(|&i| PACKAGE_DIRS.contains(&segments[i].1))
        .find_map(rest_after)
    {
        return rest;
    }
    if let Some(rest) = (1..segments.len())
        .rev()
        .filter(|&i| is_lib_dir(segments[i - 1].1) && is_python_version_dir(segments[i].1))
        .find_map(rest_after)
    {
        return rest;
    }
    path
}

fn is_lib_dir(seg: &str) -> bool {
    matches!(seg, "lib" | "lib64")
}

/// `python3.11`, `python3.13t`, `python2.7`.
fn is_python_version_dir(seg: &str) -> bool {
    let Some(version) = seg.strip_prefix("python") else {
        return false;
    };
    let version = version.strip_suffix('t').unwrap_or(version);
    let Some((major, minor)) = version.split_once('.') else {
        return false;
    };
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    all_digits(major) && all_digits(minor)
}

/// The display label of a frame: `function (file:line)`, or `function (file)` when
/// `opts.show_line_numbers` is false or the line is unknown (0). A frame without a file name is
/// shown as just `function`.
pub fn frame_label(frame: &Frame, opts: &OutputOptions) -> String {
    let file = short_filename(&frame.filename);
    if file.is_empty() {
        frame.name.to_string()
    } else if opts.show_line_numbers && frame.line != 0 {
        format!("{} ({}:{})", frame.name, file, frame.line)
    } else {
        format!("{} ({})", frame.name, file)
    }
}

/// Make a label safe for one field of a collapsed-stack line: `;` (the frame separator) becomes
/// `:`, and control characters (line breaks, tabs) become spaces.
pub(crate) fn collapsed_safe(label: &str) -> String {
    label
        .chars()
        .map(|c| match c {
            ';' => ':',
            c if c.is_control() => ' ',
            c => c,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn site_packages_keeps_package_path() {
        assert_eq!(
            short_filename("/usr/lib/python3.11/site-packages/requests/api.py"),
            "requests/api.py"
        );
        assert_eq!(
            short_filename("/home/u/.venv/lib/python3.12/site-packages/numpy/core/_methods.py"),
            "numpy/core/_methods.py"
        );
        assert_eq!(
            short_filename("/usr/lib/python3/dist-packages/apt/cache.py"),
            "apt/cache.py"
        );
        // The rightmost package directory wins (vendored packages).
        assert_eq!(
            short_filename("/x/site-packages/pip/_vendor/site-packages/six.py"),
            "six.py"
        );
    }

    #[test]
    fn stdlib_prefix_is_stripped() {
        assert_eq!(
            short_filename("/usr/lib/python3.11/threading.py"),
            "threading.py"
        );
        assert_eq!(
            short_filename("/opt/py/lib64/python3.12/concurrent/futures/thread.py"),
            "concurrent/futures/thread.py"
        );
        assert_eq!(
            short_filename("/usr/local/lib/python3.13t/asyncio/events.py"),
            "asyncio/events.py"
        );
        assert_eq!(short_filename("lib/python2.7/os.py"), "os.py");
    }

    #[test]
    fn other_paths_are_kept() {
        for p in [
            "/home/u/app/main.py",
            "main.py",
            "<frozen importlib._bootstrap>",
            "<string>",
            "",
            "/usr/lib/python3.11/",
            "/x/site-packages/",
            "/usr/lib/pythonista/foo.py",
            "/usr/lib/python3/foo.py",
            "/srv/python3.11/foo.py",
        ] {
            assert_eq!(short_filename(p), p, "{p:?}");
        }
    }

    fn frame(name: &str, filename: &str, line: u32) -> Frame {
        Frame {
            name: name.into(),
            filename: filename.into(),
            line,
        }
    }

    #[test]
    fn labels() {
        let on = OutputOptions::default();
        let off = OutputOptions {
            show_line_numbers: false,
            ..OutputOptions::default()
        };
        let f = frame("run", "/usr/lib/python3.11/threading.py", 1012);
        assert_eq!(frame_label(&f, &on), "run (threading.py:1012)");
        assert_eq!(frame_label(&f, &off), "run (threading.py)");
        let f0 = frame("<module>", "/app/main.py", 0);
        assert_eq!(frame_label(&f0, &on), "<module> (/app/main.py)");
        assert_eq!(frame_label(&frame("f", "", 3), &on), "f");
    }

    #[test]
    fn collapsed_safe_replaces_separators() {
        assert_eq!(collapsed_safe("a;b\nc\td"), "a:b c d");
        assert_eq!(collapsed_safe("grüße"), "grüße");
    }
}
