//! The one writer of the state store during a run: a thread that owns a
//! connection and applies writes in batched transactions.
//!
//! Callers send [`Op`]s without waiting; [`WriterHandle::flush`] waits until
//! everything sent before it is committed (used wherever durability must
//! precede an acknowledgement, e.g. before answering a webhook), and
//! [`WriterHandle::after_commit`] runs a callback once that is so, without
//! hurrying the commit (used to drop what memory holds once the store has it).
//!
//! A batch commits as soon as writes pause for 5 ms, and at least every
//! 200 ms or 5,000 writes: a paid answer of a run at a vendor's pace is
//! durable moments after it arrives (a crash then re-buys only what was on
//! the wire), while a busy run still writes in large batches. Within a
//! batch, a ledger intent whose outcome arrives before the commit is written
//! once, with its outcome: both would become durable in the same commit
//! anyway. The writer's connection has a page cache large enough for the
//! hot pages of a long run and checkpoints the WAL every 32 MiB rather than
//! every 4 MiB, so busy runs spend their time on rows, not on re-reading and
//! re-copying pages.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::{Connection, params};
use tokio::sync::oneshot;

use super::runs::RunCounts;
use super::{StateError, connect, now};

/// One write to the state store.
#[derive(Debug)]
pub enum Op {
    StageResult {
        run_id: i64,
        stage: String,
        record_id: u64,
        outcome: &'static str,
        fields: Option<String>,
        reason: Option<String>,
    },
    LedgerIntent {
        id: i64,
        run_id: i64,
        provider: &'static str,
        endpoint: &'static str,
        request_key: String,
    },
    LedgerOutcome {
        id: i64,
        state: &'static str,
        http_status: Option<u16>,
        credits: f64,
        error: Option<String>,
    },
    CachePut {
        provider: &'static str,
        request_key: String,
        found: bool,
        response: String,
        ttl: Duration,
        /// The run and row the answer is charged to, and what it cost.
        run_id: i64,
        row_id: u64,
        credits: f64,
    },
    PendingPut {
        provider: &'static str,
        job_id: String,
        kind: &'static str,
        run_id: i64,
        request_key: Option<String>,
        payload: Option<String>,
        deadline: Option<f64>,
    },
    PendingState {
        provider: &'static str,
        job_id: String,
        state: &'static str,
    },
    WebhookDelivery {
        provider: &'static str,
        delivery_key: String,
        payload: String,
    },
    /// A running run's counts so far (the end of the run writes the final ones).
    RunCounts { run_id: i64, counts: RunCounts },
    /// A request to a vendor key took its rate slots (see [`super::rates`]).
    RateSlot {
        vendor: &'static str,
        key: Arc<str>,
        sent_at: f64,
    },
    /// A vendor key is paused (a 429) until then.
    RatePause {
        vendor: &'static str,
        key: Arc<str>,
        until: f64,
    },
    /// A paid request's worst-case cost, held against the budgets before it
    /// is sent (see [`crate::vendors::budget`]); `at` is the budget clock's time.
    Reserve {
        id: i64,
        run_id: i64,
        provider: &'static str,
        endpoint: &'static str,
        reserved: f64,
        at: f64,
    },
    /// What a reserved request cost, once known.
    Settle { id: i64, credits: f64 },
}

enum Msg {
    Op(Op),
    Flush(oneshot::Sender<Result<(), Arc<rusqlite::Error>>>),
    AfterCommit(Box<dyn FnOnce() + Send>),
}

/// Cheap to clone; the thread stops when the last handle is dropped.
#[derive(Clone)]
pub struct WriterHandle {
    tx: mpsc::Sender<Msg>,
}

pub struct Writer {
    handle: WriterHandle,
    thread: JoinHandle<Result<(), StateError>>,
}

/// Commit once writes pause this long.
const COMMIT_WHEN_IDLE: Duration = Duration::from_millis(5);
/// Commit at least this often while writes keep coming.
const COMMIT_EVERY: Duration = Duration::from_millis(200);
const COMMIT_OPS: usize = 5_000;

impl Writer {
    pub fn spawn(path: &Path) -> Result<Writer, StateError> {
        let conn = connect(path)?;
        conn.pragma_update(None, "cache_size", -65_536)?; // KiB: 64 MiB
        conn.pragma_update(None, "wal_autocheckpoint", 8_192)?; // pages: 32 MiB
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("leadpipe-state".into())
            .spawn(move || run(conn, rx))
            .map_err(StateError::Thread)?;
        Ok(Writer {
            handle: WriterHandle { tx },
            thread,
        })
    }

    pub fn handle(&self) -> WriterHandle {
        self.handle.clone()
    }

    /// Commit everything and stop the thread (other handles must be dropped first).
    pub fn close(self) -> Result<(), StateError> {
        drop(self.handle);
        self.thread.join().map_err(|_| StateError::WriterGone)?
    }
}

impl WriterHandle {
    pub fn send(&self, op: Op) {
        // A stopped writer surfaces at the next flush.
        let _ = self.tx.send(Msg::Op(op));
    }

    /// Run `f` on the writer's thread once every op sent so far is committed
    /// (not at all if the commit fails). Does not hasten the commit; `f` must be quick.
    pub fn after_commit(&self, f: impl FnOnce() + Send + 'static) {
        let _ = self.tx.send(Msg::AfterCommit(Box::new(f)));
    }

    /// Wait until every op sent so far is committed.
    pub async fn flush(&self) -> Result<(), StateError> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(Msg::Flush(tx)).map_err(|_| StateError::WriterGone)?;
        rx.await
            .map_err(|_| StateError::WriterGone)?
            .map_err(StateError::Commit)
    }
}

fn run(mut conn: Connection, rx: mpsc::Receiver<Msg>) -> Result<(), StateError> {
    // Kept across batches: a busy run's batches are alike, so they keep their capacity.
    let mut intents = HashMap::new();
    loop {
        let Ok(first) = rx.recv() else { return Ok(()) };
        let tx = conn.transaction()?;
        let started = Instant::now();
        let mut waiters = Vec::new();
        let mut after = Vec::new();
        let mut n = 0;
        let mut next = Some(first);
        while let Some(msg) = next.take() {
            match msg {
                Msg::Op(Op::LedgerIntent {
                    id,
                    run_id,
                    provider,
                    endpoint,
                    request_key,
                }) => {
                    intents.insert(id, (run_id, provider, endpoint, request_key, now()));
                    n += 1;
                }
                Msg::Op(Op::LedgerOutcome {
                    id,
                    state,
                    http_status,
                    credits,
                    error,
                }) if intents.contains_key(&id) => {
                    let (run_id, provider, endpoint, request_key, started) = intents.remove(&id).expect("checked");
                    tx.prepare_cached(
                        "INSERT INTO ledger (id, run_id, provider, endpoint, request_key, state, http_status, credits, started_at, finished_at, error)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                    )?
                    .execute(params![id, run_id, provider, endpoint, request_key, state, http_status, credits, started, now(), error])?;
                    n += 1;
                }
                Msg::Op(op) => {
                    apply(&tx, op)?;
                    n += 1;
                }
                Msg::Flush(w) => waiters.push(w),
                Msg::AfterCommit(f) => after.push(f),
            }
            if n >= COMMIT_OPS || started.elapsed() >= COMMIT_EVERY {
                break;
            }
            next = if waiters.is_empty() {
                let left = COMMIT_EVERY.saturating_sub(started.elapsed());
                rx.recv_timeout(left.min(COMMIT_WHEN_IDLE)).ok()
            } else {
                rx.try_recv().ok()
            };
        }
        for (id, (run_id, provider, endpoint, request_key, started)) in intents.drain() {
            write_intent(&tx, id, run_id, provider, endpoint, &request_key, started)?;
        }
        let result = tx.commit().map_err(Arc::new);
        if result.is_ok() {
            after.into_iter().for_each(|f| f());
        }
        for w in waiters {
            let _ = w.send(result.clone());
        }
        result.map_err(StateError::Commit)?;
    }
}

fn apply(tx: &rusqlite::Transaction<'_>, op: Op) -> Result<(), StateError> {
    let t = now();
    match op {
        Op::StageResult {
            run_id,
            stage,
            record_id,
            outcome,
            fields,
            reason,
        } => {
            tx.prepare_cached(
                "INSERT OR REPLACE INTO stage_results (run_id, stage, record_id, outcome, fields, reason, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![run_id, stage, record_id as i64, outcome, fields, reason, t])?;
        }
        Op::LedgerIntent {
            id,
            run_id,
            provider,
            endpoint,
            request_key,
        } => write_intent(tx, id, run_id, provider, endpoint, &request_key, t)?,
        Op::LedgerOutcome {
            id,
            state,
            http_status,
            credits,
            error,
        } => {
            tx.prepare_cached("UPDATE ledger SET state = ?2, http_status = ?3, credits = ?4, error = ?5, finished_at = ?6 WHERE id = ?1")?
                .execute(params![id, state, http_status, credits, error, t])?;
        }
        Op::CachePut {
            provider,
            request_key,
            found,
            response,
            ttl,
            run_id,
            row_id,
            credits,
        } => {
            tx.prepare_cached(
                "INSERT OR REPLACE INTO cache (provider, request_key, found, response, fetched_at, expires_at, run_id, row_id, credits)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?
            .execute(params![
                provider,
                request_key,
                found,
                response,
                t,
                t + ttl.as_secs_f64(),
                run_id,
                row_id as i64,
                credits
            ])?;
        }
        Op::PendingPut {
            provider,
            job_id,
            kind,
            run_id,
            request_key,
            payload,
            deadline,
        } => {
            tx.prepare_cached(
                "INSERT OR REPLACE INTO pending_jobs (provider, job_id, kind, run_id, request_key, payload, state, created_at, deadline)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', ?7, ?8)",
            )?
            .execute(params![provider, job_id, kind, run_id, request_key, payload, t, deadline])?;
        }
        Op::PendingState {
            provider,
            job_id,
            state,
        } => {
            tx.prepare_cached("UPDATE pending_jobs SET state = ?3 WHERE provider = ?1 AND job_id = ?2")?
                .execute(params![provider, job_id, state])?;
        }
        Op::WebhookDelivery {
            provider,
            delivery_key,
            payload,
        } => {
            tx.prepare_cached("INSERT OR IGNORE INTO webhook_deliveries (provider, delivery_key, payload, received_at) VALUES (?1, ?2, ?3, ?4)")?
                .execute(params![provider, delivery_key, payload, t])?;
        }
        op @ (Op::RunCounts { .. }
        | Op::RateSlot { .. }
        | Op::Reserve { .. }
        | Op::Settle { .. }
        | Op::RatePause { .. }) => apply_bookkeeping(tx, op, t)?,
    }
    Ok(())
}

/// The run's counts, its rate windows and pauses, and its spending.
fn apply_bookkeeping(tx: &rusqlite::Transaction<'_>, op: Op, t: f64) -> Result<(), StateError> {
    match op {
        Op::RunCounts { run_id, counts: c } => {
            tx.prepare_cached(
                "UPDATE runs SET rows_in = ?2, rows_out = ?3, rows_rejected = ?4, rows_duplicate = ?5, rows_failed = ?6,
                     updated_at = ?7 WHERE id = ?1 AND status = 'running'",
            )?
            .execute(params![
                run_id,
                c.rows_in as i64,
                c.rows_out as i64,
                c.rows_rejected as i64,
                c.rows_duplicate as i64,
                c.rows_failed as i64,
                t
            ])?;
        }
        Op::RateSlot { vendor, key, sent_at } => {
            tx.prepare_cached("INSERT INTO rate_slots (vendor, key, sent_at) VALUES (?1, ?2, ?3)")?
                .execute(params![vendor, &*key, sent_at])?;
        }
        Op::Reserve {
            id,
            run_id,
            provider,
            endpoint,
            reserved,
            at,
        } => {
            tx.prepare_cached(
                "INSERT OR REPLACE INTO spending (id, run_id, provider, endpoint, reserved, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![id, run_id, provider, endpoint, reserved, at])?;
        }
        Op::Settle { id, credits } => {
            tx.prepare_cached("UPDATE spending SET credits = ?2 WHERE id = ?1")?
                .execute(params![id, credits])?;
        }
        Op::RatePause { vendor, key, until } => {
            tx.prepare_cached(
                "INSERT INTO rate_pauses (vendor, key, until) VALUES (?1, ?2, ?3)
                 ON CONFLICT (vendor, key) DO UPDATE SET until = max(until, excluded.until)",
            )?
            .execute(params![vendor, &*key, until])?;
        }
        other => unreachable!("not a bookkeeping op: {other:?}"),
    }
    Ok(())
}

fn write_intent(
    tx: &rusqlite::Transaction<'_>,
    id: i64,
    run_id: i64,
    provider: &str,
    endpoint: &str,
    request_key: &str,
    at: f64,
) -> Result<(), StateError> {
    tx.prepare_cached(
        "INSERT INTO ledger (id, run_id, provider, endpoint, request_key, state, started_at) VALUES (?1, ?2, ?3, ?4, ?5, 'intent', ?6)",
    )?
    .execute(params![id, run_id, provider, endpoint, request_key, at])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Store;

    #[tokio::test]
    async fn flush_makes_writes_visible() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let store = Store::open(&path).unwrap();
        let writer = Writer::spawn(&path).unwrap();
        let h = writer.handle();
        for i in 0..100 {
            h.send(Op::CachePut {
                provider: "rocketreach",
                request_key: format!("k{i}"),
                found: true,
                response: "{}".into(),
                ttl: Duration::from_secs(60),
                run_id: 1,
                row_id: i,
                credits: 1.0,
            });
        }
        h.flush().await.unwrap();
        let n: i64 = store
            .conn()
            .query_row("SELECT count(*) FROM cache", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 100);
        drop(h);
        writer.close().unwrap();
    }

    /// A run at a vendor's pace sends an answer now and then: it is committed
    /// moments after it arrives, not when the batch's 200 ms are up, so a
    /// crash right after does not lose (and re-buy) it.
    #[test]
    fn a_lone_answer_is_committed_without_waiting_for_the_batch() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let store = Store::open(&path).unwrap();
        let writer = Writer::spawn(&path).unwrap();
        let h = writer.handle();
        let sent = Instant::now();
        h.send(Op::LedgerIntent {
            id: 1,
            run_id: 1,
            provider: "rocketreach",
            endpoint: "person_lookup",
            request_key: "email=a@b.com".into(),
        });
        let committed = loop {
            let n: i64 = store
                .conn()
                .query_row("SELECT count(*) FROM ledger", [], |r| r.get(0))
                .unwrap();
            if n == 1 {
                break sent.elapsed();
            }
            assert!(
                sent.elapsed() < COMMIT_EVERY,
                "not committed after {:?}",
                sent.elapsed()
            );
            std::thread::sleep(Duration::from_millis(1));
        };
        // 5 ms after the last write, give or take a busy machine's scheduling.
        assert!(committed < COMMIT_EVERY / 2, "committed after {committed:?}");
        drop(h);
        writer.close().unwrap();
    }

    #[tokio::test]
    async fn a_ledger_intent_is_written_before_its_outcome_arrives() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let store = Store::open(&path).unwrap();
        let writer = Writer::spawn(&path).unwrap();
        let h = writer.handle();
        let intent = |id| Op::LedgerIntent {
            id,
            run_id: 1,
            provider: "rocketreach",
            endpoint: "person_lookup",
            request_key: format!("k{id}"),
        };
        let outcome = |id| Op::LedgerOutcome {
            id,
            state: "done",
            http_status: Some(200),
            credits: 1.0,
            error: None,
        };
        let states = || -> Vec<(i64, String)> {
            let mut stmt = store
                .conn()
                .prepare("SELECT id, state FROM ledger ORDER BY id")
                .unwrap();
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .unwrap()
                .map(Result::unwrap)
                .collect()
        };
        // One call answered within the batch, one still on the wire at the commit.
        h.send(intent(1));
        h.send(intent(2));
        h.send(outcome(1));
        h.flush().await.unwrap();
        assert_eq!(states(), [(1, "done".to_string()), (2, "intent".to_string())]);
        h.send(outcome(2));
        h.flush().await.unwrap();
        assert_eq!(states(), [(1, "done".to_string()), (2, "done".to_string())]);
        drop(h);
        writer.close().unwrap();
    }
}
