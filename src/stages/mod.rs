//! Stages: the steps between source and sinks, one file each, listed in one
//! closed enum. A stage reads fields of a record and writes its own; it never
//! reorders rows, so sinks receive them in input order.

pub mod dedupe;
pub mod held;
pub mod leadrocks;
pub mod reachstream;
pub mod rocketreach;
pub mod suppress;
pub mod waterfall;

use std::sync::Arc;

use futures::future::BoxFuture;
use serde::Deserialize;

use crate::record::{Outcome, Record, Reject, Status};
use crate::state::writer::WriterHandle;
use crate::state::{StateError, Store};
use crate::vendors::http::{Vendor, VendorHttp};

/// `[[stages]]` entries, tagged by `kind`.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum StageSpec {
    Dedupe(dedupe::DedupeSpec),
    RocketreachLookup(rocketreach::RocketReachSpec),
    LeadrocksVerify(leadrocks::LeadRocksSpec),
    ReachstreamEnrich(reachstream::ReachStreamSpec),
    Suppress(suppress::SuppressSpec),
    Waterfall(waterfall::WaterfallSpec),
}

impl StageSpec {
    /// The exact key and message of a problem in a table of this `kind` (see `spec::refine`).
    pub(crate) fn diagnose(kind: &str, value: toml::Value) -> Option<(String, String)> {
        match kind {
            "dedupe" => crate::diagnose::table_as::<dedupe::DedupeSpec>(value),
            "rocketreach_lookup" => crate::diagnose::table_as::<rocketreach::RocketReachSpec>(value),
            "leadrocks_verify" => crate::diagnose::table_as::<leadrocks::LeadRocksSpec>(value),
            "reachstream_enrich" => crate::diagnose::table_as::<reachstream::ReachStreamSpec>(value),
            "suppress" => crate::diagnose::table_as::<suppress::SuppressSpec>(value),
            "waterfall" => crate::diagnose::table_as::<waterfall::WaterfallSpec>(value),
            _ => None,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            StageSpec::Dedupe(_) => "dedupe",
            StageSpec::RocketreachLookup(_) => "rocketreach_lookup",
            StageSpec::LeadrocksVerify(_) => "leadrocks_verify",
            StageSpec::ReachstreamEnrich(_) => "reachstream_enrich",
            StageSpec::Suppress(_) => "suppress",
            StageSpec::Waterfall(_) => "waterfall",
        }
    }

    /// Build the running stage for one run.
    pub fn start(&self, ctx: &StageContext<'_>) -> Result<Running, StateError> {
        Ok(match self {
            StageSpec::Dedupe(spec) => {
                // Held rows go beside the state store: a disk the user chose for the run's data.
                let dir = match ctx.state_path.parent() {
                    Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
                    _ => ".".into(),
                };
                Running::Dedupe(Box::new(dedupe::Dedupe::new(spec.clone(), dir)))
            }
            StageSpec::RocketreachLookup(spec) => Running::Rows(Arc::new(rocketreach::LookupStage::start(spec, ctx)?)),
            StageSpec::LeadrocksVerify(spec) => Running::Rows(Arc::new(leadrocks::VerifyStage::start(spec, ctx)?)),
            StageSpec::ReachstreamEnrich(spec) => Running::Rows(Arc::new(reachstream::EnrichStage::start(spec, ctx)?)),
            StageSpec::Suppress(spec) => Running::Rows(Arc::new(suppress::SuppressStage::start(spec, ctx))),
            StageSpec::Waterfall(spec) => Running::Rows(Arc::new(waterfall::WaterfallStage::start(spec, ctx)?)),
        })
    }

    /// Every vendor a stage calls, in the order it asks them.
    pub fn vendors(&self) -> Vec<crate::vendors::http::Vendor> {
        match self {
            StageSpec::Waterfall(w) => w.vendors(),
            _ => self.vendor().into_iter().collect(),
        }
    }

    /// The vendor a stage pays, if any (a waterfall: the first it asks).
    pub fn vendor(&self) -> Option<crate::vendors::http::Vendor> {
        match self {
            StageSpec::Waterfall(w) => w.vendors().first().copied(),
            StageSpec::Dedupe(_) => None,
            StageSpec::RocketreachLookup(_) => Some(crate::vendors::http::Vendor::RocketReach),
            StageSpec::Suppress(s) => s.graph8_list.map(|_| crate::vendors::http::Vendor::Graph8),
            StageSpec::LeadrocksVerify(_) => Some(crate::vendors::http::Vendor::LeadRocks),
            StageSpec::ReachstreamEnrich(_) => Some(crate::vendors::http::Vendor::ReachStream),
        }
    }

    /// True when the stage's results arrive at the run's webhook receiver.
    pub fn needs_webhook(&self) -> bool {
        match self {
            StageSpec::ReachstreamEnrich(s) => s.mode == reachstream::Mode::Contacts,
            StageSpec::RocketreachLookup(s) => s.needs_webhook(),
            StageSpec::Waterfall(w) => w.needs_webhook(),
            StageSpec::Dedupe(_) | StageSpec::LeadrocksVerify(_) | StageSpec::Suppress(_) => false,
        }
    }

    /// True when the stage plans from the whole input before its first row
    /// (RocketReach's bulk `auto`, ReachStream's credit check in contacts mode):
    /// the runner then reads the source ahead for it.
    pub fn looks_ahead(&self) -> bool {
        match self {
            StageSpec::RocketreachLookup(s) => s.bulk == rocketreach::BulkMode::Auto,
            StageSpec::ReachstreamEnrich(s) => s.mode == reachstream::Mode::Contacts,
            StageSpec::Waterfall(w) => w.looks_ahead(),
            StageSpec::Dedupe(_) | StageSpec::LeadrocksVerify(_) | StageSpec::Suppress(_) => false,
        }
    }

    /// True when the stage spends credits (graph8, the CRM, charges none).
    pub fn paid(&self) -> bool {
        self.vendor().is_some_and(|v| v != crate::vendors::http::Vendor::Graph8)
    }
}

/// What a stage is given when a run starts it.
pub struct StageContext<'a> {
    /// The state file (a stage keeps its scratch files beside it).
    pub state_path: &'a std::path::Path,
    /// The pipeline's `[vendors.*]` tables (cache lifetimes and the like).
    pub vendor_specs: &'a crate::vendors::spec::VendorsSpec,
    /// The run's state store (read what an earlier attempt of this run stored).
    pub store: &'a Store,
    /// Where the stage writes its results and jobs.
    pub writer: WriterHandle,
    pub run_id: i64,
    /// The stage's name in reports and the state store (see `pipeline::runner::stage_name`).
    pub name: String,
    /// `--refresh`: ask vendors again even for cached answers.
    pub refresh: bool,
    /// One HTTP client per vendor the pipeline calls, shared by all its stages.
    /// In the order rows meet them.
    pub vendors: &'a indexmap::IndexMap<Vendor, VendorHttp>,
    /// The run's webhook receiver, when a stage needs one ([`StageSpec::needs_webhook`]).
    pub webhook: Option<crate::vendors::webhook::Receiver>,
    /// What the runner read ahead of the source for the stages that plan
    /// ahead ([`StageSpec::looks_ahead`]): rows by the fields they have,
    /// distinct companies; a CRM list's size.
    pub preflight: &'a crate::source::preflight::Preflight,
}

impl<'a> StageContext<'a> {
    /// The context of a stage started inside this one under its own `name`
    /// (a waterfall's providers): its own stored results, the same run.
    pub fn nested(&self, name: String) -> StageContext<'a> {
        StageContext {
            state_path: self.state_path,
            vendor_specs: self.vendor_specs,
            store: self.store,
            writer: self.writer.clone(),
            run_id: self.run_id,
            name,
            refresh: self.refresh,
            vendors: self.vendors,
            webhook: self.webhook.clone(),
            preflight: self.preflight,
        }
    }

    /// What this stage stored for each row in an earlier attempt of the run
    /// (`stage_results.fields`, as JSON), by record id.
    pub fn stored<T: serde::de::DeserializeOwned>(&self) -> rusqlite::Result<std::collections::HashMap<u64, T>> {
        let mut stmt = self
            .store
            .conn()
            .prepare("SELECT record_id, fields FROM stage_results WHERE run_id = ?1 AND stage = ?2")?;
        let rows = stmt.query_map(rusqlite::params![self.run_id, self.name], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, Option<String>>(1)?))
        })?;
        let mut out = std::collections::HashMap::new();
        for row in rows {
            let (id, fields) = row?;
            if let Some(v) = fields.as_deref().and_then(|f| serde_json::from_str::<T>(f).ok()) {
                out.insert(id as u64, v);
            }
        }
        Ok(out)
    }

    /// The shared client of `vendor` (the runner builds one for every vendor a stage names).
    pub fn http(&self, vendor: Vendor) -> VendorHttp {
        self.vendors
            .get(&vendor)
            .cloned()
            .unwrap_or_else(|| panic!("no HTTP client was built for {vendor}"))
    }
}

/// A started stage, as the runner drives it.
pub enum Running {
    /// Works on whole batches (and may hold rows until the input ends).
    Dedupe(Box<dedupe::Dedupe>),
    /// Works row by row; the runner keeps [`RowStage::window`] rows in flight
    /// on the runtime's threads and emits them in input order.
    Rows(Arc<dyn RowStage>),
}

/// A stage that handles each row on its own, usually waiting on a vendor.
pub trait RowStage: Send + Sync + 'static {
    /// Handle one row: enrich it and pass it on, or drop it with a reason.
    fn enrich(self: Arc<Self>, rec: Record) -> BoxFuture<'static, StageRow>;
    /// Rows in flight at once in this stage (bounds memory; vendors bound requests).
    fn window(&self) -> usize;
    /// Add what this stage alone knows to its counts in the run report, once its rows are done.
    fn report(&self, _counts: &mut StageCounts) {}
}

/// What a row stage made of one row.
pub enum StageRow {
    /// The row goes on; `status` is what the stage did for it (for the counts).
    Keep {
        rec: Record,
        status: Option<Status>,
        cached: bool,
    },
    /// The row leaves the pipeline here (e.g. suppressed); it goes to the rejects file.
    Drop(Reject),
}

impl StageRow {
    /// The row goes on, counted by the outcome the stage recorded on it.
    pub fn kept(rec: Record, outcome: fn(&Record) -> Option<&Outcome>) -> StageRow {
        let (status, cached) = outcome(&rec).map_or((None, false), |o| (Some(o.status), o.cached));
        StageRow::Keep { rec, status, cached }
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
    /// Rows this stage dropped to the rejects file (e.g. suppressed).
    #[serde(skip_serializing_if = "is_zero")]
    pub rows_dropped: u64,
    pub duration_s: f64,
    /// A waterfall's per-provider calls, credits and hit rates.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waterfall: Option<waterfall::Tally>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}
