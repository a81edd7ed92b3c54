//! ReachStream "ReachAPI" simulator (`docs/contracts.md`, ReachStream).
//!
//! Routes (one base): `GET /api/v2/predefined/records/preset-values`,
//! `POST /api/v2/retrive/users/active/credits` (and the old
//! `/api/Search/v1/users/active/credits`), counts on both
//! `POST /api/v2/request/records/count` and `/api/v2/async/records/filter/count`,
//! the async fetch `POST /api/v2/async/records/filter`, the SDK's unauthenticated
//! `GET /v1/predefined/retrieve-data/get-*`, and (behind `batch_process_api`)
//! the unverified `/async/records/filter/data` + `/records/batch-process`.
//!
//! Envelope `{"status":<int>,"message":<str>,"data":…}`. Auth `X-API-Key`; the
//! fetch also needs `webhook_secret_key` (or `webhook-secret-key`). Records
//! with valid emails are POSTed to the webhook with the `webhook_secret_key`
//! header, retried on any non-200 on the configured schedule; credits are
//! charged per record after a successful delivery.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{MatchedPath, Path, Request, State as AxState};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use subtle::ConstantTimeEq;

pub(crate) mod config;
mod sim;

pub(crate) use config::ReachStreamConfig as Config;
use config::BadSecret;

use super::limits::{KeyState, Keyring, key_of};
use super::persist::Dirty;
use super::universe::{Company, EmailStatus, Person, Universe};
use super::util::{BodyError, Params, Reply, header_str, lock};
use super::webhook::{self, Delivery};
use super::{Core, Vendor};

pub(crate) struct BatchJob {
    pub(crate) key: Arc<KeyState>,
    pub(crate) created: Instant,
    pub(crate) records: Vec<u32>,
    pub(crate) charged: bool,
}

pub(crate) struct State {
    pub(crate) keys: Keyring,
    pub(crate) seq: AtomicU64,
    pub(crate) jobs: Mutex<HashMap<u64, BatchJob>>,
}

const FIRST_PROCESSING_ID: u64 = 1300;

/// Path prefix of the base URL (none: the paths carry their version).
pub(crate) const BASE_PATH: &str = "";

pub(crate) fn error(status: StatusCode, message: &str) -> Response {
    envelope(status, message, Value::Null)
}

fn envelope(status: StatusCode, message: &str, data: Value) -> Response {
    (
        status,
        axum::Json(json!({"status": status.as_u16(), "message": message, "data": data})),
    )
        .into_response()
}

pub(crate) fn routes(core: &Arc<Core>) -> Router<Arc<Core>> {
    Router::new()
        .route("/api/v2/predefined/records/preset-values", get(preset_values))
        .route("/api/v2/retrive/users/active/credits", post(credits))
        .route("/api/Search/v1/users/active/credits", post(credits))
        .route("/api/v2/request/records/count", post(count))
        .route("/api/v2/async/records/filter/count", post(count))
        .route("/api/v2/async/records/filter", post(fetch))
        .route("/api/v2/async/records/filter/data", post(batch_submit))
        .route("/api/v2/records/batch-process", get(batch_poll))
        .route("/v1/predefined/retrieve-data/{kind}", get(sdk_predefined))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "Page Not Found") })
        .method_not_allowed_fallback(|| async { error(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed") })
        .layer(axum::middleware::from_fn_with_state(core.clone(), guard))
}

/// `X-API-Key` auth and the 10 rps token window; the SDK's predefined-data
/// routes (and unmatched paths, answered by the fallback) are public.
async fn guard(AxState(core): AxState<Arc<Core>>, mut req: Request, next: Next) -> Response {
    let public = req
        .extensions()
        .get::<MatchedPath>()
        .is_none_or(|m| m.as_str().starts_with("/v1/predefined/"));
    if public {
        return next.run(req).await;
    }
    let key = header_str(req.headers(), "x-api-key");
    let Some(ks) = (!key.is_empty()).then(|| core.sims.reachstream.keys.get(key)).flatten() else {
        return error(StatusCode::UNAUTHORIZED, "Unauthorized");
    };
    if ks.admit("*").is_err() {
        core.throttled(Vendor::ReachStream);
        return error(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests");
    }
    req.extensions_mut().insert(ks);
    next.run(req).await
}

/// The preset fixture lists, keyed by query parameter.
fn preset_list(u: &Universe, param: &str) -> Option<Vec<String>> {
    let comp = |f: &dyn Fn(&Company) -> Vec<String>| -> BTreeSet<String> { u.companies.iter().flat_map(f).collect() };
    let pers = |f: &dyn Fn(&Person) -> String| -> BTreeSet<String> { u.people.iter().map(f).collect() };
    let set: BTreeSet<String> = match param {
        "job_title" => pers(&|p| p.title.to_string()),
        "job_title_level" => pers(&|p| p.title_level.to_string()),
        "job_dept_name" => pers(&|p| p.department.to_string()),
        "job_function_name" => pers(&|p| p.function.to_string()),
        "sic_code" => comp(&|c| vec![c.sic_code.to_string()]),
        "address_zipcode" => comp(&|c| vec![c.zipcode.clone()]),
        "address_city" => comp(&|c| vec![c.city.to_string()]),
        "address_state" => comp(&|c| vec![c.state.to_string()]),
        "address_country" => comp(&|c| vec![c.country.to_string()]),
        "company_name" => comp(&|c| vec![c.name.clone()]),
        "website" => comp(&|c| vec![c.domain.clone()]),
        "tech_keywords" => comp(&|c| c.tech_keywords.iter().map(|t| t.to_string()).collect()),
        "company_type" => comp(&|c| vec![c.company_type.to_string()]),
        "company_industry_categories_list" => comp(&|c| vec![c.industry.to_string()]),
        "employee_size" => comp(&|c| vec![c.employee_size.to_string()]),
        "annual_revenue_amount" => comp(&|c| vec![c.revenue.to_string()]),
        _ => return None,
    };
    Some(set.into_iter().collect())
}

async fn preset_values(AxState(core): AxState<Arc<Core>>, req: Request) -> Response {
    let params = Params::parse(req.uri().query());
    let Some((param, value)) = params.0.first() else {
        return error(StatusCode::BAD_REQUEST, "Missing query parameter");
    };
    let Some(list) = preset_list(core.universe(), param) else {
        return error(StatusCode::BAD_REQUEST, &format!("Invalid query parameter {param}"));
    };
    let needle = value.trim().to_lowercase();
    let hits: Vec<String> = list
        .into_iter()
        .filter(|v| v.to_lowercase().contains(&needle))
        .take(50)
        .collect();
    if hits.is_empty() {
        return error(StatusCode::NOT_FOUND, "Not Found");
    }
    envelope(StatusCode::OK, "Success", json!(hits))
}

/// The SDK's `get-{zip-code,emp-size,…}` lists: raw JSON arrays, no auth.
async fn sdk_predefined(AxState(core): AxState<Arc<Core>>, Path(kind): Path<String>) -> Response {
    let param = match kind.as_str() {
        "get-zip-code" => "address_zipcode",
        "get-emp-size" => "employee_size",
        "get-revenue-amount" => "annual_revenue_amount",
        "get-job-title" => "job_title",
        "get-job-title-level" => "job_title_level",
        "get-department-function" => "job_dept_name",
        "get-sic" => "sic_code",
        "get-country" => "address_country",
        "get-state" => "address_state",
        "get-city" => "address_city",
        "get-industry" => "company_industry_categories_list",
        _ => return error(StatusCode::NOT_FOUND, "Not Found"),
    };
    axum::Json(preset_list(core.universe(), param).unwrap_or_default()).into_response()
}

async fn credits(req: Request) -> Response {
    let key = key_of(&req);
    let available = if key.unlimited() { 999_999_999 } else { key.balance() };
    envelope(StatusCode::OK, "success", json!({"available_credit": available}))
}

const FILTER_KEYS: &[&str] = &[
    "job_title",
    "job_title_level",
    "job_dept_name",
    "job_function_name",
    "company_industry_categories_list",
    "sic_code",
    "company_employee_size",
    "company_annual_revenue_amount",
    "company_address_country",
    "company_address_zipcode",
    "company_address_state",
    "company_address_city",
    "company_name",
    "company_website",
    "company_type",
    "tech_keywords",
];

/// A validated filter: (key, lowercase values) pairs with at least one value.
struct Filter(Vec<(String, Vec<String>)>);

impl Filter {
    fn parse(v: &Value, reject_arrays: bool) -> Result<Filter, Response> {
        let Some(obj) = v.as_object() else {
            return Err(error(StatusCode::BAD_REQUEST, "Invalid parameter filter"));
        };
        let bad = |msg: String| Err(error(StatusCode::BAD_REQUEST, &msg));
        let mut out = Vec::new();
        for (k, val) in obj {
            if !FILTER_KEYS.contains(&k.as_str()) {
                return bad(format!("Invalid filter key {k}"));
            }
            let not_an_object = || {
                bad(format!(
                    "Invalid filter value for {k}: expected an object like {{\"0\":\"value\"}}"
                ))
            };
            let scalar = |x: &Value| match x {
                Value::String(s) => Some(s.trim().to_lowercase()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            };
            let vals: Vec<String> = match val {
                Value::Object(m) => {
                    let mut entries: Vec<(usize, &Value)> = Vec::with_capacity(m.len());
                    for (idx, x) in m {
                        let Ok(i) = idx.parse::<usize>() else {
                            return bad(format!("Invalid filter value for {k}: keys must be \"0\",\"1\",…"));
                        };
                        entries.push((i, x));
                    }
                    entries.sort_by_key(|e| e.0);
                    let mut vals = Vec::new();
                    for (_, x) in entries {
                        match scalar(x) {
                            Some(s) => vals.push(s),
                            None => return bad(format!("Invalid filter value for {k}")),
                        }
                    }
                    vals
                }
                Value::Array(a) if !reject_arrays => a.iter().filter_map(scalar).collect(),
                Value::Array(_) => return not_an_object(),
                other => match scalar(other) {
                    Some(s) if !reject_arrays => vec![s],
                    _ => return not_an_object(),
                },
            };
            let vals: Vec<String> = vals.into_iter().filter(|s| !s.is_empty()).collect();
            if !vals.is_empty() {
                out.push((k.clone(), vals));
            }
        }
        out.sort();
        Ok(Filter(out))
    }

    fn canonical(&self) -> String {
        self.0
            .iter()
            .map(|(k, v)| {
                let mut v = v.clone();
                v.sort();
                format!("{k}={}", v.join(","))
            })
            .collect::<Vec<_>>()
            .join("&")
    }

    fn matches(&self, u: &Universe, p: &Person) -> bool {
        let c = u.company_of(p);
        self.0.iter().all(|(k, want)| {
            let eq = |have: &str| want.iter().any(|w| have.eq_ignore_ascii_case(w));
            let sub = |have: &str| {
                let h = have.to_lowercase();
                want.iter().any(|w| h.contains(w.as_str()))
            };
            match k.as_str() {
                "job_title" => sub(p.title),
                "job_title_level" => eq(p.title_level),
                "job_dept_name" => eq(p.department),
                "job_function_name" => eq(p.function),
                "company_industry_categories_list" => eq(c.industry),
                "sic_code" => eq(c.sic_code),
                "company_employee_size" => eq(c.employee_size),
                "company_annual_revenue_amount" => eq(c.revenue),
                "company_address_country" => eq(c.country) || eq(c.country_code),
                "company_address_zipcode" => eq(&c.zipcode),
                "company_address_state" => eq(c.state),
                "company_address_city" => eq(c.city),
                "company_name" => sub(&c.name),
                "company_website" => want.iter().any(|w| c.domain == super::util::normalize_domain(w)),
                "company_type" => eq(c.company_type),
                "tech_keywords" => c.tech_keywords.iter().any(|t| sub(t)),
                _ => false,
            }
        })
    }
}

/// The 28-field record (plus the `contact_address_*` fields seen in the wild).
fn record(u: &Universe, p: &Person, masked: bool) -> Value {
    let c = u.company_of(p);
    let x = |s: &str| if masked { json!("xxxxx") } else { json!(s) };
    let hide = |v: Value| if masked { Value::Null } else { v };
    json!({
        "id": p.id,
        "contact_name": x(&format!("{} {}", p.first_name, p.last_name)),
        "contact_first_name": x(&p.first_name),
        "contact_middle_name": if masked { Value::Null } else { json!(p.middle_name) },
        "contact_last_name": x(&p.last_name),
        "contact_job_title_1": p.title.to_lowercase(),
        "contact_job_title_level_1": p.title_level,
        "contact_job_dept_name_1": p.department,
        "contact_job_function_name_1": p.function,
        "contact_email_1": hide(json!(p.work_email)),
        "contact_phone_1": hide(json!(p.phone.as_ref().or(p.mobile.as_ref()).map(|ph| ph.number.clone()))),
        "company_company_name": c.name,
        "company_website": c.domain,
        "company_address_street": c.street,
        "company_address_city": c.city.to_lowercase(),
        "company_address_state": c.state,
        "company_address_country": c.country,
        "company_address_zipcode": c.zipcode,
        "company_employee_size": c.employee_size,
        "company_annual_revenue_amount": c.revenue,
        "company_industry_categories_list": c.industry,
        "company_tech_keywords_list": c.tech_keywords.join(", "),
        "sic_code": c.sic_code,
        "npi_number": null,
        "contact_social_linkedin": hide(json!(p.linkedin_url)),
        "contact_social_facebook": null,
        "contact_social_twitter": hide(json!(p.twitter_url)),
        "contact_social_instagram": null,
        "contact_address_city": p.city,
        "contact_address_state": p.state,
        "contact_address_country": p.country,
    })
}

/// The JSON body; `{}` when empty.
async fn json_body(req: Request) -> Result<Value, Response> {
    match super::util::json_body(req, 1024 * 1024).await {
        Ok(v) => Ok(v.unwrap_or_else(|| json!({}))),
        Err(BodyError::TooLarge) => Err(error(StatusCode::PAYLOAD_TOO_LARGE, "Request body too large")),
        Err(BodyError::Invalid(e)) => Err(error(StatusCode::BAD_REQUEST, &format!("Invalid JSON body: {e}"))),
    }
}

async fn count(AxState(core): AxState<Arc<Core>>, req: Request) -> Reply {
    let body = json_body(req).await?;
    let Some(f) = body.get("filter").filter(|f| !f.is_null()) else {
        return Err(error(StatusCode::BAD_REQUEST, "Missing parameter filter"));
    };
    let cfg = core.config();
    let filter = Filter::parse(f, cfg.reachstream.reject_array_filters)?;
    let u = core.universe();
    let hits: Vec<&Person> = u.people.iter().filter(|p| filter.matches(u, p)).collect();
    let records: Vec<Value> = hits
        .iter()
        .take(cfg.reachstream.preview_size as usize)
        .map(|p| {
            let mut r = record(u, p, true);
            if cfg.reachstream.preview_masks_company {
                r["company_company_name"] = json!("xxxxx");
                r["company_website"] = json!("xxxxx");
            }
            r
        })
        .collect();
    Ok(envelope(
        StatusCode::OK,
        "success",
        json!({"counts": hits.len(), "records": records}),
    ))
}

fn fetch_count(v: Option<&Value>) -> Option<u64> {
    match v? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|n| *n > 0)
}

/// `fetchCount` (> 0) and `filter` of a fetch, both required.
fn fetch_request(body: &Value, reject_arrays: bool) -> Result<(u64, Filter), Response> {
    let (Some(n), Some(f)) = (
        fetch_count(body.get("fetchCount")),
        body.get("filter").filter(|f| !f.is_null()),
    ) else {
        return Err(error(StatusCode::BAD_REQUEST, "Required fetchCount and filter"));
    };
    Ok((n, Filter::parse(f, reject_arrays)?))
}

/// 402 when the key cannot pay for `n` records.
fn check_balance(key: &KeyState, n: u64) -> Result<(), Response> {
    if !key.unlimited() && n > key.balance().max(0) as u64 {
        return Err(envelope(
            StatusCode::PAYMENT_REQUIRED,
            "Insufficient credit balance",
            json!({"available_credit": key.balance(), "requested_fetch_count": n}),
        ));
    }
    Ok(())
}

/// A new `unique_processing_id`, with the fetch counted as a paid request.
fn start_processing(core: &Core, n: u64, filter: &Filter) -> u64 {
    let id = FIRST_PROCESSING_ID + core.sims.reachstream.seq.fetch_add(1, Ordering::Relaxed);
    core.stats
        .paid(format!("reachstream:fetch:{}:count={n}", filter.canonical()));
    core.stats.paid_call(Vendor::ReachStream);
    id
}

/// Records with valid emails only, at most `n`.
fn select(u: &Universe, filter: &Filter, n: u64) -> Vec<u32> {
    u.people
        .iter()
        .filter(|p| p.email_status == EmailStatus::Valid && filter.matches(u, p))
        .take(n as usize)
        .map(|p| p.idx)
        .collect()
}

async fn fetch(AxState(core): AxState<Arc<Core>>, req: Request) -> Reply {
    let key = key_of(&req);
    let cfg = core.config();
    let rs = &cfg.reachstream;
    let secret = req
        .headers()
        .get("webhook_secret_key")
        .or_else(|| req.headers().get("webhook-secret-key"))
        .map(|v| v.as_bytes().to_vec());
    let body = json_body(req).await?;
    let (n, filter) = fetch_request(&body, rs.reject_array_filters)?;
    let Some(secret) = secret else {
        return Err(error(StatusCode::BAD_REQUEST, "Required webhook_secret_key header"));
    };
    if !bool::from(secret.as_slice().ct_eq(rs.webhook.secret.as_bytes())) {
        return Err(match rs.webhook.bad_secret {
            BadSecret::Unauthorized => error(StatusCode::UNAUTHORIZED, "Unauthorized"),
            BadSecret::BadRequest => error(StatusCode::BAD_REQUEST, "Invalid webhook secret key"),
            BadSecret::Forbidden => error(StatusCode::FORBIDDEN, "Forbidden"),
        });
    }
    let Some(url) = rs.webhook.url.clone().filter(|_| rs.webhook.active) else {
        return Err(error(StatusCode::BAD_REQUEST, "Webhook feature is inactive"));
    };
    check_balance(&key, n)?;
    let id = start_processing(&core, n, &filter);
    let u = core.universe();
    let picked = select(u, &filter, n);
    let batch = if rs.webhook.batch_size == 0 {
        picked.len().max(1)
    } else {
        rs.webhook.batch_size as usize
    };
    let chunks: Vec<&[u32]> = if picked.is_empty() {
        vec![&[][..]]
    } else {
        picked.chunks(batch).collect()
    };
    for (i, chunk) in chunks.into_iter().enumerate() {
        let data: Vec<Value> = chunk.iter().map(|&i| record(u, &u.people[i as usize], false)).collect();
        let body = Bytes::from(
            serde_json::to_vec(&json!({"unique_processing_id": id, "event": "data_notification", "data": data}))
                .expect("json"),
        );
        let mut headers = vec![("webhook_secret_key".to_string(), rs.webhook.secret.clone())];
        if rs.webhook.hmac_signature {
            headers.push((
                "X-Webhook-Signature".to_string(),
                format!("sha256={}", webhook::sign_hex(&rs.webhook.secret, &body)),
            ));
        }
        let charge = chunk.len() as u64;
        let dup = rs.webhook.deliver_twice
            || super::faults::webhook_duplicate(core.seed(), Vendor::ReachStream, id * 1000 + i as u64, &rs.faults);
        webhook::spawn(
            &core,
            Delivery {
                vendor: Vendor::ReachStream,
                url: url.clone(),
                headers,
                body,
                schedule: webhook::ms_schedule(&rs.webhook.retry_schedule_ms, rs.faults.webhook_late_ms),
                timeout: Duration::from_millis(rs.webhook.timeout_ms),
                duplicate: dup,
                charge: Some(webhook::Charge {
                    key: key.key.clone(),
                    credits: charge,
                }),
            },
        );
    }
    Ok(envelope(
        StatusCode::OK,
        "Records processing initiated",
        json!({"unique_processing_id": id}),
    ))
}

/// Unverified polling variant: submit without a webhook…
async fn batch_submit(AxState(core): AxState<Arc<Core>>, req: Request) -> Reply {
    let cfg = core.config();
    if !cfg.reachstream.batch_process_api {
        return Err(error(StatusCode::NOT_FOUND, "Page Not Found"));
    }
    let key = key_of(&req);
    let body = json_body(req).await?;
    let (n, filter) = fetch_request(&body, cfg.reachstream.reject_array_filters)?;
    check_balance(&key, n)?;
    let id = start_processing(&core, n, &filter);
    let records = select(core.universe(), &filter, n);
    lock(&core.sims.reachstream.jobs).insert(
        id,
        BatchJob {
            key,
            created: Instant::now(),
            records,
            charged: false,
        },
    );
    core.journal.touch(|| Dirty::Record(Vendor::ReachStream, sim::JOBS, id.to_string()));
    Ok(envelope(
        StatusCode::OK,
        "Records processing initiated",
        json!({"unique_processing_id": id, "batch_process_id": id}),
    ))
}

/// …then poll: `PROCESSING` for 300 ms, then `READY` with the records.
async fn batch_poll(AxState(core): AxState<Arc<Core>>, req: Request) -> Reply {
    if !core.config().reachstream.batch_process_api {
        return Err(error(StatusCode::NOT_FOUND, "Page Not Found"));
    }
    let params = Params::parse(req.uri().query());
    let Some(id) = params
        .get_nonblank("batch_process_id")
        .or(params.get_nonblank("unique_processing_id"))
        .and_then(|s| s.parse::<u64>().ok())
    else {
        return Err(error(StatusCode::BAD_REQUEST, "Required batch_process_id"));
    };
    let u = core.universe();
    let mut jobs = lock(&core.sims.reachstream.jobs);
    let Some(job) = jobs.get_mut(&id) else {
        return Err(error(StatusCode::NOT_FOUND, "Not Found"));
    };
    if job.created.elapsed() < Duration::from_millis(300) {
        return Ok(envelope(
            StatusCode::OK,
            "success",
            json!({"batch_process_id": id, "status": "PROCESSING"}),
        ));
    }
    if !job.charged {
        job.charged = true;
        job.key.charge_up_to(job.records.len() as u64);
        core.journal.touch(|| Dirty::Record(Vendor::ReachStream, sim::JOBS, id.to_string()));
    }
    let records: Vec<Value> = job
        .records
        .iter()
        .map(|&i| record(u, &u.people[i as usize], false))
        .collect();
    let total = records.len();
    Ok(envelope(
        StatusCode::OK,
        "success",
        json!({"batch_process_id": id, "status": "READY", "total_records": total, "records": records}),
    ))
}
