//! RocketReach API v2 simulator (`docs/contracts.md`, RocketReach).
//!
//! Routes under `/api/v2`: `GET person/lookup`, `GET profile-company/lookup`,
//! `GET person/checkStatus` (`ids=1&ids=2` and `ids=1,2`), `POST bulkLookup`,
//! `GET account[/]`, `POST account/key[/]`, `POST person/search` (OAS: 201 +
//! array), `POST search` (SDK: `{profiles,pagination}`), `GET company/lookup[/]`,
//! `POST searchCompany`, `universal/*` (403); legacy `/v1/api/{lookupProfile,
//! checkStatus,search}`. Auth by `Api-Key` header or `api_key` query.
//!
//! Lifecycle: an async person's lookup walks `waiting → searching → progress`
//! and ends `complete` (or `failed`) after `lifecycle.polls` checkStatus polls
//! or `lifecycle.after_ms`; with a webhook, the result is POSTed signed with
//! `X-RocketReach-Signature` after `webhook.delay_ms`. Every answer carries
//! `RR-Request-ID`. Complete profiles are serialised once per person and
//! reused (the lookup hot path writes no JSON).
//!
//! Why one long file: lookups, status polls, bulk jobs, the account and the
//! webhooks all read and change the same lookup lifecycle and credit pool;
//! split by route, each part would reach into the others' state.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, MatchedPath, RawQuery, Request, State as AxState};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use serde_json::{Map, Value, json};

pub(crate) mod config;
mod sim;

pub(crate) use config::RocketReachConfig as Config;
use config::{Charging, ErrorShape, Lifecycle, RocketReachConfig};

use super::limits::{KeyState, Keyring, Limiter, key_of, retry_after_secs};
use super::persist::{Dirty, Journal};
use super::universe::{Company, EmailStatus, Person, RrOutcome, Universe};
use super::util::{
    Params, Reply, hash3, header_str, into_object, lock, normalize_domain, normalize_email, normalize_employer,
    normalize_linkedin, normalize_name, phone_digits, uuid_from, write_lock,
};
use super::webhook::{self, Delivery};
use super::{Core, Vendor};

pub(crate) struct Lookup {
    pub(crate) started: Instant,
    pub(crate) polls: u32,
    /// Set when a webhook delivery is scheduled: terminal from then on.
    pub(crate) done_at: Option<Instant>,
}

impl Lookup {
    fn new() -> Self {
        Self {
            started: Instant::now(),
            polls: 0,
            done_at: None,
        }
    }
}

pub(crate) struct State {
    pub(crate) keys: Keyring,
    pub(crate) lookups: Mutex<HashMap<u64, Lookup>>,
    /// (key, person id) already charged, when re-lookups are free.
    pub(crate) bought: Mutex<HashSet<(String, u64)>>,
    pub(crate) seq: AtomicU64,
    journal: Arc<Journal>,
    complete: OnceLock<Vec<OnceLock<Bytes>>>,
}

/// Path prefix of the base URL.
pub(crate) const BASE_PATH: &str = "/api/v2";

const LOOKUP_TYPES: &[&str] = &[
    "standard",
    "premium",
    "premium (feeds disabled)",
    "bulk",
    "phone",
    "enrich",
];

impl State {
    fn request_id(&self, seed: u64) -> String {
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        uuid_from(hash3(seed, "rr-request", n), hash3(seed, "rr-request-2", n))
    }

    /// Runs `f` on the person's async lookup, started now if not seen before
    /// (polling re-attaches to a lookup not seen since a restart).
    fn with_lookup<R>(&self, person_id: u64, f: impl FnOnce(&mut Lookup) -> R) -> R {
        let r = f(lock(&self.lookups).entry(person_id).or_insert_with(Lookup::new));
        self.journal
            .touch(|| Dirty::Record(Vendor::RocketReach, sim::LOOKUPS, person_id.to_string()));
        r
    }

    fn already_bought(&self, key: &str, person_id: u64) -> bool {
        lock(&self.bought).contains(&(key.to_string(), person_id))
    }

    fn mark_bought(&self, key: &str, person_id: u64) {
        lock(&self.bought).insert((key.to_string(), person_id));
        self.journal
            .touch(|| Dirty::Record(Vendor::RocketReach, sim::BOUGHT, sim::bought_key(key, person_id)));
    }

    /// The complete profile of `p`, serialised once.
    fn complete_bytes(&self, u: &Universe, p: &Person) -> Bytes {
        let cache = self
            .complete
            .get_or_init(|| (0..u.people.len()).map(|_| OnceLock::new()).collect());
        cache[p.idx as usize]
            .get_or_init(|| {
                let v = profile(u, p, "complete", true, &api_lookups(), None);
                Bytes::from(serde_json::to_vec(&v).expect("profile serialises"))
            })
            .clone()
    }
}

/// The profile list single lookups are filed under.
fn api_lookups() -> Value {
    json!({"id": 1, "name": "API Lookups"})
}

const PLAN_WINDOWS_MS: [u64; 4] = [60_000, 3_600_000, 86_400_000, 30 * 86_400_000];
const PLAN_WINDOW_NAMES: [&str; 4] = ["minute", "hour", "day", "month"];

fn plan_windows(cfg: &RocketReachConfig, action: &str) -> Vec<super::config::RateWindow> {
    cfg.plan
        .quotas(action)
        .map(|q| {
            q.iter()
                .zip(PLAN_WINDOWS_MS)
                .filter(|(l, _)| **l > 0)
                .map(|(l, ms)| super::config::RateWindow { limit: *l, per_ms: ms })
                .collect()
        })
        .unwrap_or_default()
}

fn make_key(k: &str, cfg: &RocketReachConfig) -> KeyState {
    let mut limiters = Vec::new();
    if let Some(l) = Limiter::new(&cfg.rate_limit, 1.0) {
        limiters.push(("*", l));
    }
    for action in ["lookup", "search", "company_search", "bulk"] {
        if let Some(l) = Limiter::new(&plan_windows(cfg, action), cfg.plan_time_scale) {
            limiters.push((action, l));
        }
    }
    KeyState::new(k, cfg.credits, limiters)
}

pub(crate) fn routes(core: &Arc<Core>) -> Router<Arc<Core>> {
    let body_limit = axum::extract::DefaultBodyLimit::max(4 * 1024 * 1024);
    Router::new()
        .route("/api/v2/person/lookup", get(person_lookup))
        .route("/api/v2/profile-company/lookup", get(profile_company_lookup))
        .route("/api/v2/person/checkStatus", get(check_status))
        .route("/api/v2/bulkLookup", post(bulk_lookup))
        .route("/api/v2/account", get(account))
        .route("/api/v2/account/", get(account))
        .route("/api/v2/account/key", post(account_key))
        .route("/api/v2/account/key/", post(account_key))
        .route("/api/v2/person/search", post(person_search_oas))
        .route("/api/v2/search", post(person_search_sdk))
        .route("/api/v2/company/lookup", get(company_lookup))
        .route("/api/v2/company/lookup/", get(company_lookup))
        .route("/api/v2/searchCompany", post(search_company))
        .route("/api/v2/universal/{*rest}", any(universal))
        .route("/v1/api/lookupProfile", get(person_lookup))
        .route("/v1/api/checkStatus", get(check_status))
        .route("/v1/api/search", get(person_search_v1))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(core.clone(), guard))
        .layer(body_limit)
}

/// Error body in the configured shape.
fn err_body(shape: ErrorShape, status: StatusCode, detail: &str, code: Option<&str>) -> Value {
    let mut m = serde_json::Map::new();
    if shape != ErrorShape::Docs {
        m.insert("detail".into(), json!(detail));
        if let Some(c) = code {
            m.insert("error_code".into(), json!(c));
        }
    }
    if shape != ErrorShape::Drf {
        m.insert("status".into(), json!(status.as_u16()));
        m.insert("message".into(), json!(detail));
    }
    Value::Object(m)
}

pub(crate) fn error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(err_body(ErrorShape::Both, status, message, None))).into_response()
}

/// An error with an `error_code`, in the configured shape.
fn shaped_error(shape: ErrorShape, status: StatusCode, detail: &str, code: &str) -> Response {
    json_resp(status, &err_body(shape, status, detail, Some(code)))
}

fn json_resp(status: StatusCode, v: &Value) -> Response {
    (status, axum::Json(v)).into_response()
}

fn bytes_resp(status: StatusCode, b: Bytes) -> Response {
    let mut r = Response::new(Body::from(b));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

/// 400 with a DRF field map, e.g. `{"current_employer":["This field is required."]}`.
fn field_error(field: &str, msg: &str) -> Response {
    json_resp(StatusCode::BAD_REQUEST, &json!({ field: [msg] }))
}

/// 400 with a DRF `{"detail": …}`.
fn bad_request(detail: &str) -> Response {
    json_resp(StatusCode::BAD_REQUEST, &json!({ "detail": detail }))
}

fn action_of(path: &str) -> &'static str {
    match path {
        "/api/v2/person/lookup" | "/api/v2/profile-company/lookup" | "/v1/api/lookupProfile" => "lookup",
        "/api/v2/person/search" | "/api/v2/search" | "/v1/api/search" => "search",
        "/api/v2/searchCompany" => "company_search",
        "/api/v2/bulkLookup" => "bulk",
        _ => "other",
    }
}

/// 429 "throttled" with `Retry-After` in seconds.
pub(crate) fn throttled(core: &Core, secs: u64) -> Response {
    let mut r = shaped_error(
        core.config().rocketreach.error_shape,
        StatusCode::TOO_MANY_REQUESTS,
        &format!("Request was throttled. Expected available in {secs} seconds."),
        "throttled",
    );
    r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
    r
}

/// The `RR-Request-ID` of the request being answered; its webhook carries the same.
#[derive(Clone)]
struct RequestId(String);

fn request_id_of(req: &Request) -> Option<String> {
    req.extensions().get::<RequestId>().map(|r| r.0.clone())
}

/// Every answer carries `RR-Request-ID`, refusals included.
async fn guard(AxState(core): AxState<Arc<Core>>, mut req: Request, next: Next) -> Response {
    let rid = core.sims.rocketreach.request_id(core.seed());
    req.extensions_mut().insert(RequestId(rid.clone()));
    let mut resp = match admit(&core, &mut req) {
        Ok(()) => next.run(req).await,
        Err(refused) => refused,
    };
    if let Ok(v) = HeaderValue::from_str(&rid) {
        resp.headers_mut().insert("rr-request-id", v);
    }
    resp
}

/// Auth (`Api-Key` header or deprecated `api_key` query), then the global and
/// plan limits; the admitted key goes into the request for the handler. On
/// the lookup hot path this allocates nothing and reads no config.
fn admit(core: &Core, req: &mut Request) -> Result<(), Response> {
    let Some(action) = req.extensions().get::<MatchedPath>().map(|m| action_of(m.as_str())) else {
        return Ok(());
    };
    let refuse = |status: StatusCode, detail: &str, code: &str| {
        shaped_error(core.config().rocketreach.error_shape, status, detail, code)
    };
    let query;
    let key = match Some(header_str(req.headers(), "api-key")).filter(|k| !k.is_empty()) {
        Some(k) => Some(k),
        None => {
            query = Params::parse(req.uri().query());
            query.get_nonblank("api_key")
        }
    };
    let Some(key) = key else {
        return Err(refuse(
            StatusCode::UNAUTHORIZED,
            "Anonymous requests are not allowed. Please use the test API key.",
            "authentication_failed",
        ));
    };
    let Some(ks) = core.sims.rocketreach.keys.get(key) else {
        return Err(refuse(
            StatusCode::UNAUTHORIZED,
            "Invalid API key",
            "authentication_failed",
        ));
    };
    ks.calls.fetch_add(1, Ordering::Relaxed);
    if let Err(t) = ks.admit(action) {
        core.throttled(Vendor::RocketReach);
        return Err(throttled(core, retry_after_secs(t.retry_after)));
    }
    req.extensions_mut().insert(ks);
    Ok(())
}

async fn not_found() -> Response {
    json_resp(StatusCode::NOT_FOUND, &json!({"detail": "Not found."}))
}

async fn method_not_allowed(req: Request) -> Response {
    json_resp(
        StatusCode::METHOD_NOT_ALLOWED,
        &json!({"detail": format!("Method \"{}\" not allowed.", req.method())}),
    )
}

async fn universal() -> Response {
    json_resp(
        StatusCode::FORBIDDEN,
        &json!({"detail": "Universal credits are not enabled for this account.", "error_code": "permission_denied"}),
    )
}

/// Which identity a lookup names, by the contract's parameters.
#[derive(Debug, Clone)]
enum Ident {
    Id(u64),
    Linkedin(String),
    Email(String),
    NameEmployer(String, String),
    Phone(String),
    Npi(u64),
}

impl Ident {
    fn canonical(&self) -> String {
        match self {
            Ident::Id(id) => format!("id={id}"),
            Ident::Linkedin(l) => format!("linkedin_url={}", normalize_linkedin(l)),
            Ident::Email(e) => format!("email={}", normalize_email(e)),
            Ident::NameEmployer(n, e) => {
                format!("name={}|current_employer={}", normalize_name(n), normalize_employer(e))
            }
            Ident::Phone(p) => format!("phone={}", phone_digits(p)),
            Ident::Npi(n) => format!("npi_number={n}"),
        }
    }

    fn resolve<'u>(&self, u: &'u Universe) -> Option<&'u Person> {
        let p = match self {
            Ident::Id(id) => u.person_by_id(*id),
            Ident::Linkedin(l) => u.person_by_linkedin(l),
            Ident::Email(e) => u.person_by_email(e),
            Ident::NameEmployer(n, e) => u.person_by_name_employer(n, e),
            Ident::Phone(p) => u.person_by_phone(p),
            Ident::Npi(_) => None,
        }?;
        (p.rr != RrOutcome::NotFound).then_some(p)
    }
}

/// Reads an identity from string-valued fields (query params or a bulk query).
fn ident_from(get: &dyn Fn(&str) -> Option<String>) -> Result<Ident, Response> {
    let id = get("id").or_else(|| get("profile_id"));
    if let Some(id) = id {
        return id
            .trim()
            .parse()
            .map(Ident::Id)
            .map_err(|_| field_error("id", "A valid integer is required."));
    }
    if let Some(l) = get("linkedin_url").or_else(|| get("linkedin_ext_url")) {
        return Ok(Ident::Linkedin(l));
    }
    if let Some(e) = get("email") {
        return Ok(Ident::Email(e));
    }
    let name = get("name");
    let employer = get("current_employer").or_else(|| get("company"));
    match (name, employer) {
        (Some(n), Some(e)) => return Ok(Ident::NameEmployer(n, e)),
        (Some(_), None) => {
            return Err(field_error(
                "current_employer",
                "This field is required when name is given.",
            ));
        }
        (None, Some(_)) => {
            return Err(field_error(
                "name",
                "This field is required when current_employer is given.",
            ));
        }
        (None, None) => {}
    }
    if let Some(p) = get("phone") {
        return Ok(Ident::Phone(p));
    }
    if let Some(n) = get("npi_number") {
        return n
            .trim()
            .parse()
            .map(Ident::Npi)
            .map_err(|_| field_error("npi_number", "A valid integer is required."));
    }
    Err(bad_request(
        "Must specify at least one of: id, name and current_employer, email, linkedin_url, phone, npi_number.",
    ))
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

fn credits_exhausted(shape: ErrorShape) -> Response {
    shaped_error(
        shape,
        StatusCode::FORBIDDEN,
        "You have exhausted your lookup credits. Please upgrade your plan or purchase more credits.",
        "credits_exhausted",
    )
}

fn profile_not_found(shape: ErrorShape) -> Response {
    shaped_error(
        shape,
        StatusCode::NOT_FOUND,
        "Could not find a profile matching this request.",
        "not_found",
    )
}

async fn person_lookup(AxState(core): AxState<Arc<Core>>, req: Request) -> Reply {
    lookup_common(core, req, false).await
}

async fn profile_company_lookup(AxState(core): AxState<Arc<Core>>, req: Request) -> Reply {
    lookup_common(core, req, true).await
}

/// `webhook_id`-style optional integer parameter.
fn optional_u64(params: &Params, name: &str) -> Result<Option<u64>, Response> {
    match params.get_nonblank(name).map(|w| w.parse::<u64>()) {
        Some(Ok(w)) => Ok(Some(w)),
        Some(Err(_)) => Err(field_error(name, "A valid integer is required.")),
        None => Ok(None),
    }
}

/// The hot path: a complete lookup with default parameters answers the
/// profile serialised once per person.
/// Credits a lookup of `p` costs (it will not fail).
fn lookup_cost(p: &Person, lookup_type: &str, charging: Charging) -> u64 {
    if charging == Charging::EveryProfile {
        return 1;
    }
    // The profile's emails: the work address (graded A when valid) and a personal one (graded A).
    let good_email = p.email_status == EmailStatus::Valid || p.personal_email.is_some();
    let phone = p.phone.is_some() || p.mobile.is_some();
    let charged = match lookup_type {
        "premium" | "premium (feeds disabled)" => good_email || phone,
        "phone" => phone,
        "enrich" => true,
        _ => good_email,
    };
    u64::from(charged)
}

async fn lookup_common(core: Arc<Core>, req: Request, with_company: bool) -> Reply {
    let key = key_of(&req);
    let rid = request_id_of(&req);
    let params = Params::parse(req.uri().query());
    let get = |k: &str| params.get_nonblank(k).map(str::to_string);
    let ident = ident_from(&get)?;
    let lookup_type = params.get_nonblank("lookup_type").unwrap_or("standard");
    if !LOOKUP_TYPES.contains(&lookup_type) {
        return Err(field_error(
            "lookup_type",
            &format!("\"{lookup_type}\" is not a valid choice."),
        ));
    }
    let webhook_id = optional_u64(&params, "webhook_id")?;
    let return_cached = match params.get_nonblank("return_cached_emails").map(parse_bool) {
        Some(Some(b)) => b,
        Some(None) => return Err(field_error("return_cached_emails", "Must be a valid boolean.")),
        None => true,
    };
    let metadata = params
        .get_nonblank("metadata")
        .map(|m| serde_json::from_str::<Value>(m).unwrap_or_else(|_| json!(m)));
    let cfg = core.config();
    let rr = &cfg.rocketreach;
    let hook = resolve_webhook(rr, webhook_id)?;
    let u = core.universe();
    let Some(p) = ident.resolve(u) else {
        return Err(profile_not_found(rr.error_shape));
    };
    // Charge on data found (a lookup that will fail finds nothing).
    if p.rr != RrOutcome::Failed && (rr.charge_relookup || !core.sims.rocketreach.already_bought(&key.key, p.id)) {
        let units = lookup_cost(p, lookup_type, rr.charging);
        if !key.can_pay() || !key.try_charge(units) {
            return Err(credits_exhausted(rr.error_shape));
        }
        let kind = if with_company { "profile-company" } else { "lookup" };
        let suffix = if lookup_type == "standard" {
            String::new()
        } else {
            format!("[{lookup_type}]")
        };
        core.stats
            .paid(format!("rocketreach:{kind}{suffix}:{}", ident.canonical()));
        core.stats.paid_call(Vendor::RocketReach);
        if !rr.charge_relookup {
            core.sims.rocketreach.mark_bought(&key.key, p.id);
        }
    }
    let status = match p.rr {
        RrOutcome::Instant => "complete",
        _ => core.sims.rocketreach.with_lookup(p.id, |l| {
            if let Some(h) = &hook
                && l.done_at.is_none()
            {
                l.done_at = Some(Instant::now() + Duration::from_millis(h.delay_ms));
            }
            status_of(l, &rr.lifecycle, p.rr)
        }),
    };
    let with_company_json = |mut body: Value| {
        if with_company {
            body["company"] = company_json(u.company_of(p));
        }
        body
    };
    if let Some(h) = hook
        && (p.rr != RrOutcome::Instant || h.on_sync)
    {
        let terminal = if p.rr == RrOutcome::Failed {
            "failed"
        } else {
            "complete"
        };
        let body = with_company_json(profile(u, p, terminal, true, &api_lookups(), metadata.as_ref()));
        let delay = if p.rr == RrOutcome::Instant { 0 } else { h.delay_ms };
        send_webhook(&core, &h, body_bytes(&body), delay, rid);
    }
    let plain = status == "complete" && return_cached && metadata.is_none() && !with_company;
    if plain {
        return Ok(bytes_resp(StatusCode::OK, core.sims.rocketreach.complete_bytes(u, p)));
    }
    let mut body = profile(u, p, status, return_cached, &api_lookups(), metadata.as_ref());
    if let Some(m) = body.as_object_mut() {
        m.insert("return_cached_emails".into(), json!(return_cached));
    }
    Ok(json_resp(StatusCode::OK, &with_company_json(body)))
}

fn body_bytes(v: &Value) -> Bytes {
    Bytes::from(serde_json::to_vec(v).expect("serialises"))
}

/// Where results go: an explicit `webhook_id` must name the configured
/// webhook; otherwise the configured one when active.
fn resolve_webhook(
    rr: &RocketReachConfig,
    webhook_id: Option<u64>,
) -> Result<Option<config::RocketReachWebhook>, Response> {
    let w = &rr.webhook;
    match webhook_id {
        Some(id) if id != w.id || w.url.is_none() => {
            Err(field_error("webhook_id", &format!("Webhook {id} does not exist.")))
        }
        Some(_) => Ok(Some(w.clone())),
        None if w.active && w.url.is_some() => Ok(Some(w.clone())),
        None => Ok(None),
    }
}

/// Delivers `body` to the webhook; with `request_id` the delivery carries
/// the request's `RR-Request-ID` (the contract), unless the configuration
/// plays a vendor whose deliveries carry their own.
fn send_webhook(
    core: &Arc<Core>,
    h: &config::RocketReachWebhook,
    body: Bytes,
    delay_ms: u64,
    request_id: Option<String>,
) {
    let Some(url) = h.url.clone() else { return };
    let cfg = core.config();
    let f = &cfg.rocketreach.faults;
    let n = core.sims.rocketreach.seq.load(Ordering::Relaxed);
    let rid = request_id
        .filter(|_| h.same_request_id)
        .unwrap_or_else(|| core.sims.rocketreach.request_id(core.seed()));
    let mut headers = vec![("RR-Request-ID".to_string(), rid)];
    if let Some(secret) = &h.secret {
        headers.push(("X-RocketReach-Signature".to_string(), webhook::sign_b64(secret, &body)));
    }
    webhook::spawn(
        core,
        Delivery {
            vendor: Vendor::RocketReach,
            url,
            headers,
            body,
            schedule: webhook::ms_schedule(&h.retry_schedule_ms, delay_ms + f.webhook_late_ms),
            timeout: Duration::from_millis(h.timeout_ms),
            duplicate: super::faults::webhook_duplicate(core.seed(), Vendor::RocketReach, n, f),
            charge: None,
        },
    );
}

fn status_of(l: &Lookup, lc: &Lifecycle, outcome: RrOutcome) -> &'static str {
    let now = Instant::now();
    let elapsed = now.duration_since(l.started).as_millis() as u64;
    let by_polls = if lc.polls == 0 {
        lc.after_ms == 0
    } else {
        l.polls >= lc.polls
    };
    let by_time = lc.after_ms > 0 && elapsed >= lc.after_ms;
    let by_hook = l.done_at.is_some_and(|t| now >= t);
    if by_polls || by_time || by_hook {
        return if outcome == RrOutcome::Failed {
            "failed"
        } else {
            "complete"
        };
    }
    let poll_stage = if lc.polls == 0 {
        0
    } else {
        3u32.saturating_sub((lc.polls - l.polls).min(3))
    };
    let time_stage = (3 * elapsed).checked_div(lc.after_ms).map_or(0, |s| s.min(2) as u32);
    match poll_stage.max(time_stage) {
        0 => "waiting",
        1 => "searching",
        _ => "progress",
    }
}

fn smtp_valid(s: EmailStatus) -> (&'static str, &'static str) {
    match s {
        EmailStatus::Valid => ("valid", "A"),
        EmailStatus::CatchAll => ("accept-all", "B"),
        EmailStatus::Unknown => ("unknown", "C"),
        EmailStatus::NotValid => ("invalid", "F"),
    }
}

fn validation_date(u: &Universe, p: &Person) -> String {
    let h = hash3(u.seed(), "validated", p.id);
    format!("2026-{:02}-{:02}T12:00:00Z", 1 + h % 4, 1 + (h >> 8) % 28)
}

/// What a search summary and a profile both start with.
fn person_head(p: &Person, c: &Company, status: &str) -> Map<String, Value> {
    into_object(json!({
        "id": p.id,
        "status": status,
        "name": p.name,
        "profile_pic": null,
        "linkedin_url": p.linkedin_url,
        "location": format!("{}, {}, {}", p.city, p.state, p.country),
        "city": p.city,
        "region": p.state,
        "country": p.country,
        "country_code": p.country_code,
        "current_title": p.title,
        "current_employer": c.name,
        "current_employer_id": c.id,
        "current_employer_domain": c.domain,
        "current_employer_website": c.website,
    }))
}

/// A profile at a given status. Contact data is only complete at `complete`;
/// `progress` carries the emails when cached emails are returned.
fn profile(
    u: &Universe,
    p: &Person,
    status: &str,
    cached_emails: bool,
    profile_list: &Value,
    metadata: Option<&Value>,
) -> Value {
    let c = u.company_of(p);
    let mut links = serde_json::Map::new();
    if let Some(l) = &p.linkedin_url {
        links.insert("linkedin".into(), json!(l));
    }
    if let Some(t) = &p.twitter_url {
        links.insert("twitter".into(), json!(t));
    }
    let show_emails = status == "complete" || (status == "progress" && cached_emails);
    let show_phones = status == "complete";
    let (smtp, grade) = smtp_valid(p.email_status);
    let checked = validation_date(u, p);
    let mut emails = Vec::new();
    if show_emails {
        emails.push(json!({"email": p.work_email, "smtp_valid": smtp, "type": "professional", "grade": grade, "last_validation_check": checked}));
        if let Some(pe) = &p.personal_email {
            emails.push(json!({"email": pe, "smtp_valid": "valid", "type": "personal", "grade": "A", "last_validation_check": checked}));
        }
    }
    let mut phones = Vec::new();
    if show_phones {
        for (i, ph) in [&p.phone, &p.mobile].into_iter().flatten().enumerate() {
            let cc = if ph.e164.starts_with("+1") { "1" } else { "44" };
            phones.push(json!({
                "number": ph.number, "e164": ph.e164, "country_code": cc, "extension": null,
                "type": ph.kind, "grade": if i == 0 { "A" } else { "A-" }, "recommended": i == 0,
                "validity": "valid", "premium": ph.kind == "mobile", "last_checked": checked,
            }));
        }
    }
    let work_ok = show_emails && matches!(p.email_status, EmailStatus::Valid);
    let recommended_professional = show_emails.then(|| p.work_email.clone());
    let recommended_personal = if show_emails { p.personal_email.clone() } else { None };
    let recommended = if work_ok {
        Some(p.work_email.clone())
    } else {
        recommended_personal.clone().or(recommended_professional.clone())
    };
    let mut m = person_head(p, c, status);
    m.extend(into_object(json!({
        "linkedin_url_active": p.linkedin_url.is_some(),
        "links": links,
        "current_employer_linkedin_url": c.linkedin_url,
        "current_employer_industry": c.industry,
        "job_history": [{
            "company_name": c.name, "company_id": c.id, "company_linkedin_url": c.linkedin_url,
            "title": p.title, "department": p.department, "start_date": format!("{}-01-01", 2026 - 1 - (p.connections % 8)),
            "end_date": null, "is_current": true,
        }],
        "education": [],
        "skills": p.skills,
        "connections": p.connections,
        "birth_year": p.birth_year,
        "npi_data": null,
        "recommended_email": recommended,
        "recommended_personal_email": recommended_personal,
        "recommended_professional_email": recommended_professional,
        "current_work_email": show_emails.then(|| p.work_email.clone()),
        "current_personal_email": if show_emails { p.personal_email.clone() } else { None },
        "emails": emails,
        "phones": phones,
        "profile_list": profile_list,
        "metadata": metadata,
    })));
    Value::Object(m)
}

fn company_json(c: &Company) -> Value {
    json!({
        "id": c.id,
        "name": c.name,
        "domain": c.domain,
        "email_domain": c.domain,
        "website_domain": c.domain,
        "ticker_symbol": c.ticker,
        "links": {"linkedin": c.linkedin_url, "website": c.website},
        "year_founded": c.founded_year,
        "address": {
            "street": c.street, "city": c.city, "region": c.state, "postal_code": c.zipcode,
            "country": c.country, "country_code": c.country_code,
            "description": format!("{}, {}, {} {}", c.street, c.city, c.state, c.zipcode),
        },
        "phone": c.phone,
        "fax": null,
        "num_employees": c.employee_count,
        "employees_range": c.employee_size,
        "revenue": c.revenue_usd,
        "revenue_range": c.revenue,
        "industry": c.industry,
        "sic_codes": [c.sic_code],
        "description": format!("{} is a {} company based in {}.", c.name, c.industry.to_lowercase(), c.city),
        "techstack": c.tech_keywords,
        "linkedin_followers": c.linkedin_followers,
        "company_type": c.company_type,
    })
}

/// `ids=1&ids=2`, `ids[]=1` and `ids=1,2` alike.
fn check_status_ids(params: &Params, max: usize) -> Result<Vec<u64>, Response> {
    let mut ids = Vec::new();
    for raw in params.all("ids").chain(params.all("ids[]")) {
        for part in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let id = part
                .parse::<u64>()
                .map_err(|_| field_error("ids", &format!("\"{part}\" is not a valid integer.")))?;
            ids.push(id);
        }
    }
    if ids.is_empty() {
        return Err(field_error("ids", "This field is required."));
    }
    if ids.len() > max {
        return Err(field_error(
            "ids",
            &format!("Ensure this field has no more than {max} elements."),
        ));
    }
    Ok(ids)
}

/// Each poll advances the person's lookup; complete profiles are the cached bytes.
async fn check_status(AxState(core): AxState<Arc<Core>>, req: Request) -> Reply {
    let params = Params::parse(req.uri().query());
    let cfg = core.config();
    let ids = check_status_ids(&params, cfg.rocketreach.check_status_max_ids as usize)?;
    let u = core.universe();
    let mut out: Vec<u8> = Vec::with_capacity(ids.len() * 1024);
    out.push(b'[');
    for (i, id) in ids.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let p = u.person_by_id(*id).filter(|p| p.rr != RrOutcome::NotFound);
        match p {
            None => out.extend(serde_json::to_vec(&json!({"id": id, "status": "not queued"})).expect("json")),
            Some(p) if p.rr == RrOutcome::Instant => out.extend_from_slice(&core.sims.rocketreach.complete_bytes(u, p)),
            Some(p) => {
                let status = core.sims.rocketreach.with_lookup(p.id, |l| {
                    l.polls = l.polls.saturating_add(1);
                    status_of(l, &cfg.rocketreach.lifecycle, p.rr)
                });
                if status == "complete" {
                    out.extend_from_slice(&core.sims.rocketreach.complete_bytes(u, p));
                } else {
                    let v = profile(u, p, status, true, &api_lookups(), None);
                    out.extend(serde_json::to_vec(&v).expect("json"));
                }
            }
        }
    }
    out.push(b']');
    Ok(bytes_resp(StatusCode::OK, Bytes::from(out)))
}

/// Body of a POST as JSON, whatever its encoding: JSON, form or multipart
/// (form fields holding JSON are decoded).
async fn body_as_json(req: Request) -> Result<Value, Response> {
    let ct = header_str(req.headers(), header::CONTENT_TYPE).to_ascii_lowercase();
    if ct.starts_with("multipart/form-data") {
        return multipart_as_json(req).await;
    }
    let bytes = axum::body::to_bytes(req.into_body(), 4 * 1024 * 1024)
        .await
        .map_err(|_| {
            json_resp(
                StatusCode::PAYLOAD_TOO_LARGE,
                &json!({"detail": "Request body too large."}),
            )
        })?;
    if ct.starts_with("application/x-www-form-urlencoded") {
        let text = String::from_utf8_lossy(&bytes);
        let mut m = serde_json::Map::new();
        for (k, v) in super::util::parse_pairs(&text) {
            m.insert(k, serde_json::from_str(&v).unwrap_or(Value::String(v)));
        }
        return Ok(Value::Object(m));
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    serde_json::from_slice(&bytes).map_err(|e| bad_request(&format!("JSON parse error - {e}")))
}

async fn multipart_as_json(req: Request) -> Result<Value, Response> {
    let parse_error = |text: String| bad_request(&format!("Multipart form parse error - {text}"));
    let mut mp = axum::extract::Multipart::from_request(req, &())
        .await
        .map_err(|e| parse_error(e.body_text()))?;
    let mut m = serde_json::Map::new();
    while let Some(f) = mp.next_field().await.map_err(|e| parse_error(e.body_text()))? {
        let name = f.name().unwrap_or("").to_string();
        let text = f.text().await.map_err(|e| bad_request(&e.body_text()))?;
        m.insert(name, serde_json::from_str(&text).unwrap_or(Value::String(text)));
    }
    Ok(Value::Object(m))
}

fn value_str(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

async fn bulk_lookup(AxState(core): AxState<Arc<Core>>, req: Request) -> Reply {
    let key = key_of(&req);
    let rid = request_id_of(&req);
    let body = body_as_json(req).await?;
    let cfg = core.config();
    let rr = &cfg.rocketreach;
    let Some(queries) = body.get("queries").and_then(Value::as_array) else {
        return Err(field_error("queries", "This field is required."));
    };
    if queries.len() > rr.bulk_max_queries as usize {
        return Err(field_error(
            "queries",
            &format!("Ensure this field has no more than {} elements.", rr.bulk_max_queries),
        ));
    }
    if queries.len() < rr.bulk_min_queries as usize {
        return Err(field_error(
            "queries",
            &format!("Ensure this field has at least {} elements.", rr.bulk_min_queries),
        ));
    }
    let webhook_id = match body
        .get("webhook_id")
        .map(|v| value_str(v).and_then(|s| s.parse::<u64>().ok()))
    {
        Some(Some(w)) => Some(w),
        Some(None) => return Err(field_error("webhook_id", "A valid integer is required.")),
        None => None,
    };
    let Some(hook) = resolve_webhook(rr, webhook_id)? else {
        return Err(shaped_error(
            rr.error_shape,
            StatusCode::BAD_REQUEST,
            "Bulk lookups deliver results by webhook only: pass webhook_id or enable a webhook.",
            "webhook_required",
        ));
    };
    let list_name = body
        .get("profile_list")
        .and_then(value_str)
        .unwrap_or_else(|| "API Bulk Lookup".into());
    let profile_list = json!({"id": 2, "name": list_name});
    let u = core.universe();
    let mut resolved = Vec::with_capacity(queries.len());
    for (i, q) in queries.iter().enumerate() {
        let Some(obj) = q.as_object() else {
            return Err(field_error("queries", &format!("Item {i}: expected an object.")));
        };
        let get = |k: &str| obj.get(k).and_then(value_str);
        let Ok(ident) = ident_from(&get) else {
            return Err(field_error(
                "queries",
                &format!(
                    "Item {i}: must specify one of id, name and current_employer, email, linkedin_url, phone, npi_number."
                ),
            ));
        };
        let lt = get("lookup_type").unwrap_or_else(|| "standard".into());
        if !LOOKUP_TYPES.contains(&lt.as_str()) {
            return Err(field_error(
                "queries",
                &format!("Item {i}: \"{lt}\" is not a valid lookup_type."),
            ));
        }
        let metadata = obj.get("metadata").cloned().filter(|_| rr.bulk_echo_metadata);
        resolved.push((ident, metadata));
    }
    let found = resolved
        .iter()
        .filter(|(i, _)| i.resolve(u).is_some_and(|p| p.rr != RrOutcome::Failed))
        .count() as u64;
    if !key.try_charge(found) {
        return Err(credits_exhausted(rr.error_shape));
    }
    if found > 0 {
        core.stats.paid_call(Vendor::RocketReach);
    }
    let mut results = Vec::with_capacity(resolved.len());
    for (ident, meta) in &resolved {
        match ident.resolve(u) {
            Some(p) => {
                let status = if p.rr == RrOutcome::Failed { "failed" } else { "complete" };
                if status == "complete" {
                    core.stats.paid(format!("rocketreach:bulk:{}", ident.canonical()));
                }
                results.push(profile(u, p, status, true, &profile_list, meta.as_ref()));
            }
            None => results.push(json!({"id": null, "status": "failed", "detail": "Could not find a profile matching this request.", "query": ident.canonical(), "profile_list": profile_list, "metadata": meta})),
        }
    }
    send_webhook(&core, &hook, body_bytes(&Value::Array(results)), hook.delay_ms, rid);
    Ok(json_resp(
        StatusCode::OK,
        &json!({"status": "accepted", "message": "Bulk lookup accepted; results will be delivered to your webhook.", "count": resolved.len(), "profile_list": profile_list, "webhook_id": hook.id}),
    ))
}

async fn account(AxState(core): AxState<Arc<Core>>, req: Request) -> Response {
    let key = key_of(&req);
    let cfg = core.config();
    let rr = &cfg.rocketreach;
    let charged = key.charged.load(Ordering::Relaxed);
    let (allocated, remaining) = if key.unlimited() {
        (json!("inf"), json!("inf"))
    } else {
        (json!(key.balance() as u64 + charged), json!(key.balance()))
    };
    let credit_usage =
        json!([{"credit_type": "standard_lookup", "allocated": allocated, "used": charged, "remaining": remaining}]);
    let mut rate_limits = Vec::new();
    for (action, limiter) in &key.limiters {
        let names: Vec<&str> = if *action == "*" {
            rr.rate_limit.iter().map(|w| duration_name(w.per_ms)).collect()
        } else {
            plan_windows(rr, action)
                .iter()
                .map(|w| PLAN_WINDOW_NAMES[PLAN_WINDOWS_MS.iter().position(|m| *m == w.per_ms).unwrap_or(0)])
                .collect()
        };
        for ((limit, _, used), name) in limiter.peek().into_iter().zip(names) {
            let action_name = match *action {
                "*" => "all",
                "lookup" => "person_lookup",
                "search" => "person_search",
                "company_search" => "company_search",
                other => other,
            };
            rate_limits.push(json!({"action": action_name, "duration": name, "limit": limit, "used": used, "remaining": limit.saturating_sub(used)}));
        }
    }
    let calls = key.calls.load(Ordering::Relaxed);
    json_resp(
        StatusCode::OK,
        &json!({
            "id": 1,
            "first_name": "Sandbox",
            "last_name": "User",
            "email": "sandbox@leadpipe.test",
            "state": "registered",
            "credit_usage": credit_usage,
            "rate_limits": rate_limits,
            "lookup_credit_balance": if key.unlimited() { json!("inf") } else { json!(key.balance()) },
            "plan": {"id": 221, "name": rr.plan.name(), "lookup_limit": rr.plan.quotas("lookup").map(|q| q[3])},
            "lifetime_credits_spent": charged,
            "api_key": key.key,
            "api_key_domain": "*",
            "daily_api_num_calls": calls,
            "daily_api_limit": 0,
            "lifetime_api_num_calls": calls,
        }),
    )
}

fn duration_name(ms: u64) -> &'static str {
    match ms {
        1_000 => "second",
        60_000 => "minute",
        3_600_000 => "hour",
        86_400_000 => "day",
        _ => "custom",
    }
}

/// Rotates the key of this request: the new key keeps its balance and counters.
async fn account_key(AxState(core): AxState<Arc<Core>>, req: Request) -> Reply {
    let key = key_of(&req);
    let body = body_as_json(req).await?;
    let Some(given) = body.get("api_key").and_then(value_str) else {
        return Err(field_error("api_key", "This field is required."));
    };
    if given != key.key {
        return Err(field_error("api_key", "Does not match the key of this request."));
    }
    let n = core.sims.rocketreach.seq.fetch_add(1, Ordering::Relaxed);
    let new_key = format!(
        "rr_{:016x}{:016x}",
        hash3(core.seed(), &given, n),
        hash3(core.seed(), "rotate", n)
    );
    let cfg = core.config();
    if !core.sims.rocketreach.keys.rotate(&given, &new_key, |k| make_key(k, &cfg.rocketreach)) {
        return Err(field_error("api_key", "Unknown key."));
    }
    let mut c = (*cfg).clone();
    for k in c.rocketreach.api_keys.iter_mut() {
        if *k == given {
            *k = new_key.clone();
        }
    }
    *write_lock(&core.config) = Arc::new(c);
    Ok(json_resp(StatusCode::OK, &json!({"api_key": new_key})))
}

/// Facet values as lowercase strings (a string or a list of strings).
fn facet_values(v: &Value) -> Vec<String> {
    match v {
        Value::Array(a) => a.iter().filter_map(value_str).map(|s| s.to_lowercase()).collect(),
        other => value_str(other).map(|s| vec![s.to_lowercase()]).unwrap_or_default(),
    }
}

fn person_facet(u: &Universe, p: &Person, facet: &str) -> Option<Vec<String>> {
    let c = u.company_of(p);
    Some(match facet {
        "name" => vec![p.name.to_lowercase()],
        "current_employer" | "company_name" => vec![c.name.to_lowercase(), c.domain.clone()],
        "current_title" | "title" => vec![p.title.to_lowercase()],
        "company_domain" | "domain" => vec![c.domain.clone()],
        "geo" | "location" => vec![p.city.to_lowercase(), p.state.to_lowercase(), p.country.to_lowercase()],
        "email" => vec![p.work_email.clone()],
        "link" | "linkedin_url" => p.linkedin_url.iter().map(|l| l.to_lowercase()).collect(),
        "company_industry" | "industry" => vec![c.industry.to_lowercase()],
        "department" => vec![p.department.to_lowercase()],
        "management_levels" | "seniority" => vec![p.title_level.to_lowercase()],
        "skills" => p.skills.iter().map(|s| s.to_lowercase()).collect(),
        "id" => vec![p.id.to_string()],
        "keyword" => vec![
            p.name.to_lowercase(),
            p.title.to_lowercase(),
            c.name.to_lowercase(),
            c.industry.to_lowercase(),
        ],
        _ => return None,
    })
}

fn matches(have: &[String], want: &[String]) -> bool {
    want.iter().any(|w| have.iter().any(|h| h.contains(w.as_str())))
}

struct SearchReq {
    start: usize,
    page_size: usize,
    query: serde_json::Map<String, Value>,
}

fn search_params(body: &Value) -> Result<SearchReq, Response> {
    let num = |k: &str, default: u64| -> Result<u64, Response> {
        match body.get(k) {
            None | Some(Value::Null) => Ok(default),
            Some(v) => value_str(v)
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| field_error(k, "A valid integer is required.")),
        }
    };
    let start = num("start", 1)?;
    if !(1..=10_000).contains(&start) {
        return Err(field_error("start", "Ensure this value is between 1 and 10000."));
    }
    let page_size = num("page_size", 10)?;
    if !(1..=100).contains(&page_size) {
        return Err(field_error("page_size", "Ensure this value is between 1 and 100."));
    }
    if let Some(o) = body.get("order_by").and_then(Value::as_str)
        && !["relevance", "popularity", "score"].contains(&o)
    {
        return Err(field_error("order_by", &format!("\"{o}\" is not a valid choice.")));
    }
    let query = match body.get("query") {
        Some(Value::Object(q)) => q.clone(),
        None | Some(Value::Null) => return Err(field_error("query", "This field is required.")),
        Some(_) => return Err(field_error("query", "Expected a dictionary of facets.")),
    };
    Ok(SearchReq {
        start: start as usize,
        page_size: page_size as usize,
        query,
    })
}

fn run_search<'u>(u: &'u Universe, q: &serde_json::Map<String, Value>) -> Result<Vec<&'u Person>, Response> {
    let mut include = Vec::new();
    let mut exclude = Vec::new();
    for (k, v) in q {
        let (facet, neg) = match k.strip_prefix("exclude_") {
            Some(f) => (f, true),
            None => (k.as_str(), false),
        };
        if person_facet(u, &u.people[0], facet).is_none() {
            return Err(field_error("query", &format!("Unknown facet \"{k}\".")));
        }
        let vals = facet_values(v);
        if vals.is_empty() {
            continue;
        }
        if neg {
            exclude.push((facet.to_string(), vals));
        } else {
            include.push((facet.to_string(), vals));
        }
    }
    Ok(u.people
        .iter()
        .filter(|p| p.rr != RrOutcome::NotFound)
        .filter(|p| {
            include
                .iter()
                .all(|(f, w)| matches(&person_facet(u, p, f).unwrap_or_default(), w))
        })
        .filter(|p| {
            !exclude
                .iter()
                .any(|(f, w)| matches(&person_facet(u, p, f).unwrap_or_default(), w))
        })
        .collect())
}

fn mask_email(e: &str) -> String {
    match e.split_once('@') {
        Some((l, d)) => format!("{}***@{d}", &l[..1.min(l.len())]),
        None => "***".into(),
    }
}

fn summary(u: &Universe, p: &Person) -> Value {
    let c = u.company_of(p);
    let mut personal = Vec::new();
    if let Some(pe) = &p.personal_email {
        personal.push(pe.rsplit('@').next().unwrap_or("").to_string());
    }
    let phones: Vec<Value> = [&p.phone, &p.mobile]
        .into_iter()
        .flatten()
        .map(|ph| json!({"number": format!("{}XXXX", &ph.number[..ph.number.len() - 4]), "is_premium": ph.kind == "mobile"}))
        .collect();
    let mut m = person_head(p, c, "complete");
    m.extend(into_object(json!({
        "links": p.linkedin_url.as_ref().map(|l| json!({"linkedin": l})).unwrap_or(json!({})),
        "teaser": {
            "emails": [c.domain],
            "professional_emails": [c.domain],
            "personal_emails": personal,
            "phones": phones,
            "preview": [mask_email(&p.work_email)],
            "is_premium_phone_available": p.mobile.is_some(),
        },
    })));
    Value::Object(m)
}

/// `{"start","next","total"}`: `next` is the start of the next page, or null.
fn pagination(start: usize, page_size: usize, total: usize) -> Value {
    let next = if start - 1 + page_size < total {
        json!(start + page_size)
    } else {
        Value::Null
    };
    json!({"start": start, "next": next, "total": total})
}

/// One page of people matching a search body: (summaries, pagination block).
fn person_search(core: &Core, body: &Value) -> Result<(Vec<Value>, Value), Response> {
    let sr = search_params(body)?;
    let u = core.universe();
    let hits = run_search(u, &sr.query)?;
    let page: Vec<Value> = hits
        .iter()
        .skip(sr.start - 1)
        .take(sr.page_size)
        .map(|p| summary(u, p))
        .collect();
    Ok((page, pagination(sr.start, sr.page_size, hits.len())))
}

/// OAS shape: 201 + array of summaries.
async fn person_search_oas(AxState(core): AxState<Arc<Core>>, req: Request) -> Reply {
    let body = body_as_json(req).await?;
    let (page, _) = person_search(&core, &body)?;
    Ok(json_resp(StatusCode::CREATED, &Value::Array(page)))
}

/// SDK shape: `{"profiles":[...],"pagination":{"start","next","total"}}`.
async fn person_search_sdk(AxState(core): AxState<Arc<Core>>, req: Request) -> Reply {
    let body = body_as_json(req).await?;
    sdk_search_answer(&core, &body)
}

fn sdk_search_answer(core: &Core, body: &Value) -> Reply {
    let (page, pagination) = person_search(core, body)?;
    Ok(json_resp(
        StatusCode::CREATED,
        &json!({"profiles": page, "pagination": pagination}),
    ))
}

/// Legacy v1 search: facets as query parameters.
async fn person_search_v1(AxState(core): AxState<Arc<Core>>, RawQuery(q): RawQuery) -> Reply {
    let params = Params::parse(q.as_deref());
    let mut query = serde_json::Map::new();
    let mut body = serde_json::Map::new();
    for (k, v) in &params.0 {
        match k.as_str() {
            "api_key" => {}
            "start" | "page_size" | "order_by" => {
                body.insert(k.clone(), json!(v));
            }
            facet => {
                let e = query.entry(facet.to_string()).or_insert_with(|| json!([]));
                if let Some(a) = e.as_array_mut() {
                    a.push(json!(v));
                }
            }
        }
    }
    body.insert("query".into(), Value::Object(query));
    sdk_search_answer(&core, &Value::Object(body))
}

/// By the first of `id`, `domain`, `linkedin_url`, `ticker`, `name`: the paid
/// request's canonical form and the company, if any.
fn company_query<'u>(u: &'u Universe, params: &Params) -> Result<(String, Option<&'u Company>), Response> {
    Ok(if let Some(id) = params.get_nonblank("id") {
        let n = id
            .parse::<u64>()
            .map_err(|_| field_error("id", "A valid integer is required."))?;
        (format!("id={n}"), u.company_by_id(n))
    } else if let Some(d) = params.get_nonblank("domain") {
        (format!("domain={}", normalize_domain(d)), u.company_by_domain(d))
    } else if let Some(l) = params.get_nonblank("linkedin_url") {
        (
            format!("linkedin_url={}", normalize_linkedin(l)),
            u.company_by_linkedin(l),
        )
    } else if let Some(t) = params.get_nonblank("ticker") {
        (format!("ticker={}", t.to_ascii_uppercase()), u.company_by_ticker(t))
    } else if let Some(n) = params.get_nonblank("name") {
        (format!("name={}", normalize_employer(n)), u.company_by_name(n))
    } else {
        return Err(bad_request(
            "Must specify one of: domain, id, name, linkedin_url, ticker.",
        ));
    })
}

async fn company_lookup(AxState(core): AxState<Arc<Core>>, req: Request) -> Reply {
    let key = key_of(&req);
    let params = Params::parse(req.uri().query());
    let u = core.universe();
    let cfg = core.config();
    let shape = cfg.rocketreach.error_shape;
    let (canon, hit) = company_query(u, &params)?;
    let Some(c) = hit else {
        return Err(shaped_error(
            shape,
            StatusCode::NOT_FOUND,
            "Company not found.",
            "not_found",
        ));
    };
    if !key.try_charge(1) {
        return Err(credits_exhausted(shape));
    }
    core.stats.paid(format!("rocketreach:company:{canon}"));
    core.stats.paid_call(Vendor::RocketReach);
    Ok(json_resp(StatusCode::OK, &company_json(c)))
}

fn company_facet(c: &Company, facet: &str) -> Vec<String> {
    match facet {
        "name" => vec![c.name.to_lowercase()],
        "domain" => vec![c.domain.clone()],
        "industry" => vec![c.industry.to_lowercase()],
        "ticker" => c.ticker.iter().map(|t| t.to_lowercase()).collect(),
        "location" | "geo" => vec![c.city.to_lowercase(), c.state.to_lowercase(), c.country.to_lowercase()],
        _ => vec![c.name.to_lowercase(), c.domain.clone(), c.industry.to_lowercase()],
    }
}

async fn search_company(AxState(core): AxState<Arc<Core>>, req: Request) -> Reply {
    let body = body_as_json(req).await?;
    let sr = search_params(&body)?;
    let u = core.universe();
    let mut filters = Vec::new();
    for (k, v) in &sr.query {
        let vals = facet_values(v);
        if vals.is_empty() {
            continue;
        }
        match k.as_str() {
            "name" | "domain" | "industry" | "location" | "geo" | "keyword" | "ticker" => {
                filters.push((k.clone(), vals))
            }
            other => return Err(field_error("query", &format!("Unknown facet \"{other}\"."))),
        }
    }
    let hits: Vec<&Company> = u
        .companies
        .iter()
        .filter(|c| filters.iter().all(|(f, w)| matches(&company_facet(c, f), w)))
        .collect();
    let page: Vec<Value> = hits
        .iter()
        .skip(sr.start - 1)
        .take(sr.page_size)
        .map(|c| json!({"id": c.id, "name": c.name, "domain": c.domain, "industry": c.industry, "num_employees": c.employee_count, "city": c.city, "region": c.state, "country_code": c.country_code, "ticker_symbol": c.ticker}))
        .collect();
    Ok(json_resp(
        StatusCode::OK,
        &json!({"companies": page, "pagination": pagination(sr.start, sr.page_size, hits.len())}),
    ))
}
