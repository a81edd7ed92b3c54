//! LeadRocks Email Verifier simulator (`reference/leadrocks.md`).
//!
//! Routes under `/v1`: `GET getcredits`, `POST verify-instant`, bulk upload
//! `POST verify-bulk` (alias `email_verify/bulk`), progress
//! `GET verify-bulk-progress?list_id=` (aliases `progress-status`,
//! `email_verify/bulk/progress_status`), download
//! `GET verify-bulk-download?list_id=` (aliases `download-result`, `download/result`).
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

use super::config::LeadRocksConfig;
use super::limits::{KeyState, Keyring, Limiter};
use super::universe::Verdict;
use super::util::{Params, hash3, normalize_email};
use super::{Core, Vendor};

struct BulkList {
    key: String,
    created: Instant,
    queued: Duration,
    running: Duration,
    header: Vec<String>,
    rows: Vec<Vec<String>>,
    email_col: usize,
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
    seq: AtomicU64,
    lists: Mutex<HashMap<u64, BulkList>>,
}

impl State {
    pub(crate) fn new() -> Self {
        Self {
            keys: Keyring::new(),
            seq: AtomicU64::new(0),
            lists: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn rebuild_keys(&self, cfg: &LeadRocksConfig, carry: bool) {
        self.keys.rebuild(
            &cfg.api_keys,
            |k| {
                let mut l = Vec::new();
                if let Some(x) = Limiter::new(&cfg.rate_limit, 1.0) {
                    l.push(("*", x));
                }
                if let Some(x) = Limiter::new(&cfg.instant_quota, 1.0) {
                    l.push(("instant", x));
                }
                KeyState::new(k, cfg.credits, l)
            },
            carry,
        );
    }

    pub(crate) fn reset(&self) {
        self.seq.store(0, Ordering::Relaxed);
        self.lists.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

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
    Router::new()
        .route("/v1/getcredits", get(getcredits))
        .route("/v1/verify-instant", post(verify_instant))
        .route("/v1/verify-bulk", post(bulk_upload))
        .route("/v1/email_verify/bulk", post(bulk_upload))
        .route("/v1/verify-bulk-progress", get(progress))
        .route("/v1/progress-status", get(progress))
        .route("/v1/email_verify/bulk/progress_status", get(progress))
        .route("/v1/verify-bulk-download", get(download))
        .route("/v1/download-result", get(download))
        .route("/v1/download/result", get(download))
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
    let raw = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .trim();
    let token = raw
        .strip_prefix("Bearer ")
        .or_else(|| raw.strip_prefix("bearer "))
        .unwrap_or(raw)
        .trim();
    let Some(ks) = (!token.is_empty()).then(|| core.lr.keys.get(token)).flatten() else {
        return lr_error(&core, 100, None);
    };
    if ks.admit("*").is_err() {
        core.throttled(Vendor::LeadRocks);
        return lr_error(&core, 111, None);
    }
    req.extensions_mut().insert(ks);
    next.run(req).await
}

fn key_of(req: &Request) -> Arc<KeyState> {
    req.extensions()
        .get::<Arc<KeyState>>()
        .cloned()
        .expect("guard inserts the key")
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

async fn verify_instant(AxState(core): AxState<Arc<Core>>, req: Request) -> Response {
    let key = key_of(&req);
    if key.admit_only("instant").is_err() {
        core.throttled(Vendor::LeadRocks);
        return lr_error(&core, 110, None);
    }
    let Ok(bytes) = axum::body::to_bytes(req.into_body(), 64 * 1024).await else {
        return lr_error(&core, 101, Some("body too large"));
    };
    let body: Value = match serde_json::from_slice(&bytes) {
        Ok(v) => v,
        Err(_) => return lr_error(&core, 101, None),
    };
    let Some(email) = body
        .get("email")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|e| !e.is_empty())
    else {
        return lr_error(&core, 101, Some("field \"email\" is required"));
    };
    if !key.try_charge(1) {
        return lr_error(&core, 103, None);
    }
    core.stats
        .paid(format!("leadrocks:verify:email={}", normalize_email(email)));
    let v = core.universe().verdict(email);
    success(verdict_json(email, &v))
}

/// Reads the multipart form, mapping every failure to the vendor's codes.
async fn read_upload(core: &Core, req: Request) -> Result<(Option<String>, Vec<u8>, Option<String>), Response> {
    let mut mp = Multipart::from_request(req, &())
        .await
        .map_err(|_| lr_error(core, 105, Some("expected multipart/form-data with a file field")))?;
    let mut file = None;
    let mut column = None;
    loop {
        match mp.next_field().await {
            Ok(Some(f)) => {
                let name = f.name().unwrap_or("").to_string();
                let fname = f.file_name().map(str::to_string);
                let data = f.bytes().await.map_err(|e| {
                    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                        lr_error(core, 104, None)
                    } else {
                        lr_error(core, 105, None)
                    }
                })?;
                match name.as_str() {
                    "file" => file = Some((fname, data.to_vec())),
                    "email_column" => {
                        column = Some(String::from_utf8_lossy(&data).trim().to_string()).filter(|c| !c.is_empty())
                    }
                    _ => {}
                }
            }
            Ok(None) => break,
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                return Err(lr_error(core, 104, None));
            }
            Err(_) => return Err(lr_error(core, 105, None)),
        }
    }
    let Some((fname, data)) = file else {
        return Err(lr_error(core, 105, Some("no file field")));
    };
    Ok((fname, data, column))
}

async fn bulk_upload(AxState(core): AxState<Arc<Core>>, req: Request) -> Response {
    let key = key_of(&req);
    let (fname, data, column) = match read_upload(&core, req).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let cfg = core.config();
    let bulk = &cfg.leadrocks.bulk;
    if data.len() as u64 > bulk.max_bytes {
        return lr_error(&core, 104, None);
    }
    if let Some(f) = &fname
        && !f.to_ascii_lowercase().ends_with(".csv")
    {
        return lr_error(&core, 105, None);
    }
    let Ok(text) = std::str::from_utf8(&data) else {
        return lr_error(&core, 105, None);
    };
    if text.contains('\0') {
        return lr_error(&core, 105, None);
    }
    let lines = text.lines().count();
    if lines > bulk.max_lines as usize {
        return lr_error(&core, 104, None);
    }
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(text.as_bytes());
    let header: Vec<String> = match rdr.headers() {
        Ok(h) => h.iter().map(|s| s.trim().to_string()).collect(),
        Err(_) => return lr_error(&core, 105, None),
    };
    if header.iter().all(String::is_empty) {
        return lr_error(&core, 107, None);
    }
    let want = column.as_deref().unwrap_or("email");
    let Some(email_col) = header.iter().position(|h| h.eq_ignore_ascii_case(want)) else {
        return lr_error(&core, 106, None);
    };
    let mut rows = Vec::new();
    for r in rdr.records() {
        match r {
            Ok(r) => {
                if r.iter().all(|f| f.trim().is_empty()) {
                    continue;
                }
                rows.push(r.iter().map(str::to_string).collect::<Vec<_>>());
            }
            Err(_) => return lr_error(&core, 105, None),
        }
    }
    if rows.is_empty() {
        return lr_error(&core, 107, None);
    }
    {
        let lists = core.lr.lists.lock().unwrap_or_else(|e| e.into_inner());
        let active = lists
            .values()
            .filter(|l| l.key == key.key && l.progress() != "completed")
            .count();
        if bulk.max_running > 0 && active >= bulk.max_running as usize {
            return lr_error(&core, 109, None);
        }
    }
    if !key.try_charge(rows.len() as u64) {
        return lr_error(&core, 103, None);
    }
    for r in &rows {
        if let Some(e) = r.get(email_col).map(|e| normalize_email(e)).filter(|e| !e.is_empty()) {
            core.stats.paid(format!("leadrocks:verify:email={e}"));
        }
    }
    let n = core.lr.seq.fetch_add(1, Ordering::Relaxed);
    let list_id = 1_000_000_000_000_000 + hash3(core.seed(), "leadrocks-list", n) % 8_999_999_999_999_999;
    core.lr.lists.lock().unwrap_or_else(|e| e.into_inner()).insert(
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
    success(json!({"list_id": list_id}))
}

fn list_id_of(req: &Request) -> Option<u64> {
    Params::parse(req.uri().query())
        .get_nonblank("list_id")
        .and_then(|s| s.parse().ok())
}

async fn progress(AxState(core): AxState<Arc<Core>>, req: Request) -> Response {
    let key = key_of(&req);
    let Some(id) = list_id_of(&req) else {
        return lr_error(&core, 108, None);
    };
    let lists = core.lr.lists.lock().unwrap_or_else(|e| e.into_inner());
    match lists.get(&id).filter(|l| l.key == key.key) {
        Some(l) => success(json!({"list_id": id, "progress_status": l.progress()})),
        None => lr_error(&core, 108, None),
    }
}

async fn download(AxState(core): AxState<Arc<Core>>, req: Request) -> Response {
    let key = key_of(&req);
    let Some(id) = list_id_of(&req) else {
        return lr_error(&core, 108, None);
    };
    let csv_bytes = {
        let lists = core.lr.lists.lock().unwrap_or_else(|e| e.into_inner());
        let Some(l) = lists.get(&id).filter(|l| l.key == key.key) else {
            return lr_error(&core, 108, None);
        };
        if l.progress() != "completed" {
            return lr_error(&core, 108, Some("verification is not completed yet"));
        }
        let u = core.universe();
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
    };
    let mut resp = Response::new(Body::from(csv_bytes));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    resp.headers_mut().insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"result.csv\""),
    );
    resp
}
