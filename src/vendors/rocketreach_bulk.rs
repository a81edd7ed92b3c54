//! RocketReach bulk lookups: up to 100 people per `POST /bulkLookup`,
//! results delivered only by webhook (`reference/rocketreach.md`).
//!
//! Rows ask one at a time; a batcher gathers their queries (up to 100, or
//! what arrived within `linger` of the first) into one request, within the
//! plan's bulk-job quotas (per minute / hour / day, a rate gate of their
//! own on top of the vendor's limiter). Each query carries
//! `metadata.leadpipe_key` = its canonical request key, which the webhook
//! receiver uses to hand each delivered profile to the row that asked.
//!
//! Accepted queries are stored as pending jobs (kind `bulk`, with a deadline)
//! and committed before anyone waits: after a restart, a query already
//! submitted waits for its delivery instead of being bought again.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::Method;
use reqwest::header::CONTENT_TYPE;
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};

use super::http::{CallError, RateGate, Vendor, VendorHttp};
use super::paid::{Answer, Fetched, PaidCalls};
use super::rocketreach::{LookupKey, Profile};
use crate::spec::Rate;
use crate::state::writer::{Op, WriterHandle};
use crate::webhook::Receiver;

/// At most this many queries per bulk request (the contract's maximum).
pub const MAX_QUERIES: usize = 100;

/// Bulk-job quotas per plan: per minute, hour, day (the contract's table).
pub fn plan_quotas(plan: &str) -> Vec<Rate> {
    let (m, h, d) = if plan == "custom" {
        (10, 100, 1_000)
    } else {
        (10, 25, 100)
    };
    [(m, 60), (h, 3_600), (d, 86_400)]
        .iter()
        .map(|&(n, s)| Rate::new(n, Duration::from_secs(s)).expect("non-zero"))
        .collect()
}

/// How a run's bulk lookups behave.
#[derive(Clone)]
pub struct BulkSettings {
    /// How long the batcher waits for more queries after the first.
    pub linger: Duration,
    /// How long a row waits for its delivery after the submit.
    pub deadline: Duration,
    pub quotas: Vec<Rate>,
}

type Submit = (LookupKey, oneshot::Sender<Result<(), CallError>>);

/// The bulk lookups of one run.
pub struct Bulk {
    paid: PaidCalls,
    tx: mpsc::UnboundedSender<Submit>,
    receiver: Receiver,
    writer: WriterHandle,
    /// Queries submitted by an earlier attempt of this run (canonical keys).
    pending: Mutex<HashSet<String>>,
    deadline: Duration,
}

impl Bulk {
    pub fn new(
        paid: PaidCalls,
        writer: WriterHandle,
        run_id: i64,
        receiver: Receiver,
        pending: HashSet<String>,
        settings: BulkSettings,
    ) -> Arc<Bulk> {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(batch_loop(
            paid.http().clone(),
            writer.clone(),
            run_id,
            settings.clone(),
            rx,
        ));
        Arc::new(Bulk {
            paid,
            tx,
            receiver,
            writer,
            pending: Mutex::new(pending),
            deadline: settings.deadline,
        })
    }

    /// Look a person up for `row` through a bulk request (once per canonical request, ever, within the cache TTL).
    pub async fn lookup(&self, key: &LookupKey, row: u64) -> Result<Arc<Answer>, CallError> {
        let resumed = crate::sync::lock(&self.pending).remove(&key.canonical);
        let (tx, receiver, deadline) = (self.tx.clone(), self.receiver.clone(), self.deadline);
        let writer = self.writer.clone();
        let key2 = key.clone();
        self.paid
            .fetch("bulk_lookup", &key.canonical, row, move || async move {
                let gone = || failure("the bulk batcher stopped".into());
                if !resumed {
                    let (done_tx, done_rx) = oneshot::channel();
                    tx.send((key2.clone(), done_tx)).map_err(|_| gone())?;
                    done_rx.await.map_err(|_| gone())??;
                }
                let Some(payload) = receiver.wait("rocketreach", &key2.canonical, deadline).await else {
                    return Err(failure(format!(
                        "no bulk delivery within {}",
                        humantime::format_duration(deadline)
                    )));
                };
                writer.send(Op::PendingState {
                    provider: "rocketreach",
                    job_id: format!("bulk:{}", key2.canonical),
                    state: "done",
                });
                let profile: Profile =
                    serde_json::from_str(&payload).map_err(|e| failure(format!("unreadable bulk delivery: {e}")))?;
                let found = profile.status() == "complete";
                let credits = if found && (!profile.emails.is_empty() || !profile.phones.is_empty()) {
                    1.0
                } else {
                    0.0
                };
                Ok(Fetched {
                    found,
                    body: if profile.id.is_some() {
                        payload.to_string()
                    } else {
                        "null".into()
                    },
                    credits: if resumed { 0.0 } else { credits },
                    http_status: Some(200),
                })
            })
            .await
    }
}

fn failure(reason: String) -> CallError {
    CallError::Record {
        vendor: Vendor::RocketReach,
        status: None,
        reason,
        transient: true,
    }
}

async fn batch_loop(
    http: VendorHttp,
    writer: WriterHandle,
    run_id: i64,
    settings: BulkSettings,
    mut rx: mpsc::UnboundedReceiver<Submit>,
) {
    let quotas = RateGate::new(&settings.quotas);
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        let until = tokio::time::Instant::now() + settings.linger;
        while batch.len() < MAX_QUERIES {
            match tokio::time::timeout_at(until, rx.recv()).await {
                Ok(Some(q)) => batch.push(q),
                _ => break,
            }
        }
        quotas.acquire().await;
        let queries: Vec<Value> = batch
            .iter()
            .map(|(key, _)| {
                let mut q: serde_json::Map<String, Value> = key
                    .params
                    .iter()
                    .map(|(k, v)| (k.to_string(), Value::String(v.clone())))
                    .collect();
                q.insert("metadata".into(), json!({ "leadpipe_key": key.canonical }));
                Value::Object(q)
            })
            .collect();
        let body = json!({ "queries": queries, "profile_list": "leadpipe" }).to_string();
        let path = http.path("bulk_lookup").to_string();
        let sent = http
            .send("bulk_lookup", Method::POST, &path, |r| {
                r.header(CONTENT_TYPE, "application/json").body(body.clone())
            })
            .await;
        let result = match sent {
            Ok(_) => {
                let deadline = Some(crate::state::now() + settings.deadline.as_secs_f64());
                for (key, _) in &batch {
                    writer.send(Op::PendingPut {
                        provider: "rocketreach",
                        job_id: format!("bulk:{}", key.canonical),
                        kind: "bulk",
                        run_id,
                        request_key: Some(key.canonical.clone()),
                        payload: None,
                        deadline,
                    });
                }
                // Durable before anyone waits: a restart must find them.
                writer.flush().await.map_err(|e| failure(e.to_string()))
            }
            Err(e) => Err(e),
        };
        for (_, done) in batch {
            let _ = done.send(result.clone());
        }
    }
}

/// Bulk queries submitted by earlier attempts of this run and not delivered yet.
pub fn pending_bulk(conn: &rusqlite::Connection, run_id: i64) -> rusqlite::Result<HashSet<String>> {
    let mut stmt = conn.prepare(
        "SELECT request_key FROM pending_jobs WHERE provider = 'rocketreach' AND kind = 'bulk' AND state = 'pending' AND run_id = ?1 AND (deadline IS NULL OR deadline > ?2)",
    )?;
    let rows = stmt.query_map(rusqlite::params![run_id, crate::state::now()], |r| {
        r.get::<_, String>(0)
    })?;
    rows.collect()
}
