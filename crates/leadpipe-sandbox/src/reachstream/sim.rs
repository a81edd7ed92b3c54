//! ReachStream as the shared machinery drives it: start, keys, reset, its
//! answers to faults and bursts, and what it keeps in the state file (batch
//! jobs, processing ids).

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};

use super::{BatchJob, State};
use crate::limits::{KeyState, Keyring, Limiter};
use crate::persist::{Journal, from_wall, to_wall};
use crate::simulator::{Save, Simulator};
use crate::universe::Universe;
use crate::util::lock;
use crate::{Core, SandboxConfig};

/// Batch jobs, by processing id.
pub(super) const JOBS: &str = "rs.job";

/// A batch job, as the state file keeps it (times in wall-clock ms).
#[derive(Debug, Serialize, Deserialize)]
struct JobRec {
    key: String,
    created: u64,
    records: Vec<u32>,
    charged: bool,
}

impl Simulator for State {
    fn new(_: &Universe, _: &SandboxConfig, _: &Arc<Journal>) -> Self {
        Self {
            keys: Keyring::new(),
            seq: AtomicU64::new(0),
            jobs: Mutex::new(HashMap::new()),
        }
    }

    fn routes(&self, core: &Arc<Core>) -> Router<Arc<Core>> {
        super::routes(core)
    }

    fn error(&self, status: StatusCode, message: &str) -> Response {
        super::error(status, message)
    }

    /// ReachStream's 429 carries no `Retry-After`.
    fn throttled(&self, _: &Core, _: u64) -> Response {
        super::error(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests")
    }

    fn keys(&self) -> &Keyring {
        &self.keys
    }

    fn apply(&self, config: &SandboxConfig, carry: bool) {
        let cfg = &config.reachstream;
        self.keys.rebuild(
            &cfg.api_keys,
            |k| {
                let l = Limiter::new(&cfg.rate_limit, 1.0)
                    .map(|l| vec![("*", l)])
                    .unwrap_or_default();
                KeyState::new(k, cfg.credits, l)
            },
            carry,
        );
    }

    /// Forgets the jobs; processing ids go on where they were.
    fn reset(&self, _: &Universe, _: &SandboxConfig) {
        lock(&self.jobs).clear();
    }

    fn seq(&self) -> Option<&AtomicU64> {
        Some(&self.seq)
    }

    fn spaces(&self) -> &'static [&'static str] {
        &[JOBS]
    }

    fn save(&self, space: &str, key: &str) -> Save {
        let (JOBS, Ok(id)) = (space, key.parse::<u64>()) else {
            return Save::Keep;
        };
        let rec = lock(&self.jobs).get(&id).map(|j| JobRec {
            key: j.key.key.clone(),
            created: to_wall(j.created),
            records: j.records.clone(),
            charged: j.charged,
        });
        match rec {
            Some(rec) => Save::Put(serde_json::to_vec(&rec).expect("sandbox records serialise")),
            None => Save::Keep,
        }
    }

    fn restore(&self, space: &str, records: Vec<(String, Vec<u8>)>) -> Result<(), String> {
        if space != JOBS {
            return Ok(());
        }
        for (k, v) in records {
            let r: JobRec = serde_json::from_slice(&v).map_err(|e| e.to_string())?;
            let (Ok(id), Some(key)) = (k.parse(), self.keys.get(&r.key)) else {
                continue;
            };
            let job = BatchJob {
                key,
                created: from_wall(r.created),
                records: r.records,
                charged: r.charged,
            };
            lock(&self.jobs).insert(id, job);
        }
        Ok(())
    }
}
