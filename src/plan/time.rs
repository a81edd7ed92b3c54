//! How long a run would take: its requests under each vendor's rate
//! windows (less what earlier runs still fill), plus each stage's configured
//! waits, the stages before a bulk verification running side by side.

use std::time::Duration;

use super::{StagePlan, VendorPlan};
use crate::spec::ValidPipeline;
use crate::stages::StageSpec;
use crate::state::{StateError, Store};
use crate::vendors::http::VendorHttp;

/// When earlier runs' requests to this vendor key went out, within its
/// longest window: the run starts with the windows they still fill.
pub(super) fn sent_before(store: &Store, http: &VendorHttp) -> Result<Vec<f64>, StateError> {
    let Some(longest) = http.longest_window() else {
        return Ok(Vec::new());
    };
    let since = crate::state::now() - longest.as_secs_f64();
    let mut stmt = store
        .conn()
        .prepare("SELECT sent_at FROM rate_slots WHERE vendor = ?1 AND key = ?2 AND sent_at > ?3 ORDER BY sent_at")?;
    let sent = stmt
        .query_map(rusqlite::params![http.vendor().name(), http.key_id(), since], |r| {
            r.get(0)
        })?
        .collect::<Result<Vec<f64>, _>>()?;
    Ok(sent)
}

/// Seconds `n` requests take under the vendor's windows, some of them
/// already filled by requests `sent` earlier, and the binding window.
pub(super) fn rate_time(http: &VendorHttp, n: u64, sent: &[f64]) -> (f64, String) {
    let mut windows = http.settings().rate_limits.clone();
    windows.sort_by_key(|r| r.per);
    let now = crate::state::now();
    let mut best: Option<(f64, String)> = None;
    for r in &windows {
        let k = u64::from(r.count.get());
        let per = r.per.as_secs_f64();
        let in_window: Vec<f64> = sent.iter().copied().filter(|t| *t > now - per).collect();
        let total = n + in_window.len() as u64;
        // The window admits k per `per`; the earlier requests' slots free up as they age.
        let t = if n > 0 && total > k {
            let aged = in_window.first().map_or(0.0, |oldest| now - oldest);
            (((total - 1) / k) as f64 * per - aged).max(0.0)
        } else {
            0.0
        };
        // The slowest window binds; among equals, the shortest is named.
        if best.as_ref().is_none_or(|(b, _)| t > *b) {
            best = Some((t, format!("{}/{}", k, humantime::format_duration(r.per))));
        }
    }
    best.unwrap_or((0.0, "no rate limit".to_string()))
}

/// The run's duration: the stages before a bulk verification side by side
/// (a run takes as long as its slowest vendor), the verification after them,
/// each with its configured waits.
pub(super) fn total_time(p: &ValidPipeline, stages: &[StagePlan], vendors: &[VendorPlan]) -> (f64, String) {
    // A stage that asks several vendors (a waterfall) takes as long as its slowest.
    let vendor_time = |spec: &StageSpec| {
        spec.vendors()
            .iter()
            .filter_map(|v| vendors.iter().find(|x| x.vendor == v.name()))
            .map(|x| x.time_s)
            .fold(0.0, f64::max)
    };
    let (mut phase, mut total) = (0.0f64, 0.0f64);
    let mut parts = Vec::new();
    for (spec, sp) in p.stages.iter().zip(stages) {
        if sp.paid_requests == 0 && sp.rows_uncertain == 0 {
            continue;
        }
        let (wait, batch_after_input) = waits(spec);
        let t = vendor_time(spec) + wait.as_secs_f64();
        if batch_after_input {
            total += phase;
            phase = 0.0;
            total += t;
        } else {
            phase = phase.max(t);
        }
        parts.push(format!("{} {:.1} s", sp.stage, t));
    }
    total += phase;
    let basis = if parts.is_empty() {
        "nothing to buy".to_string()
    } else {
        format!(
            "configured rate windows and waits ({}); stages before a bulk verification overlap",
            parts.join(", ")
        )
    };
    (total, basis)
}

/// A stage's configured waits beyond its rate windows, and whether it sends
/// only once its input has ended (a bulk verification).
pub(super) fn waits(stage: &StageSpec) -> (Duration, bool) {
    match stage.priced() {
        Some(p) => p.waits(),
        // A row meets the inner stages of a waterfall one after the other.
        None => {
            let steps = stage.priced_steps();
            (steps.iter().map(|(_, p)| p.waits().0).sum(), false)
        }
    }
}
