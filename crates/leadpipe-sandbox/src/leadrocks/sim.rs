//! LeadRocks as the shared machinery drives it: start, keys, reset, its
//! answers to faults and bursts, and what it keeps in the state file (bulk
//! lists, list ids).

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};

use super::{BulkList, State};
use crate::limits::{KeyState, Keyring, Limiter};
use crate::persist::{Journal, from_wall, to_wall};
use crate::simulator::{Save, Simulator};
use crate::universe::Universe;
use crate::util::lock;
use crate::{Core, SandboxConfig};

/// Bulk lists, by list id.
pub(super) const LISTS: &str = "lr.list";

/// A bulk list, as the state file keeps it (times in wall-clock ms).
#[derive(Debug, Serialize, Deserialize)]
struct ListRec {
    key: String,
    created: u64,
    queued_ms: u64,
    running_ms: u64,
    header: Vec<String>,
    rows: Vec<Vec<String>>,
    email_col: usize,
}

impl Simulator for State {
    fn new(_: &Universe, _: &SandboxConfig, _: &Arc<Journal>) -> Self {
        Self {
            keys: Keyring::new(),
            seq: AtomicU64::new(0),
            lists: Mutex::new(HashMap::new()),
        }
    }

    fn routes(&self, core: &Arc<Core>) -> Router<Arc<Core>> {
        super::routes(core)
    }

    fn error(&self, status: StatusCode, message: &str) -> Response {
        super::error_for_status(status, message)
    }

    /// LeadRocks has no 429: its per-token limit answers code 111.
    fn throttled(&self, core: &Core, _: u64) -> Response {
        super::rate_limited(core)
    }

    fn keys(&self) -> &Keyring {
        &self.keys
    }

    fn apply(&self, config: &SandboxConfig, carry: bool) {
        let cfg = &config.leadrocks;
        self.keys.rebuild(
            &cfg.api_keys,
            |k| {
                let mut l = Vec::new();
                if let Some(x) = Limiter::new(&cfg.rate_limit, 1.0) {
                    l.push(("*", x));
                }
                if let Some(x) = Limiter::new(&cfg.instant_quota, 1.0) {
                    l.push(("instant", x));
                }
                KeyState::new(k, cfg.credits, l)
            },
            carry,
        );
    }

    /// Forgets the lists; list ids go on where they were.
    fn reset(&self, _: &Universe, _: &SandboxConfig) {
        lock(&self.lists).clear();
    }

    fn seq(&self) -> Option<&AtomicU64> {
        Some(&self.seq)
    }

    fn spaces(&self) -> &'static [&'static str] {
        &[LISTS]
    }

    fn save(&self, space: &str, key: &str) -> Save {
        let (LISTS, Ok(id)) = (space, key.parse::<u64>()) else {
            return Save::Keep;
        };
        let rec = lock(&self.lists).get(&id).map(|l| ListRec {
            key: l.key.clone(),
            created: to_wall(l.created),
            queued_ms: l.queued.as_millis() as u64,
            running_ms: l.running.as_millis() as u64,
            header: l.header.clone(),
            rows: l.rows.clone(),
            email_col: l.email_col,
        });
        match rec {
            Some(rec) => Save::Put(serde_json::to_vec(&rec).expect("sandbox records serialise")),
            None => Save::Keep,
        }
    }

    fn restore(&self, space: &str, records: Vec<(String, Vec<u8>)>) -> Result<(), String> {
        if space != LISTS {
            return Ok(());
        }
        for (k, v) in records {
            let r: ListRec = serde_json::from_slice(&v).map_err(|e| e.to_string())?;
            let Ok(id) = k.parse() else { continue };
            let list = BulkList {
                key: r.key,
                created: from_wall(r.created),
                queued: Duration::from_millis(r.queued_ms),
                running: Duration::from_millis(r.running_ms),
                header: r.header,
                rows: r.rows,
                email_col: r.email_col,
            };
            lock(&self.lists).insert(id, list);
        }
        Ok(())
    }
}
