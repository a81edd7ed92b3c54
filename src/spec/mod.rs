//! The pipeline file: what a user writes, parsed strictly, then validated.
//!
//! Three steps, three types (STYLE.md §1): [`load`] reads and interpolates
//! the file into a [`PipelineSpec`] (serde, `deny_unknown_fields`, every
//! error naming file, line and key), and [`validate`] cross-checks
//! it into a [`ValidPipeline`] that the runner builds from.
//! Nothing here performs I/O beyond reading the pipeline file and checking
//! that paths exist.

pub mod budget;
pub mod interp;
pub mod valid;

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use crate::sinks::spec::SinkSpec;
pub use crate::source::spec::SourceSpec;
pub use crate::units::{Rate, Span};
pub use crate::vendors::budget::spec::BudgetSpec;
pub use crate::vendors::spec::{VendorSpec, VendorsSpec};
pub use valid::{ValidPipeline, validate};

use crate::stages::StageSpec;

/// A pipeline file as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineSpec {
    /// Names the pipeline in the state store and reports; defaults to the file stem.
    #[serde(default)]
    pub name: Option<String>,
    pub source: SourceSpec,
    #[serde(default)]
    pub stages: Vec<StageSpec>,
    pub sinks: Vec<SinkSpec>,
    pub state: StateSpec,
    #[serde(default)]
    pub vendors: VendorsSpec,
    #[serde(default)]
    pub run: RunSpec,
    /// `[webhook]`: the run's receiver of async vendor results.
    #[serde(default)]
    pub webhook: Option<crate::vendors::webhook::WebhookSpec>,
    /// `[budget]`: credit caps per vendor (run, day, month) and a cap on paid calls.
    #[serde(default)]
    pub budget: BudgetSpec,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateSpec {
    /// The SQLite state file (created with its directory if missing).
    pub path: PathBuf,
}

/// Run-wide settings; every key optional.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RunSpec {
    /// Rejected input rows (line, reason, original fields). Default: beside the first sink, `<stem>.rejects.csv`.
    pub rejects_path: Option<PathBuf>,
    /// JSON run report. Default: beside the first sink, `<stem>.report.json`; `--report` overrides.
    pub report_path: Option<PathBuf>,
    /// Rows per batch handed between stages.
    pub batch_rows: usize,
    /// Batches buffered between two stages (backpressure bound).
    pub channel_batches: usize,
    /// Exit 1 when any input row was rejected (default: rejected rows are
    /// accounted for in the rejects file and the run exits 0).
    pub fail_on_rejects: bool,
    /// Run a pipeline that only reads a CSV file, dedupes keeping the first
    /// row and writes Parquet on the columnar plane (default true; false:
    /// the row engine, which writes the same output more slowly).
    pub columnar: bool,
}

impl Default for RunSpec {
    fn default() -> Self {
        RunSpec {
            rejects_path: None,
            report_path: None,
            batch_rows: 4096,
            channel_batches: 4,
            fail_on_rejects: false,
            columnar: true,
        }
    }
}

/// A pipeline file that could not be read or parsed.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("{file}: cannot read the pipeline file: {source}")]
    Read {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}", .0)]
    Invalid(Located),
}

/// One problem in a pipeline file, with where it is.
#[derive(Debug, Clone)]
pub struct Located {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub key: Option<String>,
    pub message: String,
}

impl fmt::Display for Located {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(key) = &self.key {
            write!(f, ": {key}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// The raw file, its interpolation and its parse, kept for validation.
pub struct Loaded {
    pub file: PathBuf,
    /// The interpolated text (line numbers as in the file).
    pub text: String,
    pub spec: PipelineSpec,
    pub missing_vars: std::collections::BTreeMap<String, Vec<usize>>,
    /// xxh3 of the file as written (before interpolation, so secrets never
    /// enter it), without its `[budget]` table: a raised budget resumes the run.
    pub hash: u64,
}

/// Read, interpolate and parse a pipeline file.
pub fn load(file: &Path) -> Result<Loaded, SpecError> {
    let raw = std::fs::read_to_string(file).map_err(|source| SpecError::Read {
        file: file.to_path_buf(),
        source,
    })?;
    parse(file, &raw, |name| std::env::var(name).ok())
}

/// Parse pipeline text (for tests and `load`).
pub fn parse(file: &Path, raw: &str, env: impl Fn(&str) -> Option<String>) -> Result<Loaded, SpecError> {
    let interp = interp::interpolate(raw, env);
    let de = toml::de::Deserializer::parse(&interp.text)
        .map_err(|e| SpecError::Invalid(located_toml(file, &interp.text, &e, None)))?;
    let spec: PipelineSpec = serde_path_to_error::deserialize(de).map_err(|e| {
        let key = e.path().to_string();
        // Tables tagged by `kind` are buffered by serde, which loses the key
        // path and span inside them: find the exact key by reading that table alone.
        if let Some((key, message)) = refine(&interp.text, &key) {
            let line = line_of_key_or_parent(&interp.text, &key);
            return SpecError::Invalid(Located {
                file: file.to_path_buf(),
                line,
                key: Some(key),
                message,
            });
        }
        let key = Some(key).filter(|p| p != ".");
        SpecError::Invalid(located_toml(file, &interp.text, e.inner(), key))
    })?;
    Ok(Loaded {
        file: file.to_path_buf(),
        text: interp.text,
        spec,
        missing_vars: interp.missing,
        hash: xxhash_rust::xxh3::xxh3_64(budget::without_budget(raw).as_bytes()),
    })
}

/// The exact key and message of an error inside a `kind`-tagged table at `path`.
fn refine(text: &str, path: &str) -> Option<(String, String)> {
    let root: toml::Table = toml::from_str(text).ok()?;
    let (section, index) = match path.split_once('[') {
        Some((name, rest)) => (name, rest.split(']').next()?.parse::<usize>().ok()),
        None => (path, None),
    };
    let value = match index {
        Some(i) => root.get(section)?.as_array()?.get(i)?.clone(),
        None => root.get(section)?.clone(),
    };
    let mut table = value.as_table()?.clone();
    let kind = table.remove("kind")?.as_str()?.to_string();
    let prefix = match index {
        Some(i) => format!("{section}[{i}]"),
        None => section.to_string(),
    };
    let value = toml::Value::Table(table);
    let found = match section {
        "stages" => crate::stages::StageSpec::diagnose(&kind, value),
        "sinks" => SinkSpec::diagnose(&kind, value),
        "source" => SourceSpec::diagnose(&kind, value),
        _ => None,
    }?;
    let (inner, message) = found;
    let key = if inner.is_empty() || inner == "." {
        prefix
    } else {
        format!("{prefix}.{inner}")
    };
    Some((key, message))
}

fn located_toml(file: &Path, text: &str, e: &toml::de::Error, key: Option<String>) -> Located {
    let mut line = e.span().map(|span| line_of(text, span.start));
    let mut message = e.message().trim().to_string();
    if line.is_none() && message == "recursion limit" {
        // The parser's depth limit names no place: point at the line nested deepest.
        line = deepest_line(text);
        message = "keys, tables or arrays nested too deeply (over the TOML parser's recursion limit)".into();
    }
    // serde names a missing or unknown key in its message, not in its path: name it as the key.
    let field = ["missing field `", "unknown field `"]
        .iter()
        .find_map(|prefix| message.strip_prefix(prefix))
        .and_then(|m| m.split('`').next());
    let key = match (field, key) {
        (Some(field), Some(table)) if !table.ends_with(&format!(".{field}")) => {
            let key = format!("{table}.{field}");
            // A map's visitor refusing a key points at the table: find the key's own line.
            line = line_of_key(text, &key).or(line);
            Some(key)
        }
        (Some(field), None) => Some(field.to_string()),
        (_, key) => key,
    };
    Located {
        file: file.to_path_buf(),
        line,
        key,
        message,
    }
}

/// The 1-based line with the most nesting (dots, brackets, braces), for an
/// error that names no place of its own.
fn deepest_line(text: &str) -> Option<usize> {
    let depth = |line: &str| line.bytes().filter(|b| matches!(b, b'.' | b'[' | b'{')).count();
    text.lines()
        .enumerate()
        .max_by_key(|(n, line)| (depth(line), std::cmp::Reverse(*n)))
        .map(|(n, _)| n + 1)
}

/// A table header's name with the spaces and quotes around its segments taken off.
fn dotted(name: &str) -> String {
    name.split('.')
        .map(|segment| segment.trim().trim_matches('"'))
        .collect::<Vec<_>>()
        .join(".")
}

/// The table named by a header line, spaces trimmed: `[source]`,
/// `[[ stages ]]`, `[sinks.columns]  # a comment` (a quoted name holding `]`
/// is cut at it, as this locator is best-effort).
fn header_name(line: &str) -> &str {
    let inner = line.trim_start_matches('[');
    inner.split(']').next().unwrap_or(inner).trim()
}

/// 1-based line of a byte offset.
pub fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// The line of `key`, or of the nearest table that holds it when the key
/// itself is not written (a missing key; a key inside an inline table).
pub fn line_of_key_or_parent(text: &str, key: &str) -> Option<usize> {
    let mut path = key;
    loop {
        if let Some(line) = line_of_key(text, path) {
            return Some(line);
        }
        path = &path[..path.rfind(['.', '['])?];
    }
}

/// Find the line that sets `key` (dotted path like `stages[1].key`) on a best-effort
/// basis: the first line after the table header that assigns the last segment.
pub fn line_of_key(text: &str, path: &str) -> Option<usize> {
    let last = path.rsplit(['.', ']']).find(|s| !s.is_empty())?;
    let last = last.split('[').next()?;
    // Walk to the table the path names (nth [[stages]] etc.), then find the key.
    let mut segments = path.split('.');
    let head = segments.next()?;
    let (table, index) = match head.split_once('[') {
        Some((t, i)) => (t, i.trim_end_matches(']').parse::<usize>().ok()),
        None => (head, None),
    };
    // The path as a table header would spell it (`source.columns`, `stages.x`).
    let header_path: String = path
        .split('.')
        .map(|segment| segment.split('[').next().unwrap_or(segment))
        .collect::<Vec<_>>()
        .join(".");
    let mut seen = 0usize;
    let mut in_table = false;
    for (n, line) in text.lines().enumerate() {
        let l = line.trim();
        if l.starts_with('[') {
            let name = header_name(l);
            // A key that is itself a table (`[source.columns]`): its header is its line.
            if !l.starts_with("[[") && (index.is_none() || in_table) && dotted(name) == header_path {
                return Some(n + 1);
            }
            let top = name.split('.').next().unwrap_or(name);
            if top == table {
                if l.starts_with("[[") {
                    in_table = index.is_none_or(|i| i == seen);
                    // The element of an array of tables itself (`sinks[1]`): its header.
                    if in_table && index.is_some() && !path.contains('.') && name.trim() == table {
                        return Some(n + 1);
                    }
                    seen += 1;
                } else {
                    in_table = true;
                }
            } else if l.starts_with("[[") || !name.starts_with(&format!("{table}.")) {
                in_table = false;
            }
            continue;
        }
        if in_table
            && let Some((k, _)) = l.split_once('=')
            && k.trim().trim_matches('"') == last
        {
            return Some(n + 1);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_located_under_headers_with_spaces_and_comments() {
        let text = "[source]   # the input\nkind = \"csv\"\ndelimter = \",\"\n\n[[ stages ]] # first\nkind = \"dedupe\"\n\n[[stages]]\nkind = \"dedupe\"\nkep = 1\n";
        assert_eq!(line_of_key(text, "source.delimter"), Some(3));
        assert_eq!(line_of_key(text, "stages[1].kep"), Some(10));
        assert_eq!(
            line_of_key_or_parent(text, "stages[0].key"),
            Some(5),
            "a missing key: its table's header"
        );
        assert_eq!(line_of_key_or_parent(text, "stages[1].key"), Some(8));
    }

    #[test]
    fn a_file_nested_past_the_parsers_limit_is_refused_at_its_deepest_line() {
        let deep = format!("x{} = 1", ".y".repeat(300));
        let text = format!("[source]\nkind = \"csv\"\npath = \"a.csv\"\n{deep}\n");
        let Err(SpecError::Invalid(loc)) = parse(Path::new("p.toml"), &text, |_| None) else {
            panic!("a 300-deep key is refused");
        };
        assert_eq!(loc.line, Some(4), "{loc:?}");
        assert!(loc.message.contains("nested too deeply"), "{loc:?}");
    }
}
