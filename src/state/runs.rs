//! Runs: which run a `leadpipe run` continues or starts, and how it ended.

use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::{StateError, Store, now};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Running,
    Interrupted,
    Done,
    Failed,
    VendorStopped,
    /// A `[budget]` cap stopped it; resumed once the budget allows more.
    BudgetReached,
    Abandoned,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Interrupted => "interrupted",
            RunStatus::Done => "done",
            RunStatus::Failed => "failed",
            RunStatus::VendorStopped => "vendor_stopped",
            RunStatus::BudgetReached => "budget_reached",
            RunStatus::Abandoned => "abandoned",
        }
    }

    pub fn parse(s: &str) -> RunStatus {
        match s {
            "running" => RunStatus::Running,
            "interrupted" => RunStatus::Interrupted,
            "done" => RunStatus::Done,
            "vendor_stopped" => RunStatus::VendorStopped,
            "budget_reached" => RunStatus::BudgetReached,
            "abandoned" => RunStatus::Abandoned,
            _ => RunStatus::Failed,
        }
    }

    /// A run in this state is continued by the next `leadpipe run`.
    pub fn resumable(self) -> bool {
        matches!(
            self,
            RunStatus::Running
                | RunStatus::Interrupted
                | RunStatus::VendorStopped
                | RunStatus::BudgetReached
                | RunStatus::Failed
        )
    }
}

/// A row of the runs table.
#[derive(Debug, Clone, Serialize)]
pub struct RunRecord {
    pub id: i64,
    pub pipeline: String,
    pub pipeline_hash: String,
    pub input_fingerprint: String,
    pub status: RunStatus,
    pub started_at: f64,
    pub finished_at: Option<f64>,
    pub attempts: i64,
    pub counts: RunCounts,
}

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct RunCounts {
    pub rows_in: u64,
    pub rows_out: u64,
    pub rows_rejected: u64,
    pub rows_duplicate: u64,
    pub rows_failed: u64,
}

/// What `begin_run` decided.
#[derive(Debug)]
pub enum RunStart {
    New {
        run_id: i64,
    },
    Resumed {
        run_id: i64,
        attempts: i64,
    },
    /// An unfinished run of this pipeline used another pipeline file or input.
    Conflict {
        run: RunRecord,
        pipeline_changed: bool,
        input_changed: bool,
    },
}

impl Store {
    pub fn latest_run(&self, pipeline: &str) -> Result<Option<RunRecord>, StateError> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!("{SELECT_RUN} WHERE pipeline = ?1 ORDER BY id DESC LIMIT 1"))?;
        Ok(stmt.query_row([pipeline], run_from_row).optional()?)
    }

    pub fn runs(&self) -> Result<Vec<RunRecord>, StateError> {
        let mut stmt = self.conn.prepare(&format!("{SELECT_RUN} ORDER BY id"))?;
        let rows = stmt.query_map([], run_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Continue the unfinished run of this pipeline and input, or start one.
    pub fn begin_run(
        &self,
        pipeline: &str,
        pipeline_hash: &str,
        input: &str,
        fresh: bool,
    ) -> Result<RunStart, StateError> {
        let t = now();
        if let Some(run) = self.latest_run(pipeline)?.filter(|r| r.status.resumable()) {
            let pipeline_changed = run.pipeline_hash != pipeline_hash;
            let input_changed = run.input_fingerprint != input;
            if fresh {
                self.conn.execute(
                    "UPDATE runs SET status = 'abandoned', updated_at = ?2 WHERE id = ?1",
                    params![run.id, t],
                )?;
            } else if pipeline_changed || input_changed {
                return Ok(RunStart::Conflict {
                    run,
                    pipeline_changed,
                    input_changed,
                });
            } else {
                self.conn.execute(
                    "UPDATE runs SET status = 'running', attempts = attempts + 1, updated_at = ?2 WHERE id = ?1",
                    params![run.id, t],
                )?;
                return Ok(RunStart::Resumed {
                    run_id: run.id,
                    attempts: run.attempts + 1,
                });
            }
        }
        self.conn.execute(
            "INSERT INTO runs (pipeline, pipeline_hash, input_fingerprint, status, started_at, updated_at) VALUES (?1, ?2, ?3, 'running', ?4, ?4)",
            params![pipeline, pipeline_hash, input, t],
        )?;
        Ok(RunStart::New {
            run_id: self.conn.last_insert_rowid(),
        })
    }

    pub fn end_run(&self, run_id: i64, status: RunStatus, counts: RunCounts, report: &str) -> Result<(), StateError> {
        let t = now();
        let finished = (status == RunStatus::Done).then_some(t);
        self.conn.execute(
            "UPDATE runs SET status = ?2, updated_at = ?3, finished_at = ?4, rows_in = ?5, rows_out = ?6,
                 rows_rejected = ?7, rows_duplicate = ?8, rows_failed = ?9, report = ?10 WHERE id = ?1",
            params![
                run_id,
                status.as_str(),
                t,
                finished,
                counts.rows_in as i64,
                counts.rows_out as i64,
                counts.rows_rejected as i64,
                counts.rows_duplicate as i64,
                counts.rows_failed as i64,
                report
            ],
        )?;
        Ok(())
    }
}

const SELECT_RUN: &str =
    "SELECT id, pipeline, pipeline_hash, input_fingerprint, status, started_at, finished_at, attempts,
    rows_in, rows_out, rows_rejected, rows_duplicate, rows_failed FROM runs";

fn run_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RunRecord> {
    let status: String = r.get(4)?;
    Ok(RunRecord {
        id: r.get(0)?,
        pipeline: r.get(1)?,
        pipeline_hash: r.get(2)?,
        input_fingerprint: r.get(3)?,
        status: RunStatus::parse(&status),
        started_at: r.get(5)?,
        finished_at: r.get(6)?,
        attempts: r.get(7)?,
        counts: RunCounts {
            rows_in: r.get::<_, i64>(8)? as u64,
            rows_out: r.get::<_, i64>(9)? as u64,
            rows_rejected: r.get::<_, i64>(10)? as u64,
            rows_duplicate: r.get::<_, i64>(11)? as u64,
            rows_failed: r.get::<_, i64>(12)? as u64,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resumes_same_run_and_refuses_a_changed_input() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db")).unwrap();
        let RunStart::New { run_id } = store.begin_run("p", "h1", "i1", false).unwrap() else {
            panic!()
        };
        store
            .end_run(run_id, RunStatus::Interrupted, RunCounts::default(), "{}")
            .unwrap();
        assert!(
            matches!(store.begin_run("p", "h1", "i1", false).unwrap(), RunStart::Resumed { run_id: r, attempts: 2 } if r == run_id)
        );
        store
            .end_run(run_id, RunStatus::Interrupted, RunCounts::default(), "{}")
            .unwrap();
        assert!(matches!(
            store.begin_run("p", "h1", "i2", false).unwrap(),
            RunStart::Conflict {
                input_changed: true,
                pipeline_changed: false,
                ..
            }
        ));
        assert!(matches!(store.begin_run("p", "h1", "i2", true).unwrap(), RunStart::New { run_id: r } if r != run_id));
        assert_eq!(store.runs().unwrap()[0].status, RunStatus::Abandoned);
    }

    #[test]
    fn a_finished_run_is_not_resumed() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db")).unwrap();
        let RunStart::New { run_id } = store.begin_run("p", "h", "i", false).unwrap() else {
            panic!()
        };
        store
            .end_run(run_id, RunStatus::Done, RunCounts::default(), "{}")
            .unwrap();
        assert!(matches!(
            store.begin_run("p", "h", "i", false).unwrap(),
            RunStart::New { .. }
        ));
    }
}
