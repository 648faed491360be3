//! CONNECT tunnels: TLS interception with leaves signed by interpose's CA,
//! ALPN on each side chosen independently, plain HTTP and other protocols
//! inside tunnels, ignored hosts, and upstream certificate checking.
mod support;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::Version;
use interpose_capture::Exchange;
use interpose_testsupport::{BannerServer, Origin, Protocols};
use regex::Regex;
use rustls_pki_types::{CertificateDer, ServerName};
use support::{read_response, tls_connector_trusting, within, Harness};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use x509_parser::extensions::GeneralName;
use x509_parser::oid_registry::{OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY};
use x509_parser::prelude::{FromDer as _, X509Certificate};

const MAX_LEAF_DAYS: i64 = 398;

/// Sends one GET by hand over `io` and reads the answer.
async fn get<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut S,
    host: &str,
    path: &str,
) -> support::RawResponse {
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n");
    within("writing a request", io.write_all(request.as_bytes()))
        .await
        .unwrap();
    read_response(io).await
}

/// The certificate the server presented on a client TLS connection.
fn peer_leaf<IO>(tls: &tokio_rustls::client::TlsStream<IO>) -> CertificateDer<'static> {
    tls.get_ref()
        .1
        .peer_certificates()
        .expect("the server presented certificates")[0]
        .clone()
        .into_owned()
}

/// Checks what every leaf interpose issues must be: signed for `ca`'s
/// subject, EC P-256, not a CA, valid now and for under 398 days. Returns
/// its SANs for the caller to check.
fn assert_interpose_leaf(leaf_der: &[u8], ca_der: &[u8]) -> Vec<String> {
    let (_, leaf) = X509Certificate::from_der(leaf_der).unwrap();
    let (_, ca) = X509Certificate::from_der(ca_der).unwrap();
    assert_eq!(
        leaf.issuer().as_raw(),
        ca.subject().as_raw(),
        "issued by {} for {}",
        leaf.issuer(),
        ca.subject()
    );
    let spki = leaf.public_key();
    assert_eq!(spki.algorithm.algorithm, OID_KEY_TYPE_EC_PUBLIC_KEY);
    let curve = spki
        .algorithm
        .parameters
        .as_ref()
        .unwrap()
        .as_oid()
        .unwrap();
    assert_eq!(curve, OID_EC_P256, "ECDSA P-256 key");
    assert!(!leaf.is_ca(), "a leaf must not be a CA");

    let validity = leaf.validity();
    let lifetime = validity.not_after.timestamp() - validity.not_before.timestamp();
    assert!(
        lifetime < MAX_LEAF_DAYS * 86_400,
        "valid for {} days",
        lifetime / 86_400
    );
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!(validity.not_before.timestamp() <= now && now < validity.not_after.timestamp());

    let san = leaf
        .subject_alternative_name()
        .unwrap()
        .expect("the leaf has a SAN");
    san.value
        .general_names
        .iter()
        .map(|name| match name {
            GeneralName::DNSName(dns) => format!("dns:{dns}"),
            GeneralName::IPAddress(ip) => format!("ip:{ip:?}"),
            other => format!("other:{other:?}"),
        })
        .collect()
}

#[tokio::test]
async fn https_through_connect_on_a_non_443_port_is_intercepted_and_captured_decrypted() {
    let mut proxy = Harness::start().await;
    let origin = Origin::https(&proxy.test_ca, Protocols::Both).await;
    assert_ne!(origin.port(), 443);
    let secret = r#"{"card":"4111 1111 1111 1111"}"#;
    // The client trusts interpose's CA and not the origin's: a 200 means
    // the proxy terminated TLS with its own certificate.
    let resp = within(
        "POST /echo over intercepted TLS",
        proxy
            .client()
            .post(origin.url("/echo?via=connect"))
            .header("Content-Type", "application/json")
            .body(secret)
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), 200);
    let echoed = within("the body", resp.bytes()).await.unwrap();
    let echo: serde_json::Value = serde_json::from_slice(&echoed).unwrap();
    assert_eq!(echo["body"], secret);
    assert_eq!(echo["path"], "/echo?via=connect");

    let ex = proxy.next_exchange().await;
    assert_eq!(
        ex.request.url,
        format!("https://localhost:{}/echo?via=connect", origin.port())
    );
    assert_eq!(ex.request.method, "POST");
    assert_eq!(
        ex.request.body.bytes,
        secret.as_bytes(),
        "request decrypted"
    );
    let response = ex.response.unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(response.body.bytes, &echoed[..], "response decrypted");
    assert!(ex.timings.tls.is_some(), "{:?}", ex.timings);
}

#[tokio::test]
async fn the_intercepting_leaf_is_issued_for_the_sni_name_and_signed_by_interposes_ca() {
    let mut proxy = Harness::start().await;
    let origin = Origin::https(&proxy.test_ca, Protocols::Http1).await;
    // The CONNECT names an address, the ClientHello a name: the name wins.
    let tunnel = proxy
        .connect_tunnel(&format!("127.0.0.1:{}", origin.port()))
        .await;
    let connector = proxy.interpose_tls(&[b"http/1.1"]);
    let mut tls = within(
        "TLS handshake trusting only interpose's CA",
        connector.connect(ServerName::try_from("localhost").unwrap(), tunnel),
    )
    .await
    .expect("the leaf verifies against interpose's CA for the name localhost");

    let sans = assert_interpose_leaf(&peer_leaf(&tls), &proxy.ca_der());
    assert_eq!(sans, ["dns:localhost"]);

    // And the tunnel carries the request on to the real origin.
    let resp = get(&mut tls, &format!("localhost:{}", origin.port()), "/hello").await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.text(), "hello from origin");
    let ex = proxy.next_exchange().await;
    assert_eq!(ex.request.url, origin.url("/hello"));
}

#[tokio::test]
async fn a_connect_to_an_ip_address_without_sni_gets_a_leaf_with_that_ip_as_san() {
    let mut proxy = Harness::start().await;
    let origin = Origin::https(&proxy.test_ca, Protocols::Http1).await;
    let authority = format!("127.0.0.1:{}", origin.port());
    let tunnel = proxy.connect_tunnel(&authority).await;
    // rustls sends no SNI for an IP address: the proxy must use the
    // CONNECT host, and put it in an IP-address SAN.
    let ip = ServerName::IpAddress(std::net::Ipv4Addr::LOCALHOST.into());
    let mut tls = within(
        "TLS handshake for 127.0.0.1",
        proxy.interpose_tls(&[b"http/1.1"]).connect(ip, tunnel),
    )
    .await
    .expect("the leaf verifies for IP 127.0.0.1");

    let sans = assert_interpose_leaf(&peer_leaf(&tls), &proxy.ca_der());
    assert_eq!(sans, ["ip:[127, 0, 0, 1]"]);

    let resp = get(&mut tls, &authority, "/hello").await;
    assert_eq!(resp.status, 200);
    let ex = proxy.next_exchange().await;
    assert_eq!(ex.request.url, format!("https://{authority}/hello"));
}

/// One request from a client speaking `client` (via ALPN with the proxy)
/// to an origin offering `origin_offers`. Returns the version the client
/// saw, the version the origin saw, and the exchange.
async fn through_alpn(client_h2: bool, origin_offers: Protocols) -> (Version, String, Exchange) {
    let mut proxy = Harness::start().await;
    let origin = Origin::https(&proxy.test_ca, origin_offers).await;
    let client = if client_h2 {
        proxy.client()
    } else {
        proxy.client_builder().http1_only().build().unwrap()
    };
    let resp = within("GET /echo", client.get(origin.url("/echo")).send())
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let client_saw = resp.version();
    let echo: serde_json::Value =
        serde_json::from_slice(&within("the body", resp.bytes()).await.unwrap()).unwrap();
    let origin_saw = echo["version"].as_str().unwrap().to_string();
    let ex = proxy.next_exchange().await;
    assert_eq!(ex.request.url, origin.url("/echo"));
    (client_saw, origin_saw, ex)
}

// The record keeps both sides: the request's version is what the client
// spoke to the proxy, the response's is what the origin spoke back.

#[tokio::test]
async fn an_http2_client_reaches_an_http1_only_origin() {
    let (client, origin, ex) = through_alpn(true, Protocols::Http1).await;
    assert_eq!(
        client,
        Version::HTTP_2,
        "the proxy offered h2 to the client"
    );
    assert_eq!(origin, "HTTP/1.1");
    assert_eq!(ex.request.http_version, "HTTP/2.0");
    assert_eq!(ex.response.unwrap().http_version, "HTTP/1.1");
}

#[tokio::test]
async fn an_http1_client_reaches_an_http2_only_origin() {
    let (client, origin, ex) = through_alpn(false, Protocols::Http2).await;
    assert_eq!(client, Version::HTTP_11);
    assert_eq!(origin, "HTTP/2.0", "the proxy spoke h2 upstream");
    assert_eq!(ex.request.http_version, "HTTP/1.1");
    assert_eq!(ex.response.unwrap().http_version, "HTTP/2.0");
}

#[tokio::test]
async fn an_http2_client_reaches_an_http2_origin_over_http2_end_to_end() {
    let (client, origin, ex) = through_alpn(true, Protocols::Http2).await;
    assert_eq!(client, Version::HTTP_2);
    assert_eq!(origin, "HTTP/2.0");
    assert_eq!(ex.request.http_version, "HTTP/2.0");
    assert_eq!(ex.response.unwrap().http_version, "HTTP/2.0");
}

#[tokio::test]
async fn an_http2_client_multiplexes_concurrent_requests_each_captured() {
    let mut proxy = Harness::start().await;
    let origin = Origin::https(&proxy.test_ca, Protocols::Http1).await;
    let client = proxy.client();
    let requests = (0..8).map(|i| {
        let request = client
            .post(origin.url(&format!("/echo?n={i}")))
            .body(vec![b'a' + i as u8; 100_000]);
        async move {
            let resp = request.send().await.unwrap();
            assert_eq!(resp.version(), Version::HTTP_2);
            let echo: serde_json::Value =
                serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap();
            (
                echo["path"].as_str().unwrap().to_string(),
                echo["body_len"].as_u64().unwrap(),
            )
        }
    });
    let mut answers = within(
        "8 concurrent requests",
        futures_util::future::join_all(requests),
    )
    .await;
    answers.sort();
    let expected: Vec<(String, u64)> = (0..8).map(|i| (format!("/echo?n={i}"), 100_000)).collect();
    assert_eq!(answers, expected);

    let mut captured = Vec::new();
    for _ in 0..8 {
        let ex = proxy.next_exchange().await;
        let n: usize = ex.request.url.rsplit_once("n=").unwrap().1.parse().unwrap();
        assert_eq!(
            ex.request.body.bytes,
            vec![b'a' + n as u8; 100_000],
            "request {n}"
        );
        captured.push(n);
    }
    captured.sort();
    assert_eq!(captured, (0..8).collect::<Vec<_>>());
}

#[tokio::test]
async fn plain_http_inside_a_connect_tunnel_is_parsed_and_captured() {
    let origin = Origin::http().await;
    let mut proxy = Harness::start().await;
    let authority = format!("127.0.0.1:{}", origin.port());
    let mut tunnel = proxy.connect_tunnel(&authority).await;
    let resp = get(&mut tunnel, &authority, "/hello").await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.text(), "hello from origin");
    let ex = proxy.next_exchange().await;
    assert_eq!(ex.request.url, format!("http://{authority}/hello"));
    assert_eq!(ex.response.unwrap().body.bytes, b"hello from origin");

    // The tunnel stays open for more requests.
    let resp = get(&mut tunnel, &authority, "/json").await;
    assert_eq!(resp.status, 200);
    let ex = proxy.next_exchange().await;
    assert_eq!(ex.request.url, format!("http://{authority}/json"));
}

#[tokio::test]
async fn a_protocol_where_the_server_speaks_first_passes_through_byte_for_byte() {
    let banner = BannerServer::start().await;
    let mut proxy = Harness::with(|c| c.sniff_timeout = Duration::from_millis(200)).await;
    let mut tunnel = proxy
        .connect_tunnel(&format!("127.0.0.1:{}", banner.port()))
        .await;
    // The client says nothing: after the sniff timeout the proxy connects
    // and the server's greeting comes through.
    let mut greeting = vec![0; BannerServer::BANNER.len()];
    tokio::time::timeout(Duration::from_secs(3), tunnel.read_exact(&mut greeting))
        .await
        .expect("the banner arrived within 3 s")
        .unwrap();
    assert_eq!(greeting, BannerServer::BANNER);

    let bytes: Vec<u8> = (0..=255u8).chain(*b"EHLO interpose\r\n").collect();
    within("writing", tunnel.write_all(&bytes)).await.unwrap();
    let mut echoed = vec![0; bytes.len()];
    within("reading the echo", tunnel.read_exact(&mut echoed))
        .await
        .unwrap();
    assert_eq!(echoed, bytes);
    proxy.assert_no_exchange(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn a_binary_protocol_where_the_client_speaks_first_passes_through_byte_for_byte() {
    let banner = BannerServer::start().await;
    let mut proxy = Harness::start().await;
    let mut tunnel = proxy
        .connect_tunnel(&format!("127.0.0.1:{}", banner.port()))
        .await;
    // Neither a ClientHello nor a request line.
    let hello = [0x05, 0x01, 0x00, 0xff, 0x16];
    within("writing", tunnel.write_all(&hello)).await.unwrap();
    let mut got = vec![0; BannerServer::BANNER.len() + hello.len()];
    within("reading banner and echo", tunnel.read_exact(&mut got))
        .await
        .unwrap();
    assert_eq!(&got[..BannerServer::BANNER.len()], BannerServer::BANNER);
    assert_eq!(&got[BannerServer::BANNER.len()..], hello);
    proxy.assert_no_exchange(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn ignored_hosts_are_tunnelled_untouched_with_the_origins_own_certificate() {
    let mut proxy =
        Harness::with(|c| c.ignore_hosts = vec![Regex::new("^localhost$").unwrap()]).await;
    let origin = Origin::https(&proxy.test_ca, Protocols::Http1).await;
    let authority = format!("localhost:{}", origin.port());
    let tunnel = proxy.connect_tunnel(&authority).await;
    // Trusting only the origins' test CA: this handshake can only succeed
    // if the origin's certificate came through, as a pinned app needs.
    let connector = tls_connector_trusting(&proxy.test_ca.cert_pem(), &[b"http/1.1"]);
    let mut tls = within(
        "TLS handshake with the origin itself",
        connector.connect(ServerName::try_from("localhost").unwrap(), tunnel),
    )
    .await
    .expect("the origin's own certificate verifies");
    let leaf_der = peer_leaf(&tls);
    let (_, leaf) = X509Certificate::from_der(&leaf_der).unwrap();
    let test_ca_der = proxy.test_ca.cert_der();
    let (_, test_ca) = X509Certificate::from_der(&test_ca_der).unwrap();
    assert_eq!(leaf.issuer().as_raw(), test_ca.subject().as_raw());

    let resp = get(&mut tls, &authority, "/hello").await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.text(), "hello from origin");
    proxy.assert_no_exchange(Duration::from_millis(500)).await;

    // A host the pattern does not match is still intercepted.
    let tunnel = proxy
        .connect_tunnel(&format!("127.0.0.1:{}", origin.port()))
        .await;
    let ip = ServerName::IpAddress(std::net::Ipv4Addr::LOCALHOST.into());
    let tls = within(
        "TLS handshake with the proxy",
        proxy.interpose_tls(&[b"http/1.1"]).connect(ip, tunnel),
    )
    .await
    .expect("127.0.0.1 is not ignored, so interpose's leaf is presented");
    assert_interpose_leaf(&peer_leaf(&tls), &proxy.ca_der());
}

#[tokio::test]
async fn an_untrusted_origin_certificate_gets_502_naming_the_host_and_the_reason() {
    // This proxy trusts only the system roots, not the origins' test CA.
    let mut proxy = Harness::with(|c| c.upstream_tls.extra_roots.clear()).await;
    let origin = Origin::https(&proxy.test_ca, Protocols::Both).await;
    let resp = within(
        "GET through a proxy that distrusts the origin",
        proxy.client().get(origin.url("/hello")).send(),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), 502);
    let body = within("the body", resp.text()).await.unwrap();
    let authority = format!("localhost:{}", origin.port());
    assert!(body.contains(&authority), "{body}");
    assert!(body.contains("UnknownIssuer"), "{body}");
    assert!(body.contains("--upstream-ca"), "says what to do: {body}");
    assert_eq!(origin.hits.load(std::sync::atomic::Ordering::SeqCst), 0);

    let ex = proxy.next_exchange().await;
    assert_eq!(ex.request.url, origin.url("/hello"));
    assert!(ex.response.is_none());
    let error = ex.error.expect("the failure is recorded");
    assert_eq!(body.trim_end(), format!("interpose: {error}"));
}

#[tokio::test]
async fn insecure_upstream_accepts_an_origin_certificate_nobody_trusts() {
    let mut proxy = Harness::with(|c| {
        c.upstream_tls.extra_roots.clear();
        c.upstream_tls.insecure = true;
    })
    .await;
    let origin = Origin::https(&proxy.test_ca, Protocols::Both).await;
    let resp = within(
        "GET with upstream checks off",
        proxy.client().get(origin.url("/hello")).send(),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        within("the body", resp.text()).await.unwrap(),
        "hello from origin"
    );
    let ex = proxy.next_exchange().await;
    assert_eq!(ex.error, None);
    assert_eq!(ex.response.unwrap().status, 200);
}
