//! `[vendors.*]`: one table per vendor, shared by every stage that calls it.
//!
//! Every key is optional; defaults come from the vendor contracts and are
//! resolved by the HTTP layer (`crate::vendors`), not here.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::units::{Rate, Span};
use crate::secret::Secret;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VendorsSpec {
    pub rocketreach: Option<VendorSpec>,
    pub reachstream: Option<VendorSpec>,
    pub leadrocks: Option<VendorSpec>,
    pub graph8: Option<VendorSpec>,
}

impl VendorsSpec {
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &VendorSpec)> {
        [
            ("rocketreach", &self.rocketreach),
            ("reachstream", &self.reachstream),
            ("leadrocks", &self.leadrocks),
            ("graph8", &self.graph8),
        ]
        .into_iter()
        .filter_map(|(name, spec)| spec.as_ref().map(|s| (name, s)))
    }
}

/// The request block of one vendor: where, who, how fast, how patient.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VendorSpec {
    /// API key, normally `"${VENDOR_API_KEY}"`; never logged.
    pub api_key: Option<Secret>,
    /// Base URL; defaults to the real service.
    pub base_url: Option<String>,
    /// RocketReach only: plan preset for the rate windows (`essentials | pro | ultimate | custom`).
    pub plan: Option<String>,
    /// Rate windows enforced together, e.g. `["10/s", "50/min"]`; replaces the preset.
    pub rate_limits: Option<Vec<Rate>>,
    /// Requests in flight at once.
    pub concurrency: Option<u32>,
    /// Per-request timeout.
    pub timeout: Option<Span>,
    /// Attempts per request for retryable failures (including the first).
    pub max_attempts: Option<u32>,
    /// First backoff delay; doubles per attempt with jitter.
    pub min_backoff: Option<Span>,
    /// Longest backoff delay.
    pub max_backoff: Option<Span>,
    /// How long a found answer stays cached.
    pub cache_ttl: Option<Span>,
    /// How long a "not found" answer stays cached.
    pub not_found_ttl: Option<Span>,
    /// Endpoint paths relative to the base URL, by endpoint name.
    #[serde(default)]
    pub paths: BTreeMap<String, String>,
    /// LeadRocks only: send `Authorization: Bearer <key>` instead of the raw key.
    pub bearer: Option<bool>,
    /// Webhook secret (ReachStream `webhook_secret_key`, RocketReach signature secret).
    pub webhook_secret: Option<Secret>,
}
