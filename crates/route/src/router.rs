//! What long-lived users of the decision hold: the inputs ([`RouteConfig`]:
//! settings, flags and where the environment comes from) and a [`Router`]
//! that remembers each target's decision.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Mutex;

use url::Url;

use crate::decide::{decide_target, Flags, Route, RouteError, Target};
use crate::settings::Settings;

/// Where the decision reads environment variables from.
#[derive(Clone, Default, PartialEq, Eq)]
pub enum Env {
    /// The process environment ([`crate::process_env`]); what real runs use.
    #[default]
    Process,
    /// A fixed set of variables: tests use it so they never read or change
    /// the process environment.
    Vars(BTreeMap<String, String>),
}

impl Env {
    /// A fixed environment holding exactly `vars`.
    pub fn vars<K: Into<String>, V: Into<String>>(vars: impl IntoIterator<Item = (K, V)>) -> Env {
        Env::Vars(
            vars.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }

    /// A fixed, empty environment: no proxy variables at all.
    pub fn empty() -> Env {
        Env::Vars(BTreeMap::new())
    }

    /// The value of `name`, if set.
    pub fn get(&self, name: &str) -> Option<String> {
        match self {
            Env::Process => crate::process_env(name),
            Env::Vars(vars) => vars.get(name).cloned(),
        }
    }
}

impl fmt::Debug for Env {
    /// Names only: values may hold proxy passwords.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Env::Process => f.write_str("Env::Process"),
            Env::Vars(vars) => f.debug_tuple("Env::Vars").field(&vars.keys()).finish(),
        }
    }
}

/// Everything the decision reads: settings, command-line flags and the
/// environment. The capture proxy keeps one in its config; `send` builds one
/// per command.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RouteConfig {
    pub settings: Settings,
    pub flags: Flags,
    pub env: Env,
}

impl RouteConfig {
    /// The route for `url` (see [`crate::decide`]).
    pub fn decide(&self, url: &Url) -> Result<Route, RouteError> {
        self.decide_target(&Target::from_url(url)?)
    }

    /// The route for `target` (see [`crate::decide_target`]).
    pub fn decide_target(&self, target: &Target) -> Result<Route, RouteError> {
        decide_target(target, &self.flags, &self.settings, &|name| {
            self.env.get(name)
        })
    }
}

/// At most this many decisions are remembered; past it the memory starts
/// afresh (a decision is cheap to make again).
const MAX_REMEMBERED: usize = 4096;

/// A [`RouteConfig`] that remembers each target's decision.
///
/// A connection pool keyed by target (hyper-util's is keyed by scheme and
/// authority) is then also keyed by route: every connection to a target
/// went the one way this router says, and the request handler that adds
/// `Proxy-Authorization` and the connector that dials always agree, even if
/// the process environment changed in between.
#[derive(Debug)]
pub struct Router {
    config: RouteConfig,
    remembered: Mutex<HashMap<Target, Result<Route, RouteError>>>,
}

impl Router {
    pub fn new(config: RouteConfig) -> Router {
        Router {
            config,
            remembered: Mutex::new(HashMap::new()),
        }
    }

    pub fn config(&self) -> &RouteConfig {
        &self.config
    }

    /// The route for `target`, decided on first use.
    pub fn route(&self, target: &Target) -> Result<Route, RouteError> {
        let mut remembered = self.remembered.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(decision) = remembered.get(target) {
            return decision.clone();
        }
        let decision = self.config.decide_target(target);
        if remembered.len() >= MAX_REMEMBERED {
            remembered.clear();
        }
        remembered.insert(target.clone(), decision.clone());
        decision
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::Scheme;

    #[test]
    fn a_fixed_environment_is_read_and_never_shows_values() {
        let env = Env::vars([("HTTPS_PROXY", "http://u:secret@p:1")]);
        assert_eq!(
            env.get("HTTPS_PROXY").as_deref(),
            Some("http://u:secret@p:1")
        );
        assert_eq!(env.get("https_proxy"), None);
        assert!(!format!("{env:?}").contains("secret"));
    }

    #[test]
    fn the_router_remembers_the_first_decision_per_target() {
        let config = RouteConfig {
            env: Env::vars([("https_proxy", "http://p:3128")]),
            ..RouteConfig::default()
        };
        let router = Router::new(config);
        let target = Target::new(Scheme::Https, "api.example.com", 443);
        let first = router.route(&target).unwrap();
        assert_eq!(first.summary(), "via http://p:3128");
        assert_eq!(router.route(&target).unwrap(), first);
        let plain = Target::new(Scheme::Http, "api.example.com", 80);
        assert_eq!(router.route(&plain).unwrap().summary(), "direct");
    }
}
