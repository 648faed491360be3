//! The store's errors. Every message names the database file and says what
//! the user can do about it, so the CLI can print it as one line.

use std::path::{Path, PathBuf};

use rusqlite::ErrorCode;

/// What went wrong with the store, and where.
///
/// The underlying SQLite or I/O error is kept in `cause` (and already part of
/// the message); it is deliberately not reported as `source()` so that error
/// chains do not print it twice.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "cannot create the directory {} for the store {}: {cause}; check its permissions or pass --data-dir",
        dir.display(),
        path.display()
    )]
    CreateDir {
        path: PathBuf,
        dir: PathBuf,
        cause: std::io::Error,
    },

    #[error("cannot open the store {}: {cause}; {}", path.display(), hint(cause))]
    Open {
        path: PathBuf,
        cause: rusqlite::Error,
    },

    #[error(
        "cannot open the store {}: SQLite would not switch it to WAL journal mode (it stays in '{mode}'); keep the data directory on a local file system, or pass --data-dir",
        path.display()
    )]
    NotWal { path: PathBuf, mode: String },

    #[error(
        "store {} has schema version {found}, newer than this interpose understands ({supported}); upgrade interpose",
        path.display()
    )]
    TooNew {
        path: PathBuf,
        found: i64,
        supported: i64,
    },

    #[error(
        "cannot upgrade the store {} to schema version {version}: {cause}; the store was left at the version before; {}",
        path.display(),
        hint(cause)
    )]
    Migrate {
        path: PathBuf,
        version: i64,
        cause: rusqlite::Error,
    },

    #[error("cannot {action} in the store {}: {cause}; {}", path.display(), hint(cause))]
    Sql {
        path: PathBuf,
        /// What was being done: `read exchanges`, `start a session`, ...
        action: &'static str,
        cause: rusqlite::Error,
    },

    #[error(
        "the store {} holds an unreadable exchange {id} ({reason}); it was damaged or written by another program; run `interpose history clear` or move the file aside",
        path.display()
    )]
    Corrupt {
        path: PathBuf,
        id: i64,
        reason: String,
    },

    #[error("cannot start the store writer for {}: {cause}; the system is out of threads or memory", path.display())]
    Spawn {
        path: PathBuf,
        cause: std::io::Error,
    },

    #[error(
        "the store writer for {} stopped unexpectedly ({reason}); exchanges queued since its last commit were lost; please report this as an interpose bug",
        path.display()
    )]
    WriterFailed { path: PathBuf, reason: String },
}

impl StoreError {
    pub(crate) fn sql(path: &Path, action: &'static str) -> impl FnOnce(rusqlite::Error) -> Self {
        let path = path.to_path_buf();
        move |cause| StoreError::Sql {
            path,
            action,
            cause,
        }
    }

    /// The database file this error is about.
    pub fn path(&self) -> &Path {
        match self {
            StoreError::CreateDir { path, .. }
            | StoreError::Open { path, .. }
            | StoreError::NotWal { path, .. }
            | StoreError::TooNew { path, .. }
            | StoreError::Migrate { path, .. }
            | StoreError::Sql { path, .. }
            | StoreError::Corrupt { path, .. }
            | StoreError::Spawn { path, .. }
            | StoreError::WriterFailed { path, .. } => path,
        }
    }
}

/// What the user can do about a SQLite error.
pub(crate) fn hint(cause: &rusqlite::Error) -> &'static str {
    match cause.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
            "the database is locked by another program (another interpose, or a tool with an open transaction); close it and try again"
        }
        Some(ErrorCode::DiskFull) => "the disk is full; free some space and try again",
        Some(ErrorCode::ReadOnly) => {
            "the file or its directory is read-only; check permissions or pass --data-dir"
        }
        Some(ErrorCode::CannotOpen | ErrorCode::PermissionDenied) => {
            "check that the file and its directory exist and are writable, or pass --data-dir"
        }
        Some(ErrorCode::NotADatabase) => {
            "the file is not an interpose store; move it aside or pass --data-dir"
        }
        Some(ErrorCode::DatabaseCorrupt) => {
            "the file is damaged; move it aside to start a fresh store"
        }
        Some(ErrorCode::SystemIoFailure) => "an I/O error occurred; check the disk",
        Some(ErrorCode::TooBig) => "a body is larger than SQLite can hold; lower the body size cap",
        _ => "if this persists, please report it as an interpose bug",
    }
}
