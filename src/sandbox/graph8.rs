//! graph8 Developer API simulator (`reference/seed-002-contacts-api.md`): the CRM.
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
//! the universe people flagged `suppressed`, at most `suppressions_size`).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::{MatchedPath, Path, Request, State as AxState};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde_json::{Map, Value, json};

use super::config::Graph8Config;
use super::limits::{KeyState, Keyring, Limiter, retry_after_secs};
use super::universe::Universe;
use super::util::{Params, b64url, b64url_decode, normalize_domain, normalize_linkedin};
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

struct Contact {
    fields: Map<String, Value>,
    company_id: Option<u64>,
    custom: Map<String, Value>,
    deleted: bool,
    created_at: String,
    updated_at: String,
}

struct Company {
    fields: Map<String, Value>,
    deleted: bool,
    created_at: String,
    updated_at: String,
}

struct List {
    title: String,
    kind: String,
    members: Vec<u64>,
    deleted: bool,
    created_at: String,
    updated_at: String,
}

#[derive(Clone)]
struct Column {
    id: u64,
    title: String,
    name: String,
    data_type: String,
    is_global: bool,
    list_id: Option<u64>,
}

impl Column {
    fn json(&self) -> Value {
        json!({"id": self.id, "title": self.title, "name": self.name, "data_type": self.data_type, "is_global": self.is_global})
    }
}

#[derive(Default)]
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
}

pub(crate) struct State {
    pub(crate) keys: Keyring,
    org_limiter: RwLock<Option<Arc<Limiter>>>,
    store: Mutex<Store>,
}

impl State {
    pub(crate) fn new(u: &Universe, cfg: &Graph8Config) -> Self {
        Self {
            keys: Keyring::new(),
            org_limiter: RwLock::new(None),
            store: Mutex::new(seed_store(u, cfg)),
        }
    }

    pub(crate) fn rebuild_keys(&self, cfg: &Graph8Config, carry: bool) {
        self.keys.rebuild(
            &cfg.api_keys,
            |k| KeyState::new(k, super::config::Credits::Unlimited, Vec::new()),
            carry,
        );
        *self.org_limiter.write().unwrap_or_else(|e| e.into_inner()) = Limiter::new(&cfg.rate_limit, 1.0).map(Arc::new);
    }

    pub(crate) fn reset(&self, u: &Universe, cfg: &Graph8Config) {
        *self.store.lock().unwrap_or_else(|e| e.into_inner()) = seed_store(u, cfg);
    }
}

fn now_iso() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let t = httpdate::fmt_http_date(UNIX_EPOCH + std::time::Duration::from_secs(secs));
    // RFC 3339 is what the API uses; derive it from the civil date.
    rfc3339(secs).unwrap_or(t)
}

fn rfc3339(secs: u64) -> Option<String> {
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
    Some(format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    ))
}

fn seed_company(st: &mut Store, u: &Universe, cidx: u32) -> u64 {
    let c = &u.companies[cidx as usize];
    st.companies.entry(c.id).or_insert_with(|| Company {
        fields: json!({
            "name": c.name, "description": format!("{} is a {} company.", c.name, c.industry.to_lowercase()),
            "domain": c.domain, "website": c.website, "industry": c.industry,
            "employee_count": c.employee_count.to_string(), "revenue": c.revenue_usd.to_string(),
            "founded_year": c.founded_year, "city": c.city, "state": c.state, "country": c.country,
            "linkedin_url": c.linkedin_url, "linkedin_followers": c.linkedin_followers.to_string(),
            "logo_url": format!("https://logo.graph8.test/{}.png", c.domain), "phone": c.phone,
            "address": c.street, "zip": c.zipcode, "industry_group": c.industry,
            "facebook_url": null, "twitter_url": null, "crunchbase_url": null,
        })
        .as_object()
        .cloned()
        .unwrap_or_default(),
        deleted: false,
        created_at: SEED_TIME.into(),
        updated_at: SEED_TIME.into(),
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
    st.contacts.insert(
        id,
        Contact {
            fields: json!({
                "first_name": p.first_name, "last_name": p.last_name, "work_email": p.work_email,
                "personal_emails": p.personal_email.iter().collect::<Vec<_>>(),
                "direct_phone": p.phone.as_ref().map(|x| x.number.clone()), "mobile_phone": p.mobile.as_ref().map(|x| x.number.clone()),
                "job_title": p.title, "job_department": p.department, "seniority_level": p.title_level,
                "linkedin_url": p.linkedin_url, "city": p.city, "state": p.state, "country": p.country,
                "twitter_url": p.twitter_url, "facebook_url": null, "about": null,
            })
            .as_object()
            .cloned()
            .unwrap_or_default(),
            company_id: Some(company_id),
            custom: Map::new(),
            deleted: false,
            created_at: SEED_TIME.into(),
            updated_at: SEED_TIME.into(),
        },
    );
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
    st.lists.insert(
        1,
        List {
            title: "Prospects".into(),
            kind: "contacts".into(),
            members: prospects,
            deleted: false,
            created_at: SEED_TIME.into(),
            updated_at: SEED_TIME.into(),
        },
    );
    st.lists.insert(
        2,
        List {
            title: "Do not contact".into(),
            kind: "suppressions".into(),
            members: suppressions,
            deleted: false,
            created_at: SEED_TIME.into(),
            updated_at: SEED_TIME.into(),
        },
    );
    st.next_list = 10;
    st.contact_columns = vec![
        Column {
            id: 1,
            title: "Lead Score".into(),
            name: "lead_score".into(),
            data_type: "number".into(),
            is_global: true,
            list_id: None,
        },
        Column {
            id: 2,
            title: "Email Verdict".into(),
            name: "email_verdict".into(),
            data_type: "text".into(),
            is_global: true,
            list_id: None,
        },
    ];
    st.company_columns = vec![Column {
        id: 3,
        title: "Tier".into(),
        name: "tier".into(),
        data_type: "text".into(),
        is_global: true,
        list_id: None,
    }];
    st.next_column = 10;
    st
}

// ---------- errors ----------

pub(crate) fn error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({"detail": message}))).into_response()
}

fn detail(status: StatusCode, message: &str) -> Response {
    error(status, message)
}

/// A pydantic-v1 validation error (422).
fn invalid(loc: Vec<Value>, msg: &str, kind: &str) -> Response {
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        axum::Json(json!({"detail": [{"loc": loc, "msg": msg, "type": kind}]})),
    )
        .into_response()
}

fn bad_cursor() -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({"type": "bad_request", "message": "Invalid cursor"})),
    )
        .into_response()
}

fn ok(data: Value) -> Response {
    axum::Json(json!({"data": data})).into_response()
}

fn created(data: Value) -> Response {
    (StatusCode::CREATED, axum::Json(json!({"data": data}))).into_response()
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
        .fallback(|| async { detail(StatusCode::NOT_FOUND, "Not Found") })
        .method_not_allowed_fallback(|| async { detail(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed") })
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

async fn guard(AxState(core): AxState<Arc<Core>>, req: Request, next: Next) -> Response {
    if req.extensions().get::<MatchedPath>().is_none() {
        return next.run(req).await;
    }
    let auth = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .unwrap_or("");
    let token = auth
        .strip_prefix("Bearer ")
        .or_else(|| auth.strip_prefix("bearer "))
        .map(str::trim)
        .unwrap_or("");
    if token.is_empty() {
        return detail(
            StatusCode::UNAUTHORIZED,
            "Missing Authorization header. Use: Authorization: Bearer <api_key>",
        );
    }
    if looks_like_jwt(token) {
        return detail(StatusCode::UNAUTHORIZED, "JWT token provided instead of API key");
    }
    let cfg = core.config();
    let known = cfg.graph8.api_keys.iter().any(|k| key_core(k) == key_core(token));
    if !known {
        return detail(StatusCode::UNAUTHORIZED, "API key not associated with an organization");
    }
    if let Some(org) = req.headers().get("x-org-id").and_then(|v| v.to_str().ok())
        && !org.trim().eq_ignore_ascii_case(&cfg.graph8.org_id)
    {
        return detail(
            StatusCode::FORBIDDEN,
            "X-Org-Id does not match the organization of this API key",
        );
    }
    let limiter = core.g8.org_limiter.read().unwrap_or_else(|e| e.into_inner()).clone();
    let Some(limiter) = limiter else {
        return next.run(req).await;
    };
    let per = |ms: u64| cfg.graph8.rate_limit.iter().find(|w| w.per_ms == ms).map(|w| w.limit);
    let sec = per(1_000).or(cfg.graph8.rate_limit.first().map(|w| w.limit));
    let min = per(60_000).or(cfg.graph8.rate_limit.last().map(|w| w.limit));
    let epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let set_headers = |resp: &mut Response, remaining: u32, reset_in_s: u64| {
        let h = resp.headers_mut();
        if let Some(s) = sec {
            h.insert("x-ratelimit-limit-second", HeaderValue::from(s));
        }
        if let Some(m) = min {
            h.insert("x-ratelimit-limit-minute", HeaderValue::from(m));
        }
        h.insert("x-ratelimit-remaining", HeaderValue::from(remaining));
        h.insert("x-ratelimit-reset", HeaderValue::from(epoch + reset_in_s));
    };
    match limiter.check() {
        Ok(a) => {
            let mut resp = next.run(req).await;
            set_headers(&mut resp, a.remaining, a.reset_in.as_secs_f64().ceil() as u64);
            resp
        }
        Err(t) => {
            core.throttled(Vendor::Graph8);
            let secs = retry_after_secs(t.retry_after);
            let mut resp = detail(StatusCode::TOO_MANY_REQUESTS, "Rate limit exceeded. Please slow down.");
            let last = limiter.peek().last().copied();
            let remaining = last.map(|(l, _, used)| l.saturating_sub(used)).unwrap_or(0);
            set_headers(&mut resp, remaining, secs);
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
            resp
        }
    }
}

// ---------- helpers ----------

async fn json_body(req: Request) -> Result<Value, Response> {
    let bytes = axum::body::to_bytes(req.into_body(), 2 * 1024 * 1024)
        .await
        .map_err(|_| detail(StatusCode::PAYLOAD_TOO_LARGE, "Request body too large"))?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    serde_json::from_slice(&bytes).map_err(|e| {
        invalid(
            vec![json!("body"), json!(e.column())],
            &format!("Expecting value: {e}"),
            "value_error.jsondecode",
        )
    })
}

fn path_id(raw: &str, name: &str) -> Result<u64, Response> {
    raw.parse().map_err(|_| {
        invalid(
            vec![json!("path"), json!(name)],
            "value is not a valid integer",
            "type_error.integer",
        )
    })
}

struct Page {
    offset: usize,
    limit: usize,
}

fn page_params(p: &Params, default_limit: usize) -> Result<Page, Response> {
    let int = |k: &str| -> Result<Option<i64>, Response> {
        match p.get_nonblank(k) {
            None => Ok(None),
            Some(v) => v.parse::<i64>().map(Some).map_err(|_| {
                invalid(
                    vec![json!("query"), json!(k)],
                    "value is not a valid integer",
                    "type_error.integer",
                )
            }),
        }
    };
    let limit = int("limit")?.unwrap_or(default_limit as i64);
    if limit < 1 {
        return Err(invalid(
            vec![json!("query"), json!("limit")],
            "ensure this value is greater than or equal to 1",
            "value_error.number.not_ge",
        ));
    }
    if limit > 200 {
        return Err(invalid(
            vec![json!("query"), json!("limit")],
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
                vec![json!("query"), json!("page")],
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

fn paginated(items: Vec<Value>, total: usize, pg: &Page) -> Response {
    let has_next = pg.offset + items.len() < total;
    let next = has_next.then(|| b64url(&format!("o:{}", pg.offset + pg.limit)));
    axum::Json(json!({
        "data": items,
        "pagination": {"page": pg.offset / pg.limit + 1, "limit": pg.limit, "total": total, "has_next": has_next, "next_cursor": next},
    }))
    .into_response()
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

fn contact_item(st: &Store, id: u64, c: &Contact, custom: bool) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), json!(id));
    for f in CONTACT_LIST_FIELDS {
        m.insert((*f).into(), c.fields.get(*f).cloned().unwrap_or(Value::Null));
    }
    m.insert(
        "company_id".into(),
        json!(
            c.company_id
                .filter(|cid| st.companies.get(cid).is_some_and(|x| !x.deleted))
        ),
    );
    m.insert("owner_id".into(), json!(1));
    m.insert("owner_name".into(), json!("Sandbox Owner"));
    m.insert(
        "custom_fields".into(),
        if custom {
            Value::Object(c.custom.clone())
        } else {
            Value::Null
        },
    );
    Value::Object(m)
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
    for f in COMPANY_LIST_FIELDS {
        m.insert((*f).into(), c.fields.get(*f).cloned().unwrap_or(Value::Null));
    }
    m.insert("owner_id".into(), json!(1));
    m.insert("owner_name".into(), json!("Sandbox Owner"));
    m.insert("custom_fields".into(), if custom { json!({}) } else { Value::Null });
    Value::Object(m)
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

// ---------- contacts ----------

async fn list_contacts(AxState(core): AxState<Arc<Core>>, req: Request) -> Response {
    let p = Params::parse(req.uri().query());
    let pg = match page_params(&p, 50) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let list_id = match p.get_nonblank("list_id").map(|v| v.parse::<u64>()) {
        Some(Ok(v)) => Some(v),
        Some(Err(_)) => {
            return invalid(
                vec![json!("query"), json!("list_id")],
                "value is not a valid integer",
                "type_error.integer",
            );
        }
        None => None,
    };
    let company_id = p.get_nonblank("company_id").and_then(|v| v.parse::<u64>().ok());
    let custom = param_bool(&p, "include_custom_fields");
    let st = core.g8.store.lock().unwrap_or_else(|e| e.into_inner());
    let ids: Box<dyn Iterator<Item = u64>> = match list_id {
        Some(l) => match st.lists.get(&l).filter(|l| !l.deleted) {
            Some(list) => Box::new(list.members.clone().into_iter()),
            None => return detail(StatusCode::NOT_FOUND, "List not found"),
        },
        None => Box::new(st.contacts.keys().copied().collect::<Vec<_>>().into_iter()),
    };
    let filtered: Vec<u64> = ids
        .filter(|id| {
            let Some(c) = st.contacts.get(id).filter(|c| !c.deleted) else {
                return false;
            };
            let f = &c.fields;
            let company = c.company_id.and_then(|cid| st.companies.get(&cid));
            let cf = |k: &str| company.and_then(|x| str_field(&x.fields, k));
            p.get_nonblank("email")
                .is_none_or(|e| eq_ci(str_field(f, "work_email"), e))
                && p.get_nonblank("name").is_none_or(|n| {
                    contains_ci(str_field(f, "first_name"), n) || contains_ci(str_field(f, "last_name"), n)
                })
                && p.get_nonblank("job_title")
                    .is_none_or(|v| contains_ci(str_field(f, "job_title"), v))
                && p.get_nonblank("seniority_level")
                    .is_none_or(|v| eq_ci(str_field(f, "seniority_level"), v))
                && p.get_nonblank("company_name")
                    .is_none_or(|v| contains_ci(cf("name"), v))
                && company_id.is_none_or(|v| c.company_id == Some(v))
                && p.get_nonblank("country")
                    .is_none_or(|v| eq_ci(str_field(f, "country"), v))
                && p.get_nonblank("state").is_none_or(|v| eq_ci(str_field(f, "state"), v))
                && p.get_nonblank("city")
                    .is_none_or(|v| contains_ci(str_field(f, "city"), v))
                && p.get_nonblank("job_department")
                    .is_none_or(|v| contains_ci(str_field(f, "job_department"), v))
                && p.get_nonblank("industry")
                    .is_none_or(|v| contains_ci(cf("industry"), v))
        })
        .collect();
    let total = filtered.len();
    let items = filtered
        .iter()
        .skip(pg.offset)
        .take(pg.limit)
        .map(|id| contact_item(&st, *id, &st.contacts[id], custom))
        .collect();
    paginated(items, total, &pg)
}

async fn get_contact(AxState(core): AxState<Arc<Core>>, Path(raw): Path<String>) -> Response {
    let id = match path_id(&raw, "contact_id") {
        Ok(i) => i,
        Err(r) => return r,
    };
    let st = core.g8.store.lock().unwrap_or_else(|e| e.into_inner());
    let Some(c) = st.contacts.get(&id).filter(|c| !c.deleted) else {
        return detail(StatusCode::NOT_FOUND, "Contact not found");
    };
    let mut v = contact_item(&st, id, c, true);
    let m = v.as_object_mut().expect("object");
    let first = str_field(&c.fields, "first_name").unwrap_or("");
    let last = str_field(&c.fields, "last_name").unwrap_or("");
    m.insert("full_name".into(), json!(format!("{first} {last}").trim()));
    for k in ["personal_emails", "twitter_url", "facebook_url", "about"] {
        m.insert(k.into(), c.fields.get(k).cloned().unwrap_or(Value::Null));
    }
    m.insert(
        "confidence_score".into(),
        json!(if str_field(&c.fields, "work_email").is_some() {
            0.9
        } else {
            0.4
        }),
    );
    let company = c.company_id.and_then(|cid| {
        st.companies
            .get(&cid)
            .filter(|x| !x.deleted)
            .map(|x| company_brief(cid, x))
    });
    m.insert("company".into(), company.unwrap_or(Value::Null));
    m.insert("meta_data".into(), json!({}));
    m.insert("created_at".into(), json!(c.created_at));
    m.insert("updated_at".into(), json!(c.updated_at));
    ok(v)
}

/// Validated contact fields from a body object; `Err` holds (loc field, msg, type).
fn contact_fields(obj: &Map<String, Value>) -> Result<Map<String, Value>, (String, String, String)> {
    let mut out = Map::new();
    for f in CONTACT_FIELDS.iter().chain(["company_domain"].iter()) {
        let Some(v) = obj.get(*f) else { continue };
        match (*f, v) {
            (_, Value::Null) => {
                out.insert((*f).into(), Value::Null);
            }
            ("personal_emails", Value::Array(a)) => {
                if a.iter().any(|x| !x.is_string()) {
                    return Err(((*f).into(), "str type expected".into(), "type_error.str".into()));
                }
                out.insert((*f).into(), v.clone());
            }
            ("personal_emails", _) => {
                return Err((
                    (*f).into(),
                    "value is not a valid list".into(),
                    "type_error.list".into(),
                ));
            }
            ("work_email", Value::String(s)) => {
                if !valid_email(s.trim()) {
                    return Err((
                        (*f).into(),
                        "value is not a valid email address".into(),
                        "value_error.email".into(),
                    ));
                }
                out.insert((*f).into(), json!(s.trim()));
            }
            (_, Value::String(s)) => {
                out.insert((*f).into(), json!(s));
            }
            (_, Value::Number(n)) => {
                out.insert((*f).into(), json!(n.to_string()));
            }
            _ => {
                return Err(((*f).into(), "str type expected".into(), "type_error.str".into()));
            }
        }
    }
    Ok(out)
}

fn list_id_field(obj: &Map<String, Value>) -> Result<Option<u64>, Response> {
    match obj.get("list_id") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n.as_u64().map(Some).ok_or_else(|| {
            invalid(
                vec![json!("body"), json!("list_id")],
                "value is not a valid integer",
                "type_error.integer",
            )
        }),
        Some(Value::String(s)) => s.trim().parse().map(Some).map_err(|_| {
            invalid(
                vec![json!("body"), json!("list_id")],
                "value is not a valid integer",
                "type_error.integer",
            )
        }),
        Some(_) => Err(invalid(
            vec![json!("body"), json!("list_id")],
            "value is not a valid integer",
            "type_error.integer",
        )),
    }
}

fn body_object(v: &Value) -> Result<&Map<String, Value>, Response> {
    v.as_object()
        .ok_or_else(|| invalid(vec![json!("body")], "value is not a valid dict", "type_error.dict"))
}

/// Company by domain, created when missing.
fn company_for_domain(st: &mut Store, domain: &str) -> Option<u64> {
    let d = normalize_domain(domain);
    if d.is_empty() {
        return None;
    }
    if let Some((id, _)) = st
        .companies
        .iter()
        .find(|(_, c)| !c.deleted && str_field(&c.fields, "domain") == Some(d.as_str()))
    {
        return Some(*id);
    }
    st.next_company += 1;
    let id = st.next_company;
    let now = now_iso();
    let mut fields = Map::new();
    fields.insert("name".into(), json!(d.split('.').next().unwrap_or(&d)));
    fields.insert("domain".into(), json!(d));
    fields.insert("website".into(), json!(format!("https://{d}")));
    st.companies.insert(
        id,
        Company {
            fields,
            deleted: false,
            created_at: now.clone(),
            updated_at: now,
        },
    );
    Some(id)
}

fn apply_contact(st: &mut Store, id: u64, mut fields: Map<String, Value>) {
    let company = fields
        .remove("company_domain")
        .and_then(|d| d.as_str().map(str::to_string))
        .and_then(|d| company_for_domain(st, &d));
    let now = now_iso();
    if let Some(c) = st.contacts.get_mut(&id) {
        for (k, v) in fields {
            c.fields.insert(k, v);
        }
        if company.is_some() {
            c.company_id = company;
        }
        c.updated_at = now;
    }
}

fn insert_contact(st: &mut Store, mut fields: Map<String, Value>) -> u64 {
    let company = fields
        .remove("company_domain")
        .and_then(|d| d.as_str().map(str::to_string))
        .and_then(|d| company_for_domain(st, &d));
    st.next_contact += 1;
    let id = st.next_contact;
    let now = now_iso();
    st.contacts.insert(
        id,
        Contact {
            fields,
            company_id: company,
            custom: Map::new(),
            deleted: false,
            created_at: now.clone(),
            updated_at: now,
        },
    );
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

fn live_list(st: &Store, id: u64) -> bool {
    st.lists.get(&id).is_some_and(|l| !l.deleted)
}

async fn create_contact(AxState(core): AxState<Arc<Core>>, req: Request) -> Response {
    let body = match json_body(req).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let obj = match body_object(&body) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let list_id = match list_id_field(obj) {
        Ok(Some(l)) => l,
        Ok(None) => {
            return if core.config().graph8.missing_list_id_status == 422 {
                invalid(
                    vec![json!("body"), json!("list_id")],
                    "field required",
                    "value_error.missing",
                )
            } else {
                detail(StatusCode::BAD_REQUEST, "list_id is required when creating contacts")
            };
        }
        Err(r) => return r,
    };
    let fields = match contact_fields(obj) {
        Ok(f) => f,
        Err((f, m, t)) => return invalid(vec![json!("body"), json!(f)], &m, &t),
    };
    let mut st = core.g8.store.lock().unwrap_or_else(|e| e.into_inner());
    if !live_list(&st, list_id) {
        return detail(StatusCode::NOT_FOUND, "List not found");
    }
    let id = insert_contact(&mut st, fields);
    add_member(&mut st, list_id, id);
    created(json!({"status": "ok", "count": 1, "validation_errors": []}))
}

async fn patch_contact(AxState(core): AxState<Arc<Core>>, Path(raw): Path<String>, req: Request) -> Response {
    let id = match path_id(&raw, "contact_id") {
        Ok(i) => i,
        Err(r) => return r,
    };
    let body = match json_body(req).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let empty = Map::new();
    let obj = if body.is_null() {
        &empty
    } else {
        match body_object(&body) {
            Ok(o) => o,
            Err(r) => return r,
        }
    };
    let fields = match contact_fields(obj) {
        Ok(f) => f,
        Err((f, m, t)) => return invalid(vec![json!("body"), json!(f)], &m, &t),
    };
    let mut st = core.g8.store.lock().unwrap_or_else(|e| e.into_inner());
    if st.contacts.get(&id).is_none_or(|c| c.deleted) {
        return detail(StatusCode::NOT_FOUND, "Contact not found");
    }
    if fields.is_empty() {
        return detail(StatusCode::BAD_REQUEST, "No fields to update");
    }
    apply_contact(&mut st, id, fields);
    ok(json!({"updated": 1}))
}

async fn delete_contact(AxState(core): AxState<Arc<Core>>, Path(raw): Path<String>) -> Response {
    let id = match path_id(&raw, "contact_id") {
        Ok(i) => i,
        Err(r) => return r,
    };
    let mut st = core.g8.store.lock().unwrap_or_else(|e| e.into_inner());
    match st.contacts.get_mut(&id).filter(|c| !c.deleted) {
        Some(c) => {
            c.deleted = true;
            ok(json!({"deleted": true}))
        }
        None => detail(StatusCode::NOT_FOUND, "Contact not found"),
    }
}

/// Upsert: match on work_email first, then linkedin_url.
fn upsert_contact(st: &mut Store, list_id: u64, fields: Map<String, Value>) -> &'static str {
    let email = str_field(&fields, "work_email").map(|e| e.to_ascii_lowercase());
    let li = str_field(&fields, "linkedin_url").map(normalize_linkedin);
    let by_email = email.as_ref().and_then(|e| {
        st.contacts
            .iter()
            .find(|(_, c)| !c.deleted && str_field(&c.fields, "work_email").is_some_and(|x| x.eq_ignore_ascii_case(e)))
            .map(|(id, _)| *id)
    });
    let found = by_email.or_else(|| {
        li.as_ref().and_then(|l| {
            st.contacts
                .iter()
                .find(|(_, c)| {
                    !c.deleted && str_field(&c.fields, "linkedin_url").is_some_and(|x| normalize_linkedin(x) == *l)
                })
                .map(|(id, _)| *id)
        })
    });
    match found {
        Some(id) => {
            apply_contact(st, id, fields);
            add_member(st, list_id, id);
            "updated"
        }
        None => {
            let id = insert_contact(st, fields);
            add_member(st, list_id, id);
            "created"
        }
    }
}

fn has_identity(f: &Map<String, Value>) -> bool {
    str_field(f, "work_email").is_some_and(|s| !s.is_empty())
        || str_field(f, "linkedin_url").is_some_and(|s| !s.is_empty())
}

async fn assert_contact(AxState(core): AxState<Arc<Core>>, req: Request) -> Response {
    let body = match json_body(req).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let obj = match body_object(&body) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let list_id = match list_id_field(obj) {
        Ok(Some(l)) => l,
        Ok(None) => return detail(StatusCode::BAD_REQUEST, "list_id is required"),
        Err(r) => return r,
    };
    let fields = match contact_fields(obj) {
        Ok(f) => f,
        Err((f, m, t)) => return invalid(vec![json!("body"), json!(f)], &m, &t),
    };
    if !has_identity(&fields) {
        return detail(StatusCode::BAD_REQUEST, "work_email or linkedin_url is required");
    }
    let mut st = core.g8.store.lock().unwrap_or_else(|e| e.into_inner());
    if !live_list(&st, list_id) {
        return detail(StatusCode::NOT_FOUND, "List not found");
    }
    let action = upsert_contact(&mut st, list_id, fields);
    ok(json!({"action": action, "count": 1}))
}

async fn assert_batch(AxState(core): AxState<Arc<Core>>, req: Request) -> Response {
    let body = match json_body(req).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let obj = match body_object(&body) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let list_id = match list_id_field(obj) {
        Ok(Some(l)) => l,
        Ok(None) => return detail(StatusCode::BAD_REQUEST, "list_id is required"),
        Err(r) => return r,
    };
    let Some(contacts) = obj.get("contacts").and_then(Value::as_array) else {
        return invalid(
            vec![json!("body"), json!("contacts")],
            "field required",
            "value_error.missing",
        );
    };
    if contacts.is_empty() {
        return invalid(
            vec![json!("body"), json!("contacts")],
            "ensure this value has at least 1 items",
            "value_error.list.min_items",
        );
    }
    if contacts.len() > 100 {
        return invalid(
            vec![json!("body"), json!("contacts")],
            "ensure this value has at most 100 items",
            "value_error.list.max_items",
        );
    }
    let mut st = core.g8.store.lock().unwrap_or_else(|e| e.into_inner());
    if !live_list(&st, list_id) {
        return detail(StatusCode::NOT_FOUND, "List not found");
    }
    let (mut created_n, mut updated_n, mut errors) = (0, 0, Vec::new());
    for (i, c) in contacts.iter().enumerate() {
        let Some(o) = c.as_object() else {
            errors.push(json!({"index": i, "loc": ["body", "contacts", i], "msg": "value is not a valid dict", "type": "type_error.dict"}));
            continue;
        };
        let fields = match contact_fields(o) {
            Ok(f) => f,
            Err((f, m, t)) => {
                errors.push(json!({"index": i, "loc": ["body", "contacts", i, f], "msg": m, "type": t, "work_email": o.get("work_email")}));
                continue;
            }
        };
        if !has_identity(&fields) {
            errors.push(json!({"index": i, "loc": ["body", "contacts", i], "msg": "work_email or linkedin_url is required", "type": "value_error.missing"}));
            continue;
        }
        match upsert_contact(&mut st, list_id, fields) {
            "created" => created_n += 1,
            _ => updated_n += 1,
        }
    }
    ok(json!({"total": contacts.len(), "created": created_n, "updated": updated_n, "errors": errors}))
}

fn columns_for(cols: &[Column], list: Option<u64>) -> Vec<Value> {
    cols.iter()
        .filter(|c| c.is_global || list.is_none() || c.list_id == list)
        .map(Column::json)
        .collect()
}

async fn contact_columns(AxState(core): AxState<Arc<Core>>, req: Request) -> Response {
    let p = Params::parse(req.uri().query());
    let list = p.get_nonblank("list_id").and_then(|v| v.parse().ok());
    let st = core.g8.store.lock().unwrap_or_else(|e| e.into_inner());
    ok(Value::Array(columns_for(&st.contact_columns, list)))
}

/// `companies/columns` answers a bare array, as documented.
async fn company_columns(AxState(core): AxState<Arc<Core>>, req: Request) -> Response {
    let p = Params::parse(req.uri().query());
    let list = p.get_nonblank("list_id").and_then(|v| v.parse().ok());
    let st = core.g8.store.lock().unwrap_or_else(|e| e.into_inner());
    axum::Json(Value::Array(columns_for(&st.company_columns, list))).into_response()
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

async fn create_column(core: Arc<Core>, req: Request, companies: bool) -> Response {
    let body = match json_body(req).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let obj = match body_object(&body) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let Some(title) = str_field(obj, "title").filter(|t| !t.trim().is_empty()) else {
        return invalid(
            vec![json!("body"), json!("title")],
            "field required",
            "value_error.missing",
        );
    };
    let list_id = match list_id_field(obj) {
        Ok(l) => l,
        Err(r) => return r,
    };
    let data_type = str_field(obj, "data_type").unwrap_or("text").to_string();
    if companies {
        for req_field in ["list_id", "name", "data_type"] {
            if obj.get(req_field).is_none_or(Value::is_null) {
                return invalid(
                    vec![json!("body"), json!(req_field)],
                    "field required",
                    "value_error.missing",
                );
            }
        }
    }
    let name = str_field(obj, "name")
        .map(str::to_string)
        .unwrap_or_else(|| slug(title));
    let mut st = core.g8.store.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(l) = list_id
        && !live_list(&st, l)
    {
        return detail(StatusCode::NOT_FOUND, "List not found");
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

async fn create_contact_column(AxState(core): AxState<Arc<Core>>, req: Request) -> Response {
    create_column(core, req, false).await
}

async fn create_company_column(AxState(core): AxState<Arc<Core>>, req: Request) -> Response {
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

async fn list_companies(AxState(core): AxState<Arc<Core>>, req: Request) -> Response {
    let p = Params::parse(req.uri().query());
    let pg = match page_params(&p, 50) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let mut ranges = Vec::new();
    for (field, key) in [
        ("employee_count", "employee_count"),
        ("revenue", "revenue"),
        ("founded_year", "founded_year"),
        ("linkedin_followers", "linkedin_followers"),
    ] {
        for (suffix, is_min) in [("_min", true), ("_max", false)] {
            let k = format!("{key}{suffix}");
            if let Some(v) = p.get_nonblank(&k) {
                match v.parse::<f64>() {
                    Ok(n) => ranges.push((field, is_min, n)),
                    Err(_) => {
                        return invalid(
                            vec![json!("query"), json!(k)],
                            "value is not a valid integer",
                            "type_error.integer",
                        );
                    }
                }
            }
        }
    }
    let custom = param_bool(&p, "include_custom_fields");
    let st = core.g8.store.lock().unwrap_or_else(|e| e.into_inner());
    let hits: Vec<(u64, &Company)> = st
        .companies
        .iter()
        .filter(|(_, c)| !c.deleted)
        .filter(|(_, c)| {
            let f = &c.fields;
            p.get_nonblank("domain")
                .is_none_or(|d| str_field(f, "domain") == Some(normalize_domain(d).as_str()))
                && p.get_nonblank("industry")
                    .is_none_or(|v| contains_ci(str_field(f, "industry"), v))
                && p.get_nonblank("name")
                    .is_none_or(|v| contains_ci(str_field(f, "name"), v))
                && p.get_nonblank("description")
                    .is_none_or(|v| contains_ci(str_field(f, "description"), v))
                && p.get_nonblank("country")
                    .is_none_or(|v| eq_ci(str_field(f, "country"), v))
                && p.get_nonblank("state").is_none_or(|v| eq_ci(str_field(f, "state"), v))
                && p.get_nonblank("city")
                    .is_none_or(|v| contains_ci(str_field(f, "city"), v))
                && ranges.iter().all(|(field, is_min, n)| {
                    num_of(f.get(*field)).is_some_and(|x| if *is_min { x >= *n } else { x <= *n })
                })
        })
        .map(|(id, c)| (*id, c))
        .collect();
    let total = hits.len();
    let items = hits
        .iter()
        .skip(pg.offset)
        .take(pg.limit)
        .map(|(id, c)| company_item(*id, c, custom))
        .collect();
    paginated(items, total, &pg)
}

async fn get_company(AxState(core): AxState<Arc<Core>>, Path(raw): Path<String>) -> Response {
    let id = match path_id(&raw, "company_id") {
        Ok(i) => i,
        Err(r) => return r,
    };
    let st = core.g8.store.lock().unwrap_or_else(|e| e.into_inner());
    let Some(c) = st.companies.get(&id).filter(|c| !c.deleted) else {
        return detail(StatusCode::NOT_FOUND, "Company not found");
    };
    let mut v = company_item(id, c, true);
    let m = v.as_object_mut().expect("object");
    for k in [
        "phone",
        "address",
        "zip",
        "industry_group",
        "facebook_url",
        "twitter_url",
        "crunchbase_url",
    ] {
        m.insert(k.into(), c.fields.get(k).cloned().unwrap_or(Value::Null));
    }
    let count = st
        .contacts
        .values()
        .filter(|x| !x.deleted && x.company_id == Some(id))
        .count();
    m.insert("meta_data".into(), json!({}));
    m.insert("contact_count".into(), json!(count));
    m.insert("created_at".into(), json!(c.created_at));
    m.insert("updated_at".into(), json!(c.updated_at));
    ok(v)
}

async fn company_contacts(AxState(core): AxState<Arc<Core>>, Path(raw): Path<String>, req: Request) -> Response {
    let id = match path_id(&raw, "company_id") {
        Ok(i) => i,
        Err(r) => return r,
    };
    let p = Params::parse(req.uri().query());
    let pg = match page_params(&p, 100) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let st = core.g8.store.lock().unwrap_or_else(|e| e.into_inner());
    if st.companies.get(&id).is_none_or(|c| c.deleted) {
        return detail(StatusCode::NOT_FOUND, "Company not found");
    }
    let ids: Vec<u64> = st
        .contacts
        .iter()
        .filter(|(_, c)| !c.deleted && c.company_id == Some(id))
        .map(|(i, _)| *i)
        .collect();
    let total = ids.len();
    let items = ids
        .iter()
        .skip(pg.offset)
        .take(pg.limit)
        .map(|i| contact_item(&st, *i, &st.contacts[i], false))
        .collect();
    paginated(items, total, &pg)
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

async fn patch_company(AxState(core): AxState<Arc<Core>>, Path(raw): Path<String>, req: Request) -> Response {
    let id = match path_id(&raw, "company_id") {
        Ok(i) => i,
        Err(r) => return r,
    };
    let body = match json_body(req).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let empty = Map::new();
    let obj = if body.is_null() {
        &empty
    } else {
        match body_object(&body) {
            Ok(o) => o,
            Err(r) => return r,
        }
    };
    let mut fields = Map::new();
    for f in COMPANY_PATCH_FIELDS {
        let Some(v) = obj.get(*f) else { continue };
        if *f == "employee_count" && !(v.is_u64() || v.is_null()) {
            return invalid(
                vec![json!("body"), json!(f)],
                "value is not a valid integer",
                "type_error.integer",
            );
        }
        let v = if *f == "employee_count" {
            v.as_u64().map(|n| json!(n.to_string())).unwrap_or(Value::Null)
        } else {
            v.clone()
        };
        fields.insert((*f).into(), v);
    }
    let mut st = core.g8.store.lock().unwrap_or_else(|e| e.into_inner());
    let Some(c) = st.companies.get_mut(&id).filter(|c| !c.deleted) else {
        return detail(StatusCode::NOT_FOUND, "Company not found");
    };
    if fields.is_empty() {
        return detail(StatusCode::BAD_REQUEST, "No fields to update");
    }
    for (k, v) in fields {
        c.fields.insert(k, v);
    }
    c.updated_at = now_iso();
    ok(json!({"updated": 1}))
}

async fn delete_company(AxState(core): AxState<Arc<Core>>, Path(raw): Path<String>) -> Response {
    let id = match path_id(&raw, "company_id") {
        Ok(i) => i,
        Err(r) => return r,
    };
    let mut st = core.g8.store.lock().unwrap_or_else(|e| e.into_inner());
    match st.companies.get_mut(&id).filter(|c| !c.deleted) {
        Some(c) => {
            c.deleted = true;
            ok(json!({"deleted": true}))
        }
        None => detail(StatusCode::NOT_FOUND, "Company not found"),
    }
}

async fn assert_company(AxState(core): AxState<Arc<Core>>, req: Request) -> Response {
    let body = match json_body(req).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let obj = match body_object(&body) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let list_id = match list_id_field(obj) {
        Ok(Some(l)) => l,
        Ok(None) => return detail(StatusCode::BAD_REQUEST, "list_id is required"),
        Err(r) => return r,
    };
    let domain = str_field(obj, "domain").map(normalize_domain).filter(|d| !d.is_empty());
    let li = str_field(obj, "linkedin_url")
        .map(normalize_linkedin)
        .filter(|l| !l.is_empty());
    if domain.is_none() && li.is_none() {
        return detail(StatusCode::BAD_REQUEST, "domain or linkedin_url is required");
    }
    if let Some(ec) = obj.get("employee_count")
        && !(ec.is_u64() || ec.is_null())
    {
        return invalid(
            vec![json!("body"), json!("employee_count")],
            "value is not a valid integer",
            "type_error.integer",
        );
    }
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
    let mut st = core.g8.store.lock().unwrap_or_else(|e| e.into_inner());
    if !live_list(&st, list_id) {
        return detail(StatusCode::NOT_FOUND, "List not found");
    }
    let found = st
        .companies
        .iter()
        .find(|(_, c)| {
            !c.deleted
                && domain
                    .as_deref()
                    .is_some_and(|d| str_field(&c.fields, "domain") == Some(d))
        })
        .or_else(|| {
            st.companies.iter().find(|(_, c)| {
                !c.deleted
                    && li.as_ref().is_some_and(|l| {
                        str_field(&c.fields, "linkedin_url").map(normalize_linkedin).as_ref() == Some(l)
                    })
            })
        })
        .map(|(id, _)| *id);
    let now = now_iso();
    let (id, action) = match found {
        Some(id) => {
            let c = st.companies.get_mut(&id).expect("found");
            for (k, v) in fields {
                c.fields.insert(k, v);
            }
            c.updated_at = now;
            (id, "updated")
        }
        None => {
            st.next_company += 1;
            let id = st.next_company;
            st.companies.insert(
                id,
                Company {
                    fields,
                    deleted: false,
                    created_at: now.clone(),
                    updated_at: now,
                },
            );
            (id, "created")
        }
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

async fn list_lists(AxState(core): AxState<Arc<Core>>, req: Request) -> Response {
    let p = Params::parse(req.uri().query());
    let pg = match page_params(&p, 50) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let st = core.g8.store.lock().unwrap_or_else(|e| e.into_inner());
    let live: Vec<(u64, &List)> = st
        .lists
        .iter()
        .filter(|(_, l)| !l.deleted)
        .map(|(i, l)| (*i, l))
        .collect();
    let total = live.len();
    let items = live
        .iter()
        .skip(pg.offset)
        .take(pg.limit)
        .map(|(i, l)| list_json(*i, l))
        .collect();
    paginated(items, total, &pg)
}

async fn create_list(AxState(core): AxState<Arc<Core>>, req: Request) -> Response {
    let body = match json_body(req).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let obj = match body_object(&body) {
        Ok(o) => o,
        Err(r) => return r,
    };
    let Some(title) = str_field(obj, "title").filter(|t| !t.trim().is_empty()) else {
        return invalid(
            vec![json!("body"), json!("title")],
            "field required",
            "value_error.missing",
        );
    };
    let kind = str_field(obj, "type").unwrap_or("contacts");
    if !LIST_TYPES.contains(&kind) {
        return detail(StatusCode::BAD_REQUEST, "Invalid list type");
    }
    let mut st = core.g8.store.lock().unwrap_or_else(|e| e.into_inner());
    st.next_list += 1;
    let id = st.next_list;
    let now = now_iso();
    st.lists.insert(
        id,
        List {
            title: title.to_string(),
            kind: kind.to_string(),
            members: Vec::new(),
            deleted: false,
            created_at: now.clone(),
            updated_at: now,
        },
    );
    created(json!({"id": id, "title": title, "type": kind, "status": "completed", "total": 0}))
}

async fn delete_list(AxState(core): AxState<Arc<Core>>, Path(raw): Path<String>) -> Response {
    let id = match path_id(&raw, "list_id") {
        Ok(i) => i,
        Err(r) => return r,
    };
    let mut st = core.g8.store.lock().unwrap_or_else(|e| e.into_inner());
    match st.lists.get_mut(&id).filter(|l| !l.deleted) {
        Some(l) => {
            l.deleted = true;
            ok(json!({"deleted": true}))
        }
        None => detail(StatusCode::NOT_FOUND, "List not found"),
    }
}

async fn list_members(AxState(core): AxState<Arc<Core>>, Path(raw): Path<String>, req: Request) -> Response {
    let id = match path_id(&raw, "list_id") {
        Ok(i) => i,
        Err(r) => return r,
    };
    let p = Params::parse(req.uri().query());
    let pg = match page_params(&p, 50) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let custom = param_bool(&p, "include_custom_fields");
    let st = core.g8.store.lock().unwrap_or_else(|e| e.into_inner());
    let Some(l) = st.lists.get(&id).filter(|l| !l.deleted) else {
        return detail(StatusCode::NOT_FOUND, "List not found");
    };
    let live: Vec<u64> = if l.kind == "companies" {
        l.members
            .iter()
            .copied()
            .filter(|m| st.companies.get(m).is_some_and(|c| !c.deleted))
            .collect()
    } else {
        l.members
            .iter()
            .copied()
            .filter(|m| st.contacts.get(m).is_some_and(|c| !c.deleted))
            .collect()
    };
    let total = live.len();
    let items = live
        .iter()
        .skip(pg.offset)
        .take(pg.limit)
        .map(|m| {
            if l.kind == "companies" {
                company_item(*m, &st.companies[m], custom)
            } else {
                contact_item(&st, *m, &st.contacts[m], custom)
            }
        })
        .collect();
    paginated(items, total, &pg)
}

fn contact_ids(body: &Value) -> Result<Vec<u64>, Response> {
    let Some(a) = body.get("contact_ids").and_then(Value::as_array) else {
        return Err(invalid(
            vec![json!("body"), json!("contact_ids")],
            "field required",
            "value_error.missing",
        ));
    };
    a.iter()
        .enumerate()
        .map(|(i, v)| {
            v.as_u64().ok_or_else(|| {
                invalid(
                    vec![json!("body"), json!("contact_ids"), json!(i)],
                    "value is not a valid integer",
                    "type_error.integer",
                )
            })
        })
        .collect()
}

async fn add_members(AxState(core): AxState<Arc<Core>>, Path(raw): Path<String>, req: Request) -> Response {
    let id = match path_id(&raw, "list_id") {
        Ok(i) => i,
        Err(r) => return r,
    };
    let body = match json_body(req).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let ids = match contact_ids(&body) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let mut st = core.g8.store.lock().unwrap_or_else(|e| e.into_inner());
    if !live_list(&st, id) {
        return detail(StatusCode::NOT_FOUND, "List not found");
    }
    let mut added = 0;
    for c in ids {
        if st.contacts.get(&c).is_some_and(|x| !x.deleted) && add_member(&mut st, id, c) {
            added += 1;
        }
    }
    created(json!({"added": added}))
}

async fn remove_members(AxState(core): AxState<Arc<Core>>, Path(raw): Path<String>, req: Request) -> Response {
    let id = match path_id(&raw, "list_id") {
        Ok(i) => i,
        Err(r) => return r,
    };
    let body = match json_body(req).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let ids = match contact_ids(&body) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let mut st = core.g8.store.lock().unwrap_or_else(|e| e.into_inner());
    let Some(l) = st.lists.get_mut(&id).filter(|l| !l.deleted) else {
        return detail(StatusCode::NOT_FOUND, "List not found");
    };
    let before = l.members.len();
    l.members.retain(|m| !ids.contains(m));
    ok(json!({"removed": before - l.members.len()}))
}
