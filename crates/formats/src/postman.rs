//! Postman Collection v2.1 export
//! (<https://schema.getpostman.com/json/collection/v2.1.0/collection.json>).
//!
//! [`collection`] maps exchanges to one collection document; [`write_collection`]
//! streams the same document to a writer, mapping one exchange at a time.
//! Folders follow [`Organize`]: a folder per domain (host, plus `:port` when
//! it is not the scheme's default), per endpoint (the path without the
//! query), or endpoint folders inside domain folders. Folders appear in the
//! order of their first request; requests keep the order they were given in.
//!
//! Choices the format leaves open, in one place:
//!
//! - The collection is written with our own serde types rather than the
//!   `postman_collection` crate: its types hold the whole collection in
//!   memory as owned values, while here each item is built from its exchange
//!   only while it is written, and every field we emit is checked by the
//!   consumer itself (the Postman SDK and `newman` in the tests).
//! - `_postman_id` is a UUID (version 8, RFC 9562) derived from the
//!   collection name and the exchanges, so exporting the same capture twice
//!   gives the same file and Postman offers to replace, not duplicate, it.
//! - Item names are `METHOD /path` (no query: the URL carries it). Without
//!   domain folders the host is part of the name (`GET api.test/v1/items`),
//!   since otherwise two hosts' `/` would read alike.
//! - The URL is given both `raw` (exactly as forwarded) and parsed, cut the
//!   way Postman's own `Url.parse` cuts it; query keys and values stay
//!   percent-encoded as they were sent, so a replay sends the same bytes.
//! - Request bodies are decoded from their `Content-Encoding` (and that
//!   header dropped, since the body no longer is in it). Forms become
//!   `urlencoded` or `formdata` fields (file parts as `type: "file"` with
//!   `src` the file name, which Postman resolves on the replaying machine);
//!   other text is `raw` with a `language` from the content type. A body
//!   Postman cannot hold (binary, undecodable, not kept) is left out and the
//!   request's `description` says why; the HAR export keeps such bodies.
//! - Responses become one saved example each, unless the capture was told to
//!   keep requests only (`--requests-only`). Examples carry the decoded body
//!   when it is text; media bodies, which capture never keeps, are absent.
//! - WebSocket handshakes are left out: a Postman HTTP request cannot
//!   replay them, and `newman run` would fail on the `ws://` URL.

use std::collections::HashMap;
use std::fmt;
use std::io::Write;
use std::str::FromStr;

use interpose_capture::{decode_body, header_value, Body, BodyOmitted, Exchange, Header};
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};
use sha2::{Digest, Sha256};

use crate::content::{is_form_urlencoded, is_hop_by_hop, is_pseudo, language};
use crate::url_parts::UrlParts;
use crate::{multipart, FormatError};

/// The schema URL every v2.1 collection names in `info.schema`.
pub const SCHEMA: &str = "https://schema.getpostman.com/json/collection/v2.1.0/collection.json";

/// How requests are put into folders (`--organize-by`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Organize {
    /// No folders: requests in capture order.
    #[default]
    None,
    /// A folder per domain: host, plus `:port` when not the scheme's default.
    Domain,
    /// A folder per endpoint: the path without the query.
    Endpoint,
    /// Endpoint folders inside domain folders.
    DomainEndpoint,
}

impl Organize {
    fn by_domain(self) -> bool {
        matches!(self, Organize::Domain | Organize::DomainEndpoint)
    }

    fn by_endpoint(self) -> bool {
        matches!(self, Organize::Endpoint | Organize::DomainEndpoint)
    }

    /// The `--organize-by` spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Organize::None => "none",
            Organize::Domain => "domain",
            Organize::Endpoint => "endpoint",
            Organize::DomainEndpoint => "domain,endpoint",
        }
    }
}

impl fmt::Display for Organize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An `--organize-by` value that is not one of the four.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot organize a collection by {0:?}: use domain, endpoint, domain,endpoint or none")]
pub struct UnknownOrganize(pub String);

impl FromStr for Organize {
    type Err = UnknownOrganize;

    /// `none` (or empty), `domain`, `endpoint`, `domain,endpoint`; case and
    /// spaces around the comma do not matter.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let words: Vec<String> = s
            .split(',')
            .map(|w| w.trim().to_ascii_lowercase())
            .collect();
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
        match words.as_slice() {
            [""] | ["none"] => Ok(Organize::None),
            ["domain"] => Ok(Organize::Domain),
            ["endpoint"] => Ok(Organize::Endpoint),
            ["domain", "endpoint"] => Ok(Organize::DomainEndpoint),
            _ => Err(UnknownOrganize(s.to_string())),
        }
    }
}

/// The folder path of `ex` in a collection organized by `organize`,
/// outermost first: `[]`, `["api.test:8080"]`, `["/v1/items"]` or
/// `["api.test:8080", "/v1/items"]`.
pub fn folders(ex: &Exchange, organize: Organize) -> Vec<String> {
    let url = UrlParts::parse(&ex.request.url);
    let mut path = Vec::with_capacity(2);
    if organize.by_domain() {
        path.push(url.domain());
    }
    if organize.by_endpoint() {
        path.push(url.path_or_root().to_string());
    }
    path
}

/// Writes the collection named `name` holding `exchanges` to `out`, as
/// [`collection`] builds it, mapping one exchange at a time. `out` is
/// buffered here and flushed before returning.
pub fn write_collection<W: Write>(
    out: W,
    name: &str,
    exchanges: &[Exchange],
    organize: Organize,
) -> Result<(), FormatError> {
    let mut out = std::io::BufWriter::new(out);
    let doc = Document::new(name, exchanges, organize);
    serde_json::to_writer(&mut out, &doc).map_err(|e| {
        if e.is_io() {
            FormatError::Io(e.into())
        } else {
            FormatError::EncodeCollection(e)
        }
    })?;
    out.write_all(b"\n")?;
    out.flush()?;
    Ok(())
}

/// The collection named `name` holding `exchanges`, as a JSON value.
pub fn collection(name: &str, exchanges: &[Exchange], organize: Organize) -> serde_json::Value {
    serde_json::to_value(Document::new(name, exchanges, organize))
        .expect("a collection is plain strings, numbers and arrays")
}

/// The whole document; items are built while it is serialized.
struct Document<'a> {
    name: &'a str,
    exchanges: &'a [Exchange],
    organize: Organize,
    tree: Vec<Node>,
}

enum Node {
    Folder(Folder),
    /// An index into the exchanges.
    Item(usize),
}

struct Folder {
    name: String,
    nodes: Vec<Node>,
    /// Child folders by name, to their position in `nodes`.
    index: HashMap<String, usize>,
}

impl Folder {
    fn new(name: String) -> Self {
        Folder {
            name,
            nodes: Vec::new(),
            index: HashMap::new(),
        }
    }

    /// The child folder `name`, created (after the existing nodes) if new.
    fn child(&mut self, name: String) -> &mut Folder {
        let pos = match self.index.get(&name) {
            Some(&pos) => pos,
            None => {
                self.nodes.push(Node::Folder(Folder::new(name.clone())));
                self.index.insert(name, self.nodes.len() - 1);
                self.nodes.len() - 1
            }
        };
        match &mut self.nodes[pos] {
            Node::Folder(f) => f,
            Node::Item(_) => unreachable!("the index only points at folders"),
        }
    }
}

impl<'a> Document<'a> {
    fn new(name: &'a str, exchanges: &'a [Exchange], organize: Organize) -> Self {
        let mut root = Folder::new(String::new());
        for (i, ex) in exchanges.iter().enumerate() {
            if ex.websocket {
                continue;
            }
            let mut folder = &mut root;
            for name in folders(ex, organize) {
                folder = folder.child(name);
            }
            folder.nodes.push(Node::Item(i));
        }
        Document {
            name,
            exchanges,
            organize,
            tree: root.nodes,
        }
    }

    fn id(&self) -> String {
        let mut h = Sha256::new();
        h.update(b"interpose postman collection\0");
        h.update(self.name.as_bytes());
        h.update([0]);
        h.update(self.organize.as_str().as_bytes());
        for ex in self.exchanges {
            h.update([0]);
            h.update(ex.id.unwrap_or(-1).to_le_bytes());
            h.update(ex.started_at_us.to_le_bytes());
            h.update(ex.request.method.as_bytes());
            h.update([b' ']);
            h.update(ex.request.url.as_bytes());
        }
        uuid_v8(&h.finalize()[..16])
    }
}

/// Formats 16 bytes as a version 8 (custom) UUID with the RFC variant.
fn uuid_v8(bytes: &[u8]) -> String {
    let mut b = [0u8; 16];
    b.copy_from_slice(bytes);
    b[6] = (b[6] & 0x0f) | 0x80;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

impl Serialize for Document<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(2))?;
        map.serialize_entry(
            "info",
            &Info {
                postman_id: self.id(),
                name: self.name,
                schema: SCHEMA,
            },
        )?;
        map.serialize_entry(
            "item",
            &Nodes {
                nodes: &self.tree,
                doc: self,
            },
        )?;
        map.end()
    }
}

#[derive(Serialize)]
struct Info<'a> {
    #[serde(rename = "_postman_id")]
    postman_id: String,
    name: &'a str,
    schema: &'static str,
}

struct Nodes<'d> {
    nodes: &'d [Node],
    doc: &'d Document<'d>,
}

impl Serialize for Nodes<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.nodes.len()))?;
        for node in self.nodes {
            match node {
                Node::Folder(folder) => seq.serialize_element(&FolderSer {
                    folder,
                    doc: self.doc,
                })?,
                Node::Item(i) => seq.serialize_element(&Item::new(
                    &self.doc.exchanges[*i],
                    !self.doc.organize.by_domain(),
                ))?,
            }
        }
        seq.end()
    }
}

struct FolderSer<'d> {
    folder: &'d Folder,
    doc: &'d Document<'d>,
}

impl Serialize for FolderSer<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(2))?;
        map.serialize_entry("name", &self.folder.name)?;
        map.serialize_entry(
            "item",
            &Nodes {
                nodes: &self.folder.nodes,
                doc: self.doc,
            },
        )?;
        map.end()
    }
}

#[derive(Serialize)]
struct Item {
    name: String,
    request: PmRequest,
    response: Vec<Example>,
}

#[derive(Serialize, Clone)]
struct PmRequest {
    method: String,
    header: Vec<KeyValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<PmBody>,
    url: PmUrl,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
}

#[derive(Serialize, Clone)]
struct KeyValue {
    key: String,
    value: String,
}

#[derive(Serialize, Clone)]
struct PmUrl {
    raw: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    protocol: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    auth: Option<UrlAuth>,
    host: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    port: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    path: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    query: Option<Vec<QueryParam>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    hash: Option<String>,
}

#[derive(Serialize, Clone)]
struct UrlAuth {
    user: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    password: Option<String>,
}

/// `key` is null for an empty segment (`a=1&&b=2`), `value` for a key
/// without `=`; both as Postman's parser gives them.
#[derive(Serialize, Clone)]
struct QueryParam {
    key: Option<String>,
    value: Option<String>,
}

#[derive(Serialize, Clone)]
struct PmBody {
    mode: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    raw: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    urlencoded: Option<Vec<KeyValue>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    formdata: Option<Vec<FormParam>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    options: Option<BodyOptions>,
}

#[derive(Serialize, Clone)]
struct BodyOptions {
    raw: RawOptions,
}

#[derive(Serialize, Clone)]
struct RawOptions {
    language: &'static str,
}

#[derive(Serialize, Clone)]
struct FormParam {
    key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<String>,
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    src: Option<String>,
    #[serde(rename = "contentType", skip_serializing_if = "Option::is_none")]
    content_type: Option<String>,
}

/// A saved response ("example").
#[derive(Serialize)]
struct Example {
    name: String,
    #[serde(rename = "originalRequest")]
    original_request: PmRequest,
    status: String,
    code: u16,
    #[serde(rename = "_postman_previewlanguage")]
    preview_language: &'static str,
    header: Vec<KeyValue>,
    cookie: Vec<()>,
    body: Option<String>,
}

impl Item {
    fn new(ex: &Exchange, host_in_name: bool) -> Self {
        let url = UrlParts::parse(&ex.request.url);
        let name = if host_in_name {
            format!(
                "{} {}{}",
                ex.request.method,
                url.domain(),
                url.path_or_root()
            )
        } else {
            format!("{} {}", ex.request.method, url.path_or_root())
        };
        let request = PmRequest::new(ex);
        let response = example(ex, &request).into_iter().collect();
        Item {
            name,
            request,
            response,
        }
    }
}

impl PmRequest {
    fn new(ex: &Exchange) -> Self {
        let req = &ex.request;
        let content_type = header_value(&req.headers, "content-type");
        let body = request_body(&req.body, content_type);
        let header = req
            .headers
            .iter()
            .filter(|h| keep_request_header(h, &body))
            .map(|h| KeyValue {
                key: h.name.clone(),
                value: h.value.clone(),
            })
            .collect();
        PmRequest {
            method: req.method.clone(),
            header,
            body: body.body,
            url: PmUrl::new(&req.url),
            description: (!body.notes.is_empty()).then(|| body.notes.join("\n\n")),
        }
    }
}

/// Which captured request headers the collection keeps.
fn keep_request_header(h: &Header, body: &RequestBody) -> bool {
    let name = h.name.as_str();
    // Postman computes Host from the URL and Content-Length from the body
    // when it sends. A copied Host would pin the request to the captured
    // server even after the URL (or an environment variable in it) is
    // changed, and a copied Content-Length goes stale as soon as the body is
    // edited; both would then be sent wrong.
    if name.eq_ignore_ascii_case("host") || name.eq_ignore_ascii_case("content-length") {
        return false;
    }
    // Connection-level headers belong to the captured connection, and
    // pseudo-headers are the request line again.
    if is_hop_by_hop(name) || is_pseudo(name) {
        return false;
    }
    // Postman writes a form-data body with a boundary of its own; the
    // captured boundary would no longer match it. (newman's runtime replaces
    // the header anyway; a client that sends headers as listed would not.)
    if body.formdata && name.eq_ignore_ascii_case("content-type") {
        return false;
    }
    // The body here is decoded, so it is no longer in that encoding.
    if body.decoded && name.eq_ignore_ascii_case("content-encoding") {
        return false;
    }
    true
}

impl PmUrl {
    /// The parts as Postman's `Url.parse` gives them for the same text.
    fn new(raw: &str) -> Self {
        let u = UrlParts::parse(raw);
        let host = if u.host.starts_with('[') {
            vec![u.host.to_string()]
        } else {
            u.host.split('.').map(str::to_string).collect()
        };
        let path = match u.path {
            "" => None,
            p => Some(p[1..].split('/').map(str::to_string).collect()),
        };
        let query = u.query.map(|q| {
            q.split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((k, v)) => QueryParam {
                        key: Some(k.to_string()),
                        value: Some(v.to_string()),
                    },
                    None => QueryParam {
                        key: (!pair.is_empty() || q.is_empty()).then(|| pair.to_string()),
                        value: None,
                    },
                })
                .collect()
        });
        PmUrl {
            raw: raw.to_string(),
            protocol: (!u.scheme.is_empty()).then(|| u.scheme.to_string()),
            auth: u.userinfo.map(|info| match info.split_once(':') {
                Some((user, password)) => UrlAuth {
                    user: user.to_string(),
                    password: Some(password.to_string()),
                },
                None => UrlAuth {
                    user: info.to_string(),
                    password: None,
                },
            }),
            host,
            port: u.port.map(str::to_string),
            path,
            query,
            hash: u.fragment.map(str::to_string),
        }
    }
}

/// A request body as the collection holds it.
struct RequestBody {
    body: Option<PmBody>,
    /// Undone from a `Content-Encoding`.
    decoded: bool,
    formdata: bool,
    /// What the collection could not keep, for the request's description.
    notes: Vec<String>,
}

fn request_body(body: &Body, content_type: Option<&str>) -> RequestBody {
    let mut out = RequestBody {
        body: None,
        decoded: false,
        formdata: false,
        notes: Vec::new(),
    };
    if body.size == 0 && body.bytes.is_empty() && body.omitted.is_none() {
        return out;
    }
    if let Some(omitted) = body.omitted {
        out.notes.push(format!(
            "The request body ({} bytes) was not kept by interpose ({}), so it is not here.",
            body.size,
            omitted.as_str()
        ));
        return out;
    }
    let bytes = match decode_body(&body.bytes, body.encoding.as_deref()) {
        Ok(bytes) => {
            out.decoded = body.encoding.is_some();
            bytes
        }
        Err(e) => {
            out.notes.push(format!(
                "The request body ({} bytes) is not here: {e}. The HAR export keeps it as sent.",
                body.size
            ));
            return out;
        }
    };
    if body.truncated {
        out.notes.push(format!(
            "The request body was truncated by interpose: only the first {} of {} bytes sent \
             were kept, and only they are here.",
            body.bytes.len(),
            body.size
        ));
    }
    if !body.truncated {
        if let Some(form) = content_type
            .and_then(multipart::boundary)
            .and_then(|b| form_data(&bytes, &b, &mut out.notes))
        {
            out.formdata = true;
            out.body = Some(PmBody {
                mode: "formdata",
                raw: None,
                urlencoded: None,
                formdata: Some(form),
                options: None,
            });
            return out;
        }
    }
    let Ok(text) = String::from_utf8(bytes) else {
        out.notes.push(format!(
            "The request body is binary ({} bytes); Postman keeps request bodies as text, \
             so it is not here. The HAR export keeps it (base64).",
            body.size
        ));
        return out;
    };
    out.body = Some(if is_form_urlencoded(content_type) {
        PmBody {
            mode: "urlencoded",
            raw: None,
            urlencoded: Some(
                url::form_urlencoded::parse(text.as_bytes())
                    .map(|(k, v)| KeyValue {
                        key: k.into_owned(),
                        value: v.into_owned(),
                    })
                    .collect(),
            ),
            formdata: None,
            options: None,
        }
    } else {
        PmBody {
            mode: "raw",
            raw: Some(text),
            urlencoded: None,
            formdata: None,
            options: Some(BodyOptions {
                raw: RawOptions {
                    language: language(content_type),
                },
            }),
        }
    });
    out
}

/// Form-data fields, or `None` when the body is not a well-formed form.
fn form_data(bytes: &[u8], boundary: &str, notes: &mut Vec<String>) -> Option<Vec<FormParam>> {
    let parts = multipart::parse(bytes, boundary)?;
    let fields = parts
        .into_iter()
        .map(
            |part| match (part.filename, String::from_utf8(part.data.to_vec())) {
                (None, Ok(value)) => FormParam {
                    key: part.name,
                    value: Some(value),
                    kind: "text",
                    src: None,
                    content_type: part
                        .content_type
                        .filter(|ct| !ct.eq_ignore_ascii_case("text/plain")),
                },
                (filename, _) => {
                    notes.push(format!(
                    "Form field \"{}\" was a file{} of {} bytes; choose the file again to send it.",
                    part.name,
                    filename
                        .as_deref()
                        .map(|f| format!(" ({f})"))
                        .unwrap_or_default(),
                    part.data.len()
                ));
                    FormParam {
                        key: part.name,
                        value: None,
                        kind: "file",
                        src: filename.filter(|f| !f.is_empty()),
                        content_type: part.content_type,
                    }
                }
            },
        )
        .collect();
    Some(fields)
}

/// The saved example for `ex`'s response, when one was kept.
fn example(ex: &Exchange, request: &PmRequest) -> Option<Example> {
    let resp = ex.response.as_ref()?;
    if resp.body.omitted == Some(BodyOmitted::Policy) {
        // `--requests-only`: the user asked not to keep responses.
        return None;
    }
    let content_type = header_value(&resp.headers, "content-type");
    let status = if resp.reason.is_empty() {
        http::StatusCode::from_u16(resp.status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("")
            .to_string()
    } else {
        resp.reason.clone()
    };
    let body = match resp.body.omitted {
        Some(_) => None,
        None => decode_body(&resp.body.bytes, resp.body.encoding.as_deref())
            .ok()
            .and_then(|b| String::from_utf8(b).ok()),
    };
    Some(Example {
        name: format!("{} {}", resp.status, status).trim_end().to_string(),
        original_request: request.clone(),
        status,
        code: resp.status,
        preview_language: language(content_type),
        // Kept as received, Content-Encoding included, as Postman itself
        // saves examples: the headers say what came, the body is readable.
        header: resp
            .headers
            .iter()
            .filter(|h| !is_pseudo(&h.name))
            .map(|h| KeyValue {
                key: h.name.clone(),
                value: h.value.clone(),
            })
            .collect(),
        cookie: Vec::new(),
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn organize_parses_the_cli_spellings_and_names_the_valid_ones_otherwise() {
        assert_eq!("domain".parse(), Ok(Organize::Domain));
        assert_eq!("Endpoint".parse(), Ok(Organize::Endpoint));
        assert_eq!("domain, endpoint".parse(), Ok(Organize::DomainEndpoint));
        assert_eq!("none".parse(), Ok(Organize::None));
        let err = "endpoint,domain".parse::<Organize>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot organize a collection by \"endpoint,domain\": \
             use domain, endpoint, domain,endpoint or none"
        );
        for o in [
            Organize::None,
            Organize::Domain,
            Organize::Endpoint,
            Organize::DomainEndpoint,
        ] {
            assert_eq!(o.to_string().parse(), Ok(o));
        }
    }

    #[test]
    fn ids_are_version_8_uuids() {
        let id = uuid_v8(&[0xff; 16]);
        assert_eq!(id, "ffffffff-ffff-8fff-bfff-ffffffffffff");
    }
}
