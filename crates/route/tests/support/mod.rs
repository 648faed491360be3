//! Shared set-up for the route tests: a fake environment, so no test ever
//! reads or changes the process environment.

#![allow(dead_code)]

use std::collections::HashMap;

use interpose_route::{decide, Flags, Route, RouteError, Settings};
use url::Url;

/// Environment variables for one test.
#[derive(Default, Clone)]
pub struct Env(HashMap<String, String>);

impl Env {
    pub fn new(vars: &[(&str, &str)]) -> Env {
        Env(vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect())
    }

    pub fn lookup(&self) -> impl Fn(&str) -> Option<String> + '_ {
        move |name| self.0.get(name).cloned()
    }
}

pub fn url(text: &str) -> Url {
    Url::parse(text).expect("test URL parses")
}

/// Decides the route for `target` with the given flags, settings and env.
pub fn route(
    target: &str,
    flags: &Flags,
    settings: &Settings,
    env: &Env,
) -> Result<Route, RouteError> {
    decide(&url(target), flags, settings, &env.lookup())
}

/// The proxy a route goes through, as `scheme://host:port`, or "direct".
pub fn via(route: &Route) -> String {
    route
        .proxy
        .as_ref()
        .map_or_else(|| "direct".to_owned(), |p| p.without_credentials())
}

/// Settings with the custom proxy switched on at `host:port`.
pub fn custom(host: &str, port: u16) -> Settings {
    let mut settings = Settings::default();
    settings.set("proxy.custom.enabled", "true").unwrap();
    settings.set("proxy.custom.host", host).unwrap();
    settings
        .set("proxy.custom.port", &port.to_string())
        .unwrap();
    settings
}
