//! Transformation rules and their file format (`--rules FILE`).
//!
//! This crate owns the rules file: its TOML format, its validation, and
//! messages that point at the file, line and rule with what to do. It hands
//! the proxy a [`RuleSet`], whose [`RuleSet::apply_request`] edits a
//! request's headers and target in place and returns what is left for the
//! way back ([`Applied`]: response header edits, or a [`LocalResponse`] to
//! answer with instead of forwarding), and a [`LiveRules`] that swaps in a
//! new `RuleSet` when the file changes, keeping the last good one through a
//! bad edit.
//!
//! Matching and applying are pure logic over `http` types: no sockets, no
//! tasks, no bodies. The only IO is reading the rules file and the
//! `body_file`s it names (at load time, never per request), and the timer
//! in [`watch`].
//!
//! ```toml
//! [[rule]]
//! name = "add-api-token"
//! match = { host = "api.example.com", path = "/v1/", methods = ["GET", "POST"] }
//! set_headers = { Authorization = "Bearer abc" }     # on the forwarded request
//! remove_headers = ["X-Tracking"]
//! set_response_headers = { "Cache-Control" = "no-store" }
//! remove_response_headers = ["Server"]
//! map_remote = "https://staging.example.com"         # send it there instead
//! respond = { status = 503, body = "down", headers = { "Retry-After" = "5" } }
//! ```
//!
//! Every key but `name` is optional, and a rule without `match` matches
//! every request. In `match`, `host` is a name compared without case, or a
//! glob whose `*` spans one or more characters, dots included
//! (`*.example.com` is every subdomain but not `example.com` itself);
//! `path` is a plain prefix of the URL path; `path_regex` is searched for
//! in the path (anchor it with `^`); `methods` are any of a list. Rules
//! apply in file order, each matched against the request as earlier rules
//! left it, and the first matching `respond` ends the list.

mod error;
mod files;
mod host;
mod live;
mod parse;
mod rule;
mod suggest;

pub use error::RulesError;
pub use live::{watch, LiveRules};
pub use rule::{Applied, LocalResponse, ResponseEdits, RuleSet};
