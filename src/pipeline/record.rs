//! The record that flows from the source through the stages to the sinks.
//!
//! A record keeps its source position (`id`) and its original columns
//! untouched; the normalised identity and each stage's fields sit beside
//! them. Stages read fields and write their own; they never edit `original`.

use std::sync::Arc;

/// The normalised identity of a person, derived from the original columns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    /// Trimmed, lowercased, syntax-checked; `None` when absent or invalid.
    pub email: Option<String>,
    /// Why the source's email was not usable (absent emails have no reason).
    pub email_problem: Option<&'static str>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub full_name: Option<String>,
    pub company: Option<String>,
    /// Bare domain (no scheme, `www.`, path or port), from the website or a work email.
    pub company_domain: Option<String>,
    pub linkedin_url: Option<String>,
}

impl Identity {
    /// A row must carry at least one of these for anyone to find the person.
    pub fn identifies_someone(&self) -> bool {
        self.email.is_some() || self.linkedin_url.is_some() || self.full_name.is_some() || self.email_problem.is_some()
    }
}

/// One row of the pipeline.
#[derive(Debug, Clone)]
pub struct Record {
    /// 0-based position among the source's data rows: stable across runs.
    pub id: u64,
    /// 1-based line where the row starts in the source file.
    pub line: u64,
    /// The original fields, in the source's column order.
    pub original: csv::StringRecord,
    pub identity: Identity,
}

/// A rejected input row: it never reaches the stages, only the rejects file.
#[derive(Debug, Clone)]
pub struct Reject {
    pub id: u64,
    pub line: u64,
    pub reason: String,
    /// The raw fields as far as they could be read (lossy UTF-8).
    pub fields: Vec<String>,
}

/// A row a stage dropped as a duplicate of an earlier kept row.
#[derive(Debug, Clone)]
pub struct Duplicate {
    pub id: u64,
    pub line: u64,
    pub kept_id: u64,
    pub kept_line: u64,
    pub key: String,
}

/// The unit handed between stage tasks: rows in input order, with what was
/// split off on the way.
#[derive(Debug, Default)]
pub struct Batch {
    pub records: Vec<Record>,
    pub rejects: Vec<Reject>,
    pub duplicates: Vec<Duplicate>,
    /// Rows the source read for this batch (kept + rejected).
    pub rows_in: u64,
}

/// The source's column names, shared by every record of a run.
pub type Header = Arc<Vec<String>>;
