//! ReachStream "ReachAPI": filters, the envelope, the count API, the async
//! data fetch whose records arrive by webhook, credits and preset values
//! (DESIGN.md §5, `reference/reachstream.md`).
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
//! Cache, coalescing and ledger live in [`super::paid`]; what to do with the
//! records in `stages::reachstream`.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::Method;
use reqwest::header::{CONTENT_TYPE, HeaderValue};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::http::{CallError, Vendor, VendorHttp};
use super::paid::{Answer, Fetched, PaidCalls};
use crate::secret::Secret;
use crate::state::writer::{Op, WriterHandle};
use crate::webhook::Receiver;

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
pub fn envelope_data(body: &[u8]) -> Result<Value, String> {
    #[derive(Deserialize)]
    struct Envelope {
        #[serde(default)]
        data: Value,
    }
    let env: Envelope = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    data_value(env.data)
}

/// A `data` value, decoded again when it is a JSON string.
pub fn data_value(data: Value) -> Result<Value, String> {
    match data {
        Value::String(s) => serde_json::from_str(&s).map_err(|e| format!("data is a string but not JSON: {e}")),
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

/// How a run's fetches behave.
#[derive(Debug, Clone)]
pub struct FetchSettings {
    /// How long a fetch waits for its webhook (from the submit).
    pub deadline: Duration,
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
                Ok(Fetched {
                    found: !records(&data).is_empty(),
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
        let deadline = self.settings.deadline;
        let body = json!({ "fetchCount": fetch_count, "filter": filter.to_json() }).to_string();
        let request_key = key.clone();
        self.paid
            .fetch("fetch", &key, row, move || async move {
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
                            .await?;
                        let id = match data.get("unique_processing_id") {
                            Some(Value::Number(n)) => n.to_string(),
                            Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_string(),
                            _ => {
                                return Err(Self::failure(
                                    "the fetch answer has no unique_processing_id".into(),
                                    true,
                                ));
                            }
                        };
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
                let Some(payload) = receiver.wait("reachstream", &id, left).await else {
                    return Err(Self::failure(
                        format!(
                            "processing id {id}: no webhook delivery within {}",
                            humantime::format_duration(Duration::from_secs(deadline.as_secs()))
                        ),
                        true,
                    ));
                };
                #[derive(Deserialize)]
                struct Delivery {
                    #[serde(default)]
                    data: Value,
                }
                let delivered: Delivery = serde_json::from_str(&payload)
                    .map_err(|e| Self::failure(format!("unreadable webhook payload: {e}"), false))?;
                let data = data_value(delivered.data).map_err(|e| Self::failure(e, false))?;
                let recs = records(&data);
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
        let http = self.paid.http();
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
        .map_err(|v| Self::failure(format!("unreadable available_credit ({v})"), false))
    }
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
