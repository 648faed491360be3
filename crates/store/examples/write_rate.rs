//! How fast the writer stores typical small exchanges (a 1 KB GET), alone:
//! `cargo run --release -p interpose-store --example write_rate`. The
//! proxy's capture cost per exchange is this plus building the record.
use std::time::Instant;

use interpose_capture::{Body, Exchange, Header, Request, Response, Timings};
use interpose_store::{spawn_writer, Store};

fn exchange(session: i64, i: usize) -> Exchange {
    Exchange {
        id: None,
        session_id: session,
        client_addr: "127.0.0.1:50000".into(),
        started_at_us: 1_700_000_000_000_000 + i as i64,
        timings: Timings {
            connect: None,
            tls: None,
            send: Some(0.01),
            wait: Some(0.2),
            receive: Some(0.01),
        },
        request: Request {
            method: "GET".into(),
            url: format!("http://127.0.0.1:8080/bytes/1024?i={i}"),
            http_version: "HTTP/1.1".into(),
            headers: vec![
                Header::new("host", "127.0.0.1:8080"),
                Header::new("user-agent", "oha/1.16.0"),
                Header::new("accept", "*/*"),
            ],
            body: Body::default(),
        },
        response: Some(Response {
            status: 200,
            reason: "OK".into(),
            http_version: "HTTP/1.1".into(),
            headers: vec![
                Header::new("content-type", "application/octet-stream"),
                Header::new("content-length", "1024"),
                Header::new("date", "Tue, 24 Nov 2026 22:00:00 GMT"),
            ],
            body: Body::from_bytes(vec![b'x'; 1024]),
        }),
        error: None,
        rules: vec![],
        route: Some("direct".into()),
        websocket: false,
    }
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("interpose.db");
    let store = Store::open(&path).unwrap();
    let session = store.begin_session_in("proxy", "x", None).unwrap();
    let (recorder, writer) = spawn_writer(&path, 1 << 20).unwrap();
    let n = 100_000;
    let made: Vec<Exchange> = (0..n).map(|i| exchange(session, i)).collect();
    let t = Instant::now();
    for e in made {
        assert!(recorder.record(e));
    }
    let stats = writer.finish().unwrap();
    let el = t.elapsed();
    println!(
        "{} written in {:?}: {:.2} us/exchange",
        stats.written,
        el,
        el.as_secs_f64() * 1e6 / n as f64
    );
}
