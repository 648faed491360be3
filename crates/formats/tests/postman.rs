//! The Postman Collection v2.1 mapping: folders, items, URLs, headers,
//! bodies and saved examples. (Postman's SDK and newman check the same
//! output in `postman_tools.rs`.)

mod common;

use common::*;
use interpose_capture::{Body, BodyOmitted, Exchange, Header};
use interpose_formats::postman::{collection, write_collection, Organize, SCHEMA};
use serde_json::{json, Value};

fn at(url: &str, method: &str) -> Exchange {
    let mut ex = get(url);
    ex.request.method = method.into();
    ex.response = response(200, headers(&[("Content-Type", "text/plain")]), body(b"ok"));
    ex
}

fn body(bytes: &[u8]) -> Body {
    Body::from_bytes(bytes.to_vec())
}

fn post(url: &str, content_type: &str, bytes: &[u8]) -> Exchange {
    let mut ex = at(url, "POST");
    ex.request
        .headers
        .push(Header::new("Content-Type", content_type));
    ex.request
        .headers
        .push(Header::new("Content-Length", bytes.len().to_string()));
    ex.request.body = body(bytes);
    ex
}

/// The folder tree in check-postman.js's `--expect-tree` shape: request
/// names as strings, folders as `{name: [children]}`.
fn tree(items: &Value) -> Value {
    Value::Array(
        items
            .as_array()
            .unwrap()
            .iter()
            .map(|it| match it.get("item") {
                Some(children) => json!({ it["name"].as_str().unwrap(): tree(children) }),
                None => it["name"].clone(),
            })
            .collect(),
    )
}

/// The only request item of a collection made of `ex`, unorganized.
fn item(ex: Exchange) -> Value {
    collection("c", &[ex], Organize::None)["item"][0].clone()
}

fn capture() -> Vec<Exchange> {
    vec![
        at("https://api.example.test/v1/items?page=1", "GET"),
        at("https://cdn.example.test/logo.svg", "GET"),
        at("https://api.example.test/v1/users", "GET"),
        at("https://api.example.test:443/v1/items?page=2", "GET"),
        at("http://127.0.0.1:8080/hello", "GET"),
        at("https://api.example.test/v1/items", "POST"),
        at("https://api.example.test:8443/v1/items", "GET"),
        at("http://127.0.0.1:8080", "GET"),
    ]
}

#[test]
fn unorganized_requests_stay_in_capture_order_with_the_host_in_their_names() {
    let c = collection("capture", &capture(), Organize::None);
    assert_eq!(
        tree(&c["item"]),
        json!([
            "GET api.example.test/v1/items",
            "GET cdn.example.test/logo.svg",
            "GET api.example.test/v1/users",
            "GET api.example.test/v1/items",
            "GET 127.0.0.1:8080/hello",
            "POST api.example.test/v1/items",
            "GET api.example.test:8443/v1/items",
            "GET 127.0.0.1:8080/",
        ])
    );
}

#[test]
fn domain_folders_are_hosts_with_non_default_ports_in_order_of_first_request() {
    let c = collection("capture", &capture(), Organize::Domain);
    assert_eq!(
        tree(&c["item"]),
        json!([
            {"api.example.test": ["GET /v1/items", "GET /v1/users", "GET /v1/items", "POST /v1/items"]},
            {"cdn.example.test": ["GET /logo.svg"]},
            {"127.0.0.1:8080": ["GET /hello", "GET /"]},
            {"api.example.test:8443": ["GET /v1/items"]},
        ])
    );
}

#[test]
fn endpoint_folders_are_paths_without_the_query_across_hosts() {
    let c = collection("capture", &capture(), Organize::Endpoint);
    assert_eq!(
        tree(&c["item"]),
        json!([
            {"/v1/items": [
                "GET api.example.test/v1/items",
                "GET api.example.test/v1/items",
                "POST api.example.test/v1/items",
                "GET api.example.test:8443/v1/items",
            ]},
            {"/logo.svg": ["GET cdn.example.test/logo.svg"]},
            {"/v1/users": ["GET api.example.test/v1/users"]},
            {"/hello": ["GET 127.0.0.1:8080/hello"]},
            {"/": ["GET 127.0.0.1:8080/"]},
        ])
    );
}

#[test]
fn domain_and_endpoint_nest_endpoint_folders_inside_domain_folders() {
    let c = collection("capture", &capture(), Organize::DomainEndpoint);
    assert_eq!(
        tree(&c["item"]),
        json!([
            {"api.example.test": [
                {"/v1/items": ["GET /v1/items", "GET /v1/items", "POST /v1/items"]},
                {"/v1/users": ["GET /v1/users"]},
            ]},
            {"cdn.example.test": [{"/logo.svg": ["GET /logo.svg"]}]},
            {"127.0.0.1:8080": [{"/hello": ["GET /hello"]}, {"/": ["GET /"]}]},
            {"api.example.test:8443": [{"/v1/items": ["GET /v1/items"]}]},
        ])
    );
    // Capture order inside a folder: page=1 before page=2.
    let items = &c["item"][0]["item"][0]["item"];
    assert_eq!(
        items[0]["request"]["url"]["raw"],
        "https://api.example.test/v1/items?page=1"
    );
    assert_eq!(
        items[1]["request"]["url"]["raw"],
        "https://api.example.test:443/v1/items?page=2"
    );
}

#[test]
fn info_names_the_v21_schema_and_a_stable_id_per_capture() {
    let c = collection("My capture", &capture(), Organize::Domain);
    assert_eq!(c["info"]["name"], "My capture");
    assert_eq!(c["info"]["schema"], SCHEMA);
    assert_eq!(
        SCHEMA,
        "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"
    );
    let id = c["info"]["_postman_id"].as_str().unwrap();
    let shape: Vec<usize> = id.split('-').map(str::len).collect();
    assert_eq!(shape, [8, 4, 4, 4, 12], "{id}");
    assert!(
        id.chars().all(|c| c == '-' || c.is_ascii_hexdigit()),
        "{id}"
    );
    assert_eq!(&id[14..15], "8", "UUID version 8: {id}");
    assert!("89ab".contains(&id[19..20]), "RFC 9562 variant: {id}");

    let again = collection("My capture", &capture(), Organize::Domain);
    assert_eq!(again["info"]["_postman_id"], id, "same capture, same id");
    let other = collection("My capture", &capture()[1..], Organize::Domain);
    assert_ne!(other["info"]["_postman_id"], id, "other capture, other id");
}

#[test]
fn the_url_is_given_raw_and_in_the_parts_postman_parses_it_into() {
    let raw =
        "https://user:pw@api.example.test:8443/v1/items/?q=caf%C3%A9+latte&flag&empty=&&a=b=c#top";
    let it = item(at(raw, "GET"));
    assert_eq!(
        it["request"]["url"],
        json!({
            "raw": raw,
            "protocol": "https",
            "auth": {"user": "user", "password": "pw"},
            "host": ["api", "example", "test"],
            "port": "8443",
            "path": ["v1", "items", ""],
            "query": [
                {"key": "q", "value": "caf%C3%A9+latte"},
                {"key": "flag", "value": null},
                {"key": "empty", "value": ""},
                {"key": null, "value": null},
                {"key": "a", "value": "b=c"},
            ],
            "hash": "top",
        })
    );
    let it = item(at("http://[::1]:8080", "GET"));
    assert_eq!(
        it["request"]["url"],
        json!({"raw": "http://[::1]:8080", "protocol": "http", "host": ["[::1]"], "port": "8080"})
    );
}

#[test]
fn host_content_length_and_connection_headers_are_left_to_postman() {
    let mut ex = post(
        "https://api.example.test/v1/items",
        "application/json",
        b"{}",
    );
    ex.request.headers.extend([
        Header::new("Connection", "keep-alive"),
        Header::new("Proxy-Authorization", "Basic cHJveHk6c2VjcmV0"),
        Header::new("Transfer-Encoding", "chunked"),
        Header::new("X-Trace", "1"),
        Header::new("x-trace", "2"),
        Header::new("Authorization", "Bearer abc"),
    ]);
    let it = item(ex);
    assert_eq!(
        it["request"]["header"],
        json!([
            {"key": "Accept", "value": "*/*"},
            {"key": "Content-Type", "value": "application/json"},
            {"key": "X-Trace", "value": "1"},
            {"key": "x-trace", "value": "2"},
            {"key": "Authorization", "value": "Bearer abc"},
        ])
    );
    assert_eq!(it["request"]["method"], "POST");
}

#[test]
fn text_bodies_are_raw_with_the_language_of_their_content_type() {
    for (ct, language) in [
        ("application/json; charset=utf-8", "json"),
        ("application/vnd.api+json", "json"),
        ("text/xml", "xml"),
        ("text/html", "html"),
        ("application/javascript", "javascript"),
        ("text/plain", "text"),
        ("application/x-ndjson", "text"),
    ] {
        let it = item(post("https://a.test/x", ct, b"{\"a\": \"caf\xc3\xa9\"}"));
        assert_eq!(
            it["request"]["body"],
            json!({"mode": "raw", "raw": "{\"a\": \"café\"}", "options": {"raw": {"language": language}}}),
            "{ct}"
        );
        assert!(it["request"].get("description").is_none());
    }
}

#[test]
fn urlencoded_forms_become_decoded_fields_and_keep_their_content_type() {
    let it = item(post(
        "https://a.test/login",
        "application/x-www-form-urlencoded",
        b"user=ana+maria&pass=p%40ss&empty=",
    ));
    assert_eq!(
        it["request"]["body"],
        json!({"mode": "urlencoded", "urlencoded": [
            {"key": "user", "value": "ana maria"},
            {"key": "pass", "value": "p@ss"},
            {"key": "empty", "value": ""},
        ]})
    );
    assert!(it["request"]["header"]
        .as_array()
        .unwrap()
        .contains(&json!({"key": "Content-Type", "value": "application/x-www-form-urlencoded"})));
}

const FORM: &[u8] = b"--b0undary\r\n\
Content-Disposition: form-data; name=\"title\"\r\n\r\n\
holiday\r\n\
--b0undary\r\n\
Content-Disposition: form-data; name=\"meta\"\r\n\
Content-Type: application/json\r\n\r\n\
{\"a\":1}\r\n\
--b0undary\r\n\
Content-Disposition: form-data; name=\"photo\"; filename=\"beach.png\"\r\n\
Content-Type: image/png\r\n\r\n\
\x89PNG\x00\x01\r\n\
--b0undary--\r\n";

#[test]
fn multipart_forms_become_formdata_fields_with_files_named_by_filename() {
    let it = item(post(
        "https://a.test/upload",
        "multipart/form-data; boundary=b0undary",
        FORM,
    ));
    assert_eq!(
        it["request"]["body"],
        json!({"mode": "formdata", "formdata": [
            {"key": "title", "value": "holiday", "type": "text"},
            {"key": "meta", "value": "{\"a\":1}", "type": "text", "contentType": "application/json"},
            {"key": "photo", "type": "file", "src": "beach.png", "contentType": "image/png"},
        ]})
    );
    let header_names: Vec<&str> = it["request"]["header"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["key"].as_str().unwrap())
        .collect();
    assert_eq!(
        header_names,
        ["Accept"],
        "Postman writes its own boundary, so the captured Content-Type would be wrong"
    );
    assert_eq!(
        it["request"]["description"],
        "Form field \"photo\" was a file (beach.png) of 6 bytes; choose the file again to send it."
    );
}

#[test]
fn a_truncated_multipart_body_is_kept_as_raw_text_with_a_note() {
    let mut ex = post(
        "https://a.test/upload",
        "multipart/form-data; boundary=b0undary",
        &FORM[..60],
    );
    ex.request.body.size = FORM.len() as u64;
    ex.request.body.truncated = true;
    let it = item(ex);
    assert_eq!(it["request"]["body"]["mode"], "raw");
    assert_eq!(
        it["request"]["description"],
        format!(
            "The request body was truncated by interpose: only the first 60 of {} bytes sent \
             were kept, and only they are here.",
            FORM.len()
        )
    );
}

#[test]
fn an_encoded_request_body_is_decoded_and_loses_its_content_encoding_header() {
    let mut ex = post("https://a.test/x", "application/json", b"");
    let wire = gzip(br#"{"zipped":true}"#);
    ex.request
        .headers
        .push(Header::new("Content-Encoding", "gzip"));
    ex.request.body = Body {
        size: wire.len() as u64,
        bytes: wire,
        encoding: Some("gzip".into()),
        ..Body::default()
    };
    let it = item(ex);
    assert_eq!(it["request"]["body"]["raw"], r#"{"zipped":true}"#);
    assert!(!it["request"]["header"]
        .to_string()
        .contains("Content-Encoding"));
}

#[test]
fn bodies_postman_cannot_hold_are_left_out_and_the_description_says_why() {
    let it = item(binary_post());
    assert!(it["request"].get("body").is_none(), "{it}");
    assert_eq!(
        it["request"]["description"],
        "The request body is binary (7 bytes); Postman keeps request bodies as text, so it is \
         not here. The HAR export keeps it (base64)."
    );

    let mut omitted = binary_post();
    omitted.request.body = Body {
        size: 4096,
        omitted: Some(BodyOmitted::Policy),
        ..Body::default()
    };
    let it = item(omitted);
    assert!(it["request"].get("body").is_none());
    assert_eq!(
        it["request"]["description"],
        "The request body (4096 bytes) was not kept by interpose (policy), so it is not here."
    );
}

#[test]
fn a_kept_response_is_a_saved_example_with_its_decoded_body() {
    let it = item(json_gzip_get());
    let examples = it["response"].as_array().unwrap();
    assert_eq!(examples.len(), 1);
    let ex = &examples[0];
    assert_eq!(ex["name"], "200 OK");
    assert_eq!(ex["code"], 200);
    assert_eq!(ex["status"], "OK");
    assert_eq!(ex["_postman_previewlanguage"], "json");
    assert_eq!(ex["body"], std::str::from_utf8(JSON).unwrap());
    assert_eq!(ex["originalRequest"], it["request"]);
    assert_eq!(
        ex["header"],
        json!([
            {"key": "Content-Type", "value": "application/json; charset=utf-8"},
            {"key": "Content-Encoding", "value": "gzip"},
            {"key": "Set-Cookie", "value": "sid=new; Path=/; HttpOnly"},
        ])
    );
    assert_eq!(ex["cookie"], json!([]));
}

#[test]
fn an_http2_response_without_reason_gets_the_standard_phrase() {
    let mut ex = at("https://a.test/missing", "GET");
    ex.response = response(
        404,
        headers(&[("content-type", "text/html")]),
        body(b"<p>no</p>"),
    );
    let e = &item(ex)["response"][0];
    assert_eq!(e["status"], "Not Found");
    assert_eq!(e["name"], "404 Not Found");
    assert_eq!(e["_postman_previewlanguage"], "html");
}

#[test]
fn media_responses_are_examples_without_body_and_requests_only_has_no_examples() {
    let media = &item(media_omitted())["response"][0];
    assert_eq!(media["code"], 200);
    assert_eq!(media["body"], Value::Null);

    let mut requests_only = json_gzip_get();
    requests_only.response.as_mut().unwrap().body = Body {
        size: 120,
        omitted: Some(BodyOmitted::Policy),
        ..Body::default()
    };
    assert_eq!(item(requests_only)["response"], json!([]));
    assert_eq!(item(error_only())["response"], json!([]));
    assert_eq!(item(binary_response())["response"][0]["body"], Value::Null);
}

#[test]
fn websocket_handshakes_are_left_out() {
    let c = collection(
        "c",
        &[websocket(), at("https://a.test/x", "GET")],
        Organize::None,
    );
    assert_eq!(tree(&c["item"]), json!(["GET a.test/x"]));
}

#[test]
fn write_collection_streams_the_same_document() {
    let exchanges = every_kind();
    let mut buf = Vec::new();
    write_collection(&mut buf, "every kind", &exchanges, Organize::DomainEndpoint).unwrap();
    assert!(buf.ends_with(b"}\n"));
    let written: Value = serde_json::from_slice(&buf).unwrap();
    assert_eq!(
        written,
        collection("every kind", &exchanges, Organize::DomainEndpoint)
    );
}

#[test]
fn a_failing_writer_is_an_io_error() {
    struct Full;
    impl std::io::Write for Full {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::new(
                std::io::ErrorKind::StorageFull,
                "disk full",
            ))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let err = write_collection(Full, "c", &every_kind(), Organize::None).unwrap_err();
    assert!(
        matches!(err, interpose_formats::FormatError::Io(_)),
        "{err:?}"
    );
    assert!(err.to_string().contains("disk full"), "{err}");
}
