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
//! The pause (set on a 429) holds every request of the vendor until it has
//! passed; a request takes its slots only after the pause, right before it is
//! sent, so a paused vendor does not burn window slots.
//!
//! Time is `tokio::time`, so tests run on a paused clock.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::{Instant, sleep_until};

use crate::spec::units::Rate;

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
}

/// Rate windows plus the vendor-wide pause.
pub struct RateGate {
    /// Waiters queue on this lock in FIFO order (tokio's mutex is fair), so
    /// the next request to go is always the one that has waited longest and
    /// waiters do not stampede when a slot frees.
    windows: tokio::sync::Mutex<Vec<Window>>,
    paused_until: Mutex<Option<Instant>>,
}

impl RateGate {
    pub fn new(rates: &[Rate]) -> RateGate {
        RateGate {
            windows: tokio::sync::Mutex::new(rates.iter().copied().map(Window::new).collect()),
            paused_until: Mutex::new(None),
        }
    }

    /// Waits until the vendor is not paused and every window has a slot, takes
    /// the slots and returns the start time. Cancel-safe: dropping the future
    /// before it resolves takes nothing.
    pub async fn acquire(&self) -> Instant {
        let mut windows = self.windows.lock().await;
        loop {
            let now = Instant::now();
            let ready = windows
                .iter_mut()
                .map(|w| w.ready_at(now))
                .chain(self.paused_until())
                .max()
                .unwrap_or(now);
            if ready <= now {
                windows.iter_mut().for_each(|w| w.take(now));
                return now;
            }
            // The pause may grow while we sleep: loop and look again.
            sleep_until(ready).await;
        }
    }

    /// Holds every request until `until` (a later pause wins over an earlier one).
    pub fn pause_until(&self, until: Instant) {
        let mut p = self.paused_until.lock().expect("pause lock");
        if p.is_none_or(|cur| cur < until) {
            *p = Some(until);
        }
    }

    pub fn paused_until(&self) -> Option<Instant> {
        let p = *self.paused_until.lock().expect("pause lock");
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
