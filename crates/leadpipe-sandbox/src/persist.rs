//! The sandbox's memory on disk: what a vendor remembers between two starts
//! of the simulators (`leadpipe sandbox --state FILE`, and `leadpipe run
//! --sandbox`, which keeps it beside the run's state file). Owns the SQLite
//! file, the journal of what changed since the last write, and the loading
//! of a file back into the simulators; it does not decide any answer.
//!
//! Kept: credit balances and charges per key, each vendor's id counter and
//! the webhook delivery counter, each vendor's own records (lookups in
//! progress, jobs, lists, a CRM: the spaces it names through
//! [`Simulator`](super::simulator::Simulator), stored and read back by its
//! own module), webhook deliveries still due (and where each is in its retry
//! schedule), the fault sequence and the counters behind
//! [`super::StatsSnapshot`]. Not kept: the configuration (each start reads
//! its own), rate windows and throttling bursts (they are seconds long).
//! Per-vendor counters are stored in registry order; the file notes that
//! order and a start whose registry does not continue it refuses the file.
//! This module names no vendor.
//!
//! Write-through: a vendor route marks what it changed in the [`Journal`],
//! and [`layer`] writes it in one transaction before the answer leaves, so a
//! SIGKILL can land anywhere and the next start meets what the last answer
//! said. Webhook deliveries write after each attempt. The file is held with
//! an exclusive lock while a sandbox uses it. Times are stored as wall-clock
//! milliseconds and turned back into [`Instant`]s on loading, so a lookup's
//! lifecycle or a bulk list's progress goes on counting while no sandbox runs.
//!
//! Hand-written rather than a generic key-value crate: the records are the
//! simulators' own structs, and rusqlite is already how leadpipe keeps state.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::simulator::Save;
use super::util::lock;
use super::{Core, SandboxError, Vendor};

/// Schema of the file (`PRAGMA user_version`).
const VERSION: i64 = 1;

/// Where `leadpipe run --sandbox` keeps the sandbox of a run whose state file
/// is `state`: `state/demo.db` → `state/demo.sandbox.db`.
pub fn beside(state: &Path) -> PathBuf {
    let stem = state.file_stem().map(|s| s.to_string_lossy().into_owned());
    let name = format!("{}.sandbox.db", stem.as_deref().unwrap_or("state"));
    state.with_file_name(name)
}

/// Microseconds since the epoch: the base of the id counters when nothing is
/// remembered, so a restarted sandbox never hands out an id of an earlier one
/// (it would take over a million ids a second to catch up with the clock).
pub(crate) fn clock_base() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

fn wall_ms_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// An instant as wall-clock milliseconds.
pub(crate) fn to_wall(t: Instant) -> u64 {
    let now = Instant::now();
    let wall = wall_ms_now();
    if t <= now {
        wall.saturating_sub(now.duration_since(t).as_millis() as u64)
    } else {
        wall + t.duration_since(now).as_millis() as u64
    }
}

/// Wall-clock milliseconds as an instant of this process.
pub(crate) fn from_wall(ms: u64) -> Instant {
    let now = Instant::now();
    let wall = wall_ms_now();
    if ms <= wall {
        now.checked_sub(Duration::from_millis(wall - ms)).unwrap_or(now)
    } else {
        now + Duration::from_millis(ms - wall)
    }
}

/// Something a route or a delivery changed, to be written before its answer.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Dirty {
    /// A canonical paid request's count.
    Paid(String),
    /// A record of one of a vendor's own spaces: (vendor, space, key); the
    /// vendor's `Simulator::save` says what it holds now.
    Record(Vendor, &'static str, String),
    /// A webhook delivery still due, as JSON.
    Delivery(u64, Vec<u8>),
    DeliveryDone(u64),
}

/// What changed since the last write. Off (and free) without a state file.
#[derive(Default)]
pub(crate) struct Journal {
    on: AtomicBool,
    dirty: Mutex<Vec<Dirty>>,
}

impl Journal {
    pub(crate) fn on(&self) -> bool {
        self.on.load(Ordering::Relaxed)
    }

    /// Notes a change; `what` is only built when a file is kept.
    pub(crate) fn touch(&self, what: impl FnOnce() -> Dirty) {
        if self.on() {
            lock(&self.dirty).push(what());
        }
    }

    fn take(&self) -> Vec<Dirty> {
        std::mem::take(&mut *lock(&self.dirty))
    }
}

/// Key of the webhook delivery counter among the id counters.
const DELIVERIES: &str = "deliveries";

/// One API key's balance and counters.
#[derive(Debug, Serialize, Deserialize)]
struct KeyRec {
    vendor: Vendor,
    key: String,
    initial: super::Credits,
    balance: i64,
    charged: u64,
    calls: u64,
}

/// The small state rewritten whole at every write. The per-vendor lists
/// are in registry order (`Vendor::idx`).
#[derive(Debug, Default, Serialize, Deserialize)]
struct Fixed {
    /// The id counters, by vendor name, and [`DELIVERIES`]; kept so no id is
    /// handed out twice.
    seqs: BTreeMap<String, u64>,
    fault_seq: Vec<u64>,
    keys: Vec<KeyRec>,
    /// (vendor, method, route, status, calls).
    calls: Vec<(Vendor, String, String, u16, u64)>,
    paid_calls: Vec<u64>,
    /// attempts, delivered, failed attempts, exhausted, duplicates.
    webhooks: Vec<[u64; 5]>,
    /// error, slow, dropped, truncated, bursts.
    faults: Vec<[u64; 5]>,
    rate_limited: Vec<u64>,
}

/// The open file.
pub(crate) struct Persist {
    path: PathBuf,
    conn: Mutex<Connection>,
}

fn db_error(path: &Path, e: impl std::fmt::Display) -> SandboxError {
    SandboxError::State {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

impl Persist {
    /// Opens (or creates) the file and takes it for this sandbox alone.
    pub(crate) fn open(path: &Path) -> Result<Persist, SandboxError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| db_error(path, e))?;
        }
        let conn = Connection::open(path).map_err(|e| db_error(path, e))?;
        let setup = || -> rusqlite::Result<()> {
            conn.pragma_update(None, "locking_mode", "EXCLUSIVE")?;
            conn.pragma_update(None, "journal_mode", "WAL")?;
            // A process killed after a commit loses nothing at NORMAL in WAL
            // mode; only a power cut could take back the last commits.
            conn.pragma_update(None, "synchronous", "NORMAL")?;
            let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
            if version > VERSION {
                return Err(rusqlite::Error::InvalidParameterName(format!(
                    "written by a newer leadpipe (schema {version}, this one knows {VERSION})"
                )));
            }
            conn.execute_batch(
                "BEGIN IMMEDIATE;
                 CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
                 CREATE TABLE IF NOT EXISTS records(space TEXT NOT NULL, key TEXT NOT NULL,
                     value BLOB NOT NULL, PRIMARY KEY(space, key)) WITHOUT ROWID;
                 PRAGMA user_version = 1;
                 COMMIT;",
            )
        };
        setup().map_err(|e| match e {
            rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::DatabaseBusy => {
                db_error(path, "in use by another running sandbox")
            }
            e => db_error(path, e),
        })?;
        Ok(Persist {
            path: path.to_path_buf(),
            conn: Mutex::new(conn),
        })
    }

    /// Checks the file belongs to this universe, loads it into `core` and
    /// turns the journal on. Answers the deliveries still due.
    pub(crate) fn load(&self, core: &Core, id_base: u64) -> Result<Vec<super::webhook::Pending>, SandboxError> {
        let conn = lock(&self.conn);
        self.same_universe(&conn, core)?;
        self.same_vendors(&conn)?;
        let spaces = read_spaces(&conn).map_err(|e| db_error(&self.path, e))?;
        drop(conn);
        let due = restore(core, spaces, id_base).map_err(|e| db_error(&self.path, e))?;
        core.journal.on.store(true, Ordering::Relaxed);
        self.flush(core);
        Ok(due)
    }

    /// Refuses a file written for another seed or universe; marks a new one.
    fn same_universe(&self, conn: &Connection, core: &Core) -> Result<(), SandboxError> {
        let err = |e: rusqlite::Error| db_error(&self.path, e);
        let c = core.config();
        let universe = format!(
            "seed {}, {} companies, {} people",
            c.seed, c.universe.companies, c.universe.people
        );
        let known: Option<String> = conn
            .query_row("SELECT value FROM meta WHERE key = 'universe'", [], |r| r.get(0))
            .optional()
            .map_err(err)?;
        match known {
            Some(k) if k != universe => Err(db_error(
                &self.path,
                format!(
                    "remembers a sandbox of {k}, not of {universe}; start with that seed and universe, \
                     or remove the file to start over"
                ),
            )),
            Some(_) => Ok(()),
            None => conn
                .execute(
                    "INSERT INTO meta(key, value) VALUES ('universe', ?1)",
                    params![universe],
                )
                .map(drop)
                .map_err(err),
        }
    }

    /// Refuses a file whose per-vendor counters were stored for a registry
    /// this one does not continue (vendors removed or reordered); notes this
    /// registry's order. A file without the note (written before it) is
    /// taken to be in this order.
    fn same_vendors(&self, conn: &Connection) -> Result<(), SandboxError> {
        let err = |e: rusqlite::Error| db_error(&self.path, e);
        let now = Vendor::ALL.map(Vendor::as_str).join(" ");
        let known: Option<String> = conn
            .query_row("SELECT value FROM meta WHERE key = 'vendors'", [], |r| r.get(0))
            .optional()
            .map_err(err)?;
        if let Some(k) = &known {
            let continued = now == *k || now.strip_prefix(k.as_str()).is_some_and(|rest| rest.starts_with(' '));
            if !continued {
                return Err(db_error(
                    &self.path,
                    format!(
                        "keeps per-vendor counters for the vendors {k:?}, and this sandbox has {now:?} \
                         (a vendor removed or moved); they would be mixed up, so remove the file to start over"
                    ),
                ));
            }
        }
        conn.execute(
            "INSERT OR REPLACE INTO meta(key, value) VALUES ('vendors', ?1)",
            params![now],
        )
        .map(drop)
        .map_err(err)
    }

    /// Writes what changed, and the small state, in one transaction.
    pub(crate) fn flush(&self, core: &Core) {
        let mut conn = lock(&self.conn);
        let dirty = core.journal.take();
        if let Err(e) = write(&mut conn, core, dirty) {
            tracing::error!(file = %self.path.display(), error = %e, "sandbox state not written");
        }
    }

    /// Forgets everything but the id counters (a reset of the simulators).
    pub(crate) fn clear(&self, core: &Core) {
        {
            let conn = lock(&self.conn);
            core.journal.take();
            if let Err(e) = conn.execute("DELETE FROM records", []) {
                tracing::error!(file = %self.path.display(), error = %e, "sandbox state not cleared");
            }
        }
        self.flush(core);
    }
}

/// Records by space: (key, value) pairs.
type Spaces = HashMap<String, Vec<(String, Vec<u8>)>>;

/// Every record of the file, by space.
fn read_spaces(conn: &Connection) -> rusqlite::Result<Spaces> {
    let mut spaces = Spaces::new();
    let mut stmt = conn.prepare("SELECT space, key, value FROM records")?;
    let rows = stmt.query_map([], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, Vec<u8>>(2)?))
    })?;
    for row in rows {
        let (space, key, value) = row?;
        spaces.entry(space).or_default().push((key, value));
    }
    Ok(spaces)
}

/// Puts the records back into the simulators; answers the deliveries due,
/// oldest first.
fn restore(core: &Core, mut spaces: Spaces, id_base: u64) -> Result<Vec<super::webhook::Pending>, String> {
    let mut space = |name: &str| spaces.remove(name).unwrap_or_default();
    fn read<T: serde::de::DeserializeOwned>(what: &str, v: &[u8]) -> Result<T, String> {
        serde_json::from_slice(v).map_err(|e| format!("{what}: {e}"))
    }
    let fixed: Fixed = match space("fixed").pop() {
        Some((_, v)) => read("fixed", &v)?,
        None => Fixed::default(),
    };
    restore_fixed(core, &fixed, id_base);
    for (k, v) in space("paid") {
        core.stats.paid.add(k, read("paid", &v)?);
    }
    for v in Vendor::ALL {
        let sim = core.sims.get(v);
        for name in sim.spaces() {
            sim.restore(name, space(name)).map_err(|e| format!("{name}: {e}"))?;
        }
    }
    let mut due = Vec::new();
    for (k, v) in space("delivery") {
        if let Ok(id) = k.parse::<u64>() {
            due.push((id, read::<super::webhook::Pending>("delivery", &v)?));
        }
    }
    due.sort_by_key(|(id, _)| *id);
    Ok(due.into_iter().map(|(_, p)| p).collect())
}

fn put(tx: &rusqlite::Transaction<'_>, space: &str, key: &str, value: &[u8]) -> rusqlite::Result<()> {
    tx.prepare_cached("INSERT OR REPLACE INTO records(space, key, value) VALUES (?1, ?2, ?3)")?
        .execute(params![space, key, value])
        .map(drop)
}

fn delete(tx: &rusqlite::Transaction<'_>, space: &str, key: &str) -> rusqlite::Result<()> {
    tx.prepare_cached("DELETE FROM records WHERE space = ?1 AND key = ?2")?
        .execute(params![space, key])
        .map(drop)
}

fn json(v: &impl Serialize) -> Vec<u8> {
    serde_json::to_vec(v).expect("sandbox records serialise")
}

fn write(conn: &mut Connection, core: &Core, dirty: Vec<Dirty>) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    put(&tx, "fixed", "", &json(&fixed(core)))?;
    let mut seen = HashSet::new();
    for d in dirty {
        match &d {
            Dirty::Delivery(id, v) => put(&tx, "delivery", &id.to_string(), v)?,
            Dirty::DeliveryDone(id) => delete(&tx, "delivery", &id.to_string())?,
            _ if !seen.insert(d.clone()) => {}
            Dirty::Paid(k) => put(&tx, "paid", k, &json(&core.stats.paid.get(k)))?,
            Dirty::Record(v, space, key) => match core.sims.get(*v).save(space, key) {
                Save::Put(value) => put(&tx, space, key, &value)?,
                Save::Delete => delete(&tx, space, key)?,
                Save::Keep => {}
            },
        }
    }
    tx.commit()
}

fn counters(c: [&std::sync::atomic::AtomicU64; 5]) -> [u64; 5] {
    c.map(|a| a.load(Ordering::Relaxed))
}

/// The small state of `core` as it is now.
fn fixed(core: &Core) -> Fixed {
    let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    let mut keys = Vec::new();
    for v in Vendor::ALL {
        for k in core.keyring(v).all() {
            keys.push(KeyRec {
                vendor: v,
                key: k.key.clone(),
                initial: k.initial,
                balance: k.balance(),
                charged: load(&k.charged),
                calls: load(&k.calls),
            });
        }
    }
    let mut seqs = BTreeMap::from([(DELIVERIES.to_string(), load(&core.delivery_seq))]);
    for v in Vendor::ALL {
        if let Some(seq) = core.sims.get(v).seq() {
            seqs.insert(v.as_str().to_string(), load(seq));
        }
    }
    let s = &core.stats;
    Fixed {
        seqs,
        fault_seq: core.fault_seq.iter().map(load).collect(),
        keys,
        calls: s
            .calls
            .snapshot()
            .into_iter()
            .map(|((v, m, r, st), n)| (v, m.to_string(), r.to_string(), st, n))
            .collect(),
        paid_calls: s.paid_calls.iter().map(load).collect(),
        webhooks: s
            .webhooks
            .iter()
            .map(|w| {
                counters([
                    &w.attempts,
                    &w.delivered,
                    &w.failed_attempts,
                    &w.exhausted,
                    &w.duplicates,
                ])
            })
            .collect(),
        faults: s
            .faults
            .iter()
            .map(|f| counters([&f.error, &f.slow, &f.dropped, &f.truncated, &f.bursts]))
            .collect(),
        rate_limited: s.rate_limited.iter().map(load).collect(),
    }
}

/// Puts the small state back; every id counter starts at or above `id_base`.
fn restore_fixed(core: &Core, f: &Fixed, id_base: u64) {
    let set = |a: &std::sync::atomic::AtomicU64, n: u64| a.store(n, Ordering::Relaxed);
    let seq = |name: &str| f.seqs.get(name).copied().unwrap_or(0).max(id_base);
    for v in Vendor::ALL {
        if let Some(a) = core.sims.get(v).seq() {
            set(a, seq(v.as_str()));
        }
    }
    set(&core.delivery_seq, seq(DELIVERIES));
    for (a, &n) in core.fault_seq.iter().zip(&f.fault_seq) {
        set(a, n);
    }
    for k in &f.keys {
        if let Some(ks) = core.keyring(k.vendor).get(&k.key) {
            ks.restore(k.initial, k.balance, k.charged, k.calls);
        }
    }
    let s = &core.stats;
    for (v, m, r, st, n) in &f.calls {
        let Ok(method) = axum::http::Method::from_bytes(m.as_bytes()) else {
            continue;
        };
        s.calls.add((*v, method, core.route_name(r), *st), *n);
    }
    for (a, &n) in s.paid_calls.iter().zip(&f.paid_calls) {
        set(a, n);
    }
    for (w, &n) in s.webhooks.iter().zip(&f.webhooks) {
        for (a, n) in [
            &w.attempts,
            &w.delivered,
            &w.failed_attempts,
            &w.exhausted,
            &w.duplicates,
        ]
        .into_iter()
        .zip(n)
        {
            set(a, n);
        }
    }
    for (c, &n) in s.faults.iter().zip(&f.faults) {
        for (a, n) in [&c.error, &c.slow, &c.dropped, &c.truncated, &c.bursts]
            .into_iter()
            .zip(n)
        {
            set(a, n);
        }
    }
    for (a, &n) in s.rate_limited.iter().zip(&f.rate_limited) {
        set(a, n);
    }
}

/// Writes what a request changed before its answer leaves, also when the
/// caller goes away mid-request.
struct WriteOnDrop {
    core: Arc<Core>,
    /// What the vendor rewrites after every request of this method.
    rewritten: Option<Dirty>,
}

impl Drop for WriteOnDrop {
    fn drop(&mut self) {
        if let Some(d) = self.rewritten.take() {
            self.core.journal.touch(|| d);
        }
        self.core.persist_flush();
    }
}

/// Middleware around a vendor's routes when a state file is kept.
pub(crate) async fn layer(State((core, vendor)): State<(Arc<Core>, Vendor)>, req: Request, next: Next) -> Response {
    let rewritten = core
        .sims
        .get(vendor)
        .rewritten_after(req.method())
        .map(|(space, key)| Dirty::Record(vendor, space, key));
    let guard = WriteOnDrop { core, rewritten };
    let resp = next.run(req).await;
    drop(guard);
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sandbox_file_sits_beside_the_state_file() {
        assert_eq!(beside(Path::new("state/demo.db")), Path::new("state/demo.sandbox.db"));
        assert_eq!(beside(Path::new("run")), Path::new("run.sandbox.db"));
    }

    #[test]
    fn instants_survive_the_trip_through_the_wall_clock() {
        let past = Instant::now() - Duration::from_secs(5);
        let back = from_wall(to_wall(past));
        let diff = if back > past { back - past } else { past - back };
        assert!(diff < Duration::from_millis(50), "{diff:?}");
        let future = Instant::now() + Duration::from_secs(5);
        assert!(from_wall(to_wall(future)) > Instant::now() + Duration::from_secs(4));
    }
}
