//! Hop-by-hop header hygiene (RFC 9110 section 7.6.1): headers that describe
//! one connection are not forwarded to the next.

use http::header::{self, HeaderMap, HeaderName};

/// Headers that never cross a proxy, whatever `Connection` says.
const HOP_BY_HOP: [&str; 7] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "trailer",
    "transfer-encoding",
];

/// Removes hop-by-hop headers, including every header that `Connection`
/// names. `Upgrade` goes too unless `keep_upgrade` (a WebSocket handshake
/// being relayed), in which case `Connection: upgrade` is put back.
pub fn strip_hop_by_hop(headers: &mut HeaderMap, keep_upgrade: bool) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named {
        if !(keep_upgrade && name == header::UPGRADE) {
            headers.remove(&name);
        }
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
    // `TE: trailers` is end-to-end in practice: gRPC servers refuse requests
    // without it, and HTTP/2 allows exactly that value (RFC 9113 8.2.2).
    let te_trailers_only = headers
        .get_all(header::TE)
        .iter()
        .all(|v| v.as_bytes().eq_ignore_ascii_case(b"trailers"));
    if !te_trailers_only {
        headers.remove(header::TE);
    }
    if keep_upgrade {
        headers.insert(
            header::CONNECTION,
            header::HeaderValue::from_static("upgrade"),
        );
    } else {
        headers.remove(header::UPGRADE);
    }
}

/// True when the request asks to switch protocols (a WebSocket handshake).
pub fn wants_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(header::UPGRADE)
        && headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        m
    }

    #[test]
    fn connection_listed_and_fixed_hop_headers_are_removed() {
        let mut h = map(&[
            ("connection", "keep-alive, x-secret-hop"),
            ("x-secret-hop", "1"),
            ("keep-alive", "timeout=5"),
            ("proxy-authorization", "Basic abc"),
            ("transfer-encoding", "chunked"),
            ("te", "gzip, trailers"),
            ("accept", "*/*"),
        ]);
        strip_hop_by_hop(&mut h, false);
        let names: Vec<_> = h.keys().map(|k| k.as_str()).collect();
        assert_eq!(names, ["accept"]);
    }

    #[test]
    fn te_trailers_alone_is_kept_for_grpc() {
        let mut h = map(&[("te", "trailers"), ("content-type", "application/grpc")]);
        strip_hop_by_hop(&mut h, false);
        assert_eq!(h.get("te").unwrap(), "trailers");
    }

    #[test]
    fn an_upgrade_being_relayed_keeps_upgrade_and_connection() {
        let mut h = map(&[
            ("connection", "Upgrade"),
            ("upgrade", "websocket"),
            ("sec-websocket-key", "k"),
        ]);
        assert!(wants_upgrade(&h));
        strip_hop_by_hop(&mut h, true);
        assert_eq!(h.get("upgrade").unwrap(), "websocket");
        assert_eq!(h.get("connection").unwrap(), "upgrade");
        assert_eq!(h.get("sec-websocket-key").unwrap(), "k");
    }

    #[test]
    fn upgrade_without_connection_upgrade_is_not_an_upgrade() {
        let mut h = map(&[("upgrade", "websocket")]);
        assert!(!wants_upgrade(&h));
        strip_hop_by_hop(&mut h, false);
        assert!(h.is_empty());
    }
}
