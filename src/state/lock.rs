//! One run per state file at a time: an advisory lock on `<state>.lock`,
//! taken before a run touches the store and held until the process ends
//! (the operating system releases it however the process ends, kill -9
//! included). Two runs of one state file would both resume the same run and
//! buy its answers twice. `status` asks the lock whether a run is in
//! progress, to tell it from one that was killed. This module owns the lock
//! file and nothing in the store.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use super::StateError;

/// Held for the whole run; dropping it releases the state file.
#[derive(Debug)]
pub struct RunLock {
    _file: File,
}

fn lock_path(state: &Path) -> PathBuf {
    let mut name = state.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// Takes the state file's lock, or says which process holds it.
pub fn acquire(state: &Path) -> Result<RunLock, StateError> {
    let path = lock_path(state);
    let open_err = |source: std::io::Error| StateError::Lock {
        path: path.clone(),
        source,
    };
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(open_err)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            return Err(StateError::InUse {
                path: state.to_path_buf(),
                holder: holder.trim().to_string(),
            });
        }
        Err(TryLockError::Error(e)) => return Err(open_err(e)),
    }
    // Who holds it, for the message another run prints.
    let _ = file.set_len(0).and_then(|()| file.rewind());
    let _ = write!(file, "pid {}", std::process::id());
    Ok(RunLock { _file: file })
}

/// Whether a run holds the state file now.
pub fn held(state: &Path) -> bool {
    let Ok(file) = File::open(lock_path(state)) else {
        return false;
    };
    matches!(file.try_lock_shared(), Err(TryLockError::WouldBlock))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_run_is_refused_while_the_first_holds_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("s.db");
        assert!(!held(&state));
        let first = acquire(&state).unwrap();
        assert!(held(&state));
        let err = acquire(&state).unwrap_err().to_string();
        assert!(
            err.contains("another leadpipe run") && err.contains(&format!("pid {}", std::process::id())),
            "{err}"
        );
        drop(first);
        assert!(!held(&state));
        acquire(&state).unwrap();
    }
}
