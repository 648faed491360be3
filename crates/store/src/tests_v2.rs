//! Collections, the cookie jar, session breakdowns and the reads added with
//! schema version 2.

use interpose_capture::{Body, Header};
use rusqlite::Connection;

use super::tests::{db_path, error_only, simple};
use crate::schema::MIGRATIONS;
use crate::store::now_us;
use crate::{spawn_writer, ExchangeSummary, Query, Store, NO_CONTENT_TYPE, NO_STATUS};

fn urls(store: &Store, q: &Query) -> Vec<String> {
    store
        .summaries(q)
        .unwrap()
        .into_iter()
        .map(|s| s.url)
        .collect()
}

#[test]
fn a_version_1_store_is_migrated_keeping_its_sessions_and_exchanges() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    {
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(MIGRATIONS[0]).unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        conn.execute(
            "INSERT INTO sessions (started_at_us, source, detail) VALUES (1, 'proxy', 'old')",
            [],
        )
        .unwrap();
    }
    let (mut store, applied) = Store::open_counting(&path).unwrap();
    assert_eq!(applied, MIGRATIONS.len() - 1);
    let sessions = store.sessions().unwrap();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].session.detail, "old");
    assert_eq!(sessions[0].session.collection, None);
    store
        .insert(&mut [simple(sessions[0].session.id, "http://a.test/")])
        .unwrap();
    assert!(store.collections().unwrap().is_empty());
    assert!(store.cookies(None).unwrap().is_empty());
}

#[test]
fn open_collection_creates_once_and_reorganizes_only_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&db_path(&dir)).unwrap();
    let (c, created) = store.open_collection("shop", None).unwrap();
    assert!(created);
    assert_eq!((c.name.as_str(), c.organize_by.as_str()), ("shop", "none"));
    let (again, created) = store.open_collection("shop", None).unwrap();
    assert!(!created);
    assert_eq!(again, c, "same collection, same organization");
    let (re, created) = store.open_collection("shop", Some("domain")).unwrap();
    assert!(!created);
    assert_eq!((re.id, re.organize_by.as_str()), (c.id, "domain"));
    let (other, created) = store
        .open_collection("api", Some("domain,endpoint"))
        .unwrap();
    assert!(created);
    assert_eq!(other.organize_by, "domain,endpoint");
    assert_eq!(store.collection("shop").unwrap(), Some(re));
    assert_eq!(store.collection("nope").unwrap(), None);
}

#[test]
fn a_collection_holds_the_exchanges_of_every_session_saved_to_it_in_capture_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&db_path(&dir)).unwrap();
    let (shop, _) = store.open_collection("shop", None).unwrap();
    let first = store
        .begin_session_in("proxy", "127.0.0.1:1", Some(shop.id))
        .unwrap();
    let plain = store.begin_session("proxy", "127.0.0.1:2").unwrap();
    let second = store
        .begin_session_in("proxy", "127.0.0.1:3", Some(shop.id))
        .unwrap();
    store
        .insert(&mut [
            simple(first, "http://a.test/1"),
            simple(plain, "http://a.test/history-only"),
            simple(second, "http://a.test/2"),
            simple(first, "http://a.test/3"),
        ])
        .unwrap();
    let q = Query {
        collection: Some(shop.id),
        ..Query::default()
    };
    assert_eq!(
        urls(&store, &q),
        ["http://a.test/1", "http://a.test/2", "http://a.test/3"]
    );
    let full: Vec<String> = store
        .exchanges(&q)
        .unwrap()
        .into_iter()
        .map(|e| e.request.url)
        .collect();
    assert_eq!(full, urls(&store, &q));
    // Collection and session together narrow further.
    let q = Query {
        collection: Some(shop.id),
        session: Some(first),
        limit: Some(1),
        newest_first: true,
    };
    assert_eq!(urls(&store, &q), ["http://a.test/3"]);
    // Everything is in the history.
    assert_eq!(urls(&store, &Query::default()).len(), 4);

    let sessions = store.sessions().unwrap();
    let collection_of = |id| {
        sessions
            .iter()
            .find(|s| s.session.id == id)
            .unwrap()
            .session
            .collection
            .clone()
    };
    assert_eq!(collection_of(first).as_deref(), Some("shop"));
    assert_eq!(collection_of(plain), None);
}

#[test]
fn collections_list_by_name_with_sessions_exchanges_and_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&db_path(&dir)).unwrap();
    let (b, _) = store.open_collection("b", Some("endpoint")).unwrap();
    let (a, _) = store.open_collection("a", None).unwrap();
    let s1 = store.begin_session_in("proxy", "x", Some(b.id)).unwrap();
    let s2 = store.begin_session_in("proxy", "x", Some(b.id)).unwrap();
    store
        .insert(&mut [simple(s1, "http://a.test/"), simple(s2, "http://a.test/")])
        .unwrap();
    let list = store.collections().unwrap();
    let names: Vec<&str> = list.iter().map(|c| c.collection.name.as_str()).collect();
    assert_eq!(names, ["a", "b"]);
    assert_eq!(
        (list[0].sessions, list[0].exchanges, list[0].bytes),
        (0, 0, 0)
    );
    assert_eq!(
        (list[1].sessions, list[1].exchanges, list[1].bytes),
        (2, 2, 10)
    );
    assert_eq!(list[1].collection.organize_by, "endpoint");
    assert_eq!(list[0].collection.id, a.id);
}

#[test]
fn deleting_a_collection_keeps_its_exchanges_in_the_history() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&db_path(&dir)).unwrap();
    let (c, _) = store.open_collection("gone", None).unwrap();
    let s = store.begin_session_in("proxy", "x", Some(c.id)).unwrap();
    store.insert(&mut [simple(s, "http://a.test/")]).unwrap();
    assert!(store.delete_collection("gone").unwrap());
    assert!(!store.delete_collection("gone").unwrap());
    assert!(store.collections().unwrap().is_empty());
    assert_eq!(urls(&store, &Query::default()), ["http://a.test/"]);
    assert_eq!(store.sessions().unwrap()[0].session.collection, None);
    // A new collection of the same name starts empty.
    let (fresh, created) = store.open_collection("gone", None).unwrap();
    assert!(created);
    let q = Query {
        collection: Some(fresh.id),
        ..Query::default()
    };
    assert!(urls(&store, &q).is_empty());
}

#[test]
fn a_session_detail_can_be_set_after_it_began() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&db_path(&dir)).unwrap();
    let s = store.begin_session("proxy", "127.0.0.1:0").unwrap();
    store.set_session_detail(s, "127.0.0.1:40123").unwrap();
    assert_eq!(
        store.sessions().unwrap()[0].session.detail,
        "127.0.0.1:40123"
    );
    // A session cleared meanwhile is no error.
    store.clear().unwrap();
    store.set_session_detail(s, "x").unwrap();
}

#[test]
fn session_breakdowns_count_methods_domains_types_and_statuses_per_session() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&db_path(&dir)).unwrap();
    let a = store.begin_session("proxy", "x").unwrap();
    let b = store.begin_session("proxy", "y").unwrap();
    let empty = store.begin_session("proxy", "z").unwrap();
    let mut post = simple(a, "http://API.a.test:8080/x");
    post.request.method = "POST".into();
    let mut missing = simple(a, "http://b.test/");
    missing.response.as_mut().unwrap().status = 404;
    missing.response.as_mut().unwrap().headers = vec![Header::new(
        "Content-Type",
        "application/json; charset=utf-8",
    )];
    let mut untyped = simple(b, "http://b.test/");
    untyped.response.as_mut().unwrap().headers.clear();
    let mut refused = error_only();
    refused.session_id = a;
    store
        .insert(&mut [
            simple(a, "http://api.a.test/"),
            post,
            missing,
            refused,
            untyped,
        ])
        .unwrap();

    let all = store.session_breakdowns().unwrap();
    let ba = &all[&a];
    let pairs = |m: &std::collections::BTreeMap<String, u64>| {
        m.iter().map(|(k, v)| (k.clone(), *v)).collect::<Vec<_>>()
    };
    let p = |v: &[(&str, u64)]| {
        v.iter()
            .map(|(k, n)| (k.to_string(), *n))
            .collect::<Vec<_>>()
    };
    assert_eq!(pairs(&ba.methods), p(&[("GET", 3), ("POST", 1)]));
    assert_eq!(
        pairs(&ba.domains),
        p(&[("api.a.test", 2), ("b.test", 1), ("refused.test", 1)])
    );
    assert_eq!(
        pairs(&ba.content_types),
        p(&[
            ("application/json", 1),
            (NO_CONTENT_TYPE, 1),
            ("text/plain", 2)
        ])
    );
    assert_eq!(
        pairs(&ba.statuses),
        p(&[("200", 2), ("404", 1), (NO_STATUS, 1)])
    );
    let bb = &all[&b];
    assert_eq!(pairs(&bb.content_types), p(&[(NO_CONTENT_TYPE, 1)]));
    assert!(!all.contains_key(&empty));
    assert_eq!(store.session_breakdown(b).unwrap(), *bb);
    assert_eq!(store.session_breakdown(empty).unwrap(), Default::default());
}

#[test]
fn reading_without_bodies_keeps_sizes_and_headers_but_no_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&db_path(&dir)).unwrap();
    let mut e = simple(1, "http://a.test/");
    e.request.body = Body::from_bytes(b"request".to_vec());
    store.insert(&mut [e]).unwrap();
    let mut seen = Vec::new();
    store
        .for_each_exchange(&Query::default(), false, |ex| seen.push(ex))
        .unwrap();
    assert_eq!(seen.len(), 1);
    let ex = &seen[0];
    assert!(ex.request.body.bytes.is_empty());
    assert_eq!(ex.request.body.size, 7);
    let resp = ex.response.as_ref().unwrap();
    assert!(resp.body.bytes.is_empty());
    assert_eq!(resp.body.size, 5);
    assert_eq!(resp.headers, [Header::new("Content-Type", "text/plain")]);
    let mut with = Vec::new();
    store
        .for_each_exchange(&Query::default(), true, |ex| with.push(ex))
        .unwrap();
    assert_eq!(with[0].response.as_ref().unwrap().body.bytes, b"hello");
}

#[test]
fn a_summary_of_a_full_exchange_is_the_stored_summary() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&db_path(&dir)).unwrap();
    store
        .insert(&mut [super::tests::full(), error_only()])
        .unwrap();
    let listed = store.summaries(&Query::default()).unwrap();
    let made: Vec<ExchangeSummary> = store
        .exchanges(&Query::default())
        .unwrap()
        .iter()
        .map(ExchangeSummary::of)
        .collect();
    assert_eq!(
        serde_json::to_value(&made).unwrap(),
        serde_json::to_value(&listed).unwrap()
    );
}

fn with_set_cookies(
    url: &str,
    started_at_us: i64,
    cookies: &[&str],
) -> interpose_capture::Exchange {
    let mut e = simple(1, url);
    e.started_at_us = started_at_us;
    let resp = e.response.as_mut().unwrap();
    for c in cookies {
        resp.headers.push(Header::new("Set-Cookie", *c));
    }
    e
}

#[test]
fn the_writer_puts_set_cookie_headers_into_the_jar() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let now = now_us();
    let (recorder, writer) = spawn_writer(&path, 16).unwrap();
    recorder.record(with_set_cookies(
        "https://shop.example.test/cart/add",
        now,
        &[
            "sid=one; HttpOnly; Secure; SameSite=Lax",
            "pref=dark; Domain=example.test; Path=/; Max-Age=3600",
            "evil=1; Domain=other.test",
            "old=1; Path=/",
        ],
    ));
    let stats = writer.finish().unwrap();
    assert_eq!(stats.written, 1);

    let store = Store::open(&path).unwrap();
    let jar = store.cookies(None).unwrap();
    let keys: Vec<(&str, &str, &str)> = jar
        .iter()
        .map(|c| {
            (
                c.cookie.domain.as_str(),
                c.cookie.path.as_str(),
                c.cookie.name.as_str(),
            )
        })
        .collect();
    assert_eq!(
        keys,
        [
            ("example.test", "/", "pref"),
            ("shop.example.test", "/", "old"),
            ("shop.example.test", "/cart", "sid"),
        ]
    );
    let sid = &jar[2];
    assert!(sid.cookie.host_only && sid.cookie.secure && sid.cookie.http_only);
    assert_eq!(sid.cookie.same_site.as_deref(), Some("Lax"));
    assert_eq!(sid.cookie.expires_at_us, None);
    assert_eq!(sid.created_at_us, now);
    let pref = &jar[0];
    assert!(!pref.cookie.host_only);
    assert_eq!(pref.cookie.expires_at_us, Some(now + 3_600_000_000));

    // A later response replaces (keeping the creation time) and removes.
    let (recorder, writer) = spawn_writer(&path, 16).unwrap();
    recorder.record(with_set_cookies(
        "https://shop.example.test/cart/remove",
        now + 5,
        &["sid=two; Path=/cart", "old=; Path=/; Max-Age=0"],
    ));
    writer.finish().unwrap();
    let jar = store.cookies(None).unwrap();
    let names: Vec<&str> = jar.iter().map(|c| c.cookie.name.as_str()).collect();
    assert_eq!(names, ["pref", "sid"]);
    let sid = &jar[1];
    assert_eq!(sid.cookie.value, "two");
    assert_eq!(sid.created_at_us, now, "creation time kept on replace");
    assert_eq!(sid.last_seen_us, now + 5);
    assert!(!sid.cookie.http_only, "the flags are the new header's");
}

#[test]
fn expired_cookies_are_not_listed() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let long_ago = 1_000_000_000_000_000; // 2001
    let (recorder, writer) = spawn_writer(&path, 16).unwrap();
    // Valid for an hour from a response in 2001: expired now.
    recorder.record(with_set_cookies(
        "http://a.test/",
        long_ago,
        &["stale=1; Max-Age=3600", "fresh=1"],
    ));
    writer.finish().unwrap();
    let store = Store::open(&path).unwrap();
    let names: Vec<String> = store
        .cookies(None)
        .unwrap()
        .into_iter()
        .map(|c| c.cookie.name)
        .collect();
    assert_eq!(names, ["fresh"]);
}

#[test]
fn listing_by_domain_includes_subdomains_but_not_lookalikes() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let now = now_us();
    let (recorder, writer) = spawn_writer(&path, 16).unwrap();
    for url in [
        "http://example.test/",
        "http://api.example.test/",
        "http://deep.api.example.test/",
        "http://badexample.test/",
        "http://example.test.evil/",
    ] {
        recorder.record(with_set_cookies(url, now, &["c=1"]));
    }
    writer.finish().unwrap();
    let store = Store::open(&path).unwrap();
    let domains = |d: Option<&str>| -> Vec<String> {
        store
            .cookies(d)
            .unwrap()
            .into_iter()
            .map(|c| c.cookie.domain)
            .collect()
    };
    assert_eq!(
        domains(Some("Example.TEST")),
        ["api.example.test", "deep.api.example.test", "example.test"]
    );
    assert_eq!(
        domains(Some(".example.test")),
        domains(Some("example.test"))
    );
    assert_eq!(
        domains(Some("api.example.test")),
        ["api.example.test", "deep.api.example.test"]
    );
    assert_eq!(domains(Some("test")).len(), 4);
    assert_eq!(domains(None).len(), 5);
    assert_eq!(domains(Some("nothing.test")), Vec::<String>::new());

    assert_eq!(store.clear_cookies().unwrap(), 5);
    assert!(domains(None).is_empty());
}

#[test]
fn history_clear_leaves_collections_and_the_jar() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let (recorder, writer) = spawn_writer(&path, 16).unwrap();
    recorder.record(with_set_cookies("http://a.test/", now_us(), &["c=1"]));
    writer.finish().unwrap();
    let store = Store::open(&path).unwrap();
    store.open_collection("kept", Some("domain")).unwrap();
    assert_eq!(store.clear().unwrap(), 1);
    assert_eq!(store.collections().unwrap().len(), 1);
    assert_eq!(store.cookies(None).unwrap().len(), 1);
}

#[test]
fn importing_through_insert_leaves_the_jar_alone() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&db_path(&dir)).unwrap();
    store
        .insert(&mut [with_set_cookies("http://a.test/", now_us(), &["c=1"])])
        .unwrap();
    assert!(store.cookies(None).unwrap().is_empty());
}
