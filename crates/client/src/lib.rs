//! Sending requests: `send` and `replay`, on hyper-util's pooled client
//! (HTTP/1.1 or HTTP/2 by ALPN) with a connector that follows the route
//! decision and dials with `interpose_route::dial`, so `send` goes through
//! proxies exactly as the capture proxy does.
//!
//! **Owns:** turning curl-style arguments into a request ([`SendRequest`],
//! [`RequestBody`], [`FormPart`], [`Auth`], [`parse_header`]), checking it
//! (a `Content-Length` that does not match the body is refused), sending it
//! ([`send`]), following redirects when asked (at most [`MAX_REDIRECTS`];
//! a POST becomes a GET after 301/302/303 as with curl), and replaying a
//! captured exchange ([`replay`], [`ReplayDiff`]).
//!
//! **Hands on:** a [`SendResponse`] as data (status, headers, route,
//! timings, a body to read) and the [`interpose_capture::Exchange`] to save;
//! errors as [`SendError`], one line each.
//!
//! **Never does:** print, read settings files or the cookie jar (the
//! caller passes [`interpose_route::Settings`], the environment, and a
//! `Cookie` value through [`SendRequest::cookies`]), or store anything.

mod connector;
mod error;
mod replay;
mod request;
mod send;

pub use error::{FailureKind, SendError};
pub use replay::{replay, replay_request, ReplayDiff};
pub use request::{parse_header, Auth, FormPart, RequestBody, SendRequest, MAX_REDIRECTS};
pub use send::{send, SendResponse};

pub use interpose_route::{Env, Flags, Route, Settings};
