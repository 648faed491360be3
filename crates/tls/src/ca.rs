//! The proxy's certificate authority: creating, loading and checking its two files.

use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant, SystemTime, UNIX_EPOCH};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SerialNumber, PKCS_ECDSA_P256_SHA256,
};
use rustls_pki_types::CertificateDer;
use time::{Duration, OffsetDateTime};

use crate::TlsError;

/// File name of the CA certificate (PEM) inside `DATA/proxy/`.
pub const CA_CERT_FILE: &str = "interpose-proxy-ca.crt";
/// File name of the CA private key (PEM PKCS#8, mode 0600) inside `DATA/proxy/`.
pub const CA_KEY_FILE: &str = "interpose-proxy-ca.key";

const CA_COMMON_NAME: &str = "interpose CA";
const CA_ORGANIZATION: &str = "interpose";
/// Ten years (with the leap days), counted from creation.
const CA_VALIDITY_DAYS: i64 = 3652;
const CERT_MODE: u32 = 0o644;
const KEY_MODE: u32 = 0o600;
/// How long to wait for another process that is creating the CA at the same moment.
const CONCURRENT_CREATE_WAIT: StdDuration = StdDuration::from_secs(5);

/// The proxy's CA: its certificate, and the issuer (subject, key identifier, key) that
/// signs leaves.
pub struct CertificateAuthority {
    cert_pem: String,
    cert_der: CertificateDer<'static>,
    pub(crate) issuer: Arc<Issuer<'static, KeyPair>>,
    pub(crate) not_before: OffsetDateTime,
    pub(crate) not_after: OffsetDateTime,
    created_now: bool,
}

impl fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the key.
        f.debug_struct("CertificateAuthority")
            .field("not_before", &self.not_before)
            .field("not_after", &self.not_after)
            .field("created_now", &self.created_now)
            .finish_non_exhaustive()
    }
}

/// Whether publishing the new files may replace existing ones.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Publish {
    /// First creation: never clobber a CA another process made meanwhile.
    IfAbsent,
    /// `regenerate`: replace whatever is there.
    Replace,
}

impl CertificateAuthority {
    /// `dir` is `DATA/proxy`. Loads the CA certificate and key if both exist, else creates
    /// them (creating the directory).
    pub fn load_or_create(dir: &Path) -> Result<Self, TlsError> {
        let cert_path = dir.join(CA_CERT_FILE);
        let key_path = dir.join(CA_KEY_FILE);
        let cert_exists = exists(&cert_path, dir, "CA certificate")?;
        let key_exists = exists(&key_path, dir, "CA key")?;
        match (cert_exists, key_exists) {
            (true, true) => Self::load(dir),
            (false, false) => Self::create(dir, Publish::IfAbsent),
            (true, false) => Err(TlsError::Incomplete {
                present: cert_path,
                missing: key_path,
                dir: dir.to_path_buf(),
            }),
            (false, true) => {
                // The key is published first, so another process may be creating the CA
                // right now: give a freshly written key a moment to get its certificate.
                if recently_modified(&key_path) && Self::wait_for_cert(dir)? {
                    return Self::load(dir);
                }
                Err(TlsError::Incomplete {
                    present: key_path,
                    missing: cert_path,
                    dir: dir.to_path_buf(),
                })
            }
        }
    }

    /// Replaces any existing CA in `dir` with a fresh one.
    pub fn regenerate(dir: &Path) -> Result<Self, TlsError> {
        Self::create(dir, Publish::Replace)
    }

    /// Where the CA certificate lives: `dir.join(CA_CERT_FILE)`.
    pub fn cert_path(dir: &Path) -> PathBuf {
        dir.join(CA_CERT_FILE)
    }

    /// The CA certificate, PEM.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA certificate, DER.
    pub fn cert_der(&self) -> &[u8] {
        self.cert_der.as_ref()
    }

    /// True if this call created the CA (so the user has yet to trust it).
    pub fn created_now(&self) -> bool {
        self.created_now
    }

    pub(crate) fn cert_der_owned(&self) -> CertificateDer<'static> {
        self.cert_der.clone()
    }

    fn create(dir: &Path, publish: Publish) -> Result<Self, TlsError> {
        fs::create_dir_all(dir).map_err(|source| TlsError::CreateDir {
            dir: dir.to_path_buf(),
            source,
        })?;

        let key =
            KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(|e| TlsError::Generate {
                what: "the CA key",
                reason: e.to_string(),
            })?;
        let now = OffsetDateTime::now_utc();
        let mut params = CertificateParams::default();
        params.serial_number = Some(random_serial()?);
        params.not_before = now - Duration::days(1);
        params.not_after = now + Duration::days(CA_VALIDITY_DAYS);
        let mut name = DistinguishedName::new();
        name.push(DnType::CommonName, CA_COMMON_NAME);
        name.push(DnType::OrganizationName, CA_ORGANIZATION);
        name.push(
            DnType::OrganizationalUnitName,
            format!(
                "created {:04}-{:02}-{:02}",
                now.year(),
                u8::from(now.month()),
                now.day()
            ),
        );
        params.distinguished_name = name;
        // pathLen 0: this CA signs leaves only, never another CA.
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key).map_err(|e| TlsError::Generate {
            what: "the CA certificate",
            reason: e.to_string(),
        })?;
        let cert_pem = cert.pem();
        let key_pem = key.serialize_pem();

        let cert_path = dir.join(CA_CERT_FILE);
        let key_path = dir.join(CA_KEY_FILE);
        let key_tmp = write_temp(dir, CA_KEY_FILE, key_pem.as_bytes(), KEY_MODE, "CA key")?;
        let cert_tmp = match write_temp(
            dir,
            CA_CERT_FILE,
            cert_pem.as_bytes(),
            CERT_MODE,
            "CA certificate",
        ) {
            Ok(p) => p,
            Err(e) => {
                let _ = fs::remove_file(&key_tmp);
                return Err(e);
            }
        };

        // The key goes first: a certificate on disk always has its key beside it.
        match publish_file(&key_tmp, &key_path, publish) {
            Ok(true) => {}
            Ok(false) => {
                // Another process created the CA between our check and now: use theirs.
                let _ = fs::remove_file(&cert_tmp);
                return Self::wait_and_load(dir);
            }
            Err(source) => {
                let _ = fs::remove_file(&key_tmp);
                let _ = fs::remove_file(&cert_tmp);
                return Err(TlsError::Write {
                    what: "CA key",
                    path: key_path,
                    dir: dir.to_path_buf(),
                    source,
                });
            }
        }
        match publish_file(&cert_tmp, &cert_path, publish) {
            Ok(true) => {}
            Ok(false) => {
                let _ = fs::remove_file(&cert_tmp);
                return Err(TlsError::Write {
                    what: "CA certificate",
                    path: cert_path,
                    dir: dir.to_path_buf(),
                    source: io::Error::new(
                        io::ErrorKind::AlreadyExists,
                        "another process wrote it at the same time",
                    ),
                });
            }
            Err(source) => {
                let _ = fs::remove_file(&cert_tmp);
                return Err(TlsError::Write {
                    what: "CA certificate",
                    path: cert_path,
                    dir: dir.to_path_buf(),
                    source,
                });
            }
        }
        sync_dir(dir);
        tracing::info!(cert = %cert_path.display(), "created a new interpose CA");

        let cert_der = cert.der().clone();
        let issuer = Issuer::new(params.clone(), key);
        Ok(CertificateAuthority {
            cert_pem,
            cert_der,
            issuer: Arc::new(issuer),
            not_before: params.not_before,
            not_after: params.not_after,
            created_now: true,
        })
    }

    /// Another process is creating the CA: wait for its certificate to appear, then load.
    fn wait_and_load(dir: &Path) -> Result<Self, TlsError> {
        if Self::wait_for_cert(dir)? {
            Self::load(dir)
        } else {
            Self::load_or_create(dir)
        }
    }

    /// Polls for the CA certificate for up to [`CONCURRENT_CREATE_WAIT`]; true once it exists.
    fn wait_for_cert(dir: &Path) -> Result<bool, TlsError> {
        let cert_path = dir.join(CA_CERT_FILE);
        let deadline = Instant::now() + CONCURRENT_CREATE_WAIT;
        loop {
            if exists(&cert_path, dir, "CA certificate")? {
                return Ok(true);
            }
            if Instant::now() >= deadline {
                return Ok(false);
            }
            std::thread::sleep(StdDuration::from_millis(20));
        }
    }

    fn load(dir: &Path) -> Result<Self, TlsError> {
        let cert_path = dir.join(CA_CERT_FILE);
        let key_path = dir.join(CA_KEY_FILE);
        let invalid = |what: &'static str, path: &Path, reason: String| TlsError::Invalid {
            what,
            path: path.to_path_buf(),
            dir: dir.to_path_buf(),
            reason,
        };
        let unreadable =
            |what: &'static str, path: &Path, source: io::Error| TlsError::Unreadable {
                what,
                path: path.to_path_buf(),
                dir: dir.to_path_buf(),
                source,
            };

        tighten_key_mode(&key_path, dir)?;

        let cert_bytes =
            fs::read(&cert_path).map_err(|e| unreadable("CA certificate", &cert_path, e))?;
        let cert_pem = String::from_utf8(cert_bytes).map_err(|_| {
            invalid(
                "CA certificate",
                &cert_path,
                "it is not a PEM text file".into(),
            )
        })?;
        let (_, pem) = x509_parser::pem::parse_x509_pem(cert_pem.as_bytes()).map_err(|e| {
            invalid(
                "CA certificate",
                &cert_path,
                format!("no PEM certificate found ({e})"),
            )
        })?;
        if pem.label != "CERTIFICATE" {
            return Err(invalid(
                "CA certificate",
                &cert_path,
                format!("the PEM block is a {:?}, not a CERTIFICATE", pem.label),
            ));
        }
        let cert_der = CertificateDer::from(pem.contents.clone());
        let (_, x509) = x509_parser::parse_x509_certificate(&cert_der).map_err(|e| {
            invalid(
                "CA certificate",
                &cert_path,
                format!("cannot parse the certificate ({e})"),
            )
        })?;
        if !x509.is_ca() {
            return Err(invalid(
                "CA certificate",
                &cert_path,
                "it is not a CA certificate (basicConstraints CA:TRUE is missing)".into(),
            ));
        }
        let not_before = x509.validity().not_before.to_datetime();
        let not_after = x509.validity().not_after.to_datetime();
        let now = OffsetDateTime::now_utc();
        if not_after <= now {
            return Err(TlsError::Expired {
                path: cert_path,
                expired: format!(
                    "{:04}-{:02}-{:02}",
                    not_after.year(),
                    u8::from(not_after.month()),
                    not_after.day()
                ),
            });
        }
        if not_after - now < Duration::days(30) {
            tracing::warn!(
                cert = %cert_path.display(),
                "the interpose CA expires within 30 days; run `interpose ca regenerate` and trust the new one"
            );
        }

        let key_pem =
            fs::read_to_string(&key_path).map_err(|e| unreadable("CA key", &key_path, e))?;
        let key = KeyPair::from_pem(&key_pem).map_err(|e| {
            invalid(
                "CA key",
                &key_path,
                format!("cannot parse the private key ({e})"),
            )
        })?;
        if key.public_key_raw() != x509.public_key().subject_public_key.data.as_ref() {
            return Err(TlsError::Mismatch {
                cert: cert_path,
                key: key_path,
                dir: dir.to_path_buf(),
            });
        }
        let issuer = Issuer::from_ca_cert_der(&cert_der, key).map_err(|e| {
            invalid(
                "CA certificate",
                &cert_path,
                format!("cannot use it to sign ({e})"),
            )
        })?;
        drop(x509);

        Ok(CertificateAuthority {
            cert_pem,
            cert_der,
            issuer: Arc::new(issuer),
            not_before,
            not_after,
            created_now: false,
        })
    }
}

/// 16 random bytes, positive, no leading zero byte.
pub(crate) fn random_serial() -> Result<SerialNumber, TlsError> {
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    let mut bytes = [0u8; 16];
    provider
        .secure_random
        .fill(&mut bytes)
        .map_err(|_| TlsError::Generate {
            what: "a certificate serial number",
            reason: "the system random number generator failed".into(),
        })?;
    bytes[0] &= 0x7f;
    if bytes[0] == 0 {
        bytes[0] = 1;
    }
    Ok(SerialNumber::from_slice(&bytes))
}

fn exists(path: &Path, dir: &Path, what: &'static str) -> Result<bool, TlsError> {
    path.try_exists().map_err(|source| TlsError::Unreadable {
        what,
        path: path.to_path_buf(),
        dir: dir.to_path_buf(),
        source,
    })
}

/// True if `path` was modified in the last few seconds (a CA being created right now).
fn recently_modified(path: &Path) -> bool {
    fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|age| age < CONCURRENT_CREATE_WAIT)
}

/// Writes `contents` to a fresh temporary file in `dir`, created with `mode` from the start
/// (so a key is never readable by others, not even briefly), synced to disk.
fn write_temp(
    dir: &Path,
    name: &str,
    contents: &[u8],
    mode: u32,
    what: &'static str,
) -> Result<PathBuf, TlsError> {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let tmp = dir.join(format!(".{name}.{}.{nanos}.tmp", std::process::id()));
    let result = (|| -> io::Result<()> {
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(mode);
        }
        let mut file = options.open(&tmp)?;
        // The umask may have removed bits (0644 -> 0600); set exactly what we mean.
        set_mode(&tmp, mode)?;
        file.write_all(contents)?;
        file.sync_all()
    })();
    match result {
        Ok(()) => Ok(tmp),
        Err(source) => {
            let _ = fs::remove_file(&tmp);
            Err(TlsError::Write {
                what,
                path: dir.join(name),
                dir: dir.to_path_buf(),
                source,
            })
        }
    }
}

/// Moves `tmp` to `dest` atomically. With [`Publish::IfAbsent`] it never replaces an existing
/// `dest` and returns `Ok(false)` if one appeared; `tmp` is gone afterwards in every `Ok` case.
fn publish_file(tmp: &Path, dest: &Path, publish: Publish) -> io::Result<bool> {
    if publish == Publish::IfAbsent {
        // A hard link fails if `dest` exists, which rename would silently replace.
        match fs::hard_link(tmp, dest) {
            Ok(()) => {
                let _ = fs::remove_file(tmp);
                return Ok(true);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                let _ = fs::remove_file(tmp);
                return Ok(false);
            }
            // Filesystems without hard links: fall back to rename below.
            Err(_) => {}
        }
    }
    fs::rename(tmp, dest)?;
    Ok(true)
}

fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_path: &Path, _mode: u32) -> io::Result<()> {
    Ok(())
}

/// If the key file is readable or writable by anyone but its owner, restrict it to 0600.
#[cfg(unix)]
fn tighten_key_mode(key_path: &Path, dir: &Path) -> Result<(), TlsError> {
    use std::os::unix::fs::PermissionsExt;
    let meta = fs::metadata(key_path).map_err(|source| TlsError::Unreadable {
        what: "CA key",
        path: key_path.to_path_buf(),
        dir: dir.to_path_buf(),
        source,
    })?;
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 == 0 {
        return Ok(());
    }
    set_mode(key_path, KEY_MODE).map_err(|source| TlsError::KeyPermissions {
        path: key_path.to_path_buf(),
        mode,
        source,
    })?;
    tracing::warn!(
        key = %key_path.display(),
        "the CA key was accessible to other users (mode {mode:03o}); restricted it to 0600. \
         If others may have copied it, run `interpose ca regenerate`"
    );
    Ok(())
}

#[cfg(not(unix))]
fn tighten_key_mode(_key_path: &Path, _dir: &Path) -> Result<(), TlsError> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use x509_parser::prelude::*;

    fn temp_dir(tag: &str) -> PathBuf {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir = std::env::temp_dir().join(format!(
            "interpose-tls-{tag}-{}-{nanos}",
            std::process::id()
        ));
        // `proxy` does not exist yet: load_or_create must create it.
        dir.join("proxy")
    }

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn creates_cert_0644_and_key_0600_in_a_new_dir() {
        let dir = temp_dir("modes");
        let ca = CertificateAuthority::load_or_create(&dir).unwrap();
        assert!(ca.created_now());
        assert_eq!(mode(&dir.join(CA_CERT_FILE)), 0o644);
        assert_eq!(mode(&dir.join(CA_KEY_FILE)), 0o600);
        assert_eq!(
            CertificateAuthority::cert_path(&dir),
            dir.join(CA_CERT_FILE)
        );
        let key = fs::read_to_string(dir.join(CA_KEY_FILE)).unwrap();
        assert!(key.starts_with("-----BEGIN PRIVATE KEY-----"), "{key}");
        assert_eq!(
            fs::read_to_string(dir.join(CA_CERT_FILE)).unwrap(),
            ca.cert_pem()
        );
        // No temporary files are left behind.
        let names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
    }

    #[test]
    fn loading_twice_returns_the_same_ca() {
        let dir = temp_dir("twice");
        let first = CertificateAuthority::load_or_create(&dir).unwrap();
        let second = CertificateAuthority::load_or_create(&dir).unwrap();
        assert!(first.created_now());
        assert!(!second.created_now());
        assert_eq!(first.cert_der(), second.cert_der());
        assert_eq!(first.cert_pem(), second.cert_pem());
    }

    #[test]
    fn regenerate_replaces_the_ca() {
        let dir = temp_dir("regen");
        let first = CertificateAuthority::load_or_create(&dir).unwrap();
        let second = CertificateAuthority::regenerate(&dir).unwrap();
        assert_ne!(first.cert_der(), second.cert_der());
        let third = CertificateAuthority::load_or_create(&dir).unwrap();
        assert_eq!(second.cert_der(), third.cert_der());
        assert_eq!(mode(&dir.join(CA_KEY_FILE)), 0o600);
    }

    #[test]
    fn deleting_the_dir_makes_a_fresh_ca() {
        let dir = temp_dir("delete");
        let first = CertificateAuthority::load_or_create(&dir).unwrap();
        fs::remove_dir_all(&dir).unwrap();
        let second = CertificateAuthority::load_or_create(&dir).unwrap();
        assert!(second.created_now());
        assert_ne!(first.cert_der(), second.cert_der());
    }

    #[test]
    fn ca_is_a_ten_year_p256_ca_for_signing_certs_and_crls() {
        let dir = temp_dir("ext");
        let ca = CertificateAuthority::load_or_create(&dir).unwrap();
        let (_, x509) = parse_x509_certificate(ca.cert_der()).unwrap();

        let bc = x509.basic_constraints().unwrap().expect("basicConstraints");
        assert!(bc.critical);
        assert!(bc.value.ca);
        let ku = x509.key_usage().unwrap().expect("keyUsage");
        assert!(ku.value.key_cert_sign());
        assert!(ku.value.crl_sign());
        assert!(x509
            .get_extension_unique(&x509_parser::oid_registry::OID_X509_EXT_SUBJECT_KEY_IDENTIFIER)
            .unwrap()
            .is_some());

        let subject = x509.subject();
        let cn = subject.iter_common_name().next().unwrap().as_str().unwrap();
        let org = subject
            .iter_organization()
            .next()
            .unwrap()
            .as_str()
            .unwrap();
        assert_eq!(cn, "interpose CA");
        assert_eq!(org, "interpose");
        assert_eq!(x509.subject(), x509.issuer());

        let now = OffsetDateTime::now_utc();
        let nb = x509.validity().not_before.to_datetime();
        let na = x509.validity().not_after.to_datetime();
        assert!(nb < now - Duration::hours(23), "not backdated: {nb}");
        let years = (na - now).whole_days() as f64 / 365.25;
        assert!((9.9..=10.1).contains(&years), "validity {years} years");

        // ECDSA P-256 public key.
        assert_eq!(
            x509.public_key().algorithm.algorithm,
            x509_parser::oid_registry::OID_KEY_TYPE_EC_PUBLIC_KEY
        );
        let positive = x509.tbs_certificate.serial.bits() > 64;
        assert!(positive, "serial too short");
    }

    #[test]
    fn only_one_file_present_is_an_error_naming_the_dir() {
        let dir = temp_dir("half");
        CertificateAuthority::load_or_create(&dir).unwrap();
        fs::remove_file(dir.join(CA_KEY_FILE)).unwrap();
        let err = CertificateAuthority::load_or_create(&dir).unwrap_err();
        assert!(matches!(err, TlsError::Incomplete { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(msg.contains(&dir.display().to_string()), "{msg}");
        assert!(msg.contains("interpose ca regenerate"), "{msg}");
        // Regenerate repairs it.
        CertificateAuthority::regenerate(&dir).unwrap();
        CertificateAuthority::load_or_create(&dir).unwrap();
    }

    #[test]
    fn mismatched_key_is_an_error() {
        let a = temp_dir("mismatch-a");
        let b = temp_dir("mismatch-b");
        CertificateAuthority::load_or_create(&a).unwrap();
        CertificateAuthority::load_or_create(&b).unwrap();
        fs::copy(b.join(CA_KEY_FILE), a.join(CA_KEY_FILE)).unwrap();
        let err = CertificateAuthority::load_or_create(&a).unwrap_err();
        assert!(matches!(err, TlsError::Mismatch { .. }), "{err:?}");
        assert!(err.to_string().contains("delete"), "{err}");
    }

    #[test]
    fn garbage_cert_is_an_error() {
        let dir = temp_dir("garbage");
        CertificateAuthority::load_or_create(&dir).unwrap();
        fs::write(dir.join(CA_CERT_FILE), "not a certificate\n").unwrap();
        let err = CertificateAuthority::load_or_create(&dir).unwrap_err();
        assert!(matches!(err, TlsError::Invalid { .. }), "{err:?}");
        assert!(err.to_string().contains(CA_CERT_FILE), "{err}");
    }

    #[test]
    fn unreadable_key_is_an_error_naming_the_file() {
        let dir = temp_dir("unreadable");
        CertificateAuthority::load_or_create(&dir).unwrap();
        let key = dir.join(CA_KEY_FILE);
        // A directory where the key should be cannot be read as a file (works as root too).
        fs::remove_file(&key).unwrap();
        fs::create_dir(&key).unwrap();
        fs::set_permissions(&key, fs::Permissions::from_mode(0o700)).unwrap();
        let err = CertificateAuthority::load_or_create(&dir).unwrap_err();
        assert!(matches!(err, TlsError::Unreadable { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(msg.contains(&key.display().to_string()), "{msg}");
        assert!(msg.contains("unreadable"), "{msg}");
    }

    #[test]
    fn loose_key_mode_is_tightened_to_0600() {
        let dir = temp_dir("loose");
        let first = CertificateAuthority::load_or_create(&dir).unwrap();
        let key = dir.join(CA_KEY_FILE);
        fs::set_permissions(&key, fs::Permissions::from_mode(0o644)).unwrap();
        let second = CertificateAuthority::load_or_create(&dir).unwrap();
        assert_eq!(mode(&key), 0o600);
        assert_eq!(first.cert_der(), second.cert_der());
    }

    #[test]
    fn concurrent_first_runs_agree_on_one_ca() {
        let dir = temp_dir("race");
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let dir = dir.clone();
                std::thread::spawn(move || CertificateAuthority::load_or_create(&dir).unwrap())
            })
            .collect();
        let cas: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let on_disk = CertificateAuthority::load_or_create(&dir).unwrap();
        for ca in &cas {
            assert_eq!(ca.cert_der(), on_disk.cert_der());
        }
    }
}
