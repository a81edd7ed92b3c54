//! The run's webhook receiver: where vendors deliver async results.
//!
//! Started by the runner when a stage needs it ([`crate::stages::StageSpec::needs_webhook`]),
//! on the `[webhook] listen` address, and stopped when the stages are done.
//! One route per vendor: `POST /reachstream`, `POST /rocketreach`.
//!
//! A delivery is, in this order: authenticated (the `webhook_secret_key`
//! header compared in constant time with the configured secret; 401 and
//! nothing stored otherwise), size-limited (`max_body_bytes`, 413), read
//! (400 if it names no `unique_processing_id`), **stored** in the state
//! store's `webhook_deliveries` table, and only then acknowledged with 200.
//! A crash before the 200 loses nothing: the vendor retries. Each distinct
//! post of a processing id is kept as one part (under `<id>#<hash of the
//! body>`), so a vendor that sends a fetch's records in several posts loses
//! none, and a repeated post changes nothing.
//!
//! RocketReach deliveries are checked against `X-RocketReach-Signature`
//! (base64 HMAC-SHA256 of the raw body, constant-time) when a secret is
//! configured, and stored per profile, under every key it belongs to: the
//! bulk query's `metadata.leadpipe_key` when the vendor echoes it; each bulk
//! query the stage expects ([`Receiver::expect_rocketreach`]) that the
//! profile answers by identity (LinkedIn URL, email, name and employer), for
//! vendors that echo nothing; and `id:<profile id>`. A profile that matches
//! none of these is kept under `unmatched:<hash>` (paid for, so never
//! dropped), counted by [`Receiver::unmatched`], and matched again when a
//! later attempt of the run expects its query.
//!
//! Stages wait for a processing id with [`Receiver::wait`]; a payload that
//! arrived before the wait began (in this run, or in an earlier attempt of
//! it that was killed) is found in the store.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use rusqlite::{Connection, OptionalExtension, params};
use serde::Deserialize;
use subtle::ConstantTimeEq;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use crate::secret::Secret;
use crate::state::{StateError, connect, now};
use crate::vendors::rocketreach::{LookupKey, Profile, answers};

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
    /// Routes are appended: `<public_url>/reachstream`.
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

/// The secrets deliveries are checked against, by vendor.
#[derive(Debug, Clone, Default)]
pub struct Secrets {
    /// ReachStream's `webhook_secret_key`; without one every delivery gets 401.
    pub reachstream: Option<Secret>,
    /// RocketReach's signature secret: when set, `X-RocketReach-Signature`
    /// (base64 HMAC-SHA256 of the raw body) must match.
    pub rocketreach: Option<Secret>,
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
    /// RocketReach bulk queries waiting for their profile, by canonical key.
    rr_expected: Mutex<HashMap<String, LookupKey>>,
    /// When a RocketReach delivery for each `RR-Request-ID` first came.
    rr_arrivals: Mutex<HashMap<String, tokio::time::Instant>>,
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
            rr_expected: Mutex::new(HashMap::new()),
            rr_arrivals: Mutex::new(HashMap::new()),
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

    /// The URL ReachStream must post to.
    pub fn reachstream_url(&self) -> String {
        format!("{}/reachstream", self.inner.public_url)
    }

    /// The URL RocketReach must post to.
    pub fn rocketreach_url(&self) -> String {
        format!("{}/rocketreach", self.inner.public_url)
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

    /// A RocketReach bulk query is about to be sent (or was sent by an
    /// earlier attempt): deliveries that answer it by identity are stored
    /// under its key, including those that came before and matched nothing.
    pub fn expect_rocketreach(&self, keys: &[LookupKey]) {
        {
            let mut expected = crate::sync::lock(&self.inner.rr_expected);
            for k in keys {
                expected.insert(k.canonical.clone(), k.clone());
            }
        }
        let inner = self.inner.clone();
        if let Err(e) = inner.rematch_rocketreach(keys) {
            tracing::warn!(error = %e, "cannot match earlier RocketReach deliveries");
        }
    }

    /// When a RocketReach delivery carrying `RR-Request-ID: request_id` first
    /// came in this run (the contract: a request's webhook carries its id).
    pub fn rocketreach_delivered(&self, request_id: &str) -> Option<tokio::time::Instant> {
        self.inner
            .rr_arrivals
            .lock()
            .expect("arrivals lock")
            .get(request_id)
            .copied()
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

    /// Keys a RocketReach profile is stored under (see the module doc).
    fn rocketreach_keys(&self, item: &serde_json::Value) -> Vec<String> {
        let mut keys = Vec::new();
        if let Some(k) = item["metadata"]["leadpipe_key"].as_str() {
            keys.push(k.to_string());
        }
        if let Ok(profile) = serde_json::from_value::<Profile>(item.clone()) {
            let expected = crate::sync::lock(&self.rr_expected);
            keys.extend(
                expected
                    .values()
                    .filter(|k| answers(k, &profile))
                    .map(|k| k.canonical.clone())
                    .filter(|k| !keys.contains(k))
                    .collect::<Vec<_>>(),
            );
        }
        if let Some(id) = item["id"].as_i64() {
            keys.push(format!("id:{id}"));
        }
        if keys.is_empty() {
            let text = item.to_string();
            keys.push(format!(
                "unmatched:{:016x}",
                xxhash_rust::xxh3::xxh3_64(text.as_bytes())
            ));
        }
        keys
    }

    /// Deliveries kept earlier that answer one of `keys` by identity, stored under it.
    fn rematch_rocketreach(&self, keys: &[LookupKey]) -> rusqlite::Result<()> {
        let stored: Vec<String> = {
            let conn = crate::sync::lock(&self.conn);
            let mut stmt = conn.prepare(
                "SELECT payload FROM webhook_deliveries WHERE provider = 'rocketreach'
                 AND (delivery_key LIKE 'unmatched:%' OR delivery_key LIKE 'id:%')",
            )?;
            stmt.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?
        };
        for payload in stored {
            let Ok(profile) = serde_json::from_str::<Profile>(&payload) else {
                continue;
            };
            for k in keys.iter().filter(|k| answers(k, &profile)) {
                self.deliver("rocketreach", &k.canonical, &payload)?;
            }
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
    Router::new()
        .route("/reachstream", post(reachstream))
        .route("/rocketreach", post(rocketreach))
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .with_state(inner)
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
                rr_expected: Default::default(),
                rr_arrivals: Default::default(),
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
fn authentic(configured: Option<&Secret>, given: Option<&[u8]>) -> bool {
    match (configured, given) {
        (Some(secret), Some(given)) if !secret.is_empty() => bool::from(secret.expose().as_bytes().ct_eq(given)),
        _ => false,
    }
}

async fn reachstream(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let given = headers
        .get("webhook_secret_key")
        .or_else(|| headers.get("webhook-secret-key"))
        .map(|v| v.as_bytes());
    if !authentic(inner.secrets.reachstream.as_ref(), given) {
        tracing::warn!("refused a ReachStream delivery with a missing or wrong webhook_secret_key");
        return StatusCode::UNAUTHORIZED;
    }
    let Ok(text) = std::str::from_utf8(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    // A JSON object naming its processing id. (Not a derived struct: serde
    // would also read a struct from an array, taking `[82]` for id 82.)
    let head = serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(text);
    let id = match head.as_ref().map(|h| h.get("unique_processing_id")) {
        Ok(Some(serde_json::Value::Number(n))) => n.to_string(),
        Ok(Some(serde_json::Value::String(s))) if !s.trim().is_empty() => s.trim().to_string(),
        _ => return StatusCode::BAD_REQUEST,
    };
    let (inner2, text) = (inner.clone(), text.to_string());
    let stored = tokio::task::spawn_blocking(move || inner2.deliver_part("reachstream", &id, &text)).await;
    match stored {
        Ok(Ok(())) => StatusCode::OK,
        Ok(Err(e)) => {
            tracing::error!(error = %e, "cannot store a ReachStream delivery; answering 500 so it is retried");
            StatusCode::INTERNAL_SERVER_ERROR
        }
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// base64(HMAC-SHA256(secret, body)).
fn signature(secret: &Secret, body: &[u8]) -> String {
    use base64::Engine as _;
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.expose().as_bytes()).expect("any key length");
    mac.update(body);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// RocketReach: a profile, or (bulk) a list of them. Each is stored under
/// `metadata.leadpipe_key` (bulk queries) or `id:<profile id>` (single lookups).
async fn rocketreach(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    if let Some(secret) = inner.secrets.rocketreach.as_ref().filter(|s| !s.is_empty()) {
        let expected = signature(secret, &body);
        let given = headers
            .get("x-rocketreach-signature")
            .map(|v| v.as_bytes())
            .unwrap_or_default();
        if !bool::from(expected.as_bytes().ct_eq(given)) {
            tracing::warn!("refused a RocketReach delivery with a missing or wrong signature");
            return StatusCode::UNAUTHORIZED;
        }
    }
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    let request_id = headers
        .get("rr-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let items = match value {
        serde_json::Value::Array(a) => a,
        v @ serde_json::Value::Object(_) => vec![v],
        _ => return StatusCode::BAD_REQUEST,
    };
    let keyed: Vec<(String, String)> = items
        .iter()
        .filter(|p| p.is_object())
        .flat_map(|p| {
            let payload = p.to_string();
            inner.rocketreach_keys(p).into_iter().map(move |k| (k, payload.clone()))
        })
        .collect();
    let arrivals = inner.clone();
    let stored = tokio::task::spawn_blocking(move || {
        keyed
            .iter()
            .try_for_each(|(key, payload)| inner.deliver("rocketreach", key, payload))
    })
    .await;
    let arrivals = &arrivals.rr_arrivals;
    match stored {
        Ok(Ok(())) => {
            if let Some(rid) = request_id {
                arrivals
                    .lock()
                    .expect("arrivals lock")
                    .entry(rid)
                    .or_insert_with(tokio::time::Instant::now);
            }
            StatusCode::OK
        }
        Ok(Err(e)) => {
            tracing::error!(error = %e, "cannot store a RocketReach delivery; answering 500 so it is retried");
            StatusCode::INTERNAL_SERVER_ERROR
        }
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// `--sandbox`: point the sandbox's webhooks (ReachStream, RocketReach) at
/// this run's receiver, through the sandbox's admin route (served on every
/// simulated vendor's origin).
pub async fn point_sandbox(base: &str, receiver: &Receiver, rr_secret: Option<&Secret>) -> Result<(), WebhookError> {
    let url_err = |source| WebhookError::SandboxUrl {
        base: base.to_string(),
        source,
    };
    let admin = reqwest::Url::parse(base)
        .and_then(|url| url.join("/__sandbox/config"))
        .map_err(url_err)?;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let patch = serde_json::json!({
        "reachstream": {"webhook": {"url": receiver.reachstream_url(), "active": true}},
        "rocketreach": {"webhook": {"url": receiver.rocketreach_url(), "active": true}},
    });
    let mut patch = patch;
    if let Some(secret) = rr_secret {
        // The sandbox signs with the secret the pipeline verifies.
        patch["rocketreach"]["webhook"]["secret"] = serde_json::Value::String(secret.expose().to_string());
    }
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
        let secrets = Secrets {
            reachstream: Some(Secret::new("s3cret")),
            rocketreach: None,
        };
        let rx = Receiver::start(&spec, &state, secrets, CancellationToken::new())
            .await
            .unwrap();
        let url = rx.reachstream_url();
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
