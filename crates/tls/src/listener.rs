//! A certificate the user brings for a listener (`capture --reverse` with
//! `--tls-cert`/`--tls-key`): the PEM chain and key, checked to belong
//! together, as a ServerConfig.

use std::path::Path;
use std::sync::Arc;

use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::TlsError;

/// A ServerConfig presenting the chain in `cert` (PEM, leaf first) with the
/// key in `key` (PEM: PKCS#8, PKCS#1 or SEC1), offering `alpn`.
pub fn server_config_from_files(
    cert: &Path,
    key: &Path,
    alpn: &[&[u8]],
) -> Result<Arc<ServerConfig>, TlsError> {
    let bad = |path: &Path, reason: String| TlsError::ListenerCert {
        path: path.to_path_buf(),
        reason,
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| bad(cert, pem_reason(e)))?;
    if chain.is_empty() {
        return Err(bad(cert, "it holds no PEM CERTIFICATE block".into()));
    }
    let private = PrivateKeyDer::from_pem_file(key).map_err(|e| bad(key, pem_reason(e)))?;
    let mut config = ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| bad(cert, e.to_string()))?
    .with_no_client_auth()
    // Checks that the key belongs to the leaf.
    .with_single_cert(chain, private)
    .map_err(|e| {
        bad(
            key,
            format!("it does not fit the certificate in {}: {e}", cert.display()),
        )
    })?;
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}

fn pem_reason(e: rustls_pki_types::pem::Error) -> String {
    match e {
        rustls_pki_types::pem::Error::Io(io) => io.to_string(),
        rustls_pki_types::pem::Error::NoItemsFound => {
            "it holds no PEM block of the right kind".into()
        }
        other => format!("it is not valid PEM: {other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CertificateAuthority, LeafIssuer};

    fn pem(label: &str, der: &[u8]) -> String {
        use base64::Engine;
        use std::fmt::Write;
        let b64 = base64::engine::general_purpose::STANDARD.encode(der);
        let mut out = format!("-----BEGIN {label}-----\n");
        for line in b64.as_bytes().chunks(64) {
            let _ = writeln!(out, "{}", std::str::from_utf8(line).unwrap());
        }
        let _ = writeln!(out, "-----END {label}-----");
        out
    }

    #[test]
    fn a_matching_chain_and_key_make_a_config_with_the_alpn_asked_for() {
        let dir = tempfile::tempdir().unwrap();
        let ca = CertificateAuthority::load_or_create(&dir.path().join("ca")).unwrap();
        let issuer = LeafIssuer::new(&ca, 4).unwrap();
        let (chain, key) = issuer.issue("app.example.test").unwrap();
        let cert_path = dir.path().join("cert.pem");
        let key_path = dir.path().join("key.pem");
        std::fs::write(&cert_path, pem("CERTIFICATE", &chain[0])).unwrap();
        std::fs::write(&key_path, pem("PRIVATE KEY", key.secret_der())).unwrap();
        let config = server_config_from_files(&cert_path, &key_path, &[b"h2"]).unwrap();
        assert_eq!(config.alpn_protocols, vec![b"h2".to_vec()]);

        // Some other key does not fit: the message says so and names the key file.
        let other_key = rcgen::KeyPair::generate().unwrap();
        std::fs::write(&key_path, pem("PRIVATE KEY", &other_key.serialize_der())).unwrap();
        let err = server_config_from_files(&cert_path, &key_path, &[])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("key.pem") && err.contains("does not fit"),
            "{err}"
        );
    }

    #[test]
    fn missing_or_empty_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.pem");
        let err = server_config_from_files(&missing, &missing, &[])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("nope.pem") && err.contains("--tls-cert"),
            "{err}"
        );
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not pem\n").unwrap();
        let err = server_config_from_files(&empty, &missing, &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("empty.pem"), "{err}");
    }
}
