//! Outgoing webhook deliveries: a POST per attempt, retried on any answer but
//! 200 after each delay of the schedule, optionally sent twice after success
//! (duplicate webhooks) and optionally late. Deliveries stop on reset/shutdown.
//! With a state file, a delivery still due is remembered (see `persist`) and
//! the next start of the sandbox goes on with it where its schedule stood,
//! to the vendor's webhook URL of that start.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::persist::{Dirty, from_wall, to_wall};
use super::{Core, Vendor};

/// Credits a key pays once the delivery is accepted (ReachStream charges
/// per delivered record).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Charge {
    pub key: String,
    pub credits: u64,
}

pub(crate) struct Delivery {
    pub vendor: Vendor,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    /// Delay before each attempt, the first included.
    pub schedule: Vec<Duration>,
    pub timeout: Duration,
    pub duplicate: bool,
    /// Charged once, after the first successful attempt.
    pub charge: Option<Charge>,
}

/// A delivery still due, as the state file keeps it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Pending {
    id: u64,
    vendor: Vendor,
    headers: Vec<(String, String)>,
    body: String,
    /// Delays of the attempts not made yet; the first counts from `due_from`.
    schedule_ms: Vec<u64>,
    /// Wall-clock ms the first remaining delay counts from.
    due_from: u64,
    timeout_ms: u64,
    duplicate: bool,
    charge: Option<Charge>,
}

pub(crate) fn ms_schedule(ms: &[u64], extra_first: u64) -> Vec<Duration> {
    let mut v: Vec<Duration> = ms.iter().map(|m| Duration::from_millis(*m)).collect();
    if v.is_empty() {
        v.push(Duration::ZERO);
    }
    v[0] += Duration::from_millis(extra_first);
    v
}

/// Where a remembered delivery goes: the vendor's webhook as configured now.
fn current_url(core: &Core, v: Vendor) -> Option<String> {
    core.config().section(v).webhook_url()
}

/// Notes where delivery `id` stands: `schedule[next..]` still to go, the
/// first of them counted from `from`.
fn remember(core: &Core, id: u64, d: &Delivery, next: usize, from: Instant) {
    core.journal.touch(|| {
        let p = Pending {
            id,
            vendor: d.vendor,
            headers: d.headers.clone(),
            body: String::from_utf8_lossy(&d.body).into_owned(),
            schedule_ms: d.schedule[next..].iter().map(|x| x.as_millis() as u64).collect(),
            due_from: to_wall(from),
            timeout_ms: d.timeout.as_millis() as u64,
            duplicate: d.duplicate,
            charge: d.charge.clone(),
        };
        Dirty::Delivery(id, serde_json::to_vec(&p).expect("delivery serialises"))
    });
}

pub(crate) fn spawn(core: &Arc<Core>, d: Delivery) {
    let id = core.delivery_seq.fetch_add(1, Ordering::Relaxed);
    let from = Instant::now();
    remember(core, id, &d, 0, from);
    run(core, id, d, from, false);
}

/// Goes on with deliveries remembered by an earlier start.
pub(crate) fn resume(core: &Arc<Core>, pending: Vec<Pending>) {
    for p in pending {
        let d = Delivery {
            vendor: p.vendor,
            url: String::new(),
            headers: p.headers,
            body: Bytes::from(p.body),
            schedule: p.schedule_ms.iter().map(|m| Duration::from_millis(*m)).collect(),
            timeout: Duration::from_millis(p.timeout_ms),
            duplicate: p.duplicate,
            charge: p.charge,
        };
        if d.schedule.is_empty() {
            core.journal.touch(|| Dirty::DeliveryDone(p.id));
            continue;
        }
        run(core, p.id, d, from_wall(p.due_from), true);
    }
    core.persist_flush();
}

/// Attempts `d` on its schedule, the first delay counted from `from`. A
/// remembered delivery goes to the vendor's current webhook and waits while
/// none is set.
fn run(core: &Arc<Core>, id: u64, mut d: Delivery, from: Instant, remembered: bool) {
    let cancel = core.cancel_token();
    let core = core.clone();
    tokio::spawn(async move {
        let counters = &core.stats.webhooks[d.vendor.idx()];
        let attempts = d.schedule.len();
        let mut since = from;
        for i in 0..attempts {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep_until((since + d.schedule[i]).into()) => {}
            }
            if remembered {
                loop {
                    if let Some(url) = current_url(&core, d.vendor) {
                        d.url = url;
                        break;
                    }
                    tokio::select! {
                        _ = cancel.cancelled() => return,
                        _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                    }
                }
            }
            counters.attempts.fetch_add(1, Ordering::Relaxed);
            let ok = tokio::select! {
                _ = cancel.cancelled() => return,
                ok = post(&core, &d) => ok,
            };
            if ok {
                counters.delivered.fetch_add(1, Ordering::Relaxed);
                if let Some(c) = d.charge.take()
                    && let Some(k) = core.keyring(d.vendor).get(&c.key)
                {
                    k.charge_up_to(c.credits);
                }
                core.journal.touch(|| Dirty::DeliveryDone(id));
                core.persist_flush();
                if d.duplicate {
                    counters.duplicates.fetch_add(1, Ordering::Relaxed);
                    counters.attempts.fetch_add(1, Ordering::Relaxed);
                    let _ = post(&core, &d).await;
                    core.persist_flush();
                }
                return;
            }
            counters.failed_attempts.fetch_add(1, Ordering::Relaxed);
            since = Instant::now();
            if i + 1 == attempts {
                counters.exhausted.fetch_add(1, Ordering::Relaxed);
                core.journal.touch(|| Dirty::DeliveryDone(id));
            } else {
                remember(&core, id, &d, i + 1, since);
            }
            core.persist_flush();
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
