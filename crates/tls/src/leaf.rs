//! Leaf certificates per host, and the cache of ServerConfigs presenting them.

use std::net::{IpAddr, Ipv6Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use moka::future::Cache;
use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType, PKCS_ECDSA_P256_SHA256,
};
use rustls::crypto::CryptoProvider;
use rustls::ServerConfig;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use time::{Duration, OffsetDateTime};

use crate::ca::random_serial;
use crate::{CertificateAuthority, TlsError};

/// Leaves are valid for a year (browsers accept at most 397 days).
const LEAF_VALIDITY_DAYS: i64 = 365;
/// A cached config is dropped after this long, so a long-running proxy never serves a leaf
/// close to its expiry.
const CACHE_TIME_TO_LIVE: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);
/// Longest subject CN allowed by RFC 5280 (ub-common-name).
const MAX_CN_LEN: usize = 64;

/// Cache key: the normalised host and the ALPN protocols offered, in order.
type ConfigKey = (String, Vec<Vec<u8>>);

/// Issues and caches leaf certificates, and hands out rustls ServerConfigs for them.
///
/// Cheap to clone: everything is behind `Arc`s, and clones share one cache.
#[derive(Clone)]
pub struct LeafIssuer {
    inner: Arc<Inner>,
    cache: Cache<ConfigKey, Arc<ServerConfig>>,
}

struct Inner {
    issuer: Arc<Issuer<'static, KeyPair>>,
    ca_der: CertificateDer<'static>,
    ca_not_before: OffsetDateTime,
    ca_not_after: OffsetDateTime,
    /// One key for every leaf this issuer signs (never the CA key).
    leaf_key: KeyPair,
    leaf_key_der: PrivatePkcs8KeyDer<'static>,
    provider: Arc<CryptoProvider>,
    /// How many leaves were signed (for tests and diagnostics).
    signed: AtomicU64,
}

impl std::fmt::Debug for LeafIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeafIssuer")
            .field("cached", &self.cache.entry_count())
            .field("signed", &self.inner.signed.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// A host as it goes into a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Host {
    Ip(IpAddr),
    Dns(String),
}

impl Host {
    /// Accepts a DNS name or an IP literal (IPv6 possibly in `[brackets]`, possibly with a
    /// `%zone`). Names are lower-cased and lose a trailing dot.
    fn parse(host: &str) -> Result<Host, TlsError> {
        let trimmed = host.trim();
        let bare = trimmed
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(trimmed);
        if let Ok(ip) = bare.parse::<IpAddr>() {
            return Ok(Host::Ip(ip));
        }
        if let Some((addr, _zone)) = bare.split_once('%') {
            if let Ok(ip) = addr.parse::<Ipv6Addr>() {
                return Ok(Host::Ip(IpAddr::V6(ip)));
            }
        }
        let name = bare.trim_end_matches('.').to_ascii_lowercase();
        if name.is_empty() {
            return Err(TlsError::leaf(host, "the host name is empty"));
        }
        if name.len() > 253 {
            return Err(TlsError::leaf(
                host,
                "the host name is longer than 253 characters",
            ));
        }
        if let Some(bad) = name
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '*')))
        {
            let hint = if bad == ':' {
                " (pass the host without a port)"
            } else if !bad.is_ascii() {
                " (internationalised names must be given in their xn-- form)"
            } else {
                ""
            };
            return Err(TlsError::leaf(
                host,
                format!("{bad:?} is not allowed in a host name{hint}"),
            ));
        }
        Ok(Host::Dns(name))
    }

    /// The cache key and certificate name: canonical IP text, or the lower-case name.
    fn name(&self) -> String {
        match self {
            Host::Ip(ip) => ip.to_string(),
            Host::Dns(name) => name.clone(),
        }
    }
}

impl LeafIssuer {
    /// An issuer signing with `ca`, caching at most `cache_capacity` ServerConfigs.
    ///
    /// Generates the one ECDSA P-256 key all of this issuer's leaves share.
    pub fn new(ca: &CertificateAuthority, cache_capacity: u64) -> Result<Self, TlsError> {
        let leaf_key =
            KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(|e| TlsError::Generate {
                what: "the leaf certificate key",
                reason: e.to_string(),
            })?;
        let leaf_key_der = PrivatePkcs8KeyDer::from(leaf_key.serialize_der());
        let cache = Cache::builder()
            .max_capacity(cache_capacity)
            .time_to_live(CACHE_TIME_TO_LIVE)
            .build();
        Ok(LeafIssuer {
            inner: Arc::new(Inner {
                issuer: Arc::clone(&ca.issuer),
                ca_der: ca.cert_der_owned(),
                ca_not_before: ca.not_before,
                ca_not_after: ca.not_after,
                leaf_key,
                leaf_key_der,
                provider: Arc::new(rustls::crypto::aws_lc_rs::default_provider()),
                signed: AtomicU64::new(0),
            }),
            cache,
        })
    }

    /// A ServerConfig presenting a leaf for `host` (a DNS name or an IP literal, IPv6
    /// possibly in `[brackets]`), with ALPN offering `alpn` (e.g. `[b"h2", b"http/1.1"]`).
    ///
    /// Cached per (lower-cased host, ALPN); concurrent first requests for the same key wait
    /// for one signing and share its result.
    pub async fn server_config(
        &self,
        host: &str,
        alpn: &[&[u8]],
    ) -> Result<Arc<ServerConfig>, TlsError> {
        let parsed = Host::parse(host)?;
        let key: ConfigKey = (parsed.name(), alpn.iter().map(|p| p.to_vec()).collect());
        let init = async {
            // Tests widen the signing window so that concurrent first requests really
            // overlap: a get-then-insert cache would then sign once per request.
            #[cfg(test)]
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            self.build_config(host, &parsed, alpn).map(Arc::new)
        };
        self.cache
            .try_get_with(key, init)
            .await
            .map_err(|shared| shared.duplicate(host))
    }

    /// The leaf chain (leaf, then CA) and key for `host`.
    pub fn issue(
        &self,
        host: &str,
    ) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsError> {
        let parsed = Host::parse(host)?;
        self.issue_for(host, &parsed)
    }

    fn build_config(
        &self,
        host: &str,
        parsed: &Host,
        alpn: &[&[u8]],
    ) -> Result<ServerConfig, TlsError> {
        let (chain, key) = self.issue_for(host, parsed)?;
        let mut config = ServerConfig::builder_with_provider(Arc::clone(&self.inner.provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::leaf(host, e))?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|e| TlsError::leaf(host, e))?;
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(config)
    }

    fn issue_for(
        &self,
        host: &str,
        parsed: &Host,
    ) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsError> {
        let inner = &self.inner;
        let name = parsed.name();
        let now = OffsetDateTime::now_utc();

        let mut params = CertificateParams::default();
        params.serial_number = Some(random_serial()?);
        // Backdated for clients with a slow clock; never outside the CA's own validity.
        params.not_before = (now - Duration::days(1)).max(inner.ca_not_before);
        params.not_after = (now + Duration::days(LEAF_VALIDITY_DAYS)).min(inner.ca_not_after);
        let mut dn = DistinguishedName::new();
        let cn: String = name.chars().take(MAX_CN_LEN).collect();
        dn.push(DnType::CommonName, cn);
        params.distinguished_name = dn;
        params.subject_alt_names = vec![match parsed {
            Host::Ip(ip) => SanType::IpAddress(*ip),
            Host::Dns(dns) => SanType::DnsName(
                dns.as_str()
                    .try_into()
                    .map_err(|e| TlsError::leaf(host, e))?,
            ),
        }];
        // ExplicitNoCa writes basicConstraints CA:FALSE and a subject key identifier.
        params.is_ca = IsCa::ExplicitNoCa;
        // ECDSA keys sign; keyEncipherment would be wrong for them (RFC 8813).
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;

        let cert = params
            .signed_by(&inner.leaf_key, inner.issuer.as_ref())
            .map_err(|e| TlsError::leaf(host, e))?;
        inner.signed.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(host = %name, "signed a leaf certificate");

        let chain = vec![cert.der().clone(), inner.ca_der.clone()];
        let key = PrivateKeyDer::Pkcs8(inner.leaf_key_der.clone_key());
        Ok((chain, key))
    }

    #[cfg(test)]
    fn signed_count(&self) -> u64 {
        self.inner.signed.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::time::{SystemTime, UNIX_EPOCH};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};
    use x509_parser::extensions::GeneralName;
    use x509_parser::oid_registry::OID_X509_EXT_AUTHORITY_KEY_IDENTIFIER;
    use x509_parser::prelude::*;

    fn ca_dir(tag: &str) -> PathBuf {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        std::env::temp_dir()
            .join(format!(
                "interpose-tls-leaf-{tag}-{}-{nanos}",
                std::process::id()
            ))
            .join("proxy")
    }

    fn issuer(tag: &str) -> (CertificateAuthority, LeafIssuer) {
        let ca = CertificateAuthority::load_or_create(&ca_dir(tag)).unwrap();
        let leaves = LeafIssuer::new(&ca, 100).unwrap();
        (ca, leaves)
    }

    /// Parses the leaf for `host` and checks everything common to every leaf; returns its SANs.
    fn check_leaf(ca: &CertificateAuthority, leaves: &LeafIssuer, host: &str) -> Vec<String> {
        let (chain, _key) = leaves.issue(host).unwrap();
        assert_eq!(chain.len(), 2, "chain is leaf then CA");
        assert_eq!(chain[1].as_ref(), ca.cert_der());
        let (_, leaf) = parse_x509_certificate(&chain[0]).unwrap();
        let (_, ca_cert) = parse_x509_certificate(ca.cert_der()).unwrap();

        assert_eq!(leaf.issuer(), ca_cert.subject(), "issuer is the CA subject");
        assert!(!leaf.is_ca());
        let eku = leaf.extended_key_usage().unwrap().expect("EKU");
        assert!(eku.value.server_auth);
        let ku = leaf.key_usage().unwrap().expect("keyUsage");
        assert!(ku.value.digital_signature());
        assert!(!ku.value.key_cert_sign());

        let aki = leaf
            .get_extension_unique(&OID_X509_EXT_AUTHORITY_KEY_IDENTIFIER)
            .unwrap()
            .expect("authority key identifier");
        let ParsedExtension::AuthorityKeyIdentifier(aki) = aki.parsed_extension() else {
            panic!("AKI did not parse")
        };
        let ski = ca_cert
            .iter_extensions()
            .find_map(|e| match e.parsed_extension() {
                ParsedExtension::SubjectKeyIdentifier(k) => Some(k.0),
                _ => None,
            })
            .expect("CA subject key identifier");
        assert_eq!(aki.key_identifier.as_ref().unwrap().0, ski);

        assert_ne!(
            leaf.public_key().raw,
            ca_cert.public_key().raw,
            "leaf must have its own key"
        );

        let now = OffsetDateTime::now_utc();
        let nb = leaf.validity().not_before.to_datetime();
        let na = leaf.validity().not_after.to_datetime();
        assert!(nb < now - Duration::hours(23), "not backdated: {nb}");
        assert!(na - nb <= Duration::days(397), "validity {}", na - nb);
        assert!(na > now + Duration::days(300));

        let serial = leaf.raw_serial();
        assert!(
            serial.len() >= 16 && serial[0] & 0x80 == 0,
            "serial {serial:?}"
        );

        let san = leaf.subject_alternative_name().unwrap().expect("SAN");
        san.value
            .general_names
            .iter()
            .map(|g| match g {
                GeneralName::DNSName(d) => format!("dns:{d}"),
                GeneralName::IPAddress(ip) => format!("ip:{}", ip.len()),
                other => format!("other:{other:?}"),
            })
            .collect()
    }

    #[test]
    fn dns_leaf_has_dns_san_server_auth_aki_and_its_own_key() {
        let (ca, leaves) = issuer("dns");
        assert_eq!(
            check_leaf(&ca, &leaves, "api.example.test"),
            ["dns:api.example.test"]
        );
        // Lower-cased.
        assert_eq!(
            check_leaf(&ca, &leaves, "API.Example.TEST"),
            ["dns:api.example.test"]
        );
    }

    #[test]
    fn ip_leaves_have_ip_sans_not_dns_sans() {
        let (ca, leaves) = issuer("ip");
        assert_eq!(check_leaf(&ca, &leaves, "127.0.0.1"), ["ip:4"]);
        assert_eq!(check_leaf(&ca, &leaves, "::1"), ["ip:16"]);
        assert_eq!(check_leaf(&ca, &leaves, "[::1]"), ["ip:16"]);
    }

    #[test]
    fn ip_san_holds_the_address_bytes() {
        let (_ca, leaves) = issuer("ipbytes");
        let (chain, _) = leaves.issue("[::1]").unwrap();
        let (_, leaf) = parse_x509_certificate(&chain[0]).unwrap();
        let san = leaf.subject_alternative_name().unwrap().unwrap();
        let GeneralName::IPAddress(bytes) = san.value.general_names[0] else {
            panic!("not an IP SAN")
        };
        assert_eq!(bytes, std::net::Ipv6Addr::LOCALHOST.octets());
    }

    #[test]
    fn long_host_gets_a_64_char_cn_and_the_full_san() {
        let (_ca, leaves) = issuer("long");
        let host = format!("{}.example.test", "a".repeat(60));
        let (chain, _) = leaves.issue(&host).unwrap();
        let (_, leaf) = parse_x509_certificate(&chain[0]).unwrap();
        let cn = leaf
            .subject()
            .iter_common_name()
            .next()
            .unwrap()
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(cn.len(), 64);
        assert!(host.starts_with(&cn));
        let san = leaf.subject_alternative_name().unwrap().unwrap();
        assert_eq!(san.value.general_names[0], GeneralName::DNSName(&host));
    }

    #[test]
    fn each_leaf_gets_a_different_serial() {
        let (_ca, leaves) = issuer("serial");
        let (a, _) = leaves.issue("a.test").unwrap();
        let (b, _) = leaves.issue("a.test").unwrap();
        let (_, a) = parse_x509_certificate(&a[0]).unwrap();
        let (_, b) = parse_x509_certificate(&b[0]).unwrap();
        assert_ne!(a.raw_serial(), b.raw_serial());
    }

    #[test]
    fn bad_hosts_are_errors_naming_the_host() {
        let (_ca, leaves) = issuer("bad");
        for host in ["", "example.com:443", "bücher.example", "a b"] {
            let err = leaves.issue(host).unwrap_err();
            assert!(matches!(err, TlsError::Leaf { .. }), "{host}: {err:?}");
            assert!(err.to_string().contains(&format!("{host:?}")), "{err}");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_first_requests_sign_once_and_share_one_config() {
        let (_ca, leaves) = issuer("single-flight");
        let alpn: &[&[u8]] = &[b"h2", b"http/1.1"];
        let start = Arc::new(tokio::sync::Barrier::new(32));
        let tasks: Vec<_> = (0..32)
            .map(|i| {
                let leaves = leaves.clone();
                let start = Arc::clone(&start);
                // Mixed case and a trailing dot: all the same cache entry.
                let host = if i % 2 == 0 {
                    "Same.Example.Test"
                } else {
                    "same.example.test."
                };
                tokio::spawn(async move {
                    // Release every task at once so the first requests really race.
                    start.wait().await;
                    leaves.server_config(host, alpn).await.unwrap()
                })
            })
            .collect();
        let mut configs = Vec::new();
        for t in tasks {
            configs.push(t.await.unwrap());
        }
        for c in &configs {
            assert!(Arc::ptr_eq(c, &configs[0]));
        }
        assert_eq!(leaves.signed_count(), 1);

        // A different ALPN offer is a different entry; a different host too.
        let h1 = leaves
            .server_config("same.example.test", &[b"http/1.1"])
            .await
            .unwrap();
        assert!(!Arc::ptr_eq(&h1, &configs[0]));
        assert_eq!(h1.alpn_protocols, vec![b"http/1.1".to_vec()]);
        let v6a = leaves.server_config("[::1]", alpn).await.unwrap();
        let v6b = leaves.server_config("::1", alpn).await.unwrap();
        assert!(Arc::ptr_eq(&v6a, &v6b));
        assert_eq!(leaves.signed_count(), 3);
    }

    #[tokio::test]
    async fn server_config_error_names_the_host() {
        let (_ca, leaves) = issuer("cfg-error");
        let err = leaves.server_config("bad host", &[]).await.unwrap_err();
        assert!(err.to_string().contains("\"bad host\""), "{err}");
    }

    #[tokio::test]
    async fn real_handshake_trusting_only_the_ca_negotiates_h2() {
        let (ca, leaves) = issuer("handshake");
        let config = leaves
            .server_config("localhost", &[b"h2", b"http/1.1"])
            .await
            .unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(config);
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut tls = acceptor.accept(tcp).await.unwrap();
            let mut buf = [0u8; 4];
            tls.read_exact(&mut buf).await.unwrap();
            tls.write_all(b"pong").await.unwrap();
            tls.shutdown().await.unwrap();
            buf
        });

        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from(ca.cert_der().to_vec()))
            .unwrap();
        let mut client_config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        client_config.alpn_protocols = vec![b"h2".to_vec()];
        let connector = tokio_rustls::TlsConnector::from(Arc::new(client_config));
        let tcp = TcpStream::connect(addr).await.unwrap();
        let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
        let mut tls = connector.connect(name, tcp).await.expect("handshake");
        assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
        tls.write_all(b"ping").await.unwrap();
        let mut reply = Vec::new();
        tls.read_to_end(&mut reply).await.unwrap();
        assert_eq!(reply, b"pong");
        assert_eq!(&server.await.unwrap(), b"ping");
    }

    #[tokio::test]
    async fn handshake_to_an_ip_literal_verifies() {
        let (ca, leaves) = issuer("handshake-ip");
        let config = leaves.server_config("127.0.0.1", &[]).await.unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(config);
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut tls = acceptor.accept(tcp).await.unwrap();
            tls.shutdown().await.unwrap();
        });
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from(ca.cert_der().to_vec()))
            .unwrap();
        let client_config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(client_config));
        let tcp = TcpStream::connect(addr).await.unwrap();
        let name = rustls_pki_types::ServerName::try_from("127.0.0.1").unwrap();
        let mut tls = connector.connect(name, tcp).await.expect("handshake");
        let mut rest = Vec::new();
        tls.read_to_end(&mut rest).await.unwrap();
        server.await.unwrap();
    }
}
