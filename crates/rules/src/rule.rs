//! The rules as data, and applying them to a request.

use std::sync::Arc;

use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue, HOST};
use http::uri::{Authority, PathAndQuery, Scheme, Uri};
use http::{Method, StatusCode};
use regex::Regex;

use crate::host::HostPattern;

/// Which requests a rule is for; every given part must match.
#[derive(Debug, Clone, Default)]
pub(crate) struct Match {
    pub(crate) host: Option<HostPattern>,
    pub(crate) path: Option<String>,
    pub(crate) path_regex: Option<Regex>,
    /// Empty: any method.
    pub(crate) methods: Vec<Method>,
}

impl Match {
    /// Allocates nothing: this runs for every rule on every request.
    fn matches(&self, parts: &http::request::Parts) -> bool {
        if !self.methods.is_empty() && !self.methods.contains(&parts.method) {
            return false;
        }
        if let Some(pattern) = &self.host {
            match parts.uri.host() {
                Some(host) if pattern.matches(host) => {}
                _ => return false,
            }
        }
        let path = parts.uri.path();
        if let Some(prefix) = &self.path {
            if !path.starts_with(prefix.as_str()) {
                return false;
            }
        }
        if let Some(re) = &self.path_regex {
            if !re.is_match(path) {
                return false;
            }
        }
        true
    }
}

/// `map_remote`: where to send matching requests instead.
#[derive(Debug, Clone)]
pub(crate) struct MapRemote {
    pub(crate) scheme: Scheme,
    pub(crate) authority: Authority,
    /// The `Host` header for the new target: its authority without a
    /// default port, as clients write it.
    pub(crate) host_header: HeaderValue,
}

impl MapRemote {
    fn apply(&self, parts: &mut http::request::Parts) {
        let mut uri = std::mem::take(&mut parts.uri).into_parts();
        uri.scheme = Some(self.scheme.clone());
        uri.authority = Some(self.authority.clone());
        if uri.path_and_query.is_none() {
            uri.path_and_query = Some(PathAndQuery::from_static("/"));
        }
        // Scheme, authority and path are all present, so this cannot fail.
        if let Ok(new) = Uri::from_parts(uri) {
            parts.uri = new;
        }
        // HTTP/1 requests carry the target in Host too, and the upstream
        // routes on it; HTTP/2 requests have none and need none.
        if parts.headers.contains_key(HOST) {
            parts.headers.insert(HOST, self.host_header.clone());
        }
    }
}

/// One response header edit.
#[derive(Debug, Clone)]
pub(crate) enum ResponseOp {
    Remove(HeaderName),
    Set(HeaderName, HeaderValue),
}

/// One `[[rule]]`.
#[derive(Debug, Clone)]
pub(crate) struct Rule {
    pub(crate) name: String,
    pub(crate) matcher: Match,
    pub(crate) remove_headers: Vec<HeaderName>,
    pub(crate) set_headers: Vec<(HeaderName, HeaderValue)>,
    pub(crate) map_remote: Option<MapRemote>,
    /// `remove_response_headers` then `set_response_headers`; shared so a
    /// match costs a reference count, not a copy.
    pub(crate) response: Arc<[ResponseOp]>,
    pub(crate) respond: Option<LocalResponse>,
}

/// The rules of one rules file, in file order.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    pub(crate) rules: Vec<Rule>,
}

/// What [`RuleSet::apply_request`] did, and what is left for the response.
#[derive(Debug, Default)]
pub struct Applied {
    /// Names of the rules that matched, in order.
    pub rules: Vec<String>,
    /// Response header edits to do on the way back, in rule order.
    pub response: ResponseEdits,
    /// Set when a rule answers locally. Its headers already have
    /// [`Applied::response`] applied; applying it again changes nothing.
    pub respond: Option<LocalResponse>,
}

/// Response header edits collected from the matching rules, in order.
#[derive(Debug, Default, Clone)]
pub struct ResponseEdits {
    ops: Vec<Arc<[ResponseOp]>>,
}

impl ResponseEdits {
    pub fn is_empty(&self) -> bool {
        self.ops.iter().all(|ops| ops.is_empty())
    }

    /// Removes and sets headers in rule order; a set replaces every
    /// earlier value of that header. Doing it twice gives the same headers.
    pub fn apply(&self, headers: &mut HeaderMap) {
        for op in self.ops.iter().flat_map(|ops| ops.iter()) {
            match op {
                ResponseOp::Remove(name) => {
                    headers.remove(name);
                }
                ResponseOp::Set(name, value) => {
                    headers.insert(name.clone(), value.clone());
                }
            }
        }
    }
}

/// A response a rule gives in place of the upstream's (`respond`).
///
/// It has no `Content-Length`: the proxy frames the body itself.
#[derive(Debug, Clone)]
pub struct LocalResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl RuleSet {
    /// The number of rules.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The rules' names, in file order.
    pub fn names(&self) -> Vec<&str> {
        self.rules.iter().map(|r| r.name.as_str()).collect()
    }

    /// Applies the request-side rules in file order to a request whose URI
    /// is absolute (`scheme://authority/path`), changing its headers and
    /// (`map_remote`) its URI in place. Bodies are never touched.
    ///
    /// Each rule is matched against the request as earlier rules left it,
    /// so a rule after a `map_remote` sees the new host. Within a rule:
    /// `remove_headers`, then `set_headers`, then `map_remote`. The first
    /// matching rule with `respond` ends processing, after its own edits.
    ///
    /// Allocates nothing when no rule matches.
    pub fn apply_request(&self, parts: &mut http::request::Parts) -> Applied {
        let mut applied = Applied::default();
        for rule in &self.rules {
            if !rule.matcher.matches(parts) {
                continue;
            }
            applied.rules.push(rule.name.clone());
            for name in &rule.remove_headers {
                parts.headers.remove(name);
            }
            for (name, value) in &rule.set_headers {
                parts.headers.insert(name.clone(), value.clone());
            }
            if let Some(map) = &rule.map_remote {
                map.apply(parts);
            }
            if !rule.response.is_empty() {
                applied.response.ops.push(rule.response.clone());
            }
            if let Some(local) = &rule.respond {
                // Response edits apply to whatever answer goes back; apply
                // them here so a local answer is right even if the caller
                // only applies them to upstream responses.
                let mut local = local.clone();
                applied.response.apply(&mut local.headers);
                applied.respond = Some(local);
                break;
            }
        }
        applied
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use http::header::{CONTENT_TYPE, HOST};
    use http::{HeaderMap, Request};

    use super::*;

    fn rules(text: &str) -> RuleSet {
        RuleSet::parse(text, Path::new("rules.toml")).unwrap()
    }

    /// A request as the proxy hands it over: absolute URI, and (as HTTP/1
    /// clients send) a Host header matching it.
    fn request(method: &str, uri: &str) -> http::request::Parts {
        let host = uri.parse::<Uri>().unwrap().authority().unwrap().to_string();
        let (parts, ()) = Request::builder()
            .method(method)
            .uri(uri)
            .header(HOST, host)
            .body(())
            .unwrap()
            .into_parts();
        parts
    }

    fn matched(set: &RuleSet, method: &str, uri: &str) -> Vec<String> {
        set.apply_request(&mut request(method, uri)).rules
    }

    fn values(headers: &HeaderMap, name: &str) -> Vec<String> {
        headers
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn exact_host_matches_ignoring_case_and_port_but_not_other_hosts() {
        let set = rules("[[rule]]\nname = \"r\"\nmatch = { host = \"API.example.com\" }\n");
        assert_eq!(matched(&set, "GET", "http://api.EXAMPLE.com/"), ["r"]);
        assert_eq!(
            matched(&set, "GET", "https://api.example.com:8443/x"),
            ["r"]
        );
        assert!(matched(&set, "GET", "http://x.api.example.com/").is_empty());
        assert!(matched(&set, "GET", "http://example.com/").is_empty());
    }

    #[test]
    fn host_glob_matches_subdomains_only() {
        let set = rules("[[rule]]\nname = \"r\"\nmatch = { host = \"*.example.com\" }\n");
        assert_eq!(matched(&set, "GET", "http://a.example.com/"), ["r"]);
        assert_eq!(matched(&set, "GET", "http://a.b.example.com/"), ["r"]);
        assert!(matched(&set, "GET", "http://example.com/").is_empty());
        assert!(matched(&set, "GET", "http://notexample.com/").is_empty());
    }

    #[test]
    fn ipv6_hosts_match_without_brackets() {
        let set = rules("[[rule]]\nname = \"r\"\nmatch = { host = \"::1\" }\n");
        assert_eq!(matched(&set, "GET", "http://[::1]:8080/"), ["r"]);
    }

    #[test]
    fn path_is_a_prefix_of_the_path_without_the_query() {
        let set = rules("[[rule]]\nname = \"r\"\nmatch = { path = \"/v1/\" }\n");
        assert_eq!(matched(&set, "GET", "http://h/v1/users?page=2"), ["r"]);
        assert_eq!(matched(&set, "GET", "http://h/v1/"), ["r"]);
        assert!(matched(&set, "GET", "http://h/v1").is_empty());
        assert!(matched(&set, "GET", "http://h/v2/users").is_empty());
        assert!(matched(&set, "GET", "http://h/x?/v1/").is_empty());
    }

    #[test]
    fn path_regex_is_searched_in_the_path_alone_and_both_path_keys_must_match() {
        let set = rules(
            "[[rule]]\nname = \"r\"\nmatch = { path_regex = '^/users/[0-9]+$' }\n\
             [[rule]]\nname = \"both\"\nmatch = { path = \"/api/\", path_regex = 'json$' }\n",
        );
        assert_eq!(matched(&set, "GET", "http://h/users/42?x=1"), ["r"]);
        assert!(matched(&set, "GET", "http://h/users/abc").is_empty());
        assert_eq!(matched(&set, "GET", "http://h/api/a.json"), ["both"]);
        assert!(matched(&set, "GET", "http://h/static/a.json").is_empty());
        assert!(matched(&set, "GET", "http://h/api/a.xml").is_empty());
    }

    #[test]
    fn methods_are_any_of_the_list_written_in_any_case() {
        let set = rules("[[rule]]\nname = \"r\"\nmatch = { methods = [\"get\", \"Post\"] }\n");
        assert_eq!(matched(&set, "GET", "http://h/"), ["r"]);
        assert_eq!(matched(&set, "POST", "http://h/"), ["r"]);
        assert!(matched(&set, "PUT", "http://h/").is_empty());
    }

    #[test]
    fn a_rule_without_match_matches_everything() {
        let set = rules("[[rule]]\nname = \"all\"\n");
        assert_eq!(matched(&set, "DELETE", "https://any.where:1/x?y"), ["all"]);
    }

    #[test]
    fn every_part_of_match_must_hold() {
        let set = rules(
            "[[rule]]\nname = \"r\"\nmatch = { host = \"h\", path = \"/a\", methods = [\"GET\"] }\n",
        );
        assert_eq!(matched(&set, "GET", "http://h/a"), ["r"]);
        assert!(matched(&set, "POST", "http://h/a").is_empty());
        assert!(matched(&set, "GET", "http://g/a").is_empty());
        assert!(matched(&set, "GET", "http://h/b").is_empty());
    }

    #[test]
    fn set_headers_replaces_every_value_and_remove_headers_removes_every_value() {
        let set = rules(
            "[[rule]]\nname = \"r\"\n\
             set_headers = { Authorization = \"Bearer abc\" }\n\
             remove_headers = [\"x-tracking\"]\n",
        );
        let mut req = request("GET", "http://h/");
        req.headers
            .append("authorization", "Basic old".parse().unwrap());
        req.headers
            .append("authorization", "Basic older".parse().unwrap());
        req.headers.append("X-Tracking", "1".parse().unwrap());
        req.headers.append("X-Tracking", "2".parse().unwrap());
        req.headers.append("X-Other", "kept".parse().unwrap());
        let applied = set.apply_request(&mut req);
        assert_eq!(applied.rules, ["r"]);
        assert_eq!(values(&req.headers, "authorization"), ["Bearer abc"]);
        assert!(values(&req.headers, "x-tracking").is_empty());
        assert_eq!(values(&req.headers, "x-other"), ["kept"]);
        assert!(applied.response.is_empty());
        assert!(applied.respond.is_none());
    }

    #[test]
    fn within_a_rule_removes_come_before_sets() {
        let set = rules(
            "[[rule]]\nname = \"r\"\n\
             set_headers = { X-A = \"new\" }\nremove_headers = [\"X-A\"]\n",
        );
        let mut req = request("GET", "http://h/");
        req.headers.insert("x-a", "old".parse().unwrap());
        set.apply_request(&mut req);
        assert_eq!(values(&req.headers, "x-a"), ["new"]);
    }

    #[test]
    fn response_header_edits_are_collected_in_rule_order_and_applied_on_the_way_back() {
        let set = rules(
            "[[rule]]\nname = \"one\"\n\
             set_response_headers = { \"Cache-Control\" = \"no-store\", X-Rule = \"one\" }\n\
             remove_response_headers = [\"Server\"]\n\
             [[rule]]\nname = \"two\"\n\
             set_response_headers = { X-Rule = \"two\" }\n",
        );
        let mut req = request("GET", "http://h/");
        let applied = set.apply_request(&mut req);
        assert_eq!(applied.rules, ["one", "two"]);
        assert!(!applied.response.is_empty());
        // Request headers are not touched by response edits.
        assert!(req.headers.get("cache-control").is_none());

        let mut response = HeaderMap::new();
        response.append("server", "nginx".parse().unwrap());
        response.append("cache-control", "max-age=60".parse().unwrap());
        response.append("cache-control", "public".parse().unwrap());
        applied.response.apply(&mut response);
        assert!(response.get("server").is_none());
        assert_eq!(values(&response, "cache-control"), ["no-store"]);
        assert_eq!(values(&response, "x-rule"), ["two"]);
    }

    #[test]
    fn map_remote_replaces_scheme_and_authority_keeps_path_and_query_and_the_host_header_follows() {
        let set = rules("[[rule]]\nname = \"r\"\nmap_remote = \"https://staging.example.com\"\n");
        let mut req = request("POST", "http://api.example.com:8080/v1/users?page=2");
        set.apply_request(&mut req);
        assert_eq!(
            req.uri.to_string(),
            "https://staging.example.com/v1/users?page=2"
        );
        assert_eq!(values(&req.headers, "host"), ["staging.example.com"]);
    }

    #[test]
    fn map_remote_writes_a_non_default_port_into_host_and_leaves_out_a_default_one() {
        let set = rules("[[rule]]\nname = \"r\"\nmap_remote = \"http://127.0.0.1:9000/\"\n");
        let mut req = request("GET", "https://api.example.com/x");
        set.apply_request(&mut req);
        assert_eq!(req.uri.to_string(), "http://127.0.0.1:9000/x");
        assert_eq!(values(&req.headers, "host"), ["127.0.0.1:9000"]);

        let set = rules("[[rule]]\nname = \"r\"\nmap_remote = \"https://example.org:443\"\n");
        let mut req = request("GET", "http://api.example.com/x");
        set.apply_request(&mut req);
        assert_eq!(req.uri.to_string(), "https://example.org:443/x");
        assert_eq!(values(&req.headers, "host"), ["example.org"]);
    }

    #[test]
    fn map_remote_adds_no_host_header_to_a_request_without_one() {
        // HTTP/2 requests carry the authority in the URI only.
        let set = rules("[[rule]]\nname = \"r\"\nmap_remote = \"https://staging.example.com\"\n");
        let (mut req, ()) = Request::get("https://api.example.com/a")
            .body(())
            .unwrap()
            .into_parts();
        set.apply_request(&mut req);
        assert_eq!(req.uri.to_string(), "https://staging.example.com/a");
        assert!(req.headers.get(HOST).is_none());
    }

    #[test]
    fn later_rules_match_the_request_as_earlier_rules_left_it() {
        let set = rules(
            "[[rule]]\nname = \"move\"\nmatch = { host = \"api.example.com\" }\n\
             map_remote = \"https://staging.example.com\"\n\
             [[rule]]\nname = \"old-host\"\nmatch = { host = \"api.example.com\" }\n\
             set_headers = { X-Old = \"1\" }\n\
             [[rule]]\nname = \"new-host\"\nmatch = { host = \"staging.example.com\" }\n\
             set_headers = { X-New = \"1\" }\n",
        );
        let mut req = request("GET", "https://api.example.com/");
        let applied = set.apply_request(&mut req);
        assert_eq!(applied.rules, ["move", "new-host"]);
        assert!(req.headers.get("x-old").is_none());
        assert!(req.headers.get("x-new").is_some());
    }

    #[test]
    fn rules_apply_in_file_order_and_the_first_respond_ends_processing() {
        let set = rules(
            r#"
[[rule]]
name = "before"
set_headers = { X-Before = "1", X-Who = "before" }
set_response_headers = { X-Seen = "before" }

[[rule]]
name = "answer"
set_headers = { X-Who = "answer" }
set_response_headers = { X-Answered = "yes" }
remove_response_headers = ["X-Drop"]
respond = { status = 503, body = "down", headers = { "Retry-After" = "5", X-Drop = "x" } }

[[rule]]
name = "after"
set_headers = { X-After = "1" }
respond = { status = 200, body = "later" }
"#,
        );
        let mut req = request("GET", "http://h/");
        let applied = set.apply_request(&mut req);
        assert_eq!(applied.rules, ["before", "answer"]);
        assert_eq!(values(&req.headers, "x-before"), ["1"]);
        assert_eq!(values(&req.headers, "x-who"), ["answer"]);
        assert!(req.headers.get("x-after").is_none());

        let local = applied.respond.expect("the answer rule responds");
        assert_eq!(local.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(local.body, "down");
        assert_eq!(values(&local.headers, "retry-after"), ["5"]);
        assert_eq!(
            values(&local.headers, "content-type"),
            ["text/plain; charset=utf-8"]
        );
        assert!(local.headers.get("content-length").is_none());
        // Response edits of every matched rule are already on the local
        // answer, and applying them again changes nothing.
        assert_eq!(values(&local.headers, "x-seen"), ["before"]);
        assert_eq!(values(&local.headers, "x-answered"), ["yes"]);
        assert!(local.headers.get("x-drop").is_none());
        let mut again = local.headers.clone();
        applied.response.apply(&mut again);
        assert_eq!(again, local.headers);
    }

    #[test]
    fn respond_defaults_to_200_with_an_empty_body_and_keeps_a_given_content_type() {
        let set = rules(
            "[[rule]]\nname = \"empty\"\nmatch = { path = \"/e\" }\nrespond = {}\n\
             [[rule]]\nname = \"typed\"\n\
             respond = { body = \"{}\", headers = { \"Content-Type\" = \"application/json\" } }\n",
        );
        let local = set
            .apply_request(&mut request("GET", "http://h/e"))
            .respond
            .unwrap();
        assert_eq!(local.status, StatusCode::OK);
        assert!(local.body.is_empty());
        assert!(local.headers.get(CONTENT_TYPE).is_none());

        let local = set
            .apply_request(&mut request("GET", "http://h/t"))
            .respond
            .unwrap();
        assert_eq!(values(&local.headers, "content-type"), ["application/json"]);
    }

    #[test]
    fn respond_body_file_is_read_relative_to_the_rules_file_and_typed_by_extension() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("bodies")).unwrap();
        std::fs::write(dir.path().join("bodies/down.JSON"), br#"{"down":true}"#).unwrap();
        std::fs::write(dir.path().join("blob.bin"), [0u8, 1, 2]).unwrap();
        std::fs::write(dir.path().join("page.html"), "<p>hi</p>").unwrap();
        let text = r#"
[[rule]]
name = "json"
match = { path = "/json" }
respond = { status = 503, body_file = "bodies/down.JSON" }

[[rule]]
name = "unknown-extension"
match = { path = "/bin" }
respond = { body_file = "blob.bin" }

[[rule]]
name = "given-type-wins"
respond = { body_file = "page.html", headers = { "content-type" = "text/x-custom" } }
"#;
        let set = RuleSet::parse(text, &dir.path().join("rules.toml")).unwrap();

        let local = set
            .apply_request(&mut request("GET", "http://h/json"))
            .respond
            .unwrap();
        assert_eq!(local.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(local.body, r#"{"down":true}"#);
        assert_eq!(values(&local.headers, "content-type"), ["application/json"]);

        let local = set
            .apply_request(&mut request("GET", "http://h/bin"))
            .respond
            .unwrap();
        assert_eq!(&local.body[..], [0u8, 1, 2]);
        assert!(local.headers.get(CONTENT_TYPE).is_none());

        let local = set
            .apply_request(&mut request("GET", "http://h/other"))
            .respond
            .unwrap();
        assert_eq!(values(&local.headers, "content-type"), ["text/x-custom"]);
    }

    #[test]
    fn when_nothing_matches_the_request_is_untouched_and_nothing_is_applied() {
        let set = rules(
            "[[rule]]\nname = \"r\"\nmatch = { host = \"other\" }\n\
             set_headers = { X-A = \"1\" }\nmap_remote = \"http://elsewhere\"\n\
             set_response_headers = { X-B = \"1\" }\nrespond = { status = 204 }\n",
        );
        let mut req = request("GET", "http://h/p?q");
        let before = (req.uri.clone(), req.headers.clone());
        let applied = set.apply_request(&mut req);
        assert!(applied.rules.is_empty());
        assert!(applied.response.is_empty());
        assert!(applied.respond.is_none());
        assert_eq!((req.uri, req.headers), before);
    }

    #[test]
    fn names_and_len_follow_file_order() {
        let set = rules("[[rule]]\nname = \"b\"\n[[rule]]\nname = \"a\"\n");
        assert_eq!(set.len(), 2);
        assert!(!set.is_empty());
        assert_eq!(set.names(), ["b", "a"]);
    }
}
