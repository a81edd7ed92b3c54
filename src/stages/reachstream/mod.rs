//! `kind = "reachstream_enrich"`: company firmographics and contacts from
//! ReachStream, one request per distinct company however many rows share it.
//!
//! The company of a row is its `company_domain` (from the website column, or
//! a work email's domain), else its company name; the filter is
//! `company_website` or `company_name` accordingly.
//!
//! - `mode = "company"`: the count API (free) is asked once per company; the
//!   first preview record of that company (same website, else same name)
//!   gives the firmographics.
//! - `mode = "contacts"`: one async data fetch per company, with the
//!   company filter plus the static `criteria` and `fetch_count`; the
//!   records arrive at the run's webhook receiver. One row in, one row out:
//!   the row gets the firmographics, the delivered contacts as a list column
//!   (`reachstream_contacts`, one JSON object per contact), and — with
//!   `fill_missing` — the missing email / LinkedIn URL of the row from the
//!   delivered contact that is the same person (same email, else same first
//!   and last name), with that contact's title and phone.
//!
//! `only_if_missing` limits the stage to rows missing one of the fields
//! named (the others are `skipped`, for free).
//!
//! Credits (contacts mode): before the first fetch, the credit API is asked
//! for the balance and compared with what the stage will request: the
//! distinct companies of the input file (read ahead by the runner,
//! [`crate::source::preflight`]), less those
//! whose contacts are cached or already submitted, times `fetch_count`. Short
//! of that, the vendor is stopped with the balance and the need (exit 4)
//! unless `allow_partial = true`.

mod priced;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use serde::Deserialize;

use super::{RowStage, StageContext, StageRow};
use crate::record::{Identity, IdentityField, Outcome, Record, Status};
use crate::source::preflight::Company;
use crate::state::StateError;
use crate::state::writer::{Op, WriterHandle};
use crate::units::Span;
use crate::vendors::http::{CallError, Vendor};
use crate::vendors::paid::{CachePolicy, PaidCalls};
use crate::vendors::reachstream::{FetchSettings, Filter, ReachStream, RsRecord, pending_fetches};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Company,
    Contacts,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReachStreamSpec {
    /// `company` (firmographics, free) or `contacts` (async fetch, paid per delivered record).
    pub mode: Mode,
    /// Enrich only rows missing one of these fields (e.g. `["email"]`); default: every row.
    #[serde(default)]
    pub only_if_missing: Vec<IdentityField>,
    /// Contacts mode: static filter criteria added to each company's filter,
    /// e.g. `{ job_title_level = ["C-Suite"] }` (filter keys of the contract).
    #[serde(default)]
    pub criteria: BTreeMap<String, Vec<String>>,
    /// Contacts mode: records asked for per company (`fetchCount`).
    #[serde(default = "default_fetch_count")]
    pub fetch_count: u32,
    /// Contacts mode: how long a fetch waits for its webhook (the vendor retries for about an hour).
    #[serde(default = "default_deadline")]
    pub deadline: Span,
    /// Contacts mode: once a post of a fetch's records has come, how long to
    /// wait for another post of the same fetch (vendors may batch deliveries).
    #[serde(default = "default_settle")]
    pub settle: Span,
    /// Contacts mode: start even when the balance does not cover every company.
    #[serde(default)]
    pub allow_partial: bool,
    /// Contacts mode: fill the row's missing email and LinkedIn URL from the matching delivered contact.
    #[serde(default = "yes")]
    pub fill_missing: bool,
    /// Rows in flight in this stage (rows waiting for a webhook hold a place).
    #[serde(default = "default_window")]
    pub window: usize,
}

fn yes() -> bool {
    true
}
fn default_fetch_count() -> u32 {
    5
}
fn default_deadline() -> Span {
    Span(std::time::Duration::from_secs(90 * 60))
}
fn default_window() -> usize {
    2048
}
fn default_settle() -> Span {
    Span(std::time::Duration::from_secs(2))
}

/// Filter keys the contract knows.
pub const FILTER_KEYS: &[&str] = &[
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

impl ReachStreamSpec {
    /// The filter of a contacts fetch: the company's plus the static `criteria`.
    pub fn contacts_filter(&self, company: Filter) -> Filter {
        self.criteria
            .iter()
            .fold(company, |f, (k, v)| f.with(k, v.iter().cloned()))
    }

    /// The row already has every field `only_if_missing` asks for.
    pub fn has_all(&self, id: &Identity) -> bool {
        !self.only_if_missing.is_empty() && self.only_if_missing.iter().all(|f| f.get(id).is_some())
    }

    /// Problems a run would hit, as (key, message), before any call.
    pub fn check(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if self.window == 0 {
            out.push(("window", "must be at least 1".into()));
        }
        if self.mode == Mode::Contacts && self.fetch_count == 0 {
            out.push(("fetch_count", "must be at least 1".into()));
        }
        if self.deadline.0.is_zero() {
            out.push(("deadline", "must be longer than zero".into()));
        }
        for (k, v) in &self.criteria {
            if !FILTER_KEYS.contains(&k.as_str()) {
                out.push((
                    "criteria",
                    format!("unknown filter key {k:?} (expected one of {})", FILTER_KEYS.join(", ")),
                ));
            } else if v.iter().all(|s| s.trim().is_empty()) {
                out.push(("criteria", format!("{k}: give at least one value")));
            }
            if matches!(k.as_str(), "company_website" | "company_name") {
                out.push((
                    "criteria",
                    format!("{k} comes from each row; it cannot be a static criterion"),
                ));
            }
        }
        if self.mode == Mode::Company && !self.criteria.is_empty() {
            out.push(("criteria", "applies to mode = \"contacts\" only".into()));
        }
        out
    }
}

pub use crate::record::{Enrichment, Firmographics, RsFields};

/// The row's company filter: website (domain) first, else name.
pub fn company_filter(id: &Identity) -> Option<Filter> {
    Company::of(id).map(|c| filter_of(&c))
}

/// The filter that asks for `company`.
fn filter_of(company: &Company) -> Filter {
    match company {
        Company::Website(domain) => Filter::default().with("company_website", [domain.clone()]),
        Company::Name(name) => Filter::default().with("company_name", [name.clone()]),
    }
}

/// A field's value, unless empty or masked (previews mask names as `xxxxx`).
fn some(s: &Option<String>) -> Option<String> {
    crate::vendors::reachstream::known(s).map(str::to_string)
}

fn scalar(v: &Option<serde_json::Value>) -> Option<String> {
    match v.as_ref()? {
        serde_json::Value::String(s) => Some(s.trim().to_string()).filter(|s| !s.is_empty()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn firmographics(r: &RsRecord) -> Firmographics {
    let zip = scalar(&r.company_address_zipcode);
    let state_zip = match (some(&r.company_address_state), zip) {
        (Some(s), Some(z)) => Some(format!("{s} {z}")),
        (s, z) => s.or(z),
    };
    let parts: Vec<String> = [
        some(&r.company_address_street),
        some(&r.company_address_city),
        state_zip,
        some(&r.company_address_country),
    ]
    .into_iter()
    .flatten()
    .collect();
    Firmographics {
        company_name: some(&r.company_company_name),
        website: some(&r.company_website).as_deref().and_then(crate::normalize::domain),
        employee_size: some(&r.company_employee_size),
        revenue: some(&r.company_annual_revenue_amount),
        industry: some(&r.company_industry_categories_list),
        sic_code: scalar(&r.sic_code),
        tech_keywords: r
            .company_tech_keywords_list
            .as_deref()
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        address: (!parts.is_empty()).then(|| parts.join(", ")),
    }
}

/// The record that is the row's company, asked for with `filter`: one with
/// the same website, else the same name, else (a preview that masks both)
/// the first one, since the vendor already selected the company by the filter.
/// The client refused answers with another company's records before this.
fn same_company<'a>(id: &Identity, records: &'a [RsRecord]) -> Option<&'a RsRecord> {
    let domain = id.company_domain();
    let by_site = domain.and_then(|d| {
        records.iter().find(|r| {
            some(&r.company_website)
                .as_deref()
                .and_then(crate::normalize::domain)
                .is_some_and(|w| w.eq_ignore_ascii_case(d))
        })
    });
    let by_name = || {
        let name = id.company()?;
        records.iter().find(|r| {
            some(&r.company_company_name)
                .as_deref()
                .is_some_and(|n| n.eq_ignore_ascii_case(name))
        })
    };
    by_site.or_else(by_name).or_else(|| records.first())
}

/// The row's missing email and LinkedIn URL from `p`, the delivered contact who is the row's person.
fn fill_identity(id: &mut Identity, p: &RsRecord) {
    if id.email().is_none()
        && let Some(email) = some(&p.contact_email_1)
    {
        id.set(IdentityField::Email, &email.to_lowercase());
    }
    if id.linkedin_url().is_none()
        && let Some(url) = p
            .contact_social_linkedin
            .as_deref()
            .and_then(crate::normalize::linkedin_url)
    {
        id.set(IdentityField::LinkedinUrl, &url);
    }
}

impl ReachStreamSpec {
    /// What a contacts answer (`body`, as cached) fills in the row, as the
    /// stage would (`leadpipe plan` follows rows through cached answers).
    pub fn fill_from(&self, id: &mut Identity, body: &str) {
        if self.mode != Mode::Contacts || !self.fill_missing {
            return;
        }
        let data: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
        let records = crate::vendors::reachstream::records(&data);
        if let Some(p) = same_person(id, &records) {
            fill_identity(id, p);
        }
    }
}

/// The delivered contact who is the row's person: same email, else same first and last name.
fn same_person<'a>(id: &Identity, records: &'a [RsRecord]) -> Option<&'a RsRecord> {
    let by_email = id.email().and_then(|e| {
        records.iter().find(|r| {
            r.contact_email_1
                .as_deref()
                .is_some_and(|x| x.trim().eq_ignore_ascii_case(e))
        })
    });
    by_email.or_else(|| {
        let (first, last) = (id.first_name()?, id.last_name()?);
        records.iter().find(|r| {
            r.contact_first_name
                .as_deref()
                .is_some_and(|f| f.trim().eq_ignore_ascii_case(first))
                && r.contact_last_name
                    .as_deref()
                    .is_some_and(|l| l.trim().eq_ignore_ascii_case(last))
        })
    })
}

fn contact_json(r: &RsRecord) -> String {
    let name = some(&r.contact_name).or_else(|| {
        let parts: Vec<String> = [some(&r.contact_first_name), some(&r.contact_last_name)]
            .into_iter()
            .flatten()
            .collect();
        (!parts.is_empty()).then(|| parts.join(" "))
    });
    serde_json::json!({
        "name": name,
        "title": some(&r.contact_job_title_1),
        "title_level": some(&r.contact_job_title_level_1),
        "email": some(&r.contact_email_1).map(|e| e.to_lowercase()),
        "phone": some(&r.contact_phone_1),
        "linkedin_url": r.contact_social_linkedin.as_deref().and_then(crate::normalize::linkedin_url),
    })
    .to_string()
}

/// What a row got in an earlier attempt of the run, with the identity fields it filled.
#[derive(Debug, Clone, Deserialize)]
pub struct Saved {
    enrichment: Enrichment,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    linkedin_url: Option<String>,
}

/// Stored outcomes of this stage in an earlier attempt of the run: record id → outcome.
pub type Stored = HashMap<u64, Saved>;

/// The running stage.
pub struct EnrichStage {
    spec: ReachStreamSpec,
    client: Arc<ReachStream>,
    writer: WriterHandle,
    run_id: i64,
    name: String,
    stored: Stored,
    /// Contacts mode: the credit check every fetch waits for before it is
    /// sent (run once, by the first fetch to be sent).
    preflight: Shared<BoxFuture<'static, ()>>,
}

impl RowStage for EnrichStage {
    fn enrich(self: Arc<Self>, rec: Record) -> BoxFuture<'static, StageRow> {
        async move {
            StageRow::kept(self.enrich_row(rec).await, |r| {
                r.reachstream.as_ref().map(|e| &e.outcome)
            })
        }
        .boxed()
    }

    fn window(&self) -> usize {
        self.spec.window
    }
}

/// A waterfall asks ReachStream for contacts of the row's company, and takes
/// the email of the contact who is the row's person.
impl super::waterfall::Finder for ReachStreamSpec {
    fn defaults() -> Vec<(&'static str, toml::Value)> {
        vec![("mode", "contacts".into())]
    }

    fn check_in_waterfall(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if self.mode == Mode::Company {
            out.push((
                "mode",
                "mode = \"company\" finds no email; a waterfall asks for contacts".into(),
            ));
        }
        if !self.fill_missing {
            out.push((
                "fill_missing",
                "a waterfall takes the email from the row's contact: leave it on".into(),
            ));
        }
        out
    }

    fn start_finder(&self, ctx: &StageContext<'_>) -> Result<Box<dyn super::waterfall::Ask>, StateError> {
        Ok(Box::new(EnrichStage::start(self, ctx)?))
    }
}

impl super::waterfall::Ask for EnrichStage {
    fn ask(&self, rec: Record) -> BoxFuture<'_, Record> {
        self.enrich_row(rec).boxed()
    }

    fn outcome<'r>(&self, rec: &'r Record) -> Option<&'r Outcome> {
        rec.reachstream.as_ref().map(|e| &e.outcome)
    }
}

impl super::Stage for ReachStreamSpec {
    fn start(&self, ctx: &StageContext<'_>) -> Result<super::Running, StateError> {
        Ok(super::Running::Rows(Arc::new(EnrichStage::start(self, ctx)?)))
    }

    fn validate(&self, ctx: &super::CheckContext<'_>) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = self.check().into_iter().map(|(k, m)| (k.to_string(), m)).collect();
        if self.mode == Mode::Contacts && webhook_secret_missing(ctx) {
            out.push((
                "mode".into(),
                "contacts mode needs [vendors.reachstream] webhook_secret = \"${REACHSTREAM_WEBHOOK_SECRET}\" \
                 (the webhook_secret_key set up in ReachStream's UI)"
                    .into(),
            ));
        }
        out
    }

    fn vendors(&self) -> Vec<Vendor> {
        vec![Vendor::ReachStream]
    }

    fn needs_webhook(&self) -> bool {
        self.mode == Mode::Contacts
    }

    fn looks_ahead(&self) -> bool {
        self.mode == Mode::Contacts
    }

    fn priced(&self) -> Option<&dyn super::priced::Priced> {
        Some(self)
    }

    fn fills(&self, slots: &mut crate::record::Slots) {
        slots.reachstream = true;
        slots.reachstream_contacts |= self.mode == Mode::Contacts;
    }
}

/// True when ReachStream would deliver contacts to a receiver that cannot
/// authenticate them: no `[vendors.reachstream] webhook_secret`, outside the sandbox.
pub(crate) fn webhook_secret_missing(ctx: &super::CheckContext<'_>) -> bool {
    let secret = ctx
        .vendors
        .get(crate::vendors::Vendor::ReachStream)
        .and_then(|v| v.webhook_secret.as_ref());
    secret.is_none() && !ctx.sandbox
}

impl EnrichStage {
    pub fn start(spec: &ReachStreamSpec, ctx: &StageContext<'_>) -> Result<EnrichStage, StateError> {
        let vendor_spec = ctx.vendor_specs.get(Vendor::ReachStream).cloned().unwrap_or_default();
        let policy = CachePolicy::from_spec(Some(&vendor_spec), ctx.refresh);
        let http = ctx.http(Vendor::ReachStream);
        let paid = PaidCalls::new(ctx.state_path, ctx.run_id, http, ctx.writer.clone(), policy)?;
        let pending = pending_fetches(ctx.store.conn(), ctx.run_id)?;
        let stored = ctx.stored()?;
        let to_buy = if spec.mode == Mode::Contacts {
            companies_to_buy(spec, ctx, &pending)?
        } else {
            0
        };
        let client = ReachStream::new(
            paid,
            ctx.writer.clone(),
            ctx.run_id,
            pending,
            ctx.webhook.clone(),
            vendor_spec.webhook_secret.clone(),
            FetchSettings {
                deadline: spec.deadline.0,
                settle: spec.settle.0,
            },
        );
        let preflight = check_credits(client.clone(), spec.clone(), ctx.name.clone(), to_buy)
            .boxed()
            .shared();
        Ok(EnrichStage {
            spec: spec.clone(),
            client,
            writer: ctx.writer.clone(),
            run_id: ctx.run_id,
            name: ctx.name.clone(),
            stored,
            preflight,
        })
    }

    fn contacts_filter(&self, company: Filter) -> Filter {
        self.spec.contacts_filter(company)
    }

    pub async fn enrich_row(&self, mut rec: Record) -> Record {
        if let Some(saved) = self.stored.get(&rec.id) {
            for (field, value) in [
                (IdentityField::Email, &saved.email),
                (IdentityField::LinkedinUrl, &saved.linkedin_url),
            ] {
                if let Some(v) = value
                    && rec.identity.get(field).is_none()
                {
                    rec.identity.set(field, v);
                }
            }
            self.merge(&mut rec, saved.enrichment.clone());
            return rec;
        }
        let skip = |reason: &str| Enrichment {
            fields: RsFields::default(),
            outcome: Outcome::now(Status::Skipped, Some(reason.into()), false, 0.0),
        };
        if self.spec.has_all(&rec.identity) {
            let e = skip("the row already has the fields asked for");
            self.store(&rec, &e);
            self.merge(&mut rec, e);
            return rec;
        }
        let Some(company) = company_filter(&rec.identity) else {
            let e = skip("no company website or name to ask with");
            self.store(&rec, &e);
            self.merge(&mut rec, e);
            return rec;
        };
        let answer = match self.spec.mode {
            Mode::Company => self.client.count(&company, rec.id).await,
            Mode::Contacts => {
                let filter = self.contacts_filter(company);
                self.client
                    .fetch(&filter, self.spec.fetch_count, rec.id, self.preflight.clone())
                    .await
            }
        };
        let e = match answer {
            Ok(answer) => {
                let data: serde_json::Value = serde_json::from_str(&answer.body).unwrap_or_default();
                let records = crate::vendors::reachstream::records(&data);
                let mut fields = RsFields {
                    firmographics: same_company(&rec.identity, &records).map(|r| {
                        let mut f = firmographics(r);
                        // Asked by website: that is the company's website, masked or not.
                        f.website = f
                            .website
                            .or_else(|| rec.identity.company_domain().map(str::to_lowercase));
                        f
                    }),
                    ..RsFields::default()
                };
                if self.spec.mode == Mode::Contacts {
                    fields.contacts = records.iter().map(contact_json).collect();
                    if let Some(p) = same_person(&rec.identity, &records) {
                        fields.contact_title = some(&p.contact_job_title_1);
                        fields.contact_phone = some(&p.contact_phone_1);
                        if self.spec.fill_missing {
                            fill_identity(&mut rec.identity, p);
                        }
                    }
                }
                let found = fields.firmographics.is_some() || !fields.contacts.is_empty();
                let (status, reason) = if found {
                    (Status::Found, None)
                } else {
                    (
                        Status::NotFound,
                        Some("ReachStream has no record of this company".to_string()),
                    )
                };
                let credits = if self.spec.mode == Mode::Contacts {
                    answer.credits
                } else {
                    0.0
                };
                Enrichment {
                    fields,
                    outcome: Outcome::now(status, reason, answer.cached, credits),
                }
            }
            Err(err) => {
                let e = Enrichment {
                    fields: RsFields::default(),
                    outcome: Outcome::now(Status::Failed, Some(err.to_string()), false, 0.0),
                };
                // A transient failure or a stopped vendor is tried again by the next
                // attempt; a request the vendor refused for this row is final.
                if matches!(err, CallError::Record { transient: false, .. }) {
                    self.store(&rec, &e);
                }
                self.merge(&mut rec, e);
                return rec;
            }
        };
        self.store(&rec, &e);
        self.merge(&mut rec, e);
        rec
    }

    fn merge(&self, rec: &mut Record, e: Enrichment) {
        rec.reachstream = Some(Box::new(e));
    }

    fn store(&self, rec: &Record, e: &Enrichment) {
        if rec.unsettled() {
            return;
        }
        // The row's email and LinkedIn URL are stored with the outcome, so a resumed
        // run restores what was filled from a contact.
        let filled = serde_json::json!({
            "enrichment": e,
            "email": rec.identity.email(),
            "linkedin_url": rec.identity.linkedin_url(),
        });
        self.writer.send(Op::StageResult {
            run_id: self.run_id,
            stage: self.name.clone(),
            record_id: rec.id,
            outcome: e.outcome.status.as_str(),
            fields: Some(filled.to_string()),
            reason: e.outcome.reason.clone(),
        });
    }
}

/// Contacts mode, once before the first fetch is sent: stop the vendor when
/// the balance cannot pay for the `to_buy` companies' fetches.
async fn check_credits(client: Arc<ReachStream>, spec: ReachStreamSpec, name: String, to_buy: usize) {
    let need = to_buy as u64 * u64::from(spec.fetch_count);
    if spec.mode != Mode::Contacts || need == 0 {
        return;
    }
    let http = client.http();
    match client.credits().await {
        Ok(balance) if balance >= need as i64 => {
            tracing::info!(balance, need, "ReachStream credits cover the stage");
        }
        Ok(balance) if spec.allow_partial => {
            tracing::warn!(
                balance,
                need,
                "ReachStream credits do not cover the stage; going as far as they do (allow_partial)"
            );
        }
        Ok(balance) => {
            http.halt(CallError::OutOfCredits {
                vendor: Vendor::ReachStream,
                message: format!(
                    "the balance is {balance} credits and stage {name} needs up to {need} ({to_buy} companies × fetch_count {}); \
                     add credits, lower fetch_count, or set allow_partial = true; nothing was bought",
                    spec.fetch_count
                ),
            });
        }
        // A stopped vendor has said why; other failures leave the check to the 402s.
        Err(e) => tracing::warn!(error = %e, "cannot read the ReachStream credit balance"),
    }
}

/// Contacts mode: distinct companies of the input whose fetch is neither
/// cached (unless `--refresh`) nor already submitted by this run.
fn companies_to_buy(
    spec: &ReachStreamSpec,
    ctx: &StageContext<'_>,
    pending: &HashMap<String, (String, Option<f64>)>,
) -> Result<usize, StateError> {
    // Only a file is read ahead; a CRM list is not counted (the vendor's 402 still stops the run resumable).
    let keys: HashSet<String> = ctx
        .preflight
        .companies_where(|id| !spec.has_all(id))
        .map(|company| {
            let filter = spec
                .criteria
                .iter()
                .fold(filter_of(company), |f, (k, v)| f.with(k, v.iter().cloned()));
            format!("fetch:{}:count={}", filter.canonical(), spec.fetch_count)
        })
        .collect();
    let mut cached = ctx
        .store
        .conn()
        .prepare("SELECT 1 FROM cache WHERE provider = 'reachstream' AND request_key = ?1 AND expires_at > ?2")?;
    let now = crate::state::now();
    let mut n = 0;
    for k in &keys {
        if pending.contains_key(k) || (!ctx.refresh && cached.exists(rusqlite::params![k, now])?) {
            continue;
        }
        n += 1;
    }
    Ok(n)
}
