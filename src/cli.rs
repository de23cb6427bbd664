//! Command-line interface (clap). Turns arguments into the plain config structs the library
//! takes; nothing else in the crate knows about clap.
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::dump::DumpConfig;
use crate::heap::HeapConfig;
use crate::output::Format;
use crate::profile::{AggregateOptions, Measure};
use crate::record::{RecordConfig, RecordTarget};
use crate::session::PauseMode;
use crate::top::TopConfig;

/// A sampling profiler for Python that reads stacks and memory from outside the process.
#[derive(Debug, Parser)]
#[command(name = "pyprobe", version, about, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Sample a program and write a flamegraph (or another format).
    Record(RecordArgs),
    /// Print the current stack of every thread of a running program.
    Dump(DumpArgs),
    /// Live view: the hot functions and memory of one process (--pid), or every Python
    /// process on the machine.
    Top(TopArgs),
    /// Count the live Python objects of a running program by type (a heap census).
    Heap(HeapArgs),
}

/// Options shared by commands that read a process.
#[derive(Debug, Args)]
pub struct PauseArgs {
    /// Read while the target runs (default for record and top); where stacks change faster
    /// than a read (call-heavy code), samples are still read paused, for true proportions.
    #[arg(long, conflicts_with = "blocking")]
    pub nonblocking: bool,
    /// Stop the target while each sample is read (exact, but slows the target).
    #[arg(long)]
    pub blocking: bool,
}

/// How memory growth is charged to code (record and top).
#[derive(Debug, Args)]
pub struct MemoryArgs {
    /// Page faults per record of the page-fault events that name the thread growing memory
    /// (default 64: growth is seen every 256 KiB).
    #[arg(long, value_name = "PAGES", default_value = "64", value_parser = parse_fault_period)]
    pub fault_period: u64,
    /// Do not use page-fault events: charge growth to the threads whose fault counts moved
    /// (the fallback used where the kernel refuses them).
    #[arg(long)]
    pub no_fault_events: bool,
}

impl MemoryArgs {
    fn fault_period(&self) -> Option<u64> {
        (!self.no_fault_events).then_some(self.fault_period)
    }
}

fn parse_fault_period(text: &str) -> Result<u64, String> {
    match text.parse::<u64>() {
        Ok(n) if (1..=1 << 20).contains(&n) => Ok(n),
        _ => Err(format!(
            "{text:?} is not a number of pages from 1 to 1048576 (e.g. 64 = every 256 KiB)"
        )),
    }
}

impl PauseArgs {
    fn mode(&self, default: PauseMode) -> PauseMode {
        if self.blocking {
            PauseMode::Blocking
        } else if self.nonblocking {
            PauseMode::NonBlocking
        } else {
            default
        }
    }
}

/// `pyprobe record`.
#[derive(Debug, Args)]
pub struct RecordArgs {
    /// PID of a running Python process.
    #[arg(short, long, value_parser = parse_pid, allow_negative_numbers = true)]
    pub pid: Option<i32>,
    /// Samples per second.
    #[arg(short, long, default_value = "100", value_parser = parse_rate, allow_negative_numbers = true)]
    pub rate: f64,
    /// Seconds of wall time to record (default: until Ctrl-C or the program exits).
    #[arg(short, long, value_parser = parse_duration, allow_negative_numbers = true)]
    pub duration: Option<Duration>,
    /// Output format: flamegraph, collapsed (alias raw), speedscope, html, pprof, gecko.
    #[arg(short, long, default_value = "flamegraph")]
    pub format: Format,
    /// Output file, `-` for standard output (default: pyprobe-<pid>-<time>.<ext>).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// One root per thread in the output.
    #[arg(long)]
    pub threads: bool,
    /// Include idle (sleeping, waiting) threads.
    #[arg(long)]
    pub idle: bool,
    /// Only samples of the thread holding the GIL.
    #[arg(long)]
    pub gil: bool,
    /// Aggregate by function, ignoring line numbers.
    #[arg(long)]
    pub function: bool,
    /// What flamegraph and collapsed output count: samples (time), rss-growth (bytes of
    /// resident memory growth charged to the code running while it grew), or rss-release.
    #[arg(short, long, default_value = "samples")]
    pub weight: Measure,
    /// Pausing.
    #[command(flatten)]
    pub pause: PauseArgs,
    /// How memory growth is charged.
    #[command(flatten)]
    pub memory: MemoryArgs,
    /// Show native (C) frames under the Python frames that called them, from perf samples of
    /// each thread's registers and stack (no stop; ptrace stops where perf is refused).
    #[arg(long)]
    pub native: bool,
    /// Heap censuses while recording (what `pyprobe heap` shows: live objects by type), at
    /// the start, each time RSS passes the last census's by 10%, and at the end; the HTML
    /// report shows the one at the peak and what changed since the start.
    #[arg(long)]
    pub heap: bool,
    /// Continuous profiling: send each window of the recording, as it closes, to this plain
    /// http:// server — a Pyroscope server (--push-format pprof) or an OpenTelemetry
    /// collector (otlp) — instead of writing a file.
    #[arg(long, value_name = "URL", value_parser = parse_push_url, conflicts_with = "output")]
    pub push: Option<crate::push::Url>,
    /// Length of a pushed window, e.g. 10s, 500ms, 1m.
    #[arg(long, value_name = "TIME", default_value = "10s", value_parser = parse_push_every, requires = "push")]
    pub push_every: Duration,
    /// What --push sends: pprof (Pyroscope's /ingest) or otlp (OTLP profiles, protobuf).
    #[arg(long, value_enum, default_value = "pprof", requires = "push")]
    pub push_format: crate::push::PushFormat,
    /// Service name of the pushed profiles (default: the script's or program's name).
    #[arg(long, value_name = "NAME", requires = "push")]
    pub push_service: Option<String>,
    /// Follow the process's descendants too (multiprocessing, subprocesses, Python started by
    /// a shell): each process's stacks under a root `process PID: command`, RSS of the tree.
    #[arg(long)]
    pub subprocesses: bool,
    /// Program to launch and profile: `pyprobe record -- python app.py args`.
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

/// `pyprobe dump`.
#[derive(Debug, Args)]
pub struct DumpArgs {
    /// PID of a running Python process.
    #[arg(short, long, value_parser = parse_pid, allow_negative_numbers = true)]
    pub pid: i32,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Show full file paths.
    #[arg(long)]
    pub full_filenames: bool,
    /// Pausing (dump pauses by default, for a consistent picture).
    #[command(flatten)]
    pub pause: PauseArgs,
    /// Show native (C) frames merged with the Python ones: running threads are read from
    /// perf samples without stopping; idle ones in a brief stop (unless --nonblocking).
    #[arg(long)]
    pub native: bool,
}

/// `pyprobe heap`.
#[derive(Debug, Args)]
pub struct HeapArgs {
    /// PID of a running Python process.
    #[arg(short, long, value_parser = parse_pid, allow_negative_numbers = true)]
    pub pid: i32,
    /// Types shown (the text output; JSON has them all).
    #[arg(long, default_value = "25")]
    pub top: usize,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Take two censuses SECS apart and show what grew.
    #[arg(long, value_name = "SECS", value_parser = parse_diff_seconds)]
    pub diff: Option<Duration>,
    /// Stop the target while each census is read (a consistent picture; the pause is
    /// reported). By default the target keeps running.
    #[arg(long)]
    pub blocking: bool,
}

impl HeapArgs {
    /// The library's config.
    pub fn to_config(&self) -> HeapConfig {
        HeapConfig {
            pid: self.pid,
            top: self.top.max(1),
            json: self.json,
            diff: self.diff,
            pause: if self.blocking {
                PauseMode::Blocking
            } else {
                PauseMode::NonBlocking
            },
        }
    }
}

fn parse_diff_seconds(s: &str) -> Result<Duration, String> {
    match s.trim().parse::<f64>() {
        Ok(secs) if (0.0..=86_400.0).contains(&secs) => Ok(Duration::from_secs_f64(secs)),
        _ => Err(format!(
            "{s} is not a number of seconds between 0 and 86400"
        )),
    }
}

/// `pyprobe top`.
#[derive(Debug, Args)]
pub struct TopArgs {
    /// PID of a running Python process (default: list every Python process).
    #[arg(short, long, value_parser = parse_pid, allow_negative_numbers = true)]
    pub pid: Option<i32>,
    /// Samples per second.
    #[arg(short, long, default_value = "100", value_parser = parse_rate, allow_negative_numbers = true)]
    pub rate: f64,
    /// Include idle (sleeping, waiting) threads.
    #[arg(long)]
    pub idle: bool,
    /// Pausing (top never stops the target by default).
    #[command(flatten)]
    pub pause: PauseArgs,
    /// How memory growth is charged.
    #[command(flatten)]
    pub memory: MemoryArgs,
    /// Native (C) frames merged with the Python ones (one process, --pid).
    #[arg(long)]
    pub native: bool,
    /// With --pid: the process and its descendants, each process a row `process PID: command`
    /// (its share of the samples).
    #[arg(long, requires = "pid", conflicts_with = "native")]
    pub subprocesses: bool,
}

impl TopArgs {
    /// The library's config.
    pub fn to_config(&self) -> TopConfig {
        TopConfig {
            pid: self.pid,
            rate_hz: self.rate,
            pause: self.pause.mode(PauseMode::NonBlocking),
            include_idle: self.idle,
            fault_period: self.memory.fault_period(),
            native: self.native,
            subprocesses: self.subprocesses,
        }
    }
}

impl RecordArgs {
    /// The library's config; errors when neither or both of --pid and a command are given.
    pub fn to_config(&self) -> Result<RecordConfig, String> {
        let target = match (self.pid, self.command.is_empty()) {
            (Some(pid), true) => RecordTarget::Pid(pid),
            (None, false) => RecordTarget::Launch(self.command.clone()),
            (Some(_), false) => return Err("give either --pid or a command after --, not both".into()),
            (None, true) => {
                return Err("nothing to profile: give --pid PID or a command, e.g. `pyprobe record -- python app.py`".into())
            }
        };
        if self.subprocesses && self.native {
            return Err(
                "--native follows one process: it cannot be used with --subprocesses".into(),
            );
        }
        Ok(RecordConfig {
            target,
            rate_hz: self.rate,
            duration: self.duration,
            format: self.format,
            output: self.output.clone(),
            aggregate: AggregateOptions {
                per_thread: self.threads,
                include_idle: self.idle,
                gil_only: self.gil,
                functions_only: self.function,
            },
            pause: self.pause.mode(PauseMode::NonBlocking),
            fault_period: self.memory.fault_period(),
            progress: true,
            measure: self.weight,
            native: self.native,
            heap: self.heap,
            push: self.push.clone().map(|url| crate::push::PushConfig {
                url,
                every: self.push_every,
                format: self.push_format,
                service: self.push_service.clone(),
                timeout: Duration::from_secs(10),
            }),
            subprocesses: self.subprocesses,
        })
    }
}

impl DumpArgs {
    /// The library's config.
    pub fn to_config(&self) -> DumpConfig {
        DumpConfig {
            pid: self.pid,
            json: self.json,
            pause: self.pause.mode(PauseMode::Blocking),
            full_filenames: self.full_filenames,
            native: self.native,
        }
    }
}

fn parse_pid(s: &str) -> Result<i32, String> {
    match s.trim().parse::<i64>() {
        Ok(p) if p > 0 && p <= i64::from(i32::MAX) => Ok(p as i32),
        Ok(_) => Err(format!(
            "{s} is not a valid pid: it must be a positive number"
        )),
        Err(_) => Err(format!(
            "{s:?} is not a pid: give a number, e.g. --pid 1234 (see `pgrep -a python`)"
        )),
    }
}

fn parse_rate(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(r) if r.is_finite() && r > 0.0 && r <= 1_000_000.0 => Ok(r),
        Ok(_) => Err(format!(
            "rate {s} is out of range: give samples per second above 0, e.g. --rate 100"
        )),
        Err(_) => Err(format!(
            "{s:?} is not a rate: give samples per second, e.g. --rate 100"
        )),
    }
}

fn parse_push_url(s: &str) -> Result<crate::push::Url, String> {
    crate::push::Url::parse(s)
}

/// `10s`, `500ms`, `2m` or plain seconds; between 100 ms and a day.
fn parse_push_every(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let (number, scale) = if let Some(n) = t.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = t.strip_suffix('m') {
        (n, 60.0)
    } else {
        (t, 1.0)
    };
    match number.trim().parse::<f64>().map(|n| n * scale) {
        Ok(secs) if (0.1..=86_400.0).contains(&secs) => Ok(Duration::from_secs_f64(secs)),
        _ => Err(format!(
            "{s:?} is not a window length between 100ms and 24h, e.g. 10s"
        )),
    }
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    match s.trim().parse::<f64>() {
        Ok(d) if d.is_finite() && d > 0.0 && d < 1e9 => Ok(Duration::from_secs_f64(d)),
        Ok(_) => Err(format!(
            "duration {s} is out of range: give seconds above 0, e.g. --duration 10"
        )),
        Err(_) => Err(format!(
            "{s:?} is not a duration: give seconds, e.g. --duration 10"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("pyprobe").chain(args.iter().copied()))
    }

    #[test]
    fn py_spy_style_short_flags() {
        let cli = parse(&[
            "record", "-p", "42", "-d", "2.5", "-r", "250", "-f", "raw", "-o", "x.txt",
        ])
        .unwrap();
        let Command::Record(r) = cli.command else {
            panic!("record")
        };
        let c = r.to_config().unwrap();
        assert!(matches!(c.target, RecordTarget::Pid(42)));
        assert_eq!(c.duration, Some(Duration::from_millis(2500)));
        assert_eq!(c.rate_hz, 250.0);
        assert_eq!(c.format, Format::Collapsed);
        assert_eq!(c.pause, PauseMode::NonBlocking);
    }

    #[test]
    fn launch_mode_takes_the_rest() {
        let cli = parse(&["record", "--", "python", "app.py", "--flag"]).unwrap();
        let Command::Record(r) = cli.command else {
            panic!("record")
        };
        match r.to_config().unwrap().target {
            RecordTarget::Launch(argv) => assert_eq!(argv, ["python", "app.py", "--flag"]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bad_numbers_are_rejected_with_a_hint() {
        for args in [
            &["record", "-p", "1", "-r", "0"][..],
            &["record", "-p", "1", "-r", "-5"],
            &["record", "-p", "1", "-r", "fast"],
            &["record", "-p", "1", "-d", "0"],
            &["record", "-p", "1", "-d", "soon"],
            &["record", "-p", "abc"],
            &["record", "-p", "1", "-f", "png"],
            &["dump", "-p", "-3"],
        ] {
            let err = parse(args).unwrap_err().to_string();
            assert!(
                err.contains("e.g.") || err.contains("expected one of") || err.contains("positive"),
                "{args:?}: {err}"
            );
        }
        let cli = parse(&[
            "record",
            "-p",
            "5",
            "--push",
            "http://127.0.0.1:4040",
            "--push-every",
            "500ms",
            "--push-format",
            "otlp",
        ])
        .unwrap();
        let Command::Record(r) = cli.command else {
            panic!("record")
        };
        let push = r.to_config().unwrap().push.unwrap();
        assert_eq!(push.every, Duration::from_millis(500));
        assert_eq!(push.format, crate::push::PushFormat::Otlp);
        assert_eq!(push.url.port, 4040);
        for args in [
            &["record", "-p", "5", "--push", "localhost:4040"][..],
            &[
                "record",
                "-p",
                "5",
                "--push",
                "http://x",
                "--push-every",
                "0",
            ],
            &["record", "-p", "5", "--push", "http://x", "-o", "a.svg"],
            &["record", "-p", "5", "--push-every", "5s"],
        ] {
            assert!(parse(args).is_err(), "{args:?}");
        }
        let cli = parse(&["record"]).unwrap();
        let Command::Record(r) = cli.command else {
            panic!("record")
        };
        assert!(r.to_config().unwrap_err().contains("--pid"));
    }

    #[test]
    fn top_with_and_without_pid() {
        let cli = parse(&["top"]).unwrap();
        let Command::Top(t) = cli.command else {
            panic!("top")
        };
        let c = t.to_config();
        assert_eq!(
            (c.pid, c.rate_hz, c.pause),
            (None, 100.0, PauseMode::NonBlocking)
        );
        let cli = parse(&["top", "-p", "42", "-r", "250", "--blocking", "--idle"]).unwrap();
        let Command::Top(t) = cli.command else {
            panic!("top")
        };
        let c = t.to_config();
        assert_eq!(
            (c.pid, c.rate_hz, c.pause),
            (Some(42), 250.0, PauseMode::Blocking)
        );
        assert!(c.include_idle);
        assert!(parse(&["top", "-p", "x"]).is_err());
    }

    #[test]
    fn dump_blocks_by_default() {
        let cli = parse(&["dump", "--pid", "7", "--json"]).unwrap();
        let Command::Dump(d) = cli.command else {
            panic!("dump")
        };
        assert_eq!(d.to_config().pause, PauseMode::Blocking);
        assert!(d.to_config().json);
    }

    #[test]
    fn heap_runs_without_pausing_unless_asked() {
        let cli = parse(&["heap", "--pid", "7", "--diff", "2.5", "--top", "0"]).unwrap();
        let Command::Heap(h) = cli.command else {
            panic!("heap")
        };
        let c = h.to_config();
        assert_eq!(c.pause, PauseMode::NonBlocking);
        assert_eq!(c.diff, Some(Duration::from_millis(2500)));
        assert_eq!(c.top, 1, "at least one row");
        let cli = parse(&["heap", "--pid", "7", "--blocking"]).unwrap();
        let Command::Heap(h) = cli.command else {
            panic!("heap")
        };
        assert_eq!(h.to_config().pause, PauseMode::Blocking);
        assert!(parse(&["heap", "--pid", "7", "--diff", "-1"]).is_err());
        assert!(parse(&["heap"]).is_err(), "--pid is required");
    }
}
