//! ReachStream "ReachAPI": filters, the envelope, the count API, the async
//! data fetch whose records arrive by webhook, credits and preset values
//! (`docs/contracts/reachstream.md`).
//!
//! - Filters are sent as the contract's examples do: every value list as an
//!   object keyed `"0"`, `"1"`, … (`{"job_title_level":{"0":"C-Suite"}}`).
//! - The envelope's `data` is decoded a second time when it arrives as a
//!   JSON string (older API versions did that).
//! - Counts go to the configured `count` path; on a 404 the client tries the
//!   `count_alternate` path once and keeps using it if it answers.
//! - A data fetch returns a `unique_processing_id`. The id is stored as a
//!   pending job (with its deadline) and committed **before** the client
//!   waits for the webhook, so a restarted run waits for the vendor's
//!   redelivery instead of paying for a second fetch.
//!
//! - A fetch's records may come in several webhook posts (the contract
//!   assumes one; a vendor may batch): the client gathers every post of the
//!   processing id until `fetch_count` records have come or no post has come
//!   for `settle` (see `docs/contracts/reachstream.md`).
//! - An answer is attached only if it answers the request: a record whose
//!   (unmasked) company website or name is another company's refuses the
//!   whole answer ([`contradiction`]), which is logged with its ids, counted
//!   in the report, never cached and never merged into a row.
//!
//! Cache, coalescing and ledger live in [`super::paid`]; what to do with the
//! records in `stages::reachstream`.

pub mod classify;
pub mod webhook;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::Method;
use reqwest::header::{CONTENT_TYPE, HeaderValue};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::balance::Meter;
use super::decode::DecodeError;
use super::http::{Auth, CallError, Contract, Vendor, VendorHttp};
use super::paid::{Answer, Fetched, PaidCalls};
use crate::secret::Secret;
use crate::state::writer::{Op, WriterHandle};
use crate::vendors::webhook::Receiver;

/// What leadpipe relies on of ReachStream's contract.
pub static CONTRACT: Contract = Contract {
    name: "reachstream",
    base_url: "https://api-prd.reachstream.com",
    auth: Auth::raw("X-API-Key"),
    bearer_option: false,
    rate_limits: &[(10, 1)],
    plans: &[],
    default_plan: "",
    timeout: Duration::from_secs(30),
    latency: Duration::from_secs(2),
    paths: &[
        ("preset_values", "/api/v2/predefined/records/preset-values"),
        ("credits", "/api/v2/retrive/users/active/credits"),
        ("count", "/api/v2/request/records/count"),
        ("count_alternate", "/api/v2/async/records/filter/count"),
        ("fetch", "/api/v2/async/records/filter"),
    ],
    classify: classify::classify,
    balance: Some(|http| Box::pin(async move { available_credits(http).await.map(|n| Meter::Remaining(n as f64)) })),
    charges: true,
    webhook: Some(&webhook::ROUTE),
};

/// A filter: key → accepted values (OR within a key, AND across keys).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter(pub BTreeMap<String, Vec<String>>);

impl Filter {
    pub fn with(mut self, key: &str, values: impl IntoIterator<Item = String>) -> Filter {
        self.0.entry(key.to_string()).or_default().extend(values);
        self
    }

    /// The wire form: values as objects keyed by contiguous indices from `"0"`.
    pub fn to_json(&self) -> Value {
        let obj: serde_json::Map<String, Value> = self
            .0
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, vals)| {
                let indexed: serde_json::Map<String, Value> = vals
                    .iter()
                    .enumerate()
                    .map(|(i, v)| (i.to_string(), Value::String(v.clone())))
                    .collect();
                (k.clone(), Value::Object(indexed))
            })
            .collect();
        Value::Object(obj)
    }

    /// Canonical text (keys sorted, values lowercased and sorted): the cache and ledger key.
    pub fn canonical(&self) -> String {
        self.0
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| {
                let mut v: Vec<String> = v.iter().map(|s| s.trim().to_lowercase()).collect();
                v.sort();
                v.dedup();
                format!("{k}={}", v.join("|"))
            })
            .collect::<Vec<_>>()
            .join("&")
    }
}

/// The `data` of an envelope, decoded again when it is a JSON string (`"null"` → null).
pub fn envelope_data(body: &[u8]) -> Result<Value, DecodeError> {
    #[derive(Deserialize)]
    struct Envelope {
        #[serde(default)]
        data: Value,
    }
    let env: Envelope = serde_json::from_slice(body)?;
    data_value(env.data)
}

/// A `data` value, decoded again when it is a JSON string.
pub fn data_value(data: Value) -> Result<Value, DecodeError> {
    match data {
        Value::String(s) => serde_json::from_str(&s).map_err(DecodeError::DataString),
        v => Ok(v),
    }
}

/// One ReachStream record (28 nullable fields, read leniently).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub struct RsRecord {
    pub id: Option<Value>,
    pub contact_name: Option<String>,
    pub contact_first_name: Option<String>,
    pub contact_last_name: Option<String>,
    pub contact_job_title_1: Option<String>,
    pub contact_job_title_level_1: Option<String>,
    pub contact_email_1: Option<String>,
    pub contact_phone_1: Option<String>,
    pub contact_social_linkedin: Option<String>,
    pub company_company_name: Option<String>,
    pub company_website: Option<String>,
    pub company_address_street: Option<String>,
    pub company_address_city: Option<String>,
    pub company_address_state: Option<String>,
    pub company_address_country: Option<String>,
    pub company_address_zipcode: Option<Value>,
    pub company_employee_size: Option<String>,
    pub company_annual_revenue_amount: Option<String>,
    pub company_industry_categories_list: Option<String>,
    pub company_tech_keywords_list: Option<String>,
    pub sic_code: Option<Value>,
}

/// Records from a `data` value: an array, or an object holding `records`.
pub fn records(data: &Value) -> Vec<RsRecord> {
    let list = match data {
        Value::Array(a) => a.as_slice(),
        Value::Object(o) => o
            .get("records")
            .and_then(Value::as_array)
            .map_or(&[][..], Vec::as_slice),
        _ => &[],
    };
    list.iter()
        .filter_map(|v| serde_json::from_value(v.clone()).ok())
        .collect()
}

/// A value the vendor masked in a preview (`"xxxxx"`): no information.
pub fn is_masked(v: &str) -> bool {
    let v = v.trim();
    v.len() >= 3 && v.bytes().all(|b| matches!(b, b'x' | b'X' | b'*'))
}

/// A field's value, trimmed, unless empty or masked.
pub fn known(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty() && !is_masked(s))
}

/// Why `rec` is not an answer to `filter`'s company, if it is not: its
/// website is another domain than the one asked for, or (asked by name) its
/// company name shares nothing with the name asked for. A masked or missing
/// field contradicts nothing: the vendor applied the filter.
pub fn contradiction(filter: &Filter, rec: &RsRecord) -> Option<String> {
    if let Some(asked) = filter.0.get("company_website").filter(|v| !v.is_empty()) {
        let site = known(&rec.company_website).and_then(crate::normalize::domain)?;
        let ok = asked.iter().any(|a| a.trim().eq_ignore_ascii_case(&site));
        return (!ok).then(|| format!("record {} is of {site}, not {}", record_id(rec), asked.join("|")));
    }
    if let Some(asked) = filter.0.get("company_name").filter(|v| !v.is_empty()) {
        let name = known(&rec.company_company_name)?.to_lowercase();
        let ok = asked.iter().any(|a| {
            let a = a.trim().to_lowercase();
            name.contains(&a) || a.contains(&name)
        });
        return (!ok).then(|| format!("record {} is of {name:?}, not {}", record_id(rec), asked.join("|")));
    }
    None
}

/// The first contradiction among `recs`, which refuses them all.
fn refuse(filter: &Filter, recs: &[RsRecord]) -> Option<String> {
    recs.iter().find_map(|r| contradiction(filter, r))
}

fn record_id(rec: &RsRecord) -> String {
    rec.id.as_ref().map_or_else(|| "without id".into(), Value::to_string)
}

/// How a run's fetches behave.
#[derive(Debug, Clone)]
pub struct FetchSettings {
    /// How long a fetch waits for its webhook (from the submit).
    pub deadline: Duration,
    /// How long to wait for one more post of a fetch's records once one has come.
    pub settle: Duration,
}

/// The ReachStream client of one run.
pub struct ReachStream {
    paid: PaidCalls,
    writer: WriterHandle,
    run_id: i64,
    /// Switched to `count_alternate` after a 404 on `count`.
    alternate_count: Arc<AtomicBool>,
    /// Fetches submitted by an earlier attempt of this run and not collected: request key → (id, deadline).
    pending: Mutex<HashMap<String, (String, Option<f64>)>>,
    receiver: Option<Receiver>,
    secret: Option<Secret>,
    settings: FetchSettings,
}

impl ReachStream {
    pub fn new(
        paid: PaidCalls,
        writer: WriterHandle,
        run_id: i64,
        pending: HashMap<String, (String, Option<f64>)>,
        receiver: Option<Receiver>,
        secret: Option<Secret>,
        settings: FetchSettings,
    ) -> Arc<ReachStream> {
        Arc::new(ReachStream {
            paid,
            writer,
            run_id,
            alternate_count: Arc::new(AtomicBool::new(false)),
            pending: Mutex::new(pending),
            receiver,
            secret,
            settings,
        })
    }

    pub fn http(&self) -> &VendorHttp {
        self.paid.http()
    }

    fn failure(reason: String, transient: bool) -> CallError {
        CallError::Record {
            vendor: Vendor::ReachStream,
            status: None,
            reason,
            transient,
        }
    }

    /// The count API's answer for `filter`, for `row` (free; cached and coalesced like a paid answer).
    /// The answer's body is the `data` object (`counts`, `records`).
    pub async fn count(&self, filter: &Filter, row: u64) -> Result<Arc<Answer>, CallError> {
        let http = self.paid.http().clone();
        let body = json!({ "filter": filter.to_json() });
        let key = format!("count:{}", filter.canonical());
        let alternate = self.alternate_count.clone();
        let use_alternate = alternate.load(Ordering::Relaxed);
        let filter = filter.clone();
        self.paid
            .fetch("count", &key, row, move || async move {
                let decode = |r: super::http::Response| envelope_data(&r.body);
                let endpoint = if use_alternate { "count_alternate" } else { "count" };
                let path = http.path(endpoint).to_string();
                let mut sent = http
                    .send_decode(
                        endpoint,
                        Method::POST,
                        &path,
                        |r| r.header(CONTENT_TYPE, "application/json").body(body.to_string()),
                        decode,
                    )
                    .await;
                if !use_alternate && matches!(sent, Err(CallError::Record { status: Some(404), .. })) {
                    let path = http.path("count_alternate").to_string();
                    tracing::info!("ReachStream count path answered 404; trying the alternate path");
                    sent = http
                        .send_decode(
                            "count_alternate",
                            Method::POST,
                            &path,
                            |r| r.header(CONTENT_TYPE, "application/json").body(body.to_string()),
                            decode,
                        )
                        .await;
                    if sent.is_ok() {
                        // Keep using the path that answered.
                        alternate.store(true, Ordering::Relaxed);
                    }
                }
                let data = sent?;
                let recs = records(&data);
                if let Some(why) = refuse(&filter, &recs) {
                    http.answer_refused();
                    tracing::warn!(%why, "ReachStream count preview answers another company: refused");
                    return Err(Self::failure(
                        format!("the count preview is another company's ({why}): refused"),
                        true,
                    ));
                }
                let counted = data.get("counts").and_then(Value::as_u64).unwrap_or(0);
                Ok(Fetched {
                    found: counted > 0 || !recs.is_empty(),
                    body: data.to_string(),
                    credits: 0.0,
                    http_status: Some(200),
                })
            })
            .await
    }

    /// An async data fetch of up to `fetch_count` records for `filter`,
    /// collected from the webhook. The answer's body is the JSON array of
    /// delivered records; credits are the records delivered, charged to `row`.
    /// A new fetch waits for `before_submit` (the stage's credit check) first.
    pub async fn fetch(
        &self,
        filter: &Filter,
        fetch_count: u32,
        row: u64,
        before_submit: impl Future<Output = ()> + Send + 'static,
    ) -> Result<Arc<Answer>, CallError> {
        let key = format!("fetch:{}:count={fetch_count}", filter.canonical());
        let resume = crate::sync::lock(&self.pending).remove(&key);
        let http = self.paid.http().clone();
        let writer = self.writer.clone();
        let run_id = self.run_id;
        let receiver = self.receiver.clone();
        let secret = self.secret.clone();
        let (deadline, settle) = (self.settings.deadline, self.settings.settle);
        let body = json!({ "fetchCount": fetch_count, "filter": filter.to_json() }).to_string();
        let filter = filter.clone();
        let request_key = key.clone();
        self.paid
            .fetch_costing("fetch", &key, row, Some(f64::from(fetch_count)), move || async move {
                let Some(receiver) = receiver else {
                    return Err(Self::failure("no webhook receiver is running".into(), false));
                };
                let now = crate::state::now();
                let (id, until) = match resume {
                    // Submitted before a restart and still within its deadline: wait for the redelivery.
                    Some((id, until)) if until.is_none_or(|u| u > now) => {
                        tracing::info!(processing_id = %id, "waiting for the redelivery of a fetch submitted before the restart");
                        (id, until.unwrap_or(now + deadline.as_secs_f64()))
                    }
                    expired => {
                        before_submit.await;
                        if let Some((old, _)) = expired {
                            // Past its deadline: ReachStream has stopped retrying it.
                            writer.send(Op::PendingState {
                                provider: "reachstream",
                                job_id: old,
                                state: "failed",
                            });
                        }
                        let Some(secret) = secret else {
                            return Err(Self::failure(
                                "vendors.reachstream.webhook_secret is not set".into(),
                                false,
                            ));
                        };
                        let mut header = HeaderValue::from_str(secret.expose())
                            .map_err(|_| Self::failure("webhook_secret is not usable in a header".into(), false))?;
                        header.set_sensitive(true);
                        let path = http.path("fetch").to_string();
                        let data = http
                            .send_decode(
                                "fetch",
                                Method::POST,
                                &path,
                                |r| {
                                    r.header(CONTENT_TYPE, "application/json")
                                        .header("webhook_secret_key", header.clone())
                                        .body(body.clone())
                                },
                                |r| envelope_data(&r.body),
                            )
                            .await;
                        let data = match data {
                            Ok(data) => data,
                            Err(e) => return Err(refusal(&http, e).await),
                        };
                        let id = processing_id(&data)?;
                        let until = crate::state::now() + deadline.as_secs_f64();
                        writer.send(Op::PendingPut {
                            provider: "reachstream",
                            job_id: id.clone(),
                            kind: "fetch",
                            run_id,
                            request_key: Some(request_key.clone()),
                            payload: None,
                            deadline: Some(until),
                        });
                        // Durable before waiting: a restart must find it.
                        writer.flush().await.map_err(|e| Self::failure(e.to_string(), true))?;
                        (id, until)
                    }
                };
                let left = Duration::from_secs_f64((until - crate::state::now()).max(0.0));
                let recs = collect(&receiver, &id, left, fetch_count, settle).await?;
                if let Some(why) = refuse(&filter, &recs) {
                    http.answer_refused();
                    tracing::warn!(processing_id = %id, %why, "ReachStream delivery answers another request: refused");
                    writer.send(Op::PendingState {
                        provider: "reachstream",
                        job_id: id.clone(),
                        state: "refused",
                    });
                    return Err(Self::failure(
                        format!("processing id {id} delivered another request's records ({why}): refused"),
                        true,
                    ));
                }
                writer.send(Op::PendingState {
                    provider: "reachstream",
                    job_id: id,
                    state: "done",
                });
                Ok(Fetched {
                    found: !recs.is_empty(),
                    credits: recs.len() as f64,
                    body: serde_json::to_string(&recs).unwrap_or_else(|_| "[]".into()),
                    http_status: Some(200),
                })
            })
            .await
    }

    /// The key's available credits.
    pub async fn credits(&self) -> Result<i64, CallError> {
        available_credits(self.paid.http()).await
    }
}

/// The `unique_processing_id` of a fetch's answer (a number or a string).
fn processing_id(data: &Value) -> Result<String, CallError> {
    match data.get("unique_processing_id") {
        Some(Value::Number(n)) => Ok(n.to_string()),
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.trim().to_string()),
        _ => Err(ReachStream::failure(
            "the fetch answer has no unique_processing_id".into(),
            true,
        )),
    }
}

/// What a stopped vendor names when the data fetch was refused while the API key is good.
pub const WEBHOOK_SECRET: &str = "the webhook secret (vendors.reachstream.webhook_secret; the API key was accepted)";

/// A data fetch refused with 400, 401 or 403 (the classifier leaves these
/// record-level on the fetch). The fetch is the one call that also carries
/// `webhook_secret_key`, and the contract leaves open whether a wrong secret
/// gets 401, 403 or 400. A 400 about the body (`fetchCount`, `filter`) or an
/// inactive webhook stays a record-level failure; any other refusal asks the
/// credits endpoint (free, the key alone): if the key passes there, the
/// secret is what was refused, and the vendor is stopped saying so. If the key
/// fails there too, that call stops the vendor as a refused key.
async fn refusal(http: &VendorHttp, e: CallError) -> CallError {
    let CallError::Record { status, reason, .. } = &e else {
        return e;
    };
    // A 2xx whose envelope carries the error has the envelope's status in the reason.
    let refused = [400u16, 401, 403]
        .into_iter()
        .find(|s| *status == Some(*s) || reason.starts_with(&format!("HTTP {s} ")));
    let Some(refused) = refused else {
        return e;
    };
    let lower = reason.to_lowercase();
    if refused == 400 && ["fetchcount", "filter", "inactive"].iter().any(|w| lower.contains(w)) {
        return e;
    }
    let (status, message) = (Some(refused), reason.clone());
    let refused = match available_credits(http).await {
        Ok(_) => WEBHOOK_SECRET,
        Err(stop) if stop.stops_vendor() => return stop,
        Err(_) => "the API key or the webhook secret (vendors.reachstream.webhook_secret)",
    };
    tracing::error!(status, "ReachStream refused the data fetch: {refused}");
    http.halt(CallError::VendorFatal {
        vendor: Vendor::ReachStream,
        status,
        message,
        refused,
    })
}

/// The key's available credits (`POST …/retrive/users/active/credits`, free; the key alone).
/// What the (free) count API says a fetch with `filter` could deliver at
/// most: its `counts`. Asked without the cache or the ledger (`leadpipe plan`).
pub async fn preview_count(http: &VendorHttp, filter: &Filter) -> Result<u64, CallError> {
    let body = json!({ "filter": filter.to_json() }).to_string();
    let path = http.path("count").to_string();
    let data = http
        .send_decode(
            "count",
            Method::POST,
            &path,
            |r| r.header(CONTENT_TYPE, "application/json").body(body.clone()),
            |r| envelope_data(&r.body),
        )
        .await?;
    Ok(data.get("counts").and_then(Value::as_u64).unwrap_or(0))
}

pub async fn available_credits(http: &VendorHttp) -> Result<i64, CallError> {
    let path = http.path("credits").to_string();
    let data = http
        .send_decode(
            "credits",
            Method::POST,
            &path,
            |r| r.header(CONTENT_TYPE, "application/json"),
            |r| envelope_data(&r.body),
        )
        .await?;
    match data.get("available_credit") {
        Some(Value::Number(n)) => n.as_i64().ok_or_else(|| format!("{n}")),
        Some(Value::String(s)) => s.trim().parse().map_err(|_| s.clone()),
        _ => Err("missing".into()),
    }
    .map_err(|v| ReachStream::failure(format!("unreadable available_credit ({v})"), false))
}

/// The records delivered for processing id `id`: every post of it, gathered
/// until `fetch_count` records have come or no new post came for `settle`
/// (records repeated across posts count once).
async fn collect(
    receiver: &Receiver,
    id: &str,
    within: Duration,
    fetch_count: u32,
    settle: Duration,
) -> Result<Vec<RsRecord>, CallError> {
    let mut parts = receiver.wait_parts("reachstream", id, 0, within).await;
    loop {
        if receiver.shutting_down() {
            return Err(ReachStream::failure(
                "interrupted while collecting a delivery".into(),
                true,
            ));
        }
        let Some(last) = parts.last().map(|p| p.received_at) else {
            return Err(ReachStream::failure(
                format!(
                    "processing id {id}: no webhook delivery within {}",
                    humantime::format_duration(Duration::from_secs(within.as_secs()))
                ),
                true,
            ));
        };
        let recs = part_records(&parts)?;
        let quiet = Duration::from_secs_f64((crate::state::now() - last).max(0.0));
        if recs.len() >= fetch_count as usize || quiet >= settle {
            return Ok(recs);
        }
        let more = receiver
            .wait_parts("reachstream", id, parts.len(), settle - quiet)
            .await;
        if more.len() == parts.len() && !receiver.shutting_down() {
            return Ok(recs);
        }
        parts = more;
    }
}

/// The records of every post, each once (by id, else by content), in the
/// order of their ids: the same whether the vendor sent one post or many.
fn part_records(parts: &[crate::vendors::webhook::Part]) -> Result<Vec<RsRecord>, CallError> {
    #[derive(Deserialize)]
    struct Delivery {
        #[serde(default)]
        data: Value,
    }
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for part in parts {
        let delivered: Delivery = serde_json::from_str(&part.payload)
            .map_err(|e| ReachStream::failure(format!("unreadable webhook payload: {e}"), false))?;
        let data = data_value(delivered.data).map_err(|e| ReachStream::failure(e.to_string(), false))?;
        for rec in records(&data) {
            let identity = match &rec.id {
                Some(id) => id.to_string(),
                None => serde_json::to_string(&rec).unwrap_or_default(),
            };
            if seen.insert(identity) {
                out.push(rec);
            }
        }
    }
    if parts.len() > 1 {
        out.sort_by_key(|r| {
            let id = r.id.as_ref();
            let n = id
                .and_then(Value::as_u64)
                .or_else(|| id.and_then(Value::as_str)?.trim().parse().ok());
            (n.is_none(), n, id.map(Value::to_string))
        });
    }
    Ok(out)
}

/// Values the vendor knows for a preset parameter matching `query` (e.g. `job_title_level`, `"C-Suite"`).
pub async fn preset_values(http: &VendorHttp, param: &str, query: &str) -> Result<Vec<String>, CallError> {
    let path = http.path("preset_values").to_string();
    let sent = http
        .send_decode(
            "preset_values",
            Method::GET,
            &path,
            |r| r.query(&[(param, query)]),
            |r| envelope_data(&r.body),
        )
        .await;
    match sent {
        Ok(v) => Ok(serde_json::from_value(v).unwrap_or_default()),
        Err(CallError::Record { status: Some(404), .. }) => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// Fetches of earlier attempts of this run still awaiting their webhook: request key → (id, deadline).
pub fn pending_fetches(
    conn: &rusqlite::Connection,
    run_id: i64,
) -> rusqlite::Result<HashMap<String, (String, Option<f64>)>> {
    let mut stmt = conn.prepare(
        "SELECT request_key, job_id, deadline FROM pending_jobs WHERE provider = 'reachstream' AND kind = 'fetch' AND state = 'pending' AND run_id = ?1",
    )?;
    let rows = stmt.query_map([run_id], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, Option<f64>>(2)?,
        ))
    })?;
    let mut out = HashMap::new();
    for row in rows {
        let (key, id, deadline) = row?;
        out.insert(key, (id, deadline));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_are_objects_keyed_by_index() {
        let f = Filter::default()
            .with("job_title_level", ["C-Suite".to_string(), "VP".to_string()])
            .with("company_website", ["acme.com".to_string()]);
        assert_eq!(
            f.to_json(),
            json!({"company_website": {"0": "acme.com"}, "job_title_level": {"0": "C-Suite", "1": "VP"}})
        );
        assert_eq!(f.canonical(), "company_website=acme.com&job_title_level=c-suite|vp");
    }

    #[test]
    fn masked_or_missing_fields_contradict_nothing_another_company_does() {
        let by_site = Filter::default().with("company_website", ["lattice.io".to_string()]);
        let rec = |site: Option<&str>, name: Option<&str>| RsRecord {
            id: Some(json!(5)),
            company_website: site.map(str::to_string),
            company_company_name: name.map(str::to_string),
            ..RsRecord::default()
        };
        assert_eq!(
            contradiction(&by_site, &rec(Some("https://www.lattice.io"), None)),
            None
        );
        assert_eq!(contradiction(&by_site, &rec(Some("xxxxx"), Some("xxxxx"))), None);
        assert_eq!(contradiction(&by_site, &rec(None, Some("Atlas"))), None);
        let other = contradiction(&by_site, &rec(Some("atlas-security.com"), None)).unwrap();
        assert!(other.contains("atlas-security.com"), "{other}");
        let by_name = Filter::default().with("company_name", ["Lattice Security".to_string()]);
        assert_eq!(contradiction(&by_name, &rec(None, Some("LATTICE SECURITY INC"))), None);
        assert!(contradiction(&by_name, &rec(None, Some("Atlas Security"))).is_some());
        assert!(is_masked("XXXXX") && !is_masked("Xerox") && !is_masked("xx"));
    }

    #[test]
    fn data_given_as_a_string_is_decoded_again() {
        let v = envelope_data(br#"{"status":"200","message":"success","data":"{\"available_credit\":23}"}"#).unwrap();
        assert_eq!(v, json!({"available_credit": 23}));
        assert_eq!(envelope_data(br#"{"status":200,"data":"null"}"#).unwrap(), Value::Null);
        assert_eq!(
            envelope_data(br#"{"status":200,"data":{"counts":1,"records":[{"id":1}]}}"#).unwrap()["counts"],
            1
        );
        let recs = records(&json!({"records": [{"id": 3, "company_website": "a.com", "extra": 1}]}));
        assert_eq!(recs[0].company_website.as_deref(), Some("a.com"));
    }
}
