//! The upstream side: one pooled HTTP/1.1 + HTTP/2 client to origins, with a
//! connector that times TCP and TLS set-up and says exactly why a connection
//! failed. The origin's protocol is negotiated by ALPN, independently of the
//! client's.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Uri;
use http_body_util::combinators::BoxBody;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::error::{BoxError, ConnectError, ConnectFailure};

/// The body type the proxy sends upstream and back to clients.
pub type ProxyBody = BoxBody<Bytes, BoxError>;

/// How origin certificates are checked.
#[derive(Debug, Clone, Default)]
pub struct UpstreamTls {
    /// Extra PEM files of trusted roots (`--upstream-ca`).
    pub extra_roots: Vec<PathBuf>,
    /// Accept any origin certificate (`--insecure-upstream`).
    pub insecure: bool,
}

/// System bundles, in the order distributions put them.
const SYSTEM_BUNDLES: [&str; 5] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
];

/// Roots: the system's, plus `SSL_CERT_FILE`, plus `--upstream-ca` files.
/// Falls back to the Mozilla set built in when the system has none.
pub fn root_store(tls: &UpstreamTls) -> Result<RootCertStore, crate::ProxyError> {
    let mut roots = RootCertStore::empty();
    let system = SYSTEM_BUNDLES
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file());
    match system {
        Some(path) => {
            add_pem_file(&mut roots, &path).ok();
        }
        None => {
            let native = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(native.certs);
        }
    }
    if roots.is_empty() {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    if let Some(file) = std::env::var_os("SSL_CERT_FILE") {
        let path = PathBuf::from(file);
        add_pem_file(&mut roots, &path).map_err(|reason| crate::ProxyError::Roots {
            path: path.clone(),
            reason: format!("{reason} (named by SSL_CERT_FILE)"),
        })?;
    }
    for path in &tls.extra_roots {
        add_pem_file(&mut roots, path).map_err(|reason| crate::ProxyError::Roots {
            path: path.clone(),
            reason,
        })?;
    }
    Ok(roots)
}

fn add_pem_file(roots: &mut RootCertStore, path: &PathBuf) -> Result<(), String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .map_err(|e| e.to_string())?
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    if certs.is_empty() {
        return Err("no PEM certificates in it".into());
    }
    let (added, _ignored) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err("none of its certificates could be used as a root".into());
    }
    Ok(())
}

pub fn client_config(
    tls: &UpstreamTls,
    alpn: &[&[u8]],
) -> Result<Arc<ClientConfig>, crate::ProxyError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("the aws-lc-rs provider supports the default protocol versions");
    let mut config = if tls.insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider)))
            .with_no_client_auth()
    } else {
        builder
            .with_root_certificates(root_store(tls)?)
            .with_no_client_auth()
    };
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}

/// Set-up times of a fresh upstream connection. Attached to every response
/// on that connection; only the first exchange claims them, the rest ran on
/// a reused connection and report none.
#[derive(Debug, Clone)]
pub struct ConnectTimings {
    pub connect_ms: f64,
    pub tls_ms: Option<f64>,
    claimed: Arc<AtomicBool>,
}

impl ConnectTimings {
    /// `(connect, tls)` for the first exchange on the connection, else `None`.
    pub fn claim(&self) -> Option<(f64, Option<f64>)> {
        (!self.claimed.swap(true, Ordering::Relaxed)).then_some((self.connect_ms, self.tls_ms))
    }
}

/// Makes TCP (and TLS for `https`) connections to origins.
#[derive(Clone)]
pub struct OriginConnector {
    tls: TlsConnector,
    connect_timeout: Duration,
}

impl OriginConnector {
    pub fn new(config: Arc<ClientConfig>, connect_timeout: Duration) -> Self {
        OriginConnector {
            tls: TlsConnector::from(config),
            connect_timeout,
        }
    }

    /// Resolves and connects to `host:port`, trying each address in turn.
    pub async fn tcp(&self, host: &str, port: u16) -> Result<TcpStream, ConnectError> {
        let fail = |failure| ConnectError::new(host, port, failure);
        let lookup = tokio::net::lookup_host((host, port));
        let addrs: Vec<SocketAddr> = tokio::time::timeout(self.connect_timeout, lookup)
            .await
            .map_err(|_| fail(ConnectFailure::Timeout(self.connect_timeout)))?
            .map_err(|e| fail(ConnectFailure::Dns(e.to_string())))?
            .collect();
        if addrs.is_empty() {
            return Err(fail(ConnectFailure::Dns("no addresses found".into())));
        }
        let mut last = None;
        for addr in addrs {
            match tokio::time::timeout(self.connect_timeout, TcpStream::connect(addr)).await {
                Ok(Ok(stream)) => {
                    let _ = stream.set_nodelay(true);
                    return Ok(stream);
                }
                Ok(Err(e)) => last = Some(ConnectFailure::Io(e)),
                Err(_) => last = Some(ConnectFailure::Timeout(self.connect_timeout)),
            }
        }
        Err(fail(last.expect("at least one address was tried")))
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
        let started = Instant::now();
        let tcp = self.tcp(&host, port).await?;
        let connect_ms = ms(started.elapsed());
        if !https {
            return Ok(OriginStream {
                io: TokioIo::new(Io::Plain(tcp)),
                h2: false,
                timings: timings(connect_ms, None),
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
        let handshake = self.tls.connect(name, tcp);
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
            timings: timings(connect_ms, Some(ms(tls_started.elapsed()))),
        })
    }
}

fn timings(connect_ms: f64, tls_ms: Option<f64>) -> ConnectTimings {
    ConnectTimings {
        connect_ms,
        tls_ms,
        claimed: Arc::new(AtomicBool::new(false)),
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

/// A plain or TLS connection to an origin.
pub enum Io {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl AsyncRead for Io {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Io::Tls(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Io {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Io::Tls(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Io::Tls(s) => Pin::new(s).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Io::Plain(s) => s.is_write_vectored(),
            Io::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_flush(cx),
            Io::Tls(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Io::Tls(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

/// What the connector hands hyper: the stream plus what hyper should know
/// about it (h2 negotiated, set-up timings).
pub struct OriginStream {
    io: TokioIo<Io>,
    h2: bool,
    timings: ConnectTimings,
}

impl Connection for OriginStream {
    fn connected(&self) -> Connected {
        let connected = Connected::new().extra(self.timings.clone());
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
/// second pool whose TLS offers only `http/1.1`.
pub struct Upstream {
    pub client: OriginClient,
    pub client_h1: OriginClient,
    pub connector: OriginConnector,
}

impl Upstream {
    pub fn new(tls: &UpstreamTls, connect_timeout: Duration) -> Result<Self, crate::ProxyError> {
        let both =
            OriginConnector::new(client_config(tls, &[b"h2", b"http/1.1"])?, connect_timeout);
        let h1 = OriginConnector::new(client_config(tls, &[b"http/1.1"])?, connect_timeout);
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

/// `--insecure-upstream`: still checks signatures so the handshake is sound,
/// but trusts any certificate.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
