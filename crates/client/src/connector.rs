//! The connector under hyper-util's pooled client: the route for each
//! target (remembered by a [`Router`], so the pool's (scheme, authority)
//! key is a (target, route) key), [`dial`] along it, then TLS to `https`
//! targets with ALPN `h2` and `http/1.1`.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http::Uri;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::TokioIo;
pub(crate) use interpose_route::dial::ConnectTimings;
use interpose_route::dial::{dial, DialError, DialOptions, Mode, OriginIo as Io};
use interpose_route::{Route, RouteError, Router, Scheme, Target};
use rustls::pki_types::ServerName;
use tokio_rustls::TlsConnector;

/// Why the connector gave no stream.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnectError {
    #[error(transparent)]
    Route(Box<RouteError>),
    #[error(transparent)]
    Dial(Box<DialError>),
    #[error("TLS handshake with {authority} failed: {reason} (trust a private CA with --upstream-ca FILE, or skip checks with --insecure)")]
    Tls { authority: String, reason: String },
    #[error("timed out after {}s in the TLS handshake with {authority}", after.as_secs_f64())]
    TlsTimeout { authority: String, after: Duration },
}

#[derive(Clone)]
pub(crate) struct RoutedConnector {
    pub router: Arc<Router>,
    pub dial: Arc<DialOptions>,
    pub tls: TlsConnector,
}

impl RoutedConnector {
    pub fn route(&self, scheme: Scheme, host: &str, port: u16) -> Result<Route, RouteError> {
        self.router.route(&Target::new(scheme, host, port))
    }

    async fn connect(&self, uri: Uri) -> Result<RoutedStream, ConnectError> {
        let https = uri.scheme_str() == Some("https");
        let host = uri
            .host()
            .unwrap_or_default()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let scheme = if https { Scheme::Https } else { Scheme::Http };
        let route = self
            .route(scheme, &host, port)
            .map_err(|e| ConnectError::Route(Box::new(e)))?;
        let mode = if https {
            Mode::Tunnel
        } else {
            Mode::HttpRequest
        };
        let dialed = dial(&route, &host, port, mode, &self.dial)
            .await
            .map_err(|e| ConnectError::Dial(Box::new(e)))?;
        let connect_ms = ms(dialed.timings.total());
        if !https {
            return Ok(RoutedStream {
                io: TokioIo::new(Io::Plain(dialed.stream)),
                h2: false,
                absolute_form: dialed.absolute_form,
                timings: ConnectTimings::new(connect_ms, None),
            });
        }
        let authority = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        let name = ServerName::try_from(host.clone()).map_err(|_| ConnectError::Tls {
            authority: authority.clone(),
            reason: "invalid server name".into(),
        })?;
        let started = Instant::now();
        let handshake = self.tls.connect(name, dialed.stream);
        let stream = tokio::time::timeout(self.dial.timeout, handshake)
            .await
            .map_err(|_| ConnectError::TlsTimeout {
                authority: authority.clone(),
                after: self.dial.timeout,
            })?
            .map_err(|e| ConnectError::Tls {
                authority,
                // rustls's errors come wrapped in io::Error.
                reason: e
                    .get_ref()
                    .map_or_else(|| e.to_string(), |inner| inner.to_string()),
            })?;
        let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
        Ok(RoutedStream {
            io: TokioIo::new(Io::Tls(Box::new(stream))),
            h2,
            absolute_form: false,
            timings: ConnectTimings::new(connect_ms, Some(ms(started.elapsed()))),
        })
    }
}

pub(crate) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

impl tower_service::Service<Uri> for RoutedConnector {
    type Response = RoutedStream;
    type Error = ConnectError;
    type Future = Pin<Box<dyn Future<Output = Result<RoutedStream, ConnectError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let this = self.clone();
        Box::pin(async move { this.connect(uri).await })
    }
}

/// The stream hyper gets, with what it must know: h2 negotiated,
/// absolute-form to an HTTP proxy, set-up timings.
pub(crate) struct RoutedStream {
    io: TokioIo<Io>,
    h2: bool,
    absolute_form: bool,
    timings: ConnectTimings,
}

impl Connection for RoutedStream {
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

impl hyper::rt::Read for RoutedStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for RoutedStream {
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
}
