//! The crate's one lock policy: a poisoned lock is taken over, not a panic.
//!
//! A lock is poisoned when a thread panicked while holding it. Every value
//! behind a `std::sync` lock in leadpipe is whole after each statement that
//! changes it (counters, maps of waiters and claims, rate windows, a SQLite
//! connection whose open transaction rolls back), so the next holder can use
//! it as it is; the panic itself already fails its row or its run. Turning
//! one panic into a panic in every later holder would only hide the first.
//! Every `Mutex`/`RwLock` in the crate is taken through these functions;
//! async locks (`tokio::sync`) do not poison.

use std::sync::{Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Lock `m`, taking it over if a panicking holder poisoned it.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Read-lock `l`, taking it over if poisoned.
pub fn read_lock<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(PoisonError::into_inner)
}

/// Write-lock `l`, taking it over if poisoned.
pub fn write_lock<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_poisoned_lock_is_taken_over_with_its_value() {
        let m = std::sync::Arc::new(Mutex::new(vec![1]));
        let m2 = m.clone();
        let _ = std::thread::spawn(move || {
            let mut g = m2.lock().unwrap();
            g.push(2);
            panic!("holder dies");
        })
        .join();
        assert!(m.is_poisoned());
        assert_eq!(*lock(&m), vec![1, 2]);
    }
}
