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

use std::collections::BTreeMap;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};

use crate::vendors::Vendor;

/// `[budget]` as written; every key optional.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BudgetSpec {
    /// Paid requests one run may send, all vendors together (a run resumed
    /// after a stop or a crash is the same run).
    pub max_paid_calls: Option<u64>,
    /// Credit caps, by the vendor's registry name as the key.
    pub vendors: BTreeMap<Vendor, Caps>,
}

/// `max_paid_calls`, or a vendor's name; any other key is refused as serde
/// refuses an unknown field, so the diagnosis names it and its line.
impl<'de> Deserialize<'de> for BudgetSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Keys;
        impl<'de> Visitor<'de> for Keys {
            type Value = BudgetSpec;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a [budget] table")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<BudgetSpec, A::Error> {
                let mut spec = BudgetSpec::default();
                while let Some(key) = map.next_key::<String>()? {
                    if key == "max_paid_calls" {
                        spec.max_paid_calls = Some(map.next_value()?);
                        continue;
                    }
                    let Some(vendor) = Vendor::from_name(&key) else {
                        let known: Vec<String> = Vendor::ALL.iter().map(|v| format!("`{v}`")).collect();
                        return Err(de::Error::custom(format!(
                            "unknown field `{key}`, expected `max_paid_calls` or a vendor: {}",
                            known.join(", ")
                        )));
                    };
                    spec.vendors.insert(vendor, map.next_value()?);
                }
                Ok(spec)
            }
        }
        d.deserialize_map(Keys)
    }
}

/// One vendor's credit caps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
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
        self.max_paid_calls.is_none() && self.vendors.is_empty()
    }

    /// The capped vendors, by the name the state store and reports use.
    pub fn vendors(&self) -> impl Iterator<Item = (&'static str, Caps)> + '_ {
        self.vendors.iter().map(|(v, c)| (v.name(), *c))
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
            if !Vendor::from_name(name).is_some_and(|v| v.contract().charges) {
                problems.push((
                    key.clone(),
                    format!("{name} charges no credits: there is nothing to cap"),
                ));
                continue;
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
            vendors: [(
                Vendor::LeadRocks,
                Caps {
                    run: Some(10),
                    day: Some(5),
                    month: None,
                },
            )]
            .into(),
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
