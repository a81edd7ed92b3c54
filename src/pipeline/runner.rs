//! Runs a validated pipeline: source → stages → sinks as tasks joined by
//! bounded channels (backpressure keeps memory flat), with the state store
//! deciding whether this is a new run or the continuation of one.
//!
//! Rows keep their input order end to end: stages never reorder, and sinks
//! write what they receive. Outputs are renamed into place only when the
//! whole run completed; an interrupted run leaves no partial file at a sink
//! path and exits resumable.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use indexmap::IndexMap;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::outputs::{SinkReports, collect, open_outputs};
use super::progress::{self, Progress};
pub use super::stage_tasks::stage_name;
use super::stage_tasks::{StageTask, start_stages};
use crate::exit::Exit;
use crate::record::{Batch, Record};
use crate::sinks::SinkError;
use crate::sinks::report::RunReport;
use crate::sinks::schema::output_columns;
use crate::source::{Input, SourceError};
use crate::spec::ValidPipeline;
use crate::stages::{StageContext, StageCounts, StageSpec};
use crate::state::writer::{Op, Writer, WriterHandle};
use crate::state::{RunCounts, RunStart, RunStatus, StateError, Store};
use crate::vendors::http::{CallError, RateEvent, Vendor, VendorHttp, VendorSettings};

/// How a run was asked for.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub fresh: bool,
    /// Overrides the pipeline's report path.
    pub report: Option<PathBuf>,
    pub display: DisplayMode,
    pub sandbox: bool,
    /// Ask vendors again even for answers in the cache.
    pub refresh: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DisplayMode {
    #[default]
    Quiet,
    Log,
    Bar,
}

pub struct RunOutcome {
    pub exit: Exit,
    pub report: RunReport,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Source(#[from] SourceError),
    /// The state store could not be opened when the run began.
    #[error(transparent)]
    OpenState(StateError),
    #[error(transparent)]
    State(#[from] StateError),
    /// An output could not be opened when the run began (before any row was read).
    #[error(transparent)]
    OpenOutput(SinkError),
    #[error(transparent)]
    Sink(#[from] SinkError),
    #[error(
        "{state}: an unfinished run #{run_id} of pipeline {pipeline:?} used a different {what}; \
         run with --fresh to start anew (answers already bought stay cached and are reused)"
    )]
    Conflict {
        state: PathBuf,
        run_id: i64,
        pipeline: String,
        what: &'static str,
    },
    #[error("vendors.{vendor}: {source}")]
    VendorSettings {
        vendor: Vendor,
        #[source]
        source: crate::vendors::http::SettingsError,
    },
    #[error(transparent)]
    Webhook(#[from] crate::vendors::webhook::WebhookError),
    /// A CRM list the pipeline names is missing, or holds another kind of entity
    /// (checked before anything is bought; the message names the file and key).
    #[error("{0}")]
    CrmList(String),
    #[error("stage {stage}: cannot hold its rows on disk in {dir}: {source}")]
    Held {
        stage: String,
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("a task of the run failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    #[error("the report cannot be written as JSON: {0}")]
    Report(#[source] serde_json::Error),
    /// A broken invariant of the runner itself (a bug): nothing caused it but the code.
    /// The pipeline file asks for something this input cannot give.
    #[error("{0}")]
    Pipeline(crate::spec::Located),
    #[error("internal error: {0}")]
    Internal(String),
}

impl RunError {
    pub fn exit(&self) -> Exit {
        match self {
            // The CRM refused the key or has no credits left: like any vendor that stops.
            RunError::Source(SourceError::List { error, .. }) if error.stops_vendor() => Exit::VendorStopped,
            // A reading task that panicked, like any task of the run.
            RunError::Source(SourceError::Task(_)) => Exit::RowsFailed,
            RunError::Source(_)
            | RunError::Conflict { .. }
            | RunError::VendorSettings { .. }
            | RunError::Webhook(_)
            | RunError::CrmList(_)
            | RunError::Pipeline(_)
            | RunError::State(StateError::InUse { .. }) => Exit::Invalid,
            RunError::OpenState(_) => Exit::StateUnavailable,
            RunError::OpenOutput(_) => Exit::OutputUnavailable,
            _ => Exit::RowsFailed,
        }
    }
}

pub async fn run(p: ValidPipeline, opts: RunOptions, shutdown: CancellationToken) -> Result<RunOutcome, RunError> {
    let started = Instant::now();
    let store = Store::open(&p.state_path).map_err(RunError::OpenState)?;
    let _lock = crate::state::lock::acquire(&p.state_path)?;
    let vendors = build_vendors(&p)?;
    remember_rates(&store, &vendors)?;
    super::crm_lists::check(&p, &vendors).await?;
    let (run_id, resumed, preflight) = begin(&p, &store, &vendors, opts.fresh).await?;

    let source = Input::open(&p.source, super::fields::fields_read(&p), &vendors).await?;
    let total_bytes = source.size_bytes();
    let columns = output_columns(source.header(), crate::stages::slots_of(&p.stages));
    if let Err(e) = check_output_columns(&p, &columns) {
        return fail(&store, run_id, e);
    }
    let run = Begun {
        store,
        run_id,
        resumed,
        started,
        duplicates_paths: duplicates_paths(&p),
    };
    let source = match source {
        Input::Csv(csv) if super::columnar::applies(&p) => {
            return run_columnar(p, opts, run, *csv, &columns, total_bytes, shutdown).await;
        }
        source => source,
    };
    let (store, duplicates_paths) = (&run.store, &run.duplicates_paths);
    let cap = p.run.channel_batches;
    // Written rows go back to the source, which reuses their buffers.
    let (recycle_tx, recycle_rx) = std::sync::mpsc::sync_channel::<Vec<Record>>(cap);
    // Every output opens before any row is paid for: an unreachable
    // database or bucket stops the run here, at no cost.
    let outputs = open_outputs(&p, &columns, run_id, duplicates_paths, &recycle_tx, &vendors).await?;
    drop(recycle_tx);
    let writer = Writer::spawn(&p.state_path)?;
    let budget = crate::vendors::budget::attach(&p.budget, &p.state_path, run_id, &writer.handle(), vendors.values())?;
    let rate_writer = log_rates(&vendors, &writer.handle());
    let webhook = start_webhook(&p, opts.sandbox, shutdown.clone()).await?;

    let progress = Arc::new(Progress::default());
    let reporter = Reporter::start(&progress, total_bytes, opts.display);
    let (source_tx, rx) = mpsc::channel::<Batch>(cap);
    let source_task = source.spawn(
        source_tx,
        recycle_rx,
        p.run.batch_rows,
        count_reads(&progress),
        shutdown.clone(),
    );

    let base = StageContext {
        state_path: &p.state_path,
        vendor_specs: &p.vendors,
        store,
        writer: writer.handle(),
        run_id,
        name: String::new(),
        refresh: opts.refresh,
        vendors: &vendors,
        webhook: webhook.clone(),
        preflight: &preflight,
    };
    let (stage_tasks, rx) = start_stages(&p, &base, rx, &shutdown)?;
    drop(base);

    let collector = tokio::spawn(collect(rx, outputs, progress.clone(), (writer.handle(), run_id)));

    let source_result = source_task.await?;
    let (stages, stage_failed) = join_stages(stage_tasks).await?;
    let collected = collector.await?;
    if let Some(receiver) = webhook {
        receiver.stop().await;
    }
    reporter.stop().await;
    // The vendors outlive the writer: their rate logs let go of it first.
    rate_writer.lock().expect("rate writer lock").take();
    budget.close();
    writer.close()?;

    let interrupted = shutdown.is_cancelled();
    let stopped: Option<CallError> = vendors
        .values()
        .find_map(VendorHttp::stopped)
        .or_else(|| budget.reached());
    // A stage that failed cut the flow short: the output is incomplete.
    let source_result = match stage_failed {
        Some(e) => Err(e),
        None => source_result.map_err(RunError::from),
    };
    let complete = !interrupted && stopped.is_none();
    let (counts, outputs, sinks) = match close_outputs(source_result, collected, complete).await {
        Ok(closed) => closed,
        Err(e) => return fail(store, run_id, e),
    };
    let ended = Ended {
        counts,
        outputs,
        sinks,
        stages,
        interrupted,
        stopped,
    };
    conclude(&p, &opts, run, &vendors, ended).await
}

/// A run begun in the state store.
struct Begun {
    store: Store,
    run_id: i64,
    resumed: bool,
    started: Instant,
    duplicates_paths: Vec<PathBuf>,
}

/// How the flow of rows ended, for the report.
struct Ended {
    counts: RunCounts,
    outputs: Vec<PathBuf>,
    sinks: SinkReports,
    stages: IndexMap<String, StageCounts>,
    interrupted: bool,
    stopped: Option<CallError>,
}

/// Run a pipeline on the columnar plane (see `columnar`): no vendor, no
/// stage task; the same state, progress and report as any run.
async fn run_columnar(
    p: ValidPipeline,
    opts: RunOptions,
    run: Begun,
    csv: crate::source::csv::CsvSource,
    columns: &[crate::sinks::schema::Column],
    total_bytes: u64,
    shutdown: CancellationToken,
) -> Result<RunOutcome, RunError> {
    tracing::info!("reading, deduping and writing on the columnar plane");
    let writer = Writer::spawn(&p.state_path)?;
    let progress = Arc::new(Progress::default());
    let reporter = Reporter::start(&progress, total_bytes, opts.display);
    let flow = super::columnar::run(
        super::columnar::Run {
            p: &p,
            columns,
            run_id: run.run_id,
            duplicates_paths: &run.duplicates_paths,
            progress,
            writer: writer.handle(),
            shutdown: shutdown.clone(),
        },
        csv,
    )
    .await;
    reporter.stop().await;
    writer.close()?;
    let flow = match flow {
        Ok(flow) => flow,
        Err(e) => return fail(&run.store, run.run_id, e),
    };
    let ended = Ended {
        counts: flow.counts,
        outputs: flow.outputs,
        // Parquet files report nothing beside their output.
        sinks: Vec::new(),
        stages: flow.stages,
        interrupted: shutdown.is_cancelled(),
        stopped: None,
    };
    conclude(&p, &opts, run, &IndexMap::new(), ended).await
}

/// The report of a run whose rows stopped flowing: to the state store, to
/// its file, and the exit code it gives.
async fn conclude(
    p: &ValidPipeline,
    opts: &RunOptions,
    run: Begun,
    vendors: &IndexMap<Vendor, VendorHttp>,
    ended: Ended,
) -> Result<RunOutcome, RunError> {
    let Begun {
        store,
        run_id,
        resumed,
        started,
        duplicates_paths,
    } = run;
    let Ended {
        counts,
        outputs,
        sinks,
        stages,
        interrupted,
        stopped,
    } = ended;
    let sink_rows_failed: u64 = sinks.iter().map(|(_, c)| c.rows_failed()).sum();
    let status = status_of(interrupted, stopped.as_ref());
    let charged = crate::vendors::balance::charged(vendors.values()).await;
    let report = RunReport {
        pipeline: p.name.clone(),
        run_id,
        status: status.as_str().into(),
        resumed,
        sandbox: opts.sandbox,
        rows_in: counts.rows_in,
        rows_out: counts.rows_out,
        rows_rejected: counts.rows_rejected,
        rows_duplicate: counts.rows_duplicate,
        rows_failed: counts.rows_failed,
        duration_s: started.elapsed().as_secs_f64(),
        stages,
        vendors: vendor_entries(vendors, &charged),
        outputs,
        rejects_path: p.rejects_path.clone(),
        duplicates_paths,
        sinks: sink_entries(sinks),
        stopped_by: stopped_by(stopped.as_ref(), interrupted),
    };
    let json = serde_json::to_string_pretty(&report).map_err(RunError::Report)?;
    store.end_run(run_id, status, counts, &json)?;
    let report_path = opts.report.clone().unwrap_or_else(|| p.report_path.clone());
    write_report(&report_path, &json)?;
    let rows_failed = counts.rows_failed > 0 || sink_rows_failed > 0;
    let rejects_fail = p.run.fail_on_rejects && counts.rows_rejected > 0;
    let exit = exit_of(status, rows_failed || rejects_fail);
    Ok(RunOutcome { exit, report })
}

/// How the run ended: interrupted (Ctrl-C, SIGTERM), stopped by a budget or
/// a vendor, or done.
fn status_of(interrupted: bool, stopped: Option<&CallError>) -> RunStatus {
    match (interrupted, stopped) {
        (true, _) => RunStatus::Interrupted,
        (false, Some(CallError::BudgetReached { .. })) => RunStatus::BudgetReached,
        (false, Some(_)) => RunStatus::VendorStopped,
        (false, None) => RunStatus::Done,
    }
}

/// The exit code of a run that ended with `status`; `rows_failed`: rows
/// failed, rows a sink could not write, or rejects under `fail_on_rejects`.
fn exit_of(status: RunStatus, rows_failed: bool) -> Exit {
    match status {
        RunStatus::VendorStopped => Exit::VendorStopped,
        RunStatus::BudgetReached => Exit::BudgetReached,
        RunStatus::Interrupted => Exit::Interrupted,
        _ if rows_failed => Exit::RowsFailed,
        _ => Exit::Done,
    }
}

/// Commit the outputs of a run that completed, or abandon those of one that
/// stopped early (an interrupted run leaves no partial output). A source or
/// collector failure fails the run.
async fn close_outputs(
    source_result: Result<(), RunError>,
    collected: Result<super::outputs::Open, RunError>,
    complete: bool,
) -> Result<(RunCounts, Vec<PathBuf>, SinkReports), RunError> {
    source_result?;
    let open = collected?;
    if !complete {
        return Ok(open.abandon());
    }
    // Off the runtime: uploads complete and loads merge by blocking on their I/O.
    blocking(move || open.finish()).await?
}

/// What the report says stopped the run early, and how to resume it.
fn stopped_by(stopped: Option<&CallError>, interrupted: bool) -> Option<String> {
    match (stopped, interrupted) {
        (Some(e @ CallError::BudgetReached { .. }), _) => Some(e.to_string()),
        (Some(e), _) => Some(format!("{e}; fix it and run the same command again to resume")),
        (None, true) => Some("interrupted; run the same command again to resume".to_string()),
        (None, false) => None,
    }
}

/// One duplicates file per dedupe stage, in pipeline order.
fn duplicates_paths(p: &ValidPipeline) -> Vec<PathBuf> {
    p.stages
        .iter()
        .enumerate()
        .filter(|(_, s)| matches!(s, StageSpec::Dedupe(_)))
        .map(|(i, _)| p.duplicates_path(i))
        .collect()
}

/// The progress display's task, until the run stops it.
struct Reporter {
    done: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Reporter {
    fn start(progress: &Arc<Progress>, total_bytes: u64, mode: DisplayMode) -> Reporter {
        let display = match mode {
            DisplayMode::Bar => progress::Display::Bar(progress::terminal_bar()),
            DisplayMode::Log => progress::Display::Log,
            DisplayMode::Quiet => progress::Display::Quiet,
        };
        let done = CancellationToken::new();
        let task = tokio::spawn(progress::report(progress.clone(), total_bytes, display, done.clone()));
        Reporter { done, task }
    }

    async fn stop(self) {
        self.done.cancel();
        let _ = self.task.await;
    }
}

/// The source's progress: rows read, and the bytes of a file.
fn count_reads(progress: &Arc<Progress>) -> crate::source::input::OnRead {
    let progress = progress.clone();
    Box::new(move |rows, bytes| {
        progress.rows_read.fetch_add(rows, Ordering::Relaxed);
        if let Some(bytes) = bytes {
            progress.bytes_read.store(bytes, Ordering::Relaxed);
        }
    })
}

/// Every stage's counts, and the first stage failure (which cut the flow short).
async fn join_stages(tasks: Vec<StageTask>) -> Result<(IndexMap<String, StageCounts>, Option<RunError>), RunError> {
    let mut stages = IndexMap::new();
    let mut failed = None;
    for (name, task) in tasks {
        match task.await? {
            Ok(counts) => {
                stages.insert(name, counts);
            }
            Err(e) => {
                failed.get_or_insert(e);
            }
        }
    }
    Ok((stages, failed))
}

/// Refuse, before any paid call, a sink's `columns` or its own field mapping
/// that names a column this input and these stages do not give.
fn check_output_columns(p: &ValidPipeline, columns: &[crate::sinks::schema::Column]) -> Result<(), RunError> {
    for (i, sink) in p.sinks.iter().enumerate() {
        if let Err(e) = crate::sinks::select::columns_for(sink.selection(), columns) {
            return Err(RunError::Pipeline(crate::spec::Located {
                file: p.file.clone(),
                line: e.line,
                key: Some(format!("sinks[{i}].{}", e.key())),
                message: e.message,
            }));
        }
        sink.check_columns(&p.file, columns)?;
    }
    Ok(())
}

/// Each vendor's counters for the report, with the credits its balance says
/// were charged beside the estimate.
fn vendor_entries(
    vendors: &IndexMap<Vendor, VendorHttp>,
    charged: &[(Vendor, f64)],
) -> IndexMap<String, serde_json::Value> {
    vendors
        .values()
        .map(|h| {
            let mut entry = serde_json::to_value(h.snapshot()).unwrap_or_default();
            let by_balance = charged.iter().find(|(v, _)| *v == h.vendor()).map(|(_, c)| *c);
            crate::vendors::balance::reconcile(&mut entry, by_balance);
            (h.vendor().name().to_string(), entry)
        })
        .collect()
}

/// What the sinks report beside their outputs, by sink name.
fn sink_entries(sinks: SinkReports) -> IndexMap<String, serde_json::Value> {
    sinks
        .into_iter()
        .map(|(name, c)| (name, serde_json::to_value(c).unwrap_or_default()))
        .collect()
}

/// Begin the run, or resume the unfinished one of the same pipeline and
/// input: the input's fingerprint, then what the stages need to know ahead
/// of it ([`crate::source::preflight`]), read before any stage starts.
async fn begin(
    p: &ValidPipeline,
    store: &Store,
    vendors: &IndexMap<Vendor, VendorHttp>,
    fresh: bool,
) -> Result<(i64, bool, crate::source::preflight::Preflight), RunError> {
    let look_ahead = p.stages.iter().any(StageSpec::looks_ahead);
    let (input_fp, preflight) = p.source.identify(vendors, look_ahead).await?;
    let (run_id, resumed) = match store.begin_run(&p.name, &p.hash, &input_fp, fresh)? {
        RunStart::New { run_id } => (run_id, false),
        RunStart::Resumed { run_id, attempts } => {
            tracing::info!(run_id, attempts, "resuming the unfinished run");
            (run_id, true)
        }
        RunStart::Conflict {
            run,
            pipeline_changed,
            input_changed,
        } => {
            let what = match (pipeline_changed, input_changed) {
                (true, true) => "pipeline file and input",
                (true, false) => "pipeline file",
                _ => "input",
            };
            return Err(RunError::Conflict {
                state: p.state_path.clone(),
                run_id: run.id,
                pipeline: p.name.clone(),
                what,
            });
        }
    };
    Ok((run_id, resumed, preflight))
}

fn fail<T>(store: &Store, run_id: i64, e: RunError) -> Result<T, RunError> {
    let _ = store.end_run(
        run_id,
        RunStatus::Failed,
        RunCounts::default(),
        &format!("{{\"error\":{:?}}}", e.to_string()),
    );
    Err(e)
}

fn write_report(path: &std::path::Path, json: &str) -> Result<(), RunError> {
    use std::io::Write;
    let mut file = crate::sinks::atomic::AtomicFile::create(path).map_err(|source| SinkError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let io = |source| SinkError::Io {
        path: path.to_path_buf(),
        source,
    };
    file.write_all(json.as_bytes()).map_err(io)?;
    file.write_all(b"\n").map_err(io)?;
    file.commit(None).map_err(io)?;
    Ok(())
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, RunError> {
    Ok(tokio::task::spawn_blocking(f).await?)
}

/// Every vendor key starts with the rate windows and pause an earlier process
/// left in the state store (see `state::rates`).
fn remember_rates(store: &Store, vendors: &IndexMap<Vendor, VendorHttp>) -> Result<(), RunError> {
    for http in vendors.values() {
        if let Some(longest) = http.longest_window() {
            let r = store.remembered_rates(http.vendor().name(), &http.key_id(), longest)?;
            if !r.sent.is_empty() || r.paused_until.is_some() {
                tracing::info!(vendor = %http.vendor(), requests = r.sent.len(), "rate windows remembered from earlier runs");
            }
            http.remember(&r.sent, r.paused_until);
        }
    }
    Ok(())
}

/// From here on, every request sent and every pause is written to the state
/// store, until the returned handle is taken (before the writer closes).
fn log_rates(vendors: &IndexMap<Vendor, VendorHttp>, writer: &WriterHandle) -> Arc<Mutex<Option<WriterHandle>>> {
    let shared = Arc::new(Mutex::new(Some(writer.clone())));
    for http in vendors.values().filter(|h| h.longest_window().is_some()) {
        let (vendor, key, writer) = (http.vendor().name(), Arc::<str>::from(http.key_id()), shared.clone());
        http.log_rates(Arc::new(move |event| {
            let writer = writer.lock().expect("rate writer lock");
            let Some(writer) = writer.as_ref() else { return };
            writer.send(match event {
                RateEvent::Sent(t) => Op::RateSlot {
                    vendor,
                    key: key.clone(),
                    sent_at: crate::state::rates::secs(t),
                },
                RateEvent::Paused(t) => Op::RatePause {
                    vendor,
                    key: key.clone(),
                    until: crate::state::rates::secs(t),
                },
            })
        }));
    }
    shared
}

/// One HTTP client per vendor that the source, a stage or a sink uses, shared
/// by all of them, in the order rows meet them.
pub fn build_vendors(p: &ValidPipeline) -> Result<IndexMap<Vendor, VendorHttp>, RunError> {
    let mut out = IndexMap::new();
    let used = p
        .source
        .vendor()
        .into_iter()
        .chain(p.stages.iter().flat_map(StageSpec::vendors))
        .chain(p.sinks.iter().filter_map(crate::spec::SinkSpec::vendor));
    for vendor in used {
        if out.contains_key(&vendor) {
            continue;
        }
        let spec = p
            .vendors
            .iter()
            .find(|(n, _)| *n == vendor.name())
            .map(|(_, s)| s.clone())
            .unwrap_or_default();
        let settings =
            VendorSettings::resolve(vendor, &spec).map_err(|source| RunError::VendorSettings { vendor, source })?;
        let http = VendorHttp::new(settings).map_err(|source| RunError::VendorSettings { vendor, source })?;
        out.insert(vendor, http);
    }
    Ok(out)
}

/// The run's webhook receiver, when a stage needs one; on `--sandbox`, the
/// sandbox's ReachStream webhook is pointed at it.
async fn start_webhook(
    p: &ValidPipeline,
    sandbox: bool,
    shutdown: CancellationToken,
) -> Result<Option<crate::vendors::webhook::Receiver>, RunError> {
    if !p.stages.iter().any(StageSpec::needs_webhook) {
        return Ok(None);
    }
    let secrets = crate::vendors::webhook::Secrets::of(&p.vendors);
    let spec = p.webhook.clone().unwrap_or_default();
    let receiver = crate::vendors::webhook::Receiver::start(&spec, &p.state_path, secrets, shutdown).await?;
    if sandbox {
        crate::vendors::webhook::point_sandbox(&p.vendors, &receiver).await?;
    }
    Ok(Some(receiver))
}
