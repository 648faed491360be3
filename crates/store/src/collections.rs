//! Collections: named groups of sessions (`capture --save-to
//! collection:NAME`), and how their requests are organized.
//!
//! The exchanges of a collection are those of its sessions (see
//! [`crate::Query::collection`]); they are in the history too. Deleting a
//! collection keeps its sessions and exchanges, now in no collection.

use rusqlite::{params, OptionalExtension, Row};
use serde::Serialize;

use crate::store::now_us;
use crate::{Store, StoreError};

/// A collection as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Collection {
    pub id: i64,
    pub name: String,
    /// The `--organize-by` spelling: `none`, `domain`, `endpoint` or
    /// `domain,endpoint`.
    pub organize_by: String,
    pub created_at_us: i64,
}

/// A collection with its counts, as `collections list` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CollectionSummary {
    #[serde(flatten)]
    pub collection: Collection,
    /// Capture runs (and imports) saved into it.
    pub sessions: u64,
    pub exchanges: u64,
    /// Body bytes on the wire, requests plus responses.
    pub bytes: u64,
}

const COLLECTION_COLUMNS: &str = "id, name, organize_by, created_at_us";

fn collection_from_row(row: &Row<'_>) -> rusqlite::Result<Collection> {
    Ok(Collection {
        id: row.get(0)?,
        name: row.get(1)?,
        organize_by: row.get(2)?,
        created_at_us: row.get(3)?,
    })
}

fn to_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

impl Store {
    /// The collection `name`, created now if missing. With `organize_by`,
    /// the collection is (re)organized that way; without, a new collection
    /// is organized `none` and an existing one keeps its way. Returns the
    /// collection and whether it was created.
    pub fn open_collection(
        &self,
        name: &str,
        organize_by: Option<&str>,
    ) -> Result<(Collection, bool), StoreError> {
        let err = StoreError::sql(&self.path, "open a collection");
        let result = (|| {
            let tx = self.conn.unchecked_transaction()?;
            let created = tx.execute(
                "INSERT INTO collections (name, organize_by, created_at_us)
                 VALUES (?1, COALESCE(?2, 'none'), ?3)
                 ON CONFLICT (name) DO NOTHING",
                params![name, organize_by, now_us()],
            )? == 1;
            if let (false, Some(organize_by)) = (created, organize_by) {
                tx.execute(
                    "UPDATE collections SET organize_by = ?1 WHERE name = ?2",
                    params![organize_by, name],
                )?;
            }
            let collection = tx.query_row(
                &format!("SELECT {COLLECTION_COLUMNS} FROM collections WHERE name = ?1"),
                params![name],
                collection_from_row,
            )?;
            tx.commit()?;
            Ok((collection, created))
        })();
        result.map_err(err)
    }

    /// The collection `name`, if there is one.
    pub fn collection(&self, name: &str) -> Result<Option<Collection>, StoreError> {
        self.conn
            .query_row(
                &format!("SELECT {COLLECTION_COLUMNS} FROM collections WHERE name = ?1"),
                params![name],
                collection_from_row,
            )
            .optional()
            .map_err(StoreError::sql(&self.path, "read a collection"))
    }

    /// Every collection, by name, with its counts.
    pub fn collections(&self) -> Result<Vec<CollectionSummary>, StoreError> {
        let err = StoreError::sql(&self.path, "list collections");
        let result = (|| {
            let mut stmt = self.conn.prepare_cached(
                "SELECT c.id, c.name, c.organize_by, c.created_at_us,
                        (SELECT COUNT(*) FROM sessions s WHERE s.collection_id = c.id),
                        COUNT(e.id),
                        COALESCE(SUM(e.request_body_size + COALESCE(e.response_body_size, 0)), 0)
                 FROM collections c
                 LEFT JOIN sessions s ON s.collection_id = c.id
                 LEFT JOIN exchanges e ON e.session_id = s.id
                 GROUP BY c.id ORDER BY c.name",
            )?;
            let rows = stmt.query_map([], |row| {
                Ok(CollectionSummary {
                    collection: collection_from_row(row)?,
                    sessions: to_u64(row.get(4)?),
                    exchanges: to_u64(row.get(5)?),
                    bytes: to_u64(row.get(6)?),
                })
            })?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })();
        result.map_err(err)
    }

    /// Deletes the collection `name`; its sessions and exchanges stay in
    /// the history. Returns whether there was such a collection.
    pub fn delete_collection(&self, name: &str) -> Result<bool, StoreError> {
        let err = StoreError::sql(&self.path, "delete a collection");
        let result = (|| {
            let tx = self.conn.unchecked_transaction()?;
            tx.execute(
                "UPDATE sessions SET collection_id = NULL
                 WHERE collection_id = (SELECT id FROM collections WHERE name = ?1)",
                params![name],
            )?;
            let deleted = tx.execute("DELETE FROM collections WHERE name = ?1", params![name])?;
            tx.commit()?;
            Ok(deleted == 1)
        })();
        result.map_err(err)
    }
}
