//! WebSocket through the proxy: the handshake is captured as a 101
//! exchange, then frames flow both ways, plain or inside intercepted TLS,
//! until either side closes.
mod support;

use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use interpose_capture::Exchange;
use interpose_testsupport::{Origin, Protocols};
use rustls_pki_types::ServerName;
use support::{read_head, within, Harness};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt as _};
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::{Bytes, Message};
use tokio_tungstenite::WebSocketStream;

/// Sends a text and a binary message and expects each echoed back.
async fn assert_echoes<S: AsyncRead + AsyncWrite + Unpin>(ws: &mut WebSocketStream<S>) {
    let binary = Bytes::from_static(&[0, 1, 2, 0xfe, 0xff]);
    for msg in [
        Message::text("hello through interpose"),
        Message::Binary(binary),
    ] {
        within("sending a message", ws.send(msg.clone()))
            .await
            .unwrap();
        let echoed = within("the echo", ws.next())
            .await
            .expect("the stream is open")
            .unwrap();
        assert_eq!(echoed, msg);
    }
}

fn assert_handshake_captured(ex: &Exchange, url: &str) {
    assert_eq!(ex.request.method, "GET");
    assert_eq!(ex.request.url, url);
    assert!(ex.websocket, "marked as a WebSocket");
    let response = ex.response.as_ref().expect("the 101 is recorded");
    assert_eq!(response.status, 101);
    assert_eq!(
        interpose_capture::header_value(&response.headers, "upgrade"),
        Some("websocket")
    );
    assert_eq!(ex.error, None);
}

#[tokio::test]
async fn a_websocket_through_a_connect_tunnel_to_a_plain_origin_echoes_and_is_captured() {
    let origin = Origin::http().await;
    let mut proxy = Harness::start().await;
    let authority = format!("127.0.0.1:{}", origin.port());
    let tunnel = proxy.connect_tunnel(&authority).await;
    let (mut ws, resp) = within(
        "the WebSocket handshake",
        tokio_tungstenite::client_async(format!("ws://{authority}/ws"), tunnel),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), 101);
    assert_echoes(&mut ws).await;
    within("closing", ws.close(None)).await.unwrap();

    let ex = proxy.next_exchange().await;
    assert_handshake_captured(&ex, &format!("http://{authority}/ws"));
}

#[tokio::test]
async fn a_websocket_inside_intercepted_tls_echoes_and_is_captured() {
    let mut proxy = Harness::start().await;
    // The origin offers h2 too: the proxy must still reach it over HTTP/1.1
    // to relay the upgrade.
    let origin = Origin::https(&proxy.test_ca, Protocols::Both).await;
    let authority = format!("localhost:{}", origin.port());
    let tunnel = proxy.connect_tunnel(&authority).await;
    let tls = within(
        "TLS handshake with interpose",
        proxy
            .interpose_tls(&[b"http/1.1"])
            .connect(ServerName::try_from("localhost").unwrap(), tunnel),
    )
    .await
    .unwrap();
    let (mut ws, resp) = within(
        "the WebSocket handshake",
        tokio_tungstenite::client_async(format!("wss://{authority}/ws"), tls),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), 101);
    assert_echoes(&mut ws).await;
    within("closing", ws.close(None)).await.unwrap();

    let ex = proxy.next_exchange().await;
    assert_handshake_captured(&ex, &format!("https://{authority}/ws"));
    assert_eq!(origin.seen()[0].version, http::Version::HTTP_11);
}

#[tokio::test]
async fn an_absolute_form_websocket_upgrade_without_connect_echoes() {
    let origin = Origin::http().await;
    let mut proxy = Harness::start().await;
    let authority = format!("127.0.0.1:{}", origin.port());
    let mut tcp = proxy.tcp().await;
    let handshake = format!(
        "GET http://{authority}/ws HTTP/1.1\r\n\
         Host: {authority}\r\n\
         Upgrade: websocket\r\n\
         Connection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\n\r\n"
    );
    within("writing the handshake", tcp.write_all(handshake.as_bytes()))
        .await
        .unwrap();
    let (status, headers) = read_head(&mut tcp).await;
    assert_eq!(status, 101, "{headers:?}");
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.to_ascii_lowercase())
    };
    assert_eq!(header("upgrade").as_deref(), Some("websocket"));
    assert_eq!(header("connection").as_deref(), Some("upgrade"));
    // RFC 6455's own example key and answer: the origin's, passed on.
    assert_eq!(
        header("sec-websocket-accept").as_deref(),
        Some("s3pplmbitxaq9kygzzhzrbk+xoo=")
    );

    let mut ws = WebSocketStream::from_raw_socket(tcp, Role::Client, None).await;
    assert_echoes(&mut ws).await;
    within("closing", ws.close(None)).await.unwrap();

    let ex = proxy.next_exchange().await;
    assert_handshake_captured(&ex, &format!("http://{authority}/ws"));
}

#[tokio::test]
async fn frames_flow_both_ways_until_the_client_closes_cleanly() {
    let origin = Origin::http().await;
    let proxy = Harness::start().await;
    let authority = format!("127.0.0.1:{}", origin.port());
    let tunnel = proxy.connect_tunnel(&authority).await;
    let (mut ws, _) = within(
        "the WebSocket handshake",
        tokio_tungstenite::client_async(format!("ws://{authority}/ws"), tunnel),
    )
    .await
    .unwrap();

    // Several frames in flight at once, then their echoes in order.
    let sent: Vec<Message> = (0..20)
        .map(|i| {
            if i % 2 == 0 {
                Message::text(format!("frame {i}"))
            } else {
                Message::binary(vec![i as u8; 1000 * i])
            }
        })
        .collect();
    for msg in &sent {
        within("sending", ws.feed(msg.clone())).await.unwrap();
    }
    within("flushing", ws.flush()).await.unwrap();
    for msg in &sent {
        let echoed = within("an echo", ws.next()).await.unwrap().unwrap();
        assert_eq!(&echoed, msg);
    }

    // The client closes; the origin's close frame comes back through the
    // proxy and then the stream ends.
    within("sending Close", ws.close(None)).await.unwrap();
    let mut saw_close = false;
    while let Some(msg) = within("the closing handshake", ws.next()).await {
        match msg {
            Ok(Message::Close(_)) => saw_close = true,
            Ok(other) => panic!("unexpected message after Close: {other:?}"),
            Err(e) => panic!("the stream did not end cleanly: {e}"),
        }
    }
    assert!(saw_close, "the origin's Close frame came through");
}

#[tokio::test]
async fn when_the_origin_goes_away_the_client_sees_its_websocket_end() {
    let origin = Origin::http().await;
    let proxy = Harness::start().await;
    let authority = format!("127.0.0.1:{}", origin.port());
    let tunnel = proxy.connect_tunnel(&authority).await;
    let (mut ws, _) = within(
        "the WebSocket handshake",
        tokio_tungstenite::client_async(format!("ws://{authority}/ws"), tunnel),
    )
    .await
    .unwrap();
    assert_echoes(&mut ws).await;

    // Stopping the origin drops its end of the connection.
    drop(origin);
    let end = tokio::time::timeout(Duration::from_secs(3), ws.next()).await;
    let end = end.expect("the proxy passed the origin's close on within 3 s");
    assert!(
        matches!(end, None | Some(Err(_))),
        "the stream ended, not another message: {end:?}"
    );
}

#[tokio::test]
async fn a_websocket_through_reverse_mode_reaches_a_target_and_is_captured() {
    let origin = Origin::http().await;
    let target = format!("http://127.0.0.1:{}", origin.port());
    let mut proxy = Harness::with(|c| {
        c.reverse = Some(interpose_proxy::ReverseConfig {
            targets: vec![interpose_proxy::ReverseTarget::parse(&target).unwrap()],
            backoff: Duration::from_secs(60),
            certificate: None,
        })
    })
    .await;
    let tcp = tokio::net::TcpStream::connect(proxy.addr).await.unwrap();
    let (mut ws, resp) = within(
        "the WebSocket handshake",
        tokio_tungstenite::client_async(format!("ws://{}/ws", proxy.addr), tcp),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), 101);
    assert_echoes(&mut ws).await;
    let ex = proxy.next_exchange().await;
    assert_handshake_captured(&ex, &origin.url("/ws"));
}
