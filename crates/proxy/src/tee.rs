//! A body wrapper that forwards every frame unchanged and keeps a bounded
//! copy for the record. It never blocks and never buffers past its cap; it
//! reports once, on end of stream, on error, or when dropped mid-body.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use interpose_capture::BodyCapture;
use tokio::sync::oneshot;

/// How a teed body ended.
#[derive(Debug)]
pub struct TeeOutcome {
    pub capture: BodyCapture,
    /// The body reached its end; false when it was cut off.
    pub complete: bool,
    /// Why it was cut off, when known.
    pub error: Option<String>,
    pub finished_at: Instant,
}

pub struct Tee<B> {
    inner: B,
    state: Option<(BodyCapture, oneshot::Sender<TeeOutcome>)>,
    /// The body was empty from the start; hyper may drop it unpolled.
    empty: bool,
}

impl<B: Body> Tee<B> {
    pub fn new(inner: B, mut capture: BodyCapture) -> (Self, oneshot::Receiver<TeeOutcome>) {
        if let Some(len) = inner.size_hint().exact() {
            capture.reserve(len);
        }
        let (tx, rx) = oneshot::channel();
        let tee = Tee {
            empty: inner.is_end_stream(),
            inner,
            state: Some((capture, tx)),
        };
        (tee, rx)
    }
}

impl<B> Tee<B> {
    fn finish(&mut self, complete: bool, error: Option<String>) {
        if let Some((capture, tx)) = self.state.take() {
            let _ = tx.send(TeeOutcome {
                capture,
                complete,
                error,
                finished_at: Instant::now(),
            });
        }
    }
}

impl<B> Body for Tee<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: std::error::Error + 'static,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let (Some(data), Some((capture, _))) = (frame.data_ref(), self.state.as_mut()) {
                    capture.push(data);
                }
                if self.inner.is_end_stream() {
                    self.finish(true, None);
                }
            }
            Poll::Ready(Some(Err(e))) => {
                let msg = with_causes(e);
                self.finish(false, Some(msg));
            }
            Poll::Ready(None) => self.finish(true, None),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// "error reading a body from connection: unexpected end of file": hyper's
/// own message is vague, the cause is what tells the user what happened.
fn with_causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut msg = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !msg.contains(&text) {
            msg.push_str(": ");
            msg.push_str(&text);
        }
        cause = c.source();
    }
    msg
}

impl<B> Drop for Tee<B> {
    fn drop(&mut self) {
        // Dropped before the end: either an empty body nobody polled, or the
        // peer went away mid-body. Only the first is complete.
        if self.empty {
            self.finish(true, None);
        } else {
            self.finish(
                false,
                Some("connection closed before the body ended".into()),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, Full, StreamBody};

    #[tokio::test]
    async fn frames_pass_through_unchanged_and_a_capped_copy_is_kept() {
        let (tee, rx) = Tee::new(
            Full::new(Bytes::from_static(b"0123456789")),
            BodyCapture::new(4),
        );
        let out = tee.collect().await.unwrap().to_bytes();
        assert_eq!(&out[..], b"0123456789");
        let outcome = rx.await.unwrap();
        assert!(outcome.complete);
        let body = outcome.capture.finish(None);
        assert_eq!(body.bytes, b"0123");
        assert_eq!(body.size, 10);
        assert!(body.truncated);
    }

    #[tokio::test]
    async fn a_body_dropped_mid_stream_reports_incomplete() {
        let chunks: Vec<Result<Frame<Bytes>, std::io::Error>> = vec![
            Ok(Frame::data(Bytes::from_static(b"abc"))),
            Ok(Frame::data(Bytes::from_static(b"def"))),
        ];
        let body = StreamBody::new(futures_util::stream::iter(chunks));
        let (mut tee, rx) = Tee::new(body, BodyCapture::new(100));
        let first = tee.frame().await.unwrap().unwrap();
        assert_eq!(first.into_data().unwrap(), "abc");
        drop(tee);
        let outcome = rx.await.unwrap();
        assert!(!outcome.complete);
        assert_eq!(outcome.capture.size(), 3);
    }

    #[tokio::test]
    async fn an_error_mid_body_is_reported_with_its_reason() {
        let chunks: Vec<Result<Frame<Bytes>, std::io::Error>> = vec![
            Ok(Frame::data(Bytes::from_static(b"abc"))),
            Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "reset by origin",
            )),
        ];
        let body = StreamBody::new(futures_util::stream::iter(chunks));
        let (tee, rx) = Tee::new(body, BodyCapture::new(100));
        assert!(tee.collect().await.is_err());
        let outcome = rx.await.unwrap();
        assert!(!outcome.complete);
        assert_eq!(outcome.error.as_deref(), Some("reset by origin"));
    }
}
