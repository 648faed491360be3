//! One request through the proxy: check it, complete its URL, forward it
//! upstream, stream the response back, and hand the finished exchange to the
//! sink once both bodies have ended.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Request, Response, StatusCode, Uri, Version};
use http_body::Body as _;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use interpose_capture::{
    BodyCapture, Exchange, Header, Request as RecordedRequest, Response as RecordedResponse,
    Timings,
};
use interpose_route::dial::{forwarded_response_error, proxy_authorization};
use interpose_route::{Route, Scheme};
use interpose_rules::{Applied, LocalResponse, ResponseEdits};
use tokio::sync::oneshot;

use crate::error::{describe_upstream, error_response, target_unreachable, BoxError};
use crate::hop::{strip_hop_by_hop, wants_upgrade};
use crate::server::Shared;
use crate::tee::{Tee, TeeOutcome};
use crate::upstream::{ms, ProxyBody};
use interpose_route::dial::ConnectTimings;

/// Where origin-form requests inside a tunnel go: the tunnel's scheme and
/// `host:port`.
pub struct Target {
    scheme: &'static str,
    authority: String,
}

impl Target {
    pub fn new(scheme: &'static str, authority: &str) -> Self {
        Target {
            scheme,
            authority: authority.to_string(),
        }
    }
}

/// The record of an exchange so far: what is known when the request head
/// has been forwarded.
struct Pending {
    shared: Arc<Shared>,
    client: SocketAddr,
    started_at_us: i64,
    started: Instant,
    request: RecordedRequest,
    request_body: Option<oneshot::Receiver<TeeOutcome>>,
    /// `direct` or `via http://HOST:PORT`, once decided.
    route: Option<String>,
    /// The rules that matched the request.
    rules: Vec<String>,
}

pub async fn handle(
    shared: Arc<Shared>,
    client: SocketAddr,
    target: Option<Arc<Target>>,
    mut req: Request<Incoming>,
) -> Response<ProxyBody> {
    let started = Instant::now();
    let started_at_us = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64);

    if req.headers().contains_key(header::CONTENT_LENGTH)
        && req.headers().contains_key(header::TRANSFER_ENCODING)
    {
        return error_response(
            StatusCode::BAD_REQUEST,
            "the request has both Content-Length and Transfer-Encoding; it is ambiguous \
             (a request-smuggling risk), so it was not forwarded",
        );
    }
    if let (Some(balancer), &http::Method::CONNECT) = (&shared.balancer, req.method()) {
        return error_response(
            StatusCode::METHOD_NOT_ALLOWED,
            &format!(
                "this is a reverse proxy for {}; send it ordinary requests, not CONNECT \
                 (to use interpose as a forward proxy, start capture without --reverse)",
                balancer.targets()
            ),
        );
    }
    let uri = match upstream_uri(&req, target.as_deref()) {
        Ok(uri) => uri,
        Err(message) => return error_response(StatusCode::BAD_REQUEST, &message),
    };
    let client_version = req.version();
    let upgrade = client_version == Version::HTTP_11 && wants_upgrade(req.headers());
    let client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut req));
    // A request without a body can be sent again to another target.
    let replayable = req.body().is_end_stream();
    // What the client asked for, before the URI names a target.
    let asked_host = shared.balancer.as_ref().and_then(|_| {
        req.headers().get(header::HOST).cloned().or_else(|| {
            uri.authority()
                .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
        })
    });

    let (mut parts, body) = req.into_parts();
    strip_hop_by_hop(&mut parts.headers, upgrade);
    // The URI decides the Host header (RFC 9112 3.2.2); hyper sets it for
    // HTTP/1.1 origins and uses :authority for HTTP/2 ones.
    parts.headers.remove(header::HOST);
    parts.uri = uri;
    parts.version = Version::HTTP_11;

    // Reverse mode: say where the request came from.
    if shared.balancer.is_some() {
        let proto = target.as_deref().map_or("http", |t| t.scheme);
        add_forwarded(&mut parts.headers, client, proto, asked_host);
    }

    // Rules see the request as the client sent it (in reverse mode, the URL
    // it asked for) and change it before it is recorded and sent.
    let mut applied = Applied::default();
    let mut mapped = false;
    if let Some(rules) = &shared.config.rules {
        let rules = rules.current();
        if !rules.is_empty() {
            let before = (parts.uri.scheme().cloned(), parts.uri.authority().cloned());
            applied = rules.apply_request(&mut parts);
            mapped = before != (parts.uri.scheme().cloned(), parts.uri.authority().cloned());
        }
    }

    // Reverse mode: the targets in turn, unless a rule sent it elsewhere or
    // answers itself.
    let mut plan = Vec::new();
    let forwarding = !mapped && applied.respond.is_none();
    if let (Some(balancer), true) = (&shared.balancer, forwarding) {
        plan = balancer.plan();
        if !replayable {
            plan.truncate(1);
        }
        parts.uri = balancer.target(plan[0]).uri_for(parts.uri.path_and_query());
    }

    let capturing = shared.sink.is_some();
    let mut pending = capturing.then(|| Pending {
        shared: shared.clone(),
        client,
        started_at_us,
        started,
        request: RecordedRequest {
            method: parts.method.to_string(),
            url: parts.uri.to_string(),
            http_version: interpose_capture::version_name(client_version).to_string(),
            // The Host hyper will derive from the URI, unless a rule set one.
            headers: record_headers(
                (!parts.headers.contains_key(header::HOST)).then(|| host_header(&parts.uri)),
                &parts.headers,
            ),
            body: Default::default(),
        },
        request_body: None,
        route: None,
        rules: std::mem::take(&mut applied.rules),
    });

    let body: ProxyBody = match pending.as_mut() {
        Some(p) => {
            let (tee, rx) = Tee::new(body, BodyCapture::new(shared.config.bodies.max_body));
            p.request_body = Some(rx);
            tee.map_err(BoxError::from).boxed()
        }
        None => body.map_err(BoxError::from).boxed(),
    };

    if let Some(local) = applied.respond.take() {
        return respond_locally(&shared, pending, body, local, &applied.response);
    }

    let Sent {
        mut resp,
        route,
        absolute_form,
    } = match send(
        &shared,
        parts,
        body,
        upgrade,
        &mut pending,
        &plan,
        replayable,
    )
    .await
    {
        Ok(sent) => sent,
        Err(message) => {
            if let Some(p) = pending {
                shared
                    .tracker
                    .spawn(p.finish_without_response(message.clone()));
            }
            return error_response(StatusCode::BAD_GATEWAY, &message);
        }
    };
    let head_at = Instant::now();
    if absolute_form {
        // A 407 on the proxy's connection is the proxy refusing us; passed
        // on, it would look like interpose itself wanted credentials.
        if let Some(e) = forwarded_response_error(&route, resp.status().as_u16()) {
            let message = e.to_string();
            tracing::debug!("upstream proxy refused a request: {message}");
            if let Some(p) = pending {
                shared
                    .tracker
                    .spawn(p.finish_without_response(message.clone()));
            }
            return error_response(StatusCode::BAD_GATEWAY, &message);
        }
    }
    let setup = resp
        .extensions()
        .get::<ConnectTimings>()
        .and_then(ConnectTimings::claim);

    if let (Some(client_upgrade), StatusCode::SWITCHING_PROTOCOLS) = (client_upgrade, resp.status())
    {
        let upstream_upgrade = hyper::upgrade::on(&mut resp);
        shared.tracker.spawn(async move {
            let (Ok(c), Ok(u)) = tokio::join!(client_upgrade, upstream_upgrade) else {
                return;
            };
            let _ = tokio::io::copy_bidirectional(&mut TokioIo::new(c), &mut TokioIo::new(u)).await;
        });
        let (parts, _) = resp.into_parts();
        if let Some(p) = pending {
            let response = recorded_response(&parts.status, parts.version, &parts.headers);
            shared
                .tracker
                .spawn(p.finish_upgrade(response, setup, head_at));
        }
        let mut out = Response::new(Empty::new().map_err(|never| match never {}).boxed());
        *out.status_mut() = parts.status;
        *out.headers_mut() = parts.headers;
        applied.response.apply(out.headers_mut());
        return out;
    }

    let (mut parts, body) = resp.into_parts();
    strip_hop_by_hop(&mut parts.headers, false);
    let upstream_version = parts.version;
    parts.version = client_version;
    let body: ProxyBody = match pending {
        Some(p) => {
            let content_type = parts
                .headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok());
            let capture = match shared.config.bodies.response_omission(content_type) {
                Some(reason) => BodyCapture::omitted(reason),
                None => BodyCapture::new(shared.config.bodies.max_body),
            };
            let response = recorded_response(&parts.status, upstream_version, &parts.headers);
            let (tee, rx) = Tee::new(body, capture);
            shared.tracker.spawn(p.finish(response, rx, setup, head_at));
            tee.map_err(BoxError::from).boxed()
        }
        None => body.map_err(BoxError::from).boxed(),
    };
    // The record keeps the response as received; the client gets it edited.
    applied.response.apply(&mut parts.headers);
    Response::from_parts(parts, body)
}

/// Answers with a rule's response instead of forwarding.
fn respond_locally(
    shared: &Arc<Shared>,
    pending: Option<Pending>,
    request_body: ProxyBody,
    local: LocalResponse,
    edits: &ResponseEdits,
) -> Response<ProxyBody> {
    // Nothing forwards the request body: read it here, so the client's
    // upload completes and the record keeps it (up to the cap).
    let read_for = shared.config.client_timeout;
    shared.tracker.spawn(async move {
        let mut body = request_body;
        let _ = tokio::time::timeout(read_for, async {
            while let Some(Ok(_)) = body.frame().await {}
        })
        .await;
    });
    let head_at = Instant::now();
    let mut headers = local.headers;
    let bodiless = matches!(local.status.as_u16(), 204 | 304);
    let bytes = if bodiless { Bytes::new() } else { local.body };
    if !bodiless {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
    }
    edits.apply(&mut headers);
    let body = Full::new(bytes);
    let body: ProxyBody = match pending {
        Some(p) => {
            let response = recorded_response(&local.status, Version::HTTP_11, &headers);
            let (tee, rx) = Tee::new(body, BodyCapture::new(shared.config.bodies.max_body));
            shared.tracker.spawn(p.finish(response, rx, None, head_at));
            tee.map_err(BoxError::from).boxed()
        }
        None => body.map_err(|never| match never {}).boxed(),
    };
    let mut resp = Response::new(body);
    *resp.status_mut() = local.status;
    *resp.headers_mut() = headers;
    resp
}

/// A request that reached its origin (or the upstream proxy on its route).
struct Sent {
    resp: Response<Incoming>,
    route: Route,
    /// Sent in absolute-form on an HTTP proxy's connection.
    absolute_form: bool,
}

/// Forwards the request along its route, or says why it could not go.
///
/// In reverse mode `plan` lists the targets to try. A target that cannot be
/// reached never saw the request, so a request without a body moves on to
/// the next one; a request with a body is streamed, not kept, so the plan
/// holds one target for it.
async fn send(
    shared: &Shared,
    mut parts: http::request::Parts,
    body: ProxyBody,
    upgrade: bool,
    pending: &mut Option<Pending>,
    plan: &[usize],
    replayable: bool,
) -> Result<Sent, String> {
    let client_pool = if upgrade {
        &shared.upstream.client_h1
    } else {
        &shared.upstream.client
    };
    let mut body = Some(body);
    // Forward mode: one try, to no particular target.
    let tries = plan.len().max(1);
    for k in 0..tries {
        let target = plan.get(k).copied();
        let last = k + 1 == tries;
        if let (Some(i), Some(balancer), true) = (target, &shared.balancer, k > 0) {
            parts.uri = balancer.target(i).uri_for(parts.uri.path_and_query());
            if let Some(p) = pending.as_mut() {
                p.retarget(&parts.uri);
            }
        }
        let (route, absolute_form) = route_request(shared, &mut parts, upgrade)?;
        if let Some(p) = pending.as_mut() {
            p.route = Some(route.summary());
        }
        // Cheap to clone (shared bytes); spelled out only for a failure.
        let authority = parts.uri.authority().cloned();
        let request = if last {
            // The last try takes the real body (empty when there were
            // earlier tries).
            let (blank, ()) = Request::new(()).into_parts();
            let body = body.take().expect("only the last try sends the body");
            Request::from_parts(std::mem::replace(&mut parts, blank), body)
        } else {
            head_only(&parts)
        };
        let failure = match client_pool.request(request).await {
            Ok(resp) => {
                if let (Some(i), Some(balancer)) = (target, &shared.balancer) {
                    balancer.answered(i);
                }
                return Ok(Sent {
                    resp,
                    route,
                    absolute_form,
                });
            }
            Err(e) => e,
        };
        let authority = authority.map(|a| a.to_string()).unwrap_or_default();
        let message = describe_upstream(&failure, &authority);
        tracing::debug!("upstream failure for {authority}: {message}");
        let (Some(i), Some(balancer)) = (target, &shared.balancer) else {
            return Err(message);
        };
        if !target_unreachable(&failure) {
            return Err(message);
        }
        balancer.failed(i, &message);
        if last {
            // A bodiless request tried every target not backing off, so
            // now all are down; one with a body tried only its turn's.
            return Err(if replayable || balancer.len() == 1 {
                balancer.all_down()
            } else {
                format!(
                    "reverse target {}: {message}; the request has a body, which is streamed \
                     rather than kept, so it was not sent to another target (the next request \
                     will be)",
                    balancer.target(i)
                )
            });
        }
    }
    unreachable!("the last attempt always returns")
}

/// Decides the request's route, and puts an HTTP proxy's credentials on a
/// request sent to it in absolute-form (plain `http://` through an HTTP
/// proxy; upgrades are tunnelled instead). The record was taken before, so
/// credentials are never stored.
fn route_request(
    shared: &Shared,
    parts: &mut http::request::Parts,
    upgrade: bool,
) -> Result<(Route, bool), String> {
    let https = parts.uri.scheme_str() == Some("https");
    let scheme = if https { Scheme::Https } else { Scheme::Http };
    let host = parts
        .uri
        .host()
        .unwrap_or_default()
        .trim_start_matches('[')
        .trim_end_matches(']');
    let port = parts.uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let route = shared
        .upstream
        .connector
        .route(scheme, host, port)
        .map_err(|e| e.to_string())?;
    let absolute_form = !https
        && !upgrade
        && route
            .proxy
            .as_ref()
            .is_some_and(|proxy| !proxy.scheme.is_socks());
    parts.headers.remove(header::PROXY_AUTHORIZATION);
    if absolute_form {
        let credentials = route.proxy.as_ref().and_then(proxy_authorization);
        if let Some(value) = credentials.and_then(|c| HeaderValue::from_str(&c).ok()) {
            parts.headers.insert(header::PROXY_AUTHORIZATION, value);
        }
    }
    Ok((route, absolute_form))
}

/// A copy of the request head with no body, for a try that may fail.
fn head_only(parts: &http::request::Parts) -> Request<ProxyBody> {
    let mut req = Request::new(Empty::new().map_err(|never| match never {}).boxed());
    *req.method_mut() = parts.method.clone();
    *req.uri_mut() = parts.uri.clone();
    *req.version_mut() = parts.version;
    *req.headers_mut() = parts.headers.clone();
    // hyper keeps the client's header spelling here.
    *req.extensions_mut() = parts.extensions.clone();
    req
}

/// `X-Forwarded-For` (appended to, as each proxy on the way does),
/// `X-Forwarded-Proto` and `X-Forwarded-Host` (ours replace a client's: we
/// are where the client's connection ended).
fn add_forwarded(
    headers: &mut HeaderMap,
    client: SocketAddr,
    proto: &'static str,
    host: Option<HeaderValue>,
) {
    let ip = client.ip().to_string();
    let prior: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .collect();
    let chain = if prior.is_empty() {
        ip
    } else {
        format!("{}, {ip}", prior.join(", "))
    };
    if let Ok(value) = HeaderValue::from_str(&chain) {
        headers.insert("x-forwarded-for", value);
    }
    headers.insert("x-forwarded-proto", HeaderValue::from_static(proto));
    match host {
        Some(host) => headers.insert("x-forwarded-host", host),
        None => headers.remove("x-forwarded-host"),
    };
}

impl Pending {
    /// The request goes to another target after all.
    fn retarget(&mut self, uri: &Uri) {
        self.request.url = uri.to_string();
        // The Host the record derived from the first target (a rule that
        // sets Host sends the request elsewhere, and it is not retried).
        if let Some(host) = self.request.headers.first_mut() {
            if host.name == "host" {
                host.value = host_header(uri);
            }
        }
    }

    async fn request_outcome(&mut self) -> Option<TeeOutcome> {
        match self.request_body.take() {
            Some(rx) => rx.await.ok(),
            None => None,
        }
    }

    fn exchange(
        mut self,
        request_outcome: Option<&mut Option<TeeOutcome>>,
        response: Option<RecordedResponse>,
        timings: Timings,
        error: Option<String>,
    ) -> (Arc<Shared>, Exchange) {
        if let Some(outcome) = request_outcome.and_then(Option::take) {
            let encoding = content_encoding(&self.request.headers);
            self.request.body = outcome.capture.finish(encoding);
        }
        let exchange = Exchange {
            id: None,
            session_id: self.shared.config.session_id,
            client_addr: self.client.to_string(),
            started_at_us: self.started_at_us,
            timings,
            request: self.request,
            response,
            error,
            rules: self.rules,
            route: self.route,
            websocket: false,
        };
        (self.shared, exchange)
    }

    async fn finish_without_response(mut self, error: String) {
        let mut req = self.request_outcome().await;
        let timings = Timings {
            send: req
                .as_ref()
                .map(|o| ms(o.finished_at.saturating_duration_since(self.started))),
            ..Timings::default()
        };
        let (shared, exchange) = self.exchange(Some(&mut req), None, timings, Some(error));
        emit(&shared, exchange);
    }

    async fn finish_upgrade(
        mut self,
        response: RecordedResponse,
        setup: Option<(f64, Option<f64>)>,
        head_at: Instant,
    ) {
        let mut req = self.request_outcome().await;
        let timings = phase_timings(self.started, setup, req.as_ref(), head_at, head_at);
        let (shared, mut exchange) = self.exchange(Some(&mut req), Some(response), timings, None);
        exchange.websocket = true;
        emit(&shared, exchange);
    }

    async fn finish(
        mut self,
        mut response: RecordedResponse,
        response_body: oneshot::Receiver<TeeOutcome>,
        setup: Option<(f64, Option<f64>)>,
        head_at: Instant,
    ) {
        let resp = response_body.await.ok();
        let mut req = self.request_outcome().await;
        let done = resp.as_ref().map_or_else(Instant::now, |o| o.finished_at);
        let timings = phase_timings(self.started, setup, req.as_ref(), head_at, done);
        let mut error = None;
        if let Some(outcome) = resp {
            if !outcome.complete {
                error = Some(format!(
                    "response body cut off after {} bytes: {}",
                    outcome.capture.size(),
                    outcome
                        .error
                        .as_deref()
                        .unwrap_or("the connection closed early")
                ));
            }
            let encoding = content_encoding(&response.headers);
            response.body = outcome.capture.finish(encoding);
        }
        let (shared, exchange) = self.exchange(Some(&mut req), Some(response), timings, error);
        emit(&shared, exchange);
    }
}

fn emit(shared: &Shared, exchange: Exchange) {
    if let Some(sink) = &shared.sink {
        sink(exchange);
    }
}

/// HAR-style phases from the moments we saw: set-up (only on a fresh
/// connection), send until the request body ended, wait until the response
/// head, receive until the response body ended.
fn phase_timings(
    started: Instant,
    setup: Option<(f64, Option<f64>)>,
    request: Option<&TeeOutcome>,
    head_at: Instant,
    done_at: Instant,
) -> Timings {
    let (connect, tls) = match setup {
        Some((c, t)) => (Some(c), t),
        None => (None, None),
    };
    let setup_ms = connect.unwrap_or(0.0) + tls.unwrap_or(0.0);
    let sent_ms = request
        .map(|o| ms(o.finished_at.saturating_duration_since(started)))
        .unwrap_or(setup_ms)
        .max(setup_ms);
    let head_ms = ms(head_at.saturating_duration_since(started));
    Timings {
        connect,
        tls,
        send: Some(sent_ms - setup_ms),
        wait: Some((head_ms - sent_ms).max(0.0)),
        receive: Some(ms(done_at.saturating_duration_since(head_at))),
    }
}

/// The absolute URI to forward to. Outside a tunnel the client must send
/// absolute-form; inside one, origin-form is completed from `Host` (or the
/// tunnel's own target).
fn upstream_uri(req: &Request<Incoming>, target: Option<&Target>) -> Result<Uri, String> {
    let uri = req.uri();
    let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_string();
    let (scheme, authority) = match target {
        None => {
            let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
                return Err(format!(
                    "this is a proxy, and {} {uri} is not a proxy request: configure your client \
                     to use this address as its HTTP(S) proxy (it will then send absolute URLs \
                     or CONNECT)",
                    req.method()
                ));
            };
            if scheme != "http" && scheme != "https" {
                return Err(format!(
                    "cannot proxy {scheme}:// URLs; only http:// and https://"
                ));
            }
            (scheme.to_string(), authority.to_string())
        }
        Some(t) => {
            let authority = match uri.authority() {
                Some(a) => a.to_string(),
                None => match req
                    .headers()
                    .get(header::HOST)
                    .and_then(|h| h.to_str().ok())
                {
                    Some(host) if has_port(host) => host.to_string(),
                    Some(host) => match t.authority.rsplit_once(':') {
                        Some((_, port)) if port != default_port(t.scheme) => {
                            format!("{host}:{port}")
                        }
                        _ => host.to_string(),
                    },
                    None => t.authority.clone(),
                },
            };
            (t.scheme.to_string(), authority)
        }
    };
    Uri::builder()
        .scheme(scheme.as_str())
        .authority(authority.as_str())
        .path_and_query(path.as_str())
        .build()
        .map_err(|e| format!("cannot make a URL from {scheme}://{authority}{path}: {e}"))
}

fn has_port(host: &str) -> bool {
    match host.rfind(']') {
        Some(end) => host[end..].contains(':'),
        None => host.contains(':'),
    }
}

fn default_port(scheme: &str) -> &'static str {
    if scheme == "https" {
        "443"
    } else {
        "80"
    }
}

/// The Host header hyper will send for this URI (no default port).
fn host_header(uri: &Uri) -> String {
    let host = uri.host().unwrap_or_default();
    match uri.port_u16() {
        Some(port) if port.to_string() != default_port(uri.scheme_str().unwrap_or("http")) => {
            format!("{host}:{port}")
        }
        _ => host.to_string(),
    }
}

fn record_headers(host: Option<String>, headers: &HeaderMap) -> Vec<Header> {
    let mut out = Vec::with_capacity(headers.len() + 1);
    if let Some(host) = host {
        out.push(Header::new("host", host));
    }
    out.extend(headers.iter().map(|(name, value)| {
        Header::new(name.as_str(), String::from_utf8_lossy(value.as_bytes()))
    }));
    out
}

fn recorded_response(
    status: &StatusCode,
    version: Version,
    headers: &HeaderMap,
) -> RecordedResponse {
    RecordedResponse {
        status: status.as_u16(),
        reason: status.canonical_reason().unwrap_or("").to_string(),
        http_version: interpose_capture::version_name(version).to_string(),
        headers: record_headers(None, headers),
        body: Default::default(),
    }
}

fn content_encoding(headers: &[Header]) -> Option<String> {
    interpose_capture::header_value(headers, "content-encoding").map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_header_drops_the_default_port_only() {
        let uri: Uri = "https://api.example.test:443/x".parse().unwrap();
        assert_eq!(host_header(&uri), "api.example.test");
        let uri: Uri = "https://localhost:8443/x".parse().unwrap();
        assert_eq!(host_header(&uri), "localhost:8443");
        let uri: Uri = "http://[::1]:8080/".parse().unwrap();
        assert_eq!(host_header(&uri), "[::1]:8080");
    }

    #[test]
    fn ipv6_hosts_with_and_without_ports() {
        assert!(has_port("[::1]:80"));
        assert!(!has_port("[::1]"));
        assert!(has_port("example.test:8080"));
        assert!(!has_port("example.test"));
    }

    #[test]
    fn phases_never_go_negative_and_setup_only_counts_once() {
        let t0 = Instant::now();
        let head = t0 + std::time::Duration::from_millis(30);
        let done = head + std::time::Duration::from_millis(5);
        let t = phase_timings(t0, Some((10.0, Some(8.0))), None, head, done);
        assert_eq!(t.connect, Some(10.0));
        assert_eq!(t.tls, Some(8.0));
        assert_eq!(t.send, Some(0.0));
        assert!((t.wait.unwrap() - 12.0).abs() < 0.5);
        assert!((t.receive.unwrap() - 5.0).abs() < 0.5);
        let reused = phase_timings(t0, None, None, head, done);
        assert_eq!(reused.connect, None);
        assert!(reused.wait.unwrap() >= 29.0);
    }
}
