//! How each stage runs: one task per stage in the pipeline's order, each
//! reading the batches the stage before it passes on and passing its own on
//! through a bounded channel. A row stage works on many rows at once and
//! keeps their order; a dedupe stage runs on its own thread.
//!
//! This module owns the tasks and the channels between them; what a stage
//! does to a row stays in `crate::stages`, and the source and the outputs
//! belong to the runner.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::runner::RunError;
use crate::record::{Batch, Record};
use crate::spec::ValidPipeline;
use crate::stages::dedupe::Dedupe;
use crate::stages::{RowStage, Running, StageContext, StageCounts, StageRow, StageSpec};

/// A stage's task: its name and what it counted.
pub(super) type StageTask = (String, tokio::task::JoinHandle<Result<StageCounts, RunError>>);

/// Start every stage in the pipeline's order, each reading what the one
/// before it passes on: their tasks, and the last stage's output.
pub(super) fn start_stages(
    p: &ValidPipeline,
    base: &StageContext<'_>,
    mut rx: mpsc::Receiver<Batch>,
    shutdown: &CancellationToken,
) -> Result<(Vec<StageTask>, mpsc::Receiver<Batch>), RunError> {
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

/// A stage's name in reports: its kind, with its position when the kind repeats.
pub fn stage_name(stages: &[StageSpec], i: usize) -> String {
    let kind = stages[i].kind();
    if stages.iter().filter(|s| s.kind() == kind).count() > 1 {
        format!("{kind}#{i}")
    } else {
        kind.to_string()
    }
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
                    use crate::record::Status;
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
