//! The cookie jar: what `Set-Cookie` headers in captured responses stored,
//! one row per (domain, path, name).
//!
//! The writer fills it in the same transaction as the exchanges it comes
//! from ([`apply_response_cookies`]), following
//! [`interpose_capture::set_cookie_action`]: storing replaces the cookie
//! with the same key but keeps its creation time; a cookie that arrives
//! expired removes it. Expired cookies are never listed, and are deleted
//! whenever the writer touches the jar.

use interpose_capture::{response_cookie_actions, CookieAction, Exchange, JarCookie};
use rusqlite::{params, Row, Transaction};
use serde::Serialize;

use crate::store::now_us;
use crate::{Store, StoreError};

/// A cookie in the jar, with when it was first and last set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredCookie {
    #[serde(flatten)]
    pub cookie: JarCookie,
    /// When a cookie with this key was first stored (Unix microseconds).
    pub created_at_us: i64,
    /// When a `Set-Cookie` last stored it.
    pub last_seen_us: i64,
}

const UPSERT: &str = "INSERT INTO cookies (
    domain, path, name, value, expires_at_us, secure, http_only, same_site,
    host_only, created_at_us, last_seen_us, exchange_id
) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10, ?11)
ON CONFLICT (domain, path, name) DO UPDATE SET
    value = excluded.value,
    expires_at_us = excluded.expires_at_us,
    secure = excluded.secure,
    http_only = excluded.http_only,
    same_site = excluded.same_site,
    host_only = excluded.host_only,
    last_seen_us = excluded.last_seen_us,
    exchange_id = excluded.exchange_id";

const REMOVE: &str = "DELETE FROM cookies WHERE domain = ?1 AND path = ?2 AND name = ?3";

const EVICT_EXPIRED: &str = "DELETE FROM cookies WHERE expires_at_us <= ?1";

/// Applies the `Set-Cookie` headers of each exchange's response to the jar,
/// in order, inside the caller's transaction. Exchanges should have their
/// ids (set by [`crate::rows::insert_all`]).
pub(crate) fn apply_response_cookies<'a>(
    tx: &Transaction<'_>,
    exchanges: impl IntoIterator<Item = &'a Exchange>,
) -> rusqlite::Result<()> {
    let mut touched = false;
    for ex in exchanges {
        for action in response_cookie_actions(ex) {
            apply(tx, &action, ex.started_at_us, ex.id)?;
            touched = true;
        }
    }
    if touched {
        tx.prepare_cached(EVICT_EXPIRED)?
            .execute(params![now_us()])?;
    }
    Ok(())
}

/// One action, received at `at_us`, from exchange `exchange_id`.
pub(crate) fn apply(
    tx: &Transaction<'_>,
    action: &CookieAction,
    at_us: i64,
    exchange_id: Option<i64>,
) -> rusqlite::Result<()> {
    match action {
        CookieAction::Store(c) => {
            tx.prepare_cached(UPSERT)?.execute(params![
                c.domain,
                c.path,
                c.name,
                c.value,
                c.expires_at_us,
                c.secure,
                c.http_only,
                c.same_site,
                c.host_only,
                at_us,
                exchange_id,
            ])?;
        }
        CookieAction::Remove { domain, path, name } => {
            tx.prepare_cached(REMOVE)?
                .execute(params![domain, path, name])?;
        }
    }
    Ok(())
}

fn cookie_from_row(row: &Row<'_>) -> rusqlite::Result<StoredCookie> {
    Ok(StoredCookie {
        cookie: JarCookie {
            domain: row.get(0)?,
            path: row.get(1)?,
            name: row.get(2)?,
            value: row.get(3)?,
            expires_at_us: row.get(4)?,
            secure: row.get(5)?,
            http_only: row.get(6)?,
            same_site: row.get(7)?,
            host_only: row.get(8)?,
        },
        created_at_us: row.get(9)?,
        last_seen_us: row.get(10)?,
    })
}

impl Store {
    /// The unexpired cookies in the jar, by domain, path and name. With
    /// `domain`, only cookies whose domain is it or one of its subdomains
    /// (`example.test` lists `example.test` and `api.example.test`; case and
    /// a leading dot do not matter).
    pub fn cookies(&self, domain: Option<&str>) -> Result<Vec<StoredCookie>, StoreError> {
        let domain = domain.map(|d| d.trim_start_matches('.').to_ascii_lowercase());
        let err = StoreError::sql(&self.path, "list cookies");
        let result = (|| {
            let mut stmt = self.conn.prepare_cached(
                "SELECT domain, path, name, value, expires_at_us, secure, http_only,
                        same_site, host_only, created_at_us, last_seen_us
                 FROM cookies
                 WHERE (expires_at_us IS NULL OR expires_at_us > ?1)
                   AND (?2 IS NULL
                        OR domain = ?2
                        OR (length(domain) > length(?2)
                            AND substr(domain, -length(?2) - 1) = '.' || ?2))
                 ORDER BY domain, path, name",
            )?;
            let rows = stmt.query_map(params![now_us(), domain], cookie_from_row)?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })();
        result.map_err(err)
    }

    /// Empties the jar; returns how many cookies went (expired ones too).
    pub fn clear_cookies(&self) -> Result<u64, StoreError> {
        self.conn
            .execute("DELETE FROM cookies", [])
            .map(|n| n as u64)
            .map_err(StoreError::sql(&self.path, "clear the cookie jar"))
    }
}
