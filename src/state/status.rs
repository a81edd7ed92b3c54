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
    /// Requests on the wire when a process of the run died, whose answer was
    /// lost: ledger intents without an outcome (the intent is written as the
    /// request is sent, so each kill leaves at most the vendor's concurrency),
    /// except async jobs whose id was kept and whose delivery is collected later.
    /// While the run goes on, these are the requests in flight.
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
            let order = self.report_order(run.id)?;
            let mut stages = self.stage_counts(run.id)?;
            // Stable sorts: what the report does not name keeps its first-use order, after the rest.
            stages.sort_by_key(|(stage, _, _)| rank(&order.stages, stage));
            let mut paid = self.paid(run.id)?;
            paid.sort_by_key(|p| rank(&order.vendors, &p.provider));
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

    /// The order of stages and vendors in the run's last report (the
    /// pipeline's), empty for a run killed before its first report.
    fn report_order(&self, run_id: i64) -> Result<ReportOrder, StateError> {
        let report: Option<String> = self
            .conn
            .query_row("SELECT report FROM runs WHERE id = ?1", [run_id], |r| r.get(0))?;
        Ok(report.and_then(|r| serde_json::from_str(&r).ok()).unwrap_or_default())
    }

    /// Rows per stage and outcome, stages in the order they first recorded
    /// a result (a row's path through the pipeline).
    fn stage_counts(&self, run_id: i64) -> Result<Vec<(String, String, i64)>, StateError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT stage, outcome, count(*), min(min(at)) OVER (PARTITION BY stage) AS first
             FROM stage_results WHERE run_id = ?1 GROUP BY stage, outcome ORDER BY first, stage, outcome",
        )?;
        let rows = stmt
            .query_map([run_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// Paid requests per provider, providers in the order of their first request.
    fn paid(&self, run_id: i64) -> Result<Vec<PaidView>, StateError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT provider, sum(state = 'done'), coalesce(sum(credits), 0), sum(state = 'failed'),
                    sum(state = 'intent' AND NOT EXISTS (SELECT 1 FROM pending_jobs j WHERE j.provider = ledger.provider
                        AND j.request_key = ledger.request_key AND j.run_id = ledger.run_id))
             FROM ledger WHERE run_id = ?1 GROUP BY provider ORDER BY min(started_at), provider",
        )?;
        let paid = stmt
            .query_map([run_id], |r| {
                Ok(PaidView {
                    provider: r.get(0)?,
                    answered: r.get(1)?,
                    credits: r.get(2)?,
                    failed: r.get(3)?,
                    cut_short: r.get(4)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(paid)
    }
}

/// Hit rates of stages that ask providers through stages of their own (a
/// waterfall: its rows' outcome names the provider that answered, and
/// `<stage>/<provider>` holds one result per row that provider was asked for):
/// `stage waterfall hit rates: reachstream answered 11/40 (28%), rocketreach answered 18/29 (62%)`.
fn nested_rates(stages: &[(String, String, i64)]) -> Vec<String> {
    let mut lines = Vec::new();
    let parents = stages.iter().map(|(s, _, _)| s).filter(|s| !s.contains('/'));
    let mut seen = std::collections::HashSet::new();
    for parent in parents.filter(|p| seen.insert(p.as_str())) {
        let prefix = format!("{parent}/");
        let mut providers: Vec<&str> = Vec::new();
        for (stage, _, _) in stages {
            if let Some(p) = stage.strip_prefix(&prefix).filter(|p| !p.contains('@'))
                && !providers.contains(&p)
            {
                providers.push(p);
            }
        }
        let rates: Vec<String> = providers
            .iter()
            .map(|p| {
                let count = |stage: &str, outcome: Option<&str>| -> i64 {
                    stages
                        .iter()
                        .filter(|(s, o, _)| s == stage && outcome.is_none_or(|x| x == o))
                        .map(|(_, _, n)| n)
                        .sum()
                };
                let asked = count(&format!("{prefix}{p}"), None);
                let answered = count(parent, Some(p));
                let pct = if asked == 0 {
                    0.0
                } else {
                    100.0 * answered as f64 / asked as f64
                };
                format!("{p} answered {answered}/{asked} ({pct:.0}%)")
            })
            .collect();
        if !rates.is_empty() {
            lines.push(format!("stage {parent} hit rates: {}", rates.join(", ")));
        }
    }
    lines
}

/// The order of a stored run report's stages and vendors.
#[derive(Default, serde::Deserialize)]
struct ReportOrder {
    #[serde(default)]
    stages: indexmap::IndexMap<String, serde::de::IgnoredAny>,
    #[serde(default)]
    vendors: indexmap::IndexMap<String, serde::de::IgnoredAny>,
}

/// Where `name` comes in a report's list: unnamed ones last.
fn rank<V>(listed: &indexmap::IndexMap<String, V>, name: &str) -> usize {
    listed.get_index_of(name).unwrap_or(usize::MAX)
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
            for line in nested_rates(&v.stages) {
                let _ = writeln!(s, "  {line}");
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
                if p.cut_short > 0 && r.status.as_str() == "running" && self.run_in_progress {
                    let _ = write!(s, ", {} in flight", p.cut_short);
                } else if p.cut_short > 0 {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{RunCounts, RunStart, RunStatus};

    fn stages_of(store: &Store) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for (stage, _, _) in &store.status().unwrap().runs[0].stages {
            if names.last() != Some(stage) {
                names.push(stage.clone());
            }
        }
        names
    }

    fn vendors_of(store: &Store) -> Vec<String> {
        store.status().unwrap().runs[0]
            .paid
            .iter()
            .map(|p| p.provider.clone())
            .collect()
    }

    /// Stages and vendors print in the pipeline's order, not by name: a
    /// killed run's by first use, a reported run's as its report lists them.
    #[test]
    fn stages_and_vendors_are_listed_in_pipeline_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db")).unwrap();
        let RunStart::New { run_id } = store.begin_run("p", "h", "i", false).unwrap() else {
            panic!()
        };
        let conn = store.conn();
        // The pipeline is lookup (rocketreach) → enrich (reachstream) → verify
        // (leadrocks); each row passes them in turn.
        for (record, t) in [(1, 10.0), (2, 11.0)] {
            for (i, (stage, provider)) in [
                ("lookup", "rocketreach"),
                ("enrich", "reachstream"),
                ("verify", "leadrocks"),
            ]
            .into_iter()
            .enumerate()
            {
                let at = t + 10.0 * i as f64;
                let outcome = if record == 2 && stage == "enrich" {
                    "failed"
                } else {
                    "ok"
                };
                conn.execute(
                    "INSERT INTO stage_results (run_id, stage, record_id, outcome, at) VALUES (?1, ?2, ?3, ?4, ?5)",
                    rusqlite::params![run_id, stage, record, outcome, at],
                )
                .unwrap();
                conn.execute(
                    "INSERT INTO ledger (run_id, provider, endpoint, request_key, state, started_at) VALUES (?1, ?2, 'e', ?3, 'done', ?4)",
                    rusqlite::params![run_id, provider, format!("{record}"), at - 1.0],
                )
                .unwrap();
            }
        }
        assert_eq!(
            stages_of(&store),
            ["lookup", "enrich", "verify"],
            "killed: by first result"
        );
        assert_eq!(vendors_of(&store), ["rocketreach", "reachstream", "leadrocks"]);

        // A report, once there is one, decides (here it disagrees with the times, to tell them apart).
        let report = r#"{"stages": {"enrich": {}, "verify": {}, "lookup": {}},
                         "vendors": {"leadrocks": {}, "rocketreach": {}, "reachstream": {}}}"#;
        store
            .end_run(run_id, RunStatus::Interrupted, RunCounts::default(), report)
            .unwrap();
        assert_eq!(stages_of(&store), ["enrich", "verify", "lookup"], "as reported");
        assert_eq!(vendors_of(&store), ["leadrocks", "rocketreach", "reachstream"]);
        let enrich: Vec<_> = store.status().unwrap().runs[0]
            .stages
            .iter()
            .filter(|(s, _, _)| s == "enrich")
            .map(|(_, o, n)| (o.clone(), *n))
            .collect();
        assert_eq!(enrich, [("failed".to_string(), 1), ("ok".to_string(), 1)]);
    }
}
