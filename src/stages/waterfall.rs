//! `kind = "waterfall"`: look for a row's email at one provider after
//! another, paying the next provider only for the rows still without one.
//!
//! The providers are the single-vendor stages themselves, started with a
//! name of their own (`waterfall/reachstream`, `waterfall/rocketreach`,
//! `waterfall/leadrocks@reachstream`…): their cache, ledger, charge-once,
//! pending jobs, resume and correlation checks are exactly those of
//! `reachstream_enrich`, `rocketreach_lookup` and `leadrocks_verify`. This
//! file only decides who is asked next.
//!
//! Per row: a row that has an email already is `skipped` (provider
//! `source`). Otherwise the providers are asked in order; a provider's email
//! counts when it verifies (`verify = "leadrocks"`: its verdict is one of
//! `accept`), or at once without `verify`. An email that does not count is
//! taken off the row before the next provider is asked, so that one looks
//! the person up by the other keys. A provider that failed for the row (a
//! transient error, a stopped vendor) ends the row's waterfall as failed:
//! paying the next one could buy what a resumed run gets from the first.
//!
//! The stage counts, per provider, the rows asked and answered and the
//! credits spent (its own and its verification's), for the report.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use futures::FutureExt;
use futures::future::BoxFuture;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::leadrocks::{LeadRocksSpec, VerifyStage};
use super::reachstream::ReachStreamSpec;
use super::rocketreach::RocketReachSpec;
use super::{RowStage, Stage, StageContext, StageCounts, StageRow};
use crate::record::{IdentityField, Outcome, Record, Status, WaterfallAnswer};
use crate::state::StateError;
use crate::state::writer::{Op, WriterHandle};
use crate::vendors::http::Vendor;

/// The providers a waterfall may ask, one line each: the name in
/// `providers = [...]` (and of its options table), and the stage that asks it.
const PROVIDERS: &[(&str, Build)] = &[
    ("reachstream", finder::<ReachStreamSpec>),
    ("rocketreach", finder::<RocketReachSpec>),
];

/// A stage a waterfall can ask for an email. The waterfall starts it with a
/// name of its own, so its cache, ledger and resume are the stage's own.
pub trait Finder: Stage + super::priced::Priced + Send + Sync {
    /// Options the waterfall sets under the user's (besides
    /// `only_if_missing = ["email"]`), e.g. ReachStream's `mode = "contacts"`.
    fn defaults() -> Vec<(&'static str, toml::Value)>
    where
        Self: Sized,
    {
        Vec::new()
    }

    /// Problems of these options inside a waterfall, beyond the stage's own
    /// validation, as (key inside its table, message).
    fn check_in_waterfall(&self) -> Vec<(&'static str, String)>;

    /// Start it inside a waterfall.
    fn start_finder(&self, ctx: &StageContext<'_>) -> Result<Box<dyn Ask>, StateError>;
}

/// A [`Finder`] started inside a waterfall.
pub trait Ask: Send + Sync {
    /// Ask the provider for the row, as the stage itself would.
    fn ask(&self, rec: Record) -> BoxFuture<'_, Record>;

    /// What the provider did for the row.
    fn outcome<'r>(&self, rec: &'r Record) -> Option<&'r Outcome>;
}

/// Builds a provider's stage from its options table over the waterfall's defaults.
type Build = fn(Option<&toml::Table>, &[(&'static str, toml::Value)]) -> Result<Box<dyn Finder>, String>;

fn finder<T: Finder + DeserializeOwned + 'static>(
    table: Option<&toml::Table>,
    defaults: &[(&'static str, toml::Value)],
) -> Result<Box<dyn Finder>, String> {
    spec_of::<T>(table, defaults).map(|s| Box::new(s) as Box<dyn Finder>)
}

/// A provider's spec: its options over its own defaults and the waterfall's.
fn spec_of<T: Finder + DeserializeOwned>(
    table: Option<&toml::Table>,
    defaults: &[(&'static str, toml::Value)],
) -> Result<T, String> {
    let mut all = T::defaults();
    all.extend(defaults.iter().cloned());
    options::<T>(table, &all)
}

/// A provider's name as written in [`PROVIDERS`].
fn provider_name(name: &str) -> Option<&'static str> {
    PROVIDERS.iter().map(|(n, _)| *n).find(|n| *n == name)
}

/// What the waterfall looks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Find {
    /// A work email (the only field so far).
    Email,
}

/// Who verifies a found email.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verifier {
    Leadrocks,
}

/// The `[[stages]]` table. Unknown keys are not refused by serde (the
/// providers' option tables are collected by name) but by [`WaterfallSpec::check`].
#[derive(Debug, Clone, Deserialize)]
pub struct WaterfallSpec {
    /// What to look for: `email`.
    pub find: Find,
    /// Providers in the order they are asked, e.g. `["reachstream", "rocketreach"]`.
    pub providers: Vec<String>,
    /// Verify each found email (`leadrocks`); it counts only once it verifies.
    #[serde(default)]
    pub verify: Option<Verifier>,
    /// Verdicts that count as verified (default `["valid"]`; e.g. add `catch_all`).
    #[serde(default = "default_accept")]
    pub accept: Vec<String>,
    /// Options of the verification, as `leadrocks_verify` takes them.
    #[serde(default)]
    pub leadrocks: Option<toml::Table>,
    /// Rows in flight in this stage (rows waiting for a webhook or a bulk list hold a place).
    #[serde(default = "default_window")]
    pub window: usize,
    /// Each provider's options, by its name, as its own stage takes them
    /// (`[stages.reachstream]`: default `mode = "contacts"`,
    /// `only_if_missing = ["email"]`); any other key, to be refused.
    #[serde(flatten)]
    pub options: BTreeMap<String, toml::Value>,
}

fn default_accept() -> Vec<String> {
    vec!["valid".into()]
}
fn default_window() -> usize {
    2048
}

const VERDICTS: &[&str] = &["valid", "not_valid", "catch_all", "unknown"];

/// A provider's options: the user's table over the waterfall's defaults.
fn options<T: serde::de::DeserializeOwned>(
    table: Option<&toml::Table>,
    defaults: &[(&str, toml::Value)],
) -> Result<T, String> {
    let mut t = table.cloned().unwrap_or_default();
    for (k, v) in defaults {
        t.entry(k.to_string()).or_insert_with(|| v.clone());
    }
    toml::Value::Table(t)
        .try_into()
        .map_err(|e: toml::de::Error| e.message().to_string())
}

impl WaterfallSpec {
    fn only_if_missing(&self) -> (&'static str, toml::Value) {
        let field = match self.find {
            Find::Email => "email",
        };
        ("only_if_missing", toml::Value::Array(vec![field.into()]))
    }

    /// The stage that asks provider `name`, from its options table (an
    /// unknown name, or options that do not parse: the message).
    pub fn finder(&self, name: &str) -> Result<Box<dyn Finder>, String> {
        let (_, build) = PROVIDERS
            .iter()
            .find(|(n, _)| *n == name)
            .ok_or_else(|| unknown_provider(name))?;
        let table = match self.options.get(name) {
            None => None,
            Some(toml::Value::Table(t)) => Some(t),
            Some(_) => return Err(format!("[stages.{name}] must be a table of {name}'s options")),
        };
        build(table, &[self.only_if_missing()])
    }

    pub fn leadrocks_spec(&self) -> Result<LeadRocksSpec, String> {
        options(self.leadrocks.as_ref(), &[])
    }

    /// The stages the waterfall runs inside it, as their own specs: the
    /// providers in order, then the verifier. Options that do not parse are
    /// left out (validation refuses them).
    fn inner(&self) -> Vec<(String, Box<dyn Stage>)> {
        let mut out: Vec<(String, Box<dyn Stage>)> = Vec::new();
        for name in &self.providers {
            out.extend(self.finder(name).ok().map(|f| (name.clone(), f as Box<dyn Stage>)));
        }
        if self.verify.is_some() {
            out.extend(
                self.leadrocks_spec()
                    .ok()
                    .map(|s| ("leadrocks".to_string(), Box::new(s) as Box<dyn Stage>)),
            );
        }
        out
    }

    /// Problems a run would hit, as (key, message), before any call.
    pub fn check(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if self.providers.is_empty() {
            out.push((
                "providers".into(),
                "name at least one provider, e.g. [\"reachstream\", \"rocketreach\"]".into(),
            ));
        }
        for (i, p) in self.providers.iter().enumerate() {
            if provider_name(p).is_none() {
                out.push(("providers".into(), unknown_provider(p)));
            } else if self.providers[..i].contains(p) {
                out.push(("providers".into(), format!("{p} is listed twice")));
            }
        }
        if self.window == 0 {
            out.push(("window".into(), "must be at least 1".into()));
        }
        for a in &self.accept {
            if !VERDICTS.contains(&a.as_str()) {
                out.push((
                    "accept".into(),
                    format!("unknown verdict {a:?} (expected one of {})", VERDICTS.join(", ")),
                ));
            }
        }
        for key in self.options.keys() {
            if provider_name(key).is_none() {
                out.push((key.clone(), format!("unknown field `{key}`")));
            } else if !self.providers.contains(key) {
                out.push((key.clone(), "options for a provider the waterfall does not list".into()));
            }
        }
        if self.leadrocks.is_some() && self.verify.is_none() {
            out.push((
                "leadrocks".into(),
                "options for a verification the waterfall does not do (verify = \"leadrocks\")".into(),
            ));
        }
        self.check_providers(&mut out);
        out
    }

    fn check_providers(&self, out: &mut Vec<(String, String)>) {
        let mut nested = |table: &str, found: Result<Vec<(&'static str, String)>, String>| match found {
            Ok(problems) => out.extend(problems.into_iter().map(|(k, m)| (format!("{table}.{k}"), m))),
            Err(m) => out.push((table.to_string(), m)),
        };
        for (i, name) in self.providers.iter().enumerate() {
            if provider_name(name).is_some() && !self.providers[..i].contains(name) {
                nested(name, self.finder(name).map(|f| f.check_in_waterfall()));
            }
        }
        if self.verify.is_some() {
            nested("leadrocks", self.leadrocks_spec().map(|s| s.check()));
        }
    }
}

fn unknown_provider(name: &str) -> String {
    let known: Vec<&str> = PROVIDERS.iter().map(|(n, _)| *n).collect();
    format!("unknown provider {name:?} (expected one of {})", known.join(", "))
}

struct Step {
    provider: &'static str,
    ask: Box<dyn Ask>,
    verify: Option<VerifyStage>,
}

/// The verification of an email a provider found, as `plan` prices it: a
/// row whose email came with the input skips the waterfall, so only emails
/// found upstream are verified.
struct VerifyFound(LeadRocksSpec);

impl super::priced::Priced for VerifyFound {
    fn endpoint(&self) -> &'static str {
        self.0.endpoint()
    }

    fn ask(&self, rec: &Record, may_gain_email: bool) -> Option<super::priced::PlannedAsk> {
        (rec.identity.email().is_none() && may_gain_email).then(|| self.0.ask(rec, true))?
    }

    fn waits(&self) -> (std::time::Duration, bool) {
        (self.0.waits().0, false)
    }
}

/// Per-provider figures for the report.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ProviderTally {
    pub provider: String,
    /// Rows this provider was asked for.
    pub asked: u64,
    /// Rows whose email came from this provider (and verified, with `verify`).
    pub answered: u64,
    /// Credits spent on this provider and on verifying its emails.
    pub credits: f64,
}

/// The waterfall's figures in the run report (`stages.<name>.waterfall`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Tally {
    /// Rows that needed the field (not `skipped`).
    pub rows_needing: u64,
    pub providers: Vec<ProviderTally>,
    /// Rows no provider answered.
    pub none: u64,
    pub credits: f64,
    /// What asking every provider (and verifying) for every row that needed
    /// the field would have cost, at each provider's credits per row asked.
    pub credits_if_all_asked: f64,
}

impl Tally {
    /// "reachstream answered 61% (18/29), rocketreach 23% of the rest (…), none 16%".
    pub fn rates(&self) -> String {
        let pct = |n: u64, of: u64| if of == 0 { 0.0 } else { 100.0 * n as f64 / of as f64 };
        let mut parts = Vec::new();
        for (i, p) in self.providers.iter().enumerate() {
            let rest = if i == 0 { "" } else { " of the rest" };
            parts.push(format!(
                "{} answered {:.0}%{rest} ({}/{})",
                p.provider,
                pct(p.answered, p.asked),
                p.answered,
                p.asked
            ));
        }
        parts.push(format!(
            "none {:.0}% ({}/{})",
            pct(self.none, self.rows_needing),
            self.none,
            self.rows_needing
        ));
        parts.join(", ")
    }
}

/// The running stage.
pub struct WaterfallStage {
    spec: WaterfallSpec,
    steps: Vec<Step>,
    writer: WriterHandle,
    run_id: i64,
    name: String,
    tally: Mutex<Tally>,
}

impl RowStage for WaterfallStage {
    fn enrich(self: Arc<Self>, rec: Record) -> BoxFuture<'static, StageRow> {
        async move { StageRow::kept(self.row(rec).await, |r| r.waterfall.as_ref().map(|w| &w.outcome)) }.boxed()
    }

    fn window(&self) -> usize {
        self.spec.window
    }

    fn report(&self, counts: &mut StageCounts) {
        let mut tally = crate::sync::lock(&self.tally).clone();
        let asked_all = tally.rows_needing as f64;
        tally.credits = tally.providers.iter().map(|p| p.credits).sum();
        tally.credits_if_all_asked = tally
            .providers
            .iter()
            .map(|p| {
                if p.asked == 0 {
                    0.0
                } else {
                    p.credits / p.asked as f64 * asked_all
                }
            })
            .sum();
        counts.waterfall = Some(tally);
    }
}

impl Stage for WaterfallSpec {
    fn start(&self, ctx: &StageContext<'_>) -> Result<super::Running, StateError> {
        Ok(super::Running::Rows(Arc::new(WaterfallStage::start(self, ctx)?)))
    }

    /// Its own checks, then each inner stage's validation under its table's name.
    fn validate(&self, ctx: &super::CheckContext<'_>) -> Vec<(String, String)> {
        let mut out = self.check();
        for (table, stage) in self.inner() {
            out.extend(
                stage
                    .validate(ctx)
                    .into_iter()
                    .map(|(k, m)| (format!("{table}.{k}"), m)),
            );
        }
        out
    }

    /// The providers' vendors in order, then the verifier's.
    fn vendors(&self) -> Vec<Vendor> {
        self.inner().iter().flat_map(|(_, s)| s.vendors()).collect()
    }

    /// Each provider, then the verification of what it found, as a row
    /// without an email meets them: the worst case asks every provider and
    /// verifies each email found.
    fn priced_steps(&self) -> Vec<(Vendor, Box<dyn super::priced::Priced>)> {
        let mut out: Vec<(Vendor, Box<dyn super::priced::Priced>)> = Vec::new();
        for name in &self.providers {
            let Ok(finder) = self.finder(name) else { continue };
            let Some(&vendor) = finder.vendors().first() else {
                continue;
            };
            out.push((vendor, finder));
            if self.verify.is_some()
                && let Ok(spec) = self.leadrocks_spec()
            {
                out.push((Vendor::LeadRocks, Box::new(VerifyFound(spec))));
            }
        }
        out
    }

    fn needs_webhook(&self) -> bool {
        self.inner().iter().any(|(_, s)| s.needs_webhook())
    }

    fn looks_ahead(&self) -> bool {
        self.inner().iter().any(|(_, s)| s.looks_ahead())
    }

    /// Its own slot, and those of each stage it runs inside it.
    fn fills(&self, slots: &mut crate::record::Slots) {
        slots.waterfall = true;
        for (_, s) in self.inner() {
            s.fills(slots);
        }
    }
}

impl WaterfallStage {
    pub fn start(spec: &WaterfallSpec, ctx: &StageContext<'_>) -> Result<WaterfallStage, StateError> {
        // Validation (`check`) has refused options that do not parse.
        const VALID: &str = "a waterfall's provider options are checked by validation";
        let mut steps = Vec::new();
        for name in &spec.providers {
            let provider = provider_name(name).expect(VALID);
            let sub = ctx.nested(format!("{}/{provider}", ctx.name));
            let ask = spec.finder(provider).expect(VALID).start_finder(&sub)?;
            let verify = match spec.verify {
                Some(Verifier::Leadrocks) => {
                    let sub = ctx.nested(format!("{}/leadrocks@{provider}", ctx.name));
                    Some(VerifyStage::start(&spec.leadrocks_spec().expect(VALID), &sub)?)
                }
                None => None,
            };
            steps.push(Step { provider, ask, verify });
        }
        let providers = spec
            .providers
            .iter()
            .map(|p| ProviderTally {
                provider: p.clone(),
                ..ProviderTally::default()
            })
            .collect();
        Ok(WaterfallStage {
            spec: spec.clone(),
            steps,
            writer: ctx.writer.clone(),
            run_id: ctx.run_id,
            name: ctx.name.clone(),
            tally: Mutex::new(Tally {
                providers,
                ..Tally::default()
            }),
        })
    }

    async fn row(&self, mut rec: Record) -> Record {
        let mut trail = Trail::default();
        if rec.identity.email().is_some() {
            return self.finish(rec, answer("source", "skipped", trail, Status::Skipped));
        }
        let mut verdict = "not_found".to_string();
        for (i, step) in self.steps.iter().enumerate() {
            trail.asked.push(step.provider.to_string());
            rec = step.ask(rec).await;
            let asked = step.outcome(&rec);
            let spent = trail.note(asked);
            self.count(i, |t| {
                t.asked += 1;
                t.credits += spent;
            });
            if asked.is_some_and(|o| o.status == Status::Failed) {
                return self.finish(rec, answer("none", "failed", trail, Status::Failed));
            }
            if rec.identity.email().is_none() {
                continue;
            }
            let Some(verify) = &step.verify else {
                self.count(i, |t| t.answered += 1);
                return self.finish(rec, answer(step.provider, "unverified", trail, Status::Found));
            };
            rec = verify.verify(rec).await;
            let v = rec
                .verification
                .as_deref()
                .expect("the verification stage sets its verdict");
            let spent = trail.note(Some(&v.outcome));
            self.count(i, |t| t.credits += spent);
            if v.outcome.status == Status::Failed {
                return self.finish(rec, answer("none", "failed", trail, Status::Failed));
            }
            verdict = v.fields.status.clone().unwrap_or_else(|| "unknown".into());
            if self.spec.accept.contains(&verdict) {
                self.count(i, |t| t.answered += 1);
                return self.finish(rec, answer(step.provider, &verdict, trail, Status::Found));
            }
            // Not an email to send to: the next provider looks the person up without it.
            rec.identity.clear(IdentityField::Email);
        }
        crate::sync::lock(&self.tally).none += 1;
        self.finish(rec, answer("none", &verdict, trail, Status::NotFound))
    }

    fn count(&self, step: usize, f: impl FnOnce(&mut ProviderTally)) {
        f(&mut crate::sync::lock(&self.tally).providers[step]);
    }

    /// The row's answer goes on the row and, unless it failed (tried again on
    /// resume), into the state store with the provider as its outcome, which
    /// `leadpipe status` counts.
    fn finish(&self, mut rec: Record, answer: WaterfallAnswer) -> Record {
        if answer.outcome.status != Status::Skipped {
            crate::sync::lock(&self.tally).rows_needing += u64::from(answer.outcome.status != Status::Failed);
        }
        if answer.outcome.status != Status::Failed {
            self.writer.send(Op::StageResult {
                run_id: self.run_id,
                stage: self.name.clone(),
                record_id: rec.id,
                outcome: static_outcome(&answer.provider),
                fields: serde_json::to_string(&answer).ok(),
                reason: None,
            });
        }
        rec.waterfall = Some(Box::new(answer));
        rec
    }
}

/// The stored outcome of a row: who answered it.
fn static_outcome(provider: &str) -> &'static str {
    match provider {
        "source" => "skipped",
        p => provider_name(p).unwrap_or("none"),
    }
}

/// What a row met on its way down the waterfall.
struct Trail {
    asked: Vec<String>,
    credits: f64,
    /// Every answer the row used came from the cache (or was paid by another row).
    cached: bool,
}

impl Default for Trail {
    fn default() -> Trail {
        Trail {
            asked: Vec::new(),
            credits: 0.0,
            cached: true,
        }
    }
}

impl Trail {
    /// Count a provider's or verifier's outcome for the row: the credits it cost.
    fn note(&mut self, outcome: Option<&Outcome>) -> f64 {
        let Some(o) = outcome else { return 0.0 };
        self.credits += o.credits;
        if matches!(o.status, Status::Found | Status::NotFound) {
            self.cached &= o.cached;
        }
        o.credits
    }
}

fn answer(provider: &str, verdict: &str, trail: Trail, status: Status) -> WaterfallAnswer {
    // A row that asked nobody used no cache.
    let cached = trail.cached && !trail.asked.is_empty() && status != Status::Failed;
    WaterfallAnswer {
        provider: provider.into(),
        verdict: verdict.into(),
        credits: trail.credits,
        asked: trail.asked,
        outcome: Outcome::now(status, None, cached, trail.credits),
    }
}

impl Step {
    /// Ask this step's provider for the row, as its own stage would.
    async fn ask(&self, rec: Record) -> Record {
        self.ask.ask(rec).await
    }

    /// What this step's provider did for the row.
    fn outcome<'r>(&self, rec: &'r Record) -> Option<&'r Outcome> {
        self.ask.outcome(rec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::stages::reachstream::Mode;

    fn spec(text: &str) -> WaterfallSpec {
        toml::from_str(text).expect("a waterfall table")
    }

    fn keys(spec: &WaterfallSpec) -> Vec<String> {
        spec.check().into_iter().map(|(k, _)| k).collect()
    }

    #[test]
    fn providers_take_their_own_stage_options_with_the_waterfall_defaults() {
        let w =
            spec("find = \"email\"\nproviders = [\"reachstream\", \"rocketreach\"]\n[reachstream]\nfetch_count = 7\n");
        assert!(w.check().is_empty(), "{:?}", w.check());
        let rs: ReachStreamSpec = spec_of(w.options["reachstream"].as_table(), &[w.only_if_missing()]).unwrap();
        assert_eq!((rs.mode, rs.fetch_count), (Mode::Contacts, 7));
        assert_eq!(rs.only_if_missing, vec![IdentityField::Email]);
        let rr: RocketReachSpec = spec_of(None, &[w.only_if_missing()]).unwrap();
        assert_eq!(rr.only_if_missing, vec![IdentityField::Email]);
        assert_eq!(w.vendors(), vec![Vendor::ReachStream, Vendor::RocketReach]);
        assert!(w.needs_webhook() && w.looks_ahead());
    }

    #[test]
    fn options_that_cannot_find_an_email_are_refused_by_their_key() {
        let w = spec(
            "find = \"email\"\nproviders = [\"rocketreach\", \"rocketreach\"]\naccept = [\"great\"]\n\
             [rocketreach]\nfill_email = false\nnot_a_key = 1\n[reachstream]\nmode = \"company\"\n[leadrocks]\n",
        );
        assert_eq!(
            keys(&w),
            ["providers", "accept", "reachstream", "leadrocks", "rocketreach"]
        );
        let w = spec("find = \"email\"\nproviders = [\"rocketreach\"]\n[rocketreach]\nfill_email = false\n");
        assert_eq!(keys(&w), ["rocketreach.fill_email"]);
        let w = spec("find = \"email\"\nproviders = []\nverify = \"leadrocks\"\n[leadrocks]\nmode = \"bulk\"\n");
        assert_eq!(keys(&w), ["providers"]);
    }

    #[test]
    fn hit_rates_read_as_each_provider_of_the_rows_it_was_asked_for() {
        let t = Tally {
            rows_needing: 40,
            none: 11,
            providers: vec![
                ProviderTally {
                    provider: "reachstream".into(),
                    asked: 40,
                    answered: 11,
                    credits: 0.0,
                },
                ProviderTally {
                    provider: "rocketreach".into(),
                    asked: 29,
                    answered: 18,
                    credits: 0.0,
                },
            ],
            ..Tally::default()
        };
        assert_eq!(
            t.rates(),
            "reachstream answered 28% (11/40), rocketreach answered 62% of the rest (18/29), none 28% (11/40)"
        );
    }
}
