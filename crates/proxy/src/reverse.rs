//! Reverse-proxy mode: the targets a listener fronts, which one takes the
//! next request (round-robin), and passive health: a target that refused a
//! connection or timed out is skipped for a back-off period.
//!
//! This is bookkeeping only; `forward::handle` does the sending and reports
//! back which targets failed.

use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use http::uri::{PathAndQuery, Scheme};
use http::Uri;

/// What `capture --reverse` was given.
#[derive(Debug, Clone)]
pub struct ReverseConfig {
    pub targets: Vec<ReverseTarget>,
    /// How long a target that failed to connect is left alone.
    pub backoff: Duration,
    /// The certificate and key (PEM files) for clients that speak TLS to the
    /// listener; `None` presents a leaf from interpose's CA for the name the
    /// client asked for (SNI).
    pub certificate: Option<(PathBuf, PathBuf)>,
}

/// One target: `http(s)://host[:port][/base]`. A request for `/x` goes to
/// `base/x`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReverseTarget {
    scheme: Scheme,
    authority: http::uri::Authority,
    /// The target's path without its trailing `/` (empty for the root).
    base: String,
}

impl ReverseTarget {
    /// Parses a `--reverse` URL, saying what is wrong with a bad one.
    pub fn parse(url: &str) -> Result<ReverseTarget, String> {
        let uri: Uri = url.trim().parse().map_err(|e| {
            format!(
                "--reverse target {url:?} is not a URL ({e}); write it like http://127.0.0.1:8001"
            )
        })?;
        let scheme = match uri.scheme_str() {
            Some("http") => Scheme::HTTP,
            Some("https") => Scheme::HTTPS,
            Some(other) => {
                return Err(format!(
                    "--reverse target {url:?} uses {other}://; only http:// and https:// targets can be fronted"
                ))
            }
            None => {
                return Err(format!(
                    "--reverse target {url:?} has no scheme; write http://{url} or https://{url}"
                ))
            }
        };
        let Some(authority) = uri.authority().cloned() else {
            return Err(format!("--reverse target {url:?} has no host"));
        };
        if authority.as_str().contains('@') {
            return Err(format!(
                "--reverse target {url:?} carries credentials; set an Authorization header with a rule instead"
            ));
        }
        if uri.query().is_some() {
            return Err(format!(
                "--reverse target {url:?} has a query; a target is scheme://host[:port][/base-path]"
            ));
        }
        Ok(ReverseTarget {
            scheme,
            authority,
            base: uri.path().trim_end_matches('/').to_string(),
        })
    }

    /// The URL a request for `path_and_query` goes to on this target.
    pub fn uri_for(&self, path_and_query: Option<&PathAndQuery>) -> Uri {
        let pq = path_and_query.map_or("/", PathAndQuery::as_str);
        let joined = format!("{}{pq}", self.base);
        Uri::builder()
            .scheme(self.scheme.clone())
            .authority(self.authority.clone())
            .path_and_query(joined)
            .build()
            // Every part came from a valid URI.
            .expect("a target and a request path make a URI")
    }
}

impl fmt::Display for ReverseTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}{}", self.scheme, self.authority, self.base)
    }
}

/// The targets at run time: whose turn it is and who is backing off.
pub struct Balancer {
    targets: Vec<ReverseTarget>,
    backoff: Duration,
    next: AtomicUsize,
    /// Per target: until when it is skipped, and why.
    down: Vec<Mutex<Option<(Instant, String)>>>,
}

impl Balancer {
    pub fn new(config: &ReverseConfig) -> Self {
        Balancer {
            targets: config.targets.clone(),
            backoff: config.backoff,
            next: AtomicUsize::new(0),
            down: config.targets.iter().map(|_| Mutex::new(None)).collect(),
        }
    }

    pub fn len(&self) -> usize {
        self.targets.len()
    }

    /// The targets, for messages: `http://a:1, http://b:2`.
    pub fn targets(&self) -> String {
        let listed: Vec<String> = self.targets.iter().map(ToString::to_string).collect();
        listed.join(", ")
    }

    pub fn target(&self, index: usize) -> &ReverseTarget {
        &self.targets[index]
    }

    /// The targets to try for one request, in order: those not backing off,
    /// starting at the next in turn. When every target is backing off, all
    /// of them (soonest back first): a request should probe rather than be
    /// refused while a target may have come back.
    pub fn plan(&self) -> Vec<usize> {
        let n = self.targets.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed) % n;
        let now = Instant::now();
        let mut up = Vec::with_capacity(n);
        let mut down = Vec::new();
        for i in (0..n).map(|k| (start + k) % n) {
            match self.down_until(i) {
                Some(until) if until > now => down.push((until, i)),
                _ => up.push(i),
            }
        }
        if up.is_empty() {
            down.sort();
            up.extend(down.into_iter().map(|(_, i)| i));
        }
        up
    }

    fn down_until(&self, index: usize) -> Option<Instant> {
        let slot = self.down[index].lock().unwrap_or_else(|e| e.into_inner());
        slot.as_ref().map(|(until, _)| *until)
    }

    /// The target could not be reached: skip it for the back-off period.
    pub fn failed(&self, index: usize, reason: &str) {
        tracing::warn!(
            "reverse target {} failed ({reason}); skipping it for {}s",
            self.targets[index],
            self.backoff.as_secs()
        );
        let mut slot = self.down[index].lock().unwrap_or_else(|e| e.into_inner());
        *slot = Some((Instant::now() + self.backoff, reason.to_string()));
    }

    /// The target answered: it is in rotation again.
    pub fn answered(&self, index: usize) {
        let mut slot = self.down[index].lock().unwrap_or_else(|e| e.into_inner());
        if slot.take().is_some() {
            tracing::info!("reverse target {} answers again", self.targets[index]);
        }
    }

    /// Why no target took a request: every target and its last failure.
    pub fn all_down(&self) -> String {
        let listed: Vec<String> = (0..self.targets.len())
            .map(|i| {
                let slot = self.down[i].lock().unwrap_or_else(|e| e.into_inner());
                match slot.as_ref() {
                    Some((_, why)) => format!("{} ({why})", self.targets[i]),
                    None => self.targets[i].to_string(),
                }
            })
            .collect();
        format!(
            "no reverse-proxy target could be reached: {}; each is retried after {}s",
            listed.join(", "),
            self.backoff.as_secs()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn balancer(urls: &[&str]) -> Balancer {
        Balancer::new(&ReverseConfig {
            targets: urls
                .iter()
                .map(|u| ReverseTarget::parse(u).unwrap())
                .collect(),
            backoff: Duration::from_secs(30),
            certificate: None,
        })
    }

    #[test]
    fn targets_take_turns() {
        let b = balancer(&["http://a:1", "http://b:2", "http://c:3"]);
        let firsts: Vec<usize> = (0..6).map(|_| b.plan()[0]).collect();
        assert_eq!(firsts, [0, 1, 2, 0, 1, 2]);
        assert_eq!(b.plan(), [0, 1, 2]);
    }

    #[test]
    fn a_failed_target_is_skipped_until_it_answers_again() {
        let b = balancer(&["http://a:1", "http://b:2"]);
        b.failed(0, "connection refused");
        for _ in 0..4 {
            assert_eq!(b.plan(), [1]);
        }
        b.answered(0);
        let firsts: Vec<usize> = (0..2).map(|_| b.plan()[0]).collect();
        assert!(firsts.contains(&0));
    }

    #[test]
    fn when_all_are_down_every_target_is_probed_and_the_message_names_them() {
        let b = balancer(&["http://a:1", "https://b:2/api"]);
        b.failed(1, "connection refused");
        b.failed(0, "timed out");
        // Soonest back first: b failed first.
        assert_eq!(b.plan(), [1, 0]);
        let message = b.all_down();
        assert!(message.contains("http://a:1 (timed out)"), "{message}");
        assert!(
            message.contains("https://b:2/api (connection refused)"),
            "{message}"
        );
    }

    #[test]
    fn target_urls_join_the_request_path_to_their_base() {
        let t = ReverseTarget::parse("https://api.internal:8443/v2/").unwrap();
        let pq: PathAndQuery = "/users?id=1".parse().unwrap();
        assert_eq!(
            t.uri_for(Some(&pq)).to_string(),
            "https://api.internal:8443/v2/users?id=1"
        );
        let root = ReverseTarget::parse("http://127.0.0.1:8001").unwrap();
        assert_eq!(root.uri_for(None).to_string(), "http://127.0.0.1:8001/");
        assert_eq!(root.to_string(), "http://127.0.0.1:8001");
    }

    #[test]
    fn bad_targets_say_what_to_write() {
        for (url, says) in [
            ("127.0.0.1:8001", "has no scheme"),
            ("ftp://files:21", "only http:// and https://"),
            ("http://u:p@host:1", "credentials"),
            ("http://host:1/?x=1", "has a query"),
            ("http://", "not a URL"),
        ] {
            let err = ReverseTarget::parse(url).unwrap_err();
            assert!(err.contains(says), "{url}: {err}");
        }
    }
}
