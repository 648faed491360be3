//! `NO_PROXY` and bypass lists, row by row against curl's documented
//! behaviour (`CURLOPT_NOPROXY(3)`, the `curl(1)` ENVIRONMENT section and
//! curl's unit test 1614 for `lib/noproxy.c`), then the DESIGN.md
//! extensions, each of which only gives meaning to entries curl ignores.

use interpose_route::Bypass;

struct Row {
    list: &'static str,
    host: &'static str,
    port: u16,
    /// The entry that should match, as written, or `None` for no match.
    expect: Option<&'static str>,
    rule: &'static str,
}

const fn row(
    list: &'static str,
    host: &'static str,
    port: u16,
    expect: Option<&'static str>,
    rule: &'static str,
) -> Row {
    Row {
        list,
        host,
        port,
        expect,
        rule,
    }
}

/// What curl documents and tests.
const CURL: &[Row] = &[
    // CURLOPT_NOPROXY: "ample.com would match ample.com, ample.com:80, and
    // www.ample.com, but not www.example.com or ample.com.org".
    row(
        "ample.com",
        "ample.com",
        443,
        Some("ample.com"),
        "the name itself",
    ),
    row("ample.com", "ample.com", 80, Some("ample.com"), "any port"),
    row(
        "ample.com",
        "www.ample.com",
        443,
        Some("ample.com"),
        "a subdomain",
    ),
    row(
        "ample.com",
        "www.example.com",
        443,
        None,
        "not a label boundary",
    ),
    row("ample.com", "ample.com.org", 443, None, "not a suffix"),
    // "The only wildcard available is a single * character, which matches
    // all hosts".
    row("*", "anything.example", 443, Some("*"), "* alone"),
    row("*", "10.1.2.3", 443, Some("*"), "* alone, IP host"),
    row("*", "[::1]", 443, Some("*"), "* alone, IPv6 host"),
    // noproxy.c compares the whole string with "*": inside a list, `*` is
    // just a name that no host has.
    row("example.com,*", "other.test", 443, None, "* inside a list"),
    // An empty list bypasses nothing.
    row("", "localhost", 80, None, "empty list"),
    // unit1614: leading dot, trailing dots, the apex.
    row(
        "localhost,.example.com,.example.de",
        "www.example.com",
        80,
        Some(".example.com"),
        "leading dot, subdomain",
    ),
    row(
        "localhost,.example.com,.example.de",
        "www.example.com.",
        80,
        Some(".example.com"),
        "host with a trailing dot",
    ),
    row(
        "localhost,.example.com,.example.de",
        "example.com",
        80,
        Some(".example.com"),
        "leading dot, the apex too",
    ),
    row(
        "localhost,.example.com.,.example.de",
        "www.example.com",
        80,
        Some(".example.com."),
        "entry with a trailing dot",
    ),
    row(
        "localhost,www.example.com.,.example.de",
        "www.example.com",
        80,
        Some("www.example.com."),
        "exact name with a trailing dot",
    ),
    row(
        "localhost,example.com,.example.de",
        "example.com.",
        80,
        Some("example.com"),
        "apex with a trailing dot",
    ),
    row(
        "localhost,example.com,.example.de",
        "nexample.com",
        80,
        None,
        "tail match needs a dot",
    ),
    row(
        "localhost,example.com,.example.de",
        "www.example.com",
        80,
        Some("example.com"),
        "no dot still covers subdomains",
    ),
    row(
        ".example.com, .example.net",
        "nonexample.com",
        80,
        None,
        "nonexample",
    ),
    row(
        "www2.example.com, .example.net",
        "www.example.com",
        80,
        None,
        "a sibling is not a match",
    ),
    // unit1614: IPv4 literals and CIDR (curl 7.86.0+).
    row(
        "127.0.0.1,localhost",
        "127.0.0.1",
        80,
        Some("127.0.0.1"),
        "v4 literal",
    ),
    row(
        "127.0.0.1/8,localhost,",
        "127.0.0.1",
        80,
        Some("127.0.0.1/8"),
        "/8",
    ),
    row(
        "127.0.0.1/28,localhost,",
        "127.0.0.1",
        80,
        Some("127.0.0.1/28"),
        "/28",
    ),
    row(
        "127.0.0.1/31,localhost,",
        "127.0.0.1",
        80,
        Some("127.0.0.1/31"),
        "/31",
    ),
    row(
        "192.168.0.0/16",
        "192.168.0.1",
        80,
        Some("192.168.0.0/16"),
        "in /16",
    ),
    row(
        "192.168.0.0/24",
        "192.168.0.1",
        80,
        Some("192.168.0.0/24"),
        "in /24",
    ),
    row(
        "192.168.0.0/32",
        "192.168.0.1",
        80,
        None,
        "/32 is one address",
    ),
    row(
        "192.168.0.0",
        "192.168.0.1",
        80,
        None,
        "a literal is one address",
    ),
    row("192.168.0.0/24", "192.168.1.1", 80, None, "outside /24"),
    row(
        "foo, bar, 192.168.0.0/24",
        "192.168.1.1",
        80,
        None,
        "outside, in a list",
    ),
    row(
        "foo, bar, 192.168.0.0/16",
        "192.168.1.1",
        80,
        Some("192.168.0.0/16"),
        "inside, in a list",
    ),
    row(
        "192.160.0.1/33",
        "192.160.0.1",
        80,
        None,
        "bits > 32 never match",
    ),
    row("10.0.0.1/8", "192.160.0.1", 80, None, "other network"),
    row(
        "foobar",
        "192.168.0.1",
        80,
        None,
        "names never match IP hosts",
    ),
    // unit1614: IPv6 ("Enter IPv6 numerical addresses in the list of
    // hostnames without enclosing brackets").
    row(
        "foo, bar, 192.168.0.0/16",
        "[::1]",
        80,
        None,
        "v6 host, v4 list",
    ),
    row("foo, bar, ::1/64", "[::1]", 80, Some("::1/64"), "v6 CIDR"),
    row(
        "example.com,::1,localhost",
        "[::1]",
        80,
        Some("::1"),
        "v6 literal",
    ),
    row(
        "0:0::1",
        "::1",
        80,
        Some("0:0::1"),
        "addresses, not strings, compare",
    ),
    row(
        "fe80::ab47:4396:55c9:8474/64",
        "[fe80::ab47:4396:55c9:1]",
        80,
        Some("fe80::ab47:4396:55c9:8474/64"),
        "v6 /64",
    ),
    row("fe80::/64", "[fe80:0:0:1::1]", 80, None, "outside v6 /64"),
    // unit1614: names, case and separators.
    row("barfoo", "foobar", 80, None, "different names"),
    row("foobar", "foobar", 80, Some("foobar"), "single label"),
    row(
        "foo, bar, ::1/64",
        "BAr",
        80,
        Some("bar"),
        "case-insensitive host",
    ),
    row("FOO, BAR", "bar", 80, Some("BAR"), "case-insensitive entry"),
    row(
        "foo,,,,,              bar, ::1/64",
        "BAr",
        80,
        Some("bar"),
        "runs of commas and blanks",
    ),
    row(
        "localhost .example.com .example.de",
        "www.example.com",
        80,
        Some(".example.com"),
        "blank-separated (curl 8)",
    ),
    row(
        "  example.com\t",
        "example.com",
        80,
        Some("example.com"),
        "trimmed",
    ),
    // Loopback: curl has no implicit bypass and never resolves a name.
    row("", "127.0.0.1", 80, None, "loopback v4 is not implicit"),
    row("", "[::1]", 80, None, "loopback v6 is not implicit"),
    row(
        "example.com",
        "localhost",
        80,
        None,
        "localhost is not implicit",
    ),
    row(
        "localhost",
        "localhost",
        80,
        Some("localhost"),
        "localhost when listed",
    ),
    row(
        "localhost",
        "127.0.0.1",
        80,
        None,
        "localhost is a name, not 127.0.0.1",
    ),
    row(
        "localhost",
        "[::1]",
        80,
        None,
        "localhost is a name, not ::1",
    ),
    row(
        "127.0.0.1",
        "localhost",
        80,
        None,
        "127.0.0.1 is not the name",
    ),
    row(
        "localhost",
        "api.localhost",
        80,
        Some("localhost"),
        "names under it",
    ),
];

/// DESIGN.md extensions: curl never matches these entries.
const EXTENSIONS: &[Row] = &[
    row(
        "*.example.com",
        "www.example.com",
        443,
        Some("*.example.com"),
        "sub",
    ),
    row(
        "*.example.com",
        "a.b.example.com",
        443,
        Some("*.example.com"),
        "deep",
    ),
    row(
        "*.example.com",
        "example.com",
        443,
        None,
        "*. excludes the apex",
    ),
    row(
        "*.example.com",
        "badexample.com",
        443,
        None,
        "label boundary",
    ),
    row(
        "*.EXAMPLE.com",
        "WWW.example.COM",
        443,
        Some("*.EXAMPLE.com"),
        "case",
    ),
    row(
        "example.com:8080",
        "example.com",
        8080,
        Some("example.com:8080"),
        "port",
    ),
    row("example.com:8080", "example.com", 80, None, "other port"),
    row(
        "example.com:8080",
        "www.example.com",
        8080,
        Some("example.com:8080"),
        "sub",
    ),
    row(
        "10.0.0.0/8:443",
        "10.1.2.3",
        443,
        Some("10.0.0.0/8:443"),
        "CIDR:port",
    ),
    row("10.0.0.0/8:443", "10.1.2.3", 80, None, "CIDR, other port"),
    row(
        "10.1.2.3:22",
        "10.1.2.3",
        22,
        Some("10.1.2.3:22"),
        "v4:port",
    ),
    row("[::1]", "[::1]", 80, Some("[::1]"), "bracketed v6"),
    row("[::1]", "::1", 80, Some("[::1]"), "bracketed v6, bare host"),
    row(
        "[::1]/128",
        "[::1]",
        80,
        Some("[::1]/128"),
        "bracketed v6 CIDR",
    ),
    row(
        "[::1/128]",
        "[::1]",
        80,
        Some("[::1/128]"),
        "CIDR inside brackets",
    ),
    row(
        "[::1]:8080",
        "[::1]",
        8080,
        Some("[::1]:8080"),
        "bracketed v6:port",
    ),
    row("[::1]:8080", "[::1]", 80, None, "bracketed v6, other port"),
    row(
        "[fd00::]/8:443",
        "[fd12::1]",
        443,
        Some("[fd00::]/8:443"),
        "v6 CIDR:port",
    ),
    row(
        "0.0.0.0/0",
        "203.0.113.9",
        80,
        Some("0.0.0.0/0"),
        "/0 is all of v4",
    ),
    row("0.0.0.0/0", "[::1]", 80, None, "/0 of v4 is not v6"),
    row(
        "http://example.com",
        "example.com",
        80,
        None,
        "URLs never match",
    ),
    row(
        "example.com:http",
        "example.com",
        80,
        None,
        "bad port never matches",
    ),
];

fn check(rows: &[Row]) {
    let mut failures = Vec::new();
    for row in rows {
        let bypass = Bypass::parse(row.list);
        let got = bypass.matches(row.host, row.port);
        if got != row.expect {
            failures.push(format!(
                "{}: list {:?}, host {:?} port {}: expected {:?}, got {:?}",
                row.rule, row.list, row.host, row.port, row.expect, got
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn bypass_matching_follows_curls_documented_noproxy_behaviour() {
    check(CURL);
}

#[test]
fn design_extensions_give_meaning_only_to_entries_curl_ignores() {
    check(EXTENSIONS);
}

#[test]
fn entries_that_can_never_match_are_reported_with_a_reason() {
    let list =
        "ok.example.com, http://proxy, 10.0.0.0/33, example.com:99999, *, foo*.com, 10.0.0.0/x";
    let bypass = Bypass::parse(list);
    let invalid: Vec<&str> = bypass.invalid_entries().map(|(entry, _)| entry).collect();
    assert_eq!(
        invalid,
        [
            "http://proxy",
            "10.0.0.0/33",
            "example.com:99999",
            "*",
            "foo*.com",
            "10.0.0.0/x"
        ]
    );
    assert_eq!(Bypass::parse("*").invalid_entries().count(), 0);
    assert_eq!(
        Bypass::parse("localhost, .a.example, *.b.example, ::1, [::1]:80, 10.0.0.0/8")
            .invalid_entries()
            .count(),
        0
    );
}
