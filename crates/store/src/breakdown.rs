//! What a session is made of: its exchanges counted by method, domain,
//! content type and status code (`history sessions`).

use std::collections::{BTreeMap, HashMap};

use rusqlite::params;
use serde::Serialize;

use crate::{Store, StoreError};

/// The key counted for exchanges without a response content type.
pub const NO_CONTENT_TYPE: &str = "none";
/// The key counted for exchanges that got no response.
pub const NO_STATUS: &str = "error";

/// Exchange counts of one session, each keyed by the value counted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Breakdown {
    /// By request method, as sent (`GET`).
    pub methods: BTreeMap<String, u64>,
    /// By host, lower-case, without port.
    pub domains: BTreeMap<String, u64>,
    /// By response content type without parameters; [`NO_CONTENT_TYPE`]
    /// when there was none.
    pub content_types: BTreeMap<String, u64>,
    /// By status code (`"200"`); [`NO_STATUS`] when no response came.
    pub statuses: BTreeMap<String, u64>,
}

impl Store {
    /// The breakdown of every session that has exchanges, by session id.
    pub fn session_breakdowns(&self) -> Result<HashMap<i64, Breakdown>, StoreError> {
        self.breakdowns(None)
    }

    /// The breakdown of one session (empty when it has no exchanges or does
    /// not exist).
    pub fn session_breakdown(&self, session: i64) -> Result<Breakdown, StoreError> {
        Ok(self
            .breakdowns(Some(session))?
            .remove(&session)
            .unwrap_or_default())
    }

    fn breakdowns(&self, session: Option<i64>) -> Result<HashMap<i64, Breakdown>, StoreError> {
        let err = StoreError::sql(&self.path, "count a session's exchanges");
        let result = (|| {
            let mut stmt = self.conn.prepare_cached(
                "SELECT session_id, 0, method, COUNT(*) FROM exchanges
                   WHERE ?1 IS NULL OR session_id = ?1 GROUP BY session_id, method
                 UNION ALL
                 SELECT session_id, 1, host, COUNT(*) FROM exchanges
                   WHERE ?1 IS NULL OR session_id = ?1 GROUP BY session_id, host
                 UNION ALL
                 SELECT session_id, 2, COALESCE(content_type, ?2), COUNT(*) FROM exchanges
                   WHERE ?1 IS NULL OR session_id = ?1
                   GROUP BY session_id, COALESCE(content_type, ?2)
                 UNION ALL
                 SELECT session_id, 3, COALESCE(CAST(status AS TEXT), ?3), COUNT(*) FROM exchanges
                   WHERE ?1 IS NULL OR session_id = ?1
                   GROUP BY session_id, COALESCE(CAST(status AS TEXT), ?3)",
            )?;
            let mut out: HashMap<i64, Breakdown> = HashMap::new();
            let mut rows = stmt.query(params![session, NO_CONTENT_TYPE, NO_STATUS])?;
            while let Some(row) = rows.next()? {
                let session: i64 = row.get(0)?;
                let kind: i64 = row.get(1)?;
                let key: String = row.get(2)?;
                let count = u64::try_from(row.get::<_, i64>(3)?).unwrap_or(0);
                let b = out.entry(session).or_default();
                let map = match kind {
                    0 => &mut b.methods,
                    1 => &mut b.domains,
                    2 => &mut b.content_types,
                    _ => &mut b.statuses,
                };
                *map.entry(key).or_default() += count;
            }
            Ok(out)
        })();
        result.map_err(err)
    }
}
