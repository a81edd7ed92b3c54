//! Stages: the steps between source and sinks, one file each, each
//! implementing [`Stage`] for its spec and listed once in the `registry!`
//! below. A stage reads fields of a record and writes its own; it never
//! reorders rows, so sinks receive them in input order.

pub mod dedupe;
pub mod held;
pub mod leadrocks;
pub mod priced;
pub mod reachstream;
pub mod rocketreach;
pub mod suppress;
pub mod waterfall;

use std::sync::Arc;

use futures::future::BoxFuture;
use serde::Deserialize;

use crate::record::{Outcome, Record, Reject, Slots, Status};
use crate::state::writer::WriterHandle;
use crate::state::{StateError, Store};
use crate::vendors::http::{Vendor, VendorHttp};

/// One kind of stage, as its spec answers for it: each stage file implements
/// this for its spec, and one line of `registry!` makes the kind known.
pub trait Stage {
    /// Build the running stage for one run.
    fn start(&self, ctx: &StageContext<'_>) -> Result<Running, StateError>;

    /// Problems of this table, as (key inside the table, message), before any work.
    fn validate(&self, _ctx: &CheckContext<'_>) -> Vec<(String, String)> {
        Vec::new()
    }

    /// Every vendor the stage calls, in the order it asks them.
    fn vendors(&self) -> Vec<Vendor> {
        Vec::new()
    }

    /// True when the stage's results arrive at the run's webhook receiver.
    fn needs_webhook(&self) -> bool {
        false
    }

    /// True when the stage plans from the whole input before its first row
    /// (RocketReach's bulk `auto`, ReachStream's credit check in contacts mode):
    /// the runner then reads the source ahead for it.
    fn looks_ahead(&self) -> bool {
        false
    }

    /// Marks the record slots the stage fills (its output columns).
    fn fills(&self, _slots: &mut Slots) {}

    /// How `leadpipe plan` prices it, for a stage that pays per request.
    fn priced(&self) -> Option<&dyn priced::Priced> {
        None
    }

    /// For a stage that runs paid stages inside it (a waterfall): their
    /// vendors and pricing, in the order a row meets them.
    fn priced_steps(&self) -> Vec<(Vendor, Box<dyn priced::Priced>)> {
        Vec::new()
    }
}

/// The record slots a pipeline's stages fill.
pub fn slots_of(stages: &[StageSpec]) -> Slots {
    let mut slots = Slots::default();
    for s in stages {
        s.stage().fills(&mut slots);
    }
    slots
}

/// What validation tells a stage of the rest of the pipeline.
pub struct CheckContext<'a> {
    /// The stages before this one.
    pub earlier: &'a [StageSpec],
    /// The pipeline's `[vendors.*]` tables.
    pub vendors: &'a crate::vendors::spec::VendorsSpec,
    /// `--sandbox`: keys and secrets come from the sandbox.
    pub sandbox: bool,
    /// True when a path the stage reads names no file (a path holding an
    /// unset `${VAR}` is reported as that, not as missing).
    pub missing_file: &'a dyn Fn(&std::path::Path) -> bool,
}

/// The stage kinds: `Variant(spec type) = "kind"`, one line each. Makes
/// [`StageSpec`] (the `[[stages]]` table, tagged by `kind`) and its dispatch
/// to each kind's [`Stage`].
macro_rules! registry {
    ($($variant:ident($spec:ty) = $kind:literal,)+) => {
        /// `[[stages]]` entries, tagged by `kind`.
        #[derive(Debug, Clone, Deserialize)]
        #[serde(tag = "kind", deny_unknown_fields)]
        pub enum StageSpec {
            $(#[serde(rename = $kind)] $variant($spec),)+
        }

        impl StageSpec {
            pub fn kind(&self) -> &'static str {
                match self {
                    $(StageSpec::$variant(_) => $kind,)+
                }
            }

            fn stage(&self) -> &dyn Stage {
                match self {
                    $(StageSpec::$variant(s) => s,)+
                }
            }

            /// The exact key and message of a problem in a table of this `kind` (see `spec::refine`).
            pub(crate) fn diagnose(kind: &str, value: toml::Value) -> Option<(String, String)> {
                match kind {
                    $($kind => crate::diagnose::table_as::<$spec>(value),)+
                    _ => None,
                }
            }
        }
    };
}

registry! {
    Dedupe(dedupe::DedupeSpec) = "dedupe",
    RocketreachLookup(rocketreach::RocketReachSpec) = "rocketreach_lookup",
    LeadrocksVerify(leadrocks::LeadRocksSpec) = "leadrocks_verify",
    ReachstreamEnrich(reachstream::ReachStreamSpec) = "reachstream_enrich",
    Suppress(suppress::SuppressSpec) = "suppress",
    Waterfall(waterfall::WaterfallSpec) = "waterfall",
}

impl StageSpec {
    /// Build the running stage for one run.
    pub fn start(&self, ctx: &StageContext<'_>) -> Result<Running, StateError> {
        self.stage().start(ctx)
    }

    /// Problems of this table, as (key inside the table, message).
    pub fn validate(&self, ctx: &CheckContext<'_>) -> Vec<(String, String)> {
        self.stage().validate(ctx)
    }

    /// Every vendor a stage calls, in the order it asks them.
    pub fn vendors(&self) -> Vec<Vendor> {
        self.stage().vendors()
    }

    /// How `leadpipe plan` prices it, for a stage that pays per request.
    pub fn priced(&self) -> Option<&dyn priced::Priced> {
        self.stage().priced()
    }

    /// The paid stages it runs inside it (a waterfall), as `plan` prices them.
    pub fn priced_steps(&self) -> Vec<(Vendor, Box<dyn priced::Priced>)> {
        self.stage().priced_steps()
    }

    /// The vendor a stage pays, if any (a waterfall: the first it asks).
    pub fn vendor(&self) -> Option<Vendor> {
        self.vendors().first().copied()
    }

    /// True when the stage's results arrive at the run's webhook receiver.
    pub fn needs_webhook(&self) -> bool {
        self.stage().needs_webhook()
    }

    /// True when the runner must read the source ahead for this stage.
    pub fn looks_ahead(&self) -> bool {
        self.stage().looks_ahead()
    }

    /// True when the stage spends credits (graph8, the CRM, charges none).
    pub fn paid(&self) -> bool {
        self.vendor().is_some_and(|v| v.contract().charges)
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
