//! The run's source, opened: a CSV file read on a blocking thread (reusing
//! the buffers of the rows written), or a CRM list fetched page by page on
//! the runtime. The runner drives it the same way whatever its kind.

use indexmap::IndexMap;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::SourceError;
use super::csv::{CsvSource, IdentityField};
use super::graph8::Graph8Source;
use super::spec::{SourceSpec, blocking};
use crate::record::{Batch, Header, Record};
use crate::vendors::graph8::Graph8;
use crate::vendors::http::{Vendor, VendorHttp};

/// What a source says after each batch it hands on: the batch's rows read,
/// and the bytes of a file read so far (`None` when not a file).
pub type OnRead = Box<dyn Fn(u64, Option<u64>) + Send + Sync>;

/// The source of a run, opened.
pub enum Input {
    Csv(Box<CsvSource>),
    Graph8List(Box<Graph8Source>),
}

impl Input {
    /// Open the source (a file off the runtime). A CSV source normalises only
    /// `fields_read` when given (the fields the run reads).
    pub async fn open(
        spec: &SourceSpec,
        fields_read: Option<Vec<IdentityField>>,
        vendors: &IndexMap<Vendor, VendorHttp>,
    ) -> Result<Input, SourceError> {
        Ok(match spec {
            SourceSpec::Csv(spec) => {
                let spec = spec.clone();
                let mut csv = blocking(move || CsvSource::open(&spec)).await??;
                if let Some(fields) = fields_read {
                    csv.normalise_only(&fields);
                }
                Input::Csv(Box::new(csv))
            }
            SourceSpec::Graph8List(spec) => {
                Input::Graph8List(Box::new(Graph8Source::new(spec, Graph8::of_run(vendors))))
            }
        })
    }

    /// The next batch of up to `batch_rows` rows (a CRM list: a page), read
    /// in place (a file on the caller's thread), for a reader that needs no
    /// overlap with the stages: `plan`.
    pub async fn next_batch(&mut self, batch_rows: usize) -> Result<Option<Batch>, SourceError> {
        match self {
            Input::Csv(csv) => csv.next_batch(batch_rows),
            Input::Graph8List(list) => list.next_batch().await,
        }
    }

    pub fn header(&self) -> &Header {
        match self {
            Input::Csv(csv) => csv.header(),
            Input::Graph8List(list) => list.header(),
        }
    }

    /// The input's size in bytes, for the progress display (0 when not a file).
    pub fn size_bytes(&self) -> u64 {
        match self {
            Input::Csv(csv) => std::fs::metadata(csv.path()).map_or(0, |m| m.len()),
            Input::Graph8List(_) => 0,
        }
    }

    /// Read the source on its own task, in batches of up to `batch_rows`
    /// rows (a CRM list: a page each), until the input ends, `tx` closes or
    /// shutdown is asked for. A file source reuses the buffers of the rows
    /// that come back on `recycled`.
    pub fn spawn(
        self,
        tx: mpsc::Sender<Batch>,
        recycled: std::sync::mpsc::Receiver<Vec<Record>>,
        batch_rows: usize,
        on_read: OnRead,
        shutdown: CancellationToken,
    ) -> tokio::task::JoinHandle<Result<(), SourceError>> {
        match self {
            Input::Csv(csv) => {
                tokio::task::spawn_blocking(move || read_file(*csv, tx, recycled, batch_rows, on_read, shutdown))
            }
            Input::Graph8List(list) => tokio::spawn(read_list(*list, tx, on_read, shutdown)),
        }
    }
}

/// The file's thread: read batches until the input ends or shutdown is asked for.
fn read_file(
    mut source: CsvSource,
    tx: mpsc::Sender<Batch>,
    recycled: std::sync::mpsc::Receiver<Vec<Record>>,
    batch_rows: usize,
    on_read: OnRead,
    shutdown: CancellationToken,
) -> Result<(), SourceError> {
    while !shutdown.is_cancelled() {
        while let Ok(records) = recycled.try_recv() {
            source.recycle(records);
        }
        let Some(batch) = source.next_batch(batch_rows)? else {
            break;
        };
        on_read(batch.rows_in, Some(source.bytes_read()));
        if tx.blocking_send(batch).is_err() {
            break;
        }
    }
    Ok(())
}

/// The list's task: fetch pages on the runtime until the list ends or shutdown is asked for.
async fn read_list(
    mut source: Graph8Source,
    tx: mpsc::Sender<Batch>,
    on_read: OnRead,
    shutdown: CancellationToken,
) -> Result<(), SourceError> {
    while !shutdown.is_cancelled() {
        let Some(batch) = source.next_batch().await? else {
            break;
        };
        on_read(batch.rows_in, None);
        if tx.send(batch).await.is_err() {
            break;
        }
    }
    Ok(())
}
