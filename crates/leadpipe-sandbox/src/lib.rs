//! Local simulators of the four vendor APIs (RocketReach, ReachStream,
//! LeadRocks, graph8), faithful to the vendor contracts (`docs/contracts.md`
//! says what leadpipe relies on of them): paths, auth
//! headers, bodies, envelopes, error bodies, pagination, status lifecycles,
//! credits, rate limits and webhooks. Used by `leadpipe sandbox`, by
//! `leadpipe run --sandbox`, by the integration tests and by the benches.
//!
//! # Layout
//! - [`config`]: [`SandboxConfig`], strict serde, defaults from the contracts.
//! - [`universe`]: the seeded people and companies and their lookup indexes.
//! - `limits`: per-key credit balances and fixed-window rate limiters.
//! - `faults`: the layer every vendor route goes through (faults, call counters).
//! - `stats`: counters behind `GET /__sandbox/stats` and [`Sandbox::stats`].
//! - `webhook`: outgoing deliveries with a retry schedule.
//! - `persist`: the vendor-side state kept in a file across starts
//!   ([`SandboxOptions::state`]).
//! - `rocketreach`, `reachstream`, `leadrocks`, `graph8`: one router each.
//! - `admin`: `/__sandbox/{stats,reset,config}` on every vendor's port.
//! - `util`: seeded hashing, query parsing, identity normalisation, and what
//!   every vendor's handlers share: poison-tolerant locks, header and JSON body
//!   reading, and `util::Reply`, the `Result<Response, Response>` handlers
//!   return so request checks compose with `?`.
//!
//! # Use
//! ```no_run
//! # async fn demo() -> Result<(), leadpipe_sandbox::SandboxError> {
//! use leadpipe_sandbox::{Sandbox, SandboxConfig};
//! let sandbox = Sandbox::start(SandboxConfig::default()).await?;
//! println!("{}", serde_json::to_string(sandbox.endpoints()).unwrap());
//! let stats = sandbox.stats();
//! # let _ = stats;
//! sandbox.shutdown().await;
//! # Ok(()) }
//! ```

// Handlers return a ready vendor-shaped `Response` as their error: it is the
// rare path, and boxing it everywhere would only add noise.
#![allow(clippy::result_large_err)]

pub mod config;
pub mod universe;

mod admin;
mod demo;
mod faults;
mod graph8;
mod leadrocks;
mod limits;
mod persist;
mod reachstream;
mod rocketreach;
mod stats;
mod util;
mod webhook;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use util::{lock, read_lock, write_lock};

pub use config::{
    BadSecret, Charging, Credits, ErrorShape, Faults, Graph8Config, Latency, LeadRocksBulk, LeadRocksConfig, Lifecycle,
    Plan, RateWindow, ReachStreamConfig, ReachStreamWebhook, RocketReachConfig, RocketReachWebhook, SandboxConfig,
    UniverseConfig, WrongListType,
};
pub use demo::demo_contacts;
pub use persist::beside as state_beside;
pub use stats::{FaultStats, StatsSnapshot, WebhookStats};
pub use universe::{Company, EmailStatus, Person, RrOutcome, Universe, Verdict};

/// One of the simulated vendors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Vendor {
    RocketReach,
    ReachStream,
    LeadRocks,
    Graph8,
}

impl Vendor {
    pub const ALL: [Vendor; 4] = [
        Vendor::RocketReach,
        Vendor::ReachStream,
        Vendor::LeadRocks,
        Vendor::Graph8,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Vendor::RocketReach => "rocketreach",
            Vendor::ReachStream => "reachstream",
            Vendor::LeadRocks => "leadrocks",
            Vendor::Graph8 => "graph8",
        }
    }

    pub(crate) fn idx(self) -> usize {
        self as usize
    }

    /// Path prefix of the vendor's base URL.
    pub fn base_path(self) -> &'static str {
        match self {
            Vendor::RocketReach => "/api/v2",
            Vendor::ReachStream => "",
            Vendor::LeadRocks => "/v1",
            Vendor::Graph8 => "/api/v1",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("sandbox config {origin}: {message}")]
    Config { origin: String, message: String },
    #[error("sandbox: cannot bind {vendor} on {addr}: {source}")]
    Bind {
        vendor: &'static str,
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("sandbox: {0}")]
    Invalid(String),
    /// The state file cannot be used: in use by another sandbox, written for
    /// another universe, unreadable.
    #[error("sandbox state {path}: {message}")]
    State { path: String, message: String },
}

impl SandboxError {
    fn with_origin(self, origin: &str) -> Self {
        match self {
            SandboxError::Config { message, .. } => SandboxError::Config {
                origin: origin.to_string(),
                message,
            },
            other => other,
        }
    }
}

/// Where a vendor listens and the credentials to use.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    pub base_url: String,
    pub api_key: String,
}

/// ReachStream also has a webhook secret (sent as the `webhook_secret_key` header).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReachStreamEndpoint {
    pub base_url: String,
    pub api_key: String,
    pub webhook_secret: String,
}

/// What `leadpipe sandbox` prints on one line: serialises to
/// `{"rocketreach":{"base_url","api_key"},"reachstream":{"base_url","api_key","webhook_secret"},"leadrocks":{…},"graph8":{…}}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoints {
    pub rocketreach: Endpoint,
    pub reachstream: ReachStreamEndpoint,
    pub leadrocks: Endpoint,
    pub graph8: Endpoint,
}

/// One simulator's endpoint by vendor name (shim until the simulator registry lands).
#[derive(Clone, Debug)]
pub struct NamedEndpoint {
    pub base_url: String,
    pub api_key: String,
    pub webhook_secret: Option<String>,
}

impl Endpoints {
    pub fn get(&self, name: &str) -> Option<NamedEndpoint> {
        let plain = |e: &Endpoint| NamedEndpoint {
            base_url: e.base_url.clone(),
            api_key: e.api_key.clone(),
            webhook_secret: None,
        };
        match name {
            "rocketreach" => Some(plain(&self.rocketreach)),
            "leadrocks" => Some(plain(&self.leadrocks)),
            "graph8" => Some(plain(&self.graph8)),
            "reachstream" => Some(NamedEndpoint {
                base_url: self.reachstream.base_url.clone(),
                api_key: self.reachstream.api_key.clone(),
                webhook_secret: Some(self.reachstream.webhook_secret.clone()),
            }),
            _ => None,
        }
    }
}

/// Shared state of the four simulators.
pub(crate) struct Core {
    universe: Arc<Universe>,
    config: RwLock<Arc<SandboxConfig>>,
    faults_on: [AtomicBool; 4],
    pub(crate) fault_seq: [AtomicU64; 4],
    /// End of the vendor's current throttling burst, if one runs.
    pub(crate) throttled_until: [Mutex<Option<Instant>>; 4],
    pub(crate) stats: stats::Stats,
    pub(crate) http: reqwest::Client,
    cancel: Mutex<CancellationToken>,
    routes: RwLock<HashMap<String, Arc<str>>>,
    pub(crate) rr: rocketreach::State,
    pub(crate) rs: reachstream::State,
    pub(crate) lr: leadrocks::State,
    pub(crate) g8: graph8::State,
    /// What changed since the last write to the state file, if one is kept.
    pub(crate) journal: Arc<persist::Journal>,
    persist: OnceLock<persist::Persist>,
    /// Numbers webhook deliveries (for the state file).
    pub(crate) delivery_seq: AtomicU64,
}

/// How a sandbox starts besides its configuration.
#[derive(Clone, Debug, Default)]
pub struct SandboxOptions {
    /// Keep the vendors' state in this file (SQLite), loaded at start and
    /// written before every answer that changed it; see docs/sandbox.md.
    pub state: Option<PathBuf>,
    /// First value of the id counters (processing ids, list ids, request
    /// ids) when the state file has none higher; by default the clock in
    /// microseconds, so ids never repeat across starts. Set it where a test
    /// needs the same ids on every run.
    pub id_base: Option<u64>,
}

impl Core {
    fn new(config: SandboxConfig, id_base: u64) -> Result<Arc<Self>, SandboxError> {
        validate(&config)?;
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .no_proxy()
            .pool_max_idle_per_host(4)
            .build()
            .map_err(|e| SandboxError::Invalid(format!("webhook HTTP client: {e}")))?;
        let universe = Arc::new(Universe::new(
            config.seed,
            config.universe.companies,
            config.universe.people,
        ));
        let journal = Arc::new(persist::Journal::default());
        let core = Arc::new(Core {
            rr: rocketreach::State::new(journal.clone()),
            rs: reachstream::State::new(),
            lr: leadrocks::State::new(),
            g8: graph8::State::new(&universe, &config.graph8),
            universe,
            config: RwLock::new(Arc::new(config)),
            faults_on: Default::default(),
            fault_seq: Default::default(),
            throttled_until: Default::default(),
            stats: stats::Stats::new(journal.clone()),
            http,
            cancel: Mutex::new(CancellationToken::new()),
            routes: RwLock::new(HashMap::new()),
            journal,
            persist: OnceLock::new(),
            delivery_seq: AtomicU64::new(id_base),
        });
        for seq in [&core.rr.seq, &core.rs.seq, &core.lr.seq] {
            seq.store(id_base, Ordering::Relaxed);
        }
        core.apply(false);
        Ok(core)
    }

    /// Loads the state file into the simulators and keeps it from now on;
    /// answers the webhook deliveries it still had due.
    fn keep(&self, path: &std::path::Path, id_base: u64) -> Result<Vec<webhook::Pending>, SandboxError> {
        let p = persist::Persist::open(path)?;
        let due = p.load(self, id_base)?;
        let _ = self.persist.set(p);
        Ok(due)
    }

    /// Writes what changed to the state file, if one is kept.
    pub(crate) fn persist_flush(&self) {
        if let Some(p) = self.persist.get() {
            p.flush(self);
        }
    }

    pub(crate) fn config(&self) -> Arc<SandboxConfig> {
        read_lock(&self.config).clone()
    }

    pub(crate) fn universe(&self) -> &Universe {
        &self.universe
    }

    pub(crate) fn seed(&self) -> u64 {
        self.universe.seed()
    }

    pub(crate) fn cancel_token(&self) -> CancellationToken {
        lock(&self.cancel).clone()
    }

    /// The vendor's faults when any request fault is on (cheap check first).
    pub(crate) fn vendor_faults(&self, v: Vendor) -> Option<Faults> {
        if !self.faults_on[v.idx()].load(Ordering::Relaxed) {
            return None;
        }
        Some(self.config().faults(v).clone())
    }

    pub(crate) fn keyring(&self, v: Vendor) -> &limits::Keyring {
        match v {
            Vendor::RocketReach => &self.rr.keys,
            Vendor::ReachStream => &self.rs.keys,
            Vendor::LeadRocks => &self.lr.keys,
            Vendor::Graph8 => &self.g8.keys,
        }
    }

    /// Interned route template, for cheap counter keys.
    pub(crate) fn route_name(&self, path: &str) -> Arc<str> {
        if let Some(r) = read_lock(&self.routes).get(path) {
            return r.clone();
        }
        write_lock(&self.routes)
            .entry(path.to_string())
            .or_insert_with(|| Arc::from(path))
            .clone()
    }

    /// Rebuilds keys and derived flags from the current config.
    fn apply(&self, carry: bool) {
        let c = self.config();
        for v in Vendor::ALL {
            self.faults_on[v.idx()].store(c.faults(v).any_request_fault(), Ordering::Relaxed);
        }
        self.rr.rebuild_keys(&c.rocketreach, carry);
        self.rs.rebuild_keys(&c.reachstream, carry);
        self.lr.rebuild_keys(&c.leadrocks, carry);
        self.g8.rebuild_keys(&c.graph8, carry);
    }

    fn set_config(&self, new: SandboxConfig) -> Result<(), SandboxError> {
        validate(&new)?;
        let old = self.config();
        if new.seed != old.seed || new.universe != old.universe {
            return Err(SandboxError::Invalid(
                "seed and universe cannot change at runtime; restart the sandbox".into(),
            ));
        }
        *write_lock(&self.config) = Arc::new(new);
        self.apply(true);
        Ok(())
    }

    fn reset(&self) {
        let old = std::mem::replace(&mut *lock(&self.cancel), CancellationToken::new());
        old.cancel();
        let c = self.config();
        self.stats.clear();
        for s in &self.fault_seq {
            s.store(0, Ordering::Relaxed);
        }
        for t in &self.throttled_until {
            *lock(t) = None;
        }
        self.rr.reset();
        self.rs.reset();
        self.lr.reset();
        self.g8.reset(&self.universe, &c.graph8);
        self.apply(false);
        if let Some(p) = self.persist.get() {
            p.clear(self);
        }
    }

    fn snapshot(&self) -> StatsSnapshot {
        let mut s = StatsSnapshot::default();
        for ((vendor, method, route, status), n) in self.stats.calls.snapshot() {
            *s.calls
                .entry(vendor.as_str().to_string())
                .or_default()
                .entry(format!("{method} {route}"))
                .or_default()
                .entry(status.to_string())
                .or_default() += n;
        }
        for (k, n) in self.stats.paid.snapshot() {
            s.paid_requests.insert(k, n);
        }
        for v in Vendor::ALL {
            let keys = self.keyring(v).all();
            let charged = s.credits_charged.entry(v.as_str().into()).or_default();
            for k in &keys {
                charged.insert(k.key.clone(), k.charged.load(Ordering::Relaxed));
            }
            let remaining = s.credits_remaining.entry(v.as_str().into()).or_default();
            for k in &keys {
                remaining.insert(k.key.clone(), (!k.unlimited()).then(|| k.balance()));
            }
            let w = &self.stats.webhooks[v.idx()];
            s.webhooks.insert(
                v.as_str().into(),
                WebhookStats {
                    attempts: w.attempts.load(Ordering::Relaxed),
                    delivered: w.delivered.load(Ordering::Relaxed),
                    failed_attempts: w.failed_attempts.load(Ordering::Relaxed),
                    exhausted: w.exhausted.load(Ordering::Relaxed),
                    duplicates: w.duplicates.load(Ordering::Relaxed),
                },
            );
            s.paid_calls.insert(
                v.as_str().into(),
                self.stats.paid_calls[v.idx()].load(Ordering::Relaxed),
            );
            s.rate_limited.insert(
                v.as_str().into(),
                self.stats.rate_limited[v.idx()].load(Ordering::Relaxed),
            );
            let f = &self.stats.faults[v.idx()];
            s.faults.insert(
                v.as_str().into(),
                FaultStats {
                    error: f.error.load(Ordering::Relaxed),
                    slow: f.slow.load(Ordering::Relaxed),
                    dropped: f.dropped.load(Ordering::Relaxed),
                    truncated: f.truncated.load(Ordering::Relaxed),
                    bursts: f.bursts.load(Ordering::Relaxed),
                },
            );
        }
        s
    }

    pub(crate) fn throttled(&self, v: Vendor) {
        self.stats.rate_limited[v.idx()].fetch_add(1, Ordering::Relaxed);
    }
}

fn validate(c: &SandboxConfig) -> Result<(), SandboxError> {
    let invalid = |message: String| SandboxError::Config {
        origin: "<config>".into(),
        message,
    };
    for v in Vendor::ALL {
        let keys = c.api_keys(v);
        if keys.is_empty() || keys.iter().any(|k| k.trim().is_empty()) {
            return Err(invalid(format!(
                "{}.api_keys: at least one non-empty key is required",
                v.as_str()
            )));
        }
    }
    for v in Vendor::ALL {
        let f = c.faults(v);
        for (name, r) in [
            ("error_rate", f.error_rate),
            ("slow_rate", f.slow_rate),
            ("drop_rate", f.drop_rate),
            ("truncate_rate", f.truncate_rate),
            ("throttle_rate", f.throttle_rate),
            ("webhook_duplicate_rate", f.webhook_duplicate_rate),
        ] {
            if !(0.0..=1.0).contains(&r) {
                return Err(invalid(format!("{}.faults.{name}: must be within 0..=1", v.as_str())));
            }
        }
    }
    if c.universe.people == 0 || c.universe.companies == 0 {
        return Err(invalid("universe: people and companies must be > 0".into()));
    }
    if c.rocketreach.plan_time_scale.is_nan() || c.rocketreach.plan_time_scale <= 0.0 {
        return Err(invalid("rocketreach.plan_time_scale: must be > 0".into()));
    }
    Ok(())
}

/// A vendor error in that vendor's envelope.
pub(crate) fn vendor_error(v: Vendor, status: StatusCode, message: &str) -> Response {
    match v {
        Vendor::RocketReach => rocketreach::error(status, message),
        Vendor::ReachStream => reachstream::error(status, message),
        Vendor::LeadRocks => leadrocks::error_for_status(status, message),
        Vendor::Graph8 => graph8::error(status, message),
    }
}

/// The vendor's rate-limit answer, as its own limiter would give it.
pub(crate) fn vendor_throttled(core: &Core, v: Vendor, retry_after: Duration) -> Response {
    core.throttled(v);
    let secs = limits::retry_after_secs(retry_after);
    match v {
        Vendor::RocketReach => rocketreach::throttled(core, secs),
        Vendor::ReachStream => reachstream::error(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests"),
        Vendor::LeadRocks => leadrocks::rate_limited(core),
        Vendor::Graph8 => graph8::throttled(secs),
    }
}

/// The simulators without any listener: build a router per vendor and serve
/// it yourself, or use [`Sandbox::start`]. Cheap to clone.
#[derive(Clone)]
pub struct Simulators {
    core: Arc<Core>,
}

impl Simulators {
    pub fn new(config: SandboxConfig) -> Result<Self, SandboxError> {
        Ok(Self {
            core: Core::new(config, persist::clock_base())?,
        })
    }

    /// The vendor's router: its API plus `/__sandbox/*`.
    pub fn router(&self, vendor: Vendor) -> Router {
        let core = self.core.clone();
        let api: Router<Arc<Core>> = match vendor {
            Vendor::RocketReach => rocketreach::routes(&core),
            Vendor::ReachStream => reachstream::routes(&core),
            Vendor::LeadRocks => leadrocks::routes(&core),
            Vendor::Graph8 => graph8::routes(&core),
        };
        let api = api.layer(axum::middleware::from_fn_with_state(
            (core.clone(), vendor),
            faults::layer,
        ));
        let api = if core.persist.get().is_some() {
            api.layer(axum::middleware::from_fn_with_state(
                (core.clone(), vendor),
                persist::layer,
            ))
        } else {
            api
        };
        api.with_state(core.clone()).merge(admin::router(core))
    }

    pub fn stats(&self) -> StatsSnapshot {
        self.core.snapshot()
    }

    /// Clears counters, lookups, jobs, pending webhooks, graph8 data and
    /// balances (back to the configured credits).
    pub fn reset(&self) {
        self.core.reset()
    }

    /// Applies a JSON merge patch to the configuration (webhooks, faults,
    /// limits, credits, lifecycle…). Seed and universe are fixed.
    pub fn configure(&self, patch: &serde_json::Value) -> Result<(), SandboxError> {
        let new = self.core.config().patched(patch)?;
        self.core.set_config(new)
    }

    /// Changes the configuration in place.
    pub fn update(&self, f: impl FnOnce(&mut SandboxConfig)) -> Result<(), SandboxError> {
        let mut c = (*self.core.config()).clone();
        f(&mut c);
        self.core.set_config(c)
    }

    pub fn config(&self) -> SandboxConfig {
        (*self.core.config()).clone()
    }

    pub fn universe(&self) -> &Universe {
        self.core.universe()
    }
}

/// The four simulators serving on their own ports.
pub struct Sandbox {
    sims: Simulators,
    endpoints: Endpoints,
    addrs: [SocketAddr; 4],
    shutdown: CancellationToken,
    servers: Vec<JoinHandle<()>>,
}

impl Sandbox {
    /// Builds the simulators and binds every vendor on `config.bind` (ports
    /// from the config, 0 = ephemeral). Returns once all four accept connections.
    pub async fn start(config: SandboxConfig) -> Result<Sandbox, SandboxError> {
        Self::start_with(config, SandboxOptions::default()).await
    }

    /// [`Sandbox::start`] with a state file (the vendors remember what they
    /// did across starts) or a fixed id base.
    pub async fn start_with(config: SandboxConfig, options: SandboxOptions) -> Result<Sandbox, SandboxError> {
        let id_base = options.id_base.unwrap_or_else(persist::clock_base);
        let sims = Simulators {
            core: Core::new(config.clone(), id_base)?,
        };
        let due = match &options.state {
            Some(path) => sims.core.keep(path, id_base)?,
            None => Vec::new(),
        };
        let shutdown = CancellationToken::new();
        let mut servers = Vec::new();
        let mut addrs = Vec::new();
        for v in Vendor::ALL {
            let addr = SocketAddr::new(config.bind, config.port(v));
            let bind_error = |source| SandboxError::Bind {
                vendor: v.as_str(),
                addr,
                source,
            };
            let listener = tokio::net::TcpListener::bind(addr).await.map_err(bind_error)?;
            let local = listener.local_addr().map_err(bind_error)?;
            addrs.push(local);
            let router = sims.router(v);
            let token = shutdown.clone();
            servers.push(tokio::spawn(async move {
                let serve = axum::serve(listener, router).with_graceful_shutdown(token.cancelled_owned());
                if let Err(e) = serve.await {
                    tracing::warn!(vendor = v.as_str(), error = %e, "sandbox server stopped");
                }
            }));
        }
        let addrs: [SocketAddr; 4] = addrs.try_into().expect("four vendors");
        webhook::resume(&sims.core, due);
        let endpoint = |v: Vendor| Endpoint {
            base_url: format!("http://{}{}", addrs[v.idx()], v.base_path()),
            api_key: config.api_keys(v)[0].clone(),
        };
        let reachstream = endpoint(Vendor::ReachStream);
        let endpoints = Endpoints {
            rocketreach: endpoint(Vendor::RocketReach),
            reachstream: ReachStreamEndpoint {
                base_url: reachstream.base_url,
                api_key: reachstream.api_key,
                webhook_secret: config.reachstream.webhook.secret.clone(),
            },
            leadrocks: endpoint(Vendor::LeadRocks),
            graph8: endpoint(Vendor::Graph8),
        };
        Ok(Sandbox {
            sims,
            endpoints,
            addrs,
            shutdown,
            servers,
        })
    }

    /// The counters a state file remembers (what the vendors were asked and
    /// charged over every start that kept it), read without serving. The
    /// file must not be in use by a running sandbox.
    pub fn remembered_stats(config: SandboxConfig, state: &std::path::Path) -> Result<StatsSnapshot, SandboxError> {
        let core = Core::new(config, persist::clock_base())?;
        core.keep(state, 0)?;
        Ok(core.snapshot())
    }

    /// Base URLs and keys, as printed by `leadpipe sandbox`.
    pub fn endpoints(&self) -> &Endpoints {
        &self.endpoints
    }

    /// The socket a vendor listens on.
    pub fn addr(&self, vendor: Vendor) -> SocketAddr {
        self.addrs[vendor.idx()]
    }

    /// `http://ADDR` of a vendor, without the API prefix (admin routes live here).
    pub fn root_url(&self, vendor: Vendor) -> String {
        format!("http://{}", self.addrs[vendor.idx()])
    }

    pub fn simulators(&self) -> &Simulators {
        &self.sims
    }

    pub fn stats(&self) -> StatsSnapshot {
        self.sims.stats()
    }

    pub fn reset(&self) {
        self.sims.reset()
    }

    pub fn configure(&self, patch: &serde_json::Value) -> Result<(), SandboxError> {
        self.sims.configure(patch)
    }

    pub fn update(&self, f: impl FnOnce(&mut SandboxConfig)) -> Result<(), SandboxError> {
        self.sims.update(f)
    }

    pub fn config(&self) -> SandboxConfig {
        self.sims.config()
    }

    pub fn universe(&self) -> &Universe {
        self.sims.universe()
    }

    /// Serves until `signal` completes (e.g. Ctrl-C), then shuts down.
    pub async fn run_until(self, signal: impl std::future::Future<Output = ()>) {
        signal.await;
        self.shutdown().await;
    }

    /// Stops accepting, cancels pending webhooks, and waits (at most 2 s) for
    /// connections in flight.
    pub async fn shutdown(mut self) {
        self.shutdown.cancel();
        self.sims.core.cancel_token().cancel();
        for h in std::mem::take(&mut self.servers) {
            let abort = h.abort_handle();
            if tokio::time::timeout(Duration::from_secs(2), h).await.is_err() {
                abort.abort();
            }
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.shutdown.cancel();
        self.sims.core.cancel_token().cancel();
    }
}
