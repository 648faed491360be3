//! [`Store`]: a read/write connection for CLI commands, views and session
//! rows. The capture path writes through the [`crate::Writer`] instead.

use std::path::{Path, PathBuf};

use interpose_capture::{Exchange, Session, SessionSummary};
use rusqlite::{params, Connection, TransactionBehavior};

use crate::rows::{self, EXCHANGE_COLUMNS, SUMMARY_COLUMNS};
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
    pub limit: Option<usize>,
    pub newest_first: bool,
}

impl Query {
    /// ` WHERE ... ORDER BY ... LIMIT ?1`, with the session as `?2` if any.
    /// `table` is the prefix of the columns (`""` or `"e."`).
    fn clauses(&self, table: &str) -> String {
        let filter = if self.session.is_some() {
            format!(" WHERE {table}session_id = ?2")
        } else {
            String::new()
        };
        let order = if self.newest_first { "DESC" } else { "ASC" };
        format!("{filter} ORDER BY {table}id {order} LIMIT ?1")
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

/// A read/write connection to the store.
pub struct Store {
    conn: Connection,
    path: PathBuf,
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
        self.conn
            .execute(
                "INSERT INTO sessions (started_at_us, source, detail) VALUES (?1, ?2, ?3)",
                params![now_us(), source, detail],
            )
            .map_err(StoreError::sql(&self.path, "start a session"))?;
        Ok(self.conn.last_insert_rowid())
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
        let err = StoreError::sql(&self.path, "store exchanges");
        let result = (|| {
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            rows::insert_all(&tx, exchanges.iter_mut())?;
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
        let sql = format!("SELECT {SUMMARY_COLUMNS} FROM exchanges{}", q.clauses(""));
        let err = StoreError::sql(&self.path, "list exchanges");
        let result = (|| {
            let mut stmt = self.conn.prepare_cached(&sql)?;
            let rows = match q.session {
                Some(s) => stmt.query_map(params![q.limit_param(), s], rows::summary_from_row)?,
                None => stmt.query_map(params![q.limit_param()], rows::summary_from_row)?,
            };
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })();
        result.map_err(err)
    }

    /// Full exchanges, bodies included, that `q` selects.
    pub fn exchanges(&self, q: &Query) -> Result<Vec<Exchange>, StoreError> {
        let sql = format!(
            "SELECT {EXCHANGE_COLUMNS} FROM exchanges e{}",
            q.clauses("e.")
        );
        let err = StoreError::sql(&self.path, "read exchanges");
        let raw = (|| {
            let mut stmt = self.conn.prepare_cached(&sql)?;
            let rows = match q.session {
                Some(s) => stmt.query_map(params![q.limit_param(), s], rows::exchange_from_row)?,
                None => stmt.query_map(params![q.limit_param()], rows::exchange_from_row)?,
            };
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })()
        .map_err(err)?;
        raw.into_iter().map(|r| r.finish(&self.path)).collect()
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
                    },
                    exchanges: u64::try_from(row.get::<_, i64>(6)?).unwrap_or(0),
                    bytes: u64::try_from(row.get::<_, i64>(7)?).unwrap_or(0),
                })
            })?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })();
        result.map_err(err)
    }
}
