//! Sinks: where finished rows go, in input order, and the side files every
//! run writes (rejects, duplicates) and its report. Every file is written to
//! a temporary name and renamed into place only when the run completes.

pub mod atomic;
pub mod csv;
pub mod graph8;
pub mod parquet;
pub mod report;
pub mod schema;
pub mod side;

use std::path::PathBuf;

use crate::pipeline::record::Record;
use crate::spec::SinkSpec;

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
    #[error("{path}: sinks.parquet.zstd_level: {source}")]
    ZstdLevel {
        path: PathBuf,
        #[source]
        source: ::parquet::errors::ParquetError,
    },
    #[error("{file}: sinks.graph8_upsert.{source}")]
    Graph8Mapping {
        file: PathBuf,
        #[source]
        source: graph8::UnknownColumn,
    },
    #[error("graph8_upsert is not a file sink (the runner drives it)")]
    NotAFileSink,
}

/// An open sink of any kind.
pub enum Sink {
    Parquet(parquet::ParquetSink),
    Csv(csv::CsvSink),
}

impl Sink {
    pub fn create(spec: &SinkSpec, columns: &[schema::Column]) -> Result<Sink, SinkError> {
        Ok(match spec {
            SinkSpec::Parquet(s) => Sink::Parquet(parquet::ParquetSink::create(s, columns)?),
            SinkSpec::Csv(s) => Sink::Csv(csv::CsvSink::create(s, columns)?),
            SinkSpec::Graph8Upsert(_) => {
                return Err(SinkError::NotAFileSink);
            }
        })
    }

    pub fn write(&mut self, records: &[Record]) -> Result<(), SinkError> {
        match self {
            Sink::Parquet(s) => s.write(records),
            Sink::Csv(s) => s.write(records),
        }
    }

    /// Complete the file and move it into place.
    pub fn finish(self) -> Result<(), SinkError> {
        match self {
            Sink::Parquet(s) => s.finish(),
            Sink::Csv(s) => s.finish(),
        }
    }
}
