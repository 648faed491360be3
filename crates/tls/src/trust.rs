//! Per-platform steps to trust the CA.

use std::path::Path;

use crate::ca::CA_KEY_FILE;

/// Quotes `s` for a POSIX shell when it needs it.
fn sh_quote(s: &str) -> String {
    let safe = !s.is_empty()
        && s.chars().all(|c| {
            c.is_ascii_alphanumeric()
                || matches!(c, '/' | '.' | '_' | '-' | '+' | ':' | '~' | '@' | ',')
        });
    if safe {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// The exact steps to trust the CA at `ca_path` on Debian/Ubuntu, RHEL/CentOS/Fedora,
/// macOS, Windows, Firefox, Chromium/Chrome on Linux (NSS), iOS and Android, plus single
/// programs (curl, Python, Node.js, Java).
pub fn trust_help(ca_path: &Path) -> String {
    let path = ca_path.display().to_string();
    let q = sh_quote(&path);
    let dir = ca_path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let key = dir.join(CA_KEY_FILE).display().to_string();
    let qdir = sh_quote(&dir.display().to_string());

    format!(
        r#"Trusting the interpose CA
=========================

CA certificate (PEM): {path}
Its private key is {key}: anyone holding it can impersonate any site to a device
that trusts this CA. Keep it private, and remove the CA from devices you no longer
test with. Where a platform wants DER, export a copy with:
    interpose ca export --der -o interpose-proxy-ca.cer

Debian / Ubuntu (system store: curl, wget, apt, Python, most command-line tools)
    sudo cp {q} /usr/local/share/ca-certificates/interpose-proxy-ca.crt
    sudo update-ca-certificates
  Remove: sudo rm /usr/local/share/ca-certificates/interpose-proxy-ca.crt && sudo update-ca-certificates --fresh

RHEL / CentOS / Fedora
    sudo cp {q} /etc/pki/ca-trust/source/anchors/interpose-proxy-ca.crt
    sudo update-ca-trust extract
  Remove: sudo rm /etc/pki/ca-trust/source/anchors/interpose-proxy-ca.crt && sudo update-ca-trust extract

macOS (Safari, Chrome, curl and everything using the Keychain)
    sudo security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain {q}
  For your user only (no sudo):
    security add-trusted-cert -r trustRoot -k ~/Library/Keychains/login.keychain-db {q}
  Remove: sudo security delete-certificate -c "interpose CA" /Library/Keychains/System.keychain

Windows (Edge, Chrome and programs using the Windows certificate store)
    interpose ca export --der -o interpose-proxy-ca.cer
  then, in a Command Prompt run as Administrator:
    certutil -addstore -f Root interpose-proxy-ca.cer
  or for your user only (no Administrator):
    certutil -user -addstore -f Root interpose-proxy-ca.cer
  PowerShell alternative:
    Import-Certificate -FilePath interpose-proxy-ca.cer -CertStoreLocation Cert:\CurrentUser\Root
  Remove: certutil -delstore Root "interpose CA"

Firefox (every platform; it keeps its own certificate store)
  Settings > Privacy & Security > Certificates > View Certificates > Authorities >
  Import..., choose {path}, tick "Trust this CA to identify websites".
  From a shell on Linux, with Firefox closed (needs NSS certutil:
  `sudo apt install libnss3-tools` or `sudo dnf install nss-tools`):
    for db in ~/.mozilla/firefox/*/ ~/snap/firefox/common/.mozilla/firefox/*/; do
      [ -f "$db/cert9.db" ] && certutil -A -d "sql:$db" -t "C,," -n "interpose CA" -i {q}
    done
  On Windows and macOS you can instead set security.enterprise_roots.enabled to true
  in about:config, and Firefox uses the system store set up above.

Chromium / Chrome on Linux (NSS store in ~/.pki/nssdb)
    sudo apt install libnss3-tools        # or: sudo dnf install nss-tools
    mkdir -p ~/.pki/nssdb
    [ -f ~/.pki/nssdb/cert9.db ] || certutil -d sql:$HOME/.pki/nssdb -N --empty-password
    certutil -d sql:$HOME/.pki/nssdb -A -t "C,," -n "interpose CA" -i {q}
  Restart the browser. Remove: certutil -d sql:$HOME/.pki/nssdb -D -n "interpose CA"

iOS / iPadOS
  1. Put the certificate on the device: AirDrop or mail {path} to it, or serve it
     from this machine and open it in Safari:
       cd {qdir} && python3 -m http.server 8000
       then on the device: http://<this machine's LAN IP>:8000/interpose-proxy-ca.crt
  2. Settings > General > VPN & Device Management > "interpose CA" > Install.
  3. Settings > General > About > Certificate Trust Settings > turn on full trust
     for "interpose CA" (without this step iOS installs it but does not trust it).
  4. Settings > Wi-Fi > (i) next to your network > Configure Proxy > Manual:
     this machine's LAN IP and the proxy port. The proxy must listen on the LAN,
     e.g. `interpose capture --listen 0.0.0.0:5555`.

Android
  1. Export DER and copy it to the device:
       interpose ca export --der -o interpose-proxy-ca.cer
       adb push interpose-proxy-ca.cer /sdcard/Download/
  2. Settings > Security & privacy > More security settings > Encryption & credentials >
     Install a certificate > CA certificate, and pick interpose-proxy-ca.cer
     (names vary by vendor: search Settings for "CA certificate").
  3. Point Wi-Fi at the proxy: Settings > Network & internet > Wi-Fi > your network >
     Edit > Advanced > Proxy: Manual, with this machine's LAN IP and port; or
       adb shell settings put global http_proxy <this machine's LAN IP>:5555
     (undo: adb shell settings put global http_proxy :0)
  Since Android 7, apps trust user-installed CAs only when they opt in through
  network_security_config (<certificates src="user"/>). Chrome does; most apps
  do not, and apps that pin certificates cannot be intercepted at all.

Single programs, without changing the system
    curl --cacert {q} https://example.com/
    export REQUESTS_CA_BUNDLE={q}   # Python requests (replaces its default CAs)
    export NODE_EXTRA_CA_CERTS={q}  # Node.js (adds to its default CAs)
    keytool -importcert -cacerts -alias interpose-ca -file {q}   # Java; store password "changeit"
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn covers_every_platform_with_real_commands_and_the_path() {
        let path = Path::new("/home/u/.local/share/interpose/proxy/interpose-proxy-ca.crt");
        let help = trust_help(path);
        for needle in [
            "/home/u/.local/share/interpose/proxy/interpose-proxy-ca.crt",
            "/home/u/.local/share/interpose/proxy/interpose-proxy-ca.key",
            "update-ca-certificates",
            "update-ca-trust",
            "security add-trusted-cert",
            "certutil -addstore",
            "certutil -d sql:$HOME/.pki/nssdb -A",
            "Firefox",
            "Chromium",
            "iOS",
            "Certificate Trust Settings",
            "Android",
            "adb push",
            "interpose ca export --der -o",
        ] {
            assert!(help.contains(needle), "missing {needle:?} in:\n{help}");
        }
    }

    #[test]
    fn paths_with_spaces_are_quoted_for_the_shell() {
        let help = trust_help(Path::new("/Users/Jo Doe/Library/interpose/proxy/ca.crt"));
        assert!(help.contains("sudo cp '/Users/Jo Doe/Library/interpose/proxy/ca.crt' /usr/local"));
        assert!(help.contains("cd '/Users/Jo Doe/Library/interpose/proxy' &&"));
        assert_eq!(sh_quote("it's"), r"'it'\''s'");
        assert_eq!(sh_quote("/plain/path.crt"), "/plain/path.crt");
    }
}
