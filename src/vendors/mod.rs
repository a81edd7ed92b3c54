//! Vendor clients.
//!
//! `http` is the layer every client stands on: settings resolved from the
//! contracts, rate windows, concurrency, retries, failure classes, counters.
pub mod http;
