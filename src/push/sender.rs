//! The sender thread and its bounded queue. The collector hands it encoded windows and never
//! waits for it: when the queue is full (the server has been away long enough), the oldest
//! window is dropped and counted. A window that fails for a reason that may pass (no
//! connection, a timeout, 429, 5xx) is retried with a doubling back-off; one the server
//! rejects (another 4xx) is dropped and counted. Failures are reported once per streak, and
//! when pushing works again.
use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::http::{self, Url};
use super::Request;

/// First wait after a failure; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// What the queue may hold (whichever limit is reached first).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Windows waiting.
    pub windows: usize,
    /// Bytes of the windows waiting.
    pub bytes: usize,
    /// Bound of a connection, and of each read and write of a request.
    pub timeout: Duration,
}

/// Counts, for the summary.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    /// Windows the server accepted.
    pub sent: u64,
    /// Windows dropped because the queue was full, or still queued when pyprobe had to exit.
    pub dropped: u64,
    /// Windows the server refused (a 4xx other than 429).
    pub rejected: u64,
    /// Requests that failed (retried ones included).
    pub failures: u64,
    /// The last failure.
    pub last_error: Option<String>,
}

struct State {
    queue: VecDeque<Request>,
    bytes: usize,
    counts: Counts,
    /// Set by [`Sender::finish`]: send what is queued until this instant, then stop.
    deadline: Option<Instant>,
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere while holding the lock leaves plain counters: keep going.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The queue and its thread.
pub struct Sender {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    limits: Limits,
}

impl Sender {
    /// Start the thread sending to `url`.
    pub fn start(url: Url, limits: Limits) -> Sender {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                bytes: 0,
                counts: Counts::default(),
                deadline: None,
            }),
            wake: Condvar::new(),
        });
        let thread = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("pyprobe-push".into())
                .spawn(move || run(&shared, &url, limits))
                .ok()
        };
        Sender {
            shared,
            thread,
            limits,
        }
    }

    /// Queue a window; never blocks beyond the lock. The oldest windows make room.
    pub fn push(&self, request: Request) {
        let mut state = self.shared.lock();
        state.bytes += request.body.len();
        state.queue.push_back(request);
        let mut dropped = 0;
        while state.queue.len() > self.limits.windows
            || (state.bytes > self.limits.bytes && state.queue.len() > 1)
        {
            if let Some(old) = state.queue.pop_front() {
                state.bytes -= old.body.len();
                dropped += 1;
            }
        }
        if dropped > 0 {
            if state.counts.dropped == 0 {
                crate::say!(
                    "pyprobe: push: the server has not taken a window for a while; dropping the oldest (the queue holds {} windows)",
                    self.limits.windows
                );
            }
            state.counts.dropped += dropped;
        }
        drop(state);
        self.shared.wake.notify_one();
    }

    /// Windows waiting, for tests and the progress line.
    pub fn queued(&self) -> usize {
        self.shared.lock().queue.len()
    }

    /// Send what is queued for up to `grace`, then stop the thread; what is left is dropped.
    pub fn finish(mut self, grace: Duration) -> Counts {
        self.shared.lock().deadline = Some(Instant::now() + grace);
        self.shared.wake.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        let mut state = self.shared.lock();
        let left = state.queue.len() as u64;
        state.queue.clear();
        state.counts.dropped += left;
        state.counts.clone()
    }
}

fn run(shared: &Shared, url: &Url, limits: Limits) {
    let mut backoff = FIRST_BACKOFF;
    let mut failing = false;
    loop {
        let request = {
            let mut state = shared.lock();
            loop {
                if state.deadline.is_some_and(|d| Instant::now() >= d) {
                    return;
                }
                if let Some(r) = state.queue.pop_front() {
                    state.bytes -= r.body.len();
                    break r;
                }
                if state.deadline.is_some() {
                    return;
                }
                state = shared.wake.wait(state).unwrap_or_else(|e| e.into_inner());
            }
        };
        let result = http::post(
            url,
            &format!("{}{}", url.path, request.path_and_query),
            &request.content_type,
            &[],
            &request.body,
            limits.timeout,
        );
        let mut state = shared.lock();
        match result {
            Ok(()) => {
                state.counts.sent += 1;
                if failing {
                    crate::say!("pyprobe: push: {} takes windows again", url.authority());
                }
                failing = false;
                backoff = FIRST_BACKOFF;
            }
            Err(failure) => {
                state.counts.failures += 1;
                if !failing {
                    crate::say!(
                        "pyprobe: push to {} failed: {failure}; retrying (sampling goes on)",
                        url.authority()
                    );
                }
                failing = true;
                let retry = failure.retryable();
                state.counts.last_error = Some(failure.to_string());
                if !retry {
                    state.counts.rejected += 1;
                    continue;
                }
                // Back in front, unless newer windows have filled the queue meanwhile.
                if state.queue.len() < limits.windows {
                    state.bytes += request.body.len();
                    state.queue.push_front(request);
                } else {
                    state.counts.dropped += 1;
                }
                let until = Instant::now() + backoff;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                // Wait out the back-off, or less when finishing.
                loop {
                    let end = state.deadline.map_or(until, |d| d.min(until));
                    let now = Instant::now();
                    if now >= end {
                        break;
                    }
                    state = shared
                        .wake
                        .wait_timeout(state, end - now)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpListener;

    use super::*;

    fn request(n: usize) -> Request {
        Request {
            path_and_query: format!("/w{n}"),
            content_type: "text/plain".into(),
            body: vec![b'x'; 100],
        }
    }

    fn limits(windows: usize) -> Limits {
        Limits {
            windows,
            bytes: 1 << 20,
            timeout: Duration::from_secs(2),
        }
    }

    /// Nothing listens: pushing never waits, the queue keeps the newest windows only, and
    /// what is left at the end is counted as dropped.
    #[test]
    fn a_dead_server_costs_bounded_memory_and_no_waiting() {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = Url::parse(&format!("http://127.0.0.1:{port}")).unwrap();
        let sender = Sender::start(url, limits(3));
        let started = Instant::now();
        for n in 0..50 {
            sender.push(request(n));
            assert!(sender.queued() <= 3);
        }
        assert!(
            started.elapsed() < Duration::from_millis(200),
            "{:?}",
            started.elapsed()
        );
        // Let the thread try (and fail) once before it is told to stop.
        std::thread::sleep(Duration::from_millis(300));
        let counts = sender.finish(Duration::ZERO);
        assert_eq!(counts.sent, 0);
        assert_eq!(counts.dropped, 50);
        assert!(counts.failures >= 1);
        // Refused, as a rule; another test of this binary may have bound the freed port
        // meanwhile, and then the error is another.
        assert!(counts.last_error.is_some());
    }

    /// A server answering 200: every window is sent, in order.
    #[test]
    fn windows_are_sent_in_order() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
        let server = std::thread::spawn(move || {
            let mut paths = Vec::new();
            for stream in listener.incoming().take(5) {
                let mut stream = stream.unwrap();
                let mut buf = vec![0u8; 4096];
                let mut got = Vec::new();
                // Head and the 100-byte body.
                while !got.ends_with(&[b'x'; 100]) {
                    let n = stream.read(&mut buf).unwrap();
                    assert!(n > 0);
                    got.extend_from_slice(&buf[..n]);
                }
                let head = String::from_utf8_lossy(&got).into_owned();
                paths.push(head.split_whitespace().nth(1).unwrap().to_string());
                stream
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                    .unwrap();
            }
            paths
        });
        let sender = Sender::start(url, limits(8));
        for n in 0..5 {
            sender.push(request(n));
        }
        let counts = sender.finish(Duration::from_secs(10));
        assert_eq!((counts.sent, counts.dropped, counts.failures), (5, 0, 0));
        assert_eq!(server.join().unwrap(), ["/w0", "/w1", "/w2", "/w3", "/w4"]);
    }
}
