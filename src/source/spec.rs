//! `[source]`: which source the pipeline file describes, and what every
//! source answers alike before it is opened: the vendor it calls, and what
//! identifies its input in the state store.

use indexmap::IndexMap;
use serde::Deserialize;

use super::SourceError;
use super::preflight::Preflight;
use crate::vendors::graph8::Graph8;
use crate::vendors::http::{Vendor, VendorHttp};

/// Where rows come from.
#[allow(clippy::large_enum_variant)] // one per run
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum SourceSpec {
    Csv(super::csv::CsvSourceSpec),
    Graph8List(super::graph8::Graph8SourceSpec),
}

impl SourceSpec {
    /// The source's own checks, as (key under `source`, message).
    /// `missing_file` says whether a path names no file (a path holding an
    /// unset `${VAR}` is reported as that variable, not as missing).
    pub fn check(&self, missing_file: &dyn Fn(&std::path::Path) -> bool) -> Vec<(&'static str, String)> {
        match self {
            SourceSpec::Csv(csv) => csv.check(missing_file),
            SourceSpec::Graph8List(list) => list.check(),
        }
    }

    /// The vendor the source calls, if any.
    pub fn vendor(&self) -> Option<Vendor> {
        match self {
            SourceSpec::Csv(_) => None,
            SourceSpec::Graph8List(_) => Some(Vendor::Graph8),
        }
    }

    /// What identifies the input in the state store (a resumed run must read
    /// the same input), then what the stages need to know ahead of it: a
    /// file is read ahead when `look_ahead` (a stage plans ahead), a CRM list
    /// says how many members it has.
    pub async fn identify(
        &self,
        vendors: &IndexMap<Vendor, VendorHttp>,
        look_ahead: bool,
    ) -> Result<(String, Preflight), SourceError> {
        match self {
            SourceSpec::Csv(csv) => {
                let input_path = csv.path.clone();
                let fp = blocking(move || super::csv::fingerprint(&input_path))
                    .await?
                    .map_err(|source| SourceError::Open {
                        path: csv.path.clone(),
                        source,
                    })?;
                let preflight = if look_ahead {
                    let spec = csv.clone();
                    blocking(move || Preflight::read(&spec)).await??
                } else {
                    Preflight::of_list(None)
                };
                Ok((fp, preflight))
            }
            SourceSpec::Graph8List(g) => {
                let (fp, list_size) = g.fingerprint(&Graph8::of_run(vendors)).await?;
                Ok((fp, Preflight::of_list(list_size)))
            }
        }
    }

    /// The first error in a source table of this `kind`, as (key, message).
    pub(crate) fn diagnose(kind: &str, value: toml::Value) -> Option<(String, String)> {
        match kind {
            "csv" => crate::diagnose::table_as::<super::csv::CsvSourceSpec>(value),
            "graph8_list" => crate::diagnose::table_as::<super::graph8::Graph8SourceSpec>(value),
            _ => None,
        }
    }
}

/// Run blocking file I/O off the runtime.
pub(super) async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, SourceError> {
    Ok(tokio::task::spawn_blocking(f).await?)
}
