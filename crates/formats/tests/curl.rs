//! curl command lines: their exact text for the cases that need care, and
//! each one run through `/bin/sh` against a local server that records the
//! raw request, to show it sends what was captured, byte for byte.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

use common::*;
use interpose_capture::{header_value, Body, BodyOmitted, Exchange, Header};
use interpose_formats::curl::{curl_command, write_curl};

fn request(method: &str, url: &str, hdrs: &[(&str, &str)], body: &[u8]) -> Exchange {
    let mut ex = get(url);
    ex.request.method = method.into();
    ex.request.headers = headers(hdrs);
    ex.request.body = Body::from_bytes(body.to_vec());
    ex
}

#[test]
fn a_plain_get_is_just_the_url_and_its_headers() {
    let ex = request(
        "GET",
        "https://api.example.test/v1/items?q=1&r=2",
        &[("Host", "api.example.test"), ("Accept", "application/json")],
        b"",
    );
    assert_eq!(
        curl_command(&ex),
        "curl 'https://api.example.test/v1/items?q=1&r=2' -H 'Accept: application/json'"
    );
}

#[test]
fn a_json_post_sends_its_body_and_lets_curl_infer_the_method() {
    let ex = request(
        "POST",
        "https://api.example.test/v1/items",
        &[
            ("Content-Type", "application/json"),
            ("Content-Length", "24"),
            ("Connection", "keep-alive"),
        ],
        br#"{"name":"it's a \"test\""}"#,
    );
    assert_eq!(
        curl_command(&ex),
        r#"curl 'https://api.example.test/v1/items' -H 'Content-Type: application/json' --data-binary '{"name":"it'\''s a \"test\""}'"#
    );
}

#[test]
fn methods_curl_would_not_infer_get_x_and_head_gets_head() {
    let cases = [
        ("DELETE", &b""[..], "curl -X DELETE 'http://a.test/x'"),
        (
            "PUT",
            b"v",
            "curl -X PUT 'http://a.test/x' -H 'Content-Type:' --data-binary 'v'",
        ),
        (
            "GET",
            b"q",
            "curl -X GET 'http://a.test/x' -H 'Content-Type:' --data-binary 'q'",
        ),
        ("POST", b"", "curl -X POST 'http://a.test/x'"),
        ("HEAD", b"", "curl --head 'http://a.test/x'"),
        ("M-SEARCH", b"", "curl -X M-SEARCH 'http://a.test/x'"),
    ];
    for (method, body, want) in cases {
        assert_eq!(
            curl_command(&request(method, "http://a.test/x", &[], body)),
            want
        );
    }
}

#[test]
fn host_is_kept_only_when_it_differs_from_the_url() {
    let same = request(
        "GET",
        "http://127.0.0.1:8080/x",
        &[("host", "127.0.0.1:8080")],
        b"",
    );
    assert_eq!(curl_command(&same), "curl 'http://127.0.0.1:8080/x'");
    let default_port = request("GET", "https://a.test/x", &[("Host", "a.test:443")], b"");
    assert_eq!(curl_command(&default_port), "curl 'https://a.test/x'");
    let other = request(
        "GET",
        "http://127.0.0.1:8080/x",
        &[("Host", "api.example.test")],
        b"",
    );
    assert_eq!(
        curl_command(&other),
        "curl 'http://127.0.0.1:8080/x' -H 'Host: api.example.test'"
    );
}

#[test]
fn empty_header_values_use_curls_semicolon_form() {
    let ex = request("GET", "http://a.test/", &[("X-Empty", "")], b"");
    assert_eq!(curl_command(&ex), "curl 'http://a.test/' -H 'X-Empty;'");
}

#[test]
fn binary_and_multiline_bodies_are_piped_from_printf_on_one_line() {
    let ex = request(
        "POST",
        "http://a.test/upload",
        &[("Content-Type", "application/octet-stream")],
        BINARY,
    );
    assert_eq!(
        curl_command(&ex),
        r"printf '\000\237\222\226\377\376A' | curl 'http://a.test/upload' -H 'Content-Type: application/octet-stream' --data-binary @-"
    );
    let ex = request(
        "POST",
        "http://a.test/x",
        &[("Content-Type", "text/plain")],
        "line 1\r\n100% 'café'\\n".as_bytes(),
    );
    let cmd = curl_command(&ex);
    assert_eq!(
        cmd,
        r"printf 'line 1\015\n100%% '\''café'\''\\n' | curl 'http://a.test/x' -H 'Content-Type: text/plain' --data-binary @-"
    );
    assert!(!cmd.contains('\n'));
}

#[test]
fn a_body_starting_with_at_is_not_read_as_a_file_name() {
    let ex = request(
        "POST",
        "http://a.test/x",
        &[("Content-Type", "text/plain")],
        b"@/etc/passwd",
    );
    assert_eq!(
        curl_command(&ex),
        "curl 'http://a.test/x' -H 'Content-Type: text/plain' --data-raw '@/etc/passwd'"
    );
}

#[test]
fn urls_with_brackets_turn_off_curls_globbing() {
    let ex = request("GET", "http://[::1]:8080/a?ids[]=1&x={y}", &[], b"");
    assert_eq!(
        curl_command(&ex),
        "curl -g 'http://[::1]:8080/a?ids[]=1&x={y}'"
    );
}

#[test]
fn an_encoded_response_to_an_accept_encoding_request_adds_compressed() {
    let mut ex = json_gzip_get();
    ex.request
        .headers
        .push(Header::new("Accept-Encoding", "gzip"));
    assert!(
        curl_command(&ex).ends_with(" -H 'Accept-Encoding: gzip' --compressed"),
        "{}",
        curl_command(&ex)
    );
    // Without Accept-Encoding in the request, no flag.
    assert!(!curl_command(&json_gzip_get()).contains("--compressed"));
}

#[test]
fn bodies_not_kept_whole_say_so_in_a_trailing_comment() {
    let mut ex = request(
        "POST",
        "http://a.test/x",
        &[("Content-Type", "text/plain")],
        b"first",
    );
    ex.request.body.size = 900;
    ex.request.body.truncated = true;
    assert_eq!(
        curl_command(&ex),
        "curl 'http://a.test/x' -H 'Content-Type: text/plain' --data-binary 'first'  \
         # interpose kept only the first 5 of 900 body bytes; only they are sent"
    );
    ex.request.body = Body {
        size: 900,
        omitted: Some(BodyOmitted::Policy),
        ..Body::default()
    };
    assert!(curl_command(&ex).ends_with(
        "  # interpose did not keep this request's body (policy, 900 bytes); it is not sent"
    ));
}

#[test]
fn write_curl_puts_a_blank_line_between_commands() {
    let exchanges = [
        request("GET", "http://a.test/1", &[], b""),
        request("DELETE", "http://a.test/2", &[], b""),
    ];
    let mut out = Vec::new();
    write_curl(&mut out, &exchanges).unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "curl 'http://a.test/1'\n\ncurl -X DELETE 'http://a.test/2'\n"
    );
}

/// What the recorder saw of one request.
#[derive(Debug)]
struct Seen {
    request_line: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// A one-connection-at-a-time HTTP/1.1 server on 127.0.0.1 that records
/// requests as they arrive on the socket and answers `200 ok`.
fn recorder() -> (u16, mpsc::Receiver<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            let mut headers = Vec::new();
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                let line = line.trim_end_matches("\r\n");
                if line.is_empty() {
                    break;
                }
                let (n, v) = line.split_once(':').unwrap();
                headers.push((n.to_string(), v.trim_start().to_string()));
            }
            let len = headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
                .map_or(0, |(_, v)| v.parse::<usize>().unwrap());
            let mut body = vec![0; len];
            reader.read_exact(&mut body).unwrap();
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
            let _ = tx.send(Seen {
                request_line: request_line.trim_end().to_string(),
                headers,
                body,
            });
        }
    });
    (port, rx)
}

#[test]
fn each_command_run_by_sh_sends_the_captured_method_target_headers_and_body_bytes() {
    let (port, seen) = recorder();
    let base = format!("http://127.0.0.1:{port}");
    let host = format!("127.0.0.1:{port}");
    let form = b"--xx\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--xx--\r\n";
    let exchanges = vec![
        request(
            "GET",
            &format!("{base}/items?q=caf%C3%A9&ids[]=1"),
            &[("Host", &host), ("Accept", "application/json")],
            b"",
        ),
        request(
            "POST",
            &format!("{base}/items"),
            &[
                ("Host", &host),
                ("Content-Type", "application/json"),
                ("Content-Length", "31"),
            ],
            br#"{"name":"it's","pct":"100%","a":"\\"}"#,
        ),
        request(
            "PUT",
            &format!("{base}/blob"),
            &[("Content-Type", "application/octet-stream")],
            &[0, 1, 2, 0x9f, 0xff, b'\'', b'%', b'\\', b'\n', b'\r', 0],
        ),
        request(
            "POST",
            &format!("{base}/form"),
            &[("Content-Type", "multipart/form-data; boundary=xx")],
            form,
        ),
        request("POST", &format!("{base}/raw"), &[], b"@not-a-file"),
        request(
            "PATCH",
            &format!("{base}/x"),
            &[("Host", "virtual.example.test"), ("X-Empty", "")],
            "naïve ☕".as_bytes(),
        ),
        request("DELETE", &format!("{base}/items/1"), &[], b""),
    ];
    for ex in &exchanges {
        let cmd = curl_command(ex);
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!("{cmd} --silent --show-error --max-time 10"))
            .output()
            .unwrap_or_else(|e| panic!("could not run sh: {e}"));
        assert!(
            out.status.success(),
            "`{cmd}` failed (is curl installed?): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let got = seen.recv_timeout(Duration::from_secs(10)).unwrap();
        let target = &ex.request.url[base.len()..];
        assert_eq!(
            got.request_line,
            format!("{} {target} HTTP/1.1", ex.request.method),
            "{cmd}"
        );
        assert_eq!(got.body, ex.request.body.bytes, "{cmd}");
        let got_header = |name: &str| {
            got.headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        };
        for h in &ex.request.headers {
            if h.name.eq_ignore_ascii_case("content-length") {
                continue;
            }
            assert_eq!(got_header(&h.name), Some(h.value.as_str()), "{cmd}");
        }
        assert_eq!(
            got_header("content-type"),
            header_value(&ex.request.headers, "content-type"),
            "curl must not add a Content-Type of its own: {cmd}"
        );
    }
}
