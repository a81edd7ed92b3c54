//! The runner: stage tasks joined by bounded channels, from the source
//! through the stages to the sinks, with the state store beside.
//! `runner` drives a run from start to report; `stage_tasks` runs each stage,
//! `outputs` opens, feeds and commits the sinks. A pipeline that is all
//! local work (a CSV file, first-row dedupes, Parquet files) runs instead on
//! `columnar`, which writes the same output on every core.

mod chunked;
mod columnar;
mod crm_lists;
mod equal_columns;
mod outputs;
pub mod progress;
pub mod runner;
mod stage_tasks;

// Which identity fields a run reads, so the CSV source normalises only those.
mod fields;

pub use runner::{RunError, RunOptions, RunOutcome, run};
