//! The layer every vendor route goes through: seeded fault injection
//! (latency, 5xx, slow answers, dropped connections, truncated bodies,
//! throttling bursts) and the per-endpoint call counters. A fault is drawn
//! from (seed, vendor, request number), never from a shared RNG, so a run
//! with the same request sequence sees the same faults.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use bytes::Bytes;

use super::config::{Faults, Latency};
use super::util::{Mix, hash3, lock};
use super::{Core, Vendor};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    None,
    Error,
    Slow,
    Drop,
    Truncate,
    Throttle,
}

/// Latency and fault for request number `n` of `vendor`.
pub(crate) fn draw(seed: u64, vendor: Vendor, n: u64, f: &Faults) -> (Duration, Fault) {
    let mut r = Mix::new(hash3(seed, vendor.as_str(), n));
    let latency = match f.latency {
        Latency::None => 0,
        Latency::Fixed { ms } => ms,
        Latency::Uniform { min_ms, max_ms } => {
            let (lo, hi) = (min_ms.min(max_ms), min_ms.max(max_ms));
            lo + r.below(hi - lo + 1)
        }
    };
    let x = r.unit();
    let mut acc = 0.0;
    let mut fault = Fault::None;
    for (p, k) in [
        (f.error_rate, Fault::Error),
        (f.slow_rate, Fault::Slow),
        (f.drop_rate, Fault::Drop),
        (f.truncate_rate, Fault::Truncate),
        (f.throttle_rate, Fault::Throttle),
    ] {
        acc += p.max(0.0);
        if x < acc {
            fault = k;
            break;
        }
    }
    (Duration::from_millis(latency), fault)
}

/// Whether a webhook delivery should be sent twice (seeded by delivery number).
pub(crate) fn webhook_duplicate(seed: u64, vendor: Vendor, n: u64, f: &Faults) -> bool {
    Mix::new(hash3(seed, &format!("{}-webhook", vendor.as_str()), n)).chance(f.webhook_duplicate_rate)
}

/// Time left of the vendor's throttling burst, if one runs.
fn burst_left(core: &Core, vendor: Vendor) -> Option<Duration> {
    let mut until = lock(&core.throttled_until[vendor.idx()]);
    let left = (*until)?
        .checked_duration_since(Instant::now())
        .filter(|d| !d.is_zero());
    if left.is_none() {
        *until = None;
    }
    left
}

/// The vendor's rate-limit answer during a burst, counted like any call.
fn throttled(core: &Core, vendor: Vendor, method: axum::http::Method, route: Arc<str>, left: Duration) -> Response {
    let resp = super::vendor_throttled(core, vendor, left);
    core.stats.calls.add((vendor, method, route, resp.status().as_u16()), 1);
    resp
}

/// A response whose body fails at once: hyper aborts the connection, the client
/// sees it closed without a complete answer.
pub(crate) fn dropped() -> Response {
    let stream = futures::stream::once(async {
        Err::<Bytes, std::io::Error>(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "sandbox: dropped connection",
        ))
    });
    Response::new(Body::from_stream(stream))
}

/// Middleware: faults first, then the route, then the call counter.
pub(crate) async fn layer(State((core, vendor)): State<(Arc<Core>, Vendor)>, req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let route: Arc<str> = match req.extensions().get::<MatchedPath>() {
        Some(m) => core.route_name(m.as_str()),
        None => Arc::from("<unmatched>"),
    };
    let cfg = core.vendor_faults(vendor);
    let mut fault = Fault::None;
    if let Some(f) = cfg.as_ref() {
        if let Some(left) = burst_left(&core, vendor) {
            return throttled(&core, vendor, method, route, left);
        }
        let n = core.fault_seq[vendor.idx()].fetch_add(1, Ordering::Relaxed);
        let (latency, k) = draw(core.seed(), vendor, n, f);
        fault = k;
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        let fc = &core.stats.faults[vendor.idx()];
        match fault {
            Fault::Error => {
                fc.error.fetch_add(1, Ordering::Relaxed);
                let status = StatusCode::from_u16(f.error_status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                let resp = super::vendor_error(&core, vendor, status, "Internal Server Error");
                core.stats.calls.add((vendor, method, route, resp.status().as_u16()), 1);
                return resp;
            }
            Fault::Slow => {
                fc.slow.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(f.slow_ms)).await;
            }
            Fault::Drop => {
                fc.dropped.fetch_add(1, Ordering::Relaxed);
                core.stats.calls.add((vendor, method, route, 0), 1);
                return dropped();
            }
            Fault::Truncate => {
                fc.truncated.fetch_add(1, Ordering::Relaxed);
            }
            Fault::Throttle => {
                fc.bursts.fetch_add(1, Ordering::Relaxed);
                let length = Duration::from_millis(f.throttle_ms);
                *lock(&core.throttled_until[vendor.idx()]) = Some(Instant::now() + length);
                return throttled(&core, vendor, method, route, length);
            }
            Fault::None => {}
        }
    }
    let resp = next.run(req).await;
    core.stats.calls.add((vendor, method, route, resp.status().as_u16()), 1);
    if fault == Fault::Truncate {
        let (mut parts, body) = resp.into_parts();
        let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
        let cut = bytes.slice(..bytes.len() / 2);
        parts.headers.remove(axum::http::header::CONTENT_LENGTH);
        return Response::from_parts(parts, Body::from(cut));
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_are_seeded_and_follow_rates() {
        let f = Faults {
            error_rate: 0.5,
            ..Faults::default()
        };
        let a: Vec<_> = (0..100).map(|n| draw(1, Vendor::Graph8, n, &f).1).collect();
        let b: Vec<_> = (0..100).map(|n| draw(1, Vendor::Graph8, n, &f).1).collect();
        assert_eq!(a, b);
        let errors = a.iter().filter(|f| **f == Fault::Error).count();
        assert!((30..70).contains(&errors), "{errors}");
        let off = Faults::default();
        assert!((0..100).all(|n| draw(1, Vendor::Graph8, n, &off).1 == Fault::None));
    }
}
