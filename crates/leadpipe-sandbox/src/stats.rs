//! Ground truth for tests: calls per endpoint and status, credits per key,
//! and a count per canonical paid request (e.g.
//! `rocketreach:lookup:email=jane@x.com`), so a test can prove the same answer
//! was never bought twice. Counters are sharded so the hot path takes a short,
//! rarely contended lock.

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, Hash};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use super::Vendor;
use super::util::lock;

const SHARDS: usize = 16;

/// A counter map split over a few mutexes.
pub(crate) struct Sharded<K> {
    shards: Vec<Mutex<HashMap<K, u64>>>,
    hasher: std::collections::hash_map::RandomState,
}

impl<K: Hash + Eq + Clone> Sharded<K> {
    pub(crate) fn new() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            hasher: Default::default(),
        }
    }
    pub(crate) fn add(&self, k: K, n: u64) {
        let i = (self.hasher.hash_one(&k) as usize) % SHARDS;
        let mut g = lock(&self.shards[i]);
        *g.entry(k).or_insert(0) += n;
    }
    pub(crate) fn get(&self, k: &K) -> u64 {
        let i = (self.hasher.hash_one(k) as usize) % SHARDS;
        lock(&self.shards[i]).get(k).copied().unwrap_or(0)
    }
    pub(crate) fn snapshot(&self) -> Vec<(K, u64)> {
        let mut out = Vec::new();
        for s in &self.shards {
            let g = lock(s);
            out.extend(g.iter().map(|(k, v)| (k.clone(), *v)));
        }
        out
    }
    pub(crate) fn clear(&self) {
        for s in &self.shards {
            lock(s).clear();
        }
    }
}

/// Webhook delivery counters of one vendor.
#[derive(Default)]
pub(crate) struct WebhookCounters {
    pub attempts: AtomicU64,
    pub delivered: AtomicU64,
    pub failed_attempts: AtomicU64,
    pub exhausted: AtomicU64,
    pub duplicates: AtomicU64,
}

#[derive(Default)]
pub(crate) struct FaultCounters {
    pub error: AtomicU64,
    pub slow: AtomicU64,
    pub dropped: AtomicU64,
    pub truncated: AtomicU64,
    pub bursts: AtomicU64,
}

pub(crate) struct Stats {
    /// (vendor, "METHOD /route/template", status) → calls.
    pub calls: Sharded<(Vendor, axum::http::Method, std::sync::Arc<str>, u16)>,
    pub paid: Sharded<String>,
    /// Requests that cost credits, per vendor (a bulk upload is one).
    pub paid_calls: [AtomicU64; Vendor::COUNT],
    pub webhooks: [WebhookCounters; Vendor::COUNT],
    pub faults: [FaultCounters; Vendor::COUNT],
    pub rate_limited: [AtomicU64; Vendor::COUNT],
    journal: std::sync::Arc<super::persist::Journal>,
}

impl Stats {
    pub(crate) fn new(journal: std::sync::Arc<super::persist::Journal>) -> Self {
        Self {
            journal,
            calls: Sharded::new(),
            paid: Sharded::new(),
            paid_calls: Default::default(),
            webhooks: Default::default(),
            faults: Default::default(),
            rate_limited: Default::default(),
        }
    }

    pub(crate) fn paid(&self, key: String) {
        // Counted before it is noted, so a write in between cannot miss it.
        if self.journal.on() {
            self.paid.add(key.clone(), 1);
            self.journal.touch(|| super::persist::Dirty::Paid(key));
        } else {
            self.paid.add(key, 1);
        }
    }

    /// One request of `vendor` cost credits.
    pub(crate) fn paid_call(&self, vendor: Vendor) {
        self.paid_calls[vendor.idx()].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn clear(&self) {
        self.calls.clear();
        self.paid.clear();
        for c in &self.paid_calls {
            c.store(0, Ordering::Relaxed);
        }
        for w in &self.webhooks {
            for c in [
                &w.attempts,
                &w.delivered,
                &w.failed_attempts,
                &w.exhausted,
                &w.duplicates,
            ] {
                c.store(0, Ordering::Relaxed);
            }
        }
        for f in &self.faults {
            for c in [&f.error, &f.slow, &f.dropped, &f.truncated, &f.bursts] {
                c.store(0, Ordering::Relaxed);
            }
        }
        for r in &self.rate_limited {
            r.store(0, Ordering::Relaxed);
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookStats {
    pub attempts: u64,
    pub delivered: u64,
    pub failed_attempts: u64,
    pub exhausted: u64,
    pub duplicates: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultStats {
    pub error: u64,
    pub slow: u64,
    pub dropped: u64,
    pub truncated: u64,
    /// Throttling bursts started (each answers every request with the vendor's rate-limit reply for a while).
    pub bursts: u64,
}

/// A point-in-time copy of the counters; what `GET /__sandbox/stats` returns.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StatsSnapshot {
    /// vendor → "GET /api/v2/person/lookup" → status → calls.
    pub calls: BTreeMap<String, BTreeMap<String, BTreeMap<String, u64>>>,
    /// vendor → key → credits charged.
    pub credits_charged: BTreeMap<String, BTreeMap<String, u64>>,
    /// vendor → key → balance (`null` = unlimited).
    pub credits_remaining: BTreeMap<String, BTreeMap<String, Option<i64>>>,
    /// canonical paid request → times paid.
    pub paid_requests: BTreeMap<String, u64>,
    /// vendor → requests that cost credits (a bulk upload counts once).
    #[serde(default)]
    pub paid_calls: BTreeMap<String, u64>,
    pub webhooks: BTreeMap<String, WebhookStats>,
    pub rate_limited: BTreeMap<String, u64>,
    pub faults: BTreeMap<String, FaultStats>,
}

impl StatsSnapshot {
    /// Calls to a route (e.g. `"GET /api/v2/person/lookup"`), all statuses.
    pub fn calls_to(&self, vendor: Vendor, route: &str) -> u64 {
        self.calls
            .get(vendor.as_str())
            .and_then(|m| m.get(route))
            .map(|m| m.values().sum())
            .unwrap_or(0)
    }

    /// Calls to a route that got an answer rather than a throttle: a client
    /// sends a request the sandbox answered 429 again, and pays once.
    pub fn answered(&self, vendor: Vendor, route: &str) -> u64 {
        self.calls_to(vendor, route) - self.calls_with_status(vendor, route, 429)
    }

    /// Calls to a route answered with `status`.
    pub fn calls_with_status(&self, vendor: Vendor, route: &str, status: u16) -> u64 {
        self.calls
            .get(vendor.as_str())
            .and_then(|m| m.get(route))
            .and_then(|m| m.get(&status.to_string()))
            .copied()
            .unwrap_or(0)
    }

    /// Calls to a vendor answered with `status`, all routes.
    pub fn status_count(&self, vendor: Vendor, status: u16) -> u64 {
        let s = status.to_string();
        self.calls
            .get(vendor.as_str())
            .map(|m| m.values().filter_map(|x| x.get(&s)).sum())
            .unwrap_or(0)
    }

    /// Times a canonical request was paid for (0 if never).
    pub fn paid(&self, canonical: &str) -> u64 {
        self.paid_requests.get(canonical).copied().unwrap_or(0)
    }

    /// Credits charged by a vendor over all keys.
    pub fn credits_charged(&self, vendor: Vendor) -> u64 {
        self.credits_charged
            .get(vendor.as_str())
            .map(|m| m.values().sum())
            .unwrap_or(0)
    }

    /// Requests of a vendor that cost credits.
    pub fn paid_calls(&self, vendor: Vendor) -> u64 {
        self.paid_calls.get(vendor.as_str()).copied().unwrap_or(0)
    }

    pub fn webhook(&self, vendor: Vendor) -> WebhookStats {
        self.webhooks.get(vendor.as_str()).cloned().unwrap_or_default()
    }

    /// Paid requests bought more than once.
    pub fn paid_twice(&self) -> Vec<(&str, u64)> {
        self.paid_requests
            .iter()
            .filter(|(_, n)| **n > 1)
            .map(|(k, n)| (k.as_str(), *n))
            .collect()
    }
}
