//! Per-vendor counters for the run report: lock-free, shared by every clone
//! of the vendor's HTTP handle.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

use super::error::CallError;
use super::settings::Vendor;

/// A point-in-time copy of a vendor's counters.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VendorStats {
    pub vendor: Vendor,
    /// HTTP requests sent (every attempt, 429s included).
    pub calls: u64,
    /// Attempts after the first, for any reason (transient failure or 429).
    pub retries: u64,
    /// 429s (and vendor "slow down" replies) received.
    pub rate_limited: u64,
    /// Answers served from the cache instead of a call (reported by callers).
    pub cache_hits: u64,
    /// Credits spent (reported by callers, who know what an answer costs).
    pub credits: u64,
    /// Answers and deliveries refused because they answered another request
    /// (another company's records, another person's profile): never merged.
    pub answers_refused: u64,
    pub errors: ErrorCounts,
    /// From the first request's start to the last response's end.
    pub active_secs: f64,
    /// Calls per second over the span from the first request sent to the
    /// last, plus the length of the vendor's shortest rate window: a run that
    /// keeps the window full reaches the window's limit and never passes it
    /// (n calls within a span d fit at most the limit × (d + window)), and a
    /// run of a few calls does not show a rate it never held.
    pub achieved_rate: f64,
}

/// Failures by class. `transient` counts attempts that failed and were
/// retried or given up on; the others count calls that returned that error
/// (calls refused because the vendor was already stopped included).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ErrorCounts {
    pub transient: u64,
    pub record: u64,
    pub gave_up: u64,
    pub vendor_fatal: u64,
    pub out_of_credits: u64,
    pub throttled: u64,
    /// Calls refused because a `[budget]` cap was reached (absent when none).
    #[serde(skip_serializing_if = "is_zero")]
    pub budget_reached: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

pub(crate) struct Stats {
    origin: Instant,
    calls: AtomicU64,
    retries: AtomicU64,
    rate_limited: AtomicU64,
    cache_hits: AtomicU64,
    credits: AtomicU64,
    answers_refused: AtomicU64,
    transient: AtomicU64,
    record: AtomicU64,
    gave_up: AtomicU64,
    vendor_fatal: AtomicU64,
    out_of_credits: AtomicU64,
    throttled: AtomicU64,
    budget_reached: AtomicU64,
    /// Nanoseconds since `origin`, plus one (0 = not yet).
    first_start: AtomicU64,
    last_start: AtomicU64,
    last_end: AtomicU64,
}

impl Stats {
    pub fn new() -> Stats {
        Stats {
            origin: Instant::now(),
            calls: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            rate_limited: AtomicU64::new(0),
            cache_hits: AtomicU64::new(0),
            credits: AtomicU64::new(0),
            answers_refused: AtomicU64::new(0),
            transient: AtomicU64::new(0),
            record: AtomicU64::new(0),
            gave_up: AtomicU64::new(0),
            vendor_fatal: AtomicU64::new(0),
            out_of_credits: AtomicU64::new(0),
            throttled: AtomicU64::new(0),
            budget_reached: AtomicU64::new(0),
            first_start: AtomicU64::new(0),
            last_start: AtomicU64::new(0),
            last_end: AtomicU64::new(0),
        }
    }

    fn tick(&self, at: Instant) -> u64 {
        let nanos = at.saturating_duration_since(self.origin).as_nanos();
        u64::try_from(nanos).unwrap_or(u64::MAX - 1) + 1
    }

    pub fn request_sent(&self, at: Instant) {
        self.calls.fetch_add(1, Relaxed);
        let _ = self.first_start.compare_exchange(0, self.tick(at), Relaxed, Relaxed);
        self.last_start.fetch_max(self.tick(at), Relaxed);
    }

    pub fn request_done(&self, at: Instant) {
        self.last_end.fetch_max(self.tick(at), Relaxed);
    }

    pub fn retry(&self) {
        self.retries.fetch_add(1, Relaxed);
    }

    pub fn rate_limited(&self) {
        self.rate_limited.fetch_add(1, Relaxed);
    }

    pub fn transient(&self) {
        self.transient.fetch_add(1, Relaxed);
    }

    pub fn cache_hit(&self) {
        self.cache_hits.fetch_add(1, Relaxed);
    }

    pub fn credits(&self, n: u64) {
        self.credits.fetch_add(n, Relaxed);
    }

    pub fn answer_refused(&self) {
        self.answers_refused.fetch_add(1, Relaxed);
    }

    pub fn failed(&self, e: &CallError) {
        let counter = match e {
            CallError::VendorFatal { .. } => &self.vendor_fatal,
            CallError::OutOfCredits { .. } => &self.out_of_credits,
            CallError::Throttled { .. } => &self.throttled,
            CallError::BudgetReached { .. } => &self.budget_reached,
            CallError::Record { transient: true, .. } => &self.gave_up,
            CallError::Record { .. } => &self.record,
        };
        counter.fetch_add(1, Relaxed);
    }

    /// The counters now; `window` is the vendor's shortest rate window (1 s without one).
    pub fn snapshot(&self, vendor: Vendor, window: Duration) -> VendorStats {
        let calls = self.calls.load(Relaxed);
        let (first, last) = (self.first_start.load(Relaxed), self.last_end.load(Relaxed));
        let sending = Duration::from_nanos(self.last_start.load(Relaxed).saturating_sub(first));
        let active = if first == 0 || last <= first {
            Duration::ZERO
        } else {
            Duration::from_nanos(last - first)
        };
        let active_secs = active.as_secs_f64();
        VendorStats {
            vendor,
            calls,
            retries: self.retries.load(Relaxed),
            rate_limited: self.rate_limited.load(Relaxed),
            cache_hits: self.cache_hits.load(Relaxed),
            credits: self.credits.load(Relaxed),
            answers_refused: self.answers_refused.load(Relaxed),
            errors: ErrorCounts {
                transient: self.transient.load(Relaxed),
                record: self.record.load(Relaxed),
                gave_up: self.gave_up.load(Relaxed),
                vendor_fatal: self.vendor_fatal.load(Relaxed),
                out_of_credits: self.out_of_credits.load(Relaxed),
                throttled: self.throttled.load(Relaxed),
                budget_reached: self.budget_reached.load(Relaxed),
            },
            active_secs,
            achieved_rate: if calls > 0 {
                calls as f64 / (sending + window).as_secs_f64()
            } else {
                0.0
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn achieved_rate_over_active_time() {
        let s = Stats::new();
        tokio::time::sleep(Duration::from_secs(5)).await; // idle time before the first call does not count
        for _ in 0..20 {
            s.request_sent(Instant::now());
            tokio::time::sleep(Duration::from_millis(100)).await;
            s.request_done(Instant::now());
        }
        s.cache_hit();
        s.credits(3);
        s.failed(&CallError::Record {
            vendor: Vendor::Graph8,
            status: Some(404),
            reason: "x".into(),
            transient: false,
        });
        let snap = s.snapshot(Vendor::Graph8, Duration::from_secs(1));
        assert_eq!(snap.calls, 20);
        assert_eq!(snap.active_secs, 2.0);
        // Sent over 1.9 s, plus the 1 s window.
        assert_eq!(snap.achieved_rate, 20.0 / 2.9);
        assert_eq!((snap.cache_hits, snap.credits, snap.errors.record), (1, 3, 1));
        let json = serde_json::to_value(&snap).unwrap();
        assert_eq!(json["vendor"], "graph8");
        assert_eq!(json["errors"]["record"], 1);
    }

    /// A 10/s window kept full (10 at once, then 10 each time the window
    /// frees, answers taking 50 ms) shows 10/s, not more; a burst of 10 calls
    /// answered in 5 ms shows 10/s too, not 2,000/s.
    #[tokio::test(start_paused = true)]
    async fn achieved_rate_never_passes_the_window_limit() {
        let s = Stats::new();
        for second in 0..5 {
            let start = Instant::now();
            for _ in 0..10 {
                s.request_sent(start);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            s.request_done(Instant::now());
            if second < 4 {
                tokio::time::sleep(Duration::from_millis(950)).await;
            }
        }
        let snap = s.snapshot(Vendor::ReachStream, Duration::from_secs(1));
        assert_eq!(snap.calls, 50);
        assert_eq!(snap.achieved_rate, 10.0);
        assert!(
            snap.calls as f64 / snap.active_secs > 10.0,
            "calls over the active time would pass it"
        );

        let s = Stats::new();
        for _ in 0..10 {
            s.request_sent(Instant::now());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
        s.request_done(Instant::now());
        let snap = s.snapshot(Vendor::ReachStream, Duration::from_secs(1));
        assert_eq!(snap.achieved_rate, 10.0);
    }

    #[test]
    fn empty_stats_have_no_rate() {
        let snap = Stats::new().snapshot(Vendor::LeadRocks, Duration::from_secs(1));
        assert_eq!((snap.calls, snap.active_secs, snap.achieved_rate), (0, 0.0, 0.0));
    }
}
