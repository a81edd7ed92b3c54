//! `[[sinks]]`: which sink a table of the pipeline file describes, and what
//! every sink's spec answers alike (its kind, its columns, the fields it
//! reads, its local file, its target, the vendor it calls).

use std::path::Path;

use serde::Deserialize;

use super::SinkError;
use super::schema::Column;
use super::select::Selection;
use crate::vendors::http::Vendor;

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
    /// Its `kind` in the pipeline file (and its name in the run report).
    pub fn kind(&self) -> &'static str {
        match self {
            SinkSpec::Parquet(_) => "parquet",
            SinkSpec::Csv(_) => "csv",
            SinkSpec::Graph8Upsert(_) => "graph8_upsert",
            SinkSpec::Postgres(_) => "postgres",
        }
    }

    /// The vendor the sink calls, if any.
    pub fn vendor(&self) -> Option<Vendor> {
        match self {
            SinkSpec::Graph8Upsert(_) => Some(Vendor::Graph8),
            _ => None,
        }
    }

    /// The output columns the sink reads by name, as its `columns` and its
    /// partition keys; `None` when it may read any of them (no `columns`
    /// given, or a sink that maps fields itself: a database table or a CRM
    /// upsert).
    pub fn columns_read(&self) -> Option<(&Selection, &[String])> {
        match self {
            SinkSpec::Parquet(s) => Some((s.columns.as_ref()?, &s.partition_by[..])),
            SinkSpec::Csv(s) => Some((s.columns.as_ref()?, &[][..])),
            SinkSpec::Graph8Upsert(_) | SinkSpec::Postgres(_) => None,
        }
    }

    /// Refuse, before any paid call, what the sink maps beyond its
    /// `columns` (a graph8 field mapping) when it names a column the run
    /// does not give; `file` is the pipeline file.
    pub fn check_columns(&self, file: &Path, columns: &[Column]) -> Result<(), SinkError> {
        if let SinkSpec::Graph8Upsert(g) = self {
            g.mapping(columns).map_err(|source| SinkError::Graph8Mapping {
                file: file.to_path_buf(),
                source,
            })?;
        }
        Ok(())
    }

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

    /// The sink's own checks, as (key under the sink's table, message).
    /// `unset` says whether a value is a `${VAR}` whose variable is not set
    /// (reported as that variable, not by the sink).
    pub fn check(&self, unset: &dyn Fn(&str) -> bool) -> Vec<(String, String)> {
        let owned =
            |problems: Vec<(&'static str, String)>| problems.into_iter().map(|(k, m)| (k.to_string(), m)).collect();
        match self {
            SinkSpec::Parquet(s) => owned(s.check()),
            SinkSpec::Csv(s) => owned(s.check()),
            SinkSpec::Graph8Upsert(s) => s.check(),
            SinkSpec::Postgres(s) => {
                let url_unset = unset(s.url.expose());
                owned(
                    s.check()
                        .into_iter()
                        .filter(|(key, _)| !(url_unset && *key == "url"))
                        .collect(),
                )
            }
        }
    }

    /// The key naming what the sink writes: a database sink's `table`, the others' `path`.
    pub fn target_key(&self) -> &'static str {
        match self {
            SinkSpec::Postgres(_) => "table",
            _ => "path",
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
