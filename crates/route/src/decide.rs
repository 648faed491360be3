//! The route decision: for one target, which proxy (if any) and why.
//!
//! Layers, first that applies wins (DESIGN.md, "Rules of the road"):
//!
//! 1. command-line flags: `--no-proxy`, then `--proxy URL` (with
//!    `--proxy-user`, `--proxy-bypass`);
//! 2. the custom proxy in settings, when `proxy.custom.enabled` and ticked
//!    for the URL's scheme (`proxy.custom.http` / `proxy.custom.https`);
//!    a scheme that is not ticked falls through to the next layer;
//! 3. the system proxy, when `proxy.system.enabled`, not
//!    `--no-system-proxy`, and `proxy.system.use_env`: the environment;
//! 4. direct.
//!
//! Each proxy layer has its own bypass list: `--proxy-bypass` for the flag,
//! `proxy.custom.bypass` for the custom proxy, `no_proxy`/`NO_PROXY` for the
//! environment's. `--proxy-bypass`, when given, replaces the bypass list of
//! whichever layer was chosen (as curl's `--noproxy` replaces `NO_PROXY`).
//! A host on the active list goes direct and the entry is the reason.

use std::fmt;

use url::Url;

use crate::bypass::Bypass;
use crate::proxy_url::{mask_userinfo, ProxyScheme, ProxyUrl};
use crate::settings::Settings;

/// The scheme of the request being routed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scheme {
    Http,
    Https,
}

impl Scheme {
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What is being routed: a scheme, a host and a port. Built from a URL
/// ([`Target::from_url`]) by `send`/`replay`, or from a request or a
/// `CONNECT` authority by the capture proxy ([`Target::new`]).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Target {
    pub scheme: Scheme,
    /// A name or an IP literal; IPv6 with or without brackets.
    pub host: String,
    pub port: u16,
}

impl Target {
    pub fn new(scheme: Scheme, host: impl Into<String>, port: u16) -> Target {
        Target {
            scheme,
            host: host.into(),
            port,
        }
    }

    /// `http://` and `ws://` URLs route as [`Scheme::Http`], `https://` and
    /// `wss://` as [`Scheme::Https`]; the port defaults to the scheme's.
    pub fn from_url(url: &Url) -> Result<Target, RouteError> {
        let scheme = match url.scheme() {
            "http" | "ws" => Scheme::Http,
            "https" | "wss" => Scheme::Https,
            other => {
                return Err(RouteError::BadTarget {
                    url: redact_url(url),
                    problem: format!(
                        "only http:// and https:// URLs go through proxies (this one is {other}://)"
                    ),
                })
            }
        };
        let host = match url.host() {
            Some(url::Host::Domain(name)) => name.to_owned(),
            Some(url::Host::Ipv4(ip)) => ip.to_string(),
            Some(url::Host::Ipv6(ip)) => ip.to_string(),
            None => {
                return Err(RouteError::BadTarget {
                    url: redact_url(url),
                    problem: "it has no host".to_owned(),
                })
            }
        };
        let port = url.port_or_known_default().unwrap_or(match scheme {
            Scheme::Http => 80,
            Scheme::Https => 443,
        });
        Ok(Target { scheme, host, port })
    }
}

/// Command-line overrides (`send`, `replay`, `route`, `capture`).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Flags {
    /// `--proxy URL`; an empty string means "no proxy" (curl's `-x ""`).
    pub proxy: Option<String>,
    /// `--proxy-user USER[:PASSWORD]`, taken literally (not percent-decoded,
    /// as in curl).
    pub proxy_user: Option<String>,
    /// `--proxy-bypass LIST`; replaces the chosen layer's bypass list. An
    /// empty list bypasses nothing (curl's `--noproxy ""`).
    pub proxy_bypass: Option<String>,
    /// `--no-proxy`: always direct.
    pub no_proxy: bool,
    /// `--no-system-proxy`: skip the system (environment) proxy.
    pub no_system_proxy: bool,
}

impl fmt::Debug for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Flags")
            .field("proxy", &self.proxy.as_deref().map(mask_userinfo))
            .field(
                "proxy_user",
                &self.proxy_user.as_deref().map(|u| match u.split_once(':') {
                    Some((user, _)) => format!("{user}:***"),
                    None => u.to_owned(),
                }),
            )
            .field("proxy_bypass", &self.proxy_bypass)
            .field("no_proxy", &self.no_proxy)
            .field("no_system_proxy", &self.no_system_proxy)
            .finish()
    }
}

/// The decision: a proxy or direct, and the rule that made it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// `None` means direct.
    pub proxy: Option<ProxyUrl>,
    /// The rule, for people: `--proxy flag`, `custom proxy in settings`,
    /// `HTTPS_PROXY environment variable`, `NO_PROXY entry .example.com`,
    /// `custom bypass entry 10.0.0.0/8`, `no proxy configured`, ...
    pub reason: String,
}

impl Route {
    fn direct(reason: impl Into<String>) -> Route {
        Route {
            proxy: None,
            reason: reason.into(),
        }
    }

    pub fn is_direct(&self) -> bool {
        self.proxy.is_none()
    }

    /// How a request went, for records: `via http://HOST:PORT` or `direct`.
    /// Never shows credentials.
    pub fn summary(&self) -> String {
        match &self.proxy {
            Some(proxy) => format!("via {}", proxy.without_credentials()),
            None => "direct".to_owned(),
        }
    }

    /// One line for `interpose route URL`: `URL via http://HOST:PORT
    /// (reason)` or `URL direct (reason)`. Never shows a password, neither
    /// the proxy's nor one inside `url`.
    pub fn describe(&self, url: &Url) -> String {
        let url = redact_url(url);
        match &self.proxy {
            Some(proxy) => format!(
                "{url} via {} ({})",
                proxy.without_credentials(),
                self.reason
            ),
            None => format!("{url} direct ({})", self.reason),
        }
    }
}

/// Where a proxy URL came from, for error messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProxySource {
    Flag,
    EnvVar(String),
}

impl fmt::Display for ProxySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProxySource::Flag => f.write_str("the --proxy flag"),
            ProxySource::EnvVar(name) => write!(f, "the {name} environment variable"),
        }
    }
}

impl ProxySource {
    fn example(&self) -> String {
        match self {
            ProxySource::Flag => "--proxy http://proxy.example.com:3128".to_owned(),
            ProxySource::EnvVar(name) => format!("{name}=http://proxy.example.com:3128"),
        }
    }
}

/// A route that cannot be decided; each says what to fix.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// `value` has its password masked.
    #[error("bad proxy URL \"{value}\" in {origin}: {problem}; a valid one looks like {example}", example = origin.example())]
    BadProxyUrl {
        origin: ProxySource,
        value: String,
        problem: String,
    },
    #[error("the custom proxy is enabled but {key} is not set; e.g. settings set {key} {example} (or settings set proxy.custom.enabled false)")]
    CustomProxyIncomplete {
        key: &'static str,
        example: &'static str,
    },
    #[error("cannot route {url}: {problem}")]
    BadTarget { url: String, problem: String },
}

/// Reads the real process environment; pass it to [`decide`] outside tests.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Decides the route for `url`. See the module documentation for the rules.
///
/// `env` looks up environment variables (use [`process_env`]); tests pass a
/// map so they never touch the process environment.
pub fn decide(
    url: &Url,
    flags: &Flags,
    settings: &Settings,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Route, RouteError> {
    decide_target(&Target::from_url(url)?, flags, settings, env)
}

/// [`decide`] for a target that is not a URL (the capture proxy's
/// `CONNECT host:port`, or a request's scheme, host and port).
pub fn decide_target(
    target: &Target,
    flags: &Flags,
    settings: &Settings,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Route, RouteError> {
    // Layer 1: the command line.
    if flags.no_proxy {
        return Ok(Route::direct("--no-proxy flag"));
    }
    if let Some(raw) = &flags.proxy {
        if raw.trim().is_empty() {
            // curl: setting the proxy to "" disables it, environment too.
            return Ok(Route::direct("--proxy flag is empty"));
        }
        if let Some(route) = bypassed(target, flags, None) {
            return Ok(route);
        }
        let mut proxy = ProxyUrl::parse(raw).map_err(|e| RouteError::BadProxyUrl {
            origin: ProxySource::Flag,
            value: mask_userinfo(raw.trim()),
            problem: e.problem,
        })?;
        // curl: credentials in the proxy URL win over --proxy-user.
        if !proxy.has_credentials() {
            apply_user_flag(&mut proxy, flags);
        }
        return Ok(Route {
            proxy: Some(proxy),
            reason: "--proxy flag".to_owned(),
        });
    }

    // Layer 2: the custom proxy in settings.
    let custom = &settings.proxy.custom;
    let mut skipped_custom = None;
    if custom.enabled {
        let ticked = match target.scheme {
            Scheme::Http => custom.http,
            Scheme::Https => custom.https,
        };
        if ticked {
            if let Some(route) = bypassed(target, flags, Some((&custom.bypass, "custom bypass"))) {
                return Ok(route);
            }
            let host = custom
                .host
                .clone()
                .ok_or(RouteError::CustomProxyIncomplete {
                    key: "proxy.custom.host",
                    example: "proxy.example.com",
                })?;
            let port = custom.port.ok_or(RouteError::CustomProxyIncomplete {
                key: "proxy.custom.port",
                example: "3128",
            })?;
            let mut proxy = ProxyUrl {
                scheme: ProxyScheme::Http,
                host,
                port,
                username: custom.username.clone(),
                password: custom.password.clone(),
            };
            // The command line beats settings.
            apply_user_flag(&mut proxy, flags);
            return Ok(Route {
                proxy: Some(proxy),
                reason: "custom proxy in settings".to_owned(),
            });
        }
        skipped_custom = Some(format!(
            "custom proxy not used for {0} URLs (proxy.custom.{0} = false)",
            target.scheme
        ));
    }
    let with_note = |reason: String| match &skipped_custom {
        Some(note) => format!("{reason}; {note}"),
        None => reason,
    };

    // Layer 3: the system proxy, which on every platform we support today
    // means the environment variables.
    if flags.no_system_proxy {
        return Ok(Route::direct(with_note(
            "--no-system-proxy flag".to_owned(),
        )));
    }
    if !settings.proxy.system.enabled {
        return Ok(Route::direct(with_note(
            "system proxy disabled in settings".to_owned(),
        )));
    }
    if !settings.proxy.system.use_env {
        return Ok(Route::direct(with_note(
            "proxy environment variables ignored (proxy.system.use_env = false)".to_owned(),
        )));
    }
    let scheme_var = match target.scheme {
        Scheme::Http => "http_proxy",
        Scheme::Https => "https_proxy",
    };
    let Some((var, raw)) = env_var(env, scheme_var).or_else(|| env_var(env, "all_proxy")) else {
        return Ok(Route::direct(with_note("no proxy configured".to_owned())));
    };
    let no_proxy = env_var(env, "no_proxy");
    let own = no_proxy
        .as_ref()
        .map(|(name, list)| (list.as_str(), name.as_str()));
    if let Some(route) = bypassed(target, flags, own) {
        return Ok(route);
    }
    let mut proxy = ProxyUrl::parse(&raw).map_err(|e| RouteError::BadProxyUrl {
        origin: ProxySource::EnvVar(var.clone()),
        value: mask_userinfo(raw.trim()),
        problem: e.problem,
    })?;
    if !proxy.has_credentials() {
        apply_user_flag(&mut proxy, flags);
    }
    if !proxy.has_credentials() {
        let auth = &settings.proxy.default_auth;
        if auth.username.is_some() {
            proxy.username = auth.username.clone();
            proxy.password = auth.password.clone();
        }
    }
    Ok(Route {
        proxy: Some(proxy),
        reason: with_note(format!("{var} environment variable")),
    })
}

/// Direct, if the active bypass list names the target: `--proxy-bypass`
/// when given, else the layer's own list (`(list, what it is called)`).
fn bypassed(target: &Target, flags: &Flags, own: Option<(&str, &str)>) -> Option<Route> {
    let (list, name) = match flags.proxy_bypass.as_deref() {
        Some(list) => (list, "--proxy-bypass"),
        None => own?,
    };
    let bypass = Bypass::parse(list);
    let entry = bypass.matches(&target.host, target.port)?;
    Some(Route::direct(format!("{name} entry {entry}")))
}

fn apply_user_flag(proxy: &mut ProxyUrl, flags: &Flags) {
    if let Some(user) = &flags.proxy_user {
        let (name, password) = match user.split_once(':') {
            Some((name, password)) => (name, Some(password.to_owned())),
            None => (user.as_str(), None),
        };
        proxy.username = Some(name.to_owned());
        proxy.password = password;
    }
}

/// `lower` or its upper-case form, lower-case first; empty values count as
/// unset. Returns the name actually used and its value.
///
/// curl reads `http_proxy` only in lower case (an upper-case `HTTP_PROXY`
/// can be set by a CGI client's `Proxy:` header); DESIGN.md asks for both
/// cases everywhere, lower-case winning, and that is what this does.
fn env_var(env: &dyn Fn(&str) -> Option<String>, lower: &str) -> Option<(String, String)> {
    let upper = lower.to_ascii_uppercase();
    let found = [lower, upper.as_str()].into_iter().find_map(|name| {
        env(name)
            .filter(|value| !value.trim().is_empty())
            .map(|value| (name.to_owned(), value))
    });
    found
}

/// `url` as text with any password replaced by `***`.
fn redact_url(url: &Url) -> String {
    if url.password().is_some() {
        let mut shown = url.clone();
        if shown.set_password(Some("***")).is_ok() {
            return shown.to_string();
        }
    }
    url.to_string()
}
