//! Why `send` or `replay` got no (complete) response: one line each, naming
//! what failed and, where there is one, what to do.

use std::path::PathBuf;
use std::time::Duration;

use interpose_route::RouteError;
use interpose_tls::RootsError;

/// What kind of failure a [`SendError::Connect`] is, for callers that act
/// on it (exit codes, tests).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureKind {
    /// The target or the proxy refused the TCP connection.
    Refused,
    /// A name could not be resolved.
    Dns,
    /// A step ran out of time.
    Timeout,
    /// The TLS handshake with the target failed (names the host).
    Tls,
    /// The proxy wants credentials, or refused the ones given (407).
    ProxyAuth,
    /// Anything else about the proxy: TLS to it, its refusal to connect.
    Proxy,
    /// Anything else.
    Other,
}

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("bad URL \"{url}\": {problem}")]
    BadUrl { url: String, problem: String },
    #[error("bad header \"{header}\": {problem}; write it as 'Name: value'")]
    BadHeader { header: String, problem: String },
    #[error("bad form field \"{spec}\": {problem}; write name=value or name=@file")]
    BadForm { spec: String, problem: String },
    #[error("the Content-Length header says {given} but the body is {actual} bytes; drop the header (it is set for you) or send the body it describes")]
    ContentLengthMismatch { given: String, actual: u64 },
    #[error("cannot read {what} {}: {source}", path.display())]
    ReadFile {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Roots(#[from] RootsError),
    #[error(transparent)]
    Route(#[from] RouteError),
    /// No connection to the target (or through its proxy).
    #[error("{message}")]
    Connect { kind: FailureKind, message: String },
    #[error("timed out after {}s waiting for {url}", after.as_secs_f64())]
    Timeout { after: Duration, url: String },
    #[error("error talking to {authority}: {reason}")]
    Http { authority: String, reason: String },
    #[error("stopped after {max} redirects; the next was to {url} (a redirect loop?)")]
    TooManyRedirects { max: usize, url: String },
    #[error("{url} redirected to \"{location}\", which is not a URL")]
    BadRedirect { url: String, location: String },
    #[error("the response body from {url} was cut off after {received} bytes: {reason}")]
    Body {
        url: String,
        received: u64,
        reason: String,
    },
    #[error("cannot replay this exchange: {0}")]
    Replay(String),
}

impl SendError {
    /// The kind of a connection failure; timeouts of the whole request
    /// count as [`FailureKind::Timeout`] too.
    pub fn kind(&self) -> Option<FailureKind> {
        match self {
            SendError::Connect { kind, .. } => Some(*kind),
            SendError::Timeout { .. } => Some(FailureKind::Timeout),
            _ => None,
        }
    }
}
