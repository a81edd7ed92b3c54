//! graph8 Developer API simulator (`docs/contracts.md`, graph8): the CRM.
//!
//! Routes under `/api/v1`: contacts (`GET/POST /contacts`, `GET/PATCH/DELETE
//! /contacts/{id}`, `PUT /contacts/assert`, `PUT /contacts/assert/batch`,
//! `GET /contacts/columns`, `POST /contacts/columns/create`), companies
//! (`GET /companies`, `GET/PATCH/DELETE /companies/{id}`,
//! `GET /companies/{id}/contacts`, `PUT /companies/assert`, columns), lists
//! (`GET/POST /lists`, `DELETE /lists/{id}`, `GET/POST/DELETE /lists/{id}/contacts`).
//!
//! Auth `Authorization: Bearer <key>` (`g8_live_`/`g8_test_` prefixes stripped
//! before comparing), optional `X-Org-Id` guard (403 on mismatch). One org-wide
//! limiter (50/s and 1,000/min) with `X-RateLimit-*` headers on every
//! authenticated answer and `Retry-After` on 429. Pagination by `page`/`limit`
//! or `cursor` = base64url(`o:<offset>`), no padding.
//!
//! Seeded data: list 1 "Prospects" (type contacts, `prospects_size` universe
//! people in universe order) and list 2 "Do not contact" (type suppressions,
//! the universe people flagged `suppressed`, at most `suppressions_size`), and
//! list 3 "Enriched" (type contacts, empty: where enriched contacts are upserted).
//!
//! Contacts, companies and lists are deleted softly (see [`Record`]); errors
//! are `{"detail": "…"}` or, for validation, pydantic-v1 lists (422).
//!
//! Why one long file: graph8's contacts, companies and lists share one store,
//! one org-wide limiter and one set of answer helpers; split by route, each
//! part would reach into the others' state.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::{MatchedPath, Path, Request, State as AxState};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

pub(crate) mod config;
mod sim;

pub(crate) use config::Graph8Config as Config;
use config::{Graph8Config, WrongListType};

use super::limits::{Keyring, Limiter, retry_after_secs};
use super::universe::Universe;
use super::util::{
    BodyError, Params, Reply, b64url, b64url_decode, header_str, into_object, lock, normalize_domain,
    normalize_linkedin, read_lock, strip_bearer,
};
use super::{Core, Vendor};

const CONTACT_FIELDS: &[&str] = &[
    "first_name",
    "last_name",
    "work_email",
    "personal_emails",
    "direct_phone",
    "mobile_phone",
    "job_title",
    "job_department",
    "seniority_level",
    "linkedin_url",
    "city",
    "state",
    "country",
    "twitter_url",
    "facebook_url",
    "about",
];
const CONTACT_LIST_FIELDS: &[&str] = &[
    "first_name",
    "last_name",
    "work_email",
    "direct_phone",
    "mobile_phone",
    "job_title",
    "job_department",
    "seniority_level",
    "linkedin_url",
    "city",
    "state",
    "country",
];
const COMPANY_LIST_FIELDS: &[&str] = &[
    "name",
    "description",
    "domain",
    "website",
    "industry",
    "employee_count",
    "revenue",
    "founded_year",
    "city",
    "state",
    "country",
    "linkedin_url",
    "linkedin_followers",
    "logo_url",
];
const LIST_TYPES: &[&str] = &["contacts", "companies", "suppressions", "deals", "leads"];
const SEED_TIME: &str = "2026-01-15T09:30:00Z";

#[derive(Serialize, Deserialize)]
struct Contact {
    fields: Map<String, Value>,
    company_id: Option<u64>,
    custom: Map<String, Value>,
    deleted: bool,
    created_at: String,
    updated_at: String,
}

impl Contact {
    fn new(fields: Map<String, Value>, company_id: Option<u64>, at: &str) -> Self {
        Self {
            fields,
            company_id,
            custom: Map::new(),
            deleted: false,
            created_at: at.into(),
            updated_at: at.into(),
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Company {
    fields: Map<String, Value>,
    deleted: bool,
    created_at: String,
    updated_at: String,
}

impl Company {
    fn new(fields: Map<String, Value>, at: &str) -> Self {
        Self {
            fields,
            deleted: false,
            created_at: at.into(),
            updated_at: at.into(),
        }
    }
}

#[derive(Serialize, Deserialize)]
struct List {
    title: String,
    kind: String,
    members: Vec<u64>,
    deleted: bool,
    created_at: String,
    updated_at: String,
}

impl List {
    fn new(title: &str, kind: &str, members: Vec<u64>, at: &str) -> Self {
        Self {
            title: title.into(),
            kind: kind.into(),
            members,
            deleted: false,
            created_at: at.into(),
            updated_at: at.into(),
        }
    }
}

/// Contacts, companies and lists are deleted softly: a deleted record keeps
/// its id (ids are never reused) but answers as missing everywhere.
trait Record {
    /// The 404 detail when the record is missing or deleted.
    const NOT_FOUND: &'static str;
    fn deleted(&self) -> bool;
    fn mark_deleted(&mut self);
}

impl Record for Contact {
    const NOT_FOUND: &'static str = "Contact not found";
    fn deleted(&self) -> bool {
        self.deleted
    }
    fn mark_deleted(&mut self) {
        self.deleted = true;
    }
}

impl Record for Company {
    const NOT_FOUND: &'static str = "Company not found";
    fn deleted(&self) -> bool {
        self.deleted
    }
    fn mark_deleted(&mut self) {
        self.deleted = true;
    }
}

impl Record for List {
    const NOT_FOUND: &'static str = "List not found";
    fn deleted(&self) -> bool {
        self.deleted
    }
    fn mark_deleted(&mut self) {
        self.deleted = true;
    }
}

fn live<T: Record>(records: &BTreeMap<u64, T>, id: u64) -> Option<&T> {
    records.get(&id).filter(|r| !r.deleted())
}

/// The live record, or its 404.
fn found<T: Record>(records: &BTreeMap<u64, T>, id: u64) -> Result<&T, Response> {
    live(records, id).ok_or_else(|| error(StatusCode::NOT_FOUND, T::NOT_FOUND))
}

fn found_mut<T: Record>(records: &mut BTreeMap<u64, T>, id: u64) -> Result<&mut T, Response> {
    records
        .get_mut(&id)
        .filter(|r| !r.deleted())
        .ok_or_else(|| error(StatusCode::NOT_FOUND, T::NOT_FOUND))
}

/// Ids of the live records that `keep` accepts, in id order.
fn live_ids<T: Record>(records: &BTreeMap<u64, T>, keep: impl Fn(&T) -> bool) -> Vec<u64> {
    records
        .iter()
        .filter(|(_, r)| !r.deleted() && keep(r))
        .map(|(id, _)| *id)
        .collect()
}

/// The first live record (in id order) that `keep` accepts.
fn find_live<T: Record>(records: &BTreeMap<u64, T>, keep: impl Fn(&T) -> bool) -> Option<u64> {
    records.iter().find(|(_, r)| !r.deleted() && keep(r)).map(|(id, _)| *id)
}

/// `DELETE …/{id}`: `{"deleted":true}`, or 404 when missing or already deleted.
fn soft_delete<T: Record>(records: &mut BTreeMap<u64, T>, id: u64) -> Reply {
    found_mut(records, id)?.mark_deleted();
    ok(json!({"deleted": true}))
}

#[derive(Clone, Serialize, Deserialize)]
struct Column {
    id: u64,
    title: String,
    name: String,
    data_type: String,
    is_global: bool,
    list_id: Option<u64>,
}

impl Column {
    fn global(id: u64, title: &str, name: &str, data_type: &str) -> Self {
        Self {
            id,
            title: title.into(),
            name: name.into(),
            data_type: data_type.into(),
            is_global: true,
            list_id: None,
        }
    }

    fn json(&self) -> Value {
        json!({"id": self.id, "title": self.title, "name": self.name, "data_type": self.data_type, "is_global": self.is_global})
    }
}

#[derive(Default, Serialize, Deserialize)]
struct Store {
    contacts: BTreeMap<u64, Contact>,
    companies: BTreeMap<u64, Company>,
    lists: BTreeMap<u64, List>,
    contact_columns: Vec<Column>,
    company_columns: Vec<Column>,
    next_contact: u64,
    next_company: u64,
    next_list: u64,
    next_column: u64,
    /// Lowercased work email → ids of the contacts that carried it (stale
    /// entries are checked away on lookup), so upserts need not scan every contact.
    emails: HashMap<String, Vec<u64>>,
}

impl Store {
    /// Remembers that contact `id` now carries the work email in `fields`, if any.
    fn index_email(&mut self, id: u64, fields: &Map<String, Value>) {
        if let Some(e) = str_field(fields, "work_email") {
            let ids = self.emails.entry(e.to_ascii_lowercase()).or_default();
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
    }

    /// The first live contact (in id order) whose work email is `email` (case-insensitive).
    fn contact_by_email(&self, email: &str) -> Option<u64> {
        self.emails
            .get(&email.to_ascii_lowercase())?
            .iter()
            .copied()
            .filter(|id| {
                live(&self.contacts, *id)
                    .is_some_and(|c| str_field(&c.fields, "work_email").is_some_and(|x| x.eq_ignore_ascii_case(email)))
            })
            .min()
    }
}

pub(crate) struct State {
    pub(crate) keys: Keyring,
    org_limiter: RwLock<Option<Arc<Limiter>>>,
    store: Mutex<Store>,
}

/// Path prefix of the base URL.
pub(crate) const BASE_PATH: &str = "/api/v1";

impl State {
    fn store(&self) -> MutexGuard<'_, Store> {
        lock(&self.store)
    }
}

fn now_iso() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    rfc3339(secs)
}

/// RFC 3339 (what the API uses) from seconds since the epoch.
fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil-from-days (Howard Hinnant).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

// ---------- seeded data ----------

fn seed_company(st: &mut Store, u: &Universe, cidx: u32) -> u64 {
    let c = &u.companies[cidx as usize];
    st.companies.entry(c.id).or_insert_with(|| {
        let fields = into_object(json!({
            "name": c.name, "description": format!("{} is a {} company.", c.name, c.industry.to_lowercase()),
            "domain": c.domain, "website": c.website, "industry": c.industry,
            "employee_count": c.employee_count.to_string(), "revenue": c.revenue_usd.to_string(),
            "founded_year": c.founded_year, "city": c.city, "state": c.state, "country": c.country,
            "linkedin_url": c.linkedin_url, "linkedin_followers": c.linkedin_followers.to_string(),
            "logo_url": format!("https://logo.graph8.test/{}.png", c.domain), "phone": c.phone,
            "address": c.street, "zip": c.zipcode, "industry_group": c.industry,
            "facebook_url": null, "twitter_url": null, "crunchbase_url": null,
        }));
        Company::new(fields, SEED_TIME)
    });
    c.id
}

fn seed_contact(st: &mut Store, u: &Universe, pidx: u32, by_person: &mut HashMap<u32, u64>) -> u64 {
    if let Some(id) = by_person.get(&pidx) {
        return *id;
    }
    let p = &u.people[pidx as usize];
    let company_id = seed_company(st, u, p.company);
    st.next_contact += 1;
    let id = st.next_contact;
    let fields = into_object(json!({
        "first_name": p.first_name, "last_name": p.last_name, "work_email": p.work_email,
        "personal_emails": p.personal_email.iter().collect::<Vec<_>>(),
        "direct_phone": p.phone.as_ref().map(|x| x.number.clone()), "mobile_phone": p.mobile.as_ref().map(|x| x.number.clone()),
        "job_title": p.title, "job_department": p.department, "seniority_level": p.title_level,
        "linkedin_url": p.linkedin_url, "city": p.city, "state": p.state, "country": p.country,
        "twitter_url": p.twitter_url, "facebook_url": null, "about": null,
    }));
    st.index_email(id, &fields);
    st.contacts
        .insert(id, Contact::new(fields, Some(company_id), SEED_TIME));
    by_person.insert(pidx, id);
    id
}

fn seed_store(u: &Universe, cfg: &Graph8Config) -> Store {
    let mut st = Store {
        next_company: 900_000,
        ..Store::default()
    };
    let mut by_person = HashMap::new();
    let prospects: Vec<u64> = (0..cfg.prospects_size.min(u.people.len() as u32))
        .map(|i| seed_contact(&mut st, u, i, &mut by_person))
        .collect();
    let suppressed: Vec<u32> = u
        .people
        .iter()
        .filter(|p| p.suppressed)
        .take(cfg.suppressions_size as usize)
        .map(|p| p.idx)
        .collect();
    let suppressions: Vec<u64> = suppressed
        .into_iter()
        .map(|i| seed_contact(&mut st, u, i, &mut by_person))
        .collect();
    st.lists
        .insert(1, List::new("Prospects", "contacts", prospects, SEED_TIME));
    st.lists
        .insert(2, List::new("Do not contact", "suppressions", suppressions, SEED_TIME));
    st.lists
        .insert(3, List::new("Enriched", "contacts", Vec::new(), SEED_TIME));
    st.next_list = 10;
    st.contact_columns = vec![
        Column::global(1, "Lead Score", "lead_score", "number"),
        Column::global(2, "Email Verdict", "email_verdict", "text"),
    ];
    st.company_columns = vec![Column::global(3, "Tier", "tier", "text")];
    st.next_column = 10;
    st
}

// ---------- answers and errors ----------

pub(crate) fn error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({"detail": message}))).into_response()
}

/// 429 with `Retry-After` in seconds.
pub(crate) fn throttled(secs: u64) -> Response {
    let mut resp = error(StatusCode::TOO_MANY_REQUESTS, "Rate limit exceeded. Please slow down.");
    resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
    resp
}

/// A pydantic-v1 validation error (422); `loc` is e.g. `["body","list_id"]`.
fn invalid(loc: Value, msg: &str, kind: &str) -> Response {
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        axum::Json(json!({"detail": [{"loc": loc, "msg": msg, "type": kind}]})),
    )
        .into_response()
}

fn not_an_integer(loc: Value) -> Response {
    invalid(loc, "value is not a valid integer", "type_error.integer")
}

/// 422 for a missing body field.
fn missing(field: &str) -> Response {
    invalid(json!(["body", field]), "field required", "value_error.missing")
}

fn not_a_dict() -> Response {
    invalid(json!(["body"]), "value is not a valid dict", "type_error.dict")
}

fn bad_cursor() -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({"type": "bad_request", "message": "Invalid cursor"})),
    )
        .into_response()
}

/// 200 `{"data": …}`.
fn ok(data: Value) -> Reply {
    Ok(axum::Json(json!({"data": data})).into_response())
}

/// 201 `{"data": …}`.
fn created(data: Value) -> Reply {
    Ok((StatusCode::CREATED, axum::Json(json!({"data": data}))).into_response())
}

// ---------- routing, auth, limits ----------

pub(crate) fn routes(core: &Arc<Core>) -> Router<Arc<Core>> {
    Router::new()
        .route("/api/v1/contacts", get(list_contacts).post(create_contact))
        .route("/api/v1/contacts/assert", put(assert_contact))
        .route("/api/v1/contacts/assert/batch", put(assert_batch))
        .route("/api/v1/contacts/columns", get(contact_columns))
        .route("/api/v1/contacts/columns/create", post(create_contact_column))
        .route(
            "/api/v1/contacts/{id}",
            get(get_contact).patch(patch_contact).delete(delete_contact),
        )
        .route("/api/v1/companies", get(list_companies))
        .route("/api/v1/companies/assert", put(assert_company))
        .route("/api/v1/companies/columns", get(company_columns))
        .route("/api/v1/companies/columns/create", post(create_company_column))
        .route(
            "/api/v1/companies/{id}",
            get(get_company).patch(patch_company).delete(delete_company),
        )
        .route("/api/v1/companies/{id}/contacts", get(company_contacts))
        .route("/api/v1/lists", get(list_lists).post(create_list))
        .route("/api/v1/lists/{id}", axum::routing::delete(delete_list))
        .route(
            "/api/v1/lists/{id}/contacts",
            get(list_members).post(add_members).delete(remove_members),
        )
        .fallback(|| async { error(StatusCode::NOT_FOUND, "Not Found") })
        .method_not_allowed_fallback(|| async { error(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed") })
        .layer(axum::middleware::from_fn_with_state(core.clone(), guard))
        .layer(axum::extract::DefaultBodyLimit::max(2 * 1024 * 1024))
}

fn key_core(k: &str) -> &str {
    k.strip_prefix("g8_live_")
        .or_else(|| k.strip_prefix("g8_test_"))
        .unwrap_or(k)
}

fn looks_like_jwt(t: &str) -> bool {
    t.starts_with("eyJ") && t.matches('.').count() == 2
}

/// `Authorization: Bearer <key>` naming a configured key, and `X-Org-Id`
/// (when sent) naming the configured org.
fn authenticate(cfg: &Graph8Config, headers: &HeaderMap) -> Result<(), Response> {
    let auth = header_str(headers, header::AUTHORIZATION);
    let token = strip_bearer(auth).map(str::trim).unwrap_or("");
    if token.is_empty() {
        return Err(error(
            StatusCode::UNAUTHORIZED,
            "Missing Authorization header. Use: Authorization: Bearer <api_key>",
        ));
    }
    if looks_like_jwt(token) {
        return Err(error(StatusCode::UNAUTHORIZED, "JWT token provided instead of API key"));
    }
    if !cfg.api_keys.iter().any(|k| key_core(k) == key_core(token)) {
        return Err(error(
            StatusCode::UNAUTHORIZED,
            "API key not associated with an organization",
        ));
    }
    if let Some(org) = headers.get("x-org-id").and_then(|v| v.to_str().ok())
        && !org.trim().eq_ignore_ascii_case(&cfg.org_id)
    {
        return Err(error(
            StatusCode::FORBIDDEN,
            "X-Org-Id does not match the organization of this API key",
        ));
    }
    Ok(())
}

/// `X-RateLimit-*`: the per-second and per-minute limits, what is left in the
/// longest window and when it resets (epoch seconds).
fn set_rate_headers(resp: &mut Response, cfg: &Graph8Config, epoch: u64, remaining: u32, reset_in_s: u64) {
    let per = |ms: u64| cfg.rate_limit.iter().find(|w| w.per_ms == ms).map(|w| w.limit);
    let sec = per(1_000).or(cfg.rate_limit.first().map(|w| w.limit));
    let min = per(60_000).or(cfg.rate_limit.last().map(|w| w.limit));
    let h = resp.headers_mut();
    if let Some(s) = sec {
        h.insert("x-ratelimit-limit-second", HeaderValue::from(s));
    }
    if let Some(m) = min {
        h.insert("x-ratelimit-limit-minute", HeaderValue::from(m));
    }
    h.insert("x-ratelimit-remaining", HeaderValue::from(remaining));
    h.insert("x-ratelimit-reset", HeaderValue::from(epoch + reset_in_s));
}

/// Auth, then the org-wide limiter with its headers on every answer past auth.
async fn guard(AxState(core): AxState<Arc<Core>>, req: Request, next: Next) -> Reply {
    if req.extensions().get::<MatchedPath>().is_none() {
        return Ok(next.run(req).await);
    }
    let cfg = core.config();
    authenticate(&cfg.graph8, req.headers())?;
    let Some(limiter) = read_lock(&core.sims.graph8.org_limiter).clone() else {
        return Ok(next.run(req).await);
    };
    let epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    match limiter.check() {
        Ok(a) => {
            let mut resp = next.run(req).await;
            let reset_in_s = a.reset_in.as_secs_f64().ceil() as u64;
            set_rate_headers(&mut resp, &cfg.graph8, epoch, a.remaining, reset_in_s);
            Ok(resp)
        }
        Err(t) => {
            core.throttled(Vendor::Graph8);
            let secs = retry_after_secs(t.retry_after);
            let mut resp = throttled(secs);
            let last = limiter.peek().last().copied();
            let remaining = last.map(|(l, _, used)| l.saturating_sub(used)).unwrap_or(0);
            set_rate_headers(&mut resp, &cfg.graph8, epoch, remaining, secs);
            Err(resp)
        }
    }
}

// ---------- request parsing ----------

/// The JSON body; `Null` when empty.
async fn json_body(req: Request) -> Result<Value, Response> {
    match super::util::json_body(req, 2 * 1024 * 1024).await {
        Ok(v) => Ok(v.unwrap_or(Value::Null)),
        Err(BodyError::TooLarge) => Err(error(StatusCode::PAYLOAD_TOO_LARGE, "Request body too large")),
        Err(BodyError::Invalid(e)) => Err(invalid(
            json!(["body", e.column()]),
            &format!("Expecting value: {e}"),
            "value_error.jsondecode",
        )),
    }
}

/// A body that must be a JSON object.
async fn json_object(req: Request) -> Result<Map<String, Value>, Response> {
    match json_body(req).await? {
        Value::Object(m) => Ok(m),
        _ => Err(not_a_dict()),
    }
}

/// A PATCH body: a JSON object, or nothing (no fields).
async fn json_patch(req: Request) -> Result<Map<String, Value>, Response> {
    match json_body(req).await? {
        Value::Null => Ok(Map::new()),
        Value::Object(m) => Ok(m),
        _ => Err(not_a_dict()),
    }
}

fn path_id(raw: &str, name: &str) -> Result<u64, Response> {
    raw.parse().map_err(|_| not_an_integer(json!(["path", name])))
}

/// `list_id` in a body: an integer or a string holding one, or absent/null.
fn list_id_field(obj: &Map<String, Value>) -> Result<Option<u64>, Response> {
    let id = match obj.get("list_id") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        Some(_) => None,
    };
    id.map(Some).ok_or_else(|| not_an_integer(json!(["body", "list_id"])))
}

/// The `list_id` the assert endpoints require (400 when absent).
fn required_list_id(obj: &Map<String, Value>) -> Result<u64, Response> {
    list_id_field(obj)?.ok_or_else(|| error(StatusCode::BAD_REQUEST, "list_id is required"))
}

fn required_title(obj: &Map<String, Value>) -> Result<&str, Response> {
    str_field(obj, "title")
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| missing("title"))
}

struct Page {
    offset: usize,
    limit: usize,
}

/// `limit` (1..=200) with `cursor`, `offset` or `page` (from 1), in that order of precedence.
fn page_params(p: &Params, default_limit: usize) -> Result<Page, Response> {
    let int = |k: &str| -> Result<Option<i64>, Response> {
        match p.get_nonblank(k) {
            None => Ok(None),
            Some(v) => v
                .parse::<i64>()
                .map(Some)
                .map_err(|_| not_an_integer(json!(["query", k]))),
        }
    };
    let limit = int("limit")?.unwrap_or(default_limit as i64);
    if limit < 1 {
        return Err(invalid(
            json!(["query", "limit"]),
            "ensure this value is greater than or equal to 1",
            "value_error.number.not_ge",
        ));
    }
    if limit > 200 {
        return Err(invalid(
            json!(["query", "limit"]),
            "ensure this value is less than or equal to 200",
            "value_error.number.not_le",
        ));
    }
    let offset = if let Some(c) = p.get_nonblank("cursor") {
        let off = b64url_decode(c).and_then(|s| s.strip_prefix("o:").and_then(|n| n.parse::<usize>().ok()));
        off.ok_or_else(bad_cursor)?
    } else if let Some(o) = int("offset")? {
        o.max(0) as usize
    } else {
        let page = int("page")?.unwrap_or(1);
        if page < 1 {
            return Err(invalid(
                json!(["query", "page"]),
                "ensure this value is greater than or equal to 1",
                "value_error.number.not_ge",
            ));
        }
        (page as usize - 1) * limit as usize
    };
    Ok(Page {
        offset,
        limit: limit as usize,
    })
}

/// One page of `all`, each shown by `item`, with the pagination block.
fn paginated<T>(all: &[T], pg: &Page, item: impl Fn(&T) -> Value) -> Reply {
    let total = all.len();
    let items: Vec<Value> = all.iter().skip(pg.offset).take(pg.limit).map(item).collect();
    let has_next = pg.offset + items.len() < total;
    let next = has_next.then(|| b64url(&format!("o:{}", pg.offset + pg.limit)));
    Ok(axum::Json(json!({
        "data": items,
        "pagination": {"page": pg.offset / pg.limit + 1, "limit": pg.limit, "total": total, "has_next": has_next, "next_cursor": next},
    }))
    .into_response())
}

fn valid_email(e: &str) -> bool {
    let Some((l, d)) = e.rsplit_once('@') else {
        return false;
    };
    !l.is_empty()
        && !l.contains(char::is_whitespace)
        && d.contains('.')
        && !d.starts_with('.')
        && !d.ends_with('.')
        && !d.contains(char::is_whitespace)
        && !d.contains('@')
}

fn str_field<'a>(m: &'a Map<String, Value>, k: &str) -> Option<&'a str> {
    m.get(k).and_then(Value::as_str)
}

fn param_bool(p: &Params, k: &str) -> bool {
    p.get_nonblank(k)
        .is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "true" | "1" | "yes"))
}

fn contains_ci(have: Option<&str>, want: &str) -> bool {
    have.is_some_and(|h| h.to_lowercase().contains(&want.to_lowercase()))
}

fn eq_ci(have: Option<&str>, want: &str) -> bool {
    have.is_some_and(|h| h.trim().eq_ignore_ascii_case(want.trim()))
}

/// A list filter: true when the query leaves out `param`, or when `have`
/// matches its value.
fn query_matches(p: &Params, param: &str, have: Option<&str>, matches: fn(Option<&str>, &str) -> bool) -> bool {
    p.get_nonblank(param).is_none_or(|want| matches(have, want))
}

// ---------- shown records ----------

/// Copies `names` from `from` (null when absent).
fn copy_fields(into: &mut Map<String, Value>, from: &Map<String, Value>, names: &[&str]) {
    for f in names {
        into.insert((*f).into(), from.get(*f).cloned().unwrap_or(Value::Null));
    }
}

fn with_owner(mut m: Map<String, Value>, custom_fields: Value) -> Value {
    m.insert("owner_id".into(), json!(1));
    m.insert("owner_name".into(), json!("Sandbox Owner"));
    m.insert("custom_fields".into(), custom_fields);
    Value::Object(m)
}

fn contact_item(st: &Store, id: u64, c: &Contact, custom: bool) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), json!(id));
    copy_fields(&mut m, &c.fields, CONTACT_LIST_FIELDS);
    let company_id = c.company_id.filter(|cid| live(&st.companies, *cid).is_some());
    m.insert("company_id".into(), json!(company_id));
    with_owner(
        m,
        if custom {
            Value::Object(c.custom.clone())
        } else {
            Value::Null
        },
    )
}

fn company_brief(id: u64, c: &Company) -> Value {
    let f = |k: &str| c.fields.get(k).cloned().unwrap_or(Value::Null);
    json!({
        "id": id, "name": f("name"), "domain": f("domain"), "website": f("website"), "industry": f("industry"),
        "employee_count": f("employee_count"), "city": f("city"), "state": f("state"), "country": f("country"),
        "linkedin_url": f("linkedin_url"), "logo_url": f("logo_url"),
    })
}

fn company_item(id: u64, c: &Company, custom: bool) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), json!(id));
    copy_fields(&mut m, &c.fields, COMPANY_LIST_FIELDS);
    with_owner(m, if custom { json!({}) } else { Value::Null })
}

// ---------- contacts ----------

async fn list_contacts(AxState(core): AxState<Arc<Core>>, req: Request) -> Reply {
    let p = Params::parse(req.uri().query());
    let pg = page_params(&p, 50)?;
    let list_id = match p.get_nonblank("list_id").map(|v| v.parse::<u64>()) {
        Some(Ok(v)) => Some(v),
        Some(Err(_)) => return Err(not_an_integer(json!(["query", "list_id"]))),
        None => None,
    };
    let company_id = p.get_nonblank("company_id").and_then(|v| v.parse::<u64>().ok());
    let custom = param_bool(&p, "include_custom_fields");
    let st = core.sims.graph8.store();
    let ids: Vec<u64> = match list_id {
        Some(l) => found(&st.lists, l)?.members.clone(),
        None => st.contacts.keys().copied().collect(),
    };
    let filtered: Vec<u64> = ids
        .into_iter()
        .filter(|id| {
            let Some(c) = live(&st.contacts, *id) else {
                return false;
            };
            let field = |k: &str| str_field(&c.fields, k);
            let company = c.company_id.and_then(|cid| st.companies.get(&cid));
            let company_field = |k: &str| company.and_then(|x| str_field(&x.fields, k));
            query_matches(&p, "email", field("work_email"), eq_ci)
                && p.get_nonblank("name")
                    .is_none_or(|n| contains_ci(field("first_name"), n) || contains_ci(field("last_name"), n))
                && query_matches(&p, "job_title", field("job_title"), contains_ci)
                && query_matches(&p, "seniority_level", field("seniority_level"), eq_ci)
                && query_matches(&p, "company_name", company_field("name"), contains_ci)
                && company_id.is_none_or(|v| c.company_id == Some(v))
                && query_matches(&p, "country", field("country"), eq_ci)
                && query_matches(&p, "state", field("state"), eq_ci)
                && query_matches(&p, "city", field("city"), contains_ci)
                && query_matches(&p, "job_department", field("job_department"), contains_ci)
                && query_matches(&p, "industry", company_field("industry"), contains_ci)
        })
        .collect();
    paginated(&filtered, &pg, |id| contact_item(&st, *id, &st.contacts[id], custom))
}

async fn get_contact(AxState(core): AxState<Arc<Core>>, Path(raw): Path<String>) -> Reply {
    let id = path_id(&raw, "contact_id")?;
    let st = core.sims.graph8.store();
    let c = found(&st.contacts, id)?;
    let mut v = contact_item(&st, id, c, true);
    let m = v.as_object_mut().expect("object");
    let first = str_field(&c.fields, "first_name").unwrap_or("");
    let last = str_field(&c.fields, "last_name").unwrap_or("");
    m.insert("full_name".into(), json!(format!("{first} {last}").trim()));
    copy_fields(
        m,
        &c.fields,
        &["personal_emails", "twitter_url", "facebook_url", "about"],
    );
    let confidence = if str_field(&c.fields, "work_email").is_some() {
        0.9
    } else {
        0.4
    };
    m.insert("confidence_score".into(), json!(confidence));
    let company = c
        .company_id
        .and_then(|cid| live(&st.companies, cid).map(|x| company_brief(cid, x)));
    m.insert("company".into(), company.unwrap_or(Value::Null));
    m.insert("meta_data".into(), json!({}));
    m.insert("created_at".into(), json!(c.created_at));
    m.insert("updated_at".into(), json!(c.updated_at));
    ok(v)
}

/// A contact field that failed validation, located under `body`.
struct FieldError {
    field: &'static str,
    msg: &'static str,
    kind: &'static str,
}

impl FieldError {
    fn response(self) -> Response {
        invalid(json!(["body", self.field]), self.msg, self.kind)
    }
}

/// Validated contact fields from a body object.
fn contact_fields(obj: &Map<String, Value>) -> Result<Map<String, Value>, FieldError> {
    let mut out = Map::new();
    for f in CONTACT_FIELDS.iter().chain(["company_domain"].iter()) {
        let Some(v) = obj.get(*f) else { continue };
        let fail = |msg, kind| Err(FieldError { field: f, msg, kind });
        let value = match (*f, v) {
            (_, Value::Null) => Value::Null,
            ("personal_emails", Value::Array(a)) => {
                if a.iter().any(|x| !x.is_string()) {
                    return fail("str type expected", "type_error.str");
                }
                v.clone()
            }
            ("personal_emails", _) => return fail("value is not a valid list", "type_error.list"),
            ("work_email", Value::String(s)) => {
                if !valid_email(s.trim()) {
                    return fail("value is not a valid email address", "value_error.email");
                }
                json!(s.trim())
            }
            (_, Value::String(s)) => json!(s),
            (_, Value::Number(n)) => json!(n.to_string()),
            _ => return fail("str type expected", "type_error.str"),
        };
        out.insert((*f).into(), value);
    }
    Ok(out)
}

/// Company by domain, created when missing.
fn company_for_domain(st: &mut Store, domain: &str) -> Option<u64> {
    let d = normalize_domain(domain);
    if d.is_empty() {
        return None;
    }
    if let Some(id) = find_live(&st.companies, |c| str_field(&c.fields, "domain") == Some(d.as_str())) {
        return Some(id);
    }
    let mut fields = Map::new();
    fields.insert("name".into(), json!(d.split('.').next().unwrap_or(&d)));
    fields.insert("domain".into(), json!(d));
    fields.insert("website".into(), json!(format!("https://{d}")));
    Some(insert_company(st, fields))
}

fn insert_company(st: &mut Store, fields: Map<String, Value>) -> u64 {
    st.next_company += 1;
    let id = st.next_company;
    st.companies.insert(id, Company::new(fields, &now_iso()));
    id
}

/// Takes `company_domain` out of the fields and finds (or creates) its company.
fn company_of_fields(st: &mut Store, fields: &mut Map<String, Value>) -> Option<u64> {
    fields
        .remove("company_domain")
        .and_then(|d| d.as_str().map(str::to_string))
        .and_then(|d| company_for_domain(st, &d))
}

fn apply_contact(st: &mut Store, id: u64, mut fields: Map<String, Value>) {
    let company = company_of_fields(st, &mut fields);
    let now = now_iso();
    st.index_email(id, &fields);
    if let Some(c) = st.contacts.get_mut(&id) {
        c.fields.extend(fields);
        if company.is_some() {
            c.company_id = company;
        }
        c.updated_at = now;
    }
}

fn insert_contact(st: &mut Store, mut fields: Map<String, Value>) -> u64 {
    let company = company_of_fields(st, &mut fields);
    st.next_contact += 1;
    let id = st.next_contact;
    st.index_email(id, &fields);
    st.contacts.insert(id, Contact::new(fields, company, &now_iso()));
    id
}

fn add_member(st: &mut Store, list: u64, id: u64) -> bool {
    match st.lists.get_mut(&list) {
        Some(l) if !l.members.contains(&id) => {
            l.members.push(id);
            true
        }
        _ => false,
    }
}

async fn create_contact(AxState(core): AxState<Arc<Core>>, req: Request) -> Reply {
    let obj = json_object(req).await?;
    let Some(list_id) = list_id_field(&obj)? else {
        return Err(if core.config().graph8.missing_list_id_status == 422 {
            missing("list_id")
        } else {
            error(StatusCode::BAD_REQUEST, "list_id is required when creating contacts")
        });
    };
    let fields = contact_fields(&obj).map_err(FieldError::response)?;
    let wrong_type = core.config().graph8.wrong_list_type;
    let mut st = core.sims.graph8.store();
    let joins = contact_list(&st, list_id, wrong_type)?;
    let id = insert_contact(&mut st, fields);
    if joins {
        add_member(&mut st, list_id, id);
    }
    created(json!({"status": "ok", "count": 1, "validation_errors": []}))
}

async fn patch_contact(AxState(core): AxState<Arc<Core>>, Path(raw): Path<String>, req: Request) -> Reply {
    let id = path_id(&raw, "contact_id")?;
    let obj = json_patch(req).await?;
    let fields = contact_fields(&obj).map_err(FieldError::response)?;
    let mut st = core.sims.graph8.store();
    found(&st.contacts, id)?;
    if fields.is_empty() {
        return Err(error(StatusCode::BAD_REQUEST, "No fields to update"));
    }
    apply_contact(&mut st, id, fields);
    ok(json!({"updated": 1}))
}

async fn delete_contact(AxState(core): AxState<Arc<Core>>, Path(raw): Path<String>) -> Reply {
    let id = path_id(&raw, "contact_id")?;
    soft_delete(&mut core.sims.graph8.store().contacts, id)
}

/// Upsert: match on work_email first, then linkedin_url.
/// A list contacts are written into: whether they join it (they do in a
/// `contacts` list), or the refusal. Into a list of another type, graph8 keeps
/// the contacts but not their membership (`wrong_list_type = "drop"`) or
/// refuses with 400 (`"reject"`): the contract leaves it open.
fn contact_list(st: &Store, list_id: u64, wrong_type: WrongListType) -> Result<bool, Response> {
    let list = found(&st.lists, list_id)?;
    match (list.kind.as_str(), wrong_type) {
        ("contacts", _) => Ok(true),
        (_, WrongListType::Drop) => Ok(false),
        (kind, WrongListType::Reject) => Err(error(
            StatusCode::BAD_REQUEST,
            &format!("List {list_id} is a {kind} list, not a contacts list"),
        )),
    }
}

/// Upsert: match on work_email first, then linkedin_url; joins `list_id` when `joins`.
fn upsert_contact(st: &mut Store, list_id: u64, joins: bool, fields: Map<String, Value>) -> &'static str {
    let email = str_field(&fields, "work_email").map(|e| e.to_ascii_lowercase());
    let li = str_field(&fields, "linkedin_url").map(normalize_linkedin);
    let by_email = email.as_ref().and_then(|e| st.contact_by_email(e));
    let found = by_email.or_else(|| {
        li.as_ref().and_then(|l| {
            find_live(&st.contacts, |c| {
                str_field(&c.fields, "linkedin_url").is_some_and(|x| normalize_linkedin(x) == *l)
            })
        })
    });
    let (id, action) = match found {
        Some(id) => {
            apply_contact(st, id, fields);
            (id, "updated")
        }
        None => (insert_contact(st, fields), "created"),
    };
    if joins {
        add_member(st, list_id, id);
    }
    action
}

fn has_identity(f: &Map<String, Value>) -> bool {
    str_field(f, "work_email").is_some_and(|s| !s.is_empty())
        || str_field(f, "linkedin_url").is_some_and(|s| !s.is_empty())
}

async fn assert_contact(AxState(core): AxState<Arc<Core>>, req: Request) -> Reply {
    let obj = json_object(req).await?;
    let list_id = required_list_id(&obj)?;
    let fields = contact_fields(&obj).map_err(FieldError::response)?;
    if !has_identity(&fields) {
        return Err(error(StatusCode::BAD_REQUEST, "work_email or linkedin_url is required"));
    }
    let wrong_type = core.config().graph8.wrong_list_type;
    let mut st = core.sims.graph8.store();
    let joins = contact_list(&st, list_id, wrong_type)?;
    let action = upsert_contact(&mut st, list_id, joins, fields);
    ok(json!({"action": action, "count": 1}))
}

async fn assert_batch(AxState(core): AxState<Arc<Core>>, req: Request) -> Reply {
    let obj = json_object(req).await?;
    let list_id = required_list_id(&obj)?;
    let Some(contacts) = obj.get("contacts").and_then(Value::as_array) else {
        return Err(missing("contacts"));
    };
    if contacts.is_empty() {
        return Err(invalid(
            json!(["body", "contacts"]),
            "ensure this value has at least 1 items",
            "value_error.list.min_items",
        ));
    }
    if contacts.len() > 100 {
        return Err(invalid(
            json!(["body", "contacts"]),
            "ensure this value has at most 100 items",
            "value_error.list.max_items",
        ));
    }
    let wrong_type = core.config().graph8.wrong_list_type;
    let mut st = core.sims.graph8.store();
    let joins = contact_list(&st, list_id, wrong_type)?;
    let (mut created_n, mut updated_n, mut errors) = (0, 0, Vec::new());
    for (i, c) in contacts.iter().enumerate() {
        let Some(o) = c.as_object() else {
            errors.push(json!({"index": i, "loc": ["body", "contacts", i], "msg": "value is not a valid dict", "type": "type_error.dict"}));
            continue;
        };
        let fields = match contact_fields(o) {
            Ok(f) => f,
            Err(e) => {
                errors.push(json!({"index": i, "loc": ["body", "contacts", i, e.field], "msg": e.msg, "type": e.kind, "work_email": o.get("work_email")}));
                continue;
            }
        };
        if !has_identity(&fields) {
            errors.push(json!({"index": i, "loc": ["body", "contacts", i], "msg": "work_email or linkedin_url is required", "type": "value_error.missing"}));
            continue;
        }
        match upsert_contact(&mut st, list_id, joins, fields) {
            "created" => created_n += 1,
            _ => updated_n += 1,
        }
    }
    ok(json!({"total": contacts.len(), "created": created_n, "updated": updated_n, "errors": errors}))
}

// ---------- custom columns ----------

fn columns_for(cols: &[Column], list: Option<u64>) -> Vec<Value> {
    cols.iter()
        .filter(|c| c.is_global || list.is_none() || c.list_id == list)
        .map(Column::json)
        .collect()
}

fn list_id_param(req: &Request) -> Option<u64> {
    Params::parse(req.uri().query())
        .get_nonblank("list_id")
        .and_then(|v| v.parse().ok())
}

async fn contact_columns(AxState(core): AxState<Arc<Core>>, req: Request) -> Reply {
    let list = list_id_param(&req);
    ok(Value::Array(columns_for(&core.sims.graph8.store().contact_columns, list)))
}

/// `companies/columns` answers a bare array, as documented.
async fn company_columns(AxState(core): AxState<Arc<Core>>, req: Request) -> Response {
    let list = list_id_param(&req);
    axum::Json(Value::Array(columns_for(&core.sims.graph8.store().company_columns, list))).into_response()
}

fn slug(s: &str) -> String {
    let mut out = String::new();
    for w in s.split(|c: char| !c.is_ascii_alphanumeric()).filter(|w| !w.is_empty()) {
        if !out.is_empty() {
            out.push('_');
        }
        out.push_str(&w.to_ascii_lowercase());
    }
    out
}

/// Company columns also require `list_id`, `name` and `data_type`.
async fn create_column(core: Arc<Core>, req: Request, companies: bool) -> Reply {
    let obj = json_object(req).await?;
    let title = required_title(&obj)?;
    let list_id = list_id_field(&obj)?;
    let data_type = str_field(&obj, "data_type").unwrap_or("text").to_string();
    if companies {
        for field in ["list_id", "name", "data_type"] {
            if obj.get(field).is_none_or(Value::is_null) {
                return Err(missing(field));
            }
        }
    }
    let name = str_field(&obj, "name")
        .map(str::to_string)
        .unwrap_or_else(|| slug(title));
    let mut st = core.sims.graph8.store();
    if let Some(l) = list_id {
        found(&st.lists, l)?;
    }
    st.next_column += 1;
    let col = Column {
        id: st.next_column,
        title: title.to_string(),
        name,
        data_type,
        is_global: list_id.is_none(),
        list_id,
    };
    let v = col.json();
    if companies {
        st.company_columns.push(col);
    } else {
        st.contact_columns.push(col);
    }
    created(v)
}

async fn create_contact_column(AxState(core): AxState<Arc<Core>>, req: Request) -> Reply {
    create_column(core, req, false).await
}

async fn create_company_column(AxState(core): AxState<Arc<Core>>, req: Request) -> Reply {
    create_column(core, req, true).await
}

// ---------- companies ----------

fn num_of(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// `<field>_min` / `<field>_max` query filters: (field, is_min, bound).
fn range_filters(p: &Params) -> Result<Vec<(&'static str, bool, f64)>, Response> {
    let mut ranges = Vec::new();
    for field in ["employee_count", "revenue", "founded_year", "linkedin_followers"] {
        for (suffix, is_min) in [("_min", true), ("_max", false)] {
            let k = format!("{field}{suffix}");
            if let Some(v) = p.get_nonblank(&k) {
                let n = v.parse::<f64>().map_err(|_| not_an_integer(json!(["query", k])))?;
                ranges.push((field, is_min, n));
            }
        }
    }
    Ok(ranges)
}

async fn list_companies(AxState(core): AxState<Arc<Core>>, req: Request) -> Reply {
    let p = Params::parse(req.uri().query());
    let pg = page_params(&p, 50)?;
    let ranges = range_filters(&p)?;
    let custom = param_bool(&p, "include_custom_fields");
    let st = core.sims.graph8.store();
    let hits = live_ids(&st.companies, |c| {
        let f = &c.fields;
        let field = |k: &str| str_field(f, k);
        p.get_nonblank("domain")
            .is_none_or(|d| field("domain") == Some(normalize_domain(d).as_str()))
            && query_matches(&p, "industry", field("industry"), contains_ci)
            && query_matches(&p, "name", field("name"), contains_ci)
            && query_matches(&p, "description", field("description"), contains_ci)
            && query_matches(&p, "country", field("country"), eq_ci)
            && query_matches(&p, "state", field("state"), eq_ci)
            && query_matches(&p, "city", field("city"), contains_ci)
            && ranges.iter().all(|(field, is_min, n)| {
                num_of(f.get(*field)).is_some_and(|x| if *is_min { x >= *n } else { x <= *n })
            })
    });
    paginated(&hits, &pg, |id| company_item(*id, &st.companies[id], custom))
}

async fn get_company(AxState(core): AxState<Arc<Core>>, Path(raw): Path<String>) -> Reply {
    let id = path_id(&raw, "company_id")?;
    let st = core.sims.graph8.store();
    let c = found(&st.companies, id)?;
    let mut v = company_item(id, c, true);
    let m = v.as_object_mut().expect("object");
    copy_fields(
        m,
        &c.fields,
        &[
            "phone",
            "address",
            "zip",
            "industry_group",
            "facebook_url",
            "twitter_url",
            "crunchbase_url",
        ],
    );
    let count = live_ids(&st.contacts, |x| x.company_id == Some(id)).len();
    m.insert("meta_data".into(), json!({}));
    m.insert("contact_count".into(), json!(count));
    m.insert("created_at".into(), json!(c.created_at));
    m.insert("updated_at".into(), json!(c.updated_at));
    ok(v)
}

async fn company_contacts(AxState(core): AxState<Arc<Core>>, Path(raw): Path<String>, req: Request) -> Reply {
    let id = path_id(&raw, "company_id")?;
    let p = Params::parse(req.uri().query());
    let pg = page_params(&p, 100)?;
    let st = core.sims.graph8.store();
    found(&st.companies, id)?;
    let ids = live_ids(&st.contacts, |c| c.company_id == Some(id));
    paginated(&ids, &pg, |i| contact_item(&st, *i, &st.contacts[i], false))
}

const COMPANY_PATCH_FIELDS: &[&str] = &[
    "name",
    "domain",
    "website",
    "phone",
    "address",
    "city",
    "state",
    "country",
    "zip",
    "industry",
    "employee_count",
    "linkedin_url",
];

/// 422 unless `employee_count` (when present) is a non-negative integer or null.
fn check_employee_count(obj: &Map<String, Value>) -> Result<(), Response> {
    match obj.get("employee_count") {
        Some(ec) if !(ec.is_u64() || ec.is_null()) => Err(not_an_integer(json!(["body", "employee_count"]))),
        _ => Ok(()),
    }
}

/// Stored as a string, like the seeded companies.
fn employee_count_value(v: &Value) -> Value {
    v.as_u64().map(|n| json!(n.to_string())).unwrap_or(Value::Null)
}

async fn patch_company(AxState(core): AxState<Arc<Core>>, Path(raw): Path<String>, req: Request) -> Reply {
    let id = path_id(&raw, "company_id")?;
    let obj = json_patch(req).await?;
    check_employee_count(&obj)?;
    let mut fields = Map::new();
    for f in COMPANY_PATCH_FIELDS {
        let Some(v) = obj.get(*f) else { continue };
        let v = if *f == "employee_count" {
            employee_count_value(v)
        } else {
            v.clone()
        };
        fields.insert((*f).into(), v);
    }
    let mut st = core.sims.graph8.store();
    let c = found_mut(&mut st.companies, id)?;
    if fields.is_empty() {
        return Err(error(StatusCode::BAD_REQUEST, "No fields to update"));
    }
    c.fields.extend(fields);
    c.updated_at = now_iso();
    ok(json!({"updated": 1}))
}

async fn delete_company(AxState(core): AxState<Arc<Core>>, Path(raw): Path<String>) -> Reply {
    let id = path_id(&raw, "company_id")?;
    soft_delete(&mut core.sims.graph8.store().companies, id)
}

/// Upsert: match on domain first, then linkedin_url.
async fn assert_company(AxState(core): AxState<Arc<Core>>, req: Request) -> Reply {
    let obj = json_object(req).await?;
    let list_id = required_list_id(&obj)?;
    let domain = str_field(&obj, "domain")
        .map(normalize_domain)
        .filter(|d| !d.is_empty());
    let li = str_field(&obj, "linkedin_url")
        .map(normalize_linkedin)
        .filter(|l| !l.is_empty());
    if domain.is_none() && li.is_none() {
        return Err(error(StatusCode::BAD_REQUEST, "domain or linkedin_url is required"));
    }
    check_employee_count(&obj)?;
    let mut fields = Map::new();
    for f in [
        "name",
        "industry",
        "city",
        "state",
        "country",
        "website",
        "description",
        "linkedin_url",
    ] {
        if let Some(v) = obj.get(f).filter(|v| !v.is_null()) {
            fields.insert(f.into(), v.clone());
        }
    }
    if let Some(d) = &domain {
        fields.insert("domain".into(), json!(d));
    }
    if let Some(n) = obj.get("employee_count").and_then(Value::as_u64) {
        fields.insert("employee_count".into(), json!(n.to_string()));
    }
    if let Some(r) = obj.get("annual_revenue").filter(|v| !v.is_null()) {
        fields.insert("revenue".into(), json!(num_of(Some(r)).map(|x| (x as u64).to_string())));
    }
    let mut st = core.sims.graph8.store();
    found(&st.lists, list_id)?;
    let by_domain = domain
        .as_deref()
        .and_then(|d| find_live(&st.companies, |c| str_field(&c.fields, "domain") == Some(d)));
    let found = by_domain.or_else(|| {
        li.as_ref().and_then(|l| {
            find_live(&st.companies, |c| {
                str_field(&c.fields, "linkedin_url").map(normalize_linkedin).as_ref() == Some(l)
            })
        })
    });
    let (id, action) = match found {
        Some(id) => {
            let c = st.companies.get_mut(&id).expect("found above");
            c.fields.extend(fields);
            c.updated_at = now_iso();
            (id, "updated")
        }
        None => (insert_company(&mut st, fields), "created"),
    };
    add_member(&mut st, list_id, id);
    ok(json!({"action": action, "count": 1}))
}

// ---------- lists ----------

fn list_json(id: u64, l: &List) -> Value {
    json!({
        "id": id, "title": l.title, "type": l.kind, "source": "graph8", "status": "completed",
        "total": l.members.len(), "is_dynamic": false, "tags": [], "created_at": l.created_at,
        "created_by": "sandbox@leadpipe.test", "updated_at": l.updated_at,
    })
}

async fn list_lists(AxState(core): AxState<Arc<Core>>, req: Request) -> Reply {
    let p = Params::parse(req.uri().query());
    let pg = page_params(&p, 50)?;
    let st = core.sims.graph8.store();
    let ids = live_ids(&st.lists, |_| true);
    paginated(&ids, &pg, |i| list_json(*i, &st.lists[i]))
}

async fn create_list(AxState(core): AxState<Arc<Core>>, req: Request) -> Reply {
    let obj = json_object(req).await?;
    let title = required_title(&obj)?;
    let kind = str_field(&obj, "type").unwrap_or("contacts");
    if !LIST_TYPES.contains(&kind) {
        return Err(error(StatusCode::BAD_REQUEST, "Invalid list type"));
    }
    let mut st = core.sims.graph8.store();
    st.next_list += 1;
    let id = st.next_list;
    st.lists.insert(id, List::new(title, kind, Vec::new(), &now_iso()));
    created(json!({"id": id, "title": title, "type": kind, "status": "completed", "total": 0}))
}

async fn delete_list(AxState(core): AxState<Arc<Core>>, Path(raw): Path<String>) -> Reply {
    let id = path_id(&raw, "list_id")?;
    soft_delete(&mut core.sims.graph8.store().lists, id)
}

/// A list's live members: companies for a `companies` list, contacts otherwise.
async fn list_members(AxState(core): AxState<Arc<Core>>, Path(raw): Path<String>, req: Request) -> Reply {
    let id = path_id(&raw, "list_id")?;
    let p = Params::parse(req.uri().query());
    let pg = page_params(&p, 50)?;
    let custom = param_bool(&p, "include_custom_fields");
    let st = core.sims.graph8.store();
    let l = found(&st.lists, id)?;
    let companies = l.kind == "companies";
    let members: Vec<u64> = l
        .members
        .iter()
        .copied()
        .filter(|m| {
            if companies {
                live(&st.companies, *m).is_some()
            } else {
                live(&st.contacts, *m).is_some()
            }
        })
        .collect();
    paginated(&members, &pg, |m| {
        if companies {
            company_item(*m, &st.companies[m], custom)
        } else {
            contact_item(&st, *m, &st.contacts[m], custom)
        }
    })
}

fn contact_ids(body: &Value) -> Result<Vec<u64>, Response> {
    let Some(a) = body.get("contact_ids").and_then(Value::as_array) else {
        return Err(missing("contact_ids"));
    };
    a.iter()
        .enumerate()
        .map(|(i, v)| {
            v.as_u64()
                .ok_or_else(|| not_an_integer(json!(["body", "contact_ids", i])))
        })
        .collect()
}

async fn add_members(AxState(core): AxState<Arc<Core>>, Path(raw): Path<String>, req: Request) -> Reply {
    let id = path_id(&raw, "list_id")?;
    let ids = contact_ids(&json_body(req).await?)?;
    let mut st = core.sims.graph8.store();
    found(&st.lists, id)?;
    let mut added = 0;
    for c in ids {
        if live(&st.contacts, c).is_some() && add_member(&mut st, id, c) {
            added += 1;
        }
    }
    created(json!({"added": added}))
}

async fn remove_members(AxState(core): AxState<Arc<Core>>, Path(raw): Path<String>, req: Request) -> Reply {
    let id = path_id(&raw, "list_id")?;
    let ids = contact_ids(&json_body(req).await?)?;
    let mut st = core.sims.graph8.store();
    let l = found_mut(&mut st.lists, id)?;
    let before = l.members.len();
    l.members.retain(|m| !ids.contains(m));
    ok(json!({"removed": before - l.members.len()}))
}
