//! The run's outputs: every sink, the rejects file and the duplicates
//! files, opened before the first row moves (a sink that cannot be opened
//! stops the run before anything is paid for), fed by the collector task, and
//! committed or abandoned at the end.
//!
//! Every sink is fed its own queue of batches, on its own thread or task as
//! its kind needs, so a slow output holds back only the batches queued for
//! it. This module owns the fan-out and the commit; what a sink writes, and
//! how it is driven, stays in `crate::sinks`.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use indexmap::IndexMap;
use tokio::sync::mpsc;

use super::progress::Progress;
use super::runner::RunError;
use crate::record::{Batch, Record};
use crate::sinks::schema::Column;
use crate::sinks::side::SideFile;
use crate::sinks::{Drained, Running, Sink, SinkCounts};
use crate::spec::{SinkSpec, ValidPipeline};
use crate::state::RunCounts;
use crate::state::writer::{Op, WriterHandle};
use crate::vendors::http::{Vendor, VendorHttp};

/// What sinks report beside their outputs (loads, upserts), by name in the report.
pub(super) type SinkReports = Vec<(String, SinkCounts)>;

/// A sink of the run: its name among the report's sinks, what it writes
/// (for the report), and the sink, running or drained.
struct Named<T> {
    name: String,
    target: PathBuf,
    sink: T,
}

/// The open output files of a run, committed only when the run completed.
pub(super) struct Open {
    tally: RunCounts,
    sinks: Vec<Named<Drained>>,
    rejects: SideFile,
    duplicates: Vec<SideFile>,
}

impl Open {
    /// Stop without committing: every temporary file is removed, nothing
    /// partial is left; what sinks did that stands is still reported.
    pub(super) fn abandon(self) -> (RunCounts, Vec<PathBuf>, SinkReports) {
        let reports = finishing_order(self.sinks)
            .filter_map(|s| Some((s.name, s.sink.abandon()?)))
            .collect();
        (self.tally, Vec::new(), reports)
    }

    /// Commit every output (blocking: call off the async runtime).
    pub(super) fn finish(self) -> Result<(RunCounts, Vec<PathBuf>, SinkReports), RunError> {
        let mut outputs = Vec::new();
        let mut reports = Vec::new();
        for s in finishing_order(self.sinks) {
            if let Some(counts) = s.sink.finish(&s.target.display().to_string())? {
                reports.push((s.name, counts));
            }
            outputs.push(s.target);
        }
        self.rejects.finish()?;
        for d in self.duplicates {
            d.finish()?;
        }
        Ok((self.tally, outputs, reports))
    }
}

/// The sinks that were done when their input ended first, then those still
/// writing on their threads, each in pipeline order: the order of the
/// report's outputs and sinks.
fn finishing_order(sinks: Vec<Named<Drained>>) -> impl Iterator<Item = Named<Drained>> {
    let (done, writing): (Vec<_>, Vec<_>) = sinks.into_iter().partition(|s| s.sink.is_done());
    done.into_iter().chain(writing)
}

/// The run's outputs, opened before any row is read: a sink that cannot be
/// opened stops the run before anything is paid for.
pub(super) struct Outputs {
    senders: Vec<mpsc::Sender<Arc<Batch>>>,
    sinks: Vec<Named<Running>>,
    rejects: SideFile,
    duplicates: Vec<SideFile>,
}

/// Open every sink, each fed on its own thread or task, and the rejects and
/// duplicates files. Written rows go back to the source through `recycle`.
pub(super) async fn open_outputs(
    p: &ValidPipeline,
    columns: &[Column],
    run_id: i64,
    duplicates_paths: &[PathBuf],
    recycle: &std::sync::mpsc::SyncSender<Vec<Record>>,
    vendors: &IndexMap<Vendor, VendorHttp>,
) -> Result<Outputs, RunError> {
    let mut senders = Vec::new();
    let mut sinks = Vec::new();
    for (i, spec) in p.sinks.iter().enumerate() {
        let run = crate::sinks::RunTag {
            pipeline: &p.name,
            run_id,
        };
        let sink = Sink::open(spec, columns, run, vendors)
            .await
            .map_err(RunError::OpenOutput)?;
        let (tx, rx) = mpsc::channel::<Arc<Batch>>(4);
        let running = sink.spawn(rx, recycle.clone())?;
        senders.push(tx);
        sinks.push(Named {
            name: sink_name(&p.sinks, i),
            target: PathBuf::from(spec.target()),
            sink: running,
        });
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
    let mut drained = Vec::with_capacity(sinks.len());
    for Named { name, target, sink } in sinks {
        let sink = sink.input_ended().await?;
        drained.push(Named { name, target, sink });
    }
    Ok(Open {
        tally,
        sinks: drained,
        rejects,
        duplicates,
    })
}

/// A sink's name in the report: its kind, with its position when the kind repeats.
fn sink_name(specs: &[SinkSpec], i: usize) -> String {
    let kind = specs[i].kind();
    if specs.iter().filter(|s| s.kind() == kind).count() > 1 {
        format!("{kind}#{i}")
    } else {
        kind.to_string()
    }
}
