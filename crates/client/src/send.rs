//! One `send`: the URL and body prepared, the route decided, the request
//! sent on hyper-util's pooled client (HTTP/1.1 or HTTP/2 by ALPN), any
//! redirects followed, and the response handed back as data.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use interpose_capture::{
    Body, BodyOmitted, BodyPolicy, Exchange, Header, Request as RecordedRequest,
    Response as RecordedResponse, Timings,
};
use interpose_route::dial::{
    forwarded_response_error, proxy_authorization, DialError, DialOptions,
};
use interpose_route::{Env, Route, RouteConfig, Router, Scheme, Settings, Target};
use interpose_tls::UpstreamTls;
use url::Url;

use crate::connector::{ms, ConnectError, ConnectTimings, RoutedConnector};
use crate::error::{FailureKind, SendError};
use crate::request::{build_body, header_of, Auth, SendRequest, MAX_REDIRECTS};

/// Connect timeout when the request sets none (curl's default is 300 s;
/// a shorter one suits an interactive tool).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Sends `request`, routed by `settings`, its flags and `env` (pass
/// [`Env::Process`] outside tests), following redirects when asked.
///
/// Returns once the final response's head has arrived; read its body with
/// [`SendResponse::chunk`] or [`SendResponse::bytes`]. Any HTTP status is
/// a response, not an error; errors are for when no response came.
pub async fn send(
    request: &SendRequest,
    settings: &Settings,
    env: &Env,
) -> Result<SendResponse, SendError> {
    let client = Sender::new(request, settings, env)?;
    client.send(request).await
}

/// The pooled client and its connector for one command.
pub(crate) struct Sender {
    http: Client<RoutedConnector, Full<Bytes>>,
    connector: RoutedConnector,
}

impl Sender {
    pub fn new(request: &SendRequest, settings: &Settings, env: &Env) -> Result<Sender, SendError> {
        let tls = UpstreamTls {
            extra_roots: request.extra_roots.clone(),
            insecure: request.insecure,
        };
        let route = RouteConfig {
            settings: settings.clone(),
            flags: request.flags.clone(),
            env: env.clone(),
        };
        let timeout = request
            .timeout
            .map_or(CONNECT_TIMEOUT, |t| t.min(CONNECT_TIMEOUT));
        let connector = RoutedConnector {
            router: Arc::new(Router::new(route)),
            dial: Arc::new(DialOptions {
                // https:// proxies get the same trust as targets.
                proxy_tls: Some(interpose_tls::roots::client_config(&tls, &[b"http/1.1"])?),
                timeout,
            }),
            tls: tokio_rustls::TlsConnector::from(interpose_tls::roots::client_config(
                &tls,
                &[b"h2", b"http/1.1"],
            )?),
        };
        let http = Client::builder(TokioExecutor::new())
            .timer(TokioTimer::new())
            .pool_timer(TokioTimer::new())
            .http1_preserve_header_case(true)
            .build(connector.clone());
        Ok(Sender { http, connector })
    }

    pub async fn send(&self, request: &SendRequest) -> Result<SendResponse, SendError> {
        let started_total = Instant::now();
        let deadline = request.timeout.map(|t| (started_total + t, t));
        let mut url = parse_url(&request.url)?;
        let mut headers = request.headers.clone();
        // Credentials in the URL become Basic auth (curl), and leave the URL.
        let mut auth = request.auth.clone();
        if !url.username().is_empty() {
            if auth.is_none() {
                auth = Some(Auth::Basic {
                    user: decode(url.username()),
                    password: decode(url.password().unwrap_or("")),
                });
            }
            let _ = url.set_username("");
            let _ = url.set_password(None);
        }
        if let Some(auth) = &auth {
            if header_of(&headers, "authorization").is_none() {
                headers.push(("Authorization".into(), auth.header_value()));
            }
        }
        if let Some(cookies) = &request.cookies {
            if header_of(&headers, "cookie").is_none() {
                headers.push(("Cookie".into(), cookies.clone()));
            }
        }
        let mut body = build_body(&request.body).await?;
        if let Some(form_type) = body.as_ref().and_then(|b| b.content_type.clone()) {
            match headers
                .iter_mut()
                .find(|(n, _)| n.eq_ignore_ascii_case("content-type"))
            {
                None => headers.push(("Content-Type".into(), form_type)),
                Some((_, given)) => {
                    // `-H 'Content-Type: multipart/mixed'` keeps its type
                    // but needs the boundary.
                    if !given.contains("boundary=") {
                        let boundary = form_type.split_once("; ").map_or("", |(_, b)| b);
                        *given = format!("{given}; {boundary}");
                    }
                }
            }
        }
        check_content_length(&headers, body.as_ref().map(|b| b.bytes.len() as u64))?;
        for (name, value) in [
            (
                "User-Agent",
                concat!("interpose/", env!("CARGO_PKG_VERSION")),
            ),
            ("Accept", "*/*"),
        ] {
            if header_of(&headers, name).is_none() {
                headers.push((name.to_owned(), value.to_owned()));
            }
        }
        let mut method = match &request.method {
            Some(m) => {
                Method::from_bytes(m.trim().to_ascii_uppercase().as_bytes()).map_err(|_| {
                    SendError::BadUrl {
                        url: request.url.clone(),
                        problem: format!("\"{m}\" is not an HTTP method"),
                    }
                })?
            }
            None if body.is_some() => Method::POST,
            None => Method::GET,
        };

        let mut redirects = Vec::new();
        loop {
            let hop = self
                .hop(
                    &url,
                    &method,
                    &headers,
                    body.as_ref().map(|b| b.bytes.clone()),
                    deadline,
                )
                .await?;
            let location = hop
                .response
                .headers()
                .get(http::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let status = hop.response.status();
            let (true, true, Some(location)) =
                (request.follow_redirects, status.is_redirection(), location)
            else {
                return Ok(SendResponse::new(
                    hop,
                    url,
                    redirects,
                    deadline,
                    body.map(|b| b.bytes),
                ));
            };
            let next = url.join(&location).map_err(|_| SendError::BadRedirect {
                url: url.to_string(),
                location: location.clone(),
            })?;
            if redirects.len() == MAX_REDIRECTS {
                return Err(SendError::TooManyRedirects {
                    max: MAX_REDIRECTS,
                    url: next.to_string(),
                });
            }
            // curl -L: a POST becomes a GET after 301, 302 and 303; any
            // method but HEAD becomes a GET after 303. 307/308 keep both
            // method and body.
            let to_get = (status == StatusCode::SEE_OTHER && method != Method::HEAD)
                || (method == Method::POST && matches!(status.as_u16(), 301 | 302));
            if to_get {
                method = Method::GET;
                body = None;
                headers.retain(|(n, _)| {
                    !n.eq_ignore_ascii_case("content-length")
                        && !n.eq_ignore_ascii_case("content-type")
                });
            }
            if next.host_str() != url.host_str()
                || next.port_or_known_default() != url.port_or_known_default()
            {
                // Credentials and cookies are for the host they were given
                // for (curl drops them too without --location-trusted).
                headers.retain(|(n, _)| {
                    !n.eq_ignore_ascii_case("authorization") && !n.eq_ignore_ascii_case("cookie")
                });
            }
            redirects.push(url.to_string());
            url = next;
            if !matches!(url.scheme(), "http" | "https") {
                return Err(SendError::BadRedirect {
                    url: redirects.last().cloned().unwrap_or_default(),
                    location,
                });
            }
        }
    }

    /// One request and its response head.
    async fn hop(
        &self,
        url: &Url,
        method: &Method,
        headers: &[(String, String)],
        body: Option<Bytes>,
        deadline: Option<(Instant, Duration)>,
    ) -> Result<Hop, SendError> {
        let target = Target::from_url(url)?;
        let route = self
            .connector
            .route(target.scheme, &target.host, target.port)?;
        let absolute_form = target.scheme == Scheme::Http
            && route
                .proxy
                .as_ref()
                .is_some_and(|proxy| !proxy.scheme.is_socks());
        let uri: Uri = url.as_str().parse().map_err(|e| SendError::BadUrl {
            url: url.to_string(),
            problem: format!("{e}"),
        })?;
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            let name =
                HeaderName::from_bytes(name.as_bytes()).map_err(|_| SendError::BadHeader {
                    header: format!("{name}: {value}"),
                    problem: "the name has characters a header name cannot".into(),
                })?;
            let value = HeaderValue::from_str(value).map_err(|_| SendError::BadHeader {
                header: format!("{name}: {value}"),
                problem: "the value has control characters".into(),
            })?;
            map.append(name, value);
        }
        if absolute_form {
            let credentials = route.proxy.as_ref().and_then(proxy_authorization);
            if let Some(value) = credentials.and_then(|c| HeaderValue::from_str(&c).ok()) {
                map.insert(http::header::PROXY_AUTHORIZATION, value);
            }
        }
        let body_bytes = body.unwrap_or_default();
        let mut req = http::Request::new(Full::new(body_bytes));
        *req.method_mut() = method.clone();
        *req.uri_mut() = uri;
        *req.headers_mut() = map;

        let started_at_us = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as i64);
        let started = Instant::now();
        let sent = self.http.request(req);
        let result = match deadline {
            Some((deadline, after)) => tokio::time::timeout_at(deadline.into(), sent)
                .await
                .map_err(|_| SendError::Timeout {
                    after,
                    url: url.to_string(),
                })?,
            None => sent.await,
        };
        let response = result.map_err(|e| describe(&e, url))?;
        let head_at = Instant::now();
        if absolute_form {
            if let Some(e) = forwarded_response_error(&route, response.status().as_u16()) {
                return Err(dial_error(&e));
            }
        }
        let setup = response
            .extensions()
            .get::<ConnectTimings>()
            .and_then(ConnectTimings::claim);
        let mut sent_headers: Vec<(String, String)> = Vec::new();
        if header_of(headers, "host").is_none() {
            sent_headers.push(("host".into(), host_header(url)));
        }
        sent_headers.extend(headers.iter().cloned());
        Ok(Hop {
            response,
            route,
            method: method.clone(),
            sent_headers,
            started_at_us,
            started,
            head_at,
            setup,
        })
    }
}

/// A response head and what is known of the request that got it.
struct Hop {
    response: http::Response<Incoming>,
    route: Route,
    method: Method,
    sent_headers: Vec<(String, String)>,
    started_at_us: i64,
    started: Instant,
    head_at: Instant,
    setup: Option<(f64, Option<f64>)>,
}

/// The answer to a `send`: the head as data, the route it took, and the
/// body to read.
pub struct SendResponse {
    pub status: u16,
    /// The reason phrase for the status (`OK`, `Not Found`).
    pub reason: String,
    /// `HTTP/1.1` or `HTTP/2.0`.
    pub version: String,
    /// In the order received; names lower-case.
    pub headers: Vec<(String, String)>,
    /// The URL of this response (the last one, after redirects).
    pub url: String,
    /// The URLs that redirected here, in order.
    pub redirects: Vec<String>,
    /// How the final request went (direct, or which proxy and why).
    pub route: Route,
    /// HAR-style phases of the final request; `receive` grows as the body
    /// is read and is final once it has all been read.
    pub timings: Timings,
    body: Incoming,
    deadline: Option<(Instant, Duration)>,
    head_at: Instant,
    finished: bool,
    error: Option<String>,
    kept: Vec<u8>,
    received: u64,
    omitted: Option<BodyOmitted>,
    cap: usize,
    method: Method,
    sent_headers: Vec<(String, String)>,
    sent_body: Option<Bytes>,
    started_at_us: i64,
}

impl std::fmt::Debug for SendResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendResponse")
            .field("status", &self.status)
            .field("version", &self.version)
            .field("url", &self.url)
            .field("route", &self.route.summary())
            .field("received", &self.received)
            .finish_non_exhaustive()
    }
}

impl SendResponse {
    fn new(
        hop: Hop,
        url: Url,
        redirects: Vec<String>,
        deadline: Option<(Instant, Duration)>,
        sent_body: Option<Bytes>,
    ) -> SendResponse {
        let (parts, body) = hop.response.into_parts();
        let headers: Vec<(String, String)> = parts
            .headers
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let policy = BodyPolicy::default();
        let omitted = policy.response_omission(header_of(&headers, "content-type"));
        let (connect, tls) = match hop.setup {
            Some((c, t)) => (Some(c), t),
            None => (None, None),
        };
        let setup_ms = connect.unwrap_or(0.0) + tls.unwrap_or(0.0);
        let head_ms = ms(hop.head_at.saturating_duration_since(hop.started));
        SendResponse {
            status: parts.status.as_u16(),
            reason: parts.status.canonical_reason().unwrap_or("").to_owned(),
            version: interpose_capture::version_name(parts.version).to_owned(),
            headers,
            url: url.to_string(),
            redirects,
            route: hop.route,
            timings: Timings {
                connect,
                tls,
                // The body is in memory: it is written as soon as the
                // connection is up.
                send: Some(0.0),
                wait: Some((head_ms - setup_ms).max(0.0)),
                receive: Some(0.0),
            },
            body,
            deadline,
            head_at: hop.head_at,
            finished: false,
            error: None,
            kept: Vec::new(),
            received: 0,
            omitted,
            cap: policy.max_body,
            method: hop.method,
            sent_headers: hop.sent_headers,
            sent_body,
            started_at_us: hop.started_at_us,
        }
    }

    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        header_of(&self.headers, name)
    }

    /// The body length the server announced, if it did.
    pub fn content_length(&self) -> Option<u64> {
        self.header("content-length")?.trim().parse().ok()
    }

    /// Body bytes read so far.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// The next piece of the body, or `None` at its end. For writing to a
    /// file with a progress bar.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, SendError> {
        if self.finished {
            return Ok(None);
        }
        loop {
            let next = self.body.frame();
            let frame = match self.deadline {
                Some((deadline, after)) => {
                    match tokio::time::timeout_at(deadline.into(), next).await {
                        Ok(frame) => frame,
                        Err(_) => {
                            self.fail(format!("timed out after {}s", after.as_secs_f64()));
                            return Err(SendError::Timeout {
                                after,
                                url: self.url.clone(),
                            });
                        }
                    }
                }
                None => next.await,
            };
            match frame {
                None => {
                    self.finish();
                    return Ok(None);
                }
                Some(Ok(frame)) => {
                    let Ok(data) = frame.into_data() else {
                        continue; // trailers
                    };
                    if data.is_empty() {
                        continue;
                    }
                    self.received += data.len() as u64;
                    if self.omitted.is_none() {
                        let room = self.cap.saturating_sub(self.kept.len());
                        self.kept.extend_from_slice(&data[..data.len().min(room)]);
                    }
                    return Ok(Some(data));
                }
                Some(Err(e)) => {
                    let reason = deepest(&e);
                    self.fail(reason.clone());
                    return Err(SendError::Body {
                        url: self.url.clone(),
                        received: self.received,
                        reason,
                    });
                }
            }
        }
    }

    /// The rest of the body, all of it, in memory.
    pub async fn bytes(&mut self) -> Result<Bytes, SendError> {
        let mut all = Vec::new();
        while let Some(chunk) = self.chunk().await? {
            all.extend_from_slice(&chunk);
        }
        Ok(Bytes::from(all))
    }

    fn finish(&mut self) {
        self.finished = true;
        self.timings.receive = Some(ms(self.head_at.elapsed()));
    }

    fn fail(&mut self, reason: String) {
        self.finish();
        self.error = Some(format!(
            "response body cut off after {} bytes: {reason}",
            self.received
        ));
    }

    /// The exchange as the history keeps it (`send --save`, `replay`): the
    /// request as sent (without any `Proxy-Authorization`), the response
    /// with the body read so far (kept up to the capture cap; media bodies
    /// counted, not kept), the timings and the route. The caller sets
    /// `session_id`.
    pub fn exchange(&self) -> Exchange {
        let encoding = |headers: &[(String, String)]| {
            header_of(headers, "content-encoding").map(str::to_owned)
        };
        let request_body = match &self.sent_body {
            Some(bytes) => {
                let kept = bytes.len().min(self.cap);
                Body {
                    bytes: bytes[..kept].to_vec(),
                    size: bytes.len() as u64,
                    truncated: kept < bytes.len(),
                    omitted: None,
                    encoding: encoding(&self.sent_headers),
                }
            }
            None => Body::default(),
        };
        let response_body = Body {
            bytes: self.kept.clone(),
            size: self.received,
            truncated: self.omitted.is_none() && self.received > self.kept.len() as u64,
            omitted: self.omitted,
            encoding: encoding(&self.headers),
        };
        let to_record = |headers: &[(String, String)]| {
            headers
                .iter()
                .map(|(n, v)| Header::new(n.clone(), v.clone()))
                .collect::<Vec<_>>()
        };
        Exchange {
            id: None,
            session_id: 0,
            client_addr: "interpose send".to_owned(),
            started_at_us: self.started_at_us,
            timings: self.timings,
            request: RecordedRequest {
                method: self.method.to_string(),
                url: self.url.clone(),
                http_version: self.version.clone(),
                headers: to_record(&self.sent_headers),
                body: request_body,
            },
            response: Some(RecordedResponse {
                status: self.status,
                reason: self.reason.clone(),
                http_version: self.version.clone(),
                headers: to_record(&self.headers),
                body: response_body,
            }),
            error: self
                .error
                .clone()
                .or_else(|| (!self.finished).then(|| "the response body was not read".to_owned())),
            rules: Vec::new(),
            route: Some(self.route.summary()),
            websocket: false,
        }
    }
}

/// The URL to send: `http://` when no scheme is given (curl), only http
/// and https, never a fragment.
pub(crate) fn parse_url(raw: &str) -> Result<Url, SendError> {
    let raw = raw.trim();
    let bad = |problem: String| SendError::BadUrl {
        url: raw.to_owned(),
        problem,
    };
    let with_scheme = if raw.contains("://") {
        raw.to_owned()
    } else {
        format!("http://{raw}")
    };
    let mut url = Url::parse(&with_scheme).map_err(|e| bad(e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad(format!(
            "only http:// and https:// URLs can be sent (this one is {}://)",
            url.scheme()
        )));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("it has no host".to_owned()));
    }
    url.set_fragment(None);
    Ok(url)
}

/// A user name or password from a URL, percent-decoded (`p%40ss` is `p@ss`).
fn decode(part: &str) -> String {
    percent_encoding::percent_decode_str(part)
        .decode_utf8_lossy()
        .into_owned()
}

fn check_content_length(
    headers: &[(String, String)],
    actual: Option<u64>,
) -> Result<(), SendError> {
    let actual = actual.unwrap_or(0);
    for (_, given) in headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("content-length"))
    {
        if given.trim().parse::<u64>().ok() != Some(actual) {
            return Err(SendError::ContentLengthMismatch {
                given: given.clone(),
                actual,
            });
        }
    }
    Ok(())
}

/// The Host header hyper sends for `url` (no default port).
fn host_header(url: &Url) -> String {
    let host = match url.host() {
        Some(url::Host::Ipv6(ip)) => format!("[{ip}]"),
        Some(host) => host.to_string(),
        None => String::new(),
    };
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host,
    }
}

fn dial_error(e: &DialError) -> SendError {
    let kind = if e.is_proxy_auth() {
        FailureKind::ProxyAuth
    } else if e.is_timeout() {
        FailureKind::Timeout
    } else if e.is_dns() {
        FailureKind::Dns
    } else if e.is_refused() {
        FailureKind::Refused
    } else if e.proxy().is_some() {
        FailureKind::Proxy
    } else {
        FailureKind::Other
    };
    SendError::Connect {
        kind,
        message: e.to_string(),
    }
}

/// Our connector's own error when it has one, else the deepest cause.
fn describe(err: &hyper_util::client::legacy::Error, url: &Url) -> SendError {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cause {
        if let Some(connect) = e.downcast_ref::<ConnectError>() {
            return match connect {
                ConnectError::Route(e) => SendError::Route((**e).clone()),
                ConnectError::Dial(e) => dial_error(e),
                ConnectError::Tls { .. } => SendError::Connect {
                    kind: FailureKind::Tls,
                    message: connect.to_string(),
                },
                ConnectError::TlsTimeout { .. } => SendError::Connect {
                    kind: FailureKind::Timeout,
                    message: connect.to_string(),
                },
            };
        }
        cause = e.source();
    }
    let authority = match (url.host_str(), url.port_or_known_default()) {
        (Some(host), Some(port)) => format!("{host}:{port}"),
        _ => url.to_string(),
    };
    let reason = deepest(err);
    let reason = if reason.contains("connection closed before message completed")
        || reason.contains("connection reset")
    {
        "the connection closed before a response came".to_owned()
    } else {
        reason
    };
    SendError::Http { authority, reason }
}

fn deepest(err: &(dyn std::error::Error + 'static)) -> String {
    let mut deepest = err.to_string();
    let mut cause = err.source();
    while let Some(e) = cause {
        deepest = e.to_string();
        cause = e.source();
    }
    deepest
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_default_to_http_and_refuse_other_schemes() {
        assert_eq!(
            parse_url("example.com/x#frag").unwrap().as_str(),
            "http://example.com/x"
        );
        let err = parse_url("ftp://example.com/").unwrap_err().to_string();
        assert!(err.contains("only http:// and https://"), "{err}");
        assert!(parse_url("http://").is_err());
    }

    #[test]
    fn a_content_length_must_match_the_body() {
        let headers = vec![("Content-Length".to_owned(), "5".to_owned())];
        assert!(check_content_length(&headers, Some(5)).is_ok());
        let err = check_content_length(&headers, Some(3)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the Content-Length header says 5 but the body is 3 bytes; drop the header (it is \
             set for you) or send the body it describes"
        );
        assert!(check_content_length(&headers, None).is_err());
        assert!(check_content_length(&[], Some(3)).is_ok());
    }

    #[test]
    fn url_credentials_are_percent_decoded() {
        assert_eq!(decode("p%40ss"), "p@ss");
        assert_eq!(decode("a+b"), "a+b");
    }

    #[test]
    fn host_headers_drop_default_ports_and_bracket_ipv6() {
        assert_eq!(
            host_header(&Url::parse("http://a.test:80/").unwrap()),
            "a.test"
        );
        assert_eq!(
            host_header(&Url::parse("http://a.test:8080/").unwrap()),
            "a.test:8080"
        );
        assert_eq!(
            host_header(&Url::parse("https://[::1]:8443/").unwrap()),
            "[::1]:8443"
        );
    }
}
