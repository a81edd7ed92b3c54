//! `[budget]`: what a pipeline may spend, as the user writes it.
//!
//! ```toml
//! [budget]
//! max_paid_calls = 10000
//! rocketreach = { run = 500, day = 2000, month = 20000 }
//! leadrocks = { run = 5000 }
//! ```
//!
//! Credit caps per vendor and per run, UTC day and UTC month, and a cap on
//! the paid requests of one run (every vendor together). The shape is a
//! promise to users and tools: keep it. Enforcement lives in the parent
//! module; this one only parses and checks.

use serde::{Deserialize, Serialize};

/// `[budget]` as written; every key optional.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetSpec {
    /// Paid requests one run may send, all vendors together (a run resumed
    /// after a stop or a crash is the same run).
    #[serde(default)]
    pub max_paid_calls: Option<u64>,
    #[serde(default)]
    pub rocketreach: Option<Caps>,
    #[serde(default)]
    pub reachstream: Option<Caps>,
    #[serde(default)]
    pub leadrocks: Option<Caps>,
}

/// One vendor's credit caps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Caps {
    /// Credits one run may spend (resumes included).
    #[serde(default)]
    pub run: Option<u64>,
    /// Credits every run on this state file may spend within one UTC day.
    #[serde(default)]
    pub day: Option<u64>,
    /// Credits every run on this state file may spend within one UTC month.
    #[serde(default)]
    pub month: Option<u64>,
}

impl BudgetSpec {
    /// True when nothing is capped.
    pub fn is_empty(&self) -> bool {
        self.max_paid_calls.is_none() && self.vendors().next().is_none()
    }

    /// The capped vendors, by the name the state store and reports use.
    pub fn vendors(&self) -> impl Iterator<Item = (&'static str, Caps)> + '_ {
        [
            ("rocketreach", self.rocketreach),
            ("reachstream", self.reachstream),
            ("leadrocks", self.leadrocks),
        ]
        .into_iter()
        .filter_map(|(n, c)| c.map(|c| (n, c)))
    }

    /// The caps of `vendor` (none when it is not capped).
    pub fn caps(&self, vendor: &str) -> Caps {
        self.vendors()
            .find(|(n, _)| *n == vendor)
            .map(|(_, c)| c)
            .unwrap_or_default()
    }

    /// Every problem, as (key, message): a cap that can never bind, a vendor
    /// capped that no stage calls (`called`: the vendors the stages call), a
    /// vendor table without any cap.
    pub fn check(&self, called: &[&str]) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        for (name, caps) in self.vendors() {
            let key = format!("budget.{name}");
            if caps == Caps::default() {
                problems.push((key.clone(), "give at least one of run, day, month (credits)".into()));
            }
            let used = called.contains(&name);
            if !used {
                problems.push((key.clone(), format!("no stage of this pipeline calls {name}")));
            }
            // Each cap against the next larger one that is set.
            let bigger = [
                (
                    "run",
                    caps.run,
                    caps.day.map(|d| ("day", d)).or(caps.month.map(|m| ("month", m))),
                ),
                ("day", caps.day, caps.month.map(|m| ("month", m))),
            ];
            for (small, a, big) in bigger {
                if let (Some(a), Some((big, b))) = (a, big)
                    && a > b
                {
                    problems.push((
                        format!("{key}.{small}"),
                        format!("{a} is more than {big} = {b}: it could never be reached"),
                    ));
                }
            }
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_that_can_never_bind_are_named() {
        let b = BudgetSpec {
            leadrocks: Some(Caps {
                run: Some(10),
                day: Some(5),
                month: None,
            }),
            ..BudgetSpec::default()
        };
        let problems = b.check(&[]);
        assert!(
            problems.iter().any(|(k, _)| k == "budget.leadrocks.run"),
            "{problems:?}"
        );
        assert!(
            problems
                .iter()
                .any(|(k, m)| k == "budget.leadrocks" && m.contains("no stage")),
            "{problems:?}"
        );
    }
}
