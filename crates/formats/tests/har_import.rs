//! HAR import: our own export read back, real files in mitmproxy's and
//! Chrome devtools' dialects, and the errors a user sees for bad input.

mod common;

use std::path::Path;

use common::*;
use interpose_capture::{decode_body, header_value, BodyOmitted, Exchange, Timings};
use interpose_formats::har::{read_har, write_har};
use interpose_formats::FormatError;

fn fixture(name: &str) -> Vec<Exchange> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let file = std::fs::File::open(&path).unwrap();
    read_har(file).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn round_trip(exchanges: Vec<Exchange>) -> Vec<Exchange> {
    let mut buf = Vec::new();
    write_har(&mut buf, exchanges, "test").unwrap();
    read_har(&buf[..]).unwrap()
}

fn read_str(har: &str) -> Result<Vec<Exchange>, String> {
    read_har(har.as_bytes()).map_err(|e| e.to_string())
}

fn decoded(body: &interpose_capture::Body) -> Vec<u8> {
    decode_body(&body.bytes, body.encoding.as_deref()).unwrap()
}

fn names(headers: &[interpose_capture::Header]) -> Vec<&str> {
    headers.iter().map(|h| h.name.as_str()).collect()
}

#[test]
fn our_export_reads_back_with_the_same_requests_responses_bodies_and_timings() {
    let original = every_kind();
    let back = round_trip(original.clone());
    assert_eq!(back.len(), original.len());
    for (i, (a, b)) in original.iter().zip(&back).enumerate() {
        let at = format!("exchange {i} ({})", a.request.url);
        assert_eq!(b.request.method, a.request.method, "{at}");
        assert_eq!(b.request.url, a.request.url, "{at}");
        assert_eq!(b.request.http_version, a.request.http_version, "{at}");
        assert_eq!(b.request.headers, a.request.headers, "{at}");
        assert_eq!(b.request.body.bytes, decoded(&a.request.body), "{at}");
        assert_eq!(b.request.body.size, a.request.body.size, "{at}");
        assert_eq!(b.request.body.truncated, a.request.body.truncated, "{at}");
        assert_eq!(b.request.body.omitted, a.request.body.omitted, "{at}");
        assert_eq!(
            b.started_at_us,
            a.started_at_us / 1000 * 1000,
            "{at}: HAR dates carry milliseconds"
        );
        assert_eq!(b.error, a.error, "{at}");
        assert_eq!(b.rules, a.rules, "{at}");
        assert_eq!(b.route, a.route, "{at}");
        assert_eq!(b.websocket, a.websocket, "{at}");
        assert_eq!(b.client_addr, a.client_addr, "{at}");
        // HAR cannot say "did not happen" for send, wait and receive: 0.
        let want_timings = Timings {
            send: a.timings.send.or(Some(0.0)),
            wait: a.timings.wait.or(Some(0.0)),
            receive: a.timings.receive.or(Some(0.0)),
            ..a.timings
        };
        assert_eq!(b.timings, want_timings, "{at}");
        match (&a.response, &b.response) {
            (None, None) => {}
            (Some(ra), Some(rb)) => {
                assert_eq!(rb.status, ra.status, "{at}");
                assert_eq!(rb.reason, ra.reason, "{at}");
                assert_eq!(rb.http_version, ra.http_version, "{at}");
                assert_eq!(rb.headers, ra.headers, "{at}");
                assert_eq!(rb.body.bytes, decoded(&ra.body), "{at}");
                assert_eq!(rb.body.encoding, None, "{at}: imported bodies are decoded");
                assert_eq!(rb.body.size, ra.body.size, "{at}: wire size");
                assert_eq!(rb.body.truncated, ra.body.truncated, "{at}");
                assert_eq!(rb.body.omitted, ra.body.omitted, "{at}");
            }
            (a, b) => panic!("{at}: response {a:?} came back as {b:?}"),
        }
        assert_eq!(b.id, None, "{at}: the store assigns ids");
        assert_eq!(b.session_id, 0, "{at}: the caller assigns the session");
    }
}

#[test]
fn a_gzip_response_comes_back_decoded_with_its_headers_as_sent() {
    let back = round_trip(vec![json_gzip_get()]);
    let resp = back[0].response.as_ref().unwrap();
    assert_eq!(resp.body.bytes, JSON);
    assert_eq!(resp.body.encoding, None);
    assert_eq!(
        header_value(&resp.headers, "content-encoding"),
        Some("gzip")
    );
    // Decoding it again is a no-op, not an error.
    assert_eq!(decoded(&resp.body), JSON);
}

#[test]
fn a_truncated_request_body_does_not_mark_the_response_truncated() {
    let mut ex = binary_post();
    ex.request.body.truncated = true;
    ex.request.body.size = 1_000;
    let back = round_trip(vec![ex]);
    assert!(back[0].request.body.truncated);
    assert!(!back[0].response.as_ref().unwrap().body.truncated);

    let mut both = truncated();
    both.request.body = interpose_capture::Body {
        bytes: b"abc".to_vec(),
        size: 10,
        truncated: true,
        ..Default::default()
    };
    let back = round_trip(vec![both]);
    assert!(back[0].request.body.truncated);
    assert!(back[0].response.as_ref().unwrap().body.truncated);
}

#[test]
fn a_mitmproxy_hardump_imports_with_its_own_timing_and_error_conventions() {
    let ex = fixture("mitmproxy.har");
    let summary: Vec<(&str, &str, u16)> = ex
        .iter()
        .map(|e| {
            let path = e.request.url.splitn(4, '/').nth(3).unwrap_or("");
            (
                e.request.method.as_str(),
                path,
                e.response.as_ref().map_or(0, |r| r.status),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("GET", "api/items?q=caf%C3%A9&tag=a&tag=b", 200),
            ("POST", "api/items", 201),
            ("POST", "login", 302),
            ("GET", "missing", 404),
            ("GET", "logo.png", 200),
            ("POST", "upload", 200),
            ("GET", "secure", 200),
            ("GET", "down", 0),
        ]
    );
    // Microseconds, as mitmproxy writes them.
    assert_eq!(ex[0].started_at_us % 1_000_000, 558_223);

    // gzip on the wire, decoded text in the file: decoded bytes, no encoding.
    let items = ex[0].response.as_ref().unwrap();
    assert_eq!(
        header_value(&items.headers, "content-encoding"),
        Some("gzip")
    );
    assert_eq!(items.body.encoding, None);
    assert!(items.body.bytes.starts_with(br#"{"items": ["#));
    assert_eq!(items.body.size, 70, "bodySize, the bytes on the wire");

    assert_eq!(
        ex[1].request.body.bytes,
        br#"{"name":"tea","tags":["hot"]}"#
    );
    assert_eq!(ex[1].response.as_ref().unwrap().reason, "Created");
    assert_eq!(ex[2].request.body.bytes, b"user=ana+maria&pass=p%40ss");
    assert!(ex[4]
        .response
        .as_ref()
        .unwrap()
        .body
        .bytes
        .starts_with(b"\x89PNG\r\n\x1a\n"));
    assert!(ex[5].request.body.bytes.windows(7).any(|w| w == b"holiday"));

    // mitmproxy's `connect` stops where TLS starts: both kept as they are.
    assert_eq!(ex[6].timings.connect, Some(0.8606910705566406));
    assert_eq!(ex[6].timings.tls, Some(12.425661087036133));
    assert_eq!(ex[0].timings.tls, None, "ssl -1: plain HTTP");

    // No response: status 0, `content: {}`, the reason in `_error`.
    assert!(ex[7].response.is_none());
    assert_eq!(
        ex[7].error.as_deref(),
        Some("[Errno 111] Connect call failed ('127.0.0.1', 9)")
    );
    assert_eq!(ex[7].timings.connect, None);
}

#[test]
fn a_chrome_devtools_export_imports_without_pseudo_headers_and_with_normal_versions() {
    let ex = fixture("chrome-devtools.har");
    assert_eq!(ex.len(), 6);

    let page = &ex[0];
    assert_eq!(page.request.url, "https://shop.example.test/");
    assert_eq!(page.request.http_version, "HTTP/2.0");
    assert_eq!(
        names(&page.request.headers),
        ["accept", "accept-encoding", "user-agent"],
        ":authority, :method, :path and :scheme are not headers"
    );
    // Chrome's connect includes ssl, as HAR says.
    assert_eq!(page.timings.tls, Some(30.1));
    assert_eq!(page.timings.connect, Some(15.1));
    assert_eq!(page.timings.wait, Some(120.4));
    let html = page.response.as_ref().unwrap();
    assert_eq!(html.status, 200);
    assert_eq!(html.body.encoding, None);
    assert!(html.body.bytes.starts_with(b"<!doctype html>"));
    assert_eq!(html.body.size, 42);

    let items = &ex[1];
    assert_eq!(items.timings.connect, None, "reused connection");
    assert_eq!(items.timings.tls, None);
    assert_eq!(
        header_value(&items.request.headers, "authorization"),
        Some("Bearer eyJhbGciOi.test.token")
    );

    let post = &ex[2];
    assert_eq!(post.request.method, "POST");
    assert_eq!(post.request.body.bytes, br#"{"name":"sencha"}"#);
    assert_eq!(post.response.as_ref().unwrap().status, 201);

    let image = &ex[3];
    assert_eq!(image.request.http_version, "HTTP/3.0");
    assert!(image
        .response
        .as_ref()
        .unwrap()
        .body
        .bytes
        .starts_with(b"\x89PNG"));

    let failed = &ex[4];
    assert!(failed.response.is_none());
    assert_eq!(failed.error.as_deref(), Some("net::ERR_NAME_NOT_RESOLVED"));

    let ws = &ex[5];
    assert!(ws.websocket);
    assert_eq!(ws.response.as_ref().unwrap().status, 101);
}

#[test]
fn an_entry_without_any_error_text_says_no_response() {
    let har = r#"{"log":{"version":"1.2","creator":{"name":"x","version":"1"},"entries":[
        {"startedDateTime":"2024-01-01T00:00:00Z","request":{"method":"GET","url":"http://a.test/"},
         "response":{"status":0,"content":{}},"timings":{"send":0,"wait":0,"receive":0}}]}}"#;
    let ex = read_str(har).unwrap();
    assert!(ex[0].response.is_none());
    assert_eq!(ex[0].error.as_deref(), Some("no response"));
}

#[test]
fn interpose_extras_come_back() {
    let mut ex = binary_post();
    ex.rules = vec!["add-token".into(), "map-staging".into()];
    ex.route = Some("via http://proxy.test:3128".into());
    ex.request.body = interpose_capture::Body {
        size: 4096,
        omitted: Some(BodyOmitted::Media),
        ..Default::default()
    };
    let back = round_trip(vec![ex, media_omitted(), websocket()]);
    assert_eq!(back[0].rules, ["add-token", "map-staging"]);
    assert_eq!(back[0].route.as_deref(), Some("via http://proxy.test:3128"));
    assert_eq!(back[0].request.body.omitted, Some(BodyOmitted::Media));
    assert_eq!(back[0].request.body.size, 4096);
    let media = back[1].response.as_ref().unwrap();
    assert_eq!(media.body.omitted, Some(BodyOmitted::Media));
    assert_eq!(media.body.size, 2048);
    assert!(back[2].websocket);
}

#[test]
fn input_that_is_not_json_is_named_as_such() {
    let err = read_str("<html>not a har</html>").unwrap_err();
    assert!(
        err.starts_with("not a HAR file: the input is not valid JSON (expected value at line 1"),
        "{err}"
    );
}

#[test]
fn json_that_is_not_a_har_log_says_what_it_found() {
    let collection = r#"{"info":{"name":"c"},"item":[]}"#;
    assert_eq!(
        read_str(collection).unwrap_err(),
        r#"not a HAR file: it has no top-level "log" object (top-level keys: "info", "item")"#
    );
    assert_eq!(
        read_str("[1,2]").unwrap_err(),
        r#"not a HAR file: the document is an array rather than an object with a "log""#
    );
    assert_eq!(
        read_str(r#"{"log":{"version":"1.2"}}"#).unwrap_err(),
        "not a HAR file: log.entries is missing"
    );
}

/// A log of `n` valid entries with `edit` applied to entry `at`.
fn log_with(n: usize, at: usize, edit: impl Fn(&mut serde_json::Value)) -> String {
    let mut entries = Vec::new();
    for i in 0..n {
        let mut e = serde_json::json!({
            "startedDateTime": "2024-01-01T00:00:00.000Z",
            "request": {"method": "GET", "url": format!("http://a.test/{i}"), "httpVersion": "HTTP/1.1",
                        "headers": [], "cookies": [], "queryString": [], "headersSize": -1, "bodySize": 0},
            "response": {"status": 200, "statusText": "OK", "httpVersion": "HTTP/1.1", "headers": [],
                         "cookies": [], "content": {"size": 0, "mimeType": "text/plain"},
                         "redirectURL": "", "headersSize": -1, "bodySize": 0},
            "cache": {}, "timings": {"send": 0, "wait": 1, "receive": 0}
        });
        if i == at {
            edit(&mut e);
        }
        entries.push(e);
    }
    serde_json::json!({"log": {"version": "1.2", "creator": {"name": "t", "version": "1"}, "entries": entries}})
        .to_string()
}

#[test]
fn a_broken_entry_is_named_by_index_and_field() {
    type Edit = Box<dyn Fn(&mut serde_json::Value)>;
    let cases: Vec<(Edit, &str)> = vec![
        (
            Box::new(|e| {
                e["request"].as_object_mut().unwrap().remove("url");
            }),
            "HAR entry 3 (log.entries[3]): request.url is missing",
        ),
        (
            Box::new(|e| e["request"]["method"] = 7.into()),
            "HAR entry 3 (log.entries[3]): request.method is a number, not a string",
        ),
        (
            Box::new(|e| {
                e.as_object_mut().unwrap().remove("request");
            }),
            "HAR entry 3 (log.entries[3]): request is missing",
        ),
        (
            Box::new(|e| e["startedDateTime"] = "last tuesday".into()),
            "HAR entry 3 (log.entries[3]): startedDateTime \"last tuesday\" is not an ISO 8601 date",
        ),
        (
            Box::new(|e| e["response"]["status"] = "200".into()),
            "HAR entry 3 (log.entries[3]): response.status is \"200\", not an HTTP status code",
        ),
        (
            Box::new(|e| {
                e["response"]["content"]["text"] = "!!!".into();
                e["response"]["content"]["encoding"] = "base64".into();
            }),
            "HAR entry 3 (log.entries[3]): response.content.text is marked base64 but does not \
             decode: Invalid symbol 33, offset 0.",
        ),
        (
            Box::new(|e| e["request"]["headers"] = serde_json::json!([{"value": "x"}])),
            "HAR entry 3 (log.entries[3]): request.headers[0].name is missing",
        ),
        (
            Box::new(|e| e["_interpose"] = serde_json::json!({"bodyOmitted": "video"})),
            "HAR entry 3 (log.entries[3]): _interpose.bodyOmitted is \"video\"; expected \
             \"media\" or \"policy\"",
        ),
    ];
    assert_eq!(read_str(&log_with(5, 99, |_| {})).unwrap().len(), 5);
    for (edit, want) in cases {
        let err = read_har(log_with(5, 3, edit).as_bytes()).unwrap_err();
        assert!(
            matches!(err, FormatError::HarEntry { index: 3, .. }),
            "{err:?}"
        );
        assert_eq!(err.to_string(), want);
    }
}

#[test]
fn timings_of_minus_one_are_phases_that_did_not_happen() {
    let har = log_with(1, 0, |e| {
        e["timings"] = serde_json::json!({"blocked": 3, "dns": -1, "connect": -1, "ssl": -1,
                                          "send": 0.5, "wait": 12.25, "receive": -1});
    });
    let t = read_str(&har).unwrap()[0].timings;
    assert_eq!(
        t,
        Timings {
            connect: None,
            tls: None,
            send: Some(0.5),
            wait: Some(12.25),
            receive: None,
        }
    );
}

#[test]
fn a_writer_whose_connect_excludes_ssl_is_not_made_negative() {
    let har = log_with(1, 0, |e| {
        e["timings"] =
            serde_json::json!({"connect": 2.0, "ssl": 9.5, "send": 0, "wait": 1, "receive": 0});
    });
    let t = read_str(&har).unwrap()[0].timings;
    assert_eq!((t.connect, t.tls), (Some(2.0), Some(9.5)));
}

#[test]
fn a_form_given_only_as_params_becomes_its_urlencoded_body() {
    let har = log_with(1, 0, |e| {
        e["request"]["method"] = "POST".into();
        e["request"]["postData"] = serde_json::json!({
            "mimeType": "application/x-www-form-urlencoded",
            "params": [{"name": "q", "value": "a b&c"}, {"name": "n", "value": "1"}]
        });
    });
    assert_eq!(
        read_str(&har).unwrap()[0].request.body.bytes,
        b"q=a+b%26c&n=1"
    );
}
