//! Starts the four vendor simulators and prints their endpoints as one JSON
//! line, then serves until Ctrl-C. Used by `benches/sandbox_load.sh`.
//!
//! ```text
//! cargo run --release --example sandbox_serve -- [--config FILE] [--seed N] [--unlimited] [--emails-out FILE]
//! ```
//! `--unlimited` switches every rate limit, quota and credit balance off (the
//! load benchmark measures the sandbox, not the simulated vendor limits).
//! `--emails-out FILE` writes the work emails of the universe, one per line.

use std::io::Write as _;

use leadpipe::sandbox::{Sandbox, SandboxConfig};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mut config: Option<SandboxConfig> = None;
    let mut seed = None;
    let mut unlimited = false;
    let mut emails_out = None;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--config" => config = Some(SandboxConfig::from_file(args.next().ok_or("--config FILE")?.as_ref())?),
            "--seed" => seed = Some(args.next().ok_or("--seed N")?.parse::<u64>()?),
            "--unlimited" => unlimited = true,
            "--emails-out" => emails_out = Some(args.next().ok_or("--emails-out FILE")?),
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let mut config = match (config, unlimited) {
        (Some(c), _) => c,
        (None, true) => SandboxConfig::unlimited(),
        (None, false) => SandboxConfig::default(),
    };
    if let Some(s) = seed {
        config.seed = s;
    }
    let sandbox = Sandbox::start(config).await?;
    if let Some(path) = emails_out {
        let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
        for p in sandbox
            .universe()
            .people
            .iter()
            .filter(|p| p.rr == leadpipe::sandbox::RrOutcome::Instant)
        {
            writeln!(f, "{}", p.work_email)?;
        }
    }
    println!("{}", serde_json::to_string(sandbox.endpoints())?);
    std::io::stdout().flush()?;
    sandbox
        .run_until(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await;
    Ok(())
}
