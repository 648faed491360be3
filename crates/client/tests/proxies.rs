//! `send` and `replay` through upstream proxies started by the test: an
//! HTTP parent proxy (plain and TLS, recording what passed and whether
//! credentials came), SOCKS5 with local and remote DNS, chosen by flag,
//! settings or environment (a fixed `Env`, never the process's).
mod support;

use interpose_client::{replay, send, Env, FailureKind, Flags, ReplayDiff, SendRequest, Settings};
use interpose_testsupport::{Origin, ParentProxy, Protocols, Socks5Proxy, SocksHost, TestCa};
use support::{text, trust, Trust};

fn via(proxy: String) -> Flags {
    Flags {
        proxy: Some(proxy),
        ..Flags::default()
    }
}

/// An https origin and trust in its CA.
async fn tls_origin(protocols: Protocols) -> (Origin, Trust) {
    let ca = TestCa::new();
    let origin = Origin::https(&ca, protocols).await;
    (origin, trust(&ca))
}

#[tokio::test]
async fn http_through_an_http_proxy_goes_in_absolute_form_with_basic_credentials() {
    let origin = Origin::http().await;
    let parent = ParentProxy::start(Some(("user", "p@ss"))).await;
    let request = SendRequest {
        flags: via(parent.url_with("user:p%40ss")),
        ..SendRequest::new(origin.url("/hello"))
    };
    let (resp, body) = text(&request, &Env::empty()).await;
    assert_eq!(body, "hello from origin");
    assert_eq!(
        resp.route.summary(),
        format!("via http://127.0.0.1:{}", parent.port())
    );
    assert_eq!(resp.route.reason, "--proxy flag");
    let seen = parent.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method, "GET");
    assert_eq!(seen[0].target, origin.url("/hello"));
    assert_eq!(
        seen[0].credentials.as_deref(),
        Some("user:p@ss"),
        "percent-decoded"
    );
    // Never recorded, never passed on.
    let ex = resp.exchange();
    assert!(!ex
        .request
        .headers
        .iter()
        .any(|h| h.name.eq_ignore_ascii_case("proxy-authorization")));
    assert!(!origin.seen()[0]
        .headers
        .iter()
        .any(|(name, _)| name == "proxy-authorization"));
}

#[tokio::test]
async fn https_through_an_http_proxy_is_a_connect_tunnel_and_keeps_http2() {
    let (origin, trusted) = tls_origin(Protocols::Both).await;
    let parent = ParentProxy::start(Some(("user", "pass"))).await;
    let request = SendRequest {
        flags: Flags {
            proxy: Some(parent.url()),
            proxy_user: Some("user:pass".into()),
            ..Flags::default()
        },
        extra_roots: vec![trusted.file.clone()],
        ..SendRequest::new(origin.url("/hello"))
    };
    let (resp, body) = text(&request, &Env::empty()).await;
    assert_eq!(body, "hello from origin");
    assert_eq!(resp.version, "HTTP/2.0");
    let seen = parent.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method, "CONNECT");
    assert_eq!(seen[0].target, format!("localhost:{}", origin.port()));
    assert_eq!(seen[0].credentials.as_deref(), Some("user:pass"));
}

#[tokio::test]
async fn an_https_proxy_is_reached_over_tls_for_http_and_https_targets() {
    let proxy_ca = TestCa::new();
    let parent = ParentProxy::start_tls(&proxy_ca, None).await;
    let proxy_trust = trust(&proxy_ca);
    let plain = Origin::http().await;
    let (tls, origin_trust) = tls_origin(Protocols::Http1).await;
    for url in [plain.url("/hello"), tls.url("/hello")] {
        let request = SendRequest {
            flags: via(parent.url()),
            extra_roots: vec![proxy_trust.file.clone(), origin_trust.file.clone()],
            ..SendRequest::new(url.clone())
        };
        let (resp, body) = text(&request, &Env::empty()).await;
        assert_eq!(body, "hello from origin", "{url}");
        assert_eq!(
            resp.route.summary(),
            format!("via https://localhost:{}", parent.port())
        );
    }
    let methods: Vec<_> = parent.seen().into_iter().map(|r| r.method).collect();
    assert_eq!(methods, ["GET", "CONNECT"]);
}

#[tokio::test]
async fn socks5h_gives_the_proxy_the_name_and_socks5_an_address() {
    let (origin, trusted) = tls_origin(Protocols::Both).await;
    let socks = Socks5Proxy::start(Some(("al", "pw"))).await;
    let port = socks.addr.port();
    for proxy in [
        format!("socks5h://al:pw@127.0.0.1:{port}"),
        format!("socks5://al:pw@127.0.0.1:{port}"),
    ] {
        let request = SendRequest {
            flags: via(proxy.clone()),
            extra_roots: vec![trusted.file.clone()],
            ..SendRequest::new(origin.url("/hello"))
        };
        let (resp, body) = text(&request, &Env::empty()).await;
        assert_eq!(body, "hello from origin", "{proxy}");
        assert!(resp.route.summary().starts_with("via socks5"), "{proxy}");
    }
    let seen = socks.seen();
    assert_eq!(seen[0].host, SocksHost::Name("localhost".into()));
    assert_eq!(seen[0].username.as_deref(), Some("al"));
    let local = &seen[1..];
    assert!(!local.is_empty());
    assert!(
        local
            .iter()
            .all(|r| matches!(r.host, SocksHost::Ip(ip) if ip.is_loopback())),
        "socks5:// resolves here and sends an address: {local:?}"
    );
}

#[tokio::test]
async fn a_407_without_credentials_is_an_error_naming_the_proxy() {
    let parent = ParentProxy::start(Some(("user", "pass"))).await;
    let plain = Origin::http().await;
    let (tls, trusted) = tls_origin(Protocols::Http1).await;
    for url in [plain.url("/hello"), tls.url("/hello")] {
        let request = SendRequest {
            flags: via(parent.url()),
            extra_roots: vec![trusted.file.clone()],
            ..SendRequest::new(url.clone())
        };
        let err = send(&request, &Settings::default(), &Env::empty())
            .await
            .unwrap_err();
        assert_eq!(err.kind(), Some(FailureKind::ProxyAuth), "{url}: {err}");
        assert_eq!(
            err.to_string(),
            format!(
                "proxy http://127.0.0.1:{} requires authentication (407); give credentials \
                 with --proxy-user U:P or in the proxy URL",
                parent.port()
            )
        );
    }
}

#[tokio::test]
async fn a_407_with_wrong_credentials_is_an_error_after_exactly_one_attempt() {
    let parent = ParentProxy::start(Some(("user", "pass"))).await;
    let (tls, trusted) = tls_origin(Protocols::Http1).await;
    let request = SendRequest {
        flags: via(parent.url_with("user:wrong-one")),
        extra_roots: vec![trusted.file.clone()],
        ..SendRequest::new(tls.url("/hello"))
    };
    let err = send(&request, &Settings::default(), &Env::empty())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), Some(FailureKind::ProxyAuth));
    let message = err.to_string();
    assert!(
        message.contains("refused the credentials for user \"user\""),
        "{message}"
    );
    assert!(!message.contains("wrong-one"), "{message}");
    let seen = parent.seen();
    assert_eq!(seen.len(), 1, "exactly one attempt: {seen:?}");
    assert_eq!(seen[0].credentials.as_deref(), Some("user:wrong-one"));

    // Plain http too: the 407 answer is not passed off as the response.
    let plain = Origin::http().await;
    let request = SendRequest {
        flags: via(parent.url_with("user:wrong-one")),
        ..SendRequest::new(plain.url("/hello"))
    };
    let err = send(&request, &Settings::default(), &Env::empty())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), Some(FailureKind::ProxyAuth), "{err}");
    assert_eq!(parent.seen().len(), 2);
}

#[tokio::test]
async fn environment_variables_are_read_in_both_cases() {
    let parent = ParentProxy::start(None).await;
    let plain = Origin::http().await;
    let (tls, trusted) = tls_origin(Protocols::Http1).await;
    let cases = [
        ("HTTP_PROXY", plain.url("/hello")),
        ("http_proxy", plain.url("/hello")),
        ("HTTPS_PROXY", tls.url("/hello")),
        ("https_proxy", tls.url("/hello")),
    ];
    for (i, (var, url)) in cases.into_iter().enumerate() {
        let env = Env::vars([(var, parent.url())]);
        let request = SendRequest {
            extra_roots: vec![trusted.file.clone()],
            ..SendRequest::new(url.clone())
        };
        let (resp, _) = text(&request, &env).await;
        assert_eq!(resp.route.reason, format!("{var} environment variable"));
        assert_eq!(
            parent.seen().len(),
            i + 1,
            "{var} sent {url} through the parent"
        );
    }
}

#[tokio::test]
async fn the_custom_proxy_in_settings_beats_the_environment() {
    let custom = ParentProxy::start(Some(("alice", "s3cret"))).await;
    let from_env = ParentProxy::start(None).await;
    let origin = Origin::http().await;
    let mut settings = Settings::default();
    for (key, value) in [
        ("proxy.custom.enabled", "true".to_owned()),
        ("proxy.custom.host", "127.0.0.1".to_owned()),
        ("proxy.custom.port", custom.port().to_string()),
        ("proxy.custom.username", "alice".to_owned()),
        ("proxy.custom.password", "s3cret".to_owned()),
    ] {
        settings.set(key, &value).unwrap();
    }
    let env = Env::vars([
        ("http_proxy", from_env.url()),
        ("HTTP_PROXY", from_env.url()),
    ]);
    let mut resp = send(&SendRequest::new(origin.url("/hello")), &settings, &env)
        .await
        .unwrap();
    resp.bytes().await.unwrap();
    assert_eq!(resp.route.reason, "custom proxy in settings");
    assert_eq!(
        custom.seen()[0].credentials.as_deref(),
        Some("alice:s3cret")
    );
    assert!(from_env.seen().is_empty());
}

#[tokio::test]
async fn system_proxy_credentials_come_from_default_auth_in_settings() {
    let parent = ParentProxy::start(Some(("dflt", "pw"))).await;
    let origin = Origin::http().await;
    let mut settings = Settings::default();
    settings.set("proxy.default_auth.username", "dflt").unwrap();
    settings.set("proxy.default_auth.password", "pw").unwrap();
    let env = Env::vars([("http_proxy", parent.url())]);
    let mut resp = send(&SendRequest::new(origin.url("/hello")), &settings, &env)
        .await
        .unwrap();
    assert_eq!(resp.status, 200);
    resp.bytes().await.unwrap();
    assert_eq!(parent.seen()[0].credentials.as_deref(), Some("dflt:pw"));
}

#[tokio::test]
async fn a_bypassed_host_goes_direct_and_the_parent_proxy_records_nothing() {
    let parent = ParentProxy::start(None).await;
    let origin = Origin::http().await;
    // NO_PROXY from the environment...
    let env = Env::vars([
        ("http_proxy", parent.url()),
        ("no_proxy", "127.0.0.1".into()),
    ]);
    let (resp, body) = text(&SendRequest::new(origin.url("/hello")), &env).await;
    assert_eq!(body, "hello from origin");
    assert!(resp.route.is_direct());
    assert_eq!(resp.route.reason, "no_proxy entry 127.0.0.1");
    // ...and --proxy-bypass with --proxy.
    let request = SendRequest {
        flags: Flags {
            proxy: Some(parent.url()),
            proxy_bypass: Some("127.0.0.0/8".into()),
            ..Flags::default()
        },
        ..SendRequest::new(origin.url("/hello"))
    };
    let (resp, _) = text(&request, &Env::empty()).await;
    assert_eq!(resp.route.reason, "--proxy-bypass entry 127.0.0.0/8");
    assert!(parent.seen().is_empty(), "{:?}", parent.seen());
    assert_eq!(origin.seen().len(), 2);
}

#[tokio::test]
async fn an_unreachable_proxy_names_itself_and_the_rule_that_chose_it() {
    let port = interpose_testsupport::closed_port();
    let origin = Origin::http().await;
    let env = Env::vars([("HTTP_PROXY", format!("http://u:secret@127.0.0.1:{port}"))]);
    let err = send(
        &SendRequest::new(origin.url("/hello")),
        &Settings::default(),
        &env,
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), Some(FailureKind::Refused));
    let message = err.to_string();
    assert_eq!(
        message,
        format!(
            "cannot reach proxy http://127.0.0.1:{port} (chosen by: HTTP_PROXY environment \
             variable): connection refused (is the proxy running on that port?)"
        )
    );
}

#[tokio::test]
async fn replay_sends_the_captured_request_again_through_the_current_route() {
    let origin = Origin::http().await;
    // The original, sent directly.
    let request = SendRequest::new(origin.url("/echo"))
        .header("X-Trace: 1")
        .unwrap()
        .json(r#"{"n":1}"#);
    let mut first = send(&request, &Settings::default(), &Env::empty())
        .await
        .unwrap();
    first.bytes().await.unwrap();
    let original = first.exchange();

    // Replayed through a parent proxy.
    let parent = ParentProxy::start(None).await;
    let options = SendRequest {
        flags: via(parent.url()),
        ..SendRequest::default()
    };
    let mut again = replay(&original, &options, &Settings::default(), &Env::empty())
        .await
        .unwrap();
    let body = again.bytes().await.unwrap();
    let echo: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(echo["method"], "POST");
    assert_eq!(echo["body"], r#"{"n":1}"#);
    let headers = echo["headers"].as_array().unwrap();
    assert!(headers.iter().any(|h| h[0] == "x-trace" && h[1] == "1"));
    assert_eq!(parent.seen().len(), 1, "the replay took the current route");
    let replayed = again.exchange();
    assert_eq!(
        replayed.route.as_deref(),
        Some(again.route.summary().as_str())
    );
    let diff = ReplayDiff::between(&original, &replayed);
    assert_eq!(diff.status, (Some(200), Some(200)));
    assert!(diff.to_string().starts_with("status 200, body "), "{diff}");
}
