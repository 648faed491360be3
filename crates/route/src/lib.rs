//! Upstream proxy routing: proxy settings (`settings.toml`), `NO_PROXY` and
//! bypass-list matching, and the route decision — for any URL, which proxy
//! it goes through (or direct) and which rule decided it.
//!
//! Shared by the capture proxy (its upstream chaining) and the client
//! (`send`, `replay`, `route`). It hands on a [`Route`]: a [`ProxyUrl`] with
//! its credentials, or direct, plus a reason for people. Everything here is
//! plain functions over plain data: it never opens a socket, never resolves
//! a name, and reads the environment only through the lookup function the
//! caller passes ([`process_env`] for real use). Its only IO is reading and
//! writing `settings.toml`.
//!
//! Matching follows curl, and the comments on each rule in [`Bypass`] say
//! which curl behaviour it mirrors.

mod bypass;
mod decide;
mod proxy_url;
mod settings;

pub use bypass::Bypass;
pub use decide::{
    decide, decide_target, process_env, Flags, ProxySource, Route, RouteError, Scheme, Target,
};
pub use proxy_url::{ProxyScheme, ProxyUrl, ProxyUrlError};
pub use settings::{
    CaptureSettings, CustomProxySettings, ProxyAuthSettings, ProxySettings, Settings,
    SettingsError, SystemProxySettings,
};
