//! `record --push URL`: continuous profiling. The recording is cut into windows
//! (`--push-every`, 10 s by default); each window, as it closes, is encoded on the collecting
//! thread and queued for a sender thread that POSTs it — as pprof to a Pyroscope server's
//! ingest endpoint ([`pyroscope`]) or as OTLP profiles to an OpenTelemetry collector
//! ([`otlp`]). The sampler never waits for the network, and memory stays bounded however long
//! it runs: each window starts a fresh profile ([`crate::profile::Profile::next_window`]) and
//! the queue is bounded ([`sender`]).
use std::time::{Duration, Instant, SystemTime};

use crate::profile::Profile;

pub mod http;
pub mod otlp;
pub mod pyroscope;
pub mod sender;

pub use http::Url;

/// Windows the queue holds while the server is away (at 10 s a window, about 5 minutes).
const QUEUE_WINDOWS: usize = 32;
/// Bytes the queue holds at most.
const QUEUE_BYTES: usize = 8 << 20;
/// How long the end of a recording waits for the last windows to be taken.
const FINISH_GRACE: Duration = Duration::from_secs(5);

/// Where windows go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PushFormat {
    /// gzip-compressed pprof to a Pyroscope server's `/ingest`.
    Pprof,
    /// OTLP profiles (protobuf) to an OpenTelemetry collector's `/v1development/profiles`.
    Otlp,
}

/// What `--push` and its options say.
#[derive(Debug, Clone)]
pub struct PushConfig {
    /// The server's base URL.
    pub url: Url,
    /// Length of a window.
    pub every: Duration,
    /// The protocol.
    pub format: PushFormat,
    /// `service.name` (default: the target's program name).
    pub service: Option<String>,
    /// Bound of a connection and of each read and write.
    pub timeout: Duration,
}

/// The labels of every window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Labels {
    /// Service (application) name.
    pub service: String,
    /// The target's pid.
    pub pid: i32,
    /// Its command line.
    pub command: String,
    /// This machine's host name.
    pub host: String,
}

impl Labels {
    /// Labels of process `pid` running `command`; the service defaults to the base name of
    /// the script (or of the program) in the command line.
    pub fn new(service: Option<&str>, pid: i32, command: &str) -> Labels {
        let service = service.map(str::to_string).unwrap_or_else(|| {
            let words: Vec<&str> = command.split_whitespace().collect();
            // `python app.py`: the script names the service, not the interpreter.
            let script = words.iter().skip(1).find(|w| w.ends_with(".py"));
            let word = script.or(words.first()).copied().unwrap_or("python");
            word.rsplit('/')
                .next()
                .unwrap_or(word)
                .trim_end_matches(".py")
                .to_string()
        });
        Labels {
            service,
            pid,
            command: command.to_string(),
            host: host_name(),
        }
    }
}

/// The host name the kernel reports ("unknown" if it cannot be read).
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// The time span of a window.
#[derive(Debug, Clone, Copy)]
pub struct WindowInfo {
    /// When it started (wall clock).
    pub from: SystemTime,
    /// How long it lasted.
    pub duration: Duration,
}

/// One encoded window, ready to send.
#[derive(Debug, Clone)]
pub struct Request {
    /// Path and query, appended to the URL's path.
    pub path_and_query: String,
    /// `Content-Type`.
    pub content_type: String,
    /// The body.
    pub body: Vec<u8>,
}

/// What was pushed, for the summary.
#[derive(Debug, Clone)]
pub struct PushSummary {
    /// Where to.
    pub url: String,
    /// Windows closed.
    pub windows: u64,
    /// Samples over all windows.
    pub samples: u64,
    /// What the sender did.
    pub counts: sender::Counts,
}

impl PushSummary {
    /// Nothing pushed to `config`'s server.
    pub fn nothing(config: &PushConfig) -> PushSummary {
        PushSummary {
            url: config.url.to_string(),
            windows: 0,
            samples: 0,
            counts: Default::default(),
        }
    }
}

impl std::fmt::Display for PushSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "pushed {} of {} windows to {}",
            self.counts.sent, self.windows, self.url
        )?;
        if self.counts.dropped > 0 {
            write!(f, ", {} dropped (server unreachable)", self.counts.dropped)?;
        }
        if self.counts.rejected > 0 {
            write!(f, ", {} rejected by the server", self.counts.rejected)?;
        }
        if let (Some(e), true) = (&self.counts.last_error, self.counts.sent < self.windows) {
            write!(f, " (last error: {e})")?;
        }
        Ok(())
    }
}

/// Cuts windows off the recording and hands them to the sender.
pub struct Pusher {
    config: PushConfig,
    labels: Labels,
    sender: sender::Sender,
    started: Instant,
    from: SystemTime,
    windows: u64,
    samples: u64,
    rng: crate::rng::XorShift,
}

impl Pusher {
    /// Start the sender. A server that cannot be reached now is reported (windows are kept
    /// and retried), not an error: it may come up later.
    pub fn start(config: &PushConfig, labels: Labels) -> Pusher {
        if let Err(e) = http::probe(&config.url, config.timeout) {
            crate::say!(
                "pyprobe: warning: push: {e}; windows are kept (up to {QUEUE_WINDOWS}) and retried"
            );
        }
        let sender = sender::Sender::start(
            config.url.clone(),
            sender::Limits {
                windows: QUEUE_WINDOWS,
                bytes: QUEUE_BYTES,
                timeout: config.timeout,
            },
        );
        Pusher {
            config: config.clone(),
            labels,
            sender,
            started: Instant::now(),
            from: SystemTime::now(),
            windows: 0,
            samples: 0,
            rng: crate::rng::XorShift::from_time(),
        }
    }

    /// Samples of the windows closed so far.
    pub fn samples(&self) -> u64 {
        self.samples
    }

    /// The current window has lasted `--push-every`.
    pub fn due(&self) -> bool {
        self.started.elapsed() >= self.config.every
    }

    /// Close the current window: cut it off `profile`, encode it, queue it.
    pub fn close_window(&mut self, profile: &mut Profile) {
        let duration = self.started.elapsed();
        let window = profile.next_window(duration);
        let info = WindowInfo {
            from: self.from,
            duration,
        };
        self.started = Instant::now();
        self.from = SystemTime::now();
        self.windows += 1;
        self.samples += window.sample_count;
        let request = match self.config.format {
            PushFormat::Pprof => {
                let boundary = format!(
                    "pyprobe{:016x}{:016x}",
                    self.rng.next_u64(),
                    self.rng.next_u64()
                );
                pyroscope::request(&window, &self.labels, &info, &boundary)
            }
            PushFormat::Otlp => {
                let mut id = [0u8; 16];
                id[..8].copy_from_slice(&self.rng.next_u64().to_le_bytes());
                id[8..].copy_from_slice(&self.rng.next_u64().to_le_bytes());
                Ok(Request {
                    path_and_query: otlp::PATH.into(),
                    content_type: otlp::CONTENT_TYPE.into(),
                    body: otlp::encode(&window, &self.labels, &info, id),
                })
            }
        };
        match request {
            Ok(request) => self.sender.push(request),
            Err(e) => crate::say!("pyprobe: push: window {} not encoded: {e:#}", self.windows),
        }
    }

    /// Close the last window, give the sender a few seconds to send what is queued, and say
    /// what was pushed.
    pub fn finish(mut self, profile: &mut Profile) -> PushSummary {
        if profile.sample_count > 0 || self.windows == 0 {
            self.close_window(profile);
        }
        let counts = self.sender.finish(FINISH_GRACE);
        PushSummary {
            url: self.config.url.to_string(),
            windows: self.windows,
            samples: self.samples,
            counts,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Labels;

    #[test]
    fn service_names() {
        assert_eq!(
            Labels::new(None, 1, "/usr/bin/python3 /srv/app/web.py --port 80").service,
            "web"
        );
        assert_eq!(
            Labels::new(None, 1, "/usr/local/bin/gunicorn app:wsgi").service,
            "gunicorn"
        );
        assert_eq!(Labels::new(Some("api"), 1, "python x.py").service, "api");
        assert_eq!(Labels::new(None, 1, "").service, "python");
    }
}
