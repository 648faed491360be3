//! What to send: [`SendRequest`] as the `send` command fills it from its
//! flags, and the helpers that turn curl-style arguments into it (`-H`,
//! `-d`, `-F`, `--json`, `--basic`, `--bearer`).

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use interpose_route::Flags;

use crate::error::SendError;

/// Redirects followed at most, with [`SendRequest::follow_redirects`].
pub const MAX_REDIRECTS: usize = 10;

/// One request to send, with everything that decides how.
#[derive(Clone, Debug, Default)]
pub struct SendRequest {
    /// `None`: `GET`, or `POST` when there is a body (as curl does).
    pub method: Option<String>,
    /// `http://` or `https://`; a URL without a scheme gets `http://`, as in
    /// curl. Credentials in it (`user:pass@`) become Basic auth.
    pub url: String,
    /// Sent in this order, as given: any header, including those browsers
    /// forbid (`Cookie`, `Host`, `Origin`, `Referer`, `User-Agent`). A
    /// `Content-Length` that does not match the body is refused.
    pub headers: Vec<(String, String)>,
    pub body: RequestBody,
    /// `--basic U:P` / `--bearer TOKEN`; an `Authorization` header given in
    /// `headers` wins.
    pub auth: Option<Auth>,
    /// A `Cookie` header value from the cookie jar (`--cookies`); a
    /// `Cookie` header given in `headers` wins. Dropped when a redirect
    /// leaves the host.
    pub cookies: Option<String>,
    /// Limit on the whole exchange, connect to last body byte (`--timeout`).
    pub timeout: Option<Duration>,
    /// Follow redirects (`--follow`), at most [`MAX_REDIRECTS`].
    pub follow_redirects: bool,
    /// Do not check the target's certificate (`--insecure`).
    pub insecure: bool,
    /// PEM files of extra trusted roots (`--upstream-ca`).
    pub extra_roots: Vec<PathBuf>,
    /// `--proxy`, `--proxy-user`, `--proxy-bypass`, `--no-proxy`,
    /// `--no-system-proxy`.
    pub flags: Flags,
}

impl SendRequest {
    /// A `GET` (or, with a body, `POST`) of `url` with nothing else set.
    pub fn new(url: impl Into<String>) -> SendRequest {
        SendRequest {
            url: url.into(),
            ..SendRequest::default()
        }
    }

    /// `-H 'Name: value'`.
    pub fn header(mut self, line: &str) -> Result<SendRequest, SendError> {
        self.headers.push(parse_header(line)?);
        Ok(self)
    }

    /// `--json BODY` (curl's): the body as given, plus `Content-Type:
    /// application/json` and `Accept: application/json` unless set.
    pub fn json(mut self, body: impl Into<String>) -> SendRequest {
        self.body = RequestBody::Bytes(Bytes::from(body.into()));
        for (name, value) in [
            ("Content-Type", "application/json"),
            ("Accept", "application/json"),
        ] {
            if header_of(&self.headers, name).is_none() {
                self.headers.push((name.to_owned(), value.to_owned()));
            }
        }
        self
    }
}

/// A request body.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum RequestBody {
    #[default]
    None,
    Bytes(Bytes),
    /// Read when sent (`-d @FILE`).
    File(PathBuf),
    /// `multipart/form-data` (`-F`).
    Form(Vec<FormPart>),
}

impl RequestBody {
    /// curl's `-d`: `@FILE` is the file's contents, anything else the
    /// text itself.
    pub fn data(arg: &str) -> RequestBody {
        match arg.strip_prefix('@') {
            Some(path) => RequestBody::File(PathBuf::from(path)),
            None => RequestBody::Bytes(Bytes::from(arg.to_owned())),
        }
    }

    pub fn is_none(&self) -> bool {
        matches!(self, RequestBody::None)
    }
}

/// One `-F` field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FormPart {
    /// `name=value`
    Text { name: String, value: String },
    /// `name=@path[;type=TYPE][;filename=NAME]`
    File {
        name: String,
        path: PathBuf,
        content_type: Option<String>,
        filename: Option<String>,
    },
}

impl FormPart {
    /// Parses curl's `-F` syntax: `name=value`, or `name=@path` with
    /// optional `;type=` and `;filename=`.
    pub fn parse(spec: &str) -> Result<FormPart, SendError> {
        let bad = |problem: &str| SendError::BadForm {
            spec: spec.to_owned(),
            problem: problem.to_owned(),
        };
        let (name, value) = spec.split_once('=').ok_or_else(|| bad("it has no ="))?;
        if name.is_empty() {
            return Err(bad("the field name is empty"));
        }
        let Some(file) = value.strip_prefix('@') else {
            return Ok(FormPart::Text {
                name: name.to_owned(),
                value: value.to_owned(),
            });
        };
        let mut pieces = file.split(';');
        let path = pieces.next().unwrap_or_default();
        if path.is_empty() {
            return Err(bad("the file name after @ is empty"));
        }
        let (mut content_type, mut filename) = (None, None);
        for piece in pieces {
            match piece.split_once('=') {
                Some(("type", t)) => content_type = Some(t.to_owned()),
                Some(("filename", f)) => filename = Some(f.to_owned()),
                _ => return Err(bad("only ;type= and ;filename= may follow the file")),
            }
        }
        Ok(FormPart::File {
            name: name.to_owned(),
            path: PathBuf::from(path),
            content_type,
            filename,
        })
    }
}

/// `--basic` or `--bearer`.
#[derive(Clone, PartialEq, Eq)]
pub enum Auth {
    Basic { user: String, password: String },
    Bearer(String),
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::Basic { user, .. } => write!(f, "Auth::Basic({user}:***)"),
            Auth::Bearer(_) => f.write_str("Auth::Bearer(***)"),
        }
    }
}

impl Auth {
    /// `--basic USER:PASSWORD` (no colon: an empty password).
    pub fn basic(arg: &str) -> Auth {
        let (user, password) = arg.split_once(':').unwrap_or((arg, ""));
        Auth::Basic {
            user: user.to_owned(),
            password: password.to_owned(),
        }
    }

    /// The `Authorization` header value.
    pub fn header_value(&self) -> String {
        match self {
            Auth::Basic { user, password } => format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
            ),
            Auth::Bearer(token) => format!("Bearer {token}"),
        }
    }
}

/// `Name: value` → `(Name, value)`; the value trimmed, the name checked.
pub fn parse_header(line: &str) -> Result<(String, String), SendError> {
    let bad = |problem: &str| SendError::BadHeader {
        header: line.to_owned(),
        problem: problem.to_owned(),
    };
    let (name, value) = line.split_once(':').ok_or_else(|| bad("it has no colon"))?;
    let name = name.trim();
    if name.is_empty() {
        return Err(bad("the name is empty"));
    }
    http::HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| bad("the name has characters a header name cannot"))?;
    let value = value.trim();
    http::HeaderValue::from_str(value).map_err(|_| bad("the value has control characters"))?;
    Ok((name.to_owned(), value.to_owned()))
}

/// The first value of `name` (any case).
pub(crate) fn header_of<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// A body ready to send: its bytes and, for forms, its content type.
pub(crate) struct BuiltBody {
    pub bytes: Bytes,
    pub content_type: Option<String>,
}

pub(crate) async fn build_body(body: &RequestBody) -> Result<Option<BuiltBody>, SendError> {
    Ok(match body {
        RequestBody::None => None,
        RequestBody::Bytes(bytes) => Some(BuiltBody {
            bytes: bytes.clone(),
            content_type: None,
        }),
        RequestBody::File(path) => Some(BuiltBody {
            bytes: read(path, "body file").await?,
            content_type: None,
        }),
        RequestBody::Form(parts) => {
            let boundary = boundary();
            let bytes = multipart(parts, &boundary).await?;
            Some(BuiltBody {
                bytes,
                content_type: Some(format!("multipart/form-data; boundary={boundary}")),
            })
        }
    })
}

async fn read(path: &Path, what: &'static str) -> Result<Bytes, SendError> {
    tokio::fs::read(path)
        .await
        .map(Bytes::from)
        .map_err(|source| SendError::ReadFile {
            what,
            path: path.to_owned(),
            source,
        })
}

/// A boundary no body is likely to contain: fixed dashes and 32 random
/// hex digits (std's per-process random hasher keys, no extra crate).
fn boundary() -> String {
    let a = RandomState::new().hash_one(std::time::SystemTime::now());
    let b = RandomState::new().hash_one(a);
    format!("------------------------interpose{a:016x}{b:016x}")
}

/// RFC 7578 `multipart/form-data`. Quotes and line breaks in names are
/// percent-encoded, as browsers do.
async fn multipart(parts: &[FormPart], boundary: &str) -> Result<Bytes, SendError> {
    let mut out = Vec::new();
    for part in parts {
        out.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        match part {
            FormPart::Text { name, value } => {
                out.extend_from_slice(
                    format!(
                        "Content-Disposition: form-data; name=\"{}\"\r\n\r\n",
                        escape(name)
                    )
                    .as_bytes(),
                );
                out.extend_from_slice(value.as_bytes());
            }
            FormPart::File {
                name,
                path,
                content_type,
                filename,
            } => {
                let data = read(path, "form file").await?;
                let filename = filename.clone().unwrap_or_else(|| {
                    path.file_name()
                        .map(|f| f.to_string_lossy().into_owned())
                        .unwrap_or_default()
                });
                let content_type = content_type
                    .clone()
                    .unwrap_or_else(|| guess_type(path).to_owned());
                out.extend_from_slice(
                    format!(
                        "Content-Disposition: form-data; name=\"{}\"; filename=\"{}\"\r\n\
                         Content-Type: {content_type}\r\n\r\n",
                        escape(name),
                        escape(&filename)
                    )
                    .as_bytes(),
                );
                out.extend_from_slice(&data);
            }
        }
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    Ok(Bytes::from(out))
}

fn escape(s: &str) -> String {
    s.replace('"', "%22")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A content type from the file's extension, as curl guesses it.
fn guess_type(path: &Path) -> &'static str {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "txt" => "text/plain",
        "html" | "htm" => "text/html",
        "css" => "text/css",
        "csv" => "text/csv",
        "json" => "application/json",
        "xml" => "application/xml",
        "js" => "application/javascript",
        "pdf" => "application/pdf",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "svg" => "image/svg+xml",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_parse_and_bad_ones_say_why() {
        assert_eq!(
            parse_header("X-Thing:  a b ").unwrap(),
            ("X-Thing".to_owned(), "a b".to_owned())
        );
        assert_eq!(parse_header("Cookie: a=1; b=2").unwrap().1, "a=1; b=2");
        let err = parse_header("no colon here").unwrap_err().to_string();
        assert!(err.contains("has no colon"), "{err}");
        let err = parse_header("Bad Name: x").unwrap_err().to_string();
        assert!(err.contains("name has characters"), "{err}");
    }

    #[test]
    fn form_fields_follow_curl_syntax() {
        assert_eq!(
            FormPart::parse("name=a=b").unwrap(),
            FormPart::Text {
                name: "name".into(),
                value: "a=b".into()
            }
        );
        assert_eq!(
            FormPart::parse("file=@dir/a.txt;type=text/x-note;filename=b.txt").unwrap(),
            FormPart::File {
                name: "file".into(),
                path: PathBuf::from("dir/a.txt"),
                content_type: Some("text/x-note".into()),
                filename: Some("b.txt".into()),
            }
        );
        assert!(FormPart::parse("novalue").is_err());
        assert!(FormPart::parse("=x").is_err());
        assert!(FormPart::parse("f=@").is_err());
    }

    #[test]
    fn data_at_means_a_file() {
        assert_eq!(
            RequestBody::data("@x.json"),
            RequestBody::File("x.json".into())
        );
        assert_eq!(
            RequestBody::data("a=1"),
            RequestBody::Bytes(Bytes::from_static(b"a=1"))
        );
    }

    #[test]
    fn json_sets_content_type_and_accept_unless_given() {
        let req = SendRequest::new("http://x/").json("{}");
        assert_eq!(
            header_of(&req.headers, "content-type"),
            Some("application/json")
        );
        assert_eq!(header_of(&req.headers, "accept"), Some("application/json"));
        let req = SendRequest::new("http://x/")
            .header("Content-Type: application/vnd.api+json")
            .unwrap()
            .json("{}");
        assert_eq!(
            header_of(&req.headers, "content-type"),
            Some("application/vnd.api+json")
        );
    }

    #[test]
    fn auth_helpers_make_authorization_values() {
        assert_eq!(Auth::basic("al:p@ss").header_value(), "Basic YWw6cEBzcw==");
        assert_eq!(Auth::Bearer("t0k".into()).header_value(), "Bearer t0k");
        assert!(!format!("{:?}", Auth::basic("al:secret")).contains("secret"));
    }

    #[test]
    fn boundaries_differ() {
        assert_ne!(boundary(), boundary());
    }
}
