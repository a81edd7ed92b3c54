//! The shared HTTP layer every vendor client stands on.
//!
//! One [`VendorHttp`] per vendor, cloned into every stage that calls it, owns
//! the vendor's reqwest client, its rate windows, its concurrency bound, its
//! retry policy, its stop switch and its counters.
//!
//! # Layout
//! - `settings.rs` — [`VendorSettings`]: a `[vendors.x]` table resolved against the contracts' defaults.
//! - `limits.rs` — [`RateGate`]: sliding rate windows plus the vendor-wide 429 pause;
//!   a run starts them from what the state store remembers ([`VendorHttp::remember`]).
//! - `classify.rs` — [`Verdict`]: every reply classified before acting; one classifier per vendor.
//! - `retry.rs` — the backoff schedule (`backon`).
//! - `error.rs` — [`CallError`], what a failed call means for the caller.
//! - `stats.rs` — [`VendorStats`], the counters behind the run report.
//!
//! # One call
//! 1. A stopped vendor fails at once with the error that stopped it.
//! 2. Take a concurrency permit, then wait for the vendor's pause to pass and
//!    for a slot in every rate window; the slot is taken right before sending,
//!    on every attempt (a waiting permit holder sends the moment it gets its
//!    slot, so sends never bunch up behind the semaphore).
//! 3. Send, read the whole body, release the permit (a retry sleeping its
//!    backoff holds no permit: rate, not concurrency, is the binding limit).
//! 4. Classify ([`Classify`]) and act:
//!    - ok → decode (a body that does not decode is *malformed*: transient);
//!    - transient (5xx, 408, timeout, connection error, malformed body, vendor
//!      "try again") → backoff with jitter and retry, up to `max_attempts`
//!      attempts; then a record-level failure "gave up after N attempts: …";
//!    - throttled (429, LeadRocks 111) → pause **the whole vendor** for
//!      `Retry-After` (seconds or HTTP date; without it, the backoff schedule
//!      by how many 429s came in a row) and retry. A 429 is never dropped and
//!      never counts toward `max_attempts`; the cap is time instead: a single
//!      `Retry-After` longer than `max_pause`, or 429s with no other reply in
//!      between for longer than `max_pause` (15 min), stop the vendor with
//!      [`CallError::Throttled`] (a plan quota exhausted for the day looks like
//!      that) so the run can exit resumable instead of hanging;
//!    - record-level (400/404/422…) → returned to the caller;
//!    - fatal (bad key) or out of credits → the vendor is stopped: this call and
//!      every later one return that error, waiting requests and sleeping retries
//!      wake and return it too; requests already on the wire finish (their
//!      answers may have been paid for).
//!
//! Requests are delivered at least once: a POST that timed out may have been
//! processed and is sent again; the call ledger bounds this.
//!
//! # Secrets and telemetry
//! The key is sent in a header only (marked sensitive), never in a URL; base
//! URLs with credentials are refused, redirects leaving the vendor's origin are
//! not followed, transport errors are stripped of their URL, and any message
//! that echoes the key has it replaced by `***`. One `vendor_request` span per
//! call carries `vendor`, `endpoint` (a constant name, never a URL), `method`,
//! `attempt` and `status`; vendor message text is logged at debug level only.

pub(crate) mod classify;
mod error;
mod limits;
mod retry;
pub mod settings;
mod stats;

#[cfg(test)]
mod tests;

use std::collections::HashSet;
use std::error::Error as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use super::decode::DecodeError;
use bytes::Bytes;
use hyper_util::client::legacy::connect::HttpInfo;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, RequestBuilder, StatusCode, Url, multipart, redirect};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, Span, debug, error, field, info_span, warn};

pub use classify::{
    Classify, Reply, Verdict, by_status, describe, error_message, for_vendor, retry_after, status_text, tidy,
};
pub use error::{API_KEY, CallError};
pub use limits::RateGate;
pub use settings::{
    Auth, Contract, DEFAULT_MAX_ATTEMPTS, DEFAULT_MAX_BACKOFF, DEFAULT_MAX_PAUSE, DEFAULT_MIN_BACKOFF, SettingsError,
    Vendor, VendorSettings, default_concurrency,
};
pub use stats::{ErrorCounts, VendorStats};

use stats::Stats;

tokio::task_local! {
    /// What to do when a request of the current call is about to be sent.
    static ON_SEND: Arc<dyn Fn() + Send + Sync>;
}

/// Runs `call` so that `hook` runs right before each request it sends goes on
/// the wire (after its permit and rate slot): the call ledger writes its
/// intent then, not while the request still waits its turn.
pub fn on_send<F: std::future::Future>(
    hook: Arc<dyn Fn() + Send + Sync>,
    call: F,
) -> impl std::future::Future<Output = F::Output> {
    ON_SEND.scope(hook, call)
}

/// What a vendor's rate gate did, for the state store to remember.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateEvent {
    /// A request took its slots and went out.
    Sent(SystemTime),
    /// Every request is held until then (a 429, or a window the vendor says is spent).
    Paused(SystemTime),
}

/// Receives a vendor's [`RateEvent`]s.
pub type RateLog = Arc<dyn Fn(RateEvent) + Send + Sync>;

/// Runs the current call's send hook now: for a request handed to a batch
/// that another task sends (the batch's requests carry many calls).
pub fn handed_to_batch() {
    let _ = ON_SEND.try_with(|hook| hook());
}

/// A vendor's reply, body read in full.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Response {
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }
}

/// The HTTP handle of one vendor; cheap to clone, all clones share limits,
/// pause, stop switch and counters.
#[derive(Clone)]
pub struct VendorHttp {
    inner: Arc<Inner>,
}

struct Inner {
    settings: VendorSettings,
    client: reqwest::Client,
    auth: (HeaderName, HeaderValue),
    gate: RateGate,
    permits: Semaphore,
    classifier: Box<dyn Classify>,
    stats: Stats,
    stopped: OnceLock<CallError>,
    stop: CancellationToken,
    throttle: Mutex<Throttle>,
    /// Local addresses of the connections answers came on (see [`Inner::opened_connection`]).
    connections: Mutex<HashSet<SocketAddr>>,
    /// Where slots taken and pauses go to outlive the process (see [`VendorHttp::log_rates`]).
    rate_log: OnceLock<RateLog>,
    /// The vendor's balance before this process's first purchase (see [`super::balance`]).
    opening_balance: tokio::sync::OnceCell<Option<super::balance::Meter>>,
    /// The run's budgets, which every paid request of this vendor reserves against.
    budget: OnceLock<Arc<crate::vendors::budget::Budget>>,
}

impl Inner {
    /// True when `resp` is the first answer on its connection: the request
    /// waited for that connection to open, so it may have reached the vendor
    /// well after its rate slot was taken (see `limits.rs`).
    fn opened_connection(&self, resp: &reqwest::Response) -> bool {
        resp.extensions()
            .get::<HttpInfo>()
            .is_some_and(|info| crate::sync::lock(&self.connections).insert(info.local_addr()))
    }
}

/// The current run of 429s, vendor-wide.
#[derive(Default)]
struct Throttle {
    /// When the first 429 of the run arrived; cleared by any other reply.
    since: Option<Instant>,
    /// 429s in the run that were sent after the previous pause was set
    /// (stragglers sent before it say nothing new and do not escalate).
    streak: u32,
    paused_at: Option<Instant>,
}

impl std::fmt::Debug for VendorHttp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VendorHttp")
            .field("vendor", &self.inner.settings.vendor)
            .field("base_url", &self.inner.settings.base_url.as_str())
            .finish_non_exhaustive()
    }
}

impl VendorHttp {
    /// A handle with the vendor's own classifier ([`for_vendor`]).
    pub fn new(settings: VendorSettings) -> Result<VendorHttp, SettingsError> {
        let classifier = for_vendor(settings.vendor);
        VendorHttp::with_classifier(settings, classifier)
    }

    /// A handle with a custom classifier (e.g. one that wraps [`for_vendor`]).
    pub fn with_classifier(settings: VendorSettings, classifier: impl Classify) -> Result<VendorHttp, SettingsError> {
        let vendor = settings.vendor;
        let fail = |message: String| SettingsError {
            key: format!("vendors.{vendor}"),
            message,
        };
        let _ = rustls::crypto::ring::default_provider().install_default();
        let origin = settings.base_url.origin();
        let client = reqwest::Client::builder()
            .user_agent(concat!("leadpipe/", env!("CARGO_PKG_VERSION")))
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout.min(Duration::from_secs(10)))
            .pool_max_idle_per_host(settings.concurrency)
            // The key travels in a custom header that reqwest would carry to
            // another host: follow redirects only within the vendor's origin.
            .redirect(redirect::Policy::custom(move |a| {
                if a.previous().len() < 5 && a.url().origin() == origin {
                    a.follow()
                } else {
                    a.stop()
                }
            }))
            .build()
            .map_err(|e| fail(format!("cannot build the HTTP client: {e}")))?;
        let auth = settings
            .auth
            .header(&settings.api_key)
            .ok_or_else(|| fail("api_key is not usable in an HTTP header".into()))?;
        Ok(VendorHttp {
            inner: Arc::new(Inner {
                gate: RateGate::new(&settings.rate_limits),
                permits: Semaphore::new(settings.concurrency),
                client,
                auth,
                classifier: Box::new(classifier),
                stats: Stats::new(),
                stopped: OnceLock::new(),
                stop: CancellationToken::new(),
                throttle: Mutex::new(Throttle::default()),
                connections: Mutex::new(HashSet::new()),
                rate_log: OnceLock::new(),
                opening_balance: tokio::sync::OnceCell::new(),
                budget: OnceLock::new(),
                settings,
            }),
        })
    }

    pub fn vendor(&self) -> Vendor {
        self.inner.settings.vendor
    }

    pub fn settings(&self) -> &VendorSettings {
        &self.inner.settings
    }

    /// The configured path of an endpoint (see [`VendorSettings::path`]).
    pub fn path(&self, endpoint: &str) -> &str {
        self.inner.settings.path(endpoint)
    }

    /// The error that stopped this vendor, if any.
    pub fn stopped(&self) -> Option<CallError> {
        self.inner.stopped.get().cloned()
    }

    /// Stops the vendor from outside a call (e.g. a credit check before a
    /// stage starts); returns the error that stopped it (the first one wins).
    pub fn halt(&self, e: CallError) -> CallError {
        self.stop(e)
    }

    /// The vendor key as the state store names it: a hash, never the key.
    pub fn key_id(&self) -> String {
        let key = self.inner.settings.api_key.expose();
        format!("{:016x}", xxhash_rust::xxh3::xxh3_64(key.as_bytes()))
    }

    /// The longest rate window: how far back the vendor still counts requests.
    pub fn longest_window(&self) -> Option<Duration> {
        self.inner.settings.rate_limits.iter().map(|r| r.per).max()
    }

    /// Starts from what an earlier process left: the times its requests to
    /// this key went out (they fill this process's windows as if it had sent
    /// them, a twentieth of the shortest window later, for the time they took
    /// to reach the vendor) and a 429 pause not over yet.
    pub fn remember(&self, sent: &[SystemTime], paused_until: Option<SystemTime>) {
        let (now, wall) = (Instant::now(), SystemTime::now());
        let at = |t: SystemTime| match wall.duration_since(t) {
            Ok(age) => now.checked_sub(age),
            Err(ahead) => Some(now + ahead.duration()),
        };
        let late = self.inner.settings.rate_limits.iter().map(|r| r.per / 20).min();
        let sent: Vec<Instant> = sent
            .iter()
            .filter_map(|&t| at(t))
            .map(|t| t + late.unwrap_or_default())
            .collect();
        self.inner.gate.remember(&sent);
        if let Some(until) = paused_until.and_then(at) {
            self.inner.gate.pause_until(until);
        }
    }

    /// From now on every paid request reserves its worst case against `budget` (set once).
    pub fn set_budget(&self, budget: Arc<crate::vendors::budget::Budget>) {
        let _ = self.inner.budget.set(budget);
    }

    /// The run's budgets, once set.
    pub fn budget(&self) -> Option<&Arc<crate::vendors::budget::Budget>> {
        self.inner.budget.get()
    }

    /// From now on every slot taken and every pause goes to `log` (set once).
    pub fn log_rates(&self, log: RateLog) {
        let _ = self.inner.rate_log.set(log);
    }

    fn pause(&self, until: Instant) {
        self.inner.gate.pause_until(until);
        if let Some(log) = self.inner.rate_log.get() {
            log(RateEvent::Paused(
                SystemTime::now() + until.saturating_duration_since(Instant::now()),
            ));
        }
    }

    /// Holds every request to this vendor for `wait`, as a 429 would: for a
    /// vendor whose answer says its window is spent (e.g. graph8's
    /// `X-RateLimit-Remaining: 0`), so the next request does not draw a 429.
    pub fn pause_for(&self, wait: Duration) {
        self.pause(Instant::now() + wait);
    }

    /// Counts an answer served from the cache instead of a call.
    pub fn cache_hit(&self) {
        self.inner.stats.cache_hit();
    }

    /// Counts credits an answer cost.
    pub fn add_credits(&self, credits: u64) {
        self.inner.stats.credits(credits);
    }

    /// The vendor's balance, read once, before the first purchase of the run
    /// (`None` for a vendor without a balance API, or one that cannot be read).
    pub async fn opening_balance(&self) -> Option<super::balance::Meter> {
        *self
            .inner
            .opening_balance
            .get_or_init(|| async {
                match super::balance::read(self).await? {
                    Ok(m) => Some(m),
                    Err(e) => {
                        tracing::warn!(vendor = self.vendor().name(), error = %e, "cannot read the balance; credits will be estimated");
                        None
                    }
                }
            })
            .await
    }

    /// The balance [`VendorHttp::opening_balance`] read, if this run bought anything.
    pub fn opened_balance(&self) -> Option<super::balance::Meter> {
        self.inner.opening_balance.get().copied().flatten()
    }

    /// An answer that did not answer its request was refused (see `docs/contracts.md`).
    pub fn answer_refused(&self) {
        self.inner.stats.answer_refused();
    }

    pub fn snapshot(&self) -> VendorStats {
        let window = self.inner.settings.rate_limits.iter().map(|r| r.per).min();
        self.inner
            .stats
            .snapshot(self.vendor(), window.unwrap_or(Duration::from_secs(1)))
    }

    /// `GET path?query`.
    pub async fn get<Q: Serialize + ?Sized>(
        &self,
        endpoint: &'static str,
        path: &str,
        query: &Q,
    ) -> Result<Response, CallError> {
        self.send(endpoint, Method::GET, path, |r| r.query(query)).await
    }

    /// `POST path` with a JSON body.
    pub async fn post_json<B: Serialize + ?Sized>(
        &self,
        endpoint: &'static str,
        path: &str,
        body: &B,
    ) -> Result<Response, CallError> {
        self.send_json(endpoint, Method::POST, path, body).await
    }

    /// `PUT path` with a JSON body.
    pub async fn put_json<B: Serialize + ?Sized>(
        &self,
        endpoint: &'static str,
        path: &str,
        body: &B,
    ) -> Result<Response, CallError> {
        self.send_json(endpoint, Method::PUT, path, body).await
    }

    /// `POST path` with a form-urlencoded body.
    pub async fn post_form<B: Serialize + ?Sized>(
        &self,
        endpoint: &'static str,
        path: &str,
        body: &B,
    ) -> Result<Response, CallError> {
        self.send(endpoint, Method::POST, path, |r| r.form(body)).await
    }

    /// `POST path` with a multipart body; `form` makes a fresh form for each attempt.
    pub async fn post_multipart(
        &self,
        endpoint: &'static str,
        path: &str,
        form: impl Fn() -> multipart::Form,
    ) -> Result<Response, CallError> {
        self.send(endpoint, Method::POST, path, |r| r.multipart(form())).await
    }

    async fn send_json<B: Serialize + ?Sized>(
        &self,
        endpoint: &'static str,
        method: Method,
        path: &str,
        body: &B,
    ) -> Result<Response, CallError> {
        let body = Bytes::from(
            serde_json::to_vec(body).map_err(|e| self.record(None, format!("cannot encode the request body: {e}")))?,
        );
        self.send(endpoint, method, path, |r| {
            r.header(CONTENT_TYPE, "application/json").body(body.clone())
        })
        .await
    }

    /// Decodes a 2xx body as JSON; a body that does not decode is retried as
    /// malformed, then fails the record with the decoder's reason.
    pub async fn call_json<T: DeserializeOwned>(
        &self,
        endpoint: &'static str,
        method: Method,
        path: &str,
        build: impl Fn(RequestBuilder) -> RequestBuilder,
    ) -> Result<T, CallError> {
        self.send_decode(endpoint, method, path, build, |r| Ok(r.json::<T>()?))
            .await
    }

    /// Any request: `build` adds query, headers and body to a request that
    /// already has the URL (`base_url` + `path`), the key and the timeout; it
    /// runs once per attempt.
    pub async fn send(
        &self,
        endpoint: &'static str,
        method: Method,
        path: &str,
        build: impl Fn(RequestBuilder) -> RequestBuilder,
    ) -> Result<Response, CallError> {
        self.send_decode(endpoint, method, path, build, Ok::<_, DecodeError>)
            .await
    }

    /// [`VendorHttp::send`] with a decoder run inside the retry loop: `Err(why)`
    /// marks the reply malformed (transient).
    pub async fn send_decode<T>(
        &self,
        endpoint: &'static str,
        method: Method,
        path: &str,
        build: impl Fn(RequestBuilder) -> RequestBuilder,
        decode: impl Fn(Response) -> Result<T, DecodeError>,
    ) -> Result<T, CallError> {
        let span = info_span!(
            "vendor_request",
            vendor = self.vendor().name(),
            endpoint,
            method = %method,
            attempt = field::Empty,
            status = field::Empty,
        );
        let result = self.run(endpoint, method, path, &build, &decode).instrument(span).await;
        if let Err(e) = &result {
            self.inner.stats.failed(e);
        }
        result
    }

    async fn run<T>(
        &self,
        endpoint: &'static str,
        method: Method,
        path: &str,
        build: &impl Fn(RequestBuilder) -> RequestBuilder,
        decode: &impl Fn(Response) -> Result<T, DecodeError>,
    ) -> Result<T, CallError> {
        if let Some(e) = self.stopped() {
            return Err(e);
        }
        let s = &self.inner.settings;
        let url = self.url(path)?;
        let mut backoff = retry::schedule(s.min_backoff, s.max_backoff);
        let (mut attempts, mut sends) = (0u32, 0u32);
        loop {
            sends += 1;
            Span::current().record("attempt", sends);
            let (started, sent) = self.attempt(&method, &url, build).await?;
            let (status, reason) = match sent {
                Err(e) if e.is_builder() => {
                    let reason = transport_reason(e, s.timeout);
                    return Err(self.record(None, self.redact(reason)));
                }
                Err(e) => (None, self.redact(transport_reason(e, s.timeout))),
                Ok(resp) => {
                    let status = resp.status.as_u16();
                    Span::current().record("status", status);
                    let verdict = self.inner.classifier.classify(&Reply {
                        endpoint,
                        status: resp.status,
                        headers: &resp.headers,
                        body: &resp.body,
                    });
                    if !matches!(verdict, Verdict::Throttle { .. }) {
                        self.end_throttle();
                    }
                    match verdict {
                        Verdict::Ok => match decode(resp) {
                            Ok(t) => return Ok(t),
                            Err(why) => (Some(status), self.redact(format!("malformed response body: {why}"))),
                        },
                        Verdict::Retry(reason) => (Some(status), self.redact(reason)),
                        Verdict::Throttle { retry_after, reason } => {
                            self.throttled(started, retry_after, self.redact(reason))?;
                            self.inner.stats.retry();
                            continue;
                        }
                        Verdict::Record(reason) => {
                            let reason = self.redact(reason);
                            debug!(status, reason, "record-level failure");
                            return Err(self.record(Some(status), reason));
                        }
                        Verdict::Fatal(message) => {
                            return Err(self.stop(CallError::VendorFatal {
                                vendor: self.vendor(),
                                status: Some(status),
                                message: self.redact(message),
                                refused: API_KEY,
                            }));
                        }
                        Verdict::OutOfCredits(message) => {
                            return Err(self.stop(CallError::OutOfCredits {
                                vendor: self.vendor(),
                                message: self.redact(message),
                            }));
                        }
                    }
                }
            };
            // A transient failure: back off, or give up.
            self.inner.stats.transient();
            attempts += 1;
            if attempts >= s.max_attempts {
                warn!(status, attempts, "giving up on transient failures");
                debug!(reason, "last failure");
                return Err(CallError::Record {
                    vendor: self.vendor(),
                    status,
                    reason: format!(
                        "gave up after {attempts} attempt{}: {reason}",
                        if attempts == 1 { "" } else { "s" }
                    ),
                    transient: true,
                });
            }
            let delay = backoff.next().unwrap_or(s.max_backoff);
            warn!(
                status,
                attempt = attempts,
                delay_ms = delay.as_millis() as u64,
                "transient failure, retrying"
            );
            debug!(reason, "transient failure");
            self.inner.stats.retry();
            tokio::select! {
                biased;
                _ = self.inner.stop.cancelled() => return Err(self.stopped_error()),
                _ = tokio::time::sleep(delay) => {}
            }
        }
    }

    /// One HTTP exchange: permit, pause and rate slot, send, read the body.
    /// Returns when the exchange started, and what came back.
    async fn attempt(
        &self,
        method: &Method,
        url: &Url,
        build: &impl Fn(RequestBuilder) -> RequestBuilder,
    ) -> Result<(Instant, Result<Response, reqwest::Error>), CallError> {
        let inner = &*self.inner;
        let permit = tokio::select! {
            biased;
            _ = inner.stop.cancelled() => return Err(self.stopped_error()),
            p = inner.permits.acquire() => p.expect("the semaphore is never closed"),
        };
        let started = tokio::select! {
            biased;
            _ = inner.stop.cancelled() => return Err(self.stopped_error()),
            t = inner.gate.acquire() => t,
        };
        let request = build(
            inner
                .client
                .request(method.clone(), url.clone())
                .header(inner.auth.0.clone(), inner.auth.1.clone()),
        );
        if let Some(log) = inner.rate_log.get() {
            log(RateEvent::Sent(SystemTime::now()));
        }
        let _ = ON_SEND.try_with(|hook| hook());
        inner.stats.request_sent(started);
        // Boxed: only requests holding a permit need the exchange's state
        // (1.7 KB of a RocketReach lookup's 4.8 KB future); the rows of a
        // stage window waiting for a permit do without it.
        let result = Box::pin(async {
            let resp = request.send().await?;
            inner
                .gate
                .answered(started, Instant::now(), inner.opened_connection(&resp));
            let (status, headers) = (resp.status(), resp.headers().clone());
            let body = resp.bytes().await?;
            Ok(Response { status, headers, body })
        })
        .await;
        inner.stats.request_done(Instant::now());
        drop(permit);
        Ok((started, result))
    }

    /// A 429: pause the vendor, or stop it when the wait is beyond `max_pause`.
    fn throttled(&self, started: Instant, retry_after: Option<Duration>, reason: String) -> Result<(), CallError> {
        let inner = &*self.inner;
        let s = &inner.settings;
        inner.stats.rate_limited();
        let now = Instant::now();
        let (wait, since) = {
            let mut t = crate::sync::lock(&inner.throttle);
            if t.paused_at.is_none_or(|p| started >= p) {
                t.streak += 1;
                t.paused_at = Some(now);
            }
            let since = *t.since.get_or_insert(now);
            let wait = retry_after.unwrap_or_else(|| {
                retry::schedule(s.min_backoff, s.max_backoff)
                    .nth(t.streak.max(1) as usize - 1)
                    .unwrap_or(s.max_backoff)
            });
            (wait, since)
        };
        let throttled_for = now - since;
        if wait > s.max_pause || throttled_for + wait > s.max_pause {
            let message = if wait > s.max_pause {
                format!(
                    "{reason}; asked to wait {}, longer than max_pause",
                    humantime::format_duration(wait)
                )
            } else {
                format!("{reason}; 429s with no other reply for longer than max_pause")
            };
            return Err(self.stop(CallError::Throttled {
                vendor: self.vendor(),
                waited: throttled_for,
                message,
            }));
        }
        warn!(
            wait_ms = wait.as_millis() as u64,
            header = retry_after.is_some(),
            "rate limited: pausing every request to this vendor"
        );
        self.pause(now + wait);
        Ok(())
    }

    fn end_throttle(&self) {
        let mut t = crate::sync::lock(&self.inner.throttle);
        if t.since.is_some() {
            *t = Throttle::default();
        }
    }

    /// Stops the vendor; returns the error that stopped it (the first one wins).
    fn stop(&self, e: CallError) -> CallError {
        let inner = &*self.inner;
        let first = inner.stopped.get_or_init(|| {
            error!(class = e.class(), status = e.status(), "{e}");
            e
        });
        inner.stop.cancel();
        first.clone()
    }

    fn stopped_error(&self) -> CallError {
        self.stopped()
            .expect("the stop token is cancelled only after the error is set")
    }

    fn record(&self, status: Option<u16>, reason: String) -> CallError {
        CallError::Record {
            vendor: self.vendor(),
            status,
            reason,
            transient: false,
        }
    }

    /// `base_url` + `path`, without double slashes, never leaving the base's origin.
    fn url(&self, path: &str) -> Result<Url, CallError> {
        let base = &self.inner.settings.base_url;
        settings::check_path(path).map_err(|m| self.record(None, format!("bad request path: {m}")))?;
        let joined = format!("{}{path}", base.as_str().trim_end_matches('/'));
        let url = Url::parse(&joined).map_err(|e| self.record(None, format!("bad request URL: {e}")))?;
        if url.origin() != base.origin() {
            return Err(self.record(None, "request path leaves the vendor's host".into()));
        }
        Ok(url)
    }

    /// Replaces the key with `***` should a vendor message echo it.
    fn redact(&self, text: String) -> String {
        let key = self.inner.settings.api_key.expose();
        if key.len() >= 6 && text.contains(key) {
            text.replace(key, "***")
        } else {
            text
        }
    }
}

/// A transport failure in words, without the URL (it may carry an email).
fn transport_reason(e: reqwest::Error, timeout: Duration) -> String {
    let e = e.without_url();
    if e.is_timeout() {
        return format!("timed out after {}", humantime::format_duration(timeout));
    }
    let what = if e.is_connect() {
        "could not connect"
    } else if e.is_builder() {
        "could not build the request"
    } else {
        "connection failed"
    };
    let mut chain = Vec::new();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if chain.last() != Some(&text) {
            chain.push(text);
        }
        source = s.source();
    }
    if chain.is_empty() {
        format!("{what}: {e}")
    } else {
        format!("{what}: {}", chain.join(": "))
    }
}
