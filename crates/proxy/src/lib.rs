//! The capture proxy: the listener, HTTP/1.1 and HTTP/2 from clients,
//! CONNECT tunnels with TLS interception, and the pooled upstream client.
//!
//! It forwards traffic and hands each finished exchange to a [`Sink`] (the
//! capture channel); it never filters, stores or prints exchanges itself.
//! Certificates come from `interpose-tls`. Bodies stream through in both
//! directions: the record keeps a bounded copy, taken by a tee that never
//! blocks the traffic.
//!
//! Upstream traffic follows the route decision of `interpose-route`
//! ([`ProxyConfig::route`]: flags > custom proxy in settings > environment >
//! direct), dialed with `interpose_route::dial`, so a user behind a
//! corporate proxy can capture; each exchange records the route it took.
//! Every forwarded request passes through `forward::handle`, where the
//! transformation rules of `interpose-rules` ([`ProxyConfig::rules`]) edit
//! it, answer it locally, or send it elsewhere, and edit its response's
//! headers on the way back. Rules touch heads only: bodies still stream.
//!
//! In reverse mode ([`ProxyConfig::reverse`]) the listener takes ordinary
//! requests (plain or TLS, told apart by their first bytes, as for a
//! tunnel) and sends each to one of the targets, round-robin, skipping
//! targets that could not be reached for a while (`reverse`).

mod error;
mod forward;
mod framing;
mod hop;
mod reverse;
mod server;
mod sniff;
mod tee;
mod upstream;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use interpose_capture::{BodyPolicy, Exchange};
pub use interpose_route::RouteConfig;
pub use interpose_rules::LiveRules;
use interpose_tls::LeafIssuer;
use regex::Regex;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use error::{ConnectError, ProxyError};
pub use interpose_tls::UpstreamTls;
pub use reverse::{ReverseConfig, ReverseTarget};
pub use sniff::{classify, TunnelKind};

/// Where finished exchanges go. Called once per exchange, from the proxy's
/// tasks: it must not block (the CLI's sink does a `try_send`).
pub type Sink = Arc<dyn Fn(Exchange) + Send + Sync>;

/// How the proxy behaves; the CLI fills it from flags.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    /// Written into every exchange.
    pub session_id: i64,
    pub bodies: BodyPolicy,
    /// Hosts whose CONNECT tunnels pass through untouched (certificate
    /// pinning); each pattern is a regex matched against `host` and
    /// `host:port`.
    pub ignore_hosts: Vec<Regex>,
    pub upstream_tls: UpstreamTls,
    /// How traffic reaches origins: directly or through an upstream proxy,
    /// decided per target (settings, flags, environment). The default
    /// honours the process environment (`HTTPS_PROXY`, `NO_PROXY`, ...).
    pub route: RouteConfig,
    /// A client must send a request head within this long, also between
    /// requests on a kept-alive connection.
    pub client_timeout: Duration,
    /// How long to wait for a tunnel's first bytes before treating it as
    /// opaque (protocols where the server speaks first).
    pub sniff_timeout: Duration,
    pub connect_timeout: Duration,
    /// How long in-flight exchanges may run on after shutdown is asked.
    pub grace: Duration,
    /// Front these targets instead of being a forward proxy.
    pub reverse: Option<ReverseConfig>,
    /// Transformation rules, as they stand at each request (reloaded by
    /// whoever owns them).
    pub rules: Option<Arc<LiveRules>>,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        ProxyConfig {
            session_id: 0,
            bodies: BodyPolicy::default(),
            ignore_hosts: Vec::new(),
            upstream_tls: UpstreamTls::default(),
            route: RouteConfig::default(),
            client_timeout: Duration::from_secs(30),
            sniff_timeout: Duration::from_secs(1),
            connect_timeout: Duration::from_secs(10),
            grace: Duration::from_secs(5),
            reverse: None,
            rules: None,
        }
    }
}

impl ProxyConfig {
    fn ignores(&self, host: &str, port: u16) -> bool {
        let with_port = format!("{host}:{port}");
        self.ignore_hosts
            .iter()
            .any(|re| re.is_match(host) || re.is_match(&with_port))
    }
}

/// A bound, not yet running proxy.
pub struct Proxy {
    listener: TcpListener,
    shared: Arc<server::Shared>,
}

impl Proxy {
    /// Binds the listener. `sink` of `None` forwards without capturing
    /// (`--no-capture`, for benchmarks).
    pub async fn bind(
        addr: SocketAddr,
        config: ProxyConfig,
        issuer: LeafIssuer,
        sink: Option<Sink>,
    ) -> Result<Proxy, ProxyError> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| ProxyError::Bind { addr, source })?;
        let shared = server::Shared::new(config, issuer, sink)?;
        Ok(Proxy {
            listener,
            shared: Arc::new(shared),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Serves until `shutdown` is cancelled, then stops accepting, lets
    /// in-flight exchanges finish for up to the grace period, and returns.
    pub async fn run(self, shutdown: CancellationToken) {
        server::run(self.listener, self.shared, shutdown).await
    }
}
