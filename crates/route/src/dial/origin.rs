//! What both pooled clients (the proxy's upstream and `send`) put on top of
//! a dialed stream: TLS to `https` origins, and the set-up times of a fresh
//! connection.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::DialedStream;

/// A dialed stream to an origin, plain or with the origin's TLS on top.
pub enum OriginIo {
    Plain(DialedStream),
    Tls(Box<tokio_rustls::client::TlsStream<DialedStream>>),
}

impl AsyncRead for OriginIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            OriginIo::Plain(s) => Pin::new(s).poll_read(cx, buf),
            OriginIo::Tls(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for OriginIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            OriginIo::Plain(s) => Pin::new(s).poll_write(cx, buf),
            OriginIo::Tls(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            OriginIo::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            OriginIo::Tls(s) => Pin::new(s).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            OriginIo::Plain(s) => s.is_write_vectored(),
            OriginIo::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            OriginIo::Plain(s) => Pin::new(s).poll_flush(cx),
            OriginIo::Tls(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            OriginIo::Plain(s) => Pin::new(s).poll_shutdown(cx),
            OriginIo::Tls(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

/// Set-up times of a fresh connection, attached to every response on it;
/// only the first exchange claims them, later ones ran on a reused
/// connection and report none.
#[derive(Debug, Clone)]
pub struct ConnectTimings {
    pub connect_ms: f64,
    pub tls_ms: Option<f64>,
    claimed: Arc<AtomicBool>,
}

impl ConnectTimings {
    pub fn new(connect_ms: f64, tls_ms: Option<f64>) -> Self {
        ConnectTimings {
            connect_ms,
            tls_ms,
            claimed: Arc::new(AtomicBool::new(false)),
        }
    }

    /// `(connect, tls)` for the first exchange on the connection, else `None`.
    pub fn claim(&self) -> Option<(f64, Option<f64>)> {
        (!self.claimed.swap(true, Ordering::Relaxed)).then_some((self.connect_ms, self.tls_ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_first_exchange_on_a_connection_claims_its_set_up_time() {
        let t = ConnectTimings::new(3.0, Some(2.0));
        let shared = t.clone();
        assert_eq!(t.claim(), Some((3.0, Some(2.0))));
        assert_eq!(shared.claim(), None);
    }
}
