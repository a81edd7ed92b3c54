//! leadpipe: a high-throughput batch ETL pipeline for B2B contact enrichment.
//!
//! A pipeline file (TOML) chains a source, stages and sinks; a SQLite state
//! store makes every run resumable and every paid answer bought once.
//!
//! # Layout
//! - [`spec`]: the pipeline file — strict serde types, `${VAR}` interpolation,
//!   units, and validation into a [`spec::ValidPipeline`] before any work.
//! - [`source`]: where rows come from (CSV), with rejects for unusable rows.
//! - [`pipeline`]: the record type, normalisation, the preflight (what the
//!   stages learn of the input before its first row), and the runner (stage
//!   tasks joined by bounded channels, shutdown, progress).
//! - [`stages`]: one file per stage, listed in one closed enum; `waterfall`
//!   asks the single-vendor stages in turn.
//! - [`sinks`]: Parquet (local or on S3-compatible storage, Hive-partitioned),
//!   CSV, PostgreSQL tables, rejects and duplicates files, the run report.
//! - [`state`]: the SQLite state store (runs, stage results, ledger, cache,
//!   pending jobs) and its single batched writer.
//! - [`vendors`]: one client per vendor on a shared HTTP layer (rate windows,
//!   concurrency, retries, `Retry-After` pauses, failure classes, counters).
//! - [`sandbox`]: the `leadpipe-sandbox` crate (workspace member, independent
//!   of this one): simulators of the four vendor APIs (axum routers), for
//!   `leadpipe sandbox`, `--sandbox` runs, tests and benches.
//! - [`webhook`]: the run's webhook receiver (async vendor results, stored before acknowledged).
//! - [`plan`]: `leadpipe plan` — a run's paid requests, credits (worst case
//!   and expected from the state's history), time and limits, before any paid call.
//! - [`budget`]: `[budget]` caps enforced by reserving each paid request's
//!   worst case in the state store before it is sent.
//! - [`secret`]: API keys in a type that never prints them; connection strings redacted.
//! - [`sync`]: the one lock policy (a poisoned lock is taken over).
//! - [`exit`]: the documented exit codes.
//! - [`cli`]: the command line definitions (`main.rs` acts on them).
//!
//! Data flows one way: source → stages → sinks, with the state store beside.

pub mod budget;
pub mod cli;
pub mod exit;
pub mod pipeline;
pub mod plan;
pub mod secret;
pub mod sinks;
pub mod source;
pub mod spec;
pub mod stages;
pub mod state;
pub mod sync;
pub mod vendors;
pub mod webhook;

/// The vendor simulators, a crate of their own that depends on nothing of
/// the client; re-exported so `leadpipe::sandbox::…` keeps naming them.
pub use leadpipe_sandbox as sandbox;
