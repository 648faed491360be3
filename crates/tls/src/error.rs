use std::io;
use std::path::PathBuf;

/// Everything that can go wrong with the CA or a leaf certificate.
///
/// Each message names the file (or host), what failed, and what the user can do about it.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The CA directory could not be created.
    #[error(
        "cannot create the CA directory {}: {source}; check that its parent is writable, or choose another --data-dir",
        dir.display()
    )]
    CreateDir { dir: PathBuf, source: io::Error },

    /// A CA file exists but could not be read.
    #[error(
        "{what} {} is unreadable: {source}; fix its permissions, or delete {} to make a fresh CA",
        path.display(),
        dir.display()
    )]
    Unreadable {
        what: &'static str,
        path: PathBuf,
        dir: PathBuf,
        source: io::Error,
    },

    /// A CA file could not be written.
    #[error(
        "cannot write {what} {}: {source}; check that {} is writable and the disk is not full",
        path.display(),
        dir.display()
    )]
    Write {
        what: &'static str,
        path: PathBuf,
        dir: PathBuf,
        source: io::Error,
    },

    /// The CA key is readable by other users and could not be restricted to its owner.
    #[error(
        "CA key {} is readable by other users (mode {mode:03o}) and could not be restricted: {source}; run `chmod 600 {}`",
        path.display(),
        path.display()
    )]
    KeyPermissions {
        path: PathBuf,
        mode: u32,
        source: io::Error,
    },

    /// Only one of the two CA files exists.
    #[error(
        "{} exists but {} is missing; delete {} (or run `interpose ca regenerate`) to make a fresh CA",
        present.display(),
        missing.display(),
        dir.display()
    )]
    Incomplete {
        present: PathBuf,
        missing: PathBuf,
        dir: PathBuf,
    },

    /// A CA file exists but is not a usable certificate or key.
    #[error(
        "{what} {} is not valid: {reason}; delete {} (or run `interpose ca regenerate`) to make a fresh CA",
        path.display(),
        dir.display()
    )]
    Invalid {
        what: &'static str,
        path: PathBuf,
        dir: PathBuf,
        reason: String,
    },

    /// The CA key does not belong to the CA certificate.
    #[error(
        "CA key {} does not belong to CA certificate {}; delete {} (or run `interpose ca regenerate`) to make a fresh CA",
        key.display(),
        cert.display(),
        dir.display()
    )]
    Mismatch {
        cert: PathBuf,
        key: PathBuf,
        dir: PathBuf,
    },

    /// The CA certificate is past its validity.
    #[error(
        "CA certificate {} expired on {expired}; run `interpose ca regenerate`, then trust the new CA again (`interpose ca trust-help`)",
        path.display()
    )]
    Expired { path: PathBuf, expired: String },

    /// Key or certificate generation failed inside the crypto library (not caused by the user).
    #[error("cannot generate {what}: {reason}")]
    Generate { what: &'static str, reason: String },

    /// A leaf certificate or its ServerConfig could not be made for a host.
    #[error("cannot issue a TLS certificate for host {host:?}: {reason}")]
    Leaf { host: String, reason: String },

    /// A certificate or key the user gave for a listener is unusable.
    #[error(
        "cannot use {} for the listener's TLS: {reason}; give a PEM certificate chain (leaf first) with --tls-cert and its PEM private key with --tls-key",
        path.display()
    )]
    ListenerCert { path: PathBuf, reason: String },
}

impl TlsError {
    pub(crate) fn leaf(host: &str, reason: impl ToString) -> Self {
        TlsError::Leaf {
            host: host.to_owned(),
            reason: reason.to_string(),
        }
    }

    /// A copy of an error shared by the leaf cache (moka hands errors out as `Arc`s).
    pub(crate) fn duplicate(&self, host: &str) -> Self {
        match self {
            TlsError::Leaf { host, reason } => TlsError::Leaf {
                host: host.clone(),
                reason: reason.clone(),
            },
            TlsError::Generate { what, reason } => TlsError::Generate {
                what,
                reason: reason.clone(),
            },
            other => TlsError::leaf(host, other),
        }
    }
}
