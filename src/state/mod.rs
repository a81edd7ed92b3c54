//! The SQLite state store: runs, stage results, the call ledger, the
//! response cache and pending async jobs (DESIGN.md §3).
//!
//! Principle: store what cost money or time, recompute what is cheap. The
//! store is versioned (`PRAGMA user_version`) and runs in WAL mode. Writes
//! made during a run go through one writer thread ([`writer`]) that batches
//! them into transactions; reads use their own connections.

pub mod lock;
pub mod rates;
pub mod runs;
pub mod schema;
pub mod status;
pub mod writer;

use std::path::{Path, PathBuf};

use rusqlite::Connection;

pub use runs::{RunCounts, RunRecord, RunStart, RunStatus};

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("{path}: cannot open the state store: {message}")]
    Open { path: PathBuf, message: String },
    #[error("{path}: the state store was written by a newer leadpipe (schema {found}, this one knows up to {known})")]
    TooNew { path: PathBuf, found: i64, known: i64 },
    #[error("state store: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("state store writer has stopped")]
    WriterGone,
    #[error(
        "{path}: another leadpipe run is using this state file ({holder}); \
         let it finish or stop it (Ctrl-C), then run again"
    )]
    InUse { path: PathBuf, holder: String },
}

/// An open state file.
pub struct Store {
    path: PathBuf,
    conn: Connection,
}

impl Store {
    /// Open (creating the file and its directory if needed) and migrate.
    pub fn open(path: &Path) -> Result<Store, StateError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| StateError::Open {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?;
        }
        let conn = connect(path)?;
        schema::migrate(&conn, path)?;
        Ok(Store {
            path: path.to_path_buf(),
            conn,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn conn(&self) -> &Connection {
        &self.conn
    }
}

/// A connection with the pragmas every user of the store relies on.
pub fn connect(path: &Path) -> Result<Connection, StateError> {
    let conn = Connection::open(path).map_err(|e| StateError::Open {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    conn.busy_timeout(std::time::Duration::from_secs(30))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(conn)
}

/// Seconds since the Unix epoch, as stored in every timestamp column.
pub fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}
