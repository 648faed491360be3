//! The exchange model: what one request/response pair through `interpose`
//! looks like once captured.
//!
//! The proxy produces [`Exchange`] values, the store keeps them, and every
//! view (history, HAR, later Postman and OpenAPI) maps from them. This crate
//! owns the model, body decoding, the small policies about what of a body
//! is kept ([`BodyPolicy`]), the capture filters ([`CaptureFilter`]), the
//! history search language ([`SearchExpr`]) and what a `Set-Cookie` does to
//! a cookie jar ([`set_cookie_action`]). It does no IO and knows nothing of sockets,
//! files or views.

mod body;
mod cookies;
mod filter;
mod model;
mod search;

pub use body::{decode_body, is_media_type, BodyCapture, BodyPolicy, DecodeError};
pub use cookies::{
    domain_matches, response_cookie_actions, set_cookie_action, CookieAction, CookieRejected,
    JarCookie,
};
pub use filter::{CaptureFilter, CaptureFilterSpec, FilterError};
pub use model::{
    header_value, version_name, Body, BodyOmitted, Exchange, Header, Request, Response, Session,
    SessionSummary, Timings,
};
pub use search::{SearchError, SearchExpr};
