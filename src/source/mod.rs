//! Sources: where rows come from. A source reads its input in batches,
//! normalises identities and splits off rows that cannot be used (rejects).
//! It owns no state beyond its read position; resuming re-reads the input.
//!
//! Each kind of source is one file (`csv`, `graph8`) and one variant of
//! [`SourceSpec`] (`spec`); `spec` and `input` are where the kinds are told
//! apart (what identifies an input, how it is opened and read), so the runner
//! drives any source alike. Nothing here knows of stages, sinks or the runner.

pub mod csv;
pub mod graph8;
pub mod input;
pub mod preflight;
pub mod spec;
pub(crate) mod split;

pub use input::Input;
pub use spec::SourceSpec;

use std::path::PathBuf;

/// Fatal problems with the input as a whole (a bad row is a reject, not this).
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{path}: cannot open the input: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: the input is empty (no header line)")]
    Empty { path: PathBuf },
    #[error("{path}: the input has a header but no data rows (set `allow_empty = true` in [source] to accept that)")]
    NoRows { path: PathBuf },
    #[error(
        "{path}: cannot detect the delimiter: the header line has no comma, semicolon or tab; set `delimiter` in [source] (e.g. delimiter = \"|\")"
    )]
    UnknownDelimiter { path: PathBuf },
    #[error("{path}: source.delimiter: {source}")]
    Delimiter {
        path: PathBuf,
        #[source]
        source: csv::BadDelimiter,
    },
    #[error("{path}: {source}")]
    Column {
        path: PathBuf,
        #[source]
        source: csv::NoSuchColumn,
    },
    #[error("{path}: the header line is not valid UTF-8: {source}")]
    HeaderNotUtf8 {
        path: PathBuf,
        #[source]
        source: std::str::Utf8Error,
    },
    #[error("{path}: read error near line {line}: {source}")]
    Read {
        path: PathBuf,
        line: u64,
        #[source]
        source: ::csv::Error,
    },
    /// A task reading the input off the runtime failed (a bug: it panicked).
    #[error("a task of the run failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    #[error("graph8 list {list_id}: {error}")]
    List {
        list_id: u64,
        #[source]
        error: crate::vendors::http::CallError,
    },
}
