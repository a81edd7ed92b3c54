//! Credits as the vendor counts them: each paid vendor's own balance, read
//! (free) before the run's first purchase from it and when the run ends
//! ([`super::http::VendorHttp::opening_balance`]), so the run report can give
//! what the vendor charged next to what leadpipe computed by the contract's
//! charging rules, and flag a difference (`docs/contracts.md`).
//!
//! The figure is the change of the key's balance while the run ran: exact
//! when the run is the key's only user, and an upper bound otherwise (the
//! report says which figure is which). A vendor without a balance API
//! (graph8, whose calls are free) has no meter.
//!
//! This module reads balances; it owns no charging rule and no state.

use futures::future::BoxFuture;
use serde::Serialize;
use serde_json::Value;

use super::Vendor;
use super::http::{CallError, VendorHttp};

/// A vendor's balance reader (its contract's `balance`).
pub type ReadBalance = for<'a> fn(&'a VendorHttp) -> BoxFuture<'a, Result<Meter, CallError>>;

/// A balance reading: what is left, or (RocketReach's `/account`) what was used.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "value")]
pub enum Meter {
    Remaining(f64),
    Spent(f64),
}

impl Meter {
    /// Credits charged between `self` (earlier) and `later`, when both read the same kind.
    pub fn charged_until(self, later: Meter) -> Option<f64> {
        match (self, later) {
            (Meter::Remaining(a), Meter::Remaining(b)) => Some(a - b),
            (Meter::Spent(a), Meter::Spent(b)) => Some(b - a),
            _ => None,
        }
    }
}

/// Credits each vendor charged since its opening balance (read before the
/// run's first purchase from it), by its balance now. A vendor this run
/// bought nothing from is not asked: it charged nothing.
pub async fn charged<'a>(vendors: impl IntoIterator<Item = &'a VendorHttp>) -> Vec<(Vendor, f64)> {
    let reads = vendors.into_iter().map(|h| async move {
        let before = h.opened_balance()?;
        let after = read(h).await?.ok()?;
        Some((h.vendor(), before.charged_until(after)?))
    });
    futures::future::join_all(reads).await.into_iter().flatten().collect()
}

/// Puts the vendor's own figure into a vendor's report entry: `credits`
/// becomes what the vendor charged when its balance shows it, next to
/// `credits_estimated` (leadpipe's figure by the charging rules), with
/// `credits_source` and `credits_differ` to flag a difference. A balance that
/// stood still while answers were bought (an unlimited plan) is no figure.
pub fn reconcile(entry: &mut Value, charged: Option<f64>) {
    let estimated = entry["credits"].as_f64().unwrap_or(0.0);
    entry["credits_estimated"] = entry["credits"].clone();
    // A balance that did not move while answers were bought is not metered
    // (an unlimited plan): it says nothing of what was charged.
    let charged = charged.filter(|c| *c != 0.0 || estimated == 0.0);
    match charged {
        Some(c) => {
            entry["credits"] = serde_json::json!(c.round() as i64);
            entry["credits_source"] = "balance".into();
            entry["credits_differ"] = ((c - estimated).abs() > 1e-9).into();
        }
        None => entry["credits_source"] = "estimate".into(),
    }
}

/// The vendor's balance for this key, if the vendor shows one.
pub async fn read(http: &VendorHttp) -> Option<Result<Meter, CallError>> {
    let read = http.vendor().contract().balance?;
    Some(read(http).await)
}

/// `GET /account/`: the credits used, summed over `credit_usage` (the
/// current shape), else `lifetime_credits_spent` or `lookup_credit_balance`
/// (the older shape the SDK reads).
pub(crate) async fn rocketreach_account(http: &VendorHttp) -> Result<Meter, CallError> {
    let path = http.path("account").to_string();
    http.send_decode(
        "account",
        reqwest::Method::GET,
        &path,
        |r| r,
        |r| {
            let v: Value = serde_json::from_slice(&r.body)?;
            account_meter(&v).ok_or_else(|| "the account shows no credit usage".into())
        },
    )
    .await
}

fn number(v: &Value) -> Option<f64> {
    v.as_f64().or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
}

fn account_meter(v: &Value) -> Option<Meter> {
    if let Some(usage) = v.get("credit_usage").and_then(Value::as_array) {
        let used: Option<f64> = usage.iter().map(|u| number(&u["used"])).sum();
        return used.map(Meter::Spent);
    }
    if let Some(spent) = v.get("lifetime_credits_spent").and_then(number) {
        return Some(Meter::Spent(spent));
    }
    v.get("lookup_credit_balance").and_then(number).map(Meter::Remaining)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn both_account_shapes_are_read() {
        let current = json!({"credit_usage": [
            {"credit_type": "standard_lookup", "allocated": "inf", "used": 12, "remaining": "inf"},
            {"credit_type": "person_export", "allocated": 100, "used": 3, "remaining": 97},
        ]});
        assert_eq!(account_meter(&current), Some(Meter::Spent(15.0)));
        assert_eq!(
            account_meter(&json!({"lookup_credit_balance": 40})),
            Some(Meter::Remaining(40.0))
        );
        assert_eq!(account_meter(&json!({"id": 1})), None);
        assert_eq!(Meter::Spent(3.0).charged_until(Meter::Spent(10.0)), Some(7.0));
        assert_eq!(Meter::Remaining(10.0).charged_until(Meter::Remaining(4.0)), Some(6.0));
        assert_eq!(Meter::Remaining(10.0).charged_until(Meter::Spent(4.0)), None);
    }

    #[test]
    fn the_report_gives_the_vendors_figure_and_flags_a_difference() {
        let entry = |credits: u64| json!({"credits": credits});
        let mut agrees = entry(5);
        reconcile(&mut agrees, Some(5.0));
        assert_eq!(
            (
                agrees["credits"].clone(),
                agrees["credits_source"].clone(),
                agrees["credits_differ"].clone()
            ),
            (json!(5), json!("balance"), json!(false))
        );
        let mut differs = entry(5);
        reconcile(&mut differs, Some(7.0));
        assert_eq!(
            (differs["credits"].clone(), differs["credits_estimated"].clone()),
            (json!(7), json!(5))
        );
        assert_eq!(differs["credits_differ"], true);
        let mut unmetered = entry(5);
        reconcile(&mut unmetered, Some(0.0));
        assert_eq!(
            (unmetered["credits"].clone(), unmetered["credits_source"].clone()),
            (json!(5), json!("estimate"))
        );
        let mut unknown = entry(3);
        reconcile(&mut unknown, None);
        assert_eq!(unknown["credits_source"], "estimate");
    }
}
