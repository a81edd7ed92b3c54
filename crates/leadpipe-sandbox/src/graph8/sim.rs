//! graph8 as the shared machinery drives it: start, keys, reset (back to
//! the seeded CRM), its answers to faults and bursts, and what it keeps in
//! the state file (the whole CRM, rewritten after every request that may
//! change it).

use std::sync::{Arc, Mutex, RwLock};

use axum::Router;
use axum::http::{Method, StatusCode};
use axum::response::Response;

use super::{State, seed_store};
use crate::config::Credits;
use crate::limits::{KeyState, Keyring, Limiter};
use crate::persist::Journal;
use crate::simulator::{Save, Simulator};
use crate::universe::Universe;
use crate::util::write_lock;
use crate::{Core, SandboxConfig};

/// The CRM (contacts, companies, lists, columns), one record.
const CRM: &str = "graph8";

impl Simulator for State {
    fn new(universe: &Universe, config: &SandboxConfig, _: &Arc<Journal>) -> Self {
        Self {
            keys: Keyring::new(),
            org_limiter: RwLock::new(None),
            store: Mutex::new(seed_store(universe, &config.graph8)),
        }
    }

    fn routes(&self, core: &Arc<Core>) -> Router<Arc<Core>> {
        super::routes(core)
    }

    fn error(&self, status: StatusCode, message: &str) -> Response {
        super::error(status, message)
    }

    fn throttled(&self, _: &Core, retry_after_secs: u64) -> Response {
        super::throttled(retry_after_secs)
    }

    fn keys(&self) -> &Keyring {
        &self.keys
    }

    /// graph8 keys have no balance; the rate limit is the org's.
    fn apply(&self, config: &SandboxConfig, carry: bool) {
        let cfg = &config.graph8;
        self.keys.rebuild(
            &cfg.api_keys,
            |k| KeyState::new(k, Credits::Unlimited, Vec::new()),
            carry,
        );
        *write_lock(&self.org_limiter) = Limiter::new(&cfg.rate_limit, 1.0).map(Arc::new);
    }

    fn reset(&self, universe: &Universe, config: &SandboxConfig) {
        *self.store() = seed_store(universe, &config.graph8);
    }

    fn spaces(&self) -> &'static [&'static str] {
        &[CRM]
    }

    fn save(&self, space: &str, _: &str) -> Save {
        match space {
            CRM => Save::Put(serde_json::to_vec(&*self.store()).expect("graph8 data serialises")),
            _ => Save::Keep,
        }
    }

    fn restore(&self, space: &str, mut records: Vec<(String, Vec<u8>)>) -> Result<(), String> {
        if let (CRM, Some((_, v))) = (space, records.pop()) {
            *self.store() = serde_json::from_slice(&v).map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// Any request but a read may change the CRM.
    fn rewritten_after(&self, method: &Method) -> Option<(&'static str, String)> {
        (method != Method::GET).then(|| (CRM, String::new()))
    }
}
