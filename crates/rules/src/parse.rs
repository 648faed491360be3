//! The rules file: TOML, walked key by key so every message has a line.
//!
//! Deriving `Deserialize` would be shorter, but serde's errors know neither
//! the rule nor a did-you-mean, so the spanned raw tree is walked by hand.

use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_LENGTH, CONTENT_TYPE};
use http::uri::{Scheme, Uri};
use http::{Method, StatusCode};
use regex::Regex;
use toml::de::{DeString, DeTable, DeValue};
use toml::Spanned;

use crate::error::{RuleRef, RulesError};
use crate::files::{self, FileSig, BODY_HASH_LIMIT};
use crate::host::HostPattern;
use crate::rule::{LocalResponse, MapRemote, Match, ResponseOp, Rule, RuleSet};
use crate::suggest::{same_but_for_form, within_two_edits};

const TOP_KEYS: &[&str] = &["rule"];
pub(crate) const RULE_KEYS: &[&str] = &[
    "name",
    "match",
    "set_headers",
    "remove_headers",
    "set_response_headers",
    "remove_response_headers",
    "map_remote",
    "respond",
];
const MATCH_KEYS: &[&str] = &["host", "path", "path_regex", "methods"];
const RESPOND_KEYS: &[&str] = &["status", "headers", "body", "body_file"];

impl RuleSet {
    /// Parses rules; `origin` is the file path used in messages and to
    /// resolve `body_file`s (which are read now).
    pub fn parse(text: &str, origin: &Path) -> Result<RuleSet, RulesError> {
        parse_text(text, origin).rules
    }

    /// Reads and parses a rules file.
    pub fn load(path: &Path) -> Result<RuleSet, RulesError> {
        load(path).0.rules
    }
}

/// A parse, and the body files it read (or tried to), for live reload.
pub(crate) struct Outcome {
    pub(crate) rules: Result<RuleSet, RulesError>,
    pub(crate) body_files: Vec<(PathBuf, FileSig)>,
}

/// Reads and parses `path`, with the signature of the bytes parsed.
pub(crate) fn load(path: &Path) -> (Outcome, FileSig) {
    let (bytes, sig) = files::read_with_sig(path, u64::MAX);
    let outcome = match bytes {
        Ok(bytes) => parse_bytes(&bytes, path),
        Err(e) => Outcome {
            rules: Err(read_error(path, &e)),
            body_files: Vec::new(),
        },
    };
    (outcome, sig)
}

pub(crate) fn read_error(path: &Path, e: &std::io::Error) -> RulesError {
    RulesError::new(path, None, None, format!("cannot read the rules file: {e}"))
}

pub(crate) fn parse_bytes(bytes: &[u8], origin: &Path) -> Outcome {
    match std::str::from_utf8(bytes) {
        Ok(text) => parse_text(text, origin),
        Err(e) => {
            let good = &bytes[..e.valid_up_to()];
            let line = good.iter().filter(|&&b| b == b'\n').count() + 1;
            let message = "the file is not UTF-8 text; save it as UTF-8";
            Outcome {
                rules: Err(RulesError::new(origin, Some(line), None, message)),
                body_files: Vec::new(),
            }
        }
    }
}

fn parse_text(text: &str, origin: &Path) -> Outcome {
    let mut cx = Cx {
        text,
        origin,
        rule: None,
        body_files: Vec::new(),
    };
    let rules = cx.document();
    Outcome {
        rules,
        body_files: cx.body_files,
    }
}

type Res<T> = Result<T, RulesError>;
type Key<'i> = Spanned<DeString<'i>>;
type Value<'i> = Spanned<DeValue<'i>>;

/// A table's entries in file order (the parsed map is sorted by key), so
/// the first mistake in the file is the one reported.
fn entries<'t, 'i>(table: &'t DeTable<'i>) -> Vec<(&'t Key<'i>, &'t Value<'i>)> {
    let mut entries: Vec<_> = table.iter().collect();
    entries.sort_by_key(|(k, _)| k.span().start);
    entries
}

/// "a string", "an integer", … for "found …" in messages.
fn a_type(v: &DeValue<'_>) -> &'static str {
    match v {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "true/false",
        DeValue::Datetime(_) => "a date",
        DeValue::Array(_) => "a list",
        DeValue::Table(_) => "a table",
    }
}

#[derive(Clone, Copy)]
enum Place {
    Top,
    Rule,
    Match,
    Respond,
}

struct Cx<'a> {
    text: &'a str,
    origin: &'a Path,
    /// The rule being read, for messages.
    rule: Option<RuleRef>,
    body_files: Vec<(PathBuf, FileSig)>,
}

impl Cx<'_> {
    fn line(&self, offset: usize) -> usize {
        let upto = &self.text.as_bytes()[..offset.min(self.text.len())];
        upto.iter().filter(|&&b| b == b'\n').count() + 1
    }

    fn err(&self, span: Range<usize>, message: impl Into<String>) -> RulesError {
        RulesError::new(
            self.origin,
            Some(self.line(span.start)),
            self.rule.clone(),
            message,
        )
    }

    fn wrong_type(&self, v: &Value<'_>, what: &str, expected: &str) -> RulesError {
        let found = a_type(v.get_ref());
        self.err(
            v.span(),
            format!("{what} must be {expected}; found {found}"),
        )
    }

    fn string<'t>(&self, v: &'t Value<'_>, what: &str, expected: &str) -> Res<&'t str> {
        match v.get_ref() {
            DeValue::String(s) => Ok(s),
            _ => Err(self.wrong_type(v, what, expected)),
        }
    }

    fn table<'t, 'i>(&self, v: &'t Value<'i>, what: &str, expected: &str) -> Res<&'t DeTable<'i>> {
        match v.get_ref() {
            DeValue::Table(t) => Ok(t),
            _ => Err(self.wrong_type(v, what, expected)),
        }
    }

    fn document(&mut self) -> Res<RuleSet> {
        let doc = DeTable::parse(self.text).map_err(|e| self.syntax_error(&e))?;
        let mut rules = Vec::new();
        for (key, value) in entries(doc.get_ref()) {
            if key.get_ref() == "rule" {
                rules = self.rules(value)?;
            } else {
                return Err(self.unknown_key(key, Place::Top));
            }
        }
        Ok(RuleSet { rules })
    }

    fn syntax_error(&self, e: &toml::de::Error) -> RulesError {
        let span = e.span().unwrap_or(0..0);
        // Name the offending text when it is short, e.g. a duplicate key.
        let at = match self.text.get(span.clone()) {
            Some(s) if !s.is_empty() && s.len() <= 40 && !s.contains('\n') => {
                format!(" at `{s}`")
            }
            _ => String::new(),
        };
        let mut message = format!("TOML syntax error{at}: {}", e.message());
        if e.message() == "duplicate key" {
            // `[rule]` next to `[[rule]]` is the usual way to get here.
            if self.text.get(span.clone()) == Some("rule") {
                message.push_str("; write [[rule]] (double brackets) above every rule");
            } else {
                message.push_str("; a key may appear once in a table");
            }
        }
        RulesError::new(
            self.origin,
            Some(self.line(span.start)),
            self.rule_at(span.start),
            message,
        )
    }

    /// Best effort: which rule a syntax error is in, from the parser's
    /// recovered tree.
    fn rule_at(&self, offset: usize) -> Option<RuleRef> {
        let (doc, _) = DeTable::parse_recoverable(self.text);
        let rules = doc.get_ref().get("rule")?.get_ref().as_array()?;
        let (index, rule) = rules
            .iter()
            .enumerate()
            .rfind(|(_, r)| r.span().start <= offset)?;
        let name = rule
            .get_ref()
            .as_table()
            .and_then(|t| t.get("name"))
            .and_then(|n| n.get_ref().as_str())
            .filter(|n| !n.trim().is_empty());
        Some(match name {
            Some(name) => RuleRef::Named(name.to_owned()),
            None => RuleRef::Numbered(index + 1),
        })
    }

    fn unknown_key(&self, key: &Key<'_>, place: Place) -> RulesError {
        let k = key.get_ref().as_ref();
        let (place_text, known) = match place {
            Place::Top => ("at the top level", TOP_KEYS),
            Place::Rule => ("in the rule", RULE_KEYS),
            Place::Match => ("in `match`", MATCH_KEYS),
            Place::Respond => ("in `respond`", RESPOND_KEYS),
        };
        let suggest = |s: &str| format!("did you mean `{s}`?");
        // Sure guesses first (a known key in another form, here or in
        // another table), then typos, here before elsewhere: `path` in a
        // rule is match.path, not a misspelt `match`.
        let hint = alias(place, k)
            .map(str::to_owned)
            .or_else(|| same_but_for_form(k, known).map(suggest))
            .or_else(|| misplaced(place, k, same_but_for_form))
            .or_else(|| within_two_edits(k, known).map(suggest))
            .or_else(|| misplaced(place, k, within_two_edits))
            .unwrap_or_else(|| {
                let list = known.join(", ");
                match place {
                    Place::Top => {
                        "the file holds only rules, each under a [[rule]] header".to_owned()
                    }
                    Place::Rule => format!("a rule takes {list}"),
                    Place::Match => format!("`match` takes {list}"),
                    Place::Respond => format!("`respond` takes {list}"),
                }
            });
        self.err(
            key.span(),
            format!("unknown key `{k}` {place_text}; {hint}"),
        )
    }

    fn rules(&mut self, v: &Value<'_>) -> Res<Vec<Rule>> {
        let items = match v.get_ref() {
            DeValue::Array(items) => items,
            DeValue::Table(_) => return Err(self.err(
                v.span(),
                "`rule` must be a list of rules: write [[rule]] (double brackets) above each rule",
            )),
            other => {
                return Err(self.err(
                    v.span(),
                    format!(
                        "`rule` must be a list of rules, each under a [[rule]] header; found {}",
                        a_type(other)
                    ),
                ))
            }
        };
        // Name → the line it was first given on.
        let mut names: HashMap<String, usize> = HashMap::new();
        let mut rules = Vec::with_capacity(items.len());
        for (index, item) in items.iter().enumerate() {
            self.rule = Some(RuleRef::Numbered(index + 1));
            let DeValue::Table(table) = item.get_ref() else {
                return Err(self.wrong_type(
                    item,
                    "each rule",
                    "a table of keys under a [[rule]] header",
                ));
            };
            rules.push(self.rule_table(item.span(), table, &mut names)?);
        }
        self.rule = None;
        Ok(rules)
    }

    fn rule_table(
        &mut self,
        header: Range<usize>,
        table: &DeTable<'_>,
        names: &mut HashMap<String, usize>,
    ) -> Res<Rule> {
        let entries = entries(table);
        // The name first, so every later message can say which rule.
        let mut name = None;
        if let Some((_, v)) = entries.iter().find(|(k, _)| k.get_ref() == "name") {
            let n = self.string(v, "`name`", "a string, e.g. name = \"add-api-token\"")?;
            if n.trim().is_empty() {
                return Err(self.err(
                    v.span(),
                    "`name` is empty; give the rule a name (it shows in logs and in captured exchanges)",
                ));
            }
            let line = self.line(v.span().start);
            self.rule = Some(RuleRef::Named(n.to_owned()));
            if let Some(first) = names.get(n) {
                return Err(self.err(
                    v.span(),
                    format!("duplicate rule name: the rule on line {first} is also called {n:?}; give each rule its own name"),
                ));
            }
            names.insert(n.to_owned(), line);
            name = Some(n.to_owned());
        }

        let mut rule = Rule {
            name: String::new(),
            matcher: Match::default(),
            remove_headers: Vec::new(),
            set_headers: Vec::new(),
            map_remote: None,
            response: Arc::new([]),
            respond: None,
        };
        let mut response_removes = Vec::new();
        let mut response_sets = Vec::new();
        for (key, value) in entries {
            match key.get_ref().as_ref() {
                "name" => {}
                "match" => rule.matcher = self.match_table(value)?,
                "set_headers" => rule.set_headers = self.header_table(value, "set_headers")?,
                "remove_headers" => {
                    rule.remove_headers = self.header_list(value, "remove_headers")?;
                }
                "set_response_headers" => {
                    response_sets = self.header_table(value, "set_response_headers")?;
                }
                "remove_response_headers" => {
                    response_removes = self.header_list(value, "remove_response_headers")?;
                }
                "map_remote" => rule.map_remote = Some(self.map_remote(value)?),
                "respond" => rule.respond = Some(self.respond(value)?),
                _ => return Err(self.unknown_key(key, Place::Rule)),
            }
        }
        let Some(name) = name else {
            return Err(self.err(
                header,
                "the rule has no `name`; add one, e.g. name = \"add-api-token\" (it shows in logs and in captured exchanges)",
            ));
        };
        rule.name = name;
        // Same order as on the request side: removes, then sets.
        rule.response = response_removes
            .into_iter()
            .map(ResponseOp::Remove)
            .chain(
                response_sets
                    .into_iter()
                    .map(|(n, v)| ResponseOp::Set(n, v)),
            )
            .collect();
        Ok(rule)
    }

    fn match_table(&self, v: &Value<'_>) -> Res<Match> {
        let table = self.table(
            v,
            "`match`",
            "a table, e.g. match = { host = \"api.example.com\", path = \"/v1/\" }",
        )?;
        let mut m = Match::default();
        for (key, value) in entries(table) {
            match key.get_ref().as_ref() {
                "host" => {
                    let host = self.string(
                        value,
                        "`match.host`",
                        "a string, e.g. host = \"api.example.com\"",
                    )?;
                    let pattern =
                        HostPattern::parse(host).map_err(|e| self.err(value.span(), e))?;
                    m.host = Some(pattern);
                }
                "path" => m.path = Some(self.path_prefix(value)?),
                "path_regex" => {
                    let text = self.string(
                        value,
                        "`match.path_regex`",
                        "a string, e.g. path_regex = '^/v[0-9]+/users'",
                    )?;
                    let re = Regex::new(text).map_err(|e| {
                        self.err(
                            value.span(),
                            format!(
                                "`match.path_regex` {text:?} is not a valid regex: {}",
                                regex_reason(&e)
                            ),
                        )
                    })?;
                    m.path_regex = Some(re);
                }
                "methods" => m.methods = self.methods(value)?,
                _ => return Err(self.unknown_key(key, Place::Match)),
            }
        }
        Ok(m)
    }

    fn path_prefix(&self, v: &Value<'_>) -> Res<String> {
        let path = self.string(v, "`match.path`", "a string, e.g. path = \"/v1/\"")?;
        if !path.starts_with('/') {
            return Err(self.err(
                v.span(),
                format!("`match.path` {path:?} must start with `/`: it is a prefix of the URL path, e.g. \"/v1/\""),
            ));
        }
        // Both would make a prefix that never matches what people meant.
        if path.contains('*') {
            return Err(self.err(
                v.span(),
                format!("`match.path` {path:?} is a plain prefix, where `*` is not special: write \"/v1/\" for everything under /v1/, or use path_regex"),
            ));
        }
        if path.contains('?') {
            return Err(self.err(
                v.span(),
                format!("`match.path` {path:?} has a `?`, but it is compared with the path alone, without the query; use the path, or path_regex"),
            ));
        }
        Ok(path.to_owned())
    }

    fn methods(&self, v: &Value<'_>) -> Res<Vec<Method>> {
        const EXPECTED: &str = "a list like [\"GET\"] or [\"GET\", \"POST\"]";
        let DeValue::Array(items) = v.get_ref() else {
            return Err(self.wrong_type(v, "`match.methods`", EXPECTED));
        };
        if items.is_empty() {
            return Err(self.err(
                v.span(),
                "`match.methods` is empty, so the rule could never match; list methods, or leave `methods` out to match any",
            ));
        }
        let mut methods = Vec::with_capacity(items.len());
        for item in items.iter() {
            let text = self.string(item, "each of `match.methods`", "a string like \"GET\"")?;
            // Methods are case-sensitive on the wire, but nobody means `get`
            // to differ from GET in a rules file.
            let upper = text.to_ascii_uppercase();
            let method = Method::from_bytes(upper.as_bytes())
                .ok()
                .filter(|_| !upper.is_empty())
                .ok_or_else(|| {
                    self.err(
                        item.span(),
                        format!("{text:?} is not an HTTP method; use a method name like \"GET\" or \"PROPFIND\" (letters, no spaces)"),
                    )
                })?;
            methods.push(method);
        }
        Ok(methods)
    }

    fn header_name(&self, name: &str, span: Range<usize>, key: &str) -> Res<HeaderName> {
        HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
            self.err(
                span,
                format!("{name:?} in `{key}` is not a valid header name: use letters, digits and !#$%&'*+-.^_`|~, with no spaces or colons"),
            )
        })
    }

    /// `set_headers`, `set_response_headers`, `respond.headers`.
    fn header_table(&self, v: &Value<'_>, key: &str) -> Res<Vec<(HeaderName, HeaderValue)>> {
        let table = self.table(
            v,
            &format!("`{key}`"),
            &format!("a table of header names and values, e.g. {key} = {{ \"Cache-Control\" = \"no-store\" }}"),
        )?;
        let mut headers: Vec<(HeaderName, HeaderValue)> = Vec::with_capacity(table.len());
        for (k, value) in entries(table) {
            let name_text = k.get_ref().as_ref();
            let name = self.header_name(name_text, k.span(), key)?;
            // The proxy frames bodies itself; a rule's length would be wrong.
            if name == CONTENT_LENGTH || name == http::header::TRANSFER_ENCODING {
                return Err(self.err(
                    k.span(),
                    format!("`{key}` cannot set {name_text:?}: the proxy frames the body and sets it itself; remove it"),
                ));
            }
            if headers.iter().any(|(n, _)| *n == name) {
                return Err(self.err(
                    k.span(),
                    format!("header {name_text:?} is in `{key}` twice (header names ignore case); keep one"),
                ));
            }
            let DeValue::String(text) = value.get_ref() else {
                // A number written bare is the usual slip: suggest it quoted.
                let example = match value.get_ref() {
                    DeValue::Integer(_) | DeValue::Float(_) | DeValue::Boolean(_) => {
                        format!("{:?}", &self.text[value.span()])
                    }
                    _ => "\"...\"".to_owned(),
                };
                return Err(self.wrong_type(
                    value,
                    &format!("the value of header {name_text:?}"),
                    &format!("a string, e.g. {name_text:?} = {example}"),
                ));
            };
            let header_value = HeaderValue::from_str(text).map_err(|_| {
                self.err(
                    value.span(),
                    format!("the value of header {name_text:?} is not a valid header value: use visible ASCII, spaces and tabs, with no line breaks (percent-encode anything else)"),
                )
            })?;
            headers.push((name, header_value));
        }
        Ok(headers)
    }

    /// `remove_headers`, `remove_response_headers`.
    fn header_list(&self, v: &Value<'_>, key: &str) -> Res<Vec<HeaderName>> {
        let expected = format!("a list of header names, e.g. {key} = [\"X-Tracking\"]");
        let DeValue::Array(items) = v.get_ref() else {
            return Err(self.wrong_type(v, &format!("`{key}`"), &expected));
        };
        items
            .iter()
            .map(|item| {
                let name = self.string(item, &format!("each of `{key}`"), &expected)?;
                self.header_name(name, item.span(), key)
            })
            .collect()
    }

    fn map_remote(&self, v: &Value<'_>) -> Res<MapRemote> {
        const FORM: &str = "map_remote takes scheme://host[:port]; the request's own path is kept";
        let text = self.string(
            v,
            "`map_remote`",
            "a string, e.g. map_remote = \"https://staging.example.com\"",
        )?;
        let bad = |why: String| self.err(v.span(), format!("map_remote {text:?} {why}"));
        if !text.contains("://") {
            return Err(bad(format!(
                "has no scheme; write it as scheme://host[:port], e.g. \"https://{text}\""
            )));
        }
        let uri: Uri = text
            .parse()
            .map_err(|e| bad(format!("is not a URL ({e}); {FORM}")))?;
        let scheme = match uri.scheme_str() {
            Some(s) if s.eq_ignore_ascii_case("http") => Scheme::HTTP,
            Some(s) if s.eq_ignore_ascii_case("https") => Scheme::HTTPS,
            other => {
                return Err(bad(format!(
                    "has scheme `{}`; map_remote sends to http:// or https:// only",
                    other.unwrap_or_default()
                )))
            }
        };
        let Some(authority) = uri.authority().cloned() else {
            return Err(bad(format!("has no host; {FORM}")));
        };
        if authority.as_str().contains('@') {
            return Err(bad(
                "has a user name in it; map_remote takes scheme://host[:port] (send credentials with set_headers, e.g. Authorization)".to_owned(),
            ));
        }
        if authority.host().is_empty() {
            return Err(bad(format!("has no host; {FORM}")));
        }
        // `http` accepts any digits as a port and then reports none, so
        // check the text after the host (there is no user info by now).
        if let Some(port) = authority.as_str()[authority.host().len()..].strip_prefix(':') {
            if !matches!(port.parse::<u16>(), Ok(1..)) {
                return Err(bad(format!(
                    "has port `{port}`, which is not a port; use 1..=65535"
                )));
            }
        }
        if let Some(pq) = uri.path_and_query() {
            if !matches!(pq.path(), "" | "/") || pq.query().is_some() {
                return Err(bad(format!("has a path or query; {FORM}")));
            }
        }
        let default_port = if scheme == Scheme::HTTPS { 443 } else { 80 };
        let host = match authority.port_u16() {
            Some(port) if port != default_port => authority.as_str(),
            _ => authority.host(),
        };
        let host_header = HeaderValue::from_str(host)
            .map_err(|_| bad(format!("has a host that cannot be a Host header; {FORM}")))?;
        Ok(MapRemote {
            scheme,
            authority,
            host_header,
        })
    }

    fn respond(&mut self, v: &Value<'_>) -> Res<LocalResponse> {
        let table = self.table(
            v,
            "`respond`",
            "a table, e.g. respond = { status = 503, body = \"down\" }",
        )?;
        let mut status = StatusCode::OK;
        let mut headers = HeaderMap::new();
        let mut body = Bytes::new();
        // Content-Type to use unless `headers` sets one.
        let mut content_type: Option<&'static str> = None;
        let mut body_key: Option<&str> = None;
        for (key, value) in entries(table) {
            match key.get_ref().as_ref() {
                "status" => status = self.status(value)?,
                "headers" => {
                    for (name, value) in self.header_table(value, "headers")? {
                        headers.insert(name, value);
                    }
                }
                k @ ("body" | "body_file") => {
                    if let Some(earlier) = body_key {
                        return Err(self.err(
                            key.span(),
                            format!("`respond` has both `{earlier}` and `{k}`; keep one"),
                        ));
                    }
                    body_key = Some(k);
                    if k == "body" {
                        let text = self.string(
                            value,
                            "`respond.body`",
                            "a string, e.g. body = \"down\" (or use body_file = \"down.json\")",
                        )?;
                        body = Bytes::copy_from_slice(text.as_bytes());
                        content_type = Some("text/plain; charset=utf-8");
                    } else {
                        let (bytes, guessed) = self.body_file(value)?;
                        body = bytes;
                        content_type = guessed;
                    }
                }
                _ => return Err(self.unknown_key(key, Place::Respond)),
            }
        }
        if !headers.contains_key(CONTENT_TYPE) {
            if let Some(ct) = content_type {
                headers.insert(CONTENT_TYPE, HeaderValue::from_static(ct));
            }
        }
        Ok(LocalResponse {
            status,
            headers,
            body,
        })
    }

    fn status(&self, v: &Value<'_>) -> Res<StatusCode> {
        let DeValue::Integer(n) = v.get_ref() else {
            return Err(self.wrong_type(v, "`respond.status`", "a number, e.g. status = 503"));
        };
        let text = &self.text[v.span()];
        match i64::from_str_radix(n.as_str(), n.radix()) {
            Ok(code @ 200..=599) => u16::try_from(code)
                .ok()
                .and_then(|c| StatusCode::from_u16(c).ok())
                .ok_or_else(|| self.err(v.span(), format!("status {text} is not valid"))),
            Ok(code @ 100..=199) => Err(self.err(
                v.span(),
                format!("status {code} cannot answer a request: 1xx responses are interim and a final one must follow; use 200..=599"),
            )),
            _ => Err(self.err(
                v.span(),
                format!("status {text} is not an HTTP status a rule can answer with; use 200..=599"),
            )),
        }
    }

    /// Reads `respond.body_file` now, so a missing file is a load error and
    /// not a surprise on the first matching request.
    fn body_file(&mut self, v: &Value<'_>) -> Res<(Bytes, Option<&'static str>)> {
        let rel = self.string(
            v,
            "`respond.body_file`",
            "a string, e.g. body_file = \"down.json\"",
        )?;
        if rel.is_empty() {
            return Err(self.err(
                v.span(),
                "`respond.body_file` is empty; name a file, relative to the rules file's folder",
            ));
        }
        let base = self.origin.parent().unwrap_or(Path::new(""));
        let path = base.join(rel);
        let (bytes, sig) = files::read_with_sig(&path, BODY_HASH_LIMIT);
        self.body_files.push((path.clone(), sig));
        let bytes = bytes.map_err(|e| {
            let relative = if Path::new(rel).is_relative() {
                " (body_file is relative to the rules file's folder)"
            } else {
                ""
            };
            self.err(
                v.span(),
                format!("cannot read body_file {}: {e}{relative}", path.display()),
            )
        })?;
        let ext = Path::new(rel)
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        Ok((
            Bytes::from(bytes),
            ext.as_deref().and_then(content_type_for),
        ))
    }
}

fn content_type_for(ext: &str) -> Option<&'static str> {
    Some(match ext {
        "json" => "application/json",
        "html" | "htm" => "text/html; charset=utf-8",
        "txt" => "text/plain; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "xml" => "application/xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "svg" => "image/svg+xml",
        "webp" => "image/webp",
        _ => return None,
    })
}

/// The regex crate's syntax errors are a multi-line drawing ending in
/// `error: why`; keep the why, for a one-line message.
fn regex_reason(e: &regex::Error) -> String {
    let text = e.to_string();
    text.lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix("error: "))
        .map(str::to_owned)
        .unwrap_or_else(|| text.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// Words people bring from other tools, with what we call them.
fn alias(place: Place, key: &str) -> Option<&'static str> {
    let key = key.to_ascii_lowercase().replace('-', "_");
    Some(match (place, key.as_str()) {
        (Place::Rule, "headers" | "add_headers" | "add_header") => {
            "did you mean `set_headers` (on the forwarded request), or `headers` inside `respond`?"
        }
        (Place::Rule, "delete_headers" | "drop_headers" | "strip_headers") => {
            "did you mean `remove_headers`?"
        }
        (Place::Match, "domain" | "hostname") => "did you mean `host`?",
        (Place::Match, "url") => "`match` takes host and path (or path_regex) instead of a URL",
        (Place::Respond, "code" | "status_code") => "did you mean `status`?",
        (Place::Respond, "file") => "did you mean `body_file`?",
        _ => return None,
    })
}

/// A key that belongs one level up or down, found by `near`.
fn misplaced(
    place: Place,
    key: &str,
    near: fn(&str, &[&'static str]) -> Option<&'static str>,
) -> Option<String> {
    match place {
        Place::Top => near(key, RULE_KEYS)
            .map(|k| format!("`{k}` belongs to a rule: put it under a [[rule]] header")),
        Place::Rule => {
            if let Some(k) = near(key, MATCH_KEYS) {
                Some(format!(
                    "`{k}` goes inside `match`, e.g. match = {{ {k} = ... }}"
                ))
            } else {
                near(key, RESPOND_KEYS)
                    .map(|k| format!("`{k}` goes inside `respond`, e.g. respond = {{ {k} = ... }}"))
            }
        }
        Place::Match | Place::Respond => near(key, RULE_KEYS)
            .map(|k| format!("`{k}` belongs to the rule itself, not inside this table")),
    }
}

#[cfg(test)]
mod tests;
