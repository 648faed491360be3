//! The rules file's errors: each names the file, line and rule, says what
//! is wrong and what to do.

use std::path::Path;

use super::*;

fn parse(text: &str) -> Result<RuleSet, RulesError> {
    RuleSet::parse(text, Path::new("rules.toml"))
}

fn err(text: &str) -> RulesError {
    match parse(text) {
        Ok(_) => panic!("parsed, but should not have:\n{text}"),
        Err(e) => e,
    }
}

/// Asserts the line, the rule's name and a piece of the message.
#[track_caller]
fn check(e: &RulesError, line: usize, rule: Option<&str>, says: &str) {
    let shown = e.to_string();
    assert_eq!(e.line(), Some(line), "line of: {shown}");
    assert_eq!(e.rule(), rule, "rule of: {shown}");
    assert!(shown.contains(says), "expected {says:?} in: {shown}");
    assert!(shown.starts_with("rules.toml line "), "{shown}");
}

#[test]
fn an_empty_file_or_one_with_only_comments_has_no_rules() {
    assert!(parse("").unwrap().is_empty());
    assert_eq!(parse("# nothing yet\n\n").unwrap().len(), 0);
}

#[test]
fn the_full_example_from_the_design_parses() {
    let set = parse(
        r#"
[[rule]]
name = "add-api-token"
match = { host = "api.example.com", path = "/v1/", methods = ["GET", "POST"] }
set_headers = { Authorization = "Bearer abc" }     # on the forwarded request
remove_headers = ["X-Tracking"]
set_response_headers = { "Cache-Control" = "no-store" }
remove_response_headers = ["Server"]
map_remote = "https://staging.example.com"         # send it there instead
respond = { status = 503, body = "down", headers = { "Retry-After" = "5" } }

[rule.match]
"#,
    );
    // `[rule.match]` after an inline `match` is a TOML error, so check the
    // example alone too.
    assert!(set.is_err());
    let set = parse(
        r#"
[[rule]]
name = "add-api-token"
match = { host = "api.example.com", path = "/v1/", methods = ["GET", "POST"] }
set_headers = { Authorization = "Bearer abc" }
remove_headers = ["X-Tracking"]
set_response_headers = { "Cache-Control" = "no-store" }
remove_response_headers = ["Server"]
map_remote = "https://staging.example.com"
respond = { status = 503, body = "down", headers = { "Retry-After" = "5" } }

[[rule]]
name = "second"
[rule.match]
host = "*.example.com"
"#,
    )
    .unwrap();
    assert_eq!(set.names(), ["add-api-token", "second"]);
}

#[test]
fn unknown_key_in_a_rule_suggests_the_known_one() {
    let e = err("[[rule]]\nname = \"add-api-token\"\nset_header = { A = \"b\" }\n");
    assert_eq!(
        e.to_string(),
        "rules.toml line 3, rule \"add-api-token\": unknown key `set_header` in the rule; did you mean `set_headers`?"
    );
    assert_eq!(e.line(), Some(3));
    assert_eq!(e.rule(), Some("add-api-token"));
}

#[test]
fn unknown_key_before_the_name_still_names_the_rule() {
    let e = err("[[rule]]\nmap-remote = \"https://x\"\nname = \"n\"\n");
    check(
        &e,
        2,
        Some("n"),
        "unknown key `map-remote` in the rule; did you mean `map_remote`?",
    );
}

#[test]
fn unknown_top_level_key_suggests_rule() {
    let e = err("[[rules]]\nname = \"n\"\n");
    assert_eq!(
        e.to_string(),
        "rules.toml line 1: unknown key `rules` at the top level; did you mean `rule`?"
    );
    assert_eq!(e.rule(), None);
}

#[test]
fn unknown_keys_in_match_and_respond_suggest_their_own_keys() {
    let e = err("[[rule]]\nname = \"n\"\nmatch = { method = [\"GET\"] }\n");
    check(
        &e,
        3,
        Some("n"),
        "unknown key `method` in `match`; did you mean `methods`?",
    );
    let e = err("[[rule]]\nname = \"n\"\n[rule.respond]\nstatus = 500\nbdoy = \"x\"\n");
    check(
        &e,
        5,
        Some("n"),
        "unknown key `bdoy` in `respond`; did you mean `body`?",
    );
    let e = err("[[rule]]\nname = \"n\"\nrespond = { status_code = 500 }\n");
    check(&e, 3, Some("n"), "did you mean `status`?");
}

#[test]
fn a_key_at_the_wrong_level_says_where_it_goes() {
    let e = err("[[rule]]\nname = \"n\"\nhost = \"a\"\n");
    check(
        &e,
        3,
        Some("n"),
        "`host` goes inside `match`, e.g. match = { host = ... }",
    );
    // `path` is two edits from `match`, but is surely match.path.
    let e = err("[[rule]]\nname = \"n\"\npath = \"/v1/\"\n");
    check(
        &e,
        3,
        Some("n"),
        "unknown key `path` in the rule; `path` goes inside `match`",
    );
    let e = err("[[rule]]\nname = \"n\"\nmethod = [\"GET\"]\n");
    check(&e, 3, Some("n"), "`methods` goes inside `match`");
    let e = err("[[rule]]\nname = \"n\"\nstatus = 503\n");
    check(&e, 3, Some("n"), "`status` goes inside `respond`");
    let e = err("name = \"n\"\n");
    assert_eq!(e.line(), Some(1));
    assert!(
        e.to_string().contains("put it under a [[rule]] header"),
        "{e}"
    );
}

#[test]
fn an_unknown_key_with_nothing_close_lists_the_keys() {
    let e = err("[[rule]]\nname = \"n\"\npriority = 1\n");
    check(
        &e,
        3,
        Some("n"),
        "unknown key `priority` in the rule; a rule takes name, match, set_headers",
    );
}

#[test]
fn bad_path_regex_quotes_the_regex_error() {
    let e = err("[[rule]]\nname = \"re\"\n\nmatch = { path_regex = '^/users/(' }\n");
    check(
        &e,
        4,
        Some("re"),
        "`match.path_regex` \"^/users/(\" is not a valid regex: unclosed group",
    );
}

#[test]
fn bad_host_glob_says_why() {
    let e = err("[[rule]]\nname = \"g\"\nmatch = { host = \"**.example.com\" }\n");
    check(&e, 3, Some("g"), "bad host glob \"**.example.com\"");
    let e = err("[[rule]]\nname = \"g\"\nmatch = { host = \"\" }\n");
    check(&e, 3, Some("g"), "bad host glob \"\": it is empty");
    let e = err("[[rule]]\nname = \"g\"\nmatch = { host = \"https://a.com\" }\n");
    check(&e, 3, Some("g"), "'/' is not allowed");
}

#[test]
fn match_path_must_start_with_a_slash() {
    let e = err("[[rule]]\nname = \"p\"\nmatch = { path = \"v1/\" }\n");
    check(&e, 3, Some("p"), "`match.path` \"v1/\" must start with `/`");
    let e = err("[[rule]]\nname = \"p\"\nmatch = { path = \"/v1/*\" }\n");
    check(&e, 3, Some("p"), "use path_regex");
}

#[test]
fn methods_must_be_method_tokens() {
    let e = err("[[rule]]\nname = \"m\"\nmatch = { methods = [\"GET\", \"GE T\"] }\n");
    check(&e, 3, Some("m"), "\"GE T\" is not an HTTP method");
    let e = err("[[rule]]\nname = \"m\"\nmatch = { methods = [] }\n");
    check(&e, 3, Some("m"), "`match.methods` is empty");
}

#[test]
fn invalid_header_name_is_named_on_its_line() {
    let e =
        err("[[rule]]\nname = \"h\"\n[rule.set_headers]\nGood = \"1\"\n\"Bad Header\" = \"x\"\n");
    check(
        &e,
        5,
        Some("h"),
        "\"Bad Header\" in `set_headers` is not a valid header name",
    );
    let e = err("[[rule]]\nname = \"h\"\nremove_response_headers = [\"Server\", \"a:b\"]\n");
    check(
        &e,
        3,
        Some("h"),
        "\"a:b\" in `remove_response_headers` is not a valid header name",
    );
}

#[test]
fn invalid_header_value_names_the_header() {
    let e = err("[[rule]]\nname = \"h\"\nset_response_headers = { X-Note = \"line\\nbreak\" }\n");
    check(
        &e,
        3,
        Some("h"),
        "the value of header \"X-Note\" is not a valid header value",
    );
}

#[test]
fn framing_headers_cannot_be_set() {
    let e = err("[[rule]]\nname = \"h\"\nrespond = { body = \"x\", headers = { Content-Length = \"1\" } }\n");
    check(
        &e,
        3,
        Some("h"),
        "cannot set \"Content-Length\": the proxy frames the body",
    );
}

#[test]
fn the_same_header_twice_in_one_table_is_an_error() {
    let e = err("[[rule]]\nname = \"h\"\nset_headers = { X-A = \"1\", x-a = \"2\" }\n");
    check(&e, 3, Some("h"), "is in `set_headers` twice");
}

#[test]
fn missing_body_file_names_the_resolved_path() {
    let dir = tempfile::tempdir().unwrap();
    let origin = dir.path().join("rules.toml");
    let text = "[[rule]]\nname = \"file\"\n\nrespond = { body_file = \"bodies/missing.json\" }\n";
    let e = RuleSet::parse(text, &origin).unwrap_err();
    let resolved = dir.path().join("bodies/missing.json");
    assert_eq!(e.line(), Some(4));
    assert_eq!(e.rule(), Some("file"));
    let shown = e.to_string();
    assert!(
        shown.contains(&format!("cannot read body_file {}", resolved.display())),
        "{shown}"
    );
    assert!(
        shown.contains("relative to the rules file's folder"),
        "{shown}"
    );
    assert!(shown.starts_with(&origin.display().to_string()), "{shown}");
}

#[test]
fn body_and_body_file_together_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("b.txt"), "b").unwrap();
    let text = "[[rule]]\nname = \"both\"\n[rule.respond]\nbody = \"a\"\nbody_file = \"b.txt\"\n";
    let e = RuleSet::parse(text, &dir.path().join("rules.toml")).unwrap_err();
    assert_eq!(e.line(), Some(5));
    assert_eq!(e.rule(), Some("both"));
    assert!(e
        .to_string()
        .contains("`respond` has both `body` and `body_file`; keep one"));
}

#[test]
fn status_must_be_a_final_status() {
    let e = err("[[rule]]\nname = \"s\"\nrespond = { status = 700 }\n");
    check(
        &e,
        3,
        Some("s"),
        "status 700 is not an HTTP status a rule can answer with; use 200..=599",
    );
    let e = err("[[rule]]\nname = \"s\"\nrespond = { status = 101 }\n");
    check(&e, 3, Some("s"), "1xx responses are interim");
    let e = err("[[rule]]\nname = \"s\"\nrespond = { status = \"503\" }\n");
    check(
        &e,
        3,
        Some("s"),
        "`respond.status` must be a number, e.g. status = 503; found a string",
    );
}

#[test]
fn map_remote_takes_only_scheme_host_and_port() {
    let e = err("[[rule]]\nname = \"m\"\nmap_remote = \"https://staging.example.com/v2\"\n");
    check(
        &e,
        3,
        Some("m"),
        "map_remote takes scheme://host[:port]; the request's own path is kept",
    );
    let e = err("[[rule]]\nname = \"m\"\nmap_remote = \"https://staging.example.com/?a=1\"\n");
    check(&e, 3, Some("m"), "the request's own path is kept");
    let e = err("[[rule]]\nname = \"m\"\nmap_remote = \"staging.example.com\"\n");
    check(
        &e,
        3,
        Some("m"),
        "has no scheme; write it as scheme://host[:port], e.g. \"https://staging.example.com\"",
    );
    let e = err("[[rule]]\nname = \"m\"\nmap_remote = \"ftp://files.example.com\"\n");
    check(&e, 3, Some("m"), "has scheme `ftp`");
    let e = err("[[rule]]\nname = \"m\"\nmap_remote = \"https://u:p@example.com\"\n");
    check(&e, 3, Some("m"), "has a user name in it");
}

#[test]
fn duplicate_names_name_both_lines() {
    let e = err(
        "[[rule]]\nname = \"twice\"\n\n[[rule]]\nname = \"other\"\n\n[[rule]]\nname = \"twice\"\n",
    );
    check(
        &e,
        8,
        Some("twice"),
        "duplicate rule name: the rule on line 2 is also called \"twice\"",
    );
}

#[test]
fn a_rule_needs_a_non_empty_name() {
    let e = err("[[rule]]\nname = \"a\"\n\n[[rule]]\nmatch = { host = \"x\" }\n");
    assert_eq!(e.line(), Some(4));
    assert_eq!(e.rule(), None);
    assert_eq!(e.rule_number(), Some(2));
    assert!(e
        .to_string()
        .starts_with("rules.toml line 4, rule #2: the rule has no `name`; add one"));
    let e = err("[[rule]]\nname = \" \"\n");
    assert_eq!((e.line(), e.rule_number()), (Some(2), Some(1)));
    assert!(e.to_string().contains("`name` is empty"), "{e}");
}

#[test]
fn wrong_types_say_what_to_write() {
    let e = err("[[rule]]\nname = \"t\"\nmatch = { methods = \"GET\" }\n");
    check(
        &e,
        3,
        Some("t"),
        "`match.methods` must be a list like [\"GET\"] or [\"GET\", \"POST\"]; found a string",
    );
    let e = err("[[rule]]\nname = \"t\"\nremove_headers = \"X-Tracking\"\n");
    check(
        &e,
        3,
        Some("t"),
        "must be a list of header names, e.g. remove_headers = [\"X-Tracking\"]",
    );
    let e = err("[[rule]]\nname = \"t\"\nset_headers = [\"A: b\"]\n");
    check(
        &e,
        3,
        Some("t"),
        "`set_headers` must be a table of header names and values",
    );
    let e = err("[[rule]]\nname = \"t\"\nrespond = { headers = { Retry-After = 5 } }\n");
    check(
        &e,
        3,
        Some("t"),
        "must be a string, e.g. \"Retry-After\" = \"5\"; found an integer",
    );
    let e = err("[[rule]]\nname = 7\n");
    assert_eq!((e.line(), e.rule_number()), (Some(2), Some(1)));
    assert!(e.to_string().contains("`name` must be a string"), "{e}");
}

#[test]
fn rule_as_a_single_table_asks_for_double_brackets() {
    let e = err("[rule]\nname = \"n\"\n");
    assert_eq!(e.line(), Some(1));
    assert!(
        e.to_string().contains("write [[rule]] (double brackets)"),
        "{e}"
    );
    let e = err("[rule]\nname = \"n\"\n\n[[rule]]\nname = \"m\"\n");
    assert_eq!(e.line(), Some(4));
    assert!(
        e.to_string().contains("write [[rule]] (double brackets)"),
        "{e}"
    );
}

#[test]
fn toml_syntax_errors_give_the_line_and_the_rule_they_are_in() {
    let e =
        err("[[rule]]\nname = \"ok\"\n\n[[rule]]\nname = \"broken\"\nset_headers = { A = b }\n");
    check(&e, 6, Some("broken"), "TOML syntax error");
    let e = err("[[rule]]\nname = \"n\"\nname = \"m\"\n");
    check(
        &e,
        3,
        Some("n"),
        "TOML syntax error at `name`: duplicate key",
    );
    let e = err("x = \n");
    assert_eq!((e.line(), e.rule()), (Some(1), None));
}

#[test]
fn a_file_that_is_not_utf8_says_so_with_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rules.toml");
    std::fs::write(&path, b"[[rule]]\nname = \"caf\xe9\"\n").unwrap();
    let e = RuleSet::load(&path).unwrap_err();
    assert_eq!(e.line(), Some(2));
    assert!(e.to_string().contains("not UTF-8"), "{e}");
}

#[test]
fn a_missing_rules_file_names_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nope.toml");
    let e = RuleSet::load(&path).unwrap_err();
    assert_eq!(e.line(), None);
    assert_eq!(e.path(), path);
    assert!(
        e.to_string()
            .starts_with(&format!("{}: cannot read the rules file:", path.display())),
        "{e}"
    );
}
