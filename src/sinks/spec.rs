//! `[[sinks]]`: which sink a table of the pipeline file describes, and what
//! every sink's spec answers alike (its columns, its local file, its target).

use std::path::Path;

use serde::Deserialize;

/// Where finished rows go.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum SinkSpec {
    Parquet(super::parquet::ParquetSinkSpec),
    Csv(super::csv::CsvSinkSpec),
    Graph8Upsert(super::graph8::Graph8SinkSpec),
    Postgres(super::postgres::PostgresSinkSpec),
}

impl SinkSpec {
    /// Its `columns = [...]`, for the sinks that write columns and were given one.
    pub fn selection(&self) -> Option<&super::select::Selection> {
        match self {
            SinkSpec::Parquet(s) => s.columns.as_ref(),
            SinkSpec::Csv(s) => s.columns.as_ref(),
            SinkSpec::Postgres(s) => s.columns.as_ref(),
            SinkSpec::Graph8Upsert(_) => None,
        }
    }

    pub(crate) fn selection_mut(&mut self) -> Option<&mut super::select::Selection> {
        match self {
            SinkSpec::Parquet(s) => s.columns.as_mut(),
            SinkSpec::Csv(s) => s.columns.as_mut(),
            SinkSpec::Postgres(s) => s.columns.as_mut(),
            SinkSpec::Graph8Upsert(_) => None,
        }
    }

    /// The local file the sink writes (for `graph8_upsert`, its receipt);
    /// `None` for an output elsewhere (object storage, a database).
    pub fn local_path(&self) -> Option<&Path> {
        match self {
            SinkSpec::Parquet(s) if s.location().is_some() => None,
            SinkSpec::Parquet(s) => Some(&s.path),
            SinkSpec::Csv(s) => Some(&s.path),
            SinkSpec::Graph8Upsert(s) => Some(&s.path),
            SinkSpec::Postgres(_) => None,
        }
    }

    /// What the sink writes, for messages and the run report (a database
    /// sink's server with its password redacted).
    pub fn target(&self) -> String {
        match self {
            SinkSpec::Postgres(s) => format!("{} table {}", crate::secret::redact_url(s.url.expose()), s.table),
            SinkSpec::Parquet(s) => s.path.display().to_string(),
            SinkSpec::Csv(s) => s.path.display().to_string(),
            SinkSpec::Graph8Upsert(s) => s.path.display().to_string(),
        }
    }

    /// The first error in a sink table of this `kind`, as (key, message).
    pub(crate) fn diagnose(kind: &str, value: toml::Value) -> Option<(String, String)> {
        match kind {
            "parquet" => crate::diagnose::table_as::<super::parquet::ParquetSinkSpec>(value),
            "csv" => crate::diagnose::table_as::<super::csv::CsvSinkSpec>(value),
            "graph8_upsert" => crate::diagnose::table_as::<super::graph8::Graph8SinkSpec>(value),
            "postgres" => crate::diagnose::table_as::<super::postgres::PostgresSinkSpec>(value),
            _ => None,
        }
    }
}
