//! The run report: JSON for machines (`--report`), a short summary for people.

use std::path::PathBuf;

use indexmap::IndexMap;
use serde::Serialize;

use crate::stages::StageCounts;

#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub pipeline: String,
    pub run_id: i64,
    /// `done`, `interrupted`, `vendor_stopped`, `failed`.
    pub status: String,
    pub resumed: bool,
    pub sandbox: bool,
    pub rows_in: u64,
    pub rows_out: u64,
    pub rows_rejected: u64,
    pub rows_duplicate: u64,
    pub rows_failed: u64,
    pub duration_s: f64,
    /// In the pipeline's order: the order rows go through them.
    pub stages: IndexMap<String, StageCounts>,
    /// In the order rows meet them: the source's, the stages', the sinks'.
    pub vendors: IndexMap<String, serde_json::Value>,
    pub outputs: Vec<PathBuf>,
    pub rejects_path: PathBuf,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub duplicates_paths: Vec<PathBuf>,
    /// Sinks that report counts of their own (`graph8_upsert`: rows upserted, failed, skipped).
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub sinks: IndexMap<String, serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped_by: Option<String>,
}

impl RunReport {
    /// The human summary printed on stderr at the end of a run.
    pub fn summary(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let place = if self.sandbox {
            " on the SANDBOX (simulated vendors, no credits spent)"
        } else {
            ""
        };
        let _ = writeln!(
            s,
            "leadpipe: pipeline {:?} run #{} {}{place} in {:.1}s",
            self.pipeline, self.run_id, self.status, self.duration_s
        );
        let _ = writeln!(
            s,
            "  rows: {} in, {} out, {} duplicate, {} rejected{}",
            self.rows_in,
            self.rows_out,
            self.rows_duplicate,
            self.rows_rejected,
            if self.rows_failed > 0 {
                format!(", {} failed", self.rows_failed)
            } else {
                String::new()
            }
        );
        for (name, c) in &self.stages {
            let dropped = if c.rows_dropped > 0 {
                format!(", {} dropped to the rejects file", c.rows_dropped)
            } else {
                String::new()
            };
            let _ = writeln!(
                s,
                "  stage {name}: {} in, {} out{dropped} ({:.1}s)",
                c.rows_in, c.rows_out, c.duration_s
            );
            if let Some(w) = &c.waterfall {
                let _ = writeln!(s, "    {}", w.rates());
                let _ = writeln!(
                    s,
                    "    {:.0} credits spent; asking every provider for every row would have cost about {:.0}",
                    w.credits, w.credits_if_all_asked
                );
            }
        }
        for (name, v) in &self.sinks {
            let n = |k: &str| v[k].as_u64().unwrap_or(0);
            if let Some(table) = v["table"].as_str() {
                let without = match n("rows_without_key") {
                    0 => String::new(),
                    k => format!(", {k} without a key not loaded"),
                };
                let _ = writeln!(
                    s,
                    "  sink {name}: {} rows staged, {} merged into {table} ({}){without}",
                    n("rows_staged"),
                    n("rows_merged"),
                    v["mode"].as_str().unwrap_or_default(),
                );
                continue;
            }
            let _ = writeln!(
                s,
                "  sink {name}: {} upserted, {} failed, {} skipped in {} calls",
                n("rows_upserted"),
                n("rows_failed"),
                n("rows_skipped"),
                n("calls"),
            );
        }
        for (name, v) in &self.vendors {
            let n = |k: &str| v[k].as_u64().unwrap_or(0);
            let credits = match (v["credits_source"].as_str(), v["credits_differ"].as_bool()) {
                (Some("balance"), Some(true)) => format!(
                    "{} credits by the vendor's balance (leadpipe's estimate: {}; see docs/contracts.md)",
                    n("credits"),
                    n("credits_estimated")
                ),
                (Some("balance"), _) => format!("{} credits (as the vendor's balance shows)", n("credits")),
                _ => format!("{} credits", n("credits")),
            };
            let refused = match n("answers_refused") {
                0 => String::new(),
                r => format!(", {r} answers refused (another request's)"),
            };
            let _ = writeln!(
                s,
                "  vendor {name}: {} calls ({:.1}/s), {} cache hits, {} retries, {} rate-limited, {credits}{refused}",
                n("calls"),
                v["achieved_rate"].as_f64().unwrap_or(0.0),
                n("cache_hits"),
                n("retries"),
                n("rate_limited"),
            );
        }
        if self.status == "done" {
            for o in &self.outputs {
                let _ = writeln!(s, "  wrote {}", o.display());
            }
            if self.rows_rejected > 0 {
                let _ = writeln!(s, "  rejects: {}", self.rejects_path.display());
            }
        }
        if let Some(by) = &self.stopped_by {
            let _ = writeln!(s, "  stopped: {by}");
        }
        s
    }
}
