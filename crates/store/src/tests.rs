use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use interpose_capture::{Body, BodyOmitted, Exchange, Header, Request, Response, Timings};
use rusqlite::Connection;

use crate::schema::MIGRATIONS;
use crate::{spawn_writer, Query, Store, StoreError, SCHEMA_VERSION};

pub(crate) fn db_path(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("data").join("interpose.db")
}

pub(crate) fn simple(session_id: i64, url: &str) -> Exchange {
    Exchange {
        id: None,
        session_id,
        client_addr: "127.0.0.1:40000".into(),
        started_at_us: 1_700_000_000_000_000,
        timings: Timings {
            connect: None,
            tls: None,
            send: Some(1.0),
            wait: Some(2.0),
            receive: Some(0.5),
        },
        request: Request {
            method: "GET".into(),
            url: url.into(),
            http_version: "HTTP/1.1".into(),
            headers: vec![Header::new("Host", "example.test")],
            body: Body::default(),
        },
        response: Some(Response {
            status: 200,
            reason: "OK".into(),
            http_version: "HTTP/1.1".into(),
            headers: vec![Header::new("Content-Type", "text/plain")],
            body: Body::from_bytes(b"hello".to_vec()),
        }),
        error: None,
        rules: vec![],
        route: Some("direct".into()),
        websocket: false,
    }
}

/// Every field set, with the awkward cases: duplicate headers out of
/// alphabetical order, binary and gzip bodies, truncation, media omission,
/// phases that did not happen.
pub(crate) fn full() -> Exchange {
    let gzip_bytes = vec![0x1f, 0x8b, 0x08, 0x00, 0x00, 0xff, 0x00, 0x7f, 0x80];
    Exchange {
        id: None,
        session_id: 7,
        client_addr: "[::1]:53422".into(),
        started_at_us: 1_712_345_678_901_234,
        timings: Timings {
            connect: Some(3.25),
            tls: None,
            send: Some(0.125),
            wait: Some(41.5),
            receive: None,
        },
        request: Request {
            method: "POST".into(),
            url: "https://API.Example.test:8443/v1/items?q=1&q=2".into(),
            http_version: "HTTP/2.0".into(),
            headers: vec![
                Header::new("x-b", "2"),
                Header::new("Cookie", "a=1"),
                Header::new("x-a", "1"),
                Header::new("Cookie", "b=2"),
                Header::new("Content-Encoding", "gzip"),
            ],
            body: Body {
                bytes: gzip_bytes,
                size: 4096,
                truncated: true,
                omitted: None,
                encoding: Some("gzip".into()),
            },
        },
        response: Some(Response {
            status: 201,
            reason: "Created".into(),
            http_version: "HTTP/2.0".into(),
            headers: vec![
                Header::new("Set-Cookie", "s=1; Path=/"),
                Header::new("Content-Type", "Image/PNG; charset=binary"),
                Header::new("Set-Cookie", "t=2"),
            ],
            body: Body {
                bytes: vec![],
                size: 123_456,
                truncated: false,
                omitted: Some(BodyOmitted::Media),
                encoding: None,
            },
        }),
        error: None,
        rules: vec!["add-api-token".into(), "strip-server".into()],
        route: Some("via http://proxy.local:3128".into()),
        websocket: true,
    }
}

pub(crate) fn error_only() -> Exchange {
    Exchange {
        id: None,
        session_id: 7,
        client_addr: "127.0.0.1:1".into(),
        started_at_us: 5,
        timings: Timings {
            connect: Some(1.0),
            ..Timings::default()
        },
        request: Request {
            method: "GET".into(),
            url: "http://refused.test".into(),
            http_version: "HTTP/1.1".into(),
            headers: vec![],
            body: Body::default(),
        },
        response: None,
        error: Some("connection refused by refused.test:80".into()),
        rules: vec![],
        route: None,
        websocket: false,
    }
}

fn count(path: &Path) -> usize {
    Store::open(path)
        .unwrap()
        .summaries(&Query::default())
        .unwrap()
        .len()
}

#[test]
fn a_full_exchange_round_trips_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&db_path(&dir)).unwrap();
    let mut batch = [full()];
    store.insert(&mut batch).unwrap();
    let id = batch[0].id.expect("insert sets the id");

    let got = store.get(id).unwrap().expect("stored exchange is found");
    assert_eq!(got, batch[0]);
    // Spelled out, so a failure says which promise broke.
    let names: Vec<_> = got
        .request
        .headers
        .iter()
        .map(|h| h.name.as_str())
        .collect();
    assert_eq!(
        names,
        ["x-b", "Cookie", "x-a", "Cookie", "Content-Encoding"]
    );
    assert_eq!(got.request.body.bytes, full().request.body.bytes);
    assert_eq!(got.request.body.encoding.as_deref(), Some("gzip"));
    assert!(got.request.body.truncated);
    let resp = got.response.as_ref().unwrap();
    assert_eq!(resp.body.omitted, Some(BodyOmitted::Media));
    assert_eq!(resp.body.size, 123_456);
    assert_eq!(got.timings.tls, None);
    assert_eq!(got.timings.receive, None);
    assert_eq!(got.timings.connect, Some(3.25));

    let all = store.exchanges(&Query::default()).unwrap();
    assert_eq!(all, vec![batch[0].clone()]);
}

#[test]
fn bodies_either_side_of_the_inline_size_round_trip_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&db_path(&dir)).unwrap();
    let session = store.begin_session("proxy", "127.0.0.1:5555").unwrap();
    // Bound directly up to 64 KiB, written through a blob handle past it.
    let sizes = [1usize, 64 * 1024, 64 * 1024 + 1, 3 * 1024 * 1024];
    let pattern = |len: usize, seed: u8| -> Vec<u8> {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect()
    };
    let mut exchanges: Vec<Exchange> = sizes
        .iter()
        .map(|&len| {
            let mut e = simple(session, &format!("http://a.test/{len}"));
            e.request.body = Body::from_bytes(pattern(len, 1));
            e.response.as_mut().unwrap().body = Body::from_bytes(pattern(len, 2));
            e
        })
        .collect();
    store.insert(&mut exchanges).unwrap();
    for (e, &len) in exchanges.iter().zip(&sizes) {
        let back = store.get(e.id.unwrap()).unwrap().unwrap();
        assert!(
            back.request.body.bytes == pattern(len, 1),
            "request, {len} bytes"
        );
        let response = back.response.unwrap();
        assert!(
            response.body.bytes == pattern(len, 2),
            "response, {len} bytes"
        );
    }
}

#[test]
fn an_error_only_exchange_round_trips_without_a_response() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&db_path(&dir)).unwrap();
    let mut batch = [error_only()];
    store.insert(&mut batch).unwrap();
    let got = store.get(batch[0].id.unwrap()).unwrap().unwrap();
    assert_eq!(got, batch[0]);
    assert!(got.response.is_none());

    let summary = &store.summaries(&Query::default()).unwrap()[0];
    assert_eq!(summary.status, None);
    assert_eq!(summary.response_size, 0);
    assert_eq!(
        summary.error.as_deref(),
        Some("connection refused by refused.test:80")
    );
}

#[test]
fn get_of_an_unknown_id_is_none() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&db_path(&dir)).unwrap();
    assert!(store.get(42).unwrap().is_none());
}

#[test]
fn host_and_path_columns_are_lower_case_host_and_path_without_query() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&db_path(&dir)).unwrap();
    store.insert(&mut [full(), error_only()]).unwrap();
    let rows: Vec<(String, String)> = store
        .connection()
        .prepare("SELECT host, path FROM exchanges ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        rows,
        [
            ("api.example.test".to_string(), "/v1/items".to_string()),
            ("refused.test".to_string(), "/".to_string()),
        ]
    );
}

#[test]
fn summaries_carry_sizes_duration_and_plain_content_type() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&db_path(&dir)).unwrap();
    store.insert(&mut [full()]).unwrap();
    let s = &store.summaries(&Query::default()).unwrap()[0];
    assert_eq!(s.method, "POST");
    assert_eq!(s.status, Some(201));
    assert_eq!(s.request_size, 4096);
    assert_eq!(s.response_size, 123_456);
    assert_eq!(s.duration_ms, 3.25 + 0.125 + 41.5);
    assert_eq!(s.content_type.as_deref(), Some("image/png"));
    assert!(s.websocket);
    assert_eq!(s.session_id, 7);
}

#[test]
fn the_store_is_in_wal_mode() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    drop(Store::open(&path).unwrap());
    // Journal mode WAL is persistent: a plain connection sees it.
    let conn = Connection::open(&path).unwrap();
    let mode: String = conn
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

#[test]
fn user_version_equals_the_latest_migration() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&db_path(&dir)).unwrap();
    let version: i64 = store
        .connection()
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, MIGRATIONS.len() as i64);
    assert_eq!(version, SCHEMA_VERSION);
    assert!(version >= 1);
}

#[test]
fn reopening_does_not_rerun_migrations_and_keeps_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let (mut store, applied) = Store::open_counting(&path).unwrap();
    assert_eq!(applied, MIGRATIONS.len());
    let session = store.begin_session("proxy", "127.0.0.1:5555").unwrap();
    store
        .insert(&mut [simple(session, "http://a.test/")])
        .unwrap();
    drop(store);

    let (store, applied) = Store::open_counting(&path).unwrap();
    assert_eq!(applied, 0);
    assert_eq!(store.summaries(&Query::default()).unwrap().len(), 1);
    assert_eq!(store.sessions().unwrap().len(), 1);
}

#[test]
fn a_store_with_a_newer_schema_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    drop(Store::open(&path).unwrap());
    Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", 9)
        .unwrap();

    let err = Store::open(&path).unwrap_err();
    assert!(
        matches!(err, StoreError::TooNew { found: 9, supported, .. } if supported == SCHEMA_VERSION),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(msg.contains("schema version 9"), "{msg}");
    assert!(msg.contains("upgrade interpose"), "{msg}");
    // The writer refuses it the same way.
    assert!(matches!(
        spawn_writer(&path, 8),
        Err(StoreError::TooNew { .. })
    ));
}

#[test]
fn a_file_that_is_not_a_database_gives_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("interpose.db");
    std::fs::write(&path, vec![b'x'; 4096]).unwrap();
    let msg = Store::open(&path).unwrap_err().to_string();
    assert!(msg.starts_with("cannot open the store "), "{msg}");
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(msg.contains("move it aside"), "{msg}");
}

#[test]
fn the_writer_stores_all_1000_recorded_exchanges() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let (recorder, writer) = spawn_writer(&path, 2048).unwrap();
    for i in 0..1000 {
        let mut e = simple(1, &format!("http://a.test/{i}"));
        e.started_at_us = i;
        assert!(recorder.record(e), "record {i} was refused");
    }
    let stats = writer.finish().unwrap();
    assert_eq!(stats.written, 1000);
    assert_eq!(stats.dropped, 0);

    let store = Store::open(&path).unwrap();
    let all = store.exchanges(&Query::default()).unwrap();
    assert_eq!(all.len(), 1000);
    // In order of recording.
    assert!(all
        .iter()
        .enumerate()
        .all(|(i, e)| e.request.url == format!("http://a.test/{i}")));
}

#[test]
fn a_recorded_exchange_is_visible_to_another_connection_within_a_second() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let (recorder, writer) = spawn_writer(&path, 64).unwrap();
    let reader = Store::open(&path).unwrap();
    assert!(recorder.record(simple(1, "http://seen.test/")));

    let start = Instant::now();
    let mut seen = false;
    for _ in 0..50 {
        if !reader.summaries(&Query::default()).unwrap().is_empty() {
            seen = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(seen, "not visible after {:?}", start.elapsed());
    assert!(start.elapsed() < Duration::from_secs(1));
    // The writer is still running: visibility did not need finish().
    assert_eq!(writer.finish().unwrap().written, 1);
}

#[test]
fn a_full_channel_drops_and_counts_records_without_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let (recorder, writer) = spawn_writer(&path, 1).unwrap();

    // Block the writer: it cannot begin its transaction while we hold this.
    let blocker = Connection::open(&path).unwrap();
    blocker.execute_batch("BEGIN EXCLUSIVE").unwrap();

    let start = Instant::now();
    let mut accepted = 0u64;
    let mut refused = 0u64;
    for i in 0..200 {
        if recorder
            .clone()
            .record(simple(1, &format!("http://a.test/{i}")))
        {
            accepted += 1;
        } else {
            refused += 1;
        }
    }
    let recording = start.elapsed();
    std::thread::sleep(Duration::from_millis(200));
    // The writer really is blocked: nothing has been committed yet.
    assert_eq!(count(&path), 0);
    blocker.execute_batch("COMMIT").unwrap();

    assert!(
        recording < Duration::from_secs(2),
        "record blocked: {recording:?}"
    );
    assert!(refused > 0, "nothing was refused");
    assert!(accepted > 0, "nothing was accepted");
    assert_eq!(recorder.dropped(), refused);

    let stats = writer.finish().unwrap();
    assert_eq!(stats.written, accepted);
    assert_eq!(stats.dropped, refused);
    assert_eq!(count(&path) as u64, accepted);
}

#[test]
fn records_after_finish_are_dropped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let (recorder, writer) = spawn_writer(&path, 16).unwrap();
    assert!(recorder.record(simple(1, "http://before.test/")));
    let stats = writer.finish().unwrap();
    assert_eq!(stats.written, 1);
    assert!(!recorder.record(simple(1, "http://after.test/")));
    assert_eq!(recorder.dropped(), 1);
    assert_eq!(count(&path), 1);
}

#[test]
fn finish_inside_a_tokio_runtime_does_not_panic() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let stats = rt.block_on(async {
        let (recorder, writer) = spawn_writer(&path, 4).unwrap();
        for i in 0..20 {
            recorder.record(simple(1, &format!("http://a.test/{i}")));
        }
        writer.finish().unwrap()
    });
    assert_eq!(stats.written + stats.dropped, 20);
    assert_eq!(count(&path) as u64, stats.written);
}

#[test]
fn sessions_report_exchange_count_and_body_bytes_each() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&db_path(&dir)).unwrap();
    let a = store.begin_session("proxy", "127.0.0.1:5555").unwrap();
    let b = store.begin_session("import", "dump.har").unwrap();
    let empty = store.begin_session("bridge", "chromium").unwrap();
    let mut with_req_body = simple(a, "http://a.test/");
    with_req_body.request.body = Body::from_bytes(vec![1; 10]);
    store
        .insert(&mut [
            with_req_body,
            simple(a, "http://a.test/2"),
            simple(b, "http://b.test/"),
        ])
        .unwrap();
    let mut e = error_only();
    e.session_id = b;
    store.insert(&mut [e]).unwrap();
    store.end_session(a, 3).unwrap();

    let sessions = store.sessions().unwrap();
    assert_eq!(sessions.len(), 3);
    let by_id = |id| sessions.iter().find(|s| s.session.id == id).unwrap();
    // a: 10 request bytes + 5 + 5 response bytes
    assert_eq!((by_id(a).exchanges, by_id(a).bytes), (2, 20));
    assert_eq!((by_id(b).exchanges, by_id(b).bytes), (2, 5));
    assert_eq!((by_id(empty).exchanges, by_id(empty).bytes), (0, 0));
    assert_eq!(by_id(a).session.dropped, 3);
    assert!(by_id(a).session.ended_at_us.is_some());
    assert!(by_id(b).session.ended_at_us.is_none());
    assert_eq!(by_id(b).session.source, "import");
    assert_eq!(by_id(b).session.detail, "dump.har");
    assert!(by_id(a).session.started_at_us > 1_600_000_000_000_000);
}

#[test]
fn summaries_honour_limit_order_and_session() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&db_path(&dir)).unwrap();
    let mut batch: Vec<Exchange> = (0..10)
        .map(|i| {
            simple(
                if i % 2 == 0 { 1 } else { 2 },
                &format!("http://a.test/{i}"),
            )
        })
        .collect();
    store.insert(&mut batch).unwrap();
    let ids: Vec<i64> = batch.iter().map(|e| e.id.unwrap()).collect();
    let got = |q: Query| -> Vec<i64> {
        store
            .summaries(&q)
            .unwrap()
            .into_iter()
            .map(|s| s.id)
            .collect()
    };

    assert_eq!(got(Query::default()), ids);
    assert_eq!(
        got(Query {
            limit: Some(3),
            ..Query::default()
        }),
        ids[..3]
    );
    assert_eq!(
        got(Query {
            limit: Some(3),
            newest_first: true,
            ..Query::default()
        }),
        [ids[9], ids[8], ids[7]]
    );
    assert_eq!(
        got(Query {
            session: Some(2),
            limit: Some(2),
            newest_first: true,
            ..Query::default()
        }),
        [ids[9], ids[7]]
    );
    assert_eq!(
        got(Query {
            session: Some(1),
            ..Query::default()
        }),
        [ids[0], ids[2], ids[4], ids[6], ids[8]]
    );

    // exchanges() follows the same rules.
    let full: Vec<i64> = store
        .exchanges(&Query {
            limit: Some(2),
            newest_first: true,
            ..Query::default()
        })
        .unwrap()
        .into_iter()
        .map(|e| e.id.unwrap())
        .collect();
    assert_eq!(full, [ids[9], ids[8]]);
}

#[test]
fn clear_deletes_all_exchanges_and_sessions_and_counts_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&db_path(&dir)).unwrap();
    let s = store.begin_session("proxy", "x").unwrap();
    let mut batch = [full(), simple(s, "http://a.test/"), error_only()];
    store.insert(&mut batch).unwrap();

    assert_eq!(store.clear().unwrap(), 3);
    assert!(store.summaries(&Query::default()).unwrap().is_empty());
    assert!(store.sessions().unwrap().is_empty());
    let bodies: i64 = store
        .connection()
        .query_row("SELECT COUNT(*) FROM bodies", [], |r| r.get(0))
        .unwrap();
    assert_eq!(bodies, 0);
    assert_eq!(store.clear().unwrap(), 0);

    // Ids of cleared exchanges are not handed out again.
    let mut again = [simple(1, "http://a.test/")];
    store.insert(&mut again).unwrap();
    assert!(again[0].id.unwrap() > batch[2].id.unwrap());
}
