//! Stages: the steps between source and sinks, one file each, listed in one
//! closed enum. A stage reads fields of a record and writes its own; it never
//! reorders rows, so sinks receive them in input order.

pub mod dedupe;
pub mod rocketreach;

use serde::Deserialize;

/// `[[stages]]` entries, tagged by `kind`.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum StageSpec {
    Dedupe(dedupe::DedupeSpec),
    RocketreachLookup(rocketreach::RocketReachSpec),
}

impl StageSpec {
    /// The stage's name in reports and the state store: its kind, and its
    /// position when a kind appears more than once.
    /// The exact key and message of a problem in a table of this `kind` (see `spec::refine`).
    pub(crate) fn diagnose(kind: &str, value: toml::Value) -> Option<(String, String)> {
        match kind {
            "dedupe" => crate::spec::diagnose_as::<dedupe::DedupeSpec>(value),
            "rocketreach_lookup" => crate::spec::diagnose_as::<rocketreach::RocketReachSpec>(value),
            _ => None,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            StageSpec::Dedupe(_) => "dedupe",
            StageSpec::RocketreachLookup(_) => "rocketreach_lookup",
        }
    }

    /// The vendor a stage pays, if any.
    pub fn vendor(&self) -> Option<crate::vendors::http::Vendor> {
        match self {
            StageSpec::Dedupe(_) => None,
            StageSpec::RocketreachLookup(_) => Some(crate::vendors::http::Vendor::RocketReach),
        }
    }
}

/// Per-stage counts for the run report.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct StageCounts {
    pub rows_in: u64,
    pub rows_out: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub rows_duplicate: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub rows_failed: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub rows_skipped: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub rows_found: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub rows_not_found: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub rows_cached: u64,
    pub duration_s: f64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}
