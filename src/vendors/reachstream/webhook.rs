//! ReachStream's deliveries at the run's receiver (`POST /reachstream`):
//! a data fetch's records, posted with the `webhook_secret_key` header.
//!
//! A delivery is authenticated (the header compared in constant time with
//! `[vendors.reachstream] webhook_secret`; 401 and nothing stored otherwise),
//! read (400 unless it is a JSON object naming its `unique_processing_id`)
//! and kept as one part of that fetch's answer: the contract does not say a
//! fetch's records come in one post. The receiver itself is
//! `crate::vendors::webhook`.

use axum::http::StatusCode;
use futures::FutureExt as _;

use crate::secret::Secret;
use crate::vendors::webhook::{Delivery, WebhookRoute, authentic};

/// The route ReachStream posts fetched records to.
pub static ROUTE: WebhookRoute = WebhookRoute {
    path: "/reachstream",
    receive: |delivery| receive(delivery).boxed(),
    sandbox,
};

/// The name deliveries are stored under (`webhook_deliveries.provider`).
pub const PROVIDER: &str = "reachstream";

async fn receive(d: Delivery) -> StatusCode {
    let given = d
        .headers
        .get("webhook_secret_key")
        .or_else(|| d.headers.get("webhook-secret-key"))
        .map(|v| v.as_bytes());
    if !authentic(d.receiver.secret(d.vendor), given) {
        tracing::warn!("refused a ReachStream delivery with a missing or wrong webhook_secret_key");
        return StatusCode::UNAUTHORIZED;
    }
    let Ok(text) = std::str::from_utf8(&d.body) else {
        return StatusCode::BAD_REQUEST;
    };
    // A JSON object naming its processing id. (Not a derived struct: serde
    // would also read a struct from an array, taking `[82]` for id 82.)
    let head = serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(text);
    let id = match head.as_ref().map(|h| h.get("unique_processing_id")) {
        Ok(Some(serde_json::Value::Number(n))) => n.to_string(),
        Ok(Some(serde_json::Value::String(s))) if !s.trim().is_empty() => s.trim().to_string(),
        _ => return StatusCode::BAD_REQUEST,
    };
    d.receiver.store_part(PROVIDER, id, text.to_string()).await
}

/// The simulator's webhook, pointed at `url` (it sends the secret it was given).
fn sandbox(url: &str, _secret: Option<&Secret>) -> serde_json::Value {
    serde_json::json!({"webhook": {"url": url, "active": true}})
}
