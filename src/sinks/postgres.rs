//! `kind = "postgres"`: the run's rows merged into a PostgreSQL table, once.
//!
//! The sink takes the same output columns the Parquet sink writes
//! (`schema`), typed: text, bigint, double precision, boolean, timestamptz
//! and text[] for lists. It creates the table when missing and adds a
//! column the pipeline gained (`ALTER TABLE … ADD COLUMN`); it never drops
//! or retypes one.
//!
//! Rows stream during the run with binary `COPY` into a temporary staging
//! table of the sink's own session; only when the whole run completed are
//! they merged into the table, in one transaction:
//! - `mode = "upsert"`, `key = [...]`: `INSERT … ON CONFLICT (key) DO UPDATE`,
//!   the row's values (and `leadpipe_run_id`) replaced by this run's; within
//!   a run the last row of a key wins; rows with a missing key part are not
//!   loaded (counted as `rows_without_key`).
//! - `mode = "append"`: every row, tagged `leadpipe_pipeline` and
//!   `leadpipe_run_id`, unique on those and `row_id`
//!   (`ON CONFLICT DO NOTHING`): a resumed run, or a run whose end was lost
//!   after its commit, loads no row twice.
//!
//! An interrupted or killed run never commits: its staging table goes with
//! its connection. The URL holds a password: it is a [`Secret`], and every
//! message names the server through [`crate::secret::redact_url`].

use std::pin::Pin;
use std::time::{Duration, SystemTime};

use arrow_schema::DataType;
use bytes::BytesMut;
use serde::{Deserialize, Serialize};
use tokio::runtime::Handle;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use tokio_postgres::{Client, NoTls};

use super::SinkError;
use super::schema::{Cell, Column};
use crate::record::Record;
use crate::secret::{Secret, redact_url};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresSinkSpec {
    /// `postgres://user:password@host:port/database`, from the environment (`"${DATABASE_URL}"`).
    pub url: Secret,
    /// `name` or `schema.name`.
    pub table: String,
    #[serde(default)]
    pub mode: LoadMode,
    /// Upsert mode: the columns that identify a row (as named in the table).
    #[serde(default)]
    pub key: Vec<String>,
    /// Which output columns, in which order and under which names (default: all).
    #[serde(default)]
    pub columns: Option<super::select::Selection>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoadMode {
    #[default]
    Append,
    Upsert,
}

impl PostgresSinkSpec {
    pub fn check(&self) -> Vec<(&'static str, String)> {
        let mut problems = Vec::new();
        let parts: Vec<&str> = self.table.split('.').collect();
        let ident = |s: &str| {
            !s.is_empty()
                && s.len() <= 63
                && s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        };
        if parts.len() > 2 || !parts.iter().all(|p| ident(p)) {
            problems.push((
                "table",
                format!(
                    "{:?} is not a table name (letters, digits and _, optionally schema.table)",
                    self.table
                ),
            ));
        }
        match (self.mode, self.key.is_empty()) {
            (LoadMode::Upsert, true) => problems.push(("key", "upsert needs key = [\"<column>\", ...]".into())),
            (LoadMode::Append, false) => problems.push((
                "key",
                "only applies to mode = \"upsert\" (append loads are keyed by run and row)".into(),
            )),
            _ => {}
        }
        let url = self.url.expose();
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://") || url.contains('=')) {
            problems.push((
                "url",
                format!(
                    "{} is not a PostgreSQL URL (postgres://user:password@host:port/database)",
                    redact_url(url)
                ),
            ));
        }
        problems
    }

    /// The table, schema-qualified and quoted.
    fn quoted_table(&self) -> String {
        self.table.split('.').map(quote).collect::<Vec<_>>().join(".")
    }

    fn schema_and_name(&self) -> (Option<&str>, &str) {
        match self.table.split_once('.') {
            Some((s, t)) => (Some(s), t),
            None => (None, self.table.as_str()),
        }
    }
}

/// What the sink did, for the run report.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LoadCounts {
    pub table: String,
    pub mode: &'static str,
    /// Rows copied into the staging table.
    pub rows_staged: u64,
    /// Rows inserted or updated by the merge (append: rows not already loaded).
    pub rows_merged: u64,
    /// Upsert: rows not loaded because a key column was empty.
    pub rows_without_key: u64,
    /// Columns added to an existing table.
    pub columns_added: Vec<String>,
}

pub struct PostgresSink {
    rt: Handle,
    client: Client,
    copy: Pin<Box<BinaryCopyInWriter>>,
    spec: PostgresSinkSpec,
    columns: Vec<Column>,
    run: (String, i64),
    counts: LoadCounts,
}

fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

/// The column type of an output column, as SQL and as the binary COPY type.
fn pg_type(data_type: &DataType) -> (&'static str, Type) {
    match data_type {
        DataType::UInt64 | DataType::Int64 => ("bigint", Type::INT8),
        DataType::Float64 => ("double precision", Type::FLOAT8),
        DataType::Boolean => ("boolean", Type::BOOL),
        DataType::Timestamp(..) => ("timestamptz", Type::TIMESTAMPTZ),
        DataType::List(_) => ("text[]", Type::TEXT_ARRAY),
        _ => ("text", Type::TEXT),
    }
}

impl PostgresSink {
    /// Connect, make the table fit the output, and start copying into the staging table.
    pub async fn open(
        spec: &PostgresSinkSpec,
        columns: &[Column],
        pipeline: &str,
        run_id: i64,
    ) -> Result<PostgresSink, SinkError> {
        let fail = failer(spec);
        let mut config: tokio_postgres::Config = spec.url.expose().parse().map_err(|e| fail("the URL", e))?;
        if config.get_application_name().is_none() {
            config.application_name("leadpipe");
        }
        config.connect_timeout(Duration::from_secs(30));
        let (client, connection) = config.connect(NoTls).await.map_err(|e| fail("connecting", e))?;
        let target = redact_url(spec.url.expose());
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::warn!(server = %target, "PostgreSQL connection: {e}");
            }
        });
        for key in &spec.key {
            if !columns.iter().any(|c| &c.name == key) {
                return Err(config_error(spec, &format!("key: the output has no column {key:?}")));
            }
        }
        if !columns.iter().any(|c| c.name == "row_id") {
            return Err(config_error(spec, "the output has no row_id column to load by"));
        }
        let columns_added = prepare_table(&client, spec, columns).await?;
        let defs: Vec<String> = columns
            .iter()
            .map(|c| format!("{} {}", quote(&c.name), pg_type(&c.data_type).0))
            .collect();
        client
            .batch_execute(&format!("CREATE TEMP TABLE leadpipe_stage ({})", defs.join(", ")))
            .await
            .map_err(|e| fail("creating the staging table", e))?;
        let names: Vec<String> = columns.iter().map(|c| quote(&c.name)).collect();
        let sink = client
            .copy_in(&format!(
                "COPY pg_temp.leadpipe_stage ({}) FROM STDIN (FORMAT binary)",
                names.join(", ")
            ))
            .await
            .map_err(|e| fail("starting COPY", e))?;
        let types: Vec<Type> = columns.iter().map(|c| pg_type(&c.data_type).1).collect();
        Ok(PostgresSink {
            rt: Handle::current(),
            client,
            copy: Box::pin(BinaryCopyInWriter::new(sink, &types)),
            spec: spec.clone(),
            columns: columns.to_vec(),
            run: (pipeline.to_string(), run_id),
            counts: LoadCounts {
                table: spec.table.clone(),
                mode: match spec.mode {
                    LoadMode::Append => "append",
                    LoadMode::Upsert => "upsert",
                },
                columns_added,
                ..LoadCounts::default()
            },
        })
    }

    /// Stage rows (from the sink's own thread, not from async code).
    pub fn write(&mut self, records: &[Record]) -> Result<(), SinkError> {
        let (rt, copy, columns) = (&self.rt, &mut self.copy, &self.columns);
        rt.block_on(async {
            for rec in records {
                let cells: Vec<PgCell> = columns.iter().map(|c| PgCell(c.cell(rec))).collect();
                let values: Vec<&(dyn ToSql + Sync)> = cells.iter().map(|c| c as &(dyn ToSql + Sync)).collect();
                copy.as_mut().write(&values).await?;
            }
            Ok::<(), tokio_postgres::Error>(())
        })
        .map_err(|e| failer(&self.spec)("copying rows", e))
    }

    /// End the COPY and merge the staged rows into the table in one transaction.
    pub async fn finish(mut self) -> Result<LoadCounts, SinkError> {
        let fail = failer(&self.spec);
        self.counts.rows_staged = self.copy.as_mut().finish().await.map_err(|e| fail("ending COPY", e))?;
        let tx = self
            .client
            .transaction()
            .await
            .map_err(|e| fail("starting the merge", e))?;
        let (pipeline, run_id) = (&self.run.0, self.run.1);
        let merged = match self.spec.mode {
            LoadMode::Append => tx
                .execute(&append_sql(&self.spec, &self.columns), &[pipeline, &run_id])
                .await
                .map_err(|e| fail("merging (append)", e))?,
            LoadMode::Upsert => {
                let without: i64 = tx
                    .query_one(&without_key_sql(&self.spec), &[])
                    .await
                    .map_err(|e| fail("counting rows without a key", e))?
                    .get(0);
                self.counts.rows_without_key = without as u64;
                tx.execute(&upsert_sql(&self.spec, &self.columns), &[&run_id])
                    .await
                    .map_err(|e| fail("merging (upsert)", e))?
            }
        };
        tx.commit().await.map_err(|e| fail("committing the merge", e))?;
        self.counts.rows_merged = merged;
        if self.counts.rows_without_key > 0 {
            tracing::warn!(
                table = %self.spec.table,
                rows = self.counts.rows_without_key,
                "rows with an empty key column were not upserted (they are in the other outputs)"
            );
        }
        Ok(self.counts)
    }

    /// Block on [`PostgresSink::finish`] (off the async runtime).
    pub fn finish_blocking(self) -> Result<LoadCounts, SinkError> {
        let rt = self.rt.clone();
        rt.block_on(self.finish())
    }
}

/// An error naming the server (password redacted) and the table, with any
/// trace of the password scrubbed from the driver's message.
fn failer(spec: &PostgresSinkSpec) -> impl Fn(&str, tokio_postgres::Error) -> SinkError + '_ {
    move |doing, e| {
        let mut message = e.to_string();
        if let Ok(config) = spec.url.expose().parse::<tokio_postgres::Config>()
            && let Some(pw) = config.get_password().filter(|p| !p.is_empty())
        {
            message = message.replace(&*String::from_utf8_lossy(pw), "***");
        }
        SinkError::Postgres {
            target: format!("{} table {}", redact_url(spec.url.expose()), spec.table),
            message: format!("{doing}: {message}"),
        }
    }
}

fn config_error(spec: &PostgresSinkSpec, message: &str) -> SinkError {
    SinkError::Postgres {
        target: format!("{} table {}", redact_url(spec.url.expose()), spec.table),
        message: message.to_string(),
    }
}

/// Create the table when missing; add the columns it lacks. Returns the columns added.
async fn prepare_table(client: &Client, spec: &PostgresSinkSpec, columns: &[Column]) -> Result<Vec<String>, SinkError> {
    let fail = failer(spec);
    let (schema, name) = spec.schema_and_name();
    let existing: Vec<String> = client
        .query(
            "SELECT column_name::text FROM information_schema.columns \
             WHERE table_schema = coalesce($1, current_schema()) AND table_name = $2",
            &[&schema, &name],
        )
        .await
        .map_err(|e| fail("reading the table's columns", e))?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut wanted: Vec<(String, &str)> = columns
        .iter()
        .map(|c| (c.name.clone(), pg_type(&c.data_type).0))
        .collect();
    wanted.push(("leadpipe_run_id".into(), "bigint"));
    if spec.mode == LoadMode::Append {
        wanted.push(("leadpipe_pipeline".into(), "text"));
    }
    let table = spec.quoted_table();
    if existing.is_empty() {
        let mut defs: Vec<String> = wanted.iter().map(|(n, t)| format!("{} {t}", quote(n))).collect();
        let unique = match spec.mode {
            LoadMode::Append => vec![
                "leadpipe_pipeline".to_string(),
                "leadpipe_run_id".into(),
                "row_id".into(),
            ],
            LoadMode::Upsert => spec.key.clone(),
        };
        defs.push(format!(
            "UNIQUE ({})",
            unique.iter().map(|k| quote(k)).collect::<Vec<_>>().join(", ")
        ));
        client
            .batch_execute(&format!("CREATE TABLE IF NOT EXISTS {table} ({})", defs.join(", ")))
            .await
            .map_err(|e| fail("creating the table", e))?;
        tracing::info!(table = %spec.table, columns = wanted.len(), "created the table");
        return Ok(Vec::new());
    }
    let mut added = Vec::new();
    for (name, sql_type) in wanted.iter().filter(|(n, _)| !existing.contains(n)) {
        client
            .batch_execute(&format!(
                "ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {} {sql_type}",
                quote(name)
            ))
            .await
            .map_err(|e| fail(&format!("adding column {name}"), e))?;
        added.push(name.clone());
    }
    if !added.is_empty() {
        tracing::info!(table = %spec.table, columns = ?added, "added the columns the output gained");
    }
    Ok(added)
}

fn column_list(columns: &[Column]) -> String {
    columns.iter().map(|c| quote(&c.name)).collect::<Vec<_>>().join(", ")
}

fn append_sql(spec: &PostgresSinkSpec, columns: &[Column]) -> String {
    let cols = column_list(columns);
    format!(
        "INSERT INTO {} ({cols}, leadpipe_pipeline, leadpipe_run_id) \
         SELECT {cols}, $1::text, $2::bigint FROM pg_temp.leadpipe_stage \
         ON CONFLICT (leadpipe_pipeline, leadpipe_run_id, row_id) DO NOTHING",
        spec.quoted_table()
    )
}

fn key_present(spec: &PostgresSinkSpec) -> String {
    spec.key
        .iter()
        .map(|k| format!("{} IS NOT NULL", quote(k)))
        .collect::<Vec<_>>()
        .join(" AND ")
}

fn without_key_sql(spec: &PostgresSinkSpec) -> String {
    format!(
        "SELECT count(*) FROM pg_temp.leadpipe_stage WHERE NOT ({})",
        key_present(spec)
    )
}

fn upsert_sql(spec: &PostgresSinkSpec, columns: &[Column]) -> String {
    let cols = column_list(columns);
    let keys = spec.key.iter().map(|k| quote(k)).collect::<Vec<_>>().join(", ");
    let mut set: Vec<String> = columns
        .iter()
        .filter(|c| !spec.key.contains(&c.name))
        .map(|c| format!("{0} = EXCLUDED.{0}", quote(&c.name)))
        .collect();
    set.push("leadpipe_run_id = EXCLUDED.leadpipe_run_id".into());
    format!(
        "INSERT INTO {table} ({cols}, leadpipe_run_id) \
         SELECT DISTINCT ON ({keys}) {cols}, $1::bigint FROM pg_temp.leadpipe_stage \
         WHERE {present} ORDER BY {keys}, \"row_id\" DESC \
         ON CONFLICT ({keys}) DO UPDATE SET {set}",
        table = spec.quoted_table(),
        present = key_present(spec),
        set = set.join(", ")
    )
}

/// One output cell as a COPY value of its column's type.
struct PgCell<'a>(Cell<'a>);

impl std::fmt::Debug for PgCell<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PgCell")
    }
}

impl ToSql for PgCell<'_> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match &self.0 {
            Cell::Str(v) => v.to_sql(ty, out),
            Cell::U64(v) => i64::try_from(*v)?.to_sql(ty, out),
            Cell::I64(v) => v.to_sql(ty, out),
            Cell::F64(v) => v.to_sql(ty, out),
            Cell::Bool(v) => v.to_sql(ty, out),
            // Microseconds rounded as the Parquet sink rounds them.
            Cell::Time(v) => v
                .map(|s| SystemTime::UNIX_EPOCH + Duration::from_micros((s.max(0.0) * 1e6).round() as u64))
                .to_sql(ty, out),
            Cell::List(items) => items.to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(toml: &str) -> PostgresSinkSpec {
        toml::from_str(toml).unwrap()
    }

    #[test]
    fn table_mode_and_key_are_checked() {
        let ok = spec("url = \"postgres://u:pw@h/db\"\ntable = \"crm.contacts\"\nmode = \"upsert\"\nkey = [\"email\"]");
        assert!(ok.check().is_empty(), "{:?}", ok.check());
        let bad = spec("url = \"mysql://u:pw@h/db\"\ntable = \"a;drop\"\nmode = \"upsert\"");
        let keys: Vec<_> = bad.check().into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["table", "key", "url"]);
        assert!(!format!("{:?}", bad.check()).contains("pw"), "the password never shows");
    }

    #[test]
    fn upsert_keeps_the_last_row_of_a_key_and_updates_every_other_column() {
        let s = spec("url = \"postgres://h/db\"\ntable = \"contacts\"\nmode = \"upsert\"\nkey = [\"email\"]");
        let columns = crate::sinks::schema::output_columns(&["email".into()], Default::default());
        let sql = upsert_sql(&s, &columns);
        assert!(sql.contains("DISTINCT ON (\"email\")"), "{sql}");
        assert!(sql.contains("ORDER BY \"email\", \"row_id\" DESC"), "{sql}");
        assert!(
            sql.contains("ON CONFLICT (\"email\") DO UPDATE SET \"row_id\" = EXCLUDED.\"row_id\""),
            "{sql}"
        );
        assert!(!sql.contains("\"email\" = EXCLUDED"), "{sql}");
    }
}
