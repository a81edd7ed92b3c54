//! The run's webhook receiver: where vendors deliver async results.
//!
//! Started by the runner when a stage needs it ([`crate::stages::StageSpec::needs_webhook`]),
//! on the `[webhook] listen` address, and stopped when the stages are done.
//! Each vendor that delivers by webhook names its route and its handling in
//! its contract ([`WebhookRoute`], e.g. `POST /reachstream`); this module
//! mounts one route per such vendor and owns what every delivery shares. It
//! knows no vendor's payloads.
//!
//! A delivery is size-limited (`max_body_bytes`, 413), authenticated and read
//! by its vendor's handler (401 and nothing stored without the right secret or
//! signature, compared in constant time), **stored** in the state store's
//! `webhook_deliveries` table, and only then acknowledged with 200. A crash
//! before the 200 loses nothing: the vendor retries. A delivery kept as parts
//! ([`Receiver::store_part`]) keeps each distinct post under `<id>#<hash of
//! the body>`, so a vendor that sends one answer in several posts loses none,
//! and a repeated post changes nothing; one kept whole ([`Receiver::store`])
//! keeps the first payload per key.
//!
//! Stages wait for a key with [`Receiver::wait`]; a payload that arrived
//! before the wait began (in this run, or in an earlier attempt of it that was
//! killed) is found in the store.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::DefaultBodyLimit;
use axum::http::{Extensions, HeaderMap, StatusCode};
use axum::routing::post;
use futures::future::BoxFuture;
use rusqlite::{Connection, OptionalExtension, params};
use serde::Deserialize;
use subtle::ConstantTimeEq;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use crate::secret::Secret;
use crate::state::{StateError, connect, now};
use crate::vendors::Vendor;
use crate::vendors::spec::VendorsSpec;

/// `[webhook]`: where the run's receiver listens.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSpec {
    /// Address to bind, e.g. `"0.0.0.0:8787"`; port 0 picks a free port
    /// (useful only when the vendor is told the URL at run time, as `--sandbox` does).
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// The URL vendors are configured to post to, when it is not
    /// `http://<listen>` (a tunnel or reverse proxy in front of the receiver).
    /// Routes are appended: `<public_url>/<vendor>`.
    #[serde(default)]
    pub public_url: Option<String>,
    /// Largest accepted delivery body; larger ones get 413.
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
}

impl Default for WebhookSpec {
    fn default() -> Self {
        WebhookSpec {
            listen: default_listen(),
            public_url: None,
            max_body_bytes: default_max_body(),
        }
    }
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

fn default_max_body() -> usize {
    64 * 1024 * 1024
}

/// How one vendor delivers to the receiver: its route and its handling.
/// A vendor's contract names it ([`crate::vendors::http::Contract::webhook`]).
pub struct WebhookRoute {
    /// The route under the receiver's URL, e.g. `/reachstream`.
    pub path: &'static str,
    /// Authenticate, read and store one delivery; the status to answer.
    pub receive: fn(Delivery) -> BoxFuture<'static, StatusCode>,
    /// The sandbox simulator's config patch that points its webhook at `url`
    /// (signing with `secret`, when the vendor signs).
    pub sandbox: fn(url: &str, secret: Option<&Secret>) -> serde_json::Value,
}

/// One post to a vendor's route, as its handler gets it.
pub struct Delivery {
    pub receiver: Receiver,
    pub vendor: Vendor,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// The secrets deliveries are checked against, by vendor: each vendor's
/// `[vendors.<name>] webhook_secret`.
#[derive(Debug, Clone, Default)]
pub struct Secrets(BTreeMap<Vendor, Secret>);

impl Secrets {
    /// The webhook secrets of the vendors that deliver by webhook.
    pub fn of(vendors: &VendorsSpec) -> Secrets {
        routes()
            .filter_map(|(v, _)| Some((v, vendors.get(v)?.webhook_secret.clone()?)))
            .collect()
    }

    pub fn get(&self, vendor: Vendor) -> Option<&Secret> {
        self.0.get(&vendor)
    }
}

impl FromIterator<(Vendor, Secret)> for Secrets {
    fn from_iter<I: IntoIterator<Item = (Vendor, Secret)>>(iter: I) -> Secrets {
        Secrets(iter.into_iter().collect())
    }
}

/// The vendors that deliver by webhook, with their routes.
fn routes() -> impl Iterator<Item = (Vendor, &'static WebhookRoute)> {
    Vendor::ALL.iter().filter_map(|&v| Some((v, v.contract().webhook?)))
}

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("webhook receiver: cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    State(#[from] StateError),
    #[error("cannot point the sandbox's webhooks at the run: {base:?} is not a URL: {source}")]
    SandboxUrl {
        base: String,
        #[source]
        source: url::ParseError,
    },
    #[error("cannot point the sandbox's webhooks at the run: {0}")]
    SandboxUnreachable(#[source] reqwest::Error),
    #[error("cannot point the sandbox's webhooks at the run: the sandbox answered {0}")]
    SandboxRefused(reqwest::StatusCode),
}

/// The running receiver; cheap to clone.
#[derive(Clone)]
pub struct Receiver {
    inner: Arc<Inner>,
}

struct Inner {
    conn: Mutex<Connection>,
    /// Each vendor's own state of its deliveries, by type ([`Receiver::state`]).
    vendor_state: Mutex<Extensions>,
    secrets: Secrets,
    slots: Mutex<Slots>,
    addr: SocketAddr,
    public_url: String,
    stop: CancellationToken,
    /// The run's shutdown (Ctrl-C): waiters give up so the run can exit resumable.
    shutdown: CancellationToken,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// Payloads that arrived in this run, and the waiters of those not yet arrived.
#[derive(Default)]
struct Slots {
    arrived: HashMap<String, Arc<str>>,
    waiting: HashMap<String, Vec<oneshot::Sender<Arc<str>>>>,
}

/// One stored post of a multi-part delivery.
#[derive(Debug, Clone)]
pub struct Part {
    pub payload: String,
    /// Seconds since the epoch, as [`crate::state::now`].
    pub received_at: f64,
}

fn slot(provider: &str, id: &str) -> String {
    format!("{provider}:{id}")
}

impl std::fmt::Debug for Receiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receiver")
            .field("addr", &self.inner.addr)
            .finish_non_exhaustive()
    }
}

impl Receiver {
    /// Bind and serve until [`Receiver::stop`].
    pub async fn start(
        spec: &WebhookSpec,
        state: &Path,
        secrets: Secrets,
        shutdown: CancellationToken,
    ) -> Result<Receiver, WebhookError> {
        let listener = tokio::net::TcpListener::bind(spec.listen)
            .await
            .map_err(|source| WebhookError::Bind {
                addr: spec.listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| WebhookError::Bind {
            addr: spec.listen,
            source,
        })?;
        let public_url = spec
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{addr}"))
            .trim_end_matches('/')
            .to_string();
        let inner = Arc::new(Inner {
            conn: Mutex::new(connect(state)?),
            vendor_state: Mutex::new(Extensions::new()),
            secrets,
            slots: Mutex::new(Slots::default()),
            addr,
            public_url,
            stop: CancellationToken::new(),
            shutdown,
            task: Mutex::new(None),
        });
        let app = router(inner.clone(), spec.max_body_bytes);
        let stop = inner.stop.clone();
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async move { stop.cancelled().await })
                .await;
            if let Err(e) = served {
                tracing::error!(error = %e, "webhook receiver stopped");
            }
        });
        *crate::sync::lock(&inner.task) = Some(task);
        tracing::info!(%addr, "webhook receiver listening");
        Ok(Receiver { inner })
    }

    /// The address it is bound to.
    pub fn addr(&self) -> SocketAddr {
        self.inner.addr
    }

    /// The URL `vendor` must post to (its contract's route under the public URL).
    pub fn url(&self, vendor: Vendor) -> Option<String> {
        let route = vendor.contract().webhook?;
        Some(format!("{}{}", self.inner.public_url, route.path))
    }

    /// The secret `vendor`'s deliveries are checked against, if configured.
    pub fn secret(&self, vendor: Vendor) -> Option<&Secret> {
        self.inner.secrets.get(vendor)
    }

    /// A vendor's own state of its deliveries (created empty on first use).
    pub fn state<T: Default + Send + Sync + 'static>(&self) -> Arc<T> {
        let mut all = crate::sync::lock(&self.inner.vendor_state);
        if let Some(state) = all.get::<Arc<T>>() {
            return state.clone();
        }
        let state = Arc::new(T::default());
        all.insert(state.clone());
        state
    }

    /// Store each `(key, payload)` of one delivery durably (the first payload
    /// per key wins) and wake their waiters; the status to answer (500 when
    /// the store failed, so the vendor retries).
    pub async fn store(&self, provider: &'static str, keyed: Vec<(String, String)>) -> StatusCode {
        let inner = self.inner.clone();
        let stored = tokio::task::spawn_blocking(move || {
            keyed
                .iter()
                .try_for_each(|(key, payload)| inner.deliver(provider, key, payload))
        })
        .await;
        answer(provider, stored)
    }

    /// Store one post of a delivery that may come in several (see the module
    /// doc) and wake the waiters of `id`; the status to answer.
    pub async fn store_part(&self, provider: &'static str, id: String, payload: String) -> StatusCode {
        let inner = self.inner.clone();
        let stored = tokio::task::spawn_blocking(move || inner.deliver_part(provider, &id, &payload)).await;
        answer(provider, stored)
    }

    /// [`Receiver::store`] of one payload, from blocking code.
    pub fn store_blocking(&self, provider: &'static str, key: &str, payload: &str) -> rusqlite::Result<()> {
        self.inner.deliver(provider, key, payload)
    }

    /// The payloads kept for `provider` under a key starting with one of `prefixes`.
    pub fn stored_under(&self, provider: &str, prefixes: &[&str]) -> rusqlite::Result<Vec<String>> {
        let conn = crate::sync::lock(&self.inner.conn);
        let mut stmt = conn.prepare_cached(
            "SELECT payload FROM webhook_deliveries WHERE provider = ?1
             AND substr(delivery_key, 1, length(?2)) = ?2 ORDER BY delivery_key",
        )?;
        let mut out = Vec::new();
        for prefix in prefixes {
            let rows = stmt.query_map(params![provider, prefix], |r| r.get(0))?;
            for payload in rows {
                out.push(payload?);
            }
        }
        Ok(out)
    }

    /// The payload delivered for `id`, waiting for it at most `within`
    /// (`None` if it has not come by then, or the run is shutting down: what
    /// was submitted stays pending for the next run).
    pub async fn wait(&self, provider: &str, id: &str, within: Duration) -> Option<Arc<str>> {
        let key = slot(provider, id);
        let rx = {
            let mut slots = crate::sync::lock(&self.inner.slots);
            if let Some(p) = slots.arrived.get(&key) {
                return Some(p.clone());
            }
            if let Some(p) = self.inner.stored(provider, id) {
                let p: Arc<str> = p.into();
                slots.arrived.insert(key, p.clone());
                return Some(p);
            }
            let (tx, rx) = oneshot::channel();
            slots.waiting.entry(key).or_default().push(tx);
            rx
        };
        tokio::select! {
            got = tokio::time::timeout(within, rx) => got.ok()?.ok(),
            _ = self.inner.shutdown.cancelled() => None,
        }
    }

    /// Every stored post delivered for `id`, oldest first, once there are
    /// more than `have` of them, or as they are after `within` (or when the
    /// run is shutting down).
    pub async fn wait_parts(&self, provider: &str, id: &str, have: usize, within: Duration) -> Vec<Part> {
        let key = slot(provider, id);
        let rx = {
            let mut slots = crate::sync::lock(&self.inner.slots);
            let parts = self.inner.parts(provider, id);
            if parts.len() > have {
                return parts;
            }
            let (tx, rx) = oneshot::channel();
            slots.waiting.entry(key).or_default().push(tx);
            rx
        };
        tokio::select! {
            _ = tokio::time::timeout(within, rx) => {},
            _ = self.inner.shutdown.cancelled() => {},
        }
        self.inner.parts(provider, id)
    }

    /// Paid deliveries kept because they matched no request, by provider.
    pub fn unmatched(&self) -> u64 {
        let conn = crate::sync::lock(&self.inner.conn);
        conn.query_row(
            "SELECT count(*) FROM webhook_deliveries WHERE delivery_key LIKE 'unmatched:%'",
            [],
            |r| r.get::<_, i64>(0),
        )
        .map_or(0, |n| n as u64)
    }

    /// A payload is kept for `id` (this run's or an earlier one's).
    pub fn has_delivery(&self, provider: &str, id: &str) -> bool {
        let arrived = self
            .inner
            .slots
            .lock()
            .expect("slots lock")
            .arrived
            .contains_key(&slot(provider, id));
        arrived || self.inner.stored(provider, id).is_some()
    }

    /// The run is stopping: what is awaited stays pending for the next run.
    pub fn shutting_down(&self) -> bool {
        self.inner.shutdown.is_cancelled()
    }

    /// Stop listening; waits briefly for deliveries being stored to finish.
    pub async fn stop(&self) {
        self.inner.stop.cancel();
        let task = crate::sync::lock(&self.inner.task).take();
        if let Some(mut task) = task
            && tokio::time::timeout(Duration::from_secs(2), &mut task).await.is_err()
        {
            task.abort();
        }
    }
}

impl Inner {
    fn stored(&self, provider: &str, id: &str) -> Option<String> {
        let conn = crate::sync::lock(&self.conn);
        conn.query_row(
            "SELECT payload FROM webhook_deliveries WHERE provider = ?1 AND delivery_key = ?2",
            params![provider, id],
            |r| r.get(0),
        )
        .optional()
        .unwrap_or_else(|e| {
            tracing::warn!(error = %e, "cannot read webhook deliveries");
            None
        })
    }

    fn parts(&self, provider: &str, id: &str) -> Vec<Part> {
        let conn = crate::sync::lock(&self.conn);
        let read = || -> rusqlite::Result<Vec<Part>> {
            let mut stmt = conn.prepare_cached(
                "SELECT payload, received_at FROM webhook_deliveries WHERE provider = ?1
                 AND (delivery_key = ?2 OR substr(delivery_key, 1, length(?2) + 1) = ?2 || '#')
                 ORDER BY received_at, delivery_key",
            )?;
            let rows = stmt.query_map(params![provider, id], |r| {
                Ok(Part {
                    payload: r.get(0)?,
                    received_at: r.get(1)?,
                })
            })?;
            rows.collect()
        };
        read().unwrap_or_else(|e| {
            tracing::warn!(error = %e, "cannot read webhook deliveries");
            Vec::new()
        })
    }

    /// Store one post of a multi-part delivery durably, then wake its waiters.
    fn deliver_part(&self, provider: &'static str, id: &str, payload: &str) -> Result<(), rusqlite::Error> {
        let part = format!("{id}#{:016x}", xxhash_rust::xxh3::xxh3_64(payload.as_bytes()));
        {
            let conn = crate::sync::lock(&self.conn);
            conn.execute(
                "INSERT OR IGNORE INTO webhook_deliveries (provider, delivery_key, payload, received_at) VALUES (?1, ?2, ?3, ?4)",
                params![provider, part, payload, now()],
            )?;
        }
        let mut slots = crate::sync::lock(&self.slots);
        for tx in slots.waiting.remove(&slot(provider, id)).unwrap_or_default() {
            let _ = tx.send(Arc::from(""));
        }
        Ok(())
    }

    /// Store durably (first payload per id wins), then wake the waiters.
    fn deliver(&self, provider: &'static str, id: &str, payload: &str) -> Result<(), rusqlite::Error> {
        {
            let conn = crate::sync::lock(&self.conn);
            conn.execute(
                "INSERT OR IGNORE INTO webhook_deliveries (provider, delivery_key, payload, received_at) VALUES (?1, ?2, ?3, ?4)",
                params![provider, id, payload, now()],
            )?;
        }
        let key = slot(provider, id);
        let mut slots = crate::sync::lock(&self.slots);
        if slots.arrived.contains_key(&key) {
            return Ok(());
        }
        let payload: Arc<str> = match self.stored(provider, id) {
            Some(first) => first.into(),
            None => payload.into(),
        };
        for tx in slots.waiting.remove(&key).unwrap_or_default() {
            let _ = tx.send(payload.clone());
        }
        slots.arrived.insert(key, payload);
        Ok(())
    }
}

/// The receiver's routes, as served (and as [`fuzzing`] drives them without a socket).
fn router(inner: Arc<Inner>, max_body_bytes: usize) -> Router {
    let mut app = Router::new();
    for (vendor, route) in routes() {
        let receiver = Receiver { inner: inner.clone() };
        let handle = move |headers: HeaderMap, body: Bytes| {
            (route.receive)(Delivery {
                receiver,
                vendor,
                headers,
                body,
            })
        };
        app = app.route(route.path, post(handle));
    }
    app.layer(DefaultBodyLimit::max(max_body_bytes))
}

/// The status for a delivery's store: 200 once stored, 500 (retried) otherwise.
fn answer<E: std::fmt::Display>(provider: &str, stored: Result<Result<(), E>, tokio::task::JoinError>) -> StatusCode {
    match stored {
        Ok(Ok(())) => StatusCode::OK,
        Ok(Err(e)) => {
            tracing::error!(error = %e, provider, "cannot store a delivery; answering 500 so it is retried");
            StatusCode::INTERNAL_SERVER_ERROR
        }
        Err(e) => {
            tracing::error!(error = %e, provider, "storing a delivery stopped; answering 500 so it is retried");
            StatusCode::INTERNAL_SERVER_ERROR
        }
    }
}

/// The receiver's request handling without a socket, for the fuzz targets
/// and their regression tests: the same router, the same state store table.
#[doc(hidden)]
pub mod fuzzing {
    use std::path::Path;
    use std::sync::Arc;

    use axum::Router;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt as _;

    use super::{Inner, Secrets, Slots, WebhookError, router};
    use crate::state::{Store, connect};

    /// A receiver's routes over the state store at `state` (created if missing).
    pub struct Harness {
        app: Router,
        inner: Arc<Inner>,
    }

    impl Harness {
        pub fn new(state: &Path, secrets: Secrets, max_body_bytes: usize) -> Result<Harness, WebhookError> {
            drop(Store::open(state)?);
            let inner = Arc::new(Inner {
                conn: std::sync::Mutex::new(connect(state)?),
                vendor_state: Default::default(),
                secrets,
                slots: std::sync::Mutex::new(Slots::default()),
                addr: ([127, 0, 0, 1], 0).into(),
                public_url: String::new(),
                stop: Default::default(),
                shutdown: Default::default(),
                task: std::sync::Mutex::new(None),
            });
            Ok(Harness {
                app: router(inner.clone(), max_body_bytes),
                inner,
            })
        }

        /// POST `body` to `path` with `headers` (invalid names or values are
        /// skipped, as a client could not send them); the answer's status.
        pub async fn post(&self, path: &str, headers: &[(Vec<u8>, Vec<u8>)], body: Vec<u8>) -> u16 {
            let mut req = Request::post(path);
            for (name, value) in headers {
                let (Ok(name), Ok(value)) = (
                    axum::http::HeaderName::from_bytes(name),
                    axum::http::HeaderValue::from_bytes(value),
                ) else {
                    continue;
                };
                req = req.header(name, value);
            }
            let Ok(req) = req.body(Body::from(body)) else {
                return 400;
            };
            match self.app.clone().oneshot(req).await {
                Ok(resp) => resp.status().as_u16(),
                Err(never) => match never {},
            }
        }

        /// Deliveries in the store, as `(provider, key, payload)` in key order.
        pub fn stored(&self) -> Vec<(String, String, String)> {
            let conn = crate::sync::lock(&self.inner.conn);
            let mut stmt = conn
                .prepare(
                    "SELECT provider, delivery_key, payload FROM webhook_deliveries ORDER BY provider, delivery_key",
                )
                .expect("the deliveries table exists");
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .and_then(Iterator::collect)
                .expect("deliveries are readable")
        }
    }
}

/// True when `given` equals the configured secret, compared in constant time.
pub fn authentic(configured: Option<&Secret>, given: Option<&[u8]>) -> bool {
    match (configured, given) {
        (Some(secret), Some(given)) if !secret.is_empty() => bool::from(secret.expose().as_bytes().ct_eq(given)),
        _ => false,
    }
}

/// `--sandbox`: point the sandbox's webhooks (every vendor that delivers by
/// webhook) at this run's receiver, through the sandbox's admin route
/// (served on every simulated vendor's origin, here the first webhook
/// vendor's `base_url`).
pub async fn point_sandbox(vendors: &VendorsSpec, receiver: &Receiver) -> Result<(), WebhookError> {
    let Some(base) = routes().find_map(|(v, _)| vendors.get(v)?.base_url.clone()) else {
        return Ok(());
    };
    let url_err = |source| WebhookError::SandboxUrl {
        base: base.clone(),
        source,
    };
    let admin = reqwest::Url::parse(&base)
        .and_then(|url| url.join("/__sandbox/config"))
        .map_err(url_err)?;
    let mut patch = serde_json::Map::new();
    for (vendor, route) in routes() {
        let url = format!("{}{}", receiver.inner.public_url, route.path);
        let secret = vendors.get(vendor).and_then(|s| s.webhook_secret.as_ref());
        patch.insert(vendor.name().to_string(), (route.sandbox)(&url, secret));
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    let resp = reqwest::Client::new()
        .post(admin)
        .json(&patch)
        .send()
        .await
        .map_err(|e| WebhookError::SandboxUnreachable(e.without_url()))?;
    if resp.status().is_success() {
        Ok(())
    } else {
        Err(WebhookError::SandboxRefused(resp.status()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Secret, size limit, storage before the 200, idempotence, parts, and a waiter woken.
    #[tokio::test]
    async fn deliveries_are_checked_limited_stored_then_acknowledged() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("s.db");
        let store = crate::state::Store::open(&state).unwrap();
        let spec = WebhookSpec {
            max_body_bytes: 2_000,
            ..WebhookSpec::default()
        };
        let secrets: Secrets = [(Vendor::ReachStream, Secret::new("s3cret"))].into_iter().collect();
        let rx = Receiver::start(&spec, &state, secrets, CancellationToken::new())
            .await
            .unwrap();
        let url = rx.url(Vendor::ReachStream).expect("ReachStream delivers by webhook");
        let waiter = {
            let rx = rx.clone();
            tokio::spawn(async move { rx.wait_parts("reachstream", "1300", 0, Duration::from_secs(10)).await })
        };
        let _ = rustls::crypto::ring::default_provider().install_default();
        let post = |secret: &'static str, body: String| {
            let url = url.clone();
            async move {
                reqwest::Client::new()
                    .post(url)
                    .header("webhook_secret_key", secret)
                    .body(body)
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            }
        };
        let first = r#"{"unique_processing_id":1300,"event":"data_notification","data":[{"id":1}]}"#;
        assert_eq!(post("wrong", first.into()).await, 401);
        assert_eq!(post("s3cret", format!("{first}{}", " ".repeat(3_000))).await, 413);
        assert_eq!(post("s3cret", "{}".into()).await, 400);
        let count = || -> i64 {
            store
                .conn()
                .query_row("SELECT count(*) FROM webhook_deliveries", [], |r| r.get(0))
                .unwrap()
        };
        assert_eq!(count(), 0, "nothing stored from refused deliveries");
        assert_eq!(post("s3cret", first.into()).await, 200);
        assert_eq!(count(), 1, "stored before the 200");
        assert_eq!(post("s3cret", first.into()).await, 200);
        assert_eq!(count(), 1, "a repeated post changes nothing");
        let again = r#"{"unique_processing_id":"1300","data":[{"id":2}]}"#;
        assert_eq!(post("s3cret", again.into()).await, 200);
        assert_eq!(count(), 2, "another post of the same id is kept as another part");
        assert_eq!(waiter.await.unwrap()[0].payload, first);
        let parts = rx.wait_parts("reachstream", "1300", 2, Duration::ZERO).await;
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[1].payload, again);
        rx.stop().await;
    }

    #[test]
    fn secrets_compare_whole_values() {
        let s = Secret::new("abc");
        assert!(authentic(Some(&s), Some(b"abc")));
        assert!(!authentic(Some(&s), Some(b"ab")));
        assert!(!authentic(Some(&s), Some(b"abcd")));
        assert!(!authentic(Some(&s), None));
        assert!(!authentic(None, Some(b"abc")));
        assert!(!authentic(Some(&Secret::new("")), Some(b"")));
    }
}
