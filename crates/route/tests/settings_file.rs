//! `settings show | set` and `settings.toml`: defaults, validation with
//! messages a user can act on, and a private, atomic file.

use std::fs;

use interpose_route::{Settings, SettingsError};

fn set_err(key: &str, value: &str) -> String {
    Settings::default().set(key, value).unwrap_err().to_string()
}

#[test]
fn defaults_are_the_ones_design_lists() {
    let shown = Settings::default().show();
    let expected = "\
proxy.system.enabled = true
proxy.system.use_env = true
proxy.custom.enabled = false
proxy.custom.http = true
proxy.custom.https = true
proxy.custom.host =
proxy.custom.port =
proxy.custom.username =
proxy.custom.password =
proxy.custom.bypass =
proxy.default_auth.username =
proxy.default_auth.password =
capture.port = 5555
capture.save_responses = true
";
    assert_eq!(shown, expected);
    assert_eq!(shown.lines().count(), Settings::KEYS.len());
}

#[test]
fn set_show_save_load_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested").join("settings.toml");
    let mut settings = Settings::default();
    let values = [
        ("proxy.system.enabled", "false"),
        ("proxy.system.use_env", "false"),
        ("proxy.custom.enabled", "true"),
        ("proxy.custom.http", "false"),
        ("proxy.custom.https", "true"),
        ("proxy.custom.host", "Proxy.Corp.Example"),
        ("proxy.custom.port", "3128"),
        ("proxy.custom.username", "alice"),
        ("proxy.custom.password", "p@ss \"word\" = 'x'"),
        (
            "proxy.custom.bypass",
            "localhost, .internal.example, 10.0.0.0/8, [::1]:8080",
        ),
        ("proxy.default_auth.username", "bob"),
        ("proxy.default_auth.password", "hunter2"),
        ("capture.port", "8081"),
        ("capture.save_responses", "false"),
    ];
    for (key, value) in values {
        settings.set(key, value).unwrap();
    }
    settings.save(&path).unwrap();
    let loaded = Settings::load(&path).unwrap();
    assert_eq!(loaded, settings);
    assert_eq!(loaded.show(), settings.show());
    assert_eq!(
        loaded.get("proxy.custom.host").unwrap(),
        "proxy.corp.example"
    );
    assert_eq!(
        loaded.get("proxy.custom.password").unwrap(),
        "p@ss \"word\" = 'x'"
    );
    let shown = loaded.show();
    assert!(shown.contains("proxy.custom.port = 3128\n"));
    assert!(shown
        .contains("proxy.custom.bypass = localhost, .internal.example, 10.0.0.0/8, [::1]:8080\n"));
    assert!(shown.contains("capture.save_responses = false\n"));

    // Saving again over the existing file and loading gives the same.
    let mut again = loaded.clone();
    again.set("proxy.custom.port", "").unwrap();
    again.save(&path).unwrap();
    assert_eq!(Settings::load(&path).unwrap().proxy.custom.port, None);
}

#[test]
fn show_masks_passwords_when_set() {
    let mut settings = Settings::default();
    settings.set("proxy.custom.password", "hunter2").unwrap();
    settings
        .set("proxy.default_auth.password", "hunter3")
        .unwrap();
    let shown = settings.show();
    assert!(shown.contains("proxy.custom.password = ***\n"), "{shown}");
    assert!(
        shown.contains("proxy.default_auth.password = ***\n"),
        "{shown}"
    );
    assert!(!shown.contains("hunter"));
    assert!(!format!("{settings:?}").contains("hunter"));
    assert!(!format!("{:?}", settings.proxy).contains("hunter"));
}

#[test]
fn an_unknown_key_is_refused_with_the_valid_keys_and_a_guess() {
    let mut settings = Settings::default();
    let err = settings.set("proxy.custom.hots", "x").unwrap_err();
    assert!(matches!(
        err,
        SettingsError::UnknownKey {
            suggestion: Some("proxy.custom.host"),
            ..
        }
    ));
    assert_eq!(
        err.to_string(),
        format!(
            "unknown setting \"proxy.custom.hots\" (did you mean \"proxy.custom.host\"?); valid keys: {}",
            Settings::KEYS.join(", ")
        )
    );
    let err = set_err("colour", "blue");
    assert!(
        err.starts_with("unknown setting \"colour\"; valid keys: proxy.system.enabled, "),
        "{err}"
    );
    assert!(set_err("capture.prot", "1").contains("did you mean \"capture.port\"?"));
    assert!(set_err("use_env", "1").contains("did you mean \"proxy.system.use_env\"?"));
}

#[test]
fn bad_ports_are_refused_naming_the_key_with_an_example() {
    for bad in ["0", "65536", "99999", "abc", "-1", "+80", "80.0"] {
        assert_eq!(
            set_err("proxy.custom.port", bad),
            format!(
                "proxy.custom.port must be a number from 1 to 65535 (not \"{bad}\"), e.g. settings set proxy.custom.port 8080"
            )
        );
    }
    assert_eq!(
        set_err("capture.port", "70000"),
        "capture.port must be a number from 1 to 65535 (not \"70000\"), e.g. settings set capture.port 5555"
    );
    // capture.port has no "unset".
    assert!(set_err("capture.port", "").starts_with("capture.port must be a number"));
    let mut settings = Settings::default();
    settings.set("proxy.custom.port", " 65535 ").unwrap();
    assert_eq!(settings.proxy.custom.port, Some(65535));
}

#[test]
fn a_host_with_a_scheme_or_port_is_refused_with_the_commands_that_work() {
    assert_eq!(
        set_err("proxy.custom.host", "http://proxy.corp:3128"),
        "proxy.custom.host must be a host name or IP address without a scheme, credentials or path \
         (not \"http://proxy.corp:3128\"), e.g. settings set proxy.custom.host proxy.corp \
         and settings set proxy.custom.port 3128"
    );
    assert_eq!(
        set_err("proxy.custom.host", "http://x"),
        "proxy.custom.host must be a host name or IP address without a scheme, credentials or path \
         (not \"http://x\"), e.g. settings set proxy.custom.host x"
    );
    assert_eq!(
        set_err("proxy.custom.host", "proxy.corp:3128"),
        "proxy.custom.host must be a host name or IP address without a port (not \"proxy.corp:3128\"), \
         e.g. settings set proxy.custom.host proxy.corp and settings set proxy.custom.port 3128"
    );
    assert!(set_err("proxy.custom.host", "user:pw@proxy").contains("without a scheme, credentials"));
    assert!(!set_err("proxy.custom.host", "user:hunter2@proxy")
        .contains("e.g. settings set proxy.custom.host user"));
    assert!(
        set_err("proxy.custom.host", "bad host").contains("proxy.custom.host must be a host name")
    );

    let mut settings = Settings::default();
    settings.set("proxy.custom.host", "[::1]").unwrap();
    assert_eq!(settings.proxy.custom.host.as_deref(), Some("::1"));
    settings.set("proxy.custom.host", "10.0.0.1").unwrap();
    settings.set("proxy.custom.host", "").unwrap();
    assert_eq!(settings.proxy.custom.host, None);
}

#[test]
fn a_bad_bool_is_refused_naming_the_key_with_an_example() {
    assert_eq!(
        set_err("proxy.custom.enabled", "maybe"),
        "proxy.custom.enabled must be true or false (not \"maybe\"), e.g. settings set proxy.custom.enabled true"
    );
    let mut settings = Settings::default();
    for (text, value) in [("TRUE", true), ("no", false), ("on", true), ("0", false)] {
        settings.set("capture.save_responses", text).unwrap();
        assert_eq!(settings.capture.save_responses, value);
    }
}

#[test]
fn a_bypass_entry_that_can_never_match_is_refused() {
    let err = set_err("proxy.custom.bypass", "localhost, http://intranet");
    assert!(
        err.starts_with("proxy.custom.bypass entry \"http://intranet\" cannot match anything: "),
        "{err}"
    );
    assert!(
        err.contains("e.g. settings set proxy.custom.bypass"),
        "{err}"
    );
    assert!(set_err("proxy.custom.bypass", "10.0.0.0/33").contains("\"10.0.0.0/33\""));
}

#[test]
fn a_missing_file_means_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let loaded = Settings::load(&dir.path().join("settings.toml")).unwrap();
    assert_eq!(loaded, Settings::default());
}

#[test]
fn a_partial_file_keeps_defaults_for_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("settings.toml");
    fs::write(
        &path,
        "proxy.custom.port = 3128\n[capture]\nsave_responses = false\n",
    )
    .unwrap();
    let loaded = Settings::load(&path).unwrap();
    assert_eq!(loaded.proxy.custom.port, Some(3128));
    assert!(!loaded.capture.save_responses);
    assert_eq!(loaded.capture.port, 5555);
    assert!(loaded.proxy.system.enabled);
}

fn load_err(text: &str) -> (String, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("settings.toml");
    fs::write(&path, text).unwrap();
    let err = Settings::load(&path).unwrap_err().to_string();
    (err, path.display().to_string())
}

#[test]
fn a_bad_file_is_an_error_naming_the_file_line_and_key() {
    let (err, path) = load_err("[proxy.custom]\nenabled = true\nport = 70000\n");
    assert_eq!(
        err,
        format!(
            "cannot read settings file {path}: line 3: proxy.custom.port must be a number from 1 to 65535 \
             (not \"70000\"), e.g. settings set proxy.custom.port 8080"
        )
    );

    let (err, path) = load_err("[proxy.system]\nenabled = true\n\n[proxy.custom]\nhots = \"x\"\n");
    assert!(
        err.starts_with(&format!(
            "cannot read settings file {path}: line 5: unknown setting \"proxy.custom.hots\" (did you mean \"proxy.custom.host\"?)"
        )),
        "{err}"
    );

    let (err, _) = load_err("[proxy]\n[proxy.colour]\nx = 1\n");
    assert!(
        err.contains("line 2: unknown setting \"proxy.colour\""),
        "{err}"
    );

    let (err, _) = load_err("capture.port = [1, 2]\n");
    assert!(
        err.ends_with("line 1: capture.port must be a number from 1 to 65535 (found array), e.g. capture.port = 5555"),
        "{err}"
    );

    let (err, _) = load_err("[proxy.custom]\nhost = \"http://proxy:3128\"\n");
    assert!(
        err.contains("line 2: proxy.custom.host must be a host name"),
        "{err}"
    );

    let (err, path) = load_err("[proxy.custom\nenabled = true\n");
    assert!(
        err.starts_with(&format!("cannot read settings file {path}: line 1: ")),
        "{err}"
    );
}

#[cfg(unix)]
#[test]
fn the_file_is_written_atomically_with_mode_0600() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("settings.toml");
    fs::write(&path, "# an older, world-readable file\n").unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    let old_inode = fs::metadata(&path).unwrap().ino();

    let mut settings = Settings::default();
    settings.set("proxy.custom.password", "hunter2").unwrap();
    settings.save(&path).unwrap();

    let meta = fs::metadata(&path).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    // A new file renamed into place, not the old one rewritten in place.
    assert_ne!(meta.ino(), old_inode);
    // And no temporary file left behind.
    let names: Vec<String> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["settings.toml"]);
    assert!(fs::read_to_string(&path)
        .unwrap()
        .contains("password = \"hunter2\""));
}

#[test]
fn a_failed_save_leaves_the_old_file_untouched() {
    let dir = tempfile::tempdir().unwrap();
    // The target is a directory, so the final rename fails.
    let path = dir.path().join("settings.toml");
    fs::create_dir(&path).unwrap();
    fs::write(path.join("keep"), "x").unwrap();
    let err = Settings::default().save(&path).unwrap_err();
    assert!(
        err.to_string().starts_with("cannot write settings file "),
        "{err}"
    );
    assert!(path.join("keep").exists());
    let names: Vec<String> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["settings.toml"], "no temporary file left behind");
}
