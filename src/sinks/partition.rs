//! Hive-style partitioning of an output (`partition_by = ["country"]`):
//! which folder a row goes to (`country=DE/`), and which columns stay in the
//! files (the partition columns live in the folder names, as Spark, Trino,
//! DuckDB and pyarrow expect).
//!
//! `run_date` names the date the run's output was written (UTC,
//! `run_date=2026-12-06`): each day's run replaces that day's folder and
//! leaves earlier days alone. It must come first, so a day is one folder.
//!
//! Values are percent-encoded in folder names (readers decode them); a
//! missing or empty value goes to `__HIVE_DEFAULT_PARTITION__`, which
//! readers read back as null. This module only names folders; it writes
//! nothing.

use arrow_schema::DataType;

use super::schema::{Cell, Column};
use crate::record::Record;

/// The folder of a missing value, as Hive names it.
pub const NULL_PARTITION: &str = "__HIVE_DEFAULT_PARTITION__";

/// The partition key that stands for the run's date rather than a column.
pub const RUN_DATE: &str = "run_date";

enum Part {
    Column { name: String, column: Column },
    RunDate(String),
}

pub struct Layout {
    parts: Vec<Part>,
}

impl Layout {
    /// The layout of `partition_by` over the output `columns`, and the columns the files keep.
    pub fn new(partition_by: &[String], columns: &[Column], today: &str) -> Result<(Layout, Vec<Column>), String> {
        let mut parts = Vec::new();
        for (i, name) in partition_by.iter().enumerate() {
            if name == RUN_DATE && !columns.iter().any(|c| &c.name == name) {
                if i != 0 {
                    return Err(format!("partition_by: {RUN_DATE} must come first"));
                }
                parts.push(Part::RunDate(today.to_string()));
                continue;
            }
            let column = columns
                .iter()
                .find(|c| &c.name == name)
                .ok_or_else(|| format!("partition_by: the output has no column {name:?}"))?;
            if !matches!(
                column.data_type,
                DataType::Utf8 | DataType::UInt64 | DataType::Int64 | DataType::Boolean
            ) {
                return Err(format!(
                    "partition_by: {name:?} is a {} column; partition by a text, integer or boolean column",
                    column.data_type
                ));
            }
            if parts
                .iter()
                .any(|p| matches!(p, Part::Column { name: n, .. } if n == name))
            {
                return Err(format!("partition_by: {name:?} is listed twice"));
            }
            parts.push(Part::Column {
                name: name.clone(),
                column: column.clone(),
            });
        }
        let kept = columns
            .iter()
            .filter(|c| !partition_by.contains(&c.name))
            .cloned()
            .collect();
        Ok((Layout { parts }, kept))
    }

    /// The folder of a row, e.g. `run_date=2026-12-06/country=DE`.
    pub fn folder(&self, rec: &Record) -> String {
        let mut out = String::new();
        for part in &self.parts {
            if !out.is_empty() {
                out.push('/');
            }
            match part {
                Part::RunDate(day) => {
                    out.push_str(RUN_DATE);
                    out.push('=');
                    out.push_str(day);
                }
                Part::Column { name, column } => {
                    out.push_str(&escape(name));
                    out.push('=');
                    let value = match column.cell(rec) {
                        Cell::Str(v) => v.map(str::to_string),
                        Cell::U64(v) => Some(v.to_string()),
                        Cell::I64(v) => v.map(|v| v.to_string()),
                        Cell::Bool(v) => v.map(|v| v.to_string()),
                        _ => None,
                    };
                    match value.filter(|v| !v.is_empty()) {
                        Some(v) => out.push_str(&escape(&v)),
                        None => out.push_str(NULL_PARTITION),
                    }
                }
            }
        }
        out
    }

    /// The folder under `root` whose earlier files this output replaces:
    /// the whole dataset, or with `run_date` only that day's folder.
    pub fn replaces(&self, root: &str) -> String {
        match self.parts.first() {
            Some(Part::RunDate(day)) => format!("{root}/{RUN_DATE}={day}"),
            _ => root.to_string(),
        }
    }
}

/// Percent-encode what is not a letter, digit, `-`, `_`, `.` or `~`.
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Today's date in UTC, `YYYY-MM-DD`.
pub fn today() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()[..10].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped_and_missing_ones_named_as_hive_does() {
        assert_eq!(escape("DE"), "DE");
        assert_eq!(escape("a/b=c d"), "a%2Fb%3Dc%20d");
        assert_eq!(escape("Zürich"), "Z%C3%BCrich");
        assert_eq!(today().len(), 10);
    }
}
