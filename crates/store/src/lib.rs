//! `interpose-store` owns the embedded store: one SQLite file in WAL mode
//! (`interpose.db` in the data directory).
//!
//! It owns the schema and its migrations (versioned by `PRAGMA
//! user_version`), the single batched writer that the capture path records
//! into without ever waiting ([`spawn_writer`], [`Recorder`], [`Writer`]),
//! and the read queries that views need ([`Store`], [`Query`],
//! [`ExchangeSummary`], session [`Breakdown`]s), collections (named groups
//! of sessions, [`Collection`]) and the cookie jar that captured
//! `Set-Cookie` headers fill ([`StoredCookie`]). It hands [`Exchange`]s back to views exactly as they
//! were recorded: bodies are the bytes as sent, plus their encoding.
//!
//! It never touches sockets or output formats: the proxy feeds it, and
//! `cli`, `web` and `formats` read from it.
//!
//! [`Exchange`]: interpose_capture::Exchange

mod breakdown;
mod collections;
mod cookies;
mod error;
mod rows;
mod schema;
mod store;
mod writer;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_v2;

pub use breakdown::{Breakdown, NO_CONTENT_TYPE, NO_STATUS};
pub use collections::{Collection, CollectionSummary};
pub use cookies::StoredCookie;
pub use error::StoreError;
pub use schema::SCHEMA_VERSION;
pub use store::{ExchangeSummary, Query, Store};
pub use writer::{spawn_writer, Recorder, Writer, WriterStats};
