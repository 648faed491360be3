//! `match.host`: an exact host name, or a glob over it.

/// A host pattern, stored lower-case.
///
/// `*` stands for one or more characters, dots included, so
/// `*.example.com` matches `a.example.com` and `a.b.example.com` but not
/// `example.com` itself — as in mitmproxy and Charles. Write a second rule
/// (or use the exact name) to cover the bare domain too.
#[derive(Debug, Clone)]
pub(crate) enum HostPattern {
    Exact(String),
    /// The literal text between the `*`s; at least two parts (one star).
    Glob(Vec<String>),
}

impl HostPattern {
    /// Parses a pattern; the error says what is wrong and what to do.
    pub(crate) fn parse(text: &str) -> Result<HostPattern, String> {
        const HELP: &str =
            "use a host name like \"api.example.com\" or a glob like \"*.example.com\"";
        // An IPv6 address may be written the way it appears in URLs.
        let bare = text
            .strip_prefix('[')
            .and_then(|t| t.strip_suffix(']'))
            .unwrap_or(text);
        // "example.com." is the same name as "example.com".
        let bare = bare.strip_suffix('.').unwrap_or(bare);
        if bare.is_empty() {
            return Err(format!("bad host glob {text:?}: it is empty; {HELP}"));
        }
        if let Some(c) = bare
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '*' | ':')))
        {
            return Err(format!(
                "bad host glob {text:?}: {c:?} is not allowed (only letters, digits, '-', '.', '*', and ':' for IPv6); {HELP}"
            ));
        }
        if bare.contains("**") {
            return Err(format!(
                "bad host glob {text:?}: `**` means nothing more than `*` here (one `*` already spans dots); write `*`"
            ));
        }
        // One colon is a port, which match.host never sees; IPv6 has several.
        if bare.matches(':').count() == 1 {
            return Err(format!(
                "bad host glob {text:?}: match.host is compared with the host alone, without a port; drop the `:{}`",
                bare.rsplit(':').next().unwrap_or_default()
            ));
        }
        let lower = bare.to_ascii_lowercase();
        if lower.contains('*') {
            Ok(HostPattern::Glob(
                lower.split('*').map(str::to_owned).collect(),
            ))
        } else {
            Ok(HostPattern::Exact(lower))
        }
    }

    /// Whether the host of a request URL (as `http::Uri::host` gives it,
    /// IPv6 in brackets) matches, ignoring case. Allocates nothing.
    pub(crate) fn matches(&self, host: &str) -> bool {
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let host = host.strip_suffix('.').unwrap_or(host).as_bytes();
        match self {
            HostPattern::Exact(name) => host.eq_ignore_ascii_case(name.as_bytes()),
            HostPattern::Glob(parts) => glob_matches(parts, host),
        }
    }
}

/// `parts` are the literals around the stars; each star takes one or more
/// bytes. Placing every middle literal as early as it fits is enough: an
/// earlier place only leaves more room for what follows.
fn glob_matches(parts: &[String], host: &[u8]) -> bool {
    let Some((first, rest)) = parts.split_first() else {
        return false;
    };
    let Some((last, middle)) = rest.split_last() else {
        return host.eq_ignore_ascii_case(first.as_bytes());
    };
    let Some(head) = host.get(..first.len()) else {
        return false;
    };
    if !head.eq_ignore_ascii_case(first.as_bytes()) {
        return false;
    }
    let mut pos = first.len();
    for part in middle {
        // The star before this part takes at least one byte.
        let Some(after) = host.get(pos + 1..) else {
            return false;
        };
        match find_ignore_case(after, part.as_bytes()) {
            Some(at) => pos += 1 + at + part.len(),
            None => return false,
        }
    }
    host.len() >= pos + 1 + last.len()
        && host[host.len() - last.len()..].eq_ignore_ascii_case(last.as_bytes())
}

fn find_ignore_case(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pat(text: &str) -> HostPattern {
        HostPattern::parse(text).unwrap()
    }

    #[test]
    fn exact_names_match_ignoring_case_and_a_trailing_dot() {
        let p = pat("API.Example.com");
        assert!(p.matches("api.example.com"));
        assert!(p.matches("API.EXAMPLE.COM"));
        assert!(p.matches("api.example.com."));
        assert!(!p.matches("x.api.example.com"));
        assert!(!p.matches("api.example.co"));
    }

    #[test]
    fn a_leading_star_glob_matches_subdomains_at_any_depth_but_not_the_domain() {
        let p = pat("*.example.com");
        assert!(p.matches("a.example.com"));
        assert!(p.matches("a.b.example.com"));
        assert!(p.matches("A.Example.COM"));
        assert!(!p.matches("example.com"));
        assert!(!p.matches(".example.com"));
        assert!(!p.matches("badexample.com"));
    }

    #[test]
    fn stars_may_sit_anywhere_and_take_at_least_one_character() {
        assert!(pat("api-*.example.com").matches("api-eu.example.com"));
        assert!(!pat("api-*.example.com").matches("api-.example.com"));
        assert!(pat("*").matches("localhost"));
        assert!(pat("a*b*c").matches("axbyc"));
        assert!(!pat("a*b*c").matches("abc"));
        assert!(!pat("a*b*c").matches("axbc"));
    }

    #[test]
    fn ipv6_hosts_are_compared_without_brackets() {
        assert!(pat("::1").matches("[::1]"));
        assert!(pat("[::1]").matches("[::1]"));
        assert!(pat("2001:db8::*").matches("[2001:db8::7]"));
    }

    #[test]
    fn bad_patterns_say_why() {
        for (text, why) in [
            ("", "it is empty"),
            ("*.example..com/x", "'/' is not allowed"),
            ("a b", "' ' is not allowed"),
            ("**.example.com", "write `*`"),
            ("api.example.com:8080", "drop the `:8080`"),
        ] {
            let e = HostPattern::parse(text).unwrap_err();
            assert!(e.starts_with("bad host glob"), "{e}");
            assert!(e.contains(why), "{text:?}: {e}");
        }
    }

    /// The glob agrees with the regex it stands for on every short host.
    #[test]
    fn glob_agrees_with_the_equivalent_regex() {
        let patterns = ["*", "a*", "*a", "a*b", "*.a", "a.*", "*a*", "a*a*a", "*.*"];
        let alphabet = [b'a', b'b', b'.'];
        let mut hosts = vec![Vec::new()];
        for len in 1..=6 {
            let mut next = Vec::new();
            for h in hosts.iter().filter(|h: &&Vec<u8>| h.len() == len - 1) {
                for c in alphabet {
                    let mut h = h.clone();
                    h.push(c);
                    next.push(h);
                }
            }
            hosts.extend(next);
        }
        for p in patterns {
            let glob = pat(p);
            let re = format!("^{}$", regex::escape(p).replace(r"\*", ".+"));
            let re = regex::Regex::new(&re).unwrap();
            for h in &hosts {
                let h = std::str::from_utf8(h).unwrap();
                // A trailing dot is dropped first: "a." is the name "a".
                let name = h.strip_suffix('.').unwrap_or(h);
                assert_eq!(glob.matches(h), re.is_match(name), "{p:?} vs {h:?}");
            }
        }
    }
}
