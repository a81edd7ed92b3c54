//! Why a vendor's answer could not be read.
//!
//! Owns the decoding failures of every vendor client's answers (envelopes,
//! JSON bodies, LeadRocks result files), with the parser's error kept as the
//! cause. It does not own what happens next: the HTTP layer retries a body
//! that does not decode and then fails the rows with the reason as text,
//! redacted, because a parser's message can quote the body and a body can
//! echo a secret.

/// A 2xx answer whose body is not what the contract describes.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The body is not the JSON expected (the HTTP layer calls it a malformed body).
    #[error("{0}")]
    Json(#[from] serde_json::Error),
    /// The envelope's `data` is a JSON string that does not itself hold JSON.
    #[error("data is a string but not JSON: {0}")]
    DataString(#[source] serde_json::Error),
    /// A result file that is not readable CSV.
    #[error("unreadable result file: {0}")]
    Csv(#[from] csv::Error),
    /// Readable, but without what the contract promises (our words, naming it).
    #[error("{0}")]
    Shape(String),
}

impl From<&str> for DecodeError {
    fn from(what: &str) -> Self {
        DecodeError::Shape(what.to_string())
    }
}

impl From<String> for DecodeError {
    fn from(what: String) -> Self {
        DecodeError::Shape(what)
    }
}
