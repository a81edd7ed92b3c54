//! Sandbox configuration: one strict serde tree, every default taken from the
//! vendor contracts (summarised in `docs/contracts.md`), or marked as a sandbox
//! decision where the contract leaves it open. Loadable from TOML or JSON; changeable at runtime
//! through a JSON merge patch (`POST /__sandbox/config`, [`super::Sandbox::configure`]).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{SandboxError, Vendor};

/// The whole sandbox: seed, bind address, universe size and one block per vendor.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SandboxConfig {
    /// Seed of the synthetic universe and of fault injection.
    pub seed: u64,
    /// Address every vendor listens on. Loopback by default.
    pub bind: IpAddr,
    pub universe: UniverseConfig,
    pub rocketreach: RocketReachConfig,
    pub reachstream: ReachStreamConfig,
    pub leadrocks: LeadRocksConfig,
    pub graph8: Graph8Config,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            seed: 42,
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            universe: UniverseConfig::default(),
            rocketreach: RocketReachConfig::default(),
            reachstream: ReachStreamConfig::default(),
            leadrocks: LeadRocksConfig::default(),
            graph8: Graph8Config::default(),
        }
    }
}

impl SandboxConfig {
    /// Loads a config file: `.json` as JSON, anything else as TOML. Unknown keys
    /// are errors naming their path.
    pub fn from_file(path: &Path) -> Result<Self, SandboxError> {
        let text = std::fs::read_to_string(path).map_err(|e| SandboxError::Config {
            origin: path.display().to_string(),
            message: e.to_string(),
        })?;
        let is_json = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("json"));
        let origin = path.display().to_string();
        if is_json {
            Self::from_json_str(&text).map_err(|e| e.with_origin(&origin))
        } else {
            Self::from_toml_str(&text).map_err(|e| e.with_origin(&origin))
        }
    }

    /// Parses TOML text.
    pub fn from_toml_str(text: &str) -> Result<Self, SandboxError> {
        let de = toml::Deserializer::parse(text).map_err(|e| SandboxError::Config {
            origin: "<toml>".into(),
            message: e.to_string(),
        })?;
        serde_path_to_error::deserialize(de).map_err(|e| SandboxError::Config {
            origin: "<toml>".into(),
            message: format!("{}: {}", e.path(), e.inner()),
        })
    }

    /// Parses JSON text.
    pub fn from_json_str(text: &str) -> Result<Self, SandboxError> {
        let de = &mut serde_json::Deserializer::from_str(text);
        serde_path_to_error::deserialize(de).map_err(|e| SandboxError::Config {
            origin: "<json>".into(),
            message: format!("{}: {}", e.path(), e.inner()),
        })
    }

    /// Applies a JSON merge patch (RFC 7386) and re-validates the result.
    pub fn patched(&self, patch: &serde_json::Value) -> Result<Self, SandboxError> {
        let mut value = serde_json::to_value(self).expect("config serialises");
        merge_patch(&mut value, patch);
        let text = value.to_string();
        Self::from_json_str(&text)
    }

    /// The vendor's fault settings.
    pub(crate) fn faults(&self, v: Vendor) -> &Faults {
        match v {
            Vendor::RocketReach => &self.rocketreach.faults,
            Vendor::ReachStream => &self.reachstream.faults,
            Vendor::LeadRocks => &self.leadrocks.faults,
            Vendor::Graph8 => &self.graph8.faults,
        }
    }

    /// The vendor's accepted API keys.
    pub(crate) fn api_keys(&self, v: Vendor) -> &[String] {
        match v {
            Vendor::RocketReach => &self.rocketreach.api_keys,
            Vendor::ReachStream => &self.reachstream.api_keys,
            Vendor::LeadRocks => &self.leadrocks.api_keys,
            Vendor::Graph8 => &self.graph8.api_keys,
        }
    }

    /// The vendor's configured port (0 = ephemeral).
    pub(crate) fn port(&self, v: Vendor) -> u16 {
        match v {
            Vendor::RocketReach => self.rocketreach.port,
            Vendor::ReachStream => self.reachstream.port,
            Vendor::LeadRocks => self.leadrocks.port,
            Vendor::Graph8 => self.graph8.port,
        }
    }

    /// A config with every rate limit, quota and fault switched off and
    /// unlimited credits: the sandbox as a fast, always-answering fixture.
    pub fn unlimited() -> Self {
        let mut c = Self::default();
        c.rocketreach.rate_limit.clear();
        c.rocketreach.plan = Plan::None;
        c.rocketreach.credits = Credits::Unlimited;
        c.reachstream.rate_limit.clear();
        c.reachstream.credits = Credits::Unlimited;
        c.leadrocks.rate_limit.clear();
        c.leadrocks.credits = Credits::Unlimited;
        c.graph8.rate_limit.clear();
        c
    }
}

/// RFC 7386 JSON merge patch: objects merge recursively, `null` deletes (which
/// here means "back to the default"), anything else replaces.
pub(crate) fn merge_patch(target: &mut serde_json::Value, patch: &serde_json::Value) {
    use serde_json::Value;
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = Value::Object(Default::default());
            }
            let t = target.as_object_mut().expect("object");
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        other => *target = other.clone(),
    }
}

/// Size of the synthetic universe.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UniverseConfig {
    pub companies: u32,
    pub people: u32,
}

impl Default for UniverseConfig {
    fn default() -> Self {
        Self {
            companies: 1_000,
            people: 10_000,
        }
    }
}

/// A fixed window: at most `limit` requests per `per_ms` milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateWindow {
    pub limit: u32,
    pub per_ms: u64,
}

impl RateWindow {
    pub const fn per_second(limit: u32) -> Self {
        Self { limit, per_ms: 1_000 }
    }
    pub const fn per_minute(limit: u32) -> Self {
        Self { limit, per_ms: 60_000 }
    }
}

/// A credit balance: a number, or `"unlimited"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Credits {
    #[default]
    Unlimited,
    Amount(u64),
}

impl Credits {
    pub(crate) fn as_balance(self) -> i64 {
        match self {
            Credits::Unlimited => i64::MAX,
            Credits::Amount(n) => n.min(i64::MAX as u64 / 2) as i64,
        }
    }
}

impl Serialize for Credits {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Credits::Unlimited => s.serialize_str("unlimited"),
            Credits::Amount(n) => s.serialize_u64(*n),
        }
    }
}

impl<'de> Deserialize<'de> for Credits {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(u64),
            S(String),
        }
        match Raw::deserialize(d)? {
            Raw::N(n) => Ok(Credits::Amount(n)),
            Raw::S(s) if s.eq_ignore_ascii_case("unlimited") => Ok(Credits::Unlimited),
            Raw::S(s) => Err(serde::de::Error::custom(format!(
                "expected a number or \"unlimited\", got {s:?}"
            ))),
        }
    }
}

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

/// Latency added before every vendor answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Latency {
    #[default]
    None,
    Fixed {
        ms: u64,
    },
    Uniform {
        min_ms: u64,
        max_ms: u64,
    },
}

/// Seeded fault injection. Rates are probabilities in `0.0..=1.0`, drawn per
/// request from (seed, vendor, request number). Everything off by default.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    pub latency: Latency,
    /// Share of requests answered with `error_status` in the vendor's envelope.
    pub error_rate: f64,
    pub error_status: u16,
    /// Share of requests answered only after `slow_ms` (past a client timeout).
    pub slow_rate: f64,
    pub slow_ms: u64,
    /// Share of requests whose connection is closed without a complete response.
    pub drop_rate: f64,
    /// Share of responses whose body is cut in half (malformed JSON).
    pub truncate_rate: f64,
    /// Share of requests that start a throttling burst: for `throttle_ms`
    /// every request gets the vendor's rate-limit answer (429 with
    /// `Retry-After` where the vendor sends one).
    pub throttle_rate: f64,
    pub throttle_ms: u64,
    /// Share of webhook deliveries sent a second time after a success.
    pub webhook_duplicate_rate: f64,
    /// Extra delay before the first webhook attempt (late webhooks).
    pub webhook_late_ms: u64,
}

impl Default for Faults {
    fn default() -> Self {
        Self {
            latency: Latency::None,
            error_rate: 0.0,
            error_status: 500,
            slow_rate: 0.0,
            slow_ms: 30_000,
            drop_rate: 0.0,
            truncate_rate: 0.0,
            throttle_rate: 0.0,
            throttle_ms: 2_000,
            webhook_duplicate_rate: 0.0,
            webhook_late_ms: 0,
        }
    }
}

impl Faults {
    pub(crate) fn any_request_fault(&self) -> bool {
        self.latency != Latency::None
            || self.error_rate > 0.0
            || self.slow_rate > 0.0
            || self.drop_rate > 0.0
            || self.truncate_rate > 0.0
            || self.throttle_rate > 0.0
    }
}

/// Contract default webhook schedule: attempts at 0 s, 30 s, 2 min, 10 min, 1 h.
fn default_schedule() -> Vec<u64> {
    vec![0, 30_000, 120_000, 600_000, 3_600_000]
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

/// ReachStream webhook, as set up in the account UI.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReachStreamWebhook {
    pub url: Option<String>,
    /// Sent as the `webhook_secret_key` header, and required on data-fetch calls.
    pub secret: String,
    /// Active/Inactive switch; a fetch with no active webhook (or no URL) gets 400.
    pub active: bool,
    /// Delay before each attempt (the first included); only a 200 is a success.
    pub retry_schedule_ms: Vec<u64>,
    pub timeout_ms: u64,
    /// Deliver every successful delivery a second time.
    pub deliver_twice: bool,
    /// Records per POST; 0 = all in one.
    pub batch_size: u32,
    /// Also send `X-Webhook-Signature: sha256=<hex HMAC of body>`.
    pub hmac_signature: bool,
    /// How a data fetch with a wrong `webhook_secret_key` is refused (an open question).
    pub bad_secret: BadSecret,
}

/// The reply to a wrong `webhook_secret_key`, in the contract's envelope.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BadSecret {
    /// 401 `"Unauthorized"`, as for a bad key.
    #[default]
    Unauthorized,
    /// 400 `"Invalid webhook secret key"`.
    BadRequest,
    /// 403 `"Forbidden"`.
    Forbidden,
}

impl Default for ReachStreamWebhook {
    fn default() -> Self {
        Self {
            url: None,
            secret: "rs_webhook_secret".into(),
            active: true,
            retry_schedule_ms: default_schedule(),
            timeout_ms: 10_000,
            deliver_twice: false,
            batch_size: 0,
            hmac_signature: false,
            bad_secret: BadSecret::default(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReachStreamConfig {
    pub port: u16,
    pub api_keys: Vec<String>,
    pub credits: Credits,
    /// Contract: 10 rps per key. `[]` = off.
    pub rate_limit: Vec<RateWindow>,
    /// Masked preview records in a count answer.
    pub preview_size: u32,
    /// The preview masks the company's name and website too, not only the
    /// contact's names, email and phone.
    pub preview_masks_company: bool,
    /// Reject filter values given as JSON arrays (400) instead of `{"0":..}` objects.
    pub reject_array_filters: bool,
    /// Serve the unverified `/async/records/filter/data` + `/records/batch-process` variant.
    pub batch_process_api: bool,
    pub webhook: ReachStreamWebhook,
    pub faults: Faults,
}

impl Default for ReachStreamConfig {
    fn default() -> Self {
        Self {
            port: 0,
            api_keys: vec!["rs_sandbox_key".into()],
            credits: Credits::Amount(10_000),
            rate_limit: vec![RateWindow::per_second(10)],
            preview_size: 2,
            preview_masks_company: false,
            reject_array_filters: true,
            batch_process_api: false,
            webhook: ReachStreamWebhook::default(),
            faults: Faults::default(),
        }
    }
}

/// LeadRocks bulk verification limits and timing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LeadRocksBulk {
    /// Code 104 above this many bytes of file.
    pub max_bytes: u64,
    /// Code 104 above this many lines (header included).
    pub max_lines: u32,
    /// Requests above this are cut off by the HTTP layer (still answered with 104).
    pub max_upload_bytes: u64,
    /// Lists queued or running at once per token (code 109 above it); 0 = off.
    pub max_running: u32,
    pub queued_ms: u64,
    pub running_ms: u64,
    /// Which bulk paths exist (the public docs lost them): `all` answers
    /// every candidate; `leadrocks` only `verify-bulk`, `verify-bulk-progress`,
    /// `verify-bulk-download`; `clearout` only `email_verify/bulk`,
    /// `email_verify/bulk/progress_status`, `download/result`; `none` no bulk
    /// API at all. Any other path answers 404 "Route not found".
    pub paths: BulkPaths,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BulkPaths {
    #[default]
    All,
    Leadrocks,
    Clearout,
    None,
}

impl Default for LeadRocksBulk {
    fn default() -> Self {
        Self {
            max_bytes: 10 * 1024 * 1024,
            max_lines: 10_000,
            max_upload_bytes: 64 * 1024 * 1024,
            max_running: 1,
            queued_ms: 500,
            running_ms: 1_500,
            paths: BulkPaths::All,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LeadRocksConfig {
    pub port: u16,
    pub api_keys: Vec<String>,
    pub credits: Credits,
    /// Per-token request limit (code 111). None published: off by default.
    pub rate_limit: Vec<RateWindow>,
    /// Instant-verify quota (code 110). Off by default.
    pub instant_quota: Vec<RateWindow>,
    pub bulk: LeadRocksBulk,
    /// Overrides of the error code → HTTP status map (keys are codes as strings).
    pub error_http: BTreeMap<String, u16>,
    pub faults: Faults,
}

impl Default for LeadRocksConfig {
    fn default() -> Self {
        Self {
            port: 0,
            api_keys: vec!["lr_sandbox_token".into()],
            credits: Credits::Amount(10_000),
            rate_limit: Vec::new(),
            instant_quota: Vec::new(),
            bulk: LeadRocksBulk::default(),
            error_http: BTreeMap::new(),
            faults: Faults::default(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Graph8Config {
    pub port: u16,
    pub api_keys: Vec<String>,
    /// The organisation every key belongs to (checked against `X-Org-Id`).
    pub org_id: String,
    /// Contract: 50/s and 1,000/min per org. `[]` = off.
    pub rate_limit: Vec<RateWindow>,
    /// People in seeded list 1 "Prospects" (type contacts).
    pub prospects_size: u32,
    /// Most people in seeded list 2 "Do not contact" (type suppressions).
    pub suppressions_size: u32,
    /// Status for `POST /contacts` without `list_id`: 400 (string detail) or 422 (pydantic).
    pub missing_list_id_status: u16,
    /// Contacts written into a list that is not a contacts list (an open question).
    pub wrong_list_type: WrongListType,
    pub faults: Faults,
}

/// What graph8 does with contacts written into a list of another entity type.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WrongListType {
    /// Accepts them (counted as created/updated) and keeps none in the list.
    #[default]
    Drop,
    /// 400 `{"detail":"List N is a companies list, not a contacts list"}`.
    Reject,
}

impl Default for Graph8Config {
    fn default() -> Self {
        Self {
            port: 0,
            api_keys: vec!["g8_test_sandbox".into()],
            org_id: "org_sandbox".into(),
            rate_limit: vec![RateWindow::per_second(50), RateWindow::per_minute(1_000)],
            prospects_size: 500,
            suppressions_size: 100,
            missing_list_id_status: 400,
            wrong_list_type: WrongListType::default(),
            faults: Faults::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_round_trip_through_toml_and_json() {
        let c = SandboxConfig::default();
        let toml_text = toml::to_string(&c).unwrap();
        assert_eq!(SandboxConfig::from_toml_str(&toml_text).unwrap(), c);
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(SandboxConfig::from_json_str(&json).unwrap(), c);
    }

    #[test]
    fn unknown_keys_are_named_with_their_path() {
        let err = SandboxConfig::from_toml_str("[rocketreach]\nratelimit = []\n").unwrap_err();
        assert!(err.to_string().contains("rocketreach"), "{err}");
    }

    #[test]
    fn merge_patch_changes_one_key() {
        let c = SandboxConfig::default();
        let p = serde_json::json!({"reachstream": {"webhook": {"url": "http://127.0.0.1:1/x"}}});
        let n = c.patched(&p).unwrap();
        assert_eq!(n.reachstream.webhook.url.as_deref(), Some("http://127.0.0.1:1/x"));
        assert_eq!(n.reachstream.webhook.secret, c.reachstream.webhook.secret);
        assert!(c.patched(&serde_json::json!({"nope": 1})).is_err());
    }
}
