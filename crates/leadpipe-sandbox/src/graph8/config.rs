//! graph8's section of the sandbox config (`[graph8]`): the org, the
//! seeded lists, and two open questions of the contract. Defaults from the
//! contract (`docs/contracts.md`, graph8).

use serde::{Deserialize, Serialize};

use crate::config::{Faults, RateWindow};
use crate::simulator::Section;

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

impl Section for Graph8Config {
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
    }
}
