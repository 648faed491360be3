//! The smallest end-to-end check, kept as the harness's own test.
mod support;

use interpose_testsupport::Origin;
use support::Harness;

#[tokio::test]
async fn an_absolute_form_http_get_is_forwarded_and_captured() {
    let origin = Origin::http().await;
    let mut proxy = Harness::start().await;
    let resp = proxy
        .client()
        .get(origin.url("/hello"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), "hello from origin");
    let ex = proxy.next_exchange().await;
    assert_eq!(ex.request.method, "GET");
    assert_eq!(ex.request.url, origin.url("/hello"));
    assert_eq!(ex.response.as_ref().unwrap().status, 200);
    assert_eq!(ex.response.unwrap().body.bytes, b"hello from origin");
    assert_eq!(ex.session_id, 7);
}
