//! The route decision: flags > custom proxy > system proxy (environment) >
//! direct, each layer with its own bypass list, and the reason it gives.

mod support;

use interpose_route::{decide_target, Flags, ProxyScheme, RouteError, Scheme, Settings, Target};
use support::{custom, route, url, via, Env};

fn flags_proxy(proxy: &str) -> Flags {
    Flags {
        proxy: Some(proxy.to_owned()),
        ..Flags::default()
    }
}

// ---- each layer beats the next ----------------------------------------

#[test]
fn no_proxy_flag_beats_every_other_layer() {
    let flags = Flags {
        no_proxy: true,
        ..flags_proxy("http://flag.proxy:1")
    };
    let env = Env::new(&[("https_proxy", "http://env.proxy:3")]);
    let r = route(
        "https://api.example.com/",
        &flags,
        &custom("custom.proxy", 2),
        &env,
    )
    .unwrap();
    assert_eq!(via(&r), "direct");
    assert_eq!(r.reason, "--no-proxy flag");
}

#[test]
fn proxy_flag_beats_the_custom_proxy_and_the_environment() {
    let env = Env::new(&[("https_proxy", "http://env.proxy:3")]);
    let r = route(
        "https://api.example.com/",
        &flags_proxy("http://flag.proxy:1"),
        &custom("custom.proxy", 2),
        &env,
    )
    .unwrap();
    assert_eq!(via(&r), "http://flag.proxy:1");
    assert_eq!(r.reason, "--proxy flag");
}

#[test]
fn custom_proxy_beats_the_environment() {
    let env = Env::new(&[
        ("https_proxy", "http://env.proxy:3"),
        ("HTTPS_PROXY", "http://x:4"),
    ]);
    let r = route(
        "https://api.example.com/",
        &Flags::default(),
        &custom("custom.proxy", 2),
        &env,
    )
    .unwrap();
    assert_eq!(via(&r), "http://custom.proxy:2");
    assert_eq!(r.reason, "custom proxy in settings");
}

#[test]
fn environment_beats_direct() {
    let env = Env::new(&[("HTTPS_PROXY", "http://env.proxy:3128")]);
    let r = route(
        "https://api.example.com/",
        &Flags::default(),
        &Settings::default(),
        &env,
    )
    .unwrap();
    assert_eq!(via(&r), "http://env.proxy:3128");
    assert_eq!(r.reason, "HTTPS_PROXY environment variable");
}

#[test]
fn nothing_configured_goes_direct() {
    let r = route(
        "https://api.example.com/",
        &Flags::default(),
        &Settings::default(),
        &Env::default(),
    )
    .unwrap();
    assert_eq!(via(&r), "direct");
    assert_eq!(r.reason, "no proxy configured");
}

#[test]
fn an_empty_proxy_flag_means_direct_even_with_the_environment_set() {
    let env = Env::new(&[("https_proxy", "http://env.proxy:3")]);
    let r = route(
        "https://a.example/",
        &flags_proxy(""),
        &Settings::default(),
        &env,
    )
    .unwrap();
    assert_eq!(via(&r), "direct");
    assert_eq!(r.reason, "--proxy flag is empty");
}

// ---- the environment ----------------------------------------------------

#[test]
fn lower_case_environment_variable_beats_upper_case() {
    let env = Env::new(&[
        ("https_proxy", "http://lower:1"),
        ("HTTPS_PROXY", "http://upper:2"),
    ]);
    let r = route(
        "https://a.example/",
        &Flags::default(),
        &Settings::default(),
        &env,
    )
    .unwrap();
    assert_eq!(via(&r), "http://lower:1");
    assert_eq!(r.reason, "https_proxy environment variable");

    let env = Env::new(&[
        ("http_proxy", "http://lower:1"),
        ("HTTP_PROXY", "http://upper:2"),
    ]);
    let r = route(
        "http://a.example/",
        &Flags::default(),
        &Settings::default(),
        &env,
    )
    .unwrap();
    assert_eq!(via(&r), "http://lower:1");
    assert_eq!(r.reason, "http_proxy environment variable");
}

#[test]
fn upper_case_http_proxy_is_honoured_when_alone() {
    // curl ignores HTTP_PROXY; DESIGN.md reads both cases.
    let env = Env::new(&[("HTTP_PROXY", "http://upper:2")]);
    let r = route(
        "http://a.example/",
        &Flags::default(),
        &Settings::default(),
        &env,
    )
    .unwrap();
    assert_eq!(via(&r), "http://upper:2");
    assert_eq!(r.reason, "HTTP_PROXY environment variable");
}

#[test]
fn an_empty_environment_value_counts_as_unset() {
    let env = Env::new(&[("https_proxy", ""), ("HTTPS_PROXY", "http://upper:2")]);
    let r = route(
        "https://a.example/",
        &Flags::default(),
        &Settings::default(),
        &env,
    )
    .unwrap();
    assert_eq!(via(&r), "http://upper:2");

    let env = Env::new(&[("https_proxy", "  ")]);
    let r = route(
        "https://a.example/",
        &Flags::default(),
        &Settings::default(),
        &env,
    )
    .unwrap();
    assert_eq!(r.reason, "no proxy configured");
}

#[test]
fn each_scheme_reads_its_own_variable_then_all_proxy() {
    let env = Env::new(&[
        ("http_proxy", "http://for-http:1"),
        ("https_proxy", "http://for-https:2"),
        ("ALL_PROXY", "socks5h://for-all:3"),
    ]);
    let s = Settings::default();
    let f = Flags::default();
    assert_eq!(
        via(&route("http://a.example/", &f, &s, &env).unwrap()),
        "http://for-http:1"
    );
    assert_eq!(
        via(&route("https://a.example/", &f, &s, &env).unwrap()),
        "http://for-https:2"
    );
    assert_eq!(
        via(&route("ws://a.example/", &f, &s, &env).unwrap()),
        "http://for-http:1"
    );
    assert_eq!(
        via(&route("wss://a.example/", &f, &s, &env).unwrap()),
        "http://for-https:2"
    );

    let env = Env::new(&[
        ("http_proxy", "http://for-http:1"),
        ("ALL_PROXY", "socks5h://for-all:3"),
    ]);
    let r = route("https://a.example/", &f, &s, &env).unwrap();
    assert_eq!(via(&r), "socks5h://for-all:3");
    assert_eq!(r.reason, "ALL_PROXY environment variable");
    assert_eq!(r.proxy.unwrap().scheme, ProxyScheme::Socks5h);

    let env = Env::new(&[
        ("all_proxy", "http://lower:1"),
        ("ALL_PROXY", "http://upper:2"),
    ]);
    let r = route("https://a.example/", &f, &s, &env).unwrap();
    assert_eq!(r.reason, "all_proxy environment variable");
}

#[test]
fn use_env_false_ignores_the_environment() {
    let mut settings = Settings::default();
    settings.set("proxy.system.use_env", "false").unwrap();
    let env = Env::new(&[("https_proxy", "http://env.proxy:3")]);
    let r = route("https://a.example/", &Flags::default(), &settings, &env).unwrap();
    assert_eq!(via(&r), "direct");
    assert_eq!(
        r.reason,
        "proxy environment variables ignored (proxy.system.use_env = false)"
    );
}

#[test]
fn a_disabled_system_proxy_goes_direct() {
    let mut settings = Settings::default();
    settings.set("proxy.system.enabled", "false").unwrap();
    let env = Env::new(&[("https_proxy", "http://env.proxy:3")]);
    let r = route("https://a.example/", &Flags::default(), &settings, &env).unwrap();
    assert_eq!(via(&r), "direct");
    assert_eq!(r.reason, "system proxy disabled in settings");
}

#[test]
fn no_system_proxy_flag_skips_the_environment_but_not_the_custom_proxy() {
    let flags = Flags {
        no_system_proxy: true,
        ..Flags::default()
    };
    let env = Env::new(&[("https_proxy", "http://env.proxy:3")]);
    let r = route("https://a.example/", &flags, &Settings::default(), &env).unwrap();
    assert_eq!(via(&r), "direct");
    assert_eq!(r.reason, "--no-system-proxy flag");

    let r = route(
        "https://a.example/",
        &flags,
        &custom("custom.proxy", 2),
        &env,
    )
    .unwrap();
    assert_eq!(via(&r), "http://custom.proxy:2");
}

// ---- the custom proxy's schemes ----------------------------------------

#[test]
fn an_http_only_custom_proxy_does_not_apply_to_https() {
    let mut settings = custom("custom.proxy", 2);
    settings.set("proxy.custom.https", "false").unwrap();
    let f = Flags::default();

    let r = route("http://a.example/", &f, &settings, &Env::default()).unwrap();
    assert_eq!(via(&r), "http://custom.proxy:2");

    // https falls through to the environment ...
    let env = Env::new(&[("https_proxy", "http://env.proxy:3")]);
    let r = route("https://a.example/", &f, &settings, &env).unwrap();
    assert_eq!(via(&r), "http://env.proxy:3");
    assert_eq!(
        r.reason,
        "https_proxy environment variable; custom proxy not used for https URLs (proxy.custom.https = false)"
    );

    // ... and to direct when there is none.
    let r = route("https://a.example/", &f, &settings, &Env::default()).unwrap();
    assert_eq!(via(&r), "direct");
    assert!(r
        .reason
        .starts_with("no proxy configured; custom proxy not used for https"));
}

#[test]
fn an_https_only_custom_proxy_does_not_apply_to_http() {
    let mut settings = custom("custom.proxy", 2);
    settings.set("proxy.custom.http", "false").unwrap();
    let r = route(
        "http://a.example/",
        &Flags::default(),
        &settings,
        &Env::default(),
    )
    .unwrap();
    assert_eq!(via(&r), "direct");
    let r = route(
        "https://a.example/",
        &Flags::default(),
        &settings,
        &Env::default(),
    )
    .unwrap();
    assert_eq!(via(&r), "http://custom.proxy:2");
}

#[test]
fn an_enabled_custom_proxy_without_a_host_is_a_clear_error() {
    let mut settings = Settings::default();
    settings.set("proxy.custom.enabled", "true").unwrap();
    let err = route(
        "https://a.example/",
        &Flags::default(),
        &settings,
        &Env::default(),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "the custom proxy is enabled but proxy.custom.host is not set; e.g. settings set \
         proxy.custom.host proxy.example.com (or settings set proxy.custom.enabled false)"
    );
    settings.set("proxy.custom.host", "p.example").unwrap();
    let err = route(
        "https://a.example/",
        &Flags::default(),
        &settings,
        &Env::default(),
    )
    .unwrap_err();
    assert!(matches!(
        err,
        RouteError::CustomProxyIncomplete {
            key: "proxy.custom.port",
            ..
        }
    ));
}

// ---- bypass lists ---------------------------------------------------------

#[test]
fn a_no_proxy_entry_sends_the_host_direct_and_is_the_reason() {
    let env = Env::new(&[
        ("HTTPS_PROXY", "http://env.proxy:3"),
        ("NO_PROXY", "localhost, .example.com"),
    ]);
    let r = route(
        "https://api.example.com/v1",
        &Flags::default(),
        &Settings::default(),
        &env,
    )
    .unwrap();
    assert_eq!(via(&r), "direct");
    assert_eq!(r.reason, "NO_PROXY entry .example.com");

    let r = route(
        "https://example.org/",
        &Flags::default(),
        &Settings::default(),
        &env,
    )
    .unwrap();
    assert_eq!(via(&r), "http://env.proxy:3");
}

#[test]
fn lower_case_no_proxy_beats_upper_case() {
    let env = Env::new(&[
        ("https_proxy", "http://env.proxy:3"),
        ("no_proxy", "lower.example"),
        ("NO_PROXY", "upper.example"),
    ]);
    let f = Flags::default();
    let s = Settings::default();
    let r = route("https://lower.example/", &f, &s, &env).unwrap();
    assert_eq!(r.reason, "no_proxy entry lower.example");
    let r = route("https://upper.example/", &f, &s, &env).unwrap();
    assert_eq!(via(&r), "http://env.proxy:3");
}

#[test]
fn an_ip_target_is_matched_against_cidr_entries() {
    let env = Env::new(&[
        ("http_proxy", "http://env.proxy:3"),
        ("no_proxy", "10.0.0.0/8,::1"),
    ]);
    let f = Flags::default();
    let s = Settings::default();
    assert_eq!(
        route("http://10.20.30.40:8080/", &f, &s, &env)
            .unwrap()
            .reason,
        "no_proxy entry 10.0.0.0/8"
    );
    assert_eq!(
        route("http://[::1]:8080/", &f, &s, &env).unwrap().reason,
        "no_proxy entry ::1"
    );
    assert_eq!(
        via(&route("http://11.0.0.1/", &f, &s, &env).unwrap()),
        "http://env.proxy:3"
    );
}

#[test]
fn the_custom_bypass_list_sends_the_host_direct() {
    let mut settings = custom("custom.proxy", 2);
    settings
        .set("proxy.custom.bypass", "10.0.0.0/8, *.internal.example")
        .unwrap();
    let f = Flags::default();
    let r = route("http://10.1.2.3/", &f, &settings, &Env::default()).unwrap();
    assert_eq!(via(&r), "direct");
    assert_eq!(r.reason, "custom bypass entry 10.0.0.0/8");
    let r = route(
        "https://git.internal.example/",
        &f,
        &settings,
        &Env::default(),
    )
    .unwrap();
    assert_eq!(r.reason, "custom bypass entry *.internal.example");
    let r = route("https://internal.example/", &f, &settings, &Env::default()).unwrap();
    assert_eq!(via(&r), "http://custom.proxy:2");
}

#[test]
fn no_proxy_belongs_to_the_environment_layer_only() {
    let env = Env::new(&[("NO_PROXY", "api.example.com")]);
    let f = Flags::default();
    let r = route(
        "https://api.example.com/",
        &f,
        &custom("custom.proxy", 2),
        &env,
    )
    .unwrap();
    assert_eq!(via(&r), "http://custom.proxy:2");
    let r = route(
        "https://api.example.com/",
        &flags_proxy("http://flag:1"),
        &Settings::default(),
        &env,
    )
    .unwrap();
    assert_eq!(via(&r), "http://flag:1");
}

#[test]
fn proxy_bypass_flag_applies_to_the_proxy_flag() {
    let flags = Flags {
        proxy_bypass: Some("*.corp.example:8443".to_owned()),
        ..flags_proxy("http://flag:1")
    };
    let r = route(
        "https://a.corp.example:8443/",
        &flags,
        &Settings::default(),
        &Env::default(),
    )
    .unwrap();
    assert_eq!(via(&r), "direct");
    assert_eq!(r.reason, "--proxy-bypass entry *.corp.example:8443");
    let r = route(
        "https://a.corp.example/",
        &flags,
        &Settings::default(),
        &Env::default(),
    )
    .unwrap();
    assert_eq!(via(&r), "http://flag:1");
}

#[test]
fn proxy_bypass_flag_replaces_the_layers_own_list() {
    let env = Env::new(&[
        ("https_proxy", "http://env.proxy:3"),
        ("no_proxy", "a.example"),
    ]);
    let flags = Flags {
        proxy_bypass: Some("b.example".to_owned()),
        ..Flags::default()
    };
    let s = Settings::default();
    assert_eq!(
        via(&route("https://a.example/", &flags, &s, &env).unwrap()),
        "http://env.proxy:3"
    );
    assert_eq!(
        route("https://b.example/", &flags, &s, &env)
            .unwrap()
            .reason,
        "--proxy-bypass entry b.example"
    );

    // An empty --proxy-bypass bypasses nothing (curl's --noproxy "").
    let flags = Flags {
        proxy_bypass: Some(String::new()),
        ..Flags::default()
    };
    assert_eq!(
        via(&route("https://a.example/", &flags, &s, &env).unwrap()),
        "http://env.proxy:3"
    );

    let mut settings = custom("custom.proxy", 2);
    settings.set("proxy.custom.bypass", "a.example").unwrap();
    let flags = Flags {
        proxy_bypass: Some("b.example".to_owned()),
        ..Flags::default()
    };
    assert_eq!(
        via(&route("https://a.example/", &flags, &settings, &Env::default()).unwrap()),
        "http://custom.proxy:2"
    );
}

// ---- credentials ----------------------------------------------------------

#[test]
fn default_auth_credentials_go_to_a_system_proxy_without_its_own() {
    let mut settings = Settings::default();
    settings
        .set("proxy.default_auth.username", "alice")
        .unwrap();
    settings
        .set("proxy.default_auth.password", "s3cret")
        .unwrap();
    let f = Flags::default();

    let env = Env::new(&[("https_proxy", "http://env.proxy:3")]);
    let proxy = route("https://a.example/", &f, &settings, &env)
        .unwrap()
        .proxy
        .unwrap();
    assert_eq!(proxy.username.as_deref(), Some("alice"));
    assert_eq!(proxy.password.as_deref(), Some("s3cret"));

    // The URL's own credentials are kept.
    let env = Env::new(&[("https_proxy", "http://bob:pw@env.proxy:3")]);
    let proxy = route("https://a.example/", &f, &settings, &env)
        .unwrap()
        .proxy
        .unwrap();
    assert_eq!(proxy.username.as_deref(), Some("bob"));
    assert_eq!(proxy.password.as_deref(), Some("pw"));

    // Not for the custom proxy, which has its own.
    let mut settings = settings.clone();
    for (k, v) in [
        ("proxy.custom.enabled", "true"),
        ("proxy.custom.host", "custom.proxy"),
        ("proxy.custom.port", "2"),
    ] {
        settings.set(k, v).unwrap();
    }
    let proxy = route("https://a.example/", &f, &settings, &Env::default())
        .unwrap()
        .proxy
        .unwrap();
    assert_eq!(proxy.username, None);
}

#[test]
fn custom_proxy_credentials_come_from_settings_and_the_flag_beats_them() {
    let mut settings = custom("custom.proxy", 2);
    settings.set("proxy.custom.username", "carol").unwrap();
    settings.set("proxy.custom.password", "p@ss").unwrap();
    let proxy = route(
        "http://a.example/",
        &Flags::default(),
        &settings,
        &Env::default(),
    )
    .unwrap()
    .proxy
    .unwrap();
    assert_eq!(
        (proxy.username.as_deref(), proxy.password.as_deref()),
        (Some("carol"), Some("p@ss"))
    );

    let flags = Flags {
        proxy_user: Some("dave:pw:with:colons".to_owned()),
        ..Flags::default()
    };
    let proxy = route("http://a.example/", &flags, &settings, &Env::default())
        .unwrap()
        .proxy
        .unwrap();
    assert_eq!(
        (proxy.username.as_deref(), proxy.password.as_deref()),
        (Some("dave"), Some("pw:with:colons"))
    );
}

#[test]
fn proxy_user_flag_fills_in_credentials_but_those_in_the_url_win_like_curl() {
    let flags = Flags {
        proxy_user: Some("erin:pw".to_owned()),
        ..flags_proxy("http://flag.proxy:1")
    };
    let proxy = route(
        "http://a.example/",
        &flags,
        &Settings::default(),
        &Env::default(),
    )
    .unwrap()
    .proxy
    .unwrap();
    assert_eq!(proxy.username.as_deref(), Some("erin"));

    let flags = Flags {
        proxy_user: Some("erin:pw".to_owned()),
        ..flags_proxy("http://frank:p%40ss@flag.proxy:1")
    };
    let proxy = route(
        "http://a.example/",
        &flags,
        &Settings::default(),
        &Env::default(),
    )
    .unwrap()
    .proxy
    .unwrap();
    assert_eq!(
        (proxy.username.as_deref(), proxy.password.as_deref()),
        (Some("frank"), Some("p@ss"))
    );
}

// ---- what people see ------------------------------------------------------

#[test]
fn the_description_is_one_line_with_the_proxy_and_the_reason() {
    let env = Env::new(&[
        ("HTTPS_PROXY", "http://proxy.corp:3128"),
        ("NO_PROXY", ".internal"),
    ]);
    let f = Flags::default();
    let s = Settings::default();
    let target = url("https://api.example.com/v1/users");
    let r = route(target.as_str(), &f, &s, &env).unwrap();
    assert_eq!(
        r.describe(&target),
        "https://api.example.com/v1/users via http://proxy.corp:3128 (HTTPS_PROXY environment variable)"
    );
    let target = url("https://git.internal/");
    let r = route(target.as_str(), &f, &s, &env).unwrap();
    assert_eq!(
        r.describe(&target),
        "https://git.internal/ direct (NO_PROXY entry .internal)"
    );
}

#[test]
fn the_description_never_contains_a_password() {
    let secret = "hunter2";
    let target = url(&format!("https://user:{secret}@api.example.com/"));
    let mut settings = custom("custom.proxy", 2);
    settings.set("proxy.custom.password", secret).unwrap();
    settings.set("proxy.custom.username", "u").unwrap();
    settings.set("proxy.default_auth.username", "u").unwrap();
    settings.set("proxy.default_auth.password", secret).unwrap();
    let env = Env::new(&[("https_proxy", &format!("http://u:{secret}@env.proxy:3"))]);
    let routes = [
        route(
            target.as_str(),
            &flags_proxy(&format!("http://u:{secret}@flag:1")),
            &settings,
            &env,
        ),
        route(
            target.as_str(),
            &Flags {
                proxy_user: Some(format!("u:{secret}")),
                ..flags_proxy("http://flag:1")
            },
            &settings,
            &env,
        ),
        route(target.as_str(), &Flags::default(), &settings, &env),
        route(
            target.as_str(),
            &Flags::default(),
            &Settings::default(),
            &env,
        ),
    ];
    for r in routes {
        let r = r.unwrap();
        assert!(r.proxy.as_ref().unwrap().password.as_deref() == Some(secret));
        let line = r.describe(&target);
        assert!(!line.contains(secret), "{line}");
        assert!(line.contains("***@api.example.com"), "{line}");
        assert!(!format!("{r:?}").contains(secret));
        assert!(!r.proxy.unwrap().to_string().contains(secret));
    }
}

#[test]
fn a_bad_proxy_url_names_its_source_and_shows_a_valid_example() {
    let err = route(
        "https://a.example/",
        &flags_proxy("ftp://u:hunter2@proxy:21"),
        &Settings::default(),
        &Env::default(),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "bad proxy URL \"ftp://u:***@proxy:21\" in the --proxy flag: unsupported proxy scheme \"ftp\"; \
         use http://, https://, socks5:// or socks5h://; a valid one looks like --proxy http://proxy.example.com:3128"
    );

    let env = Env::new(&[("HTTPS_PROXY", "http://proxy:99999")]);
    let err = route(
        "https://a.example/",
        &Flags::default(),
        &Settings::default(),
        &env,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "bad proxy URL \"http://proxy:99999\" in the HTTPS_PROXY environment variable: the port \"99999\" \
         is not a number from 1 to 65535; a valid one looks like HTTPS_PROXY=http://proxy.example.com:3128"
    );

    let env = Env::new(&[("all_proxy", "socks5://:1080")]);
    let err = route(
        "http://a.example/",
        &Flags::default(),
        &Settings::default(),
        &env,
    )
    .unwrap_err();
    assert!(err
        .to_string()
        .contains("in the all_proxy environment variable: it has no host"));
}

#[test]
fn a_bad_env_proxy_does_not_matter_for_a_host_on_no_proxy() {
    let env = Env::new(&[("https_proxy", "ftp://nope"), ("no_proxy", "a.example")]);
    let r = route(
        "https://a.example/",
        &Flags::default(),
        &Settings::default(),
        &env,
    )
    .unwrap();
    assert_eq!(r.reason, "no_proxy entry a.example");
}

#[test]
fn only_http_and_https_urls_are_routed() {
    let err = route(
        "ftp://files.example/",
        &Flags::default(),
        &Settings::default(),
        &Env::default(),
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("only http:// and https:// URLs"),
        "{err}"
    );
}

#[test]
fn a_connect_target_is_routed_by_host_and_port() {
    let env = Env::new(&[
        ("https_proxy", "http://env.proxy:3"),
        ("no_proxy", "db.example:5432"),
    ]);
    let f = Flags::default();
    let s = Settings::default();
    let lookup = env.lookup();
    let r = decide_target(
        &Target::new(Scheme::Https, "db.example", 5432),
        &f,
        &s,
        &lookup,
    )
    .unwrap();
    assert_eq!(r.reason, "no_proxy entry db.example:5432");
    let r = decide_target(
        &Target::new(Scheme::Https, "db.example", 443),
        &f,
        &s,
        &lookup,
    )
    .unwrap();
    assert_eq!(via(&r), "http://env.proxy:3");
    let r = decide_target(&Target::new(Scheme::Https, "[::1]", 443), &f, &s, &lookup).unwrap();
    assert_eq!(via(&r), "http://env.proxy:3");
}

#[test]
fn flags_debug_output_hides_passwords() {
    let flags = Flags {
        proxy: Some("http://u:hunter2@p:1".to_owned()),
        proxy_user: Some("v:hunter2".to_owned()),
        ..Flags::default()
    };
    let shown = format!("{flags:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
}
