//! Upstream trust: the roots the capture proxy and `send` trust when they
//! talk TLS to origins (and to `https://` proxies), and the client configs
//! built on them.
//!
//! The roots are the system bundle (the first of the usual distribution
//! paths, else the platform store, else Mozilla's set built in), plus the
//! file named by `SSL_CERT_FILE`, plus any `--upstream-ca` files.
//! `--insecure-upstream` turns certificate checking off, but signatures are
//! still verified so the handshake stays sound.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;

/// How upstream certificates are checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpstreamTls {
    /// Extra PEM files of trusted roots (`--upstream-ca`).
    pub extra_roots: Vec<PathBuf>,
    /// Accept any certificate (`--insecure-upstream`, `send --insecure`).
    pub insecure: bool,
}

/// A roots file that cannot be used; names the file and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot use {} as trusted upstream roots: {reason}", path.display())]
pub struct RootsError {
    pub path: PathBuf,
    pub reason: String,
}

/// System bundles, in the order distributions put them.
const SYSTEM_BUNDLES: [&str; 5] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
];

/// Roots: the system's, plus `SSL_CERT_FILE`, plus `tls.extra_roots`.
/// Falls back to the Mozilla set built in when the system has none.
pub fn root_store(tls: &UpstreamTls) -> Result<RootCertStore, RootsError> {
    let mut roots = RootCertStore::empty();
    let system = SYSTEM_BUNDLES.iter().map(Path::new).find(|p| p.is_file());
    match system {
        Some(path) => {
            add_pem_file(&mut roots, path).ok();
        }
        None => {
            let native = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(native.certs);
        }
    }
    if roots.is_empty() {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    if let Some(file) = std::env::var_os("SSL_CERT_FILE") {
        let path = PathBuf::from(file);
        add_pem_file(&mut roots, &path).map_err(|reason| RootsError {
            path: path.clone(),
            reason: format!("{reason} (named by SSL_CERT_FILE)"),
        })?;
    }
    for path in &tls.extra_roots {
        add_pem_file(&mut roots, path).map_err(|reason| RootsError {
            path: path.clone(),
            reason,
        })?;
    }
    Ok(roots)
}

fn add_pem_file(roots: &mut RootCertStore, path: &Path) -> Result<(), String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .map_err(|e| e.to_string())?
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    if certs.is_empty() {
        return Err("no PEM certificates in it".into());
    }
    let (added, _ignored) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err("none of its certificates could be used as a root".into());
    }
    Ok(())
}

/// A client config over [`root_store`] (or trusting anything when
/// `tls.insecure`), offering `alpn`, with aws-lc-rs as the provider.
pub fn client_config(tls: &UpstreamTls, alpn: &[&[u8]]) -> Result<Arc<ClientConfig>, RootsError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("the aws-lc-rs provider supports the default protocol versions");
    let mut config = if tls.insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider)))
            .with_no_client_auth()
    } else {
        builder
            .with_root_certificates(root_store(tls)?)
            .with_no_client_auth()
    };
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}

/// `--insecure-upstream`: still checks signatures so the handshake is sound,
/// but trusts any certificate.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_extra_roots_file_is_named_in_the_error() {
        let tls = UpstreamTls {
            extra_roots: vec![PathBuf::from("/nonexistent/roots.pem")],
            insecure: false,
        };
        let err = root_store(&tls).unwrap_err();
        assert_eq!(err.path, PathBuf::from("/nonexistent/roots.pem"));
        assert!(err.to_string().contains("/nonexistent/roots.pem"), "{err}");
    }

    #[test]
    fn a_file_without_certificates_is_refused() {
        let dir = std::env::temp_dir().join(format!("interpose-roots-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("empty.pem");
        std::fs::write(&path, "not a certificate\n").unwrap();
        let tls = UpstreamTls {
            extra_roots: vec![path.clone()],
            insecure: false,
        };
        let err = root_store(&tls).unwrap_err();
        assert!(err.reason.contains("no PEM certificates"), "{err}");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn insecure_configs_need_no_roots_and_keep_the_alpn_offer() {
        let tls = UpstreamTls {
            extra_roots: vec![PathBuf::from("/nonexistent/roots.pem")],
            insecure: true,
        };
        let config = client_config(&tls, &[b"h2", b"http/1.1"]).unwrap();
        assert_eq!(
            config.alpn_protocols,
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        );
    }
}
