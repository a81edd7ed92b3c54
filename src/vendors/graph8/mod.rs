//! graph8 (the CRM) client: list pages by page number or by cursor, batch
//! upserts of at most 100 contacts (`docs/contracts/graph8.md`); its error
//! bodies are decoded into clear messages by [`classify`].
//!
//! Every call goes through the shared HTTP layer ([`VendorHttp`]): its rate
//! windows (50/s and 1,000/min by default), its 429 pause honouring
//! `Retry-After`, its retries. graph8 also says on every answer what is left
//! of its minute window (`X-RateLimit-Remaining`, `X-RateLimit-Reset`): when
//! nothing is left, the vendor is paused until the reset, so an organisation
//! whose limit is lower than configured (or shared with other clients) draws
//! no 429 for it. graph8 calls cost no credits, so nothing here goes through
//! the paid-call ledger.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::Method;
use reqwest::header::HeaderMap;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::http::{Auth, CallError, Contract, Response, VendorHttp};

mod classify;
pub use classify::{ApiError, FieldProblem, classify};

/// What leadpipe relies on of graph8's contract (its calls are free: no balance).
pub static CONTRACT: Contract = Contract {
    name: "graph8",
    base_url: "https://be.graph8.com/api/v1",
    auth: Auth::bearer(),
    bearer_option: false,
    rate_limits: &[(50, 1), (1_000, 60)],
    plans: &[],
    default_plan: "",
    timeout: Duration::from_secs(30),
    latency: Duration::from_secs(1),
    paths: &[
        ("contacts", "/contacts"),
        ("contact", "/contacts/{id}"),
        ("contacts_assert", "/contacts/assert"),
        ("contacts_assert_batch", "/contacts/assert/batch"),
        ("lists", "/lists"),
        ("list_contacts", "/lists/{id}/contacts"),
    ],
    classify,
    balance: None,
    charges: false,
    webhook: None,
};

/// Most contacts `PUT /contacts/assert/batch` takes in one call.
pub const MAX_BATCH: usize = 100;
/// Largest page `limit` the API accepts.
pub const MAX_PAGE: usize = 200;

/// How a list is walked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Paging {
    /// Follow `next_cursor` until it is null (or `has_next` is false).
    #[default]
    Cursor,
    /// Ask `page=1,2,…` until `has_next` is false.
    Page,
}

/// One contact as list endpoints show it; unknown fields are ignored.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Contact {
    pub id: u64,
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub last_name: Option<String>,
    #[serde(default)]
    pub work_email: Option<String>,
    #[serde(default)]
    pub direct_phone: Option<String>,
    #[serde(default)]
    pub mobile_phone: Option<String>,
    #[serde(default)]
    pub job_title: Option<String>,
    #[serde(default)]
    pub job_department: Option<String>,
    #[serde(default)]
    pub seniority_level: Option<String>,
    #[serde(default)]
    pub linkedin_url: Option<String>,
    #[serde(default)]
    pub city: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub country: Option<String>,
    #[serde(default, deserialize_with = "id_or_string")]
    pub company_id: Option<String>,
}

/// `company_id` as a number or a string.
fn id_or_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::String(s)) => Some(s),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    })
}

/// The `pagination` block of list answers.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Pagination {
    #[serde(default)]
    pub total: Option<u64>,
    #[serde(default)]
    pub has_next: bool,
    #[serde(default)]
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize)]
struct PageBody {
    data: Vec<Contact>,
    #[serde(default)]
    pagination: Pagination,
}

/// A list as `GET /lists` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ListInfo {
    pub id: u64,
    #[serde(default)]
    pub title: String,
    /// `contacts`, `companies`, `suppressions`, `deals` or `leads`.
    #[serde(rename = "type", default)]
    pub kind: String,
}

/// One page of a list.
#[derive(Debug)]
pub struct Page {
    pub contacts: Vec<Contact>,
    pub pagination: Pagination,
}

/// Where the next page is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    Page(u32),
    Cursor(String),
    Done,
}

impl Next {
    pub fn first(paging: Paging) -> Next {
        match paging {
            Paging::Page => Next::Page(1),
            Paging::Cursor => Next::Cursor(String::new()),
        }
    }
}

/// A per-contact error of a batch upsert: which contact, which field, why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactError {
    /// Index of the contact in the batch.
    pub index: usize,
    /// The field graph8 named (`work_email`), if any.
    pub field: Option<String>,
    pub message: String,
}

/// What a batch upsert did.
#[derive(Debug, Clone, Default)]
pub struct BatchOutcome {
    pub created: u64,
    pub updated: u64,
    pub errors: Vec<ContactError>,
}

/// The graph8 client of one run: a thin typed layer over the vendor's HTTP handle.
#[derive(Clone, Debug)]
pub struct Graph8 {
    http: VendorHttp,
}

impl Graph8 {
    pub fn new(http: VendorHttp) -> Graph8 {
        Graph8 { http }
    }

    /// The client over the run's shared graph8 handle, which the run builds
    /// whenever its source, a stage or a sink calls graph8.
    pub fn of_run(vendors: &indexmap::IndexMap<super::Vendor, VendorHttp>) -> Graph8 {
        let http = vendors.get(&super::Vendor::Graph8).cloned();
        Graph8::new(http.expect("the run builds a graph8 client when its source, a stage or a sink calls graph8"))
    }

    pub fn http(&self) -> &VendorHttp {
        &self.http
    }

    /// One page of a list's contacts.
    pub async fn list_page(&self, list_id: u64, next: &Next, limit: usize) -> Result<Page, CallError> {
        let path = self.http.path("list_contacts").replace("{id}", &list_id.to_string());
        let limit = limit.clamp(1, MAX_PAGE).to_string();
        let mut query: Vec<(&str, String)> = vec![("limit", limit)];
        match next {
            Next::Page(n) => query.push(("page", n.to_string())),
            Next::Cursor(c) if !c.is_empty() => query.push(("cursor", c.clone())),
            Next::Cursor(_) | Next::Done => {}
        }
        let body: PageBody = self.get_json("list_contacts", &path, &query).await?;
        Ok(Page {
            contacts: body.data,
            pagination: body.pagination,
        })
    }

    /// A GET with `query`, its JSON answer decoded (minding the rate window it reports).
    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        endpoint: &'static str,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T, CallError> {
        self.http
            .send_decode(
                endpoint,
                Method::GET,
                path,
                |r| r.query(query),
                |resp| {
                    self.respect_window(&resp);
                    Ok(resp.json::<T>()?)
                },
            )
            .await
    }

    /// The lists among `ids` the organisation has, each with its title and
    /// entity `type`, read from `GET /lists` page by page (the API has no
    /// `GET /lists/{id}`), stopping once all are found.
    pub async fn lists(&self, ids: &[u64]) -> Result<Vec<ListInfo>, CallError> {
        #[derive(Deserialize)]
        struct ListsBody {
            data: Vec<ListInfo>,
            #[serde(default)]
            pagination: Pagination,
        }
        let path = self.http.path("lists").to_string();
        let mut found: Vec<ListInfo> = Vec::new();
        let mut page = 1u32;
        loop {
            let query = [("limit", MAX_PAGE.to_string()), ("page", page.to_string())];
            let body: ListsBody = self.get_json("lists", &path, &query).await?;
            let last = !body.pagination.has_next || body.data.is_empty();
            found.extend(body.data.into_iter().filter(|l| ids.contains(&l.id)));
            if last || ids.iter().all(|id| found.iter().any(|l| l.id == *id)) {
                return Ok(found);
            }
            page += 1;
        }
    }

    /// Pauses the vendor until graph8's window resets when an answer says none of it is left.
    fn respect_window(&self, resp: &Response) {
        if let Some(wait) = window_spent(&resp.headers, SystemTime::now()) {
            tracing::debug!(
                wait_ms = wait.as_millis() as u64,
                "graph8 rate window spent: pausing until its reset"
            );
            self.http.pause_for(wait);
        }
    }

    /// Where the page after `page` (asked with `asked`) is.
    pub fn next_of(asked: &Next, page: &Page) -> Next {
        let p = &page.pagination;
        if !p.has_next || page.contacts.is_empty() {
            return Next::Done;
        }
        match asked {
            Next::Page(n) => Next::Page(n + 1),
            Next::Cursor(_) => match &p.next_cursor {
                Some(c) if !c.is_empty() => Next::Cursor(c.clone()),
                _ => Next::Done,
            },
            Next::Done => Next::Done,
        }
    }

    /// Every contact of a list (for suppression lists, which are small).
    pub async fn list_all(&self, list_id: u64, paging: Paging, limit: usize) -> Result<Vec<Contact>, CallError> {
        let mut out = Vec::new();
        let mut next = Next::first(paging);
        while next != Next::Done {
            let page = self.list_page(list_id, &next, limit).await?;
            next = Graph8::next_of(&next, &page);
            out.extend(page.contacts);
        }
        Ok(out)
    }

    /// `PUT /contacts/assert/batch`: upsert up to [`MAX_BATCH`] contacts into a
    /// list (matched on `work_email`, then `linkedin_url`). Per-contact
    /// validation errors come back in the outcome; the others are written.
    pub async fn assert_batch(&self, list_id: u64, contacts: &[Map<String, Value>]) -> Result<BatchOutcome, CallError> {
        debug_assert!(!contacts.is_empty() && contacts.len() <= MAX_BATCH);
        #[derive(Serialize)]
        struct Body<'a> {
            list_id: u64,
            contacts: &'a [Map<String, Value>],
        }
        #[derive(Deserialize)]
        struct Answer {
            data: Data,
        }
        #[derive(Deserialize)]
        struct Data {
            #[serde(default)]
            created: u64,
            #[serde(default)]
            updated: u64,
            #[serde(default)]
            errors: Vec<Value>,
        }
        let path = self.http.path("contacts_assert_batch").to_string();
        let resp = self
            .http
            .put_json("contacts_assert_batch", &path, &Body { list_id, contacts })
            .await?;
        self.respect_window(&resp);
        let answer: Answer = resp.json().map_err(|e| CallError::Record {
            vendor: self.http.vendor(),
            status: Some(resp.status.as_u16()),
            reason: format!("malformed response body: {e}"),
            transient: false,
        })?;
        let errors = answer
            .data
            .errors
            .iter()
            .filter_map(|e| contact_error(e, contacts.len()))
            .collect();
        Ok(BatchOutcome {
            created: answer.data.created,
            updated: answer.data.updated,
            errors,
        })
    }
}

/// How long until graph8's window resets, when `X-RateLimit-Remaining` says
/// it is spent (`X-RateLimit-Reset` is epoch seconds; at most a minute is believed).
fn window_spent(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let num = |name: &str| headers.get(name)?.to_str().ok()?.trim().parse::<u64>().ok();
    if num("x-ratelimit-remaining")? > 0 {
        return None;
    }
    let reset = UNIX_EPOCH + Duration::from_secs(num("x-ratelimit-reset")?);
    let wait = reset.duration_since(now).ok()?;
    (!wait.is_zero() && wait <= Duration::from_secs(60)).then_some(wait)
}

/// A batch error entry: `{"index": 3, "loc": ["body","contacts",3,"work_email"], "msg": "…"}`.
/// The index comes from `index`, else from the number after `contacts` in `loc`.
fn contact_error(e: &Value, n: usize) -> Option<ContactError> {
    let problem = FieldProblem::of(e);
    let loc = e.get("loc").and_then(Value::as_array);
    let index = e
        .get("index")
        .and_then(Value::as_u64)
        .or_else(|| {
            let loc = loc?;
            let at = loc.iter().position(|p| p.as_str() == Some("contacts"))?;
            loc.get(at + 1)?.as_u64()
        })
        .map(|i| i as usize)
        .filter(|i| *i < n)?;
    let message = e
        .get("msg")
        .or_else(|| e.get("message"))
        .or_else(|| e.get("detail"))
        .and_then(Value::as_str)
        .unwrap_or("rejected by graph8")
        .to_string();
    Some(ContactError {
        index,
        field: problem.field,
        message,
    })
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderMap;

    use super::*;

    #[test]
    fn batch_errors_name_index_field_and_message() {
        let e = serde_json::json!({"index": 3, "loc": ["body","contacts",3,"work_email"], "msg": "value is not a valid email address", "type": "value_error.email"});
        assert_eq!(
            contact_error(&e, 10),
            Some(ContactError {
                index: 3,
                field: Some("work_email".into()),
                message: "value is not a valid email address".into()
            })
        );
        let no_index =
            serde_json::json!({"loc": ["body","contacts",1], "msg": "work_email or linkedin_url is required"});
        let got = contact_error(&no_index, 10).unwrap();
        assert_eq!((got.index, got.field), (1, None));
        assert_eq!(contact_error(&e, 2), None);
    }

    #[test]
    fn a_spent_window_pauses_until_its_reset() {
        let h = |remaining: &str, reset: &str| {
            let mut h = HeaderMap::new();
            h.insert("x-ratelimit-remaining", remaining.parse().unwrap());
            h.insert("x-ratelimit-reset", reset.parse().unwrap());
            h
        };
        let now = UNIX_EPOCH + Duration::from_millis(1_000_000_500);
        assert_eq!(
            window_spent(&h("0", "1000002"), now),
            Some(Duration::from_millis(1_500))
        );
        assert_eq!(window_spent(&h("3", "1000002"), now), None);
        assert_eq!(window_spent(&h("0", "999999"), now), None, "already reset");
        assert_eq!(window_spent(&h("0", "1009999"), now), None, "not believed");
        assert_eq!(window_spent(&HeaderMap::new(), now), None);
    }

    #[test]
    fn pages_end_on_has_next_or_a_null_cursor() {
        let page = |has_next, cursor: Option<&str>| Page {
            contacts: vec![Contact::default()],
            pagination: Pagination {
                total: None,
                has_next,
                next_cursor: cursor.map(str::to_string),
            },
        };
        let c = Next::Cursor(String::new());
        assert_eq!(
            Graph8::next_of(&c, &page(true, Some("bzo1MA"))),
            Next::Cursor("bzo1MA".into())
        );
        assert_eq!(Graph8::next_of(&c, &page(true, None)), Next::Done);
        assert_eq!(Graph8::next_of(&c, &page(false, Some("x"))), Next::Done);
        assert_eq!(Graph8::next_of(&Next::Page(2), &page(true, None)), Next::Page(3));
        assert_eq!(Graph8::next_of(&Next::Page(2), &page(false, None)), Next::Done);
    }
}
