//! Shared test support for interpose's integration tests (proxy and CLI).
//!
//! Everything here runs real servers on `127.0.0.1:0`, in-process, on the caller's tokio runtime:
//!
//! - [`TestCa`]: a certificate authority independent from interpose's own CA, which signs origin
//!   certificates for `localhost`, `127.0.0.1`, `::1` and any extra names.
//! - [`Origin`]: an HTTP origin (plain: HTTP/1.1 and h2c prior knowledge; or TLS with ALPN per
//!   [`Protocols`]) serving a fixed set of routes (`/hello`, `/echo`, `/json`, `/gzip`,
//!   `/bytes/N`, `/image`, `/status/CODE`, `/slow/MS`, `/reset`, `/sse`, `/ws`,
//!   `/set-cookie?c=...`, `/typed/...?type=...`) and recording every request it sees.
//! - [`BannerServer`]: a TCP server that speaks first, then echoes (opaque tunnel tests).
//! - [`closed_port`]: a loopback port nobody listens on ("connection refused" tests).
//! - [`proxied_client`]: a reqwest client that goes through a given proxy and trusts only the
//!   given roots.
//! - [`ParentProxy`]: a real HTTP forward proxy (absolute-form and `CONNECT`, optionally
//!   requiring Basic credentials, optionally over TLS) recording what passed through it; and
//!   [`Socks5Proxy`] (no auth or username/password) recording the targets it was asked for.
//!
//! Servers stop when their handle is dropped: the accept task is aborted and every connection
//! (and WebSocket) task spawned for it ends too.
#![forbid(unsafe_code)]

use std::convert::Infallible;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt as _, StreamExt as _};
use http::{header, HeaderValue, Request, Response, StatusCode};
use http_body_util::{combinators::BoxBody, BodyExt as _, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type RespBody = BoxBody<Bytes, BoxError>;

/// Frame size used by `/bytes/N`.
const BYTES_FRAME: usize = 64 * 1024;

fn crypto_provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

// ---------------------------------------------------------------------------------------------
// TestCa
// ---------------------------------------------------------------------------------------------

/// A test certificate authority, independent from interpose's own CA, that signs origin
/// certificates for "localhost", "127.0.0.1", "::1" and any extra names.
///
/// Cloning is cheap and shares the same CA.
#[derive(Clone)]
pub struct TestCa {
    issuer: Arc<CertifiedIssuer<'static, KeyPair>>,
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCa").finish_non_exhaustive()
    }
}

impl Default for TestCa {
    fn default() -> Self {
        Self::new()
    }
}

impl TestCa {
    /// Creates a fresh CA (ECDSA P-256 key, CN "interpose-testsupport CA").
    pub fn new() -> TestCa {
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "interpose-testsupport CA");
        dn.push(DnType::OrganizationName, "interpose-testsupport");
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().expect("generate CA key");
        let issuer = CertifiedIssuer::self_signed(params, key).expect("self-sign test CA");
        TestCa {
            issuer: Arc::new(issuer),
        }
    }

    /// The CA certificate as PEM.
    pub fn cert_pem(&self) -> String {
        self.issuer.pem()
    }

    /// The CA certificate as DER.
    pub fn cert_der(&self) -> CertificateDer<'static> {
        self.issuer.der().clone()
    }

    /// Writes the CA cert PEM to a file in a tempdir and returns its path (for --upstream-ca /
    /// SSL_CERT_FILE). The file is `dir/test-ca.pem`.
    pub fn write_pem(&self, dir: &Path) -> PathBuf {
        let path = dir.join("test-ca.pem");
        std::fs::write(&path, self.cert_pem()).expect("write test CA PEM");
        path
    }

    /// A rustls server config presenting a fresh leaf (own key, signed by this CA, chain
    /// leaf + CA) valid for "localhost", "127.0.0.1", "::1" and `names`, offering `alpn`.
    pub fn server_config(&self, names: &[&str], alpn: &[&[u8]]) -> Arc<rustls::ServerConfig> {
        let (leaf, key) = self.leaf(names);
        let chain = vec![leaf.der().clone(), self.cert_der()];
        let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let mut config = rustls::ServerConfig::builder_with_provider(crypto_provider())
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_no_client_auth()
            .with_single_cert(chain, key_der)
            .expect("server config");
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Arc::new(config)
    }

    /// Writes a fresh leaf (as for [`TestCa::server_config`]) to `dir/leaf.pem` (leaf then
    /// CA) and its key to `dir/leaf-key.pem` (PKCS#8), as a user would give a server.
    pub fn write_leaf_pem(&self, dir: &Path, names: &[&str]) -> (PathBuf, PathBuf) {
        let (leaf, key) = self.leaf(names);
        let cert_path = dir.join("leaf.pem");
        let key_path = dir.join("leaf-key.pem");
        std::fs::write(&cert_path, format!("{}{}", leaf.pem(), self.cert_pem()))
            .expect("write leaf PEM");
        std::fs::write(&key_path, key.serialize_pem()).expect("write leaf key PEM");
        (cert_path, key_path)
    }

    fn leaf(&self, names: &[&str]) -> (rcgen::Certificate, KeyPair) {
        let mut sans: Vec<String> = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
        for name in names {
            if !sans.iter().any(|s| s.eq_ignore_ascii_case(name)) {
                sans.push((*name).to_owned());
            }
        }
        let mut params = CertificateParams::new(sans).expect("leaf SANs");
        let mut dn = DistinguishedName::new();
        dn.push(
            DnType::CommonName,
            names.first().copied().unwrap_or("localhost"),
        );
        params.distinguished_name = dn;
        params.is_ca = IsCa::ExplicitNoCa;
        params.use_authority_key_identifier_extension = true;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let key = KeyPair::generate().expect("generate leaf key");
        let leaf = params
            .signed_by(&key, &self.issuer)
            .expect("sign leaf certificate");
        (leaf, key)
    }

    /// A rustls client config trusting only this CA, offering `alpn` (handy for raw TLS tests).
    pub fn client_config(&self, alpn: &[&[u8]]) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.cert_der()).expect("add test CA root");
        let mut config = rustls::ClientConfig::builder_with_provider(crypto_provider())
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Arc::new(config)
    }
}

// ---------------------------------------------------------------------------------------------
// Origin
// ---------------------------------------------------------------------------------------------

/// Which HTTP versions a TLS [`Origin`] offers through ALPN.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocols {
    /// Only `http/1.1` offered.
    Http1,
    /// Only `h2` offered.
    Http2,
    /// `h2` then `http/1.1`.
    Both,
}

impl Protocols {
    fn alpn(self) -> &'static [&'static [u8]] {
        match self {
            Protocols::Http1 => &[b"http/1.1"],
            Protocols::Http2 => &[b"h2"],
            Protocols::Both => &[b"h2", b"http/1.1"],
        }
    }
}

/// One request as the origin saw it.
#[derive(Clone, Debug)]
pub struct SeenRequest {
    pub method: String,
    /// The request target as received: origin-form (`/path?q`) for HTTP/1.1, absolute for h2.
    pub uri: String,
    pub version: http::Version,
    /// Header names are lowercase (as hyper gives them); values are lossy UTF-8.
    pub headers: Vec<(String, String)>,
    /// Bytes of request body received (the origin reads every request body fully).
    pub body_len: usize,
}

/// Stops a server when dropped: aborts its accept task and, by dropping the shutdown sender,
/// ends every connection task spawned for it.
#[derive(Debug)]
struct ServerGuard {
    accept: JoinHandle<()>,
    _shutdown: watch::Sender<()>,
}

impl Drop for ServerGuard {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// Spawns `fut` on the current runtime; it is cancelled when the server's handle is dropped.
fn spawn_until_shutdown<F>(mut shutdown: watch::Receiver<()>, fut: F)
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    tokio::spawn(async move {
        tokio::select! {
            _ = shutdown.changed() => {}
            () = fut => {}
        }
    });
}

struct OriginState {
    hits: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<SeenRequest>>>,
    shutdown: watch::Receiver<()>,
}

/// An in-process HTTP origin on 127.0.0.1 (see the crate docs for its routes). Stops when
/// dropped.
#[derive(Debug)]
pub struct Origin {
    pub addr: SocketAddr,
    /// Requests received (incremented before answering).
    pub hits: Arc<AtomicUsize>,
    /// Every request received, in arrival order (recorded before answering).
    pub requests: Arc<Mutex<Vec<SeenRequest>>>,
    tls: bool,
    _guard: ServerGuard,
}

impl Origin {
    /// Plain HTTP origin (HTTP/1.1 and h2c prior knowledge via auto builder).
    pub async fn http() -> Origin {
        Self::start(None).await
    }

    /// HTTPS origin with a cert from `ca` for localhost/127.0.0.1/::1, ALPN per `protocols`
    /// (Http1 => only http/1.1 offered; Http2 => only h2; Both => h2 then http/1.1).
    pub async fn https(ca: &TestCa, protocols: Protocols) -> Origin {
        let config = ca.server_config(&[], protocols.alpn());
        Self::start(Some(tokio_rustls::TlsAcceptor::from(config))).await
    }

    async fn start(tls: Option<tokio_rustls::TlsAcceptor>) -> Origin {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind origin listener");
        let addr = listener.local_addr().expect("origin local addr");
        let (shutdown_tx, shutdown_rx) = watch::channel(());
        let hits = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let state = Arc::new(OriginState {
            hits: hits.clone(),
            requests: requests.clone(),
            shutdown: shutdown_rx,
        });
        let is_tls = tls.is_some();
        let accept = tokio::spawn(async move {
            loop {
                let Ok((tcp, _peer)) = listener.accept().await else {
                    // EMFILE and friends: back off instead of spinning.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                let _ = tcp.set_nodelay(true);
                let state = state.clone();
                let tls = tls.clone();
                spawn_until_shutdown(state.shutdown.clone(), async move {
                    match tls {
                        None => serve_http(tcp, state).await,
                        Some(acceptor) => {
                            if let Ok(stream) = acceptor.accept(tcp).await {
                                serve_http(stream, state).await;
                            }
                        }
                    }
                });
            }
        });
        Origin {
            addr,
            hits,
            requests,
            tls: is_tls,
            _guard: ServerGuard {
                accept,
                _shutdown: shutdown_tx,
            },
        }
    }

    /// `http://127.0.0.1:PORT/path`, or `https://localhost:PORT/path` for TLS origins. A
    /// missing leading `/` is added.
    pub fn url(&self, path: &str) -> String {
        let slash = if path.starts_with('/') { "" } else { "/" };
        if self.tls {
            format!("https://localhost:{}{slash}{path}", self.port())
        } else {
            format!("http://127.0.0.1:{}{slash}{path}", self.port())
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Whether this origin speaks TLS.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// A snapshot of the requests seen so far.
    pub fn seen(&self) -> Vec<SeenRequest> {
        self.requests.lock().expect("requests lock").clone()
    }
}

async fn serve_http<I>(io: I, state: Arc<OriginState>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |req| handle(req, state.clone()));
    let builder = auto::Builder::new(TokioExecutor::new());
    let _ = builder
        .serve_connection_with_upgrades(TokioIo::new(io), service)
        .await;
}

async fn handle(
    req: Request<Incoming>,
    state: Arc<OriginState>,
) -> Result<Response<RespBody>, Infallible> {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_owned();
    let keep_body = path == "/echo";
    let (body_len, body_bytes) = read_body(body, keep_body).await;

    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    state
        .requests
        .lock()
        .expect("requests lock")
        .push(SeenRequest {
            method: parts.method.to_string(),
            uri: parts.uri.to_string(),
            version: parts.version,
            headers: headers.clone(),
            body_len,
        });
    state.hits.fetch_add(1, Ordering::SeqCst);

    let is_get = parts.method == http::Method::GET;
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let resp = match (is_get, segments.as_slice()) {
        (true, ["hello"]) => text(StatusCode::OK, "text/plain", "hello from origin"),
        (_, ["echo"]) => {
            let json = serde_json::json!({
                "method": parts.method.as_str(),
                "path": parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/"),
                "version": format!("{:?}", parts.version),
                "headers": headers.iter().map(|(n, v)| [n, v]).collect::<Vec<_>>(),
                "body_len": body_len,
                "body": String::from_utf8_lossy(&body_bytes),
            });
            text(StatusCode::OK, "application/json", json.to_string())
        }
        (true, ["json"]) => text(
            StatusCode::OK,
            "application/json",
            r#"{"ok":true,"items":[1,2,3]}"#,
        ),
        (true, ["gzip"]) => {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            enc.write_all(br#"{"compressed":true}"#).expect("gzip");
            let mut resp = text(
                StatusCode::OK,
                "application/json",
                enc.finish().expect("gzip"),
            );
            resp.headers_mut()
                .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            resp
        }
        (true, ["bytes", n]) => match n.parse::<u64>() {
            Ok(n) => bytes_response(n),
            Err(_) => no_route(),
        },
        (true, ["image"]) => text(StatusCode::OK, "image/png", fake_png()),
        (true, ["status", code]) => status_response(code),
        (true, ["slow", ms]) => match ms.parse::<u64>() {
            Ok(ms) => {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                text(StatusCode::OK, "text/plain", "slow")
            }
            Err(_) => no_route(),
        },
        (true, ["reset"]) => reset_response(),
        (true, ["sse"]) => sse_response(),
        (true, ["set-cookie"]) => set_cookie_response(parts.uri.query().unwrap_or("")),
        (true, ["typed", ..]) => typed_response(parts.uri.query().unwrap_or("")),
        (true, ["ws"]) if is_websocket_upgrade(&parts.headers) => {
            websocket_response(parts, state.shutdown.clone())
        }
        _ => no_route(),
    };
    Ok(resp)
}

/// Reads the whole body, counting bytes; keeps them only when `keep`. Stops at a body error.
async fn read_body(mut body: Incoming, keep: bool) -> (usize, Vec<u8>) {
    let mut len = 0;
    let mut kept = Vec::new();
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else { break };
        if let Some(data) = frame.data_ref() {
            len += data.len();
            if keep {
                kept.extend_from_slice(data);
            }
        }
    }
    (len, kept)
}

fn full(body: impl Into<Bytes>) -> RespBody {
    Full::new(body.into())
        .map_err(|never: Infallible| match never {})
        .boxed()
}

fn text(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<RespBody> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, content_type)
        .body(full(body))
        .expect("response")
}

fn no_route() -> Response<RespBody> {
    text(StatusCode::NOT_FOUND, "text/plain", "no route")
}

/// `/status/CODE`: codes 200..=599; 204 and 304 get an empty body, anything else "status CODE".
fn status_response(code: &str) -> Response<RespBody> {
    let Some(status) = code
        .parse::<u16>()
        .ok()
        .filter(|c| (200..=599).contains(c))
        .and_then(|c| StatusCode::from_u16(c).ok())
    else {
        return no_route();
    };
    if status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED {
        return Response::builder()
            .status(status)
            .body(full(Bytes::new()))
            .expect("response");
    }
    text(status, "text/plain", format!("status {}", status.as_u16()))
}

/// The percent-decoded values of query parameter `name`, in order (`+` stays `+`).
fn query_values(query: &str, name: &str) -> Vec<String> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .filter(|(k, _)| *k == name)
        .map(|(_, v)| percent_decode(v))
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `/set-cookie?c=VALUE&c=VALUE`: one `Set-Cookie: VALUE` header per `c` (percent-decoded), in
/// order; body `cookies set`.
fn set_cookie_response(query: &str) -> Response<RespBody> {
    let mut resp = text(StatusCode::OK, "text/plain", "cookies set");
    for value in query_values(query, "c") {
        if let Ok(v) = HeaderValue::from_str(&value) {
            resp.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    resp
}

/// `/typed/ANY/PATH?type=CONTENT-TYPE`: 200 with that `Content-Type` (percent-decoded), or with
/// no `Content-Type` at all when `type` is absent; body `typed`.
fn typed_response(query: &str) -> Response<RespBody> {
    let mut builder = Response::builder().status(StatusCode::OK);
    if let Some(t) = query_values(query, "type").pop() {
        builder = builder.header(header::CONTENT_TYPE, t);
    }
    builder.body(full("typed")).expect("response")
}

/// The deterministic `/bytes/N` pattern: byte `i` is `((i * 31 + 7) % 251) as u8`, for
/// absolute offsets `offset..offset + len`.
pub fn pattern_chunk(offset: u64, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    // The pattern has period 251; walk it from `offset % 251`.
    let mut i = offset % 251;
    for _ in 0..len {
        out.push(((i * 31 + 7) % 251) as u8);
        i += 1;
        if i == 251 {
            i = 0;
        }
    }
    out
}

fn bytes_response(n: u64) -> Response<RespBody> {
    let frames = (0..n).step_by(BYTES_FRAME).map(move |off| {
        let len = (n - off).min(BYTES_FRAME as u64) as usize;
        Ok::<_, BoxError>(Frame::data(Bytes::from(pattern_chunk(off, len))))
    });
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .header(header::CONTENT_LENGTH, n)
        .body(http_body_util::BodyExt::boxed(StreamBody::new(
            futures_util::stream::iter(frames),
        )))
        .expect("response")
}

/// A fixed 2048-byte "PNG": the PNG signature, then deterministic filler.
fn fake_png() -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend((0..2040u32).map(|i| (i * 7 % 256) as u8));
    png
}

/// Promises 1_000_000 bytes, sends 1000, then (after a 50 ms pause, so the head and those
/// bytes are flushed to the client) fails the body so hyper drops the connection (HTTP/1.1) or
/// resets the stream (h2).
fn reset_response() -> Response<RespBody> {
    let frames = futures_util::stream::unfold(0u8, |step| async move {
        match step {
            0 => Some((Ok(Frame::data(Bytes::from(vec![b'x'; 1000]))), 1)),
            1 => {
                tokio::time::sleep(Duration::from_millis(50)).await;
                Some((
                    Err::<Frame<Bytes>, BoxError>("origin aborts /reset mid-body".into()),
                    2,
                ))
            }
            _ => None,
        }
    });
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .header(header::CONTENT_LENGTH, 1_000_000u64)
        .body(http_body_util::BodyExt::boxed(StreamBody::new(frames)))
        .expect("response")
}

/// Three events `data: 1`, `data: 2`, `data: 3`, 50 ms apart, then the end of the body.
fn sse_response() -> Response<RespBody> {
    let events = futures_util::stream::unfold(1u32, |n| async move {
        if n > 3 {
            return None;
        }
        if n > 1 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let frame = Frame::data(Bytes::from(format!("data: {n}\n\n")));
        Some((Ok::<_, BoxError>(frame), n + 1))
    });
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(http_body_util::BodyExt::boxed(StreamBody::new(events)))
        .expect("response")
}

fn is_websocket_upgrade(headers: &http::HeaderMap) -> bool {
    let upgrade = headers.get_all(header::UPGRADE).iter().any(|v| {
        v.to_str()
            .is_ok_and(|v| v.eq_ignore_ascii_case("websocket"))
    });
    upgrade && headers.contains_key(header::SEC_WEBSOCKET_KEY)
}

/// Answers 101 and runs a WebSocket echo server on the upgraded connection.
fn websocket_response(
    parts: http::request::Parts,
    shutdown: watch::Receiver<()>,
) -> Response<RespBody> {
    let key = parts
        .headers
        .get(header::SEC_WEBSOCKET_KEY)
        .map(|k| k.as_bytes().to_vec())
        .unwrap_or_default();
    let accept = derive_accept_key(&key);
    let on_upgrade = hyper::upgrade::on(Request::from_parts(parts, ()));
    spawn_until_shutdown(shutdown, async move {
        let Ok(upgraded) = on_upgrade.await else {
            return;
        };
        let mut ws =
            WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
        while let Some(Ok(msg)) = ws.next().await {
            // Pings are answered and the close frame echoed by tungstenite itself.
            let echo = matches!(msg, Message::Text(_) | Message::Binary(_));
            if echo && ws.send(msg).await.is_err() {
                break;
            }
        }
    });
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::UPGRADE, "websocket")
        .header(header::CONNECTION, "Upgrade")
        .header(header::SEC_WEBSOCKET_ACCEPT, accept)
        .body(full(Bytes::new()))
        .expect("response")
}

// ---------------------------------------------------------------------------------------------
// Other servers and helpers
// ---------------------------------------------------------------------------------------------

/// Reserves a free loopback port (bind 127.0.0.1:0, read port, drop) — for "refused" tests.
///
/// Another process could grab the port in between; on loopback in tests this is rare.
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind for closed_port");
    listener.local_addr().expect("local addr").port()
}

/// A TCP server that accepts connections and speaks first: writes "220 banner\r\n" on accept,
/// then echoes bytes back (for the proxy's "server speaks first / opaque tunnel" test). Stops
/// when dropped.
#[derive(Debug)]
pub struct BannerServer {
    pub addr: SocketAddr,
    _guard: ServerGuard,
}

impl BannerServer {
    /// The banner written on every accepted connection.
    pub const BANNER: &'static [u8] = b"220 banner\r\n";

    pub async fn start() -> BannerServer {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind banner listener");
        let addr = listener.local_addr().expect("banner local addr");
        let (shutdown_tx, shutdown_rx) = watch::channel(());
        let accept = tokio::spawn(async move {
            loop {
                let Ok((tcp, _peer)) = listener.accept().await else {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                spawn_until_shutdown(shutdown_rx.clone(), banner_echo(tcp));
            }
        });
        BannerServer {
            addr,
            _guard: ServerGuard {
                accept,
                _shutdown: shutdown_tx,
            },
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }
}

async fn banner_echo(mut tcp: TcpStream) {
    let _ = tcp.set_nodelay(true);
    if tcp.write_all(BannerServer::BANNER).await.is_err() {
        return;
    }
    let (mut rd, mut wr) = tcp.split();
    let _ = tokio::io::copy(&mut rd, &mut wr).await;
    let _ = wr.shutdown().await;
}

/// A reqwest client that sends everything through `proxy_url` (reqwest::Proxy::all) and trusts
/// the given PEM roots only (interpose's CA, and/or the TestCa), with no connection reuse
/// limits; `http2_prior_knowledge` not set.
///
/// Each PEM string may hold several certificates. Environment proxies (HTTP_PROXY, NO_PROXY,
/// ...) are ignored: only `proxy_url` is used, for every host including loopback.
pub fn proxied_client(proxy_url: &str, roots_pem: &[&str]) -> reqwest::Client {
    let proxy = reqwest::Proxy::all(proxy_url).expect("proxy URL");
    let roots = roots_pem
        .iter()
        .flat_map(|pem| reqwest::Certificate::from_pem_bundle(pem.as_bytes()).expect("root PEM"));
    reqwest::Client::builder()
        .no_proxy()
        .proxy(proxy)
        .tls_certs_only(roots)
        .build()
        .expect("build proxied reqwest client")
}

// ---------------------------------------------------------------------------------------------
// Upstream proxies: ParentProxy (HTTP forward proxy) and Socks5Proxy
// ---------------------------------------------------------------------------------------------

/// One request a [`ParentProxy`] received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxiedRequest {
    pub method: String,
    /// `host:port` for `CONNECT`; the absolute URL for forwarded requests.
    pub target: String,
    /// The decoded `user:password` of a `Proxy-Authorization: Basic` header, if one came.
    pub credentials: Option<String>,
    /// The proxy let it through (no credentials needed, or the right ones given).
    pub allowed: bool,
}

struct ParentState {
    auth: Option<String>,
    requests: Arc<Mutex<Vec<ProxiedRequest>>>,
    forward: hyper_util::client::legacy::Client<
        hyper_util::client::legacy::connect::HttpConnector,
        Incoming,
    >,
    shutdown: watch::Receiver<()>,
}

/// A real HTTP forward proxy on 127.0.0.1, started by a test: absolute-form `http://` requests
/// are forwarded, `CONNECT` opens a tunnel. Optionally requires Basic credentials (answering
/// `407` with `Proxy-Authenticate` otherwise) and optionally speaks TLS itself (an `https://`
/// proxy with a certificate from a [`TestCa`]). Records every request it receives. Stops when
/// dropped.
#[derive(Debug)]
pub struct ParentProxy {
    pub addr: SocketAddr,
    requests: Arc<Mutex<Vec<ProxiedRequest>>>,
    tls: bool,
    _guard: ServerGuard,
}

impl ParentProxy {
    /// A plain `http://` proxy; `auth` is the `(user, password)` it requires, if any.
    pub async fn start(auth: Option<(&str, &str)>) -> ParentProxy {
        Self::start_with(auth, None).await
    }

    /// An `https://` proxy (TLS to the proxy itself, certificate from `ca` for localhost,
    /// 127.0.0.1 and ::1, ALPN `http/1.1`).
    pub async fn start_tls(ca: &TestCa, auth: Option<(&str, &str)>) -> ParentProxy {
        let config = ca.server_config(&[], &[b"http/1.1"]);
        Self::start_with(auth, Some(tokio_rustls::TlsAcceptor::from(config))).await
    }

    async fn start_with(
        auth: Option<(&str, &str)>,
        tls: Option<tokio_rustls::TlsAcceptor>,
    ) -> ParentProxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind parent proxy listener");
        let addr = listener.local_addr().expect("parent proxy local addr");
        let (shutdown_tx, shutdown_rx) = watch::channel(());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let forward = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
            .build(hyper_util::client::legacy::connect::HttpConnector::new());
        let state = Arc::new(ParentState {
            auth: auth.map(|(user, password)| format!("{user}:{password}")),
            requests: requests.clone(),
            forward,
            shutdown: shutdown_rx,
        });
        let is_tls = tls.is_some();
        let accept = tokio::spawn(async move {
            loop {
                let Ok((tcp, _peer)) = listener.accept().await else {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                let _ = tcp.set_nodelay(true);
                let state = state.clone();
                let tls = tls.clone();
                spawn_until_shutdown(state.shutdown.clone(), async move {
                    match tls {
                        None => serve_proxy(tcp, state).await,
                        Some(acceptor) => {
                            if let Ok(stream) = acceptor.accept(tcp).await {
                                serve_proxy(stream, state).await;
                            }
                        }
                    }
                });
            }
        });
        ParentProxy {
            addr,
            requests,
            tls: is_tls,
            _guard: ServerGuard {
                accept,
                _shutdown: shutdown_tx,
            },
        }
    }

    /// `http://127.0.0.1:PORT`, or `https://localhost:PORT` for a TLS proxy.
    pub fn url(&self) -> String {
        if self.tls {
            format!("https://localhost:{}", self.port())
        } else {
            format!("http://127.0.0.1:{}", self.port())
        }
    }

    /// [`ParentProxy::url`] with `userinfo` (already percent-encoded as needed) before the host.
    pub fn url_with(&self, userinfo: &str) -> String {
        let url = self.url();
        let (scheme, rest) = url.split_once("://").expect("proxy URL has a scheme");
        format!("{scheme}://{userinfo}@{rest}")
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// A snapshot of the requests received so far, in order.
    pub fn seen(&self) -> Vec<ProxiedRequest> {
        self.requests.lock().expect("requests lock").clone()
    }
}

async fn serve_proxy<I>(io: I, state: Arc<ParentState>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |req| proxy_request(req, state.clone()));
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades()
        .await;
}

/// The `user:password` in a `Basic` credentials header value.
fn basic_credentials(value: &HeaderValue) -> Option<String> {
    use base64::Engine as _;
    let value = value.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(token.trim())
        .ok()?;
    String::from_utf8(decoded).ok()
}

async fn proxy_request(
    mut req: Request<Incoming>,
    state: Arc<ParentState>,
) -> Result<Response<RespBody>, Infallible> {
    let credentials = req
        .headers()
        .get(header::PROXY_AUTHORIZATION)
        .and_then(basic_credentials);
    let allowed = match &state.auth {
        None => true,
        Some(expected) => credentials.as_deref() == Some(expected.as_str()),
    };
    let connect = req.method() == http::Method::CONNECT;
    let target = if connect {
        req.uri()
            .authority()
            .map(|a| a.to_string())
            .unwrap_or_default()
    } else {
        req.uri().to_string()
    };
    state
        .requests
        .lock()
        .expect("requests lock")
        .push(ProxiedRequest {
            method: req.method().to_string(),
            target: target.clone(),
            credentials,
            allowed,
        });
    if !allowed {
        let mut resp = text(
            StatusCode::PROXY_AUTHENTICATION_REQUIRED,
            "text/plain",
            "proxy credentials required",
        );
        resp.headers_mut().insert(
            header::PROXY_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"testsupport\""),
        );
        return Ok(resp);
    }
    if connect {
        let upstream = match TcpStream::connect(target.as_str()).await {
            Ok(upstream) => upstream,
            Err(e) => {
                return Ok(text(
                    StatusCode::BAD_GATEWAY,
                    "text/plain",
                    format!("cannot connect to {target}: {e}"),
                ))
            }
        };
        let on_upgrade = hyper::upgrade::on(&mut req);
        spawn_until_shutdown(state.shutdown.clone(), async move {
            if let Ok(upgraded) = on_upgrade.await {
                let mut upstream = upstream;
                let _ =
                    tokio::io::copy_bidirectional(&mut TokioIo::new(upgraded), &mut upstream).await;
            }
        });
        return Ok(Response::new(full(Bytes::new())));
    }
    if req.uri().scheme_str() != Some("http") || req.uri().authority().is_none() {
        return Ok(text(
            StatusCode::BAD_REQUEST,
            "text/plain",
            format!("not an absolute http:// request: {target}"),
        ));
    }
    req.headers_mut().remove(header::PROXY_AUTHORIZATION);
    req.headers_mut().remove("proxy-connection");
    match state.forward.request(req).await {
        Ok(resp) => Ok(resp.map(|body| body.map_err(BoxError::from).boxed())),
        Err(e) => Ok(text(
            StatusCode::BAD_GATEWAY,
            "text/plain",
            format!("cannot forward to {target}: {e}"),
        )),
    }
}

/// What a SOCKS5 client asked a [`Socks5Proxy`] to connect to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SocksHost {
    /// A name, resolved by the proxy (the client used remote DNS, `socks5h://`).
    Name(String),
    /// An address (the client resolved the name itself, `socks5://`).
    Ip(std::net::IpAddr),
}

/// One `CONNECT` a [`Socks5Proxy`] received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SocksRequest {
    pub host: SocksHost,
    pub port: u16,
    /// The user name given (RFC 1929), if the client authenticated.
    pub username: Option<String>,
}

struct SocksState {
    auth: Option<(String, String)>,
    greetings: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<SocksRequest>>>,
    shutdown: watch::Receiver<()>,
}

/// A SOCKS5 proxy (RFC 1928, `CONNECT` only) on 127.0.0.1, optionally requiring
/// username/password authentication (RFC 1929). Records each greeting and each `CONNECT`
/// target, as a name (remote DNS) or an address. Stops when dropped.
#[derive(Debug)]
pub struct Socks5Proxy {
    pub addr: SocketAddr,
    greetings: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<SocksRequest>>>,
    _guard: ServerGuard,
}

impl Socks5Proxy {
    /// `auth` is the `(user, password)` it requires, if any.
    pub async fn start(auth: Option<(&str, &str)>) -> Socks5Proxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind SOCKS5 listener");
        let addr = listener.local_addr().expect("SOCKS5 local addr");
        let (shutdown_tx, shutdown_rx) = watch::channel(());
        let greetings = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let state = Arc::new(SocksState {
            auth: auth.map(|(u, p)| (u.to_owned(), p.to_owned())),
            greetings: greetings.clone(),
            requests: requests.clone(),
            shutdown: shutdown_rx,
        });
        let accept = tokio::spawn(async move {
            loop {
                let Ok((tcp, _peer)) = listener.accept().await else {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                let state2 = state.clone();
                spawn_until_shutdown(state.shutdown.clone(), async move {
                    let _ = serve_socks(tcp, state2).await;
                });
            }
        });
        Socks5Proxy {
            addr,
            greetings,
            requests,
            _guard: ServerGuard {
                accept,
                _shutdown: shutdown_tx,
            },
        }
    }

    /// `socks5://127.0.0.1:PORT` (local DNS); see [`Socks5Proxy::url_h`].
    pub fn url(&self) -> String {
        format!("socks5://127.0.0.1:{}", self.addr.port())
    }

    /// `socks5h://127.0.0.1:PORT` (remote DNS).
    pub fn url_h(&self) -> String {
        format!("socks5h://127.0.0.1:{}", self.addr.port())
    }

    /// Connections that sent a SOCKS5 greeting (authenticated or not).
    pub fn greetings(&self) -> usize {
        self.greetings.load(Ordering::SeqCst)
    }

    /// The `CONNECT` requests received so far, in order.
    pub fn seen(&self) -> Vec<SocksRequest> {
        self.requests.lock().expect("requests lock").clone()
    }
}

async fn serve_socks(mut tcp: TcpStream, state: Arc<SocksState>) -> std::io::Result<()> {
    use tokio::io::AsyncReadExt as _;
    let mut head = [0u8; 2];
    tcp.read_exact(&mut head).await?;
    if head[0] != 5 {
        return Ok(());
    }
    state.greetings.fetch_add(1, Ordering::SeqCst);
    let mut methods = vec![0u8; head[1] as usize];
    tcp.read_exact(&mut methods).await?;
    let mut username = None;
    match &state.auth {
        None if methods.contains(&0) => tcp.write_all(&[5, 0]).await?,
        Some((user, password)) if methods.contains(&2) => {
            tcp.write_all(&[5, 2]).await?;
            let mut ver_len = [0u8; 2];
            tcp.read_exact(&mut ver_len).await?;
            let mut name = vec![0u8; ver_len[1] as usize];
            tcp.read_exact(&mut name).await?;
            let mut plen = [0u8; 1];
            tcp.read_exact(&mut plen).await?;
            let mut pass = vec![0u8; plen[0] as usize];
            tcp.read_exact(&mut pass).await?;
            let ok = name == user.as_bytes() && pass == password.as_bytes();
            tcp.write_all(&[1, if ok { 0 } else { 1 }]).await?;
            if !ok {
                return Ok(());
            }
            username = Some(String::from_utf8_lossy(&name).into_owned());
        }
        _ => {
            tcp.write_all(&[5, 0xff]).await?;
            return Ok(());
        }
    }
    let mut request = [0u8; 4];
    tcp.read_exact(&mut request).await?;
    let host = match request[3] {
        1 => {
            let mut ip = [0u8; 4];
            tcp.read_exact(&mut ip).await?;
            SocksHost::Ip(std::net::IpAddr::from(ip))
        }
        4 => {
            let mut ip = [0u8; 16];
            tcp.read_exact(&mut ip).await?;
            SocksHost::Ip(std::net::IpAddr::from(ip))
        }
        3 => {
            let mut len = [0u8; 1];
            tcp.read_exact(&mut len).await?;
            let mut name = vec![0u8; len[0] as usize];
            tcp.read_exact(&mut name).await?;
            SocksHost::Name(String::from_utf8_lossy(&name).into_owned())
        }
        _ => {
            tcp.write_all(&[5, 8, 0, 1, 0, 0, 0, 0, 0, 0]).await?;
            return Ok(());
        }
    };
    let mut port = [0u8; 2];
    tcp.read_exact(&mut port).await?;
    let port = u16::from_be_bytes(port);
    state
        .requests
        .lock()
        .expect("requests lock")
        .push(SocksRequest {
            host: host.clone(),
            port,
            username,
        });
    if request[1] != 1 {
        tcp.write_all(&[5, 7, 0, 1, 0, 0, 0, 0, 0, 0]).await?;
        return Ok(());
    }
    let upstream = match &host {
        SocksHost::Ip(ip) => TcpStream::connect(SocketAddr::new(*ip, port)).await,
        SocksHost::Name(name) => TcpStream::connect((name.as_str(), port)).await,
    };
    let mut upstream = match upstream {
        Ok(upstream) => upstream,
        Err(_) => {
            tcp.write_all(&[5, 5, 0, 1, 0, 0, 0, 0, 0, 0]).await?;
            return Ok(());
        }
    };
    tcp.write_all(&[5, 0, 0, 1, 0, 0, 0, 0, 0, 0]).await?;
    tokio::io::copy_bidirectional(&mut tcp, &mut upstream).await?;
    Ok(())
}
