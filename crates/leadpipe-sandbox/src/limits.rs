//! Per-key state: credit balance (atomic) and fixed-window rate limiters.
//! The key table is rebuilt only when the configuration changes; the request
//! path does one read of an `Arc` and, with limits on, one short lock per key.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use axum::extract::Request;

use super::config::{Credits, RateWindow};
use super::util::{lock, read_lock, write_lock};

/// Several fixed windows checked and counted together (all or none).
pub(crate) struct Limiter {
    windows: Vec<(u32, Duration)>,
    state: Mutex<Vec<(Instant, u32)>>,
}

/// Rejection: how long until the fullest window opens again.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Throttled {
    pub retry_after: Duration,
}

/// Admission: remaining requests and time to reset of the longest window.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Admitted {
    pub remaining: u32,
    pub reset_in: Duration,
}

impl Limiter {
    pub(crate) fn new(windows: &[RateWindow], scale: f64) -> Option<Self> {
        let windows: Vec<(u32, Duration)> = windows
            .iter()
            .filter(|w| w.per_ms > 0)
            .map(|w| {
                let ms = ((w.per_ms as f64) * scale).max(1.0) as u64;
                (w.limit, Duration::from_millis(ms))
            })
            .collect();
        if windows.is_empty() {
            return None;
        }
        let now = Instant::now();
        Some(Self {
            state: Mutex::new(vec![(now, 0); windows.len()]),
            windows,
        })
    }

    pub(crate) fn check(&self) -> Result<Admitted, Throttled> {
        let now = Instant::now();
        let mut st = lock(&self.state);
        let mut wait = Duration::ZERO;
        for (i, (limit, period)) in self.windows.iter().enumerate() {
            let (start, count) = &mut st[i];
            if now.duration_since(*start) >= *period {
                *start = now;
                *count = 0;
            }
            if *count >= *limit {
                wait = wait.max(*period - now.duration_since(*start));
            }
        }
        if wait > Duration::ZERO || self.windows.iter().any(|(l, _)| *l == 0) {
            return Err(Throttled {
                retry_after: wait.max(Duration::from_millis(1)),
            });
        }
        for c in st.iter_mut() {
            c.1 += 1;
        }
        let last = self.windows.len() - 1;
        let (limit, period) = self.windows[last];
        let (start, count) = st[last];
        Ok(Admitted {
            remaining: limit.saturating_sub(count),
            reset_in: period.saturating_sub(now.duration_since(start)),
        })
    }

    /// Reports the state of the longest window without counting a request.
    pub(crate) fn peek(&self) -> Vec<(u32, Duration, u32)> {
        let st = lock(&self.state);
        let now = Instant::now();
        self.windows
            .iter()
            .zip(st.iter())
            .map(|((l, p), (s, c))| (*l, *p, if now.duration_since(*s) >= *p { 0 } else { *c }))
            .collect()
    }
}

/// One API key: balance, charges, and its named limiters.
pub(crate) struct KeyState {
    pub key: String,
    pub initial: Credits,
    balance: AtomicI64,
    pub charged: AtomicU64,
    /// (action, limiter): `"*"` applies to every call; others by route class.
    pub limiters: Vec<(&'static str, Limiter)>,
    /// Per-key API call counter (RocketReach account page).
    pub calls: AtomicU64,
}

impl KeyState {
    pub(crate) fn new(key: &str, credits: Credits, limiters: Vec<(&'static str, Limiter)>) -> Self {
        Self {
            key: key.to_string(),
            initial: credits,
            balance: AtomicI64::new(credits.as_balance()),
            charged: AtomicU64::new(0),
            limiters,
            calls: AtomicU64::new(0),
        }
    }

    pub(crate) fn unlimited(&self) -> bool {
        self.initial == Credits::Unlimited
    }

    pub(crate) fn balance(&self) -> i64 {
        self.balance.load(Ordering::Relaxed)
    }

    /// Takes `n` credits if the balance allows it.
    /// The key has credits left (a vendor refuses a key with none, even for a free answer).
    pub(crate) fn can_pay(&self) -> bool {
        self.unlimited() || self.balance() > 0
    }

    pub(crate) fn try_charge(&self, n: u64) -> bool {
        if n == 0 {
            return true;
        }
        if self.unlimited() {
            self.charged.fetch_add(n, Ordering::Relaxed);
            return true;
        }
        let n = n as i64;
        let ok = self
            .balance
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |b| (b >= n).then_some(b - n))
            .is_ok();
        if ok {
            self.charged.fetch_add(n as u64, Ordering::Relaxed);
        }
        ok
    }

    /// Takes up to `n` credits (for charges after delivery); returns what was taken.
    pub(crate) fn charge_up_to(&self, n: u64) -> u64 {
        if self.unlimited() {
            self.charged.fetch_add(n, Ordering::Relaxed);
            return n;
        }
        let mut taken = 0;
        let _ = self.balance.fetch_update(Ordering::AcqRel, Ordering::Acquire, |b| {
            taken = (b.max(0) as u64).min(n);
            Some(b - taken as i64)
        });
        self.charged.fetch_add(taken, Ordering::Relaxed);
        taken
    }

    /// Checks `"*"` and then `action` limiters. With none configured this is free.
    pub(crate) fn admit(&self, action: &str) -> Result<Option<Admitted>, Throttled> {
        self.check_limiters(|a| a == "*" || a == action)
    }

    /// Checks only the limiters named `action` (not `"*"`).
    pub(crate) fn admit_only(&self, action: &str) -> Result<Option<Admitted>, Throttled> {
        self.check_limiters(|a| a == action)
    }

    /// Counts a request in every limiter that `applies`, in order, stopping at
    /// the first that refuses; answers the admission of the last one checked.
    fn check_limiters(&self, applies: impl Fn(&str) -> bool) -> Result<Option<Admitted>, Throttled> {
        let mut last = None;
        for (a, l) in &self.limiters {
            if applies(a) {
                last = Some(l.check()?);
            }
        }
        Ok(last)
    }

    /// Puts back what a state file remembers of this key; the balance only
    /// when the configured credits are still the same.
    pub(crate) fn restore(&self, initial: Credits, balance: i64, charged: u64, calls: u64) {
        if initial == self.initial {
            self.balance.store(balance, Ordering::Relaxed);
        }
        self.charged.store(charged, Ordering::Relaxed);
        self.calls.store(calls, Ordering::Relaxed);
    }

    fn carry_from(&self, old: &KeyState) {
        if old.initial == self.initial {
            self.balance.store(old.balance(), Ordering::Relaxed);
        }
        self.charged
            .store(old.charged.load(Ordering::Relaxed), Ordering::Relaxed);
        self.calls.store(old.calls.load(Ordering::Relaxed), Ordering::Relaxed);
    }
}

/// The keys of one vendor, swapped as a whole on reconfiguration.
pub(crate) struct Keyring {
    map: RwLock<Arc<HashMap<String, Arc<KeyState>>>>,
}

impl Keyring {
    pub(crate) fn new() -> Self {
        Self {
            map: RwLock::new(Arc::new(HashMap::new())),
        }
    }

    pub(crate) fn get(&self, key: &str) -> Option<Arc<KeyState>> {
        read_lock(&self.map).get(key).cloned()
    }

    pub(crate) fn all(&self) -> Vec<Arc<KeyState>> {
        let mut v: Vec<_> = read_lock(&self.map).values().cloned().collect();
        v.sort_by(|a, b| a.key.cmp(&b.key));
        v
    }

    /// Rebuilds the table; with `carry`, balances (when the configured amount is
    /// unchanged) and charge counters survive.
    pub(crate) fn rebuild(&self, keys: &[String], mk: impl Fn(&str) -> KeyState, carry: bool) {
        let old = read_lock(&self.map).clone();
        let mut map = HashMap::with_capacity(keys.len());
        for k in keys {
            let ks = mk(k);
            if carry && let Some(o) = old.get(k) {
                ks.carry_from(o);
            }
            map.insert(k.clone(), Arc::new(ks));
        }
        *write_lock(&self.map) = Arc::new(map);
    }

    /// Replaces one key by another, keeping its state (key rotation).
    pub(crate) fn rotate(&self, old_key: &str, new_key: &str, mk: impl Fn(&str) -> KeyState) -> bool {
        let mut g = write_lock(&self.map);
        let Some(old) = g.get(old_key).cloned() else {
            return false;
        };
        let ks = mk(new_key);
        ks.carry_from(&old);
        ks.balance.store(old.balance(), Ordering::Relaxed);
        let mut map: HashMap<String, Arc<KeyState>> = (**g).clone();
        map.remove(old_key);
        map.insert(new_key.to_string(), Arc::new(ks));
        *g = Arc::new(map);
        true
    }
}

/// The key a vendor's guard admitted and put into the request.
pub(crate) fn key_of(req: &Request) -> Arc<KeyState> {
    req.extensions()
        .get::<Arc<KeyState>>()
        .cloned()
        .expect("guard inserts the key")
}

/// Retry-After in whole seconds, rounded up, at least 1.
pub(crate) fn retry_after_secs(d: Duration) -> u64 {
    (d.as_millis().div_ceil(1000) as u64).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_throttles_then_recovers() {
        let l = Limiter::new(&[RateWindow { limit: 3, per_ms: 50 }], 1.0).unwrap();
        for _ in 0..3 {
            l.check().unwrap();
        }
        let t = l.check().unwrap_err();
        assert!(t.retry_after <= Duration::from_millis(50));
        std::thread::sleep(t.retry_after + Duration::from_millis(2));
        l.check().unwrap();
    }

    #[test]
    fn credits_never_go_negative() {
        let k = KeyState::new("k", Credits::Amount(2), vec![]);
        assert!(k.try_charge(1));
        assert!(!k.try_charge(2));
        assert!(k.try_charge(1));
        assert!(!k.try_charge(1));
        assert_eq!(k.charged.load(Ordering::Relaxed), 2);
    }
}
