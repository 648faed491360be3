//! `http://` and `https://` proxies: TCP (and TLS) to the proxy, then a
//! `CONNECT` for tunnels, or the proxy connection itself for absolute-form
//! requests.

use std::time::Instant;

use bytes::{Bytes, BytesMut};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};

use super::{
    authority, proxy_authorization, DialError, DialOptions, DialTimings, Dialed, DialedStream,
    Mode, Via,
};
use crate::proxy_url::ProxyScheme;

/// The longest answer head to a `CONNECT` we read.
const MAX_ANSWER: usize = 64 * 1024;

pub(super) async fn dial(
    via: Via<'_>,
    host: &str,
    port: u16,
    mode: Mode,
    options: &DialOptions,
) -> Result<Dialed, DialError> {
    let started = Instant::now();
    let tcp = via.connect(options.timeout).await?;
    let mut timings = DialTimings {
        tcp: started.elapsed(),
        ..DialTimings::default()
    };
    let mut stream = match via.proxy.scheme {
        ProxyScheme::Https => {
            let tls_started = Instant::now();
            let tls = proxy_tls(via, tcp, options).await?;
            timings.proxy_tls = Some(tls_started.elapsed());
            DialedStream::tls(tls)
        }
        _ => DialedStream::tcp(tcp),
    };
    if mode == Mode::HttpRequest {
        return Ok(Dialed {
            stream,
            absolute_form: true,
            timings,
        });
    }
    let tunnel_started = Instant::now();
    let step = tokio::time::timeout(options.timeout, connect(via, &mut stream, host, port));
    let prefix = step.await.map_err(|_| DialError::ProxyTimeout {
        proxy: via.name(),
        step: "answer CONNECT",
        after: options.timeout,
    })??;
    timings.tunnel = Some(tunnel_started.elapsed());
    Ok(Dialed {
        stream: stream.with_prefix(prefix),
        absolute_form: false,
        timings,
    })
}

async fn proxy_tls(
    via: Via<'_>,
    tcp: tokio::net::TcpStream,
    options: &DialOptions,
) -> Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>, DialError> {
    let Some(config) = &options.proxy_tls else {
        return Err(DialError::NoProxyTls { proxy: via.name() });
    };
    let name = ServerName::try_from(via.proxy.host.clone()).map_err(|_| DialError::ProxyTls {
        proxy: via.name(),
        reason: format!("\"{}\" is not a valid TLS server name", via.proxy.host),
    })?;
    let handshake = tokio_rustls::TlsConnector::from(config.clone()).connect(name, tcp);
    tokio::time::timeout(options.timeout, handshake)
        .await
        .map_err(|_| DialError::ProxyTimeout {
            proxy: via.name(),
            step: "finish the TLS handshake",
            after: options.timeout,
        })?
        .map_err(|e| DialError::ProxyTls {
            proxy: via.name(),
            // rustls's alert and certificate errors come wrapped in io::Error.
            reason: e
                .get_ref()
                .map_or_else(|| e.to_string(), |inner| inner.to_string()),
        })
}

/// Sends `CONNECT host:port` and reads the answer's head. Returns the bytes
/// that came after the head (a server that speaks first).
async fn connect<S>(via: Via<'_>, io: &mut S, host: &str, port: u16) -> Result<Bytes, DialError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let target = authority(host, port);
    let mut request = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
    if let Some(credentials) = proxy_authorization(via.proxy) {
        request.push_str(&format!("Proxy-Authorization: {credentials}\r\n"));
    }
    request.push_str("\r\n");
    let io_error = |step| {
        move |source| DialError::ProxyIo {
            proxy: via.name(),
            step,
            source,
        }
    };
    io.write_all(request.as_bytes())
        .await
        .map_err(io_error("CONNECT"))?;
    io.flush().await.map_err(io_error("CONNECT"))?;

    let mut buf = BytesMut::with_capacity(1024);
    let head_end = loop {
        if let Some(end) = find_head_end(&buf) {
            break end;
        }
        if buf.len() > MAX_ANSWER {
            return Err(DialError::ProxyProtocol {
                proxy: via.name(),
                problem: format!(
                    "its answer to CONNECT has a head over {} KiB",
                    MAX_ANSWER / 1024
                ),
            });
        }
        let n = io
            .read_buf(&mut buf)
            .await
            .map_err(io_error("the answer to CONNECT"))?;
        if n == 0 {
            return Err(DialError::ProxyProtocol {
                proxy: via.name(),
                problem: format!("it closed the connection instead of answering CONNECT {target}"),
            });
        }
    };
    let head = buf.split_to(head_end);
    let (code, reason) = status_line(&head).ok_or_else(|| DialError::ProxyProtocol {
        proxy: via.name(),
        problem: format!(
            "its answer to CONNECT is not an HTTP status line: {:?}",
            first_line(&head)
        ),
    })?;
    match code {
        200..=299 => Ok(buf.freeze()),
        407 => Err(DialError::auth(via.proxy, "407")),
        _ => Err(DialError::ProxyRefusedTarget {
            proxy: via.name(),
            target,
            answer: format!("{code} {reason}").trim_end().to_owned(),
        }),
    }
}

/// Where the head ends (just past the blank line), if it has.
fn find_head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

fn first_line(head: &[u8]) -> String {
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    String::from_utf8_lossy(line)
        .trim_end()
        .chars()
        .take(200)
        .collect()
}

/// `HTTP/1.x CODE REASON` → `(CODE, REASON)`.
fn status_line(head: &[u8]) -> Option<(u16, String)> {
    let line = first_line(head);
    let rest = line.strip_prefix("HTTP/1.")?;
    let mut parts = rest.splitn(3, ' ');
    let _minor = parts.next()?;
    let code = parts.next()?;
    if code.len() != 3 {
        return None;
    }
    let code = code.parse().ok()?;
    Some((code, parts.next().unwrap_or("").to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy_url::ProxyUrl;

    async fn answer(proxy_url: &str, answer: &'static [u8]) -> (Result<Bytes, DialError>, String) {
        let proxy = ProxyUrl::parse(proxy_url).unwrap();
        let via = Via {
            proxy: &proxy,
            chosen_by: "--proxy flag",
        };
        let (mut ours, mut theirs) = tokio::io::duplex(64 * 1024);
        let server = tokio::spawn(async move {
            let mut seen = Vec::new();
            while find_head_end(&seen).is_none() {
                let mut byte = [0u8; 1];
                theirs.read_exact(&mut byte).await.unwrap();
                seen.push(byte[0]);
            }
            theirs.write_all(answer).await.unwrap();
            String::from_utf8(seen).unwrap()
        });
        let result = connect(via, &mut ours, "example.com", 443).await;
        (result, server.await.unwrap())
    }

    #[tokio::test]
    async fn connect_sends_the_target_and_keeps_bytes_after_the_answer() {
        let (result, request) = answer(
            "http://proxy:3128",
            b"HTTP/1.1 200 Connection established\r\n\r\n220 banner\r\n",
        )
        .await;
        assert_eq!(
            request,
            "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"
        );
        assert_eq!(&result.unwrap()[..], b"220 banner\r\n");
    }

    #[tokio::test]
    async fn connect_sends_basic_credentials_when_known() {
        let (result, request) = answer(
            "http://alice:p%40ss@proxy:3128",
            b"HTTP/1.0 200 OK\r\nProxy-Agent: test\r\n\r\n",
        )
        .await;
        assert!(result.unwrap().is_empty());
        // base64("alice:p@ss")
        assert!(
            request.contains("Proxy-Authorization: Basic YWxpY2U6cEBzcw==\r\n"),
            "{request}"
        );
    }

    #[tokio::test]
    async fn a_refusal_names_the_proxy_the_target_and_the_status() {
        let (result, _) = answer(
            "http://proxy:3128",
            b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n",
        )
        .await;
        assert_eq!(
            result.unwrap_err().to_string(),
            "proxy http://proxy:3128 would not connect to example.com:443: 403 Forbidden"
        );
    }

    #[tokio::test]
    async fn a_non_http_answer_is_a_protocol_error() {
        let (result, _) = answer("http://proxy:3128", b"SSH-2.0-OpenSSH\r\n\r\n").await;
        let message = result.unwrap_err().to_string();
        assert!(message.contains("not an HTTP status line"), "{message}");
        assert!(message.contains("SSH-2.0"), "{message}");
    }

    #[test]
    fn status_lines_parse() {
        assert_eq!(
            status_line(b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n"),
            Some((407, "Proxy Authentication Required".into()))
        );
        assert_eq!(
            status_line(b"HTTP/1.0 200\r\n\r\n"),
            Some((200, String::new()))
        );
        assert_eq!(status_line(b"HTTP/2 200\r\n\r\n"), None);
        assert_eq!(status_line(b"HTTP/1.1 20 OK\r\n\r\n"), None);
    }
}
