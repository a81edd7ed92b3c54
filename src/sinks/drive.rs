//! Feeding an open sink: a file, object or table sink writes on its own
//! thread (it blocks on its I/O), a sink that calls a vendor runs on a task
//! of the runtime (several calls in flight), so a slow sink holds back only
//! the batches queued for it. This module owns how each kind is driven; what
//! a sink writes stays in its own file.

use std::sync::Arc;

use tokio::sync::mpsc;

use super::{Blocking, Sink, SinkCounts, SinkError};
use crate::record::{Batch, Record};

/// A sink being fed, until its input ends.
pub enum Running {
    Thread(std::thread::JoinHandle<Result<Blocking, SinkError>>),
    Task(tokio::task::JoinHandle<Result<Sink, SinkError>>),
}

/// A sink whose input has ended, to be finished or abandoned.
#[allow(clippy::large_enum_variant)] // a few per run
pub enum Drained {
    /// Still writing its last rows on its thread (joined off the runtime).
    Thread(std::thread::JoinHandle<Result<Blocking, SinkError>>),
    /// Back from its task, done writing.
    Done(Sink),
}

impl Sink {
    /// Feed the sink every batch `rx` gives. A sink on a thread hands the
    /// rows of a batch it was the last to write back through `recycle` (or
    /// drops them when the source has enough).
    pub fn spawn(
        self,
        mut rx: mpsc::Receiver<Arc<Batch>>,
        recycle: std::sync::mpsc::SyncSender<Vec<Record>>,
    ) -> Result<Running, SinkError> {
        let mut sink = match self {
            Sink::Graph8Upsert(s) => {
                let task = tokio::spawn(async move { Ok(Sink::Graph8Upsert(Box::new(s.run(rx).await?))) });
                return Ok(Running::Task(task));
            }
            Sink::Blocking(sink) => sink,
        };
        let thread = std::thread::Builder::new()
            .name("leadpipe-sink".into())
            .spawn(move || {
                while let Some(batch) = rx.blocking_recv() {
                    sink.write(&batch.records)?;
                    // The last sink done with a batch hands its rows back.
                    if let Some(batch) = Arc::into_inner(batch) {
                        let _ = recycle.try_send(batch.records);
                    }
                }
                Ok(sink)
            })
            .map_err(SinkError::Thread)?;
        Ok(Running::Thread(thread))
    }
}

impl Running {
    /// Once its input has ended: wait for a sink on the runtime to be done
    /// (its failure comes out here); a thread is left to be joined by
    /// [`Drained::finish`] or [`Drained::abandon`], off the runtime.
    pub async fn input_ended(self) -> Result<Drained, SinkError> {
        Ok(match self {
            Running::Thread(thread) => Drained::Thread(thread),
            Running::Task(task) => Drained::Done(task.await??),
        })
    }
}

impl Drained {
    /// True for a sink that was done when its input ended (it runs on the
    /// runtime): such sinks finish first.
    pub fn is_done(&self) -> bool {
        matches!(self, Drained::Done(_))
    }

    /// Commit the output (blocking: call off the runtime); `target` names
    /// the sink in an error.
    pub fn finish(self, target: &str) -> Result<Option<SinkCounts>, SinkError> {
        let sink = match self {
            Drained::Done(sink) => sink,
            Drained::Thread(thread) => Sink::Blocking(
                thread
                    .join()
                    .map_err(|_| SinkError::Panicked { target: target.into() })??,
            ),
        };
        sink.finish()
    }

    /// Stop without committing (a thread is joined, whatever it ended with).
    pub fn abandon(self) -> Option<SinkCounts> {
        match self {
            Drained::Done(sink) => sink.abandon(),
            Drained::Thread(thread) => {
                // Nothing a blocking sink did stands uncommitted.
                let _ = thread.join();
                None
            }
        }
    }
}
