//! `pyprobe record`: sample a process (attached by pid or launched) and write a profile.
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::TryRecvError;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::output::{check_writable, write_file_atomic, writer_for, Format, OutputOptions};
use crate::process::{EndSignal, Ending, Launched};
use crate::profile::{AggregateOptions, Measure, MemorySummary, Profile};
use crate::sampler::{ClockStats, Probe, Sampler, SamplerConfig, StopReason, Tick};
use crate::session::{PauseMode, Session};
use crate::subprocesses::{ProcessReport, TreeProbe};

/// How often the collector drains the sampler's channel at most: each wake-up costs ~15 µs of
/// CPU on this machine kind, as much as a sample, so it should be rare.
const COLLECT_EVERY: Duration = Duration::from_millis(50);
/// Samples the channel may hold between two drains (a quarter of its capacity, 4096).
const COLLECT_BACKLOG: u32 = 1024;

/// Lower this (the collecting) thread's priority: a drain of the channel takes a millisecond or
/// more of aggregation at high rates, and where both threads share one core the sampler waking
/// meanwhile must not wait for it (it would miss samples). Per-thread nice is Linux behaviour.
fn yield_to_sampler() {
    // SAFETY: gettid and setpriority take plain integers; a failure only leaves the priority.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, 10);
    }
}

/// What to sample.
#[derive(Debug, Clone)]
pub enum RecordTarget {
    /// A running process.
    Pid(i32),
    /// Start this command and profile it.
    Launch(Vec<String>),
}

/// What `record` does.
#[derive(Debug, Clone)]
pub struct RecordConfig {
    /// The process.
    pub target: RecordTarget,
    /// Samples per second.
    pub rate_hz: f64,
    /// Wall-clock duration (`None`: until Ctrl-C or the target exits).
    pub duration: Option<Duration>,
    /// Output format.
    pub format: Format,
    /// Output path (`None`: `pyprobe-<pid>-<time>.<ext>`).
    pub output: Option<PathBuf>,
    /// What is aggregated.
    pub aggregate: AggregateOptions,
    /// Blocking or not.
    pub pause: PauseMode,
    /// Show a progress line on stderr (only when it is a terminal).
    pub progress: bool,
    /// What flamegraph and collapsed output count.
    pub measure: Measure,
    /// Page faults per record of the page-fault events (`None`: the fallback, per-thread fault
    /// counts).
    pub fault_period: Option<u64>,
    /// Native frames merged with the Python ones (`--native`).
    pub native: bool,
    /// `--heap`: heap censuses during the recording (see [`crate::heap::during`]).
    pub heap: bool,
    /// `--push`: send windows to a server instead of writing a file.
    pub push: Option<crate::push::PushConfig>,
    /// Follow the target's descendants (`--subprocesses`).
    pub subprocesses: bool,
}

/// What happened, for the summary and the exit code.
#[derive(Debug)]
pub struct RecordOutcome {
    /// `--subprocesses`: the processes of the tree and what became of each.
    pub processes: Option<ProcessReport>,
    /// Where the profile was written.
    pub output: PathBuf,
    /// Ticks that produced stacks.
    pub samples: u64,
    /// Ticks that failed.
    pub errors: u64,
    /// Failed ticks by kind, most frequent first.
    pub error_kinds: Vec<(String, u64)>,
    /// Samples of the non-blocking mode read with the target paused, because its stacks moved
    /// faster than they could be copied (see [`crate::session::Session::paused_samples`]).
    pub paused_samples: u64,
    /// Wall time sampled.
    pub elapsed: Duration,
    /// Why sampling stopped.
    pub stop: StopReason,
    /// The sampler's own timing.
    pub clock: ClockStats,
    /// Exit status of a launched program that exited on its own.
    pub child_status: Option<ExitStatus>,
    /// A launched program that was still running when the recording ended, and that pyprobe
    /// therefore ended.
    pub stopped_child: Option<StoppedChild>,
    /// Memory over the recording (absent when RSS could not be read).
    pub memory: Option<MemorySummary>,
    /// `--native`: how the native stacks fitted.
    pub native: Option<crate::native::capture::NativeStats>,
    /// `--push`: what was sent (no file is written then).
    pub pushed: Option<crate::push::PushSummary>,
}

impl RecordOutcome {
    /// The one-line summary printed at the end.
    pub fn summary(&self) -> String {
        let secs = self.elapsed.as_secs_f64();
        let rate = if secs > 0.0 {
            self.samples as f64 / secs
        } else {
            0.0
        };
        let why = match &self.stop {
            StopReason::Duration => "duration reached".to_string(),
            StopReason::Interrupted => "interrupted".to_string(),
            StopReason::TargetExited => "target exited".to_string(),
            StopReason::TargetExeced(exe) => format!(
                "target exec'd {}: a new program, not profiled; attach again to profile it",
                exe.display()
            ),
            StopReason::TooManyErrors(e) => format!("stopped after repeated errors: {e}"),
        };
        let wrote = if let Some(pushed) = &self.pushed {
            pushed.to_string()
        } else if self.output == Path::new(crate::output::STDOUT_PATH) {
            "wrote standard output".into()
        } else {
            format!("wrote {}", self.output.display())
        };
        let mut line = format!(
            "pyprobe: {} samples, {} errors, {:.2} s at {:.1} Hz ({why}); {wrote}",
            self.samples, self.errors, secs, rate,
        );
        if let Some(n) = &self.native {
            line += &format!(
                "; native: {} thread samples merged ({} partial), {} with Python frames only (stack moved {}, calls unmatched {}, not on a CPU {})",
                n.merged,
                n.partial,
                n.moved + n.mismatched + n.without,
                n.moved,
                n.mismatched,
                n.without
            );
        }
        if !self.error_kinds.is_empty() {
            let kinds: Vec<String> = self
                .error_kinds
                .iter()
                .take(3)
                .map(|(k, n)| format!("{n} {k}"))
                .collect();
            line += &format!("; errors: {}", kinds.join(", "));
        }
        if self.paused_samples > 0 {
            line += &format!(
                "; {} read paused (stacks changing faster than a read: call-heavy code)",
                self.paused_samples
            );
        }
        // Ticks skip the time the target is held stopped: say so where it is visible.
        if self.clock.held.as_secs_f64() > secs * 0.05 {
            line += &format!(
                "; target held stopped {:.0}% of the time (ticks follow its running time)",
                self.clock.held.as_secs_f64() * 100.0 / secs
            );
        }
        if self.clock.missed > 0 {
            line += &format!(
                "; fell behind: {} samples missed, worst lateness {:.1} ms",
                self.clock.missed,
                self.clock.max_late.as_secs_f64() * 1e3
            );
        } else if self.clock.late > 0 {
            line += &format!(
                "; late ticks made up: {} (worst lateness {:.1} ms)",
                self.clock.late,
                self.clock.max_late.as_secs_f64() * 1e3
            );
        }
        if let Some(m) = &self.memory {
            line += &format!("\npyprobe: {m}");
        }
        if let Some(processes) = &self.processes {
            line += &format!("\n{}", processes.summary());
        }
        if let Some(stopped) = &self.stopped_child {
            line += &format!("\n{stopped}");
        }
        line
    }
}

/// A launched program pyprobe ended because the recording ended first.
#[derive(Debug, Clone, PartialEq)]
pub struct StoppedChild {
    /// Its pid.
    pub pid: i32,
    /// `--duration`, if that is what ended the recording; otherwise it was interrupted.
    pub after: Option<Duration>,
    /// The signal that ended it.
    pub by: EndSignal,
}

impl std::fmt::Display for StoppedChild {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "pyprobe: stopped the program it started (pid {})",
            self.pid
        )?;
        match self.after {
            Some(d) => write!(f, " after the {} s recording", d.as_secs_f64())?,
            None => write!(f, " when the recording was interrupted")?,
        }
        let grace = crate::process::launched::GRACE.as_secs_f64();
        match self.by {
            EndSignal::Interrupt => Ok(()),
            EndSignal::Terminate => write!(f, " (with SIGTERM: it outlived SIGINT by {grace} s)"),
            EndSignal::Kill => write!(
                f,
                " (with SIGKILL: it outlived SIGINT and SIGTERM by {grace} s each)"
            ),
        }
    }
}

/// Record a profile as `config` says.
pub fn run(config: &RecordConfig) -> anyhow::Result<RecordOutcome> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone()).context("installing the Ctrl-C handler")?;
    }
    // Check the output path before sampling, not after an hour of it.
    if let Some(path) = &config.output {
        check_writable(path)?;
    }
    // Killed on drop: an error below never leaves the program we started behind.
    let mut launched: Option<Launched> = None;
    let (probe, pid, title, fault_period) = match open_probe(config, &mut launched)? {
        Opened::Probe {
            probe,
            pid,
            title,
            fault_period,
        } => (probe, pid, title, fault_period),
        Opened::Finished(pid, status) => {
            let RecordTarget::Launch(argv) = &config.target else {
                unreachable!("only a launched program finishes before sampling")
            };
            return finish_without_samples(config, argv, pid, status);
        }
    };
    let output = config
        .output
        .clone()
        .unwrap_or_else(|| default_output(pid, config.format));
    if config.push.is_none() {
        check_writable(&output)?;
    }
    let mut pusher = config.push.as_ref().map(|push| {
        crate::push::Pusher::start(
            push,
            crate::push::Labels::new(push.service.as_deref(), pid, &title),
        )
    });
    let interval = Duration::from_secs_f64(1.0 / config.rate_hz);
    let collect_every = COLLECT_EVERY.min(interval * COLLECT_BACKLOG);
    let mut profile = Profile::new(title, interval);
    let started = Instant::now();
    let sampler = Sampler::start_probe(
        probe,
        SamplerConfig {
            rate_hz: config.rate_hz,
            duration: config.duration,
            fault_period,
        },
        stop.clone(),
    );
    profile.attribution = sampler.attribution().clone();
    let mut censuses = config
        .heap
        .then(|| crate::heap::during::HeapCensuses::start(pid, started));
    let show_progress = config.progress && std::io::stderr().is_terminal();
    let mut last_progress = Instant::now();
    yield_to_sampler();
    let mut errors = 0u64;
    let mut error_kinds: std::collections::BTreeMap<String, u64> = Default::default();
    // Drain without blocking, then sleep: a collector parked in recv() would have to be woken
    // by the sampler on every sample, which costs the sampler more than the sample itself.
    loop {
        if let Some(pusher) = pusher.as_mut().filter(|p| p.due()) {
            pusher.close_window(&mut profile);
        }
        let tick = match sampler.ticks.try_recv() {
            Ok(tick) => tick,
            Err(TryRecvError::Disconnected) => break,
            Err(TryRecvError::Empty) => {
                if show_progress && last_progress.elapsed() > Duration::from_millis(250) {
                    last_progress = Instant::now();
                    let secs = started.elapsed().as_secs_f64();
                    // Pushed windows' samples count too.
                    let samples = profile.sample_count
                        + pusher.as_ref().map_or(0, crate::push::Pusher::samples);
                    crate::say_inline!(
                        "\rpyprobe: {} samples, {:.1} Hz, {} errors, {} missed, {:.1} s ",
                        samples,
                        samples as f64 / secs.max(1e-9),
                        errors,
                        sampler.missed(),
                        secs
                    );
                }
                std::thread::sleep(collect_every);
                continue;
            }
        };
        match tick {
            Tick::Sample {
                at,
                stacks,
                rss,
                moved,
            } => {
                if let Some(c) = censuses.as_mut() {
                    c.on_rss(at.as_secs_f64(), rss);
                }
                profile.add_tick_counted(at, &stacks, rss, &moved, &config.aggregate)
            }
            Tick::Fault {
                at,
                stacks,
                rss,
                faults,
            } => {
                if let Some(c) = censuses.as_mut() {
                    c.on_rss(at.as_secs_f64(), rss);
                }
                profile.add_fault(at, &stacks, &faults, rss, &config.aggregate)
            }
            Tick::Details { at, details } => profile.add_details(at, details),
            // A failed tick is skipped whole: the next reading's RSS change then spans both
            // intervals and is charged to the stacks seen around it.
            Tick::Error { error, at, .. } => {
                errors += 1;
                *error_kinds.entry(error.kind()).or_default() += 1;
                if std::env::var_os("PYPROBE_DEBUG").is_some() {
                    crate::say!(
                        "pyprobe: sample failed at {:.3} s: {error}",
                        at.as_secs_f64()
                    );
                }
            }
        }
    }
    if show_progress {
        crate::say_inline!("\r\x1b[K");
    }
    let (stop_reason, clock, probe) = sampler.join();
    let processes = probe.processes();
    profile.processes = processes.clone();
    if std::env::var_os("PYPROBE_DEBUG").is_some() {
        let each = |n: u64, time: Duration| time.as_secs_f64() * 1e6 / n.max(1) as f64;
        crate::say!(
            "pyprobe: fault counts read at {} of {} ticks, {:.1} µs each; {} page-fault \
             wake-ups, {:.1} µs each",
            clock.fault_count_reads,
            profile.sample_count + errors,
            each(clock.fault_count_reads, clock.fault_count_time),
            clock.fault_wakes,
            each(clock.fault_wakes, clock.fault_wake_time)
        );
    }
    profile.error_count = errors;
    // The sampler's own span: the collector's last drain and the join are not sampling time.
    profile.duration = clock.span;
    profile.target_gone = matches!(
        stop_reason,
        StopReason::TargetExited | StopReason::TargetExeced(_)
    );
    if let Some(c) = censuses {
        // The end census, unless the program has gone.
        let end = (!profile.target_gone).then(|| crate::proc::rss_bytes(pid));
        let (snapshots, failures) = c.finish(profile.duration.as_secs_f64(), end);
        for failure in failures {
            crate::say!("pyprobe: {failure}");
        }
        if let Some((peak, _)) = crate::heap::during::peak_and_start(&snapshots) {
            let largest: Vec<String> = peak
                .types
                .iter()
                .take(3)
                .map(|t| {
                    format!(
                        "{} {} ({})",
                        t.name,
                        t.count,
                        crate::display::bytes(t.bytes as f64)
                    )
                })
                .collect();
            crate::say!(
                "pyprobe: heap: {} censuses; at the peak ({:.1} s) {} Python objects hold {}, \
                 largest {}",
                snapshots.len(),
                peak.at,
                peak.totals.objects,
                crate::display::bytes(peak.totals.object_bytes as f64),
                largest.join(", ")
            );
        }
        profile.heap = snapshots;
    }
    let elapsed = profile.duration;
    let pushed = pusher.map(|p| p.finish(&mut profile));
    if pushed.is_none() {
        write_output(config, &profile, &output)?;
    }
    let _ = std::io::stderr().flush();
    let (child_status, stopped_child) = match launched.take() {
        None => (None, None),
        Some(child) => {
            let pid = child.pid();
            // Sampling may also have stopped early (the program exec'd another): the program
            // is then waited for, still within --duration and until Ctrl-C.
            let deadline = config.duration.map(|d| started + d);
            let interrupted = || stop.load(Ordering::Relaxed);
            let give_up = || {
                matches!(stop_reason, StopReason::Duration | StopReason::Interrupted)
                    || interrupted()
                    || deadline.is_some_and(|d| Instant::now() >= d)
            };
            match child
                .wait_or_end(give_up)
                .context("waiting for the launched program")?
            {
                Ending::Exited(status) => (Some(status), None),
                Ending::Stopped(by) => (
                    None,
                    Some(StoppedChild {
                        pid,
                        after: (stop_reason != StopReason::Interrupted && !interrupted())
                            .then_some(config.duration)
                            .flatten(),
                        by,
                    }),
                ),
            }
        }
    };
    Ok(RecordOutcome {
        output,
        samples: pushed.as_ref().map_or(profile.sample_count, |p| p.samples),
        errors,
        paused_samples: probe.paused_samples(),
        error_kinds: {
            let mut kinds: Vec<(String, u64)> = error_kinds.into_iter().collect();
            kinds.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            kinds
        },
        elapsed,
        stop: stop_reason,
        clock,
        child_status,
        stopped_child,
        // Pushed: the profile left holds only the last window's readings.
        memory: MemorySummary::of(&profile).filter(|_| pushed.is_none()),
        native: probe.native_stats(),
        pushed,
        processes,
    })
}

/// What is sampled, ready to start.
enum Opened {
    /// The probe, the pid named in the output's default name, the title, and the page-fault
    /// period to use.
    Probe {
        probe: Box<dyn Probe + Send>,
        pid: i32,
        title: String,
        fault_period: Option<u64>,
    },
    /// A launched program that finished before its interpreter could be found: pid and status.
    Finished(i32, ExitStatus),
}

/// Attach to the target (launching it first if asked), or to its tree with `--subprocesses`.
fn open_probe(config: &RecordConfig, launched: &mut Option<Launched>) -> anyhow::Result<Opened> {
    let pid = match &config.target {
        RecordTarget::Pid(pid) => *pid,
        RecordTarget::Launch(argv) => {
            let program = argv.first().context("no command given after --")?;
            if config.subprocesses {
                crate::subprocesses::become_subreaper();
            }
            let child = launched.insert(
                Launched::spawn(argv).with_context(|| format!("could not start {program:?}"))?,
            );
            child.pid()
        }
    };
    if config.subprocesses {
        let tree = TreeProbe::new(pid, config.pause)
            .with_context(|| format!("watching process {pid} and its descendants"))?;
        // Page-fault wake-ups read one process's stacks at once; across a tree of processes
        // the fallback (each thread's fault count, read when the tree's RSS changes) charges
        // growth to the threads that faulted, in whichever process.
        return Ok(Opened::Probe {
            title: tree.title(),
            probe: Box::new(tree),
            pid,
            fault_period: None,
        });
    }
    let session = match &config.target {
        RecordTarget::Pid(pid) => Session::attach(*pid, config.pause)?,
        RecordTarget::Launch(argv) => {
            match Session::attach_when_ready(pid, config.pause, Duration::from_secs(10)) {
                Ok(session) => session,
                Err(e) => {
                    // A program that finished before its interpreter could be found: report its
                    // status (and mirror it) rather than lose it behind an attach error.
                    if let Some(status) = launched.as_mut().and_then(|c| c.try_status()) {
                        return Ok(Opened::Finished(pid, status));
                    }
                    return Err(anyhow::Error::new(e)
                        .context(format!("profiling {:?} (pid {pid})", argv[0])));
                }
            }
        }
    };
    let mut session = session;
    if config.native {
        let interval = Duration::from_secs_f64(1.0 / config.rate_hz);
        crate::native::capture::enable_for_recording(&mut session, interval);
    }
    Ok(Opened::Probe {
        title: session.target().cmdline_string(),
        probe: Box::new(crate::sampler::LiveProbe::new(session)),
        pid,
        fault_period: config.fault_period,
    })
}

/// A launched program exited before sampling could start: write an empty profile (so the
/// output exists, saying why) and report the program's status.
fn finish_without_samples(
    config: &RecordConfig,
    argv: &[String],
    pid: i32,
    status: ExitStatus,
) -> anyhow::Result<RecordOutcome> {
    crate::say!(
        "pyprobe: the program exited ({status}) before its Python interpreter could be sampled"
    );
    let output = config
        .output
        .clone()
        .unwrap_or_else(|| default_output(pid, config.format));
    let mut profile = Profile::new(
        argv.join(" "),
        Duration::from_secs_f64(1.0 / config.rate_hz),
    );
    profile.target_gone = true;
    if config.push.is_none() {
        write_output(config, &profile, &output)?;
    }
    Ok(RecordOutcome {
        output,
        samples: 0,
        errors: 0,
        paused_samples: 0,
        error_kinds: Vec::new(),
        elapsed: Duration::ZERO,
        stop: StopReason::TargetExited,
        clock: ClockStats::default(),
        native: None,
        child_status: Some(status),
        stopped_child: None,
        memory: None,
        // Nothing was sampled, so nothing was sent (the summary must not name a file).
        pushed: config.push.as_ref().map(crate::push::PushSummary::nothing),
        processes: None,
    })
}

/// Write `profile` to `output` in the configured format, atomically.
fn write_output(
    config: &RecordConfig,
    profile: &Profile,
    output: &std::path::Path,
) -> anyhow::Result<()> {
    let opts = OutputOptions {
        per_thread: config.aggregate.per_thread,
        measure: config.measure,
        ..Default::default()
    };
    write_file_atomic(output, |w| {
        writer_for(config.format).write(profile, &opts, w)
    })
    .with_context(|| format!("writing {}", output.display()))
}

/// `pyprobe-<pid>-<UTC time>.<ext>` in the current directory.
pub fn default_output(pid: i32, format: Format) -> PathBuf {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    PathBuf::from(format!(
        "pyprobe-{pid}-{}.{}",
        utc_stamp(secs),
        format.extension()
    ))
}

/// `YYYYmmddTHHMMSSZ` for a Unix time (Howard Hinnant's civil-from-days algorithm).
fn utc_stamp(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::utc_stamp;

    #[test]
    fn utc_stamps() {
        assert_eq!(utc_stamp(0), "19700101T000000Z");
        assert_eq!(utc_stamp(1_795_500_000), "20261124T060000Z");
        assert_eq!(utc_stamp(951_782_400), "20000229T000000Z");
    }
}
