//! [`Store`]: a read/write connection for CLI commands, views and session
//! rows. The capture path writes through the [`crate::Writer`] instead.

use std::path::{Path, PathBuf};

use interpose_capture::{Exchange, Session, SessionSummary};
use rusqlite::{params, params_from_iter, Connection, TransactionBehavior};

use crate::rows::{self, EXCHANGE_COLUMNS, EXCHANGE_COLUMNS_WITHOUT_BODIES, SUMMARY_COLUMNS};
use crate::schema;
use crate::StoreError;

/// Which exchanges to read.
///
/// Results are ordered by id ascending unless `newest_first`. `limit` keeps
/// the newest N when `newest_first`, else the oldest N. (To show the last N
/// in ascending order, ask `newest_first` with a limit and reverse.)
#[derive(Debug, Clone, Default)]
pub struct Query {
    /// Only this session's exchanges.
    pub session: Option<i64>,
    /// Only exchanges of sessions saved to this collection (its id).
    pub collection: Option<i64>,
    pub limit: Option<usize>,
    pub newest_first: bool,
}

impl Query {
    /// `SELECT columns FROM from WHERE ... ORDER BY ... LIMIT ?1` and its
    /// parameters. `table` is the prefix of the columns (`""` or `"e."`).
    fn select(&self, columns: &str, from: &str, table: &str) -> (String, Vec<i64>) {
        let mut params = vec![self.limit_param()];
        let mut filters = Vec::new();
        if let Some(session) = self.session {
            params.push(session);
            filters.push(format!("{table}session_id = ?{}", params.len()));
        }
        if let Some(collection) = self.collection {
            params.push(collection);
            filters.push(format!(
                "{table}session_id IN (SELECT id FROM sessions WHERE collection_id = ?{})",
                params.len()
            ));
        }
        let filter = if filters.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", filters.join(" AND "))
        };
        let order = if self.newest_first { "DESC" } else { "ASC" };
        let sql =
            format!("SELECT {columns} FROM {from}{filter} ORDER BY {table}id {order} LIMIT ?1");
        (sql, params)
    }

    /// SQLite reads a negative LIMIT as "no limit".
    fn limit_param(&self) -> i64 {
        self.limit
            .map_or(-1, |n| i64::try_from(n).unwrap_or(i64::MAX))
    }
}

/// One line of a list view: what it takes to show an exchange without its
/// headers or bodies.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ExchangeSummary {
    pub id: i64,
    pub session_id: i64,
    pub started_at_us: i64,
    pub method: String,
    pub url: String,
    /// `None` when no response came (see `error`).
    pub status: Option<u16>,
    /// Response body bytes on the wire (0 without a response).
    pub response_size: u64,
    /// Request body bytes on the wire.
    pub request_size: u64,
    /// Sum of the timing phases that happened.
    pub duration_ms: f64,
    pub error: Option<String>,
    pub websocket: bool,
    /// Response content type without parameters, lower-case.
    pub content_type: Option<String>,
}

impl ExchangeSummary {
    /// The list line of a full exchange (for lists filtered in memory).
    pub fn of(ex: &Exchange) -> ExchangeSummary {
        let response = ex.response.as_ref();
        ExchangeSummary {
            id: ex.id.unwrap_or(0),
            session_id: ex.session_id,
            started_at_us: ex.started_at_us,
            method: ex.request.method.clone(),
            url: ex.request.url.clone(),
            status: response.map(|r| r.status),
            response_size: response.map_or(0, |r| r.body.size),
            request_size: ex.request.body.size,
            duration_ms: ex.timings.total(),
            error: ex.error.clone(),
            websocket: ex.websocket,
            content_type: ex.response_content_type().filter(|c| !c.is_empty()),
        }
    }
}

/// A read/write connection to the store.
pub struct Store {
    pub(crate) conn: Connection,
    pub(crate) path: PathBuf,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

pub(crate) fn now_us() -> i64 {
    let nanos = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1000;
    i64::try_from(nanos).unwrap_or(i64::MAX)
}

impl Store {
    /// Opens the store at `path`, creating its directory and file if needed,
    /// in WAL mode, and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        Store::open_counting(path).map(|(store, _)| store)
    }

    /// [`Store::open`], also returning how many migrations were applied.
    pub(crate) fn open_counting(path: &Path) -> Result<(Store, usize), StoreError> {
        let (conn, applied) = schema::open_connection(path)?;
        let store = Store {
            conn,
            path: path.to_path_buf(),
        };
        Ok((store, applied))
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    #[cfg(test)]
    pub(crate) fn connection(&self) -> &Connection {
        &self.conn
    }

    /// Starts a session (one `capture` run, one import...) now; returns its id.
    pub fn begin_session(&self, source: &str, detail: &str) -> Result<i64, StoreError> {
        self.begin_session_in(source, detail, None)
    }

    /// [`Store::begin_session`], saving into the collection with this id
    /// (see [`Store::open_collection`]) when given.
    pub fn begin_session_in(
        &self,
        source: &str,
        detail: &str,
        collection: Option<i64>,
    ) -> Result<i64, StoreError> {
        self.conn
            .execute(
                "INSERT INTO sessions (started_at_us, source, detail, collection_id)
                 VALUES (?1, ?2, ?3, ?4)",
                params![now_us(), source, detail, collection],
            )
            .map_err(StoreError::sql(&self.path, "start a session"))?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Replaces what a session says it listened on or read from (e.g. the
    /// address actually bound, once the port asked for was 0). A session
    /// that no longer exists is not an error.
    pub fn set_session_detail(&self, id: i64, detail: &str) -> Result<(), StoreError> {
        self.conn
            .execute(
                "UPDATE sessions SET detail = ?1 WHERE id = ?2",
                params![detail, id],
            )
            .map_err(StoreError::sql(&self.path, "update a session"))?;
        Ok(())
    }

    /// Marks a session ended now, with the number of records it dropped.
    /// A session that no longer exists (cleared meanwhile) is not an error.
    pub fn end_session(&self, id: i64, dropped: u64) -> Result<(), StoreError> {
        let changed = self
            .conn
            .execute(
                "UPDATE sessions SET ended_at_us = ?1, dropped = ?2 WHERE id = ?3",
                params![now_us(), i64::try_from(dropped).unwrap_or(i64::MAX), id],
            )
            .map_err(StoreError::sql(&self.path, "end a session"))?;
        if changed == 0 {
            tracing::warn!(
                path = %self.path.display(),
                session = id,
                "session to end is not in the store (cleared meanwhile?)"
            );
        }
        Ok(())
    }

    /// Stores the exchanges in one transaction and sets each one's `id`.
    /// Any `id` they already had is ignored: they are stored as new.
    pub fn insert(&mut self, exchanges: &mut [Exchange]) -> Result<(), StoreError> {
        self.insert_all(exchanges, false)
    }

    /// [`Store::insert`], and, in the same transaction, the `Set-Cookie`
    /// headers of their responses applied to the cookie jar as the capture
    /// writer does (`send --save`, `replay`).
    pub fn insert_with_cookies(&mut self, exchanges: &mut [Exchange]) -> Result<(), StoreError> {
        self.insert_all(exchanges, true)
    }

    fn insert_all(&mut self, exchanges: &mut [Exchange], cookies: bool) -> Result<(), StoreError> {
        let err = StoreError::sql(&self.path, "store exchanges");
        let result = (|| {
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            rows::insert_all(&tx, exchanges.iter_mut())?;
            if cookies {
                crate::cookies::apply_response_cookies(&tx, exchanges.iter())?;
            }
            tx.commit()
        })();
        if result.is_err() {
            // Do not hand out ids of rows that were rolled back.
            for e in exchanges.iter_mut() {
                e.id = None;
            }
        }
        result.map_err(err)
    }

    /// Summaries (no headers, no bodies) of the exchanges `q` selects.
    pub fn summaries(&self, q: &Query) -> Result<Vec<ExchangeSummary>, StoreError> {
        let (sql, params) = q.select(SUMMARY_COLUMNS, "exchanges", "");
        let err = StoreError::sql(&self.path, "list exchanges");
        let result = (|| {
            let mut stmt = self.conn.prepare_cached(&sql)?;
            let rows = stmt.query_map(params_from_iter(params), rows::summary_from_row)?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })();
        result.map_err(err)
    }

    /// Full exchanges, bodies included, that `q` selects.
    pub fn exchanges(&self, q: &Query) -> Result<Vec<Exchange>, StoreError> {
        let mut all = Vec::new();
        self.for_each_exchange(q, true, |ex| all.push(ex))?;
        Ok(all)
    }

    /// Calls `f` with each exchange `q` selects, one at a time, so a caller
    /// that keeps few of them never holds them all. Without `with_bodies`
    /// the bodies' bytes are left empty (sizes and flags are still there),
    /// and the blobs are not read at all.
    pub fn for_each_exchange(
        &self,
        q: &Query,
        with_bodies: bool,
        mut f: impl FnMut(Exchange),
    ) -> Result<(), StoreError> {
        let columns = if with_bodies {
            EXCHANGE_COLUMNS
        } else {
            EXCHANGE_COLUMNS_WITHOUT_BODIES
        };
        let (sql, params) = q.select(columns, "exchanges e", "e.");
        let err = StoreError::sql(&self.path, "read exchanges");
        let mut stmt = self.conn.prepare_cached(&sql).map_err(err)?;
        let rows = stmt
            .query_map(params_from_iter(params), rows::exchange_from_row)
            .map_err(StoreError::sql(&self.path, "read exchanges"))?;
        for raw in rows {
            let raw = raw.map_err(StoreError::sql(&self.path, "read exchanges"))?;
            f(raw.finish(&self.path)?);
        }
        Ok(())
    }

    /// One exchange, bodies included; `None` if there is no such id.
    pub fn get(&self, id: i64) -> Result<Option<Exchange>, StoreError> {
        let sql = format!("SELECT {EXCHANGE_COLUMNS} FROM exchanges e WHERE e.id = ?1");
        let err = StoreError::sql(&self.path, "read an exchange");
        let raw = (|| {
            let mut stmt = self.conn.prepare_cached(&sql)?;
            let mut rows = stmt.query_map(params![id], rows::exchange_from_row)?;
            rows.next().transpose()
        })()
        .map_err(err)?;
        raw.map(|r| r.finish(&self.path)).transpose()
    }

    /// Deletes every exchange and session; returns how many exchanges went.
    /// Ids keep growing afterwards: a cleared id never comes back.
    pub fn clear(&self) -> Result<u64, StoreError> {
        let err = StoreError::sql(&self.path, "clear the history");
        let result = (|| {
            let tx = self.conn.unchecked_transaction()?;
            tx.execute("DELETE FROM bodies", [])?;
            let deleted = tx.execute("DELETE FROM exchanges", [])?;
            tx.execute("DELETE FROM sessions", [])?;
            tx.commit()?;
            Ok(deleted as u64)
        })();
        result.map_err(err)
    }

    /// All sessions, oldest first, with their exchange count and body bytes
    /// (request plus response, as on the wire).
    pub fn sessions(&self) -> Result<Vec<SessionSummary>, StoreError> {
        let err = StoreError::sql(&self.path, "list sessions");
        let result = (|| {
            let mut stmt = self.conn.prepare_cached(
                "SELECT s.id, s.started_at_us, s.ended_at_us, s.source, s.detail, s.dropped,
                        (SELECT name FROM collections WHERE id = s.collection_id),
                        COUNT(e.id),
                        COALESCE(SUM(e.request_body_size + COALESCE(e.response_body_size, 0)), 0)
                 FROM sessions s LEFT JOIN exchanges e ON e.session_id = s.id
                 GROUP BY s.id ORDER BY s.id",
            )?;
            let rows = stmt.query_map([], |row| {
                Ok(SessionSummary {
                    session: Session {
                        id: row.get(0)?,
                        started_at_us: row.get(1)?,
                        ended_at_us: row.get(2)?,
                        source: row.get(3)?,
                        detail: row.get(4)?,
                        dropped: u64::try_from(row.get::<_, i64>(5)?).unwrap_or(0),
                        collection: row.get(6)?,
                    },
                    exchanges: u64::try_from(row.get::<_, i64>(7)?).unwrap_or(0),
                    bytes: u64::try_from(row.get::<_, i64>(8)?).unwrap_or(0),
                })
            })?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })();
        result.map_err(err)
    }
}
