//! RocketReach bulk lookups: up to 100 people per `POST /bulkLookup`,
//! results delivered only by webhook (`docs/contracts/rocketreach.md`).
//!
//! Rows ask one at a time; a batcher gathers their queries (up to 100, or
//! what arrived within `linger` of the first) into one request, within the
//! plan's bulk-job quotas (per minute / hour / day, a rate gate of their
//! own on top of the vendor's limiter). Each query carries
//! `metadata.leadpipe_key` = its canonical request key. The contract does not
//! say bulk deliveries echo it, so the receiver also hands a delivered
//! profile to each query it answers by identity (see `crate::vendors::webhook`), and
//! a profile that contradicts its query is refused.
//!
//! A bulk delivery need not include the people it found nothing for. Once a
//! delivery of a request has come (known by its `RR-Request-ID`, or by a
//! profile of the same request), a query of it still without a profile
//! [`SETTLE`] later is answered "not found", for no credits.
//!
//! The contract gives two minimums for a bulk request: 1 (the bulk page) and
//! 10 (the OpenAPI schema). A request of fewer than [`CONTRACT_MIN_QUERIES`]
//! refused with a 400 teaches the batcher that minimum; its queries, and
//! those of later batches below it, are answered [`below_minimum`] without a
//! call, and the stage looks those people up one by one instead.
//!
//! Accepted queries are stored as pending jobs (kind `bulk`, with a deadline)
//! and committed before anyone waits: after a restart, a query already
//! submitted waits for its delivery instead of being bought again.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::Method;
use reqwest::header::CONTENT_TYPE;
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};

use super::{LookupKey, Profile, contradiction, key_from_canonical};
use crate::state::writer::{Op, WriterHandle};
use crate::units::Rate;
use crate::vendors::http::{CallError, RateGate, Vendor, VendorHttp};
use crate::vendors::paid::{Answer, Fetched, PaidCalls};
use crate::vendors::webhook::Receiver;

/// At most this many queries per bulk request (the contract's maximum).
pub const MAX_QUERIES: usize = 100;

/// The larger of the contract's two minimums per bulk request.
pub const CONTRACT_MIN_QUERIES: usize = 10;

const BELOW_MINIMUM: &str = "fewer people than the vendor's bulk minimum: looked up one by one";

/// The batcher's answer to a query whose batch is below the vendor's bulk minimum.
fn too_few() -> CallError {
    failure(BELOW_MINIMUM.into())
}

/// True for a query the batcher did not send because its batch was below the
/// vendor's bulk minimum (nothing was paid; look the person up singly).
pub fn below_minimum(e: &CallError) -> bool {
    matches!(e, CallError::Record { reason, .. } if reason == BELOW_MINIMUM)
}

/// How long after a request's first delivery its other queries may still come.
pub const SETTLE: Duration = Duration::from_secs(5);

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

/// A submitted bulk request: its `RR-Request-ID`, and when the first of
/// its profiles came.
#[derive(Default)]
struct Batch {
    request_id: Option<String>,
    delivered_at: Option<tokio::time::Instant>,
}

type Batches = Arc<Mutex<HashMap<u64, Batch>>>;

/// A query for the batcher, answered with the request it went out in, or
/// `None` when a delivery for it was already kept (an earlier attempt's
/// request, delivered late): it is not bought again.
type Submit = (LookupKey, oneshot::Sender<Result<Option<u64>, CallError>>);

/// The bulk lookups of one run.
pub struct Bulk {
    paid: PaidCalls,
    tx: mpsc::UnboundedSender<Submit>,
    receiver: Receiver,
    writer: WriterHandle,
    /// Queries submitted by an earlier attempt of this run (canonical keys).
    pending: Mutex<HashSet<String>>,
    deadline: Duration,
    batches: Batches,
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
        let batches = Batches::default();
        let resumed: Vec<LookupKey> = pending.iter().map(|k| key_from_canonical(k)).collect();
        super::webhook::expect(&receiver, &resumed);
        tokio::spawn(batch_loop(
            BatchLoop {
                http: paid.http().clone(),
                writer: writer.clone(),
                run_id,
                receiver: receiver.clone(),
                batches: batches.clone(),
            },
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
            batches,
        })
    }

    /// When the request `batch` (this run's) was first delivered, if it was.
    fn delivered(&self, batch: Option<u64>) -> Option<tokio::time::Instant> {
        let batches = crate::sync::lock(&self.batches);
        let b = batches.get(&batch?)?;
        let by_header = b
            .request_id
            .as_deref()
            .and_then(|r| super::webhook::delivered(&self.receiver, r));
        [b.delivered_at, by_header].into_iter().flatten().min()
    }

    fn mark_delivered(&self, batch: Option<u64>) {
        let Some(batch) = batch else { return };
        let mut batches = crate::sync::lock(&self.batches);
        if let Some(entry) = batches.get_mut(&batch) {
            entry.delivered_at.get_or_insert_with(tokio::time::Instant::now);
        }
    }

    /// The profile delivered for `key`, waiting at most `deadline`; `Ok(None)`
    /// when its request was delivered without it (see [`SETTLE`]).
    async fn wait(&self, key: &LookupKey, batch: Option<u64>) -> Result<Option<Arc<str>>, CallError> {
        let until = tokio::time::Instant::now() + self.deadline;
        loop {
            let left = until.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return Err(failure(format!(
                    "no bulk delivery within {}",
                    humantime::format_duration(self.deadline)
                )));
            }
            let step = left.min(Duration::from_secs(1));
            if let Some(payload) = self.receiver.wait("rocketreach", &key.canonical, step).await {
                self.mark_delivered(batch);
                return Ok(Some(payload));
            }
            if self.receiver.shutting_down() {
                return Err(failure("interrupted while waiting for a bulk delivery".into()));
            }
            if self.delivered(batch).is_some_and(|at| at.elapsed() >= SETTLE) {
                return Ok(None);
            }
        }
    }

    /// Look a person up for `row` through a bulk request (once per canonical request, ever, within the cache TTL).
    pub async fn lookup(self: &Arc<Self>, key: &LookupKey, row: u64) -> Result<Arc<Answer>, CallError> {
        let resumed = crate::sync::lock(&self.pending).remove(&key.canonical);
        let this = self.clone();
        let key2 = key.clone();
        self.paid
            .fetch("bulk_lookup", &key.canonical, row, move || async move {
                let gone = || failure("the bulk batcher stopped".into());
                let mut batch = None;
                let mut bought_before = resumed;
                if !resumed {
                    let (done_tx, done_rx) = oneshot::channel();
                    crate::vendors::http::handed_to_batch();
                    this.tx.send((key2.clone(), done_tx)).map_err(|_| gone())?;
                    batch = done_rx.await.map_err(|_| gone())??;
                    bought_before = batch.is_none();
                }
                let payload = this.wait(&key2, batch).await?;
                this.writer.send(Op::PendingState {
                    provider: "rocketreach",
                    job_id: format!("bulk:{}", key2.canonical),
                    state: "done",
                });
                let Some(payload) = payload else {
                    return Ok(Fetched {
                        found: false,
                        body: "null".into(),
                        credits: 0.0,
                        http_status: Some(200),
                    });
                };
                let profile: Profile =
                    serde_json::from_str(&payload).map_err(|e| failure(format!("unreadable bulk delivery: {e}")))?;
                if let Some(why) = contradiction(&key2, &profile) {
                    this.paid.http().answer_refused();
                    tracing::warn!(%why, "RocketReach bulk delivery answers another person: refused");
                    return Err(failure(format!(
                        "RocketReach delivered another person ({why}): refused"
                    )));
                }
                let found = profile.status() == "complete";
                Ok(Fetched {
                    found,
                    body: if profile.id.is_some() {
                        payload.to_string()
                    } else {
                        "null".into()
                    },
                    credits: if bought_before {
                        0.0
                    } else {
                        profile.credits(Some("bulk"))
                    },
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

/// What the batcher works with.
struct BatchLoop {
    http: VendorHttp,
    writer: WriterHandle,
    run_id: i64,
    receiver: Receiver,
    batches: Batches,
}

async fn batch_loop(ctx: BatchLoop, settings: BulkSettings, mut rx: mpsc::UnboundedReceiver<Submit>) {
    let BatchLoop {
        http,
        writer,
        run_id,
        receiver,
        batches,
    } = ctx;
    let quotas = RateGate::new(&settings.quotas);
    let mut seq = 0u64;
    // Learnt from a refusal (see the module doc); 1 until then.
    let min_queries = AtomicUsize::new(1);
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        let until = tokio::time::Instant::now() + settings.linger;
        while batch.len() < MAX_QUERIES {
            match tokio::time::timeout_at(until, rx.recv()).await {
                Ok(Some(q)) => batch.push(q),
                _ => break,
            }
        }
        // A query whose delivery is already kept (an earlier attempt's, come late) is not bought again.
        let (kept, batch): (Vec<Submit>, Vec<Submit>) = batch
            .into_iter()
            .partition(|(key, _)| receiver.has_delivery("rocketreach", &key.canonical));
        for (_, done) in kept {
            let _ = done.send(Ok(None));
        }
        if batch.is_empty() {
            continue;
        }
        if batch.len() < min_queries.load(Ordering::Relaxed) {
            for (_, done) in batch {
                let _ = done.send(Err(too_few()));
            }
            continue;
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
        // Expected before sent: a fast delivery finds its queries.
        let keys: Vec<LookupKey> = batch.iter().map(|(k, _)| k.clone()).collect();
        super::webhook::expect(&receiver, &keys);
        seq += 1;
        let path = http.path("bulk_lookup").to_string();
        let sent = http
            .send("bulk_lookup", Method::POST, &path, |r| {
                r.header(CONTENT_TYPE, "application/json").body(body.clone())
            })
            .await;
        let result = match sent {
            Ok(resp) => {
                let request_id = resp
                    .headers
                    .get("rr-request-id")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                crate::sync::lock(&batches).insert(
                    seq,
                    Batch {
                        request_id,
                        delivered_at: None,
                    },
                );
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
                writer
                    .flush()
                    .await
                    .map(|()| Some(seq))
                    .map_err(|e| failure(e.to_string()))
            }
            Err(CallError::Record {
                status: Some(400),
                reason,
                ..
            }) if batch.len() < CONTRACT_MIN_QUERIES => {
                tracing::info!(
                    queries = batch.len(),
                    %reason,
                    "RocketReach refused a small bulk request; smaller ones are looked up singly"
                );
                min_queries.store(CONTRACT_MIN_QUERIES, Ordering::Relaxed);
                Err(too_few())
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
