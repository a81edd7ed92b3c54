//! `kind = "leadrocks_verify"`: a verdict on every row's email, paying at most
//! once per distinct email.
//!
//! Per row, first match wins: the stored result of an earlier attempt of this
//! run (resume); no email (skipped); a syntax error, or a local flag when
//! `skip_disposable` / `skip_role` is on (a `local` verdict, free); an address
//! at a domain this run found catch-all when `infer_catch_all` is on (an
//! `inferred` verdict, free); otherwise a paid verdict through
//! [`PaidCalls`]: the cache within its TTL,
//! the answer of an identical row in flight, a bulk list of an earlier attempt
//! (re-attached), and only then the **batcher**.
//!
//! The batcher gathers the distinct emails rows ask for and sends them when it
//! holds a file's worth (`bulk_max_lines - 1`) or when no new email came for
//! `linger` (the input is exhausted or the window is full): below
//! `auto_threshold` pending emails one instant call each, at or above it bulk
//! files (`mode = "auto"`; `instant` and `bulk` force one way). Before its first
//! send it checks `getcredits` against the emails it holds.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

use super::{RowStage, StageContext, StageRow};
use crate::record::{Outcome, Record, Status, Verification, VerificationFields};
use crate::state::StateError;
use crate::state::writer::{Op, WriterHandle};
use crate::units::Span;
use crate::vendors::http::{CallError, Vendor};
use crate::vendors::leadrocks::{BulkSettings, EmailStatus, LeadRocks, ListResult, Verdict, canonical, split_csv};
use crate::vendors::paid::{CachePolicy, Fetched, PaidCalls};

/// How verdicts are bought.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Instant,
    Bulk,
    #[default]
    Auto,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeadRocksSpec {
    /// `instant`, `bulk` or `auto` (default): instant below `auto_threshold` pending emails, bulk from it.
    #[serde(default)]
    pub mode: Mode,
    #[serde(default = "default_threshold")]
    pub auto_threshold: usize,
    /// Go on when `getcredits` shows fewer credits than the stage needs (stop at 103 instead).
    #[serde(default)]
    pub allow_partial: bool,
    /// Give addresses at well-known disposable domains a free local verdict instead of paying.
    #[serde(default)]
    pub skip_disposable: bool,
    /// Give role addresses (info@, sales@ …) a free local verdict instead of paying.
    #[serde(default)]
    pub skip_role: bool,
    /// Once a domain is known catch-all in this run, mark its other addresses catch-all unpaid.
    #[serde(default)]
    pub infer_catch_all: bool,
    /// The batcher sends what it holds when no new email came for this long.
    #[serde(default = "default_linger")]
    pub linger: Span,
    /// The batcher sends what it holds at the latest this long after its first
    /// email, even while emails keep coming.
    #[serde(default = "default_max_wait")]
    pub max_wait: Span,
    /// First bulk progress poll; grows by half per poll up to `max_poll_interval`.
    #[serde(default = "default_poll")]
    pub poll_interval: Span,
    #[serde(default = "default_max_poll")]
    pub max_poll_interval: Span,
    /// How long one bulk list may take.
    #[serde(default = "default_deadline")]
    pub deadline: Span,
    /// Lines per bulk file, header included (the vendor's limit: 10,000).
    #[serde(default = "default_lines")]
    pub bulk_max_lines: usize,
    /// Bytes per bulk file (the vendor's limit: 10 MB).
    #[serde(default = "default_bytes")]
    pub bulk_max_bytes: usize,
    /// Bulk lists running at once (the vendor answers 109 above its cap).
    #[serde(default = "one")]
    pub bulk_lists: usize,
    /// Rows in flight (default 20,000, or 2,048 with `mode = "instant"`).
    #[serde(default)]
    pub window: Option<usize>,
}

fn default_threshold() -> usize {
    1_000
}
fn default_linger() -> Span {
    Span(Duration::from_secs(1))
}
fn default_max_wait() -> Span {
    Span(Duration::from_secs(30))
}
fn default_poll() -> Span {
    Span(Duration::from_secs(5))
}
fn default_max_poll() -> Span {
    Span(Duration::from_secs(60))
}
fn default_deadline() -> Span {
    Span(Duration::from_secs(6 * 3600))
}
fn default_lines() -> usize {
    10_000
}
fn default_bytes() -> usize {
    10_000_000
}
fn one() -> usize {
    1
}

impl LeadRocksSpec {
    /// Problems with the values, as (key, message).
    pub fn check(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if self.window == Some(0) {
            out.push(("window", "must be at least 1".into()));
        }
        if self.bulk_max_lines < 2 || self.bulk_max_lines > 10_000 {
            out.push(("bulk_max_lines", "must be between 2 and 10000 (header included)".into()));
        }
        if self.bulk_max_bytes < 1_024 || self.bulk_max_bytes > 10 * 1024 * 1024 {
            out.push(("bulk_max_bytes", "must be between 1024 and 10485760".into()));
        }
        if self.bulk_lists == 0 {
            out.push(("bulk_lists", "must be at least 1".into()));
        }
        for (key, span) in [("linger", self.linger), ("poll_interval", self.poll_interval)] {
            if span.0.is_zero() {
                out.push((key, "must be longer than zero".into()));
            }
        }
        out
    }
}

/// What the cache stores for one email.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Cached {
    verdict: Verdict,
    method: String,
}

type Reply = oneshot::Sender<Result<(Verdict, &'static str), CallError>>;
type SharedList = Shared<BoxFuture<'static, Result<ListResult, CallError>>>;

/// The running stage.
pub struct VerifyStage {
    spec: LeadRocksSpec,
    paid: PaidCalls,
    batcher: mpsc::UnboundedSender<(String, Reply)>,
    /// Emails in bulk lists uploaded by an earlier attempt of this run.
    attached: HashMap<String, SharedList>,
    catch_all: Mutex<HashSet<String>>,
    stored: HashMap<u64, Verification>,
    writer: WriterHandle,
    run_id: i64,
    name: String,
}

impl RowStage for VerifyStage {
    fn enrich(self: Arc<Self>, rec: Record) -> BoxFuture<'static, StageRow> {
        async move { StageRow::kept(self.verify(rec).await, |r| r.verification.as_ref().map(|v| &v.outcome)) }.boxed()
    }

    fn window(&self) -> usize {
        self.spec
            .window
            .unwrap_or(if self.spec.mode == Mode::Instant { 2_048 } else { 20_000 })
    }
}

/// How `leadpipe plan` prices a verification: one credit per email not
/// free by its own rules, one upload per bulk file.
impl super::priced::Priced for LeadRocksSpec {
    fn endpoint(&self) -> &'static str {
        "verify"
    }

    fn ask(&self, rec: &Record, may_gain_email: bool) -> Option<super::priced::PlannedAsk> {
        match rec.identity.email() {
            Some(email) => {
                let email = canonical(email);
                (!self.free(&email)).then(|| super::priced::PlannedAsk {
                    key: format!("email={email}"),
                    worst: 1.0,
                })
            }
            None if may_gain_email => Some(super::priced::PlannedAsk {
                key: String::new(),
                worst: 1.0,
            }),
            None => None,
        }
    }

    /// One upload per file of up to `bulk_max_lines` lines (its header included).
    fn http_requests(&self, paid: u64) -> u64 {
        if self.mode == Mode::Bulk || (self.mode == Mode::Auto && paid as usize >= self.auto_threshold) {
            let per_file = self.bulk_max_lines.saturating_sub(1).max(1) as u64;
            paid.div_ceil(per_file)
        } else {
            paid
        }
    }

    fn waits(&self) -> (Duration, bool) {
        let bulk = self.mode != Mode::Instant;
        (self.linger.0 + self.poll_interval.0 * 2, bulk)
    }
}

impl super::Stage for LeadRocksSpec {
    fn start(&self, ctx: &StageContext<'_>) -> Result<super::Running, StateError> {
        Ok(super::Running::Rows(Arc::new(VerifyStage::start(self, ctx)?)))
    }

    fn validate(&self, _ctx: &super::CheckContext<'_>) -> Vec<(String, String)> {
        self.check().into_iter().map(|(k, m)| (k.to_string(), m)).collect()
    }

    fn vendors(&self) -> Vec<Vendor> {
        vec![Vendor::LeadRocks]
    }

    fn priced(&self) -> Option<&dyn super::priced::Priced> {
        Some(self)
    }

    fn fills(&self, slots: &mut crate::record::Slots) {
        slots.verification = true;
    }
}

impl VerifyStage {
    pub fn start(spec: &LeadRocksSpec, ctx: &StageContext<'_>) -> Result<VerifyStage, StateError> {
        let policy = CachePolicy::from_spec(ctx.vendor_specs.get(Vendor::LeadRocks), ctx.refresh);
        let http = ctx.http(Vendor::LeadRocks);
        let paid = PaidCalls::new(ctx.state_path, ctx.run_id, http.clone(), ctx.writer.clone(), policy)?;
        let bulk = BulkSettings {
            max_lines: spec.bulk_max_lines,
            max_bytes: spec.bulk_max_bytes,
            poll_interval: spec.poll_interval.0,
            max_poll_interval: spec.max_poll_interval.0.max(spec.poll_interval.0),
            deadline: spec.deadline.0,
        };
        let client = Arc::new(LeadRocks::new(
            http,
            ctx.writer.clone(),
            ctx.run_id,
            bulk,
            spec.bulk_lists,
        ));
        let mut attached = HashMap::new();
        for (list_id, emails) in crate::vendors::leadrocks::pending_lists(ctx.store.conn(), ctx.run_id)? {
            tracing::info!(list_id, emails = emails.len(), "re-attaching a LeadRocks bulk list");
            let c = client.clone();
            let job = tokio::spawn(async move { c.attach(list_id).await });
            let shared: SharedList = async move {
                job.await.unwrap_or_else(|e| {
                    Err(CallError::Record {
                        vendor: Vendor::LeadRocks,
                        status: None,
                        reason: format!("bulk list task failed: {e}"),
                        transient: true,
                    })
                })
            }
            .boxed()
            .shared();
            for e in emails {
                attached.insert(e, shared.clone());
            }
        }
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(batch_loop(client, spec.clone(), rx));
        Ok(VerifyStage {
            spec: spec.clone(),
            paid,
            batcher: tx,
            attached,
            catch_all: Mutex::new(HashSet::new()),
            stored: ctx.stored()?,
            writer: ctx.writer.clone(),
            run_id: ctx.run_id,
            name: ctx.name.clone(),
        })
    }

    pub(crate) async fn verify(&self, mut rec: Record) -> Record {
        if let Some(v) = self.stored.get(&rec.id) {
            rec.verification = Some(Box::new(v.clone()));
            return rec;
        }
        let Some(email) = rec.identity.email().map(canonical) else {
            if let Some(problem) = rec.identity.email_problem {
                // The source's email failed the syntax check: not deliverable, and free to say so.
                let v = local_verdict(EmailStatus::NotValid, problem.to_string(), (None, None));
                return self.keep(rec, v, true);
            }
            let v = Verification {
                fields: VerificationFields::default(),
                outcome: Outcome::now(Status::Skipped, Some("no email to verify".into()), false, 0.0),
            };
            return self.keep(rec, v, true);
        };
        if let Some(v) = self.free_verdict(&email) {
            return self.keep(rec, v, true);
        }
        let answer = self
            .paid
            .fetch("verify", &format!("email={email}"), rec.id, || self.buy(email.clone()))
            .await;
        let v = match answer {
            Ok(a) => match serde_json::from_str::<Cached>(&a.body) {
                Ok(c) => {
                    if c.verdict.status == EmailStatus::CatchAll
                        && let Some((_, domain)) = email.rsplit_once('@')
                    {
                        crate::sync::lock(&self.catch_all).insert(domain.to_string());
                    }
                    Verification {
                        fields: fields(&c.verdict, &c.method),
                        outcome: Outcome::now(Status::Found, None, a.cached, a.credits),
                    }
                }
                Err(e) => Verification {
                    fields: VerificationFields::default(),
                    outcome: Outcome::now(
                        Status::Failed,
                        Some(format!("unreadable cached verdict: {e}")),
                        false,
                        0.0,
                    ),
                },
            },
            Err(e) => {
                // Transient failures and stopped vendors are tried again by the next attempt.
                let last = matches!(e, CallError::Record { transient: false, .. });
                let v = Verification {
                    fields: VerificationFields::default(),
                    outcome: Outcome::now(Status::Failed, Some(e.to_string()), false, 0.0),
                };
                return self.keep(rec, v, last);
            }
        };
        self.keep(rec, v, true)
    }

    /// A verdict that costs nothing: bad syntax, local flags, inferred catch-all.
    /// (`leadpipe plan` applies the same rules but the catch-all inference,
    /// which depends on answers: see [`LeadRocksSpec::free`].)
    fn free_verdict(&self, email: &str) -> Option<Verification> {
        let local = local_verdict;
        if let Err(why) = crate::normalize::check_email(email) {
            return Some(local(EmailStatus::NotValid, why.to_string(), (None, None)));
        }
        let (user, domain) = email.rsplit_once('@')?;
        if self.spec.skip_disposable && DISPOSABLE_DOMAINS.contains(&domain) {
            let role = ROLE_LOCALS.contains(&user);
            return Some(local(
                EmailStatus::Unknown,
                "disposable domain: not sent for verification".into(),
                (Some(true), Some(role)),
            ));
        }
        if self.spec.skip_role && ROLE_LOCALS.contains(&user) {
            return Some(local(
                EmailStatus::Unknown,
                "role address: not sent for verification".into(),
                (None, Some(true)),
            ));
        }
        if self.spec.infer_catch_all && crate::sync::lock(&self.catch_all).contains(domain) {
            return Some(Verification {
                fields: VerificationFields {
                    status: Some(EmailStatus::CatchAll.as_str().into()),
                    safe_to_send: Some(false),
                    method: Some("inferred".into()),
                    ..VerificationFields::default()
                },
                outcome: Outcome::now(
                    Status::Found,
                    Some("inferred: the domain is catch-all".into()),
                    false,
                    0.0,
                ),
            });
        }
        None
    }

    /// A paid verdict: from a re-attached bulk list, else from the batcher.
    fn buy(&self, email: String) -> impl Future<Output = Result<Fetched, CallError>> + Send + 'static {
        let list = self.attached.get(&email).cloned();
        let batcher = self.batcher.clone();
        async move {
            if let Some(list) = list {
                match list.await {
                    Ok(verdicts) if verdicts.contains_key(&email) => {
                        // Paid for by the attempt of this run that uploaded the
                        // list: the row says what its verdict cost, as it would
                        // had the attempt not been cut short.
                        return Ok(fetched(&verdicts[&email], "bulk", 1.0));
                    }
                    Ok(_) => {}
                    Err(e) if e.stops_vendor() => return Err(e),
                    Err(e) => tracing::warn!(error = %e, "a re-attached bulk list failed; verifying again"),
                }
            }
            let (tx, rx) = oneshot::channel();
            let gone = || CallError::Record {
                vendor: Vendor::LeadRocks,
                status: None,
                reason: "the verification batcher stopped".into(),
                transient: true,
            };
            crate::vendors::http::handed_to_batch();
            batcher.send((email, tx)).map_err(|_| gone())?;
            let (verdict, method) = rx.await.map_err(|_| gone())??;
            Ok(fetched(&verdict, method, 1.0))
        }
    }

    fn keep(&self, mut rec: Record, v: Verification, store: bool) -> Record {
        if store && !rec.unsettled() {
            self.writer.send(Op::StageResult {
                run_id: self.run_id,
                stage: self.name.clone(),
                record_id: rec.id,
                outcome: v.outcome.status.as_str(),
                fields: serde_json::to_string(&v).ok(),
                reason: v.outcome.reason.clone(),
            });
        }
        rec.verification = Some(Box::new(v));
        rec
    }
}

impl LeadRocksSpec {
    /// `email` gets a verdict without a paid call, whatever the answers of
    /// the run: bad syntax, a disposable domain or a role address when skipped.
    pub fn free(&self, email: &str) -> bool {
        if crate::normalize::check_email(email).is_err() {
            return true;
        }
        let Some((user, domain)) = email.rsplit_once('@') else {
            return true;
        };
        (self.skip_disposable && DISPOSABLE_DOMAINS.contains(&domain))
            || (self.skip_role && ROLE_LOCALS.contains(&user))
    }
}

/// A verdict reached without the vendor (`disposable`, `role_account` as known locally).
fn local_verdict(status: EmailStatus, reason: String, flags: (Option<bool>, Option<bool>)) -> Verification {
    Verification {
        fields: VerificationFields {
            status: Some(status.as_str().into()),
            safe_to_send: Some(false),
            disposable: flags.0,
            free_account: None,
            role_account: flags.1,
            method: Some("local".into()),
        },
        outcome: Outcome::now(Status::Found, Some(reason), false, 0.0),
    }
}

fn fetched(v: &Verdict, method: &str, credits: f64) -> Fetched {
    let body = serde_json::to_string(&Cached {
        verdict: v.clone(),
        method: method.to_string(),
    })
    .unwrap_or_else(|_| "null".into());
    Fetched {
        found: v.status.definitive(),
        body,
        credits,
        http_status: Some(200),
    }
}

fn fields(v: &Verdict, method: &str) -> VerificationFields {
    VerificationFields {
        status: Some(v.status.as_str().into()),
        safe_to_send: v.safe_to_send,
        disposable: v.disposable,
        free_account: v.free_account,
        role_account: v.role_account,
        method: Some(method.into()),
    }
}

/// Gathers distinct emails and sends them instant or bulk (see the module doc).
async fn batch_loop(client: Arc<LeadRocks>, spec: LeadRocksSpec, mut rx: mpsc::UnboundedReceiver<(String, Reply)>) {
    let per_file = spec.bulk_max_lines.saturating_sub(1).max(1);
    let linger = spec.linger.0;
    let max_wait = spec.max_wait.0.max(linger);
    let mut checked = false;
    let mut pending: Vec<(String, Reply)> = Vec::new();
    let mut open = true;
    // Bulk files sent and not yet answered.
    let lists = Arc::new(AtomicUsize::new(0));
    while open || !pending.is_empty() {
        if pending.is_empty() {
            match rx.recv().await {
                Some(item) => pending.push(item),
                None => return,
            }
        }
        let first = tokio::time::Instant::now();
        // The first send waits for the window to fill, so the credit check counts what it can.
        // While bulk lists run, their rows bring new emails as they complete: gather
        // those for the next file rather than trickle them out one by one.
        // Instant mode sends at once (after the credit check): batching buys it nothing.
        let enough = if spec.mode == Mode::Instant && checked {
            1
        } else {
            per_file
        };
        while open && (pending.len() < enough || !checked) {
            let idle = lists.load(Ordering::Relaxed) == 0;
            if idle && first.elapsed() >= max_wait {
                break;
            }
            match tokio::time::timeout(linger, rx.recv()).await {
                Ok(Some(item)) => pending.push(item),
                Ok(None) => open = false,
                Err(_) if lists.load(Ordering::Relaxed) == 0 => break,
                Err(_) => {}
            }
        }
        let batch = std::mem::take(&mut pending);
        if let Some(e) = client.http().stopped() {
            fail(batch, &e);
            continue;
        }
        if !checked {
            checked = true;
            if let Err(e) = check_credits(&client, &spec, batch.len()).await {
                fail(batch, &e);
                continue;
            }
        }
        let bulk = match spec.mode {
            Mode::Instant => false,
            Mode::Bulk => true,
            // An account without a bulk API we know of verifies instantly.
            Mode::Auto => batch.len() >= spec.auto_threshold && !client.bulk_unavailable(),
        };
        tracing::debug!(
            emails = batch.len(),
            bulk,
            waited_ms = first.elapsed().as_millis() as u64,
            "sending emails for verification"
        );
        if bulk {
            send_bulk(&client, batch, &lists, spec.mode == Mode::Auto);
        } else {
            send_instant(&client, batch);
        }
    }
}

/// One `verify-instant` call per email, each on its own task (the rate limiter paces them).
fn send_instant(client: &Arc<LeadRocks>, batch: Vec<(String, Reply)>) {
    for (email, reply) in batch {
        let c = client.clone();
        tokio::spawn(async move {
            let r = c.instant(&email).await.map(|v| (v, "instant"));
            let _ = reply.send(r);
        });
    }
}

/// `getcredits` against the distinct unverified emails held: refuse (stop the
/// vendor, exit 4) at 0 credits, or below the need unless `allow_partial`.
async fn check_credits(client: &LeadRocks, spec: &LeadRocksSpec, needed: usize) -> Result<(), CallError> {
    let credits = match client.credits().await {
        Ok(c) => c,
        Err(e) if e.stops_vendor() => return Err(e),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the LeadRocks credit balance; going on");
            return Ok(());
        }
    };
    if credits == 0 || (credits < needed as u64 && !spec.allow_partial) {
        let message = format!(
            "getcredits shows {credits} credits, and this stage has at least {needed} distinct unverified email{} to verify; \
             add credits{}",
            if needed == 1 { "" } else { "s" },
            if credits == 0 {
                ""
            } else {
                ", or set allow_partial = true to verify as many as they pay for"
            }
        );
        return Err(client.http().halt(CallError::OutOfCredits {
            vendor: Vendor::LeadRocks,
            message,
        }));
    }
    tracing::info!(credits, first_batch = needed, "LeadRocks credit balance");
    Ok(())
}

fn fail(batch: Vec<(String, Reply)>, e: &CallError) {
    for (_, reply) in batch {
        let _ = reply.send(Err(e.clone()));
    }
}

/// Split into files and run each as a bulk list; each file's rows get their
/// verdicts as soon as its list is downloaded. With `or_instant`, a file the
/// vendor has no bulk path for is verified instantly instead.
fn send_bulk(client: &Arc<LeadRocks>, batch: Vec<(String, Reply)>, lists: &Arc<AtomicUsize>, or_instant: bool) {
    let emails: Vec<String> = batch.iter().map(|(e, _)| e.clone()).collect();
    let mut replies: HashMap<String, Reply> = batch.into_iter().collect();
    let bulk = client.bulk();
    for (file_emails, bytes) in split_csv(&emails, bulk.max_lines, bulk.max_bytes) {
        let mine: Vec<(String, Reply)> = file_emails.iter().filter_map(|e| replies.remove_entry(e)).collect();
        let c = client.clone();
        lists.fetch_add(1, Ordering::Relaxed);
        let lists = lists.clone();
        tokio::spawn(async move {
            let result = c.bulk_file(&file_emails, bytes).await;
            lists.fetch_sub(1, Ordering::Relaxed);
            match result {
                Ok(verdicts) => {
                    for (email, reply) in mine {
                        let r = verdicts
                            .get(&email)
                            .cloned()
                            .map(|v| (v, "bulk"))
                            .ok_or_else(|| CallError::Record {
                                vendor: Vendor::LeadRocks,
                                status: None,
                                reason: "the bulk result has no row for this email".into(),
                                transient: true,
                            });
                        let _ = reply.send(r);
                    }
                }
                Err(_) if or_instant && c.bulk_unavailable() => {
                    tracing::warn!("LeadRocks has no bulk API on any known path: verifying instantly");
                    send_instant(&c, mine);
                }
                Err(e) => fail(mine, &e),
            }
        });
    }
    for (_, reply) in replies {
        let _ = reply.send(Err(CallError::Record {
            vendor: Vendor::LeadRocks,
            status: None,
            reason: "the address is too long for a bulk file".into(),
            transient: false,
        }));
    }
}

/// Well-known disposable-mail domains (`skip_disposable`).
const DISPOSABLE_DOMAINS: &[&str] = &[
    "mailinator.com",
    "guerrillamail.com",
    "10minutemail.com",
    "tempmail.com",
    "temp-mail.org",
    "yopmail.com",
    "trashmail.com",
    "sharklasers.com",
    "getnada.com",
    "dispostable.com",
    "maildrop.cc",
    "throwawaymail.com",
    "fakeinbox.com",
    "mailnesia.com",
    "emailondeck.com",
];

/// Local parts of role addresses (`skip_role`).
const ROLE_LOCALS: &[&str] = &[
    "admin",
    "billing",
    "contact",
    "hello",
    "help",
    "hr",
    "info",
    "jobs",
    "marketing",
    "noreply",
    "no-reply",
    "office",
    "postmaster",
    "sales",
    "support",
    "team",
    "webmaster",
];
