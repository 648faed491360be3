//! What the first bytes of a CONNECT tunnel are: decided without IO so it
//! can be tested byte by byte.

/// What a tunnel carries, judged from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TunnelKind {
    /// A TLS ClientHello: intercept it.
    Tls,
    /// An HTTP/1.x request line: parse it as HTTP.
    Http,
    /// Anything else: pass it through byte for byte.
    Opaque,
}

/// Longest method token we look for before giving up on "HTTP".
const MAX_METHOD: usize = 16;

/// Classifies the bytes read so far. `None` means "not enough bytes yet";
/// the caller reads more or, when its sniff timeout runs out, treats the
/// tunnel as opaque.
pub fn classify(bytes: &[u8]) -> Option<TunnelKind> {
    let first = *bytes.first()?;
    if first == 0x16 {
        // TLS record header: handshake (0x16), version major 3.
        return match bytes.get(1) {
            None => None,
            Some(3) => Some(TunnelKind::Tls),
            Some(_) => Some(TunnelKind::Opaque),
        };
    }
    // An HTTP request starts with a method token (upper-case letters here,
    // as every real client sends) followed by a space.
    for (i, &b) in bytes.iter().enumerate().take(MAX_METHOD + 1) {
        match b {
            b'A'..=b'Z' | b'-' | b'_' => continue,
            b' ' if i > 0 => return Some(TunnelKind::Http),
            _ => return Some(TunnelKind::Opaque),
        }
    }
    if bytes.len() > MAX_METHOD {
        Some(TunnelKind::Opaque)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_hello_is_tls() {
        assert_eq!(
            classify(&[0x16, 0x03, 0x01, 0x02, 0x00]),
            Some(TunnelKind::Tls)
        );
    }

    #[test]
    fn one_byte_of_a_record_header_is_not_enough() {
        assert_eq!(classify(&[0x16]), None);
        assert_eq!(classify(&[]), None);
    }

    #[test]
    fn a_request_line_is_http() {
        assert_eq!(classify(b"GET / HTTP/1.1\r\n"), Some(TunnelKind::Http));
        assert_eq!(classify(b"OPTIONS * HTTP/1.1"), Some(TunnelKind::Http));
    }

    #[test]
    fn a_partial_method_waits_for_more() {
        assert_eq!(classify(b"GE"), None);
        assert_eq!(classify(b"POST"), None);
    }

    #[test]
    fn other_protocols_are_opaque() {
        assert_eq!(classify(b"SSH-2.0-OpenSSH_9.2"), Some(TunnelKind::Opaque));
        assert_eq!(classify(&[0x05, 0x01, 0x00]), Some(TunnelKind::Opaque));
        assert_eq!(classify(&[0x16, 0x01]), Some(TunnelKind::Opaque));
        assert_eq!(classify(b"get / HTTP/1.1"), Some(TunnelKind::Opaque));
        assert_eq!(
            classify(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ"),
            Some(TunnelKind::Opaque)
        );
    }
}
