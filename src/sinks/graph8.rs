//! `[[sinks]] kind = "graph8_upsert"`: writes finished rows back to the CRM
//! with `PUT /contacts/assert/batch` (at most 100 contacts per call) into a
//! target list, mapping output columns to graph8 fields.
//!
//! Calls go through the graph8 vendor's shared HTTP layer: its rate windows
//! (50/s and 1,000/min unless configured), its vendor-wide pause on a 429 for
//! `Retry-After`, its retries. Up to `concurrency` batches are in flight.
//!
//! Per-contact validation errors (graph8 answers the batch and lists them)
//! fail that row only: the receipt file (`path`, one line per row, in input
//! order) says `failed` with graph8's field and message, the rest of the
//! batch is written, and the report counts it under `sinks`.
//!
//! Resume: graph8 upserts match `work_email`, then `linkedin_url`, so writing
//! a contact again updates it rather than adding one. A resumed run therefore
//! re-sends every row (nothing is recorded per batch): the rows acknowledged
//! before the interruption are written again with the same final values,
//! harmlessly. Rows without either key cannot be upserted safely and are
//! skipped (receipt: `skipped`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use futures::StreamExt;
use futures::stream::FuturesOrdered;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio::sync::mpsc;

use super::SinkError;
use super::atomic::AtomicFile;
use super::schema::{Cell, Column};
use crate::record::{Batch, Record};
use crate::vendors::graph8::{BatchOutcome, Graph8, MAX_BATCH};
use crate::vendors::http::CallError;

/// `[[sinks]] kind = "graph8_upsert"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Graph8SinkSpec {
    /// The receipt: one CSV line per row with what graph8 did with it.
    pub path: PathBuf,
    /// The list the contacts are upserted into.
    pub list_id: u64,
    /// Contacts per call, 1–100 (default 100).
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// Batches in flight at once (default 4; the vendor's rate windows still apply).
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// graph8 field → output column (e.g. `job_title = "title"`); replaces the default mapping.
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
}

fn default_batch_size() -> usize {
    MAX_BATCH
}
fn default_concurrency() -> usize {
    4
}

impl Graph8SinkSpec {
    /// Checks before any call: batch size, concurrency, and a mapping onto
    /// graph8's contact fields that includes a field upserts match on.
    pub fn check(&self) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        if !(1..=MAX_BATCH).contains(&self.batch_size) {
            problems.push((
                "batch_size".into(),
                format!("{} is outside 1..={MAX_BATCH}", self.batch_size),
            ));
        }
        if self.concurrency == 0 {
            problems.push(("concurrency".into(), "must be at least 1".into()));
        }
        for field in self.fields.keys().filter(|f| !CONTACT_FIELDS.contains(&f.as_str())) {
            problems.push((
                format!("fields.{field}"),
                format!("not a graph8 contact field (expected {})", CONTACT_FIELDS.join(" | ")),
            ));
        }
        if !self.fields.is_empty()
            && !["work_email", "linkedin_url"]
                .iter()
                .any(|k| self.fields.contains_key(*k))
        {
            problems.push((
                "fields".into(),
                "must map work_email or linkedin_url (graph8 upserts match on them)".into(),
            ));
        }
        problems
    }
}

/// The contact fields graph8 accepts in an upsert.
pub const CONTACT_FIELDS: [&str; 13] = [
    "work_email",
    "linkedin_url",
    "first_name",
    "last_name",
    "job_title",
    "job_department",
    "seniority_level",
    "direct_phone",
    "mobile_phone",
    "city",
    "state",
    "country",
    "company_domain",
];

/// The mapping used when `fields` is not given; pairs whose column the run
/// does not have (no person lookup stage) are left out.
pub const DEFAULT_FIELDS: [(&str, &str); 7] = [
    ("work_email", "email"),
    ("linkedin_url", "linkedin_url"),
    ("first_name", "first_name"),
    ("last_name", "last_name"),
    ("job_title", "title"),
    ("direct_phone", "phone"),
    ("company_domain", "company_domain"),
];

impl Graph8SinkSpec {
    /// The mapping as (graph8 field, output column), checked against the run's columns.
    pub fn mapping(&self, columns: &[Column]) -> Result<Vec<(String, Column)>, UnknownColumn> {
        let find = |name: &str| columns.iter().find(|c| c.name == name).cloned();
        if self.fields.is_empty() {
            return Ok(DEFAULT_FIELDS
                .iter()
                .filter_map(|(field, col)| find(col).map(|c| (field.to_string(), c)))
                .collect());
        }
        self.fields
            .iter()
            .map(|(field, col)| {
                find(col).map(|c| (field.clone(), c)).ok_or_else(|| UnknownColumn {
                    field: field.clone(),
                    column: col.clone(),
                    columns: columns.iter().map(|c| c.name.clone()).collect(),
                })
            })
            .collect()
    }
}

/// A `fields` entry naming a column the run does not write.
#[derive(Debug, thiserror::Error)]
#[error("fields.{field}: no output column named {column:?} (columns: {})", columns.join(", "))]
pub struct UnknownColumn {
    pub field: String,
    pub column: String,
    pub columns: Vec<String>,
}

/// What the sink did, for the run report.
#[derive(Debug, Clone, Default, Serialize)]
pub struct UpsertCounts {
    pub list_id: u64,
    pub rows_in: u64,
    pub rows_upserted: u64,
    pub created: u64,
    pub updated: u64,
    pub rows_failed: u64,
    pub rows_skipped: u64,
    pub calls: u64,
}

/// One row waiting for its batch's answer.
struct Pending {
    id: u64,
    line: u64,
    graph8_id: String,
    body: Map<String, Value>,
}

type Sent = (Vec<Pending>, Result<BatchOutcome, CallError>);

/// The running sink.
pub struct Graph8Sink {
    client: Graph8,
    spec: Graph8SinkSpec,
    mapping: Vec<(String, Column)>,
    graph8_id: Option<Column>,
    receipt: csv::Writer<AtomicFile>,
    pub counts: UpsertCounts,
}

impl Graph8Sink {
    pub fn create(spec: &Graph8SinkSpec, columns: &[Column], client: Graph8) -> Result<Graph8Sink, SinkError> {
        let mapping = spec.mapping(columns).map_err(|source| SinkError::Graph8Mapping {
            file: spec.path.clone(),
            source,
        })?;
        let file = AtomicFile::create(&spec.path).map_err(|source| SinkError::Io {
            path: spec.path.clone(),
            source,
        })?;
        let mut sink = Graph8Sink {
            client,
            mapping,
            graph8_id: columns.iter().find(|c| c.name == "graph8_id").cloned(),
            receipt: csv::Writer::from_writer(file),
            counts: UpsertCounts {
                list_id: spec.list_id,
                ..UpsertCounts::default()
            },
            spec: spec.clone(),
        };
        sink.line(&[
            "row_id",
            "line",
            "graph8_id",
            "work_email",
            "linkedin_url",
            "status",
            "field",
            "message",
        ])?;
        Ok(sink)
    }

    fn line(&mut self, fields: &[&str]) -> Result<(), SinkError> {
        self.receipt.write_record(fields).map_err(|source| SinkError::Csv {
            path: self.spec.path.clone(),
            source,
        })
    }

    fn body(&self, rec: &Record) -> Map<String, Value> {
        let mut body = Map::new();
        for (field, col) in &self.mapping {
            if let Some(v) = value(col.cell(rec)) {
                body.insert(field.clone(), v);
            }
        }
        body
    }

    /// Upsert every row that arrives; returns the sink to be finished (or dropped).
    pub async fn run(mut self, mut rx: mpsc::Receiver<Arc<Batch>>) -> Result<Graph8Sink, SinkError> {
        let size = self.spec.batch_size.clamp(1, MAX_BATCH);
        let mut chunk: Vec<Pending> = Vec::with_capacity(size);
        let mut inflight: FuturesOrdered<tokio::task::JoinHandle<Sent>> = FuturesOrdered::new();
        while let Some(batch) = rx.recv().await {
            for rec in &batch.records {
                self.counts.rows_in += 1;
                let body = self.body(rec);
                let graph8_id = match &self.graph8_id {
                    Some(c) => match c.cell(rec) {
                        Cell::Str(s) => s.unwrap_or_default().to_string(),
                        _ => String::new(),
                    },
                    None => String::new(),
                };
                let keyed = ["work_email", "linkedin_url"]
                    .iter()
                    .any(|k| body.get(*k).is_some_and(|v| v.as_str().is_some_and(|s| !s.is_empty())));
                if !keyed {
                    self.counts.rows_skipped += 1;
                    let (id, line) = (rec.id.to_string(), rec.line.to_string());
                    self.line(&[
                        &id,
                        &line,
                        &graph8_id,
                        "",
                        "",
                        "skipped",
                        "",
                        "no work_email or linkedin_url to upsert by",
                    ])?;
                    continue;
                }
                chunk.push(Pending {
                    id: rec.id,
                    line: rec.line,
                    graph8_id,
                    body,
                });
                if chunk.len() == size {
                    let full = std::mem::replace(&mut chunk, Vec::with_capacity(size));
                    while inflight.len() >= self.spec.concurrency.max(1) {
                        if let Some(done) = inflight.next().await {
                            self.settle(joined(done))?;
                        }
                    }
                    inflight.push_back(self.send(full));
                }
            }
        }
        if !chunk.is_empty() {
            inflight.push_back(self.send(chunk));
        }
        while let Some(done) = inflight.next().await {
            self.settle(joined(done))?;
        }
        Ok(self)
    }

    /// Send one batch on its own task, so it progresses while the sink waits for rows.
    fn send(&mut self, rows: Vec<Pending>) -> tokio::task::JoinHandle<Sent> {
        self.counts.calls += 1;
        let (client, list_id) = (self.client.clone(), self.spec.list_id);
        tokio::spawn(async move {
            let bodies: Vec<Map<String, Value>> = rows.iter().map(|r| r.body.clone()).collect();
            let result = client.assert_batch(list_id, &bodies).await;
            (rows, result)
        })
    }

    /// Write the receipt lines of one answered batch.
    fn settle(&mut self, (rows, result): Sent) -> Result<(), SinkError> {
        let mut failed: BTreeMap<usize, (String, String)> = BTreeMap::new();
        match &result {
            Ok(outcome) => {
                self.counts.created += outcome.created;
                self.counts.updated += outcome.updated;
                for e in &outcome.errors {
                    failed
                        .entry(e.index)
                        .or_insert_with(|| (e.field.clone().unwrap_or_default(), e.message.clone()));
                }
            }
            Err(e) => {
                for i in 0..rows.len() {
                    failed.insert(i, (String::new(), e.to_string()));
                }
            }
        }
        for (i, row) in rows.iter().enumerate() {
            let text = |k: &str| row.body.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            let (id, line) = (row.id.to_string(), row.line.to_string());
            let (email, linkedin) = (text("work_email"), text("linkedin_url"));
            match failed.get(&i) {
                Some((field, message)) => {
                    self.counts.rows_failed += 1;
                    self.line(&[&id, &line, &row.graph8_id, &email, &linkedin, "failed", field, message])?;
                }
                None => {
                    self.counts.rows_upserted += 1;
                    self.line(&[&id, &line, &row.graph8_id, &email, &linkedin, "upserted", "", ""])?;
                }
            }
        }
        Ok(())
    }

    /// Complete the receipt and move it into place.
    pub fn finish(self) -> Result<UpsertCounts, SinkError> {
        let path = self.spec.path.clone();
        let io = |source| SinkError::Io {
            path: path.clone(),
            source,
        };
        let file = self.receipt.into_inner().map_err(|e| io(e.into_error()))?;
        file.commit(None).map_err(io)?;
        Ok(self.counts)
    }
}

fn joined(done: Result<Sent, tokio::task::JoinError>) -> Sent {
    match done {
        Ok(sent) => sent,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

/// A cell as a graph8 field value (graph8 takes strings); empty is absent,
/// so an upsert never blanks a field graph8 already has.
fn value(cell: Cell<'_>) -> Option<Value> {
    let s = match cell {
        Cell::Str(Some(s)) => s.trim().to_string(),
        Cell::U64(n) => n.to_string(),
        Cell::I64(Some(n)) => n.to_string(),
        Cell::F64(Some(f)) => f.to_string(),
        Cell::Bool(Some(b)) => b.to_string(),
        Cell::List(items) => items.first().cloned().unwrap_or_default(),
        _ => String::new(),
    };
    (!s.is_empty()).then_some(Value::String(s))
}
