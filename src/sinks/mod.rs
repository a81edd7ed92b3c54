//! Sinks: where finished rows go, in input order, and the side files every
//! run writes (rejects, duplicates) and its report. Every file is written to
//! a temporary name and renamed into place only when the run completes;
//! objects on S3-compatible storage are uploaded under temporary keys and
//! published at the end (`object`); a PostgreSQL table receives the run's
//! rows in one transaction at the end (`postgres`).

pub mod atomic;
pub mod csv;
mod encode;
pub mod graph8;
pub mod object;
pub mod parquet;
pub mod partition;
pub mod postgres;
pub mod report;
pub mod schema;
pub mod select;
pub mod side;
pub mod spec;

use std::path::PathBuf;

use self::spec::SinkSpec;
use crate::record::Record;

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: writing Parquet failed: {source}")]
    Parquet {
        path: PathBuf,
        #[source]
        source: ::parquet::errors::ParquetError,
    },
    #[error("{path}: building a Parquet row group failed: {source}")]
    Arrow {
        path: PathBuf,
        #[source]
        source: arrow_schema::ArrowError,
    },
    #[error("{path}: writing CSV failed: {source}")]
    Csv {
        path: PathBuf,
        #[source]
        source: ::csv::Error,
    },
    /// `compression` / `zstd_level` name no codec (`key` is the one at fault).
    #[error("{path}: sinks.parquet.{key}: {message}")]
    Codec {
        path: PathBuf,
        key: &'static str,
        message: String,
    },
    /// A `columns = [...]` entry names no output column.
    #[error("{target}: {}: {source}", source.key())]
    Columns {
        target: String,
        #[source]
        source: select::SelectionError,
    },
    #[error("{file}: sinks.graph8_upsert.{source}")]
    Graph8Mapping {
        file: PathBuf,
        #[source]
        source: graph8::UnknownColumn,
    },
    #[error("graph8_upsert is not a file sink (the runner drives it)")]
    NotAFileSink,
    /// An `s3://` path or partition layout that cannot be used (a message of ours).
    #[error("{url}: {message}")]
    ObjectPath { url: String, message: String },
    #[error("{url}: {source}")]
    ObjectStore {
        url: String,
        #[source]
        source: object_store::Error,
    },
    #[error("object storage: {what}: {source}")]
    Object {
        what: String,
        #[source]
        source: object_store::Error,
    },
    /// `target` names the server with its password redacted. The driver's
    /// error is kept as text, scrubbed of the password, not as a source:
    /// its message can repeat the connection string.
    #[error("{target}: {message}")]
    Postgres { target: String, message: String },
}

/// An open sink of any kind.
pub enum Sink {
    Parquet(parquet::ParquetSink),
    Csv(csv::CsvSink),
    Postgres(Box<postgres::PostgresSink>),
}

/// The run a sink writes for (tags rows loaded into a database).
pub struct RunTag<'a> {
    pub pipeline: &'a str,
    pub run_id: i64,
}

impl Sink {
    /// Open a sink: local files are created beside their path; a remote
    /// sink connects (and checks what it can) now, before any row is paid for.
    pub async fn open(spec: &SinkSpec, columns: &[schema::Column], run: RunTag<'_>) -> Result<Sink, SinkError> {
        let columns = &select::columns_for(spec.selection(), columns).map_err(|source| SinkError::Columns {
            target: spec.target(),
            source,
        })?;
        Ok(match spec {
            SinkSpec::Parquet(s) => match s.location() {
                Some(location) => {
                    let location = location.map_err(|message| SinkError::ObjectPath {
                        url: s.path.display().to_string(),
                        message,
                    })?;
                    Sink::Parquet(parquet::ParquetSink::open_object(s, location, columns).await?)
                }
                None => Sink::Parquet(parquet::ParquetSink::create(s, columns)?),
            },
            SinkSpec::Csv(s) => Sink::Csv(csv::CsvSink::create(s, columns)?),
            SinkSpec::Postgres(s) => Sink::Postgres(Box::new(
                postgres::PostgresSink::open(s, columns, run.pipeline, run.run_id).await?,
            )),
            SinkSpec::Graph8Upsert(_) => {
                return Err(SinkError::NotAFileSink);
            }
        })
    }

    /// Write rows (on the sink's own thread: remote sinks block on their I/O).
    pub fn write(&mut self, records: &[Record]) -> Result<(), SinkError> {
        match self {
            Sink::Parquet(s) => s.write(records),
            Sink::Csv(s) => s.write(records),
            Sink::Postgres(s) => s.write(records),
        }
    }

    /// Complete the output and move it into place; a database sink's counts.
    /// Blocks: call off the async runtime.
    pub fn finish(self) -> Result<Option<postgres::LoadCounts>, SinkError> {
        match self {
            Sink::Parquet(s) => s.finish().map(|()| None),
            Sink::Csv(s) => s.finish().map(|()| None),
            Sink::Postgres(s) => s.finish_blocking().map(Some),
        }
    }
}
