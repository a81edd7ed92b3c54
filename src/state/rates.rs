//! Remembered rate windows: when each request to a vendor key went out, and
//! until when a 429 paused the key, kept in the state store so that a new
//! process (a resumed run, or the next day's run against a daily quota)
//! starts with the windows the vendor still counts instead of empty ones.
//!
//! Owns the `rate_slots` and `rate_pauses` tables: a row per request sent
//! (written by the state writer, [`super::writer::Op::RateSlot`]), kept for
//! the key's longest window and deleted after it. Keys are named by a hash.
//! The windows themselves are `vendors::http::limits`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{OptionalExtension, params};

use super::{StateError, Store, now};

/// What a vendor key's windows still hold from earlier processes.
#[derive(Debug, Default, PartialEq)]
pub struct Remembered {
    /// When its requests went out, oldest first, within the longest window.
    pub sent: Vec<SystemTime>,
    /// A pause not over yet.
    pub paused_until: Option<SystemTime>,
}

fn time(secs: f64) -> SystemTime {
    UNIX_EPOCH + Duration::try_from_secs_f64(secs.max(0.0)).unwrap_or_default()
}

impl Store {
    /// The requests `vendor` key `key` sent within `longest` before now, and
    /// its pause if one is still on; older slots and pauses are deleted.
    pub fn remembered_rates(&self, vendor: &str, key: &str, longest: Duration) -> Result<Remembered, StateError> {
        let t = now();
        let since = t - longest.as_secs_f64();
        let conn = self.conn();
        conn.execute(
            "DELETE FROM rate_slots WHERE vendor = ?1 AND key = ?2 AND sent_at <= ?3",
            params![vendor, key, since],
        )?;
        conn.execute(
            "DELETE FROM rate_pauses WHERE vendor = ?1 AND key = ?2 AND until <= ?3",
            params![vendor, key, t],
        )?;
        let mut stmt = conn.prepare(
            "SELECT sent_at FROM rate_slots WHERE vendor = ?1 AND key = ?2 AND sent_at > ?3 ORDER BY sent_at",
        )?;
        let sent = stmt
            .query_map(params![vendor, key, since], |r| r.get::<_, f64>(0))?
            .map(|r| r.map(time))
            .collect::<Result<_, _>>()?;
        let paused_until = conn
            .query_row(
                "SELECT until FROM rate_pauses WHERE vendor = ?1 AND key = ?2",
                params![vendor, key],
                |r| r.get::<_, f64>(0),
            )
            .optional()?
            .map(time);
        Ok(Remembered { sent, paused_until })
    }
}

/// Seconds since the Unix epoch of `t`, as the tables store it.
pub fn secs(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::state::writer::{Op, Writer};

    #[tokio::test]
    async fn slots_within_the_longest_window_and_a_pause_still_on_are_remembered() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let store = Store::open(&path).unwrap();
        let writer = Writer::spawn(&path).unwrap();
        let key: Arc<str> = Arc::from("k1");
        let t = now();
        for (vendor, key, sent_at) in [
            ("rocketreach", key.clone(), t - 7200.0), // older than the hour: forgotten
            ("rocketreach", key.clone(), t - 30.0),
            ("rocketreach", key.clone(), t - 1.0),
            ("rocketreach", Arc::from("k2"), t - 1.0), // another key
            ("graph8", key.clone(), t - 1.0),          // another vendor
        ] {
            writer.handle().send(Op::RateSlot { vendor, key, sent_at });
        }
        writer.handle().send(Op::RatePause {
            vendor: "rocketreach",
            key: key.clone(),
            until: t + 60.0,
        });
        writer.handle().flush().await.unwrap();
        let r = store
            .remembered_rates("rocketreach", "k1", Duration::from_secs(3600))
            .unwrap();
        assert_eq!(
            r.sent.iter().map(|&s| (t - secs(s)).round()).collect::<Vec<_>>(),
            [30.0, 1.0]
        );
        assert_eq!(r.paused_until.map(|p| (secs(p) - t).round()), Some(60.0));
        let left: i64 = store
            .conn()
            .query_row("SELECT count(*) FROM rate_slots", [], |r| r.get(0))
            .unwrap();
        assert_eq!(left, 4, "the slot older than the window is deleted");
        writer.close().unwrap();
    }
}
