//! Errors, classified by side: the client's fault (400, 431), the upstream's
//! (502), or ours. Each carries a sentence a user can act on; the same text
//! goes into the 502 body and into the exchange's record.

use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use http::{header, Response, StatusCode};
use http_body_util::{BodyExt, Full};

use crate::upstream::ProxyBody;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Errors that stop the proxy from starting or running.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("cannot listen on {addr}: {source} (is another proxy already using that port? pick another with --listen)")]
    Bind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot use {path} as trusted upstream roots: {reason}")]
    Roots { path: PathBuf, reason: String },
    #[error(transparent)]
    ListenerCert(#[from] interpose_tls::TlsError),
}

/// Why a connection to an origin could not be made.
#[derive(Debug)]
pub enum ConnectFailure {
    /// No route could be decided (a bad proxy URL in the environment, an
    /// incomplete custom proxy).
    Route(Box<interpose_route::RouteError>),
    /// The origin, or the upstream proxy on its route, could not be reached.
    Dial(Box<interpose_route::dial::DialError>),
    Timeout(Duration),
    Tls(String),
}

/// A failed connection to `host:port`, worded for the user.
#[derive(Debug, thiserror::Error)]
#[error("{}", self.describe())]
pub struct ConnectError {
    pub host: String,
    pub port: u16,
    pub failure: ConnectFailure,
}

impl ConnectError {
    pub fn new(host: &str, port: u16, failure: ConnectFailure) -> Self {
        ConnectError {
            host: host.to_string(),
            port,
            failure,
        }
    }

    fn describe(&self) -> String {
        let target = format!("{}:{}", self.host, self.port);
        match &self.failure {
            ConnectFailure::Route(e) => format!("cannot route to {target}: {e}"),
            ConnectFailure::Dial(e) => e.to_string(),
            ConnectFailure::Timeout(d) => {
                format!("timed out after {}s connecting to {target}", d.as_secs())
            }
            ConnectFailure::Tls(reason) => format!(
                "TLS handshake with {target} failed: {reason} (trust a private CA with \
                 --upstream-ca FILE, or skip checks with --insecure-upstream)"
            ),
        }
    }
}

/// Words an upstream failure from hyper's client: our connector's own
/// message when it has one, else the most specific cause.
pub fn describe_upstream(err: &(dyn std::error::Error + 'static), authority: &str) -> String {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(err);
    let mut deepest = err.to_string();
    while let Some(e) = cause {
        if let Some(connect) = e.downcast_ref::<ConnectError>() {
            return connect.to_string();
        }
        deepest = e.to_string();
        cause = e.source();
    }
    if deepest.contains("connection closed before message completed")
        || deepest.contains("connection reset")
    {
        return format!("{authority} closed the connection before sending a response");
    }
    format!("error talking to {authority}: {deepest}")
}

/// Whether hyper's error is a connection that could not be made (refused,
/// timed out, TLS): the target never saw the request.
pub fn target_unreachable(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cause {
        if let Some(connect) = e.downcast_ref::<ConnectError>() {
            return !matches!(connect.failure, ConnectFailure::Route(_));
        }
        cause = e.source();
    }
    false
}

/// A plain-text response that explains itself, sent by the proxy.
pub fn error_response(status: StatusCode, message: &str) -> Response<ProxyBody> {
    let body = Full::new(Bytes::from(format!("interpose: {message}\n")))
        .map_err(|never| match never {})
        .boxed();
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .header("x-interpose-error", "1")
        .body(body)
        .expect("static response parts are valid")
}
