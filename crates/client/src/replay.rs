//! `replay ID`: a captured exchange sent again through the current route,
//! and a short comparison of the two answers.

use std::fmt;

use bytes::Bytes;
use interpose_capture::Exchange;
use interpose_route::{Env, Settings};

use crate::error::SendError;
use crate::request::{RequestBody, SendRequest};
use crate::send::{send, SendResponse};

/// Headers not replayed: they describe the old connection or are set anew
/// for the new one (`Host` from the URL, `Content-Length` from the body).
const NOT_REPLAYED: [&str; 10] = [
    "host",
    "content-length",
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// The request to send again: method, URL, headers (in order, minus
/// [`NOT_REPLAYED`]) and body, exactly as captured (a compressed body stays
/// compressed, with its `Content-Encoding`). Fill in the options (flags,
/// timeout, TLS) before sending it.
///
/// A body that was not kept in full cannot be replayed faithfully, and is
/// refused rather than sent short.
pub fn replay_request(original: &Exchange) -> Result<SendRequest, SendError> {
    let body = &original.request.body;
    if body.omitted.is_some() || body.truncated || (body.bytes.len() as u64) < body.size {
        return Err(SendError::Replay(format!(
            "its request body was not kept in full ({} of {} bytes), so it cannot be sent again \
             as it was",
            body.bytes.len(),
            body.size
        )));
    }
    if original.websocket {
        return Err(SendError::Replay(
            "it is a WebSocket handshake; replaying it would not replay the messages".to_owned(),
        ));
    }
    let headers = original
        .request
        .headers
        .iter()
        .filter(|h| !NOT_REPLAYED.iter().any(|n| h.name.eq_ignore_ascii_case(n)))
        .map(|h| (h.name.clone(), h.value.clone()))
        .collect();
    Ok(SendRequest {
        method: Some(original.request.method.clone()),
        url: original.request.url.clone(),
        headers,
        body: if body.size == 0 {
            RequestBody::None
        } else {
            RequestBody::Bytes(Bytes::from(body.bytes.clone()))
        },
        ..SendRequest::default()
    })
}

/// Sends `original` again with the options in `options` (its method, URL,
/// headers and body are replaced by the captured ones). Read the body, then
/// record [`SendResponse::exchange`] and show [`ReplayDiff::between`].
pub async fn replay(
    original: &Exchange,
    options: &SendRequest,
    settings: &Settings,
    env: &Env,
) -> Result<SendResponse, SendError> {
    let captured = replay_request(original)?;
    let request = SendRequest {
        method: captured.method,
        url: captured.url,
        headers: captured.headers,
        body: captured.body,
        ..options.clone()
    };
    send(&request, settings, env).await
}

/// Status and body size, before and after.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplayDiff {
    /// `None` when the original got no response.
    pub status: (Option<u16>, Option<u16>),
    pub body_size: (Option<u64>, Option<u64>),
}

impl ReplayDiff {
    pub fn between(original: &Exchange, replayed: &Exchange) -> ReplayDiff {
        let status = |e: &Exchange| e.response.as_ref().map(|r| r.status);
        let size = |e: &Exchange| e.response.as_ref().map(|r| r.body.size);
        ReplayDiff {
            status: (status(original), status(replayed)),
            body_size: (size(original), size(replayed)),
        }
    }

    /// Nothing in the comparison changed.
    pub fn is_same(&self) -> bool {
        self.status.0 == self.status.1 && self.body_size.0 == self.body_size.1
    }
}

impl fmt::Display for ReplayDiff {
    /// `status 200 → 404, body 1234 B → 9 B`, or `status 200, body 12 B
    /// (unchanged)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = |s: Option<u16>| s.map_or_else(|| "none".to_owned(), |s| s.to_string());
        let size = |s: Option<u64>| s.map_or_else(|| "none".to_owned(), |s| format!("{s} B"));
        let pair = |f: &mut fmt::Formatter<'_>, what: &str, a: String, b: String| {
            if a == b {
                write!(f, "{what} {a}")
            } else {
                write!(f, "{what} {a} → {b}")
            }
        };
        pair(f, "status", status(self.status.0), status(self.status.1))?;
        f.write_str(", ")?;
        pair(f, "body", size(self.body_size.0), size(self.body_size.1))?;
        if self.is_same() {
            f.write_str(" (unchanged)")?;
        }
        Ok(())
    }
}
