//! `kind = "parquet"`: typed columns, zstd, row groups sized for warehouses.
//! The file exists at its path only after a complete run (see `atomic`);
//! on object storage, its objects appear at their keys only after a
//! complete run (see `object`), one per partition folder when partitioned
//! (see `partition`).

use std::borrow::Borrow;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::builder::{
    BooleanBuilder, Float64Builder, Int64Builder, ListBuilder, StringBuilder, TimestampMicrosecondBuilder,
    UInt64Builder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use indexmap::IndexMap;
use object_store::ObjectStore;
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::properties::{WriterProperties, WriterPropertiesBuilder};
use parquet::schema::types::ColumnPath;
use serde::Deserialize;
use tokio::runtime::Handle;

use super::SinkError;
use super::atomic::AtomicFile;
use super::encode::ParallelWriter;
use super::object::{self, Location, Staged, Upload};
use super::partition::{self, Layout};
use super::schema::{Cell, Column};
use super::select::Selection;
use crate::record::Record;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParquetSinkSpec {
    /// A local file, or `s3://bucket/prefix/name.parquet` on S3-compatible storage
    /// (with `partition_by`, `s3://bucket/prefix/dataset`: a folder).
    pub path: PathBuf,
    /// Rows per row group.
    #[serde(default = "default_row_group_rows")]
    pub row_group_rows: usize,
    /// `"zstd"` (the default), `"zstd(N)"` (level 1 fastest … 22 smallest),
    /// `"snappy"` or `"none"`.
    #[serde(default)]
    pub compression: Option<String>,
    /// zstd level for `compression = "zstd"` (default 1); `"zstd(N)"` says the same.
    #[serde(default)]
    pub zstd_level: Option<i32>,
    /// Which output columns, in which order and under which names (default: all).
    #[serde(default)]
    pub columns: Option<Selection>,
    /// Hive-style folders by these columns (or `run_date`); `s3://` paths only.
    #[serde(default)]
    pub partition_by: Vec<String>,
    /// The S3 endpoint (MinIO, R2, a local server); default: `AWS_ENDPOINT_URL`, else AWS.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// The S3 region; default: `AWS_DEFAULT_REGION` / `AWS_REGION`, else `us-east-1`.
    #[serde(default)]
    pub region: Option<String>,
    /// Size of a multipart upload's parts, in MiB (5 … 5120); smaller objects go up in one PUT.
    #[serde(default = "default_part_size_mib")]
    pub part_size_mib: usize,
}

fn default_row_group_rows() -> usize {
    262_144
}

/// zstd level when none is given: the fastest, see docs/benchmarks.md.
const DEFAULT_ZSTD_LEVEL: i32 = 1;

impl ParquetSinkSpec {
    /// The codec `compression` and `zstd_level` ask for; the error names the key at fault.
    pub fn codec(&self) -> Result<Compression, (&'static str, String)> {
        let zstd = |level: i32, key: &'static str| {
            ZstdLevel::try_new(level)
                .map(Compression::ZSTD)
                .map_err(|_| (key, format!("zstd level {level} is outside 1..=22")))
        };
        let text = self
            .compression
            .as_deref()
            .unwrap_or("zstd")
            .trim()
            .to_ascii_lowercase();
        let level_too = |codec: &str| {
            self.zstd_level.map_or(Ok(()), |_| {
                Err((
                    "zstd_level",
                    format!("applies only to compression = \"zstd\", not {codec:?}"),
                ))
            })
        };
        match text.as_str() {
            "zstd" => zstd(self.zstd_level.unwrap_or(DEFAULT_ZSTD_LEVEL), "zstd_level"),
            "snappy" => level_too("snappy").map(|()| Compression::SNAPPY),
            "none" | "uncompressed" => level_too("none").map(|()| Compression::UNCOMPRESSED),
            other => {
                let level = other
                    .strip_prefix("zstd(")
                    .and_then(|r| r.strip_suffix(')'))
                    .and_then(|n| n.trim().parse::<i32>().ok())
                    .ok_or_else(|| {
                        (
                            "compression",
                            format!("{other:?} is not one of \"zstd\", \"zstd(N)\", \"snappy\", \"none\""),
                        )
                    })?;
                if self.zstd_level.is_some() {
                    return Err((
                        "zstd_level",
                        "give the level once: in compression = \"zstd(N)\" or in zstd_level".into(),
                    ));
                }
                zstd(level, "compression")
            }
        }
    }
}

fn default_part_size_mib() -> usize {
    10
}

/// The name of each object of a partitioned output, in its partition's folder.
pub const PART_FILE: &str = "part-0.parquet";

impl ParquetSinkSpec {
    /// The object storage location, when `path` is an `s3://` URL.
    pub fn location(&self) -> Option<Result<Location, String>> {
        Location::parse(self.path.to_str()?)
    }

    pub fn check(&self) -> Vec<(&'static str, String)> {
        let mut problems = Vec::new();
        if let Err(problem) = self.codec() {
            problems.push(problem);
        }
        if self.row_group_rows == 0 {
            problems.push(("row_group_rows", "must be at least 1".into()));
        }
        match self.location() {
            Some(Err(m)) => problems.push(("path", m)),
            Some(Ok(_)) => {
                if !(5..=5120).contains(&self.part_size_mib) {
                    problems.push((
                        "part_size_mib",
                        format!("{} is outside 5..=5120 (S3's part sizes)", self.part_size_mib),
                    ));
                }
            }
            None => {
                for (key, set) in [
                    ("partition_by", !self.partition_by.is_empty()),
                    ("endpoint", self.endpoint.is_some()),
                    ("region", self.region.is_some()),
                ] {
                    if set {
                        problems.push((key, "only applies to an s3:// path".into()));
                    }
                }
            }
        }
        problems
    }
}

/// Parquet encoding of rows into any byte sink.
struct Encoder<W: Write + Send> {
    /// The output's path or URL, for errors.
    path: PathBuf,
    state: State<W>,
    row_group_rows: usize,
    schema: SchemaRef,
    columns: Vec<Column>,
    /// Bytes each column's values took in the previous batch: the next batch's buffer size.
    bytes_hint: Vec<usize>,
}

impl<W: Write + Send> Encoder<W> {
    fn new(out: W, spec: &ParquetSinkSpec, columns: &[Column]) -> Result<Encoder<W>, SinkError> {
        let schema = Arc::new(Schema::new(
            columns
                .iter()
                .map(|c| Field::new(&c.name, c.data_type.clone(), c.nullable))
                .collect::<Vec<_>>(),
        ));
        let codec = spec.codec().map_err(|(key, message)| SinkError::Codec {
            path: spec.path.clone(),
            key,
            message,
        })?;
        let mut props = WriterProperties::builder()
            .set_compression(codec)
            .set_max_row_group_row_count(Some(spec.row_group_rows.max(1)))
            .set_created_by(format!("leadpipe {}", env!("CARGO_PKG_VERSION")));
        // The integer columns (row id, line) ascend with every row: a
        // dictionary would hash each value only to be abandoned, while delta
        // encoding stores them in a few bits per row.
        for c in columns.iter().filter(|c| c.data_type == DataType::UInt64) {
            let path = ColumnPath::from(c.name.as_str());
            props = props
                .set_column_dictionary_enabled(path.clone(), false)
                .set_column_encoding(path, Encoding::DELTA_BINARY_PACKED);
        }
        Ok(Encoder {
            path: spec.path.clone(),
            state: State::Waiting { out, props },
            row_group_rows: spec.row_group_rows.max(1),
            schema,
            columns: columns.to_vec(),
            bytes_hint: vec![0; columns.len()],
        })
    }

    fn write<R: Borrow<Record>>(&mut self, records: &[R]) -> Result<(), SinkError> {
        if records.is_empty() {
            return Ok(());
        }
        let arrays: Vec<ArrayRef> = self
            .columns
            .iter()
            .zip(self.bytes_hint.iter_mut())
            .map(|(c, hint)| column_array(c, records, hint))
            .collect();
        self.write_arrays(arrays)
    }

    /// Write rows given as one array per column, in the sink's column order.
    fn write_arrays(&mut self, arrays: Vec<ArrayRef>) -> Result<(), SinkError> {
        let batch = RecordBatch::try_new(self.schema.clone(), arrays).map_err(|source| SinkError::Arrow {
            path: self.path.clone(),
            source,
        })?;
        self.writer(Some(&batch))?
            .write(&batch)
            .map_err(|source| SinkError::Parquet {
                path: self.path.clone(),
                source,
            })
    }

    /// The file's writer, started on the first rows (`None`: there are none).
    fn writer(&mut self, first: Option<&RecordBatch>) -> Result<&mut ParallelWriter<W>, SinkError> {
        if let State::Waiting { .. } = self.state {
            let State::Waiting { out, mut props } = std::mem::replace(&mut self.state, State::Gone) else {
                unreachable!("checked above")
            };
            for name in first.map(near_unique).unwrap_or_default() {
                props = props.set_column_dictionary_enabled(ColumnPath::from(name), false);
            }
            let parquet_err = |source| SinkError::Parquet {
                path: self.path.clone(),
                source,
            };
            let threads = std::thread::available_parallelism().map_or(1, usize::from);
            let writer = ParallelWriter::new(out, self.schema.clone(), props.build(), self.row_group_rows, threads)
                .map_err(parquet_err)?;
            self.state = State::Writing(writer);
        }
        if !matches!(self.state, State::Writing(_)) {
            return Err(self.failed_earlier());
        }
        match &mut self.state {
            State::Writing(writer) => Ok(writer),
            _ => unreachable!("checked above"),
        }
    }

    /// The writer could not be started: what a later call says.
    fn failed_earlier(&self) -> SinkError {
        SinkError::Parquet {
            path: self.path.clone(),
            source: parquet::errors::ParquetError::General("the Parquet writer could not be started".into()),
        }
    }

    fn finish(mut self) -> Result<W, SinkError> {
        self.writer(None)?;
        let State::Writing(writer) = self.state else {
            return Err(self.failed_earlier());
        };
        let path = self.path;
        writer
            .into_inner()
            .map_err(|source| SinkError::Parquet { path, source })
    }
}

/// An encoder's file: waiting for its first rows to choose how to encode
/// its columns, then written.
enum State<W: Write + Send> {
    Waiting { out: W, props: WriterPropertiesBuilder },
    Writing(ParallelWriter<W>),
    Gone,
}

/// The text columns of `batch` whose values are nearly all distinct (emails,
/// LinkedIn URLs, phone numbers). A dictionary there costs a hash and a
/// compare per value and saves nothing: Parquet writers give it up anyway
/// once it outgrows its page, after paying for the first megabyte of each
/// row group. Judged on the first rows written.
fn near_unique(batch: &RecordBatch) -> Vec<String> {
    const SAMPLE: usize = 4096;
    let mut names = Vec::new();
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        let Some(strings) = column.as_any().downcast_ref::<arrow_array::StringArray>() else {
            continue;
        };
        let values: Vec<&str> = strings
            .iter()
            .flatten()
            .filter(|v| !v.is_empty())
            .take(SAMPLE)
            .collect();
        let distinct: std::collections::HashSet<&str> = values.iter().copied().collect();
        if values.len() >= 256 && distinct.len() * 10 >= values.len() * 9 {
            names.push(field.name().clone());
        }
    }
    names
}

pub struct ParquetSink {
    out: Output,
    path: PathBuf,
}

#[allow(clippy::large_enum_variant)] // one per sink, for the whole run
enum Output {
    File {
        file: AtomicFile,
        encoder: Encoder<std::io::BufWriter<std::fs::File>>,
    },
    Object(Box<ObjectOutput>),
}

/// A Parquet output on object storage: one object, or one per partition folder.
struct ObjectOutput {
    rt: Handle,
    store: Arc<dyn ObjectStore>,
    location: Location,
    spec: ParquetSinkSpec,
    layout: Option<Layout>,
    /// The columns each file holds (without the partition columns).
    columns: Vec<Column>,
    /// Open objects by partition folder (`""` when not partitioned).
    open: IndexMap<String, Encoder<std::io::BufWriter<Upload>>>,
}

impl ParquetSink {
    /// A local file (created now, beside its final path).
    pub fn create(spec: &ParquetSinkSpec, columns: &[Column]) -> Result<ParquetSink, SinkError> {
        let io = |e: std::io::Error| SinkError::Io {
            path: spec.path.clone(),
            source: e,
        };
        let mut file = AtomicFile::create(&spec.path).map_err(io)?;
        let encoder = Encoder::new(file.take_writer(), spec, columns)?;
        Ok(ParquetSink {
            out: Output::File { file, encoder },
            path: spec.path.clone(),
        })
    }

    /// An output on object storage: connects, and removes what an unfinished
    /// run left under the output's temporary prefix. Objects are created as rows come.
    pub async fn open_object(
        spec: &ParquetSinkSpec,
        location: Location,
        columns: &[Column],
    ) -> Result<ParquetSink, SinkError> {
        let conn = object::Connection {
            endpoint: spec.endpoint.clone(),
            region: spec.region.clone(),
        };
        let store = object::open_store(&location, &conn)?;
        let (layout, columns) = if spec.partition_by.is_empty() {
            (None, columns.to_vec())
        } else {
            let (layout, kept) = Layout::new(&spec.partition_by, columns, &partition::today()).map_err(|message| {
                SinkError::ObjectPath {
                    url: location.url(),
                    message,
                }
            })?;
            (Some(layout), kept)
        };
        object::clean_leftovers(store.as_ref(), &location).await?;
        Ok(ParquetSink {
            path: spec.path.clone(),
            out: Output::Object(Box::new(ObjectOutput {
                rt: Handle::current(),
                store,
                location,
                spec: spec.clone(),
                layout,
                columns,
                open: IndexMap::new(),
            })),
        })
    }

    pub fn write(&mut self, records: &[Record]) -> Result<(), SinkError> {
        match &mut self.out {
            Output::File { encoder, .. } => encoder.write(records),
            Output::Object(o) => o.write(records),
        }
    }

    /// Write rows given as one array per column, in the sink's column order
    /// (the columnar plane; an output that is not partitioned).
    pub fn write_arrays(&mut self, arrays: Vec<ArrayRef>) -> Result<(), SinkError> {
        match &mut self.out {
            Output::File { encoder, .. } => encoder.write_arrays(arrays),
            Output::Object(o) if o.layout.is_none() => o.encoder("")?.write_arrays(arrays),
            Output::Object(o) => Err(SinkError::ObjectPath {
                url: o.location.url(),
                message: "a partitioned output is written row by row, not as arrays".into(),
            }),
        }
    }

    /// Complete the output and move it into place (for object storage:
    /// complete the uploads, then publish; call off the async runtime).
    pub fn finish(self) -> Result<(), SinkError> {
        let path = self.path.clone();
        match self.out {
            Output::File { file, encoder } => {
                let inner = encoder.finish()?;
                file.commit(Some(inner))
                    .map_err(|source| SinkError::Io { path, source })
            }
            Output::Object(o) => {
                let rt = o.rt.clone();
                let staged = o.complete(&path)?;
                rt.block_on(staged.publish())
            }
        }
    }
}

impl ObjectOutput {
    fn write(&mut self, records: &[Record]) -> Result<(), SinkError> {
        let Some(layout) = &self.layout else {
            return self.encoder("")?.write(records);
        };
        // Rows keep their order within each partition.
        let mut by_folder: IndexMap<String, Vec<&Record>> = IndexMap::new();
        for rec in records {
            by_folder.entry(layout.folder(rec)).or_default().push(rec);
        }
        for (folder, rows) in by_folder {
            self.encoder(&folder)?.write(&rows)?;
        }
        Ok(())
    }

    /// The open object of a folder, started on its first row.
    fn encoder(&mut self, folder: &str) -> Result<&mut Encoder<std::io::BufWriter<Upload>>, SinkError> {
        if !self.open.contains_key(folder) {
            let (temp, final_key) = if folder.is_empty() {
                let name = self.location.key.rsplit('/').next().unwrap_or_default();
                (
                    format!("{}/{name}", self.location.temp_prefix()),
                    self.location.key.clone(),
                )
            } else {
                (
                    format!("{}/{folder}/{PART_FILE}", self.location.temp_prefix()),
                    format!("{}/{folder}/{PART_FILE}", self.location.key),
                )
            };
            let upload = Upload::new(
                self.rt.clone(),
                self.store.clone(),
                temp.as_str().into(),
                final_key.as_str().into(),
                self.spec.part_size_mib << 20,
            );
            let out = std::io::BufWriter::with_capacity(1 << 20, upload);
            let encoder = Encoder::new(out, &self.spec, &self.columns)?;
            self.open.insert(folder.to_string(), encoder);
        }
        Ok(self.open.get_mut(folder).expect("inserted above"))
    }

    /// Complete every upload: the run's objects exist whole under their temporary keys.
    fn complete(mut self, path: &Path) -> Result<Staged, SinkError> {
        let io = |source: std::io::Error| SinkError::Io {
            path: path.to_path_buf(),
            source,
        };
        if self.open.is_empty() && self.layout.is_none() {
            // No rows: the output is still a (valid, empty) Parquet file, as a local one would be.
            self.encoder("")?;
        }
        let mut objects = Vec::with_capacity(self.open.len());
        let mut open = std::mem::take(&mut self.open);
        for (_, encoder) in open.drain(..) {
            let upload = encoder.finish()?.into_inner().map_err(|e| io(e.into_error()))?;
            objects.push(upload.complete().map_err(io)?);
        }
        let replaces = match &self.layout {
            Some(layout) => vec![layout.replaces(&self.location.key)],
            None => Vec::new(),
        };
        Ok(Staged {
            store: self.store,
            location: self.location,
            objects,
            replaces,
            stale_name: PART_FILE.to_string(),
        })
    }
}

fn column_array<R: Borrow<Record>>(column: &Column, records: &[R], bytes_hint: &mut usize) -> ArrayRef {
    match &column.data_type {
        DataType::Int64 => {
            let mut b = Int64Builder::with_capacity(records.len());
            for rec in records.iter().map(Borrow::borrow) {
                b.append_option(if let Cell::I64(v) = column.cell(rec) { v } else { None });
            }
            Arc::new(b.finish())
        }
        DataType::Float64 => {
            let mut b = Float64Builder::with_capacity(records.len());
            for rec in records.iter().map(Borrow::borrow) {
                b.append_option(if let Cell::F64(v) = column.cell(rec) { v } else { None });
            }
            Arc::new(b.finish())
        }
        DataType::Boolean => {
            let mut b = BooleanBuilder::with_capacity(records.len());
            for rec in records.iter().map(Borrow::borrow) {
                b.append_option(if let Cell::Bool(v) = column.cell(rec) { v } else { None });
            }
            Arc::new(b.finish())
        }
        DataType::Timestamp(_, tz) => {
            let mut b = TimestampMicrosecondBuilder::with_capacity(records.len()).with_timezone_opt(tz.clone());
            for rec in records.iter().map(Borrow::borrow) {
                let v = if let Cell::Time(v) = column.cell(rec) { v } else { None };
                b.append_option(v.map(|s| (s * 1e6).round() as i64));
            }
            Arc::new(b.finish())
        }
        DataType::List(_) => {
            let mut b = ListBuilder::new(StringBuilder::new());
            for rec in records.iter().map(Borrow::borrow) {
                if let Cell::List(items) = column.cell(rec) {
                    for item in items {
                        b.values().append_value(item);
                    }
                }
                b.append(true);
            }
            Arc::new(b.finish())
        }
        DataType::UInt64 => {
            let mut b = UInt64Builder::with_capacity(records.len());
            for rec in records.iter().map(Borrow::borrow) {
                match column.cell(rec) {
                    Cell::U64(v) => b.append_value(v),
                    _ => b.append_null(),
                }
            }
            Arc::new(b.finish())
        }
        _ => {
            // Sized from the previous batch (plus slack), so the buffer rarely grows and copies.
            let mut b = StringBuilder::with_capacity(records.len(), *bytes_hint + *bytes_hint / 8);
            for rec in records.iter().map(Borrow::borrow) {
                match column.cell(rec) {
                    Cell::Str(v) => b.append_option(v),
                    _ => b.append_null(),
                }
            }
            let array = b.finish();
            *bytes_hint = array.value_data().len();
            Arc::new(array)
        }
    }
}
