//! `/__sandbox/*`, served on every vendor's port (no auth; loopback only):
//! - `GET  /__sandbox/stats`  — [`super::StatsSnapshot`] as JSON
//! - `POST /__sandbox/reset`  — counters, lookups, jobs, webhooks, graph8 data, balances
//! - `GET  /__sandbox/config` — the live configuration
//! - `POST /__sandbox/config` — a JSON merge patch onto it (400 with the reason if invalid)
//! - `GET  /__sandbox/people?offset=&limit=` — universe people with their behaviour flags

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use super::Core;
use super::util::Params;

pub(crate) fn router(core: Arc<Core>) -> Router {
    Router::new()
        .route("/__sandbox/stats", get(stats))
        .route("/__sandbox/reset", axum::routing::post(reset))
        .route("/__sandbox/config", get(get_config).post(post_config))
        .route("/__sandbox/people", get(people))
        .with_state(core)
}

async fn stats(State(core): State<Arc<Core>>) -> Response {
    Json(core.snapshot()).into_response()
}

async fn reset(State(core): State<Arc<Core>>) -> Response {
    core.reset();
    Json(json!({"reset": true})).into_response()
}

async fn get_config(State(core): State<Arc<Core>>) -> Response {
    Json(&*core.config()).into_response()
}

async fn post_config(State(core): State<Arc<Core>>, body: Bytes) -> Response {
    let patch: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({"error": format!("invalid JSON: {e}")})),
            )
                .into_response();
        }
    };
    let result = core.config().patched(&patch).and_then(|c| core.set_config(c));
    match result {
        Ok(()) => Json(&*core.config()).into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, Json(json!({"error": e.to_string()}))).into_response(),
    }
}

async fn people(State(core): State<Arc<Core>>, RawQuery(q): RawQuery) -> Response {
    let p = Params::parse(q.as_deref());
    let offset: usize = p.get("offset").and_then(|v| v.parse().ok()).unwrap_or(0);
    let limit: usize = p.get("limit").and_then(|v| v.parse().ok()).unwrap_or(50).min(1000);
    let u = core.universe();
    let items: Vec<_> = u
        .people
        .iter()
        .skip(offset)
        .take(limit)
        .map(|p| {
            let c = u.company_of(p);
            json!({
                "id": p.id, "name": p.name, "first_name": p.first_name, "last_name": p.last_name,
                "work_email": p.work_email, "linkedin_url": p.linkedin_url,
                "company": c.name, "domain": c.domain, "catch_all": c.catch_all,
                "rocketreach": p.rr, "email_status": p.email_status, "suppressed": p.suppressed,
            })
        })
        .collect();
    Json(json!({"total": u.people.len(), "offset": offset, "people": items})).into_response()
}
