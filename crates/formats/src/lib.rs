//! Mapping captured [`Exchange`](interpose_capture::Exchange)s to and from
//! file formats: HAR 1.2 now; Postman Collection v2.1, OpenAPI 3.1 and curl
//! command lines later.
//!
//! Everything here is a pure function over the capture model, plus writers
//! that stream to any [`std::io::Write`]. This crate never opens sockets,
//! files or the store: callers hand it exchanges and a writer.

#![forbid(unsafe_code)]

pub mod har;

/// Why an export could not be written.
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
}
