//! Opening a connection the same way everywhere, and the schema migrations.
//!
//! The schema version is `PRAGMA user_version`: the number of entries of
//! [`MIGRATIONS`] applied. Each migration runs in its own `IMMEDIATE`
//! transaction together with the `user_version` bump, so a crash or a
//! failure leaves the store at the previous version, never half-way. To change
//! the schema, append a step; never edit one that has shipped.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, TransactionBehavior};

use crate::StoreError;

/// Version 1: sessions, exchanges (metadata, one row each) and their bodies
/// (kept apart so that listing never reads past large blobs).
///
/// `exchanges.session_id` is deliberately not a foreign key: a record must
/// never be refused because its session row is missing (e.g. after
/// `history clear` during a capture). `bodies` is owned by its exchange.
/// Later tables (collections, cookies) reference `exchanges(id)` the same way
/// `bodies` does.
const V1: &str = r#"
CREATE TABLE sessions (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at_us INTEGER NOT NULL,
    ended_at_us   INTEGER,
    source        TEXT    NOT NULL,
    detail        TEXT    NOT NULL,
    dropped       INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE exchanges (
    id                      INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id              INTEGER NOT NULL,
    started_at_us           INTEGER NOT NULL,
    client_addr             TEXT    NOT NULL,
    method                  TEXT    NOT NULL,
    url                     TEXT    NOT NULL,
    -- lower-case, without port; IPv6 keeps its brackets
    host                    TEXT    NOT NULL,
    -- the URL path without the query
    path                    TEXT    NOT NULL,
    request_http_version    TEXT    NOT NULL,
    -- JSON array of [name, value], in order, duplicates kept
    request_headers         TEXT    NOT NULL,
    request_body_size       INTEGER NOT NULL,
    request_body_truncated  INTEGER NOT NULL,
    request_body_omitted    TEXT,
    request_body_encoding   TEXT,
    -- NULL status: no response (see error)
    status                  INTEGER,
    reason                  TEXT,
    response_http_version   TEXT,
    response_headers        TEXT,
    response_body_size      INTEGER,
    response_body_truncated INTEGER,
    response_body_omitted   TEXT,
    response_body_encoding  TEXT,
    -- response content type without parameters, lower-case
    content_type            TEXT,
    -- milliseconds; NULL when the phase did not happen
    timing_connect          REAL,
    timing_tls              REAL,
    timing_send             REAL,
    timing_wait             REAL,
    timing_receive          REAL,
    error                   TEXT,
    -- JSON array of rule names
    rules                   TEXT    NOT NULL,
    route                   TEXT,
    websocket               INTEGER NOT NULL
);

CREATE INDEX exchanges_session_id ON exchanges (session_id);

-- The bytes kept of each body, exactly as sent (still content-encoded).
-- part 0 is the request body, 1 the response body; no row means no bytes.
CREATE TABLE bodies (
    exchange_id INTEGER NOT NULL REFERENCES exchanges (id) ON DELETE CASCADE,
    part        INTEGER NOT NULL CHECK (part IN (0, 1)),
    bytes       BLOB    NOT NULL,
    PRIMARY KEY (exchange_id, part)
);
"#;

/// Version 2: collections, and the cookie jar.
///
/// A collection is a named group of sessions: a `capture --save-to
/// collection:NAME` run is a session whose `collection_id` is that
/// collection, and a later run with the same name adds another session to
/// it. Its exchanges stay in the history like any other (one store, one
/// list); deleting a collection leaves its sessions and exchanges in the
/// history (`ON DELETE SET NULL`). `organize_by` is the `--organize-by`
/// spelling (`none`, `domain`, `endpoint`, `domain,endpoint`); the store
/// keeps it as given and the views interpret it.
///
/// The jar holds one row per (domain, path, name), as RFC 6265 keys
/// cookies; see `interpose_capture::set_cookie_action` for the rules that
/// fill it. `exchange_id` is the exchange whose `Set-Cookie` last stored the
/// cookie; like `exchanges.session_id` it is not a foreign key, so `history
/// clear` leaves the jar alone.
const V2: &str = r#"
CREATE TABLE collections (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    name          TEXT    NOT NULL UNIQUE,
    organize_by   TEXT    NOT NULL DEFAULT 'none',
    created_at_us INTEGER NOT NULL
);

ALTER TABLE sessions
    ADD COLUMN collection_id INTEGER REFERENCES collections (id) ON DELETE SET NULL;

CREATE INDEX sessions_collection_id ON sessions (collection_id);

CREATE TABLE cookies (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    -- lower-case, no leading dot
    domain        TEXT    NOT NULL,
    path          TEXT    NOT NULL,
    name          TEXT    NOT NULL,
    value         TEXT    NOT NULL,
    -- Unix microseconds; NULL: a session cookie
    expires_at_us INTEGER,
    secure        INTEGER NOT NULL,
    http_only     INTEGER NOT NULL,
    -- 'Strict', 'Lax', 'None' or NULL
    same_site     TEXT,
    host_only     INTEGER NOT NULL,
    created_at_us INTEGER NOT NULL,
    last_seen_us  INTEGER NOT NULL,
    exchange_id   INTEGER,
    UNIQUE (domain, path, name)
);
"#;

/// The migrations, in order; entry `i` takes the store to version `i + 1`.
pub(crate) const MIGRATIONS: &[&str] = &[V1, V2];

/// The schema version this build writes and understands.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Opens (creating if needed) the store at `path`, sets the connection up
/// and brings the schema up to date. Returns how many migrations it applied.
pub(crate) fn open_connection(path: &Path) -> Result<(Connection, usize), StoreError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|cause| StoreError::CreateDir {
            path: path.to_path_buf(),
            dir: dir.to_path_buf(),
            cause,
        })?;
    }
    let open_err = |cause| StoreError::Open {
        path: path.to_path_buf(),
        cause,
    };
    let mut conn = Connection::open(path).map_err(open_err)?;
    conn.busy_timeout(Duration::from_secs(5))
        .map_err(open_err)?;
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
        .map_err(open_err)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::NotWal {
            path: path.to_path_buf(),
            mode,
        });
    }
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(open_err)?;
    conn.pragma_update(None, "foreign_keys", true)
        .map_err(open_err)?;
    let applied = migrate(&mut conn, path)?;
    Ok((conn, applied))
}

fn user_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.pragma_query_value(None, "user_version", |r| r.get(0))
}

fn too_new(path: &Path, found: i64) -> StoreError {
    StoreError::TooNew {
        path: path.to_path_buf(),
        found,
        supported: SCHEMA_VERSION,
    }
}

fn migrate(conn: &mut Connection, path: &Path) -> Result<usize, StoreError> {
    let current = user_version(conn).map_err(|cause| StoreError::Open {
        path: path.to_path_buf(),
        cause,
    })?;
    if current > SCHEMA_VERSION {
        return Err(too_new(path, current));
    }
    let mut applied = 0;
    for (index, sql) in MIGRATIONS.iter().enumerate() {
        let version = index as i64 + 1;
        if version <= current {
            continue;
        }
        let err = |cause| StoreError::Migrate {
            path: path.to_path_buf(),
            version,
            cause,
        };
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        // Another process may have migrated while we waited for the lock.
        let now = user_version(&tx).map_err(err)?;
        if now > SCHEMA_VERSION {
            return Err(too_new(path, now));
        }
        if now >= version {
            continue;
        }
        tx.execute_batch(sql).map_err(err)?;
        tx.pragma_update(None, "user_version", version)
            .map_err(err)?;
        tx.commit().map_err(err)?;
        tracing::info!(path = %path.display(), version, "store schema migrated");
        applied += 1;
    }
    Ok(applied)
}
