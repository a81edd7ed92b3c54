//! The state store's schema and its migrations, one per `user_version`.

use std::path::Path;

use rusqlite::Connection;

use super::StateError;

/// Each entry moves the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: the first schema.
    r#"
    CREATE TABLE runs (
        id                INTEGER PRIMARY KEY,
        pipeline          TEXT NOT NULL,
        pipeline_hash     TEXT NOT NULL,
        input_fingerprint TEXT NOT NULL,
        status            TEXT NOT NULL,   -- running | interrupted | done | failed | vendor_stopped | budget_reached
        started_at        REAL NOT NULL,
        updated_at        REAL NOT NULL,
        finished_at       REAL,
        attempts          INTEGER NOT NULL DEFAULT 1,
        rows_in           INTEGER NOT NULL DEFAULT 0,
        rows_out          INTEGER NOT NULL DEFAULT 0,
        rows_rejected     INTEGER NOT NULL DEFAULT 0,
        rows_duplicate    INTEGER NOT NULL DEFAULT 0,
        rows_failed       INTEGER NOT NULL DEFAULT 0,
        report            TEXT
    );
    CREATE INDEX runs_by_pipeline ON runs (pipeline, id);

    -- Per record and stage: what the stage obtained, or why it failed.
    CREATE TABLE stage_results (
        run_id     INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        stage      TEXT NOT NULL,
        record_id  INTEGER NOT NULL,
        outcome    TEXT NOT NULL,           -- ok | failed | skipped
        fields     TEXT,                    -- JSON of the stage's fields
        reason     TEXT,
        at         REAL NOT NULL,
        PRIMARY KEY (run_id, stage, record_id)
    ) WITHOUT ROWID;

    -- Every paid call: intent before, outcome after.
    CREATE TABLE ledger (
        id           INTEGER PRIMARY KEY,
        run_id       INTEGER,
        provider     TEXT NOT NULL,
        endpoint     TEXT NOT NULL,
        request_key  TEXT NOT NULL,
        state        TEXT NOT NULL,         -- intent | done | failed
        http_status  INTEGER,
        credits      REAL NOT NULL DEFAULT 0,
        started_at   REAL NOT NULL,
        finished_at  REAL,
        error        TEXT
    );
    CREATE INDEX ledger_by_request ON ledger (provider, request_key);
    CREATE INDEX ledger_by_run ON ledger (run_id, provider);

    -- Answers by provider and canonical request, shared across runs and pipelines.
    CREATE TABLE cache (
        provider     TEXT NOT NULL,
        request_key  TEXT NOT NULL,
        found        INTEGER NOT NULL,
        response     TEXT NOT NULL,
        fetched_at   REAL NOT NULL,
        expires_at   REAL NOT NULL,
        PRIMARY KEY (provider, request_key)
    ) WITHOUT ROWID;

    -- Async work already paid for and not yet collected.
    CREATE TABLE pending_jobs (
        provider     TEXT NOT NULL,
        job_id       TEXT NOT NULL,
        kind         TEXT NOT NULL,
        run_id       INTEGER,
        request_key  TEXT,
        payload      TEXT,
        state        TEXT NOT NULL,         -- pending | delivered | done | failed
        created_at   REAL NOT NULL,
        deadline     REAL,
        PRIMARY KEY (provider, job_id)
    ) WITHOUT ROWID;

    -- Webhook payloads, stored before they are acknowledged.
    CREATE TABLE webhook_deliveries (
        provider     TEXT NOT NULL,
        delivery_key TEXT NOT NULL,
        payload      TEXT NOT NULL,
        received_at  REAL NOT NULL,
        PRIMARY KEY (provider, delivery_key)
    ) WITHOUT ROWID;
    "#,
    // 2: who paid for a cached answer, so a run resumed after a crash charges
    // the same row as an uninterrupted run and writes the same provenance.
    r#"
    ALTER TABLE cache ADD COLUMN run_id INTEGER;
    ALTER TABLE cache ADD COLUMN row_id INTEGER;
    ALTER TABLE cache ADD COLUMN credits REAL NOT NULL DEFAULT 0;
    "#,
    // 3: answers are appended in the order they arrive, found by a small
    // index. Keyed by request, each commit of a busy run rewrote most of the
    // cache's pages (new keys land all over a key-ordered table, and whole
    // answers sit in its pages); appended, it writes only the new pages and
    // the index's. The ledger loses its index by request, which no query
    // used and which cost the same scattered writes on every paid call.
    r#"
    CREATE TABLE cache_appended (
        id           INTEGER PRIMARY KEY,
        provider     TEXT NOT NULL,
        request_key  TEXT NOT NULL,
        found        INTEGER NOT NULL,
        response     TEXT NOT NULL,
        fetched_at   REAL NOT NULL,
        expires_at   REAL NOT NULL,
        run_id       INTEGER,
        row_id       INTEGER,
        credits      REAL NOT NULL DEFAULT 0
    );
    INSERT INTO cache_appended (provider, request_key, found, response, fetched_at, expires_at, run_id, row_id, credits)
        SELECT provider, request_key, found, response, fetched_at, expires_at, run_id, row_id, credits
        FROM cache ORDER BY fetched_at;
    DROP TABLE cache;
    ALTER TABLE cache_appended RENAME TO cache;
    CREATE UNIQUE INDEX cache_by_request ON cache (provider, request_key);
    DROP INDEX ledger_by_request;
    "#,
    // 4: rate windows and quota usage outlive the process: when each request
    // to a vendor key went out (within the key's longest window) and until
    // when a 429 paused it, so a resumed run, or the next day's against a
    // daily quota, starts with the windows the vendor still counts.
    r#"
    CREATE TABLE rate_slots (
        vendor  TEXT NOT NULL,
        key     TEXT NOT NULL,          -- a hash of the API key, never the key
        sent_at REAL NOT NULL
    );
    CREATE INDEX rate_slots_by_key ON rate_slots (vendor, key, sent_at);
    CREATE TABLE rate_pauses (
        vendor  TEXT NOT NULL,
        key     TEXT NOT NULL,
        until   REAL NOT NULL,
        PRIMARY KEY (vendor, key)
    ) WITHOUT ROWID;
    "#,
    // 5: budgets. Every paid request's worst-case cost is reserved here
    // (durably) before it is sent, and settled to what it cost once known,
    // so a killed run's requests on the wire still count at their worst
    // case. Run, day and month spending are sums over this table.
    r#"
    CREATE TABLE spending (
        id        INTEGER PRIMARY KEY,
        run_id    INTEGER,
        provider  TEXT NOT NULL,
        endpoint  TEXT NOT NULL,
        reserved  REAL NOT NULL,   -- the worst case, held until settled
        credits   REAL,            -- what it cost; NULL while unknown (in flight, or cut short by a kill)
        at        REAL NOT NULL    -- when it was reserved (the budget clock)
    );
    CREATE INDEX spending_by_provider ON spending (provider, at);
    CREATE INDEX spending_by_run ON spending (run_id, provider);
    "#,
];

pub const VERSION: i64 = MIGRATIONS.len() as i64;

pub fn migrate(conn: &Connection, path: &Path) -> Result<(), StateError> {
    let found: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if found > VERSION {
        return Err(StateError::TooNew {
            path: path.to_path_buf(),
            found,
            known: VERSION,
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let tx = conn.unchecked_transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_version_2_cache_keeps_its_answers_and_replaces_by_request() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let conn = Connection::open(&path).unwrap();
        for sql in &MIGRATIONS[..2] {
            conn.execute_batch(sql).unwrap();
        }
        conn.pragma_update(None, "user_version", 2).unwrap();
        conn.execute(
            "INSERT INTO cache (provider, request_key, found, response, fetched_at, expires_at, run_id, row_id, credits)
             VALUES ('rocketreach', 'email=a@b.com', 1, '{\"id\":7}', 1.0, 2.0, 1, 3, 1.0)",
            [],
        )
        .unwrap();

        migrate(&conn, &path).unwrap();

        let row = |key: &str| -> (String, i64) {
            conn.query_row(
                "SELECT response, row_id FROM cache WHERE provider = 'rocketreach' AND request_key = ?1",
                [key],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap()
        };
        assert_eq!(row("email=a@b.com"), (r#"{"id":7}"#.to_string(), 3));
        // The writer's `INSERT OR REPLACE` still keeps one answer per request.
        conn.execute(
            "INSERT OR REPLACE INTO cache (provider, request_key, found, response, fetched_at, expires_at, run_id, row_id, credits)
             VALUES ('rocketreach', 'email=a@b.com', 1, '{\"id\":8}', 3.0, 4.0, 2, 5, 1.0)",
            [],
        )
        .unwrap();
        assert_eq!(row("email=a@b.com"), (r#"{"id":8}"#.to_string(), 5));
        let n: i64 = conn.query_row("SELECT count(*) FROM cache", [], |r| r.get(0)).unwrap();
        assert_eq!(n, 1);
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
        assert_eq!(version, VERSION);
    }
}
