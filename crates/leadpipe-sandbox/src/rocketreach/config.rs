//! RocketReach's section of the sandbox config (`[rocketreach]`): plan
//! quotas, lookup lifecycle, charging, bulk limits, webhook, error shape.
//! Defaults from the contract (`docs/contracts.md`, RocketReach).

use serde::{Deserialize, Serialize};

use crate::config::{Credits, Faults, RateWindow, default_schedule};
use crate::simulator::Section;

/// RocketReach plan, selecting the per-minute/hour/day/month quota table of the
/// contract (`none` switches plan quotas off; the global limit still applies).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Plan {
    None,
    Essentials,
    Pro,
    Ultimate,
    Custom,
}

impl Plan {
    /// Quotas as (min, hour, day, month) for the actions `search`, `lookup`,
    /// `company_search`, `bulk`; month 0 = no monthly quota.
    pub(crate) fn quotas(self, action: &str) -> Option<[u32; 4]> {
        let search = match self {
            Plan::None => return None,
            Plan::Essentials => [15, 50, 500, 10_000],
            Plan::Pro => [30, 250, 750, 15_000],
            Plan::Ultimate => [60, 500, 1_000, 20_000],
            Plan::Custom => [100, 1_000, 10_000, 200_000],
        };
        Some(match action {
            "search" | "company_search" => search,
            "lookup" => match self {
                Plan::Essentials => [15, 100, 500, 5_000],
                Plan::Pro => [50, 300, 1_500, 20_000],
                Plan::Ultimate => [100, 1_000, 3_000, 50_000],
                _ => [250, 2_500, 10_000, 200_000],
            },
            "bulk" => match self {
                Plan::Custom => [10, 100, 1_000, 0],
                _ => [10, 25, 100, 0],
            },
            _ => return None,
        })
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Plan::None => "Unlimited",
            Plan::Essentials => "Essentials",
            Plan::Pro => "Pro",
            Plan::Ultimate => "Ultimate",
            Plan::Custom => "Custom",
        }
    }
}

/// How a RocketReach error body looks: DRF `{"detail"}` (what the SDK and live
/// probes see), the docs' `{"status","message"}`, or both merged in one object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorShape {
    Both,
    Drf,
    Docs,
}

/// RocketReach lookup lifecycle: a lookup of an async person walks
/// `waiting → searching → progress` and becomes terminal after `polls`
/// checkStatus polls, or once `after_ms` have passed since the lookup (0 = off).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Lifecycle {
    pub polls: u32,
    pub after_ms: u64,
}

impl Default for Lifecycle {
    fn default() -> Self {
        Self { polls: 2, after_ms: 0 }
    }
}

/// RocketReach webhook, as set up in the account UI.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RocketReachWebhook {
    pub id: u64,
    pub url: Option<String>,
    /// HMAC key of `X-RocketReach-Signature`; `None` = no signature header.
    pub secret: Option<String>,
    pub active: bool,
    /// Also deliver lookups that complete synchronously.
    pub on_sync: bool,
    /// Time from the lookup to the (first) delivery of an async result.
    pub delay_ms: u64,
    pub retry_schedule_ms: Vec<u64>,
    pub timeout_ms: u64,
    /// A delivery carries the `RR-Request-ID` of the request it answers (the
    /// contract); off plays a vendor whose deliveries carry ids of their own.
    pub same_request_id: bool,
}

impl Default for RocketReachWebhook {
    fn default() -> Self {
        Self {
            id: 1,
            url: None,
            secret: Some("rr_webhook_secret".into()),
            active: false,
            on_sync: true,
            delay_ms: 50,
            retry_schedule_ms: default_schedule(),
            timeout_ms: 10_000,
            same_request_id: true,
        }
    }
}

/// How RocketReach charges a lookup.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Charging {
    /// The contract's FAQ: charged on data found, by `lookup_type`: standard
    /// = an A/A- email; premium = an A/A- email or a valid phone; phone = a
    /// phone; enrich = the profile exists. Bulk: one export credit per profile.
    #[default]
    DataFound,
    /// One credit for every profile found, whatever it holds.
    EveryProfile,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RocketReachConfig {
    /// 0 = ephemeral.
    pub port: u16,
    /// Accepted keys; the first is reported in the endpoints JSON.
    pub api_keys: Vec<String>,
    /// Credit balance per key (lookups, company lookups and bulk exports draw from it).
    pub credits: Credits,
    /// Global limit across all APIs, per key. Contract: 10/s. `[]` = off.
    pub rate_limit: Vec<RateWindow>,
    /// Plan quotas per minute/hour/day/month (contract table).
    pub plan: Plan,
    /// Multiplies plan window lengths (e.g. 0.001 turns a minute into 60 ms for tests).
    pub plan_time_scale: f64,
    pub lifecycle: Lifecycle,
    /// Charge (and count as paid) a repeated lookup of the same profile.
    pub charge_relookup: bool,
    /// What a lookup costs (the contract's FAQ, or a vendor that charges every profile).
    pub charging: Charging,
    /// Bulk deliveries echo each query's `metadata` (the contract lists it for
    /// lookups; for bulk it only says "a list" of profiles).
    pub bulk_echo_metadata: bool,
    pub error_shape: ErrorShape,
    pub bulk_min_queries: u32,
    pub bulk_max_queries: u32,
    pub check_status_max_ids: u32,
    pub webhook: RocketReachWebhook,
    pub faults: Faults,
}

impl Default for RocketReachConfig {
    fn default() -> Self {
        Self {
            port: 0,
            api_keys: vec!["rr_sandbox_key".into()],
            credits: Credits::Amount(10_000),
            rate_limit: vec![RateWindow::per_second(10)],
            plan: Plan::Custom,
            plan_time_scale: 1.0,
            lifecycle: Lifecycle::default(),
            charge_relookup: true,
            charging: Charging::DataFound,
            bulk_echo_metadata: true,
            error_shape: ErrorShape::Both,
            bulk_min_queries: 1,
            bulk_max_queries: 100,
            check_status_max_ids: 100,
            webhook: RocketReachWebhook::default(),
            faults: Faults::default(),
        }
    }
}

impl Section for RocketReachConfig {
    fn port(&self) -> u16 {
        self.port
    }
    fn api_keys(&self) -> &[String] {
        &self.api_keys
    }
    fn faults(&self) -> &Faults {
        &self.faults
    }
    fn unlimit(&mut self) {
        self.rate_limit.clear();
        self.plan = Plan::None;
        self.credits = Credits::Unlimited;
    }
    fn check(&self) -> Result<(), String> {
        if self.plan_time_scale.is_nan() || self.plan_time_scale <= 0.0 {
            return Err("plan_time_scale: must be > 0".into());
        }
        Ok(())
    }
    fn webhook_url(&self) -> Option<String> {
        self.webhook.url.clone()
    }
}
