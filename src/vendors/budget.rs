//! Budgets: a run never spends more than its `[budget]` allows, whatever
//! restarts or kills happen on the way.
//!
//! Every paid request reserves its worst-case cost *before* it is sent
//! ([`Budget::reserve`]): the reservation is checked against each cap (this
//! run, this UTC day, this UTC month, and the run's paid calls), written to
//! the state store's `spending` table and — when a cap applies — committed
//! before the request goes out. Once the answer says what it cost, the
//! reservation is settled to that ([`Budget::settle`]). A request cut short
//! by a kill keeps its worst case, so the next run counts it as spent: the
//! caps hold across restarts. One state file has one run at a time (the
//! state lock), so the sums read at the start stay true while the run adds
//! its own.
//!
//! The day and the month are UTC calendar ones, read from a [`Clock`] that
//! tests replace. Once a cap refuses a request
//! ([`CallError::BudgetReached`]), no new paid request goes to that vendor
//! (to any vendor, for the cap on paid calls); what was sent finishes —
//! async jobs are still polled and collected — and the run then writes its
//! report and exits 5. Raising the budget and running again resumes it.
//!
//! Spending is recorded whether or not a budget is set, so `status` shows a
//! day's and a month's spending, and a budget added later counts what was
//! already spent today.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, params};
use serde::Serialize;

pub mod spec;

use self::spec::{BudgetSpec, Caps};
use super::http::{CallError, Vendor, VendorHttp};
use crate::state::StateError;
use crate::state::writer::{Op, WriterHandle};

/// Seconds since the Unix epoch, as the budget sees them.
pub type Clock = Arc<dyn Fn() -> f64 + Send + Sync>;

/// The wall clock.
pub fn system_clock() -> Clock {
    Arc::new(crate::state::now)
}

const DAY: f64 = 86_400.0;

/// The UTC day holding `t`: [start, end) in epoch seconds.
pub fn day_of(t: f64) -> (f64, f64) {
    let start = (t / DAY).floor() * DAY;
    (start, start + DAY)
}

/// The UTC calendar month holding `t`: [start, end) in epoch seconds.
pub fn month_of(t: f64) -> (f64, f64) {
    let days = (t / DAY).floor() as i64;
    let (y, m, _) = civil_from_days(days);
    let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    (
        days_from_civil(y, m, 1) as f64 * DAY,
        days_from_civil(ny, nm, 1) as f64 * DAY,
    )
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian (H. Hinnant).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// (year, month, day) → days since 1970-01-01.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The most one request to `endpoint` can cost, by the vendors' charging
/// rules; `None` for a free endpoint (ReachStream's count API), which
/// reserves nothing and is no paid call. A ReachStream fetch passes its own
/// (`fetch_count`) to [`crate::vendors::paid::PaidCalls::fetch_costing`].
pub fn worst_case(endpoint: &str) -> Option<f64> {
    match endpoint {
        "count" | "count_alternate" => None,
        // A lookup is charged once when it finds data; a bulk lookup one
        // export credit per profile; a verification one credit per address.
        _ => Some(1.0),
    }
}

/// What has been spent (settled, or reserved and not yet settled) against one vendor.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Spent {
    pub run: f64,
    pub day: f64,
    pub month: f64,
}

/// A reservation held for one request until [`Budget::settle`].
#[derive(Debug)]
pub struct Reservation {
    id: i64,
    vendor: &'static str,
    reserved: f64,
    day: f64,
    month: f64,
}

struct Totals {
    calls: u64,
    /// Day and month starts the sums below belong to.
    day: f64,
    month: f64,
    spent: HashMap<&'static str, Spent>,
}

/// One run's budgets, shared by every vendor's paid calls.
pub struct Budget {
    spec: BudgetSpec,
    run_id: i64,
    /// Let go of by [`Budget::close`] before the run closes its writer.
    writer: Mutex<Option<WriterHandle>>,
    clock: Clock,
    conn: Mutex<Connection>,
    next_id: AtomicI64,
    totals: Mutex<Totals>,
    /// The first refusal per vendor: later requests to it are refused too,
    /// so a run stops before the request that would exceed a cap, not after
    /// a cheaper one squeezed past it.
    refusals: Mutex<Vec<(Option<Vendor>, CallError)>>,
}

impl Budget {
    /// The budgets of run `run_id`, with what the state store says is
    /// already spent by this run, today and this month.
    pub fn open(
        state: &std::path::Path,
        run_id: i64,
        spec: BudgetSpec,
        writer: WriterHandle,
        clock: Clock,
    ) -> Result<Arc<Budget>, StateError> {
        let conn = crate::state::connect(state)?;
        let max: i64 = conn.query_row("SELECT coalesce(max(id), 0) FROM spending", [], |r| r.get(0))?;
        let now = clock();
        let calls: i64 = conn.query_row("SELECT count(*) FROM spending WHERE run_id = ?1", [run_id], |r| {
            r.get(0)
        })?;
        let budget = Budget {
            spec,
            run_id,
            writer: Mutex::new(Some(writer)),
            clock,
            conn: Mutex::new(conn),
            next_id: AtomicI64::new(max + 1),
            totals: Mutex::new(Totals {
                calls: calls as u64,
                day: day_of(now).0,
                month: month_of(now).0,
                spent: HashMap::new(),
            }),
            refusals: Mutex::new(Vec::new()),
        };
        {
            let conn = crate::sync::lock(&budget.conn);
            let mut totals = crate::sync::lock(&budget.totals);
            for vendor in Vendor::ALL.iter().filter(|v| v.contract().charges) {
                let spent = spent(&conn, vendor.name(), Some(run_id), now)?;
                totals.spent.insert(vendor.name(), spent);
            }
        }
        Ok(Arc::new(budget))
    }

    pub fn spec(&self) -> &BudgetSpec {
        &self.spec
    }

    /// Holds `worst` credits of `vendor` for one request to `endpoint`, or
    /// refuses it when a cap would be exceeded. The hold is durable before
    /// this returns whenever a cap applies to the request.
    pub async fn reserve(&self, vendor: Vendor, endpoint: &'static str, worst: f64) -> Result<Reservation, CallError> {
        let name = vendor.name();
        let caps = self.spec.caps(name);
        let capped = caps != Caps::default() || self.spec.max_paid_calls.is_some();
        if let Some(e) = self.refused_before(vendor) {
            return Err(e);
        }
        let reservation = {
            let mut totals = crate::sync::lock(&self.totals);
            self.turn_windows(&mut totals);
            if let Some(max) = self.spec.max_paid_calls
                && totals.calls + 1 > max
            {
                return Err(self.refused(
                    vendor,
                    None,
                    format!(
                        "budget.max_paid_calls = {max}: {} paid requests sent by this run",
                        totals.calls
                    ),
                ));
            }
            let spent = totals.spent.get(name).copied().unwrap_or_default();
            for (window, cap, so_far) in [
                ("run", caps.run, spent.run),
                ("day", caps.day, spent.day),
                ("month", caps.month, spent.month),
            ] {
                if let Some(cap) = cap
                    && so_far + worst > cap as f64 + 1e-9
                {
                    let of = match window {
                        "run" => "this run",
                        "day" => "today (UTC)",
                        _ => "this month (UTC)",
                    };
                    return Err(self.refused(
                        vendor,
                        Some(vendor),
                        format!(
                            "budget.{name}.{window} = {cap} credits: {so_far} spent or held by {of}, \
                             and the next request may cost {worst}"
                        ),
                    ));
                }
            }
            totals.calls += 1;
            let entry = totals.spent.entry(name).or_default();
            entry.run += worst;
            entry.day += worst;
            entry.month += worst;
            let id = self.next_id.fetch_add(1, Ordering::Relaxed);
            self.send(Op::Reserve {
                id,
                run_id: self.run_id,
                provider: name,
                endpoint,
                reserved: worst,
                at: (self.clock)(),
            });
            Reservation {
                id,
                vendor: name,
                reserved: worst,
                day: totals.day,
                month: totals.month,
            }
        };
        if capped {
            // Durable before the request goes out: a kill right after cannot lose the hold.
            let writer = crate::sync::lock(&self.writer).clone();
            let flushed = match writer {
                Some(w) => w.flush().await,
                None => Err(StateError::WriterGone),
            };
            flushed.map_err(|e| CallError::Record {
                vendor,
                status: None,
                reason: format!("cannot record the budget reservation: {e}"),
                transient: true,
            })?;
        }
        Ok(reservation)
    }

    /// The request cost `credits`: the hold becomes that.
    pub fn settle(&self, r: Reservation, credits: f64) {
        {
            let mut totals = crate::sync::lock(&self.totals);
            self.turn_windows(&mut totals);
            let (day, month) = (totals.day, totals.month);
            let entry = totals.spent.entry(r.vendor).or_default();
            let change = credits - r.reserved;
            entry.run += change;
            if r.day == day {
                entry.day += change;
            }
            if r.month == month {
                entry.month += change;
            }
        }
        self.send(Op::Settle { id: r.id, credits });
    }

    fn send(&self, op: Op) {
        if let Some(w) = crate::sync::lock(&self.writer).as_ref() {
            w.send(op);
        }
    }

    /// Lets go of the state store's writer, so the run can close it: from now
    /// on nothing more is recorded (the run's requests are all answered).
    pub fn close(&self) {
        crate::sync::lock(&self.writer).take();
    }

    /// What this run, today and this month have spent against `vendor` (held requests at their worst case).
    pub fn spent(&self, vendor: Vendor) -> Spent {
        let mut totals = crate::sync::lock(&self.totals);
        self.turn_windows(&mut totals);
        totals.spent.get(vendor.name()).copied().unwrap_or_default()
    }

    /// A new day or month starts from nothing spent in it (this process holds
    /// the state file, so all of it is this run's, read back from the store).
    fn turn_windows(&self, totals: &mut Totals) {
        let now = (self.clock)();
        let (day, month) = (day_of(now).0, month_of(now).0);
        if day == totals.day && month == totals.month {
            return;
        }
        let conn = crate::sync::lock(&self.conn);
        for (vendor, spent) in totals.spent.iter_mut() {
            let (d, m) = (
                window_sum(&conn, vendor, day, day + DAY).unwrap_or(0.0),
                window_sum(&conn, vendor, month, month_of(now).1).unwrap_or(0.0),
            );
            spent.day = d;
            spent.month = m;
        }
        totals.day = day;
        totals.month = month;
    }

    /// Refuses a request to `vendor`, and from now on every request to
    /// `stops` (every vendor when `None`).
    fn refused(&self, vendor: Vendor, stops: Option<Vendor>, message: String) -> CallError {
        let e = CallError::BudgetReached {
            vendor,
            message: format!("{message}; raise it (or wait for the next day or month) and run again to resume"),
        };
        let mut refusals = crate::sync::lock(&self.refusals);
        if refusals.is_empty() {
            tracing::error!(class = e.class(), "{e}");
        }
        refusals.push((stops, e.clone()));
        e
    }

    /// The refusal that ended `vendor`'s paid requests (any vendor's, for the
    /// cap on paid calls), if one did.
    fn refused_before(&self, vendor: Vendor) -> Option<CallError> {
        let refusals = crate::sync::lock(&self.refusals);
        refusals
            .iter()
            .find(|(stops, _)| stops.is_none_or(|v| v == vendor))
            .map(|(_, e)| e.clone())
    }

    /// The first cap that refused a request this run: the run stopped short of it.
    pub fn reached(&self) -> Option<CallError> {
        crate::sync::lock(&self.refusals).first().map(|(_, e)| e.clone())
    }
}

/// Gives every vendor of run `run_id` the pipeline's budgets (and so the
/// spending record, budget or not), with the wall clock.
pub fn attach<'a>(
    spec: &BudgetSpec,
    state: &std::path::Path,
    run_id: i64,
    writer: &WriterHandle,
    vendors: impl IntoIterator<Item = &'a VendorHttp>,
) -> Result<Arc<Budget>, StateError> {
    let budget = Budget::open(state, run_id, spec.clone(), writer.clone(), system_clock())?;
    for http in vendors {
        http.set_budget(budget.clone());
    }
    Ok(budget)
}

/// Spending of `vendor` by run `run_id` (if any), in the UTC day and month of `now`.
pub fn spent(conn: &Connection, vendor: &str, run_id: Option<i64>, now: f64) -> Result<Spent, StateError> {
    let (day, day_end) = day_of(now);
    let (month, month_end) = month_of(now);
    let run = match run_id {
        Some(id) => conn.query_row(
            "SELECT coalesce(sum(coalesce(credits, reserved)), 0) FROM spending WHERE provider = ?1 AND run_id = ?2",
            params![vendor, id],
            |r| r.get(0),
        )?,
        None => 0.0,
    };
    Ok(Spent {
        run,
        day: window_sum(conn, vendor, day, day_end)?,
        month: window_sum(conn, vendor, month, month_end)?,
    })
}

fn window_sum(conn: &Connection, vendor: &str, from: f64, to: f64) -> Result<f64, StateError> {
    Ok(conn.query_row(
        "SELECT coalesce(sum(coalesce(credits, reserved)), 0) FROM spending WHERE provider = ?1 AND at >= ?2 AND at < ?3",
        params![vendor, from, to],
        |r| r.get(0),
    )?)
}

/// Paid requests recorded for run `run_id`.
pub fn paid_calls(conn: &Connection, run_id: i64) -> Result<u64, StateError> {
    let n: i64 = conn.query_row("SELECT count(*) FROM spending WHERE run_id = ?1", [run_id], |r| {
        r.get(0)
    })?;
    Ok(n as u64)
}

/// One line per cap: what is spent against it, for `status` and `plan`.
#[derive(Debug, Clone, Serialize)]
pub struct Standing {
    /// `budget.rocketreach.day`, `budget.max_paid_calls`, …
    pub key: String,
    pub cap: u64,
    pub spent: f64,
    pub left: f64,
}

/// Every cap of `spec` with what the state store says is spent against it:
/// the run caps by `run_id` (the pipeline's latest unfinished run, if any).
pub fn standing(
    conn: &Connection,
    spec: &BudgetSpec,
    run_id: Option<i64>,
    now: f64,
) -> Result<Vec<Standing>, StateError> {
    let mut out = Vec::new();
    if let Some(max) = spec.max_paid_calls {
        let calls = run_id.map(|id| paid_calls(conn, id)).transpose()?.unwrap_or(0) as f64;
        out.push(Standing {
            key: "budget.max_paid_calls".into(),
            cap: max,
            spent: calls,
            left: (max as f64 - calls).max(0.0),
        });
    }
    for (vendor, caps) in spec.vendors() {
        let s = spent(conn, vendor, run_id, now)?;
        for (window, cap, spent) in [
            ("run", caps.run, s.run),
            ("day", caps.day, s.day),
            ("month", caps.month, s.month),
        ] {
            if let Some(cap) = cap {
                out.push(Standing {
                    key: format!("budget.{vendor}.{window}"),
                    cap,
                    spent,
                    left: (cap as f64 - spent).max(0.0),
                });
            }
        }
    }
    Ok(out)
}

/// The latest run of pipeline `name`, whose run caps `status` shows.
pub fn latest_run(conn: &Connection, name: &str) -> Result<Option<i64>, StateError> {
    use rusqlite::OptionalExtension;
    Ok(conn
        .query_row("SELECT max(id) FROM runs WHERE pipeline = ?1", [name], |r| r.get(0))
        .optional()?
        .flatten())
}

/// `status`'s lines for the budget: each cap, spent and left.
pub fn render_standing(standing: &[Standing]) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    for b in standing {
        let _ = writeln!(
            s,
            "{}: {} of {} spent, {} left{}",
            b.key,
            b.spent,
            b.cap,
            b.left,
            if b.left <= 0.0 { " (reached)" } else { "" }
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicU64;

    use super::*;
    use crate::state::Store;
    use crate::state::writer::Writer;

    #[test]
    fn days_and_months_are_utc_calendar_ones() {
        // 2026-12-06T23:30:00Z
        let t = 1_796_599_800.0;
        let (d0, d1) = day_of(t);
        assert_eq!((d0, d1 - d0), (1_796_515_200.0, DAY));
        let (m0, m1) = month_of(t);
        assert_eq!(civil_from_days((m0 / DAY) as i64), (2026, 12, 1));
        assert_eq!(civil_from_days((m1 / DAY) as i64), (2027, 1, 1));
        assert_eq!(month_of(m1).0, m1, "the first second of January is January's");
    }

    /// A clock the test moves.
    fn clock(at: &Arc<AtomicU64>) -> Clock {
        let at = at.clone();
        Arc::new(move || f64::from_bits(at.load(Ordering::Relaxed)))
    }

    fn daily(day: u64) -> BudgetSpec {
        BudgetSpec {
            vendors: [(
                Vendor::LeadRocks,
                Caps {
                    day: Some(day),
                    ..Caps::default()
                },
            )]
            .into(),
            ..BudgetSpec::default()
        }
    }

    #[tokio::test]
    async fn a_daily_budget_carries_over_between_runs_of_one_day_and_resets_the_next() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let _store = Store::open(&path).unwrap();
        let writer = Writer::spawn(&path).unwrap();
        // 2026-12-06 10:00 UTC.
        let now = Arc::new(AtomicU64::new(1_796_551_200f64.to_bits()));

        // Run 1 spends 7 of the day's 10 credits: 8 requests held, one cost nothing.
        let run1 = Budget::open(&path, 1, daily(10), writer.handle(), clock(&now)).unwrap();
        for i in 0..8 {
            let r = run1.reserve(Vendor::LeadRocks, "verify", 1.0).await.unwrap();
            run1.settle(r, if i == 0 { 0.0 } else { 1.0 });
        }
        assert_eq!(run1.spent(Vendor::LeadRocks).day, 7.0);
        writer.handle().flush().await.unwrap();

        // Run 2, the same day (13:00): 3 left, the fourth request is refused.
        now.store(1_796_562_000f64.to_bits(), Ordering::Relaxed);
        let run2 = Budget::open(&path, 2, daily(10), writer.handle(), clock(&now)).unwrap();
        assert_eq!(
            run2.spent(Vendor::LeadRocks),
            Spent {
                run: 0.0,
                day: 7.0,
                month: 7.0
            }
        );
        for _ in 0..3 {
            let r = run2.reserve(Vendor::LeadRocks, "verify", 1.0).await.unwrap();
            run2.settle(r, 1.0);
        }
        let refused = run2.reserve(Vendor::LeadRocks, "verify", 1.0).await.unwrap_err();
        assert!(matches!(refused, CallError::BudgetReached { .. }), "{refused}");
        assert!(refused.to_string().contains("budget.leadrocks.day = 10"), "{refused}");

        // A request held and never settled (its process was killed) counts at its worst case.
        writer.handle().flush().await.unwrap();

        // A refused cap stays refused for the rest of the run (its process then ends).
        assert!(run2.reserve(Vendor::LeadRocks, "verify", 0.0).await.is_err());

        // The next day (2026-12-07 00:00:01 UTC), the run resumed starts from nothing spent today.
        now.store(1_796_601_601f64.to_bits(), Ordering::Relaxed);
        let resumed = Budget::open(&path, 2, daily(10), writer.handle(), clock(&now)).unwrap();
        assert_eq!(
            resumed.spent(Vendor::LeadRocks),
            Spent {
                run: 3.0,
                day: 0.0,
                month: 10.0
            }
        );
        let r = resumed.reserve(Vendor::LeadRocks, "verify", 1.0).await.unwrap();
        resumed.settle(r, 1.0);
        // And a new run of that day sees the day's 1 and the month's 11.
        writer.handle().flush().await.unwrap();
        let run3 = Budget::open(&path, 3, daily(10), writer.handle(), clock(&now)).unwrap();
        assert_eq!(
            run3.spent(Vendor::LeadRocks),
            Spent {
                run: 0.0,
                day: 1.0,
                month: 11.0
            }
        );
        drop((run1, run2, resumed, run3));
        writer.close().unwrap();
    }

    #[tokio::test]
    async fn a_held_request_counts_at_its_worst_case_until_settled() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let _store = Store::open(&path).unwrap();
        let writer = Writer::spawn(&path).unwrap();
        let spec = BudgetSpec {
            max_paid_calls: Some(3),
            vendors: [(
                Vendor::ReachStream,
                Caps {
                    run: Some(5),
                    ..Caps::default()
                },
            )]
            .into(),
        };
        let b = Budget::open(&path, 1, spec.clone(), writer.handle(), system_clock()).unwrap();
        let held = b.reserve(Vendor::ReachStream, "fetch", 3.0).await.unwrap();
        assert_eq!(b.spent(Vendor::ReachStream).run, 3.0, "held at its worst case");
        b.settle(held, 1.0);
        assert_eq!(b.spent(Vendor::ReachStream).run, 1.0, "settled to its cost");
        // Cut short (never settled): stays held at 3 in the store.
        let _cut_short = b.reserve(Vendor::ReachStream, "fetch", 3.0).await.unwrap();
        writer.handle().flush().await.unwrap();
        // A restarted process of the same run sees 1 + 3 spent and the 2 calls.
        let again = Budget::open(&path, 1, spec, writer.handle(), system_clock()).unwrap();
        assert_eq!(again.spent(Vendor::ReachStream).run, 4.0);
        // 4 + 3 would pass 5: refused before it is sent.
        let over = again.reserve(Vendor::ReachStream, "fetch", 3.0).await.unwrap_err();
        assert!(over.to_string().contains("budget.reachstream.run = 5"), "{over}");
        // Any vendor stops at the cap on paid calls: 2 sent, the third passes, the fourth not.
        let r = again.reserve(Vendor::LeadRocks, "verify", 1.0).await.unwrap();
        again.settle(r, 1.0);
        let over = again.reserve(Vendor::LeadRocks, "verify", 1.0).await.unwrap_err();
        assert!(over.to_string().contains("max_paid_calls = 3"), "{over}");
        drop((b, again));
        writer.close().unwrap();
    }
}
