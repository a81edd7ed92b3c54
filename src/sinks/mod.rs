//! Sinks: where finished rows go, in input order, and the side files every
//! run writes (rejects, duplicates) and its report. Every file is written to
//! a temporary name and renamed into place only when the run completes;
//! objects on S3-compatible storage are uploaded under temporary keys and
//! published at the end (`object`); a PostgreSQL table receives the run's
//! rows in one transaction at the end (`postgres`); a CRM list receives
//! upserts as rows arrive (`graph8`).
//!
//! Each kind of sink is one file and one variant of [`SinkSpec`] (`spec`);
//! [`Sink`] opens any kind and `drive` feeds it (on a thread or a task, as
//! its kind needs), so the runner drives every sink alike and names none.
//! Nothing here knows of the runner.

pub mod atomic;
pub mod csv;
mod drive;
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

use indexmap::IndexMap;
use serde::Serialize;

pub use self::drive::{Drained, Running};
use self::spec::SinkSpec;
use crate::record::Record;
use crate::vendors::graph8::Graph8;
use crate::vendors::http::{Vendor, VendorHttp};

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
    /// A sink's thread panicked (a bug).
    #[error("internal error: {target}: the sink's thread panicked")]
    Panicked { target: String },
    /// A sink's task failed (a bug: it panicked).
    #[error("a task of the run failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    #[error("cannot start a sink's thread: {0}")]
    Thread(#[source] std::io::Error),
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
#[allow(clippy::large_enum_variant)] // a few per run
pub enum Sink {
    /// A file, object or table sink: it blocks on its I/O, so it is fed on its own thread.
    Blocking(Blocking),
    /// A graph8 upsert sink: it calls the vendor with several batches in
    /// flight, so it is fed on a task of the runtime.
    Graph8Upsert(Box<graph8::Graph8Sink>),
}

/// A sink that writes by blocking on its I/O.
pub enum Blocking {
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
    /// sink connects (and checks what it can) now, before any row is paid
    /// for. A sink that calls a vendor uses the run's client of it in `vendors`.
    pub async fn open(
        spec: &SinkSpec,
        columns: &[schema::Column],
        run: RunTag<'_>,
        vendors: &IndexMap<Vendor, VendorHttp>,
    ) -> Result<Sink, SinkError> {
        let columns = &select::columns_for(spec.selection(), columns).map_err(|source| SinkError::Columns {
            target: spec.target(),
            source,
        })?;
        Ok(Sink::Blocking(match spec {
            SinkSpec::Parquet(s) => match s.location() {
                Some(location) => {
                    let location = location.map_err(|message| SinkError::ObjectPath {
                        url: s.path.display().to_string(),
                        message,
                    })?;
                    Blocking::Parquet(parquet::ParquetSink::open_object(s, location, columns).await?)
                }
                None => Blocking::Parquet(parquet::ParquetSink::create(s, columns)?),
            },
            SinkSpec::Csv(s) => Blocking::Csv(csv::CsvSink::create(s, columns)?),
            SinkSpec::Postgres(s) => Blocking::Postgres(Box::new(
                postgres::PostgresSink::open(s, columns, run.pipeline, run.run_id).await?,
            )),
            SinkSpec::Graph8Upsert(s) => {
                let sink = graph8::Graph8Sink::create(s, columns, Graph8::of_run(vendors))?;
                return Ok(Sink::Graph8Upsert(Box::new(sink)));
            }
        }))
    }

    /// Complete the output and move it into place; what the sink reports
    /// beside its output (a database load's or CRM upsert's counts).
    /// Blocks: call off the async runtime.
    pub fn finish(self) -> Result<Option<SinkCounts>, SinkError> {
        match self {
            Sink::Blocking(Blocking::Parquet(s)) => s.finish().map(|()| None),
            Sink::Blocking(Blocking::Csv(s)) => s.finish().map(|()| None),
            Sink::Blocking(Blocking::Postgres(s)) => s.finish_blocking().map(|c| Some(SinkCounts::Load(c))),
            Sink::Graph8Upsert(s) => s.finish().map(|c| Some(SinkCounts::Upsert(c))),
        }
    }

    /// Drop the output uncommitted (no partial file is left, a database load
    /// rolls back); what the sink did that cannot be taken back (rows
    /// already upserted into the CRM).
    pub fn abandon(self) -> Option<SinkCounts> {
        match self {
            Sink::Blocking(_) => None,
            Sink::Graph8Upsert(s) => Some(SinkCounts::Upsert(s.counts.clone())),
        }
    }
}

impl Blocking {
    /// Write rows (on the sink's own thread: remote sinks block on their I/O).
    pub fn write(&mut self, records: &[Record]) -> Result<(), SinkError> {
        match self {
            Blocking::Parquet(s) => s.write(records),
            Blocking::Csv(s) => s.write(records),
            Blocking::Postgres(s) => s.write(records),
        }
    }
}

/// What a sink reports beside its output, under its name in the run report.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum SinkCounts {
    Upsert(graph8::UpsertCounts),
    Load(postgres::LoadCounts),
}

impl SinkCounts {
    /// Rows the sink could not write (they make the run exit 1).
    pub fn rows_failed(&self) -> u64 {
        match self {
            SinkCounts::Upsert(c) => c.rows_failed,
            SinkCounts::Load(_) => 0,
        }
    }
}
