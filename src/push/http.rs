//! A minimal plain-HTTP/1.1 POST over `std::net` (no TLS: profiles go to a collector or a
//! Pyroscope server on the local network, or through a proxy that terminates TLS). One
//! connection per request (`Connection: close`), bounded in time and in what it reads back.
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

/// Bytes of a response kept (status line, headers, the start of an error body).
const MAX_RESPONSE: u64 = 64 * 1024;

/// A parsed `http://host[:port][/path]` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// Host name or address, as written (brackets kept for IPv6).
    pub host: String,
    /// Port (80 when not given).
    pub port: u16,
    /// Path without a trailing `/` (empty for the root).
    pub path: String,
}

impl Url {
    /// Parse `text`; the error says what is wrong in words a user can act on.
    pub fn parse(text: &str) -> Result<Url, String> {
        let rest = match text.split_once("://") {
            Some(("http", rest)) => rest,
            Some(("https", _)) => {
                return Err(format!(
                    "{text}: https is not supported; give the plain http:// address of the server (or of a local proxy)"
                ))
            }
            Some((scheme, _)) => return Err(format!("{text}: unsupported scheme {scheme:?}, give http://HOST:PORT")),
            None => return Err(format!("{text} is not a URL: give http://HOST:PORT, e.g. http://localhost:4040")),
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if authority.contains('@') || path.contains(['?', '#']) {
            return Err(format!(
                "{text}: give the server's address only, without credentials, query or fragment"
            ));
        }
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !p.contains(']') => {
                let port = p
                    .parse::<u16>()
                    .ok()
                    .filter(|&p| p > 0)
                    .ok_or_else(|| format!("{text}: {p:?} is not a port"))?;
                (h, port)
            }
            _ => (authority, 80),
        };
        let valid = |c: char| c.is_ascii_alphanumeric() || "-._[]:".contains(c);
        if host.is_empty() || !host.chars().all(valid) {
            return Err(format!("{text}: {host:?} is not a host name"));
        }
        if !path.chars().all(|c| c.is_ascii_graphic()) {
            return Err(format!(
                "{text}: the path must be plain ASCII without spaces"
            ));
        }
        Ok(Url {
            host: host.to_string(),
            port,
            path: path.trim_end_matches('/').to_string(),
        })
    }

    /// `host:port`, for messages.
    pub fn authority(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// Resolve the host (the first address that answers is used).
    fn addresses(&self) -> Result<Vec<SocketAddr>, String> {
        let host = self.host.trim_start_matches('[').trim_end_matches(']');
        (host, self.port)
            .to_socket_addrs()
            .map(Iterator::collect)
            .map_err(|e| format!("cannot resolve {}: {e}", self.host))
    }
}

impl std::fmt::Display for Url {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "http://{}{}", self.authority(), self.path)
    }
}

/// Why a request did not get a 2xx answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// No connection, a broken one, a timeout: the server may come back.
    Network(String),
    /// The server answered with this status and the start of its body.
    Status(u16, String),
}

impl Failure {
    /// Worth sending again later: network trouble, overload (429) and server errors (5xx).
    pub fn retryable(&self) -> bool {
        match self {
            Failure::Network(_) => true,
            Failure::Status(code, _) => *code == 429 || *code >= 500,
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Network(e) => f.write_str(e),
            Failure::Status(code, body) if body.is_empty() => {
                write!(f, "the server answered {code}")
            }
            Failure::Status(code, body) => write!(f, "the server answered {code}: {body}"),
        }
    }
}

/// Check that something listens at `url` (a connection, closed at once).
pub fn probe(url: &Url, timeout: Duration) -> Result<(), Failure> {
    connect(url, timeout).map(drop)
}

fn connect(url: &Url, timeout: Duration) -> Result<TcpStream, Failure> {
    let addrs = url.addresses().map_err(Failure::Network)?;
    let mut last = format!("{} resolves to no address", url.host);
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(stream) => return Ok(stream),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                last = format!(
                    "connection refused by {} (is the server running?)",
                    url.authority()
                )
            }
            Err(e) => last = format!("cannot connect to {}: {e}", url.authority()),
        }
    }
    Err(Failure::Network(last))
}

/// POST `body` to `path_and_query` (starting with `/`) on `url`'s server; `timeout` bounds
/// the connection and each read and write.
pub fn post(
    url: &Url,
    path_and_query: &str,
    content_type: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    timeout: Duration,
) -> Result<(), Failure> {
    let mut stream = connect(url, timeout)?;
    let io = |e: std::io::Error| {
        Failure::Network(
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) {
                format!(
                    "{} did not answer within {} s",
                    url.authority(),
                    timeout.as_secs_f64()
                )
            } else {
                format!("talking to {}: {e}", url.authority())
            },
        )
    };
    stream.set_read_timeout(Some(timeout)).map_err(io)?;
    stream.set_write_timeout(Some(timeout)).map_err(io)?;
    let _ = stream.set_nodelay(true);
    let mut head = format!(
        "POST {path_and_query} HTTP/1.1\r\nHost: {}\r\nUser-Agent: pyprobe/{}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n",
        url.authority(),
        env!("CARGO_PKG_VERSION"),
        body.len()
    );
    for (name, value) in headers {
        head += &format!("{name}: {value}\r\n");
    }
    head += "\r\n";
    stream.write_all(head.as_bytes()).map_err(io)?;
    stream.write_all(body).map_err(io)?;
    stream.flush().map_err(io)?;
    let response = read_response(&mut stream).map_err(io)?;
    parse_status(&response)
        .map_err(Failure::Network)
        .and_then(|(code, rest)| {
            if (200..300).contains(&code) {
                Ok(())
            } else {
                let text = String::from_utf8_lossy(rest);
                let body: String = text
                    .trim()
                    .chars()
                    .filter(|c| !c.is_control())
                    .take(200)
                    .collect();
                Err(Failure::Status(code, body))
            }
        })
}

/// Read a response: up to the end of its `Content-Length` body, or of the connection (we asked
/// for `Connection: close`), and no more than [`MAX_RESPONSE`] bytes either way. A server that
/// keeps the connection open after a complete answer is not waited for.
fn read_response(stream: &mut impl Read) -> std::io::Result<Vec<u8>> {
    let mut response = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = match stream.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) if response.is_empty() => return Err(e),
            // A partial answer then silence: what came is judged.
            Err(_) => return Ok(response),
        };
        if n == 0 {
            return Ok(response);
        }
        response.extend_from_slice(&buf[..n]);
        if response.len() as u64 >= MAX_RESPONSE || complete(&response) {
            return Ok(response);
        }
    }
}

/// The headers have arrived, and as many body bytes as their `Content-Length` says.
fn complete(response: &[u8]) -> bool {
    let Some(end) = response.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&response[..end]);
    let length = head.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("content-length")
            .then(|| value.trim().parse::<usize>().ok())
            .flatten()
    });
    length.is_some_and(|len| response.len() >= end + 4 + len)
}

/// The status code and body of a response (`HTTP/1.x NNN reason\r\n headers \r\n\r\n body`).
fn parse_status(response: &[u8]) -> Result<(u16, &[u8]), String> {
    let line_end = response
        .windows(2)
        .position(|w| w == b"\r\n")
        .unwrap_or(response.len());
    let line = String::from_utf8_lossy(&response[..line_end]);
    let mut parts = line.split_whitespace();
    let code = match (parts.next(), parts.next()) {
        (Some(v), Some(code)) if v.starts_with("HTTP/1.") => code.parse::<u16>().ok(),
        _ => None,
    };
    let code = code.ok_or_else(|| {
        if response.is_empty() {
            "the server closed the connection without an answer".to_string()
        } else {
            format!(
                "not an HTTP answer: {:?}",
                line.chars().take(60).collect::<String>()
            )
        }
    })?;
    let body = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(&[][..], |i| &response[i + 4..]);
    Ok((code, body))
}

/// Percent-encode a query parameter value (RFC 3986 unreserved characters kept).
pub fn query_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out += &format!("%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = Url::parse("http://localhost:4040").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("localhost", 4040, "")
        );
        let u = Url::parse("http://10.0.0.1/pyroscope/").unwrap();
        assert_eq!((u.port, u.path.as_str()), (80, "/pyroscope"));
        let u = Url::parse("http://[::1]:4318").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("[::1]", 4318));
        for (bad, says) in [
            ("localhost:4040", "not a URL"),
            ("https://x", "https is not supported"),
            ("ftp://x", "unsupported scheme"),
            ("http://x:99999", "not a port"),
            ("http://x:0", "not a port"),
            ("http://", "not a host name"),
            ("http://a b", "not a host name"),
            ("http://u:p@x", "without credentials"),
            ("http://x/a?b=c", "without credentials, query"),
        ] {
            let err = Url::parse(bad).unwrap_err();
            assert!(err.contains(says), "{bad}: {err}");
        }
    }

    #[test]
    fn statuses() {
        assert_eq!(
            parse_status(b"HTTP/1.1 200 OK\r\nA: b\r\n\r\nhi").unwrap(),
            (200, &b"hi"[..])
        );
        assert_eq!(parse_status(b"HTTP/1.0 503 x\r\n\r\n").unwrap().0, 503);
        assert!(parse_status(b"").unwrap_err().contains("without an answer"));
        assert!(parse_status(b"SSH-2.0-x\r\n")
            .unwrap_err()
            .contains("not an HTTP answer"));
        assert!(Failure::Status(503, String::new()).retryable());
        assert!(Failure::Status(429, String::new()).retryable());
        assert!(!Failure::Status(400, String::new()).retryable());
        assert!(Failure::Network(String::new()).retryable());
    }

    /// An answer with a length is complete without waiting for the connection to close.
    #[test]
    fn responses_end_at_their_length() {
        let answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}";
        assert!(complete(answer));
        assert!(!complete(&answer[..answer.len() - 1]));
        assert!(!complete(b"HTTP/1.1 200 OK\r\n"));
        // A reader that would block after the answer: not read again.
        struct Then<'a>(&'a [u8], bool);
        impl Read for Then<'_> {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                assert!(!self.1, "read again after a complete answer");
                self.1 = true;
                buf[..self.0.len()].copy_from_slice(self.0);
                Ok(self.0.len())
            }
        }
        assert_eq!(read_response(&mut Then(answer, false)).unwrap(), answer);
    }

    #[test]
    fn escapes() {
        assert_eq!(
            query_escape("app{pid=1,host=a b}"),
            "app%7Bpid%3D1%2Chost%3Da%20b%7D"
        );
    }

    /// A refused connection says so, with the address.
    #[test]
    fn refused() {
        // A port just released: nothing listens on it.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = Url::parse(&format!("http://127.0.0.1:{port}")).unwrap();
        let err = post(&url, "/x", "text/plain", &[], b"", Duration::from_secs(2)).unwrap_err();
        assert!(
            err.to_string().contains("connection refused by 127.0.0.1"),
            "{err}"
        );
        assert!(err.retryable());
    }
}
