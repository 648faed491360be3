//! `send` straight to origins: what is sent (methods, headers browsers
//! forbid, bodies, forms, auth), what comes back as data, redirects, and
//! one-line errors when no response comes.
mod support;

use std::sync::atomic::Ordering;
use std::time::Duration;

use interpose_client::{
    send, Auth, Env, FailureKind, FormPart, RequestBody, SendError, SendRequest, Settings,
};
use interpose_testsupport::{closed_port, Origin, Protocols, TestCa};
use support::{send_plain, text, trust, Redirector};

fn echoed(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

fn echoed_header<'a>(echo: &'a serde_json::Value, name: &str) -> Option<&'a str> {
    echo["headers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|pair| pair[0] == name)
        .and_then(|pair| pair[1].as_str())
}

#[tokio::test]
async fn a_get_returns_status_headers_body_and_the_direct_route() {
    let origin = Origin::http().await;
    let (resp, body) = text(&SendRequest::new(origin.url("/json")), &Env::empty()).await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.reason, "OK");
    assert_eq!(resp.version, "HTTP/1.1");
    assert_eq!(resp.header("content-type"), Some("application/json"));
    assert_eq!(body, r#"{"ok":true,"items":[1,2,3]}"#);
    assert!(resp.route.is_direct());
    assert_eq!(resp.route.reason, "no proxy configured");
    assert!(resp.timings.connect.is_some());
    assert_eq!(origin.seen()[0].method, "GET");
}

#[tokio::test]
async fn headers_browsers_forbid_are_sent_as_given() {
    let origin = Origin::http().await;
    let mut request = SendRequest::new(origin.url("/echo"));
    for line in [
        "Cookie: session=abc; theme=dark",
        "Origin: https://evil.example",
        "Referer: https://ref.example/page",
        "User-Agent: my-agent/1.0",
        "Host: api.example.test",
    ] {
        request = request.header(line).unwrap();
    }
    let (_, body) = text(&request, &Env::empty()).await;
    let echo = echoed(&body);
    assert_eq!(
        echoed_header(&echo, "cookie"),
        Some("session=abc; theme=dark")
    );
    assert_eq!(echoed_header(&echo, "origin"), Some("https://evil.example"));
    assert_eq!(
        echoed_header(&echo, "referer"),
        Some("https://ref.example/page")
    );
    assert_eq!(echoed_header(&echo, "user-agent"), Some("my-agent/1.0"));
    assert_eq!(echoed_header(&echo, "host"), Some("api.example.test"));
}

#[tokio::test]
async fn a_body_makes_a_post_and_json_sets_its_content_type() {
    let origin = Origin::http().await;
    let request = SendRequest::new(origin.url("/echo")).json(r#"{"a":1}"#);
    let (_, body) = text(&request, &Env::empty()).await;
    let echo = echoed(&body);
    assert_eq!(echo["method"], "POST");
    assert_eq!(echo["body"], r#"{"a":1}"#);
    assert_eq!(
        echoed_header(&echo, "content-type"),
        Some("application/json")
    );
    assert_eq!(echoed_header(&echo, "accept"), Some("application/json"));
    assert_eq!(echoed_header(&echo, "content-length"), Some("7"));
}

#[tokio::test]
async fn data_from_a_file_is_sent_with_the_method_given() {
    let origin = Origin::http().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("body.txt");
    std::fs::write(&path, "from a file").unwrap();
    let request = SendRequest {
        method: Some("put".into()),
        body: RequestBody::data(&format!("@{}", path.display())),
        ..SendRequest::new(origin.url("/echo"))
    };
    let (_, body) = text(&request, &Env::empty()).await;
    let echo = echoed(&body);
    assert_eq!(echo["method"], "PUT");
    assert_eq!(echo["body"], "from a file");

    let missing = SendRequest {
        body: RequestBody::data("@/nonexistent/body.txt"),
        ..SendRequest::new(origin.url("/echo"))
    };
    let err = send_plain(&missing).await.unwrap_err().to_string();
    assert!(
        err.starts_with("cannot read body file /nonexistent/body.txt"),
        "{err}"
    );
}

#[tokio::test]
async fn form_fields_and_files_go_as_multipart() {
    let origin = Origin::http().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.txt");
    std::fs::write(&path, "file contents").unwrap();
    let request = SendRequest {
        body: RequestBody::Form(vec![
            FormPart::parse("name=value").unwrap(),
            FormPart::parse(&format!("file=@{}", path.display())).unwrap(),
        ]),
        ..SendRequest::new(origin.url("/echo"))
    };
    let (_, body) = text(&request, &Env::empty()).await;
    let echo = echoed(&body);
    assert_eq!(echo["method"], "POST");
    let content_type = echoed_header(&echo, "content-type").unwrap();
    let boundary = content_type
        .strip_prefix("multipart/form-data; boundary=")
        .unwrap_or_else(|| panic!("{content_type}"));
    let sent = echo["body"].as_str().unwrap();
    let expected = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nvalue\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"notes.txt\"\r\n\
         Content-Type: text/plain\r\n\r\nfile contents\r\n--{boundary}--\r\n"
    );
    assert_eq!(sent, expected);
}

#[tokio::test]
async fn a_content_length_that_does_not_match_the_body_is_refused_before_connecting() {
    let origin = Origin::http().await;
    let request = SendRequest {
        body: RequestBody::data("abc"),
        ..SendRequest::new(origin.url("/echo"))
            .header("Content-Length: 10")
            .unwrap()
    };
    let err = send_plain(&request).await.unwrap_err();
    assert!(
        matches!(err, SendError::ContentLengthMismatch { actual: 3, .. }),
        "{err}"
    );
    assert!(
        err.to_string().contains("says 10 but the body is 3 bytes"),
        "{err}"
    );
    assert_eq!(origin.hits.load(Ordering::SeqCst), 0);

    // A matching one is sent as given.
    let request = SendRequest {
        body: RequestBody::data("abc"),
        ..SendRequest::new(origin.url("/echo"))
            .header("Content-Length: 3")
            .unwrap()
    };
    let (resp, _) = text(&request, &Env::empty()).await;
    assert_eq!(resp.status, 200);
}

#[tokio::test]
async fn basic_bearer_and_url_credentials_become_authorization() {
    let origin = Origin::http().await;
    let cases = [
        (
            SendRequest {
                auth: Some(Auth::basic("al:p@ss")),
                ..SendRequest::new(origin.url("/echo"))
            },
            "Basic YWw6cEBzcw==",
        ),
        (
            SendRequest {
                auth: Some(Auth::Bearer("t0k".into())),
                ..SendRequest::new(origin.url("/echo"))
            },
            "Bearer t0k",
        ),
        (
            SendRequest::new(format!("http://al:p%40ss@127.0.0.1:{}/echo", origin.port())),
            "Basic YWw6cEBzcw==",
        ),
    ];
    for (request, expected) in cases {
        let (resp, body) = text(&request, &Env::empty()).await;
        assert_eq!(
            echoed_header(&echoed(&body), "authorization"),
            Some(expected)
        );
        assert!(
            !resp.url.contains("p%40ss"),
            "credentials leave the URL: {}",
            resp.url
        );
    }
}

#[tokio::test]
async fn the_cookie_hook_adds_a_cookie_header_unless_one_is_given() {
    let origin = Origin::http().await;
    let request = SendRequest {
        cookies: Some("jar=1".into()),
        ..SendRequest::new(origin.url("/echo"))
    };
    let (_, body) = text(&request, &Env::empty()).await;
    assert_eq!(echoed_header(&echoed(&body), "cookie"), Some("jar=1"));
    let request = SendRequest {
        cookies: Some("jar=1".into()),
        ..SendRequest::new(origin.url("/echo"))
            .header("Cookie: mine=2")
            .unwrap()
    };
    let (_, body) = text(&request, &Env::empty()).await;
    assert_eq!(echoed_header(&echoed(&body), "cookie"), Some("mine=2"));
}

#[tokio::test]
async fn https_negotiates_http2_by_alpn_and_trusts_extra_roots() {
    let ca = TestCa::new();
    let trusted = trust(&ca);
    for (protocols, version) in [
        (Protocols::Http2, "HTTP/2.0"),
        (Protocols::Http1, "HTTP/1.1"),
    ] {
        let origin = Origin::https(&ca, protocols).await;
        let request = SendRequest {
            extra_roots: vec![trusted.file.clone()],
            ..SendRequest::new(origin.url("/hello"))
        };
        let (resp, body) = text(&request, &Env::empty()).await;
        assert_eq!(body, "hello from origin");
        assert_eq!(resp.version, version);
        assert!(resp.timings.tls.is_some());
    }
}

#[tokio::test]
async fn an_untrusted_certificate_is_a_tls_error_naming_the_host_and_insecure_skips_it() {
    let origin = Origin::https(&TestCa::new(), Protocols::Both).await;
    let err = send_plain(&SendRequest::new(origin.url("/hello")))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), Some(FailureKind::Tls), "{err}");
    let message = err.to_string();
    assert!(
        message.starts_with(&format!(
            "TLS handshake with localhost:{} failed",
            origin.port()
        )),
        "{message}"
    );
    assert!(message.contains("--insecure"), "{message}");

    let request = SendRequest {
        insecure: true,
        ..SendRequest::new(origin.url("/hello"))
    };
    let (resp, _) = text(&request, &Env::empty()).await;
    assert_eq!(resp.status, 200);
}

#[tokio::test]
async fn a_refused_connection_is_a_one_line_error_naming_the_target() {
    let port = closed_port();
    let err = send_plain(&SendRequest::new(format!("http://127.0.0.1:{port}/")))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), Some(FailureKind::Refused));
    assert_eq!(
        err.to_string(),
        format!("connection to 127.0.0.1:{port} refused (is the server running on that port?)")
    );
}

#[tokio::test]
async fn an_unknown_host_is_a_dns_error() {
    let err = send_plain(&SendRequest::new("http://does-not-exist.invalid/"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), Some(FailureKind::Dns), "{err}");
    assert!(
        err.to_string()
            .starts_with("cannot resolve does-not-exist.invalid"),
        "{err}"
    );
}

#[tokio::test]
async fn a_slow_origin_is_a_timeout() {
    let origin = Origin::http().await;
    let request = SendRequest {
        timeout: Some(Duration::from_millis(300)),
        ..SendRequest::new(origin.url("/slow/3000"))
    };
    let started = std::time::Instant::now();
    let err = send_plain(&request).await.unwrap_err();
    assert_eq!(err.kind(), Some(FailureKind::Timeout), "{err}");
    assert!(err.to_string().starts_with("timed out after 0.3s"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn redirects_are_not_followed_unless_asked() {
    let server = Redirector::start().await;
    let (resp, _) = text(&SendRequest::new(server.url("/hops/2")), &Env::empty()).await;
    assert_eq!(resp.status, 302);
    assert_eq!(resp.header("location"), Some("/hops/1"));

    let request = SendRequest {
        follow_redirects: true,
        ..SendRequest::new(server.url("/hops/3"))
    };
    let (resp, body) = text(&request, &Env::empty()).await;
    assert_eq!((resp.status, body.as_str()), (200, "arrived"));
    assert_eq!(resp.url, server.url("/hops/0"));
    assert_eq!(
        resp.redirects,
        [
            server.url("/hops/3"),
            server.url("/hops/2"),
            server.url("/hops/1")
        ]
    );
}

#[tokio::test]
async fn redirects_stop_after_ten() {
    let server = Redirector::start().await;
    let request = SendRequest {
        follow_redirects: true,
        ..SendRequest::new(server.url("/hops/10"))
    };
    let (resp, body) = text(&request, &Env::empty()).await;
    assert_eq!((resp.status, body.as_str()), (200, "arrived"));
    let request = SendRequest {
        follow_redirects: true,
        ..SendRequest::new(server.url("/loop"))
    };
    let err = send_plain(&request).await.unwrap_err();
    assert!(
        matches!(err, SendError::TooManyRedirects { max: 10, .. }),
        "{err}"
    );
}

#[tokio::test]
async fn a_303_becomes_a_get_and_a_307_keeps_method_and_body() {
    let server = Redirector::start().await;
    let post = |path: &str| SendRequest {
        follow_redirects: true,
        body: RequestBody::data("12345"),
        ..SendRequest::new(server.url(path))
    };
    let (_, body) = text(&post("/see-other"), &Env::empty()).await;
    assert_eq!(body, "GET 0");
    let (_, body) = text(&post("/found"), &Env::empty()).await;
    assert_eq!(body, "GET 0", "curl turns a POST into a GET after 302");
    let (_, body) = text(&post("/temporary"), &Env::empty()).await;
    assert_eq!(body, "POST 5");
    let put = SendRequest {
        method: Some("PUT".into()),
        ..post("/see-other")
    };
    let (_, body) = text(&put, &Env::empty()).await;
    assert_eq!(body, "GET 0");
}

#[tokio::test]
async fn a_redirect_to_another_host_drops_authorization_and_cookies() {
    let origin = Origin::http().await;
    let server = Redirector::start().await;
    // Same machine, another port: another origin.
    let to = origin.url("/echo");
    let request = SendRequest {
        follow_redirects: true,
        auth: Some(Auth::Bearer("secret".into())),
        cookies: Some("a=1".into()),
        ..SendRequest::new(server.url(&format!("/elsewhere?to={to}")))
    };
    let (_, body) = text(&request, &Env::empty()).await;
    let echo = echoed(&body);
    assert_eq!(echoed_header(&echo, "authorization"), None);
    assert_eq!(echoed_header(&echo, "cookie"), None);
}

#[tokio::test]
async fn the_exchange_records_what_was_sent_and_received_for_saving() {
    let origin = Origin::http().await;
    let request = SendRequest::new(origin.url("/echo")).json("{}");
    let mut resp = send(&request, &Settings::default(), &Env::empty())
        .await
        .unwrap();
    let body = resp.bytes().await.unwrap();
    let ex = resp.exchange();
    assert_eq!(ex.request.method, "POST");
    assert_eq!(ex.request.url, origin.url("/echo"));
    assert_eq!(ex.request.body.bytes, b"{}");
    assert!(ex
        .request
        .headers
        .iter()
        .any(|h| h.name == "host" && h.value == format!("127.0.0.1:{}", origin.port())));
    let response = ex.response.unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(response.body.bytes, body.to_vec());
    assert_eq!(response.body.size, body.len() as u64);
    assert_eq!(ex.route.as_deref(), Some("direct"));
    assert_eq!(ex.error, None);
    assert!(ex.timings.receive.is_some());
}

#[tokio::test]
async fn bad_input_is_refused_with_a_reason() {
    let err = send_plain(&SendRequest::new("ftp://example.com/"))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("only http:// and https://"),
        "{err}"
    );
    let err = SendRequest::new("http://x/").header("nocolon").unwrap_err();
    assert!(err.to_string().contains("has no colon"), "{err}");
    let request = SendRequest {
        method: Some("GE T".into()),
        ..SendRequest::new("http://127.0.0.1:9/")
    };
    let err = send_plain(&request).await.unwrap_err();
    assert!(err.to_string().contains("not an HTTP method"), "{err}");
}
