//! LeadRocks Email Verifier simulator (`docs/contracts.md`, LeadRocks).
//!
//! Routes under `/v1`: `GET getcredits`, `POST verify-instant`, bulk upload
//! `POST verify-bulk` (alias `email_verify/bulk`), progress
//! `GET verify-bulk-progress?list_id=` (aliases `progress-status`,
//! `email_verify/bulk/progress_status`), download
//! `GET verify-bulk-download?list_id=` (aliases `download-result`, `download/result`).
//! `bulk.paths` keeps only one reading's set (or none) to play a vendor
//! whose bulk API lives at other paths.
//!
//! Auth `Authorization: <token>` (an optional `Bearer ` is stripped). Envelope
//! `{"status":"success","data":…}` / `{"status":"failed","error":{"code","message"}}`
//! with codes 100–111 mapped to HTTP statuses by `error_http`. Bulk files are
//! checked for the 10 MB / 10,000-line limits (104), type (105), email column
//! (106) and rows (107); lists go `queued → running → completed` on a timer.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{FromRequest, MatchedPath, Multipart, Request, State as AxState};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

pub(crate) mod config;
mod sim;

pub(crate) use config::LeadRocksConfig as Config;
use config::LeadRocksBulk;

use super::limits::{Keyring, key_of};
use super::persist::Dirty;
use super::universe::{Universe, Verdict};
use super::util::{BodyError, Params, Reply, hash3, header_str, lock, normalize_email, strip_bearer};
use super::{Core, Vendor};

pub(crate) struct BulkList {
    pub(crate) key: String,
    pub(crate) created: Instant,
    pub(crate) queued: Duration,
    pub(crate) running: Duration,
    pub(crate) header: Vec<String>,
    pub(crate) rows: Vec<Vec<String>>,
    pub(crate) email_col: usize,
}

impl BulkList {
    fn progress(&self) -> &'static str {
        let e = self.created.elapsed();
        if e < self.queued {
            "queued"
        } else if e < self.queued + self.running {
            "running"
        } else {
            "completed"
        }
    }
}

pub(crate) struct State {
    pub(crate) keys: Keyring,
    pub(crate) seq: AtomicU64,
    pub(crate) lists: Mutex<HashMap<u64, BulkList>>,
}

/// Path prefix of the base URL.
pub(crate) const BASE_PATH: &str = "/v1";

fn message(code: u16) -> &'static str {
    match code {
        100 => "Invalid API Token, please generate new token",
        101 => "Invalid data in JSON request",
        102 => "Internal server error, try again later",
        103 => "You have exhausted your credits, please add additional credits to continue",
        104 => "File size cannot exceed 10 MB or 10,000 lines",
        105 => "File contains incorrect content or has an extension that differs from .csv",
        106 => {
            "File does not contain a column named \"email\" and request does not specify another column with email addresses \"email_column=COLUMN_NAME\""
        }
        107 => "File does not contain any rows for validation",
        108 => "Invalid param list_id",
        109 => "You have reached the maximum number of bulk verify requests",
        110 => "You have reached the maximum number of instant verify requests",
        111 => "You have reached the maximum number of requests, please try again later",
        _ => "Route not found",
    }
}

fn default_http(code: u16) -> u16 {
    match code {
        100 => 401,
        102 => 500,
        103 | 109 | 110 | 111 => 403,
        101 | 104..=108 => 400,
        _ => 404,
    }
}

fn failed(status: StatusCode, code: u16, msg: &str) -> Response {
    (
        status,
        axum::Json(json!({"status": "failed", "error": {"code": code, "message": msg}})),
    )
        .into_response()
}

/// A coded error with the configured HTTP status.
fn lr_error(core: &Core, code: u16, detail: Option<&str>) -> Response {
    let cfg = core.config();
    let http = cfg
        .leadrocks
        .error_http
        .get(&code.to_string())
        .copied()
        .unwrap_or_else(|| default_http(code));
    let status = StatusCode::from_u16(http).unwrap_or(StatusCode::BAD_REQUEST);
    let msg = match detail {
        Some(d) => format!("{}: {d}", message(code)),
        None => message(code).to_string(),
    };
    failed(status, code, &msg)
}

/// The per-token request limit's answer (code 111; LeadRocks has no 429).
pub(crate) fn rate_limited(core: &Core) -> Response {
    lr_error(core, 111, None)
}

/// For faults and unmatched routes: an envelope with a code fitting the status.
pub(crate) fn error_for_status(status: StatusCode, msg: &str) -> Response {
    let code = match status.as_u16() {
        500..=599 => 102,
        413 => 104,
        401 => 100,
        _ => 0,
    };
    failed(status, code, msg)
}

fn success(data: Value) -> Response {
    axum::Json(json!({"status": "success", "data": data})).into_response()
}

pub(crate) fn routes(core: &Arc<Core>) -> Router<Arc<Core>> {
    let upload_limit = core.config().leadrocks.bulk.max_upload_bytes.min(usize::MAX as u64) as usize;
    use config::BulkPaths;
    let paths = core.config().leadrocks.bulk.paths;
    let mut router = Router::new()
        .route("/v1/getcredits", get(getcredits))
        .route("/v1/verify-instant", post(verify_instant));
    if matches!(paths, BulkPaths::All | BulkPaths::Leadrocks) {
        router = router
            .route("/v1/verify-bulk", post(bulk_upload))
            .route("/v1/verify-bulk-progress", get(progress))
            .route("/v1/verify-bulk-download", get(download));
    }
    if matches!(paths, BulkPaths::All | BulkPaths::Clearout) {
        router = router
            .route("/v1/email_verify/bulk", post(bulk_upload))
            .route("/v1/email_verify/bulk/progress_status", get(progress))
            .route("/v1/download/result", get(download));
    }
    if paths == BulkPaths::All {
        router = router
            .route("/v1/progress-status", get(progress))
            .route("/v1/download-result", get(download));
    }
    router
        .fallback(|| async { failed(StatusCode::NOT_FOUND, 0, "Route not found") })
        .method_not_allowed_fallback(|| async { failed(StatusCode::NOT_FOUND, 0, "Route not found") })
        .layer(axum::middleware::from_fn_with_state(core.clone(), guard))
        .layer(axum::extract::DefaultBodyLimit::max(upload_limit))
}

/// Token auth (raw or `Bearer `), then the per-token request limit (111).
async fn guard(AxState(core): AxState<Arc<Core>>, mut req: Request, next: Next) -> Response {
    if req.extensions().get::<MatchedPath>().is_none() {
        return next.run(req).await;
    }
    let raw = header_str(req.headers(), header::AUTHORIZATION);
    let token = strip_bearer(raw).unwrap_or(raw).trim();
    let Some(ks) = (!token.is_empty()).then(|| core.sims.leadrocks.keys.get(token)).flatten() else {
        return lr_error(&core, 100, None);
    };
    if ks.admit("*").is_err() {
        core.throttled(Vendor::LeadRocks);
        return rate_limited(&core);
    }
    req.extensions_mut().insert(ks);
    next.run(req).await
}

fn yes(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

fn verdict_json(email: &str, v: &Verdict) -> Value {
    json!({
        "email_address": email,
        "status": v.status.as_str(),
        "safe_to_send": yes(v.safe_to_send),
        "disposable": yes(v.disposable),
        "free_account": yes(v.free_account),
        "role_account": yes(v.role_account),
    })
}

async fn getcredits(req: Request) -> Response {
    let key = key_of(&req);
    let credits = if key.unlimited() { 999_999_999 } else { key.balance() };
    success(json!({"credits": credits}))
}

async fn verify_instant(AxState(core): AxState<Arc<Core>>, req: Request) -> Reply {
    let key = key_of(&req);
    if key.admit_only("instant").is_err() {
        core.throttled(Vendor::LeadRocks);
        return Err(lr_error(&core, 110, None));
    }
    let body = match super::util::json_body(req, 64 * 1024).await {
        Ok(Some(v)) => v,
        Err(BodyError::TooLarge) => return Err(lr_error(&core, 101, Some("body too large"))),
        Ok(None) | Err(BodyError::Invalid(_)) => return Err(lr_error(&core, 101, None)),
    };
    let Some(email) = body
        .get("email")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|e| !e.is_empty())
    else {
        return Err(lr_error(&core, 101, Some("field \"email\" is required")));
    };
    if !key.try_charge(1) {
        return Err(lr_error(&core, 103, None));
    }
    core.stats
        .paid(format!("leadrocks:verify:email={}", normalize_email(email)));
    core.stats.paid_call(Vendor::LeadRocks);
    let v = core.universe().verdict(email);
    Ok(success(verdict_json(email, &v)))
}

/// The multipart form of a bulk upload.
struct Upload {
    file_name: Option<String>,
    data: Vec<u8>,
    email_column: Option<String>,
}

/// Reads the multipart form, mapping every failure to the vendor's codes.
async fn read_upload(core: &Core, req: Request) -> Result<Upload, Response> {
    let mut mp = Multipart::from_request(req, &())
        .await
        .map_err(|_| lr_error(core, 105, Some("expected multipart/form-data with a file field")))?;
    let read_error = |status: StatusCode| {
        let code = if status == StatusCode::PAYLOAD_TOO_LARGE {
            104
        } else {
            105
        };
        lr_error(core, code, None)
    };
    let mut file = None;
    let mut email_column = None;
    while let Some(f) = mp.next_field().await.map_err(|e| read_error(e.status()))? {
        let name = f.name().unwrap_or("").to_string();
        let fname = f.file_name().map(str::to_string);
        let data = f.bytes().await.map_err(|e| read_error(e.status()))?;
        match name.as_str() {
            "file" => file = Some((fname, data.to_vec())),
            "email_column" => {
                email_column = Some(String::from_utf8_lossy(&data).trim().to_string()).filter(|c| !c.is_empty())
            }
            _ => {}
        }
    }
    let Some((file_name, data)) = file else {
        return Err(lr_error(core, 105, Some("no file field")));
    };
    Ok(Upload {
        file_name,
        data,
        email_column,
    })
}

/// The rows to verify: the CSV header, its non-blank rows and the email column.
struct Rows {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
    email_col: usize,
}

/// Checks an uploaded file against the bulk limits; `Err` is the error code
/// (104 too big, 105 not a CSV, 106 no email column, 107 no rows).
fn parse_rows(upload: &Upload, bulk: &LeadRocksBulk) -> Result<Rows, u16> {
    if upload.data.len() as u64 > bulk.max_bytes {
        return Err(104);
    }
    if let Some(f) = &upload.file_name
        && !f.to_ascii_lowercase().ends_with(".csv")
    {
        return Err(105);
    }
    let text = std::str::from_utf8(&upload.data).map_err(|_| 105u16)?;
    if text.contains('\0') {
        return Err(105);
    }
    if text.lines().count() > bulk.max_lines as usize {
        return Err(104);
    }
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(text.as_bytes());
    let header: Vec<String> = rdr
        .headers()
        .map_err(|_| 105u16)?
        .iter()
        .map(|s| s.trim().to_string())
        .collect();
    if header.iter().all(String::is_empty) {
        return Err(107);
    }
    let want = upload.email_column.as_deref().unwrap_or("email");
    let email_col = header.iter().position(|h| h.eq_ignore_ascii_case(want)).ok_or(106u16)?;
    let mut rows = Vec::new();
    for r in rdr.records() {
        let r = r.map_err(|_| 105u16)?;
        if !r.iter().all(|f| f.trim().is_empty()) {
            rows.push(r.iter().map(str::to_string).collect::<Vec<_>>());
        }
    }
    if rows.is_empty() {
        return Err(107);
    }
    Ok(Rows {
        header,
        rows,
        email_col,
    })
}

async fn bulk_upload(AxState(core): AxState<Arc<Core>>, req: Request) -> Reply {
    let key = key_of(&req);
    let upload = read_upload(&core, req).await?;
    let cfg = core.config();
    let bulk = &cfg.leadrocks.bulk;
    let Rows {
        header,
        rows,
        email_col,
    } = parse_rows(&upload, bulk).map_err(|code| lr_error(&core, code, None))?;
    let active = lock(&core.sims.leadrocks.lists)
        .values()
        .filter(|l| l.key == key.key && l.progress() != "completed")
        .count();
    if bulk.max_running > 0 && active >= bulk.max_running as usize {
        return Err(lr_error(&core, 109, None));
    }
    if !key.try_charge(rows.len() as u64) {
        return Err(lr_error(&core, 103, None));
    }
    core.stats.paid_call(Vendor::LeadRocks);
    for r in &rows {
        if let Some(e) = r.get(email_col).map(|e| normalize_email(e)).filter(|e| !e.is_empty()) {
            core.stats.paid(format!("leadrocks:verify:email={e}"));
        }
    }
    let n = core.sims.leadrocks.seq.fetch_add(1, Ordering::Relaxed);
    let list_id = 1_000_000_000_000_000 + hash3(core.seed(), "leadrocks-list", n) % 8_999_999_999_999_999;
    lock(&core.sims.leadrocks.lists).insert(
        list_id,
        BulkList {
            key: key.key.clone(),
            created: Instant::now(),
            queued: Duration::from_millis(bulk.queued_ms),
            running: Duration::from_millis(bulk.running_ms),
            header,
            rows,
            email_col,
        },
    );
    core.journal
        .touch(|| Dirty::Record(Vendor::LeadRocks, sim::LISTS, list_id.to_string()));
    Ok(success(json!({"list_id": list_id})))
}

/// The caller's list named by `list_id`, or 108.
fn with_list<R>(
    core: &Core,
    req: &Request,
    f: impl FnOnce(u64, &BulkList) -> Result<R, Response>,
) -> Result<R, Response> {
    let key = key_of(req);
    let id = Params::parse(req.uri().query())
        .get_nonblank("list_id")
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| lr_error(core, 108, None))?;
    let lists = lock(&core.sims.leadrocks.lists);
    let list = lists
        .get(&id)
        .filter(|l| l.key == key.key)
        .ok_or_else(|| lr_error(core, 108, None))?;
    f(id, list)
}

async fn progress(AxState(core): AxState<Arc<Core>>, req: Request) -> Reply {
    with_list(&core, &req, |id, l| {
        Ok(success(json!({"list_id": id, "progress_status": l.progress()})))
    })
}

/// The uploaded CSV with the verdict columns appended.
fn result_csv(u: &Universe, l: &BulkList) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut head = l.header.clone();
    head.extend(["status", "safe_to_send", "disposable", "free_account", "role_account"].map(String::from));
    let _ = w.write_record(&head);
    for r in &l.rows {
        let email = r.get(l.email_col).map(String::as_str).unwrap_or("");
        let v = u.verdict(email);
        let mut row: Vec<String> = (0..l.header.len())
            .map(|i| r.get(i).cloned().unwrap_or_default())
            .collect();
        row.extend(
            [
                v.status.as_str(),
                yes(v.safe_to_send),
                yes(v.disposable),
                yes(v.free_account),
                yes(v.role_account),
            ]
            .map(String::from),
        );
        let _ = w.write_record(&row);
    }
    w.into_inner().unwrap_or_default()
}

async fn download(AxState(core): AxState<Arc<Core>>, req: Request) -> Reply {
    let csv_bytes = with_list(&core, &req, |_, l| {
        if l.progress() != "completed" {
            return Err(lr_error(&core, 108, Some("verification is not completed yet")));
        }
        Ok(result_csv(core.universe(), l))
    })?;
    let mut resp = Response::new(Body::from(csv_bytes));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    resp.headers_mut().insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"result.csv\""),
    );
    Ok(resp)
}
