//! The runner and the record type: stage tasks joined by bounded channels,
//! from the source through the stages to the sinks, with the state store beside;
//! and the preflight, what the runner reads of the source ahead for the stages.

mod crm_lists;
pub mod normalize;
pub mod preflight;
pub mod progress;
pub mod record;
pub mod runner;

pub use runner::{RunError, RunOptions, RunOutcome, run};
