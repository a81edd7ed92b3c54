//! The run's outputs: every sink, the rejects file and the duplicates
//! files, opened before the first row moves (a sink that cannot be opened
//! stops the run before anything is paid for), fed by the collector task, and
//! committed or abandoned at the end.
//!
//! Each file, object or table sink writes on its own thread and a graph8
//! upsert sink on its own task, so a slow output holds back only the batches
//! queued for it. This module owns the fan-out and the commit; what a sink
//! writes, and how, stays in `crate::sinks`.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::mpsc;

use super::progress::Progress;
use super::runner::RunError;
use crate::record::{Batch, Record};
use crate::sinks::graph8::{Graph8Sink, UpsertCounts};
use crate::sinks::postgres::LoadCounts;
use crate::sinks::schema::Column;
use crate::sinks::side::SideFile;
use crate::sinks::{Sink, SinkError};
use crate::spec::ValidPipeline;
use crate::state::RunCounts;
use crate::state::writer::{Op, WriterHandle};
use crate::vendors::graph8::Graph8;
use crate::vendors::http::VendorHttp;

/// What graph8 upsert sinks did, by name in the report.
pub(super) type Upserts = Vec<(String, UpsertCounts)>;

/// What database sinks loaded, by name in the report.
pub(super) type Loads = Vec<(String, LoadCounts)>;

/// A sink writing on its own thread: what it writes (for the report), its
/// name among the report's sinks (database sinks), and the thread.
type SinkThread = (
    PathBuf,
    Option<String>,
    std::thread::JoinHandle<Result<Sink, SinkError>>,
);

/// The open output files of a run, committed only when the run completed.
pub(super) struct Open {
    tally: RunCounts,
    sinks: Vec<SinkThread>,
    /// graph8 upsert sinks, done writing (their receipts not yet committed).
    upserts: Vec<(String, PathBuf, Graph8Sink)>,
    rejects: SideFile,
    duplicates: Vec<SideFile>,
}

impl Open {
    /// Stop without committing: every temporary file is removed, nothing partial is left.
    pub(super) fn abandon(self) -> (RunCounts, Vec<PathBuf>, Upserts, Loads) {
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
    pub(super) fn finish(self) -> Result<(RunCounts, Vec<PathBuf>, Upserts, Loads), RunError> {
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
pub(super) struct Outputs {
    senders: Vec<mpsc::Sender<Arc<Batch>>>,
    sinks: Vec<SinkThread>,
    upsert_tasks: Vec<(String, PathBuf, UpsertTask)>,
    rejects: SideFile,
    duplicates: Vec<SideFile>,
}

/// Open every sink (each file sink on its own thread, a graph8 upsert sink on
/// its own task) and the rejects and duplicates files.
pub(super) async fn open_outputs(
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
pub(super) async fn collect(
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
