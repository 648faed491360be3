//! What survives the end of `interpose capture`: SIGKILL loses nothing that
//! completed a second earlier; SIGTERM and SIGINT finish what is in flight,
//! flush, end the session and exit 0.

mod support;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use interpose_testsupport::Origin;
use support::{DataDir, Signal};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_loses_no_exchange_completed_a_second_earlier() {
    let data = DataDir::new();
    let origin = Origin::http().await;
    let mut capture = data.capture(&["--quiet"]);
    assert_eq!(capture.session, Some(1));
    let client = capture.client();

    let urls: Vec<String> = (0..20)
        .map(|i| origin.url(&format!("/echo?n={i}")))
        .collect();
    for url in &urls {
        let resp = client.get(url).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        resp.bytes().await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    capture.signal(Signal::KILL);
    assert!(
        capture.wait_exit(Duration::from_secs(10)).is_some(),
        "capture did not die from SIGKILL"
    );

    let rows = data.history();
    for url in &urls {
        assert_eq!(
            support::rows_with_url(&rows, url).len(),
            1,
            "{url} lost by SIGKILL; stored: {rows:#?}"
        );
    }
    assert_eq!(rows.len(), 20);

    // The data dir still works: a new run is session 2 and records.
    let again = data.capture(&["--quiet"]);
    assert_eq!(again.session, Some(2), "{:?}", again.first_lines);
    let url = origin.url("/hello");
    let resp = again.client().get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let rows = data.wait_for_history(Duration::from_secs(5), "the session 2 exchange", |rows| {
        rows.len() == 21
    });
    assert_eq!(support::rows_with_url(&rows, &url)[0]["session_id"], 2);
}

/// Starts a `/slow/1500` request, sends `signal` once the origin has it,
/// and checks the graceful stop.
async fn stops_gracefully_on(signal: Signal) {
    let data = DataDir::new();
    let origin = Origin::http().await;
    let mut capture = data.capture(&[]);
    let session = capture.session.expect("recording");
    let client = capture.client();

    let url = origin.url("/slow/1500");
    let in_flight = tokio::spawn({
        let url = url.clone();
        async move {
            let resp = client.get(&url).send().await?;
            let status = resp.status();
            let body = resp.text().await?;
            Ok::<_, reqwest::Error>((status, body))
        }
    });
    let deadline = Instant::now() + Duration::from_secs(5);
    while origin.hits.load(Ordering::SeqCst) == 0 {
        assert!(
            Instant::now() < deadline,
            "the origin never got the request"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let status = capture.stop(signal, Duration::from_secs(10));
    assert_eq!(
        status.code(),
        Some(0),
        "graceful stop exits 0; stderr: {}",
        capture.stderr()
    );

    let (code, body) = tokio::time::timeout(Duration::from_secs(5), in_flight)
        .await
        .expect("the in-flight response arrived")
        .unwrap()
        .expect("the in-flight request completed");
    assert_eq!(code, 200);
    assert_eq!(body, "slow");

    let rows = data.history();
    let found = support::rows_with_url(&rows, &url);
    assert_eq!(
        found.len(),
        1,
        "the in-flight exchange was stored: {rows:#?}"
    );
    assert_eq!(found[0]["status"], 200);

    let sessions = data.sessions();
    let row = sessions
        .iter()
        .find(|s| s["id"] == session)
        .unwrap_or_else(|| panic!("session {session} listed: {sessions:#?}"));
    assert!(
        row["ended_at_us"].as_i64().is_some(),
        "the session has an end time: {row:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_the_exchange_in_flight_and_exits_0() {
    stops_gracefully_on(Signal::TERM).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_finishes_the_exchange_in_flight_and_exits_0() {
    stops_gracefully_on(Signal::INT).await;
}
