//! Small facts about headers and content types that several formats share.

/// The media type without parameters, lower-case: `application/json`.
pub(crate) fn essence(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// How a text body should be highlighted, in the words Postman uses for
/// `options.raw.language` and `_postman_previewlanguage`.
pub(crate) fn language(content_type: Option<&str>) -> &'static str {
    let Some(ct) = content_type else {
        return "text";
    };
    let e = essence(ct);
    let subtype = e.split('/').nth(1).unwrap_or("");
    if subtype == "json" || subtype.ends_with("+json") {
        "json"
    } else if subtype == "html" || subtype == "xhtml+xml" {
        "html"
    } else if subtype == "xml" || subtype.ends_with("+xml") {
        "xml"
    } else if matches!(
        subtype,
        "javascript" | "x-javascript" | "ecmascript" | "x-ecmascript"
    ) {
        "javascript"
    } else {
        "text"
    }
}

pub(crate) fn is_form_urlencoded(content_type: Option<&str>) -> bool {
    content_type.is_some_and(|ct| essence(ct) == "application/x-www-form-urlencoded")
}

/// Headers that describe one connection (RFC 9110 section 7.6.1, plus the
/// proxy-only ones), not the request: a replay opens its own connection and
/// must not copy them.
pub(crate) fn is_hop_by_hop(name: &str) -> bool {
    const HOP_BY_HOP: &[&str] = &[
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    ];
    HOP_BY_HOP.iter().any(|h| name.eq_ignore_ascii_case(h))
}

/// HTTP/2 and HTTP/3 pseudo-headers (`:authority`, `:path`, ...): request-line
/// facts that some tools list among the headers.
pub(crate) fn is_pseudo(name: &str) -> bool {
    name.starts_with(':')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn languages_follow_the_content_type() {
        assert_eq!(language(Some("application/json; charset=utf-8")), "json");
        assert_eq!(language(Some("application/problem+json")), "json");
        assert_eq!(language(Some("text/xml")), "xml");
        assert_eq!(language(Some("application/atom+xml")), "xml");
        assert_eq!(language(Some("text/html")), "html");
        assert_eq!(language(Some("application/xhtml+xml")), "html");
        assert_eq!(language(Some("text/javascript")), "javascript");
        assert_eq!(language(Some("text/plain")), "text");
        assert_eq!(language(Some("text/csv")), "text");
        assert_eq!(language(None), "text");
    }
}
