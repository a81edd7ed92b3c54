//! `kind = "suppress"`: drops the rows nobody may contact, before any paid
//! stage sees them (validation refuses a suppress stage placed after one).
//!
//! Suppressions come from a graph8 list (type `suppressions`: its contacts'
//! work emails and LinkedIn URLs) and/or a local file of emails and domains,
//! one per line (a first line `email` or `domain` is a header). A row is
//! suppressed when its email, its LinkedIn URL, its email's domain or its
//! company domain is listed; it leaves the pipeline as a reject whose reason
//! names the list, and the stage counts it as `rows_dropped`.
//!
//! The graph8 list is read once, when the first row arrives (the stage starts
//! before the runtime's calls can run). If it cannot be read, no row passes:
//! each is dropped with the reason, since letting one through could contact
//! someone who asked not to be.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;

use futures::FutureExt;
use futures::future::BoxFuture;
use serde::Deserialize;
use tokio::sync::OnceCell;

use super::{RowStage, StageContext, StageRow};
use crate::normalize;
use crate::record::{Record, Reject};
use crate::vendors::graph8::{Graph8, MAX_PAGE, Paging};
use crate::vendors::http::{CallError, Vendor};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuppressSpec {
    /// A graph8 list of type `suppressions` (its contacts' emails and LinkedIn URLs).
    #[serde(default)]
    pub graph8_list: Option<u64>,
    /// A local file of emails and/or domains, one per line.
    #[serde(default)]
    pub file: Option<PathBuf>,
}

/// What is suppressed, and where each entry came from.
#[derive(Debug, Default)]
pub struct Suppressions {
    emails: HashSet<String>,
    linkedin: HashSet<String>,
    domains: HashSet<String>,
}

impl Suppressions {
    /// Reads a graph8 list of type `suppressions`: its contacts' work emails
    /// and LinkedIn URLs (graph8 calls cost no credits).
    pub async fn from_graph8(client: &Graph8, list_id: u64) -> Result<Suppressions, CallError> {
        let contacts = client.list_all(list_id, Paging::Cursor, MAX_PAGE).await?;
        let mut s = Suppressions::default();
        for c in contacts {
            if let Some(e) = c.work_email.as_deref().filter(|e| !e.trim().is_empty()) {
                s.add(e);
            }
            if let Some(l) = c.linkedin_url.as_deref().and_then(normalize::linkedin_url) {
                s.linkedin.insert(l);
            }
        }
        tracing::info!(list_id, entries = s.len(), "read the graph8 suppression list");
        Ok(s)
    }

    /// Everything `other` suppresses, suppressed here too.
    pub fn extend(&mut self, other: Suppressions) {
        self.emails.extend(other.emails);
        self.linkedin.extend(other.linkedin);
        self.domains.extend(other.domains);
    }

    /// Reads a file of emails and domains (first column; `#` comments and blank lines skipped).
    pub fn from_file(text: &str) -> Suppressions {
        let mut s = Suppressions::default();
        for (i, line) in text.lines().enumerate() {
            let value = line
                .split([',', ';', '\t'])
                .next()
                .unwrap_or("")
                .trim()
                .trim_matches('"');
            if value.is_empty() || value.starts_with('#') {
                continue;
            }
            if i == 0 && matches!(value.to_ascii_lowercase().as_str(), "email" | "domain" | "value") {
                continue;
            }
            s.add(value);
        }
        s
    }

    fn add(&mut self, value: &str) {
        if value.contains('@') {
            if let Ok(e) = normalize::email(value) {
                self.emails.insert(e);
            } else {
                self.emails.insert(value.to_ascii_lowercase());
            }
        } else if let Some(d) = normalize::domain(value) {
            self.domains.insert(d);
        }
    }

    /// Why `rec` is suppressed, if it is.
    pub fn matches(&self, rec: &Record) -> Option<String> {
        let id = &rec.identity;
        if let Some(e) = id.email() {
            if self.emails.contains(e) {
                return Some(format!("email {e}"));
            }
            if let Some((_, d)) = e.rsplit_once('@')
                && self.domains.contains(d)
            {
                return Some(format!("domain {d}"));
            }
        }
        if let Some(l) = id.linkedin_url()
            && self.linkedin.contains(l)
        {
            return Some(format!("LinkedIn URL {l}"));
        }
        if let Some(d) = id.company_domain()
            && self.domains.contains(d)
        {
            return Some(format!("domain {d}"));
        }
        None
    }

    pub fn len(&self) -> usize {
        self.emails.len() + self.linkedin.len() + self.domains.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The running stage.
pub struct SuppressStage {
    file: Option<(String, Result<Suppressions, std::io::Error>)>,
    graph8: Option<(u64, Graph8)>,
    list: OnceCell<Result<Suppressions, CallError>>,
}

impl super::Stage for SuppressSpec {
    fn start(&self, ctx: &StageContext<'_>) -> Result<super::Running, crate::state::StateError> {
        Ok(super::Running::Rows(Arc::new(SuppressStage::start(self, ctx))))
    }

    fn validate(&self, ctx: &super::CheckContext<'_>) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if self.graph8_list.is_none() && self.file.is_none() {
            out.push((
                "kind".into(),
                "needs graph8_list = <list id> and/or file = \"<emails or domains>\"".into(),
            ));
        }
        if let Some(f) = &self.file
            && (ctx.missing_file)(f)
        {
            out.push(("file".into(), format!("{}: no such file", f.display())));
        }
        if let Some((j, paid)) = ctx.earlier.iter().enumerate().find(|(_, s)| s.paid()) {
            out.push((
                "kind".into(),
                format!(
                    "a suppress stage must come before every paid stage (stages[{j}] is {}): \
                     suppressed people must cost nothing",
                    paid.kind()
                ),
            ));
        }
        out
    }

    fn vendors(&self) -> Vec<Vendor> {
        self.graph8_list.map(|_| Vendor::Graph8).into_iter().collect()
    }
}

impl SuppressStage {
    pub fn start(spec: &SuppressSpec, ctx: &StageContext<'_>) -> SuppressStage {
        let file = spec.file.as_ref().map(|path| {
            let read = std::fs::read_to_string(path).map(|text| Suppressions::from_file(&text));
            (path.display().to_string(), read)
        });
        let graph8 = spec.graph8_list.map(|id| (id, Graph8::new(ctx.http(Vendor::Graph8))));
        SuppressStage {
            file,
            graph8,
            list: OnceCell::new(),
        }
    }

    async fn check(&self, rec: &Record) -> Option<String> {
        if let Some((list_id, client)) = &self.graph8 {
            let list = self
                .list
                .get_or_init(|| Suppressions::from_graph8(client, *list_id))
                .await;
            match list {
                Ok(s) => {
                    if let Some(why) = s.matches(rec) {
                        return Some(format!("suppressed by graph8 list {list_id}: {why}"));
                    }
                }
                Err(e) => {
                    return Some(format!(
                        "not checked against graph8 suppression list {list_id}, so not passed on: {e}"
                    ));
                }
            }
        }
        match &self.file {
            Some((path, Ok(s))) => s.matches(rec).map(|why| format!("suppressed by file {path}: {why}")),
            Some((path, Err(e))) => Some(format!(
                "not checked against suppression file {path}, so not passed on: {e}"
            )),
            None => None,
        }
    }
}

impl RowStage for SuppressStage {
    fn enrich(self: Arc<Self>, rec: Record) -> BoxFuture<'static, StageRow> {
        async move {
            match self.check(&rec).await {
                None => StageRow::Keep {
                    rec,
                    status: None,
                    cached: false,
                },
                Some(reason) => StageRow::Drop(Reject {
                    id: rec.id,
                    line: rec.line,
                    reason,
                    fields: rec.original.iter().map(str::to_string).collect(),
                }),
            }
        }
        .boxed()
    }

    fn window(&self) -> usize {
        4096
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Identity, IdentityField};

    fn rec(email: Option<&str>, domain: Option<&str>) -> Record {
        let mut id = Identity::default();
        if let Some(e) = email {
            id.set(IdentityField::Email, e);
        }
        if let Some(d) = domain {
            id.set(IdentityField::CompanyDomain, d);
        }
        Record::new(0, 2, csv::StringRecord::new(), id)
    }

    #[test]
    fn file_of_emails_and_domains() {
        let s = Suppressions::from_file("email\nJane@Acme.com\n# comment\n\nblocked.io\n");
        assert_eq!(s.len(), 2);
        assert_eq!(
            s.matches(&rec(Some("jane@acme.com"), None)).unwrap(),
            "email jane@acme.com"
        );
        assert_eq!(
            s.matches(&rec(Some("bob@blocked.io"), None)).unwrap(),
            "domain blocked.io"
        );
        assert_eq!(s.matches(&rec(None, Some("blocked.io"))).unwrap(), "domain blocked.io");
        assert!(s.matches(&rec(Some("bob@acme.com"), Some("acme.com"))).is_none());
    }
}
