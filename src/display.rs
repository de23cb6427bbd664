//! Text for people: one place for how pyprobe shows a command line, a file name, a size, a
//! duration, and text inside markup, used by the summary, `dump`, the live view and the
//! output formats alike.

/// A command line as one printable line: `python -c "..."` scripts carry newlines, and any
/// argument may carry terminal escape sequences that must not reach the user's terminal
/// (`dump`, `top`) or break a title. Control characters are shown escaped (`\n`, `\t`, `\x1b`).
pub fn one_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

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

/// Text made safe inside XML or HTML, as element content or a quoted attribute value: the
/// five markup characters as entities (`&#39;` for `'`, which both languages know), and
/// control characters other than tab and line breaks, which XML 1.0 forbids outright, as
/// spaces.
pub fn escape_markup(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && !matches!(c, '\t' | '\n' | '\r') => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Binary unit prefixes: sizes are in powers of 1024.
const PREFIXES: [&str; 7] = ["", "K", "M", "G", "T", "P", "E"];

/// `bytes` in the largest unit that keeps the number at or above 1 (below 1024), with its prefix.
fn scaled(bytes: f64) -> (f64, &'static str) {
    let mut v = bytes;
    let mut unit = 0;
    while v >= 1024.0 && unit < PREFIXES.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    (v, PREFIXES[unit])
}

/// A size for sentences (the summary): `512 B`, `1.5 KiB`, `812.3 MiB`. The sign is dropped.
pub fn bytes(b: f64) -> String {
    match scaled(b.abs()) {
        (v, "") => format!("{v:.0} B"),
        (v, prefix) => format!("{v:.1} {prefix}iB"),
    }
}

/// A change of size for sentences: `+1.5 KiB`, `-812.3 MiB`.
pub fn signed_bytes(b: f64) -> String {
    let sign = if b < 0.0 { '-' } else { '+' };
    format!("{sign}{}", bytes(b))
}

/// A size in at most 6 columns (the live view): `512B`, `9.87K`, `45.2M`, `1023M`, `1.21G`.
pub fn bytes_short(n: u64) -> String {
    if n < 1024 {
        return format!("{n}B");
    }
    match scaled(n as f64) {
        (v, u) if v < 9.995 => format!("{v:.2}{u}"),
        (v, u) if v < 99.95 => format!("{v:.1}{u}"),
        (v, u) => format!("{v:.0}{u}"),
    }
}

/// A change of size in at most 7 columns: `+1.20M`, `-512K`, `0`.
pub fn signed_bytes_short(delta: i64) -> String {
    match delta {
        0 => "0".into(),
        d if d > 0 => format!("+{}", bytes_short(d as u64)),
        d => format!("-{}", bytes_short(d.unsigned_abs())),
    }
}

/// Whole seconds from a minute up, as a clock would: `12m34s`, `3h02m`.
fn minutes_or_hours(whole: u64) -> String {
    if whole < 3600 {
        format!("{}m{:02}s", whole / 60, whole % 60)
    } else {
        format!("{}h{:02}m", whole / 3600, whole / 60 % 60)
    }
}

/// A duration for sentences, to the second: `45s`, `1m15s`, `2h01m`.
pub fn duration(secs: f64) -> String {
    match secs.round() as u64 {
        s @ 0..=59 => format!("{s}s"),
        s => minutes_or_hours(s),
    }
}

/// A duration in at most 6 columns (the live view): `0.52s`, `45.6s`, `12m34s`, `3h02m`.
pub fn duration_short(s: f64) -> String {
    let s = s.max(0.0);
    if s < 9.995 {
        format!("{s:.2}s")
    } else if s < 99.95 {
        format!("{s:.1}s")
    } else {
        minutes_or_hours(s as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_lines_are_shown_on_one_printable_line() {
        assert_eq!(one_line("python app.py --x"), "python app.py --x");
        assert_eq!(
            one_line("python -c \nimport time\n\ttime.sleep(1)\r"),
            "python -c \\nimport time\\n\\ttime.sleep(1)\\r"
        );
        // An escape sequence in an argument (clear screen) arrives as text, not as a command.
        assert_eq!(one_line("evil \u{1b}[2J"), "evil \\x1b[2J");
        assert_eq!(one_line("naïve ✓"), "naïve ✓");
    }

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

    #[test]
    fn markup_escapes() {
        assert_eq!(
            escape_markup("a<b>&\"c'\u{1}\td"),
            "a&lt;b&gt;&amp;&quot;c&#39; \td"
        );
        assert_eq!(escape_markup("grüße"), "grüße");
    }

    #[test]
    fn sizes() {
        assert_eq!(bytes(512.0), "512 B");
        assert_eq!(bytes(1536.0), "1.5 KiB");
        assert_eq!(bytes(3.0 * 1024.0 * 1024.0 * 1024.0), "3.0 GiB");
        assert_eq!(signed_bytes(-1536.0), "-1.5 KiB");
        assert_eq!(signed_bytes(0.0), "+0 B");
        assert_eq!(bytes_short(512), "512B");
        assert_eq!(bytes_short(10_105), "9.87K");
        assert_eq!(bytes_short(45_200 << 10), "44.1M");
        assert_eq!(bytes_short(1023 << 20), "1023M");
        assert_eq!(bytes_short(1300 << 20), "1.27G");
        assert_eq!(signed_bytes_short(-(2 << 20)), "-2.00M");
        assert_eq!(signed_bytes_short(0), "0");
    }

    #[test]
    fn durations() {
        assert_eq!(duration(44.6), "45s");
        assert_eq!(duration(75.0), "1m15s");
        assert_eq!(duration(7300.0), "2h01m");
        assert_eq!(duration_short(0.523), "0.52s");
        assert_eq!(duration_short(45.61), "45.6s");
        assert_eq!(duration_short(754.0), "12m34s");
        assert_eq!(duration_short(10_920.0), "3h02m");
        assert_eq!(duration_short(-1.0), "0.00s");
    }
}
