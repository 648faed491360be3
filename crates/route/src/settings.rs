//! `settings.toml`: the keys DESIGN.md lists, their defaults, validation,
//! and an atomic, private (mode 0600) save.

use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use toml::de::{DeTable, DeValue};

use crate::bypass::Bypass;
use crate::proxy_url::{check_host_name, mask_userinfo, ProxyUrl};

/// Everything in `settings.toml`.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub proxy: ProxySettings,
    pub capture: CaptureSettings,
}

/// `proxy.*`
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProxySettings {
    pub system: SystemProxySettings,
    pub custom: CustomProxySettings,
    pub default_auth: ProxyAuthSettings,
}

/// `proxy.system.*`: the environment's proxy (`HTTP_PROXY` and friends).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SystemProxySettings {
    /// Use the system proxy at all (default true).
    pub enabled: bool,
    /// Read `http_proxy`/`HTTPS_PROXY`/`ALL_PROXY`/`NO_PROXY` (default true).
    pub use_env: bool,
}

impl Default for SystemProxySettings {
    fn default() -> Self {
        SystemProxySettings {
            enabled: true,
            use_env: true,
        }
    }
}

/// `proxy.custom.*`: a proxy configured here, which beats the environment.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CustomProxySettings {
    /// Default false.
    pub enabled: bool,
    /// Use it for `http://` URLs (default true).
    pub http: bool,
    /// Use it for `https://` URLs (default true).
    pub https: bool,
    /// A host name or IP address, no scheme, no port.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// Comma-separated bypass list (see [`Bypass`]); empty for none.
    pub bypass: String,
}

impl Default for CustomProxySettings {
    fn default() -> Self {
        CustomProxySettings {
            enabled: false,
            http: true,
            https: true,
            host: None,
            port: None,
            username: None,
            password: None,
            bypass: String::new(),
        }
    }
}

/// `proxy.default_auth.*`: credentials for a system proxy whose URL has none.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProxyAuthSettings {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

/// `capture.*`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CaptureSettings {
    /// The capture proxy's port (default 5555).
    pub port: u16,
    /// Keep response bodies (default true).
    pub save_responses: bool,
}

impl Default for CaptureSettings {
    fn default() -> Self {
        CaptureSettings {
            port: 5555,
            save_responses: true,
        }
    }
}

/// A settings file or command that cannot be carried out.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("cannot read settings file {}: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("cannot read settings file {}: line {line}: {message}", path.display())]
    Syntax {
        path: PathBuf,
        line: usize,
        message: String,
    },
    /// A key or value in the file is wrong; `error` says which and how.
    #[error("cannot read settings file {}: line {line}: {error}", path.display())]
    InFile {
        path: PathBuf,
        line: usize,
        error: Box<SettingsError>,
    },
    #[error("cannot write settings file {}: {source}", path.display())]
    Write { path: PathBuf, source: io::Error },
    #[error("unknown setting \"{key}\"{}; valid keys: {}", did_you_mean(suggestion.as_deref()), Settings::KEYS.join(", "))]
    UnknownKey {
        key: String,
        suggestion: Option<&'static str>,
    },
    /// The message names the key and gives a valid example.
    #[error("{message}")]
    BadValue { key: &'static str, message: String },
}

fn did_you_mean(suggestion: Option<&str>) -> String {
    suggestion
        .map(|s| format!(" (did you mean \"{s}\"?)"))
        .unwrap_or_default()
}

impl Settings {
    /// Every key `set` accepts and `show` prints, in that order.
    pub const KEYS: &'static [&'static str] = &[
        "proxy.system.enabled",
        "proxy.system.use_env",
        "proxy.custom.enabled",
        "proxy.custom.http",
        "proxy.custom.https",
        "proxy.custom.host",
        "proxy.custom.port",
        "proxy.custom.username",
        "proxy.custom.password",
        "proxy.custom.bypass",
        "proxy.default_auth.username",
        "proxy.default_auth.password",
        "capture.port",
        "capture.save_responses",
    ];

    /// Reads `path`. A missing file means all defaults; a file that cannot
    /// be used is an error naming the file, the line and the key.
    ///
    /// Values go through the same checks as [`Settings::set`], so a file
    /// can hold nothing that `settings set` would refuse. Keys left out
    /// keep their defaults.
    pub fn load(path: &Path) -> Result<Settings, SettingsError> {
        let text = match fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Settings::default()),
            Err(source) => {
                return Err(SettingsError::Read {
                    path: path.to_owned(),
                    source,
                })
            }
        };
        Settings::from_toml(&text).map_err(|(line, error)| match error {
            FileError::Syntax(message) => SettingsError::Syntax {
                path: path.to_owned(),
                line,
                message,
            },
            FileError::Setting(error) => SettingsError::InFile {
                path: path.to_owned(),
                line,
                error: Box::new(error),
            },
        })
    }

    /// Parses the contents of a settings file; errors carry the line.
    fn from_toml(text: &str) -> Result<Settings, (usize, FileError)> {
        let table = DeTable::parse(text).map_err(|e| {
            let line = e.span().map_or(1, |span| line_of(text, span.start));
            (line, FileError::Syntax(e.message().trim().to_owned()))
        })?;
        let mut settings = Settings::default();
        settings.apply_table(text, "", table.get_ref())?;
        Ok(settings)
    }

    fn apply_table(
        &mut self,
        text: &str,
        prefix: &str,
        table: &DeTable<'_>,
    ) -> Result<(), (usize, FileError)> {
        for (key, value) in table.iter() {
            let full = if prefix.is_empty() {
                key.get_ref().to_string()
            } else {
                format!("{prefix}.{}", key.get_ref())
            };
            let line = line_of(text, key.span().start);
            let in_file = |error| (line, FileError::Setting(error));
            let is_key = Settings::KEYS.contains(&full.as_str());
            match value.get_ref() {
                DeValue::Table(inner) if !is_key => {
                    if is_section(&full) {
                        self.apply_table(text, &full, inner)?;
                    } else {
                        return Err(in_file(unknown_key(&full)));
                    }
                }
                _ if !is_key => return Err(in_file(unknown_key(&full))),
                DeValue::String(s) => self.set(&full, s).map_err(in_file)?,
                DeValue::Boolean(b) => self.set(&full, &b.to_string()).map_err(in_file)?,
                DeValue::Integer(i) => {
                    let n = i64::from_str_radix(i.as_str(), i.radix())
                        .map(|n| n.to_string())
                        .unwrap_or_else(|_| i.as_str().to_owned());
                    self.set(&full, &n).map_err(in_file)?
                }
                other => return Err(in_file(wrong_type(&full, other.type_str()))),
            }
        }
        Ok(())
    }

    /// Writes the settings to `path` atomically: a private temporary file
    /// in the same folder, flushed, then renamed over `path`, so a reader
    /// sees the old file or the new one, never half of one. The file has
    /// mode 0600 because it may hold proxy passwords. The folder is created
    /// if needed.
    pub fn save(&self, path: &Path) -> Result<(), SettingsError> {
        let write_err = |source| SettingsError::Write {
            path: path.to_owned(),
            source,
        };
        let body = toml::to_string(self).map_err(|e| write_err(io::Error::other(e)))?;
        let text = format!(
            "# interpose settings: change with `interpose settings set KEY VALUE`.\n\
             # May hold proxy passwords; keep this file private (mode 0600).\n\n{body}"
        );
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
            _ => PathBuf::from("."),
        };
        fs::create_dir_all(&dir).map_err(write_err)?;
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "settings.toml".to_owned());
        let (tmp_path, mut file) = create_private_temp(&dir, &file_name).map_err(write_err)?;
        let result = file
            .write_all(text.as_bytes())
            .and_then(|()| file.sync_all())
            .and_then(|()| {
                drop(file);
                fs::rename(&tmp_path, path)
            });
        if let Err(source) = result {
            let _ = fs::remove_file(&tmp_path);
            return Err(write_err(source));
        }
        // Make the rename itself durable where the platform allows it.
        if let Ok(dir) = fs::File::open(&dir) {
            let _ = dir.sync_all();
        }
        Ok(())
    }

    /// Sets one key from its command-line text.
    ///
    /// Booleans take `true`/`false` (also `yes`/`no`, `on`/`off`, `1`/`0`);
    /// ports a number from 1 to 65535; `proxy.custom.host` a host name or
    /// IP address without scheme or port. An empty value clears an optional
    /// key (host, port, user names, passwords, bypass). Errors name the key
    /// and show a command that would work.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), SettingsError> {
        let custom = &mut self.proxy.custom;
        match key {
            "proxy.system.enabled" => self.proxy.system.enabled = parse_bool(key, value)?,
            "proxy.system.use_env" => self.proxy.system.use_env = parse_bool(key, value)?,
            "proxy.custom.enabled" => custom.enabled = parse_bool(key, value)?,
            "proxy.custom.http" => custom.http = parse_bool(key, value)?,
            "proxy.custom.https" => custom.https = parse_bool(key, value)?,
            "proxy.custom.host" => custom.host = parse_host(value)?,
            "proxy.custom.port" => custom.port = parse_optional_port(key, value)?,
            "proxy.custom.username" => custom.username = optional(value),
            "proxy.custom.password" => custom.password = optional(value),
            "proxy.custom.bypass" => custom.bypass = parse_bypass(value)?,
            "proxy.default_auth.username" => {
                self.proxy.default_auth.username = optional(value);
            }
            "proxy.default_auth.password" => {
                self.proxy.default_auth.password = optional(value);
            }
            "capture.port" => {
                self.capture.port = parse_optional_port(key, value)?
                    .ok_or_else(|| bad_port(static_key(key), value))?;
            }
            "capture.save_responses" => self.capture.save_responses = parse_bool(key, value)?,
            _ => return Err(unknown_key(key)),
        }
        Ok(())
    }

    /// The value of `key` as `set` would take it back, passwords included
    /// (use [`Settings::show`] for anything a person will see). Unset
    /// optional keys are `""`. `None` for an unknown key.
    pub fn get(&self, key: &str) -> Option<String> {
        let custom = &self.proxy.custom;
        let text = |v: &Option<String>| v.clone().unwrap_or_default();
        Some(match key {
            "proxy.system.enabled" => self.proxy.system.enabled.to_string(),
            "proxy.system.use_env" => self.proxy.system.use_env.to_string(),
            "proxy.custom.enabled" => custom.enabled.to_string(),
            "proxy.custom.http" => custom.http.to_string(),
            "proxy.custom.https" => custom.https.to_string(),
            "proxy.custom.host" => text(&custom.host),
            "proxy.custom.port" => custom.port.map(|p| p.to_string()).unwrap_or_default(),
            "proxy.custom.username" => text(&custom.username),
            "proxy.custom.password" => text(&custom.password),
            "proxy.custom.bypass" => custom.bypass.clone(),
            "proxy.default_auth.username" => text(&self.proxy.default_auth.username),
            "proxy.default_auth.password" => text(&self.proxy.default_auth.password),
            "capture.port" => self.capture.port.to_string(),
            "capture.save_responses" => self.capture.save_responses.to_string(),
            _ => return None,
        })
    }

    /// Every key as `key = value`, one per line in [`Settings::KEYS`]
    /// order; a password that is set shows as `***`, an unset value as
    /// nothing after the `=`.
    pub fn show(&self) -> String {
        let mut out = String::new();
        for key in Settings::KEYS {
            let value = self.get(key).unwrap_or_default();
            let shown = if key.ends_with(".password") && !value.is_empty() {
                "***"
            } else {
                value.as_str()
            };
            if shown.is_empty() {
                out.push_str(&format!("{key} =\n"));
            } else {
                out.push_str(&format!("{key} = {shown}\n"));
            }
        }
        out
    }
}

impl fmt::Debug for Settings {
    /// Like [`Settings::show`]: passwords masked.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Settings {\n")?;
        for line in self.show().lines() {
            writeln!(f, "    {line}")?;
        }
        f.write_str("}")
    }
}

impl fmt::Debug for ProxySettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxySettings")
            .field("system", &self.system)
            .field("custom", &self.custom)
            .field("default_auth", &self.default_auth)
            .finish()
    }
}

fn masked(password: &Option<String>) -> Option<&'static str> {
    password.as_ref().map(|_| "***")
}

impl fmt::Debug for CustomProxySettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CustomProxySettings")
            .field("enabled", &self.enabled)
            .field("http", &self.http)
            .field("https", &self.https)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("username", &self.username)
            .field("password", &masked(&self.password))
            .field("bypass", &self.bypass)
            .finish()
    }
}

impl fmt::Debug for ProxyAuthSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxyAuthSettings")
            .field("username", &self.username)
            .field("password", &masked(&self.password))
            .finish()
    }
}

enum FileError {
    Syntax(String),
    Setting(SettingsError),
}

/// The tables a settings file may have.
fn is_section(name: &str) -> bool {
    matches!(
        name,
        "proxy" | "proxy.system" | "proxy.custom" | "proxy.default_auth" | "capture"
    )
}

fn line_of(text: &str, offset: usize) -> usize {
    let offset = offset.min(text.len());
    text.as_bytes()[..offset]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// The `'static` spelling of a known key (for error values).
fn static_key(key: &str) -> &'static str {
    Settings::KEYS
        .iter()
        .find(|k| **k == key)
        .copied()
        .unwrap_or("setting")
}

fn unknown_key(key: &str) -> SettingsError {
    SettingsError::UnknownKey {
        key: key.to_owned(),
        suggestion: suggest(key),
    }
}

/// The key a near miss was probably meant to be: a small edit distance
/// (`proxy.custom.hots`), or the one key that ends with what was typed
/// (`custom.port`, `use_env`).
fn suggest(key: &str) -> Option<&'static str> {
    let key = key.trim().to_ascii_lowercase();
    if key.is_empty() {
        return None;
    }
    let best = Settings::KEYS
        .iter()
        .map(|k| (edit_distance(&key, k), *k))
        .min()
        .filter(|(distance, _)| *distance <= 3);
    if let Some((_, k)) = best {
        return Some(k);
    }
    let mut tails = Settings::KEYS
        .iter()
        .filter(|k| k.ends_with(&format!(".{key}")) || k.ends_with(&format!("_{key}")));
    match (tails.next(), tails.next()) {
        (Some(k), None) => Some(k),
        _ => None,
    }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

fn bad(key: &str, what: &str, example: &str) -> SettingsError {
    SettingsError::BadValue {
        key: static_key(key),
        message: format!("{key} must be {what}, e.g. settings set {key} {example}"),
    }
}

/// A file value of a TOML type no setting takes (array, float, date, table).
fn wrong_type(key: &str, found: &str) -> SettingsError {
    let (what, example) = match key {
        "proxy.custom.port" => ("a number from 1 to 65535", "8080"),
        "capture.port" => ("a number from 1 to 65535", "5555"),
        "proxy.custom.host" => ("a host name in quotes", "\"proxy.example.com\""),
        "proxy.custom.bypass" => (
            "one string of comma-separated entries",
            "\"localhost, .internal.example.com\"",
        ),
        k if k.ends_with(".username") || k.ends_with(".password") => ("a string", "\"alice\""),
        _ => ("true or false", "true"),
    };
    SettingsError::BadValue {
        key: static_key(key),
        message: format!("{key} must be {what} (found {found}), e.g. {key} = {example}"),
    }
}

fn parse_bool(key: &str, value: &str) -> Result<bool, SettingsError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Ok(true),
        "false" | "no" | "off" | "0" => Ok(false),
        _ => Err(bad(
            key,
            &format!("true or false (not \"{}\")", value.escape_debug()),
            "true",
        )),
    }
}

fn bad_port(key: &'static str, value: &str) -> SettingsError {
    let example = if key == "capture.port" {
        "5555"
    } else {
        "8080"
    };
    bad(
        key,
        &format!(
            "a number from 1 to 65535 (not \"{}\")",
            value.escape_debug()
        ),
        example,
    )
}

fn parse_optional_port(key: &str, value: &str) -> Result<Option<u16>, SettingsError> {
    let value_trimmed = value.trim();
    if value_trimmed.is_empty() {
        return Ok(None);
    }
    match value_trimmed.parse::<u16>() {
        Ok(port) if port > 0 && value_trimmed.bytes().all(|b| b.is_ascii_digit()) => Ok(Some(port)),
        _ => Err(bad_port(static_key(key), value)),
    }
}

fn optional(value: &str) -> Option<String> {
    (!value.is_empty()).then(|| value.to_owned())
}

/// `proxy.custom.host`: a bare host. Something URL-shaped is refused with
/// the exact commands that would set what it seems to mean.
fn parse_host(value: &str) -> Result<Option<String>, SettingsError> {
    const KEY: &str = "proxy.custom.host";
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    let looks_like_url = value.contains("://") || value.contains('@') || value.contains('/');
    let host_port = !looks_like_url
        && (value.contains("]:") || (!value.starts_with('[') && value.matches(':').count() == 1));
    if looks_like_url || host_port {
        let (example, port_hint) = match ProxyUrl::parse(value) {
            Ok(url) => {
                let explicit_port = value
                    .rsplit_once(':')
                    .is_some_and(|(_, p)| p.trim_end_matches('/').parse::<u16>().is_ok());
                let hint = if explicit_port {
                    format!(" and settings set proxy.custom.port {}", url.port)
                } else {
                    String::new()
                };
                (url.host, hint)
            }
            Err(_) => ("proxy.example.com".to_owned(), String::new()),
        };
        let what = if host_port {
            "a host name or IP address without a port"
        } else {
            "a host name or IP address without a scheme, credentials or path"
        };
        // Never echo a password typed into the host.
        let shown = mask_userinfo(value);
        return Err(SettingsError::BadValue {
            key: KEY,
            message: format!(
                "{KEY} must be {what} (not \"{shown}\"), e.g. settings set {KEY} {example}{port_hint}"
            ),
        });
    }
    let unbracketed = value
        .strip_prefix('[')
        .and_then(|v| v.strip_suffix(']'))
        .unwrap_or(value);
    if unbracketed.contains(':') {
        return match unbracketed.parse::<std::net::Ipv6Addr>() {
            Ok(_) => Ok(Some(unbracketed.to_ascii_lowercase())),
            Err(_) => Err(bad(
                KEY,
                &format!("a host name or IP address (\"{value}\" is neither)"),
                "proxy.example.com",
            )),
        };
    }
    match check_host_name(unbracketed) {
        Ok(()) => Ok(Some(unbracketed.to_ascii_lowercase())),
        Err(why) => Err(SettingsError::BadValue {
            key: KEY,
            message: format!(
                "{KEY} must be a host name or IP address: {why}, e.g. settings set {KEY} proxy.example.com"
            ),
        }),
    }
}

fn parse_bypass(value: &str) -> Result<String, SettingsError> {
    const KEY: &str = "proxy.custom.bypass";
    let bypass = Bypass::parse(value);
    if let Some((entry, why)) = bypass.invalid_entries().next() {
        return Err(SettingsError::BadValue {
            key: KEY,
            message: format!(
                "{KEY} entry \"{entry}\" cannot match anything: {why}; \
                 e.g. settings set {KEY} \"localhost, .internal.example.com, 10.0.0.0/8\""
            ),
        });
    }
    Ok(value.trim().to_owned())
}

/// Creates `.NAME.tmp.PID.N` next to the target with mode 0600.
fn create_private_temp(dir: &Path, file_name: &str) -> io::Result<(PathBuf, fs::File)> {
    let pid = std::process::id();
    let mut attempt = 0u32;
    loop {
        let tmp = dir.join(format!(".{file_name}.tmp.{pid}.{attempt}"));
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        match options.open(&tmp) {
            Ok(file) => {
                #[cfg(unix)]
                {
                    // The umask can only narrow 0600; make it exact anyway.
                    use std::os::unix::fs::PermissionsExt;
                    file.set_permissions(fs::Permissions::from_mode(0o600))?;
                }
                return Ok((tmp, file));
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt < 100 => attempt += 1,
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_single_edits() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
    }

    #[test]
    fn suggestions_cover_typos_and_unique_tails() {
        assert_eq!(suggest("proxy.custom.hots"), Some("proxy.custom.host"));
        assert_eq!(suggest("use_env"), Some("proxy.system.use_env"));
        assert_eq!(suggest("custom.bypass"), Some("proxy.custom.bypass"));
        // `port` ends two keys: no guess.
        assert_eq!(suggest("port"), None);
        assert_eq!(suggest("completely.different.thing"), None);
    }

    #[test]
    fn every_key_can_be_read_back() {
        let settings = Settings::default();
        for key in Settings::KEYS {
            assert!(settings.get(key).is_some(), "{key}");
        }
    }
}
