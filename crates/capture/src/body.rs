use std::io::Read;

use crate::model::{Body, BodyOmitted};

/// What of a body the capture keeps. The proxy forwards every byte whatever
/// this says; the policy only limits the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyPolicy {
    /// Bytes kept per body; the rest is counted and marked truncated.
    pub max_body: usize,
    /// Keep response bodies at all (`--requests-only` turns this off).
    pub keep_responses: bool,
}

impl Default for BodyPolicy {
    fn default() -> Self {
        BodyPolicy {
            max_body: 16 * 1024 * 1024,
            keep_responses: true,
        }
    }
}

impl BodyPolicy {
    /// Decides, from the response's content type, whether its body is kept.
    pub fn response_omission(&self, content_type: Option<&str>) -> Option<BodyOmitted> {
        if content_type.is_some_and(is_media_type) {
            Some(BodyOmitted::Media)
        } else if !self.keep_responses {
            Some(BodyOmitted::Policy)
        } else {
            None
        }
    }
}

/// Image, audio and video types: their bodies are forwarded, never stored.
pub fn is_media_type(content_type: &str) -> bool {
    let t = content_type.trim_start().to_ascii_lowercase();
    t.starts_with("image/") || t.starts_with("audio/") || t.starts_with("video/")
}

/// Accumulates a body as it streams past, up to a cap. Never blocks and
/// never grows past the cap: bytes beyond it are only counted.
#[derive(Debug)]
pub struct BodyCapture {
    kept: Vec<u8>,
    size: u64,
    cap: usize,
    omitted: Option<BodyOmitted>,
}

impl BodyCapture {
    pub fn new(cap: usize) -> Self {
        BodyCapture {
            kept: Vec::new(),
            size: 0,
            cap,
            omitted: None,
        }
    }

    /// A capture that counts bytes but keeps none, for the reason given.
    pub fn omitted(reason: BodyOmitted) -> Self {
        BodyCapture {
            omitted: Some(reason),
            ..BodyCapture::new(0)
        }
    }

    /// Reserves room for a body of `expected` bytes (its Content-Length),
    /// up to the cap, so a kept body is allocated once instead of by
    /// doubling (which briefly costs up to twice the cap).
    pub fn reserve(&mut self, expected: u64) {
        if self.omitted.is_none() {
            let want = expected.min(self.cap as u64) as usize;
            self.kept
                .reserve_exact(want.saturating_sub(self.kept.len()));
        }
    }

    pub fn push(&mut self, chunk: &[u8]) {
        self.size += chunk.len() as u64;
        if self.omitted.is_none() {
            let room = self.cap.saturating_sub(self.kept.len());
            self.kept.extend_from_slice(&chunk[..chunk.len().min(room)]);
        }
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn finish(self, encoding: Option<String>) -> Body {
        Body {
            truncated: self.omitted.is_none() && self.size > self.kept.len() as u64,
            bytes: self.kept,
            size: self.size,
            omitted: self.omitted,
            encoding,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("body claims content-encoding {encoding:?} but cannot be decoded: {source}")]
    Corrupt {
        encoding: String,
        source: std::io::Error,
    },
    #[error("unsupported content-encoding {0:?}")]
    Unsupported(String),
}

/// Undoes `Content-Encoding` (possibly a list, applied in order) for display
/// and export. Truncated bodies decode as far as they go.
pub fn decode_body(bytes: &[u8], encoding: Option<&str>) -> Result<Vec<u8>, DecodeError> {
    let Some(encoding) = encoding else {
        return Ok(bytes.to_vec());
    };
    let mut data = bytes.to_vec();
    // Encodings are listed in the order they were applied; undo in reverse.
    for coding in encoding.rsplit(',').map(|c| c.trim().to_ascii_lowercase()) {
        data = match coding.as_str() {
            "" | "identity" => data,
            "gzip" | "x-gzip" => read_all(flate2::read::MultiGzDecoder::new(&data[..]), &coding)?,
            "deflate" => {
                // Servers send both zlib-wrapped and raw deflate; try both.
                read_all(flate2::read::ZlibDecoder::new(&data[..]), &coding)
                    .or_else(|_| read_all(flate2::read::DeflateDecoder::new(&data[..]), &coding))?
            }
            "br" => read_all(
                brotli_decompressor::Decompressor::new(&data[..], 4096),
                &coding,
            )?,
            "zstd" => read_all(
                zstd::stream::read::Decoder::new(&data[..]).map_err(|source| {
                    DecodeError::Corrupt {
                        encoding: coding.clone(),
                        source,
                    }
                })?,
                &coding,
            )?,
            other => return Err(DecodeError::Unsupported(other.to_string())),
        };
    }
    Ok(data)
}

fn read_all(mut reader: impl Read, coding: &str) -> Result<Vec<u8>, DecodeError> {
    let mut out = Vec::new();
    match reader.read_to_end(&mut out) {
        Ok(_) => Ok(out),
        // A truncated capture ends mid-stream: keep what decoded.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !out.is_empty() => Ok(out),
        Err(source) => Err(DecodeError::Corrupt {
            encoding: coding.to_string(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn capture_keeps_up_to_the_cap_and_counts_the_rest() {
        let mut c = BodyCapture::new(4);
        c.push(b"abc");
        c.push(b"defgh");
        let body = c.finish(None);
        assert_eq!(body.bytes, b"abcd");
        assert_eq!(body.size, 8);
        assert!(body.truncated);
    }

    #[test]
    fn reserving_from_content_length_never_goes_past_the_cap() {
        let mut c = BodyCapture::new(1024);
        c.reserve(100 * 1024 * 1024);
        assert!(c.kept.capacity() >= 1024 && c.kept.capacity() < 2048);
        let mut small = BodyCapture::new(1024);
        small.reserve(10);
        assert!(small.kept.capacity() < 1024);
    }

    #[test]
    fn omitted_capture_counts_but_keeps_nothing() {
        let mut c = BodyCapture::omitted(BodyOmitted::Media);
        c.push(&[0u8; 100]);
        let body = c.finish(None);
        assert!(body.bytes.is_empty());
        assert_eq!(body.size, 100);
        assert!(!body.truncated);
        assert_eq!(body.omitted, Some(BodyOmitted::Media));
    }

    #[test]
    fn media_types_are_image_audio_and_video() {
        assert!(is_media_type("image/png"));
        assert!(is_media_type("Video/MP4"));
        assert!(is_media_type("audio/ogg; codecs=opus"));
        assert!(!is_media_type("application/json"));
        assert!(!is_media_type("text/css"));
    }

    #[test]
    fn gzip_and_deflate_bodies_decode() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(b"{\"ok\":true}").unwrap();
        let gz = gz.finish().unwrap();
        assert_eq!(decode_body(&gz, Some("gzip")).unwrap(), b"{\"ok\":true}");

        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(b"hello").unwrap();
        assert_eq!(
            decode_body(&z.finish().unwrap(), Some("deflate")).unwrap(),
            b"hello"
        );
    }

    #[test]
    fn zstd_bodies_decode_and_unknown_encodings_are_refused() {
        let z = zstd::stream::encode_all(&b"zstd body"[..], 3).unwrap();
        assert_eq!(decode_body(&z, Some("zstd")).unwrap(), b"zstd body");
        assert!(matches!(
            decode_body(b"x", Some("compress")),
            Err(DecodeError::Unsupported(_))
        ));
    }
}
