//! LeadRocks' section of the sandbox config (`[leadrocks]`): instant quota,
//! bulk limits and timing, error code statuses. Defaults from the contract
//! (`docs/contracts.md`, LeadRocks).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::{Credits, Faults, RateWindow};
use crate::simulator::Section;

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

impl Section for LeadRocksConfig {
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
        self.credits = Credits::Unlimited;
    }
}
