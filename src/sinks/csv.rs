//! `kind = "csv"`: the same columns as Parquet, as text, in input order.

use std::path::PathBuf;

use serde::Deserialize;

use super::SinkError;
use super::atomic::AtomicFile;
use super::schema::{Cell, Column};
use crate::record::Record;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CsvSinkSpec {
    pub path: PathBuf,
    /// Field delimiter (one ASCII character).
    #[serde(default = "default_delimiter")]
    pub delimiter: char,
    /// Which output columns, in which order and under which names (default: all).
    #[serde(default)]
    pub columns: Option<super::select::Selection>,
}

fn default_delimiter() -> char {
    ','
}

impl CsvSinkSpec {
    pub fn check(&self) -> Vec<(&'static str, String)> {
        if !self.delimiter.is_ascii() || matches!(self.delimiter, '"' | '\n' | '\r') {
            let message = format!("{:?} is not a usable single ASCII character", self.delimiter);
            return vec![("delimiter", message)];
        }
        Vec::new()
    }
}

pub struct CsvSink {
    writer: csv::Writer<AtomicFile>,
    columns: Vec<Column>,
    path: PathBuf,
    scratch: itoa_buf::Buf,
}

impl CsvSink {
    pub fn create(spec: &CsvSinkSpec, columns: &[Column]) -> Result<CsvSink, SinkError> {
        let file = AtomicFile::create(&spec.path).map_err(|source| SinkError::Io {
            path: spec.path.clone(),
            source,
        })?;
        let mut writer = csv::WriterBuilder::new()
            .delimiter(spec.delimiter as u8)
            .from_writer(file);
        writer
            .write_record(columns.iter().map(|c| c.name.as_str()))
            .map_err(|source| SinkError::Csv {
                path: spec.path.clone(),
                source,
            })?;
        Ok(CsvSink {
            writer,
            columns: columns.to_vec(),
            path: spec.path.clone(),
            scratch: itoa_buf::Buf::default(),
        })
    }

    pub fn write(&mut self, records: &[Record]) -> Result<(), SinkError> {
        for rec in records {
            for column in &self.columns {
                let text;
                let field: &[u8] = match column.cell(rec) {
                    Cell::Str(v) => v.unwrap_or("").as_bytes(),
                    Cell::U64(v) => self.scratch.format(v),
                    Cell::I64(v) => {
                        text = v.map(|v| v.to_string()).unwrap_or_default();
                        text.as_bytes()
                    }
                    Cell::F64(v) => {
                        text = v.map(|v| v.to_string()).unwrap_or_default();
                        text.as_bytes()
                    }
                    Cell::Bool(v) => v.map_or(&b""[..], |b| if b { b"true" } else { b"false" }),
                    Cell::Time(v) => {
                        text = v.map(rfc3339).unwrap_or_default();
                        text.as_bytes()
                    }
                    // Lists as one field, items separated by `|` (CSV has no list type).
                    Cell::List(items) => {
                        text = items.join("|");
                        text.as_bytes()
                    }
                };
                self.writer.write_field(field).map_err(|source| SinkError::Csv {
                    path: self.path.clone(),
                    source,
                })?;
            }
            self.writer
                .write_record(None::<&[u8]>)
                .map_err(|source| SinkError::Csv {
                    path: self.path.clone(),
                    source,
                })?;
        }
        Ok(())
    }

    pub fn finish(self) -> Result<(), SinkError> {
        let path = self.path.clone();
        let file = self.writer.into_inner().map_err(|e| SinkError::Io {
            path: path.clone(),
            source: e.into_error(),
        })?;
        file.commit(None).map_err(|source| SinkError::Io { path, source })
    }
}

/// Unix seconds as an RFC 3339 UTC timestamp with milliseconds.
fn rfc3339(secs: f64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs_f64(secs.max(0.0));
    humantime::format_rfc3339_millis(t).to_string()
}

/// Integer formatting without allocation.
mod itoa_buf {
    #[derive(Default)]
    pub struct Buf([u8; 20]);

    impl Buf {
        pub fn format(&mut self, mut v: u64) -> &[u8] {
            let mut i = self.0.len();
            loop {
                i -= 1;
                self.0[i] = b'0' + (v % 10) as u8;
                v /= 10;
                if v == 0 {
                    break;
                }
            }
            &self.0[i..]
        }
    }
}
