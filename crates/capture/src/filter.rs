//! What `capture` keeps: the `--include-url`, `--exclude-url`, `--methods`,
//! `--exclude-assets` and `--status` filters.
//!
//! Filters limit what is *recorded*, never what is forwarded: the proxy
//! passes every exchange through and asks [`CaptureFilter::keeps`] only
//! whether to hand it to the store. [`CaptureFilter::wants_request`] answers
//! early, from the request line alone, so the proxy can skip buffering bodies
//! of exchanges that will be dropped anyway.
//!
//! The choices where Postman's capture dialog is silent:
//!
//! - A URL pattern is a case-insensitive substring of the full URL
//!   (`scheme://host:port/path?query`), unless it starts with `/` and ends
//!   with `/` (or `/i`): then it is a regex (the `regex` crate's syntax),
//!   searched anywhere in the URL, case-sensitive unless written `/.../i`.
//!   So `--include-url /api/` is the regex `api`, not the substring `/api/`.
//! - Exclude wins over include; with no include pattern every URL is included.
//! - `--exclude-assets` goes by the response's content type (image, JavaScript
//!   or CSS); only when there is none (no header, or no response at all) does
//!   the URL path's extension decide. A `.js` URL answered as `text/plain` is
//!   kept.
//! - `--status` entries are exact codes (`404`) or classes (`2xx`); an
//!   exchange that got no response matches no status filter.

use regex::{Regex, RegexBuilder};

use crate::model::Exchange;

/// The filter options as the command line gives them, before validation.
#[derive(Debug, Default, Clone)]
pub struct CaptureFilterSpec {
    /// `--include-url PAT`, repeatable.
    pub include_url: Vec<String>,
    /// `--exclude-url PAT`, repeatable.
    pub exclude_url: Vec<String>,
    /// `--methods GET,POST`: each entry one method or a comma-separated list.
    pub methods: Vec<String>,
    /// `--exclude-assets`.
    pub exclude_assets: bool,
    /// `--status 2xx,404`: each entry one code/class or a comma-separated list.
    pub status: Vec<String>,
}

/// A validated set of capture filters. The default keeps everything.
#[derive(Debug, Default, Clone)]
pub struct CaptureFilter {
    include_url: Vec<UrlPattern>,
    exclude_url: Vec<UrlPattern>,
    /// Upper-case method names; empty means any method.
    methods: Vec<String>,
    exclude_assets: bool,
    /// Empty means any status (and no response is fine).
    status: Vec<StatusMatch>,
}

/// Why the filter options cannot be used. Each message names the flag and
/// the value, and says what would be accepted.
#[derive(Debug, thiserror::Error)]
pub enum FilterError {
    /// `/.../` pattern the regex crate refuses.
    #[error("{flag} {pattern} is not a valid regex: {reason}")]
    BadRegex {
        flag: &'static str,
        /// The pattern as given, slashes included.
        pattern: String,
        /// The regex crate's reason, with `at position N` (a character
        /// offset into the regex between the slashes) when it gives one.
        reason: String,
        /// That character offset, when known.
        position: Option<usize>,
    },
    /// An empty URL pattern would match every URL.
    #[error(
        "{flag} needs a pattern: an empty one would match every URL \
         (e.g. {flag} api.example.com or {flag} '/\\/v[0-9]+\\//')"
    )]
    EmptyPattern { flag: &'static str },
    #[error(
        "--methods: {value:?} is not an HTTP method \
         (methods are tokens such as GET or PATCH, e.g. --methods GET,POST)"
    )]
    BadMethod { value: String },
    #[error(
        "--status: {value:?} is not a status code or class \
         (a code from 100 to 599 or a class 1xx to 5xx, e.g. --status 2xx,404)"
    )]
    BadStatus { value: String },
}

#[derive(Debug, Clone)]
enum UrlPattern {
    /// A plain substring, matched case-insensitively. Compiled as an
    /// escaped regex so case folding is the regex crate's (simple, per
    /// character) and a slice of a URL always matches that URL.
    Substring(Regex),
    Regex(Regex),
}

impl UrlPattern {
    fn parse(flag: &'static str, pattern: &str) -> Result<UrlPattern, FilterError> {
        if pattern.is_empty() {
            return Err(FilterError::EmptyPattern { flag });
        }
        let Some((body, case_insensitive)) = regex_body(pattern) else {
            let re = RegexBuilder::new(&regex::escape(pattern))
                .case_insensitive(true)
                .build()
                .expect("an escaped literal is a valid regex");
            return Ok(UrlPattern::Substring(re));
        };
        if body.is_empty() {
            return Err(FilterError::EmptyPattern { flag });
        }
        let re = RegexBuilder::new(body)
            .case_insensitive(case_insensitive)
            .build()
            .map_err(|err| {
                let (reason, position) = regex_error_detail(&err);
                FilterError::BadRegex {
                    flag,
                    pattern: pattern.to_string(),
                    reason,
                    position,
                }
            })?;
        Ok(UrlPattern::Regex(re))
    }

    fn matches(&self, url: &str) -> bool {
        match self {
            UrlPattern::Substring(re) | UrlPattern::Regex(re) => re.is_match(url),
        }
    }
}

/// `/body/` → (body, false), `/body/i` → (body, true); anything else is a
/// substring pattern.
fn regex_body(pattern: &str) -> Option<(&str, bool)> {
    let inner = pattern.strip_prefix('/')?;
    if let Some(body) = inner.strip_suffix("/i") {
        return Some((body, true));
    }
    inner.strip_suffix('/').map(|body| (body, false))
}

/// The reason the regex crate gives for refusing a pattern and, when it
/// points at a place, that place as a character offset into the pattern.
///
/// The regex crate only exposes its syntax errors as text: a header line,
/// the pattern, a caret line under the offending part, and `error: REASON`.
/// For a single-line pattern that is exactly four lines; anything else (a
/// pattern with a newline, a size limit) keeps the reason without a place.
pub(crate) fn regex_error_detail(err: &regex::Error) -> (String, Option<usize>) {
    let text = err.to_string();
    let lines: Vec<&str> = text.lines().collect();
    let reason = lines
        .iter()
        .rev()
        .find_map(|l| l.strip_prefix("error: "))
        .map(str::to_string)
        .unwrap_or_else(|| lines.join(" ").trim().to_string());
    let position = match lines.as_slice() {
        ["regex parse error:", _pattern, carets, _error] => carets
            .chars()
            .position(|c| c == '^')
            .and_then(|p| p.checked_sub(4)),
        _ => None,
    };
    match position {
        Some(p) => (format!("{reason} at position {p}"), Some(p)),
        None => (reason, None),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StatusMatch {
    Exact(u16),
    /// The hundreds digit: `2` for `2xx`.
    Class(u16),
}

impl StatusMatch {
    fn parse(entry: &str) -> Result<StatusMatch, FilterError> {
        let bad = || FilterError::BadStatus {
            value: entry.to_string(),
        };
        let bytes = entry.as_bytes();
        if bytes.len() != 3 || !(b'1'..=b'5').contains(&bytes[0]) {
            return Err(bad());
        }
        let class = u16::from(bytes[0] - b'0');
        if bytes[1..].eq_ignore_ascii_case(b"xx") {
            return Ok(StatusMatch::Class(class));
        }
        if bytes[1..].iter().all(u8::is_ascii_digit) {
            return Ok(StatusMatch::Exact(
                class * 100 + u16::from(bytes[1] - b'0') * 10 + u16::from(bytes[2] - b'0'),
            ));
        }
        Err(bad())
    }

    fn matches(self, status: u16) -> bool {
        match self {
            StatusMatch::Exact(code) => status == code,
            StatusMatch::Class(class) => status / 100 == class,
        }
    }
}

/// Splits repeatable, comma-joinable option values into trimmed entries,
/// skipping empty ones (`GET,` and `GET, POST` are fine).
fn entries(values: &[String]) -> impl Iterator<Item = &str> {
    values
        .iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|e| !e.is_empty())
}

/// An HTTP method is a token (RFC 9110 section 5.6.2).
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

impl CaptureFilter {
    /// Validates the options. Errors name the flag and the offending value.
    pub fn new(spec: &CaptureFilterSpec) -> Result<CaptureFilter, FilterError> {
        let include_url = spec
            .include_url
            .iter()
            .map(|p| UrlPattern::parse("--include-url", p))
            .collect::<Result<_, _>>()?;
        let exclude_url = spec
            .exclude_url
            .iter()
            .map(|p| UrlPattern::parse("--exclude-url", p))
            .collect::<Result<_, _>>()?;

        let mut methods = Vec::new();
        for entry in entries(&spec.methods) {
            if !is_token(entry) {
                return Err(FilterError::BadMethod {
                    value: entry.to_string(),
                });
            }
            let method = entry.to_ascii_uppercase();
            if !methods.contains(&method) {
                methods.push(method);
            }
        }
        if methods.is_empty() && !spec.methods.is_empty() {
            return Err(FilterError::BadMethod {
                value: spec.methods.join(","),
            });
        }

        let status = entries(&spec.status)
            .map(StatusMatch::parse)
            .collect::<Result<Vec<_>, _>>()?;
        if status.is_empty() && !spec.status.is_empty() {
            return Err(FilterError::BadStatus {
                value: spec.status.join(","),
            });
        }

        Ok(CaptureFilter {
            include_url,
            exclude_url,
            methods,
            exclude_assets: spec.exclude_assets,
            status,
        })
    }

    /// True when no filter is set: every exchange is kept.
    pub fn is_empty(&self) -> bool {
        self.include_url.is_empty()
            && self.exclude_url.is_empty()
            && self.methods.is_empty()
            && !self.exclude_assets
            && self.status.is_empty()
    }

    /// Decided from the request alone (URL and method): false means the
    /// exchange will not be kept whatever its response. True means it may
    /// be; [`CaptureFilter::keeps`] decides once the response is in.
    pub fn wants_request(&self, method: &str, url: &str) -> bool {
        if !self.methods.is_empty() && !self.methods.iter().any(|m| m.eq_ignore_ascii_case(method))
        {
            return false;
        }
        if self.exclude_url.iter().any(|p| p.matches(url)) {
            return false;
        }
        self.include_url.is_empty() || self.include_url.iter().any(|p| p.matches(url))
    }

    /// The whole decision, on a finished exchange.
    pub fn keeps(&self, ex: &Exchange) -> bool {
        if !self.wants_request(&ex.request.method, &ex.request.url) {
            return false;
        }
        if !self.status.is_empty() {
            let Some(response) = &ex.response else {
                return false;
            };
            if !self.status.iter().any(|s| s.matches(response.status)) {
                return false;
            }
        }
        !(self.exclude_assets && is_asset(ex))
    }
}

/// Image, JavaScript or CSS, by the response's content type, or by the URL
/// path's extension when there is no content type.
fn is_asset(ex: &Exchange) -> bool {
    match ex.response_content_type().filter(|t| !t.is_empty()) {
        Some(content_type) => is_asset_type(&content_type),
        None => has_asset_extension(ex.path_and_query()),
    }
}

/// `content_type` is lower-case and without parameters.
fn is_asset_type(content_type: &str) -> bool {
    content_type.starts_with("image/")
        || content_type.ends_with("+javascript")
        || matches!(
            content_type,
            "application/javascript"
                | "text/javascript"
                | "application/x-javascript"
                | "application/ecmascript"
                | "text/ecmascript"
                | "text/css"
        )
}

const ASSET_EXTENSIONS: &[&str] = &[
    "js", "mjs", "css", "png", "jpg", "jpeg", "gif", "webp", "svg", "ico", "bmp", "avif", "tif",
    "tiff",
];

fn has_asset_extension(path_and_query: &str) -> bool {
    let path = path_and_query
        .split(['?', '#'])
        .next()
        .unwrap_or(path_and_query);
    let last_segment = path.rsplit('/').next().unwrap_or(path);
    match last_segment.rsplit_once('.') {
        Some((_, ext)) => ASSET_EXTENSIONS.iter().any(|a| a.eq_ignore_ascii_case(ext)),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Body, Header, Request, Response, Timings};
    use proptest::prelude::*;

    fn request(method: &str, url: &str) -> Exchange {
        Exchange {
            id: None,
            session_id: 1,
            client_addr: "127.0.0.1:1".into(),
            started_at_us: 0,
            timings: Timings::default(),
            request: Request {
                method: method.into(),
                url: url.into(),
                http_version: "HTTP/1.1".into(),
                headers: vec![],
                body: Body::default(),
            },
            response: None,
            error: Some("connection refused".into()),
            rules: vec![],
            route: None,
            websocket: false,
        }
    }

    fn answered(url: &str, status: u16, content_type: Option<&str>) -> Exchange {
        let mut ex = request("GET", url);
        ex.error = None;
        ex.response = Some(Response {
            status,
            reason: String::new(),
            http_version: "HTTP/1.1".into(),
            headers: content_type
                .map(|t| vec![Header::new("Content-Type", t)])
                .unwrap_or_default(),
            body: Body::default(),
        });
        ex
    }

    fn filter(spec: CaptureFilterSpec) -> CaptureFilter {
        CaptureFilter::new(&spec).expect("valid filter")
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn urls(include: &[&str], exclude: &[&str]) -> CaptureFilter {
        filter(CaptureFilterSpec {
            include_url: strings(include),
            exclude_url: strings(exclude),
            ..Default::default()
        })
    }

    fn error(spec: CaptureFilterSpec) -> String {
        CaptureFilter::new(&spec)
            .expect_err("filter should be refused")
            .to_string()
    }

    #[test]
    fn no_options_keep_everything_including_errors() {
        let f = filter(CaptureFilterSpec::default());
        assert!(f.is_empty());
        assert!(f.keeps(&request("DELETE", "http://a.test/x.png")));
        assert!(f.keeps(&answered("http://a.test/", 500, Some("image/png"))));
    }

    #[test]
    fn any_option_makes_the_filter_non_empty() {
        for spec in [
            CaptureFilterSpec {
                include_url: strings(&["a"]),
                ..Default::default()
            },
            CaptureFilterSpec {
                exclude_url: strings(&["a"]),
                ..Default::default()
            },
            CaptureFilterSpec {
                methods: strings(&["GET"]),
                ..Default::default()
            },
            CaptureFilterSpec {
                exclude_assets: true,
                ..Default::default()
            },
            CaptureFilterSpec {
                status: strings(&["2xx"]),
                ..Default::default()
            },
        ] {
            assert!(!filter(spec.clone()).is_empty(), "{spec:?}");
        }
    }

    #[test]
    fn include_url_is_a_case_insensitive_substring_of_the_full_url() {
        let f = urls(&["API.Example"], &[]);
        assert!(f.wants_request("GET", "https://api.example.test/v1"));
        assert!(!f.wants_request("GET", "https://www.example.test/api"));
        // The scheme and query are part of the URL.
        assert!(urls(&["https://"], &[]).wants_request("GET", "https://a.test/"));
        assert!(!urls(&["https://"], &[]).wants_request("GET", "http://a.test/"));
        assert!(urls(&["q=1"], &[]).wants_request("GET", "http://a.test/?q=1"));
    }

    #[test]
    fn substring_patterns_treat_regex_characters_literally() {
        let f = urls(&["a.c?d"], &[]);
        assert!(f.wants_request("GET", "http://x.test/a.c?d=1"));
        assert!(!f.wants_request("GET", "http://x.test/abcd"));
    }

    #[test]
    fn a_pattern_between_slashes_is_a_regex() {
        let f = urls(&[r"/\/v[0-9]+\/items/"], &[]);
        assert!(f.wants_request("GET", "http://a.test/v2/items"));
        assert!(!f.wants_request("GET", "http://a.test/vx/items"));
        // As a substring the same text would match nothing here.
        assert!(!f.wants_request("GET", r"http://a.test/\/v[0-9]+\/items"));
    }

    #[test]
    fn slash_regexes_are_case_sensitive_unless_marked_i() {
        let sensitive = urls(&["/Items/"], &[]);
        assert!(sensitive.wants_request("GET", "http://a.test/Items"));
        assert!(!sensitive.wants_request("GET", "http://a.test/items"));
        let insensitive = urls(&["/Items/i"], &[]);
        assert!(insensitive.wants_request("GET", "http://a.test/items"));
    }

    #[test]
    fn a_lone_slash_is_a_substring_not_a_regex() {
        let f = urls(&["/"], &[]);
        assert!(f.wants_request("GET", "http://a.test/"));
        assert!(!f.wants_request("GET", "a.test"));
    }

    #[test]
    fn any_include_pattern_is_enough() {
        let f = urls(&["one.test", "/two\\.test/"], &[]);
        assert!(f.wants_request("GET", "http://one.test/"));
        assert!(f.wants_request("GET", "http://two.test/"));
        assert!(!f.wants_request("GET", "http://three.test/"));
    }

    #[test]
    fn exclude_url_drops_matching_urls_and_nothing_else() {
        let f = urls(&[], &["/health", "/\\.internal\\b/"]);
        assert!(!f.wants_request("GET", "http://a.test/HEALTH"));
        assert!(!f.wants_request("GET", "http://svc.internal/x"));
        assert!(f.wants_request("GET", "http://a.test/api"));
    }

    #[test]
    fn exclude_beats_include() {
        let f = urls(&["api.test"], &["/v1/debug"]);
        assert!(f.wants_request("GET", "http://api.test/v1/users"));
        assert!(!f.wants_request("GET", "http://api.test/v1/debug"));
        assert!(!f.keeps(&answered("http://api.test/v1/debug", 200, None)));
    }

    #[test]
    fn methods_are_case_insensitive_and_accept_lists_or_repeats() {
        for given in [&["get,Post"][..], &["GET", "post"], &[" get , POST ,"]] {
            let f = filter(CaptureFilterSpec {
                methods: strings(given),
                ..Default::default()
            });
            assert!(f.wants_request("GET", "http://a.test/"), "{given:?}");
            assert!(f.wants_request("post", "http://a.test/"), "{given:?}");
            assert!(!f.wants_request("DELETE", "http://a.test/"), "{given:?}");
            assert!(!f.keeps(&request("PUT", "http://a.test/")), "{given:?}");
        }
    }

    #[test]
    fn an_invalid_method_is_refused_with_an_example() {
        let msg = error(CaptureFilterSpec {
            methods: strings(&["GET,PO ST"]),
            ..Default::default()
        });
        assert_eq!(
            msg,
            "--methods: \"PO ST\" is not an HTTP method (methods are tokens such as GET \
             or PATCH, e.g. --methods GET,POST)"
        );
        let msg = error(CaptureFilterSpec {
            methods: strings(&[","]),
            ..Default::default()
        });
        assert!(
            msg.starts_with("--methods: \",\" is not an HTTP method"),
            "{msg}"
        );
    }

    #[test]
    fn status_classes_and_exact_codes_both_match() {
        let f = filter(CaptureFilterSpec {
            status: strings(&["2xx,404", "5XX"]),
            ..Default::default()
        });
        assert!(f.keeps(&answered("http://a.test/", 200, None)));
        assert!(f.keeps(&answered("http://a.test/", 299, None)));
        assert!(f.keeps(&answered("http://a.test/", 404, None)));
        assert!(f.keeps(&answered("http://a.test/", 503, None)));
        assert!(!f.keeps(&answered("http://a.test/", 301, None)));
        assert!(!f.keeps(&answered("http://a.test/", 403, None)));
        // The request alone cannot rule the exchange out.
        assert!(f.wants_request("GET", "http://a.test/"));
    }

    #[test]
    fn an_exchange_without_response_matches_no_status_filter() {
        let f = filter(CaptureFilterSpec {
            status: strings(&["1xx,2xx,3xx,4xx,5xx"]),
            ..Default::default()
        });
        assert!(!f.keeps(&request("GET", "http://a.test/")));
    }

    #[test]
    fn invalid_status_entries_are_refused_with_an_example() {
        for bad in ["2x", "700", "abc", "099", "2xxx", "20"] {
            let msg = error(CaptureFilterSpec {
                status: strings(&["200", bad]),
                ..Default::default()
            });
            assert_eq!(
                msg,
                format!(
                    "--status: {bad:?} is not a status code or class (a code from 100 to 599 \
                     or a class 1xx to 5xx, e.g. --status 2xx,404)"
                )
            );
        }
    }

    #[test]
    fn assets_are_recognised_by_response_content_type() {
        let f = filter(CaptureFilterSpec {
            exclude_assets: true,
            ..Default::default()
        });
        for asset in [
            "image/png",
            "IMAGE/SVG+XML; charset=utf-8",
            "application/javascript",
            "text/javascript; charset=utf-8",
            "application/x-javascript",
            "application/ecmascript",
            "text/ecmascript",
            "application/vnd.custom+javascript",
            "text/css",
        ] {
            assert!(
                !f.keeps(&answered("http://a.test/api/data", 200, Some(asset))),
                "{asset} should be an asset"
            );
        }
        for kept in ["application/json", "text/html", "video/mp4", "text/plain"] {
            assert!(
                f.keeps(&answered("http://a.test/app.js", 200, Some(kept))),
                "{kept} is not an asset, whatever the extension"
            );
        }
    }

    #[test]
    fn without_a_content_type_assets_are_recognised_by_path_extension() {
        let f = filter(CaptureFilterSpec {
            exclude_assets: true,
            ..Default::default()
        });
        for ext in ASSET_EXTENSIONS {
            let url = format!("http://a.test/static/file.{}", ext.to_uppercase());
            assert!(!f.keeps(&answered(&url, 200, None)), "{url}");
        }
        // No response at all: the extension decides too.
        assert!(!f.keeps(&request("GET", "http://a.test/app.mjs?v=3")));
        // An empty header is no content type.
        assert!(!f.keeps(&answered("http://a.test/a.css", 200, Some(""))));
        // The query is not the path.
        assert!(f.keeps(&answered("http://a.test/page?f=x.png", 200, None)));
        assert!(f.keeps(&answered("http://a.test/js/data", 200, None)));
        assert!(f.keeps(&answered("http://a.test/a.json", 200, None)));
        assert!(f.keeps(&request("GET", "http://cdn.png/")));
    }

    #[test]
    fn an_invalid_regex_names_the_pattern_and_the_position() {
        let msg = error(CaptureFilterSpec {
            include_url: strings(&["/api(/"]),
            ..Default::default()
        });
        assert_eq!(
            msg,
            "--include-url /api(/ is not a valid regex: unclosed group at position 3"
        );
        let err = CaptureFilter::new(&CaptureFilterSpec {
            exclude_url: strings(&["ok", "/a{2,1}/i"]),
            ..Default::default()
        })
        .unwrap_err();
        assert!(
            matches!(
                &err,
                FilterError::BadRegex {
                    flag: "--exclude-url",
                    position: Some(1),
                    ..
                }
            ),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            "--exclude-url /a{2,1}/i is not a valid regex: invalid repetition count range, \
             the start must be <= the end at position 1"
        );
    }

    #[test]
    fn empty_url_patterns_are_refused() {
        for pattern in ["", "//", "//i"] {
            let msg = error(CaptureFilterSpec {
                exclude_url: strings(&[pattern]),
                ..Default::default()
            });
            assert!(msg.starts_with("--exclude-url needs a pattern"), "{msg}");
        }
    }

    #[test]
    fn all_filters_must_agree() {
        let f = filter(CaptureFilterSpec {
            include_url: strings(&["api.test"]),
            methods: strings(&["GET"]),
            status: strings(&["2xx"]),
            exclude_assets: true,
            ..Default::default()
        });
        assert!(f.keeps(&answered(
            "http://api.test/v1",
            200,
            Some("application/json")
        )));
        assert!(!f.keeps(&answered(
            "http://api.test/v1",
            500,
            Some("application/json")
        )));
        assert!(!f.keeps(&answered("http://api.test/v1", 200, Some("text/css"))));
        assert!(!f.keeps(&answered("http://other.test/v1", 200, None)));
        let mut post = answered("http://api.test/v1", 200, None);
        post.request.method = "POST".into();
        assert!(!f.keeps(&post));
    }

    proptest! {
        #[test]
        fn a_slice_of_the_url_as_substring_include_always_matches_it(
            url in r"https?://[a-zA-Z0-9.-]{1,20}(:[0-9]{1,5})?(/\PC{0,30})?",
            a in any::<prop::sample::Index>(),
            b in any::<prop::sample::Index>(),
            upper in any::<bool>(),
        ) {
            let chars: Vec<char> = url.chars().collect();
            let (i, j) = (a.index(chars.len()), b.index(chars.len()));
            let (start, end) = (i.min(j), i.max(j) + 1);
            let mut pattern: String = chars[start..end].iter().collect();
            if upper {
                pattern = pattern.to_ascii_uppercase();
            }
            // Slash-delimited slices are regexes, not substrings.
            prop_assume!(regex_body(&pattern).is_none());
            let f = urls(&[&pattern], &[]);
            prop_assert!(f.wants_request("GET", &url), "{pattern:?} in {url:?}");
            let f = urls(&[], &[&pattern]);
            prop_assert!(!f.wants_request("GET", &url), "{pattern:?} in {url:?}");
        }

        #[test]
        fn filter_construction_never_panics(
            include in proptest::collection::vec(any::<String>(), 0..3),
            methods in proptest::collection::vec(any::<String>(), 0..3),
            status in proptest::collection::vec(any::<String>(), 0..3),
        ) {
            let _ = CaptureFilter::new(&CaptureFilterSpec {
                include_url: include,
                methods,
                status,
                ..Default::default()
            });
        }
    }
}
