//! The HAR mapping, entry by entry, and the streamed log read back by the
//! `har` crate as an independent oracle.

mod common;

use std::cell::Cell;
use std::io::{self, Write};
use std::rc::Rc;

use base64::Engine as _;
use common::*;
use interpose_capture::{Body, Header, Timings};
use interpose_formats::har::{entry, write_har};
use interpose_formats::FormatError;
use serde_json::{json, Value};

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn names_values(list: &Value) -> Vec<(String, String)> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["name"].as_str().unwrap().to_string(),
                v["value"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn pairs(want: &[(&str, &str)]) -> Vec<(String, String)> {
    want.iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

#[test]
fn json_get_with_gzip_response_has_decoded_text_decoded_size_and_compression() {
    let ex = json_gzip_get();
    let wire = ex.response.as_ref().unwrap().body.size as i64;
    let e = entry(&ex);
    let content = &e["response"]["content"];
    assert_eq!(content["text"], std::str::from_utf8(JSON).unwrap());
    assert!(content.get("encoding").is_none(), "{content}");
    assert_eq!(content["size"], JSON.len() as i64);
    assert_eq!(content["compression"], JSON.len() as i64 - wire);
    assert_eq!(content["mimeType"], "application/json; charset=utf-8");
    assert_eq!(e["response"]["bodySize"], wire);
    assert_eq!(e["response"]["status"], 200);
    assert_eq!(e["response"]["statusText"], "OK");
    assert_eq!(e["response"]["redirectURL"], "");
    assert_eq!(e["request"]["method"], "GET");
    assert_eq!(e["request"]["bodySize"], 0);
    assert_eq!(e["request"]["headersSize"], -1);
    assert!(e["request"].get("postData").is_none());
    assert_eq!(e["startedDateTime"], "2023-11-14T22:13:20.123Z");
    assert_eq!(e["cache"], json!({}));
    assert_eq!(
        names_values(&e["request"]["cookies"]),
        pairs(&[("sid", "abc"), ("theme", "dark")])
    );
    assert_eq!(
        e["response"]["cookies"],
        json!([{"name": "sid", "value": "new", "path": "/", "httpOnly": true}])
    );
    assert_eq!(
        e["_interpose"],
        json!({"id": 7, "session": 3, "rules": ["add-api-token"], "route": "direct",
               "clientAddress": "127.0.0.1:53422"})
    );
}

#[test]
fn binary_response_is_base64_with_content_encoding() {
    let e = entry(&binary_response());
    let content = &e["response"]["content"];
    assert_eq!(content["encoding"], "base64");
    assert_eq!(content["text"], b64(BINARY));
    assert_eq!(content["size"], BINARY.len());
    assert!(
        content.get("compression").is_none(),
        "no encoding, no compression: {content}"
    );
}

#[test]
fn binary_request_body_is_base64_text_marked_by_postdata_underscore_encoding() {
    let e = entry(&binary_post());
    let post = &e["request"]["postData"];
    assert_eq!(post["mimeType"], "application/octet-stream");
    assert_eq!(post["text"], b64(BINARY));
    assert_eq!(post["_encoding"], "base64");
    assert!(post.get("params").is_none());
    assert_eq!(e["request"]["bodySize"], BINARY.len());
}

#[test]
fn media_omitted_response_has_body_omitted_media_and_no_text() {
    let e = entry(&media_omitted());
    let content = &e["response"]["content"];
    assert_eq!(e["_interpose"]["bodyOmitted"], "media");
    assert!(content.get("text").is_none(), "{content}");
    assert!(content.get("encoding").is_none(), "{content}");
    assert_eq!(content["size"], 2048);
    assert_eq!(content["mimeType"], "image/png");
    assert_eq!(e["response"]["bodySize"], 2048);
    assert!(e["_interpose"].get("bodyTruncated").is_none());
}

#[test]
fn policy_omitted_response_says_policy() {
    let mut ex = json_gzip_get();
    let body = &mut ex.response.as_mut().unwrap().body;
    body.bytes.clear();
    body.omitted = Some(interpose_capture::BodyOmitted::Policy);
    let e = entry(&ex);
    assert_eq!(e["_interpose"]["bodyOmitted"], "policy");
    assert!(e["response"]["content"].get("text").is_none());
}

#[test]
fn truncated_response_is_flagged_and_keeps_the_kept_part() {
    let e = entry(&truncated());
    assert_eq!(e["_interpose"]["bodyTruncated"], true);
    assert!(e["_interpose"].get("requestBodyTruncated").is_none());
    let content = &e["response"]["content"];
    assert_eq!(content["text"], "first part");
    assert_eq!(content["size"], 1_000_000, "size is the wire size");
    assert!(content["comment"]
        .as_str()
        .unwrap()
        .contains("10 of 1000000"));
}

#[test]
fn truncated_request_sets_both_truncation_flags() {
    let mut ex = binary_post();
    ex.request.body.truncated = true;
    ex.request.body.size = 99_999;
    let e = entry(&ex);
    assert_eq!(e["_interpose"]["bodyTruncated"], true);
    assert_eq!(e["_interpose"]["requestBodyTruncated"], true);
    assert_eq!(e["request"]["bodySize"], 99_999);
}

#[test]
fn exchange_without_response_has_an_empty_response_and_the_error() {
    let e = entry(&error_only());
    assert_eq!(
        e["response"],
        json!({
            "status": 0, "statusText": "", "httpVersion": "", "headers": [], "cookies": [],
            "content": {"size": 0, "mimeType": "x-unknown"},
            "redirectURL": "", "headersSize": -1, "bodySize": -1
        })
    );
    assert_eq!(
        e["_interpose"]["error"],
        "connection refused by 127.0.0.1:9"
    );
    assert!(e["_interpose"].get("route").is_none());
    assert_eq!(e["time"], 0.0);
}

#[test]
fn query_string_is_parsed_and_percent_decoded_in_order() {
    let e = entry(&json_gzip_get());
    assert_eq!(
        names_values(&e["request"]["queryString"]),
        pairs(&[
            ("q", "café latte"),
            ("tag", "a"),
            ("tag", "b&c"),
            ("empty", "")
        ])
    );
    assert_eq!(
        e["request"]["url"],
        "https://api.example.test/v1/items?q=caf%C3%A9+latte&tag=a&tag=b%26c&empty="
    );
    let e = entry(&get("https://api.example.test/plain#frag?x=1"));
    assert_eq!(e["request"]["queryString"], json!([]));
}

#[test]
fn duplicate_headers_keep_their_order() {
    let mut ex = get("https://api.example.test/");
    ex.request.headers = headers(&[
        ("Accept", "text/html"),
        ("X-Dup", "1"),
        ("Accept", "application/json"),
        ("x-dup", "2"),
    ]);
    ex.response = response(
        200,
        headers(&[
            ("Set-Cookie", "a=1"),
            ("Vary", "Accept"),
            ("Set-Cookie", "b=2"),
        ]),
        Body::default(),
    );
    let e = entry(&ex);
    assert_eq!(
        names_values(&e["request"]["headers"]),
        pairs(&[
            ("Accept", "text/html"),
            ("X-Dup", "1"),
            ("Accept", "application/json"),
            ("x-dup", "2")
        ])
    );
    assert_eq!(
        names_values(&e["response"]["headers"]),
        pairs(&[
            ("Set-Cookie", "a=1"),
            ("Vary", "Accept"),
            ("Set-Cookie", "b=2")
        ])
    );
    assert_eq!(
        names_values(&e["response"]["cookies"]),
        pairs(&[("a", "1"), ("b", "2")])
    );
}

#[test]
fn timings_connect_includes_ssl_and_phases_that_did_not_happen_are_minus_one_or_zero() {
    let mut ex = json_gzip_get();
    let e = entry(&ex);
    assert_eq!(
        e["timings"],
        json!({"blocked": -1.0, "dns": -1.0, "connect": 15.0, "ssl": 5.0,
               "send": 1.0, "wait": 20.0, "receive": 3.0})
    );
    assert_eq!(e["time"], 39.0, "time is the sum, counting ssl once");

    ex.timings = Timings::default();
    let e = entry(&ex);
    assert_eq!(
        e["timings"],
        json!({"blocked": -1.0, "dns": -1.0, "connect": -1.0, "ssl": -1.0,
               "send": 0.0, "wait": 0.0, "receive": 0.0})
    );

    // A reused connection: no connect, no TLS.
    ex.timings = Timings {
        connect: None,
        tls: None,
        send: Some(0.5),
        wait: Some(2.25),
        receive: None,
    };
    let e = entry(&ex);
    assert_eq!(e["timings"]["connect"], -1.0);
    assert_eq!(e["timings"]["ssl"], -1.0);
    assert_eq!(e["timings"]["receive"], 0.0);
    assert_eq!(e["time"], 2.75);

    // Plain HTTP: connect without TLS.
    ex.timings.connect = Some(4.0);
    let e = entry(&ex);
    assert_eq!(e["timings"]["connect"], 4.0);
    assert_eq!(e["timings"]["ssl"], -1.0);
    assert_eq!(e["time"], 6.75);
}

#[test]
fn form_post_has_mime_type_text_and_decoded_params() {
    let e = entry(&form_post());
    let post = &e["request"]["postData"];
    assert_eq!(post["mimeType"], "application/x-www-form-urlencoded");
    assert_eq!(post["text"], "user=ana+maria&pass=p%40ss");
    assert!(post.get("_encoding").is_none());
    assert_eq!(
        names_values(&post["params"]),
        pairs(&[("user", "ana maria"), ("pass", "p@ss")])
    );
    assert_eq!(
        e["response"]["redirectURL"],
        "https://api.example.test/home"
    );
    assert_eq!(e["response"]["status"], 302);
}

#[test]
fn undecodable_content_encoding_exports_the_bytes_as_sent_with_a_comment() {
    let mut ex = binary_response();
    let body = &mut ex.response.as_mut().unwrap().body;
    body.encoding = Some("gzip".into());
    let e = entry(&ex);
    let content = &e["response"]["content"];
    assert_eq!(content["text"], b64(BINARY));
    assert_eq!(content["encoding"], "base64");
    assert_eq!(content["size"], BINARY.len());
    assert!(content.get("compression").is_none());
    assert!(
        content["comment"].as_str().unwrap().contains("gzip"),
        "{content}"
    );
}

#[test]
fn websocket_upgrade_is_marked() {
    let e = entry(&websocket());
    assert_eq!(e["_interpose"]["websocket"], true);
    assert_eq!(e["response"]["status"], 101);
    assert!(entry(&json_gzip_get())["_interpose"]
        .get("websocket")
        .is_none());
}

#[test]
fn request_with_content_type_but_no_body_has_no_post_data() {
    let mut ex = get("https://api.example.test/");
    ex.request.method = "POST".into();
    ex.request
        .headers
        .push(Header::new("Content-Type", "application/json"));
    assert!(entry(&ex)["request"].get("postData").is_none());
}

#[test]
fn written_log_is_har_1_2_to_the_har_crate_with_every_entry_in_order() {
    let exchanges = every_kind();
    let mut out = Vec::new();
    write_har(&mut out, exchanges.clone(), "0.1.0-test").unwrap();

    let parsed = har::from_slice(&out).expect("the har crate reads our HAR");
    assert_eq!(parsed.version(), har::HarVersion::V1_2);
    let har::Spec::V1_2(log) = parsed.log else {
        panic!("not HAR 1.2")
    };
    assert_eq!(log.creator.name, "interpose");
    assert_eq!(log.creator.version, "0.1.0-test");
    let urls: Vec<&str> = log.entries.iter().map(|e| e.request.url.as_str()).collect();
    let want: Vec<&str> = exchanges.iter().map(|e| e.request.url.as_str()).collect();
    assert_eq!(urls, want);

    // The streamed entries are the same as `entry` gives one by one.
    let value: Value = serde_json::from_slice(&out).unwrap();
    let entries = value["log"]["entries"].as_array().unwrap();
    assert_eq!(entries.len(), exchanges.len());
    for (written, ex) in entries.iter().zip(&exchanges) {
        assert_eq!(written, &entry(ex));
    }
}

#[test]
fn empty_log_is_valid_har() {
    let mut out = Vec::new();
    write_har(&mut out, Vec::new(), "1").unwrap();
    let value: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(
        value,
        json!({"log": {"version": "1.2", "creator": {"name": "interpose", "version": "1"}, "entries": []}})
    );
    har::from_slice(&out).unwrap();
}

/// A writer that counts what reached it.
struct Counting(Rc<Cell<usize>>);

impl Write for Counting {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.set(self.0.get() + buf.len());
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn write_har_streams_earlier_entries_out_before_taking_later_ones() {
    let written = Rc::new(Cell::new(0));
    let seen = Rc::clone(&written);
    let big = || {
        let mut ex = binary_post();
        ex.request.body = Body::from_bytes(vec![b'x'; 64 * 1024]);
        ex
    };
    let exchanges = (0..4).map(move |i| {
        if i > 0 {
            assert!(
                // All but what the 8 KiB write buffer may still hold.
                seen.get() >= i * 64 * 1024 - 8 * 1024,
                "entry {i} taken while only {} bytes were written",
                seen.get()
            );
        }
        big()
    });
    write_har(Counting(Rc::clone(&written)), exchanges, "1").unwrap();
    assert!(written.get() > 4 * 64 * 1024);
}

struct Failing;

impl Write for Failing {
    fn write(&mut self, _: &[u8]) -> io::Result<usize> {
        Err(io::Error::new(io::ErrorKind::StorageFull, "disk full"))
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn write_errors_surface_as_io_errors_with_an_actionable_message() {
    let err = write_har(Failing, every_kind(), "1").unwrap_err();
    assert!(matches!(err, FormatError::Io(_)), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("disk full") && msg.contains("could not write"),
        "{msg}"
    );
}
