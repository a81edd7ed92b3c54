//! What `leadpipe plan` asks of a paid stage: the request a row would send,
//! its worst-case credits, the free endpoint that tightens it, and the waits
//! beyond the vendor's rate windows. Each paid stage implements [`Priced`]
//! beside its own logic, so the plan walks rows through any stage without
//! knowing its kind. Nothing here sends a paid request.

use std::time::Duration;

use futures::FutureExt as _;
use futures::future::LocalBoxFuture;

use crate::record::Record;
use crate::state::{StateError, Store};
use crate::vendors::http::VendorHttp;

/// What a row asks a paid stage, as the plan prices it.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedAsk {
    /// The request's canonical key, as the cache and the ledger know it;
    /// empty when the row asks only if an earlier stage finds its email.
    pub key: String,
    /// Credits it costs at most.
    pub worst: f64,
}

/// A paid stage as `leadpipe plan` walks rows through it.
pub trait Priced {
    /// The endpoint it pays for, as the ledger names it (`person_lookup`, `fetch`, `verify`).
    fn endpoint(&self) -> &'static str;

    /// The paid request `rec` would send here, if any; `may_gain_email`: an
    /// earlier stage may give the row the email it lacks.
    fn ask(&self, rec: &Record, may_gain_email: bool) -> Option<PlannedAsk>;

    /// True when a cached answer would fill something of `rec` that later
    /// stages read (an email, a LinkedIn URL).
    fn follows_cache(&self, _rec: &Record) -> bool {
        false
    }

    /// Fill `rec` as the stage would from its cached answer `body`.
    fn follow_cached(&self, _body: &str, _rec: &mut Record) {}

    /// True when its answer may give `rec`, which has no email, one.
    fn gains_email(&self, _rec: &Record) -> bool {
        false
    }

    /// The share of requests that find an email, from the average credits an
    /// answered request cost in this state's history, for a stage that
    /// charges one credit exactly when it finds one.
    fn email_found_rate(&self, _average_credits: f64) -> Option<f64> {
        None
    }

    /// The worst case of the request `key`, as a free endpoint tells it
    /// (ReachStream's count API: a fetch delivers at most what exists).
    fn tighten<'a>(&'a self, _http: &'a VendorHttp, _key: &'a str, worst: f64) -> LocalBoxFuture<'a, f64> {
        futures::future::ready(worst).boxed_local()
    }

    /// The share of the worst case earlier requests of this state delivered,
    /// and the basis to print, when the stage knows better than the average
    /// credits per request.
    fn delivered_share<'a>(
        &'a self,
        _store: &'a Store,
        _http: &'a VendorHttp,
    ) -> LocalBoxFuture<'a, Result<Option<(f64, String)>, StateError>> {
        futures::future::ready(Ok(None)).boxed_local()
    }

    /// The HTTP requests that buy `paid` answers (a bulk upload carries many).
    fn http_requests(&self, paid: u64) -> u64 {
        paid
    }

    /// Its configured waits beyond the rate windows, and whether it sends
    /// only once its input has ended (a bulk verification).
    fn waits(&self) -> (Duration, bool) {
        (Duration::ZERO, false)
    }
}
