//! Shared set-up for the client tests: an empty environment (no test reads
//! or changes the process environment), trust in a test CA, and a small
//! origin that redirects.

#![allow(dead_code)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use interpose_client::{send, Env, SendError, SendRequest, SendResponse, Settings};
use interpose_testsupport::TestCa;
use tokio::net::TcpListener;

/// Sends with default settings and an empty environment.
pub async fn send_plain(request: &SendRequest) -> Result<SendResponse, SendError> {
    send(request, &Settings::default(), &Env::empty()).await
}

/// Sends and reads the whole body as text.
pub async fn text(request: &SendRequest, env: &Env) -> (SendResponse, String) {
    let mut resp = send(request, &Settings::default(), env)
        .await
        .unwrap_or_else(|e| panic!("send {}: {e}", request.url));
    let body = resp.bytes().await.unwrap();
    (resp, String::from_utf8_lossy(&body).into_owned())
}

/// A file holding `ca`'s certificate, for `extra_roots`.
pub struct Trust {
    pub file: PathBuf,
    _dir: tempfile::TempDir,
}

pub fn trust(ca: &TestCa) -> Trust {
    let dir = tempfile::tempdir().unwrap();
    Trust {
        file: ca.write_pem(dir.path()),
        _dir: dir,
    }
}

/// An origin for redirects on 127.0.0.1:
/// - `/hops/N`: 302 to `/hops/N-1`; `/hops/0` answers 200 `arrived`;
/// - `/see-other`: 303 to `/method`; `/temporary`: 307 to `/method`;
///   `/found`: 302 to `/method`;
/// - `/method`: 200 with `METHOD BODY-LENGTH`;
/// - `/elsewhere?to=URL`: 302 to URL;
/// - `/loop`: 302 to itself.
pub struct Redirector {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Redirector {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Redirector {
    pub async fn start() -> Redirector {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(redirect);
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(tcp), svc)
                        .await;
                });
            }
        });
        Redirector { addr, task }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.addr.port())
    }
}

async fn redirect(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let method = req.method().to_string();
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or("").to_owned();
    let body = req.into_body().collect().await.unwrap().to_bytes();
    let to = |status: u16, location: &str| {
        Response::builder()
            .status(status)
            .header("location", location)
            .body(Full::new(Bytes::from("redirecting")))
            .unwrap()
    };
    let resp = match path.as_str() {
        "/see-other" => to(303, "/method"),
        "/temporary" => to(307, "/method"),
        "/found" => to(302, "/method"),
        "/loop" => to(302, "/loop"),
        "/elsewhere" => to(302, query.strip_prefix("to=").unwrap_or("/")),
        "/method" => Response::new(Full::new(Bytes::from(format!("{method} {}", body.len())))),
        "/hops/0" => Response::new(Full::new(Bytes::from("arrived"))),
        p if p.starts_with("/hops/") => {
            let n: u32 = p["/hops/".len()..].parse().unwrap();
            to(302, &format!("/hops/{}", n - 1))
        }
        _ => Response::builder()
            .status(StatusCode::NOT_FOUND)
            .body(Full::new(Bytes::new()))
            .unwrap(),
    };
    Ok(resp)
}
