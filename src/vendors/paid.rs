//! Paying for an answer at most once: the cache, in-flight coalescing and
//! the call ledger around one vendor's paid requests.
//!
//! `PaidCalls::fetch(key, row, call)` answers from, in order: the answers this run
//! already has or is fetching (identical requests share one call), the state
//! store's cache (within its TTL, unless `--refresh`), and only then `call`,
//! which is written to the ledger as an intent when its first request goes on
//! the wire and an outcome after.
//! Definitive answers (found / not found) are cached; failures are not.
//!
//! The hashes of the cache's unexpired keys for the vendor are read once when
//! the run starts (8 bytes a key), so a request the cache cannot answer, the
//! common case on a new list, costs no query. An answer this run bought stays
//! in memory only until the state store has committed it; from then on its
//! hash joins that set and the cache serves it, so memory does not grow with
//! the number of distinct requests a run makes.
//!
//! This module owns no HTTP and no vendor format: callers canonicalise the
//! request key and turn the vendor's reply into an [`Answer`].

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::path::Path;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};
use rusqlite::{Connection, OptionalExtension, params};

use super::http::{CallError, VendorHttp};
use crate::state::writer::{Op, WriterHandle};
use crate::state::{StateError, connect, now};

/// A vendor's answer to one canonical request, as one row sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub found: bool,
    /// The vendor's answer as JSON text (what the cache stores).
    pub body: String,
    /// The row did not pay for it: an earlier run did, or another row of this run.
    pub cached: bool,
    /// Credits the answer cost, on the row that paid for it (0 on every other).
    pub credits: f64,
}

/// What a fresh call produced.
pub struct Fetched {
    pub found: bool,
    pub body: String,
    pub credits: f64,
    pub http_status: Option<u16>,
}

/// An answer and who paid for it.
#[derive(Debug)]
struct Bought {
    found: bool,
    body: String,
    credits: f64,
    /// The row of this run the answer is charged to; `None` when an earlier run bought it.
    payer: Option<u64>,
}

impl Bought {
    fn for_row(&self, row: u64) -> Answer {
        let paid_here = self.payer == Some(row);
        Answer {
            found: self.found,
            body: self.body.clone(),
            cached: !paid_here,
            credits: if paid_here { self.credits } else { 0.0 },
        }
    }
}

type Pending = Shared<BoxFuture<'static, Result<Arc<Bought>, CallError>>>;

/// Rows waiting for one canonical request: the answer, and the first of
/// them in input order, which the answer is charged to.
struct Claim {
    pending: Pending,
    first_row: Arc<AtomicU64>,
}

/// What this vendor's answers are: being fetched, or in the cache.
#[derive(Default)]
struct Book {
    /// Requests being fetched, or answered and not yet committed to the cache.
    claims: HashMap<String, Claim>,
    /// Hashes of the keys the cache answers for this vendor: those it held
    /// when the run started (none with `--refresh`: nothing older is read)
    /// and those this run bought since, once committed.
    in_cache: HashSet<u64>,
}

/// Ledger ids, shared by every vendor's [`PaidCalls`] of the process: each
/// starts above the ledger's highest id, and two vendors of one run write to
/// the same table.
static NEXT_LEDGER_ID: AtomicI64 = AtomicI64::new(1);

/// One vendor's paid requests for one run.
pub struct PaidCalls {
    provider: &'static str,
    run_id: i64,
    http: VendorHttp,
    writer: WriterHandle,
    cache: Mutex<Connection>,
    book: Arc<Mutex<Book>>,
    found_ttl: Duration,
    not_found_ttl: Duration,
}

/// Cache lifetimes and whether to bypass the cache.
#[derive(Debug, Clone, Copy)]
pub struct CachePolicy {
    pub found_ttl: Duration,
    pub not_found_ttl: Duration,
    pub refresh: bool,
}

impl CachePolicy {
    /// A vendor table's `cache_ttl` (default 30 days) and `not_found_ttl`
    /// (default 7 days: answers that may change, e.g. "not found", expire first).
    pub fn from_spec(spec: Option<&super::spec::VendorSpec>, refresh: bool) -> CachePolicy {
        let ttl = |t: Option<crate::units::Span>, days: u64| t.map_or(Duration::from_secs(days * 86_400), |s| s.0);
        CachePolicy {
            found_ttl: ttl(spec.and_then(|s| s.cache_ttl), 30),
            not_found_ttl: ttl(spec.and_then(|s| s.not_found_ttl), 7),
            refresh,
        }
    }
}

impl PaidCalls {
    pub fn new(
        state: &Path,
        run_id: i64,
        http: VendorHttp,
        writer: WriterHandle,
        policy: CachePolicy,
    ) -> Result<PaidCalls, StateError> {
        let conn = connect(state)?;
        let max: i64 = conn.query_row("SELECT coalesce(max(id), 0) FROM ledger", [], |r| r.get(0))?;
        NEXT_LEDGER_ID.fetch_max(max + 1, Ordering::Relaxed);
        let provider = http.vendor().name();
        // With `--refresh`, only what this run itself bought (before a crash) counts.
        let mut stmt = conn.prepare(
            "SELECT request_key FROM cache WHERE provider = ?1 AND ((expires_at > ?2 AND NOT ?4) OR run_id = ?3)",
        )?;
        let in_cache = stmt
            .query_map(params![provider, now(), run_id, policy.refresh], |r| {
                Ok(xxhash_rust::xxh3::xxh3_64(r.get_ref(0)?.as_bytes()?))
            })?
            .collect::<Result<HashSet<u64>, _>>()?;
        drop(stmt);
        Ok(PaidCalls {
            provider,
            run_id,
            http,
            writer,
            cache: Mutex::new(conn),
            book: Arc::new(Mutex::new(Book {
                claims: HashMap::new(),
                in_cache,
            })),
            found_ttl: policy.found_ttl,
            not_found_ttl: policy.not_found_ttl,
        })
    }

    pub fn http(&self) -> &VendorHttp {
        &self.http
    }

    /// The answer to `key` for `row`, paying with `call` only if no earlier
    /// answer exists.
    ///
    /// The answer is charged to one row: the first, in input order, of the
    /// rows of this run that asked for it before it came (rows start in input
    /// order, so that is the row an uninterrupted run charges). The cache
    /// remembers that row, so a run resumed after a crash charges the same
    /// row and writes the same provenance.
    pub async fn fetch<F, Fut>(
        &self,
        endpoint: &'static str,
        key: &str,
        row: u64,
        call: F,
    ) -> Result<Arc<Answer>, CallError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Fetched, CallError>> + Send + 'static,
    {
        self.fetch_costing(endpoint, key, row, crate::vendors::budget::worst_case(endpoint), call)
            .await
    }

    /// [`PaidCalls::fetch`] for a request whose worst-case cost is its own
    /// (`None`: free), e.g. a ReachStream fetch of up to `fetch_count` records.
    /// A call that must be paid for first reserves that much against the run's
    /// budgets, and is never sent if a budget refuses it.
    pub async fn fetch_costing<F, Fut>(
        &self,
        endpoint: &'static str,
        key: &str,
        row: u64,
        worst: Option<f64>,
        call: F,
    ) -> Result<Arc<Answer>, CallError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Fetched, CallError>> + Send + 'static,
    {
        let pending = {
            let mut book = crate::sync::lock(&self.book);
            if let Some(claim) = book.claims.get(key) {
                claim.first_row.fetch_min(row, Ordering::Relaxed);
                claim.pending.clone()
            } else if let Some(bought) = self.cached(&book, key) {
                futures::future::ready(Ok(Arc::new(bought))).boxed().shared()
            } else {
                let first_row = Arc::new(AtomicU64::new(row));
                let pending = self
                    .paid(endpoint, key.to_string(), first_row.clone(), worst, call())
                    .boxed()
                    .shared();
                book.claims.insert(
                    key.to_string(),
                    Claim {
                        pending: pending.clone(),
                        first_row,
                    },
                );
                pending
            }
        };
        match pending.await {
            Ok(bought) => {
                let answer = bought.for_row(row);
                if answer.cached {
                    self.http.cache_hit();
                }
                Ok(Arc::new(answer))
            }
            Err(e) => {
                // Failures are not answers: a later row (or run) may ask again.
                crate::sync::lock(&self.book).claims.remove(key);
                Err(e)
            }
        }
    }

    /// The cache's answer to `key`. Answers bought by this run are read
    /// whatever their age: a run does not pay twice for one question.
    fn cached(&self, book: &Book, key: &str) -> Option<Bought> {
        if !book.in_cache.contains(&xxhash_rust::xxh3::xxh3_64(key.as_bytes())) {
            return None;
        }
        let conn = crate::sync::lock(&self.cache);
        conn.prepare_cached(
            "SELECT found, response, run_id, row_id, credits FROM cache
             WHERE provider = ?1 AND request_key = ?2 AND (expires_at > ?3 OR run_id = ?4)",
        )
        .and_then(|mut s| {
            s.query_row(params![self.provider, key, now(), self.run_id], |r| {
                let (run_id, row_id): (Option<i64>, Option<i64>) = (r.get(2)?, r.get(3)?);
                Ok(Bought {
                    found: r.get(0)?,
                    body: r.get(1)?,
                    credits: r.get(4)?,
                    // Bought by an earlier attempt of this run: still charged to its row.
                    payer: row_id.filter(|_| run_id == Some(self.run_id)).map(|r| r as u64),
                })
            })
            .optional()
        })
        .unwrap_or(None)
    }

    fn paid(
        &self,
        endpoint: &'static str,
        key: String,
        first_row: Arc<AtomicU64>,
        worst: Option<f64>,
        call: impl Future<Output = Result<Fetched, CallError>> + Send + 'static,
    ) -> impl Future<Output = Result<Arc<Bought>, CallError>> + Send + 'static {
        let id = NEXT_LEDGER_ID.fetch_add(1, Ordering::Relaxed);
        let (writer, http, provider, run_id) = (self.writer.clone(), self.http.clone(), self.provider, self.run_id);
        let book = self.book.clone();
        let (found_ttl, not_found_ttl) = (self.found_ttl, self.not_found_ttl);
        // The intent is written when the call's first request goes out (or
        // it is handed to a batch another task sends), or
        // with its outcome if none did (a delivery awaited from an earlier
        // attempt, a stopped vendor): an intent left without an outcome is a
        // request on the wire when the process died, whose answer may be lost.
        let intent = Arc::new(Mutex::new(Some(Op::LedgerIntent {
            id,
            run_id,
            provider,
            endpoint,
            request_key: key.clone(),
        })));
        let write_intent = {
            let (intent, writer) = (intent.clone(), writer.clone());
            move || {
                if let Some(op) = crate::sync::lock(&intent).take() {
                    writer.send(op);
                }
            }
        };
        let call = super::http::on_send(Arc::new(write_intent.clone()), call);
        async move {
            // The vendor's balance before this run's first purchase, for the report.
            http.opening_balance().await;
            // The worst case is held against the budgets before anything is sent.
            let reservation = match (http.budget(), worst) {
                (Some(budget), Some(worst)) => match budget.reserve(http.vendor(), endpoint, worst).await {
                    Ok(r) => Some((budget.clone(), r)),
                    // Not a halt: what this vendor has in flight (polls, bulk jobs) finishes.
                    Err(e) => return Err(e),
                },
                _ => None,
            };
            let result = call.await;
            let sent = crate::sync::lock(&intent).is_none();
            write_intent();
            if let Some((budget, r)) = reservation {
                match &result {
                    Ok(f) => budget.settle(r, f.credits),
                    // Never sent, or refused by the vendor: nothing was charged.
                    Err(e) if !sent || e.status().is_some() => budget.settle(r, 0.0),
                    // Lost on the wire: it may have been charged; the worst case stays held.
                    Err(_) => {}
                }
            }
            match result {
                Ok(f) => {
                    writer.send(Op::LedgerOutcome {
                        id,
                        state: "done",
                        http_status: f.http_status,
                        credits: f.credits,
                        error: None,
                    });
                    let payer = first_row.load(Ordering::Relaxed);
                    let ttl = if f.found { found_ttl } else { not_found_ttl };
                    let hash = xxhash_rust::xxh3::xxh3_64(key.as_bytes());
                    writer.send(Op::CachePut {
                        provider,
                        request_key: key.clone(),
                        found: f.found,
                        response: f.body.clone(),
                        ttl,
                        run_id,
                        row_id: payer,
                        credits: f.credits,
                    });
                    // Once committed, the cache answers later rows; memory lets go.
                    writer.after_commit(move || {
                        let mut book = crate::sync::lock(&book);
                        book.claims.remove(&key);
                        book.in_cache.insert(hash);
                    });
                    if f.credits > 0.0 {
                        http.add_credits(f.credits.round() as u64);
                    }
                    Ok(Arc::new(Bought {
                        found: f.found,
                        body: f.body,
                        credits: f.credits,
                        payer: Some(payer),
                    }))
                }
                Err(e) => {
                    writer.send(Op::LedgerOutcome {
                        id,
                        state: "failed",
                        http_status: e.status(),
                        credits: 0.0,
                        error: Some(e.to_string()),
                    });
                    Err(e)
                }
            }
        }
    }
}

/// Paid calls recorded in the ledger for a run, by provider (for reports and `status`).
pub fn ledger_totals(conn: &Connection, run_id: i64) -> rusqlite::Result<Vec<(String, i64, f64)>> {
    let mut stmt = conn.prepare(
        "SELECT provider, count(*), coalesce(sum(credits), 0) FROM ledger WHERE run_id = ?1 GROUP BY provider ORDER BY provider",
    )?;
    let rows = stmt.query_map([run_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    rows.collect()
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;
    use crate::secret::Secret;
    use crate::state::Store;
    use crate::state::writer::Writer;
    use crate::vendors::http::{Vendor, VendorSettings};
    use crate::vendors::spec::VendorSpec;

    const POLICY: CachePolicy = CachePolicy {
        found_ttl: Duration::from_secs(3600),
        not_found_ttl: Duration::from_secs(3600),
        refresh: false,
    };

    /// Never sent: every answer in these tests comes from the `call` closure.
    fn http() -> VendorHttp {
        let spec = VendorSpec {
            api_key: Some(Secret::new("k")),
            base_url: Some("http://127.0.0.1:9/".into()),
            ..VendorSpec::default()
        };
        VendorHttp::new(VendorSettings::resolve(Vendor::RocketReach, &spec).unwrap()).unwrap()
    }

    #[tokio::test]
    async fn a_bought_answer_leaves_memory_once_committed_and_the_cache_serves_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let _store = Store::open(&path).unwrap();
        let writer = Writer::spawn(&path).unwrap();
        let paid = PaidCalls::new(&path, 1, http(), writer.handle(), POLICY).unwrap();
        let calls = Arc::new(AtomicUsize::new(0));
        let call = || {
            let calls = calls.clone();
            move || async move {
                calls.fetch_add(1, Ordering::Relaxed);
                Ok(Fetched {
                    found: true,
                    body: r#"{"id":7}"#.into(),
                    credits: 1.0,
                    http_status: Some(200),
                })
            }
        };
        let first = paid.fetch("person_lookup", "email=a@b.com", 3, call()).await.unwrap();
        assert_eq!((first.cached, first.credits), (false, 1.0));
        // Asked again before the commit: the claim in memory answers.
        let again = paid.fetch("person_lookup", "email=a@b.com", 5, call()).await.unwrap();
        assert_eq!((again.cached, again.credits), (true, 0.0));

        writer.handle().flush().await.unwrap();
        assert!(
            paid.book.lock().unwrap().claims.is_empty(),
            "committed answers leave memory"
        );
        // From the cache now: same body, still charged to row 3 only.
        let later = paid.fetch("person_lookup", "email=a@b.com", 9, call()).await.unwrap();
        assert_eq!(
            (later.body.as_str(), later.cached, later.credits),
            (r#"{"id":7}"#, true, 0.0)
        );
        let payer = paid.fetch("person_lookup", "email=a@b.com", 3, call()).await.unwrap();
        assert_eq!((payer.cached, payer.credits), (false, 1.0));
        assert_eq!(calls.load(Ordering::Relaxed), 1, "paid once");
        drop(paid);
        writer.close().unwrap();
    }
}
