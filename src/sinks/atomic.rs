//! Output files that appear whole or not at all: written to a hidden
//! temporary file beside the target, renamed into place on success.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

pub struct AtomicFile {
    target: PathBuf,
    temp: PathBuf,
    writer: Option<BufWriter<File>>,
}

impl AtomicFile {
    pub fn create(target: &Path) -> io::Result<AtomicFile> {
        if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let name = target
            .file_name()
            .ok_or_else(|| io::Error::other("output path has no file name"))?;
        let temp = target.with_file_name(format!(".{}.partial", name.to_string_lossy()));
        let file = File::create(&temp)?;
        Ok(AtomicFile {
            target: target.to_path_buf(),
            temp,
            writer: Some(BufWriter::with_capacity(1 << 20, file)),
        })
    }

    pub fn writer(&mut self) -> &mut BufWriter<File> {
        self.writer.as_mut().expect("open until committed")
    }

    /// Take the buffered file (for writers that own it, such as Parquet's), keeping the rename duty.
    pub fn take_writer(&mut self) -> BufWriter<File> {
        self.writer.take().expect("open until committed")
    }

    /// Flush, sync and move into place.
    pub fn commit(mut self, writer: Option<BufWriter<File>>) -> io::Result<()> {
        let writer = writer.or_else(|| self.writer.take()).expect("a writer to commit");
        let file = writer.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        std::fs::rename(&self.temp, &self.target)?;
        self.temp = PathBuf::new();
        Ok(())
    }
}

impl Drop for AtomicFile {
    /// An uncommitted file (interrupted or failed run) is removed, never renamed.
    fn drop(&mut self) {
        if !self.temp.as_os_str().is_empty() {
            drop(self.writer.take());
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.writer().write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.writer().flush()
    }
}
