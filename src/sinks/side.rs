//! The side files of a run: rejected rows (line, reason, original fields)
//! and dropped duplicates (dropped row → kept row).

use std::path::{Path, PathBuf};

use super::SinkError;
use super::atomic::AtomicFile;
use crate::pipeline::record::{Duplicate, Reject};

pub struct SideFile {
    writer: csv::Writer<AtomicFile>,
    path: PathBuf,
}

impl SideFile {
    fn create(path: &Path, header: &[&str]) -> Result<SideFile, SinkError> {
        let file = AtomicFile::create(path).map_err(|source| SinkError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let writer = csv::WriterBuilder::new().flexible(true).from_writer(file);
        let mut side = SideFile {
            writer,
            path: path.to_path_buf(),
        };
        side.writer.write_record(header).map_err(|e| side.err(e))?;
        Ok(side)
    }

    /// `line,row_id,reason,fields…` (the original fields as far as they could be read).
    pub fn rejects(path: &Path) -> Result<SideFile, SinkError> {
        SideFile::create(path, &["line", "row_id", "reason", "fields"])
    }

    /// `line,row_id,kept_line,kept_row_id,key`.
    pub fn duplicates(path: &Path) -> Result<SideFile, SinkError> {
        SideFile::create(path, &["line", "row_id", "kept_line", "kept_row_id", "key"])
    }

    fn err(&self, e: csv::Error) -> SinkError {
        SinkError::Csv {
            path: self.path.clone(),
            message: e.to_string(),
        }
    }

    pub fn write_reject(&mut self, r: &Reject) -> Result<(), SinkError> {
        let head = [r.line.to_string(), r.id.to_string(), r.reason.clone()];
        let res = self.writer.write_record(
            head.iter()
                .map(String::as_str)
                .chain(r.fields.iter().map(String::as_str)),
        );
        res.map_err(|e| self.err(e))
    }

    pub fn write_duplicate(&mut self, d: &Duplicate) -> Result<(), SinkError> {
        let row = [
            d.line.to_string(),
            d.id.to_string(),
            d.kept_line.to_string(),
            d.kept_id.to_string(),
            d.key.clone(),
        ];
        self.writer.write_record(&row).map_err(|e| self.err(e))
    }

    pub fn finish(self) -> Result<(), SinkError> {
        let path = self.path.clone();
        let file = self.writer.into_inner().map_err(|e| SinkError::Csv {
            path: path.clone(),
            message: e.to_string(),
        })?;
        file.commit(None).map_err(|source| SinkError::Io { path, source })
    }
}
