//! HAR 1.2 export and import (<http://www.softwareishard.com/blog/har-12-spec/>).
//!
//! [`write_har`] streams a whole log, one entry at a time; [`entry`] maps one
//! exchange; [`read_har`] reads a log back: ours, or one written by Chrome,
//! Firefox or mitmproxy (the import's choices are listed in `har/import.rs`).
//! The entry is the request as forwarded (after rules) and the response as
//! received; bodies are decoded from their `Content-Encoding`.
//!
//! Choices the spec leaves open, in one place:
//!
//! - Bodies that are valid UTF-8 after decoding go in `text` as they are;
//!   anything else goes in as base64. For responses HAR has
//!   `content.encoding: "base64"`. For requests HAR 1.2 has no such field, so
//!   a binary request body is `postData.text` in base64 plus the custom field
//!   `postData._encoding: "base64"` (custom fields start with `_` per the
//!   spec; har-validator's schemas allow extra fields; several other tools
//!   use the same name). A consumer that ignores `_encoding` sees base64 text,
//!   never mangled bytes.
//! - A body whose `Content-Encoding` cannot be undone is exported as sent
//!   (base64 when binary), its size is the wire size, and a `comment` on
//!   `content` / `postData` says why.
//! - `content.size` is the decoded size when the whole body was kept, else
//!   the wire size; `content.compression` (bytes saved by the encoding) only
//!   when both sizes are known. `bodySize` is always the wire size.
//! - `timings.connect` includes `ssl`, as the spec says. When only TLS time
//!   is known (no TCP connect recorded) `connect` equals `ssl`, so `ssl` never
//!   exceeds `connect`. `time` is connect + send + wait + receive, which is
//!   [`Timings::total`]. `send`, `wait` and `receive` are 0 when unknown,
//!   since HAR does not allow -1 for them.
//! - `urlencoded` form bodies get `postData.params` as well as `text` (as
//!   browsers export them), so nothing is lost either way.
//! - Facts HAR has no place for go in an `_interpose` object on the entry:
//!   `id`, `session`, `bodyOmitted` (`"media"` / `"policy"`),
//!   `requestBodyOmitted`, `bodyTruncated` (either body), `requestBodyTruncated`,
//!   `rules`, `error`, `route`, `websocket`, `clientAddress`; only the keys
//!   that apply.

mod cookies;
mod import;

pub use import::read_har;

use std::borrow::Cow;
use std::io::Write;

use base64::Engine as _;
use interpose_capture::{decode_body, header_value, Body, Exchange, Header, Timings};
use serde::Serialize;
use time::OffsetDateTime;

use crate::FormatError;

/// Writes a HAR 1.2 log of `exchanges` to `out`, streaming entry by entry
/// (never building the whole log in memory). Entries keep the given order.
///
/// `out` is buffered here and flushed before returning; on an error the
/// output is an incomplete log.
pub fn write_har<W: Write>(
    out: W,
    exchanges: impl IntoIterator<Item = Exchange>,
    creator_version: &str,
) -> Result<(), FormatError> {
    let mut out = std::io::BufWriter::new(out);
    out.write_all(b"{\"log\":{\"version\":\"1.2\",\"creator\":")?;
    let creator = Creator {
        name: "interpose",
        version: creator_version,
    };
    serde_json::to_writer(&mut out, &creator).map_err(|e| json_error(e, 0))?;
    out.write_all(b",\"entries\":[")?;
    for (index, ex) in exchanges.into_iter().enumerate() {
        out.write_all(if index == 0 { b"\n" } else { b",\n" })?;
        serde_json::to_writer(&mut out, &HarEntry::new(&ex)).map_err(|e| json_error(e, index))?;
    }
    out.write_all(b"\n]}}\n")?;
    out.flush()?;
    Ok(())
}

/// One HAR entry as a `serde_json::Value`, for tests and views (the web UI)
/// that want a single entry. [`write_har`] streams exactly this data, with
/// keys in the spec's order; in the `Value` they are sorted.
pub fn entry(ex: &Exchange) -> serde_json::Value {
    serde_json::to_value(HarEntry::new(ex))
        .expect("a HAR entry is plain strings, numbers and arrays")
}

fn json_error(e: serde_json::Error, index: usize) -> FormatError {
    if e.is_io() {
        FormatError::Io(e.into())
    } else {
        FormatError::Encode { index, source: e }
    }
}

#[derive(Serialize)]
struct Creator<'a> {
    name: &'a str,
    version: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct HarEntry<'a> {
    started_date_time: String,
    time: f64,
    request: HarRequest<'a>,
    response: HarResponse<'a>,
    cache: Empty,
    timings: HarTimings,
    #[serde(rename = "_interpose")]
    interpose: Extra<'a>,
}

#[derive(Serialize)]
struct Empty {}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct HarRequest<'a> {
    method: &'a str,
    url: &'a str,
    http_version: &'a str,
    cookies: Vec<cookies::Cookie>,
    headers: Vec<NameValue<'a>>,
    query_string: Vec<NameValue<'static>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    post_data: Option<PostData>,
    headers_size: i64,
    body_size: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct HarResponse<'a> {
    status: u16,
    status_text: &'a str,
    http_version: &'a str,
    cookies: Vec<cookies::Cookie>,
    headers: Vec<NameValue<'a>>,
    content: Content,
    #[serde(rename = "redirectURL")]
    redirect_url: &'a str,
    headers_size: i64,
    body_size: i64,
}

#[derive(Serialize)]
struct NameValue<'a> {
    name: Cow<'a, str>,
    value: Cow<'a, str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PostData {
    mime_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<String>,
    /// `"base64"` when `text` is base64; see the module docs.
    #[serde(rename = "_encoding", skip_serializing_if = "Option::is_none")]
    encoding: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    params: Option<Vec<NameValue<'static>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    comment: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Content {
    size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    compression: Option<i64>,
    mime_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    encoding: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    comment: Option<String>,
}

#[derive(Serialize)]
struct HarTimings {
    blocked: f64,
    dns: f64,
    connect: f64,
    send: f64,
    wait: f64,
    receive: f64,
    ssl: f64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Extra<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<i64>,
    session: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    body_omitted: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_body_omitted: Option<&'static str>,
    #[serde(skip_serializing_if = "is_false")]
    body_truncated: bool,
    #[serde(skip_serializing_if = "is_false")]
    request_body_truncated: bool,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    rules: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    route: Option<&'a str>,
    #[serde(skip_serializing_if = "is_false")]
    websocket: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_address: Option<&'a str>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl<'a> HarEntry<'a> {
    fn new(ex: &'a Exchange) -> Self {
        let resp_body = ex.response.as_ref().map(|r| &r.body);
        let timings = HarTimings::from(&ex.timings);
        HarEntry {
            started_date_time: iso_time_us(ex.started_at_us),
            time: round_ms(
                timings.connect.max(0.0) + timings.send + timings.wait + timings.receive,
            ),
            request: HarRequest::new(ex),
            response: HarResponse::new(ex),
            cache: Empty {},
            timings,
            interpose: Extra {
                id: ex.id,
                session: ex.session_id,
                body_omitted: resp_body.and_then(|b| b.omitted).map(|o| o.as_str()),
                request_body_omitted: ex.request.body.omitted.map(|o| o.as_str()),
                body_truncated: ex.request.body.truncated || resp_body.is_some_and(|b| b.truncated),
                request_body_truncated: ex.request.body.truncated,
                rules: &ex.rules,
                error: ex.error.as_deref(),
                route: ex.route.as_deref(),
                websocket: ex.websocket,
                client_address: Some(ex.client_addr.as_str()).filter(|a| !a.is_empty()),
            },
        }
    }
}

impl<'a> HarRequest<'a> {
    fn new(ex: &'a Exchange) -> Self {
        let req = &ex.request;
        HarRequest {
            method: &req.method,
            url: &req.url,
            http_version: &req.http_version,
            cookies: cookies::request_cookies(&req.headers),
            headers: name_values(&req.headers),
            query_string: query_string(&req.url),
            post_data: post_data(req.headers.as_slice(), &req.body),
            headers_size: -1,
            body_size: req.body.size,
        }
    }
}

impl<'a> HarResponse<'a> {
    fn new(ex: &'a Exchange) -> Self {
        let Some(resp) = &ex.response else {
            // No response came: HAR still requires the object.
            return HarResponse {
                status: 0,
                status_text: "",
                http_version: "",
                cookies: Vec::new(),
                headers: Vec::new(),
                content: Content {
                    size: 0,
                    compression: None,
                    mime_type: "x-unknown".into(),
                    text: None,
                    encoding: None,
                    comment: None,
                },
                redirect_url: "",
                headers_size: -1,
                body_size: -1,
            };
        };
        HarResponse {
            status: resp.status,
            status_text: &resp.reason,
            http_version: &resp.http_version,
            cookies: cookies::response_cookies(&resp.headers, ex.started_at_us),
            headers: name_values(&resp.headers),
            content: content(&resp.headers, &resp.body),
            redirect_url: header_value(&resp.headers, "location").unwrap_or(""),
            headers_size: -1,
            body_size: i64::try_from(resp.body.size).unwrap_or(i64::MAX),
        }
    }
}

impl From<&Timings> for HarTimings {
    fn from(t: &Timings) -> Self {
        let connect = ms(t.connect);
        let tls = ms(t.tls);
        HarTimings {
            blocked: -1.0,
            dns: -1.0,
            // HAR: "ssl ... time is also included in the connect field".
            connect: match (connect, tls) {
                (None, None) => -1.0,
                (c, s) => round_ms(c.unwrap_or(0.0) + s.unwrap_or(0.0)),
            },
            send: ms(t.send).unwrap_or(0.0),
            wait: ms(t.wait).unwrap_or(0.0),
            receive: ms(t.receive).unwrap_or(0.0),
            ssl: tls.unwrap_or(-1.0),
        }
    }
}

/// A phase duration fit for HAR: finite, not negative, microsecond precision.
fn ms(v: Option<f64>) -> Option<f64> {
    v.filter(|v| v.is_finite() && *v >= 0.0).map(round_ms)
}

fn round_ms(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// `2023-11-14T22:13:20.123Z`: ISO 8601 in UTC with milliseconds. A
/// timestamp outside the years 0..=9999 (corrupt data) becomes the epoch.
fn iso_time_us(us: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1000)
        .ok()
        .and_then(|t| iso_time(t).ok())
        .unwrap_or_else(|| "1970-01-01T00:00:00.000Z".into())
}

pub(crate) fn iso_time(t: OffsetDateTime) -> Result<String, time::error::Format> {
    const FORMAT: &[time::format_description::BorrowedFormatItem<'static>] = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    let t = t.to_offset(time::UtcOffset::UTC);
    if !(0..=9999).contains(&t.year()) {
        return Err(time::error::Format::InvalidComponent("year"));
    }
    t.format(FORMAT)
}

fn name_values(headers: &[Header]) -> Vec<NameValue<'_>> {
    headers
        .iter()
        .map(|h| NameValue {
            name: Cow::Borrowed(&h.name),
            value: Cow::Borrowed(&h.value),
        })
        .collect()
}

/// The query of `url`, each name and value percent-decoded (and `+` read as
/// a space, as browsers and HAR viewers do).
fn query_string(url: &str) -> Vec<NameValue<'static>> {
    let without_fragment = url.split('#').next().unwrap_or("");
    match without_fragment.split_once('?') {
        Some((_, query)) => form_pairs(query),
        None => Vec::new(),
    }
}

fn form_pairs(s: &str) -> Vec<NameValue<'static>> {
    url::form_urlencoded::parse(s.as_bytes())
        .map(|(name, value)| NameValue {
            name: Cow::Owned(name.into_owned()),
            value: Cow::Owned(value.into_owned()),
        })
        .collect()
}

/// A body made ready for a HAR `text` field.
struct BodyText {
    text: String,
    base64: bool,
    /// Length of the decoded bytes, when decoding worked.
    decoded_len: Option<u64>,
    /// Why the body is exported as sent.
    decode_problem: Option<String>,
}

fn body_text(body: &Body) -> BodyText {
    let (bytes, decoded_len, decode_problem) =
        match decode_body(&body.bytes, body.encoding.as_deref()) {
            Ok(decoded) => {
                let len = decoded.len() as u64;
                (Cow::Owned(decoded), Some(len), None)
            }
            Err(e) => (
                Cow::Borrowed(body.bytes.as_slice()),
                None,
                Some(format!("body exported as sent: {e}")),
            ),
        };
    let (text, base64) = match String::from_utf8(bytes.into_owned()) {
        Ok(text) => (text, false),
        Err(e) => (
            base64::engine::general_purpose::STANDARD.encode(e.as_bytes()),
            true,
        ),
    };
    BodyText {
        text,
        base64,
        decoded_len,
        decode_problem,
    }
}

fn has_body(body: &Body) -> bool {
    body.size > 0 || !body.bytes.is_empty() || body.omitted.is_some()
}

fn truncation_note(body: &Body) -> Option<String> {
    body.truncated.then(|| {
        format!(
            "truncated by interpose: kept the first {} of {} bytes sent",
            body.bytes.len(),
            body.size
        )
    })
}

fn join_notes(notes: impl IntoIterator<Item = Option<String>>) -> Option<String> {
    let notes: Vec<String> = notes.into_iter().flatten().collect();
    (!notes.is_empty()).then(|| notes.join("; "))
}

fn post_data(headers: &[Header], body: &Body) -> Option<PostData> {
    if !has_body(body) {
        return None;
    }
    let mime_type = header_value(headers, "content-type")
        .unwrap_or("application/octet-stream")
        .to_string();
    if let Some(omitted) = body.omitted {
        return Some(PostData {
            mime_type,
            text: None,
            encoding: None,
            params: None,
            comment: Some(format!("body not kept by interpose ({})", omitted.as_str())),
        });
    }
    let t = body_text(body);
    let is_form = mime_type.split(';').next().is_some_and(|m| {
        m.trim()
            .eq_ignore_ascii_case("application/x-www-form-urlencoded")
    });
    let params = (is_form && !t.base64).then(|| form_pairs(&t.text));
    Some(PostData {
        mime_type,
        encoding: t.base64.then_some("base64"),
        params,
        comment: join_notes([truncation_note(body), t.decode_problem]),
        text: Some(t.text),
    })
}

fn content(headers: &[Header], body: &Body) -> Content {
    let mime_type = header_value(headers, "content-type")
        .unwrap_or("x-unknown")
        .to_string();
    if let Some(omitted) = body.omitted {
        return Content {
            size: body.size,
            compression: None,
            mime_type,
            text: None,
            encoding: None,
            comment: Some(format!("body not kept by interpose ({})", omitted.as_str())),
        };
    }
    if !has_body(body) {
        return Content {
            size: 0,
            compression: None,
            mime_type,
            text: None,
            encoding: None,
            comment: None,
        };
    }
    let t = body_text(body);
    let whole_decoded = t.decoded_len.filter(|_| !body.truncated);
    let encoded = body
        .encoding
        .as_deref()
        .is_some_and(|e| !e.trim().is_empty() && !e.trim().eq_ignore_ascii_case("identity"));
    let compression = match whole_decoded {
        Some(len) if encoded => Some(len as i64 - body.size as i64),
        _ => None,
    };
    Content {
        size: whole_decoded.unwrap_or(body.size),
        compression,
        mime_type,
        encoding: t.base64.then_some("base64"),
        comment: join_notes([truncation_note(body), t.decode_problem]),
        text: Some(t.text),
    }
}
