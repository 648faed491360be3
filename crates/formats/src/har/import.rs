//! HAR 1.2 import: logs written by Chrome and Firefox devtools, mitmproxy
//! (`mitmdump --set hardump=FILE`) and by our own [`write_har`](super::write_har).
//!
//! Choices, in one place:
//!
//! - HAR holds bodies decoded (`content.text`, base64 when binary), while a
//!   captured [`Body`] holds the bytes as sent plus their `Content-Encoding`.
//!   An imported body therefore keeps the decoded bytes with
//!   `encoding: None`, so nothing tries to gunzip them again; the headers
//!   stay exactly as the file lists them (`Content-Encoding: gzip`
//!   included), because they are what was sent. `size` is the file's
//!   `bodySize` (bytes on the wire) when it gives one.
//! - An entry whose response has status 0 (or no response at all) is an
//!   exchange without a response; its error is `_interpose.error`, else the
//!   `_error` Chrome and mitmproxy write, else `no response`.
//! - Timings: `-1` (or absent) is a phase that did not happen. HAR's
//!   `connect` includes `ssl`, so the TCP connect time is `connect - ssl`;
//!   mitmproxy is the exception (its `connect` stops where TLS starts, see
//!   its `savehar.py`), recognised by `log.creator.name`. `blocked` and
//!   `dns` have no place in the model and are dropped.
//! - `startedDateTime` becomes Unix microseconds; our own export writes
//!   milliseconds, so microseconds do not survive a round trip.
//! - HTTP/2 pseudo-headers (`:authority`, `:path`, ..., listed by Chrome)
//!   are request-line facts, not headers, and are dropped. HTTP versions
//!   are normalised to `HTTP/1.1`, `HTTP/2.0`, `HTTP/3.0` (Chrome writes
//!   `h2`, `http/1.1`).
//! - Our `_interpose` fields come back: `error`, `rules`, `route`,
//!   `websocket`, `clientAddress`, `bodyOmitted`, `requestBodyOmitted`,
//!   `bodyTruncated`, `requestBodyTruncated`. `id` and `session` do not:
//!   the store gives imported exchanges new ids, and the caller decides the
//!   session (`session_id` is 0 here). Chrome's and mitmproxy's
//!   `_resourceType: "websocket"` also mark a WebSocket exchange.
//! - A response body a HAR does not include (`text` absent while the size
//!   says there were bytes) is read as kept-but-truncated to nothing.
//! - Errors name the entry (`log.entries[3]`) and the field.

use std::io::Read;

use base64::Engine as _;
use interpose_capture::{Body, BodyOmitted, Exchange, Header, Request, Response, Timings};
use serde_json::{Map, Value};
use time::format_description::well_known::{Iso8601, Rfc3339};
use time::{OffsetDateTime, PrimitiveDateTime};

use crate::FormatError;

/// Reads a whole HAR log from `input` into exchanges, in the file's order.
pub fn read_har<R: Read>(input: R) -> Result<Vec<Exchange>, FormatError> {
    let doc: Value = serde_json::from_reader(std::io::BufReader::new(input)).map_err(|e| {
        if e.is_io() {
            FormatError::Read(e.into())
        } else {
            FormatError::NotJson(e)
        }
    })?;
    let Some(log) = doc.get("log") else {
        return Err(FormatError::NotHar(match doc.as_object() {
            Some(obj) => format!(
                "it has no top-level \"log\" object (top-level keys: {})",
                key_list(obj)
            ),
            None => format!(
                "the document is {} rather than an object with a \"log\"",
                kind(&doc)
            ),
        }));
    };
    let log = log
        .as_object()
        .ok_or_else(|| FormatError::NotHar(format!("\"log\" is {}, not an object", kind(log))))?;
    let entries = match log.get("entries") {
        Some(Value::Array(entries)) => entries,
        Some(other) => {
            return Err(FormatError::NotHar(format!(
                "log.entries is {}, not an array",
                kind(other)
            )))
        }
        None => return Err(FormatError::NotHar("log.entries is missing".into())),
    };
    let creator = log
        .get("creator")
        .and_then(|c| c.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let dialect = if creator.to_ascii_lowercase().starts_with("mitmproxy") {
        Dialect::Mitmproxy
    } else {
        Dialect::Spec
    };
    entries
        .iter()
        .enumerate()
        .map(|(index, entry)| {
            Entry { dialect }
                .exchange(entry)
                .map_err(|problem| FormatError::HarEntry { index, problem })
        })
        .collect()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Dialect {
    /// `connect` includes `ssl`, as HAR 1.2 says.
    Spec,
    /// `connect` excludes `ssl`.
    Mitmproxy,
}

/// Reading one entry; errors are the problem, the caller adds where.
struct Entry {
    dialect: Dialect,
}

type Obj = Map<String, Value>;

impl Entry {
    fn exchange(&self, entry: &Value) -> Result<Exchange, String> {
        let entry = entry
            .as_object()
            .ok_or_else(|| format!("the entry is {}, not an object", kind(entry)))?;
        let extra = entry.get("_interpose").and_then(Value::as_object);
        let flag = |key: &str| {
            extra
                .and_then(|x| x.get(key))
                .and_then(Value::as_bool)
                .unwrap_or(false)
        };
        let text = |key: &str| {
            extra
                .and_then(|x| x.get(key))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        let omitted = |key: &str| -> Result<Option<BodyOmitted>, String> {
            match text(key) {
                None => Ok(None),
                Some(s) => BodyOmitted::parse(&s).map(Some).ok_or_else(|| {
                    format!("_interpose.{key} is {s:?}; expected \"media\" or \"policy\"")
                }),
            }
        };

        let started = required_str(entry, "startedDateTime", "startedDateTime")?;
        let started_at_us = parse_time(started)
            .ok_or_else(|| format!("startedDateTime {started:?} is not an ISO 8601 date"))?;

        let request = required_obj(entry, "request", "request")?;
        let mut req = self.request(request)?;
        req.body.omitted = omitted("requestBodyOmitted")?;
        req.body.truncated |= flag("requestBodyTruncated");

        let response_obj = match entry.get("response") {
            None | Some(Value::Null) => None,
            Some(Value::Object(r)) => Some(r),
            Some(other) => return Err(format!("response is {}, not an object", kind(other))),
        };
        let status = match response_obj.map(|r| r.get("status")) {
            None | Some(None) => 0,
            Some(Some(v)) => v
                .as_u64()
                .and_then(|s| u16::try_from(s).ok())
                .ok_or_else(|| format!("response.status is {v}, not an HTTP status code"))?,
        };
        let mut error = text("error");
        let response = match response_obj {
            Some(r) if status != 0 => {
                let mut resp = self.response(r, status)?;
                resp.body.omitted = omitted("bodyOmitted")?;
                // `bodyTruncated` is set when either body was; the response's
                // own note says when it is the response's.
                let noted = r
                    .get("content")
                    .and_then(|c| c.get("comment"))
                    .and_then(Value::as_str)
                    .is_some_and(|c| c.contains("truncated by interpose"));
                let flagged = noted || flag("bodyTruncated") && !flag("requestBodyTruncated");
                // A body not kept on purpose is not a truncated one.
                resp.body.truncated = flagged || resp.body.truncated && resp.body.omitted.is_none();
                Some(resp)
            }
            _ => {
                let foreign = response_obj
                    .and_then(|r| r.get("_error"))
                    .or_else(|| entry.get("_error"))
                    .and_then(Value::as_str)
                    .filter(|e| !e.is_empty());
                error = error
                    .or_else(|| foreign.map(str::to_string))
                    .or_else(|| Some("no response".into()));
                None
            }
        };

        let websocket = flag("websocket")
            || entry.get("_resourceType").and_then(Value::as_str) == Some("websocket");
        Ok(Exchange {
            id: None,
            session_id: 0,
            client_addr: text("clientAddress").unwrap_or_default(),
            started_at_us,
            timings: self.timings(entry.get("timings"))?,
            request: req,
            response,
            error,
            rules: match extra.and_then(|x| x.get("rules")) {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Array(rules)) => rules
                    .iter()
                    .map(|r| {
                        r.as_str()
                            .map(str::to_string)
                            .ok_or_else(|| format!("_interpose.rules holds {r}, not a rule name"))
                    })
                    .collect::<Result<_, _>>()?,
                Some(other) => {
                    return Err(format!(
                        "_interpose.rules is {}, not a list of names",
                        kind(other)
                    ))
                }
            },
            route: text("route"),
            websocket,
        })
    }

    fn request(&self, r: &Obj) -> Result<Request, String> {
        let method = required_str(r, "method", "request.method")?;
        let url = required_str(r, "url", "request.url")?;
        if url.is_empty() {
            return Err("request.url is empty".into());
        }
        let headers = headers(r, "request")?;
        let body = match r.get("postData") {
            None | Some(Value::Null) => Body::default(),
            Some(Value::Object(post)) => post_data(post)?,
            Some(other) => {
                return Err(format!(
                    "request.postData is {}, not an object",
                    kind(other)
                ))
            }
        };
        let body = with_wire_size(body, r.get("bodySize"), None);
        Ok(Request {
            method: method.to_string(),
            url: url.to_string(),
            http_version: http_version(r.get("httpVersion").and_then(Value::as_str)),
            headers,
            body,
        })
    }

    fn response(&self, r: &Obj, status: u16) -> Result<Response, String> {
        let headers = headers(r, "response")?;
        let (body, content_size) = match r.get("content") {
            None | Some(Value::Null) => (Body::default(), None),
            Some(Value::Object(c)) => {
                let bytes = match c.get("text") {
                    None | Some(Value::Null) => None,
                    Some(Value::String(t)) => Some(text_bytes(
                        t,
                        c.get("encoding").and_then(Value::as_str),
                        "response.content",
                    )?),
                    Some(other) => {
                        return Err(format!(
                            "response.content.text is {}, not a string",
                            kind(other)
                        ))
                    }
                };
                let size = c.get("size").and_then(Value::as_i64).filter(|s| *s >= 0);
                let body = match bytes {
                    Some(bytes) => Body::from_bytes(bytes),
                    // The file does not include the body it says was there.
                    None => Body {
                        truncated: size.is_some_and(|s| s > 0),
                        ..Body::default()
                    },
                };
                (body, size)
            }
            Some(other) => {
                return Err(format!(
                    "response.content is {}, not an object",
                    kind(other)
                ))
            }
        };
        Ok(Response {
            status,
            reason: r
                .get("statusText")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            http_version: http_version(r.get("httpVersion").and_then(Value::as_str)),
            headers,
            body: with_wire_size(body, r.get("bodySize"), content_size),
        })
    }

    fn timings(&self, t: Option<&Value>) -> Result<Timings, String> {
        let t = match t {
            None | Some(Value::Null) => return Ok(Timings::default()),
            Some(Value::Object(t)) => t,
            Some(other) => return Err(format!("timings is {}, not an object", kind(other))),
        };
        let phase = |key: &str| -> Result<Option<f64>, String> {
            match t.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(v) => {
                    let ms = v
                        .as_f64()
                        .ok_or_else(|| format!("timings.{key} is {v}, not a number"))?;
                    Ok((ms >= 0.0).then_some(ms))
                }
            }
        };
        let ssl = phase("ssl")?;
        let connect = phase("connect")?;
        let tcp = match (self.dialect, connect, ssl) {
            (Dialect::Mitmproxy, c, _) => c,
            // `ssl` is part of `connect`; a writer that broke that rule
            // (connect < ssl) did not include it.
            (Dialect::Spec, Some(c), Some(s)) if c >= s => Some(round_us(c - s)),
            (Dialect::Spec, c, _) => c,
        };
        Ok(Timings {
            connect: tcp,
            tls: ssl,
            send: phase("send")?,
            wait: phase("wait")?,
            receive: phase("receive")?,
        })
    }
}

fn round_us(ms: f64) -> f64 {
    (ms * 1000.0).round() / 1000.0
}

/// `bodySize` is the wire size; -1 (unknown) or 0 with bytes in hand (a
/// cached response) fall back to the decoded size.
fn with_wire_size(mut body: Body, body_size: Option<&Value>, content_size: Option<i64>) -> Body {
    let wire = body_size.and_then(Value::as_i64).filter(|s| *s >= 0);
    body.size = match wire {
        Some(0) if !body.bytes.is_empty() => body.bytes.len() as u64,
        Some(n) => n as u64,
        None => content_size
            .map(|s| s as u64)
            .unwrap_or(body.bytes.len() as u64),
    };
    body
}

fn post_data(post: &Obj) -> Result<Body, String> {
    match post.get("text") {
        Some(Value::String(t)) => {
            let encoding = post
                .get("_encoding")
                .or_else(|| post.get("encoding"))
                .and_then(Value::as_str);
            Ok(Body::from_bytes(text_bytes(
                t,
                encoding,
                "request.postData",
            )?))
        }
        None | Some(Value::Null) => {
            // Some writers give only `params` for a urlencoded form.
            let Some(Value::Array(params)) = post.get("params") else {
                return Ok(Body::default());
            };
            let mut form = url::form_urlencoded::Serializer::new(String::new());
            for (i, p) in params.iter().enumerate() {
                let name = p
                    .get("name")
                    .and_then(Value::as_str)
                    .ok_or_else(|| format!("request.postData.params[{i}].name is missing"))?;
                form.append_pair(name, p.get("value").and_then(Value::as_str).unwrap_or(""));
            }
            Ok(Body::from_bytes(form.finish().into_bytes()))
        }
        Some(other) => Err(format!(
            "request.postData.text is {}, not a string",
            kind(other)
        )),
    }
}

fn text_bytes(text: &str, encoding: Option<&str>, at: &str) -> Result<Vec<u8>, String> {
    match encoding {
        Some(e) if e.eq_ignore_ascii_case("base64") => {
            // Some writers wrap base64 across lines.
            let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
            base64::engine::general_purpose::STANDARD
                .decode(compact)
                .map_err(|e| format!("{at}.text is marked base64 but does not decode: {e}"))
        }
        _ => Ok(text.as_bytes().to_vec()),
    }
}

fn headers(r: &Obj, side: &str) -> Result<Vec<Header>, String> {
    let list = match r.get("headers") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(list)) => list,
        Some(other) => return Err(format!("{side}.headers is {}, not an array", kind(other))),
    };
    let mut out = Vec::with_capacity(list.len());
    for (i, h) in list.iter().enumerate() {
        let name = h
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("{side}.headers[{i}].name is missing"))?;
        if crate::content::is_pseudo(name) {
            continue;
        }
        let value = match h.get("value") {
            Some(Value::String(v)) => v.clone(),
            None | Some(Value::Null) => String::new(),
            Some(v) => v.to_string(),
        };
        out.push(Header::new(name, value));
    }
    Ok(out)
}

fn http_version(v: Option<&str>) -> String {
    let Some(v) = v.map(str::trim).filter(|v| !v.is_empty()) else {
        return String::new();
    };
    match v.to_ascii_lowercase().as_str() {
        "http/1.0" => "HTTP/1.0".into(),
        "http/1.1" => "HTTP/1.1".into(),
        "h2" | "h2c" | "http/2" | "http/2.0" => "HTTP/2.0".into(),
        "h3" | "http/3" | "http/3.0" => "HTTP/3.0".into(),
        _ => v.to_string(),
    }
}

/// ISO 8601 with an offset (Chrome `...123Z`, Firefox `...123+01:00`,
/// mitmproxy `...123456+00:00`); without one, UTC.
fn parse_time(s: &str) -> Option<i64> {
    let t = OffsetDateTime::parse(s, &Rfc3339)
        .or_else(|_| OffsetDateTime::parse(s, &Iso8601::DEFAULT))
        .or_else(|_| PrimitiveDateTime::parse(s, &Iso8601::DEFAULT).map(|t| t.assume_utc()))
        .ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1000).ok()
}

fn required_str<'v>(obj: &'v Obj, key: &str, path: &str) -> Result<&'v str, String> {
    match obj.get(key) {
        Some(Value::String(s)) => Ok(s),
        None | Some(Value::Null) => Err(format!("{path} is missing")),
        Some(other) => Err(format!("{path} is {}, not a string", kind(other))),
    }
}

fn required_obj<'v>(obj: &'v Obj, key: &str, path: &str) -> Result<&'v Obj, String> {
    match obj.get(key) {
        Some(Value::Object(o)) => Ok(o),
        None | Some(Value::Null) => Err(format!("{path} is missing")),
        Some(other) => Err(format!("{path} is {}, not an object", kind(other))),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn key_list(obj: &Obj) -> String {
    if obj.is_empty() {
        return "none".into();
    }
    let mut keys: Vec<String> = obj.keys().take(8).map(|k| format!("{k:?}")).collect();
    if obj.len() > 8 {
        keys.push("...".into());
    }
    keys.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_normalised() {
        assert_eq!(http_version(Some("h2")), "HTTP/2.0");
        assert_eq!(http_version(Some("http/1.1")), "HTTP/1.1");
        assert_eq!(http_version(Some("HTTP/2.0")), "HTTP/2.0");
        assert_eq!(http_version(Some("h3")), "HTTP/3.0");
        assert_eq!(http_version(Some("")), "");
        assert_eq!(http_version(Some("SPDY/3")), "SPDY/3");
    }

    #[test]
    fn dates_from_every_writer_parse_to_microseconds() {
        let want = 1_700_000_000_123_000;
        assert_eq!(parse_time("2023-11-14T22:13:20.123Z"), Some(want));
        assert_eq!(parse_time("2023-11-14T23:13:20.123+01:00"), Some(want));
        assert_eq!(
            parse_time("2023-11-14T22:13:20.123456+00:00"),
            Some(want + 456)
        );
        assert_eq!(
            parse_time("2023-11-14T22:13:20+00:00"),
            Some(1_700_000_000_000_000)
        );
        assert_eq!(parse_time("yesterday"), None);
    }
}
