//! Splitting a captured URL into its parts without normalizing anything.
//!
//! The `url` crate would lower-case, re-encode and drop default ports; the
//! exports must show the URL exactly as it was forwarded, so this splitter
//! only cuts the string. Its rules follow the Postman SDK's `Url.parse`, so
//! a collection's parsed URL and its `raw` text agree.

/// The pieces of `scheme://userinfo@host:port/path?query#fragment`, each a
/// slice of the original string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct UrlParts<'a> {
    /// Without `://`; empty when the URL has none.
    pub scheme: &'a str,
    pub userinfo: Option<&'a str>,
    /// IPv6 hosts keep their brackets.
    pub host: &'a str,
    pub port: Option<&'a str>,
    /// Empty, or starting with `/`.
    pub path: &'a str,
    /// After `?`, before `#`.
    pub query: Option<&'a str>,
    pub fragment: Option<&'a str>,
}

impl<'a> UrlParts<'a> {
    pub fn parse(url: &'a str) -> Self {
        let (before_fragment, fragment) = match url.split_once('#') {
            Some((b, f)) => (b, Some(f)),
            None => (url, None),
        };
        let (scheme, after) = before_fragment
            .split_once("://")
            .unwrap_or(("", before_fragment));
        let (authority, rest) = match after.find(['/', '?']) {
            Some(i) => after.split_at(i),
            None => (after, ""),
        };
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let (host, port) = split_host_port(hostport);
        let (path, query) = match rest.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (rest, None),
        };
        UrlParts {
            scheme,
            userinfo,
            host,
            port,
            path,
            query,
            fragment,
        }
    }

    /// `host` plus `:port` when the port is given and is not the scheme's
    /// default (`http://a:80/` is `a`, `http://a:8080/` is `a:8080`).
    pub fn domain(&self) -> String {
        match self.port {
            Some(port) if Some(port) != default_port(self.scheme) && !port.is_empty() => {
                format!("{}:{}", self.host, port)
            }
            _ => self.host.to_string(),
        }
    }

    /// The path, `/` when the URL has none.
    pub fn path_or_root(&self) -> &'a str {
        if self.path.is_empty() {
            "/"
        } else {
            self.path
        }
    }
}

fn split_host_port(hostport: &str) -> (&str, Option<&str>) {
    if hostport.starts_with('[') {
        if let Some(end) = hostport.find(']') {
            return (&hostport[..=end], hostport[end + 1..].strip_prefix(':'));
        }
        return (hostport, None);
    }
    match hostport.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (hostport, None),
    }
}

pub(crate) fn default_port(scheme: &str) -> Option<&'static str> {
    match scheme.to_ascii_lowercase().as_str() {
        "http" | "ws" => Some("80"),
        "https" | "wss" => Some("443"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_part_is_cut_from_the_original_text() {
        let u = UrlParts::parse("https://user:pw@API.example.test:8443/v1/a%20b/?q=caf%C3%A9#top");
        assert_eq!(u.scheme, "https");
        assert_eq!(u.userinfo, Some("user:pw"));
        assert_eq!(u.host, "API.example.test");
        assert_eq!(u.port, Some("8443"));
        assert_eq!(u.path, "/v1/a%20b/");
        assert_eq!(u.query, Some("q=caf%C3%A9"));
        assert_eq!(u.fragment, Some("top"));
        assert_eq!(u.domain(), "API.example.test:8443");
    }

    #[test]
    fn default_ports_are_not_part_of_the_domain() {
        assert_eq!(UrlParts::parse("http://a.test:80/x").domain(), "a.test");
        assert_eq!(UrlParts::parse("https://a.test:443").domain(), "a.test");
        assert_eq!(UrlParts::parse("http://a.test:443/").domain(), "a.test:443");
        assert_eq!(UrlParts::parse("http://[::1]:8080").domain(), "[::1]:8080");
        assert_eq!(UrlParts::parse("http://[::1]").host, "[::1]");
    }

    #[test]
    fn a_query_without_a_path_and_a_bare_host_both_split() {
        let u = UrlParts::parse("http://a.test?x=1");
        assert_eq!((u.path, u.query), ("", Some("x=1")));
        assert_eq!(u.path_or_root(), "/");
        let u = UrlParts::parse("http://a.test");
        assert_eq!((u.host, u.path, u.query), ("a.test", "", None));
    }
}
