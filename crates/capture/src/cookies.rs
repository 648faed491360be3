//! What a `Set-Cookie` header does to a cookie jar, as RFC 6265 section 5.3
//! (the storage model) says: a pure function from the request URL, the
//! header and the time the response came to a [`CookieAction`].
//!
//! Parsing the header (section 5.2) is the `cookie` crate's; the storage
//! rules are here:
//!
//! - **Expiry**: `Max-Age` wins over `Expires`; a `Max-Age` of zero or less,
//!   or an `Expires` in the past, makes the header a deletion of the cookie
//!   with the same name, domain and path. Neither makes a session cookie
//!   (`expires_at_us: None`).
//! - **Domain**: without a `Domain` attribute (or with an empty one) the
//!   cookie is host-only, for the request host exactly. With one (a leading
//!   dot ignored, compared case-insensitively), the request host must
//!   domain-match it (be it, or a subdomain of it; an IP address only
//!   matches itself), else the header is rejected. We carry no public
//!   suffix list: a single-label domain (`com`, `localhost`) counts as a
//!   public suffix, so it is accepted only when it is the request host
//!   itself, and then as host-only (section 5.3 step 5).
//! - **Path**: a `Path` attribute starting with `/` is the path; otherwise
//!   the default path of the request URL (section 5.1.4): its path up to,
//!   not including, the last `/`, or `/`.
//! - `Secure`, `HttpOnly` and `SameSite` are recorded as given. (RFC 6265
//!   lets a plain-HTTP response set a `Secure` cookie; later drafts do not.
//!   We record what the origin said.)
//!
//! A jar keys cookies by (domain, path, name): storing replaces the cookie
//! with the same key, keeping its creation time (section 5.3 step 11).

use std::net::IpAddr;

use cookie::{Cookie, SameSite};
use serde::{Deserialize, Serialize};

use crate::model::Exchange;

/// One cookie as a jar keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JarCookie {
    /// Lower-case, without a leading dot: the request host for a host-only
    /// cookie, else the `Domain` attribute.
    pub domain: String,
    pub path: String,
    pub name: String,
    pub value: String,
    /// Unix microseconds; `None` for a session cookie.
    pub expires_at_us: Option<i64>,
    pub secure: bool,
    pub http_only: bool,
    /// `Strict`, `Lax` or `None` as the header gave it.
    pub same_site: Option<String>,
    /// Sent to `domain` only, not to its subdomains.
    pub host_only: bool,
}

/// What one `Set-Cookie` header asks of the jar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CookieAction {
    /// Store this cookie, replacing one with the same domain, path and name.
    Store(JarCookie),
    /// The cookie expired on arrival: remove the one with this key, if any.
    Remove {
        domain: String,
        path: String,
        name: String,
    },
}

/// Why a `Set-Cookie` header was ignored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CookieRejected {
    #[error("not a cookie: {0}")]
    Unparsable(String),
    #[error("Domain={domain} does not match the request host {host}")]
    ForeignDomain { domain: String, host: String },
    #[error(
        "Domain={domain} is a public suffix (a single label) other than the request host {host}"
    )]
    PublicSuffix { domain: String, host: String },
    #[error("the request URL {0} has no host")]
    NoHost(String),
}

/// What `header` (one `Set-Cookie` value), received at `now_us` (Unix
/// microseconds) in answer to `request_url`, does to a jar.
pub fn set_cookie_action(
    request_url: &str,
    header: &str,
    now_us: i64,
) -> Result<CookieAction, CookieRejected> {
    let parsed = Cookie::parse(header).map_err(|e| CookieRejected::Unparsable(e.to_string()))?;
    let (host, path) = host_and_path(request_url);
    let host = host.to_ascii_lowercase();
    if host.is_empty() {
        return Err(CookieRejected::NoHost(request_url.to_string()));
    }

    let attribute = parsed
        .domain()
        .map(str::to_ascii_lowercase)
        .filter(|d| !d.is_empty());
    let (domain, host_only) = match attribute {
        None => (host.clone(), true),
        Some(domain) if !domain.contains('.') && !is_ip(&domain) => {
            if domain == host {
                (host.clone(), true)
            } else {
                return Err(CookieRejected::PublicSuffix { domain, host });
            }
        }
        Some(domain) if domain_matches(&host, &domain) => (domain, false),
        Some(domain) => return Err(CookieRejected::ForeignDomain { domain, host }),
    };

    let path = match parsed.path() {
        Some(p) if p.starts_with('/') => p.to_string(),
        _ => default_path(path),
    };

    let expires_at_us = if let Some(max_age) = parsed.max_age() {
        let secs = max_age.whole_seconds();
        if secs <= 0 {
            Some(i64::MIN)
        } else {
            Some(now_us.saturating_add(secs.saturating_mul(1_000_000)))
        }
    } else {
        parsed.expires_datetime().map(|t| {
            i64::try_from(t.unix_timestamp_nanos() / 1000).unwrap_or(if t.year() < 1970 {
                i64::MIN
            } else {
                i64::MAX
            })
        })
    };
    let name = parsed.name().to_string();
    if expires_at_us.is_some_and(|at| at <= now_us) {
        return Ok(CookieAction::Remove { domain, path, name });
    }

    Ok(CookieAction::Store(JarCookie {
        domain,
        path,
        name,
        value: parsed.value().to_string(),
        expires_at_us,
        secure: parsed.secure().unwrap_or(false),
        http_only: parsed.http_only().unwrap_or(false),
        same_site: parsed.same_site().map(|s| {
            match s {
                SameSite::Strict => "Strict",
                SameSite::Lax => "Lax",
                SameSite::None => "None",
            }
            .to_string()
        }),
        host_only,
    }))
}

/// The jar actions of every `Set-Cookie` in `ex`'s response, in header
/// order, taking the exchange's start as the time of receipt. Rejected
/// headers are left out.
pub fn response_cookie_actions(ex: &Exchange) -> Vec<CookieAction> {
    let Some(response) = &ex.response else {
        return Vec::new();
    };
    response
        .headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("set-cookie"))
        .filter_map(|h| set_cookie_action(&ex.request.url, &h.value, ex.started_at_us).ok())
        .collect()
}

/// Whether `host` domain-matches `domain` (RFC 6265 section 5.1.3): they
/// are equal, or `host` ends with `.domain` and is not an IP address. Both
/// lower-case.
pub fn domain_matches(host: &str, domain: &str) -> bool {
    host == domain
        || (host.len() > domain.len()
            && host.ends_with(domain)
            && host.as_bytes()[host.len() - domain.len() - 1] == b'.'
            && !is_ip(host))
}

fn is_ip(host: &str) -> bool {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
        .is_ok()
}

/// RFC 6265 section 5.1.4: the directory of the request path.
fn default_path(path: &str) -> String {
    if !path.starts_with('/') {
        return "/".into();
    }
    match path.rfind('/') {
        Some(0) | None => "/".into(),
        Some(i) => path[..i].to_string(),
    }
}

/// The host (without port, IPv6 with brackets) and the path (without query
/// or fragment) of a URL.
fn host_and_path(url: &str) -> (&str, &str) {
    let after = url.split_once("://").map_or(url, |(_, rest)| rest);
    let (authority, rest) = match after.find(['/', '?', '#']) {
        Some(i) => after.split_at(i),
        None => (after, ""),
    };
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    let host = if authority.starts_with('[') {
        authority
            .find(']')
            .map_or(authority, |end| &authority[..=end])
    } else {
        authority.split(':').next().unwrap_or(authority)
    };
    let path = rest.split(['?', '#']).next().unwrap_or("");
    (host, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000_000_000;

    fn stored(url: &str, header: &str) -> JarCookie {
        match set_cookie_action(url, header, NOW) {
            Ok(CookieAction::Store(c)) => c,
            other => panic!("{header} from {url}: expected a stored cookie, got {other:?}"),
        }
    }

    #[test]
    fn without_domain_a_cookie_is_host_only_for_the_request_host() {
        let c = stored("http://API.Example.test:8080/v1/login", "sid=abc");
        assert_eq!(c.domain, "api.example.test");
        assert!(c.host_only);
        assert_eq!(c.name, "sid");
        assert_eq!(c.value, "abc");
        assert_eq!(c.expires_at_us, None, "a session cookie");
        assert!(!c.secure && !c.http_only);
        assert_eq!(c.same_site, None);
    }

    #[test]
    fn a_domain_attribute_covers_subdomains_and_loses_its_leading_dot() {
        let c = stored("https://api.example.test/", "a=1; Domain=.Example.TEST");
        assert_eq!(c.domain, "example.test");
        assert!(!c.host_only);
        let c = stored("https://example.test/", "a=1; Domain=example.test");
        assert_eq!(c.domain, "example.test");
        assert!(!c.host_only);
    }

    #[test]
    fn a_domain_the_host_does_not_match_is_rejected() {
        for (url, header) in [
            ("https://api.example.test/", "a=1; Domain=other.test"),
            ("https://example.test/", "a=1; Domain=api.example.test"),
            ("https://badexample.test/", "a=1; Domain=example.test"),
            ("http://127.0.0.1:8080/", "a=1; Domain=0.0.1"),
        ] {
            assert!(
                matches!(
                    set_cookie_action(url, header, NOW),
                    Err(CookieRejected::ForeignDomain { .. })
                ),
                "{header} from {url}"
            );
        }
    }

    #[test]
    fn an_ip_address_host_matches_only_itself() {
        let c = stored("http://127.0.0.1:9000/x", "a=1; Domain=127.0.0.1");
        assert_eq!(c.domain, "127.0.0.1");
        assert!(!domain_matches("10.0.0.1", "0.0.1"));
        let c = stored("http://[::1]:9000/x", "a=1");
        assert_eq!(c.domain, "[::1]");
    }

    #[test]
    fn a_single_label_domain_is_a_public_suffix_unless_it_is_the_host() {
        assert!(matches!(
            set_cookie_action("https://example.com/", "a=1; Domain=com", NOW),
            Err(CookieRejected::PublicSuffix { .. })
        ));
        let c = stored("http://localhost:3000/", "a=1; Domain=localhost");
        assert_eq!(c.domain, "localhost");
        assert!(c.host_only, "section 5.3 step 5: becomes host-only");
    }

    #[test]
    fn an_empty_domain_attribute_is_ignored() {
        for header in ["a=1; Domain=", "a=1; Domain=."] {
            let c = stored("https://api.example.test/", header);
            assert_eq!(c.domain, "api.example.test", "{header}");
            assert!(c.host_only, "{header}");
        }
    }

    #[test]
    fn the_default_path_is_the_directory_of_the_request_path() {
        for (url, path) in [
            ("http://a.test/v1/users/login?x=/y", "/v1/users"),
            ("http://a.test/login", "/"),
            ("http://a.test/", "/"),
            ("http://a.test", "/"),
            ("http://a.test/v1/", "/v1"),
        ] {
            assert_eq!(stored(url, "a=1").path, path, "{url}");
        }
        // A Path attribute not starting with `/` is no path.
        assert_eq!(stored("http://a.test/v1/x", "a=1; Path=v2").path, "/v1");
        assert_eq!(stored("http://a.test/v1/x", "a=1; Path=").path, "/v1");
        assert_eq!(stored("http://a.test/v1/x", "a=1; Path=/").path, "/");
        assert_eq!(
            stored("http://a.test/v1/x", "a=1; Path=/v2/y").path,
            "/v2/y"
        );
    }

    #[test]
    fn max_age_wins_over_expires() {
        let c = stored(
            "http://a.test/",
            "a=1; Expires=Wed, 21 Oct 2015 07:28:00 GMT; Max-Age=60",
        );
        assert_eq!(c.expires_at_us, Some(NOW + 60_000_000));
        let c = stored(
            "http://a.test/",
            "a=1; Max-Age=60; Expires=Wed, 21 Oct 2015 07:28:00 GMT",
        );
        assert_eq!(c.expires_at_us, Some(NOW + 60_000_000));
    }

    #[test]
    fn expires_in_the_future_is_kept_as_is() {
        let c = stored(
            "http://a.test/",
            "a=1; Expires=Fri, 01 Jan 2100 00:00:00 GMT",
        );
        assert_eq!(c.expires_at_us, Some(4_102_444_800_000_000));
    }

    #[test]
    fn an_expired_cookie_is_a_removal() {
        for header in [
            "a=; Max-Age=0",
            "a=gone; Max-Age=-1; Path=/v1",
            "a=1; Expires=Thu, 01 Jan 1970 00:00:00 GMT",
        ] {
            match set_cookie_action("http://A.test/v1/x", header, NOW) {
                Ok(CookieAction::Remove { domain, path, name }) => {
                    assert_eq!((domain.as_str(), name.as_str()), ("a.test", "a"));
                    assert_eq!(path, "/v1", "{header}");
                }
                other => panic!("{header}: {other:?}"),
            }
        }
        // A Max-Age in the future beats an Expires in the past.
        stored(
            "http://a.test/",
            "a=1; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=10",
        );
    }

    #[test]
    fn flags_are_recorded() {
        let c = stored(
            "https://a.test/",
            "a=1; Secure; HttpOnly; SameSite=strict; Partitioned",
        );
        assert!(c.secure && c.http_only);
        assert_eq!(c.same_site.as_deref(), Some("Strict"));
        assert_eq!(
            stored("https://a.test/", "a=1; samesite=None")
                .same_site
                .as_deref(),
            Some("None")
        );
        assert_eq!(
            stored("https://a.test/", "a=1; SameSite=odd").same_site,
            None
        );
    }

    #[test]
    fn a_header_without_a_name_is_rejected() {
        for header in ["novalue", "=x", ""] {
            assert!(
                matches!(
                    set_cookie_action("http://a.test/", header, NOW),
                    Err(CookieRejected::Unparsable(_))
                ),
                "{header:?}"
            );
        }
    }

    #[test]
    fn values_keep_their_quotes_and_equals_signs() {
        assert_eq!(stored("http://a.test/", "a=\"x=y\"").value, "\"x=y\"");
        assert_eq!(stored("http://a.test/", "t=abc==; Path=/").value, "abc==");
    }

    #[test]
    fn every_set_cookie_of_a_response_counts_in_order() {
        use crate::model::{Body, Header, Request, Response, Timings};
        let ex = Exchange {
            id: None,
            session_id: 1,
            client_addr: "127.0.0.1:1".into(),
            started_at_us: NOW,
            timings: Timings::default(),
            request: Request {
                method: "GET".into(),
                url: "https://shop.test/cart/add".into(),
                http_version: "HTTP/1.1".into(),
                headers: vec![Header::new("Set-Cookie", "request=side")],
                body: Body::default(),
            },
            response: Some(Response {
                status: 200,
                reason: "OK".into(),
                http_version: "HTTP/1.1".into(),
                headers: vec![
                    Header::new("set-cookie", "a=1"),
                    Header::new("Content-Type", "text/plain"),
                    Header::new("Set-Cookie", "b=2; Domain=elsewhere.test"),
                    Header::new("SET-COOKIE", "c=3; Max-Age=0"),
                ],
                body: Body::default(),
            }),
            error: None,
            rules: vec![],
            route: None,
            websocket: false,
        };
        let actions = response_cookie_actions(&ex);
        assert_eq!(actions.len(), 2, "{actions:?}");
        assert!(
            matches!(&actions[0], CookieAction::Store(c) if c.name == "a" && c.path == "/cart")
        );
        assert!(matches!(&actions[1], CookieAction::Remove { name, .. } if name == "c"));
    }
}
