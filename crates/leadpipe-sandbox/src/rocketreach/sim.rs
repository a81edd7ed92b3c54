//! RocketReach as the shared machinery drives it: start, keys, reset, its
//! answers to faults and bursts, and what it keeps in the state file
//! (lookups in progress, profiles already bought, request ids).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, OnceLock};

use axum::Router;
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};

use super::{Lookup, State, make_key};
use crate::limits::Keyring;
use crate::persist::{Journal, from_wall, to_wall};
use crate::simulator::{Save, Simulator};
use crate::universe::Universe;
use crate::util::lock;
use crate::{Core, SandboxConfig};

/// Lookups in progress, by person id.
pub(super) const LOOKUPS: &str = "rr.lookup";
/// Profiles already charged to a key, as `key\tperson id`.
pub(super) const BOUGHT: &str = "rr.bought";

pub(super) fn bought_key(key: &str, person_id: u64) -> String {
    format!("{key}\t{person_id}")
}

/// A lookup in progress, as the state file keeps it (times in wall-clock ms).
#[derive(Debug, Serialize, Deserialize)]
struct LookupRec {
    started: u64,
    polls: u32,
    done_at: Option<u64>,
}

impl Simulator for State {
    fn new(_: &Universe, _: &SandboxConfig, journal: &Arc<Journal>) -> Self {
        Self {
            keys: Keyring::new(),
            lookups: Mutex::new(HashMap::new()),
            bought: Mutex::new(HashSet::new()),
            seq: AtomicU64::new(0),
            journal: journal.clone(),
            complete: OnceLock::new(),
        }
    }

    fn routes(&self, core: &Arc<Core>) -> Router<Arc<Core>> {
        super::routes(core)
    }

    fn error(&self, status: StatusCode, message: &str) -> Response {
        super::error(status, message)
    }

    fn throttled(&self, core: &Core, retry_after_secs: u64) -> Response {
        super::throttled(core, retry_after_secs)
    }

    fn keys(&self) -> &Keyring {
        &self.keys
    }

    fn apply(&self, config: &SandboxConfig, carry: bool) {
        let cfg = &config.rocketreach;
        self.keys.rebuild(&cfg.api_keys, |k| make_key(k, cfg), carry);
    }

    /// Forgets lookups and purchases; request ids go on where they were.
    fn reset(&self, _: &Universe, _: &SandboxConfig) {
        lock(&self.lookups).clear();
        lock(&self.bought).clear();
    }

    fn seq(&self) -> Option<&AtomicU64> {
        Some(&self.seq)
    }

    fn spaces(&self) -> &'static [&'static str] {
        &[LOOKUPS, BOUGHT]
    }

    fn save(&self, space: &str, key: &str) -> Save {
        match space {
            LOOKUPS => {
                let Ok(id) = key.parse() else { return Save::Keep };
                match lock(&self.lookups).get(&id) {
                    Some(l) => Save::Put(json(&LookupRec {
                        started: to_wall(l.started),
                        polls: l.polls,
                        done_at: l.done_at.map(to_wall),
                    })),
                    None => Save::Delete,
                }
            }
            BOUGHT => Save::Put(b"1".to_vec()),
            _ => Save::Keep,
        }
    }

    fn restore(&self, space: &str, records: Vec<(String, Vec<u8>)>) -> Result<(), String> {
        match space {
            LOOKUPS => {
                for (k, v) in records {
                    let r: LookupRec = serde_json::from_slice(&v).map_err(|e| e.to_string())?;
                    let Ok(id) = k.parse() else { continue };
                    let lookup = Lookup {
                        started: from_wall(r.started),
                        polls: r.polls,
                        done_at: r.done_at.map(from_wall),
                    };
                    lock(&self.lookups).insert(id, lookup);
                }
            }
            BOUGHT => {
                for (k, _) in records {
                    if let Some((key, id)) = k.rsplit_once('\t')
                        && let Ok(id) = id.parse()
                    {
                        lock(&self.bought).insert((key.to_string(), id));
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }
}

fn json(v: &impl Serialize) -> Vec<u8> {
    serde_json::to_vec(v).expect("sandbox records serialise")
}
