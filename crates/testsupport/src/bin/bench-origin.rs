//! `bench-origin`: a small, fast HTTP/1.1 origin for `bench/run.sh`.
//!
//! Listens on 127.0.0.1 with one plain-HTTP and one HTTPS port (certificate signed by a fresh
//! [`TestCa`], valid for `127.0.0.1` and `localhost`, ALPN `http/1.1` only), and serves:
//!
//! - `/1k`   — 1024 bytes, `Content-Length` set;
//! - `/100m` — 100 MiB, streamed in 256 KiB frames from one shared buffer, `Content-Length` set;
//! - anything else — 404.
//!
//! Usage: `bench-origin --ca-out FILE` writes the test CA (PEM) to FILE, then prints one line
//! `http=PORT https=PORT` on stdout and serves until killed.
#![forbid(unsafe_code)]

use std::convert::Infallible;
use std::io::Write as _;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{header, HeaderValue, Request, Response, StatusCode};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use interpose_testsupport::TestCa;
use tokio::net::TcpListener;

const BIG_LEN: u64 = 100 * 1024 * 1024;
const FRAME: usize = 256 * 1024;

/// A response body: either one small buffer or `remaining` bytes cut from a shared frame.
struct BenchBody {
    frame: Bytes,
    remaining: u64,
}

impl Body for BenchBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.remaining == 0 {
            return Poll::Ready(None);
        }
        let n = self.remaining.min(self.frame.len() as u64) as usize;
        self.remaining -= n as u64;
        Poll::Ready(Some(Ok(Frame::data(self.frame.slice(..n)))))
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

struct Bodies {
    small: Bytes,
    big_frame: Bytes,
}

fn respond(req: &Request<Incoming>, bodies: &Bodies) -> Response<BenchBody> {
    let (frame, len, ctype) = match req.uri().path() {
        "/1k" => (bodies.small.clone(), 1024u64, "text/plain"),
        "/100m" => (
            bodies.big_frame.clone(),
            BIG_LEN,
            "application/octet-stream",
        ),
        _ => {
            let mut resp = Response::new(BenchBody {
                frame: Bytes::from_static(b"not found\n"),
                remaining: 10,
            });
            *resp.status_mut() = StatusCode::NOT_FOUND;
            return resp;
        }
    };
    let mut resp = Response::new(BenchBody {
        frame,
        remaining: len,
    });
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    resp
}

async fn serve<I>(io: I, bodies: Arc<Bodies>)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let svc = service_fn(move |req: Request<Incoming>| {
        let resp = respond(&req, &bodies);
        async move { Ok::<_, Infallible>(resp) }
    });
    let _ = http1::Builder::new()
        .keep_alive(true)
        .serve_connection(TokioIo::new(io), svc)
        .await;
}

fn pattern(len: usize) -> Bytes {
    (0..len)
        .map(|i| b"0123456789abcdefghijklmnopqrstuvwxyz\n"[i % 37])
        .collect::<Vec<u8>>()
        .into()
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let mut ca_out = None;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--ca-out" => ca_out = args.next(),
            other => {
                eprintln!(
                    "bench-origin: unknown argument {other:?}; usage: bench-origin --ca-out FILE"
                );
                std::process::exit(2);
            }
        }
    }
    let Some(ca_out) = ca_out else {
        eprintln!("usage: bench-origin --ca-out FILE");
        std::process::exit(2);
    };

    let ca = TestCa::new();
    std::fs::write(&ca_out, ca.cert_pem()).expect("write CA file");
    let acceptor = tokio_rustls::TlsAcceptor::from(ca.server_config(&[], &[b"http/1.1"]));

    let bodies = Arc::new(Bodies {
        small: pattern(1024),
        big_frame: pattern(FRAME),
    });

    let plain = TcpListener::bind("127.0.0.1:0").await.expect("bind http");
    let tls = TcpListener::bind("127.0.0.1:0").await.expect("bind https");
    {
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "http={} https={}",
            plain.local_addr().unwrap().port(),
            tls.local_addr().unwrap().port()
        )
        .unwrap();
        out.flush().unwrap();
    }

    let b = bodies.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = plain.accept().await else {
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            };
            let _ = tcp.set_nodelay(true);
            tokio::spawn(serve(tcp, b.clone()));
        }
    });
    loop {
        let Ok((tcp, _)) = tls.accept().await else {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let b = bodies.clone();
        tokio::spawn(async move {
            if let Ok(stream) = acceptor.accept(tcp).await {
                serve(stream, b).await;
            }
        });
    }
}
