//! Capture chained upstream (issue 4, point 8): the proxy forwards through
//! the route decision — flags, custom proxy in settings, environment, bypass
//! — to a real parent proxy started by the test, with Basic credentials, and
//! records on each exchange the way it went.
mod support;

use interpose_capture::Exchange;
use interpose_route::{Env, Flags, RouteConfig, Settings};
use interpose_testsupport::{
    closed_port, BannerServer, Origin, ParentProxy, Protocols, Socks5Proxy, TestCa,
};
use regex::Regex;
use support::{within, Harness};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

fn via_flag(proxy: String) -> RouteConfig {
    RouteConfig {
        flags: Flags {
            proxy: Some(proxy),
            ..Flags::default()
        },
        env: Env::empty(),
        ..RouteConfig::default()
    }
}

fn recorded_header(ex: &Exchange, name: &str) -> bool {
    ex.request
        .headers
        .iter()
        .any(|h| h.name.eq_ignore_ascii_case(name))
}

#[tokio::test]
async fn http_goes_to_the_parent_proxy_in_absolute_form_with_its_credentials() {
    let origin = Origin::http().await;
    let parent = ParentProxy::start(Some(("user", "p@ss"))).await;
    let route = via_flag(parent.url_with("user:p%40ss"));
    let mut proxy = Harness::with(|c| c.route = route).await;

    let resp = proxy
        .client()
        .get(origin.url("/hello"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), "hello from origin");

    let seen = parent.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].method, "GET");
    assert_eq!(seen[0].target, origin.url("/hello"));
    assert_eq!(seen[0].credentials.as_deref(), Some("user:p@ss"));

    let ex = proxy.next_exchange().await;
    assert_eq!(
        ex.route.as_deref(),
        Some(format!("via http://127.0.0.1:{}", parent.port()).as_str())
    );
    assert_eq!(ex.response.as_ref().unwrap().status, 200);
    // The parent's credentials are neither stored nor passed to the origin.
    assert!(!recorded_header(&ex, "proxy-authorization"), "{ex:?}");
    let at_origin = &origin.seen()[0];
    assert!(!at_origin
        .headers
        .iter()
        .any(|(name, _)| name == "proxy-authorization"));
}

#[tokio::test]
async fn https_is_intercepted_then_tunnelled_through_the_parent_proxy_with_connect() {
    let parent = ParentProxy::start(Some(("user", "pass"))).await;
    let route = via_flag(parent.url_with("user:pass"));
    let mut proxy = Harness::with(|c| c.route = route).await;
    let origin = Origin::https(&proxy.test_ca, Protocols::Both).await;

    let client = proxy.client();
    for _ in 0..2 {
        let resp = client.get(origin.url("/hello")).send().await.unwrap();
        assert_eq!(resp.text().await.unwrap(), "hello from origin");
    }

    let seen = parent.seen();
    assert_eq!(
        seen.len(),
        1,
        "one CONNECT; the second request reused the pooled tunnel: {seen:?}"
    );
    assert_eq!(seen[0].method, "CONNECT");
    assert_eq!(seen[0].target, format!("localhost:{}", origin.port()));
    assert_eq!(seen[0].credentials.as_deref(), Some("user:pass"));

    for _ in 0..2 {
        let ex = proxy.next_exchange().await;
        assert_eq!(ex.request.url, origin.url("/hello"));
        assert_eq!(
            ex.route.as_deref(),
            Some(format!("via http://127.0.0.1:{}", parent.port()).as_str())
        );
    }
}

#[tokio::test]
async fn environment_variables_choose_the_parent_proxy_in_either_case() {
    let plain = Origin::http().await;
    let parent = ParentProxy::start(None).await;
    let env = Env::vars([("HTTP_PROXY", parent.url()), ("https_proxy", parent.url())]);
    let mut proxy = Harness::with(|c| {
        c.route = RouteConfig {
            env,
            ..RouteConfig::default()
        }
    })
    .await;
    let tls = Origin::https(&proxy.test_ca, Protocols::Http1).await;
    let client = proxy.client();
    client.get(plain.url("/hello")).send().await.unwrap();
    client.get(tls.url("/hello")).send().await.unwrap();

    let seen = parent.seen();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(
        (seen[0].method.as_str(), seen[0].target.as_str()),
        ("GET", plain.url("/hello").as_str())
    );
    assert_eq!(seen[1].method, "CONNECT");
    for _ in 0..2 {
        let ex = proxy.next_exchange().await;
        assert_eq!(
            ex.route.as_deref(),
            Some(format!("via http://127.0.0.1:{}", parent.port()).as_str())
        );
    }
}

#[tokio::test]
async fn the_custom_proxy_in_settings_beats_the_environment() {
    let origin = Origin::http().await;
    let custom = ParentProxy::start(Some(("alice", "s3cret"))).await;
    let from_env = ParentProxy::start(None).await;
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
    let route = RouteConfig {
        settings,
        flags: Flags::default(),
        env: Env::vars([("http_proxy", from_env.url())]),
    };
    let mut proxy = Harness::with(|c| c.route = route).await;
    let resp = proxy
        .client()
        .get(origin.url("/hello"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(custom.seen().len(), 1);
    assert_eq!(
        custom.seen()[0].credentials.as_deref(),
        Some("alice:s3cret")
    );
    assert!(from_env.seen().is_empty(), "{:?}", from_env.seen());
    let ex = proxy.next_exchange().await;
    assert_eq!(
        ex.route.as_deref(),
        Some(format!("via http://127.0.0.1:{}", custom.port()).as_str())
    );
}

#[tokio::test]
async fn a_host_on_no_proxy_goes_direct_and_the_parent_proxy_sees_nothing() {
    let origin = Origin::http().await;
    let parent = ParentProxy::start(None).await;
    let env = Env::vars([
        ("http_proxy", parent.url()),
        ("NO_PROXY", "localhost,127.0.0.0/8".to_owned()),
    ]);
    let mut proxy = Harness::with(|c| {
        c.route = RouteConfig {
            env,
            ..RouteConfig::default()
        }
    })
    .await;
    let resp = proxy
        .client()
        .get(origin.url("/hello"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(parent.seen().is_empty(), "{:?}", parent.seen());
    let ex = proxy.next_exchange().await;
    assert_eq!(ex.route.as_deref(), Some("direct"));
}

#[tokio::test]
async fn a_parent_proxy_wanting_credentials_is_a_502_naming_it_for_http_and_https() {
    let parent = ParentProxy::start(Some(("user", "pass"))).await;
    let route = via_flag(parent.url());
    let mut proxy = Harness::with(|c| c.route = route).await;
    let plain = Origin::http().await;
    let tls = Origin::https(&proxy.test_ca, Protocols::Http1).await;
    let expected = format!(
        "proxy http://127.0.0.1:{} requires authentication (407); give credentials with \
         --proxy-user U:P or in the proxy URL",
        parent.port()
    );
    let client = proxy.client();
    for url in [plain.url("/hello"), tls.url("/hello")] {
        let resp = client.get(&url).send().await.unwrap();
        assert_eq!(resp.status(), 502, "{url}");
        assert!(
            resp.headers().get("proxy-authenticate").is_none(),
            "the parent's challenge is not passed to the client"
        );
        let body = resp.text().await.unwrap();
        assert!(body.contains(&expected), "{url}: {body}");
        let ex = proxy.next_exchange().await;
        assert_eq!(ex.request.url, url);
        assert!(ex.error.as_deref().unwrap().contains(&expected), "{ex:?}");
        assert!(ex.response.is_none());
    }
    assert_eq!(parent.seen().len(), 2, "one attempt each, no retries");
    assert_eq!(plain.hits.load(std::sync::atomic::Ordering::SeqCst), 0);
}

#[tokio::test]
async fn refused_credentials_are_a_502_and_tried_once() {
    let parent = ParentProxy::start(Some(("user", "pass"))).await;
    let route = via_flag(parent.url_with("user:hunter2"));
    let mut proxy = Harness::with(|c| c.route = route).await;
    let origin = Origin::http().await;
    let resp = proxy
        .client()
        .get(origin.url("/hello"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 502);
    let body = resp.text().await.unwrap();
    assert!(
        body.contains("refused the credentials for user \"user\""),
        "{body}"
    );
    assert!(!body.contains("hunter2"), "{body}");
    let ex = proxy.next_exchange().await;
    assert!(!ex.error.unwrap().contains("hunter2"));
    assert_eq!(parent.seen().len(), 1);
}

#[tokio::test]
async fn an_unreachable_parent_proxy_is_a_502_naming_it_and_the_reason() {
    let port = closed_port();
    let route = via_flag(format!("http://127.0.0.1:{port}"));
    let mut proxy = Harness::with(|c| c.route = route).await;
    let origin = Origin::http().await;
    let resp = proxy
        .client()
        .get(origin.url("/hello"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 502);
    let body = resp.text().await.unwrap();
    assert!(
        body.contains(&format!(
            "cannot reach proxy http://127.0.0.1:{port} (chosen by: --proxy flag): connection refused"
        )),
        "{body}"
    );
    let ex = proxy.next_exchange().await;
    assert_eq!(
        ex.route.as_deref(),
        Some(format!("via http://127.0.0.1:{port}").as_str())
    );
}

#[tokio::test]
async fn a_bad_proxy_url_in_the_environment_is_a_502_saying_which_variable() {
    let env = Env::vars([("http_proxy", "ftp://proxy.example:21")]);
    let mut proxy = Harness::with(|c| {
        c.route = RouteConfig {
            env,
            ..RouteConfig::default()
        }
    })
    .await;
    let origin = Origin::http().await;
    let resp = proxy
        .client()
        .get(origin.url("/hello"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 502);
    let body = resp.text().await.unwrap();
    assert!(body.contains("http_proxy environment variable"), "{body}");
    assert!(body.contains("unsupported proxy scheme \"ftp\""), "{body}");
    let ex = proxy.next_exchange().await;
    assert!(ex.error.is_some());
}

#[tokio::test]
async fn an_https_parent_proxy_is_reached_over_tls() {
    let proxy_ca = TestCa::new();
    let dir = tempfile::tempdir().unwrap();
    let proxy_ca_file = proxy_ca.write_pem(dir.path());
    let parent = ParentProxy::start_tls(&proxy_ca, Some(("user", "pass"))).await;
    let route = via_flag(parent.url_with("user:pass"));
    let mut proxy = Harness::with(|c| {
        c.route = route;
        c.upstream_tls.extra_roots.push(proxy_ca_file);
    })
    .await;
    let plain = Origin::http().await;
    let tls = Origin::https(&proxy.test_ca, Protocols::Http1).await;
    let client = proxy.client();
    for url in [plain.url("/hello"), tls.url("/hello")] {
        let resp = client.get(&url).send().await.unwrap();
        assert_eq!(resp.text().await.unwrap(), "hello from origin", "{url}");
        let ex = proxy.next_exchange().await;
        assert_eq!(
            ex.route.as_deref(),
            Some(format!("via https://localhost:{}", parent.port()).as_str())
        );
    }
    let methods: Vec<_> = parent.seen().into_iter().map(|r| r.method).collect();
    assert_eq!(methods, ["GET", "CONNECT"]);
}

#[tokio::test]
async fn capture_chains_through_socks5h_giving_the_proxy_the_name() {
    let socks = Socks5Proxy::start(Some(("al", "pw"))).await;
    let route = via_flag(format!("socks5h://al:pw@127.0.0.1:{}", socks.addr.port()));
    let mut proxy = Harness::with(|c| c.route = route).await;
    let tls = Origin::https(&proxy.test_ca, Protocols::Both).await;
    let resp = proxy.client().get(tls.url("/hello")).send().await.unwrap();
    assert_eq!(resp.text().await.unwrap(), "hello from origin");
    let seen = socks.seen();
    assert_eq!(
        seen[0].host,
        interpose_testsupport::SocksHost::Name("localhost".into())
    );
    assert_eq!(seen[0].username.as_deref(), Some("al"));
    let ex = proxy.next_exchange().await;
    assert_eq!(
        ex.route.as_deref(),
        Some(format!("via socks5h://127.0.0.1:{}", socks.addr.port()).as_str())
    );
}

#[tokio::test]
async fn an_ignored_hosts_tunnel_is_passed_through_the_parent_proxy_too() {
    let banner = BannerServer::start().await;
    let parent = ParentProxy::start(Some(("user", "pass"))).await;
    let route = via_flag(parent.url_with("user:pass"));
    let proxy = Harness::with(|c| {
        c.route = route;
        c.ignore_hosts = vec![Regex::new("^127\\.0\\.0\\.1$").unwrap()];
    })
    .await;
    let mut tunnel = proxy
        .connect_tunnel(&format!("127.0.0.1:{}", banner.port()))
        .await;
    let mut greeting = vec![0; BannerServer::BANNER.len()];
    within(
        "the banner through both proxies",
        tunnel.read_exact(&mut greeting),
    )
    .await
    .unwrap();
    assert_eq!(greeting, BannerServer::BANNER);
    within("writing", tunnel.write_all(b"ping\r\n"))
        .await
        .unwrap();
    let mut echo = [0u8; 6];
    within("the echo", tunnel.read_exact(&mut echo))
        .await
        .unwrap();
    assert_eq!(&echo, b"ping\r\n");
    let seen = parent.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method, "CONNECT");
    assert_eq!(seen[0].target, format!("127.0.0.1:{}", banner.port()));
}

#[tokio::test]
async fn an_ignored_hosts_tunnel_whose_parent_refuses_is_a_502_naming_the_proxy() {
    let parent = ParentProxy::start(Some(("user", "pass"))).await;
    let route = via_flag(parent.url());
    let proxy = Harness::with(|c| {
        c.route = route;
        c.ignore_hosts = vec![Regex::new("^127\\.0\\.0\\.1$").unwrap()];
    })
    .await;
    let mut tcp = proxy.tcp().await;
    let connect = "CONNECT 127.0.0.1:9 HTTP/1.1\r\nHost: 127.0.0.1:9\r\n\r\n";
    within("writing CONNECT", tcp.write_all(connect.as_bytes()))
        .await
        .unwrap();
    let resp = support::read_response(&mut tcp).await;
    assert_eq!(resp.status, 502);
    assert!(
        resp.text().contains("requires authentication (407)"),
        "{}",
        resp.text()
    );
}
