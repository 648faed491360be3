//! Proxy URLs as users write them: `--proxy`, `HTTPS_PROXY`, and the custom
//! proxy built from settings.

use std::fmt;
use std::net::Ipv6Addr;

use percent_encoding::percent_decode_str;

/// How the proxy itself is reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProxyScheme {
    /// Plain HTTP: absolute-form requests for `http://` targets, `CONNECT`
    /// for `https://` ones.
    Http,
    /// HTTP over TLS to the proxy (then as [`ProxyScheme::Http`]).
    Https,
    /// SOCKS5, the client resolves the target name.
    Socks5,
    /// SOCKS5, the proxy resolves the target name (remote DNS).
    Socks5h,
}

impl ProxyScheme {
    /// The scheme as written in a URL (`http`, `https`, `socks5`, `socks5h`).
    pub fn as_str(self) -> &'static str {
        match self {
            ProxyScheme::Http => "http",
            ProxyScheme::Https => "https",
            ProxyScheme::Socks5 => "socks5",
            ProxyScheme::Socks5h => "socks5h",
        }
    }

    /// The port used when a proxy URL has none. curl (`CURLOPT_PROXYPORT`):
    /// "443 for https proxies and 1080 for all others" — so a bare
    /// `http://proxy` means port 1080, not 80.
    pub fn default_port(self) -> u16 {
        match self {
            ProxyScheme::Https => 443,
            ProxyScheme::Http | ProxyScheme::Socks5 | ProxyScheme::Socks5h => 1080,
        }
    }

    /// SOCKS rather than HTTP.
    pub fn is_socks(self) -> bool {
        matches!(self, ProxyScheme::Socks5 | ProxyScheme::Socks5h)
    }

    fn from_name(name: &str) -> Option<ProxyScheme> {
        match name.to_ascii_lowercase().as_str() {
            "http" => Some(ProxyScheme::Http),
            "https" => Some(ProxyScheme::Https),
            "socks5" => Some(ProxyScheme::Socks5),
            "socks5h" => Some(ProxyScheme::Socks5h),
            _ => None,
        }
    }
}

impl fmt::Display for ProxyScheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An upstream proxy: where it is and the credentials to give it.
///
/// `Display` and `Debug` never show the password: `http://user:***@host:3128`,
/// or `http://host:3128` without credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct ProxyUrl {
    pub scheme: ProxyScheme,
    /// Lower-cased name or IP literal, IPv6 without brackets.
    pub host: String,
    pub port: u16,
    /// Percent-decoded.
    pub username: Option<String>,
    /// Percent-decoded.
    pub password: Option<String>,
}

/// Why a proxy URL was refused; the caller adds where it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxyUrlError {
    pub problem: String,
}

impl fmt::Display for ProxyUrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.problem)
    }
}

impl std::error::Error for ProxyUrlError {}

fn problem(text: impl Into<String>) -> ProxyUrlError {
    ProxyUrlError {
        problem: text.into(),
    }
}

impl ProxyUrl {
    /// Parses `[scheme://][user[:password]@]host[:port][/]`.
    ///
    /// Following curl (`CURLOPT_PROXY`): no scheme means `http://`; the
    /// credentials are percent-decoded (so `p%40ss` is `p@ss`); a missing
    /// port is the scheme's [`ProxyScheme::default_port`]; a path is
    /// ignored. Unlike curl, `socks4://` and `socks4a://` are refused (not
    /// supported here) and so is any other scheme (old curl versions
    /// silently used HTTP for unknown schemes; current ones refuse too).
    pub fn parse(input: &str) -> Result<ProxyUrl, ProxyUrlError> {
        let input = input.trim();
        if input.is_empty() {
            return Err(problem("it is empty"));
        }
        let (scheme, rest) = match input.split_once("://") {
            Some((name, rest)) => match ProxyScheme::from_name(name) {
                Some(scheme) => (scheme, rest),
                None => {
                    return Err(problem(format!(
                        "unsupported proxy scheme \"{name}\"; use http://, https://, socks5:// or socks5h://"
                    )))
                }
            },
            None => (ProxyScheme::Http, input),
        };
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let authority = &rest[..authority_end];
        let (userinfo, hostport) = match authority.rfind('@') {
            Some(at) => (Some(&authority[..at]), &authority[at + 1..]),
            None => (None, authority),
        };
        let (username, password) = match userinfo {
            Some(info) => {
                let (user, pass) = match info.split_once(':') {
                    Some((user, pass)) => (user, Some(pass)),
                    None => (info, None),
                };
                (Some(decode(user)?), pass.map(decode).transpose()?)
            }
            None => (None, None),
        };
        let (host, port) = split_host_port(hostport)?;
        let port = match port {
            Some(port) => port,
            None => scheme.default_port(),
        };
        Ok(ProxyUrl {
            scheme,
            host,
            port,
            username,
            password,
        })
    }

    /// `host:port`, with brackets around an IPv6 host.
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// `scheme://host:port`, no credentials at all.
    pub fn without_credentials(&self) -> String {
        format!("{}://{}", self.scheme, self.authority())
    }

    /// True when a username is known (the password may be empty).
    pub fn has_credentials(&self) -> bool {
        self.username.is_some()
    }
}

impl fmt::Display for ProxyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://", self.scheme)?;
        if let Some(user) = &self.username {
            let user = percent_encoding::utf8_percent_encode(user, USERINFO);
            match &self.password {
                Some(_) => write!(f, "{user}:***@")?,
                None => write!(f, "{user}@")?,
            }
        }
        f.write_str(&self.authority())
    }
}

impl fmt::Debug for ProxyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ProxyUrl({self})")
    }
}

/// Characters escaped when a user name is shown inside a URL.
const USERINFO: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'%')
    .add(b':')
    .add(b'@')
    .add(b'/')
    .add(b'?')
    .add(b'#');

fn decode(part: &str) -> Result<String, ProxyUrlError> {
    percent_decode_str(part)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| problem("the user name or password is not UTF-8 once percent-decoded"))
}

fn split_host_port(hostport: &str) -> Result<(String, Option<u16>), ProxyUrlError> {
    let (host, port) = if let Some(rest) = hostport.strip_prefix('[') {
        let Some((addr, after)) = rest.split_once(']') else {
            return Err(problem("an IPv6 host opened with [ needs a closing ]"));
        };
        if addr.parse::<Ipv6Addr>().is_err() {
            return Err(problem(format!("\"{addr}\" is not an IPv6 address")));
        }
        let port = match after {
            "" => None,
            _ => match after.strip_prefix(':') {
                Some(port) => Some(port),
                None => return Err(problem("only :port may follow an IPv6 host in brackets")),
            },
        };
        (addr.to_ascii_lowercase(), port)
    } else {
        match hostport.split_once(':') {
            Some((_, port)) if port.contains(':') => {
                return Err(problem(
                    "an IPv6 proxy host must be in brackets, e.g. http://[::1]:3128",
                ))
            }
            Some((host, port)) => (host.to_ascii_lowercase(), Some(port)),
            None => (hostport.to_ascii_lowercase(), None),
        }
    };
    if host.is_empty() {
        return Err(problem("it has no host"));
    }
    if !host.contains(':') {
        check_host_name(&host).map_err(problem)?;
    }
    let port = port.map(parse_port).transpose()?;
    Ok((host, port))
}

/// A host name as a proxy or a custom proxy setting may have it: letters,
/// digits, `-`, `_` and `.` (or an IP literal, which uses only those too).
pub(crate) fn check_host_name(host: &str) -> Result<(), String> {
    match host
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        Some(bad) => Err(format!(
            "the host \"{host}\" contains {bad:?}, which a host name cannot"
        )),
        None => Ok(()),
    }
}

fn parse_port(port: &str) -> Result<u16, ProxyUrlError> {
    if port.is_empty() {
        return Err(problem("the port after : is missing"));
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 && port.bytes().all(|b| b.is_ascii_digit()) => Ok(p),
        _ => Err(problem(format!(
            "the port \"{port}\" is not a number from 1 to 65535"
        ))),
    }
}

/// Replaces the password in something that looks like a URL with `***`, for
/// error messages about strings that did not parse.
pub(crate) fn mask_userinfo(raw: &str) -> String {
    let start = raw.find("://").map_or(0, |i| i + 3);
    let rest = &raw[start..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return raw.to_owned();
    };
    let userinfo = &rest[..at];
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{}{user}:***{}", &raw[..start], &rest[at..]),
        None => raw.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_percent_decoded() {
        let url = ProxyUrl::parse("http://us%65r:p%40ss@Proxy.Example.com:3128").unwrap();
        assert_eq!(url.username.as_deref(), Some("user"));
        assert_eq!(url.password.as_deref(), Some("p@ss"));
        assert_eq!(url.host, "proxy.example.com");
        assert_eq!(url.port, 3128);
    }

    #[test]
    fn a_password_containing_at_signs_splits_at_the_last_at() {
        let url = ProxyUrl::parse("http://user:p@ss@proxy:3128").unwrap();
        assert_eq!(url.password.as_deref(), Some("p@ss"));
        assert_eq!(url.host, "proxy");
    }

    #[test]
    fn default_ports_follow_curl_1080_for_http_and_socks_443_for_https() {
        assert_eq!(ProxyUrl::parse("http://proxy").unwrap().port, 1080);
        assert_eq!(ProxyUrl::parse("proxy").unwrap().port, 1080);
        assert_eq!(ProxyUrl::parse("socks5://proxy").unwrap().port, 1080);
        assert_eq!(ProxyUrl::parse("socks5h://proxy").unwrap().port, 1080);
        assert_eq!(ProxyUrl::parse("https://proxy").unwrap().port, 443);
        // An explicit default port of the scheme is kept, not replaced.
        assert_eq!(ProxyUrl::parse("http://proxy:80").unwrap().port, 80);
    }

    #[test]
    fn no_scheme_means_http_like_curl() {
        let url = ProxyUrl::parse("proxy.corp:8080").unwrap();
        assert_eq!(url.scheme, ProxyScheme::Http);
        assert_eq!(url.port, 8080);
    }

    #[test]
    fn ipv6_hosts_need_brackets_and_display_with_them() {
        let url = ProxyUrl::parse("socks5h://[::1]:9050").unwrap();
        assert_eq!(url.host, "::1");
        assert_eq!(url.to_string(), "socks5h://[::1]:9050");
        assert!(ProxyUrl::parse("http://::1:3128")
            .unwrap_err()
            .problem
            .contains("brackets"));
    }

    #[test]
    fn bad_urls_say_what_is_wrong() {
        let cases = [
            ("ftp://proxy:21", "unsupported proxy scheme \"ftp\""),
            ("socks4://proxy", "unsupported proxy scheme \"socks4\""),
            ("http://:3128", "no host"),
            ("http://proxy:0", "not a number from 1 to 65535"),
            ("http://proxy:70000", "not a number from 1 to 65535"),
            ("http://proxy:http", "not a number from 1 to 65535"),
            ("http://proxy:", "missing"),
            ("http://pro xy:1", "contains ' '"),
            ("", "empty"),
        ];
        for (input, expected) in cases {
            let err = ProxyUrl::parse(input).unwrap_err();
            assert!(
                err.problem.contains(expected),
                "{input:?}: {:?} should contain {expected:?}",
                err.problem
            );
        }
    }

    #[test]
    fn display_and_debug_never_show_the_password() {
        let url = ProxyUrl::parse("https://al%3Aice:s3cret@proxy:8443").unwrap();
        assert_eq!(url.to_string(), "https://al%3Aice:***@proxy:8443");
        assert!(!format!("{url:?}").contains("s3cret"));
        assert_eq!(url.without_credentials(), "https://proxy:8443");
    }

    #[test]
    fn mask_userinfo_hides_only_the_password() {
        assert_eq!(
            mask_userinfo("http://u:secret@host:99999"),
            "http://u:***@host:99999"
        );
        assert_eq!(mask_userinfo("u:secret@host"), "u:***@host");
        assert_eq!(mask_userinfo("http://host:1/a@b"), "http://host:1/a@b");
    }
}
