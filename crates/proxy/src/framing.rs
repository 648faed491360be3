//! Rejecting requests whose framing is ambiguous (request smuggling).
//!
//! A request with both `Content-Length` and `Transfer-Encoding` can be read
//! two ways. hyper settles it by dropping `Content-Length` from the parsed
//! headers (RFC 9112 6.3 allows that), so a service never sees the conflict.
//! We promise a 400 instead, never forwarding such a request, so this module
//! watches the raw bytes a client sends on an HTTP/1 connection, frames the
//! requests as hyper does (head, then a sized or chunked body), and notes the
//! position of the first ambiguous one. The service counts the requests it is
//! handed and asks [`Requests::next_is_ambiguous`] for each.
//!
//! After an ambiguous request, and after a CONNECT or `Upgrade` request (the
//! bytes that follow may be a tunnel), the watcher stops looking. Bytes hyper
//! itself rejects end the connection, so the watcher need not agree with
//! hyper on malformed input.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Why such a request gets a 400.
pub const AMBIGUOUS: &str = "the request has both Content-Length and Transfer-Encoding; it is \
                             ambiguous (a request-smuggling risk), so it was not forwarded";

/// Longest request head the watcher reads (hyper answers 431 past 64 KiB).
const MAX_HEAD: usize = 64 * 1024 + 4;
/// Longest chunk-size or trailer line it reads.
const MAX_LINE: usize = 8 * 1024;

/// What the watcher found, shared with the connection's service.
#[derive(Debug, Default)]
pub struct Requests {
    /// 1 + the index of the first ambiguous request; 0 while none.
    ambiguous: AtomicU64,
    /// Requests handed to the service so far.
    served: AtomicU64,
}

impl Requests {
    /// Called once per request the service is handed, in order: true when
    /// that request's head had both framing headers.
    pub fn next_is_ambiguous(&self) -> bool {
        let index = self.served.fetch_add(1, Ordering::Relaxed);
        self.ambiguous.load(Ordering::Relaxed) == index + 1
    }
}

/// Wraps a client's connection; reads pass through unchanged. Only HTTP/1
/// is watched (HTTP/2 frames its messages itself); for other connections
/// [`Requests::next_is_ambiguous`] is always false.
pub fn watch<I>(io: I, http1: bool) -> (Watched<I>, Arc<Requests>) {
    let requests = Arc::new(Requests::default());
    let mut scanner = Scanner::default();
    if !http1 {
        scanner.stop();
    }
    let watched = Watched {
        inner: io,
        scanner,
        requests: requests.clone(),
    };
    (watched, requests)
}

pub struct Watched<I> {
    inner: I,
    scanner: Scanner,
    requests: Arc<Requests>,
}

impl<I: AsyncRead + Unpin> AsyncRead for Watched<I> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            if let Some(index) = this.scanner.feed(&buf.filled()[before..]) {
                this.requests.ambiguous.store(index + 1, Ordering::Relaxed);
            }
        }
        polled
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Watched<I> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[derive(Debug)]
enum State {
    /// Reading a request head (`line` holds it so far).
    Head,
    /// Skipping this many bytes of a sized body.
    Sized(u64),
    /// Reading a chunk-size line.
    ChunkSize,
    /// Skipping this many bytes of chunk data.
    ChunkData(u64),
    /// Skipping the line end after chunk data.
    ChunkEnd,
    /// Reading trailer lines, until an empty one.
    Trailers,
    /// No longer watching.
    Off,
}

/// Frames requests from raw bytes, as they arrive in any split.
#[derive(Debug)]
struct Scanner {
    state: State,
    /// The head or line being read.
    line: Vec<u8>,
    /// Requests whose head has been read.
    heads: u64,
}

impl Default for Scanner {
    fn default() -> Self {
        Scanner {
            state: State::Head,
            line: Vec::new(),
            heads: 0,
        }
    }
}

impl Scanner {
    /// Takes the next bytes from the client; returns the index of an
    /// ambiguous request when its head completes.
    fn feed(&mut self, mut data: &[u8]) -> Option<u64> {
        while !data.is_empty() {
            match self.state {
                State::Off => return None,
                State::Head => {
                    if self.line.is_empty() {
                        // Empty lines before a request are ignored (RFC 9112 2.2).
                        let skip = data.iter().take_while(|b| matches!(b, b'\r' | b'\n'));
                        data = &data[skip.count()..];
                        if data.is_empty() {
                            return None;
                        }
                    }
                    // Take the head a line at a time, copying nothing past it.
                    let taken = match data.iter().position(|&b| b == b'\n') {
                        Some(lf) => lf + 1,
                        None => data.len(),
                    };
                    self.line.extend_from_slice(&data[..taken]);
                    data = &data[taken..];
                    if self.line.len() > MAX_HEAD {
                        self.stop();
                        return None;
                    }
                    if !(self.line.ends_with(b"\n\n") || self.line.ends_with(b"\n\r\n")) {
                        continue;
                    }
                    let head = std::mem::take(&mut self.line);
                    let index = self.heads;
                    self.heads += 1;
                    match framing(&head) {
                        Framing::Ambiguous => {
                            self.stop();
                            return Some(index);
                        }
                        Framing::None => {}
                        Framing::Sized(0) => {}
                        Framing::Sized(n) => self.state = State::Sized(n),
                        Framing::Chunked => self.state = State::ChunkSize,
                        Framing::Unknown => self.stop(),
                    }
                }
                State::Sized(left) => {
                    let n = left.min(data.len() as u64);
                    data = &data[n as usize..];
                    self.state = match left - n {
                        0 => State::Head,
                        left => State::Sized(left),
                    };
                }
                State::ChunkData(left) => {
                    let n = left.min(data.len() as u64);
                    data = &data[n as usize..];
                    self.state = match left - n {
                        0 => State::ChunkEnd,
                        left => State::ChunkData(left),
                    };
                }
                State::ChunkEnd => match data.iter().position(|&b| b == b'\n') {
                    Some(i) => {
                        data = &data[i + 1..];
                        self.state = State::ChunkSize;
                    }
                    None => return None,
                },
                State::ChunkSize | State::Trailers => {
                    let line = self.take_line(&mut data)?;
                    self.state = match (&self.state, line) {
                        (State::Trailers, None) => State::Head,
                        (State::Trailers, Some(_)) => State::Trailers,
                        (_, Some(size)) => {
                            let digits = size.split(|&b| b == b';').next().unwrap_or_default();
                            let digits = std::str::from_utf8(digits).unwrap_or("").trim();
                            match u64::from_str_radix(digits, 16) {
                                Ok(0) => State::Trailers,
                                Ok(n) => State::ChunkData(n),
                                Err(_) => State::Off,
                            }
                        }
                        (_, None) => State::Off,
                    };
                }
            }
        }
        None
    }

    /// Reads up to the end of a line. `None` while the line is incomplete;
    /// `Some(None)` for an empty line, else `Some(Some(line))`.
    fn take_line(&mut self, data: &mut &[u8]) -> Option<Option<Vec<u8>>> {
        match data.iter().position(|&b| b == b'\n') {
            Some(i) => {
                self.line.extend_from_slice(&data[..i]);
                *data = &data[i + 1..];
                let mut line = std::mem::take(&mut self.line);
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                Some((!line.is_empty()).then_some(line))
            }
            None => {
                self.line.extend_from_slice(data);
                *data = &[];
                if self.line.len() > MAX_LINE {
                    self.stop();
                }
                None
            }
        }
    }

    fn stop(&mut self) {
        self.state = State::Off;
        self.line = Vec::new();
    }
}

#[derive(Debug, PartialEq)]
enum Framing {
    /// No body.
    None,
    Sized(u64),
    Chunked,
    /// Both framing headers.
    Ambiguous,
    /// A tunnel or protocol switch may follow, or hyper will refuse it.
    Unknown,
}

/// How the body of the request with this head is delimited.
fn framing(head: &[u8]) -> Framing {
    let text = String::from_utf8_lossy(head);
    let mut lines = text.lines();
    let request_line = lines.next().unwrap_or_default();
    if request_line.starts_with("CONNECT ") {
        return Framing::Unknown;
    }
    let (mut length, mut chunked, mut has_length, mut has_te) = (None, false, false, false);
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => {
                has_length = true;
                let first = value.split(',').next().unwrap_or_default().trim();
                length = first.parse::<u64>().ok();
            }
            "transfer-encoding" => {
                has_te = true;
                let last = value.rsplit(',').next().unwrap_or_default().trim();
                chunked = last.eq_ignore_ascii_case("chunked");
            }
            "upgrade" => return Framing::Unknown,
            _ => {}
        }
    }
    match (has_length, has_te) {
        (true, true) => Framing::Ambiguous,
        (false, true) if chunked => Framing::Chunked,
        (true, false) => length.map_or(Framing::Unknown, Framing::Sized),
        (false, false) => Framing::None,
        (false, true) => Framing::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` split at every position, and byte by byte; every split
    /// must give the same answer.
    fn ambiguous_in(input: &[u8]) -> Option<u64> {
        let mut whole = Scanner::default();
        let expected = whole.feed(input);
        for split in 0..input.len() {
            let mut s = Scanner::default();
            let got = s.feed(&input[..split]).or(s.feed(&input[split..]));
            assert_eq!(got, expected, "split at {split}");
        }
        let mut s = Scanner::default();
        let bytewise = input.iter().find_map(|b| s.feed(std::slice::from_ref(b)));
        assert_eq!(bytewise, expected, "byte by byte");
        expected
    }

    #[test]
    fn both_framing_headers_are_ambiguous_in_either_order() {
        let a =
            b"POST http://h/ HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n";
        let b =
            b"POST / HTTP/1.1\r\ntransfer-encoding: chunked\r\ncontent-length: 5\r\n\r\n0\r\n\r\n";
        assert_eq!(ambiguous_in(a), Some(0));
        assert_eq!(ambiguous_in(b), Some(0));
    }

    /// A request whose body is `body`, sized by Content-Length.
    fn sized(target: &str, body: &[u8]) -> Vec<u8> {
        let mut out = format!(
            "POST {target} HTTP/1.1\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        out.extend_from_slice(body);
        out
    }

    #[test]
    fn the_ambiguous_request_is_found_behind_sized_and_chunked_ones() {
        let lookalike =
            b"GET /x HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n";
        let mut input = Vec::new();
        input.extend_from_slice(b"\r\nGET /a HTTP/1.1\r\nHost: h\r\n\r\n");
        // A body that looks like a head must not be read as one.
        input.extend(sized("/b", lookalike));
        input.extend_from_slice(b"POST /c HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n");
        input.extend_from_slice(
            b"5;ext=1\r\nhello\r\n10\r\n0123456789abcdef\r\n0\r\nX-T: 1\r\n\r\n",
        );
        input.extend_from_slice(b"POST /d HTTP/1.1\nContent-Length: 0\n\n");
        input.extend_from_slice(lookalike);
        assert_eq!(ambiguous_in(&input), Some(4));
    }

    #[test]
    fn ordinary_requests_are_not_ambiguous() {
        let lookalike =
            b"GET /x HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n";
        let mut input = sized("/", lookalike);
        input.extend_from_slice(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
        input.extend(format!("{:x}\r\n", lookalike.len()).into_bytes());
        input.extend_from_slice(lookalike);
        input.extend_from_slice(b"\r\n0\r\n\r\n");
        input.extend_from_slice(b"GET / HTTP/1.1\r\n\r\n");
        assert_eq!(ambiguous_in(&input), None);
    }

    #[test]
    fn watching_stops_at_a_tunnel_or_upgrade() {
        let connect = b"CONNECT h:443 HTTP/1.1\r\n\r\n\
                        POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(ambiguous_in(connect), None);
        let upgrade = b"GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n\
                        POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(ambiguous_in(upgrade), None);
    }

    #[test]
    fn the_service_is_told_which_request_it_is() {
        let requests = Requests::default();
        requests.ambiguous.store(2, Ordering::Relaxed);
        assert!(!requests.next_is_ambiguous());
        assert!(requests.next_is_ambiguous());
        assert!(!requests.next_is_ambiguous());
    }
}
