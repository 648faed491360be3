//! Mapping captured [`Exchange`](interpose_capture::Exchange)s to and from
//! file formats: HAR 1.2 (export and import), Postman Collection v2.1 and
//! curl command lines; OpenAPI 3.1 later.
//!
//! Everything here is a pure function over the capture model, plus writers
//! that stream to any [`std::io::Write`] and readers over any
//! [`std::io::Read`]. This crate never opens sockets, files or the store:
//! callers hand it exchanges and a writer, or a reader.

#![forbid(unsafe_code)]

mod content;
pub mod curl;
pub mod har;
mod multipart;
pub mod postman;
mod url_parts;

/// Why an export could not be written, or an import read.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    /// The writer refused the bytes (disk full, closed pipe, no permission).
    #[error(
        "could not write the export: {0} (check the output path, its permissions and free space)"
    )]
    Io(#[from] std::io::Error),
    /// An entry could not be encoded as JSON. Not expected with the capture
    /// model; reported with the entry's position so it can be found.
    #[error("could not encode HAR entry {index} (0-based) as JSON: {source}")]
    Encode {
        index: usize,
        #[source]
        source: serde_json::Error,
    },
    /// The collection could not be encoded as JSON. Not expected with the
    /// capture model.
    #[error("could not encode the Postman collection as JSON: {0}")]
    EncodeCollection(#[source] serde_json::Error),
    /// An import's input could not be read.
    #[error("could not read the HAR file: {0}")]
    Read(#[source] std::io::Error),
    /// An import's input is not JSON at all.
    #[error("not a HAR file: the input is not valid JSON ({0})")]
    NotJson(#[source] serde_json::Error),
    /// An import's input is JSON but not a HAR log.
    #[error("not a HAR file: {0}")]
    NotHar(String),
    /// One entry of a HAR log lacks a field or has one of the wrong kind.
    #[error("HAR entry {index} (log.entries[{index}]): {problem}")]
    HarEntry { index: usize, problem: String },
}
