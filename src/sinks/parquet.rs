//! `kind = "parquet"`: typed columns, zstd, row groups sized for warehouses.
//! The file exists at its path only after a complete run (see `atomic`).

use std::path::PathBuf;
use std::sync::Arc;

use arrow_array::builder::{
    BooleanBuilder, Float64Builder, Int64Builder, ListBuilder, StringBuilder, TimestampMicrosecondBuilder,
    UInt64Builder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;
use serde::Deserialize;

use super::SinkError;
use super::atomic::AtomicFile;
use super::encode::ParallelWriter;
use super::schema::{Cell, Column};
use super::select::Selection;
use crate::pipeline::record::Record;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParquetSinkSpec {
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

pub struct ParquetSink {
    file: AtomicFile,
    writer: ParallelWriter,
    schema: SchemaRef,
    columns: Vec<Column>,
    /// Bytes each column's values took in the previous batch: the next batch's buffer size.
    bytes_hint: Vec<usize>,
    path: PathBuf,
}

impl ParquetSink {
    pub fn create(spec: &ParquetSinkSpec, columns: &[Column]) -> Result<ParquetSink, SinkError> {
        let io = |e: std::io::Error| SinkError::Io {
            path: spec.path.clone(),
            source: e,
        };
        let mut file = AtomicFile::create(&spec.path).map_err(io)?;
        let schema = Arc::new(Schema::new(
            columns
                .iter()
                .map(|c| Field::new(&c.name, c.data_type.clone(), c.nullable))
                .collect::<Vec<_>>(),
        ));
        let codec = spec
            .codec()
            .map_err(|(key, e)| SinkError::Config(format!("{key}: {e}")))?;
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
        let props = props.build();
        let parquet_err = |e: parquet::errors::ParquetError| SinkError::Parquet {
            path: spec.path.clone(),
            message: e.to_string(),
        };
        let writer = ArrowWriter::try_new(file.take_writer(), schema.clone(), Some(props)).map_err(parquet_err)?;
        let threads = std::thread::available_parallelism().map_or(1, usize::from);
        let writer =
            ParallelWriter::new(writer, schema.clone(), spec.row_group_rows.max(1), threads).map_err(parquet_err)?;
        Ok(ParquetSink {
            file,
            writer,
            schema,
            columns: columns.to_vec(),
            bytes_hint: vec![0; columns.len()],
            path: spec.path.clone(),
        })
    }

    pub fn write(&mut self, records: &[Record]) -> Result<(), SinkError> {
        if records.is_empty() {
            return Ok(());
        }
        let arrays: Vec<ArrayRef> = self
            .columns
            .iter()
            .zip(self.bytes_hint.iter_mut())
            .map(|(c, hint)| column_array(c, records, hint))
            .collect();
        let batch = RecordBatch::try_new(self.schema.clone(), arrays).map_err(|e| SinkError::Parquet {
            path: self.path.clone(),
            message: e.to_string(),
        })?;
        self.writer.write(&batch).map_err(|e| SinkError::Parquet {
            path: self.path.clone(),
            message: e.to_string(),
        })
    }

    pub fn finish(self) -> Result<(), SinkError> {
        let path = self.path.clone();
        let inner = self.writer.into_inner().map_err(|e| SinkError::Parquet {
            path: path.clone(),
            message: e.to_string(),
        })?;
        self.file
            .commit(Some(inner))
            .map_err(|source| SinkError::Io { path, source })
    }
}

fn column_array(column: &Column, records: &[Record], bytes_hint: &mut usize) -> ArrayRef {
    match &column.data_type {
        DataType::Int64 => {
            let mut b = Int64Builder::with_capacity(records.len());
            for rec in records {
                b.append_option(if let Cell::I64(v) = column.cell(rec) { v } else { None });
            }
            Arc::new(b.finish())
        }
        DataType::Float64 => {
            let mut b = Float64Builder::with_capacity(records.len());
            for rec in records {
                b.append_option(if let Cell::F64(v) = column.cell(rec) { v } else { None });
            }
            Arc::new(b.finish())
        }
        DataType::Boolean => {
            let mut b = BooleanBuilder::with_capacity(records.len());
            for rec in records {
                b.append_option(if let Cell::Bool(v) = column.cell(rec) { v } else { None });
            }
            Arc::new(b.finish())
        }
        DataType::Timestamp(_, tz) => {
            let mut b = TimestampMicrosecondBuilder::with_capacity(records.len()).with_timezone_opt(tz.clone());
            for rec in records {
                let v = if let Cell::Time(v) = column.cell(rec) { v } else { None };
                b.append_option(v.map(|s| (s * 1e6).round() as i64));
            }
            Arc::new(b.finish())
        }
        DataType::List(_) => {
            let mut b = ListBuilder::new(StringBuilder::new());
            for rec in records {
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
            for rec in records {
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
            for rec in records {
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
