//! TLS interception material for interpose.
//!
//! **Owns:** the proxy's certificate authority (creating it on first run, loading it
//! afterwards, checking that the certificate and key belong together and that the key
//! file is private), the leaf certificates it signs for each intercepted host, and the
//! bounded cache of those leaves.
//!
//! **Hands on:** [`rustls::ServerConfig`]s, one per `(host, ALPN offer)`, ready for the
//! `proxy` crate to accept a client's TLS handshake with; the CA certificate (PEM and
//! DER) for the `ca` commands and the web UI's download page; [`trust_help`], the
//! per-platform steps to trust the CA; and the *upstream* trust ([`roots`]): the roots
//! the proxy and `send` check origins (and `https://` proxies) against, and the client
//! configs built on them.
//!
//! **Never does:** open sockets, dial upstream, or decide *whether* to intercept. It
//! also never shells out to `openssl`: every certificate is made with `rcgen`.
//!
//! Files (in `DATA/proxy/`): [`CA_CERT_FILE`] (PEM, mode 0644) and [`CA_KEY_FILE`]
//! (PEM PKCS#8, mode 0600). Deleting the directory makes a fresh CA on the next start.

mod ca;
mod error;
mod leaf;
mod listener;
pub mod roots;
mod trust;

pub use ca::{CertificateAuthority, CA_CERT_FILE, CA_KEY_FILE};
pub use error::TlsError;
pub use leaf::LeafIssuer;
pub use listener::server_config_from_files;
pub use roots::{RootsError, UpstreamTls};
pub use trust::trust_help;
