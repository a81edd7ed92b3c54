//! The runner and the record type: stage tasks joined by bounded channels,
//! from the source through the stages to the sinks, with the state store beside;
//! and the preflight, what the runner reads of the source ahead for the stages.
//! `runner` drives a run from start to report; `stage_tasks` runs each stage,
//! `outputs` opens, feeds and commits the sinks.

mod crm_lists;
pub mod normalize;
mod outputs;
pub mod preflight;
pub mod progress;
pub mod record;
pub mod runner;
mod stage_tasks;

// Which identity fields a run reads, so the CSV source normalises only those.
mod fields;

pub use runner::{RunError, RunOptions, RunOutcome, run};
