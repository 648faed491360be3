//! Shared set-up for the proxy's integration tests: a real proxy on an
//! ephemeral loopback port, its CA in a temporary dir, a test CA the origins
//! use, and the exchanges it hands to its sink.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use interpose_capture::Exchange;
use interpose_proxy::{Proxy, ProxyConfig, Sink, UpstreamTls};
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
        let dir = tempfile::tempdir().unwrap();
        let test_ca = TestCa::new();
        let ca = CertificateAuthority::load_or_create(&dir.path().join("proxy")).unwrap();
        let issuer = LeafIssuer::new(&ca, 100).unwrap();
        let mut config = ProxyConfig {
            session_id: 7,
            upstream_tls: UpstreamTls {
                extra_roots: vec![test_ca.write_pem(dir.path())],
                insecure: false,
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
            panic!("unexpected exchange captured: {} {}", ex.request.method, ex.request.url);
        }
    }
}
