//! Encoding a Parquet file's columns on several threads.
//!
//! arrow-rs's `ArrowWriter` encodes every column of a batch in turn on the
//! caller's thread: dictionary, statistics and compression of a 20-column
//! table add up to about half a run's CPU on the local plane. Here each
//! column belongs to one of a few worker threads (arrow-rs's
//! `ArrowColumnWriter`, its documented way to encode in parallel); the
//! caller's thread only builds the arrays and hands them out. At the end of
//! a row group the workers are told to close it and go on with the next
//! one at once; the caller appends each group's column chunks, in schema
//! order, once every worker has sent them back, without waiting for them
//! (a wait there would leave the workers idle while the caller catches up). Row groups break where `ArrowWriter` breaks them, and
//! each column sees the same arrays in the same order, so the file holds the
//! same pages as one written by `ArrowWriter` with the same properties.
//!
//! This module owns the threads and the row-group bookkeeping; what the
//! columns hold and how they are configured stays in `parquet`.

use std::collections::VecDeque;
use std::io::Write;
use std::sync::mpsc::{Receiver, Sender, SyncSender, TryRecvError, channel, sync_channel};
use std::thread::JoinHandle;

use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{FieldRef, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_writer::{ArrowColumnChunk, ArrowColumnWriter, ArrowRowGroupWriterFactory, compute_leaves};
use parquet::errors::ParquetError;
use parquet::file::writer::SerializedFileWriter;

/// Batches queued per worker: enough to keep it busy while the caller builds the next.
const QUEUE: usize = 4;

enum Job {
    /// Writers for the worker's columns in a new row group.
    Start(Vec<ArrowColumnWriter>),
    /// The worker's columns of the next rows, in its column order.
    Columns(Vec<ArrayRef>),
    /// End the row group: send the column chunks back.
    Close,
}

/// A worker's column chunks of one row group, or the first error.
type Chunks = Result<Vec<ArrowColumnChunk>, ParquetError>;

struct Worker {
    jobs: SyncSender<Job>,
    chunks: Receiver<Chunks>,
    /// Row groups this worker has sent back that are not appended yet, in order.
    ready: VecDeque<Chunks>,
    thread: JoinHandle<()>,
    /// Indexes of the schema fields this worker encodes, ascending.
    fields: Vec<usize>,
}

/// A Parquet file whose columns are encoded on worker threads.
pub struct ParallelWriter<W: Write + Send> {
    file: SerializedFileWriter<W>,
    factory: ArrowRowGroupWriterFactory,
    schema: SchemaRef,
    threads: usize,
    /// Spawned on the first batch, when the columns' sizes say how to share them.
    workers: Vec<Worker>,
    row_group_rows: usize,
    /// Rows in the open row group (0: none open).
    rows_in_group: usize,
    /// Row groups closed (the open one's index); `appended` of them are in the file.
    row_groups: usize,
    appended: usize,
}

impl<W: Write + Send> ParallelWriter<W> {
    /// Take over a freshly created `ArrowWriter` (its properties and schema
    /// metadata are already written into the file's header state).
    pub fn new(
        writer: ArrowWriter<W>,
        schema: SchemaRef,
        row_group_rows: usize,
        threads: usize,
    ) -> Result<Self, ParquetError> {
        let (file, factory) = writer.into_serialized_writer()?;
        Ok(ParallelWriter {
            file,
            factory,
            schema,
            threads: threads.max(1),
            workers: Vec::new(),
            row_group_rows: row_group_rows.max(1),
            rows_in_group: 0,
            row_groups: 0,
            appended: 0,
        })
    }

    /// Write a batch, breaking row groups every `row_group_rows` rows.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), ParquetError> {
        if self.workers.is_empty() {
            self.spawn(batch)?;
        }
        self.append_closed(false)?;
        let mut offset = 0;
        while offset < batch.num_rows() {
            if self.rows_in_group == 0 {
                self.start_group()?;
            }
            let take = (self.row_group_rows - self.rows_in_group).min(batch.num_rows() - offset);
            let part = batch.slice(offset, take);
            for w in &self.workers {
                let arrays = w.fields.iter().map(|&i| part.column(i).clone()).collect();
                w.jobs.send(Job::Columns(arrays)).map_err(|_| gone())?;
            }
            self.rows_in_group += take;
            offset += take;
            if self.rows_in_group == self.row_group_rows {
                self.close_group()?;
            }
        }
        Ok(())
    }

    /// Flush the last row group, write the footer and hand back the file.
    pub fn into_inner(mut self) -> Result<W, ParquetError> {
        if self.rows_in_group > 0 {
            self.close_group()?;
        }
        self.append_closed(true)?;
        for w in std::mem::take(&mut self.workers) {
            drop(w.jobs);
            let _ = w.thread.join();
        }
        self.file.into_inner()
    }

    /// Share the columns among the workers by their size in the first batch
    /// (largest first, each to the least loaded worker).
    fn spawn(&mut self, first: &RecordBatch) -> Result<(), ParquetError> {
        let n = self.schema.fields().len();
        let writers = self.factory.create_column_writers(0)?;
        if writers.len() != n {
            return Err(ParquetError::General(format!(
                "{} Parquet leaf columns for {n} fields: nested columns are not supported",
                writers.len()
            )));
        }
        let threads = self.threads.min(n).max(1);
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(first.column(i).get_buffer_memory_size()));
        let mut load = vec![0usize; threads];
        let mut fields = vec![Vec::new(); threads];
        for i in order {
            let least = (0..threads).min_by_key(|&t| load[t]).unwrap_or(0);
            load[least] += first.column(i).get_buffer_memory_size().max(1);
            fields[least].push(i);
        }
        for mut mine in fields.into_iter().filter(|f| !f.is_empty()) {
            mine.sort_unstable();
            let schema_fields: Vec<FieldRef> = mine.iter().map(|&i| self.schema.fields()[i].clone()).collect();
            let (jobs, inbox) = sync_channel(QUEUE);
            let (done, chunks) = channel();
            let thread = std::thread::Builder::new()
                .name("leadpipe-parquet".into())
                .spawn(move || encode(schema_fields, inbox, done))
                .map_err(|e| ParquetError::External(Box::new(e)))?;
            self.workers.push(Worker {
                jobs,
                chunks,
                ready: VecDeque::new(),
                thread,
                fields: mine,
            });
        }
        Ok(())
    }

    fn start_group(&mut self) -> Result<(), ParquetError> {
        let mut writers: Vec<Option<ArrowColumnWriter>> = self
            .factory
            .create_column_writers(self.row_groups)?
            .into_iter()
            .map(Some)
            .collect();
        for w in &self.workers {
            let mine = w.fields.iter().filter_map(|&i| writers[i].take()).collect();
            w.jobs.send(Job::Start(mine)).map_err(|_| gone())?;
        }
        Ok(())
    }

    /// Tell the workers to close the open row group, and append what is ready.
    fn close_group(&mut self) -> Result<(), ParquetError> {
        for w in &self.workers {
            w.jobs.send(Job::Close).map_err(|_| gone())?;
        }
        self.rows_in_group = 0;
        self.row_groups += 1;
        self.append_closed(false)
    }

    /// Append, in order, the closed row groups every worker has sent back;
    /// with `wait`, all of them.
    fn append_closed(&mut self, wait: bool) -> Result<(), ParquetError> {
        while self.appended < self.row_groups {
            for w in &mut self.workers {
                loop {
                    match w.chunks.try_recv() {
                        Ok(chunks) => w.ready.push_back(chunks),
                        Err(TryRecvError::Empty) => break,
                        Err(TryRecvError::Disconnected) => return Err(gone()),
                    }
                }
                if wait && w.ready.is_empty() {
                    w.ready.push_back(w.chunks.recv().map_err(|_| gone())?);
                }
            }
            if self.workers.iter().any(|w| w.ready.is_empty()) {
                return Ok(());
            }
            let n = self.schema.fields().len();
            let mut chunks: Vec<Option<ArrowColumnChunk>> = (0..n).map(|_| None).collect();
            for w in &mut self.workers {
                let done = w.ready.pop_front().expect("checked above")?;
                for (&i, chunk) in w.fields.iter().zip(done) {
                    chunks[i] = Some(chunk);
                }
            }
            let mut group = self.file.next_row_group()?;
            for chunk in chunks.into_iter().flatten() {
                chunk.append_to_row_group(&mut group)?;
            }
            group.close()?;
            self.appended += 1;
        }
        Ok(())
    }
}

/// A worker: encode its columns' arrays as they come; at the end of each row
/// group, send back the chunks (or the first error).
fn encode(fields: Vec<FieldRef>, inbox: Receiver<Job>, done: Sender<Chunks>) {
    let mut writers: Vec<ArrowColumnWriter> = Vec::new();
    let mut failed: Option<ParquetError> = None;
    for job in inbox {
        match job {
            Job::Start(w) => writers = w,
            Job::Columns(arrays) => {
                if failed.is_some() {
                    continue;
                }
                let result = writers
                    .iter_mut()
                    .zip(&fields)
                    .zip(&arrays)
                    .try_for_each(|((w, f), a)| compute_leaves(f, a)?.iter().try_for_each(|leaf| w.write(leaf)));
                failed = result.err();
            }
            Job::Close => {
                let result = match failed.take() {
                    Some(e) => Err(e),
                    None => std::mem::take(&mut writers)
                        .into_iter()
                        .map(ArrowColumnWriter::close)
                        .collect(),
                };
                if done.send(result).is_err() {
                    return;
                }
            }
        }
    }
}

fn gone() -> ParquetError {
    ParquetError::General("a Parquet encoding thread stopped".into())
}
