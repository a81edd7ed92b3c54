//! The command line (clap definitions only; `main.rs` acts on them).

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use crate::exit::EXIT_CODES_HELP;

#[derive(Debug, Parser)]
#[command(name = "leadpipe", version, about = "Batch B2B contact enrichment: CSV in, enriched and verified Parquet/CSV out, resumable.", after_help = EXIT_CODES_HELP)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a pipeline (resumes its unfinished run, if any).
    #[command(after_help = EXIT_CODES_HELP)]
    Run(RunArgs),
    /// Check pipeline files without running them: everything a run checks before any work.
    #[command(after_help = EXIT_CODES_HELP)]
    Validate {
        /// Pipeline files (TOML).
        #[arg(required = true)]
        pipelines: Vec<PathBuf>,
        /// Check as a `run --sandbox` would: vendor keys and base URLs may be unset.
        #[arg(long)]
        sandbox: bool,
    },
    /// What a run would cost and how long it would take, before any paid call:
    /// rows per stage after suppressions, dedupe and the cache, paid requests,
    /// credits (worst case, and expected from this state's history), time at
    /// the configured rate limits, and the balance or budget it would reach.
    #[command(after_help = EXIT_CODES_HELP)]
    Plan(PlanArgs),
    /// Show the runs in a state file: progress per stage, paid calls and credits, pending async jobs.
    Status {
        /// A state file, or a pipeline file (its `[state] path` is used).
        target: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Serve simulators of the four vendor APIs on loopback until Ctrl-C; prints their endpoints as one JSON line.
    Sandbox(SandboxArgs),
}

#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    /// The pipeline file (TOML).
    pub pipeline: PathBuf,
    /// Plan against the built-in vendor simulators, as `run --sandbox` would run.
    #[arg(long)]
    pub sandbox: bool,
    /// The sandbox's configuration (as `leadpipe sandbox --config` takes it).
    #[arg(long, value_name = "FILE", requires = "sandbox")]
    pub sandbox_config: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct SandboxArgs {
    /// Sandbox configuration (TOML or JSON): limits, credits, faults, lifecycles (see docs/sandbox.md).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Seed of the synthetic universe (same seed, same answers).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Address to bind (loopback by default).
    #[arg(long, value_name = "IP")]
    pub bind: Option<std::net::IpAddr>,
    /// Keep the vendors' state (balances, lookups, jobs, lists, webhooks due,
    /// graph8 data, counters) in this file across restarts; remove it to start over.
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The pipeline file (TOML).
    pub pipeline: PathBuf,
    /// Start a new run even if an unfinished one exists (cached vendor answers are still reused).
    #[arg(long)]
    pub fresh: bool,
    /// Write the JSON run report here (default: beside the first sink, `<stem>.report.json`).
    #[arg(long, value_name = "PATH")]
    pub report: Option<PathBuf>,
    /// Log line format on stderr.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// No progress and no summary; errors only.
    #[arg(long)]
    pub quiet: bool,
    /// Run against the built-in vendor simulators instead of the real vendors (no credits spent).
    #[arg(long)]
    pub sandbox: bool,
    /// The sandbox's configuration (as `leadpipe sandbox --config` takes it: faults, latency, limits…).
    #[arg(long, value_name = "FILE", requires = "sandbox")]
    pub sandbox_config: Option<PathBuf>,
    /// Ask the vendors again even for answers already in the cache.
    #[arg(long)]
    pub refresh: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}
