//! Reading `multipart/form-data` bodies (RFC 7578) into their parts, for
//! exports that show forms field by field.
//!
//! Strict where it matters (the boundary must be found, every part must have
//! a `Content-Disposition` with a name, the closing delimiter must be there)
//! so that a truncated or mislabelled body is reported as unparseable and
//! the caller falls back to the raw bytes, never to half a form.

/// One part of a form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Part<'a> {
    pub name: String,
    /// Present for file fields (possibly empty, when no file was chosen).
    pub filename: Option<String>,
    pub content_type: Option<String>,
    pub data: &'a [u8],
}

/// The `boundary` parameter of a `multipart/*` content type, unquoted.
pub(crate) fn boundary(content_type: &str) -> Option<String> {
    let mut params = content_type.split(';');
    let essence = params.next()?.trim();
    if !essence.to_ascii_lowercase().starts_with("multipart/") {
        return None;
    }
    params.find_map(|p| {
        let (k, v) = p.split_once('=')?;
        if !k.trim().eq_ignore_ascii_case("boundary") {
            return None;
        }
        let v = v.trim();
        let v = v
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(v);
        (!v.is_empty()).then(|| v.to_string())
    })
}

/// Splits `body` at `boundary`. `None` when the body is not a complete,
/// well-formed form (no delimiter, a part without headers or name, no
/// closing delimiter).
pub(crate) fn parse<'a>(body: &'a [u8], boundary: &str) -> Option<Vec<Part<'a>>> {
    let delimiter = format!("--{boundary}");
    let delimiter = delimiter.as_bytes();
    // The first delimiter may follow a preamble; later ones follow CRLF.
    let mut at = if body.starts_with(delimiter) {
        0
    } else {
        find(body, &[b"\r\n", delimiter].concat())? + 2
    };
    let mut parts = Vec::new();
    let next_delimiter = [b"\r\n", delimiter].concat();
    loop {
        at += delimiter.len();
        let rest = &body[at..];
        if rest.starts_with(b"--") {
            return Some(parts);
        }
        // Transport padding (spaces, tabs) may follow a delimiter.
        let pad = rest
            .iter()
            .take_while(|b| **b == b' ' || **b == b'\t')
            .count();
        if !rest[pad..].starts_with(b"\r\n") {
            return None;
        }
        let head_start = at + pad + 2;
        // A part with no header lines starts its data right away.
        let head_len = if body[head_start..].starts_with(b"\r\n") {
            2
        } else {
            find(&body[head_start..], b"\r\n\r\n")? + 4
        };
        let head = std::str::from_utf8(&body[head_start..head_start + head_len]).ok()?;
        let data_start = head_start + head_len;
        let data_len = find(&body[data_start..], &next_delimiter)?;
        parts.push(part(head, &body[data_start..data_start + data_len])?);
        at = data_start + data_len + 2;
    }
}

fn part<'a>(head: &str, data: &'a [u8]) -> Option<Part<'a>> {
    let mut name = None;
    let mut filename = None;
    let mut content_type = None;
    for line in head.split("\r\n").filter(|l| !l.is_empty()) {
        let (key, value) = line.split_once(':')?;
        let key = key.trim();
        if key.eq_ignore_ascii_case("content-disposition") {
            let params = disposition_params(value);
            name = params
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("name"))
                .map(|(_, v)| v.clone());
            filename = params
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("filename"))
                .map(|(_, v)| v.clone());
        } else if key.eq_ignore_ascii_case("content-type") {
            content_type = Some(value.trim().to_string());
        }
    }
    Some(Part {
        name: name?,
        filename,
        content_type,
        data,
    })
}

/// `form-data; name="a"; filename="b \"c\".txt"` → [(name, a), (filename, b "c".txt)].
fn disposition_params(value: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = value.chars().peekable();
    // Skip the disposition type.
    for c in chars.by_ref() {
        if c == ';' {
            break;
        }
    }
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace() || *c == ';') {
            chars.next();
        }
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if key.trim().is_empty() {
            return out;
        }
        let mut val = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => val.extend(chars.next()),
                    '"' => break,
                    c => val.push(c),
                }
            }
            // Up to the next parameter.
            for c in chars.by_ref() {
                if c == ';' {
                    break;
                }
            }
        } else {
            val = chars.by_ref().take_while(|c| *c != ';').collect();
            val = val.trim().to_string();
        }
        out.push((key.trim().to_string(), val));
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return None;
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FORM: &[u8] = b"preamble\r\n--XyZ\r\n\
Content-Disposition: form-data; name=\"title\"\r\n\r\n\
hello\r\nworld\r\n\
--XyZ  \r\n\
Content-Disposition: form-data; name=\"upload\"; filename=\"a \\\"b\\\".bin\"\r\n\
Content-Type: application/octet-stream\r\n\r\n\
\x00\x01--XyZnot-a-delimiter\r\n\
--XyZ--\r\nepilogue";

    #[test]
    fn boundary_is_read_quoted_or_not() {
        assert_eq!(
            boundary("multipart/form-data; boundary=abc").as_deref(),
            Some("abc")
        );
        assert_eq!(
            boundary("Multipart/Form-Data;charset=utf-8; BOUNDARY=\"a b\"").as_deref(),
            Some("a b")
        );
        assert_eq!(boundary("text/plain; boundary=abc"), None);
        assert_eq!(boundary("multipart/form-data"), None);
    }

    #[test]
    fn parts_keep_names_filenames_types_and_exact_bytes() {
        let parts = parse(FORM, "XyZ").unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].name, "title");
        assert_eq!(parts[0].filename, None);
        assert_eq!(parts[0].data, b"hello\r\nworld");
        assert_eq!(parts[1].name, "upload");
        assert_eq!(parts[1].filename.as_deref(), Some("a \"b\".bin"));
        assert_eq!(
            parts[1].content_type.as_deref(),
            Some("application/octet-stream")
        );
        assert_eq!(parts[1].data, b"\x00\x01--XyZnot-a-delimiter");
    }

    #[test]
    fn truncated_or_foreign_bodies_are_not_forms() {
        let cut = &FORM[..FORM.len() - 20];
        assert_eq!(parse(cut, "XyZ"), None);
        assert_eq!(parse(b"just text", "XyZ"), None);
        let nameless = b"--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--";
        assert_eq!(parse(nameless, "b"), None);
    }

    #[test]
    fn an_empty_form_has_no_parts() {
        assert_eq!(parse(b"--b--\r\n", "b"), Some(vec![]));
    }
}
