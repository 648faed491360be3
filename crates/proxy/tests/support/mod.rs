//! Shared set-up for the proxy's integration tests: a real proxy on an
//! ephemeral loopback port, its CA in a temporary dir, a test CA the origins
//! use, and the exchanges it hands to its sink.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use interpose_capture::Exchange;
use interpose_proxy::{Proxy, ProxyConfig, RouteConfig, Sink, UpstreamTls};
use interpose_route::Env;
use interpose_testsupport::TestCa;
use interpose_tls::{CertificateAuthority, LeafIssuer};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

pub struct Harness {
    pub addr: SocketAddr,
    /// interpose's CA (what clients must trust).
    pub ca_pem: String,
    /// The origins' CA (what the proxy trusts upstream).
    pub test_ca: TestCa,
    pub exchanges: mpsc::UnboundedReceiver<Exchange>,
    pub shutdown: CancellationToken,
    pub stopped: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl Harness {
    /// A capturing proxy that trusts the test CA upstream.
    pub async fn start() -> Harness {
        Harness::with(|_| {}).await
    }

    /// Like `start`, with the config adjusted first.
    pub async fn with(adjust: impl FnOnce(&mut ProxyConfig)) -> Harness {
        Harness::with_test_ca(TestCa::new(), adjust).await
    }

    /// Like `with`, trusting origins signed by `test_ca` (made before the
    /// proxy, for origins that must exist first).
    pub async fn with_test_ca(test_ca: TestCa, adjust: impl FnOnce(&mut ProxyConfig)) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let ca = CertificateAuthority::load_or_create(&dir.path().join("proxy")).unwrap();
        let issuer = LeafIssuer::new(&ca, 100).unwrap();
        let mut config = ProxyConfig {
            session_id: 7,
            upstream_tls: UpstreamTls {
                extra_roots: vec![test_ca.write_pem(dir.path())],
                insecure: false,
            },
            // Hermetic: no proxy variables from the environment the tests
            // run in; chaining tests set their own.
            route: RouteConfig {
                env: Env::empty(),
                ..RouteConfig::default()
            },
            ..ProxyConfig::default()
        };
        adjust(&mut config);
        let (tx, exchanges) = mpsc::unbounded_channel();
        let sink: Sink = Arc::new(move |ex| {
            let _ = tx.send(ex);
        });
        let proxy = Proxy::bind("127.0.0.1:0".parse().unwrap(), config, issuer, Some(sink))
            .await
            .unwrap();
        let addr = proxy.local_addr();
        let shutdown = CancellationToken::new();
        let stopped = tokio::spawn(proxy.run(shutdown.clone()));
        Harness {
            addr,
            ca_pem: ca.cert_pem().to_string(),
            test_ca,
            exchanges,
            shutdown,
            stopped,
            _dir: dir,
        }
    }

    pub fn proxy_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A reqwest client through the proxy, trusting interpose's CA.
    pub fn client(&self) -> reqwest::Client {
        interpose_testsupport::proxied_client(&self.proxy_url(), &[&self.ca_pem])
    }

    /// The next captured exchange, waiting at most 5 s.
    pub async fn next_exchange(&mut self) -> Exchange {
        tokio::time::timeout(Duration::from_secs(5), self.exchanges.recv())
            .await
            .expect("an exchange was captured within 5 s")
            .expect("the proxy is still running")
    }

    /// Asserts nothing more is captured within `wait`.
    pub async fn assert_no_exchange(&mut self, wait: Duration) {
        if let Ok(Some(ex)) = tokio::time::timeout(wait, self.exchanges.recv()).await {
            panic!(
                "unexpected exchange captured: {} {}",
                ex.request.method, ex.request.url
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Raw clients: hand-written CONNECT, TLS through a tunnel, HTTP/1.1 read off a socket.
// ---------------------------------------------------------------------------------------------

use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWriteExt as _};

/// How long any single step of a raw exchange may take.
pub const STEP: Duration = Duration::from_secs(5);

/// Awaits `fut` for at most [`STEP`], failing the test with `what` otherwise.
pub async fn within<F: std::future::Future>(what: &str, fut: F) -> F::Output {
    tokio::time::timeout(STEP, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out after {STEP:?}: {what}"))
}

/// A response read off a socket by hand.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    /// Header names lower-cased, in order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    /// The first value of `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Reads one HTTP/1.x head (through the blank line) a byte at a time, so
/// nothing after it is consumed. Returns the status code and the headers.
pub async fn read_head<S: AsyncRead + Unpin>(s: &mut S) -> (u16, Vec<(String, String)>) {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        assert!(head.len() < 64 * 1024, "response head over 64 KiB");
        let b = within("reading a response head", s.read_u8())
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "connection ended inside a response head ({e}); read so far: {:?}",
                    String::from_utf8_lossy(&head)
                )
            });
        head.push(b);
    }
    let head = String::from_utf8(head).expect("response head is UTF-8");
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not a status line: {status_line:?}"));
    let headers = lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (n, v) = l.split_once(':').expect("header line has a colon");
            (n.trim().to_ascii_lowercase(), v.trim().to_string())
        })
        .collect();
    (status, headers)
}

/// Reads one whole HTTP/1.1 response (Content-Length or chunked body; none
/// for 1xx, 204 and 304), consuming nothing past it.
pub async fn read_response<S: AsyncRead + Unpin>(s: &mut S) -> RawResponse {
    let (status, headers) = read_head(s).await;
    let mut resp = RawResponse {
        status,
        headers,
        body: Vec::new(),
    };
    if (100..200).contains(&status) || status == 204 || status == 304 {
        return resp;
    }
    let chunked = resp
        .header("transfer-encoding")
        .is_some_and(|te| te.eq_ignore_ascii_case("chunked"));
    if chunked {
        loop {
            let mut line = Vec::new();
            while !line.ends_with(b"\r\n") {
                line.push(within("reading a chunk size", s.read_u8()).await.unwrap());
            }
            let size = std::str::from_utf8(&line[..line.len() - 2]).unwrap();
            let size = size.split(';').next().unwrap().trim();
            let size = usize::from_str_radix(size, 16).expect("hex chunk size");
            let mut chunk = vec![0; size + 2];
            within("reading a chunk", s.read_exact(&mut chunk))
                .await
                .unwrap();
            if size == 0 {
                // No trailers are sent in these tests: the last chunk is "0\r\n\r\n".
                break;
            }
            resp.body.extend_from_slice(&chunk[..size]);
        }
    } else if let Some(len) = resp.header("content-length") {
        let mut body = vec![0; len.parse().expect("numeric Content-Length")];
        within("reading a body", s.read_exact(&mut body))
            .await
            .unwrap();
        resp.body = body;
    } else {
        within("reading a body to EOF", s.read_to_end(&mut resp.body))
            .await
            .unwrap();
    }
    resp
}

impl Harness {
    /// A reqwest builder going through the proxy, trusting interpose's CA
    /// only (for clients that need more settings than [`Harness::client`]).
    pub fn client_builder(&self) -> reqwest::ClientBuilder {
        let roots = reqwest::Certificate::from_pem_bundle(self.ca_pem.as_bytes()).unwrap();
        reqwest::Client::builder()
            .no_proxy()
            .proxy(reqwest::Proxy::all(self.proxy_url()).unwrap())
            .tls_certs_only(roots)
    }

    /// A TCP connection to the proxy.
    pub async fn tcp(&self) -> tokio::net::TcpStream {
        within(
            "connecting to the proxy",
            tokio::net::TcpStream::connect(self.addr),
        )
        .await
        .expect("the proxy accepts connections")
    }

    /// Sends `CONNECT authority` by hand and returns the tunnel once the
    /// proxy has answered 200 (nothing past the answer's head is read).
    pub async fn connect_tunnel(&self, authority: &str) -> tokio::net::TcpStream {
        let mut tcp = self.tcp().await;
        let connect = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n");
        within("writing CONNECT", tcp.write_all(connect.as_bytes()))
            .await
            .unwrap();
        let (status, headers) = read_head(&mut tcp).await;
        assert_eq!(status, 200, "CONNECT {authority} answered {headers:?}");
        tcp
    }

    /// A TLS connector trusting interpose's CA only, offering `alpn`.
    pub fn interpose_tls(&self, alpn: &[&[u8]]) -> tokio_rustls::TlsConnector {
        tls_connector_trusting(&self.ca_pem, alpn)
    }

    /// interpose's CA certificate, DER.
    pub fn ca_der(&self) -> rustls_pki_types::CertificateDer<'static> {
        use rustls_pki_types::pem::PemObject as _;
        rustls_pki_types::CertificateDer::from_pem_slice(self.ca_pem.as_bytes()).unwrap()
    }
}

/// A TLS connector trusting only the certificates in `roots_pem`.
pub fn tls_connector_trusting(roots_pem: &str, alpn: &[&[u8]]) -> tokio_rustls::TlsConnector {
    use rustls_pki_types::pem::PemObject as _;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pki_types::CertificateDer::pem_slice_iter(roots_pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}
