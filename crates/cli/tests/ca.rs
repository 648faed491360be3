//! The CA files and `interpose ca ...`.

mod support;

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::time::Duration;

use interpose_testsupport::{Origin, Protocols, TestCa};
use support::{DataDir, Signal};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("stat {}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

fn assert_ca_files(data: &DataDir) {
    assert_eq!(
        mode(&data.ca_cert_path()),
        0o644,
        "{} mode",
        data.ca_cert_path().display()
    );
    assert_eq!(
        mode(&data.ca_key_path()),
        0o600,
        "{} mode",
        data.ca_key_path().display()
    );
    let pem = data.ca_pem();
    assert!(
        pem.starts_with("-----BEGIN CERTIFICATE-----"),
        "the CA file is a PEM certificate: {pem}"
    );
}

#[test]
fn first_capture_creates_the_ca_cert_0644_and_key_0600() {
    let data = DataDir::new();
    assert!(!data.ca_cert_path().exists());
    let capture = data.capture(&[]);
    assert_ca_files(&data);
    drop(capture);
}

#[test]
fn ca_path_creates_the_ca_and_prints_its_path() {
    let data = DataDir::new();
    let stdout = data.run_ok(&["ca", "path"]);
    assert_eq!(stdout.trim(), data.ca_cert_path().display().to_string());
    assert_ca_files(&data);

    // A second call prints the same path and keeps the same CA.
    let pem = data.ca_pem();
    assert_eq!(data.run_ok(&["ca", "path"]), stdout);
    assert_eq!(data.ca_pem(), pem);
}

#[test]
fn ca_export_prints_the_pem_in_the_ca_file() {
    let data = DataDir::new();
    let stdout = data.run_ok(&["ca", "export"]);
    assert_eq!(stdout, data.ca_pem());
}

#[test]
fn ca_export_der_writes_the_certificate_as_der_to_a_file() {
    let data = DataDir::new();
    let out = data.path().join("interpose-proxy-ca.cer");
    data.run_ok(&["ca", "export", "--der", "-o", out.to_str().unwrap()]);
    let der = std::fs::read(&out).unwrap();
    assert_eq!(der.first(), Some(&0x30), "DER starts with a SEQUENCE");

    let (rest, cert) = x509_parser::parse_x509_certificate(&der).expect("DER parses");
    assert!(rest.is_empty(), "no bytes after the certificate");
    let constraints = cert
        .basic_constraints()
        .expect("one basicConstraints")
        .expect("basicConstraints present");
    assert!(constraints.value.ca, "basicConstraints CA:TRUE");
    assert!(
        cert.subject().to_string().contains("interpose"),
        "a name users recognise: {}",
        cert.subject()
    );

    // The same certificate as the PEM file.
    let pem = data.ca_pem();
    let (_, pem) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).expect("PEM parses");
    assert_eq!(pem.contents, der);
}

#[test]
fn ca_regenerate_replaces_the_certificate() {
    let data = DataDir::new();
    data.run_ok(&["ca", "path"]);
    let before = data.ca_pem();
    let stdout = data.run_ok(&["ca", "regenerate"]);
    assert!(
        stdout.contains(&data.ca_cert_path().display().to_string()),
        "regenerate names the new CA file: {stdout}"
    );
    let after = data.ca_pem();
    assert_ne!(before, after, "regenerate made a new certificate");
    assert_ca_files(&data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_the_proxy_dir_makes_a_fresh_ca_that_capture_then_uses() {
    let data = DataDir::new();
    let test_ca = TestCa::new();
    let upstream_ca = test_ca.write_pem(data.path());
    let origin = Origin::https(&test_ca, Protocols::Both).await;

    let mut first = data.capture(&[]);
    let old = data.ca_pem();
    let status = first.stop(Signal::TERM, Duration::from_secs(10));
    assert!(status.success(), "capture stopped cleanly: {status}");

    std::fs::remove_dir_all(data.path().join("proxy")).unwrap();
    let second = data.capture(&["--upstream-ca", upstream_ca.to_str().unwrap()]);
    let new = data.ca_pem();
    assert_ne!(old, new, "a fresh CA after deleting proxy/");
    assert_ca_files(&data);
    assert!(
        second.first_lines.len() == 1 && second.session == Some(2),
        "second run is session 2: {:?}",
        second.first_lines
    );

    // The running proxy signs with the new CA: a client trusting it gets through.
    let resp = second
        .client()
        .get(origin.url("/hello"))
        .send()
        .await
        .expect("HTTPS through the proxy, trusting the new CA");
    assert_eq!(resp.status(), 200);

    // And a client still trusting the old one is refused.
    let stale = interpose_testsupport::proxied_client(&second.proxy_url(), &[&old]);
    let err = stale
        .get(origin.url("/hello"))
        .send()
        .await
        .expect_err("the old CA no longer signs the proxy's leaves");
    assert!(err.is_connect() || err.is_request(), "{err:?}");
}

#[test]
fn ca_trust_help_names_the_ca_path_and_every_platform() {
    let data = DataDir::new();
    let help = data.run_ok(&["ca", "trust-help"]);
    let path = data.ca_cert_path().display().to_string();
    assert!(help.contains(&path), "trust-help shows {path}:\n{help}");
    for platform in [
        "Debian", "Ubuntu", "RHEL", "macOS", "Windows", "Firefox", "Chromium", "iOS", "Android",
    ] {
        assert!(
            help.contains(platform),
            "trust-help covers {platform}:\n{help}"
        );
    }
}
