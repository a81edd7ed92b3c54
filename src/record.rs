//! The record that flows from the source through the stages to the sinks.
//!
//! A record keeps its source position (`id`) and its original columns
//! untouched; the normalised identity and each stage's fields sit beside
//! them. Stages read fields and write their own; they never edit `original`.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// An identity field a pipeline can require, key on or fill.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentityField {
    Email,
    FirstName,
    LastName,
    FullName,
    Company,
    CompanyDomain,
    LinkedinUrl,
}

impl IdentityField {
    pub const ALL: [IdentityField; 7] = [
        IdentityField::Email,
        IdentityField::FirstName,
        IdentityField::LastName,
        IdentityField::FullName,
        IdentityField::Company,
        IdentityField::CompanyDomain,
        IdentityField::LinkedinUrl,
    ];

    pub fn name(self) -> &'static str {
        match self {
            IdentityField::Email => "email",
            IdentityField::FirstName => "first_name",
            IdentityField::LastName => "last_name",
            IdentityField::FullName => "full_name",
            IdentityField::Company => "company",
            IdentityField::CompanyDomain => "company_domain",
            IdentityField::LinkedinUrl => "linkedin_url",
        }
    }

    pub fn get(self, id: &Identity) -> Option<&str> {
        id.get(self)
    }
}

const ABSENT: (u32, u32) = (u32::MAX, 0);

/// The normalised identity of a person, derived from the original columns.
///
/// All values live in one buffer (one allocation per row, not one per
/// field); a field is absent, or a span of that buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    buf: String,
    spans: [(u32, u32); 7],
    /// Why the source's email was not usable (absent emails have no reason).
    pub email_problem: Option<&'static str>,
}

impl Default for Identity {
    fn default() -> Self {
        Identity {
            buf: String::new(),
            spans: [ABSENT; 7],
            email_problem: None,
        }
    }
}

impl Identity {
    pub fn with_capacity(bytes: usize) -> Identity {
        Identity {
            buf: String::with_capacity(bytes),
            ..Identity::default()
        }
    }

    /// The buffer and spans, for [`crate::stages::held`] to store a row and
    /// [`Identity::from_parts`] to rebuild it.
    pub(crate) fn parts(&self) -> (&str, &[(u32, u32); 7]) {
        (&self.buf, &self.spans)
    }

    pub(crate) fn from_parts(buf: String, spans: [(u32, u32); 7], email_problem: Option<&'static str>) -> Identity {
        Identity {
            buf,
            spans,
            email_problem,
        }
    }

    /// Empty again, keeping the buffer.
    pub fn reset(&mut self) {
        self.buf.clear();
        self.spans = [ABSENT; 7];
        self.email_problem = None;
    }

    pub fn get(&self, field: IdentityField) -> Option<&str> {
        let (start, len) = self.spans[field as usize];
        (start != u32::MAX).then(|| &self.buf[start as usize..(start + len) as usize])
    }

    pub fn set(&mut self, field: IdentityField, value: &str) {
        self.set_with(field, |out| {
            out.push_str(value);
            true
        });
    }

    pub fn clear(&mut self, field: IdentityField) {
        self.spans[field as usize] = ABSENT;
    }

    /// Set a field by appending to the buffer; `write` returns false to leave it absent.
    pub fn set_with(&mut self, field: IdentityField, write: impl FnOnce(&mut String) -> bool) -> bool {
        let start = self.buf.len();
        if write(&mut self.buf) && self.buf.len() > start {
            self.spans[field as usize] = (start as u32, (self.buf.len() - start) as u32);
            true
        } else {
            self.buf.truncate(start);
            false
        }
    }

    pub fn email(&self) -> Option<&str> {
        self.get(IdentityField::Email)
    }
    pub fn first_name(&self) -> Option<&str> {
        self.get(IdentityField::FirstName)
    }
    pub fn last_name(&self) -> Option<&str> {
        self.get(IdentityField::LastName)
    }
    pub fn full_name(&self) -> Option<&str> {
        self.get(IdentityField::FullName)
    }
    pub fn company(&self) -> Option<&str> {
        self.get(IdentityField::Company)
    }
    pub fn company_domain(&self) -> Option<&str> {
        self.get(IdentityField::CompanyDomain)
    }
    pub fn linkedin_url(&self) -> Option<&str> {
        self.get(IdentityField::LinkedinUrl)
    }

    /// A row must carry at least one of these for anyone to find the person.
    pub fn identifies_someone(&self) -> bool {
        self.email().is_some()
            || self.linkedin_url().is_some()
            || self.full_name().is_some()
            || self.email_problem.is_some()
    }

    /// How many identity fields are present.
    pub fn present(&self) -> usize {
        self.spans.iter().filter(|s| s.0 != u32::MAX).count()
    }
}

/// Which of a record's slots a pipeline's stages fill: its output carries
/// the columns of those (`sinks::schema`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Slots {
    /// A person's contact data (`person`).
    pub person: bool,
    /// An email verdict (`verification`).
    pub verification: bool,
    /// Firmographics and their provenance (`reachstream`).
    pub reachstream: bool,
    /// Contacts delivered with them (a `reachstream_enrich` stage in contacts mode).
    pub reachstream_contacts: bool,
    /// A waterfall's provider, verdict, providers asked and credits (`waterfall`).
    pub waterfall: bool,
}

/// One row of the pipeline.
///
/// Serialised (to hold rows on disk, `stages::held`), it is what the stages
/// found: the source's part (position, original fields, identity) is kept
/// apart, so a field added for a stage is held without further code.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    /// 0-based position among the source's data rows: stable across runs.
    #[serde(skip)]
    pub id: u64,
    /// 1-based line where the row starts in the source file.
    #[serde(skip)]
    pub line: u64,
    /// The original fields, in the source's column order.
    #[serde(skip)]
    pub original: csv::StringRecord,
    #[serde(skip)]
    pub identity: Identity,
    /// What a person lookup found (RocketReach), when the pipeline has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person: Option<Box<Person>>,
    /// The email verdict (LeadRocks), when the pipeline has a verification stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification: Option<Box<Verification>>,
    /// What ReachStream gave (firmographics, contacts), when the pipeline has that stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reachstream: Option<Box<Enrichment>>,
    /// Which provider of a waterfall answered, with the verdict, when the pipeline has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waterfall: Option<Box<WaterfallAnswer>>,
}

impl Record {
    /// An earlier paid stage failed on this row (e.g. a budget stopped it, or
    /// retries ran out): a later attempt of the run may yet find what that
    /// stage would give (an email), so later stages do not store what they
    /// decided without it; they decide again on resume, from the cache.
    pub fn unsettled(&self) -> bool {
        self.person.as_ref().is_some_and(|p| p.outcome.status == Status::Failed)
            || self
                .reachstream
                .as_ref()
                .is_some_and(|e| e.outcome.status == Status::Failed)
    }
}

impl Record {
    pub fn new(id: u64, line: u64, original: csv::StringRecord, identity: Identity) -> Record {
        Record {
            id,
            line,
            original,
            identity,
            person: None,
            verification: None,
            reachstream: None,
            waterfall: None,
        }
    }

    /// True when a paid stage could not produce its answer for this row.
    pub fn failed(&self) -> bool {
        self.person.as_ref().is_some_and(|p| p.outcome.status == Status::Failed)
            || self
                .verification
                .as_ref()
                .is_some_and(|v| v.outcome.status == Status::Failed)
            || self
                .reachstream
                .as_ref()
                .is_some_and(|e| e.outcome.status == Status::Failed)
            || self
                .waterfall
                .as_ref()
                .is_some_and(|w| w.outcome.status == Status::Failed)
    }
}

/// What a vendor stage did for a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The vendor had an answer.
    Found,
    /// The vendor answered, and had nothing.
    NotFound,
    /// The row needed nothing from this stage (e.g. `only_if_missing`), or had nothing to ask with.
    Skipped,
    /// The call failed for this row; `reason` says why.
    Failed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Found => "found",
            Status::NotFound => "not_found",
            Status::Skipped => "skipped",
            Status::Failed => "failed",
        }
    }
}

/// Outcome and provenance of one stage for one row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When the answer was obtained from the vendor (Unix seconds).
    pub at: f64,
    /// Served from the state store's cache (bought earlier).
    pub cached: bool,
    /// Credits this row's answer cost (0 when cached, coalesced or free).
    pub credits: f64,
}

impl Outcome {
    /// An outcome decided now.
    pub fn now(status: Status, reason: Option<String>, cached: bool, credits: f64) -> Outcome {
        Outcome {
            status,
            reason,
            at: crate::state::now(),
            cached,
            credits,
        }
    }
}

/// Fields from a person lookup.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PersonFields {
    pub title: Option<String>,
    pub employer: Option<String>,
    pub employer_domain: Option<String>,
    /// The best email: professional preferred, then by grade and SMTP validity.
    pub email: Option<String>,
    pub email_grade: Option<String>,
    pub email_smtp: Option<String>,
    pub emails: Vec<String>,
    pub phone: Option<String>,
    pub phones: Vec<String>,
    pub linkedin_url: Option<String>,
    pub location: Option<String>,
    pub vendor_id: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Person {
    pub fields: PersonFields,
    pub outcome: Outcome,
}

/// An email verdict: the verified address's status and flags, typed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VerificationFields {
    /// `valid`, `not_valid`, `catch_all` or `unknown`.
    pub status: Option<String>,
    pub safe_to_send: Option<bool>,
    pub disposable: Option<bool>,
    pub free_account: Option<bool>,
    pub role_account: Option<bool>,
    /// How the verdict was reached: `instant`, `bulk` (paid, or cached from
    /// one), `inferred` (a known catch-all domain) or `local` (syntax or local flags).
    pub method: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verification {
    pub fields: VerificationFields,
    pub outcome: Outcome,
}

/// Firmographics of a row's company.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Firmographics {
    pub company_name: Option<String>,
    pub website: Option<String>,
    pub employee_size: Option<String>,
    pub revenue: Option<String>,
    pub industry: Option<String>,
    pub sic_code: Option<String>,
    pub tech_keywords: Vec<String>,
    /// Street, city, state, zip code, country.
    pub address: Option<String>,
}

/// What this stage gave a row.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RsFields {
    pub firmographics: Option<Firmographics>,
    /// Contacts mode: the delivered contacts of the row's company, one JSON object each.
    #[serde(default)]
    pub contacts: Vec<String>,
    /// Contacts mode: title and phone of the delivered contact that is this row's person.
    #[serde(default)]
    pub contact_title: Option<String>,
    #[serde(default)]
    pub contact_phone: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Enrichment {
    pub fields: RsFields,
    pub outcome: Outcome,
}

/// What the waterfall gave a row: who answered, with which verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WaterfallAnswer {
    /// The provider whose email counted; `source` when the row had one, `none` when no provider's did.
    pub provider: String,
    /// The verdict of that email (`valid`, `catch_all`… or `unverified` without `verify`);
    /// with no email, the last verdict met (`not_valid`…) or `not_found`.
    pub verdict: String,
    /// The providers asked, in order.
    pub asked: Vec<String>,
    /// Credits this row cost across providers and verifications.
    pub credits: f64,
    pub outcome: Outcome,
}

/// A rejected input row: it never reaches the stages, only the rejects file.
#[derive(Debug, Clone)]
pub struct Reject {
    pub id: u64,
    pub line: u64,
    pub reason: String,
    /// The raw fields as far as they could be read (lossy UTF-8).
    pub fields: Vec<String>,
}

/// A row a stage dropped as a duplicate of an earlier kept row.
#[derive(Debug, Clone)]
pub struct Duplicate {
    pub id: u64,
    pub line: u64,
    pub kept_id: u64,
    pub kept_line: u64,
    pub key: String,
    /// Which dedupe stage dropped it, counted among the pipeline's dedupe
    /// stages from 0 ([`Dedupe::nth`](crate::stages::dedupe::Dedupe::nth)),
    /// so it is listed in that stage's duplicates file.
    pub dedupe: usize,
}

/// The unit handed between stage tasks: rows in input order, with what was
/// split off on the way.
#[derive(Debug, Default)]
pub struct Batch {
    pub records: Vec<Record>,
    pub rejects: Vec<Reject>,
    pub duplicates: Vec<Duplicate>,
    /// Rows the source read for this batch (kept + rejected).
    pub rows_in: u64,
}

/// The source's column names, shared by every record of a run.
pub type Header = Arc<Vec<String>>;
