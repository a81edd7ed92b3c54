//! RocketReach person lookups: which key to ask with, the profile a lookup
//! returns, and its status lifecycle (`docs/contracts/rocketreach.md`).
//!
//! A lookup is one paid `GET /person/lookup`; a profile that is not final yet
//! (`waiting`, `searching`, `progress`) is stored as a pending job and
//! polled with `GET /person/checkStatus?ids=…&ids=…`, many ids per call, by one
//! [`StatusPoller`] per run, through the vendor's shared limiter. After a
//! restart a pending id is polled again instead of paying for a new lookup.
//! Cache, coalescing and ledger live in [`super::paid`]; the row-level
//! decisions (what to merge, what to skip) in `stages::rocketreach`.
//!
//! Why one long file: past 800 lines only with its unit tests, which check the correlation and
//! credit rules against hand-written profiles beside the code they test.

pub mod bulk;
pub mod classify;
pub mod webhook;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::Method;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

use super::http::{Auth, CallError, Contract, Vendor, VendorHttp};
use super::paid::{Answer, Fetched, PaidCalls};
use crate::record::{Identity, PersonFields};
use crate::state::writer::{Op, WriterHandle};

/// RocketReach Person Lookup plan presets (the contract's rate-limit table):
/// per minute / hour / day / month.
pub const PLANS: [(&str, [u32; 4]); 4] = [
    ("essentials", [15, 100, 500, 5_000]),
    ("pro", [50, 300, 1_500, 20_000]),
    ("ultimate", [100, 1_000, 3_000, 50_000]),
    ("custom", [250, 2_500, 10_000, 200_000]),
];

/// The plan assumed when a RocketReach table names none: the smallest, so an
/// unconfigured run is slow rather than throttled.
pub const DEFAULT_PLAN: &str = "essentials";

/// What leadpipe relies on of RocketReach's contract.
pub static CONTRACT: Contract = Contract {
    name: "rocketreach",
    base_url: "https://api.rocketreach.co/api/v2",
    auth: Auth::raw("Api-Key"),
    bearer_option: false,
    // Global 10 req/s across all APIs; plan windows are added on top.
    rate_limits: &[(10, 1)],
    plans: &PLANS,
    default_plan: DEFAULT_PLAN,
    timeout: Duration::from_secs(30),
    latency: Duration::from_secs(2),
    paths: &[
        ("person_lookup", "/person/lookup"),
        ("check_status", "/person/checkStatus"),
        ("bulk_lookup", "/bulkLookup"),
        ("person_search", "/person/search"),
        ("company_lookup", "/company/lookup/"),
        ("account", "/account/"),
    ],
    classify: classify::classify,
    balance: Some(|http| Box::pin(super::balance::rocketreach_account(http))),
    charges: true,
    webhook: Some(&webhook::ROUTE),
};

/// The request a row is looked up with, best key first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookupKey {
    pub params: Vec<(&'static str, String)>,
    /// Provider-independent canonical form, the cache and ledger key.
    pub canonical: String,
    /// The row's full name, when it has one: an answer whose surname differs
    /// is another person's (not part of the request or its key).
    pub name_hint: Option<String>,
}

/// LinkedIn URL, else email, else name + current employer.
pub fn lookup_key(id: &Identity) -> Option<LookupKey> {
    let name_hint = id.full_name().map(str::to_string);
    if let Some(url) = id.linkedin_url() {
        return Some(LookupKey {
            params: vec![("linkedin_url", url.to_string())],
            canonical: format!("linkedin_url={url}"),
            name_hint,
        });
    }
    if let Some(email) = id.email() {
        return Some(LookupKey {
            params: vec![("email", email.to_string())],
            canonical: format!("email={email}"),
            name_hint,
        });
    }
    let name = id.full_name()?;
    let employer = id.company().or(id.company_domain())?;
    Some(LookupKey {
        params: vec![("name", name.to_string()), ("current_employer", employer.to_string())],
        canonical: format!(
            "name={}&current_employer={}",
            name.to_lowercase(),
            employer.to_lowercase()
        ),
        name_hint,
    })
}

/// The request a canonical key stands for (the inverse of [`lookup_key`]'s
/// `canonical`), for work submitted by an earlier attempt of the run.
pub fn key_from_canonical(canonical: &str) -> LookupKey {
    let params = canonical
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .filter_map(|(k, v)| {
            let k = ["linkedin_url", "email", "name", "current_employer"]
                .into_iter()
                .find(|known| *known == k)?;
            Some((k, v.to_string()))
        })
        .collect();
    LookupKey {
        params,
        canonical: canonical.to_string(),
        name_hint: None,
    }
}

/// The words of a name, folded for comparison: lowercase, accents and punctuation dropped.
fn name_words(name: &str) -> Vec<String> {
    use unicode_normalization::UnicodeNormalization;
    let folded: String = name
        .nfkd()
        .filter(|c| !unicode_normalization::char::is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .map(|c| if c.is_alphanumeric() { c } else { ' ' })
        .collect();
    folded.split_whitespace().map(str::to_string).collect()
}

/// The LinkedIn URL a request asked with, normalised as profiles' are.
fn asked_linkedin(key: &LookupKey) -> Option<String> {
    let (_, url) = key.params.iter().find(|(p, _)| *p == "linkedin_url")?;
    Some(crate::normalize::linkedin_url(url).unwrap_or_else(|| url.clone()))
}

/// Why `profile` does not answer `key`, if it does not: another LinkedIn
/// URL than the one asked for, or another surname than the request's (or
/// the row's) name. What the profile does not say contradicts nothing; an
/// email is no test (a person's current addresses need not include the
/// one a lookup was made with).
pub fn contradiction(key: &LookupKey, profile: &Profile) -> Option<String> {
    let asked = |k: &str| key.params.iter().find(|(p, _)| *p == k).map(|(_, v)| v.as_str());
    if let (Some(url), Some(got)) = (asked_linkedin(key), profile.linkedin())
        && !url.eq_ignore_ascii_case(&got)
    {
        return Some(format!("profile {} is {got}, not {url}", profile.id_text()));
    }
    let name = asked("name").or(key.name_hint.as_deref());
    if let (Some(name), Some(got)) = (name, profile.name.as_deref()) {
        let (want, have) = (name_words(name), name_words(got));
        if let (Some(w), Some(h)) = (want.last(), have.last())
            && w != h
        {
            return Some(format!("profile {} is {got:?}, not {name:?}", profile.id_text()));
        }
    }
    None
}

/// Whether `profile` answers `key` positively (for deliveries that echo
/// nothing of the request): the same LinkedIn URL, an address equal to the
/// one asked for, or the same name at the same employer.
pub fn answers(key: &LookupKey, profile: &Profile) -> bool {
    if contradiction(key, profile).is_some() {
        return false;
    }
    let asked = |k: &str| key.params.iter().find(|(p, _)| *p == k).map(|(_, v)| v.as_str());
    if let Some(url) = asked_linkedin(key) {
        return profile.linkedin().is_some_and(|got| got.eq_ignore_ascii_case(&url));
    }
    if let Some(email) = asked("email") {
        return profile
            .emails
            .iter()
            .filter_map(|e| e.email.as_deref())
            .any(|e| e.trim().eq_ignore_ascii_case(email));
    }
    let (Some(name), Some(employer)) = (asked("name"), asked("current_employer")) else {
        return false;
    };
    let same_name = profile
        .name
        .as_deref()
        .is_some_and(|n| name_words(n) == name_words(name));
    let employer = employer.trim().to_lowercase();
    let same_employer = [
        profile.current_employer.as_deref(),
        profile.current_employer_domain.as_deref(),
        profile.current_employer_website.as_deref(),
    ]
    .into_iter()
    .flatten()
    .any(|e| {
        let e = e.trim().to_lowercase();
        e == employer || crate::normalize::domain(&e).is_some_and(|d| d == employer)
    });
    same_name && same_employer
}

/// A person profile, read leniently (every field optional; unknown fields ignored).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Profile {
    pub id: Option<i64>,
    pub status: Option<String>,
    pub name: Option<String>,
    pub current_title: Option<String>,
    pub current_employer: Option<String>,
    pub current_employer_domain: Option<String>,
    pub current_employer_website: Option<String>,
    pub linkedin_url: Option<String>,
    pub location: Option<String>,
    pub city: Option<String>,
    pub region: Option<String>,
    pub country: Option<String>,
    pub emails: Vec<ProfileEmail>,
    pub phones: Vec<ProfilePhone>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct ProfileEmail {
    pub email: Option<String>,
    pub smtp_valid: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub grade: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct ProfilePhone {
    pub number: Option<String>,
    pub e164: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub recommended: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grade: Option<String>,
    /// Deprecated by the vendor, still read: `"valid"` marks a valid number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validity: Option<String>,
}

impl Profile {
    pub fn status(&self) -> &str {
        self.status.as_deref().unwrap_or("complete")
    }

    /// `complete` and `failed` end the lifecycle; `not queued` ends it without data.
    pub fn is_terminal(&self) -> bool {
        matches!(self.status(), "complete" | "failed" | "not queued")
    }

    /// The fields merged into a row. `prefer_professional` ranks work addresses first.
    pub fn fields(&self, prefer_professional: bool) -> PersonFields {
        let rank = |e: &ProfileEmail| {
            let kind = match (e.kind.as_deref(), prefer_professional) {
                (Some("professional"), true) => 0,
                (Some("personal"), false) => 0,
                (Some("disposable" | "role-based"), _) => 2,
                _ => 1,
            };
            let grade = match e.grade.as_deref() {
                Some("A") => 0,
                Some("A-") => 1,
                Some("B") => 2,
                Some("B-") => 3,
                Some(_) => 4,
                None => 5,
            };
            let smtp = match e.smtp_valid.as_deref() {
                Some("valid") => 0,
                Some("accept-all") => 1,
                Some("unknown") | None => 2,
                Some(_) => 3,
            };
            // An address the vendor found undeliverable never outranks one that may work.
            let invalid = e.smtp_valid.as_deref() == Some("invalid");
            (invalid, kind, grade, smtp)
        };
        let mut emails: Vec<&ProfileEmail> = self.emails.iter().filter(|e| e.email.is_some()).collect();
        emails.sort_by_key(|e| rank(e)); // stable: the vendor's order breaks ties
        let best = emails.first().filter(|e| e.smtp_valid.as_deref() != Some("invalid"));
        let phone = self
            .phones
            .iter()
            .find(|p| p.recommended == Some(true))
            .or_else(|| self.phones.first())
            .and_then(|p| p.e164.clone().or_else(|| p.number.clone()));
        let location = self.location.clone().or_else(|| {
            let parts: Vec<&str> = [&self.city, &self.region, &self.country]
                .into_iter()
                .flatten()
                .map(String::as_str)
                .collect();
            (!parts.is_empty()).then(|| parts.join(", "))
        });
        PersonFields {
            title: self.current_title.clone(),
            employer: self.current_employer.clone(),
            employer_domain: self.current_employer_domain.clone().or_else(|| {
                self.current_employer_website
                    .as_deref()
                    .and_then(crate::normalize::domain)
            }),
            email: best.and_then(|e| e.email.as_deref()).map(str::to_lowercase),
            email_grade: best.and_then(|e| e.grade.clone()),
            email_smtp: best.and_then(|e| e.smtp_valid.clone()),
            emails: emails
                .iter()
                .filter_map(|e| e.email.as_deref())
                .map(str::to_lowercase)
                .collect(),
            phone,
            phones: self
                .phones
                .iter()
                .filter_map(|p| p.e164.clone().or_else(|| p.number.clone()))
                .collect(),
            linkedin_url: self.linkedin_url.as_deref().and_then(crate::normalize::linkedin_url),
            location,
            vendor_id: self.id,
        }
    }

    /// The profile's LinkedIn URL, normalised.
    fn linkedin(&self) -> Option<String> {
        self.linkedin_url.as_deref().and_then(crate::normalize::linkedin_url)
    }

    fn id_text(&self) -> String {
        self.id.map_or_else(|| "without id".into(), |id| id.to_string())
    }

    /// Credits this answer costs by the contract's charging rules, which
    /// charge on data found, per `lookup_type`: standard = an A/A- email;
    /// premium = an A/A- email or a valid phone; phone = a valid phone;
    /// enrich = a profile; bulk = one export credit per profile found.
    pub fn credits(&self, lookup_type: Option<&str>) -> f64 {
        if self.status() != "complete" {
            return 0.0;
        }
        let good_email = self
            .emails
            .iter()
            .any(|e| e.email.is_some() && matches!(e.grade.as_deref(), Some("A" | "A-")));
        let good_phone = self.phones.iter().any(|p| {
            (p.number.is_some() || p.e164.is_some())
                && (matches!(p.grade.as_deref(), Some("A" | "A-"))
                    || p.validity.as_deref().is_some_and(|v| v.eq_ignore_ascii_case("valid")))
        });
        let charged = match lookup_type.unwrap_or("standard") {
            "premium" | "premium (feeds disabled)" => good_email || good_phone,
            "phone" => good_phone,
            "enrich" | "bulk" => self.id.is_some(),
            _ => good_email,
        };
        if charged { 1.0 } else { 0.0 }
    }
}

/// How a run's RocketReach lookups behave.
#[derive(Debug, Clone)]
pub struct LookupSettings {
    pub poll_interval: Duration,
    /// How long a row waits for a non-final profile before failing with a reason.
    pub deadline: Duration,
    /// Extra query parameters sent with every lookup (e.g. `lookup_type`).
    pub extra: Vec<(&'static str, String)>,
    /// `delivery = "webhook"`: non-final profiles are awaited at the run's
    /// receiver (under `id:<profile id>`) instead of polled.
    pub webhook: Option<crate::vendors::webhook::Receiver>,
}

impl LookupSettings {
    /// The `lookup_type` sent with every lookup, if the pipeline sets one.
    pub fn lookup_type(&self) -> Option<&str> {
        self.extra
            .iter()
            .find(|(k, _)| *k == "lookup_type")
            .map(|(_, v)| v.as_str())
    }
}

/// The RocketReach client of one run.
pub struct RocketReach {
    paid: PaidCalls,
    poller: StatusPoller,
    /// Lookups queued here or at the HTTP layer (see [`Lookups`]).
    lookups: Lookups,
    writer: WriterHandle,
    run_id: i64,
    /// Lookups paid for in an earlier attempt whose profile was not final: request key → profile id.
    pending: Mutex<HashMap<String, i64>>,
    settings: LookupSettings,
}

impl RocketReach {
    pub fn new(
        paid: PaidCalls,
        writer: WriterHandle,
        run_id: i64,
        pending: HashMap<String, i64>,
        settings: LookupSettings,
    ) -> Arc<RocketReach> {
        let lookups = Lookups::new(paid.http().settings().concurrency);
        let poller = StatusPoller::spawn(paid.http().clone(), settings.poll_interval, lookups.clone());
        Arc::new(RocketReach {
            paid,
            poller,
            lookups,
            writer,
            run_id,
            pending: Mutex::new(pending),
            settings,
        })
    }

    pub fn http(&self) -> &VendorHttp {
        self.paid.http()
    }

    /// Look a person up for `row` (once per canonical request, ever, within the cache TTL).
    pub async fn lookup(&self, key: &LookupKey, row: u64) -> Result<Arc<Answer>, CallError> {
        let resume_id = crate::sync::lock(&self.pending).remove(&key.canonical);
        let http = self.paid.http().clone();
        let poller = self.poller.clone();
        let lookups = self.lookups.clone();
        let writer = self.writer.clone();
        let (run_id, deadline) = (self.run_id, self.settings.deadline);
        let webhook = self.settings.webhook.clone();
        let canonical = key.canonical.clone();
        let asked = key.clone();
        let mut params = key.params.clone();
        params.extend(self.settings.extra.iter().cloned());
        let lookup_type = self.settings.lookup_type().map(str::to_string);
        self.paid
            .fetch("person_lookup", &key.canonical, row, move || async move {
                let profile = match resume_id {
                    // Paid for before the restart: collect it instead of buying it again.
                    Some(id) => Profile {
                        id: Some(id),
                        status: Some("waiting".into()),
                        ..Profile::default()
                    },
                    None => {
                        let path = http.path("person_lookup").to_string();
                        let _turn = lookups.turn().await;
                        // Decoded inside the HTTP layer's retry loop: a body that is
                        // not a profile (cut short, not JSON) is retried like a 5xx.
                        let sent = http
                            .send_decode(
                                "person_lookup",
                                Method::GET,
                                &path,
                                |r| r.query(&params),
                                |r| Ok(r.json::<Profile>()?),
                            )
                            .await;
                        match sent {
                            Ok(profile) => profile,
                            Err(CallError::Record { status: Some(404), .. }) => {
                                return Ok(Fetched {
                                    found: false,
                                    body: "null".into(),
                                    credits: 0.0,
                                    http_status: Some(404),
                                });
                            }
                            Err(e) => return Err(e),
                        }
                    }
                };
                let profile = if profile.is_terminal() {
                    profile
                } else {
                    let id = profile.id.ok_or_else(|| CallError::Record {
                        vendor: Vendor::RocketReach,
                        status: None,
                        reason: format!("profile is {:?} but has no id to poll", profile.status()),
                        transient: true,
                    })?;
                    writer.send(Op::PendingPut {
                        provider: "rocketreach",
                        job_id: id.to_string(),
                        kind: "lookup",
                        run_id,
                        request_key: Some(canonical.clone()),
                        payload: None,
                        deadline: Some(crate::state::now() + deadline.as_secs_f64()),
                    });
                    let done = match webhook {
                        Some(receiver) => wait_for_delivery(&receiver, id, deadline).await?,
                        None => poller.wait(id, deadline).await?,
                    };
                    writer.send(Op::PendingState {
                        provider: "rocketreach",
                        job_id: id.to_string(),
                        state: "done",
                    });
                    done
                };
                if let Some(why) = contradiction(&asked, &profile) {
                    http.answer_refused();
                    tracing::warn!(%why, "RocketReach answered another person's profile: refused");
                    return Err(CallError::Record {
                        vendor: Vendor::RocketReach,
                        status: None,
                        reason: format!("RocketReach answered another person ({why}): refused"),
                        transient: true,
                    });
                }
                let found = profile.status() == "complete";
                // A lookup resumed from an earlier attempt of this run was paid
                // by that attempt, whose ledger entry never got its outcome: this
                // entry records the cost once, and the row says what it cost.
                let credits = profile.credits(lookup_type.as_deref());
                let body = serde_json::to_string(&profile).unwrap_or_else(|_| "null".into());
                Ok(Fetched {
                    found,
                    body,
                    credits,
                    http_status: Some(200),
                })
            })
            .await
    }
}

/// A profile delivered by webhook (`delivery = "webhook"`), or a reason at `deadline`.
async fn wait_for_delivery(
    receiver: &crate::vendors::webhook::Receiver,
    id: i64,
    deadline: Duration,
) -> Result<Profile, CallError> {
    let fail = |reason: String| CallError::Record {
        vendor: Vendor::RocketReach,
        status: None,
        reason,
        transient: true,
    };
    let payload = receiver
        .wait("rocketreach", &format!("id:{id}"), deadline)
        .await
        .ok_or_else(|| {
            fail(format!(
                "profile {id} was not delivered within {}",
                humantime::format_duration(deadline)
            ))
        })?;
    serde_json::from_str(&payload).map_err(|e| fail(format!("unreadable delivery of profile {id}: {e}")))
}

type Waiter = (i64, oneshot::Sender<Result<Profile, CallError>>);

/// The lookups of a run waiting for, or holding, the vendor.
///
/// The HTTP layer serves requests first come, first served. Were every row's
/// lookup queued there at once (a stage window holds thousands of rows), a
/// status poll would wait behind all of them, and async rows would only
/// complete once every other row had been looked up. So at most twice the
/// vendor's concurrency of lookups queue there; the others wait here, and a
/// poll waits behind at most `2 × concurrency` requests. The count also tells
/// the poller when the vendor has nothing else to do.
#[derive(Clone)]
struct Lookups {
    queue: Arc<tokio::sync::Semaphore>,
    busy: Arc<AtomicUsize>,
}

/// One lookup's place, counted from the moment it queues; dropping it
/// (answer, error, or cancellation while queued) frees it.
struct Turn {
    busy: Arc<AtomicUsize>,
    _permit: Option<tokio::sync::OwnedSemaphorePermit>,
}

impl Drop for Turn {
    fn drop(&mut self) {
        self.busy.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Lookups {
    fn new(concurrency: usize) -> Lookups {
        Lookups {
            queue: Arc::new(tokio::sync::Semaphore::new(concurrency.saturating_mul(2).max(1))),
            busy: Arc::new(AtomicUsize::new(0)),
        }
    }

    async fn turn(&self) -> Turn {
        self.busy.fetch_add(1, Ordering::Relaxed);
        let mut turn = Turn {
            busy: self.busy.clone(),
            _permit: None,
        };
        turn._permit = Some(self.queue.clone().acquire_owned().await.expect("never closed"));
        turn
    }

    /// No lookup is queued or on the wire.
    fn idle(&self) -> bool {
        self.busy.load(Ordering::Relaxed) == 0
    }
}

/// Polls non-final profiles in batches: one `checkStatus` call per tick for
/// up to 100 ids, through the same limiter as lookups. While lookups keep the
/// vendor busy a tick is `poll_interval`; once none is left (the end of a run,
/// when rows wait only for their profiles) the poller ticks eight times as
/// often, so the last rows do not wait whole intervals on an idle vendor.
#[derive(Clone)]
pub struct StatusPoller {
    tx: mpsc::UnboundedSender<Waiter>,
}

const MAX_IDS_PER_POLL: usize = 100;

impl StatusPoller {
    fn spawn(http: VendorHttp, interval: Duration, lookups: Lookups) -> StatusPoller {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(poll_loop(http, interval, lookups, rx));
        StatusPoller { tx }
    }

    /// Wait until profile `id` is final, or fail with a reason at `deadline`.
    pub async fn wait(&self, id: i64, deadline: Duration) -> Result<Profile, CallError> {
        let (tx, rx) = oneshot::channel();
        let gone = || CallError::Record {
            vendor: Vendor::RocketReach,
            status: None,
            reason: "status poller stopped".into(),
            transient: true,
        };
        self.tx.send((id, tx)).map_err(|_| gone())?;
        match tokio::time::timeout(deadline, rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(gone()),
            Err(_) => Err(CallError::Record {
                vendor: Vendor::RocketReach,
                status: None,
                reason: format!(
                    "profile {id} was not final after {}",
                    humantime::format_duration(deadline)
                ),
                transient: true,
            }),
        }
    }
}

async fn poll_loop(http: VendorHttp, interval: Duration, lookups: Lookups, mut rx: mpsc::UnboundedReceiver<Waiter>) {
    let mut waiting: HashMap<i64, Vec<oneshot::Sender<Result<Profile, CallError>>>> = HashMap::new();
    loop {
        if waiting.is_empty() {
            match rx.recv().await {
                Some((id, tx)) => waiting.entry(id).or_default().push(tx),
                None => return,
            }
        }
        let (start, idle_tick) = (tokio::time::Instant::now(), interval / 8);
        loop {
            let waited = start.elapsed();
            if waited >= interval || (waited >= idle_tick && lookups.idle()) {
                break;
            }
            tokio::time::sleep(idle_tick.min(interval - waited)).await;
        }
        while let Ok((id, tx)) = rx.try_recv() {
            waiting.entry(id).or_default().push(tx);
        }
        waiting.retain(|_, txs| {
            txs.retain(|tx| !tx.is_closed());
            !txs.is_empty()
        });
        let mut ids: Vec<i64> = waiting.keys().copied().collect();
        ids.sort_unstable();
        for chunk in ids.chunks(MAX_IDS_PER_POLL) {
            let query: Vec<(&str, i64)> = chunk.iter().map(|id| ("ids", *id)).collect();
            let path = http.path("check_status").to_string();
            let result = http.get("check_status", &path, &query).await.and_then(|r| {
                r.json::<Vec<Profile>>().map_err(|e| CallError::Record {
                    vendor: Vendor::RocketReach,
                    status: Some(r.status.as_u16()),
                    reason: format!("unreadable checkStatus answer: {e}"),
                    transient: true,
                })
            });
            match result {
                Ok(profiles) => {
                    for p in profiles.into_iter().filter(Profile::is_terminal) {
                        if let Some(txs) = p.id.and_then(|id| waiting.remove(&id)) {
                            for tx in txs {
                                let _ = tx.send(Ok(p.clone()));
                            }
                        }
                    }
                }
                Err(e) if e.stops_vendor() => {
                    for (_, txs) in waiting.drain() {
                        for tx in txs {
                            let _ = tx.send(Err(e.clone()));
                        }
                    }
                }
                // A failed poll is tried again next tick; each row's deadline bounds the wait.
                Err(e) => tracing::debug!(error = %e, "status poll failed; retrying next tick"),
            }
        }
    }
}

/// Pending lookups of earlier attempts of this run (request key → profile id).
pub fn pending_lookups(conn: &rusqlite::Connection, run_id: i64) -> rusqlite::Result<HashMap<String, i64>> {
    let mut stmt = conn.prepare(
        "SELECT request_key, job_id FROM pending_jobs WHERE provider = 'rocketreach' AND kind = 'lookup' AND state = 'pending' AND run_id = ?1",
    )?;
    let rows = stmt.query_map([run_id], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
    let mut out = HashMap::new();
    for row in rows {
        let (key, id) = row?;
        if let Ok(id) = id.parse() {
            out.insert(key, id);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(json: serde_json::Value) -> Profile {
        serde_json::from_value(json).unwrap()
    }

    fn key(params: &[(&'static str, &str)], name_hint: Option<&str>) -> LookupKey {
        LookupKey {
            params: params.iter().map(|(k, v)| (*k, v.to_string())).collect(),
            canonical: String::new(),
            name_hint: name_hint.map(str::to_string),
        }
    }

    #[test]
    fn an_invalid_first_address_does_not_hide_a_valid_one() {
        let p = profile(serde_json::json!({"status": "complete", "emails": [
            {"email": "Old@Acme.com", "smtp_valid": "invalid", "type": "professional", "grade": "A"},
            {"email": "jane@home.net", "smtp_valid": "valid", "type": "personal", "grade": "A-"},
        ]}));
        let f = p.fields(true);
        assert_eq!(f.email.as_deref(), Some("jane@home.net"));
        assert_eq!(f.email_smtp.as_deref(), Some("valid"));
        assert_eq!(
            f.emails.last().map(String::as_str),
            Some("old@acme.com"),
            "kept in the list"
        );
    }

    #[test]
    fn another_persons_profile_contradicts_the_request() {
        let by_url = key(&[("linkedin_url", "linkedin.com/in/jane-doe")], Some("Jane Doe"));
        let other = profile(
            serde_json::json!({"id": 7, "name": "John Roe", "linkedin_url": "https://www.linkedin.com/in/john-roe"}),
        );
        assert!(contradiction(&by_url, &other).is_some());
        let same = profile(
            serde_json::json!({"id": 8, "name": "Jane Doe", "linkedin_url": "https://linkedin.com/in/jane-doe/"}),
        );
        assert_eq!(contradiction(&by_url, &same), None);
        assert!(answers(&by_url, &same));

        let by_email = key(&[("email", "jane@acme.com")], Some("Jane Doé"));
        assert!(
            contradiction(&by_email, &other).is_some(),
            "another surname than the row's"
        );
        let silent = profile(serde_json::json!({"id": 9}));
        assert_eq!(
            contradiction(&by_email, &silent),
            None,
            "what a profile does not say contradicts nothing"
        );
        assert!(!answers(&by_email, &silent), "but it answers nothing by identity");
        let accented = profile(serde_json::json!({"name": "JANE DOE", "emails": [{"email": "Jane@Acme.com"}]}));
        assert!(answers(&by_email, &accented));

        let by_name = key(&[("name", "Jane Doe"), ("current_employer", "acme.com")], None);
        let at_acme = profile(
            serde_json::json!({"name": "Jane Doe", "current_employer": "Acme", "current_employer_domain": "acme.com"}),
        );
        assert!(answers(&by_name, &at_acme));
        let elsewhere = profile(serde_json::json!({"name": "Jane Doe", "current_employer": "Initech"}));
        assert!(!answers(&by_name, &elsewhere));
    }

    #[test]
    fn credits_follow_the_lookup_type_and_the_data_found() {
        let only_b = profile(serde_json::json!({"id": 1, "status": "complete",
            "emails": [{"email": "a@b.co", "grade": "B"}],
            "phones": [{"number": "+1 555", "grade": "A", "validity": "valid"}]}));
        assert_eq!(only_b.credits(None), 0.0, "standard: an A/A- email only");
        assert_eq!(only_b.credits(Some("premium")), 1.0, "premium: or a valid phone");
        assert_eq!(only_b.credits(Some("enrich")), 1.0);
        let graded_a =
            profile(serde_json::json!({"id": 2, "status": "complete", "emails": [{"email": "a@b.co", "grade": "A-"}]}));
        assert_eq!(graded_a.credits(None), 1.0);
        assert_eq!(graded_a.credits(Some("phone")), 0.0);
        let failed =
            profile(serde_json::json!({"id": 3, "status": "failed", "emails": [{"email": "a@b.co", "grade": "A"}]}));
        assert_eq!(failed.credits(Some("bulk")), 0.0);
    }

    #[test]
    fn canonical_keys_give_back_their_request() {
        let id = Identity::default();
        assert!(lookup_key(&id).is_none());
        let k = key_from_canonical("name=jane doe&current_employer=acme.com");
        assert_eq!(
            k.params,
            vec![
                ("name", "jane doe".to_string()),
                ("current_employer", "acme.com".to_string())
            ]
        );
    }
}
