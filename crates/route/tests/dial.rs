//! `dial` against real servers on loopback: a parent HTTP proxy (plain and
//! TLS, with and without Basic auth), a SOCKS5 proxy, and origins.

use std::time::Duration;

use interpose_route::dial::{dial, proxy_authorization, DialOptions, Mode};
use interpose_route::{ProxyUrl, Route};
use interpose_testsupport::{Origin, ParentProxy, Socks5Proxy, SocksHost, TestCa};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

fn via(proxy: &str) -> Route {
    Route {
        proxy: Some(ProxyUrl::parse(proxy).unwrap()),
        reason: "--proxy flag".to_owned(),
    }
}

fn options() -> DialOptions {
    DialOptions {
        proxy_tls: None,
        timeout: Duration::from_secs(5),
    }
}

/// Sends `GET target` on `stream` with `Connection: close` and returns the
/// whole answer as text.
async fn get<S>(stream: &mut S, target: &str, host: &str, extra: &str) -> String
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let request =
        format!("GET {target} HTTP/1.1\r\nHost: {host}\r\n{extra}Connection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer))
        .await
        .expect("answer within 5 s")
        .unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn a_tunnel_through_an_http_proxy_is_a_connect_with_basic_credentials() {
    let origin = Origin::http().await;
    let parent = ParentProxy::start(Some(("user", "p@ss"))).await;
    let route = via(&parent.url_with("user:p%40ss"));
    let mut dialed = dial(&route, "127.0.0.1", origin.port(), Mode::Tunnel, &options())
        .await
        .unwrap();
    assert!(!dialed.absolute_form);
    assert!(dialed.timings.tunnel.is_some());
    let answer = get(&mut dialed.stream, "/hello", "127.0.0.1", "").await;
    assert!(answer.ends_with("hello from origin"), "{answer}");
    let seen = parent.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].method, "CONNECT");
    assert_eq!(seen[0].target, format!("127.0.0.1:{}", origin.port()));
    assert_eq!(seen[0].credentials.as_deref(), Some("user:p@ss"));
    assert!(seen[0].allowed);
}

#[tokio::test]
async fn plain_http_through_an_http_proxy_hands_back_the_proxy_connection() {
    let origin = Origin::http().await;
    let parent = ParentProxy::start(Some(("user", "pass"))).await;
    let route = via(&parent.url_with("user:pass"));
    let mut dialed = dial(
        &route,
        "127.0.0.1",
        origin.port(),
        Mode::HttpRequest,
        &options(),
    )
    .await
    .unwrap();
    assert!(
        dialed.absolute_form,
        "absolute-form requests go to the proxy"
    );
    let auth = proxy_authorization(route.proxy.as_ref().unwrap()).unwrap();
    let answer = get(
        &mut dialed.stream,
        &origin.url("/hello"),
        "127.0.0.1",
        &format!("Proxy-Authorization: {auth}\r\n"),
    )
    .await;
    assert!(answer.ends_with("hello from origin"), "{answer}");
    let seen = parent.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].method, "GET");
    assert_eq!(seen[0].target, origin.url("/hello"));
    assert_eq!(seen[0].credentials.as_deref(), Some("user:pass"));
    // The origin never sees the proxy's credentials.
    let origin_saw = origin.seen();
    assert!(!origin_saw[0]
        .headers
        .iter()
        .any(|(name, _)| name == "proxy-authorization"));
}

#[tokio::test]
async fn a_407_without_credentials_names_the_proxy_and_how_to_give_them() {
    let parent = ParentProxy::start(Some(("user", "pass"))).await;
    let route = via(&parent.url());
    let err = dial(&route, "example.invalid", 443, Mode::Tunnel, &options())
        .await
        .unwrap_err();
    assert!(err.is_proxy_auth());
    assert_eq!(
        err.to_string(),
        format!(
            "proxy http://127.0.0.1:{} requires authentication (407); give credentials with \
             --proxy-user U:P or in the proxy URL",
            parent.port()
        )
    );
}

#[tokio::test]
async fn wrong_credentials_are_refused_once_and_never_retried() {
    let parent = ParentProxy::start(Some(("user", "pass"))).await;
    let route = via(&parent.url_with("user:wrong-secret"));
    let err = dial(&route, "example.invalid", 443, Mode::Tunnel, &options())
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("refused the credentials for user \"user\""),
        "{message}"
    );
    assert!(!message.contains("wrong-secret"), "{message}");
    let seen = parent.seen();
    assert_eq!(seen.len(), 1, "exactly one attempt: {seen:?}");
    assert!(!seen[0].allowed);
}

#[tokio::test]
async fn an_https_proxy_is_reached_over_tls_before_the_connect() {
    let ca = TestCa::new();
    let origin = Origin::http().await;
    let parent = ParentProxy::start_tls(&ca, None).await;
    let options = DialOptions {
        proxy_tls: Some(ca.client_config(&[b"http/1.1"])),
        ..options()
    };
    let route = via(&parent.url());
    assert!(route
        .proxy
        .as_ref()
        .unwrap()
        .to_string()
        .starts_with("https://"));
    let mut dialed = dial(&route, "127.0.0.1", origin.port(), Mode::Tunnel, &options)
        .await
        .unwrap();
    assert!(dialed.timings.proxy_tls.is_some());
    let answer = get(&mut dialed.stream, "/hello", "127.0.0.1", "").await;
    assert!(answer.ends_with("hello from origin"), "{answer}");
    assert_eq!(parent.seen()[0].method, "CONNECT");
}

#[tokio::test]
async fn an_https_proxy_with_an_untrusted_certificate_is_a_tls_error_naming_it() {
    let parent = ParentProxy::start_tls(&TestCa::new(), None).await;
    let options = DialOptions {
        // Trusts another CA.
        proxy_tls: Some(TestCa::new().client_config(&[b"http/1.1"])),
        ..options()
    };
    let err = dial(
        &via(&parent.url()),
        "example.invalid",
        443,
        Mode::Tunnel,
        &options,
    )
    .await
    .unwrap_err();
    let message = err.to_string();
    assert!(
        message.starts_with(&format!(
            "TLS handshake with proxy https://localhost:{} failed",
            parent.port()
        )),
        "{message}"
    );
    assert!(parent.seen().is_empty());
}

#[tokio::test]
async fn socks5h_gives_the_proxy_the_name_and_socks5_an_address() {
    let origin = Origin::http().await;
    let socks = Socks5Proxy::start(None).await;

    let mut dialed = dial(
        &via(&socks.url_h()),
        "localhost",
        origin.port(),
        Mode::Tunnel,
        &options(),
    )
    .await
    .unwrap();
    let answer = get(&mut dialed.stream, "/hello", "localhost", "").await;
    assert!(answer.ends_with("hello from origin"), "{answer}");
    let seen = socks.seen();
    assert_eq!(seen[0].host, SocksHost::Name("localhost".into()));
    assert_eq!(seen[0].port, origin.port());

    let mut dialed = dial(
        &via(&socks.url()),
        "localhost",
        origin.port(),
        Mode::Tunnel,
        &options(),
    )
    .await
    .unwrap();
    let answer = get(&mut dialed.stream, "/hello", "localhost", "").await;
    assert!(answer.ends_with("hello from origin"), "{answer}");
    let local_dns: Vec<_> = socks.seen().into_iter().skip(1).collect();
    assert!(!local_dns.is_empty());
    for request in &local_dns {
        assert!(
            matches!(request.host, SocksHost::Ip(ip) if ip.is_loopback()),
            "socks5:// resolves locally and sends an address: {request:?}"
        );
    }
    // The origin listens on 127.0.0.1 only: the address that worked is that one.
    assert_eq!(
        local_dns.last().unwrap().host,
        SocksHost::Ip("127.0.0.1".parse().unwrap())
    );
}

#[tokio::test]
async fn socks5_credentials_are_sent_and_wrong_ones_refused_once() {
    let origin = Origin::http().await;
    let socks = Socks5Proxy::start(Some(("al", "p@ss"))).await;
    let port = socks.addr.port();

    let route = via(&format!("socks5h://al:p%40ss@127.0.0.1:{port}"));
    let mut dialed = dial(&route, "127.0.0.1", origin.port(), Mode::Tunnel, &options())
        .await
        .unwrap();
    let answer = get(&mut dialed.stream, "/hello", "127.0.0.1", "").await;
    assert!(answer.ends_with("hello from origin"), "{answer}");
    assert_eq!(socks.seen()[0].username.as_deref(), Some("al"));

    let route = via(&format!("socks5h://al:nope@127.0.0.1:{port}"));
    let err = dial(&route, "127.0.0.1", origin.port(), Mode::Tunnel, &options())
        .await
        .unwrap_err();
    assert!(err.is_proxy_auth(), "{err}");
    assert_eq!(socks.greetings(), 2, "one greeting each, no retry");

    let route = via(&format!("socks5h://127.0.0.1:{port}"));
    let err = dial(&route, "127.0.0.1", origin.port(), Mode::Tunnel, &options())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("requires authentication"), "{err}");
}

#[tokio::test]
async fn an_unreachable_proxy_is_named_with_the_rule_that_chose_it() {
    let port = interpose_testsupport::closed_port();
    let route = Route {
        proxy: Some(ProxyUrl::parse(&format!("http://u:secret@127.0.0.1:{port}")).unwrap()),
        reason: "HTTPS_PROXY environment variable".to_owned(),
    };
    let err = dial(&route, "example.com", 443, Mode::Tunnel, &options())
        .await
        .unwrap_err();
    assert!(err.is_refused());
    assert_eq!(
        err.to_string(),
        format!(
            "cannot reach proxy http://127.0.0.1:{port} (chosen by: HTTPS_PROXY environment \
             variable): connection refused (is the proxy running on that port?)"
        )
    );
}

#[tokio::test]
async fn direct_dials_go_straight_to_the_target() {
    let origin = Origin::http().await;
    let route = Route {
        proxy: None,
        reason: "no proxy configured".to_owned(),
    };
    let mut dialed = dial(
        &route,
        "127.0.0.1",
        origin.port(),
        Mode::HttpRequest,
        &options(),
    )
    .await
    .unwrap();
    assert!(!dialed.absolute_form);
    let answer = get(&mut dialed.stream, "/hello", "127.0.0.1", "").await;
    assert!(answer.ends_with("hello from origin"), "{answer}");
}
