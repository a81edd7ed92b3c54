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
use super::schema::{Cell, Column};
use crate::pipeline::record::Record;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParquetSinkSpec {
    pub path: PathBuf,
    /// Rows per row group.
    #[serde(default = "default_row_group_rows")]
    pub row_group_rows: usize,
    /// zstd level (1 fastest … 22 smallest).
    #[serde(default = "default_zstd_level")]
    pub zstd_level: i32,
}

fn default_row_group_rows() -> usize {
    262_144
}

fn default_zstd_level() -> i32 {
    1
}

pub struct ParquetSink {
    file: AtomicFile,
    writer: ArrowWriter<std::io::BufWriter<std::fs::File>>,
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
        let level = ZstdLevel::try_new(spec.zstd_level).map_err(|source| SinkError::ZstdLevel {
            path: spec.path.clone(),
            source,
        })?;
        let mut props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(level))
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
        let writer = ArrowWriter::try_new(file.take_writer(), schema.clone(), Some(props)).map_err(|source| {
            SinkError::Parquet {
                path: spec.path.clone(),
                source,
            }
        })?;
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
        let batch = RecordBatch::try_new(self.schema.clone(), arrays).map_err(|source| SinkError::Arrow {
            path: self.path.clone(),
            source,
        })?;
        self.writer.write(&batch).map_err(|source| SinkError::Parquet {
            path: self.path.clone(),
            source,
        })
    }

    pub fn finish(self) -> Result<(), SinkError> {
        let path = self.path.clone();
        let inner = self.writer.into_inner().map_err(|source| SinkError::Parquet {
            path: path.clone(),
            source,
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
