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
//! (a wait there would leave the workers idle while the caller catches
//! up). Row groups break where `ArrowWriter` breaks them, and each column
//! sees the same arrays in the same order, so the file holds the same
//! pages as one written by `ArrowWriter` with the same properties.
//!
//! A column handed the very same arrays as an earlier one, through a whole
//! row group (a normalised email that was already lower case, a name that
//! was already trimmed: the columnar plane shares such arrays), is encoded
//! once: the earlier column's chunk is written again under the later
//! column's name ([`Twins`]). Should the arrays part mid-group, the later
//! column is given the arrays held back for it and encoded as any other.
//!
//! This module owns the threads, the row-group bookkeeping and the shared
//! chunks; what the columns hold and how they are configured stays in
//! `parquet`.

use std::collections::VecDeque;
use std::io::Write;
use std::ops::Range;
use std::sync::mpsc::{Receiver, Sender, SyncSender, TryRecvError, channel, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{FieldRef, SchemaRef};
use bytes::Bytes;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_writer::{
    ArrowColumnChunk, ArrowColumnWriter, ArrowRowGroupWriterFactory, ArrowWriterOptions, InMemoryPageStore, PageKey,
    PageStore, PageStoreArgs, PageStoreFactory, compute_leaves,
};
use parquet::column::writer::ColumnCloseResult;
use parquet::errors::ParquetError;
use parquet::file::metadata::ColumnChunkMetaData;
use parquet::file::properties::WriterProperties;
use parquet::file::writer::{SerializedFileWriter, SerializedRowGroupWriter};
use parquet::schema::types::ColumnDescPtr;

/// Batches queued per worker: enough to keep it busy while the caller builds the next.
const QUEUE: usize = 4;

enum Job {
    /// Writers for the worker's columns in a new row group.
    Start(Vec<ArrowColumnWriter>),
    /// Per column of the worker, in its column order: the arrays to write
    /// next, in order (none for a column sharing an earlier one's arrays).
    Columns(Vec<Vec<ArrayRef>>),
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
    /// The open row group's shared columns.
    twins: Twins,
    /// The shared columns of each closed row group not appended yet, in order.
    closed_twins: VecDeque<Vec<Option<usize>>>,
    /// Copies the pages of a chunk as they go into the file.
    tap: Tap,
}

impl<W: Write + Send> ParallelWriter<W> {
    /// A file of `schema`'s columns written to `out` with `props`.
    pub fn new(
        out: W,
        schema: SchemaRef,
        props: WriterProperties,
        row_group_rows: usize,
        threads: usize,
    ) -> Result<Self, ParquetError> {
        let tap = Tap::default();
        let options = ArrowWriterOptions::new()
            .with_properties(props)
            .with_page_store_factory(Arc::new(tap.clone()));
        let writer = ArrowWriter::try_new_with_options(out, schema.clone(), options)?;
        let (file, factory) = writer.into_serialized_writer()?;
        let fields = schema.fields().len();
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
            twins: Twins::new(fields),
            closed_twins: VecDeque::new(),
            tap,
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
            let first_in_group = self.rows_in_group == 0;
            let mut to_write = self.twins.take(batch, offset..offset + take, first_in_group);
            for w in &self.workers {
                let arrays = w.fields.iter().map(|&i| std::mem::take(&mut to_write[i])).collect();
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
    /// (largest first, each to the least loaded worker; a column sharing an
    /// earlier one's array weighs nothing).
    fn spawn(&mut self, first: &RecordBatch) -> Result<(), ParquetError> {
        let n = self.schema.fields().len();
        let writers = self.factory.create_column_writers(0)?;
        if writers.len() != n {
            return Err(ParquetError::General(format!(
                "{} Parquet leaf columns for {n} fields: nested columns are not supported",
                writers.len()
            )));
        }
        let weight: Vec<usize> = (0..n)
            .map(|i| match Twins::earlier_same(first, i) {
                Some(_) => 0,
                None => first.column(i).get_buffer_memory_size(),
            })
            .collect();
        let threads = self.threads.min(n).max(1);
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(weight[i]));
        let mut load = vec![0usize; threads];
        let mut fields = vec![Vec::new(); threads];
        for i in order {
            let least = (0..threads).min_by_key(|&t| load[t]).unwrap_or(0);
            load[least] += weight[i].max(1);
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
        self.closed_twins.push_back(self.twins.close());
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
            let twin_of = self.closed_twins.pop_front().expect("one per closed row group");
            self.append_group(chunks, &twin_of)?;
            self.appended += 1;
        }
        Ok(())
    }

    /// Write a row group's chunks; a column sharing an earlier one's arrays
    /// gets a copy of that column's chunk.
    fn append_group(
        &mut self,
        chunks: Vec<Option<ArrowColumnChunk>>,
        twin_of: &[Option<usize>],
    ) -> Result<(), ParquetError> {
        let descriptors: Vec<ColumnDescPtr> = (0..chunks.len()).map(|i| self.file.schema_descr().column(i)).collect();
        let mut copies: Vec<Option<(Bytes, ColumnCloseResult)>> = (0..chunks.len()).map(|_| None).collect();
        let mut group = self.file.next_row_group()?;
        for (i, chunk) in chunks.into_iter().enumerate() {
            let chunk = chunk.ok_or_else(|| ParquetError::General(format!("no chunk for column {i}")))?;
            match (twin_of[i], twin_of.contains(&Some(i))) {
                (Some(first), _) => {
                    let (bytes, close) = copies[first].as_ref().expect("an earlier column, appended with a copy");
                    group.append_column(bytes, renamed(close, descriptors[i].clone())?)?;
                }
                (None, false) => chunk.append_to_row_group(&mut group)?,
                (None, true) => copies[i] = Some(self.tap.append_copied(chunk, &mut group)?),
            }
        }
        group.close()?;
        Ok(())
    }
}

/// Which columns of the open row group have been handed the very same
/// arrays as an earlier column, batch after batch: those are encoded once.
struct Twins {
    /// Per column: the earliest column whose arrays it has shared in every
    /// batch of the group so far.
    twin_of: Vec<Option<usize>>,
    /// Per column sharing another's arrays: those arrays, held back in
    /// case the two part before the group ends.
    held: Vec<Vec<ArrayRef>>,
}

impl Twins {
    fn new(fields: usize) -> Twins {
        Twins {
            twin_of: vec![None; fields],
            held: vec![Vec::new(); fields],
        }
    }

    /// The earliest column of `batch` before `i` holding the same array as column `i`.
    fn earlier_same(batch: &RecordBatch, i: usize) -> Option<usize> {
        let a = batch.column(i);
        (0..i).find(|&j| Arc::ptr_eq(batch.column(j), a) && a.data_type() == batch.column(j).data_type())
    }

    /// What each column's writer gets of the group's next rows (`rows` of
    /// `batch`): its array, nothing while it shares an earlier column's,
    /// or, when the sharing ends, the arrays held back and then its own.
    fn take(&mut self, batch: &RecordBatch, rows: Range<usize>, first_in_group: bool) -> Vec<Vec<ArrayRef>> {
        (0..batch.num_columns())
            .map(|i| {
                let array = batch.column(i).slice(rows.start, rows.len());
                let same = Self::earlier_same(batch, i);
                if first_in_group {
                    self.twin_of[i] = same;
                }
                match self.twin_of[i] {
                    Some(first) if same == Some(first) => {
                        self.held[i].push(array);
                        Vec::new()
                    }
                    Some(_) => {
                        self.twin_of[i] = None;
                        let mut arrays = std::mem::take(&mut self.held[i]);
                        arrays.push(array);
                        arrays
                    }
                    None => vec![array],
                }
            })
            .collect()
    }

    /// The group ends: which columns shared another's arrays through it.
    fn close(&mut self) -> Vec<Option<usize>> {
        self.held.iter_mut().for_each(Vec::clear);
        std::mem::replace(&mut self.twin_of, vec![None; self.held.len()])
    }
}

/// The chunk described by `close` under another column's name. `close` is
/// as its writer left it: data pages first, then the dictionary page (see
/// `ColumnCloseResult::update_dictionary_location`); the pages copied by
/// the [`Tap`] are as written to the file, dictionary first.
fn renamed(close: &ColumnCloseResult, descr: ColumnDescPtr) -> Result<ColumnCloseResult, ParquetError> {
    let m = &close.metadata;
    let dictionary_len = m.dictionary_page_offset().map_or(0, |at| m.compressed_size() - at);
    let mut close = close.clone().update_dictionary_location(dictionary_len as usize)?;
    let m = &close.metadata;
    let mut meta = ColumnChunkMetaData::builder(descr)
        .set_compression_codec(m.compression_codec())
        .set_encodings_mask(*m.encodings_mask())
        .set_total_compressed_size(m.compressed_size())
        .set_total_uncompressed_size(m.uncompressed_size())
        .set_num_values(m.num_values())
        .set_data_page_offset(m.data_page_offset())
        .set_dictionary_page_offset(m.dictionary_page_offset())
        .set_unencoded_byte_array_data_bytes(m.unencoded_byte_array_data_bytes())
        .set_repetition_level_histogram(m.repetition_level_histogram().cloned())
        .set_definition_level_histogram(m.definition_level_histogram().cloned());
    if let Some(statistics) = m.statistics() {
        meta = meta.set_statistics(statistics.clone());
    }
    if let Some(stats) = m.page_encoding_stats() {
        meta = meta.set_page_encoding_stats(stats.clone());
    }
    close.metadata = meta.build()?;
    Ok(close)
}

/// The writer's page stores (arrow-rs's in-memory one), with a tap: while
/// armed, every page read back out of a store for the file is also kept
/// here, so a chunk's bytes can be written a second time.
#[derive(Debug, Default, Clone)]
struct Tap(Arc<Mutex<Option<Vec<Bytes>>>>);

impl Tap {
    fn arm(&self) {
        *self.0.lock().expect("the tap lock") = Some(Vec::new());
    }

    /// The pages taken since [`Tap::arm`], as one buffer.
    fn disarm(&self) -> Bytes {
        let pages = self.0.lock().expect("the tap lock").take().unwrap_or_default();
        Bytes::from(pages.concat())
    }

    /// Append `chunk` to `group`, and give back its bytes as written and its close result.
    fn append_copied<W: Write + Send>(
        &self,
        chunk: ArrowColumnChunk,
        group: &mut SerializedRowGroupWriter<'_, W>,
    ) -> Result<(Bytes, ColumnCloseResult), ParquetError> {
        let close = chunk.close().clone();
        self.arm();
        let appended = chunk.append_to_row_group(group);
        let bytes = self.disarm();
        appended?;
        if bytes.len() as i64 != close.metadata.compressed_size() {
            return Err(ParquetError::General(format!(
                "a column chunk of {} bytes gave {} bytes of pages",
                close.metadata.compressed_size(),
                bytes.len()
            )));
        }
        Ok((bytes, close))
    }
}

impl PageStoreFactory for Tap {
    fn create(&self, _: &PageStoreArgs<'_>) -> Result<Box<dyn PageStore>, ParquetError> {
        Ok(Box::new(TappedStore {
            pages: InMemoryPageStore::default(),
            tap: self.clone(),
        }))
    }
}

struct TappedStore {
    pages: InMemoryPageStore,
    tap: Tap,
}

impl PageStore for TappedStore {
    fn put(&mut self, value: Bytes) -> Result<PageKey, ParquetError> {
        self.pages.put(value)
    }

    fn take(&mut self, key: PageKey) -> Result<Bytes, ParquetError> {
        let page = self.pages.take(key)?;
        if let Some(copy) = self.tap.0.lock().expect("the tap lock").as_mut() {
            copy.push(page.clone());
        }
        Ok(page)
    }

    fn memory_size(&self) -> usize {
        self.pages.memory_size()
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
                let result = (writers.iter_mut().zip(&fields).zip(&arrays)).try_for_each(|((w, f), arrays)| {
                    arrays
                        .iter()
                        .try_for_each(|a| compute_leaves(f, a)?.iter().try_for_each(|leaf| w.write(leaf)))
                });
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

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{StringArray, UInt64Array};
    use arrow_schema::{DataType, Field, Schema};
    use bytes::Bytes;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use parquet::basic::{Compression, ZstdLevel};
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::schema::types::ColumnPath;

    /// Text columns `name` and `copy` (a few values: dictionary-encoded),
    /// `email` and `email_copy` (all distinct, dictionary off), and a row number.
    fn schema() -> SchemaRef {
        let text = |name| Field::new(name, DataType::Utf8, true);
        Arc::new(Schema::new(vec![
            text("name"),
            text("copy"),
            text("email"),
            text("email_copy"),
            Field::new("n", DataType::UInt64, false),
        ]))
    }

    fn props() -> WriterProperties {
        WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::try_new(1).unwrap()))
            .set_data_page_size_limit(512)
            .set_max_row_group_row_count(Some(100))
            .set_column_dictionary_enabled(ColumnPath::from("email"), false)
            .set_column_dictionary_enabled(ColumnPath::from("email_copy"), false)
            .build()
    }

    fn names(rows: std::ops::Range<u64>) -> ArrayRef {
        let names = ["Ana", "Bo", "Cy"];
        Arc::new(StringArray::from_iter(
            rows.map(|r| (r % 7 != 3).then(|| names[r as usize % names.len()])),
        ))
    }

    fn emails(rows: std::ops::Range<u64>) -> ArrayRef {
        Arc::new(StringArray::from_iter(
            rows.map(|r| (r % 11 != 5).then(|| format!("p{r}@acme.com"))),
        ))
    }

    /// Batches of 40 rows, row groups of 100: the copies share their
    /// columns' arrays through the first group; in the second they part
    /// (other values) after its first batch (`copy`) and at its last
    /// (`email_copy`); in the third they share again.
    fn batches() -> Vec<RecordBatch> {
        (0..8u64)
            .map(|b| {
                let rows = b * 40..b * 40 + 40;
                let (name, email) = (names(rows.clone()), emails(rows.clone()));
                let other = rows.start + 1..rows.end + 1;
                let copy = match b {
                    3 | 4 => names(other.clone()),
                    _ => name.clone(),
                };
                let email_copy = match b {
                    4 => emails(other),
                    _ => email.clone(),
                };
                let n: ArrayRef = Arc::new(UInt64Array::from_iter_values(rows));
                RecordBatch::try_new(schema(), vec![name, copy, email, email_copy, n]).unwrap()
            })
            .collect()
    }

    fn parallel(batches: &[RecordBatch], threads: usize) -> Bytes {
        let mut w = ParallelWriter::new(Vec::new(), schema(), props(), 100, threads).unwrap();
        batches.iter().for_each(|b| w.write(b).unwrap());
        Bytes::from(w.into_inner().unwrap())
    }

    #[test]
    fn a_column_sharing_another_s_arrays_is_written_as_if_encoded_on_its_own() {
        let batches = batches();
        let mut plain = ArrowWriter::try_new(Vec::new(), schema(), Some(props())).unwrap();
        batches.iter().for_each(|b| plain.write(b).unwrap());
        let plain = Bytes::from(plain.into_inner().unwrap());
        for threads in [1, 2, 3] {
            let file = parallel(&batches, threads);
            assert!(file == plain, "{threads} threads: not the bytes ArrowWriter writes");
        }
    }

    #[test]
    fn a_column_sharing_another_s_arrays_reads_back_whole_under_its_own_name() {
        let batches = batches();
        let file = parallel(&batches, 2);
        let meta = SerializedFileReader::new(file.clone()).unwrap().metadata().clone();
        assert_eq!(meta.num_row_groups(), 4);
        let group = meta.row_group(0);
        for (copy, of) in [(1, 0), (3, 2)] {
            let (c, o) = (group.column(copy), group.column(of));
            assert_eq!(c.column_path(), &ColumnPath::from(schema().field(copy).name().as_str()));
            assert_eq!(c.compressed_size(), o.compressed_size());
            assert!(c.data_page_offset() > o.data_page_offset());
        }
        let read: Vec<RecordBatch> = ParquetRecordBatchReaderBuilder::try_new(file)
            .unwrap()
            .with_batch_size(40)
            .build()
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let all = |batches: &[RecordBatch]| arrow_select::concat::concat_batches(&schema(), batches).unwrap();
        assert_eq!(all(&read), all(&batches));
    }
}
