//! Sinks: where finished rows go, in input order, and the side files every
//! run writes (rejects, duplicates) and its report. Every file is written to
//! a temporary name and renamed into place only when the run completes.

pub mod atomic;
pub mod csv;
mod encode;
pub mod graph8;
pub mod parquet;
pub mod report;
pub mod schema;
pub mod select;
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
    #[error("{path}: writing Parquet failed: {message}")]
    Parquet { path: PathBuf, message: String },
    #[error("{path}: writing CSV failed: {message}")]
    Csv { path: PathBuf, message: String },
    #[error("{0}")]
    Config(String),
}

/// An open sink of any kind.
pub enum Sink {
    Parquet(parquet::ParquetSink),
    Csv(csv::CsvSink),
}

impl Sink {
    /// Open a sink writing `columns`, or the part its `columns = [...]` selects.
    pub fn create(spec: &SinkSpec, columns: &[schema::Column]) -> Result<Sink, SinkError> {
        let columns = &select::columns_for(spec.selection(), columns)
            .map_err(|e| SinkError::Config(format!("{}: {}", e.key(), e.message)))?;
        Ok(match spec {
            SinkSpec::Parquet(s) => Sink::Parquet(parquet::ParquetSink::create(s, columns)?),
            SinkSpec::Csv(s) => Sink::Csv(csv::CsvSink::create(s, columns)?),
            SinkSpec::Graph8Upsert(_) => {
                return Err(SinkError::Config(
                    "graph8_upsert is not a file sink (the runner drives it)".into(),
                ));
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
