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
//! - `simulator`: what one simulator is to the rest (the `Simulator` and
//!   `Section` traits) and the `registry!` macro; below it, the registry
//!   itself, one line per simulator.
//! - one folder per simulator (`rocketreach`, `reachstream`, `leadrocks`,
//!   `graph8`): its router, its state, what it keeps in the state file, and
//!   its `config` section (re-exported here).
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

#[macro_use]
mod simulator;

mod admin;
mod demo;
mod faults;
mod limits;
mod persist;
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

pub use config::{Credits, Faults, Latency, RateWindow, UniverseConfig};
pub use demo::demo_contacts;
pub use persist::beside as state_beside;
pub use stats::{FaultStats, StatsSnapshot, WebhookStats};
pub use universe::{Company, EmailStatus, Person, RrOutcome, Universe, Verdict};

registry! {
    RocketReach = rocketreach,
    ReachStream = reachstream,
    LeadRocks = leadrocks,
    Graph8 = graph8,
}

impl Vendor {
    pub(crate) fn idx(self) -> usize {
        self as usize
    }

    /// The vendor of that name (`"rocketreach"`), if it is one.
    pub fn from_name(name: &str) -> Option<Vendor> {
        Vendor::ALL.into_iter().find(|v| v.as_str() == name)
    }
}

impl Serialize for Vendor {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Vendor {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        Vendor::from_name(&name).ok_or_else(|| serde::de::Error::custom(format!("unknown vendor {name:?}")))
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
    /// The secret the vendor sends with its webhooks and wants back on some
    /// calls (ReachStream's `webhook_secret_key`); absent for the others.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_secret: Option<String>,
}

impl Endpoints {
    /// The endpoint of the vendor named `name` (`"reachstream"`).
    pub fn get(&self, name: &str) -> Option<&Endpoint> {
        Vendor::from_name(name).map(|v| self.of(v))
    }

    /// Every vendor's endpoint, by name, in registry order.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &Endpoint)> {
        Vendor::ALL.into_iter().map(|v| (v.as_str(), self.of(v)))
    }
}

/// Shared state of the simulators.
pub(crate) struct Core {
    universe: Arc<Universe>,
    config: RwLock<Arc<SandboxConfig>>,
    faults_on: [AtomicBool; Vendor::COUNT],
    pub(crate) fault_seq: [AtomicU64; Vendor::COUNT],
    /// End of the vendor's current throttling burst, if one runs.
    pub(crate) throttled_until: [Mutex<Option<Instant>>; Vendor::COUNT],
    pub(crate) stats: stats::Stats,
    pub(crate) http: reqwest::Client,
    cancel: Mutex<CancellationToken>,
    routes: RwLock<HashMap<String, Arc<str>>>,
    /// Each simulator's own state.
    pub(crate) sims: Sims,
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
            sims: Sims::new(&universe, &config, &journal),
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
        for v in Vendor::ALL {
            if let Some(seq) = core.sims.get(v).seq() {
                seq.store(id_base, Ordering::Relaxed);
            }
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
        Some(self.config().section(v).faults().clone())
    }

    pub(crate) fn keyring(&self, v: Vendor) -> &limits::Keyring {
        self.sims.get(v).keys()
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
            let on = c.section(v).faults().any_request_fault();
            self.faults_on[v.idx()].store(on, Ordering::Relaxed);
            self.sims.get(v).apply(&c, carry);
        }
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
        for v in Vendor::ALL {
            self.sims.get(v).reset(&self.universe, &c);
        }
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
        let keys = c.section(v).api_keys();
        if keys.is_empty() || keys.iter().any(|k| k.trim().is_empty()) {
            return Err(invalid(format!(
                "{}.api_keys: at least one non-empty key is required",
                v.as_str()
            )));
        }
    }
    for v in Vendor::ALL {
        let f = c.section(v).faults();
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
    for v in Vendor::ALL {
        c.section(v)
            .check()
            .map_err(|e| invalid(format!("{}.{e}", v.as_str())))?;
    }
    Ok(())
}

/// A vendor error in that vendor's envelope.
pub(crate) fn vendor_error(core: &Core, v: Vendor, status: StatusCode, message: &str) -> Response {
    core.sims.get(v).error(status, message)
}

/// The vendor's rate-limit answer, as its own limiter would give it.
pub(crate) fn vendor_throttled(core: &Core, v: Vendor, retry_after: Duration) -> Response {
    core.throttled(v);
    let secs = limits::retry_after_secs(retry_after);
    core.sims.get(v).throttled(core, secs)
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
        let api: Router<Arc<Core>> = core.sims.get(vendor).routes(&core);
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

/// The simulators serving on their own ports.
pub struct Sandbox {
    sims: Simulators,
    endpoints: Endpoints,
    addrs: [SocketAddr; Vendor::COUNT],
    shutdown: CancellationToken,
    servers: Vec<JoinHandle<()>>,
}

impl Sandbox {
    /// Builds the simulators and binds every vendor on `config.bind` (ports
    /// from the config, 0 = ephemeral). Returns once all accept connections.
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
            let addr = SocketAddr::new(config.bind, config.section(v).port());
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
        let addrs: [SocketAddr; Vendor::COUNT] = addrs.try_into().expect("one address per vendor");
        webhook::resume(&sims.core, due);
        let endpoints = Endpoints::build(|v| Endpoint {
            base_url: format!("http://{}{}", addrs[v.idx()], v.base_path()),
            api_key: config.section(v).api_keys()[0].clone(),
            webhook_secret: config.section(v).webhook_secret(),
        });
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
