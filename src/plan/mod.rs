//! `leadpipe plan`: what a run would cost and how long it would take, before
//! any paid call.
//!
//! The plan reads the input as the run would (same parsing, normalisation,
//! suppressions from a file, dedupe keys) and walks each row through the
//! stages in order, asking of each paid stage the question the run would:
//! does the row call the vendor, with which canonical request, and does the
//! state store's cache already answer it? Distinct uncached requests are what
//! the run buys. For each it gives:
//! - **worst case**: every request charged its most (a lookup 1 credit, a
//!   ReachStream fetch `fetch_count` records — fewer when ReachStream's free
//!   count API says fewer exist — a verification 1 credit), and every row
//!   that might gain an email upstream verified;
//! - **expected**: from this state's own history, the credits the vendor
//!   charged per request of that kind in earlier runs (the ledger), capped by
//!   the worst case; with no history, the worst case, labelled so;
//! - **time**: the configured rate windows for the requests of each vendor,
//!   the stages before a bulk verification running side by side, plus the
//!   configured waits (poll intervals, linger, settle);
//! - **limits**: each vendor's balance (free balance APIs) and each budget
//!   cap, with the row at which the run would reach it.
//!
//! The only calls made are free ones: balances and ReachStream's count API.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;

use serde::Serialize;

use crate::record::{IdentityField, Record};
use crate::source::input::Input;
use crate::spec::ValidPipeline;
use crate::stages::StageSpec;
use crate::stages::priced::{PlannedAsk, Priced};
use crate::stages::suppress::Suppressions;
use crate::state::{StateError, Store};
use crate::vendors::graph8::Graph8;
use crate::vendors::http::{CallError, Vendor, VendorHttp};

mod render;
mod time;
use time::{rate_time, sent_before, total_time};

/// Why a plan could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Source(#[from] crate::source::SourceError),
    #[error("cannot read graph8 suppression list {list_id}: {source}")]
    SuppressionList { list_id: u64, source: CallError },
    #[error(transparent)]
    Run(#[from] crate::pipeline::runner::RunError),
}

/// The whole plan (`--json` prints this).
#[derive(Debug, Serialize)]
pub struct Plan {
    pub pipeline: String,
    pub file: PathBuf,
    pub rows_in: u64,
    pub stages: Vec<StagePlan>,
    pub vendors: Vec<VendorPlan>,
    /// Seconds the run should take, and what the figure rests on.
    pub time_s: f64,
    pub time_basis: String,
    /// True when every answer the run needs is in the cache: it costs nothing.
    pub all_cached: bool,
    /// With `--sandbox`: paid calls and credits the simulators counted while
    /// planning (0 each: the plan buys nothing).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sandbox_paid_calls: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sandbox_credits_charged: Option<u64>,
}

/// One stage: the rows that reach it and what it would buy.
#[derive(Debug, Default, Serialize)]
pub struct StagePlan {
    pub stage: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// The vendors it pays, in the order it asks them.
    pub vendor: Option<String>,
    pub rows_in: u64,
    /// Rows the stage drops (suppressions) or marks duplicate (dedupe).
    pub rows_dropped: u64,
    /// Rows that ask the vendor (after `only_if_missing` and local checks).
    pub rows_asking: u64,
    /// Distinct requests those rows make.
    pub requests: u64,
    /// Of them, answered by the cache.
    pub cached: u64,
    /// Of them, to buy: the paid requests.
    pub paid_requests: u64,
    /// Rows whose request depends on an earlier stage's answer (an email it
    /// may find): counted in the worst case, weighted in the expected figure.
    pub rows_uncertain: u64,
    pub credits_worst: f64,
    pub credits_expected: f64,
}

/// One vendor: its paid requests, credits, time and limits.
#[derive(Debug, Serialize)]
pub struct VendorPlan {
    pub vendor: &'static str,
    pub paid_requests: u64,
    pub credits_worst: f64,
    pub credits_expected: f64,
    /// `history: …` or `no history: the worst case`.
    pub expected_basis: String,
    /// Seconds the paid requests take at the configured rate windows.
    pub time_s: f64,
    /// The binding rate window, e.g. `10/s`.
    pub rate: String,
    /// Credits left by the vendor's own balance API (none when it has none or cannot be read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub balance: Option<f64>,
    /// Each balance or budget the run would reach, and where.
    pub limits: Vec<LimitHit>,
}

/// A balance or budget cap and the row at which the run would reach it.
#[derive(Debug, Serialize)]
pub struct LimitHit {
    /// `balance`, `budget.rocketreach.run`, `budget.max_paid_calls`, …
    pub limit: String,
    /// What is left of it now.
    pub left: f64,
    /// The row (0-based `row_id`) whose request would pass it in the worst case; none when it holds.
    pub worst_row: Option<u64>,
    /// The same for the expected figures.
    pub expected_row: Option<u64>,
}

/// One request a row would pay for, in input order.
struct Spend {
    row: u64,
    /// The stage that asks it.
    stage: usize,
    worst: f64,
    expected: f64,
}

/// A request the run would buy (an empty key: a row whose request depends on an earlier answer).
struct Buy {
    row: u64,
    /// The stage that asks it.
    stage: usize,
    key: String,
    worst: f64,
    expected: f64,
}

/// What the state store's history says a request of each kind costs.
struct History {
    /// (provider, endpoint) → (requests answered, credits).
    per_request: HashMap<(String, String), (i64, f64)>,
}

impl History {
    fn read(store: &Store) -> Result<History, StateError> {
        let mut stmt = store.conn().prepare(
            "SELECT provider, endpoint, count(*), coalesce(sum(credits), 0) FROM ledger WHERE state = 'done' GROUP BY 1, 2",
        )?;
        let per_request = stmt
            .query_map([], |r| Ok(((r.get(0)?, r.get(1)?), (r.get(2)?, r.get(3)?))))?
            .collect::<Result<HashMap<_, _>, _>>()?;
        Ok(History { per_request })
    }

    /// Average credits per answered request of this kind, and over how many.
    fn average(&self, vendor: Vendor, endpoint: &str) -> Option<(f64, i64)> {
        let (n, credits) = self
            .per_request
            .get(&(vendor.name().to_string(), endpoint.to_string()))?;
        (*n > 0).then(|| (credits / *n as f64, *n))
    }
}

/// Cache keys per provider still within their TTL.
fn cached_keys(store: &Store, provider: &str) -> Result<HashSet<String>, StateError> {
    let mut stmt = store
        .conn()
        .prepare("SELECT request_key FROM cache WHERE provider = ?1 AND expires_at > ?2")?;
    let keys = stmt
        .query_map(rusqlite::params![provider, crate::state::now()], |r| r.get(0))?
        .collect::<Result<HashSet<String>, _>>()?;
    Ok(keys)
}

/// A row as the plan follows it: whether its email is known, or may come from a stage.
struct Row {
    rec: Record,
    may_gain_email: bool,
}

/// Per-stage state of the walk.
enum Walker<'a> {
    Suppress(Option<crate::stages::suppress::Suppressions>),
    Dedupe(HashSet<String>),
    /// A paid stage: one step, or (a waterfall) the paid stages it runs
    /// inside it, in the order a row meets them.
    Paid(Vec<PaidStep<'a>>),
    /// A stage the plan walks rows through unchanged.
    Other,
}

/// One paid stage as the walk meets it.
struct PaidStep<'a> {
    priced: PricedRef<'a>,
    vendor: Vendor,
    endpoint: &'static str,
    /// Requests already counted.
    seen: HashSet<String>,
    /// Requests the cache answers.
    cache: HashSet<String>,
}

/// A stage's pricing: its own, or an inner stage's, which the walk owns.
enum PricedRef<'a> {
    Borrowed(&'a (dyn Priced + 'a)),
    Owned(Box<dyn Priced>),
}

impl<'a> std::ops::Deref for PricedRef<'a> {
    type Target = dyn Priced + 'a;

    fn deref(&self) -> &(dyn Priced + 'a) {
        match self {
            PricedRef::Borrowed(p) => *p,
            PricedRef::Owned(p) => p.as_ref(),
        }
    }
}

/// What each suppress stage suppresses (by stage index): its file and its
/// graph8 list, read as the run would read them (graph8 calls are free).
async fn suppressions(
    p: &ValidPipeline,
    vendors: &indexmap::IndexMap<Vendor, VendorHttp>,
) -> Result<HashMap<usize, Suppressions>, PlanError> {
    let mut all = HashMap::new();
    for (i, stage) in p.stages.iter().enumerate() {
        let StageSpec::Suppress(spec) = stage else { continue };
        let mut s = spec
            .file
            .as_ref()
            .and_then(|f| std::fs::read_to_string(f).ok())
            .map(|t| Suppressions::from_file(&t))
            .unwrap_or_default();
        if let Some(list_id) = spec.graph8_list {
            let list = Suppressions::from_graph8(&Graph8::of_run(vendors), list_id)
                .await
                .map_err(|source| PlanError::SuppressionList { list_id, source })?;
            s.extend(list);
        }
        all.insert(i, s);
    }
    Ok(all)
}

impl<'a> Walker<'a> {
    fn of(stage: &'a StageSpec, store: &Store, suppressions: Option<Suppressions>) -> Result<Walker<'a>, StateError> {
        Ok(match stage {
            StageSpec::Suppress(_) => Walker::Suppress(suppressions),
            StageSpec::Dedupe(_) => Walker::Dedupe(HashSet::new()),
            other => {
                let priced: Vec<(Vendor, PricedRef<'a>)> = match (other.priced(), other.vendor()) {
                    (Some(priced), Some(vendor)) => vec![(vendor, PricedRef::Borrowed(priced))],
                    _ => other
                        .priced_steps()
                        .into_iter()
                        .map(|(v, p)| (v, PricedRef::Owned(p)))
                        .collect(),
                };
                if priced.is_empty() {
                    return Ok(Walker::Other);
                }
                let mut steps = Vec::new();
                for (vendor, priced) in priced {
                    steps.push(PaidStep {
                        endpoint: priced.endpoint(),
                        priced,
                        vendor,
                        seen: HashSet::new(),
                        cache: cached_keys(store, vendor.name())?,
                    });
                }
                Walker::Paid(steps)
            }
        })
    }

    fn steps(&self) -> &[PaidStep<'a>] {
        match self {
            Walker::Paid(steps) => steps,
            _ => &[],
        }
    }
}

/// Makes the plan of `p`; `vendors` are its clients (pointed at the sandbox with `--sandbox`).
pub async fn plan(p: &ValidPipeline, vendors: &indexmap::IndexMap<Vendor, VendorHttp>) -> Result<Plan, PlanError> {
    let store = Store::open(&p.state_path)?;
    let history = History::read(&store)?;
    let suppressions = suppressions(p, vendors).await?;
    let mut walk = Walk::start(p, &store, &history, suppressions)?;
    let mut source = Input::open(&p.source, None, vendors).await?;
    while let Some(batch) = source.next_batch(4096).await? {
        walk.rows_in += batch.rows_in;
        for rec in batch.records {
            walk.row(rec)?;
        }
    }
    let Walk {
        rows_in,
        walkers,
        mut stages,
        to_buy,
        ..
    } = walk;
    let mut vendor_plans = Vec::new();
    let mut priced_by_stage: BTreeMap<usize, (f64, f64)> = BTreeMap::new();
    for (name, mut requests) in to_buy {
        let vendor = Vendor::from_name(name).expect("a known vendor");
        let Some(http) = vendors.get(&vendor) else { continue };
        let step = walkers
            .iter()
            .find_map(|w| w.steps().iter().find(|s| s.vendor == vendor))
            .expect("a stage calls the vendor");
        let asked = Asked {
            priced: &*step.priced,
            endpoint: step.endpoint,
            http,
        };
        let (vp, spends) = vendor_plan(p, &store, &history, asked, &mut requests).await?;
        for s in spends {
            let (worst, expected) = priced_by_stage.entry(s.stage).or_insert((0.0, 0.0));
            *worst += s.worst;
            *expected += s.expected;
        }
        vendor_plans.push(vp);
    }
    // A stage's credits are those of the requests it asks (a waterfall asks several vendors).
    for (i, (worst, expected)) in priced_by_stage {
        stages[i].credits_worst = worst;
        stages[i].credits_expected = expected;
    }
    let (time_s, time_basis) = total_time(p, &stages, &vendor_plans);
    let all_cached = stages.iter().all(|s| s.paid_requests == 0 && s.rows_uncertain == 0);
    Ok(Plan {
        pipeline: p.name.clone(),
        file: p.file.clone(),
        rows_in,
        stages,
        vendors: vendor_plans,
        time_s,
        time_basis,
        all_cached,
        sandbox_paid_calls: None,
        sandbox_credits_charged: None,
    })
}

/// The walk of every input row through the stages, as the run would take it.
struct Walk<'a> {
    p: &'a ValidPipeline,
    store: &'a Store,
    /// The share of earlier lookups that found an email, for rows whose
    /// email depends on one.
    found_rate: f64,
    rows_in: u64,
    walkers: Vec<Walker<'a>>,
    stages: Vec<StagePlan>,
    /// Requests to buy, per vendor, in input order.
    to_buy: BTreeMap<&'static str, Vec<Buy>>,
}

impl<'a> Walk<'a> {
    fn start(
        p: &'a ValidPipeline,
        store: &'a Store,
        history: &History,
        mut suppressions: HashMap<usize, Suppressions>,
    ) -> Result<Walk<'a>, PlanError> {
        let mut walkers = Vec::new();
        let mut stages = Vec::new();
        for (i, stage) in p.stages.iter().enumerate() {
            walkers.push(Walker::of(stage, store, suppressions.remove(&i))?);
            stages.push(StagePlan {
                stage: crate::pipeline::runner::stage_name(&p.stages, i),
                vendor: Some(stage.vendors())
                    .filter(|v| !v.is_empty() && stage.paid())
                    .map(|mut v| {
                        v.dedup();
                        v.iter().map(|v| v.name()).collect::<Vec<_>>().join(", ")
                    }),
                ..StagePlan::default()
            });
        }
        // The first stage that tells how often a request finds an email.
        let found_rate = walkers
            .iter()
            .flat_map(Walker::steps)
            .find_map(|s| {
                let (average, _) = history.average(s.vendor, s.endpoint)?;
                s.priced.email_found_rate(average)
            })
            .unwrap_or(1.0);
        Ok(Walk {
            p,
            store,
            found_rate,
            rows_in: 0,
            walkers,
            stages,
            to_buy: BTreeMap::new(),
        })
    }

    /// One row through every stage, until one drops it.
    fn row(&mut self, rec: Record) -> Result<(), PlanError> {
        let mut row = Row {
            rec,
            may_gain_email: false,
        };
        for (i, stage) in self.p.stages.iter().enumerate() {
            let sp = &mut self.stages[i];
            sp.rows_in += 1;
            match (&mut self.walkers[i], stage) {
                (Walker::Suppress(list), _) if list.as_ref().is_some_and(|l| l.matches(&row.rec).is_some()) => {
                    sp.rows_dropped += 1;
                    return Ok(());
                }
                (Walker::Dedupe(seen), StageSpec::Dedupe(d)) => {
                    if let Some(key) = dedupe_key(&row.rec, &d.key, d.gmail_canonical)
                        && !seen.insert(key)
                    {
                        sp.rows_dropped += 1;
                        return Ok(());
                    }
                }
                (Walker::Paid(steps), _) => {
                    let mut asked = false;
                    for step in steps {
                        asked |= paid_step(self.store, self.found_rate, step, (i, sp), &mut row, &mut self.to_buy)?;
                    }
                    sp.rows_asking += u64::from(asked);
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// A paid stage meeting a row: the request it would send, whether the cache
/// or an earlier row already answers it, and what buying it would cost.
fn paid_step(
    store: &Store,
    found_rate: f64,
    step: &mut PaidStep<'_>,
    (stage, sp): (usize, &mut StagePlan),
    row: &mut Row,
    to_buy: &mut BTreeMap<&'static str, Vec<Buy>>,
) -> Result<bool, PlanError> {
    let PaidStep {
        priced,
        vendor,
        endpoint,
        seen,
        cache,
    } = step;
    let Some(PlannedAsk { key, worst }) = priced.ask(&row.rec, row.may_gain_email) else {
        return Ok(false);
    };
    let uncertain = key.is_empty();
    let buys = to_buy.entry(vendor.name()).or_default();
    if uncertain {
        // Its email comes only if an earlier stage finds one.
        sp.rows_uncertain += 1;
        buys.push(Buy {
            row: row.rec.id,
            stage,
            key: String::new(),
            worst,
            expected: worst * found_rate,
        });
        return Ok(true);
    }
    let first = seen.insert(key.clone());
    if first {
        sp.requests += 1;
    }
    if cache.contains(&key) {
        sp.cached += u64::from(first);
        follow_cached(store, &**priced, *vendor, &key, &mut row.rec)?;
        return Ok(true);
    }
    if !first {
        return Ok(true);
    }
    sp.paid_requests += 1;
    let worst = if crate::vendors::budget::worst_case(endpoint).is_none() {
        0.0
    } else {
        worst
    };
    buys.push(Buy {
        row: row.rec.id,
        stage,
        key,
        worst,
        expected: worst,
    });
    if gains_email(&**priced, row) {
        row.may_gain_email = true;
    }
    Ok(true)
}

/// The stage that asks a vendor, the endpoint it pays for and its client.
struct Asked<'a> {
    priced: &'a dyn Priced,
    endpoint: &'static str,
    http: &'a VendorHttp,
}

/// One vendor's requests priced: ReachStream's count API tightens the worst
/// case, the state's history gives the expected figure, the rate windows
/// the time, and the balance and budgets the row each would stop at.
async fn vendor_plan(
    p: &ValidPipeline,
    store: &Store,
    history: &History,
    asked: Asked<'_>,
    requests: &mut [Buy],
) -> Result<(VendorPlan, Vec<Spend>), PlanError> {
    let Asked { priced, endpoint, http } = asked;
    let vendor = http.vendor();
    for b in requests.iter_mut().filter(|b| !b.key.is_empty()) {
        b.worst = priced.tighten(http, &b.key, b.worst).await;
    }
    let average = history.average(vendor, endpoint);
    let mut basis = match average {
        Some((a, n)) => format!("history: {a:.2} credits per {endpoint} over {n} earlier requests"),
        None => "no history: the worst case".to_string(),
    };
    let delivered_share = match priced.delivered_share(store, http).await? {
        Some((q, b)) => {
            basis = b;
            Some(q)
        }
        None => None,
    };
    let charged = crate::vendors::budget::worst_case(endpoint).is_some();
    let mut paid = 0u64;
    let spends: Vec<Spend> = requests
        .iter()
        .map(|b| {
            let certain = !b.key.is_empty();
            paid += u64::from(certain && charged);
            let expected = match (certain, delivered_share) {
                (false, _) => b.expected,
                (true, Some(q)) => b.worst * q,
                (true, None) => average.map_or(b.worst, |(a, _)| a.min(b.worst)),
            };
            Spend {
                row: b.row,
                stage: b.stage,
                worst: b.worst,
                expected,
            }
        })
        .collect();
    let sent = sent_before(store, http)?;
    let (time_s, rate) = rate_time(http, priced.http_requests(paid), &sent);
    let balance = match crate::vendors::balance::read(http).await {
        Some(Ok(crate::vendors::balance::Meter::Remaining(n))) => Some(n),
        _ => None,
    };
    let mut limits: Vec<LimitHit> = balance.map(|b| hit("balance".into(), b, &spends)).into_iter().collect();
    let standing =
        crate::vendors::budget::standing(store.conn(), &p.budget, unfinished_run(store, p)?, crate::state::now())?;
    for s in standing {
        if s.key.starts_with(&format!("budget.{}.", vendor.name())) {
            limits.push(hit(s.key, s.left, &spends));
        }
    }
    let plan = VendorPlan {
        vendor: vendor.name(),
        paid_requests: paid,
        credits_worst: spends.iter().map(|s| s.worst).sum(),
        credits_expected: spends.iter().map(|s| s.expected).sum(),
        expected_basis: basis,
        time_s,
        rate,
        balance,
        limits,
    };
    Ok((plan, spends))
}

/// The pipeline's unfinished run, whose run caps the next run continues.
fn unfinished_run(store: &Store, p: &ValidPipeline) -> Result<Option<i64>, StateError> {
    use rusqlite::OptionalExtension;
    Ok(store
        .conn()
        .query_row(
            "SELECT id FROM runs WHERE pipeline = ?1 AND status NOT IN ('done', 'abandoned') ORDER BY id DESC LIMIT 1",
            [&p.name],
            |r| r.get(0),
        )
        .optional()?)
}

/// The first row whose spending passes `left`, worst case and expected.
fn hit(limit: String, left: f64, spends: &[Spend]) -> LimitHit {
    let cross = |f: &dyn Fn(&Spend) -> f64| {
        let mut sum = 0.0;
        spends.iter().find_map(|s| {
            sum += f(s);
            (sum > left + 1e-9).then_some(s.row)
        })
    };
    LimitHit {
        limit,
        left,
        worst_row: cross(&|s| s.worst),
        expected_row: cross(&|s| s.expected),
    }
}

/// Fills the row as the stage would from its cached answer (an email or
/// LinkedIn URL found), so later stages see what the run would show them.
fn follow_cached(
    store: &Store,
    priced: &dyn Priced,
    vendor: Vendor,
    key: &str,
    rec: &mut Record,
) -> Result<(), StateError> {
    if !priced.follows_cache(rec) {
        return Ok(());
    }
    use rusqlite::OptionalExtension;
    let body: Option<String> = store
        .conn()
        .prepare_cached("SELECT response FROM cache WHERE provider = ?1 AND request_key = ?2")?
        .query_row(rusqlite::params![vendor.name(), key], |r| r.get(0))
        .optional()?;
    if let Some(body) = body {
        priced.follow_cached(&body, rec);
    }
    Ok(())
}

/// A stage whose answer may give a row without email one.
fn gains_email(priced: &dyn Priced, row: &Row) -> bool {
    row.rec.identity.email().is_none() && priced.gains_email(&row.rec)
}

/// The dedupe key as the stage compares it (see `stages::dedupe`).
fn dedupe_key(rec: &Record, fields: &[IdentityField], gmail: bool) -> Option<String> {
    let mut key = String::new();
    for field in fields {
        let value = field.get(&rec.identity)?;
        let value = if *field == IdentityField::Email && gmail {
            crate::normalize::gmail_canonical(value)
        } else {
            value.into()
        };
        key.push_str(&value.to_lowercase());
        key.push('\u{1f}');
    }
    Some(key)
}
