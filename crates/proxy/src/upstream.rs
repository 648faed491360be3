//! The upstream side: one pooled HTTP/1.1 + HTTP/2 client to origins, with a
//! connector that follows the route decision (direct, or through an HTTP(S)
//! or SOCKS5 proxy, via `interpose_route::dial`), times set-up, and says
//! exactly why a connection failed. The origin's protocol is negotiated by
//! ALPN, independently of the client's.
//!
//! hyper-util's pool is keyed by scheme and authority. The [`Router`]
//! remembers each target's decision, so every pooled connection to a target
//! went the one way the router says: the pool is keyed by (target, route).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Uri;
use http_body_util::combinators::BoxBody;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use interpose_route::dial::{
    dial, ConnectTimings, DialOptions, DialedStream, Mode, OriginIo as Io,
};
use interpose_route::{Route, Router, Scheme};
use interpose_tls::UpstreamTls;
use rustls::pki_types::ServerName;
use rustls::ClientConfig;
use tokio_rustls::TlsConnector;

use crate::error::{BoxError, ConnectError, ConnectFailure};
use crate::ProxyConfig;

/// The body type the proxy sends upstream and back to clients.
pub type ProxyBody = BoxBody<Bytes, BoxError>;

/// A client config for origins over interpose-tls's upstream roots.
pub fn client_config(
    tls: &UpstreamTls,
    alpn: &[&[u8]],
) -> Result<Arc<ClientConfig>, crate::ProxyError> {
    interpose_tls::roots::client_config(tls, alpn).map_err(|e| crate::ProxyError::Roots {
        path: e.path,
        reason: e.reason,
    })
}

/// Makes connections to origins along their route: TCP (direct, or a
/// tunnel through a proxy), then TLS for `https`.
#[derive(Clone)]
pub struct OriginConnector {
    tls: TlsConnector,
    router: Arc<Router>,
    dial: Arc<DialOptions>,
    /// Tunnel plain-HTTP targets too, instead of absolute-form requests to
    /// an HTTP proxy: the upgrade pool's connector, since a WebSocket goes
    /// through an HTTP proxy by `CONNECT`, as browsers send it.
    tunnel_only: bool,
    connect_timeout: Duration,
}

impl OriginConnector {
    fn new(
        config: Arc<ClientConfig>,
        router: Arc<Router>,
        dial: Arc<DialOptions>,
        tunnel_only: bool,
    ) -> Self {
        OriginConnector {
            tls: TlsConnector::from(config),
            connect_timeout: dial.timeout,
            router,
            dial,
            tunnel_only,
        }
    }

    /// The route to `host:port` for a request of `scheme`.
    pub fn route(&self, scheme: Scheme, host: &str, port: u16) -> Result<Route, ConnectError> {
        let target = interpose_route::Target::new(scheme, host, port);
        self.router
            .route(&target)
            .map_err(|e| ConnectError::new(host, port, ConnectFailure::Route(Box::new(e))))
    }

    /// A byte stream to `host:port` along its route (a `CONNECT` target:
    /// routed as `https`), for tunnels that are passed through untouched.
    pub async fn tunnel(&self, host: &str, port: u16) -> Result<DialedStream, ConnectError> {
        let route = self.route(Scheme::Https, host, port)?;
        dial(&route, host, port, Mode::Tunnel, &self.dial)
            .await
            .map(|dialed| dialed.stream)
            .map_err(|e| ConnectError::new(host, port, ConnectFailure::Dial(Box::new(e))))
    }

    async fn connect(&self, uri: Uri) -> Result<OriginStream, ConnectError> {
        let https = uri.scheme_str() == Some("https");
        let host = uri
            .host()
            .unwrap_or_default()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let scheme = if https { Scheme::Https } else { Scheme::Http };
        let route = self.route(scheme, &host, port)?;
        let mode = if https || self.tunnel_only {
            Mode::Tunnel
        } else {
            Mode::HttpRequest
        };
        let dialed = dial(&route, &host, port, mode, &self.dial)
            .await
            .map_err(|e| ConnectError::new(&host, port, ConnectFailure::Dial(Box::new(e))))?;
        let connect_ms = ms(dialed.timings.total());
        if !https {
            return Ok(OriginStream {
                io: TokioIo::new(Io::Plain(dialed.stream)),
                h2: false,
                absolute_form: dialed.absolute_form,
                timings: ConnectTimings::new(connect_ms, None),
            });
        }
        let name = ServerName::try_from(host.clone()).map_err(|_| {
            ConnectError::new(
                &host,
                port,
                ConnectFailure::Tls("invalid server name".into()),
            )
        })?;
        let tls_started = Instant::now();
        let handshake = self.tls.connect(name, dialed.stream);
        let stream = tokio::time::timeout(self.connect_timeout, handshake)
            .await
            .map_err(|_| {
                ConnectError::new(&host, port, ConnectFailure::Timeout(self.connect_timeout))
            })?
            .map_err(|e| ConnectError::new(&host, port, ConnectFailure::Tls(tls_reason(&e))))?;
        let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
        Ok(OriginStream {
            io: TokioIo::new(Io::Tls(Box::new(stream))),
            h2,
            absolute_form: false,
            timings: ConnectTimings::new(connect_ms, Some(ms(tls_started.elapsed()))),
        })
    }
}

/// rustls wraps its alert/certificate errors in io::Error; unwrap them so
/// the user reads "invalid peer certificate: UnknownIssuer", not "io error".
fn tls_reason(e: &io::Error) -> String {
    match e.get_ref() {
        Some(inner) => inner.to_string(),
        None => e.to_string(),
    }
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

impl tower_service::Service<Uri> for OriginConnector {
    type Response = OriginStream;
    type Error = ConnectError;
    type Future = Pin<Box<dyn Future<Output = Result<OriginStream, ConnectError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let this = self.clone();
        Box::pin(async move { this.connect(uri).await })
    }
}

/// A plain or TLS connection to an origin (through any tunnel), or a plain
/// connection to an HTTP proxy taking absolute-form requests.
/// What the connector hands hyper: the stream plus what hyper should know
/// about it (h2 negotiated, absolute-form to a proxy, set-up timings).
pub struct OriginStream {
    io: TokioIo<Io>,
    h2: bool,
    /// The stream goes to an HTTP proxy: hyper then sends absolute-form.
    absolute_form: bool,
    timings: ConnectTimings,
}

impl Connection for OriginStream {
    fn connected(&self) -> Connected {
        let connected = Connected::new()
            .proxy(self.absolute_form)
            .extra(self.timings.clone());
        if self.h2 {
            connected.negotiated_h2()
        } else {
            connected
        }
    }
}

impl hyper::rt::Read for OriginStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for OriginStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }
}

pub type OriginClient = Client<OriginConnector, ProxyBody>;

/// The pooled client. Upgrades (WebSocket) need HTTP/1.1, so they use a
/// second pool whose TLS offers only `http/1.1` (and which tunnels through
/// HTTP proxies rather than sending absolute-form).
pub struct Upstream {
    pub client: OriginClient,
    pub client_h1: OriginClient,
    pub connector: OriginConnector,
}

impl Upstream {
    pub fn new(config: &ProxyConfig) -> Result<Self, crate::ProxyError> {
        let tls: &UpstreamTls = &config.upstream_tls;
        let router = Arc::new(Router::new(config.route.clone()));
        // The same trust for https:// proxies as for origins; a CONNECT is
        // HTTP/1.1.
        let dial = Arc::new(DialOptions {
            proxy_tls: Some(client_config(tls, &[b"http/1.1"])?),
            timeout: config.connect_timeout,
        });
        let both = OriginConnector::new(
            client_config(tls, &[b"h2", b"http/1.1"])?,
            router.clone(),
            dial.clone(),
            false,
        );
        let h1 = OriginConnector::new(client_config(tls, &[b"http/1.1"])?, router, dial, true);
        let build = |connector: OriginConnector| {
            Client::builder(TokioExecutor::new())
                .timer(TokioTimer::new())
                .pool_timer(TokioTimer::new())
                .pool_idle_timeout(Duration::from_secs(90))
                .pool_max_idle_per_host(256)
                // Hyper lower-cases names on the way in; keep the client's
                // spelling on the way out, as the origin would have seen it.
                .http1_preserve_header_case(true)
                .http1_title_case_headers(false)
                .build(connector)
        };
        Ok(Upstream {
            client: build(both.clone()),
            client_h1: build(h1),
            connector: both,
        })
    }
}
