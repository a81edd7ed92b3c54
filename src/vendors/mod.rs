//! Vendor clients.
//!
//! `http` is the layer every client stands on: settings resolved from the
//! contracts, rate windows, concurrency, retries, failure classes, counters.
//! `paid` keeps every paid answer bought once: cache, coalescing, ledger.
//! `balance` reads each vendor's own balance, to reconcile credits.
//! `budget` reserves each paid request's worst case against the `[budget]` caps.
//! `spec` is the `[vendors.*]` tables of the pipeline file; `webhook` the run's
//! receiver of vendor deliveries.
pub mod balance;
pub mod budget;
pub mod decode;
pub mod graph8;
pub mod http;
pub mod leadrocks;
pub mod paid;
pub mod reachstream;
pub mod rocketreach;
pub mod rocketreach_bulk;
pub mod spec;
pub mod webhook;
