//! `[vendors.*]`: one table per vendor, shared by every stage that calls it.
//!
//! Every key is optional; defaults come from the vendor contracts and are
//! resolved by the HTTP layer (`crate::vendors`), not here.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::sandbox::Endpoints;
use crate::secret::Secret;
use crate::units::{Rate, Span};

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

    /// Point these vendors at the sandbox's simulators: base URLs, keys and
    /// webhook secrets replace whatever the pipeline file says (keys'
    /// `${VAR}`s need not be set for a sandbox run). The sandbox hands out
    /// plain data; what it means for a pipeline is the client's business.
    pub fn point_at(&mut self, sandbox: &Endpoints) {
        fn set<'a>(slot: &'a mut Option<VendorSpec>, base_url: &str, key: &str) -> &'a mut VendorSpec {
            let spec = slot.get_or_insert_with(Default::default);
            spec.base_url = Some(base_url.to_string());
            spec.api_key = Some(Secret::new(key));
            spec
        }
        let (rr, lr, g8) = (&sandbox.rocketreach, &sandbox.leadrocks, &sandbox.graph8);
        set(&mut self.rocketreach, &rr.base_url, &rr.api_key);
        let rs = &sandbox.reachstream;
        let spec = set(&mut self.reachstream, &rs.base_url, &rs.api_key);
        if let Some(secret) = &rs.webhook_secret {
            spec.webhook_secret = Some(Secret::new(secret));
        }
        set(&mut self.leadrocks, &lr.base_url, &lr.api_key);
        set(&mut self.graph8, &g8.base_url, &g8.api_key);
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
