use serde::{Deserialize, Serialize};

/// One header line, in the order it was sent. Duplicates stay separate lines.
///
/// Values are kept as text; bytes that are not UTF-8 are replaced, since no
/// view we offer (terminal, HAR, Postman) can carry them anyway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    pub name: String,
    pub value: String,
}

impl Header {
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Header {
            name: name.into(),
            value: value.into(),
        }
    }
}

/// Why a body was not kept at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BodyOmitted {
    /// Image, audio or video: headers, status and timing are kept, not bytes.
    Media,
    /// The user asked for requests only (`--requests-only`).
    Policy,
}

impl BodyOmitted {
    pub fn as_str(self) -> &'static str {
        match self {
            BodyOmitted::Media => "media",
            BodyOmitted::Policy => "policy",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "media" => Some(BodyOmitted::Media),
            "policy" => Some(BodyOmitted::Policy),
            _ => None,
        }
    }
}

/// A body as it crossed the wire: the bytes kept (still content-encoded),
/// how many bytes there were in all, and whether the kept part is shorter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Body {
    /// The bytes kept, exactly as sent (gzip stays gzip).
    pub bytes: Vec<u8>,
    /// Bytes seen on the wire for this body, kept or not.
    pub size: u64,
    /// More than the capture cap was seen; `bytes` holds the first part.
    pub truncated: bool,
    pub omitted: Option<BodyOmitted>,
    /// The `Content-Encoding` the bytes are in (`gzip`, `br`, ...), if any.
    pub encoding: Option<String>,
}

impl Body {
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Body {
            size: bytes.len() as u64,
            bytes,
            ..Body::default()
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    /// The full URL as forwarded: `scheme://host[:port]/path?query`.
    pub url: String,
    /// `HTTP/1.1`, `HTTP/2.0`, ...
    pub http_version: String,
    pub headers: Vec<Header>,
    pub body: Body,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub reason: String,
    pub http_version: String,
    pub headers: Vec<Header>,
    pub body: Body,
}

/// Phase durations in milliseconds, as HAR defines them. `None` means the
/// phase did not happen for this exchange (a reused connection has no
/// connect or TLS time).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Timings {
    pub connect: Option<f64>,
    pub tls: Option<f64>,
    pub send: Option<f64>,
    pub wait: Option<f64>,
    pub receive: Option<f64>,
}

impl Timings {
    /// Total time of the exchange, the sum of the phases that happened.
    pub fn total(&self) -> f64 {
        [self.connect, self.tls, self.send, self.wait, self.receive]
            .iter()
            .flatten()
            .sum()
    }
}

/// One captured request and its response (or the error that took its place).
#[derive(Debug, Clone, PartialEq)]
pub struct Exchange {
    /// Assigned by the store; `None` until stored.
    pub id: Option<i64>,
    pub session_id: i64,
    /// The client's socket address, `127.0.0.1:53422`.
    pub client_addr: String,
    /// When the request head arrived, in Unix microseconds.
    pub started_at_us: i64,
    pub timings: Timings,
    pub request: Request,
    pub response: Option<Response>,
    /// Why no (complete) response came: refused, DNS, TLS, reset.
    pub error: Option<String>,
    /// Names of the transformation rules that changed this exchange.
    pub rules: Vec<String>,
    /// How the exchange reached the origin (`direct`, `via http://...`).
    pub route: Option<String>,
    /// The exchange upgraded to a WebSocket (status 101).
    pub websocket: bool,
}

impl Exchange {
    /// Host of the request URL, without port.
    pub fn host(&self) -> &str {
        split_url(&self.request.url).1
    }

    /// Path and query of the request URL (`/` when empty).
    pub fn path_and_query(&self) -> &str {
        let rest = split_url(&self.request.url).3;
        if rest.is_empty() {
            "/"
        } else {
            rest
        }
    }

    /// Request and response bytes on the wire (bodies only).
    pub fn body_bytes(&self) -> u64 {
        self.request.body.size + self.response.as_ref().map_or(0, |r| r.body.size)
    }

    /// The response's content type without parameters, lower-case.
    pub fn response_content_type(&self) -> Option<String> {
        let resp = self.response.as_ref()?;
        header_value(&resp.headers, "content-type").map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
    }
}

/// How a record spells an HTTP version (`HTTP/1.1`, `HTTP/2.0`), as HAR does.
pub fn version_name(version: http::Version) -> &'static str {
    match version {
        http::Version::HTTP_09 => "HTTP/0.9",
        http::Version::HTTP_10 => "HTTP/1.0",
        http::Version::HTTP_2 => "HTTP/2.0",
        http::Version::HTTP_3 => "HTTP/3.0",
        _ => "HTTP/1.1",
    }
}

/// First value of a header, compared case-insensitively.
pub fn header_value<'a>(headers: &'a [Header], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(name))
        .map(|h| h.value.as_str())
}

/// Splits `scheme://host:port/rest` into (scheme, host, port, rest). IPv6
/// hosts keep their brackets.
fn split_url(url: &str) -> (&str, &str, Option<&str>, &str) {
    let (scheme, after) = url.split_once("://").unwrap_or(("", url));
    let (authority, rest) = match after.find(['/', '?']) {
        Some(i) => after.split_at(i),
        None => (after, ""),
    };
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    let (host, port) = if authority.starts_with('[') {
        match authority.find(']') {
            Some(end) => {
                let port = authority[end + 1..].strip_prefix(':');
                (&authority[..=end], port)
            }
            None => (authority, None),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    (scheme, host, port, rest)
}

/// One run of `capture` (or, later, one import or bridge connection).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    pub id: i64,
    pub started_at_us: i64,
    pub ended_at_us: Option<i64>,
    /// `proxy`, `import`, `bridge`.
    pub source: String,
    /// What the session listened on or read from.
    pub detail: String,
    /// Exchanges whose record was dropped because the store fell behind.
    pub dropped: u64,
    /// The collection this session saved into (`--save-to collection:NAME`),
    /// if any.
    #[serde(default)]
    pub collection: Option<String>,
}

/// A session with its counts, as `history sessions` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionSummary {
    #[serde(flatten)]
    pub session: Session,
    pub exchanges: u64,
    pub bytes: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exchange(url: &str) -> Exchange {
        Exchange {
            id: None,
            session_id: 1,
            client_addr: "127.0.0.1:1".into(),
            started_at_us: 0,
            timings: Timings::default(),
            request: Request {
                method: "GET".into(),
                url: url.into(),
                http_version: "HTTP/1.1".into(),
                headers: vec![],
                body: Body::default(),
            },
            response: None,
            error: None,
            rules: vec![],
            route: None,
            websocket: false,
        }
    }

    #[test]
    fn host_and_path_come_from_the_url() {
        let e = exchange("https://api.example.test:8443/v1/items?q=1");
        assert_eq!(e.host(), "api.example.test");
        assert_eq!(e.path_and_query(), "/v1/items?q=1");
        let e = exchange("http://[::1]:8080");
        assert_eq!(e.host(), "[::1]");
        assert_eq!(e.path_and_query(), "/");
    }

    #[test]
    fn total_time_skips_phases_that_did_not_happen() {
        let t = Timings {
            connect: None,
            tls: Some(2.0),
            send: Some(1.0),
            wait: Some(3.5),
            receive: None,
        };
        assert_eq!(t.total(), 6.5);
    }
}
