//! SOCKS5 (RFC 1928) with username/password authentication (RFC 1929).
//!
//! `socks5://` resolves the target here and gives the proxy an address,
//! trying each address in turn (as a direct connection would) while the
//! proxy says it cannot reach one; `socks5h://` gives the proxy the name.

use std::net::IpAddr;
use std::time::Instant;

use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};

use super::{resolve, DialError, DialOptions, DialTimings, Dialed, DialedStream, Via};
use crate::proxy_url::ProxyScheme;

const VERSION: u8 = 5;
const NO_AUTH: u8 = 0x00;
const USER_PASS: u8 = 0x02;
const NO_ACCEPTABLE: u8 = 0xff;
const CMD_CONNECT: u8 = 0x01;
const ATYP_V4: u8 = 0x01;
const ATYP_NAME: u8 = 0x03;
const ATYP_V6: u8 = 0x04;

/// What the proxy is asked to connect to.
#[derive(Clone, Copy, Debug)]
enum Destination<'a> {
    Ip(IpAddr),
    Name(&'a str),
}

pub(super) async fn dial(
    via: Via<'_>,
    host: &str,
    port: u16,
    options: &DialOptions,
) -> Result<Dialed, DialError> {
    let destinations: Vec<Destination> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![Destination::Ip(ip)],
        Err(_) if via.proxy.scheme == ProxyScheme::Socks5h => vec![Destination::Name(host)],
        Err(_) => resolve(host, port, options.timeout)
            .await
            .map_err(|failure| DialError::Target {
                host: host.to_owned(),
                port,
                failure,
            })?
            .into_iter()
            .map(|addr| Destination::Ip(addr.ip()))
            .collect(),
    };
    let mut last = None;
    for (i, destination) in destinations.iter().enumerate() {
        let more = i + 1 < destinations.len();
        match attempt(via, *destination, port, options).await {
            Ok(dialed) => return Ok(dialed),
            Err((error, unreachable)) if more && unreachable => last = Some(error),
            Err((error, _)) => return Err(error),
        }
    }
    Err(last.expect("at least one destination was tried"))
}

/// One connection to the proxy and one handshake. The flag on an error says
/// whether another address of the target may do better.
async fn attempt(
    via: Via<'_>,
    destination: Destination<'_>,
    port: u16,
    options: &DialOptions,
) -> Result<Dialed, (DialError, bool)> {
    let started = Instant::now();
    let tcp = via.connect(options.timeout).await.map_err(|e| (e, false))?;
    let tcp_time = started.elapsed();
    let mut stream = DialedStream::tcp(tcp);
    let handshake_started = Instant::now();
    let handshake = tokio::time::timeout(
        options.timeout,
        handshake(via, &mut stream, destination, port),
    );
    handshake.await.map_err(|_| {
        let error = DialError::ProxyTimeout {
            proxy: via.name(),
            step: "finish the SOCKS5 handshake",
            after: options.timeout,
        };
        (error, false)
    })??;
    Ok(Dialed {
        stream,
        absolute_form: false,
        timings: DialTimings {
            tcp: tcp_time,
            proxy_tls: None,
            tunnel: Some(handshake_started.elapsed()),
        },
    })
}

async fn handshake<S>(
    via: Via<'_>,
    io: &mut S,
    destination: Destination<'_>,
    port: u16,
) -> Result<(), (DialError, bool)>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let fail = |error| (error, false);
    let protocol = |problem: String| {
        fail(DialError::ProxyProtocol {
            proxy: via.name(),
            problem,
        })
    };
    let io_error = |step| {
        move |source| {
            fail(DialError::ProxyIo {
                proxy: via.name(),
                step,
                source,
            })
        }
    };

    // Greeting: the methods we can do.
    let credentials = via
        .proxy
        .username
        .as_deref()
        .map(|user| (user, via.proxy.password.as_deref().unwrap_or("")));
    let greeting: &[u8] = match credentials {
        Some(_) => &[VERSION, 2, NO_AUTH, USER_PASS],
        None => &[VERSION, 1, NO_AUTH],
    };
    io.write_all(greeting)
        .await
        .map_err(io_error("the SOCKS5 greeting"))?;
    let mut choice = [0u8; 2];
    io.read_exact(&mut choice)
        .await
        .map_err(io_error("the SOCKS5 greeting"))?;
    if choice[0] != VERSION {
        return Err(protocol(format!(
            "it answered the SOCKS5 greeting with version {}; is it a SOCKS5 proxy?",
            choice[0]
        )));
    }
    match (choice[1], credentials) {
        (NO_AUTH, _) => {}
        (USER_PASS, Some((user, password))) => {
            if user.len() > 255 || password.len() > 255 {
                return Err(protocol(
                    "SOCKS5 user names and passwords are at most 255 bytes".to_owned(),
                ));
            }
            // RFC 1929: VER=1, ULEN, UNAME, PLEN, PASSWD.
            let mut auth = vec![1, user.len() as u8];
            auth.extend_from_slice(user.as_bytes());
            auth.push(password.len() as u8);
            auth.extend_from_slice(password.as_bytes());
            io.write_all(&auth)
                .await
                .map_err(io_error("SOCKS5 authentication"))?;
            let mut status = [0u8; 2];
            io.read_exact(&mut status)
                .await
                .map_err(io_error("SOCKS5 authentication"))?;
            if status[1] != 0 {
                return Err(fail(DialError::auth(
                    via.proxy,
                    "SOCKS5 username/password rejected",
                )));
            }
        }
        (NO_ACCEPTABLE, None) => {
            return Err(fail(DialError::auth(
                via.proxy,
                "SOCKS5: no method without a password is accepted",
            )))
        }
        (NO_ACCEPTABLE, Some(_)) => {
            return Err(protocol(
                "it accepts neither no authentication nor username/password".to_owned(),
            ))
        }
        (other, _) => {
            return Err(protocol(format!(
                "it chose SOCKS5 authentication method {other:#04x}, which was not offered"
            )))
        }
    }

    // CONNECT request.
    let mut request = vec![VERSION, CMD_CONNECT, 0];
    match destination {
        Destination::Ip(IpAddr::V4(ip)) => {
            request.push(ATYP_V4);
            request.extend_from_slice(&ip.octets());
        }
        Destination::Ip(IpAddr::V6(ip)) => {
            request.push(ATYP_V6);
            request.extend_from_slice(&ip.octets());
        }
        Destination::Name(name) => {
            if name.len() > 255 {
                return Err(protocol(format!(
                    "the host name {name} is longer than SOCKS5 allows (255 bytes)"
                )));
            }
            request.push(ATYP_NAME);
            request.push(name.len() as u8);
            request.extend_from_slice(name.as_bytes());
        }
    }
    request.extend_from_slice(&port.to_be_bytes());
    io.write_all(&request)
        .await
        .map_err(io_error("the SOCKS5 CONNECT"))?;

    let mut reply = [0u8; 4];
    io.read_exact(&mut reply)
        .await
        .map_err(io_error("the SOCKS5 reply"))?;
    if reply[0] != VERSION {
        return Err(protocol(format!(
            "its SOCKS5 reply has version {}",
            reply[0]
        )));
    }
    if reply[1] != 0 {
        let target = match destination {
            Destination::Ip(ip) => super::authority(&ip.to_string(), port),
            Destination::Name(name) => super::authority(name, port),
        };
        // general failure, network/host unreachable, refused, TTL expired:
        // another address of the same target may work.
        let unreachable = matches!(reply[1], 1 | 3 | 4 | 5 | 6);
        return Err((
            DialError::ProxyRefusedTarget {
                proxy: via.name(),
                target,
                answer: format!("{} (SOCKS5 reply {})", reply_text(reply[1]), reply[1]),
            },
            unreachable,
        ));
    }
    // The bound address, which we do not need, then the tunnel begins.
    let rest = match reply[3] {
        ATYP_V4 => 4 + 2,
        ATYP_V6 => 16 + 2,
        ATYP_NAME => {
            let mut len = [0u8; 1];
            io.read_exact(&mut len)
                .await
                .map_err(io_error("the SOCKS5 reply"))?;
            len[0] as usize + 2
        }
        other => {
            return Err(protocol(format!(
                "its SOCKS5 reply has address type {other}"
            )))
        }
    };
    let mut bound = vec![0u8; rest];
    io.read_exact(&mut bound)
        .await
        .map_err(io_error("the SOCKS5 reply"))?;
    Ok(())
}

/// RFC 1928 section 6.
fn reply_text(code: u8) -> &'static str {
    match code {
        1 => "general SOCKS server failure",
        2 => "connection not allowed by ruleset",
        3 => "network unreachable",
        4 => "host unreachable",
        5 => "connection refused",
        6 => "TTL expired",
        7 => "command not supported",
        8 => "address type not supported",
        _ => "unknown error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy_url::ProxyUrl;

    /// Runs the handshake against a scripted proxy; returns what the client
    /// wrote and the result.
    async fn script(
        proxy_url: &str,
        destination: Destination<'static>,
        answers: Vec<&'static [u8]>,
    ) -> (Result<(), String>, Vec<u8>) {
        let proxy = ProxyUrl::parse(proxy_url).unwrap();
        let via = Via {
            proxy: &proxy,
            chosen_by: "--proxy flag",
        };
        let (mut ours, mut theirs) = tokio::io::duplex(4096);
        let server = tokio::spawn(async move {
            for answer in answers {
                theirs.write_all(answer).await.unwrap();
            }
            drop(theirs.shutdown().await);
            let mut seen = Vec::new();
            let _ = theirs.read_to_end(&mut seen).await;
            seen
        });
        let result = handshake(via, &mut ours, destination, 443)
            .await
            .map_err(|(e, _)| e.to_string());
        drop(ours);
        (result, server.await.unwrap())
    }

    #[tokio::test]
    async fn socks5h_sends_the_name_and_no_auth_when_no_credentials() {
        let (result, written) = script(
            "socks5h://p:1080",
            Destination::Name("example.com"),
            vec![&[5, 0], &[5, 0, 0, 1, 127, 0, 0, 1, 0, 80]],
        )
        .await;
        result.unwrap();
        let mut expected = vec![5, 1, 0, 5, 1, 0, 3, 11];
        expected.extend_from_slice(b"example.com");
        expected.extend_from_slice(&[1, 187]);
        assert_eq!(written, expected);
    }

    #[tokio::test]
    async fn credentials_go_as_rfc_1929_username_and_password() {
        let (result, written) = script(
            "socks5://al:p%40ss@p:1080",
            Destination::Ip("10.1.2.3".parse().unwrap()),
            vec![&[5, 2], &[1, 0], &[5, 0, 0, 1, 0, 0, 0, 0, 0, 0]],
        )
        .await;
        result.unwrap();
        let expected: Vec<u8> = [
            &[5, 2, 0, 2][..],
            &[1, 2, b'a', b'l', 4, b'p', b'@', b's', b's'],
            &[5, 1, 0, 1, 10, 1, 2, 3, 1, 187],
        ]
        .concat();
        assert_eq!(written, expected);
    }

    #[tokio::test]
    async fn refused_credentials_and_missing_ones_say_so() {
        let (result, _) = script(
            "socks5://al:wrong@p:1080",
            Destination::Name("example.com"),
            vec![&[5, 2], &[1, 1]],
        )
        .await;
        let message = result.unwrap_err();
        assert!(
            message.contains("refused the credentials for user \"al\""),
            "{message}"
        );
        assert!(!message.contains("wrong"), "{message}");

        let (result, _) = script(
            "socks5://p:1080",
            Destination::Name("example.com"),
            vec![&[5, 0xff]],
        )
        .await;
        let message = result.unwrap_err();
        assert!(message.contains("requires authentication"), "{message}");
        assert!(message.contains("--proxy-user"), "{message}");
    }

    #[tokio::test]
    async fn a_failed_connect_names_the_target_and_the_reply() {
        let (result, _) = script(
            "socks5h://p:1080",
            Destination::Name("example.com"),
            vec![&[5, 0], &[5, 5, 0, 1, 0, 0, 0, 0, 0, 0]],
        )
        .await;
        assert_eq!(
            result.unwrap_err(),
            "proxy socks5h://p:1080 would not connect to example.com:443: connection refused \
             (SOCKS5 reply 5)"
        );
    }

    #[tokio::test]
    async fn a_server_that_is_not_socks5_is_named() {
        let (result, _) = script(
            "socks5://p:1080",
            Destination::Name("example.com"),
            vec![b"HTTP/1.1 400 Bad Request\r\n\r\n"],
        )
        .await;
        let message = result.unwrap_err();
        assert!(message.contains("is it a SOCKS5 proxy?"), "{message}");
    }
}
