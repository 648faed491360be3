//! Sockets and tasks: the accept loop, connections from clients, CONNECT
//! tunnels (sniffed, then intercepted, parsed or passed through), shutdown.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use interpose_tls::LeafIssuer;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::error::{error_response, ProxyError};
use crate::forward::{self, Target};
use crate::framing;
use crate::reverse::Balancer;
use crate::sniff::{classify, TunnelKind};
use crate::upstream::{ProxyBody, Upstream};
use crate::{ProxyConfig, Sink};
use interpose_route::dial::Prefixed;

/// Largest request head a client may send; past it, 431.
const MAX_HEAD: usize = 64 * 1024;
const ALPN: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// What every connection task shares.
pub struct Shared {
    pub config: ProxyConfig,
    pub issuer: LeafIssuer,
    pub upstream: Upstream,
    pub sink: Option<Sink>,
    pub tracker: TaskTracker,
    pub shutdown: CancellationToken,
    /// Reverse mode: the targets and their health.
    pub balancer: Option<Balancer>,
    /// Reverse mode: the user's certificate for TLS clients, if given.
    pub reverse_tls: Option<Arc<rustls::ServerConfig>>,
}

impl Shared {
    pub fn new(
        config: ProxyConfig,
        issuer: LeafIssuer,
        sink: Option<Sink>,
    ) -> Result<Self, ProxyError> {
        let upstream = Upstream::new(&config)?;
        let balancer = config.reverse.as_ref().map(Balancer::new);
        let reverse_tls = match config.reverse.as_ref().and_then(|r| r.certificate.as_ref()) {
            Some((cert, key)) => Some(interpose_tls::server_config_from_files(cert, key, &ALPN)?),
            None => None,
        };
        Ok(Shared {
            config,
            issuer,
            upstream,
            sink,
            tracker: TaskTracker::new(),
            shutdown: CancellationToken::new(),
            balancer,
            reverse_tls,
        })
    }
}

pub async fn run(listener: TcpListener, shared: Arc<Shared>, shutdown: CancellationToken) {
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((tcp, client)) => {
                let _ = tcp.set_nodelay(true);
                let shared2 = shared.clone();
                if shared.balancer.is_some() {
                    shared.tracker.spawn(serve_reverse(shared2, tcp, client));
                } else {
                    shared
                        .tracker
                        .spawn(serve_client(shared2, TokioIo::new(tcp), client));
                }
            }
            Err(e) => {
                // Out of file descriptors and the like: back off, keep serving.
                tracing::warn!("accepting a connection failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
    drop(listener);
    shared.shutdown.cancel();
    shared.tracker.close();
    if tokio::time::timeout(shared.config.grace, shared.tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            "{} connections still busy after {}s; closing them",
            shared.tracker.len(),
            shared.config.grace.as_secs()
        );
    }
}

fn http1(shared: &Shared) -> hyper::server::conn::http1::Builder {
    let mut b = hyper::server::conn::http1::Builder::new();
    b.timer(TokioTimer::new())
        .header_read_timeout(shared.config.client_timeout)
        .max_buf_size(MAX_HEAD)
        // max_buf_size alone is a soft limit: a head that arrives in one
        // read is parsed whole, however long.
        .max_header_size(MAX_HEAD)
        .preserve_header_case(true)
        .keep_alive(true);
    b
}

/// A connection from a client to the proxy's own port: HTTP/1.1 with
/// absolute-form requests and CONNECT.
async fn serve_client<I>(shared: Arc<Shared>, io: TokioIo<I>, client: SocketAddr)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (io, requests) = framing::watch(io.into_inner(), true);
    let io = TokioIo::new(io);
    let svc_shared = shared.clone();
    let svc = service_fn(move |req: Request<Incoming>| {
        let shared = svc_shared.clone();
        let ambiguous = requests.next_is_ambiguous();
        async move {
            if ambiguous {
                Ok(error_response(StatusCode::BAD_REQUEST, framing::AMBIGUOUS))
            } else if req.method() == http::Method::CONNECT {
                Ok::<_, std::convert::Infallible>(connect(shared, client, req).await)
            } else {
                Ok(forward::handle(shared, client, None, req).await)
            }
        }
    });
    let conn = http1(&shared).serve_connection(io, svc).with_upgrades();
    let mut conn = std::pin::pin!(conn);
    tokio::select! {
        res = conn.as_mut() => log_conn_end(res, client),
        _ = shared.shutdown.cancelled() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

fn log_conn_end(res: Result<(), hyper::Error>, client: SocketAddr) {
    if let Err(e) = res {
        tracing::debug!("connection from {client} ended: {e}");
    }
}

/// Answers CONNECT: 200, then the tunnel is sniffed and handled on its own
/// task. Ignored hosts are connected first, so a failure is still a 502.
async fn connect(
    shared: Arc<Shared>,
    client: SocketAddr,
    req: Request<Incoming>,
) -> Response<ProxyBody> {
    let Some(authority) = req.uri().authority().cloned() else {
        return error_response(
            StatusCode::BAD_REQUEST,
            "CONNECT needs a target of the form host:port",
        );
    };
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = authority.port_u16().unwrap_or(443);

    // Passed-through tunnels follow the route too, so a failure (the
    // upstream proxy included) is still a 502 that names it.
    let passthrough = if shared.config.ignores(&host, port) {
        match shared.upstream.connector.tunnel(&host, port).await {
            Ok(stream) => Some(stream),
            Err(e) => return error_response(StatusCode::BAD_GATEWAY, &e.to_string()),
        }
    } else {
        None
    };

    let tunnel_shared = shared.clone();
    shared.tracker.spawn(async move {
        let upgraded = match hyper::upgrade::on(req).await {
            Ok(u) => TokioIo::new(u),
            Err(e) => {
                tracing::debug!("CONNECT from {client} was not upgraded: {e}");
                return;
            }
        };
        let result = match passthrough {
            Some(upstream) => relay(upgraded, Bytes::new(), upstream).await,
            None => tunnel(tunnel_shared, upgraded, client, host, port).await,
        };
        if let Err(e) = result {
            tracing::debug!("tunnel from {client} ended: {e}");
        }
    });
    Response::new(Empty::new().map_err(|never| match never {}).boxed())
}

/// Reads the tunnel's first bytes and decides what it carries.
async fn tunnel<I>(
    shared: Arc<Shared>,
    io: I,
    client: SocketAddr,
    host: String,
    port: u16,
) -> io::Result<()>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let Some((kind, io)) = sniff(io, shared.config.sniff_timeout).await? else {
        return Ok(());
    };
    let authority = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    match kind {
        TunnelKind::Tls => intercept_tls(shared, io, client, host, authority, None).await,
        TunnelKind::Http => {
            let target = Target::new("http", &authority);
            serve_tunnel(shared, TokioIo::new(io), client, target, false).await;
            Ok(())
        }
        TunnelKind::Opaque => {
            let upstream = shared
                .upstream
                .connector
                .tunnel(&host, port)
                .await
                .map_err(io::Error::other)?;
            let (prefix, io) = io.into_parts();
            relay(io, prefix, upstream).await
        }
    }
}

/// Reads a stream's first bytes (for up to `wait`) and says what they are;
/// `None` when the client closed before sending any.
async fn sniff<I>(mut io: I, wait: Duration) -> io::Result<Option<(TunnelKind, Prefixed<I>)>>
where
    I: AsyncRead + Unpin,
{
    let mut first = BytesMut::with_capacity(1024);
    let deadline = tokio::time::Instant::now() + wait;
    let kind = loop {
        match tokio::time::timeout_at(deadline, io.read_buf(&mut first)).await {
            Err(_) => break TunnelKind::Opaque,
            Ok(Ok(0)) => return Ok(None),
            Ok(Ok(_)) => {
                if let Some(kind) = classify(&first) {
                    break kind;
                }
            }
            Ok(Err(e)) => return Err(e),
        }
    };
    Ok(Some((kind, Prefixed::new(first.freeze(), io))))
}

/// A connection to a reverse-mode listener: TLS (terminated with the user's
/// certificate, else a leaf from our CA) or plain HTTP, by its first bytes.
/// Requests are origin-form; the listener's own address completes them
/// when a client sends no Host.
async fn serve_reverse(shared: Arc<Shared>, tcp: tokio::net::TcpStream, client: SocketAddr) {
    let local = match tcp.local_addr() {
        Ok(addr) => addr,
        Err(_) => return,
    };
    // The client speaks first in both protocols, so wait as for a request.
    let sniffed = match sniff(tcp, shared.config.client_timeout).await {
        Ok(Some(sniffed)) => sniffed,
        Ok(None) => return,
        Err(e) => {
            tracing::debug!("connection from {client} ended: {e}");
            return;
        }
    };
    let result = match sniffed {
        (TunnelKind::Tls, io) => {
            let certificate = shared.reverse_tls.clone();
            let authority = local.to_string();
            let host = local.ip().to_string();
            intercept_tls(shared, io, client, host, authority, certificate).await
        }
        (_, io) => {
            let target = Target::new("http", &local.to_string());
            serve_tunnel(shared, TokioIo::new(io), client, target, false).await;
            Ok(())
        }
    };
    if let Err(e) = result {
        tracing::debug!("connection from {client} ended: {e}");
    }
}

/// Terminates the client's TLS with `certificate`, or a leaf for its SNI
/// name (else `default_host`), then serves HTTP/2 or HTTP/1.1 as ALPN
/// decided.
async fn intercept_tls<I>(
    shared: Arc<Shared>,
    io: Prefixed<I>,
    client: SocketAddr,
    default_host: String,
    authority: String,
    certificate: Option<Arc<rustls::ServerConfig>>,
) -> io::Result<()>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let acceptor = tokio_rustls::LazyConfigAcceptor::new(rustls::server::Acceptor::default(), io);
    let start = tokio::time::timeout(shared.config.client_timeout, acceptor)
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no TLS ClientHello"))??;
    let sni = start.client_hello().server_name().map(str::to_string);
    let host = sni.unwrap_or(default_host);
    let config = match certificate {
        Some(config) => config,
        None => shared
            .issuer
            .server_config(&host, &ALPN)
            .await
            .map_err(io::Error::other)?,
    };
    let tls = match start.into_stream(config).await {
        Ok(tls) => tls,
        Err(e) => {
            // Usually the client does not trust our CA yet: say how to fix it.
            tracing::warn!(
                "client {client} refused the TLS handshake for {host}: {e} \
                 (does it trust the interpose CA? see `interpose ca trust-help`)"
            );
            return Ok(());
        }
    };
    let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
    let target = Target::new("https", &authority);
    serve_tunnel(shared, TokioIo::new(tls), client, target, h2).await;
    Ok(())
}

/// Serves the requests inside a tunnel; they are origin-form, completed from
/// the tunnel's target.
async fn serve_tunnel<I>(
    shared: Arc<Shared>,
    io: TokioIo<I>,
    client: SocketAddr,
    target: Target,
    h2: bool,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (io, requests) = framing::watch(io.into_inner(), !h2);
    let io = TokioIo::new(io);
    let target = Arc::new(target);
    let svc_shared = shared.clone();
    let svc = service_fn(move |req: Request<Incoming>| {
        let shared = svc_shared.clone();
        let target = target.clone();
        let ambiguous = requests.next_is_ambiguous();
        async move {
            if ambiguous {
                return Ok(error_response(StatusCode::BAD_REQUEST, framing::AMBIGUOUS));
            }
            Ok::<_, std::convert::Infallible>(
                forward::handle(shared, client, Some(target), req).await,
            )
        }
    });
    if h2 {
        let mut builder = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
        builder
            .timer(TokioTimer::new())
            .max_header_list_size(MAX_HEAD as u32)
            .keep_alive_interval(Some(std::time::Duration::from_secs(30)));
        let conn = builder.serve_connection(io, svc);
        let mut conn = std::pin::pin!(conn);
        tokio::select! {
            res = conn.as_mut() => log_conn_end(res, client),
            _ = shared.shutdown.cancelled() => {
                conn.as_mut().graceful_shutdown();
                let _ = conn.await;
            }
        }
    } else {
        let conn = http1(&shared).serve_connection(io, svc).with_upgrades();
        let mut conn = std::pin::pin!(conn);
        tokio::select! {
            res = conn.as_mut() => log_conn_end(res, client),
            _ = shared.shutdown.cancelled() => {
                conn.as_mut().graceful_shutdown();
                let _ = conn.await;
            }
        }
    }
}

/// Copies bytes both ways until either side closes; `prefix` (bytes already
/// read from the client) goes upstream first.
async fn relay<I, U>(mut client: I, prefix: Bytes, mut upstream: U) -> io::Result<()>
where
    I: AsyncRead + AsyncWrite + Unpin,
    U: AsyncRead + AsyncWrite + Unpin,
{
    if !prefix.is_empty() {
        upstream.write_all(&prefix).await?;
    }
    tokio::io::copy_bidirectional(&mut client, &mut upstream).await?;
    Ok(())
}
