//! The rate gate of one vendor: its rate windows and its 429 pause.
//!
//! # Semantics
//! A window `N/W` guarantees that **no interval of length `W` contains more
//! than `N` request starts** (a sliding window). Requests may go out in a
//! burst of `N` and the long-run rate is `N/W`; the `N+1`-th request waits
//! until the oldest of the last `N` is `W` old. Each window is lengthened by
//! a small slack (1 %, at most 250 ms) so that jitter between our send time
//! and the vendor's arrival time does not push a request into a full window.
//! The slack is a direct cost: a window `N/W` runs at `N / (W + slack)`, so
//! 2 % alone kept a 10/s vendor below 9.81/s, and the status polls and the end
//! of a run had no room left under the 97 % a run must reach. 1 % (10 ms on a
//! one-second window) still covers loopback and same-region jitter; a 429
//! that jitter does cause is honoured like any other (the vendor pauses for
//! its `Retry-After`).
//! Several windows are enforced together: a request starts only when all of
//! them allow it, and it takes a slot in all of them at once, so a request
//! waiting on one window never wastes a slot of another.
//!
//! Why not `governor`: its GCRA refills continuously, so `Quota::per_minute(50)`
//! admits 50 at once and then one every 1.2 s — 99 requests in the first
//! minute, a 429 from any vendor that counts per minute. No burst setting
//! gives both "≤ N per window" and "N per window sustained" (burst `b` and
//! period `T` admit `b + W/T − 1` per window), and spacing every window
//! evenly (burst 1) would spread a 5,000/month plan over the whole month
//! instead of letting it go at the hourly/daily pace the vendor allows.
//! A window keeps the start times of its last `N` requests (≤ 16 bytes each:
//! 3.2 MB for the largest preset, 200,000/month).
//!
//! # Send time and arrival time
//! A slot is taken when a request leaves, but the vendor counts it when it
//! arrives, and the two drift apart: a request that waits for a new
//! connection (connect, TLS) arrives late while later requests on warm
//! connections arrive at once, and on a busy machine any request can sit a
//! few milliseconds in a run queue. Such a late request and one sent a window
//! after it can land in the same vendor window. So when an answer begins to
//! arrive, its slot is *settled* ([`RateGate::answered`]): moved from the send
//! time to the latest moment the vendor can have received it, estimated as the
//! answer time minus the fastest round trip seen so far. On a warm connection
//! the move is capped at a twentieth of the shortest window (50 ms on a
//! one-second window), so a vendor whose processing time varies a lot costs
//! at most that much rate; the first request on a new connection moves in
//! full (before any round trip is known, to its answer time).
//!
//! The pause (set on a 429) holds every request of the vendor until it has
//! passed; a request takes its slots only after the pause, right before it is
//! sent, so a paused vendor does not burn window slots.
//!
//! Time is `tokio::time`, so tests run on a paused clock.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::time::{Instant, sleep_until};

use crate::units::Rate;

/// Extra length given to every window (see the module docs).
pub fn slack(per: Duration) -> Duration {
    (per / 100).min(Duration::from_millis(250))
}

struct Window {
    count: usize,
    span: Duration,
    /// Start times of the last `count` requests, oldest first.
    starts: VecDeque<Instant>,
}

impl Window {
    fn new(rate: Rate) -> Window {
        Window {
            count: rate.count.get() as usize,
            span: rate.per + slack(rate.per),
            starts: VecDeque::new(),
        }
    }

    /// When this window next has a free slot (`now` if it has one).
    fn ready_at(&mut self, now: Instant) -> Instant {
        while self.starts.front().is_some_and(|&t| t + self.span <= now) {
            self.starts.pop_front();
        }
        if self.starts.len() < self.count {
            now
        } else {
            self.starts[self.starts.len() - self.count] + self.span
        }
    }

    /// Only after [`Window::ready_at`] returned `now`, so there is room.
    fn take(&mut self, now: Instant) {
        self.starts.push_back(now);
    }

    /// Move one slot taken at `start` to `later`, keeping the starts in order.
    fn settle(&mut self, start: Instant, later: Instant) {
        let i = self.starts.partition_point(|&t| t < start);
        if self.starts.get(i) == Some(&start) && later > start {
            self.starts.remove(i);
            let j = self.starts.partition_point(|&t| t <= later);
            self.starts.insert(j, later);
        }
    }
}

/// Counts a request as queued for as long as it lives (cancel-safe).
struct Queued<'a>(&'a AtomicUsize);

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Rate windows plus the vendor-wide pause.
pub struct RateGate {
    /// Waiters queue on this lock in FIFO order (tokio's mutex is fair), so
    /// the next request to go is always the one that has waited longest and
    /// waiters do not stampede when a slot frees.
    turn: tokio::sync::Mutex<()>,
    /// Requests queued on `turn`; while there are any, nobody skips the queue.
    waiting: AtomicUsize,
    /// Held only for short, non-async moments, so answers can settle slots
    /// while a waiter sleeps.
    windows: Mutex<Vec<Window>>,
    paused_until: Mutex<Option<Instant>>,
    /// The fastest round trip seen on a warm connection.
    fastest: Mutex<Option<Duration>>,
    /// The most a warm request's slot moves when settled.
    max_settle: Duration,
}

impl RateGate {
    pub fn new(rates: &[Rate]) -> RateGate {
        RateGate {
            turn: tokio::sync::Mutex::new(()),
            waiting: AtomicUsize::new(0),
            windows: Mutex::new(rates.iter().copied().map(Window::new).collect()),
            paused_until: Mutex::new(None),
            fastest: Mutex::new(None),
            max_settle: rates.iter().map(|r| r.per / 20).min().unwrap_or_default(),
        }
    }

    /// Waits until the vendor is not paused and every window has a slot, takes
    /// the slots and returns the start time. Cancel-safe: dropping the future
    /// before it resolves takes nothing.
    pub async fn acquire(&self) -> Instant {
        // With nobody queued and room in every window, go at once: queueing on
        // the fair lock would hand the turn from task to task, one wake-up each.
        if self.waiting.load(Ordering::Acquire) == 0
            && let Ok(now) = self.try_take()
        {
            return now;
        }
        self.waiting.fetch_add(1, Ordering::AcqRel);
        let _queued = Queued(&self.waiting);
        let _turn = self.turn.lock().await;
        loop {
            match self.try_take() {
                Ok(now) => return now,
                // The pause may grow, and slots may be settled, while we sleep: loop and look again.
                Err(ready) => sleep_until(ready).await,
            }
        }
    }

    /// Takes a slot in every window now, or says when that may be possible.
    fn try_take(&self) -> Result<Instant, Instant> {
        let now = Instant::now();
        let mut windows = crate::sync::lock(&self.windows);
        let ready = windows
            .iter_mut()
            .map(|w| w.ready_at(now))
            .chain(self.paused_until())
            .max()
            .unwrap_or(now);
        if ready <= now {
            windows.iter_mut().for_each(|w| w.take(now));
            Ok(now)
        } else {
            Err(ready)
        }
    }

    /// The answer to the request sent at `start` began to arrive at
    /// `answered`; `new_connection` when the request opened its connection.
    /// Settles the request's slots at its estimated arrival (see the module docs).
    pub fn answered(&self, start: Instant, answered: Instant, new_connection: bool) {
        if self.max_settle.is_zero() {
            return;
        }
        let round_trip = answered - start;
        let fastest = {
            let mut fastest = crate::sync::lock(&self.fastest);
            if !new_connection && fastest.is_none_or(|f| round_trip < f) {
                *fastest = Some(round_trip);
            }
            *fastest
        };
        let late = round_trip.saturating_sub(fastest.unwrap_or_default());
        let late = if new_connection {
            late
        } else {
            late.min(self.max_settle)
        };
        // Below a millisecond, the windows' slack covers it.
        if late >= Duration::from_millis(1) {
            self.settle(start, start + late);
        }
    }

    /// Count the request whose slots were taken at `start` from `arrived_by` in every window.
    pub fn settle(&self, start: Instant, arrived_by: Instant) {
        if arrived_by > start {
            let mut windows = crate::sync::lock(&self.windows);
            windows.iter_mut().for_each(|w| w.settle(start, arrived_by));
        }
    }

    /// Fills the windows with requests sent before this gate existed (by an
    /// earlier process with the same key), so they count as if sent here.
    pub fn remember(&self, sent: &[Instant]) {
        let mut windows = self.windows.lock().expect("windows lock");
        for w in windows.iter_mut() {
            let mut all: Vec<Instant> = w.starts.iter().chain(sent).copied().collect();
            all.sort();
            let keep = all.len().saturating_sub(w.count);
            w.starts = all.drain(keep..).collect();
        }
    }

    /// Holds every request until `until` (a later pause wins over an earlier one).
    pub fn pause_until(&self, until: Instant) {
        let mut p = crate::sync::lock(&self.paused_until);
        if p.is_none_or(|cur| cur < until) {
            *p = Some(until);
        }
    }

    pub fn paused_until(&self) -> Option<Instant> {
        let p = *crate::sync::lock(&self.paused_until);
        p.filter(|&t| t > Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn gate(rates: &[&str]) -> RateGate {
        let rates: Vec<Rate> = rates.iter().map(|s| s.parse().unwrap()).collect();
        RateGate::new(&rates)
    }

    /// The most starts found in any half-open interval `[t, t + span)`.
    fn busiest(starts: &[Instant], span: Duration) -> usize {
        starts
            .iter()
            .map(|&t| starts.iter().filter(|&&s| s >= t && s < t + span).count())
            .max()
            .unwrap_or(0)
    }

    #[tokio::test(start_paused = true)]
    async fn several_windows_hold_together() {
        let g = Arc::new(gate(&["10/s", "50/min"]));
        let t0 = Instant::now();
        // Sixty requests from twenty concurrent tasks.
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let g = g.clone();
                tokio::spawn(async move {
                    let mut v = Vec::new();
                    for _ in 0..3 {
                        v.push(g.acquire().await);
                    }
                    v
                })
            })
            .collect();
        let mut starts = Vec::new();
        for t in tasks {
            starts.extend(t.await.unwrap());
        }
        starts.sort();
        assert_eq!(starts.len(), 60);
        assert!(starts[59] - t0 >= Duration::from_secs(60), "{:?}", starts[59] - t0);
        assert_eq!(busiest(&starts, Duration::from_secs(1)), 10);
        assert_eq!(busiest(&starts, Duration::from_secs(60)), 50);
        // The first fifty go at 10/s: a burst of ten, then ten more a second later.
        assert_eq!(starts[9] - t0, Duration::ZERO);
        assert!(starts[10] - t0 >= Duration::from_secs(1));
        assert!(starts[49] - t0 < Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn burst_up_to_the_count_then_the_window_slides() {
        let g = gate(&["3/s"]);
        let t0 = Instant::now();
        let mut starts = Vec::new();
        for _ in 0..7 {
            starts.push(g.acquire().await - t0);
        }
        let span = Duration::from_secs(1) + slack(Duration::from_secs(1));
        assert_eq!(
            starts,
            [
                Duration::ZERO,
                Duration::ZERO,
                Duration::ZERO,
                span,
                span,
                span,
                span * 2
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_holds_every_request_and_costs_no_slot() {
        let g = Arc::new(gate(&["2/s"]));
        let t0 = Instant::now();
        g.pause_until(t0 + Duration::from_secs(3));
        g.pause_until(t0 + Duration::from_secs(1)); // an earlier pause does not shorten it
        let tasks: Vec<_> = (0..2)
            .map(|_| {
                let g = g.clone();
                tokio::spawn(async move { g.acquire().await })
            })
            .collect();
        for t in tasks {
            assert_eq!(t.await.unwrap() - t0, Duration::from_secs(3));
        }
        assert_eq!(g.paused_until(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_set_while_waiting_is_honoured() {
        let g = Arc::new(gate(&["1/s"]));
        let t0 = Instant::now();
        g.acquire().await;
        let waiter = {
            let g = g.clone();
            tokio::spawn(async move { g.acquire().await })
        };
        tokio::time::sleep(Duration::from_millis(500)).await;
        g.pause_until(Instant::now() + Duration::from_secs(3));
        assert_eq!(waiter.await.unwrap() - t0, Duration::from_millis(3_500));
    }

    #[tokio::test(start_paused = true)]
    async fn a_settled_slot_counts_from_its_arrival() {
        let g = gate(&["2/s"]);
        let span = Duration::from_secs(1) + slack(Duration::from_secs(1));
        let t0 = Instant::now();
        let first = g.acquire().await;
        let second = g.acquire().await;
        // The first request opened a connection: its answer began at 300 ms.
        g.answered(first, t0 + Duration::from_millis(300), true);
        // The second slot frees first now, the first one 300 ms later.
        assert_eq!(g.acquire().await - t0, span);
        assert_eq!(g.acquire().await - t0, span + Duration::from_millis(300));
        // Settling a slot that already left the window changes nothing.
        g.answered(second, t0 + Duration::from_secs(9), true);
        assert_eq!(g.acquire().await - t0, span * 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_late_answer_on_a_warm_connection_moves_its_slot_a_little() {
        let g = gate(&["1/s"]);
        let span = Duration::from_secs(1) + slack(Duration::from_secs(1));
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        // The fastest round trip is 200 ms; the next answer is 30 ms later than that.
        g.answered(g.acquire().await, t0 + ms(200), false);
        let second = g.acquire().await;
        assert_eq!(second - t0, span);
        g.answered(second, second + ms(230), false);
        assert_eq!(g.acquire().await - second, span + ms(30));
        // A very slow answer moves its slot by at most 50 ms (a twentieth of the window).
        let fourth = g.acquire().await;
        g.answered(fourth, fourth + ms(900), false);
        assert_eq!(g.acquire().await - fourth, span + ms(50));
    }

    #[tokio::test(start_paused = true)]
    async fn dropping_a_waiter_takes_nothing() {
        let g = gate(&["1/min"]);
        let t0 = Instant::now();
        g.acquire().await;
        let r = tokio::time::timeout(Duration::from_secs(5), g.acquire()).await;
        assert!(r.is_err());
        let span = Duration::from_secs(60) + slack(Duration::from_secs(60));
        assert_eq!(g.acquire().await - t0, span);
    }
}
