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
use std::time::{Duration, Instant};

use indexmap::IndexMap;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::progress::{self, Progress};
use super::record::{Batch, Record};
use crate::exit::Exit;
use crate::sinks::graph8::{Graph8Sink, UpsertCounts};
use crate::sinks::postgres::LoadCounts;
use crate::sinks::report::RunReport;
use crate::sinks::schema::{Column, output_columns};
use crate::sinks::side::SideFile;
use crate::sinks::{Sink, SinkError};
use crate::source::SourceError;
use crate::source::csv::{CsvSource, fingerprint};
use crate::source::graph8::Graph8Source;
use crate::spec::{SourceSpec, ValidPipeline};
use crate::stages::dedupe::Dedupe;
use crate::stages::{RowStage, Running, StageContext, StageCounts, StageRow, StageSpec};
use crate::state::writer::{Op, Writer, WriterHandle};
use crate::state::{RunCounts, RunStart, RunStatus, StateError, Store};
use crate::vendors::graph8::Graph8;
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
    Webhook(#[from] crate::webhook::WebhookError),
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
    #[error("cannot start a sink's thread: {0}")]
    SinkThread(#[source] std::io::Error),
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
    super::crm_lists::check(&p, vendors.get(&Vendor::Graph8).cloned().map(Graph8::new)).await?;
    let (run_id, resumed, preflight) = begin(&p, &store, &vendors, opts.fresh).await?;

    let source = match &p.source {
        SourceSpec::Csv(spec) => {
            let spec = spec.clone();
            Input::Csv(Box::new(blocking(move || CsvSource::open(&spec)).await??))
        }
        SourceSpec::Graph8List(spec) => Input::Graph8(Graph8Source::new(spec, graph8_client(&vendors))),
    };
    let total_bytes = match &source {
        Input::Csv(csv) => std::fs::metadata(csv.path()).map_or(0, |m| m.len()),
        Input::Graph8(_) => 0,
    };
    let groups = crate::sinks::schema::Groups::of(&p.stages);
    let header = match &source {
        Input::Csv(csv) => csv.header().clone(),
        Input::Graph8(g8) => g8.header().clone(),
    };
    let columns = output_columns(&header, groups);
    // A sink's `columns` naming a column this input does not give is refused before any work.
    for (i, sink) in p.sinks.iter().enumerate() {
        if let Err(e) = crate::sinks::select::columns_for(sink.selection(), &columns) {
            let problem = crate::spec::Located {
                file: p.file.clone(),
                line: e.line,
                key: Some(format!("sinks[{i}].{}", e.key())),
                message: e.message,
            };
            return fail(&store, run_id, RunError::Pipeline(problem));
        }
    }
    // A field mapping naming a column this run does not have is refused before any paid call.
    for sink in &p.sinks {
        if let crate::spec::SinkSpec::Graph8Upsert(g) = sink {
            g.mapping(&columns).map_err(|source| SinkError::Graph8Mapping {
                file: p.file.clone(),
                source,
            })?;
        }
    }
    let duplicates_paths: Vec<PathBuf> = p
        .stages
        .iter()
        .enumerate()
        .filter(|(_, s)| matches!(s, StageSpec::Dedupe(_)))
        .map(|(i, _)| p.duplicates_path(i))
        .collect();
    let cap = p.run.channel_batches;
    // Written rows go back to the source, which reuses their buffers.
    let (recycle_tx, recycle_rx) = std::sync::mpsc::sync_channel::<Vec<Record>>(cap);
    // Every output opens before any row is paid for: an unreachable
    // database or bucket stops the run here, at no cost.
    let outputs = open_outputs(
        &p,
        &columns,
        run_id,
        &duplicates_paths,
        &recycle_tx,
        vendors.get(&Vendor::Graph8),
    )
    .await?;
    drop(recycle_tx);
    let writer = Writer::spawn(&p.state_path)?;
    let rate_writer = log_rates(&vendors, &writer.handle());
    let webhook = start_webhook(&p, opts.sandbox, shutdown.clone()).await?;

    let progress = Arc::new(Progress::default());
    let reporter_done = CancellationToken::new();
    let display = match opts.display {
        DisplayMode::Bar => progress::Display::Bar(progress::terminal_bar()),
        DisplayMode::Log => progress::Display::Log,
        DisplayMode::Quiet => progress::Display::Quiet,
    };
    let reporter = tokio::spawn(progress::report(
        progress.clone(),
        total_bytes,
        display,
        reporter_done.clone(),
    ));

    let (source_tx, rx) = mpsc::channel::<Batch>(cap);
    let source_task = {
        let (progress, shutdown, batch_rows) = (progress.clone(), shutdown.clone(), p.run.batch_rows);
        match source {
            Input::Csv(source) => tokio::task::spawn_blocking(move || {
                read_source(*source, source_tx, recycle_rx, batch_rows, progress, shutdown)
            }),
            Input::Graph8(source) => tokio::spawn(read_graph8(source, source_tx, progress, shutdown)),
        }
    };

    let base = StageContext {
        pipeline: &p,
        store: &store,
        writer: writer.handle(),
        run_id,
        name: String::new(),
        refresh: opts.refresh,
        vendors: &vendors,
        webhook: webhook.clone(),
        preflight: &preflight,
    };
    let (stage_tasks, rx) = start_stages(&base, rx, &shutdown)?;
    drop(base);

    let collector = tokio::spawn(collect(rx, outputs, progress.clone(), (writer.handle(), run_id)));

    let source_result = source_task.await?;
    let mut stages = IndexMap::new();
    let mut stage_failed = None;
    for (name, task) in stage_tasks {
        match task.await? {
            Ok(counts) => {
                stages.insert(name, counts);
            }
            Err(e) => {
                stage_failed.get_or_insert(e);
            }
        }
    }
    let collected = collector.await?;
    if let Some(receiver) = webhook {
        receiver.stop().await;
    }
    reporter_done.cancel();
    let _ = reporter.await;
    // The vendors outlive the writer: their rate logs let go of it first.
    rate_writer.lock().expect("rate writer lock").take();
    writer.close()?;

    let interrupted = shutdown.is_cancelled();
    let stopped: Option<CallError> = vendors.values().find_map(VendorHttp::stopped);
    // A stage that failed cut the flow short: the output is incomplete.
    let source_result = match stage_failed {
        Some(e) => Err(e),
        None => source_result.map_err(RunError::from),
    };
    let (tally, outputs, upserts, loads) = match (source_result, collected) {
        (Err(e), _) => return fail(&store, run_id, e),
        (Ok(()), Err(e)) => return fail(&store, run_id, e),
        (Ok(()), Ok(open)) => {
            if interrupted || stopped.is_some() {
                open.abandon()
            } else {
                // Off the runtime: uploads complete and loads merge by blocking on their I/O.
                match blocking(move || open.finish()).await? {
                    Ok(done) => done,
                    Err(e) => return fail(&store, run_id, e),
                }
            }
        }
    };
    let upserts_failed: u64 = upserts.iter().map(|(_, c)| c.rows_failed).sum();

    let status = if interrupted {
        RunStatus::Interrupted
    } else if stopped.is_some() {
        RunStatus::VendorStopped
    } else {
        RunStatus::Done
    };
    let counts = tally;
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
        vendors: vendors
            .values()
            .map(|h| {
                let mut entry = serde_json::to_value(h.snapshot()).unwrap_or_default();
                let by_balance = charged.iter().find(|(v, _)| *v == h.vendor()).map(|(_, c)| *c);
                crate::vendors::balance::reconcile(&mut entry, by_balance);
                (h.vendor().name().to_string(), entry)
            })
            .collect(),
        outputs,
        rejects_path: p.rejects_path.clone(),
        duplicates_paths,
        sinks: upserts
            .into_iter()
            .map(|(name, c)| (name, serde_json::to_value(c).unwrap_or_default()))
            .chain(
                loads
                    .into_iter()
                    .map(|(name, c)| (name, serde_json::to_value(c).unwrap_or_default())),
            )
            .collect(),
        stopped_by: match (&stopped, interrupted) {
            (Some(e), _) => Some(format!("{e}; fix it and run the same command again to resume")),
            (None, true) => Some("interrupted; run the same command again to resume".to_string()),
            (None, false) => None,
        },
    };
    let json = serde_json::to_string_pretty(&report).map_err(RunError::Report)?;
    store.end_run(run_id, status, counts, &json)?;
    let report_path = opts.report.clone().unwrap_or_else(|| p.report_path.clone());
    write_report(&report_path, &json)?;
    let exit = match status {
        RunStatus::VendorStopped => Exit::VendorStopped,
        RunStatus::Interrupted => Exit::Interrupted,
        _ if counts.rows_failed > 0 || upserts_failed > 0 => Exit::RowsFailed,
        _ if p.run.fail_on_rejects && counts.rows_rejected > 0 => Exit::RowsFailed,
        _ => Exit::Done,
    };
    Ok(RunOutcome { exit, report })
}

/// Begin the run, or resume the unfinished one of the same pipeline and
/// input: the input's fingerprint, then what the stages need to know ahead
/// of it ([`super::preflight`]), read before any stage starts.
async fn begin(
    p: &ValidPipeline,
    store: &Store,
    vendors: &IndexMap<Vendor, VendorHttp>,
    fresh: bool,
) -> Result<(i64, bool, super::preflight::Preflight), RunError> {
    // A CRM list says how many members it has; a file is counted by the stages that need to.
    let (input_fp, list_size) = match &p.source {
        SourceSpec::Csv(csv) => {
            let input_path = csv.path.clone();
            let fp = blocking(move || fingerprint(&input_path))
                .await?
                .map_err(|source| SourceError::Open {
                    path: csv.path.clone(),
                    source,
                })?;
            (fp, None)
        }
        SourceSpec::Graph8List(g) => g.fingerprint(&graph8_client(vendors)).await?,
    };
    let preflight = match &p.source {
        SourceSpec::Csv(csv) if p.stages.iter().any(StageSpec::looks_ahead) => {
            let spec = csv.clone();
            blocking(move || super::preflight::Preflight::read(&spec)).await??
        }
        _ => super::preflight::Preflight::of_list(list_size),
    };
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

/// A stage's task: its name and what it counted.
type StageTask = (String, tokio::task::JoinHandle<Result<StageCounts, RunError>>);

/// Start every stage in the pipeline's order, each reading what the one
/// before it passes on: their tasks, and the last stage's output.
fn start_stages(
    base: &StageContext<'_>,
    mut rx: mpsc::Receiver<Batch>,
    shutdown: &CancellationToken,
) -> Result<(Vec<StageTask>, mpsc::Receiver<Batch>), RunError> {
    let p = base.pipeline;
    let mut stage_tasks = Vec::new();
    let mut dedupes = 0;
    for (i, stage) in p.stages.iter().enumerate() {
        let name = stage_name(&p.stages, i);
        let (tx, next_rx) = mpsc::channel::<Batch>(p.run.channel_batches);
        let task = match stage.start(&base.nested(name.clone()))? {
            Running::Dedupe(dedupe) => {
                dedupes += 1;
                let (dedupe, rows) = (dedupe.nth(dedupes - 1), p.run.batch_rows);
                let (name, shutdown) = (name.clone(), shutdown.clone());
                // Its own thread: hashing every key is CPU work, and held rows are file I/O.
                tokio::task::spawn_blocking(move || run_dedupe(dedupe, rx, tx, rows, name, shutdown))
            }
            Running::Rows(stage) => {
                let rows = p.run.batch_rows;
                tokio::spawn(async move { Ok(run_row_stage(stage, rx, tx, rows).await) })
            }
        };
        stage_tasks.push((name, task));
        rx = next_rx;
    }
    Ok((stage_tasks, rx))
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

/// A stage's name in reports: its kind, with its position when the kind repeats.
pub fn stage_name(stages: &[StageSpec], i: usize) -> String {
    let kind = stages[i].kind();
    if stages.iter().filter(|s| s.kind() == kind).count() > 1 {
        format!("{kind}#{i}")
    } else {
        kind.to_string()
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, RunError> {
    Ok(tokio::task::spawn_blocking(f).await?)
}

/// The source's thread: read batches until the input ends or shutdown is asked for.
fn read_source(
    mut source: CsvSource,
    tx: mpsc::Sender<Batch>,
    recycled: std::sync::mpsc::Receiver<Vec<Record>>,
    batch_rows: usize,
    progress: Arc<Progress>,
    shutdown: CancellationToken,
) -> Result<(), SourceError> {
    while !shutdown.is_cancelled() {
        while let Ok(records) = recycled.try_recv() {
            source.recycle(records);
        }
        let Some(batch) = source.next_batch(batch_rows)? else {
            break;
        };
        progress.rows_read.fetch_add(batch.rows_in, Ordering::Relaxed);
        progress.bytes_read.store(source.bytes_read(), Ordering::Relaxed);
        if tx.blocking_send(batch).is_err() {
            break;
        }
    }
    Ok(())
}

/// The graph8 list's task: fetch pages on the runtime until the list ends or shutdown is asked for.
async fn read_graph8(
    mut source: Graph8Source,
    tx: mpsc::Sender<Batch>,
    progress: Arc<Progress>,
    shutdown: CancellationToken,
) -> Result<(), SourceError> {
    while !shutdown.is_cancelled() {
        let Some(batch) = source.next_batch().await? else {
            break;
        };
        progress.rows_read.fetch_add(batch.rows_in, Ordering::Relaxed);
        if tx.send(batch).await.is_err() {
            break;
        }
    }
    Ok(())
}

/// The graph8 client over the run's shared graph8 HTTP handle.
fn graph8_client(vendors: &IndexMap<Vendor, VendorHttp>) -> Graph8 {
    Graph8::new(
        vendors
            .get(&Vendor::Graph8)
            .cloned()
            .expect("build_vendors makes a graph8 client when the source or a sink is graph8"),
    )
}

fn run_dedupe(
    mut dedupe: Dedupe,
    mut rx: mpsc::Receiver<Batch>,
    tx: mpsc::Sender<Batch>,
    batch_rows: usize,
    name: String,
    shutdown: CancellationToken,
) -> Result<StageCounts, RunError> {
    let mut counts = StageCounts::default();
    let started = Instant::now();
    let dir = dedupe.held_dir().to_path_buf();
    let held_failed = |source| RunError::Held {
        stage: name.clone(),
        dir: dir.clone(),
        source,
    };
    while let Some(mut batch) = rx.blocking_recv() {
        counts.rows_in += batch.records.len() as u64;
        let before = batch.duplicates.len();
        dedupe.process(&mut batch).map_err(held_failed)?;
        counts.rows_duplicate += (batch.duplicates.len() - before) as u64;
        counts.rows_out += batch.records.len() as u64;
        if tx.blocking_send(batch).is_err() {
            break;
        }
    }
    // Held rows wait for the end of the input: an interrupted run never saw
    // it, so its survivors are unknown and the next run chooses them.
    if !dedupe.streams() {
        while !shutdown.is_cancelled() {
            let Some(batch) = dedupe.next_held(batch_rows).map_err(held_failed)? else {
                break;
            };
            counts.rows_duplicate += batch.duplicates.len() as u64;
            counts.rows_out += batch.records.len() as u64;
            if tx.blocking_send(batch).is_err() {
                break;
            }
        }
    }
    counts.duration_s = started.elapsed().as_secs_f64();
    Ok(counts)
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
fn build_vendors(p: &ValidPipeline) -> Result<IndexMap<Vendor, VendorHttp>, RunError> {
    let mut out = IndexMap::new();
    let graph8_source = matches!(p.source, SourceSpec::Graph8List(_));
    let graph8_sink = p
        .sinks
        .iter()
        .any(|s| matches!(s, crate::spec::SinkSpec::Graph8Upsert(_)));
    let used = graph8_source
        .then_some(Vendor::Graph8)
        .into_iter()
        .chain(p.stages.iter().flat_map(StageSpec::vendors))
        .chain(graph8_sink.then_some(Vendor::Graph8));
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
        let http = match vendor {
            Vendor::Graph8 => VendorHttp::with_classifier(settings, crate::vendors::graph8::classify),
            _ => VendorHttp::new(settings),
        }
        .map_err(|source| RunError::VendorSettings { vendor, source })?;
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
) -> Result<Option<crate::webhook::Receiver>, RunError> {
    if !p.stages.iter().any(StageSpec::needs_webhook) {
        return Ok(None);
    }
    let rs = p.vendors.reachstream.clone().unwrap_or_default();
    let rr = p.vendors.rocketreach.clone().unwrap_or_default();
    let secrets = crate::webhook::Secrets {
        reachstream: rs.webhook_secret.clone(),
        rocketreach: rr.webhook_secret.clone(),
    };
    let spec = p.webhook.clone().unwrap_or_default();
    let receiver = crate::webhook::Receiver::start(&spec, &p.state_path, secrets, shutdown).await?;
    if sandbox && let Some(base) = rs.base_url.as_deref().or(rr.base_url.as_deref()) {
        crate::webhook::point_sandbox(base, &receiver, rr.webhook_secret.as_ref()).await?;
    }
    Ok(Some(receiver))
}

/// What flows into a row stage: rows, and what their batch carried beside them.
enum Item {
    Row(Record),
    Side(Batch),
}

/// Drive a row stage: up to its window of rows in flight, each on the
/// runtime's worker threads, emitted in input order and re-batched as they
/// become ready so the next stage starts at once.
async fn run_row_stage(
    stage: Arc<dyn RowStage>,
    rx: mpsc::Receiver<Batch>,
    tx: mpsc::Sender<Batch>,
    batch_rows: usize,
) -> StageCounts {
    use futures::StreamExt;
    let started = Instant::now();
    let mut counts = StageCounts::default();
    let window = stage.window().max(1);
    let input =
        futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|b| (b, rx)) }).flat_map(|mut batch| {
            let rows = std::mem::take(&mut batch.records);
            let side = (batch.rows_in > 0 || !batch.rejects.is_empty() || !batch.duplicates.is_empty())
                .then_some(Item::Side(batch));
            futures::stream::iter(rows.into_iter().map(Item::Row).chain(side))
        });
    let ready = input
        .map(|item| {
            let stage = stage.clone();
            async move {
                match item {
                    Item::Row(rec) => {
                        // Polled once here, where rows start in input order, then
                        // moved to a worker thread: what a stage does before its
                        // first wait (claiming a paid answer, which is charged to
                        // the first row that asks) happens in input order, so
                        // every run charges the same rows.
                        let mut work = stage.enrich(rec);
                        if let std::task::Poll::Ready(row) = futures::poll!(work.as_mut()) {
                            return Done::Row(row);
                        }
                        match tokio::spawn(work).await {
                            Ok(row) => Done::Row(row),
                            Err(e) => std::panic::resume_unwind(e.into_panic()),
                        }
                    }
                    Item::Side(batch) => Done::Side(batch),
                }
            }
        })
        .buffered(window)
        .ready_chunks(batch_rows.max(1));
    let mut ready = std::pin::pin!(ready);
    while let Some(items) = ready.next().await {
        let mut out = Batch::default();
        for item in items {
            match item {
                Done::Row(StageRow::Keep { rec, status, cached }) => {
                    counts.rows_in += 1;
                    counts.rows_out += 1;
                    use crate::pipeline::record::Status;
                    match status {
                        Some(Status::Found) => counts.rows_found += 1,
                        Some(Status::NotFound) => counts.rows_not_found += 1,
                        Some(Status::Skipped) => counts.rows_skipped += 1,
                        Some(Status::Failed) => counts.rows_failed += 1,
                        None => {}
                    }
                    counts.rows_cached += u64::from(cached);
                    out.records.push(rec);
                }
                Done::Row(StageRow::Drop(reject)) => {
                    counts.rows_in += 1;
                    counts.rows_dropped += 1;
                    out.rejects.push(reject);
                }
                Done::Side(mut side) => {
                    out.rejects.append(&mut side.rejects);
                    out.duplicates.append(&mut side.duplicates);
                    out.rows_in += side.rows_in;
                }
            }
        }
        if tx.send(out).await.is_err() {
            break;
        }
    }
    counts.duration_s = started.elapsed().as_secs_f64();
    stage.report(&mut counts);
    counts
}

/// A row stage's finished item.
enum Done {
    Row(StageRow),
    Side(Batch),
}

/// The source of a run, opened.
enum Input {
    Csv(Box<CsvSource>),
    Graph8(Graph8Source),
}

/// What graph8 upsert sinks did, by name in the report.
type Upserts = Vec<(String, UpsertCounts)>;

/// What database sinks loaded, by name in the report.
type Loads = Vec<(String, LoadCounts)>;

/// A sink writing on its own thread: what it writes (for the report), its
/// name among the report's sinks (database sinks), and the thread.
type SinkThread = (
    PathBuf,
    Option<String>,
    std::thread::JoinHandle<Result<Sink, SinkError>>,
);

/// The open output files of a run, committed only when the run completed.
struct Open {
    tally: RunCounts,
    sinks: Vec<SinkThread>,
    /// graph8 upsert sinks, done writing (their receipts not yet committed).
    upserts: Vec<(String, PathBuf, Graph8Sink)>,
    rejects: SideFile,
    duplicates: Vec<SideFile>,
}

impl Open {
    /// Stop without committing: every temporary file is removed, nothing partial is left.
    fn abandon(self) -> (RunCounts, Vec<PathBuf>, Upserts, Loads) {
        for (_, _, thread) in self.sinks {
            let _ = thread.join();
        }
        let upserts = self
            .upserts
            .into_iter()
            .map(|(name, _, sink)| (name, sink.counts.clone()))
            .collect();
        (self.tally, Vec::new(), upserts, Vec::new())
    }

    /// Commit every output (blocking: call off the async runtime).
    fn finish(self) -> Result<(RunCounts, Vec<PathBuf>, Upserts, Loads), RunError> {
        let mut outputs = Vec::new();
        let mut upserts = Vec::new();
        let mut loads = Vec::new();
        for (name, path, sink) in self.upserts {
            upserts.push((name, sink.finish()?));
            outputs.push(path);
        }
        for (path, name, thread) in self.sinks {
            let sink = thread
                .join()
                .map_err(|_| RunError::Internal(format!("{}: the sink's thread panicked", path.display())))??;
            if let (Some(counts), Some(name)) = (sink.finish()?, name) {
                loads.push((name, counts));
            }
            outputs.push(path);
        }
        self.rejects.finish()?;
        for d in self.duplicates {
            d.finish()?;
        }
        Ok((self.tally, outputs, upserts, loads))
    }
}

/// A graph8 upsert sink's task: the sink back once its input ends.
type UpsertTask = tokio::task::JoinHandle<Result<Graph8Sink, SinkError>>;

/// The run's outputs, opened before any row is read: a sink that cannot be
/// opened stops the run before anything is paid for.
struct Outputs {
    senders: Vec<mpsc::Sender<Arc<Batch>>>,
    sinks: Vec<SinkThread>,
    upsert_tasks: Vec<(String, PathBuf, UpsertTask)>,
    rejects: SideFile,
    duplicates: Vec<SideFile>,
}

/// Open every sink (each file sink on its own thread, a graph8 upsert sink on
/// its own task) and the rejects and duplicates files.
async fn open_outputs(
    p: &ValidPipeline,
    columns: &[Column],
    run_id: i64,
    duplicates_paths: &[PathBuf],
    recycle: &std::sync::mpsc::SyncSender<Vec<Record>>,
    graph8: Option<&VendorHttp>,
) -> Result<Outputs, RunError> {
    let mut senders = Vec::new();
    let mut sinks = Vec::new();
    let mut upsert_tasks = Vec::new();
    let sink_specs = &p.sinks;
    for (i, spec) in sink_specs.iter().enumerate() {
        if let crate::spec::SinkSpec::Graph8Upsert(g) = spec {
            let http = graph8
                .cloned()
                .ok_or_else(|| RunError::Internal("no graph8 client for the graph8 sink".into()))?;
            let sink = Graph8Sink::create(g, columns, Graph8::new(http)).map_err(RunError::OpenOutput)?;
            let (tx, srx) = mpsc::channel::<Arc<Batch>>(4);
            let name = sink_name(sink_specs, i, "graph8_upsert");
            upsert_tasks.push((name, g.path.clone(), tokio::spawn(sink.run(srx))));
            senders.push(tx);
            continue;
        }
        let run = crate::sinks::RunTag {
            pipeline: &p.name,
            run_id,
        };
        let mut sink = Sink::open(spec, columns, run).await.map_err(RunError::OpenOutput)?;
        let (tx, mut srx) = mpsc::channel::<Arc<Batch>>(4);
        let recycle = recycle.clone();
        let thread = std::thread::Builder::new()
            .name("leadpipe-sink".into())
            .spawn(move || {
                while let Some(batch) = srx.blocking_recv() {
                    sink.write(&batch.records)?;
                    // The last sink done with a batch hands its rows back (or drops them if the source has enough).
                    if let Some(batch) = Arc::into_inner(batch) {
                        let _ = recycle.try_send(batch.records);
                    }
                }
                Ok(sink)
            })
            .map_err(RunError::SinkThread)?;
        senders.push(tx);
        let name = matches!(spec, crate::spec::SinkSpec::Postgres(_)).then(|| sink_name(sink_specs, i, "postgres"));
        sinks.push((PathBuf::from(spec.target()), name, thread));
    }
    let rejects = SideFile::rejects(&p.rejects_path).map_err(RunError::OpenOutput)?;
    // One duplicates file per dedupe stage, in pipeline order.
    let duplicates = duplicates_paths
        .iter()
        .map(|p| SideFile::duplicates(p))
        .collect::<Result<Vec<_>, _>>()
        .map_err(RunError::OpenOutput)?;
    Ok(Outputs {
        senders,
        sinks,
        upsert_tasks,
        rejects,
        duplicates,
    })
}

/// The last task: fan records out to the open outputs and write rejects and duplicates.
async fn collect(
    mut rx: mpsc::Receiver<Batch>,
    outputs: Outputs,
    progress: Arc<Progress>,
    state: (WriterHandle, i64),
) -> Result<Open, RunError> {
    let Outputs {
        senders,
        sinks,
        upsert_tasks,
        mut rejects,
        mut duplicates,
    } = outputs;
    let mut tally = RunCounts::default();
    // The run's counts so far go to the state store once a second, for
    // `leadpipe status`, also while no batch comes (rows waiting on a vendor).
    let (writer, run_id) = state;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let batch = tokio::select! {
            batch = rx.recv() => match batch {
                Some(batch) => batch,
                None => break,
            },
            _ = tick.tick() => {
                // Rows read so far (a batch's own count may come after its rows): in ≥ out + duplicate + rejected.
                let rows_in = progress.rows_read.load(Ordering::Relaxed).max(tally.rows_in);
                let counts = RunCounts { rows_in, ..tally };
                writer.send(Op::RunCounts { run_id, counts });
                continue;
            }
        };
        tally.rows_in += batch.rows_in;
        tally.rows_out += batch.records.len() as u64;
        tally.rows_rejected += batch.rejects.len() as u64;
        tally.rows_duplicate += batch.duplicates.len() as u64;
        tally.rows_failed += batch.records.iter().filter(|r| r.failed()).count() as u64;
        for r in &batch.rejects {
            rejects.write_reject(r)?;
        }
        for dup in &batch.duplicates {
            let file = duplicates
                .get_mut(dup.dedupe)
                .ok_or_else(|| RunError::Internal(format!("no duplicates file for dedupe stage {}", dup.dedupe)))?;
            file.write_duplicate(dup)?;
        }
        progress
            .rows_written
            .fetch_add(batch.records.len() as u64, Ordering::Relaxed);
        let batch = Arc::new(batch);
        for tx in &senders {
            if tx.send(batch.clone()).await.is_err() {
                break;
            }
        }
    }
    drop(senders);
    let mut upserts = Vec::new();
    for (name, path, task) in upsert_tasks {
        let sink = task.await??;
        upserts.push((name, path, sink));
    }
    Ok(Open {
        tally,
        sinks,
        upserts,
        rejects,
        duplicates,
    })
}

/// A sink's name in the report: its kind, with its position when the kind repeats.
fn sink_name(specs: &[crate::spec::SinkSpec], i: usize, kind: &str) -> String {
    let same = |s: &crate::spec::SinkSpec| std::mem::discriminant(s) == std::mem::discriminant(&specs[i]);
    if specs.iter().filter(|s| same(s)).count() > 1 {
        format!("{kind}#{i}")
    } else {
        kind.to_string()
    }
}
