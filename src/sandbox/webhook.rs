//! Outgoing webhook deliveries: a POST per attempt, retried on any answer but
//! 200 after each delay of the schedule, optionally sent twice after success
//! (duplicate webhooks) and optionally late. Deliveries stop on reset/shutdown.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;

use super::{Core, Vendor};

pub(crate) type OnDelivered = Box<dyn FnOnce() + Send + Sync + 'static>;

pub(crate) struct Delivery {
    pub vendor: Vendor,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    /// Delay before each attempt, the first included.
    pub schedule: Vec<Duration>,
    pub timeout: Duration,
    pub duplicate: bool,
    /// Runs once, after the first successful attempt.
    pub on_delivered: Option<OnDelivered>,
}

pub(crate) fn ms_schedule(ms: &[u64], extra_first: u64) -> Vec<Duration> {
    let mut v: Vec<Duration> = ms.iter().map(|m| Duration::from_millis(*m)).collect();
    if v.is_empty() {
        v.push(Duration::ZERO);
    }
    v[0] += Duration::from_millis(extra_first);
    v
}

pub(crate) fn spawn(core: &Arc<Core>, mut d: Delivery) {
    let cancel = core.cancel_token();
    let core = core.clone();
    tokio::spawn(async move {
        let counters = &core.stats.webhooks[d.vendor.idx()];
        let attempts = d.schedule.len();
        for (i, delay) in d.schedule.iter().enumerate() {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(*delay) => {}
            }
            counters.attempts.fetch_add(1, Ordering::Relaxed);
            let ok = tokio::select! {
                _ = cancel.cancelled() => return,
                ok = post(&core, &d) => ok,
            };
            if ok {
                counters.delivered.fetch_add(1, Ordering::Relaxed);
                if let Some(f) = d.on_delivered.take() {
                    f();
                }
                if d.duplicate {
                    counters.duplicates.fetch_add(1, Ordering::Relaxed);
                    counters.attempts.fetch_add(1, Ordering::Relaxed);
                    let _ = post(&core, &d).await;
                }
                return;
            }
            counters.failed_attempts.fetch_add(1, Ordering::Relaxed);
            if i + 1 == attempts {
                counters.exhausted.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
}

async fn post(core: &Core, d: &Delivery) -> bool {
    let mut req = core
        .http
        .post(&d.url)
        .timeout(d.timeout)
        .header("content-type", "application/json")
        .body(d.body.clone());
    for (k, v) in &d.headers {
        req = req.header(k.as_str(), v.as_str());
    }
    match req.send().await {
        Ok(resp) => {
            let ok = resp.status().as_u16() == 200;
            let _ = resp.bytes().await;
            ok
        }
        Err(e) => {
            tracing::debug!(vendor = d.vendor.as_str(), error = %e, "sandbox webhook attempt failed");
            false
        }
    }
}

/// base64(HMAC-SHA256(secret, body)), RocketReach's `X-RocketReach-Signature`.
pub(crate) fn sign_b64(secret: &str, body: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(hmac_sha256(secret, body))
}

pub(crate) fn sign_hex(secret: &str, body: &[u8]) -> String {
    hmac_sha256(secret, body).iter().map(|b| format!("{b:02x}")).collect()
}

fn hmac_sha256(secret: &str, body: &[u8]) -> Vec<u8> {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body);
    mac.finalize().into_bytes().to_vec()
}
