//! RocketReach's deliveries at the run's receiver (`POST /rocketreach`): a
//! profile, or (bulk) a list of them.
//!
//! With `[vendors.rocketreach] webhook_secret` set, a delivery must carry
//! `X-RocketReach-Signature` (base64 HMAC-SHA256 of the raw body, compared in
//! constant time; 401 and nothing stored otherwise). Each profile is stored
//! under every key it belongs to: the bulk query's `metadata.leadpipe_key`
//! when the vendor echoes it; each bulk query the stage expects ([`expect`])
//! that the profile answers by identity (LinkedIn URL, email, name and
//! employer), for vendors that echo nothing; and `id:<profile id>`. A profile
//! that matches none of these is kept under `unmatched:<hash>` (paid for, so
//! never dropped), counted by the receiver's `unmatched`, and matched again
//! when a later attempt of the run expects its query. The receiver itself is
//! `crate::vendors::webhook`.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::http::StatusCode;
use futures::FutureExt as _;
use subtle::ConstantTimeEq;

use super::{LookupKey, Profile, answers};
use crate::secret::Secret;
use crate::vendors::webhook::{Delivery, Receiver, WebhookRoute};

/// The route RocketReach posts profiles to.
pub static ROUTE: WebhookRoute = WebhookRoute {
    path: "/rocketreach",
    receive: |delivery| receive(delivery).boxed(),
    sandbox,
};

/// The name deliveries are stored under (`webhook_deliveries.provider`).
pub const PROVIDER: &str = "rocketreach";

/// What the receiver keeps of RocketReach's deliveries in this run.
#[derive(Default)]
struct Inbox {
    /// Bulk queries waiting for their profile, by canonical key.
    expected: Mutex<HashMap<String, LookupKey>>,
    /// When a delivery for each `RR-Request-ID` first came.
    arrivals: Mutex<HashMap<String, tokio::time::Instant>>,
}

/// A bulk query is about to be sent (or was sent by an earlier attempt):
/// deliveries that answer it by identity are stored under its key, including
/// those that came before and matched nothing.
pub fn expect(receiver: &Receiver, keys: &[LookupKey]) {
    {
        let inbox = receiver.state::<Inbox>();
        let mut expected = crate::sync::lock(&inbox.expected);
        for k in keys {
            expected.insert(k.canonical.clone(), k.clone());
        }
    }
    if let Err(e) = rematch(receiver, keys) {
        tracing::warn!(error = %e, "cannot match earlier RocketReach deliveries");
    }
}

/// When a delivery carrying `RR-Request-ID: request_id` first came in this
/// run (the contract: a request's webhook carries its id).
pub fn delivered(receiver: &Receiver, request_id: &str) -> Option<tokio::time::Instant> {
    let inbox = receiver.state::<Inbox>();
    crate::sync::lock(&inbox.arrivals).get(request_id).copied()
}

async fn receive(d: Delivery) -> StatusCode {
    if let Some(secret) = d.receiver.secret(d.vendor).filter(|s| !s.is_empty()) {
        let expected = signature(secret, &d.body);
        let given = d
            .headers
            .get("x-rocketreach-signature")
            .map(|v| v.as_bytes())
            .unwrap_or_default();
        if !bool::from(expected.as_bytes().ct_eq(given)) {
            tracing::warn!("refused a RocketReach delivery with a missing or wrong signature");
            return StatusCode::UNAUTHORIZED;
        }
    }
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(&d.body) else {
        return StatusCode::BAD_REQUEST;
    };
    let items = match value {
        serde_json::Value::Array(a) => a,
        v @ serde_json::Value::Object(_) => vec![v],
        _ => return StatusCode::BAD_REQUEST,
    };
    let inbox = d.receiver.state::<Inbox>();
    let keyed: Vec<(String, String)> = items
        .iter()
        .filter(|p| p.is_object())
        .flat_map(|p| {
            let payload = p.to_string();
            keys_of(&inbox, p).into_iter().map(move |k| (k, payload.clone()))
        })
        .collect();
    let status = d.receiver.store(PROVIDER, keyed).await;
    let request_id = d.headers.get("rr-request-id").and_then(|v| v.to_str().ok());
    if status == StatusCode::OK
        && let Some(rid) = request_id
    {
        crate::sync::lock(&inbox.arrivals)
            .entry(rid.to_string())
            .or_insert_with(tokio::time::Instant::now);
    }
    status
}

/// Keys a profile is stored under (see the module doc).
fn keys_of(inbox: &Inbox, item: &serde_json::Value) -> Vec<String> {
    let mut keys = Vec::new();
    if let Some(k) = item["metadata"]["leadpipe_key"].as_str() {
        keys.push(k.to_string());
    }
    if let Ok(profile) = serde_json::from_value::<Profile>(item.clone()) {
        let expected = crate::sync::lock(&inbox.expected);
        keys.extend(
            expected
                .values()
                .filter(|k| answers(k, &profile))
                .map(|k| k.canonical.clone())
                .filter(|k| !keys.contains(k))
                .collect::<Vec<_>>(),
        );
    }
    if let Some(id) = item["id"].as_i64() {
        keys.push(format!("id:{id}"));
    }
    if keys.is_empty() {
        let text = item.to_string();
        keys.push(format!(
            "unmatched:{:016x}",
            xxhash_rust::xxh3::xxh3_64(text.as_bytes())
        ));
    }
    keys
}

/// Deliveries kept earlier that answer one of `keys` by identity, stored under it.
fn rematch(receiver: &Receiver, keys: &[LookupKey]) -> rusqlite::Result<()> {
    for payload in receiver.stored_under(PROVIDER, &["unmatched:", "id:"])? {
        let Ok(profile) = serde_json::from_str::<Profile>(&payload) else {
            continue;
        };
        for k in keys.iter().filter(|k| answers(k, &profile)) {
            receiver.store_blocking(PROVIDER, &k.canonical, &payload)?;
        }
    }
    Ok(())
}

/// base64(HMAC-SHA256(secret, body)).
fn signature(secret: &Secret, body: &[u8]) -> String {
    use base64::Engine as _;
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.expose().as_bytes()).expect("any key length");
    mac.update(body);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// The simulator's webhook, pointed at `url`, signing with the secret the
/// pipeline verifies.
fn sandbox(url: &str, secret: Option<&Secret>) -> serde_json::Value {
    let mut patch = serde_json::json!({"webhook": {"url": url, "active": true}});
    if let Some(secret) = secret {
        patch["webhook"]["secret"] = serde_json::Value::String(secret.expose().to_string());
    }
    patch
}
