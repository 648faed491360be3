//! Dialing a [`Route`]: a byte stream to a target, directly or through the
//! proxy the route names. This is the crate's one network edge; the
//! decision itself ([`crate::decide`]) stays pure.
//!
//! - direct: TCP to the target, trying each resolved address in turn;
//! - `http://` proxy: TCP to the proxy, then `CONNECT host:port` for
//!   [`Mode::Tunnel`]. For [`Mode::HttpRequest`] the stream to the proxy
//!   itself is handed back ([`Dialed::absolute_form`]): the caller sends
//!   absolute-form requests on it (hyper-util does so when its connector
//!   reports `Connected::proxy(true)`) with [`proxy_authorization`] added,
//!   and checks answers with [`forwarded_response_error`];
//! - `https://` proxy: the same, over TLS to the proxy;
//! - `socks5://` (the name is resolved here and the proxy is given an
//!   address) and `socks5h://` (the proxy is given the name), with
//!   username/password authentication (RFC 1928, RFC 1929). The SOCKS5
//!   client is written here: it is about a hundred lines, and owning it
//!   lets every reply code become a sentence naming the proxy.
//!
//! Credentials are sent up front (Basic for HTTP proxies, RFC 1929 for
//! SOCKS5), so a refusal means either that none were known or that they
//! were wrong; neither is retried, and errors never show a password.

mod error;
mod http_proxy;
mod origin;
mod socks5;
mod stream;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use tokio::net::TcpStream;

pub use error::{DialError, NetFailure};
pub use origin::{ConnectTimings, OriginIo};
pub use stream::{DialedStream, Prefixed};

use crate::decide::Route;
use crate::proxy_url::{ProxyScheme, ProxyUrl};

/// What the caller will do with the stream; decides whether an HTTP proxy
/// is asked to `CONNECT`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Plain-HTTP requests (an `http://` URL): an HTTP proxy takes them in
    /// absolute-form on its own connection, no `CONNECT`.
    HttpRequest,
    /// A byte stream to the target itself: TLS to an `https://` origin, a
    /// WebSocket, an opaque tunnel. HTTP proxies are asked to `CONNECT`.
    Tunnel,
}

/// How to dial.
#[derive(Clone, Debug)]
pub struct DialOptions {
    /// TLS to `https://` proxies (not to the target). Its ALPN offer should
    /// be empty or `http/1.1`: a `CONNECT` is an HTTP/1.1 request. Without
    /// it an `https://` proxy cannot be used.
    pub proxy_tls: Option<Arc<rustls::ClientConfig>>,
    /// Bound on each step: the name lookup, each TCP connect, the TLS
    /// handshake with the proxy, and the proxy's answer.
    pub timeout: Duration,
}

/// How long each step of a dial took.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct DialTimings {
    /// Name lookup and TCP connect to the first hop (the target or the
    /// proxy).
    pub tcp: Duration,
    /// TLS handshake with an `https://` proxy.
    pub proxy_tls: Option<Duration>,
    /// `CONNECT` or the SOCKS5 handshake.
    pub tunnel: Option<Duration>,
}

impl DialTimings {
    /// Everything it took to have a stream to the target.
    pub fn total(&self) -> Duration {
        self.tcp + self.proxy_tls.unwrap_or_default() + self.tunnel.unwrap_or_default()
    }
}

/// A dialed stream and what the caller must know about it.
#[derive(Debug)]
pub struct Dialed {
    pub stream: DialedStream,
    /// The stream goes to an HTTP(S) proxy, not to the target: send
    /// absolute-form requests on it, with [`proxy_authorization`].
    pub absolute_form: bool,
    pub timings: DialTimings,
}

/// Opens a stream to `host:port` the way `route` says.
///
/// `host` is a name or an IP literal (IPv6 with or without brackets).
pub async fn dial(
    route: &Route,
    host: &str,
    port: u16,
    mode: Mode,
    options: &DialOptions,
) -> Result<Dialed, DialError> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let Some(proxy) = &route.proxy else {
        let started = Instant::now();
        let tcp = connect_tcp(host, port, options.timeout)
            .await
            .map_err(|failure| DialError::Target {
                host: host.to_owned(),
                port,
                failure,
            })?;
        return Ok(Dialed {
            stream: DialedStream::tcp(tcp),
            absolute_form: false,
            timings: DialTimings {
                tcp: started.elapsed(),
                ..DialTimings::default()
            },
        });
    };
    let via = Via {
        proxy,
        chosen_by: &route.reason,
    };
    match proxy.scheme {
        ProxyScheme::Http | ProxyScheme::Https => {
            http_proxy::dial(via, host, port, mode, options).await
        }
        ProxyScheme::Socks5 | ProxyScheme::Socks5h => socks5::dial(via, host, port, options).await,
    }
}

/// `Proxy-Authorization` for requests sent in absolute-form to `proxy`:
/// `Basic base64(user:password)`, or `None` without credentials. The
/// value holds the password: never log it.
pub fn proxy_authorization(proxy: &ProxyUrl) -> Option<String> {
    let user = proxy.username.as_deref()?;
    let password = proxy.password.as_deref().unwrap_or("");
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    Some(format!("Basic {token}"))
}

/// The error for an answer to an absolute-form request sent through
/// `route`'s HTTP proxy: a `407` is the proxy refusing us (an origin never
/// sends one), worded as for a refused `CONNECT`. Anything else is the
/// origin's answer and `None`.
pub fn forwarded_response_error(route: &Route, status: u16) -> Option<DialError> {
    let proxy = route.proxy.as_ref()?;
    if status != 407 || proxy.scheme.is_socks() {
        return None;
    }
    Some(DialError::auth(proxy, "407"))
}

/// The proxy being dialed and the rule that chose it, for messages.
#[derive(Clone, Copy)]
struct Via<'a> {
    proxy: &'a ProxyUrl,
    chosen_by: &'a str,
}

impl Via<'_> {
    fn name(&self) -> String {
        self.proxy.without_credentials()
    }

    /// TCP to the proxy itself.
    async fn connect(&self, timeout: Duration) -> Result<TcpStream, DialError> {
        connect_tcp(&self.proxy.host, self.proxy.port, timeout)
            .await
            .map_err(|failure| DialError::ProxyUnreachable {
                proxy: self.name(),
                proxy_host: self.proxy.host.clone(),
                chosen_by: self.chosen_by.to_owned(),
                failure,
            })
    }
}

/// Resolves `host` (unless it is an address) with a bound on the lookup.
pub(crate) async fn resolve(
    host: &str,
    port: u16,
    timeout: Duration,
) -> Result<Vec<SocketAddr>, NetFailure> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let addrs: Vec<SocketAddr> =
        tokio::time::timeout(timeout, tokio::net::lookup_host((host, port)))
            .await
            .map_err(|_| NetFailure::Timeout(timeout))?
            .map_err(|e| NetFailure::Dns(e.to_string()))?
            .collect();
    if addrs.is_empty() {
        return Err(NetFailure::Dns("no addresses found".into()));
    }
    Ok(addrs)
}

/// Resolves and connects to `host:port`, trying each address in turn.
async fn connect_tcp(host: &str, port: u16, timeout: Duration) -> Result<TcpStream, NetFailure> {
    let mut last = None;
    for addr in resolve(host, port, timeout).await? {
        match connect_addr(addr, timeout).await {
            Ok(stream) => return Ok(stream),
            Err(failure) => last = Some(failure),
        }
    }
    Err(last.expect("resolve returns at least one address"))
}

async fn connect_addr(addr: SocketAddr, timeout: Duration) -> Result<TcpStream, NetFailure> {
    match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
        Ok(Ok(stream)) => {
            let _ = stream.set_nodelay(true);
            Ok(stream)
        }
        Ok(Err(e)) => Err(NetFailure::Io(e)),
        Err(_) => Err(NetFailure::Timeout(timeout)),
    }
}

/// `host:port` as a request target, with brackets around IPv6.
fn authority(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxy(url: &str) -> ProxyUrl {
        ProxyUrl::parse(url).unwrap()
    }

    #[test]
    fn basic_credentials_are_the_percent_decoded_user_and_password() {
        let value = proxy_authorization(&proxy("http://alice:p%40ss@proxy:3128")).unwrap();
        let token = value.strip_prefix("Basic ").unwrap();
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(token)
            .unwrap();
        assert_eq!(decoded, b"alice:p@ss");
        assert_eq!(proxy_authorization(&proxy("http://proxy:3128")), None);
        let no_password = proxy_authorization(&proxy("http://bob@proxy:3128")).unwrap();
        assert_eq!(
            base64::engine::general_purpose::STANDARD
                .decode(no_password.strip_prefix("Basic ").unwrap())
                .unwrap(),
            b"bob:"
        );
    }

    #[test]
    fn a_forwarded_407_is_the_proxy_refusing_us() {
        let route = |url: &str| Route {
            proxy: Some(proxy(url)),
            reason: "--proxy flag".into(),
        };
        let without = forwarded_response_error(&route("http://proxy.corp:3128"), 407).unwrap();
        assert_eq!(
            without.to_string(),
            "proxy http://proxy.corp:3128 requires authentication (407); give credentials \
             with --proxy-user U:P or in the proxy URL"
        );
        let with = forwarded_response_error(&route("http://al:secret@proxy.corp:3128"), 407)
            .unwrap()
            .to_string();
        assert!(
            with.contains("refused the credentials for user \"al\""),
            "{with}"
        );
        assert!(!with.contains("secret"), "{with}");
        assert!(forwarded_response_error(&route("http://proxy.corp:3128"), 401).is_none());
        let direct = Route {
            proxy: None,
            reason: "no proxy configured".into(),
        };
        assert!(forwarded_response_error(&direct, 407).is_none());
    }

    #[test]
    fn authorities_bracket_ipv6() {
        assert_eq!(authority("::1", 443), "[::1]:443");
        assert_eq!(authority("example.com", 80), "example.com:80");
    }
}
