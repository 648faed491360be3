//! Exchanges shared by the format tests: one of every kind the exports
//! handle; and, in [`node`], running the Node tools that check them.
#![allow(dead_code)]

pub mod node;

use std::io::Write;

use interpose_capture::{Body, BodyOmitted, Exchange, Header, Request, Response, Timings};

/// 2023-11-14T22:13:20.123456Z
pub const STARTED_US: i64 = 1_700_000_000_123_456;

pub fn headers(pairs: &[(&str, &str)]) -> Vec<Header> {
    pairs.iter().map(|(n, v)| Header::new(*n, *v)).collect()
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(data).unwrap();
    gz.finish().unwrap()
}

pub fn get(url: &str) -> Exchange {
    Exchange {
        id: Some(7),
        session_id: 3,
        client_addr: "127.0.0.1:53422".into(),
        started_at_us: STARTED_US,
        timings: Timings {
            connect: Some(10.0),
            tls: Some(5.0),
            send: Some(1.0),
            wait: Some(20.0),
            receive: Some(3.0),
        },
        request: Request {
            method: "GET".into(),
            url: url.into(),
            http_version: "HTTP/1.1".into(),
            headers: headers(&[("Host", "api.example.test"), ("Accept", "*/*")]),
            body: Body::default(),
        },
        response: None,
        error: None,
        rules: vec![],
        route: Some("direct".into()),
        websocket: false,
    }
}

pub fn response(status: u16, headers: Vec<Header>, body: Body) -> Option<Response> {
    Some(Response {
        status,
        reason: if status == 200 {
            "OK".into()
        } else {
            String::new()
        },
        http_version: "HTTP/1.1".into(),
        headers,
        body,
    })
}

pub const JSON: &[u8] = br#"{"items":[{"id":1,"name":"caf\u00e9 \u2615"}],"ok":true}"#;

/// GET with a query string, a cookie and a gzip JSON response.
pub fn json_gzip_get() -> Exchange {
    let mut ex = get("https://api.example.test/v1/items?q=caf%C3%A9+latte&tag=a&tag=b%26c&empty=");
    ex.request
        .headers
        .push(Header::new("Cookie", "sid=abc; theme=dark"));
    let wire = gzip(JSON);
    ex.response = response(
        200,
        headers(&[
            ("Content-Type", "application/json; charset=utf-8"),
            ("Content-Encoding", "gzip"),
            ("Set-Cookie", "sid=new; Path=/; HttpOnly"),
        ]),
        Body {
            size: wire.len() as u64,
            bytes: wire,
            encoding: Some("gzip".into()),
            ..Body::default()
        },
    );
    ex.rules = vec!["add-api-token".into()];
    ex
}

pub const BINARY: &[u8] = &[0x00, 0x9f, 0x92, 0x96, 0xff, 0xfe, b'A'];

pub fn binary_response() -> Exchange {
    let mut ex = get("https://api.example.test/blob.bin");
    ex.response = response(
        200,
        headers(&[("Content-Type", "application/octet-stream")]),
        Body::from_bytes(BINARY.to_vec()),
    );
    ex
}

pub fn media_omitted() -> Exchange {
    let mut ex = get("https://cdn.example.test/logo.png");
    ex.response = response(
        200,
        headers(&[("Content-Type", "image/png")]),
        Body {
            size: 2048,
            omitted: Some(BodyOmitted::Media),
            ..Body::default()
        },
    );
    ex
}

pub fn truncated() -> Exchange {
    let mut ex = get("https://api.example.test/big.txt");
    ex.response = response(
        200,
        headers(&[("Content-Type", "text/plain")]),
        Body {
            bytes: b"first part".to_vec(),
            size: 1_000_000,
            truncated: true,
            ..Body::default()
        },
    );
    ex
}

/// No response: the connection was refused.
pub fn error_only() -> Exchange {
    let mut ex = get("http://127.0.0.1:9/down");
    ex.timings = Timings::default();
    ex.error = Some("connection refused by 127.0.0.1:9".into());
    ex.route = None;
    ex
}

pub fn form_post() -> Exchange {
    let mut ex = get("https://api.example.test/login?next=%2Fhome");
    ex.request.method = "POST".into();
    ex.request.headers.push(Header::new(
        "Content-Type",
        "application/x-www-form-urlencoded",
    ));
    ex.request.body = Body::from_bytes(b"user=ana+maria&pass=p%40ss".to_vec());
    ex.response = response(
        302,
        headers(&[
            ("Location", "https://api.example.test/home"),
            ("Content-Length", "0"),
        ]),
        Body::default(),
    );
    ex
}

pub fn binary_post() -> Exchange {
    let mut ex = get("https://api.example.test/upload");
    ex.request.method = "POST".into();
    ex.request
        .headers
        .push(Header::new("Content-Type", "application/octet-stream"));
    ex.request.body = Body::from_bytes(BINARY.to_vec());
    ex.response = response(
        200,
        headers(&[("Content-Type", "text/plain")]),
        Body::from_bytes(b"stored".to_vec()),
    );
    ex
}

pub fn websocket() -> Exchange {
    let mut ex = get("wss://api.example.test/socket");
    ex.request.http_version = "HTTP/1.1".into();
    ex.websocket = true;
    ex.response = response(
        101,
        headers(&[("Upgrade", "websocket"), ("Connection", "Upgrade")]),
        Body::default(),
    );
    ex
}

/// One of every kind above, in a fixed order.
pub fn every_kind() -> Vec<Exchange> {
    vec![
        json_gzip_get(),
        binary_response(),
        media_omitted(),
        truncated(),
        error_only(),
        form_post(),
        binary_post(),
        websocket(),
    ]
}
