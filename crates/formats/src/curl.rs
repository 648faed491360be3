//! curl command lines that send a captured request again.
//!
//! [`curl_command`] gives one POSIX-shell command per exchange, on one line;
//! [`write_curl`] writes many, a blank line between them. The command sends
//! the request as forwarded: method, URL, headers and body bytes as sent.
//!
//! Choices, in one place:
//!
//! - Every argument that is not a plain word is single-quoted (a quote
//!   inside becomes `'\''`), so nothing in a captured URL, header or body is
//!   ever expanded by the shell.
//! - `-X` only when curl would not pick the method by itself (GET without a
//!   body, POST with one). HEAD is `--head`: `-X HEAD` makes curl wait for a
//!   body that never comes.
//! - Headers as sent, except `Content-Length` (curl computes it),
//!   connection-level ones (`Connection`, `Transfer-Encoding`, ...), which
//!   describe the captured connection, and `Host` when it only repeats the
//!   URL's authority. An empty value is written `-H 'Name;'`, curl's way of
//!   sending an empty header (`-H 'Name:'` would remove it).
//! - A body that is printable text is `--data-binary 'TEXT'` (`--data-raw`
//!   when it starts with `@`, which `--data-binary` would read as a file
//!   name). Any other body (binary, or text with line breaks or other
//!   control characters) is piped from `printf` with octal escapes, read
//!   with `--data-binary @-`: POSIX `printf` writes every byte, NUL
//!   included, which no shell argument can carry, and the command stays on
//!   one line. Bodies are sent as they were sent, still content-encoded.
//! - curl's `-d` family adds `Content-Type: application/x-www-form-urlencoded`
//!   when none is given; for a body sent without one, `-H 'Content-Type:'`
//!   keeps it out.
//! - `--compressed` when the request offered `Accept-Encoding` and the
//!   response came encoded, so the reply prints readable.
//! - `-g` (no globbing) when the URL holds `[`, `]`, `{` or `}`, which curl
//!   would otherwise expand as a pattern (IPv6 hosts, `a[]=1` queries).
//! - A body that was not kept, or was truncated, cannot be replayed; the
//!   command sends what was kept and ends with a shell comment saying so.

use std::io::Write;

use interpose_capture::{header_value, Exchange, Header};

use crate::content::{is_hop_by_hop, is_pseudo};
use crate::url_parts::{default_port, UrlParts};
use crate::FormatError;

/// One command line (no trailing newline) that sends `ex`'s request again.
pub fn curl_command(ex: &Exchange) -> String {
    let req = &ex.request;
    let body = &req.body;
    let has_body = !body.bytes.is_empty();
    let mut args: Vec<String> = vec!["curl".into()];

    let method = req.method.as_str();
    if method.eq_ignore_ascii_case("HEAD") && !has_body {
        args.push("--head".into());
    } else if !(method == "GET" && !has_body || method == "POST" && has_body) {
        args.push("-X".into());
        args.push(quote(method));
    }
    if req.url.contains(['[', ']', '{', '}']) {
        args.push("-g".into());
    }
    args.push(single_quote(&req.url));

    let url = UrlParts::parse(&req.url);
    for h in req.headers.iter().filter(|h| keep_header(h, &url)) {
        args.push("-H".into());
        args.push(single_quote(&if h.value.is_empty() {
            format!("{};", h.name)
        } else {
            format!("{}: {}", h.name, h.value)
        }));
    }
    let compressed = header_value(&req.headers, "accept-encoding").is_some()
        && ex.response.as_ref().is_some_and(|r| {
            r.body
                .encoding
                .as_deref()
                .or_else(|| header_value(&r.headers, "content-encoding"))
                .is_some_and(|e| !e.trim().is_empty() && !e.eq_ignore_ascii_case("identity"))
        });
    if compressed {
        args.push("--compressed".into());
    }

    let mut pipe_from = None;
    if has_body {
        if header_value(&req.headers, "content-type").is_none() {
            args.push("-H".into());
            args.push("'Content-Type:'".into());
        }
        match std::str::from_utf8(&body.bytes) {
            Ok(text) if !text.chars().any(char::is_control) => {
                args.push(if text.starts_with('@') {
                    "--data-raw".into()
                } else {
                    "--data-binary".into()
                });
                args.push(single_quote(text));
            }
            _ => {
                pipe_from = Some(printf_command(&body.bytes));
                args.push("--data-binary".into());
                args.push("@-".into());
            }
        }
    }

    let mut line = args.join(" ");
    if let Some(printf) = pipe_from {
        line = format!("{printf} | {line}");
    }
    if let Some(note) = body_note(ex) {
        line.push_str("  # ");
        line.push_str(&note);
    }
    line
}

/// Writes one command per exchange, a blank line between commands.
pub fn write_curl<W: Write>(out: W, exchanges: &[Exchange]) -> Result<(), FormatError> {
    let mut out = std::io::BufWriter::new(out);
    for (i, ex) in exchanges.iter().enumerate() {
        if i > 0 {
            out.write_all(b"\n")?;
        }
        out.write_all(curl_command(ex).as_bytes())?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}

fn keep_header(h: &Header, url: &UrlParts<'_>) -> bool {
    let name = h.name.as_str();
    if name.eq_ignore_ascii_case("content-length") || is_hop_by_hop(name) || is_pseudo(name) {
        return false;
    }
    if name.eq_ignore_ascii_case("host") {
        return !host_matches_url(&h.value, url);
    }
    true
}

/// Whether a `Host` value says what curl would send for the URL anyway.
fn host_matches_url(host: &str, url: &UrlParts<'_>) -> bool {
    let host = host.trim();
    let default = default_port(url.scheme);
    let url_port = url.port.filter(|p| !p.is_empty()).or(default);
    let (h, p) = match host.rsplit_once(':') {
        Some((h, p)) if !p.contains(']') => (h, Some(p)),
        _ => (host, None),
    };
    h.eq_ignore_ascii_case(url.host) && p.or(default) == url_port
}

fn body_note(ex: &Exchange) -> Option<String> {
    let body = &ex.request.body;
    if let Some(omitted) = body.omitted {
        return Some(format!(
            "interpose did not keep this request's body ({}, {} bytes); it is not sent",
            omitted.as_str(),
            body.size
        ));
    }
    body.truncated.then(|| {
        format!(
            "interpose kept only the first {} of {} body bytes; only they are sent",
            body.bytes.len(),
            body.size
        )
    })
}

/// `printf 'FORMAT'` writing exactly `bytes`.
fn printf_command(bytes: &[u8]) -> String {
    // A format starting with `-` would be read as an option (every
    // multipart body starts with `--`): write that first `-` as `\055`.
    match bytes.strip_prefix(b"-") {
        Some(rest) => format!("printf '\\055{}'", printf_format(rest)),
        None => format!("printf '{}'", printf_format(bytes)),
    }
}

/// The inside of a single-quoted printf format that writes `bytes`.
fn printf_format(bytes: &[u8]) -> String {
    let mut fmt = String::with_capacity(bytes.len() + 16);
    match std::str::from_utf8(bytes) {
        // Non-ASCII characters pass through printf untouched; keep text
        // readable.
        Ok(text) => {
            for c in text.chars() {
                match c {
                    '%' | '\\' | '\'' | '\n' => push_escaped(&mut fmt, c),
                    c if c.is_control() => {
                        let mut buf = [0u8; 4];
                        for b in c.encode_utf8(&mut buf).bytes() {
                            fmt.push_str(&format!("\\{b:03o}"));
                        }
                    }
                    c => fmt.push(c),
                }
            }
        }
        Err(_) => {
            for &b in bytes {
                match b {
                    b'%' | b'\\' | b'\'' | b'\n' => push_escaped(&mut fmt, char::from(b)),
                    0x20..=0x7e => fmt.push(char::from(b)),
                    _ => fmt.push_str(&format!("\\{b:03o}")),
                }
            }
        }
    }
    fmt
}

/// The characters a single-quoted printf format cannot hold as they are.
fn push_escaped(fmt: &mut String, c: char) {
    fmt.push_str(match c {
        '%' => "%%",
        '\\' => "\\\\",
        '\'' => "'\\''",
        '\n' => "\\n",
        _ => unreachable!("only called for % \\ ' and newline"),
    });
}

/// A plain word as it is; anything else single-quoted.
fn quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:=@,+%".contains(&b));
    if plain {
        s.to_string()
    } else {
        single_quote(s)
    }
}

/// `'...'`, with each `'` written as `'\''`.
fn single_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_survives_quotes_and_leaves_plain_words_alone() {
        assert_eq!(single_quote("it's"), "'it'\\''s'");
        assert_eq!(quote("PATCH"), "PATCH");
        assert_eq!(quote("A B"), "'A B'");
        assert_eq!(quote(""), "''");
    }

    #[test]
    fn printf_escapes_only_what_it_must() {
        assert_eq!(printf_command(b"a\nb%c\\d'e"), r"printf 'a\nb%%c\\d'\''e'");
        assert_eq!(printf_command(&[0, 0x9f, b'A']), r"printf '\000\237A'");
        assert_eq!(
            printf_command("caf\u{e9}\r\n".as_bytes()),
            r"printf 'café\015\n'"
        );
        assert_eq!(printf_command(b"--b\r\n"), r"printf '\055-b\015\n'");
    }

    #[test]
    fn host_header_matches_the_url_with_or_without_default_port() {
        let u = UrlParts::parse("https://api.test/x");
        assert!(host_matches_url("api.test", &u));
        assert!(host_matches_url("API.test:443", &u));
        assert!(!host_matches_url("other.test", &u));
        assert!(!host_matches_url("api.test:8443", &u));
        let u = UrlParts::parse("http://[::1]:8080/");
        assert!(host_matches_url("[::1]:8080", &u));
        assert!(!host_matches_url("[::1]", &u));
    }
}
