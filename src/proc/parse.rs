//! Parsers of /proc file contents, free of I/O so they are tested on fixed text. Formats:
//! proc(5), https://man7.org/linux/man-pages/man5/proc.5.html
use std::path::PathBuf;

/// The fields of `/proc/PID/stat` (or `/proc/PID/task/TID/stat`) pyprobe uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    /// State letter (field 3): `R` running, `S` sleeping, `D` disk wait, `T`/`t` stopped,
    /// `Z` zombie, `X` dead.
    pub state: char,
    /// `ppid` (field 4), the parent's pid.
    pub ppid: Option<i32>,
    /// `flags` (field 9), the kernel's `PF_*` bits.
    pub flags: Option<u64>,
    /// `utime` (field 14), user CPU time in clock ticks.
    pub utime: Option<u64>,
    /// `stime` (field 15), system CPU time in clock ticks.
    pub stime: Option<u64>,
    /// `starttime` (field 22), clock ticks after boot: with the pid, it names one process, so
    /// a reused pid is told apart.
    pub start_time: Option<u64>,
}

impl Stat {
    /// Parse a stat line. The command name in parentheses (field 2) may itself hold spaces and
    /// `)`, so the fields are counted after the *last* `)`. `None` without a state.
    pub fn parse(stat: &[u8]) -> Option<Stat> {
        let state = state(stat)?;
        let close = stat.iter().rposition(|&b| b == b')')?;
        let rest = std::str::from_utf8(&stat[close + 1..]).unwrap_or("");
        let fields: Vec<&str> = rest.split_ascii_whitespace().collect();
        // 1-based field numbers of proc(5); `fields[0]` is field 3.
        let field = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<u64>().ok());
        Some(Stat {
            state,
            ppid: fields.get(1).and_then(|v| v.parse().ok()),
            flags: field(9),
            utime: field(14),
            stime: field(15),
            start_time: field(22),
        })
    }

    /// User + system CPU time in clock ticks, when both are there.
    pub fn cpu_ticks(&self) -> Option<u64> {
        Some(self.utime? + self.stime?)
    }

    /// Whether the process is a kernel thread: `PF_KTHREAD` in `flags`.
    /// https://github.com/torvalds/linux/blob/v6.1/include/linux/sched.h
    pub fn is_kernel_thread(&self) -> bool {
        const PF_KTHREAD: u64 = 0x0020_0000;
        self.flags.is_some_and(|f| f & PF_KTHREAD != 0)
    }

    /// Whether the process has exited and waits to be reaped (`Z`) or is being torn down (`X`).
    pub fn is_zombie(&self) -> bool {
        matches!(self.state, 'Z' | 'X')
    }
}

/// Only the state letter of a stat line: what the sampler asks on every sample, so it neither
/// allocates nor parses the numbers.
pub fn state(stat: &[u8]) -> Option<char> {
    let close = stat.iter().rposition(|&b| b == b')')?;
    stat[close + 1..]
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .map(|&b| b as char)
}

/// The page faults a stat line counts, minor plus major (`minflt`, field 10, and `majflt`,
/// field 12): for a thread's `/proc/PID/task/TID/stat`, the faults that thread took. Read on
/// the sampler's clock, so it neither allocates nor parses the other numbers.
pub fn fault_count(stat: &[u8]) -> Option<u64> {
    let close = stat.iter().rposition(|&b| b == b')')?;
    let mut fields = stat[close + 1..]
        .split(|b| b.is_ascii_whitespace())
        .filter(|f| !f.is_empty());
    // The first field after the name is field 3 (the state): minflt is 7 further, majflt 2 on.
    let minor = number(fields.nth(7)?)?;
    let major = number(fields.nth(1)?)?;
    minor.checked_add(major)
}

/// A decimal number of ASCII digits; `None` for anything else or an overflow.
fn number(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 20 {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &d| {
        d.is_ascii_digit()
            .then(|| n.checked_mul(10)?.checked_add(u64::from(d - b'0')))
            .flatten()
    })
}

/// The second number of a statm line: resident pages.
pub(crate) fn statm_resident(line: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(line).ok()?;
    text.split_ascii_whitespace().nth(1)?.parse().ok()
}

/// NUL-separated arguments; a trailing NUL does not make an empty argument.
pub(crate) fn cmdline(bytes: &[u8]) -> Vec<String> {
    let bytes = bytes.strip_suffix(&[0]).unwrap_or(bytes);
    if bytes.is_empty() {
        return Vec::new();
    }
    bytes
        .split(|&b| b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect()
}

/// The kernel appends " (deleted)" to a file that was unlinked after it was opened or mapped
/// (a binary upgraded in place): the path it had is what names it.
pub(crate) fn strip_deleted(p: PathBuf) -> PathBuf {
    match p.to_str().and_then(|s| s.strip_suffix(" (deleted)")) {
        Some(s) => PathBuf::from(s),
        None => p,
    }
}

/// The text after `key` on the first line that starts with it, trimmed (`Key:\tvalue` lines of
/// `/proc/PID/status` and `/proc/meminfo`).
pub(crate) fn field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .map(str::trim)
}

/// The number of a `Key:   1234 kB` line of `/proc/PID/status` or `/proc/meminfo`, in KiB.
pub(crate) fn kib_field(text: &[u8], key: &str) -> Option<u64> {
    let text = std::str::from_utf8(text).ok()?;
    field(text, key)?
        .split_ascii_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_after_a_tricky_command_name() {
        let text = b"4242 (my (odd) prog) S 1 4242 4242 0 -1 4194304 500 0 0 0 \
                    150 25 0 0 20 0 3 0 987654 10000000 2000 18446744073709551615";
        let stat = Stat::parse(text).unwrap();
        assert_eq!(
            stat,
            Stat {
                state: 'S',
                ppid: Some(1),
                flags: Some(4194304),
                utime: Some(150),
                stime: Some(25),
                start_time: Some(987654),
            }
        );
        assert_eq!(stat.cpu_ticks(), Some(175));
        assert!(!stat.is_kernel_thread() && !stat.is_zombie());
        assert_eq!(Stat::parse(b"garbage"), None);
        // A short line keeps its state; the missing numbers are missing, not zero.
        let short = Stat::parse(b"1 (x) Z 1 2").unwrap();
        assert_eq!((short.state, short.cpu_ticks()), ('Z', None));
        assert!(short.is_zombie());
        let kthreadd =
            Stat::parse(b"2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 0 0 0 20 0 1 0 3 0 0");
        assert!(kthreadd.unwrap().is_kernel_thread());
    }

    #[test]
    fn fault_counts() {
        // minflt 500, cminflt 7, majflt 3.
        let text = b"4242 (my (odd) prog) S 1 4242 4242 0 -1 4194304 500 7 3 0 150 25";
        assert_eq!(fault_count(text), Some(503));
        assert_eq!(fault_count(b"1 (x) R 1 2 3 4 5 6 0 0 0"), Some(0));
        assert_eq!(fault_count(b"1 (x) R 1 2 3 4 5 6 12"), None, "no majflt");
        assert_eq!(fault_count(b"1 (x) R 1 2 3 4 5 6 1x 0 2"), None);
        assert_eq!(fault_count(b"garbage"), None);
        let huge = b"1 (x) R 1 2 3 4 5 6 18446744073709551615 0 1";
        assert_eq!(fault_count(huge), None, "overflow");
        assert_eq!(number(b"123456789012345678901"), None);
    }

    #[test]
    fn state_alone() {
        assert_eq!(state(b"12 (a b) c)) S 1 2"), Some('S'));
        assert_eq!(state(b"12 (x) R"), Some('R'));
        assert_eq!(state(b"garbage"), None);
        assert_eq!(state(b"12 (x)   "), None);
    }

    #[test]
    fn statm_cmdline_and_deleted_paths() {
        assert_eq!(statm_resident(b"6215 1529 1083 250 0 546 0\n"), Some(1529));
        assert_eq!(statm_resident(b"garbage"), None);
        assert_eq!(cmdline(b"python\0-c\0x\0"), vec!["python", "-c", "x"]);
        assert_eq!(cmdline(b"python\0-c\0\0"), vec!["python", "-c", ""]);
        assert_eq!(cmdline(b""), Vec::<String>::new());
        assert_eq!(
            strip_deleted(PathBuf::from("/a/b (deleted)")),
            PathBuf::from("/a/b")
        );
        assert_eq!(strip_deleted(PathBuf::from("/a/b")), PathBuf::from("/a/b"));
    }

    #[test]
    fn status_and_meminfo_fields() {
        let status =
            b"Name:\tpython3\nVmRSS:\t   13512 kB\nRssAnon:\t    7040 kB\nVmSwap:\t       0 kB\n";
        assert_eq!(kib_field(status, "RssAnon:"), Some(7040));
        assert_eq!(kib_field(status, "VmSwap:"), Some(0));
        assert_eq!(kib_field(status, "RssFile:"), None);
        let meminfo = b"MemTotal:       24576000 kB\nMemFree:  1 kB\nMemAvailable:   20000000 kB\n";
        assert_eq!(kib_field(meminfo, "MemAvailable:"), Some(20_000_000));
        assert_eq!(kib_field(meminfo, "MemTotal:"), Some(24_576_000));
        assert_eq!(kib_field(b"\xff\xfe", "MemTotal:"), None);
        let text = "Uid:\t1000\t1000\t1000\t1000\nTracerPid:\t0\nCapEff:\t000001ffffffffff\n";
        assert_eq!(field(text, "TracerPid:"), Some("0"));
        assert_eq!(field(text, "Uid:"), Some("1000\t1000\t1000\t1000"));
        assert_eq!(field(text, "Gid:"), None);
    }
}
