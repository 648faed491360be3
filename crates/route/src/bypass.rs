//! Bypass lists: the custom proxy's `proxy.custom.bypass`, `--proxy-bypass`
//! and the `NO_PROXY` environment variable all go through [`Bypass`].
//!
//! The rules are curl's (`lib/noproxy.c`, documented in `CURLOPT_NOPROXY(3)`
//! and checked by curl's unit test 1614); each rule below says which curl
//! behaviour it mirrors. Where DESIGN.md asks for more than curl does
//! (`*.example.com`, `:port`, `[::1]`), the extension only ever matches
//! entries that curl would have ignored (curl never matches them), so a list
//! that works with curl means the same thing here.
//!
//! A host name is never resolved: `localhost` matches the name `localhost`,
//! not `127.0.0.1`, exactly as in curl, which has no implicit loopback
//! bypass (`localhost`, `127.0.0.1` and `::1` go direct only when listed).

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;

/// A parsed bypass list (`NO_PROXY` or a custom bypass list).
///
/// Parsing never fails: like curl, an entry that cannot match anything is
/// kept but ignored. [`Bypass::invalid_entries`] lists those entries with
/// the reason, so a settings command can refuse them.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Bypass {
    /// The whole list was `*`.
    everything: Option<String>,
    entries: Vec<Entry>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Entry {
    /// The entry as the user wrote it (trimmed), for reasons and messages.
    written: String,
    pattern: Pattern,
    /// DESIGN.md extension: `host:port` matches only that port.
    port: Option<u16>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Pattern {
    /// `example.com` or `.example.com`: the name itself and every name
    /// under it (curl: "matched as either a domain which contains the
    /// hostname, or the hostname itself"; a leading dot is ignored).
    Domain(String),
    /// `*.example.com`: names under it, not `example.com` itself
    /// (DESIGN.md extension; curl never matches such an entry).
    Subdomains(String),
    /// An IPv4 or IPv6 literal: that address only (curl compares
    /// addresses, so `0:0::1` and `::1` are the same).
    Addr(IpAddr),
    /// A CIDR block, `10.0.0.0/8` or `::1/128` (curl since 7.86.0).
    Net(IpNet),
    /// An entry that can never match, and why.
    Invalid(&'static str),
}

impl Bypass {
    /// Parses a bypass list.
    ///
    /// Entries are separated by commas and/or blanks (curl splits on both:
    /// `"foo,,,,,   bar"` and, since curl 8, `"localhost .example.com"`),
    /// surrounding whitespace is trimmed and matching is case-insensitive.
    /// The list `*` (alone, surrounding blanks aside) matches every host,
    /// as in curl; a `*` entry inside a longer list matches nothing, also as
    /// in curl, and is reported by [`Bypass::invalid_entries`].
    pub fn parse(list: &str) -> Bypass {
        let trimmed = list.trim();
        if trimmed == "*" {
            return Bypass {
                everything: Some("*".to_owned()),
                entries: Vec::new(),
            };
        }
        let entries = trimmed
            .split(|c: char| c == ',' || c.is_ascii_whitespace())
            .filter(|token| !token.is_empty())
            .map(parse_entry)
            .collect();
        Bypass {
            everything: None,
            entries,
        }
    }

    /// A list that matches nothing (what an empty string parses to).
    pub fn empty() -> Bypass {
        Bypass::default()
    }

    /// True when the list has no entries at all.
    pub fn is_empty(&self) -> bool {
        self.everything.is_none() && self.entries.is_empty()
    }

    /// Whether a request to `host:port` should bypass the proxy; returns the
    /// entry that matched, as written, so callers can say why.
    ///
    /// `host` is a name or an IP literal; an IPv6 literal may be given with
    /// or without brackets (`[::1]` or `::1`), and a name may end in a dot
    /// (curl ignores one trailing dot on both sides). An IP host is matched
    /// only against IP and CIDR entries, a name only against name entries:
    /// nothing is resolved.
    pub fn matches(&self, host: &str, port: u16) -> Option<&str> {
        if let Some(all) = &self.everything {
            return Some(all);
        }
        let host = NormalHost::new(host)?;
        self.entries
            .iter()
            .find(|entry| entry.port.is_none_or(|p| p == port) && entry.pattern.matches(&host))
            .map(|entry| entry.written.as_str())
    }

    /// Entries that can never match, each with the reason (for example
    /// `http://proxy` or `10.0.0.0/33`). curl silently ignores these; a
    /// settings command should refuse them instead.
    pub fn invalid_entries(&self) -> impl Iterator<Item = (&str, &'static str)> {
        self.entries.iter().filter_map(|entry| match entry.pattern {
            Pattern::Invalid(why) => Some((entry.written.as_str(), why)),
            _ => None,
        })
    }
}

impl fmt::Debug for Bypass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_list();
        if let Some(all) = &self.everything {
            list.entry(all);
        }
        for entry in &self.entries {
            list.entry(&entry.written);
        }
        list.finish()
    }
}

/// The host being checked, lower-cased, brackets and one trailing dot gone.
enum NormalHost {
    Name(String),
    Ip(IpAddr),
}

impl NormalHost {
    fn new(host: &str) -> Option<NormalHost> {
        let host = host.trim();
        // curl: an empty host name (a file:// transfer) matches nothing.
        if host.is_empty() {
            return None;
        }
        let unbracketed = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        // An IPv6 zone (`fe80::1%eth0`) does not take part in matching.
        let without_zone = unbracketed.split('%').next().unwrap_or(unbracketed);
        if let Ok(ip) = without_zone.parse::<IpAddr>() {
            return Some(NormalHost::Ip(ip));
        }
        let name = host.strip_suffix('.').unwrap_or(host);
        Some(NormalHost::Name(name.to_ascii_lowercase()))
    }
}

impl Pattern {
    fn matches(&self, host: &NormalHost) -> bool {
        match (self, host) {
            // curl cases A and B: exact, or a tail match on a label boundary
            // (`www.example.com` matches `example.com`, `nonexample.com`
            // does not).
            (Pattern::Domain(domain), NormalHost::Name(name)) => {
                name == domain || is_strictly_under(name, domain)
            }
            (Pattern::Subdomains(domain), NormalHost::Name(name)) => {
                is_strictly_under(name, domain)
            }
            (Pattern::Addr(addr), NormalHost::Ip(ip)) => addr == ip,
            (Pattern::Net(net), NormalHost::Ip(ip)) => net.contains(ip),
            _ => false,
        }
    }
}

fn is_strictly_under(name: &str, domain: &str) -> bool {
    name.len() > domain.len()
        && name.ends_with(domain)
        && name.as_bytes()[name.len() - domain.len() - 1] == b'.'
}

fn parse_entry(token: &str) -> Entry {
    let written = token.to_owned();
    let lower = token.to_ascii_lowercase();
    let (pattern, port) = match split_port(&lower) {
        Ok((body, port)) => (parse_pattern(&body), port),
        Err(why) => (Pattern::Invalid(why), None),
    };
    Entry {
        written,
        pattern,
        port,
    }
}

/// Splits an optional `:port` off an entry (DESIGN.md extension) and drops
/// IPv6 brackets.
///
/// `[v6]`, `[v6]:port`, `[v6]/bits`, `[v6]/bits:port`, `[v6/bits]`;
/// `name:port`, `v4:port`, `v4/bits:port`. An entry with two or more colons
/// and no brackets is an IPv6 literal without a port, which is how curl's
/// documentation asks for IPv6 entries to be written.
fn split_port(entry: &str) -> Result<(String, Option<u16>), &'static str> {
    if entry.contains("://") {
        return Err("write a host name or address, not a URL (no scheme)");
    }
    if let Some(rest) = entry.strip_prefix('[') {
        let Some((addr, after)) = rest.split_once(']') else {
            return Err("an IPv6 address opened with [ needs a closing ]");
        };
        let (bits, port) = match after.split_once(':') {
            Some((bits, port)) => (bits, Some(parse_port(port)?)),
            None => (after, None),
        };
        if !bits.is_empty() && !bits.starts_with('/') {
            return Err("only /bits or :port may follow an IPv6 address in brackets");
        }
        return Ok((format!("{addr}{bits}"), port));
    }
    match entry.split_once(':') {
        Some((body, port)) if !port.contains(':') => Ok((body.to_owned(), Some(parse_port(port)?))),
        _ => Ok((entry.to_owned(), None)),
    }
}

fn parse_port(port: &str) -> Result<u16, &'static str> {
    match port.parse::<u16>() {
        Ok(p) if p > 0 && port.bytes().all(|b| b.is_ascii_digit()) => Ok(p),
        _ => Err("the port after : must be a number from 1 to 65535"),
    }
}

fn parse_pattern(body: &str) -> Pattern {
    if body.is_empty() {
        return Pattern::Invalid("empty host");
    }
    if let Some((addr, bits)) = body.split_once('/') {
        let Ok(addr) = addr.parse::<IpAddr>() else {
            return Pattern::Invalid("a /bits suffix needs an IP address, e.g. 10.0.0.0/8");
        };
        // curl reads the bits with atoi and treats /0 (and garbage) as "the
        // whole address"; here the bits must be a number in range, and /0
        // means the whole address family, as CIDR notation says.
        let Ok(bits) = bits.parse::<u8>() else {
            return Pattern::Invalid("the /bits of a CIDR block must be a number");
        };
        return match IpNet::new(addr, bits) {
            Ok(net) => Pattern::Net(net),
            Err(_) => Pattern::Invalid("CIDR bits must be at most 32 for IPv4 and 128 for IPv6"),
        };
    }
    if let Ok(addr) = body.parse::<IpAddr>() {
        return Pattern::Addr(addr);
    }
    if body == "*" {
        return Pattern::Invalid("* matches everything only when it is the whole list");
    }
    if let Some(domain) = body.strip_prefix("*.") {
        return match name_pattern(domain) {
            Ok(domain) if !domain.is_empty() => Pattern::Subdomains(domain),
            Ok(_) => Pattern::Invalid("*. needs a domain after it, e.g. *.example.com"),
            Err(why) => Pattern::Invalid(why),
        };
    }
    // curl: ignore one trailing dot, then one leading dot, so `.example.com`
    // and `example.com` are the same entry.
    let trimmed = body.strip_suffix('.').unwrap_or(body);
    let trimmed = trimmed.strip_prefix('.').unwrap_or(trimmed);
    match name_pattern(trimmed) {
        Ok(name) if !name.is_empty() => Pattern::Domain(name),
        Ok(_) => Pattern::Invalid("empty host"),
        Err(why) => Pattern::Invalid(why),
    }
}

fn name_pattern(name: &str) -> Result<String, &'static str> {
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.contains('*') {
        return Err("* may only stand alone or lead an entry as *.domain");
    }
    if name.contains(['/', '@', '[', ']']) {
        return Err("not a host name");
    }
    Ok(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bracketed_ipv6_with_bits_and_port_parses_to_a_network_and_port() {
        let entry = parse_entry("[fd00::]/8:443");
        assert_eq!(entry.port, Some(443));
        assert!(matches!(entry.pattern, Pattern::Net(_)));
    }

    #[test]
    fn garbage_after_brackets_is_invalid() {
        assert!(matches!(parse_entry("[::1]x").pattern, Pattern::Invalid(_)));
    }

    #[test]
    fn a_url_is_reported_as_invalid_with_a_reason() {
        let bypass = Bypass::parse("http://proxy.example.com, ok.example.com");
        let invalid: Vec<_> = bypass.invalid_entries().collect();
        assert_eq!(invalid.len(), 1);
        assert_eq!(invalid[0].0, "http://proxy.example.com");
        assert!(invalid[0].1.contains("scheme"));
    }
}
