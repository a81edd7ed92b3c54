//! What an operator reads after a failed night: every run in a state file,
//! its progress per stage, the paid calls and credits, the pending async jobs.

use serde::Serialize;

use super::{RunRecord, StateError, Store};

#[derive(Debug, Serialize)]
pub struct Status {
    /// A `leadpipe run` holds the state file now. A run whose state is
    /// `running` while none does was killed (or crashed): `leadpipe run` resumes it.
    pub run_in_progress: bool,
    pub runs: Vec<RunStatusView>,
    /// Async jobs already paid for and not yet collected, by provider and kind.
    pub pending_jobs: Vec<PendingView>,
    /// Answers in the cache, by provider.
    pub cached_answers: Vec<(String, i64)>,
}

#[derive(Debug, Serialize)]
pub struct RunStatusView {
    #[serde(flatten)]
    pub run: RunRecord,
    /// stage → outcome → rows.
    pub stages: Vec<(String, String, i64)>,
    /// Paid requests per provider, from the ledger.
    pub paid: Vec<PaidView>,
}

#[derive(Debug, Serialize)]
pub struct PaidView {
    pub provider: String,
    /// Answers bought.
    pub answered: i64,
    pub credits: f64,
    /// Requests the vendor refused or that failed for good.
    pub failed: i64,
    /// Requests sent (or about to be) when the process stopped, never answered.
    pub cut_short: i64,
}

#[derive(Debug, Serialize)]
pub struct PendingView {
    pub provider: String,
    pub kind: String,
    pub run_id: Option<i64>,
    pub count: i64,
}

impl Store {
    pub fn status(&self) -> Result<Status, StateError> {
        let mut runs = Vec::new();
        for run in self.runs()? {
            let mut stmt = self.conn.prepare_cached(
                "SELECT stage, outcome, count(*) FROM stage_results WHERE run_id = ?1 GROUP BY stage, outcome ORDER BY stage, outcome",
            )?;
            let stages = stmt
                .query_map([run.id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<Result<_, _>>()?;
            let mut stmt = self.conn.prepare_cached(
                "SELECT provider, sum(state = 'done'), coalesce(sum(credits), 0), sum(state = 'failed'), sum(state = 'intent')
                 FROM ledger WHERE run_id = ?1 GROUP BY provider ORDER BY provider",
            )?;
            let paid = stmt
                .query_map([run.id], |r| {
                    Ok(PaidView {
                        provider: r.get(0)?,
                        answered: r.get(1)?,
                        credits: r.get(2)?,
                        failed: r.get(3)?,
                        cut_short: r.get(4)?,
                    })
                })?
                .collect::<Result<_, _>>()?;
            runs.push(RunStatusView { run, stages, paid });
        }
        let mut stmt = self.conn.prepare(
            "SELECT provider, kind, run_id, count(*) FROM pending_jobs WHERE state = 'pending' GROUP BY provider, kind, run_id",
        )?;
        let pending_jobs = stmt
            .query_map([], |r| {
                Ok(PendingView {
                    provider: r.get(0)?,
                    kind: r.get(1)?,
                    run_id: r.get(2)?,
                    count: r.get(3)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        let mut stmt = self
            .conn
            .prepare("SELECT provider, count(*) FROM cache GROUP BY provider ORDER BY provider")?;
        let cached_answers = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        Ok(Status {
            run_in_progress: super::lock::held(&self.path),
            runs,
            pending_jobs,
            cached_answers,
        })
    }
}

impl Status {
    /// The text `leadpipe status` prints.
    pub fn render(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        if self.runs.is_empty() {
            s.push_str("no runs yet\n");
        }
        for v in &self.runs {
            let r = &v.run;
            let when = |t: f64| {
                humantime::format_rfc3339_seconds(
                    std::time::UNIX_EPOCH + std::time::Duration::from_secs_f64(t.max(0.0)),
                )
            };
            let state = match r.status.as_str() {
                "running" if !self.run_in_progress => {
                    "stopped without finishing (killed or crashed; `leadpipe run` resumes it)"
                }
                other => other,
            };
            let _ = write!(
                s,
                "run #{} {:?} {state} (started {}",
                r.id,
                r.pipeline,
                when(r.started_at)
            );
            if let Some(f) = r.finished_at {
                let _ = write!(s, ", finished {}", when(f));
            }
            let _ = writeln!(s, ", {} attempt(s))", r.attempts);
            let c = &r.counts;
            let so_far = if r.status.as_str() == "running" { " so far" } else { "" };
            let _ = writeln!(
                s,
                "  rows{so_far}: {} in, {} out, {} duplicate, {} rejected, {} failed",
                c.rows_in, c.rows_out, c.rows_duplicate, c.rows_rejected, c.rows_failed
            );
            let mut last = None;
            for (stage, outcome, n) in &v.stages {
                if last != Some(stage) {
                    let _ = write!(s, "{}  stage {stage}:", if last.is_some() { "\n" } else { "" });
                    last = Some(stage);
                }
                let _ = write!(s, " {n} {outcome}");
            }
            if last.is_some() {
                s.push('\n');
            }
            for p in &v.paid {
                let _ = write!(
                    s,
                    "  {}: {} answers bought, {} credits",
                    p.provider, p.answered, p.credits
                );
                if p.failed > 0 {
                    let _ = write!(s, ", {} failed", p.failed);
                }
                if p.cut_short > 0 {
                    let _ = write!(s, ", {} cut short by a stop", p.cut_short);
                }
                s.push('\n');
            }
        }
        for p in &self.pending_jobs {
            let run = p.run_id.map_or(String::new(), |r| format!(" of run #{r}"));
            let _ = writeln!(
                s,
                "pending: {} {} {} job(s){run}, collected by the next run",
                p.count, p.provider, p.kind
            );
        }
        for (provider, n) in &self.cached_answers {
            let _ = writeln!(s, "cache: {n} {provider} answer(s)");
        }
        s
    }
}
