//! Reading files, and noticing when they change.

use std::fs::File;
use std::hash::{DefaultHasher, Hasher};
use std::io::{self, Read};
use std::path::Path;
use std::time::SystemTime;

/// What a file looked like, to tell whether it changed since.
///
/// Modification times can be coarse (a second on some file systems) and
/// editors can keep the length, so the content hash is what catches a quick
/// same-size edit; it is taken for files up to the caller's limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FileSig {
    Present {
        len: u64,
        modified: Option<SystemTime>,
        hash: Option<u64>,
    },
    Unreadable(io::ErrorKind),
}

/// Body files can be large media; hashing them on every poll would cost
/// more than the reload it might save.
pub(crate) const BODY_HASH_LIMIT: u64 = 1 << 20;

/// Reads a whole file, and its signature from the same open file.
pub(crate) fn read_with_sig(path: &Path, hash_limit: u64) -> (io::Result<Vec<u8>>, FileSig) {
    let read = || -> io::Result<(Vec<u8>, FileSig)> {
        let mut file = File::open(path)?;
        let meta = file.metadata()?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        let hash = (meta.len() <= hash_limit).then(|| hash(&bytes));
        let sig = FileSig::Present {
            len: meta.len(),
            modified: meta.modified().ok(),
            hash,
        };
        Ok((bytes, sig))
    };
    match read() {
        Ok((bytes, sig)) => (Ok(bytes), sig),
        Err(e) => {
            let kind = e.kind();
            (Err(e), FileSig::Unreadable(kind))
        }
    }
}

/// The signature [`read_with_sig`] would give, reading the content only
/// when it is to be hashed.
pub(crate) fn sig_of(path: &Path, hash_limit: u64) -> FileSig {
    let look = || -> io::Result<FileSig> {
        let mut file = File::open(path)?;
        let meta = file.metadata()?;
        let hash = if meta.len() <= hash_limit {
            let mut bytes = Vec::new();
            file.read_to_end(&mut bytes)?;
            Some(hash(&bytes))
        } else {
            None
        };
        Ok(FileSig::Present {
            len: meta.len(),
            modified: meta.modified().ok(),
            hash,
        })
    };
    look().unwrap_or_else(|e| FileSig::Unreadable(e.kind()))
}

fn hash(bytes: &[u8]) -> u64 {
    // Fixed keys: the same content hashes the same on every poll.
    let mut h = DefaultHasher::new();
    h.write(bytes);
    h.finish()
}
