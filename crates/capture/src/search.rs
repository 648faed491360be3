//! `history list --filter EXPR`: a small expression language over captured
//! exchanges, in the spirit of mitmproxy's filter expressions.
//!
//! ```text
//! ~d domain    host is the domain or one of its subdomains (an IP address
//!              only matches itself)
//! ~m METHOD    request method (case-insensitive)
//! ~u regex     full URL
//! ~c CODE      response status code (100-999)
//! ~t regex     Content-Type of the response or the request
//! ~h regex     any request or response header, as `name: value`
//! ~b regex     request or response body, decoded (gzip, br, ...)
//! !X           not X
//! X & Y, X Y   X and Y
//! X | Y        X or Y
//! ( X )        grouping
//! ```
//!
//! `!` binds tighter than `&`, which binds tighter than `|`:
//! `~m GET | ~m POST & ~c 500` is `~m GET | (~m POST & ~c 500)`.
//!
//! Values are bare words, ending at whitespace or `)`, or quoted with `"..."`
//! or `'...'`. Inside quotes `\"` (`\'`) stands for the quote; every other
//! backslash is kept as written, so regex escapes such as `\d` and `\\` pass
//! through. A bare value cannot start with `~ & | ( )`: quote it.
//!
//! Regexes use the `regex` crate's syntax, are searched anywhere in the text
//! and are always case-insensitive. An exchange without response matches no
//! `~c` and no response-side test.

use std::cell::OnceCell;
use std::fmt;

use regex::{Regex, RegexBuilder};

use crate::body::decode_body;
use crate::filter::regex_error_detail;
use crate::model::{header_value, Body, Exchange};

const KNOWN: &str = "~d ~m ~u ~c ~t ~h ~b";

/// A parsed search expression.
#[derive(Debug, Clone)]
pub struct SearchExpr {
    root: Node,
}

/// A search expression that cannot be parsed: where, and why.
///
/// `Display` shows the expression with a caret under the offending token:
///
/// ```text
/// ~x foo
/// ^ unknown filter ~x (known: ~d ~m ~u ~c ~t ~h ~b)
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchError {
    /// Character (not byte) offset of the offending token in the expression.
    pub position: usize,
    pub message: String,
    /// The expression as given.
    pub expression: String,
}

impl SearchError {
    /// `expr` on one line, a caret under `position` on the next, followed by
    /// the message. Tabs before the caret are kept so it lines up.
    pub fn render(&self, expr: &str) -> String {
        let pad: String = expr
            .chars()
            .take(self.position)
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        format!("{expr}\n{pad}^ {}", self.message)
    }
}

impl fmt::Display for SearchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(&self.expression))
    }
}

impl std::error::Error for SearchError {}

#[derive(Debug, Clone)]
enum Node {
    Filter(Filter),
    Not(Box<Node>),
    And(Box<Node>, Box<Node>),
    Or(Box<Node>, Box<Node>),
}

#[derive(Debug, Clone)]
enum Filter {
    /// Lower-case, without a leading dot or IPv6 brackets.
    Domain(String),
    Method(String),
    Url(Regex),
    Code(u16),
    ContentType(Regex),
    Header(Regex),
    Body(Regex),
}

impl SearchExpr {
    pub fn parse(s: &str) -> Result<SearchExpr, SearchError> {
        let mut parser = Parser {
            lexer: Lexer {
                chars: s.chars().collect(),
                pos: 0,
            },
            peeked: None,
            depth: 0,
        };
        parser
            .parse()
            .map(|root| SearchExpr { root })
            .map_err(|(position, message)| SearchError {
                position,
                message,
                expression: s.to_string(),
            })
    }

    pub fn matches(&self, ex: &Exchange) -> bool {
        self.root.matches(&Bodies::new(ex))
    }

    /// True when matching looks at bodies (`~b`), so a caller listing from a
    /// store knows whether to load them.
    pub fn needs_bodies(&self) -> bool {
        self.root.needs_bodies()
    }
}

impl Node {
    fn needs_bodies(&self) -> bool {
        match self {
            Node::Filter(f) => matches!(f, Filter::Body(_)),
            Node::Not(n) => n.needs_bodies(),
            Node::And(a, b) | Node::Or(a, b) => a.needs_bodies() || b.needs_bodies(),
        }
    }

    fn matches(&self, ex: &Bodies) -> bool {
        match self {
            Node::Filter(f) => f.matches(ex),
            Node::Not(n) => !n.matches(ex),
            Node::And(a, b) => a.matches(ex) && b.matches(ex),
            Node::Or(a, b) => a.matches(ex) || b.matches(ex),
        }
    }
}

/// An exchange with its bodies decoded at most once per match.
struct Bodies<'a> {
    ex: &'a Exchange,
    request: OnceCell<String>,
    response: OnceCell<Option<String>>,
}

impl<'a> Bodies<'a> {
    fn new(ex: &'a Exchange) -> Self {
        Bodies {
            ex,
            request: OnceCell::new(),
            response: OnceCell::new(),
        }
    }

    fn request(&self) -> &str {
        self.request
            .get_or_init(|| body_text(&self.ex.request.body))
    }

    fn response(&self) -> Option<&str> {
        self.response
            .get_or_init(|| self.ex.response.as_ref().map(|r| body_text(&r.body)))
            .as_deref()
    }
}

/// The body as text: decoded when its encoding is known and intact, the
/// bytes as kept otherwise; invalid UTF-8 replaced.
fn body_text(body: &Body) -> String {
    match decode_body(&body.bytes, body.encoding.as_deref()) {
        Ok(decoded) => String::from_utf8_lossy(&decoded).into_owned(),
        Err(_) => String::from_utf8_lossy(&body.bytes).into_owned(),
    }
}

impl Filter {
    fn matches(&self, b: &Bodies) -> bool {
        let ex = b.ex;
        let response = ex.response.as_ref();
        match self {
            Filter::Domain(domain) => {
                // An IP address has no subdomains: `~d 0.0.1` is not
                // 127.0.0.1's parent domain.
                crate::cookies::domain_matches(&normalize_host(ex.host()), domain)
            }
            Filter::Method(method) => ex.request.method.eq_ignore_ascii_case(method),
            Filter::Url(re) => re.is_match(&ex.request.url),
            Filter::Code(code) => response.is_some_and(|r| r.status == *code),
            Filter::ContentType(re) => {
                let request = header_value(&ex.request.headers, "content-type");
                let response = response.and_then(|r| header_value(&r.headers, "content-type"));
                [request, response]
                    .into_iter()
                    .flatten()
                    .any(|t| re.is_match(t))
            }
            Filter::Header(re) => ex
                .request
                .headers
                .iter()
                .chain(response.into_iter().flat_map(|r| r.headers.iter()))
                .any(|h| re.is_match(&format!("{}: {}", h.name, h.value))),
            Filter::Body(re) => {
                re.is_match(b.request()) || b.response().is_some_and(|t| re.is_match(t))
            }
        }
    }
}

/// Lower-case, without IPv6 brackets, a leading dot or a trailing dot.
fn normalize_host(host: &str) -> String {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.trim_matches('.').to_lowercase()
}

/// An error: character position and message.
type PResult<T> = Result<T, (usize, String)>;

#[derive(Debug)]
enum Tok {
    Filter(Filter),
    And,
    Or,
    Not,
    LParen,
    RParen,
    /// Text where a filter was expected.
    Word(String),
}

impl Tok {
    fn describe(&self) -> String {
        match self {
            Tok::Filter(_) => "a filter".into(),
            Tok::And => "&".into(),
            Tok::Or => "|".into(),
            Tok::Not => "!".into(),
            Tok::LParen => "(".into(),
            Tok::RParen => ")".into(),
            Tok::Word(w) => format!("{w:?}"),
        }
    }
}

struct Lexer {
    chars: Vec<char>,
    pos: usize,
}

/// Characters a bare value or word cannot start with.
const SPECIAL: &[char] = &['~', '&', '|', '!', '(', ')'];

impl Lexer {
    fn skip_space(&mut self) {
        while self.chars.get(self.pos).is_some_and(|c| c.is_whitespace()) {
            self.pos += 1;
        }
    }

    /// The next token and its position, or `None` at the end.
    fn next(&mut self) -> PResult<Option<(usize, Tok)>> {
        self.skip_space();
        let start = self.pos;
        let Some(&c) = self.chars.get(start) else {
            return Ok(None);
        };
        let simple = match c {
            '&' => Some(Tok::And),
            '|' => Some(Tok::Or),
            '!' => Some(Tok::Not),
            '(' => Some(Tok::LParen),
            ')' => Some(Tok::RParen),
            _ => None,
        };
        if let Some(tok) = simple {
            self.pos += 1;
            return Ok(Some((start, tok)));
        }
        if c == '~' {
            return self.filter().map(|f| Some((start, Tok::Filter(f))));
        }
        let word = if c == '"' || c == '\'' {
            self.quoted()?
        } else {
            let end = self.chars[start..]
                .iter()
                .position(|c| c.is_whitespace() || SPECIAL.contains(c))
                .map_or(self.chars.len(), |n| start + n);
            self.pos = end;
            self.chars[start..end].iter().collect()
        };
        Ok(Some((start, Tok::Word(word))))
    }

    /// `~x value`, at a `~`.
    fn filter(&mut self) -> PResult<Filter> {
        let start = self.pos;
        self.pos += 1;
        while self
            .chars
            .get(self.pos)
            .is_some_and(char::is_ascii_alphanumeric)
        {
            self.pos += 1;
        }
        let name: String = self.chars[start..self.pos].iter().collect();
        let example = match name.as_str() {
            "~d" => "~d example.com",
            "~m" => "~m GET",
            "~u" => "~u /api/",
            "~c" => "~c 404",
            "~t" => "~t json",
            "~h" => "~h 'authorization: bearer'",
            "~b" => "~b error",
            _ => return Err((start, format!("unknown filter {name} (known: {KNOWN})"))),
        };
        self.skip_space();
        let value_at = self.pos;
        let value = match self.chars.get(value_at) {
            None => None,
            // `!` may start a value (`~b !important`); the rest are operators.
            Some(c) if *c != '!' && SPECIAL.contains(c) => None,
            Some('"' | '\'') => Some(self.quoted()?),
            Some(_) => {
                let end = self.chars[value_at..]
                    .iter()
                    .position(|c| c.is_whitespace() || *c == ')')
                    .map_or(self.chars.len(), |n| value_at + n);
                self.pos = end;
                Some(self.chars[value_at..end].iter().collect())
            }
        };
        let Some(value) = value else {
            return Err((
                value_at,
                format!("missing value for {name} (e.g. {example})"),
            ));
        };
        let regex = |value: &str| {
            RegexBuilder::new(value)
                .case_insensitive(true)
                .build()
                .map_err(|err| {
                    let (reason, _) = regex_error_detail(&err);
                    (
                        value_at,
                        format!("{name}: {value:?} is not a valid regex: {reason}"),
                    )
                })
        };
        Ok(match name.as_str() {
            "~d" => Filter::Domain(normalize_host(&value)),
            "~m" => Filter::Method(value),
            "~u" => Filter::Url(regex(&value)?),
            "~c" => Filter::Code(parse_code(&value).ok_or_else(|| {
                let hint = if value.contains(['|', '&']) {
                    "; put spaces around | and &"
                } else {
                    ""
                };
                (
                    value_at,
                    format!(
                        "~c needs a status code from 100 to 999, not {value:?} \
                         (e.g. {example}{hint})"
                    ),
                )
            })?),
            "~t" => Filter::ContentType(regex(&value)?),
            "~h" => Filter::Header(regex(&value)?),
            _ => Filter::Body(regex(&value)?),
        })
    }

    /// A quoted string at its opening quote; returns its content.
    fn quoted(&mut self) -> PResult<String> {
        let start = self.pos;
        let quote = self.chars[start];
        let mut out = String::new();
        let mut i = start + 1;
        while let Some(&c) = self.chars.get(i) {
            match c {
                c if c == quote => {
                    self.pos = i + 1;
                    return Ok(out);
                }
                '\\' => match self.chars.get(i + 1) {
                    Some(&q) if q == quote => {
                        out.push(q);
                        i += 2;
                    }
                    Some('\\') => {
                        out.push_str("\\\\");
                        i += 2;
                    }
                    _ => {
                        out.push('\\');
                        i += 1;
                    }
                },
                c => {
                    out.push(c);
                    i += 1;
                }
            }
        }
        Err((
            start,
            format!("unterminated quoted value: no closing {quote}"),
        ))
    }
}

/// A status code: three digits, 100 to 999.
fn parse_code(value: &str) -> Option<u16> {
    if value.len() != 3 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok().filter(|c| (100..=999).contains(c))
}

struct Parser {
    lexer: Lexer,
    peeked: Option<Option<(usize, Tok)>>,
    /// Open parentheses around the current position.
    depth: usize,
}

/// What came just before the expression being parsed, for error messages.
#[derive(Clone, Copy)]
enum After {
    /// Start of the input, or an opening parenthesis.
    Start,
    /// An operator (`&`, `|`, `!`) at this position.
    Op(char, usize),
    /// A complete operand (juxtaposition).
    Operand,
}

impl Parser {
    fn peek(&mut self) -> PResult<Option<&(usize, Tok)>> {
        if self.peeked.is_none() {
            self.peeked = Some(self.lexer.next()?);
        }
        Ok(self.peeked.as_ref().and_then(Option::as_ref))
    }

    fn bump(&mut self) -> PResult<Option<(usize, Tok)>> {
        self.peek()?;
        Ok(self.peeked.take().flatten())
    }

    fn parse(&mut self) -> PResult<Node> {
        let node = self.or(After::Start)?;
        match self.bump()? {
            None => Ok(node),
            // `or` stops only at the end or at a `)`.
            Some((pos, _)) => Err((pos, "unmatched ) (no ( before it)".into())),
        }
    }

    fn or(&mut self, after: After) -> PResult<Node> {
        let mut node = self.and(after)?;
        while let Some(&(pos, Tok::Or)) = self.peek()? {
            self.bump()?;
            let rhs = self.and(After::Op('|', pos))?;
            node = Node::Or(Box::new(node), Box::new(rhs));
        }
        Ok(node)
    }

    fn and(&mut self, after: After) -> PResult<Node> {
        let mut node = self.unary(after)?;
        loop {
            let after = match self.peek()? {
                Some(&(pos, Tok::And)) => {
                    self.bump()?;
                    After::Op('&', pos)
                }
                Some((_, Tok::Filter(_) | Tok::Not | Tok::LParen | Tok::Word(_))) => After::Operand,
                _ => return Ok(node),
            };
            let rhs = self.unary(after)?;
            node = Node::And(Box::new(node), Box::new(rhs));
        }
    }

    fn unary(&mut self, after: After) -> PResult<Node> {
        let Some((pos, tok)) = self.bump()? else {
            return Err(match after {
                After::Op(op, at) => (at, format!("{op} needs a filter after it")),
                _ => (
                    self.lexer.pos,
                    "empty expression: expected a filter such as ~d example.com".into(),
                ),
            });
        };
        match tok {
            Tok::Filter(f) => Ok(Node::Filter(f)),
            Tok::Not => Ok(Node::Not(Box::new(self.unary(After::Op('!', pos))?))),
            Tok::LParen => {
                self.depth += 1;
                let node = self.or(After::Start)?;
                self.depth -= 1;
                match self.bump()? {
                    Some((_, Tok::RParen)) => Ok(node),
                    _ => Err((pos, "unclosed ( (no ) after it)".into())),
                }
            }
            tok => Err(match (tok, after) {
                (Tok::RParen, After::Start) if self.depth == 0 => {
                    (pos, "unmatched ) (no ( before it)".into())
                }
                (Tok::RParen, After::Start) => (pos, "empty parentheses".into()),
                (tok @ (Tok::And | Tok::Or), After::Start) => {
                    (pos, format!("{} needs a filter before it", tok.describe()))
                }
                (tok, After::Op(op, _)) => (
                    pos,
                    format!("expected a filter after {op}, found {}", tok.describe()),
                ),
                (tok, _) => (
                    pos,
                    format!(
                        "expected a filter such as ~d example.com, found {} \
                         (values with spaces need quotes)",
                        tok.describe()
                    ),
                ),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Header, Request, Response, Timings};
    use proptest::prelude::*;
    use std::io::Write;

    fn exchange(method: &str, url: &str) -> Exchange {
        Exchange {
            id: None,
            session_id: 1,
            client_addr: "127.0.0.1:1".into(),
            started_at_us: 0,
            timings: Timings::default(),
            request: Request {
                method: method.into(),
                url: url.into(),
                http_version: "HTTP/1.1".into(),
                headers: vec![],
                body: Body::default(),
            },
            response: None,
            error: Some("refused".into()),
            rules: vec![],
            route: None,
            websocket: false,
        }
    }

    fn with_response(mut ex: Exchange, status: u16, headers: &[(&str, &str)]) -> Exchange {
        ex.error = None;
        ex.response = Some(Response {
            status,
            reason: String::new(),
            http_version: "HTTP/1.1".into(),
            headers: headers.iter().map(|(n, v)| Header::new(*n, *v)).collect(),
            body: Body::default(),
        });
        ex
    }

    fn get(url: &str, status: u16) -> Exchange {
        with_response(exchange("GET", url), status, &[])
    }

    fn parse(s: &str) -> SearchExpr {
        SearchExpr::parse(s).unwrap_or_else(|e| panic!("{s:?} should parse:\n{e}"))
    }

    fn is_match(s: &str, ex: &Exchange) -> bool {
        parse(s).matches(ex)
    }

    fn err(s: &str) -> SearchError {
        match SearchExpr::parse(s) {
            Ok(e) => panic!("{s:?} should not parse, got {e:?}"),
            Err(e) => e,
        }
    }

    /// Position and message of the error for `s`.
    fn err_at(s: &str) -> (usize, String) {
        let e = err(s);
        (e.position, e.message)
    }

    #[test]
    fn domain_matches_the_host_and_its_subdomains_only() {
        let api = get("https://api.Example.com:8443/x", 200);
        assert!(is_match("~d example.com", &api));
        assert!(is_match("~d API.example.COM", &api));
        assert!(is_match("~d .example.com", &api));
        assert!(!is_match("~d ample.com", &api));
        assert!(!is_match("~d api", &api));
        assert!(!is_match(
            "~d example.com",
            &get("http://example.com.evil.test/", 200)
        ));
        assert!(is_match("~d example.com", &get("http://example.com/", 200)));
        assert!(is_match("~d ::1", &get("http://[::1]:8080/", 200)));
        let ip = get("http://127.0.0.1:8080/", 200);
        assert!(is_match("~d 127.0.0.1", &ip));
        assert!(
            !is_match("~d 0.0.1", &ip),
            "an IP address has no subdomains"
        );
        assert!(!is_match("~d 1", &ip));
    }

    #[test]
    fn method_is_compared_case_insensitively_and_whole() {
        let post = exchange("POST", "http://a.test/");
        assert!(is_match("~m post", &post));
        assert!(is_match("~m POST", &post));
        assert!(!is_match("~m POS", &post));
        assert!(!is_match("~m GET", &post));
    }

    #[test]
    fn url_is_a_case_insensitive_regex_over_the_full_url() {
        let ex = get("https://a.test/v1/Items?page=2", 200);
        assert!(is_match(r"~u /v\d+/items", &ex));
        assert!(is_match("~u ^https://", &ex));
        assert!(is_match("~u page=2$", &ex));
        assert!(!is_match("~u ^http://", &ex));
    }

    #[test]
    fn code_is_the_exact_response_status() {
        assert!(is_match("~c 404", &get("http://a.test/", 404)));
        assert!(!is_match("~c 404", &get("http://a.test/", 200)));
        assert!(!is_match("~c 404", &exchange("GET", "http://a.test/")));
        assert!(is_match("!~c 404", &exchange("GET", "http://a.test/")));
    }

    #[test]
    fn content_type_looks_at_response_and_request() {
        let ex = with_response(
            exchange("POST", "http://a.test/"),
            200,
            &[("Content-Type", "application/JSON; charset=utf-8")],
        );
        assert!(is_match("~t json", &ex));
        assert!(is_match("~t charset=utf-8", &ex));
        assert!(!is_match("~t html", &ex));
        let mut form = exchange("POST", "http://a.test/");
        form.request.headers.push(Header::new(
            "content-type",
            "application/x-www-form-urlencoded",
        ));
        assert!(is_match("~t form-urlencoded", &form));
    }

    #[test]
    fn header_matches_name_colon_value_on_either_side() {
        let mut ex = with_response(
            exchange("GET", "http://a.test/"),
            200,
            &[("Server", "nginx/1.25")],
        );
        ex.request
            .headers
            .push(Header::new("Authorization", "Bearer abc"));
        assert!(is_match("~h 'authorization: bearer'", &ex));
        assert!(is_match("~h ^server:\\s*nginx", &ex));
        assert!(!is_match("~h 'x-api-key:'", &ex));
        // Name and value are one string: a regex can span them.
        assert!(is_match("~h 'ion: B'", &ex));
    }

    #[test]
    fn body_matches_decoded_request_or_response_bodies() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(b"{\"error\":\"Quota exceeded\"}").unwrap();
        let mut ex = get("http://a.test/", 429);
        let resp = ex.response.as_mut().unwrap();
        resp.body = Body::from_bytes(gz.finish().unwrap());
        resp.body.encoding = Some("gzip".into());
        ex.request.body = Body::from_bytes(b"user=alice".to_vec());
        assert!(is_match("~b 'quota exceeded'", &ex));
        assert!(is_match("~b user=alice", &ex));
        assert!(!is_match("~b bob", &ex));
    }

    #[test]
    fn undecodable_bodies_are_searched_as_kept() {
        let mut ex = get("http://a.test/", 200);
        let resp = ex.response.as_mut().unwrap();
        resp.body = Body::from_bytes(b"plain \xff text".to_vec());
        resp.body.encoding = Some("compress".into());
        assert!(is_match("~b 'plain . text'", &ex));
    }

    #[test]
    fn needs_bodies_only_when_a_body_filter_appears() {
        assert!(!parse("~m GET | ~h x & ~t y").needs_bodies());
        assert!(parse("~m GET | !(~c 200 ~b x)").needs_bodies());
    }

    #[test]
    fn and_binds_tighter_than_or() {
        let e = parse("~m GET | ~m POST & ~c 500");
        assert!(e.matches(&with_response(exchange("GET", "http://a.test/"), 200, &[])));
        assert!(e.matches(&with_response(exchange("POST", "http://a.test/"), 500, &[])));
        assert!(!e.matches(&with_response(exchange("POST", "http://a.test/"), 200, &[])));
        let e = parse("~c 500 & ~m POST | ~m GET");
        assert!(e.matches(&with_response(exchange("GET", "http://a.test/"), 200, &[])));
        assert!(!e.matches(&with_response(exchange("POST", "http://a.test/"), 200, &[])));
    }

    #[test]
    fn parentheses_override_precedence() {
        let e = parse("(~m GET | ~m POST) & ~c 500");
        assert!(!e.matches(&with_response(exchange("GET", "http://a.test/"), 200, &[])));
        assert!(e.matches(&with_response(exchange("GET", "http://a.test/"), 500, &[])));
    }

    #[test]
    fn juxtaposition_means_and_with_the_same_precedence() {
        let e = parse("~m GET ~c 200 | ~c 404");
        assert!(e.matches(&get("http://a.test/", 404)));
        assert!(e.matches(&get("http://a.test/", 200)));
        let put = with_response(exchange("PUT", "http://a.test/"), 200, &[]);
        assert!(!e.matches(&put));
        assert!(!parse("~m GET ~c 200").matches(&get("http://a.test/", 201)));
    }

    #[test]
    fn not_binds_tightest() {
        let ok_get = get("http://a.test/", 200);
        assert!(!is_match("!~m GET & ~c 200", &ok_get));
        assert!(is_match("!~m GET | ~c 200", &ok_get));
        assert!(!is_match("!(~m GET | ~c 500)", &ok_get));
        assert!(is_match("!!~m GET", &ok_get));
        assert!(is_match("! ~m POST", &ok_get));
    }

    #[test]
    fn quoted_values_keep_spaces_parentheses_and_escaped_quotes() {
        let mut ex = get("http://a.test/", 200);
        ex.request.body = Body::from_bytes(br#"say "hi" (twice) it's"#.to_vec());
        assert!(is_match(r#"~b "say \"hi\" \(twice\)""#, &ex));
        assert!(is_match(r"~b 'it\'s'", &ex));
        assert!(is_match(r#"~b "it's""#, &ex));
        assert!(is_match(r#"(~b "(twice)")"#, &ex));
        assert!(!is_match(r#"~b "say hi""#, &ex));
    }

    #[test]
    fn backslashes_in_quotes_reach_the_regex_unchanged() {
        let mut ex = get("http://a.test/", 200);
        ex.request.body = Body::from_bytes(br"id 42 path C:\tmp".to_vec());
        assert!(is_match(r#"~b "id \d+""#, &ex));
        assert!(is_match(r#"~b "C:\\tmp""#, &ex));
        assert!(is_match(r#"~b "\\""#, &ex));
    }

    #[test]
    fn bare_values_end_at_whitespace_or_closing_parenthesis() {
        let ex = get("http://a.test/x", 200);
        assert!(is_match("(~c 200)", &ex));
        assert!(is_match("(~d a.test)&(~m get)", &ex));
        // `|` inside a bare value is regex alternation.
        assert!(is_match("~u nope|a.test", &ex));
        assert!(is_match("~b !nothing | ~c 200", &ex));
    }

    #[test]
    fn unknown_filter_is_pointed_at() {
        let e = err("~x foo");
        assert_eq!(
            e.to_string(),
            "~x foo\n^ unknown filter ~x (known: ~d ~m ~u ~c ~t ~h ~b)"
        );
        assert_eq!(
            err_at("~m GET & ~q foo"),
            (9, "unknown filter ~q (known: ~d ~m ~u ~c ~t ~h ~b)".into())
        );
        assert_eq!(err_at("~mGET").0, 0);
        assert_eq!(
            err("~m GET & ~zz 1").to_string(),
            "~m GET & ~zz 1\n         ^ unknown filter ~zz (known: ~d ~m ~u ~c ~t ~h ~b)"
        );
    }

    #[test]
    fn positions_count_characters_not_bytes() {
        assert_eq!(err_at("~u é & ~x 1").0, 7);
    }

    #[test]
    fn missing_values_are_pointed_at_where_the_value_should_be() {
        assert_eq!(
            err_at("~m"),
            (2, "missing value for ~m (e.g. ~m GET)".into())
        );
        assert_eq!(err_at("~c 200 & ~d   ").0, 14);
        assert_eq!(err_at("(~u) | ~c 200").0, 3);
        assert_eq!(err_at("~h & ~c 200").0, 3);
        assert_eq!(err_at("~b ~m GET").0, 3);
    }

    #[test]
    fn unbalanced_parentheses_are_pointed_at() {
        assert_eq!(
            err_at("(~m GET | ~c 200"),
            (0, "unclosed ( (no ) after it)".into())
        );
        assert_eq!(err_at("~c 200 & ((~m GET)").0, 9);
        assert_eq!(
            err_at("~m GET)"),
            (6, "unmatched ) (no ( before it)".into())
        );
        assert_eq!(
            err_at("(~m GET)) | ~c 1"),
            (8, "unmatched ) (no ( before it)".into())
        );
        assert_eq!(err_at(")"), (0, "unmatched ) (no ( before it)".into()));
        assert_eq!(err_at("~m GET & ()"), (10, "empty parentheses".into()));
    }

    #[test]
    fn trailing_and_leading_operators_are_pointed_at() {
        assert_eq!(err_at("~m GET &"), (7, "& needs a filter after it".into()));
        assert_eq!(
            err_at("~m GET |  "),
            (7, "| needs a filter after it".into())
        );
        assert_eq!(
            err_at("~m GET & !"),
            (9, "! needs a filter after it".into())
        );
        assert_eq!(
            err_at("(~m GET |)"),
            (9, "expected a filter after |, found )".into())
        );
        assert_eq!(err_at("& ~m GET"), (0, "& needs a filter before it".into()));
        assert_eq!(
            err_at("~m GET & | ~c 2"),
            (9, "expected a filter after &, found |".into())
        );
    }

    #[test]
    fn bad_regex_points_at_the_value() {
        assert_eq!(
            err_at("~m GET & ~u api("),
            (
                12,
                "~u: \"api(\" is not a valid regex: unclosed group at position 3".into()
            )
        );
        assert_eq!(err_at("~b 'a{2,1}'").0, 3);
        assert_eq!(
            err_at("~t ["),
            (
                3,
                "~t: \"[\" is not a valid regex: unclosed character class at position 0".into()
            )
        );
        assert_eq!(err_at("~h ok ~h (").0, 9);
    }

    #[test]
    fn bad_codes_are_pointed_at() {
        assert_eq!(
            err_at("~m GET ~c abc"),
            (
                10,
                "~c needs a status code from 100 to 999, not \"abc\" (e.g. ~c 404)".into()
            )
        );
        assert_eq!(err_at("~c 99").0, 3);
        assert_eq!(err_at("~c 2xx").0, 3);
        assert_eq!(err_at("~c 0200").0, 3);
        assert_eq!(err_at("~c +20").0, 3);
        assert_eq!(
            err_at("~c 404|~c 500"),
            (
                3,
                "~c needs a status code from 100 to 999, not \"404|~c\" \
                 (e.g. ~c 404; put spaces around | and &)"
                    .into()
            )
        );
    }

    #[test]
    fn bare_words_and_unterminated_quotes_are_pointed_at() {
        assert_eq!(
            err_at("~m GET POST"),
            (
                7,
                "expected a filter such as ~d example.com, found \"POST\" \
                 (values with spaces need quotes)"
                    .into()
            )
        );
        assert_eq!(err_at("api"), (0, "expected a filter such as ~d example.com, found \"api\" (values with spaces need quotes)".into()));
        assert_eq!(
            err_at("~c 200 & ~b 'abc"),
            (12, "unterminated quoted value: no closing '".into())
        );
        assert_eq!(err_at(r#"~b "a\""#).0, 3);
    }

    #[test]
    fn empty_expressions_are_refused() {
        assert_eq!(
            err_at("   "),
            (
                3,
                "empty expression: expected a filter such as ~d example.com".into()
            )
        );
        assert_eq!(err_at("").0, 0);
    }

    #[test]
    fn the_caret_lines_up_under_tabs() {
        assert_eq!(
            err("\t~x").to_string(),
            "\t~x\n\t^ unknown filter ~x (known: ~d ~m ~u ~c ~t ~h ~b)"
        );
    }

    // ---- properties ----

    const HOSTS: &[&str] = &["api.example.com", "example.com", "cdn.other.org"];
    const METHODS: &[&str] = &["GET", "POST", "DELETE"];
    const CODES: &[u16] = &[200, 404, 500];

    prop_compose! {
        fn arb_exchange()(
            method in prop::sample::select(METHODS),
            host in prop::sample::select(HOSTS),
            path in prop::sample::select(&["/", "/v1/items", "/login?next=/"][..]),
            auth in any::<bool>(),
            req_body in prop::sample::select(&["", "hello", "user=alice"][..]),
            response in prop::option::of((
                prop::sample::select(CODES),
                prop::sample::select(&["", "application/json", "image/png", "text/html"][..]),
                prop::sample::select(&["", "error: boom", "{\"ok\":true}"][..]),
            )),
        ) -> Exchange {
            let mut ex = exchange(method, &format!("https://{host}{path}"));
            if auth {
                ex.request.headers.push(Header::new("Authorization", "Bearer t"));
            }
            ex.request.body = Body::from_bytes(req_body.as_bytes().to_vec());
            if let Some((status, content_type, body)) = response {
                let headers: &[(&str, &str)] = if content_type.is_empty() {
                    &[]
                } else {
                    &[("Content-Type", content_type)]
                };
                ex = with_response(ex, status, headers);
                ex.response.as_mut().unwrap().body = Body::from_bytes(body.as_bytes().to_vec());
            }
            ex
        }
    }

    /// Well-formed expressions, as text.
    fn arb_expr_text() -> impl Strategy<Value = String> {
        let leaf = prop::sample::select(
            &[
                "~d example.com",
                "~d other.org",
                "~d api.example.com",
                "~m GET",
                "~m post",
                "~u /v1/",
                "~u 'login\\?next'",
                "~c 200",
                "~c 404",
                "~t json",
                "~t '^image/'",
                "~h authorization",
                "~h \"content-type: text\"",
                "~b error",
                "~b 'hello|ok'",
            ][..],
        )
        .prop_map(str::to_string);
        leaf.prop_recursive(4, 24, 2, |inner| {
            (inner.clone(), inner, 0..7usize).prop_map(|(a, b, op)| match op {
                0 => format!("{a} & {b}"),
                1 => format!("{a} {b}"),
                2 => format!("{a} | {b}"),
                3 => format!("!{a}"),
                4 => format!("({a})"),
                5 => format!("({a})({b})"),
                _ => format!("!( {a} |{b})"),
            })
        })
    }

    /// A tree over filters simple enough to evaluate by hand.
    #[derive(Debug, Clone)]
    enum Tree {
        Method(&'static str),
        Code(u16),
        Domain(&'static str),
        Not(Box<Tree>),
        /// The bool picks `&` or juxtaposition.
        And(Box<Tree>, Box<Tree>, bool),
        Or(Box<Tree>, Box<Tree>),
    }

    fn arb_tree() -> impl Strategy<Value = Tree> {
        let leaf = prop_oneof![
            prop::sample::select(METHODS).prop_map(Tree::Method),
            prop::sample::select(CODES).prop_map(Tree::Code),
            prop::sample::select(HOSTS).prop_map(Tree::Domain),
        ];
        leaf.prop_recursive(5, 32, 2, |inner| {
            prop_oneof![
                inner.clone().prop_map(|t| Tree::Not(Box::new(t))),
                (inner.clone(), inner.clone(), any::<bool>()).prop_map(|(a, b, amp)| Tree::And(
                    Box::new(a),
                    Box::new(b),
                    amp
                )),
                (inner.clone(), inner).prop_map(|(a, b)| Tree::Or(Box::new(a), Box::new(b))),
            ]
        })
    }

    impl Tree {
        fn precedence(&self) -> u8 {
            match self {
                Tree::Or(..) => 1,
                Tree::And(..) => 2,
                _ => 3,
            }
        }

        /// Text with only the parentheses precedence requires.
        fn render(&self, min: u8) -> String {
            let text = match self {
                Tree::Method(m) => format!("~m {m}"),
                Tree::Code(c) => format!("~c {c}"),
                Tree::Domain(d) => format!("~d {d}"),
                Tree::Not(t) => format!("!{}", t.render(3)),
                Tree::And(a, b, amp) => {
                    let op = if *amp { " & " } else { " " };
                    format!("{}{op}{}", a.render(2), b.render(2))
                }
                Tree::Or(a, b) => format!("{} | {}", a.render(1), b.render(1)),
            };
            if self.precedence() < min {
                format!("({text})")
            } else {
                text
            }
        }

        fn eval(&self, ex: &Exchange) -> bool {
            match self {
                Tree::Method(m) => ex.request.method == *m,
                Tree::Code(c) => ex.response.as_ref().is_some_and(|r| r.status == *c),
                Tree::Domain(d) => {
                    let host = ex.host();
                    host == *d || host.ends_with(&format!(".{d}"))
                }
                Tree::Not(t) => !t.eval(ex),
                Tree::And(a, b, _) => a.eval(ex) && b.eval(ex),
                Tree::Or(a, b) => a.eval(ex) || b.eval(ex),
            }
        }
    }

    proptest! {
        #[test]
        fn negation_matches_exactly_when_the_expression_does_not(
            a in arb_expr_text(),
            exchanges in prop::collection::vec(arb_exchange(), 1..8),
        ) {
            let expr = parse(&a);
            let negated = parse(&format!("!({a})"));
            for ex in &exchanges {
                prop_assert_eq!(negated.matches(ex), !expr.matches(ex), "{} on {:?}", a, ex);
            }
        }

        #[test]
        fn minimal_parentheses_mean_what_the_precedence_rules_say(
            tree in arb_tree(),
            exchanges in prop::collection::vec(arb_exchange(), 1..8),
        ) {
            let text = tree.render(0);
            let expr = parse(&text);
            for ex in &exchanges {
                prop_assert_eq!(expr.matches(ex), tree.eval(ex), "{} on {:?}", text, ex);
            }
        }

        #[test]
        fn parse_never_panics_on_arbitrary_text(s in any::<String>()) {
            let _ = SearchExpr::parse(&s);
        }

        #[test]
        fn parse_never_panics_on_near_miss_expressions(
            s in r#"([~!&|() "'\\\t]|~[dmuctbhx]|[a-z0-9{}\[\]^$.*+?]){0,24}"#,
        ) {
            match SearchExpr::parse(&s) {
                Ok(_) => {}
                Err(e) => {
                    prop_assert!(e.position <= s.chars().count(), "{:?}: {}", s, e);
                    let _ = e.to_string();
                }
            }
        }
    }
}
