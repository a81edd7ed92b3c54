//! The `leadpipe` binary: parse the command line, set up logging, run, and
//! map the outcome to a documented exit code. Errors become messages here.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use leadpipe::cli::{Cli, Command, LogFormat, PlanArgs, RunArgs, SandboxArgs};
use leadpipe::exit::Exit;
use leadpipe::pipeline::runner::DisplayMode;
use leadpipe::pipeline::{RunOptions, run};
use leadpipe::sandbox::{Sandbox, SandboxConfig, SandboxOptions, state_beside};
use leadpipe::spec::{self, ValidPipeline, valid::Checks};
use tokio_util::sync::CancellationToken;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { Exit::Invalid.code() } else { 0 });
        }
    };
    let exit = match cli.command {
        Command::Validate { pipelines, sandbox } => validate(&pipelines, Checks { sandbox }),
        Command::Run(args) => run_command(args),
        Command::Plan(args) => plan_command(args),
        Command::Sandbox(args) => sandbox_command(args),
        Command::Status { target, json } => status_command(&target, json),
    };
    ExitCode::from(exit.code())
}

fn init_logging(format: LogFormat, quiet: bool) {
    use tracing_subscriber::EnvFilter;
    let default = if quiet { "error" } else { "info" };
    let filter = EnvFilter::try_from_env("LEADPIPE_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

fn validate(files: &[std::path::PathBuf], checks: Checks) -> Exit {
    let mut exit = Exit::Done;
    for file in files {
        match spec::load(file)
            .map_err(|e| e.to_string())
            .and_then(|l| spec::validate(l, checks).map_err(|e| e.to_string()))
        {
            Ok(p) => println!(
                "{}: ok (pipeline {:?}, {} stage(s), {} sink(s))",
                file.display(),
                p.name,
                p.stages.len(),
                p.sinks.len()
            ),
            Err(e) => {
                eprintln!("{e}");
                exit = Exit::Invalid;
            }
        }
    }
    exit
}

fn status_command(target: &std::path::Path, json: bool) -> Exit {
    let state = if target.extension().is_some_and(|e| e == "toml") {
        match spec::load(target) {
            Ok(l) => l.spec.state.path,
            Err(e) => {
                eprintln!("{e}");
                return Exit::Invalid;
            }
        }
    } else {
        target.to_path_buf()
    };
    if !state.is_file() {
        eprintln!("{}: no such state file", state.display());
        return Exit::Invalid;
    }
    let store = match leadpipe::state::Store::open(&state) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("leadpipe: {e}");
            return Exit::StateUnavailable;
        }
    };
    // Spending against each cap of the pipeline's `[budget]` (given a pipeline file).
    let budget = match target.extension().is_some_and(|e| e == "toml") {
        true => match budget_standing(target, &store) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("leadpipe: {e}");
                return Exit::Invalid;
            }
        },
        false => Vec::new(),
    };
    match store.status() {
        Ok(st) if json => {
            let mut value = serde_json::to_value(&st).expect("status serialises");
            value["budget"] = serde_json::to_value(&budget).expect("budget serialises");
            println!("{}", serde_json::to_string_pretty(&value).expect("status serialises"));
            Exit::Done
        }
        Ok(st) => {
            print!("{}", st.render());
            print!("{}", leadpipe::vendors::budget::render_standing(&budget));
            Exit::Done
        }
        Err(e) => {
            eprintln!("leadpipe: {e}");
            Exit::Invalid
        }
    }
}

/// The caps of the pipeline file's `[budget]` with what the state says is spent against them.
fn budget_standing(
    pipeline: &std::path::Path,
    store: &leadpipe::state::Store,
) -> Result<Vec<leadpipe::vendors::budget::Standing>, String> {
    let loaded = spec::load(pipeline).map_err(|e| e.to_string())?;
    let name = loaded.spec.name.clone().unwrap_or_else(|| {
        pipeline
            .file_stem()
            .map_or_else(|| "pipeline".into(), |s| s.to_string_lossy().into_owned())
    });
    let run = leadpipe::vendors::budget::latest_run(store.conn(), &name).map_err(|e| e.to_string())?;
    leadpipe::vendors::budget::standing(store.conn(), &loaded.spec.budget, run, leadpipe::state::now())
        .map_err(|e| e.to_string())
}

/// The validated pipeline, and the sandbox configuration when `--sandbox`
/// asks for one; a refusal is printed and becomes the exit code.
fn prepare(
    path: &std::path::Path,
    sandbox: bool,
    sandbox_config_path: Option<&std::path::Path>,
) -> Result<(ValidPipeline, SandboxConfig), Exit> {
    let pipeline = spec::load(path)
        .map_err(|e| e.to_string())
        .and_then(|l| spec::validate(l, Checks { sandbox }).map_err(|e| e.to_string()))
        .map_err(|e| {
            eprintln!("{e}");
            Exit::Invalid
        })?;
    let config = match sandbox {
        true => sandbox_config(sandbox_config_path).map_err(|e| {
            eprintln!("leadpipe: {e}");
            Exit::Invalid
        })?,
        false => SandboxConfig::default(),
    };
    Ok((pipeline, config))
}

/// With `--sandbox`, start the in-process sandbox and point the pipeline's vendors at it. It
/// remembers beside the run's state, so a resumed run meets the vendor that
/// answered the killed one.
async fn start_sandbox(
    enabled: bool,
    config: SandboxConfig,
    pipeline: &mut ValidPipeline,
) -> Result<Option<Sandbox>, Exit> {
    if !enabled {
        return Ok(None);
    }
    let options = SandboxOptions {
        state: Some(state_beside(&pipeline.state_path)),
        id_base: None,
    };
    match Sandbox::start_with(config, options).await {
        Ok(s) => {
            pipeline.vendors.point_at(s.endpoints());
            Ok(Some(s))
        }
        Err(e) => {
            eprintln!("leadpipe: cannot start the sandbox: {e}");
            // A state file in use: most likely another run of this pipeline goes on.
            Err(match e {
                leadpipe::sandbox::SandboxError::State { .. } => Exit::Invalid,
                _ => Exit::SandboxFailed,
            })
        }
    }
}

fn plan_command(args: PlanArgs) -> Exit {
    init_logging(LogFormat::Text, true);
    let (mut pipeline, sandbox_config) = match prepare(&args.pipeline, args.sandbox, args.sandbox_config.as_deref()) {
        Ok(prepared) => prepared,
        Err(exit) => return exit,
    };
    let Some(runtime) = runtime() else {
        return Exit::RuntimeFailed;
    };
    runtime.block_on(async {
        let sandbox = match start_sandbox(args.sandbox, sandbox_config, &mut pipeline).await {
            Ok(sandbox) => sandbox,
            Err(exit) => return exit,
        };
        // The simulators' counters outlive them (beside the state file): count what planning adds.
        let before = sandbox.as_ref().map(|s| s.stats());
        let result = match leadpipe::pipeline::runner::build_vendors(&pipeline) {
            Ok(vendors) => leadpipe::plan::plan(&pipeline, &vendors).await,
            Err(e) => Err(e.into()),
        };
        let sandbox_stats = sandbox.as_ref().map(|s| s.stats());
        if let Some(s) = sandbox {
            s.shutdown().await;
        }
        match result {
            Ok(mut plan) => {
                if let (Some(before), Some(after)) = (before, sandbox_stats) {
                    use leadpipe::sandbox::Vendor;
                    let sum = |f: &dyn Fn(Vendor) -> u64| Vendor::ALL.iter().map(|v| f(*v)).sum::<u64>();
                    let calls = sum(&|v| after.paid_calls(v)) - sum(&|v| before.paid_calls(v));
                    let credits = sum(&|v| after.credits_charged(v)) - sum(&|v| before.credits_charged(v));
                    plan.sandbox_paid_calls = Some(calls);
                    plan.sandbox_credits_charged = Some(credits);
                }
                if args.json {
                    println!("{}", serde_json::to_string_pretty(&plan).expect("plan serialises"));
                } else {
                    print!("{}", plan.render());
                }
                Exit::Done
            }
            Err(leadpipe::plan::PlanError::State(e)) => {
                eprintln!("leadpipe: {e}");
                Exit::StateUnavailable
            }
            Err(e) => {
                eprintln!("leadpipe: {e}");
                Exit::Invalid
            }
        }
    })
}

fn runtime() -> Option<tokio::runtime::Runtime> {
    match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => Some(rt),
        Err(e) => {
            eprintln!("leadpipe: cannot start the runtime: {e}");
            None
        }
    }
}

/// The configuration in `path`, or the default one.
fn sandbox_config(path: Option<&std::path::Path>) -> Result<SandboxConfig, leadpipe::sandbox::SandboxError> {
    match path {
        Some(path) => SandboxConfig::from_file(path),
        None => Ok(SandboxConfig::default()),
    }
}

fn sandbox_command(args: SandboxArgs) -> Exit {
    init_logging(LogFormat::Text, false);
    let mut config = match sandbox_config(args.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("leadpipe sandbox: {e}");
            return Exit::Invalid;
        }
    };
    if let Some(seed) = args.seed {
        config.seed = seed;
    }
    if let Some(bind) = args.bind {
        config.bind = bind;
    }
    let Some(rt) = runtime() else {
        return Exit::RuntimeFailed;
    };
    let options = SandboxOptions {
        state: args.state,
        id_base: None,
    };
    rt.block_on(async {
        let sandbox = match Sandbox::start_with(config, options).await {
            Ok(s) => s,
            Err(e @ leadpipe::sandbox::SandboxError::State { .. }) => {
                // Its state file is in use: another sandbox serves it.
                eprintln!("leadpipe sandbox: cannot start: {e}");
                return Exit::Invalid;
            }
            Err(e) => {
                eprintln!("leadpipe sandbox: cannot start: {e}");
                return Exit::SandboxFailed;
            }
        };
        println!(
            "{}",
            serde_json::to_string(sandbox.endpoints()).expect("endpoints serialise")
        );
        use std::io::Write as _;
        let _ = std::io::stdout().flush();
        sandbox
            .run_until(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await;
        Exit::Done
    })
}

fn run_command(args: RunArgs) -> Exit {
    init_logging(args.log_format, args.quiet);
    let (mut pipeline, sandbox_config) = match prepare(&args.pipeline, args.sandbox, args.sandbox_config.as_deref()) {
        Ok(prepared) => prepared,
        Err(exit) => return exit,
    };
    let display = if args.quiet {
        DisplayMode::Quiet
    } else if std::io::stderr().is_terminal() {
        DisplayMode::Bar
    } else {
        DisplayMode::Log
    };
    let opts = RunOptions {
        fresh: args.fresh,
        report: args.report.clone(),
        display,
        sandbox: args.sandbox,
        refresh: args.refresh,
    };
    let Some(runtime) = runtime() else {
        return Exit::RuntimeFailed;
    };
    runtime.block_on(async {
        let sandbox = match start_sandbox(args.sandbox, sandbox_config, &mut pipeline).await {
            Ok(sandbox) => sandbox,
            Err(exit) => return exit,
        };
        let shutdown = CancellationToken::new();
        let signals = tokio::spawn(wait_for_signal(shutdown.clone()));
        let result = run(pipeline, opts, shutdown).await;
        signals.abort();
        if let Some(s) = sandbox {
            s.shutdown().await;
        }
        match result {
            Ok(outcome) => {
                if !args.quiet || outcome.exit != Exit::Done {
                    eprint!("{}", outcome.report.summary());
                }
                outcome.exit
            }
            Err(e) => {
                eprintln!("leadpipe: {e}");
                e.exit()
            }
        }
    })
}

/// Ctrl-C or SIGTERM: stop reading, drain, commit, exit resumable. A second signal exits at once.
async fn wait_for_signal(shutdown: CancellationToken) {
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
    // Stop first, then say so: once the line is out, nothing new starts.
    shutdown.cancel();
    eprintln!("leadpipe: interrupted; finishing what is in flight (press Ctrl-C again to stop at once)");
    let _ = tokio::signal::ctrl_c().await;
    std::process::exit(Exit::Interrupted.code().into());
}
