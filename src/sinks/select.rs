//! `columns = [...]` on a sink: which of the run's output columns it writes,
//! in which order, and under which names.
//!
//! ```toml
//! columns = ["email", { name = "company_domain", as = "domain" }]
//! ```
//!
//! Every sink that writes columns (Parquet, CSV, and any table sink to come)
//! takes the same key and resolves it here, against the columns of
//! [`super::schema::output_columns`]. This module owns choosing and renaming
//! only: how a value is read from a record stays in `schema`, how it is
//! encoded stays in each sink.
//!
//! Names are checked in two steps. What needs no input ([`Selection::check`]:
//! an empty list, an empty name, an output name used twice) is refused by
//! `validate`. Whether a name exists depends on the input's header, so
//! [`Selection::resolve`] checks it once the header is read, before any row
//! moves or any paid call; both errors name the file, line and key.

use serde::Deserialize;

use super::schema::Column;

/// One entry of `columns`: a column name, or a column under another name.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(
    untagged,
    expecting = "a column name, or a table like { name = \"company_domain\", as = \"domain\" }"
)]
pub enum Pick {
    Name(String),
    Renamed(Renamed),
}

/// `{ name = "...", as = "..." }`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Renamed {
    pub name: String,
    #[serde(rename = "as")]
    pub alias: String,
}

impl Pick {
    /// The output column it reads.
    pub fn name(&self) -> &str {
        match self {
            Pick::Name(n) => n,
            Pick::Renamed(r) => &r.name,
        }
    }

    /// The name it is written under.
    pub fn output_name(&self) -> &str {
        match self {
            Pick::Name(n) => n,
            Pick::Renamed(r) => &r.alias,
        }
    }
}

/// A sink's `columns` list, with where each entry is in the pipeline file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(transparent)]
pub struct Selection {
    picks: Vec<Pick>,
    /// The file line of each pick, filled by [`Selection::locate`].
    #[serde(skip)]
    lines: Vec<Option<usize>>,
}

/// A problem with one entry (`index`) or the whole list (`None`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SelectionError {
    pub index: Option<usize>,
    pub line: Option<usize>,
    pub message: String,
}

impl SelectionError {
    /// The key under the sink, e.g. `columns[2]`.
    pub fn key(&self) -> String {
        match self.index {
            Some(i) => format!("columns[{i}]"),
            None => "columns".into(),
        }
    }
}

impl Selection {
    pub fn new(picks: Vec<Pick>) -> Selection {
        Selection {
            lines: vec![None; picks.len()],
            picks,
        }
    }

    pub fn picks(&self) -> &[Pick] {
        &self.picks
    }

    /// Checks that need no input: at least one column, no empty name, no
    /// output name written twice.
    pub fn check(&self) -> Vec<SelectionError> {
        let mut errors = Vec::new();
        if self.picks.is_empty() {
            errors.push(self.error(None, "must name at least one column".into()));
        }
        let mut seen = std::collections::HashMap::new();
        for (i, pick) in self.picks.iter().enumerate() {
            if pick.name().trim().is_empty() || pick.output_name().trim().is_empty() {
                errors.push(self.error(Some(i), "a column name cannot be empty".into()));
                continue;
            }
            if let Some(first) = seen.insert(pick.output_name(), i) {
                errors.push(self.error(
                    Some(i),
                    format!(
                        "{:?} is already written by columns[{first}]; rename one with {{ name = ..., as = ... }}",
                        pick.output_name()
                    ),
                ));
            }
        }
        errors
    }

    /// Record the line of each entry: the line that names it, searched from
    /// the `columns` key on (`columns_line`), for error messages at run time.
    pub fn locate(&mut self, text: &str, columns_line: Option<usize>) {
        let lines: Vec<&str> = text.lines().collect();
        let mut from = columns_line.unwrap_or(1).saturating_sub(1);
        self.lines = self
            .picks
            .iter()
            .map(|pick| {
                let quoted = format!("{:?}", pick.name());
                let at = lines.iter().skip(from).position(|l| l.contains(&quoted))?;
                from += at;
                Some(from + 1)
            })
            .map(|line| line.or(columns_line))
            .collect();
    }

    /// The columns this sink writes, in its order and under its names.
    pub fn resolve(&self, columns: &[Column]) -> Result<Vec<Column>, SelectionError> {
        self.picks
            .iter()
            .enumerate()
            .map(|(i, pick)| {
                let found = columns.iter().find(|c| c.name == pick.name()).ok_or_else(|| {
                    let names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
                    self.error(
                        Some(i),
                        format!(
                            "no output column named {:?} (columns: {})",
                            pick.name(),
                            names.join(", ")
                        ),
                    )
                })?;
                Ok(Column {
                    name: pick.output_name().to_string(),
                    ..found.clone()
                })
            })
            .collect()
    }

    fn error(&self, index: Option<usize>, message: String) -> SelectionError {
        let line = index.and_then(|i| self.lines.get(i).copied().flatten());
        SelectionError { index, line, message }
    }
}

/// The columns a sink writes: all of them, or its selection.
pub fn columns_for(selection: Option<&Selection>, columns: &[Column]) -> Result<Vec<Column>, SelectionError> {
    match selection {
        Some(s) => s.resolve(columns),
        None => Ok(columns.to_vec()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Slots;
    use crate::sinks::schema::output_columns;

    fn parse(toml_text: &str) -> Selection {
        #[derive(Deserialize)]
        struct Wrap {
            columns: Selection,
        }
        toml::from_str::<Wrap>(toml_text).unwrap().columns
    }

    #[test]
    fn picks_order_and_renames() {
        let all = output_columns(&["email".into(), "city".into()], Slots::default());
        let sel = parse(r#"columns = ["city", { name = "company_domain", as = "domain" }, "email"]"#);
        let got = sel.resolve(&all).unwrap();
        let names: Vec<_> = got.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["city", "domain", "email"]);
    }

    #[test]
    fn unknown_column_is_named_with_its_line() {
        let text = "[[sinks]]\nkind = \"csv\"\ncolumns = [\n  \"email\",\n  \"emial\",\n]\n";
        let mut sel = parse("columns = [\"email\", \"emial\"]");
        sel.locate(text, Some(3));
        let all = output_columns(&["email".into()], Slots::default());
        let Err(e) = sel.resolve(&all) else {
            panic!("an unknown column is refused")
        };
        assert_eq!((e.key(), e.line), ("columns[1]".to_string(), Some(5)));
        assert!(e.message.contains("no output column named \"emial\""), "{}", e.message);
    }

    #[test]
    fn empty_lists_and_twice_written_names_are_refused() {
        assert_eq!(
            parse("columns = []").check()[0].message,
            "must name at least one column"
        );
        let sel = parse(r#"columns = ["email", { name = "company_domain", as = "email" }]"#);
        let errors = sel.check();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].key(), "columns[1]");
    }

    #[test]
    fn a_table_without_as_is_refused() {
        #[derive(Deserialize, Debug)]
        #[allow(dead_code)]
        struct Wrap {
            columns: Selection,
        }
        assert!(toml::from_str::<Wrap>(r#"columns = [{ name = "email" }]"#).is_err());
    }
}
