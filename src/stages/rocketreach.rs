//! `kind = "rocketreach_lookup"`: finds a person's current email, phones,
//! title and employer, paying at most once per distinct person.
//!
//! Per row: the stored result of an earlier attempt of this run wins (resume);
//! a row that already has what `only_if_missing` asks for is skipped for free;
//! otherwise the best key (LinkedIn URL, email, name + employer) is looked up
//! through [`crate::vendors::rocketreach`]. The answer is merged into the row
//! and its outcome stored in the state store.

use std::collections::HashMap;
use std::sync::Arc;

use serde::Deserialize;

use futures::FutureExt;
use futures::future::BoxFuture;

use super::{RowStage, StageContext, StageRow};
use crate::record::{IdentityField, Outcome, Person, PersonFields, Record, Status};
use crate::state::StateError;
use crate::state::writer::{Op, WriterHandle};
use crate::units::Span;
use crate::vendors::http::{CallError, Vendor};
use crate::vendors::paid::{CachePolicy, PaidCalls};
use crate::vendors::rocketreach::{LookupSettings, Profile, RocketReach, lookup_key, pending_lookups};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RocketReachSpec {
    /// Look up only rows missing one of these fields (e.g. `["email"]`); default: every row.
    #[serde(default)]
    pub only_if_missing: Vec<IdentityField>,
    /// Rank work addresses first when choosing the best email (default true).
    #[serde(default = "yes")]
    pub prefer_professional: bool,
    /// Fill the row's `email` with the best found one when it has none (default true).
    #[serde(default = "yes")]
    pub fill_email: bool,
    /// How often non-final profiles are polled (one call for up to 100 ids).
    #[serde(default = "default_poll_interval")]
    pub poll_interval: Span,
    /// How long a row waits for its profile to become final.
    #[serde(default = "default_deadline")]
    pub deadline: Span,
    /// RocketReach `lookup_type` (`standard`, `premium`, `phone`, `enrich`…); default: the vendor's.
    #[serde(default)]
    pub lookup_type: Option<String>,
    /// Rows in flight in this stage (bounds memory; the vendor's own concurrency bounds requests).
    #[serde(default = "default_window")]
    pub window: usize,
    /// How non-final single lookups are collected: `poll` (`checkStatus`) or
    /// `webhook` (delivered to the run's `[webhook]` receiver).
    #[serde(default)]
    pub delivery: Delivery,
    /// `off`: one `GET /person/lookup` per person. `on`: `POST /bulkLookup`,
    /// up to 100 people per request, results by webhook. `auto`: bulk when the
    /// input has at least `bulk_min_rows` rows to look up.
    #[serde(default)]
    pub bulk: BulkMode,
    #[serde(default = "default_bulk_min_rows")]
    pub bulk_min_rows: usize,
    /// How long a bulk request waits for more people after the first.
    #[serde(default = "default_bulk_linger")]
    pub bulk_linger: Span,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Delivery {
    #[default]
    Poll,
    Webhook,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BulkMode {
    #[default]
    Off,
    On,
    Auto,
}

fn default_bulk_min_rows() -> usize {
    200
}
fn default_bulk_linger() -> Span {
    Span(std::time::Duration::from_millis(500))
}

fn yes() -> bool {
    true
}
fn default_poll_interval() -> Span {
    Span(std::time::Duration::from_secs(2))
}
fn default_deadline() -> Span {
    Span(std::time::Duration::from_secs(600))
}
fn default_window() -> usize {
    2048
}

/// Stage outcomes loaded from the state store for a resumed run: record id → person.
pub type Stored = HashMap<u64, Person>;

/// The running stage.
pub struct LookupStage {
    pub spec: RocketReachSpec,
    pub client: Arc<RocketReach>,
    pub writer: WriterHandle,
    pub run_id: i64,
    pub name: String,
    pub stored: Stored,
    /// Bulk mode: lookups go through `POST /bulkLookup`.
    pub bulk: Option<Arc<crate::vendors::rocketreach::bulk::Bulk>>,
}

impl RowStage for LookupStage {
    fn enrich(self: Arc<Self>, rec: Record) -> BoxFuture<'static, StageRow> {
        async move { StageRow::kept(self.lookup(rec).await, |r| r.person.as_ref().map(|p| &p.outcome)) }.boxed()
    }

    fn window(&self) -> usize {
        self.spec.window
    }
}

/// How `leadpipe plan` prices a RocketReach lookup: one credit at most,
/// charged only when it finds an email.
impl super::priced::Priced for RocketReachSpec {
    fn endpoint(&self) -> &'static str {
        "person_lookup"
    }

    fn ask(&self, rec: &Record, _may_gain_email: bool) -> Option<super::priced::PlannedAsk> {
        let id = &rec.identity;
        if !self.only_if_missing.is_empty() && self.only_if_missing.iter().all(|f| f.get(id).is_some()) {
            return None;
        }
        Some(super::priced::PlannedAsk {
            key: lookup_key(id)?.canonical,
            worst: 1.0,
        })
    }

    fn follows_cache(&self, rec: &Record) -> bool {
        self.fill_email && rec.identity.email().is_none()
    }

    fn follow_cached(&self, body: &str, rec: &mut Record) {
        let profile: Option<Profile> = serde_json::from_str(body).ok().flatten();
        if let Some(email) = profile.and_then(|p| p.fields(self.prefer_professional).email) {
            rec.identity.set(IdentityField::Email, &email);
        }
    }

    fn gains_email(&self, _rec: &Record) -> bool {
        self.fill_email
    }

    fn email_found_rate(&self, average_credits: f64) -> Option<f64> {
        Some(average_credits.min(1.0))
    }

    fn waits(&self) -> (std::time::Duration, bool) {
        (self.poll_interval.0, false)
    }
}

/// A waterfall asks RocketReach to look the row's person up.
impl super::waterfall::Finder for RocketReachSpec {
    fn check_in_waterfall(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if !self.fill_email {
            out.push((
                "fill_email",
                "a waterfall takes the email the lookup found: leave it on".to_string(),
            ));
        }
        out
    }

    fn start_finder(&self, ctx: &StageContext<'_>) -> Result<Box<dyn super::waterfall::Ask>, StateError> {
        Ok(Box::new(LookupStage::start(self, ctx)?))
    }
}

impl super::waterfall::Ask for LookupStage {
    fn ask(&self, rec: Record) -> BoxFuture<'_, Record> {
        self.lookup(rec).boxed()
    }

    fn outcome<'r>(&self, rec: &'r Record) -> Option<&'r Outcome> {
        rec.person.as_ref().map(|p| &p.outcome)
    }
}

impl super::Stage for RocketReachSpec {
    fn start(&self, ctx: &StageContext<'_>) -> Result<super::Running, StateError> {
        Ok(super::Running::Rows(Arc::new(LookupStage::start(self, ctx)?)))
    }

    fn validate(&self, _ctx: &super::CheckContext<'_>) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if self.window == 0 {
            out.push(("window".into(), "must be at least 1".into()));
        }
        if self.poll_interval.0.is_zero() {
            out.push(("poll_interval".into(), "must be longer than zero".into()));
        }
        out
    }

    fn vendors(&self) -> Vec<Vendor> {
        vec![Vendor::RocketReach]
    }

    /// Webhook delivery, or bulk: results come to the run's receiver.
    fn needs_webhook(&self) -> bool {
        self.delivery == Delivery::Webhook || self.bulk != BulkMode::Off
    }

    fn looks_ahead(&self) -> bool {
        self.bulk == BulkMode::Auto
    }

    fn priced(&self) -> Option<&dyn super::priced::Priced> {
        Some(self)
    }

    fn fills(&self, slots: &mut crate::record::Slots) {
        slots.person = true;
    }
}

impl LookupStage {
    /// The stage for one run: the vendor's shared client behind the cache and
    /// ledger, with what an earlier attempt of the run stored or left pending.
    pub fn start(spec: &RocketReachSpec, ctx: &StageContext<'_>) -> Result<LookupStage, StateError> {
        let vendor_spec = ctx.vendor_specs.get(Vendor::RocketReach).cloned().unwrap_or_default();
        let policy = CachePolicy::from_spec(Some(&vendor_spec), ctx.refresh);
        let http = ctx.http(Vendor::RocketReach);
        let paid = PaidCalls::new(ctx.state_path, ctx.run_id, http, ctx.writer.clone(), policy)?;
        let pending = pending_lookups(ctx.store.conn(), ctx.run_id)?;
        let stored = ctx.stored()?;
        let mut extra = Vec::new();
        if let Some(t) = &spec.lookup_type {
            extra.push(("lookup_type", t.clone()));
        }
        let settings = LookupSettings {
            poll_interval: spec.poll_interval.0,
            deadline: spec.deadline.0,
            extra,
            webhook: ctx.webhook.clone().filter(|_| spec.delivery == Delivery::Webhook),
        };
        let client = RocketReach::new(paid, ctx.writer.clone(), ctx.run_id, pending, settings);
        let bulk = match (&ctx.webhook, bulk_chosen(spec, ctx)) {
            (Some(receiver), true) => {
                let paid = PaidCalls::new(
                    ctx.state_path,
                    ctx.run_id,
                    ctx.http(Vendor::RocketReach),
                    ctx.writer.clone(),
                    policy,
                )?;
                let plan = vendor_spec
                    .plan
                    .as_deref()
                    .unwrap_or(crate::vendors::rocketreach::DEFAULT_PLAN);
                let settings = crate::vendors::rocketreach::bulk::BulkSettings {
                    linger: spec.bulk_linger.0,
                    deadline: spec.deadline.0,
                    quotas: crate::vendors::rocketreach::bulk::plan_quotas(plan),
                };
                let pending = crate::vendors::rocketreach::bulk::pending_bulk(ctx.store.conn(), ctx.run_id)?;
                Some(crate::vendors::rocketreach::bulk::Bulk::new(
                    paid,
                    ctx.writer.clone(),
                    ctx.run_id,
                    receiver.clone(),
                    pending,
                    settings,
                ))
            }
            _ => None,
        };
        Ok(LookupStage {
            spec: spec.clone(),
            client,
            writer: ctx.writer.clone(),
            run_id: ctx.run_id,
            name: ctx.name.clone(),
            stored,
            bulk,
        })
    }

    pub async fn lookup(&self, mut rec: Record) -> Record {
        if let Some(person) = self.stored.get(&rec.id) {
            self.merge(&mut rec, person.clone());
            return rec;
        }
        let skip = |reason: &str| Person {
            fields: PersonFields::default(),
            outcome: Outcome::now(Status::Skipped, Some(reason.to_string()), false, 0.0),
        };
        if !self.spec.only_if_missing.is_empty()
            && self.spec.only_if_missing.iter().all(|f| f.get(&rec.identity).is_some())
        {
            let person = skip("the row already has the fields asked for");
            self.store(&rec, &person);
            self.merge(&mut rec, person);
            return rec;
        }
        let Some(key) = lookup_key(&rec.identity) else {
            let person = skip("nothing to look up with: no LinkedIn URL, email, or name and employer");
            self.store(&rec, &person);
            self.merge(&mut rec, person);
            return rec;
        };
        let answer = match &self.bulk {
            Some(bulk) => match bulk.lookup(&key, rec.id).await {
                Err(e) if crate::vendors::rocketreach::bulk::below_minimum(&e) => {
                    self.client.lookup(&key, rec.id).await
                }
                bulk_answer => bulk_answer,
            },
            None => self.client.lookup(&key, rec.id).await,
        };
        let person = match answer {
            Ok(answer) => {
                let profile: Option<Profile> = serde_json::from_str(&answer.body).ok().flatten();
                match profile {
                    Some(p) if answer.found => Person {
                        fields: p.fields(self.spec.prefer_professional),
                        outcome: Outcome::now(Status::Found, None, answer.cached, answer.credits),
                    },
                    Some(p) => Person {
                        fields: PersonFields::default(),
                        outcome: Outcome::now(
                            Status::NotFound,
                            Some(format!("RocketReach lookup ended {:?}", p.status())),
                            answer.cached,
                            0.0,
                        ),
                    },
                    None => Person {
                        fields: PersonFields::default(),
                        outcome: Outcome::now(
                            Status::NotFound,
                            Some("RocketReach has no profile for this person".into()),
                            answer.cached,
                            0.0,
                        ),
                    },
                }
            }
            Err(e) => {
                let person = Person {
                    fields: PersonFields::default(),
                    outcome: Outcome::now(Status::Failed, Some(e.to_string()), false, 0.0),
                };
                // A transient failure or a stopped vendor is tried again by the next
                // attempt; a request the vendor refused for this row is final.
                if matches!(e, CallError::Record { transient: false, .. }) {
                    self.store(&rec, &person);
                }
                self.merge(&mut rec, person);
                return rec;
            }
        };
        self.store(&rec, &person);
        self.merge(&mut rec, person);
        rec
    }

    fn merge(&self, rec: &mut Record, person: Person) {
        if self.spec.fill_email
            && rec.identity.email().is_none()
            && let Some(email) = person.fields.email.as_deref()
        {
            rec.identity.set(IdentityField::Email, email);
        }
        rec.person = Some(Box::new(person));
    }

    fn store(&self, rec: &Record, person: &Person) {
        if rec.unsettled() {
            return;
        }
        self.writer.send(Op::StageResult {
            run_id: self.run_id,
            stage: self.name.clone(),
            record_id: rec.id,
            outcome: person.outcome.status.as_str(),
            fields: serde_json::to_string(person).ok(),
            reason: person.outcome.reason.clone(),
        });
    }
}

/// Bulk mode on, or `auto` with at least `bulk_min_rows` rows of the input to look up
/// (rows that `only_if_missing` skips or that have no key are not counted).
fn bulk_chosen(spec: &RocketReachSpec, ctx: &StageContext<'_>) -> bool {
    match spec.bulk {
        BulkMode::Off => false,
        BulkMode::On => true,
        BulkMode::Auto => {
            // A file was read ahead for the rows to look up; a CRM list counts its members.
            let ahead = ctx.preflight;
            let rows = if ahead.was_read() {
                ahead.rows_where(|id| {
                    let has_all =
                        !spec.only_if_missing.is_empty() && spec.only_if_missing.iter().all(|f| f.get(id).is_some());
                    !has_all && lookup_key(id).is_some()
                })
            } else {
                ahead.rows.unwrap_or(0)
            };
            rows >= spec.bulk_min_rows as u64
        }
    }
}
