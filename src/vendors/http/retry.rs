//! The backoff schedule between attempts (`backon`'s exponential backoff with jitter).
//!
//! Delay `n` is drawn from `[d, 2d)` where `d` starts at `min_backoff` and
//! doubles up to half of `max_backoff`; every delay is then kept within
//! `[min_backoff, max_backoff]`. Jitter stays on at the cap, so retries that
//! failed together do not come back together.
//!
//! The retry loop itself lives in `http.rs`: it draws from this schedule only
//! for failures that count toward `max_attempts`, while a 429 waits for the
//! vendor-wide pause instead (see the module docs there).

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};

pub(crate) fn schedule(min: Duration, max: Duration) -> impl Iterator<Item = Duration> {
    ExponentialBuilder::new()
        .with_min_delay(min)
        .with_max_delay((max / 2).max(min))
        .with_factor(2.0)
        .with_jitter()
        .without_max_times()
        .build()
        .map(move |d| d.clamp(min, max))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_with_jitter_within_bounds() {
        let (min, max) = (Duration::from_millis(500), Duration::from_secs(30));
        for _ in 0..50 {
            let d: Vec<Duration> = schedule(min, max).take(12).collect();
            assert!(d.iter().all(|&x| x >= min && x <= max), "{d:?}");
            assert!(d[0] < Duration::from_secs(1), "{d:?}");
            assert!(d[1] >= Duration::from_secs(1) && d[1] < Duration::from_secs(2), "{d:?}");
            assert!(d[11] >= Duration::from_secs(15), "{d:?}");
        }
        let d: Vec<Duration> = schedule(min, max).skip(8).take(20).collect();
        assert!(d.windows(2).any(|w| w[0] != w[1]), "jitter at the cap: {d:?}");
    }

    #[test]
    fn a_narrow_range_stays_inside() {
        let d = Duration::from_millis(100);
        assert!(schedule(d, d).take(5).all(|x| x == d));
    }
}
