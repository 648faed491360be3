//! Why a dial failed, worded for the user: which hop (the target or the
//! proxy, named without credentials), what went wrong, and what to do.

use std::io;
use std::time::Duration;

use crate::proxy_url::ProxyUrl;

/// A network step that failed: the name lookup, the TCP connect, or a
/// timeout on either.
#[derive(Debug)]
pub enum NetFailure {
    Dns(String),
    Io(io::Error),
    Timeout(Duration),
}

impl NetFailure {
    fn is_refused(&self) -> bool {
        matches!(self, NetFailure::Io(e) if e.kind() == io::ErrorKind::ConnectionRefused)
    }
}

/// A dial that did not give a stream.
#[derive(Debug, thiserror::Error)]
pub enum DialError {
    /// The target itself (direct route, or a name a `socks5://` route
    /// resolves here) could not be reached.
    #[error("{}", target_message(host, *port, failure))]
    Target {
        host: String,
        port: u16,
        failure: NetFailure,
    },
    /// The proxy could not be reached.
    #[error(
        "cannot reach proxy {proxy} (chosen by: {chosen_by}): {}",
        proxy_message(proxy_host, failure)
    )]
    ProxyUnreachable {
        /// Without credentials.
        proxy: String,
        proxy_host: String,
        /// The rule that chose the proxy (`HTTPS_PROXY environment variable`).
        chosen_by: String,
        failure: NetFailure,
    },
    #[error("TLS handshake with proxy {proxy} failed: {reason} (trust a private CA with --upstream-ca FILE)")]
    ProxyTls { proxy: String, reason: String },
    #[error("proxy {proxy} is an https:// proxy, but no TLS settings were given to reach it")]
    NoProxyTls { proxy: String },
    /// The proxy wants credentials and none were known.
    #[error("proxy {proxy} requires authentication ({answer}); give credentials with --proxy-user U:P or in the proxy URL")]
    ProxyAuthRequired { proxy: String, answer: &'static str },
    /// Credentials were sent and the proxy refused them. Not retried.
    #[error("proxy {proxy} refused the credentials for user \"{user}\" ({answer}); check --proxy-user or the user:password in the proxy URL")]
    ProxyAuthRefused {
        proxy: String,
        user: String,
        answer: &'static str,
    },
    /// The proxy answered, but would not connect to the target.
    #[error("proxy {proxy} would not connect to {target}: {answer}")]
    ProxyRefusedTarget {
        proxy: String,
        target: String,
        answer: String,
    },
    /// The proxy said something its protocol does not allow.
    #[error("proxy {proxy} broke the protocol: {problem}")]
    ProxyProtocol { proxy: String, problem: String },
    #[error("timed out after {}s waiting for proxy {proxy} to {step}", after.as_secs_f64())]
    ProxyTimeout {
        proxy: String,
        step: &'static str,
        after: Duration,
    },
    #[error("connection to proxy {proxy} failed during {step}: {source}")]
    ProxyIo {
        proxy: String,
        step: &'static str,
        source: io::Error,
    },
}

impl DialError {
    /// The proxy wants (other) credentials: `answer` is the status or the
    /// SOCKS5 reply that said so.
    pub(crate) fn auth(proxy: &ProxyUrl, answer: &'static str) -> DialError {
        let name = proxy.without_credentials();
        match &proxy.username {
            Some(user) => DialError::ProxyAuthRefused {
                proxy: name,
                user: user.clone(),
                answer,
            },
            None => DialError::ProxyAuthRequired {
                proxy: name,
                answer,
            },
        }
    }

    /// The proxy this error is about (without credentials), if any.
    pub fn proxy(&self) -> Option<&str> {
        match self {
            DialError::Target { .. } => None,
            DialError::ProxyUnreachable { proxy, .. }
            | DialError::ProxyTls { proxy, .. }
            | DialError::NoProxyTls { proxy }
            | DialError::ProxyAuthRequired { proxy, .. }
            | DialError::ProxyAuthRefused { proxy, .. }
            | DialError::ProxyRefusedTarget { proxy, .. }
            | DialError::ProxyProtocol { proxy, .. }
            | DialError::ProxyTimeout { proxy, .. }
            | DialError::ProxyIo { proxy, .. } => Some(proxy),
        }
    }

    /// A step ran out of time.
    pub fn is_timeout(&self) -> bool {
        matches!(
            self,
            DialError::Target {
                failure: NetFailure::Timeout(_),
                ..
            } | DialError::ProxyUnreachable {
                failure: NetFailure::Timeout(_),
                ..
            } | DialError::ProxyTimeout { .. }
        )
    }

    /// A name could not be resolved (the target's or the proxy's).
    pub fn is_dns(&self) -> bool {
        matches!(
            self,
            DialError::Target {
                failure: NetFailure::Dns(_),
                ..
            } | DialError::ProxyUnreachable {
                failure: NetFailure::Dns(_),
                ..
            }
        )
    }

    /// The TCP connection was refused (by the target or the proxy).
    pub fn is_refused(&self) -> bool {
        match self {
            DialError::Target { failure, .. } | DialError::ProxyUnreachable { failure, .. } => {
                failure.is_refused()
            }
            _ => false,
        }
    }

    /// The proxy asked for credentials, or refused the ones given.
    pub fn is_proxy_auth(&self) -> bool {
        matches!(
            self,
            DialError::ProxyAuthRequired { .. } | DialError::ProxyAuthRefused { .. }
        )
    }
}

/// The same words the proxy has always used for a direct connection.
fn target_message(host: &str, port: u16, failure: &NetFailure) -> String {
    let target = super::authority(host, port);
    match failure {
        NetFailure::Dns(reason) => format!("cannot resolve {host}: {reason}"),
        NetFailure::Io(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
            format!("connection to {target} refused (is the server running on that port?)")
        }
        NetFailure::Io(e) => format!("cannot connect to {target}: {e}"),
        NetFailure::Timeout(d) => {
            format!(
                "timed out after {}s connecting to {target}",
                d.as_secs_f64()
            )
        }
    }
}

fn proxy_message(host: &str, failure: &NetFailure) -> String {
    match failure {
        NetFailure::Dns(reason) => format!("cannot resolve {host}: {reason}"),
        NetFailure::Io(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
            "connection refused (is the proxy running on that port?)".to_owned()
        }
        NetFailure::Io(e) => e.to_string(),
        NetFailure::Timeout(d) => format!("timed out after {}s", d.as_secs_f64()),
    }
}
