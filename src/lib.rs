//! leadpipe: a high-throughput batch ETL pipeline for B2B contact enrichment.
//!
//! A pipeline file (TOML) chains a source, stages and sinks; a SQLite state
//! store makes every run resumable and every paid answer bought once.
//!
//! # Layout, in layers
//! Each module uses only the ones listed before it (`tests/it/layering.rs`
//! checks there is no import cycle between them):
//! - [`secret`]: API keys in a type that never prints them; connection strings redacted.
//! - [`sync`]: the one lock policy (a poisoned lock is taken over).
//! - [`exit`]: the documented exit codes.
//! - [`units`]: durations and rates as pipeline files write them.
//! - [`diagnose`]: which key of a pipeline-file table serde refused.
//! - [`normalize`]: identity fields (email, names, domain, LinkedIn URL) in canonical form.
//! - [`state`]: the SQLite state store (runs, stage results, ledger, cache,
//!   pending jobs, spending) and its single batched writer.
//! - [`record`]: the row as it flows, with what each stage found and why it stopped.
//! - [`vendors`]: one client per vendor on a shared HTTP layer (rate windows,
//!   concurrency, retries, `Retry-After` pauses, failure classes, counters),
//!   `[budget]` caps reserved before each paid request, and the run's webhook
//!   receiver of vendor deliveries.
//! - [`source`]: where rows come from (CSV, a graph8 list), with rejects for
//!   unusable rows, and the preflight the stages read ahead.
//! - [`stages`]: one file per stage, each a `Stage` listed once in a registry; `waterfall`
//!   asks the single-vendor stages in turn.
//! - [`sinks`]: Parquet (local or on S3-compatible storage, Hive-partitioned),
//!   CSV, PostgreSQL tables, rejects and duplicates files, the run report.
//! - [`spec`]: the pipeline file — strict serde types of every part above,
//!   `${VAR}` interpolation, and validation into a [`spec::ValidPipeline`]
//!   before any work.
//! - [`pipeline`]: the runner (stage tasks joined by bounded channels,
//!   shutdown, progress).
//! - [`plan`]: `leadpipe plan` — a run's paid requests, credits (worst case
//!   and expected from the state's history), time and limits, before any paid call.
//! - [`cli`]: the command line definitions (`main.rs` acts on them).
//! - [`sandbox`]: the `leadpipe-sandbox` crate (workspace member, independent
//!   of this one): simulators of the four vendor APIs (axum routers), for
//!   `leadpipe sandbox`, `--sandbox` runs, tests and benches.
//!
//! Data flows one way: source → stages → sinks, with the state store beside.

pub mod cli;
pub mod diagnose;
pub mod exit;
pub mod normalize;
pub mod pipeline;
pub mod plan;
pub mod record;
pub mod secret;
pub mod sinks;
pub mod source;
pub mod spec;
pub mod stages;
pub mod state;
pub mod sync;
pub mod units;
pub mod vendors;

/// The vendor simulators, a crate of their own that depends on nothing of
/// the client; re-exported so `leadpipe::sandbox::…` keeps naming them.
pub use leadpipe_sandbox as sandbox;
