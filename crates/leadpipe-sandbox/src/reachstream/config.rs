//! ReachStream's section of the sandbox config (`[reachstream]`): preview,
//! filter strictness, the batch-process variant and the webhook. Defaults
//! from the contract (`docs/contracts.md`, ReachStream).

use serde::{Deserialize, Serialize};

use crate::config::{Credits, Faults, RateWindow, default_schedule};
use crate::simulator::Section;

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

impl Section for ReachStreamConfig {
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
    fn webhook_secret(&self) -> Option<String> {
        Some(self.webhook.secret.clone())
    }
    fn webhook_url(&self) -> Option<String> {
        self.webhook.url.clone().filter(|_| self.webhook.active)
    }
}
