//! Upstream proxy routing: proxy settings (`settings.toml`), `NO_PROXY` and
//! bypass-list matching, and the route decision — for any URL, which proxy
//! it goes through (or direct) and which rule decided it.
//!
//! Shared by the capture proxy (its upstream chaining) and the client
//! (`send`, `replay`, `route`). It hands on a [`Route`]: a [`ProxyUrl`] with
//! its credentials, or direct, plus a reason for people. The decision is
//! plain functions over plain data: it never opens a socket, never resolves
//! a name, and reads the environment only through the lookup the caller
//! passes ([`process_env`] or an [`Env`] for real use, a fixed [`Env`] in
//! tests). Its IO is reading and writing `settings.toml`, and [`dial`]: the
//! one network edge, which opens a stream along a decided route (direct,
//! `CONNECT` through an HTTP(S) proxy, or SOCKS5) so the proxy and the
//! client go through proxies the same way.
//!
//! Matching follows curl, and the comments on each rule in [`Bypass`] say
//! which curl behaviour it mirrors.

mod bypass;
mod decide;
pub mod dial;
mod proxy_url;
mod router;
mod settings;

pub use bypass::Bypass;
pub use decide::{
    decide, decide_target, process_env, Flags, ProxySource, Route, RouteError, Scheme, Target,
};
pub use proxy_url::{ProxyScheme, ProxyUrl, ProxyUrlError};
pub use router::{Env, RouteConfig, Router};
pub use settings::{
    CaptureSettings, CustomProxySettings, ProxyAuthSettings, ProxySettings, Settings,
    SettingsError, SystemProxySettings,
};
