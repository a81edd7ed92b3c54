//! The SQLite state store: runs, stage results, the call ledger, the
//! response cache and pending async jobs.
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
    #[error("{path}: cannot open the state store: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("{path}: cannot create the state store's directory: {source}")]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: cannot open the state store's lock file: {source}")]
    Lock {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("state store: cannot start the writer thread: {0}")]
    Thread(#[source] std::io::Error),
    #[error("state store: a commit failed: {0}")]
    Commit(#[source] std::sync::Arc<rusqlite::Error>),
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
            std::fs::create_dir_all(dir).map_err(|source| StateError::CreateDir {
                path: path.to_path_buf(),
                source,
            })?;
        }
        // A file that is not a SQLite database fails only here, at the first read: say which file.
        let at_path = |e| match e {
            StateError::Sql(source) => StateError::Open {
                path: path.to_path_buf(),
                source,
            },
            e => e,
        };
        let conn = connect(path).map_err(at_path)?;
        schema::migrate(&conn, path).map_err(at_path)?;
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
    let conn = Connection::open(path).map_err(|source| StateError::Open {
        path: path.to_path_buf(),
        source,
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
