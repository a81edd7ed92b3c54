//! The side files of a run: rejected rows (line, reason, original fields)
//! and dropped duplicates (dropped row → kept row). Both are rectangular CSV
//! that any reader takes as it is.

use std::path::{Path, PathBuf};

use super::SinkError;
use super::atomic::AtomicFile;
use crate::record::{Duplicate, Reject};

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
        let writer = csv::Writer::from_writer(file);
        let mut side = SideFile {
            writer,
            path: path.to_path_buf(),
        };
        side.writer.write_record(header).map_err(|e| side.err(e))?;
        Ok(side)
    }

    /// `line,row_id,reason,fields`: `fields` is the row's original fields (as
    /// far as they could be read) as one CSV line, however many there were.
    pub fn rejects(path: &Path) -> Result<SideFile, SinkError> {
        SideFile::create(path, &["line", "row_id", "reason", "fields"])
    }

    /// `line,row_id,kept_line,kept_row_id,key`.
    pub fn duplicates(path: &Path) -> Result<SideFile, SinkError> {
        SideFile::create(path, &["line", "row_id", "kept_line", "kept_row_id", "key"])
    }

    fn err(&self, source: csv::Error) -> SinkError {
        SinkError::Csv {
            path: self.path.clone(),
            source,
        }
    }

    pub fn write_reject(&mut self, r: &Reject) -> Result<(), SinkError> {
        let fields = csv_line(&r.fields).map_err(|e| self.err(e))?;
        let row = [r.line.to_string(), r.id.to_string(), r.reason.clone(), fields];
        self.writer.write_record(&row).map_err(|e| self.err(e))
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
        let file = self.writer.into_inner().map_err(|e| SinkError::Io {
            path: path.clone(),
            source: e.into_error(),
        })?;
        file.commit(None).map_err(|source| SinkError::Io { path, source })
    }
}

/// `fields` as one CSV line, without its line end (empty for no fields).
fn csv_line(fields: &[String]) -> Result<String, csv::Error> {
    if fields.is_empty() {
        return Ok(String::new());
    }
    // A small buffer: the default (8 KiB, zeroed) cost more than writing the line.
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .buffer_capacity(256)
        .from_writer(Vec::new());
    w.write_record(fields)?;
    let mut line = w.into_inner().map_err(|e| e.into_error())?;
    line.pop();
    Ok(String::from_utf8(line).expect("fields are text"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_become_one_cell_that_reads_back() {
        let fields: Vec<String> = ["a@b.com", "Bob, Jr.", "say \"hi\"", ""].map(String::from).into();
        let line = csv_line(&fields).unwrap();
        assert_eq!(line, r#"a@b.com,"Bob, Jr.","say ""hi""","#);
        let back = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(line.as_bytes())
            .records()
            .next()
            .unwrap()
            .unwrap();
        assert_eq!(back.iter().collect::<Vec<_>>(), fields);
        assert_eq!(csv_line(&[]).unwrap(), "");
    }
}
