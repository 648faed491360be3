//! Turning exchanges into rows and back. The only place that knows the
//! column layout of `exchanges` and `bodies`.

use std::path::Path;

use interpose_capture::{Body, BodyOmitted, Exchange, Header, Request, Response, Timings};
use rusqlite::{params, Row, Transaction};

use crate::{ExchangeSummary, StoreError};

const INSERT_EXCHANGE: &str = "INSERT INTO exchanges (
    session_id, started_at_us, client_addr, method, url, host, path,
    request_http_version, request_headers, request_body_size,
    request_body_truncated, request_body_omitted, request_body_encoding,
    status, reason, response_http_version, response_headers,
    response_body_size, response_body_truncated, response_body_omitted,
    response_body_encoding, content_type,
    timing_connect, timing_tls, timing_send, timing_wait, timing_receive,
    error, rules, route, websocket
) VALUES (
    ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,
    ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30, ?31
)";

/// The body goes in as `zeroblob(len)` and is then written through
/// incremental blob I/O ([`insert_body`]).
const INSERT_BODY: &str =
    "INSERT INTO bodies (exchange_id, part, bytes) VALUES (?1, ?2, zeroblob(?3))";

/// Small bodies are bound as a parameter: the extra copy is cheap, and
/// opening a blob handle per body cost more than the write itself.
const INSERT_SMALL_BODY: &str = "INSERT INTO bodies (exchange_id, part, bytes) VALUES (?1, ?2, ?3)";
/// Up to this size a body is bound directly.
const INLINE_BODY: usize = 64 * 1024;

const REQUEST_PART: i64 = 0;
const RESPONSE_PART: i64 = 1;

/// Columns of a summary, in the order [`summary_from_row`] reads them.
pub(crate) const SUMMARY_COLUMNS: &str = "id, session_id, started_at_us, method, url, status,
    response_body_size, request_body_size,
    timing_connect, timing_tls, timing_send, timing_wait, timing_receive,
    error, websocket, content_type";

/// Columns of a full exchange, in the order [`exchange_from_row`] reads them.
/// Selects from `exchanges e`.
pub(crate) const EXCHANGE_COLUMNS: &str = "e.id, e.session_id, e.started_at_us, e.client_addr,
    e.method, e.url, e.request_http_version, e.request_headers,
    e.request_body_size, e.request_body_truncated, e.request_body_omitted,
    e.request_body_encoding,
    e.status, e.reason, e.response_http_version, e.response_headers,
    e.response_body_size, e.response_body_truncated, e.response_body_omitted,
    e.response_body_encoding,
    e.timing_connect, e.timing_tls, e.timing_send, e.timing_wait, e.timing_receive,
    e.error, e.rules, e.route, e.websocket,
    (SELECT bytes FROM bodies WHERE exchange_id = e.id AND part = 0),
    (SELECT bytes FROM bodies WHERE exchange_id = e.id AND part = 1)";

/// [`EXCHANGE_COLUMNS`] with the two body columns `NULL`: everything but
/// the bytes of the bodies.
pub(crate) const EXCHANGE_COLUMNS_WITHOUT_BODIES: &str =
    "e.id, e.session_id, e.started_at_us, e.client_addr,
    e.method, e.url, e.request_http_version, e.request_headers,
    e.request_body_size, e.request_body_truncated, e.request_body_omitted,
    e.request_body_encoding,
    e.status, e.reason, e.response_http_version, e.response_headers,
    e.response_body_size, e.response_body_truncated, e.response_body_omitted,
    e.response_body_encoding,
    e.timing_connect, e.timing_tls, e.timing_send, e.timing_wait, e.timing_receive,
    e.error, e.rules, e.route, e.websocket,
    NULL, NULL";

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn to_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

fn headers_json(headers: &[Header]) -> String {
    let pairs: Vec<[&str; 2]> = headers
        .iter()
        .map(|h| [h.name.as_str(), h.value.as_str()])
        .collect();
    serde_json::to_string(&pairs).expect("string pairs always serialize")
}

/// The URL path without its query, `/` when empty.
fn path_only(exchange: &Exchange) -> &str {
    let pq = exchange.path_and_query();
    let end = pq.find(['?', '#']).unwrap_or(pq.len());
    match &pq[..end] {
        "" => "/",
        p => p,
    }
}

/// Inserts the exchanges in `tx` (the caller commits) and sets their ids.
pub(crate) fn insert_all<'a>(
    tx: &Transaction<'_>,
    exchanges: impl IntoIterator<Item = &'a mut Exchange>,
) -> rusqlite::Result<()> {
    let mut insert = tx.prepare_cached(INSERT_EXCHANGE)?;
    let mut body = tx.prepare_cached(INSERT_BODY)?;
    let mut small_body = tx.prepare_cached(INSERT_SMALL_BODY)?;
    for e in exchanges {
        let resp = e.response.as_ref();
        let rules = serde_json::to_string(&e.rules).expect("strings always serialize");
        let content_type = e.response_content_type().filter(|c| !c.is_empty());
        let req = &e.request;
        insert.execute(params![
            e.session_id,
            e.started_at_us,
            e.client_addr,
            req.method,
            req.url,
            e.host().to_ascii_lowercase(),
            path_only(e),
            req.http_version,
            headers_json(&req.headers),
            to_i64(req.body.size),
            req.body.truncated,
            req.body.omitted.map(BodyOmitted::as_str),
            req.body.encoding,
            resp.map(|r| r.status),
            resp.map(|r| r.reason.as_str()),
            resp.map(|r| r.http_version.as_str()),
            resp.map(|r| headers_json(&r.headers)),
            resp.map(|r| to_i64(r.body.size)),
            resp.map(|r| r.body.truncated),
            resp.and_then(|r| r.body.omitted.map(BodyOmitted::as_str)),
            resp.and_then(|r| r.body.encoding.as_deref()),
            content_type,
            e.timings.connect,
            e.timings.tls,
            e.timings.send,
            e.timings.wait,
            e.timings.receive,
            e.error,
            rules,
            e.route,
            e.websocket,
        ])?;
        let id = tx.last_insert_rowid();
        if !req.body.bytes.is_empty() {
            insert_body(
                tx,
                &mut body,
                &mut small_body,
                id,
                REQUEST_PART,
                &req.body.bytes,
            )?;
        }
        if let Some(r) = resp.filter(|r| !r.body.bytes.is_empty()) {
            insert_body(
                tx,
                &mut body,
                &mut small_body,
                id,
                RESPONSE_PART,
                &r.body.bytes,
            )?;
        }
        e.id = Some(id);
    }
    Ok(())
}

/// Inserts a zero-filled blob of the body's length, then writes the bytes
/// into it in place. Binding the bytes as a parameter instead makes SQLite
/// copy them twice (the bound value, then the record it builds), so a body
/// at the 16 MiB cap briefly cost 32 MiB more; this way the pages go
/// through the page cache and memory stays flat.
fn insert_body(
    tx: &Transaction<'_>,
    insert: &mut rusqlite::CachedStatement<'_>,
    insert_small: &mut rusqlite::CachedStatement<'_>,
    exchange_id: i64,
    part: i64,
    bytes: &[u8],
) -> rusqlite::Result<()> {
    if bytes.len() <= INLINE_BODY {
        insert_small.execute(params![exchange_id, part, bytes])?;
        return Ok(());
    }
    let len = i64::try_from(bytes.len()).map_err(|_| rusqlite::Error::BlobSizeError)?;
    insert.execute(params![exchange_id, part, len])?;
    let rowid = tx.last_insert_rowid();
    let mut blob = tx.blob_open(rusqlite::MAIN_DB, c"bodies", c"bytes", rowid, false)?;
    blob.write_at(bytes, 0)
}

fn timings_at(row: &Row<'_>, first: usize) -> rusqlite::Result<Timings> {
    Ok(Timings {
        connect: row.get(first)?,
        tls: row.get(first + 1)?,
        send: row.get(first + 2)?,
        wait: row.get(first + 3)?,
        receive: row.get(first + 4)?,
    })
}

pub(crate) fn summary_from_row(row: &Row<'_>) -> rusqlite::Result<ExchangeSummary> {
    Ok(ExchangeSummary {
        id: row.get(0)?,
        session_id: row.get(1)?,
        started_at_us: row.get(2)?,
        method: row.get(3)?,
        url: row.get(4)?,
        status: row.get(5)?,
        response_size: to_u64(row.get::<_, Option<i64>>(6)?.unwrap_or(0)),
        request_size: to_u64(row.get(7)?),
        duration_ms: timings_at(row, 8)?.total(),
        error: row.get(13)?,
        websocket: row.get(14)?,
        content_type: row.get(15)?,
    })
}

/// A row as read, before the JSON columns are parsed (which can fail in
/// ways that are not SQLite errors).
pub(crate) struct RawExchange {
    id: i64,
    exchange: Exchange,
    request_headers: String,
    request_omitted: Option<String>,
    response_headers: Option<String>,
    response_omitted: Option<String>,
    rules: String,
}

pub(crate) fn exchange_from_row(row: &Row<'_>) -> rusqlite::Result<RawExchange> {
    let id: i64 = row.get(0)?;
    let request = Request {
        method: row.get(4)?,
        url: row.get(5)?,
        http_version: row.get(6)?,
        headers: Vec::new(),
        body: Body {
            bytes: row.get::<_, Option<Vec<u8>>>(29)?.unwrap_or_default(),
            size: to_u64(row.get(8)?),
            truncated: row.get(9)?,
            omitted: None,
            encoding: row.get(11)?,
        },
    };
    let status: Option<u16> = row.get(12)?;
    let response = match status {
        None => None,
        Some(status) => Some(Response {
            status,
            reason: row.get::<_, Option<String>>(13)?.unwrap_or_default(),
            http_version: row.get::<_, Option<String>>(14)?.unwrap_or_default(),
            headers: Vec::new(),
            body: Body {
                bytes: row.get::<_, Option<Vec<u8>>>(30)?.unwrap_or_default(),
                size: to_u64(row.get::<_, Option<i64>>(16)?.unwrap_or(0)),
                truncated: row.get::<_, Option<bool>>(17)?.unwrap_or(false),
                omitted: None,
                encoding: row.get(19)?,
            },
        }),
    };
    Ok(RawExchange {
        id,
        request_headers: row.get(7)?,
        request_omitted: row.get(10)?,
        response_headers: row.get(15)?,
        response_omitted: row.get(18)?,
        rules: row.get(26)?,
        exchange: Exchange {
            id: Some(id),
            session_id: row.get(1)?,
            client_addr: row.get(3)?,
            started_at_us: row.get(2)?,
            timings: timings_at(row, 20)?,
            request,
            response,
            error: row.get(25)?,
            rules: Vec::new(),
            route: row.get(27)?,
            websocket: row.get(28)?,
        },
    })
}

impl RawExchange {
    /// Parses the JSON and enumerated columns into the exchange.
    pub(crate) fn finish(self, path: &Path) -> Result<Exchange, StoreError> {
        let corrupt = |reason: String| StoreError::Corrupt {
            path: path.to_path_buf(),
            id: self.id,
            reason,
        };
        let mut exchange = self.exchange;
        exchange.request.headers = parse_headers(&self.request_headers)
            .map_err(|e| corrupt(format!("request headers: {e}")))?;
        exchange.request.body.omitted = parse_omitted(self.request_omitted.as_deref())
            .map_err(|e| corrupt(format!("request body: {e}")))?;
        if let Some(resp) = exchange.response.as_mut() {
            resp.headers = match self.response_headers.as_deref() {
                Some(json) => {
                    parse_headers(json).map_err(|e| corrupt(format!("response headers: {e}")))?
                }
                None => Vec::new(),
            };
            resp.body.omitted = parse_omitted(self.response_omitted.as_deref())
                .map_err(|e| corrupt(format!("response body: {e}")))?;
        }
        exchange.rules =
            serde_json::from_str(&self.rules).map_err(|e| corrupt(format!("rules: {e}")))?;
        Ok(exchange)
    }
}

fn parse_headers(json: &str) -> Result<Vec<Header>, serde_json::Error> {
    let pairs: Vec<(String, String)> = serde_json::from_str(json)?;
    Ok(pairs
        .into_iter()
        .map(|(name, value)| Header { name, value })
        .collect())
}

fn parse_omitted(value: Option<&str>) -> Result<Option<BodyOmitted>, String> {
    match value {
        None => Ok(None),
        Some(s) => BodyOmitted::parse(s)
            .map(Some)
            .ok_or_else(|| format!("unknown omission reason '{s}'")),
    }
}
